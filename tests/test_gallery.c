/*
 * test_gallery.c - search kernels against the reference on random data, the top-k search
 * against brute force, and the collection API on the memory and SQLite stores (real files in a
 * temporary directory): enrol, remove, identities, model checks, payloads, corrupt rows,
 * reopening, and concurrent searches during enrolment. Run once more with FACET_CPU_MASK=0 so
 * that the reference paths serve the same checks.
 */
#include <pthread.h>
#include <pthreadpool.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "base/base.h"
#include "facet/facet.h"
#include "gallery/kernels.h"
#include "harness.h"
#include "store/store.h"

#define MODEL "fr_feature@87aacdfe"

static uint64_t rng = 88172645463325252ull;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static void unit_vec(float *v, int dim)
{
    double n = 0;
    for (int d = 0; d < dim; d++) {
        v[d] = (float)(urand() * 2 - 1);
        n += (double)v[d] * v[d];
    }
    for (int d = 0; d < dim; d++) v[d] = (float)(v[d] / sqrt(n));
}

static char tmpdir[256];
static const char *tmp_path(char *buf, size_t n, const char *name)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/facet-gallery-XXXXXX");
        if (!mkdtemp(tmpdir)) tmpdir[0] = 0;
    }
    snprintf(buf, n, "%s/%s", tmpdir, name);
    return buf;
}

/* ---- kernels ---- */

static void t_f16_conversion(void)
{
    CHECK_EQ(facet_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ(facet_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ(facet_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ(facet_f32_to_f16(1e6f), 0x7c00);
    CHECK_EQ(facet_f32_to_f16(5.9604645e-8f), 0x0001); /* smallest subnormal */
    CHECK(facet_f16_to_f32(facet_f32_to_f16(NAN)) != facet_f16_to_f32(facet_f32_to_f16(NAN)));
    /* every half round-trips, and rounding error is at most half an ulp */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        float f = facet_f16_to_f32((uint16_t)h);
        if (facet_f32_to_f16(f) != h && !(h == 0x8000)) bad++;
    }
    CHECK_EQ(bad, 0);
    for (int i = 0; i < 100000; i++) {
        float x = (float)(urand() * 2 - 1);
        float y = facet_f16_to_f32(facet_f32_to_f16(x));
        CHECK(fabsf(x - y) <= fabsf(x) * (1.0f / 2048) + 3e-8f);
        if (th_failed) break;
    }
}

/* Every fast kernel against the double-precision truth on random unit vectors. fp32
 * tolerance: 2e-6 (float accumulation of 512 terms of unit vectors); fp16 kernels against the
 * reference fp16 kernel (same rounded inputs): 2e-6; fp16 against exact fp32: 1e-3. */
static void t_kernels_match_reference(void)
{
    static const int dims[] = {512, 128, 100, 1};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        int dim = dims[di], dpad = facet_dpad(dim);
        size_t nrows = 37;
        size_t s32 = facet_row_stride(dim, FACET_DTYPE_F32), s16 = facet_row_stride(dim,
                                                                                    FACET_DTYPE_F16);
        float *r32 = facet_alloc_zeroed(nrows, s32), *probes = facet_alloc_zeroed(8 * (size_t)dpad, 4);
        uint16_t *r16 = facet_alloc_zeroed(nrows, s16);
        float *vec = malloc((size_t)dim * 4);
        for (size_t r = 0; r < nrows; r++) {
            unit_vec(vec, dim);
            for (int d = 0; d < dim; d++) {
                ((float *)((uint8_t *)r32 + r * s32))[d] = vec[d];
                ((uint16_t *)((uint8_t *)r16 + r * s16))[d] = facet_f32_to_f16(vec[d]);
            }
        }
        for (int p = 0; p < 8; p++) unit_vec(probes + p * dpad, dim);
        float exact[8 * 37], ref16[8 * 37], got[8 * 37];
        for (int p = 0; p < 8; p++)
            for (size_t r = 0; r < nrows; r++) {
                double s = 0;
                for (int d = 0; d < dim; d++)
                    s += (double)probes[p * dpad + d] * ((float *)((uint8_t *)r32 + r * s32))[d];
                exact[p * nrows + r] = (float)s;
            }
        facet_dot_ref_f16(r16, s16, nrows, probes, 8, dpad, ref16, nrows);
        for (unsigned mask = 0; mask < 3; mask++) {
            unsigned flags = mask == 0 ? 0 : mask == 1 ? (FACET_CPU_AVX2 | FACET_CPU_FMA |
                                                          FACET_CPU_F16C)
                                                       : 0xffffffffu;
            flags &= facet_cpu_flags();
            for (int dt = 0; dt < 2; dt++) {
                const char *name;
                facet_dot_fn fn = facet_dot_select((facet_dtype)dt, flags, &name);
                for (int np = 1; np <= 8; np++) {
                    memset(got, 0, sizeof got);
                    fn(dt ? (void *)r16 : (void *)r32, dt ? s16 : s32, nrows, probes, np, dpad,
                       got, nrows);
                    for (int p = 0; p < np; p++)
                        for (size_t r = 0; r < nrows; r++) {
                            float g = got[p * nrows + r];
                            float want = dt ? ref16[p * nrows + r] : exact[p * nrows + r];
                            CHECK_MSG(fabsf(g - want) <= 2e-6f, "%s dt %d dim %d np %d: %g vs %g",
                                      name, dt, dim, np, g, want);
                            CHECK(fabsf(g - exact[p * nrows + r]) <= 1e-3f);
                            if (th_failed) goto done;
                        }
                }
            }
        }
    done:
        free(vec);
        facet_free_aligned(r32);
        facet_free_aligned(r16);
        facet_free_aligned(probes);
        if (th_failed) return;
    }
}

/* The CPU flags of every ISA level this machine (after FACET_CPU_MASK) can run, best first:
 * all it has, then AVX2 + FMA + F16C alone, so an AVX-512 machine also tests the AVX2 kernels
 * and the AVX2 int16 screen. */
static int isa_levels(unsigned *out)
{
    unsigned all = facet_cpu_flags(), avx2 = FACET_CPU_AVX2 | FACET_CPU_FMA | FACET_CPU_F16C;
    int n = 0;
    out[n++] = all;
    if ((all & avx2) == avx2 && all != (all & (avx2 | FACET_CPU_SSE41 | FACET_CPU_AVX)))
        out[n++] = all & (avx2 | FACET_CPU_SSE41 | FACET_CPU_AVX);
    return n;
}

/* Each screen (AVX-512 BF16, AVX2 int16) against the exact kernels on random data: for
 * thresholds set just under chosen exact scores, every (probe, row) whose exact score beats its
 * probe's threshold must be a candidate (no false negatives: that is what keeps the search
 * exact), candidates are unique and in range, and none is further than `loose` under its
 * threshold (unit vectors; the bound is 2^-7 |row| |probe| for BF16, ~7e-4 for int16, plus
 * rounding), so the screen really screens. Dims 512/128/100/1, row counts that are not
 * multiples of the 48-row tile, probe counts 1..70 over several blocks. */
static void t_screen_bounds(void)
{
    static const int dims[] = {512, 128, 100, 1};
    static const size_t nrows_list[] = {1, 47, 49, 131};
    static const int nps[] = {1, 5, 8, 9, 17, 64, 70};
    unsigned levels[2];
    int nlevels = isa_levels(levels), screens = 0;
    for (int it = 0; it < 2 * nlevels; it++) {
        int lv = it / 2, dt = it % 2;
        facet_dot_fn exact = facet_dot_select((facet_dtype)dt, levels[lv], NULL);
        const facet_screen *scr = facet_screen_for(exact);
        if (!scr) continue; /* no screen at this level (reference kernels, FACET_CPU_MASK) */
        screens++;
        float loose = strcmp(scr->name, "avx2int16") == 0 ? 0.004f : 0.02f;
        facet_dot_fn ref = dt ? facet_dot_ref_f16 : facet_dot_ref_f32;
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
            for (size_t ni = 0; ni < sizeof nrows_list / sizeof nrows_list[0]; ni++)
                for (size_t pi = 0; pi < sizeof nps / sizeof nps[0]; pi++) {
                    int dim = dims[di], dpad = facet_dpad(dim), np = nps[pi];
                    size_t nrows = nrows_list[ni];
                    size_t stride = facet_row_stride(dim, (facet_dtype)dt);
                    uint8_t *m = facet_alloc_zeroed(nrows, stride);
                    float *probes = facet_alloc_zeroed((size_t)np * dpad, 4);
                    float *vec = malloc((size_t)dim * 4), *sc = malloc((size_t)np * nrows * 4);
                    float *qb = facet_alloc((size_t)np * 4);
                    float *rb = facet_alloc(facet_screen_rows(nrows) * 4);
                    void *qp = facet_alloc(facet_screen_qpack_bytes((size_t)np, dpad));
                    void *pk = facet_alloc(facet_screen_pack_bytes(nrows, dpad));
                    uint32_t *cand = malloc((size_t)FACET_SBLOCK * nrows * 4);
                    char *seen = calloc((size_t)np * nrows, 1);
                    for (size_t r = 0; r < nrows; r++) {
                        unit_vec(vec, dim);
                        for (int d = 0; d < dim; d++) {
                            if (dt) ((uint16_t *)(m + r * stride))[d] = facet_f32_to_f16(vec[d]);
                            else ((float *)(m + r * stride))[d] = vec[d];
                        }
                    }
                    for (int p = 0; p < np; p++) unit_vec(probes + (size_t)p * dpad, dim);
                    for (int p = 0; p < np; p++)
                        ref(m, stride, nrows, probes + (size_t)p * dpad, 1, dpad, sc + p * nrows,
                            1);
                    scr->prep(probes, np, dpad, qp, qb);
                    scr->pack(m, stride, nrows, dpad, pk, rb);
                    for (int p0 = 0; p0 < np && !th_failed; p0 += FACET_SBLOCK) {
                        int nb = np - p0 < FACET_SBLOCK ? np - p0 : FACET_SBLOCK;
                        float thr[FACET_SBLOCK];
                        for (int p = 0; p < nb; p++) /* just under a chosen row's score */
                            thr[p] = sc[(size_t)(p0 + p) * nrows + (size_t)(p * 7) % nrows] - 1e-6f;
                        size_t nc = scr->screen(pk, rb, nrows, dpad, qp, qb, p0, nb, thr, cand,
                                                m, nrows * stride);
                        CHECK(nc <= (size_t)nb * nrows);
                        for (size_t i = 0; i < nc && !th_failed; i++) {
                            int p = (int)(cand[i] >> 16);
                            size_t r = cand[i] & 0xffffu;
                            CHECK_MSG(p < nb && r < nrows, "candidate %d %zu out of range", p, r);
                            if (th_failed) break;
                            size_t at = (size_t)(p0 + p) * nrows + r;
                            CHECK_MSG(!seen[at], "candidate %d %zu twice", p, r);
                            seen[at] = 1;
                            CHECK_MSG(sc[at] > thr[p] - loose, "%s dt %d dim %d: loose %g vs %g",
                                      scr->name, dt, dim, sc[at], thr[p]);
                        }
                        for (int p = 0; p < nb && !th_failed; p++)
                            for (size_t r = 0; r < nrows; r++) {
                                size_t at = (size_t)(p0 + p) * nrows + r;
                                CHECK_MSG(!(sc[at] > thr[p]) || seen[at],
                                          "%s dt %d dim %d np %d rows %zu: missed p %d r %zu "
                                          "(%g > %g)", scr->name, dt, dim, np, nrows, p0 + p, r,
                                          sc[at], thr[p]);
                                if (th_failed) break;
                            }
                    }
                    free(vec);
                    free(sc);
                    free(cand);
                    free(seen);
                    facet_free_aligned(m);
                    facet_free_aligned(probes);
                    facet_free_aligned(qb);
                    facet_free_aligned(rb);
                    facet_free_aligned(qp);
                    facet_free_aligned(pk);
                    if (th_failed) return;
                }
    }
    /* every x86 CPU with AVX2 + FMA + F16C has a screen (the int16 one at least) */
    unsigned avx2 = FACET_CPU_AVX2 | FACET_CPU_FMA | FACET_CPU_F16C;
    CHECK(screens > 0 || (facet_cpu_flags() & avx2) != avx2);
}

/* One batch search of probes[0..np) against scoring every row with the exact kernel one probe
 * at a time: the same rows and the same float scores, rank by rank. With one thread, also the
 * same rows among equal scores as searching each probe alone (no screen below
 * FACET_SCREEN_MIN_PROBES), so a screen never changes which of tied rows is kept. Scores are
 * also within tol (1 + |score|) of the reference kernel's. */
static void check_search_exact(const char *what, const uint8_t *m, size_t stride, size_t nrows,
                               int dpad, int dt, facet_dot_fn dot, const float *probes,
                               size_t np, int k, void *pool, float tol)
{
    float *sc = malloc(np * (size_t)k * 4), *all = malloc(nrows * 4), *ref = malloc(nrows * 4);
    uint32_t *rows = malloc(np * (size_t)k * 4), one_row[16];
    int *n = malloc(np * sizeof *n), one_n;
    float one_sc[16];
    facet_dot_fn reff = dt ? facet_dot_ref_f16 : facet_dot_ref_f32;
    facet_search_args a = {m, stride, nrows, dpad, dot, probes, np, k, pool, 3};
    CHECK_EQ(facet_search(&a, sc, rows, n), 0);
    for (size_t p = 0; p < np && !th_failed; p++) {
        const float *q = probes + p * dpad;
        for (size_t r = 0; r < nrows; r++) {
            dot(m + r * stride, stride, 1, q, 1, dpad, all + r, 1);
            reff(m + r * stride, stride, 1, q, 1, dpad, ref + r, 1);
        }
        CHECK_EQ(n[p], k < (int)nrows ? k : (int)nrows);
        for (int j = 0; j < n[p]; j++) {
            /* the j-th best: at most j rows above it, and more than j at or above it */
            int above = 0, tied = 0;
            for (size_t r = 0; r < nrows; r++) {
                above += all[r] > sc[p * k + j];
                tied += all[r] == sc[p * k + j];
            }
            uint32_t row = rows[p * k + j];
            CHECK_MSG(row < nrows && all[row] == sc[p * k + j] && above <= j && above + tied > j &&
                          fabsf(ref[row] - sc[p * k + j]) <= tol * (1 + fabsf(ref[row])),
                      "%s np %zu probe %zu rank %d: row %u %g (exact %g, ref %g), %d above, %d tied",
                      what, np, p, j, row, sc[p * k + j], all[row], ref[row], above, tied);
            for (int i = 0; i < j; i++)
                CHECK_MSG(rows[p * k + i] != row, "%s probe %zu: row %u twice", what, p, row);
            if (th_failed) break;
        }
        if (!pool && !th_failed) {
            facet_search_args a1 = {m, stride, nrows, dpad, dot, q, 1, k, NULL, 1};
            CHECK_EQ(facet_search(&a1, one_sc, one_row, &one_n), 0);
            CHECK_EQ(one_n, n[p]);
            for (int j = 0; j < one_n && !th_failed; j++)
                CHECK_MSG(one_row[j] == rows[p * k + j] && one_sc[j] == sc[p * k + j],
                          "%s np %zu probe %zu rank %d: row %u alone, %u in the batch", what, np,
                          p, j, one_row[j], rows[p * k + j]);
        }
    }
    free(sc);
    free(all);
    free(ref);
    free(rows);
    free(n);
}

/* A screened batch search gives exactly what scoring every row with the exact kernel would,
 * at every ISA level (so the AVX2 int16 screen too), for 1..70 probes, 1 and 3 threads, fp32
 * and fp16, a dimension of 100 and a row count that is not a multiple of any tile. */
static void t_search_screened_exact(void)
{
    int dim = 100, dpad = facet_dpad(dim), k = 7;
    size_t nrows = 3001;
    static const int nps[] = {1, 8, 13, 64, 70};
    unsigned levels[2];
    int nlevels = isa_levels(levels);
    void *pool = pthreadpool_create(3);
    float *vec = malloc((size_t)dim * 4);
    float *probes = facet_alloc_zeroed(70 * (size_t)dpad, 4);
    for (int p = 0; p < 70; p++) unit_vec(probes + (size_t)p * dpad, dim);
    for (int dt = 0; dt < 2; dt++) {
        size_t stride = facet_row_stride(dim, (facet_dtype)dt);
        uint8_t *m = facet_alloc_zeroed(nrows, stride);
        for (size_t r = 0; r < nrows; r++) {
            unit_vec(vec, dim);
            for (int d = 0; d < dim; d++) {
                if (dt) ((uint16_t *)(m + r * stride))[d] = facet_f32_to_f16(vec[d]);
                else ((float *)(m + r * stride))[d] = vec[d];
            }
        }
        for (int lv = 0; lv < nlevels; lv++) {
            const char *name;
            facet_dot_fn dot = facet_dot_select((facet_dtype)dt, levels[lv], &name);
            for (size_t ni = 0; ni < sizeof nps / sizeof nps[0] && !th_failed; ni++)
                for (int threaded = 0; threaded < 2; threaded++)
                    check_search_exact(name, m, stride, nrows, dpad, dt, dot, probes,
                                       (size_t)nps[ni], k, threaded ? pool : NULL, 2e-6f);
        }
        facet_free_aligned(m);
    }
    pthreadpool_destroy(pool);
    free(vec);
    facet_free_aligned(probes);
}

/* Near-ties, where a screen is most likely to lose a row: 24 base vectors, each enrolled 40
 * times as exact copies and as copies with one element moved by one or two units in the last
 * place (of fp16 or fp32), so ~40 rows per probe score within a few ulps of each other across
 * the top-k boundary; probes are the base vectors and noisy copies of them. Plus rows the
 * int16 screen cannot quantize (all zeros, elements of 1e-30, one element of 1e13 in fp32),
 * which must reach the exact kernel. 512 dimensions, k = 10, 64 probes, every ISA level. */
static void t_search_near_ties(void)
{
    enum { DIM = 512, BASES = 24, COPIES = 40, NP = 64, K = 10 };
    int dpad = facet_dpad(DIM);
    size_t nrows = BASES * COPIES + 5;
    unsigned levels[2];
    int nlevels = isa_levels(levels);
    void *pool = pthreadpool_create(3);
    float *base = malloc((size_t)BASES * DIM * 4);
    float *probes = facet_alloc_zeroed((size_t)NP * dpad, 4);
    for (int b = 0; b < BASES; b++) unit_vec(base + (size_t)b * DIM, DIM);
    for (int p = 0; p < NP; p++) {
        float *q = probes + (size_t)p * dpad;
        memcpy(q, base + (size_t)(p % BASES) * DIM, DIM * 4);
        if (p >= BASES)
            for (int d = 0; d < DIM; d++) q[d] += (float)(urand() - 0.5) * 1e-3f;
    }
    for (int dt = 0; dt < 2 && !th_failed; dt++) {
        size_t stride = facet_row_stride(DIM, (facet_dtype)dt);
        uint8_t *m = facet_alloc_zeroed(nrows, stride);
        /* interleaved, so that copies of one base fall in different tiles and chunks */
        for (size_t r = 0; r < BASES * COPIES; r++) {
            const float *v = base + (r % BASES) * DIM;
            int copy = (int)(r / BASES), at = (int)(urand() * DIM) % DIM;
            for (int d = 0; d < DIM; d++) {
                if (dt) {
                    uint16_t h = facet_f32_to_f16(v[d]);
                    if (d == at && copy % 3) h = (uint16_t)(h + (copy % 3 == 1 ? 1 : -1));
                    ((uint16_t *)(m + r * stride))[d] = h;
                } else {
                    float x = v[d];
                    if (d == at && copy % 3) x = nextafterf(x, copy % 3 == 1 ? 2.0f : -2.0f);
                    ((float *)(m + r * stride))[d] = x;
                }
            }
        }
        size_t r = BASES * COPIES; /* r: all zeros (already) */
        for (int d = 0; d < DIM; d++) {
            float tiny = (float)(urand() - 0.5) * 2e-30f;
            if (dt) ((uint16_t *)(m + (r + 1) * stride))[d] = facet_f32_to_f16(tiny * 1e25f);
            else ((float *)(m + (r + 1) * stride))[d] = tiny;
        }
        if (!dt) ((float *)(m + (r + 2) * stride))[7] = 1e13f;
        memcpy(m + (r + 3) * stride, m + 5 * stride, stride); /* a late exact tie */
        memcpy(m + (r + 4) * stride, m + 7 * stride, stride);
        for (int lv = 0; lv < nlevels && !th_failed; lv++) {
            const char *name;
            facet_dot_fn dot = facet_dot_select((facet_dtype)dt, levels[lv], &name);
            for (int threaded = 0; threaded < 2; threaded++)
                check_search_exact(name, m, stride, nrows, dpad, dt, dot, probes, NP, K,
                                   threaded ? pool : NULL, 2e-6f);
        }
        facet_free_aligned(m);
    }
    pthreadpool_destroy(pool);
    free(base);
    facet_free_aligned(probes);
}

static void t_search_topk_brute_force(void)
{
    int dim = 64, dpad = facet_dpad(dim);
    size_t nrows = 20000, np = 13;
    int k = 5;
    size_t stride = facet_row_stride(dim, FACET_DTYPE_F32);
    float *m = facet_alloc_zeroed(nrows, stride), *probes = facet_alloc_zeroed(np * dpad, 4);
    for (size_t r = 0; r < nrows; r++) unit_vec((float *)((uint8_t *)m + r * stride), dim);
    for (size_t p = 0; p < np; p++) unit_vec(probes + p * dpad, dim);
    void *pool = pthreadpool_create(3);
    float sc[13 * 5];
    uint32_t rows[13 * 5];
    int n[13];
    for (int threaded = 0; threaded < 2; threaded++) {
        facet_search_args a = {m, stride, nrows, dpad,
                               facet_dot_select(FACET_DTYPE_F32, facet_cpu_flags(), NULL),
                               probes, np, k, threaded ? pool : NULL, 3};
        CHECK_EQ(facet_search(&a, sc, rows, n), 0);
        for (size_t p = 0; p < np; p++) {
            CHECK_EQ(n[p], k);
            /* brute force: the k-th best score, and every returned row really scores so */
            float best[5] = {-2, -2, -2, -2, -2};
            for (size_t r = 0; r < nrows; r++) {
                float s = 0;
                for (int d = 0; d < dim; d++)
                    s += probes[p * dpad + d] * ((float *)((uint8_t *)m + r * stride))[d];
                for (int j = 0; j < k; j++)
                    if (s > best[j]) {
                        memmove(best + j + 1, best + j, (size_t)(k - j - 1) * 4);
                        best[j] = s;
                        break;
                    }
            }
            for (int j = 0; j < k; j++) {
                CHECK_NEAR(sc[p * k + j], best[j], 1e-5);
                if (j) CHECK(sc[p * k + j] <= sc[p * k + j - 1]);
            }
        }
    }
    /* fewer rows than k */
    facet_search_args a = {m, stride, 3, dpad, facet_dot_ref_f32, probes, 1, 5, NULL, 1};
    CHECK_EQ(facet_search(&a, sc, rows, n), 0);
    CHECK_EQ(n[0], 3);
    a.nrows = 0;
    CHECK_EQ(facet_search(&a, sc, rows, n), 0);
    CHECK_EQ(n[0], 0);
    pthreadpool_destroy(pool);
    facet_free_aligned(m);
    facet_free_aligned(probes);
}

/* ---- collections through the public API ---- */

static facet_gallery *open_store(const char *url)
{
    facet_gallery *g = NULL;
    facet_gallery_settings s;
    facet_gallery_defaults(&s);
    s.threads = 2;
    int st = facet_gallery_open(url, &s, &g);
    CHECK_MSG(st == 0, "open %s: %s", url, facet_last_error());
    return g;
}

struct pctx {
    int n, ok;
};

static int pay(void *user, const char *u, const char *identity, const void *p, size_t sz)
{
    struct pctx *pc = user;
    pc->n++;
    if (!facet_uuid_valid(u) || sz != strlen(identity) || memcmp(p, identity, sz) != 0) pc->ok = 0;
    return 0;
}

static void api_roundtrip(const char *url, facet_dtype dt)
{
    facet_gallery *g = open_store(url);
    if (!g) return;
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = MODEL;
    cs.dim = 512;
    cs.dtype = dt;
    cs.keep_payload = 1;
    CHECK_EQ(facet_collection_create(g, "staff", &cs), 0);
    CHECK_EQ(facet_collection_create(g, "staff", &cs), FACET_E_EXISTS);
    CHECK_EQ(facet_collection_create(g, "bad name!", &cs), FACET_E_INVALID_ARG);
    cs.keep_payload = 0;
    CHECK_EQ(facet_collection_create(g, "visitors", &cs), 0);

    enum { N = 300 };
    static float v[N][512];
    char uuid[N][FACET_UUID_SIZE];
    for (int i = 0; i < N; i++) {
        unit_vec(v[i], 512);
        char id[32];
        snprintf(id, sizeof id, "person-%03d", i % 100);
        CHECK_EQ(facet_gallery_enroll(g, "staff", MODEL, v[i], 512, id, id, strlen(id), uuid[i]),
                 0);
        CHECK(facet_uuid_valid(uuid[i]) && uuid[i][14] == '4');
    }
    CHECK(strcmp(uuid[0], uuid[1]) != 0);
    /* the other collection is independent */
    char u2[FACET_UUID_SIZE];
    CHECK_EQ(facet_gallery_enroll(g, "visitors", MODEL, v[0], 512, "guest", NULL, 0, u2), 0);
    size_t cnt = 0;
    CHECK_EQ(facet_gallery_count(g, "staff", &cnt), 0);
    CHECK_EQ(cnt, N);
    CHECK_EQ(facet_gallery_count(g, "visitors", &cnt), 0);
    CHECK_EQ(cnt, 1);

    /* model checks */
    CHECK_EQ(facet_gallery_enroll(g, "staff", "other@1", v[0], 512, "x", NULL, 0, u2),
             FACET_E_MODEL);
    CHECK(strstr(facet_gallery_errmsg(g), "fr_feature@87aacdfe") != NULL);
    CHECK_EQ(facet_gallery_enroll(g, "staff", MODEL, v[0], 256, "x", NULL, 0, u2),
             FACET_E_MODEL);
    facet_match m;
    int found = 0;
    CHECK_EQ(facet_gallery_identify(g, "staff", "other@1", v[0], 512, 0.5f, &m, &found),
             FACET_E_MODEL);
    CHECK_EQ(facet_gallery_identify(g, "nope", MODEL, v[0], 512, 0.5f, &m, &found),
             FACET_E_NOT_FOUND);
    float bad[512];
    memcpy(bad, v[0], sizeof bad);
    bad[3] = NAN;
    CHECK_EQ(facet_gallery_enroll(g, "staff", MODEL, bad, 512, "x", NULL, 0, u2),
             FACET_E_INVALID_ARG);
    bad[3] = 5;
    CHECK_EQ(facet_gallery_enroll(g, "staff", MODEL, bad, 512, "x", NULL, 0, u2),
             FACET_E_INVALID_ARG);

    /* identify finds each enrolled vector */
    float tol = dt == FACET_DTYPE_F16 ? 1e-3f : 1e-5f;
    for (int i = 0; i < N; i += 7) {
        CHECK_EQ(facet_gallery_identify(g, "staff", MODEL, v[i], 512, 0.9f, &m, &found), 0);
        CHECK(found);
        CHECK(strcmp(m.uuid, uuid[i]) == 0);
        CHECK_NEAR(m.similarity, 1.0, tol);
        CHECK_NEAR(m.probability, 1.0 / (1.0 + exp(-(40.0 * m.similarity - 14.0))), 1e-6);
    }
    float probe[512];
    unit_vec(probe, 512);
    CHECK_EQ(facet_gallery_identify(g, "staff", MODEL, probe, 512, 0.9f, &m, &found), 0);
    CHECK(!found);

    /* top-k and batch agree with brute force */
    facet_match top[10];
    int n = 0;
    CHECK_EQ(facet_gallery_identify_top_k(g, "staff", MODEL, probe, 512, 10, top, &n), 0);
    CHECK_EQ(n, 10);
    double best = -2;
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int d = 0; d < 512; d++) s += (double)probe[d] * v[i][d];
        if (s > best) best = s;
    }
    CHECK_NEAR(top[0].similarity, best, tol);
    for (int j = 1; j < n; j++) CHECK(top[j].similarity <= top[j - 1].similarity);
    static facet_match bm[N * 3];
    int bn[N];
    CHECK_EQ(facet_gallery_batch_identify(g, "staff", MODEL, &v[0][0], N, 512, 3, bm, bn), 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(bn[i], 3);
        CHECK(strcmp(bm[i * 3].uuid, uuid[i]) == 0);
    }

    /* identities */
    facet_identity_count *ids = NULL;
    size_t nid = 0;
    CHECK_EQ(facet_gallery_identities(g, "staff", &ids, &nid), 0);
    CHECK_EQ(nid, 100);
    CHECK(nid && strcmp(ids[0].identity, "person-000") == 0 && ids[0].count == 3);
    facet_free(ids);

    /* removal */
    CHECK_EQ(facet_gallery_remove(g, "staff", uuid[5]), 0);
    CHECK_EQ(facet_gallery_remove(g, "staff", uuid[5]), FACET_E_NOT_FOUND);
    CHECK_EQ(facet_gallery_remove(g, "staff", "not-a-uuid"), FACET_E_INVALID_ARG);
    size_t removed = 0;
    CHECK_EQ(facet_gallery_remove_identity(g, "staff", "person-007", &removed), 0);
    CHECK_EQ(removed, 3);
    CHECK_EQ(facet_gallery_remove_identity(g, "staff", "nobody", &removed), 0);
    CHECK_EQ(removed, 0);
    CHECK_EQ(facet_gallery_count(g, "staff", &cnt), 0);
    CHECK_EQ(cnt, N - 4);
    CHECK_EQ(facet_gallery_identify(g, "staff", MODEL, v[5], 512, 0.99f, &m, &found), 0);
    CHECK(!found);
    /* the rows moved by removal are still found */
    for (int i = 0; i < N; i++) {
        if (i == 5 || i % 100 == 7) continue;
        CHECK_EQ(facet_gallery_identify(g, "staff", MODEL, v[i], 512, 0.99f, &m, &found), 0);
        CHECK(found && strcmp(m.uuid, uuid[i]) == 0);
        if (th_failed) break;
    }

    /* payloads */
    struct pctx pc = {0, 1};
    CHECK_EQ(facet_collection_foreach_payload(g, "staff", pay, &pc), 0);
    CHECK_EQ(pc.n, N - 4);
    CHECK(pc.ok);
    pc.n = 0;
    CHECK_EQ(facet_collection_foreach_payload(g, "visitors", pay, &pc), 0);
    CHECK_EQ(pc.n, 0); /* keep_payload off */

    /* list, unload, reload, drop */
    facet_collection_info *ci = NULL;
    size_t nci = 0;
    CHECK_EQ(facet_collection_list(g, &ci, &nci), 0);
    CHECK_EQ(nci, 2);
    if (nci == 2) {
        CHECK(strcmp(ci[0].name, "staff") == 0 && ci[0].loaded && ci[0].count == N - 4);
        CHECK(ci[0].dim == 512 && ci[0].dtype == dt && ci[0].keep_payload == 1);
        CHECK(strcmp(ci[0].model_id, MODEL) == 0);
    }
    facet_free(ci);
    CHECK_EQ(facet_collection_unload(g, "staff"), 0);
    CHECK_EQ(facet_gallery_count(g, "staff", &cnt), FACET_E_NOT_FOUND);
    facet_load_stats ls;
    CHECK_EQ(facet_collection_load(g, "staff", &ls), 0);
    CHECK_EQ(ls.loaded, N - 4);
    CHECK_EQ(ls.bad_length + ls.bad_model + ls.bad_value + ls.bad_other, 0);
    CHECK_EQ(facet_gallery_identify(g, "staff", MODEL, v[9], 512, 0.99f, &m, &found), 0);
    CHECK(found && strcmp(m.uuid, uuid[9]) == 0 && strcmp(m.identity, "person-009") == 0);
    CHECK_EQ(facet_collection_drop(g, "visitors"), 0);
    CHECK_EQ(facet_collection_drop(g, "visitors"), FACET_E_NOT_FOUND);
    CHECK_EQ(facet_collection_load(g, "visitors", NULL), FACET_E_NOT_FOUND);
    facet_gallery_destroy(g);

    /* persistent stores: everything is there after reopening */
    if (strncmp(url, "memory:", 7) != 0) {
        g = open_store(url);
        if (!g) return;
        CHECK_EQ(facet_collection_load(g, "staff", &ls), 0);
        CHECK_EQ(ls.loaded, N - 4);
        CHECK_EQ(facet_gallery_identify(g, "staff", MODEL, v[299], 512, 0.99f, &m, &found), 0);
        CHECK(found && strcmp(m.uuid, uuid[299]) == 0);
        CHECK_EQ(facet_collection_drop(g, "staff"), 0);
        facet_gallery_destroy(g);
    }
}

static void t_memory_store_f32(void) { api_roundtrip("memory:", FACET_DTYPE_F32); }
static void t_memory_store_f16(void) { api_roundtrip("memory:", FACET_DTYPE_F16); }

static void t_sqlite_store(void)
{
    char p[300], url[320];
    tmp_path(p, sizeof p, "roundtrip.db");
    unlink(p);
    snprintf(url, sizeof url, "sqlite:%s", p);
    api_roundtrip(url, FACET_DTYPE_F16);
}

static void t_bad_args(void)
{
    facet_gallery *g = NULL;
    CHECK_EQ(facet_gallery_open("mysql://x", NULL, &g), FACET_E_INVALID_ARG);
    CHECK(g == NULL);
    CHECK(strstr(facet_last_error(), "mysql") != NULL);
    CHECK_EQ(facet_gallery_open("sqlite:/nonexistent/dir/x.db", NULL, &g), FACET_E_IO);
    facet_gallery_destroy(NULL);
    CHECK_EQ(facet_gallery_open("memory:", NULL, &g), 0);
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    CHECK_EQ(facet_collection_create(g, "a", &cs), FACET_E_INVALID_ARG); /* no model */
    cs.model_id = MODEL;
    cs.dim = 0;
    CHECK_EQ(facet_collection_create(g, "a", &cs), FACET_E_INVALID_ARG);
    cs.dim = 4;
    CHECK_EQ(facet_collection_create(g, "a", &cs), 0);
    float v[4] = {1, 0, 0, 0};
    char u[FACET_UUID_SIZE];
    CHECK_EQ(facet_gallery_enroll(g, "a", MODEL, v, 4, "", NULL, 0, u), FACET_E_INVALID_ARG);
    facet_match m[2];
    int n;
    /* empty collection: no match, not an error */
    CHECK_EQ(facet_gallery_identify_top_k(g, "a", MODEL, v, 4, 2, m, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(facet_gallery_identify_top_k(g, "a", MODEL, v, 4, 0, m, &n), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_gallery_set_match_model(g, 10, -5), 0);
    CHECK_NEAR(facet_gallery_match_probability(g, 0.5f), 0.5, 1e-6);
    CHECK_EQ(facet_gallery_set_match_model(g, NAN, 0), FACET_E_INVALID_ARG);
    facet_gallery_destroy(g);
}

/* Rows damaged behind the library's back are reported and skipped, never loaded. */
static void t_sqlite_corrupt_rows(void)
{
    char p[300], url[320];
    tmp_path(p, sizeof p, "corrupt.db");
    unlink(p);
    snprintf(url, sizeof url, "sqlite:%s", p);
    facet_gallery *g = open_store(url);
    if (!g) return;
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = MODEL;
    cs.dim = 32;
    CHECK_EQ(facet_collection_create(g, "c", &cs), 0);
    float v[6][32];
    char u[6][FACET_UUID_SIZE];
    for (int i = 0; i < 6; i++) {
        unit_vec(v[i], 32);
        CHECK_EQ(facet_gallery_enroll(g, "c", MODEL, v[i], 32, "p", NULL, 0, u[i]), 0);
    }
    facet_gallery_destroy(g);
    sqlite3 *db;
    CHECK_EQ(sqlite3_open(p, &db), SQLITE_OK);
    char sql[512];
    /* 1: truncated blob, 2: another model's hash, 3: a NaN, 4: a bad uuid */
    snprintf(sql, sizeof sql,
             "UPDATE faceprints SET vector = substr(vector, 1, 100) WHERE uuid = '%s';"
             "UPDATE faceprints SET vector = X'4650563120000000DEADBEEF00000000' || "
             "substr(vector, 17) WHERE uuid = '%s';"
             "UPDATE faceprints SET vector = substr(vector, 1, 20) || X'0000C07F' || "
             "substr(vector, 25) WHERE uuid = '%s';"
             "UPDATE faceprints SET uuid = 'garbage' WHERE uuid = '%s';",
             u[1], u[2], u[3], u[4]);
    CHECK_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    g = open_store(url);
    if (!g) return;
    facet_load_stats ls;
    CHECK_EQ(facet_collection_load(g, "c", &ls), 0);
    CHECK_EQ(ls.loaded, 2);
    CHECK_EQ(ls.bad_length, 1);
    CHECK_EQ(ls.bad_model, 1);
    CHECK_EQ(ls.bad_value, 1);
    CHECK_EQ(ls.bad_other, 1);
    facet_match m;
    int found;
    CHECK_EQ(facet_gallery_identify(g, "c", MODEL, v[5], 32, 0.99f, &m, &found), 0);
    CHECK(found && strcmp(m.uuid, u[5]) == 0);
    facet_gallery_destroy(g);
}

/* Many threads search while others enrol and remove; every search sees a consistent
 * collection (its own enrolled vector is found with similarity ~1). */
typedef struct conc {
    facet_gallery *g;
    int id, errors;
} conc;

static void *searcher(void *arg)
{
    conc *c = arg;
    float v[64];
    for (int i = 0; i < 200; i++) {
        unit_vec(v, 64); /* racy rng is fine: any vector will do */
        facet_match m[3];
        int n;
        if (facet_gallery_identify_top_k(c->g, "c", MODEL, v, 64, 3, m, &n) != 0) c->errors++;
        for (int j = 0; j < n; j++)
            if (!facet_uuid_valid(m[j].uuid) || m[j].similarity > 1.0f) c->errors++;
    }
    return NULL;
}

static void *writer(void *arg)
{
    conc *c = arg;
    uint64_t s = 1234567u + (uint64_t)c->id;
    for (int i = 0; i < 150; i++) {
        float v[64];
        double n = 0;
        for (int d = 0; d < 64; d++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            v[d] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
            n += (double)v[d] * v[d];
        }
        for (int d = 0; d < 64; d++) v[d] = (float)(v[d] / sqrt(n));
        char u[FACET_UUID_SIZE];
        if (facet_gallery_enroll(c->g, "c", MODEL, v, 64, "w", NULL, 0, u)) c->errors++;
        facet_match m;
        int found;
        if (facet_gallery_identify(c->g, "c", MODEL, v, 64, 0.999f, &m, &found) || !found ||
            strcmp(m.uuid, u) != 0)
            c->errors++;
        if (i % 3 == 0 && facet_gallery_remove(c->g, "c", u)) c->errors++;
    }
    return NULL;
}

static void t_concurrent_search_and_enrol(void)
{
    facet_gallery *g = open_store("memory:");
    if (!g) return;
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = MODEL;
    cs.dim = 64;
    CHECK_EQ(facet_collection_create(g, "c", &cs), 0);
    pthread_t th[6];
    conc cc[6];
    for (int i = 0; i < 6; i++) {
        cc[i] = (conc){g, i, 0};
        pthread_create(&th[i], NULL, i < 2 ? writer : searcher, &cc[i]);
    }
    int errors = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        errors += cc[i].errors;
    }
    CHECK_EQ(errors, 0);
    size_t n = 0;
    CHECK_EQ(facet_gallery_count(g, "c", &n), 0);
    CHECK_EQ(n, 2 * 100);
    facet_gallery_destroy(g);
}

/* Listing, reading, renaming one enrolment at a time (what a server managing examples needs),
 * and that a rename survives reopening the store. */
static void single_enrolments(const char *url, facet_dtype dt)
{
    facet_gallery *g = open_store(url);
    if (!g) return;
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = MODEL;
    cs.dim = 512;
    cs.dtype = dt;
    cs.keep_payload = 1;
    facet_collection_drop(g, "one");
    CHECK_EQ(facet_collection_create(g, "one", &cs), 0);
    static float v[7][512];
    char uuid[7][FACET_UUID_SIZE];
    const char *who[7] = {"bob", "ann", "bob", "cid", "ann", "bob", "dan"};
    for (int i = 0; i < 7; i++) {
        unit_vec(v[i], 512);
        char pay[16];
        snprintf(pay, sizeof pay, "image-%d", i);
        CHECK_EQ(facet_gallery_enroll(g, "one", MODEL, v[i], 512, who[i], pay,
                                      i == 6 ? 0 : strlen(pay), uuid[i]), 0);
    }
    /* pages: sorted by identity, then UUID; every enrolment exactly once */
    facet_face_ref *f = NULL;
    size_t n = 0, total = 0, seen = 0;
    char last[FACET_IDENTITY_MAX + 1] = "";
    for (size_t off = 0; off < 10; off += 3) {
        CHECK_EQ(facet_gallery_faces(g, "one", NULL, off, 3, &f, &n, &total), 0);
        CHECK_EQ(total, 7);
        CHECK_EQ(n, off < 7 ? (7 - off < 3 ? 7 - off : 3) : 0);
        for (size_t i = 0; i < n; i++) {
            CHECK(strcmp(last, f[i].identity) <= 0);
            snprintf(last, sizeof last, "%s", f[i].identity);
            for (int j = 0; j < 7; j++)
                seen += strcmp(uuid[j], f[i].uuid) == 0 && strcmp(who[j], f[i].identity) == 0;
        }
        facet_free(f);
    }
    CHECK_EQ(seen, 7);
    CHECK_EQ(facet_gallery_faces(g, "one", "bob", 0, 100, &f, &n, &total), 0);
    CHECK(n == 3 && total == 3 && strcmp(f[0].identity, "bob") == 0);
    facet_free(f);
    CHECK_EQ(facet_gallery_faces(g, "one", "nobody", 0, 100, &f, &n, &total), 0);
    CHECK(n == 0 && total == 0);
    facet_free(f);
    CHECK_EQ(facet_gallery_faces(g, "absent", NULL, 0, 100, &f, &n, &total), FACET_E_NOT_FOUND);

    /* one faceprint back, as loaded */
    float back[512];
    char id[FACET_IDENTITY_MAX + 1];
    CHECK_EQ(facet_gallery_face(g, "one", uuid[3], back, 512, id), 0);
    CHECK(strcmp(id, "cid") == 0);
    double dot = 0;
    for (int d = 0; d < 512; d++) dot += (double)back[d] * v[3][d];
    CHECK_NEAR(dot, 1.0, dt == FACET_DTYPE_F16 ? 1e-3 : 1e-6);
    CHECK_EQ(facet_gallery_face(g, "one", uuid[3], back, 256, id), FACET_E_MODEL);
    CHECK_EQ(facet_gallery_face(g, "one", "0b0e8f6e-1c1a-4b5e-9d5f-2f1e8d3c4b5a", back, 512, id),
             FACET_E_NOT_FOUND);
    CHECK_EQ(facet_gallery_face(g, "one", "NOT-A-UUID", back, 512, id), FACET_E_INVALID_ARG);

    /* payloads one at a time: the bytes given, an empty one, none for an unknown UUID */
    void *data = NULL;
    size_t size = 0;
    CHECK_EQ(facet_gallery_payload(g, "one", uuid[4], &data, &size), 0);
    CHECK(data && size == 7 && memcmp(data, "image-4", 7) == 0);
    facet_free(data);
    CHECK_EQ(facet_gallery_payload(g, "one", uuid[6], &data, &size), 0);
    CHECK(size == 0);
    facet_free(data);
    CHECK_EQ(facet_gallery_payload(g, "one", "0b0e8f6e-1c1a-4b5e-9d5f-2f1e8d3c4b5a", &data, &size),
             FACET_E_NOT_FOUND);
    CHECK(data == NULL);

    /* rename: a plain one, then a merge into an identity that exists */
    size_t k = 0;
    CHECK_EQ(facet_gallery_rename_identity(g, "one", "cid", "carl", &k), 0);
    CHECK_EQ(k, 1);
    CHECK_EQ(facet_gallery_rename_identity(g, "one", "bob", "ann", &k), 0);
    CHECK_EQ(k, 3);
    CHECK_EQ(facet_gallery_rename_identity(g, "one", "nobody", "ann", &k), 0);
    CHECK_EQ(k, 0);
    CHECK_EQ(facet_gallery_rename_identity(g, "one", "", "ann", &k), FACET_E_INVALID_ARG);
    facet_match m;
    int found = 0;
    CHECK_EQ(facet_gallery_identify(g, "one", MODEL, v[2], 512, 0.9f, &m, &found), 0);
    CHECK(found && strcmp(m.identity, "ann") == 0 && strcmp(m.uuid, uuid[2]) == 0);
    facet_gallery_destroy(g);

    /* the store holds the same after reopening */
    if (strncmp(url, "memory:", 7) == 0) return;
    g = open_store(url);
    if (!g) return;
    CHECK_EQ(facet_collection_load(g, "one", NULL), 0);
    facet_identity_count *ids = NULL;
    size_t nid = 0;
    CHECK_EQ(facet_gallery_identities(g, "one", &ids, &nid), 0);
    CHECK_EQ(nid, 3);
    if (nid == 3) {
        CHECK(strcmp(ids[0].identity, "ann") == 0 && ids[0].count == 5);
        CHECK(strcmp(ids[1].identity, "carl") == 0 && ids[1].count == 1);
        CHECK(strcmp(ids[2].identity, "dan") == 0 && ids[2].count == 1);
    }
    free(ids);
    CHECK_EQ(facet_gallery_face(g, "one", uuid[0], back, 512, id), 0);
    CHECK(strcmp(id, "ann") == 0);
    facet_gallery_destroy(g);
}

static void t_single_enrolments(void)
{
    char p[300], url[320];
    single_enrolments("memory:", FACET_DTYPE_F32);
    snprintf(url, sizeof url, "sqlite:%s", tmp_path(p, sizeof p, "single.db"));
    single_enrolments(url, FACET_DTYPE_F16);
}

#define CHECK_STR(got, want)                                                                 \
    do {                                                                                     \
        const char *got_ = (got);                                                            \
        CHECK_MSG(strcmp(got_, want) == 0, "got \"%s\", want \"%s\"", got_, want);       \
    } while (0)

/* The identities of collection `coll` as "name:count name:count ..." (or "error"). */
static const char *identities_str(facet_gallery *g, const char *coll, char *buf, size_t cap)
{
    facet_identity_count *ids = NULL;
    size_t n = 0;
    if (facet_gallery_identities(g, coll, &ids, &n)) return "error";
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%s:%zu", i ? " " : "", ids[i].identity,
                              ids[i].count);
    facet_free(ids);
    return buf;
}

/* Identities declared without faceprints: listed, refused twice, kept by enrolment and by
 * removing their faceprints one by one, removed with remove_identity, moved by a rename (also
 * merging into a declared or enrolled name), gone with the collection, and all of it durable. */
/* A store with collection `name` of dim 64 made afresh; NULL (and a failed check) if not. */
static facet_gallery *with_fresh_collection(const char *url, const char *name,
                                            facet_collection_settings *cs)
{
    facet_gallery *g = open_store(url);
    if (!g) return NULL;
    facet_collection_defaults(cs);
    cs->model_id = MODEL;
    cs->dim = 64;
    facet_collection_drop(g, name);
    CHECK_EQ(facet_collection_create(g, name, cs), 0);
    return g;
}

static void declared_identities(const char *url)
{
    facet_collection_settings cs;
    facet_gallery *g = with_fresh_collection(url, "decl", &cs);
    if (!g) return;
    char buf[512], uuid[FACET_UUID_SIZE];
    float v[64];
    unit_vec(v, 64);
    CHECK_EQ(facet_gallery_add_identity(g, "decl", "zoe"), 0);
    CHECK_EQ(facet_gallery_add_identity(g, "decl", "amy"), 0);
    CHECK_EQ(facet_gallery_add_identity(g, "decl", "zoe"), FACET_E_EXISTS);
    CHECK(strstr(facet_last_error(), "'zoe' exists") != NULL);
    CHECK_EQ(facet_gallery_add_identity(g, "decl", "bad\n"), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_gallery_add_identity(g, "decl", ""), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_gallery_add_identity(g, "decl", NULL), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_gallery_add_identity(g, "absent", "zoe"), FACET_E_NOT_FOUND);
    CHECK_STR(identities_str(g, "decl", buf, sizeof buf), "amy:0 zoe:0");
    /* an enrolled identity exists through its faceprints: declaring it is refused */
    CHECK_EQ(facet_gallery_enroll(g, "decl", MODEL, v, 64, "bob", NULL, 0, uuid), 0);
    CHECK_EQ(facet_gallery_add_identity(g, "decl", "bob"), FACET_E_EXISTS);
    /* enrolling a declared identity lists it once, with its count; removing that faceprint
     * leaves it declared */
    CHECK_EQ(facet_gallery_enroll(g, "decl", MODEL, v, 64, "zoe", NULL, 0, uuid), 0);
    CHECK_STR(identities_str(g, "decl", buf, sizeof buf), "amy:0 bob:1 zoe:1");
    CHECK_EQ(facet_gallery_remove(g, "decl", uuid), 0);
    CHECK_STR(identities_str(g, "decl", buf, sizeof buf), "amy:0 bob:1 zoe:0");
    /* renames: declared to new, declared into declared, declared into enrolled */
    size_t k = 9;
    CHECK_EQ(facet_gallery_rename_identity(g, "decl", "amy", "ann", &k), 0);
    CHECK_EQ(k, 0);
    CHECK_STR(identities_str(g, "decl", buf, sizeof buf), "ann:0 bob:1 zoe:0");
    CHECK_EQ(facet_gallery_add_identity(g, "decl", "cat"), 0);
    CHECK_EQ(facet_gallery_rename_identity(g, "decl", "cat", "ann", &k), 0);
    CHECK_STR(identities_str(g, "decl", buf, sizeof buf), "ann:0 bob:1 zoe:0");
    CHECK_EQ(facet_gallery_rename_identity(g, "decl", "zoe", "bob", &k), 0);
    CHECK_STR(identities_str(g, "decl", buf, sizeof buf), "ann:0 bob:1");
    /* an enrolled identity renamed onto a declared one merges into it */
    CHECK_EQ(facet_gallery_add_identity(g, "decl", "dan"), 0);
    CHECK_EQ(facet_gallery_rename_identity(g, "decl", "bob", "dan", &k), 0);
    CHECK_EQ(k, 1);
    /* bob, declared by the merge of zoe, moved with its faceprints: nothing of it is left */
    CHECK_STR(identities_str(g, "decl", buf, sizeof buf), "ann:0 dan:1");
    size_t removed = 9;
    CHECK_EQ(facet_gallery_remove_identity(g, "decl", "bob", &removed), 0);
    CHECK_EQ(removed, 0);
    CHECK_EQ(facet_gallery_remove_identity(g, "decl", "dan", &removed), 0);
    CHECK_EQ(removed, 1);
    CHECK_STR(identities_str(g, "decl", buf, sizeof buf), "ann:0");
    CHECK_EQ(facet_gallery_add_identity(g, "decl", "Eve"), 0);
    facet_gallery_destroy(g);
    if (strncmp(url, "memory:", 7) == 0) return;

    /* durable: a new handle loads the declared identities from the store */
    g = open_store(url);
    if (!g) return;
    CHECK_EQ(facet_collection_load(g, "decl", NULL), 0);
    CHECK_STR(identities_str(g, "decl", buf, sizeof buf), "Eve:0 ann:0");
    /* a dropped collection takes its declarations with it */
    CHECK_EQ(facet_collection_drop(g, "decl"), 0);
    CHECK_EQ(facet_collection_create(g, "decl", &cs), 0);
    CHECK_STR(identities_str(g, "decl", buf, sizeof buf), "");
    facet_gallery_destroy(g);
}

static void t_declared_identities(void)
{
    char p[300], url[320];
    declared_identities("memory:");
    snprintf(url, sizeof url, "sqlite:%s", tmp_path(p, sizeof p, "declared.db"));
    declared_identities(url);
}

/* A database made before the identities table existed gains it at its next open: its
 * faceprints load as before and identities can be declared. */
static void t_sqlite_without_identities_table(void)
{
    char p[300], url[320], buf[256], uuid[FACET_UUID_SIZE];
    tmp_path(p, sizeof p, "old-schema.db");
    snprintf(url, sizeof url, "sqlite:%s", p);
    facet_collection_settings cs;
    facet_gallery *g = with_fresh_collection(url, "old", &cs);
    if (!g) return;
    float v[64];
    unit_vec(v, 64);
    CHECK_EQ(facet_gallery_enroll(g, "old", MODEL, v, 64, "ada", NULL, 0, uuid), 0);
    facet_gallery_destroy(g);
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open(p, &db), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(db, "DROP TABLE identities", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    g = open_store(url);
    if (!g) return;
    CHECK_EQ(facet_collection_load(g, "old", NULL), 0);
    CHECK_STR(identities_str(g, "old", buf, sizeof buf), "ada:1");
    CHECK_EQ(facet_gallery_add_identity(g, "old", "bea"), 0);
    CHECK_STR(identities_str(g, "old", buf, sizeof buf), "ada:1 bea:0");
    facet_gallery_destroy(g);
    /* an older process drops the collection with its own SQL, leaving bea's declaration (SQLite
     * does not enforce the foreign key); a new collection of that name does not inherit it */
    CHECK_EQ(sqlite3_open(p, &db), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(db, "DELETE FROM faceprints WHERE collection = 'old';"
                              "DELETE FROM collections WHERE name = 'old'", NULL, NULL, NULL),
             SQLITE_OK);
    sqlite3_close(db);
    g = with_fresh_collection(url, "old", &cs);
    if (!g) return;
    CHECK_STR(identities_str(g, "old", buf, sizeof buf), "");
    facet_gallery_destroy(g);
    g = open_store(url);
    if (!g) return;
    CHECK_EQ(facet_collection_load(g, "old", NULL), 0);
    CHECK_STR(identities_str(g, "old", buf, sizeof buf), "");
    facet_gallery_destroy(g);
}

/* Searches never wait for an enrolment's durable write: another SQLite connection holds the
 * database's write lock, so an enrolment blocks inside its store write (busy timeout); a search
 * of the same collection meanwhile must answer at once, before the enrolment finishes. */
typedef struct enrol_arg {
    facet_gallery *g;
    float v[64];
    int rc;
    atomic_int done;
} enrol_arg;

static void *enrol_blocked(void *p)
{
    enrol_arg *a = p;
    char uuid[FACET_UUID_SIZE];
    a->rc = facet_gallery_enroll(a->g, "rw", MODEL, a->v, 64, "late", NULL, 0, uuid);
    atomic_store(&a->done, 1);
    return NULL;
}

static void t_search_not_blocked_by_enrol(void)
{
    char p[300], url[320];
    tmp_path(p, sizeof p, "rw.db");
    snprintf(url, sizeof url, "sqlite:%s", p);
    facet_gallery *g = NULL;
    CHECK_EQ(facet_gallery_open(url, NULL, &g), 0);
    if (!g) return;
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = MODEL;
    cs.dim = 64;
    CHECK_EQ(facet_collection_create(g, "rw", &cs), 0);
    float v[64];
    char uuid[FACET_UUID_SIZE];
    unit_vec(v, 64);
    CHECK_EQ(facet_gallery_enroll(g, "rw", MODEL, v, 64, "first", NULL, 0, uuid), 0);
    sqlite3 *other = NULL;
    CHECK_EQ(sqlite3_open(p, &other), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    enrol_arg a = {.g = g};
    unit_vec(a.v, 64);
    atomic_init(&a.done, 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, enrol_blocked, &a), 0);
    usleep(300 * 1000); /* the enrolment is now waiting for the write lock */
    facet_match m;
    int found = 0;
    size_t count = 0;
    CHECK_EQ(facet_gallery_identify(g, "rw", MODEL, v, 64, 0.5f, &m, &found), 0);
    CHECK(found && strcmp(m.identity, "first") == 0);
    CHECK_EQ(facet_gallery_count(g, "rw", &count), 0);
    CHECK_EQ(count, 1);
    CHECK_MSG(!atomic_load(&a.done), "the search waited for the enrolment");
    CHECK_EQ(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    pthread_join(t, NULL);
    CHECK_EQ(a.rc, 0);
    CHECK_EQ(facet_gallery_count(g, "rw", &count), 0);
    CHECK_EQ(count, 2);
    facet_gallery_destroy(g);
}

TESTS(TEST(t_f16_conversion), TEST(t_kernels_match_reference), TEST(t_screen_bounds),
      TEST(t_search_screened_exact), TEST(t_search_near_ties),
      TEST(t_search_topk_brute_force),
      TEST(t_memory_store_f32), TEST(t_memory_store_f16), TEST(t_sqlite_store),
      TEST(t_bad_args), TEST(t_sqlite_corrupt_rows), TEST(t_concurrent_search_and_enrol),
      TEST(t_single_enrolments), TEST(t_search_not_blocked_by_enrol),
      TEST(t_declared_identities), TEST(t_sqlite_without_identities_table))
