/*
 * align.c - the 112x112 face chip: a similarity transform (scale, rotation, translation)
 * fitted by least squares to map the five key points onto the standard ArcFace template,
 * then an affine warp with bilinear sampling. Least squares over all five points (rather than
 * an exact fit of three, as the model's authors did) spreads landmark noise over the points.
 */
#include <math.h>

#include "sdk.h"

/* ArcFace's 112x112 template: eyes, nose tip, mouth corners. */
static const float ref_pts[5][2] = {
    {38.2946f, 51.6963f}, {73.5318f, 51.5014f}, {56.0252f, 71.7366f}, {41.5493f, 92.3655f}, {70.7299f, 92.2041f},
};

facet_status facet_alignment_matrix(const facet_face *face, float m[6])
{
    if (!face || !m) return facet_seterr(NULL, FACET_E_INVALID_ARG, "face or m is NULL");
    if (!face->has_landmarks) return facet_seterr(NULL, FACET_E_INVALID_ARG, "face has no landmarks");
    /* fit q = [a -b; b a] p + t from image points p to template points q (2-D Umeyama) */
    double pm[2] = {0, 0}, qm[2] = {0, 0};
    for (int i = 0; i < 5; i++) {
        pm[0] += face->kps[i].x / 5.0, pm[1] += face->kps[i].y / 5.0;
        qm[0] += ref_pts[i][0] / 5.0, qm[1] += ref_pts[i][1] / 5.0;
    }
    double num_a = 0, num_b = 0, den = 0;
    for (int i = 0; i < 5; i++) {
        double px = face->kps[i].x - pm[0], py = face->kps[i].y - pm[1];
        double qx = ref_pts[i][0] - qm[0], qy = ref_pts[i][1] - qm[1];
        num_a += px * qx + py * qy;
        num_b += px * qy - py * qx;
        den += px * px + py * py;
    }
    if (!(den > 1e-6) || !isfinite(den)) return facet_seterr(NULL, FACET_E_INVALID_ARG, "key points are degenerate");
    double a = num_a / den, b = num_b / den;
    double tx = qm[0] - (a * pm[0] - b * pm[1]), ty = qm[1] - (b * pm[0] + a * pm[1]);
    /* invert: image = (1 / (a^2 + b^2)) [a b; -b a] (chip - t) */
    double k = a * a + b * b;
    if (!(k > 1e-12)) return facet_seterr(NULL, FACET_E_INVALID_ARG, "key points are degenerate");
    double ia = a / k, ib = b / k;
    m[0] = (float)ia;
    m[1] = (float)ib;
    m[2] = (float)(-(ia * tx + ib * ty));
    m[3] = (float)-ib;
    m[4] = (float)ia;
    m[5] = (float)(ib * tx - ia * ty);
    return 0;
}

facet_status facet_extract_aligned_face(facet_sdk *sdk, const facet_image *img, const facet_face *face, facet_image **chip)
{
    if (chip) *chip = NULL;
    if (!sdk) return facet_seterr(NULL, FACET_E_INVALID_ARG, "sdk is NULL");
    if (!img || !face || !chip) return sdk_fail(sdk, FACET_E_INVALID_ARG, "img, face and chip must not be NULL");
    float m[6];
    int rc = facet_alignment_matrix(face, m);
    if (rc) return sdk_fail(sdk, rc, "%s", facet_last_error());
    static const uint8_t border[3] = {0, 0, 0};
    rc = facet_image_warp_affine(img, m, 112, 112, border, chip);
    if (rc) return sdk_fail(sdk, rc, "alignment warp: %s", facet_last_error());
    return 0;
}
