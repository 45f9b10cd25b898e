/*
 * postgres.c - the PostgreSQL store through libpq: the same schema as sqlite.c (bytea for the
 * blobs), named prepared statements with parameters only, binary transfer of the blobs, and
 * single-row mode for scans so a large collection streams instead of being buffered whole in
 * the client. With the server's default synchronous_commit=on a returned COMMIT is durable.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

typedef struct pg_store {
    facet_store base;
    PGconn *conn;
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
    {"f_insert", "INSERT INTO faceprints(uuid, collection, identity, vector, payload, created) "
                 "VALUES($1, $2, $3, $4::bytea, $5::bytea, $6::bigint)", 6},
    {"f_del_uuid", "DELETE FROM faceprints WHERE collection = $1 AND uuid = $2", 2},
    {"f_del_id", "DELETE FROM faceprints WHERE collection = $1 AND identity = $2", 2},
    {"f_scan", "SELECT uuid, identity, vector FROM faceprints WHERE collection = $1", 1},
    {"f_scan_payload", "SELECT uuid, identity, vector, payload FROM faceprints "
                       "WHERE collection = $1 AND payload IS NOT NULL", 1},
    {"f_get_row", "SELECT uuid, identity, vector, payload FROM faceprints "
                  "WHERE collection = $1 AND uuid = $2", 2},
    {"f_rename", "UPDATE faceprints SET identity = $3 WHERE collection = $1 AND identity = $2", 3},
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
    "CREATE INDEX IF NOT EXISTS faceprints_identity ON faceprints(collection, identity);";

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
    char dim[16], kp[4], created[24];
    snprintf(dim, sizeof dim, "%d", info->dim);
    snprintf(kp, sizeof kp, "%d", info->keep_payload ? 1 : 0);
    snprintf(created, sizeof created, "%lld", (long long)info->created);
    const char *v[6] = {info->name, info->model_id, dim,
                        info->dtype == FACET_DTYPE_F16 ? "f16" : "f32", kp, created};
    PGresult *r = run(s, "f_create", 6, v, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        int st = pfail(s, r, "create collection");
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
    int st = simple(s, "BEGIN");
    if (st) return st;
    PGresult *r = run(s, "f_drop_rows", 1, &name, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        st = pfail(s, r, "drop collection");
        goto fail;
    }
    PQclear(r);
    r = run(s, "f_drop_coll", 1, &name, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        st = pfail(s, r, "drop collection");
        goto fail;
    }
    int gone = atoi(PQcmdTuples(r));
    PQclear(r);
    if (!gone) {
        simple(s, "ROLLBACK");
        return facet_seterr(&b->err, FACET_E_NOT_FOUND, "no collection '%s'", name);
    }
    st = simple(s, "COMMIT");
    if (st) goto fail;
    return FACET_OK;
fail:
    PQclear(PQexec(s->conn, "ROLLBACK"));
    return st;
}

static int p_insert(facet_store *b, const char *collection, const facet_store_row *rows, size_t n)
{
    pg_store *s = (pg_store *)b;
    int st = simple(s, "BEGIN");
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
    st = simple(s, "COMMIT");
    if (st) PQclear(PQexec(s->conn, "ROLLBACK"));
    return st;
}

static int p_remove(facet_store *b, const char *collection, const char *uuid,
                    const char *identity, size_t *removed)
{
    pg_store *s = (pg_store *)b;
    const char *v[2] = {collection, uuid ? uuid : identity};
    PGresult *r = run(s, uuid ? "f_del_uuid" : "f_del_id", 2, v, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return pfail(s, r, "remove faceprint");
    *removed = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return FACET_OK;
}

static int p_scan(facet_store *b, const char *collection, int with_payload, facet_store_row_fn fn,
                  void *user)
{
    pg_store *s = (pg_store *)b;
    const char *v[1] = {collection};
    if (!PQsendQueryPrepared(s->conn, with_payload ? "f_scan_payload" : "f_scan", 1, v, NULL,
                             NULL, 1) ||
        !PQsetSingleRowMode(s->conn))
        return pfail(s, NULL, "scan faceprints");
    int st = FACET_OK, stop = 0;
    PGresult *r;
    while ((r = PQgetResult(s->conn)) != NULL) {
        ExecStatusType rs = PQresultStatus(r);
        if (rs == PGRES_SINGLE_TUPLE && !stop && st == FACET_OK) {
            facet_store_row row = {0};
            row.uuid = PQgetvalue(r, 0, 0);
            row.identity = PQgetvalue(r, 0, 1);
            row.vector = PQgetvalue(r, 0, 2);
            row.vector_size = (size_t)PQgetlength(r, 0, 2);
            if (with_payload) {
                row.payload = PQgetvalue(r, 0, 3);
                row.payload_size = (size_t)PQgetlength(r, 0, 3);
            }
            /* stopping early still drains the results: the connection must be idle after */
            stop = fn(user, &row);
            PQclear(r);
        } else if (rs != PGRES_SINGLE_TUPLE && rs != PGRES_TUPLES_OK && st == FACET_OK) {
            st = pfail(s, r, "scan faceprints");
        } else {
            PQclear(r);
        }
    }
    return st;
}

static int p_get_row(facet_store *b, const char *collection, const char *uuid,
                     facet_store_row_fn fn, void *user)
{
    pg_store *s = (pg_store *)b;
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
    const char *v[3] = {collection, from, to};
    PGresult *r = run(s, "f_rename", 3, v, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return pfail(s, r, "rename identity");
    *renamed = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return FACET_OK;
}

static void p_close(facet_store *b)
{
    pg_store *s = (pg_store *)b;
    PQfinish(s->conn);
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
    const char *v[1] = {id};
    PGresult *r = key_exec(s, "DELETE FROM api_keys WHERE id = $1", 1, v);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return pfail(s, r, "delete key");
    int gone = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    return gone ? FACET_OK : facet_seterr(&b->err, FACET_E_NOT_FOUND, "no key with id '%s'", id);
}

static const facet_store_key_ops pg_key_ops = {pk_put, pk_get, pk_list, pk_del};

static const facet_store_ops pg_ops = {"postgres", p_create, p_drop, p_get, p_list,
                                       p_insert, p_remove, p_scan, p_close,
                                       .get = p_get_row, .rename = p_rename};

int facet_store_open_postgres(const char *conninfo, facet_store **out, facet_err *e)
{
    int st;
    pg_store *s = facet_calloc(1, sizeof *s);
    if (!s) return facet_seterr(e, FACET_E_NO_MEMORY, "no memory for the store");
    s->base.ops = &pg_ops;
    s->base.keys = &pg_key_ops;
    s->conn = PQconnectdb(conninfo);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        /* libpq quotes bad parts of the string, a password included (an invalid %-escape) */
        char why[FACET_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", s->conn ? PQerrorMessage(s->conn) : "no memory");
        facet_redact_secrets_of(conninfo, why, sizeof why);
        st = facet_seterr(e, FACET_E_STORE, "postgres: cannot connect: %s", why);
        goto fail;
    }
    PQclear(PQexec(s->conn, "SET client_min_messages = warning"));
    if ((st = simple(s, schema)) != FACET_OK || (st = simple(s, key_schema)) != FACET_OK) {
        facet_seterr(e, st, "%s", s->base.err.msg);
        goto fail;
    }
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        PGresult *r = PQprepare(s->conn, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            st = pfail(s, r, stmts[i].name);
            facet_seterr(e, st, "%s", s->base.err.msg);
            goto fail;
        }
        PQclear(r);
    }
    *out = &s->base;
    return FACET_OK;
fail:
    p_close(&s->base);
    return st;
}
