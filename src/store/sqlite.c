/*
 * sqlite.c - the embedded store. WAL journal with synchronous=FULL: every commit fsyncs the
 * WAL, so an enrolment that returned survives a crash or power loss (NORMAL would only survive
 * a process crash). Every statement is prepared once with bound parameters. Loading reads
 * each vector blob in place (sqlite3_column_blob, no copy) straight into the caller's matrix,
 * in rowid order through the collection index, so a million rows take seconds.
 *
 * Every write appends to the change log (see store.h) inside its BEGIN IMMEDIATE transaction;
 * SQLite's single writer makes sequence numbers commit in order. Other processes on the same
 * file find the changes by polling (there is no notification).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

enum {
    Q_CREATE, Q_GET, Q_LIST, Q_DROP_ROWS, Q_DROP_COLL, Q_INSERT, Q_DEL_UUID, Q_DEL_ID,
    Q_SCAN, Q_SCAN_PAYLOAD, Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_GET_ROW, Q_RENAME, Q_LOG_RENAME,
    Q_LOG_INSERT, Q_LOG_DEL_UUID,
    Q_LOG_DEL_ID, Q_LOG_DROP, Q_CHANGES, Q_RANGE, Q_PRUNE, Q_PING, Q_DECLARE, Q_DECLARED,
    Q_UNDECLARE, Q_REDECLARE, Q_DROP_IDS, Q_LOG_IDS, Q_COUNT
};

static const char *const sql_text[Q_COUNT] = {
    "INSERT INTO collections(name, model_id, dim, dtype, keep_payload, created) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    "SELECT name, model_id, dim, dtype, keep_payload, created FROM collections WHERE name = ?1",
    "SELECT name, model_id, dim, dtype, keep_payload, created FROM collections ORDER BY name",
    "DELETE FROM faceprints WHERE collection = ?1",
    "DELETE FROM collections WHERE name = ?1",
    "INSERT INTO faceprints(uuid, collection, identity, vector, payload, created) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    "DELETE FROM faceprints WHERE collection = ?1 AND uuid = ?2",
    "DELETE FROM faceprints WHERE collection = ?1 AND identity = ?2",
    "SELECT uuid, identity, vector FROM faceprints INDEXED BY faceprints_collection "
    "WHERE collection = ?1",
    "SELECT uuid, identity, vector, payload FROM faceprints INDEXED BY faceprints_collection "
    "WHERE collection = ?1 AND payload IS NOT NULL",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SELECT uuid, identity, vector, payload FROM faceprints WHERE collection = ?1 AND uuid = ?2",
    "UPDATE faceprints SET identity = ?3 WHERE collection = ?1 AND identity = ?2",
    "INSERT INTO changes(collection, op, uuid, created) SELECT collection, o.op, uuid, ?3 "
    "FROM (SELECT 'D' AS op, 1 AS k UNION ALL SELECT 'E', 2) o, faceprints "
    "WHERE collection = ?1 AND identity = ?2 ORDER BY o.k",
    "INSERT INTO changes(collection, op, uuid, created) VALUES(?1, 'E', ?2, ?3)",
    "INSERT INTO changes(collection, op, uuid, created) "
    "SELECT collection, 'D', uuid, ?3 FROM faceprints WHERE collection = ?1 AND uuid = ?2",
    "INSERT INTO changes(collection, op, uuid, created) "
    "SELECT collection, 'D', uuid, ?3 FROM faceprints WHERE collection = ?1 AND identity = ?2",
    "INSERT INTO changes(collection, op, coll_created, created) "
    "SELECT name, 'X', created, ?2 FROM collections WHERE name = ?1",
    "SELECT c.seq, c.collection, c.op, c.uuid, c.coll_created, f.identity, f.vector "
    "FROM changes c LEFT JOIN faceprints f ON c.op = 'E' AND f.uuid = c.uuid AND "
    "f.collection = c.collection WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2",
    "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM changes",
    "DELETE FROM changes WHERE created < ?1 AND seq < (SELECT max(seq) FROM changes)",
    "SELECT 1",
    /* an identity with faceprints exists through them: declaring it inserts nothing */
    "INSERT INTO identities(collection, identity, created) SELECT ?1, ?2, ?3 WHERE NOT EXISTS "
    "(SELECT 1 FROM faceprints WHERE collection = ?1 AND identity = ?2) AND EXISTS "
    "(SELECT 1 FROM collections WHERE name = ?1)",
    "SELECT identity FROM identities WHERE collection = ?1 ORDER BY identity",
    "DELETE FROM identities WHERE collection = ?1 AND identity = ?2",
    "INSERT OR IGNORE INTO identities(collection, identity, created) "
    "SELECT collection, ?3, created FROM identities WHERE collection = ?1 AND identity = ?2",
    "DELETE FROM identities WHERE collection = ?1",
    "INSERT INTO changes(collection, op, created) VALUES(?1, 'S', ?2)",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS collections ("
    " name TEXT PRIMARY KEY, model_id TEXT NOT NULL, dim INTEGER NOT NULL,"
    " dtype TEXT NOT NULL, keep_payload INTEGER NOT NULL, created BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS faceprints ("
    " uuid TEXT PRIMARY KEY, collection TEXT NOT NULL REFERENCES collections(name),"
    " identity TEXT NOT NULL, vector BLOB NOT NULL, payload BLOB, created BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS faceprints_collection ON faceprints(collection);"
    "CREATE INDEX IF NOT EXISTS faceprints_identity ON faceprints(collection, identity);"
    "CREATE TABLE IF NOT EXISTS changes ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, op TEXT NOT NULL,"
    " uuid TEXT, coll_created BIGINT, created BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS identities ("
    " collection TEXT NOT NULL REFERENCES collections(name), identity TEXT NOT NULL,"
    " created BIGINT NOT NULL, PRIMARY KEY (collection, identity));";

typedef struct sql_store {
    facet_store base;
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];
} sql_store;

static int fail(sql_store *s, int status, const char *what)
{
    return facet_seterr(&s->base.err, status, "sqlite: %s: %s", what, sqlite3_errmsg(s->db));
}

static sqlite3_stmt *stmt(sql_store *s, int i)
{
    sqlite3_reset(s->q[i]);
    sqlite3_clear_bindings(s->q[i]);
    return s->q[i];
}

static int exec_simple(sql_store *s, int i)
{
    sqlite3_stmt *st = stmt(s, i);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FACET_OK : fail(s, FACET_E_STORE, sql_text[i]);
}

/* Steps statement i with text parameters ?1 = a, ?2 = b (if not NULL) and an integer `n` at
 * position n_at (0: none); *changes (may be NULL) gets the rows it changed. SQLITE_DONE or the
 * failing code. */
static int step_with(sql_store *s, int i, const char *a, const char *b, int n_at, int64_t n,
                     size_t *changes)
{
    sqlite3_stmt *st = stmt(s, i);
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b) sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    if (n_at) sqlite3_bind_int64(st, n_at, n);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (changes) *changes = rc == SQLITE_DONE ? (size_t)sqlite3_changes(s->db) : 0;
    return rc;
}

/* Inside a write transaction: removes the declaration of `identity` (or, with `to`, makes it a
 * declaration of `to`) and logs 'S' when there was one. SQLITE_DONE or the failing code. */
static int undeclare(sql_store *s, const char *collection, const char *identity, const char *to,
                     int64_t now)
{
    int rc = SQLITE_DONE;
    if (to) {
        sqlite3_stmt *st = stmt(s, Q_REDECLARE);
        sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, identity, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
    }
    size_t k = 0;
    if (rc == SQLITE_DONE) rc = step_with(s, Q_UNDECLARE, collection, identity, 0, 0, &k);
    if (rc == SQLITE_DONE && k) rc = step_with(s, Q_LOG_IDS, collection, NULL, 2, now, NULL);
    return rc;
}

static void row_to_info(sqlite3_stmt *st, facet_collection_info *o)
{
    memset(o, 0, sizeof *o);
    const char *name = (const char *)sqlite3_column_text(st, 0);
    const char *model = (const char *)sqlite3_column_text(st, 1);
    snprintf(o->name, sizeof o->name, "%s", name ? name : "");
    snprintf(o->model_id, sizeof o->model_id, "%s", model ? model : "");
    o->dim = sqlite3_column_int(st, 2);
    const char *dt = (const char *)sqlite3_column_text(st, 3);
    o->dtype = dt && strcmp(dt, "f16") == 0 ? FACET_DTYPE_F16 : FACET_DTYPE_F32;
    o->keep_payload = sqlite3_column_int(st, 4) != 0;
    o->created = sqlite3_column_int64(st, 5);
}

static int q_create(facet_store *b, const facet_collection_info *info)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st = stmt(s, Q_CREATE);
    sqlite3_bind_text(st, 1, info->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, info->model_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, info->dim);
    sqlite3_bind_text(st, 4, info->dtype == FACET_DTYPE_F16 ? "f16" : "f32", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, info->keep_payload);
    sqlite3_bind_int64(st, 6, info->created);
    int r = exec_simple(s, Q_BEGIN);
    if (r) return r;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    /* SQLite does not enforce the foreign key: declarations left by a process that dropped
     * the collection without knowing the identities table (an older facet) must not pass to
     * a new collection of the same name */
    if (rc == SQLITE_DONE) rc = step_with(s, Q_DROP_IDS, info->name, NULL, 0, 0, NULL);
    if (rc == SQLITE_DONE && !(r = exec_simple(s, Q_COMMIT))) return FACET_OK;
    r = rc == SQLITE_CONSTRAINT
            ? facet_seterr(&b->err, FACET_E_EXISTS, "collection '%s' exists", info->name)
            : r ? r : fail(s, FACET_E_STORE, "create collection");
    exec_simple(s, Q_ROLLBACK);
    return r;
}

static int q_get(facet_store *b, const char *name, facet_collection_info *out)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st = stmt(s, Q_GET);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        row_to_info(st, out);
        sqlite3_reset(st);
        return FACET_OK;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return facet_seterr(&b->err, FACET_E_NOT_FOUND, "no collection '%s'", name);
    return fail(s, FACET_E_STORE, "get collection");
}

static int q_list(facet_store *b, facet_collection_info **out, size_t *n)
{
    sql_store *s = (sql_store *)b;
    size_t cnt = 0, cap = 8;
    facet_collection_info *v = facet_malloc(cap * sizeof *v);
    if (!v) return facet_seterr(&b->err, FACET_E_NO_MEMORY, "no memory");
    sqlite3_stmt *st = stmt(s, Q_LIST);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            facet_collection_info *w = facet_realloc(v, 2 * cap * sizeof *v);
            if (!w) {
                free(v);
                sqlite3_reset(st);
                return facet_seterr(&b->err, FACET_E_NO_MEMORY, "no memory");
            }
            v = w;
            cap *= 2;
        }
        row_to_info(st, &v[cnt++]);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(v);
        return fail(s, FACET_E_STORE, "list collections");
    }
    *out = v;
    *n = cnt;
    return FACET_OK;
}

static int q_drop(facet_store *b, const char *name)
{
    sql_store *s = (sql_store *)b;
    int r = exec_simple(s, Q_BEGIN);
    if (r) return r;
    sqlite3_stmt *st = stmt(s, Q_LOG_DROP);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, facet_unix_ms());
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) goto fail;
    st = stmt(s, Q_DROP_ROWS);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) goto fail;
    rc = step_with(s, Q_DROP_IDS, name, NULL, 0, 0, NULL);
    if (rc != SQLITE_DONE) goto fail;
    st = stmt(s, Q_DROP_COLL);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) goto fail;
    if (sqlite3_changes(s->db) == 0) {
        exec_simple(s, Q_ROLLBACK);
        return facet_seterr(&b->err, FACET_E_NOT_FOUND, "no collection '%s'", name);
    }
    return exec_simple(s, Q_COMMIT);
fail:
    r = fail(s, FACET_E_STORE, "drop collection");
    exec_simple(s, Q_ROLLBACK);
    return r;
}

static int q_insert(facet_store *b, const char *collection, const facet_store_row *rows, size_t n)
{
    sql_store *s = (sql_store *)b;
    int r = exec_simple(s, Q_BEGIN);
    if (r) return r;
    int64_t now = facet_unix_ms();
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = stmt(s, Q_INSERT);
        sqlite3_bind_text(st, 1, rows[i].uuid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, collection, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, rows[i].identity, -1, SQLITE_STATIC);
        sqlite3_bind_blob64(st, 4, rows[i].vector, rows[i].vector_size, SQLITE_STATIC);
        if (rows[i].payload)
            sqlite3_bind_blob64(st, 5, rows[i].payload, rows[i].payload_size, SQLITE_STATIC);
        else sqlite3_bind_null(st, 5);
        sqlite3_bind_int64(st, 6, now);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
            st = stmt(s, Q_LOG_INSERT);
            sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, rows[i].uuid, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, now);
            rc = sqlite3_step(st);
            sqlite3_reset(st);
        }
        if (rc != SQLITE_DONE) {
            r = fail(s, FACET_E_STORE, "insert faceprint");
            exec_simple(s, Q_ROLLBACK);
            return r;
        }
    }
    r = exec_simple(s, Q_COMMIT);
    if (r) exec_simple(s, Q_ROLLBACK);
    return r;
}

static int q_remove(facet_store *b, const char *collection, const char *uuid,
                    const char *identity, size_t *removed)
{
    sql_store *s = (sql_store *)b;
    int r = exec_simple(s, Q_BEGIN);
    if (r) return r;
    /* the log rows first: they select what the delete is about to remove */
    static const int steps[2][2] = {{Q_LOG_DEL_UUID, Q_DEL_UUID}, {Q_LOG_DEL_ID, Q_DEL_ID}};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st = stmt(s, steps[uuid ? 0 : 1][i]);
        sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, uuid ? uuid : identity, -1, SQLITE_STATIC);
        if (i == 0) sqlite3_bind_int64(st, 3, facet_unix_ms());
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            r = fail(s, FACET_E_STORE, "remove faceprint");
            exec_simple(s, Q_ROLLBACK);
            return r;
        }
    }
    size_t k = (size_t)sqlite3_changes(s->db);
    if (!uuid && undeclare(s, collection, identity, NULL, facet_unix_ms()) != SQLITE_DONE) {
        r = fail(s, FACET_E_STORE, "remove a declared identity");
        exec_simple(s, Q_ROLLBACK);
        return r;
    }
    r = exec_simple(s, Q_COMMIT);
    if (r) {
        exec_simple(s, Q_ROLLBACK);
        return r;
    }
    *removed = k;
    return FACET_OK;
}

static int q_scan(facet_store *b, const char *collection, int with_payload, facet_store_row_fn fn,
                  void *user)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st = stmt(s, with_payload ? Q_SCAN_PAYLOAD : Q_SCAN);
    sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        facet_store_row row = {0};
        row.uuid = (const char *)sqlite3_column_text(st, 0);
        row.identity = (const char *)sqlite3_column_text(st, 1);
        row.vector = sqlite3_column_blob(st, 2);
        row.vector_size = (size_t)sqlite3_column_bytes(st, 2);
        if (with_payload) {
            row.payload = sqlite3_column_blob(st, 3);
            row.payload_size = (size_t)sqlite3_column_bytes(st, 3);
            if (!row.payload) row.payload = "";
        }
        if (fn(user, &row)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FACET_OK : fail(s, FACET_E_STORE, "scan faceprints");
}

static int q_get_row(facet_store *b, const char *collection, const char *uuid,
                     facet_store_row_fn fn, void *user)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st = stmt(s, Q_GET_ROW);
    sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, uuid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        facet_store_row row = {0};
        row.uuid = (const char *)sqlite3_column_text(st, 0);
        row.identity = (const char *)sqlite3_column_text(st, 1);
        row.vector = sqlite3_column_blob(st, 2);
        row.vector_size = (size_t)sqlite3_column_bytes(st, 2);
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
            row.payload = sqlite3_column_blob(st, 3);
            row.payload_size = (size_t)sqlite3_column_bytes(st, 3);
            if (!row.payload) row.payload = ""; /* an empty blob */
        }
        fn(user, &row);
        sqlite3_reset(st);
        return FACET_OK;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return facet_seterr(&b->err, FACET_E_NOT_FOUND, "no faceprint %s", uuid);
    return fail(s, FACET_E_STORE, "get faceprint");
}

static int q_rename(facet_store *b, const char *collection, const char *from, const char *to,
                    size_t *renamed)
{
    sql_store *s = (sql_store *)b;
    int r = exec_simple(s, Q_BEGIN);
    if (r) return r;
    /* the log rows first: they select the rows about to be renamed */
    static const int steps[2] = {Q_LOG_RENAME, Q_RENAME};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st = stmt(s, steps[i]);
        sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
        if (i == 0) sqlite3_bind_int64(st, 3, facet_unix_ms());
        else sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            r = fail(s, FACET_E_STORE, "rename identity");
            exec_simple(s, Q_ROLLBACK);
            return r;
        }
    }
    size_t k = (size_t)sqlite3_changes(s->db);
    if (undeclare(s, collection, from, to, facet_unix_ms()) != SQLITE_DONE) {
        r = fail(s, FACET_E_STORE, "rename a declared identity");
        exec_simple(s, Q_ROLLBACK);
        return r;
    }
    r = exec_simple(s, Q_COMMIT);
    if (r) {
        exec_simple(s, Q_ROLLBACK);
        return r;
    }
    *renamed = k;
    return FACET_OK;
}

static int q_declare(facet_store *b, const char *collection, const char *identity)
{
    sql_store *s = (sql_store *)b;
    int r = exec_simple(s, Q_BEGIN);
    if (r) return r;
    int64_t now = facet_unix_ms();
    size_t k = 0;
    int rc = step_with(s, Q_DECLARE, collection, identity, 3, now, &k);
    if (rc == SQLITE_DONE && k) rc = step_with(s, Q_LOG_IDS, collection, NULL, 2, now, NULL);
    if (rc != SQLITE_DONE || !k) {
        /* nothing inserted: the identity has faceprints, or there is no such collection */
        facet_collection_info info;
        if (rc != SQLITE_DONE && rc != SQLITE_CONSTRAINT)
            r = fail(s, FACET_E_STORE, "declare identity");
        else if (rc != SQLITE_DONE || !(r = q_get(b, collection, &info))) /* else NOT_FOUND */
            r = facet_seterr(&b->err, FACET_E_EXISTS, "identity '%s' exists in collection '%s'",
                             identity, collection);
        exec_simple(s, Q_ROLLBACK);
        return r;
    }
    r = exec_simple(s, Q_COMMIT);
    if (r) exec_simple(s, Q_ROLLBACK);
    return r;
}

static int q_declared(facet_store *b, const char *collection,
                      int (*fn)(void *user, const char *identity), void *user)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st = stmt(s, Q_DECLARED);
    sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (fn(user, id ? id : "")) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FACET_OK : fail(s, FACET_E_STORE, "read declared identities");
}

static int q_changes(facet_store *b, int64_t after, int limit, facet_change_fn fn, void *user)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st = stmt(s, Q_CHANGES);
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, limit);
    int rc, bad = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        facet_change c = {0};
        const char *op = (const char *)sqlite3_column_text(st, 2);
        c.seq = sqlite3_column_int64(st, 0);
        c.collection = (const char *)sqlite3_column_text(st, 1);
        c.op = op && op[0] && !op[1] ? op[0] : 0;
        c.uuid = (const char *)sqlite3_column_text(st, 3);
        c.coll_created = sqlite3_column_int64(st, 4);
        if (sqlite3_column_type(st, 5) != SQLITE_NULL && sqlite3_column_type(st, 6) != SQLITE_NULL) {
            c.identity = (const char *)sqlite3_column_text(st, 5);
            c.vector = sqlite3_column_blob(st, 6);
            c.vector_size = (size_t)sqlite3_column_bytes(st, 6);
        }
        if (!c.collection || !c.op) {
            bad = 1;
            break;
        }
        if (fn(user, &c)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    if (bad) return facet_seterr(&b->err, FACET_E_FORMAT, "sqlite: a corrupt change log row");
    return rc == SQLITE_DONE ? FACET_OK : fail(s, FACET_E_STORE, "read the change log");
}

static int q_seq_range(facet_store *b, int64_t *lo, int64_t *hi)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st = stmt(s, Q_RANGE);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *lo = sqlite3_column_int64(st, 0);
        *hi = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? FACET_OK : fail(s, FACET_E_STORE, "read the change log");
}

static int q_prune(facet_store *b, int64_t before_ms)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st = stmt(s, Q_PRUNE);
    sqlite3_bind_int64(st, 1, before_ms);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FACET_OK : fail(s, FACET_E_STORE, "prune the change log");
}

static int q_ping(facet_store *b)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st = stmt(s, Q_PING);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? FACET_OK : fail(s, FACET_E_STORE, "ping");
}

static void q_close(facet_store *b)
{
    sql_store *s = (sql_store *)b;
    for (int i = 0; i < Q_COUNT; i++) sqlite3_finalize(s->q[i]);
    sqlite3_close(s->db);
    free(s);
}

/* ---- API keys: rare calls, so statements are prepared per call ---- */

static const char key_schema[] =
    "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL, collection TEXT NOT NULL, created BIGINT NOT NULL);";

static int key_stmt(sql_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return fail(s, FACET_E_STORE, "prepare a key statement");
    return FACET_OK;
}

static void row_to_key(sqlite3_stmt *st, facet_key_row *k)
{
    memset(k, 0, sizeof *k);
    const char *c[4];
    for (int i = 0; i < 4; i++) c[i] = (const char *)sqlite3_column_text(st, i);
    snprintf(k->id, sizeof k->id, "%s", c[0] ? c[0] : "");
    snprintf(k->hash, sizeof k->hash, "%s", c[1] ? c[1] : "");
    snprintf(k->role, sizeof k->role, "%s", c[2] ? c[2] : "");
    snprintf(k->collection, sizeof k->collection, "%s", c[3] ? c[3] : "");
    k->created = sqlite3_column_int64(st, 4);
}

static int qk_put(facet_store *b, const facet_key_row *k)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st;
    int rc = key_stmt(s, "INSERT INTO api_keys(id, hash, role, collection, created) "
                         "VALUES(?1, ?2, ?3, ?4, ?5)", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, k->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->collection, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, k->created);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r == SQLITE_CONSTRAINT) return facet_seterr(&b->err, FACET_E_EXISTS, "key exists");
    return r == SQLITE_DONE ? FACET_OK : fail(s, FACET_E_STORE, "insert key");
}

static int qk_get(facet_store *b, const char *hash, facet_key_row *out)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st;
    int rc = key_stmt(s, "SELECT id, hash, role, collection, created FROM api_keys "
                         "WHERE hash = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) row_to_key(st, out);
    sqlite3_finalize(st);
    if (r == SQLITE_ROW) return FACET_OK;
    if (r == SQLITE_DONE) return facet_seterr(&b->err, FACET_E_NOT_FOUND, "no such key");
    return fail(s, FACET_E_STORE, "look up key");
}

static int qk_list(facet_store *b, facet_key_row **out, size_t *n)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st;
    int rc = key_stmt(s, "SELECT id, hash, role, collection, created FROM api_keys "
                         "ORDER BY created, id", &st);
    if (rc) return rc;
    size_t cap = 16, k = 0;
    facet_key_row *rows = facet_malloc(cap * sizeof *rows);
    int r = SQLITE_DONE;
    while (rows && (r = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            facet_key_row *nr = facet_realloc(rows, 2 * cap * sizeof *rows);
            if (!nr) break;
            rows = nr;
            cap *= 2;
        }
        row_to_key(st, &rows[k++]);
    }
    if (!rows || r == SQLITE_ROW) {
        sqlite3_finalize(st);
        free(rows);
        return facet_seterr(&b->err, FACET_E_NO_MEMORY, "no memory for the key list");
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        free(rows);
        return fail(s, FACET_E_STORE, "list keys");
    }
    *out = rows;
    *n = k;
    return FACET_OK;
}

static int qk_del(facet_store *b, const char *id)
{
    sql_store *s = (sql_store *)b;
    sqlite3_stmt *st;
    int rc = key_stmt(s, "DELETE FROM api_keys WHERE id = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) return fail(s, FACET_E_STORE, "delete key");
    if (sqlite3_changes(s->db) == 0)
        return facet_seterr(&b->err, FACET_E_NOT_FOUND, "no key with id '%s'", id);
    return FACET_OK;
}

static const facet_store_key_ops sqlite_key_ops = {qk_put, qk_get, qk_list, qk_del};

static const facet_store_ops sqlite_ops = {
    .name = "sqlite",
    .create_collection = q_create,
    .drop_collection = q_drop,
    .get_collection = q_get,
    .list_collections = q_list,
    .insert = q_insert,
    .remove = q_remove,
    .scan = q_scan,
    .close = q_close,
    .get = q_get_row,
    .rename = q_rename,
    .declare = q_declare,
    .declared = q_declared,
    .changes = q_changes,
    .seq_range = q_seq_range,
    .prune = q_prune,
    .ping = q_ping,
};

int facet_store_open_sqlite(const char *path, unsigned flags, facet_store **out, facet_err *e)
{
    int status;
    sql_store *s = facet_calloc(1, sizeof *s);
    if (!s) return facet_seterr(e, FACET_E_NO_MEMORY, "no memory for the store");
    s->base.ops = &sqlite_ops;
    s->base.keys = &sqlite_key_ops;
    int create = flags & FACET_STORE_MUST_EXIST ? 0 : SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | create | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc == SQLITE_CANTOPEN && !create && access(path, F_OK) != 0) {
        status = facet_seterr(e, FACET_E_NOT_FOUND, "sqlite: '%s' does not exist", path);
        goto fail;
    }
    if (rc != SQLITE_OK) {
        status = facet_seterr(e, FACET_E_IO, "sqlite: cannot open '%s': %s", path,
                     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 10000);
    char *msg = NULL;
    rc = sqlite3_exec(s->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, schema, NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, key_schema, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        status = facet_seterr(e, rc == SQLITE_NOTADB ? FACET_E_FORMAT : FACET_E_STORE,
                     "sqlite: cannot set up '%s': %s", path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        goto fail;
    }
    for (int i = 0; i < Q_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i],
                               NULL) != SQLITE_OK) {
            status = facet_seterr(e, FACET_E_STORE, "sqlite: cannot prepare '%s': %s", sql_text[i],
                         sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    *out = &s->base;
    return FACET_OK;
fail:
    q_close(&s->base);
    return status;
}
