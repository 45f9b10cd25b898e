/*
 * status.c - status texts and the error-message plumbing. A failure writes its message both
 * into the handle that failed (when there is one) and into a thread-local slot, so that a
 * constructor that returns no handle can still explain itself via facet_last_error().
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base.h"

static _Thread_local char thread_msg[FACET_ERRMSG_MAX];
/* What facet_err_read() returns: a copy, so that the caller reads no buffer another thread may be
 * writing. */
static _Thread_local char handle_msg[FACET_ERRMSG_MAX];

const char *facet_version(void)
{
    return FACET_VERSION_STRING;
}

const char *facet_status_str(int status)
{
    switch (status) {
    case FACET_OK: return "ok";
    case FACET_E_INVALID_ARG: return "invalid argument";
    case FACET_E_NO_MEMORY: return "out of memory";
    case FACET_E_IO: return "input/output error";
    case FACET_E_FORMAT: return "corrupt or unexpected data format";
    case FACET_E_UNSUPPORTED: return "unsupported";
    case FACET_E_MODEL: return "model error";
    case FACET_E_NOT_FOUND: return "not found";
    case FACET_E_EXISTS: return "already exists";
    case FACET_E_LIMIT: return "limit exceeded";
    case FACET_E_STORE: return "store error";
    case FACET_E_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}

/* ---- secrets: passwords never leave the library in a message ---- */

/* Appends s[0..n) to out, keeping room for the terminator. */
static void put(char *out, size_t size, size_t *at, const char *s, size_t n)
{
    while (n-- && *at + 1 < size) out[(*at)++] = *s++;
}

static int ci_prefix(const char *s, const char *word)
{
    for (; *word; s++, word++)
        if (tolower((unsigned char)*s) != *word) return 0;
    return 1;
}

/* The next password in `text` at or after p: [*a, *b). Returns 0 when there is none. */
static int next_secret(const char *text, const char *p, const char **a, const char **b)
{
    for (; *p; p++) {
        /* scheme://user:PASSWORD@host. The password runs to the last '@' before a blank or a
         * quote, not only to the first '/': a raw '/' or '@' in it must not cut the mask short
         * (masking a little too much is the safe side). */
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            const char *auth = p + 3, *end = auth, *last_at = NULL;
            while (*end && !strchr("'\" \t\r\n", *end)) {
                if (*end == '@') last_at = end;
                end++;
            }
            const char *colon = last_at ? memchr(auth, ':', (size_t)(last_at - auth)) : NULL;
            if (colon) {
                *a = colon + 1;
                *b = last_at;
                return 1;
            }
            p += 2;
            continue;
        }
        /* password=VALUE (also sslpassword): a libpq keyword value, quoted or up to a blank;
         * in a URL's query string, up to & or # */
        if (ci_prefix(p, "password")) {
            const char *q = p + 8;
            while (*q == ' ' || *q == '\t') q++;
            if (*q != '=') continue;
            int in_query = p > text && (p[-1] == '?' || p[-1] == '&');
            q++;
            while (*q == ' ' || *q == '\t') q++;
            *a = q;
            if (*q == '\'' && !in_query) {
                for (q++; *q && *q != '\''; q++)
                    if (*q == '\\' && q[1]) q++;
                if (*q) q++;
            } else {
                while (*q && !strchr(in_query ? "&#'\" \t\r\n" : " \t\r\n", *q)) q++;
            }
            *b = q;
            return 1;
        }
    }
    return 0;
}

char *facet_redact(const char *text, char *out, size_t size)
{
    if (!out || !size) return out;
    size_t at = 0;
    const char *p = text ? text : "", *a, *b;
    static const char mask[] = "****";
    while (next_secret(text, p, &a, &b)) {
        put(out, size, &at, p, (size_t)(a - p));
        put(out, size, &at, mask, sizeof mask - 1);
        p = b;
    }
    put(out, size, &at, p, strlen(p));
    out[at] = 0;
    return out;
}

void facet_redact_secrets_of(const char *source, char *msg, size_t size)
{
    const char *p = source ? source : "", *a, *b;
    while (next_secret(source, p, &a, &b)) {
        p = b;
        if (b > a + 1 && *a == '\'' && b[-1] == '\'') a++, b--; /* the quoted value's inside */
        size_t n = (size_t)(b - a);
        if (n == 0) continue;
        char tmp[FACET_ERRMSG_MAX * 2];
        size_t at = 0;
        for (const char *m = msg; *m;) {
            if (!strncmp(m, a, n)) {
                put(tmp, sizeof tmp, &at, "****", 4);
                m += n;
            } else {
                put(tmp, sizeof tmp, &at, m++, 1);
            }
        }
        tmp[at] = 0;
        snprintf(msg, size, "%s", tmp);
    }
}

/* Most messages hold no URL and no password: only those that might are rewritten. */
void facet_redact_inplace(char *msg, size_t size)
{
    int maybe = strstr(msg, "://") != NULL;
    for (const char *p = msg; *p && !maybe; p++) maybe = ci_prefix(p, "password");
    if (!maybe) return;
    char tmp[FACET_ERRMSG_MAX * 2];
    facet_redact(msg, tmp, sizeof tmp < size ? sizeof tmp : size);
    memcpy(msg, tmp, strlen(tmp) + 1);
}

/* Callers often pass facet_thread_errmsg() (an inner failure's message) as an argument, so the
 * message is formatted into a local buffer first: formatting straight into thread_msg would read
 * the buffer it is overwriting (undefined behaviour, and garbled text in practice). */
int facet_vseterr(facet_err *e, int status, const char *fmt, va_list ap)
{
    char msg[FACET_ERRMSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    facet_redact_inplace(msg, sizeof msg);
    memcpy(thread_msg, msg, sizeof thread_msg);
    if (e) memcpy(e->msg, msg, sizeof e->msg);
    return status;
}

int facet_seterr(facet_err *e, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    facet_vseterr(e, status, fmt, ap);
    va_end(ap);
    return status;
}

const char *facet_thread_errmsg(void)
{
    return thread_msg;
}

const char *facet_last_error(void)
{
    return thread_msg;
}

const char *facet_err_read(pthread_mutex_t *mu, const facet_err *e)
{
    pthread_mutex_lock(mu);
    memcpy(handle_msg, e->msg, sizeof handle_msg);
    pthread_mutex_unlock(mu);
    handle_msg[sizeof handle_msg - 1] = 0;
    return handle_msg;
}
