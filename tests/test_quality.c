/*
 * test_quality.c - quality checks and attributes on real photos: frontal faces read frontal
 * and a mirrored face turns the yaw's sign; blurred, darkened and brightened copies of sharp,
 * well-exposed faces are called blurry, under- and over-exposed; open eyes read open; real
 * photos read live, shut eyes closed; Obama and Biden read male adults, Rose Leslie female; probabilities sum to 1.
 */
#include "facet/facet.h"
#include "harness.h"

static facet_sdk *sdk;

static int setup(void)
{
    if (sdk) return 1;
    char p[1024];
    if (!test_file_exists(test_path(p, sizeof p, test_model_dir(), "fr_pose.onnx"))) return 0;
    facet_sdk_settings set;
    facet_sdk_defaults(&set);
    set.model_dir = test_model_dir();
    set.num_threads = 1;
    return facet_sdk_create(&set, &sdk) == 0;
}

static facet_image *load_face(const char *rel, facet_face *f)
{
    char p[1024];
    facet_image *img = NULL;
    int rc = facet_image_decode_file(test_path(p, sizeof p, test_data_dir(), rel), NULL, &img);
    if (!rc) rc = facet_detect_largest_face(sdk, img, f);
    CHECK_MSG(rc == 0, "%s: %s", rel, facet_last_error());
    if (rc) {
        facet_image_destroy(img);
        return NULL;
    }
    return img;
}

static const char *const frontal[] = {"images/obama.jpg", "images/biden.jpg", "gallery/enroll/alex_lacamoire/img1.jpg",
                                      "gallery/enroll/rose_leslie/img2.jpg"};

static void t_pose(void)
{
    if (!setup()) SKIP("models missing");
    const double deg = 180.0 / 3.14159265358979;
    for (size_t i = 0; i < sizeof frontal / sizeof frontal[0]; i++) {
        facet_face f;
        facet_image *img = load_face(frontal[i], &f);
        if (!img) continue;
        facet_quality q;
        CHECK_EQ(facet_face_quality(sdk, img, &f, FACET_QUALITY_POSE, &q), 0);
        CHECK(q.has_pose && !q.has_eyes && !q.has_liveness);
        CHECK_MSG(fabs(q.yaw * deg) < 15 && fabs(q.roll * deg) < 15, "%s: yaw %.1f roll %.1f", frontal[i],
                  q.yaw * deg, q.roll * deg);
        facet_image_destroy(img);
    }
    /* a turned face, and its mirror image turned the other way */
    facet_face f, fm;
    facet_image *img = load_face("gallery/enroll/obama/obama2.jpg", &f), *mir = NULL;
    if (!img) return;
    facet_image_clone(img, &mir);
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            memcpy(mir->data + (size_t)y * mir->stride + (size_t)(img->width - 1 - x) * 3,
                   img->data + (size_t)y * img->stride + (size_t)x * 3, 3);
    CHECK_EQ(facet_detect_largest_face(sdk, mir, &fm), 0);
    facet_quality a, b;
    CHECK_EQ(facet_face_quality(sdk, img, &f, FACET_QUALITY_POSE, &a), 0);
    CHECK_EQ(facet_face_quality(sdk, mir, &fm, FACET_QUALITY_POSE, &b), 0);
    CHECK_MSG(fabs(a.yaw * deg) > 10 && a.yaw * b.yaw < 0 && fabs((a.yaw + b.yaw) * deg) < 8,
              "yaw %.1f, mirrored %.1f", a.yaw * deg, b.yaw * deg);
    facet_image_destroy(mir);
    facet_image_destroy(img);
}

static facet_image *edited(const facet_image *a, int mode, float face_h)
{
    facet_image *o = NULL, *s = NULL;
    if (mode == 0) { /* a strong blur: down until the face is 24 px high, and back up */
        float k = face_h / 24.0f;
        facet_image_resize(a, (int)(a->width / k), (int)(a->height / k), &s);
        facet_image_resize(s, a->width, a->height, &o);
        facet_image_destroy(s);
        return o;
    }
    facet_image_clone(a, &o);
    for (int y = 0; y < o->height; y++)
        for (int x = 0; x < o->width * 3; x++) {
            uint8_t *p = o->data + (size_t)y * o->stride + x;
            *p = mode == 1 ? (uint8_t)(*p / 4) : (uint8_t)(*p * 0.3 + 178);
        }
    return o;
}

static void t_blur_and_exposure(void)
{
    if (!setup()) SKIP("models missing");
    for (size_t i = 0; i < sizeof frontal / sizeof frontal[0]; i++) {
        facet_face f;
        facet_image *img = load_face(frontal[i], &f);
        if (!img) continue;
        facet_quality q;
        CHECK_EQ(facet_face_quality(sdk, img, &f, 0, &q), 0);
        CHECK_MSG(q.blur == FACET_BLUR_GOOD && q.exposure == FACET_EXPOSURE_GOOD, "%s: blur %.1f exposure %d", frontal[i],
                  q.blur_score, q.exposure);
        CHECK_NEAR(q.face_height, f.h, 0.01);
        static const int want_blur[3] = {FACET_BLUR_BLURRY, -1, -1};
        static const int want_exp[3] = {-1, FACET_EXPOSURE_UNDER, FACET_EXPOSURE_OVER};
        for (int m = 0; m < 3; m++) {
            facet_image *e = edited(img, m, f.h);
            facet_face g = f;
            facet_quality r;
            CHECK_EQ(facet_face_landmarks(sdk, e, &g), 0);
            CHECK_EQ(facet_face_quality(sdk, e, &g, 0, &r), 0);
            if (want_blur[m] >= 0) CHECK_MSG((int)r.blur == want_blur[m], "%s blurred: %.1f", frontal[i], r.blur_score);
            if (want_exp[m] >= 0) CHECK_MSG((int)r.exposure == want_exp[m], "%s edit %d: exposure %d", frontal[i], m, r.exposure);
            facet_image_destroy(e);
        }
        facet_image_destroy(img);
    }
}

static void t_eyes_and_liveness(void)
{
    if (!setup()) SKIP("models missing");
    for (size_t i = 0; i < sizeof frontal / sizeof frontal[0]; i++) {
        facet_face f;
        facet_image *img = load_face(frontal[i], &f);
        if (!img) continue;
        facet_quality q;
        CHECK_EQ(facet_face_quality(sdk, img, &f, FACET_QUALITY_EYES | FACET_QUALITY_LIVENESS, &q), 0);
        CHECK_MSG(q.has_eyes && q.left_eye_open && q.right_eye_open, "%s: eyes %.2f %.2f", frontal[i], q.left_eye_score,
                  q.right_eye_score);
        CHECK_MSG(q.has_liveness && q.is_live, "%s: liveness %.2f", frontal[i], q.liveness_score);
        facet_image_destroy(img);
    }
    /* eyes shut (looking down) in LFW photos, checked by eye: both read closed */
    static const char *const shut[] = {"lfw-dev/images/Vladimir_Putin/Vladimir_Putin_0011.jpg",
                                       "lfw-dev/images/Tiger_Woods/Tiger_Woods_0008.jpg"};
    for (size_t i = 0; i < sizeof shut / sizeof shut[0]; i++) {
        facet_face f;
        facet_image *img = load_face(shut[i], &f);
        if (!img) continue;
        facet_quality q;
        CHECK_EQ(facet_face_quality(sdk, img, &f, FACET_QUALITY_EYES, &q), 0);
        CHECK_MSG(q.has_eyes && !q.left_eye_open && !q.right_eye_open, "%s: eyes %.2f %.2f", shut[i],
                  q.left_eye_score, q.right_eye_score);
        facet_image_destroy(img);
    }
}

static void t_attributes(void)
{
    if (!setup()) SKIP("models missing");
    static const struct {
        const char *path;
        int male;
        float age_lo, age_hi;
    } people[] = {
        {"images/obama.jpg", 1, 35, 70}, {"images/biden.jpg", 1, 45, 95}, {"gallery/enroll/alex_lacamoire/img1.jpg", 1, 20, 60},
        {"gallery/enroll/rose_leslie/img2.jpg", 0, 18, 50},
    };
    for (size_t i = 0; i < sizeof people / sizeof people[0]; i++) {
        facet_face f;
        facet_image *img = load_face(people[i].path, &f);
        if (!img) continue;
        facet_attributes a;
        CHECK_EQ(facet_face_attributes(sdk, img, &f, &a), 0);
        CHECK_MSG((a.gender == FACET_GENDER_MALE) == people[i].male, "%s: gender %d (%.2f)", people[i].path, a.gender,
                  a.gender_score);
        CHECK_MSG(a.age >= people[i].age_lo && a.age <= people[i].age_hi, "%s: age %.1f", people[i].path, a.age);
        float sum = 0;
        for (int e = 0; e < FACET_EXPR_COUNT; e++) sum += a.expression_scores[e];
        CHECK_NEAR(sum, 1.0, 1e-4);
        CHECK(a.gender_score >= 0.5f && a.gender_score <= 1.0f);
        CHECK(strcmp(facet_expression_name(a.expression), "unknown") != 0);
        facet_image_destroy(img);
    }
    /* Obama smiles broadly in this photo */
    facet_face f;
    facet_image *img = load_face("images/obama.jpg", &f);
    facet_attributes a;
    if (img && !facet_face_attributes(sdk, img, &f, &a)) CHECK_EQ(a.expression, FACET_EXPR_HAPPY);
    facet_image_destroy(img);
}

static void t_arguments(void)
{
    if (!setup()) SKIP("models missing");
    facet_image *img = NULL;
    facet_image_create(100, 100, 3, &img);
    facet_face f = {0};
    facet_quality q;
    facet_attributes a;
    CHECK_EQ(facet_face_quality(sdk, img, &f, 0, &q), FACET_E_INVALID_ARG); /* empty box */
    f.x = 10, f.y = 10, f.w = 50, f.h = 50;
    CHECK_EQ(facet_face_quality(sdk, img, &f, FACET_QUALITY_EYES, &q), FACET_E_INVALID_ARG); /* no landmarks */
    CHECK_EQ(facet_face_quality(sdk, img, &f, 99, &q), FACET_E_INVALID_ARG);
    CHECK_EQ(facet_face_quality(sdk, NULL, &f, 0, &q), FACET_E_INVALID_ARG);
    f.x = 500;
    CHECK_EQ(facet_face_attributes(sdk, img, &f, &a), FACET_E_INVALID_ARG);
    /* a box partly outside the image is fine: the outside reads as black */
    f.x = 70, f.y = -20;
    CHECK_EQ(facet_face_quality(sdk, img, &f, FACET_QUALITY_POSE | FACET_QUALITY_LIVENESS, &q), 0);
    CHECK_EQ(facet_face_attributes(sdk, img, &f, &a), 0);
    facet_image_destroy(img);
    facet_sdk_destroy(sdk);
    sdk = NULL;
}

TESTS(TEST(t_pose), TEST(t_blur_and_exposure), TEST(t_eyes_and_liveness), TEST(t_attributes), TEST(t_arguments))
