/*
 * test_durability.c - what `synchronous=FULL` promises, tested against a simulated power cut.
 *
 * Killing the process (test_store.c's SIGKILL test) cannot lose a write that reached the
 * kernel, so it says nothing about power loss: only data that was fsync'ed survives that. This
 * test registers, as SQLite's default VFS, a shim over the real one that models a disk cache:
 * every file's writes and truncations since its last xSync live in memory only (reads see them,
 * the file on disk does not) and reach the real file at xSync. "Cutting the power" drops every
 * unsynced change and fails every later I/O of the dying process; the store is then closed
 * (nothing it writes lands) and reopened as after a reboot.
 *
 * A burst of enrolments runs on the real SQLite store with the power cut after a random number
 * of writes and syncs; every enrolment acknowledged before the cut must be there after the
 * reboot, bit for bit, and nothing else but the one enrolment in flight may appear, with no
 * corrupt row. The control experiment shows the shim does drop unsynced data: a table written
 * with synchronous=OFF through the same shim loses rows its commits had acknowledged.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <unistd.h>

#include "facet/facet.h"
#include "harness.h"

#define MODEL "fr_feature@87aacdfe"
#define DIM 128

/* ---- the power-cut VFS ---- */

typedef struct vfile {
    sqlite3_file base;
    sqlite3_file *real;      /* the underlying file, opened by the default VFS */
    unsigned char *data;     /* the file as the process sees it (synced + unsynced changes) */
    sqlite3_int64 size, cap;
    sqlite3_int64 dirty_lo, dirty_hi; /* range written since the last sync (lo > hi: none) */
    int truncated;           /* size lowered since the last sync */
    struct vfile *next;
} vfile;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs cut_vfs;
static vfile *open_files;
static int power_off;        /* after the cut: nothing reaches the disk any more */
static long ops_left = -1;   /* writes/syncs/truncations until the cut; -1: never */
static long ops_done;        /* persisting operations so far (to size the cut points) */

/* Counts a write, sync or truncation; returns nonzero when the power is (now) off. */
static int cut_now(void)
{
    if (power_off) return 1;
    ops_done++;
    if (ops_left > 0 && --ops_left == 0) power_off = 1;
    return power_off;
}

static int grow(vfile *f, sqlite3_int64 need)
{
    if (need <= f->cap) return 0;
    sqlite3_int64 cap = f->cap ? f->cap : 65536;
    while (cap < need) cap *= 2;
    unsigned char *d = realloc(f->data, (size_t)cap);
    if (!d) return -1;
    memset(d + f->cap, 0, (size_t)(cap - f->cap));
    f->data = d;
    f->cap = cap;
    return 0;
}

static int v_close(sqlite3_file *p)
{
    vfile *f = (vfile *)p;
    /* a clean close of a live process: what was written reaches the disk eventually */
    if (!power_off && (f->dirty_lo <= f->dirty_hi || f->truncated)) {
        f->real->pMethods->xWrite(f->real, f->data, (int)f->size, 0);
        f->real->pMethods->xTruncate(f->real, f->size);
    }
    for (vfile **q = &open_files; *q; q = &(*q)->next)
        if (*q == f) {
            *q = f->next;
            break;
        }
    int rc = f->real->pMethods->xClose(f->real);
    free(f->real);
    free(f->data);
    return rc;
}

static int v_read(sqlite3_file *p, void *buf, int amt, sqlite3_int64 off)
{
    vfile *f = (vfile *)p;
    if (power_off) return SQLITE_IOERR_READ;
    sqlite3_int64 have = off < f->size ? f->size - off : 0;
    if (have > amt) have = amt;
    if (have > 0) memcpy(buf, f->data + off, (size_t)have);
    if (have < amt) {
        memset((char *)buf + (have > 0 ? have : 0), 0, (size_t)(amt - (have > 0 ? have : 0)));
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

static int v_write(sqlite3_file *p, const void *buf, int amt, sqlite3_int64 off)
{
    vfile *f = (vfile *)p;
    if (cut_now()) return SQLITE_IOERR_WRITE;
    if (grow(f, off + amt)) return SQLITE_IOERR_NOMEM;
    memcpy(f->data + off, buf, (size_t)amt);
    if (off + amt > f->size) f->size = off + amt;
    if (off < f->dirty_lo) f->dirty_lo = off;
    if (off + amt > f->dirty_hi) f->dirty_hi = off + amt;
    return SQLITE_OK;
}

static int v_truncate(sqlite3_file *p, sqlite3_int64 size)
{
    vfile *f = (vfile *)p;
    if (cut_now()) return SQLITE_IOERR_TRUNCATE;
    if (size < f->size) {
        f->size = size;
        f->truncated = 1;
        if (f->dirty_hi > size) f->dirty_hi = size;
    }
    return SQLITE_OK;
}

/* The only way data reaches the (simulated) disk: the unsynced range and the size. */
static int v_sync(sqlite3_file *p, int flags)
{
    vfile *f = (vfile *)p;
    if (cut_now()) return SQLITE_IOERR_FSYNC;
    const sqlite3_io_methods *m = f->real->pMethods;
    int rc = SQLITE_OK;
    if (f->dirty_lo < f->dirty_hi)
        rc = m->xWrite(f->real, f->data + f->dirty_lo, (int)(f->dirty_hi - f->dirty_lo),
                       f->dirty_lo);
    if (rc == SQLITE_OK && f->truncated) rc = m->xTruncate(f->real, f->size);
    /* no real fsync: the simulated disk is what reached the real file, and the test must not
     * wait for the machine's disk */
    (void)flags;
    if (rc == SQLITE_OK) {
        f->dirty_lo = INT64_MAX;
        f->dirty_hi = -1;
        f->truncated = 0;
    }
    return rc;
}

static int v_file_size(sqlite3_file *p, sqlite3_int64 *size)
{
    *size = ((vfile *)p)->size;
    return power_off ? SQLITE_IOERR_FSTAT : SQLITE_OK;
}

/* Locks and shared memory are the real file's: they do not persist across a reboot anyway
 * (SQLite rebuilds the WAL index from the WAL when it is the first to open it). */
static int v_lock(sqlite3_file *p, int l)
{
    return ((vfile *)p)->real->pMethods->xLock(((vfile *)p)->real, l);
}
static int v_unlock(sqlite3_file *p, int l)
{
    return ((vfile *)p)->real->pMethods->xUnlock(((vfile *)p)->real, l);
}
static int v_check_lock(sqlite3_file *p, int *out)
{
    return ((vfile *)p)->real->pMethods->xCheckReservedLock(((vfile *)p)->real, out);
}
static int v_file_control(sqlite3_file *p, int op, void *arg)
{
    /* size hints and chunking would write behind our back: refuse them */
    if (op == SQLITE_FCNTL_SIZE_HINT || op == SQLITE_FCNTL_CHUNK_SIZE ||
        op == SQLITE_FCNTL_MMAP_SIZE)
        return SQLITE_NOTFOUND;
    return ((vfile *)p)->real->pMethods->xFileControl(((vfile *)p)->real, op, arg);
}
static int v_sector_size(sqlite3_file *p)
{
    return ((vfile *)p)->real->pMethods->xSectorSize(((vfile *)p)->real);
}
static int v_device(sqlite3_file *p)
{
    return ((vfile *)p)->real->pMethods->xDeviceCharacteristics(((vfile *)p)->real);
}
static int v_shm_map(sqlite3_file *p, int pg, int pgsz, int extend, void volatile **pp)
{
    return ((vfile *)p)->real->pMethods->xShmMap(((vfile *)p)->real, pg, pgsz, extend, pp);
}
static int v_shm_lock(sqlite3_file *p, int offset, int n, int flags)
{
    return ((vfile *)p)->real->pMethods->xShmLock(((vfile *)p)->real, offset, n, flags);
}
static void v_shm_barrier(sqlite3_file *p)
{
    ((vfile *)p)->real->pMethods->xShmBarrier(((vfile *)p)->real);
}
static int v_shm_unmap(sqlite3_file *p, int del)
{
    return ((vfile *)p)->real->pMethods->xShmUnmap(((vfile *)p)->real, del);
}

/* Version 2: shared memory for WAL, but no xFetch, so SQLite never memory-maps a file. */
static const sqlite3_io_methods vfile_methods = {
    2, v_close, v_read, v_write, v_truncate, v_sync, v_file_size, v_lock, v_unlock,
    v_check_lock, v_file_control, v_sector_size, v_device, v_shm_map, v_shm_lock,
    v_shm_barrier, v_shm_unmap, NULL, NULL,
};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out_flags)
{
    (void)vfs;
    vfile *f = (vfile *)p;
    memset(f, 0, sizeof *f);
    if (power_off) return SQLITE_IOERR;
    f->real = calloc(1, (size_t)real_vfs->szOsFile);
    if (!f->real) return SQLITE_NOMEM;
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        free(f->real);
        return rc;
    }
    sqlite3_int64 size = 0;
    rc = f->real->pMethods->xFileSize(f->real, &size);
    if (rc == SQLITE_OK && grow(f, size + 1)) rc = SQLITE_NOMEM;
    if (rc == SQLITE_OK && size > 0) rc = f->real->pMethods->xRead(f->real, f->data, (int)size, 0);
    if (rc != SQLITE_OK) {
        f->real->pMethods->xClose(f->real);
        free(f->real);
        free(f->data);
        return rc;
    }
    f->size = size;
    f->dirty_lo = INT64_MAX;
    f->dirty_hi = -1;
    f->base.pMethods = &vfile_methods;
    f->next = open_files;
    open_files = f;
    return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    if (cut_now()) return SQLITE_IOERR_DELETE;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}
static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}
static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}
static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}
static int v_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}
static int v_current_time(sqlite3_vfs *vfs, double *t)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, t);
}
static int v_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int install_vfs(void)
{
    if (real_vfs) return 1;
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs) return 0;
    cut_vfs = (sqlite3_vfs){1, (int)sizeof(vfile), real_vfs->mxPathname, NULL, "powercut",
                            NULL, v_open, v_delete, v_access, v_full_pathname, NULL, NULL, NULL,
                            NULL, v_randomness, v_sleep, v_current_time, v_last_error,
                            NULL, NULL, NULL, NULL};
    return sqlite3_vfs_register(&cut_vfs, 1) == SQLITE_OK;
}

/* Power back on after a cut ("reboot"): new files read what reached the disk. */
static void power_on(void)
{
    power_off = 0;
    ops_left = -1;
}

/* ---- the tests ---- */

static char tmpdir[256];
static const char *tmp_file(char *buf, size_t n, const char *name)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/facet-powercut-XXXXXX");
        if (!mkdtemp(tmpdir)) tmpdir[0] = 0;
    }
    snprintf(buf, n, "%s/%s", tmpdir, name);
    return buf;
}

static void remove_db(const char *path)
{
    char p[600];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-journal", path);
    unlink(p);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Enrolment i's faceprint: a fixed pseudo-random unit vector. */
static void vector_of(int i, float *v)
{
    uint64_t s = 0x2545f4914f6cdd1dull * (uint64_t)(i + 1);
    double n = 0;
    for (int d = 0; d < DIM; d++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        v[d] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
        n += (double)v[d] * v[d];
    }
    for (int d = 0; d < DIM; d++) v[d] = (float)(v[d] / sqrt(n));
}

#define BURST 400

typedef struct burst {
    char uuid[BURST][FACET_UUID_SIZE];
    int acked;      /* enrolments 0 .. acked-1 returned FACET_OK */
    int attempted;  /* enrolment `acked` was in flight at the cut when attempted > acked */
} burst;

/* Opens the store, enrols up to BURST faceprints until one fails (the cut), closes it. */
static void run_burst(const char *url, burst *b)
{
    b->acked = b->attempted = 0;
    facet_gallery *g = NULL;
    if (facet_gallery_open(url, NULL, &g)) {
        CHECK_MSG(0, "open before the cut: %s", facet_last_error());
        return;
    }
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = MODEL;
    cs.dim = DIM;
    int rc = facet_collection_create(g, "people", &cs);
    float v[DIM];
    char identity[32];
    for (int i = 0; !rc && i < BURST; i++) {
        vector_of(i, v);
        snprintf(identity, sizeof identity, "person-%d", i % 37);
        b->attempted = i + 1;
        rc = facet_gallery_enroll(g, "people", MODEL, v, DIM, identity, NULL, 0, b->uuid[i]);
        if (!rc) b->acked = i + 1;
        else CHECK_MSG(power_off, "enrolment %d failed with the power on: %s", i,
                       facet_last_error());
    }
    facet_gallery_destroy(g); /* after a cut: the close's own writes do not land either */
}

/* After the reboot: every acknowledged enrolment, exactly; at most the one in flight besides. */
static void check_after_reboot(const char *url, const burst *b, int cut)
{
    facet_gallery *g = NULL;
    if (facet_gallery_open(url, NULL, &g)) {
        CHECK_MSG(0, "cut %d: reopen: %s", cut, facet_last_error());
        return;
    }
    facet_load_stats st;
    memset(&st, 0, sizeof st);
    int rc = facet_collection_load(g, "people", &st);
    if (b->acked == 0 && rc == FACET_E_NOT_FOUND) { /* the cut came before the create */
        facet_gallery_destroy(g);
        return;
    }
    CHECK_MSG(rc == 0, "cut %d: load: %s", cut, facet_last_error());
    CHECK_MSG(st.bad_length + st.bad_model + st.bad_value + st.bad_other == 0,
              "cut %d: corrupt rows after the reboot", cut);
    size_t count = 0;
    facet_gallery_count(g, "people", &count);
    CHECK_MSG((int)count == b->acked || ((int)count == b->acked + 1 && b->attempted > b->acked),
              "cut %d: %zu enrolments after the reboot, %d acknowledged", cut, count, b->acked);
    float v[DIM], got[DIM];
    char identity[FACET_IDENTITY_MAX + 1], want_id[32];
    int lost = 0, wrong = 0;
    for (int i = 0; i < b->acked; i++) {
        vector_of(i, v);
        snprintf(want_id, sizeof want_id, "person-%d", i % 37);
        if (facet_gallery_face(g, "people", b->uuid[i], got, DIM, identity)) {
            lost++;
            continue;
        }
        wrong += memcmp(v, got, sizeof v) != 0 || strcmp(identity, want_id) != 0;
    }
    CHECK_MSG(lost == 0 && wrong == 0, "cut %d: %d acknowledged enrolments lost, %d changed",
              cut, lost, wrong);
    facet_gallery_destroy(g);
}

/* The store through a power cut after a random number of persisting operations, 12 times. */
static void t_sqlite_power_cut(void)
{
    if (!install_vfs()) SKIP("cannot register the VFS");
    char path[512], url[600];
    tmp_file(path, sizeof path, "cut.db");
    snprintf(url, sizeof url, "sqlite:%s", path);
    static burst b;

    /* one full burst with the power on: how many operations there are to cut between */
    remove_db(path);
    power_on();
    ops_done = 0;
    run_burst(url, &b);
    long total = ops_done;
    CHECK_EQ(b.acked, BURST);
    check_after_reboot(url, &b, 0);
    printf("# a burst of %d enrolments made %ld writes, syncs and truncations\n", BURST, total);

    int mid = 0;
    for (int cut = 1; cut <= 12 && total > 1; cut++) {
        remove_db(path);
        power_on();
        ops_left = 1 + (long)(next_rand() % (uint64_t)total);
        long at = ops_left;
        run_burst(url, &b);
        CHECK_MSG(power_off, "cut %d at operation %ld never happened", cut, at);
        mid += b.acked > 0 && b.acked < BURST;
        power_on();
        check_after_reboot(url, &b, cut);
        printf("# cut %d at operation %ld of %ld: %d enrolments acknowledged\n", cut, at, total,
               b.acked);
    }
    CHECK_MSG(mid >= 6, "only %d cuts fell inside the burst", mid);
    remove_db(path);
}

/* The control: the same shim loses commits made with synchronous=OFF, so the test above would
 * see a store that does not sync. */
static void t_shim_loses_unsynced_commits(void)
{
    if (!install_vfs()) SKIP("cannot register the VFS");
    char path[512];
    tmp_file(path, sizeof path, "nosync.db");
    remove_db(path);
    power_on();
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                              "CREATE TABLE t(x INTEGER); INSERT INTO t VALUES(0);",
                          NULL, NULL, NULL),
             SQLITE_OK);
    CHECK_EQ(sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL), SQLITE_OK);
    int acked = 0;
    for (int i = 1; i <= 50; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "INSERT INTO t VALUES(%d)", i);
        acked += sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    }
    CHECK_EQ(acked, 50);
    ops_left = 1; /* the next write cuts the power */
    sqlite3_close(db);
    CHECK(power_off);
    power_on();
    sqlite3_stmt *st = NULL;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    int rows = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        rows = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    CHECK_MSG(rows == 1, "%d rows survived; only the synced first one should", rows);
    remove_db(path);
}

static void t_teardown(void)
{
    if (tmpdir[0]) rmdir(tmpdir);
    if (real_vfs) sqlite3_vfs_unregister(&cut_vfs);
}

TESTS(TEST(t_shim_loses_unsynced_commits), TEST(t_sqlite_power_cut), TEST(t_teardown))
