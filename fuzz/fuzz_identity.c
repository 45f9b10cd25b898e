/*
 * fuzz_identity.c - libFuzzer target for the identity rule (facet/gallery.h), with a two-sided
 * oracle: each input (up to its first NUL) is enrolled under that identity into an in-memory
 * collection, and the gallery must accept it exactly when an independent check here says it is
 * 1..255 bytes of UTF-8 (decoded by the C library's mbrtowc in the C.UTF-8 locale) without
 * control characters, line/paragraph separators or bidirectional overrides and isolates. An
 * accepted identity must come back byte for byte from a search.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "facet/facet.h"

#define ORACLE(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "oracle failed: %s (line %d)\n", #cond, __LINE__);                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static facet_gallery *g;
static const float unit[4] = {0.5f, 0.5f, 0.5f, 0.5f};

static int acceptable(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > FACET_IDENTITY_MAX) return 0;
    mbstate_t st;
    memset(&st, 0, sizeof st);
    for (size_t i = 0; i < n;) {
        wchar_t w;
        size_t k = mbrtowc(&w, s + i, n - i, &st);
        if (k == (size_t)-1 || k == (size_t)-2 || k == 0) return 0;
        unsigned long cp = (unsigned long)w;
        /* glibc decodes 4-byte forms up to 0x1fffff: Unicode ends at U+10FFFF */
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
            (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
            return 0;
        i += k;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g) {
        ORACLE(setlocale(LC_CTYPE, "C.UTF-8") != NULL);
        facet_gallery_settings gs;
        facet_gallery_defaults(&gs);
        gs.threads = 1;
        facet_collection_settings cs;
        facet_collection_defaults(&cs);
        cs.model_id = "m";
        cs.dim = 4;
        ORACLE(facet_gallery_open("memory:", &gs, &g) == 0 && facet_collection_create(g, "f", &cs) == 0);
    }
    char *id = malloc(size + 1);
    if (!id) return 0;
    memcpy(id, data, size);
    id[size] = 0;
    char uuid[FACET_UUID_SIZE];
    int st = facet_gallery_enroll(g, "f", "m", unit, 4, id, NULL, 0, uuid);
    int want = acceptable(id);
    if (!want) ORACLE(st == FACET_E_INVALID_ARG);
    else ORACLE(st == FACET_OK);
    if (st == FACET_OK) {
        facet_match m;
        int n = 0;
        ORACLE(facet_gallery_identify_top_k(g, "f", "m", unit, 4, 1, &m, &n) == 0 && n == 1);
        ORACLE(!strcmp(m.identity, id));
        ORACLE(facet_gallery_remove(g, "f", uuid) == 0);
    }
    free(id);
    return 0;
}
