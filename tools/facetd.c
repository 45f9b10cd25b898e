/*
 * facetd.c - the recognition server's command: settings, start, signals, stop.
 *
 * Signals are blocked in every thread (they are blocked before any thread starts, and threads
 * inherit the mask) and taken synchronously here with sigwait, so no handler runs inside
 * libmicrohttpd or libfacet: SIGHUP reopens the log file (for logrotate), SIGTERM and SIGINT
 * stop accepting, let requests in flight finish for at most --shutdown-timeout seconds, and
 * exit 0. The whole server lives in src/server (server.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server.h"

int main(int argc, char **argv)
{
    srv_config cfg;
    char err[1024] = "";
    int print_routes = 0;
    int rc = srv_config_load(&cfg, argc, argv, &print_routes, err, sizeof err);
    if (rc > 0) return 0;
    if (rc < 0) {
        fprintf(stderr, "facetd: %s\n", err);
        return 2;
    }
    srv *s = NULL;
    if (print_routes == 2) {
        char *desc = srv_config_describe(&cfg);
        fputs(desc ? desc : "", stdout);
        free(desc);
        return 0;
    }
    if (print_routes) {
        if (srv_create(&cfg, 0, &s, err, sizeof err)) {
            fprintf(stderr, "facetd: %s\n", err);
            return 1;
        }
        for (size_t i = 0; i < srv_route_count(s); i++) {
            const srv_route *r = srv_route_at(s, i);
            printf("%-6s %-48s %s\n", r->method, r->pattern, srv_role_name(r->role));
        }
        srv_destroy(s);
        return 0;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (srv_create(&cfg, 1, &s, err, sizeof err)) {
        fprintf(stderr, "facetd: %s\n", err);
        return 1;
    }
    char *desc = srv_config_describe(&cfg);
    for (char *line = desc, *nl; line && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) break;
        *nl = 0;
        srv_log(s, "info", "setting %s", line);
    }
    free(desc);
    if (!cfg.admin_key[0])
        srv_log(s, "warn", "no admin key (FACET_ADMIN_KEY or --admin-key-file): only stored keys work");
    if (cfg.test_recognize_delay_ms > 0)
        srv_log(s, "warn", "test setting: every recognize answer is delayed by %d ms (--test-recognize-delay-ms; "
                "not for production)", cfg.test_recognize_delay_ms);
    int port = 0;
    if (srv_start(s, &port, err, sizeof err)) {
        srv_log(s, "error", "%s", err);
        srv_destroy(s);
        return 1;
    }
    srv_log(s, "info", "facetd %s listening on %s (port %d, %s)", facet_version(), cfg.listen, port,
            cfg.tls_cert[0] ? "https" : "http");

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig)) continue;
        if (sig == SIGHUP) {
            if (srv_reopen_log(s)) srv_log(s, "error", "SIGHUP: cannot reopen %s", cfg.log_file);
            else srv_log(s, "info", "SIGHUP: log file reopened");
            continue;
        }
        srv_log(s, "info", "%s: stopping (waiting up to %d s for %d requests in flight)",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg.shutdown_timeout_s, srv_in_flight(s));
        int left = srv_stop(s);
        if (left) {
            /* work still running cannot be interrupted; the process ends under it */
            srv_log(s, "warn", "stopped with %d requests unfinished after %d s", left, cfg.shutdown_timeout_s);
            _exit(0);
        }
        srv_log(s, "info", "stopped");
        srv_destroy(s);
        return 0;
    }
}
