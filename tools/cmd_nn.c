/*
 * cmd_nn.c - `facet models` and `facet nn info|run|bench`: the inference engine on the command
 * line, with the same file conventions as ../shared/tools/ort-peer (raw little-endian float32
 * in and out, outputs.json with names and shapes), so that anyone can compare the two.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

static const char *const known_models[] = {
    "fr_detect", "fr_landmark", "fr_feature", "fr_liveness", "fr_pose",
    "fr_eye", "fr_age", "fr_gender", "fr_expression",
};

/* A clock in ms: CLOCK_MONOTONIC for wall time, CLOCK_PROCESS_CPUTIME_ID for this process's
 * CPU time (all threads: with one thread, a run's cost that a loaded machine's preemption does
 * not inflate). */
static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

static void print_shape(FILE *f, const facet_nn_shape *s)
{
    fprintf(f, "[");
    for (int d = 0; d < s->ndim; d++) fprintf(f, "%s%lld", d ? ", " : "", (long long)s->dims[d]);
    fprintf(f, "]");
}

int cmd_models(int argc, char **argv)
{
    (void)argc, (void)argv;
    const char *dir = cli_model_dir();
    int bad = 0;
    printf("models in %s:\n", dir);
    for (size_t i = 0; i < sizeof known_models / sizeof known_models[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.onnx", dir, known_models[i]);
        double t0 = now_ms();
        facet_nn_model *m;
        int rc = facet_nn_model_load(path, &m);
        if (rc) {
            printf("  %-14s MISSING OR BAD: %s\n", known_models[i], facet_last_error());
            bad = 1;
            continue;
        }
        facet_nn_session *s;
        rc = facet_nn_session_create(m, NULL, &s);
        double ms = now_ms() - t0;
        facet_nn_shape in;
        facet_nn_model_input_shape(m, 0, &in);
        printf("  %-14s input ", known_models[i]);
        print_shape(stdout, &in);
        if (rc) {
            printf("  CANNOT PLAN: %s\n", facet_last_error());
            bad = 1;
        } else {
            printf("  %d output%s  %.3f GFLOP  loaded+planned in %.0f ms\n",
                   facet_nn_model_num_outputs(m), facet_nn_model_num_outputs(m) > 1 ? "s" : "",
                   facet_nn_session_flops(s) / 1e9, ms);
        }
        facet_nn_session_destroy(s);
        facet_nn_model_destroy(m);
    }
    if (bad) fprintf(stderr, "facet: some models are missing or bad: run `make models`\n");
    return bad;
}

static int usage_nn(void)
{
    fprintf(stderr,
            "usage: facet nn info MODEL.onnx\n"
            "       facet nn run MODEL.onnx (--input IN.f32 | --seed N) [--shape 1,3,H,W] --out DIR\n"
            "       facet nn bench MODEL.onnx [--threads T] [--iters N] [--shape 1,3,H,W] [--profile]\n"
            "common: [--backend ref|xnnpack] [--threads T]\n");
    return 2;
}

static int parse_shape(const char *s, facet_nn_shape *out)
{
    out->ndim = 0;
    while (*s && out->ndim < FACET_NN_MAX_DIMS) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v <= 0) return -1;
        out->dims[out->ndim++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return *s ? -1 : 0;
}

/* ort-peer's input generator: x = 1664525 x + 1013904223 mod 2^32, value = x / 2^32 * 2 - 1. */
static void lcg_fill(float *dst, size_t n, unsigned seed)
{
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x = 1664525u * x + 1013904223u;
        dst[i] = (float)((double)x / 4294967296.0 * 2.0 - 1.0);
    }
}

/* mkdir -p */
static void make_dirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0777);
            *p = '/';
        }
    mkdir(buf, 0777);
}

static void sanitize(const char *in, char *out, size_t n)
{
    size_t k = 0;
    for (; *in && k + 1 < n; in++) {
        char c = *in;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        out[k++] = ok ? c : '_';
    }
    out[k] = 0;
}

int cmd_nn(int argc, char **argv)
{
    if (argc < 2) return usage_nn();
    const char *verb = argv[1], *input = NULL, *outdir = NULL, *shape = NULL;
    long seed = -1, iters = 50;
    facet_nn_settings set;
    facet_nn_settings_defaults(&set);
    enum { O_INPUT = CLI_OPT_FIRST_OWN, O_OUT, O_SEED, O_SHAPE, O_THREADS, O_ITERS, O_BACKEND, O_PROFILE };
    static const struct option opts[] = {
        {"input", required_argument, NULL, O_INPUT},     {"out", required_argument, NULL, O_OUT},
        {"seed", required_argument, NULL, O_SEED},       {"shape", required_argument, NULL, O_SHAPE},
        {"threads", required_argument, NULL, O_THREADS}, {"iters", required_argument, NULL, O_ITERS},
        {"backend", required_argument, NULL, O_BACKEND}, {"profile", no_argument, NULL, O_PROFILE},
        {0}};
    for (int c; (c = cli_getopt(argc - 1, argv + 1, "", opts)) != -1;) {
        switch (c) {
        case O_INPUT: input = optarg; break;
        case O_OUT: outdir = optarg; break;
        case O_SEED: seed = cli_long("seed", optarg, 0, 4294967295L); break;
        case O_SHAPE: shape = optarg; break;
        case O_THREADS: set.num_threads = (int)cli_long("threads", optarg, 0, 1024); break;
        case O_ITERS: iters = cli_long("iters", optarg, 1, 1000000); break;
        case O_BACKEND: set.backend = cli_backend(optarg); break;
        case O_PROFILE: set.profile = 1; break;
        default: return usage_nn();
        }
    }
    if (argc - 1 - optind != 1) return usage_nn();
    const char *path = argv[1 + optind];
    if (shape) {
        if (parse_shape(shape, &set.input_shape)) {
            fprintf(stderr, "facet: --shape: '");
            cli_text(stderr, shape);
            fprintf(stderr, "' is not a list of positive integers like 1,3,112,112\n");
            return 2;
        }
        set.override_input = 1;
    }
    facet_nn_model *m;
    int rc = facet_nn_model_load(path, &m);
    if (rc) return cli_fail("load", rc);
    if (!strcmp(verb, "info")) {
        char *json;
        rc = facet_nn_model_describe(m, &json);
        if (!rc) {
            printf("%s\n", json);
            facet_free(json);
        }
        facet_nn_model_destroy(m);
        return rc ? cli_fail("info", rc) : 0;
    }
    facet_nn_session *s;
    rc = facet_nn_session_create(m, &set, &s);
    if (rc) {
        facet_nn_model_destroy(m);
        return cli_fail("plan", rc);
    }
    facet_nn_shape in;
    facet_nn_session_input_shape(s, 0, &in);
    size_t n = (size_t)facet_nn_shape_count(&in);
    float *x = malloc(n * sizeof *x);
    int ret = 1;
    if (!x) goto done;
    if (input) {
        FILE *f = fopen(input, "rb");
        if (!f) {
            fprintf(stderr, "facet: cannot open %s: %s\n", input, strerror(errno));
            goto done;
        }
        size_t got = fread(x, sizeof *x, n, f);
        int extra = fgetc(f) != EOF;
        fclose(f);
        if (got != n || extra) {
            fprintf(stderr, "facet: %s must hold exactly %zu float32 values\n", input, n);
            goto done;
        }
    } else {
        lcg_fill(x, n, (unsigned)(seed < 0 ? 1 : seed));
    }
    if ((rc = facet_nn_session_set_input(s, 0, x, n))) {
        ret = cli_fail("input", rc);
        goto done;
    }
    if (!strcmp(verb, "run")) {
        if (!outdir) {
            ret = usage_nn();
            goto done;
        }
        if ((rc = facet_nn_session_run(s))) {
            ret = cli_fail("run", rc);
            goto done;
        }
        make_dirs(outdir);
        char p[4096];
        snprintf(p, sizeof p, "%s/outputs.json", outdir);
        FILE *js = fopen(p, "w");
        if (!js) {
            fprintf(stderr, "facet: cannot write %s\n", p);
            goto done;
        }
        const char *base = strrchr(path, '/');
        fprintf(js, "{\"model\": \"%s\", \"input_shape\": ", base ? base + 1 : path);
        print_shape(js, &in);
        fprintf(js, ", \"outputs\": [");
        int bad = 0;
        for (int i = 0; !bad && i < facet_nn_model_num_outputs(m); i++) {
            const float *y;
            facet_nn_shape ys;
            facet_nn_session_output(s, i, &y, &ys);
            char file[512];
            sanitize(facet_nn_model_output_name(m, i), file, sizeof file - 4);
            strcat(file, ".f32");
            snprintf(p, sizeof p, "%s/%s", outdir, file);
            FILE *f = fopen(p, "wb");
            size_t count = (size_t)facet_nn_shape_count(&ys);
            if (!f || fwrite(y, sizeof *y, count, f) != count) bad = 1;
            if (f && cli_close(f, p)) bad = 1;
            else if (bad) fprintf(stderr, "facet: cannot write %s: %s\n", p, strerror(errno));
            if (bad) break;
            fprintf(js, "%s{\"name\": \"%s\", \"file\": \"%s\", \"shape\": ", i ? ", " : "",
                    facet_nn_model_output_name(m, i), file);
            print_shape(js, &ys);
            fprintf(js, "}");
        }
        fprintf(js, "]}\n");
        snprintf(p, sizeof p, "%s/outputs.json", outdir);
        if (cli_close(js, p) || bad) goto done;
        printf("wrote %d outputs to %s\n", facet_nn_model_num_outputs(m), outdir);
        ret = 0;
    } else if (!strcmp(verb, "bench")) {
        double *t = malloc((size_t)iters * 2 * sizeof *t), *c = t + iters;
        if (!t) goto done;
        for (int i = 0; i < 5; i++) facet_nn_session_run(s);
        for (long i = 0; i < iters; i++) {
            double t0 = now_ms(), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
            if ((rc = facet_nn_session_run(s))) {
                free(t);
                ret = cli_fail("run", rc);
                goto done;
            }
            t[i] = now_ms() - t0;
            c[i] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
        }
        qsort(t, (size_t)iters, sizeof *t, cli_cmp_double);
        qsort(c, (size_t)iters, sizeof *c, cli_cmp_double);
        double med = t[iters / 2];
        const char *base = strrchr(path, '/');
        printf("{\"model\": \"%s\", \"backend\": \"%s\", \"kernels\": \"%s\", \"threads\": %d, \"iters\": %ld, "
               "\"median_ms\": %.4f, \"min_ms\": %.4f, \"cpu_median_ms\": %.4f, \"gflop\": %.4f, \"gflops\": %.2f}\n",
               base ? base + 1 : path,
               facet_nn_session_backend(s) == FACET_NN_BACKEND_REF ? "ref" : "xnnpack",
               facet_nn_session_kernels(s), facet_nn_session_threads(s), iters, med, t[0], c[iters / 2],
               facet_nn_session_flops(s) / 1e9,
               facet_nn_session_flops(s) / 1e6 / med);
        free(t);
        if (set.profile) {
            char *prof;
            if (!facet_nn_session_profile(s, &prof)) {
                fprintf(stderr, "%s\n", prof);
                facet_free(prof);
            }
        }
        ret = 0;
    } else {
        ret = usage_nn();
    }
done:
    free(x);
    facet_nn_session_destroy(s);
    facet_nn_model_destroy(m);
    return ret;
}
