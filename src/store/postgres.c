/*
 * postgres.c - the PostgreSQL store through libpq: the same schema as sqlite.c (bytea for the
 * blobs), named prepared statements with parameters only, binary transfer of the blobs, and
 * single-row mode for scans so a large collection streams instead of being buffered whole in
 * the client. With the server's default synchronous_commit=on a returned COMMIT is durable.
 *
 * Every write also appends to the change log (see store.h) under pg_advisory_xact_lock, so
 * sequence numbers commit in order across all the processes that share the database, and
 * sends NOTIFY facet_changes, which PostgreSQL delivers at commit to every listener.
 *
 * A server that goes away: a failed call returns FACET_E_STORE; the next call notices the
 * dead connection (libpq marks it bad, or its socket reports the server's goodbye before we
 * send) and reconnects with PQreset, preparing the statements again, at most once every
 * RETRY_MS so that callers fail fast while the server is down. A statement that failed
 * inside a transaction is not retried: its outcome is unknown to us, and the change log tells
 * every process what did commit. Connecting gives up after connect_timeout (default 5 s).
 * The follower's listener is a second connection, owned by the follower thread alone.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define RETRY_MS 500
#define CHANGE_LOCK "7123401" /* the advisory lock that orders the change log */

typedef struct pg_store {
    facet_store base;
    PGconn *conn;
    char *conninfo;
    double next_try;  /* facet_now_ms() before which a lost connection is not retried */
    PGconn *listener; /* follower thread only */
    double listener_next_try;
} pg_store;

static const struct {
    const char *name, *sql;
    int nparams;
} stmts[] = {
    {"f_create", "INSERT INTO collections(name, model_id, dim, dtype, keep_payload, created) "
                 "VALUES($1, $2, $3::integer, $4, $5::integer, $6::bigint)", 6},
    {"f_get", "SELECT name, model_id, dim, dtype, keep_payload, created FROM collections "
              "WHERE name = $1", 1},
    {"f_list", "SELECT name, model_id, dim, dtype, keep_payload, created FROM collections "
               "ORDER BY name", 0},
    {"f_drop_rows", "DELETE FROM faceprints WHERE collection = $1", 1},
    {"f_drop_coll", "DELETE FROM collections WHERE name = $1", 1},
    {"f_log_drop", "INSERT INTO changes(collection, op, coll_created, created) "
                   "SELECT name, 'X', created, $2::bigint FROM collections WHERE name = $1", 2},
    {"f_insert", "WITH f AS (INSERT INTO faceprints(uuid, collection, identity, vector, payload, "
                 "created) VALUES($1, $2, $3, $4::bytea, $5::bytea, $6::bigint) RETURNING uuid) "
                 "INSERT INTO changes(collection, op, uuid, created) "
                 "SELECT $2, 'E', uuid, $6::bigint FROM f", 6},
    {"f_del_uuid", "WITH d AS (DELETE FROM faceprints WHERE collection = $1 AND uuid = $2 "
                   "RETURNING uuid) INSERT INTO changes(collection, op, uuid, created) "
                   "SELECT $1, 'D', uuid, $3::bigint FROM d", 3},
    {"f_del_id", "WITH d AS (DELETE FROM faceprints WHERE collection = $1 AND identity = $2 "
                 "RETURNING uuid) INSERT INTO changes(collection, op, uuid, created) "
                 "SELECT $1, 'D', uuid, $3::bigint FROM d", 3},
    {"f_get_row", "SELECT uuid, identity, vector, payload FROM faceprints "
                  "WHERE collection = $1 AND uuid = $2", 2},
    {"f_log_rename", "INSERT INTO changes(collection, op, uuid, created) "
                     "SELECT collection, o.op, uuid, $3::bigint FROM (VALUES ('D', 1), ('E', 2)) "
                     "o(op, k), faceprints WHERE collection = $1 AND identity = $2 ORDER BY o.k",
     3},
    {"f_rename", "UPDATE faceprints SET identity = $3 WHERE collection = $1 AND identity = $2", 3},
    {"f_lock", "SELECT pg_advisory_xact_lock(" CHANGE_LOCK ")", 0},
    {"f_changes", "SELECT c.seq, c.collection, c.op, c.uuid, c.coll_created, f.identity, "
                  "f.vector FROM changes c LEFT JOIN faceprints f ON c.op = 'E' AND "
                  "f.uuid = c.uuid AND f.collection = c.collection WHERE c.seq > $1::bigint "
                  "ORDER BY c.seq LIMIT $2::integer", 2},
    {"f_range", "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM changes", 0},
    {"f_prune", "DELETE FROM changes WHERE created < $1::bigint AND "
                "seq < (SELECT max(seq) FROM changes)", 1},
    /* an identity with faceprints exists through them: declaring it inserts nothing */
    {"f_declare", "WITH i AS (INSERT INTO identities(collection, identity, created) "
                  "SELECT $1, $2, $3::bigint WHERE NOT EXISTS (SELECT 1 FROM faceprints "
                  "WHERE collection = $1 AND identity = $2) ON CONFLICT DO NOTHING RETURNING 1) "
                  "INSERT INTO changes(collection, op, created) SELECT $1, 'S', $3::bigint FROM i",
     3},
    {"f_declared", "SELECT identity FROM identities WHERE collection = $1 "
                   "ORDER BY identity COLLATE \"C\"", 1},
    {"f_redeclare", "INSERT INTO identities(collection, identity, created) SELECT collection, "
                    "$3, created FROM identities WHERE collection = $1 AND identity = $2 "
                    "ON CONFLICT DO NOTHING", 3},
    {"f_undeclare", "WITH d AS (DELETE FROM identities WHERE collection = $1 AND identity = $2 "
                    "RETURNING 1) INSERT INTO changes(collection, op, created) "
                    "SELECT $1, 'S', $3::bigint WHERE EXISTS (SELECT 1 FROM d)", 3},
    {"f_drop_ids", "DELETE FROM identities WHERE collection = $1", 1},
    {"f_scan", "SELECT uuid, identity, vector FROM faceprints WHERE collection = $1", 1},
    {"f_scan_payload", "SELECT uuid, identity, vector, payload FROM faceprints "
                       "WHERE collection = $1 AND payload IS NOT NULL", 1},
};

static const char schema[] =
    "SELECT pg_advisory_xact_lock(7123400);"
    "CREATE TABLE IF NOT EXISTS collections ("
    " name TEXT PRIMARY KEY, model_id TEXT NOT NULL, dim INTEGER NOT NULL,"
    " dtype TEXT NOT NULL, keep_payload INTEGER NOT NULL, created BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS faceprints ("
    " uuid TEXT PRIMARY KEY, collection TEXT NOT NULL REFERENCES collections(name),"
    " identity TEXT NOT NULL, vector BYTEA NOT NULL, payload BYTEA, created BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS faceprints_collection ON faceprints(collection);"
    "CREATE INDEX IF NOT EXISTS faceprints_identity ON faceprints(collection, identity);"
    "CREATE TABLE IF NOT EXISTS changes ("
    " seq BIGSERIAL PRIMARY KEY, collection TEXT NOT NULL, op TEXT NOT NULL, uuid TEXT,"
    " coll_created BIGINT, created BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS identities ("
    " collection TEXT NOT NULL REFERENCES collections(name), identity TEXT NOT NULL,"
    " created BIGINT NOT NULL, PRIMARY KEY (collection, identity));";

static int pfail(pg_store *s, PGresult *r, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int st = state && strcmp(state, "23505") == 0 ? FACET_E_EXISTS : FACET_E_STORE;
    const char *msg = r ? PQresultErrorMessage(r) : "";
    if (!msg || !*msg) msg = PQerrorMessage(s->conn);
    facet_seterr(&s->base.err, st, "postgres: %s: %s", what, msg);
    /* strip libpq's trailing newline */
    size_t n = strlen(s->base.err.msg);
    if (n && s->base.err.msg[n - 1] == '\n') s->base.err.msg[n - 1] = 0;
    PQclear(r);
    return st;
}

/* A connection with a connect_timeout unless the URL sets its own (later keywords win, and
 * the expanded dbname comes after ours). */
static PGconn *pg_connect(const char *conninfo)
{
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const vals[] = {"5", conninfo, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

/* Per-session setup, after every (re)connection: prepared statements live in the session. */
static int session_setup(pg_store *s)
{
    PQclear(PQexec(s->conn, "SET client_min_messages = warning"));
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        PGresult *r = PQprepare(s->conn, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) return pfail(s, r, stmts[i].name);
        PQclear(r);
    }
    return FACET_OK;
}

/* 1 if the server has closed this idle connection (restart, admin shutdown): its socket is
 * readable with the goodbye message and EOF, which PQconsumeInput turns into CONNECTION_BAD. */
static int connection_lost(PGconn *c)
{
    if (PQstatus(c) != CONNECTION_OK) return 1;
    struct pollfd p = {PQsocket(c), POLLIN, 0};
    if (p.fd < 0) return 1;
    if (poll(&p, 1, 0) > 0) {
        if (!PQconsumeInput(c)) return 1;
        PGnotify *n;
        while ((n = PQnotifies(c)) != NULL) PQfreemem(n);
    }
    return PQstatus(c) != CONNECTION_OK;
}

/* Called before every operation: reconnects a lost connection (rate-limited). */
static int ready(pg_store *s)
{
    if (!connection_lost(s->conn)) return FACET_OK;
    double now = facet_now_ms();
    if (now < s->next_try)
        return facet_seterr(&s->base.err, FACET_E_STORE,
                            "postgres: the server is unreachable (retrying in %.0f ms)",
                            s->next_try - now);
    PQreset(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        s->next_try = facet_now_ms() + RETRY_MS;
        int st = facet_seterr(&s->base.err, FACET_E_STORE, "postgres: connection lost: %s",
                              PQerrorMessage(s->conn));
        size_t n = strlen(s->base.err.msg);
        if (n && s->base.err.msg[n - 1] == '\n') s->base.err.msg[n - 1] = 0;
        return st;
    }
    facet_log(FACET_LOG_INFO, "postgres: reconnected");
    return session_setup(s);
}

/* Runs a prepared statement; params are text unless len[i] > 0 (then binary). */
static PGresult *run(pg_store *s, const char *name, int n, const char *const *v, const int *len,
                     int binary_result)
{
    int fmt[8] = {0};
    for (int i = 0; i < n; i++) fmt[i] = len && len[i] > 0;
    return PQexecPrepared(s->conn, name, n, v, len, fmt, binary_result);
}

static int simple(pg_store *s, const char *sql)
{
    PGresult *r = PQexec(s->conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        return pfail(s, r, sql);
    PQclear(r);
    return FACET_OK;
}

/* Opens a write transaction that appends to the change log: BEGIN, then the lock that makes
 * sequence numbers commit in order. */
static int begin_logged(pg_store *s)
{
    int st = ready(s);
    if (!st) st = simple(s, "BEGIN");
    if (st) return st;
    PGresult *r = run(s, "f_lock", 0, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st = pfail(s, r, "lock the change log");
        PQclear(PQexec(s->conn, "ROLLBACK"));
        return st;
    }
    PQclear(r);
    return FACET_OK;
}

/* NOTIFY (sent at commit) and COMMIT; rolls back on failure. */
static int commit_logged(pg_store *s)
{
    int st = simple(s, "NOTIFY facet_changes");
    if (!st) st = simple(s, "COMMIT");
    if (st) PQclear(PQexec(s->conn, "ROLLBACK"));
    return st;
}

/* Inside a logged transaction: runs a prepared statement of n text parameters, rolling back
 * on failure. */
static int step(pg_store *s, const char *name, int n, const char *const *v, const char *what)
{
    PGresult *r = run(s, name, n, v, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        int st = pfail(s, r, what);
        PQclear(PQexec(s->conn, "ROLLBACK"));
        return st;
    }
    PQclear(r);
    return FACET_OK;
}

/* A whole number that must parse completely: a corrupt value is an error, not a zero. */
static int parse_i64(const char *p, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (errno || end == p || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static void res_to_info(PGresult *r, int i, facet_collection_info *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", PQgetvalue(r, i, 0));
    snprintf(o->model_id, sizeof o->model_id, "%s", PQgetvalue(r, i, 1));
    o->dim = atoi(PQgetvalue(r, i, 2));
    o->dtype = strcmp(PQgetvalue(r, i, 3), "f16") == 0 ? FACET_DTYPE_F16 : FACET_DTYPE_F32;
    o->keep_payload = atoi(PQgetvalue(r, i, 4)) != 0;
    o->created = strtoll(PQgetvalue(r, i, 5), NULL, 10);
}

static int p_create(facet_store *b, const facet_collection_info *info)
{
    pg_store *s = (pg_store *)b;
    int st = ready(s);
    if (st) return st;
    char dim[16], kp[4], created[24];
    snprintf(dim, sizeof dim, "%d", info->dim);
    snprintf(kp, sizeof kp, "%d", info->keep_payload ? 1 : 0);
    snprintf(created, sizeof created, "%lld", (long long)info->created);
    const char *v[6] = {info->name, info->model_id, dim,
                        info->dtype == FACET_DTYPE_F16 ? "f16" : "f32", kp, created};
    PGresult *r = run(s, "f_create", 6, v, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        st = pfail(s, r, "create collection");
        if (st == FACET_E_EXISTS)
            facet_seterr(&b->err, st, "collection '%s' exists", info->name);
        return st;
    }
    PQclear(r);
    return FACET_OK;
}

static int p_get(facet_store *b, const char *name, facet_collection_info *out)
{
    pg_store *s = (pg_store *)b;
    int st = ready(s);
    if (st) return st;
    PGresult *r = run(s, "f_get", 1, &name, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return pfail(s, r, "get collection");
    if (PQntuples(r) == 0) {
        PQclear(r);
        return facet_seterr(&b->err, FACET_E_NOT_FOUND, "no collection '%s'", name);
    }
    res_to_info(r, 0, out);
    PQclear(r);
    return FACET_OK;
}

static int p_list(facet_store *b, facet_collection_info **out, size_t *n)
{
    pg_store *s = (pg_store *)b;
    int st = ready(s);
    if (st) return st;
    PGresult *r = run(s, "f_list", 0, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return pfail(s, r, "list collections");
    int cnt = PQntuples(r);
    facet_collection_info *v = facet_malloc((size_t)(cnt ? cnt : 1) * sizeof *v);
    if (!v) {
        PQclear(r);
        return facet_seterr(&b->err, FACET_E_NO_MEMORY, "no memory");
    }
    for (int i = 0; i < cnt; i++) res_to_info(r, i, &v[i]);
    PQclear(r);
    *out = v;
    *n = (size_t)cnt;
    return FACET_OK;
}

static int p_drop(facet_store *b, const char *name)
{
    pg_store *s = (pg_store *)b;
    int st = begin_logged(s);
    if (st) return st;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)facet_unix_ms());
    const char *v[2] = {name, now};
    static const char *const steps[] = {"f_log_drop", "f_drop_rows", "f_drop_ids", "f_drop_coll"};
    PGresult *r = NULL;
    for (int i = 0; i < 4; i++) {
        r = run(s, steps[i], i == 0 ? 2 : 1, v, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            st = pfail(s, r, "drop collection");
            goto fail;
        }
        if (i < 3) PQclear(r);
    }
    int gone = atoi(PQcmdTuples(r));
    PQclear(r);
    if (!gone) {
        simple(s, "ROLLBACK");
        return facet_seterr(&b->err, FACET_E_NOT_FOUND, "no collection '%s'", name);
    }
    return commit_logged(s);
fail:
    PQclear(PQexec(s->conn, "ROLLBACK"));
    return st;
}

static int p_insert(facet_store *b, const char *collection, const facet_store_row *rows, size_t n)
{
    pg_store *s = (pg_store *)b;
    int st = begin_logged(s);
    if (st) return st;
    char created[24];
    snprintf(created, sizeof created, "%lld", (long long)facet_unix_ms());
    for (size_t i = 0; i < n; i++) {
        const char *v[6] = {rows[i].uuid, collection, rows[i].identity,
                            (const char *)rows[i].vector, (const char *)rows[i].payload, created};
        int len[6] = {0, 0, 0, (int)rows[i].vector_size,
                      rows[i].payload ? (int)rows[i].payload_size : 0, 0};
        int fmt[6] = {0, 0, 0, 1, 1, 0};
        if (rows[i].payload && rows[i].payload_size == 0) v[4] = "";
        PGresult *r = PQexecPrepared(s->conn, "f_insert", 6, v, len, fmt, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            st = pfail(s, r, "insert faceprint");
            PQclear(PQexec(s->conn, "ROLLBACK"));
            return st;
        }
        PQclear(r);
    }
    return commit_logged(s);
}

static int p_remove(facet_store *b, const char *collection, const char *uuid,
                    const char *identity, size_t *removed)
{
    pg_store *s = (pg_store *)b;
    int st = begin_logged(s);
    if (st) return st;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)facet_unix_ms());
    const char *v[3] = {collection, uuid ? uuid : identity, now};
    PGresult *r = run(s, uuid ? "f_del_uuid" : "f_del_id", 3, v, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        st = pfail(s, r, "remove faceprint");
        PQclear(PQexec(s->conn, "ROLLBACK"));
        return st;
    }
    size_t k = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    if (!uuid && (st = step(s, "f_undeclare", 3, v, "remove a declared identity"))) return st;
    st = commit_logged(s);
    if (!st) *removed = k;
    return st;
}

/* Streams a prepared query's rows one at a time (single-row mode) to `row`. */
static int stream(pg_store *s, const char *stmt, int n, const char *const *v, const char *what,
                  int (*row)(void *user, PGresult *r), void *user)
{
    int st = ready(s);
    if (st) return st;
    if (!PQsendQueryPrepared(s->conn, stmt, n, v, NULL, NULL, 1) ||
        !PQsetSingleRowMode(s->conn))
        return pfail(s, NULL, what);
    int stop = 0;
    PGresult *r;
    while ((r = PQgetResult(s->conn)) != NULL) {
        ExecStatusType rs = PQresultStatus(r);
        if (rs == PGRES_SINGLE_TUPLE && !stop && st == FACET_OK) {
            /* stopping early still drains the results: the connection must be idle after */
            stop = row(user, r);
            if (stop < 0) st = facet_seterr(&s->base.err, FACET_E_FORMAT, "postgres: %s: a "
                                            "corrupt row", what);
            PQclear(r);
        } else if (rs != PGRES_SINGLE_TUPLE && rs != PGRES_TUPLES_OK && st == FACET_OK) {
            st = pfail(s, r, what);
        } else {
            PQclear(r);
        }
    }
    return st;
}

typedef struct scan_ctx {
    facet_store_row_fn fn;
    void *user;
    int with_payload;
} scan_ctx;

static int scan_row(void *user, PGresult *r)
{
    scan_ctx *x = user;
    facet_store_row row = {0};
    row.uuid = PQgetvalue(r, 0, 0);
    row.identity = PQgetvalue(r, 0, 1);
    row.vector = PQgetvalue(r, 0, 2);
    row.vector_size = (size_t)PQgetlength(r, 0, 2);
    if (x->with_payload) {
        row.payload = PQgetvalue(r, 0, 3);
        row.payload_size = (size_t)PQgetlength(r, 0, 3);
    }
    return x->fn(x->user, &row) != 0;
}

static int p_scan(facet_store *b, const char *collection, int with_payload, facet_store_row_fn fn,
                  void *user)
{
    scan_ctx x = {fn, user, with_payload};
    return stream((pg_store *)b, with_payload ? "f_scan_payload" : "f_scan", 1, &collection,
                  "scan faceprints", scan_row, &x);
}

static int p_get_row(facet_store *b, const char *collection, const char *uuid,
                     facet_store_row_fn fn, void *user)
{
    pg_store *s = (pg_store *)b;
    int st = ready(s);
    if (st) return st;
    const char *v[2] = {collection, uuid};
    PGresult *r = run(s, "f_get_row", 2, v, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return pfail(s, r, "get faceprint");
    if (PQntuples(r) == 0) {
        PQclear(r);
        return facet_seterr(&b->err, FACET_E_NOT_FOUND, "no faceprint %s", uuid);
    }
    facet_store_row row = {0};
    row.uuid = PQgetvalue(r, 0, 0);
    row.identity = PQgetvalue(r, 0, 1);
    row.vector = PQgetvalue(r, 0, 2);
    row.vector_size = (size_t)PQgetlength(r, 0, 2);
    if (!PQgetisnull(r, 0, 3)) {
        row.payload = PQgetvalue(r, 0, 3);
        row.payload_size = (size_t)PQgetlength(r, 0, 3);
    }
    fn(user, &row);
    PQclear(r);
    return FACET_OK;
}

static int p_rename(facet_store *b, const char *collection, const char *from, const char *to,
                    size_t *renamed)
{
    pg_store *s = (pg_store *)b;
    int st = begin_logged(s);
    if (st) return st;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)facet_unix_ms());
    const char *lv[3] = {collection, from, now}, *v[3] = {collection, from, to};
    PGresult *r = run(s, "f_log_rename", 3, lv, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        st = pfail(s, r, "rename identity");
        PQclear(PQexec(s->conn, "ROLLBACK"));
        return st;
    }
    PQclear(r);
    r = run(s, "f_rename", 3, v, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        st = pfail(s, r, "rename identity");
        PQclear(PQexec(s->conn, "ROLLBACK"));
        return st;
    }
    size_t k = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    if ((st = step(s, "f_redeclare", 3, v, "rename a declared identity")) ||
        (st = step(s, "f_undeclare", 3, lv, "rename a declared identity")))
        return st;
    st = commit_logged(s);
    if (!st) *renamed = k;
    return st;
}

static int p_declare(facet_store *b, const char *collection, const char *identity)
{
    pg_store *s = (pg_store *)b;
    int st = begin_logged(s);
    if (st) return st;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)facet_unix_ms());
    const char *v[3] = {collection, identity, now};
    PGresult *r = run(s, "f_declare", 3, v, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        /* a foreign key violation: another process dropped the collection meanwhile */
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        int gone = state && !strcmp(state, "23503");
        st = gone ? (PQclear(r), facet_seterr(&b->err, FACET_E_NOT_FOUND, "no collection '%s'",
                                              collection))
                  : pfail(s, r, "declare identity");
        PQclear(PQexec(s->conn, "ROLLBACK"));
        return st;
    }
    int k = atoi(PQcmdTuples(r));
    PQclear(r);
    if (!k) {
        PQclear(PQexec(s->conn, "ROLLBACK"));
        return facet_seterr(&b->err, FACET_E_EXISTS, "identity '%s' exists in collection '%s'",
                            identity, collection);
    }
    return commit_logged(s);
}

typedef struct declared_ctx {
    int (*fn)(void *user, const char *identity);
    void *user;
} declared_ctx;

static int declared_row(void *user, PGresult *r)
{
    declared_ctx *x = user;
    return x->fn(x->user, PQgetvalue(r, 0, 0)) != 0;
}

static int p_declared(facet_store *b, const char *collection,
                      int (*fn)(void *user, const char *identity), void *user)
{
    declared_ctx x = {fn, user};
    return stream((pg_store *)b, "f_declared", 1, &collection, "read declared identities",
                  declared_row, &x);
}

typedef struct change_ctx {
    facet_change_fn fn;
    void *user;
} change_ctx;

/* A binary int8 (network byte order); -1 if the field is not 8 bytes. */
static int get_i64(PGresult *r, int col, int64_t *out)
{
    if (PQgetisnull(r, 0, col) || PQgetlength(r, 0, col) != 8) return -1;
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, 0, col);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    *out = (int64_t)v;
    return 0;
}

static int change_row(void *user, PGresult *r)
{
    change_ctx *x = user;
    facet_change c = {0};
    if (get_i64(r, 0, &c.seq) || PQgetlength(r, 0, 2) != 1) return -1;
    c.collection = PQgetvalue(r, 0, 1);
    c.op = PQgetvalue(r, 0, 2)[0];
    if (!PQgetisnull(r, 0, 3)) c.uuid = PQgetvalue(r, 0, 3);
    if (c.op == 'X' && get_i64(r, 4, &c.coll_created)) return -1;
    if (!PQgetisnull(r, 0, 5) && !PQgetisnull(r, 0, 6)) {
        c.identity = PQgetvalue(r, 0, 5);
        c.vector = PQgetvalue(r, 0, 6);
        c.vector_size = (size_t)PQgetlength(r, 0, 6);
    }
    return x->fn(x->user, &c) != 0;
}

static int p_changes(facet_store *b, int64_t after, int limit, facet_change_fn fn, void *user)
{
    char a[24], l[16];
    snprintf(a, sizeof a, "%lld", (long long)after);
    snprintf(l, sizeof l, "%d", limit);
    const char *v[2] = {a, l};
    change_ctx x = {fn, user};
    return stream((pg_store *)b, "f_changes", 2, v, "read the change log", change_row, &x);
}

static int p_seq_range(facet_store *b, int64_t *lo, int64_t *hi)
{
    pg_store *s = (pg_store *)b;
    int st = ready(s);
    if (st) return st;
    PGresult *r = run(s, "f_range", 0, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return pfail(s, r, "read the change log");
    long long a, z;
    if (PQntuples(r) != 1 || parse_i64(PQgetvalue(r, 0, 0), 0, INT64_MAX, &a) ||
        parse_i64(PQgetvalue(r, 0, 1), 0, INT64_MAX, &z)) {
        PQclear(r);
        return facet_seterr(&b->err, FACET_E_FORMAT, "postgres: bad change log range");
    }
    PQclear(r);
    *lo = a;
    *hi = z;
    return FACET_OK;
}

static int p_prune(facet_store *b, int64_t before_ms)
{
    pg_store *s = (pg_store *)b;
    int st = ready(s);
    if (st) return st;
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)before_ms);
    const char *v[1] = {t};
    PGresult *r = run(s, "f_prune", 1, v, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return pfail(s, r, "prune the change log");
    PQclear(r);
    return FACET_OK;
}

static int p_ping(facet_store *b)
{
    pg_store *s = (pg_store *)b;
    int st = ready(s);
    return st ? st : simple(s, "SELECT 1");
}

/* Sleeps up to ms unless stop_fd becomes readable. */
static void nap(int ms, int stop_fd)
{
    struct pollfd p = {stop_fd, POLLIN, 0};
    poll(&p, stop_fd >= 0 ? 1 : 0, ms);
}

static int p_wait(facet_store *b, int timeout_ms, int stop_fd)
{
    pg_store *s = (pg_store *)b;
    if (s->listener && PQstatus(s->listener) != CONNECTION_OK) {
        PQfinish(s->listener);
        s->listener = NULL;
    }
    if (!s->listener) {
        double now = facet_now_ms();
        if (now < s->listener_next_try) {
            nap((int)(s->listener_next_try - now) + 1, stop_fd);
            return 0;
        }
        PGconn *c = pg_connect(s->conninfo);
        PGresult *r = c && PQstatus(c) == CONNECTION_OK ? PQexec(c, "LISTEN facet_changes")
                                                        : NULL;
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            PQclear(r);
            PQfinish(c);
            s->listener_next_try = facet_now_ms() + RETRY_MS;
            nap(timeout_ms < RETRY_MS ? timeout_ms : RETRY_MS, stop_fd);
            return FACET_E_STORE;
        }
        PQclear(r);
        s->listener = c;
        return 1; /* notifications sent while we were not listening are lost: catch up */
    }
    struct pollfd p[2] = {{PQsocket(s->listener), POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int k = poll(p, stop_fd >= 0 ? 2 : 1, timeout_ms);
    if (k <= 0 || !(p[0].revents & (POLLIN | POLLHUP | POLLERR))) return 0;
    if (!PQconsumeInput(s->listener)) {
        PQfinish(s->listener);
        s->listener = NULL;
        s->listener_next_try = facet_now_ms() + RETRY_MS;
        return FACET_E_STORE;
    }
    int got = 0;
    PGnotify *n;
    while ((n = PQnotifies(s->listener)) != NULL) {
        got = 1;
        PQfreemem(n);
    }
    return got;
}

static void p_close(facet_store *b)
{
    pg_store *s = (pg_store *)b;
    PQfinish(s->conn);
    PQfinish(s->listener);
    free(s->conninfo);
    free(s);
}

/* ---- API keys: rare calls, so plain parameterised statements (no prepared names) ---- */

static const char key_schema[] =
    "SELECT pg_advisory_xact_lock(7123400);"
    "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL, collection TEXT NOT NULL, created BIGINT NOT NULL);";

static PGresult *key_exec(pg_store *s, const char *sql, int n, const char *const *v)
{
    return PQexecParams(s->conn, sql, n, NULL, v, NULL, NULL, 0);
}

static void res_to_key(PGresult *r, int i, facet_key_row *k)
{
    memset(k, 0, sizeof *k);
    snprintf(k->id, sizeof k->id, "%s", PQgetvalue(r, i, 0));
    snprintf(k->hash, sizeof k->hash, "%s", PQgetvalue(r, i, 1));
    snprintf(k->role, sizeof k->role, "%s", PQgetvalue(r, i, 2));
    snprintf(k->collection, sizeof k->collection, "%s", PQgetvalue(r, i, 3));
    k->created = strtoll(PQgetvalue(r, i, 4), NULL, 10);
}

static int pk_put(facet_store *b, const facet_key_row *k)
{
    pg_store *s = (pg_store *)b;
    int rst = ready(s);
    if (rst) return rst;
    char created[24];
    snprintf(created, sizeof created, "%lld", (long long)k->created);
    const char *v[5] = {k->id, k->hash, k->role, k->collection, created};
    PGresult *r = key_exec(s, "INSERT INTO api_keys(id, hash, role, collection, created) "
                              "VALUES($1, $2, $3, $4, $5::bigint)", 5, v);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return pfail(s, r, "insert key");
    PQclear(r);
    return FACET_OK;
}

static int pk_get(facet_store *b, const char *hash, facet_key_row *out)
{
    pg_store *s = (pg_store *)b;
    int rst = ready(s);
    if (rst) return rst;
    const char *v[1] = {hash};
    PGresult *r = key_exec(s, "SELECT id, hash, role, collection, created FROM api_keys "
                              "WHERE hash = $1", 1, v);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return pfail(s, r, "look up key");
    int found = PQntuples(r) == 1;
    if (found) res_to_key(r, 0, out);
    PQclear(r);
    return found ? FACET_OK : facet_seterr(&b->err, FACET_E_NOT_FOUND, "no such key");
}

static int pk_list(facet_store *b, facet_key_row **out, size_t *n)
{
    pg_store *s = (pg_store *)b;
    int rst = ready(s);
    if (rst) return rst;
    PGresult *r = key_exec(s, "SELECT id, hash, role, collection, created FROM api_keys "
                              "ORDER BY created, id", 0, NULL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return pfail(s, r, "list keys");
    int k = PQntuples(r);
    facet_key_row *rows = facet_malloc((size_t)(k ? k : 1) * sizeof *rows);
    if (!rows) {
        PQclear(r);
        return facet_seterr(&b->err, FACET_E_NO_MEMORY, "no memory for the key list");
    }
    for (int i = 0; i < k; i++) res_to_key(r, i, &rows[i]);
    PQclear(r);
    *out = rows;
    *n = (size_t)k;
    return FACET_OK;
}

static int pk_del(facet_store *b, const char *id)
{
    pg_store *s = (pg_store *)b;
    int rst = ready(s);
    if (rst) return rst;
    const char *v[1] = {id};
    PGresult *r = key_exec(s, "DELETE FROM api_keys WHERE id = $1", 1, v);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return pfail(s, r, "delete key");
    int gone = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    return gone ? FACET_OK : facet_seterr(&b->err, FACET_E_NOT_FOUND, "no key with id '%s'", id);
}

static const facet_store_key_ops pg_key_ops = {pk_put, pk_get, pk_list, pk_del};

static const facet_store_ops pg_ops = {
    .name = "postgres",
    .create_collection = p_create,
    .drop_collection = p_drop,
    .get_collection = p_get,
    .list_collections = p_list,
    .insert = p_insert,
    .remove = p_remove,
    .scan = p_scan,
    .close = p_close,
    .get = p_get_row,
    .rename = p_rename,
    .declare = p_declare,
    .declared = p_declared,
    .changes = p_changes,
    .seq_range = p_seq_range,
    .prune = p_prune,
    .ping = p_ping,
    .wait = p_wait,
};

int facet_store_open_postgres(const char *conninfo, facet_store **out, facet_err *e)
{
    int st;
    pg_store *s = facet_calloc(1, sizeof *s);
    if (!s) return facet_seterr(e, FACET_E_NO_MEMORY, "no memory for the store");
    s->base.ops = &pg_ops;
    s->base.keys = &pg_key_ops;
    s->conninfo = facet_strdup(conninfo);
    if (!s->conninfo) {
        st = facet_seterr(e, FACET_E_NO_MEMORY, "no memory for the store");
        goto fail;
    }
    s->conn = pg_connect(conninfo);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        /* libpq quotes bad parts of the string, a password included (an invalid %-escape) */
        char why[FACET_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", s->conn ? PQerrorMessage(s->conn) : "no memory");
        facet_redact_secrets_of(conninfo, why, sizeof why);
        st = facet_seterr(e, FACET_E_STORE, "postgres: cannot connect: %s", why);
        goto fail;
    }
    PQclear(PQexec(s->conn, "SET client_min_messages = warning"));
    if ((st = simple(s, schema)) != FACET_OK || (st = simple(s, key_schema)) != FACET_OK ||
        (st = session_setup(s)) != FACET_OK) {
        facet_seterr(e, st, "%s", s->base.err.msg);
        goto fail;
    }
    *out = &s->base;
    return FACET_OK;
fail:
    p_close(&s->base);
    return st;
}
