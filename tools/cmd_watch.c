/*
 * cmd_watch.c - `facet watch`: faces in video feeds, tracked, recognised and reported as events.
 *
 *   facet watch SOURCE... --db URL --collection C           (in-process recognition)
 *   facet watch SOURCE... --server URL --key KEY --collection C   (through facetd)
 *
 * A SOURCE is a file, a stream URL, v4l2:/dev/videoN or a folder of images; NAME=SOURCE names
 * the feed. --feeds FILE reads more, one per line. Every feed shares one SDK and one
 * recognition client. Events go to stdout as JSON lines with --json (else one readable line
 * each), optionally also POSTed to --webhook URL by a thread of their own so a slow receiver
 * never stalls the video; figures go to stderr (--metrics: every few seconds, and always at the
 * end).
 */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_FEEDS 64

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int usage_watch(void)
{
    fprintf(stderr,
            "usage: facet watch [NAME=]SOURCE... (--db URL | --server URL [--key KEY]) --collection C [options]\n"
            "  SOURCE: video file, rtsp://... or http://... stream, v4l2:/dev/video0, folder of images\n"
            "  --feeds FILE              more sources, one [NAME=]SOURCE per line\n"
            "  --json                    events as JSON lines on stdout\n"
            "  --chips                   events carry the best chip (base64 JPEG)\n"
            "  --webhook URL             also POST each event's JSON to URL, and each feed's figures as\n"
            "                            a \"metrics\" event every --metrics period and at the end\n"
            "  --webhook-key KEY         Bearer key for the webhook (facetd's POST /v1/events)\n"
            "  --metrics [SECS]          print figures every SECS (default 5) on stderr\n"
            "  --realtime                pace files by their timestamps (dropping frames when busy)\n"
            "  --draw OUT.mp4|DIR        annotated video (boxes, track ids, names; H.264, else MPEG-4\n"
            "                            part 2; OUT_FEED.mp4 per feed when there are several; also\n"
            "                            .mkv), or every detected frame as DIR/FEED_NNNNNN.png\n"
            "  --draw-codec h264|mpeg4   the video codec (default: H.264 when FFmpeg has libx264)\n"
            "  --no-recognition          track only\n"
            "  --match-threshold S       similarity to name someone (default: the collection's / %.3f)\n"
            "  --send-quality Q          best shots below Q (0..1) are not sent (default 0.2)\n"
            "  --pose-model              quality with the pose model's yaw and pitch (slower)\n"
            "  --cut T                   scene-cut threshold 0..1 (default 0.1, 0 = off)\n"
            "  --track-timeout S         a track unseen S media seconds ends (default 1)\n"
            "  --initial-attempts N --failed-backoff S --retry-failed-every S\n"
            "  --min-lock-recognitions N --reconfirm-every S   SAFR's scheduling (3, 0.34, 0, 2, 1)\n"
            "  --recognition-threads N   concurrent requests (default 4)\n"
            "  --timeout S               per-request timeout for --server (default 10)\n"
            "  --threshold, --min-face, --threads, --models, --backend   SDK options as for detect\n"
            "                            (--threads: inference threads, default 1 here)\n"
            "  environment: FACET_API_KEY (instead of --key)\n",
            (double)facet_match_threshold());
    return 2;
}

/* Strict numbers (facet_parse_*), with the flag named in the message; -1 if refused. */
static int parse_double(const char *flag, const char *v, double lo, double hi, double *out)
{
    if (!facet_parse_double(v, lo, hi, out)) return 0;
    fprintf(stderr, "facet: %s: '%s' is not a number in %g..%g\n", flag, v, lo, hi);
    return -1;
}

static int parse_int(const char *flag, const char *v, int lo, int hi, int *out)
{
    long x;
    if (facet_parse_long(v, lo, hi, &x)) {
        fprintf(stderr, "facet: %s: '%s' is not an integer in %d..%d\n", flag, v, lo, hi);
        return -1;
    }
    *out = (int)x;
    return 0;
}

/* ---- webhook: events queued for a thread that POSTs them one by one ---- */

typedef struct hook_item {
    struct hook_item *next;
    char *json;
} hook_item;

typedef struct hook {
    const char *url;
    const char *key; /* sent as a Bearer key, or NULL */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hook_item *head, *tail;
    int n, done;
    long sent, failed, dropped;
    char last_error[300]; /* the last failure, for the summary */
} hook;

static size_t hook_body(char *data, size_t size, size_t nmemb, void *user)
{
    char *err = user;
    size_t n = size * nmemb, have = strlen(err);
    if (have + 1 < 300) {
        size_t k = n < 300 - have - 1 ? n : 300 - have - 1;
        memcpy(err + have, data, k);
        err[have + k] = 0;
    }
    return n;
}

static void *hook_main(void *arg)
{
    hook *h = arg;
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[1100];
    if (hdr && h->key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", h->key);
        hdr = curl_slist_append(hdr, auth);
    }
    for (;;) {
        pthread_mutex_lock(&h->mu);
        while (!h->head && !h->done) pthread_cond_wait(&h->cv, &h->mu);
        hook_item *it = h->head;
        if (it) {
            h->head = it->next;
            if (!h->head) h->tail = NULL;
            h->n--;
        }
        pthread_mutex_unlock(&h->mu);
        if (!it) break;
        CURLcode cc = CURLE_FAILED_INIT;
        long status = 0;
        char answer[300] = "";
        if (c && hdr) {
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hook_body);
            curl_easy_setopt(c, CURLOPT_WRITEDATA, answer);
            curl_easy_setopt(c, CURLOPT_URL, h->url);
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, it->json);
            curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
            cc = curl_easy_perform(c);
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        }
        pthread_mutex_lock(&h->mu);
        if (cc == CURLE_OK && status >= 200 && status < 300) {
            h->sent++;
        } else {
            h->failed++;
            if (cc != CURLE_OK)
                snprintf(h->last_error, sizeof h->last_error, "%s", curl_easy_strerror(cc));
            else
                snprintf(h->last_error, sizeof h->last_error, "HTTP %ld: %s", status, answer);
        }
        pthread_mutex_unlock(&h->mu);
        free(it->json);
        free(it);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return NULL;
}

static void hook_post(hook *h, char *json)
{
    hook_item *it = malloc(sizeof *it);
    pthread_mutex_lock(&h->mu);
    if (!it || h->n >= 10000) { /* a receiver that is down must not eat all memory */
        h->dropped++;
        pthread_mutex_unlock(&h->mu);
        free(it);
        free(json);
        return;
    }
    it->next = NULL;
    it->json = json;
    if (h->tail)
        h->tail->next = it;
    else
        h->head = it;
    h->tail = it;
    h->n++;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* ---- events and frames ---- */

typedef struct watch_ctx {
    int json, chips;
    hook *hook;
    const char *draw_dir;  /* --draw: a folder of PNGs, or a video file name when draw_video */
    int draw_video;
    const char *draw_codec;       /* --draw-codec, NULL: the best available */
    facet_video_writer **writers; /* per feed, made at its first frame (its size) */
    int *draw_failed;             /* per feed: drawing stopped after a failure (said once) */
    facet_watch *w;
    long *frame_no;
    long events;
} watch_ctx;

static void on_event(void *user, const facet_watch_event *ev)
{
    watch_ctx *c = user;
    c->events++;
    char *js = NULL;
    if ((c->json || c->hook) && facet_watch_event_to_json(ev, c->chips, &js) != FACET_OK) {
        fprintf(stderr, "facet: event: %s\n", facet_last_error());
        js = NULL;
    }
    if (c->json && js) {
        fputs(js, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    } else if (!c->json) {
        printf("%-10s %8.2fs  track %-4d %-16s", ev->feed, ev->media_t, ev->track, facet_watch_event_name(ev->type));
        if (ev->type == FACET_EV_RECOGNIZED)
            printf(" %s (similarity %.3f, %d attempts, %.2f s to lock)", ev->identity, (double)ev->similarity,
                   ev->attempts, ev->time_to_lock);
        else if (ev->type == FACET_EV_IDENTITY_CHANGED)
            printf(" %s -> %s (similarity %.3f)", ev->previous, ev->identity, (double)ev->similarity);
        else if (ev->type == FACET_EV_STRANGER)
            printf(" after %d attempts", ev->attempts);
        else if (ev->type == FACET_EV_TRACK_ENDED)
            printf(" %.2f s%s%s", ev->duration, ev->identity ? ", was " : "", ev->identity ? ev->identity : "");
        printf("\n");
        fflush(stdout);
    }
    /* the hook owns what it is given and releases it with free(): a copy of the library's string */
    if (c->hook && js) {
        char *copy = strdup(js);
        if (copy) hook_post(c->hook, copy);
    }
    facet_free(js);
}

/* --draw OUT.mp4 with several feeds: OUT_FEED.mp4 each; with one, OUT.mp4 itself. */
static void video_path(const watch_ctx *c, int feed, char *out, size_t size)
{
    const char *dot = strrchr(c->draw_dir, '.');
    if (facet_watch_feed_count(c->w) == 1)
        snprintf(out, size, "%s", c->draw_dir);
    else
        snprintf(out, size, "%.*s_%s%s", (int)(dot - c->draw_dir), c->draw_dir, facet_watch_feed_name(c->w, feed), dot);
}

/* A name that asks for a video file rather than a folder of PNGs. */
static int is_video_name(const char *p)
{
    const char *dot = strrchr(p, '.');
    return dot && !strchr(dot, '/') &&
           (!strcasecmp(dot, ".mp4") || !strcasecmp(dot, ".mkv") || !strcasecmp(dot, ".mov") || !strcasecmp(dot, ".avi"));
}

/* Boxes (green: named; yellow: tracked; red: untracked), and above each a label with the track
 * id and the locked name in the font of facet_image_draw_text, on the box's colour. */
static void annotate(facet_image *img, int n, const facet_box *boxes, const int *ids, const char *const *identities)
{
    static const uint8_t green[3] = {0, 220, 0}, yellow[3] = {240, 200, 0}, red[3] = {230, 0, 0}, ink[3] = {0, 0, 0};
    int th = img->height >= 720 ? 3 : 2, scale = img->height >= 1000 ? 3 : img->height >= 300 ? 2 : 1;
    for (int i = 0; i < n; i++) {
        const uint8_t *col = !ids[i] ? red : identities[i] ? green : yellow;
        int x = (int)boxes[i].x, y = (int)boxes[i].y;
        facet_image_draw_rect(img, x, y, (int)boxes[i].w, (int)boxes[i].h, th, col);
        if (!ids[i]) continue;
        char label[FACET_IDENTITY_MAX + 24];
        snprintf(label, sizeof label, "#%d%s%s", ids[i], identities[i] ? " " : "", identities[i] ? identities[i] : "");
        /* above the box, or inside its top when the box touches the frame's top */
        int ty = y - 9 * scale >= 0 ? y - 8 * scale : y + th + scale;
        facet_image_draw_text(img, x + scale, ty, label, scale, ink, col);
    }
}

static void on_frame(void *user, int feed, const facet_image *frame, double media_t, int n, const facet_box *boxes,
                     const int *ids, const char *const *identities)
{
    watch_ctx *c = user;
    if (c->draw_failed[feed]) return;
    facet_image *img = NULL;
    if (facet_image_clone(frame, &img) != FACET_OK) {
        fprintf(stderr, "facet: --draw: %s\n", facet_last_error());
        return;
    }
    annotate(img, n, boxes, ids, identities);
    char path[4096];
    int rc;
    if (c->draw_video) {
        video_path(c, feed, path, sizeof path);
        rc = c->writers[feed] ? FACET_OK : facet_video_writer_create(path, img->width, img->height, c->draw_codec,
                                                                                 &c->writers[feed]);
        if (!rc) rc = facet_video_writer_write(c->writers[feed], img, media_t);
    } else {
        snprintf(path, sizeof path, "%s/%s_%06ld.png", c->draw_dir, facet_watch_feed_name(c->w, feed), c->frame_no[feed]++);
        rc = facet_image_write_png(img, path);
    }
    if (rc) {
        /* once per feed: a full disk must not print a line per frame */
        fprintf(stderr, "facet: --draw %s: %s (no more frames drawn for this feed)\n", path, facet_last_error());
        c->draw_failed[feed] = 1;
    }
    facet_image_destroy(img);
}

/* Before the start: each feed's video file can be created (a bad folder fails now, not after
 * the first frame). The empty files are replaced at the first frame, removed if none comes. */
static int check_videos(watch_ctx *c)
{
    for (int f = 0; f < facet_watch_feed_count(c->w); f++) {
        char path[4096];
        video_path(c, f, path, sizeof path);
        FILE *fp = fopen(path, "wb");
        if (!fp) {
            fprintf(stderr, "facet: --draw %s: %s\n", path, strerror(errno));
            return -1;
        }
        fclose(fp);
    }
    return 0;
}

/* Completes the videos; 0, or -1 when one could not be written. */
static int finish_videos(watch_ctx *c)
{
    int bad = 0;
    for (int f = 0; c->w && f < facet_watch_feed_count(c->w); f++) {
        char path[4096];
        video_path(c, f, path, sizeof path);
        bad |= c->draw_failed[f];
        if (!c->writers[f]) {
            if (!c->draw_failed[f]) {
                fprintf(stderr, "facet: --draw %s: no frame was detected, no video written\n", path);
                unlink(path);
            }
            continue;
        }
        if (facet_video_writer_finish(c->writers[f]) != FACET_OK) {
            fprintf(stderr, "facet: --draw %s: %s\n", path, facet_last_error());
            bad = 1;
        } else {
            fprintf(stderr, "facet: --draw: %s: %ld frames (%s)\n", path, facet_video_writer_frames(c->writers[f]),
                    facet_video_writer_codec(c->writers[f]));
        }
        facet_video_writer_destroy(c->writers[f]);
        c->writers[f] = NULL;
    }
    return bad ? -1 : 0;
}

/* A feed's figures as the "metrics" event facetd's events route takes (docs/api.md): the feed
 * name and numbers only. */
static char *metrics_json(const char *feed, const facet_feed_stats *s)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    size_t n = strlen(feed) * 6 + 600;
    char *js = malloc(n);
    if (!js) return NULL;
    int k = snprintf(js, n, "{\"event\":\"metrics\",\"feed\":\"");
    for (const unsigned char *p = (const unsigned char *)feed; *p && k < (int)n - 8; p++)
        k += *p == '"' || *p == '\\' ? snprintf(js + k, n - (size_t)k, "\\%c", *p)
             : *p < 0x20             ? snprintf(js + k, n - (size_t)k, "\\u%04x", *p)
                                     : snprintf(js + k, n - (size_t)k, "%c", *p);
    snprintf(js + k, n - (size_t)k,
             "\",\"wall_t\":%.3f,\"media_t\":%.3f,\"elapsed\":%.3f,\"fps\":%.3f,\"dps\":%.3f,\"frames\":%ld,"
             "\"detected\":%ld,\"dropped\":%ld,\"faces\":%ld,\"tracks\":%d,\"tracks_total\":%ld,\"cuts\":%ld,"
             "\"recognitions\":%ld,\"rps\":%.3f,\"errors\":%ld,\"recognized\":%ld,\"latency_ms\":%.3f,"
             "\"latency_p50_ms\":%.3f,\"latency_p99_ms\":%.3f,\"server_ms\":%.3f,\"detect_ms\":%.3f}",
             (double)now.tv_sec + now.tv_nsec / 1e9, s->media_t, s->elapsed, s->fps, s->dps, s->frames_in,
             s->frames_detected, s->frames_dropped, s->faces, s->tracks_open, s->tracks_total, s->scene_cuts, s->answers,
             s->rps, s->errors, s->recognized, s->rtt_ms_mean, s->rtt_ms_p50, s->rtt_ms_p99, s->server_ms_mean,
             s->detect_ms_mean);
    return js;
}

static void print_figures(facet_watch *w, int final, hook *hk)
{
    for (int i = 0; i < facet_watch_feed_count(w); i++) {
        facet_feed_stats s;
        if (facet_watch_stats(w, i, &s) != FACET_OK) continue;
        if (hk) {
            char *js = metrics_json(facet_watch_feed_name(w, i), &s);
            if (js) hook_post(hk, js);
        }
        fprintf(stderr,
                "%s %s: %.1f s, media %.2f s: FPS %.2f, DPS %.2f, frames %ld in, %ld detected, %ld dropped; "
                "faces %ld, tracks %ld (%d open), cuts %ld; recognitions %ld (%.2f/s, %ld errors, %ld named), "
                "latency ms mean %.1f p50 %.1f p99 %.1f, recogniser %.1f; detection %.1f ms/frame\n",
                final ? "figures" : "metrics", facet_watch_feed_name(w, i), s.elapsed, s.media_t, s.fps, s.dps,
                s.frames_in, s.frames_detected, s.frames_dropped, s.faces, s.tracks_total, s.tracks_open, s.scene_cuts,
                s.answers, s.rps, s.errors, s.recognized, s.rtt_ms_mean, s.rtt_ms_p50, s.rtt_ms_p99, s.server_ms_mean,
                s.detect_ms_mean);
        if (s.frames_failed > 0)
            fprintf(stderr, "%s %s: detection FAILED on %ld frames (see the warnings above)\n",
                    final ? "figures" : "metrics", facet_watch_feed_name(w, i), s.frames_failed);
    }
}

static int all_ended(facet_watch *w)
{
    for (int i = 0; i < facet_watch_feed_count(w); i++) {
        facet_feed_stats s;
        if (facet_watch_stats(w, i, &s) != FACET_OK || !s.ended) return 0;
    }
    return 1;
}

/* "NAME=SOURCE" or "SOURCE"; names are short words, so "rtsp://u:p@h/x=y" stays a source. */
static void split_name(char *spec, const char **name, const char **source)
{
    char *eq = strchr(spec, '=');
    char *colon = strchr(spec, ':'), *slash = strchr(spec, '/');
    if (eq && eq != spec && (!colon || eq < colon) && (!slash || eq < slash)) {
        *eq = 0;
        *name = spec;
        *source = eq + 1;
    } else {
        *name = NULL;
        *source = spec;
    }
}

static int read_feeds(const char *path, char **specs, int *owned, int *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "facet: --feeds %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t l = strlen(line);
        if (l == sizeof line - 1 && line[l - 1] != '\n') {
            fprintf(stderr, "facet: --feeds %s:%d: line too long\n", path, lineno);
            fclose(f);
            return -1;
        }
        while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' ')) line[--l] = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p || *p == '#') continue;
        if (*n >= MAX_FEEDS) {
            fprintf(stderr, "facet: more than %d feeds\n", MAX_FEEDS);
            fclose(f);
            return -1;
        }
        if (!(specs[*n] = strdup(p))) {
            fclose(f);
            return -1;
        }
        owned[(*n)++] = 1;
    }
    fclose(f);
    return 0;
}

int cmd_watch(int argc, char **argv)
{
    facet_sdk_settings sset;
    facet_sdk_defaults(&sset);
    facet_watch_settings wset;
    facet_watch_defaults(&wset);
    const char *db = NULL, *server = NULL, *key = getenv("FACET_API_KEY"), *collection = NULL, *webhook = NULL,
               *webhook_key = NULL;
    const char *draw = NULL, *draw_codec = NULL;
    double match_threshold = -1, metrics = 0, timeout = 10;
    int json = 0, chips = 0, no_rec = 0;
    char *specs[MAX_FEEDS];
    int nspec = 0, owned[MAX_FEEDS] = {0};
    const char *v;
    int bad = 0;
    double d;
    for (int i = 1; i < argc && !bad; i++) {
        if ((v = cli_opt(argc, argv, &i, "--db"))) db = v;
        else if ((v = cli_opt(argc, argv, &i, "--server"))) server = v;
        else if ((v = cli_opt(argc, argv, &i, "--key"))) key = v;
        else if ((v = cli_opt(argc, argv, &i, "--collection"))) collection = v;
        else if ((v = cli_opt(argc, argv, &i, "--webhook-key"))) webhook_key = v;
        else if ((v = cli_opt(argc, argv, &i, "--webhook"))) webhook = v;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage_watch();
            return 0;
        }
        else if ((v = cli_opt(argc, argv, &i, "--draw-codec"))) {
            draw_codec = v;
            if (strcmp(v, "h264") && strcmp(v, "mpeg4")) {
                fprintf(stderr, "facet: --draw-codec must be h264 or mpeg4, not '%s'\n", v);
                bad = 1;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--draw"))) draw = v;
        else if ((v = cli_opt(argc, argv, &i, "--feeds"))) bad = read_feeds(v, specs, owned, &nspec); else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--chips")) chips = wset.event_chips = 1;
        else if (!strcmp(argv[i], "--realtime")) wset.realtime = 1;
        else if (!strcmp(argv[i], "--pose-model")) wset.quality_pose = 1;
        else if (!strcmp(argv[i], "--no-recognition")) no_rec = 1;
        else if (!strcmp(argv[i], "--metrics")) {
            metrics = 5;
            if (i + 1 < argc && argv[i + 1][0] != '-' && strtod(argv[i + 1], NULL) > 0 &&
                parse_double("--metrics", argv[i + 1], 0.1, 3600, &metrics) == 0)
                i++;
        } else if ((v = cli_opt(argc, argv, &i, "--match-threshold"))) bad = parse_double("--match-threshold", v, -1, 1, &match_threshold);
        else if ((v = cli_opt(argc, argv, &i, "--send-quality"))) {
            bad = parse_double("--send-quality", v, 0, 1, &d);
            wset.send_quality = (float)d;
        } else if ((v = cli_opt(argc, argv, &i, "--cut"))) {
            bad = parse_double("--cut", v, 0, 1, &d);
            wset.cut_threshold = (float)d;
        } else if ((v = cli_opt(argc, argv, &i, "--track-timeout"))) bad = parse_double("--track-timeout", v, 0, 3600, &wset.tracker.timeout);
        else if ((v = cli_opt(argc, argv, &i, "--initial-attempts"))) bad = parse_int("--initial-attempts", v, 0, 1000, &wset.schedule.initial_attempts);
        else if ((v = cli_opt(argc, argv, &i, "--failed-backoff"))) bad = parse_double("--failed-backoff", v, 0, 3600, &wset.schedule.failed_backoff);
        else if ((v = cli_opt(argc, argv, &i, "--retry-failed-every"))) bad = parse_double("--retry-failed-every", v, 0, 86400, &wset.schedule.retry_failed_every);
        else if ((v = cli_opt(argc, argv, &i, "--min-lock-recognitions"))) bad = parse_int("--min-lock-recognitions", v, 1, 1000, &wset.schedule.min_lock_recognitions);
        else if ((v = cli_opt(argc, argv, &i, "--reconfirm-every"))) bad = parse_double("--reconfirm-every", v, 0, 86400, &wset.schedule.reconfirm_every);
        else if ((v = cli_opt(argc, argv, &i, "--recognition-threads"))) bad = parse_int("--recognition-threads", v, 1, 256, &wset.recognition_threads);
        else if ((v = cli_opt(argc, argv, &i, "--timeout"))) bad = parse_double("--timeout", v, 0.001, 3600, &timeout);
        else if (cli_sdk_options(argc, argv, &i, &sset)) continue;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "facet: watch: unknown option %s\n", argv[i]);
            bad = 1;
        } else if (nspec >= MAX_FEEDS) {
            fprintf(stderr, "facet: more than %d feeds\n", MAX_FEEDS);
            bad = 1;
        } else specs[nspec++] = argv[i];
    }
    int rc = 2;
    facet_sdk *sdk = NULL;
    facet_gallery *g = NULL;
    facet_recognizer *rec = NULL;
    facet_watch *w = NULL;
    hook hk;
    memset(&hk, 0, sizeof hk);
    int hook_started = 0;
    long frame_no[MAX_FEEDS] = {0};
    facet_video_writer *writers[MAX_FEEDS] = {0};
    int draw_failed[MAX_FEEDS] = {0};
    watch_ctx ctx = {json, chips, NULL, draw, draw && is_video_name(draw), draw_codec, writers, draw_failed, NULL,
                     frame_no, 0};
    if (bad) goto done;
    if (nspec == 0 || (!no_rec && (!collection || (!db && !server))) || (db && server)) {
        if (!bad && (db && server)) fprintf(stderr, "facet: watch: --db and --server exclude each other\n");
        usage_watch();
        goto done;
    }
    rc = 1;
    if (draw && !ctx.draw_video && mkdir(draw, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "facet: --draw %s: %s\n", draw, strerror(errno));
        goto done;
    }
    /* single-threaded inference unless asked otherwise: the watch's parallelism is a detector
     * thread per feed, the decoders and the recognition workers, and XNNPACK's spinning pools
     * collapse when the cores are busy (docs/watch.md: hamilton_clip.mp4 on a loaded 2-core
     * machine took 105.9 s with 2 inference threads, 4.6 s with 1) */
    if (sset.num_threads == 0 && !getenv("FACET_NUM_THREADS")) sset.num_threads = 1;
    if (cli_sdk_create(&sset, &sdk)) goto done;
    if (!no_rec && db) {
        facet_gallery_settings gs;
        facet_gallery_defaults(&gs);
        facet_match_model(&gs.match_a, &gs.match_b);
        int r = facet_gallery_open(db, &gs, &g);
        if (r) {
            cli_fail(db, r);
            goto done;
        }
        if ((r = facet_recognizer_local(sdk, g, collection, (float)match_threshold, &rec))) {
            cli_fail("recognizer", r);
            goto done;
        }
    } else if (!no_rec) {
        int r = facet_recognizer_remote(server, key, collection, (float)match_threshold, timeout, &rec);
        if (r) {
            cli_fail("recognizer", r);
            goto done;
        }
    }
    if (webhook) {
        hk.url = webhook;
        hk.key = webhook_key;
        pthread_mutex_init(&hk.mu, NULL);
        pthread_cond_init(&hk.cv, NULL);
        if (pthread_create(&hk.thread, NULL, hook_main, &hk) == 0) {
            hook_started = 1;
            ctx.hook = &hk;
        }
    }
    wset.on_event = on_event;
    wset.user = &ctx;
    int r = facet_watch_create(sdk, rec, &wset, &w);
    if (r) {
        cli_fail("watch", r);
        goto done;
    }
    ctx.w = w;
    for (int k = 0; k < nspec; k++) {
        const char *name, *source;
        split_name(specs[k], &name, &source);
        if ((r = facet_watch_add_source(w, name, source, NULL))) {
            fprintf(stderr, "facet: %s: %s\n", source, facet_watch_errmsg(w));
            goto done;
        }
    }
    if (ctx.draw_video && check_videos(&ctx)) goto done;
    if (draw) facet_watch_set_frame_callback(w, on_frame, &ctx);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if ((r = facet_watch_start(w))) {
        cli_fail("watch", r);
        goto done;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    double next_metrics = metrics;
    while (!all_ended(w) && !interrupted) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
        if (metrics > 0 && el >= next_metrics) {
            print_figures(w, 0, ctx.hook);
            next_metrics += metrics;
        }
    }
    if (interrupted)
        facet_watch_stop(w);
    else
        facet_watch_wait(w);
    print_figures(w, 1, ctx.hook);
    rc = ctx.draw_video && finish_videos(&ctx) ? 1 : 0;
done:
    facet_watch_destroy(w);
    for (int f = 0; f < MAX_FEEDS; f++) facet_video_writer_destroy(writers[f]);
    if (hook_started) {
        pthread_mutex_lock(&hk.mu);
        hk.done = 1;
        pthread_cond_broadcast(&hk.cv);
        pthread_mutex_unlock(&hk.mu);
        pthread_join(hk.thread, NULL);
        if (hk.failed || hk.dropped)
            fprintf(stderr, "facet: webhook %s: %ld events posted, %ld failed (last: %s), %ld dropped\n", webhook,
                    hk.sent, hk.failed, hk.last_error, hk.dropped);
        pthread_mutex_destroy(&hk.mu);
        pthread_cond_destroy(&hk.cv);
    }
    facet_recognizer_destroy(rec);
    facet_gallery_destroy(g);
    facet_sdk_destroy(sdk);
    for (int k = 0; k < nspec; k++)
        if (owned[k]) free(specs[k]);
    return rc;
}
