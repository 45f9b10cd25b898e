/*
 * x86.h - what the own AVX-512 kernels share between their files (private to src/nn).
 *
 * conv_avx512.c has the convolution kernels, each of which can make one output row from input
 * rows anywhere in memory; rows_avx512.c strings them into chains that run row by row.
 */
#ifndef FACET_SRC_NN_X86_H
#define FACET_SRC_NN_X86_H

#include "nn/nn.h"

/* The activation a kernel applies to its output. */
enum { NN_X86_ACT_NONE, NN_X86_ACT_RELU, NN_X86_ACT_SLOPE, NN_X86_ACT_TANH };

/* One convolution as the kernels see it: input [C][H][W] (first layer, NCHW) or [H][W][C]
 * (NHWC), output NHWC [OH][OW][M]; w packed as [Cg][kh][kw][Mp] and b as [Mp], zero beyond M. */
typedef struct nn_x86_conv {
    const float *x, *w, *b;
    float *y;
    const float *zero; /* depthwise: a row of W * C zeros, read for padding rows */
    const float *slope; /* first layer, depthwise, global: the activation's negative-side slope
                         * per output channel [Mp]: 1 none, 0 Relu, else a fused PRelu's */
    int C, H, W, M, OH, OW, kh, kw, sh, sw, pt, pl;
    int Mp;            /* packed output-channel stride: M rounded up to 16 */
    int kind;          /* NN_X86_* */
    int ymm_tail;      /* first layer with 17-24 outputs: channels 16.. in a ymm (AVX-512VL) */
    int ak;            /* the activation: NN_X86_ACT_NONE, _RELU, _SLOPE (per-channel slopes), _TANH */
} nn_x86_conv;

/* Output row `oy` of a first-layer convolution (reads j->x) into yrow. */
void nn_x86_first_row(const nn_x86_conv *j, int oy, float *yrow);
/* One output row of a depthwise 3x3 from its three input rows (NULL: a padding row). */
void nn_x86_dw_row(const nn_x86_conv *j, const float *const rows[3], float *yrow);
/* A pointwise 1x1 convolution of n consecutive pixels (NHWC) from x into y. */
void nn_x86_pw_pixels(const nn_x86_conv *j, const float *x, float *y, int n);
/* Fills a kernel job for a planned step (shapes, packed weights, zero row); kind: NN_X86_*. */
int nn_x86_conv_job(nn_session *s, const nn_step *st, int kind, nn_x86_conv *j);

#endif
