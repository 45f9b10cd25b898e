/*
 * conv_avx512.c - our own AVX-512 convolutions for the shapes where XNNPACK leaves speed on
 * the table in these models (bench/nn, --profile):
 *
 *  - the first layer: 1-4 input channels (an image), 16-64 output channels. XNNPACK runs it
 *    as a GEMM with K = 27, and needs the image transposed to NHWC first. Here the image is
 *    read in ONNX's NCHW directly and each output pixel keeps its 16-64 channels in 1-4 zmm
 *    registers: one broadcast and 1-4 FMAs per tap.
 *  - depthwise 3x3 with 16 or more channels: 16 channels per zmm, nine FMAs per output,
 *    reading NHWC rows in order; 8 or 6 pixels at once.
 *  - global depthwise (a kernel as large as the map, MobileFaceNet's GDConv), which XNNPACK
 *    ran at under 1 GFLOP/s.
 *  - pointwise 1x1 on a run of pixels: whole maps, the row-by-row chains of rows.c, and the
 *    16 GEMMs of a Winograd F(2x2, 3x3) convolution (conv.c; its transforms: ops/wino.h,
 *    included below with this file's target).
 *  - full KxK convolutions of 17 or more outputs (DenseNet's 128 -> 32 3x3 steps in
 *    fr_expression): 200-240 GFLOP/s against XNNPACK's 170-180.
 *  - a BatchNormalization's per-channel affine, over the slices of a Concat it follows.
 *
 * All write NHWC with the activation fused (none, Relu, or a PRelu that followed the step) and
 * handle channel counts that are not multiples of 16 with masks. They fill the "avx512" table
 * of kernels.h, which the planner takes when the CPU has AVX-512F (FACET_CPU_MASK can turn it
 * off); tests/test_kernels.c compares every slot with the C table on random shapes.
 */
#include <math.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/ops/fastmath.h"
#include "nn/nn.h"

#ifdef NN_HAVE_X86_KERNELS
#include <immintrin.h>

typedef nn_conv conv_job;

/* The fused activation, per channel: v for v >= 0, else v * slope (slope 1: none, 0: Relu,
 * else PRelu's). */
__attribute__((target("avx512f"))) static inline __m512 act(__m512 v, __m512 slope)
{
    return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, slope);
}

/* The lanes of a 16-channel group that hold channels when `left` of them remain. */
static inline __mmask16 lanes(int left)
{
    return left >= 16 ? 0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
}

/* tanh with the 13/6 rational function of ops/ref.c (the one Eigen uses), 16 lanes at once. */
__attribute__((target("avx512f"))) static inline __m512 tanh16(__m512 x)
{
    const __m512 c = _mm512_set1_ps(FAST_TANH_CLAMP);
    const __m512 xc = _mm512_max_ps(_mm512_min_ps(x, c), _mm512_sub_ps(_mm512_setzero_ps(), c));
    const __m512 x2 = _mm512_mul_ps(xc, xc);
    __m512 p = _mm512_set1_ps(fast_tanh_p[0]);
    for (int i = 1; i < 7; i++) p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(fast_tanh_p[i]));
    p = _mm512_mul_ps(p, xc);
    __m512 q = _mm512_set1_ps(fast_tanh_q[0]);
    for (int i = 1; i < 4; i++) q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(fast_tanh_q[i]));
    const __m512 r = _mm512_div_ps(p, q);
    /* tiny |x|: x itself; NaN: NaN (the clamp above would have made it +-1) */
    const __mmask16 keep = _mm512_cmp_ps_mask(_mm512_abs_ps(x), _mm512_set1_ps(0.0004f), _CMP_NGE_UQ);
    return _mm512_mask_blend_ps(keep, r, x);
}

/* exp as in ops/ref.c (2^n times Cephes' polynomial, 2^n applied in two halves), 16 lanes. */
__attribute__((target("avx512f"))) static inline __m512 exp16(__m512 x)
{
    const __m512 xc = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.72283f)), _mm512_set1_ps(-103.97f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(fast_exp_p[0]);
    for (int i = 1; i < 6; i++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(fast_exp_p[i]));
    const __m512 e = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    const __m512i ni = _mm512_cvtps_epi32(n), n1 = _mm512_srai_epi32(ni, 1), n2 = _mm512_sub_epi32(ni, n1);
    const __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, _mm512_set1_epi32(127)), 23));
    const __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, _mm512_set1_epi32(127)), 23));
    __m512 y = _mm512_mul_ps(_mm512_mul_ps(e, s1), s2);
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(88.72284f), _CMP_GT_OQ), y,
                             _mm512_set1_ps(INFINITY));
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-103.97f), _CMP_LT_OQ), y, _mm512_setzero_ps());
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x); /* NaN stays NaN */
}

/* The fused activation of kind ak (NN_K_ACT_*) on n accumulators laid out as [n / mb][mb],
 * where accumulator i takes the slopes sv[i % mb]. Inlined with constant n and mb, and with ak
 * the same for a whole block, so the kind is chosen once per block. */
__attribute__((target("avx512f"))) static inline void activate(__m512 *acc, int n, int mb, int ak, const __m512 *sv)
{
    if (ak == NN_K_ACT_RELU)
        for (int i = 0; i < n; i++) acc[i] = _mm512_max_ps(acc[i], _mm512_setzero_ps());
    else if (ak == NN_K_ACT_SLOPE)
        for (int i = 0; i < n; i++) acc[i] = act(acc[i], sv[i % mb]);
    else if (ak == NN_K_ACT_TANH)
        for (int i = 0; i < n; i++) acc[i] = tanh16(acc[i]);
}

/* The tile that covers a row's pixels from ox on, for the first-layer and full-convolution
 * kernels, among big, mid and small tiles of P[0] > P[1] > P[2] pixels; the tiles end at `end`
 * and may start anywhere in the last `room` pixels before it: big tiles while they fit, then a
 * mid one, then (fewer than a mid tile left) a mid or small one moved back to end at `end`
 * (recomputing a few pixels costs less than latency-bound single ones). Returns 0-2, or 3 (a
 * single pixel) when the room is narrower than a small tile; *at is where the tile starts. */
static inline int row_tile(const int P[3], int ox, int end, int room, int *at)
{
    const int left = end - ox;
    *at = ox;
    if (room < P[2]) return 3;
    int k = left >= P[0] ? 0 : left >= P[1] ? 1 : 2;
    if (k == 2 && left > P[2] && room >= P[1]) k = 1;
    if (P[k] > left) *at = end - P[k];
    return k;
}

/* First layer: x NCHW [C][H][W], w [C][kh][kw][Mp], y NHWC [OH][OW][M], Mp = 16 * MB >= M (the
 * packed weights and bias are zero beyond M, and the last group's stores are masked).
 * Interior pixels (all taps inside the row) go in blocks of P (8, 6, 4, 3 for MB = 1..4) so that
 * P * MB independent FMA chains hide the FMA latency and each weight load serves P pixels; the
 * last block of a row is moved back to end at the last interior pixel (recomputing a few)
 * rather than leaving pixels to the one-at-a-time border path, which skips the taps that fall
 * outside the image (the zero padding). */
typedef struct first_ctx {
    int iy0, ky0, ky1;
    __m512 sv[4];
    __mmask16 mk[4];
} first_ctx;

#define FIRST_BLOCK(MB, P, SW)                                                                         \
    __attribute__((target("avx512f"))) static void first_##MB##_##P##_s##SW(const conv_job *j, const first_ctx *f, \
                                                                            int ox, float *restrict y) \
    {                                                                                                  \
        const int H = j->H, W = j->W, M = j->Mp, OM = j->M, kh = j->kh, kw = j->kw;                   \
        const int sw = (SW) ? (SW) : j->sw; /* a constant for strides 1 and 2: fixed offsets */       \
        const float *restrict x = j->x + (ox * sw - j->pl);                                           \
        __m512 acc[P][MB];                                                                             \
        for (int b = 0; b < (MB); b++) {                                                               \
            const __m512 bv = _mm512_loadu_ps(j->b + 16 * b);                                          \
            for (int p = 0; p < (P); p++) acc[p][b] = bv;                                              \
        }                                                                                              \
        int c = 0;                                                                                     \
        do { /* every loop runs at least once: no zero-trip path keeping acc in memory */             \
            int ky = f->ky0;                                                                           \
            do {                                                                                       \
                const float *xr = x + ((size_t)c * H + (size_t)(f->iy0 + ky)) * W;                     \
                const float *wr = j->w + ((size_t)(c * kh + ky) * kw) * M;                             \
                int kx = 0;                                                                            \
                do {                                                                                   \
                    __m512 wv[MB];                                                                     \
                    for (int b = 0; b < (MB); b++) wv[b] = _mm512_loadu_ps(wr + 16 * b);               \
                    for (int p = 0; p < (P); p++) {                                                    \
                        const __m512 xv = _mm512_set1_ps(xr[p * sw]);                                  \
                        for (int b = 0; b < (MB); b++) acc[p][b] = _mm512_fmadd_ps(xv, wv[b], acc[p][b]); \
                    }                                                                                  \
                    xr++, wr += M;                                                                     \
                } while (++kx < kw);                                                                   \
            } while (++ky < f->ky1);                                                                   \
        } while (++c < j->C);                                                                          \
        activate(&acc[0][0], (P) * (MB), (MB), j->ak, f->sv);                                          \
        for (int p = 0; p < (P); p++)                                                                  \
            for (int b = 0; b < (MB); b++) _mm512_mask_storeu_ps(y + (size_t)p * OM + 16 * b, f->mk[b], acc[p][b]); \
    }
/* per MB: a big tile (16-24 accumulators), a mid one and a small one, for strides 1, 2 and any */
#define FIRST_SIZES(MB, P0, P1, P2, SW) FIRST_BLOCK(MB, P0, SW) FIRST_BLOCK(MB, P1, SW) FIRST_BLOCK(MB, P2, SW)
#define FIRST_ALL(SW)                                                                                  \
    FIRST_SIZES(1, 16, 8, 4, SW) FIRST_SIZES(2, 12, 6, 4, SW) FIRST_SIZES(3, 8, 4, 2, SW) FIRST_SIZES(4, 6, 3, 2, SW)
FIRST_ALL(1)
FIRST_ALL(2)
FIRST_ALL(0)

typedef void (*first_fn)(const conv_job *, const first_ctx *, int, float *);
#define FIRST_TABLE(SW)                                                                                \
    {{NULL},                                                                                           \
     {first_1_16_s##SW, first_1_8_s##SW, first_1_4_s##SW},                                             \
     {first_2_12_s##SW, first_2_6_s##SW, first_2_4_s##SW},                                             \
     {first_3_8_s##SW, first_3_4_s##SW, first_3_2_s##SW},                                              \
     {first_4_6_s##SW, first_4_3_s##SW, first_4_2_s##SW}}
static const first_fn first_tiles[3][5][3] = {FIRST_TABLE(0), FIRST_TABLE(1), FIRST_TABLE(2)};
static const int first_px[5][3] = {{0}, {16, 8, 4}, {12, 6, 4}, {8, 4, 2}, {6, 3, 2}};

/* 17-24 outputs: 16 channels in a zmm and the rest in a ymm. An AMD Zen 4 core runs a 512-bit
 * FMA as two 256-bit halves, so this does a quarter less work than two zmm with a third of
 * the second one wasted (fr_pose: 24 outputs). */
__attribute__((target("avx512f,avx512vl,fma"))) static void first_blk_24(const conv_job *j, const first_ctx *f, int ox,
                                                                    float *restrict y)
{
    enum { P = 6 };
    const int H = j->H, W = j->W, M = j->Mp, OM = j->M, kh = j->kh, kw = j->kw, sw = j->sw;
    const float *restrict x = j->x + (ox * sw - j->pl);
    __m512 a[P];
    __m256 b[P];
    const __m512 b0 = _mm512_loadu_ps(j->b);
    const __m256 b1 = _mm256_loadu_ps(j->b + 16);
    for (int p = 0; p < P; p++) a[p] = b0, b[p] = b1;
    int c = 0;
    do {
        int ky = f->ky0;
        do {
            const float *xr = x + ((size_t)c * H + (size_t)(f->iy0 + ky)) * W;
            const float *wr = j->w + ((size_t)(c * kh + ky) * kw) * M;
            int kx = 0;
            do {
                const __m512 w0 = _mm512_loadu_ps(wr + kx * M);
                const __m256 w1 = _mm256_loadu_ps(wr + kx * M + 16);
                for (int p = 0; p < P; p++) {
                    const float v = xr[p * sw + kx];
                    a[p] = _mm512_fmadd_ps(_mm512_set1_ps(v), w0, a[p]);
                    b[p] = _mm256_fmadd_ps(_mm256_set1_ps(v), w1, b[p]);
                }
            } while (++kx < kw);
        } while (++ky < f->ky1);
    } while (++c < j->C);
    const __m256 s1 = _mm512_castps512_ps256(_mm512_loadu_ps(j->slope + 16)); /* slopes 16..31 */
    const __mmask8 m1 = (__mmask8)(f->mk[1] & 0xff);
    for (int p = 0; p < P; p++) {
        __m512 va = a[p];
        __m256 vb = b[p];
        activate(&va, 1, 1, j->ak, f->sv);
        if (j->ak == NN_K_ACT_TANH)
            vb = _mm512_castps512_ps256(tanh16(_mm512_castps256_ps512(vb)));
        else if (j->ak != NN_K_ACT_NONE) /* Relu's slopes are 0 */
            vb = _mm256_mask_mul_ps(vb, _mm256_cmp_ps_mask(vb, _mm256_setzero_ps(), _CMP_LT_OQ), vb, s1);
        _mm512_storeu_ps(y + (size_t)p * OM, va);
        _mm256_mask_storeu_ps(y + (size_t)p * OM + 16, m1, vb);
    }
}

__attribute__((target("avx512f"))) static void first_one(const conv_job *j, const first_ctx *f, int ox, float *y)
{
    const int H = j->H, W = j->W, M = j->Mp, MB = j->Mp / 16, kh = j->kh, kw = j->kw;
    const int ix0 = ox * j->sw - j->pl, kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + kw > W ? W - ix0 : kw;
    __m512 acc[4];
    for (int b = 0; b < 4; b++) acc[b] = _mm512_loadu_ps(j->b + 16 * (b < MB ? b : 0));
    for (int c = 0; c < j->C; c++)
        for (int ky = f->ky0; ky < f->ky1; ky++) {
            const float *xr = j->x + ((size_t)c * H + (size_t)(f->iy0 + ky)) * W + ix0;
            const float *wr = j->w + ((size_t)(c * kh + ky) * kw) * M;
            for (int kx = kx0; kx < kx1; kx++) {
                const __m512 v = _mm512_set1_ps(xr[kx]);
                for (int b = 0; b < 4; b++)
                    if (b < MB) acc[b] = _mm512_fmadd_ps(v, _mm512_loadu_ps(wr + kx * M + 16 * b), acc[b]);
            }
        }
    activate(acc, 4, 4, j->ak, f->sv);
    for (int b = 0; b < MB; b++) _mm512_mask_storeu_ps(y + 16 * b, f->mk[b], acc[b]);
}

__attribute__((target("avx512f"))) static void first_row(const conv_job *j, int oy, float *y)
{
    const int MB = j->Mp / 16, OM = j->M, sw = j->sw, pl = j->pl, OW = j->OW;
    const first_fn *tt = first_tiles[sw <= 2 ? sw : 0][MB];
    /* 17-24 outputs: the zmm + ymm tile of 6 pixels as the big one (fr_pose) */
    const first_fn t[3] = {j->ymm_tail ? first_blk_24 : tt[0], tt[1], tt[2]};
    const int P[3] = {j->ymm_tail ? 6 : first_px[MB][0], first_px[MB][1], first_px[MB][2]};
    first_ctx f;
    for (int b = 0; b < 4; b++) {
        f.mk[b] = lanes(OM - 16 * b);
        f.sv[b] = _mm512_loadu_ps(j->slope + 16 * (b < MB ? b : 0));
    }
    f.iy0 = oy * j->sh - j->pt;
    f.ky0 = f.iy0 < 0 ? -f.iy0 : 0;
    f.ky1 = f.iy0 + j->kh > j->H ? j->H - f.iy0 : j->kh;
    const int lo_x = (pl + sw - 1) / sw, hi_x0 = j->W - j->kw + pl >= 0 ? (j->W - j->kw + pl) / sw : -1;
    const int hi_x = hi_x0 < OW - 1 ? hi_x0 : OW - 1, end = hi_x + 1;
    int ox = 0;
    if (f.ky1 > f.ky0 && end - lo_x >= P[2]) {
        for (; ox < lo_x; ox++) first_one(j, &f, ox, y + (size_t)ox * OM);
        /* interior pixels (every tap inside the row): big tiles, a mid one, then a mid or small
         * one moved back to end at the last interior pixel, as in conv_row */
        while (ox < end) {
            const int k = row_tile(P, ox, end, end - lo_x, &ox); /* never 3: room >= P[2] here */
            t[k](j, &f, ox, y + (size_t)ox * OM);
            ox += P[k];
        }
    }
    for (; ox < OW; ox++) first_one(j, &f, ox, y + (size_t)ox * OM);
}

/* Depthwise 3x3 (any stride/padding): x NHWC [H][W][C], w [3][3][Cp], y NHWC, any C; Cp is C
 * rounded up to 16 (weights and bias zero beyond C, loads and stores of the last channel group
 * masked). Interior pixels go P at a time (8 at stride 1, 6 at stride 2; 4 and 3 for what
 * is left of a row): P independent FMA
 * chains hide the FMA latency, the nine weights of a 16-channel group are loaded once for the P,
 * and each input column once for all the outputs that read it. Padding rows are read from a
 * row of zeros, so only the one or two border columns of a row take the slow path. */
#define DW_BLOCK(SW, P)                                                                                \
    __attribute__((target("avx512f"))) static void dw_##SW##_##P(const float *const *xr, int C, int Cp,        \
                                                                 const float *w, const float *bias,   \
                                                                 float *yp, const float *slope, int ak) \
    {                                                                                                  \
        enum { NCOL = ((P) - 1) * (SW) + 3 };                                                          \
        for (int c = 0; c < C; c += 16) {                                                              \
            const __mmask16 m = lanes(C - c);                                                          \
            __m512 wv[9], acc[P];                                                                      \
            for (int k = 0; k < 9; k++) wv[k] = _mm512_loadu_ps(w + k * Cp + c);                      \
            for (int p = 0; p < (P); p++) acc[p] = _mm512_loadu_ps(bias + c);                          \
            for (int r = 0; r < 3; r++) {                                                              \
                __m512 col[NCOL];                                                                      \
                for (int q = 0; q < NCOL; q++) col[q] = _mm512_maskz_loadu_ps(m, xr[r] + (size_t)q * C + c); \
                for (int p = 0; p < (P); p++)                                                          \
                    for (int kx = 0; kx < 3; kx++)                                                     \
                        acc[p] = _mm512_fmadd_ps(col[p * (SW) + kx], wv[r * 3 + kx], acc[p]);          \
            }                                                                                          \
            const __m512 sv = _mm512_loadu_ps(slope + c);                                              \
            activate(acc, (P), 1, ak, &sv);                                                            \
            for (int p = 0; p < (P); p++) _mm512_mask_storeu_ps(yp + (size_t)p * C + c, m, acc[p]);    \
        }                                                                                              \
    }
DW_BLOCK(1, 8)
DW_BLOCK(2, 6)
DW_BLOCK(1, 4)
DW_BLOCK(2, 3)

/* One output pixel, skipping the taps outside the image (rows outside are zero rows); up to
 * eight 16-channel groups at once, so that their FMA chains overlap. */
__attribute__((target("avx512f"))) static void dw_one(const conv_job *j, const float *const rows[3], int ox,
                                                      float *yp)
{
    const int C = j->C, Cp = j->Mp, ix0 = ox * j->sw - j->pl;
    const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + 3 > j->W ? j->W - ix0 : 3;
    for (int c0 = 0; c0 < C; c0 += 128) {
        const int ng = (C - c0 + 15) / 16 < 8 ? (C - c0 + 15) / 16 : 8;
        __mmask16 m[8];
        __m512 acc[8];
        for (int g = 0; g < 8; g++) {
            m[g] = lanes(C - c0 - 16 * g);
            acc[g] = _mm512_loadu_ps(j->b + c0 + 16 * (g < ng ? g : 0));
        }
        for (int ky = 0; ky < 3; ky++)
            for (int kx = kx0; kx < kx1; kx++) {
                const float *xp = rows[ky] + (size_t)(ix0 + kx) * C + c0, *wp = j->w + (ky * 3 + kx) * Cp + c0;
                for (int g = 0; g < 8; g++)
                    if (g < ng)
                        acc[g] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[g], xp + 16 * g), _mm512_loadu_ps(wp + 16 * g), acc[g]);
            }
        __m512 sv[8];
        for (int g = 0; g < 8; g++) sv[g] = _mm512_loadu_ps(j->slope + c0 + 16 * (g < ng ? g : 0));
        activate(acc, 8, 8, j->ak, sv);
        for (int g = 0; g < ng; g++) _mm512_mask_storeu_ps(yp + c0 + 16 * g, m[g], acc[g]);
    }
}

/* One output row of a depthwise 3x3 from its three input rows (NULL: a padding row). */
__attribute__((target("avx512f"))) static void dw_row_from(const conv_job *j, const float *const in[3], float *y)
{
    const int C = j->C, W = j->W, sw = j->sw, pl = j->pl, OW = j->OW;
    const float *rows[3];
    for (int r = 0; r < 3; r++) rows[r] = in[r] ? in[r] : j->zero;
    /* interior outputs: all three taps inside the row. Big blocks (8 pixels at stride 1, 6 at
     * stride 2) while they fit, then half blocks, and a last half block moved back to end at
     * the last interior pixel: on 7-28 pixel rows a moved-back big block recomputed up to a
     * third of the row */
    int lo_x = (pl + sw - 1) / sw, hi_x = (W - 3 + pl) / sw;
    if (hi_x > OW - 1) hi_x = OW - 1;
    const int big = sw == 1 ? 8 : 6, half = big / 2;
    int ox = 0;
    if (sw <= 2 && hi_x - lo_x + 1 >= half) {
        for (; ox < lo_x; ox++) dw_one(j, rows, ox, y + (size_t)ox * C);
        while (ox <= hi_x) {
            const int left = hi_x - ox + 1, P = left >= big ? big : half;
            if (P > left) ox = hi_x - P + 1;
            const size_t ix0 = (size_t)(ox * sw - pl) * C;
            const float *xr[3] = {rows[0] + ix0, rows[1] + ix0, rows[2] + ix0};
            float *yp = y + (size_t)ox * C;
            if (sw == 1 && P == 8) dw_1_8(xr, C, j->Mp, j->w, j->b, yp, j->slope, j->ak);
            else if (sw == 1) dw_1_4(xr, C, j->Mp, j->w, j->b, yp, j->slope, j->ak);
            else if (P == 6) dw_2_6(xr, C, j->Mp, j->w, j->b, yp, j->slope, j->ak);
            else dw_2_3(xr, C, j->Mp, j->w, j->b, yp, j->slope, j->ak);
            ox += P;
        }
    }
    for (; ox < OW; ox++) dw_one(j, rows, ox, y + (size_t)ox * C);
}

/* The inner loop of the pointwise and full-convolution tiles: for each of K input channels,
 * MB weight vectors (w, then w + Mp, ...) and a broadcast of each of the P pixels' value
 * (xp[p][k]) feed P x MB FMAs into acc[P][MB]. K >= 1: no zero-trip path that would keep the
 * accumulators in memory. */
#define GEMM_STEPS(MB, P, acc, xp, w, Mp, K)                                                           \
    do {                                                                                               \
        int k_ = 0;                                                                                    \
        do {                                                                                           \
            __m512 wv_[MB];                                                                            \
            for (int q = 0; q < (MB); q++) wv_[q] = _mm512_loadu_ps((w) + 16 * q);                     \
            for (int p = 0; p < (P); p++) {                                                            \
                const __m512 xv_ = _mm512_set1_ps((xp)[p][k_]);                                        \
                for (int q = 0; q < (MB); q++) (acc)[p][q] = _mm512_fmadd_ps(xv_, wv_[q], (acc)[p][q]); \
            }                                                                                          \
            (w) += (Mp);                                                                               \
        } while (++k_ < (K));                                                                          \
    } while (0)

/* Full KxK convolution (group 1): rows[ky] NHWC [W][C] (NULL: a padding row), w
 * [kh][kw][C][Mp], y NHWC [OW][M]. Tiles of P pixels x 16*MB output channels (24 accumulators
 * in the big tiles, 16-24 FMA chains in flight) walk the input channels of each tap
 * innermost: per channel, MB weight vectors and P broadcasts (memory operands) feed P x MB
 * FMAs. Pixels whose tap falls in the left or right padding read a row of zeros instead
 * (j->zero), so a tile runs anywhere in the row and the border costs a few FMAs on zeros, not
 * a one-pixel path whose MB chains would leave the FMA units waiting on their latency. What is
 * left of a row after the big tiles takes a mid tile, then a small one moved back to end at
 * the last pixel (recomputing a few pixels costs less than latency-bound single ones). */
#define CONV_TILE(MB, P)                                                                               \
    __attribute__((target("avx512f"))) static void cv_##MB##_##P(const conv_job *j, const float *const *rows, \
                                                                 int ox, int m0, const __m512 *sv,    \
                                                                 const __mmask16 *mk, float *restrict y) \
    {                                                                                                  \
        const int C = j->C, W = j->W, Mp = j->Mp, M = j->M, kw = j->kw, sw = j->sw, ix0 = ox * sw - j->pl; \
        __m512 acc[P][MB];                                                                             \
        for (int q = 0; q < (MB); q++) {                                                               \
            const __m512 bv = _mm512_loadu_ps(j->b + m0 + 16 * q);                                     \
            for (int p = 0; p < (P); p++) acc[p][q] = bv;                                              \
        }                                                                                              \
        for (int ky = 0; ky < j->kh; ky++) {                                                           \
            if (!rows[ky]) continue;                                                                   \
            for (int kx = 0; kx < kw; kx++) {                                                          \
                const float *xp[P];                                                                    \
                for (int p = 0; p < (P); p++) {                                                        \
                    const int ix = ix0 + p * sw + kx * j->dil_w;                                       \
                    xp[p] = ix >= 0 && ix < W ? rows[ky] + (size_t)ix * C : j->zero;                   \
                }                                                                                      \
                const float *w = j->w + (size_t)(ky * kw + kx) * C * Mp + m0;                          \
                GEMM_STEPS(MB, P, acc, xp, w, Mp, C);                                                  \
            }                                                                                          \
        }                                                                                              \
        activate(&acc[0][0], (P) * (MB), (MB), j->ak, sv);                                             \
        for (int p = 0; p < (P); p++)                                                                  \
            for (int q = 0; q < (MB); q++) _mm512_mask_storeu_ps(y + (size_t)p * M + m0 + 16 * q, mk[q], acc[p][q]); \
    }
CONV_TILE(1, 12)
CONV_TILE(1, 7)
CONV_TILE(1, 4)
CONV_TILE(1, 1)
CONV_TILE(2, 12)
CONV_TILE(2, 7)
CONV_TILE(2, 4)
CONV_TILE(2, 1)
CONV_TILE(3, 8)
CONV_TILE(3, 7)
CONV_TILE(3, 4)
CONV_TILE(3, 1)
CONV_TILE(4, 6)
CONV_TILE(4, 3)
CONV_TILE(4, 2)
CONV_TILE(4, 1)

typedef void (*cv_fn)(const conv_job *, const float *const *, int, int, const __m512 *, const __mmask16 *, float *);

__attribute__((target("avx512f"))) static void conv_row(const conv_job *j, const float *const *rows, float *y)
{
    /* per MB (16-channel groups in a block of outputs): the big, mid and small tiles, and one
     * pixel; a mid tile of 7 makes a 7x7 map's row one tile */
    static const cv_fn tile[5][4] = {{NULL},
                                     {cv_1_12, cv_1_7, cv_1_4, cv_1_1},
                                     {cv_2_12, cv_2_7, cv_2_4, cv_2_1},
                                     {cv_3_8, cv_3_7, cv_3_4, cv_3_1},
                                     {cv_4_6, cv_4_3, cv_4_2, cv_4_1}};
    static const int px[5][3] = {{0}, {12, 7, 4}, {12, 7, 4}, {8, 7, 4}, {6, 3, 2}};
    const int M = j->M, OW = j->OW;
    for (int m0 = 0; m0 < j->Mp; m0 += 64) {
        const int mb = (j->Mp - m0) / 16 < 4 ? (j->Mp - m0) / 16 : 4;
        const cv_fn *t = tile[mb];
        const int *P = px[mb];
        __m512 sv[4];
        __mmask16 mk[4];
        for (int q = 0; q < 4; q++) {
            mk[q] = lanes(M - m0 - 16 * q);
            sv[q] = _mm512_loadu_ps(j->slope + m0 + 16 * (q < mb ? q : 0));
        }
        for (int ox = 0; ox < OW;) { /* the padding reads zeros: tiles may cover the whole row */
            const int k = row_tile(P, ox, OW, OW, &ox);
            t[k](j, rows, ox, m0, sv, mk, y + (size_t)ox * M);
            ox += k < 3 ? P[k] : 1;
        }
    }
}

/* Pointwise 1x1 convolution of P pixels x 16*MB output channels: x [P][C], w [C][M] (the
 * block's columns), y [P][M]. P * MB accumulators (16-24 in the main tiles) hide the FMA
 * latency; each weight vector is loaded once per input channel and serves P pixels. One pointer
 * per pixel (P <= 10) keeps the broadcasts' addresses in registers, indexed by k. */
#define PW_TILE(MB, P)                                                                                 \
    __attribute__((target("avx512f"))) static void pw_##MB##_##P(const float *restrict x, int C,      \
                                                                 const float *restrict w, int Mp,     \
                                                                 const float *restrict b,             \
                                                                 float *restrict y, int M,            \
                                                                 const __m512 *restrict sv,           \
                                                                 const __mmask16 *restrict mk,        \
                                                                 int ak)                              \
    {                                                                                                  \
        __m512 acc[P][MB];                                                                             \
        const float *xp[P];                                                                            \
        for (int p = 0; p < (P); p++) xp[p] = x + (size_t)p * C;                                       \
        for (int q = 0; q < (MB); q++) {                                                               \
            const __m512 bv = _mm512_loadu_ps(b + 16 * q);                                             \
            for (int p = 0; p < (P); p++) acc[p][q] = bv;                                              \
        }                                                                                              \
        GEMM_STEPS(MB, P, acc, xp, w, Mp, C);                                                          \
        activate(&acc[0][0], (P) * (MB), (MB), ak, sv);                                                \
        if (mk[(MB) - 1] == 0xffff) /* whole 16-channel groups: plain stores */                       \
            for (int p = 0; p < (P); p++)                                                              \
                for (int q = 0; q < (MB); q++) _mm512_storeu_ps(y + (size_t)p * M + 16 * q, acc[p][q]); \
        else                                                                                           \
            for (int p = 0; p < (P); p++)                                                              \
                for (int q = 0; q < (MB); q++)                                                         \
                    _mm512_mask_storeu_ps(y + (size_t)p * M + 16 * q, mk[q], acc[p][q]);               \
    }
PW_TILE(1, 10)
PW_TILE(2, 10)
PW_TILE(3, 8)
PW_TILE(4, 6)
PW_TILE(1, 1)
PW_TILE(2, 1)
PW_TILE(3, 1)
PW_TILE(4, 1)

typedef void (*pw_fn)(const float *, int, const float *, int, const float *, float *, int, const __m512 *,
                      const __mmask16 *, int);

/* n pixels (a row, or a whole map: a 1x1 convolution is one GEMM over pixels): whole tiles,
 * the last one moved back to end at the last pixel (it recomputes a few pixels, which is
 * cheaper than single-pixel steps); fewer pixels than a tile go one by one. */
__attribute__((target("avx512f"))) static void pw_pixels(const nn_conv *j, const float *x, float *y, int n)
{
    static const pw_fn tile[5] = {NULL, pw_1_10, pw_2_10, pw_3_8, pw_4_6};
    static const pw_fn one[5] = {NULL, pw_1_1, pw_2_1, pw_3_1, pw_4_1};
    static const int tile_px[5] = {0, 10, 10, 8, 6};
    const int C = j->C, M = j->M, Mp = j->Mp;
    /* pixels in chunks that stay in L1 while every 64-channel block of outputs reads them */
    const int chunk = C <= 64 ? 120 : C <= 128 ? 60 : 30;
    for (int c0 = 0; c0 < n; c0 += chunk) {
        const int cn = n - c0 < chunk ? n - c0 : chunk;
        const float *xc = x + (size_t)c0 * C;
        float *yc = y + (size_t)c0 * M;
        for (int m0 = 0; m0 < Mp; m0 += 64) {
            const int mb = (Mp - m0) / 16 < 4 ? (Mp - m0) / 16 : 4, P = tile_px[mb];
            const float *w = j->w + m0, *b = j->b + m0;
            __m512 sv[4];
            __mmask16 mk[4];
            for (int q = 0; q < 4; q++) {
                mk[q] = lanes(M - m0 - 16 * q);
                sv[q] = _mm512_loadu_ps(j->slope + m0 + 16 * (q < mb ? q : 0));
            }
            if (cn < P) {
                for (int ox = 0; ox < cn; ox++)
                    one[mb](xc + (size_t)ox * C, C, w, Mp, b, yc + (size_t)ox * M + m0, M, sv, mk, j->ak);
                continue;
            }
            for (int ox = 0;; ox += P) {
                if (ox + P > cn) ox = cn - P;
                tile[mb](xc + (size_t)ox * C, C, w, Mp, b, yc + (size_t)ox * M + m0, M, sv, mk, j->ak);
                if (ox + P == cn) break;
            }
        }
    }
}

/* Global depthwise convolution (the kernel covers the whole map: MobileFaceNet's GDConv):
 * y[c] = b[c] + sum over pixels of x[p][c] * w[p][c], 16 channels per FMA. */
__attribute__((target("avx512f"))) static void gd_run(const conv_job *j)
{
    const int C = j->C, Cp = j->Mp, P = j->H * j->W;
    for (int c = 0; c < C; c += 16) {
        const __mmask16 m = lanes(C - c);
        __m512 a0 = _mm512_loadu_ps(j->b + c), a1 = _mm512_setzero_ps(), a2 = a1, a3 = a1;
        int p = 0;
        for (; p + 4 <= P; p += 4) {
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, j->x + (size_t)p * C + c), _mm512_loadu_ps(j->w + (size_t)p * Cp + c), a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, j->x + (size_t)(p + 1) * C + c), _mm512_loadu_ps(j->w + (size_t)(p + 1) * Cp + c), a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, j->x + (size_t)(p + 2) * C + c), _mm512_loadu_ps(j->w + (size_t)(p + 2) * Cp + c), a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, j->x + (size_t)(p + 3) * C + c), _mm512_loadu_ps(j->w + (size_t)(p + 3) * Cp + c), a3);
        }
        for (; p < P; p++)
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, j->x + (size_t)p * C + c), _mm512_loadu_ps(j->w + (size_t)p * Cp + c), a0);
        __m512 v = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        const __m512 sv = _mm512_loadu_ps(j->slope + c);
        activate(&v, 1, 1, j->ak, &sv);
        _mm512_mask_storeu_ps(j->y + c, m, v);
    }
}

/* y[p][c] = x[p][c] * a[c] + b[c] (Relu: then max 0), n pixels of C channels, 64 channels
 * (four zmm of scales and offsets held in registers) per pass over the pixels. */
__attribute__((target("avx512f"))) static void affine(const float *x, int64_t xs, const float *a, const float *b,
                                                      int relu, float *y, int64_t ys, int C, int64_t n)
{
    const __m512 lo = _mm512_set1_ps(relu ? 0.0f : -INFINITY);
    for (int c0 = 0; c0 < C; c0 += 64) {
        const int ng = (C - c0 + 15) / 16 < 4 ? (C - c0 + 15) / 16 : 4;
        __m512 av[4], bv[4];
        __mmask16 m[4];
        for (int g = 0; g < 4; g++) {
            m[g] = lanes(C - c0 - 16 * g);
            av[g] = _mm512_maskz_loadu_ps(m[g], a + c0 + 16 * g);
            bv[g] = _mm512_maskz_loadu_ps(m[g], b + c0 + 16 * g);
        }
        for (int64_t p = 0; p < n; p++) {
            const float *xp = x + p * xs + c0;
            float *yp = y + p * ys + c0;
            for (int g = 0; g < ng; g++) {
                /* max(lo, v) returns v when v is NaN: a NaN stays NaN, as in the C table */
                const __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[g], xp + 16 * g), av[g], bv[g]);
                _mm512_mask_storeu_ps(yp + 16 * g, m[g], relu ? _mm512_max_ps(lo, v) : v);
            }
        }
    }
}

/* Winograd F(2x2, 3x3)'s transforms (ops/wino.h), vectorised by the compiler for this table */
#pragma GCC push_options
#pragma GCC target("avx512f")
#include "nn/ops/wino.h"
#pragma GCC pop_options

/* Exp, Tanh, or Softmax over pairs (a detector's two classes: y = 1 / (1 + e^(other - this))
 * in every lane), 16 lanes at a time. */
__attribute__((target("avx512f"))) static inline __m512 lane_op(int op, __m512 v)
{
    if (op == NN_OP_EXP) return exp16(v);
    if (op == NN_OP_TANH) return tanh16(v);
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_permute_ps(v, 0xB1), v))));
}

__attribute__((target("avx512f"))) static void lanes_run(int op, const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, lane_op(op, _mm512_loadu_ps(x + i)));
    if (i < n) { /* for Softmax n is even: the mask keeps pairs whole */
        const __mmask16 m = lanes((int)(n - i));
        _mm512_mask_storeu_ps(y + i, m, lane_op(op, _mm512_maskz_loadu_ps(m, x + i)));
    }
}
const nn_kernels nn_kernels_avx512 = {
    .isa = "avx512",
    .rows_name = "avx512-rows",
    .needs = FACET_CPU_AVX512F,
    /* whole-map 1x1 steps too: on the AMD Zen 5 this round ran on, paired A/B in CPU time
     * (FACET_NN_PW_MAPS=0/1, alternating) made fr_landmark 13% faster (13 of 14 pairs),
     * fr_liveness 18% (6 of 6), fr_pose 11% (6 of 6), fr_detect 10% (6 of 6), fr_feature and
     * fr_expression 5-11% (3 and 4 of 6), fr_age and fr_eye even; on the Zen 4 of an earlier
     * round XNNPACK's GEMM had measured a few percent faster */
    .pw_maps = 1,
    .first_row = first_row,
    .dw_row = dw_row_from,
    .conv_row = conv_row,
    .wino = 1,
    /* 16 outputs or fewer (one zmm: fr_detect's and fr_gender's 16 > 16 steps, 134-150 GFLOP/s
     * against XNNPACK's 172-177 in the kernel bench) and maps under 7 columns (fr_eye: mostly
     * single pixels) stay with XNNPACK */
    .conv_min_m = 17,
    .conv_min_ow = 7,
    .pw_pixels = pw_pixels,
    .gd = gd_run,
    .wino_in = wino_in,
    .wino_out = wino_out,
    .affine = affine,
    .lanes = lanes_run,
};

#endif
