/*
 * quality.c - is this face good enough to enrol or to trust a match? Image checks that always
 * run (sharpness, exposure, face height) and model checks chosen by the caller (head pose from
 * fr_pose, open eyes from fr_eye, liveness from fr_liveness).
 *
 * Crops follow how the models' authors run them (the npm package's lib/ scripts), and every choice
 * they leave open was measured on real photos (docs/quality.md):
 *  - sharpness and exposure are measured on the aligned 112x112 chip, so that they do not
 *    depend on the face's size in the picture;
 *  - pose: the box grown by a quarter on each side, 224x224 RGB, ImageNet normalisation; three
 *    66-bin heads (3 degrees a bin) whose expectation gives yaw, pitch and roll;
 *  - eyes: a square of 1.6x the eye's corner-to-corner width around the eyelid centre, 24x24
 *    grey / 255; two classes, the second is an open eye;
 *  - liveness: the box grown 2.7x (kept inside the image), 128x128, raw 0-255 in BGR order (the
 *    authors' script feeds RGB, but BGR calls real photos real far more often); three classes,
 *    the first is a real face.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sdk.h"

/* Thresholds, measured on ../shared/data (docs/quality.md). */
#define BLUR_THRESHOLD 6.0f    /* 100 x var(Laplacian) / var(intensity) on the chip; below: blurry */
#define DARK_MEAN 60.0f        /* mean luminance of the chip's centre below: under-exposed */
#define BRIGHT_MEAN 195.0f     /* above: over-exposed */
#define EXPOSURE_MIN_SCORE 0.6f /* share of well-exposed pixels below which exposure is bad */
#define EYE_OPEN_INDEX 1       /* fr_eye class of an open eye */
#define LIVE_INDEX 0           /* fr_liveness class of a real face */

static const float imagenet_mean[3] = {0.485f * 255, 0.456f * 255, 0.406f * 255};
static const float imagenet_scale[3] = {1 / (0.229f * 255), 1 / (0.224f * 255), 1 / (0.225f * 255)};

int sdk_check_face(facet_sdk *sdk, const facet_image *img, const facet_face *face)
{
    if (!sdk) return facet_seterr(NULL, FACET_E_INVALID_ARG, "sdk is NULL");
    if (!img || !img->data || !face) return sdk_fail(sdk, FACET_E_INVALID_ARG, "img and face must not be NULL");
    if (!(face->w >= 1 && face->h >= 1) || !isfinite(face->x) || !isfinite(face->y) || face->w > 1e6f ||
        face->h > 1e6f || face->x >= (float)img->width || face->y >= (float)img->height || face->x + face->w <= 0 ||
        face->y + face->h <= 0)
        return sdk_fail(sdk, FACET_E_INVALID_ARG, "face box is empty, not finite or outside the image");
    return 0;
}

int sdk_crop_resize(facet_sdk *sdk, const facet_image *img, float x, float y, float w, float h, int ow, int oh,
                    facet_image **out)
{
    /* an axis-aligned crop by affine warp: parts outside the image are black, as padding */
    float m[6] = {w / (float)ow, 0, x + 0.5f * w / (float)ow - 0.5f, 0, h / (float)oh, y + 0.5f * h / (float)oh - 0.5f};
    static const uint8_t black[3] = {0, 0, 0};
    facet_image *src = NULL;
    const facet_image *use = img;
    int rc = 0;
    /* shrink first when the crop is much larger than the output, so the warp does not alias */
    float fx = w / (float)ow, fy = h / (float)oh;
    if (fx > 2.5f && fy > 2.5f) {
        float k = fminf(fx, fy) / 1.5f;
        int sw = (int)((float)img->width / k), sh = (int)((float)img->height / k);
        if (sw >= 1 && sh >= 1) {
            rc = facet_image_resize(img, sw, sh, &src);
            if (rc) return sdk_fail(sdk, rc, "resize: %s", facet_last_error());
            use = src;
            float kx = (float)img->width / (float)sw, ky = (float)img->height / (float)sh;
            m[0] /= kx, m[2] = (x / kx) + 0.5f * m[0] - 0.5f;
            m[4] /= ky, m[5] = (y / ky) + 0.5f * m[4] - 0.5f;
        }
    }
    rc = facet_image_warp_affine(use, m, ow, oh, black, out);
    facet_image_destroy(src);
    if (rc) return sdk_fail(sdk, rc, "crop: %s", facet_last_error());
    return 0;
}

int sdk_crop_grown(facet_sdk *sdk, const facet_image *img, const facet_face *f, float k, int ow, int oh,
                   facet_image **out)
{
    float scale = fminf(k, fminf(((float)img->height - 1) / f->h, ((float)img->width - 1) / f->w));
    float w = f->w * scale, h = f->h * scale;
    float x = fminf(fmaxf(f->x + f->w / 2 - w / 2, 0), (float)img->width - 1 - w);
    float y = fminf(fmaxf(f->y + f->h / 2 - h / 2, 0), (float)img->height - 1 - h);
    return sdk_crop_resize(sdk, img, x, y, w, h, ow, oh, out);
}

/* Runs a model on a tensor and returns the session (to be put back) with its outputs. */
static int run_model(facet_sdk *sdk, int module, const float *in, size_t n, facet_nn_session **s)
{
    int rc = sdk_session_get(sdk, module, NULL, NULL, 0, 0, s);
    if (rc) return rc;
    rc = sdk_run(sdk, *s, in, n);
    if (rc) {
        sdk_session_put(sdk, *s);
        *s = NULL;
    }
    return rc;
}

void sdk_softmax(const float *x, int n, float *p)
{
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += p[i] = expf(x[i] - mx);
    for (int i = 0; i < n; i++) p[i] = (float)(p[i] / sum);
}

/* Sharpness and exposure on the aligned chip (or the box, resized, without landmarks). */
static int image_checks(facet_sdk *sdk, const facet_image *img, const facet_face *face, facet_quality *q)
{
    facet_image *chip = NULL, *grey = NULL;
    int rc = face->has_landmarks ? facet_extract_aligned_face(sdk, img, face, &chip)
                                 : sdk_crop_resize(sdk, img, face->x, face->y, face->w, face->h, 112, 112, &chip);
    if (rc) return rc;
    rc = chip->channels == 1 ? facet_image_clone(chip, &grey) : facet_image_to_grey(chip, &grey);
    facet_image_destroy(chip);
    if (rc) return sdk_fail(sdk, rc, "%s", facet_last_error());
    /* the central part of the chip: the face without background */
    int x0 = 24, x1 = 88, y0 = 28, y1 = 100;
    double sum = 0, sum2 = 0, mean = 0, isq = 0;
    int n = 0, good = 0;
    for (int y = y0; y < y1; y++) {
        const uint8_t *r = grey->data + (size_t)y * grey->stride;
        for (int x = x0; x < x1; x++) {
            mean += r[x];
            isq += (double)r[x] * r[x];
            good += r[x] >= 25 && r[x] <= 230;
            /* 4-neighbour Laplacian */
            double l = 4.0 * r[x] - r[x - 1] - r[x + 1] - r[x - grey->stride] - r[x + grey->stride];
            sum += l;
            sum2 += l * l;
            n++;
        }
    }
    facet_image_destroy(grey);
    mean /= n;
    /* high-frequency energy relative to the contrast: the Laplacian's variance over the
     * intensity variance, so that dark, flat-lit or low-contrast faces are not called blurry */
    double lap = sum2 / n - (sum / n) * (sum / n), ivar = isq / n - mean * mean;
    double var = ivar > 1 ? 100.0 * lap / ivar : 0;
    q->blur_score = (float)var;
    q->blur = var < BLUR_THRESHOLD ? FACET_BLUR_BLURRY : FACET_BLUR_GOOD;
    q->exposure_score = (float)good / (float)n;
    if (mean < DARK_MEAN || (q->exposure_score < EXPOSURE_MIN_SCORE && mean < 128))
        q->exposure = FACET_EXPOSURE_UNDER;
    else if (mean > BRIGHT_MEAN || (q->exposure_score < EXPOSURE_MIN_SCORE && mean >= 128))
        q->exposure = FACET_EXPOSURE_OVER;
    else
        q->exposure = FACET_EXPOSURE_GOOD;
    return 0;
}

static int pose_check(facet_sdk *sdk, const facet_image *img, const facet_face *f, facet_quality *q)
{
    facet_image *crop;
    int rc = sdk_crop_resize(sdk, img, f->x - f->w / 4, f->y - f->h / 4, f->w * 1.5f, f->h * 1.5f, 224, 224, &crop);
    if (rc) return rc;
    float *in = facet_malloc(sizeof(float) * 3 * 224 * 224);
    if (!in) {
        facet_image_destroy(crop);
        return sdk_fail(sdk, FACET_E_NO_MEMORY, "no memory");
    }
    rc = facet_image_to_tensor(crop, in, imagenet_mean, imagenet_scale, 0);
    facet_image_destroy(crop);
    facet_nn_session *s = NULL;
    if (!rc) rc = run_model(sdk, 4, in, 3 * 224 * 224, &s);
    free(in);
    if (rc) return rc;
    float deg[3];
    for (int k = 0; k < 3; k++) {
        const float *y;
        facet_nn_shape ys;
        facet_nn_session_output(s, k, &y, &ys);
        if (facet_nn_shape_count(&ys) != 66) {
            sdk_session_put(sdk, s);
            return sdk_fail(sdk, FACET_E_MODEL, "pose model output %d has %lld values, expected 66", k,
                            (long long)facet_nn_shape_count(&ys));
        }
        float p[66];
        sdk_softmax(y, 66, p);
        double e = 0;
        for (int i = 0; i < 66; i++) e += p[i] * i;
        deg[k] = (float)(e * 3 - 99);
    }
    sdk_session_put(sdk, s);
    const float rad = (float)(M_PI / 180.0);
    q->yaw = deg[0] * rad;
    q->pitch = deg[1] * rad;
    q->roll = deg[2] * rad;
    q->has_pose = 1;
    return 0;
}

/* One eye: the square around the eyelid centre, 1.6x the corner-to-corner width. */
static int eye_score(facet_sdk *sdk, const facet_image *img, const facet_face *f, int first, float *open_p)
{
    const facet_point *p = f->landmarks + first;
    float cx = (p[1].x + p[2].x + p[4].x + p[5].x) / 4, cy = (p[1].y + p[2].y + p[4].y + p[5].y) / 4;
    float size = fmaxf((p[3].x - p[0].x) * 1.6f, 4.0f);
    facet_image *crop = NULL, *grey = NULL;
    int rc = sdk_crop_resize(sdk, img, cx - size / 2, cy - size / 2, size, size, 24, 24, &crop);
    if (rc) return rc;
    rc = crop->channels == 1 ? facet_image_clone(crop, &grey) : facet_image_to_grey(crop, &grey);
    facet_image_destroy(crop);
    if (rc) return sdk_fail(sdk, rc, "%s", facet_last_error());
    float in[24 * 24];
    static const float zero[3] = {0, 0, 0}, sc[3] = {1 / 255.0f, 1 / 255.0f, 1 / 255.0f};
    facet_image_to_tensor(grey, in, zero, sc, 0);
    facet_image_destroy(grey);
    facet_nn_session *s;
    if ((rc = run_model(sdk, 5, in, 24 * 24, &s))) return rc;
    const float *y;
    facet_nn_shape ys;
    facet_nn_session_output(s, 0, &y, &ys);
    if (facet_nn_shape_count(&ys) != 2) {
        sdk_session_put(sdk, s);
        return sdk_fail(sdk, FACET_E_MODEL, "eye model gives %lld values, expected 2", (long long)facet_nn_shape_count(&ys));
    }
    float pr[2];
    sdk_softmax(y, 2, pr);
    sdk_session_put(sdk, s);
    *open_p = pr[EYE_OPEN_INDEX];
    return 0;
}

static int liveness_check(facet_sdk *sdk, const facet_image *img, const facet_face *f, facet_quality *q)
{
    facet_image *crop;
    int rc = sdk_crop_grown(sdk, img, f, 2.7f, 128, 128, &crop);
    if (rc) return rc;
    float *in = facet_malloc(sizeof(float) * 3 * 128 * 128);
    static const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    if (in) rc = facet_image_to_tensor(crop, in, zero, one, 1); /* BGR: measured, docs/quality.md */
    facet_image_destroy(crop);
    if (!in) return sdk_fail(sdk, FACET_E_NO_MEMORY, "no memory");
    facet_nn_session *s = NULL;
    if (!rc) rc = run_model(sdk, 3, in, 3 * 128 * 128, &s);
    free(in);
    if (rc) return rc;
    const float *yv;
    facet_nn_shape ys;
    facet_nn_session_output(s, 0, &yv, &ys);
    if (facet_nn_shape_count(&ys) != 3) {
        sdk_session_put(sdk, s);
        return sdk_fail(sdk, FACET_E_MODEL, "liveness model gives %lld values, expected 3",
                        (long long)facet_nn_shape_count(&ys));
    }
    float p[3];
    sdk_softmax(yv, 3, p);
    sdk_session_put(sdk, s);
    q->liveness_score = p[LIVE_INDEX];
    q->is_live = p[LIVE_INDEX] >= 0.5f;
    q->has_liveness = 1;
    return 0;
}

facet_status facet_face_quality(facet_sdk *sdk, const facet_image *img, const facet_face *face, unsigned what,
                                facet_quality *out)
{
    int rc = sdk_check_face(sdk, img, face);
    if (rc) return rc;
    if (!out) return sdk_fail(sdk, FACET_E_INVALID_ARG, "out is NULL");
    if (what & ~(unsigned)FACET_QUALITY_ALL) return sdk_fail(sdk, FACET_E_INVALID_ARG, "what has unknown bits");
    if ((what & FACET_QUALITY_EYES) && !face->has_landmarks)
        return sdk_fail(sdk, FACET_E_INVALID_ARG, "eye checks need the face's landmarks");
    memset(out, 0, sizeof *out);
    facet_image *rgb = NULL;
    if (img->channels == 1) {
        if ((rc = facet_image_to_rgb(img, &rgb))) return sdk_fail(sdk, rc, "%s", facet_last_error());
        img = rgb;
    }
    out->face_height = face->h;
    rc = image_checks(sdk, img, face, out);
    if (!rc && (what & FACET_QUALITY_POSE)) rc = pose_check(sdk, img, face, out);
    if (!rc && (what & FACET_QUALITY_EYES)) {
        rc = eye_score(sdk, img, face, 36, &out->left_eye_score);
        if (!rc) rc = eye_score(sdk, img, face, 42, &out->right_eye_score);
        out->left_eye_open = out->left_eye_score >= 0.5f;
        out->right_eye_open = out->right_eye_score >= 0.5f;
        out->has_eyes = !rc;
    }
    if (!rc && (what & FACET_QUALITY_LIVENESS)) rc = liveness_check(sdk, img, face, out);
    facet_image_destroy(rgb);
    return rc;
}
