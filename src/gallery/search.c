/*
 * search.c - exact top-k search over a faceprint matrix, threaded with pthreadpool.
 *
 * The rows are cut into chunks (a few per thread, so an uneven machine still balances); each
 * chunk task walks its rows in tiles small enough to stay in L2 and, for each tile, runs every
 * block of FACET_PBLOCK probes over it. So a row comes from memory once per search however many
 * probes there are, and from L2 once per probe block. Each task keeps its own top-k heap per
 * probe (no locks); the heaps of all chunks are merged at the end.
 */
#include <math.h>
#include <pthreadpool.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "kernels.h"

#ifndef FACET_SCREEN_MIN_PROBES
#define FACET_SCREEN_MIN_PROBES 8
#endif

/* Min-heap on score of size <= k: the root is the weakest of the best k so far. */
static void heap_push(float *hs, uint32_t *hr, int *n, int k, float s, uint32_t row)
{
    int i;
    if (*n < k) {
        i = (*n)++;
        while (i > 0) {
            int parent = (i - 1) / 2;
            if (hs[parent] <= s) break;
            hs[i] = hs[parent];
            hr[i] = hr[parent];
            i = parent;
        }
    } else {
        if (!(s > hs[0])) return;
        i = 0;
        for (;;) {
            int c = 2 * i + 1;
            if (c >= k) break;
            if (c + 1 < k && hs[c + 1] < hs[c]) c++;
            if (hs[c] >= s) break;
            hs[i] = hs[c];
            hr[i] = hr[c];
            i = c;
        }
    }
    hs[i] = s;
    hr[i] = row;
}

typedef struct job {
    const facet_search_args *a;
    size_t nchunks, chunk_rows, tile_rows;
    float *hs;      /* [chunk][probe][k] */
    uint32_t *hr;
    int *hn;        /* [chunk][probe] */
    float *scratch; /* [chunk][FACET_PBLOCK * tile_rows] */
    /* probe batches on a CPU with a screening kernel (kernels.h) */
    const facet_screen *scr;
    void *qpack, *packed;  /* prepared probes; [chunk] packed tile */
    float *qbound, *rbound; /* [np]; [chunk][screen rows of a tile] */
    uint32_t *cand;        /* [chunk][FACET_SBLOCK * tile_rows] */
} job;

/* The screened path: the tile is packed once, each block of probes screened over it, and only
 * the surviving (probe, row) pairs scored by the exact kernel and offered to the heaps. The
 * threshold each screen call sees is the k-th best when the call starts; it only rises, so a
 * stale one admits extra candidates but never loses one. */
static void run_tile_screened(const job *j, size_t c, size_t t, size_t nt, size_t r1,
                              float *hs, uint32_t *hr, int *hn)
{
    const facet_search_args *a = j->a;
    int k = a->k;
    size_t prow = facet_screen_rows(j->tile_rows);
    void *packed = (uint8_t *)j->packed + c * facet_screen_pack_bytes(j->tile_rows, a->dpad);
    float *rb = j->rbound + c * prow;
    uint32_t *cand = j->cand + c * FACET_SBLOCK * j->tile_rows;
    const uint8_t *rows = (const uint8_t *)a->rows + t * a->stride;
    float thr[FACET_SBLOCK];
    j->scr->pack(rows, a->stride, nt, a->dpad, packed, rb);
    for (size_t p0 = 0; p0 < a->np; p0 += FACET_SBLOCK) {
        int np = a->np - p0 < FACET_SBLOCK ? (int)(a->np - p0) : FACET_SBLOCK;
        for (int p = 0; p < np; p++)
            thr[p] = hn[p0 + p] < k ? -INFINITY : hs[(p0 + p) * (size_t)k];
        /* meanwhile, the next tile of this chunk comes into cache for its packing */
        size_t nnext = p0 == 0 && t + nt < r1 ? (r1 - t - nt < j->tile_rows ? r1 - t - nt
                                                                             : j->tile_rows)
                                              : 0;
        size_t nc = j->scr->screen(packed, rb, nt, a->dpad, j->qpack, j->qbound, (int)p0, np,
                                   thr, cand, nnext ? rows + nt * a->stride : NULL,
                                   nnext * a->stride);
        for (size_t i = 0; i < nc; i++) {
            size_t pi = p0 + (cand[i] >> 16), r = cand[i] & 0xffffu;
            float s;
            a->dot(rows + r * a->stride, a->stride, 1, a->probes + pi * a->dpad, 1, a->dpad, &s,
                   1);
            heap_push(hs + pi * k, hr + pi * k, &hn[pi], k, s, (uint32_t)(t + r));
        }
    }
}

static void run_chunk(void *ctx, size_t c)
{
    const job *j = ctx;
    const facet_search_args *a = j->a;
    size_t r0 = c * j->chunk_rows, r1 = r0 + j->chunk_rows;
    if (r1 > a->nrows) r1 = a->nrows;
    int k = a->k;
    float *hs = j->hs + c * a->np * (size_t)k;
    uint32_t *hr = j->hr + c * a->np * (size_t)k;
    int *hn = j->hn + c * a->np;
    float *sc = j->scratch + c * FACET_PBLOCK * j->tile_rows;
    for (size_t t = r0; t < r1; t += j->tile_rows) {
        size_t nt = r1 - t < j->tile_rows ? r1 - t : j->tile_rows;
        if (j->scr) {
            run_tile_screened(j, c, t, nt, r1, hs, hr, hn);
            continue;
        }
        const void *rows = (const uint8_t *)a->rows + t * a->stride;
        for (size_t p0 = 0; p0 < a->np; p0 += FACET_PBLOCK) {
            int np = a->np - p0 < FACET_PBLOCK ? (int)(a->np - p0) : FACET_PBLOCK;
            a->dot(rows, a->stride, nt, a->probes + p0 * a->dpad, np, a->dpad, sc, j->tile_rows);
            for (int p = 0; p < np; p++) {
                size_t pi = p0 + p;
                float *h = hs + pi * k;
                uint32_t *hrow = hr + pi * k;
                const float *s = sc + (size_t)p * j->tile_rows;
                int *n = &hn[pi];
                float thr = *n < k ? -INFINITY : h[0];
                for (size_t r = 0; r < nt; r++) {
                    /* NaN never enters: rows with NaN are refused at enrolment and load */
                    if (s[r] > thr || *n < k) {
                        heap_push(h, hrow, n, k, s[r], (uint32_t)(t + r));
                        thr = *n < k ? -INFINITY : h[0];
                    }
                }
            }
        }
    }
}

int facet_search(const facet_search_args *a, float *out_score, uint32_t *out_row, int *out_n)
{
    job j = {.a = a};
    int k = a->k;
    size_t nrows = a->nrows;
    /* Tiles of about 256 KiB: several stay in L2 while all probe blocks pass over them. */
    size_t tile = (256u << 10) / (a->stride ? a->stride : 1);
    if (tile < 16) tile = 16;
    if (tile > 1024) tile = 1024;
    j.tile_rows = tile;
    int threads = a->pool ? a->threads : 1;
    size_t work = nrows * a->np;
    size_t nchunks = 1;
    if (threads > 1 && nrows >= 2 * tile && work >= 65536) {
        nchunks = (size_t)threads * 4;
        size_t max_chunks = (nrows + tile - 1) / tile;
        if (nchunks > max_chunks) nchunks = max_chunks;
    }
    j.chunk_rows = (nrows + nchunks - 1) / nchunks;
    j.chunk_rows = (j.chunk_rows + tile - 1) / tile * tile; /* whole tiles per chunk */
    if (j.chunk_rows == 0) j.chunk_rows = tile;
    nchunks = (nrows + j.chunk_rows - 1) / j.chunk_rows;
    if (nchunks == 0) nchunks = 1;
    j.nchunks = nchunks;

    size_t nh = nchunks * a->np * (size_t)k;
    j.hs = facet_alloc(nh * sizeof(float));
    j.hr = facet_alloc(nh * sizeof(uint32_t));
    j.hn = facet_calloc(nchunks * a->np, sizeof(int));
    j.scratch = facet_alloc(nchunks * FACET_PBLOCK * tile * sizeof(float));
    int status = FACET_OK;
    if (!j.hs || !j.hr || !j.hn || !j.scratch) {
        status = FACET_E_NO_MEMORY;
        goto done;
    }
    /* Screening pays from a handful of probes on; one probe is a memory scan. */
    j.scr = a->np >= FACET_SCREEN_MIN_PROBES ? facet_screen_for(a->dot) : NULL;
    if (j.scr) {
        size_t prow = facet_screen_rows(tile);
        j.qpack = facet_alloc(facet_screen_qpack_bytes(a->np, a->dpad));
        j.qbound = facet_alloc(a->np * sizeof(float));
        j.packed = facet_alloc(nchunks * facet_screen_pack_bytes(tile, a->dpad));
        j.rbound = facet_alloc(nchunks * prow * sizeof(float));
        j.cand = facet_alloc(nchunks * FACET_SBLOCK * tile * sizeof(uint32_t));
        if (!j.qpack || !j.qbound || !j.packed || !j.rbound || !j.cand) {
            status = FACET_E_NO_MEMORY;
            goto done;
        }
        j.scr->prep(a->probes, (int)a->np, a->dpad, j.qpack, j.qbound);
    }
    if (nchunks > 1) pthreadpool_parallelize_1d((pthreadpool_t)a->pool, run_chunk, &j, nchunks, 0);
    else run_chunk(&j, 0);

    /* Merge the chunks' heaps per probe, then sort best first. */
    for (size_t p = 0; p < a->np; p++) {
        float *hs = out_score + p * k;
        uint32_t *hr = out_row + p * k;
        int n = 0;
        for (size_t c = 0; c < nchunks; c++) {
            size_t off = (c * a->np + p) * (size_t)k;
            int cn = j.hn[c * a->np + p];
            for (int i = 0; i < cn; i++) heap_push(hs, hr, &n, k, j.hs[off + i], j.hr[off + i]);
        }
        /* Heap sort in place: pop the minimum to the end repeatedly gives descending order. */
        for (int m = n; m > 1; m--) {
            float s = hs[0];
            uint32_t r = hr[0];
            float ls = hs[m - 1];
            uint32_t lr = hr[m - 1];
            int mm = m - 1;
            /* rebuild the heap of size m-1 from the remaining elements */
            hs[0] = ls;
            hr[0] = lr;
            int i = 0;
            for (;;) {
                int c = 2 * i + 1;
                if (c >= mm) break;
                if (c + 1 < mm && hs[c + 1] < hs[c]) c++;
                if (hs[c] >= hs[i]) break;
                float ts = hs[i];
                uint32_t tr = hr[i];
                hs[i] = hs[c];
                hr[i] = hr[c];
                hs[c] = ts;
                hr[c] = tr;
                i = c;
            }
            hs[m - 1] = s;
            hr[m - 1] = r;
        }
        out_n[p] = n;
    }
done:
    facet_free_aligned(j.hs);
    facet_free_aligned(j.hr);
    free(j.hn);
    facet_free_aligned(j.scratch);
    facet_free_aligned(j.qpack);
    facet_free_aligned(j.qbound);
    facet_free_aligned(j.packed);
    facet_free_aligned(j.rbound);
    facet_free_aligned(j.cand);
    return status;
}
