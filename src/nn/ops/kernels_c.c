/*
 * kernels_c.c - the "c" kernel table (kernels.h) in portable C: every slot written the obvious
 * way, one output value at a time, straight from the definition of the operation and the
 * packed layouts of nn_conv. It is the reference tests/test_kernels.c holds the AVX2 and AVX-512
 * tables to, and FACET_NN_KERNELS=c makes the planner use it, so that the planning around our
 * kernels (jobs, fused activations, row-by-row chains) is tested on every CPU, arm64 included.
 * It is never picked for speed: XNNPACK beats it.
 */
#include <stddef.h>

#include "nn/kernels.h"
#include "nn/nn.h"
#include "nn/ops/fastmath.h"
#include "nn/ops/wino.h"

static float act(const nn_conv *j, int m, float v)
{
    switch (j->ak) {
    case NN_K_ACT_RELU: return v > 0 ? v : 0.0f;
    case NN_K_ACT_SLOPE: return v < 0 ? v * j->slope[m] : v;
    case NN_K_ACT_TANH: return fast_tanh(v);
    default: return v;
    }
}

/* x NCHW [C][H][W], w [C][kh][kw][Mp]: taps outside the image are the zero padding. */
static void first_row(const nn_conv *j, int oy, float *y)
{
    for (int ox = 0; ox < j->OW; ox++)
        for (int m = 0; m < j->M; m++) {
            float acc = j->b[m];
            for (int c = 0; c < j->C; c++)
                for (int ky = 0; ky < j->kh; ky++) {
                    const int iy = oy * j->sh - j->pt + ky;
                    if (iy < 0 || iy >= j->H) continue;
                    for (int kx = 0; kx < j->kw; kx++) {
                        const int ix = ox * j->sw - j->pl + kx;
                        if (ix < 0 || ix >= j->W) continue;
                        acc += j->x[((size_t)c * j->H + (size_t)iy) * j->W + ix] *
                               j->w[((size_t)(c * j->kh + ky) * j->kw + kx) * j->Mp + m];
                    }
                }
            y[(size_t)ox * j->M + m] = act(j, m, acc);
        }
}

/* rows[ky]: input row NHWC [W][C] or NULL (padding); w [3][3][Mp]. */
static void dw_row(const nn_conv *j, const float *const rows[3], float *y)
{
    for (int ox = 0; ox < j->OW; ox++)
        for (int c = 0; c < j->C; c++) {
            float acc = j->b[c];
            for (int ky = 0; ky < 3; ky++) {
                if (!rows[ky]) continue;
                for (int kx = 0; kx < 3; kx++) {
                    const int ix = ox * j->sw - j->pl + kx;
                    if (ix < 0 || ix >= j->W) continue;
                    acc += rows[ky][(size_t)ix * j->C + c] * j->w[(ky * 3 + kx) * j->Mp + c];
                }
            }
            y[(size_t)ox * j->C + c] = act(j, c, acc);
        }
}

/* rows[ky]: input row NHWC [W][C] of tap row ky (row oy * sh - pt + ky * dil_h) or NULL
 * (padding); w [kh][kw][C][Mp]. */
static void conv_row(const nn_conv *j, const float *const *rows, float *y)
{
    for (int ox = 0; ox < j->OW; ox++)
        for (int m = 0; m < j->M; m++) {
            float acc = j->b[m];
            for (int ky = 0; ky < j->kh; ky++) {
                if (!rows[ky]) continue;
                for (int kx = 0; kx < j->kw; kx++) {
                    const int ix = ox * j->sw - j->pl + kx * j->dil_w;
                    if (ix < 0 || ix >= j->W) continue;
                    for (int c = 0; c < j->C; c++)
                        acc += rows[ky][(size_t)ix * j->C + c] * j->w[((size_t)(ky * j->kw + kx) * j->C + c) * j->Mp + m];
                }
            }
            y[(size_t)ox * j->M + m] = act(j, m, acc);
        }
}

/* x [n][C], w [C][Mp], y [n][M]. */
static void pw_pixels(const nn_conv *j, const float *x, float *y, int n)
{
    for (int p = 0; p < n; p++)
        for (int m = 0; m < j->M; m++) {
            float acc = j->b[m];
            for (int c = 0; c < j->C; c++) acc += x[(size_t)p * j->C + c] * j->w[(size_t)c * j->Mp + m];
            y[(size_t)p * j->M + m] = act(j, m, acc);
        }
}

/* x [H*W][C], w [H*W][Mp], y [C]. */
static void gd(const nn_conv *j)
{
    const int P = j->H * j->W;
    for (int c = 0; c < j->C; c++) {
        float acc = j->b[c];
        for (int p = 0; p < P; p++) acc += j->x[(size_t)p * j->C + c] * j->w[(size_t)p * j->Mp + c];
        j->y[c] = act(j, c, acc);
    }
}

static void affine(const float *x, int64_t xs, const float *a, const float *b, int relu, float *y, int64_t ys, int C,
                   int64_t n)
{
    for (int64_t p = 0; p < n; p++)
        for (int c = 0; c < C; c++) {
            const float v = x[p * xs + c] * a[c] + b[c];
            y[p * ys + c] = relu && v < 0 ? 0.0f : v; /* NaN stays NaN, as in ONNX's Relu */
        }
}

static void lanes(int op, const float *x, float *y, int64_t n)
{
    if (op == NN_OP_EXP) {
        for (int64_t i = 0; i < n; i++) y[i] = fast_exp(x[i]);
    } else if (op == NN_OP_TANH) {
        for (int64_t i = 0; i < n; i++) y[i] = fast_tanh(x[i]);
    } else { /* two-class Softmax over pairs: 1 / (1 + e^(other - this)) */
        for (int64_t i = 0; i + 1 < n; i += 2) {
            const float a = x[i], b = x[i + 1];
            y[i] = 1.0f / (1.0f + fast_exp(b - a));
            y[i + 1] = 1.0f / (1.0f + fast_exp(a - b));
        }
    }
}

const nn_kernels nn_kernels_c = {
    .isa = "c",
    .rows_name = "c-rows",
    .needs = 0,
    .pw_maps = 0,
    .first_row = first_row,
    .dw_row = dw_row,
    .conv_row = conv_row,
    .conv_min_m = 4,
    .conv_min_ow = 1,
    .pw_pixels = pw_pixels,
    .gd = gd,
    .wino_in = wino_in,
    .wino_out = wino_out,
    .affine = affine,
    .lanes = lanes,
};
