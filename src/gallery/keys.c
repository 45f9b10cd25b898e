/*
 * keys.c - API keys in the gallery's store (facet/keys.h). The secret is 32 bytes from
 * getrandom(2) written as base64url after "fk_"; only its SHA-256 is stored, so a copy of the
 * database does not hand out working keys. Lookups hash the presented key and find the row by
 * that hash (an index on a random value: no timing signal about the secret).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/base.h"
#include "facet/keys.h"
#include "gallery_priv.h"

static int role_ok(const char *r)
{
    size_t n = 0;
    for (; r[n]; n++)
        if (!((r[n] >= 'a' && r[n] <= 'z') || r[n] == '_')) return 0;
    return n >= 1 && n <= FACET_KEY_ROLE_MAX;
}

static int collection_ok(const char *c)
{
    size_t n = 0;
    for (; c[n]; n++) {
        char ch = c[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return n >= 1 && n <= FACET_NAME_MAX;
}

static void row_to_info(const facet_key_row *k, facet_key_info *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", k->id);
    snprintf(out->role, sizeof out->role, "%s", k->role);
    snprintf(out->collection, sizeof out->collection, "%s", k->collection);
    out->created = k->created;
}

facet_status facet_key_create(facet_gallery *g, const char *role, const char *collection,
                              char key[FACET_KEY_SIZE], facet_key_info *info)
{
    if (!g || !key) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g or key is NULL");
    key[0] = 0;
    if (!role || !role_ok(role))
        return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG,
                                          "role must be 1..%d characters of a-z and _",
                                          FACET_KEY_ROLE_MAX);
    if (collection && *collection && !collection_ok(collection))
        return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG,
                                          "collection must be 1..%d characters of [A-Za-z0-9_.-]",
                                          FACET_NAME_MAX);
    uint8_t raw[32];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
        if (r <= 0) return (facet_status)facet_seterr(NULL, FACET_E_IO, "getrandom failed");
        got += (size_t)r;
    }
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char secret[FACET_KEY_SIZE] = "fk_";
    size_t o = 3;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof raw; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            secret[o++] = b64[(acc >> bits) & 63];
        }
    }
    if (bits) secret[o++] = b64[(acc << (6 - bits)) & 63];
    secret[o] = 0;
    facet_key_row row;
    memset(&row, 0, sizeof row);
    if (facet_uuid_v4(row.id)) return (facet_status)facet_seterr(NULL, FACET_E_IO, "getrandom failed");
    facet_sha256_hex(secret, strlen(secret), row.hash);
    snprintf(row.role, sizeof row.role, "%s", role);
    snprintf(row.collection, sizeof row.collection, "%s", collection ? collection : "");
    row.created = facet_unix_ms();
    facet_store *s = facet_gallery_store_lock(g);
    int st = facet_gallery_store_unlock(g, s->keys->put(s, &row));
    if (st) return (facet_status)st;
    memcpy(key, secret, o + 1);
    if (info) row_to_info(&row, info);
    return FACET_OK;
}

facet_status facet_key_lookup(facet_gallery *g, const char *key, facet_key_info *out)
{
    if (!g || !key || !out)
        return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g, key or out is NULL");
    if (strlen(key) != FACET_KEY_SIZE - 1 || strncmp(key, "fk_", 3))
        return (facet_status)facet_seterr(NULL, FACET_E_NOT_FOUND, "not a facet key");
    char hash[65];
    facet_sha256_hex(key, strlen(key), hash);
    facet_key_row row;
    facet_store *s = facet_gallery_store_lock(g);
    int st = facet_gallery_store_unlock(g, s->keys->get(s, hash, &row));
    if (st) return (facet_status)st;
    row_to_info(&row, out);
    return FACET_OK;
}

facet_status facet_key_list(facet_gallery *g, facet_key_info **out, size_t *n)
{
    if (!g || !out || !n) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "NULL argument");
    *out = NULL;
    *n = 0;
    facet_key_row *rows = NULL;
    size_t k = 0;
    facet_store *s = facet_gallery_store_lock(g);
    int st = facet_gallery_store_unlock(g, s->keys->list(s, &rows, &k));
    if (st) return (facet_status)st;
    facet_key_info *info = facet_malloc((k ? k : 1) * sizeof *info);
    if (!info) {
        free(rows);
        return (facet_status)facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory");
    }
    for (size_t i = 0; i < k; i++) row_to_info(&rows[i], &info[i]);
    free(rows);
    *out = info;
    *n = k;
    return FACET_OK;
}

facet_status facet_key_revoke(facet_gallery *g, const char *id)
{
    if (!g || !id) return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG, "g or id is NULL");
    if (!facet_uuid_valid(id))
        return (facet_status)facet_seterr(NULL, FACET_E_NOT_FOUND, "no key with that id");
    facet_store *s = facet_gallery_store_lock(g);
    return (facet_status)facet_gallery_store_unlock(g, s->keys->del(s, id));
}
