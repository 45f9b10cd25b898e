/*
 * fuzz_faceprint.c - libFuzzer target for the faceprint parsers: any byte string through the
 * binary reader and (NUL-terminated) through the JSON reader must give a valid faceprint or an
 * error; a faceprint that parses must serialise and parse back to the same values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "facet/facet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    facet_faceprint fp, back;
    if (facet_faceprint_deserialize(data, size, &fp) == 0) {
        uint8_t *bin;
        size_t n;
        if (facet_faceprint_serialize(&fp, 0, &bin, &n) == 0) {
            if (facet_faceprint_deserialize(bin, n, &back) != 0 || memcmp(back.v, fp.v, sizeof(float) * (size_t)fp.dim))
                abort();
            facet_free(bin);
        }
        float s;
        facet_compare(&fp, &fp, &s, NULL);
    }
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    if (facet_faceprint_from_json(text, &fp) == 0) {
        char *json;
        if (facet_faceprint_to_json(&fp, 0, &json) == 0) {
            if (facet_faceprint_from_json(json, &back) != 0) abort();
            facet_free(json);
        }
    }
    free(text);
    return 0;
}
