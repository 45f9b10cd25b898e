/*
 * slowdown.c - simulated tracks against a real facetd (bench/watch/run.sh), public API only.
 *
 *   slowdown URL KEY COLLECTION TRACKS SECONDS IMAGE...
 *
 * Every face of the IMAGEs becomes an aligned 112x112 chip (the SDK's detector and alignment,
 * as facet watch makes them); track i sends chip i mod chips. Each track is one thread running
 * the real scheduler (facet_schedule, SAFR's defaults) against the real HTTP client
 * (facet_recognizer_remote): it sleeps until facet_schedule_next, sends, and hands the answer
 * or the failure back to its schedule, for SECONDS. One thread per track means the client
 * never caps the request rate: any fall in answers per second comes from the server's time and
 * the schedule's waits, which is what the slowdown table measures.
 *
 * Prints one JSON line: answers per second, round trip mean/p50/p99 (ms), the server's own
 * time (server_ms), errors, per-track answer counts (min, max) and the longest wait between a
 * track's answers, and how many tracks ended locked or as strangers.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facet/facet.h"

#define MAX_TRACKS 256
#define MAX_ANSWERS 100000

typedef struct track {
    pthread_t th;
    facet_schedule sched;
    const facet_image *chip;
    long answers, errors;
    double max_gap, last_answer;
    double rtt_sum, server_sum;
    float *rtts;
    long n_rtts;
} track;

static facet_recognizer *rec;
static double t_end;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double when)
{
    double d = when - mono();
    if (d <= 0) return;
    struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
}

static void *track_main(void *arg)
{
    track *t = arg;
    for (;;) {
        double next = facet_schedule_next(&t->sched);
        if (next >= t_end) break;
        sleep_until(next);
        double now = mono();
        if (now >= t_end) break;
        facet_schedule_sent(&t->sched, now);
        facet_recognition ans;
        int rc = facet_recognize_chip(rec, t->chip, &ans);
        now = mono();
        if (rc) {
            t->errors++;
            facet_schedule_failed(&t->sched, now);
            continue;
        }
        facet_schedule_answer(&t->sched, now, ans.found ? ans.identity : NULL, ans.similarity);
        if (t->last_answer > 0 && now - t->last_answer > t->max_gap) t->max_gap = now - t->last_answer;
        t->last_answer = now;
        t->answers++;
        t->rtt_sum += ans.rtt_ms;
        t->server_sum += ans.server_ms;
        if (t->n_rtts < MAX_ANSWERS) t->rtts[t->n_rtts++] = (float)ans.rtt_ms;
    }
    return NULL;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* A number argument that must parse completely (facet_parse_double: a typo is an error). */
static double number(const char *s, const char *what, double lo, double hi)
{
    double v;
    if (facet_parse_double(s, lo, hi, &v)) {
        fprintf(stderr, "slowdown: %s must be a number from %g to %g, not '%s'\n", what, lo, hi, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: slowdown URL KEY COLLECTION TRACKS SECONDS IMAGE...\n");
        return 2;
    }
    long n_tracks_l;
    if (facet_parse_long(argv[4], 1, MAX_TRACKS, &n_tracks_l)) {
        fprintf(stderr, "slowdown: TRACKS must be an integer from 1 to %d, not '%s'\n", MAX_TRACKS, argv[4]);
        return 2;
    }
    int n_tracks = (int)n_tracks_l;
    double seconds = number(argv[5], "SECONDS", 0.1, 3600);
    facet_sdk *sdk;
    if (facet_sdk_create(NULL, &sdk)) {
        fprintf(stderr, "slowdown: %s\n", facet_last_error());
        return 1;
    }
    facet_image *chips[MAX_TRACKS];
    int n_chips = 0;
    for (int a = 6; a < argc && n_chips < MAX_TRACKS; a++) {
        facet_image *img;
        facet_face *faces;
        int n;
        if (facet_image_decode_file(argv[a], NULL, &img) || facet_detect_faces(sdk, img, &faces, &n)) {
            fprintf(stderr, "slowdown: %s: %s\n", argv[a], facet_last_error());
            return 1;
        }
        for (int i = 0; i < n && n_chips < MAX_TRACKS; i++)
            if (facet_extract_aligned_face(sdk, img, &faces[i], &chips[n_chips]) == FACET_OK) n_chips++;
        facet_free(faces);
        facet_image_destroy(img);
    }
    if (n_chips == 0) {
        fprintf(stderr, "slowdown: no face in the images\n");
        return 1;
    }
    if (facet_recognizer_remote(argv[1], argv[2], argv[3], -1, 30, &rec)) {
        fprintf(stderr, "slowdown: %s\n", facet_last_error());
        return 1;
    }
    track *tracks = calloc((size_t)n_tracks, sizeof *tracks);
    if (!tracks) return 1;
    double t0 = mono();
    t_end = t0 + seconds;
    int started = 0;
    for (int i = 0; i < n_tracks; i++) {
        track *t = &tracks[i];
        t->chip = chips[i % n_chips];
        t->rtts = malloc(MAX_ANSWERS * sizeof *t->rtts);
        facet_schedule_init(&t->sched, NULL, t0);
        if (!t->rtts || pthread_create(&t->th, NULL, track_main, t)) break;
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(tracks[i].th, NULL);
    if (started < n_tracks) {
        fprintf(stderr, "slowdown: could not start %d threads\n", n_tracks);
        return 1;
    }
    double wall = mono() - t0;

    long answers = 0, errors = 0, min_a = -1, max_a = 0, n_all = 0;
    int locked = 0, strangers = 0;
    double rtt = 0, server = 0, max_gap = 0;
    for (int i = 0; i < n_tracks; i++) n_all += tracks[i].n_rtts;
    float *all = malloc((size_t)(n_all + 1) * sizeof *all);
    if (!all) return 1;
    n_all = 0;
    for (int i = 0; i < n_tracks; i++) {
        track *t = &tracks[i];
        answers += t->answers;
        errors += t->errors;
        rtt += t->rtt_sum;
        server += t->server_sum;
        if (min_a < 0 || t->answers < min_a) min_a = t->answers;
        if (t->answers > max_a) max_a = t->answers;
        if (t->max_gap > max_gap) max_gap = t->max_gap;
        locked += t->sched.locked;
        strangers += t->sched.stranger;
        memcpy(all + n_all, t->rtts, (size_t)t->n_rtts * sizeof *all);
        n_all += t->n_rtts;
        free(t->rtts);
    }
    qsort(all, (size_t)n_all, sizeof *all, cmp_float);
    printf("{\"tracks\":%d,\"chips\":%d,\"seconds\":%.2f,\"answers\":%ld,\"rps\":%.2f,\"errors\":%ld,"
           "\"rtt_ms_mean\":%.1f,\"rtt_ms_p50\":%.1f,\"rtt_ms_p99\":%.1f,\"server_ms_mean\":%.1f,"
           "\"track_answers_min\":%ld,\"track_answers_max\":%ld,\"max_gap_s\":%.2f,\"locked\":%d,\"strangers\":%d}\n",
           n_tracks, n_chips, wall, answers, answers / wall, errors, answers ? rtt / answers : 0,
           n_all ? all[(n_all - 1) / 2] : 0, n_all ? all[(long)((n_all - 1) * 0.99)] : 0,
           answers ? server / answers : 0, min_a, max_a, max_gap, locked, strangers);
    free(all);
    free(tracks);
    facet_recognizer_destroy(rec);
    for (int i = 0; i < n_chips; i++) facet_image_destroy(chips[i]);
    facet_sdk_destroy(sdk);
    return 0;
}
