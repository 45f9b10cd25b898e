/*
 * landmark.c - 68 facial landmarks from fr_landmark (64x64 grey crop of the face box, pixel
 * values / 256, output: 68 (x, y) pairs relative to the crop), as its authors run it: the box
 * is cropped as is (no margin) and resized to 64x64. The five key points used for alignment
 * are derived from the 68 (sdk_kps_from_68).
 */
#include <math.h>
#include <stdlib.h>

#include "sdk.h"

facet_status facet_face_landmarks(facet_sdk *sdk, const facet_image *img, facet_face *face)
{
    if (!sdk) return facet_seterr(NULL, FACET_E_INVALID_ARG, "sdk is NULL");
    if (!img || !img->data || !face) return sdk_fail(sdk, FACET_E_INVALID_ARG, "img or face is NULL");
    if (!(face->w >= 1 && face->h >= 1) || !isfinite(face->x) || !isfinite(face->y) || face->w > 1e6f ||
        face->h > 1e6f)
        return sdk_fail(sdk, FACET_E_INVALID_ARG, "face box is empty or not finite");
    if (face->x >= (float)img->width || face->y >= (float)img->height || face->x + face->w <= 0 ||
        face->y + face->h <= 0)
        return sdk_fail(sdk, FACET_E_INVALID_ARG, "face box lies outside the image");
    /* the box, moved inside the image where it sticks out (as the model's authors do) */
    float w = fminf(face->w, (float)img->width - 1), h = fminf(face->h, (float)img->height - 1);
    float x = fminf(fmaxf(face->x, 0), (float)img->width - 1 - w);
    float y = fminf(fmaxf(face->y, 0), (float)img->height - 1 - h);
    int ix = (int)x, iy = (int)y, iw = (int)w, ih = (int)h;
    if (iw < 1 || ih < 1) return sdk_fail(sdk, FACET_E_INVALID_ARG, "face box is smaller than a pixel");
    facet_image *crop = NULL, *small = NULL, *grey = NULL;
    int rc = facet_image_crop(img, ix, iy, iw, ih, &crop);
    if (!rc) rc = facet_image_resize(crop, 64, 64, &small);
    if (!rc) rc = small->channels == 1 ? facet_image_clone(small, &grey) : facet_image_to_grey(small, &grey);
    facet_image_destroy(crop);
    facet_image_destroy(small);
    if (rc) return sdk_fail(sdk, rc, "landmark crop: %s", facet_last_error());
    float in[64 * 64];
    static const float mean[3] = {0, 0, 0}, sc[3] = {1 / 256.0f, 1 / 256.0f, 1 / 256.0f};
    rc = facet_image_to_tensor(grey, in, mean, sc, 0);
    facet_image_destroy(grey);
    if (rc) return sdk_fail(sdk, rc, "landmark input: %s", facet_last_error());
    facet_nn_session *s;
    if ((rc = sdk_session_get(sdk, 1, NULL, NULL, 0, 0, &s))) return rc;
    if ((rc = sdk_run(sdk, s, in, 64 * 64))) {
        sdk_session_put(sdk, s);
        return rc;
    }
    const float *out;
    facet_nn_shape os;
    facet_nn_session_output(s, 0, &out, &os);
    if (facet_nn_shape_count(&os) != 136) {
        sdk_session_put(sdk, s);
        return sdk_fail(sdk, FACET_E_MODEL, "landmark model gives %lld values, expected 136",
                        (long long)facet_nn_shape_count(&os));
    }
    for (int i = 0; i < 68; i++) {
        face->landmarks[i].x = out[2 * i] * (float)iw + (float)ix;
        face->landmarks[i].y = out[2 * i + 1] * (float)ih + (float)iy;
    }
    sdk_session_put(sdk, s);
    face->has_landmarks = 1;
    sdk_kps_from_68(face);
    return 0;
}
