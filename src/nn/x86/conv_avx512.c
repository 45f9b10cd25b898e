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
 *  - pointwise 1x1 on a run of pixels, for the row-by-row chains of rows_avx512.c (on whole
 *    maps XNNPACK's GEMM measured a few percent faster, so it keeps those).
 *
 * All write NHWC with the activation fused (none, Relu, or a PRelu that followed the step),
 * handle channel counts that are not multiples of 16 with masks, run on the session's thread
 * pool over output rows, and are selected at plan time only when the CPU has AVX-512F
 * (FACET_CPU_MASK can turn them off); tests/test_nn.c compares them with the reference kernels
 * on random shapes.
 */
#include <math.h>
#include <string.h>

#include <pthreadpool.h>

#include "nn/nn.h"
#include "nn/x86/x86.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

typedef nn_x86_conv conv_job;

#ifdef HAVE_X86

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
    const __m512 c = _mm512_set1_ps(7.99881172180175781f);
    const __m512 xc = _mm512_max_ps(_mm512_min_ps(x, c), _mm512_sub_ps(_mm512_setzero_ps(), c));
    const __m512 x2 = _mm512_mul_ps(xc, xc);
    __m512 p = _mm512_set1_ps(-2.76076847742355e-16f);
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(2.00018790482477e-13f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-8.60467152213735e-11f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(5.12229709037114e-08f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(1.48572235717979e-05f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(6.37261928875436e-04f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(4.89352455891786e-03f));
    p = _mm512_mul_ps(p, xc);
    __m512 q = _mm512_set1_ps(1.19825839466702e-06f);
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(1.18534705686654e-04f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(2.26843463243900e-03f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(4.89352518554385e-03f));
    const __m512 r = _mm512_div_ps(p, q);
    const __mmask16 tiny = _mm512_cmp_ps_mask(_mm512_abs_ps(x), _mm512_set1_ps(0.0004f), _CMP_LT_OQ);
    return _mm512_mask_blend_ps(tiny, r, x);
}

/* exp as in ops/ref.c (2^n times Cephes' polynomial, 2^n applied in two halves), 16 lanes. */
__attribute__((target("avx512f"))) static inline __m512 exp16(__m512 x)
{
    const __m512 xc = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.72283f)), _mm512_set1_ps(-103.97f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
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

/* The fused activation of kind ak (NN_X86_ACT_*) on n accumulators laid out as [n / mb][mb],
 * where accumulator i takes the slopes sv[i % mb]. Inlined with constant n and mb, and with ak
 * the same for a whole block, so the kind is chosen once per block. */
__attribute__((target("avx512f"))) static inline void activate(__m512 *acc, int n, int mb, int ak, const __m512 *sv)
{
    if (ak == NN_X86_ACT_RELU)
        for (int i = 0; i < n; i++) acc[i] = _mm512_max_ps(acc[i], _mm512_setzero_ps());
    else if (ak == NN_X86_ACT_SLOPE)
        for (int i = 0; i < n; i++) acc[i] = act(acc[i], sv[i % mb]);
    else if (ak == NN_X86_ACT_TANH)
        for (int i = 0; i < n; i++) acc[i] = tanh16(acc[i]);
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

#define FIRST_BLOCK(MB, P)                                                                             \
    __attribute__((target("avx512f"))) static void first_blk_##MB(const conv_job *j, const first_ctx *f, \
                                                                   int ox, float *restrict y)          \
    {                                                                                                  \
        const int H = j->H, W = j->W, M = j->Mp, OM = j->M, kh = j->kh, kw = j->kw, sw = j->sw;      \
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
                    for (int b = 0; b < (MB); b++) {                                                   \
                        const __m512 wv = _mm512_loadu_ps(wr + kx * M + 16 * b);                       \
                        for (int p = 0; p < (P); p++)                                                  \
                            acc[p][b] = _mm512_fmadd_ps(_mm512_set1_ps(xr[p * sw + kx]), wv, acc[p][b]); \
                    }                                                                                  \
                } while (++kx < kw);                                                                   \
            } while (++ky < f->ky1);                                                                   \
        } while (++c < j->C);                                                                          \
        activate(&acc[0][0], (P) * (MB), (MB), j->ak, f->sv);                                          \
        for (int p = 0; p < (P); p++)                                                                  \
            for (int b = 0; b < (MB); b++) _mm512_mask_storeu_ps(y + (size_t)p * OM + 16 * b, f->mk[b], acc[p][b]); \
    }
FIRST_BLOCK(1, 8)
FIRST_BLOCK(2, 6)
FIRST_BLOCK(3, 4)
FIRST_BLOCK(4, 3)

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
        if (j->ak == NN_X86_ACT_TANH)
            vb = _mm512_castps512_ps256(tanh16(_mm512_castps256_ps512(vb)));
        else if (j->ak != NN_X86_ACT_NONE) /* Relu's slopes are 0 */
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
    static void (*const blk[5])(const conv_job *, const first_ctx *, int, float *) = {
        NULL, first_blk_1, first_blk_2, first_blk_3, first_blk_4};
    static const int blk_px[5] = {0, 8, 6, 4, 3};
    const int MB = j->Mp / 16, P = blk_px[MB], OM = j->M, sw = j->sw, pl = j->pl, OW = j->OW;
    void (*const block)(const conv_job *, const first_ctx *, int, float *) = j->ymm_tail ? first_blk_24 : blk[MB];
    first_ctx f;
    for (int b = 0; b < 4; b++) {
        f.mk[b] = lanes(OM - 16 * b);
        f.sv[b] = _mm512_loadu_ps(j->slope + 16 * (b < MB ? b : 0));
    }
    f.iy0 = oy * j->sh - j->pt;
    f.ky0 = f.iy0 < 0 ? -f.iy0 : 0;
    f.ky1 = f.iy0 + j->kh > j->H ? j->H - f.iy0 : j->kh;
    const int lo_x = (pl + sw - 1) / sw, hi_x0 = j->W - j->kw + pl >= 0 ? (j->W - j->kw + pl) / sw : -1;
    const int hi_x = hi_x0 < OW - 1 ? hi_x0 : OW - 1;
    int ox = 0;
    if (f.ky1 > f.ky0 && hi_x - lo_x + 1 >= P) {
        for (; ox < lo_x; ox++) first_one(j, &f, ox, y + (size_t)ox * OM);
        for (;; ox += P) {
            if (ox + P - 1 > hi_x) ox = hi_x - P + 1;
            block(j, &f, ox, y + (size_t)ox * OM);
            if (ox + P - 1 == hi_x) break;
        }
        ox = hi_x + 1;
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

void nn_x86_dw_row(const nn_x86_conv *j, const float *const rows[3], float *yrow)
{
    dw_row_from(j, rows, yrow);
}

void nn_x86_first_row(const nn_x86_conv *j, int oy, float *yrow)
{
    first_row(j, oy, yrow);
}

static void dw_task(void *ctx, size_t oy)
{
    const conv_job *j = ctx;
    const float *rows[3];
    for (int ky = 0; ky < 3; ky++) {
        int iy = (int)oy * j->sh - j->pt + ky;
        rows[ky] = iy < 0 || iy >= j->H ? NULL : j->x + (size_t)iy * j->W * j->C;
    }
    dw_row_from(j, rows, j->y + oy * (size_t)j->OW * j->C);
}

static void first_task(void *ctx, size_t oy)
{
    const conv_job *j = ctx;
    nn_x86_first_row(j, (int)oy, j->y + oy * (size_t)j->OW * j->M);
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
        int k = 0;                                                                                     \
        do { /* C >= 1: no zero-trip path that would keep the accumulators in memory */               \
            __m512 wv[MB];                                                                             \
            for (int q = 0; q < (MB); q++) wv[q] = _mm512_loadu_ps(w + 16 * q);                        \
            for (int p = 0; p < (P); p++) {                                                            \
                const __m512 xv = _mm512_set1_ps(xp[p][k]);                                            \
                for (int q = 0; q < (MB); q++) acc[p][q] = _mm512_fmadd_ps(xv, wv[q], acc[p][q]);      \
            }                                                                                          \
            w += Mp;                                                                                   \
        } while (++k < C);                                                                             \
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
__attribute__((target("avx512f"))) static void pw_pixels(const nn_x86_conv *j, const float *x, float *y, int n)
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

void nn_x86_pw_pixels(const nn_x86_conv *j, const float *x, float *y, int n)
{
    pw_pixels(j, x, y, n);
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

#endif

#define T(i) (&s->t[st->in[i]])
#define O(i) (&s->t[st->out[i]])

/* A first-layer, depthwise or global depthwise step: its job with this run's tensors. */
static int run_conv(nn_session *s, nn_step *st)
{
#ifdef HAVE_X86
    conv_job j = *(const conv_job *)st->be;
    j.x = T(0)->data;
    j.y = O(0)->data;
    if (j.kind == NN_X86_GD) gd_run(&j);
    else pthreadpool_parallelize_1d(s->pool, j.kind == NN_X86_DW ? dw_task : first_task, &j, (size_t)j.OH, 0);
    return 0;
#else
    (void)s, (void)st;
    return FACET_E_INTERNAL;
#endif
}

int nn_x86_conv_first_ok(const nn_session *s, const nn_step *st)
{
    (void)s;
#ifdef HAVE_X86
    if (!(facet_cpu_flags() & FACET_CPU_AVX512F)) return 0;
    const nn_tensor *X = &s->t[st->in[0]], *W = &s->t[st->in[1]];
    int64_t C = X->shape.d[1], M = W->shape.d[0];
    return st->op == NN_OP_CONV && X->shape.ndim == 4 && st->aux[10] == 1 && C >= 1 && C <= 4 && M >= 16 &&
           M <= 64 && st->aux[4] == 1 && st->aux[5] == 1 && st->aux[0] <= 7 && st->aux[1] <= 7;
#else
    (void)st;
    return 0;
#endif
}

int nn_x86_conv_dw_ok(const nn_session *s, const nn_step *st)
{
#ifdef HAVE_X86
    if (!(facet_cpu_flags() & FACET_CPU_AVX512F)) return 0;
    const nn_tensor *X = &s->t[st->in[0]], *W = &s->t[st->in[1]];
    int64_t C = X->shape.d[1];
    return st->op == NN_OP_CONV && X->shape.ndim == 4 && st->aux[10] == C && W->shape.d[0] == C && C >= 16 &&
           st->aux[0] == 3 && st->aux[1] == 3 && st->aux[4] == 1 && st->aux[5] == 1;
#else
    (void)s, (void)st;
    return 0;
#endif
}

int nn_x86_conv_gd_ok(const nn_session *s, const nn_step *st)
{
#ifdef HAVE_X86
    if (!(facet_cpu_flags() & FACET_CPU_AVX512F)) return 0;
    const nn_tensor *X = &s->t[st->in[0]], *Y = &s->t[st->out[0]], *W = &s->t[st->in[1]];
    if (st->op != NN_OP_CONV || X->shape.ndim != 4 || Y->shape.ndim != 4) return 0;
    int64_t C = X->shape.d[1];
    return X->shape.d[0] == 1 && st->aux[10] == C && W->shape.d[0] == C && st->aux[0] == X->shape.d[2] &&
           st->aux[1] == X->shape.d[3] && !(st->aux[6] | st->aux[7] | st->aux[8] | st->aux[9]) &&
           st->aux[4] == 1 && st->aux[5] == 1 && Y->shape.d[2] == 1 && Y->shape.d[3] == 1;
#else
    (void)s, (void)st;
    return 0;
#endif
}

/* Packs a convolution's weights as [Cg][kh][kw][Mp] (output channels innermost, which is what
 * every kernel here reads: [kh][kw][Cp] for depthwise, [C][M] for pointwise), Mp = M rounded
 * up to 16 with zeros, and its bias (zeros when there is none, and beyond M); both belong to
 * the session. */
static int pack_conv(nn_session *s, const nn_step *st, int Mp, float **w, float **b)
{
    const nn_tensor *W = T(1);
    int64_t M = W->shape.d[0], Cg = W->shape.d[1], kh = W->shape.d[2], kw = W->shape.d[3];
    const float *w0 = st->w ? st->w : W->data;
    const float *b0 = st->b ? st->b : (st->nin > 2 && st->in[2] >= 0 ? T(2)->data : NULL);
    float *packed = nn_own(s, facet_alloc(sizeof(float) * (size_t)(Mp * Cg * kh * kw)));
    float *bias = nn_own(s, facet_alloc(sizeof(float) * (size_t)Mp));
    if (!packed || !bias) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for packed weights");
    memset(packed, 0, sizeof(float) * (size_t)(Mp * Cg * kh * kw));
    for (int64_t m = 0; m < Mp; m++) bias[m] = b0 && m < M ? b0[m] : 0.0f;
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t k = 0; k < kh * kw; k++) packed[(c * kh * kw + k) * Mp + m] = w0[(m * Cg + c) * kh * kw + k];
    *w = packed;
    *b = bias;
    return 0;
}

int nn_x86_conv_job(nn_session *s, const nn_step *st, int kind, nn_x86_conv *j)
{
    const nn_tensor *X = T(0), *Y = O(0);
    memset(j, 0, sizeof(*j));
    j->C = (int)X->shape.d[1];
    j->H = (int)X->shape.d[2];
    j->W = (int)X->shape.d[3];
    j->M = (int)Y->shape.d[1];
    j->OH = (int)Y->shape.d[2];
    j->OW = (int)Y->shape.d[3];
    j->kh = (int)st->aux[0];
    j->kw = (int)st->aux[1];
    j->sh = (int)st->aux[2];
    j->sw = (int)st->aux[3];
    j->pt = (int)st->aux[6];
    j->pl = (int)st->aux[7];
    j->Mp = (j->M + 15) & ~15;
    j->kind = kind;
    j->ymm_tail = kind == NN_X86_FIRST && j->M > 16 && j->M <= 24 && (facet_cpu_flags() & FACET_CPU_AVX512VL);
    float *w = NULL, *b = NULL;
    int rc = pack_conv(s, st, j->Mp, &w, &b);
    if (rc) return rc;
    j->w = w;
    j->b = b;
    float *slope = nn_own(s, facet_alloc(sizeof(float) * (size_t)j->Mp));
    if (!slope) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for a convolution");
    for (int m = 0; m < j->Mp; m++) slope[m] = st->act == NN_ACT_RELU ? 0.0f : 1.0f;
    j->slope = slope;
    j->ak = st->act == NN_ACT_RELU ? NN_X86_ACT_RELU : NN_X86_ACT_NONE;
    if (kind == NN_X86_DW) {
        float *zero = nn_own(s, facet_alloc(sizeof(float) * ((size_t)j->W * (size_t)j->C + 16)));
        if (!zero) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for a zero row");
        memset(zero, 0, sizeof(float) * ((size_t)j->W * (size_t)j->C + 16));
        j->zero = zero;
    }
    return 0;
}

/* Our convolution that produces the input of `st` when the activation `st` computes can go
 * into its output: the convolution has none of its own, and `st` is its output's only reader. */
static conv_job *fusable_producer(nn_session *s, const nn_step *st)
{
    nn_step *p = NULL;
    for (nn_step *q = s->steps; q < st; q++)
        if (q->nout >= 1 && q->out[0] == st->in[0]) p = q;
    if (!p || !p->kernel || strcmp(p->kernel, "avx512") || !p->be || p->act != NN_ACT_NONE ||
        T(0)->is_output || nn_readers(s, st->in[0]) != 1)
        return NULL;
    conv_job *j = p->be;
    return j->ak == NN_X86_ACT_NONE ? j : NULL;
}

/* Takes a PRelu into the convolution before it when that is one of ours (see above) and the
 * slopes are per channel: the PRelu step then aliases its input. */
int nn_x86_fuse_prelu(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0), *A = T(1);
    int64_t C = X->shape.ndim == 4 ? X->shape.d[1] : 0;
    if (!A->is_const || nn_shape_count(&A->shape) != C || X->layout != NN_NHWC) return 0;
    conv_job *j = fusable_producer(s, st);
    if (!j) return 0;
    float *slope = (float *)j->slope; /* owned by the session, made for this step */
    for (int64_t c = 0; c < C; c++) slope[c] = ((const float *)A->data)[c];
    j->ak = NN_X86_ACT_SLOPE;
    st->alias_in = 1;
    st->kernel = "fused";
    return 1;
}


#ifdef HAVE_X86
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
#endif

static int run_lanes(nn_session *s, nn_step *st)
{
#ifdef HAVE_X86
    lanes_run(st->op, T(0)->data, O(0)->data, nn_shape_count(&T(0)->shape));
    return 0;
#else
    (void)s, (void)st;
    return FACET_E_INTERNAL;
#endif
}

/* Exp, Tanh and two-class Softmax (fr_detect's box-decoding tail) 16 lanes at a time. A Tanh
 * goes into the first-layer or depthwise convolution before it when it can (SSR-Net's fr_age and
 * fr_gender: conv, BatchNormalization, Tanh; libm's tanhf, then a rational function in portable
 * C, had made it a fifth of their time). */
int nn_x86_elementwise_make(nn_session *s, nn_step *st)
{
    if (!(facet_cpu_flags() & FACET_CPU_AVX512F) || T(0)->dtype != NN_F32) return 0;
    if (st->op == NN_OP_TANH) {
        conv_job *j = fusable_producer(s, st);
        if (j && (j->kind == NN_X86_FIRST || j->kind == NN_X86_DW)) {
            j->ak = NN_X86_ACT_TANH;
            st->alias_in = 1;
            st->kernel = "fused";
            return 1;
        }
    } else if (st->op != NN_OP_EXP && (st->op != NN_OP_SOFTMAX || st->aux[0] != 2 ||
                                       nn_shape_count(&T(0)->shape) % 2 || T(0)->layout != NN_NCHW)) {
        return 0;
    }
    st->run = run_lanes;
    st->kernel = "avx512";
    return 1;
}

int nn_x86_conv_make(nn_session *s, nn_step *st, int kind)
{
    conv_job *j = nn_own(s, facet_alloc(sizeof(conv_job)));
    if (!j) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for a convolution");
    int rc = nn_x86_conv_job(s, st, kind, j);
    if (rc) return rc;
    st->be = j;
    st->be_free = NULL; /* the session owns the job and its packed weights */
    st->run = run_conv;
    st->kernel = "avx512";
    return 0;
}
