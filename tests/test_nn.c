/*
 * test_nn.c - the inference engine against ONNX Runtime and against itself.
 *
 *  - the nine real models, both backends, 1 and 2 threads: outputs equal ONNX Runtime's
 *    (tests/vectors, made by tests/vectors/make.sh) within 1e-4 relative / 1e-5 absolute;
 *  - per-operator graphs on random shapes and weights: the XNNPACK backend equals the
 *    reference backend by normalised error;
 *  - hostile model files: truncated, garbage, huge dimensions, out-of-range indices, cycles,
 *    unknown operators/attributes, wrong opset: an error with a message, never a crash;
 *  - one model shared by two threads gives the single-thread result; runs allocate nothing.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>

#include "facet/facet.h"
#include "harness.h"
#include "onnx_build.h"

static void lcg_fill(float *dst, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i++) {
        x = 1664525u * x + 1013904223u;
        dst[i] = (float)((double)x / 4294967296.0 * 2.0 - 1.0);
    }
}

static float *read_f32(const char *path, size_t count)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *p = malloc(count * sizeof(float) + 4);
    size_t got = fread(p, sizeof(float), count, f);
    fclose(f);
    if (got != count) {
        free(p);
        return NULL;
    }
    return p;
}

static int have_models(void)
{
    char p[1024];
    return test_file_exists(test_path(p, sizeof p, test_model_dir(), "fr_eye.onnx"));
}

static facet_nn_model *load_model(const char *name)
{
    char p[1024], f[256];
    snprintf(f, sizeof f, "%s.onnx", name);
    facet_nn_model *m = NULL;
    int rc = facet_nn_model_load(test_path(p, sizeof p, test_model_dir(), f), &m);
    CHECK_MSG(rc == 0, "%s: %s", name, facet_last_error());
    return m;
}

/* Every model and seed of the manifest through one backend and thread count. */
static void check_against_ort(facet_nn_backend backend, int threads)
{
    if (!have_models()) SKIP("models not fetched (make models)");
    char path[1024];
    FILE *mf = fopen(test_path(path, sizeof path, FACET_SOURCE_ROOT "/tests/vectors", "manifest.txt"), "r");
    CHECK(mf != NULL);
    if (!mf) return;
    char line[512], cur_model[64] = "";
    int cur_seed = -1, compared = 0;
    facet_nn_model *m = NULL;
    facet_nn_session *s = NULL;
    while (fgets(line, sizeof line, mf)) {
        char model[64], file[256];
        int seed, index;
        long count;
        if (line[0] == '#' || sscanf(line, "%63s %d %d %ld %255s", model, &seed, &index, &count, file) != 5) continue;
        if (strcmp(model, cur_model)) {
            facet_nn_session_destroy(s);
            facet_nn_model_destroy(m);
            s = NULL;
            m = load_model(model);
            if (!m) break;
            facet_nn_settings set;
            facet_nn_settings_defaults(&set);
            set.backend = backend;
            set.num_threads = threads;
            int rc = facet_nn_session_create(m, &set, &s);
            CHECK_MSG(rc == 0, "%s: %s", model, facet_last_error());
            if (rc) break;
            snprintf(cur_model, sizeof cur_model, "%s", model);
            cur_seed = -1;
        }
        if (seed != cur_seed) {
            facet_nn_shape in;
            facet_nn_session_input_shape(s, 0, &in);
            size_t n = (size_t)facet_nn_shape_count(&in);
            float *x = malloc(n * sizeof *x);
            lcg_fill(x, n, (uint32_t)seed);
            CHECK_EQ(facet_nn_session_set_input(s, 0, x, n), 0);
            CHECK_EQ(facet_nn_session_run(s), 0);
            free(x);
            cur_seed = seed;
        }
        const float *y;
        facet_nn_shape ys;
        CHECK_EQ(facet_nn_session_output(s, index, &y, &ys), 0);
        CHECK_EQ(facet_nn_shape_count(&ys), count);
        float *ref = read_f32(test_path(path, sizeof path, FACET_SOURCE_ROOT "/tests/vectors", file), (size_t)count);
        CHECK_MSG(ref != NULL, "cannot read %s", file);
        if (!ref || facet_nn_shape_count(&ys) != count) continue;
        long bad = 0;
        double worst = 0;
        for (long i = 0; i < count; i++) {
            double d = fabs((double)y[i] - ref[i]), tol = fmax(1e-4 * fabs(ref[i]), 1e-5);
            if (!(d <= tol)) bad++;
            if (d / tol > worst) worst = d / tol;
        }
        CHECK_MSG(bad == 0, "%s seed %d output %d: %ld of %ld values off, worst %.2fx the tolerance", model, seed,
                  index, bad, count, worst);
        free(ref);
        compared++;
    }
    fclose(mf);
    facet_nn_session_destroy(s);
    facet_nn_model_destroy(m);
    CHECK(compared >= 36);
}

static void t_ort_ref_1thread(void)
{
    check_against_ort(FACET_NN_BACKEND_REF, 1);
}

static void t_ort_xnnpack_1thread(void)
{
    check_against_ort(FACET_NN_BACKEND_XNNPACK, 1);
}

static void t_ort_xnnpack_2threads(void)
{
    check_against_ort(FACET_NN_BACKEND_XNNPACK, 2);
}

/* ---------- backends against each other on random single-operator graphs ---------- */

typedef struct run_out {
    int n;
    float *data[8];
    int64_t count[8];
} run_out;

static int run_bytes(const uint8_t *bytes, size_t size, facet_nn_backend be, int threads, uint32_t seed, run_out *out)
{
    facet_nn_model *m;
    int rc = facet_nn_model_load_memory(bytes, size, &m);
    if (rc) return rc;
    facet_nn_settings set;
    facet_nn_settings_defaults(&set);
    set.backend = be;
    set.num_threads = threads;
    facet_nn_session *s;
    rc = facet_nn_session_create(m, &set, &s);
    if (rc) {
        facet_nn_model_destroy(m);
        return rc;
    }
    facet_nn_shape in;
    facet_nn_session_input_shape(s, 0, &in);
    size_t n = (size_t)facet_nn_shape_count(&in);
    float *x = malloc(n * sizeof *x);
    lcg_fill(x, n, seed);
    facet_nn_session_set_input(s, 0, x, n);
    free(x);
    rc = facet_nn_session_run(s);
    out->n = facet_nn_model_num_outputs(m);
    for (int i = 0; i < out->n && i < 8; i++) {
        const float *y;
        facet_nn_shape ys;
        facet_nn_session_output(s, i, &y, &ys);
        out->count[i] = facet_nn_shape_count(&ys);
        out->data[i] = malloc(sizeof(float) * (size_t)out->count[i] + 4);
        memcpy(out->data[i], y, sizeof(float) * (size_t)out->count[i]);
    }
    facet_nn_session_destroy(s);
    facet_nn_model_destroy(m);
    return rc;
}

static void free_out(run_out *o)
{
    for (int i = 0; i < o->n && i < 8; i++) free(o->data[i]);
}

/* XNNPACK (1 and 2 threads) against the reference: max |a - b| / max |b| <= 1e-5. */
static void compare_backends(const char *what, ob_graph *g)
{
    size_t size;
    uint8_t *bytes = ob_pack(g, &size);
    run_out ref = {0};
    int rc = run_bytes(bytes, size, FACET_NN_BACKEND_REF, 1, 7, &ref);
    CHECK_MSG(rc == 0, "%s: ref: %s", what, facet_last_error());
    for (int threads = 1; threads <= 2 && rc == 0; threads++) {
        run_out x = {0};
        int rx = run_bytes(bytes, size, FACET_NN_BACKEND_XNNPACK, threads, 7, &x);
        CHECK_MSG(rx == 0, "%s: xnnpack: %s", what, facet_last_error());
        CHECK_EQ(x.n, ref.n);
        for (int i = 0; rx == 0 && i < ref.n && i < x.n; i++) {
            CHECK_EQ(x.count[i], ref.count[i]);
            double maxd = 0, maxv = 1e-6;
            for (int64_t k = 0; k < ref.count[i] && x.count[i] == ref.count[i]; k++) {
                maxd = fmax(maxd, fabs((double)x.data[i][k] - ref.data[i][k]));
                maxv = fmax(maxv, fabs((double)ref.data[i][k]));
                if (isnan(x.data[i][k])) maxd = INFINITY;
            }
            CHECK_MSG(maxd / maxv <= 1e-5, "%s: output %d, %d threads: normalised error %.3g", what, i, threads,
                      maxd / maxv);
        }
        free_out(&x);
    }
    free_out(&ref);
    free(bytes);
}

static int rnd(ob_graph *g, int lo, int hi)
{
    return lo + (int)((ob_rand(g) * 0.5f + 0.5f) * (float)(hi - lo + 1)) % (hi - lo + 1);
}

/* Conv (+BN, +Relu / PRelu) with random channels, groups, kernel, stride, dilation, pads. */
static void t_xnnpack_conv_random(void)
{
    for (int it = 0; it < 24; it++) {
        ob_graph g;
        ob_init(&g, 9, 100u + (uint32_t)it);
        int C = rnd(&g, 1, 12), H = rnd(&g, 5, 17), W = rnd(&g, 5, 17);
        int dw = it % 3 == 0;
        int G = dw ? C : (C % 2 == 0 && it % 3 == 1 ? 2 : 1);
        int M = dw ? C * rnd(&g, 1, 2) : G * rnd(&g, 1, 8);
        int k = (int[]){1, 3, 5, 3}[it % 4], s = rnd(&g, 1, 2), d = k > 1 && it % 5 == 0 ? 2 : 1;
        int64_t pads[4] = {rnd(&g, 0, k / 2), rnd(&g, 0, k / 2), rnd(&g, 0, k / 2), rnd(&g, 0, k / 2)};
        if ((k - 1) * d + 1 > H + pads[0] + pads[2] || (k - 1) * d + 1 > W + pads[1] + pads[3]) continue;
        int64_t xs[4] = {1, C, H, W}, ws[4] = {M, C / G, k, k}, bs[1] = {M};
        ob_input(&g, "x", 4, xs);
        ob_weight(&g, "w", 4, ws, -1, 1);
        ob_weight(&g, "b", 1, bs, -1, 1);
        Onnx__NodeProto *n = ob_node(&g, "Conv", it % 2 ? "x w b" : "x w", "c");
        ob_attr_i(&g, n, "group", G);
        ob_attr_ints(&g, n, "kernel_shape", 2, (int64_t[]){k, k});
        ob_attr_ints(&g, n, "strides", 2, (int64_t[]){s, s});
        ob_attr_ints(&g, n, "dilations", 2, (int64_t[]){d, d});
        ob_attr_ints(&g, n, "pads", 4, pads);
        const char *last = "c";
        if (it % 4 == 1) {
            ob_weight(&g, "bn_s", 1, bs, 0.5f, 1.5f);
            ob_weight(&g, "bn_b", 1, bs, -1, 1);
            ob_weight(&g, "bn_m", 1, bs, -1, 1);
            ob_weight(&g, "bn_v", 1, bs, 0.1f, 2);
            ob_node(&g, "BatchNormalization", "c bn_s bn_b bn_m bn_v", "bn");
            last = "bn";
        }
        if (it % 3 == 2) {
            ob_node(&g, "Relu", last, "y");
        } else if (it % 3 == 1) {
            ob_weight(&g, "slope", 3, (int64_t[]){M, 1, 1}, -0.5f, 0.5f);
            ob_node(&g, "PRelu", strcmp(last, "c") ? "bn slope" : "c slope", "y");
        } else {
            ob_node(&g, "Identity", last, "y");
        }
        ob_output(&g, "y");
        char what[128];
        snprintf(what, sizeof what, "conv C%d H%d W%d M%d G%d k%d s%d d%d", C, H, W, M, G, k, s, d);
        compare_backends(what, &g);
    }
}

/* The shapes our own kernels (kernels.h) take: image-like first layers (1-4 channels in, 16-64
 * out, 17-24 of them on the zmm + ymm kernel, read in NCHW) and depthwise 3x3 on 16 or more channels (whole and partial 16-channel
 * groups), at both strides, with asymmetric padding, rows wide enough for the 8-pixel blocks,
 * and no activation, Relu, PRelu or Tanh; the reference must agree whatever kernel the CPU
 * selects. */
static void t_own_conv_random(void)
{
    for (int it = 0; it < 32; it++) {
        ob_graph g;
        ob_init(&g, 9, 700u + (uint32_t)it);
        int first = it % 2 == 0;
        int C = first ? rnd(&g, 1, 4) : (it % 4 == 1 ? 16 * rnd(&g, 1, 3) : rnd(&g, 16, 70));
        int H = rnd(&g, 5, 23), W = rnd(&g, 5, 47);
        int M = first ? (it % 6 == 0 ? 16 * rnd(&g, 1, 4) : it % 6 == 2 ? rnd(&g, 17, 24) : rnd(&g, 16, 64)) : C;
        int k = first ? (int[]){3, 5, 7, 1}[it / 2 % 4] : 3;
        int s = rnd(&g, 1, 2);
        int64_t pads[4] = {rnd(&g, 0, k / 2), rnd(&g, 0, k / 2), rnd(&g, 0, k / 2), rnd(&g, 0, k / 2)};
        if (k > H + pads[0] + pads[2] || k > W + pads[1] + pads[3]) continue;
        int64_t xs[4] = {1, C, H, W}, ws[4] = {M, first ? C : 1, k, k}, bs[1] = {M};
        ob_input(&g, "x", 4, xs);
        ob_weight(&g, "w", 4, ws, -1, 1);
        ob_weight(&g, "b", 1, bs, -1, 1);
        const char *src = "x";
        if (!first) { /* make the input channels-last the way the real models do */
            ob_weight(&g, "w0", 4, (int64_t[]){C, C, 1, 1}, -0.5f, 0.5f);
            ob_node(&g, "Conv", "x w0", "x0");
            src = "x0";
        }
        char ins[32];
        snprintf(ins, sizeof ins, "%s w%s", src, it % 3 ? " b" : "");
        Onnx__NodeProto *n = ob_node(&g, "Conv", ins, "c");
        ob_attr_i(&g, n, "group", first ? 1 : C);
        ob_attr_ints(&g, n, "kernel_shape", 2, (int64_t[]){k, k});
        ob_attr_ints(&g, n, "strides", 2, (int64_t[]){s, s});
        ob_attr_ints(&g, n, "pads", 4, pads);
        if (it % 4 == 2) { /* PRelu and Tanh: our kernels take them into their output */
            ob_weight(&g, "slope", 3, (int64_t[]){M, 1, 1}, -0.5f, 0.5f);
            ob_node(&g, "PRelu", "c slope", "y");
        } else {
            ob_node(&g, (const char *[]){"Identity", "Relu", "", "Tanh"}[it % 4], "c", "y");
        }
        ob_output(&g, "y");
        char what[96];
        snprintf(what, sizeof what, "%s C%d H%d W%d M%d k%d s%d act%d", first ? "first-layer" : "depthwise", C, H, W, M,
                 k, s, it % 4);
        compare_backends(what, &g);
    }
}

/* The activation after test convolution "c" of M channels, by iteration: PRelu (per-channel
 * slopes, taken into our kernels' output), Relu or none; its output is `out`. */
static void conv_activation(ob_graph *g, int it, int M, const char *out)
{
    if (it % 3 == 2) {
        ob_weight(g, "slope", 3, (int64_t[]){M, 1, 1}, -0.5f, 0.5f);
        ob_node(g, "PRelu", "c slope", out);
    } else {
        ob_node(g, it % 3 ? "Relu" : "Identity", "c", out);
    }
}

/* Full (group 1) convolutions on channels-last maps, which the AVX2 table runs itself
 * (conv_row): 8-70 channels in, 4-70 out, square and non-square kernels up to 5, both strides,
 * dilation (2, 3) in some, asymmetric padding, and no activation, Relu or PRelu. */
static void t_own_full_conv_random(void)
{
    for (int it = 0; it < 16; it++) {
        ob_graph g;
        ob_init(&g, 9, 1500u + (uint32_t)it);
        int C = rnd(&g, 8, 70), M = it % 3 ? rnd(&g, 4, 70) : 32, kh = rnd(&g, 2, 5), kw = it % 4 ? kh : rnd(&g, 2, 5);
        int H = rnd(&g, 2 * kh, 20), W = rnd(&g, 3 * kw, 30), s = rnd(&g, 1, 2);
        int64_t pads[4] = {rnd(&g, 0, kh / 2), rnd(&g, 0, kw / 2), rnd(&g, 0, kh / 2), rnd(&g, 0, kw / 2)};
        ob_input(&g, "x", 4, (int64_t[]){1, C, H, W});
        ob_weight(&g, "w0", 4, (int64_t[]){C, C, 1, 1}, -0.5f, 0.5f);
        ob_node(&g, "Conv", "x w0", "x0");
        ob_weight(&g, "w", 4, (int64_t[]){M, C, kh, kw}, -0.3f, 0.3f);
        ob_weight(&g, "b", 1, (int64_t[]){M}, -1, 1);
        Onnx__NodeProto *n = ob_node(&g, "Conv", it % 2 ? "x0 w b" : "x0 w", "c");
        ob_attr_ints(&g, n, "kernel_shape", 2, (int64_t[]){kh, kw});
        ob_attr_ints(&g, n, "strides", 2, (int64_t[]){s, s});
        if (it % 5 == 1) ob_attr_ints(&g, n, "dilations", 2, (int64_t[]){2, 3});
        ob_attr_ints(&g, n, "pads", 4, pads);
        conv_activation(&g, it, M, "y0");
        /* then a pointwise step with few outputs (a detector head's 4-12) */
        const int M2 = it % 2 ? rnd(&g, 4, 12) : 16;
        ob_weight(&g, "w2", 4, (int64_t[]){M2, M, 1, 1}, -0.5f, 0.5f);
        ob_weight(&g, "b2", 1, (int64_t[]){M2}, -0.5f, 0.5f);
        ob_node(&g, "Conv", "y0 w2 b2", "y");
        ob_output(&g, "y");
        char what[96];
        snprintf(what, sizeof what, "full conv C%d H%d W%d M%d k%dx%d s%d, then pw>%d", C, H, W, M, kh, kw, s, M2);
        compare_backends(what, &g);
    }
}

/* Winograd F(2x2, 3x3) (conv.c, ops/wino.h) against the reference: 3x3 stride-1 convolutions
 * of 16-80 channels to 16-70 on maps of odd and even sizes down to 2x2, asymmetric padding
 * (0 or 1 per side, so odd output sizes too), bias or none, no activation, Relu or PRelu, on 1
 * and 2 threads (two bands of tiles). FACET_NN_WINO=1 makes every table take them, the C one
 * (FACET_NN_KERNELS=c: nn-c-kernels, arm64) included. */
static void t_own_winograd_random(void)
{
    setenv("FACET_NN_WINO", "1", 1);
    for (int it = 0; it < 16; it++) {
        ob_graph g;
        ob_init(&g, 9, 2500u + (uint32_t)it);
        int C = it % 4 ? rnd(&g, 16, 80) : 16 * rnd(&g, 1, 4), M = it % 3 ? rnd(&g, 16, 70) : 32;
        int H = it < 3 ? 2 + it : rnd(&g, 2, 20), W = it < 3 ? 2 + 2 * it : rnd(&g, 2, 30);
        int64_t pads[4] = {rnd(&g, 0, 1), rnd(&g, 0, 1), rnd(&g, 0, 1), rnd(&g, 0, 1)};
        if (H + pads[0] + pads[2] < 3) pads[0] = pads[2] = 1;
        if (W + pads[1] + pads[3] < 3) pads[1] = pads[3] = 1;
        ob_input(&g, "x", 4, (int64_t[]){1, C, H, W});
        ob_weight(&g, "w0", 4, (int64_t[]){C, C, 1, 1}, -0.5f, 0.5f);
        ob_node(&g, "Conv", "x w0", "x0");
        ob_weight(&g, "w", 4, (int64_t[]){M, C, 3, 3}, -0.3f, 0.3f);
        ob_weight(&g, "b", 1, (int64_t[]){M}, -1, 1);
        Onnx__NodeProto *n = ob_node(&g, "Conv", it % 2 ? "x0 w b" : "x0 w", "c");
        ob_attr_ints(&g, n, "kernel_shape", 2, (int64_t[]){3, 3});
        ob_attr_ints(&g, n, "pads", 4, pads);
        conv_activation(&g, it, M, "y");
        ob_output(&g, "y");
        char what[128];
        snprintf(what, sizeof what, "winograd C%d H%d W%d M%d pads %d,%d,%d,%d", C, H, W, M, (int)pads[0], (int)pads[1],
                 (int)pads[2], (int)pads[3]);
        compare_backends(what, &g);
    }
    unsetenv("FACET_NN_WINO");
}

/* Chains of convolutions that run row by row (rows.c): a first layer or a
 * pointwise head, then random depthwise 3x3 (stride 1 or 2) and pointwise 1x1 steps (any 16-70
 * outputs) with no activation, Relu or PRelu; the last step's output is the graph output. Against the reference, on 1 and
 * 2 threads (two bands that recompute the rows they share). */
static void t_own_chain_random(void)
{
    setenv("FACET_NN_ROWS", "2", 1); /* chains of any size, not only of maps beyond L2 */
    for (int it = 0; it < 24; it++) {
        ob_graph g;
        ob_init(&g, 9, 900u + (uint32_t)it);
        int H = rnd(&g, 6, 40), W = rnd(&g, 6, 40), C = it % 2 ? rnd(&g, 1, 3) : 16 * rnd(&g, 1, 2);
        ob_input(&g, "x", 4, (int64_t[]){1, C, H, W});
        char prev[16] = "x", cur[16], w[16], b[16], ins[64], what[256];
        int n = 0, len = rnd(&g, 2, 6);
        snprintf(what, sizeof what, "chain H%d W%d C%d:", H, W, C);
        for (int k = 0; k < len; k++) {
            /* the head of an image input is a first layer; then depthwise and pointwise alternate
             * at random, keeping the map at least 3 pixels high and wide */
            int kind = k == 0 ? (it % 2 ? 0 : 2) : (rnd(&g, 0, 1) ? 1 : 2);
            if (kind == 1 && C < 16) kind = 2;
            int M = kind == 1 ? C : it % 3 ? 16 * rnd(&g, 1, 4) : rnd(&g, 16, 70), ks = kind == 2 ? 1 : 3;
            int st = kind == 2 ? 1 : (H >= 6 && W >= 6 ? rnd(&g, 1, 2) : 1), pad = ks / 2;
            snprintf(w, sizeof w, "w%d", n);
            snprintf(b, sizeof b, "b%d", n);
            snprintf(cur, sizeof cur, "c%d", n);
            ob_weight(&g, w, 4, (int64_t[]){M, kind == 1 ? 1 : C, ks, ks}, -0.5f, 0.5f);
            ob_weight(&g, b, 1, (int64_t[]){M}, -0.5f, 0.5f);
            snprintf(ins, sizeof ins, "%s %s %s", prev, w, b);
            Onnx__NodeProto *node = ob_node(&g, "Conv", ins, cur);
            ob_attr_i(&g, node, "group", kind == 1 ? C : 1);
            ob_attr_ints(&g, node, "kernel_shape", 2, (int64_t[]){ks, ks});
            ob_attr_ints(&g, node, "strides", 2, (int64_t[]){st, st});
            ob_attr_ints(&g, node, "pads", 4, (int64_t[]){pad, pad, pad, pad});
            H = (H + 2 * pad - ks) / st + 1;
            W = (W + 2 * pad - ks) / st + 1;
            C = M;
            size_t used = strlen(what);
            snprintf(what + used, sizeof what - used, " %s%d>%d", kind == 0 ? "first" : kind == 1 ? "dw" : "pw", st, M);
            n++;
            int a = rnd(&g, 0, 3);
            if (a == 3) { /* PRelu: taken into our kernels' output, and ends a chain */
                char sl[16];
                snprintf(sl, sizeof sl, "a%d", n);
                ob_weight(&g, sl, 3, (int64_t[]){M, 1, 1}, -0.5f, 0.5f);
                snprintf(ins, sizeof ins, "%s %s", cur, sl);
                snprintf(prev, sizeof prev, "r%d", n);
                ob_node(&g, "PRelu", ins, prev);
            } else if (a) {
                snprintf(prev, sizeof prev, "r%d", n);
                ob_node(&g, "Relu", cur, prev);
            } else {
                snprintf(prev, sizeof prev, "%s", cur);
            }
        }
        ob_node(&g, "Identity", prev, "y");
        ob_output(&g, "y");
        compare_backends(what, &g);
    }
    unsetenv("FACET_NN_ROWS");
}

/* Exp, two-class Softmax and Tanh on our vector kernels against the reference, on values from
 * -scale to scale (up to 60: large exponents, saturated tanh) and lengths that leave a partial
 * last vector. */
static void t_own_elementwise(void)
{
    for (int it = 0; it < 8; it++) {
        ob_graph g;
        ob_init(&g, 9, 1200u + (uint32_t)it);
        int n = rnd(&g, 1, 300);
        float scale = (float[]){0.5f, 3, 20, 60}[it % 4];
        ob_input(&g, "x", 3, (int64_t[]){1, n, 2});
        ob_weight(&g, "k", 1, (int64_t[]){1}, scale, scale);
        ob_node(&g, "Mul", "x k", "xs");
        ob_node(&g, "Exp", "xs", "e");
        Onnx__NodeProto *sm = ob_node(&g, "Softmax", "xs", "p");
        ob_attr_i(&g, sm, "axis", 2);
        ob_node(&g, "Tanh", "xs", "t");
        ob_output(&g, "e");
        ob_output(&g, "p");
        ob_output(&g, "t");
        char what[64];
        snprintf(what, sizeof what, "elementwise n%d scale %g", n, (double)scale);
        compare_backends(what, &g);
    }
}

/* Conv then Mul by a constant (scalar, [M,1,1], [1,M,1,1]) is folded into the weights at plan
 * time, on every backend; the same graph with an Identity between the two is not folded, and
 * both must agree. */
static void t_fold_conv_mul(void)
{
    for (int it = 0; it < 6; it++) {
        uint8_t *bytes[2];
        size_t size[2];
        int M = 8 + it;
        for (int v = 0; v < 2; v++) {
            ob_graph g;
            ob_init(&g, 9, 990u + (uint32_t)it);
            ob_input(&g, "x", 4, (int64_t[]){1, 3, 9, 11});
            ob_weight(&g, "w", 4, (int64_t[]){M, 3, 3, 3}, -1, 1);
            ob_weight(&g, "b", 1, (int64_t[]){M}, -1, 1);
            Onnx__NodeProto *n = ob_node(&g, "Conv", "x w b", "c");
            ob_attr_ints(&g, n, "pads", 4, (int64_t[]){1, 1, 1, 1});
            if (it % 3 == 0) ob_weight(&g, "k", 1, (int64_t[]){1}, -2, 2);
            else if (it % 3 == 1) ob_weight(&g, "k", 3, (int64_t[]){M, 1, 1}, -2, 2);
            else ob_weight(&g, "k", 4, (int64_t[]){1, M, 1, 1}, -2, 2);
            if (v) ob_node(&g, "Identity", "c", "c2");
            ob_node(&g, "Mul", v ? (it % 2 ? "c2 k" : "k c2") : (it % 2 ? "c k" : "k c"), "y");
            ob_output(&g, "y");
            bytes[v] = ob_pack(&g, &size[v]);
        }
        run_out a = {0}, b = {0};
        CHECK_EQ(run_bytes(bytes[0], size[0], FACET_NN_BACKEND_REF, 1, 7, &a), 0);
        CHECK_EQ(run_bytes(bytes[1], size[1], FACET_NN_BACKEND_REF, 1, 7, &b), 0);
        double maxd = 0, maxv = 1e-6;
        for (int64_t k = 0; k < a.count[0] && a.count[0] == b.count[0]; k++) {
            maxd = fmax(maxd, fabs((double)a.data[0][k] - b.data[0][k]));
            maxv = fmax(maxv, fabs((double)b.data[0][k]));
        }
        CHECK_EQ(a.count[0], b.count[0]);
        CHECK_MSG(maxd / maxv <= 1e-5, "fold %d: normalised error %.3g", it, maxd / maxv);
        free_out(&a);
        free_out(&b);
        free(bytes[0]);
        free(bytes[1]);
    }
}

/* Global depthwise convolutions (a kernel as large as the map, as MobileFaceNet ends with). */
static void t_own_global_depthwise(void)
{
    for (int it = 0; it < 6; it++) {
        ob_graph g;
        ob_init(&g, 9, 950u + (uint32_t)it);
        int C = (int[]){16, 40, 103, 512, 17, 64}[it], H = rnd(&g, 1, 8), W = rnd(&g, 1, 8);
        ob_input(&g, "x", 4, (int64_t[]){1, C, H, W});
        /* a pointwise step first, so that the map arrives channels-last as in the models */
        ob_weight(&g, "w0", 4, (int64_t[]){C, C, 1, 1}, -0.5f, 0.5f);
        ob_node(&g, "Conv", "x w0", "x0");
        ob_weight(&g, "w", 4, (int64_t[]){C, 1, H, W}, -1, 1);
        ob_weight(&g, "b", 1, (int64_t[]){C}, -1, 1);
        Onnx__NodeProto *n = ob_node(&g, "Conv", it % 2 ? "x0 w b" : "x0 w", "c");
        ob_attr_i(&g, n, "group", C);
        ob_attr_ints(&g, n, "kernel_shape", 2, (int64_t[]){H, W});
        ob_node(&g, it % 3 ? "Relu" : "Identity", "c", "y");
        ob_output(&g, "y");
        char what[64];
        snprintf(what, sizeof what, "global depthwise C%d H%d W%d", C, H, W);
        compare_backends(what, &g);
    }
}

static void t_xnnpack_pool_random(void)
{
    for (int it = 0; it < 16; it++) {
        ob_graph g;
        ob_init(&g, 9, 300u + (uint32_t)it);
        int C = rnd(&g, 1, 9), H = rnd(&g, 6, 20), W = rnd(&g, 6, 20);
        int k = rnd(&g, 2, 3), s = rnd(&g, 1, 2), p = it % 2 ? k / 2 : 0;
        int64_t xs[4] = {1, C, H, W};
        ob_input(&g, "x", 4, xs);
        ob_weight(&g, "w", 4, (int64_t[]){C, 1, 3, 3}, -1, 1);
        Onnx__NodeProto *c = ob_node(&g, "Conv", "x w", "c"); /* makes the input NHWC */
        ob_attr_i(&g, c, "group", C);
        ob_attr_ints(&g, c, "pads", 4, (int64_t[]){1, 1, 1, 1});
        const char *op = it % 4 < 2 ? "MaxPool" : "AveragePool";
        Onnx__NodeProto *n = ob_node(&g, op, "c", "p");
        ob_attr_ints(&g, n, "kernel_shape", 2, (int64_t[]){k, k});
        ob_attr_ints(&g, n, "strides", 2, (int64_t[]){s, s});
        ob_attr_ints(&g, n, "pads", 4, (int64_t[]){p, p, p, p});
        if (it % 8 == 5) ob_attr_i(&g, n, "ceil_mode", 1);
        ob_node(&g, "GlobalAveragePool", "p", "gap");
        Onnx__NodeProto *r = ob_node(&g, "ReduceMean", "c", "rm");
        ob_attr_ints(&g, r, "axes", 2, (int64_t[]){2, 3});
        ob_attr_i(&g, r, "keepdims", 0);
        ob_output(&g, "p");
        ob_output(&g, "gap");
        ob_output(&g, "rm");
        char what[96];
        snprintf(what, sizeof what, "%s C%d H%d W%d k%d s%d p%d", op, C, H, W, k, s, p);
        compare_backends(what, &g);
    }
}

/* Residual Add, squeeze-excitation Mul, constant Add, Concat/Split/BN on channels, channel
 * shuffle, Pad, a detection head (Transpose + Reshape) and Gemm/MatMul. */
static void t_xnnpack_graph_ops_random(void)
{
    for (int it = 0; it < 8; it++) {
        ob_graph g;
        ob_init(&g, 9, 500u + (uint32_t)it);
        int C = 2 * rnd(&g, 1, 6), H = rnd(&g, 4, 12), W = rnd(&g, 4, 12);
        int64_t xs[4] = {1, C, H, W}, cs[1] = {C};
        ob_input(&g, "x", 4, xs);
        ob_weight(&g, "w1", 4, (int64_t[]){C, C, 3, 3}, -0.3f, 0.3f);
        ob_weight(&g, "w2", 4, (int64_t[]){C, C, 1, 1}, -0.5f, 0.5f);
        ob_weight(&g, "cb", 3, (int64_t[]){C, 1, 1}, -1, 1);
        Onnx__NodeProto *n = ob_node(&g, "Conv", "x w1", "a");
        ob_attr_ints(&g, n, "pads", 4, (int64_t[]){1, 1, 1, 1});
        ob_node(&g, "Conv", "a w2", "b");
        ob_node(&g, "Add", "a b", "sum");
        ob_node(&g, "Add", "sum cb", "sum2");
        ob_node(&g, "GlobalAveragePool", "sum2", "se");
        ob_node(&g, "Sigmoid", "se", "se2");
        ob_node(&g, "Mul", "sum2 se2", "scaled");
        ob_node(&g, "Concat", "scaled a", "cat");
        ob_attr_i(&g, &g.nodes[g.graph.n_node - 1], "axis", 1);
        int64_t cs2[1] = {2 * C};
        ob_weight(&g, "s", 1, cs2, 0.5f, 1.5f);
        ob_weight(&g, "bb", 1, cs2, -1, 1);
        ob_weight(&g, "m", 1, cs2, -1, 1);
        ob_weight(&g, "v", 1, cs2, 0.5f, 1.5f);
        ob_node(&g, "BatchNormalization", "cat s bb m v", "bn");
        ob_node(&g, "Relu", "bn", "bnr");
        n = ob_node(&g, "Split", "bnr", "s1 s2");
        ob_attr_i(&g, n, "axis", 1);
        ob_ints(&g, "shp5", 5, (int64_t[]){1, 2, C / 2, H, W});
        ob_ints(&g, "shp4", 4, (int64_t[]){1, C, H, W});
        ob_node(&g, "Reshape", "s1 shp5", "r5");
        n = ob_node(&g, "Transpose", "r5", "t5");
        ob_attr_ints(&g, n, "perm", 5, (int64_t[]){0, 2, 1, 3, 4});
        ob_node(&g, "Reshape", "t5 shp4", "shuf");
        n = ob_node(&g, "Pad", "shuf", "pad");
        ob_attr_ints(&g, n, "pads", 8, (int64_t[]){0, 0, 1, 2, 0, 0, 2, 1});
        n = ob_node(&g, "Transpose", "s2", "head");
        ob_attr_ints(&g, n, "perm", 4, (int64_t[]){0, 2, 3, 1});
        ob_ints(&g, "shp3", 3, (int64_t[]){1, -1, 2});
        ob_node(&g, "Reshape", "head shp3", "boxes");
        n = ob_node(&g, "Flatten", "pad", "flat");
        ob_attr_i(&g, n, "axis", 1);
        int64_t K = (int64_t)C * (H + 3) * (W + 3);
        ob_weight(&g, "fw", 2, (int64_t[]){5, K}, -0.1f, 0.1f);
        ob_weight(&g, "fb", 1, (int64_t[]){5}, -1, 1);
        n = ob_node(&g, "Gemm", "flat fw fb", "fc");
        ob_attr_i(&g, n, "transB", 1);
        ob_weight(&g, "mm", 2, (int64_t[]){5, 3}, -1, 1);
        ob_node(&g, "MatMul", "fc mm", "mmo");
        (void)cs;
        ob_output(&g, "boxes");
        ob_output(&g, "mmo");
        ob_output(&g, "pad");
        char what[64];
        snprintf(what, sizeof what, "graph C%d H%d W%d", C, H, W);
        compare_backends(what, &g);
    }
}

/* ---------- hostile models ---------- */

static int load_bytes(const uint8_t *p, size_t n)
{
    facet_nn_model *m = NULL;
    int rc = facet_nn_model_load_memory(p, n, &m);
    if (rc == 0) {
        /* a model that loads must also plan or fail cleanly */
        facet_nn_session *s = NULL;
        if (facet_nn_session_create(m, NULL, &s) == 0) {
            facet_nn_session_run(s);
            facet_nn_session_destroy(s);
        }
        facet_nn_model_destroy(m);
    } else {
        CHECK(m == NULL);
        CHECK(facet_last_error()[0] != 0);
    }
    return rc;
}

static void t_hostile_truncated_and_garbage(void)
{
    if (!have_models()) SKIP("models not fetched");
    char p[1024];
    uint8_t *data = NULL;
    size_t n = 0;
    FILE *f = fopen(test_path(p, sizeof p, test_model_dir(), "fr_eye.onnx"), "rb");
    CHECK(f != NULL);
    if (!f) return;
    data = malloc(1 << 20);
    n = fread(data, 1, 1 << 20, f);
    fclose(f);
    CHECK_EQ(load_bytes(data, n), 0);
    int refused = 0;
    for (size_t cut = 1; cut < n; cut += n / 37 + 1) refused += load_bytes(data, cut) != 0;
    CHECK(refused >= 30);
    /* flipped bytes anywhere: must never crash; most are refused or still valid */
    uint8_t *copy = malloc(n);
    uint32_t r = 99;
    for (int it = 0; it < 200; it++) {
        memcpy(copy, data, n);
        for (int k = 0; k < 4; k++) {
            r = r * 1664525u + 1013904223u;
            copy[r % n] ^= (uint8_t)(r >> 24 | 1);
        }
        load_bytes(copy, n);
    }
    uint8_t garbage[4096];
    for (size_t i = 0; i < sizeof garbage; i++) {
        r = r * 1664525u + 1013904223u;
        garbage[i] = (uint8_t)(r >> 24);
    }
    CHECK(load_bytes(garbage, sizeof garbage) != 0);
    CHECK(load_bytes((const uint8_t *)"\x89PNG\r\n\x1a\n", 8) != 0);
    CHECK(facet_nn_model_load("/nonexistent.onnx", &(facet_nn_model *){NULL}) == FACET_E_IO);
    free(copy);
    free(data);
}

static uint8_t *small_model(ob_graph *g, size_t *n)
{
    return ob_pack(g, n);
}

static void expect_refused(ob_graph *g, const char *what, const char *needle)
{
    size_t n;
    uint8_t *b = small_model(g, &n);
    facet_nn_model *m = NULL;
    int rc = facet_nn_model_load_memory(b, n, &m);
    facet_nn_session *s = NULL;
    if (rc == 0) rc = facet_nn_session_create(m, NULL, &s);
    if (rc == 0) rc = facet_nn_session_run(s);
    CHECK_MSG(rc != 0, "%s was accepted", what);
    if (rc) CHECK_MSG(strstr(facet_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
                      facet_last_error(), needle);
    facet_nn_session_destroy(s);
    facet_nn_model_destroy(m);
    free(b);
}

static void t_hostile_graphs(void)
{
    int64_t xs[4] = {1, 2, 4, 4};
    ob_graph g;

    ob_init(&g, 9, 1);
    ob_input(&g, "x", 4, xs);
    ob_node(&g, "FancyOp", "x", "y");
    ob_output(&g, "y");
    expect_refused(&g, "unknown operator", "FancyOp");

    ob_init(&g, 9, 1);
    ob_input(&g, "x", 4, xs);
    ob_attr_i(&g, ob_node(&g, "Relu", "x", "y"), "bogus", 3);
    ob_output(&g, "y");
    expect_refused(&g, "unknown attribute", "bogus");

    ob_init(&g, 9, 1);
    ob_input(&g, "x", 4, xs);
    ob_node(&g, "Add", "x b", "a");
    ob_node(&g, "Relu", "a", "b");
    ob_output(&g, "b");
    expect_refused(&g, "cyclic graph", "cycle");

    ob_init(&g, 9, 1);
    ob_input(&g, "x", 4, xs);
    ob_node(&g, "Relu", "nothing", "y");
    ob_output(&g, "y");
    expect_refused(&g, "dangling input", "nothing");

    ob_init(&g, 18, 1);
    ob_input(&g, "x", 4, xs);
    ob_node(&g, "Relu", "x", "y");
    ob_output(&g, "y");
    expect_refused(&g, "opset 18", "opset");

    ob_init(&g, 9, 1);
    ob_input(&g, "x", 4, xs);
    Onnx__TensorProto *t = ob_weight(&g, "w", 4, (int64_t[]){2, 2, 1, 1}, -1, 1);
    t->dims[0] = (int64_t)1 << 40; /* claims far more data than it has */
    ob_node(&g, "Conv", "x w", "y");
    ob_output(&g, "y");
    expect_refused(&g, "huge dims", "out of range");

    ob_init(&g, 9, 1);
    ob_input(&g, "x", 4, xs);
    t = ob_weight(&g, "w", 4, (int64_t[]){2, 2, 1, 1}, -1, 1);
    t->dims[0] = 3; /* shape and data disagree */
    ob_node(&g, "Conv", "x w", "y");
    ob_output(&g, "y");
    expect_refused(&g, "short data", "data has");

    ob_init(&g, 9, 1);
    ob_input(&g, "x", 4, xs);
    ob_ints(&g, "idx", 1, (int64_t[]){7});
    ob_node(&g, "Shape", "x", "s");
    ob_attr_i(&g, ob_node(&g, "Gather", "s idx", "g"), "axis", 0);
    ob_ints(&g, "one", 1, (int64_t[]){1});
    ob_node(&g, "Concat", "one g", "shape");
    ob_attr_i(&g, &g.nodes[g.graph.n_node - 1], "axis", 0);
    ob_node(&g, "Reshape", "x shape", "y");
    ob_output(&g, "y");
    expect_refused(&g, "gather index out of range", "out of range");

    ob_init(&g, 9, 1);
    ob_input(&g, "x", 4, xs);
    ob_weight(&g, "w", 4, (int64_t[]){3, 5, 3, 3}, -1, 1);
    ob_node(&g, "Conv", "x w", "y");
    ob_output(&g, "y");
    expect_refused(&g, "conv channel mismatch", "weights");

    ob_init(&g, 9, 1);
    ob_input(&g, "x", 4, xs);
    Onnx__NodeProto *n = ob_node(&g, "MaxPool", "x", "y");
    ob_attr_ints(&g, n, "kernel_shape", 2, (int64_t[]){9, 9});
    ob_output(&g, "y");
    expect_refused(&g, "kernel larger than input", "kernel");

    ob_init(&g, 9, 1);
    ob_input(&g, "x", 4, xs);
    ob_node(&g, "Relu", "x", "y");
    ob_node(&g, "Relu", "x", "y");
    ob_output(&g, "y");
    expect_refused(&g, "value produced twice", "twice");

    ob_init(&g, 9, 1);
    ob_input(&g, "x", 4, xs);
    ob_node(&g, "Relu", "x", "y");
    ob_output(&g, "z");
    expect_refused(&g, "output never produced", "never produced");
}

/* ---------- threads, allocation, shapes ---------- */

typedef struct thread_job {
    const facet_nn_model *m;
    const float *x;
    size_t n;
    float *y;
    size_t ny;
    int rc;
} thread_job;

static void *thread_run(void *arg)
{
    thread_job *j = arg;
    facet_nn_settings set;
    facet_nn_settings_defaults(&set);
    set.num_threads = 1;
    facet_nn_session *s;
    j->rc = facet_nn_session_create(j->m, &set, &s);
    for (int it = 0; it < 5 && !j->rc; it++) {
        j->rc = facet_nn_session_set_input(s, 0, j->x, j->n);
        if (!j->rc) j->rc = facet_nn_session_run(s);
    }
    if (!j->rc) {
        const float *y;
        facet_nn_shape ys;
        facet_nn_session_output(s, 0, &y, &ys);
        j->ny = (size_t)facet_nn_shape_count(&ys);
        j->y = malloc(j->ny * sizeof(float));
        memcpy(j->y, y, j->ny * sizeof(float));
    }
    facet_nn_session_destroy(s);
    return NULL;
}

static void t_shared_model_two_threads(void)
{
    if (!have_models()) SKIP("models not fetched");
    facet_nn_model *m = load_model("fr_feature");
    if (!m) return;
    size_t n = 3 * 112 * 112;
    float *x = malloc(n * sizeof *x);
    lcg_fill(x, n, 5);
    thread_job one = {m, x, n, NULL, 0, 0};
    thread_run(&one);
    thread_job jobs[2] = {{m, x, n, NULL, 0, 0}, {m, x, n, NULL, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, thread_run, &jobs[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(jobs[i].rc, 0);
        CHECK_EQ(jobs[i].ny, one.ny);
        CHECK(jobs[i].y && one.y && !memcmp(jobs[i].y, one.y, one.ny * sizeof(float)));
        free(jobs[i].y);
    }
    free(one.y);
    free(x);
    facet_nn_model_destroy(m);
}

static void t_run_allocates_nothing(void)
{
    if (!have_models()) SKIP("models not fetched");
    for (int be = FACET_NN_BACKEND_REF; be <= FACET_NN_BACKEND_XNNPACK; be++) {
        facet_nn_model *m = load_model("fr_landmark");
        if (!m) return;
        facet_nn_settings set;
        facet_nn_settings_defaults(&set);
        set.backend = (facet_nn_backend)be;
        set.num_threads = 1;
        facet_nn_session *s;
        CHECK_EQ(facet_nn_session_create(m, &set, &s), 0);
        float x[64 * 64];
        lcg_fill(x, 64 * 64, 3);
        facet_nn_session_set_input(s, 0, x, 64 * 64);
        facet_nn_session_run(s);
        struct mallinfo2 before = mallinfo2();
        for (int i = 0; i < 20; i++) facet_nn_session_run(s);
        struct mallinfo2 after = mallinfo2();
        CHECK_MSG(before.uordblks == after.uordblks && before.hblkhd == after.hblkhd,
                  "backend %d: heap in use went from %zu to %zu bytes", be, before.uordblks, after.uordblks);
        facet_nn_session_destroy(s);
        facet_nn_model_destroy(m);
    }
}

static void t_detector_replans_for_other_sizes(void)
{
    if (!have_models()) SKIP("models not fetched");
    facet_nn_model *m = load_model("fr_detect");
    if (!m) return;
    /* anchors: 3, 2, 2, 3 per cell of the stride 8, 16, 32, 64 maps (4420 at 240x320) */
    const int64_t sizes[][2] = {{240, 320}, {480, 640}, {720, 1280}, {120, 160}};
    const int64_t expect[] = {4420, 17640, 52960, 1118};
    for (int i = 0; i < 4; i++) {
        facet_nn_settings set;
        facet_nn_settings_defaults(&set);
        set.override_input = 1;
        set.input_shape.ndim = 4;
        set.input_shape.dims[0] = 1;
        set.input_shape.dims[1] = 3;
        set.input_shape.dims[2] = sizes[i][0];
        set.input_shape.dims[3] = sizes[i][1];
        /* the graph's own box decoding has 4420 fixed anchors: take the raw heads instead */
        static const char *const heads[] = {"scores", "462"};
        set.output_names = heads;
        set.num_output_names = 2;
        facet_nn_session *s;
        int rc = facet_nn_session_create(m, &set, &s);
        CHECK_MSG(rc == 0, "%lldx%lld: %s", (long long)sizes[i][0], (long long)sizes[i][1], facet_last_error());
        if (rc) continue;
        const float *y;
        facet_nn_shape ys;
        CHECK_EQ(facet_nn_session_run(s), 0);
        facet_nn_session_output(s, 0, &y, &ys);
        CHECK_EQ(ys.dims[1], expect[i]);
        facet_nn_session_destroy(s);
    }
    facet_nn_model_destroy(m);
}

static void t_api_arguments(void)
{
    facet_nn_model *m = (facet_nn_model *)1;
    CHECK_EQ(facet_nn_model_load(NULL, &m), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_nn_model_load_memory(NULL, 0, &m), FACET_E_INVALID_ARG);
    CHECK(m == NULL);
    facet_nn_model_destroy(NULL);
    facet_nn_session_destroy(NULL);
    CHECK_EQ(facet_nn_session_run(NULL), FACET_E_INVALID_ARG);
    facet_nn_session *s;
    CHECK_EQ(facet_nn_session_create(NULL, NULL, &s), FACET_E_INVALID_ARG);
    if (!have_models()) return;
    m = load_model("fr_eye");
    if (!m) return;
    CHECK_EQ(facet_nn_session_create(m, NULL, &s), 0);
    float x[10];
    CHECK_EQ(facet_nn_session_set_input(s, 0, x, 10), FACET_E_INVALID_ARG);
    CHECK(strstr(facet_nn_session_errmsg(s), "576") != NULL);
    CHECK_EQ(facet_nn_session_set_input(s, 3, x, 10), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_nn_session_output(s, 5, NULL, NULL), FACET_E_INVALID_ARG);
    char *json;
    CHECK_EQ(facet_nn_model_describe(m, &json), 0);
    CHECK(strstr(json, "\"Conv\": 23") != NULL);
    facet_free(json);
    facet_nn_session_destroy(s);
    facet_nn_model_destroy(m);
}

TESTS(TEST(t_ort_ref_1thread), TEST(t_ort_xnnpack_1thread), TEST(t_ort_xnnpack_2threads),
      TEST(t_xnnpack_conv_random), TEST(t_own_conv_random), TEST(t_own_full_conv_random), TEST(t_own_winograd_random), TEST(t_own_chain_random),
      TEST(t_own_global_depthwise), TEST(t_fold_conv_mul), TEST(t_own_elementwise), TEST(t_xnnpack_pool_random), TEST(t_xnnpack_graph_ops_random),
      TEST(t_hostile_truncated_and_garbage), TEST(t_hostile_graphs), TEST(t_shared_model_two_threads),
      TEST(t_run_allocates_nothing), TEST(t_detector_replans_for_other_sizes), TEST(t_api_arguments))
