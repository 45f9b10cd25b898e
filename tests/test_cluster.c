/*
 * test_cluster.c - several processes on one store, modelled by several gallery handles (each
 * has its own store connection, exactly as separate processes would): what one enrols,
 * removes or drops shows in the others through the change log, by the follower thread
 * (LISTEN/NOTIFY on PostgreSQL, polling on SQLite) or by facet_gallery_sync; searches run
 * throughout and see consistent collections; and, on PostgreSQL, the server is stopped and
 * started again mid-test: writes fail with FACET_E_STORE while it is down, searches go on,
 * and every handle reconnects and converges by itself.
 *
 * Argument "pg": run against FACET_TEST_PG (tests/with-postgres.sh starts a real server and
 * gives FACET_TEST_PG_STOP / FACET_TEST_PG_START); otherwise against a SQLite file.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "facet/facet.h"
#include "harness.h"
#include "store/store.h"

#define MODEL "fr_feature@87aacdfe"
#define DIM 512

static char url[512];
static int on_pg;

static void vec_for(float *v, unsigned seed)
{
    double n = 0;
    uint32_t s = seed * 2654435761u + 12345;
    for (int d = 0; d < DIM; d++) {
        s = s * 1664525u + 1013904223u;
        v[d] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
        n += (double)v[d] * v[d];
    }
    for (int d = 0; d < DIM; d++) v[d] = (float)(v[d] / sqrt(n));
}

static facet_gallery *open_node(int follow)
{
    facet_gallery_settings s;
    facet_gallery_defaults(&s);
    s.threads = 1;
    s.follow = follow;
    /* SQLite has no notifications: its followers poll at this period */
    s.follow_interval_ms = on_pg ? 500 : 50;
    facet_gallery *g = NULL;
    int st = facet_gallery_open(url, &s, &g);
    CHECK_MSG(st == FACET_OK, "%s", facet_last_error());
    return g;
}

static void fresh_collection(facet_gallery *g, const char *name)
{
    facet_collection_drop(g, name);
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = MODEL;
    cs.dim = DIM;
    CHECK_EQ(facet_collection_create(g, name, &cs), FACET_OK);
}

/* Two nodes on the store, with collection `name` created fresh by A and loaded by B;
 * 0 (and a failed check) if either could not open. */
static int two_nodes(int follow_a, int follow_b, const char *name, facet_gallery **a,
                     facet_gallery **b)
{
    *a = open_node(follow_a);
    *b = open_node(follow_b);
    if (!*a || !*b) return 0;
    fresh_collection(*a, name);
    CHECK_EQ(facet_collection_load(*b, name, NULL), FACET_OK);
    return 1;
}

/* Milliseconds until `g` finds the faceprint of `seed` as its best match (found = 1) or no
 * longer finds it there (found = 0); -1 after 3 s. */
static double wait_for(facet_gallery *g, const char *coll, unsigned seed, int found)
{
    float v[DIM];
    vec_for(v, seed);
    double t0 = facet_now_ms();
    while (facet_now_ms() - t0 < 3000) {
        facet_match m;
        int f = 0;
        if (facet_gallery_identify(g, coll, MODEL, v, DIM, 0.99f, &m, &f) == FACET_OK &&
            f == found)
            return facet_now_ms() - t0;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static size_t count_of(facet_gallery *g, const char *coll)
{
    size_t n = 0;
    if (facet_gallery_count(g, coll, &n) != FACET_OK) return (size_t)-1;
    return n;
}

/* Waits up to 3 s for a collection's count in `g` to reach `want`. */
static int wait_count(facet_gallery *g, const char *coll, size_t want)
{
    double t0 = facet_now_ms();
    while (facet_now_ms() - t0 < 3000) {
        if (count_of(g, coll) == want) return 1;
        usleep(2000);
    }
    return 0;
}

/* ---- two followers see each other's enrolments, removals and drops ---- */

static void t_two_nodes(void)
{
    facet_gallery *a = NULL, *b = NULL;
    if (!two_nodes(1, 1, "nodes", &a, &b)) goto out;
    float v[DIM];
    char uuid[FACET_UUID_SIZE];
    double worst = 0;
    for (unsigned i = 1; i <= 5; i++) {
        vec_for(v, i);
        CHECK_EQ(facet_gallery_enroll(a, "nodes", MODEL, v, DIM, "alice", NULL, 0, uuid),
                 FACET_OK);
        double ms = wait_for(b, "nodes", i, 1);
        CHECK_MSG(ms >= 0 && ms < 1000, "enrolment on A seen by B after %.1f ms", ms);
        if (ms > worst) worst = ms;
    }
    printf("# enrolment on A found by identify on B after at most %.1f ms (%s)\n", worst,
           on_pg ? "PostgreSQL, LISTEN/NOTIFY" : "SQLite, polling every 50 ms");
    /* a removal on B, of a faceprint B learnt from A, shows in A */
    facet_match m;
    int found = 0;
    vec_for(v, 3);
    CHECK_EQ(facet_gallery_identify(b, "nodes", MODEL, v, DIM, 0.99f, &m, &found), FACET_OK);
    CHECK(found);
    CHECK_EQ(facet_gallery_remove(b, "nodes", m.uuid), FACET_OK);
    double ms = wait_for(a, "nodes", 3, 0);
    CHECK_MSG(ms >= 0 && ms < 1000, "removal on B seen by A after %.1f ms", ms);
    printf("# removal on B gone from A after %.1f ms\n", ms);
    /* a removal of a faceprint this node has not seen yet still reaches the store */
    vec_for(v, 77);
    CHECK_EQ(facet_gallery_enroll(a, "nodes", MODEL, v, DIM, "zed", NULL, 0, uuid), FACET_OK);
    CHECK_EQ(facet_gallery_remove(b, "nodes", uuid), FACET_OK);
    /* NOT_FOUND, even when B's follower applied A's enrolment between the two calls */
    CHECK_EQ(facet_gallery_remove(b, "nodes", uuid), FACET_E_NOT_FOUND);
    CHECK(wait_count(a, "nodes", 4));
    /* identities and batches */
    size_t removed = 0;
    CHECK_EQ(facet_gallery_remove_identity(a, "nodes", "alice", &removed), FACET_OK);
    CHECK_EQ(removed, 4);
    CHECK(wait_count(b, "nodes", 0));
    enum { N = 600 };
    float *vs = malloc((size_t)N * DIM * sizeof *vs);
    const char **ids = malloc(N * sizeof *ids);
    for (int i = 0; i < N; i++) {
        vec_for(vs + (size_t)i * DIM, 1000u + (unsigned)i);
        ids[i] = i % 2 ? "bob" : "carol";
    }
    CHECK_EQ(facet_gallery_enroll_batch(b, "nodes", MODEL, vs, N, DIM, ids, NULL), FACET_OK);
    CHECK_MSG(wait_count(a, "nodes", N), "A has %zu of %d", count_of(a, "nodes"), N);
    facet_identity_count *ic = NULL;
    size_t nic = 0;
    CHECK_EQ(facet_gallery_identities(a, "nodes", &ic, &nic), FACET_OK);
    CHECK(nic == 2 && ic[0].count == N / 2 && ic[1].count == N / 2);
    free(ic);
    /* a rename (logged as a removal and an enrolment of each row) shows on A too */
    size_t renamed = 0;
    CHECK_EQ(facet_gallery_rename_identity(b, "nodes", "bob", "carol", &renamed), FACET_OK);
    CHECK_EQ(renamed, N / 2);
    double r0 = facet_now_ms();
    for (;;) {
        ic = NULL;
        nic = 0;
        CHECK_EQ(facet_gallery_identities(a, "nodes", &ic, &nic), FACET_OK);
        int done = nic == 1 && ic[0].count == N && strcmp(ic[0].identity, "carol") == 0;
        free(ic);
        if (done || facet_now_ms() - r0 > 3000) {
            CHECK_MSG(done, "A did not see the rename");
            break;
        }
        usleep(2000);
    }
    CHECK(wait_count(b, "nodes", N)); /* B's follower re-applies its own rename: no change */
    free(vs);
    free(ids);
    /* a drop unloads the collection everywhere; one created again later is not unloaded */
    CHECK_EQ(facet_collection_drop(a, "nodes"), FACET_OK);
    double t0 = facet_now_ms();
    facet_collection_info info;
    while (facet_now_ms() - t0 < 3000 && facet_collection_get(b, "nodes", &info) == FACET_OK &&
           info.loaded)
        usleep(2000);
    CHECK_EQ(count_of(b, "nodes"), (size_t)-1);
    facet_sync_info si;
    CHECK_EQ(facet_gallery_sync_info(b, &si), FACET_OK);
    CHECK(si.following && si.store_ok && si.applied >= 5 + 1 + 2 + 4 + N + 1);
out:
    facet_gallery_destroy(a);
    facet_gallery_destroy(b);
}

/* ---- declared identities (no faceprints) reach the other node: declaration, rename and
 * removal, each through one 'S' log entry ---- */

/* 1 when g lists exactly `want` ("name:count ..."), within 3 s. */
static int wait_identities(facet_gallery *g, const char *coll, const char *want)
{
    char got[512];
    double t0 = facet_now_ms();
    for (;;) {
        facet_identity_count *ic = NULL;
        size_t n = 0, k = 0;
        got[0] = 0;
        if (facet_gallery_identities(g, coll, &ic, &n) == FACET_OK)
            for (size_t i = 0; i < n && k < sizeof got; i++)
                k += (size_t)snprintf(got + k, sizeof got - k, "%s%s:%zu", i ? " " : "",
                                      ic[i].identity, ic[i].count);
        facet_free(ic);
        if (!strcmp(got, want)) return 1;
        if (facet_now_ms() - t0 > 3000) {
            CHECK_MSG(0, "identities: got \"%s\", want \"%s\"", got, want);
            return 0;
        }
        usleep(2000);
    }
}

static void t_declared_identities(void)
{
    facet_gallery *a = NULL, *b = NULL;
    if (!two_nodes(1, 1, "decl", &a, &b)) goto out;
    CHECK_EQ(facet_gallery_add_identity(a, "decl", "amy"), FACET_OK);
    CHECK(wait_identities(b, "decl", "amy:0"));
    /* the store refuses a second declaration made on another node, and one of an identity
     * enrolled there that this node has not seen yet */
    CHECK_EQ(facet_gallery_add_identity(b, "decl", "amy"), FACET_E_EXISTS);
    float v[DIM];
    vec_for(v, 7);
    char uuid[FACET_UUID_SIZE];
    CHECK_EQ(facet_gallery_enroll(a, "decl", MODEL, v, DIM, "bob", NULL, 0, uuid), FACET_OK);
    CHECK(wait_identities(b, "decl", "amy:0 bob:1"));
    /* renamed on B (a merge of the declared amy into bob) */
    size_t k = 9;
    CHECK_EQ(facet_gallery_rename_identity(b, "decl", "amy", "bob", &k), FACET_OK);
    CHECK_EQ(k, 0);
    CHECK(wait_identities(a, "decl", "bob:1"));
    CHECK_EQ(facet_gallery_add_identity(b, "decl", "cid"), FACET_OK);
    CHECK_EQ(facet_gallery_rename_identity(b, "decl", "cid", "cy", &k), FACET_OK);
    CHECK(wait_identities(a, "decl", "bob:1 cy:0"));
    CHECK_EQ(facet_gallery_remove_identity(a, "decl", "cy", &k), FACET_OK);
    CHECK(wait_identities(b, "decl", "bob:1"));
    /* a third node loading the collection afresh reads them from the store */
    CHECK_EQ(facet_gallery_add_identity(a, "decl", "dee"), FACET_OK);
    facet_gallery *c = open_node(0);
    if (c) {
        CHECK_EQ(facet_collection_load(c, "decl", NULL), FACET_OK);
        CHECK(wait_identities(c, "decl", "bob:1 dee:0"));
    }
    facet_gallery_destroy(c);
out:
    facet_gallery_destroy(a);
    facet_gallery_destroy(b);
}

/* ---- without a follower, facet_gallery_sync does the catch-up ---- */

static void t_explicit_sync(void)
{
    facet_gallery *a = NULL, *b = NULL;
    if (!two_nodes(0, 0, "manual", &a, &b)) goto out;
    float v[DIM];
    char uuid[FACET_UUID_SIZE];
    for (unsigned i = 0; i < 10; i++) {
        vec_for(v, 500 + i);
        CHECK_EQ(facet_gallery_enroll(a, "manual", MODEL, v, DIM, "dave", NULL, 0, uuid),
                 FACET_OK);
    }
    CHECK_EQ(facet_gallery_remove(a, "manual", uuid), FACET_OK);
    usleep(100000);
    CHECK_EQ(count_of(b, "manual"), 0); /* nothing moves without a follower or a sync */
    size_t applied = 0;
    CHECK_EQ(facet_gallery_sync(b, &applied), FACET_OK);
    CHECK_EQ(applied, 11);
    CHECK_EQ(count_of(b, "manual"), 9);
    CHECK_EQ(facet_gallery_sync(b, &applied), FACET_OK);
    CHECK_EQ(applied, 0);
    /* B holds a copy that A then removes: B's own removal of it is NOT_FOUND (the store
     * decides) and drops the stale copy */
    char first[FACET_UUID_SIZE];
    vec_for(v, 550);
    CHECK_EQ(facet_gallery_enroll(a, "manual", MODEL, v, DIM, "dave", NULL, 0, first), FACET_OK);
    CHECK_EQ(facet_gallery_sync(b, NULL), FACET_OK);
    CHECK_EQ(count_of(b, "manual"), 10);
    CHECK_EQ(facet_gallery_remove(a, "manual", first), FACET_OK);
    CHECK_EQ(facet_gallery_remove(b, "manual", first), FACET_E_NOT_FOUND);
    CHECK_EQ(count_of(b, "manual"), 9);
    CHECK_EQ(facet_gallery_sync(b, &applied), FACET_OK);
    CHECK_EQ(applied, 1);
    CHECK_EQ(count_of(b, "manual"), 9);
    /* A's own changes come back to it through the log and change nothing */
    CHECK_EQ(facet_gallery_sync(a, &applied), FACET_OK);
    CHECK_EQ(count_of(a, "manual"), 9);
    /* a collection loaded after changes were read elsewhere still gets them: B loads a fresh
     * copy at a point of the log, A enrols, B catches up */
    CHECK_EQ(facet_collection_unload(b, "manual"), FACET_OK);
    vec_for(v, 600);
    CHECK_EQ(facet_gallery_enroll(a, "manual", MODEL, v, DIM, "erin", NULL, 0, uuid), FACET_OK);
    CHECK_EQ(facet_gallery_sync(b, &applied), FACET_OK); /* read while not loaded: skipped */
    CHECK_EQ(facet_collection_load(b, "manual", NULL), FACET_OK);
    CHECK_EQ(count_of(b, "manual"), 10);
    CHECK_EQ(facet_gallery_sync(b, &applied), FACET_OK);
    CHECK_EQ(count_of(b, "manual"), 10);
    CHECK_EQ(facet_collection_drop(a, "manual"), FACET_OK);
out:
    facet_gallery_destroy(a);
    facet_gallery_destroy(b);
}

/* ---- searches on a follower while another node writes: always a consistent answer ---- */

typedef struct searcher {
    facet_gallery *g;
    atomic_int *stop;
    long searches, bad;
} searcher;

static void *search_loop(void *arg)
{
    searcher *s = arg;
    float v[DIM];
    unsigned k = 0;
    while (!atomic_load(s->stop)) {
        unsigned seed = 2000 + k++ % 400;
        vec_for(v, seed);
        facet_match m[3];
        int n = 0;
        if (facet_gallery_identify_top_k(s->g, "busy", MODEL, v, DIM, 3, m, &n) != FACET_OK) {
            s->bad++;
            continue;
        }
        /* the identity is a function of the seed: a torn row would show another one */
        char want[16];
        snprintf(want, sizeof want, "p%u", seed % 7);
        if (n > 0 && m[0].similarity > 0.999f && strcmp(m[0].identity, want) != 0) s->bad++;
        for (int i = 0; i < n; i++)
            if (!(m[i].similarity >= -1.0f && m[i].similarity <= 1.0f)) s->bad++;
        s->searches++;
    }
    return NULL;
}

static void t_searches_during_changes(void)
{
    facet_gallery *a = NULL, *b = NULL;
    if (!two_nodes(0, 1, "busy", &a, &b)) goto out;
    atomic_int stop = 0;
    searcher s[2] = {{b, &stop, 0, 0}, {b, &stop, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, search_loop, &s[i]);
    float v[DIM];
    char uuids[400][FACET_UUID_SIZE];
    for (unsigned i = 0; i < 400; i++) {
        vec_for(v, 2000 + i);
        char id[16];
        snprintf(id, sizeof id, "p%u", (2000 + i) % 7);
        CHECK_EQ(facet_gallery_enroll(a, "busy", MODEL, v, DIM, id, NULL, 0, uuids[i]),
                 FACET_OK);
        /* B's own writes interleave with the ones it follows */
        if (i % 40 == 39) CHECK_EQ(facet_gallery_remove(b, "busy", uuids[i - 20]), FACET_OK);
        /* A has no follower: a row that B removed is still in A's memory, but the store
         * decides, so A's removal of it says NOT_FOUND (and drops A's copy) */
        unsigned k = i - 100;
        if (i % 3 == 0 && i >= 100)
            CHECK_EQ(facet_gallery_remove(a, "busy", uuids[k]),
                     k % 40 == 19 ? FACET_E_NOT_FOUND : FACET_OK);
    }
    /* the same state everywhere as in the store: a fresh load is the truth */
    facet_gallery *c = open_node(0);
    CHECK_EQ(facet_collection_load(c, "busy", NULL), FACET_OK);
    size_t want = count_of(c, "busy");
    CHECK(want > 200 && want < 400);
    CHECK_MSG(wait_count(b, "busy", want), "B has %zu, the store %zu", count_of(b, "busy"), want);
    CHECK_EQ(facet_gallery_sync(a, NULL), FACET_OK);
    CHECK_EQ(count_of(a, "busy"), want);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK(s[0].searches > 0 && s[1].searches > 0);
    CHECK_EQ(s[0].bad + s[1].bad, 0);
    facet_identity_count *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    CHECK_EQ(facet_gallery_identities(b, "busy", &x, &nx), FACET_OK);
    CHECK_EQ(facet_gallery_identities(c, "busy", &y, &ny), FACET_OK);
    CHECK(nx == ny && nx > 0);
    for (size_t i = 0; i < nx && i < ny; i++)
        CHECK(strcmp(x[i].identity, y[i].identity) == 0 && x[i].count == y[i].count);
    printf("# %ld searches on B while A and B wrote; B converged to the store's %zu rows\n",
           s[0].searches + s[1].searches, want);
    free(x);
    free(y);
    facet_collection_drop(c, "busy");
    facet_gallery_destroy(c);
out:
    facet_gallery_destroy(a);
    facet_gallery_destroy(b);
}

/* ---- PostgreSQL stopped and started under running handles ---- */

static void t_server_restart(void)
{
    const char *stop_cmd = getenv("FACET_TEST_PG_STOP"), *start_cmd = getenv("FACET_TEST_PG_START");
    if (!stop_cmd || !start_cmd)
        SKIP("needs a PostgreSQL server this test may stop (tests/with-postgres.sh)");
    facet_gallery *a = NULL, *b = NULL;
    if (!two_nodes(1, 1, "outage", &a, &b)) goto out;
    float v[DIM];
    char uuid[FACET_UUID_SIZE];
    vec_for(v, 9000);
    CHECK_EQ(facet_gallery_enroll(a, "outage", MODEL, v, DIM, "before", NULL, 0, uuid), FACET_OK);
    CHECK(wait_for(b, "outage", 9000, 1) >= 0);

    CHECK_EQ(system(stop_cmd), 0);
    /* writes fail at once with FACET_E_STORE; searches answer from memory */
    vec_for(v, 9001);
    double t0 = facet_now_ms();
    CHECK_EQ(facet_gallery_enroll(a, "outage", MODEL, v, DIM, "during", NULL, 0, uuid),
             FACET_E_STORE);
    CHECK_EQ(facet_gallery_enroll(a, "outage", MODEL, v, DIM, "during", NULL, 0, uuid),
             FACET_E_STORE);
    CHECK_MSG(facet_now_ms() - t0 < 1000, "failing took %.0f ms", facet_now_ms() - t0);
    CHECK_EQ(facet_gallery_ping(b), FACET_E_STORE);
    CHECK_EQ(facet_gallery_sync(b, NULL), FACET_E_STORE);
    CHECK(wait_for(b, "outage", 9000, 1) >= 0);
    CHECK_EQ(count_of(a, "outage"), 1);

    CHECK_EQ(system(start_cmd), 0);
    double back = facet_now_ms();
    int st = FACET_E_STORE;
    while (st == FACET_E_STORE && facet_now_ms() - back < 10000) {
        st = facet_gallery_enroll(a, "outage", MODEL, v, DIM, "after", NULL, 0, uuid);
        if (st == FACET_E_STORE) usleep(50000);
    }
    CHECK_MSG(st == FACET_OK, "%s", facet_gallery_errmsg(a));
    printf("# A enrolled again %.0f ms after the server was back\n", facet_now_ms() - back);
    double ms = wait_for(b, "outage", 9001, 1);
    CHECK_MSG(ms >= 0 && ms < 1500, "B saw it after %.0f ms", ms);
    printf("# B, whose listener was cut, found it %.0f ms later\n", ms);
    CHECK_EQ(facet_gallery_ping(b), FACET_OK);
    CHECK_EQ(facet_collection_drop(b, "outage"), FACET_OK);
    facet_sync_info si;
    CHECK_EQ(facet_gallery_sync_info(a, &si), FACET_OK);
    CHECK(si.following);
out:
    facet_gallery_destroy(a);
    facet_gallery_destroy(b);
}

/* ---- the log's pruning: a node further behind reloads instead of missing changes ---- */

static void t_fell_behind(void)
{
    facet_gallery_settings s;
    facet_gallery_defaults(&s);
    s.threads = 1;
    s.follow_interval_ms = 5;
    CHECK_EQ(facet_gallery_open(url, &s, NULL), FACET_E_INVALID_ARG);
    s.follow_interval_ms = 500;
    s.change_keep_s = -1;
    facet_gallery *bad = NULL;
    CHECK_EQ(facet_gallery_open(url, &s, &bad), FACET_E_INVALID_ARG);
    CHECK(bad == NULL);

    facet_gallery *a = NULL, *b = NULL;
    if (!two_nodes(0, 0, "behind", &a, &b)) goto out;
    float v[DIM];
    char uuid[FACET_UUID_SIZE];
    for (unsigned i = 0; i < 5; i++) {
        vec_for(v, 7000 + i);
        CHECK_EQ(facet_gallery_enroll(a, "behind", MODEL, v, DIM, "fay", NULL, 0, uuid), FACET_OK);
    }
    /* prune everything but the newest entry, as followers do after change_keep_s */
    facet_store *st = NULL;
    facet_err e = {{0}};
    CHECK_EQ(facet_store_open(url, &st, &e), FACET_OK);
    if (st) {
        CHECK_EQ(st->ops->prune(st, facet_unix_ms() + 1000), FACET_OK);
        int64_t lo = 0, hi = 0;
        CHECK_EQ(st->ops->seq_range(st, &lo, &hi), FACET_OK);
        CHECK(lo == hi && hi > 0);
        facet_store_close(st);
    }
    facet_sync_info before, after;
    CHECK_EQ(facet_gallery_sync_info(b, &before), FACET_OK);
    CHECK_EQ(facet_gallery_sync(b, NULL), FACET_OK);
    CHECK_EQ(facet_gallery_sync_info(b, &after), FACET_OK);
    CHECK_EQ(after.reloads, before.reloads + 1);
    CHECK_EQ(count_of(b, "behind"), 5);
    /* and it follows normally from there */
    vec_for(v, 7100);
    CHECK_EQ(facet_gallery_enroll(a, "behind", MODEL, v, DIM, "fay", NULL, 0, uuid), FACET_OK);
    CHECK_EQ(facet_gallery_sync(b, NULL), FACET_OK);
    CHECK_EQ(count_of(b, "behind"), 6);
    CHECK_EQ(facet_gallery_sync_info(b, &after), FACET_OK);
    CHECK_EQ(after.reloads, before.reloads + 1);
    facet_collection_drop(a, "behind");
out:
    facet_gallery_destroy(a);
    facet_gallery_destroy(b);
}

/* SQLite: a file in a temporary directory; PostgreSQL: FACET_TEST_PG, or a skip. */
static int use_sqlite(void)
{
    static char dir[64];
    on_pg = 0;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/facet-cluster-XXXXXX");
        if (!mkdtemp(dir)) return 0;
    }
    snprintf(url, sizeof url, "sqlite:%s/cluster.db", dir);
    return 1;
}

static int use_pg(void)
{
    const char *u = getenv("FACET_TEST_PG");
    on_pg = 1;
    if (!u || !*u) return 0;
    snprintf(url, sizeof url, "%s", u);
    return 1;
}

#define BOTH(fn)                                                                             \
    static void fn##_sqlite(void)                                                            \
    {                                                                                        \
        if (!use_sqlite()) SKIP("no temporary directory");                                   \
        fn();                                                                                \
    }                                                                                        \
    static void fn##_pg(void)                                                                \
    {                                                                                        \
        if (!use_pg()) SKIP("FACET_TEST_PG not set (run through tests/with-postgres.sh)");   \
        fn();                                                                                \
    }
BOTH(t_two_nodes)
BOTH(t_explicit_sync)
BOTH(t_searches_during_changes)
BOTH(t_fell_behind)
BOTH(t_declared_identities)

static void t_server_restart_pg(void)
{
    if (!use_pg()) SKIP("FACET_TEST_PG not set (run through tests/with-postgres.sh)");
    t_server_restart();
}

TESTS(TEST(t_two_nodes_sqlite), TEST(t_explicit_sync_sqlite),
      TEST(t_searches_during_changes_sqlite), TEST(t_fell_behind_sqlite), TEST(t_two_nodes_pg),
      TEST(t_explicit_sync_pg), TEST(t_searches_during_changes_pg), TEST(t_fell_behind_pg),
      TEST(t_server_restart_pg), TEST(t_declared_identities_sqlite),
      TEST(t_declared_identities_pg))
