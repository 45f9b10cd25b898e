/*
 * sdk.c - the face SDK handle: settings, lazy and up-front model loading with version
 * checks (every model's sha256 must be the pinned one), and the pool of inference sessions
 * that makes one handle safe to share between threads.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sdk.h"

const char *const sdk_model_names[FACET_MODULE_COUNT] = {
    "fr_detect", "fr_landmark", "fr_feature", "fr_liveness", "fr_pose",
    "fr_eye", "fr_age", "fr_gender", "fr_expression",
};

/* The versions facet is calibrated for (scripts/fetch-models.sh pins the same sums). */
static const char *const model_sha256[FACET_MODULE_COUNT] = {
    "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854",
    "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258",
    "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
    "afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d",
    "72d032ec941b7153bf8d3f2c03a4c165453cc7e63d479041ec7c6ef087e5839d",
    "1afcea006abc1ccac3c517022abde0aa092bed74ff3c9fe6878483ef9e6e38de",
    "74c9b01700cb9ef96f7190a2230218414ff99d231415c4b091a755780cad5e8a",
    "a003e8392a617ca834c7ca2c01e0895f5c354217fb56cd0373935e6e9b9c396e",
    "88959314d9dc14d6c968cca31dc068e4350bf1944154e3bdd2eece5d0f318d05",
};

int sdk_fail(facet_sdk *sdk, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    facet_vseterr(NULL, status, fmt, ap);
    va_end(ap);
    if (sdk) {
        pthread_mutex_lock(&sdk->lock);
        memcpy(sdk->err.msg, facet_thread_errmsg(), sizeof sdk->err.msg);
        pthread_mutex_unlock(&sdk->lock);
    }
    return status;
}

int sdk_module_index(unsigned bit)
{
    for (int i = 0; i < FACET_MODULE_COUNT; i++)
        if (bit == (1u << i)) return i;
    return -1;
}

void facet_sdk_defaults(facet_sdk_settings *s)
{
    if (!s) return;
    memset(s, 0, sizeof *s);
    s->backend = FACET_NN_BACKEND_AUTO;
    s->detect_threshold = 0.8f;
    s->nms_threshold = 0.4f;
    s->smallest_face_height = 40;
    s->detect_passes = 1;
    s->max_pixels = 100000000;
    s->faceprint_mirror = FACET_FACEPRINT_MIRROR_DEFAULT;
}

const char *facet_default_model_dir(void)
{
    const char *env = getenv("FACET_MODEL_PATH");
    if (env && *env) return env;
    /* A checkout's ./models first, so that running from the sources never picks up the models
     * of an older installed version. */
    struct stat st;
    if (stat("models", &st) == 0 && S_ISDIR(st.st_mode)) return "models";
    return FACET_MODEL_INSTALL_DIR;
}

/* Loads one model file, checking its checksum against the pinned version. */
static int load_model(facet_sdk *sdk, int i)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.onnx", sdk->model_dir, sdk_model_names[i]);
    uint8_t *data;
    size_t size;
    int rc = facet_read_file(path, (size_t)1 << 31, &data, &size, NULL);
    if (rc)
        return facet_seterr(NULL, FACET_E_MODEL, "model %s: %s (run `make models` or set FACET_MODEL_PATH)",
                            sdk_model_names[i], facet_thread_errmsg());
    char hex[65];
    facet_sha256_hex(data, size, hex);
    if (strcmp(hex, model_sha256[i])) {
        free(data);
        return facet_seterr(NULL, FACET_E_MODEL,
                            "model %s has sha256 %.16s..., facet expects %.16s... (wrong model version)",
                            path, hex, model_sha256[i]);
    }
    facet_nn_model *m;
    rc = facet_nn_model_load_memory(data, size, &m);
    free(data);
    if (rc) return facet_seterr(NULL, rc, "model %s: %s", path, facet_thread_errmsg());
    memcpy(sdk->model_sha[i], hex, sizeof hex);
    sdk->models[i] = m;
    return 0;
}

int sdk_model(facet_sdk *sdk, int module, const facet_nn_model **out)
{
    if (module < 0 || module >= FACET_MODULE_COUNT) return sdk_fail(sdk, FACET_E_INVALID_ARG, "bad module");
    pthread_mutex_lock(&sdk->lock);
    int rc = sdk->models[module] ? 0 : load_model(sdk, module);
    *out = sdk->models[module];
    if (rc) memcpy(sdk->err.msg, facet_thread_errmsg(), sizeof sdk->err.msg);
    pthread_mutex_unlock(&sdk->lock);
    return rc;
}

facet_status facet_sdk_load(facet_sdk *sdk, unsigned modules)
{
    if (!sdk) return facet_seterr(NULL, FACET_E_INVALID_ARG, "sdk is NULL");
    for (int i = 0; i < FACET_MODULE_COUNT; i++) {
        if (!(modules & (1u << i))) continue;
        const facet_nn_model *m;
        int rc = sdk_model(sdk, i, &m);
        if (rc) return rc;
    }
    return 0;
}

facet_status facet_sdk_create(const facet_sdk_settings *set, facet_sdk **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    facet_sdk_settings def;
    if (!set) {
        facet_sdk_defaults(&def);
        set = &def;
    }
    if (set->detect_threshold < 0 || set->detect_threshold > 1)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "detect_threshold must be in 0..1");
    if (set->nms_threshold <= 0 || set->nms_threshold > 1)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "nms_threshold must be in (0, 1]");
    if (set->smallest_face_height < 8)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "smallest_face_height must be at least 8 pixels");
    if (set->detect_passes < 1 || set->detect_passes > 3)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "detect_passes must be 1, 2 or 3");
    if (set->detect_verify != 0 && set->detect_verify != 1)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "detect_verify must be 0 or 1");
    if (set->allow_corrupt != 0 && set->allow_corrupt != 1)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "allow_corrupt must be 0 or 1");
    if (set->boxes_only != 0 && set->boxes_only != 1)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "boxes_only must be 0 or 1");
    if (set->faceprint_mirror != 0 && set->faceprint_mirror != 1)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "faceprint_mirror must be 0 or 1");
    if (set->preload & ~(unsigned)FACET_MODULE_ALL)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "preload has unknown module bits");
    facet_sdk *sdk = facet_calloc(1, sizeof *sdk);
    if (!sdk) return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory");
    sdk->set = *set;
    const char *dir = set->model_dir;
    if (!dir || !*dir) dir = facet_default_model_dir();
    if (strlen(dir) >= sizeof sdk->model_dir) {
        free(sdk);
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "model_dir is too long");
    }
    strcpy(sdk->model_dir, dir);
    sdk->set.model_dir = sdk->model_dir;
    sdk->set.num_threads = facet_threads_resolve(set->num_threads);
    if (sdk->set.max_pixels <= 0) sdk->set.max_pixels = 100000000;
    pthread_mutex_init(&sdk->lock, NULL);
    int rc = facet_sdk_load(sdk, set->preload);
    if (rc) {
        char msg[FACET_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", facet_thread_errmsg());
        facet_sdk_destroy(sdk);
        return facet_seterr(NULL, rc, "%s", msg);
    }
    *out = sdk;
    return 0;
}

void facet_sdk_destroy(facet_sdk *sdk)
{
    if (!sdk) return;
    for (int i = 0; i < sdk->npool; i++) facet_nn_session_destroy(sdk->pool[i].s);
    for (int i = 0; i < FACET_MODULE_COUNT; i++) facet_nn_model_destroy(sdk->models[i]);
    pthread_mutex_destroy(&sdk->lock);
    free(sdk);
}

const char *facet_sdk_errmsg(const facet_sdk *sdk)
{
    if (!sdk) return "sdk is NULL";
    /* the lock guards the message's writers; it is not part of the handle's logical state */
    return facet_err_read((pthread_mutex_t *)&sdk->lock, &sdk->err);
}

facet_status facet_sdk_load_image(facet_sdk *sdk, const char *path, facet_image **out)
{
    if (out) *out = NULL;
    if (!sdk) return facet_seterr(NULL, FACET_E_INVALID_ARG, "sdk is NULL");
    if (!path || !out) return sdk_fail(sdk, FACET_E_INVALID_ARG, "path and out must not be NULL");
    facet_decode_options opt;
    facet_decode_defaults(&opt);
    opt.max_pixels = sdk->set.max_pixels;
    opt.allow_corrupt = sdk->set.allow_corrupt;
    int rc = facet_image_decode_file(path, &opt, out);
    if (rc) return sdk_fail(sdk, rc, "%s", facet_thread_errmsg());
    return FACET_OK;
}

facet_status facet_sdk_settings_get(const facet_sdk *sdk, facet_sdk_settings *out)
{
    if (!sdk || !out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "sdk or out is NULL");
    *out = sdk->set;
    return 0;
}

static int same_shape(const facet_nn_shape *a, const facet_nn_shape *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->dims[d] != b->dims[d]) return 0;
    return 1;
}

int sdk_session_get(facet_sdk *sdk, int module, const facet_nn_shape *shape, const char *const *outputs,
                    int noutputs, int outputs_key, facet_nn_session **out)
{
    *out = NULL;
    const facet_nn_model *m = NULL;
    int rc = sdk_model(sdk, module, &m);
    if (rc) return rc;
    facet_nn_shape want;
    if (shape) want = *shape;
    else facet_nn_model_input_shape(m, 0, &want);
    pthread_mutex_lock(&sdk->lock);
    /* all cores for one caller at a time; the others run single-threaded meanwhile */
    int threads = sdk->set.num_threads > 1 && !sdk->multi_busy ? sdk->set.num_threads : 1;
    if (threads > 1) sdk->multi_busy++;
    for (int i = 0; i < sdk->npool; i++) {
        sdk_pooled *p = &sdk->pool[i];
        if (p->in_use || p->module != module || p->outputs_key != outputs_key || p->threads != threads ||
            !same_shape(&p->shape, &want))
            continue;
        p->in_use = 1;
        p->last_used = ++sdk->tick;
        *out = p->s;
        pthread_mutex_unlock(&sdk->lock);
        return 0;
    }
    pthread_mutex_unlock(&sdk->lock);
    facet_nn_settings set;
    facet_nn_settings_defaults(&set);
    set.backend = sdk->set.backend;
    set.num_threads = threads;
    set.yield_after_run = 1; /* the SDK holds many sessions: idle workers must not spin */
    set.override_input = shape != NULL;
    if (shape) set.input_shape = *shape;
    set.output_names = outputs;
    set.num_output_names = noutputs;
    facet_nn_session *s;
    rc = facet_nn_session_create(m, &set, &s);
    if (rc) {
        if (threads > 1) {
            pthread_mutex_lock(&sdk->lock);
            sdk->multi_busy--;
            pthread_mutex_unlock(&sdk->lock);
        }
        return sdk_fail(sdk, rc, "%s: %s", sdk_model_names[module], facet_thread_errmsg());
    }
    pthread_mutex_lock(&sdk->lock);
    int slot = -1;
    if (sdk->npool < SDK_POOL_MAX) {
        slot = sdk->npool++;
    } else {
        /* evict the least recently used idle session */
        for (int i = 0; i < sdk->npool; i++)
            if (!sdk->pool[i].in_use && (slot < 0 || sdk->pool[i].last_used < sdk->pool[slot].last_used)) slot = i;
        if (slot >= 0) facet_nn_session_destroy(sdk->pool[slot].s);
    }
    if (slot >= 0) {
        sdk_pooled *p = &sdk->pool[slot];
        p->module = module;
        p->shape = want;
        p->outputs_key = outputs_key;
        p->threads = threads;
        p->s = s;
        p->in_use = 1;
        p->last_used = ++sdk->tick;
    }
    pthread_mutex_unlock(&sdk->lock);
    /* with every slot busy the session is used once and destroyed by sdk_session_put */
    *out = s;
    return 0;
}

void sdk_session_put(facet_sdk *sdk, facet_nn_session *s)
{
    if (!s) return;
    pthread_mutex_lock(&sdk->lock);
    if (facet_nn_session_threads(s) > 1) sdk->multi_busy--;
    for (int i = 0; i < sdk->npool; i++)
        if (sdk->pool[i].s == s) {
            sdk->pool[i].in_use = 0;
            pthread_mutex_unlock(&sdk->lock);
            return;
        }
    pthread_mutex_unlock(&sdk->lock);
    facet_nn_session_destroy(s);
}

int sdk_run(facet_sdk *sdk, facet_nn_session *s, const float *input, size_t count)
{
    int rc = facet_nn_session_set_input(s, 0, input, count);
    if (!rc) rc = facet_nn_session_run(s);
    if (rc) return sdk_fail(sdk, rc, "inference failed: %s", facet_nn_session_errmsg(s));
    return 0;
}

void sdk_kps_from_68(facet_face *f)
{
    const facet_point *p = f->landmarks;
    /* eyes: points 36-41 and 42-47; the eyelid points 37, 38, 40, 41 and 43, 44, 46, 47 */
    f->kps[FACET_KP_LEFT_EYE].x = (p[37].x + p[38].x + p[40].x + p[41].x) / 4;
    f->kps[FACET_KP_LEFT_EYE].y = (p[37].y + p[38].y + p[40].y + p[41].y) / 4;
    f->kps[FACET_KP_RIGHT_EYE].x = (p[43].x + p[44].x + p[46].x + p[47].x) / 4;
    f->kps[FACET_KP_RIGHT_EYE].y = (p[43].y + p[44].y + p[46].y + p[47].y) / 4;
    f->kps[FACET_KP_NOSE] = p[30];
    /* mouth corners: outer lip 48/54 and inner lip 60/64 */
    f->kps[FACET_KP_MOUTH_LEFT].x = (p[48].x + p[60].x) / 2;
    f->kps[FACET_KP_MOUTH_LEFT].y = (p[48].y + p[60].y) / 2;
    f->kps[FACET_KP_MOUTH_RIGHT].x = (p[54].x + p[64].x) / 2;
    f->kps[FACET_KP_MOUTH_RIGHT].y = (p[54].y + p[64].y) / 2;
}
