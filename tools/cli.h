/*
 * cli.h - shared pieces of the `facet` command line. Each command family lives in its own
 * cmd_*.c file and registers a `int cmd_X(int argc, char **argv)` entry in facet.c's table.
 * Commands use the public API only (include/facet), like any other program would.
 */
#ifndef FACET_TOOLS_CLI_H
#define FACET_TOOLS_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "facet/facet.h"

/* Prints "facet: <what>: <facet_last_error() or status text>" to stderr; returns 1. */
int cli_fail(const char *what, int status);
/* A progress bar on stderr (only when stderr is a terminal): done of total, with rate and ETA. */
void cli_progress(const char *label, long done, long total, double elapsed_s);
/* Model folder: $FACET_MODEL_PATH, else ./models. */
const char *cli_model_dir(void);
/* qsort comparator for doubles, ascending. */
int cli_cmp_double(const void *a, const void *b);

/* ---- arguments (cli_args.c) ----
 * Exit status: 0 success, 1 a failure at run time, 2 a usage error (unknown option, missing
 * or malformed value). Every command parses its options with
 *     for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) ...
 * once per process, where argv[0] is the command's name (or its verb: `collection list`
 * parses argv + 1); the positional arguments are then argv[optind..]. */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *opts);
/* Checked conversions of option --opt's value: the whole string must be a number in lo..hi
 * (finite, for floats); otherwise "facet: --opt: 'VALUE' is not ..." and exit(2). */
long cli_long(const char *opt, const char *v, long lo, long hi);
float cli_float(const char *opt, const char *v, double lo, double hi);
/* "ref", "xnnpack" or "auto"; anything else is a usage error (exit 2). */
facet_nn_backend cli_backend(const char *v);
/* fflush + fclose with their errors: returns 0, or prints "cannot write PATH: why" and 1. */
int cli_close(FILE *f, const char *path);
/* Text from outside (identities, paths) for a terminal: control characters, bidirectional
 * overrides, backslashes and bytes that are not UTF-8 are written as escapes. */
void cli_text(FILE *f, const char *s);
/* The same for a JSON string (quoted; bytes that are not UTF-8 become U+FFFD). */
void cli_json_str(FILE *f, const char *s);

/* The SDK options every face command takes: --threshold T (0..1), --min-face PX (8..100000),
 * --threads N (0..1024), --passes 1..3, --verify, --models DIR, --backend ref|xnnpack|auto,
 * --allow-corrupt (damaged images decode with a warning; sets cli_allow_corrupt for
 * cli_load_image too), --mirror / --no-mirror (settings.faceprint_mirror). */
enum {
    CLI_OPT_THRESHOLD = 0x1000, CLI_OPT_MIN_FACE, CLI_OPT_THREADS, CLI_OPT_PASSES, CLI_OPT_VERIFY,
    CLI_OPT_MODELS, CLI_OPT_BACKEND, CLI_OPT_ALLOW_CORRUPT, CLI_OPT_MIRROR, CLI_OPT_NO_MIRROR,
    CLI_OPT_FIRST_OWN /* commands number their own from here */
};
#define CLI_SDK_OPTIONS                                                                            \
    {"threshold", required_argument, NULL, CLI_OPT_THRESHOLD},                                     \
        {"min-face", required_argument, NULL, CLI_OPT_MIN_FACE},                                   \
        {"threads", required_argument, NULL, CLI_OPT_THREADS},                                     \
        {"passes", required_argument, NULL, CLI_OPT_PASSES}, {"verify", no_argument, NULL, CLI_OPT_VERIFY}, \
        {"models", required_argument, NULL, CLI_OPT_MODELS},                                       \
        {"backend", required_argument, NULL, CLI_OPT_BACKEND},                                     \
        {"allow-corrupt", no_argument, NULL, CLI_OPT_ALLOW_CORRUPT},                              \
        {"mirror", no_argument, NULL, CLI_OPT_MIRROR}, {"no-mirror", no_argument, NULL, CLI_OPT_NO_MIRROR}
/* Applies one of those (c from cli_getopt); returns 0 if c is not an SDK option. */
int cli_sdk_option(int c, const char *arg, facet_sdk_settings *set);
/* The older walk over argv[*i] (checked the same way), for code not yet on cli_getopt: the
 * value of "--name VALUE" or "--name=VALUE" (advancing *i; NULL if not that flag), and the SDK
 * options (returns 1 if it took one). */
const char *cli_opt(int argc, char **argv, int *i, const char *name);
int cli_sdk_options(int argc, char **argv, int *i, facet_sdk_settings *set);

/* Shared by the face commands: SDK creation with an error message, image loading, and JSON
 * output helpers. */
int cli_sdk_create(const facet_sdk_settings *set, facet_sdk **sdk);
extern int cli_allow_corrupt;
int cli_load_image(const char *path, facet_image **img);
/* Loads an image and detects its faces; on failure reports it (JSON line or stderr), leaves
 * nothing to free and returns 1. */
int cli_detect(facet_sdk *sdk, const char *path, int json, facet_image **img, facet_face **faces, int *n);
/* The text to print for a failure on input `path`: "PATH: MSG", or MSG alone when the library's
 * message names the file already (decoders and file readers do), so that it appears once. */
const char *cli_error_text(char *buf, size_t size, const char *path, const char *msg);
void cli_json_error(const char *path, const char *msg);
/* Opens an image's JSON line: {"path": ..., "width": W, "height": H, "faces": [ */
void cli_json_image(const char *path, const facet_image *img);
/* Starts an image's output: that JSON line, or "PATH: WxH, N faces". */
void cli_begin_image(const char *path, const facet_image *img, int nfaces, int json);

int cmd_models(int argc, char **argv);
int cmd_nn(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_faceprint(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_eval(int argc, char **argv);
/* `facet eval ident` (cmd_eval_ident.c): verification and 1:N with bootstrap intervals. */
int cmd_eval_ident(int argc, char **argv);
int cmd_enroll(int argc, char **argv);
int cmd_identify(int argc, char **argv);
int cmd_collection(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_watch(int argc, char **argv);

#endif
