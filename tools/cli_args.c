/*
 * cli_args.c - what the command line takes in and puts out, checked: options through
 * getopt_long, numbers through conversions that refuse "abc", "5x", "", NaN and values out of
 * range (a typo is an error with exit status 2 naming the option, never a zero), files closed
 * with their write errors reported, and text from outside (identities, paths) escaped before
 * it reaches a terminal or a JSON line.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Length of the UTF-8 sequence at s (1..4) with its code point, or 0 if it is malformed
 * (overlong, surrogate, above U+10FFFF, cut short). */
static int utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (int k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0; /* also stops at the NUL */
        v = v << 6 | (s[k] & 0x3f);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (!len || v < min_cp[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

/* Characters that move the cursor, change colours or reorder text on a terminal. */
static int is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

void cli_text(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        int len = utf8_next(p, &cp);
        if (len && !is_control(cp) && cp != '\\') {
            fwrite(p, 1, (size_t)len, f);
            p += len;
        } else if (len && cp == '\\') {
            fputs("\\\\", f);
            p++;
        } else if (len && cp < 0x80) {
            fprintf(f, "\\x%02x", (unsigned)cp);
            p++;
        } else if (len) {
            fprintf(f, "\\u{%04x}", (unsigned)cp);
            p += len;
        } else {
            fprintf(f, "\\x%02x", *p++); /* a byte that is not UTF-8 */
        }
    }
}

void cli_json_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        uint32_t cp;
        int len = utf8_next(p, &cp);
        if (!len) {
            fputs("\\ufffd", f); /* JSON is UTF-8: a stray byte becomes the replacement character */
            p++;
        } else if (cp == '"' || cp == '\\') {
            fprintf(f, "\\%c", (char)cp);
            p++;
        } else if (is_control(cp)) {
            fprintf(f, "\\u%04x", (unsigned)cp);
            p += len;
        } else {
            fwrite(p, 1, (size_t)len, f);
            p += len;
        }
    }
    fputc('"', f);
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *opts)
{
    char spec[64];
    snprintf(spec, sizeof spec, ":%s", shortopts ? shortopts : "");
    opterr = 0; /* messages below name the command and the option */
    int c = getopt_long(argc, argv, spec, opts, NULL);
    if (c == '?' || c == ':') {
        const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        char shortname[3] = {'-', (char)optopt, 0};
        if (optopt && (optopt < 256)) arg = shortname; /* an unknown or valueless short option */
        fprintf(stderr, "facet %s: ", argv[0]);
        if (c == '?') {
            fprintf(stderr, "unknown option '");
            cli_text(stderr, arg);
            fprintf(stderr, "'\n");
        } else {
            fprintf(stderr, "option '");
            cli_text(stderr, arg);
            fprintf(stderr, "' needs a value\n");
        }
        return '?';
    }
    return c;
}

static void bad_value(const char *opt, const char *v, const char *what)
{
    fprintf(stderr, "facet: --%s: '", opt);
    cli_text(stderr, v);
    fprintf(stderr, "' is not %s\n", what);
    exit(2);
}

long cli_long(const char *opt, const char *v, long lo, long hi)
{
    long x;
    if (facet_parse_long(v, lo, hi, &x)) {
        char what[96];
        snprintf(what, sizeof what, "an integer in %ld..%ld", lo, hi);
        bad_value(opt, v, what);
    }
    return x;
}

float cli_float(const char *opt, const char *v, double lo, double hi)
{
    double x;
    if (facet_parse_double(v, lo, hi, &x)) {
        char what[96];
        snprintf(what, sizeof what, "a number in %g..%g", lo, hi);
        bad_value(opt, v, what);
    }
    return (float)x;
}

facet_nn_backend cli_backend(const char *v)
{
    if (!strcmp(v, "ref")) return FACET_NN_BACKEND_REF;
    if (!strcmp(v, "xnnpack")) return FACET_NN_BACKEND_XNNPACK;
    if (!strcmp(v, "auto")) return FACET_NN_BACKEND_AUTO;
    bad_value("backend", v, "one of ref, xnnpack, auto");
    return FACET_NN_BACKEND_AUTO;
}

int cli_sdk_option(int c, const char *arg, facet_sdk_settings *set)
{
    switch (c) {
    case CLI_OPT_THRESHOLD: set->detect_threshold = cli_float("threshold", arg, 0, 1); break;
    case CLI_OPT_MIN_FACE: set->smallest_face_height = (int)cli_long("min-face", arg, 8, 100000); break;
    case CLI_OPT_THREADS: set->num_threads = (int)cli_long("threads", arg, 0, 1024); break;
    case CLI_OPT_PASSES: set->detect_passes = (int)cli_long("passes", arg, 1, 3); break;
    case CLI_OPT_VERIFY: set->detect_verify = 1; break;
    case CLI_OPT_MODELS: set->model_dir = arg; break;
    case CLI_OPT_BACKEND: set->backend = cli_backend(arg); break;
    case CLI_OPT_ALLOW_CORRUPT: set->allow_corrupt = cli_allow_corrupt = 1; break;
    case CLI_OPT_MIRROR: set->faceprint_mirror = 1; break;
    case CLI_OPT_NO_MIRROR: set->faceprint_mirror = 0; break;
    default: return 0;
    }
    return 1;
}

int cli_close(FILE *f, const char *path)
{
    int bad = ferror(f);
    int err = errno;
    if (fflush(f)) bad = 1, err = errno;
    if (fclose(f)) bad = 1, err = errno;
    if (!bad) return 0;
    fprintf(stderr, "facet: cannot write ");
    cli_text(stderr, path);
    fprintf(stderr, ": %s\n", err ? strerror(err) : "write error");
    return 1;
}

/* ---- the older argument walk, kept for code not yet on cli_getopt ---- */

const char *cli_opt(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != 0) return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "facet: %s needs a value\n", name);
        exit(2);
    }
    return argv[++*i];
}

int cli_sdk_options(int argc, char **argv, int *i, facet_sdk_settings *set)
{
    static const struct option sdk[] = {CLI_SDK_OPTIONS};
    for (size_t k = 0; k < sizeof sdk / sizeof sdk[0]; k++) {
        char flag[32];
        snprintf(flag, sizeof flag, "--%s", sdk[k].name);
        const char *v = sdk[k].has_arg ? cli_opt(argc, argv, i, flag) : !strcmp(argv[*i], flag) ? "" : NULL;
        if (v) return cli_sdk_option(sdk[k].val, v, set);
    }
    return 0;
}
