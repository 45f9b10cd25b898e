/*
 * watch.c - the video pipeline: feeds, detection with frame dropping, tracks with best shots,
 * SAFR scheduling and events.
 *
 * Threads and hand-offs:
 *   reader (one per feed, none for push feeds)  decodes a frame, updates the scene-cut measure,
 *       and offers the frame to the feed's detector. The hand-off holds one frame: when the
 *       detector is still busy, a live (or --realtime) feed DROPS the new frame and counts it;
 *       a file read as fast as possible waits instead, so every frame is detected.
 *   detector (one per feed)  detects, tracks, scores each face, keeps each track's best chip
 *       since its last request, and sends a track's chip when its schedule is due.
 *   recognition workers (shared by all feeds)  take requests from one queue, call the shared
 *       recogniser, apply the answer to the track's schedule, emit the events, and send the
 *       next request at once when the schedule allows (the initial attempts, retry 0).
 *
 * Locks: each feed's mutex guards its tracks' schedules, candidates and figures; the detector
 * alone adds and removes tracks (under the mutex), so it may read the track list without it.
 * Lock order: feed mutex, then the event mutex (callbacks are serialised), then the queue mutex.
 * The scheduler runs on the monotonic clock (answers come back in wall time); events carry the
 * media time of the frame they belong to.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "facet/track.h"
#include "source.h"

#define TH_W 64
#define TH_H 36
#define FEED_NAME_MAX 64

typedef struct wtrack {
    int id;
    facet_schedule sched;
    facet_box box;
    double first_t, last_t; /* media */
    int hits;
    int announced;          /* track_started sent (after its second sighting) */
    facet_image *cand;      /* best chip since the last request; guarded by the feed mutex */
    float cand_q;
    facet_image *best;      /* best chip of the track, when events carry chips */
    float best_q;
} wtrack;

typedef struct feed feed;

typedef struct request {
    struct request *next;
    feed *f;
    int track;
    facet_image *chip;
} request;

struct feed {
    facet_watch *w;
    int index;
    char name[FEED_NAME_MAX];
    track_source *src;
    int push;
    int pace;               /* drop when busy (live or realtime) */
    pthread_t reader, detector;
    int has_reader, has_detector;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    facet_image *slot;
    double slot_t;
    int slot_cut;
    int busy, eof, ended;
    /* scene cuts, measured on every frame in */
    uint8_t thumb[TH_W * TH_H];
    int have_thumb, cut_pending;
    /* tracks */
    facet_tracker *tracker;
    wtrack *tracks;
    int n_tracks, cap_tracks;
    int inflight;
    /* figures */
    double start, stop, media_t, first_media_t, pace_start;
    long frames_in, detected, dropped, failed, faces, tracks_total, cuts, requests, answers, errors, recognized;
    double rtt_sum, server_sum, detect_sum;
    float *rtts;
    long n_rtt, cap_rtt;
};

struct facet_watch {
    facet_sdk *sdk;
    facet_recognizer *rec;
    facet_watch_settings set;
    feed **feeds;
    int n_feeds;
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    request *qhead, *qtail;
    int qstop;
    pthread_t *workers;
    int n_workers;
    pthread_mutex_t evmu;
    int started;
    atomic_int stop;
    facet_watch_frame_fn frame_fn;
    void *frame_user;
    char err[512];
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The message goes to the handle and to the thread's last error. */
static int werr(facet_watch *w, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int werr(facet_watch *w, int status, const char *fmt, ...)
{
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w) snprintf(w->err, sizeof w->err, "%s", msg);
    return facet_seterr(NULL, status, "%s", msg);
}

void facet_watch_defaults(facet_watch_settings *s)
{
    if (!s) return;
    memset(s, 0, sizeof *s);
    facet_schedule_defaults(&s->schedule);
    facet_tracker_defaults(&s->tracker);
    s->send_quality = 0.2f;
    s->quality_pose = 0;
    s->cut_threshold = 0.1f;
    s->realtime = 0;
    s->recognition_threads = 4;
    s->event_chips = 0;
    s->fps_folder = 25;
}

facet_status facet_watch_create(facet_sdk *sdk, facet_recognizer *rec, const facet_watch_settings *s,
                                facet_watch **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "watch_create: out is NULL");
    *out = NULL;
    if (!sdk) return facet_seterr(NULL, FACET_E_INVALID_ARG, "watch_create: sdk is NULL");
    facet_watch_settings set;
    if (s)
        set = *s;
    else
        facet_watch_defaults(&set);
    if (!(set.send_quality >= 0 && set.send_quality <= 1) || !(set.cut_threshold >= 0 && set.cut_threshold <= 1) ||
        set.recognition_threads < 1 || set.recognition_threads > 256 || !(set.fps_folder > 0 && set.fps_folder <= 1000))
        return facet_seterr(NULL, FACET_E_INVALID_ARG,
                            "watch_create: settings out of range (send_quality and cut_threshold 0..1, "
                            "recognition_threads 1..256, fps_folder in (0, 1000])");
    facet_tracker *probe = NULL;
    int rc = facet_tracker_create(&set.tracker, &probe); /* validates the tracker settings */
    facet_tracker_destroy(probe);
    if (rc) return rc;
    facet_watch *w = facet_calloc(1, sizeof *w);
    if (!w) return facet_seterr(NULL, FACET_E_NO_MEMORY, "watch_create: out of memory");
    w->sdk = sdk;
    w->rec = rec;
    w->set = set;
    pthread_mutex_init(&w->qmu, NULL);
    pthread_cond_init(&w->qcv, NULL);
    pthread_mutex_init(&w->evmu, NULL);
    *out = w;
    return FACET_OK;
}

const char *facet_watch_errmsg(const facet_watch *w)
{
    return w ? w->err : "";
}

int facet_watch_feed_count(const facet_watch *w)
{
    return w ? w->n_feeds : 0;
}

const char *facet_watch_feed_name(const facet_watch *w, int i)
{
    return w && i >= 0 && i < w->n_feeds ? w->feeds[i]->name : NULL;
}

facet_status facet_watch_set_frame_callback(facet_watch *w, facet_watch_frame_fn fn, void *user)
{
    if (!w || w->started) return werr(w, FACET_E_INVALID_ARG, "set_frame_callback: NULL watch or already started");
    w->frame_fn = fn;
    w->frame_user = user;
    return FACET_OK;
}

static void feed_free(feed *f)
{
    if (!f) return;
    track_source_close(f->src);
    facet_image_destroy(f->slot);
    for (int i = 0; i < f->n_tracks; i++) {
        facet_image_destroy(f->tracks[i].cand);
        facet_image_destroy(f->tracks[i].best);
    }
    free(f->tracks);
    free(f->rtts);
    facet_tracker_destroy(f->tracker);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

/* A feed without a name is called after its source: the last path element without its
 * extension ("hamilton_clip" for .../hamilton_clip.mp4, "video0" for v4l2:/dev/video0), made
 * unique with -2, -3, ...; push feeds and sources with nothing usable are "feedN". */
static void default_name(const facet_watch *w, const char *source, int index, char out[FEED_NAME_MAX])
{
    char base[FEED_NAME_MAX] = "";
    if (source) {
        size_t n = strlen(source);
        while (n > 0 && source[n - 1] == '/') n--;
        size_t b = n;
        while (b > 0 && source[b - 1] != '/' && source[b - 1] != ':') b--;
        size_t len = n - b;
        const char *dot = memchr(source + b, '.', len);
        if (dot && dot > source + b) len = (size_t)(dot - (source + b));
        if (len >= FEED_NAME_MAX - 4) len = FEED_NAME_MAX - 5;
        memcpy(base, source + b, len);
        base[len] = 0;
    }
    if (!base[0]) snprintf(base, sizeof base, "feed%d", index);
    snprintf(out, FEED_NAME_MAX, "%s", base);
    for (int k = 2; k < 1000; k++) {
        int taken = 0;
        for (int i = 0; i < w->n_feeds; i++) taken |= !strcmp(w->feeds[i]->name, out);
        if (!taken) return;
        snprintf(out, FEED_NAME_MAX, "%.55s-%d", base, k);
    }
}

static facet_status add_feed(facet_watch *w, const char *name, const char *source, int *index)
{
    if (index) *index = -1;
    if (!w) return facet_seterr(NULL, FACET_E_INVALID_ARG, "watch_add: NULL watch");
    if (w->started) return werr(w, FACET_E_INVALID_ARG, "watch_add: feeds are added before facet_watch_start");
    if (name && (!*name || strlen(name) >= FEED_NAME_MAX))
        return werr(w, FACET_E_INVALID_ARG, "watch_add: feed names have 1..63 bytes");
    feed *f = facet_calloc(1, sizeof *f);
    feed **fs = facet_realloc(w->feeds, (size_t)(w->n_feeds + 1) * sizeof *fs);
    if (!f || !fs) {
        free(f);
        if (fs) w->feeds = fs;
        return werr(w, FACET_E_NO_MEMORY, "watch_add: out of memory");
    }
    w->feeds = fs;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->w = w;
    f->index = w->n_feeds;
    if (name)
        snprintf(f->name, sizeof f->name, "%s", name);
    else
        default_name(w, source, f->index, f->name);
    int rc = facet_tracker_create(&w->set.tracker, &f->tracker);
    if (!rc && source) rc = track_source_open(source, w->set.fps_folder, &f->src);
    if (rc) {
        snprintf(w->err, sizeof w->err, "%s", facet_last_error());
        feed_free(f);
        return rc;
    }
    f->push = source == NULL;
    f->pace = f->push || w->set.realtime || track_source_live(f->src);
    w->feeds[w->n_feeds++] = f;
    if (index) *index = f->index;
    return FACET_OK;
}

facet_status facet_watch_add_source(facet_watch *w, const char *name, const char *source, int *feed_index)
{
    if (!source) return werr(w, FACET_E_INVALID_ARG, "watch_add_source: source is NULL");
    return add_feed(w, name, source, feed_index);
}

facet_status facet_watch_add_push(facet_watch *w, const char *name, int *feed_index)
{
    return add_feed(w, name, NULL, feed_index);
}

/* ---- events ---- */

static void emit(feed *f, facet_watch_event_type type, const wtrack *t, const char *identity, const char *previous)
{
    facet_watch *w = f->w;
    if (type == FACET_EV_RECOGNIZED) f->recognized++;
    if (!w->set.on_event) return;
    facet_watch_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.feed = f->name;
    ev.track = t->id;
    ev.box = t->box;
    ev.wall_t = wall();
    ev.media_t = t->last_t;
    ev.identity = identity;
    ev.previous = previous;
    ev.similarity = t->sched.similarity;
    ev.attempts = t->sched.answers;
    ev.time_to_lock = t->sched.lock_time >= 0 ? t->sched.lock_time - t->sched.started : 0;
    ev.duration = t->last_t - t->first_t;
    ev.quality = t->best_q > t->cand_q ? t->best_q : t->cand_q;
    if (ev.quality < 0) ev.quality = 0;
    ev.chip = w->set.event_chips ? t->best : NULL;
    pthread_mutex_lock(&w->evmu);
    w->set.on_event(w->set.user, &ev);
    pthread_mutex_unlock(&w->evmu);
}

/* ---- recognition requests ---- */

static wtrack *find_track(feed *f, int id)
{
    for (int i = 0; i < f->n_tracks; i++)
        if (f->tracks[i].id == id) return &f->tracks[i];
    return NULL;
}

/* Sends the track's candidate when its schedule is due. Feed mutex held. */
static void maybe_send(feed *f, wtrack *t, double now)
{
    facet_watch *w = f->w;
    if (!w->rec || f->eof || atomic_load(&w->stop) || !t->announced || !t->cand ||
        t->cand_q < w->set.send_quality || !facet_schedule_due(&t->sched, now))
        return;
    request *r = facet_calloc(1, sizeof *r);
    if (!r) return; /* tried again on the next frame */
    r->f = f;
    r->track = t->id;
    r->chip = t->cand;
    t->cand = NULL;
    t->cand_q = -1;
    facet_schedule_sent(&t->sched, now);
    f->inflight++;
    f->requests++;
    pthread_mutex_lock(&w->qmu);
    if (w->qtail)
        w->qtail->next = r;
    else
        w->qhead = r;
    w->qtail = r;
    pthread_cond_signal(&w->qcv);
    pthread_mutex_unlock(&w->qmu);
}

static void record_rtt(feed *f, double rtt, double server)
{
    f->rtt_sum += rtt;
    f->server_sum += server;
    if (f->n_rtt == f->cap_rtt) {
        long cap = f->cap_rtt ? f->cap_rtt * 2 : 1024;
        float *p = facet_realloc(f->rtts, (size_t)cap * sizeof *p);
        if (!p) return;
        f->rtts = p;
        f->cap_rtt = cap;
    }
    f->rtts[f->n_rtt++] = (float)rtt;
}

static void *worker_main(void *arg)
{
    facet_watch *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->qmu);
        while (!w->qhead && !w->qstop) pthread_cond_wait(&w->qcv, &w->qmu);
        request *r = w->qhead;
        if (r) {
            w->qhead = r->next;
            if (!w->qhead) w->qtail = NULL;
        }
        pthread_mutex_unlock(&w->qmu);
        if (!r) return NULL;
        facet_recognition ans;
        int rc = facet_recognize_chip(w->rec, r->chip, &ans);
        if (rc) facet_log(FACET_LOG_WARN, "watch: recognition failed: %s", facet_last_error());
        feed *f = r->f;
        double now = mono();
        pthread_mutex_lock(&f->mu);
        if (rc) {
            f->errors++;
        } else {
            f->answers++;
            record_rtt(f, ans.rtt_ms, ans.server_ms);
        }
        wtrack *t = find_track(f, r->track);
        if (t) {
            if (rc) {
                facet_schedule_failed(&t->sched, now);
            } else {
                char previous[FACET_IDENTITY_MAX + 1];
                snprintf(previous, sizeof previous, "%s", t->sched.identity);
                facet_schedule_event e =
                    facet_schedule_answer(&t->sched, now, ans.found ? ans.identity : NULL, ans.similarity);
                if (e == FACET_SCHED_RECOGNIZED)
                    emit(f, FACET_EV_RECOGNIZED, t, t->sched.identity, NULL);
                else if (e == FACET_SCHED_IDENTITY_CHANGED)
                    emit(f, FACET_EV_IDENTITY_CHANGED, t, t->sched.identity, previous);
                else if (e == FACET_SCHED_STRANGER)
                    emit(f, FACET_EV_STRANGER, t, NULL, NULL);
            }
            maybe_send(f, t, now);
        }
        f->inflight--;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        facet_image_destroy(r->chip);
        free(r);
    }
}

/* ---- detection ---- */

/* Ends the tracks the tracker reported ended. Feed mutex held. */
static void end_tracks(feed *f)
{
    const int *ids;
    int n = facet_tracker_ended(f->tracker, &ids);
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < f->n_tracks; i++) {
            wtrack *t = &f->tracks[i];
            if (t->id != ids[k]) continue;
            if (t->announced) emit(f, FACET_EV_TRACK_ENDED, t, t->sched.locked ? t->sched.identity : NULL, NULL);
            facet_image_destroy(t->cand);
            facet_image_destroy(t->best);
            f->tracks[i] = f->tracks[--f->n_tracks];
            break;
        }
    }
}

static wtrack *new_track(feed *f, int id, double t, double now)
{
    if (f->n_tracks == f->cap_tracks) {
        int cap = f->cap_tracks ? f->cap_tracks * 2 : 16;
        wtrack *p = facet_realloc(f->tracks, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        f->tracks = p;
        f->cap_tracks = cap;
    }
    wtrack *k = &f->tracks[f->n_tracks++];
    memset(k, 0, sizeof *k);
    k->id = id;
    k->first_t = t;
    k->cand_q = -1;
    k->best_q = -1;
    facet_schedule_init(&k->sched, &f->w->set.schedule, now);
    f->tracks_total++;
    return k;
}

static void detect_frame(feed *f, facet_image *img, double t, int cut)
{
    facet_watch *w = f->w;
    double t0 = mono();
    if (cut) {
        pthread_mutex_lock(&f->mu);
        f->cuts++;
        facet_tracker_end_all(f->tracker);
        end_tracks(f);
        pthread_mutex_unlock(&f->mu);
    }
    facet_face *faces = NULL;
    int n = 0;
    if (facet_detect_faces(w->sdk, img, &faces, &n) != FACET_OK) {
        /* counted apart, not as a detected frame with no face: figures must not look normal */
        facet_log(FACET_LOG_WARN, "watch: %s: detection failed: %s", f->name, facet_last_error());
        pthread_mutex_lock(&f->mu);
        f->failed++;
        pthread_mutex_unlock(&f->mu);
        return;
    }
    facet_box *boxes = facet_calloc((size_t)n + 1, sizeof *boxes);
    int *ids = facet_calloc((size_t)n + 1, sizeof *ids);
    const char **names = facet_calloc((size_t)n + 1, sizeof *names);
    char(*name_buf)[FACET_IDENTITY_MAX + 1] = facet_calloc((size_t)n + 1, sizeof *name_buf);
    if (!boxes || !ids || !names || !name_buf) {
        facet_log(FACET_LOG_WARN, "watch: %s: out of memory, the faces of this frame are not tracked", f->name);
        n = 0;
    }
    for (int i = 0; i < n; i++) boxes[i] = (facet_box){faces[i].x, faces[i].y, faces[i].w, faces[i].h};
    double now = mono();
    pthread_mutex_lock(&f->mu);
    if (facet_tracker_update(f->tracker, t, boxes, n, ids) != FACET_OK)
        for (int i = 0; i < n; i++) ids[i] = 0;
    end_tracks(f);
    for (int i = 0; i < n; i++) {
        if (!ids[i]) continue;
        wtrack *k = find_track(f, ids[i]);
        if (!k) k = new_track(f, ids[i], t, now);
        if (!k) {
            ids[i] = 0;
            continue;
        }
        k->box = boxes[i];
        k->last_t = t;
        k->hits++;
        if (k->hits == 2 && !k->announced) {
            k->announced = 1;
            emit(f, FACET_EV_TRACK_STARTED, k, NULL, NULL);
        }
    }
    pthread_mutex_unlock(&f->mu);

    /* quality and chips outside the lock: the models take milliseconds per face */
    unsigned what = w->set.quality_pose ? FACET_QUALITY_POSE : 0;
    for (int i = 0; i < n; i++) {
        if (!ids[i]) continue;
        facet_quality q;
        if (facet_face_quality(w->sdk, img, &faces[i], what, &q) != FACET_OK) continue;
        float score = facet_track_quality(&faces[i], &q);
        wtrack *k = find_track(f, ids[i]); /* only this thread adds or removes tracks */
        pthread_mutex_lock(&f->mu);
        int better = score > k->cand_q, best = w->set.event_chips && score > k->best_q;
        if (score > k->best_q && !w->set.event_chips) k->best_q = score;
        pthread_mutex_unlock(&f->mu);
        if (!better && !best) continue;
        facet_image *chip = NULL;
        if (facet_extract_aligned_face(w->sdk, img, &faces[i], &chip) != FACET_OK) continue;
        facet_image *copy = NULL;
        if (better && best && facet_image_clone(chip, &copy) != FACET_OK) copy = NULL;
        pthread_mutex_lock(&f->mu);
        if (best) {
            facet_image_destroy(k->best);
            k->best = better ? copy : chip;
            k->best_q = score;
        }
        if (better && score > k->cand_q) { /* a request may have taken the candidate meanwhile */
            facet_image_destroy(k->cand);
            k->cand = chip;
            k->cand_q = score;
        } else if (better) {
            facet_image_destroy(chip);
        }
        pthread_mutex_unlock(&f->mu);
    }

    pthread_mutex_lock(&f->mu);
    now = mono();
    for (int i = 0; i < f->n_tracks; i++) maybe_send(f, &f->tracks[i], now);
    for (int i = 0; i < n; i++) {
        wtrack *k = ids[i] ? find_track(f, ids[i]) : NULL;
        if (k && k->sched.locked) {
            snprintf(name_buf[i], sizeof name_buf[i], "%s", k->sched.identity);
            names[i] = name_buf[i];
        }
    }
    f->detected++;
    f->faces += n;
    f->detect_sum += (mono() - t0) * 1e3;
    pthread_mutex_unlock(&f->mu);
    if (w->frame_fn) w->frame_fn(w->frame_user, f->index, img, t, n, boxes, ids, names);
    facet_free(faces);
    free(boxes);
    free(ids);
    free(names);
    free(name_buf);
}

static void *detector_main(void *arg)
{
    feed *f = arg;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        while (!f->slot && !f->eof) pthread_cond_wait(&f->cv, &f->mu);
        facet_image *img = f->slot;
        double t = f->slot_t;
        int cut = f->slot_cut;
        f->slot = NULL;
        f->busy = img != NULL;
        pthread_mutex_unlock(&f->mu);
        if (!img) break;
        detect_frame(f, img, t, cut);
        facet_image_destroy(img);
        pthread_mutex_lock(&f->mu);
        f->busy = 0;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
    }
    /* the source ended: let the answers in flight arrive, then end every track */
    pthread_mutex_lock(&f->mu);
    while (f->inflight > 0) pthread_cond_wait(&f->cv, &f->mu);
    facet_tracker_end_all(f->tracker);
    end_tracks(f);
    f->ended = 1;
    f->stop = mono();
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* ---- frames in ---- */

/* Scene change between this frame's thumbnail and the previous one's, 0..1: the mean of the
 * mean absolute grey difference and the L1 distance of 32-bin histograms (halved). Measured on
 * the clips in ../shared/data/video: cuts score 0.15-0.24, motion within a shot at most 0.06. */
static float cut_score(feed *f, const facet_image *img)
{
    uint8_t th[TH_W * TH_H];
    int hist_a[32] = {0}, hist_b[32] = {0};
    for (int y = 0; y < TH_H; y++) {
        const uint8_t *row = img->data + (size_t)((y * 2 + 1) * img->height / (TH_H * 2)) * (size_t)img->stride;
        for (int x = 0; x < TH_W; x++) {
            const uint8_t *p = row + (size_t)((x * 2 + 1) * img->width / (TH_W * 2)) * (size_t)img->channels;
            th[y * TH_W + x] = img->channels == 3 ? (uint8_t)((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8) : p[0];
        }
    }
    float score = 0;
    if (f->have_thumb) {
        long diff = 0;
        for (int i = 0; i < TH_W * TH_H; i++) {
            diff += abs((int)th[i] - (int)f->thumb[i]);
            hist_a[th[i] >> 3]++;
            hist_b[f->thumb[i] >> 3]++;
        }
        long hd = 0;
        for (int i = 0; i < 32; i++) hd += abs(hist_a[i] - hist_b[i]);
        float mad = diff / (255.0f * TH_W * TH_H), hdist = hd / (2.0f * TH_W * TH_H);
        score = (mad + hdist) / 2;
    }
    memcpy(f->thumb, th, sizeof th);
    f->have_thumb = 1;
    return score;
}

/* Offers a frame (owned) to the feed's detector; returns 1 if it was dropped. */
static int handoff(feed *f, facet_image *img, double t, int wait_if_busy)
{
    facet_watch *w = f->w;
    float cs = w->set.cut_threshold > 0 ? cut_score(f, img) : 0;
    pthread_mutex_lock(&f->mu);
    f->frames_in++;
    f->media_t = t;
    if (w->set.cut_threshold > 0 && cs > w->set.cut_threshold) f->cut_pending = 1;
    if (wait_if_busy) {
        while ((f->busy || f->slot) && !atomic_load(&w->stop)) pthread_cond_wait(&f->cv, &f->mu);
    }
    int dropped = f->busy || f->slot != NULL || atomic_load(&w->stop);
    if (dropped) {
        f->dropped++;
        facet_image_destroy(img);
    } else {
        f->slot = img;
        f->slot_t = t;
        f->slot_cut = f->cut_pending;
        f->cut_pending = 0;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return dropped;
}

static void sleep_until(double when)
{
    double d = when - mono();
    if (d <= 0) return;
    struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
}

static void finish_input(feed *f)
{
    pthread_mutex_lock(&f->mu);
    f->eof = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void *reader_main(void *arg)
{
    feed *f = arg;
    facet_watch *w = f->w;
    int first = 1;
    while (!atomic_load(&w->stop)) {
        facet_image *img = NULL;
        double t = 0;
        int rc = track_source_read(f->src, &img, &t);
        if (rc != FACET_OK) {
            if (rc < 0) facet_log(FACET_LOG_WARN, "watch: %s: %s", f->name, facet_last_error());
            break;
        }
        if (first) {
            f->first_media_t = t;
            f->pace_start = mono();
            first = 0;
        }
        /* files in real time: wait for the frame's moment; live sources pace themselves */
        if (w->set.realtime && !track_source_live(f->src)) sleep_until(f->pace_start + (t - f->first_media_t));
        handoff(f, img, t, !f->pace);
    }
    finish_input(f);
    return NULL;
}

facet_status facet_watch_start(facet_watch *w)
{
    if (!w) return facet_seterr(NULL, FACET_E_INVALID_ARG, "watch_start: NULL watch");
    if (w->started) return werr(w, FACET_E_INVALID_ARG, "watch_start: already started");
    if (w->n_feeds == 0) return werr(w, FACET_E_INVALID_ARG, "watch_start: no feeds");
    /* the models every frame needs, loaded now: a missing one is an error here, not a warning
     * per frame with figures that look like an empty scene */
    int rc = facet_sdk_load(w->sdk, FACET_MODULE_DETECT | (w->set.quality_pose ? FACET_MODULE_POSE : 0));
    if (rc) return werr(w, rc, "watch_start: %s", facet_last_error());
    w->started = 1;
    int nw = w->rec ? w->set.recognition_threads : 0;
    w->workers = facet_calloc((size_t)nw + 1, sizeof *w->workers);
    if (!w->workers) return werr(w, FACET_E_NO_MEMORY, "watch_start: out of memory");
    for (int i = 0; i < nw; i++) {
        if (pthread_create(&w->workers[i], NULL, worker_main, w)) break;
        w->n_workers++;
    }
    double now = mono();
    int failed = nw > 0 && w->n_workers == 0;
    for (int i = 0; i < w->n_feeds && !failed; i++) {
        feed *f = w->feeds[i];
        f->start = now;
        if (pthread_create(&f->detector, NULL, detector_main, f)) {
            failed = 1;
            break;
        }
        f->has_detector = 1;
        if (f->src) {
            if (pthread_create(&f->reader, NULL, reader_main, f)) {
                failed = 1;
                finish_input(f);
                break;
            }
            f->has_reader = 1;
        }
    }
    if (failed) {
        facet_watch_stop(w);
        return werr(w, FACET_E_NO_MEMORY, "watch_start: cannot start threads");
    }
    return FACET_OK;
}

facet_status facet_watch_push(facet_watch *w, int feed_index, const facet_image *frame, double media_t,
                              int wait_if_busy, int *dropped)
{
    if (dropped) *dropped = 0;
    if (!w || feed_index < 0 || feed_index >= w->n_feeds || !w->feeds[feed_index]->push)
        return werr(w, FACET_E_INVALID_ARG, "watch_push: not a push feed");
    if (!frame || !frame->data || frame->width < 1 || frame->height < 1 ||
        (frame->channels != 3 && frame->channels != 1) || frame->stride < frame->width * frame->channels)
        return werr(w, FACET_E_INVALID_ARG, "watch_push: frame is not a valid RGB or grey image");
    if (!isfinite(media_t)) return werr(w, FACET_E_INVALID_ARG, "watch_push: media_t is not finite");
    if (!w->started) return werr(w, FACET_E_INVALID_ARG, "watch_push: call facet_watch_start first");
    feed *f = w->feeds[feed_index];
    pthread_mutex_lock(&f->mu);
    int eof = f->eof;
    double last = f->frames_in ? f->media_t : -INFINITY;
    pthread_mutex_unlock(&f->mu);
    if (eof) return werr(w, FACET_E_INVALID_ARG, "watch_push: the feed was ended");
    if (media_t < last) return werr(w, FACET_E_INVALID_ARG, "watch_push: media_t went back in time");
    facet_image *copy = NULL;
    int rc = frame->channels == 3 ? facet_image_clone(frame, &copy) : facet_image_to_rgb(frame, &copy);
    if (rc) return rc;
    int d = handoff(f, copy, media_t, wait_if_busy);
    if (dropped) *dropped = d;
    return FACET_OK;
}

facet_status facet_watch_push_end(facet_watch *w, int feed_index)
{
    if (!w || feed_index < 0 || feed_index >= w->n_feeds || !w->feeds[feed_index]->push)
        return werr(w, FACET_E_INVALID_ARG, "watch_push_end: not a push feed");
    finish_input(w->feeds[feed_index]);
    return FACET_OK;
}

facet_status facet_watch_wait(facet_watch *w)
{
    if (!w) return facet_seterr(NULL, FACET_E_INVALID_ARG, "watch_wait: NULL watch");
    for (int i = 0; i < w->n_feeds; i++) {
        feed *f = w->feeds[i];
        if (f->has_reader) pthread_join(f->reader, NULL);
        f->has_reader = 0;
        if (f->has_detector) pthread_join(f->detector, NULL);
        f->has_detector = 0;
    }
    pthread_mutex_lock(&w->qmu);
    w->qstop = 1;
    pthread_cond_broadcast(&w->qcv);
    pthread_mutex_unlock(&w->qmu);
    for (int i = 0; i < w->n_workers; i++) pthread_join(w->workers[i], NULL);
    w->n_workers = 0;
    return FACET_OK;
}

facet_status facet_watch_stop(facet_watch *w)
{
    if (!w) return facet_seterr(NULL, FACET_E_INVALID_ARG, "watch_stop: NULL watch");
    atomic_store(&w->stop, 1);
    for (int i = 0; i < w->n_feeds; i++) {
        feed *f = w->feeds[i];
        track_source_interrupt(f->src);
        pthread_mutex_lock(&f->mu);
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        if (f->push) finish_input(f);
    }
    return facet_watch_wait(w);
}

void facet_watch_destroy(facet_watch *w)
{
    if (!w) return;
    if (w->started) facet_watch_stop(w);
    for (int i = 0; i < w->n_feeds; i++) feed_free(w->feeds[i]);
    free(w->feeds);
    free(w->workers);
    while (w->qhead) {
        request *r = w->qhead;
        w->qhead = r->next;
        facet_image_destroy(r->chip);
        free(r);
    }
    pthread_mutex_destroy(&w->qmu);
    pthread_cond_destroy(&w->qcv);
    pthread_mutex_destroy(&w->evmu);
    free(w);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

facet_status facet_watch_stats(facet_watch *w, int feed_index, facet_feed_stats *out)
{
    if (!w || !out || feed_index < 0 || feed_index >= w->n_feeds)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "watch_stats: NULL watch or out, or no such feed");
    feed *f = w->feeds[feed_index];
    memset(out, 0, sizeof *out);
    float *sorted = NULL;
    pthread_mutex_lock(&f->mu);
    out->elapsed = f->start > 0 ? (f->ended ? f->stop : mono()) - f->start : 0;
    out->media_t = f->media_t;
    out->frames_in = f->frames_in;
    out->frames_detected = f->detected;
    out->frames_dropped = f->dropped;
    out->frames_failed = f->failed;
    out->faces = f->faces;
    out->tracks_total = f->tracks_total;
    out->tracks_open = facet_tracker_open(f->tracker);
    out->scene_cuts = f->cuts;
    out->requests = f->requests;
    out->answers = f->answers;
    out->errors = f->errors;
    out->recognized = f->recognized;
    out->ended = f->ended;
    if (f->answers > 0) {
        out->rtt_ms_mean = f->rtt_sum / f->answers;
        out->server_ms_mean = f->server_sum / f->answers;
    }
    if (f->detected > 0) out->detect_ms_mean = f->detect_sum / f->detected;
    long n = f->n_rtt;
    if (n > 0 && (sorted = facet_malloc((size_t)n * sizeof *sorted))) memcpy(sorted, f->rtts, (size_t)n * sizeof *sorted);
    pthread_mutex_unlock(&f->mu);
    if (sorted) {
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_float);
        out->rtt_ms_p50 = sorted[(n - 1) / 2];
        out->rtt_ms_p99 = sorted[(long)((n - 1) * 0.99)];
        free(sorted);
    }
    if (out->elapsed > 0) {
        out->fps = out->frames_in / out->elapsed;
        out->dps = out->frames_detected / out->elapsed;
        out->rps = out->answers / out->elapsed;
    }
    return FACET_OK;
}
