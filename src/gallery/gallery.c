/*
 * gallery.c - the public gallery API: a store connection plus the collections loaded from it.
 *
 * A loaded collection is a faceprint matrix (see kernels.h) with per-row UUID (16 bytes) and
 * identity number, an identity table with counts, and two open-addressing hash tables
 * (identity -> number, UUID -> row). Removal moves the last row into the hole, so rows stay
 * contiguous and a search is one linear pass.
 *
 * Locks, always taken in this order: the sync mutex (one catch-up at a time), the gallery's
 * rwlock (the list of loaded collections; written only to link or unlink one), a collection's
 * writer mutex (one enrol/remove/apply at a time: the hash tables and spare capacity are the
 * writer's alone), the collection's rwlock, then the store mutex (the store connection is used
 * by one thread at a time). A collection's rwlock is write-locked only for pointer swaps and
 * short appends or moves of rows: growing the arrays (a copy of the whole matrix) and the
 * durable write happen under the writer mutex alone, while searches go on.
 * Enrolment reserves memory first, then writes the store (durable), then fills the reserved
 * row, so nothing can fail between the durable write and the in-memory update.
 *
 * Following other processes (settings->follow, facet_gallery_sync): every store write appends
 * to the store's change log (store.h), whose sequence numbers commit in order. A catch-up reads
 * the entries after the last one applied (g->seq) and applies each to the loaded collections:
 * 'E' adds the row unless its UUID is there already (this process's own enrolments, or one
 * applied before), 'D' removes it if present, 'X' unloads the dropped collection, 'S' reads the
 * collection's declared identities again (a failed read stops the catch-up there). Applying is
 * idempotent and goes in sequence order, so replaying an entry twice, or one read before a
 * later removal, converges to the store's state at the next catch-up. A collection loaded
 * while the follower runs may miss entries applied in between: its load notes the log's end
 * before scanning and rewinds g->seq to it. A process that fell behind the log's pruning
 * (or a log that was reset) reloads its loaded collections instead.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <pthreadpool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "face/match.h"
#include "facet/face.h"
#include "facet/gallery.h"
#include "gallery_priv.h"
#include "kernels.h"
#include "store/store.h"

typedef struct coll {
    facet_collection_info info;
    uint32_t model_hash;
    pthread_mutex_t write_mu;
    pthread_rwlock_t lock;
    facet_dot_fn dot;
    int dpad;
    size_t stride;
    uint8_t *mat;        /* cap rows of `stride` bytes, 64-byte aligned */
    uint8_t (*uuid)[16]; /* per row */
    uint32_t *ident;     /* per row: identity number */
    size_t n, cap;
    char **id_str;       /* identity number -> string */
    size_t *id_cnt;      /* identity number -> rows (0: unused now, number kept) */
    size_t nid, id_cap;
    uint32_t *id_tab;    /* identity hash table: number + 1, 0 = empty */
    size_t id_tab_cap;
    uint32_t *row_tab;   /* UUID hash table: row + 1, 0 = empty */
    size_t row_tab_cap;
    char **decl;         /* declared identities (facet_gallery_add_identity), sorted by strcmp;
                            changed under the writer mutex and the write lock */
    size_t ndecl;
    struct coll *next;
} coll;

struct facet_gallery {
    facet_store *store;
    pthread_mutex_t store_mu;
    pthread_rwlock_t lock;
    coll *colls;
    pthreadpool_t pool;
    int threads;
    _Atomic float match_a, match_b;
    pthread_mutex_t err_mu;
    facet_err err;
    /* following other processes */
    pthread_mutex_t sync_mu;
    int64_t seq;        /* the last change log entry applied (under sync_mu) */
    int follow_ms, keep_s;
    pthread_t follower;
    int following;      /* the follower thread runs */
    int wake[2];        /* pipe: a byte wakes the follower (stop, or a new load) */
    atomic_int stop;
    _Atomic int64_t seq_seen;
    _Atomic uint64_t applied, reloads, failures;
    atomic_int store_ok;
};

static void *follow_main(void *arg);
static void link_coll_at(facet_gallery *g, coll *c, int64_t mark);

/* Records a failure in this thread's slot and on the handle. */
static int gfail(facet_gallery *g, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int gfail(facet_gallery *g, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    facet_vseterr(NULL, status, fmt, ap);
    va_end(ap);
    if (g) {
        pthread_mutex_lock(&g->err_mu);
        snprintf(g->err.msg, sizeof g->err.msg, "%s", facet_thread_errmsg());
        pthread_mutex_unlock(&g->err_mu);
    }
    return status;
}

/* Passes on a store failure (its message is on the store handle). */
static int sfail(facet_gallery *g, int status)
{
    return gfail(g, status, "%s", g->store->err.msg);
}

/* ---- small helpers ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_uuid(const uint8_t *u)
{
    uint64_t h;
    memcpy(&h, u, 8); /* random bits already */
    return h;
}

static int parse_uuid(const char *s, uint8_t out[16])
{
    if (!facet_uuid_valid(s)) return -1;
    int j = 0;
    for (int i = 0; i < 36 && j < 16; i++) {
        if (s[i] == '-') continue;
        int hi = s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10;
        int lo = s[i + 1] <= '9' ? s[i + 1] - '0' : s[i + 1] - 'a' + 10;
        out[j++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return 0;
}

static void format_uuid(const uint8_t *u, char *out)
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        *o++ = hex[u[i] >> 4];
        *o++ = hex[u[i] & 15];
    }
    *o = 0;
}

/* Names appear in URLs (facetd routes) and paths, so "." and ".." are refused. */
static int valid_name(const char *s)
{
    if (!strcmp(s, ".") || !strcmp(s, "..")) return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return n >= 1 && n <= FACET_NAME_MAX;
}

/* The identity rule, the same for every store (the gallery checks before any store sees the
 * string): 1..FACET_IDENTITY_MAX bytes of well-formed UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF), without control characters (C0, DEL, C1), line or paragraph
 * separators (U+2028, U+2029) or bidirectional overrides and isolates (U+202A..U+202E,
 * U+2066..U+2069), which would let a name rewrite or reorder the terminal or page showing it.
 * SQLite would store any bytes and PostgreSQL refuses invalid UTF-8, so without this rule the
 * same call behaved differently per store. Returns 0, or nonzero with the cause in `why`. */
static int identity_problem(const char *s, char *why, size_t cap)
{
    size_t n = strnlen(s, FACET_IDENTITY_MAX + 1);
    if (n < 1 || n > FACET_IDENTITY_MAX) {
        snprintf(why, cap, "must be 1..%d bytes", FACET_IDENTITY_MAX);
        return 1;
    }
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        int len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
        for (int k = 1; k < len; k++) {
            if (i + (size_t)k >= n || (u[i + k] & 0xc0) != 0x80) {
                len = 0;
                break;
            }
            cp = cp << 6 | (u[i + k] & 0x3f);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (!len || cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            snprintf(why, cap, "is not valid UTF-8 at byte %zu (0x%02x)", i, c);
            return 1;
        }
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
            (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) {
            snprintf(why, cap, "has the control character U+%04X at byte %zu", (unsigned)cp, i);
            return 1;
        }
        i += (size_t)len;
    }
    return 0;
}

static int valid_identity(const char *s)
{
    char why[80];
    return identity_problem(s, why, sizeof why) == 0;
}

/* ---- collection internals ---- */

static void coll_free(coll *c)
{
    if (!c) return;
    pthread_rwlock_destroy(&c->lock);
    pthread_mutex_destroy(&c->write_mu);
    facet_free_aligned(c->mat);
    free(c->uuid);
    free(c->ident);
    for (size_t i = 0; i < c->nid; i++) free(c->id_str[i]);
    free(c->id_str);
    free(c->id_cnt);
    free(c->id_tab);
    free(c->row_tab);
    for (size_t i = 0; i < c->ndecl; i++) free(c->decl[i]);
    free(c->decl);
    free(c);
}

static coll *coll_new(const facet_collection_info *info)
{
    coll *c = facet_calloc(1, sizeof *c);
    if (!c) return NULL;
    /* Writers first: with glibc's default (readers first) a steady stream of searches keeps
     * an enrolment waiting for ever. A writer holds the lock only for a swap or a row. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
#ifdef __GLIBC__
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    int rc = pthread_rwlock_init(&c->lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    if (rc != 0) {
        free(c);
        return NULL;
    }
    if (pthread_mutex_init(&c->write_mu, NULL) != 0) {
        pthread_rwlock_destroy(&c->lock);
        free(c);
        return NULL;
    }
    c->info = *info;
    c->model_hash = facet_model_hash(info->model_id);
    c->dpad = facet_dpad(info->dim);
    c->stride = facet_row_stride(info->dim, info->dtype);
    c->dot = facet_dot_select(info->dtype, facet_cpu_flags(), NULL);
    return c;
}

static int64_t row_find(const coll *c, const uint8_t *u)
{
    if (!c->row_tab_cap) return -1;
    size_t m = c->row_tab_cap - 1;
    for (size_t i = hash_uuid(u) & m;; i = (i + 1) & m) {
        uint32_t v = c->row_tab[i];
        if (!v) return -1;
        if (memcmp(c->uuid[v - 1], u, 16) == 0) return (int64_t)i;
    }
}

static void row_tab_put(coll *c, uint32_t row)
{
    size_t m = c->row_tab_cap - 1;
    size_t i = hash_uuid(c->uuid[row]) & m;
    while (c->row_tab[i]) i = (i + 1) & m;
    c->row_tab[i] = row + 1;
}

/* Deletes slot i with backward shifting (linear probing without tombstones). */
static void row_tab_del(coll *c, size_t i)
{
    size_t m = c->row_tab_cap - 1;
    size_t j = i;
    c->row_tab[i] = 0;
    for (;;) {
        j = (j + 1) & m;
        uint32_t v = c->row_tab[j];
        if (!v) return;
        size_t home = hash_uuid(c->uuid[v - 1]) & m;
        /* move v back to i if its home is not in (i, j] cyclically */
        int in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            c->row_tab[i] = v;
            c->row_tab[j] = 0;
            i = j;
        }
    }
}

static int64_t id_find(const coll *c, const char *identity)
{
    if (!c->id_tab_cap) return -1;
    size_t m = c->id_tab_cap - 1;
    for (size_t i = hash_str(identity) & m;; i = (i + 1) & m) {
        uint32_t v = c->id_tab[i];
        if (!v) return -1;
        if (strcmp(c->id_str[v - 1], identity) == 0) return (int64_t)(v - 1);
    }
}

static int rehash(uint32_t **tab, size_t *cap, size_t want, coll *c, int rows)
{
    size_t nc = 16;
    while (nc < want * 2) nc *= 2;
    if (nc <= *cap) return 0;
    uint32_t *t = facet_calloc(nc, sizeof *t);
    if (!t) return -1;
    uint32_t *old = *tab;
    size_t oc = *cap;
    *tab = t;
    *cap = nc;
    for (size_t i = 0; i < oc; i++) {
        uint32_t v = old[i];
        if (!v) continue;
        uint64_t h = rows ? hash_uuid(c->uuid[v - 1]) : hash_str(c->id_str[v - 1]);
        size_t j = h & (nc - 1);
        while (t[j]) j = (j + 1) & (nc - 1);
        t[j] = v;
    }
    free(old);
    return 0;
}

/* New arrays for a collection that must grow, filled while readers go on with the old ones. */
typedef struct coll_grow {
    uint8_t *mat;
    uint8_t (*uuid)[16];
    uint32_t *ident;
    size_t cap;
    char **id_str;
    size_t *id_cnt;
    size_t id_cap;
} coll_grow;

static void grow_free(coll_grow *w)
{
    facet_free_aligned(w->mat);
    free(w->uuid);
    free(w->ident);
    free(w->id_str);
    free(w->id_cnt);
    memset(w, 0, sizeof *w);
}

/* Room for `more` rows and identities: copies of the arrays readers use, when they must grow
 * (rows 0..n-1 are only read, by us and by searches alike); the hash tables, which only the
 * writer uses, grow in place. Called by the writer (write_mu held, or a private collection);
 * changes nothing a reader sees. */
static int grow_prepare(coll *c, size_t more, coll_grow *w)
{
    memset(w, 0, sizeof *w);
    size_t need = c->n + more;
    if (need > UINT32_MAX - 1) return FACET_E_LIMIT;
    if (need > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap < need) cap *= 2;
        size_t bytes;
        if (facet_mul_overflow(cap, c->stride, &bytes)) return FACET_E_NO_MEMORY;
        w->mat = facet_alloc(bytes);
        w->uuid = facet_malloc(cap * sizeof *w->uuid);
        w->ident = facet_malloc(cap * sizeof *w->ident);
        if (!w->mat || !w->uuid || !w->ident) goto oom;
        if (c->n) {
            memcpy(w->mat, c->mat, c->n * c->stride);
            memcpy(w->uuid, c->uuid, c->n * sizeof *w->uuid);
            memcpy(w->ident, c->ident, c->n * sizeof *w->ident);
        }
        w->cap = cap;
    }
    if (rehash(&c->row_tab, &c->row_tab_cap, need, c, 1)) goto oom;
    if (c->nid + more > c->id_cap) {
        size_t cap = c->id_cap ? c->id_cap : 64;
        while (cap < c->nid + more) cap *= 2;
        w->id_str = facet_malloc(cap * sizeof *w->id_str);
        w->id_cnt = facet_malloc(cap * sizeof *w->id_cnt);
        if (!w->id_str || !w->id_cnt) goto oom;
        if (c->nid) {
            memcpy(w->id_str, c->id_str, c->nid * sizeof *w->id_str);
            memcpy(w->id_cnt, c->id_cnt, c->nid * sizeof *w->id_cnt);
        }
        w->id_cap = cap;
    }
    if (rehash(&c->id_tab, &c->id_tab_cap, c->nid + more, c, 0)) goto oom;
    return FACET_OK;
oom:
    grow_free(w);
    return FACET_E_NO_MEMORY;
}

/* Puts the grown arrays in place: the pointer swap, under the write lock when readers may be
 * about; `w` gets the old arrays, to free once the lock is released. */
static void grow_swap(coll *c, coll_grow *w)
{
    if (w->mat) {
        uint8_t *m = c->mat;
        uint8_t(*u)[16] = c->uuid;
        uint32_t *id = c->ident;
        size_t cap = c->cap;
        c->mat = w->mat;
        c->uuid = w->uuid;
        c->ident = w->ident;
        c->cap = w->cap;
        w->mat = m;
        w->uuid = u;
        w->ident = id;
        w->cap = cap;
    }
    if (w->id_str) {
        char **s = c->id_str;
        size_t *k = c->id_cnt;
        size_t cap = c->id_cap;
        c->id_str = w->id_str;
        c->id_cnt = w->id_cnt;
        c->id_cap = w->id_cap;
        w->id_str = s;
        w->id_cnt = k;
        w->id_cap = cap;
    }
}

/* Makes room for `more` rows and identities. `locked`: readers may be about (the writer
 * mutex is held), so the swap takes the write lock. */
static int coll_reserve(coll *c, size_t more, int locked)
{
    coll_grow w;
    int st = grow_prepare(c, more, &w);
    if (st) return st;
    if (locked) pthread_rwlock_wrlock(&c->lock);
    grow_swap(c, &w);
    if (locked) pthread_rwlock_unlock(&c->lock);
    grow_free(&w);
    return FACET_OK;
}

/* Identity number for `identity`, adding it (room reserved by coll_reserve); the string is
 * copied, so this may fail only on that allocation: call it before the durable write. */
static int64_t coll_identity(coll *c, const char *identity)
{
    int64_t i = id_find(c, identity);
    if (i >= 0) return i;
    char *s = facet_strdup(identity);
    if (!s) return -1;
    c->id_str[c->nid] = s;
    c->id_cnt[c->nid] = 0;
    size_t m = c->id_tab_cap - 1, j = hash_str(s) & m;
    while (c->id_tab[j]) j = (j + 1) & m;
    c->id_tab[j] = (uint32_t)(c->nid + 1);
    return (int64_t)c->nid++;
}

/* Checks a vector (finite, norm near 1) and writes it as row `row`. */
static int coll_set_row(coll *c, size_t row, const float *v)
{
    if (facet_vec_unit_check(v, (size_t)c->info.dim, NULL, NULL)) return FACET_E_INVALID_ARG;
    uint8_t *dst = c->mat + row * c->stride;
    memset(dst, 0, c->stride);
    if (c->info.dtype == FACET_DTYPE_F16) {
        uint16_t *h = (uint16_t *)dst;
        for (int d = 0; d < c->info.dim; d++) h[d] = facet_f32_to_f16(v[d]);
    } else {
        memcpy(dst, v, (size_t)c->info.dim * 4);
    }
    return FACET_OK;
}

static void coll_commit_row(coll *c, const uint8_t *u, uint32_t ident)
{
    size_t row = c->n++;
    memcpy(c->uuid[row], u, 16);
    c->ident[row] = ident;
    c->id_cnt[ident]++;
    row_tab_put(c, (uint32_t)row);
}

/* Removes the row in UUID-table slot `slot`, moving the last row into its place. */
static void coll_remove_slot(coll *c, size_t slot)
{
    uint32_t row = c->row_tab[slot] - 1;
    c->id_cnt[c->ident[row]]--;
    row_tab_del(c, slot);
    size_t last = c->n - 1;
    if (row != last) {
        int64_t ls = row_find(c, c->uuid[last]);
        memcpy(c->mat + row * c->stride, c->mat + last * c->stride, c->stride);
        memcpy(c->uuid[row], c->uuid[last], 16);
        c->ident[row] = c->ident[last];
        if (ls >= 0) c->row_tab[ls] = row + 1;
    }
    c->n--;
}

/* ---- gallery handle ---- */

void facet_gallery_defaults(facet_gallery_settings *s)
{
    if (!s) return;
    memset(s, 0, sizeof *s);
    s->threads = 0;
    facet_match_model(&s->match_a, &s->match_b); /* the same mapping as facet_compare */
    s->follow = 0;
    s->follow_interval_ms = 500;
    s->change_keep_s = 86400;
}

void facet_collection_defaults(facet_collection_settings *s)
{
    if (!s) return;
    memset(s, 0, sizeof *s);
    s->dtype = FACET_DTYPE_F32;
}

facet_status facet_gallery_open(const char *url, const facet_gallery_settings *settings,
                                facet_gallery **out)
{
    if (!out) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (!url) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "url is NULL");
    facet_status erc = facet_env_check(NULL); /* FACET_CPU_MASK picks the search kernels */
    if (erc) return erc;
    facet_gallery_settings s;
    facet_gallery_defaults(&s);
    if (settings) s = *settings;
    if (s.threads < 0 || s.threads > 1024)
        return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG,
                                          "settings->threads %d is out of range 0..1024",
                                          s.threads);
    if (s.follow_interval_ms < 10 || s.follow_interval_ms > 60000)
        return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG,
                                          "settings->follow_interval_ms %d is out of range "
                                          "10..60000", s.follow_interval_ms);
    if (s.change_keep_s < 0)
        return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG,
                                          "settings->change_keep_s %d is negative",
                                          s.change_keep_s);
    facet_gallery *g = facet_calloc(1, sizeof *g);
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory");
    g->wake[0] = g->wake[1] = -1;
    g->follow_ms = s.follow_interval_ms;
    g->keep_s = s.change_keep_s;
    atomic_store(&g->store_ok, 1);
    pthread_mutex_init(&g->sync_mu, NULL);
    pthread_mutex_init(&g->store_mu, NULL);
    pthread_mutex_init(&g->err_mu, NULL);
    pthread_rwlock_init(&g->lock, NULL);
    atomic_store(&g->match_a, s.match_a);
    atomic_store(&g->match_b, s.match_b);
    g->threads = facet_threads_resolve(s.threads);
    int st = FACET_OK;
    if (g->threads > 1) {
        g->pool = pthreadpool_create((size_t)g->threads);
        if (!g->pool) {
            st = facet_seterr(NULL, FACET_E_NO_MEMORY, "cannot create %d threads", g->threads);
            goto fail;
        }
    }
    facet_err e = {{0}};
    st = facet_store_open_flags(url, s.must_exist ? FACET_STORE_MUST_EXIST : 0, &g->store,
                                &e);
    if (st) goto fail;
    if (g->store->ops->seq_range) {
        /* collections loaded from now on hold every change up to here */
        int64_t lo;
        if ((st = g->store->ops->seq_range(g->store, &lo, &g->seq))) {
            facet_seterr(NULL, st, "%s", g->store->err.msg);
            goto fail;
        }
        atomic_store(&g->seq_seen, g->seq);
    }
    if (s.follow && g->store->ops->changes) {
        if (pipe(g->wake) != 0) {
            st = facet_seterr(NULL, FACET_E_IO, "cannot create the follower's pipe");
            goto fail;
        }
        for (int i = 0; i < 2; i++) fcntl(g->wake[i], F_SETFL, O_NONBLOCK);
        if (pthread_create(&g->follower, NULL, follow_main, g) != 0) {
            st = facet_seterr(NULL, FACET_E_NO_MEMORY, "cannot start the follower thread");
            goto fail;
        }
        g->following = 1;
    }
    *out = g;
    return FACET_OK;
fail:
    facet_gallery_destroy(g);
    return (facet_status)st;
}

void facet_gallery_destroy(facet_gallery *g)
{
    if (!g) return;
    if (g->following) {
        atomic_store(&g->stop, 1);
        char b = 1;
        if (write(g->wake[1], &b, 1) < 0) { /* full pipe: the thread is awake anyway */ }
        pthread_join(g->follower, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (g->wake[i] >= 0) close(g->wake[i]);
    coll *c = g->colls;
    while (c) {
        coll *n = c->next;
        coll_free(c);
        c = n;
    }
    facet_store_close(g->store);
    if (g->pool) pthreadpool_destroy(g->pool);
    pthread_rwlock_destroy(&g->lock);
    pthread_mutex_destroy(&g->store_mu);
    pthread_mutex_destroy(&g->sync_mu);
    pthread_mutex_destroy(&g->err_mu);
    free(g);
}

const char *facet_gallery_errmsg(const facet_gallery *g)
{
    if (!g) return "gallery is NULL";
    /* the lock guards the message's writers; it is not part of the handle's logical state */
    return facet_err_read((pthread_mutex_t *)&g->err_mu, &g->err);
}

facet_status facet_gallery_set_match_model(facet_gallery *g, float a, float b)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!isfinite(a) || !isfinite(b))
        return (facet_status)gfail(g, FACET_E_INVALID_ARG, "a and b must be finite");
    atomic_store(&g->match_a, a);
    atomic_store(&g->match_b, b);
    return FACET_OK;
}

float facet_gallery_match_probability(const facet_gallery *g, float s)
{
    facet_gallery *m = (facet_gallery *)g; /* atomics need a non-const object */
    float a = atomic_load(&m->match_a), b = atomic_load(&m->match_b);
    return facet_match_logistic(a, b, s);
}

static coll *find_loaded(facet_gallery *g, const char *name)
{
    for (coll *c = g->colls; c; c = c->next)
        if (strcmp(c->info.name, name) == 0) return c;
    return NULL;
}

/* Takes the gallery read lock and finds a loaded collection; on failure nothing is held. */
static int acquire(facet_gallery *g, const char *name, coll **out)
{
    if (!name) return gfail(g, FACET_E_INVALID_ARG, "collection is NULL");
    pthread_rwlock_rdlock(&g->lock);
    coll *c = find_loaded(g, name);
    if (!c) {
        pthread_rwlock_unlock(&g->lock);
        return gfail(g, FACET_E_NOT_FOUND, "collection '%.*s' is not loaded", FACET_NAME_MAX,
                     name);
    }
    *out = c;
    return FACET_OK;
}

/* For a change to one identity: checks the name, then acquires the collection and takes its
 * writer mutex; on failure nothing is held. */
static int acquire_for_identity(facet_gallery *g, const char *collection, const char *identity,
                                coll **out)
{
    char why[80];
    if (!identity) return gfail(g, FACET_E_INVALID_ARG, "identity is NULL");
    if (identity_problem(identity, why, sizeof why))
        return gfail(g, FACET_E_INVALID_ARG, "identity %s", why);
    int st = acquire(g, collection, out);
    if (!st) pthread_mutex_lock(&(*out)->write_mu);
    return st;
}

static int check_model(facet_gallery *g, const coll *c, const char *model_id, int dim)
{
    if (!model_id) return gfail(g, FACET_E_INVALID_ARG, "model_id is NULL");
    if (strcmp(model_id, c->info.model_id) != 0 || dim != c->info.dim)
        return gfail(g, FACET_E_MODEL,
                     "collection '%s' holds faceprints of model '%s' (dim %d), not '%.*s' "
                     "(dim %d): faceprints of different models or preprocessing never mix; "
                     "re-enrol it from its stored chips with `facet collection migrate`",
                     c->info.name, c->info.model_id, c->info.dim, FACET_NAME_MAX, model_id, dim);
    return FACET_OK;
}

/* ---- declared identities ----
 * A collection's declared identities are a small sorted array of names, read from the store at
 * load and after each 'S' log entry, and edited by this process's own calls. An edit builds
 * the new array (moving the kept names' pointers into it) before the durable write, so that
 * nothing can fail after it; the commit swaps it in under the write lock. */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static long decl_find(const coll *c, const char *identity)
{
    const char *key = identity;
    char **p = c->ndecl ? bsearch(&key, c->decl, c->ndecl, sizeof *c->decl, str_cmp) : NULL;
    return p ? (long)(p - c->decl) : -1;
}

typedef struct decl_edit {
    char **v;      /* the new array */
    size_t n;
    char *added;   /* owned by the edit until committed */
    char *dropped; /* freed at commit */
} decl_edit;

/* Prepares c's declared set with `add` (NULL: nothing; already there: kept once) and without
 * `drop` (NULL: nothing). FACET_E_NO_MEMORY with nothing changed. Writer mutex held. */
static int decl_prepare(const coll *c, const char *add, const char *drop, decl_edit *e)
{
    memset(e, 0, sizeof *e);
    if (add && decl_find(c, add) < 0 && !(e->added = facet_strdup(add))) return FACET_E_NO_MEMORY;
    if (!(e->v = facet_malloc((c->ndecl + 1) * sizeof *e->v))) {
        free(e->added);
        e->added = NULL;
        return FACET_E_NO_MEMORY;
    }
    int placed = !e->added;
    for (size_t i = 0; i < c->ndecl; i++) {
        if (drop && !strcmp(c->decl[i], drop)) {
            e->dropped = c->decl[i];
            continue;
        }
        if (!placed && strcmp(e->added, c->decl[i]) < 0) {
            e->v[e->n++] = e->added;
            placed = 1;
        }
        e->v[e->n++] = c->decl[i];
    }
    if (!placed) e->v[e->n++] = e->added;
    return FACET_OK;
}

/* Swaps a prepared set in (writer mutex held); the edit is consumed. */
static void decl_commit(coll *c, decl_edit *e)
{
    pthread_rwlock_wrlock(&c->lock);
    char **old = c->decl;
    c->decl = e->v;
    c->ndecl = e->n;
    pthread_rwlock_unlock(&c->lock);
    free(old);
    free(e->dropped);
}

static void decl_abandon(decl_edit *e)
{
    free(e->v);
    free(e->added);
}

typedef struct decl_read {
    const char *coll;
    char **v;
    size_t n, cap;
    int status;
} decl_read;

static int decl_row(void *user, const char *identity)
{
    decl_read *x = user;
    if (!valid_identity(identity)) {
        facet_log(FACET_LOG_WARN, "collection '%s': skipped a declared identity that is not a "
                  "valid identity", x->coll);
        return 0;
    }
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 16;
        char **v = facet_realloc(x->v, cap * sizeof *v);
        if (!v) goto oom;
        x->v = v;
        x->cap = cap;
    }
    if (!(x->v[x->n] = facet_strdup(identity))) goto oom;
    x->n++;
    return 0;
oom:
    x->status = FACET_E_NO_MEMORY;
    return 1;
}

/* Reads collection `name`'s declared identities from the store, sorted (store mutex held):
 * FACET_OK with *v (NULL when none) and *n, or an error recorded on g. */
static int decl_load(facet_gallery *g, const char *name, char ***v, size_t *n)
{
    decl_read x = {name, NULL, 0, 0, 0};
    int st = g->store->ops->declared(g->store, name, decl_row, &x);
    if (st) sfail(g, st);
    else if (x.status)
        st = gfail(g, x.status, "no memory for the declared identities of '%s'", name);
    if (st) {
        for (size_t i = 0; i < x.n; i++) free(x.v[i]);
        free(x.v);
        return st;
    }
    if (x.n) qsort(x.v, x.n, sizeof *x.v, str_cmp);
    *v = x.v;
    *n = x.n;
    return FACET_OK;
}

/* ---- collections ---- */

typedef struct load_ctx {
    coll *c;
    facet_load_stats st;
    int status;
} load_ctx;

static int load_row(void *user, const facet_store_row *r)
{
    load_ctx *x = user;
    coll *c = x->c;
    uint8_t u[16];
    if (!r->uuid || parse_uuid(r->uuid, u) || !r->identity || !valid_identity(r->identity) ||
        row_find(c, u) >= 0) {
        x->st.bad_other++;
        facet_log(FACET_LOG_WARN, "collection '%s': skipped a row with a bad uuid or identity",
                  c->info.name);
        return 0;
    }
    int v = facet_vec_check(r->vector, r->vector_size, c->info.dim, c->model_hash);
    if (v) {
        if (v == FACET_E_MODEL) x->st.bad_model++;
        else x->st.bad_length++;
        facet_log(FACET_LOG_WARN, "collection '%s': skipped faceprint %s: %s", c->info.name,
                  r->uuid, v == FACET_E_MODEL ? "written for another model or dimension"
                                              : "vector of the wrong size or format");
        return 0;
    }
    int st = coll_reserve(c, 1, 0);
    if (st) {
        x->status = st;
        return 1;
    }
    /* values may be unaligned inside the row buffer of the store: copy through the row */
    const uint8_t *src = (const uint8_t *)r->vector + FACET_VEC_HEADER;
    float buf[256];
    const float *vec;
    float *tmp = NULL;
    if (c->info.dim <= 256) {
        memcpy(buf, src, (size_t)c->info.dim * 4);
        vec = buf;
    } else {
        tmp = facet_malloc((size_t)c->info.dim * 4);
        if (!tmp) {
            x->status = FACET_E_NO_MEMORY;
            return 1;
        }
        memcpy(tmp, src, (size_t)c->info.dim * 4);
        vec = tmp;
    }
    st = coll_set_row(c, c->n, vec);
    free(tmp);
    if (st) {
        x->st.bad_value++;
        facet_log(FACET_LOG_WARN, "collection '%s': skipped faceprint %s: NaN, infinity or "
                  "norm far from 1", c->info.name, r->uuid);
        return 0;
    }
    int64_t id = coll_identity(c, r->identity);
    if (id < 0) {
        x->status = FACET_E_NO_MEMORY;
        return 1;
    }
    coll_commit_row(c, u, (uint32_t)id);
    x->st.loaded++;
    return 0;
}

/* Links a built collection unless one of that name got loaded meanwhile. */
static void link_coll(facet_gallery *g, coll *c)
{
    pthread_rwlock_wrlock(&g->lock);
    if (find_loaded(g, c->info.name)) {
        coll_free(c);
    } else {
        c->next = g->colls;
        g->colls = c;
    }
    pthread_rwlock_unlock(&g->lock);
}

facet_status facet_collection_create(facet_gallery *g, const char *name,
                                     const facet_collection_settings *s)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!name || !valid_name(name))
        return (facet_status)gfail(g, FACET_E_INVALID_ARG,
                                   "name must be 1..%d characters of [A-Za-z0-9_.-], not \".\" or "
                                   "\"..\"",
                                   FACET_NAME_MAX);
    if (!s || !s->model_id || !s->model_id[0] || strlen(s->model_id) > FACET_NAME_MAX)
        return (facet_status)gfail(g, FACET_E_INVALID_ARG,
                                   "settings->model_id must be 1..%d characters", FACET_NAME_MAX);
    if (s->dim < 1 || s->dim > 8192)
        return (facet_status)gfail(g, FACET_E_INVALID_ARG, "settings->dim %d is not in 1..8192",
                                   s->dim);
    if (s->dtype != FACET_DTYPE_F32 && s->dtype != FACET_DTYPE_F16)
        return (facet_status)gfail(g, FACET_E_INVALID_ARG, "settings->dtype is unknown");
    facet_collection_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.name, sizeof info.name, "%s", name);
    snprintf(info.model_id, sizeof info.model_id, "%s", s->model_id);
    info.dim = s->dim;
    info.dtype = s->dtype;
    info.keep_payload = s->keep_payload != 0;
    info.created = facet_unix_ms();
    coll *c = coll_new(&info);
    if (!c) return (facet_status)gfail(g, FACET_E_NO_MEMORY, "no memory");
    int64_t lo = 0, mark = 0;
    pthread_mutex_lock(&g->store_mu);
    int st = g->store->ops->seq_range ? g->store->ops->seq_range(g->store, &lo, &mark) : 0;
    if (!st) st = g->store->ops->create_collection(g->store, &info);
    if (st) sfail(g, st);
    pthread_mutex_unlock(&g->store_mu);
    if (st) {
        coll_free(c);
        return (facet_status)st;
    }
    link_coll_at(g, c, mark);
    return FACET_OK;
}

/* Builds collection `name` from the store, off the list. *mark gets the change log's last
 * entry before the scan: every change up to it is in the scan, later ones may or may not be. */
static int build_coll(facet_gallery *g, const char *name, coll **out, facet_load_stats *stats,
                      int64_t *mark)
{
    facet_collection_info info;
    int64_t lo = 0;
    *mark = 0;
    pthread_mutex_lock(&g->store_mu);
    int st = g->store->ops->seq_range ? g->store->ops->seq_range(g->store, &lo, mark) : 0;
    if (!st) st = g->store->ops->get_collection(g->store, name, &info);
    if (st) {
        sfail(g, st);
        pthread_mutex_unlock(&g->store_mu);
        return st;
    }
    load_ctx x = {.c = NULL};
    if (info.dim < 1 || info.dim > 8192 || !info.model_id[0]) {
        pthread_mutex_unlock(&g->store_mu);
        return gfail(g, FACET_E_FORMAT, "collection '%s' has a bad model or dimension in the "
                     "store", name);
    }
    x.c = coll_new(&info);
    if (!x.c) {
        pthread_mutex_unlock(&g->store_mu);
        return gfail(g, FACET_E_NO_MEMORY, "no memory");
    }
    st = g->store->ops->scan(g->store, name, 0, load_row, &x);
    if (st) sfail(g, st);
    if (!st && !x.status) st = decl_load(g, name, &x.c->decl, &x.c->ndecl);
    pthread_mutex_unlock(&g->store_mu);
    if (!st && x.status) st = gfail(g, x.status, "no memory to load collection '%s'", name);
    if (st) {
        coll_free(x.c);
        return st;
    }
    size_t bad = x.st.bad_length + x.st.bad_model + x.st.bad_value + x.st.bad_other;
    if (bad)
        facet_log(FACET_LOG_WARN, "collection '%s': loaded %zu faceprints, skipped %zu corrupt "
                  "rows (%zu length, %zu model, %zu value, %zu other)", name, x.st.loaded, bad,
                  x.st.bad_length, x.st.bad_model, x.st.bad_value, x.st.bad_other);
    *out = x.c;
    *stats = x.st;
    return FACET_OK;
}

static void wake_follower(facet_gallery *g)
{
    if (g->following) {
        char b = 1;
        if (write(g->wake[1], &b, 1) < 0) { /* full pipe: a wake-up is pending anyway */ }
    }
}

/* Links a new collection whose data reflects the change log up to `mark`: entries after it
 * that a catch-up skipped while the collection was not linked are read again (see top). */
static void link_coll_at(facet_gallery *g, coll *c, int64_t mark)
{
    pthread_mutex_lock(&g->sync_mu);
    link_coll(g, c);
    if (mark < g->seq) g->seq = mark;
    pthread_mutex_unlock(&g->sync_mu);
    wake_follower(g);
}

facet_status facet_collection_load(facet_gallery *g, const char *name, facet_load_stats *stats)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (stats) memset(stats, 0, sizeof *stats);
    if (!name) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "name is NULL");
    double t0 = facet_now_ms();
    pthread_rwlock_rdlock(&g->lock);
    coll *loaded = find_loaded(g, name);
    if (loaded && stats) stats->loaded = loaded->n;
    pthread_rwlock_unlock(&g->lock);
    if (loaded) return FACET_OK;
    coll *c = NULL;
    facet_load_stats ls;
    int64_t mark;
    int st = build_coll(g, name, &c, &ls, &mark);
    if (st) return (facet_status)st;
    link_coll_at(g, c, mark);
    ls.ms = facet_now_ms() - t0;
    if (stats) *stats = ls;
    return FACET_OK;
}

facet_status facet_collection_unload(facet_gallery *g, const char *name)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!name) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "name is NULL");
    pthread_rwlock_wrlock(&g->lock);
    coll **p = &g->colls;
    while (*p && strcmp((*p)->info.name, name) != 0) p = &(*p)->next;
    coll *c = *p;
    if (c) *p = c->next;
    pthread_rwlock_unlock(&g->lock);
    if (!c) return (facet_status)gfail(g, FACET_E_NOT_FOUND, "collection '%s' is not loaded",
                                       name);
    coll_free(c);
    return FACET_OK;
}

facet_status facet_collection_drop(facet_gallery *g, const char *name)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!name) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "name is NULL");
    pthread_rwlock_wrlock(&g->lock);
    pthread_mutex_lock(&g->store_mu);
    int st = g->store->ops->drop_collection(g->store, name);
    if (st) sfail(g, st);
    pthread_mutex_unlock(&g->store_mu);
    coll *c = NULL;
    if (!st) {
        coll **p = &g->colls;
        while (*p && strcmp((*p)->info.name, name) != 0) p = &(*p)->next;
        c = *p;
        if (c) *p = c->next;
    }
    pthread_rwlock_unlock(&g->lock);
    coll_free(c);
    return (facet_status)st;
}

static int info_cmp(const void *a, const void *b)
{
    return strcmp(((const facet_collection_info *)a)->name,
                  ((const facet_collection_info *)b)->name);
}

facet_status facet_collection_list(facet_gallery *g, facet_collection_info **out, size_t *n)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!out || !n) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "out or n is NULL");
    *out = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&g->lock);
    pthread_mutex_lock(&g->store_mu);
    int st = g->store->ops->list_collections(g->store, out, n);
    if (st) sfail(g, st);
    pthread_mutex_unlock(&g->store_mu);
    if (!st) {
        qsort(*out, *n, sizeof **out, info_cmp);
        for (size_t i = 0; i < *n; i++) {
            coll *c = find_loaded(g, (*out)[i].name);
            (*out)[i].loaded = c != NULL;
            if (c) {
                pthread_rwlock_rdlock(&c->lock);
                (*out)[i].count = c->n;
                pthread_rwlock_unlock(&c->lock);
            }
        }
    }
    pthread_rwlock_unlock(&g->lock);
    return (facet_status)st;
}

facet_status facet_collection_get(facet_gallery *g, const char *name, facet_collection_info *out)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!name || !out) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "name or out is NULL");
    pthread_rwlock_rdlock(&g->lock);
    coll *c = find_loaded(g, name);
    int st = FACET_OK;
    if (c) {
        pthread_rwlock_rdlock(&c->lock);
        *out = c->info;
        out->loaded = 1;
        out->count = c->n;
        pthread_rwlock_unlock(&c->lock);
    } else {
        pthread_mutex_lock(&g->store_mu);
        st = g->store->ops->get_collection(g->store, name, out);
        if (st) sfail(g, st);
        pthread_mutex_unlock(&g->store_mu);
    }
    pthread_rwlock_unlock(&g->lock);
    return (facet_status)st;
}

/* ---- enrolment ---- */

/* The faceprint rule of facet/face.h (finite, unit L2 norm), for enrolments and probes alike;
 * `what` is "faceprint" or "probe". */
static int check_vectors(facet_gallery *g, const char *what, const float *v, size_t n, int dim)
{
    for (size_t i = 0; i < n; i++) {
        double norm = 0;
        switch (facet_vec_unit_check(v + i * (size_t)dim, (size_t)dim, &norm, NULL)) {
        case FACET_VEC_NOT_FINITE:
            return gfail(g, FACET_E_INVALID_ARG, "%s %zu has a NaN or infinity", what, i);
        case FACET_VEC_NOT_UNIT:
            return gfail(g, FACET_E_INVALID_ARG, "%s %zu is not L2-normalised (norm %.4f)", what, i,
                         norm);
        default:
            break;
        }
    }
    return FACET_OK;
}

static int enroll_rows(facet_gallery *g, const char *collection, const char *model_id,
                       const float *v, size_t n, int dim, const char *const *identities,
                       const void *payload, size_t payload_size, char (*uuids)[FACET_UUID_SIZE])
{
    if (!g) return facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!v || !identities) return gfail(g, FACET_E_INVALID_ARG, "v or identity is NULL");
    if (dim < 1 || dim > 8192) return gfail(g, FACET_E_INVALID_ARG, "dim %d is not in 1..8192", dim);
    if (n == 0) return FACET_OK;
    if (n > (1u << 24)) return gfail(g, FACET_E_LIMIT, "more than %u faceprints at once", 1u << 24);
    for (size_t i = 0; i < n; i++) {
        char why[80];
        if (!identities[i]) return gfail(g, FACET_E_INVALID_ARG, "identity %zu is NULL", i);
        if (identity_problem(identities[i], why, sizeof why))
            return gfail(g, FACET_E_INVALID_ARG, "identity %zu %s", i, why);
    }
    int st;
    size_t bs = facet_vec_blob_size(dim);
    uint8_t *blobs = facet_malloc(n * bs);
    facet_store_row *rows = facet_calloc(n, sizeof *rows);
    char (*ids)[FACET_UUID_SIZE] = facet_malloc(n * sizeof *ids);
    uint8_t (*u)[16] = facet_malloc(n * sizeof *u);
    int64_t *idn = facet_malloc(n * sizeof *idn);
    if (!blobs || !rows || !ids || !u || !idn) {
        st = gfail(g, FACET_E_NO_MEMORY, "no memory for %zu faceprints", n);
        goto out;
    }
    coll *c = NULL;
    if ((st = acquire(g, collection, &c))) goto out;
    if ((st = check_model(g, c, model_id, dim))) goto unlock_g;
    if ((st = check_vectors(g, "faceprint", v, n, dim))) goto unlock_g;
    for (size_t i = 0; i < n; i++) {
        if (facet_uuid_v4(ids[i])) {
            st = gfail(g, FACET_E_IO, "getrandom failed");
            goto unlock_g;
        }
        parse_uuid(ids[i], u[i]);
        facet_vec_encode(blobs + i * bs, v + i * (size_t)dim, dim, c->model_hash);
        rows[i] = (facet_store_row){ids[i], identities[i], blobs + i * bs, bs, NULL, 0};
        if (payload && c->info.keep_payload) {
            rows[i].payload = payload;
            rows[i].payload_size = payload_size;
        }
    }
    pthread_mutex_lock(&c->write_mu);
    /* everything that can fail happens before the durable write */
    if ((st = coll_reserve(c, n, 1))) {
        st = gfail(g, st, "no memory to enrol %zu faceprints", n);
        goto unlock_w;
    }
    pthread_rwlock_wrlock(&c->lock);
    for (size_t i = 0; i < n && !st; i++) {
        idn[i] = coll_identity(c, identities[i]);
        if (idn[i] < 0) st = gfail(g, FACET_E_NO_MEMORY, "no memory");
    }
    pthread_rwlock_unlock(&c->lock);
    if (st) goto unlock_w;
    pthread_mutex_lock(&g->store_mu);
    st = g->store->ops->insert(g->store, c->info.name, rows, n);
    if (st) sfail(g, st);
    pthread_mutex_unlock(&g->store_mu);
    if (!st) {
        /* rows past n: no reader looks there until the commit below */
        for (size_t i = 0; i < n; i++)
            coll_set_row(c, c->n + i, v + i * (size_t)dim); /* checked above: cannot fail */
        pthread_rwlock_wrlock(&c->lock);
        for (size_t i = 0; i < n; i++) coll_commit_row(c, u[i], (uint32_t)idn[i]);
        pthread_rwlock_unlock(&c->lock);
        if (uuids) memcpy(uuids, ids, n * sizeof *ids);
    }
unlock_w:
    pthread_mutex_unlock(&c->write_mu);
unlock_g:
    pthread_rwlock_unlock(&g->lock);
out:
    free(blobs);
    free(rows);
    free(ids);
    free(u);
    free(idn);
    return st;
}

facet_status facet_gallery_enroll(facet_gallery *g, const char *collection, const char *model_id,
                                  const float *v, int dim, const char *identity,
                                  const void *payload, size_t payload_size,
                                  char uuid[FACET_UUID_SIZE])
{
    if (g && !uuid) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "uuid is NULL");
    if (g && !payload && payload_size)
        return (facet_status)gfail(g, FACET_E_INVALID_ARG, "payload is NULL but its size is not 0");
    if (g && payload_size > (1u << 30))
        return (facet_status)gfail(g, FACET_E_LIMIT, "payload larger than 1 GiB");
    char ids[1][FACET_UUID_SIZE];
    int st = enroll_rows(g, collection, model_id, v, 1, dim, &identity, payload, payload_size,
                         ids);
    if (!st) memcpy(uuid, ids[0], FACET_UUID_SIZE);
    return (facet_status)st;
}

facet_status facet_gallery_enroll_batch(facet_gallery *g, const char *collection,
                                        const char *model_id, const float *v, size_t n, int dim,
                                        const char *const *identities,
                                        char (*uuids)[FACET_UUID_SIZE])
{
    return (facet_status)enroll_rows(g, collection, model_id, v, n, dim, identities, NULL, 0,
                                     uuids);
}

facet_status facet_gallery_remove(facet_gallery *g, const char *collection, const char *uuid)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    uint8_t u[16];
    if (!uuid || parse_uuid(uuid, u))
        return (facet_status)gfail(g, FACET_E_INVALID_ARG, "uuid is not a lower-case UUID");
    coll *c = NULL;
    int st = acquire(g, collection, &c);
    if (st) return (facet_status)st;
    /* The store is asked even when this process has not seen the faceprint yet: another
     * process may have enrolled it a moment ago. The store's answer is the result: a copy
     * here that another node already removed (its log entry not applied yet) is dropped, but
     * the call says NOT_FOUND, whatever this node's follower has applied by then. */
    pthread_mutex_lock(&c->write_mu);
    size_t removed = 0;
    pthread_mutex_lock(&g->store_mu);
    st = g->store->ops->remove(g->store, c->info.name, uuid, NULL, &removed);
    if (st) sfail(g, st);
    pthread_mutex_unlock(&g->store_mu);
    int64_t slot = row_find(c, u);
    if (!st && slot >= 0) {
        pthread_rwlock_wrlock(&c->lock);
        coll_remove_slot(c, (size_t)slot);
        pthread_rwlock_unlock(&c->lock);
    }
    if (!st && !removed) {
        st = gfail(g, FACET_E_NOT_FOUND, "collection '%s' has no faceprint %s", c->info.name,
                   uuid);
    }
    pthread_mutex_unlock(&c->write_mu);
    pthread_rwlock_unlock(&g->lock);
    return (facet_status)st;
}

facet_status facet_gallery_remove_identity(facet_gallery *g, const char *collection,
                                           const char *identity, size_t *removed)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (removed) *removed = 0;
    coll *c = NULL;
    int st = acquire_for_identity(g, collection, identity, &c);
    if (st) return (facet_status)st;
    /* the rows are found under the writer mutex (nothing moves them meanwhile) and removed
     * under the write lock, a row move each; the list is allocated before the durable write */
    int64_t id = id_find(c, identity);
    size_t k = 0, m = 0, cnt = id >= 0 ? c->id_cnt[id] : 0;
    uint8_t (*gone)[16] = cnt ? facet_malloc(cnt * sizeof *gone) : NULL;
    int declared = decl_find(c, identity) >= 0;
    decl_edit e = {0};
    if ((cnt && !gone) || (declared && decl_prepare(c, NULL, identity, &e))) {
        st = gfail(g, FACET_E_NO_MEMORY, "no memory");
        declared = 0;
    } else {
        pthread_mutex_lock(&g->store_mu);
        st = g->store->ops->remove(g->store, c->info.name, NULL, identity, &k);
        if (st) sfail(g, st);
        pthread_mutex_unlock(&g->store_mu);
    }
    if (!st && cnt) {
        for (size_t r = 0; r < c->n && m < cnt; r++)
            if (c->ident[r] == (uint32_t)id) memcpy(gone[m++], c->uuid[r], 16);
        pthread_rwlock_wrlock(&c->lock);
        for (size_t i = 0; i < m; i++) {
            int64_t slot = row_find(c, gone[i]);
            if (slot >= 0) coll_remove_slot(c, (size_t)slot);
        }
        pthread_rwlock_unlock(&c->lock);
    }
    if (declared && !st) decl_commit(c, &e);
    else if (declared) decl_abandon(&e);
    free(gone);
    pthread_mutex_unlock(&c->write_mu);
    pthread_rwlock_unlock(&g->lock);
    if (removed && !st) *removed = k;
    return (facet_status)st;
}

static int idc_cmp(const void *a, const void *b)
{
    return strcmp(((const facet_identity_count *)a)->identity,
                  ((const facet_identity_count *)b)->identity);
}

facet_status facet_gallery_identities(facet_gallery *g, const char *collection,
                                      facet_identity_count **out, size_t *n)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!out || !n) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "out or n is NULL");
    *out = NULL;
    *n = 0;
    coll *c = NULL;
    int st = acquire(g, collection, &c);
    if (st) return (facet_status)st;
    pthread_rwlock_rdlock(&c->lock);
    size_t cnt = 0;
    for (size_t i = 0; i < c->nid; i++) cnt += c->id_cnt[i] > 0;
    facet_identity_count *v = facet_malloc((cnt + c->ndecl ? cnt + c->ndecl : 1) * sizeof *v);
    if (!v) {
        st = gfail(g, FACET_E_NO_MEMORY, "no memory");
    } else {
        size_t j = 0;
        for (size_t i = 0; i < c->nid; i++) {
            if (!c->id_cnt[i]) continue;
            snprintf(v[j].identity, sizeof v[j].identity, "%s", c->id_str[i]);
            v[j++].count = c->id_cnt[i];
        }
        /* declared identities, counted once: the sort puts a name's two entries side by side */
        for (size_t i = 0; i < c->ndecl; i++) {
            snprintf(v[j].identity, sizeof v[j].identity, "%s", c->decl[i]);
            v[j++].count = 0;
        }
        qsort(v, j, sizeof *v, idc_cmp);
        size_t w = 0;
        for (size_t i = 0; i < j; i++) {
            if (w && !strcmp(v[w - 1].identity, v[i].identity)) v[w - 1].count += v[i].count;
            else v[w++] = v[i];
        }
        *out = v;
        *n = w;
    }
    pthread_rwlock_unlock(&c->lock);
    pthread_rwlock_unlock(&g->lock);
    return (facet_status)st;
}

facet_status facet_gallery_count(facet_gallery *g, const char *collection, size_t *count)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!count) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "count is NULL");
    coll *c = NULL;
    int st = acquire(g, collection, &c);
    if (st) return (facet_status)st;
    pthread_rwlock_rdlock(&c->lock);
    *count = c->n;
    pthread_rwlock_unlock(&c->lock);
    pthread_rwlock_unlock(&g->lock);
    return FACET_OK;
}

typedef struct payload_ctx {
    facet_payload_fn fn;
    void *user;
} payload_ctx;

static int payload_row(void *user, const facet_store_row *r)
{
    payload_ctx *p = user;
    return p->fn(p->user, r->uuid, r->identity, r->payload, r->payload_size);
}

facet_status facet_collection_foreach_payload(facet_gallery *g, const char *collection,
                                              facet_payload_fn fn, void *user)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!collection || !fn)
        return (facet_status)gfail(g, FACET_E_INVALID_ARG, "collection or fn is NULL");
    payload_ctx p = {fn, user};
    pthread_mutex_lock(&g->store_mu);
    facet_collection_info info;
    int st = g->store->ops->get_collection(g->store, collection, &info);
    if (!st) st = g->store->ops->scan(g->store, collection, 1, payload_row, &p);
    if (st) sfail(g, st);
    pthread_mutex_unlock(&g->store_mu);
    return (facet_status)st;
}

/* ---- single enrolments ---- */

typedef struct face_key {
    const char *identity;
    const uint8_t *uuid;
} face_key;

static int face_key_cmp(const void *a, const void *b)
{
    const face_key *x = a, *y = b;
    int c = strcmp(x->identity, y->identity);
    return c ? c : memcmp(x->uuid, y->uuid, 16);
}

facet_status facet_gallery_faces(facet_gallery *g, const char *collection, const char *identity,
                                 size_t offset, size_t limit, facet_face_ref **out, size_t *n,
                                 size_t *total)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!out || !n) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "out or n is NULL");
    *out = NULL;
    *n = 0;
    if (total) *total = 0;
    coll *c = NULL;
    int st = acquire(g, collection, &c);
    if (st) return (facet_status)st;
    /* the writer mutex, not the read lock: the identity table belongs to the writer */
    pthread_mutex_lock(&c->write_mu);
    int64_t id = identity ? id_find(c, identity) : -1;
    size_t cnt = identity ? (id >= 0 ? c->id_cnt[id] : 0) : c->n;
    face_key *keys = facet_malloc((cnt ? cnt : 1) * sizeof *keys);
    size_t take = offset < cnt ? cnt - offset : 0;
    if (take > limit) take = limit;
    facet_face_ref *v = facet_malloc((take ? take : 1) * sizeof *v);
    if (!keys || !v) {
        st = gfail(g, FACET_E_NO_MEMORY, "no memory to list %zu faceprints", cnt);
        free(v);
    } else {
        size_t k = 0;
        for (size_t r = 0; r < c->n && k < cnt; r++)
            if (!identity || c->ident[r] == (uint32_t)id)
                keys[k++] = (face_key){c->id_str[c->ident[r]], c->uuid[r]};
        qsort(keys, k, sizeof *keys, face_key_cmp);
        for (size_t i = 0; i < take; i++) {
            format_uuid(keys[offset + i].uuid, v[i].uuid);
            snprintf(v[i].identity, sizeof v[i].identity, "%s", keys[offset + i].identity);
        }
        *out = v;
        *n = take;
        if (total) *total = cnt;
    }
    pthread_mutex_unlock(&c->write_mu);
    pthread_rwlock_unlock(&g->lock);
    free(keys);
    return (facet_status)st;
}

facet_status facet_gallery_face(facet_gallery *g, const char *collection, const char *uuid,
                                float *v, int dim, char identity[FACET_IDENTITY_MAX + 1])
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    uint8_t u[16];
    if (!uuid || parse_uuid(uuid, u))
        return (facet_status)gfail(g, FACET_E_INVALID_ARG, "uuid is not a lower-case UUID");
    if (!v) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "v is NULL");
    coll *c = NULL;
    int st = acquire(g, collection, &c);
    if (st) return (facet_status)st;
    /* the writer mutex, not the read lock: the UUID table belongs to the writer */
    pthread_mutex_lock(&c->write_mu);
    int64_t slot = row_find(c, u);
    if (dim != c->info.dim) {
        st = gfail(g, FACET_E_MODEL, "collection '%s' holds faceprints of dim %d, not %d",
                   c->info.name, c->info.dim, dim);
    } else if (slot < 0) {
        st = gfail(g, FACET_E_NOT_FOUND, "collection '%s' has no faceprint %s", c->info.name,
                   uuid);
    } else {
        uint32_t r = c->row_tab[slot] - 1;
        const uint8_t *src = c->mat + r * c->stride;
        if (c->info.dtype == FACET_DTYPE_F16) {
            const uint16_t *h = (const uint16_t *)src;
            for (int d = 0; d < dim; d++) v[d] = facet_f16_to_f32(h[d]);
        } else {
            memcpy(v, src, (size_t)dim * sizeof *v);
        }
        if (identity) snprintf(identity, FACET_IDENTITY_MAX + 1, "%s", c->id_str[c->ident[r]]);
    }
    pthread_mutex_unlock(&c->write_mu);
    pthread_rwlock_unlock(&g->lock);
    return (facet_status)st;
}

typedef struct copy_ctx {
    void *data;
    size_t size;
    int no_memory;
} copy_ctx;

static int copy_payload(void *user, const facet_store_row *r)
{
    copy_ctx *x = user;
    if (!r->payload) return 1;
    x->data = facet_malloc(r->payload_size ? r->payload_size : 1);
    if (!x->data) x->no_memory = 1;
    else if (r->payload_size) memcpy(x->data, r->payload, r->payload_size);
    x->size = r->payload_size;
    return 1;
}

facet_status facet_gallery_payload(facet_gallery *g, const char *collection, const char *uuid,
                                   void **data, size_t *size)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!data || !size) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "data or size is NULL");
    *data = NULL;
    *size = 0;
    if (!collection) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "collection is NULL");
    if (!uuid || !facet_uuid_valid(uuid))
        return (facet_status)gfail(g, FACET_E_INVALID_ARG, "uuid is not a lower-case UUID");
    copy_ctx x = {NULL, 0, 0};
    pthread_mutex_lock(&g->store_mu);
    int st = g->store->ops->get(g->store, collection, uuid, copy_payload, &x);
    if (st) sfail(g, st);
    pthread_mutex_unlock(&g->store_mu);
    if (!st && x.no_memory) st = gfail(g, FACET_E_NO_MEMORY, "no memory for a payload of %zu bytes", x.size);
    if (!st && x.data) {
        *data = x.data;
        *size = x.size;
    }
    return (facet_status)st;
}

facet_status facet_gallery_rename_identity(facet_gallery *g, const char *collection,
                                           const char *from, const char *to, size_t *renamed)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (renamed) *renamed = 0;
    char why[80];
    if (!from || !to) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "from or to is NULL");
    if (identity_problem(from, why, sizeof why))
        return (facet_status)gfail(g, FACET_E_INVALID_ARG, "identity 'from' %s", why);
    if (identity_problem(to, why, sizeof why))
        return (facet_status)gfail(g, FACET_E_INVALID_ARG, "identity 'to' %s", why);
    coll *c = NULL;
    int st = acquire(g, collection, &c);
    if (st) return (facet_status)st;
    pthread_mutex_lock(&c->write_mu);
    int64_t a = id_find(c, from), b = -1;
    size_t k = a >= 0 ? c->id_cnt[a] : 0, m = 0;
    uint32_t *rows = NULL;
    int declared = decl_find(c, from) >= 0;
    decl_edit e = {0};
    if (strcmp(from, to) != 0 && (k > 0 || declared)) {
        /* the target's identity number, the list of rows and the new declared set exist
         * before the durable write, so nothing fails after; rows do not move while we hold
         * the writer mutex */
        if (k > 0) {
            rows = facet_malloc(k * sizeof *rows);
            if (rows && !(st = coll_reserve(c, 1, 1))) {
                pthread_rwlock_wrlock(&c->lock);
                b = coll_identity(c, to);
                pthread_rwlock_unlock(&c->lock);
            }
        }
        if ((k > 0 && (!rows || st || b < 0)) || (declared && decl_prepare(c, to, from, &e))) {
            st = gfail(g, FACET_E_NO_MEMORY, "no memory");
            if (declared && e.v) decl_abandon(&e);
        } else {
            for (size_t r = 0; r < c->n && m < k; r++)
                if (c->ident[r] == (uint32_t)a) rows[m++] = (uint32_t)r;
            size_t n = 0;
            pthread_mutex_lock(&g->store_mu);
            st = g->store->ops->rename(g->store, c->info.name, from, to, &n);
            if (st) sfail(g, st);
            pthread_mutex_unlock(&g->store_mu);
            if (!st && k > 0) {
                pthread_rwlock_wrlock(&c->lock);
                for (size_t i = 0; i < m; i++) c->ident[rows[i]] = (uint32_t)b;
                c->id_cnt[b] += c->id_cnt[a];
                c->id_cnt[a] = 0;
                pthread_rwlock_unlock(&c->lock);
            }
            if (declared && !st) decl_commit(c, &e);
            else if (declared) decl_abandon(&e);
        }
    }
    free(rows);
    pthread_mutex_unlock(&c->write_mu);
    pthread_rwlock_unlock(&g->lock);
    if (!st && renamed) *renamed = k;
    return (facet_status)st;
}

facet_status facet_gallery_add_identity(facet_gallery *g, const char *collection,
                                        const char *identity)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    coll *c = NULL;
    int st = acquire_for_identity(g, collection, identity, &c);
    if (st) return (facet_status)st;
    int64_t id = id_find(c, identity);
    decl_edit e;
    if ((id >= 0 && c->id_cnt[id] > 0) || decl_find(c, identity) >= 0) {
        st = gfail(g, FACET_E_EXISTS, "identity '%s' exists in collection '%s'", identity,
                   c->info.name);
    } else if (decl_prepare(c, identity, NULL, &e)) {
        st = gfail(g, FACET_E_NO_MEMORY, "no memory");
    } else {
        /* the store checks again: another process may have enrolled or declared it */
        pthread_mutex_lock(&g->store_mu);
        st = g->store->ops->declare(g->store, c->info.name, identity);
        if (st) sfail(g, st);
        pthread_mutex_unlock(&g->store_mu);
        if (st) decl_abandon(&e);
        else decl_commit(c, &e);
    }
    pthread_mutex_unlock(&c->write_mu);
    pthread_rwlock_unlock(&g->lock);
    return (facet_status)st;
}

/* ---- search ---- */

static int search(facet_gallery *g, const char *collection, const char *model_id, const float *v,
                  size_t n, int dim, int k, facet_match *out, int *n_out)
{
    if (!g) return facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!v || !out || !n_out) return gfail(g, FACET_E_INVALID_ARG, "v, out or n_out is NULL");
    if (k < 1 || k > 10000) return gfail(g, FACET_E_INVALID_ARG, "k %d is not in 1..10000", k);
    if (dim < 1 || dim > 8192) return gfail(g, FACET_E_INVALID_ARG, "dim %d is not in 1..8192", dim);
    if (n == 0) return FACET_OK;
    if (n > (1u << 24)) return gfail(g, FACET_E_LIMIT, "more than %u probes at once", 1u << 24);
    /* a probe must be a faceprint like an enrolment: a zero or unnormalised vector would
     * give similarities that are not cosines, reported as if they were */
    if (check_vectors(g, "probe", v, n, dim)) return FACET_E_INVALID_ARG;
    int dpad = facet_dpad(dim);
    float *probes = facet_alloc_zeroed(n * (size_t)dpad, sizeof(float));
    float *sc = facet_malloc(n * (size_t)k * sizeof *sc);
    uint32_t *rows = facet_malloc(n * (size_t)k * sizeof *rows);
    int st = FACET_OK;
    if (!probes || !sc || !rows) {
        st = gfail(g, FACET_E_NO_MEMORY, "no memory for %zu probes", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(probes + i * dpad, v + i * (size_t)dim, (size_t)dim * sizeof(float));
    coll *c = NULL;
    if ((st = acquire(g, collection, &c))) goto out;
    if ((st = check_model(g, c, model_id, dim))) goto unlock_g;
    pthread_rwlock_rdlock(&c->lock);
    facet_search_args a = {c->mat, c->stride, c->n, dpad, c->dot, probes, n, k,
                           g->pool, g->threads};
    st = facet_search(&a, sc, rows, n_out);
    if (st) {
        st = gfail(g, st, "no memory for the search");
    } else {
        for (size_t i = 0; i < n; i++) {
            for (int j = 0; j < n_out[i]; j++) {
                size_t o = i * (size_t)k + j;
                facet_match *m = &out[o];
                uint32_t r = rows[o];
                snprintf(m->identity, sizeof m->identity, "%s", c->id_str[c->ident[r]]);
                format_uuid(c->uuid[r], m->uuid);
                float s = sc[o];
                m->similarity = s > 1.0f ? 1.0f : s < -1.0f ? -1.0f : s;
                m->probability = facet_gallery_match_probability(g, m->similarity);
            }
        }
    }
    pthread_rwlock_unlock(&c->lock);
unlock_g:
    pthread_rwlock_unlock(&g->lock);
out:
    facet_free_aligned(probes);
    free(sc);
    free(rows);
    return st;
}

facet_status facet_gallery_identify(facet_gallery *g, const char *collection,
                                    const char *model_id, const float *v, int dim,
                                    float threshold, facet_match *out, int *found)
{
    if (g && (!found || !out)) return (facet_status)gfail(g, FACET_E_INVALID_ARG,
                                                          "out or found is NULL");
    if (found) *found = 0;
    facet_match m;
    int n = 0;
    int st = search(g, collection, model_id, v, 1, dim, 1, &m, &n);
    if (!st && n == 1 && m.similarity >= threshold) {
        *out = m;
        *found = 1;
    }
    return (facet_status)st;
}

facet_status facet_gallery_identify_top_k(facet_gallery *g, const char *collection,
                                          const char *model_id, const float *v, int dim, int k,
                                          facet_match *out, int *n_out)
{
    return (facet_status)search(g, collection, model_id, v, 1, dim, k, out, n_out);
}

facet_status facet_gallery_batch_identify(facet_gallery *g, const char *collection,
                                          const char *model_id, const float *v, size_t n,
                                          int dim, int k, facet_match *out, int *n_out)
{
    return (facet_status)search(g, collection, model_id, v, n, dim, k, out, n_out);
}

/* ---- the store for keys.c (gallery_priv.h) ---- */

facet_store *facet_gallery_store_lock(facet_gallery *g)
{
    pthread_mutex_lock(&g->store_mu);
    return g->store;
}

int facet_gallery_store_unlock(facet_gallery *g, int status)
{
    if (status) sfail(g, status);
    pthread_mutex_unlock(&g->store_mu);
    return status;
}

/* ---- following other processes (see the top of this file) ---- */

/* One change log entry, copied out of the store's buffers (they are valid only during the
 * store's callback, and entries are applied with the store mutex released). */
typedef struct pending {
    int64_t seq, coll_created;
    char op;
    char coll[FACET_NAME_MAX + 1];
    char uuid[FACET_UUID_SIZE];
    char *identity; /* 'E' and the row still exists */
    uint8_t *vec;
    size_t vec_size;
} pending;

#define SYNC_BATCH 512

typedef struct pending_list {
    pending *p;
    size_t n;
    int status;
} pending_list;

static int collect_change(void *user, const facet_change *c)
{
    pending_list *l = user;
    pending *p = &l->p[l->n];
    memset(p, 0, sizeof *p);
    p->seq = c->seq;
    p->op = c->op;
    p->coll_created = c->coll_created;
    l->n++;
    /* a malformed entry is kept as a no-op so that the sequence still advances past it */
    if (strlen(c->collection) > FACET_NAME_MAX ||
        (c->op != 'E' && c->op != 'D' && c->op != 'X' && c->op != 'S') ||
        ((c->op == 'E' || c->op == 'D') && !facet_uuid_valid(c->uuid))) {
        facet_log(FACET_LOG_WARN, "change log entry %lld is malformed: skipped",
                  (long long)c->seq);
        p->op = 0;
        return 0;
    }
    snprintf(p->coll, sizeof p->coll, "%s", c->collection);
    if (c->uuid) snprintf(p->uuid, sizeof p->uuid, "%s", c->uuid);
    if (c->op == 'E' && c->identity && c->vector) {
        p->identity = facet_strdup(c->identity);
        p->vec = facet_malloc(c->vector_size ? c->vector_size : 1);
        if (!p->identity || !p->vec) {
            l->status = FACET_E_NO_MEMORY;
            return 1;
        }
        memcpy(p->vec, c->vector, c->vector_size);
        p->vec_size = c->vector_size;
    }
    return 0;
}

static void pending_clear(pending_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->p[i].identity);
        free(l->p[i].vec);
    }
    l->n = 0;
}

/* Adds an enrolment made elsewhere, unless it is here already. Under the writer mutex, like
 * a local enrolment, so that the two never add the same row twice. */
static void apply_enrol(coll *c, const pending *p)
{
    uint8_t u[16];
    if (!p->identity || parse_uuid(p->uuid, u)) return; /* removed since: a 'D' follows */
    if (!valid_identity(p->identity) ||
        facet_vec_check(p->vec, p->vec_size, c->info.dim, c->model_hash)) {
        facet_log(FACET_LOG_WARN, "collection '%s': change %lld: faceprint %s is corrupt or of "
                  "another model: not applied", c->info.name, (long long)p->seq, p->uuid);
        return;
    }
    float *v = facet_malloc((size_t)c->info.dim * sizeof *v);
    if (!v) return;
    memcpy(v, p->vec + FACET_VEC_HEADER, (size_t)c->info.dim * sizeof *v);
    pthread_mutex_lock(&c->write_mu);
    if (row_find(c, u) < 0 && coll_reserve(c, 1, 1) == FACET_OK) {
        if (coll_set_row(c, c->n, v) != FACET_OK) {
            facet_log(FACET_LOG_WARN, "collection '%s': change %lld: faceprint %s has a NaN or "
                      "a norm far from 1: not applied", c->info.name, (long long)p->seq, p->uuid);
        } else {
            pthread_rwlock_wrlock(&c->lock);
            int64_t id = coll_identity(c, p->identity);
            if (id >= 0) coll_commit_row(c, u, (uint32_t)id);
            pthread_rwlock_unlock(&c->lock);
        }
    }
    pthread_mutex_unlock(&c->write_mu);
    free(v);
}

static void apply_remove(coll *c, const pending *p)
{
    uint8_t u[16];
    if (parse_uuid(p->uuid, u)) return;
    pthread_mutex_lock(&c->write_mu);
    int64_t slot = row_find(c, u);
    if (slot >= 0) {
        pthread_rwlock_wrlock(&c->lock);
        coll_remove_slot(c, (size_t)slot);
        pthread_rwlock_unlock(&c->lock);
    }
    pthread_mutex_unlock(&c->write_mu);
}

/* Unloads the dropped collection if the loaded one is that very collection (not a newer one
 * of the same name, created after the drop). */
static void apply_drop(facet_gallery *g, const pending *p)
{
    pthread_rwlock_wrlock(&g->lock);
    coll **q = &g->colls;
    while (*q && strcmp((*q)->info.name, p->coll) != 0) q = &(*q)->next;
    coll *c = *q;
    if (c && c->info.created == p->coll_created) *q = c->next;
    else c = NULL;
    pthread_rwlock_unlock(&g->lock);
    coll_free(c);
}

/* Reads the collection's declared identities again. A failure (the store went away) is
 * returned, so that the catch-up stops before this entry and reads it again next time. */
static int apply_declared(facet_gallery *g, coll *c)
{
    char **v = NULL;
    size_t n = 0;
    pthread_mutex_lock(&c->write_mu);
    pthread_mutex_lock(&g->store_mu);
    int st = decl_load(g, c->info.name, &v, &n);
    pthread_mutex_unlock(&g->store_mu);
    if (!st) {
        pthread_rwlock_wrlock(&c->lock);
        char **old = c->decl;
        size_t n_old = c->ndecl;
        c->decl = v;
        c->ndecl = n;
        pthread_rwlock_unlock(&c->lock);
        for (size_t i = 0; i < n_old; i++) free(old[i]);
        free(old);
    }
    pthread_mutex_unlock(&c->write_mu);
    return st;
}

static int apply(facet_gallery *g, const pending *p)
{
    if (p->op == 'X') {
        apply_drop(g, p);
        return FACET_OK;
    }
    int st = FACET_OK;
    pthread_rwlock_rdlock(&g->lock);
    coll *c = find_loaded(g, p->coll);
    if (c && p->op == 'E') apply_enrol(c, p);
    else if (c && p->op == 'D') apply_remove(c, p);
    else if (c && p->op == 'S') st = apply_declared(g, c);
    pthread_rwlock_unlock(&g->lock);
    return st;
}

/* Rebuilds every loaded collection from the store (after falling behind the log's pruning)
 * and swaps each in for the old one. Called with sync_mu held. */
static int reload_all(facet_gallery *g)
{
    pthread_rwlock_rdlock(&g->lock);
    size_t n = 0;
    for (coll *c = g->colls; c; c = c->next) n++;
    char (*names)[FACET_NAME_MAX + 1] = facet_malloc((n ? n : 1) * sizeof *names);
    if (names) {
        n = 0;
        for (coll *c = g->colls; c; c = c->next) snprintf(names[n++], sizeof *names, "%s", c->info.name);
    }
    pthread_rwlock_unlock(&g->lock);
    if (!names) return gfail(g, FACET_E_NO_MEMORY, "no memory");
    int st = FACET_OK;
    for (size_t i = 0; i < n && !st; i++) {
        coll *fresh = NULL;
        facet_load_stats ls;
        int64_t mark;
        st = build_coll(g, names[i], &fresh, &ls, &mark);
        if (st == FACET_E_NOT_FOUND) { /* dropped meanwhile */
            st = FACET_OK;
            pending x = {.op = 'X'};
            snprintf(x.coll, sizeof x.coll, "%s", names[i]);
            pthread_rwlock_rdlock(&g->lock);
            coll *c = find_loaded(g, names[i]);
            x.coll_created = c ? c->info.created : 0;
            pthread_rwlock_unlock(&g->lock);
            if (c) apply_drop(g, &x);
            continue;
        }
        if (st) break;
        pthread_rwlock_wrlock(&g->lock);
        coll **q = &g->colls;
        while (*q && strcmp((*q)->info.name, names[i]) != 0) q = &(*q)->next;
        coll *old = *q;
        if (old) {
            fresh->next = old->next;
            *q = fresh;
        }
        pthread_rwlock_unlock(&g->lock);
        coll_free(old ? old : fresh);
    }
    free(names);
    return st;
}

/* One catch-up: applies every log entry after g->seq. */
static int catch_up(facet_gallery *g, size_t *applied)
{
    size_t total = 0;
    if (applied) *applied = 0;
    if (!g->store->ops->changes) return FACET_OK;
    pending_list l = {facet_malloc(SYNC_BATCH * sizeof(pending)), 0, 0};
    if (!l.p) return gfail(g, FACET_E_NO_MEMORY, "no memory");
    pthread_mutex_lock(&g->sync_mu);
    int64_t lo = 0, hi = 0;
    pthread_mutex_lock(&g->store_mu);
    int st = g->store->ops->seq_range(g->store, &lo, &hi);
    if (st) sfail(g, st);
    pthread_mutex_unlock(&g->store_mu);
    if (!st && (hi < g->seq || (lo > g->seq + 1 && hi > g->seq))) {
        /* entries we have not applied were pruned, or the log was reset */
        facet_log(FACET_LOG_WARN, "change log: at entry %lld, the log holds %lld..%lld: "
                  "reloading the loaded collections", (long long)g->seq, (long long)lo,
                  (long long)hi);
        st = reload_all(g);
        if (!st) {
            g->seq = hi;
            atomic_fetch_add(&g->reloads, 1);
        }
    }
    while (!st) {
        pthread_mutex_lock(&g->store_mu);
        st = g->store->ops->changes(g->store, g->seq, SYNC_BATCH, collect_change, &l);
        if (st) sfail(g, st);
        pthread_mutex_unlock(&g->store_mu);
        if (!st && l.status) st = gfail(g, l.status, "no memory to catch up");
        if (st) break;
        size_t i;
        for (i = 0; i < l.n && !st; i++) {
            if (l.p[i].op) st = apply(g, &l.p[i]);
            if (!st) g->seq = l.p[i].seq;
        }
        total += st ? i - 1 : l.n;
        size_t got = l.n;
        pending_clear(&l);
        if (st || got < SYNC_BATCH) break;
    }
    pending_clear(&l);
    atomic_store(&g->seq_seen, g->seq);
    pthread_mutex_unlock(&g->sync_mu);
    free(l.p);
    atomic_fetch_add(&g->applied, total);
    atomic_store(&g->store_ok, st == FACET_OK);
    if (st) atomic_fetch_add(&g->failures, 1);
    if (applied) *applied = total;
    return st;
}

facet_status facet_gallery_sync(facet_gallery *g, size_t *applied)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    return (facet_status)catch_up(g, applied);
}

facet_status facet_gallery_ping(facet_gallery *g)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!g->store->ops->ping) return FACET_OK;
    pthread_mutex_lock(&g->store_mu);
    int st = g->store->ops->ping(g->store);
    if (st) sfail(g, st);
    pthread_mutex_unlock(&g->store_mu);
    return (facet_status)st;
}

facet_status facet_gallery_sync_info(facet_gallery *g, facet_sync_info *out)
{
    if (!g) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g is NULL");
    if (!out) return (facet_status)gfail(g, FACET_E_INVALID_ARG, "out is NULL");
    out->following = g->following;
    out->store_ok = atomic_load(&g->store_ok);
    out->seq = atomic_load(&g->seq_seen);
    out->applied = atomic_load(&g->applied);
    out->reloads = atomic_load(&g->reloads);
    out->failures = atomic_load(&g->failures);
    return FACET_OK;
}

static void *follow_main(void *arg)
{
    facet_gallery *g = arg;
    int was_ok = 1;
    double next_prune = facet_now_ms() + 60000;
    while (!atomic_load(&g->stop)) {
        if (g->store->ops->wait) {
            g->store->ops->wait(g->store, g->follow_ms, g->wake[0]);
        } else {
            struct pollfd p = {g->wake[0], POLLIN, 0};
            poll(&p, 1, g->follow_ms);
        }
        char buf[64];
        struct pollfd p = {g->wake[0], POLLIN, 0};
        while (poll(&p, 1, 0) > 0 && read(g->wake[0], buf, sizeof buf) > 0) {}
        if (atomic_load(&g->stop)) break;
        /* every wake-up and every interval: notifications can be lost (a dropped listener) */
        int st = catch_up(g, NULL);
        if (st && was_ok)
            facet_log(FACET_LOG_WARN, "follower: cannot catch up (will retry): %s",
                      facet_thread_errmsg());
        else if (!st && !was_ok)
            facet_log(FACET_LOG_INFO, "follower: caught up again at change %lld",
                      (long long)atomic_load(&g->seq_seen));
        was_ok = !st;
        if (!st && g->keep_s > 0 && facet_now_ms() >= next_prune) {
            next_prune = facet_now_ms() + 60000;
            pthread_mutex_lock(&g->store_mu);
            g->store->ops->prune(g->store, facet_unix_ms() - (int64_t)g->keep_s * 1000);
            pthread_mutex_unlock(&g->store_mu);
        }
    }
    return NULL;
}
