/*
 * web.c - the dashboard's side of facetd: its static files (web/: HTML, CSS, JavaScript, no
 * build step, nothing fetched from elsewhere), and the two reads only a page needs: one page of
 * a collection's enrolments, and an enrolment's stored face chip as an image (thumbnails).
 *
 * Where the files come from: FACET_WEB_DIR when set, else the installed data folder
 * (FACETD_WEB_DIR, set by meson), else the source tree's web/ (a build that was not installed).
 * Files are read per request (a few KB; the page is loaded once), so an upgrade needs no
 * restart. Only names of the form [A-Za-z0-9_-]+.(html|css|js|svg|png) are served: the
 * route's parameter already excludes '/', '.' and '..', and the name check leaves no way out
 * of the folder.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server.h"

#define WEB_FILE_MAX (2 * 1024 * 1024)

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
};

static const char *web_dir(void)
{
    const char *env = getenv("FACET_WEB_DIR");
    if (env && env[0]) return env;
    struct stat st;
#ifdef FACETD_WEB_DIR
    if (stat(FACETD_WEB_DIR "/index.html", &st) == 0) return FACETD_WEB_DIR;
#endif
#ifdef FACETD_SOURCE_WEB_DIR
    if (stat(FACETD_SOURCE_WEB_DIR "/index.html", &st) == 0) return FACETD_SOURCE_WEB_DIR;
#endif
    return "web";
}

/* The content type for a servable name, or NULL. */
static const char *servable(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return NULL;
    for (const char *p = name; p < dot; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-'))
            return NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext)) return types[i].type;
    return NULL;
}

static void send_file(srv_resp *out, const char *name)
{
    const char *type = servable(name);
    if (!type) {
        srv_error(out, 404, "not_found", "no such file");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", web_dir(), name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        srv_error(out, 404, "not_found", "no such file: %s", name);
        return;
    }
    char *buf = malloc(WEB_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, WEB_FILE_MAX + 1, f) : 0;
    int bad = !buf || ferror(f) || n > WEB_FILE_MAX;
    fclose(f);
    if (bad) {
        free(buf);
        srv_error(out, 500, "internal", "cannot read %s", name);
        return;
    }
    srv_text(out, 200, type, buf, n);
}

static void h_index(srv *s, srv_req *r, srv_resp *out)
{
    (void)s;
    (void)r;
    send_file(out, "index.html");
}

static void h_file(srv *s, srv_req *r, srv_resp *out)
{
    (void)s;
    send_file(out, srv_param(r, "file"));
}

/* GET /v1/collections/{name}/faces?identity=&offset=&limit= */
static void h_faces(srv *s, srv_req *r, srv_resp *out)
{
    const char *coll = srv_param(r, "name"), *identity = srv_arg_str(r, "identity");
    long offset = 0, limit = 0;
    /* a key bound to another collection was refused at admission (server.c: the {name} check) */
    if (srv_arg_int(r, "offset", 0, 0, 1L << 40, &offset, out) ||
        srv_arg_int(r, "limit", 100, 1, 1000, &limit, out))
        return;
    facet_face_ref *refs = NULL;
    size_t n = 0, total = 0;
    int rc = facet_gallery_faces(srv_gallery(s), coll, identity && identity[0] ? identity : NULL, (size_t)offset,
                                 (size_t)limit, &refs, &n, &total);
    if (rc) {
        srv_facet_error(s, out, rc, "faces");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s}", "uuid", refs[i].uuid, "identity", refs[i].identity));
    facet_free(refs);
    srv_json(out, 200, json_pack("{s:o,s:I,s:I,s:I}", "faces", arr, "total", (json_int_t)total, "offset",
                                 (json_int_t)offset, "limit", (json_int_t)limit));
}

/* GET /v1/collections/{name}/faces/{uuid}/chip: the stored chip (PNG) or image (JPEG). */
static void h_chip(srv *s, srv_req *r, srv_resp *out)
{
    const char *coll = srv_param(r, "name"), *uuid = srv_param(r, "uuid");
    void *data = NULL;
    size_t size = 0;
    int rc = facet_gallery_payload(srv_gallery(s), coll, uuid, &data, &size);
    if (rc == FACET_E_NOT_FOUND || rc == FACET_E_INVALID_ARG) {
        srv_error(out, 404, "no_face", "collection '%s' has no faceprint '%s'", coll, uuid);
        return;
    }
    if (rc) {
        srv_facet_error(s, out, rc, "chip");
        return;
    }
    const uint8_t *p = data;
    const char *type = size >= 8 && !memcmp(p, "\x89PNG", 4) ? "image/png"
                       : size >= 3 && p[0] == 0xFF && p[1] == 0xD8 ? "image/jpeg"
                                                                  : NULL;
    if (!type) {
        facet_free(data);
        srv_error(out, 404, "no_chip", "faceprint '%s' has no stored image (the collection keeps no payloads)",
                  uuid);
        return;
    }
    /* the payload is the library's (facet_free); the response body must be malloc'd */
    char *body = malloc(size);
    if (!body) {
        facet_free(data);
        srv_error(out, 503, "no_memory", "out of memory");
        return;
    }
    memcpy(body, data, size);
    facet_free(data);
    srv_text(out, 200, type, body, size);
}

static const srv_route web_routes[] = {
    {"GET", "/", SRV_ROLE_NONE, SRV_INLINE, h_index},
    {"GET", "/ui/{file}", SRV_ROLE_NONE, SRV_INLINE, h_file},
    {"GET", "/v1/collections/{name}/faces", SRV_ROLE_RECOGNIZE, 0, h_faces},
    {"GET", "/v1/collections/{name}/faces/{uuid}/chip", SRV_ROLE_RECOGNIZE, 0, h_chip},
};

void srv_web_routes(srv *s)
{
    for (size_t i = 0; i < sizeof web_routes / sizeof web_routes[0]; i++) srv_route_add(s, &web_routes[i]);
}
