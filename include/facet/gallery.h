/*
 * facet/gallery.h - collections of faceprints, their persistence and exact 1:N search.
 *
 * A gallery is a connection to one store plus the collections loaded from it:
 *
 *   "memory:"                     nothing persists; collections live as long as the handle
 *   "sqlite:PATH"                 an embedded SQLite file (WAL, synchronous=FULL)
 *   "postgres://..." or "host=..."/"hostaddr=..."   a PostgreSQL server (libpq)
 *
 * A collection is bound at creation to one model id (e.g. "fr_feature@87aacdfe") and one
 * dimension; enrolling or searching with another model gives FACET_E_MODEL. Faceprints are
 * L2-normalised float vectors; similarity is their dot product (cosine similarity).
 *
 * Durability: an enrolment is written to the store in one transaction before it is added to
 * memory, so once facet_gallery_enroll returns the faceprint survives a crash of the process;
 * with "sqlite:" also a power cut (the WAL is fsync'ed at each commit: tests/test_durability.c
 * cuts the power at random points); with PostgreSQL, what the server's fsync and
 * synchronous_commit settings give (docs/security.md).
 *
 * Threads: one facet_gallery may be shared by any number of threads. Searches take a read
 * lock on their collection and run concurrently; enrolments and removals of one collection
 * run one at a time and hold its write lock only to swap in grown arrays or to append or move
 * a row (never across the store write), so searches are not held up by the database;
 * create/load/unload/drop take the gallery's write lock.
 *
 * Several processes on one store ("nodes": facetd instances, the CLI): each write is logged
 * in the store with a sequence number, in the same transaction. A gallery opened with
 * settings->follow = 1 runs a thread that applies the other processes' enrolments, removals,
 * renames, declared identities and collection drops to its loaded collections: on PostgreSQL
 * it wakes on LISTEN/NOTIFY (changes show within milliseconds) and also catches up every
 * follow_interval_ms, so a process that missed notifications while disconnected still
 * converges; on SQLite it polls at that interval. facet_gallery_sync does one catch-up on
 * demand.
 *
 * A PostgreSQL server that goes away: calls that need it (enrol, remove, create, load, list,
 * sync) fail with FACET_E_STORE at once; searches go on with what is loaded. The next call
 * after the server is back reconnects by itself (at most one attempt per 0.5 s), and the
 * follower catches up on what it missed. Error messages are kept per handle
 * (facet_gallery_errmsg) and per thread (facet_last_error); with several threads use the
 * latter, which is never overwritten by another thread.
 *
 * Ownership: strings and arrays passed in are copied (or only read during the call); arrays
 * returned through `**out` belong to the caller, who releases them with facet_free().
 */
#ifndef FACET_GALLERY_H
#define FACET_GALLERY_H

#include <stddef.h>
#include <stdint.h>

#include "facet/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A UUID string "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" plus its terminating NUL. */
#define FACET_UUID_SIZE 37
/* Longest identity and collection name / model id accepted, in bytes without the NUL. */
#define FACET_IDENTITY_MAX 255
#define FACET_NAME_MAX 127

typedef struct facet_gallery facet_gallery;

typedef struct facet_gallery_settings {
    int threads;         /* threads for large searches; 0 = FACET_NUM_THREADS or all cores */
    float match_a;       /* match probability p = 1 / (1 + exp(-(a * s + b))); the defaults are
                            facet_match_model()'s (facet/face.h), the mapping facet_compare uses */
    float match_b;
    int follow;          /* 1: a thread applies other processes' changes (see above); default 0 */
    int follow_interval_ms; /* catch-up period without a notification, 10..60000; default 500 */
    int change_keep_s;   /* followers prune log entries older than this (default 86400; 0 keeps
                            them); a process further behind than that reloads its collections */
    int must_exist;      /* 1: the store must exist already: a missing sqlite:PATH is
                            FACET_E_NOT_FOUND instead of a new empty database file (for
                            commands that only read); default 0 (create it) */
} facet_gallery_settings;

FACET_API void facet_gallery_defaults(facet_gallery_settings *s);

/* Connects to the store named by `url` and creates its tables if needed. `settings` may be
 * NULL for the defaults. On failure *out is NULL and facet_last_error() says why. */
FACET_API facet_status facet_gallery_open(const char *url, const facet_gallery_settings *settings,
                                          facet_gallery **out);
/* Unloads every collection and closes the store; NULL does nothing. No call may be running. */
FACET_API void facet_gallery_destroy(facet_gallery *g);
/* The last failure's message on this handle ("" if none); valid until the next failing call. */
FACET_API const char *facet_gallery_errmsg(const facet_gallery *g);

/* Applies every change that other processes made to the store since the last catch-up to the
 * loaded collections (a no-op for "memory:"); *applied (may be NULL) gets how many log entries
 * were read. FACET_E_STORE when the store cannot be reached. Safe alongside the follower. */
FACET_API facet_status facet_gallery_sync(facet_gallery *g, size_t *applied);

/* A round trip to the store (reconnecting if needed): FACET_OK or FACET_E_STORE. */
FACET_API facet_status facet_gallery_ping(facet_gallery *g);

typedef struct facet_sync_info {
    int following;      /* the follower thread runs */
    int store_ok;       /* the last catch-up reached the store */
    int64_t seq;        /* the last change log entry applied */
    uint64_t applied;   /* entries read and applied since open */
    uint64_t reloads;   /* full reloads after falling behind the log */
    uint64_t failures;  /* catch-ups that failed (store unreachable) */
} facet_sync_info;

FACET_API facet_status facet_gallery_sync_info(facet_gallery *g, facet_sync_info *out);

/* Sets / computes the logistic mapping from similarity to match probability. */
FACET_API facet_status facet_gallery_set_match_model(facet_gallery *g, float a, float b);
FACET_API float facet_gallery_match_probability(const facet_gallery *g, float similarity);

/* ---- collections ---- */

typedef enum facet_dtype {
    FACET_DTYPE_F32 = 0, /* exact */
    FACET_DTYPE_F16 = 1, /* half the memory and bandwidth; similarities off by at most 0.001 */
} facet_dtype;

typedef struct facet_collection_settings {
    const char *model_id; /* required; copied */
    int dim;              /* required, 1..8192 */
    facet_dtype dtype;    /* in-memory storage of the faceprints (the store always keeps fp32) */
    int keep_payload;     /* 1: store each enrolment's payload (face chip / image bytes) so the
                             collection can be rebuilt with a future model; default 0 */
} facet_collection_settings;

FACET_API void facet_collection_defaults(facet_collection_settings *s);

typedef struct facet_collection_info {
    char name[FACET_NAME_MAX + 1];
    char model_id[FACET_NAME_MAX + 1];
    int dim;
    facet_dtype dtype;
    int keep_payload;
    int loaded;     /* 1 if loaded in this gallery */
    size_t count;   /* faceprints, when loaded (else 0) */
    int64_t created; /* unix time in milliseconds */
} facet_collection_info;

/* Creates an empty collection in the store and loads it. FACET_E_EXISTS if the name is taken.
 * Names are 1..FACET_NAME_MAX bytes of [A-Za-z0-9_.-], other than "." and "..". */
FACET_API facet_status facet_collection_create(facet_gallery *g, const char *name,
                                               const facet_collection_settings *settings);

/* What a load found. Corrupt rows are skipped (and logged at FACET_LOG_WARN), never loaded. */
typedef struct facet_load_stats {
    size_t loaded;
    size_t bad_length;  /* vector blob of the wrong size or header */
    size_t bad_model;   /* vector written for another model id or dimension */
    size_t bad_value;   /* NaN / infinity, or a norm far from 1 */
    size_t bad_other;   /* bad UUID or identity */
    double ms;          /* time taken */
} facet_load_stats;

/* Loads a stored collection into memory (a no-op if loaded). `stats` may be NULL. */
FACET_API facet_status facet_collection_load(facet_gallery *g, const char *name,
                                             facet_load_stats *stats);
/* Frees a collection's memory; it stays in the store (for "memory:", in the handle). */
FACET_API facet_status facet_collection_unload(facet_gallery *g, const char *name);
/* Deletes a collection and all its faceprints from the store and from memory. */
FACET_API facet_status facet_collection_drop(facet_gallery *g, const char *name);
/* Every collection in the store, sorted by name: *out is an array of *n entries allocated by the
 * library; release it with facet_free() even when *n is 0. */
FACET_API facet_status facet_collection_list(facet_gallery *g, facet_collection_info **out,
                                             size_t *n);
FACET_API facet_status facet_collection_get(facet_gallery *g, const char *name,
                                            facet_collection_info *out);

/* ---- enrolment ---- */

/* Adds one faceprint `v` (dim floats, L2-normalised: norm within 0.01 of 1) made by `model_id`
 * under `identity`. Identities, on every store alike, are 1..FACET_IDENTITY_MAX bytes of valid
 * UTF-8 without control characters (U+0000..U+001F, U+007F..U+009F), line or paragraph
 * separators (U+2028, U+2029) or bidirectional overrides and isolates (U+202A..U+202E,
 * U+2066..U+2069); anything else is FACET_E_INVALID_ARG. `payload` (may be NULL) is stored only if the collection keeps
 * payloads. Writes the new random (v4) UUID into `uuid`. Durable when it returns. */
FACET_API facet_status facet_gallery_enroll(facet_gallery *g, const char *collection,
                                            const char *model_id, const float *v, int dim,
                                            const char *identity, const void *payload,
                                            size_t payload_size, char uuid[FACET_UUID_SIZE]);
/* Adds n faceprints (rows of `v`, n * dim floats) in one transaction: all or none.
 * identities[i] names row i; uuids (may be NULL) receives n UUIDs. Payloads are not stored. */
FACET_API facet_status facet_gallery_enroll_batch(facet_gallery *g, const char *collection,
                                                  const char *model_id, const float *v,
                                                  size_t n, int dim,
                                                  const char *const *identities,
                                                  char (*uuids)[FACET_UUID_SIZE]);
/* Removes one faceprint; FACET_E_NOT_FOUND if the collection's store has no such UUID (also
 * when another node removed it and this handle still held a copy, which is dropped). */
FACET_API facet_status facet_gallery_remove(facet_gallery *g, const char *collection,
                                            const char *uuid);
/* Removes every faceprint of `identity`, and its declaration (facet_gallery_add_identity) if
 * it has one, in one transaction; *removed (may be NULL) gets how many faceprints. Removing an
 * identity that has none is not an error (*removed = 0). */
FACET_API facet_status facet_gallery_remove_identity(facet_gallery *g, const char *collection,
                                                     const char *identity, size_t *removed);

typedef struct facet_identity_count {
    char identity[FACET_IDENTITY_MAX + 1];
    size_t count;
} facet_identity_count;

/* Declares `identity` (same rules as for enrolment) in a loaded collection without a
 * faceprint: a person known by name before any face of theirs is enrolled (what CompreFace
 * calls a subject without examples). It is listed by facet_gallery_identities (count 0 while it
 * has no faceprints) until facet_gallery_remove_identity removes it or
 * facet_gallery_rename_identity renames it; enrolling under it, or removing its faceprints one
 * by one, leaves it declared. FACET_E_EXISTS when the identity is declared already or has
 * faceprints (in the store: another process's count). Durable when it returns, and logged like
 * an enrolment, so that other processes following the store see it. */
FACET_API facet_status facet_gallery_add_identity(facet_gallery *g, const char *collection,
                                                  const char *identity);

/* The identities of a loaded collection with their number of faceprints, sorted by identity
 * (byte order): those with faceprints and the declared ones (facet_gallery_add_identity).
 * *out is an array of *n entries allocated by the library; release it with facet_free() even
 * when *n is 0. */
FACET_API facet_status facet_gallery_identities(facet_gallery *g, const char *collection,
                                                facet_identity_count **out, size_t *n);
/* Number of faceprints in a loaded collection. */
FACET_API facet_status facet_gallery_count(facet_gallery *g, const char *collection,
                                           size_t *count);

/* Calls fn for every stored enrolment of the collection (loaded or not) that has a payload,
 * with the data valid only during the call; fn returns nonzero to stop early. For `migrate`:
 * re-extract faceprints from the payloads with a new model into a new collection. The
 * store connection is held during the scan, so fn must not call into this gallery: collect
 * what it needs, or write the new collection through a second facet_gallery on the same store. */
typedef int (*facet_payload_fn)(void *user, const char *uuid, const char *identity,
                                const void *payload, size_t payload_size);
FACET_API facet_status facet_collection_foreach_payload(facet_gallery *g, const char *collection,
                                                        facet_payload_fn fn, void *user);

/* ---- single enrolments (for servers that manage examples one by one) ---- */

typedef struct facet_face_ref {
    char uuid[FACET_UUID_SIZE];
    char identity[FACET_IDENTITY_MAX + 1];
} facet_face_ref;

/* One page of a loaded collection's enrolments (only `identity`'s when it is not NULL), in a
 * stable order (identity, then UUID): entries offset .. offset + limit - 1 into *out, an array
 * allocated by the library that the caller releases with facet_free(); their number into *n
 * and the number of all matching enrolments into *total (may be NULL). */
FACET_API facet_status facet_gallery_faces(facet_gallery *g, const char *collection,
                                           const char *identity, size_t offset, size_t limit,
                                           facet_face_ref **out, size_t *n, size_t *total);
/* The faceprint (dim floats into v, as loaded: fp16 collections give the rounded values) and
 * identity (may be NULL) of one enrolment of a loaded collection; FACET_E_NOT_FOUND if none. */
FACET_API facet_status facet_gallery_face(facet_gallery *g, const char *collection,
                                          const char *uuid, float *v, int dim,
                                          char identity[FACET_IDENTITY_MAX + 1]);
/* The stored payload of one enrolment, read from the store: *data (allocated by the library;
 * release it with facet_free()) and *size; *data is NULL when the enrolment has none (the collection does not keep payloads).
 * FACET_E_NOT_FOUND when the collection has no such enrolment. */
FACET_API facet_status facet_gallery_payload(facet_gallery *g, const char *collection,
                                             const char *uuid, void **data, size_t *size);
/* Gives every faceprint of identity `from` the identity `to` (merging them when `to` has
 * faceprints already), keeping their UUIDs, and makes a declared `from` a declared `to`, in one
 * transaction; durable when it returns, and logged so that other processes following the store
 * apply it. *renamed (may be NULL) gets how many faceprints; renaming an identity that has none
 * is not an error (*renamed = 0). */
FACET_API facet_status facet_gallery_rename_identity(facet_gallery *g, const char *collection,
                                                     const char *from, const char *to,
                                                     size_t *renamed);

/* ---- search (exact) ---- */

typedef struct facet_match {
    char identity[FACET_IDENTITY_MAX + 1];
    char uuid[FACET_UUID_SIZE];
    float similarity;  /* dot product of probe and enrolled faceprint, in [-1, 1] */
    float probability; /* the gallery's logistic mapping of `similarity` */
} facet_match;

/* Probes are faceprints like enrolments: finite, L2-normalised (else FACET_E_INVALID_ARG), of
 * the collection's model and dimension (else FACET_E_MODEL). */

/* Best match of probe `v`. *found = 1 and *out filled when its similarity is >= threshold,
 * else *found = 0 (not an error). */
FACET_API facet_status facet_gallery_identify(facet_gallery *g, const char *collection,
                                              const char *model_id, const float *v, int dim,
                                              float threshold, facet_match *out, int *found);
/* The k best matches, best first, into out[0..k-1]; *n_out gets min(k, count). */
FACET_API facet_status facet_gallery_identify_top_k(facet_gallery *g, const char *collection,
                                                    const char *model_id, const float *v,
                                                    int dim, int k, facet_match *out,
                                                    int *n_out);
/* The k best matches for each of n probes (rows of `v`, n * dim floats), using all the
 * gallery's threads; probe i's matches go to out[i * k ..], their number to n_out[i]. Rows are
 * read once per block of probes, so this is much faster than n single searches. */
FACET_API facet_status facet_gallery_batch_identify(facet_gallery *g, const char *collection,
                                                    const char *model_id, const float *v,
                                                    size_t n, int dim, int k, facet_match *out,
                                                    int *n_out);

#ifdef __cplusplus
}
#endif
#endif
