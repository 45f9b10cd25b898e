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

#include <jansson.h>

#include "face/match.h"
#include "sdk.h"

/* How the chip becomes fr_feature's input. Version 1 fed RGB, as the model's JavaScript authors
 * do; version 2 feeds BGR, which the paired benchmark of docs/faceprint.md found significantly
 * better (TAR at FAR 1e-3 +0.40 points, 95% interval +0.02..+0.80; rank-1 +1.43, +0.88..+2.06),
 * both (pixel - 127) / 128. Any change to what reaches the network changes the faceprints, so
 * the version is part of the model id: a collection enrolled under one version refuses probes
 * of another (FACET_E_MODEL) until `facet collection migrate` re-enrols it from its chips. */
#define PREPROC_VERSION 2
#define FEATURE_BGR 1

#define FP_MAGIC "FPRT"
#define FP_VERSION 1
#define FP_F32 1
#define FP_F16 2

/* "fr_feature@87aacdfe" for version 1 without mirror averaging (the id every faceprint had
 * before versions existed), else e.g. "fr_feature@87aacdfe/p2" or ".../p2m" (mirror-averaged). */
static void fp_model_id(const facet_sdk *sdk, char *out)
{
    int mirror = sdk->set.faceprint_mirror;
    if (PREPROC_VERSION == 1 && !mirror)
        snprintf(out, FACET_FACEPRINT_MODEL_MAX, "fr_feature@%.8s", sdk->model_sha[2]);
    else
        snprintf(out, FACET_FACEPRINT_MODEL_MAX, "fr_feature@%.8s/p%d%s", sdk->model_sha[2], PREPROC_VERSION,
                 mirror ? "m" : "");
}

/* Adds the L2-normalised network output y to acc; fails on a zero or non-finite output. */
static int add_normalised(const float *y, double *acc)
{
    double n2 = 0;
    for (int i = 0; i < FACET_FACEPRINT_DIM; i++) n2 += (double)y[i] * y[i];
    if (!(n2 > 0) || !isfinite(n2)) return -1;
    double inv = 1.0 / sqrt(n2);
    for (int i = 0; i < FACET_FACEPRINT_DIM; i++) acc[i] += y[i] * inv;
    return 0;
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
    int mirror = sdk->set.faceprint_mirror, plane = 112 * 112;
    float *in = facet_malloc(sizeof(float) * 3 * (size_t)plane * (mirror ? 2 : 1));
    if (!in) return sdk_fail(sdk, FACET_E_NO_MEMORY, "no memory");
    static const float mean[3] = {127.0f, 127.0f, 127.0f}, sc[3] = {1 / 128.0f, 1 / 128.0f, 1 / 128.0f};
    int rc = facet_image_to_tensor(chip, in, mean, sc, FEATURE_BGR);
    if (rc) {
        free(in);
        return sdk_fail(sdk, rc, "faceprint input: %s", facet_last_error());
    }
    if (mirror) {
        /* the mirror image, flipped in the planar tensor (cheaper than a second conversion) */
        float *m = in + 3 * plane;
        for (int r = 0; r < 3 * 112; r++)
            for (int x = 0; x < 112; x++) m[r * 112 + x] = in[r * 112 + 111 - x];
    }
    facet_nn_session *s;
    if ((rc = sdk_session_get(sdk, 2, NULL, NULL, 0, 0, &s))) {
        free(in);
        return rc;
    }
    double acc[FACET_FACEPRINT_DIM] = {0};
    for (int k = 0; k <= mirror && !rc; k++) {
        if ((rc = sdk_run(sdk, s, in + (size_t)k * 3 * plane, (size_t)3 * plane))) break;
        const float *y;
        facet_nn_shape ys;
        facet_nn_session_output(s, 0, &y, &ys);
        if (facet_nn_shape_count(&ys) != FACET_FACEPRINT_DIM)
            rc = sdk_fail(sdk, FACET_E_MODEL, "feature model gives %lld values, expected %d",
                          (long long)facet_nn_shape_count(&ys), FACET_FACEPRINT_DIM);
        else if (add_normalised(y, acc))
            rc = sdk_fail(sdk, FACET_E_INTERNAL, "the feature model gave a zero or non-finite vector");
    }
    sdk_session_put(sdk, s);
    free(in);
    if (rc) return rc;
    double n2 = 0;
    for (int i = 0; i < FACET_FACEPRINT_DIM; i++) n2 += acc[i] * acc[i];
    /* a face and its mirror image with opposite faceprints: nothing to normalise */
    if (!(n2 > 1e-12)) return sdk_fail(sdk, FACET_E_INTERNAL, "the chip and its mirror image cancel out");
    double inv = 1.0 / sqrt(n2);
    for (int i = 0; i < FACET_FACEPRINT_DIM; i++) out->v[i] = (float)(acc[i] * inv);
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

/* Model ids are printable ASCII without spaces ("fr_feature@87aacdfe"), so they pass through
 * JSON, SQL and terminals unchanged. */
static int valid_model_id(const char *m, size_t n)
{
    if (n < 1 || n >= FACET_FACEPRINT_MODEL_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 0x21 || m[i] > 0x7e) return 0;
    return 1;
}

/* What a faceprint promises (facet/face.h): a model id, dim in 1..FACET_FACEPRINT_DIM, finite
 * values of unit L2 norm. `status` is the code to fail with; `what` names the faceprint. */
static int check_fp(const facet_faceprint *f, int status, const char *what)
{
    const char *nul = memchr(f->model, 0, sizeof f->model);
    if (!nul || !valid_model_id(f->model, (size_t)(nul - f->model)))
        return facet_seterr(NULL, status, "%s: model id is not 1..%d printable ASCII characters", what,
                            FACET_FACEPRINT_MODEL_MAX - 1);
    if (f->dim < 1 || f->dim > FACET_FACEPRINT_DIM)
        return facet_seterr(NULL, status, "%s: dim %d is not in 1..%d", what, f->dim, FACET_FACEPRINT_DIM);
    double norm = 0;
    size_t where = 0;
    switch (facet_vec_unit_check(f->v, (size_t)f->dim, &norm, &where)) {
    case FACET_VEC_NOT_FINITE:
        return facet_seterr(NULL, status, "%s: value %zu is not finite", what, where);
    case FACET_VEC_NOT_UNIT:
        return facet_seterr(NULL, status, "%s: L2 norm %.6g is not 1 (+-%g): not a faceprint", what, norm,
                            FACET_NORM_TOL);
    default:
        return 0;
    }
}

facet_status facet_compare(const facet_faceprint *a, const facet_faceprint *b, float *similarity, float *probability)
{
    if (!a || !b || !similarity) return facet_seterr(NULL, FACET_E_INVALID_ARG, "a, b and similarity must not be NULL");
    int rc;
    if ((rc = check_fp(a, FACET_E_FORMAT, "faceprint a")) || (rc = check_fp(b, FACET_E_FORMAT, "faceprint b")))
        return rc;
    if (strcmp(a->model, b->model) || a->dim != b->dim)
        return facet_seterr(NULL, FACET_E_MODEL, "faceprints of different models cannot be compared: %s/%d vs %s/%d",
                            a->model, a->dim, b->model, b->dim);
    double dot = 0, na = 0, nb = 0;
    for (int i = 0; i < a->dim; i++) {
        dot += (double)a->v[i] * b->v[i];
        na += (double)a->v[i] * a->v[i];
        nb += (double)b->v[i] * b->v[i];
    }
    double s = dot / sqrt(na * nb); /* both norms are near 1 (checked above) */
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
    int rc = check_fp(fp, FACET_E_INVALID_ARG, "fp");
    if (rc) return rc;
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
    if (!valid_model_id((const char *)p + 12, idlen))
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint model id is not printable ASCII");
    facet_faceprint fp;
    memset(&fp, 0, sizeof fp);
    memcpy(fp.model, p + 12, idlen);
    fp.dim = (int)dim;
    const uint8_t *v = p + 12 + idlen;
    for (unsigned i = 0; i < dim; i++) {
        if (type == FP_F16) {
            fp.v[i] = f16_to_f32((uint16_t)get16(v + 2 * i));
        } else {
            uint32_t x = 0;
            for (int k = 0; k < 4; k++) x |= (uint32_t)v[4 * i + k] << (8 * k);
            memcpy(&fp.v[i], &x, 4);
        }
    }
    /* the unit length the format promises: a zero or unnormalised vector is not a faceprint */
    int rc = check_fp(&fp, FACET_E_FORMAT, "faceprint");
    if (rc) return rc;
    *out = fp;
    return 0;
}

/* ---- JSON form (jansson) ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* Decodes canonical standard base64 (padded, unused bits zero, so that each byte string has
 * exactly one accepted text) of exactly `want` bytes into out; on failure returns nonzero with
 * the position and cause in the thread's error message. */
static int b64_decode_exact(const char *in, size_t n, uint8_t *out, size_t want)
{
    if (n % 4)
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: data: base64 length %zu is not a multiple of 4", n);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int pad = 0;
        uint32_t x = 0;
        for (int k = 0; k < 4; k++) {
            char c = in[i + k];
            int v = 0;
            if (c == '=' && i + 4 == n && k >= 2 && (k == 3 || in[i + 3] == '=')) {
                pad++;
            } else if ((v = b64_value(c)) < 0 || pad) {
                if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                    return facet_seterr(NULL, FACET_E_FORMAT,
                                        "faceprint JSON: data: '%c' at position %zu is not base64", c, i + k);
                return facet_seterr(NULL, FACET_E_FORMAT,
                                    "faceprint JSON: data: byte 0x%02x at position %zu is not base64",
                                    (unsigned char)c, i + k);
            }
            x = x << 6 | (uint32_t)v;
        }
        int bytes = 3 - pad;
        if ((pad == 1 && (x & 0xff)) || (pad == 2 && (x & 0xffff)))
            return facet_seterr(NULL, FACET_E_FORMAT,
                                "faceprint JSON: data: unused bits before the padding at position %zu are not zero",
                                i + 3 - (size_t)pad);
        for (int k = 0; k < bytes; k++) {
            if (o < want) out[o] = (uint8_t)(x >> (16 - 8 * k));
            o++;
        }
    }
    if (o != want)
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: data holds %zu bytes where dim and dtype need %zu",
                            o, want);
    return 0;
}

facet_status facet_faceprint_to_json(const facet_faceprint *fp, int fp16, char **json)
{
    if (json) *json = NULL;
    if (!fp || !json) return facet_seterr(NULL, FACET_E_INVALID_ARG, "fp and json must not be NULL");
    uint8_t *bin;
    size_t n;
    int rc = facet_faceprint_serialize(fp, fp16, &bin, &n); /* validates fp */
    if (rc) return rc;
    size_t vbytes = n - 12 - strlen(fp->model);
    char *data = NULL;
    json_t *o = NULL;
    char *out = NULL;
    if (facet_base64_encode(bin + n - vbytes, vbytes, &data) == FACET_OK) {
        o = json_pack("{s:s, s:i, s:s, s:s}", "model", fp->model, "dim", fp->dim, "dtype", fp16 ? "f16" : "f32",
                      "data", data);
    }
    char *text = o ? json_dumps(o, JSON_PRESERVE_ORDER) : NULL;
    /* copied into the library's own allocation, which the allocation-failure tests reach */
    if (text && (out = facet_malloc(strlen(text) + 1))) memcpy(out, text, strlen(text) + 1);
    free(text); /* jansson's default allocator */
    json_decref(o);
    facet_free(data);
    free(bin);
    if (!out) return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory for the faceprint JSON");
    *json = out;
    return 0;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* The string member `key` of o (any JSON escapes resolved, NUL refused) or an error. */
static int member_string(json_t *o, const char *key, const char **s, size_t *len)
{
    json_t *v = json_object_get(o, key);
    if (!v) return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: \"%s\" is missing", key);
    if (!json_is_string(v))
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: \"%s\" must be a string, not %s", key,
                            json_type_name(v));
    *s = json_string_value(v);
    *len = json_string_length(v);
    if (strlen(*s) != *len)
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: \"%s\" contains a NUL character", key);
    return 0;
}

static int from_json_object(json_t *root, facet_faceprint *out)
{
    if (!json_is_object(root))
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON must be an object, not %s", json_type_name(root));
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "model") && strcmp(key, "dim") && strcmp(key, "dtype") && strcmp(key, "data"))
            return facet_seterr(NULL, FACET_E_FORMAT,
                                "faceprint JSON: unknown member \"%.40s\" (expected model, dim, dtype, data)", key);
    }
    const char *model, *dtype, *data;
    size_t mlen, tlen, dlen;
    int rc;
    if ((rc = member_string(root, "model", &model, &mlen)) || (rc = member_string(root, "dtype", &dtype, &tlen)) ||
        (rc = member_string(root, "data", &data, &dlen)))
        return rc;
    json_t *jd = json_object_get(root, "dim");
    if (!jd) return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: \"dim\" is missing");
    if (!json_is_integer(jd))
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: \"dim\" must be an integer, not %s",
                            json_type_name(jd));
    json_int_t dim = json_integer_value(jd);
    if (dim < 1 || dim > FACET_FACEPRINT_DIM)
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: \"dim\" %lld is not in 1..%d", (long long)dim,
                            FACET_FACEPRINT_DIM);
    if (!valid_model_id(model, mlen))
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: \"model\" is not 1..%d printable ASCII characters",
                            FACET_FACEPRINT_MODEL_MAX - 1);
    int f16 = !strcmp(dtype, "f16");
    if (!f16 && strcmp(dtype, "f32"))
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: \"dtype\" must be \"f32\" or \"f16\"");
    size_t vbytes = (size_t)dim * (f16 ? 2 : 4), n = 12 + mlen + vbytes;
    uint8_t *bin = facet_malloc(n);
    if (!bin) return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory");
    memcpy(bin, FP_MAGIC, 4);
    put16(bin + 4, FP_VERSION);
    put16(bin + 6, f16 ? FP_F16 : FP_F32);
    put16(bin + 8, (unsigned)dim);
    put16(bin + 10, (unsigned)mlen);
    memcpy(bin + 12, model, mlen);
    rc = b64_decode_exact(data, dlen, bin + 12 + mlen, vbytes);
    if (!rc) rc = facet_faceprint_deserialize(bin, n, out);
    free(bin);
    return rc;
}

facet_status facet_faceprint_from_json(const char *json, facet_faceprint *out)
{
    if (!json || !out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "json and out must not be NULL");
    json_error_t err;
    /* strict: one value and nothing after it (jansson's default end check), no duplicate keys;
     * \u0000 is let through the parser so that the check above can name the member */
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!root)
        return facet_seterr(NULL, FACET_E_FORMAT, "faceprint JSON: line %d column %d (byte %d): %s", err.line,
                            err.column, err.position, err.text);
    int rc = from_json_object(root, out);
    json_decref(root);
    return rc;
}
