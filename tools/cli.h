/*
 * cli.h - shared pieces of the `facet` command line. Each command family lives in its own
 * cmd_*.c file and registers a `int cmd_X(int argc, char **argv)` entry in facet.c's table.
 * Commands use the public API only (include/facet), like any other program would.
 */
#ifndef FACET_TOOLS_CLI_H
#define FACET_TOOLS_CLI_H

#include <stdio.h>

#include "facet/facet.h"

/* Prints "facet: <what>: <facet_last_error() or status text>" to stderr; returns 1. */
int cli_fail(const char *what, int status);
/* Value of "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i. NULL if not that flag. */
const char *cli_opt(int argc, char **argv, int *i, const char *name);
/* A progress bar on stderr (only when stderr is a terminal): done of total, with rate and ETA. */
void cli_progress(const char *label, long done, long total, double elapsed_s);
/* Model folder: $FACET_MODEL_PATH, else ./models. */
const char *cli_model_dir(void);

/* Shared by the face commands: SDK options (--threshold, --min-face, --threads, --models,
 * --backend, --allow-corrupt) at argv[*i] (returns 1 if it took one), SDK creation with an
 * error message, image loading (damaged images are errors unless --allow-corrupt set
 * cli_allow_corrupt), and JSON output helpers. */
int cli_sdk_options(int argc, char **argv, int *i, facet_sdk_settings *set);
int cli_sdk_create(const facet_sdk_settings *set, facet_sdk **sdk);
extern int cli_allow_corrupt;
int cli_load_image(const char *path, facet_image **img);
/* Loads an image and detects its faces; on failure reports it (JSON line or stderr), leaves
 * nothing to free and returns 1. */
int cli_detect(facet_sdk *sdk, const char *path, int json, facet_image **img, facet_face **faces, int *n);
/* The text to print for a failure on input `path`: "PATH: MSG", or MSG alone when the library's
 * message names the file already (decoders and file readers do), so that it appears once. */
const char *cli_error_text(char *buf, size_t size, const char *path, const char *msg);
void cli_json_str(FILE *f, const char *s);
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
int cmd_enroll(int argc, char **argv);
int cmd_identify(int argc, char **argv);
int cmd_collection(int argc, char **argv);
int cmd_analyze(int argc, char **argv);

#endif
