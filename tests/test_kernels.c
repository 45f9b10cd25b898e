/*
 * test_kernels.c - every kernel table this machine can run (kernels.h: avx2, avx512) against
 * the C table, slot by slot, on random shapes, in the manner of dav1d's checkasm. Tables the
 * CPU lacks, or that FACET_CPU_MASK masks off, are skipped with the reason printed, so the
 * lower ISAs are reached on any newer machine. Each output is compared by normalised error
 * (largest difference over largest reference value), and the floats just past each output are
 * guards that a masked store must not touch.
 *
 *   test_kernels            TAP, as meson runs it
 *   test_kernels --bench [PEAK256 PEAK512]   GFLOP/s of every table on the models' own shapes,
 *                           and their share of the peaks given (bench/nn/kernels.sh)
 */
#include <stdint.h>
#include <time.h>

#include <xnnpack.h>

#include "base/base.h"
#include "harness.h"
#include "nn/kernels.h"

#define GUARD 24
#define GUARD_VALUE 1234.5f

static uint32_t rng = 12345u;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}
static int rnd(int lo, int hi)
{
    return lo + (int)(next() % (uint32_t)(hi - lo + 1));
}
static float rndf(float lo, float hi)
{
    return lo + (hi - lo) * (float)(next() >> 8) / 16777216.0f;
}

/* Inputs are exactly their size, so that ASan catches a kernel reading past one. */
static float *rand_buf(size_t n, float lo, float hi)
{
    float *p = facet_alloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) p[i] = rndf(lo, hi);
    return p;
}

static float *out_buf(size_t n)
{
    float *p = facet_alloc(sizeof(float) * (n + GUARD));
    for (size_t i = 0; i < n + GUARD; i++) p[i] = GUARD_VALUE;
    return p;
}

/* Normalised error of y against ref over n values, +inf if a guard past them changed. */
static double nerr(const float *ref, const float *y, size_t n)
{
    double maxd = 0, maxv = 1e-6;
    for (size_t i = 0; i < n; i++) {
        if (isnan(ref[i]) != isnan(y[i])) return INFINITY;
        if (isnan(ref[i])) continue;
        if (isinf(ref[i]) || isinf(y[i])) {
            if (ref[i] != y[i]) return INFINITY;
            continue;
        }
        maxd = fmax(maxd, fabs((double)ref[i] - y[i]));
        maxv = fmax(maxv, fabs((double)ref[i]));
    }
    for (size_t i = n; i < n + GUARD; i++)
        if (y[i] != GUARD_VALUE) return INFINITY;
    return maxd / maxv;
}

/* The tables to check: every one but C that this CPU (and FACET_CPU_MASK) allows. */
static int tables(const nn_kernels **out)
{
    int n, k = 0;
    const nn_kernels *const *all = nn_kernels_list(&n);
    const unsigned have = facet_cpu_flags();
    for (int i = 1; i < n; i++) {
        if ((all[i]->needs & have) == all[i]->needs) out[k++] = all[i];
        else printf("# %s: not run, this CPU (FACET_CPU_MASK applied) has only '%s'\n", all[i]->isa, facet_cpu_features());
    }
    return k;
}

/* A random job: packed weights [Cg][kh][kw][Mp] and bias [Mp] zero beyond M, random slopes. */
static nn_conv make_job(int kind, int C, int H, int W, int M, int k, int s, int pt, int pl, int pb, int pr)
{
    nn_conv j;
    memset(&j, 0, sizeof j);
    j.kind = kind;
    j.C = C, j.H = H, j.W = W, j.M = M, j.kh = j.kw = k, j.sh = j.sw = s, j.pt = pt, j.pl = pl;
    j.dil_h = j.dil_w = 1;
    j.OH = (H + pt + pb - k) / s + 1;
    j.OW = (W + pl + pr - k) / s + 1;
    j.Mp = (M + 15) & ~15;
    j.ymm_tail = nn_conv_ymm_tail(kind, M); /* as nn_conv_job sets it */
    const int Cg = kind == NN_K_FIRST || kind == NN_K_PW || kind == NN_K_CONV ? C : 1;
    float *w = rand_buf((size_t)Cg * k * k * j.Mp, -1, 1), *b = rand_buf((size_t)j.Mp, -1, 1);
    float *slope = rand_buf((size_t)j.Mp, -0.5f, 0.5f);
    for (int i = 0; i < Cg * k * k; i++)
        for (int m = M; m < j.Mp; m++) w[(size_t)i * j.Mp + m] = 0;
    for (int m = M; m < j.Mp; m++) b[m] = 0;
    j.w = w, j.b = b, j.slope = slope;
    j.ak = rnd(0, 3);
    /* the job's contract (nn_conv_job): slopes are 1 without an activation and 0 for Relu */
    if (j.ak != NN_K_ACT_SLOPE)
        for (int m = 0; m < j.Mp; m++) slope[m] = j.ak == NN_K_ACT_RELU ? 0.0f : 1.0f;
    if (kind == NN_K_DW || kind == NN_K_CONV) {
        float *z = facet_alloc(sizeof(float) * ((size_t)W * C + 16));
        memset(z, 0, sizeof(float) * ((size_t)W * C + 16));
        j.zero = z;
    }
    return j;
}

static void free_job(nn_conv *j)
{
    facet_free((void *)j->w);
    facet_free((void *)j->b);
    facet_free((void *)j->slope);
    facet_free((void *)j->zero);
}

static const double TOL = 1e-5;

static void t_first_row(void)
{
    const nn_kernels *t[4];
    int nt = tables(t);
    for (int it = 0; it < 60; it++) {
        const int C = rnd(1, 4), M = rnd(0, 2) ? rnd(16, 64) : 16 * rnd(1, 4), k = (int[]){1, 3, 5, 7}[rnd(0, 3)];
        const int s = rnd(1, 3), H = rnd(k, 30), W = rnd(k, 60); /* 3: the any-stride tiles */
        nn_conv j = make_job(NN_K_FIRST, C, H, W, M, k, s, rnd(0, k / 2), rnd(0, k / 2), rnd(0, k / 2), rnd(0, k / 2));
        float *x = rand_buf((size_t)C * H * W, -1, 1);
        j.x = x;
        const size_t row = (size_t)j.OW * M;
        float *ref = out_buf(row), *y = out_buf(row);
        for (int i = 0; i < nt; i++) {
            for (int oy = 0; oy < j.OH; oy++) {
                nn_kernels_c.first_row(&j, oy, ref);
                t[i]->first_row(&j, oy, y);
                double e = nerr(ref, y, row);
                CHECK_MSG(e <= TOL, "%s first_row C%d H%d W%d M%d k%d s%d pads %d,%d act %d row %d: error %.3g",
                          t[i]->isa, C, H, W, M, k, s, j.pt, j.pl, j.ak, oy, e);
                if (e > TOL) break;
            }
        }
        facet_free(x), facet_free(ref), facet_free(y);
        free_job(&j);
    }
}

static void t_dw_row(void)
{
    const nn_kernels *t[4];
    int nt = tables(t);
    for (int it = 0; it < 80; it++) {
        const int C = rnd(0, 1) ? 8 * rnd(2, 16) : rnd(16, 130), s = rnd(1, 2), W = rnd(3, 50);
        nn_conv j = make_job(NN_K_DW, C, 3, W, C, 3, s, 0, rnd(0, 1), 0, rnd(0, 1));
        float *rowsbuf = rand_buf((size_t)3 * W * C, -1, 1);
        const float *rows[3];
        for (int r = 0; r < 3; r++) rows[r] = rnd(0, 4) ? rowsbuf + (size_t)r * W * C : NULL;
        const size_t row = (size_t)j.OW * C;
        float *ref = out_buf(row), *y = out_buf(row);
        nn_kernels_c.dw_row(&j, rows, ref);
        for (int i = 0; i < nt; i++) {
            for (size_t k = 0; k < row + GUARD; k++) y[k] = GUARD_VALUE;
            t[i]->dw_row(&j, rows, y);
            double e = nerr(ref, y, row);
            CHECK_MSG(e <= TOL, "%s dw_row C%d W%d s%d pads %d act %d rows %d%d%d: error %.3g", t[i]->isa, C, W, s,
                      j.pl, j.ak, !!rows[0], !!rows[1], !!rows[2], e);
        }
        facet_free(rowsbuf), facet_free(ref), facet_free(y);
        free_job(&j);
    }
}

static void t_conv_row(void)
{
    const nn_kernels *t[4];
    int nt = tables(t);
    for (int it = 0; it < 60; it++) {
        const int C = rnd(0, 1) ? 8 * rnd(1, 8) : rnd(8, 70), M = rnd(0, 1) ? 8 * rnd(1, 9) : rnd(4, 70);
        const int k = rnd(2, NN_K_MAXK), s = rnd(1, 2), d = it % 3 ? 1 : rnd(2, 3), ek = (k - 1) * d + 1;
        const int W = rnd(ek, 40), pl = rnd(0, ek / 2), pr = rnd(0, ek / 2);
        nn_conv j = make_job(NN_K_CONV, C, k, W - ek + k, M, k, s, 0, pl, 0, pr);
        j.W = W, j.dil_w = j.dil_h = d; /* make_job sized the output for an undilated kernel */
        j.OW = (W + pl + pr - ek) / s + 1;
        float *rowsbuf = rand_buf((size_t)k * W * C, -1, 1);
        const float *rows[NN_K_MAXK];
        int valid = 0;
        for (int r = 0; r < k; r++) {
            rows[r] = rnd(0, 4) ? rowsbuf + (size_t)r * W * C : NULL;
            valid += rows[r] != NULL;
        }
        const size_t row = (size_t)j.OW * M;
        float *ref = out_buf(row), *y = out_buf(row);
        nn_kernels_c.conv_row(&j, rows, ref);
        for (int i = 0; i < nt; i++) {
            if (!t[i]->conv_row) continue;
            for (size_t q = 0; q < row + GUARD; q++) y[q] = GUARD_VALUE;
            t[i]->conv_row(&j, rows, y);
            /* summation order differs; its error grows like the square root of the terms, and a
             * Tanh output is normalised by at most 1 whatever the size of the sums */
            const double tol = TOL * fmax(1.0, sqrt((double)C * k * k / 64.0));
            double e = nerr(ref, y, row);
            CHECK_MSG(e <= tol, "%s conv_row C%d M%d k%d s%d d%d W%d pads %d,%d act %d rows %d/%d: error %.3g > %.3g",
                      t[i]->isa, C, M, k, s, d, W, pl, pr, j.ak, valid, k, e, tol);
        }
        facet_free(rowsbuf), facet_free(ref), facet_free(y);
        free_job(&j);
    }
}

static void t_pw_pixels(void)
{
    const nn_kernels *t[4];
    int nt = tables(t);
    for (int it = 0; it < 60; it++) {
        const int C = rnd(0, 1) ? 16 * rnd(1, 16) : rnd(1, 200), M = it % 3 == 0 ? rnd(1, 8) : rnd(0, 1) ? 16 * rnd(1, 10) : rnd(9, 130);
        const int n = rnd(1, 200);
        nn_conv j = make_job(NN_K_PW, C, 1, n, M, 1, 1, 0, 0, 0, 0);
        float *x = rand_buf((size_t)n * C, -1, 1);
        const size_t out = (size_t)n * M;
        float *ref = out_buf(out), *y = out_buf(out);
        nn_kernels_c.pw_pixels(&j, x, ref, n);
        for (int i = 0; i < nt; i++) {
            for (size_t k = 0; k < out + GUARD; k++) y[k] = GUARD_VALUE;
            t[i]->pw_pixels(&j, x, y, n);
            double e = nerr(ref, y, out);
            CHECK_MSG(e <= TOL, "%s pw_pixels C%d M%d n%d act %d: error %.3g", t[i]->isa, C, M, n, j.ak, e);
        }
        facet_free(x), facet_free(ref), facet_free(y);
        free_job(&j);
    }
}

static void t_global_depthwise(void)
{
    const nn_kernels *t[4];
    int nt = tables(t);
    for (int it = 0; it < 40; it++) {
        const int C = rnd(0, 1) ? 16 * rnd(1, 40) : rnd(16, 600), H = rnd(1, 9), W = rnd(1, 9);
        nn_conv j = make_job(NN_K_GD, C, H, W, C, 1, 1, 0, 0, 0, 0);
        /* the global kernel's weights: [H*W][Cp] */
        facet_free((void *)j.w);
        float *w = rand_buf((size_t)H * W * j.Mp, -1, 1);
        j.w = w;
        float *x = rand_buf((size_t)H * W * C, -1, 1), *ref = out_buf((size_t)C), *y = out_buf((size_t)C);
        j.x = x;
        j.y = ref;
        nn_kernels_c.gd(&j);
        for (int i = 0; i < nt; i++) {
            for (int k = 0; k < C + GUARD; k++) y[k] = GUARD_VALUE;
            j.y = y;
            t[i]->gd(&j);
            double e = nerr(ref, y, (size_t)C);
            CHECK_MSG(e <= TOL, "%s gd C%d H%d W%d act %d: error %.3g", t[i]->isa, C, H, W, j.ak, e);
        }
        facet_free(x), facet_free(ref), facet_free(y);
        free_job(&j);
    }
}

/* Exp, Tanh and pairwise Softmax, element by element (relative error), on lengths with partial
 * last vectors, values up to +-120 (overflow, underflow, saturation) and NaN / infinities. */
static void t_lanes(void)
{
    const nn_kernels *t[4];
    int nt = tables(t);
    for (int it = 0; it < 60; it++) {
        const int op = (int[]){NN_OP_EXP, NN_OP_TANH, NN_OP_SOFTMAX}[it % 3];
        const int n = op == NN_OP_SOFTMAX ? 2 * rnd(1, 150) : rnd(1, 300);
        const float scale = (float[]){0.001f, 1, 10, 120}[rnd(0, 3)];
        float *x = rand_buf((size_t)n, -scale, scale), *ref = out_buf((size_t)n), *y = out_buf((size_t)n);
        if (it % 5 == 0) x[rnd(0, n - 1)] = NAN;
        if (it % 7 == 0) x[rnd(0, n - 1)] = op == NN_OP_SOFTMAX ? 1e30f : INFINITY;
        nn_kernels_c.lanes(op, x, ref, n);
        for (int i = 0; i < nt; i++) {
            for (int k = 0; k < n + GUARD; k++) y[k] = GUARD_VALUE;
            t[i]->lanes(op, x, y, n);
            double worst = 0;
            for (int k = 0; k < n; k++) {
                double e = isnan(ref[k]) || isnan(y[k]) ? (isnan(ref[k]) == isnan(y[k]) ? 0 : INFINITY)
                           : ref[k] == y[k]              ? 0
                                                         : fabs((double)ref[k] - y[k]) / fmax(fabs((double)ref[k]), 1e-30);
                worst = fmax(worst, e);
            }
            for (int k = n; k < n + GUARD; k++)
                if (y[k] != GUARD_VALUE) worst = INFINITY;
            CHECK_MSG(worst <= 2e-6, "%s lanes op %d n%d scale %g: relative error %.3g", t[i]->isa, op, n,
                      (double)scale, worst);
        }
        facet_free(x), facet_free(ref), facet_free(y);
    }
}

/* The affine slot (BatchNormalization, and a Concat's slice of it): channels 1-150, pixel
 * strides wider than C on either side (the slice of a wider output), Relu or not, NaNs; the
 * channels between slices must stay untouched. */
static void t_affine(void)
{
    const nn_kernels *t[4];
    int nt = tables(t);
    for (int it = 0; it < 80; it++) {
        const int C = rnd(0, 1) ? 16 * rnd(1, 6) : rnd(1, 150), n = rnd(1, 40), relu = it % 2;
        const int xs = C + (rnd(0, 1) ? 0 : rnd(1, 40)), ys = C + (rnd(0, 1) ? 0 : rnd(1, 40));
        const size_t ny = (size_t)n * ys + GUARD;
        float *x = rand_buf((size_t)n * xs, -3, 3), *a = rand_buf((size_t)C, -2, 2), *b = rand_buf((size_t)C, -2, 2);
        float *ref = out_buf(ny), *y = out_buf(ny);
        if (it % 5 == 0) x[rnd(0, n * xs - 1)] = NAN;
        for (size_t q = 0; q < ny; q++) ref[q] = GUARD_VALUE;
        nn_kernels_c.affine(x, xs, a, b, relu, ref, ys, C, n);
        for (int i = 0; i < nt; i++) {
            if (!t[i]->affine) continue;
            for (size_t q = 0; q < ny; q++) y[q] = GUARD_VALUE;
            t[i]->affine(x, xs, a, b, relu, y, ys, C, n);
            double worst = 0;
            for (int p = 0; p < n; p++)
                for (int c = 0; c < ys; c++) {
                    const size_t at = (size_t)p * ys + c;
                    /* a fused multiply-add rounds once where the C table rounds twice */
                    const double bound = 1.2e-7 * (fabs((double)x[(size_t)p * xs + (c < C ? c : 0)] * a[c < C ? c : 0]) +
                                                   fabs((double)b[c < C ? c : 0])) + 1e-30;
                    const double e = c >= C ? (y[at] == GUARD_VALUE ? 0 : INFINITY)
                                     : isnan(ref[at]) || isnan(y[at]) ? (isnan(ref[at]) == isnan(y[at]) ? 0 : INFINITY)
                                                                      : fabs((double)ref[at] - y[at]) / bound;
                    worst = fmax(worst, e);
                }
            for (size_t q = (size_t)n * ys; q < ny; q++)
                if (y[q] != GUARD_VALUE) worst = INFINITY;
            CHECK_MSG(worst <= 1.0, "%s affine C%d n%d strides %d,%d relu %d: error %.3g ulps of the terms", t[i]->isa,
                      C, n, xs, ys, relu, worst);
        }
        facet_free(x), facet_free(a), facet_free(b), facet_free(ref), facet_free(y);
    }
}

/* ---------- --bench: each table on the models' own shapes ---------- */

/* The thread's CPU time, not the wall clock: on a loaded machine a kernel that is preempted
 * does not look slow (bench/nn/peak.c measures the peak the same way). */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct bench_case {
    const char *name; /* model and step */
    int kind, C, H, W, M, k, s, pad;
} bench_case;

static const bench_case cases[] = {
    {"fr_detect first 3>16 k3 s2 240x320", NN_K_FIRST, 3, 240, 320, 16, 3, 2, 1},
    {"fr_feature first 3>64 k3 s2 112x112", NN_K_FIRST, 3, 112, 112, 64, 3, 2, 1},
    {"fr_pose first 3>24 k3 s1 64x64", NN_K_FIRST, 3, 64, 64, 24, 3, 1, 1},
    {"fr_expression first 3>64 k7 s2 224x224", NN_K_FIRST, 3, 224, 224, 64, 7, 2, 3},
    {"fr_detect dw 32 s1 120x160", NN_K_DW, 32, 120, 160, 32, 3, 1, 1},
    {"fr_feature dw 64 s1 56x56", NN_K_DW, 64, 56, 56, 64, 3, 1, 1},
    {"fr_feature dw 128 s2 56x56", NN_K_DW, 128, 56, 56, 128, 3, 2, 1},
    {"fr_expression conv 128>32 k3 56x56", NN_K_CONV, 128, 56, 56, 32, 3, 1, 1},
    {"fr_expression conv 256>32 k3 28x28", NN_K_CONV, 256, 28, 28, 32, 3, 1, 1},
    {"fr_expression conv 128>32 k3 14x14", NN_K_CONV, 128, 14, 14, 32, 3, 1, 1},
    {"fr_expression conv 128>32 k3 7x7", NN_K_CONV, 128, 7, 7, 32, 3, 1, 1},
    {"fr_detect conv 16>32 k3 s2 60x80", NN_K_CONV, 16, 60, 80, 32, 3, 2, 1},
    {"fr_detect conv 16>16 k3 30x40", NN_K_CONV, 16, 30, 40, 16, 3, 1, 1},
    {"fr_gender conv 32>32 k3 32x32", NN_K_CONV, 32, 32, 32, 32, 3, 1, 1},
    {"fr_gender conv 16>16 k3 32x32", NN_K_CONV, 16, 32, 32, 16, 3, 1, 1},
    {"fr_detect pw 16>32 120x160", NN_K_PW, 16, 120, 160, 32, 1, 1, 0},
    {"fr_feature pw 64>128 56x56", NN_K_PW, 64, 56, 56, 128, 1, 1, 0},
    {"fr_feature pw 128>64 28x28", NN_K_PW, 128, 28, 28, 64, 1, 1, 0},
    {"fr_pose pw 464>1024 7x7", NN_K_PW, 464, 7, 7, 1024, 1, 1, 0},
    {"fr_expression pw 256>128 56x56", NN_K_PW, 256, 56, 56, 128, 1, 1, 0},
    {"fr_expression pw 512>128 28x28", NN_K_PW, 512, 28, 28, 128, 1, 1, 0},
    {"fr_expression pw 1024>128 14x14", NN_K_PW, 1024, 14, 14, 128, 1, 1, 0},
    {"fr_expression pw 1024>128 7x7", NN_K_PW, 1024, 7, 7, 128, 1, 1, 0},
    {"fr_feature gd 512 7x7", NN_K_GD, 512, 7, 7, 512, 7, 1, 0},
};

/* 2 x multiply-accumulates of one case, as bench/nn counts them */
static double flops_of(const bench_case *c, const nn_conv *j)
{
    const double taps = c->kind == NN_K_FIRST || c->kind == NN_K_CONV ? (double)c->C * c->k * c->k
                        : c->kind == NN_K_PW ? (double)c->C
                        : c->kind == NN_K_DW ? 9.0
                                             : (double)c->H * c->W;
    return 2.0 * taps * (double)j->OH * j->OW * j->M;
}

typedef struct bench_run {
    const nn_kernels *t; /* NULL: the XNNPACK operator */
    const bench_case *c;
    const nn_conv *j;
    const float *x;
    float *y;
    xnn_operator_t op;
} bench_run;

static void run_case(const bench_run *r)
{
    const nn_conv *j = r->j;
    if (!r->t) {
        xnn_run_operator(r->op, NULL);
    } else if (j->kind == NN_K_FIRST) {
        for (int oy = 0; oy < j->OH; oy++) r->t->first_row(j, oy, r->y + (size_t)oy * j->OW * j->M);
    } else if (j->kind == NN_K_DW || j->kind == NN_K_CONV) {
        for (int oy = 0; oy < j->OH; oy++) {
            const float *rows[NN_K_MAXK];
            nn_conv_tap_rows(j, r->x, oy, rows);
            float *y = r->y + (size_t)oy * j->OW * j->M;
            if (j->kind == NN_K_DW) r->t->dw_row(j, rows, y);
            else r->t->conv_row(j, rows, y);
        }
    } else if (j->kind == NN_K_PW) {
        r->t->pw_pixels(j, r->x, r->y, j->H * j->W);
    } else {
        r->t->gd(j);
    }
}

/* Prints one case's GFLOP/s: the median of 7 timed runs of enough repetitions for 20 ms, after
 * one untimed run; with its share of `peak` when that is known. */
static void time_case(const bench_run *r, double peak, int width)
{
    double t[7];
    double t0 = now_s();
    run_case(r);
    const double one = now_s() - t0;
    const int reps = one < 0.02 ? (int)(0.02 / (one + 1e-9)) + 1 : 1;
    for (int i = 0; i < 7; i++) {
        t0 = now_s();
        for (int k = 0; k < reps; k++) run_case(r);
        t[i] = (now_s() - t0) / reps;
    }
    for (int a = 0; a < 7; a++) /* sort for the median */
        for (int b = a + 1; b < 7; b++)
            if (t[b] < t[a]) {
                const double tmp = t[a];
                t[a] = t[b], t[b] = tmp;
            }
    const double g = flops_of(r->c, r->j) / t[3] * 1e-9;
    if (peak > 0) printf(" %5.1f %3.0f%%", g, 100 * g / peak);
    else printf(" %*.1f", width, g);
}

/* The same convolution as an XNNPACK operator (the provider the planner weighs our slots
 * against): weights from the job's packing to XNNPACK's [M][kh][kw][Cg], NHWC in and out, Relu,
 * on the calling thread. Returns NULL for the global depthwise (not measured here) or when
 * XNNPACK fails. */
static xnn_operator_t xnn_for(const bench_case *c, const nn_conv *j)
{
    if (nn_xnn_init() || c->kind == NN_K_GD) return NULL;
    const int k = c->k, dw = c->kind == NN_K_DW, Cg = dw ? 1 : c->C, G = dw ? c->C : 1, Mg = dw ? 1 : c->M;
    float *w = facet_alloc(sizeof(float) * (size_t)c->M * k * k * Cg);
    for (int m = 0; m < c->M; m++)
        for (int t = 0; t < k * k; t++)
            for (int ci = 0; ci < Cg; ci++) {
                const size_t at = c->kind == NN_K_CONV ? ((size_t)t * c->C + ci) * j->Mp + m
                                  : dw                 ? (size_t)t * j->Mp + m
                                                       : ((size_t)ci * k * k + t) * j->Mp + m;
                w[((size_t)m * k * k + t) * Cg + ci] = j->w[at];
            }
    xnn_operator_t op = NULL;
    enum xnn_status x = xnn_create_convolution2d_nhwc_f32(
        (uint32_t)c->pad, (uint32_t)c->pad, (uint32_t)c->pad, (uint32_t)c->pad, (uint32_t)k, (uint32_t)k,
        (uint32_t)c->s, (uint32_t)c->s, 1, 1, (uint32_t)G, (size_t)Cg, (size_t)Mg, (size_t)c->C, (size_t)c->M, w, j->b,
        0.0f, INFINITY, 0, &op);
    facet_free(w);
    return x == xnn_status_success ? op : NULL;
}

/* peak256 / peak512: the core's measured FMA peaks (bench/nn/peak.c), 0 if unknown: each
 * figure then also shows its share of the peak for its vector width (c: 256-bit). */
static int bench(double peak256, double peak512)
{
    int n;
    const nn_kernels *const *all = nn_kernels_list(&n);
    const unsigned have = facet_cpu_flags();
    const int width = peak256 > 0 ? 10 : 9;
    printf("# kernel tables on one thread, GFLOP/s of thread CPU time (median of 7 timed runs); CPU: %s\n", facet_cpu_features());
    printf("%-40s", "shape");
    for (int i = 0; i < n; i++) printf(" %*s", width, all[i]->isa);
    printf(" %*s\n", width, "xnnpack");
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const bench_case *c = &cases[ci];
        nn_conv j = make_job(c->kind, c->C, c->H, c->W, c->M, c->k, c->s, c->pad, c->pad, c->pad, c->pad);
        if (c->kind == NN_K_GD) j.OH = j.OW = 1;
        j.ak = NN_K_ACT_RELU; /* what XNNPACK's operator below clamps to as well */
        for (int m = 0; m < j.Mp; m++) ((float *)j.slope)[m] = 0.0f;
        float *x = rand_buf((size_t)c->C * c->H * c->W, -1, 1);
        float *y = out_buf((size_t)j.OH * j.OW * j.M + 64);
        if (c->kind == NN_K_GD) {
            facet_free((void *)j.w);
            j.w = rand_buf((size_t)c->H * c->W * j.Mp, -1, 1);
        }
        j.x = x, j.y = y;
        printf("%-40s", c->name);
        bench_run r = {NULL, c, &j, x, y, NULL};
        for (int i = 0; i < n; i++) {
            if ((all[i]->needs & have) != all[i]->needs || (c->kind == NN_K_CONV && !all[i]->conv_row)) {
                printf(" %*s", width, "-");
                continue;
            }
            r.t = all[i];
            time_case(&r, !strcmp(all[i]->isa, "avx512") ? peak512 : peak256, width);
        }
        /* XNNPACK on the same input (read as NHWC: the same bytes, a different image, the same
         * work), timed the same way; its microkernels follow FACET_CPU_MASK as in sessions */
        r.t = NULL;
        r.op = xnn_for(c, &j);
        if (r.op && xnn_setup_convolution2d_nhwc_f32(r.op, 1, (size_t)c->H, (size_t)c->W, x, y, NULL) == xnn_status_success)
            time_case(&r, (have & FACET_CPU_AVX512F) ? peak512 : peak256, width);
        else
            printf(" %*s", width, "-");
        if (r.op) xnn_delete_operator(r.op);
        printf("\n");
        facet_free(x), facet_free(y);
        free_job(&j);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {TEST(t_first_row), TEST(t_dw_row), TEST(t_conv_row), TEST(t_pw_pixels),
                                      TEST(t_global_depthwise), TEST(t_affine), TEST(t_lanes)};
    if (argc > 1 && !strcmp(argv[1], "--bench"))
        return bench(argc > 2 ? atof(argv[2]) : 0, argc > 3 ? atof(argv[3]) : 0);
    return th_run(tests, (int)(sizeof tests / sizeof tests[0]), argc, argv);
}
