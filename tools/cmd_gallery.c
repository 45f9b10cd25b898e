/*
 * cmd_gallery.c - `facet enroll`, `facet identify` and `facet collection ...`: collections of
 * faceprints in a store (sqlite:PATH by default, postgres://..., memory:), built from photos.
 *
 * enroll takes one folder per person (the folder name is the identity) or --identity NAME with
 * images; each image's largest face is enrolled. With --keep-chips the collection stores each
 * face's aligned 112x112 chip (PNG) next to the faceprint, so `facet collection migrate` can
 * rebuild the collection with a future model without the original photos.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "cli.h"

#define DEFAULT_DB "sqlite:facet.db"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* `create` 0: the store must exist (commands that only read or remove must not leave an
 * empty database behind a typo in the path). The match mapping is the library's default,
 * the one facet_compare uses. */
static int open_gallery(const char *db, int create, facet_gallery **g)
{
    facet_gallery_settings gs;
    facet_gallery_defaults(&gs);
    gs.must_exist = !create;
    int rc = facet_gallery_open(db, &gs, g);
    char shown[1200];
    if (rc) return cli_fail(facet_redact(db, shown, sizeof shown), rc); /* no password on screen */
    return 0;
}

/* Loads the collection, creating it (bound to the SDK's faceprint model) when `create`. */
static int ensure_collection(facet_gallery *g, facet_sdk *sdk, const char *name, int create, int fp16, int keep)
{
    facet_load_stats st;
    int rc = facet_collection_load(g, name, &st);
    if (rc == 0) {
        size_t bad = st.bad_length + st.bad_model + st.bad_value + st.bad_other;
        if (bad) fprintf(stderr, "facet: collection %s: %zu corrupt rows skipped\n", name, bad);
        return 0;
    }
    if (rc != FACET_E_NOT_FOUND || !create) {
        fprintf(stderr, "facet: collection %s: %s\n", name, facet_gallery_errmsg(g));
        return 1;
    }
    char model[FACET_FACEPRINT_MODEL_MAX];
    if ((rc = facet_sdk_faceprint_model(sdk, model))) return cli_fail("faceprint model", rc);
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = model;
    cs.dim = FACET_FACEPRINT_DIM;
    cs.dtype = fp16 ? FACET_DTYPE_F16 : FACET_DTYPE_F32;
    cs.keep_payload = keep;
    if ((rc = facet_collection_create(g, name, &cs))) {
        fprintf(stderr, "facet: cannot create collection %s: %s\n", name, facet_gallery_errmsg(g));
        return 1;
    }
    fprintf(stderr, "facet: created collection %s (%s, %s%s)\n", name, model, fp16 ? "fp16" : "fp32",
            keep ? ", keeping face chips" : "");
    return 0;
}

typedef struct enroll_item {
    char *identity;
    char *path;
} enroll_item;

static int is_image_name(const char *n)
{
    const char *e = strrchr(n, '.');
    if (!e) return 0;
    return !strcasecmp(e, ".jpg") || !strcasecmp(e, ".jpeg") || !strcasecmp(e, ".png");
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const enroll_item *)a)->path, ((const enroll_item *)b)->path);
}

/* One folder per person: DIR/<identity>/<image>. */
static int scan_dir(const char *dir, enroll_item **items, int *n, int *cap)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "facet: cannot open folder %s\n", dir);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(sub, &st) || !S_ISDIR(st.st_mode)) continue;
        DIR *p = opendir(sub);
        if (!p) continue;
        struct dirent *f;
        while ((f = readdir(p))) {
            if (!is_image_name(f->d_name)) continue;
            if (*n == *cap) {
                *cap = *cap * 2 + 64;
                enroll_item *ni = realloc(*items, sizeof **items * (size_t)*cap);
                if (!ni) break;
                *items = ni;
            }
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", sub, f->d_name);
            (*items)[*n].identity = strdup(e->d_name);
            (*items)[*n].path = strdup(path);
            (*n)++;
        }
        closedir(p);
    }
    closedir(d);
    qsort(*items, (size_t)*n, sizeof **items, by_path);
    return 0;
}

static int usage_enroll(void)
{
    fprintf(stderr, "usage: facet enroll --collection C [--db URL] [--fp16] [--keep-chips] DIR\n"
                    "       facet enroll --collection C [--db URL] --identity NAME IMG...\n"
                    "  DIR holds one folder per person, named after the person. Default db: %s\n",
            DEFAULT_DB);
    return 2;
}

int cmd_enroll(int argc, char **argv)
{
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    const char *coll = NULL, *db = DEFAULT_DB, *identity = NULL;
    int fp16 = 0, keep = 0, n = 0, cap = 0, json = 0;
    enroll_item *items = NULL;
    enum { O_COLL = CLI_OPT_FIRST_OWN, O_DB, O_IDENTITY, O_FP16, O_KEEP, O_JSON };
    static const struct option opts[] = {
        {"collection", required_argument, NULL, O_COLL}, {"db", required_argument, NULL, O_DB},
        {"identity", required_argument, NULL, O_IDENTITY}, {"fp16", no_argument, NULL, O_FP16},
        {"keep-chips", no_argument, NULL, O_KEEP}, {"json", no_argument, NULL, O_JSON}, CLI_SDK_OPTIONS, {0}};
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        if (c == O_COLL) coll = optarg;
        else if (c == O_DB) db = optarg;
        else if (c == O_IDENTITY) identity = optarg;
        else if (c == O_FP16) fp16 = 1;
        else if (c == O_KEEP) keep = 1;
        else if (c == O_JSON) json = 1;
        else if (!cli_sdk_option(c, optarg, &set)) return usage_enroll();
    }
    char **args = argv + optind;
    int nargs = argc - optind;
    if (!coll || !nargs || (!identity && nargs != 1)) return usage_enroll();
    if (identity) {
        items = calloc((size_t)nargs, sizeof *items);
        for (int i = 0; items && i < nargs; i++) {
            items[n].identity = strdup(identity);
            items[n].path = strdup(args[i]);
            n++;
        }
    } else if (scan_dir(args[0], &items, &n, &cap)) {
        return 1;
    }
    if (!n) {
        fprintf(stderr, "facet: no images to enrol\n");
        free(items);
        return 1;
    }
    facet_sdk *sdk = NULL;
    facet_gallery *g = NULL;
    int ret = 1, ok = 0, failed = 0;
    if (cli_sdk_create(&set, &sdk) || open_gallery(db, 1, &g) || ensure_collection(g, sdk, coll, 1, fp16, keep))
        goto done;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        facet_image *img = NULL, *chip = NULL;
        facet_face face;
        facet_faceprint fp;
        uint8_t *png = NULL;
        size_t png_size = 0;
        char uuid[FACET_UUID_SIZE];
        int rc = cli_load_image(items[i].path, &img);
        if (!rc) rc = facet_detect_largest_face(sdk, img, &face);
        if (!rc) rc = facet_extract_aligned_face(sdk, img, &face, &chip);
        if (!rc) rc = facet_faceprint_from_chip(sdk, chip, &fp);
        if (!rc && keep) rc = facet_image_encode_png(chip, &png, &png_size);
        const char *why = rc ? facet_last_error() : NULL;
        if (!rc) {
            rc = facet_gallery_enroll(g, coll, fp.model, fp.v, fp.dim, items[i].identity, png, png_size, uuid);
            if (rc) why = facet_gallery_errmsg(g);
        }
        if (rc) {
            failed++;
            char text[1600];
            if (json) {
                cli_json_error(items[i].path, why);
            } else {
                fprintf(stderr, "%sfacet: ", isatty(2) ? "\n" : "");
                cli_text(stderr, cli_error_text(text, sizeof text, items[i].path, why));
                fprintf(stderr, "\n");
            }
        } else {
            ok++;
            if (json) {
                printf("{\"path\": ");
                cli_json_str(stdout, items[i].path);
                printf(", \"identity\": ");
                cli_json_str(stdout, items[i].identity);
                printf(", \"uuid\": \"%s\", \"box\": [%.1f, %.1f, %.1f, %.1f]}\n", uuid, face.x, face.y, face.w, face.h);
            }
        }
        facet_free(png);
        facet_image_destroy(chip);
        facet_image_destroy(img);
        cli_progress("enrol", i + 1, n, now_s() - t0);
    }
    size_t count = 0;
    facet_gallery_count(g, coll, &count);
    if (!json)
        printf("enrolled %d of %d images into %s (%zu faceprints now) in %.1f s%s\n", ok, n, coll, count,
               now_s() - t0, failed ? "; see the errors above" : "");
    ret = failed ? 1 : 0;
done:
    for (int i = 0; i < n; i++) free(items[i].identity), free(items[i].path);
    free(items);
    facet_gallery_destroy(g);
    facet_sdk_destroy(sdk);
    return ret;
}

static int usage_identify(void)
{
    fprintf(stderr, "usage: facet identify --collection C [--db URL] [--top K] [--match T] [--json] IMG...\n"
                    "  every face of every image; default db %s, match threshold: facet's documented one\n",
            DEFAULT_DB);
    return 2;
}

int cmd_identify(int argc, char **argv)
{
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    const char *coll = NULL, *db = DEFAULT_DB;
    int json = 0, top = 1;
    float match = facet_match_threshold();
    enum { O_COLL = CLI_OPT_FIRST_OWN, O_DB, O_TOP, O_MATCH, O_JSON };
    static const struct option opts[] = {{"collection", required_argument, NULL, O_COLL},
                                         {"db", required_argument, NULL, O_DB},
                                         {"top", required_argument, NULL, O_TOP},
                                         {"match", required_argument, NULL, O_MATCH},
                                         {"json", no_argument, NULL, O_JSON},
                                         CLI_SDK_OPTIONS,
                                         {0}};
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        if (c == O_COLL) coll = optarg;
        else if (c == O_DB) db = optarg;
        else if (c == O_TOP) top = (int)cli_long("top", optarg, 1, 100);
        else if (c == O_MATCH) match = cli_float("match", optarg, -1, 1);
        else if (c == O_JSON) json = 1;
        else if (!cli_sdk_option(c, optarg, &set)) return usage_identify();
    }
    char **imgs = argv + optind;
    int nimg = argc - optind;
    if (!coll || !nimg) return usage_identify();
    facet_sdk *sdk = NULL;
    facet_gallery *g = NULL;
    int ret = 1, failures = 0;
    if (cli_sdk_create(&set, &sdk) || open_gallery(db, 0, &g) || ensure_collection(g, sdk, coll, 0, 0, 0)) goto done;
    facet_match cand[100];
    for (int k = 0; k < nimg; k++) {
        facet_image *img;
        facet_face *faces;
        int n, rc;
        if (cli_detect(sdk, imgs[k], json, &img, &faces, &n)) {
            failures++;
            continue;
        }
        cli_begin_image(imgs[k], img, n, json);
        for (int i = 0; i < n; i++) {
            facet_faceprint fp;
            int nc = 0;
            rc = facet_faceprint_extract(sdk, img, &faces[i], &fp);
            const char *why = rc ? facet_last_error() : NULL;
            if (!rc) {
                rc = facet_gallery_identify_top_k(g, coll, fp.model, fp.v, fp.dim, top, cand, &nc);
                if (rc) why = facet_gallery_errmsg(g);
            }
            /* only candidates at or above the match threshold are named */
            int shown = 0;
            while (!rc && shown < nc && cand[shown].similarity >= match) shown++;
            if (json) {
                printf("%s{\"box\": [%.1f, %.1f, %.1f, %.1f], ", i ? ", " : "", faces[i].x, faces[i].y, faces[i].w,
                       faces[i].h);
                if (rc) {
                    printf("\"error\": ");
                    cli_json_str(stdout, why);
                } else {
                    printf("\"candidates\": [");
                    for (int c = 0; c < shown; c++) {
                        printf("%s{\"identity\": ", c ? ", " : "");
                        cli_json_str(stdout, cand[c].identity);
                        printf(", \"uuid\": \"%s\", \"similarity\": %.4f, \"probability\": %.4f}", cand[c].uuid,
                               cand[c].similarity, cand[c].probability);
                    }
                    printf("]");
                }
                printf("}");
            } else if (rc) {
                printf("  face at %.0f,%.0f: error: %s\n", faces[i].x, faces[i].y, why);
            } else if (!shown) {
                printf("  face at %.0f,%.0f %.0fx%.0f: unknown (best ", faces[i].x, faces[i].y, faces[i].w,
                       faces[i].h);
                cli_text(stdout, nc ? cand[0].identity : "-");
                printf(" %.3f)\n", nc ? cand[0].similarity : 0.0f);
            } else {
                printf("  face at %.0f,%.0f %.0fx%.0f: ", faces[i].x, faces[i].y, faces[i].w, faces[i].h);
                cli_text(stdout, cand[0].identity);
                printf(" (similarity %.3f, probability %.3f)\n", cand[0].similarity, cand[0].probability);
                for (int c = 1; c < shown; c++) {
                    printf("      or ");
                    cli_text(stdout, cand[c].identity);
                    printf(" (%.3f)\n", cand[c].similarity);
                }
            }
            if (rc) failures++;
        }
        if (json) printf("]}\n");
        facet_free(faces);
        facet_image_destroy(img);
    }
    ret = failures ? 1 : 0;
done:
    facet_gallery_destroy(g);
    facet_sdk_destroy(sdk);
    return ret;
}

/* ---- facet collection ... ---- */

typedef struct migrate_ctx {
    facet_sdk *sdk;
    facet_gallery *dst;
    const char *to;
    int ok, failed;
} migrate_ctx;

static int migrate_one(void *user, const char *uuid, const char *identity, const void *payload, size_t size)
{
    migrate_ctx *m = user;
    facet_decode_options opt;
    facet_decode_defaults(&opt);
    facet_image *chip = NULL;
    facet_faceprint fp;
    char nu[FACET_UUID_SIZE];
    int rc = facet_image_decode_memory(payload, size, &opt, &chip);
    if (!rc) rc = facet_faceprint_from_chip(m->sdk, chip, &fp);
    if (!rc) rc = facet_gallery_enroll(m->dst, m->to, fp.model, fp.v, fp.dim, identity, payload, size, nu);
    facet_image_destroy(chip);
    if (rc) {
        m->failed++;
        fprintf(stderr, "facet: %s (", uuid);
        cli_text(stderr, identity);
        fprintf(stderr, "): %s\n", facet_last_error());
    } else {
        m->ok++;
    }
    return 0;
}

int cmd_collection(int argc, char **argv)
{
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    const char *db = DEFAULT_DB, *verb = argc > 1 ? argv[1] : "", *name = NULL, *to = NULL;
    int fp16 = 0, keep = 0, ok = argc > 1;
    enum { O_DB = CLI_OPT_FIRST_OWN, O_TO, O_FP16, O_KEEP };
    static const struct option opts[] = {{"db", required_argument, NULL, O_DB}, {"to", required_argument, NULL, O_TO},
                                         {"fp16", no_argument, NULL, O_FP16},
                                         {"keep-chips", no_argument, NULL, O_KEEP}, CLI_SDK_OPTIONS, {0}};
    /* options after the verb: `collection stats NAME --db URL` parses argv + 1 */
    for (int c; ok && (c = cli_getopt(argc - 1, argv + 1, "", opts)) != -1;) {
        if (c == O_DB) db = optarg;
        else if (c == O_TO) to = optarg;
        else if (c == O_FP16) fp16 = 1;
        else if (c == O_KEEP) keep = 1;
        else if (!cli_sdk_option(c, optarg, &set)) ok = 0;
    }
    int npos = ok ? argc - 1 - optind : 0;
    if (npos == 1) name = argv[1 + optind];
    int needs_name = strcmp(verb, "list") != 0;
    if (!ok || (strcmp(verb, "list") && strcmp(verb, "create") && strcmp(verb, "drop") && strcmp(verb, "stats") &&
                strcmp(verb, "migrate")) ||
        npos != needs_name || (!strcmp(verb, "migrate") && !to)) {
        fprintf(stderr, "usage: facet collection list [--db URL]\n"
                        "       facet collection create NAME [--fp16] [--keep-chips] [--db URL]\n"
                        "       facet collection drop NAME [--db URL]\n"
                        "       facet collection stats NAME [--db URL]\n"
                        "       facet collection migrate NAME --to NEW [--db URL]   (needs --keep-chips collections)\n");
        return 2;
    }
    if (to && !strcmp(verb, "migrate") && !strcmp(name, to)) {
        /* it would read the collection while writing into it: every faceprint twice */
        fprintf(stderr, "facet collection migrate: --to must name a new collection, not %s itself\n", name);
        return 2;
    }
    facet_gallery *g = NULL;
    facet_sdk *sdk = NULL;
    int ret = 1, rc;
    if (open_gallery(db, !strcmp(verb, "create"), &g)) return 1;
    if (!strcmp(verb, "list")) {
        facet_collection_info *info;
        size_t n;
        if ((rc = facet_collection_list(g, &info, &n))) {
            fprintf(stderr, "facet: %s\n", facet_gallery_errmsg(g));
            goto done;
        }
        char shown[1200];
        printf("%zu collection%s in %s\n", n, n == 1 ? "" : "s",
               facet_redact(db, shown, sizeof shown));
        for (size_t i = 0; i < n; i++) {
            size_t count = 0;
            if (!facet_collection_load(g, info[i].name, NULL)) facet_gallery_count(g, info[i].name, &count);
            printf("  %-24s %8zu faceprints  %s/%d %s%s\n", info[i].name, count, info[i].model_id, info[i].dim,
                   info[i].dtype == FACET_DTYPE_F16 ? "fp16" : "fp32", info[i].keep_payload ? " (keeps chips)" : "");
        }
        facet_free(info);
        ret = 0;
    } else if (!strcmp(verb, "create")) {
        if (!cli_sdk_create(&set, &sdk)) ret = ensure_collection(g, sdk, name, 1, fp16, keep);
    } else if (!strcmp(verb, "drop")) {
        if ((rc = facet_collection_drop(g, name))) fprintf(stderr, "facet: %s\n", facet_gallery_errmsg(g));
        else printf("dropped %s\n", name), ret = 0;
    } else if (!strcmp(verb, "stats")) {
        facet_load_stats st;
        facet_collection_info info;
        if ((rc = facet_collection_load(g, name, &st)) || (rc = facet_collection_get(g, name, &info))) {
            fprintf(stderr, "facet: %s\n", facet_gallery_errmsg(g));
            goto done;
        }
        facet_identity_count *ids;
        size_t nid = 0, count = 0;
        facet_gallery_count(g, name, &count);
        if (!facet_gallery_identities(g, name, &ids, &nid)) {
            printf("%s: %zu faceprints of %zu identities, model %s/%d, %s%s; loaded in %.1f ms", name, count, nid,
                   info.model_id, info.dim, info.dtype == FACET_DTYPE_F16 ? "fp16" : "fp32",
                   info.keep_payload ? ", keeps chips" : "", st.ms);
            size_t bad = st.bad_length + st.bad_model + st.bad_value + st.bad_other;
            printf(", %zu corrupt rows skipped\n", bad);
            for (size_t i = 0; i < nid; i++) {
                printf("  ");
                cli_text(stdout, ids[i].identity);
                printf("  %zu\n", ids[i].count);
            }
            facet_free(ids);
            ret = 0;
        }
    } else { /* migrate */
        facet_collection_info info;
        facet_gallery *dst = NULL;
        if ((rc = facet_collection_get(g, name, &info))) {
            fprintf(stderr, "facet: %s\n", facet_gallery_errmsg(g));
            goto done;
        }
        if (!info.keep_payload) {
            fprintf(stderr, "facet: collection %s keeps no face chips (create it with --keep-chips); its faceprints "
                            "cannot be rebuilt without the photos\n", name);
            goto done;
        }
        facet_collection_info existing;
        if (facet_collection_get(g, to, &existing) == FACET_OK) {
            fprintf(stderr, "facet: collection %s exists; migrate writes a new collection (drop it first)\n", to);
            goto done;
        }
        if (cli_sdk_create(&set, &sdk) || open_gallery(db, 0, &dst) ||
            ensure_collection(dst, sdk, to, 1, info.dtype == FACET_DTYPE_F16, 1)) {
            facet_gallery_destroy(dst);
            goto done;
        }
        migrate_ctx m = {sdk, dst, to, 0, 0};
        double t0 = now_s();
        rc = facet_collection_foreach_payload(g, name, migrate_one, &m);
        if (rc) fprintf(stderr, "facet: %s\n", facet_gallery_errmsg(g));
        printf("migrated %d faceprints of %s into %s with the current model in %.1f s (%d failed)\n", m.ok, name, to,
               now_s() - t0, m.failed);
        facet_gallery_destroy(dst);
        ret = rc || m.failed ? 1 : 0;
    }
done:
    facet_sdk_destroy(sdk);
    facet_gallery_destroy(g);
    return ret;
}
