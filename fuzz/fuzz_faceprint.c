/*
 * fuzz_faceprint.c - libFuzzer target for the faceprint readers, with oracles on what they
 * accept, not only on crashes:
 *   binary: an accepted input has finite values of unit norm and a printable model id, and
 *           serialising it again in its own element type gives back the very same bytes;
 *   JSON:   an accepted text is one object whose "model", "dim", "dtype" and "data" (as
 *           jansson reads them here, independently) are exactly what facet_faceprint_to_json
 *           writes for the faceprint it gave, and that text reads back to the same values.
 * Any byte string goes through both readers (NUL-terminated for JSON). Seed it with the
 * binary and JSON forms of a real faceprint (`facet faceprint IMG --out F`, and its JSON).
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facet/facet.h"

#define ORACLE(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "oracle failed: %s (line %d)\n", #cond, __LINE__);                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void is_faceprint(const facet_faceprint *fp)
{
    size_t n = strnlen(fp->model, sizeof fp->model);
    ORACLE(n >= 1 && n < sizeof fp->model);
    for (size_t i = 0; i < n; i++) ORACLE(fp->model[i] > 0x20 && fp->model[i] < 0x7f);
    ORACLE(fp->dim >= 1 && fp->dim <= FACET_FACEPRINT_DIM);
    double nn = 0;
    for (int i = 0; i < fp->dim; i++) {
        ORACLE(isfinite(fp->v[i]));
        nn += (double)fp->v[i] * fp->v[i];
    }
    ORACLE(fabs(sqrt(nn) - 1) <= 0.01);
}

static void binary(const uint8_t *data, size_t size)
{
    facet_faceprint fp;
    if (facet_faceprint_deserialize(data, size, &fp) != 0) return;
    is_faceprint(&fp);
    int fp16 = data[6] == 2; /* the element type field of the accepted header */
    uint8_t *bin;
    size_t n;
    ORACLE(facet_faceprint_serialize(&fp, fp16, &bin, &n) == 0);
    ORACLE(n == size && memcmp(bin, data, n) == 0);
    facet_free(bin);
    float s;
    ORACLE(facet_compare(&fp, &fp, &s, NULL) == 0 && s > 0.999f);
}

static void text(const char *json)
{
    facet_faceprint fp, back;
    if (facet_faceprint_from_json(json, &fp) != 0) return;
    is_faceprint(&fp);
    json_t *in = json_loads(json, JSON_ALLOW_NUL, NULL);
    ORACLE(in != NULL && json_is_object(in) && json_object_size(in) == 4);
    const char *dtype = json_string_value(json_object_get(in, "dtype"));
    ORACLE(dtype != NULL);
    char *out;
    ORACLE(facet_faceprint_to_json(&fp, !strcmp(dtype, "f16"), &out) == 0);
    json_t *again = json_loads(out, 0, NULL);
    ORACLE(again != NULL);
    /* same model, dim, dtype and base64 text: the accepted input is the canonical form */
    ORACLE(json_equal(in, again));
    ORACLE(facet_faceprint_from_json(out, &back) == 0);
    ORACLE(back.dim == fp.dim && !strcmp(back.model, fp.model) &&
           !memcmp(back.v, fp.v, sizeof(float) * (size_t)fp.dim));
    json_decref(in);
    json_decref(again);
    facet_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    binary(data, size);
    char *t = malloc(size + 1);
    if (!t) return 0;
    memcpy(t, data, size);
    t[size] = 0;
    text(t);
    free(t);
    return 0;
}
