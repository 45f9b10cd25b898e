/*
 * kernels.h - the 1:N search kernels (private). A collection keeps its faceprints as a
 * row-major matrix of `n` rows, each `stride` bytes and 64-byte aligned, zero-padded from `dim`
 * to `dpad` (a multiple of 32) elements, in fp32 or fp16. Probes are fp32, padded the same way,
 * so the padding adds exact zeros. A dot kernel scores a block of up to FACET_PBLOCK probes
 * against a run of rows, reading each row once for the whole block.
 */
#ifndef FACET_GALLERY_KERNELS_H
#define FACET_GALLERY_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "facet/gallery.h"

#define FACET_PBLOCK 8

/* scores[p * ld + r] = <probes[p * dpad ..], row r> for p < np (1..FACET_PBLOCK), r < nrows. */
typedef void (*facet_dot_fn)(const void *rows, size_t stride, size_t nrows, const float *probes,
                             int np, int dpad, float *scores, size_t ld);

/* The fastest kernel for this dtype under the given CPU flags (facet_cpu_flags()), and its
 * name ("ref", "avx2", "avx512"). */
facet_dot_fn facet_dot_select(facet_dtype dtype, unsigned cpu_flags, const char **name);
void facet_dot_ref_f32(const void *rows, size_t stride, size_t nrows, const float *probes, int np,
                       int dpad, float *scores, size_t ld);
void facet_dot_ref_f16(const void *rows, size_t stride, size_t nrows, const float *probes, int np,
                       int dpad, float *scores, size_t ld);

/* Screening for probe batches: a fast first pass that gives, for each probe p and row r, an
 * upper bound on the score the exact kernel would give, approx + bound(r, p), where
 * bound = eps(dpad) * |row| * |probe| holds by Cauchy-Schwarz for the rounding of both
 * operands and the float summation of both passes. Two screens: AVX-512 BF16 dot products on
 * rows and probes rounded to bfloat16 (2^-8 relative per operand), and, for AVX2 machines,
 * vpmaddwd on rows and probes scaled and rounded to int16 (kernels.c derives its bound, ~7e-4
 * relative at 512 dimensions). Only rows whose bound beats the probe's current k-th best are
 * scored again with the exact kernel, so the search result is exactly that of the exact kernel.
 *
 * Layouts (opaque to callers, sizes from the functions below): prepared probes come in tiles
 * of FACET_SCREEN_PT; packed rows in groups (16 rows for BF16, 8 for int16), transposed so that
 * one vector holds one pair of dimensions of the group, and a float scale per row or probe
 * where the screen needs one. */
#define FACET_SBLOCK 64   /* probes per screen call */
#define FACET_SCREEN_PT 8 /* probes per register tile */
#define FACET_SCREEN_RG 48 /* rows per register tile; packed row counts round up to it */
typedef struct facet_screen {
    const char *name;
    /* probes[np][dpad] -> qpack (facet_screen_qpack_bytes), qbound[np] */
    void (*prep)(const float *probes, int np, int dpad, void *qpack, float *qbound);
    /* rows -> packed (facet_screen_pack_bytes(nrows)), rbound[round up nrows to RG] */
    void (*pack)(const void *rows, size_t stride, size_t nrows, int dpad, void *packed,
                 float *rbound);
    /* For probes [p0, p0 + np) of a prepared set (p0 a multiple of FACET_SCREEN_PT, np <=
     * FACET_SBLOCK) and packed rows < nrows: writes cand[] = (p - p0) << 16 | r for every pair
     * whose upper bound is > thr[p - p0], grouped by row tile, in increasing r for each p.
     * Returns the count (at most np * nrows). nrows <= 65535. While it computes, it prefetches
     * the pf_bytes at pf (the next rows to pack, or NULL): the screen is bound by arithmetic
     * and the packing by memory, so the two overlap. */
    size_t (*screen)(const void *packed, const float *rbound, size_t nrows, int dpad,
                     const void *qpack, const float *qbound, int p0, int np, const float *thr,
                     uint32_t *cand, const void *pf, size_t pf_bytes);
} facet_screen;

/* The screening companion of an exact kernel from facet_dot_select, or NULL (reference
 * kernels, AVX-512 CPUs without BF16): BF16 for the AVX-512 kernels, int16 for the AVX2 ones. */
const facet_screen *facet_screen_for(facet_dot_fn exact);
/* (Both layouts fit: dpad bf16 or int16 values per probe and row, plus a float scale each.) */
static inline size_t facet_screen_qpack_bytes(size_t np, int dpad)
{
    return (np + FACET_SCREEN_PT - 1) / FACET_SCREEN_PT * FACET_SCREEN_PT * ((size_t)dpad * 2 + 4);
}
static inline size_t facet_screen_rows(size_t nrows)
{
    return (nrows + FACET_SCREEN_RG - 1) / FACET_SCREEN_RG * FACET_SCREEN_RG;
}
static inline size_t facet_screen_pack_bytes(size_t nrows, int dpad)
{
    return facet_screen_rows(nrows) * ((size_t)dpad * 2 + 4);
}

/* IEEE half precision, round to nearest even; NaN stays NaN, overflow gives infinity. */
uint16_t facet_f32_to_f16(float f);
float facet_f16_to_f32(uint16_t h);

/* Padded row length (elements) and row stride (bytes) for a dimension and dtype. */
static inline int facet_dpad(int dim) { return (dim + 31) & ~31; }
static inline size_t facet_row_stride(int dim, facet_dtype dt)
{
    return (size_t)facet_dpad(dim) * (dt == FACET_DTYPE_F16 ? 2u : 4u);
}

/* Exact top-k search of `np` padded probes over `nrows` rows. Results per probe, best first:
 * out_score[i * k + j], out_row[i * k + j], out_n[i] = min(k, nrows). `pool` may be NULL
 * (single thread). Returns 0, or FACET_E_NO_MEMORY. */
typedef struct facet_search_args {
    const void *rows;
    size_t stride, nrows;
    int dpad;
    facet_dot_fn dot;
    const float *probes;
    size_t np;
    int k;
    void *pool; /* pthreadpool_t */
    int threads;
} facet_search_args;
int facet_search(const facet_search_args *a, float *out_score, uint32_t *out_row, int *out_n);

#endif
