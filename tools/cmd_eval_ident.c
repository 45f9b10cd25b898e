/*
 * cmd_eval_ident.c - `facet eval ident`: a verification and 1:N benchmark with confidence
 * intervals, and paired comparisons of faceprint configurations on the same faces.
 *
 * Why: 2,200 LFW pairs hold 1,100 different-person pairs, so FAR 1e-3 rests on one false
 * accept and a choice worth a point of TAR on unseen people can look like noise (issue 9). This
 * mode uses every photo of folders laid out one sub-folder per person:
 *   - verification: every same-person pair, and --negatives random different-person pairs (two
 *     distinct people drawn uniformly, one photo of each drawn uniformly). Each person's
 *     same-person pairs weigh the same in total (George W Bush alone has 64% of LFW's pairs);
 *     TAR at FAR 1e-3 and 1e-4 at thresholds set on the different-person pairs;
 *   - 1:N: one photo per person enrolled (the first in name order that has a faceprint) in an
 *     in-memory collection searched with the gallery API; every other photo is a probe;
 *     rank-1 is the share of probes whose best match is their own person;
 *   - 95% intervals by bootstrap over PEOPLE (pairs and probes of one person are not
 *     independent): each replicate draws people with replacement, a person drawn k times
 *     weighs k in positives and probes, and a different-person pair weighs k_a * k_b.
 * Detection, landmarks and alignment run once per photo; each configuration (--compare)
 * computes its own faceprint from the same aligned chip, so differences are paired: the same
 * bootstrap replicates give the interval of each difference, and rank-1 also gets McNemar's
 * exact test on the probes that one configuration gets right and the other wrong.
 *
 * A photo without a faceprint is listed. Its same-person pairs and its probes count as
 * failures; its different-person pairs as correct rejections (no face, no false accept).
 * The photos where the configured detector pass found no face are counted separately from
 * those where the retries of facet_detect_largest_face found none either.
 */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_CONFIGS 5
#define NFAR 2
static const double fars[NFAR] = {1e-3, 1e-4};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A configuration: SDK settings that change faceprints, and what the tool does to the chip. */
typedef struct config {
    char name[64];
    int mirror;  /* settings.faceprint_mirror (-1: the SDK's default) */
    int swap_rb; /* feed the chip with red and blue swapped: the other colour order */
    int align3;  /* the model authors' alignment: an exact affine fit of eyes and nose */
    facet_sdk *sdk;
    double feature_s;
    float *fp;   /* [image][dim] */
    char model[FACET_FACEPRINT_MODEL_MAX];
} config;

typedef struct photo {
    char *path;
    int person;
    int ok;
    int default_miss; /* the configured detector pass found no face */
} photo;

typedef struct person {
    char *name;
    int first, count; /* photos[first .. first + count - 1], in name order */
} person;

typedef struct bench {
    photo *ph;
    int nph, capph;
    person *pe;
    int npe, cappe;
    config cfg[MAX_CONFIGS];
    int ncfg;
} bench;

static int parse_config(const char *spec, config *c)
{
    memset(c, 0, sizeof *c);
    c->mirror = -1;
    snprintf(c->name, sizeof c->name, "%s", spec);
    char buf[64];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *t = strtok_r(buf, "+", &save); t; t = strtok_r(NULL, "+", &save)) {
        if (!strcmp(t, "sdk")) continue;
        else if (!strcmp(t, "swap-rb")) c->swap_rb = 1;
        else if (!strcmp(t, "align3")) c->align3 = 1;
        else if (!strcmp(t, "mirror")) c->mirror = 1;
        else if (!strcmp(t, "no-mirror")) c->mirror = 0;
        else {
            fprintf(stderr, "facet: unknown configuration '%s' in '%s' (sdk, swap-rb, align3, mirror, no-mirror, "
                            "joined by +)\n", t, spec);
            return 1;
        }
    }
    return 0;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image(const char *n)
{
    const char *e = strrchr(n, '.');
    return e && (!strcasecmp(e, ".jpg") || !strcasecmp(e, ".jpeg") || !strcasecmp(e, ".png"));
}

/* Sorted names of the entries of `dir` that are folders (want_dir) or images. */
static char **list_dir(const char *dir, int want_dir, int *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **v = NULL;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[4400];
        struct stat st;
        snprintf(p, sizeof p, "%.4095s/%s", dir, e->d_name);
        if (stat(p, &st) || (want_dir ? !S_ISDIR(st.st_mode) : !(S_ISREG(st.st_mode) && is_image(e->d_name))))
            continue;
        if (*n == cap) {
            cap = cap * 2 + 64;
            char **nv = realloc(v, sizeof *v * (size_t)cap);
            if (!nv) break;
            v = nv;
        }
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (v) qsort(v, (size_t)*n, sizeof *v, by_str);
    return v;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Adds every person folder of `dir`; people of the same name in two folders are one person. */
static int scan(bench *b, const char *dir, int max_people)
{
    int np;
    char **people = list_dir(dir, 1, &np);
    if (!people) {
        fprintf(stderr, "facet: cannot read %s (a folder with one sub-folder per person)\n", dir);
        return 1;
    }
    for (int i = 0; i < np && (max_people <= 0 || i < max_people); i++) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%.3800s/%.255s", dir, people[i]);
        int nimg;
        char **imgs = list_dir(sub, 0, &nimg);
        if (!nimg) {
            free_list(imgs, nimg);
            continue;
        }
        for (int k = 0; k < b->npe; k++)
            if (!strcmp(b->pe[k].name, people[i])) {
                fprintf(stderr, "facet: %s is in two folders; its photos must be one person's, so it is left out of %s\n",
                        people[i], dir);
                nimg = 0;
            }
        if (b->npe == b->cappe) {
            b->cappe = b->cappe * 2 + 256;
            person *q = realloc(b->pe, sizeof *q * (size_t)b->cappe);
            if (!q) return 1;
            b->pe = q;
        }
        if (b->nph + nimg > b->capph) {
            b->capph = (b->nph + nimg) * 2 + 256;
            photo *q = realloc(b->ph, sizeof *q * (size_t)b->capph);
            if (!q) return 1;
            b->ph = q;
        }
        if (nimg) {
            person *pe = &b->pe[b->npe];
            pe->name = strdup(people[i]);
            pe->first = b->nph;
            pe->count = nimg;
            for (int k = 0; k < nimg; k++) {
                char p[4400];
                snprintf(p, sizeof p, "%.4095s/%.255s", sub, imgs[k]);
                b->ph[b->nph++] = (photo){strdup(p), b->npe, 0, 0};
            }
            b->npe++;
        }
        free_list(imgs, nimg);
    }
    free_list(people, np);
    return 0;
}

/* The authors' alignment: the affine map taking the template's eyes and nose exactly onto the
 * face's (OpenCV getAffineTransform of three points), chip pixels to image pixels. */
static int align3_matrix(const facet_face *f, float m[6])
{
    static const double q[3][2] = {{38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366}};
    double det = q[0][0] * (q[1][1] - q[2][1]) - q[0][1] * (q[1][0] - q[2][0]) + (q[1][0] * q[2][1] - q[2][0] * q[1][1]);
    if (fabs(det) < 1e-9) return 1;
    /* Cramer's rule for [qx qy 1] . (a, b, c) = p for x and for y */
    for (int r = 0; r < 2; r++) {
        double p[3];
        for (int k = 0; k < 3; k++) p[k] = r ? f->kps[k].y : f->kps[k].x;
        double a = (p[0] * (q[1][1] - q[2][1]) - q[0][1] * (p[1] - p[2]) + (p[1] * q[2][1] - p[2] * q[1][1])) / det;
        double bb = (q[0][0] * (p[1] - p[2]) - p[0] * (q[1][0] - q[2][0]) + (q[1][0] * p[2] - q[2][0] * p[1])) / det;
        double c = (q[0][0] * (q[1][1] * p[2] - q[2][1] * p[1]) - q[0][1] * (q[1][0] * p[2] - q[2][0] * p[1]) +
                    p[0] * (q[1][0] * q[2][1] - q[2][0] * q[1][1])) / det;
        m[3 * r] = (float)a, m[3 * r + 1] = (float)bb, m[3 * r + 2] = (float)c;
    }
    return 0;
}

/* Detects and aligns one photo once, then makes each configuration's faceprint. */
static void one_photo(bench *b, int i)
{
    photo *ph = &b->ph[i];
    facet_sdk *sdk = b->cfg[0].sdk;
    facet_image *img = NULL, *chip5 = NULL, *chip3 = NULL;
    facet_face *faces = NULL, face;
    int n = 0, rc = cli_load_image(ph->path, &img);
    if (!rc) rc = facet_detect_faces(sdk, img, &faces, &n);
    if (!rc && n == 0) {
        ph->default_miss = 1;
        rc = facet_detect_largest_face(sdk, img, &face);
    } else if (!rc) {
        /* several faces: the one nearest the centre (LFW centres the named person) */
        double bd = 1e30;
        for (int k = 0; k < n; k++) {
            double dx = faces[k].x + faces[k].w / 2 - img->width / 2.0, dy = faces[k].y + faces[k].h / 2 - img->height / 2.0;
            if (dx * dx + dy * dy < bd) bd = dx * dx + dy * dy, face = faces[k];
        }
    }
    facet_free(faces);
    if (!rc) rc = facet_extract_aligned_face(sdk, img, &face, &chip5);
    for (int c = 0; c < b->ncfg && !rc; c++) {
        config *cf = &b->cfg[c];
        facet_image *chip = chip5, *own = NULL;
        if (cf->align3) {
            float m[6];
            static const uint8_t black[3] = {0, 0, 0};
            if (!chip3 && align3_matrix(&face, m) == 0) rc = facet_image_warp_affine(img, m, 112, 112, black, &chip3);
            if (!rc && !chip3) rc = FACET_E_INVALID_ARG;
            chip = chip3;
        }
        if (!rc && (chip->channels != 3 || cf->swap_rb)) {
            rc = chip->channels == 3 ? facet_image_clone(chip, &own) : facet_image_to_rgb(chip, &own);
            if (!rc && cf->swap_rb) rc = facet_image_swap_rb(own);
            chip = own;
        }
        facet_faceprint fp;
        double t0 = now_s();
        if (!rc) rc = facet_faceprint_from_chip(cf->sdk, chip, &fp);
        cf->feature_s += now_s() - t0;
        if (!rc) {
            memcpy(cf->fp + (size_t)i * FACET_FACEPRINT_DIM, fp.v, sizeof fp.v);
            memcpy(cf->model, fp.model, sizeof cf->model);
        }
        facet_image_destroy(own);
    }
    ph->ok = rc == 0;
    if (rc) fprintf(stderr, "%s  no faceprint: %s: %s\n", isatty(2) ? "\n" : "", ph->path, facet_last_error());
    facet_image_destroy(chip3);
    facet_image_destroy(chip5);
    facet_image_destroy(img);
}

static float dot(const float *a, const float *b)
{
    float s[8] = {0};
    for (int i = 0; i < FACET_FACEPRINT_DIM; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* ---------- scores ---------- */

typedef struct negpair {
    int a, b; /* photos */
} negpair;

typedef struct scores {
    float *pos;   /* each person's same-person pair scores, ascending, at pos + pos_off[person] */
    float *neg;   /* different-person scores, in negpair order */
    int *neg_ord; /* negpair indices by descending score */
    char *right;  /* probe got rank-1 right */
} scores;

typedef struct layout {
    size_t *pos_off; /* [npe + 1] */
    negpair *neg;
    int nneg;
    int *probe;      /* photo index of each probe */
    int nprobe;
    int *enrolled;   /* photo index enrolled for each person, -1 if none */
} layout;

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static const float *g_sort_neg;
static int cmp_neg_desc(const void *a, const void *b)
{
    float x = g_sort_neg[*(const int *)a], y = g_sort_neg[*(const int *)b];
    return x < y ? 1 : x > y ? -1 : 0;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int rng_below(uint64_t *s, int n)
{
    return (int)(rng_next(s) % (uint64_t)n);
}

static float sim_of(const bench *b, const config *c, int i, int j, float missing)
{
    if (!b->ph[i].ok || !b->ph[j].ok) return missing;
    return dot(c->fp + (size_t)i * FACET_FACEPRINT_DIM, c->fp + (size_t)j * FACET_FACEPRINT_DIM);
}

static int compute_scores(const bench *b, const layout *L, const config *c, facet_gallery *g, int cfg_index, scores *s)
{
    s->pos = malloc(sizeof(float) * (L->pos_off[b->npe] + 1));
    s->neg = malloc(sizeof(float) * (size_t)L->nneg);
    s->neg_ord = malloc(sizeof(int) * (size_t)L->nneg);
    s->right = calloc((size_t)L->nprobe + 1, 1);
    if (!s->pos || !s->neg || !s->neg_ord || !s->right) return FACET_E_NO_MEMORY;
    for (int p = 0; p < b->npe; p++) {
        const person *pe = &b->pe[p];
        float *o = s->pos + L->pos_off[p];
        for (int i = 0; i < pe->count; i++)
            for (int j = i + 1; j < pe->count; j++) *o++ = sim_of(b, c, pe->first + i, pe->first + j, -1.0f);
        qsort(s->pos + L->pos_off[p], L->pos_off[p + 1] - L->pos_off[p], sizeof(float), cmp_float);
    }
    for (int k = 0; k < L->nneg; k++) {
        s->neg[k] = sim_of(b, c, L->neg[k].a, L->neg[k].b, -1.0f);
        s->neg_ord[k] = k;
    }
    g_sort_neg = s->neg;
    qsort(s->neg_ord, (size_t)L->nneg, sizeof(int), cmp_neg_desc);
    /* 1:N through the gallery: one collection per configuration, in memory */
    char coll[32], id[32];
    snprintf(coll, sizeof coll, "bench%d", cfg_index);
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = c->model;
    cs.dim = FACET_FACEPRINT_DIM;
    int rc = facet_collection_create(g, coll, &cs);
    if (rc) return rc;
    for (int p = 0; p < b->npe && !rc; p++) {
        if (L->enrolled[p] < 0) continue;
        snprintf(id, sizeof id, "%d", p);
        char uuid[FACET_UUID_SIZE];
        rc = facet_gallery_enroll(g, coll, c->model, c->fp + (size_t)L->enrolled[p] * FACET_FACEPRINT_DIM,
                                  FACET_FACEPRINT_DIM, id, NULL, 0, uuid);
    }
    if (rc) return rc;
    float *pv = malloc(sizeof(float) * FACET_FACEPRINT_DIM * ((size_t)L->nprobe + 1));
    int *pidx = malloc(sizeof(int) * ((size_t)L->nprobe + 1)), np = 0;
    facet_match *m = malloc(sizeof *m * ((size_t)L->nprobe + 1));
    int *nm = malloc(sizeof(int) * ((size_t)L->nprobe + 1));
    if (!pv || !pidx || !m || !nm) rc = FACET_E_NO_MEMORY;
    for (int k = 0; k < L->nprobe && !rc; k++) {
        if (!b->ph[L->probe[k]].ok) continue; /* no faceprint: a miss */
        memcpy(pv + (size_t)np * FACET_FACEPRINT_DIM, c->fp + (size_t)L->probe[k] * FACET_FACEPRINT_DIM,
               sizeof(float) * FACET_FACEPRINT_DIM);
        pidx[np++] = k;
    }
    if (!rc && np) rc = facet_gallery_batch_identify(g, coll, c->model, pv, (size_t)np, FACET_FACEPRINT_DIM, 1, m, nm);
    for (int k = 0; k < np && !rc; k++) {
        snprintf(id, sizeof id, "%d", b->ph[L->probe[pidx[k]]].person);
        s->right[pidx[k]] = nm[k] == 1 && !strcmp(m[k].identity, id);
    }
    free(pv);
    free(pidx);
    free(m);
    free(nm);
    return rc;
}

static void free_scores(scores *s)
{
    free(s->pos);
    free(s->neg);
    free(s->neg_ord);
    free(s->right);
}

/* The figures of one configuration under person weights w (all 1: the point estimate). */
typedef struct figures {
    double tar[NFAR];
    float thr[NFAR];
    double rank1;
} figures;

/* Share of same-person pairs at or above t, each person weighing w[person] in all. */
static double tar_at(const bench *b, const layout *L, const scores *s, const double *w, float t)
{
    double acc = 0, tot = 0;
    for (int p = 0; p < b->npe; p++) {
        size_t lo = L->pos_off[p], n = L->pos_off[p + 1] - lo;
        if (!n || !w[p]) continue;
        size_t a = 0, z = n; /* the first score >= t */
        while (a < z) {
            size_t mid = (a + z) / 2;
            if (s->pos[lo + mid] < t) a = mid + 1;
            else z = mid;
        }
        acc += w[p] * (double)(n - a) / (double)n;
        tot += w[p];
    }
    return tot > 0 ? acc / tot : 0;
}

static void measure(const bench *b, const layout *L, const scores *s, const double *w, figures *f)
{
    double W = 0;
    for (int k = 0; k < L->nneg; k++) W += w[b->ph[L->neg[k].a].person] * w[b->ph[L->neg[k].b].person];
    for (int r = 0; r < NFAR; r++) {
        /* the lowest threshold whose weighted false accepts stay within far * W */
        double cum = 0, limit = fars[r] * W;
        float t = -1.0f;
        for (int k = 0; k < L->nneg; k++) {
            int q = s->neg_ord[k];
            cum += w[b->ph[L->neg[q].a].person] * w[b->ph[L->neg[q].b].person];
            if (cum > limit + 1e-12) {
                t = nextafterf(s->neg[q], 2.0f);
                break;
            }
        }
        f->tar[r] = tar_at(b, L, s, w, t);
        f->thr[r] = t;
    }
    double right = 0, tot = 0;
    for (int k = 0; k < L->nprobe; k++) {
        double wp = w[b->ph[L->probe[k]].person];
        tot += wp;
        right += wp * s->right[k];
    }
    f->rank1 = tot > 0 ? right / tot : 0;
}

/* 2.5th and 97.5th percentiles of v[0..n-1] (sorted in place). */
static void interval(double *v, int n, double *lo, double *hi)
{
    qsort(v, (size_t)n, sizeof *v, cli_cmp_double);
    *lo = v[(int)floor(0.025 * (n - 1))];
    *hi = v[(int)ceil(0.975 * (n - 1))];
}

/* Two-sided exact McNemar p-value: n01 and n10 discordant probes, binomial(n01 + n10, 1/2). */
static double mcnemar(int n01, int n10)
{
    int n = n01 + n10, k = n01 < n10 ? n01 : n10;
    if (n == 0) return 1.0;
    double p = 0;
    for (int i = 0; i <= k; i++) p += exp(lgamma(n + 1.0) - lgamma(i + 1.0) - lgamma(n - i + 1.0) - n * log(2.0));
    return fmin(1.0, 2 * p);
}

/* Threshold at the best balanced accuracy (each person's same-person pairs and all the
 * different-person pairs weigh half each), and the logistic fit of match probability on the
 * same weights, by Newton's method. */
static void fit(const bench *b, const layout *L, const scores *s)
{
    int npp = 0;
    for (int p = 0; p < b->npe; p++) npp += L->pos_off[p + 1] > L->pos_off[p];
    double best = -1;
    float best_t = 0;
    for (int k = -1000; k <= 1000; k++) {
        float t = (float)k / 1000.0f;
        double tar = 0, fa = 0;
        for (int p = 0; p < b->npe; p++) {
            size_t lo = L->pos_off[p], n = L->pos_off[p + 1] - lo, above = 0;
            for (size_t i = 0; i < n; i++) above += s->pos[lo + i] >= t;
            if (n) tar += (double)above / (double)n / npp;
        }
        for (int q = 0; q < L->nneg; q++) fa += s->neg[q] >= t;
        double acc = (tar + 1 - fa / L->nneg) / 2;
        if (acc > best) best = acc, best_t = t;
    }
    double A = 10, B = -3;
    for (int it = 0; it < 100; it++) {
        double ga = 0, gb = 0, haa = 1e-6, hab = 0, hbb = 1e-6;
        for (int pass = 0; pass < 2; pass++)
            for (int p = 0; p < (pass ? 1 : b->npe); p++) {
                size_t lo = pass ? 0 : L->pos_off[p], n = pass ? (size_t)L->nneg : L->pos_off[p + 1] - lo;
                if (!n) continue;
                double wt = pass ? 0.5 / L->nneg : 0.5 / npp / (double)n;
                for (size_t i = 0; i < n; i++) {
                    double x = pass ? s->neg[i] : s->pos[lo + i], y = !pass;
                    double q = 1 / (1 + exp(-(A * x + B))), r = q - y, v = q * (1 - q);
                    ga += wt * r * x, gb += wt * r;
                    haa += wt * v * x * x, hab += wt * v * x, hbb += wt * v;
                }
            }
        double det = haa * hbb - hab * hab;
        if (fabs(det) < 1e-18) break;
        double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
        A -= da, B -= db;
        if (fabs(da) + fabs(db) < 1e-9) break;
    }
    printf("fit: best balanced accuracy %.2f%% at threshold %.3f; match probability = 1 / (1 + exp(-(%.4f * "
           "similarity + %.4f))), 50%% at similarity %.4f\n",
           100 * best, best_t, A, B, -B / A);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: facet eval ident DIR... [--compare CONFIG]... [--config CONFIG] [--negatives N] [--bootstrap B]\n"
            "                        [--seed S] [--max-people N] [--fit] [SDK options]\n"
            "  DIR: one sub-folder per person. CONFIG: sdk, swap-rb, align3, mirror, no-mirror, joined by +\n"
            "  (e.g. swap-rb+mirror). Each --compare is measured paired against --config (default sdk).\n");
    return 2;
}

static long parse_count(const char *v, const char *name, long lo, long hi)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "facet: %s must be a whole number in %ld..%ld, not '%s'\n", name, lo, hi, v);
        exit(2);
    }
    return x;
}

int cmd_eval_ident(int argc, char **argv)
{
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    bench b;
    memset(&b, 0, sizeof b);
    const char *dirs[16], *base = "sdk", *cmp[MAX_CONFIGS - 1];
    int ndir = 0, ncmp = 0, boot = 1000, dofit = 0, max_people = 0;
    long nneg = 200000;
    uint64_t seed = 1;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if ((v = cli_opt(argc, argv, &i, "--compare"))) {
            if (ncmp == MAX_CONFIGS - 1) return usage();
            cmp[ncmp++] = v;
        } else if ((v = cli_opt(argc, argv, &i, "--config"))) base = v;
        else if ((v = cli_opt(argc, argv, &i, "--negatives"))) nneg = parse_count(v, "--negatives", 1, 100000000);
        else if ((v = cli_opt(argc, argv, &i, "--bootstrap"))) boot = (int)parse_count(v, "--bootstrap", 20, 100000);
        else if ((v = cli_opt(argc, argv, &i, "--seed"))) seed = (uint64_t)parse_count(v, "--seed", 0, 1L << 62);
        else if ((v = cli_opt(argc, argv, &i, "--max-people"))) max_people = (int)parse_count(v, "--max-people", 1, 1 << 30);
        else if (!strcmp(argv[i], "--fit")) dofit = 1;
        else if (cli_sdk_options(argc, argv, &i, &set)) continue;
        else if (argv[i][0] != '-' && ndir < 16) dirs[ndir++] = argv[i];
        else return usage();
    }
    if (!ndir) return usage();
    if (parse_config(base, &b.cfg[0])) return 2;
    for (int k = 0; k < ncmp; k++)
        if (parse_config(cmp[k], &b.cfg[k + 1])) return 2;
    b.ncfg = ncmp + 1;
    for (int d = 0; d < ndir; d++)
        if (scan(&b, dirs[d], max_people)) return 1;
    if (b.npe < 2) {
        fprintf(stderr, "facet: eval ident needs at least two people\n");
        return 1;
    }
    if (!set.num_threads) set.num_threads = 1; /* one photo at a time, one core: see docs/faceprint.md */
    int ret = 1;
    facet_gallery *g = NULL;
    scores sc[MAX_CONFIGS];
    memset(sc, 0, sizeof sc);
    layout L;
    memset(&L, 0, sizeof L);
    for (int c = 0; c < b.ncfg; c++) {
        facet_sdk_settings s = set;
        if (b.cfg[c].mirror >= 0) s.faceprint_mirror = b.cfg[c].mirror;
        if (cli_sdk_create(&s, &b.cfg[c].sdk)) goto done;
        b.cfg[c].fp = calloc((size_t)b.nph, sizeof(float) * FACET_FACEPRINT_DIM);
        if (!b.cfg[c].fp) goto done;
    }
    double t0 = now_s();
    for (int i = 0; i < b.nph; i++) {
        one_photo(&b, i);
        if (i % 16 == 15 || i + 1 == b.nph) cli_progress("faceprints", i + 1, b.nph, now_s() - t0);
    }
    double secs = now_s() - t0;
    int missing = 0, default_miss = 0, multi = 0;
    for (int i = 0; i < b.nph; i++) missing += !b.ph[i].ok, default_miss += b.ph[i].default_miss;
    /* the layout: same-person pairs, sampled different-person pairs, gallery and probes */
    L.pos_off = calloc((size_t)b.npe + 1, sizeof *L.pos_off);
    L.enrolled = malloc(sizeof(int) * (size_t)b.npe);
    L.probe = malloc(sizeof(int) * (size_t)b.nph);
    L.neg = malloc(sizeof *L.neg * (size_t)nneg);
    if (!L.pos_off || !L.enrolled || !L.probe || !L.neg) goto done;
    for (int p = 0; p < b.npe; p++) {
        size_t n = (size_t)b.pe[p].count;
        L.pos_off[p + 1] = L.pos_off[p] + n * (n - 1) / 2;
        multi += n > 1;
        L.enrolled[p] = -1;
        for (int k = 0; k < b.pe[p].count; k++) {
            int i = b.pe[p].first + k;
            if (L.enrolled[p] < 0 && b.ph[i].ok) L.enrolled[p] = i;
            else L.probe[L.nprobe++] = i;
        }
    }
    uint64_t rs = seed;
    for (L.nneg = 0; L.nneg < nneg;) {
        int pa = rng_below(&rs, b.npe), pb = rng_below(&rs, b.npe);
        if (pa == pb) continue;
        L.neg[L.nneg].a = b.pe[pa].first + rng_below(&rs, b.pe[pa].count);
        L.neg[L.nneg].b = b.pe[pb].first + rng_below(&rs, b.pe[pb].count);
        L.nneg++;
    }
    facet_gallery_settings gs;
    facet_gallery_defaults(&gs);
    gs.threads = 1;
    if (facet_gallery_open("memory:", &gs, &g)) {
        cli_fail("gallery", FACET_E_INTERNAL);
        goto done;
    }
    for (int c = 0; c < b.ncfg; c++) {
        int rc = compute_scores(&b, &L, &b.cfg[c], g, c, &sc[c]);
        if (rc) {
            fprintf(stderr, "facet: scoring %s: %s\n", b.cfg[c].name, facet_last_error());
            goto done;
        }
    }
    printf("eval ident: %d photos of %d people (%d with 2+ photos) in %d folder%s; %.1f s (%.1f ms per photo, one "
           "core, detection once, %d configuration%s)\n",
           b.nph, b.npe, multi, ndir, ndir == 1 ? "" : "s", secs, 1000 * secs / b.nph, b.ncfg, b.ncfg == 1 ? "" : "s");
    printf("photos where the configured detector pass found no face: %d; without a faceprint after the retries: %d%s\n",
           default_miss, missing, missing ? " (listed above; their pairs and probes count as failures)" : "");
    for (int i = 0; i < b.nph; i++)
        if (b.ph[i].default_miss) printf("  %s %s\n", b.ph[i].ok ? "found by a retry:" : "no face:", b.ph[i].path);
    printf("verification: %zu same-person pairs (each person's pairs weigh the same), %d different-person pairs "
           "(seed %llu)\n1:N: %d people enrolled (one photo each), %d probes; %d bootstrap replicates over people\n",
           L.pos_off[b.npe], L.nneg, (unsigned long long)seed, b.npe, L.nprobe, boot);
    /* bootstrap: the same replicates for every configuration, so differences are paired */
    double *w = malloc(sizeof(double) * (size_t)b.npe);
    double *rep = malloc(sizeof(double) * (size_t)boot * b.ncfg * (NFAR + 1));
    if (!w || !rep) {
        free(w);
        free(rep);
        goto done;
    }
    figures point[MAX_CONFIGS];
    for (int p = 0; p < b.npe; p++) w[p] = 1;
    for (int c = 0; c < b.ncfg; c++) measure(&b, &L, &sc[c], w, &point[c]);
    uint64_t bs = seed ^ 0x5bd1e995u;
    for (int r = 0; r < boot; r++) {
        for (int p = 0; p < b.npe; p++) w[p] = 0;
        for (int p = 0; p < b.npe; p++) w[rng_below(&bs, b.npe)] += 1;
        for (int c = 0; c < b.ncfg; c++) {
            figures f;
            measure(&b, &L, &sc[c], w, &f);
            double *o = rep + ((size_t)c * (NFAR + 1)) * boot;
            for (int k = 0; k < NFAR; k++) o[(size_t)k * boot + r] = f.tar[k];
            o[(size_t)NFAR * boot + r] = f.rank1;
        }
        if (r % 50 == 49 || r + 1 == boot) cli_progress("bootstrap", r + 1, boot, now_s() - t0 - secs);
    }
    double *tmp = malloc(sizeof(double) * (size_t)boot);
    for (int c = 0; c < b.ncfg && tmp; c++) {
        printf("\n%s (%s; fr_feature %.2f ms per chip)\n", b.cfg[c].name, b.cfg[c].model,
               1000 * b.cfg[c].feature_s / (b.nph - missing > 0 ? b.nph - missing : 1));
        for (int k = 0; k <= NFAR; k++) {
            double lo, hi, v = k < NFAR ? point[c].tar[k] : point[c].rank1;
            memcpy(tmp, rep + ((size_t)c * (NFAR + 1) + k) * boot, sizeof(double) * (size_t)boot);
            interval(tmp, boot, &lo, &hi);
            if (k < NFAR)
                printf("  TAR at FAR %.0e: %.2f%% [%.2f, %.2f] (threshold %.4f)\n", fars[k], 100 * v, 100 * lo,
                       100 * hi, point[c].thr[k]);
            else
                printf("  rank-1: %.2f%% [%.2f, %.2f]\n", 100 * v, 100 * lo, 100 * hi);
        }
        if (c == 0) continue;
        printf("  paired difference %s minus %s (95%% interval; significant when it excludes 0):\n", b.cfg[c].name,
               b.cfg[0].name);
        for (int k = 0; k <= NFAR; k++) {
            double lo, hi, v = k < NFAR ? point[c].tar[k] - point[0].tar[k] : point[c].rank1 - point[0].rank1;
            for (int r = 0; r < boot; r++)
                tmp[r] = rep[((size_t)c * (NFAR + 1) + k) * boot + r] - rep[(size_t)k * boot + r];
            interval(tmp, boot, &lo, &hi);
            char what[32];
            if (k < NFAR) snprintf(what, sizeof what, "TAR at FAR %.0e", fars[k]);
            else snprintf(what, sizeof what, "rank-1");
            printf("    %s: %+.2f points [%+.2f, %+.2f]%s", what, 100 * v, 100 * lo, 100 * hi,
                   lo > 0 || hi < 0 ? " significant" : " not significant");
            if (k == NFAR) {
                int n01 = 0, n10 = 0;
                for (int q = 0; q < L.nprobe; q++) n01 += !sc[0].right[q] && sc[c].right[q], n10 += sc[0].right[q] && !sc[c].right[q];
                printf("; McNemar: %d probes right only with %s, %d only with %s, p = %.2g", n01, b.cfg[c].name, n10,
                       b.cfg[0].name, mcnemar(n01, n10));
            }
            printf("\n");
        }
    }
    if (dofit) {
        printf("\n");
        fit(&b, &L, &sc[0]);
        float t = facet_match_threshold();
        for (int p = 0; p < b.npe; p++) w[p] = 1;
        int fa = 0;
        for (int q = 0; q < L.nneg; q++) fa += sc[0].neg[q] >= t;
        printf("at facet's documented threshold %.3f: TAR %.2f%%, FAR %.2e (%d of %d different-person pairs)\n", t,
               100 * tar_at(&b, &L, &sc[0], w, t), (double)fa / L.nneg, fa, L.nneg);
    }
    free(tmp);
    free(w);
    free(rep);
    ret = 0;
done:
    for (int c = 0; c < b.ncfg; c++) {
        facet_sdk_destroy(b.cfg[c].sdk);
        free(b.cfg[c].fp);
        free_scores(&sc[c]);
    }
    facet_gallery_destroy(g);
    free(L.pos_off);
    free(L.enrolled);
    free(L.probe);
    free(L.neg);
    for (int i = 0; i < b.nph; i++) free(b.ph[i].path);
    for (int p = 0; p < b.npe; p++) free(b.pe[p].name);
    free(b.ph);
    free(b.pe);
    return ret;
}
