/*
 * compreface.c - CompreFace's REST API (exadel-inc/CompreFace, docs/Rest-API-description.md)
 * under /api/v1/, so that CompreFace's SDKs, Double Take and other CompreFace clients switch to
 * facetd by changing a URL. docs/compreface.md says what maps to what and what differs.
 *
 * Keys: CompreFace sends "x-api-key: KEY", one key per service. Here a key is any facetd key
 * (POST /v1/keys, also valid as "Authorization: Bearer KEY" on facetd's own routes); the
 * recognition service needs a key bound to a collection, which is its face collection (subjects
 * are identities, examples are enrolments). Within its collection a recognition key may add and
 * delete examples, as in CompreFace. Detection and verification take any valid key.
 *
 * Replies and errors keep CompreFace's shapes: {"message": ..., "code": N} with CompreFace's
 * numeric codes and HTTP statuses (its Java CommonExceptionCode), e.g. 400/28 "No face is found
 * in the given image", 404/42 "Subject X not found", 404/10 for an unknown key. Routes are
 * registered as public with SRV_RAW_BODY, so that the key check and every body error here can
 * answer in that shape rather than facetd's.
 *
 * Similarity: CompreFace reports (tanh((c0 - d) * c1) + 1) / 2 of the Euclidean distance d of
 * unit embeddings, a logistic curve fitted per model that is 0.5 at its decision distance c0;
 * facetd reports facet's match probability, the logistic of the cosine similarity fitted on
 * LFW, which is 0.5 at facet's own threshold. Same role, same scale, so clients' thresholds
 * keep their meaning; both rounded to 5 decimals.
 *
 * Examples keep their original bytes as the enrolment's payload when the collection keeps
 * payloads (POST /v1/keys creates recognition collections that do), so clients can download
 * them; subjects created without examples are identities declared in the store
 * (facet_gallery_add_identity), so they outlive a restart and every node sees them.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server.h"

/* CompreFace's error codes (java/common/.../handler/CommonExceptionCode.java). */
enum {
    CF_UNDEFINED = 0,
    CF_EMPTY_REQUIRED_FIELD = 5,
    CF_MODEL_NOT_FOUND = 10,
    CF_MISSING_REQUEST_HEADER = 20,
    CF_UNAVAILABLE_FILE = 21,
    CF_VALIDATION = 26,
    CF_NO_FACES_FOUND = 28,
    CF_TOO_MANY_FACES = 31,
    CF_MISSING_PARAMETER = 33,
    CF_MISSING_PART = 34,
    CF_INCORRECT_ARGUMENT = 36,
    CF_FACES_SERVICE = 41,
    CF_SUBJECT_NOT_FOUND = 42,
    CF_SUBJECT_EXISTS = 43,
    CF_EMBEDDING_NOT_FOUND = 44,
};

static const char NO_FACE[] = "No face is found in the given image";

static void cf_error(srv_resp *out, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void cf_error(srv_resp *out, int status, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (size_t i = 0; msg[i]; i++) /* client bytes quoted in a message stay valid JSON text */
        if ((unsigned char)msg[i] >= 0x80 || (unsigned char)msg[i] < 0x20) msg[i] = '?';
    srv_json(out, status, json_pack("{s:s,s:i}", "message", msg, "code", code));
    if (status == 503) out->retry_after = 1;
}

/* Replies with `j` (reference taken); floats with 9 significant digits, enough for float32
 * embeddings, so 0.97858 prints as 0.97858. */
static void cf_json(srv_resp *out, int status, json_t *j)
{
    char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    if (!txt) {
        cf_error(out, 503, CF_UNDEFINED, "out of memory");
        return;
    }
    srv_text(out, status, "application/json", txt, strlen(txt));
}

/* A libfacet failure in CompreFace's shape: bad images are 400/28 (what CompreFace answers for
 * any image its face service refuses), store failures 503. */
static void cf_facet_error(srv *s, srv_resp *out, int rc, const char *what)
{
    const char *msg = facet_last_error();
    if (!msg || !*msg) msg = facet_status_str(rc);
    switch (rc) {
    case FACET_E_FORMAT:
    case FACET_E_UNSUPPORTED:
        cf_error(out, 400, CF_NO_FACES_FOUND, "Image has incorrect format or is broken: %s", msg);
        break;
    case FACET_E_LIMIT: cf_error(out, 413, CF_UNDEFINED, "%s: %s", what, msg); break;
    case FACET_E_INVALID_ARG: cf_error(out, 400, CF_INCORRECT_ARGUMENT, "%s: %s", what, msg); break;
    case FACET_E_NOT_FOUND: cf_error(out, 404, CF_UNDEFINED, "%s: %s", what, msg); break;
    case FACET_E_STORE:
    case FACET_E_NO_MEMORY:
        srv_log(s, "error", "compreface: %s: %s", what, msg);
        cf_error(out, 503, CF_UNDEFINED, "%s: %s", what, msg);
        break;
    default:
        srv_log(s, "error", "compreface: %s: %s (%d)", what, msg, rc);
        cf_error(out, 500, CF_UNDEFINED, "%s: %s", what, msg);
    }
}

static double round5(double x) { return round(x * 1e5) / 1e5; }

/* ---- keys -------------------------------------------------------------------------------- */

typedef enum cf_service { CF_RECOGNITION, CF_DETECTION, CF_VERIFICATION } cf_service;

static const char *const service_name[] = {"Recognition", "Detection", "Verification"};

/* Checks `key` for `svc`: 0 with the key's collection in coll (recognition), or -1 with the
 * error in `out`. */
static int cf_key(srv *s, const char *key, cf_service svc, char coll[FACET_NAME_MAX + 1],
                  srv_resp *out)
{
    if (!key || !*key) {
        cf_error(out, 400, CF_MISSING_REQUEST_HEADER, "Missing header: x-api-key");
        return -1;
    }
    /* CompreFace quotes the key; only its start here, so a reply never carries a secret whole */
    char shown[16];
    snprintf(shown, sizeof shown, "%.6s...", key);
    char bearer[300];
    srv_role role;
    int st = strlen(key) < 256 ? (snprintf(bearer, sizeof bearer, "Bearer %s", key),
                                  srv_auth_check(s, bearer, &role, coll))
                               : 401;
    if (st == 401 || (!st && role < SRV_ROLE_RECOGNIZE)) {
        cf_error(out, 404, CF_MODEL_NOT_FOUND, "%s service with API Key %s not found",
                 service_name[svc], shown);
        return -1;
    }
    if (st) {
        cf_error(out, 503, CF_FACES_SERVICE, "the key store cannot be read now");
        return -1;
    }
    if (svc != CF_RECOGNITION) return 0;
    if (!coll[0]) {
        cf_error(out, 404, CF_MODEL_NOT_FOUND,
                 "%s service with API Key %s not found (a recognition key is bound to a "
                 "collection: POST /v1/keys {\"role\": \"recognize\", \"collection\": NAME})",
                 service_name[svc], shown);
        return -1;
    }
    /* a key made before POST /v1/keys created collections, or whose collection was dropped
     * since: made again on use, as CompreFace makes a service's collection with the service */
    int rc = srv_cf_collection_ensure(s, coll, NULL);
    if (rc) {
        cf_facet_error(s, out, rc, "loading the key's collection");
        return -1;
    }
    return 0;
}

int srv_cf_collection_ensure(srv *s, const char *name, int *created)
{
    if (created) *created = 0;
    int rc = facet_collection_load(srv_gallery(s), name, NULL);
    if (rc != FACET_E_NOT_FOUND) return rc;
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = srv_model_id(s);
    cs.dim = FACET_FACEPRINT_DIM;
    cs.keep_payload = 1;
    rc = facet_collection_create(srv_gallery(s), name, &cs);
    if (!rc && created) *created = 1;
    if (rc == FACET_E_EXISTS) rc = facet_collection_load(srv_gallery(s), name, NULL);
    return rc;
}

static int cf_auth(srv *s, srv_req *r, cf_service svc, char coll[FACET_NAME_MAX + 1],
                   srv_resp *out)
{
    return cf_key(s, r->api_key, svc, coll, out);
}

/* ---- arguments --------------------------------------------------------------------------- */

enum { PL_LANDMARKS = 1, PL_CALCULATOR = 2, PL_AGE = 4, PL_GENDER = 8, PL_POSE = 16 };

typedef struct cf_opts {
    long limit;            /* faces, biggest first; 0: all */
    double det;            /* det_prob_threshold; < 0: the server's detector threshold */
    unsigned plugins;      /* PL_ bits */
    int status;            /* execution times and plugin versions */
    long prediction_count; /* subjects per face (recognize) */
    int detect_faces;      /* 0: the image is one face crop */
} cf_opts;

/* Strict integer / number / boolean query parameters: a typo is a 400, never a default. */
static int q_long(srv_req *r, const char *name, long def, long lo, const char *rule, long *v,
                  srv_resp *out)
{
    const char *t = srv_query(r, name);
    *v = def;
    if (!t) return 0;
    long x;
    if (facet_parse_long(t, LONG_MIN, LONG_MAX, &x)) {
        cf_error(out, 400, CF_VALIDATION, "%s: '%.40s' is not an integer", name, t);
        return -1;
    }
    if (x < lo) {
        cf_error(out, 400, CF_VALIDATION, "%s", rule);
        return -1;
    }
    *v = x;
    return 0;
}

static int q_bool(srv_req *r, const char *name, int def, int *v, srv_resp *out)
{
    const char *t = srv_query(r, name);
    *v = def;
    if (!t) return 0;
    if (!strcasecmp(t, "true")) *v = 1;
    else if (!strcasecmp(t, "false")) *v = 0;
    else {
        cf_error(out, 400, CF_VALIDATION, "%s must be true or false, not '%.40s'", name, t);
        return -1;
    }
    return 0;
}

static int q_threshold(srv_req *r, double *v, srv_resp *out)
{
    const char *t = srv_query(r, "det_prob_threshold");
    *v = -1;
    if (!t || !*t) return 0;
    double x;
    if (facet_parse_double(t, 0, 1, &x)) {
        cf_error(out, 400, CF_VALIDATION,
                 "det_prob_threshold must be a number between 0.0 and 1.0, not '%.40s'", t);
        return -1;
    }
    *v = x;
    return 0;
}

/* face_plugins: a comma-separated list. The plugins facet has are computed; the ones
 * CompreFace has and facet lacks ("mask", "landmarks2d106") are refused by name, never faked;
 * other names are ignored as CompreFace ignores them (Double Take sends
 * "face_plugins=undefined" unless configured). */
static int q_plugins(srv_req *r, unsigned *v, srv_resp *out)
{
    static const struct { const char *name; unsigned bit; } known[] = {
        {"landmarks", PL_LANDMARKS}, {"calculator", PL_CALCULATOR}, {"age", PL_AGE},
        {"gender", PL_GENDER},       {"pose", PL_POSE},           {"mask", 0},
        {"landmarks2d106", 0},
    };
    *v = 0;
    const char *t = srv_query(r, "face_plugins");
    if (!t) return 0;
    while (*t) {
        while (*t == ',' || *t == ' ') t++;
        size_t n = strcspn(t, ", ");
        if (!n) break;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
            if (strlen(known[i].name) != n || strncmp(t, known[i].name, n)) continue;
            if (!known[i].bit) {
                cf_error(out, 400, CF_INCORRECT_ARGUMENT,
                         "Face plugin '%s' is not available on this server: facet has no such "
                         "model (it provides landmarks, calculator, age, gender and pose)",
                         known[i].name);
                return -1;
            }
            *v |= known[i].bit;
        }
        t += n;
    }
    return 0;
}

static int cf_options(srv_req *r, int recognize, cf_opts *o, srv_resp *out)
{
    memset(o, 0, sizeof *o);
    if (q_long(r, "limit", 0, 0, "Limit should be equal or greater than 0", &o->limit, out) ||
        q_threshold(r, &o->det, out) || q_plugins(r, &o->plugins, out) ||
        q_bool(r, "status", 0, &o->status, out) ||
        q_bool(r, "detect_faces", 1, &o->detect_faces, out))
        return -1;
    if (recognize &&
        q_long(r, "prediction_count", 1, 1, "prediction_count should be equal or greater than 1",
               &o->prediction_count, out))
        return -1;
    return 0;
}

/* ---- bodies and images --------------------------------------------------------------------- */

typedef struct cf_body {
    int multipart;
    json_t *json;    /* a JSON body (object or array), or NULL */
    uint8_t *owned[2];
} cf_body;

static void cf_body_free(srv_req *r, cf_body *b)
{
    json_decref(b->json);
    free(b->owned[0]);
    free(b->owned[1]);
    srv_body_free(&r->parsed);
    memset(b, 0, sizeof *b);
}

/* Parses the body: multipart/form-data through facetd's parser, JSON here (CompreFace sends
 * arrays too). An empty body is no error: the handler says what is missing. */
static int cf_body_parse(srv_req *r, cf_body *b, srv_resp *out)
{
    memset(b, 0, sizeof *b);
    if (r->body_size == 0) return 0;
    const char *ct = r->content_type ? r->content_type : "";
    while (*ct == ' ') ct++;
    if (!strncasecmp(ct, "application/json", 16)) {
        json_error_t e;
        b->json = json_loadb((const char *)r->body, r->body_size, JSON_REJECT_DUPLICATES, &e);
        if (!b->json) {
            cf_error(out, 400, CF_UNDEFINED, "Malformed JSON at line %d column %d: %s", e.line,
                     e.column, e.text);
            return -1;
        }
        return 0;
    }
    if (!strncasecmp(ct, "multipart/form-data", 19)) {
        srv_resp tmp = {0};
        if (srv_body_parse(r, &tmp)) {
            srv_resp_free(&tmp);
            srv_body_free(&r->parsed);
            cf_error(out, 400, CF_UNDEFINED, "Malformed multipart/form-data body");
            return -1;
        }
        srv_resp_free(&tmp);
        b->multipart = 1;
        return 0;
    }
    cf_error(out, 415, CF_UNDEFINED, "Content type '%.60s' not supported: use multipart/form-data "
             "or application/json", ct);
    return -1;
}

/* The image input `field` ("file", "source_image", "target_image"): a multipart part or a
 * base64 JSON string. Its bytes stay valid until cf_body_free; `slot` picks the buffer that
 * owns decoded base64. */
static int cf_image_bytes(srv_req *r, cf_body *b, const char *field, int slot,
                          const uint8_t **data, size_t *size, srv_resp *out)
{
    if (b->multipart) {
        const srv_part *p = srv_body_part(r, field);
        if (!p) {
            cf_error(out, 400, CF_MISSING_PART, "Required part %s is missing", field);
            return -1;
        }
        *data = p->data;
        *size = p->size;
        return 0;
    }
    json_t *v = json_is_object(b->json) ? json_object_get(b->json, field) : NULL;
    if (!v) {
        cf_error(out, 400, CF_EMPTY_REQUIRED_FIELD, "Field %s cannot be empty", field);
        return -1;
    }
    const char *t = json_string_value(v);
    if (t && !strncmp(t, "data:", 5) && strchr(t, ',')) t = strchr(t, ',') + 1;
    if (!t || srv_base64_decode(t, strlen(t), &b->owned[slot], size)) {
        cf_error(out, 400, CF_UNAVAILABLE_FILE, "Provided value is not Base64");
        return -1;
    }
    *data = b->owned[slot];
    return 0;
}

static int cf_decode(srv *s, const uint8_t *data, size_t size, facet_image **img, srv_resp *out)
{
    facet_decode_options opt;
    facet_decode_defaults(&opt);
    opt.max_pixels = srv_cfg(s)->max_pixels;
    int rc = facet_image_decode_memory(data, size, &opt, img);
    if (rc) {
        cf_facet_error(s, out, rc, "decoding the image");
        return -1;
    }
    return 0;
}

/* ---- faces ----------------------------------------------------------------------------------- */

typedef struct cf_face {
    facet_face f;
    int has_fp;
    facet_faceprint fp;
    facet_attributes attr;
    facet_quality q;
    double ms_calc, ms_attr, ms_pose;
} cf_face;

typedef struct cf_faces {
    cf_face *v;
    int n;
    int img_w, img_h;
    double ms_detect;
} cf_faces;

static int area_desc(const void *a, const void *b)
{
    const facet_face *x = a, *y = b;
    double ax = (double)x->w * x->h, ay = (double)y->w * y->h;
    return ax < ay ? 1 : ax > ay ? -1 : 0;
}

/* Finds the faces of `img` as the options ask (biggest first), with a faceprint when `need_fp`
 * or the calculator plugin asks, and the plugins' results. No face is 400/28. */
static int cf_find(srv *s, const facet_image *img, const cf_opts *o, int need_fp, cf_faces *res,
                   srv_resp *out)
{
    facet_sdk *sdk = srv_sdk(s);
    memset(res, 0, sizeof *res);
    res->img_w = img->width;
    res->img_h = img->height;
    double t0 = srv_now();
    facet_face one, *lib = NULL, *faces = &one; /* lib: the library's list, facet_free'd */
    int n = 0, rc;
    if (o->detect_faces) {
        rc = facet_detect_faces(sdk, img, &lib, &n);
        faces = lib;
    } else {
        /* the image is one face crop (CompreFace's detect_faces=false): landmarks in the box of
         * the whole image align it */
        one = (facet_face){.x = 0, .y = 0, .w = (float)img->width, .h = (float)img->height,
                           .score = 1.0f};
        n = 1;
        rc = facet_face_landmarks(sdk, img, &one);
    }
    if (rc) {
        facet_free(lib);
        cf_facet_error(s, out, rc, "detecting faces");
        return -1;
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (o->det < 0 || faces[i].score >= o->det) faces[k++] = faces[i];
    qsort(faces, (size_t)k, sizeof *faces, area_desc);
    if (o->limit > 0 && k > o->limit) k = (int)o->limit;
    int max_faces = srv_cfg(s)->max_faces;
    if (max_faces > 0 && k > max_faces) k = max_faces; /* the biggest, as `limit` would */
    res->ms_detect = (srv_now() - t0) * 1000;
    if (k == 0) {
        facet_free(lib);
        cf_error(out, 400, CF_NO_FACES_FOUND, "%s", NO_FACE);
        return -1;
    }
    res->v = calloc((size_t)k, sizeof *res->v);
    if (!res->v) {
        facet_free(lib);
        cf_error(out, 503, CF_UNDEFINED, "out of memory");
        return -1;
    }
    res->n = k;
    for (int i = 0; i < k && !rc; i++) {
        cf_face *x = &res->v[i];
        x->f = faces[i];
        double t = srv_now();
        if (need_fp || (o->plugins & PL_CALCULATOR)) {
            rc = facet_faceprint_extract(sdk, img, &x->f, &x->fp);
            x->has_fp = !rc;
            x->ms_calc = (srv_now() - t) * 1000;
        }
        t = srv_now();
        if (!rc && (o->plugins & (PL_AGE | PL_GENDER))) {
            rc = facet_face_attributes(sdk, img, &x->f, &x->attr);
            x->ms_attr = (srv_now() - t) * 1000;
        }
        t = srv_now();
        if (!rc && (o->plugins & PL_POSE)) {
            rc = facet_face_quality(sdk, img, &x->f, FACET_QUALITY_POSE, &x->q);
            x->ms_pose = (srv_now() - t) * 1000;
        }
    }
    facet_free(lib);
    if (rc) {
        free(res->v);
        res->v = NULL;
        cf_facet_error(s, out, rc, "analysing a face");
        return -1;
    }
    return 0;
}

/* What an image request holds at its end. */
static void image_done(srv_req *r, cf_body *b, facet_image *img, cf_faces *res)
{
    free(res->v);
    facet_image_destroy(img);
    cf_body_free(r, b);
}

static int clampi(double v, int lo, int hi)
{
    long x = lround(v);
    return (int)(x < lo ? lo : x > hi ? hi : x);
}

static const double DEG = 57.29577951308232;

/* One face in CompreFace's form: plugins' fields, box, landmarks, execution_time. */
static json_t *cf_face_json(const cf_faces *res, const cf_face *x, const cf_opts *o)
{
    json_t *j = json_object();
    if (o->plugins & PL_AGE) {
        /* facet's age model is a regression: the range is its estimate +- 5 years, and it has
         * no probability for a range, so "probability" is null rather than a made-up number */
        json_object_set_new(j, "age", json_pack("{s:n,s:i,s:i}", "probability", "high",
                                                clampi(x->attr.age + 5, 0, 120), "low",
                                                clampi(x->attr.age - 5, 0, 120)));
    }
    if (o->plugins & PL_GENDER)
        json_object_set_new(j, "gender", json_pack("{s:f,s:s}", "probability",
                                                   round5(x->attr.gender_score), "value",
                                                   x->attr.gender == FACET_GENDER_MALE ? "male"
                                                                                       : "female"));
    if (o->plugins & PL_POSE)
        json_object_set_new(j, "pose", json_pack("{s:f,s:f,s:f}", "pitch", x->q.pitch * DEG, "roll",
                                                 x->q.roll * DEG, "yaw", x->q.yaw * DEG));
    if ((o->plugins & PL_CALCULATOR) && x->has_fp) {
        json_t *e = json_array();
        for (int d = 0; d < x->fp.dim; d++) json_array_append_new(e, json_real(x->fp.v[d]));
        json_object_set_new(j, "embedding", e);
    }
    json_object_set_new(
        j, "box",
        json_pack("{s:f,s:i,s:i,s:i,s:i}", "probability", round5(x->f.score), "x_max",
                  clampi(x->f.x + x->f.w, 0, res->img_w), "y_max",
                  clampi(x->f.y + x->f.h, 0, res->img_h), "x_min", clampi(x->f.x, 0, res->img_w),
                  "y_min", clampi(x->f.y, 0, res->img_h)));
    if (o->plugins & PL_LANDMARKS) {
        json_t *l = json_array();
        for (int k = 0; k < 5; k++)
            json_array_append_new(l, json_pack("[i,i]", (int)lround(x->f.kps[k].x),
                                               (int)lround(x->f.kps[k].y)));
        json_object_set_new(j, "landmarks", l);
    }
    if (o->status) {
        json_t *t = json_pack("{s:f}", "detector", res->ms_detect);
        if (x->has_fp) json_object_set_new(t, "calculator", json_real(x->ms_calc));
        if (o->plugins & PL_AGE) json_object_set_new(t, "age", json_real(x->ms_attr));
        if (o->plugins & PL_GENDER) json_object_set_new(t, "gender", json_real(x->ms_attr));
        if (o->plugins & PL_POSE) json_object_set_new(t, "pose", json_real(x->ms_pose));
        json_object_set_new(j, "execution_time", t);
    }
    return j;
}

static json_t *cf_versions(srv *s, const cf_opts *o, int calculator)
{
    json_t *v = json_pack("{s:s}", "detector", "facet.fr_detect");
    if (calculator || (o->plugins & PL_CALCULATOR))
        json_object_set_new(v, "calculator", json_sprintf("facet.%s", srv_model_id(s)));
    if (o->plugins & PL_AGE) json_object_set_new(v, "age", json_string("facet.fr_age"));
    if (o->plugins & PL_GENDER) json_object_set_new(v, "gender", json_string("facet.fr_gender"));
    if (o->plugins & PL_POSE) json_object_set_new(v, "pose", json_string("facet.fr_pose"));
    if (o->plugins & PL_LANDMARKS) json_object_set_new(v, "landmarks", json_string("facet.fr_landmark"));
    return v;
}

/* CompreFace's similarity for a cosine similarity: facet's match probability (see the top). */
static double cf_similarity(srv *s, float cosine)
{
    return round5(facet_gallery_match_probability(srv_gallery(s), cosine));
}

static float dot(const float *a, const float *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++) d += (double)a[i] * b[i];
    return (float)d;
}

/* ---- subject names ----------------------------------------------------------------------
 * Subjects are the collection's identities: those with faceprints, and those declared without
 * one (facet_gallery_add_identity, durable and seen by every node on the store), which is how
 * CompreFace's subjects without examples are kept. CompreFace finds a subject by name ignoring
 * case (SubjectRepository.findByApiKeyAndSubjectNameIgnoreCase), so adding "Bob" when "bob"
 * exists is refused, "BOB" finds "bob", and an example for "BOB" joins "bob". Here case is
 * folded for ASCII letters only (CompreFace leaves it to PostgreSQL's upper(), which also
 * folds other letters): docs/compreface.md. */

/* strcmp with A-Z folded to a-z (not tolower(): the locale must not change what matches) */
static int ascii_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;
        x += x >= 'A' && x <= 'Z' ? 'a' - 'A' : 0;
        y += y >= 'A' && y <= 'Z' ? 'a' - 'A' : 0;
        if (x != y || !x) return x - y;
    }
}

/* The stored spelling of subject `name` in coll: 1 with it in `found` (the exact name when it
 * exists, else the first name equal to it ignoring case), 0 when there is none (found = name),
 * -1 with the error in `out`. */
static int subject_find(srv *s, const char *coll, const char *name,
                        char found[FACET_IDENTITY_MAX + 1], srv_resp *out)
{
    snprintf(found, FACET_IDENTITY_MAX + 1, "%s", name);
    /* the common case, an example for a subject with faceprints, without copying the list */
    facet_face_ref *f = NULL;
    size_t n = 0, total = 0;
    int rc = facet_gallery_faces(srv_gallery(s), coll, name, 0, 0, &f, &n, &total);
    facet_free(f);
    if (!rc && total) return 1;
    facet_identity_count *ids = NULL;
    if (!rc) rc = facet_gallery_identities(srv_gallery(s), coll, &ids, &n);
    if (rc) {
        cf_facet_error(s, out, rc, "reading the collection");
        return -1;
    }
    long hit = -1;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(ids[i].identity, name)) {
            hit = (long)i;
            break;
        }
        if (hit < 0 && !ascii_casecmp(ids[i].identity, name)) hit = (long)i;
    }
    if (hit >= 0) snprintf(found, FACET_IDENTITY_MAX + 1, "%s", ids[hit].identity);
    facet_free(ids);
    return hit >= 0;
}

/* A subject name from a request: 1..FACET_IDENTITY_MAX bytes of UTF-8 without control
 * characters (CompreFace: any non-blank string). */
static int subject_ok(const char *name, srv_resp *out)
{
    size_t n = name ? strlen(name) : 0;
    int blank = 1;
    for (size_t i = 0; i < n && blank; i++) blank = isspace((unsigned char)name[i]) != 0;
    if (!n || blank) {
        cf_error(out, 400, CF_VALIDATION, "Subject name is empty");
        return -1;
    }
    if (n > FACET_IDENTITY_MAX || !srv_utf8_ok(name, n)) {
        cf_error(out, 400, CF_VALIDATION, "Subject name must be 1..%d bytes of UTF-8 without "
                 "control characters", FACET_IDENTITY_MAX);
        return -1;
    }
    return 0;
}

/* The "subject" string of a JSON object body. */
static const char *json_subject(const cf_body *b)
{
    json_t *v = json_is_object(b->json) ? json_object_get(b->json, "subject") : NULL;
    return json_string_value(v);
}

/* ---- recognition service: subjects ------------------------------------------------------------ */

static void h_subject_add(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1], have[FACET_IDENTITY_MAX + 1];
    cf_body b = {0};
    if (cf_auth(s, r, CF_RECOGNITION, coll, out) || cf_body_parse(r, &b, out)) return;
    const char *name = json_subject(&b);
    int found = subject_ok(name, out) ? -1 : subject_find(s, coll, name, have, out);
    if (found > 0) {
        cf_error(out, 400, CF_SUBJECT_EXISTS, "Subject already exists");
    } else if (!found) {
        int rc = facet_gallery_add_identity(srv_gallery(s), coll, name);
        if (rc == FACET_E_EXISTS) cf_error(out, 400, CF_SUBJECT_EXISTS, "Subject already exists");
        else if (rc) cf_facet_error(s, out, rc, "adding the subject");
        else cf_json(out, 201, json_pack("{s:s}", "subject", name));
    }
    cf_body_free(r, &b);
}

static void h_subject_list(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1];
    if (cf_auth(s, r, CF_RECOGNITION, coll, out)) return;
    facet_identity_count *ids = NULL;
    size_t n = 0;
    int rc = facet_gallery_identities(srv_gallery(s), coll, &ids, &n);
    if (rc) {
        cf_facet_error(s, out, rc, "listing subjects");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(ids[i].identity));
    facet_free(ids);
    cf_json(out, 200, json_pack("{s:o}", "subjects", a));
}

/* Deletes every subject of coll, with its examples; *subjects and *faces get the counts. */
static int delete_all(srv *s, const char *coll, size_t *subjects, size_t *faces, srv_resp *out)
{
    facet_identity_count *ids = NULL;
    size_t n = 0;
    *subjects = *faces = 0;
    int rc = facet_gallery_identities(srv_gallery(s), coll, &ids, &n);
    for (size_t i = 0; i < n && !rc; i++) {
        size_t k = 0;
        rc = facet_gallery_remove_identity(srv_gallery(s), coll, ids[i].identity, &k);
        if (!rc) {
            *faces += k;
            ++*subjects;
        }
    }
    facet_free(ids);
    if (rc) {
        cf_facet_error(s, out, rc, "deleting subjects");
        return -1;
    }
    return 0;
}

static void h_subject_delete_all(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1];
    size_t subjects, faces;
    if (cf_auth(s, r, CF_RECOGNITION, coll, out) || delete_all(s, coll, &subjects, &faces, out))
        return;
    cf_json(out, 200, json_pack("{s:I}", "deleted", (json_int_t)subjects));
}

static void h_subject_delete(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1], have[FACET_IDENTITY_MAX + 1];
    if (cf_auth(s, r, CF_RECOGNITION, coll, out)) return;
    const char *name = srv_param(r, "subject");
    int found = subject_ok(name, out) ? -1 : subject_find(s, coll, name, have, out);
    if (found < 0) return;
    if (!found) {
        cf_error(out, 404, CF_SUBJECT_NOT_FOUND, "Subject %s not found", name);
        return;
    }
    size_t k = 0;
    int rc = facet_gallery_remove_identity(srv_gallery(s), coll, have, &k);
    if (rc) cf_facet_error(s, out, rc, "deleting the subject");
    else cf_json(out, 200, json_pack("{s:s}", "subject", have));
}

static void h_subject_rename(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1], src[FACET_IDENTITY_MAX + 1], dst[FACET_IDENTITY_MAX + 1];
    cf_body b = {0};
    if (cf_auth(s, r, CF_RECOGNITION, coll, out) || cf_body_parse(r, &b, out)) return;
    const char *from = srv_param(r, "subject"), *to = json_subject(&b);
    if (subject_ok(from, out)) goto done;
    /* CompreFace answers "updated": false for an empty or unchanged name */
    if (!to || !*to || !strcmp(from, to)) {
        cf_json(out, 200, json_pack("{s:b}", "updated", 0));
        goto done;
    }
    if (subject_ok(to, out)) goto done;
    int found = subject_find(s, coll, from, src, out);
    if (found == 0) cf_error(out, 404, CF_SUBJECT_NOT_FOUND, "Subject %s not found", from);
    if (found <= 0) goto done;
    /* as CompreFace: a new name that is another subject's (ignoring case) merges into that
     * subject, keeping its spelling; one that only changes this subject's case renames it */
    found = subject_find(s, coll, to, dst, out);
    if (found < 0) goto done;
    if (found && !strcmp(dst, src)) snprintf(dst, sizeof dst, "%s", to);
    size_t k = 0;
    int rc = facet_gallery_rename_identity(srv_gallery(s), coll, src, dst, &k);
    if (rc) cf_facet_error(s, out, rc, "renaming the subject");
    else cf_json(out, 200, json_pack("{s:b}", "updated", 1));
done:
    cf_body_free(r, &b);
}

/* ---- recognition service: examples -------------------------------------------------------------- */

static void h_face_add(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1];
    cf_body b = {0};
    if (cf_auth(s, r, CF_RECOGNITION, coll, out)) return;
    const char *name = srv_query(r, "subject");
    if (!name) {
        cf_error(out, 400, CF_MISSING_PARAMETER, "Required parameter subject is missing");
        return;
    }
    cf_opts o;
    memset(&o, 0, sizeof o);
    if (subject_ok(name, out) || q_threshold(r, &o.det, out) || cf_body_parse(r, &b, out)) return;
    const uint8_t *data = NULL;
    size_t size = 0;
    facet_image *img = NULL;
    cf_faces res = {0};
    if (cf_image_bytes(r, &b, "file", 0, &data, &size, out) || cf_decode(s, data, size, &img, out))
        goto done;
    o.limit = 2; /* CompreFace looks for two faces, to refuse an example that has several */
    o.plugins = 0;
    o.detect_faces = 1;
    if (cf_find(s, img, &o, 1, &res, out)) goto done;
    if (res.n > 1) {
        cf_error(out, 400, CF_TOO_MANY_FACES, "More than one face in the source image");
        goto done;
    }
    /* an example for "BOB" joins an existing "bob"; the reply names the subject as sent, as
     * CompreFace's does */
    char uuid[FACET_UUID_SIZE], have[FACET_IDENTITY_MAX + 1];
    if (subject_find(s, coll, name, have, out) < 0) goto done;
    int rc = facet_gallery_enroll(srv_gallery(s), coll, res.v[0].fp.model, res.v[0].fp.v,
                                  res.v[0].fp.dim, have, data, size, uuid);
    if (rc) {
        cf_facet_error(s, out, rc, "saving the example");
        goto done;
    }
    cf_json(out, 201, json_pack("{s:s,s:s}", "image_id", uuid, "subject", name));
done:
    image_done(r, &b, img, &res);
}

static void h_face_list(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1];
    long page, size;
    if (cf_auth(s, r, CF_RECOGNITION, coll, out) ||
        q_long(r, "page", 0, 0, "page must not be less than zero", &page, out) ||
        q_long(r, "size", 20, 1, "size must not be less than one", &size, out))
        return;
    const char *name = srv_query(r, "subject");
    char have[FACET_IDENTITY_MAX + 1];
    if (name && !*name) name = NULL;
    if (name && (subject_ok(name, out) || subject_find(s, coll, name, have, out) < 0)) return;
    if (name) name = have;
    if (size > 10000) size = 10000;
    facet_face_ref *f = NULL;
    size_t n = 0, total = 0;
    size_t off = (size_t)page > SIZE_MAX / (size_t)size ? SIZE_MAX : (size_t)page * (size_t)size;
    int rc = facet_gallery_faces(srv_gallery(s), coll, name, off, (size_t)size, &f, &n, &total);
    if (rc) {
        cf_facet_error(s, out, rc, "listing examples");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s}", "image_id", f[i].uuid, "subject",
                                           f[i].identity));
    facet_free(f);
    cf_json(out, 200, json_pack("{s:o,s:I,s:I,s:I,s:I}", "faces", a, "page_number",
                                (json_int_t)page, "page_size", (json_int_t)size, "total_pages",
                                (json_int_t)((total + (size_t)size - 1) / (size_t)size),
                                "total_elements", (json_int_t)total));
}

static void h_face_delete_subject(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1];
    if (cf_auth(s, r, CF_RECOGNITION, coll, out)) return;
    const char *name = srv_query(r, "subject");
    size_t faces = 0, subjects;
    char have[FACET_IDENTITY_MAX + 1];
    if (name && *name) {
        /* as CompreFace's removeAllSubjectEmbeddings: the subject goes with its examples */
        int found = subject_ok(name, out) ? -1 : subject_find(s, coll, name, have, out);
        if (found < 0) return;
        int rc = found ? facet_gallery_remove_identity(srv_gallery(s), coll, have, &faces) : 0;
        if (rc) {
            cf_facet_error(s, out, rc, "deleting examples");
            return;
        }
    } else if (delete_all(s, coll, &subjects, &faces, out)) {
        return;
    }
    cf_json(out, 200, json_pack("{s:I}", "deleted", (json_int_t)faces));
}

/* The identity of example `id`: 0, or -1 with 404/44 in `out` (also for a malformed id, as
 * CompreFace's IncorrectImageIdException). */
static int example_identity(srv *s, const char *coll, const char *id,
                            char identity[FACET_IDENTITY_MAX + 1], float *v, srv_resp *out)
{
    float tmp[FACET_FACEPRINT_DIM];
    int rc = facet_gallery_face(srv_gallery(s), coll, id ? id : "", v ? v : tmp,
                                FACET_FACEPRINT_DIM, identity);
    if (rc == FACET_E_INVALID_ARG) cf_error(out, 404, CF_EMBEDDING_NOT_FOUND, "Image Id is incorrect");
    else if (rc == FACET_E_NOT_FOUND)
        cf_error(out, 404, CF_EMBEDDING_NOT_FOUND, "Image %s not found", id);
    else if (rc) cf_facet_error(s, out, rc, "reading the example");
    return rc ? -1 : 0;
}

static void h_face_delete(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1], identity[FACET_IDENTITY_MAX + 1];
    if (cf_auth(s, r, CF_RECOGNITION, coll, out)) return;
    const char *id = srv_param(r, "image_id");
    if (example_identity(s, coll, id, identity, NULL, out)) return;
    int rc = facet_gallery_remove(srv_gallery(s), coll, id);
    if (rc == FACET_E_NOT_FOUND) cf_error(out, 404, CF_EMBEDDING_NOT_FOUND, "Image %s not found", id);
    else if (rc) cf_facet_error(s, out, rc, "deleting the example");
    else cf_json(out, 200, json_pack("{s:s,s:s}", "image_id", id, "subject", identity));
}

static void h_face_delete_many(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1], identity[FACET_IDENTITY_MAX + 1];
    float vec[FACET_FACEPRINT_DIM];
    cf_body b = {0};
    if (cf_auth(s, r, CF_RECOGNITION, coll, out) || cf_body_parse(r, &b, out)) return;
    size_t i;
    json_t *v;
    if (!json_is_array(b.json)) {
        cf_error(out, 400, CF_VALIDATION, "The body must be a JSON array of image ids");
        goto done;
    }
    /* every id is checked before anything is deleted */
    json_array_foreach(b.json, i, v) {
        const char *id = json_string_value(v);
        if (!id || strlen(id) != 36) {
            cf_error(out, 400, CF_VALIDATION, "Element %zu of the array is not an image id", i);
            goto done;
        }
    }
    json_t *a = json_array();
    json_array_foreach(b.json, i, v) {
        const char *id = json_string_value(v);
        /* ids that do not exist (or are no UUID) are ignored, as in CompreFace */
        int rc = facet_gallery_face(srv_gallery(s), coll, id, vec, FACET_FACEPRINT_DIM, identity);
        if (!rc) rc = facet_gallery_remove(srv_gallery(s), coll, id);
        if (!rc) {
            json_array_append_new(a, json_pack("{s:s,s:s}", "image_id", id, "subject", identity));
        } else if (rc != FACET_E_NOT_FOUND && rc != FACET_E_INVALID_ARG) {
            json_decref(a);
            cf_facet_error(s, out, rc, "deleting examples");
            goto done;
        }
    }
    cf_json(out, 200, a);
done:
    cf_body_free(r, &b);
}

static void send_image(srv *s, const char *coll, const char *id, srv_resp *out)
{
    void *data = NULL;
    size_t size = 0;
    int rc = facet_gallery_payload(srv_gallery(s), coll, id ? id : "", &data, &size);
    if (rc == FACET_E_INVALID_ARG) {
        cf_error(out, 404, CF_EMBEDDING_NOT_FOUND, "Image Id is incorrect");
        return;
    }
    if (rc && rc != FACET_E_NOT_FOUND) {
        cf_facet_error(s, out, rc, "reading the image");
        return;
    }
    /* CompreFace answers an unknown image (or one it did not keep) with empty bytes */
    const uint8_t *p = data;
    const char *ct = size >= 3 && p[0] == 0xff && p[1] == 0xd8 ? "image/jpeg"
                     : size >= 8 && !memcmp(p, "\x89PNG", 4)  ? "image/png"
                                                               : "application/octet-stream";
    /* the reply's body is released with free() by libmicrohttpd: a copy, so that what the
     * library handed out goes back through facet_free */
    char *body = malloc(size ? size : 1);
    if (!body) {
        facet_free(data);
        cf_error(out, 503, CF_UNDEFINED, "out of memory");
        return;
    }
    if (size) memcpy(body, data, size);
    facet_free(data);
    srv_text(out, 200, ct, body, size);
}

static void h_face_img(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1];
    if (cf_auth(s, r, CF_RECOGNITION, coll, out)) return;
    send_image(s, coll, srv_param(r, "image_id"), out);
}

/* /api/v1/static/{key}/images/{image_id}: the key in the path, for <img src=...>. */
static void h_static_img(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1];
    if (cf_key(s, srv_param(r, "key"), CF_RECOGNITION, coll, out)) return;
    send_image(s, coll, srv_param(r, "image_id"), out);
}

/* ---- recognize, verify, detect ---------------------------------------------------------------- */

/* Reads the options and the one image `field`, and finds its faces. */
static int image_request(srv *s, srv_req *r, cf_body *b, int recognize, int need_fp, cf_opts *o,
                         facet_image **img, cf_faces *res, srv_resp *out)
{
    const uint8_t *data;
    size_t size;
    *img = NULL;
    memset(res, 0, sizeof *res);
    if (cf_options(r, recognize, o, out) || cf_body_parse(r, b, out)) return -1;
    if (cf_image_bytes(r, b, "file", 0, &data, &size, out) || cf_decode(s, data, size, img, out) ||
        cf_find(s, *img, o, need_fp, res, out))
        return -1;
    return 0;
}

/* Predictions per face: `want`, but never more than the collection holds (at least 1), so a
 * huge prediction_count costs nothing. */
static int predictions(srv *s, const char *coll, long want)
{
    size_t n = 0;
    if (facet_gallery_count(srv_gallery(s), coll, &n) || n == 0) n = 1;
    if ((size_t)want < n) n = (size_t)want;
    return (int)(n > 10000 ? 10000 : n);
}

static void h_recognize(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1];
    cf_body b = {0};
    cf_opts o;
    facet_image *img = NULL;
    cf_faces res = {0};
    facet_match *m = NULL;
    if (cf_auth(s, r, CF_RECOGNITION, coll, out) ||
        image_request(s, r, &b, 1, 1, &o, &img, &res, out))
        goto done;
    int k = predictions(s, coll, o.prediction_count);
    m = malloc((size_t)k * sizeof *m);
    if (!m) {
        cf_error(out, 503, CF_UNDEFINED, "out of memory");
        goto done;
    }
    json_t *result = json_array();
    for (int i = 0; i < res.n; i++) {
        cf_face *x = &res.v[i];
        int n = 0;
        int rc = facet_gallery_identify_top_k(srv_gallery(s), coll, x->fp.model, x->fp.v,
                                              x->fp.dim, k, m, &n);
        if (rc) {
            json_decref(result);
            cf_facet_error(s, out, rc, "searching the collection");
            goto done;
        }
        json_t *f = cf_face_json(&res, x, &o), *subj = json_array();
        for (int j = 0; j < n; j++)
            json_array_append_new(subj, json_pack("{s:f,s:s}", "similarity",
                                                  round5(m[j].probability), "subject",
                                                  m[j].identity));
        json_object_set_new(f, "subjects", subj);
        json_array_append_new(result, f);
    }
    json_t *j = json_pack("{s:o}", "result", result);
    if (o.status) json_object_set_new(j, "plugins_versions", cf_versions(s, &o, 1));
    cf_json(out, 200, j);
done:
    free(m);
    image_done(r, &b, img, &res);
}

/* /recognition/faces/{image_id}/verify: every face of the image against one example. */
static void h_face_verify(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1], identity[FACET_IDENTITY_MAX + 1];
    float v[FACET_FACEPRINT_DIM];
    cf_body b = {0};
    cf_opts o;
    facet_image *img = NULL;
    cf_faces res = {0};
    if (cf_auth(s, r, CF_RECOGNITION, coll, out) ||
        example_identity(s, coll, srv_param(r, "image_id"), identity, v, out) ||
        image_request(s, r, &b, 0, 1, &o, &img, &res, out))
        goto done;
    json_t *result = json_array();
    for (int i = 0; i < res.n; i++) {
        json_t *f = cf_face_json(&res, &res.v[i], &o);
        json_object_set_new(f, "subject", json_string(identity));
        json_object_set_new(f, "similarity",
                            json_real(cf_similarity(s, dot(res.v[i].fp.v, v, res.v[i].fp.dim))));
        json_array_append_new(result, f);
    }
    json_t *j = json_pack("{s:o}", "result", result);
    if (o.status) json_object_set_new(j, "plugins_versions", cf_versions(s, &o, 1));
    cf_json(out, 200, j);
done:
    image_done(r, &b, img, &res);
}

static void h_detect(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1];
    cf_body b = {0};
    cf_opts o;
    facet_image *img = NULL;
    cf_faces res = {0};
    if (cf_auth(s, r, CF_DETECTION, coll, out) || image_request(s, r, &b, 0, 0, &o, &img, &res, out))
        goto done;
    json_t *result = json_array();
    for (int i = 0; i < res.n; i++) json_array_append_new(result, cf_face_json(&res, &res.v[i], &o));
    json_t *j = json_pack("{s:o}", "result", result);
    if (o.status) json_object_set_new(j, "plugins_versions", cf_versions(s, &o, 0));
    cf_json(out, 200, j);
done:
    image_done(r, &b, img, &res);
}

static int by_similarity(const void *a, const void *b)
{
    double x = json_real_value(json_object_get(*(json_t *const *)a, "similarity"));
    double y = json_real_value(json_object_get(*(json_t *const *)b, "similarity"));
    return x < y ? 1 : x > y ? -1 : 0;
}

/* /verification/verify: the one face of source_image against every face of target_image. */
static void h_verify(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1];
    cf_body b = {0};
    cf_opts o;
    facet_image *src = NULL, *dst = NULL;
    cf_faces rs = {0}, rt = {0};
    const uint8_t *d1, *d2;
    size_t n1, n2;
    if (cf_auth(s, r, CF_VERIFICATION, coll, out) || cf_options(r, 0, &o, out) ||
        cf_body_parse(r, &b, out) ||
        cf_image_bytes(r, &b, "source_image", 0, &d1, &n1, out) ||
        cf_image_bytes(r, &b, "target_image", 1, &d2, &n2, out) ||
        cf_decode(s, d1, n1, &src, out) || cf_decode(s, d2, n2, &dst, out))
        goto done;
    cf_opts os = o;
    os.limit = 2; /* the source must hold one face: two found are too many */
    if (cf_find(s, src, &os, 1, &rs, out)) goto done;
    if (rs.n > 1) {
        cf_error(out, 400, CF_TOO_MANY_FACES, "More than one face in the source image");
        goto done;
    }
    if (cf_find(s, dst, &o, 1, &rt, out)) goto done;
    json_t **m = malloc((size_t)rt.n * sizeof *m);
    if (!m) {
        cf_error(out, 503, CF_UNDEFINED, "out of memory");
        goto done;
    }
    for (int i = 0; i < rt.n; i++) {
        m[i] = cf_face_json(&rt, &rt.v[i], &o);
        json_object_set_new(m[i], "similarity",
                            json_real(cf_similarity(s, dot(rs.v[0].fp.v, rt.v[i].fp.v, rs.v[0].fp.dim))));
    }
    qsort(m, (size_t)rt.n, sizeof *m, by_similarity);
    json_t *matches = json_array();
    for (int i = 0; i < rt.n; i++) json_array_append_new(matches, m[i]);
    free(m);
    json_t *one = json_pack("{s:o,s:o}", "source_image_face", cf_face_json(&rs, &rs.v[0], &o),
                            "face_matches", matches);
    if (o.status) json_object_set_new(one, "plugins_versions", cf_versions(s, &o, 1));
    cf_json(out, 200, json_pack("{s:[o]}", "result", one));
done:
    free(rs.v);
    free(rt.v);
    facet_image_destroy(src);
    facet_image_destroy(dst);
    cf_body_free(r, &b);
}

/* ---- embeddings (CompreFace 1.2: recognition and verification with computed embeddings) ---- */

enum { CF_WRONG_EMBEDDING_COUNT = 37 };

/* One embedding from JSON: FACET_FACEPRINT_DIM finite numbers, not all zero, L2-normalised
 * here as CompreFace does. 0, or -1 with a 400 naming `what`. */
static int cf_embedding(json_t *a, const char *what, float *v, srv_resp *out)
{
    if (!json_is_array(a) || json_array_size(a) != FACET_FACEPRINT_DIM) {
        cf_error(out, 400, CF_INCORRECT_ARGUMENT, "%s must be an array of %d numbers (this "
                 "server's faceprints, from its calculator plugin)", what, FACET_FACEPRINT_DIM);
        return -1;
    }
    double nn = 0;
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) {
        double d = json_number_value(x);
        if (!json_is_number(x) || !isfinite(d) || fabs(d) > 1e6) {
            cf_error(out, 400, CF_INCORRECT_ARGUMENT, "%s: value %zu is not a finite number", what, i);
            return -1;
        }
        v[i] = (float)d;
        nn += d * d;
    }
    if (nn <= 0) {
        cf_error(out, 400, CF_INCORRECT_ARGUMENT, "%s is all zeros", what);
        return -1;
    }
    for (i = 0; i < FACET_FACEPRINT_DIM; i++) v[i] = (float)(v[i] / sqrt(nn));
    return 0;
}

/* The body's array `name` of embeddings: *v (malloc'd, n rows) or -1 with the error. */
static int cf_embeddings(const cf_body *b, const char *name, float **v, size_t *n, srv_resp *out)
{
    json_t *a = json_is_object(b->json) ? json_object_get(b->json, name) : NULL;
    *v = NULL;
    *n = 0;
    if (!json_is_array(a) || json_array_size(a) == 0) {
        cf_error(out, 400, CF_WRONG_EMBEDDING_COUNT, "1 embeddings were expected, but 0 were provided");
        return -1;
    }
    if (json_array_size(a) > 1000) {
        cf_error(out, 400, CF_WRONG_EMBEDDING_COUNT, "at most 1000 embeddings in one request");
        return -1;
    }
    *n = json_array_size(a);
    *v = malloc(*n * FACET_FACEPRINT_DIM * sizeof **v);
    if (!*v) {
        cf_error(out, 503, CF_UNDEFINED, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < *n; i++) {
        char what[48];
        snprintf(what, sizeof what, "%s[%zu]", name, i);
        if (cf_embedding(json_array_get(a, i), what, *v + i * FACET_FACEPRINT_DIM, out)) {
            free(*v);
            *v = NULL;
            return -1;
        }
    }
    return 0;
}

static json_t *embedding_json(const float *v)
{
    json_t *e = json_array();
    for (int d = 0; d < FACET_FACEPRINT_DIM; d++) json_array_append_new(e, json_real(v[d]));
    return e;
}

/* {"result": [{"embedding", "similarity"}]} best first, for one reference `ref`. */
static void reply_similarities(srv *s, const float *ref, const float *v, size_t n, srv_resp *out)
{
    json_t **m = malloc(n * sizeof *m);
    if (!m) {
        cf_error(out, 503, CF_UNDEFINED, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        m[i] = json_pack("{s:o,s:f}", "embedding", embedding_json(v + i * FACET_FACEPRINT_DIM),
                         "similarity",
                         cf_similarity(s, dot(ref, v + i * FACET_FACEPRINT_DIM, FACET_FACEPRINT_DIM)));
    qsort(m, n, sizeof *m, by_similarity);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, m[i]);
    free(m);
    cf_json(out, 200, json_pack("{s:o}", "result", a));
}

static void h_embeddings_recognize(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1];
    cf_body b = {0};
    float *v = NULL;
    size_t n = 0;
    facet_match *m = NULL;
    long pc;
    if (cf_auth(s, r, CF_RECOGNITION, coll, out) ||
        q_long(r, "prediction_count", 1, 1, "prediction_count should be equal or greater than 1",
               &pc, out) ||
        cf_body_parse(r, &b, out) || cf_embeddings(&b, "embeddings", &v, &n, out))
        goto done;
    int k = predictions(s, coll, pc);
    m = malloc((size_t)k * sizeof *m);
    if (!m) {
        cf_error(out, 503, CF_UNDEFINED, "out of memory");
        goto done;
    }
    json_t *result = json_array();
    for (size_t i = 0; i < n; i++) {
        int got = 0;
        const float *e = v + i * FACET_FACEPRINT_DIM;
        int rc = facet_gallery_identify_top_k(srv_gallery(s), coll, srv_model_id(s), e,
                                              FACET_FACEPRINT_DIM, k, m, &got);
        if (rc) {
            json_decref(result);
            cf_facet_error(s, out, rc, "searching the collection");
            goto done;
        }
        json_t *sim = json_array();
        for (int j = 0; j < got; j++)
            json_array_append_new(sim, json_pack("{s:s,s:f}", "subject", m[j].identity,
                                                 "similarity", round5(m[j].probability)));
        json_array_append_new(result, json_pack("{s:o,s:o}", "embedding", embedding_json(e),
                                                "similarities", sim));
    }
    cf_json(out, 200, json_pack("{s:o}", "result", result));
done:
    free(m);
    free(v);
    cf_body_free(r, &b);
}

static void h_embeddings_verify_example(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1], identity[FACET_IDENTITY_MAX + 1];
    float ref[FACET_FACEPRINT_DIM], *v = NULL;
    size_t n = 0;
    cf_body b = {0};
    if (!cf_auth(s, r, CF_RECOGNITION, coll, out) &&
        !example_identity(s, coll, srv_param(r, "image_id"), identity, ref, out) &&
        !cf_body_parse(r, &b, out) && !cf_embeddings(&b, "embeddings", &v, &n, out))
        reply_similarities(s, ref, v, n, out);
    free(v);
    cf_body_free(r, &b);
}

static void h_embeddings_verify(srv *s, srv_req *r, srv_resp *out)
{
    char coll[FACET_NAME_MAX + 1];
    float ref[FACET_FACEPRINT_DIM], *v = NULL;
    size_t n = 0;
    cf_body b = {0};
    if (!cf_auth(s, r, CF_VERIFICATION, coll, out) && !cf_body_parse(r, &b, out) &&
        !cf_embedding(json_is_object(b.json) ? json_object_get(b.json, "source") : NULL, "source",
                      ref, out) &&
        !cf_embeddings(&b, "targets", &v, &n, out))
        reply_similarities(s, ref, v, n, out);
    free(v);
    cf_body_free(r, &b);
}

/* ---- routes ------------------------------------------------------------------------------------ */

#define CF_ROUTE(m, p, f) {m, p, SRV_ROLE_NONE, SRV_RAW_BODY, f}

static const srv_route cf_routes[] = {
    CF_ROUTE("POST", "/api/v1/recognition/subjects", h_subject_add),
    CF_ROUTE("GET", "/api/v1/recognition/subjects", h_subject_list),
    CF_ROUTE("GET", "/api/v1/recognition/subjects/", h_subject_list),
    CF_ROUTE("DELETE", "/api/v1/recognition/subjects", h_subject_delete_all),
    CF_ROUTE("PUT", "/api/v1/recognition/subjects/{subject}", h_subject_rename),
    CF_ROUTE("DELETE", "/api/v1/recognition/subjects/{subject}", h_subject_delete),
    CF_ROUTE("POST", "/api/v1/recognition/faces", h_face_add),
    CF_ROUTE("GET", "/api/v1/recognition/faces", h_face_list),
    CF_ROUTE("DELETE", "/api/v1/recognition/faces", h_face_delete_subject),
    CF_ROUTE("POST", "/api/v1/recognition/faces/delete", h_face_delete_many),
    CF_ROUTE("DELETE", "/api/v1/recognition/faces/{image_id}", h_face_delete),
    CF_ROUTE("GET", "/api/v1/recognition/faces/{image_id}/img", h_face_img),
    CF_ROUTE("POST", "/api/v1/recognition/faces/{image_id}/verify", h_face_verify),
    CF_ROUTE("POST", "/api/v1/recognition/recognize", h_recognize),
    CF_ROUTE("GET", "/api/v1/static/{key}/images/{image_id}", h_static_img),
    CF_ROUTE("POST", "/api/v1/detection/detect", h_detect),
    CF_ROUTE("POST", "/api/v1/verification/verify", h_verify),
    CF_ROUTE("POST", "/api/v1/recognition/embeddings/recognize", h_embeddings_recognize),
    CF_ROUTE("POST", "/api/v1/recognition/embeddings/faces/{image_id}/verify",
             h_embeddings_verify_example),
    CF_ROUTE("POST", "/api/v1/verification/embeddings/verify", h_embeddings_verify),
};

void srv_compreface_routes(srv *s)
{
    for (size_t i = 0; i < sizeof cf_routes / sizeof cf_routes[0]; i++)
        if (srv_route_add(s, &cf_routes[i]))
            srv_log(s, "error", "compreface: cannot add route %s %s", cf_routes[i].method,
                    cf_routes[i].pattern);
}
