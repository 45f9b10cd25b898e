/*
 * cmd_face.c - `facet detect`, `facet faceprint` and `facet compare`: the face SDK on the
 * command line. With --json, each image gives one line of JSON, so that any tool can score
 * facet's output; an image that fails gives {"path": ..., "error": ...} and the run goes on.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_sdk_create(const facet_sdk_settings *set, facet_sdk **sdk)
{
    int rc = facet_sdk_create(set, sdk);
    if (rc) return cli_fail("cannot start the SDK", rc);
    return 0;
}

int cli_allow_corrupt;

int cli_load_image(const char *path, facet_image **img)
{
    facet_decode_options opt;
    facet_decode_defaults(&opt);
    opt.allow_corrupt = cli_allow_corrupt;
    return facet_image_decode_file(path, &opt, img);
}

const char *cli_error_text(char *buf, size_t size, const char *path, const char *msg)
{
    char quoted[1100];
    snprintf(quoted, sizeof quoted, "'%s'", path);
    if (strstr(msg, quoted)) snprintf(buf, size, "%s", msg);
    else snprintf(buf, size, "%s: %s", path, msg);
    return buf;
}

void cli_json_error(const char *path, const char *msg)
{
    printf("{\"path\": ");
    cli_json_str(stdout, path);
    printf(", \"error\": ");
    cli_json_str(stdout, msg);
    printf("}\n");
}

void cli_json_image(const char *path, const facet_image *img)
{
    printf("{\"path\": ");
    cli_json_str(stdout, path);
    printf(", \"width\": %d, \"height\": %d, \"faces\": [", img->width, img->height);
}

void cli_begin_image(const char *path, const facet_image *img, int nfaces, int json)
{
    if (json) {
        cli_json_image(path, img);
    } else {
        cli_text(stdout, path);
        printf(": %dx%d, %d face%s\n", img->width, img->height, nfaces, nfaces == 1 ? "" : "s");
    }
}

int cli_detect(facet_sdk *sdk, const char *path, int json, facet_image **img, facet_face **faces, int *n)
{
    *img = NULL;
    *faces = NULL;
    *n = 0;
    int rc = cli_load_image(path, img);
    if (!rc) rc = facet_detect_faces(sdk, *img, faces, n);
    if (!rc) return 0;
    char why[1600];
    if (json) {
        cli_json_error(path, facet_last_error());
    } else {
        fprintf(stderr, "facet: ");
        cli_text(stderr, cli_error_text(why, sizeof why, path, facet_last_error()));
        fprintf(stderr, "\n");
    }
    facet_image_destroy(*img);
    *img = NULL;
    return 1;
}

static void print_face_json(const facet_face *f, int with_points68)
{
    printf("{\"box\": [%.1f, %.1f, %.1f, %.1f], \"score\": %.4f, \"landmarks\": [", f->x, f->y, f->w, f->h, f->score);
    for (int k = 0; k < 5; k++) printf("%s[%.1f, %.1f]", k ? ", " : "", f->kps[k].x, f->kps[k].y);
    printf("]");
    if (with_points68) {
        printf(", \"points68\": [");
        for (int k = 0; k < 68; k++) printf("%s[%.1f, %.1f]", k ? ", " : "", f->landmarks[k].x, f->landmarks[k].y);
        printf("]");
    }
}

static void draw_faces(facet_image *img, const facet_face *faces, int n)
{
    static const uint8_t green[3] = {0, 230, 0}, red[3] = {255, 40, 40}, yellow[3] = {255, 220, 0};
    int t = img->width > 1200 ? 3 : 2;
    for (int i = 0; i < n; i++) {
        const facet_face *f = &faces[i];
        facet_image_draw_rect(img, (int)f->x, (int)f->y, (int)f->w, (int)f->h, t, green);
        int r = f->h > 120 ? 2 : 1;
        for (int k = 0; k < 68 && f->has_landmarks; k++)
            facet_image_draw_dot(img, (int)f->landmarks[k].x, (int)f->landmarks[k].y, r, yellow);
        for (int k = 0; k < 5 && f->has_landmarks; k++)
            facet_image_draw_dot(img, (int)f->kps[k].x, (int)f->kps[k].y, r + 1, red);
    }
}

static int usage_detect(void)
{
    fprintf(stderr, "usage: facet detect IMG... [--json] [--points68] [--draw OUT.png|DIR] [--threshold T] "
                    "[--min-face PX] [--threads N]\n");
    return 2;
}

int cmd_detect(int argc, char **argv)
{
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    int json = 0, p68 = 0;
    const char *draw = NULL;
    enum { O_JSON = CLI_OPT_FIRST_OWN, O_P68, O_DRAW };
    static const struct option opts[] = {{"json", no_argument, NULL, O_JSON}, {"points68", no_argument, NULL, O_P68},
                                         {"draw", required_argument, NULL, O_DRAW}, CLI_SDK_OPTIONS, {0}};
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        if (c == O_JSON) json = 1;
        else if (c == O_P68) p68 = 1;
        else if (c == O_DRAW) draw = optarg;
        else if (!cli_sdk_option(c, optarg, &set)) return usage_detect();
    }
    char **imgs = argv + optind;
    int nimg = argc - optind;
    if (!nimg) return usage_detect();
    facet_sdk *sdk;
    if (cli_sdk_create(&set, &sdk)) return 1;
    int failures = 0;
    for (int k = 0; k < nimg; k++) {
        facet_image *img;
        facet_face *faces;
        int n;
        if (cli_detect(sdk, imgs[k], json, &img, &faces, &n)) {
            failures++;
            continue;
        }
        cli_begin_image(imgs[k], img, n, json);
        if (json) {
            for (int i = 0; i < n; i++) {
                printf("%s", i ? ", " : "");
                print_face_json(&faces[i], p68);
                facet_quality q;
                if (!facet_face_quality(sdk, img, &faces[i], 0, &q))
                    printf(", \"quality\": {\"blur\": \"%s\", \"blur_score\": %.2f, \"exposure\": \"%s\", "
                           "\"exposure_score\": %.3f, \"face_height\": %.1f}",
                           q.blur == FACET_BLUR_GOOD ? "good" : "blurry", q.blur_score,
                           q.exposure == FACET_EXPOSURE_GOOD ? "good" : q.exposure == FACET_EXPOSURE_OVER ? "over" : "under",
                           q.exposure_score, q.face_height);
                printf("}");
            }
            printf("]}\n");
        } else {
            for (int i = 0; i < n; i++)
                printf("  face %d: box %.0f,%.0f %.0fx%.0f score %.3f eyes (%.0f,%.0f) (%.0f,%.0f)\n", i + 1, faces[i].x,
                       faces[i].y, faces[i].w, faces[i].h, faces[i].score, faces[i].kps[0].x, faces[i].kps[0].y,
                       faces[i].kps[1].x, faces[i].kps[1].y);
        }
        if (draw) {
            char out[4096];
            if (nimg > 1) {
                const char *base = strrchr(imgs[k], '/');
                snprintf(out, sizeof out, "%s/%s.png", draw, base ? base + 1 : imgs[k]);
            } else {
                snprintf(out, sizeof out, "%s", draw);
            }
            draw_faces(img, faces, n);
            if (facet_image_write_png(img, out)) {
                fprintf(stderr, "facet: cannot write ");
                cli_text(stderr, out);
                fprintf(stderr, ": %s\n", facet_last_error());
                failures++;
            }
        }
        facet_free(faces);
        facet_image_destroy(img);
    }
    facet_sdk_destroy(sdk);
    return failures ? 1 : 0;
}

#define CLI_WRITE_FAILED 1 /* reported already; not a facet_status */

/* The binary form into `path`, every write checked (a full disk is not "written"). */
static int write_faceprint(const facet_faceprint *fp, int fp16, const char *path)
{
    uint8_t *bin = NULL;
    size_t size = 0;
    int rc = facet_faceprint_serialize(fp, fp16, &bin, &size);
    if (rc) return rc;
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "facet: cannot write ");
        cli_text(stderr, path);
        fprintf(stderr, ": %s\n", strerror(errno));
        facet_free(bin);
        return CLI_WRITE_FAILED;
    }
    size_t put = fwrite(bin, 1, size, f);
    facet_free(bin);
    if (cli_close(f, path) || put != size) return CLI_WRITE_FAILED;
    return 0;
}

static int usage_faceprint(void)
{
    fprintf(stderr, "usage: facet faceprint IMG --out FILE [--fp16]   (largest face, binary form)\n"
                    "       facet faceprint IMG... --json               (every face, one line per image)\n");
    return 2;
}

int cmd_faceprint(int argc, char **argv)
{
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    int json = 0, fp16 = 0;
    const char *out = NULL;
    enum { O_JSON = CLI_OPT_FIRST_OWN, O_FP16, O_OUT };
    static const struct option opts[] = {{"json", no_argument, NULL, O_JSON}, {"fp16", no_argument, NULL, O_FP16},
                                         {"out", required_argument, NULL, O_OUT}, CLI_SDK_OPTIONS, {0}};
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        if (c == O_JSON) json = 1;
        else if (c == O_FP16) fp16 = 1;
        else if (c == O_OUT) out = optarg;
        else if (!cli_sdk_option(c, optarg, &set)) return usage_faceprint();
    }
    char **imgs = argv + optind;
    int nimg = argc - optind;
    if (!nimg || (!json && (!out || nimg != 1)) || (json && out)) return usage_faceprint();
    facet_sdk *sdk;
    if (cli_sdk_create(&set, &sdk)) return 1;
    int failures = 0;
    for (int k = 0; k < nimg; k++) {
        facet_image *img;
        int rc = cli_load_image(imgs[k], &img);
        facet_face *faces = NULL;
        int n = 0;
        if (!rc) rc = facet_detect_faces(sdk, img, &faces, &n);
        if (!rc && n == 0) {
            /* a photo given for its faceprint should hold a face: the more sensitive retries of
             * facet_detect_largest_face look again before the photo is reported faceless */
            facet_face one;
            int r = facet_detect_largest_face(sdk, img, &one);
            if (r == 0 && (faces = malloc(sizeof *faces))) faces[0] = one, n = 1;
            else if (r != FACET_E_NOT_FOUND) rc = r;
        }
        if (!rc && !json) {
            int best = -1;
            for (int i = 0; i < n; i++)
                if (best < 0 || faces[i].w * faces[i].h > faces[best].w * faces[best].h) best = i;
            facet_faceprint fp;
            if (best < 0) {
                rc = FACET_E_NOT_FOUND;
                fprintf(stderr, "facet: ");
                cli_text(stderr, imgs[k]);
                fprintf(stderr, ": no face found\n");
                failures++;
            } else if ((rc = facet_faceprint_extract(sdk, img, &faces[best], &fp)) ||
                       (rc = write_faceprint(&fp, fp16, out))) {
                if (rc != CLI_WRITE_FAILED) {
                    fprintf(stderr, "facet: ");
                    cli_text(stderr, imgs[k]);
                    fprintf(stderr, ": %s\n", facet_last_error());
                }
                failures++;
            } else {
                cli_text(stdout, imgs[k]);
                printf(": faceprint of the largest of %d face%s (%s) written to ", n, n == 1 ? "" : "s", fp.model);
                cli_text(stdout, out);
                printf("\n");
            }
        } else if (!rc) {
            cli_json_image(imgs[k], img);
            for (int i = 0; i < n; i++) {
                facet_faceprint fp;
                printf("%s", i ? ", " : "");
                print_face_json(&faces[i], 0);
                if (facet_faceprint_extract(sdk, img, &faces[i], &fp) == 0) {
                    /* %.9g: every float prints back to the same bits, so `facet compare` reads
                     * this line as exactly the faceprint that was computed */
                    printf(", \"model\": \"%s\", \"faceprint\": [", fp.model);
                    for (int d = 0; d < fp.dim; d++) printf("%s%.9g", d ? ", " : "", fp.v[d]);
                    printf("]");
                } else {
                    printf(", \"error\": ");
                    cli_json_str(stdout, facet_last_error());
                }
                printf("}");
            }
            printf("]}\n");
        } else {
            failures++;
            char why[1600];
            if (json) {
                cli_json_error(imgs[k], facet_last_error());
            } else {
                fprintf(stderr, "facet: ");
                cli_text(stderr, cli_error_text(why, sizeof why, imgs[k], facet_last_error()));
                fprintf(stderr, "\n");
            }
        }
        facet_free(faces);
        facet_image_destroy(img);
    }
    facet_sdk_destroy(sdk);
    return failures ? 1 : 0;
}

/* Reports a file that is not a faceprint; returns 1. */
static int bad_faceprint_file(const char *path, const char *why)
{
    fprintf(stderr, "facet: ");
    cli_text(stderr, path);
    fprintf(stderr, ": %s\n", why);
    return 1;
}

/* One line of `facet faceprint --json`: the faceprint of its largest face. */
static int faceprint_from_cli_line(const char *path, json_t *line, facet_faceprint *fp)
{
    json_t *faces = json_object_get(line, "faces"), *best = NULL, *face;
    size_t i;
    double area = -1;
    if (!json_is_array(faces)) return bad_faceprint_file(path, "\"faces\" is not an array");
    json_array_foreach(faces, i, face) {
        json_t *box = json_object_get(face, "box");
        if (!json_object_get(face, "faceprint") || !json_is_array(box) || json_array_size(box) != 4) continue;
        double a = json_number_value(json_array_get(box, 2)) * json_number_value(json_array_get(box, 3));
        if (a > area) area = a, best = face;
    }
    if (!best) return bad_faceprint_file(path, "this `facet faceprint --json` line has no face with a faceprint");
    json_t *model = json_object_get(best, "model"), *v = json_object_get(best, "faceprint"), *x;
    if (!json_is_string(model) || json_string_length(model) >= FACET_FACEPRINT_MODEL_MAX || !json_is_array(v) ||
        json_array_size(v) < 1 || json_array_size(v) > FACET_FACEPRINT_DIM)
        return bad_faceprint_file(path, "a face needs \"model\" (a string) and \"faceprint\" (1..512 numbers)");
    memset(fp, 0, sizeof *fp);
    snprintf(fp->model, sizeof fp->model, "%s", json_string_value(model));
    fp->dim = (int)json_array_size(v);
    json_array_foreach(v, i, x) {
        if (!json_is_number(x)) return bad_faceprint_file(path, "\"faceprint\" holds something other than numbers");
        fp->v[i] = (float)json_number_value(x);
    }
    /* the library's own reader checks what a faceprint promises (model id, unit length) */
    uint8_t *bin;
    size_t size;
    if (facet_faceprint_serialize(fp, 0, &bin, &size)) return bad_faceprint_file(path, facet_last_error());
    int rc = facet_faceprint_deserialize(bin, size, fp);
    facet_free(bin);
    return rc ? bad_faceprint_file(path, facet_last_error()) : 0;
}

/* A faceprint from a file: binary faceprint, faceprint JSON, a line of `facet faceprint
 * --json`, or an image (its largest face). Reports its own errors; returns nonzero on one. */
static int load_faceprint(facet_sdk *sdk, const char *path, facet_faceprint *fp)
{
    enum { MAX = 1 << 20 };
    FILE *f = fopen(path, "rb");
    if (!f) return bad_faceprint_file(path, strerror(errno));
    char *buf = malloc(MAX + 1);
    size_t n = buf ? fread(buf, 1, MAX + 1, f) : 0;
    int rd = ferror(f);
    fclose(f);
    if (!buf) return bad_faceprint_file(path, "no memory");
    size_t ws = strspn(buf, " \t\r\n");
    int rc = 1;
    if (rd) {
        rc = bad_faceprint_file(path, "read error");
    } else if (n >= 4 && !memcmp(buf, "FPRT", 4)) {
        rc = facet_faceprint_deserialize(buf, n, fp) ? bad_faceprint_file(path, facet_last_error()) : 0;
    } else if (ws < n && buf[ws] == '{') {
        json_error_t err;
        json_t *root = NULL;
        if (n > MAX) rc = bad_faceprint_file(path, "JSON larger than 1 MiB");
        else if (memchr(buf, 0, n)) rc = bad_faceprint_file(path, "JSON with a NUL byte");
        else if (buf[n] = 0, !(root = json_loads(buf, JSON_REJECT_DUPLICATES, &err))) {
            char why[300];
            snprintf(why, sizeof why, "line %d column %d: %s", err.line, err.column, err.text);
            rc = bad_faceprint_file(path, why);
        } else if (json_object_get(root, "faces")) {
            rc = faceprint_from_cli_line(path, root, fp);
        } else {
            rc = facet_faceprint_from_json(buf, fp) ? bad_faceprint_file(path, facet_last_error()) : 0;
        }
        json_decref(root);
    } else {
        facet_image *img;
        facet_face face;
        rc = cli_load_image(path, &img);
        if (!rc) {
            rc = facet_detect_largest_face(sdk, img, &face);
            if (!rc) rc = facet_faceprint_extract(sdk, img, &face, fp);
            facet_image_destroy(img);
        }
        if (rc) rc = bad_faceprint_file(path, facet_last_error());
    }
    free(buf);
    return rc;
}

int cmd_compare(int argc, char **argv)
{
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    int json = 0;
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, CLI_SDK_OPTIONS, {0}};
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        if (c == 'j') json = 1;
        else if (!cli_sdk_option(c, optarg, &set)) return 2;
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: facet compare A B [--json]   (A, B: images, faceprint files, faceprint JSON or a line "
                        "of `facet faceprint --json`)\n");
        return 2;
    }
    const char *a = argv[optind], *b = argv[optind + 1];
    facet_sdk *sdk;
    if (cli_sdk_create(&set, &sdk)) return 1;
    facet_faceprint fa, fb;
    if (load_faceprint(sdk, a, &fa) || load_faceprint(sdk, b, &fb)) {
        facet_sdk_destroy(sdk);
        return 1;
    }
    float sim, prob;
    int rc = facet_compare(&fa, &fb, &sim, &prob);
    facet_sdk_destroy(sdk);
    if (rc) return cli_fail("compare", rc);
    int same = sim >= facet_match_threshold();
    if (json)
        printf("{\"similarity\": %.4f, \"probability\": %.4f, \"threshold\": %.3f, \"match\": %s}\n", sim, prob,
               facet_match_threshold(), same ? "true" : "false");
    else
        printf("similarity %.4f, match probability %.4f: %s (threshold %.3f)\n", sim, prob,
               same ? "same person" : "different people", facet_match_threshold());
    return 0;
}
