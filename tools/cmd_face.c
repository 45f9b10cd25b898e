/*
 * cmd_face.c - `facet detect`, `facet faceprint` and `facet compare`: the face SDK on the
 * command line. With --json, each image gives one line of JSON, so that any tool can score
 * facet's output; an image that fails gives {"path": ..., "error": ...} and the run goes on.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_sdk_options(int argc, char **argv, int *i, facet_sdk_settings *set)
{
    const char *v;
    if ((v = cli_opt(argc, argv, i, "--threshold"))) set->detect_threshold = (float)atof(v);
    else if ((v = cli_opt(argc, argv, i, "--min-face"))) set->smallest_face_height = atoi(v);
    else if ((v = cli_opt(argc, argv, i, "--threads"))) set->num_threads = atoi(v);
    else if ((v = cli_opt(argc, argv, i, "--passes"))) set->detect_passes = atoi(v);
    else if (!strcmp(argv[*i], "--verify")) set->detect_verify = 1;
    else if (!strcmp(argv[*i], "--allow-corrupt")) set->allow_corrupt = cli_allow_corrupt = 1;
    else if ((v = cli_opt(argc, argv, i, "--models"))) set->model_dir = v;
    else if ((v = cli_opt(argc, argv, i, "--backend")))
        set->backend = !strcmp(v, "ref") ? FACET_NN_BACKEND_REF : FACET_NN_BACKEND_XNNPACK;
    else return 0;
    return 1;
}

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

/* JSON string with escapes. */
void cli_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
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
    if (json) cli_json_image(path, img);
    else printf("%s: %dx%d, %d face%s\n", path, img->width, img->height, nfaces, nfaces == 1 ? "" : "s");
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
    if (json) cli_json_error(path, facet_last_error());
    else fprintf(stderr, "facet: %s\n", cli_error_text(why, sizeof why, path, facet_last_error()));
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
    int json = 0, p68 = 0, nimg = 0;
    const char *draw = NULL;
    const char **imgs = calloc((size_t)argc + 1, sizeof *imgs);
    if (!imgs) return 1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--points68")) p68 = 1;
        else if ((v = cli_opt(argc, argv, &i, "--draw"))) draw = v;
        else if (cli_sdk_options(argc, argv, &i, &set)) continue;
        else if (argv[i][0] == '-') {
            free(imgs);
            return usage_detect();
        } else imgs[nimg++] = argv[i];
    }
    if (!nimg) {
        free(imgs);
        return usage_detect();
    }
    facet_sdk *sdk;
    if (cli_sdk_create(&set, &sdk)) {
        free(imgs);
        return 1;
    }
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
            if (facet_image_write_png(img, out)) fprintf(stderr, "facet: cannot write %s: %s\n", out, facet_last_error());
        }
        facet_free(faces);
        facet_image_destroy(img);
    }
    facet_sdk_destroy(sdk);
    free(imgs);
    return failures ? 1 : 0;
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
    int json = 0, fp16 = 0, nimg = 0;
    const char *out = NULL;
    const char **imgs = calloc((size_t)argc + 1, sizeof *imgs);
    if (!imgs) return 1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--fp16")) fp16 = 1;
        else if ((v = cli_opt(argc, argv, &i, "--out"))) out = v;
        else if (cli_sdk_options(argc, argv, &i, &set)) continue;
        else if (argv[i][0] == '-') {
            free(imgs);
            return usage_faceprint();
        } else imgs[nimg++] = argv[i];
    }
    if (!nimg || (!json && (!out || nimg != 1))) {
        free(imgs);
        return usage_faceprint();
    }
    facet_sdk *sdk;
    if (cli_sdk_create(&set, &sdk)) {
        free(imgs);
        return 1;
    }
    int failures = 0;
    for (int k = 0; k < nimg; k++) {
        facet_image *img;
        int rc = cli_load_image(imgs[k], &img);
        facet_face *faces = NULL;
        int n = 0;
        if (!rc) rc = facet_detect_faces(sdk, img, &faces, &n);
        if (!rc && !json) {
            int best = -1;
            for (int i = 0; i < n; i++)
                if (best < 0 || faces[i].w * faces[i].h > faces[best].w * faces[best].h) best = i;
            facet_faceprint fp;
            if (best < 0) {
                fprintf(stderr, "facet: %s: no face found\n", imgs[k]);
                failures++;
            } else if ((rc = facet_faceprint_extract(sdk, img, &faces[best], &fp))) {
                fprintf(stderr, "facet: %s: %s\n", imgs[k], facet_last_error());
                failures++;
            } else {
                uint8_t *bin = NULL;
                size_t size = 0;
                rc = facet_faceprint_serialize(&fp, fp16, &bin, &size);
                FILE *f = rc ? NULL : fopen(out, "wb");
                if (!f || fwrite(bin, 1, size, f) != size) {
                    fprintf(stderr, "facet: cannot write %s\n", out);
                    failures++;
                } else {
                    printf("%s: faceprint of the largest of %d face%s (%s, %zu bytes) written to %s\n", imgs[k], n,
                           n == 1 ? "" : "s", fp.model, size, out);
                }
                if (f) fclose(f);
                facet_free(bin);
            }
        } else if (!rc) {
            cli_json_image(imgs[k], img);
            for (int i = 0; i < n; i++) {
                facet_faceprint fp;
                printf("%s", i ? ", " : "");
                print_face_json(&faces[i], 0);
                if (facet_faceprint_extract(sdk, img, &faces[i], &fp) == 0) {
                    printf(", \"model\": \"%s\", \"faceprint\": [", fp.model);
                    for (int d = 0; d < fp.dim; d++) printf("%s%.6g", d ? ", " : "", fp.v[d]);
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
            if (json) cli_json_error(imgs[k], facet_last_error());
            else fprintf(stderr, "facet: %s\n", cli_error_text(why, sizeof why, imgs[k], facet_last_error()));
        }
        facet_free(faces);
        facet_image_destroy(img);
    }
    facet_sdk_destroy(sdk);
    free(imgs);
    return failures ? 1 : 0;
}

/* A faceprint from a file: binary faceprint, faceprint JSON, or an image (largest face). */
static int load_faceprint(facet_sdk *sdk, const char *path, facet_faceprint *fp)
{
    uint8_t head[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        facet_image *none = NULL;
        return cli_load_image(path, &none); /* fails with the decoder's message */
    }
    size_t got = fread(head, 1, 4, f);
    fclose(f);
    if (got == 4 && (!memcmp(head, "FPRT", 4) || head[0] == '{')) {
        FILE *g = fopen(path, "rb");
        char *buf = malloc(1 << 16);
        size_t n = g && buf ? fread(buf, 1, (1 << 16) - 1, g) : 0;
        if (g) fclose(g);
        int rc;
        if (!buf) return FACET_E_NO_MEMORY;
        if (head[0] == '{') {
            buf[n] = 0;
            rc = facet_faceprint_from_json(buf, fp);
        } else {
            rc = facet_faceprint_deserialize(buf, n, fp);
        }
        free(buf);
        return rc;
    }
    facet_image *img;
    int rc = cli_load_image(path, &img);
    if (rc) return rc;
    facet_face face;
    rc = facet_detect_largest_face(sdk, img, &face);
    if (!rc) rc = facet_faceprint_extract(sdk, img, &face, fp);
    facet_image_destroy(img);
    return rc;
}

int cmd_compare(int argc, char **argv)
{
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    const char *a = NULL, *b = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (cli_sdk_options(argc, argv, &i, &set)) continue;
        else if (argv[i][0] != '-' && !a) a = argv[i];
        else if (argv[i][0] != '-' && !b) b = argv[i];
        else a = b = NULL, i = argc;
    }
    if (!a || !b) {
        fprintf(stderr, "usage: facet compare A B [--json]   (A, B: images, faceprint files or faceprint JSON)\n");
        return 2;
    }
    facet_sdk *sdk;
    if (cli_sdk_create(&set, &sdk)) return 1;
    facet_faceprint fa, fb;
    int rc = load_faceprint(sdk, a, &fa);
    if (rc) {
        facet_sdk_destroy(sdk);
        return cli_fail(a, rc);
    }
    rc = load_faceprint(sdk, b, &fb);
    if (rc) {
        facet_sdk_destroy(sdk);
        return cli_fail(b, rc);
    }
    float sim, prob;
    rc = facet_compare(&fa, &fb, &sim, &prob);
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
