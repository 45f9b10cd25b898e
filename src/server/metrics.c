/*
 * metrics.c - /metrics in the Prometheus text format (version 0.0.4).
 *
 * Counters are relaxed atomics in fixed arrays indexed by route (the table is fixed once the
 * server starts) and by a small list of status codes, so observing a request takes no lock
 * and allocates nothing. Latency is a histogram per route with fixed buckets from 1 ms to
 * 10 s (recognize answers in milliseconds, identify on a large photo in a second). Values that
 * live elsewhere (faceprints per collection, CPU time, RSS) are read when /metrics is scraped.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server.h"

#define M_ROUTES 97 /* the route table's size + 1 for "no route" */
static const int codes[] = {200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503};
#define N_CODES (int)(sizeof codes / sizeof codes[0])
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
#define N_BUCKETS (int)(sizeof buckets / sizeof buckets[0])
static const char *const reasons[] = {"in_flight", "body_size", "body_timeout", "deadline"};
#define N_REASONS (int)(sizeof reasons / sizeof reasons[0])

typedef struct route_metrics {
    atomic_ullong count[N_CODES + 1]; /* last: other codes */
    atomic_ullong bucket[N_BUCKETS];  /* not cumulative; summed when rendered */
    atomic_ullong total;
    atomic_ullong sum_us;
} route_metrics;

struct srv_metrics {
    route_metrics r[M_ROUTES];
    atomic_ullong rejected[N_REASONS];
    atomic_ullong store_errors;
};

srv_metrics *srv_metrics_create(void) { return calloc(1, sizeof(srv_metrics)); }
void srv_metrics_destroy(srv_metrics *m) { free(m); }

void srv_metrics_observe(srv_metrics *m, int route, int status, double seconds)
{
    route_metrics *r = &m->r[route >= 0 && route < M_ROUTES - 1 ? route : M_ROUTES - 1];
    int c = 0;
    while (c < N_CODES && codes[c] != status) c++;
    atomic_fetch_add_explicit(&r->count[c], 1, memory_order_relaxed);
    int b = 0;
    while (b < N_BUCKETS && seconds > buckets[b]) b++;
    if (b < N_BUCKETS) atomic_fetch_add_explicit(&r->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->sum_us, (unsigned long long)(seconds * 1e6), memory_order_relaxed);
}

void srv_metrics_rejected(srv_metrics *m, const char *reason)
{
    for (int i = 0; i < N_REASONS; i++)
        if (!strcmp(reasons[i], reason)) atomic_fetch_add_explicit(&m->rejected[i], 1, memory_order_relaxed);
}

void srv_metrics_store_error(srv_metrics *m)
{
    atomic_fetch_add_explicit(&m->store_errors, 1, memory_order_relaxed);
}

static void route_label(srv *s, int i, char *out, size_t size)
{
    const srv_route *rt = srv_route_at(s, (size_t)i);
    if (rt) snprintf(out, size, "method=\"%s\",route=\"%s\"", rt->method, rt->pattern);
    else snprintf(out, size, "method=\"\",route=\"none\"");
}

char *srv_metrics_render(srv *s, srv_metrics *m, size_t *size)
{
    char *text = NULL;
    size_t text_size = 0;
    FILE *b = open_memstream(&text, &text_size);
    if (!b) return NULL;
    int nr = (int)srv_route_count(s);
    char label[256];

    fprintf(b, "# HELP facetd_requests_total Requests answered, by route and status code.\n"
            "# TYPE facetd_requests_total counter\n");
    for (int i = 0; i < M_ROUTES; i++) {
        if (i >= nr && i != M_ROUTES - 1) continue;
        route_metrics *r = &m->r[i];
        route_label(s, i < nr ? i : -1, label, sizeof label);
        for (int c = 0; c <= N_CODES; c++) {
            unsigned long long v = atomic_load_explicit(&r->count[c], memory_order_relaxed);
            if (!v) continue;
            if (c < N_CODES) fprintf(b, "facetd_requests_total{%s,code=\"%d\"} %llu\n", label, codes[c], v);
            else fprintf(b, "facetd_requests_total{%s,code=\"other\"} %llu\n", label, v);
        }
    }
    fprintf(b, "# HELP facetd_errors_total Requests answered with a 4xx or 5xx status, by route.\n"
            "# TYPE facetd_errors_total counter\n");
    for (int i = 0; i < nr; i++) {
        unsigned long long e = 0;
        for (int c = 0; c < N_CODES; c++)
            if (codes[c] >= 400) e += atomic_load_explicit(&m->r[i].count[c], memory_order_relaxed);
        e += atomic_load_explicit(&m->r[i].count[N_CODES], memory_order_relaxed);
        route_label(s, i, label, sizeof label);
        fprintf(b, "facetd_errors_total{%s} %llu\n", label, e);
    }
    fprintf(b, "# HELP facetd_request_duration_seconds Time from the request's headers to its answer.\n"
            "# TYPE facetd_request_duration_seconds histogram\n");
    for (int i = 0; i < nr; i++) {
        route_metrics *r = &m->r[i];
        route_label(s, i, label, sizeof label);
        unsigned long long cum = 0;
        for (int k = 0; k < N_BUCKETS; k++) {
            cum += atomic_load_explicit(&r->bucket[k], memory_order_relaxed);
            fprintf(b, "facetd_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", label, buckets[k], cum);
        }
        unsigned long long total = atomic_load_explicit(&r->total, memory_order_relaxed);
        fprintf(b, "facetd_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", label, total);
        fprintf(b, "facetd_request_duration_seconds_sum{%s} %.6f\n", label,
            atomic_load_explicit(&r->sum_us, memory_order_relaxed) / 1e6);
        fprintf(b, "facetd_request_duration_seconds_count{%s} %llu\n", label, total);
    }
    fprintf(b, "# HELP facetd_requests_in_flight Requests being read, queued or processed.\n"
            "# TYPE facetd_requests_in_flight gauge\nfacetd_requests_in_flight %d\n",
        srv_in_flight(s));
    fprintf(b, "# HELP facetd_rejected_total Requests refused by a limit, by reason.\n"
            "# TYPE facetd_rejected_total counter\n");
    for (int i = 0; i < N_REASONS; i++)
        fprintf(b, "facetd_rejected_total{reason=\"%s\"} %llu\n", reasons[i],
            atomic_load_explicit(&m->rejected[i], memory_order_relaxed));
    fprintf(b, "# HELP facetd_store_errors_total Failures of the store (database) seen by requests.\n"
            "# TYPE facetd_store_errors_total counter\nfacetd_store_errors_total %llu\n",
        atomic_load_explicit(&m->store_errors, memory_order_relaxed));

    facet_gallery *g = srv_gallery(s);
    facet_collection_info *colls = NULL;
    size_t nc = 0;
    if (g && facet_collection_list(g, &colls, &nc) == FACET_OK) {
        fprintf(b, "# HELP facetd_faceprints Faceprints loaded, by collection.\n"
                "# TYPE facetd_faceprints gauge\n");
        for (size_t i = 0; i < nc; i++) {
            size_t n = 0;
            /* names are [A-Za-z0-9_.-]: nothing to escape in the label */
            if (facet_gallery_count(g, colls[i].name, &n) == FACET_OK)
                fprintf(b, "facetd_faceprints{collection=\"%s\"} %zu\n", colls[i].name, n);
        }
        facet_free(colls);
    } else if (g) {
        srv_metrics_store_error(m);
    }
    /* the follower (--follow): how far this node has applied the shared change log, and
     * whether its last catch-up reached the store; a node whose seq stops moving while the
     * others' advance, or whose store_ok is 0, serves stale collections */
    facet_sync_info si;
    if (g && facet_gallery_sync_info(g, &si) == FACET_OK) {
        const struct {
            const char *name, *type, *help;
            long long v;
        } f[] = {
            {"running", "gauge", "1 if the follower thread runs (--follow).", si.following},
            {"store_ok", "gauge", "1 if the follower's last catch-up reached the store.",
             si.store_ok},
            {"seq", "gauge", "Sequence number of the last change log entry applied.",
             (long long)si.seq},
            {"applied_total", "counter", "Change log entries read and applied.",
             (long long)si.applied},
            {"reloads_total", "counter", "Full reloads after falling behind the log.",
             (long long)si.reloads},
            {"failures_total", "counter", "Catch-ups that could not reach the store.",
             (long long)si.failures},
        };
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            fprintf(b, "# HELP facetd_follower_%s %s\n# TYPE facetd_follower_%s %s\n"
                    "facetd_follower_%s %lld\n", f[i].name, f[i].help, f[i].name, f[i].type,
                    f[i].name, f[i].v);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    fprintf(b, "# HELP process_cpu_seconds_total User and system CPU time.\n"
            "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.3f\n", cpu);
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long size_pages;
        if (fscanf(f, "%ld %ld", &size_pages, &pages) != 2) pages = 0;
        fclose(f);
    }
    fprintf(b, "# HELP process_resident_memory_bytes Resident set size.\n"
            "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %lld\n",
        (long long)pages * sysconf(_SC_PAGESIZE));
    int bad = ferror(b);
    if (fclose(b) || bad) {
        free(text);
        return NULL;
    }
    *size = text_size;
    return text;
}
