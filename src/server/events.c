/*
 * events.c - what the dashboard's Live page shows: the events that `facet watch` feeds post
 * (track_started, recognized, identity_changed, stranger, track_ended, and each feed's
 * figures), kept in a bounded ring and pushed to browsers as server-sent events; and the
 * review list of strangers' best chips, which one click enrols under a name or dismisses.
 *
 * Why a ring and not a store: events are a live view, not a record. The ring keeps the last
 * EV_RING events (their chips included, each bounded), so a page that connects late or loses
 * its connection catches up from `since` (or Last-Event-ID) without the server keeping an
 * unbounded history; the review list keeps at most REVIEW_MAX strangers, oldest dropped first.
 *
 * How streaming works with libmicrohttpd: a stream's content reader runs on an I/O thread and
 * may not block. When it has nothing to send it suspends its connection and returns 0 (the
 * one way libmicrohttpd allows in internal polling mode); a new event resumes every suspended
 * subscriber, and a heartbeat thread resumes them every HEARTBEAT_S so that each sends a
 * comment line (keeping proxies from closing the stream) and notices a client that went away.
 * Stop: srv_events_shutdown ends every stream before the daemon stops, since libmicrohttpd
 * must not be stopped with suspended connections.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "server.h"

#define EV_RING 512              /* events kept for late subscribers */
#define REVIEW_MAX 64            /* strangers waiting for a name */
#define CHIP_B64_MAX (256 * 1024) /* a chip_jpeg string longer than this is refused */
#define EVENT_JSON_MAX (300 * 1024)
#define FEEDS_MAX 64
#define HEARTBEAT_S 15
#define BATCH_MAX 256            /* events per POST */

typedef struct ev_item {
    long long seq;
    char *text; /* the event's JSON as sent to subscribers (with "seq" and "received_ms") */
} ev_item;

typedef struct review_item {
    long long id; /* the stranger event's seq */
    char *json;   /* that event, chip included */
    uint8_t *jpeg;
    size_t jpeg_size;
} review_item;

typedef struct feed_stat {
    char name[128];
    char *json; /* the feed's latest "metrics" event */
} feed_stat;

typedef struct sub sub;
struct sub {
    srv_events *hub;
    sub *next;
    struct MHD_Connection *conn;
    long long last_seq; /* sent up to here */
    char *pending;      /* bytes not yet written */
    size_t off, len;
    int suspended;
    int closed;         /* hub shut down: end the stream */
    double last_write;
};

struct srv_events {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ev_item ring[EV_RING];
    long long next_seq; /* seq of the next event (first is 1) */
    review_item review[REVIEW_MAX];
    int n_review;
    feed_stat feeds[FEEDS_MAX];
    int n_feeds;
    sub *subs;
    int n_subs;
    int shutting_down;
    pthread_t heartbeat;
    int heartbeat_started;
    long long posted, refused;
};

static const char *const kinds[] = {"track_started", "recognized", "identity_changed", "stranger",
                                    "track_ended", "metrics"};

/* ---- the hub -------------------------------------------------------------------------- */

static void resume_all_locked(srv_events *h)
{
    for (sub *u = h->subs; u; u = u->next)
        if (u->suspended) {
            u->suspended = 0;
            MHD_resume_connection(u->conn);
        }
}

static void *heartbeat_main(void *arg)
{
    srv_events *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->shutting_down) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += HEARTBEAT_S;
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        resume_all_locked(h);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

srv_events *srv_events_create(void)
{
    srv_events *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->next_seq = 1;
    return h;
}

int srv_events_start(srv_events *h)
{
    if (pthread_create(&h->heartbeat, NULL, heartbeat_main, h)) return -1;
    h->heartbeat_started = 1;
    return 0;
}

void srv_events_shutdown(srv_events *h)
{
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    h->shutting_down = 1;
    for (sub *u = h->subs; u; u = u->next) u->closed = 1;
    resume_all_locked(h);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (h->heartbeat_started) {
        pthread_join(h->heartbeat, NULL);
        h->heartbeat_started = 0;
    }
    /* each resumed stream now ends on its I/O thread; wait (bounded) until they have gone */
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&h->mu);
        int n = h->n_subs;
        resume_all_locked(h);
        pthread_mutex_unlock(&h->mu);
        if (!n) break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void srv_events_destroy(srv_events *h)
{
    if (!h) return;
    for (int i = 0; i < EV_RING; i++) free(h->ring[i].text);
    for (int i = 0; i < h->n_review; i++) {
        free(h->review[i].json);
        free(h->review[i].jpeg);
    }
    for (int i = 0; i < h->n_feeds; i++) free(h->feeds[i].json);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}

/* ---- streams -------------------------------------------------------------------------- */

/* The SSE frames of every event after u->last_seq still in the ring, or NULL (nothing). */
static char *frames_after_locked(srv_events *h, sub *u, size_t *len)
{
    long long first = h->next_seq - EV_RING > u->last_seq + 1 ? h->next_seq - EV_RING : u->last_seq + 1;
    size_t need = 0;
    for (long long q = first; q < h->next_seq; q++) need += strlen(h->ring[q % EV_RING].text) + 64;
    if (!need) return NULL;
    char *buf = malloc(need + 1);
    if (!buf) return NULL;
    size_t n = 0;
    for (long long q = first; q < h->next_seq; q++) {
        const ev_item *e = &h->ring[q % EV_RING];
        n += (size_t)snprintf(buf + n, need + 1 - n, "id: %lld\ndata: %s\n\n", e->seq, e->text);
    }
    u->last_seq = h->next_seq - 1;
    *len = n;
    return buf;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sub *u = cls;
    srv_events *h = u->hub;
    pthread_mutex_lock(&h->mu);
    if (u->off == u->len) {
        free(u->pending);
        u->pending = NULL;
        u->off = u->len = 0;
        if (u->closed) {
            pthread_mutex_unlock(&h->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        u->pending = frames_after_locked(h, u, &u->len);
        if (!u->pending && srv_now() - u->last_write >= HEARTBEAT_S - 1) {
            u->pending = strdup(": keep-alive\n\n");
            u->len = u->pending ? strlen(u->pending) : 0;
        }
        if (!u->pending) {
            /* nothing to send: sleep until an event, the heartbeat or the stop resumes us */
            u->suspended = 1;
            MHD_suspend_connection(u->conn);
            pthread_mutex_unlock(&h->mu);
            return 0;
        }
    }
    size_t n = u->len - u->off < max ? u->len - u->off : max;
    memcpy(buf, u->pending + u->off, n);
    u->off += n;
    u->last_write = srv_now();
    pthread_mutex_unlock(&h->mu);
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    sub *u = cls;
    srv_events *h = u->hub;
    pthread_mutex_lock(&h->mu);
    for (sub **p = &h->subs; *p; p = &(*p)->next)
        if (*p == u) {
            *p = u->next;
            h->n_subs--;
            break;
        }
    pthread_mutex_unlock(&h->mu);
    free(u->pending);
    free(u);
}

void *srv_stream_response(srv_stream *st, void *conn)
{
    sub *u = (sub *)st;
    u->conn = conn;
    srv_events *h = u->hub;
    pthread_mutex_lock(&h->mu);
    u->next = h->subs;
    h->subs = u;
    h->n_subs++;
    pthread_mutex_unlock(&h->mu);
    struct MHD_Response *m = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, u,
                                                              stream_free);
    if (!m) {
        stream_free(u);
        return NULL;
    }
    MHD_add_response_header(m, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(m, "X-Accel-Buffering", "no"); /* nginx: do not buffer the stream */
    return m;
}

void srv_stream_free(srv_stream *st)
{
    free(st);
}

/* ---- validation ----------------------------------------------------------------------- */

static int kind_ok(const char *k)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(k, kinds[i])) return 1;
    return 0;
}

/* A watch event as `facet watch` makes it (facet_watch_event_to_json) or a feed's figures.
 * 0, or -1 with the reason in `why`. */
static int event_check(json_t *e, char *why, size_t n)
{
    if (!json_is_object(e)) return snprintf(why, n, "an event is a JSON object"), -1;
    json_t *k = json_object_get(e, "event"), *f = json_object_get(e, "feed");
    if (!json_is_string(k) || !kind_ok(json_string_value(k)))
        return snprintf(why, n, "\"event\" must be one of track_started, recognized, identity_changed, "
                                "stranger, track_ended, metrics"), -1;
    if (!json_is_string(f) || json_string_length(f) == 0 || json_string_length(f) > 120 ||
        !srv_utf8_ok(json_string_value(f), json_string_length(f)))
        return snprintf(why, n, "\"feed\" must be a name of 1..120 printable characters"), -1;
    const char *key;
    json_t *v;
    json_object_foreach(e, key, v) {
        if (!strcmp(key, "event") || !strcmp(key, "feed")) continue;
        if (!strcmp(key, "identity") || !strcmp(key, "previous")) {
            if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > FACET_IDENTITY_MAX ||
                !srv_utf8_ok(json_string_value(v), json_string_length(v)))
                return snprintf(why, n, "\"%s\" must be an identity (1..%d printable characters)", key,
                                FACET_IDENTITY_MAX), -1;
        } else if (!strcmp(key, "chip_jpeg")) {
            if (!json_is_string(v) || json_string_length(v) > CHIP_B64_MAX)
                return snprintf(why, n, "\"chip_jpeg\" must be a base64 JPEG of at most %d characters",
                                CHIP_B64_MAX), -1;
        } else if (!strcmp(key, "box")) {
            if (!json_is_array(v) || json_array_size(v) != 4)
                return snprintf(why, n, "\"box\" must be [x, y, w, h]"), -1;
            for (size_t i = 0; i < 4; i++)
                if (!json_is_number(json_array_get(v, i)))
                    return snprintf(why, n, "\"box\" must hold four numbers"), -1;
        } else if (!json_is_number(v)) {
            /* every other member (track, wall_t, media_t, similarity, attempts, time_to_lock,
             * duration, quality, and a feed's fps, dps, dropped, ... figures) is a number */
            return snprintf(why, n, "\"%.60s\" must be a number", key), -1;
        } else if (!isfinite(json_number_value(v))) {
            return snprintf(why, n, "\"%.60s\" is not a finite number", key), -1;
        }
    }
    return 0;
}

/* ---- publishing ----------------------------------------------------------------------- */

static void review_drop_locked(srv_events *h, int i)
{
    free(h->review[i].json);
    free(h->review[i].jpeg);
    memmove(&h->review[i], &h->review[i + 1], (size_t)(h->n_review - i - 1) * sizeof h->review[0]);
    h->n_review--;
}

/* Publishes one checked event: seq and received_ms added, into the ring, the feed's figures or
 * the review list, and to every subscriber. 0 or -1 (out of memory). */
static int publish(srv_events *h, json_t *e)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const char *kind = json_string_value(json_object_get(e, "event"));
    const char *feed = json_string_value(json_object_get(e, "feed"));
    uint8_t *jpeg = NULL;
    size_t jpeg_size = 0;
    json_t *chip = json_object_get(e, "chip_jpeg");
    if (!strcmp(kind, "stranger") && chip &&
        srv_base64_decode(json_string_value(chip), json_string_length(chip), &jpeg, &jpeg_size))
        return 1; /* bad base64: refused by the caller */
    pthread_mutex_lock(&h->mu);
    long long seq = h->next_seq;
    json_object_set_new(e, "seq", json_integer(seq));
    /* milliseconds as an integer: JSON replies print reals with 7 digits */
    json_object_set_new(e, "received_ms", json_integer((json_int_t)now.tv_sec * 1000 + now.tv_nsec / 1000000));
    char *text = json_dumps(e, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!text || strlen(text) > EVENT_JSON_MAX) {
        pthread_mutex_unlock(&h->mu);
        free(text);
        free(jpeg);
        return text ? 1 : -1;
    }
    if (!strcmp(kind, "metrics")) {
        int i = 0;
        while (i < h->n_feeds && strcmp(h->feeds[i].name, feed)) i++;
        if (i == h->n_feeds && h->n_feeds == FEEDS_MAX) {
            /* the oldest feed makes room */
            free(h->feeds[0].json);
            memmove(&h->feeds[0], &h->feeds[1], (FEEDS_MAX - 1) * sizeof h->feeds[0]);
            i = --h->n_feeds;
        }
        if (i == h->n_feeds) {
            snprintf(h->feeds[i].name, sizeof h->feeds[i].name, "%s", feed);
            h->feeds[i].json = NULL;
            h->n_feeds++;
        }
        char *copy = strdup(text);
        if (copy) {
            free(h->feeds[i].json);
            h->feeds[i].json = copy;
        }
    }
    if (jpeg) {
        char *copy = strdup(text);
        if (copy) {
            if (h->n_review == REVIEW_MAX) review_drop_locked(h, 0);
            review_item *r = &h->review[h->n_review++];
            r->id = seq;
            r->json = copy;
            r->jpeg = jpeg;
            r->jpeg_size = jpeg_size;
            jpeg = NULL;
        }
    }
    free(jpeg);
    ev_item *slot = &h->ring[seq % EV_RING];
    free(slot->text);
    slot->seq = seq;
    slot->text = text;
    h->next_seq++;
    h->posted++;
    resume_all_locked(h);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

/* ---- routes --------------------------------------------------------------------------- */

static srv_events *hub(srv *s)
{
    return srv_events_of(s);
}

/* POST /v1/events: one event object, or {"events": [...]}; all are checked before any is
 * published, so a bad batch changes nothing. */
static void h_post(srv *s, srv_req *r, srv_resp *out)
{
    json_t *body = r->parsed.json;
    if (!body) {
        srv_error(out, 400, "bad_request", "send the event as a JSON body (application/json)");
        return;
    }
    json_t *list = json_object_get(body, "events");
    json_t *one = list ? NULL : body;
    size_t n = one ? 1 : json_is_array(list) ? json_array_size(list) : 0;
    if (!one && !json_is_array(list)) {
        srv_error(out, 400, "bad_request", "\"events\" must be an array");
        return;
    }
    if (n == 0 || n > BATCH_MAX) {
        srv_error(out, 400, "bad_request", "send 1..%d events, not %zu", BATCH_MAX, n);
        return;
    }
    char why[200];
    for (size_t i = 0; i < n; i++) {
        if (event_check(one ? one : json_array_get(list, i), why, sizeof why)) {
            srv_error(out, 400, "bad_event", "event %zu: %s", i, why);
            return;
        }
    }
    srv_events *h = hub(s);
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = publish(h, one ? one : json_array_get(list, i));
        if (rc) {
            pthread_mutex_lock(&h->mu);
            h->refused++;
            pthread_mutex_unlock(&h->mu);
            if (rc < 0) srv_error(out, 503, "no_memory", "out of memory after %zu of %zu events", done, n);
            else srv_error(out, 400, "bad_event", "event %zu: its chip_jpeg is not valid base64 or the event is "
                                                  "larger than %d bytes (%zu published before it)",
                           i, EVENT_JSON_MAX, done);
            return;
        }
        done++;
    }
    srv_json(out, 202, json_pack("{s:I}", "accepted", (json_int_t)done));
}

/* GET /v1/events: with Accept: text/event-stream (or ?stream=1) a stream of every event after
 * `since` (or Last-Event-ID) and all new ones; else the ring's events after `since` as JSON. */
static void h_get(srv *s, srv_req *r, srv_resp *out)
{
    long since = 0, stream = 0;
    if (srv_arg_int(r, "since", 0, 0, 1L << 62, &since, out)) return;
    int want_stream = 0;
    if (srv_arg_bool(r, "stream", 0, &want_stream, out)) return;
    stream = want_stream || (r->accept && strstr(r->accept, "text/event-stream"));
    if (r->last_event_id && r->last_event_id[0]) {
        char *end;
        long long v = strtoll(r->last_event_id, &end, 10);
        if (*end || v < 0) {
            srv_error(out, 400, "bad_request", "Last-Event-ID must be a non-negative integer");
            return;
        }
        since = (long)v;
    }
    srv_events *h = hub(s);
    if (stream) {
        sub *u = calloc(1, sizeof *u);
        if (!u) {
            srv_error(out, 503, "no_memory", "out of memory");
            return;
        }
        u->hub = h;
        u->last_seq = since;
        u->last_write = srv_now();
        pthread_mutex_lock(&h->mu);
        int down = h->shutting_down;
        pthread_mutex_unlock(&h->mu);
        if (down) {
            free(u);
            srv_error(out, 503, "stopping", "the server is stopping");
            out->retry_after = 1;
            return;
        }
        srv_resp_free(out);
        out->status = 200;
        out->content_type = "text/event-stream";
        out->stream = (srv_stream *)u;
        return;
    }
    json_t *arr = json_array();
    pthread_mutex_lock(&h->mu);
    long long first = h->next_seq - EV_RING > since + 1 ? h->next_seq - EV_RING : since + 1;
    for (long long q = first; q < h->next_seq; q++)
        json_array_append_new(arr, json_loads(h->ring[q % EV_RING].text, 0, NULL));
    long long last = h->next_seq - 1;
    pthread_mutex_unlock(&h->mu);
    srv_json(out, 200, json_pack("{s:o,s:I}", "events", arr, "last", (json_int_t)last));
}

/* GET /v1/feeds: each feed's latest figures. */
static void h_feeds(srv *s, srv_req *r, srv_resp *out)
{
    (void)r;
    srv_events *h = hub(s);
    json_t *arr = json_array();
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->n_feeds; i++)
        if (h->feeds[i].json) json_array_append_new(arr, json_loads(h->feeds[i].json, 0, NULL));
    pthread_mutex_unlock(&h->mu);
    srv_json(out, 200, json_pack("{s:o}", "feeds", arr));
}

/* GET /v1/strangers: the review list, newest last. */
static void h_strangers(srv *s, srv_req *r, srv_resp *out)
{
    (void)r;
    srv_events *h = hub(s);
    json_t *arr = json_array();
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->n_review; i++) {
        json_t *e = json_loads(h->review[i].json, 0, NULL);
        if (e) json_object_set_new(e, "id", json_integer(h->review[i].id));
        json_array_append_new(arr, e);
    }
    pthread_mutex_unlock(&h->mu);
    srv_json(out, 200, json_pack("{s:o}", "strangers", arr));
}

static int review_find_locked(srv_events *h, const char *id_text, long long *id)
{
    char *end;
    long long v = strtoll(id_text, &end, 10);
    if (*end || v <= 0) return -2;
    *id = v;
    for (int i = 0; i < h->n_review; i++)
        if (h->review[i].id == v) return i;
    return -1;
}

static void h_stranger_dismiss(srv *s, srv_req *r, srv_resp *out)
{
    srv_events *h = hub(s);
    long long id = 0;
    pthread_mutex_lock(&h->mu);
    int i = review_find_locked(h, srv_param(r, "id"), &id);
    if (i >= 0) review_drop_locked(h, i);
    pthread_mutex_unlock(&h->mu);
    if (i == -2) srv_error(out, 400, "bad_request", "a stranger id is a positive integer");
    else if (i < 0) srv_error(out, 404, "no_stranger", "no stranger %lld is waiting for review", id);
    else srv_json(out, 200, json_pack("{s:I}", "dismissed", (json_int_t)id));
}

/* POST /v1/strangers/{id}/enrol {"collection": C, "identity": NAME}: the stranger's best chip
 * (an aligned 112x112 face) enrolled under NAME, its chip kept as the payload when the
 * collection keeps payloads; the stranger leaves the review list. */
static void h_stranger_enrol(srv *s, srv_req *r, srv_resp *out)
{
    const char *coll = srv_arg_str(r, "collection"), *identity = srv_arg_str(r, "identity");
    if (!coll || !coll[0]) {
        srv_error(out, 400, "bad_request", "\"collection\" is required");
        return;
    }
    if (!identity || !identity[0] || strlen(identity) > FACET_IDENTITY_MAX ||
        !srv_utf8_ok(identity, strlen(identity))) {
        srv_error(out, 400, "bad_identity", "\"identity\" must be 1..%d bytes of printable UTF-8",
                  FACET_IDENTITY_MAX);
        return;
    }
    if (r->key_collection[0] && strcmp(r->key_collection, coll)) {
        srv_error(out, 403, "forbidden", "this key may only use collection '%s'", r->key_collection);
        return;
    }
    srv_events *h = hub(s);
    long long id = 0;
    uint8_t *jpeg = NULL;
    size_t jpeg_size = 0;
    pthread_mutex_lock(&h->mu);
    int i = review_find_locked(h, srv_param(r, "id"), &id);
    if (i >= 0 && (jpeg = malloc(h->review[i].jpeg_size))) {
        memcpy(jpeg, h->review[i].jpeg, h->review[i].jpeg_size);
        jpeg_size = h->review[i].jpeg_size;
    }
    pthread_mutex_unlock(&h->mu);
    if (i == -2) {
        srv_error(out, 400, "bad_request", "a stranger id is a positive integer");
        return;
    }
    if (i < 0) {
        srv_error(out, 404, "no_stranger", "no stranger %lld is waiting for review", id);
        return;
    }
    if (!jpeg) {
        srv_error(out, 503, "no_memory", "out of memory");
        return;
    }
    facet_collection_info info;
    facet_image *chip = NULL;
    uint8_t *png = NULL;
    size_t png_size = 0;
    facet_faceprint fp;
    char uuid[FACET_UUID_SIZE];
    facet_decode_options opt;
    facet_decode_defaults(&opt);
    int rc = facet_collection_get(srv_gallery(s), coll, &info);
    if (rc) {
        srv_facet_error(s, out, rc, "collection");
        goto done;
    }
    rc = facet_image_decode_memory(jpeg, jpeg_size, &opt, &chip);
    if (rc) {
        srv_facet_error(s, out, rc, "stranger chip");
        goto done;
    }
    if (chip->width != 112 || chip->height != 112) {
        srv_error(out, 422, "bad_chip", "the stranger's chip is %dx%d, not an aligned 112x112 face", chip->width,
                  chip->height);
        goto done;
    }
    if ((rc = facet_faceprint_from_chip(srv_sdk(s), chip, &fp))) {
        srv_facet_error(s, out, rc, "faceprint");
        goto done;
    }
    if (info.keep_payload && (rc = facet_image_encode_png(chip, &png, &png_size))) {
        srv_facet_error(s, out, rc, "face chip");
        goto done;
    }
    rc = facet_gallery_enroll(srv_gallery(s), coll, fp.model, fp.v, fp.dim, identity, png, png_size, uuid);
    if (rc) {
        srv_facet_error(s, out, rc, "enrol");
        goto done;
    }
    pthread_mutex_lock(&h->mu);
    i = review_find_locked(h, srv_param(r, "id"), &id);
    if (i >= 0) review_drop_locked(h, i);
    pthread_mutex_unlock(&h->mu);
    srv_json(out, 201, json_pack("{s:s,s:s,s:s}", "uuid", uuid, "identity", identity, "collection", coll));
done:
    facet_image_destroy(chip);
    facet_free(png);
    free(jpeg);
}

static const srv_route event_routes[] = {
    {"POST", "/v1/events", SRV_ROLE_RECOGNIZE, 0, h_post},
    {"GET", "/v1/events", SRV_ROLE_RECOGNIZE, SRV_INLINE, h_get},
    {"GET", "/v1/feeds", SRV_ROLE_RECOGNIZE, SRV_INLINE, h_feeds},
    {"GET", "/v1/strangers", SRV_ROLE_RECOGNIZE, SRV_INLINE, h_strangers},
    {"DELETE", "/v1/strangers/{id}", SRV_ROLE_ENROL, SRV_INLINE, h_stranger_dismiss},
    {"POST", "/v1/strangers/{id}/enrol", SRV_ROLE_ENROL, 0, h_stranger_enrol},
};

void srv_events_routes(srv *s)
{
    for (size_t i = 0; i < sizeof event_routes / sizeof event_routes[0]; i++) srv_route_add(s, &event_routes[i]);
}
