/*
 * cmd_eval.c - `facet eval lfw` and `facet eval detect`: accuracy on labelled data, measured
 * with the public API exactly as a user would run it.
 *
 * lfw: every image of the pairs file is decoded, its face detected (the one nearest the centre
 * when there are several: LFW centres the named person), aligned and turned into a faceprint.
 * An image without a face is not skipped: its pairs count as failures (similarity -1 for
 * same-person pairs, +1 for different-person pairs) and are listed. Prints accuracy (10-fold
 * cross-validated thresholds when the file has folds; otherwise the best single threshold and
 * the accuracy at facet's documented threshold), TAR at FAR 1e-2 and 1e-3, the ROC as CSV
 * (--roc FILE) and, with --fit, the logistic match-probability parameters.
 *
 * detect: WIDER FACE format ground truth; predictions are matched to ground truth greedily by
 * score at IoU >= 0.5. Recall is per ground-truth size band (box height); precision counts a
 * prediction as correct when it matches any ground-truth face (also one too small or marked
 * invalid, which a detector should not be punished for finding).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------- a small parallel map over items with a progress bar ---------- */

typedef struct work {
    int n;
    int next, done;
    pthread_mutex_t lock;
    void (*fn)(void *ctx, int i);
    void *ctx;
    const char *label;
    double t0;
} work;

static void *worker(void *arg)
{
    work *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        int i = w->next < w->n ? w->next++ : -1;
        pthread_mutex_unlock(&w->lock);
        if (i < 0) return NULL;
        w->fn(w->ctx, i);
        pthread_mutex_lock(&w->lock);
        w->done++;
        if (w->done % 16 == 0 || w->done == w->n) cli_progress(w->label, w->done, w->n, now_s() - w->t0);
        pthread_mutex_unlock(&w->lock);
    }
}

static void parallel_map(int n, int threads, const char *label, void (*fn)(void *, int), void *ctx)
{
    work w = {n, 0, 0, PTHREAD_MUTEX_INITIALIZER, fn, ctx, label, now_s()};
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    pthread_t th[64];
    int started = 0;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&th[started], NULL, worker, &w) == 0) started++;
    worker(&w);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
}

/* ---------- LFW ---------- */

typedef struct lfw_img {
    char name[128];
    int idx;
    int ok;
    facet_faceprint fp;
    char err[160];
} lfw_img;

typedef struct lfw_ctx {
    facet_sdk *sdk;
    const char *dir;
    lfw_img *imgs;
} lfw_ctx;

static void lfw_one(void *arg, int i)
{
    lfw_ctx *c = arg;
    lfw_img *im = &c->imgs[i];
    char path[2048];
    snprintf(path, sizeof path, "%s/%s/%s_%04d.jpg", c->dir, im->name, im->name, im->idx);
    facet_image *img;
    int rc = cli_load_image(path, &img);
    facet_face *faces = NULL;
    int n = 0;
    if (!rc) rc = facet_detect_faces(c->sdk, img, &faces, &n);
    if (!rc && n == 0) {
        snprintf(im->err, sizeof im->err, "%.100s: no face found", path);
    } else if (!rc) {
        /* the face nearest the image centre */
        int best = 0;
        double bd = 1e30;
        for (int k = 0; k < n; k++) {
            double dx = faces[k].x + faces[k].w / 2 - img->width / 2.0, dy = faces[k].y + faces[k].h / 2 - img->height / 2.0;
            if (dx * dx + dy * dy < bd) bd = dx * dx + dy * dy, best = k;
        }
        rc = facet_faceprint_extract(c->sdk, img, &faces[best], &im->fp);
        if (!rc) im->ok = 1;
    }
    char why[1600];
    if (rc) snprintf(im->err, sizeof im->err, "%.150s", cli_error_text(why, sizeof why, path, facet_last_error()));
    facet_free(faces);
    facet_image_destroy(img);
}

typedef struct pair {
    int a, b, same, fold;
    float sim;
} pair;

static int find_or_add(lfw_img **imgs, int *n, int *cap, const char *name, int idx)
{
    for (int i = *n - 1; i >= 0; i--)
        if ((*imgs)[i].idx == idx && !strcmp((*imgs)[i].name, name)) return i;
    if (*n == *cap) {
        *cap = *cap * 2 + 256;
        lfw_img *p = realloc(*imgs, sizeof **imgs * (size_t)*cap);
        if (!p) return -1;
        *imgs = p;
    }
    lfw_img *im = &(*imgs)[*n];
    memset(im, 0, sizeof *im);
    snprintf(im->name, sizeof im->name, "%s", name);
    im->idx = idx;
    return (*n)++;
}

static int cmp_float_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Accuracy of threshold t over pairs (optionally excluding one fold / only one fold). */
static double accuracy_at(const pair *p, int n, float t, int fold, int only)
{
    int right = 0, total = 0;
    for (int i = 0; i < n; i++) {
        if (fold >= 0 && (only ? p[i].fold != fold : p[i].fold == fold)) continue;
        total++;
        right += (p[i].sim >= t) == p[i].same;
    }
    return total ? (double)right / total : 0;
}

static float best_threshold(const pair *p, int n, int fold)
{
    float best_t = 0;
    double best = -1;
    for (int i = 0; i < n; i++) {
        if (fold >= 0 && p[i].fold == fold) continue;
        /* candidate thresholds just above each score */
        float t = nextafterf(p[i].sim, 2.0f);
        double a = accuracy_at(p, n, t, fold, 0);
        double a2 = accuracy_at(p, n, p[i].sim, fold, 0);
        if (a > best) best = a, best_t = t;
        if (a2 > best) best = a2, best_t = p[i].sim;
    }
    return best_t;
}

static double tar_at_far(const pair *p, int n, double far, float *thr)
{
    int nneg = 0, npos = 0;
    for (int i = 0; i < n; i++) nneg += !p[i].same, npos += p[i].same;
    float *neg = malloc(sizeof(float) * (size_t)(nneg + 1));
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!p[i].same) neg[k++] = p[i].sim;
    qsort(neg, (size_t)nneg, sizeof(float), cmp_float_desc);
    /* the threshold lets through at most far * nneg negatives */
    int allowed = (int)floor(far * nneg + 1e-9);
    float t = allowed < nneg ? nextafterf(neg[allowed], 2.0f) : -1.0f;
    free(neg);
    int acc = 0;
    for (int i = 0; i < n; i++) acc += p[i].same && p[i].sim >= t;
    if (thr) *thr = t;
    return npos ? (double)acc / npos : 0;
}

/* Logistic regression p = 1 / (1 + exp(-(a s + b))) by Newton's method. */
static void fit_logistic(const pair *p, int n, double *a, double *b)
{
    double A = 10, B = -3;
    for (int it = 0; it < 100; it++) {
        double ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
        for (int i = 0; i < n; i++) {
            double s = p[i].sim, q = 1 / (1 + exp(-(A * s + B))), r = q - p[i].same, w = q * (1 - q) + 1e-9;
            ga += r * s, gb += r;
            haa += w * s * s, hab += w * s, hbb += w;
        }
        /* a little ridge keeps separable data finite */
        haa += 1e-3, hbb += 1e-3;
        double det = haa * hbb - hab * hab;
        if (fabs(det) < 1e-12) break;
        double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
        A -= da, B -= db;
        if (fabs(da) + fabs(db) < 1e-9) break;
    }
    *a = A, *b = B;
}

/* "NAME N" fields of a pairs line: an LFW name and a positive image number. */
static int pair_index(const char *tok, int *idx)
{
    char *end;
    long v = strtol(tok, &end, 10);
    if (end == tok || *end || v < 1 || v > 9999) return -1;
    *idx = (int)v;
    return 0;
}

/* Reads an LFW pairs file: a header "PAIRS" or "FOLDS PAIRS" (pairs of each kind per fold),
 * then exactly that many lines "NAME N M" (same person) and "NAME1 N NAME2 M" (different).
 * A line of any other shape, or a count that does not match the header, is an error naming
 * the line: a skipped pair would change the accuracy without saying so. */
static int read_pairs(FILE *f, const char *path, pair **out, int *np, int *nfolds, lfw_img **imgs, int *nimg)
{
    char line[512];
    long folds = 1, per = 0;
    int lineno = 1, cap = 0;
    if (!fgets(line, sizeof line, f)) {
        fprintf(stderr, "facet: %s: empty file\n", path);
        return 1;
    }
    char *tok[6], *save = NULL;
    int nt = 0;
    for (char *t = strtok_r(line, " \t\r\n", &save); t && nt < 6; t = strtok_r(NULL, " \t\r\n", &save)) tok[nt++] = t;
    char *e1 = NULL, *e2 = NULL;
    if (nt == 1) per = strtol(tok[0], &e1, 10);
    else if (nt == 2) folds = strtol(tok[0], &e1, 10), per = strtol(tok[1], &e2, 10);
    if ((nt != 1 && nt != 2) || *e1 || (e2 && *e2) || folds < 1 || folds > 100 || per < 1 || per > 100000) {
        fprintf(stderr, "facet: %s:1: the header must be 'PAIRS' or 'FOLDS PAIRS' (positive integers)\n", path);
        return 1;
    }
    long want = folds * per * 2;
    *nfolds = (int)folds;
    pair *pairs = calloc((size_t)want, sizeof *pairs);
    if (!pairs) return 1;
    *out = pairs;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            fprintf(stderr, "facet: %s:%d: line longer than %zu bytes\n", path, lineno, sizeof line - 2);
            return 1;
        }
        nt = 0;
        for (char *t = strtok_r(line, " \t\r\n", &save); t && nt < 6; t = strtok_r(NULL, " \t\r\n", &save))
            tok[nt++] = t;
        if (nt == 0) continue; /* a blank line (e.g. at the end) */
        int i1, i2;
        const char *n2;
        int shape = (nt == 3 && !pair_index(tok[1], &i1) && !pair_index(tok[2], &i2))   ? 1
                    : (nt == 4 && !pair_index(tok[1], &i1) && !pair_index(tok[3], &i2)) ? 2
                                                                                        : 0;
        if (!shape || strlen(tok[0]) > 127 || (shape == 2 && strlen(tok[2]) > 127)) {
            fprintf(stderr, "facet: %s:%d: expected 'NAME N M' (same person) or 'NAME1 N NAME2 M' (different "
                            "people), N and M image numbers from 1\n", path, lineno);
            return 1;
        }
        if (*np >= want) {
            fprintf(stderr, "facet: %s:%d: more pairs than the header's %ld\n", path, lineno, want);
            return 1;
        }
        n2 = shape == 1 ? tok[0] : tok[2];
        pair *p = &pairs[*np];
        p->same = shape == 1;
        p->a = find_or_add(imgs, nimg, &cap, tok[0], i1);
        p->b = find_or_add(imgs, nimg, &cap, n2, i2);
        p->fold = folds > 1 ? (int)(*np / (2 * per)) : -1;
        if (p->a < 0 || p->b < 0) return 1;
        (*np)++;
    }
    if (*np != want) {
        fprintf(stderr, "facet: %s: the header promises %ld pairs, the file holds %d\n", path, want, *np);
        return 1;
    }
    return 0;
}

static int eval_lfw(int argc, char **argv)
{
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    const char *dir = NULL, *pairs_path = NULL, *roc = NULL;
    int fit = 0, jobs = 0, ok = 1, ret = 0;
    enum { O_ROC = CLI_OPT_FIRST_OWN, O_FIT, O_JOBS };
    static const struct option opts[] = {{"roc", required_argument, NULL, O_ROC}, {"fit", no_argument, NULL, O_FIT},
                                         {"jobs", required_argument, NULL, O_JOBS}, CLI_SDK_OPTIONS, {0}};
    for (int c; (c = cli_getopt(argc - 1, argv + 1, "", opts)) != -1;) {
        if (c == O_ROC) roc = optarg;
        else if (c == O_FIT) fit = 1;
        else if (c == O_JOBS) jobs = (int)cli_long("jobs", optarg, 1, 1024);
        else if (!cli_sdk_option(c, optarg, &set)) ok = 0;
    }
    if (ok && argc - 1 - optind == 2) dir = argv[1 + optind], pairs_path = argv[2 + optind];
    if (!dir || !pairs_path) {
        fprintf(stderr, "usage: facet eval lfw IMAGES_DIR PAIRS.txt [--roc ROC.csv] [--fit] [--jobs N]\n");
        return 2;
    }
    FILE *f = fopen(pairs_path, "r");
    if (!f) {
        fprintf(stderr, "facet: cannot open %s\n", pairs_path);
        return 1;
    }
    lfw_img *imgs = NULL;
    pair *pairs = NULL;
    int nimg = 0, np = 0, folds = 1;
    int rc = read_pairs(f, pairs_path, &pairs, &np, &folds, &imgs, &nimg);
    fclose(f);
    if (rc) {
        free(pairs);
        free(imgs);
        return 1;
    }
    if (!jobs) jobs = facet_cpu_count();
    if (!set.num_threads) set.num_threads = 1; /* parallel over images instead */
    facet_sdk *sdk;
    if (cli_sdk_create(&set, &sdk)) return 1;
    lfw_ctx ctx = {sdk, dir, imgs};
    double t0 = now_s();
    parallel_map(nimg, jobs, "lfw", lfw_one, &ctx);
    double secs = now_s() - t0;
    int failed_imgs = 0, failed_pairs = 0, nsame = 0;
    for (int i = 0; i < np; i++) nsame += pairs[i].same;
    for (int i = 0; i < nimg; i++)
        if (!imgs[i].ok) {
            failed_imgs++;
            fprintf(stderr, "  no faceprint: %s\n", imgs[i].err);
        }
    for (int i = 0; i < np; i++) {
        pair *p = &pairs[i];
        if (!imgs[p->a].ok || !imgs[p->b].ok) {
            p->sim = p->same ? -1.0f : 1.0f; /* counted as an error, never skipped */
            failed_pairs++;
            continue;
        }
        facet_compare(&imgs[p->a].fp, &imgs[p->b].fp, &p->sim, NULL);
    }
    printf("LFW: %d pairs (%d same, %d different), %d images in %.1f s (%.1f images/s); %d images without a "
           "faceprint, %d pairs counted as failures\n",
           np, nsame, np - nsame, nimg, secs, nimg / secs, failed_imgs, failed_pairs);
    if (folds > 1) {
        double sum = 0, sq = 0;
        for (int k = 0; k < folds; k++) {
            float t = best_threshold(pairs, np, k);
            double a = accuracy_at(pairs, np, t, k, 1);
            sum += a, sq += a * a;
        }
        double mean = sum / folds, sd = sqrt(fmax(sq / folds - mean * mean, 0));
        printf("accuracy (%d-fold, thresholds chosen on the other folds): %.2f%% +- %.2f\n", folds, 100 * mean, 100 * sd);
    } else {
        float t = best_threshold(pairs, np, -1);
        printf("accuracy at the best threshold (%.4f, chosen on these pairs): %.2f%%\n", t,
               100 * accuracy_at(pairs, np, t, -1, 0));
    }
    printf("accuracy at facet's documented threshold %.3f: %.2f%%\n", facet_match_threshold(),
           100 * accuracy_at(pairs, np, facet_match_threshold(), -1, 0));
    float t2, t3;
    double tar2 = tar_at_far(pairs, np, 1e-2, &t2), tar3 = tar_at_far(pairs, np, 1e-3, &t3);
    printf("TAR at FAR 1e-2: %.2f%% (threshold %.4f)\nTAR at FAR 1e-3: %.2f%% (threshold %.4f)\n", 100 * tar2, t2,
           100 * tar3, t3);
    if (fit) {
        double a, b;
        fit_logistic(pairs, np, &a, &b);
        printf("logistic fit: probability = 1 / (1 + exp(-(%.4f * similarity + %.4f))); 50%% at similarity %.4f\n", a,
               b, -b / a);
    }
    if (roc) {
        FILE *r = fopen(roc, "w");
        if (r) {
            fprintf(r, "threshold,far,tar\n");
            for (int s = 100; s >= -100; s--) {
                float t = s / 100.0f;
                int fa = 0, ta = 0, nn = 0, npos = 0;
                for (int i = 0; i < np; i++) {
                    if (pairs[i].same) npos++, ta += pairs[i].sim >= t;
                    else nn++, fa += pairs[i].sim >= t;
                }
                fprintf(r, "%.2f,%.6f,%.6f\n", t, nn ? (double)fa / nn : 0, npos ? (double)ta / npos : 0);
            }
            if (cli_close(r, roc)) ret = 1;
            else printf("ROC written to %s\n", roc);
        } else {
            fprintf(stderr, "facet: cannot write %s: %s\n", roc, strerror(errno));
            ret = 1;
        }
    }
    facet_sdk_destroy(sdk);
    free(pairs);
    free(imgs);
    return ret;
}

/* ---------- detection (WIDER FACE format) ---------- */

typedef struct gt_box {
    float x, y, w, h;
    int invalid;
} gt_box;

typedef struct det_img {
    char name[256];
    gt_box *gt;
    int ngt;
    facet_face *pred;
    int npred;
    int ok;
} det_img;

typedef struct det_ctx {
    facet_sdk *sdk;
    const char *dir;
    det_img *imgs;
} det_ctx;

static void det_one(void *arg, int i)
{
    det_ctx *c = arg;
    det_img *d = &c->imgs[i];
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", c->dir, d->name);
    facet_image *img;
    int rc = cli_load_image(path, &img);
    if (!rc) rc = facet_detect_faces(c->sdk, img, &d->pred, &d->npred);
    char why[1600];
    if (rc) fprintf(stderr, "\n  %s\n", cli_error_text(why, sizeof why, path, facet_last_error()));
    d->ok = rc == 0;
    facet_image_destroy(img);
}

static void free_det_imgs(det_img *imgs, int n)
{
    for (int i = 0; i < n; i++) {
        free(imgs[i].gt);
        facet_free(imgs[i].pred);
    }
    free(imgs);
}

/* The whitespace-separated integers of `line` into v[0..max); their count, or -1 if a field
 * is not an integer (so "12x" or "1.5" is an error, never 12 or 1). */
static int int_fields(char *line, long *v, int max)
{
    int k = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t;
         t = strtok_r(NULL, " \t\r\n", &save)) {
        char *end;
        errno = 0;
        long x = strtol(t, &end, 10);
        if (end == t || *end || errno || k == max) return -1;
        v[k++] = x;
    }
    return k;
}

/* Reads a WIDER FACE ground-truth file: for each image its path line, a line with the box
 * count, then that many lines "x y w h blur expression illumination invalid occlusion pose"
 * (one all-zero line when the count is 0). Any other shape is an error naming the file and
 * line: a damaged file must not be evaluated as a shorter one. Images missing from `dir` are
 * left out (the development subset holds a part of WIDER's images). 0, or -1 after printing
 * the error; *out holds the images read so far either way. */
static int read_wider_gt(FILE *f, const char *path, const char *dir, det_img **out, int *n)
{
    det_img *imgs = NULL;
    int cap = 0, lineno = 0;
    char line[1024];
    const char *why = NULL;
    *n = 0;
    while (!why && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        size_t len = strlen(line);
        if (len > 255 || (len < 5 || (strcmp(line + len - 4, ".jpg") && strcmp(line + len - 4, ".png")))) {
            why = "expected an image path ending in .jpg or .png";
            break;
        }
        if (*n == cap) {
            cap = cap * 2 + 64;
            det_img *p = realloc(imgs, sizeof *imgs * (size_t)cap);
            if (!p) {
                why = "out of memory";
                break;
            }
            imgs = p;
        }
        det_img *d = &imgs[*n];
        memset(d, 0, sizeof *d);
        memcpy(d->name, line, len + 1);
        long v[10];
        lineno++;
        if (!fgets(line, sizeof line, f) || int_fields(line, v, 10) != 1 || v[0] < 0 || v[0] > 100000) {
            why = "expected the number of boxes (0..100000)";
            break;
        }
        int count = (int)v[0];
        d->gt = calloc((size_t)count + 1, sizeof *d->gt);
        if (!d->gt) {
            why = "out of memory";
            break;
        }
        for (int k = 0; k < (count ? count : 1); k++) {
            lineno++;
            if (!fgets(line, sizeof line, f)) {
                why = "the file ends inside an image's boxes";
                break;
            }
            if (int_fields(line, v, 10) != 10 || v[2] < 0 || v[3] < 0 || (v[7] != 0 && v[7] != 1)) {
                why = "expected a box line of 10 integers: x y w h blur expression illumination "
                      "invalid(0|1) occlusion pose";
                break;
            }
            /* WIDER marks some faces with a zero width or height: no box to match */
            if (count && v[2] > 0 && v[3] > 0)
                d->gt[d->ngt++] = (gt_box){(float)v[0], (float)v[1], (float)v[2], (float)v[3], (int)v[7]};
        }
        if (why) {
            free(d->gt);
            break;
        }
        char img_path[2048];
        snprintf(img_path, sizeof img_path, "%s/%s", dir, d->name);
        FILE *probe = fopen(img_path, "rb");
        if (probe) {
            fclose(probe);
            ++*n;
        } else {
            free(d->gt);
        }
    }
    *out = imgs;
    if (!why && ferror(f)) why = "read error";
    if (why) {
        fprintf(stderr, "facet: %s:%d: %s\n", path, lineno, why);
        return -1;
    }
    return 0;
}

static float box_iou(float ax, float ay, float aw, float ah, float bx, float by, float bw, float bh)
{
    float w = fminf(ax + aw, bx + bw) - fmaxf(ax, bx), h = fminf(ay + ah, by + bh) - fmaxf(ay, by);
    if (w <= 0 || h <= 0) return 0;
    return w * h / (aw * ah + bw * bh - w * h);
}

#define NBANDS 6
static const float band_lo[NBANDS] = {0, 10, 20, 40, 80, 160};
static const char *const band_name[NBANDS] = {"<10", "10-20", "20-40", "40-80", "80-160", ">=160"};

static int band_of(float h)
{
    int b = 0;
    while (b + 1 < NBANDS && h >= band_lo[b + 1]) b++;
    return b;
}

static int eval_detect(int argc, char **argv)
{
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    set.smallest_face_height = 20;
    const char *dir = NULL, *gt_path = NULL;
    int jobs = 0;
    float min_eval = 40;
    int ok = 1;
    enum { O_JOBS = CLI_OPT_FIRST_OWN, O_EVAL_MIN };
    static const struct option opts[] = {{"jobs", required_argument, NULL, O_JOBS},
                                         {"eval-min", required_argument, NULL, O_EVAL_MIN}, CLI_SDK_OPTIONS, {0}};
    for (int c; (c = cli_getopt(argc - 1, argv + 1, "", opts)) != -1;) {
        if (c == O_JOBS) jobs = (int)cli_long("jobs", optarg, 1, 1024);
        else if (c == O_EVAL_MIN) min_eval = cli_float("eval-min", optarg, 0, 100000);
        else if (!cli_sdk_option(c, optarg, &set)) ok = 0;
    }
    if (ok && argc - 1 - optind == 2) dir = argv[1 + optind], gt_path = argv[2 + optind];
    if (!dir || !gt_path) {
        fprintf(stderr, "usage: facet eval detect IMAGES_DIR GT.txt [--min-face PX] [--threshold T] [--eval-min PX]\n"
                        "  GT in WIDER FACE format; images missing from IMAGES_DIR are left out\n");
        return 2;
    }
    FILE *f = fopen(gt_path, "r");
    if (!f) {
        fprintf(stderr, "facet: cannot open %s\n", gt_path);
        return 1;
    }
    det_img *imgs = NULL;
    int n = 0;
    int rc = read_wider_gt(f, gt_path, dir, &imgs, &n);
    fclose(f);
    if (rc) {
        free_det_imgs(imgs, n);
        return 1;
    }
    if (!n) {
        fprintf(stderr, "facet: no images of %s found under %s\n", gt_path, dir);
        free(imgs);
        return 1;
    }
    if (!jobs) jobs = facet_cpu_count();
    if (!set.num_threads) set.num_threads = 1;
    facet_sdk *sdk;
    if (cli_sdk_create(&set, &sdk)) return 1;
    det_ctx ctx = {sdk, dir, imgs};
    double t0 = now_s();
    parallel_map(n, jobs, "detect", det_one, &ctx);
    double secs = now_s() - t0;
    int gt_n[NBANDS] = {0}, gt_hit[NBANDS] = {0}, pr_n[NBANDS] = {0}, pr_tp[NBANDS] = {0};
    int eval_gt = 0, eval_hit = 0, eval_pred = 0, eval_tp = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        det_img *d = &imgs[i];
        if (!d->ok) {
            failed++;
            for (int g = 0; g < d->ngt; g++)
                if (!d->gt[g].invalid) gt_n[band_of(d->gt[g].h)]++, eval_gt += d->gt[g].h >= min_eval;
            continue;
        }
        char *used = calloc((size_t)d->ngt + 1, 1);
        /* predictions are sorted by score: greedy matching to the best free ground truth */
        for (int p = 0; p < d->npred; p++) {
            const facet_face *pf = &d->pred[p];
            int best = -1;
            float bi = 0.5f;
            for (int g = 0; g < d->ngt; g++) {
                if (used[g]) continue;
                float v = box_iou(pf->x, pf->y, pf->w, pf->h, d->gt[g].x, d->gt[g].y, d->gt[g].w, d->gt[g].h);
                if (v >= bi) bi = v, best = g;
            }
            int b = band_of(pf->h);
            pr_n[b]++;
            if (best >= 0) {
                used[best] = 1;
                pr_tp[b]++;
            }
            if (pf->h >= min_eval) eval_pred++, eval_tp += best >= 0;
        }
        for (int g = 0; g < d->ngt; g++) {
            if (d->gt[g].invalid) continue;
            int b = band_of(d->gt[g].h);
            gt_n[b]++;
            gt_hit[b] += used[g];
            if (d->gt[g].h >= min_eval) eval_gt++, eval_hit += used[g];
        }
        free(used);
    }
    printf("detection: %d images in %.1f s (%.2f images/s), %d failed; threshold %.2f, smallest face %d px\n", n,
           secs, n / secs, failed, set.detect_threshold, set.smallest_face_height);
    printf("| face height (px) | ground truth | recall | predictions | precision |\n|---|---|---|---|---|\n");
    for (int b = 0; b < NBANDS; b++)
        printf("| %s | %d | %.3f | %d | %.3f |\n", band_name[b], gt_n[b], gt_n[b] ? (double)gt_hit[b] / gt_n[b] : 0,
               pr_n[b], pr_n[b] ? (double)pr_tp[b] / pr_n[b] : 0);
    printf("faces >= %.0f px: recall %.3f (%d of %d), precision %.3f (%d of %d predictions)\n", min_eval,
           eval_gt ? (double)eval_hit / eval_gt : 0, eval_hit, eval_gt, eval_pred ? (double)eval_tp / eval_pred : 0,
           eval_tp, eval_pred);
    free_det_imgs(imgs, n);
    facet_sdk_destroy(sdk);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "lfw")) return eval_lfw(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "detect")) return eval_detect(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "ident")) return cmd_eval_ident(argc, argv);
    fprintf(stderr, "usage: facet eval lfw IMAGES_DIR PAIRS.txt [--roc FILE] [--fit]\n"
                    "       facet eval detect IMAGES_DIR GT.txt [--min-face PX] [--threshold T]\n"
                    "       facet eval ident DIR... [--compare CONFIG]... [--fit]   (docs/faceprint.md)\n");
    return 2;
}
