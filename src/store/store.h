/*
 * store.h - the persistence interface (private). One vtable, three back ends: memory.c (no
 * persistence), sqlite.c and postgres.c, all with the same three tables:
 *
 *   collections(name PK, model_id, dim, dtype, keep_payload, created)
 *   faceprints(uuid PK, collection, identity, vector, payload NULL, created)
 *   identities(collection, identity, created; PK (collection, identity))
 *
 * `identities` holds the identities declared by name (facet_gallery_add_identity), which exist
 * without faceprints; an identity with faceprints exists through them alone. Each back end's
 * open creates missing tables (CREATE TABLE IF NOT EXISTS), so a database made before
 * `identities` existed gains it, empty, at its next open: there is no schema version to bump.
 *
 * `vector` is a blob: a 16-byte header (magic "FPV1", dim, FNV-1a hash of the model id, 0;
 * little-endian u32s) then dim little-endian fp32 values. The header lets a load reject a row
 * written for another model or dimension instead of loading it as garbage. The store always
 * keeps fp32; fp16 is an in-memory choice. `created` is unix time in milliseconds.
 *
 * A store handle is used by one thread at a time: the gallery serialises calls with its mutex.
 * Every write is one transaction that is durable when the call returns.
 *
 * The change log (sqlite.c and postgres.c; the memory store has none, its ops are NULL): a
 * third table
 *
 *   changes(seq PK ascending, collection, op, uuid NULL, coll_created NULL, created)
 *
 * gets one row per enrolled faceprint ('E'), removed faceprint ('D') and dropped collection
 * ('X', with the dropped collection's `created`, so that a process unloads that collection and
 * not a newer one of the same name), and one 'S' per change of a collection's declared
 * identities (a declaration, or one removed or renamed), in the same transaction as the change
 * itself. 'S' carries no name: a process applies it by reading the collection's declared set
 * again, which is small, so applying it twice or late still converges (a process older than
 * 'S' skips it as malformed, with a warning). Writers are
 * serialised (SQLite's write lock; a transaction-scoped advisory lock on PostgreSQL taken
 * before the sequence number is drawn), so sequence numbers commit in order: a reader that has
 * seen seq N has seen every change below N, and "seq > last seen" is a complete catch-up read.
 * PostgreSQL also sends NOTIFY facet_changes in each such transaction (delivered at commit).
 */
#ifndef FACET_STORE_H
#define FACET_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "facet/gallery.h"

#define FACET_VEC_HEADER 16

typedef struct facet_store facet_store;

typedef struct facet_store_row {
    const char *uuid;
    const char *identity;
    const void *vector;
    size_t vector_size;
    const void *payload; /* NULL: none */
    size_t payload_size;
} facet_store_row;

/* Returns 0 to go on, nonzero to stop the scan (the scan then returns FACET_OK). */
typedef int (*facet_store_row_fn)(void *user, const facet_store_row *row);

/* One change log entry, valid during the callback only. For 'E' the enrolled row is joined in
 * (identity, vector); both are NULL when that row has been removed since (a 'D' follows). */
typedef struct facet_change {
    int64_t seq;
    const char *collection;
    char op;              /* 'E' enrolled, 'D' removed, 'X' collection dropped, 'S' declared
                             identities changed */
    const char *uuid;     /* 'E', 'D' */
    int64_t coll_created; /* 'X' */
    const char *identity; /* 'E' */
    const void *vector;
    size_t vector_size;
} facet_change;
typedef int (*facet_change_fn)(void *user, const facet_change *c);

typedef struct facet_store_ops {
    const char *name;
    /* info->name etc. filled; FACET_E_EXISTS if present */
    int (*create_collection)(facet_store *s, const facet_collection_info *info);
    int (*drop_collection)(facet_store *s, const char *name); /* FACET_E_NOT_FOUND */
    int (*get_collection)(facet_store *s, const char *name, facet_collection_info *out);
    int (*list_collections)(facet_store *s, facet_collection_info **out, size_t *n);
    /* n rows in one transaction; all or none */
    int (*insert)(facet_store *s, const char *collection, const facet_store_row *rows, size_t n);
    /* by uuid (identity NULL) or by identity (uuid NULL, also removing its declaration, logged
     * 'S'); *removed gets the faceprint row count */
    int (*remove)(facet_store *s, const char *collection, const char *uuid, const char *identity,
                  size_t *removed);
    /* rows of a collection; with_payload 0: payload not read (NULL), 1: only rows with one */
    int (*scan)(facet_store *s, const char *collection, int with_payload, facet_store_row_fn fn,
                void *user);
    void (*close)(facet_store *s);
    /* one row by uuid, with its payload (NULL: none); FACET_E_NOT_FOUND when absent */
    int (*get)(facet_store *s, const char *collection, const char *uuid, facet_store_row_fn fn,
               void *user);
    /* every row of identity `from` gets identity `to` (one transaction; logged as a removal
     * then an enrolment of each row, so followers pick up the new identity), and a declared
     * `from` becomes a declared `to` (logged 'S'); *renamed: how many rows */
    int (*rename)(facet_store *s, const char *collection, const char *from, const char *to,
                  size_t *renamed);
    /* declares `identity` in one logged transaction; FACET_E_EXISTS when it is declared
     * already or has faceprints */
    int (*declare)(facet_store *s, const char *collection, const char *identity);
    /* the collection's declared identities in byte order; fn returns nonzero to stop */
    int (*declared)(facet_store *s, const char *collection,
                    int (*fn)(void *user, const char *identity), void *user);
    /* ---- the change log; NULL for the memory store ---- */
    /* entries with seq > after in seq order, at most `limit` of them */
    int (*changes)(facet_store *s, int64_t after, int limit, facet_change_fn fn, void *user);
    /* lowest and highest seq in the log; 0, 0 when it is empty */
    int (*seq_range)(facet_store *s, int64_t *lo, int64_t *hi);
    /* deletes entries created before `before_ms`, always keeping the newest one */
    int (*prune)(facet_store *s, int64_t before_ms);
    /* a round trip to the server (reconnecting first when the connection was lost) */
    int (*ping)(facet_store *s);
    /* Called by the gallery's follower thread only, without the store mutex (it uses a
     * connection of its own and never touches `err`); NULL where the store cannot notify.
     * Waits up to timeout_ms for a change notification or for stop_fd to become readable.
     * Returns 1 when woken by a notification or after (re)connecting its listener (either way
     * the caller should catch up), 0 on timeout or stop_fd, FACET_E_STORE when the server
     * cannot be reached (having waited, so the caller may loop). */
    int (*wait)(facet_store *s, int timeout_ms, int stop_fd);
} facet_store_ops;

/* API keys (facet/keys.h): one table api_keys(id PK, hash UNIQUE, role, collection, created),
 * created by each back end's open. `hash` is the key's SHA-256 in hex; the secret is never
 * stored. */
typedef struct facet_key_row {
    char id[FACET_UUID_SIZE];
    char hash[65];
    char role[16];
    char collection[FACET_NAME_MAX + 1];
    int64_t created;
} facet_key_row;

typedef struct facet_store_key_ops {
    int (*put)(facet_store *s, const facet_key_row *row);
    int (*get)(facet_store *s, const char *hash, facet_key_row *out); /* FACET_E_NOT_FOUND */
    int (*list)(facet_store *s, facet_key_row **out, size_t *n);      /* oldest first */
    int (*del)(facet_store *s, const char *id);                       /* FACET_E_NOT_FOUND */
} facet_store_key_ops;

struct facet_store {
    const facet_store_ops *ops;
    const facet_store_key_ops *keys;
    facet_err err;
};

/* Opens a store from a URL (see facet/gallery.h). On failure the message is in `e`. */
int facet_store_open(const char *url, facet_store **out, facet_err *e);
/* FACET_STORE_MUST_EXIST: a missing SQLite file is FACET_E_NOT_FOUND, not created. */
enum { FACET_STORE_MUST_EXIST = 1 };
int facet_store_open_flags(const char *url, unsigned flags, facet_store **out, facet_err *e);
void facet_store_close(facet_store *s);

int facet_store_open_memory(facet_store **out, facet_err *e);
int facet_store_open_sqlite(const char *path, unsigned flags, facet_store **out, facet_err *e);
int facet_store_open_postgres(const char *conninfo, facet_store **out, facet_err *e);

/* Vector blobs. encode writes FACET_VEC_HEADER + 4 * dim bytes. check verifies the header and
 * the length, returning 0, FACET_E_FORMAT (length / magic) or FACET_E_MODEL (another model or
 * dim); the values themselves (finite, unit norm) are checked by the loader as it copies them. */
uint32_t facet_model_hash(const char *model_id);
size_t facet_vec_blob_size(int dim);
void facet_vec_encode(void *blob, const float *v, int dim, uint32_t model_hash);
int facet_vec_check(const void *blob, size_t size, int dim, uint32_t model_hash);

/* A random v4 UUID from getrandom(2). */
int facet_uuid_v4(char out[FACET_UUID_SIZE]);
/* 1 if s is a canonical lower-case UUID string. */
int facet_uuid_valid(const char *s);

int64_t facet_unix_ms(void);

#endif
