/*
 * loadgen.c - a small HTTP/1.1 load generator for facetd (bench/server/run.sh), because the
 * benchmark needs things wrk does not give: binary POST bodies from files, several request
 * kinds mixed in one run, a fixed arrival rate (wrk only runs closed loops, whose latencies
 * hide queueing: "coordinated omission"), and the server's RSS over time.
 *
 *   loadgen --target HOST:PORT [--header 'K: V']... --req METHOD,PATH,CTYPE,FILE[,WEIGHT]...
 *           [--connections C] [--duration S] [--warmup S] [--rate R] [--interval S]
 *           [--pid PID] [--label NAME]
 *
 * Without --rate: closed loop, C connections each with one request in flight (saturation
 * throughput). With --rate R: requests are due at t0 + k/R whatever happens; a due request
 * waits for a free connection, and its latency runs from when it was due, so queueing in the
 * client or the server counts. Keep-alive connections over raw sockets and epoll; responses
 * must carry Content-Length (libmicrohttpd sends it for buffered replies). Any status other
 * than 2xx, a reset or a malformed reply counts as an error. --interval prints a line per
 * interval (requests, p50, p99, errors, RSS of --pid); the summary is one JSON line.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_KINDS 8
#define MAX_HEADERS 8
#define MAX_CONNS 1024

typedef struct kind {
    char *request; /* the whole request: head and body */
    size_t size;
    int weight;
    char name[64];
} kind;

typedef struct samples {
    double *v;
    size_t n, cap;
} samples;

typedef struct conn {
    int fd, busy, kind;
    double due;     /* when the request in flight was due (its latency starts there) */
    size_t sent;
    char *in;
    size_t in_len, in_cap;
} conn;

static kind kinds[MAX_KINDS];
static int nkinds, total_weight;
static struct sockaddr_in target;
static conn conns[MAX_CONNS];
static int nconns = 16;
static samples lat_all, lat_kind[MAX_KINDS], lat_window;
static long errors, errors_window, completed;
static long status_count[6];

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *msg)
{
    fprintf(stderr, "loadgen: %s\n", msg);
    exit(2);
}

static void push(samples *s, double x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) die("out of memory");
    }
    s->v[s->n++] = x;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Percentile p (0..100) of s, sorting it in place; NAN when empty. */
static double pct(samples *s, double p)
{
    if (!s->n) return NAN;
    qsort(s->v, s->n, sizeof *s->v, cmp_d);
    size_t i = (size_t)ceil(p / 100.0 * (double)s->n);
    return s->v[i ? i - 1 : 0];
}

static long rss_kb(int pid)
{
    if (pid <= 0) return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

static char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return b;
}

/* METHOD,PATH,CTYPE,FILE[,WEIGHT] -> a ready request; FILE "-" sends no body. */
static void add_kind(const char *spec, char headers[][256], int nheaders, const char *host)
{
    if (nkinds == MAX_KINDS) die("too many --req");
    char buf[1024], *f[5] = {0};
    snprintf(buf, sizeof buf, "%s", spec);
    int n = 0;
    for (char *p = strtok(buf, ","); p && n < 5; p = strtok(NULL, ",")) f[n++] = p;
    if (n < 4) die("--req wants METHOD,PATH,CTYPE,FILE[,WEIGHT]");
    kind *k = &kinds[nkinds];
    k->weight = 1;
    if (n == 5) {
        char *end;
        long w = strtol(f[4], &end, 10);
        if (*end || w < 1 || w > 1000) die("bad weight in --req");
        k->weight = (int)w;
    }
    size_t body_size = 0;
    char *body = NULL;
    if (strcmp(f[3], "-") != 0 && !(body = read_file(f[3], &body_size))) die("cannot read a body file");
    size_t cap = 4096 + body_size;
    k->request = malloc(cap);
    if (!k->request) die("out of memory");
    int h = snprintf(k->request, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n", f[0], f[1], host);
    for (int i = 0; i < nheaders; i++) h += snprintf(k->request + h, cap - (size_t)h, "%s\r\n", headers[i]);
    if (body) h += snprintf(k->request + h, cap - (size_t)h, "Content-Type: %s\r\n", f[2]);
    h += snprintf(k->request + h, cap - (size_t)h, "Content-Length: %zu\r\n\r\n", body_size);
    if (body) memcpy(k->request + h, body, body_size);
    k->size = (size_t)h + body_size;
    snprintf(k->name, sizeof k->name, "%s %s", f[0], f[1]);
    free(body);
    total_weight += k->weight;
    nkinds++;
}

static int connect_one(int ep, int i)
{
    conn *c = &conns[i];
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    /* idle: only a close by the server is of interest (EPOLLOUT, level-triggered on an idle
     * socket, would make epoll_wait return at once and the generator spin a whole core) */
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->busy = 0;
    c->in_len = 0;
    return 0;
}

static void reconnect(int ep, int i)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, conns[i].fd, NULL);
    close(conns[i].fd);
    connect_one(ep, i);
}

static unsigned pick_counter;
static int pick_kind(void)
{
    unsigned w = pick_counter++ % (unsigned)total_weight;
    for (int k = 0; k < nkinds; k++) {
        if (w < (unsigned)kinds[k].weight) return k;
        w -= (unsigned)kinds[k].weight;
    }
    return 0;
}

static void start_request(int ep, int i, double due)
{
    conn *c = &conns[i];
    c->busy = 1;
    c->kind = pick_kind();
    c->due = due;
    c->sent = 0;
    c->in_len = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Length of a complete response in c->in, 0 if incomplete, -1 if malformed; *status set. */
static long response_length(conn *c, int *status)
{
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return c->in_len > 65536 ? -1 : 0;
    if (c->in_len < 12 || memcmp(c->in, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(c->in + 9);
    size_t head = (size_t)(end - c->in) + 4;
    long body = -1;
    for (char *p = c->in; p < end;) {
        char *nl = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!nl) nl = end;
        if (strncasecmp(p, "Content-Length:", 15) == 0) body = strtol(p + 15, NULL, 10);
        p = nl + 2;
    }
    if (body < 0) return -1;
    return c->in_len >= head + (size_t)body ? (long)(head + (size_t)body) : 0;
}

int main(int argc, char **argv)
{
    const char *host = NULL, *label = "run";
    char headers[MAX_HEADERS][256];
    int nheaders = 0, pid = 0;
    double duration = 10, warmup = 1, rate = 0, interval = 0;
    const char *reqs[MAX_KINDS];
    int nreqs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("an option lacks its value");
        char *end = NULL;
        if (!strcmp(a, "--target")) host = v;
        else if (!strcmp(a, "--header") && nheaders < MAX_HEADERS) snprintf(headers[nheaders++], 256, "%s", v);
        else if (!strcmp(a, "--req") && nreqs < MAX_KINDS) reqs[nreqs++] = v;
        else if (!strcmp(a, "--connections")) nconns = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--duration")) duration = strtod(v, &end);
        else if (!strcmp(a, "--warmup")) warmup = strtod(v, &end);
        else if (!strcmp(a, "--rate")) rate = strtod(v, &end);
        else if (!strcmp(a, "--interval")) interval = strtod(v, &end);
        else if (!strcmp(a, "--pid")) pid = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--label")) label = v;
        else die("unknown option (see the comment at the top of loadgen.c)");
        if (end && *end) die("a number option has a bad value");
        i++;
    }
    if (!host || !nreqs) die("--target and at least one --req are needed");
    if (nconns < 1 || nconns > MAX_CONNS || duration <= 0 || warmup < 0 || rate < 0) die("bad numbers");
    char hbuf[128];
    snprintf(hbuf, sizeof hbuf, "%s", host);
    char *colon = strrchr(hbuf, ':');
    if (!colon) die("--target is HOST:PORT");
    *colon = 0;
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, hbuf, &target.sin_addr) != 1) die("--target wants a numeric IPv4 address");
    for (int i = 0; i < nreqs; i++) add_kind(reqs[i], headers, nheaders, host);

    int ep = epoll_create1(0);
    /* open loop: a timer at the next due time wakes epoll_wait to the microsecond (its own
     * millisecond timeout would either start requests late or spin through the last ms) */
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (ep < 0 || tfd < 0) die("epoll or timerfd");
    struct epoll_event tev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);
    for (int i = 0; i < nconns; i++)
        if (connect_one(ep, i)) die("cannot connect");
    long rss0 = rss_kb(pid);
    double t0 = now_s(), t_measure = t0 + warmup, t_end = t_measure + duration;
    double next_due = t0, next_report = t_measure + interval;
    long queued = 0; /* due requests waiting for a connection (open loop) */
    double *queue_due = NULL;
    size_t qcap = 0, qhead = 0;
    int measuring = 0;
    for (;;) {
        double t = now_s();
        if (!measuring && t >= t_measure) {
            measuring = 1;
            rss0 = rss_kb(pid);
        }
        if (t >= t_end) break;
        if (interval > 0 && t >= next_report) {
            printf("{\"label\":\"%s\",\"t\":%.0f,\"requests\":%zu,\"p50_ms\":%.2f,\"p99_ms\":%.2f,"
                   "\"errors\":%ld,\"rss_kb\":%ld}\n", label, t - t_measure, lat_window.n,
                   pct(&lat_window, 50) * 1e3, pct(&lat_window, 99) * 1e3, errors_window,
                   rss_kb(pid));
            fflush(stdout);
            lat_window.n = 0;
            errors_window = 0;
            next_report += interval;
        }
        /* issue what is due */
        if (rate > 0) {
            while (next_due <= t) {
                if ((size_t)queued + qhead >= qcap) {
                    qcap = qcap ? qcap * 2 : 1024;
                    queue_due = realloc(queue_due, qcap * sizeof *queue_due);
                    if (!queue_due) die("out of memory");
                }
                queue_due[qhead + (size_t)queued++] = next_due;
                next_due += 1.0 / rate;
            }
            for (int i = 0; i < nconns && queued; i++) {
                if (conns[i].busy || conns[i].fd < 0) continue;
                start_request(ep, i, queue_due[qhead++]);
                queued--;
            }
            if (!queued) qhead = 0;
        } else {
            for (int i = 0; i < nconns; i++)
                if (!conns[i].busy && conns[i].fd >= 0) start_request(ep, i, t);
        }
        if (rate > 0) {
            struct itimerspec its = {{0, 0}, {0, 0}};
            its.it_value.tv_sec = (time_t)next_due;
            its.it_value.tv_nsec = (long)((next_due - (double)its.it_value.tv_sec) * 1e9);
            if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        }
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 50);
        for (int e = 0; e < n; e++) {
            if (evs[e].data.u32 == UINT32_MAX) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN) die("timerfd read");
                continue;
            }
            int i = (int)evs[e].data.u32;
            conn *c = &conns[i];
            if (evs[e].events & (EPOLLERR | EPOLLHUP) && !(evs[e].events & EPOLLIN)) {
                if (c->busy && measuring) errors++, errors_window++;
                reconnect(ep, i);
                continue;
            }
            if (!c->busy) {
                if (evs[e].events & EPOLLIN) { /* the server closed an idle connection */
                    char tmp[256];
                    if (read(c->fd, tmp, sizeof tmp) <= 0) reconnect(ep, i);
                }
                continue;
            }
            kind *k = &kinds[c->kind];
            if ((evs[e].events & EPOLLOUT) && c->sent < k->size) {
                ssize_t w = write(c->fd, k->request + c->sent, k->size - c->sent);
                if (w > 0) c->sent += (size_t)w;
                if (c->sent == k->size) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (evs[e].events & EPOLLIN) {
                if (c->in_cap - c->in_len < 65536) {
                    c->in_cap = c->in_cap * 2 + 65536;
                    c->in = realloc(c->in, c->in_cap);
                    if (!c->in) die("out of memory");
                }
                ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
                if (r <= 0) {
                    if (measuring) errors++, errors_window++;
                    reconnect(ep, i);
                    continue;
                }
                c->in_len += (size_t)r;
                int status = 0;
                long len = response_length(c, &status);
                if (len == 0) continue;
                double lat = now_s() - c->due;
                c->busy = 0;
                if (len < 0 || status < 200 || status > 299) {
                    if (measuring) errors++, errors_window++;
                    if (len < 0) {
                        reconnect(ep, i);
                        continue;
                    }
                }
                if (measuring) {
                    if (status >= 100 && status < 600) status_count[status / 100]++;
                    if (status >= 200 && status <= 299) {
                        push(&lat_all, lat);
                        push(&lat_kind[c->kind], lat);
                        push(&lat_window, lat);
                    }
                    completed++;
                }
                c->in_len = 0;
            }
        }
    }
    double elapsed = now_s() - t_measure;
    long rss1 = rss_kb(pid);
    printf("{\"label\":\"%s\",\"mode\":\"%s\",\"connections\":%d,\"rate\":%.1f,\"seconds\":%.1f,"
           "\"completed\":%ld,\"throughput\":%.1f,\"errors\":%ld,\"status_2xx\":%ld,"
           "\"status_4xx\":%ld,\"status_5xx\":%ld,\"p50_ms\":%.2f,\"p90_ms\":%.2f,"
           "\"p99_ms\":%.2f,\"p999_ms\":%.2f,\"max_ms\":%.2f,\"rss_start_kb\":%ld,"
           "\"rss_end_kb\":%ld",
           label, rate > 0 ? "open" : "closed", nconns, rate, elapsed, completed,
           (double)lat_all.n / elapsed, errors, status_count[2], status_count[4],
           status_count[5], pct(&lat_all, 50) * 1e3, pct(&lat_all, 90) * 1e3,
           pct(&lat_all, 99) * 1e3, pct(&lat_all, 99.9) * 1e3, pct(&lat_all, 100) * 1e3, rss0,
           rss1);
    if (nkinds > 1) {
        printf(",\"kinds\":[");
        for (int k = 0; k < nkinds; k++)
            printf("%s{\"name\":\"%s\",\"n\":%zu,\"p50_ms\":%.2f,\"p99_ms\":%.2f}", k ? "," : "",
                   kinds[k].name, lat_kind[k].n, pct(&lat_kind[k], 50) * 1e3,
                   pct(&lat_kind[k], 99) * 1e3);
        printf("]");
    }
    printf("}\n");
    return 0;
}
