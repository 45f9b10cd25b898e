/*
 * fuzz_request.c - libFuzzer target for facetd's request layer (src/server/request.c): the
 * route table, path parameters, query strings, JSON bodies, multipart bodies, base64 and the
 * typed arguments, with no network and no models. Input layout, so that mutations reach every
 * stage: byte 0 picks the method and the media type; then the request target up to '\n'; the
 * rest is the body. Oracles: every route match gives decoded parameters free of '/', NUL and
 * bare dot names; every parsed part lies inside the body or its own buffer; an error reply is
 * valid JSON with error.code; nothing crashes or leaks (ASan, UBSan, LSan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static srv *server;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    srv_config cfg;
    srv_config_defaults(&cfg);
    char err[256];
    if (srv_create(&cfg, 0, &server, err, sizeof err)) abort();
    return 0;
}

static void check_error_reply(const srv_resp *out)
{
    if (!out->status) return;
    if (out->status < 400 || !out->body) abort();
    json_t *j = json_loadb(out->body, out->body_size, 0, NULL);
    if (!j || !json_is_string(json_object_get(json_object_get(j, "error"), "code"))) abort();
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "DELETE", "PUT"};
    static const char *const types[] = {"application/json", "multipart/form-data; boundary=b",
                                        "multipart/form-data; boundary=\"x y\"", "image/jpeg",
                                        "text/plain", "", "multipart/form-data", "APPLICATION/JSON; charset=utf-8"};
    if (size < 1) return 0;
    const char *method = methods[data[0] & 3];
    const char *ctype = types[(data[0] >> 2) & 7];
    const uint8_t *nl = memchr(data + 1, '\n', size - 1);
    size_t tl = nl ? (size_t)(nl - data - 1) : size - 1;
    char *target = malloc(tl + 1);
    if (!target) return 0;
    memcpy(target, data + 1, tl);
    target[tl] = 0;
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t body_size = (size_t)(data + size - body);

    srv_req r;
    srv_resp out;
    memset(&r, 0, sizeof r);
    memset(&out, 0, sizeof out);
    char *q = strchr(target, '?');
    if (q) *q++ = 0;
    int status = 0;
    int route = srv_route_match(server, method, target, &r, &status);
    if (route < 0 && status != 404 && status != 405 && status != 400) abort();
    for (int i = 0; i < r.n_params; i++) {
        const char *v = r.params[i].value;
        if (!*v || strchr(v, '/') || !strcmp(v, ".") || !strcmp(v, "..") || !srv_utf8_ok(v, strlen(v))) abort();
    }
    if (srv_query_parse(q, &r) == 0) {
        r.content_type = ctype;
        r.body = body;
        r.body_size = body_size;
        if (srv_body_parse(&r, &out) == 0) {
            for (int i = 0; i < r.parsed.n_parts; i++) {
                const srv_part *p = &r.parsed.parts[i];
                int inside = p->data >= body && p->data + p->size <= body + body_size;
                if (!inside && p->data != p->owned) abort();
            }
            long k;
            double t;
            int b;
            if (srv_arg_int(&r, "top_k", 1, 1, 100, &k, &out) == 0 && (k < 1 || k > 100)) abort();
            check_error_reply(&out);
            srv_resp_free(&out);
            memset(&out, 0, sizeof out);
            if (srv_arg_float(&r, "threshold", 0.5, -1, 1, &t, &out) == 0 && !(t >= -1 && t <= 1)) abort();
            check_error_reply(&out);
            srv_resp_free(&out);
            memset(&out, 0, sizeof out);
            srv_arg_bool(&r, "strict", 0, &b, &out);
            const char *id = srv_arg_str(&r, "identity");
            if (id) srv_utf8_ok(id, strlen(id));
        }
        check_error_reply(&out);
    }
    srv_resp_free(&out);
    srv_req_free(&r);
    uint8_t *dec;
    size_t dl;
    if (srv_base64_decode((const char *)body, body_size, &dec, &dl) == 0) free(dec);
    free(target);
    return 0;
}
