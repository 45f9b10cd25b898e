/*
 * detect.c - face detection at any image size.
 *
 * fr_detect is the Ultra-Light-Fast RFB-320 detector: a fully convolutional network with
 * anchors of 10-256 pixels on stride 8, 16, 32 and 64 feature maps. The exported graph ends in
 * a box decoder whose 4420 anchors are constants for a 320x240 input, which is why other
 * SDKs squeeze every frame into 320x240 or 640x640 and lose small faces. We plan the network
 * for the size we need instead, take its raw heads ("scores" and the regressions "462") and
 * decode them against anchors we generate for that size.
 *
 * Scales: a face of height h pixels becomes h*s pixels in the network input at scale s. The
 * finest scale is chosen so that settings.smallest_face_height lands on NET_SMALL_FACE network
 * pixels (never upsampling beyond 1:1 unless the face asked for is smaller than that); coarser
 * levels, a factor of PYRAMID_STEP apart, follow while the image is still larger than what the
 * largest anchors cover. A level that has a coarser one after it keeps only faces up to
 * NET_LEVEL_MAX network pixels: a face larger than the anchors is better seen whole one level
 * down than in parts (its eyes-and-nose region alone fires the detector at the fine level).
 * Boxes from all levels go through one non-maximum suppression.
 * With settings.detect_verify, every face the pyramid scores at VERIFY_FIRST_STAGE or more is
 * looked at again on its own (verify_score) and that score decides: the second look separates
 * faces from the pyramid's false positives better than the pyramid's score does
 * (docs/detection.md has the measurements).
 * The smallest detectable face is therefore smallest_face_height (docs/detection.md), whatever
 * the image size, at a cost proportional to (NET_SMALL_FACE / smallest_face_height)^2 * pixels.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facet/face.h"
#include "sdk.h"

#define NET_SMALL_FACE 20.0f  /* network pixels for the smallest face we look for */
#define NET_LARGE_FACE 280.0f /* faces above this (network pixels) need a coarser level */
#define PYRAMID_STEP 3.0f
#define NET_LEVEL_MAX 120.0f /* a level that has a coarser one after it keeps faces up to this */
#define MAX_LEVELS 6
#define MAX_CANDIDATES 20000
#define VERIFY_FIRST_STAGE 0.2f /* pyramid score a face needs to be verified */
#define VERIFY_NET_FACE 32.0f   /* network pixels of the face in its re-crop */
#define VERIFY_CONTEXT 3.0f     /* the re-crop is this many times the face's longer side */
#define VERIFY_CANDIDATES 1024  /* boxes of one re-crop: 534 anchors at 96x96 */

static const float min_sizes[4][3] = {{10, 16, 24}, {32, 48, 0}, {64, 96, 0}, {128, 192, 256}};
static const int n_sizes[4] = {3, 2, 2, 3};
static const int steps[4] = {8, 16, 32, 64};
static const char *const head_names[2] = {"scores", "462"};

/* What one detector run looks for: the handle's settings, or a more sensitive retry. */
typedef struct detect_cfg {
    float threshold;
    int smallest_face_height, passes, verify;
} detect_cfg;

typedef struct cand {
    float x1, y1, x2, y2, score;
    int pass;
} cand;

static int64_t anchor_count(int w, int h)
{
    int64_t n = 0;
    for (int k = 0; k < 4; k++) n += (int64_t)((w + steps[k] - 1) / steps[k]) * ((h + steps[k] - 1) / steps[k]) * n_sizes[k];
    return n;
}

/* Runs the network on one pyramid level and appends decoded boxes (in image pixels). */
static int detect_level(facet_sdk *sdk, const facet_image *img, float scale, float max_net, float thr, int pass,
                        int flip, cand *out, int *n, int cap)
{
    int w = (int)lroundf(img->width * scale), h = (int)lroundf(img->height * scale);
    if (w < 16 || h < 16) return 0;
    facet_image *small = NULL;
    const facet_image *src = img;
    int rc;
    if (w != img->width || h != img->height) {
        if ((rc = facet_image_resize(img, w, h, &small))) return sdk_fail(sdk, rc, "detector resize: %s", facet_last_error());
        src = small;
    }
    size_t count = (size_t)3 * w * h;
    float *x = facet_malloc(count * sizeof *x);
    if (!x) {
        facet_image_destroy(small);
        return sdk_fail(sdk, FACET_E_NO_MEMORY, "no memory for a %dx%d detector input", w, h);
    }
    static const float mean[3] = {127.0f, 127.0f, 127.0f}, sc[3] = {1 / 128.0f, 1 / 128.0f, 1 / 128.0f};
    rc = facet_image_to_tensor(src, x, mean, sc, 0);
    facet_image_destroy(small);
    if (rc) {
        free(x);
        return sdk_fail(sdk, rc, "detector input: %s", facet_last_error());
    }
    facet_nn_shape shape = {4, {1, 3, h, w}};
    facet_nn_session *s;
    rc = sdk_session_get(sdk, 0, &shape, head_names, 2, 1, &s);
    if (rc) {
        free(x);
        return rc;
    }
    rc = sdk_run(sdk, s, x, count);
    free(x);
    if (rc) {
        sdk_session_put(sdk, s);
        return rc;
    }
    const float *scores, *loc;
    facet_nn_shape ss, ls;
    facet_nn_session_output(s, 0, &scores, &ss);
    facet_nn_session_output(s, 1, &loc, &ls);
    int64_t na = anchor_count(w, h);
    if (ss.ndim != 3 || ss.dims[1] != na || ss.dims[2] != 2 || ls.dims[1] != na || ls.dims[2] != 4) {
        sdk_session_put(sdk, s);
        return sdk_fail(sdk, FACET_E_MODEL, "detector heads have %lld anchors, expected %lld for %dx%d",
                        (long long)ss.dims[1], (long long)na, w, h);
    }
    int64_t a = 0;
    for (int k = 0; k < 4; k++) {
        int fw = (w + steps[k] - 1) / steps[k], fh = (h + steps[k] - 1) / steps[k];
        for (int i = 0; i < fh; i++)
            for (int j = 0; j < fw; j++)
                for (int m = 0; m < n_sizes[k]; m++, a++) {
                    float p = scores[2 * a + 1];
                    if (p < thr || *n >= cap) continue;
                    /* anchors in network pixels; SSD decoding with variances 0.1 and 0.2 */
                    float acx = (j + 0.5f) * steps[k], acy = (i + 0.5f) * steps[k], as = min_sizes[k][m];
                    const float *l = loc + 4 * a;
                    float cx = acx + l[0] * 0.1f * as, cy = acy + l[1] * 0.1f * as;
                    float bw = as * expf(l[2] * 0.2f), bh = as * expf(l[3] * 0.2f);
                    if (bh > max_net) continue; /* the coarser level sees this face whole */
                    cand *c = &out[(*n)++];
                    c->x1 = (cx - bw / 2) / scale;
                    c->y1 = (cy - bh / 2) / scale;
                    c->x2 = (cx + bw / 2) / scale;
                    c->y2 = (cy + bh / 2) / scale;
                    c->score = p;
                    c->pass = pass;
                    if (flip) {
                        float x1 = (float)img->width - c->x2;
                        c->x2 = (float)img->width - c->x1;
                        c->x1 = x1;
                    }
                }
    }
    sdk_session_put(sdk, s);
    return 0;
}

static int by_score(const void *a, const void *b)
{
    float x = ((const cand *)a)->score, y = ((const cand *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int face_by_score(const void *a, const void *b)
{
    float x = ((const facet_face *)a)->score, y = ((const facet_face *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

static float iou(const cand *a, const cand *b)
{
    float w = fminf(a->x2, b->x2) - fmaxf(a->x1, b->x1), h = fminf(a->y2, b->y2) - fmaxf(a->y1, b->y1);
    if (w <= 0 || h <= 0) return 0;
    float inter = w * h;
    float ua = (a->x2 - a->x1) * (a->y2 - a->y1) + (b->x2 - b->x1) * (b->y2 - b->y1) - inter;
    return ua > 0 ? inter / ua : 0;
}

/* The pyramid of scales for an image (see the comment at the top). */
static int pyramid(int smallest_face_height, int width, int height, float finer, float *scales)
{
    float s = NET_SMALL_FACE * finer / (float)smallest_face_height;
    if (s > finer && smallest_face_height >= NET_SMALL_FACE) s = finer;
    int n = 0;
    float shortest = (float)(width < height ? width : height);
    for (;;) {
        scales[n++] = s;
        /* faces as tall as the image's short side must fit under the largest anchors */
        if (n == MAX_LEVELS || shortest * s <= NET_LARGE_FACE) break;
        s /= PYRAMID_STEP;
        if (shortest * s < 32) break;
    }
    return n;
}

/* A left-right mirror image. */
static int mirror(const facet_image *img, facet_image **out)
{
    int rc = facet_image_create(img->width, img->height, img->channels, out);
    if (rc) return rc;
    int c = img->channels;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *s = img->data + (size_t)y * (size_t)img->stride;
        uint8_t *d = (*out)->data + (size_t)y * (size_t)(*out)->stride;
        for (int x = 0; x < img->width; x++)
            for (int k = 0; k < c; k++) d[(size_t)(img->width - 1 - x) * c + k] = s[(size_t)x * c + k];
    }
    return 0;
}

/*
 * The detector's score for a face box seen on its own: a square crop VERIFY_CONTEXT times the
 * box's longer side about its centre (black outside the image), resized so that the face is
 * VERIFY_NET_FACE network pixels, the size this model scores most reliably, and the crop's
 * mirror image. Each gives the best score among its boxes that overlap the face at IoU >= 0.5
 * (0 if none does); the result is the mean of the two.
 */
static int verify_score(facet_sdk *sdk, const facet_image *img, const cand *face, cand *buf, float *out)
{
    float reg = fmaxf(face->x2 - face->x1, face->y2 - face->y1) * VERIFY_CONTEXT;
    int side = (int)lroundf(VERIFY_NET_FACE * VERIFY_CONTEXT);
    float ox = (face->x1 + face->x2 - reg) / 2, oy = (face->y1 + face->y2 - reg) / 2, k = reg / (float)side;
    facet_image *crop = NULL, *flipped = NULL;
    int rc = sdk_crop_resize(sdk, img, ox, oy, reg, reg, side, side, &crop);
    if (rc) return rc;
    if ((rc = mirror(crop, &flipped))) {
        facet_image_destroy(crop);
        return sdk_fail(sdk, rc, "verify crop: %s", facet_last_error());
    }
    float sum = 0;
    for (int f = 0; f < 2 && !rc; f++) {
        int n = 0;
        rc = detect_level(sdk, f ? flipped : crop, 1.0f, INFINITY, 0.01f, 0, f, buf, &n, VERIFY_CANDIDATES);
        float best = 0;
        for (int i = 0; i < n; i++) {
            cand b = buf[i];
            b.x1 = ox + b.x1 * k;
            b.x2 = ox + b.x2 * k;
            b.y1 = oy + b.y1 * k;
            b.y2 = oy + b.y2 * k;
            if (b.score > best && iou(&b, face) >= 0.5f) best = b.score;
        }
        sum += best;
    }
    facet_image_destroy(crop);
    facet_image_destroy(flipped);
    *out = sum / 2;
    return rc;
}

static int rgb_view(const facet_image *img, facet_image **rgb, const facet_image **use)
{
    *rgb = NULL;
    *use = img;
    if (img->channels == 3) return 0;
    int rc = facet_image_to_rgb(img, rgb);
    if (!rc) *use = *rgb;
    return rc;
}

static int check_image(facet_sdk *sdk, const facet_image *img)
{
    if (!sdk) return facet_seterr(NULL, FACET_E_INVALID_ARG, "sdk is NULL");
    if (!img || !img->data || img->width <= 0 || img->height <= 0 || (img->channels != 1 && img->channels != 3) ||
        img->stride < img->width * img->channels)
        return sdk_fail(sdk, FACET_E_INVALID_ARG, "img is NULL or not a valid RGB/grey image");
    return 0;
}

static int detect_run(facet_sdk *sdk, const facet_image *img, const detect_cfg *cfg, facet_face **faces, int *count)
{
    *faces = NULL;
    *count = 0;
    facet_image *rgb;
    const facet_image *use;
    int rc;
    if ((rc = rgb_view(img, &rgb, &use))) return sdk_fail(sdk, rc, "%s", facet_last_error());
    int verify = cfg->verify;
    cand *c = facet_malloc(sizeof(cand) * (MAX_CANDIDATES + (verify ? VERIFY_CANDIDATES : 0)));
    if (!c) {
        facet_image_destroy(rgb);
        return sdk_fail(sdk, FACET_E_NO_MEMORY, "no memory");
    }
    int passes = cfg->passes, n = 0;
    float thr = cfg->threshold, cand_thr = passes > 1 ? fminf(thr, 0.3f) : thr;
    /* with verification the pyramid only proposes faces; the second look scores them */
    float first_thr = verify ? fminf(thr, VERIFY_FIRST_STAGE) : thr;
    cand_thr = fminf(cand_thr, first_thr);
    facet_image *flipped = NULL;
    for (int p = 0; p < passes && !rc; p++) {
        /* pass 0: the pyramid; 1: the mirrored image; 2: the pyramid 1.5x finer */
        const facet_image *src = use;
        if (p == 1) {
            if ((rc = mirror(use, &flipped))) break;
            src = flipped;
        }
        float scales[MAX_LEVELS];
        int nl = pyramid(cfg->smallest_face_height, use->width, use->height, p == 2 ? 1.5f : 1.0f, scales);
        for (int l = 0; l < nl && !rc; l++)
            rc = detect_level(sdk, src, scales[l], l + 1 < nl ? NET_LEVEL_MAX : INFINITY, cand_thr, p, p == 1, c,
                              &n, MAX_CANDIDATES);
    }
    facet_image_destroy(flipped);
    if (rc) goto done;
    qsort(c, (size_t)n, sizeof *c, by_score);
    /* clusters of overlapping boxes: each pass votes with its best score in the cluster (0 if it
     * has none). With one pass this is plain greedy NMS. */
    char *dead = facet_calloc((size_t)n + 1, 1);
    facet_face *out = facet_calloc((size_t)n + 1, sizeof *out);
    if (!dead || !out) {
        free(dead);
        free(out);
        rc = sdk_fail(sdk, FACET_E_NO_MEMORY, "no memory");
        goto done;
    }
    int kept = 0;
    float minh = (float)cfg->smallest_face_height;
    for (int i = 0; i < n; i++) {
        if (dead[i]) continue;
        float best[3] = {0, 0, 0};
        for (int j = i; j < n; j++) {
            if (dead[j] || (j != i && iou(&c[i], &c[j]) <= sdk->set.nms_threshold)) continue;
            dead[j] = 1;
            if (c[j].score > best[c[j].pass]) best[c[j].pass] = c[j].score;
        }
        float score = 0;
        for (int p = 0; p < passes; p++) score += best[p] / (float)passes;
        if (score < first_thr) continue;
        /* the best box itself: averaging the cluster's boxes measured worse on LFW alignment */
        const float bx[4] = {c[i].x1, c[i].y1, c[i].x2, c[i].y2};
        float x1 = fmaxf(bx[0], 0), y1 = fmaxf(bx[1], 0);
        float x2 = fminf(bx[2], (float)use->width), y2 = fminf(bx[3], (float)use->height);
        if (x2 - x1 < 2 || y2 - y1 < 2 || bx[3] - bx[1] < minh * 0.8f) continue;
        if (verify) {
            cand box = {x1, y1, x2, y2, score, 0};
            if ((rc = verify_score(sdk, use, &box, c + MAX_CANDIDATES, &score))) break;
            if (score < thr) continue;
        }
        facet_face *f = &out[kept++];
        f->x = x1;
        f->y = y1;
        f->w = x2 - x1;
        f->h = y2 - y1;
        f->score = score;
    }
    free(dead);
    /* verification re-scores: keep the promise of best score first */
    if (verify && !rc) qsort(out, (size_t)kept, sizeof *out, face_by_score);
    for (int i = 0; i < kept && !rc && !sdk->set.boxes_only; i++)
        rc = facet_face_landmarks(sdk, use, &out[i]);
    if (rc) {
        free(out);
        goto done;
    }
    *faces = out;
    *count = kept;
done:
    free(c);
    facet_image_destroy(rgb);
    return rc;
}

static detect_cfg settings_cfg(const facet_sdk *sdk)
{
    detect_cfg c = {sdk->set.detect_threshold, sdk->set.smallest_face_height, sdk->set.detect_passes,
                    sdk->set.detect_verify};
    return c;
}

facet_status facet_detect_faces(facet_sdk *sdk, const facet_image *img, facet_face **faces, int *count)
{
    if (faces) *faces = NULL;
    if (count) *count = 0;
    int rc = check_image(sdk, img);
    if (rc) return rc;
    if (!faces || !count) return sdk_fail(sdk, FACET_E_INVALID_ARG, "faces and count must not be NULL");
    detect_cfg cfg = settings_cfg(sdk);
    return detect_run(sdk, img, &cfg, faces, count);
}

/*
 * The retries for a photo that should hold a face when the configured pass found none, each
 * more sensitive than the last: the second look at the configured threshold (it rescues faces
 * the pyramid scored between 0.2 and the threshold), then the second look at RETRY_THRESHOLD
 * with a pyramid twice as fine plus its 1.5x finer and mirrored passes. Each is a real
 * detection: a face that none of them finds is reported missing, never invented.
 */
#define RETRY_THRESHOLD 0.45f
#define RETRY_COUNT 2

static int retry_cfg(const facet_sdk *sdk, int k, detect_cfg *c)
{
    *c = settings_cfg(sdk);
    if (k == 0) {
        if (c->verify) return 0; /* the configured pass already looked twice */
        c->verify = 1;
    } else {
        c->verify = 1;
        c->threshold = fminf(c->threshold, RETRY_THRESHOLD);
        c->smallest_face_height = c->smallest_face_height / 2 > 8 ? c->smallest_face_height / 2 : 8;
        c->passes = 3;
    }
    return 1;
}

facet_status facet_detect_largest_face(facet_sdk *sdk, const facet_image *img, facet_face *face)
{
    if (!face) return sdk_fail(sdk, FACET_E_INVALID_ARG, "face is NULL");
    int rc = check_image(sdk, img);
    if (rc) return rc;
    facet_face *all;
    int n;
    detect_cfg cfg = settings_cfg(sdk);
    rc = detect_run(sdk, img, &cfg, &all, &n);
    for (int k = 0; !rc && n == 0 && k < RETRY_COUNT; k++) {
        if (!retry_cfg(sdk, k, &cfg)) continue;
        free(all);
        rc = detect_run(sdk, img, &cfg, &all, &n);
    }
    if (rc) return rc;
    if (n == 0) {
        free(all);
        return sdk_fail(sdk, FACET_E_NOT_FOUND, "no face found (also not by the more sensitive retries)");
    }
    int best = 0;
    for (int i = 1; i < n; i++)
        if (all[i].w * all[i].h > all[best].w * all[best].h) best = i;
    *face = all[best];
    free(all);
    return 0;
}
