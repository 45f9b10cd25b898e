/*
 * bench_pipeline.c - image to faceprint, stage by stage, through the public API, and face
 * detection on real HD video frames.
 *
 *   bench_pipeline [DATA_DIR] [RUNS] [FRAMES_DIR]
 *
 * Every figure is the median of RUNS timed calls after 3 warm-up calls, and every call's
 * status is checked inside the timed loop (a failing call stops the benchmark: a fast error is
 * not a fast stage). Each stage is timed on its own call, never as a difference of medians:
 *   - a 640x480 JPEG with one face, made in memory from DATA_DIR/images/obama.jpg (cropped to
 *     4:3, resized, encoded at quality 90): decode, detect (boxes only: network, anchors,
 *     NMS), landmarks, align, embed;
 *   - 1920x1080 frames of DATA_DIR/video/crowd.mp4 (PNG files in FRAMES_DIR, which
 *     bench/pipeline/run.sh fills with the ffmpeg command line), each frame in turn: detect
 *     (boxes only), and detect with every face's landmarks (facet_detect_faces as shipped);
 *   - JPEG to faceprint with 1 and with 2 threads sharing one SDK handle: the median time of
 *     one image per thread, and the faces per second that gives.
 * Trueface's published CPU figures are printed beside ours for reference (their hardware).
 *
 * Reproduce: make bench-pipeline   (or: bench/pipeline/run.sh BUILD_DIR [DATA_DIR])
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>

#include "facet/facet.h"

#define WARMUP 3
#define MAX_FRAMES 64

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Stops the benchmark on a failed call: its time would be meaningless. */
static void must(int rc, const char *what)
{
    if (rc == 0) return;
    fprintf(stderr, "bench_pipeline: %s failed: %s (%s)\n", what, facet_last_error(),
            facet_status_str(rc));
    exit(1);
}

static uint8_t *encode_jpeg(const facet_image *im, size_t *size)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    unsigned char *buf = NULL;
    unsigned long n = 0;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &n);
    c.image_width = (JDIMENSION)im->width;
    c.image_height = (JDIMENSION)im->height;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = im->data + (size_t)c.next_scanline * (size_t)im->stride;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *size = n;
    return buf;
}

/* The source photo cropped to w:h around its centre, then resized to w x h. */
static facet_image *frame_of(const facet_image *src, int w, int h)
{
    int cw = src->width, ch = src->width * h / w;
    if (ch > src->height) ch = src->height, cw = src->height * w / h;
    facet_image *crop = NULL, *out = NULL;
    must(facet_image_crop(src, (src->width - cw) / 2, (src->height - ch) / 4, cw, ch, &crop),
         "crop");
    must(facet_image_resize(crop, w, h, &out), "resize");
    facet_image_destroy(crop);
    return out;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The frames' PNG files in FRAMES_DIR, decoded, in name order. */
static int load_frames(const char *dir, facet_image **frames)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    char *names[MAX_FRAMES];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < MAX_FRAMES;) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".png")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        must(facet_image_decode_file(path, NULL, &frames[i]), path);
        free(names[i]);
    }
    return n;
}

/* Median of `runs` timed detections after the warm-up, cycling through the frames. */
static double time_detect(facet_sdk *sdk, facet_image **frames, int nframes, int runs,
                          double *faces_per_frame)
{
    double *t = malloc(sizeof(double) * (size_t)runs);
    long faces = 0;
    for (int i = -WARMUP; i < runs; i++) {
        const facet_image *img = frames[(i + WARMUP) % nframes];
        facet_face *f = NULL;
        int n = 0;
        double t0 = now_ms();
        int rc = facet_detect_faces(sdk, img, &f, &n);
        double t1 = now_ms();
        must(rc, "detect");
        facet_free(f);
        if (i >= 0) t[i] = t1 - t0, faces += n;
    }
    double m = median(t, runs);
    free(t);
    *faces_per_frame = (double)faces / runs;
    return m;
}

typedef struct worker {
    facet_sdk *sdk;
    const uint8_t *jpg;
    size_t size;
    int runs;
    double *t;      /* per-image milliseconds */
    long faces;
    pthread_barrier_t *go;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->go);
    for (int i = -WARMUP; i < w->runs; i++) {
        double t0 = now_ms();
        facet_image *img = NULL;
        facet_face *f = NULL;
        int n = 0;
        must(facet_image_decode_memory(w->jpg, w->size, NULL, &img), "decode");
        must(facet_detect_faces(w->sdk, img, &f, &n), "detect");
        for (int k = 0; k < n; k++) {
            facet_faceprint fp;
            must(facet_faceprint_extract(w->sdk, img, &f[k], &fp), "faceprint");
        }
        facet_free(f);
        facet_image_destroy(img);
        if (i >= 0) w->t[i] = now_ms() - t0, w->faces += n;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *data = argc > 1 ? argv[1] : "../shared/data";
    int runs = argc > 2 ? atoi(argv[2]) : 60;
    const char *frames_dir = argc > 3 ? argv[3] : NULL;
    if (runs < 1) {
        fprintf(stderr, "bench_pipeline: RUNS must be a positive number\n");
        return 2;
    }
    char path[2048];
    snprintf(path, sizeof path, "%s/images/obama.jpg", data);
    facet_image *photo;
    must(facet_image_decode_file(path, NULL, &photo), path);
    facet_image *vga = frame_of(photo, 640, 480);
    size_t jsize;
    uint8_t *jpg = encode_jpeg(vga, &jsize);

    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    set.num_threads = 1;
    set.preload = FACET_MODULE_DETECT | FACET_MODULE_LANDMARK | FACET_MODULE_FEATURE;
    facet_sdk *sdk, *boxes;
    must(facet_sdk_create(&set, &sdk), "sdk");
    facet_sdk_settings bset = set;
    bset.boxes_only = 1;
    must(facet_sdk_create(&bset, &boxes), "sdk (boxes only)");

    double *t[5];
    for (int k = 0; k < 5; k++) t[k] = calloc((size_t)runs, sizeof(double));
    int faces_seen = 0;
    for (int it = -WARMUP; it < runs; it++) {
        facet_image *img = NULL, *chip = NULL;
        facet_face *f = NULL;
        facet_faceprint fp;
        int n = 0;
        double t0 = now_ms();
        int rc = facet_image_decode_memory(jpg, jsize, NULL, &img);
        double t1 = now_ms();
        must(rc, "decode");
        rc = facet_detect_faces(boxes, img, &f, &n);
        double t2 = now_ms();
        must(rc, "detect");
        if (n < 1) {
            fprintf(stderr, "bench_pipeline: no face in the test frame\n");
            return 1;
        }
        facet_face face = f[0];
        faces_seen = n;
        rc = facet_face_landmarks(sdk, img, &face);
        double t3 = now_ms();
        must(rc, "landmarks");
        rc = facet_extract_aligned_face(sdk, img, &face, &chip);
        double t4 = now_ms();
        must(rc, "align");
        rc = facet_faceprint_from_chip(sdk, chip, &fp);
        double t5 = now_ms();
        must(rc, "embed");
        if (it >= 0) {
            t[0][it] = t1 - t0;
            t[1][it] = t2 - t1;
            t[2][it] = t3 - t2;
            t[3][it] = t4 - t3;
            t[4][it] = t5 - t4;
        }
        facet_free(f);
        facet_image_destroy(chip);
        facet_image_destroy(img);
    }
    double dec = median(t[0], runs), det = median(t[1], runs), lm = median(t[2], runs);
    double al = median(t[3], runs), emb = median(t[4], runs);
    printf("pipeline, 640x480 JPEG (%zu bytes) with %d face, 1 thread, median of %d runs after "
           "%d warm-up (CPU: %s)\n\n",
           jsize, faces_seen, runs, WARMUP, facet_cpu_features());
    printf("| stage | facet ms | Trueface (published, their CPU) |\n|---|---|---|\n");
    printf("| decode | %.2f | |\n| detect (network, anchors, NMS; boxes only) | %.2f | |\n", dec,
           det);
    printf("| landmarks (68) | %.2f | |\n| align (112x112) | %.2f | |\n", lm, al);
    printf("| embed (512-d faceprint) | %.2f | 3.2 to 67 ms, by model |\n", emb);
    printf("| **sum of the stage medians** | **%.2f** | |\n\n", dec + det + lm + al + emb);

    static facet_image *frames[MAX_FRAMES];
    int nframes = frames_dir ? load_frames(frames_dir, frames) : 0;
    if (nframes > 0) {
        double fb, fl;
        double hd_boxes = time_detect(boxes, frames, nframes, runs, &fb);
        double hd_full = time_detect(sdk, frames, nframes, runs, &fl);
        printf("detection on %d frames of crowd.mp4 (%dx%d), 1 thread, median of %d calls after "
               "%d warm-up, cycling through the frames\n\n",
               nframes, frames[0]->width, frames[0]->height, runs, WARMUP);
        printf("| call | facet ms | faces per frame | Trueface (published) |\n|---|---|---|---|\n");
        printf("| detect (boxes only) | %.2f | %.1f | 7.9 ms (1280x720, their CPU) |\n", hd_boxes,
               fb);
        printf("| detect + 68 landmarks per face | %.2f | %.1f | |\n\n", hd_full, fl);
        for (int i = 0; i < nframes; i++) facet_image_destroy(frames[i]);
    } else {
        printf("(no HD frames: run bench/pipeline/run.sh, which extracts them with ffmpeg)\n\n");
    }

    for (int threads = 1; threads <= 2; threads++) {
        worker w[2];
        pthread_t th[2];
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, (unsigned)threads);
        facet_sdk *shared;
        must(facet_sdk_create(&set, &shared), "sdk");
        for (int i = 0; i < threads; i++) {
            w[i] = (worker){shared, jpg, jsize, runs, calloc((size_t)runs, sizeof(double)), 0, &go};
            pthread_create(&th[i], NULL, work, &w[i]);
        }
        double all[2 * 4096];
        int na = 0;
        long faces = 0;
        for (int i = 0; i < threads; i++) {
            pthread_join(th[i], NULL);
            for (int r = 0; r < runs && na < (int)(sizeof all / sizeof all[0]); r++)
                all[na++] = w[i].t[r];
            faces += w[i].faces;
            free(w[i].t);
        }
        double m = median(all, na);
        printf("JPEG to faceprint, %d thread%s sharing one SDK: median %.2f ms per image, "
               "%.0f faces per second\n",
               threads, threads > 1 ? "s" : "", m, (double)faces / na * threads * 1000.0 / m);
        facet_sdk_destroy(shared);
        pthread_barrier_destroy(&go);
    }
    printf("\nreproduce: make bench-pipeline\n");
    for (int k = 0; k < 5; k++) free(t[k]);
    free(jpg);
    facet_image_destroy(vga);
    facet_image_destroy(photo);
    facet_sdk_destroy(boxes);
    facet_sdk_destroy(sdk);
    return 0;
}
