/*
 * memory.c - the "memory:" store: the same interface kept in plain arrays, for tests and
 * throw-away galleries. Nothing outlives the handle. Lookups are linear: this store is for
 * small data; the gallery's in-memory index does the fast work.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"

typedef struct mrow {
    char *collection, *uuid, *identity;
    void *vector, *payload;
    size_t vector_size, payload_size;
} mrow;

typedef struct mem_store {
    facet_store base;
    facet_collection_info *colls;
    size_t ncolls;
    mrow *rows;
    size_t nrows, cap;
    uint32_t *tab; /* UUID hash set: row + 1, 0 = empty; rebuilt when rows move */
    size_t tab_cap;
    facet_key_row *keys;
    size_t nkeys;
    struct mdecl {
        char *collection, *identity;
    } *decl; /* declared identities, unordered */
    size_t ndecl;
} mem_store;

static uint64_t hash_s(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int tab_has(const mem_store *m, const char *uuid)
{
    if (!m->tab_cap) return 0;
    for (size_t i = hash_s(uuid) & (m->tab_cap - 1);; i = (i + 1) & (m->tab_cap - 1)) {
        if (!m->tab[i]) return 0;
        if (strcmp(m->rows[m->tab[i] - 1].uuid, uuid) == 0) return 1;
    }
}

static void tab_put(mem_store *m, size_t row)
{
    size_t i = hash_s(m->rows[row].uuid) & (m->tab_cap - 1);
    while (m->tab[i]) i = (i + 1) & (m->tab_cap - 1);
    m->tab[i] = (uint32_t)row + 1;
}

/* Sizes the set for `want` rows and re-inserts every row; -1 when out of memory. */
static int tab_rebuild(mem_store *m, size_t want)
{
    size_t cap = m->tab_cap ? m->tab_cap : 64;
    while (cap < want * 2) cap *= 2;
    if (cap != m->tab_cap) {
        uint32_t *t = facet_malloc(cap * sizeof *t);
        if (!t) return -1;
        free(m->tab);
        m->tab = t;
        m->tab_cap = cap;
    }
    memset(m->tab, 0, m->tab_cap * sizeof *m->tab);
    for (size_t r = 0; r < m->nrows; r++) tab_put(m, r);
    return 0;
}

static void mrow_free(mrow *r)
{
    free(r->collection);
    free(r->uuid);
    free(r->identity);
    free(r->vector);
    free(r->payload);
}

static long find_coll(mem_store *m, const char *name)
{
    for (size_t i = 0; i < m->ncolls; i++)
        if (strcmp(m->colls[i].name, name) == 0) return (long)i;
    return -1;
}

static long find_decl(const mem_store *m, const char *collection, const char *identity)
{
    for (size_t i = 0; i < m->ndecl; i++)
        if (!strcmp(m->decl[i].collection, collection) && !strcmp(m->decl[i].identity, identity))
            return (long)i;
    return -1;
}

/* Removes the declarations of `collection` (every one when identity is NULL). */
static void drop_decl(mem_store *m, const char *collection, const char *identity)
{
    size_t w = 0;
    for (size_t i = 0; i < m->ndecl; i++) {
        struct mdecl *d = &m->decl[i];
        if (!strcmp(d->collection, collection) && (!identity || !strcmp(d->identity, identity))) {
            free(d->collection);
            free(d->identity);
        } else {
            m->decl[w++] = *d;
        }
    }
    m->ndecl = w;
}

static int m_create(facet_store *s, const facet_collection_info *info)
{
    mem_store *m = (mem_store *)s;
    if (find_coll(m, info->name) >= 0)
        return facet_seterr(&s->err, FACET_E_EXISTS, "collection '%s' exists", info->name);
    facet_collection_info *c = facet_realloc(m->colls, (m->ncolls + 1) * sizeof *c);
    if (!c) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
    m->colls = c;
    c[m->ncolls++] = *info;
    return FACET_OK;
}

static int m_drop(facet_store *s, const char *name)
{
    mem_store *m = (mem_store *)s;
    long i = find_coll(m, name);
    if (i < 0) return facet_seterr(&s->err, FACET_E_NOT_FOUND, "no collection '%s'", name);
    m->colls[i] = m->colls[--m->ncolls];
    drop_decl(m, name, NULL);
    size_t w = 0;
    for (size_t r = 0; r < m->nrows; r++) {
        if (strcmp(m->rows[r].collection, name) == 0) mrow_free(&m->rows[r]);
        else m->rows[w++] = m->rows[r];
    }
    m->nrows = w;
    tab_rebuild(m, m->nrows); /* same or smaller: cannot fail */
    return FACET_OK;
}

static int m_get(facet_store *s, const char *name, facet_collection_info *out)
{
    mem_store *m = (mem_store *)s;
    long i = find_coll(m, name);
    if (i < 0) return facet_seterr(&s->err, FACET_E_NOT_FOUND, "no collection '%s'", name);
    *out = m->colls[i];
    return FACET_OK;
}

static int m_list(facet_store *s, facet_collection_info **out, size_t *n)
{
    mem_store *m = (mem_store *)s;
    *out = facet_malloc((m->ncolls ? m->ncolls : 1) * sizeof **out);
    if (!*out) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
    if (m->ncolls) memcpy(*out, m->colls, m->ncolls * sizeof **out);
    *n = m->ncolls;
    return FACET_OK;
}

static void *dup_bytes(const void *p, size_t n)
{
    void *d = facet_malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

static int m_insert(facet_store *s, const char *collection, const facet_store_row *rows, size_t n)
{
    mem_store *m = (mem_store *)s;
    if (find_coll(m, collection) < 0)
        return facet_seterr(&s->err, FACET_E_NOT_FOUND, "no collection '%s'", collection);
    if (m->nrows + n > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        while (cap < m->nrows + n) cap *= 2;
        mrow *r = facet_realloc(m->rows, cap * sizeof *r);
        if (!r) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
        m->rows = r;
        m->cap = cap;
    }
    if (m->nrows + n > m->tab_cap / 2 && tab_rebuild(m, m->nrows + n))
        return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
    for (size_t i = 0; i < n; i++) {
        int dup = tab_has(m, rows[i].uuid);
        for (size_t j = 0; j < i && !dup; j++) dup = strcmp(rows[j].uuid, rows[i].uuid) == 0;
        if (dup)
            return facet_seterr(&s->err, FACET_E_EXISTS, "faceprint %s exists", rows[i].uuid);
    }
    for (size_t i = 0; i < n; i++) {
        mrow r = {facet_strdup(collection), facet_strdup(rows[i].uuid),
                  facet_strdup(rows[i].identity), dup_bytes(rows[i].vector, rows[i].vector_size),
                  rows[i].payload ? dup_bytes(rows[i].payload, rows[i].payload_size) : NULL,
                  rows[i].vector_size, rows[i].payload_size};
        if (!r.collection || !r.uuid || !r.identity || !r.vector ||
            (rows[i].payload && !r.payload)) {
            mrow_free(&r);
            for (size_t j = 0; j < i; j++) mrow_free(&m->rows[--m->nrows]);
            return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
        }
        m->rows[m->nrows++] = r;
    }
    for (size_t i = m->nrows - n; i < m->nrows; i++) tab_put(m, i);
    return FACET_OK;
}

static int m_remove(facet_store *s, const char *collection, const char *uuid,
                    const char *identity, size_t *removed)
{
    mem_store *m = (mem_store *)s;
    size_t w = 0, k = 0;
    for (size_t r = 0; r < m->nrows; r++) {
        mrow *x = &m->rows[r];
        int hit = strcmp(x->collection, collection) == 0 &&
                  (uuid ? strcmp(x->uuid, uuid) == 0 : strcmp(x->identity, identity) == 0);
        if (hit) {
            mrow_free(x);
            k++;
        } else {
            m->rows[w++] = *x;
        }
    }
    m->nrows = w;
    if (k) tab_rebuild(m, m->nrows);
    if (!uuid) drop_decl(m, collection, identity);
    *removed = k;
    return FACET_OK;
}

static int m_scan(facet_store *s, const char *collection, int with_payload, facet_store_row_fn fn,
                  void *user)
{
    mem_store *m = (mem_store *)s;
    for (size_t r = 0; r < m->nrows; r++) {
        mrow *x = &m->rows[r];
        if (strcmp(x->collection, collection) != 0) continue;
        if (with_payload && !x->payload) continue;
        facet_store_row row = {x->uuid, x->identity, x->vector, x->vector_size,
                               with_payload ? x->payload : NULL, with_payload ? x->payload_size : 0};
        if (fn(user, &row)) break;
    }
    return FACET_OK;
}

static int m_get_row(facet_store *s, const char *collection, const char *uuid,
                     facet_store_row_fn fn, void *user)
{
    mem_store *m = (mem_store *)s;
    for (size_t r = 0; r < m->nrows; r++) {
        mrow *x = &m->rows[r];
        if (strcmp(x->collection, collection) != 0 || strcmp(x->uuid, uuid) != 0) continue;
        facet_store_row row = {x->uuid, x->identity, x->vector, x->vector_size, x->payload,
                               x->payload_size};
        fn(user, &row);
        return FACET_OK;
    }
    return facet_seterr(&s->err, FACET_E_NOT_FOUND, "no faceprint %s", uuid);
}

static int m_rename(facet_store *s, const char *collection, const char *from, const char *to,
                    size_t *renamed)
{
    mem_store *m = (mem_store *)s;
    size_t k = 0;
    /* all copies first, so a failure changes nothing */
    for (size_t r = 0; r < m->nrows; r++)
        k += strcmp(m->rows[r].collection, collection) == 0 && strcmp(m->rows[r].identity, from) == 0;
    char **names = facet_malloc((k ? k : 1) * sizeof *names);
    if (!names) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
    for (size_t i = 0; i < k; i++) {
        if (!(names[i] = facet_strdup(to))) {
            while (i--) free(names[i]);
            free(names);
            return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
        }
    }
    /* a declared `from` becomes a declared `to`: its copy made before anything changes */
    long d = find_decl(m, collection, from);
    char *to_decl = d >= 0 && find_decl(m, collection, to) < 0 ? facet_strdup(to) : NULL;
    if (d >= 0 && find_decl(m, collection, to) < 0 && !to_decl) {
        for (size_t i = 0; i < k; i++) free(names[i]);
        free(names);
        return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
    }
    size_t j = 0;
    for (size_t r = 0; r < m->nrows; r++) {
        mrow *x = &m->rows[r];
        if (strcmp(x->collection, collection) != 0 || strcmp(x->identity, from) != 0) continue;
        free(x->identity);
        x->identity = names[j++];
    }
    free(names);
    if (to_decl) {
        free(m->decl[d].identity);
        m->decl[d].identity = to_decl;
    } else if (d >= 0) {
        drop_decl(m, collection, from);
    }
    *renamed = k;
    return FACET_OK;
}

static int m_declare(facet_store *s, const char *collection, const char *identity)
{
    mem_store *m = (mem_store *)s;
    int has_rows = 0;
    for (size_t r = 0; r < m->nrows && !has_rows; r++)
        has_rows = !strcmp(m->rows[r].collection, collection) &&
                   !strcmp(m->rows[r].identity, identity);
    if (has_rows || find_decl(m, collection, identity) >= 0)
        return facet_seterr(&s->err, FACET_E_EXISTS, "identity '%s' exists in collection '%s'",
                            identity, collection);
    if (find_coll(m, collection) < 0)
        return facet_seterr(&s->err, FACET_E_NOT_FOUND, "no collection '%s'", collection);
    struct mdecl *v = facet_realloc(m->decl, (m->ndecl + 1) * sizeof *v);
    if (!v) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
    m->decl = v;
    struct mdecl d = {facet_strdup(collection), facet_strdup(identity)};
    if (!d.collection || !d.identity) {
        free(d.collection);
        free(d.identity);
        return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
    }
    m->decl[m->ndecl++] = d;
    return FACET_OK;
}

/* Unordered: the gallery sorts what it reads. */
static int m_declared(facet_store *s, const char *collection,
                      int (*fn)(void *user, const char *identity), void *user)
{
    mem_store *m = (mem_store *)s;
    for (size_t i = 0; i < m->ndecl; i++)
        if (!strcmp(m->decl[i].collection, collection) && fn(user, m->decl[i].identity)) break;
    return FACET_OK;
}

static void m_close(facet_store *s)
{
    mem_store *m = (mem_store *)s;
    for (size_t r = 0; r < m->nrows; r++) mrow_free(&m->rows[r]);
    free(m->rows);
    free(m->tab);
    free(m->colls);
    free(m->keys);
    for (size_t i = 0; i < m->ndecl; i++) {
        free(m->decl[i].collection);
        free(m->decl[i].identity);
    }
    free(m->decl);
    free(m);
}

/* No change log: nothing outside this handle can change its data. */
static const facet_store_ops mem_ops = {
    .name = "memory",
    .create_collection = m_create,
    .drop_collection = m_drop,
    .get_collection = m_get,
    .list_collections = m_list,
    .insert = m_insert,
    .remove = m_remove,
    .scan = m_scan,
    .close = m_close,
    .get = m_get_row,
    .rename = m_rename,
    .declare = m_declare,
    .declared = m_declared,
};

/* ---- API keys ---- */

static int mk_put(facet_store *s, const facet_key_row *row)
{
    mem_store *m = (mem_store *)s;
    for (size_t i = 0; i < m->nkeys; i++)
        if (!strcmp(m->keys[i].hash, row->hash) || !strcmp(m->keys[i].id, row->id))
            return facet_seterr(&s->err, FACET_E_EXISTS, "key exists");
    facet_key_row *nk = facet_realloc(m->keys, (m->nkeys + 1) * sizeof *nk);
    if (!nk) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for a key");
    m->keys = nk;
    m->keys[m->nkeys++] = *row;
    return FACET_OK;
}

static int mk_get(facet_store *s, const char *hash, facet_key_row *out)
{
    mem_store *m = (mem_store *)s;
    for (size_t i = 0; i < m->nkeys; i++)
        if (!strcmp(m->keys[i].hash, hash)) {
            *out = m->keys[i];
            return FACET_OK;
        }
    return facet_seterr(&s->err, FACET_E_NOT_FOUND, "no such key");
}

static int mk_list(facet_store *s, facet_key_row **out, size_t *n)
{
    mem_store *m = (mem_store *)s;
    *out = facet_malloc((m->nkeys ? m->nkeys : 1) * sizeof **out);
    if (!*out) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
    if (m->nkeys) memcpy(*out, m->keys, m->nkeys * sizeof **out);
    *n = m->nkeys;
    return FACET_OK;
}

static int mk_del(facet_store *s, const char *id)
{
    mem_store *m = (mem_store *)s;
    for (size_t i = 0; i < m->nkeys; i++)
        if (!strcmp(m->keys[i].id, id)) {
            memmove(&m->keys[i], &m->keys[i + 1], (m->nkeys - i - 1) * sizeof *m->keys);
            m->nkeys--;
            return FACET_OK;
        }
    return facet_seterr(&s->err, FACET_E_NOT_FOUND, "no key with id '%s'", id);
}

static const facet_store_key_ops mem_key_ops = {mk_put, mk_get, mk_list, mk_del};

int facet_store_open_memory(facet_store **out, facet_err *e)
{
    mem_store *m = facet_calloc(1, sizeof *m);
    if (!m) return facet_seterr(e, FACET_E_NO_MEMORY, "no memory for the store");
    m->base.ops = &mem_ops;
    m->base.keys = &mem_key_ops;
    *out = &m->base;
    return FACET_OK;
}
