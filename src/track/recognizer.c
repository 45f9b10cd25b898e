/*
 * recognizer.c - "who is on this chip", in-process or through facetd.
 *
 * Local: the SDK's faceprint of the aligned chip, then the gallery's exact top-1 search. Both
 * are thread-safe, so the recognizer needs no lock of its own.
 *
 * Remote: POST /v1/collections/{name}/recognize with the chip as a PNG body (lossless, so the
 * server's faceprint is the one the local path would compute). libcurl easy handles are kept
 * in a small pool: each request takes one, which keeps its connection alive for the next, and
 * puts it back; concurrent requests use different handles. The answer's JSON is read with
 * jansson; anything unexpected in it is an error, never a guess. A threshold < 0 leaves the
 * decision to the server (its default is facet_match_threshold()).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "facet/track.h"

#define POOL_MAX 32
#define ANSWER_MAX (1 << 20)

struct facet_recognizer {
    int remote;
    float threshold;
    /* local */
    facet_sdk *sdk;
    facet_gallery *gallery;
    char model[FACET_FACEPRINT_MODEL_MAX];
    char collection[FACET_NAME_MAX + 1];
    /* remote */
    char *url;         /* full recognize URL */
    char *auth;        /* "Authorization: Bearer ..." or NULL */
    long timeout_ms;
    pthread_mutex_t mu;
    CURL *pool[POOL_MAX];
    int n_pool;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > FACET_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

facet_status facet_recognizer_local(facet_sdk *sdk, facet_gallery *gallery, const char *collection,
                                    float threshold, facet_recognizer **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "recognizer_local: out is NULL");
    *out = NULL;
    if (!sdk || !gallery || !collection)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "recognizer_local: sdk, gallery and collection are required");
    if (!valid_name(collection))
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "recognizer_local: bad collection name");
    int rc = facet_collection_load(gallery, collection, NULL);
    if (rc) return rc; /* the gallery left its message */
    facet_recognizer *r = facet_calloc(1, sizeof *r);
    if (!r) return facet_seterr(NULL, FACET_E_NO_MEMORY, "recognizer_local: out of memory");
    facet_collection_info info;
    rc = facet_sdk_faceprint_model(sdk, r->model);
    if (!rc) rc = facet_collection_get(gallery, collection, &info);
    if (!rc && strcmp(info.model_id, r->model) != 0)
        rc = facet_seterr(NULL, FACET_E_MODEL, "recognizer_local: collection '%s' holds faceprints of %s, the SDK makes %s",
                          collection, info.model_id, r->model);
    if (rc) { /* the SDK, the gallery or the check above left the message */
        free(r);
        return rc;
    }
    r->sdk = sdk;
    r->gallery = gallery;
    snprintf(r->collection, sizeof r->collection, "%s", collection);
    r->threshold = threshold < 0 ? facet_match_threshold() : threshold;
    *out = r;
    return FACET_OK;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

facet_status facet_recognizer_remote(const char *base_url, const char *key, const char *collection,
                                     float threshold, double timeout_s, facet_recognizer **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "recognizer_remote: out is NULL");
    *out = NULL;
    if (!base_url || !collection)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "recognizer_remote: base_url and collection are required");
    if (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "recognizer_remote: the server URL must start with http:// or https://");
    if (!valid_name(collection))
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "recognizer_remote: bad collection name");
    if (key && strpbrk(key, "\r\n"))
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "recognizer_remote: the key contains a line break");
    pthread_once(&curl_once, curl_init);
    facet_recognizer *r = facet_calloc(1, sizeof *r);
    if (!r) return facet_seterr(NULL, FACET_E_NO_MEMORY, "recognizer_remote: out of memory");
    r->remote = 1;
    r->threshold = threshold;
    r->timeout_ms = timeout_s > 0 ? (long)(timeout_s * 1000) : 10000;
    snprintf(r->collection, sizeof r->collection, "%s", collection);
    size_t bl = strlen(base_url);
    while (bl > 0 && base_url[bl - 1] == '/') bl--;
    size_t n = bl + strlen(collection) + 64;
    r->url = facet_malloc(n);
    if (r->url) {
        /* aligned=true: a 112x112 image is a chip, not a crop to detect a face in */
        if (threshold >= 0)
            snprintf(r->url, n, "%.*s/v1/collections/%s/recognize?aligned=true&threshold=%.6g", (int)bl, base_url,
                     collection, (double)threshold);
        else
            snprintf(r->url, n, "%.*s/v1/collections/%s/recognize?aligned=true", (int)bl, base_url, collection);
    }
    if (key && *key) {
        size_t an = strlen(key) + 32;
        r->auth = facet_malloc(an);
        if (r->auth) snprintf(r->auth, an, "Authorization: Bearer %s", key);
    }
    if (!r->url || (key && *key && !r->auth) || pthread_mutex_init(&r->mu, NULL)) {
        free(r->url);
        free(r->auth);
        free(r);
        return facet_seterr(NULL, FACET_E_NO_MEMORY, "recognizer_remote: out of memory");
    }
    *out = r;
    return FACET_OK;
}

void facet_recognizer_destroy(facet_recognizer *r)
{
    if (!r) return;
    if (r->remote) {
        for (int i = 0; i < r->n_pool; i++) curl_easy_cleanup(r->pool[i]);
        pthread_mutex_destroy(&r->mu);
        free(r->url);
        free(r->auth);
    }
    free(r);
}

static facet_status check_chip(const facet_image *chip)
{
    if (!chip || !chip->data || chip->width != 112 || chip->height != 112 || chip->channels != 3 ||
        chip->stride < 112 * 3)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "recognize: the chip must be a 112x112 RGB image");
    return FACET_OK;
}

static facet_status recognize_local(facet_recognizer *r, const facet_image *chip, facet_recognition *out)
{
    facet_faceprint fp;
    int rc = facet_faceprint_from_chip(r->sdk, chip, &fp);
    if (rc) return rc;
    facet_match m;
    int n = 0;
    rc = facet_gallery_identify_top_k(r->gallery, r->collection, fp.model, fp.v, fp.dim, 1, &m, &n);
    if (rc) return rc;
    if (n > 0) {
        out->similarity = m.similarity;
        out->probability = m.probability;
        if (m.similarity >= r->threshold) {
            out->found = 1;
            snprintf(out->identity, sizeof out->identity, "%s", m.identity);
        }
    }
    return FACET_OK;
}

typedef struct buf {
    char *p;
    size_t n;
    int overflow;
} buf;

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    buf *b = user;
    size_t n = size * nmemb;
    if (b->n + n > ANSWER_MAX) {
        b->overflow = 1;
        return 0;
    }
    char *p = facet_realloc(b->p, b->n + n + 1);
    if (!p) return 0;
    memcpy(p + b->n, data, n);
    b->n += n;
    p[b->n] = 0;
    b->p = p;
    return n;
}

static CURL *take_handle(facet_recognizer *r)
{
    CURL *c = NULL;
    pthread_mutex_lock(&r->mu);
    if (r->n_pool > 0) c = r->pool[--r->n_pool];
    pthread_mutex_unlock(&r->mu);
    return c ? c : curl_easy_init();
}

static void give_handle(facet_recognizer *r, CURL *c)
{
    pthread_mutex_lock(&r->mu);
    if (r->n_pool < POOL_MAX) {
        r->pool[r->n_pool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    if (c) curl_easy_cleanup(c);
}

/* Reads a number field that must be a JSON number when present. */
static int get_number(json_t *o, const char *k, double *v)
{
    json_t *x = json_object_get(o, k);
    if (!x) return 0;
    if (!json_is_number(x)) return -1;
    *v = json_number_value(x);
    return isfinite(*v) ? 1 : -1;
}

/*
 * facetd's answer to recognize (src/server/api.c, docs/api.md):
 *   {"candidates": [{"identity": "...", "uuid": "...", "similarity": 0.61, "probability": 0.93}],
 *    "input": "chip", "server_ms": 3.1, "compute_ms": 2.9}
 * candidates holds the top-1 at or above the threshold, or nothing: empty means no one.
 * server_ms is the server's own time for the request, compute_ms its faceprint and search.
 */
static facet_status parse_answer(const char *body, facet_recognition *out)
{
    json_error_t jerr;
    json_t *root = json_loads(body, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return facet_seterr(NULL, FACET_E_FORMAT, "recognize: the server's answer is not a JSON object (%s)",
                            root ? "not an object" : jerr.text);
    }
    double ms = 0;
    json_t *cands = json_object_get(root, "candidates");
    if (!json_is_array(cands) || get_number(root, "server_ms", &ms) != 1 || ms < 0) goto bad;
    out->server_ms = ms;
    if (json_array_size(cands) > 0) {
        json_t *m = json_array_get(cands, 0), *id = json_object_get(m, "identity");
        double sim = 0, prob = 0;
        if (!json_is_object(m) || !json_is_string(id) || get_number(m, "similarity", &sim) != 1 ||
            get_number(m, "probability", &prob) < 0 || sim < -1.001 || sim > 1.001 ||
            strlen(json_string_value(id)) > FACET_IDENTITY_MAX || !json_string_value(id)[0])
            goto bad;
        out->found = 1;
        out->similarity = (float)sim;
        out->probability = (float)prob;
        snprintf(out->identity, sizeof out->identity, "%s", json_string_value(id));
    }
    json_decref(root);
    return FACET_OK;
bad:
    json_decref(root);
    return facet_seterr(NULL, FACET_E_FORMAT, "recognize: unexpected answer from the server: %.200s", body);
}

static facet_status recognize_remote(facet_recognizer *r, const facet_image *chip, facet_recognition *out)
{
    uint8_t *png = NULL;
    size_t png_n = 0;
    int rc = facet_image_encode_png(chip, &png, &png_n);
    if (rc) return rc;
    CURL *c = take_handle(r);
    if (!c) {
        facet_free(png);
        return facet_seterr(NULL, FACET_E_NO_MEMORY, "recognize: curl_easy_init failed");
    }
    buf b = {0};
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: image/png");
    if (h && r->auth) h = curl_slist_append(h, r->auth);
    if (h) h = curl_slist_append(h, "Expect:");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)png);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)png_n);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    double t0 = now_ms();
    CURLcode cc = h ? curl_easy_perform(c) : CURLE_OUT_OF_MEMORY;
    out->rtt_ms = now_ms() - t0;
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    facet_free(png);
    if (cc != CURLE_OK) {
        curl_easy_cleanup(c);
        free(b.p);
        return facet_seterr(NULL, b.overflow ? FACET_E_LIMIT : FACET_E_IO, "recognize: %s: %s", r->url,
                            b.overflow ? "answer larger than 1 MiB" : curl_easy_strerror(cc));
    }
    give_handle(r, c);
    if (status != 200) {
        rc = facet_seterr(NULL, status == 404 ? FACET_E_NOT_FOUND : FACET_E_IO, "recognize: HTTP %ld from %s: %.300s",
                          status, r->url, b.p ? b.p : "");
        free(b.p);
        return rc;
    }
    rc = parse_answer(b.p ? b.p : "", out);
    free(b.p);
    return rc;
}

facet_status facet_recognize_chip(facet_recognizer *r, const facet_image *chip, facet_recognition *out)
{
    if (!r || !out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "recognize: NULL recognizer or out");
    memset(out, 0, sizeof *out);
    facet_status rc = check_chip(chip);
    if (rc) return rc;
    double t0 = now_ms();
    rc = r->remote ? recognize_remote(r, chip, out) : recognize_local(r, chip, out);
    /* in-process, the round trip is all recogniser time: faceprint and search */
    if (!r->remote) out->rtt_ms = out->server_ms = now_ms() - t0;
    return rc;
}
