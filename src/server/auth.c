/*
 * auth.c - who is calling: "Authorization: Bearer KEY" against the admin key (from the
 * configuration, never stored) and the keys in the store (facet/keys.h, hashed there).
 *
 * Looking a key up in the store takes the gallery's store lock, which an enrolment holds
 * during its durable write; so lookups are cached here for key_cache_s seconds (also the
 * longest a revoked key keeps working on a node, documented in docs/api.md). Unknown keys are
 * not cached, so a flood of wrong keys costs a store read each, nothing more; the cache is a
 * small fixed table keyed by the secret's hash, evicting the oldest entry.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "facet/keys.h"
#include "server.h"

#define CACHE_SLOTS 64

typedef struct cache_entry {
    uint64_t h;
    char key[FACET_KEY_SIZE];
    srv_role role;
    char collection[FACET_NAME_MAX + 1];
    double until;
} cache_entry;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static cache_entry cache[CACHE_SLOTS];

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Constant-time comparison of equal-length prefixes, so response timing does not reveal how
 * much of the admin key a guess got right. */
static int same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la && i < lb; i++) d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static int cache_get(const char *key, uint64_t h, srv_role *role, char *coll)
{
    int hit = 0;
    double now = srv_now();
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cache_entry *e = &cache[i];
        if (e->h == h && e->until > now && !strcmp(e->key, key)) {
            *role = e->role;
            memcpy(coll, e->collection, sizeof e->collection);
            hit = 1;
            break;
        }
    }
    pthread_mutex_unlock(&cache_mu);
    return hit;
}

static void cache_put(const char *key, uint64_t h, srv_role role, const char *coll, double ttl)
{
    pthread_mutex_lock(&cache_mu);
    int victim = 0;
    for (int i = 1; i < CACHE_SLOTS; i++)
        if (cache[i].until < cache[victim].until) victim = i;
    cache_entry *e = &cache[victim];
    e->h = h;
    snprintf(e->key, sizeof e->key, "%s", key);
    e->role = role;
    snprintf(e->collection, sizeof e->collection, "%s", coll);
    e->until = srv_now() + ttl;
    pthread_mutex_unlock(&cache_mu);
}

int srv_auth_check(srv *s, const char *authorization, srv_role *role,
                   char collection[FACET_NAME_MAX + 1])
{
    *role = SRV_ROLE_NONE;
    collection[0] = 0;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7)) return 401;
    const char *key = authorization + 7;
    while (*key == ' ') key++;
    if (!*key || strlen(key) > 255) return 401;
    const srv_config *cfg = srv_cfg(s);
    if (cfg->admin_key[0] && same_secret(key, cfg->admin_key)) {
        *role = SRV_ROLE_ADMIN;
        return 0;
    }
    if (strlen(key) != FACET_KEY_SIZE - 1) return 401;
    uint64_t h = fnv(key);
    if (cache_get(key, h, role, collection)) return 0;
    facet_key_info info;
    int rc = facet_key_lookup(srv_gallery(s), key, &info);
    if (rc == FACET_E_NOT_FOUND) return 401;
    if (rc) {
        srv_metrics_store_error(srv_metrics_of(s));
        srv_log(s, "error", "key lookup: %s", facet_last_error());
        return 503;
    }
    if (srv_role_parse(info.role, role)) return 401; /* a role this server does not know */
    memcpy(collection, info.collection, sizeof info.collection);
    cache_put(key, h, *role, collection, cfg->key_cache_s);
    return 0;
}

void srv_auth_forget(void)
{
    pthread_mutex_lock(&cache_mu);
    memset(cache, 0, sizeof cache);
    pthread_mutex_unlock(&cache_mu);
}
