/*
 * facet.c - the `facet` command line: a table of sub-commands, each in its own file.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"models", cmd_models, "list the models in the model folder, with checksums and shapes"},
    {"detect", cmd_detect, "find faces, landmarks and quality in images (--json, --draw OUT.png)"},
    {"analyze", cmd_analyze, "quality (sharpness, exposure, pose, eyes, liveness) and age, gender, expression"},
    {"faceprint", cmd_faceprint, "compute faceprints: IMG --out FILE, or IMG... --json"},
    {"compare", cmd_compare, "similarity and match probability of two faces (images or faceprints)"},
    {"enroll", cmd_enroll, "add people to a collection: --collection C DIR (a folder per person)"},
    {"identify", cmd_identify, "who is in each photo: --collection C IMG..."},
    {"collection", cmd_collection, "list|create|drop|stats|migrate collections"},
    {"watch", cmd_watch, "faces in video feeds: tracked, recognised, reported as events (--json)"},
    {"eval", cmd_eval, "accuracy on labelled data: eval lfw DIR PAIRS | eval detect DIR GT | eval ident DIR..."},
    {"nn", cmd_nn, "run the inference engine directly: nn info|run|bench MODEL.onnx"},
};

static void usage(FILE *f)
{
    fprintf(f, "facet %s - face recognition engine\n\nusage: facet COMMAND [ARGS]\n\n",
            facet_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nface commands accept --allow-corrupt: decode damaged JPEG/PNG data with a "
               "warning instead of failing\n");
    fprintf(f, "\nenvironment: FACET_MODEL_PATH (model folder), FACET_NUM_THREADS, "
               "FACET_NN_BACKEND=ref|xnnpack\n");
}

int cli_fail(const char *what, int status)
{
    const char *m = facet_last_error();
    fprintf(stderr, "facet: %s: %s\n", what, m && *m ? m : facet_status_str(status));
    return 1;
}

void cli_progress(const char *label, long done, long total, double elapsed_s)
{
    if (!isatty(2)) return;
    double rate = elapsed_s > 0 ? done / elapsed_s : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    int width = 30, filled = total > 0 ? (int)(width * done / total) : 0;
    char bar[64];
    for (int k = 0; k < width; k++) bar[k] = k < filled ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r%s [%s] %ld/%ld %.1f/s ETA %.0fs ", label, bar, done, total, rate, eta);
    if (done >= total) fprintf(stderr, "\n");
}

int cli_cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

const char *cli_model_dir(void)
{
    return facet_default_model_dir();
}

/* The library never prints; its warnings (e.g. an image decoded despite damage) go to stderr. */
static void print_log(void *user, facet_log_level level, const char *msg)
{
    (void)user;
    fprintf(stderr, "facet: %s: %s\n", level == FACET_LOG_ERROR ? "error" : "warning", msg);
}

int main(int argc, char **argv)
{
    facet_set_log(print_log, NULL, FACET_LOG_WARN);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("facet %s (cpu: %s)\n", facet_version(), facet_cpu_features());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name)) continue;
        int rc = commands[i].fn(argc - 1, argv + 1);
        /* "written" must mean written: a full disk or a closed pipe on stdout is a failure */
        if (cli_close(stdout, "standard output") && !rc) rc = 1;
        return rc;
    }
    fprintf(stderr, "facet: unknown command '");
    cli_text(stderr, argv[1]);
    fprintf(stderr, "'\n\n");
    usage(stderr);
    return 2;
}
