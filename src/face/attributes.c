/*
 * attributes.c - age, gender and expression.
 *
 * fr_age and fr_gender are SSR-Net (soft stagewise regression): three stages of three bins,
 * each with a probability per bin, an index offset per bin and a scale delta per stage; the
 * estimate is  sum over stages k of  sum_i (i + offset_k,i) p_k,i / prod_{j<=k} (3 (1 + delta_j)),
 * times 101 years for age and 1 for gender (0 female .. 1 male). Their input is the face box
 * grown 1.4x about its centre (kept inside the image), 64x64, ImageNet normalisation, in BGR
 * order (SSR-Net was trained on OpenCV images: BGR got the gender of Obama and of Rose Leslie in
 * the gallery photos right where RGB did not, docs/quality.md).
 * fr_expression takes the box grown 1.2x from its top-left corner, 224x224 RGB / 255, and gives
 * 7 logits in FER order: angry, disgust, fear, happy, sad, surprise, neutral.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sdk.h"

static const float imagenet_mean[3] = {0.485f * 255, 0.456f * 255, 0.406f * 255};
static const float imagenet_scale[3] = {1 / (0.229f * 255), 1 / (0.224f * 255), 1 / (0.225f * 255)};

const char *facet_expression_name(facet_expression e)
{
    static const char *const names[FACET_EXPR_COUNT] = {"angry", "disgust", "fear", "happy",
                                                        "sad", "surprise", "neutral"};
    return (unsigned)e < FACET_EXPR_COUNT ? names[e] : "unknown";
}

/* SSR-Net's stagewise regression over the model's nine outputs, in the graph's order (checked
 * by name on fr_age and fr_gender): prob_stage_1..3 (3 each), stage1..3_delta_k (1 each),
 * index_offset_stage1..3 (3 each), merged as the model's authors do (lambdas 1). */
static int ssr_net(facet_sdk *sdk, int module, const float *in, float scale, float *out)
{
    facet_nn_session *s;
    int rc = sdk_session_get(sdk, module, NULL, NULL, 0, 0, &s);
    if (rc) return rc;
    if ((rc = sdk_run(sdk, s, in, 3 * 64 * 64))) {
        sdk_session_put(sdk, s);
        return rc;
    }
    float x[21];
    int k = 0;
    for (int o = 0; o < 9; o++) {
        const float *y;
        facet_nn_shape ys;
        facet_nn_session_output(s, o, &y, &ys);
        int64_t n = facet_nn_shape_count(&ys), want = o >= 3 && o < 6 ? 1 : 3;
        if (n != want) {
            sdk_session_put(sdk, s);
            return sdk_fail(sdk, FACET_E_MODEL, "SSR-Net output %d has %lld values, expected %lld", o, (long long)n,
                            (long long)want);
        }
        for (int64_t i = 0; i < n; i++) x[k++] = y[i];
    }
    sdk_session_put(sdk, s);
    double d1 = 3 * (1 + x[9]), d2 = d1 * 3 * (1 + x[10]), d3 = d2 * 3 * (1 + x[11]);
    double a = 0, b = 0, c = 0;
    for (int i = 0; i < 3; i++) {
        a += (i + x[12 + i]) * x[i];
        b += (i + x[15 + i]) * x[3 + i];
        c += (i + x[18 + i]) * x[6 + i];
    }
    *out = (float)((a / d1 + b / d2 + c / d3) * scale);
    return 0;
}

facet_status facet_face_attributes(facet_sdk *sdk, const facet_image *img, const facet_face *face, facet_attributes *out)
{
    int rc = sdk_check_face(sdk, img, face);
    if (rc) return rc;
    if (!out) return sdk_fail(sdk, FACET_E_INVALID_ARG, "out is NULL");
    memset(out, 0, sizeof *out);
    facet_image *rgb = NULL, *crop = NULL;
    if (img->channels == 1) {
        if ((rc = facet_image_to_rgb(img, &rgb))) return sdk_fail(sdk, rc, "%s", facet_last_error());
        img = rgb;
    }
    float *in = facet_malloc(sizeof(float) * 3 * 224 * 224);
    if (!in) {
        facet_image_destroy(rgb);
        return sdk_fail(sdk, FACET_E_NO_MEMORY, "no memory");
    }
    rc = sdk_crop_grown(sdk, img, face, 1.4f, 64, 64, &crop); /* age and gender: 1.4x the box */
    if (!rc) rc = facet_image_to_tensor(crop, in, imagenet_mean, imagenet_scale, 1); /* BGR, measured */
    facet_image_destroy(crop);
    crop = NULL;
    float age = 0, male = 0;
    if (!rc) rc = ssr_net(sdk, 6, in, 101.0f, &age);
    if (!rc) rc = ssr_net(sdk, 7, in, 1.0f, &male);
    if (!rc) {
        /* a stage's scale 3 (1 + delta) nears 0 when delta (a tanh) nears -1, so odd crops can
         * give any number: keep the estimate within the model's 0..101 year range */
        out->age = isfinite(age) ? fminf(fmaxf(age, 0), 101.0f) : 0;
        male = isfinite(male) ? fminf(fmaxf(male, 0), 1) : 0.5f;
        out->gender = male >= 0.5f ? FACET_GENDER_MALE : FACET_GENDER_FEMALE;
        out->gender_score = male >= 0.5f ? male : 1 - male;
    }
    /* expression: 1.2x the box from its top-left corner */
    if (!rc) rc = sdk_crop_resize(sdk, img, face->x, face->y, face->w * 1.2f, face->h * 1.2f, 224, 224, &crop);
    static const float zero[3] = {0, 0, 0}, inv255[3] = {1 / 255.0f, 1 / 255.0f, 1 / 255.0f};
    if (!rc) rc = facet_image_to_tensor(crop, in, zero, inv255, 0);
    facet_image_destroy(crop);
    facet_nn_session *s = NULL;
    if (!rc) rc = sdk_session_get(sdk, 8, NULL, NULL, 0, 0, &s);
    if (!rc && !(rc = sdk_run(sdk, s, in, 3 * 224 * 224))) {
        const float *yv;
        facet_nn_shape ys;
        facet_nn_session_output(s, 0, &yv, &ys);
        if (facet_nn_shape_count(&ys) != FACET_EXPR_COUNT) {
            rc = sdk_fail(sdk, FACET_E_MODEL, "expression model gives %lld values, expected %d",
                          (long long)facet_nn_shape_count(&ys), FACET_EXPR_COUNT);
        } else {
            sdk_softmax(yv, FACET_EXPR_COUNT, out->expression_scores);
            int best = 0;
            for (int i = 1; i < FACET_EXPR_COUNT; i++)
                if (out->expression_scores[i] > out->expression_scores[best]) best = i;
            out->expression = (facet_expression)best;
        }
    }
    if (s) sdk_session_put(sdk, s);
    free(in);
    facet_image_destroy(rgb);
    return rc;
}
