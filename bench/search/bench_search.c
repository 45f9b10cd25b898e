/*
 * bench_search.c - the 1:N search hot path on synthetic data, for bench/search/run.sh.
 *
 *   bench_search N OUT_DIR [--sqlite] [--quick]
 *   FACET_CPU_MASK=0x1f bench_search ...   the AVX2 + FMA + F16C kernels on an AVX-512 CPU
 *
 * Makes N random 512-d unit vectors and 1024 probes (near copies of random rows, so the top-1
 * is a real match) from a fixed seed, writes them to OUT_DIR/matrix.f32 and OUT_DIR/probes.f32
 * for the FAISS side to memory-map, and times on the same bytes:
 *   - a plain read of the fp32 and fp16 matrices (the memory-bandwidth floor),
 *   - single-probe latency and 64 / 1024-probe batch throughput, top-10, in fp32 and fp16,
 *     with 1 and 2 threads, through the search kernels (kernels.h) that the public API calls;
 *   - the public path: facet_gallery_identify on a "memory:" gallery holding the same rows
 *     (fp32 and fp16 collections), what an application calls;
 *   - with --sqlite: enrolling N faceprints into a SQLite file with the public API (batches of
 *     10000 per transaction) and loading that collection back (facet_collection_load), then one
 *     public-API identify on it.
 *   - with --quick: only the kernels' read floor, single probe and 64-probe batch (no 1024
 *     batch, no public path), for a quick look while working on a kernel.
 * One statistic everywhere: the median of REPS timed calls after one warm-up call, every
 * call's status checked; single probe and 64-probe batch also in process CPU time. Results go to stdout as JSON lines; the "info" line and every kernel
 * line say which ISA ran: the CPU flags after FACET_CPU_MASK, the exact kernel ("avx2",
 * "avx512", "ref") and the batch screen ("avx2int16", "avx512bf16" or "none").
 */
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <pthreadpool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "facet/facet.h"
#include "gallery/kernels.h"

#define DIM 512
#define NPROBES 1024
#define K 10

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((double)(rs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void normalise(float *v)
{
    double n = 0;
    for (int d = 0; d < DIM; d++) n += (double)v[d] * v[d];
    for (int d = 0; d < DIM; d++) v[d] = (float)(v[d] / sqrt(n));
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- bandwidth floor: read every byte once, as a search would ---- */

typedef struct rd {
    const uint8_t *p;
    size_t bytes, chunk;
    uint64_t sink[64];
} rd;

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void read_chunk(void *ctx, size_t i)
{
    rd *r = ctx;
    size_t a = i * r->chunk, b = a + r->chunk < r->bytes ? a + r->chunk : r->bytes;
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (size_t o = a; o + 128 <= b; o += 128) {
        acc0 = _mm256_xor_si256(acc0, _mm256_load_si256((const __m256i *)(r->p + o)));
        acc1 = _mm256_xor_si256(acc1, _mm256_load_si256((const __m256i *)(r->p + o + 32)));
        acc2 = _mm256_xor_si256(acc2, _mm256_load_si256((const __m256i *)(r->p + o + 64)));
        acc3 = _mm256_xor_si256(acc3, _mm256_load_si256((const __m256i *)(r->p + o + 96)));
    }
    acc0 = _mm256_xor_si256(_mm256_xor_si256(acc0, acc1), _mm256_xor_si256(acc2, acc3));
    r->sink[i & 63] += (uint64_t)_mm256_extract_epi64(acc0, 0);
}
#else
/* Elsewhere (arm64): plain C over 64-bit words, which -O3 turns into 128-bit NEON loads; the
 * buffers come from malloc or facet_alloc, so the word reads are aligned. */
static void read_chunk(void *ctx, size_t i)
{
    rd *r = ctx;
    size_t a = i * r->chunk, b = a + r->chunk < r->bytes ? a + r->chunk : r->bytes;
    uint64_t acc[16] = {0};
    for (size_t o = a; o + 128 <= b; o += 128) {
        const uint64_t *w = (const uint64_t *)(const void *)(r->p + o);
        for (int k = 0; k < 16; k++) acc[k] ^= w[k];
    }
    for (int k = 1; k < 16; k++) acc[0] ^= acc[k];
    r->sink[i & 63] += acc[0];
}
#endif

#define MAX_REPS 31

static double median_of(double *t, int n)
{
    qsort(t, (size_t)n, sizeof t[0], dbl_cmp);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* CPU time of the whole process: with one thread, the time the search really ran, which a
 * loaded machine inflates far less than the wall clock (it still counts a busy sibling
 * hyperthread's share). */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Median wall ms of a plain read of the bytes; *cpu: the median process CPU ms. */
static double read_ms(const void *p, size_t bytes, pthreadpool_t pool, double *cpu)
{
    rd r = {.p = p, .bytes = bytes, .chunk = 1 << 22};
    size_t n = (bytes + r.chunk - 1) / r.chunk;
    double t[5], c[5];
    for (int rep = -1; rep < 5; rep++) {
        double t0 = facet_now_ms(), c0 = cpu_ms();
        if (pool) pthreadpool_parallelize_1d(pool, read_chunk, &r, n, 0);
        else for (size_t i = 0; i < n; i++) read_chunk(&r, i);
        if (rep >= 0) t[rep] = facet_now_ms() - t0, c[rep] = cpu_ms() - c0;
    }
    *cpu = median_of(c, 5);
    return median_of(t, 5);
}

static void run_search(const void *m, size_t stride, size_t n, facet_dot_fn dot,
                       const float *probes, size_t np, pthreadpool_t pool, int threads,
                       float *sc, uint32_t *rows, int *nout)
{
    facet_search_args a = {m, stride, n, facet_dpad(DIM), dot, probes, np, K, pool, threads};
    if (facet_search(&a, sc, rows, nout)) {
        fprintf(stderr, "search failed (memory)\n");
        exit(1);
    }
}

/* Enrols the n rows into collection "bench", 10000 per batch (one transaction each). */
static int enrol_rows(facet_gallery *g, const char *model, const float *mat, size_t n)
{
    enum { B = 10000 };
    static char idbuf[B][32];
    static const char *ids[B];
    for (size_t i = 0; i < n; i += B) {
        size_t b = n - i < B ? n - i : B;
        for (size_t j = 0; j < b; j++) {
            snprintf(idbuf[j], sizeof idbuf[j], "person-%zu", (i + j) / 3);
            ids[j] = idbuf[j];
        }
        if (facet_gallery_enroll_batch(g, "bench", model, mat + i * DIM, b, DIM, ids, NULL)) {
            fprintf(stderr, "%s\n", facet_gallery_errmsg(g));
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_search N OUT_DIR [--sqlite]\n");
        return 2;
    }
    size_t n = (size_t)strtoull(argv[1], NULL, 10);
    const char *dir = argv[2];
    int do_sqlite = 0, quick = 0;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--sqlite") == 0) do_sqlite = 1;
        else if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else {
            fprintf(stderr, "bench_search: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    char path[1024];

    /* data: rows, and probes that are noisy copies of random rows */
    float *mat = malloc(n * DIM * sizeof(float));
    float *probes = facet_alloc((size_t)NPROBES * DIM * sizeof(float));
    if (!mat || !probes) return 1;
    for (size_t i = 0; i < n; i++) {
        for (int d = 0; d < DIM; d++) mat[i * DIM + d] = frand();
        normalise(mat + i * DIM);
    }
    for (int p = 0; p < NPROBES; p++) {
        size_t src = (size_t)((frand() * 0.5f + 0.5f) * (float)(n - 1));
        for (int d = 0; d < DIM; d++) probes[p * DIM + d] = mat[src * DIM + d] + 0.03f * frand();
        normalise(probes + p * DIM);
    }
    snprintf(path, sizeof path, "%s/matrix.f32", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(mat, sizeof(float) * DIM, n, f) != n || fclose(f)) return 1;
    snprintf(path, sizeof path, "%s/probes.f32", dir);
    f = fopen(path, "wb");
    if (!f || fwrite(probes, sizeof(float) * DIM, NPROBES, f) != NPROBES || fclose(f)) return 1;

    /* facet_cpu_features(): the detected flags after FACET_CPU_MASK, what the kernels use */
    const char *mask = getenv("FACET_CPU_MASK");
    printf("{\"kind\":\"info\",\"n\":%zu,\"dim\":%d,\"cpu\":\"%s\",\"cores\":%d,"
           "\"cpu_mask\":\"%s\"}\n",
           n, DIM, facet_cpu_features(), facet_cpu_count(), mask ? mask : "");
    fflush(stdout);
    float *sc = malloc((size_t)NPROBES * K * sizeof *sc);
    uint32_t *rows = malloc((size_t)NPROBES * K * sizeof *rows);
    int *nout = malloc(NPROBES * sizeof *nout);
    pthreadpool_t pool2 = pthreadpool_create(2);

    for (int dt = 0; dt < 2; dt++) {
        facet_dtype dtype = dt ? FACET_DTYPE_F16 : FACET_DTYPE_F32;
        size_t stride = facet_row_stride(DIM, dtype);
        uint8_t *m = facet_alloc(n * stride);
        if (!m) return 1;
        for (size_t i = 0; i < n; i++) {
            if (dt) {
                uint16_t *h = (uint16_t *)(m + i * stride);
                for (int d = 0; d < DIM; d++) h[d] = facet_f32_to_f16(mat[i * DIM + d]);
            } else {
                memcpy(m + i * stride, mat + i * DIM, DIM * sizeof(float));
            }
        }
        const char *kname;
        facet_dot_fn dot = facet_dot_select(dtype, facet_cpu_flags(), &kname);
        const facet_screen *scr = facet_screen_for(dot);
        const char *sname = scr ? scr->name : "none";
        for (int threads = 1; threads <= 2; threads++) {
            pthreadpool_t pool = threads > 1 ? pool2 : NULL;
            double floor_cpu, floor_ms = read_ms(m, n * stride, pool, &floor_cpu);
            /* single probe: a different probe each call */
            int reps = n >= 500000 ? 9 : 31, breps = n >= 500000 ? 3 : 5;
            double t[MAX_REPS], c[MAX_REPS];
            run_search(m, stride, n, dot, probes, 1, pool, threads, sc, rows, nout); /* warm */
            for (int r = 0; r < reps; r++) {
                double t0 = facet_now_ms(), c0 = cpu_ms();
                run_search(m, stride, n, dot, probes + (size_t)r * DIM, 1, pool, threads, sc,
                           rows, nout);
                t[r] = facet_now_ms() - t0;
                c[r] = cpu_ms() - c0;
            }
            double single = median_of(t, reps), single_cpu = median_of(c, reps);
            for (int r = 0; r < breps; r++) {
                double t0 = facet_now_ms(), c0 = cpu_ms();
                run_search(m, stride, n, dot, probes, 64, pool, threads, sc, rows, nout);
                t[r] = facet_now_ms() - t0;
                c[r] = cpu_ms() - c0;
            }
            double b64 = median_of(t, breps), b64_cpu = median_of(c, breps);
            double b1024 = -1;
            for (int r = 0; r < breps && !quick; r++) {
                double t0 = facet_now_ms();
                run_search(m, stride, n, dot, probes, NPROBES, pool, threads, sc, rows, nout);
                t[r] = facet_now_ms() - t0;
            }
            if (!quick) b1024 = median_of(t, breps);
            printf("{\"kind\":\"facet\",\"dtype\":\"%s\",\"kernel\":\"%s\",\"screen\":\"%s\","
                   "\"threads\":%d,\"bytes\":%zu,\"read_ms\":%.3f,\"single_ms\":%.3f,"
                   "\"batch64_ms\":%.3f,\"batch1024_ms\":%s,\"single_cpu_ms\":%.3f,"
                   "\"batch64_cpu_ms\":%.3f,\"read_cpu_ms\":%.3f}\n",
                   dt ? "fp16" : "fp32", kname, sname, threads, n * stride, floor_ms, single, b64,
                   quick ? "null" : (snprintf(path, sizeof path, "%.3f", b1024), path),
                   single_cpu, b64_cpu, floor_cpu);
            fflush(stdout);
        }
        facet_free_aligned(m);
    }

    /* the public path on a memory: gallery holding the same rows */
    for (int dt = 0; dt < 2 && !quick; dt++) {
        facet_gallery *g = NULL;
        facet_gallery_settings gs;
        facet_gallery_defaults(&gs);
        gs.threads = 1;
        if (facet_gallery_open("memory:", &gs, &g)) return 1;
        facet_collection_settings cs;
        facet_collection_defaults(&cs);
        cs.model_id = "fr_feature@87aacdfe";
        cs.dim = DIM;
        cs.dtype = dt ? FACET_DTYPE_F16 : FACET_DTYPE_F32;
        if (facet_collection_create(g, "bench", &cs)) return 1;
        if (enrol_rows(g, cs.model_id, mat, n)) return 1;
        int reps = n >= 500000 ? 9 : 31;
        double t[MAX_REPS];
        facet_match mt;
        int found = 0, hits = 0;
        for (int r = -1; r < reps; r++) {
            const float *probe = probes + (size_t)(r < 0 ? 0 : r) * DIM;
            double t0 = facet_now_ms();
            int rc = facet_gallery_identify(g, "bench", cs.model_id, probe, DIM, 0.5f, &mt, &found);
            double x = facet_now_ms() - t0;
            if (rc) {
                fprintf(stderr, "identify: %s\n", facet_gallery_errmsg(g));
                return 1;
            }
            if (r >= 0) t[r] = x, hits += found;
        }
        printf("{\"kind\":\"identify\",\"dtype\":\"%s\",\"threads\":1,\"n\":%zu,"
               "\"identify_ms\":%.3f,\"found\":%d,\"reps\":%d}\n",
               dt ? "fp16" : "fp32", n, median_of(t, reps), hits, reps);
        fflush(stdout);
        facet_gallery_destroy(g);
    }

    if (do_sqlite) {
        snprintf(path, sizeof path, "sqlite:%s/load.db", dir);
        unlink(path + 7);
        facet_gallery *g = NULL;
        if (facet_gallery_open(path, NULL, &g)) {
            fprintf(stderr, "%s\n", facet_last_error());
            return 1;
        }
        facet_collection_settings cs;
        facet_collection_defaults(&cs);
        cs.model_id = "fr_feature@87aacdfe";
        cs.dim = DIM;
        cs.dtype = FACET_DTYPE_F16;
        if (facet_collection_create(g, "bench", &cs)) return 1;
        double t0 = facet_now_ms();
        if (enrol_rows(g, cs.model_id, mat, n)) return 1;
        double enrol_ms = facet_now_ms() - t0;
        facet_gallery_destroy(g);
        free(mat); /* keep the peak memory modest for the load */
        mat = NULL;
        if (facet_gallery_open(path, NULL, &g)) return 1;
        facet_load_stats ls;
        if (facet_collection_load(g, "bench", &ls)) {
            fprintf(stderr, "%s\n", facet_gallery_errmsg(g));
            return 1;
        }
        facet_match mt;
        int found = 0;
        double t[MAX_REPS];
        for (int r = -1; r < 9; r++) {
            double t1 = facet_now_ms();
            int rc = facet_gallery_identify(g, "bench", cs.model_id, probes + (size_t)(r < 0 ? 0 : r) * DIM,
                                            DIM, 0.5f, &mt, &found);
            double x = facet_now_ms() - t1;
            if (rc) {
                fprintf(stderr, "identify: %s\n", facet_gallery_errmsg(g));
                return 1;
            }
            if (r >= 0) t[r] = x;
        }
        double id_ms = median_of(t, 9);
        printf("{\"kind\":\"sqlite\",\"n\":%zu,\"enrol_ms\":%.1f,\"load_ms\":%.1f,\"loaded\":%zu,"
               "\"skipped\":%zu,\"identify_ms\":%.3f,\"found\":%d,\"similarity\":%.4f}\n",
               n, enrol_ms, ls.ms, ls.loaded,
               ls.bad_length + ls.bad_model + ls.bad_value + ls.bad_other, id_ms, found,
               found ? mt.similarity : 0.0f);
        facet_gallery_destroy(g);
        unlink(path + 7);
    }
    pthreadpool_destroy(pool2);
    free(mat);
    facet_free_aligned(probes);
    free(sc);
    free(rows);
    free(nout);
    return 0;
}
