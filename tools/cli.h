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

int cmd_models(int argc, char **argv);
int cmd_nn(int argc, char **argv);

#endif
