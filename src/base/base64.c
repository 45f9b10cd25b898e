/*
 * base64.c - the one base64 encoder of the library (faceprint JSON, chips in facetd's answers
 * and in watch events). Decoding stays with its callers: the faceprint JSON accepts only the
 * canonical text of each byte string and reports the position of a bad character, while
 * facetd's image uploads accept what clients send (base64url, missing padding).
 */
#include <stdint.h>

#include "base/base.h"

static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

facet_status facet_base64_encode(const void *data, size_t n, char **out)
{
    if (out) *out = NULL;
    if (!out || (!data && n))
        return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG,
                                          "base64: out is NULL, or data is NULL with n > 0");
    if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
        return (facet_status)facet_seterr(NULL, FACET_E_INVALID_ARG,
                                          "base64: %zu bytes is too many", n);
    char *s = facet_malloc((n + 2) / 3 * 4 + 1), *o = s;
    if (!s)
        return (facet_status)facet_seterr(NULL, FACET_E_NO_MEMORY,
                                          "base64: no memory for %zu bytes", n);
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = 0;
    *out = s;
    return FACET_OK;
}
