/*
 * facet/face.h - the face SDK: detection, landmarks, alignment, faceprints, comparison,
 * quality checks and attributes.
 *
 * Objects and threads:
 *   facet_sdk   loads the models (lazily, or up front with settings.preload) and keeps a pool
 *               of inference sessions. One handle may be used by any number of threads at once;
 *               results do not depend on how many threads share it.
 *   facet_face, facet_faceprint, facet_quality, facet_attributes are plain values owned by the
 *               caller.
 * Images are facet_image (facet/image.h), RGB or grey, in pixels of the upright picture.
 */
#ifndef FACET_FACE_H
#define FACET_FACE_H

#include "facet/base.h"
#include "facet/image.h"
#include "facet/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The models facet uses; a bit each, for settings.preload. */
typedef enum facet_module {
    FACET_MODULE_DETECT = 1 << 0,     /* fr_detect: face boxes */
    FACET_MODULE_LANDMARK = 1 << 1,   /* fr_landmark: 68 points */
    FACET_MODULE_FEATURE = 1 << 2,    /* fr_feature: 512-d faceprint */
    FACET_MODULE_LIVENESS = 1 << 3,   /* fr_liveness: real or spoof */
    FACET_MODULE_POSE = 1 << 4,       /* fr_pose: yaw, pitch, roll */
    FACET_MODULE_EYE = 1 << 5,        /* fr_eye: eye open or closed */
    FACET_MODULE_AGE = 1 << 6,        /* fr_age */
    FACET_MODULE_GENDER = 1 << 7,     /* fr_gender */
    FACET_MODULE_EXPRESSION = 1 << 8, /* fr_expression: 7 expressions */
    FACET_MODULE_ALL = (1 << 9) - 1,
} facet_module;

#define FACET_MODULE_COUNT 9

typedef struct facet_sdk facet_sdk;

typedef struct facet_sdk_settings {
    const char *model_dir;    /* NULL: $FACET_MODEL_PATH, else "models"; copied at create */
    int num_threads;          /* threads per inference; 0: $FACET_NUM_THREADS, else all cores (never
                                 more than the cores: spinning pools must not oversubscribe) */
    unsigned preload;         /* facet_module bits to load at create (default 0: lazily) */
    facet_nn_backend backend; /* inference backend (default AUTO: xnnpack) */
    float detect_threshold;   /* minimum face score, 0..1 (default 0.8) */
    float nms_threshold;      /* overlap (IoU) above which the weaker box is dropped (0.4) */
    int smallest_face_height; /* smallest face to find, in image pixels (default 40; >= 8) */
    int detect_passes;        /* 1: one pyramid (fast, default); 2: + mirrored image; 3: + a
                                 1.5x finer pyramid. More passes vote on each face: better
                                 precision and recall at 2x / 4x the detection time */
    int64_t max_pixels;       /* decode guard for facet_sdk_load_image (default 100 M) */
    int detect_verify;        /* 0: off (default); 1: the pyramid proposes faces down to score
                                 0.2 and each is scored again by the detector on a crop around
                                 it (and its mirror image); that score meets detect_threshold.
                                 Use with detect_threshold 0.4-0.5: more recall at the same
                                 precision (docs/detection.md), ~1.5 ms per proposal */
    int allow_corrupt;        /* decode option for facet_sdk_load_image (default 0: damaged but
                                 decodable JPEG/PNG data is FACET_E_FORMAT; 1: decoded with a
                                 FACET_LOG_WARN line; see facet_decode_options) */
    int boxes_only;           /* 1: facet_detect_faces returns boxes and scores only
                                 (has_landmarks 0, no key points): the detector's own cost, for
                                 callers that take landmarks of some faces only
                                 (facet_face_landmarks). Default 0 */
    int faceprint_mirror;     /* 1: a faceprint is the normalised sum of the faceprints of the
                                 chip and of its mirror image (twice the fr_feature time); 0:
                                 the chip alone. Default and measured gain: docs/faceprint.md.
                                 The faceprint's model id says which, so collections never mix
                                 the two */
} facet_sdk_settings;

FACET_API void facet_sdk_defaults(facet_sdk_settings *s);
/* The model folder used when settings.model_dir is NULL: $FACET_MODEL_PATH when set, else
 * "models" when the working directory has that folder (a source checkout), else the folder the
 * models are installed in (PREFIX/share/facet/models, e.g. by the facet-models package). A
 * static or environment string, never NULL. */
FACET_API const char *facet_default_model_dir(void);
/*
 * Checks the settings and makes the handle. Models load lazily, on the first call that needs
 * them, so a missing or wrong model file fails THAT call (FACET_E_MODEL), not create; only the
 * modules named in settings.preload are loaded, and checked, here. On failure *out stays NULL
 * and facet_last_error() says why.
 */
FACET_API facet_status facet_sdk_create(const facet_sdk_settings *s, facet_sdk **out);
FACET_API void facet_sdk_destroy(facet_sdk *sdk);
/* A copy of the last failure's message on this handle, from whichever thread failed; safe to
 * call from any thread. The string is valid until this thread's next facet_sdk_errmsg or
 * facet_gallery_errmsg call. With several threads facet_last_error() is usually what you want:
 * it is the calling thread's own last failure. */
FACET_API const char *facet_sdk_errmsg(const facet_sdk *sdk);
/* Loads the given modules now (no-op for those already loaded). */
FACET_API facet_status facet_sdk_load(facet_sdk *sdk, unsigned modules);
/* Decodes an image file (facet_image_decode_file, EXIF orientation applied, RGB) with this
 * handle's decode settings: max_pixels and allow_corrupt. *out is released with
 * facet_image_destroy. */
FACET_API facet_status facet_sdk_load_image(facet_sdk *sdk, const char *path, facet_image **out);
/* The settings in force (with defaults resolved). */
FACET_API facet_status facet_sdk_settings_get(const facet_sdk *sdk, facet_sdk_settings *out);

typedef struct facet_point {
    float x, y;
} facet_point;

/* The five key points, in this order. */
enum { FACET_KP_LEFT_EYE, FACET_KP_RIGHT_EYE, FACET_KP_NOSE, FACET_KP_MOUTH_LEFT, FACET_KP_MOUTH_RIGHT };

typedef struct facet_face {
    float x, y, w, h;            /* box, image pixels */
    float score;                 /* detector confidence, 0..1 */
    facet_point kps[5];          /* key points (image's left/right: the subject's right eye is
                                    FACET_KP_LEFT_EYE), from the 68 landmarks */
    facet_point landmarks[68];   /* the iBUG 68-point layout */
    int has_landmarks;
} facet_face;

/*
 * All faces in the image, best score first, each with landmarks and key points (boxes and
 * scores only with settings.boxes_only).
 * *faces is an array of *count faces allocated by the library: the caller releases it with
 * facet_free(), even when *count is 0. Faces scoring below settings.detect_threshold, or with
 * boxes shorter than 0.8 x settings.smallest_face_height (the margin absorbs box noise), are not
 * returned.
 */
FACET_API facet_status facet_detect_faces(facet_sdk *sdk, const facet_image *img,
                                          facet_face **faces, int *count);
/* The face with the largest box, for a photo that should hold one person (enrolment, the
 * faceprint of a photo). When the configured pass finds no face it looks again, more
 * sensitively: with detect_verify, then also with a pyramid twice as fine, the mirrored and
 * 1.5x finer passes and detect_threshold 0.45 (docs/faceprint.md counts what each finds).
 * FACET_E_NOT_FOUND when none of them finds a face: a face is never invented. */
FACET_API facet_status facet_detect_largest_face(facet_sdk *sdk, const facet_image *img,
                                                 facet_face *face);
/* (Re)computes face->landmarks and kps from face's box. */
FACET_API facet_status facet_face_landmarks(facet_sdk *sdk, const facet_image *img,
                                            facet_face *face);

/* The face aligned to a 112x112 RGB chip by a least-squares similarity transform of its five
 * key points onto the standard template; *chip is destroyed with facet_image_destroy. */
FACET_API facet_status facet_extract_aligned_face(facet_sdk *sdk, const facet_image *img,
                                                  const facet_face *face, facet_image **chip);
/* The 2x3 matrix mapping chip pixels to image pixels for that alignment. */
FACET_API facet_status facet_alignment_matrix(const facet_face *face, float m[6]);

/* ---- faceprints ---- */

#define FACET_FACEPRINT_DIM 512
#define FACET_FACEPRINT_MODEL_MAX 40

typedef struct facet_faceprint {
    char model[FACET_FACEPRINT_MODEL_MAX]; /* e.g. "fr_feature@87aacdfe/p2": name, checksum
                                              and preprocessing version (+ "m": mirror-averaged) */
    int dim;                               /* 512 */
    float v[FACET_FACEPRINT_DIM];          /* L2-normalised */
} facet_faceprint;

/* Faceprint of a detected face (aligns it first). */
FACET_API facet_status facet_faceprint_extract(facet_sdk *sdk, const facet_image *img,
                                               const facet_face *face, facet_faceprint *out);
/* Faceprint of an already aligned 112x112 chip. */
FACET_API facet_status facet_faceprint_from_chip(facet_sdk *sdk, const facet_image *chip,
                                                 facet_faceprint *out);
/* The model id faceprints of this SDK carry (loads the feature model if needed). */
FACET_API facet_status facet_sdk_faceprint_model(facet_sdk *sdk,
                                                 char model[FACET_FACEPRINT_MODEL_MAX]);

/*
 * Binary form, little-endian: "FPRT" magic, u16 format version (1), u16 element type
 * (1 = f32, 2 = f16), u16 dim, u16 model id length, model id bytes, then the values.
 * fp16 loses at most 0.001 in similarity. *data (*size bytes) is allocated by the library: the
 * caller releases it with facet_free().
 * What every reader and writer checks (FACET_E_FORMAT on reading, FACET_E_INVALID_ARG on
 * writing): a model id of 1..39 printable ASCII characters, dim 1..FACET_FACEPRINT_DIM, finite
 * values with an L2 norm within 0.01 of 1 (fp16 rounding moves it by less than 0.0005).
 */
FACET_API facet_status facet_faceprint_serialize(const facet_faceprint *fp, int fp16,
                                                 uint8_t **data, size_t *size);
FACET_API facet_status facet_faceprint_deserialize(const void *data, size_t size,
                                                   facet_faceprint *out);
/* JSON form: {"model": "...", "dim": 512, "dtype": "f32"|"f16", "data": "<base64 of the values>"}.
 * The reader is strict: exactly those four members (any order, any JSON escapes), no duplicate
 * keys, nothing after the object, "dim" an integer, "data" canonical padded base64 of exactly
 * dim values; each error names the member or the position. *json is a NUL-terminated string
 * allocated by the library: release it with facet_free(). */
FACET_API facet_status facet_faceprint_to_json(const facet_faceprint *fp, int fp16, char **json);
FACET_API facet_status facet_faceprint_from_json(const char *json, facet_faceprint *out);

/*
 * Similarity (cosine, -1..1) and match probability (0..1) of two faceprints. Faceprints of
 * different models or dimensions are FACET_E_MODEL, and a zero, unnormalised or non-finite
 * vector FACET_E_FORMAT, never a number. probability may be NULL.
 * The probability is 1 / (1 + exp(-(a * similarity + b))) with a, b fitted on lfw-dev and
 * johns (docs/faceprint.md; `facet eval ident DIR... --fit` reproduces them).
 */
FACET_API facet_status facet_compare(const facet_faceprint *a, const facet_faceprint *b,
                                     float *similarity, float *probability);
FACET_API float facet_match_probability(float similarity);
/* The fitted parameters a, b of that mapping; collections use them unless told otherwise
 * (facet_gallery_defaults), so compare and identify give one probability for one similarity. */
FACET_API void facet_match_model(float *a, float *b);
/* The similarity at which facet calls two faceprints the same person (documented threshold). */
FACET_API float facet_match_threshold(void);

/* ---- quality and attributes ---- */

typedef enum facet_blur { FACET_BLUR_GOOD = 0, FACET_BLUR_BLURRY = 1 } facet_blur;
typedef enum facet_exposure {
    FACET_EXPOSURE_GOOD = 0,
    FACET_EXPOSURE_OVER = 1,
    FACET_EXPOSURE_UNDER = 2,
} facet_exposure;
typedef enum facet_gender { FACET_GENDER_FEMALE = 0, FACET_GENDER_MALE = 1 } facet_gender;
typedef enum facet_expression {
    FACET_EXPR_ANGRY, FACET_EXPR_DISGUST, FACET_EXPR_FEAR, FACET_EXPR_HAPPY, FACET_EXPR_SAD,
    FACET_EXPR_SURPRISE, FACET_EXPR_NEUTRAL, FACET_EXPR_COUNT
} facet_expression;

/* What facet_face_quality computes: a bit each (cheap image checks always run). */
enum {
    FACET_QUALITY_POSE = 1 << 0,
    FACET_QUALITY_EYES = 1 << 1,
    FACET_QUALITY_LIVENESS = 1 << 2,
    FACET_QUALITY_ALL = 7,
};

typedef struct facet_quality {
    facet_blur blur;
    float blur_score;         /* sharpness measure; higher is sharper (threshold documented) */
    facet_exposure exposure;
    float exposure_score;     /* 0..1: share of well-exposed face pixels */
    float face_height;        /* pixels */
    int has_pose;
    float yaw, pitch, roll;   /* radians */
    int has_eyes;
    int left_eye_open, right_eye_open;
    float left_eye_score, right_eye_score; /* probability the eye is open */
    int has_liveness;
    int is_live;
    float liveness_score;     /* probability of a real face */
} facet_quality;

FACET_API facet_status facet_face_quality(facet_sdk *sdk, const facet_image *img,
                                          const facet_face *face, unsigned what,
                                          facet_quality *out);

typedef struct facet_attributes {
    float age;                /* years */
    facet_gender gender;
    float gender_score;       /* probability of the reported gender */
    facet_expression expression;
    float expression_scores[FACET_EXPR_COUNT]; /* probabilities */
} facet_attributes;

FACET_API facet_status facet_face_attributes(facet_sdk *sdk, const facet_image *img,
                                             const facet_face *face, facet_attributes *out);
FACET_API const char *facet_expression_name(facet_expression e);

#ifdef __cplusplus
}
#endif
#endif
