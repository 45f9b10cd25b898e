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
