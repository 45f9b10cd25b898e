/*
 * server.c - facetd's life cycle and its HTTP front: libmicrohttpd I/O threads, the route
 * table, admission (route, auth, size, in-flight limit), a worker pool for the handlers, and
 * the graceful stop.
 *
 * Why a worker pool and suspended connections: libmicrohttpd's I/O threads multiplex many
 * connections each; running a 10-50 ms inference on one would stall every connection it
 * serves, and a thread per connection lets slow clients pin threads. So the I/O threads only
 * read and write, and a request whose body is complete is queued to `workers` threads (sized
 * to the cores: inference is CPU-bound, more threads only queue inside the CPU) while its
 * connection is suspended. The queue cannot grow without bound: admission counts every request
 * from its headers to its answer and refuses more than max_in_flight with 429, and a worker
 * that picks up a request whose deadline has passed answers 503 at once (load shedding
 * costs no inference).
 *
 * Stop (SIGTERM): quiesce the listening socket, answer 503 to requests that still arrive on
 * kept-alive connections, wait up to shutdown_timeout_s for the in-flight count to reach zero,
 * then stop the daemon. libmicrohttpd must not be stopped with suspended connections, so when
 * the wait runs out with work still running, srv_stop reports it and the caller exits without
 * tearing down.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "server.h"

#define MAX_ROUTES 96

typedef struct conn_ctx {
    srv_req req;
    char *uri;            /* raw request target, from the URI log callback */
    int route;            /* index in the table, -1 none */
    int state;            /* ST_* */
    int counted;          /* counted in in_flight (until its answer is queued) */
    int unfinished;       /* counted in s->unfinished (until libmicrohttpd is done with it) */
    int too_large;
    int early;            /* an answer was decided before the body: discard the body */
    int queued;           /* the answer is with libmicrohttpd */
    double body_start;
    uint8_t *body;
    size_t size, cap;
    srv_resp resp;
    struct MHD_Connection *conn;
    struct conn_ctx *next; /* worker queue */
} conn_ctx;

enum { ST_NEW, ST_BODY, ST_QUEUED, ST_DONE };

struct srv {
    srv_config cfg;
    facet_sdk *sdk;
    facet_gallery *gallery;
    char model_id[FACET_FACEPRINT_MODEL_MAX];
    srv_route routes[MAX_ROUTES];
    size_t n_routes;
    srv_metrics *metrics;
    srv_events *events;
    struct MHD_Daemon *d;
    atomic_int in_flight;  /* the limit: from headers until the answer is queued */
    atomic_int unfinished; /* what SIGTERM waits for: until the answer is written */
    atomic_int stopping;
    /* worker pool */
    struct worker *workers;
    int n_workers;
    pthread_mutex_t q_mu;
    conn_ctx *q_head, *q_tail;
    struct worker *idle; /* idle workers, the most recently idle first */
    int q_stop;
    /* log */
    pthread_mutex_t log_mu;
    FILE *log;
    char *tls_cert_pem, *tls_key_pem;
};

facet_sdk *srv_sdk(srv *s) { return s->sdk; }
facet_gallery *srv_gallery(srv *s) { return s->gallery; }
const srv_config *srv_cfg(const srv *s) { return &s->cfg; }
const char *srv_model_id(const srv *s) { return s->model_id; }
srv_metrics *srv_metrics_of(srv *s) { return s->metrics; }
srv_events *srv_events_of(srv *s) { return s->events; }
int srv_in_flight(const srv *s) { return atomic_load(&((srv *)s)->in_flight); }
size_t srv_route_count(const srv *s) { return s->n_routes; }
const srv_route *srv_route_at(const srv *s, size_t i) { return i < s->n_routes ? &s->routes[i] : NULL; }

int srv_route_add(srv *s, const srv_route *route)
{
    if (s->n_routes == MAX_ROUTES || !route->pattern || route->pattern[0] != '/' || !route->fn)
        return -1;
    s->routes[s->n_routes++] = *route;
    return 0;
}

/* ---- logging ----------------------------------------------------------------------------- */

void srv_log(srv *s, const char *level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    time_t t = time(NULL);
    struct tm tm;
    char ts[32];
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    pthread_mutex_lock(&s->log_mu);
    FILE *f = s->log ? s->log : stderr;
    fprintf(f, "%s facetd %s: %s\n", ts, level, line);
    fflush(f);
    pthread_mutex_unlock(&s->log_mu);
}

static void lib_log(void *user, facet_log_level level, const char *msg)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    srv_log(user, names[level < 0 || level > 3 ? 0 : level], "libfacet: %s", msg);
}

int srv_reopen_log(srv *s)
{
    if (!s->cfg.log_file[0]) return 0;
    FILE *f = fopen(s->cfg.log_file, "a");
    if (!f) return -1;
    pthread_mutex_lock(&s->log_mu);
    FILE *old = s->log;
    s->log = f;
    pthread_mutex_unlock(&s->log_mu);
    if (old) fclose(old);
    return 0;
}

/* ---- errors from the library --------------------------------------------------------------- */

void srv_facet_error(srv *s, srv_resp *out, int rc, const char *what)
{
    const char *msg = facet_last_error();
    if (!msg || !*msg) msg = facet_status_str(rc);
    switch (rc) {
    case FACET_E_INVALID_ARG: srv_error(out, 400, "invalid_argument", "%s: %s", what, msg); break;
    case FACET_E_FORMAT: srv_error(out, 400, "bad_input", "%s: %s", what, msg); break;
    case FACET_E_UNSUPPORTED: srv_error(out, 415, "unsupported", "%s: %s", what, msg); break;
    case FACET_E_MODEL: srv_error(out, 422, "model_mismatch", "%s: %s", what, msg); break;
    case FACET_E_NOT_FOUND: srv_error(out, 404, "not_found", "%s: %s", what, msg); break;
    case FACET_E_EXISTS: srv_error(out, 409, "exists", "%s: %s", what, msg); break;
    case FACET_E_LIMIT: srv_error(out, 413, "too_large", "%s: %s", what, msg); break;
    case FACET_E_STORE:
        srv_metrics_store_error(s->metrics);
        srv_error(out, 503, "store_unavailable", "%s: %s", what, msg);
        break;
    case FACET_E_NO_MEMORY: srv_error(out, 503, "no_memory", "%s: %s", what, msg); break;
    default:
        srv_log(s, "error", "%s: %s (%d)", what, msg, rc);
        srv_error(out, 500, "internal", "%s: %s", what, msg);
    }
}

int srv_deadline_passed(srv *s, const srv_req *r, srv_resp *out)
{
    (void)s;
    if (srv_now() <= r->deadline) return 0;
    srv_metrics_rejected(s->metrics, "deadline");
    srv_error(out, 503, "deadline", "the request waited or ran longer than the %d ms deadline",
              s->cfg.deadline_ms);
    return 1;
}

/* ---- worker pool ------------------------------------------------------------------------- */

static void run_handler(srv *s, conn_ctx *x)
{
    const srv_route *rt = &s->routes[x->route];
    x->req.body = x->body;
    x->req.body_size = x->size;
    if (!(rt->flags & SRV_INLINE) && srv_deadline_passed(s, &x->req, &x->resp)) return;
    if (!(rt->flags & SRV_RAW_BODY) && srv_body_parse(&x->req, &x->resp)) return;
    rt->fn(s, &x->req, &x->resp);
    if (!x->resp.status) srv_error(&x->resp, 500, "internal", "the handler gave no answer");
}

/* The pool wakes its workers last-in first-out: a request goes to the worker that went idle
 * most recently, whose core still has the network's weights and the scratch buffers in its
 * caches. Below saturation this keeps one warm worker doing the work instead of the
 * requests rotating over cold ones (a shared condition variable wakes any waiter). */
typedef struct worker {
    srv *s;
    pthread_t th;
    pthread_cond_t cv;
    int idle;            /* on the idle stack */
    struct worker *next; /* idle stack */
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    srv *s = w->s;
    pthread_mutex_lock(&s->q_mu);
    for (;;) {
        while (!s->q_head && !s->q_stop) {
            if (!w->idle) {
                w->idle = 1;
                w->next = s->idle;
                s->idle = w;
            }
            pthread_cond_wait(&w->cv, &s->q_mu);
        }
        if (w->idle) { /* woken by the stop or spuriously, still on the stack: leave it */
            worker **p = &s->idle;
            while (*p != w) p = &(*p)->next;
            *p = w->next;
            w->idle = 0;
        }
        conn_ctx *x = s->q_head;
        if (!x) break;
        s->q_head = x->next;
        if (!s->q_head) s->q_tail = NULL;
        pthread_mutex_unlock(&s->q_mu);
        run_handler(s, x);
        x->state = ST_DONE;
        /* after this the I/O thread owns x again and may free it */
        MHD_resume_connection(x->conn);
        pthread_mutex_lock(&s->q_mu);
    }
    pthread_mutex_unlock(&s->q_mu);
    return NULL;
}

static void enqueue(srv *s, conn_ctx *x)
{
    pthread_mutex_lock(&s->q_mu);
    x->next = NULL;
    if (s->q_tail) s->q_tail->next = x;
    else s->q_head = x;
    s->q_tail = x;
    worker *w = s->idle;
    if (w) {
        s->idle = w->next;
        w->idle = 0;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&s->q_mu);
}

/* ---- libmicrohttpd callbacks ------------------------------------------------------------- */

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    conn_ctx *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->uri = strdup(uri ? uri : "");
    x->route = -1;
    x->conn = c;
    return x;
}

static enum MHD_Result send_resp(srv *s, conn_ctx *x)
{
    srv_resp *r = &x->resp;
    struct MHD_Response *m;
    if (r->stream) {
        m = srv_stream_response(r->stream, x->conn);
        r->stream = NULL; /* now the response's */
    } else {
        m = MHD_create_response_from_buffer(r->body_size, r->body, MHD_RESPMEM_MUST_FREE);
        if (m) r->body = NULL; /* now MHD's */
    }
    if (!m) return MHD_NO;
    MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after);
        MHD_add_response_header(m, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (r->status == 401) MHD_add_response_header(m, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (x->early) MHD_add_response_header(m, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(x->conn, (unsigned)r->status, m);
    MHD_destroy_response(m);
    x->state = ST_DONE;
    x->queued = 1;
    /* a queued answer costs no worker: the slot is free before the client can read it, so a
     * client that sends its next request on reading an answer is never refused for it */
    if (x->counted) {
        atomic_fetch_sub(&s->in_flight, 1);
        x->counted = 0;
    }
    return ok;
}

/* Decides a request from its headers: route, auth, declared size, limits. 0 to go on reading
 * the body; 1 when x->resp holds the answer. */
static int admit(srv *s, conn_ctx *x, const char *method)
{
    srv_req *r = &x->req;
    srv_resp *out = &x->resp;
    r->t_start = srv_now();
    r->deadline = r->t_start + s->cfg.deadline_ms / 1000.0;
    r->method = method;
    char *q = strchr(x->uri, '?');
    if (q) *q++ = 0;
    r->path = x->uri;
    const char *ct = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    r->content_type = ct ? ct : "";
    const char *ac = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    r->accept = ac ? ac : "";
    const char *le = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Last-Event-ID");
    r->last_event_id = le ? le : "";
    r->api_key = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "x-api-key");
    int status = 404;
    x->route = srv_route_match(s, method, r->path, r, &status);
    if (x->route < 0) {
        if (status == 405) srv_error(out, 405, "method_not_allowed", "%s is not allowed on %s", method, r->path);
        else if (status == 400) srv_error(out, 400, "bad_path", "a path parameter is not valid (escapes, '/', '.', '..' or control characters)");
        else srv_error(out, 404, "no_route", "no route %s %s", method, r->path);
        return 1;
    }
    const srv_route *rt = &s->routes[x->route];
    if (srv_query_parse(q, r)) {
        srv_error(out, 400, "bad_query", "malformed query string (bad escape or more than 32 pairs)");
        return 1;
    }
    if (atomic_load(&s->stopping) && !(rt->flags & SRV_INLINE)) {
        srv_error(out, 503, "stopping", "the server is stopping");
        return 1;
    }
    if (rt->role != SRV_ROLE_NONE) {
        const char *auth = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        int st = srv_auth_check(s, auth, &r->role, r->key_collection);
        if (st == 401) {
            srv_error(out, 401, "unauthorized", "a valid key is required: Authorization: Bearer KEY");
            return 1;
        }
        if (st) {
            srv_error(out, st, "auth_unavailable", "the key store cannot be read now");
            return 1;
        }
        const char *coll = srv_param(r, "name");
        if (r->role < rt->role) {
            srv_error(out, 403, "forbidden", "this route needs the %s role; the key has %s",
                      srv_role_name(rt->role), srv_role_name(r->role));
            return 1;
        }
        if (r->key_collection[0] && coll && strcmp(coll, r->key_collection)) {
            srv_error(out, 403, "forbidden", "this key may only use collection '%s'", r->key_collection);
            return 1;
        }
        if (r->key_collection[0] && strncmp(r->path, "/v1/collections/", 16) &&
            rt->role >= SRV_ROLE_ADMIN) {
            srv_error(out, 403, "forbidden", "a key bound to one collection cannot manage the server");
            return 1;
        }
    }
    const char *cl = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || *end || n > (unsigned long long)s->cfg.max_body) {
            srv_metrics_rejected(s->metrics, "body_size");
            srv_error(out, 413, "too_large", "the body is larger than %lld bytes", s->cfg.max_body);
            return 1;
        }
    }
    if (!(rt->flags & SRV_INLINE)) {
        if (atomic_fetch_add(&s->in_flight, 1) >= s->cfg.max_in_flight) {
            atomic_fetch_sub(&s->in_flight, 1);
            srv_metrics_rejected(s->metrics, "in_flight");
            srv_error(out, 429, "too_many_requests", "more than %d requests in flight", s->cfg.max_in_flight);
            out->retry_after = 1;
            return 1;
        }
        x->counted = 1;
        x->unfinished = 1;
        atomic_fetch_add(&s->unfinished, 1);
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)version;
    srv *s = cls;
    conn_ctx *x = *con_cls;
    if (!x) return MHD_NO; /* the URI callback ran out of memory */
    x->conn = c;
    switch (x->state) {
    case ST_NEW:
        x->state = ST_BODY;
        x->body_start = srv_now();
        if (admit(s, x, method)) {
            x->early = 1;
            return send_resp(s, x);
        }
        return MHD_YES;
    case ST_BODY:
        if (*upload_size) {
            size_t n = *upload_size;
            *upload_size = 0;
            if (srv_now() - x->body_start > s->cfg.body_timeout_s) {
                srv_metrics_rejected(s->metrics, "body_timeout");
                srv_log(s, "warn", "dropping a client that took over %d s to send its body",
                        s->cfg.body_timeout_s);
                return MHD_NO;
            }
            if (x->too_large) return MHD_YES;
            if (x->size + n > (size_t)s->cfg.max_body) {
                x->too_large = 1;
                return MHD_YES;
            }
            if (x->size + n > x->cap) {
                size_t cap = x->cap ? x->cap : 65536;
                while (cap < x->size + n) cap *= 2;
                uint8_t *nb = realloc(x->body, cap);
                if (!nb) return MHD_NO;
                x->body = nb;
                x->cap = cap;
            }
            memcpy(x->body + x->size, upload_data, n);
            x->size += n;
            return MHD_YES;
        }
        if (x->too_large) {
            srv_metrics_rejected(s->metrics, "body_size");
            srv_error(&x->resp, 413, "too_large", "the body is larger than %lld bytes", s->cfg.max_body);
            return send_resp(s, x);
        }
        if (s->routes[x->route].flags & SRV_INLINE) {
            run_handler(s, x);
            return send_resp(s, x);
        }
        x->state = ST_QUEUED;
        MHD_suspend_connection(c);
        enqueue(s, x);
        return MHD_YES;
    case ST_DONE:
        if (!x->queued) return send_resp(s, x);
        *upload_size = 0; /* the rest of a body refused early */
        return MHD_YES;
    default:
        return MHD_YES;
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    srv *s = cls;
    conn_ctx *x = *con_cls;
    if (!x) return;
    double dt = srv_now() - (x->req.t_start > 0 ? x->req.t_start : srv_now());
    if (x->resp.status) srv_metrics_observe(s->metrics, x->route, x->resp.status, dt);
    if (s->cfg.access_log && x->req.method)
        srv_log(s, "info", "%s %s %d %.1f ms%s", x->req.method, x->req.path, x->resp.status, dt * 1000,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection lost)");
    if (x->counted) atomic_fetch_sub(&s->in_flight, 1);
    if (x->unfinished) atomic_fetch_sub(&s->unfinished, 1);
    srv_req_free(&x->req);
    srv_resp_free(&x->resp);
    free(x->body);
    free(x->uri);
    free(x);
    *con_cls = NULL;
}

/* ---- life cycle ------------------------------------------------------------------------- */

static char *read_text_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 24)) break;
            char *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        size_t k = fread(buf + n, 1, 4096, f);
        n += k;
        if (k < 4096) break;
    }
    int bad = ferror(f) || !buf || !feof(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "%s: cannot read it (or larger than 16 MiB)", path);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

int srv_create(const srv_config *cfg, int sdk_and_store, srv **out, char *err, size_t errlen)
{
    *out = NULL;
    srv *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->cfg = *cfg;
    pthread_mutex_init(&s->log_mu, NULL);
    pthread_mutex_init(&s->q_mu, NULL);
    s->metrics = srv_metrics_create();
    s->events = srv_events_create();
    if (!s->metrics || !s->events) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    srv_api_routes(s);
    srv_events_routes(s);
    srv_web_routes(s);
    srv_compreface_routes(s);
    if (!sdk_and_store) {
        *out = s;
        return 0;
    }
    if (cfg->log_file[0]) {
        s->log = fopen(cfg->log_file, "a");
        if (!s->log) {
            snprintf(err, errlen, "log file %s: %s", cfg->log_file, strerror(errno));
            goto fail;
        }
    }
    facet_set_log(lib_log, s, FACET_LOG_INFO);
    facet_sdk_settings ss;
    facet_sdk_defaults(&ss);
    if (cfg->model_dir[0]) ss.model_dir = cfg->model_dir;
    ss.num_threads = cfg->threads_per_request;
    ss.max_pixels = cfg->max_pixels;
    ss.preload = cfg->preload ? FACET_MODULE_ALL : FACET_MODULE_DETECT | FACET_MODULE_LANDMARK | FACET_MODULE_FEATURE;
    int rc = facet_sdk_create(&ss, &s->sdk);
    if (rc) {
        snprintf(err, errlen, "models: %s", facet_last_error());
        goto fail;
    }
    if ((rc = facet_sdk_faceprint_model(s->sdk, s->model_id))) {
        snprintf(err, errlen, "faceprint model: %s", facet_last_error());
        goto fail;
    }
    facet_gallery_settings gs;
    facet_gallery_defaults(&gs);
    facet_match_model(&gs.match_a, &gs.match_b);
    gs.follow = cfg->follow;
    gs.follow_interval_ms = cfg->follow_interval_ms;
    if ((rc = facet_gallery_open(cfg->db, &gs, &s->gallery))) {
        snprintf(err, errlen, "store: %s", facet_last_error());
        goto fail;
    }
    facet_collection_info *colls = NULL;
    size_t nc = 0;
    if ((rc = facet_collection_list(s->gallery, &colls, &nc))) {
        snprintf(err, errlen, "store: %s", facet_last_error());
        goto fail;
    }
    for (size_t i = 0; i < nc; i++) {
        facet_load_stats st;
        if ((rc = facet_collection_load(s->gallery, colls[i].name, &st))) {
            srv_log(s, "warn", "collection %s not loaded: %s", colls[i].name, facet_last_error());
            continue;
        }
        size_t bad = st.bad_length + st.bad_model + st.bad_value + st.bad_other;
        srv_log(s, bad ? "warn" : "info", "collection %s: %zu faceprints loaded in %.0f ms%s",
                colls[i].name, st.loaded, st.ms, bad ? " (corrupt rows skipped)" : "");
    }
    facet_free(colls);
    if (cfg->tls_cert[0] || cfg->tls_key[0]) {
        if (!cfg->tls_cert[0] || !cfg->tls_key[0]) {
            snprintf(err, errlen, "TLS needs both --tls-cert and --tls-key");
            goto fail;
        }
        if (!(s->tls_cert_pem = read_text_file(cfg->tls_cert, err, errlen))) goto fail;
        if (!(s->tls_key_pem = read_text_file(cfg->tls_key, err, errlen))) goto fail;
    }
    *out = s;
    return 0;
fail:
    srv_destroy(s);
    return -1;
}

static int resolve_listen(const char *listen, struct sockaddr_storage *sa, socklen_t *len, char *err,
                          size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1]) {
        snprintf(err, errlen, "--listen %s: expected HOST:PORT", listen);
        return -1;
    }
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host) hl = sizeof host - 1;
    memcpy(host, listen, hl);
    host[hl] = 0;
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') { /* [::1]:8080 */
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        snprintf(err, errlen, "--listen %s: bad port", listen);
        return -1;
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int e = getaddrinfo(host, colon + 1, &hints, &ai);
    if (e || !ai) {
        snprintf(err, errlen, "--listen %s: %s", listen, gai_strerror(e));
        return -1;
    }
    memcpy(sa, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int srv_start(srv *s, int *port, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    if (resolve_listen(s->cfg.listen, &sa, &salen, err, errlen)) return -1;
    s->n_workers = s->cfg.workers > 0 ? s->cfg.workers : facet_cpu_count();
    if (s->n_workers < 1) s->n_workers = 1;
    s->workers = calloc((size_t)s->n_workers, sizeof *s->workers);
    if (!s->workers) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < s->n_workers; i++) {
        worker *w = &s->workers[i];
        w->s = s;
        pthread_cond_init(&w->cv, NULL);
        if (pthread_create(&w->th, NULL, worker_main, w)) {
            pthread_cond_destroy(&w->cv);
            s->n_workers = i;
            snprintf(err, errlen, "cannot start worker threads");
            return -1;
        }
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (sa.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    if (s->tls_cert_pem) flags |= MHD_USE_TLS;
    int io = s->cfg.io_threads > 0 ? s->cfg.io_threads : 2;
    unsigned conn_limit = (unsigned)s->cfg.max_in_flight * 2 + 64;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)io, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)s->cfg.header_timeout_s, MHD_OPTION_CONNECTION_LIMIT, conn_limit,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_ARRAY,
        s->tls_cert_pem ? tls_opts : no_opts, MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s (in use, not a local address, or TLS files "
                 "not valid PEM)", s->cfg.listen);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    if (port) *port = di ? di->port : 0;
    if (srv_events_start(s->events)) {
        snprintf(err, errlen, "cannot start the event heartbeat thread");
        return -1;
    }
    return 0;
}

int srv_stop(srv *s)
{
    if (!s->d) return 0;
    atomic_store(&s->stopping, 1);
    MHD_socket ls = MHD_quiesce_daemon(s->d);
    if (ls != MHD_INVALID_SOCKET) close(ls);
    double until = srv_now() + s->cfg.shutdown_timeout_s;
    while (atomic_load(&s->unfinished) > 0 && srv_now() < until) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int left = atomic_load(&s->unfinished);
    if (left > 0) return left;
    /* event streams are not in flight (they last as long as a page is open): end them */
    srv_events_shutdown(s->events);
    MHD_stop_daemon(s->d);
    s->d = NULL;
    return 0;
}

void srv_destroy(srv *s)
{
    if (!s) return;
    srv_events_shutdown(s->events);
    if (s->d) MHD_stop_daemon(s->d);
    if (s->workers) {
        pthread_mutex_lock(&s->q_mu);
        s->q_stop = 1;
        for (int i = 0; i < s->n_workers; i++) pthread_cond_signal(&s->workers[i].cv);
        pthread_mutex_unlock(&s->q_mu);
        for (int i = 0; i < s->n_workers; i++) {
            pthread_join(s->workers[i].th, NULL);
            pthread_cond_destroy(&s->workers[i].cv);
        }
        free(s->workers);
    }
    facet_set_log(NULL, NULL, FACET_LOG_ERROR);
    facet_gallery_destroy(s->gallery);
    facet_sdk_destroy(s->sdk);
    srv_metrics_destroy(s->metrics);
    srv_events_destroy(s->events);
    free(s->tls_cert_pem);
    free(s->tls_key_pem);
    if (s->log) fclose(s->log);
    pthread_mutex_destroy(&s->log_mu);
    pthread_mutex_destroy(&s->q_mu);
    free(s);
}
