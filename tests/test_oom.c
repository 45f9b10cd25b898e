/*
 * test_oom.c - allocation-failure injection. Every public constructor and the main calls run
 * once for each allocation they make, with exactly that allocation failing (the test hook in
 * src/base/mem.c; src/ allocates only through facet_malloc & co, so every one is counted). Each
 * run must end cleanly: FACET_E_NO_MEMORY (or another error) with a message, or success when
 * the code could do without the memory; the handle it used must still work afterwards, and
 * nothing may leak (the sanitizer pass of `make test` runs this under ASan's leak checker).
 * Allocations inside libjpeg, libspng, protobuf-c, XNNPACK, SQLite and libpq are theirs and
 * not counted.
 */
#include <unistd.h>

#include "base/base.h"
#include "facet/facet.h"
#include "harness.h"

#define MODEL_DIM 512

/* One call under test: returns its status; `undo` releases what a successful call made. */
typedef struct op {
    const char *name;
    int (*run)(void *ctx);
    void (*undo)(void *ctx);
    /* optional: checks the state after a failed run (e.g. nothing was half-enrolled) */
    void (*after_failure)(void *ctx);
} op;

/* Runs `o` with allocation 1, 2, ... failing until a run completes without reaching the
 * armed allocation; returns the number of allocations a full run makes. */
static long sweep(const op *o, void *ctx)
{
    long n = 1, nomem = 0, other = 0, tolerated = 0;
    for (;; n++) {
        facet_test_fail_alloc(n);
        int rc = o->run(ctx);
        int hit = facet_test_alloc_failed();
        facet_test_fail_alloc(0);
        if (!hit) {
            CHECK_MSG(rc == 0, "%s: failed with no allocation failing: %s", o->name,
                      facet_last_error());
            if (!rc && o->undo) o->undo(ctx);
            break;
        }
        if (rc == 0) {
            tolerated++;
            if (o->undo) o->undo(ctx);
            continue;
        }
        CHECK_MSG(rc < 0 && rc > FACET_E_INTERNAL && strcmp(facet_status_str(rc), "unknown status"),
                  "%s: allocation %ld failing gave status %d", o->name, n, rc);
        CHECK_MSG(facet_last_error()[0], "%s: allocation %ld: no message", o->name, n);
        if (rc == FACET_E_NO_MEMORY) {
            nomem++;
        } else if (other++ < 3) {
            printf("#   %s: allocation %ld failing: %s: %s\n", o->name, n, facet_status_str(rc),
                   facet_last_error());
        }
        if (o->after_failure) o->after_failure(ctx);
        if (th_failed) break;
    }
    printf("# %s: %ld allocations, each failed once: %ld FACET_E_NO_MEMORY, %ld other "
           "errors, %ld done without it\n", o->name, n - 1, nomem, other, tolerated);
    CHECK_MSG(n > 1, "%s: made no allocation through facet's allocator", o->name);
    return n - 1;
}

static char data_path[1024];
static const char *data(const char *rel)
{
    return test_path(data_path, sizeof data_path, test_data_dir(), rel);
}

/* ---- images ---- */

typedef struct img_ctx {
    const char *path;
    facet_image *img, *out;
} img_ctx;

static int run_decode(void *p)
{
    img_ctx *c = p;
    return facet_image_decode_file(c->path, NULL, &c->out);
}

static int run_image_ops(void *p)
{
    img_ctx *c = p;
    facet_image *a = NULL, *b = NULL;
    uint8_t *png = NULL;
    size_t n = 0;
    static const float m[6] = {0.5f, 0, 10, 0, 0.5f, 20};
    int rc = facet_image_resize(c->img, 300, 200, &a);
    if (!rc) rc = facet_image_warp_affine(a, m, 112, 112, NULL, &b);
    if (!rc) facet_image_destroy(a), a = NULL, rc = facet_image_crop(b, 5, 5, 50, 50, &a);
    if (!rc) facet_image_destroy(b), b = NULL, rc = facet_image_to_grey(a, &b);
    if (!rc) rc = facet_image_encode_png(b, &png, &n);
    facet_free(png);
    facet_image_destroy(a);
    facet_image_destroy(b);
    return rc;
}

static void undo_out(void *p)
{
    img_ctx *c = p;
    facet_image_destroy(c->out);
    c->out = NULL;
}

static void t_images(void)
{
    img_ctx c = {data("images/obama.jpg"), NULL, NULL};
    if (!test_file_exists(c.path)) SKIP("test data missing");
    sweep(&(op){"decode JPEG", run_decode, undo_out, NULL}, &c);
    c.path = data("images/astronaut.png");
    sweep(&(op){"decode PNG", run_decode, undo_out, NULL}, &c);
    CHECK_EQ(facet_image_decode_file(data("images/obama.jpg"), NULL, &c.img), 0);
    if (c.img) sweep(&(op){"resize, warp, crop, grey, PNG encoding", run_image_ops, NULL, NULL}, &c);
    facet_image_destroy(c.img);
}

/* ---- the face SDK ---- */

typedef struct sdk_ctx {
    facet_sdk_settings set;
    facet_sdk *sdk;
    facet_image *img;
    facet_faceprint fp;
} sdk_ctx;

static int run_sdk_create(void *p)
{
    sdk_ctx *c = p;
    return facet_sdk_create(&c->set, &c->sdk);
}

static void undo_sdk(void *p)
{
    sdk_ctx *c = p;
    facet_sdk_destroy(c->sdk);
    c->sdk = NULL;
}

/* The engine: parsing a model and planning a session, each failing at every allocation. */
typedef struct nn_ctx {
    uint8_t *bytes;
    size_t size;
    facet_nn_model *model, *loaded;
    facet_nn_session *session;
} nn_ctx;

static int run_model_load(void *p)
{
    nn_ctx *c = p;
    return facet_nn_model_load_memory(c->bytes, c->size, &c->loaded);
}

static void undo_model(void *p)
{
    nn_ctx *c = p;
    facet_nn_model_destroy(c->loaded);
    c->loaded = NULL;
}

static int run_session(void *p)
{
    nn_ctx *c = p;
    facet_nn_settings s;
    facet_nn_settings_defaults(&s);
    s.num_threads = 1;
    int rc = facet_nn_session_create(c->model, &s, &c->session);
    if (!rc) rc = facet_nn_session_run(c->session);
    if (rc) {
        facet_nn_session_destroy(c->session);
        c->session = NULL;
    }
    return rc;
}

static void undo_session(void *p)
{
    nn_ctx *c = p;
    facet_nn_session_destroy(c->session);
    c->session = NULL;
}

static void t_nn(void)
{
    nn_ctx c;
    memset(&c, 0, sizeof c);
    char p[1024];
    test_path(p, sizeof p, test_model_dir(), "fr_detect.onnx");
    if (facet_read_file(p, (size_t)1 << 30, &c.bytes, &c.size, NULL)) SKIP("models missing");
    sweep(&(op){"model load (fr_detect)", run_model_load, undo_model, NULL}, &c);
    CHECK_EQ(facet_nn_model_load_memory(c.bytes, c.size, &c.model), 0);
    if (c.model) sweep(&(op){"session create + run (fr_detect)", run_session, undo_session, NULL}, &c);
    facet_nn_model_destroy(c.model);
    free(c.bytes);
}

/* Detect and faceprint on a handle whose models are loaded: the handle plans its sessions on
 * first use and keeps them, so early runs fail while planning, later ones in detection. */
static int run_detect_faceprint(void *p)
{
    sdk_ctx *c = p;
    facet_face *faces = NULL;
    int n = 0;
    int rc = facet_detect_faces(c->sdk, c->img, &faces, &n);
    if (!rc && n < 1) rc = facet_seterr(NULL, FACET_E_INTERNAL, "no face found");
    if (!rc) rc = facet_faceprint_extract(c->sdk, c->img, &faces[0], &c->fp);
    facet_free(faces);
    return rc;
}

static void t_sdk(void)
{
    sdk_ctx c;
    memset(&c, 0, sizeof c);
    facet_sdk_defaults(&c.set);
    c.set.model_dir = test_model_dir();
    c.set.num_threads = 1;
    char p[1024];
    if (!test_file_exists(test_path(p, sizeof p, test_model_dir(), "fr_feature.onnx")))
        SKIP("models missing");
    sweep(&(op){"sdk create", run_sdk_create, undo_sdk, NULL}, &c);
    if (facet_image_decode_file(data("images/obama.jpg"), NULL, &c.img)) SKIP("data missing");
    /* a smaller picture keeps the detector's pyramid, and so the sweep, short */
    facet_image *small = NULL;
    CHECK_EQ(facet_image_resize(c.img, 320, 400, &small), 0);
    facet_image_destroy(c.img);
    c.img = small;
    c.set.preload = FACET_MODULE_DETECT | FACET_MODULE_LANDMARK | FACET_MODULE_FEATURE;
    CHECK_EQ(facet_sdk_create(&c.set, &c.sdk), 0);
    if (c.sdk) sweep(&(op){"detect + faceprint", run_detect_faceprint, NULL, NULL}, &c);
    CHECK_EQ(c.fp.dim, MODEL_DIM);
    facet_sdk_destroy(c.sdk);
    facet_image_destroy(c.img);
}

/* ---- galleries ---- */

#define GDIM 64
#define GMODEL "test@1"

typedef struct gal_ctx {
    char url[700];
    char path[600];     /* the SQLite file, removed before each run from scratch ("" for memory:) */
    facet_gallery *g;
    float v[8][GDIM];
    size_t count;       /* enrolments that succeeded */
} gal_ctx;

static int run_open(void *p)
{
    gal_ctx *c = p;
    return facet_gallery_open(c->url, NULL, &c->g);
}

static void undo_gallery(void *p)
{
    gal_ctx *c = p;
    facet_gallery_destroy(c->g);
    c->g = NULL;
}

static void remove_db(const char *path)
{
    static const char *const tails[] = {"", "-wal", "-shm", "-journal"};
    char p[700];
    for (int i = 0; i < 4 && path[0]; i++) {
        snprintf(p, sizeof p, "%s%s", path, tails[i]);
        unlink(p);
    }
}

/* open, create a collection, enrol a batch and one more, identify, list: on a fresh store */
static int run_gallery(void *p)
{
    gal_ctx *c = p;
    remove_db(c->path);
    facet_gallery *g = NULL;
    int rc = facet_gallery_open(c->url, NULL, &g);
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = GMODEL;
    cs.dim = GDIM;
    if (!rc) rc = facet_collection_create(g, "c", &cs);
    const char *ids[4] = {"ann", "bob", "cy", "dee"};
    if (!rc) rc = facet_gallery_enroll_batch(g, "c", GMODEL, c->v[0], 4, GDIM, ids, NULL);
    char uuid[FACET_UUID_SIZE];
    if (!rc) rc = facet_gallery_enroll(g, "c", GMODEL, c->v[4], GDIM, "eve", NULL, 0, uuid);
    facet_match m[3];
    int found = 0, k = 0;
    if (!rc) rc = facet_gallery_identify(g, "c", GMODEL, c->v[2], GDIM, 0.5f, m, &found);
    if (!rc && (!found || strcmp(m[0].identity, "cy")))
        rc = facet_seterr(NULL, FACET_E_INTERNAL, "identify found the wrong person");
    if (!rc) rc = facet_gallery_identify_top_k(g, "c", GMODEL, c->v[4], GDIM, 3, m, &k);
    facet_identity_count *idc = NULL;
    size_t nid = 0;
    if (!rc) rc = facet_gallery_identities(g, "c", &idc, &nid);
    facet_free(idc);
    facet_collection_info *info = NULL;
    size_t ninfo = 0;
    if (!rc) rc = facet_collection_list(g, &info, &ninfo);
    facet_free(info);
    if (!rc) rc = facet_collection_unload(g, "c");
    if (!rc) rc = facet_collection_load(g, "c", NULL);
    if (!rc) rc = facet_gallery_count(g, "c", &c->count);
    if (!rc && c->count != 5) rc = facet_seterr(NULL, FACET_E_INTERNAL, "count %zu", c->count);
    if (!rc) rc = facet_collection_drop(g, "c");
    facet_gallery_destroy(g);
    return rc;
}

/* Enrolment on an open gallery: a failed enrolment leaves the collection as it was. */
static int run_enroll(void *p)
{
    gal_ctx *c = p;
    char uuid[FACET_UUID_SIZE];
    return facet_gallery_enroll(c->g, "c", GMODEL, c->v[5], GDIM, "fay", NULL, 0, uuid);
}

static void check_unchanged(void *p)
{
    gal_ctx *c = p;
    size_t n = 0;
    CHECK_EQ(facet_gallery_count(c->g, "c", &n), 0);
    CHECK_EQ(n, c->count);
}

static void undo_enroll(void *p)
{
    gal_ctx *c = p;
    size_t removed = 0;
    CHECK_EQ(facet_gallery_remove_identity(c->g, "c", "fay", &removed), 0);
    CHECK_EQ(removed, 1);
}

/* Declared identities on an open gallery: declare, rename, list, remove. Each run first clears
 * what a failed run left, so that a failure part-way is not mistaken for the next run's. */
static int run_declared(void *p)
{
    gal_ctx *c = p;
    size_t removed = 0, n = 0;
    int rc = facet_gallery_remove_identity(c->g, "c", "gil", &removed);
    if (!rc) rc = facet_gallery_remove_identity(c->g, "c", "hal", &removed);
    if (!rc) rc = facet_gallery_add_identity(c->g, "c", "gil");
    if (!rc) rc = facet_gallery_rename_identity(c->g, "c", "gil", "hal", &removed);
    facet_identity_count *ids = NULL;
    if (!rc) rc = facet_gallery_identities(c->g, "c", &ids, &n);
    int listed = 0;
    for (size_t i = 0; i < n; i++) listed += !strcmp(ids[i].identity, "hal") && !ids[i].count;
    facet_free(ids);
    if (!rc && listed != 1) rc = facet_seterr(NULL, FACET_E_INTERNAL, "hal is not listed once");
    if (!rc) rc = facet_gallery_remove_identity(c->g, "c", "hal", &removed);
    return rc;
}

/* After a failure the handle's identities are the store's (read by a second handle). */
static void check_same_as_store(void *p)
{
    gal_ctx *c = p;
    facet_gallery *g2 = NULL;
    facet_identity_count *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK_EQ(facet_gallery_open(c->url, NULL, &g2), 0);
    if (!g2) return;
    CHECK_EQ(facet_collection_load(g2, "c", NULL), 0);
    CHECK_EQ(facet_gallery_identities(c->g, "c", &a, &na), 0);
    CHECK_EQ(facet_gallery_identities(g2, "c", &b, &nb), 0);
    CHECK_EQ(na, nb);
    for (size_t i = 0; i < na && i < nb; i++)
        CHECK_MSG(!strcmp(a[i].identity, b[i].identity) && a[i].count == b[i].count,
                  "identity %zu: %s:%zu here, %s:%zu in the store", i, a[i].identity, a[i].count,
                  b[i].identity, b[i].count);
    facet_free(a);
    facet_free(b);
    facet_gallery_destroy(g2);
}

static void gallery_sweeps(const char *url, const char *path, const char *label)
{
    static gal_ctx c;
    memset(&c, 0, sizeof c);
    snprintf(c.url, sizeof c.url, "%s", url);
    snprintf(c.path, sizeof c.path, "%s", path);
    uint64_t s = 12345;
    for (int i = 0; i < 8; i++) {
        double n = 0;
        for (int d = 0; d < GDIM; d++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            c.v[i][d] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
            n += (double)c.v[i][d] * c.v[i][d];
        }
        for (int d = 0; d < GDIM; d++) c.v[i][d] = (float)(c.v[i][d] / sqrt(n));
    }
    char name[96];
    snprintf(name, sizeof name, "%s: open", label);
    sweep(&(op){name, run_open, undo_gallery, NULL}, &c);
    snprintf(name, sizeof name, "%s: open, create, enrol, identify, list, reload, drop", label);
    sweep(&(op){name, run_gallery, NULL, NULL}, &c);

    /* enrolment failing on a gallery that stays open */
    remove_db(c.path);
    CHECK_EQ(facet_gallery_open(url, NULL, &c.g), 0);
    if (!c.g) return;
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = GMODEL;
    cs.dim = GDIM;
    CHECK_EQ(facet_collection_create(c.g, "c", &cs), 0);
    const char *ids[4] = {"ann", "bob", "cy", "dee"};
    CHECK_EQ(facet_gallery_enroll_batch(c.g, "c", GMODEL, c.v[0], 4, GDIM, ids, NULL), 0);
    c.count = 4;
    snprintf(name, sizeof name, "%s: enrol into an open collection", label);
    sweep(&(op){name, run_enroll, undo_enroll, check_unchanged}, &c);
    snprintf(name, sizeof name, "%s: declare, rename, list, remove an identity", label);
    sweep(&(op){name, run_declared, NULL, path[0] ? check_same_as_store : NULL}, &c);
    CHECK_EQ(facet_collection_drop(c.g, "c"), 0);
    facet_gallery_destroy(c.g);
    c.g = NULL;
}

static void t_gallery_memory(void)
{
    gallery_sweeps("memory:", "", "memory:");
}

static void t_gallery_sqlite(void)
{
    char dir[] = "/tmp/facet-oom-XXXXXX";
    if (!mkdtemp(dir)) SKIP("no temp dir");
    char url[700], path[600];
    snprintf(path, sizeof path, "%s/oom.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    gallery_sweeps(url, path, "sqlite:");
    remove_db(path);
    rmdir(dir);
}

/* ---- video: tracker, events, recognition client, watch set-up, video writer ---- */
/* (the scheduler, facet_schedule, is a plain value and allocates nothing) */

typedef struct track_ctx {
    facet_sdk *sdk;
    facet_image *chip, *frame;
    char video[700];
} track_ctx;

/* Six frames of two faces crossing, a third appearing, then all gone past the timeout: the
 * tracker's buffers grow with the boxes per frame. */
static int run_tracker(void *p)
{
    (void)p;
    facet_tracker *tr = NULL;
    int rc = facet_tracker_create(NULL, &tr);
    for (int k = 0; rc == 0 && k < 6; k++) {
        facet_box b[3] = {{10.0f + 20 * k, 50, 60, 60}, {130.0f - 20 * k, 52, 60, 60}, {300, 40, 70, 70}};
        int ids[3], n = k < 2 ? 2 : 3;
        rc = facet_tracker_update(tr, k * 0.04, b, n, ids);
    }
    if (rc == 0) rc = facet_tracker_update(tr, 5.0, NULL, 0, NULL);
    const int *ended = NULL;
    if (rc == 0 && facet_tracker_ended(tr, &ended) != 3) rc = FACET_E_INTERNAL;
    facet_tracker_destroy(tr);
    return rc;
}

static int run_event_json(void *p)
{
    track_ctx *c = p;
    facet_watch_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = FACET_EV_RECOGNIZED;
    ev.feed = "cam1";
    ev.track = 3;
    ev.box = (facet_box){1, 2, 30, 40};
    ev.identity = "ann";
    ev.chip = c->chip;
    char *js = NULL;
    int rc = facet_watch_event_to_json(&ev, 1, &js);
    if (rc == 0 && !strstr(js, "\"chip_jpeg\":\"/9j/")) rc = FACET_E_INTERNAL;
    facet_free(js);
    return rc;
}

static int run_recognizer_remote(void *p)
{
    (void)p;
    facet_recognizer *r = NULL;
    int rc = facet_recognizer_remote("http://127.0.0.1:9/", "a-key-of-some-length", "people", -1, 1, &r);
    facet_recognizer_destroy(r);
    return rc;
}

static int run_watch_setup(void *p)
{
    track_ctx *c = p;
    facet_watch *w = NULL;
    int rc = facet_watch_create(c->sdk, NULL, NULL, &w);
    if (rc == 0) rc = facet_watch_add_push(w, "cam1", NULL);
    if (rc == 0) rc = facet_watch_add_push(w, NULL, NULL);
    if (rc == 0) rc = facet_watch_add_source(w, NULL, data("gallery/probe"), NULL);
    if (rc == 0 && facet_watch_feed_count(w) != 3) rc = FACET_E_INTERNAL;
    facet_watch_destroy(w);
    return rc;
}

static int run_video_writer(void *p)
{
    track_ctx *c = p;
    facet_video_writer *vw = NULL;
    int rc = facet_video_writer_create(c->video, 64, 48, NULL, &vw);
    for (int k = 0; rc == 0 && k < 3; k++) rc = facet_video_writer_write(vw, c->frame, k * 0.04);
    if (rc == 0) rc = facet_video_writer_finish(vw);
    if (rc == 0 && facet_video_writer_frames(vw) != 3) rc = FACET_E_INTERNAL;
    facet_video_writer_destroy(vw);
    return rc;
}

static void t_track(void)
{
    track_ctx c;
    memset(&c, 0, sizeof c);
    CHECK_EQ(facet_image_create(112, 112, 3, &c.chip), 0);
    CHECK_EQ(facet_image_create(64, 48, 3, &c.frame), 0);
    if (!c.chip || !c.frame) return;
    for (int i = 0; i < 112 * 112 * 3; i++) c.chip->data[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 64 * 48 * 3; i++) c.frame->data[i] = (uint8_t)(i * 3);
    sweep(&(op){"tracker: create, six frames, timeout", run_tracker, NULL, NULL}, &c);
    sweep(&(op){"event to JSON with a chip", run_event_json, NULL, NULL}, &c);
    sweep(&(op){"remote recognizer", run_recognizer_remote, NULL, NULL}, &c);
    char dir[] = "/tmp/facet-oom-XXXXXX";
    if (mkdtemp(dir)) {
        snprintf(c.video, sizeof c.video, "%s/v.mp4", dir);
        sweep(&(op){"video writer: three frames", run_video_writer, NULL, NULL}, &c);
        unlink(c.video);
        rmdir(dir);
    }
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    set.model_dir = test_model_dir();
    set.num_threads = 1;
    if (facet_sdk_create(&set, &c.sdk) == 0)
        sweep(&(op){"watch: create, two push feeds and a folder", run_watch_setup, NULL, NULL}, &c);
    facet_sdk_destroy(c.sdk);
    facet_image_destroy(c.chip);
    facet_image_destroy(c.frame);
}

TESTS(TEST(t_images), TEST(t_nn), TEST(t_sdk), TEST(t_gallery_memory), TEST(t_gallery_sqlite), TEST(t_track))
