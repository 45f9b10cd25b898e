/*
 * kernels.c - dot-product kernels for the 1:N search: reference C first, then AVX2/FMA/F16C
 * and AVX-512 versions compiled with per-function target attributes so that the rest of the
 * library stays baseline x86-64; facet_dot_select picks one at run time from facet_cpu_flags().
 *
 * The SIMD kernels hold a block of R rows x P probes of accumulators in registers: each row
 * chunk is loaded (and for fp16 converted) once and multiplied against every probe of the
 * block, whose chunks come from L1. A single probe walks the rows one after the other with
 * several independent FMA chains per row, so that it runs at memory bandwidth.
 *
 * Probe batches first go through a screen (kernels.h): BF16 on AVX-512 machines that have it,
 * int16 vpmaddwd on AVX2 machines; both give a rigorous upper bound, so the exact kernel has the
 * last word on every row that might be in the top k.
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

KERNEL(dot_avx2_f32_pb, T_AVX2, blk_avx2, R_AVX2, 0)
KERNEL(dot_avx2_f16_pb, T_AVX2, blk_avx2, R_AVX2, 1)

/* One probe, as row1_avx512 below: eight independent FMA chains per row (the FMA latency of 4
 * cycles times two pipes) over a sequential walk of the rows, so no chain stalls the loads.
 * With R_AVX2(1) = 4 rows of one chain each, the 2026 Zen 3 run took 2.45x the read floor. */
static T_AVX2 INL float row1_avx2(const uint8_t *row, const float *q, int dpad, const int f16)
{
    __m256 a[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) a[i] = _mm256_setzero_ps();
    int d = 0;
    for (; d + 64 <= dpad; d += 64)
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            a[i] = _mm256_fmadd_ps(ld8(row, d + 8 * i, f16), _mm256_load_ps(q + d + 8 * i), a[i]);
    if (d < dpad) /* dpad is a multiple of 32 */
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            a[i] = _mm256_fmadd_ps(ld8(row, d + 8 * i, f16), _mm256_load_ps(q + d + 8 * i), a[i]);
    __m256 s0 = _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]));
    __m256 s1 = _mm256_add_ps(_mm256_add_ps(a[4], a[5]), _mm256_add_ps(a[6], a[7]));
    return hsum256(_mm256_add_ps(s0, s1));
}

static T_AVX2 void dot_avx2_1(const void *rows, size_t stride, size_t nrows, const float *probes,
                              int dpad, float *scores, const int f16)
{
    const uint8_t *base = (const uint8_t *)rows;
    /* The same touch ahead as dot_avx512_1 (prefetches past the end do not fault). */
    for (size_t r = 0; r < nrows; r++) {
        const char *ahead = (const char *)base + (r + 64) * stride;
        _mm_prefetch(ahead, _MM_HINT_T0);
        _mm_prefetch(ahead + stride / 2, _MM_HINT_T0);
        scores[r] = row1_avx2(base + r * stride, probes, dpad, f16);
    }
}

static T_AVX2 void dot_avx2_f32(const void *rows, size_t stride, size_t nrows, const float *probes,
                                int np, int dpad, float *scores, size_t ld)
{
    if (np == 1) dot_avx2_1(rows, stride, nrows, probes, dpad, scores, 0);
    else dot_avx2_f32_pb(rows, stride, nrows, probes, np, dpad, scores, ld);
}

static T_AVX2 void dot_avx2_f16(const void *rows, size_t stride, size_t nrows, const float *probes,
                                int np, int dpad, float *scores, size_t ld)
{
    if (np == 1) dot_avx2_1(rows, stride, nrows, probes, dpad, scores, 1);
    else dot_avx2_f16_pb(rows, stride, nrows, probes, np, dpad, scores, ld);
}

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
    if (f16) {
        /* whole 64-byte lines, split in registers: half the load instructions of ld16 */
        for (; d + 64 <= dpad; d += 64) {
            __m512i v0 = _mm512_load_si512((const uint16_t *)row + d);
            __m512i v1 = _mm512_load_si512((const uint16_t *)row + d + 32);
            a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(v0)),
                                 _mm512_load_ps(q + d), a0);
            a1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(v0, 1)),
                                 _mm512_load_ps(q + d + 16), a1);
            a2 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(v1)),
                                 _mm512_load_ps(q + d + 32), a2);
            a3 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(v1, 1)),
                                 _mm512_load_ps(q + d + 48), a3);
        }
    } else {
        for (; d + 64 <= dpad; d += 64) {
            a0 = _mm512_fmadd_ps(ld16(row, d, 0), _mm512_load_ps(q + d), a0);
            a1 = _mm512_fmadd_ps(ld16(row, d + 16, 0), _mm512_load_ps(q + d + 16), a1);
            a2 = _mm512_fmadd_ps(ld16(row, d + 32, 0), _mm512_load_ps(q + d + 32), a2);
            a3 = _mm512_fmadd_ps(ld16(row, d + 48, 0), _mm512_load_ps(q + d + 48), a3);
        }
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
    /* A touch of two lines of the row 64 rows ahead (measured on fp16, 1M rows, 1 thread: a
     * few per cent nearer the read floor; prefetching whole rows was slower). Prefetches past
     * the end of the matrix do not fault. */
    if (f16)
        for (size_t r = 0; r < nrows; r++) {
            const char *ahead = (const char *)base + (r + 64) * stride;
            _mm_prefetch(ahead, _MM_HINT_T0);
            _mm_prefetch(ahead + stride / 2, _MM_HINT_T0);
            scores[r] = row1_avx512(base + r * stride, probes, dpad, 1);
        }
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

/* ---- screening for probe batches (kernels.h): shared pieces ---- */

#define SPT FACET_SCREEN_PT
#define SRG FACET_SCREEN_RG

/* The screens prefetch the next rows to pack while they compute: pf_bytes at pf shared out
 * over the micro-tiles of a call, at most one line per inner step. Returns the lines per
 * micro-tile; *lines the total. */
static size_t pf_plan(size_t nrows, size_t rows_per_tile, int np, const void *pf,
                      size_t pf_bytes, size_t steps, size_t *lines)
{
    size_t tiles = (nrows + rows_per_tile - 1) / rows_per_tile * (size_t)((np + SPT - 1) / SPT);
    size_t share = 0;
    *lines = pf ? (pf_bytes + 63) / 64 : 0;
    if (*lines && tiles) share = (*lines + tiles - 1) / tiles;
    return share > steps ? steps : share;
}

/* The next micro-tile's share: its first line, and in *last the index of its last line (a
 * micro-tile with no share gets `idle`, an address already in cache, and *last = 0). */
static inline const char *pf_take(const void *pf, size_t share, size_t lines, size_t *next,
                                  const void *idle, size_t *last)
{
    const char *p = (const char *)pf + *next * 64;
    size_t n = share;
    if (*next + n > lines) n = lines - *next;
    *next += n;
    *last = n ? n - 1 : 0;
    return n ? p : (const char *)idle;
}

/* ---- AVX-512 BF16 screening for probe batches ----
 *
 * A GEMM-style micro-kernel: a register tile of 8 probes x 48 rows (24 accumulators of 16 rows
 * each), one vdpbf16ps per accumulator per pair of dimensions. Rows are packed once per tile
 * (search.c) into bf16 and transposed, 16 rows per vector, so that the probe side is a single
 * broadcast pair and no horizontal sums are needed; the packing is paid once for all probes.
 * bf16 keeps 8 significant bits, so the scores are only bounds; see kernels.h. */

#define T_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))

/* Relative error of one screened score against the exact kernel's, per |row| |probe|: bf16
 * rounding of both operands (2u + u^2, u = 2^-8), float summation in the screen and in the
 * exact kernel (each < 1.01 dpad 2^-24), and slack for the float norms. */
static float screen_eps(int dpad)
{
    return (1.0f / 128 + 1.0f / 65536 + 2.02f * (float)dpad / 16777216.0f) * 1.002f;
}

static T_BF16 INL __m512 ld16u(const uint8_t *row, int d, int f16)
{
    if (f16)
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + d)));
    return _mm512_loadu_ps((const float *)row + d);
}

/* 32 elements from d -> 16 pairs of bf16 (low half = even dimension). */
static T_BF16 INL __m512i pairs_bf16(const uint8_t *row, int d, int f16)
{
    return (__m512i)_mm512_cvtne2ps_pbh(ld16u(row, d + 16, f16), ld16u(row, d, f16));
}

static T_BF16 INL float norm_bound(const uint8_t *row, int dpad, int f16)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    for (int d = 0; d < dpad; d += 32) {
        __m512 x0 = ld16u(row, d, f16), x1 = ld16u(row, d + 16, f16);
        a0 = _mm512_fmadd_ps(x0, x0, a0);
        a1 = _mm512_fmadd_ps(x1, x1, a1);
    }
    return sqrtf(_mm512_reduce_add_ps(_mm512_add_ps(a0, a1))) * 1.001f + 1e-12f;
}

static T_BF16 void screen_prep(const float *probes, int np, int dpad, void *qpack,
                               float *qbound)
{
    uint32_t *q = qpack;
    int d2n = dpad / 2, npad = (np + SPT - 1) / SPT * SPT;
    float eps = screen_eps(dpad);
    for (int p = 0; p < npad; p++) {
        uint32_t *dst = q + (size_t)(p / SPT) * d2n * SPT + p % SPT;
        if (p >= np) {
            for (int i = 0; i < d2n; i++) dst[(size_t)i * SPT] = 0;
            continue;
        }
        const uint8_t *x = (const uint8_t *)(probes + (size_t)p * dpad);
        for (int d = 0; d < dpad; d += 32) {
            uint32_t t[16];
            _mm512_storeu_si512(t, pairs_bf16(x, d, 0));
            for (int j = 0; j < 16; j++) dst[(size_t)(d / 2 + j) * SPT] = t[j];
        }
        qbound[p] = eps * norm_bound(x, dpad, 0);
    }
}

/* v[i][j] -> v[j][i] for 16 x 16 32-bit elements. */
static T_BF16 INL void transpose16(__m512i v[16])
{
    __m512i a[16], b[16];
    for (int i = 0; i < 16; i += 2) {
        a[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
        a[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
    }
    /* b[4g + m], lane k: rows 4g..4g+3 at column 4k + m */
    for (int g = 0; g < 4; g++) {
        b[4 * g + 0] = _mm512_unpacklo_epi64(a[4 * g], a[4 * g + 2]);
        b[4 * g + 1] = _mm512_unpackhi_epi64(a[4 * g], a[4 * g + 2]);
        b[4 * g + 2] = _mm512_unpacklo_epi64(a[4 * g + 1], a[4 * g + 3]);
        b[4 * g + 3] = _mm512_unpackhi_epi64(a[4 * g + 1], a[4 * g + 3]);
    }
    for (int m = 0; m < 4; m++) {
        __m512i u0 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0x88);
        __m512i u1 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0xdd);
        __m512i u2 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0x88);
        __m512i u3 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0xdd);
        v[m] = _mm512_shuffle_i32x4(u0, u2, 0x88);
        v[4 + m] = _mm512_shuffle_i32x4(u1, u3, 0x88);
        v[8 + m] = _mm512_shuffle_i32x4(u0, u2, 0xdd);
        v[12 + m] = _mm512_shuffle_i32x4(u1, u3, 0xdd);
    }
}

static T_BF16 INL void screen_pack(const void *rows, size_t stride, size_t nrows, int dpad,
                                   void *packed, float *rbound, const int f16)
{
    const uint8_t *base = rows;
    uint32_t *out = packed;
    size_t d2n = (size_t)dpad / 2, nr = facet_screen_rows(nrows);
    /* Norms from the packed bf16 values: |x| <= |bf16(x)| / (1 - 2^-8), and the float sum of
     * exact bf16 squares loses at most a factor (1 - dpad 2^-24). */
    float grow = (1.0f + 1.0f / 255) * (1.0f + 1.01f * (float)dpad / 16777216.0f) * 1.0001f;
    for (size_t g = 0; g < nr; g += 16) {
        uint32_t *dst = out + g * d2n;
        size_t live = nrows > g ? nrows - g : 0;
        if (live > 16) live = 16;
        __m512 ss[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                        _mm512_setzero_ps()};
        for (int c = 0; c < dpad; c += 32) {
            __m512i v[16];
            for (size_t i = 0; i < 16; i++)
                v[i] = i < live ? pairs_bf16(base + (g + i) * stride, c, f16)
                                : _mm512_setzero_si512();
            transpose16(v);
            for (int j = 0; j < 16; j++) {
                _mm512_store_si512(dst + (size_t)(c / 2 + j) * 16, v[j]);
                ss[j & 3] = _mm512_dpbf16_ps(ss[j & 3], (__m512bh)v[j], (__m512bh)v[j]);
            }
        }
        __m512 s2 = _mm512_add_ps(_mm512_add_ps(ss[0], ss[1]), _mm512_add_ps(ss[2], ss[3]));
        __m512 nb = _mm512_mul_ps(_mm512_sqrt_ps(s2), _mm512_set1_ps(grow));
        _mm512_store_ps(rbound + g, _mm512_add_ps(nb, _mm512_set1_ps(1e-12f)));
    }
}

static T_BF16 void screen_pack_f32(const void *rows, size_t stride, size_t nrows, int dpad,
                                   void *packed, float *rbound)
{
    screen_pack(rows, stride, nrows, dpad, packed, rbound, 0);
}

static T_BF16 void screen_pack_f16(const void *rows, size_t stride, size_t nrows, int dpad,
                                   void *packed, float *rbound)
{
    screen_pack(rows, stride, nrows, dpad, packed, rbound, 1);
}

static T_BF16 size_t screen_bf16(const void *packed, const float *rbound, size_t nrows, int dpad,
                                 const void *qpack, const float *qbound, int p0, int np,
                                 const float *thr, uint32_t *cand, const void *pf,
                                 size_t pf_bytes)
{
    const uint32_t *pk = packed, *qp = qpack;
    size_t d2n = (size_t)dpad / 2, nc = 0;
    /* the prefetch lines shared out over the micro-tiles, one line per inner step at most */
    size_t pf_lines, pf_next = 0;
    size_t pf_share = pf_plan(nrows, SRG, np, pf, pf_bytes, d2n, &pf_lines);
    for (size_t r0 = 0; r0 < nrows; r0 += SRG) {
        const uint32_t *g0 = pk + r0 * d2n, *g1 = g0 + 16 * d2n, *g2 = g1 + 16 * d2n;
        __m512 rb[3];
        __mmask16 valid[3];
        for (int v = 0; v < 3; v++) {
            rb[v] = _mm512_load_ps(rbound + r0 + 16 * v);
            size_t live = nrows > r0 + 16 * v ? nrows - r0 - 16 * v : 0;
            valid[v] = live >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << live) - 1);
        }
        for (int pt = 0; pt < np; pt += SPT) {
            const uint32_t *qt = qp + (size_t)(p0 + pt) / SPT * d2n * SPT;
            size_t pfn;
            const char *pfp = pf_take(pf, pf_share, pf_lines, &pf_next, qt, &pfn);
            __m512 acc[SPT][3];
#pragma GCC unroll 8
            for (int j = 0; j < SPT; j++)
                acc[j][0] = acc[j][1] = acc[j][2] = _mm512_setzero_ps();
            for (size_t i = 0; i < d2n; i++) {
                __m512bh x0 = (__m512bh)_mm512_load_si512(g0 + i * 16);
                __m512bh x1 = (__m512bh)_mm512_load_si512(g1 + i * 16);
                __m512bh x2 = (__m512bh)_mm512_load_si512(g2 + i * 16);
                _mm_prefetch(pfp + (i < pfn ? i : pfn) * 64, _MM_HINT_T0);
#pragma GCC unroll 8
                for (int j = 0; j < SPT; j++) {
                    __m512bh b = (__m512bh)_mm512_set1_epi32((int)qt[i * SPT + j]);
                    acc[j][0] = _mm512_dpbf16_ps(acc[j][0], x0, b);
                    acc[j][1] = _mm512_dpbf16_ps(acc[j][1], x1, b);
                    acc[j][2] = _mm512_dpbf16_ps(acc[j][2], x2, b);
                }
            }
            int pn = np - pt < SPT ? np - pt : SPT;
            for (int j = 0; j < pn; j++) {
                __m512 qb = _mm512_set1_ps(qbound[p0 + pt + j]), t = _mm512_set1_ps(thr[pt + j]);
                for (int v = 0; v < 3; v++) {
                    __m512 ub = _mm512_fmadd_ps(rb[v], qb, acc[j][v]);
                    unsigned m = _mm512_mask_cmp_ps_mask(valid[v], ub, t, _CMP_GT_OQ);
                    while (m) {
                        unsigned i = (unsigned)__builtin_ctz(m);
                        cand[nc++] = (uint32_t)(pt + j) << 16 | (uint32_t)(r0 + 16 * (size_t)v + i);
                        m &= m - 1;
                    }
                }
            }
        }
    }
    return nc;
}

static const facet_screen screen_f32 = {"avx512bf16", screen_prep, screen_pack_f32, screen_bf16};
static const facet_screen screen_f16 = {"avx512bf16", screen_prep, screen_pack_f16, screen_bf16};

/* ---- AVX2 int16 screening for probe batches ----
 *
 * Without BF16, the screen runs on integers: every row and every probe is scaled by its own
 * float s and rounded to int16 (a = round(x / s)), and vpmaddwd multiplies 16 pairs per
 * instruction with exact int32 sums, twice the multiplies of an fp32 FMA. The register tile
 * is 4 probes x 24 rows (12 accumulators of 8 rows); rows are packed in groups of 8,
 * transposed so that one vector holds one pair of dimensions of 8 rows and a probe's pair is a
 * broadcast, as in the BF16 screen. approx = s_x s_q (a . b), then the same upper bound
 * approx + rb * qb.
 *
 * The bound. s = max(M / 32767, N / NQ) for M = max |x_i| and N >= |x|, so |a_i| <= 32767
 * and |a| <= NQ + sqrt(dpad) / 2 < 46341: by Cauchy-Schwarz every partial sum of a . b stays
 * below 46341^2 < 2^31, so the int32 sums never overflow. Rounding leaves
 * |e| = |x - s a| <= sqrt(dpad) s / 2 + 2^-22 |x| <= rho |x|, rho = sqrt(dpad) / 65534 * 1.0001
 * + 2^-22 (s <= 1.0001 |x| / 32767). Then |x . q - s_x s_q a . b| <= |e_x||q| + |s_x a||e_q|
 * <= (2 rho + rho^2) |x||q|; the float products of approx, the exact kernel's own float sum
 * (< 1.01 dpad 2^-24 |x||q|) and the rounding of the bound add (1.01 dpad + 5) 2^-24. So
 * rb = N (>= |x|) and qb = N_q (2 rho + rho^2 + (1.01 dpad + 5) 2^-24) * 1.001. About 7e-4
 * |x||q| at 512 dimensions, a tenth of the BF16 screen's. A vector whose largest element is
 * outside [2^-40, 2^40] (zero, huge, or not finite) gets s = 0, a = 0 and an infinite bound,
 * so every pair with it is a candidate and the exact kernel decides. */

#define I16_NQ(dpad) (46000.0f - sqrtf((float)(dpad)))
/* A prepared tile of SPT probes: d2n pairs of SPT probes, then their SPT scales (uint32s). */
#define I16_QTILE(d2n) ((size_t)(d2n) * SPT + SPT)

static float i16_eps(int dpad)
{
    float rho = sqrtf((float)dpad) / 65534.0f * 1.0001f + 1.0f / 4194304;
    return (2 * rho + rho * rho + (1.01f * (float)dpad + 5) / 16777216.0f) * 1.001f;
}

static T_AVX2 INL __m256 ld8u(const uint8_t *row, int d, int f16)
{
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + d)));
    return _mm256_loadu_ps((const float *)row + d);
}

/* Scale of one vector: s (0 for a degenerate vector) and its 1/s, and N >= |x| (+inf when
 * degenerate). */
static T_AVX2 void i16_scale(const uint8_t *x, int dpad, int f16, float *s, float *inv,
                             float *norm)
{
    __m256 ss0 = _mm256_setzero_ps(), ss1 = ss0, m0 = ss0, m1 = ss0;
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int d = 0; d < dpad; d += 16) {
        __m256 v0 = ld8u(x, d, f16), v1 = ld8u(x, d + 8, f16);
        ss0 = _mm256_fmadd_ps(v0, v0, ss0);
        ss1 = _mm256_fmadd_ps(v1, v1, ss1);
        /* max with the running max second: a NaN element makes the max NaN */
        m0 = _mm256_max_ps(_mm256_and_ps(v0, abs), m0);
        m1 = _mm256_max_ps(_mm256_and_ps(v1, abs), m1);
    }
    __m256 m = _mm256_max_ps(m0, m1);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float mx = _mm_cvtss_f32(h);
    /* the float sum of squares is within 1.01 dpad 2^-24 of the true one; sqrt rounds once */
    float n = sqrtf(hsum256(_mm256_add_ps(ss0, ss1))) *
              (1.0f + (1.01f * (float)dpad + 8) / 16777216.0f);
    if (!(mx >= 0x1p-40f && mx <= 0x1p40f) || !(n <= 0x1p60f)) {
        *s = *inv = 0;
        *norm = INFINITY;
        return;
    }
    float sm = mx / 32767.0f, sn = n / I16_NQ(dpad);
    *s = sm > sn ? sm : sn;
    *inv = 1.0f / *s;
    *norm = n;
}

/* Dimensions d..d+15 of x, scaled by inv and rounded to int16 (nearest even). packs_epi32
 * leaves the pairs in the order (0,1) (2,3) (8,9) (10,11) (4,5) (6,7) (12,13) (14,15); rows and
 * probes go through this same function, so the pairs line up and the dot product is the
 * same. */
static T_AVX2 INL __m256i i16_q16(const uint8_t *x, int d, int f16, __m256 inv)
{
    __m256i lo = _mm256_cvtps_epi32(_mm256_mul_ps(ld8u(x, d, f16), inv));
    __m256i hi = _mm256_cvtps_epi32(_mm256_mul_ps(ld8u(x, d + 8, f16), inv));
    return _mm256_packs_epi32(lo, hi);
}

static T_AVX2 void screen_prep_i16(const float *probes, int np, int dpad, void *qpack,
                                   float *qbound)
{
    uint32_t *q = qpack;
    int d2n = dpad / 2, npad = (np + SPT - 1) / SPT * SPT;
    float eps = i16_eps(dpad);
    for (int p = 0; p < npad; p++) {
        uint32_t *tile = q + (size_t)(p / SPT) * I16_QTILE(d2n), *dst = tile + p % SPT;
        const uint8_t *x = (const uint8_t *)(probes + (size_t)p * dpad);
        float s = 0, inv = 0, n = 0;
        if (p < np) i16_scale(x, dpad, 0, &s, &inv, &n);
        memcpy(tile + (size_t)d2n * SPT + p % SPT, &s, 4);
        if (p < np) qbound[p] = n * eps;
        for (int d = 0; d < dpad; d += 16) {
            uint32_t t[8];
            _mm256_storeu_si256((__m256i *)t, p < np ? i16_q16(x, d, 0, _mm256_set1_ps(inv))
                                                     : _mm256_setzero_si256());
            for (int j = 0; j < 8; j++) dst[(size_t)(d / 2 + j) * SPT] = t[j];
        }
    }
}

/* v[i][j] -> v[j][i] for 8 x 8 32-bit elements. */
static T_AVX2 INL void transpose8(__m256i v[8])
{
    __m256i a[8], b[8];
    for (int i = 0; i < 8; i += 2) {
        a[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
        a[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
    }
    for (int g = 0; g < 2; g++) {
        b[4 * g + 0] = _mm256_unpacklo_epi64(a[4 * g], a[4 * g + 2]);
        b[4 * g + 1] = _mm256_unpackhi_epi64(a[4 * g], a[4 * g + 2]);
        b[4 * g + 2] = _mm256_unpacklo_epi64(a[4 * g + 1], a[4 * g + 3]);
        b[4 * g + 3] = _mm256_unpackhi_epi64(a[4 * g + 1], a[4 * g + 3]);
    }
    for (int m = 0; m < 4; m++) {
        v[m] = _mm256_permute2x128_si256(b[m], b[4 + m], 0x20);
        v[4 + m] = _mm256_permute2x128_si256(b[m], b[4 + m], 0x31);
    }
}

static T_AVX2 INL void screen_pack_i16(const void *rows, size_t stride, size_t nrows, int dpad,
                                       void *packed, float *rbound, const int f16)
{
    const uint8_t *base = rows;
    uint32_t *out = packed;
    size_t d2n = (size_t)dpad / 2, nr = facet_screen_rows(nrows);
    float *rs = (float *)(out + nr * d2n);
    for (size_t g = 0; g < nr; g += 8) {
        uint32_t *dst = out + g * d2n;
        size_t live = nrows > g ? nrows - g : 0;
        if (live > 8) live = 8;
        __m256 inv[8];
        for (size_t i = 0; i < 8; i++) {
            float sc = 0, iv = 0, n = 0;
            if (i < live) i16_scale(base + (g + i) * stride, dpad, f16, &sc, &iv, &n);
            rs[g + i] = sc;
            rbound[g + i] = n;
            inv[i] = _mm256_set1_ps(iv);
        }
        for (int c = 0; c < dpad; c += 16) {
            __m256i v[8];
            for (size_t i = 0; i < 8; i++)
                v[i] = i < live ? i16_q16(base + (g + i) * stride, c, f16, inv[i])
                                : _mm256_setzero_si256();
            transpose8(v);
            for (int j = 0; j < 8; j++) _mm256_store_si256((__m256i *)(dst + (size_t)(c / 2 + j) * 8), v[j]);
        }
    }
}

static T_AVX2 void screen_pack_i16_f32(const void *rows, size_t stride, size_t nrows, int dpad,
                                       void *packed, float *rbound)
{
    screen_pack_i16(rows, stride, nrows, dpad, packed, rbound, 0);
}

static T_AVX2 void screen_pack_i16_f16(const void *rows, size_t stride, size_t nrows, int dpad,
                                       void *packed, float *rbound)
{
    screen_pack_i16(rows, stride, nrows, dpad, packed, rbound, 1);
}

/* Register tile: 4 probes x 16 rows, 8 accumulators of 8 rows, plus 2 row vectors, a
 * broadcast and a product: 12 of the 16 ymm registers (4 x 24 rows needed 17 and spilled).
 * The inner loop below is written out for exactly this shape. */
#define I16_RV 2           /* row vectors of 8 per tile */
#define I16_RT (8 * I16_RV) /* rows per tile; SRG is a multiple */
#define I16_PT 4           /* probes per tile: half a prepared probe tile */

static T_AVX2 size_t screen_i16(const void *packed, const float *rbound, size_t nrows, int dpad,
                                const void *qpack, const float *qbound, int p0, int np,
                                const float *thr, uint32_t *cand, const void *pf,
                                size_t pf_bytes)
{
    const uint32_t *pk = packed, *qp = qpack;
    size_t d2n = (size_t)dpad / 2, nc = 0, nr = facet_screen_rows(nrows);
    const float *rs = (const float *)(pk + nr * d2n);
    size_t pf_lines, pf_next = 0;
    size_t pf_share = pf_plan(nrows, I16_RT, np, pf, pf_bytes, d2n, &pf_lines);
    for (size_t r0 = 0; r0 < nrows; r0 += I16_RT) {
        const uint32_t *g[I16_RV];
        __m256 rb[I16_RV], sx[I16_RV];
        unsigned valid[I16_RV];
        for (int v = 0; v < I16_RV; v++) {
            g[v] = pk + (r0 + 8 * (size_t)v) * d2n;
            rb[v] = _mm256_loadu_ps(rbound + r0 + 8 * v);
            sx[v] = _mm256_loadu_ps(rs + r0 + 8 * v);
            size_t live = nrows > r0 + 8 * (size_t)v ? nrows - r0 - 8 * (size_t)v : 0;
            valid[v] = live >= 8 ? 0xffu : (1u << live) - 1;
        }
        for (int pt = 0; pt < np; pt += I16_PT) {
            const uint32_t *qt = qp + (size_t)(p0 + pt) / SPT * I16_QTILE(d2n) + (size_t)(pt % SPT);
            size_t pfn;
            const char *pfp = pf_take(pf, pf_share, pf_lines, &pf_next, qt, &pfn);
            /* this micro-tile's share of the prefetch, in one burst */
            for (size_t l = 0; l <= pfn; l++) _mm_prefetch(pfp + l * 64, _MM_HINT_T0);
            /* named accumulators: GCC spills and shuffles an array of them */
            __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00,
                    a21 = a00, a30 = a00, a31 = a00;
            const uint32_t *q = qt, *x0p = g[0], *x1p = g[1];
            for (size_t i = 0; i < d2n; i++, q += SPT, x0p += 8, x1p += 8) {
                __m256i x0 = _mm256_load_si256((const __m256i *)x0p);
                __m256i x1 = _mm256_load_si256((const __m256i *)x1p);
                __m256i b = _mm256_set1_epi32((int)q[0]);
                a00 = _mm256_add_epi32(a00, _mm256_madd_epi16(x0, b));
                a01 = _mm256_add_epi32(a01, _mm256_madd_epi16(x1, b));
                b = _mm256_set1_epi32((int)q[1]);
                a10 = _mm256_add_epi32(a10, _mm256_madd_epi16(x0, b));
                a11 = _mm256_add_epi32(a11, _mm256_madd_epi16(x1, b));
                b = _mm256_set1_epi32((int)q[2]);
                a20 = _mm256_add_epi32(a20, _mm256_madd_epi16(x0, b));
                a21 = _mm256_add_epi32(a21, _mm256_madd_epi16(x1, b));
                b = _mm256_set1_epi32((int)q[3]);
                a30 = _mm256_add_epi32(a30, _mm256_madd_epi16(x0, b));
                a31 = _mm256_add_epi32(a31, _mm256_madd_epi16(x1, b));
            }
            __m256i acc[I16_PT][I16_RV] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
            int pn = np - pt < I16_PT ? np - pt : I16_PT;
            for (int j = 0; j < pn; j++) {
                __m256 qb = _mm256_set1_ps(qbound[p0 + pt + j]), t = _mm256_set1_ps(thr[pt + j]);
                float sqs;
                memcpy(&sqs, qt + d2n * SPT + j, 4);
                __m256 sq = _mm256_set1_ps(sqs);
                for (int v = 0; v < I16_RV; v++) {
                    __m256 approx =
                        _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[j][v]), sx[v]), sq);
                    __m256 ub = _mm256_fmadd_ps(rb[v], qb, approx);
                    unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(ub, t, _CMP_GT_OQ)) &
                                 valid[v];
                    while (m) {
                        unsigned i = (unsigned)__builtin_ctz(m);
                        cand[nc++] = (uint32_t)(pt + j) << 16 | (uint32_t)(r0 + 8 * (size_t)v + i);
                        m &= m - 1;
                    }
                }
            }
        }
    }
    return nc;
}

static const facet_screen screen_i16_f32 = {"avx2int16", screen_prep_i16, screen_pack_i16_f32,
                                            screen_i16};
static const facet_screen screen_i16_f16 = {"avx2int16", screen_prep_i16, screen_pack_i16_f16,
                                            screen_i16};

#endif

const facet_screen *facet_screen_for(facet_dot_fn exact)
{
#ifdef FACET_X86
    unsigned avx2 = FACET_CPU_AVX2 | FACET_CPU_FMA | FACET_CPU_F16C;
    unsigned bf16 = avx2 | FACET_CPU_AVX512F | FACET_CPU_AVX512BW | FACET_CPU_AVX512BF16;
    unsigned f = facet_cpu_flags();
    /* the screen follows the exact kernel's ISA: AVX-512 without BF16 keeps the exact kernel */
    if ((f & bf16) == bf16 && exact == dot_avx512_f32) return &screen_f32;
    if ((f & bf16) == bf16 && exact == dot_avx512_f16) return &screen_f16;
    if ((f & avx2) == avx2 && exact == dot_avx2_f32) return &screen_i16_f32;
    if ((f & avx2) == avx2 && exact == dot_avx2_f16) return &screen_i16_f16;
#else
    (void)exact;
#endif
    return NULL;
}

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
