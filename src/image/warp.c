/*
 * warp.c - the 2x3 affine warp that cuts aligned face chips (typically 112x112 from a
 * similarity transform fitted to five landmarks), and the matrix inverse that turns a
 * forward face-to-template transform into the output-to-source map the warp wants.
 *
 * For each output pixel the source position is stepped incrementally along the row. A
 * position whose 2x2 neighbourhood lies inside the source takes the fast path; near the
 * edges each neighbour outside takes the border value, as OpenCV's BORDER_CONSTANT does, so
 * chips at the image edge fade into the border instead of smearing. Positions are tested as
 * floats before any conversion to int, so NaN or huge matrices only produce border pixels.
 */
#include <math.h>

#include "imagepriv.h"

facet_status facet_affine_invert(const float m[6], float inv[6])
{
    if (!m || !inv) return facet_seterr(NULL, FACET_E_INVALID_ARG, "matrix is NULL");
    double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5];
    double det = a * e - b * d;
    if (!isfinite(det) || fabs(det) < 1e-12)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "affine matrix is singular");
    double ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
    inv[0] = (float)ia;
    inv[1] = (float)ib;
    inv[2] = (float)(-(ia * c + ib * f));
    inv[3] = (float)id;
    inv[4] = (float)ie;
    inv[5] = (float)(-(id * c + ie * f));
    return FACET_OK;
}

facet_status facet_image_warp_affine(const facet_image *src, const float m[6], int out_width,
                                     int out_height, const uint8_t border[3], facet_image **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    int r = facet_image_check(src, "src");
    if (r) return r;
    if (!m) return facet_seterr(NULL, FACET_E_INVALID_ARG, "matrix is NULL");
    facet_image *o;
    if ((r = facet_image_new(out_width, out_height, src->channels, &o))) return r;

    const int c = src->channels, w = src->width, h = src->height;
    const size_t st = (size_t)src->stride;
    float bv[3] = {0, 0, 0};
    for (int k = 0; k < c; k++) bv[k] = border ? border[k] : 0;
    const float fw = (float)w, fh = (float)h;
    for (int y = 0; y < out_height; y++) {
        /* Double for the row origin so long rows do not accumulate float error. */
        double sx = (double)m[1] * y + m[2], sy = (double)m[4] * y + m[5];
        uint8_t *d = o->data + (size_t)y * (size_t)o->stride;
        for (int x = 0; x < out_width; x++, d += c) {
            float fx = (float)(sx + (double)m[0] * x), fy = (float)(sy + (double)m[3] * x);
            if (!(fx > -1.0f && fx < fw && fy > -1.0f && fy < fh)) {
                for (int k = 0; k < c; k++) d[k] = (uint8_t)bv[k];
                continue;
            }
            float flx = floorf(fx), fly = floorf(fy);
            int x0 = (int)flx, y0 = (int)fly; /* in [-1, w-1] x [-1, h-1] */
            float ax = fx - flx, ay = fy - fly;
            float w00 = (1 - ax) * (1 - ay), w01 = ax * (1 - ay), w10 = (1 - ax) * ay, w11 = ax * ay;
            if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {
                const uint8_t *p = src->data + (size_t)y0 * st + (size_t)x0 * (size_t)c;
                for (int k = 0; k < c; k++) {
                    float v = w00 * p[k] + w01 * p[k + c] + w10 * p[k + st] + w11 * p[k + st + c];
                    d[k] = (uint8_t)(v + 0.5f > 255.0f ? 255 : (int)(v + 0.5f));
                }
            } else {
                int in_x0 = x0 >= 0, in_x1 = x0 + 1 < w, in_y0 = y0 >= 0, in_y1 = y0 + 1 < h;
                for (int k = 0; k < c; k++) {
                    float p00 = bv[k], p01 = bv[k], p10 = bv[k], p11 = bv[k];
                    if (in_y0) {
                        const uint8_t *p = src->data + (size_t)y0 * st;
                        if (in_x0) p00 = p[(size_t)x0 * (size_t)c + (size_t)k];
                        if (in_x1) p01 = p[(size_t)(x0 + 1) * (size_t)c + (size_t)k];
                    }
                    if (in_y1) {
                        const uint8_t *p = src->data + (size_t)(y0 + 1) * st;
                        if (in_x0) p10 = p[(size_t)x0 * (size_t)c + (size_t)k];
                        if (in_x1) p11 = p[(size_t)(x0 + 1) * (size_t)c + (size_t)k];
                    }
                    float v = w00 * p00 + w01 * p01 + w10 * p10 + w11 * p11;
                    d[k] = (uint8_t)(v + 0.5f > 255.0f ? 255 : (int)(v + 0.5f));
                }
            }
        }
    }
    *out = o;
    return FACET_OK;
}
