/*
 * api.c - the /v1 routes and the health, readiness and metrics endpoints: each handler turns
 * a parsed request into libfacet calls and a JSON answer (docs/api.md describes them all).
 *
 * Inputs: an image (raw body, multipart field or base64 JSON string) or a faceprint (JSON
 * object); srv_input_get decodes either with the server's limits, so every handler sees a
 * checked facet_image or a faceprint of this server's model. Nothing is written before every
 * check has passed: an enrolment reads, detects, extracts and (with strict=true) grades the
 * face, and only then calls facet_gallery_enroll, which is durable when it returns.
 *
 * Collections are loaded at start; one that another node created is loaded on first use.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facet/keys.h"
#include "server.h"


/* ---- inputs ------------------------------------------------------------------------------ */

void srv_input_free(srv_input *in)
{
    facet_image_destroy(in->img);
    in->img = NULL;
    in->has_fp = 0;
}

int srv_input_get(srv *s, srv_req *r, const char *suffix, srv_input *in, srv_resp *out)
{
    char iname[64], fname[64];
    memset(in, 0, sizeof *in);
    snprintf(iname, sizeof iname, "image%s%s", *suffix ? "_" : "", suffix);
    snprintf(fname, sizeof fname, "faceprint%s%s", *suffix ? "_" : "", suffix);
    const srv_part *ip = srv_body_part(r, iname), *fp = srv_body_part(r, fname);
    if (ip && fp) {
        srv_error(out, 400, "ambiguous_input", "give '%s' or '%s', not both", iname, fname);
        return -1;
    }
    if (!ip && !fp) {
        srv_error(out, 400, "no_input", "the request has no '%s' (an image) or '%s'", iname, fname);
        return -1;
    }
    if (fp) {
        char *txt = malloc(fp->size + 1);
        if (!txt) {
            srv_error(out, 503, "no_memory", "out of memory");
            return -1;
        }
        memcpy(txt, fp->data, fp->size);
        txt[fp->size] = 0;
        int rc = memchr(fp->data, 0, fp->size) ? FACET_E_FORMAT : facet_faceprint_from_json(txt, &in->fp);
        free(txt);
        if (rc) {
            srv_error(out, 400, "bad_faceprint", "'%s': %s", fname,
                      rc == FACET_E_FORMAT && memchr(fp->data, 0, fp->size) ? "NUL byte in the JSON"
                                                                             : facet_last_error());
            return -1;
        }
        if (in->fp.dim != FACET_FACEPRINT_DIM || strcmp(in->fp.model, srv_model_id(s))) {
            srv_error(out, 422, "model_mismatch",
                      "'%s' was made by model %s (dim %d); this server uses %s (dim %d)", fname,
                      in->fp.model, in->fp.dim, srv_model_id(s), FACET_FACEPRINT_DIM);
            return -1;
        }
        in->has_fp = 1;
        return 0;
    }
    if (ip->size == 0) {
        srv_error(out, 400, "bad_image", "'%s' is empty", iname);
        return -1;
    }
    facet_decode_options opt;
    facet_decode_defaults(&opt);
    opt.max_pixels = srv_cfg(s)->max_pixels;
    int rc = facet_image_decode_memory(ip->data, ip->size, &opt, &in->img);
    if (rc == FACET_E_LIMIT) {
        srv_error(out, 413, "too_many_pixels", "'%s': %s (limit %lld pixels)", iname,
                  facet_last_error(), srv_cfg(s)->max_pixels);
        return -1;
    }
    if (rc == FACET_E_UNSUPPORTED) {
        srv_error(out, 415, "unsupported_image", "'%s': %s; send JPEG or PNG", iname, facet_last_error());
        return -1;
    }
    if (rc == FACET_E_NO_MEMORY) {
        srv_error(out, 503, "no_memory", "'%s': out of memory", iname);
        return -1;
    }
    if (rc) {
        srv_error(out, 400, "bad_image", "'%s': %s", iname, facet_last_error());
        return -1;
    }
    return 0;
}

/* ---- small JSON builders ----------------------------------------------------------------- */

static double r3(double v) { return round(v * 1000.0) / 1000.0; }

static json_t *box_json(const facet_face *f)
{
    return json_pack("[f,f,f,f]", r3(f->x), r3(f->y), r3(f->w), r3(f->h));
}

static json_t *points_json(const facet_point *p, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_pack("[f,f]", r3(p[i].x), r3(p[i].y)));
    return a;
}

static json_t *matches_json(const facet_match *m, int n, double threshold)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        if (m[i].similarity < threshold) break; /* best first */
        json_array_append_new(a, json_pack("{s:s,s:s,s:f,s:f}", "identity", m[i].identity, "uuid",
                                           m[i].uuid, "similarity", r3(m[i].similarity) ,
                                           "probability", r3(m[i].probability)));
    }
    return a;
}

static json_t *faceprint_json(const facet_faceprint *fp)
{
    char *txt = NULL;
    if (facet_faceprint_to_json(fp, 0, &txt)) return NULL;
    json_t *j = json_loads(txt, 0, NULL);
    facet_free(txt);
    return j;
}

static json_t *collection_json(const facet_collection_info *c, size_t identities)
{
    json_t *j = json_pack("{s:s,s:s,s:i,s:s,s:b,s:I,s:I}", "name", c->name, "model", c->model_id,
                          "dim", c->dim, "dtype", c->dtype == FACET_DTYPE_F16 ? "f16" : "f32",
                          "keep_payload", c->keep_payload, "faceprints", (json_int_t)c->count,
                          "created_ms", (json_int_t)c->created);
    if (identities != (size_t)-1) json_object_set_new(j, "identities", json_integer((json_int_t)identities));
    return j;
}

/* ---- faces in an image ------------------------------------------------------------------- */

/* Every face, or 422 when there is none, 413 above max_faces. */
static int find_faces(srv *s, const facet_image *img, facet_face **faces, int *n, srv_resp *out)
{
    int rc = facet_detect_faces(srv_sdk(s), img, faces, n);
    if (rc) {
        srv_facet_error(s, out, rc, "detect");
        return -1;
    }
    if (*n > srv_cfg(s)->max_faces) {
        facet_free(*faces);
        *faces = NULL;
        srv_error(out, 413, "too_many_faces", "the image has %d faces; the limit is %d", *n,
                  srv_cfg(s)->max_faces);
        return -1;
    }
    if (*n == 0) {
        facet_free(*faces);
        *faces = NULL;
        srv_error(out, 422, "no_face", "no face found in the image");
        return -1;
    }
    return 0;
}

static int largest_index(const facet_face *f, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (f[i].w * f[i].h > f[best].w * f[best].h) best = i;
    return best;
}

static int largest_face(srv *s, const facet_image *img, facet_face *face, srv_resp *out)
{
    facet_face *faces = NULL;
    int n = 0;
    if (find_faces(s, img, &faces, &n, out)) return -1;
    *face = faces[largest_index(faces, n)];
    facet_free(faces);
    return 0;
}

/* ---- collections ------------------------------------------------------------------------- */

/* The named collection, loaded (a collection created by another node loads on first use). */
static int need_collection(srv *s, srv_req *r, facet_collection_info *info, srv_resp *out)
{
    const char *name = srv_param(r, "name");
    facet_gallery *g = srv_gallery(s);
    int rc = facet_collection_get(g, name, info);
    if (!rc && !info->loaded) {
        rc = facet_collection_load(g, name, NULL);
        if (!rc) rc = facet_collection_get(g, name, info);
    }
    if (rc == FACET_E_NOT_FOUND || rc == FACET_E_INVALID_ARG) {
        srv_error(out, 404, "no_collection", "no collection '%s'", name);
        return -1;
    }
    if (rc) {
        srv_facet_error(s, out, rc, "collection");
        return -1;
    }
    return 0;
}

static void h_collections_list(srv *s, srv_req *r, srv_resp *out)
{
    facet_collection_info *c = NULL;
    size_t n = 0;
    int rc = facet_collection_list(srv_gallery(s), &c, &n);
    if (rc) {
        srv_facet_error(s, out, rc, "list collections");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        if (r->key_collection[0] && strcmp(c[i].name, r->key_collection)) continue;
        facet_collection_info li;
        if (facet_collection_get(srv_gallery(s), c[i].name, &li)) li = c[i];
        json_array_append_new(a, collection_json(&li, (size_t)-1));
    }
    facet_free(c);
    srv_json(out, 200, json_pack("{s:o}", "collections", a));
}

static void h_collection_create(srv *s, srv_req *r, srv_resp *out)
{
    if (!r->parsed.json) {
        srv_error(out, 400, "bad_json", "send a JSON object {\"name\": ...}");
        return;
    }
    json_t *jn = json_object_get(r->parsed.json, "name");
    if (!json_is_string(jn)) {
        srv_error(out, 400, "bad_argument", "'name' must be a string");
        return;
    }
    const char *name = json_string_value(jn);
    const char *dtype = srv_arg_str(r, "dtype");
    int keep = 0;
    if (srv_arg_bool(r, "keep_payload", 0, &keep, out)) return;
    if (dtype && strcmp(dtype, "f32") && strcmp(dtype, "f16")) {
        srv_error(out, 400, "bad_argument", "'dtype' must be \"f32\" or \"f16\"");
        return;
    }
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = srv_model_id(s);
    cs.dim = FACET_FACEPRINT_DIM;
    cs.dtype = dtype && !strcmp(dtype, "f16") ? FACET_DTYPE_F16 : FACET_DTYPE_F32;
    cs.keep_payload = keep;
    int rc = facet_collection_create(srv_gallery(s), name, &cs);
    if (rc) {
        srv_facet_error(s, out, rc, "create collection");
        return;
    }
    facet_collection_info info;
    if ((rc = facet_collection_get(srv_gallery(s), name, &info))) {
        srv_facet_error(s, out, rc, "collection");
        return;
    }
    srv_log(s, "info", "collection %s created", name);
    srv_json(out, 201, collection_json(&info, 0));
}

static void h_collection_get(srv *s, srv_req *r, srv_resp *out)
{
    facet_collection_info info;
    if (need_collection(s, r, &info, out)) return;
    facet_identity_count *ids = NULL;
    size_t n = 0;
    int rc = facet_gallery_identities(srv_gallery(s), info.name, &ids, &n);
    facet_free(ids);
    if (rc) {
        srv_facet_error(s, out, rc, "identities");
        return;
    }
    srv_json(out, 200, collection_json(&info, n));
}

static void h_collection_delete(srv *s, srv_req *r, srv_resp *out)
{
    const char *name = srv_param(r, "name");
    int rc = facet_collection_drop(srv_gallery(s), name);
    if (rc == FACET_E_NOT_FOUND || rc == FACET_E_INVALID_ARG) {
        srv_error(out, 404, "no_collection", "no collection '%s'", name);
        return;
    }
    if (rc) {
        srv_facet_error(s, out, rc, "drop collection");
        return;
    }
    srv_log(s, "info", "collection %s dropped", name);
    srv_json(out, 200, json_pack("{s:s}", "deleted", name));
}

/* ---- enrolment --------------------------------------------------------------------------- */

/* strict=true: the reasons a face is not good enough to enrol, or NULL. */
static const char *refuse_reason(srv *s, const facet_image *img, const facet_face *f, char *buf,
                                 size_t size, srv_resp *out, int *err)
{
    facet_quality q;
    *err = 0;
    int rc = facet_face_quality(srv_sdk(s), img, f, FACET_QUALITY_ALL, &q);
    if (rc) {
        srv_facet_error(s, out, rc, "quality");
        *err = 1;
        return NULL;
    }
    const double max_yaw = 30 * M_PI / 180, max_pitch = 25 * M_PI / 180;
    buf[0] = 0;
    if (q.face_height < 80) snprintf(buf, size, "too small: the face is %.0f px high, at least 80 needed", q.face_height);
    else if (q.blur == FACET_BLUR_BLURRY) snprintf(buf, size, "blurry (sharpness %.1f, below 6)", q.blur_score);
    else if (q.exposure != FACET_EXPOSURE_GOOD)
        snprintf(buf, size, "badly exposed (%s)", q.exposure == FACET_EXPOSURE_OVER ? "over" : "under");
    else if (q.has_pose && (fabs(q.yaw) > max_yaw || fabs(q.pitch) > max_pitch))
        snprintf(buf, size, "turned away (yaw %.0f, pitch %.0f degrees; at most 30 and 25)",
                 q.yaw * 180 / M_PI, q.pitch * 180 / M_PI);
    else if (q.has_liveness && !q.is_live)
        snprintf(buf, size, "not a live face (liveness %.2f)", q.liveness_score);
    return buf[0] ? buf : NULL;
}

static int check_identity(const char *id, srv_resp *out)
{
    if (!id) {
        srv_error(out, 400, "no_identity", "'identity' is required");
        return -1;
    }
    size_t n = strlen(id);
    if (n == 0 || n > FACET_IDENTITY_MAX || !srv_utf8_ok(id, n)) {
        srv_error(out, 400, "bad_identity", "'identity' must be 1..%d bytes of UTF-8 without control characters",
                  FACET_IDENTITY_MAX);
        return -1;
    }
    return 0;
}

static void h_enrol(srv *s, srv_req *r, srv_resp *out)
{
    facet_collection_info info;
    const char *identity = srv_arg_str(r, "identity");
    int strict = 0;
    if (check_identity(identity, out) || srv_arg_bool(r, "strict", 0, &strict, out)) return;
    if (need_collection(s, r, &info, out)) return;
    srv_input in;
    if (srv_input_get(s, r, "", &in, out)) return;
    facet_face face;
    int have_face = 0;
    uint8_t *png = NULL;
    size_t png_size = 0;
    char uuid[FACET_UUID_SIZE];
    int rc;
    if (in.img) {
        if (largest_face(s, in.img, &face, out)) goto done;
        have_face = 1;
        if (strict) {
            char why[160];
            int err;
            const char *reason = refuse_reason(s, in.img, &face, why, sizeof why, out, &err);
            if (err) goto done;
            if (reason) {
                srv_error(out, 422, "refused", "strict: the face is %s", reason);
                goto done;
            }
        }
        if ((rc = facet_faceprint_extract(srv_sdk(s), in.img, &face, &in.fp))) {
            srv_facet_error(s, out, rc, "faceprint");
            goto done;
        }
        if (info.keep_payload) {
            facet_image *chip = NULL;
            rc = facet_extract_aligned_face(srv_sdk(s), in.img, &face, &chip);
            if (!rc) rc = facet_image_encode_png(chip, &png, &png_size);
            facet_image_destroy(chip);
            if (rc) {
                srv_facet_error(s, out, rc, "face chip");
                goto done;
            }
        }
    } else if (strict) {
        srv_error(out, 422, "refused", "strict: a faceprint cannot be graded; send the image");
        goto done;
    }
    if (srv_deadline_passed(s, r, out)) goto done;
    rc = facet_gallery_enroll(srv_gallery(s), info.name, in.fp.model, in.fp.v, in.fp.dim, identity, png,
                              png_size, uuid);
    if (rc) {
        srv_facet_error(s, out, rc, "enrol");
        goto done;
    }
    json_t *j = json_pack("{s:s,s:s,s:s}", "uuid", uuid, "identity", identity, "collection", info.name);
    if (have_face) json_object_set_new(j, "box", box_json(&face));
    srv_json(out, 201, j);
done:
    facet_free(png);
    srv_input_free(&in);
}

static void h_face_delete(srv *s, srv_req *r, srv_resp *out)
{
    facet_collection_info info;
    if (need_collection(s, r, &info, out)) return;
    const char *uuid = srv_param(r, "uuid");
    int rc = facet_gallery_remove(srv_gallery(s), info.name, uuid);
    if (rc == FACET_E_NOT_FOUND || rc == FACET_E_INVALID_ARG) {
        srv_error(out, 404, "no_face", "collection '%s' has no faceprint '%s'", info.name, uuid);
        return;
    }
    if (rc) {
        srv_facet_error(s, out, rc, "remove");
        return;
    }
    srv_json(out, 200, json_pack("{s:i}", "removed", 1));
}

static void h_identities(srv *s, srv_req *r, srv_resp *out)
{
    facet_collection_info info;
    if (need_collection(s, r, &info, out)) return;
    facet_identity_count *ids = NULL;
    size_t n = 0;
    int rc = facet_gallery_identities(srv_gallery(s), info.name, &ids, &n);
    if (rc) {
        srv_facet_error(s, out, rc, "identities");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:I}", "identity", ids[i].identity, "faceprints",
                                           (json_int_t)ids[i].count));
    facet_free(ids);
    srv_json(out, 200, json_pack("{s:o}", "identities", a));
}

static void h_identity_delete(srv *s, srv_req *r, srv_resp *out)
{
    facet_collection_info info;
    if (need_collection(s, r, &info, out)) return;
    const char *identity = srv_param(r, "identity");
    if (check_identity(identity, out)) return;
    /* an identity declared without faceprints (a CompreFace subject without examples) is
     * listed with 0 faceprints, and removing it is not a 404 */
    facet_identity_count *ids = NULL;
    size_t n = 0, removed = 0;
    int declared = 0;
    int rc = facet_gallery_identities(srv_gallery(s), info.name, &ids, &n);
    for (size_t i = 0; i < n && !declared; i++)
        declared = !ids[i].count && !strcmp(ids[i].identity, identity);
    facet_free(ids);
    if (!rc) rc = facet_gallery_remove_identity(srv_gallery(s), info.name, identity, &removed);
    if (rc) {
        srv_facet_error(s, out, rc, "remove identity");
        return;
    }
    if (!removed && !declared) {
        srv_error(out, 404, "no_identity", "collection '%s' has no identity '%s'", info.name, identity);
        return;
    }
    srv_json(out, 200, json_pack("{s:I}", "removed", (json_int_t)removed));
}

/* ---- search ------------------------------------------------------------------------------ */

typedef struct search_args {
    long top_k;
    double threshold;
} search_args;

static int read_search_args(srv_req *r, search_args *a, srv_resp *out)
{
    return srv_arg_int(r, "top_k", 1, 1, 100, &a->top_k, out) ||
           srv_arg_float(r, "threshold", facet_match_threshold(), -1, 1, &a->threshold, out);
}

/* Top-k of one faceprint as a JSON array of candidates at or above the threshold. */
static json_t *search_one(srv *s, const facet_collection_info *info, const facet_faceprint *fp,
                          const search_args *a, srv_resp *out)
{
    facet_match m[100];
    int n = 0;
    int rc = facet_gallery_identify_top_k(srv_gallery(s), info->name, fp->model, fp->v, fp->dim,
                                          (int)a->top_k, m, &n);
    if (rc) {
        srv_facet_error(s, out, rc, "identify");
        return NULL;
    }
    return matches_json(m, n, a->threshold);
}

static void h_identify(srv *s, srv_req *r, srv_resp *out)
{
    facet_collection_info info;
    search_args a;
    int largest = 0;
    if (read_search_args(r, &a, out) || srv_arg_bool(r, "largest", 0, &largest, out)) return;
    if (need_collection(s, r, &info, out)) return;
    srv_input in;
    if (srv_input_get(s, r, "", &in, out)) return;
    json_t *faces = json_array();
    if (in.has_fp) {
        json_t *c = search_one(s, &info, &in.fp, &a, out);
        if (!c) goto fail;
        json_array_append_new(faces, json_pack("{s:n,s:o}", "box", "candidates", c));
    } else {
        facet_face *f = NULL;
        int n = 0;
        if (find_faces(s, in.img, &f, &n, out)) goto fail;
        if (largest) {
            f[0] = f[largest_index(f, n)];
            n = 1;
        }
        int bad = 0;
        for (int i = 0; i < n && !bad; i++) {
            facet_faceprint fp;
            int rc;
            json_t *c = NULL;
            if (srv_deadline_passed(s, r, out)) bad = 1;
            else if ((rc = facet_faceprint_extract(srv_sdk(s), in.img, &f[i], &fp))) {
                srv_facet_error(s, out, rc, "faceprint");
                bad = 1;
            } else if (!(c = search_one(s, &info, &fp, &a, out))) {
                bad = 1;
            } else {
                json_array_append_new(faces, json_pack("{s:o,s:o}", "box", box_json(&f[i]), "candidates", c));
            }
        }
        facet_free(f);
        if (bad) goto fail;
    }
    srv_input_free(&in);
    srv_json(out, 200, json_pack("{s:o}", "faces", faces));
    return;
fail:
    json_decref(faces);
    srv_input_free(&in);
}

/* A face crop may be cut so tight that the detector misses it: it is looked for again on a
 * canvas twice its size with the crop in the middle. */
static int face_in_crop(srv *s, facet_image **img, facet_face *face, srv_resp *out)
{
    facet_face *faces = NULL;
    int n = 0, rc = facet_detect_faces(srv_sdk(s), *img, &faces, &n);
    if (!rc && n == 0 && (*img)->width <= 4096 && (*img)->height <= 4096) {
        facet_image *canvas = NULL, *src = *img;
        if (!facet_image_create(src->width * 2, src->height * 2, src->channels, &canvas)) {
            int ox = src->width / 2, oy = src->height / 2;
            for (int y = 0; y < src->height; y++)
                memcpy(canvas->data + (size_t)(y + oy) * canvas->stride + (size_t)ox * src->channels,
                       src->data + (size_t)y * src->stride, (size_t)src->width * src->channels);
            facet_free(faces);
            faces = NULL;
            rc = facet_detect_faces(srv_sdk(s), canvas, &faces, &n);
            facet_image_destroy(src);
            *img = canvas;
        }
    }
    if (rc) {
        srv_facet_error(s, out, rc, "detect");
        return -1;
    }
    if (n == 0) {
        facet_free(faces);
        srv_error(out, 422, "no_face", "no face found in the crop");
        return -1;
    }
    *face = faces[largest_index(faces, n)];
    facet_free(faces);
    return 0;
}

/* --test-recognize-delay-ms (tests and bench/watch only): the worker stays busy this much longer,
 * as it would with a slower model or a larger collection, so a client's behaviour against a slow
 * server is measured on the real server. The delay counts in server_ms and compute_ms. */
static void test_recognize_delay(srv *s)
{
    int ms = srv_cfg(s)->test_recognize_delay_ms;
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void h_recognize(srv *s, srv_req *r, srv_resp *out)
{
    double t0 = srv_now();
    facet_collection_info info;
    search_args a;
    int aligned = -1;
    const char *al = srv_arg_str(r, "aligned");
    if (al) {
        if (srv_arg_bool(r, "aligned", 0, &aligned, out)) return;
    }
    if (read_search_args(r, &a, out) || need_collection(s, r, &info, out)) return;
    srv_input in;
    if (srv_input_get(s, r, "", &in, out)) return;
    int rc;
    const char *kind = "faceprint";
    if (in.img) {
        if (aligned < 0) aligned = in.img->width == 112 && in.img->height == 112;
        if (aligned) {
            kind = "chip";
            if (in.img->width != 112 || in.img->height != 112) {
                srv_error(out, 400, "bad_chip", "an aligned chip is 112x112; this image is %dx%d",
                          in.img->width, in.img->height);
                goto done;
            }
            rc = facet_faceprint_from_chip(srv_sdk(s), in.img, &in.fp);
        } else {
            kind = "crop";
            facet_face face;
            if (face_in_crop(s, &in.img, &face, out)) goto done;
            rc = facet_faceprint_extract(srv_sdk(s), in.img, &face, &in.fp);
        }
        if (rc) {
            srv_facet_error(s, out, rc, "faceprint");
            goto done;
        }
    }
    json_t *c = search_one(s, &info, &in.fp, &a, out);
    if (!c) goto done;
    test_recognize_delay(s);
    double now = srv_now();
    srv_json(out, 200, json_pack("{s:o,s:s,s:f,s:f}", "candidates", c, "input", kind, "server_ms",
                                 r3((now - r->t_start) * 1000), "compute_ms", r3((now - t0) * 1000)));
done:
    srv_input_free(&in);
}

/* ---- detect, faceprints, compare ---------------------------------------------------------- */

static json_t *quality_json(const facet_quality *q)
{
    json_t *j = json_pack("{s:s,s:f,s:s,s:f,s:f}", "blur", q->blur == FACET_BLUR_BLURRY ? "blurry" : "good",
                          "sharpness", r3(q->blur_score), "exposure",
                          q->exposure == FACET_EXPOSURE_GOOD ? "good" : q->exposure == FACET_EXPOSURE_OVER ? "over" : "under",
                          "exposure_score", r3(q->exposure_score), "face_height", r3(q->face_height));
    if (q->has_pose)
        json_object_set_new(j, "pose", json_pack("{s:f,s:f,s:f}", "yaw", r3(q->yaw * 180 / M_PI), "pitch",
                                                 r3(q->pitch * 180 / M_PI), "roll", r3(q->roll * 180 / M_PI)));
    if (q->has_eyes)
        json_object_set_new(j, "eyes", json_pack("{s:b,s:b}", "left_open", q->left_eye_open, "right_open",
                                                 q->right_eye_open));
    if (q->has_liveness)
        json_object_set_new(j, "liveness", json_pack("{s:b,s:f}", "live", q->is_live, "score", r3(q->liveness_score)));
    return j;
}

static json_t *attributes_json(const facet_attributes *a)
{
    return json_pack("{s:f,s:s,s:f,s:s}", "age", r3(a->age), "gender",
                     a->gender == FACET_GENDER_MALE ? "male" : "female", "gender_score", r3(a->gender_score),
                     "expression", facet_expression_name(a->expression));
}

/* The face's aligned 112x112 chip as a base64 PNG (what a video client sends to recognize). */
static json_t *chip_json(srv *s, const facet_image *img, const facet_face *f, srv_resp *out)
{
    facet_image *chip = NULL;
    uint8_t *png = NULL;
    size_t n = 0;
    int rc = facet_extract_aligned_face(srv_sdk(s), img, f, &chip);
    if (!rc) rc = facet_image_encode_png(chip, &png, &n);
    facet_image_destroy(chip);
    if (rc) {
        srv_facet_error(s, out, rc, "chip");
        return NULL;
    }
    char *txt = NULL;
    facet_base64_encode(png, n, &txt); /* NULL when out of memory: answered below */
    facet_free(png);
    json_t *j = txt ? json_string(txt) : NULL;
    facet_free(txt);
    if (!j) srv_error(out, 503, "no_memory", "out of memory");
    return j;
}

static void h_detect(srv *s, srv_req *r, srv_resp *out)
{
    int lm = 0, quality = 0, attrs = 0, chips = 0;
    if (srv_arg_bool(r, "landmarks", 0, &lm, out) || srv_arg_bool(r, "quality", 0, &quality, out) ||
        srv_arg_bool(r, "attributes", 0, &attrs, out) || srv_arg_bool(r, "chips", 0, &chips, out))
        return;
    srv_input in;
    if (srv_input_get(s, r, "", &in, out)) return;
    if (!in.img) {
        srv_error(out, 400, "no_input", "detect needs an image");
        srv_input_free(&in);
        return;
    }
    facet_face *f = NULL;
    int n = 0, rc = facet_detect_faces(srv_sdk(s), in.img, &f, &n);
    if (rc) {
        srv_facet_error(s, out, rc, "detect");
        srv_input_free(&in);
        return;
    }
    if (n > srv_cfg(s)->max_faces) {
        srv_error(out, 413, "too_many_faces", "the image has %d faces; the limit is %d", n, srv_cfg(s)->max_faces);
        goto done;
    }
    json_t *faces = json_array();
    for (int i = 0; i < n; i++) {
        json_t *j = json_pack("{s:o,s:f,s:o}", "box", box_json(&f[i]), "score", r3(f[i].score), "points",
                              points_json(f[i].kps, 5));
        if (lm && f[i].has_landmarks) json_object_set_new(j, "landmarks", points_json(f[i].landmarks, 68));
        if (quality) {
            facet_quality q;
            if ((rc = facet_face_quality(srv_sdk(s), in.img, &f[i], FACET_QUALITY_ALL, &q))) {
                json_decref(j);
                json_decref(faces);
                srv_facet_error(s, out, rc, "quality");
                goto done;
            }
            json_object_set_new(j, "quality", quality_json(&q));
        }
        if (attrs) {
            facet_attributes at;
            if ((rc = facet_face_attributes(srv_sdk(s), in.img, &f[i], &at))) {
                json_decref(j);
                json_decref(faces);
                srv_facet_error(s, out, rc, "attributes");
                goto done;
            }
            json_object_set_new(j, "attributes", attributes_json(&at));
        }
        if (chips) {
            json_t *cj = chip_json(s, in.img, &f[i], out);
            if (!cj) {
                json_decref(j);
                json_decref(faces);
                goto done;
            }
            json_object_set_new(j, "chip", cj);
        }
        json_array_append_new(faces, j);
    }
    srv_json(out, 200, json_pack("{s:i,s:i,s:o}", "width", in.img->width, "height", in.img->height, "faces", faces));
done:
    facet_free(f);
    srv_input_free(&in);
}

static void h_faceprints(srv *s, srv_req *r, srv_resp *out)
{
    srv_input in;
    if (srv_input_get(s, r, "", &in, out)) return;
    if (!in.img) {
        srv_error(out, 400, "no_input", "faceprints needs an image");
        srv_input_free(&in);
        return;
    }
    facet_face *f = NULL;
    int n = 0;
    if (find_faces(s, in.img, &f, &n, out)) {
        srv_input_free(&in);
        return;
    }
    json_t *faces = json_array();
    for (int i = 0; i < n; i++) {
        facet_faceprint fp;
        int rc = facet_faceprint_extract(srv_sdk(s), in.img, &f[i], &fp);
        json_t *fj = rc ? NULL : faceprint_json(&fp);
        if (!fj) {
            json_decref(faces);
            if (rc) srv_facet_error(s, out, rc, "faceprint");
            else srv_error(out, 500, "internal", "faceprint to JSON failed");
            goto done;
        }
        json_array_append_new(faces, json_pack("{s:o,s:o}", "box", box_json(&f[i]), "faceprint", fj));
    }
    srv_json(out, 200, json_pack("{s:o}", "faces", faces));
done:
    facet_free(f);
    srv_input_free(&in);
}

/* The faceprint of an input: as given, or of the largest face in the image. */
static int input_faceprint(srv *s, srv_input *in, srv_resp *out)
{
    if (in->has_fp) return 0;
    facet_face face;
    if (largest_face(s, in->img, &face, out)) return -1;
    int rc = facet_faceprint_extract(srv_sdk(s), in->img, &face, &in->fp);
    if (rc) {
        srv_facet_error(s, out, rc, "faceprint");
        return -1;
    }
    in->has_fp = 1;
    return 0;
}

static void h_compare(srv *s, srv_req *r, srv_resp *out)
{
    double threshold;
    if (srv_arg_float(r, "threshold", facet_match_threshold(), -1, 1, &threshold, out)) return;
    srv_input a, b;
    if (srv_input_get(s, r, "a", &a, out)) return;
    if (srv_input_get(s, r, "b", &b, out)) {
        srv_input_free(&a);
        return;
    }
    if (!input_faceprint(s, &a, out) && !input_faceprint(s, &b, out)) {
        float sim, prob;
        int rc = facet_compare(&a.fp, &b.fp, &sim, &prob);
        if (rc) srv_facet_error(s, out, rc, "compare");
        else
            srv_json(out, 200, json_pack("{s:f,s:f,s:b,s:f}", "similarity", r3(sim), "probability", r3(prob),
                                         "match", sim >= threshold, "threshold", r3(threshold)));
    }
    srv_input_free(&a);
    srv_input_free(&b);
}

/* ---- keys -------------------------------------------------------------------------------- */

static void h_key_create(srv *s, srv_req *r, srv_resp *out)
{
    if (!r->parsed.json) {
        srv_error(out, 400, "bad_json", "send a JSON object {\"role\": ..., \"collection\": ...}");
        return;
    }
    json_t *jr = json_object_get(r->parsed.json, "role"), *jc = json_object_get(r->parsed.json, "collection");
    srv_role role;
    if (!json_is_string(jr) || srv_role_parse(json_string_value(jr), &role)) {
        srv_error(out, 400, "bad_argument", "'role' must be \"admin\", \"enrol\" or \"recognize\"");
        return;
    }
    if (jc && !json_is_null(jc) && !json_is_string(jc)) {
        srv_error(out, 400, "bad_argument", "'collection' must be a string");
        return;
    }
    const char *coll = json_is_string(jc) ? json_string_value(jc) : "";
    /* a recognition key bound to a collection is a CompreFace client's key (compreface.c): its
     * collection exists before the key does, made here when needed */
    int made = 0, rc = 0;
    if (role == SRV_ROLE_RECOGNIZE && coll[0] && (rc = srv_cf_collection_ensure(s, coll, &made))) {
        srv_facet_error(s, out, rc, "create the key's collection");
        return;
    }
    if (made) srv_log(s, "info", "collection %s created for a recognize key", coll);
    char key[FACET_KEY_SIZE];
    facet_key_info info;
    rc = facet_key_create(srv_gallery(s), srv_role_name(role), coll, key, &info);
    if (rc) {
        srv_facet_error(s, out, rc, "create key");
        return;
    }
    srv_log(s, "info", "key %s created (role %s%s%s)", info.id, info.role, coll[0] ? ", collection " : "", coll);
    srv_json(out, 201, json_pack("{s:s,s:s,s:s,s:s,s:I,s:b}", "key", key, "id", info.id, "role", info.role,
                                 "collection", info.collection, "created_ms", (json_int_t)info.created,
                                 "collection_created", made));
}

static void h_key_list(srv *s, srv_req *r, srv_resp *out)
{
    (void)r;
    facet_key_info *k = NULL;
    size_t n = 0;
    int rc = facet_key_list(srv_gallery(s), &k, &n);
    if (rc) {
        srv_facet_error(s, out, rc, "list keys");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:I}", "id", k[i].id, "role", k[i].role, "collection",
                                           k[i].collection, "created_ms", (json_int_t)k[i].created));
    facet_free(k);
    srv_json(out, 200, json_pack("{s:o}", "keys", a));
}

static void h_key_delete(srv *s, srv_req *r, srv_resp *out)
{
    const char *id = srv_param(r, "id");
    int rc = facet_key_revoke(srv_gallery(s), id);
    if (rc == FACET_E_NOT_FOUND) {
        srv_error(out, 404, "no_key", "no key with id '%s'", id);
        return;
    }
    if (rc) {
        srv_facet_error(s, out, rc, "revoke key");
        return;
    }
    srv_auth_forget(); /* this node stops accepting it at once; others within key_cache_s */
    srv_log(s, "info", "key %s revoked", id);
    srv_json(out, 200, json_pack("{s:s}", "revoked", id));
}

/* ---- health and metrics ------------------------------------------------------------------ */

static void h_healthz(srv *s, srv_req *r, srv_resp *out)
{
    (void)s;
    (void)r;
    srv_json(out, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_readyz(srv *s, srv_req *r, srv_resp *out)
{
    (void)r;
    facet_collection_info *c = NULL;
    size_t n = 0;
    int rc = facet_collection_list(srv_gallery(s), &c, &n);
    facet_free(c);
    if (rc) {
        srv_metrics_store_error(srv_metrics_of(s));
        srv_error(out, 503, "not_ready", "store unreachable: %s", facet_last_error());
        return;
    }
    srv_json(out, 200, json_pack("{s:s,s:s,s:I}", "status", "ready", "model", srv_model_id(s), "collections",
                                 (json_int_t)n));
}

static void h_metrics(srv *s, srv_req *r, srv_resp *out)
{
    (void)r;
    size_t n = 0;
    char *txt = srv_metrics_render(s, srv_metrics_of(s), &n);
    if (!txt) {
        srv_error(out, 503, "no_memory", "out of memory");
        return;
    }
    srv_text(out, 200, "text/plain; version=0.0.4; charset=utf-8", txt, n);
}

static const srv_route api_routes[] = {
    {"GET", "/healthz", SRV_ROLE_NONE, SRV_INLINE, h_healthz},
    {"GET", "/readyz", SRV_ROLE_NONE, SRV_INLINE, h_readyz},
    {"GET", "/metrics", SRV_ROLE_RECOGNIZE, SRV_INLINE, h_metrics},
    {"POST", "/v1/detect", SRV_ROLE_RECOGNIZE, 0, h_detect},
    {"POST", "/v1/faceprints", SRV_ROLE_RECOGNIZE, 0, h_faceprints},
    {"POST", "/v1/compare", SRV_ROLE_RECOGNIZE, 0, h_compare},
    {"GET", "/v1/collections", SRV_ROLE_RECOGNIZE, 0, h_collections_list},
    {"POST", "/v1/collections", SRV_ROLE_ADMIN, 0, h_collection_create},
    {"GET", "/v1/collections/{name}", SRV_ROLE_RECOGNIZE, 0, h_collection_get},
    {"DELETE", "/v1/collections/{name}", SRV_ROLE_ADMIN, 0, h_collection_delete},
    {"POST", "/v1/collections/{name}/faces", SRV_ROLE_ENROL, 0, h_enrol},
    {"DELETE", "/v1/collections/{name}/faces/{uuid}", SRV_ROLE_ENROL, 0, h_face_delete},
    {"GET", "/v1/collections/{name}/identities", SRV_ROLE_RECOGNIZE, 0, h_identities},
    {"DELETE", "/v1/collections/{name}/identities/{identity}", SRV_ROLE_ENROL, 0, h_identity_delete},
    {"POST", "/v1/collections/{name}/identify", SRV_ROLE_RECOGNIZE, 0, h_identify},
    {"POST", "/v1/collections/{name}/recognize", SRV_ROLE_RECOGNIZE, 0, h_recognize},
    {"POST", "/v1/keys", SRV_ROLE_ADMIN, 0, h_key_create},
    {"GET", "/v1/keys", SRV_ROLE_ADMIN, 0, h_key_list},
    {"DELETE", "/v1/keys/{id}", SRV_ROLE_ADMIN, 0, h_key_delete},
};

void srv_api_routes(srv *s)
{
    for (size_t i = 0; i < sizeof api_routes / sizeof api_routes[0]; i++) srv_route_add(s, &api_routes[i]);
}
