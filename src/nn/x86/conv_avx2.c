/*
 * conv_avx2.c - the "avx2" kernel table (kernels.h): AVX2 + FMA versions of the AVX-512
 * kernels in conv_avx512.c, for the CPUs most people run (every Intel desktop and laptop CPU of
 * recent years, AMD Zen 1-3), where XNNPACK's 2022 snapshot left our own AVX-512 kernels idle
 * and ran everything at 25-32% of the core's FMA peak.
 *
 * The shapes and layouts are those of conv_avx512.c; what changes is the register budget. An
 * AVX2 core has 16 ymm registers of 8 floats, against 32 zmm of 16, and no mask registers, so:
 *  - tiles are sized so that accumulators, the weights in use and one broadcast fit in 16
 *    (the 6 x 16 tile of AVX2 GEMMs: 12 accumulators, 2 weight vectors, 1 broadcast);
 *  - wide outputs (24-64 channels of a first layer, any pointwise width) are made 16 channels
 *    per pass, re-reading inputs that are still in L1 rather than spilling accumulators;
 *  - the depthwise kernel keeps one kernel row of weights (3 vectors) in registers at a time
 *    and streams the input columns, each loaded once for the outputs that read it;
 *  - channel counts that are not a multiple of 8 take a masked variant for their last group
 *    only (vmaskmovps stores are slow on AMD cores), chosen once per group, not per load.
 * Activations (none, Relu, per-channel slope, Tanh) are applied in registers before the store.
 */
#include <math.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/ops/fastmath.h"
#include "nn/nn.h"

#ifdef NN_HAVE_X86_KERNELS
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

/* Lanes i < left of an 8-float vector, as vmaskmovps wants them (sign bit set). */
AVX2 static inline __m256i lanes8(int left)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* tanh with the 13/6 rational function of ops/fastmath.h, 8 lanes at once. */
AVX2 static inline __m256 tanh8(__m256 x)
{
    const __m256 c = _mm256_set1_ps(FAST_TANH_CLAMP);
    const __m256 xc = _mm256_max_ps(_mm256_min_ps(x, c), _mm256_sub_ps(_mm256_setzero_ps(), c));
    const __m256 x2 = _mm256_mul_ps(xc, xc);
    __m256 p = _mm256_set1_ps(fast_tanh_p[0]);
    for (int i = 1; i < 7; i++) p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(fast_tanh_p[i]));
    p = _mm256_mul_ps(p, xc);
    __m256 q = _mm256_set1_ps(fast_tanh_q[0]);
    for (int i = 1; i < 4; i++) q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(fast_tanh_q[i]));
    const __m256 r = _mm256_div_ps(p, q);
    const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    /* tiny |x|: x itself; NaN: NaN (the clamp above would have made it +-1) */
    return _mm256_blendv_ps(r, x, _mm256_cmp_ps(ax, _mm256_set1_ps(0.0004f), _CMP_NGE_UQ));
}

/* exp as in ops/fastmath.h (2^n times Cephes' polynomial, 2^n applied in two halves). */
AVX2 static inline __m256 exp8(__m256 x)
{
    const __m256 xc = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.72283f)), _mm256_set1_ps(-103.97f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(fast_exp_p[0]);
    for (int i = 1; i < 6; i++) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(fast_exp_p[i]));
    const __m256 e = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
    const __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(e, s1), s2);
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(88.72284f), _CMP_GT_OQ));
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(-103.97f), _CMP_LT_OQ));
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q)); /* NaN stays NaN */
}

/* The fused activation of kind ak on one vector with its channels' slopes. */
AVX2 static inline __m256 act8(__m256 v, int ak, __m256 slope)
{
    if (ak == NN_K_ACT_RELU) return _mm256_max_ps(v, _mm256_setzero_ps());
    if (ak == NN_K_ACT_SLOPE)
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, slope), _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
    if (ak == NN_K_ACT_TANH) return tanh8(v);
    return v;
}

/* Complete unrolling of the loops over accumulators: if GCC keeps one of them as a loop, the
 * accumulator array gets an address and every FMA of the main loop also stores to the stack
 * (measured: pointwise at 33 GFLOP/s instead of 80+). */
#define UNROLL _Pragma("GCC unroll 32")

/* The fused activation on n accumulators, accumulator i taking the slopes sv[i % nb]; the kind
 * is tested once for the block. */
AVX2 static inline void activate8(__m256 *acc, int n, int nb, int ak, const __m256 *sv)
{
    if (ak == NN_K_ACT_RELU) {
        UNROLL for (int i = 0; i < n; i++) acc[i] = _mm256_max_ps(acc[i], _mm256_setzero_ps());
    } else if (ak == NN_K_ACT_SLOPE) {
        UNROLL for (int i = 0; i < n; i++)
            acc[i] = _mm256_blendv_ps(acc[i], _mm256_mul_ps(acc[i], sv[i % nb]),
                                      _mm256_cmp_ps(acc[i], _mm256_setzero_ps(), _CMP_LT_OQ));
    } else if (ak == NN_K_ACT_TANH) {
        UNROLL for (int i = 0; i < n; i++) acc[i] = tanh8(acc[i]);
    }
}

/* Stores the first `left` lanes of v (all 8 when left >= 8). */
AVX2 static inline void store8(float *p, __m256 v, int left)
{
    if (left >= 8) _mm256_storeu_ps(p, v);
    else if (left > 0) _mm256_maskstore_ps(p, lanes8(left), v);
}

/* ---------- first layer: x NCHW [C][H][W], w [C][kh][kw][Mp], y NHWC [OH][OW][M] ----------
 * Output channels go 32 at a time (VB = 4 vectors x 3 pixels: 12 accumulators; the weights
 * then come from L1 as FMA operands), the last pass with 1-3 vectors (8, 6 or 4 pixels). With
 * K = 27 the loop over taps is short, so wider passes (fewer re-reads of the image and fewer
 * stores per tap) measured faster than 16 channels at a time (62-89 against 37 GFLOP/s at
 * 64 outputs). Interior pixels (all taps inside the row)
 * go in blocks, the last block of a row moved back to end at the last interior pixel; border
 * pixels skip the taps that fall outside the image (the zero padding). */
typedef struct first_ctx {
    int iy0, ky0, ky1, m0, left; /* rows of taps inside the image; channels [m0, m0 + 8 VB), of which `left` exist */
} first_ctx;

#define FIRST_BLOCK(VB, P)                                                                             \
    AVX2 static void first_blk_##VB(const nn_conv *j, const first_ctx *f, int ox, float *restrict y)   \
    {                                                                                                  \
        const int H = j->H, W = j->W, Mp = j->Mp, M = j->M, kh = j->kh, kw = j->kw, sw = j->sw;      \
        const float *restrict x = j->x + (ox * sw - j->pl);                                           \
        const float *wb = j->w + f->m0;                                                                \
        __m256 acc[P][VB], sv[VB];                                                                     \
        UNROLL for (int b = 0; b < (VB); b++) {                                                        \
            const __m256 bv = _mm256_loadu_ps(j->b + f->m0 + 8 * b);                                   \
            UNROLL for (int p = 0; p < (P); p++) acc[p][b] = bv;                                       \
        }                                                                                              \
        int c = 0;                                                                                     \
        do {                                                                                           \
            int ky = f->ky0;                                                                           \
            do {                                                                                       \
                const float *xr = x + ((size_t)c * H + (size_t)(f->iy0 + ky)) * W;                     \
                const float *wr = wb + ((size_t)(c * kh + ky) * kw) * Mp;                              \
                int kx = 0;                                                                            \
                do {                                                                                   \
                    __m256 wv[VB];                                                                     \
                    UNROLL for (int b = 0; b < (VB); b++) wv[b] = _mm256_loadu_ps(wr + kx * Mp + 8 * b); \
                    UNROLL for (int p = 0; p < (P); p++) {                                             \
                        const __m256 xv = _mm256_broadcast_ss(xr + p * sw + kx);                       \
                        UNROLL for (int b = 0; b < (VB); b++) acc[p][b] = _mm256_fmadd_ps(xv, wv[b], acc[p][b]); \
                    }                                                                                  \
                } while (++kx < kw);                                                                   \
            } while (++ky < f->ky1);                                                                   \
        } while (++c < j->C);                                                                          \
        UNROLL for (int b = 0; b < (VB); b++) sv[b] = _mm256_loadu_ps(j->slope + f->m0 + 8 * b);       \
        activate8(&acc[0][0], (P) * (VB), (VB), j->ak, sv);                                            \
        if (f->left >= 8 * (VB)) {                                                                     \
            UNROLL for (int p = 0; p < (P); p++)                                                       \
                UNROLL for (int b = 0; b < (VB); b++) _mm256_storeu_ps(y + (size_t)p * M + f->m0 + 8 * b, acc[p][b]); \
        } else {                                                                                       \
            UNROLL for (int p = 0; p < (P); p++)                                                       \
                UNROLL for (int b = 0; b < (VB); b++) store8(y + (size_t)p * M + f->m0 + 8 * b, acc[p][b], f->left - 8 * b); \
        }                                                                                              \
    }
FIRST_BLOCK(1, 8)
FIRST_BLOCK(2, 6)
FIRST_BLOCK(3, 4)
FIRST_BLOCK(4, 3)

AVX2 static void first_one(const nn_conv *j, const first_ctx *f, int vb, int ox, float *y)
{
    const int H = j->H, W = j->W, Mp = j->Mp, kh = j->kh, kw = j->kw;
    const int ix0 = ox * j->sw - j->pl, kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + kw > W ? W - ix0 : kw;
    __m256 acc[4];
    UNROLL for (int b = 0; b < 4; b++) acc[b] = _mm256_loadu_ps(j->b + f->m0 + 8 * (b < vb ? b : 0));
    for (int c = 0; c < j->C; c++)
        for (int ky = f->ky0; ky < f->ky1; ky++) {
            const float *xr = j->x + ((size_t)c * H + (size_t)(f->iy0 + ky)) * W + ix0;
            const float *wr = j->w + f->m0 + ((size_t)(c * kh + ky) * kw) * Mp;
            for (int kx = kx0; kx < kx1; kx++) {
                const __m256 v = _mm256_broadcast_ss(xr + kx);
                UNROLL for (int b = 0; b < 4; b++)
                    if (b < vb) acc[b] = _mm256_fmadd_ps(v, _mm256_loadu_ps(wr + kx * Mp + 8 * b), acc[b]);
            }
        }
    UNROLL for (int b = 0; b < 4; b++)
        if (b < vb)
            store8(y + f->m0 + 8 * b, act8(acc[b], j->ak, _mm256_loadu_ps(j->slope + f->m0 + 8 * b)), f->left - 8 * b);
}

AVX2 static void first_row(const nn_conv *j, int oy, float *y)
{
    const int M = j->M, sw = j->sw, pl = j->pl, OW = j->OW;
    first_ctx f;
    f.iy0 = oy * j->sh - j->pt;
    f.ky0 = f.iy0 < 0 ? -f.iy0 : 0;
    f.ky1 = f.iy0 + j->kh > j->H ? j->H - f.iy0 : j->kh;
    const int lo_x = (pl + sw - 1) / sw, hi_x0 = j->W - j->kw + pl >= 0 ? (j->W - j->kw + pl) / sw : -1;
    const int hi_x = hi_x0 < OW - 1 ? hi_x0 : OW - 1;
    for (f.m0 = 0; f.m0 < M; f.m0 += 32) { /* the last pass may have fewer than 4 vectors */
        f.left = M - f.m0;
        static const int blk_px[5] = {0, 8, 6, 4, 3};
        const int vb = f.left >= 32 ? 4 : (f.left + 7) / 8, P = blk_px[vb];
        int ox = 0;
        if (f.ky1 > f.ky0 && hi_x - lo_x + 1 >= P) {
            for (; ox < lo_x; ox++) first_one(j, &f, vb, ox, y + (size_t)ox * M);
            for (;; ox += P) {
                if (ox + P - 1 > hi_x) ox = hi_x - P + 1;
                if (vb == 4) first_blk_4(j, &f, ox, y + (size_t)ox * M);
                else if (vb == 3) first_blk_3(j, &f, ox, y + (size_t)ox * M);
                else if (vb == 2) first_blk_2(j, &f, ox, y + (size_t)ox * M);
                else first_blk_1(j, &f, ox, y + (size_t)ox * M);
                if (ox + P - 1 == hi_x) break;
            }
            ox = hi_x + 1;
        }
        for (; ox < OW; ox++) first_one(j, &f, vb, ox, y + (size_t)ox * M);
    }
}

/* ---------- depthwise 3x3: x NHWC [H][W][C], w [3][3][Cp], y NHWC ----------
 * Interior pixels P at a time per 8-channel group: P accumulators, the three weights of one
 * kernel row in registers, and the row's input columns streamed, each loaded once and used by
 * the (up to three) outputs that read it. The last group of a channel count that is not a
 * multiple of 8 takes the masked variant. Padding rows are read from a row of zeros. */
#define DW_BLOCK(SW, P, FULL)                                                                          \
    AVX2 static inline __attribute__((always_inline)) void dw_##SW##_##P##_##FULL(                   \
        const float *const *xr, int C, int Cp, int c,                                                  \
                                            const float *w, const float *bias, float *yp,             \
                                            const float *slope, int ak)                               \
    {                                                                                                  \
        const __m256i m = lanes8(C - c);                                                               \
        __m256 acc[P];                                                                                 \
        const __m256 bv = _mm256_loadu_ps(bias + c);                                                   \
        UNROLL for (int p = 0; p < (P); p++) acc[p] = bv;                                              \
        UNROLL for (int r = 0; r < 3; r++) {                                                           \
            __m256 wv[3];                                                                              \
            UNROLL for (int kx = 0; kx < 3; kx++) wv[kx] = _mm256_loadu_ps(w + (r * 3 + kx) * Cp + c); \
            const float *xp = xr[r] + c;                                                               \
            UNROLL for (int q = 0; q < ((P) - 1) * (SW) + 3; q++) { /* each input column once */       \
                const __m256 col = (FULL) ? _mm256_loadu_ps(xp + (size_t)q * C)                        \
                                          : _mm256_maskload_ps(xp + (size_t)q * C, m);                 \
                UNROLL for (int p = 0; p < (P); p++) {                                                 \
                    const int kx = q - p * (SW);                                                       \
                    if (kx >= 0 && kx < 3) acc[p] = _mm256_fmadd_ps(col, wv[kx], acc[p]);              \
                }                                                                                      \
            }                                                                                          \
        }                                                                                              \
        const __m256 sv = _mm256_loadu_ps(slope + c);                                                  \
        activate8(acc, (P), 1, ak, &sv);                                                               \
        UNROLL for (int p = 0; p < (P); p++) {                                                         \
            if (FULL) _mm256_storeu_ps(yp + (size_t)p * C + c, acc[p]);                                \
            else _mm256_maskstore_ps(yp + (size_t)p * C + c, m, acc[p]);                               \
        }                                                                                              \
    }
DW_BLOCK(1, 8, 1)
DW_BLOCK(1, 8, 0)
DW_BLOCK(2, 6, 1)
DW_BLOCK(2, 6, 0)
DW_BLOCK(1, 4, 1)
DW_BLOCK(1, 4, 0)
DW_BLOCK(2, 3, 1)
DW_BLOCK(2, 3, 0)

/* P pixels, every channel group: the whole groups, then a masked last one, inlined (with a
 * call per 8-channel group the stride-1 kernel ran at 49-61% of the peak, now 63-66%; stride 2
 * stays at 34-35%, bound by reading a 1.6 MB map for a quarter of the outputs, as XNNPACK's). */
#define DW_ROW_BLOCK(SW, P)                                                                            \
    AVX2 static void dwb_##SW##_##P(const float *const *xr, int C, int Cp, const float *w, const float *bias, \
                                    float *yp, const float *slope, int ak)                             \
    {                                                                                                  \
        int c = 0;                                                                                     \
        for (; c + 8 <= C; c += 8) dw_##SW##_##P##_1(xr, C, Cp, c, w, bias, yp, slope, ak);            \
        if (c < C) dw_##SW##_##P##_0(xr, C, Cp, c, w, bias, yp, slope, ak);                            \
    }
DW_ROW_BLOCK(1, 8)
DW_ROW_BLOCK(2, 6)
DW_ROW_BLOCK(1, 4)
DW_ROW_BLOCK(2, 3)

typedef void (*dw_fn)(const float *const *, int, int, const float *, const float *, float *, const float *, int);

/* One output pixel, skipping the taps outside the image; four 8-channel groups at once. */
AVX2 static void dw_one(const nn_conv *j, const float *const rows[3], int ox, float *yp)
{
    const int C = j->C, Cp = j->Mp, ix0 = ox * j->sw - j->pl;
    const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + 3 > j->W ? j->W - ix0 : 3;
    for (int c0 = 0; c0 < C; c0 += 32) {
        const int ng = (C - c0 + 7) / 8 < 4 ? (C - c0 + 7) / 8 : 4;
        __m256i m[4];
        __m256 acc[4];
        for (int g = 0; g < 4; g++) {
            m[g] = lanes8(C - c0 - 8 * g);
            acc[g] = _mm256_loadu_ps(j->b + c0 + 8 * (g < ng ? g : 0));
        }
        for (int ky = 0; ky < 3; ky++)
            for (int kx = kx0; kx < kx1; kx++) {
                const float *xp = rows[ky] + (size_t)(ix0 + kx) * C + c0, *wp = j->w + (ky * 3 + kx) * Cp + c0;
                for (int g = 0; g < 4; g++)
                    if (g < ng)
                        acc[g] = _mm256_fmadd_ps(_mm256_maskload_ps(xp + 8 * g, m[g]), _mm256_loadu_ps(wp + 8 * g),
                                                 acc[g]);
            }
        for (int g = 0; g < ng; g++)
            store8(yp + c0 + 8 * g, act8(acc[g], j->ak, _mm256_loadu_ps(j->slope + c0 + 8 * g)), C - c0 - 8 * g);
    }
}

AVX2 static void dw_row(const nn_conv *j, const float *const in[3], float *y)
{

    const int C = j->C, W = j->W, sw = j->sw, pl = j->pl, OW = j->OW;
    const float *rows[3];
    for (int r = 0; r < 3; r++) rows[r] = in[r] ? in[r] : j->zero;
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
            const dw_fn fn = sw == 1 ? (P == big ? dwb_1_8 : dwb_1_4) : (P == big ? dwb_2_6 : dwb_2_3);
            fn(xr, C, j->Mp, j->w, j->b, y + (size_t)ox * C, j->slope, j->ak);
            ox += P;
        }
    }
    for (; ox < OW; ox++) dw_one(j, rows, ox, y + (size_t)ox * C);
}

/* ---------- full KxK convolution: rows[ky] NHWC [W][C] (NULL: padding), w [kh][kw][C][Mp] ----------
 * The same tiles as the first layer (32 output channels x 3 pixels, then 24 x 4, 16 x 6, 8 x 8),
 * with the input channels of each tap innermost: per channel, VB weight vectors and P
 * broadcasts feed P x VB FMAs. XNNPACK's AVX2 path ran DenseNet's 3x3 steps (fr_expression:
 * 128 -> 32 channels) at 10-20 GFLOP/s. Padding rows are skipped; border pixels take the
 * one-pixel path, which skips the taps outside the row. */
#define CONV_TILE(VB, P)                                                                               \
    AVX2 static void cv_##VB(const nn_conv *j, const float *const *rows, int ox, int m0, int left,     \
                             float *restrict y)                                                        \
    {                                                                                                  \
        const int C = j->C, Mp = j->Mp, M = j->M, kw = j->kw, sw = j->sw, ix0 = ox * sw - j->pl;     \
        __m256 acc[P][VB], sv[VB];                                                                     \
        UNROLL for (int b = 0; b < (VB); b++) {                                                        \
            const __m256 bv = _mm256_loadu_ps(j->b + m0 + 8 * b);                                      \
            UNROLL for (int p = 0; p < (P); p++) acc[p][b] = bv;                                       \
        }                                                                                              \
        for (int ky = 0; ky < j->kh; ky++) {                                                           \
            if (!rows[ky]) continue;                                                                   \
            for (int kx = 0; kx < kw; kx++) {                                                          \
                const float *xp[P];                                                                    \
                UNROLL for (int p = 0; p < (P); p++) xp[p] = rows[ky] + (size_t)(ix0 + p * sw + kx * j->dil_w) * C; \
                const float *w = j->w + (size_t)(ky * kw + kx) * C * Mp + m0;                          \
                int c = 0;                                                                             \
                do {                                                                                   \
                    __m256 wv[VB];                                                                     \
                    UNROLL for (int b = 0; b < (VB); b++) wv[b] = _mm256_loadu_ps(w + 8 * b);         \
                    UNROLL for (int p = 0; p < (P); p++) {                                             \
                        const __m256 xv = _mm256_broadcast_ss(xp[p] + c);                              \
                        UNROLL for (int b = 0; b < (VB); b++) acc[p][b] = _mm256_fmadd_ps(xv, wv[b], acc[p][b]); \
                    }                                                                                  \
                    w += Mp;                                                                           \
                } while (++c < C);                                                                     \
            }                                                                                          \
        }                                                                                              \
        UNROLL for (int b = 0; b < (VB); b++) sv[b] = _mm256_loadu_ps(j->slope + m0 + 8 * b);          \
        activate8(&acc[0][0], (P) * (VB), (VB), j->ak, sv);                                            \
        if (left >= 8 * (VB)) {                                                                        \
            UNROLL for (int p = 0; p < (P); p++)                                                       \
                UNROLL for (int b = 0; b < (VB); b++) _mm256_storeu_ps(y + (size_t)p * M + m0 + 8 * b, acc[p][b]); \
        } else {                                                                                       \
            UNROLL for (int p = 0; p < (P); p++)                                                       \
                UNROLL for (int b = 0; b < (VB); b++) store8(y + (size_t)p * M + m0 + 8 * b, acc[p][b], left - 8 * b); \
        }                                                                                              \
    }
CONV_TILE(1, 8)
CONV_TILE(2, 6)
CONV_TILE(3, 4)
CONV_TILE(4, 3)

AVX2 static void cv_one(const nn_conv *j, const float *const *rows, int ox, int m0, int vb, int left, float *y)
{
    const int C = j->C, Mp = j->Mp, kw = j->kw, dw = j->dil_w, ix0 = ox * j->sw - j->pl;
    __m256 acc[4];
    UNROLL for (int b = 0; b < 4; b++) acc[b] = _mm256_loadu_ps(j->b + m0 + 8 * (b < vb ? b : 0));
    for (int ky = 0; ky < j->kh; ky++) {
        if (!rows[ky]) continue;
        for (int kx = 0; kx < kw; kx++) {
            const int ix = ix0 + kx * dw;
            if (ix < 0 || ix >= j->W) continue;
            const float *xp = rows[ky] + (size_t)ix * C;
            const float *w = j->w + (size_t)(ky * kw + kx) * C * Mp + m0;
            for (int c = 0; c < C; c++, w += Mp) {
                const __m256 xv = _mm256_broadcast_ss(xp + c);
                UNROLL for (int b = 0; b < 4; b++)
                    if (b < vb) acc[b] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w + 8 * b), acc[b]);
            }
        }
    }
    UNROLL for (int b = 0; b < 4; b++)
        if (b < vb) store8(y + m0 + 8 * b, act8(acc[b], j->ak, _mm256_loadu_ps(j->slope + m0 + 8 * b)), left - 8 * b);
}

AVX2 static void conv_row(const nn_conv *j, const float *const *rows, float *y)
{
    static const int blk_px[5] = {0, 8, 6, 4, 3};
    const int M = j->M, sw = j->sw, pl = j->pl, OW = j->OW;
    const int lo_x = (pl + sw - 1) / sw, ekw = (j->kw - 1) * j->dil_w + 1;
    const int hi_x0 = j->W - ekw + pl >= 0 ? (j->W - ekw + pl) / sw : -1;
    const int hi_x = hi_x0 < OW - 1 ? hi_x0 : OW - 1;
    for (int m0 = 0; m0 < M; m0 += 32) {
        const int left = M - m0, vb = left >= 32 ? 4 : (left + 7) / 8, P = blk_px[vb];
        int ox = 0;
        if (hi_x - lo_x + 1 >= P) {
            for (; ox < lo_x; ox++) cv_one(j, rows, ox, m0, vb, left, y + (size_t)ox * M);
            for (;; ox += P) {
                if (ox + P - 1 > hi_x) ox = hi_x - P + 1;
                float *yp = y + (size_t)ox * M;
                if (vb == 4) cv_4(j, rows, ox, m0, left, yp);
                else if (vb == 3) cv_3(j, rows, ox, m0, left, yp);
                else if (vb == 2) cv_2(j, rows, ox, m0, left, yp);
                else cv_1(j, rows, ox, m0, left, yp);
                if (ox + P - 1 == hi_x) break;
            }
            ox = hi_x + 1;
        }
        for (; ox < OW; ox++) cv_one(j, rows, ox, m0, vb, left, y + (size_t)ox * M);
    }
}

/* ---------- pointwise 1x1: x [n][C], w [C][Mp], y [n][M] ----------
 * Tiles of P pixels x 16 output channels (2 vectors): 12 accumulators at P = 6, each weight
 * pair loaded once per input channel for the P pixels, one broadcast per pixel and channel. */
#define PW_TILE(P)                                                                                     \
    AVX2 static void pw_##P(const float *restrict x, int C, const float *restrict w, int Mp,           \
                            const float *restrict b, const float *restrict slope, float *restrict y,   \
                            int M, int left, int ak)                                                   \
    {                                                                                                  \
        __m256 acc[P][2], sv[2];                                                                       \
        const float *xp[P];                                                                            \
        UNROLL for (int p = 0; p < (P); p++) xp[p] = x + (size_t)p * C;                                \
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);                             \
        UNROLL for (int p = 0; p < (P); p++) acc[p][0] = b0, acc[p][1] = b1;                           \
        int k = 0;                                                                                     \
        do {                                                                                           \
            const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);                         \
            UNROLL for (int p = 0; p < (P); p++) {                                                     \
                const __m256 xv = _mm256_broadcast_ss(xp[p] + k);                                      \
                acc[p][0] = _mm256_fmadd_ps(xv, w0, acc[p][0]);                                        \
                acc[p][1] = _mm256_fmadd_ps(xv, w1, acc[p][1]);                                        \
            }                                                                                          \
            w += Mp;                                                                                   \
        } while (++k < C);                                                                             \
        sv[0] = _mm256_loadu_ps(slope), sv[1] = _mm256_loadu_ps(slope + 8);                            \
        activate8(&acc[0][0], (P) * 2, 2, ak, sv);                                                     \
        if (left >= 16) {                                                                              \
            UNROLL for (int p = 0; p < (P); p++) {                                                     \
                _mm256_storeu_ps(y + (size_t)p * M, acc[p][0]);                                        \
                _mm256_storeu_ps(y + (size_t)p * M + 8, acc[p][1]);                                    \
            }                                                                                          \
        } else {                                                                                       \
            UNROLL for (int p = 0; p < (P); p++) {                                                     \
                store8(y + (size_t)p * M, acc[p][0], left);                                            \
                store8(y + (size_t)p * M + 8, acc[p][1], left - 8);                                    \
            }                                                                                          \
        }                                                                                              \
    }
PW_TILE(6)
PW_TILE(1)

/* 8 or fewer outputs (fr_detect's heads: 4-12 outputs from 64-256 channels): one vector, 12
 * pixels, instead of a 16-channel tile that would be half or more padding. */
#define PW8_TILE(P)                                                                                    \
    AVX2 static void pw8_##P(const float *restrict x, int C, const float *restrict w, int Mp,          \
                             const float *restrict b, const float *restrict slope, float *restrict y,  \
                             int M, int left, int ak)                                                  \
    {                                                                                                  \
        __m256 acc[P];                                                                                 \
        const float *xp[P];                                                                            \
        UNROLL for (int p = 0; p < (P); p++) xp[p] = x + (size_t)p * C;                                \
        const __m256 b0 = _mm256_loadu_ps(b), s0 = _mm256_loadu_ps(slope);                             \
        UNROLL for (int p = 0; p < (P); p++) acc[p] = b0;                                              \
        int k = 0;                                                                                     \
        do {                                                                                           \
            const __m256 w0 = _mm256_loadu_ps(w);                                                      \
            UNROLL for (int p = 0; p < (P); p++) acc[p] = _mm256_fmadd_ps(_mm256_broadcast_ss(xp[p] + k), w0, acc[p]); \
            w += Mp;                                                                                   \
        } while (++k < C);                                                                             \
        activate8(acc, (P), 1, ak, &s0);                                                               \
        UNROLL for (int p = 0; p < (P); p++) store8(y + (size_t)p * M, acc[p], left);                  \
    }
PW8_TILE(12)
PW8_TILE(1)

AVX2 static void pw_pixels(const nn_conv *j, const float *x, float *y, int n)
{
    const int C = j->C, M = j->M, Mp = j->Mp, P = M <= 8 ? 12 : 6;
    /* pixels in chunks that stay in L1 while every 16-channel block of outputs reads them */
    const int chunk = C <= 64 ? 96 : C <= 128 ? 48 : 24;
    for (int c0 = 0; c0 < n; c0 += chunk) {
        const int cn = n - c0 < chunk ? n - c0 : chunk;
        const float *xc = x + (size_t)c0 * C;
        float *yc = y + (size_t)c0 * M;
        for (int m0 = 0; m0 < M; m0 += 16) {
            const float *w = j->w + m0, *b = j->b + m0, *sl = j->slope + m0;
            if (cn < P) {
                for (int ox = 0; ox < cn; ox++)
                    (M <= 8 ? pw8_1 : pw_1)(xc + (size_t)ox * C, C, w, Mp, b, sl, yc + (size_t)ox * M + m0, M, M - m0, j->ak);
                continue;
            }
            for (int ox = 0;; ox += P) {
                if (ox + P > cn) ox = cn - P;
                (M <= 8 ? pw8_12 : pw_6)(xc + (size_t)ox * C, C, w, Mp, b, sl, yc + (size_t)ox * M + m0, M, M - m0, j->ak);
                if (ox + P == cn) break;
            }
        }
    }
}

/* ---------- global depthwise: y[c] = b[c] + sum over pixels of x[p][c] * w[p][c] ---------- */
AVX2 static void gd_run(const nn_conv *j)
{
    const int C = j->C, Cp = j->Mp, P = j->H * j->W;
    for (int c = 0; c < C; c += 8) {
        const __m256i m = lanes8(C - c);
        __m256 a0 = _mm256_loadu_ps(j->b + c), a1 = _mm256_setzero_ps(), a2 = a1, a3 = a1;
        const float *x = j->x + c, *w = j->w + c;
        int p = 0;
        for (; p + 4 <= P; p += 4) {
            a0 = _mm256_fmadd_ps(_mm256_maskload_ps(x + (size_t)p * C, m), _mm256_loadu_ps(w + (size_t)p * Cp), a0);
            a1 = _mm256_fmadd_ps(_mm256_maskload_ps(x + (size_t)(p + 1) * C, m), _mm256_loadu_ps(w + (size_t)(p + 1) * Cp), a1);
            a2 = _mm256_fmadd_ps(_mm256_maskload_ps(x + (size_t)(p + 2) * C, m), _mm256_loadu_ps(w + (size_t)(p + 2) * Cp), a2);
            a3 = _mm256_fmadd_ps(_mm256_maskload_ps(x + (size_t)(p + 3) * C, m), _mm256_loadu_ps(w + (size_t)(p + 3) * Cp), a3);
        }
        for (; p < P; p++)
            a0 = _mm256_fmadd_ps(_mm256_maskload_ps(x + (size_t)p * C, m), _mm256_loadu_ps(w + (size_t)p * Cp), a0);
        const __m256 v = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
        store8(j->y + c, act8(v, j->ak, _mm256_loadu_ps(j->slope + c)), C - c);
    }
}

/* ---------- y[p][c] = x[p][c] * a[c] + b[c] (Relu: then max 0): 32 channels per pass ---------- */
AVX2 static void affine(const float *x, int64_t xs, const float *a, const float *b, int relu, float *y, int64_t ys,
                        int C, int64_t n)
{
    const __m256 lo = _mm256_set1_ps(relu ? 0.0f : -INFINITY);
    for (int c0 = 0; c0 < C; c0 += 32) {
        const int ng = (C - c0 + 7) / 8 < 4 ? (C - c0 + 7) / 8 : 4, whole = C - c0 >= 32;
        __m256 av[4], bv[4];
        __m256i m[4];
        for (int g = 0; g < 4; g++) {
            m[g] = lanes8(C - c0 - 8 * g);
            av[g] = _mm256_maskload_ps(a + c0 + 8 * g, m[g]);
            bv[g] = _mm256_maskload_ps(b + c0 + 8 * g, m[g]);
        }
        for (int64_t p = 0; p < n; p++) {
            const float *xp = x + p * xs + c0;
            float *yp = y + p * ys + c0;
            if (whole) { /* vmaskmovps stores are slow on AMD cores: plain ones where they can */
                UNROLL for (int g = 0; g < 4; g++) {
                    const __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(xp + 8 * g), av[g], bv[g]);
                    _mm256_storeu_ps(yp + 8 * g, relu ? _mm256_max_ps(lo, v) : v);
                }
            } else {
                for (int g = 0; g < ng; g++) {
                    const __m256 v = _mm256_fmadd_ps(_mm256_maskload_ps(xp + 8 * g, m[g]), av[g], bv[g]);
                    _mm256_maskstore_ps(yp + 8 * g, m[g], relu ? _mm256_max_ps(lo, v) : v);
                }
            }
        }
    }
}

/* Winograd F(2x2, 3x3)'s transforms (ops/wino.h), vectorised by the compiler for this table */
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "nn/ops/wino.h"
#pragma GCC pop_options

/* ---------- Exp, Tanh, two-class Softmax over pairs (1 / (1 + e^(other - this))) ---------- */
AVX2 static inline __m256 lane_op(int op, __m256 v)
{
    if (op == NN_OP_EXP) return exp8(v);
    if (op == NN_OP_TANH) return tanh8(v);
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_permute_ps(v, 0xB1), v))));
}

AVX2 static void lanes_run(int op, const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, lane_op(op, _mm256_loadu_ps(x + i)));
    if (i < n) { /* for Softmax n is even: the mask keeps pairs whole */
        const __m256i m = lanes8((int)(n - i));
        _mm256_maskstore_ps(y + i, m, lane_op(op, _mm256_maskload_ps(x + i, m)));
    }
}

const nn_kernels nn_kernels_avx2 = {
    .isa = "avx2",
    .rows_name = "avx2-rows",
    .needs = FACET_CPU_AVX2 | FACET_CPU_FMA,
    .pw_maps = 1, /* XNNPACK's AVX2 GEMM ran fr_feature's 1x1 steps at a fifth of the 256-bit peak */
    .first_row = first_row,
    .dw_row = dw_row,
    .conv_row = conv_row,
    .wino = 1,
    .conv_min_m = 4,
    .conv_min_ow = 1,
    .pw_pixels = pw_pixels,
    .gd = gd_run,
    .wino_in = wino_in,
    .wino_out = wino_out,
    .affine = affine,
    .lanes = lanes_run,
};

#endif
