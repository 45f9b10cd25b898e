/*
 * cmd_analyze.c - `facet analyze IMG... [--json]`: every quality check and attribute of every
 * face: sharpness, exposure, face height, head pose, eyes, liveness, age, gender, expression.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *exposure_name(facet_exposure e)
{
    return e == FACET_EXPOSURE_GOOD ? "good" : e == FACET_EXPOSURE_OVER ? "over" : "under";
}

int cmd_analyze(int argc, char **argv)
{
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    int json = 0, ok = 1;
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, CLI_SDK_OPTIONS, {0}};
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        if (c == 'j') json = 1;
        else if (!cli_sdk_option(c, optarg, &set)) ok = 0;
    }
    char **imgs = argv + optind;
    int nimg = argc - optind;
    if (!ok || nimg <= 0) {
        fprintf(stderr, "usage: facet analyze IMG... [--json]   (quality and attributes of every face)\n");
        return 2;
    }
    facet_sdk *sdk;
    if (cli_sdk_create(&set, &sdk)) return 1;
    const double deg = 180.0 / M_PI;
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
        for (int i = 0; i < n; i++) {
            const facet_face *f = &faces[i];
            facet_quality q;
            facet_attributes a;
            int rc = facet_face_quality(sdk, img, f, FACET_QUALITY_ALL, &q);
            if (!rc) rc = facet_face_attributes(sdk, img, f, &a);
            if (json) {
                printf("%s{\"box\": [%.1f, %.1f, %.1f, %.1f], \"score\": %.4f", i ? ", " : "", f->x, f->y, f->w, f->h,
                       f->score);
                if (rc) {
                    printf(", \"error\": ");
                    cli_json_str(stdout, facet_last_error());
                } else {
                    printf(", \"blur\": \"%s\", \"blur_score\": %.1f, \"exposure\": \"%s\", \"exposure_score\": %.3f, "
                           "\"face_height\": %.1f, \"yaw\": %.4f, \"pitch\": %.4f, \"roll\": %.4f, "
                           "\"left_eye_open\": %s, \"left_eye_score\": %.3f, \"right_eye_open\": %s, "
                           "\"right_eye_score\": %.3f, \"live\": %s, \"liveness_score\": %.3f, \"age\": %.1f, "
                           "\"gender\": \"%s\", \"gender_score\": %.3f, \"expression\": \"%s\", \"expression_scores\": {",
                           q.blur ? "blurry" : "good", q.blur_score, exposure_name(q.exposure), q.exposure_score,
                           q.face_height, q.yaw, q.pitch, q.roll, q.left_eye_open ? "true" : "false", q.left_eye_score,
                           q.right_eye_open ? "true" : "false", q.right_eye_score, q.is_live ? "true" : "false",
                           q.liveness_score, a.age, a.gender == FACET_GENDER_MALE ? "male" : "female", a.gender_score,
                           facet_expression_name(a.expression));
                    for (int e = 0; e < FACET_EXPR_COUNT; e++)
                        printf("%s\"%s\": %.3f", e ? ", " : "", facet_expression_name((facet_expression)e),
                               a.expression_scores[e]);
                    printf("}");
                }
                printf("}");
            } else if (rc) {
                printf("  face %d: error: %s\n", i + 1, facet_last_error());
            } else {
                printf("  face %d at %.0f,%.0f %.0fx%.0f (score %.3f)\n", i + 1, f->x, f->y, f->w, f->h, f->score);
                printf("    sharpness %s (%.0f), exposure %s (%.2f), height %.0f px\n", q.blur ? "BLURRY" : "good",
                       q.blur_score, exposure_name(q.exposure), q.exposure_score, q.face_height);
                printf("    yaw %+.1f, pitch %+.1f, roll %+.1f degrees; eyes %s/%s (%.2f, %.2f); %s (liveness %.2f)\n",
                       q.yaw * deg, q.pitch * deg, q.roll * deg, q.left_eye_open ? "open" : "CLOSED",
                       q.right_eye_open ? "open" : "CLOSED", q.left_eye_score, q.right_eye_score,
                       q.is_live ? "live" : "SPOOF", q.liveness_score);
                printf("    age %.0f, %s (%.2f), %s (%.2f)\n", a.age, a.gender == FACET_GENDER_MALE ? "male" : "female",
                       a.gender_score, facet_expression_name(a.expression), a.expression_scores[a.expression]);
            }
            if (rc) failures++;
        }
        if (json) printf("]}\n");
        facet_free(faces);
        facet_image_destroy(img);
    }
    facet_sdk_destroy(sdk);
    return failures ? 1 : 0;
}
