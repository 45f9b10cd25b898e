/*
 * test_track.c - src/track: SAFR scheduling on a virtual clock (exact send times), the tracker
 * on scripted boxes, events as JSON, the in-process recogniser on real faces, and the whole
 * watch on the real clips in ../shared/data/video.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facet/facet.h"
#include "harness.h"

/* ---- scheduling ------------------------------------------------------------------------ */

/*
 * Replays one track against a server that answers after `latency` seconds with the scripted
 * identities (NULL = no match; the last entry repeats). Requests are sent exactly when the
 * schedule is due; the send times and the events go to the arrays.
 */
typedef struct sim_result {
    double sent[64];
    int n_sent;
    facet_schedule_event ev[64];
    double ev_t[64];
    int n_ev;
} sim_result;

static void sim_one(const facet_schedule_settings *set, double latency, const char *const *answers, int n_answers,
                    double until, sim_result *r)
{
    memset(r, 0, sizeof *r);
    facet_schedule st;
    facet_schedule_init(&st, set, 0.0);
    double now = 0;
    while (now <= until && r->n_sent < 64) {
        now = facet_schedule_next(&st);
        if (now > until) break;
        CHECK(facet_schedule_due(&st, now));
        CHECK(!facet_schedule_due(&st, now - 1e-6) || now == 0);
        facet_schedule_sent(&st, now);
        CHECK(!facet_schedule_due(&st, now + 100)); /* one request in flight */
        r->sent[r->n_sent++] = now;
        now += latency;
        int k = r->n_sent - 1 < n_answers ? r->n_sent - 1 : n_answers - 1;
        facet_schedule_event e = facet_schedule_answer(&st, now, answers[k], 0.6f);
        if (e != FACET_SCHED_NONE && r->n_ev < 64) {
            r->ev[r->n_ev] = e;
            r->ev_t[r->n_ev++] = now;
        }
    }
}

static void check_times(const sim_result *r, const double *want, int n)
{
    CHECK_MSG(r->n_sent >= n, "sent %d requests, want at least %d", r->n_sent, n);
    for (int i = 0; i < n && i < r->n_sent; i++)
        CHECK_MSG(fabs(r->sent[i] - want[i]) < 1e-9, "request %d sent at %.6f, want %.6f", i, r->sent[i], want[i]);
}

static void t_schedule_defaults(void)
{
    facet_schedule_settings s;
    facet_schedule_defaults(&s);
    CHECK_EQ(s.initial_attempts, 3);
    CHECK_NEAR(s.failed_backoff, 0.34, 1e-12);
    CHECK_EQ(s.min_lock_recognitions, 2);
    CHECK_NEAR(s.retry_failed_every, 0.0, 0);
    CHECK_NEAR(s.reconfirm_every, 1.0, 0);
}

static void t_schedule_stranger_retry0(void)
{
    facet_schedule_settings s;
    facet_schedule_defaults(&s);
    const char *none[] = {NULL};
    sim_result r;
    sim_one(&s, 0.02, none, 1, 0.2, &r);
    /* retry_failed_every 0: every attempt as soon as the answer is back, ladder ignored */
    double want[] = {0, 0.02, 0.04, 0.06, 0.08, 0.10};
    check_times(&r, want, 6);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0], FACET_SCHED_STRANGER);
    CHECK_NEAR(r.ev_t[0], 0.06, 1e-9); /* after the third answer */
}

static void t_schedule_stranger_ladder(void)
{
    facet_schedule_settings s;
    facet_schedule_defaults(&s);
    s.retry_failed_every = 2.0;
    const char *none[] = {NULL};
    sim_result r;
    sim_one(&s, 0.02, none, 1, 12, &r);
    /* three back to back, then waits 0.34, 0.68, 1.02, 1.36, 1.70, then 2.0 for ever */
    double want[] = {0, 0.02, 0.04, 0.06 + 0.34, 0.42 + 0.68, 1.12 + 1.02, 2.16 + 1.36, 3.54 + 1.70,
                     5.26 + 2.0, 7.28 + 2.0, 9.30 + 2.0};
    check_times(&r, want, 11);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0], FACET_SCHED_STRANGER);
}

static void t_schedule_lock_and_reconfirm(void)
{
    facet_schedule_settings s;
    facet_schedule_defaults(&s);
    const char *known[] = {"lin"};
    sim_result r;
    sim_one(&s, 0.02, known, 1, 4, &r);
    /* locks on the second agreeing answer (0.04), then reconfirms 1 s after each answer */
    double want[] = {0, 0.02, 1.04, 2.06, 3.08};
    check_times(&r, want, 5);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0], FACET_SCHED_RECOGNIZED);
    CHECK_NEAR(r.ev_t[0], 0.04, 1e-9);

    facet_schedule st;
    facet_schedule_init(&st, &s, 5.0);
    facet_schedule_sent(&st, 5.0);
    CHECK_EQ(facet_schedule_answer(&st, 5.1, "lin", 0.5f), FACET_SCHED_NONE);
    facet_schedule_sent(&st, 5.1);
    CHECK_EQ(facet_schedule_answer(&st, 5.3, "lin", 0.7f), FACET_SCHED_RECOGNIZED);
    CHECK_EQ(st.lock_answers, 2);
    CHECK_NEAR(st.lock_time - st.started, 0.3, 1e-9);
    CHECK(!strcmp(st.identity, "lin"));
}

static void t_schedule_flip_before_lock(void)
{
    facet_schedule_settings s;
    facet_schedule_defaults(&s);
    /* A, B, B: the two agreeing answers lock on B within the initial attempts */
    const char *abb[] = {"alex", "lin", "lin"};
    sim_result r;
    sim_one(&s, 0.05, abb, 3, 0.2, &r);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0], FACET_SCHED_RECOGNIZED);
    CHECK_NEAR(r.ev_t[0], 0.15, 1e-9);
    /* A, B, A: no two agree: a stranger after three; the fourth (A again) locks on A */
    const char *aba[] = {"alex", "lin", "alex", "alex"};
    sim_one(&s, 0.05, aba, 4, 0.3, &r);
    CHECK_EQ(r.n_ev, 2);
    CHECK_EQ(r.ev[0], FACET_SCHED_STRANGER);
    CHECK_NEAR(r.ev_t[0], 0.15, 1e-9);
    CHECK_EQ(r.ev[1], FACET_SCHED_RECOGNIZED);
    CHECK_NEAR(r.ev_t[1], 0.20, 1e-9);
    /* a locked track changes identity only on two agreeing answers for another one, and "no
     * one" never unlocks it */
    facet_schedule st;
    facet_schedule_init(&st, &s, 0);
    const char *seq[] = {"lin", "lin", "alex", NULL, NULL, "alex", "alex"};
    facet_schedule_event want[] = {FACET_SCHED_NONE, FACET_SCHED_RECOGNIZED, FACET_SCHED_NONE, FACET_SCHED_NONE,
                                   FACET_SCHED_NONE, FACET_SCHED_NONE, FACET_SCHED_IDENTITY_CHANGED};
    for (int i = 0; i < 7; i++) {
        facet_schedule_sent(&st, i);
        CHECK_EQ(facet_schedule_answer(&st, i + 0.5, seq[i], 0.5f), want[i]);
    }
    CHECK(!strcmp(st.identity, "alex"));
    CHECK(st.locked);
}

static void t_schedule_errors(void)
{
    facet_schedule_settings s;
    facet_schedule_defaults(&s);
    facet_schedule st;
    facet_schedule_init(&st, &s, 0);
    facet_schedule_sent(&st, 0);
    facet_schedule_failed(&st, 0.1);
    CHECK_EQ(st.answers, 0);
    CHECK_NEAR(facet_schedule_next(&st), 0.1 + 0.34, 1e-9);
    facet_schedule_sent(&st, 0.44);
    facet_schedule_failed(&st, 0.5);
    CHECK_NEAR(facet_schedule_next(&st), 0.5 + 0.68, 1e-9);
    for (int i = 0; i < 10; i++) {
        facet_schedule_sent(&st, 10.0 * (i + 1));
        facet_schedule_failed(&st, 10.0 * (i + 1));
    }
    CHECK_NEAR(facet_schedule_next(&st) - 100.0, 1.0, 1e-9); /* capped at reconfirm_every */
    facet_schedule_sent(&st, 200);
    facet_schedule_answer(&st, 200.1, NULL, 0);
    CHECK_NEAR(facet_schedule_next(&st), 200.1, 1e-9); /* an answer clears the error wait */
}

/*
 * 20 tracks of strangers (retry_failed_every 0: each asks again as soon as it is answered)
 * against one server that handles one request at a time and slows from 20 ms to 500 ms per
 * request at t = 5 s. The request rate must fall to what the server can do, by itself, with
 * every track still answered in turn (no track starved).
 */
static void t_schedule_slowing_server(void)
{
    enum { T = 20 };
    facet_schedule_settings s;
    facet_schedule_defaults(&s);
    facet_schedule st[T];
    for (int i = 0; i < T; i++) facet_schedule_init(&st[i], &s, 0.0);
    int queue[T], qn = 0, serving = -1;
    double busy_until = 0, last_answer[T];
    long answers_fast = 0, answers_slow = 0;
    double max_gap_fast = 0, max_gap_slow = 0;
    int per_track_slow[T] = {0};
    for (int i = 0; i < T; i++) last_answer[i] = 0;
    double now = 0;
    while (now < 30) {
        /* next event: a due track, or the server finishing */
        double next = serving >= 0 ? busy_until : 1e300;
        for (int i = 0; i < T; i++) {
            double d = facet_schedule_next(&st[i]);
            if (d < next) next = d;
        }
        now = next;
        if (serving >= 0 && busy_until <= now) {
            int i = serving;
            facet_schedule_answer(&st[i], now, NULL, 0);
            double gap = now - last_answer[i];
            if (now < 5) {
                answers_fast++;
                if (last_answer[i] > 0) max_gap_fast = fmax(max_gap_fast, gap);
            } else if (now > 6 && now < 30) {
                answers_slow++;
                if (last_answer[i] > 6) max_gap_slow = fmax(max_gap_slow, gap);
                per_track_slow[i]++;
            }
            last_answer[i] = now;
            serving = -1;
        }
        for (int i = 0; i < T; i++)
            if (facet_schedule_due(&st[i], now)) {
                facet_schedule_sent(&st[i], now);
                queue[qn++] = i;
            }
        if (serving < 0 && qn > 0) {
            serving = queue[0];
            memmove(queue, queue + 1, (size_t)(qn - 1) * sizeof *queue);
            qn--;
            busy_until = now + (now < 5 ? 0.020 : 0.500);
        }
        CHECK(qn <= T); /* never more than one request per track */
    }
    double rate_fast = answers_fast / 5.0, rate_slow = answers_slow / 24.0;
    printf("# slowing server: %.1f answers/s at 20 ms, %.2f at 500 ms; longest wait of a track between "
           "answers %.2f s, then %.2f s\n", rate_fast, rate_slow, max_gap_fast, max_gap_slow);
    CHECK_NEAR(rate_fast, 50, 1.0); /* the server's capacity: 1 / 20 ms */
    CHECK_NEAR(rate_slow, 2, 0.1);  /* 1 / 500 ms: the clients slowed down with it */
    CHECK(max_gap_fast <= T * 0.020 + 1e-9);
    CHECK(max_gap_slow <= T * 0.500 + 1e-9); /* round robin: every track answered every 10 s */
    for (int i = 0; i < T; i++) CHECK_MSG(per_track_slow[i] >= 2, "track %d answered %d times", i, per_track_slow[i]);
}

/* ---- tracker ------------------------------------------------------------------------------ */

static void t_tracker_crossing(void)
{
    facet_tracker *tr = NULL;
    CHECK_EQ(facet_tracker_create(NULL, &tr), FACET_OK);
    if (!tr) return;
    /* A walks right, B walks left, on nearly the same line; they cross at frame 10, where the
     * front one (A) hides B for three frames */
    int id_a = 0, id_b = 0, ok = 1;
    for (int f = 0; f <= 20; f++) {
        double t = f / 25.0;
        facet_box a = {100 + 20.0f * f, 200, 80, 90}, b = {500 - 20.0f * f, 205, 80, 90};
        facet_box boxes[2] = {a, b};
        int n = (f >= 9 && f <= 11) ? 1 : 2, ids[2] = {0, 0};
        CHECK_EQ(facet_tracker_update(tr, t, boxes, n, ids), FACET_OK);
        if (f == 0) {
            id_a = ids[0];
            id_b = ids[1];
            CHECK(id_a > 0 && id_b > 0 && id_a != id_b);
        }
        if (ids[0] != id_a || (n == 2 && ids[1] != id_b)) {
            ok = 0;
            printf("# frame %d: ids %d %d, want %d %d\n", f, ids[0], ids[1], id_a, id_b);
        }
        CHECK_EQ(facet_tracker_ended(tr, NULL), 0);
    }
    CHECK(ok);
    CHECK_EQ(facet_tracker_open(tr), 2);
    facet_tracker_destroy(tr);
}

static void t_tracker_missing_and_timeout(void)
{
    facet_tracker_settings s;
    facet_tracker_defaults(&s);
    s.timeout = 0.5;
    facet_tracker *tr = NULL;
    CHECK_EQ(facet_tracker_create(&s, &tr), FACET_OK);
    if (!tr) return;
    int id = 0, ids[1];
    /* moving down and growing (walking towards the camera), missing for frames 5-9 */
    for (int f = 0; f < 16; f++) {
        facet_box b = {300 + 3.0f * f, 100 + 12.0f * f, 60 + 2.0f * f, 70 + 2.0f * f};
        if (f >= 5 && f <= 9) {
            CHECK_EQ(facet_tracker_update(tr, f / 25.0, NULL, 0, ids), FACET_OK);
            continue;
        }
        CHECK_EQ(facet_tracker_update(tr, f / 25.0, &b, 1, ids), FACET_OK);
        if (f == 0) id = ids[0];
        CHECK_MSG(ids[0] == id, "frame %d: id %d, want %d", f, ids[0], id);
    }
    /* gone for longer than the timeout: ends, and a face there later is a new track */
    const int *ended;
    CHECK_EQ(facet_tracker_update(tr, 1.0, NULL, 0, ids), FACET_OK);
    CHECK_EQ(facet_tracker_update(tr, 1.2, NULL, 0, ids), FACET_OK);
    CHECK_EQ(facet_tracker_ended(tr, &ended), 1);
    if (facet_tracker_ended(tr, &ended) == 1) CHECK_EQ(ended[0], id);
    facet_box b = {345, 280, 90, 100};
    CHECK_EQ(facet_tracker_update(tr, 1.3, &b, 1, ids), FACET_OK);
    CHECK(ids[0] != id && ids[0] > 0);
    /* a scene cut ends every track */
    facet_tracker_end_all(tr);
    CHECK_EQ(facet_tracker_ended(tr, &ended), 1);
    CHECK_EQ(facet_tracker_open(tr), 0);
    int before = ids[0];
    CHECK_EQ(facet_tracker_update(tr, 1.34, &b, 1, ids), FACET_OK);
    CHECK(ids[0] > before);
    /* bad input */
    facet_box nan_box = {NAN, 0, 10, 10};
    CHECK_EQ(facet_tracker_update(tr, 1.4, &nan_box, 1, ids), FACET_E_INVALID_ARG);
    facet_box empty = {0, 0, 0, 10};
    CHECK_EQ(facet_tracker_update(tr, 1.4, &empty, 1, ids), FACET_E_INVALID_ARG);
    s.min_iou = 0;
    facet_tracker *bad = NULL;
    CHECK_EQ(facet_tracker_create(&s, &bad), FACET_E_INVALID_ARG);
    CHECK(bad == NULL);
    facet_tracker_destroy(tr);
}

/* ---- events ------------------------------------------------------------------------------- */

static void t_event_json(void)
{
    facet_image *chip = NULL;
    CHECK_EQ(facet_image_create(112, 112, 3, &chip), FACET_OK);
    if (!chip) return;
    facet_watch_event ev = {0};
    ev.type = FACET_EV_RECOGNIZED;
    ev.feed = "cam \"1\"";
    ev.track = 7;
    ev.box = (facet_box){10.4f, 20.6f, 30, 40};
    ev.wall_t = 1764633600.1234;
    ev.media_t = 3.25;
    ev.identity = "lin_manuel_miranda";
    ev.similarity = 0.61234f;
    ev.attempts = 2;
    ev.time_to_lock = 0.412;
    ev.chip = chip;
    char *js = NULL;
    CHECK_EQ(facet_watch_event_to_json(&ev, 1, &js), FACET_OK);
    json_error_t err;
    json_t *o = js ? json_loads(js, 0, &err) : NULL;
    CHECK(o != NULL);
    if (o) {
        CHECK(!strcmp(json_string_value(json_object_get(o, "event")), "recognized"));
        CHECK(!strcmp(json_string_value(json_object_get(o, "feed")), "cam \"1\""));
        CHECK_EQ(json_integer_value(json_object_get(o, "track")), 7);
        CHECK_EQ(json_integer_value(json_array_get(json_object_get(o, "box"), 1)), 21);
        CHECK_NEAR(json_number_value(json_object_get(o, "media_t")), 3.25, 1e-9);
        CHECK_NEAR(json_number_value(json_object_get(o, "similarity")), 0.6123, 1e-9);
        CHECK_EQ(json_integer_value(json_object_get(o, "attempts")), 2);
        const char *b64 = json_string_value(json_object_get(o, "chip_jpeg"));
        CHECK(b64 && !strncmp(b64, "/9j/", 4)); /* base64 of a JPEG's FF D8 FF */
        CHECK(json_object_get(o, "duration") == NULL);
        json_decref(o);
    }
    facet_free(js);
    ev.identity = "bad \xff utf-8";
    js = NULL;
    CHECK_EQ(facet_watch_event_to_json(&ev, 0, &js), FACET_E_INVALID_ARG);
    CHECK(js == NULL);
    facet_image_destroy(chip);
}

/* ---- recognition and the whole pipeline on real video ------------------------------------ */

static facet_sdk *sdk_or_skip(void)
{
    facet_sdk_settings s;
    facet_sdk_defaults(&s);
    s.model_dir = test_model_dir();
    s.num_threads = 1; /* the watch runs its own threads; spinning inference pools on 2 shared cores only slow it */
    facet_sdk *sdk = NULL;
    if (facet_sdk_create(&s, &sdk) != FACET_OK) return NULL;
    return sdk;
}

/* The path of a file under the data folder and an SDK; a reason to skip when either is missing. */
static const char *data_and_sdk(char *path, size_t n, const char *rel, facet_sdk **sdk)
{
    snprintf(path, n, "%s/%s", test_data_dir(), rel);
    if (!test_file_exists(path)) return "no ../shared/data/video";
    *sdk = sdk_or_skip();
    return *sdk ? NULL : "no models";
}

/* A memory gallery "known" with the two reference photos of ../shared/data/video/known. */
static facet_gallery *known_gallery(facet_sdk *sdk)
{
    facet_gallery *g = NULL;
    if (facet_gallery_open("memory:", NULL, &g) != FACET_OK) return NULL;
    char model[FACET_FACEPRINT_MODEL_MAX];
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    CHECK_EQ(facet_sdk_faceprint_model(sdk, model), FACET_OK);
    cs.model_id = model;
    cs.dim = FACET_FACEPRINT_DIM;
    CHECK_EQ(facet_collection_create(g, "known", &cs), FACET_OK);
    const char *people[] = {"lin_manuel_miranda", "alex_lacamoire"};
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/video/known/%s.png", test_data_dir(), people[i]);
        facet_image *img = NULL;
        facet_face face;
        facet_faceprint fp;
        CHECK_EQ(facet_image_decode_file(path, NULL, &img), FACET_OK);
        if (!img) continue;
        CHECK_EQ(facet_detect_largest_face(sdk, img, &face), FACET_OK);
        CHECK_EQ(facet_faceprint_extract(sdk, img, &face, &fp), FACET_OK);
        char uuid[FACET_UUID_SIZE];
        CHECK_EQ(facet_gallery_enroll(g, "known", fp.model, fp.v, fp.dim, people[i], NULL, 0, uuid), FACET_OK);
        facet_image_destroy(img);
    }
    return g;
}

static void t_recognizer_local(void)
{
    char clip[1024];
    facet_sdk *sdk = NULL;
    const char *why = data_and_sdk(clip, sizeof clip, "video/known/lin_manuel_miranda.png", &sdk);
    if (why) SKIP(why);
    facet_gallery *g = known_gallery(sdk);
    facet_recognizer *rec = NULL;
    CHECK_EQ(facet_recognizer_local(sdk, g, "nope", -1, &rec), FACET_E_NOT_FOUND);
    CHECK(rec == NULL);
    CHECK_EQ(facet_recognizer_local(sdk, g, "known", -1, &rec), FACET_OK);
    /* the reference photo's own chip names its person; a chip of someone else names no one */
    const char *photos[] = {"video/known/lin_manuel_miranda.png", "images/obama.jpg"};
    const char *want[] = {"lin_manuel_miranda", ""};
    for (int i = 0; i < 2 && rec; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", test_data_dir(), photos[i]);
        facet_image *img = NULL, *chip = NULL;
        facet_face face;
        CHECK_EQ(facet_image_decode_file(path, NULL, &img), FACET_OK);
        if (!img) continue;
        CHECK_EQ(facet_detect_largest_face(sdk, img, &face), FACET_OK);
        CHECK_EQ(facet_extract_aligned_face(sdk, img, &face, &chip), FACET_OK);
        facet_recognition r;
        CHECK_EQ(facet_recognize_chip(rec, chip, &r), FACET_OK);
        CHECK_MSG(!strcmp(r.identity, want[i]), "%s: '%s' (%.3f)", photos[i], r.identity, (double)r.similarity);
        CHECK_EQ(r.found, want[i][0] != 0);
        CHECK(r.rtt_ms > 0);
        CHECK_EQ(facet_recognize_chip(rec, img, &r), FACET_E_INVALID_ARG); /* not a 112x112 chip */
        facet_image_destroy(chip);
        facet_image_destroy(img);
    }
    /* a remote recogniser refuses what cannot be a URL, and reports a server that is not there */
    facet_recognizer *rr = NULL;
    CHECK_EQ(facet_recognizer_remote("ftp://x", NULL, "known", -1, 1, &rr), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_recognizer_remote("http://127.0.0.1:9", "k\r\nX: y", "known", -1, 1, &rr), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_recognizer_remote("http://127.0.0.1:9", NULL, "../etc", -1, 1, &rr), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_recognizer_remote("http://127.0.0.1:9", NULL, "known", -1, 1, &rr), FACET_OK);
    facet_image *chip = NULL;
    CHECK_EQ(facet_image_create(112, 112, 3, &chip), FACET_OK);
    facet_recognition r;
    if (rr && chip) CHECK_EQ(facet_recognize_chip(rr, chip, &r), FACET_E_IO);
    facet_image_destroy(chip);
    facet_recognizer_destroy(rr);
    facet_recognizer_destroy(rec);
    facet_gallery_destroy(g);
    facet_sdk_destroy(sdk);
}

typedef struct collected {
    int n, started, ended, recognized, stranger, changed;
    char names[64][FACET_IDENTITY_MAX + 1];
    int n_names;
    int max_track;
    double longest[64]; /* durations of ended tracks */
    int n_long;
} collected;

static void collect(void *user, const facet_watch_event *ev)
{
    collected *c = user;
    c->n++;
    char *js = NULL;
    if (facet_watch_event_to_json(ev, 0, &js) == FACET_OK) printf("# %s\n", js);
    facet_free(js);
    if (ev->track > c->max_track) c->max_track = ev->track;
    switch (ev->type) {
    case FACET_EV_TRACK_STARTED: c->started++; break;
    case FACET_EV_TRACK_ENDED:
        c->ended++;
        if (c->n_long < 64) c->longest[c->n_long++] = ev->duration;
        break;
    case FACET_EV_STRANGER: c->stranger++; break;
    case FACET_EV_RECOGNIZED:
    case FACET_EV_IDENTITY_CHANGED:
        if (ev->type == FACET_EV_RECOGNIZED)
            c->recognized++;
        else
            c->changed++;
        if (c->n_names < 64) snprintf(c->names[c->n_names++], FACET_IDENTITY_MAX + 1, "%s", ev->identity);
        break;
    }
}

static void t_watch_hamilton(void)
{
    char clip[1024];
    facet_sdk *sdk = NULL;
    const char *why = data_and_sdk(clip, sizeof clip, "video/hamilton_clip.mp4", &sdk);
    if (why) SKIP(why);
    facet_gallery *g = known_gallery(sdk);
    facet_recognizer *rec = NULL;
    CHECK_EQ(facet_recognizer_local(sdk, g, "known", -1, &rec), FACET_OK);
    collected c = {0};
    facet_watch_settings ws;
    facet_watch_defaults(&ws);
    ws.on_event = collect;
    ws.user = &c;
    ws.send_quality = 0.1f; /* send the blurred, turned audience faces too: they must stay strangers */
    facet_watch *w = NULL;
    CHECK_EQ(facet_watch_create(sdk, rec, &ws, &w), FACET_OK);
    int feed = -1;
    CHECK_EQ(facet_watch_add_source(w, "stage", clip, &feed), FACET_OK);
    CHECK_EQ(facet_watch_add_source(w, NULL, "/nonexistent/clip.mp4", NULL), FACET_E_IO);
    CHECK(strstr(facet_watch_errmsg(w), "clip.mp4") != NULL);
    CHECK_EQ(facet_watch_start(w), FACET_OK);
    CHECK_EQ(facet_watch_wait(w), FACET_OK);
    facet_feed_stats s;
    CHECK_EQ(facet_watch_stats(w, feed, &s), FACET_OK);
    printf("# hamilton: %ld frames, %ld detected, %ld dropped, %ld cuts, %ld tracks, %ld answers, "
           "FPS %.1f DPS %.1f, recognition %.1f ms mean\n", s.frames_in, s.frames_detected, s.frames_dropped,
           s.scene_cuts, s.tracks_total, s.answers, s.fps, s.dps, s.rtt_ms_mean);
    CHECK_EQ(s.frames_in, 275);
    CHECK_EQ(s.frames_detected, 275); /* a file as fast as possible: nothing dropped */
    CHECK_EQ(s.frames_dropped, 0);
    CHECK_EQ(s.scene_cuts, 3);        /* at 1.5 s, 3.6 s and 7.9 s */
    CHECK(s.ended && s.tracks_open == 0);
    CHECK_EQ(c.started, c.ended);
    /* the performer is named, and no one is named wrongly */
    CHECK(c.recognized >= 1);
    CHECK_MSG(c.stranger >= 2, "%d strangers", c.stranger);
    int wrong = 0;
    for (int i = 0; i < c.n_names; i++) wrong += strcmp(c.names[i], "lin_manuel_miranda") != 0;
    CHECK_EQ(wrong, 0);
    facet_watch_destroy(w);
    facet_recognizer_destroy(rec);
    facet_gallery_destroy(g);
    facet_sdk_destroy(sdk);
}

static void t_watch_crowd(void)
{
    char clip[1024];
    facet_sdk *sdk = NULL;
    const char *why = data_and_sdk(clip, sizeof clip, "video/crowd.mp4", &sdk);
    if (why) SKIP(why);
    collected c = {0};
    facet_watch_settings ws;
    facet_watch_defaults(&ws);
    ws.on_event = collect;
    ws.user = &c;
    facet_watch *w = NULL;
    CHECK_EQ(facet_watch_create(sdk, NULL, &ws, &w), FACET_OK); /* tracking only */
    int feed = -1;
    CHECK_EQ(facet_watch_add_source(w, "crowd", clip, &feed), FACET_OK);
    CHECK_EQ(facet_watch_start(w), FACET_OK);
    CHECK_EQ(facet_watch_wait(w), FACET_OK);
    facet_feed_stats s;
    CHECK_EQ(facet_watch_stats(w, feed, &s), FACET_OK);
    printf("# crowd: %ld frames, %ld faces, %ld tracks (%d announced), cuts %ld, DPS %.1f\n", s.frames_in, s.faces,
           s.tracks_total, c.started, s.scene_cuts, s.dps);
    CHECK_EQ(s.frames_in, 105);
    CHECK_EQ(s.scene_cuts, 0);
    /* 6-10 people at a time, some coming and going, some looking down for a second: stable ids
     * mean the four people walking at the front keep theirs through the clip, and few tracks */
    int long_tracks = 0;
    for (int i = 0; i < c.n_long; i++) long_tracks += c.longest[i] >= 3.5;
    CHECK_MSG(c.started >= 6 && c.started <= 20, "%d tracks", c.started);
    CHECK_MSG(long_tracks >= 4, "%d tracks of 3.5 s or more", long_tracks);
    CHECK_EQ(c.started, c.ended);
    facet_watch_destroy(w);
    facet_sdk_destroy(sdk);
}

/* Frames pushed through the API without waiting: what arrives while the detector is busy is
 * dropped and counted; a folder of images is a feed too; both in one watch, one SDK. */
static void t_watch_push_and_folder(void)
{
    char dir[1024], photo[1024];
    snprintf(dir, sizeof dir, "%s/gallery/probe", test_data_dir());
    snprintf(photo, sizeof photo, "%s/images/obama.jpg", test_data_dir());
    if (!test_file_exists(photo)) SKIP("no ../shared/data");
    facet_sdk *sdk = sdk_or_skip();
    if (!sdk) SKIP("no models");
    facet_image *img = NULL;
    CHECK_EQ(facet_image_decode_file(photo, NULL, &img), FACET_OK);
    collected c = {0};
    facet_watch_settings ws;
    facet_watch_defaults(&ws);
    ws.on_event = collect;
    ws.user = &c;
    facet_watch *w = NULL;
    CHECK_EQ(facet_watch_create(sdk, NULL, &ws, &w), FACET_OK);
    int push = -1, folder = -1;
    CHECK_EQ(facet_watch_add_push(w, "api", &push), FACET_OK);
    CHECK_EQ(facet_watch_add_source(w, "probe", dir, &folder), FACET_OK);
    CHECK_EQ(facet_watch_push(w, push, img, 0, 0, NULL), FACET_E_INVALID_ARG); /* not started */
    CHECK_EQ(facet_watch_start(w), FACET_OK);
    int dropped = 0, n_dropped = 0;
    for (int i = 0; i < 30 && img; i++) {
        CHECK_EQ(facet_watch_push(w, push, img, i / 25.0, 0, &dropped), FACET_OK);
        n_dropped += dropped;
    }
    CHECK_EQ(facet_watch_push(w, push, img, 0.0, 0, NULL), FACET_E_INVALID_ARG); /* back in time */
    CHECK_EQ(facet_watch_push(w, folder, img, 5.0, 0, NULL), FACET_E_INVALID_ARG); /* not a push feed */
    CHECK_EQ(facet_watch_push_end(w, push), FACET_OK);
    CHECK_EQ(facet_watch_wait(w), FACET_OK);
    facet_feed_stats s, sf;
    CHECK_EQ(facet_watch_stats(w, push, &s), FACET_OK);
    CHECK_EQ(facet_watch_stats(w, folder, &sf), FACET_OK);
    printf("# push: %ld in, %ld detected, %ld dropped; folder: %ld images, %ld faces\n", s.frames_in, s.frames_detected,
           s.frames_dropped, sf.frames_in, sf.faces);
    CHECK_EQ(s.frames_in, 30);
    CHECK_EQ(s.frames_detected + s.frames_dropped, 30);
    CHECK_EQ(s.frames_dropped, n_dropped);
    CHECK(s.frames_dropped > 0 && s.frames_detected > 0);
    CHECK(s.faces >= s.frames_detected); /* obama.jpg has a face in every detected frame */
    CHECK_EQ(sf.frames_in, 5);
    CHECK_EQ(sf.frames_dropped, 0);
    CHECK(sf.faces >= 5);
    facet_watch_destroy(w);
    facet_image_destroy(img);
    facet_sdk_destroy(sdk);
}

/* Sources that are not video fail when added, with the reason, and change nothing. */
static void t_watch_bad_sources(void)
{
    facet_sdk *sdk = sdk_or_skip();
    if (!sdk) SKIP("no models");
    char junk[] = "/tmp/facet_track_junkXXXXXX";
    int fd = mkstemp(junk);
    if (fd < 0) SKIP("no /tmp");
    for (int i = 0; i < 4096; i++) {
        unsigned char b = (unsigned char)(i * 2654435761u >> 13);
        if (write(fd, &b, 1) != 1) break;
    }
    close(fd);
    facet_watch *w = NULL;
    CHECK_EQ(facet_watch_create(sdk, NULL, NULL, &w), FACET_OK);
    CHECK(facet_watch_add_source(w, NULL, junk, NULL) < 0);
    CHECK(facet_watch_add_source(w, "x", "rtsp://127.0.0.1:9/none", NULL) < 0);
    CHECK_EQ(facet_watch_add_source(w, "a feed name that is far too long: the limit is sixty-three bytes, this one has more", junk, NULL),
             FACET_E_INVALID_ARG);
    CHECK_EQ(facet_watch_feed_count(w), 0);
    CHECK_EQ(facet_watch_start(w), FACET_E_INVALID_ARG); /* no feeds */
    facet_watch_destroy(w);
    facet_watch_settings ws;
    facet_watch_defaults(&ws);
    ws.send_quality = 2;
    CHECK_EQ(facet_watch_create(sdk, NULL, &ws, &w), FACET_E_INVALID_ARG);
    CHECK(w == NULL);
    unlink(junk);
    facet_sdk_destroy(sdk);
}

TESTS(TEST(t_schedule_defaults), TEST(t_schedule_stranger_retry0), TEST(t_schedule_stranger_ladder),
      TEST(t_schedule_lock_and_reconfirm), TEST(t_schedule_flip_before_lock), TEST(t_schedule_errors),
      TEST(t_schedule_slowing_server), TEST(t_tracker_crossing), TEST(t_tracker_missing_and_timeout),
      TEST(t_event_json), TEST(t_recognizer_local), TEST(t_watch_hamilton), TEST(t_watch_crowd),
      TEST(t_watch_push_and_folder), TEST(t_watch_bad_sources))
