/*
 * faceprint.c - 512-d faceprints from fr_feature, their binary and JSON forms, and comparison.
 *
 * A faceprint carries the id of the model that made it ("fr_feature@" + the first 8 hex digits
 * of the model file's sha256), so that faceprints of different models can never be compared
 * or searched together by mistake. The binary form is versioned (see facet/face.h); fp16
 * storage rounds each value to half precision, which moves a cosine similarity by well under
 * 0.001 for unit vectors of this size (tests/test_face.c measures it).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdk.h"

/* Logistic match probability, fitted on ../shared/data/lfw-dev (docs/faceprint.md):
 * p = 1 / (1 + exp(-(PROB_A * similarity + PROB_B))). */
#define PROB_A 31.477f
#define PROB_B -8.8913f
/* Similarity threshold for "same person" (docs/faceprint.md). */
#define MATCH_THRESHOLD 0.302f

#define FP_MAGIC "FPRT"
#define FP_VERSION 1
#define FP_F32 1
#define FP_F16 2

static void fp_model_id(const facet_sdk *sdk, char *out)
{
    snprintf(out, FACET_FACEPRINT_MODEL_MAX, "fr_feature@%.8s", sdk->model_sha[2]);
}

facet_status facet_sdk_faceprint_model(facet_sdk *sdk, char model[FACET_FACEPRINT_MODEL_MAX])
{
    if (!sdk || !model) return facet_seterr(NULL, FACET_E_INVALID_ARG, "sdk or model is NULL");
    const facet_nn_model *m;
    int rc = sdk_model(sdk, 2, &m);
    if (rc) return rc;
    fp_model_id(sdk, model);
    return 0;
}

facet_status facet_faceprint_from_chip(facet_sdk *sdk, const facet_image *chip, facet_faceprint *out)
{
    if (!sdk) return facet_seterr(NULL, FACET_E_INVALID_ARG, "sdk is NULL");
    if (!chip || !out || !chip->data) return sdk_fail(sdk, FACET_E_INVALID_ARG, "chip and out must not be NULL");
    if (chip->width != 112 || chip->height != 112 || chip->channels != 3)
        return sdk_fail(sdk, FACET_E_INVALID_ARG, "chip must be a 112x112 RGB image, not %dx%dx%d", chip->width,
                        chip->height, chip->channels);
    float *in = facet_malloc(sizeof(float) * 3 * 112 * 112);
    if (!in) return sdk_fail(sdk, FACET_E_NO_MEMORY, "no memory");
    static const float mean[3] = {127.0f, 127.0f, 127.0f}, sc[3] = {1 / 128.0f, 1 / 128.0f, 1 / 128.0f};
    int rc = facet_image_to_tensor(chip, in, mean, sc, 0);
    if (rc) {
        free(in);
        return sdk_fail(sdk, rc, "faceprint input: %s", facet_last_error());
    }
    facet_nn_session *s;
    if ((rc = sdk_session_get(sdk, 2, NULL, NULL, 0, 0, &s))) {
        free(in);
        return rc;
    }
    rc = sdk_run(sdk, s, in, 3 * 112 * 112);
    free(in);
    if (rc) {
        sdk_session_put(sdk, s);
        return rc;
    }
    const float *y;
    facet_nn_shape ys;
    facet_nn_session_output(s, 0, &y, &ys);
    if (facet_nn_shape_count(&ys) != FACET_FACEPRINT_DIM) {
        sdk_session_put(sdk, s);
        return sdk_fail(sdk, FACET_E_MODEL, "feature model gives %lld values, expected %d",
                        (long long)facet_nn_shape_count(&ys), FACET_FACEPRINT_DIM);
    }
    double n2 = 0;
    for (int i = 0; i < FACET_FACEPRINT_DIM; i++) n2 += (double)y[i] * y[i];
    float inv = n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0.0f;
    for (int i = 0; i < FACET_FACEPRINT_DIM; i++) out->v[i] = y[i] * inv;
    sdk_session_put(sdk, s);
    if (!(n2 > 0) || !isfinite(n2)) return sdk_fail(sdk, FACET_E_INTERNAL, "the feature model gave a zero vector");
    out->dim = FACET_FACEPRINT_DIM;
    fp_model_id(sdk, out->model);
    return 0;
}

facet_status facet_faceprint_extract(facet_sdk *sdk, const facet_image *img, const facet_face *face, facet_faceprint *out)
{
    facet_image *chip;
    int rc = facet_extract_aligned_face(sdk, img, face, &chip);
    if (rc) return rc;
    if (chip->channels != 3) {
        facet_image *rgb;
        rc = facet_image_to_rgb(chip, &rgb);
        facet_image_destroy(chip);
        if (rc) return sdk_fail(sdk, rc, "%s", facet_last_error());
        chip = rgb;
    }
    rc = facet_faceprint_from_chip(sdk, chip, out);
    facet_image_destroy(chip);
    return rc;
}

/* ---- comparison ---- */

float facet_match_probability(float similarity)
{
    return 1.0f / (1.0f + expf(-(PROB_A * similarity + PROB_B)));
}

void facet_match_model(float *a, float *b)
{
    if (a) *a = PROB_A;
    if (b) *b = PROB_B;
}

float facet_match_threshold(void)
{
    return MATCH_THRESHOLD;
}

static int valid_fp(const facet_faceprint *f)
{
    if (f->dim < 1 || f->dim > FACET_FACEPRINT_DIM) return 0;
    if (memchr(f->model, 0, sizeof f->model) == NULL) return 0;
    for (int i = 0; i < f->dim; i++)
        if (!isfinite(f->v[i])) return 0;
    return 1;
}

facet_status facet_compare(const facet_faceprint *a, const facet_faceprint *b, float *similarity, float *probability)
{
    if (!a || !b || !similarity) return facet_seterr(NULL, FACET_E_INVALID_ARG, "a, b and similarity must not be NULL");
    if (!valid_fp(a) || !valid_fp(b))
        return facet_seterr(NULL, FACET_E_FORMAT, "a faceprint is malformed (dimension, model id or values)");
    if (strcmp(a->model, b->model) || a->dim != b->dim)
        return facet_seterr(NULL, FACET_E_MODEL, "faceprints of different models cannot be compared: %s/%d vs %s/%d",
                            a->model, a->dim, b->model, b->dim);
    double dot = 0, na = 0, nb = 0;
    for (int i = 0; i < a->dim; i++) {
        dot += (double)a->v[i] * b->v[i];
        na += (double)a->v[i] * a->v[i];
        nb += (double)b->v[i] * b->v[i];
    }
    double s = na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0;
    s = s > 1 ? 1 : s < -1 ? -1 : s;
    *similarity = (float)s;
    if (probability) *probability = facet_match_probability((float)s);
    return 0;
}

/* ---- fp16 ---- */

static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xff, man = x & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into the exponent: fine */
    return (uint16_t)half;
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, x;
    if (exp == 0) {
        if (!man) {
            x = sign;
        } else {
            int e = -1;
            do {
                man <<= 1;
                e++;
            } while (!(man & 0x400));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000 | (man << 13);
    } else {
        x = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- binary form ---- */

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static unsigned get16(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

facet_status facet_faceprint_serialize(const facet_faceprint *fp, int fp16, uint8_t **data, size_t *size)
{
    if (data) *data = NULL;
    if (!fp || !data || !size) return facet_seterr(NULL, FACET_E_INVALID_ARG, "fp, data and size must not be NULL");
    if (!valid_fp(fp)) return facet_seterr(NULL, FACET_E_INVALID_ARG, "fp is malformed");
    size_t idlen = strlen(fp->model), es = fp16 ? 2 : 4;
    size_t n = 12 + idlen + (size_t)fp->dim * es;
    uint8_t *p = facet_malloc(n);
    if (!p) return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory");
    memcpy(p, FP_MAGIC, 4);
    put16(p + 4, FP_VERSION);
    put16(p + 6, fp16 ? FP_F16 : FP_F32);
    put16(p + 8, (unsigned)fp->dim);
    put16(p + 10, (unsigned)idlen);
    memcpy(p + 12, fp->model, idlen);
    uint8_t *v = p + 12 + idlen;
    for (int i = 0; i < fp->dim; i++) {
        if (fp16) {
            put16(v + 2 * i, f32_to_f16(fp->v[i]));
        } else {
            uint32_t x;
            memcpy(&x, &fp->v[i], 4);
            for (int k = 0; k < 4; k++) v[4 * i + k] = (uint8_t)(x >> (8 * k));
        }
    }
    *data = p;
    *size = n;
    return 0;
}

facet_status facet_faceprint_deserialize(const void *data, size_t size, facet_faceprint *out)
{
    if (!data || !out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "data and out must not be NULL");
    const uint8_t *p = data;
    if (size < 12 || memcmp(p, FP_MAGIC, 4)) return facet_seterr(NULL, FACET_E_FORMAT, "not a faceprint (bad magic)");
    unsigned ver = get16(p + 4), type = get16(p + 6), dim = get16(p + 8), idlen = get16(p + 10);
    if (ver != FP_VERSION)
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint format version %u; this facet reads version %d", ver,
                            FP_VERSION);
    if (type != FP_F32 && type != FP_F16) return facet_seterr(NULL, FACET_E_FORMAT, "faceprint element type %u", type);
    if (dim < 1 || dim > FACET_FACEPRINT_DIM) return facet_seterr(NULL, FACET_E_FORMAT, "faceprint dimension %u", dim);
    if (idlen < 1 || idlen >= FACET_FACEPRINT_MODEL_MAX)
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint model id length %u", idlen);
    size_t es = type == FP_F16 ? 2 : 4;
    if (size != 12 + idlen + dim * es)
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint is %zu bytes, its header says %zu", size,
                            (size_t)(12 + idlen + dim * es));
    memset(out, 0, sizeof *out);
    memcpy(out->model, p + 12, idlen);
    if (memchr(out->model, 0, idlen)) return facet_seterr(NULL, FACET_E_FORMAT, "faceprint model id has a NUL byte");
    out->dim = (int)dim;
    const uint8_t *v = p + 12 + idlen;
    for (unsigned i = 0; i < dim; i++) {
        if (type == FP_F16) {
            out->v[i] = f16_to_f32((uint16_t)get16(v + 2 * i));
        } else {
            uint32_t x = 0;
            for (int k = 0; k < 4; k++) x |= (uint32_t)v[4 * i + k] << (8 * k);
            memcpy(&out->v[i], &x, 4);
        }
        if (!isfinite(out->v[i])) return facet_seterr(NULL, FACET_E_FORMAT, "faceprint value %u is not finite", i);
    }
    return 0;
}

/* ---- JSON form ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* Decodes standard base64 (with padding); returns the byte count or -1. */
static long b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4) return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) v[k] = in[i + k] == '=' && i + 4 == n && k >= 2 ? 0 : b64_value(in[i + k]);
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0) return -1;
        if (in[i + 2] == '=' && in[i + 3] != '=') return -1;
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        int bytes = in[i + 2] == '=' ? 1 : in[i + 3] == '=' ? 2 : 3;
        for (int k = 0; k < bytes; k++) {
            if (o >= cap) return -1;
            out[o++] = (uint8_t)(x >> (16 - 8 * k));
        }
    }
    return (long)o;
}

facet_status facet_faceprint_to_json(const facet_faceprint *fp, int fp16, char **json)
{
    if (json) *json = NULL;
    if (!fp || !json) return facet_seterr(NULL, FACET_E_INVALID_ARG, "fp and json must not be NULL");
    if (!valid_fp(fp)) return facet_seterr(NULL, FACET_E_INVALID_ARG, "fp is malformed");
    for (const char *c = fp->model; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            return facet_seterr(NULL, FACET_E_INVALID_ARG, "model id has characters JSON would need to escape");
    uint8_t *bin;
    size_t n;
    int rc = facet_faceprint_serialize(fp, fp16, &bin, &n);
    if (rc) return rc;
    size_t vbytes = n - 12 - strlen(fp->model);
    size_t cap = 96 + strlen(fp->model) + (vbytes + 2) / 3 * 4 + 1;
    char *out = facet_malloc(cap);
    if (!out) {
        free(bin);
        return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory");
    }
    int k = snprintf(out, cap, "{\"model\": \"%s\", \"dim\": %d, \"dtype\": \"%s\", \"data\": \"", fp->model, fp->dim,
                     fp16 ? "f16" : "f32");
    size_t o = (size_t)k + b64_encode(bin + n - vbytes, vbytes, out + k);
    snprintf(out + o, cap - o, "\"}");
    free(bin);
    *json = out;
    return 0;
}

/* Finds "key": in a flat JSON object and returns a pointer past the colon (whitespace skipped). */
static const char *json_field(const char *json, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = json; (p = strchr(p, '"')) != NULL; p++) {
        if (!strncmp(p + 1, key, kl) && p[1 + kl] == '"') {
            const char *q = p + 2 + kl;
            while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
            if (*q != ':') continue;
            q++;
            while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
            return q;
        }
    }
    return NULL;
}

/* Copies a JSON string value (no escapes allowed: faceprint fields never need them). */
static int json_string(const char *p, char *out, size_t cap, size_t *len)
{
    if (!p || *p != '"') return -1;
    const char *e = p + 1;
    while (*e && *e != '"' && *e != '\\') e++;
    if (*e != '"') return -1;
    size_t n = (size_t)(e - p - 1);
    if (out) {
        if (n >= cap) return -1;
        memcpy(out, p + 1, n);
        out[n] = 0;
    }
    if (len) *len = n;
    return 0;
}

facet_status facet_faceprint_from_json(const char *json, facet_faceprint *out)
{
    if (!json || !out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "json and out must not be NULL");
    char model[FACET_FACEPRINT_MODEL_MAX], dtype[8];
    const char *pm = json_field(json, "model"), *pt = json_field(json, "dtype"), *pd = json_field(json, "data");
    const char *pdim = json_field(json, "dim");
    size_t dlen;
    if (json_string(pm, model, sizeof model, NULL) || json_string(pt, dtype, sizeof dtype, NULL) ||
        json_string(pd, NULL, 0, &dlen) || !pdim)
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON needs string fields model, dtype, data and dim");
    char *end;
    long dim = strtol(pdim, &end, 10);
    if (end == pdim || dim < 1 || dim > FACET_FACEPRINT_DIM)
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: bad dim");
    int f16 = !strcmp(dtype, "f16");
    if (!f16 && strcmp(dtype, "f32")) return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: dtype '%s'", dtype);
    size_t idlen = strlen(model), es = f16 ? 2 : 4, vbytes = (size_t)dim * es;
    if (idlen < 1) return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: empty model");
    uint8_t *bin = facet_malloc(12 + idlen + vbytes + 4);
    if (!bin) return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory");
    memcpy(bin, FP_MAGIC, 4);
    put16(bin + 4, FP_VERSION);
    put16(bin + 6, f16 ? FP_F16 : FP_F32);
    put16(bin + 8, (unsigned)dim);
    put16(bin + 10, (unsigned)idlen);
    memcpy(bin + 12, model, idlen);
    long got = b64_decode(pd + 1, dlen, bin + 12 + idlen, vbytes + 4);
    int rc;
    if (got != (long)vbytes)
        rc = facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: data holds %ld bytes, dim %ld needs %zu", got, dim,
                          vbytes);
    else
        rc = facet_faceprint_deserialize(bin, 12 + idlen + vbytes, out);
    free(bin);
    return rc;
}
