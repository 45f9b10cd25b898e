/*
 * store.c - picks the back end from the URL, and the pieces every back end shares: the vector
 * blob format with its model check, random UUIDs and timestamps.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "store.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the vector blob format is little-endian; add byte swapping for this target"
#endif

int facet_store_open(const char *url, facet_store **out, facet_err *e)
{
    return facet_store_open_flags(url, 0, out, e);
}

int facet_store_open_flags(const char *url, unsigned flags, facet_store **out, facet_err *e)
{
    *out = NULL;
    if (!url) return facet_seterr(e, FACET_E_INVALID_ARG, "url is NULL");
    if (strcmp(url, "memory:") == 0) return facet_store_open_memory(out, e);
    if (strncmp(url, "sqlite:", 7) == 0) {
        if (!url[7]) return facet_seterr(e, FACET_E_INVALID_ARG, "url 'sqlite:' names no file");
        return facet_store_open_sqlite(url + 7, flags, out, e);
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0 ||
        strstr(url, "host=") || strstr(url, "hostaddr=") || strstr(url, "dbname="))
        return facet_store_open_postgres(url, out, e);
    return facet_seterr(e, FACET_E_INVALID_ARG,
                        "url '%.200s' is not memory:, sqlite:PATH, postgres://... or a libpq "
                        "keyword string",
                        url);
}

void facet_store_close(facet_store *s)
{
    if (s) s->ops->close(s);
}

uint32_t facet_model_hash(const char *model_id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)model_id; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

size_t facet_vec_blob_size(int dim)
{
    return FACET_VEC_HEADER + (size_t)dim * 4;
}

void facet_vec_encode(void *blob, const float *v, int dim, uint32_t model_hash)
{
    uint32_t h[4] = {0x31565046u /* "FPV1" */, (uint32_t)dim, model_hash, 0};
    memcpy(blob, h, sizeof h);
    memcpy((uint8_t *)blob + FACET_VEC_HEADER, v, (size_t)dim * 4);
}

int facet_vec_check(const void *blob, size_t size, int dim, uint32_t model_hash)
{
    uint32_t h[4];
    if (!blob || size < FACET_VEC_HEADER) return FACET_E_FORMAT;
    memcpy(h, blob, sizeof h);
    if (h[0] != 0x31565046u || h[3] != 0) return FACET_E_FORMAT;
    if (h[1] != (uint32_t)dim || h[2] != model_hash) return FACET_E_MODEL;
    if (size != facet_vec_blob_size(dim)) return FACET_E_FORMAT;
    return FACET_OK;
}

int facet_uuid_v4(char out[FACET_UUID_SIZE])
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return FACET_E_IO;
        }
        got += (size_t)r;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = 0;
    return FACET_OK;
}

int facet_uuid_valid(const char *s)
{
    if (!s) return 0;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return s[36] == 0;
}

int64_t facet_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
