/*
 * server.h - facetd's internal interface (private to src/server and tools/facetd.c): the
 * route table, the request and response helpers every handler file shares, and the server's
 * life cycle. The server uses only libfacet's public API (include/facet).
 *
 * How a request flows (http.c): libmicrohttpd's I/O threads read the headers, find the route
 * in the table (404/405), check the key's role (401/403), the declared body size (413) and the
 * in-flight limit (429), then read the body (bounded by max_body and body_timeout). Cheap
 * routes (SRV_INLINE: health, metrics) are answered on the I/O thread; the others are queued
 * to a pool of worker threads sized to the cores while the connection is suspended, so a slow
 * client or a long inference never holds an I/O thread. A worker first checks the request's
 * deadline (503 + Retry-After when it waited too long), parses the body once into srv_body
 * and calls the handler, which fills a srv_resp.
 *
 * Adding routes from another file (e.g. compreface.c): write handlers with the srv_handler
 * signature and call srv_route_add() for each from a registration function that srv_create()
 * calls (see srv_api_routes in api.c). Patterns are literal segments and {param} segments;
 * a {param} matches one non-empty percent-decoded segment without '/', '.' or '..'.
 */
#ifndef FACET_SERVER_H
#define FACET_SERVER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "facet/facet.h"

/* ---- roles ---------------------------------------------------------------------------- */

/* Roles are ordered: each includes the ones below it (an admin may enrol, an enrol key may
 * recognize). SRV_ROLE_NONE marks a public route. */
typedef enum srv_role {
    SRV_ROLE_NONE = 0,
    SRV_ROLE_RECOGNIZE = 1, /* detect, faceprints, compare, identify, recognize, read stats */
    SRV_ROLE_ENROL = 2,     /* + enrol and remove faces and identities */
    SRV_ROLE_ADMIN = 3,     /* + collections, keys */
} srv_role;

const char *srv_role_name(srv_role r);
/* 0 and *out set for "admin", "enrol" (or "enroll"), "recognize"; -1 otherwise. */
int srv_role_parse(const char *s, srv_role *out);

/* ---- settings ------------------------------------------------------------------------- */

typedef struct srv_config {
    char listen[256];         /* HOST:PORT */
    char db[1024];            /* store URL (secret: may hold a password) */
    char admin_key[256];      /* secret */
    char admin_key_file[1024];
    char model_dir[1024];     /* "" = FACET_MODEL_PATH or models/ */
    char log_file[1024];      /* "" = stderr */
    char tls_cert[1024];      /* both set: HTTPS */
    char tls_key[1024];
    int workers;              /* inference threads; 0 = cores */
    int io_threads;           /* libmicrohttpd threads; 0 = 2 */
    int threads_per_request;  /* SDK threads per inference (default 1: requests run in parallel) */
    long long max_body;       /* bytes */
    long long max_pixels;     /* decoded image pixels */
    int max_faces;            /* faces per image */
    int max_in_flight;        /* requests being read, queued or processed */
    int deadline_ms;          /* per request, from its headers to its answer */
    int header_timeout_s;     /* idle connection / headers */
    int body_timeout_s;       /* whole body upload */
    int shutdown_timeout_s;   /* SIGTERM: wait this long for requests in flight */
    int key_cache_s;          /* how long a key lookup is trusted (revocation delay) */
    int access_log;           /* log one line per request */
    int preload;              /* load every model at start (1) or lazily (0) */
    int follow;               /* 1: apply other nodes' changes (facet_gallery_settings.follow) */
    int follow_interval_ms;   /* its catch-up period without a notification */
    int test_recognize_delay_ms; /* TESTS ONLY: recognize holds its worker this much longer, as a
                                    slower recogniser would (bench/watch's slowdown table) */
} srv_config;

void srv_config_defaults(srv_config *c);

/* ---- requests and responses ------------------------------------------------------------ */

#define SRV_MAX_PARAMS 4
#define SRV_MAX_PARTS 8

typedef struct srv_kv {
    char *key, *value; /* percent-decoded, NUL-terminated; value may contain any byte but NUL */
} srv_kv;

/* One named input of a request body: a raw image body is the part "image", a multipart form
 * field is a part, a JSON body's base64 "image*" strings are decoded into parts and its
 * "faceprint*" objects become parts holding their JSON text. */
typedef struct srv_part {
    char name[64];
    char content_type[128];
    const uint8_t *data; /* into the request body or `owned` */
    size_t size;
    uint8_t *owned;      /* decoded base64 / serialised JSON / form field text, freed with the body */
    int is_json;
    int is_text;         /* a multipart form field other than image* and faceprint*: `owned`
                            is its NUL-terminated text */
} srv_part;

typedef struct srv_body {
    json_t *json; /* the JSON object body, or NULL */
    srv_part parts[SRV_MAX_PARTS];
    int n_parts;
} srv_body;

typedef struct srv srv;

typedef struct srv_req {
    const char *method;
    const char *path;         /* as received, without the query */
    srv_kv params[SRV_MAX_PARAMS]; /* {param} values of the matched pattern */
    int n_params;
    srv_kv *query;            /* decoded query pairs */
    int n_query;
    const char *content_type; /* "" when absent */
    const char *accept;       /* the Accept header, "" when absent */
    const char *last_event_id; /* the Last-Event-ID header (event streams), "" when absent */
    const char *api_key;      /* the x-api-key header (CompreFace clients' key), NULL when absent */
    const uint8_t *body;
    size_t body_size;
    srv_body parsed;
    srv_role role;            /* of the caller's key */
    char key_collection[FACET_NAME_MAX + 1]; /* "" or the one collection the key may use */
    double t_start;           /* monotonic seconds when the headers arrived */
    double deadline;          /* monotonic seconds */
} srv_req;

/* A streamed answer (server-sent events, events.c): opaque to the rest of the server. */
typedef struct srv_stream srv_stream;

typedef struct srv_resp {
    int status;
    char *body;               /* malloc'd */
    size_t body_size;
    const char *content_type; /* static string */
    int retry_after;          /* seconds; 0: no header */
    srv_stream *stream;       /* set: the body is this stream, not `body` (events.c) */
} srv_resp;

typedef void (*srv_handler)(srv *s, srv_req *r, srv_resp *out);

enum {
    SRV_INLINE = 1 << 0,  /* cheap: answer on the I/O thread, not counted as in flight */
    SRV_RAW_BODY = 1 << 1 /* the handler reads r->body itself (no srv_body parsing) */
};

typedef struct srv_route {
    const char *method;   /* "GET", "POST", "DELETE", ... */
    const char *pattern;  /* "/v1/collections/{name}/faces" */
    srv_role role;
    unsigned flags;
    srv_handler fn;
} srv_route;

/* Adds a route (pointer kept: pass static storage). 0, or -1 when the table is full or the
 * pattern is malformed. Only before srv_start. */
int srv_route_add(srv *s, const srv_route *route);

/* The route table, for `facetd --routes` and the OpenAPI check. */
size_t srv_route_count(const srv *s);
const srv_route *srv_route_at(const srv *s, size_t i);

/* Routing alone (also used by the fuzzer): the index of the route for method + path, with its
 * parameters decoded into r->params; -1 and *status 404 (no such path) or 405 (path exists,
 * not the method) or 400 (a bad percent escape or a forbidden parameter). Free the params with
 * srv_req_free. */
int srv_route_match(const srv *s, const char *method, const char *path, srv_req *r, int *status);

/* Query string "a=1&b=x%20y" into r->query (decoded; '+' is a space). 0 or -1 (bad escape,
 * too many pairs). */
int srv_query_parse(const char *query, srv_req *r);
const char *srv_query(const srv_req *r, const char *key);
const char *srv_param(const srv_req *r, const char *key);
void srv_req_free(srv_req *r);

/* Parses r->body by r->content_type into r->parsed: application/json (an object),
 * multipart/form-data, image/jpeg or image/png (the part "image"), empty. On error fills
 * `out` (400 malformed, 415 other media types) and returns -1. */
int srv_body_parse(srv_req *r, srv_resp *out);
void srv_body_free(srv_body *b);
const srv_part *srv_body_part(const srv_req *r, const char *name);

/* Standard base64 (padding optional, no whitespace inside); -1 on any bad character.
 * *out is malloc'd. */
int srv_base64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len);
/* Standard base64 with padding, NUL-terminated (malloc'd); NULL when out of memory. */
/* 1 when s[0..n) is valid UTF-8 without control characters. */
int srv_utf8_ok(const char *s, size_t n);

/* Parameters read from the query string, else a multipart form field, else the JSON body. Each returns 0 with *out
 * set (default when absent) or -1 after filling `out` with a 400 naming the parameter. */
int srv_arg_int(srv_req *r, const char *name, long def, long lo, long hi, long *v, srv_resp *out);
int srv_arg_float(srv_req *r, const char *name, double def, double lo, double hi, double *v,
                  srv_resp *out);
int srv_arg_bool(srv_req *r, const char *name, int def, int *v, srv_resp *out);
/* A string argument (query, form field, else JSON string); NULL when absent. */
const char *srv_arg_str(srv_req *r, const char *name);

/* Responses. srv_error formats {"error": {"code": CODE, "message": ...}}. */
void srv_error(srv_resp *out, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Takes the reference to `j`. */
void srv_json(srv_resp *out, int status, json_t *j);
void srv_text(srv_resp *out, int status, const char *content_type, char *body, size_t size);
/* Maps a libfacet status to an HTTP error reply with the message of facet_last_error(). */
void srv_facet_error(srv *s, srv_resp *out, int rc, const char *what);
void srv_resp_free(srv_resp *r);

/* Monotonic seconds. */
double srv_now(void);
/* 1 and a 503 in `out` when the request's deadline has passed. */
int srv_deadline_passed(srv *s, const srv_req *r, srv_resp *out);

/* ---- images and faceprints from requests (api.c) --------------------------------------- */

typedef struct srv_input {
    facet_image *img; /* decoded image, or NULL */
    int has_fp;
    facet_faceprint fp;
} srv_input;

/* The input named `name` ("image" or "faceprint" by default, or e.g. "a" / "b": parts
 * "image_a", "faceprint_a"): a decoded image (bounded by max_pixels) or a checked faceprint
 * of this server's model. -1 with the error in `out`. */
int srv_input_get(srv *s, srv_req *r, const char *suffix, srv_input *in, srv_resp *out);
void srv_input_free(srv_input *in);

/* ---- the server ------------------------------------------------------------------------ */

/* Access for handlers: the shared SDK and gallery, the configuration, the faceprint model. */
facet_sdk *srv_sdk(srv *s);
facet_gallery *srv_gallery(srv *s);
const srv_config *srv_cfg(const srv *s);
const char *srv_model_id(const srv *s);

/* Logging to the log file (or stderr), one line each, thread safe. */
void srv_log(srv *s, const char *level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Creates the server: SDK, gallery (collections loaded), the route table. No socket yet.
 * `sdk_and_store` 0 builds only the route table (the fuzzer). On failure *out is NULL and
 * `err` says why. */
int srv_create(const srv_config *cfg, int sdk_and_store, srv **out, char *err, size_t errlen);
/* Binds and starts serving. 0 or -1 with `err`. The bound port in *port (may be NULL). */
int srv_start(srv *s, int *port, char *err, size_t errlen);
/* Stops accepting, waits up to cfg->shutdown_timeout_s for requests in flight, stops.
 * Returns the number of requests still in flight when it gave up (0: clean). */
int srv_stop(srv *s);
void srv_destroy(srv *s);
/* Reopens the log file (SIGHUP). */
int srv_reopen_log(srv *s);

/* Route registration functions, one per file that has routes. */
void srv_api_routes(srv *s);
void srv_events_routes(srv *s);
void srv_web_routes(srv *s);

/* Live events (events.c): the hub every feed posts to and every dashboard follows. */
typedef struct srv_events srv_events;
srv_events *srv_events_create(void);
int srv_events_start(srv_events *h);
/* Ends every event stream (before the daemon stops: no connection may stay suspended). */
void srv_events_shutdown(srv_events *h);
void srv_events_destroy(srv_events *h);
srv_events *srv_events_of(srv *s);
/* The libmicrohttpd response (struct MHD_Response *) for a stream on connection `conn`
 * (struct MHD_Connection *); takes `st` in every case; NULL when out of memory. */
void *srv_stream_response(srv_stream *st, void *conn);
void srv_stream_free(srv_stream *st);
void srv_compreface_routes(srv *s); /* compreface.c: CompreFace's REST API under /api/v1/ */
/* compreface.c: loads a recognition key's collection, creating it first when the store has
 * none (this server's model, keeping each example's original image for CompreFace's image
 * downloads); *created (may be NULL) gets 1 when this call made it. Idempotent, also when
 * another node creates it at the same moment. A facet_status; facet_last_error() says why. */
int srv_cf_collection_ensure(srv *s, const char *name, int *created);

/* Metrics (metrics.c). */
typedef struct srv_metrics srv_metrics;
srv_metrics *srv_metrics_create(void);
void srv_metrics_destroy(srv_metrics *m);
/* route -1: no route matched. */
void srv_metrics_observe(srv_metrics *m, int route, int status, double seconds);
void srv_metrics_rejected(srv_metrics *m, const char *reason);
void srv_metrics_store_error(srv_metrics *m);
/* The Prometheus text exposition of everything (malloc'd). */
char *srv_metrics_render(srv *s, srv_metrics *m, size_t *size);
srv_metrics *srv_metrics_of(srv *s);
int srv_in_flight(const srv *s);

/* Settings (config.c): flags > --config FILE > FACET_* environment > defaults. Returns 0, 1
 * when the program should exit successfully (--help, --version printed), or -1 with `err`.
 * *print_routes is 1 for --routes, 2 for --check-config. */
int srv_config_load(srv_config *c, int argc, char **argv, int *print_routes, char *err,
                    size_t errlen);
/* The settings in force as "name = value" lines, secrets masked (malloc'd). */
char *srv_config_describe(const srv_config *c);

/* Keys (auth.c). */
typedef struct srv_auth srv_auth;
/* Who is the caller: 0 with role and collection, or the HTTP status (401) to answer. */
int srv_auth_check(srv *s, const char *authorization, srv_role *role, char collection[FACET_NAME_MAX + 1]);
/* Drops every cached key lookup (after a revocation on this node). */
void srv_auth_forget(void);

#endif
