/*
 * facet/keys.h - API keys kept in a gallery's store, for servers built on libfacet (facetd).
 *
 * A key is a random secret made here ("fk_" + 43 base64url characters, 256 bits); the store
 * keeps only its SHA-256 (a fast hash is enough for 256-bit random secrets: there is nothing
 * to guess), a public id, a role string chosen by the caller (facetd: "admin", "enrol",
 * "recognize"), an optional collection the key is bound to and its creation time. Keys live
 * in the store, so every server on one PostgreSQL sees the same keys.
 *
 * Threads: as facet/gallery.h; these calls take the gallery's store lock, so a server should
 * cache lookups rather than look a key up on every request.
 */
#ifndef FACET_KEYS_H
#define FACET_KEYS_H

#include <stdint.h>

#include "facet/base.h"
#include "facet/gallery.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "fk_" + 43 characters + NUL. */
#define FACET_KEY_SIZE 47
#define FACET_KEY_ROLE_MAX 15

typedef struct facet_key_info {
    char id[FACET_UUID_SIZE];              /* public id, for listing and revoking */
    char role[FACET_KEY_ROLE_MAX + 1];
    char collection[FACET_NAME_MAX + 1];   /* "" = any collection */
    int64_t created;                       /* unix time in milliseconds */
} facet_key_info;

/* Makes a new random key with `role` (1..FACET_KEY_ROLE_MAX characters of [a-z_]) bound to
 * `collection` (NULL or "" for none; otherwise a valid collection name, which need not exist
 * yet), stores its hash (durable when it returns) and writes the secret into `key`, the only
 * time it is ever available. `info` (may be NULL) receives what was stored. */
FACET_API facet_status facet_key_create(facet_gallery *g, const char *role, const char *collection,
                                        char key[FACET_KEY_SIZE], facet_key_info *info);
/* The stored key whose secret is `key`; FACET_E_NOT_FOUND when there is none (a malformed
 * key is not found either). */
FACET_API facet_status facet_key_lookup(facet_gallery *g, const char *key, facet_key_info *out);
/* Every stored key, oldest first: *out is an array of *n keys allocated by the library; release
 * it with facet_free(). */
FACET_API facet_status facet_key_list(facet_gallery *g, facet_key_info **out, size_t *n);
/* Deletes the key with public id `id`; FACET_E_NOT_FOUND when there is none. */
FACET_API facet_status facet_key_revoke(facet_gallery *g, const char *id);

#ifdef __cplusplus
}
#endif
#endif
