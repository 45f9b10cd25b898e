/*
 * tracker.c - associates detection boxes to tracks across frames.
 *
 * Each track keeps its last box and a velocity (centre and size, per media second, smoothed
 * over sightings). A new frame's boxes are matched to the tracks' boxes predicted at the frame's
 * time: greedily by overlap (IoU), best pair first, which is what keeps two crossing faces
 * apart - while they overlap, each one's prediction lies on its own side. A detection that
 * overlaps no prediction enough may still take a track whose predicted centre is close (under
 * max_jump x the box height) with a similar size: at low detection rates a fast face moves
 * more than its width between detected frames. Unmatched detections open tracks; a track not
 * seen for `timeout` media seconds ends. The prediction is extrapolated at most `timeout`
 * ahead, so a track missing for a few frames is found where the face went.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "facet/track.h"

typedef struct trk {
    int id;
    facet_box box;      /* last seen */
    float vx, vy, vs;   /* centre velocity (px/s) and relative size change (1/s) */
    double first_t, last_t;
    int hits;
} trk;

struct facet_tracker {
    facet_tracker_settings set;
    trk *t;
    int n;
    int next_id;
    int *ended;
    int n_ended;
    /* scratch for matching */
    float *score;
    int *det_track;
    int cap_det;
};

void facet_tracker_defaults(facet_tracker_settings *s)
{
    if (!s) return;
    s->min_iou = 0.2f;
    s->max_jump = 0.6f;
    s->timeout = 1.0;
    s->max_tracks = 256;
}

facet_status facet_tracker_create(const facet_tracker_settings *s, facet_tracker **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "tracker: out is NULL");
    *out = NULL;
    facet_tracker_settings set;
    if (s)
        set = *s;
    else
        facet_tracker_defaults(&set);
    if (!(set.min_iou > 0 && set.min_iou <= 1) || !(set.max_jump >= 0) || !(set.timeout >= 0) ||
        set.max_tracks < 1 || set.max_tracks > 1 << 16)
        return facet_seterr(NULL, FACET_E_INVALID_ARG,
                            "tracker: settings out of range (min_iou in (0,1], max_jump >= 0, "
                            "timeout >= 0, max_tracks 1..65536)");
    facet_tracker *tr = facet_calloc(1, sizeof *tr);
    if (!tr) goto fail;
    tr->set = set;
    tr->next_id = 1;
    tr->t = facet_calloc((size_t)set.max_tracks, sizeof *tr->t);
    tr->ended = facet_calloc((size_t)set.max_tracks, sizeof *tr->ended);
    if (!tr->t || !tr->ended) goto fail;
    *out = tr;
    return FACET_OK;
fail:
    facet_tracker_destroy(tr);
    return facet_seterr(NULL, FACET_E_NO_MEMORY, "tracker: out of memory");
}

void facet_tracker_destroy(facet_tracker *tr)
{
    if (!tr) return;
    free(tr->t);
    free(tr->ended);
    free(tr->score);
    free(tr->det_track);
    free(tr);
}

static facet_box predict(const trk *k, double t, double horizon)
{
    double dt = t - k->last_t;
    if (dt > horizon) dt = horizon;
    if (dt < 0) dt = 0;
    float s = 1.0f + k->vs * (float)dt;
    if (s < 0.5f) s = 0.5f;
    if (s > 2.0f) s = 2.0f;
    float cx = k->box.x + k->box.w / 2 + k->vx * (float)dt;
    float cy = k->box.y + k->box.h / 2 + k->vy * (float)dt;
    facet_box b = {0, 0, k->box.w * s, k->box.h * s};
    b.x = cx - b.w / 2;
    b.y = cy - b.h / 2;
    return b;
}

static float iou(facet_box a, facet_box b)
{
    float x0 = fmaxf(a.x, b.x), y0 = fmaxf(a.y, b.y);
    float x1 = fminf(a.x + a.w, b.x + b.w), y1 = fminf(a.y + a.h, b.y + b.h);
    if (x1 <= x0 || y1 <= y0) return 0;
    float inter = (x1 - x0) * (y1 - y0);
    float uni = a.w * a.h + b.w * b.h - inter;
    return uni > 0 ? inter / uni : 0;
}

/* Matching score of a detection with a prediction: the IoU when it is at least min_iou; else,
 * for a close centre and a similar size, a score below min_iou that falls with distance; else 0. */
static float match_score(const facet_tracker_settings *set, facet_box p, facet_box d)
{
    float o = iou(p, d);
    if (o >= set->min_iou) return o;
    float h = fmaxf(p.h, d.h);
    float ratio = p.h > d.h ? p.h / d.h : d.h / p.h;
    if (h <= 0 || ratio > 1.5f || set->max_jump <= 0) return 0;
    float dx = (p.x + p.w / 2) - (d.x + d.w / 2), dy = (p.y + p.h / 2) - (d.y + d.h / 2);
    float dist = sqrtf(dx * dx + dy * dy) / h;
    if (dist >= set->max_jump) return 0;
    return set->min_iou * 0.99f * (1.0f - dist / set->max_jump) + 1e-6f;
}

static void end_track(facet_tracker *tr, int i)
{
    tr->ended[tr->n_ended++] = tr->t[i].id;
    tr->t[i] = tr->t[--tr->n];
}

facet_status facet_tracker_update(facet_tracker *tr, double t, const facet_box *boxes, int n, int *ids)
{
    if (!tr || n < 0 || (n > 0 && (!boxes || !ids)))
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "tracker_update: NULL tracker, boxes or ids");
    if (!isfinite(t)) return facet_seterr(NULL, FACET_E_INVALID_ARG, "tracker_update: time is not finite");
    for (int j = 0; j < n; j++)
        if (!(boxes[j].w > 0 && boxes[j].h > 0) || !isfinite(boxes[j].x) || !isfinite(boxes[j].y) ||
            !isfinite(boxes[j].w) || !isfinite(boxes[j].h))
            return facet_seterr(NULL, FACET_E_INVALID_ARG, "tracker_update: box %d is empty or not finite", j);
    tr->n_ended = 0;
    size_t cells;
    if (facet_mul_overflow((size_t)(tr->n > 0 ? tr->n : 1), (size_t)(n > 0 ? n : 1), &cells))
        return facet_seterr(NULL, FACET_E_LIMIT, "tracker_update: too many boxes");
    if ((size_t)tr->cap_det < cells || tr->cap_det < n) {
        size_t cap = cells > (size_t)n ? cells : (size_t)n;
        float *s = facet_realloc(tr->score, cap * sizeof *s);
        if (s) tr->score = s;
        int *dt = facet_realloc(tr->det_track, cap * sizeof *dt);
        if (dt) tr->det_track = dt;
        if (!s || !dt) return facet_seterr(NULL, FACET_E_NO_MEMORY, "tracker_update: out of memory");
        tr->cap_det = (int)cap;
    }
    /* score[i * n + j]: track i against detection j */
    for (int i = 0; i < tr->n; i++) {
        facet_box p = predict(&tr->t[i], t, tr->set.timeout);
        for (int j = 0; j < n; j++) tr->score[(size_t)i * n + j] = match_score(&tr->set, p, boxes[j]);
    }
    for (int j = 0; j < n; j++) ids[j] = 0;
    int *track_of = tr->det_track; /* det -> track index, -1 none */
    for (int j = 0; j < n; j++) track_of[j] = -1;
    /* greedy, best pair first; n and tracks are small (tens), so O(T * D * min(T, D)) is fine */
    for (;;) {
        float best = 0;
        int bi = -1, bj = -1;
        for (int i = 0; i < tr->n; i++)
            for (int j = 0; j < n; j++)
                if (tr->score[(size_t)i * n + j] > best) {
                    best = tr->score[(size_t)i * n + j];
                    bi = i;
                    bj = j;
                }
        if (bi < 0) break;
        track_of[bj] = bi;
        for (int j = 0; j < n; j++) tr->score[(size_t)bi * n + j] = 0;
        for (int i = 0; i < tr->n; i++) tr->score[(size_t)i * n + bj] = 0;
    }
    for (int j = 0; j < n; j++) {
        int i = track_of[j];
        if (i < 0) continue;
        trk *k = &tr->t[i];
        double dt = t - k->last_t;
        if (dt > 1e-6) {
            float nvx = ((boxes[j].x + boxes[j].w / 2) - (k->box.x + k->box.w / 2)) / (float)dt;
            float nvy = ((boxes[j].y + boxes[j].h / 2) - (k->box.y + k->box.h / 2)) / (float)dt;
            float nvs = (boxes[j].h / k->box.h - 1.0f) / (float)dt;
            /* first velocity taken as measured; later ones smoothed against detector jitter */
            float a = k->hits == 1 ? 1.0f : 0.5f;
            k->vx = a * nvx + (1 - a) * k->vx;
            k->vy = a * nvy + (1 - a) * k->vy;
            k->vs = a * nvs + (1 - a) * k->vs;
        }
        k->box = boxes[j];
        k->last_t = t;
        k->hits++;
        ids[j] = k->id;
    }
    /* end stale tracks before opening new ones, so their slots can be reused */
    for (int i = tr->n - 1; i >= 0; i--)
        if (t - tr->t[i].last_t > tr->set.timeout) end_track(tr, i);
    for (int j = 0; j < n; j++) {
        if (ids[j] || tr->n >= tr->set.max_tracks) continue;
        trk *k = &tr->t[tr->n++];
        memset(k, 0, sizeof *k);
        k->id = tr->next_id++;
        k->box = boxes[j];
        k->first_t = k->last_t = t;
        k->hits = 1;
        ids[j] = k->id;
    }
    return FACET_OK;
}

void facet_tracker_end_all(facet_tracker *tr)
{
    if (!tr) return;
    tr->n_ended = 0;
    while (tr->n > 0) end_track(tr, tr->n - 1);
}

int facet_tracker_ended(const facet_tracker *tr, const int **ids)
{
    if (!tr) return 0;
    if (ids) *ids = tr->ended;
    return tr->n_ended;
}

int facet_tracker_open(const facet_tracker *tr)
{
    return tr ? tr->n : 0;
}
