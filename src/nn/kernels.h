/*
 * kernels.h - our own convolution and vector kernels, one table per instruction set
 * (private to src/nn).
 *
 * XNNPACK is one provider of kernels. For the shapes where it leaves speed on the table (first
 * layers read from an NCHW image, depthwise 3x3, the global depthwise, pointwise 1x1 on whole
 * maps and inside row-by-row chains, full KxK convolutions, Winograd F(2x2, 3x3) for 3x3 ones,
 * a BatchNormalization read from a Concat's inputs, Exp/Tanh/two-class Softmax)
 * we have kernels of our own, written once per instruction set: a portable C table (ops/kernels_c.c: the reference every other table is
 * tested against, and what runs those steps when nothing faster exists), AVX2 + FMA
 * (x86/conv_avx2.c) and AVX-512 (x86/conv_avx512.c). Each table fills the same slots; the
 * planner takes one table per session (nn_kernels_pick: the best one the CPU runs, as
 * facet_cpu_flags() and FACET_CPU_MASK allow, or the one FACET_NN_KERNELS names) and then
 * decides per step whether a slot of it or XNNPACK runs that step (conv.c, rows.c).
 * tests/test_kernels.c runs every table the machine supports against the C one on random
 * shapes, in the manner of dav1d's checkasm, and times them (--bench).
 */
#ifndef FACET_SRC_NN_KERNELS_H
#define FACET_SRC_NN_KERNELS_H

#include "nn/nn.h"

/* The largest kernel a full convolution slot (conv_row) takes. */
#define NN_K_MAXK 7

/* The activation a kernel applies to its output. */
enum { NN_K_ACT_NONE, NN_K_ACT_RELU, NN_K_ACT_SLOPE, NN_K_ACT_TANH };

/* One convolution as the kernels see it: input [C][H][W] (first layer, NCHW) or [H][W][C]
 * (NHWC), output NHWC [OH][OW][M]; w packed as [Cg][kh][kw][Mp] ([kh][kw][C][Mp] for a full
 * convolution, NN_K_CONV) and b as [Mp], zero beyond M. */
typedef struct nn_conv {
    const float *x, *w, *b;
    float *y;
    const float *zero;  /* depthwise: a row of W * C zeros (+16), read for padding rows */
    const float *slope; /* the activation's negative-side slope per output channel [Mp]: 1 none,
                         * 0 Relu, else a fused PRelu's */
    int C, H, W, M, OH, OW, kh, kw, sh, sw, pt, pl;
    int dil_h, dil_w;   /* dilation: full convolutions only (1 for every other kind) */
    int Mp;             /* packed output-channel stride: M rounded up to 16 */
    int kind;           /* NN_K_FIRST, _DW, _GD, _PW, _CONV, _WINO (w: U [16][C][Mp]) */
    int ymm_tail;       /* AVX-512 first layer with 17-24 outputs: channels 16.. in a ymm (VL) */
    int ak;             /* the activation: NN_K_ACT_* */
} nn_conv;

/* The slots of a table. A slot may be NULL (that step then goes to XNNPACK or the reference).
 * Shapes each slot accepts are those of the nn_conv_*_ok predicates in conv.c. */
typedef struct nn_kernels {
    const char *isa;      /* "c", "avx2", "avx512": also the steps' kernel name in profiles */
    const char *rows_name; /* kernel name of a row-by-row chain step */
    unsigned needs;       /* FACET_CPU_* flags the table needs */
    int pw_maps;          /* 1: pw_pixels also runs whole-map 1x1 steps (it beats XNNPACK's GEMM
                           * for this ISA); 0: those stay with XNNPACK, pw_pixels only in chains */
    int wino;             /* 1: 3x3 stride-1 convolutions as Winograd F(2x2, 3x3) (conv.c) */
    int conv_min_m, conv_min_ow; /* conv_row takes full convolutions with at least this many
                                  * output channels and output columns; XNNPACK keeps the rest */
    /* output row oy of a first-layer convolution (reads j->x: NCHW) into yrow (NHWC) */
    void (*first_row)(const nn_conv *j, int oy, float *yrow);
    /* one output row of a depthwise 3x3 from its three input rows (NULL: a padding row) */
    void (*dw_row)(const nn_conv *j, const float *const rows[3], float *yrow);
    /* one output row of a full (group 1) KxK convolution, NHWC in and out, from its kh input
     * rows (NULL: a padding row); weights packed [kh][kw][C][Mp] */
    void (*conv_row)(const nn_conv *j, const float *const *rows, float *yrow);
    /* a pointwise 1x1 convolution of n consecutive NHWC pixels from x into y */
    void (*pw_pixels)(const nn_conv *j, const float *x, float *y, int n);
    /* Winograd F(2x2, 3x3) (ops/wino.h): the input transform of nt tiles (2x2 output blocks,
     * numbered row by row) from tile t0 on, read from j->x, into V [16][nt][C] (matrices es
     * floats apart), and the output transform of M [16][nt][M] with bias and activation into
     * j->y; the 16 GEMMs between them are pw_pixels' */
    void (*wino_in)(const nn_conv *j, int t0, int nt, float *V, size_t es);
    void (*wino_out)(const nn_conv *j, const float *Mm, size_t es, int t0, int nt);
    /* a global depthwise convolution (kernel = the whole map) of j->x into j->y */
    void (*gd)(const nn_conv *j);
    /* y[p][c] = x[p][c] * a[c] + b[c], then max(0, .) when relu, for n pixels of C channels
     * whose pixel strides are xs and ys: a BatchNormalization in NHWC, or the slice of one
     * input of a Concat that the BatchNormalization after it reads (backend.c) */
    void (*affine)(const float *x, int64_t xs, const float *a, const float *b, int relu, float *y, int64_t ys,
                   int C, int64_t n);
    /* y = Exp(x), Tanh(x), or two-class Softmax over consecutive pairs (n even), n floats */
    void (*lanes)(int op, const float *x, float *y, int64_t n);
} nn_kernels;

extern const nn_kernels nn_kernels_c;
#if defined(__x86_64__) && defined(__GNUC__)
#define NN_HAVE_X86_KERNELS 1
extern const nn_kernels nn_kernels_avx2, nn_kernels_avx512;
#endif

/* Every table in this build, the C one first, then by increasing width; sets *n. */
const nn_kernels *const *nn_kernels_list(int *n);
/* The table a session uses: the one FACET_NN_KERNELS names (c, avx2, avx512, none; an error
 * when this CPU or build lacks it, or for any other value), else the widest the CPU runs, never
 * C (XNNPACK beats plain C on every shape here). *out is NULL for "none" or when no SIMD table
 * fits. */
int nn_kernels_pick(const nn_kernels **out, facet_err *err);

/* Whether a step runs as Winograd F(2x2, 3x3) on the session's table (conv.c). */
int nn_conv_wino_ok(const nn_session *s, const nn_step *st);

/* Fills a kernel job for a planned step (shapes, packed weights, zero row); kind: NN_K_*. */
int nn_conv_job(nn_session *s, const nn_step *st, int kind, nn_conv *j);

/* The job of a step made by nn_conv_make, or NULL for any other step. */
const nn_conv *nn_conv_of(const nn_step *st);

/* The rows of the NHWC map x that output row oy of a depthwise or full convolution reads:
 * j->kh of them, j->dil_h apart; NULL where a row falls in the padding. */
static inline void nn_conv_tap_rows(const nn_conv *j, const float *x, int oy, const float **rows)
{
    for (int ky = 0; ky < j->kh; ky++) {
        const int iy = oy * j->sh - j->pt + ky * j->dil_h;
        rows[ky] = iy < 0 || iy >= j->H ? NULL : x + (size_t)iy * j->W * j->C;
    }
}

/* Whether an AVX-512 first layer keeps its channels 16.. in a ymm: 17-24 outputs, and the CPU
 * has AVX-512VL (every other table ignores the flag). */
static inline int nn_conv_ymm_tail(int kind, int M)
{
    return kind == NN_K_FIRST && M > 16 && M <= 24 && (facet_cpu_flags() & FACET_CPU_AVX512VL);
}

#endif
