/*
 * prep.c - the SDK side of the server benchmark (bench/server/run.sh), public API only.
 *
 *   prep fill URL COLLECTION N PHOTO OUTDIR
 *       Creates COLLECTION in the store at URL with N faceprints: the real faceprint of the
 *       largest face of PHOTO (identity "probe-person", so requests have a true match) and
 *       N - 1 random unit vectors (4 per identity), enrolled in batches of 10,000. Writes
 *       OUTDIR/chip.png, that face's aligned 112x112 chip, the body of `recognize` requests.
 *   prep sdk URL COLLECTION CHIP_PNG JPEG SECONDS [recognize|identify]
 *       The same work the server does for one request, in process and single-threaded, timed
 *       per call for SECONDS each (after a warm-up): "recognize" = decode the chip + faceprint
 *       + best match; "identify" = decode the JPEG + detect every face + faceprint and best
 *       match of each. One JSON line per kind with p50/p99 in ms: the baseline that the HTTP
 *       figures are compared with (their difference is HTTP + JSON + queueing).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facet/facet.h"

static void die(const char *what)
{
    fprintf(stderr, "prep: %s: %s\n", what, facet_last_error());
    exit(1);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static float frand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((double)(rs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = n > 0 ? malloc((size_t)n) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return b;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int fill(int argc, char **argv)
{
    if (argc != 7 && argc != 8) return 2;
    const char *only = argc == 8 ? argv[7] : NULL; /* recognize or identify; both without */
    if (only && strcmp(only, "recognize") && strcmp(only, "identify")) return 2;
    const char *url = argv[2], *coll = argv[3], *photo = argv[5], *outdir = argv[6];
    char *end;
    long n = strtol(argv[4], &end, 10);
    if (*end || n < 1 || n > 100000000) {
        fprintf(stderr, "prep: N must be 1..100000000\n");
        return 2;
    }
    facet_sdk *sdk = NULL;
    if (facet_sdk_create(NULL, &sdk)) die("sdk");
    facet_image *img = NULL, *chip = NULL;
    facet_face face;
    facet_faceprint fp;
    char path[1024];
    if (facet_image_decode_file(photo, NULL, &img)) die(photo);
    if (facet_detect_largest_face(sdk, img, &face)) die("no face in the photo");
    if (facet_extract_aligned_face(sdk, img, &face, &chip)) die("align");
    snprintf(path, sizeof path, "%s/chip.png", outdir);
    if (facet_image_write_png(chip, path)) die(path);
    if (facet_faceprint_from_chip(sdk, chip, &fp)) die("faceprint");
    facet_gallery *g = NULL;
    if (facet_gallery_open(url, NULL, &g)) die(url);
    facet_collection_drop(g, coll);
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = fp.model;
    cs.dim = fp.dim;
    if (facet_collection_create(g, coll, &cs)) die("create collection");
    char uuid[FACET_UUID_SIZE];
    if (facet_gallery_enroll(g, coll, fp.model, fp.v, fp.dim, "probe-person", NULL, 0, uuid))
        die("enrol");
    enum { B = 10000 };
    float *v = malloc((size_t)B * (size_t)fp.dim * sizeof *v);
    char (*names)[24] = malloc(B * sizeof *names);
    const char **ids = malloc(B * sizeof *ids);
    if (!v || !names || !ids) die("memory");
    double t0 = now_ms();
    for (long done = 1; done < n;) {
        long k = n - done < B ? n - done : B;
        for (long i = 0; i < k; i++) {
            float *x = v + (size_t)i * (size_t)fp.dim;
            double nn = 0;
            for (int d = 0; d < fp.dim; d++) {
                x[d] = frand();
                nn += (double)x[d] * x[d];
            }
            for (int d = 0; d < fp.dim; d++) x[d] = (float)(x[d] / sqrt(nn));
            snprintf(names[i], sizeof names[i], "id%07ld", (done + i) / 4);
            ids[i] = names[i];
        }
        if (facet_gallery_enroll_batch(g, coll, fp.model, v, (size_t)k, fp.dim, ids, NULL))
            die("enrol batch");
        done += k;
    }
    fprintf(stderr, "prep: %ld faceprints in '%s' (%.1f s)\n", n, coll, (now_ms() - t0) / 1e3);
    free(v);
    free(names);
    free(ids);
    facet_gallery_destroy(g);
    facet_image_destroy(chip);
    facet_image_destroy(img);
    facet_sdk_destroy(sdk);
    return 0;
}

typedef struct work {
    facet_sdk *sdk;
    facet_gallery *g;
    const char *coll;
    const unsigned char *data;
    size_t size;
    int faces; /* faces matched in the last call */
} work;

static int do_recognize(work *w)
{
    facet_image *chip = NULL;
    facet_faceprint fp;
    facet_match m;
    int found = 0;
    int st = facet_image_decode_memory(w->data, w->size, NULL, &chip);
    if (!st) st = facet_faceprint_from_chip(w->sdk, chip, &fp);
    if (!st) st = facet_gallery_identify(w->g, w->coll, fp.model, fp.v, fp.dim, 0.0f, &m, &found);
    facet_image_destroy(chip);
    w->faces = found;
    return st;
}

static int do_identify(work *w)
{
    facet_image *img = NULL;
    facet_face *faces = NULL;
    int n = 0;
    int st = facet_image_decode_memory(w->data, w->size, NULL, &img);
    if (!st) st = facet_detect_faces(w->sdk, img, &faces, &n);
    w->faces = 0;
    for (int i = 0; !st && i < n; i++) {
        facet_faceprint fp;
        facet_match m;
        int found = 0;
        st = facet_faceprint_extract(w->sdk, img, &faces[i], &fp);
        if (!st) st = facet_gallery_identify(w->g, w->coll, fp.model, fp.v, fp.dim, 0.0f, &m, &found);
        w->faces += found;
    }
    facet_free(faces);
    facet_image_destroy(img);
    return st;
}

static void time_it(const char *name, int (*fn)(work *), work *w, double seconds)
{
    for (int i = 0; i < 5; i++)
        if (fn(w)) die(name);
    size_t cap = 1 << 16, n = 0;
    double *t = malloc(cap * sizeof *t);
    double start = now_ms();
    while (n < cap && now_ms() - start < seconds * 1e3) {
        double t0 = now_ms();
        if (fn(w)) die(name);
        t[n++] = now_ms() - t0;
    }
    qsort(t, n, sizeof *t, cmp_d);
    printf("{\"sdk\":\"%s\",\"calls\":%zu,\"faces\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"mean_ms\":%.3f}\n", name, n, w->faces, t[n / 2], t[(size_t)((double)n * 0.99)],
           (now_ms() - start) / (double)n);
    free(t);
}

static int sdk_time(int argc, char **argv)
{
    if (argc != 7 && argc != 8) return 2;
    const char *only = argc == 8 ? argv[7] : NULL; /* recognize or identify; both without */
    if (only && strcmp(only, "recognize") && strcmp(only, "identify")) return 2;
    char *end;
    double seconds = strtod(argv[6], &end);
    if (*end || seconds <= 0) return 2;
    work w = {.coll = argv[3]};
    if (facet_sdk_create(NULL, &w.sdk)) die("sdk");
    facet_gallery_settings gs;
    facet_gallery_defaults(&gs);
    if (facet_gallery_open(argv[2], &gs, &w.g)) die(argv[2]);
    if (facet_collection_load(w.g, w.coll, NULL)) die("load");
    unsigned char *chip = read_file(argv[4], &w.size);
    if (!chip) die(argv[4]);
    w.data = chip;
    if (!only || !strcmp(only, "recognize")) time_it("recognize", do_recognize, &w, seconds);
    size_t jsize;
    unsigned char *jpeg = read_file(argv[5], &jsize);
    if (!jpeg) die(argv[5]);
    w.data = jpeg;
    w.size = jsize;
    if (!only || !strcmp(only, "identify")) time_it("identify", do_identify, &w, seconds);
    free(chip);
    free(jpeg);
    facet_gallery_destroy(w.g);
    facet_sdk_destroy(w.sdk);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 2;
    if (argc > 1 && strcmp(argv[1], "fill") == 0) rc = fill(argc, argv);
    else if (argc > 1 && strcmp(argv[1], "sdk") == 0) rc = sdk_time(argc, argv);
    if (rc == 2) fprintf(stderr, "usage: see the comment at the top of bench/server/prep.c\n");
    return rc;
}
