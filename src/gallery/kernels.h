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
