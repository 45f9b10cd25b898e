/*
 * request.c - the request layer that needs no network and no models, so the fuzzer can drive
 * it (fuzz/fuzz_request.c): routing against the table, percent-decoding of path parameters
 * and query strings, body parsing (JSON object, multipart/form-data, raw image), base64,
 * UTF-8 checks, typed arguments and the JSON error replies.
 *
 * Everything from the client is bounded and checked before use: a parameter is one decoded
 * segment without NUL, '/' or a bare '.'/'..'; numbers must parse completely and lie in range
 * (a typo is a 400, never a zero); the body is parsed once, and parts point into it.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server.h"

#define MAX_QUERY_PAIRS 32

double srv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

const char *srv_role_name(srv_role r)
{
    switch (r) {
    case SRV_ROLE_ADMIN: return "admin";
    case SRV_ROLE_ENROL: return "enrol";
    case SRV_ROLE_RECOGNIZE: return "recognize";
    default: return "none";
    }
}

int srv_role_parse(const char *s, srv_role *out)
{
    if (!s) return -1;
    if (!strcmp(s, "admin")) *out = SRV_ROLE_ADMIN;
    else if (!strcmp(s, "enrol") || !strcmp(s, "enroll")) *out = SRV_ROLE_ENROL;
    else if (!strcmp(s, "recognize") || !strcmp(s, "recognise")) *out = SRV_ROLE_RECOGNIZE;
    else return -1;
    return 0;
}

/* ---- decoding ---------------------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string; '+' is a space when `plus`. NULL on a bad escape,
 * an encoded NUL, or no memory. */
static char *pct_decode(const char *s, size_t n, int plus)
{
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else if (plus && s[i] == '+') {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = 0;
    return out;
}

int srv_utf8_ok(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x20 || c == 0x7f) return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        int len;
        unsigned cp;
        if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07;
        else return 0;
        if (i + (size_t)len > n) return 0;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF, C1 controls */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || (cp >= 0x80 && cp < 0xa0))
            return 0;
        i += (size_t)len;
    }
    return 1;
}

int srv_base64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    while (len > 0 && in[len - 1] == '=') len--;
    if (len % 4 == 1) return -1;
    uint8_t *buf = malloc(len / 4 * 3 + 3);
    if (!buf) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)in[i], v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+' || c == '-') v = 62;
        else if (c == '/' || c == '_') v = 63;
        else {
            free(buf);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *out_len = o;
    return 0;
}

/* ---- routing ----------------------------------------------------------------------------- */

static void kv_free(srv_kv *kv, int n)
{
    for (int i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
}

void srv_req_free(srv_req *r)
{
    kv_free(r->params, r->n_params);
    r->n_params = 0;
    kv_free(r->query, r->n_query);
    free(r->query);
    r->query = NULL;
    r->n_query = 0;
    srv_body_free(&r->parsed);
}

/* Matches one pattern against the path; 1 on a match (params filled), 0 on none, -1 on a bad
 * parameter (escape, '/', '.', '..', control characters). */
static int match_pattern(const char *pat, const char *path, srv_req *r)
{
    int np = 0, bad = 0;
    const char *p = pat, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/') goto nomatch;
        p++, s++;
        const char *pe = strchr(p, '/'), *se = strchr(s, '/');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p), sl = se ? (size_t)(se - s) : strlen(s);
        if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
            if (sl == 0 || np >= SRV_MAX_PARAMS) goto nomatch;
            char *v = pct_decode(s, sl, 0);
            if (!v || strchr(v, '/') || !strcmp(v, ".") || !strcmp(v, "..") ||
                !srv_utf8_ok(v, strlen(v))) {
                free(v);
                bad = 1; /* remember, but a later literal mismatch still means "no route" */
            } else {
                r->params[np].key = strndup(p + 1, pl - 2);
                r->params[np].value = v;
                if (!r->params[np].key) {
                    free(v);
                    goto nomatch;
                }
                np++;
            }
        } else if (pl != sl || memcmp(p, s, pl) != 0) {
            goto nomatch;
        }
        p += pl, s += sl;
    }
    if (*p || *s) goto nomatch;
    r->n_params = np;
    if (bad) {
        kv_free(r->params, np);
        r->n_params = 0;
        return -1;
    }
    return 1;
nomatch:
    kv_free(r->params, np);
    r->n_params = 0;
    return 0;
}

int srv_route_match(const srv *s, const char *method, const char *path, srv_req *r, int *status)
{
    int path_seen = 0, bad = 0;
    size_t n = srv_route_count(s);
    for (size_t i = 0; i < n; i++) {
        const srv_route *rt = srv_route_at(s, i);
        int m = match_pattern(rt->pattern, path, r);
        if (m < 0) {
            bad = 1;
            continue;
        }
        if (!m) continue;
        if (!strcmp(rt->method, method)) return (int)i;
        path_seen = 1;
        kv_free(r->params, r->n_params);
        r->n_params = 0;
    }
    *status = path_seen ? 405 : bad ? 400 : 404;
    return -1;
}

int srv_query_parse(const char *q, srv_req *r)
{
    if (!q || !*q) return 0;
    r->query = calloc(MAX_QUERY_PAIRS, sizeof *r->query);
    if (!r->query) return -1;
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len) {
            if (r->n_query == MAX_QUERY_PAIRS) return -1;
            const char *eq = memchr(q, '=', len);
            size_t kl = eq ? (size_t)(eq - q) : len;
            char *k = pct_decode(q, kl, 1);
            char *v = eq ? pct_decode(eq + 1, len - kl - 1, 1) : strdup("");
            if (!k || !v) {
                free(k);
                free(v);
                return -1;
            }
            r->query[r->n_query].key = k;
            r->query[r->n_query].value = v;
            r->n_query++;
        }
        q += len;
        if (*q == '&') q++;
    }
    return 0;
}

static const char *kv_get(const srv_kv *kv, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(kv[i].key, key)) return kv[i].value;
    return NULL;
}

const char *srv_query(const srv_req *r, const char *key) { return kv_get(r->query, r->n_query, key); }
const char *srv_param(const srv_req *r, const char *key) { return kv_get(r->params, r->n_params, key); }

/* ---- bodies ------------------------------------------------------------------------------ */

void srv_body_free(srv_body *b)
{
    if (b->json) json_decref(b->json);
    b->json = NULL;
    for (int i = 0; i < b->n_parts; i++) free(b->parts[i].owned);
    b->n_parts = 0;
}

const srv_part *srv_body_part(const srv_req *r, const char *name)
{
    for (int i = 0; i < r->parsed.n_parts; i++)
        if (!strcmp(r->parsed.parts[i].name, name)) return &r->parsed.parts[i];
    return NULL;
}

/* The media type without parameters, lower case, into buf. */
static void media_type(const char *ct, char *buf, size_t size)
{
    size_t i = 0;
    while (*ct == ' ') ct++;
    for (; ct[i] && ct[i] != ';' && ct[i] != ' ' && i + 1 < size; i++)
        buf[i] = (char)tolower((unsigned char)ct[i]);
    buf[i] = 0;
}

/* A parameter of a header value: `name=value` or `name="value"` after a ';'. */
static int header_param(const char *h, const char *name, char *buf, size_t size)
{
    size_t nl = strlen(name);
    for (const char *p = strchr(h, ';'); p; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t') q++;
        if (strncasecmp(q, name, nl) || q[nl] != '=') continue;
        q += nl + 1;
        size_t n = 0;
        if (*q == '"') {
            q++;
            while (q[n] && q[n] != '"') n++;
        } else {
            while (q[n] && q[n] != ';' && q[n] != ' ' && q[n] != '\r' && q[n] != '\n') n++;
        }
        if (n == 0 || n >= size) return -1;
        memcpy(buf, q, n);
        buf[n] = 0;
        return 0;
    }
    return -1;
}

static srv_part *add_part(srv_body *b, const char *name, srv_resp *out)
{
    if (b->n_parts == SRV_MAX_PARTS) {
        srv_error(out, 400, "too_many_parts", "at most %d inputs in one request", SRV_MAX_PARTS);
        return NULL;
    }
    if (strlen(name) >= sizeof b->parts[0].name) {
        srv_error(out, 400, "bad_field", "field name too long");
        return NULL;
    }
    for (int i = 0; i < b->n_parts; i++)
        if (!strcmp(b->parts[i].name, name)) {
            srv_error(out, 400, "duplicate_field", "field '%s' given twice", name);
            return NULL;
        }
    srv_part *p = &b->parts[b->n_parts++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    return p;
}

static const uint8_t *memfind(const uint8_t *h, size_t hn, const char *needle, size_t nn)
{
    if (nn == 0 || hn < nn) return NULL;
    for (size_t i = 0; i + nn <= hn; i++) {
        const uint8_t *c = memchr(h + i, needle[0], hn - nn + 1 - i);
        if (!c) return NULL;
        i = (size_t)(c - h);
        if (!memcmp(c, needle, nn)) return c;
    }
    return NULL;
}

/* multipart/form-data (RFC 7578): parts between "--boundary" lines, each with headers, a
 * blank line and the data up to "\r\n--boundary". */
static int parse_multipart(srv_req *r, srv_resp *out)
{
    char boundary[80], delim[84];
    if (header_param(r->content_type, "boundary", boundary, sizeof boundary)) {
        srv_error(out, 400, "bad_multipart", "multipart body without a valid boundary");
        return -1;
    }
    snprintf(delim, sizeof delim, "--%s", boundary);
    size_t dl = strlen(delim);
    const uint8_t *b = r->body, *end = r->body + r->body_size;
    const uint8_t *p = memfind(b, r->body_size, delim, dl);
    if (!p) goto bad;
    p += dl;
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') return 0; /* closing delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') goto bad;
        p += 2;
        const uint8_t *hend = memfind(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend) goto bad;
        char name[64] = "", ctype[128] = "";
        int have_name = 0, is_file = 0;
        /* header lines */
        for (const uint8_t *line = p; line < hend;) {
            const uint8_t *eol = memfind(line, (size_t)(hend - line) + 2, "\r\n", 2);
            size_t ll = (size_t)(eol - line);
            char h[1024];
            if (ll >= sizeof h) goto bad;
            memcpy(h, line, ll);
            h[ll] = 0;
            if (memchr(h, 0, ll)) goto bad;
            if (!strncasecmp(h, "Content-Disposition:", 20)) {
                if (header_param(h, "name", name, sizeof name)) goto bad;
                have_name = 1;
                char low[sizeof h];
                for (size_t i = 0; i <= ll; i++) low[i] = (char)tolower((unsigned char)h[i]);
                is_file = strstr(low, "filename") != NULL;
            } else if (!strncasecmp(h, "Content-Type:", 13)) {
                media_type(h + 13, ctype, sizeof ctype);
            }
            line = eol + 2;
        }
        if (!have_name) goto bad;
        const uint8_t *data = hend + 4;
        char next[88];
        snprintf(next, sizeof next, "\r\n%s", delim);
        const uint8_t *dend = memfind(data, (size_t)(end - data), next, dl + 2);
        if (!dend) goto bad;
        srv_part *part = add_part(&r->parsed, name, out);
        if (!part) return -1;
        snprintf(part->content_type, sizeof part->content_type, "%s", ctype);
        part->data = data;
        part->size = (size_t)(dend - data);
        part->is_json = !strncmp(name, "faceprint", 9);
        /* a file (a filename, or a type other than text: CompreFace's "file", "source_image")
         * keeps its bytes; a plain form field (identity, top_k, ...) is kept as text for the
         * srv_arg_* calls */
        is_file |= ctype[0] && strncmp(ctype, "text/", 5);
        if (strncmp(name, "image", 5) && !part->is_json && !is_file) {
            if (memchr(data, 0, part->size) || !(part->owned = (uint8_t *)strndup((const char *)data, part->size))) {
                srv_error(out, 400, "bad_field", "form field '%s' is not text", name);
                return -1;
            }
            part->data = part->owned;
            part->is_text = 1;
        }
        p = dend + 2 + dl;
    }
bad:
    srv_error(out, 400, "bad_multipart", "malformed multipart/form-data body");
    return -1;
}

/* A JSON object body; "image*" base64 strings and "faceprint*" objects become parts. */
static int parse_json(srv_req *r, srv_resp *out)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)r->body, r->body_size, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        srv_error(out, 400, "bad_json", "malformed JSON at line %d column %d: %s", e.line, e.column,
                  e.text);
        return -1;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        srv_error(out, 400, "bad_json", "the body must be a JSON object");
        return -1;
    }
    r->parsed.json = j;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        int is_image = !strncmp(key, "image", 5), is_fp = !strncmp(key, "faceprint", 9);
        if (!is_image && !is_fp) continue;
        if (is_image && !json_is_string(v)) {
            srv_error(out, 400, "bad_type", "'%s' must be a base64 string", key);
            return -1;
        }
        if (is_fp && !json_is_object(v)) {
            srv_error(out, 400, "bad_type", "'%s' must be a faceprint object", key);
            return -1;
        }
        srv_part *p = add_part(&r->parsed, key, out);
        if (!p) return -1;
        if (is_image) {
            const char *s = json_string_value(v);
            /* a data: URL prefix is accepted, as browsers produce it */
            if (!strncmp(s, "data:", 5)) {
                const char *comma = strchr(s, ',');
                s = comma ? comma + 1 : s;
            }
            if (srv_base64_decode(s, strlen(s), &p->owned, &p->size)) {
                srv_error(out, 400, "bad_base64", "'%s' is not valid base64", key);
                return -1;
            }
        } else {
            char *txt = json_dumps(v, JSON_COMPACT);
            if (!txt) {
                srv_error(out, 503, "no_memory", "out of memory");
                return -1;
            }
            p->owned = (uint8_t *)txt;
            p->size = strlen(txt);
            p->is_json = 1;
            snprintf(p->content_type, sizeof p->content_type, "application/json");
        }
        p->data = p->owned;
    }
    return 0;
}

int srv_body_parse(srv_req *r, srv_resp *out)
{
    char mt[128];
    media_type(r->content_type ? r->content_type : "", mt, sizeof mt);
    if (r->body_size == 0) return 0;
    if (!strcmp(mt, "application/json")) return parse_json(r, out);
    if (!strcmp(mt, "multipart/form-data")) return parse_multipart(r, out);
    if (!strcmp(mt, "image/jpeg") || !strcmp(mt, "image/png") ||
        !strcmp(mt, "application/octet-stream")) {
        srv_part *p = add_part(&r->parsed, "image", out);
        if (!p) return -1;
        snprintf(p->content_type, sizeof p->content_type, "%s", mt);
        p->data = r->body;
        p->size = r->body_size;
        return 0;
    }
    srv_error(out, 415, "unsupported_media_type",
              "Content-Type '%s' is not accepted: use application/json, multipart/form-data, "
              "image/jpeg or image/png", mt);
    return -1;
}

/* ---- arguments --------------------------------------------------------------------------- */

/* A multipart form field's text, or NULL. */
static const char *form_field(const srv_req *r, const char *name)
{
    const srv_part *p = srv_body_part(r, name);
    return p && p->is_text ? (const char *)p->owned : NULL;
}

const char *srv_arg_str(srv_req *r, const char *name)
{
    const char *q = srv_query(r, name);
    if (q || (q = form_field(r, name))) return q;
    if (r->parsed.json) {
        json_t *v = json_object_get(r->parsed.json, name);
        if (json_is_string(v)) return json_string_value(v);
    }
    return NULL;
}

/* The argument as text (query) or JSON value; 0 absent, 1 text in *txt, 2 JSON in *jv. */
static int arg_lookup(srv_req *r, const char *name, const char **txt, json_t **jv)
{
    if ((*txt = srv_query(r, name)) || (*txt = form_field(r, name))) return 1;
    if (r->parsed.json && (*jv = json_object_get(r->parsed.json, name))) return 2;
    return 0;
}

int srv_arg_int(srv_req *r, const char *name, long def, long lo, long hi, long *v, srv_resp *out)
{
    const char *txt = NULL;
    json_t *jv = NULL;
    long x = def;
    switch (arg_lookup(r, name, &txt, &jv)) {
    case 0: break;
    case 1:
        if (facet_parse_long(txt, lo, hi, &x)) goto bad;
        break;
    default:
        if (!json_is_integer(jv)) goto bad;
        json_int_t ji = json_integer_value(jv);
        if (ji < lo || ji > hi) goto bad;
        x = (long)ji;
    }
    if (x < lo || x > hi) goto bad;
    *v = x;
    return 0;
bad:
    srv_error(out, 400, "bad_argument", "'%s' must be an integer from %ld to %ld", name, lo, hi);
    return -1;
}

int srv_arg_float(srv_req *r, const char *name, double def, double lo, double hi, double *v,
                  srv_resp *out)
{
    const char *txt = NULL;
    json_t *jv = NULL;
    double x = def;
    switch (arg_lookup(r, name, &txt, &jv)) {
    case 0: break;
    case 1:
        if (facet_parse_double(txt, lo, hi, &x)) goto bad;
        break;
    default:
        if (!json_is_number(jv)) goto bad;
        x = json_number_value(jv);
    }
    if (!isfinite(x) || x < lo || x > hi) goto bad;
    *v = x;
    return 0;
bad:
    srv_error(out, 400, "bad_argument", "'%s' must be a number from %g to %g", name, lo, hi);
    return -1;
}

int srv_arg_bool(srv_req *r, const char *name, int def, int *v, srv_resp *out)
{
    const char *txt = NULL;
    json_t *jv = NULL;
    switch (arg_lookup(r, name, &txt, &jv)) {
    case 0: *v = def; return 0;
    case 1:
        if (!strcmp(txt, "true") || !strcmp(txt, "1") || !strcmp(txt, "")) *v = 1;
        else if (!strcmp(txt, "false") || !strcmp(txt, "0")) *v = 0;
        else break;
        return 0;
    default:
        if (!json_is_boolean(jv)) break;
        *v = json_is_true(jv);
        return 0;
    }
    srv_error(out, 400, "bad_argument", "'%s' must be true or false", name);
    return -1;
}

/* ---- responses --------------------------------------------------------------------------- */

void srv_resp_free(srv_resp *r)
{
    srv_stream_free(r->stream);
    r->stream = NULL;
    free(r->body);
    r->body = NULL;
    r->body_size = 0;
}

void srv_text(srv_resp *out, int status, const char *content_type, char *body, size_t size)
{
    srv_resp_free(out);
    out->status = status;
    out->content_type = content_type;
    out->body = body;
    out->body_size = size;
}

void srv_json(srv_resp *out, int status, json_t *j)
{
    char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7)) : NULL;
    json_decref(j);
    if (!txt) {
        /* a static reply: nothing left to allocate with */
        static const char oom[] = "{\"error\":{\"code\":\"no_memory\",\"message\":\"out of memory\"}}";
        txt = strdup(oom);
        status = 503;
    }
    srv_text(out, status, "application/json", txt, txt ? strlen(txt) : 0);
}

void srv_error(srv_resp *out, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* messages may quote client bytes: keep them valid UTF-8 for the JSON string */
    for (size_t i = 0; msg[i]; i++)
        if ((unsigned char)msg[i] >= 0x80 || (unsigned char)msg[i] < 0x20) msg[i] = '?';
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    srv_json(out, status, j);
    if (out->status == status && (status == 429 || status == 503) && !out->retry_after)
        out->retry_after = 1;
}
