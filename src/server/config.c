/*
 * config.c - facetd's settings from one table: each setting has a flag (--max-body), a
 * config-file name (max-body or max_body), an environment variable (FACET_MAX_BODY), a
 * default, a range and whether it is a secret. Sources apply in rising precedence: defaults,
 * FACET_* environment, --config FILE, flags; each setting remembers where it came from, so
 * the start-up print says why a value is in force.
 *
 * Numbers parse completely or fail (a typo is an error, never a zero), within stated ranges.
 * Secrets are printed masked: the admin key not at all, a store URL without its password.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

typedef enum { T_STR, T_INT, T_LL, T_BOOL } opt_type;
enum { SECRET_NO, SECRET_KEY, SECRET_URL };

typedef struct opt {
    const char *name; /* flag without "--"; config files may use '_' for '-' */
    const char *env;
    opt_type type;
    size_t off, size;
    long long lo, hi;
    int secret;
    const char *help;
} opt;

#define S(f) offsetof(srv_config, f), sizeof(((srv_config *)0)->f)
static const opt opts[] = {
    {"listen", "FACET_LISTEN", T_STR, S(listen), 0, 0, 0, "HOST:PORT to listen on (port 0: any free port)"},
    {"db", "FACET_DB", T_STR, S(db), 0, 0, SECRET_URL, "store URL: sqlite:PATH, postgres://..., memory:"},
    {"admin-key", "FACET_ADMIN_KEY", T_STR, S(admin_key), 0, 0, SECRET_KEY, "the admin key (at least 16 characters)"},
    {"admin-key-file", "FACET_ADMIN_KEY_FILE", T_STR, S(admin_key_file), 0, 0, 0, "file whose first line is the admin key"},
    {"models", "FACET_MODEL_PATH", T_STR, S(model_dir), 0, 0, 0, "model folder (default: ./models if it exists, else the installed " FACET_MODEL_INSTALL_DIR ")"},
    {"log-file", "FACET_LOG_FILE", T_STR, S(log_file), 0, 0, 0, "append the log here (SIGHUP reopens it); default stderr"},
    {"tls-cert", "FACET_TLS_CERT", T_STR, S(tls_cert), 0, 0, 0, "PEM certificate (with --tls-key: HTTPS)"},
    {"tls-key", "FACET_TLS_KEY", T_STR, S(tls_key), 0, 0, 0, "PEM private key"},
    {"workers", "FACET_WORKERS", T_INT, S(workers), 0, 256, 0, "threads running requests (0: one per core)"},
    {"io-threads", "FACET_IO_THREADS", T_INT, S(io_threads), 0, 64, 0, "HTTP I/O threads (0: 2)"},
    {"threads-per-request", "FACET_THREADS_PER_REQUEST", T_INT, S(threads_per_request), 1, 256, 0, "inference threads per request"},
    {"max-body", "FACET_MAX_BODY", T_LL, S(max_body), 1024, 1LL << 32, 0, "largest request body, bytes"},
    {"max-pixels", "FACET_MAX_PIXELS", T_LL, S(max_pixels), 1, 1000000000, 0, "largest decoded image, pixels"},
    {"max-faces", "FACET_MAX_FACES", T_INT, S(max_faces), 1, 100000, 0, "most faces handled in one image"},
    {"max-in-flight", "FACET_MAX_IN_FLIGHT", T_INT, S(max_in_flight), 1, 100000, 0, "requests in flight before 429"},
    {"deadline-ms", "FACET_DEADLINE_MS", T_INT, S(deadline_ms), 1, 3600000, 0, "per-request deadline (503 past it)"},
    {"header-timeout", "FACET_HEADER_TIMEOUT", T_INT, S(header_timeout_s), 1, 3600, 0, "seconds an idle connection or its headers may take"},
    {"body-timeout", "FACET_BODY_TIMEOUT", T_INT, S(body_timeout_s), 1, 3600, 0, "seconds a request body may take to arrive"},
    {"shutdown-timeout", "FACET_SHUTDOWN_TIMEOUT", T_INT, S(shutdown_timeout_s), 0, 3600, 0, "seconds SIGTERM waits for requests in flight"},
    {"key-cache", "FACET_KEY_CACHE", T_INT, S(key_cache_s), 0, 3600, 0, "seconds a key lookup is cached (revocation delay)"},
    {"access-log", "FACET_ACCESS_LOG", T_BOOL, S(access_log), 0, 1, 0, "log one line per request (method, path, status, ms)"},
    {"preload", "FACET_PRELOAD", T_BOOL, S(preload), 0, 1, 0, "load every model at start (quality, attributes)"},
    {"follow", "FACET_FOLLOW", T_BOOL, S(follow), 0, 1, 0, "apply other nodes' changes to the shared store (docs/deploy.md)"},
    {"follow-interval-ms", "FACET_FOLLOW_INTERVAL_MS", T_INT, S(follow_interval_ms), 10, 60000, 0,
     "catch-up period of --follow without a notification"},
    /* for tests and bench/watch only: a slow recogniser on demand (see docs/api.md) */
    {"test-recognize-delay-ms", "FACET_TEST_RECOGNIZE_DELAY_MS", T_INT, S(test_recognize_delay_ms), 0, 60000, 0,
     "TESTS ONLY: recognize answers this much later (a slow server)"},
};
#undef S
#define N_OPTS (int)(sizeof opts / sizeof opts[0])

static const char *const source_names[] = {"default", "environment", "config file", "flag"};
static int sources[N_OPTS];

void srv_config_defaults(srv_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8080");
    snprintf(c->db, sizeof c->db, "sqlite:facet.db");
    c->threads_per_request = 1;
    c->max_body = 16LL << 20;
    c->max_pixels = 40000000;
    c->max_faces = 100;
    c->max_in_flight = 64;
    c->deadline_ms = 10000;
    c->header_timeout_s = 10;
    c->body_timeout_s = 30;
    c->shutdown_timeout_s = 10;
    c->key_cache_s = 10;
    c->follow_interval_ms = 500;
}

static const opt *find_opt(const char *name, size_t len)
{
    for (int i = 0; i < N_OPTS; i++) {
        const char *n = opts[i].name;
        if (strlen(n) != len) continue;
        size_t k = 0;
        while (k < len && (name[k] == n[k] || (name[k] == '_' && n[k] == '-'))) k++;
        if (k == len) return &opts[i];
    }
    return NULL;
}

static int set_opt(srv_config *c, const opt *o, const char *value, int source, const char *where,
                   char *err, size_t errlen)
{
    char *field = (char *)c + o->off;
    if (o->type == T_STR) {
        if (strlen(value) >= o->size) {
            snprintf(err, errlen, "%s: %s is too long (at most %zu bytes)", where, o->name, o->size - 1);
            return -1;
        }
        memcpy(field, value, strlen(value) + 1);
    } else if (o->type == T_BOOL) {
        int v;
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes")) v = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no")) v = 0;
        else {
            snprintf(err, errlen, "%s: %s must be true or false, not '%s'", where, o->name, value);
            return -1;
        }
        *(int *)field = v;
    } else {
        long v;
        if (facet_parse_long(value, (long)o->lo, (long)o->hi, &v)) {
            snprintf(err, errlen, "%s: %s must be an integer from %lld to %lld, not '%s'", where, o->name,
                     o->lo, o->hi, value);
            return -1;
        }
        if (o->type == T_INT) *(int *)field = (int)v;
        else *(long long *)field = v;
    }
    sources[o - opts] = source;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static int load_file(srv_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--config %s: %s", path, strerror(errno));
        return -1;
    }
    char line[2048], where[1100];
    int lineno = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s: line too long", where);
            rc = -1;
            break;
        }
        char *l = trim(line);
        if (!*l || *l == '#') continue;
        char *eq = strchr(l, '=');
        if (!eq) {
            snprintf(err, errlen, "%s: expected NAME = VALUE", where);
            rc = -1;
            break;
        }
        *eq = 0;
        char *name = trim(l), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = 0;
            value++;
        }
        const opt *o = find_opt(name, strlen(name));
        if (!o) {
            snprintf(err, errlen, "%s: unknown setting '%s'", where, name);
            rc = -1;
            break;
        }
        rc = set_opt(c, o, value, 2, where, err, errlen);
    }
    fclose(f);
    return rc;
}

static void usage(void)
{
    printf("usage: facetd [--listen HOST:PORT] [--db URL] [--config FILE] [options]\n\n"
           "Settings (flag > --config FILE > environment > default):\n");
    for (int i = 0; i < N_OPTS; i++)
        printf("  --%-22s %-28s %s\n", opts[i].name, opts[i].env, opts[i].help);
    printf("\n  --config FILE            lines 'name = value' (# comments)\n"
           "  --routes                 print the routes and exit\n"
           "  --check-config           print the settings in force (secrets masked) and exit\n"
           "  --version, --help\n");
}

/* The admin key file's first line, trimmed. */
static int read_key_file(srv_config *c, char *err, size_t errlen)
{
    FILE *f = fopen(c->admin_key_file, "r");
    if (!f) {
        snprintf(err, errlen, "admin key file %s: %s", c->admin_key_file, strerror(errno));
        return -1;
    }
    char line[512];
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    char *k = ok ? trim(line) : NULL;
    if (!k || strlen(k) >= sizeof c->admin_key) {
        snprintf(err, errlen, "admin key file %s: no key on its first line", c->admin_key_file);
        return -1;
    }
    snprintf(c->admin_key, sizeof c->admin_key, "%s", k);
    return 0;
}

int srv_config_load(srv_config *c, int argc, char **argv, int *print_routes, char *err,
                    size_t errlen)
{
    srv_config_defaults(c);
    memset(sources, 0, sizeof sources);
    *print_routes = 0;
    const char *config_file = NULL;
    /* first pass: what is not a setting, and where the config file is */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 1;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("facetd %s\n", facet_version());
            return 1;
        }
        if (!strcmp(argv[i], "--routes")) *print_routes = 1;
        else if (!strcmp(argv[i], "--check-config")) *print_routes = 2;
        else if (!strncmp(argv[i], "--config=", 9)) config_file = argv[i] + 9;
        else if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--config needs a FILE");
                return -1;
            }
            config_file = argv[++i];
        }
    }
    for (int i = 0; i < N_OPTS; i++) {
        const char *v = getenv(opts[i].env);
        if (v && *v && set_opt(c, &opts[i], v, 1, opts[i].env, err, errlen)) return -1;
    }
    if (config_file && load_file(c, config_file, err, errlen)) return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--routes") || !strcmp(a, "--check-config")) continue;
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (!strncmp(a, "--config=", 9)) continue;
        if (strncmp(a, "--", 2)) {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        const opt *o = find_opt(name, eq ? (size_t)(eq - name) : strlen(name));
        if (!o) {
            snprintf(err, errlen, "unknown option '%s' (see --help)", a);
            return -1;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value && o->type == T_BOOL) value = "true";
        if (!value) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--%s needs a value", o->name);
                return -1;
            }
            value = argv[++i];
        }
        if (set_opt(c, o, value, 3, a, err, errlen)) return -1;
    }
    if (!c->admin_key[0] && c->admin_key_file[0] && read_key_file(c, err, errlen)) return -1;
    if (c->admin_key[0] && strlen(c->admin_key) < 16) {
        snprintf(err, errlen, "the admin key is shorter than 16 characters: use a long random one "
                 "(e.g. openssl rand -base64 32)");
        return -1;
    }
    return 0;
}

/* A store URL with its password replaced: postgres://user:PASS@host, or password=PASS. */
static void mask_url(const char *url, char *out, size_t size)
{
    snprintf(out, size, "%s", url);
    char *scheme = strstr(out, "://");
    if (scheme) {
        char *at = strchr(scheme + 3, '@'), *colon = strchr(scheme + 3, ':');
        if (at && colon && colon < at) {
            char rest[1100];
            snprintf(rest, sizeof rest, "%s", at);
            snprintf(colon, size - (size_t)(colon - out), ":****%s", rest);
        }
    }
    char *pw = strstr(out, "password=");
    if (pw) {
        char *end = pw + 9;
        while (*end && *end != ' ' && *end != '&') end++;
        char rest[1100];
        snprintf(rest, sizeof rest, "%s", end);
        snprintf(pw + 9, size - (size_t)(pw + 9 - out), "****%s", rest);
    }
}

char *srv_config_describe(const srv_config *c)
{
    size_t cap = 8192, n = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    out[0] = 0;
    for (int i = 0; i < N_OPTS; i++) {
        const opt *o = &opts[i];
        const char *field = (const char *)c + o->off;
        char val[1200];
        if (o->type == T_STR) {
            if (o->secret == SECRET_KEY) snprintf(val, sizeof val, "%s", field[0] ? "**** (set)" : "(not set)");
            else if (o->secret == SECRET_URL) mask_url(field, val, sizeof val);
            else snprintf(val, sizeof val, "%s", field[0] ? field : "(not set)");
        } else if (o->type == T_LL) {
            snprintf(val, sizeof val, "%lld", *(const long long *)field);
        } else if (o->type == T_BOOL) {
            snprintf(val, sizeof val, "%s", *(const int *)field ? "true" : "false");
        } else {
            snprintf(val, sizeof val, "%d", *(const int *)field);
        }
        int k = snprintf(out + n, cap - n, "%s = %s (%s)\n", o->name, val, source_names[sources[i]]);
        if (k < 0 || (size_t)k >= cap - n) break;
        n += (size_t)k;
    }
    return out;
}
