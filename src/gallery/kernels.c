/*
 * kernels.c - dot-product kernels for the 1:N search: reference C first, then AVX2/FMA/F16C
 * and AVX-512 versions compiled with per-function target attributes so that the rest of the
 * library stays baseline x86-64; facet_dot_select picks one at run time from facet_cpu_flags().
 *
 * The SIMD kernels hold a block of R rows x P probes of accumulators in registers: each row
 * chunk is loaded (and for fp16 converted) once and multiplied against every probe of the
 * block, whose chunks come from L1. With one or two probes, four rows are in flight at once so
 * that a single probe still keeps enough loads outstanding to run at memory bandwidth.
 */
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FACET_X86 1
#endif

/* ---- half precision (reference) ---- */

uint16_t facet_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0)); /* inf / NaN */
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign; /* rounds to zero */
        man |= 0x800000u;
        int shift = 14 - e;
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* may carry into the exponent: ok */
    return (uint16_t)(sign | h);
}

float facet_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, x;
    if (exp == 0) {
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    if (exp == 31) x = sign | 0x7f800000u | (man << 13);
    else x = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- reference kernels ---- */

void facet_dot_ref_f32(const void *rows, size_t stride, size_t nrows, const float *probes, int np,
                       int dpad, float *scores, size_t ld)
{
    for (size_t r = 0; r < nrows; r++) {
        const float *x = (const float *)((const uint8_t *)rows + r * stride);
        for (int p = 0; p < np; p++) {
            const float *q = probes + (size_t)p * dpad;
            float s = 0;
            for (int d = 0; d < dpad; d++) s += x[d] * q[d];
            scores[(size_t)p * ld + r] = s;
        }
    }
}

void facet_dot_ref_f16(const void *rows, size_t stride, size_t nrows, const float *probes, int np,
                       int dpad, float *scores, size_t ld)
{
    float x[64];
    for (size_t r = 0; r < nrows; r++) {
        const uint16_t *h = (const uint16_t *)((const uint8_t *)rows + r * stride);
        float s[FACET_PBLOCK] = {0};
        for (int d0 = 0; d0 < dpad; d0 += 32) {
            for (int d = 0; d < 32; d++) x[d] = facet_f16_to_f32(h[d0 + d]);
            for (int p = 0; p < np; p++) {
                const float *q = probes + (size_t)p * dpad + d0;
                for (int d = 0; d < 32; d++) s[p] += x[d] * q[d];
            }
        }
        for (int p = 0; p < np; p++) scores[(size_t)p * ld + r] = s[p];
    }
}

#ifdef FACET_X86

/* ---- AVX2 + FMA + F16C ---- */

#define T_AVX2 __attribute__((target("avx2,fma,f16c")))
#define INL __attribute__((always_inline)) inline

static T_AVX2 INL float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static T_AVX2 INL __m256 ld8(const uint8_t *row, int d, int f16)
{
    if (f16) return _mm256_cvtph_ps(_mm_load_si128((const __m128i *)((const uint16_t *)row + d)));
    return _mm256_load_ps((const float *)row + d);
}

static T_AVX2 INL void blk_avx2(const uint8_t *rows, size_t stride, const float *probes, int dpad,
                                float *scores, size_t ld, const int R, const int P, const int f16)
{
    __m256 acc[4][8];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int p = 0; p < P; p++) acc[r][p] = _mm256_setzero_ps();
    for (int d = 0; d < dpad; d += 8) {
        __m256 x[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) x[r] = ld8(rows + r * stride, d, f16);
#pragma GCC unroll 8
        for (int p = 0; p < P; p++) {
            __m256 q = _mm256_load_ps(probes + (size_t)p * dpad + d);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][p] = _mm256_fmadd_ps(x[r], q, acc[r][p]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int p = 0; p < P; p++) scores[(size_t)p * ld + r] = hsum256(acc[r][p]);
}

/* Rows per block for P probes: keep R * P accumulators within the 16 ymm registers. */
#define R_AVX2(P) ((P) <= 2 ? 4 : (P) <= 4 ? 2 : 1)

#define RUN_P(BLK, RFN, P, F16)                                                              \
    do {                                                                                     \
        const int R_ = RFN(P);                                                               \
        for (; r + R_ <= nrows; r += R_)                                                     \
            BLK(base + r * stride, stride, probes, dpad, scores + r, ld, R_, P, F16);        \
        for (; r < nrows; r++) BLK(base + r * stride, stride, probes, dpad, scores + r, ld, 1, \
                                   P, F16);                                                  \
    } while (0)

#define KERNEL(NAME, TGT, BLK, RFN, F16)                                                     \
    static TGT void NAME(const void *rows, size_t stride, size_t nrows, const float *probes, \
                         int np, int dpad, float *scores, size_t ld)                         \
    {                                                                                        \
        const uint8_t *base = (const uint8_t *)rows;                                         \
        size_t r = 0;                                                                        \
        switch (np) {                                                                        \
        case 1: RUN_P(BLK, RFN, 1, F16); break;                                              \
        case 2: RUN_P(BLK, RFN, 2, F16); break;                                              \
        case 3: RUN_P(BLK, RFN, 3, F16); break;                                              \
        case 4: RUN_P(BLK, RFN, 4, F16); break;                                              \
        case 5: RUN_P(BLK, RFN, 5, F16); break;                                              \
        case 6: RUN_P(BLK, RFN, 6, F16); break;                                              \
        case 7: RUN_P(BLK, RFN, 7, F16); break;                                              \
        default: RUN_P(BLK, RFN, 8, F16); break;                                             \
        }                                                                                    \
    }

KERNEL(dot_avx2_f32, T_AVX2, blk_avx2, R_AVX2, 0)
KERNEL(dot_avx2_f16, T_AVX2, blk_avx2, R_AVX2, 1)

/* ---- AVX-512 ---- */

#define T_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

static T_AVX512 INL __m512 ld16(const uint8_t *row, int d, int f16)
{
    if (f16)
        return _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)((const uint16_t *)row + d)));
    return _mm512_load_ps((const float *)row + d);
}

static T_AVX512 INL void blk_avx512(const uint8_t *rows, size_t stride, const float *probes,
                                    int dpad, float *scores, size_t ld, const int R, const int P,
                                    const int f16)
{
    __m512 acc[4][8];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int p = 0; p < P; p++) acc[r][p] = _mm512_setzero_ps();
    for (int d = 0; d < dpad; d += 16) {
        __m512 x[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) x[r] = ld16(rows + r * stride, d, f16);
#pragma GCC unroll 8
        for (int p = 0; p < P; p++) {
            __m512 q = _mm512_load_ps(probes + (size_t)p * dpad + d);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][p] = _mm512_fmadd_ps(x[r], q, acc[r][p]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int p = 0; p < P; p++) scores[(size_t)p * ld + r] = _mm512_reduce_add_ps(acc[r][p]);
}

/* One probe: a single long FMA chain per row is latency-bound, and a core that waits on it
 * keeps too few cache misses in flight to reach memory bandwidth. Four independent chains per
 * row, over a sequential walk of the rows, read like a plain memory scan. */
static T_AVX512 INL float row1_avx512(const uint8_t *row, const float *q, int dpad,
                                      const int f16)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int d = 0;
    for (; d + 64 <= dpad; d += 64) {
        a0 = _mm512_fmadd_ps(ld16(row, d, f16), _mm512_load_ps(q + d), a0);
        a1 = _mm512_fmadd_ps(ld16(row, d + 16, f16), _mm512_load_ps(q + d + 16), a1);
        a2 = _mm512_fmadd_ps(ld16(row, d + 32, f16), _mm512_load_ps(q + d + 32), a2);
        a3 = _mm512_fmadd_ps(ld16(row, d + 48, f16), _mm512_load_ps(q + d + 48), a3);
    }
    if (d < dpad) { /* dpad is a multiple of 32 */
        a0 = _mm512_fmadd_ps(ld16(row, d, f16), _mm512_load_ps(q + d), a0);
        a1 = _mm512_fmadd_ps(ld16(row, d + 16, f16), _mm512_load_ps(q + d + 16), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* 32 zmm registers: up to 16 accumulators plus the row chunks and one probe chunk. */
#define R_AVX512(P) ((P) <= 2 ? 4 : 2)

KERNEL(dot_avx512_f32_pb, T_AVX512, blk_avx512, R_AVX512, 0)
KERNEL(dot_avx512_f16_pb, T_AVX512, blk_avx512, R_AVX512, 1)

static T_AVX512 void dot_avx512_1(const void *rows, size_t stride, size_t nrows,
                                  const float *probes, int dpad, float *scores, int f16)
{
    const uint8_t *base = (const uint8_t *)rows;
    if (f16)
        for (size_t r = 0; r < nrows; r++) scores[r] = row1_avx512(base + r * stride, probes, dpad, 1);
    else
        for (size_t r = 0; r < nrows; r++) scores[r] = row1_avx512(base + r * stride, probes, dpad, 0);
}

static T_AVX512 void dot_avx512_f32(const void *rows, size_t stride, size_t nrows,
                                    const float *probes, int np, int dpad, float *scores,
                                    size_t ld)
{
    if (np == 1) dot_avx512_1(rows, stride, nrows, probes, dpad, scores, 0);
    else dot_avx512_f32_pb(rows, stride, nrows, probes, np, dpad, scores, ld);
}

static T_AVX512 void dot_avx512_f16(const void *rows, size_t stride, size_t nrows,
                                    const float *probes, int np, int dpad, float *scores,
                                    size_t ld)
{
    if (np == 1) dot_avx512_1(rows, stride, nrows, probes, dpad, scores, 1);
    else dot_avx512_f16_pb(rows, stride, nrows, probes, np, dpad, scores, ld);
}

#endif

facet_dot_fn facet_dot_select(facet_dtype dtype, unsigned f, const char **name)
{
    const char *n = "ref";
    facet_dot_fn fn = dtype == FACET_DTYPE_F16 ? facet_dot_ref_f16 : facet_dot_ref_f32;
#ifdef FACET_X86
    unsigned avx2 = FACET_CPU_AVX2 | FACET_CPU_FMA | FACET_CPU_F16C;
    unsigned avx512 = avx2 | FACET_CPU_AVX512F | FACET_CPU_AVX512BW;
    if ((f & avx512) == avx512) {
        n = "avx512";
        fn = dtype == FACET_DTYPE_F16 ? dot_avx512_f16 : dot_avx512_f32;
    } else if ((f & avx2) == avx2) {
        n = "avx2";
        fn = dtype == FACET_DTYPE_F16 ? dot_avx2_f16 : dot_avx2_f32;
    }
#else
    (void)f;
#endif
    if (name) *name = n;
    return fn;
}
