/*
 * conv_avx512.c - our own AVX-512 convolutions for the two shapes where XNNPACK leaves speed
 * on the table in these models (bench/nn, --profile):
 *
 *  - the first layer: 1-4 input channels (an image), 16-64 output channels. XNNPACK runs it
 *    as a GEMM with K = 27, and needs the image transposed to NHWC first. Here the image is
 *    read in ONNX's NCHW directly and each output pixel keeps its 16-64 channels in 1-4 zmm
 *    registers: one broadcast and 1-4 FMAs per tap.
 *  - depthwise 3x3 with a multiple of 16 channels: 16 channels per zmm, nine FMAs per output,
 *    reading NHWC rows in order.
 *
 * Both write NHWC with a fused clamp (Relu), run on the session's thread pool over output
 * rows, and are selected at plan time only when the CPU has AVX-512F (FACET_CPU_MASK can turn
 * them off); tests/test_nn.c compares them with the reference kernels on random shapes.
 */
#include <math.h>
#include <string.h>

#include <pthreadpool.h>

#include "nn/nn.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

typedef struct conv_job {
    const float *x, *w, *b;
    float *y;
    int C, H, W, M, OH, OW, kh, kw, sh, sw, pt, pl;
    float lo;
} conv_job;

#ifdef HAVE_X86

/* First layer: x NCHW [C][H][W], w [C][kh][kw][M], y NHWC [OH][OW][M], M = 16 * MB.
 * Interior pixels go in blocks of P = 8 / MB (at least 2) so that P * MB independent FMA chains
 * hide the FMA latency and each weight load serves P pixels; border pixels skip the taps that
 * fall outside the image, which is the zero padding. MB is a compile-time constant. */
#define FIRST_ROW(MB, P)                                                                               \
    __attribute__((target("avx512f"))) static void first_row_##MB(void *ctx, size_t oy)              \
    {                                                                                                  \
        const conv_job *j = ctx;                                                                       \
        const int C = j->C, H = j->H, W = j->W, M = j->M, kh = j->kh, kw = j->kw, sw = j->sw;        \
        const float *restrict x = j->x, *restrict w = j->w;                                           \
        float *restrict y = j->y + (size_t)oy * j->OW * M;                                             \
        const __m512 lo = _mm512_set1_ps(j->lo);                                                       \
        const int iy0 = (int)oy * j->sh - j->pt;                                                       \
        const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = iy0 + kh > H ? H - iy0 : kh;                        \
        int ox = 0;                                                                                    \
        while (ox < j->OW) {                                                                           \
            const int ix0 = ox * sw - j->pl;                                                           \
            if (ix0 >= 0 && (ox + P - 1) * sw - j->pl + kw <= W) {                                     \
                __m512 acc[P][MB];                                                                     \
                for (int p = 0; p < P; p++)                                                            \
                    for (int b = 0; b < MB; b++) acc[p][b] = _mm512_loadu_ps(j->b + 16 * b);           \
                for (int c = 0; c < C; c++)                                                            \
                    for (int ky = ky0; ky < ky1; ky++) {                                               \
                        const float *xr = x + ((size_t)c * H + (size_t)(iy0 + ky)) * W + ix0;          \
                        const float *wr = w + ((size_t)(c * kh + ky) * kw) * M;                        \
                        for (int kx = 0; kx < kw; kx++)                                                \
                            for (int b = 0; b < MB; b++) {                                             \
                                const __m512 wv = _mm512_loadu_ps(wr + kx * M + 16 * b);               \
                                for (int p = 0; p < P; p++)                                            \
                                    acc[p][b] = _mm512_fmadd_ps(_mm512_set1_ps(xr[p * sw + kx]), wv, acc[p][b]); \
                            }                                                                          \
                    }                                                                                  \
                for (int p = 0; p < P; p++)                                                            \
                    for (int b = 0; b < MB; b++)                                                       \
                        _mm512_storeu_ps(y + (size_t)(ox + p) * M + 16 * b, _mm512_max_ps(acc[p][b], lo)); \
                ox += P;                                                                               \
                continue;                                                                              \
            }                                                                                          \
            __m512 acc[MB];                                                                            \
            for (int b = 0; b < MB; b++) acc[b] = _mm512_loadu_ps(j->b + 16 * b);                      \
            const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + kw > W ? W - ix0 : kw;                    \
            for (int c = 0; c < C; c++)                                                                \
                for (int ky = ky0; ky < ky1; ky++) {                                                   \
                    const float *xr = x + ((size_t)c * H + (size_t)(iy0 + ky)) * W + ix0;              \
                    const float *wr = w + ((size_t)(c * kh + ky) * kw) * M;                            \
                    for (int kx = kx0; kx < kx1; kx++) {                                               \
                        const __m512 v = _mm512_set1_ps(xr[kx]);                                       \
                        for (int b = 0; b < MB; b++)                                                   \
                            acc[b] = _mm512_fmadd_ps(v, _mm512_loadu_ps(wr + kx * M + 16 * b), acc[b]);\
                    }                                                                                  \
                }                                                                                      \
            for (int b = 0; b < MB; b++) _mm512_storeu_ps(y + (size_t)ox * M + 16 * b, _mm512_max_ps(acc[b], lo)); \
            ox++;                                                                                      \
        }                                                                                              \
    }
FIRST_ROW(1, 8)
FIRST_ROW(2, 4)
FIRST_ROW(3, 2)
FIRST_ROW(4, 2)

/* Depthwise 3x3 (any stride/padding): x NHWC [H][W][C], w [3][3][C], y NHWC, C = 16 * cb.
 * Interior pixels go four at a time: the nine weights of a 16-channel group are loaded once
 * for the four, and each input column is loaded once for all the outputs that read it
 * (6 columns per row at stride 1, 9 at stride 2), which leaves the loop bound by FMAs rather
 * than loads. Border pixels skip the taps outside the image. */
#define DW_QUAD(SW)                                                                                    \
    __attribute__((target("avx512f"))) static void dw_quad_##SW(const float *x0, size_t rs, int C,   \
                                                                  const float *w, const float *bias,  \
                                                                  float *yp, __m512 lo)                \
    {                                                                                                  \
        enum { NCOL = 3 * (SW) + 3 };                                                                  \
        for (int c = 0; c < C; c += 16) {                                                              \
            __m512 wv[9], acc[4];                                                                      \
            for (int k = 0; k < 9; k++) wv[k] = _mm512_loadu_ps(w + k * C + c);                       \
            for (int p = 0; p < 4; p++) acc[p] = _mm512_loadu_ps(bias + c);                            \
            for (int r = 0; r < 3; r++) {                                                              \
                __m512 col[NCOL];                                                                      \
                for (int q = 0; q < NCOL; q++) col[q] = _mm512_loadu_ps(x0 + r * rs + (size_t)q * C + c); \
                for (int p = 0; p < 4; p++)                                                            \
                    for (int kx = 0; kx < 3; kx++)                                                     \
                        acc[p] = _mm512_fmadd_ps(col[p * (SW) + kx], wv[r * 3 + kx], acc[p]);          \
            }                                                                                          \
            for (int p = 0; p < 4; p++) _mm512_storeu_ps(yp + (size_t)p * C + c, _mm512_max_ps(acc[p], lo)); \
        }                                                                                              \
    }
DW_QUAD(1)
DW_QUAD(2)

__attribute__((target("avx512f"))) static void dw_row(void *ctx, size_t oy)
{
    const conv_job *j = ctx;
    const int C = j->C, H = j->H, W = j->W, sw = j->sw, pl = j->pl;
    const float *restrict x = j->x, *restrict w = j->w, *restrict bias = j->b;
    float *restrict y = j->y + (size_t)oy * j->OW * C;
    const __m512 lo = _mm512_set1_ps(j->lo);
    const int iy0 = (int)oy * j->sh - j->pt;
    const int rows_inside = iy0 >= 0 && iy0 + 2 < H;
    int ox = 0;
    while (ox < j->OW) {
        const int ix0 = ox * sw - pl;
        float *yp = y + (size_t)ox * C;
        if (rows_inside && sw <= 2 && ix0 >= 0 && ox + 3 < j->OW && (ox + 3) * sw - pl + 2 < W) {
            const float *x0 = x + ((size_t)iy0 * W + ix0) * C;
            if (sw == 1) dw_quad_1(x0, (size_t)W * C, C, w, bias, yp, lo);
            else dw_quad_2(x0, (size_t)W * C, C, w, bias, yp, lo);
            ox += 4;
            continue;
        }
        for (int c = 0; c < C; c += 16) {
            __m512 acc = _mm512_loadu_ps(bias + c);
            for (int ky = 0; ky < 3; ky++) {
                int iy = iy0 + ky;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < 3; kx++) {
                    int ix = ix0 + kx;
                    if (ix < 0 || ix >= W) continue;
                    acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + ((size_t)iy * W + ix) * C + c),
                                          _mm512_loadu_ps(w + (ky * 3 + kx) * C + c), acc);
                }
            }
            _mm512_storeu_ps(yp + c, _mm512_max_ps(acc, lo));
        }
        ox++;
    }
}

/* Pointwise (1x1, stride 1, no padding) convolution as a GEMM: y[P][N] = x[P][K] w[K][N] + b.
 * Weights are packed in panels of 32 output channels, [N/32][K][32] (a last panel of 16 when
 * N % 32 == 16). A 12 x 32 register tile: per k, two weight loads and twelve broadcasts feed
 * 24 FMAs into 24 accumulators, so the loop is bound by FMAs, not loads (XNNPACK's 7 x 16 tile
 * needs 8 loads per 7 FMAs, which is what held it to about a third of this core's FMA peak).
 * Rows left over at the end of a panel use the same loop with fewer rows. */
typedef struct pw_job {
    const float *x, *w, *b;
    float *y;
    int P, K, N;
    float lo;
} pw_job;

#define PW_MR 12

/* The full 12-row tile: fully unrolled so that the 24 accumulators stay in registers. */
#define PW_FULL(NV)                                                                                    \
    __attribute__((target("avx512f"))) static void pw_full_##NV(const pw_job *j, int p0, int n0,      \
                                                                  const float *wp)                     \
    {                                                                                                  \
        const int K = j->K, N = j->N;                                                                  \
        const float *x0 = j->x + (size_t)p0 * K;                                                       \
        __m512 acc[PW_MR][NV];                                                                         \
        _Pragma("GCC unroll 12") for (int r = 0; r < PW_MR; r++)                                      \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) acc[r][v] = _mm512_loadu_ps(j->b + n0 + 16 * v); \
        for (int k = 0; k < K; k++) {                                                                  \
            __m512 wv[NV];                                                                             \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) wv[v] = _mm512_loadu_ps(wp + (size_t)k * 16 * NV + 16 * v); \
            _Pragma("GCC unroll 12") for (int r = 0; r < PW_MR; r++) {                                \
                const __m512 xv = _mm512_set1_ps(x0[(size_t)r * K + k]);                               \
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(xv, wv[v], acc[r][v]); \
            }                                                                                          \
        }                                                                                              \
        const __m512 lo = _mm512_set1_ps(j->lo);                                                       \
        _Pragma("GCC unroll 12") for (int r = 0; r < PW_MR; r++)                                      \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)                                      \
                _mm512_storeu_ps(j->y + (size_t)(p0 + r) * N + n0 + 16 * v, _mm512_max_ps(acc[r][v], lo)); \
    }
PW_FULL(2)
PW_FULL(1)

/* Fewer than 12 rows (the end of the image): one row at a time. */
__attribute__((target("avx512f"))) static void pw_rows(const pw_job *j, int p0, int mr, int n0, int nv,
                                                       const float *wp)
{
    const int K = j->K, N = j->N;
    const __m512 lo = _mm512_set1_ps(j->lo);
    for (int r = 0; r < mr; r++) {
        const float *xr = j->x + (size_t)(p0 + r) * K;
        __m512 a0 = _mm512_loadu_ps(j->b + n0), a1 = nv > 1 ? _mm512_loadu_ps(j->b + n0 + 16) : a0;
        for (int k = 0; k < K; k++) {
            const __m512 xv = _mm512_set1_ps(xr[k]);
            a0 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(wp + (size_t)k * 16 * nv), a0);
            if (nv > 1) a1 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(wp + (size_t)k * 32 + 16), a1);
        }
        float *yr = j->y + (size_t)(p0 + r) * N + n0;
        _mm512_storeu_ps(yr, _mm512_max_ps(a0, lo));
        if (nv > 1) _mm512_storeu_ps(yr + 16, _mm512_max_ps(a1, lo));
    }
}

/* One task: a block of up to 4 row tiles across every weight panel (the panel stays in L1/L2
 * while the rows stream). */
__attribute__((target("avx512f"))) static void pw_task(void *ctx, size_t t)
{
    const pw_job *j = ctx;
    int p_begin = (int)t * 4 * PW_MR, p_end = p_begin + 4 * PW_MR;
    if (p_end > j->P) p_end = j->P;
    for (int n0 = 0; n0 < j->N; n0 += 32) {
        const float *wp = j->w + (size_t)n0 * j->K;
        for (int p = p_begin; p < p_end; p += PW_MR) {
            int mr = p_end - p < PW_MR ? p_end - p : PW_MR, nv = j->N - n0 >= 32 ? 2 : 1;
            if (mr < PW_MR) pw_rows(j, p, mr, n0, nv, wp);
            else if (nv == 2) pw_full_2(j, p, n0, wp);
            else pw_full_1(j, p, n0, wp);
        }
    }
}

#endif

#define T(i) (&s->t[st->in[i]])
#define O(i) (&s->t[st->out[i]])

static void fill_job(nn_session *s, nn_step *st, conv_job *j)
{
    const nn_tensor *X = T(0), *Y = O(0);
    j->x = X->data;
    j->y = Y->data;
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
    j->lo = st->act == NN_ACT_RELU ? 0.0f : -INFINITY;
    j->w = (const float *)st->be; /* packed weights */
    j->b = st->b;
}

static int run_first(nn_session *s, nn_step *st)
{
#ifdef HAVE_X86
    conv_job j;
    fill_job(s, st, &j);
    static void (*const rows[4])(void *, size_t) = {first_row_1, first_row_2, first_row_3, first_row_4};
    pthreadpool_parallelize_1d(s->pool, rows[j.M / 16 - 1], &j, (size_t)j.OH, 0);
    return 0;
#else
    (void)s, (void)st;
    return FACET_E_INTERNAL;
#endif
}

static int run_dw(nn_session *s, nn_step *st)
{
#ifdef HAVE_X86
    conv_job j;
    fill_job(s, st, &j);
    pthreadpool_parallelize_1d(s->pool, dw_row, &j, (size_t)j.OH, 0);
    return 0;
#else
    (void)s, (void)st;
    return FACET_E_INTERNAL;
#endif
}

static int run_pw(nn_session *s, nn_step *st)
{
#ifdef HAVE_X86
    const nn_tensor *X = T(0), *Y = O(0);
    pw_job j;
    j.x = X->data;
    j.y = Y->data;
    j.K = (int)X->shape.d[1];
    j.N = (int)Y->shape.d[1];
    j.P = (int)(X->shape.d[0] * X->shape.d[2] * X->shape.d[3]);
    j.w = (const float *)st->be;
    j.b = st->b;
    j.lo = st->act == NN_ACT_RELU ? 0.0f : -INFINITY;
    size_t tasks = (size_t)((j.P + 4 * PW_MR - 1) / (4 * PW_MR));
    pthreadpool_parallelize_1d(s->pool, pw_task, &j, tasks, 0);
    return 0;
#else
    (void)s, (void)st;
    return FACET_E_INTERNAL;
#endif
}

static void free_packed(void *p)
{
    facet_free_aligned(p);
}

int nn_x86_conv_first_ok(const nn_session *s, const nn_step *st)
{
    (void)s;
#ifdef HAVE_X86
    if (!(facet_cpu_flags() & FACET_CPU_AVX512F)) return 0;
    const nn_tensor *X = &s->t[st->in[0]], *W = &s->t[st->in[1]];
    int64_t C = X->shape.d[1], M = W->shape.d[0];
    return st->op == NN_OP_CONV && X->shape.ndim == 4 && st->aux[10] == 1 && C >= 1 && C <= 4 && M % 16 == 0 &&
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
    return st->op == NN_OP_CONV && X->shape.ndim == 4 && st->aux[10] == C && W->shape.d[0] == C && C % 16 == 0 &&
           st->aux[0] == 3 && st->aux[1] == 3 && st->aux[4] == 1 && st->aux[5] == 1;
#else
    (void)s, (void)st;
    return 0;
#endif
}

int nn_x86_conv_pw_ok(const nn_session *s, const nn_step *st)
{
#ifdef HAVE_X86
    if (!(facet_cpu_flags() & FACET_CPU_AVX512F)) return 0;
    const nn_tensor *X = &s->t[st->in[0]], *W = &s->t[st->in[1]];
    return st->op == NN_OP_CONV && X->shape.ndim == 4 && st->aux[10] == 1 && st->aux[0] == 1 && st->aux[1] == 1 &&
           st->aux[2] == 1 && st->aux[3] == 1 && !(st->aux[6] | st->aux[7] | st->aux[8] | st->aux[9]) &&
           W->shape.d[0] % 16 == 0 && X->shape.d[1] <= 4096;
#else
    (void)s, (void)st;
    return 0;
#endif
}

/* Pointwise weights [N][K] -> panels [N/32][K][32] (the last one [K][16] when N % 32 == 16). */
static int make_pw(nn_session *s, nn_step *st, const float *w0, int64_t N, int64_t K)
{
    float *packed = facet_alloc(sizeof(float) * (size_t)(N * K));
    if (!packed) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for packed weights");
    for (int64_t n0 = 0; n0 < N; n0 += 32) {
        int64_t nr = N - n0 >= 32 ? 32 : 16;
        for (int64_t k = 0; k < K; k++)
            for (int64_t c = 0; c < nr; c++) packed[n0 * K + k * nr + c] = w0[(n0 + c) * K + k];
    }
    st->be = packed;
    st->be_free = free_packed;
    st->run = run_pw;
    st->kernel = "avx512";
    return 0;
}

/* Packs weights (and a zero bias when there is none) for one of the kernels above. */
int nn_x86_conv_make(nn_session *s, nn_step *st, int kind)
{
    const nn_tensor *W = T(1);
    int64_t M = W->shape.d[0], Cg = W->shape.d[1], kh = W->shape.d[2], kw = W->shape.d[3];
    const float *w0 = st->w ? st->w : W->data;
    const float *b0 = st->b ? st->b : (st->nin > 2 && st->in[2] >= 0 ? T(2)->data : NULL);
    float *packed = facet_alloc(sizeof(float) * (size_t)(M * Cg * kh * kw));
    float *bias = nn_own(s, facet_alloc(sizeof(float) * (size_t)M));
    if (!packed || !bias) {
        facet_free_aligned(packed);
        return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for packed weights");
    }
    for (int64_t m = 0; m < M; m++) bias[m] = b0 ? b0[m] : 0.0f;
    st->b = bias;
    if (kind == 2) {
        facet_free_aligned(packed);
        return make_pw(s, st, w0, M, Cg);
    }
    /* ONNX [M][Cg][kh][kw] -> [Cg][kh][kw][M] (Cg = 1 for depthwise: [kh][kw][C]) */
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t k = 0; k < kh * kw; k++) packed[(c * kh * kw + k) * M + m] = w0[(m * Cg + c) * kh * kw + k];
    st->be = packed;
    st->be_free = free_packed;
    st->run = kind == 1 ? run_dw : run_first;
    st->kernel = "avx512";
    return 0;
}
