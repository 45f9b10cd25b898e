/*
 * sdk.h - private parts of the face SDK shared by detect.c, landmark.c, align.c, faceprint.c,
 * quality.c and attributes.c: the handle, lazy model loading and the session pool.
 *
 * The handle is shared by threads. Models are loaded once under the handle's lock and never
 * change afterwards. Inference sessions are not thread-safe, so the handle keeps a pool: a
 * call borrows a session for its model and input shape (sdk_session_get), runs it and gives
 * it back (sdk_session_put). Two threads never hold the same session; a thread that finds no
 * free one plans a new one outside the lock. Only one multi-threaded session is lent at a time:
 * a caller that arrives while it is out gets a single-threaded one, so that concurrent callers
 * never run more threads than there are cores (pthreadpool's workers spin, and oversubscribed
 * spinning made concurrent calls 30x slower).
 */
#ifndef FACET_SRC_FACE_SDK_H
#define FACET_SRC_FACE_SDK_H

#include <pthread.h>

#include "base/base.h"
#include "facet/face.h"

#define SDK_POOL_MAX 64

/* Whether faceprints average the chip with its mirror image unless the caller says otherwise
 * (docs/faceprint.md has the paired measurement that decided it). */
#define FACET_FACEPRINT_MIRROR_DEFAULT 0

typedef struct sdk_pooled {
    int module;              /* index 0..FACET_MODULE_COUNT-1 */
    facet_nn_shape shape;    /* input shape it was planned for */
    int outputs_key;         /* which output selection (0 = the graph's) */
    int threads;             /* threads the session was planned with */
    facet_nn_session *s;
    int in_use;
    uint64_t last_used;
} sdk_pooled;

struct facet_sdk {
    facet_sdk_settings set;
    char model_dir[1024];
    pthread_mutex_t lock;
    facet_nn_model *models[FACET_MODULE_COUNT];
    char model_sha[FACET_MODULE_COUNT][65];
    sdk_pooled pool[SDK_POOL_MAX];
    int npool;
    uint64_t tick;
    int multi_busy;          /* multi-threaded sessions lent out right now (0 or 1) */
    facet_err err;
};

extern const char *const sdk_model_names[FACET_MODULE_COUNT];

/* Index of a module bit (FACET_MODULE_DETECT -> 0 ...). */
int sdk_module_index(unsigned module_bit);
/* The model of a module, loading it on first use. */
int sdk_model(facet_sdk *sdk, int module, const facet_nn_model **out);
/*
 * Borrows a session for `module` planned for `shape` (NULL: the model's own input shape),
 * with the given output names (NULL/0: the graph's outputs; outputs_key identifies the
 * selection, non-zero when output names are given).
 */
int sdk_session_get(facet_sdk *sdk, int module, const facet_nn_shape *shape, const char *const *outputs,
                    int noutputs, int outputs_key, facet_nn_session **out);
void sdk_session_put(facet_sdk *sdk, facet_nn_session *s);
/* Runs a borrowed session on one input; the outputs stay in the session. */
int sdk_run(facet_sdk *sdk, facet_nn_session *s, const float *input, size_t count);

/* Records an error on the handle (and the thread); returns status. */
int sdk_fail(facet_sdk *sdk, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Validates a face box against the image (quality.c). */
int sdk_check_face(facet_sdk *sdk, const facet_image *img, const facet_face *face);
/* The axis-aligned box (x, y, w, h) of img resampled to ow x oh; outside the image is black. */
int sdk_crop_resize(facet_sdk *sdk, const facet_image *img, float x, float y, float w, float h, int ow, int oh,
                    facet_image **out);
/* The face box grown k times about its centre (no larger than the image, moved inside it),
 * resampled to ow x oh: the crop the liveness and SSR-Net models' authors use. */
int sdk_crop_grown(facet_sdk *sdk, const facet_image *img, const facet_face *f, float k, int ow, int oh,
                   facet_image **out);
void sdk_softmax(const float *x, int n, float *p);

/* 68 -> 5 points: eye centres (mean of 4 eyelid points each), nose tip, mouth corners. */
void sdk_kps_from_68(facet_face *f);

#endif
