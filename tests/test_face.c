/*
 * test_face.c - the face SDK on real photos from ../shared/data: face counts, landmark
 * geometry, the detector's own box decoding against the graph's, alignment, same-person pairs
 * above and different-person pairs below the documented threshold, EXIF-rotated input giving
 * the upright result, faceprint formats (binary, JSON, fp16 loss), model mismatch errors,
 * corrupt input, and one SDK handle shared by threads giving single-thread results.
 */
#include <pthread.h>
#include <unistd.h>

#include "facet/facet.h"
#include "harness.h"
#include "test_jpeg.h"

static facet_sdk *sdk;

/* The defaults with the test models on one thread. */
static void test_settings(facet_sdk_settings *set)
{
    facet_sdk_defaults(set);
    set->model_dir = test_model_dir();
    set->num_threads = 1;
}

static int setup(void)
{
    if (sdk) return 1;
    char p[1024];
    if (!test_file_exists(test_path(p, sizeof p, test_model_dir(), "fr_feature.onnx"))) return 0;
    facet_sdk_settings set;
    test_settings(&set);
    if (facet_sdk_create(&set, &sdk)) {
        printf("# sdk: %s\n", facet_last_error());
        return 0;
    }
    return 1;
}

static facet_image *load(const char *rel)
{
    char p[1024];
    facet_image *img = NULL;
    int rc = facet_image_decode_file(test_path(p, sizeof p, test_data_dir(), rel), NULL, &img);
    CHECK_MSG(rc == 0, "%s: %s", rel, facet_last_error());
    return img;
}

static int count_faces(const char *rel)
{
    facet_image *img = load(rel);
    if (!img) return -1;
    facet_face *f;
    int n = -1;
    int rc = facet_detect_faces(sdk, img, &f, &n);
    CHECK_MSG(rc == 0, "%s: %s", rel, facet_last_error());
    facet_free(f);
    facet_image_destroy(img);
    return n;
}

static void t_face_counts(void)
{
    if (!setup() || !test_file_exists(FACET_SOURCE_ROOT "/../shared/data/images/obama.jpg")) SKIP("models or data missing");
    static const struct {
        const char *path;
        int n;
    } cases[] = {
        {"images/obama.jpg", 1},
        {"images/biden.jpg", 1},
        {"images/astronaut.png", 1},
        {"images/obama_partial_face.jpg", 1},
        {"gallery/probe/kit_with_rose.jpg", 2},
        {"gallery/probe/obama1.jpg", 1},
        {"gallery/probe/alex_lacamoire1.jpg", 1},
        {"gallery/probe/johnsnow_test1.jpg", 1},
        {"gallery/enroll/rose_leslie/img1.jpg", 1},
        {"gallery/enroll/biden/biden2.jpg", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = count_faces(cases[i].path);
        CHECK_MSG(n == cases[i].n, "%s: %d faces, expected %d", cases[i].path, n, cases[i].n);
    }
}

/* The re-scoring second look keeps every face of the photos above at the threshold its
 * documentation recommends, returns them best first, with the pyramid's boxes. A mapping
 * error between the crop and the image (the re-crop's boxes no longer overlap the face) scores
 * every face 0 and fails this. */
static void t_detect_verify(void)
{
    if (!setup() || !test_file_exists(FACET_SOURCE_ROOT "/../shared/data/images/obama.jpg")) SKIP("models or data missing");
    facet_sdk_settings set;
    test_settings(&set);
    set.detect_verify = 2;
    facet_sdk *v = NULL;
    CHECK_EQ(facet_sdk_create(&set, &v), FACET_E_INVALID_ARG);
    set.detect_verify = 1;
    set.detect_threshold = 0.4f;
    CHECK_EQ(facet_sdk_create(&set, &v), 0);
    if (!v) return;
    static const struct {
        const char *path;
        int n;
    } cases[] = {
        {"images/obama.jpg", 1}, {"images/biden.jpg", 1}, {"images/obama_partial_face.jpg", 1},
        {"gallery/probe/kit_with_rose.jpg", 2}, {"gallery/probe/alex_lacamoire1.jpg", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        facet_image *img = load(cases[i].path);
        if (!img) continue;
        facet_face *f = NULL, *g = NULL;
        int n = -1, m = -1;
        CHECK_EQ(facet_detect_faces(v, img, &f, &n), 0);
        CHECK_EQ(facet_detect_faces(sdk, img, &g, &m), 0);
        CHECK_MSG(n == cases[i].n, "%s: %d faces with verification, expected %d", cases[i].path, n, cases[i].n);
        for (int k = 0; k < n && k < m; k++) {
            CHECK_MSG(f[k].score >= 0.4f && f[k].score <= 1, "%s: score %.3f", cases[i].path, f[k].score);
            if (k) CHECK(f[k].score <= f[k - 1].score);
            int same = 0; /* the plain detector's box for this face */
            for (int j = 0; j < m; j++)
                same |= fabsf(f[k].x - g[j].x) < 1 && fabsf(f[k].y - g[j].y) < 1 && fabsf(f[k].w - g[j].w) < 1;
            CHECK_MSG(same, "%s: face %d has a box the plain detector did not give", cases[i].path, k);
        }
        facet_free(f);
        facet_free(g);
        facet_image_destroy(img);
    }
    facet_sdk_destroy(v);
}

static void t_landmark_geometry(void)
{
    if (!setup()) SKIP("models missing");
    facet_image *img = load("images/bald_guys.jpg");
    if (!img) return;
    facet_face *f;
    int n;
    CHECK_EQ(facet_detect_faces(sdk, img, &f, &n), 0);
    CHECK(n >= 20);
    for (int i = 0; i < n; i++) {
        const facet_face *a = &f[i];
        CHECK(a->has_landmarks);
        CHECK(a->score >= 0.8f && a->score <= 1.0f);
        if (i) CHECK(a->score <= f[i - 1].score);
        /* eyes above the nose above the mouth, left before right, all inside the box */
        CHECK(a->kps[0].x < a->kps[1].x && a->kps[3].x < a->kps[4].x);
        CHECK(a->kps[0].y < a->kps[2].y && a->kps[1].y < a->kps[2].y);
        CHECK(a->kps[2].y < a->kps[3].y && a->kps[2].y < a->kps[4].y);
        for (int k = 0; k < 5; k++)
            CHECK(a->kps[k].x >= a->x - 2 && a->kps[k].x <= a->x + a->w + 2 && a->kps[k].y >= a->y - 2 &&
                  a->kps[k].y <= a->y + a->h + 2);
    }
    facet_free(f);
    facet_image_destroy(img);
}

/* Our anchor decoding on the raw heads equals the graph's own decoder at 320x240. */
static void t_decoder_matches_graph(void)
{
    if (!setup()) SKIP("models missing");
    facet_image *img = load("images/obama.jpg"), *small = NULL;
    if (!img) return;
    CHECK_EQ(facet_image_resize(img, 320, 240, &small), 0);
    float *x = malloc(sizeof(float) * 3 * 320 * 240);
    const float mean[3] = {127, 127, 127}, sc[3] = {1 / 128.0f, 1 / 128.0f, 1 / 128.0f};
    facet_image_to_tensor(small, x, mean, sc, 0);
    char p[1024];
    facet_nn_model *m;
    CHECK_EQ(facet_nn_model_load(test_path(p, sizeof p, test_model_dir(), "fr_detect.onnx"), &m), 0);
    facet_nn_session *s;
    facet_nn_settings set;
    facet_nn_settings_defaults(&set);
    const char *outs[] = {"scores", "boxes", "462"};
    set.output_names = outs;
    set.num_output_names = 3;
    CHECK_EQ(facet_nn_session_create(m, &set, &s), 0);
    facet_nn_session_set_input(s, 0, x, 3 * 320 * 240);
    CHECK_EQ(facet_nn_session_run(s), 0);
    const float *boxes, *loc;
    facet_nn_session_output(s, 1, &boxes, NULL);
    facet_nn_session_output(s, 2, &loc, NULL);
    static const float ms[4][3] = {{10, 16, 24}, {32, 48, 0}, {64, 96, 0}, {128, 192, 256}};
    static const int ns[4] = {3, 2, 2, 3}, steps[4] = {8, 16, 32, 64};
    int a = 0;
    double worst = 0;
    for (int k = 0; k < 4; k++) {
        int fw = (320 + steps[k] - 1) / steps[k], fh = (240 + steps[k] - 1) / steps[k];
        for (int i = 0; i < fh; i++)
            for (int j = 0; j < fw; j++)
                for (int q = 0; q < ns[k]; q++, a++) {
                    float cx = (j + 0.5f) * steps[k] + loc[4 * a] * 0.1f * ms[k][q];
                    float w = ms[k][q] * expf(loc[4 * a + 2] * 0.2f);
                    /* the graph gives corners normalised by the input size */
                    worst = fmax(worst, fabs((cx - w / 2) / 320 - boxes[4 * a]));
                    worst = fmax(worst, fabs((cx + w / 2) / 320 - boxes[4 * a + 2]));
                }
    }
    CHECK_EQ(a, 4420);
    CHECK_MSG(worst < 1e-4, "decoded corners differ by %g", worst);
    facet_nn_session_destroy(s);
    facet_nn_model_destroy(m);
    free(x);
    facet_image_destroy(small);
    facet_image_destroy(img);
}

static int faceprint_of(const char *rel, facet_faceprint *fp)
{
    facet_image *img = load(rel);
    if (!img) return -1;
    facet_face f;
    int rc = facet_detect_largest_face(sdk, img, &f);
    if (!rc) rc = facet_faceprint_extract(sdk, img, &f, fp);
    CHECK_MSG(rc == 0, "%s: %s", rel, facet_last_error());
    facet_image_destroy(img);
    return rc;
}

static void t_same_and_different_people(void)
{
    if (!setup()) SKIP("models missing");
    static const char *const people[][2] = {
        {"gallery/enroll/obama/obama.jpg", "gallery/enroll/obama/obama2.jpg"},
        {"gallery/enroll/biden/biden.jpg", "gallery/enroll/biden/biden2.jpg"},
        {"gallery/enroll/kit_harington/john1.jpeg", "gallery/enroll/kit_harington/john2.jpeg"},
        {"gallery/enroll/rose_leslie/img1.jpg", "gallery/enroll/rose_leslie/img2.jpg"},
        {"gallery/enroll/alex_lacamoire/img1.jpg", "gallery/probe/alex_lacamoire1.jpg"},
    };
    facet_faceprint fp[5][2];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 2; j++)
            if (faceprint_of(people[i][j], &fp[i][j])) return;
    float t = facet_match_threshold();
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 5; k++) {
            float s, p;
            CHECK_EQ(facet_compare(&fp[i][0], &fp[k][1], &s, &p), 0);
            if (i == k) CHECK_MSG(s > t + 0.1f && p > 0.95f, "%s vs %s: %.3f", people[i][0], people[k][1], s);
            else CHECK_MSG(s < t - 0.1f && p < 0.05f, "%s vs %s: %.3f", people[i][0], people[k][1], s);
        }
}

/* A JPEG stored rotated with an EXIF orientation gives the same faces and faceprint. */
static void t_exif_rotated_equals_upright(void)
{
    if (!setup()) SKIP("models missing");
    facet_image *up = load("gallery/enroll/obama/obama.jpg");
    if (!up) return;
    static const int orients[] = {6, 3, 8};
    for (int oi = 0; oi < 3; oi++) {
        facet_image *stored = stored_for(up, orients[oi]);
        uint8_t app1[64];
        unsigned n1 = exif_block(app1, orients[oi], oi == 1);
        size_t jsize;
        uint8_t *jpg = jpeg_encode_image(stored, 95, app1, n1, &jsize);
        size_t rsize;
        uint8_t *ref = jpeg_encode_image(up, 95, NULL, 0, &rsize);
        facet_image *a = NULL, *b = NULL;
        CHECK_EQ(facet_image_decode_memory(jpg, jsize, NULL, &a), 0);
        CHECK_EQ(facet_image_decode_memory(ref, rsize, NULL, &b), 0);
        facet_face fa, fb;
        facet_faceprint pa, pb;
        if (a && b && !facet_detect_largest_face(sdk, a, &fa) && !facet_detect_largest_face(sdk, b, &fb)) {
            CHECK_EQ(a->width, b->width);
            CHECK_NEAR(fa.x, fb.x, 3);
            CHECK_NEAR(fa.y, fb.y, 3);
            CHECK_NEAR(fa.h, fb.h, 3);
            facet_faceprint_extract(sdk, a, &fa, &pa);
            facet_faceprint_extract(sdk, b, &fb, &pb);
            float s;
            facet_compare(&pa, &pb, &s, NULL);
            CHECK_MSG(s > 0.98f, "orientation %d: similarity to upright %.4f", orients[oi], s);
        } else {
            CHECK_MSG(0, "orientation %d: no face", orients[oi]);
        }
        facet_image_destroy(a);
        facet_image_destroy(b);
        facet_image_destroy(stored);
        free(jpg);
        free(ref);
    }
    facet_image_destroy(up);
}

static void t_alignment_chip(void)
{
    if (!setup()) SKIP("models missing");
    facet_image *img = load("images/obama.jpg");
    if (!img) return;
    facet_face f;
    CHECK_EQ(facet_detect_largest_face(sdk, img, &f), 0);
    facet_image *chip;
    CHECK_EQ(facet_extract_aligned_face(sdk, img, &f, &chip), 0);
    CHECK_EQ(chip->width, 112);
    CHECK_EQ(chip->height, 112);
    /* the matrix maps the template's eye positions close to the detected eyes */
    float m[6];
    CHECK_EQ(facet_alignment_matrix(&f, m), 0);
    float ex = m[0] * 38.29f + m[1] * 51.70f + m[2], ey = m[3] * 38.29f + m[4] * 51.70f + m[5];
    CHECK_NEAR(ex, f.kps[0].x, f.w * 0.05);
    CHECK_NEAR(ey, f.kps[0].y, f.h * 0.05);
    facet_faceprint a, b;
    CHECK_EQ(facet_faceprint_from_chip(sdk, chip, &a), 0);
    CHECK_EQ(facet_faceprint_extract(sdk, img, &f, &b), 0);
    CHECK(!memcmp(a.v, b.v, sizeof a.v));
    facet_image_destroy(chip);
    facet_face bad = f;
    bad.has_landmarks = 0;
    CHECK_EQ(facet_extract_aligned_face(sdk, img, &bad, &chip), FACET_E_INVALID_ARG);
    facet_image_destroy(img);
}

static void t_faceprint_formats(void)
{
    if (!setup()) SKIP("models missing");
    facet_faceprint fp, back;
    if (faceprint_of("images/biden.jpg", &fp)) return;
    CHECK(!strncmp(fp.model, "fr_feature@87aacdfe", 19));
    double n2 = 0;
    for (int i = 0; i < fp.dim; i++) n2 += fp.v[i] * fp.v[i];
    CHECK_NEAR(n2, 1.0, 1e-5);
    uint8_t *bin;
    size_t size;
    CHECK_EQ(facet_faceprint_serialize(&fp, 0, &bin, &size), 0);
    CHECK_EQ(facet_faceprint_deserialize(bin, size, &back), 0);
    CHECK(!memcmp(back.v, fp.v, sizeof fp.v) && !strcmp(back.model, fp.model));
    /* every truncation and a flipped header byte are refused */
    for (size_t cut = 0; cut < size; cut += 97) CHECK(facet_faceprint_deserialize(bin, cut, &back) != 0);
    bin[4] = 9;
    CHECK_EQ(facet_faceprint_deserialize(bin, size, &back), FACET_E_FORMAT);
    CHECK(strstr(facet_last_error(), "version") != NULL);
    facet_free(bin);
    /* fp16 loses at most 0.001 of similarity against other real faceprints */
    CHECK_EQ(facet_faceprint_serialize(&fp, 1, &bin, &size), 0);
    CHECK_EQ(facet_faceprint_deserialize(bin, size, &back), 0);
    facet_free(bin);
    facet_faceprint other;
    if (faceprint_of("images/obama.jpg", &other)) return;
    float s32, s16, self;
    facet_compare(&fp, &other, &s32, NULL);
    facet_compare(&back, &other, &s16, NULL);
    facet_compare(&back, &fp, &self, NULL);
    CHECK(fabsf(s32 - s16) <= 0.001f);
    CHECK(self >= 0.999f);
    char *json;
    CHECK_EQ(facet_faceprint_to_json(&fp, 0, &json), 0);
    CHECK_EQ(facet_faceprint_from_json(json, &back), 0);
    CHECK(!memcmp(back.v, fp.v, sizeof fp.v));
    /* malformed JSON never gives a faceprint */
    static const char *const bad[] = {"", "{}", "{\"model\": \"x\"}", "{\"model\": \"m\", \"dim\": 512, \"dtype\": \"f32\", \"data\": \"AAAA\"}",
                                      "{\"model\": \"m\", \"dim\": 99999, \"dtype\": \"f32\", \"data\": \"\"}",
                                      "{\"model\": \"m\", \"dim\": 1, \"dtype\": \"f64\", \"data\": \"AAAAAA==\"}",
                                      "{\"model\": \"m\", \"dim\": 1, \"dtype\": \"f32\", \"data\": \"!!!!\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(facet_faceprint_from_json(bad[i], &back) != 0);
    json[strlen(json) / 2] = 0;
    CHECK(facet_faceprint_from_json(json, &back) != 0);
    facet_free(json);
    /* faceprints of another model are an error, not a number */
    other = fp;
    strcpy(other.model, "fr_feature@00000000");
    float s;
    CHECK_EQ(facet_compare(&fp, &other, &s, NULL), FACET_E_MODEL);
    other = fp;
    other.dim = 256; /* a valid faceprint of 256 values: another model's */
    double n256 = 0;
    for (int i = 0; i < 256; i++) n256 += (double)other.v[i] * other.v[i];
    for (int i = 0; i < 256; i++) other.v[i] = (float)(other.v[i] / sqrt(n256));
    CHECK_EQ(facet_compare(&fp, &other, &s, NULL), FACET_E_MODEL);
    other = fp;
    other.v[3] = NAN;
    CHECK_EQ(facet_compare(&fp, &other, &s, NULL), FACET_E_FORMAT);
}

static void t_bad_inputs(void)
{
    if (!setup()) SKIP("models missing");
    facet_face *f;
    int n;
    CHECK_EQ(facet_detect_faces(sdk, NULL, &f, &n), FACET_E_INVALID_ARG);
    facet_image *img = NULL;
    CHECK_EQ(facet_image_create(64, 64, 3, &img), 0);
    CHECK_EQ(facet_detect_faces(sdk, img, &f, &n), 0); /* a blank image has no faces */
    CHECK_EQ(n, 0);
    facet_free(f);
    facet_face face = {0};
    face.x = 1e30f;
    face.w = face.h = 10;
    CHECK_EQ(facet_face_landmarks(sdk, img, &face), FACET_E_INVALID_ARG);
    face.x = NAN;
    CHECK_EQ(facet_face_landmarks(sdk, img, &face), FACET_E_INVALID_ARG);
    /* a box partly outside the image is moved inside, not an error */
    face.x = 50, face.y = -20, face.w = 40, face.h = 40;
    CHECK_EQ(facet_face_landmarks(sdk, img, &face), 0);
    facet_image_destroy(img);
    CHECK_EQ(facet_detect_largest_face(sdk, NULL, &face), FACET_E_INVALID_ARG);
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    set.model_dir = "/nonexistent";
    set.preload = FACET_MODULE_DETECT;
    facet_sdk *s2 = NULL;
    CHECK_EQ(facet_sdk_create(&set, &s2), FACET_E_MODEL);
    CHECK(s2 == NULL && strstr(facet_last_error(), "fr_detect") != NULL);
    set.model_dir = NULL;
    set.preload = 0;
    set.smallest_face_height = 2;
    CHECK_EQ(facet_sdk_create(&set, &s2), FACET_E_INVALID_ARG);
    facet_sdk_destroy(NULL);
}

static void *read_sdk_errmsg(void *arg)
{
    static char copy[1024];
    snprintf(copy, sizeof copy, "%s", facet_sdk_errmsg(arg));
    return copy;
}

/* Models load lazily: a missing model folder is not an error at create, but the first call that
 * needs a model fails with one exact message (input and cause once each), on the thread and on
 * the handle, and another thread reads the handle's copy of it. With preload, create fails. */
static void t_missing_model_messages(void)
{
    const char *want = "model fr_detect: cannot open '/nonexistent/models/fr_detect.onnx': No such "
                       "file or directory (run `make models` or set FACET_MODEL_PATH)";
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    set.model_dir = "/nonexistent/models";
    facet_sdk *s = NULL;
    CHECK_EQ(facet_sdk_create(&set, &s), FACET_OK);
    if (!s) return;
    facet_image *img = NULL;
    CHECK_EQ(facet_image_create(64, 64, 3, &img), FACET_OK);
    facet_face *f = NULL;
    int n = -1;
    CHECK_EQ(facet_detect_faces(s, img, &f, &n), FACET_E_MODEL);
    CHECK(f == NULL && n == 0);
    CHECK_MSG(strcmp(facet_last_error(), want) == 0, "got '%s'", facet_last_error());
    CHECK_MSG(strcmp(facet_sdk_errmsg(s), want) == 0, "got '%s'", facet_sdk_errmsg(s));
    pthread_t th;
    void *other = NULL;
    CHECK_EQ(pthread_create(&th, NULL, read_sdk_errmsg, s), 0);
    pthread_join(th, &other);
    CHECK_MSG(other && strcmp(other, want) == 0, "other thread got '%s'", (char *)other);
    facet_image_destroy(img);
    facet_sdk_destroy(s);

    set.preload = FACET_MODULE_DETECT;
    s = NULL;
    CHECK_EQ(facet_sdk_create(&set, &s), FACET_E_MODEL);
    CHECK(s == NULL);
    CHECK_MSG(strcmp(facet_last_error(), want) == 0, "got '%s'", facet_last_error());
}

/* facet_sdk_load_image decodes with the handle's settings: max_pixels and allow_corrupt. */
static void t_sdk_load_image(void)
{
    char p[1024];
    test_path(p, sizeof p, test_data_dir(), "images/obama.jpg");
    if (!test_file_exists(p)) SKIP("data missing");
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    CHECK_EQ(set.allow_corrupt, 0);
    set.allow_corrupt = 2;
    facet_sdk *s = NULL;
    CHECK_EQ(facet_sdk_create(&set, &s), FACET_E_INVALID_ARG);
    CHECK(strcmp(facet_last_error(), "allow_corrupt must be 0 or 1") == 0);
    set.allow_corrupt = 1;
    set.max_pixels = 1000;
    CHECK_EQ(facet_sdk_create(&set, &s), FACET_OK);
    if (!s) return;
    facet_image *img = NULL;
    CHECK_EQ(facet_sdk_load_image(s, p, &img), FACET_E_LIMIT);
    CHECK(img == NULL && strstr(facet_sdk_errmsg(s), "decode option max_pixels") != NULL);
    facet_sdk_destroy(s);
    set.max_pixels = 0; /* the default */
    CHECK_EQ(facet_sdk_create(&set, &s), FACET_OK);
    CHECK_EQ(facet_sdk_load_image(s, p, &img), FACET_OK);
    CHECK(img && img->width == 910 && img->height == 1137);
    /* boxes_only: the same boxes, without landmarks */
    facet_sdk_settings bset = set;
    bset.boxes_only = 1;
    facet_sdk *b = NULL;
    CHECK_EQ(facet_sdk_create(&bset, &b), FACET_OK);
    facet_face *f1 = NULL, *f2 = NULL;
    int n1 = 0, n2 = 0;
    if (b && img) {
        CHECK_EQ(facet_detect_faces(s, img, &f1, &n1), 0);
        CHECK_EQ(facet_detect_faces(b, img, &f2, &n2), 0);
        CHECK(n1 == 1 && n2 == 1);
        if (n1 == 1 && n2 == 1) {
            CHECK(f1[0].has_landmarks && !f2[0].has_landmarks);
            CHECK(f1[0].x == f2[0].x && f1[0].w == f2[0].w && f1[0].score == f2[0].score);
        }
    }
    facet_free(f1);
    facet_free(f2);
    facet_sdk_destroy(b);
    facet_image_destroy(img);
    facet_sdk_destroy(s);
}

/* Mirror averaging: the faceprint is the normalised sum of the chip's and its mirror image's
 * plain faceprints, the same for a chip and its mirror image, and marked in the model id so
 * that it is never compared with a plain faceprint. */
static void t_faceprint_mirror(void)
{
    if (!setup()) SKIP("models missing");
    facet_sdk_settings set;
    test_settings(&set);
    set.faceprint_mirror = 2;
    facet_sdk *ms = NULL;
    CHECK_EQ(facet_sdk_create(&set, &ms), FACET_E_INVALID_ARG);
    set.faceprint_mirror = 1;
    if (facet_sdk_create(&set, &ms)) {
        CHECK_MSG(0, "sdk: %s", facet_last_error());
        return;
    }
    set.faceprint_mirror = 0;
    facet_sdk *ps = NULL;
    CHECK_EQ(facet_sdk_create(&set, &ps), 0);
    facet_image *img = load("images/obama.jpg"), *chip = NULL, *flipped = NULL;
    facet_face f;
    if (img && ps && facet_detect_largest_face(sdk, img, &f) == 0 && facet_extract_aligned_face(sdk, img, &f, &chip) == 0) {
        const float flip[6] = {-1, 0, 111, 0, 1, 0};
        CHECK_EQ(facet_image_warp_affine(chip, flip, 112, 112, NULL, &flipped), 0);
        facet_faceprint a, b, m, m2;
        CHECK_EQ(facet_faceprint_from_chip(ps, chip, &a), 0);
        CHECK_EQ(facet_faceprint_from_chip(ps, flipped, &b), 0);
        CHECK_EQ(facet_faceprint_from_chip(ms, chip, &m), 0);
        CHECK_EQ(facet_faceprint_from_chip(ms, flipped, &m2), 0);
        double n2 = 0, err = 0, err2 = 0, moved = 0;
        for (int i = 0; i < FACET_FACEPRINT_DIM; i++) n2 += (double)(a.v[i] + b.v[i]) * (a.v[i] + b.v[i]);
        for (int i = 0; i < FACET_FACEPRINT_DIM; i++) {
            err = fmax(err, fabs((a.v[i] + b.v[i]) / sqrt(n2) - m.v[i]));
            err2 = fmax(err2, fabs(m.v[i] - m2.v[i]));
            moved = fmax(moved, fabs(a.v[i] - m.v[i]));
        }
        CHECK_MSG(err < 1e-5, "mirror-averaged faceprint off by %g", err);
        CHECK_MSG(err2 < 1e-5, "chip and mirrored chip differ by %g", err2);
        CHECK(moved > 1e-3); /* it is not the plain faceprint */
        CHECK(strcmp(a.model, m.model) != 0 && m.model[strlen(m.model) - 1] == 'm');
        float sim;
        CHECK_EQ(facet_compare(&a, &m, &sim, NULL), FACET_E_MODEL);
        char id[FACET_FACEPRINT_MODEL_MAX];
        CHECK_EQ(facet_sdk_faceprint_model(ms, id), 0);
        CHECK(!strcmp(id, m.model));
    } else {
        CHECK_MSG(0, "no chip of obama.jpg: %s", facet_last_error());
    }
    facet_image_destroy(flipped);
    facet_image_destroy(chip);
    facet_image_destroy(img);
    facet_sdk_destroy(ps);
    facet_sdk_destroy(ms);
}

/* A photo that should hold a face: where the configured pass finds none, the largest-face call
 * looks again with the more sensitive passes and finds the face LFW centres; a photo without a
 * face stays without one (nothing is invented). */
static void t_largest_face_retries(void)
{
    if (!setup() || !test_file_exists(FACET_SOURCE_ROOT "/../shared/data/lfw-dev/images")) SKIP("models or data missing");
    /* the first needs the second look, the second also the finer pyramid and lower threshold */
    static const char *const missed[] = {"lfw-dev/images/Mohammad_Fares/Mohammad_Fares_0001.jpg",
                                         "lfw-dev/images/Tatiana_Gratcheva/Tatiana_Gratcheva_0001.jpg"};
    for (int k = 0; k < 2; k++) {
        facet_image *img = load(missed[k]);
        if (!img) continue;
        facet_face *all = NULL, f;
        int n = -1;
        CHECK_EQ(facet_detect_faces(sdk, img, &all, &n), 0);
        CHECK_MSG(n == 0, "%s: the default pass now finds %d faces; pick a photo it misses", missed[k], n);
        facet_free(all);
        CHECK_EQ(facet_detect_largest_face(sdk, img, &f), 0);
        CHECK_MSG(fabsf(f.x + f.w / 2 - 125) < 30 && fabsf(f.y + f.h / 2 - 125) < 40 && f.h > 80,
                  "%s: face at %.0f,%.0f %.0fx%.0f, not the centred one", missed[k], f.x, f.y, f.w, f.h);
        CHECK(f.has_landmarks && f.kps[FACET_KP_LEFT_EYE].x < f.kps[FACET_KP_RIGHT_EYE].x);
        facet_image_destroy(img);
    }
    facet_image *grey = NULL;
    CHECK_EQ(facet_image_create(250, 250, 3, &grey), 0);
    if (!grey) return;
    for (int y = 0; y < 250; y++) memset(grey->data + (size_t)y * (size_t)grey->stride, 128, 750);
    facet_face f;
    CHECK_EQ(facet_detect_largest_face(sdk, grey, &f), FACET_E_NOT_FOUND);
    CHECK(strstr(facet_last_error(), "retries") != NULL);
    facet_image_destroy(grey);
}

/* Faceprints made before preprocessing version 2 carried the bare model id: a collection of
 * them refuses today's probes and enrolments with FACET_E_MODEL and a message that names the
 * way out, instead of mixing two colour orders. */
static void t_old_collection_refuses_new_faceprints(void)
{
    if (!setup()) SKIP("models missing");
    facet_faceprint fp;
    if (faceprint_of("images/obama.jpg", &fp)) return;
    CHECK_MSG(strcmp(fp.model, "fr_feature@87aacdfe") != 0, "faceprints still carry the version 1 id %s", fp.model);
    facet_gallery *g = NULL;
    CHECK_EQ(facet_gallery_open("memory:", NULL, &g), 0);
    if (!g) return;
    facet_collection_settings cs;
    facet_collection_defaults(&cs);
    cs.model_id = "fr_feature@87aacdfe";
    cs.dim = FACET_FACEPRINT_DIM;
    CHECK_EQ(facet_collection_create(g, "old", &cs), 0);
    facet_match m;
    int found = 0;
    CHECK_EQ(facet_gallery_identify(g, "old", fp.model, fp.v, fp.dim, 0.0f, &m, &found), FACET_E_MODEL);
    CHECK(strstr(facet_gallery_errmsg(g), "facet collection migrate") != NULL);
    char uuid[FACET_UUID_SIZE];
    CHECK_EQ(facet_gallery_enroll(g, "old", fp.model, fp.v, fp.dim, "obama", NULL, 0, uuid), FACET_E_MODEL);
    facet_gallery_destroy(g);
}

/* A model file of the wrong version is refused by checksum. */
static void t_wrong_model_version(void)
{
    if (!setup()) SKIP("models missing");
    char dir[] = "/tmp/facet-models-XXXXXX";
    if (!mkdtemp(dir)) SKIP("no temp dir");
    char src[1024], dst[1100];
    snprintf(dst, sizeof dst, "%s/fr_landmark.onnx", dir);
    FILE *in = fopen(test_path(src, sizeof src, test_model_dir(), "fr_eye.onnx"), "rb");
    FILE *out = fopen(dst, "wb");
    char buf[65536];
    size_t k;
    while (in && out && (k = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, k, out);
    if (in) fclose(in);
    if (out) fclose(out);
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    set.model_dir = dir;
    set.preload = FACET_MODULE_LANDMARK;
    facet_sdk *s2 = NULL;
    CHECK_EQ(facet_sdk_create(&set, &s2), FACET_E_MODEL);
    CHECK(strstr(facet_last_error(), "wrong model version") != NULL);
    remove(dst);
    rmdir(dir);
}

typedef struct job {
    facet_sdk *sdk;
    const facet_image *img;
    facet_faceprint fp[3];
    int n, rc;
} job;

static void *job_run(void *arg)
{
    job *j = arg;
    for (int it = 0; it < 3 && !j->rc; it++) {
        facet_face *f;
        j->rc = facet_detect_faces(j->sdk, j->img, &f, &j->n);
        for (int i = 0; i < j->n && i < 3 && !j->rc; i++)
            j->rc = facet_faceprint_extract(j->sdk, j->img, &f[i], &j->fp[i]);
        facet_free(f);
    }
    return NULL;
}

/* Runs job_run once alone and then in three threads at once on `shared`; *one gets the
 * single-threaded answer (from the test's 1-thread SDK). Returns the image, or NULL. */
static facet_image *run_three(facet_sdk *shared, job *one, job jobs[3])
{
    facet_image *img = load("gallery/probe/kit_with_rose.jpg");
    if (!img) return NULL;
    memset(one, 0, sizeof *one);
    memset(jobs, 0, sizeof(job) * 3);
    one->img = jobs[0].img = jobs[1].img = jobs[2].img = img;
    one->sdk = sdk;
    jobs[0].sdk = jobs[1].sdk = jobs[2].sdk = shared;
    job_run(one);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, job_run, &jobs[i]);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(jobs[i].rc, 0);
        CHECK_EQ(jobs[i].n, one->n);
    }
    return img;
}

static void t_shared_sdk_threads(void)
{
    if (!setup()) SKIP("models missing");
    job one, jobs[3];
    facet_image *img = run_three(sdk, &one, jobs);
    for (int i = 0; img && i < 3; i++)
        for (int k = 0; k < one.n && k < 3; k++) CHECK(!memcmp(jobs[i].fp[k].v, one.fp[k].v, sizeof one.fp[k].v));
    facet_image_destroy(img);
}

/* An SDK with multi-threaded inference shared by three threads: one caller at a time gets the
 * multi-threaded sessions, the others single-threaded ones; the answers are the same. */
static void t_shared_sdk_multithreaded(void)
{
    if (!setup()) SKIP("models missing");
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    set.model_dir = test_model_dir();
    set.num_threads = 2;
    facet_sdk *multi;
    CHECK_EQ(facet_sdk_create(&set, &multi), 0);
    job one, jobs[3];
    facet_image *img = run_three(multi, &one, jobs);
    for (int i = 0; img && i < 3; i++)
        for (int k = 0; k < one.n && k < 3; k++) {
            float sim = 0;
            facet_compare(&jobs[i].fp[k], &one.fp[k], &sim, NULL);
            CHECK_MSG(sim > 0.9999f, "thread %d face %d: similarity to the single-threaded result %.6f", i, k, sim);
        }
    facet_sdk_destroy(multi);
    facet_image_destroy(img);
}

static void t_small_faces_in_4k(void)
{
    if (!setup()) SKIP("models missing");
    /* a 3840x2160 frame with the 40-pixel-high faces of a shrunken group photo in a corner */
    facet_image *group = load("images/bald_guys.jpg"), *small = NULL, *frame = NULL;
    if (!group) return;
    facet_face *gf;
    int gn;
    CHECK_EQ(facet_detect_faces(sdk, group, &gf, &gn), 0);
    float mean_h = 0;
    for (int i = 0; i < gn; i++) mean_h += gf[i].h / (float)gn;
    facet_free(gf);
    float scale = 44.0f / mean_h; /* the average face becomes 44 px high */
    int sw = (int)(group->width * scale), sh = (int)(group->height * scale);
    CHECK_EQ(facet_image_resize(group, sw, sh, &small), 0);
    CHECK_EQ(facet_image_create(3840, 2160, 3, &frame), 0);
    for (int y = 0; y < sh; y++) memcpy(frame->data + (size_t)(y + 1500) * frame->stride + (size_t)3000 * 3,
                                        small->data + (size_t)y * small->stride, (size_t)sw * 3);
    facet_face *f;
    int n;
    CHECK_EQ(facet_detect_faces(sdk, frame, &f, &n), 0);
    CHECK_MSG(n >= gn * 8 / 10, "%d of %d faces of about 44 px found in a 4K frame", n, gn);
    for (int i = 0; i < n; i++) CHECK(f[i].x >= 2990 && f[i].y >= 1490);
    facet_free(f);
    facet_image_destroy(frame);
    facet_image_destroy(small);
    facet_image_destroy(group);
}

static void t_teardown(void)
{
    facet_sdk_destroy(sdk);
    sdk = NULL;
}

TESTS(TEST(t_face_counts), TEST(t_detect_verify), TEST(t_landmark_geometry), TEST(t_decoder_matches_graph), TEST(t_same_and_different_people),
      TEST(t_exif_rotated_equals_upright), TEST(t_alignment_chip), TEST(t_faceprint_formats), TEST(t_faceprint_mirror), TEST(t_largest_face_retries),
      TEST(t_old_collection_refuses_new_faceprints), TEST(t_bad_inputs),
      TEST(t_missing_model_messages), TEST(t_sdk_load_image), TEST(t_wrong_model_version), TEST(t_shared_sdk_threads), TEST(t_shared_sdk_multithreaded), TEST(t_small_faces_in_4k), TEST(t_teardown))
