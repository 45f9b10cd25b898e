/*
 * wino.h - the input and output transforms of Winograd's F(2x2, 3x3) convolution (Lavin and
 * Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), the two kernel slots
 * wino_in and wino_out of kernels.h. Written once, in plain C whose inner loops run over the
 * channels of an NHWC pixel, and included by every kernel table's source under that table's
 * target (kernels_c.c: none; x86/conv_avx2.c: AVX2 + FMA; x86/conv_avx512.c: AVX-512), where
 * the compiler vectorises those loops at the table's width.
 *
 * A 2x2 block of outputs ("tile") reads a 4x4 patch d of the input; per input channel,
 * V = B^T d B (16 values, additions only) and per output channel Y = A^T M A, where M[e] is the
 * sum over input channels of V[e] * U[e] and U = G g G^T the transformed 3x3 kernel (packed at
 * plan time, conv.c). The 16 products are 16 GEMMs of (tiles x C) by (C x M), done by the
 * table's pw_pixels: 4 multiplications per output and input channel instead of 9.
 *
 *   B^T = | 1  0 -1  0 |   G = | 1    0    0  |   A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |       | 1/2  1/2  1/2|         | 0  1 -1 -1 |
 *         | 0 -1  1  0 |       | 1/2 -1/2  1/2|
 *         | 0  1  0 -1 |       | 0    0    1  |
 */
#ifndef FACET_SRC_NN_OPS_WINO_H
#define FACET_SRC_NN_OPS_WINO_H

#include <stddef.h>

#include "nn/kernels.h"

/* V[e][t][c] (e = 4 * row + column of the transformed patch, matrices es floats apart) for the
 * nt tiles from tile t0 on, tiles numbered row by row ((OW + 1) / 2 to a row), read from j->x;
 * taps in the padding read j->zero. */
static void wino_in(const nn_conv *j, int t0, int nt, float *V, size_t es)
{
    const int C = j->C, W = j->W, H = j->H, TW = (j->OW + 1) / 2;
    for (int t = 0; t < nt; t++) {
        const int ty = (t0 + t) / TW, tx = (t0 + t) % TW, iy0 = 2 * ty - j->pt, ix0 = 2 * tx - j->pl;
        const float *d[16];
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < 4; k++) {
                const int iy = iy0 + i, ix = ix0 + k;
                d[4 * i + k] = iy >= 0 && iy < H && ix >= 0 && ix < W ? j->x + ((size_t)iy * W + (size_t)ix) * C : j->zero;
            }
        /* one restrict pointer per stream, so that the compiler vectorises the channel loop */
        const float *restrict d0 = d[0], *restrict d1 = d[1], *restrict d2 = d[2], *restrict d3 = d[3];
        const float *restrict d4 = d[4], *restrict d5 = d[5], *restrict d6 = d[6], *restrict d7 = d[7];
        const float *restrict d8 = d[8], *restrict d9 = d[9], *restrict d10 = d[10], *restrict d11 = d[11];
        const float *restrict d12 = d[12], *restrict d13 = d[13], *restrict d14 = d[14], *restrict d15 = d[15];
        float *v = V + (size_t)t * C;
        float *restrict v0 = v, *restrict v1 = v + es, *restrict v2 = v + 2 * es, *restrict v3 = v + 3 * es;
        float *restrict v4 = v + 4 * es, *restrict v5 = v + 5 * es, *restrict v6 = v + 6 * es, *restrict v7 = v + 7 * es;
        float *restrict v8 = v + 8 * es, *restrict v9 = v + 9 * es, *restrict v10 = v + 10 * es, *restrict v11 = v + 11 * es;
        float *restrict v12 = v + 12 * es, *restrict v13 = v + 13 * es, *restrict v14 = v + 14 * es, *restrict v15 = v + 15 * es;
        /* the streams never overlap (V is scratch): no run-time alias checks (16 x 16 of them) */
#pragma GCC ivdep
        for (int c = 0; c < C; c++) {
            /* B^T d: combine rows, per column k */
            const float r00 = d0[c] - d8[c], r01 = d1[c] - d9[c], r02 = d2[c] - d10[c], r03 = d3[c] - d11[c];
            const float r10 = d4[c] + d8[c], r11 = d5[c] + d9[c], r12 = d6[c] + d10[c], r13 = d7[c] + d11[c];
            const float r20 = d8[c] - d4[c], r21 = d9[c] - d5[c], r22 = d10[c] - d6[c], r23 = d11[c] - d7[c];
            const float r30 = d4[c] - d12[c], r31 = d5[c] - d13[c], r32 = d6[c] - d14[c], r33 = d7[c] - d15[c];
            /* (B^T d) B: combine columns */
            v0[c] = r00 - r02, v1[c] = r01 + r02, v2[c] = r02 - r01, v3[c] = r01 - r03;
            v4[c] = r10 - r12, v5[c] = r11 + r12, v6[c] = r12 - r11, v7[c] = r11 - r13;
            v8[c] = r20 - r22, v9[c] = r21 + r22, v10[c] = r22 - r21, v11[c] = r21 - r23;
            v12[c] = r30 - r32, v13[c] = r31 + r32, v14[c] = r32 - r31, v15[c] = r31 - r33;
        }
    }
}

/* The 2x2 outputs of the nt tiles from tile t0 on, from M[e][t][m] (matrices es floats apart),
 * with the bias and the activation (none, Relu or a per-channel slope), into j->y; a tile's
 * second row or column past the map's edge (odd heights and widths) is left out. */
static void wino_out(const nn_conv *j, const float *Mm, size_t es, int t0, int nt)
{
    const int M = j->M, OW = j->OW, OH = j->OH, TW = (OW + 1) / 2, act = j->ak != NN_K_ACT_NONE;
    const float *restrict bias = j->b, *restrict slope = j->slope;
    for (int t = 0; t < nt; t++) {
        const int ty = (t0 + t) / TW, tx = (t0 + t) % TW, oy = 2 * ty, ox = 2 * tx;
        const int right = ox + 1 < OW, below = oy + 1 < OH;
        const float *restrict m = Mm + (size_t)t * M;
        /* past the edge, the second row or column goes to a scratch row instead (never read) */
        float *restrict o00 = j->y + ((size_t)oy * OW + (size_t)ox) * M;
        float *restrict o01 = right ? o00 + M : NULL, *restrict o10 = below ? o00 + (size_t)OW * M : NULL;
        float *restrict o11 = right && below ? o00 + (size_t)OW * M + M : NULL;
#pragma GCC ivdep
        for (int o = 0; o < M; o++) {
            /* A^T M: combine rows, per column k */
            const float s00 = m[0 * es + o] + m[4 * es + o] + m[8 * es + o];
            const float s01 = m[1 * es + o] + m[5 * es + o] + m[9 * es + o];
            const float s02 = m[2 * es + o] + m[6 * es + o] + m[10 * es + o];
            const float s03 = m[3 * es + o] + m[7 * es + o] + m[11 * es + o];
            const float s10 = m[4 * es + o] - m[8 * es + o] - m[12 * es + o];
            const float s11 = m[5 * es + o] - m[9 * es + o] - m[13 * es + o];
            const float s12 = m[6 * es + o] - m[10 * es + o] - m[14 * es + o];
            const float s13 = m[7 * es + o] - m[11 * es + o] - m[15 * es + o];
            /* (A^T M) A: combine columns; Relu's slopes are 0 */
            float y00 = s00 + s01 + s02 + bias[o], y01 = s01 - s02 - s03 + bias[o];
            float y10 = s10 + s11 + s12 + bias[o], y11 = s11 - s12 - s13 + bias[o];
            if (act) {
                y00 = y00 < 0 ? y00 * slope[o] : y00;
                y01 = y01 < 0 ? y01 * slope[o] : y01;
                y10 = y10 < 0 ? y10 * slope[o] : y10;
                y11 = y11 < 0 ? y11 * slope[o] : y11;
            }
            o00[o] = y00;
            if (o01) o01[o] = y01;
            if (o10) o10[o] = y10;
            if (o11) o11[o] = y11;
        }
    }
}

#endif
