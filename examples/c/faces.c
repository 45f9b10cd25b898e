/*
 * faces.c - the smallest complete use of libfacet: find the faces in a photo and, given a
 * second photo, say whether their largest faces are the same person.
 *
 *   cc faces.c $(pkg-config --cflags --libs facet) -o faces
 *   FACET_MODEL_PATH=/usr/share/facet/models ./faces a.jpg [b.jpg]
 *
 * Every call returns a facet_status; facet_last_error() says what went wrong in this thread.
 */
#include <stdio.h>

#include <facet/facet.h>

static int fail(const char *what, facet_status rc)
{
    fprintf(stderr, "%s: %s (%s)\n", what, facet_last_error(), facet_status_str(rc));
    return 1;
}

/* Decodes `path`, prints its faces and fills `fp` with the largest face's faceprint. */
static int faces_of(facet_sdk *sdk, const char *path, facet_faceprint *fp)
{
    facet_image *img = NULL;
    facet_face *faces = NULL;
    int n = 0, best = -1;
    facet_status rc = facet_image_decode_file(path, NULL, &img);
    if (rc) return fail(path, rc);
    rc = facet_detect_faces(sdk, img, &faces, &n);
    if (rc) {
        facet_image_destroy(img);
        return fail(path, rc);
    }
    printf("%s: %d face(s)\n", path, n);
    for (int i = 0; i < n; i++) {
        printf("  box %.0f,%.0f %.0fx%.0f  score %.3f\n", faces[i].x, faces[i].y, faces[i].w,
               faces[i].h, faces[i].score);
        if (best < 0 || faces[i].w * faces[i].h > faces[best].w * faces[best].h) best = i;
    }
    rc = best < 0 ? FACET_E_NOT_FOUND : facet_faceprint_extract(sdk, img, &faces[best], fp);
    facet_free(faces);
    facet_image_destroy(img);
    return rc ? fail(path, rc) : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s IMAGE [IMAGE2]\n", argv[0]);
        return 2;
    }
    facet_sdk_settings settings;
    facet_sdk_defaults(&settings); /* models from $FACET_MODEL_PATH, else ./models */
    facet_sdk *sdk = NULL;
    facet_status rc = facet_sdk_create(&settings, &sdk);
    if (rc) return fail("facet_sdk_create", rc);

    facet_faceprint a, b;
    int err = faces_of(sdk, argv[1], &a);
    if (!err && argc == 3) err = faces_of(sdk, argv[2], &b);
    if (!err && argc == 3) {
        float similarity, probability;
        rc = facet_compare(&a, &b, &similarity, &probability);
        if (rc) {
            err = fail("facet_compare", rc);
        } else {
            printf("similarity %.3f, match probability %.3f: %s\n", similarity, probability,
                   similarity >= facet_match_threshold() ? "same person" : "different people");
        }
    }
    facet_sdk_destroy(sdk);
    return err;
}
