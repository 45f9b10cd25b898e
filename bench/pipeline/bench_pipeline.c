/*
 * bench_pipeline.c - image to faceprint, stage by stage, through the public API.
 *
 * Input: a 640x480 JPEG with one face, made in memory from ../shared/data/images/obama.jpg
 * (cropped to 4:3, resized, encoded at quality 90), and a 1280x720 frame for detection.
 * At 1 thread, the median of many runs of each stage: decode, detect (network + decoding + NMS),
 * landmarks, align, embed. Then faces per second with 2 threads sharing one SDK handle.
 * Trueface's published CPU figures are printed beside ours for reference (their hardware).
 *
 * Reproduce: make bench-pipeline   (or: build/bench/pipeline/bench_pipeline [DATA_DIR])
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>

#include "facet/facet.h"

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
    return v[n / 2];
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
    if (facet_image_crop(src, (src->width - cw) / 2, (src->height - ch) / 4, cw, ch, &crop)) return NULL;
    facet_image_resize(crop, w, h, &out);
    facet_image_destroy(crop);
    return out;
}

typedef struct worker {
    facet_sdk *sdk;
    const uint8_t *jpg;
    size_t size;
    double until;
    long faces;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    while (now_ms() < w->until) {
        facet_image *img = NULL;
        facet_face *f = NULL;
        int n = 0;
        if (facet_image_decode_memory(w->jpg, w->size, NULL, &img)) break;
        if (!facet_detect_faces(w->sdk, img, &f, &n))
            for (int i = 0; i < n; i++) {
                facet_faceprint fp;
                if (!facet_faceprint_extract(w->sdk, img, &f[i], &fp)) w->faces++;
            }
        facet_free(f);
        facet_image_destroy(img);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *data = argc > 1 ? argv[1] : "../shared/data";
    int iters = argc > 2 ? atoi(argv[2]) : 60;
    char path[2048];
    snprintf(path, sizeof path, "%s/images/obama.jpg", data);
    facet_image *photo;
    if (facet_image_decode_file(path, NULL, &photo)) {
        fprintf(stderr, "bench_pipeline: %s\n", facet_last_error());
        return 1;
    }
    facet_image *vga = frame_of(photo, 640, 480), *hd = frame_of(photo, 1280, 720);
    size_t jsize;
    uint8_t *jpg = encode_jpeg(vga, &jsize);
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    set.num_threads = 1;
    set.preload = FACET_MODULE_DETECT | FACET_MODULE_LANDMARK | FACET_MODULE_FEATURE;
    facet_sdk *sdk;
    if (facet_sdk_create(&set, &sdk)) {
        fprintf(stderr, "bench_pipeline: %s\n", facet_last_error());
        return 1;
    }
    double *t[7];
    for (int k = 0; k < 7; k++) t[k] = calloc((size_t)iters, sizeof(double));
    int faces_seen = 0;
    for (int it = -3; it < iters; it++) {
        double t0 = now_ms();
        facet_image *img = NULL;
        facet_image_decode_memory(jpg, jsize, NULL, &img);
        double t1 = now_ms();
        facet_face *f = NULL;
        int n = 0;
        facet_detect_faces(sdk, img, &f, &n);
        double t2 = now_ms();
        if (n < 1) {
            fprintf(stderr, "bench_pipeline: no face in the test frame\n");
            return 1;
        }
        facet_face face = f[0];
        faces_seen = n;
        facet_face_landmarks(sdk, img, &face);
        double t3 = now_ms();
        facet_image *chip = NULL;
        facet_extract_aligned_face(sdk, img, &face, &chip);
        double t4 = now_ms();
        facet_faceprint fp;
        facet_faceprint_from_chip(sdk, chip, &fp);
        double t5 = now_ms();
        facet_face *hf = NULL;
        int hn = 0;
        facet_detect_faces(sdk, hd, &hf, &hn);
        double t6 = now_ms();
        if (it >= 0) {
            t[0][it] = t1 - t0;
            t[1][it] = (t2 - t1) - (t3 - t2) * n; /* detect_faces includes each face's landmarks */
            t[2][it] = t3 - t2;
            t[3][it] = t4 - t3;
            t[4][it] = t5 - t4;
            t[5][it] = t6 - t5;
        }
        facet_free(hf);
        facet_free(f);
        facet_image_destroy(chip);
        facet_image_destroy(img);
    }
    double dec = median(t[0], iters), det = median(t[1], iters), lm = median(t[2], iters);
    double al = median(t[3], iters), emb = median(t[4], iters), hdd = median(t[5], iters);
    printf("pipeline, 640x480 JPEG (%zu bytes) with %d face, 1 thread, median of %d runs (CPU: %s)\n\n", jsize,
           faces_seen, iters, facet_cpu_features());
    printf("| stage | facet ms | Trueface (published, their CPU) |\n|---|---|---|\n");
    printf("| decode | %.2f | |\n| detect (network, anchors, NMS) | %.2f | |\n| landmarks (68) | %.2f | |\n", dec,
           det, lm);
    printf("| align (112x112) | %.2f | |\n| embed (512-d faceprint) | %.2f | 3.2 to 67 ms, by model |\n", al, emb);
    printf("| **total, image to faceprint** | **%.2f** | |\n", dec + det + lm + al + emb);
    printf("| detect + landmarks, 1280x720 frame | %.2f | 7.9 ms |\n\n", hdd);
    for (int threads = 1; threads <= 2; threads++) {
        worker w[2];
        pthread_t th[2];
        facet_sdk_settings s2 = set;
        facet_sdk *shared;
        if (facet_sdk_create(&s2, &shared)) return 1;
        double until = now_ms() + 3000, t0 = now_ms();
        for (int i = 0; i < threads; i++) {
            w[i] = (worker){shared, jpg, jsize, until, 0};
            pthread_create(&th[i], NULL, work, &w[i]);
        }
        long faces = 0;
        for (int i = 0; i < threads; i++) {
            pthread_join(th[i], NULL);
            faces += w[i].faces;
        }
        printf("faces per second, JPEG to faceprint, %d thread%s sharing one SDK: %.1f\n", threads,
               threads > 1 ? "s" : "", faces / ((now_ms() - t0) / 1000));
        facet_sdk_destroy(shared);
    }
    printf("\nreproduce: make bench-pipeline\n");
    for (int k = 0; k < 7; k++) free(t[k]);
    free(jpg);
    facet_image_destroy(vga);
    facet_image_destroy(hd);
    facet_image_destroy(photo);
    facet_sdk_destroy(sdk);
    return 0;
}
