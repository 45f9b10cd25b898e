/*
 * facet/nn.h - facet's own ONNX inference engine, exposed so that anyone can run and check a
 * model directly (`facet nn run`) against another runtime with the same files.
 *
 * Objects and threads:
 *   facet_nn_model    a parsed, validated ONNX graph with its weights. Immutable after load:
 *                     share one between any number of threads.
 *   facet_nn_session  a planned graph for one input shape, with its own buffers and backend
 *                     state. Use one per thread; running it allocates nothing.
 * The model must outlive every session made from it.
 */
#ifndef FACET_NN_H
#define FACET_NN_H

#include "facet/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FACET_NN_MAX_DIMS 8

typedef struct facet_nn_model facet_nn_model;
typedef struct facet_nn_session facet_nn_session;

typedef enum facet_nn_backend {
    FACET_NN_BACKEND_AUTO = 0, /* FACET_NN_BACKEND from the environment, else xnnpack */
    FACET_NN_BACKEND_REF = 1,  /* readable reference C kernels only */
    FACET_NN_BACKEND_XNNPACK = 2, /* XNNPACK for the heavy operators, reference for the rest */
} facet_nn_backend;

typedef struct facet_nn_shape {
    int ndim;
    int64_t dims[FACET_NN_MAX_DIMS];
} facet_nn_shape;

typedef struct facet_nn_settings {
    facet_nn_backend backend;
    int num_threads;           /* 0: FACET_NUM_THREADS from the environment, else all cores; capped
                                  at the number of cores */
    int override_input;        /* non-zero: plan for `input_shape` instead of the model's */
    facet_nn_shape input_shape; /* for the first input; the graph is re-planned for it */
    int profile;               /* non-zero: time every step (see facet_nn_session_profile) */
    /*
     * Optional: names of values to use as the session's outputs instead of the graph's, e.g. a
     * detector's raw head before its fixed-size box decoding. Only the nodes they need are
     * planned. The array and strings are read during facet_nn_session_create only.
     */
    const char *const *output_names;
    int num_output_names;
    /*
     * Non-zero: after each run, put the session's worker threads to sleep instead of letting
     * them spin for the next run. Costs a wake-up at the start of the next run; use it when a
     * program holds several multi-threaded sessions (the face SDK does), whose spinning
     * workers would otherwise fight over the cores.
     */
    int yield_after_run;
} facet_nn_settings;

FACET_API void facet_nn_settings_defaults(facet_nn_settings *s);

/*
 * Loads and validates an ONNX file. Unknown operators or attributes, malformed protobuf,
 * inconsistent graphs and hostile sizes fail here with FACET_E_FORMAT/FACET_E_UNSUPPORTED and
 * a message (facet_last_error()) naming the culprit. *out is set only on success.
 */
FACET_API facet_status facet_nn_model_load(const char *path, facet_nn_model **out);
FACET_API facet_status facet_nn_model_load_memory(const void *data, size_t size, facet_nn_model **out);
FACET_API void facet_nn_model_destroy(facet_nn_model *m);

FACET_API int facet_nn_model_num_inputs(const facet_nn_model *m);
FACET_API int facet_nn_model_num_outputs(const facet_nn_model *m);
/* Names are owned by the model. Shapes are as declared (dynamic dims read as 1). */
FACET_API const char *facet_nn_model_input_name(const facet_nn_model *m, int i);
FACET_API const char *facet_nn_model_output_name(const facet_nn_model *m, int i);
FACET_API facet_status facet_nn_model_input_shape(const facet_nn_model *m, int i, facet_nn_shape *out);
/*
 * A JSON description (opset, ir version, inputs, outputs, node count, operator histogram,
 * parameter count). *json is allocated by the library: release it with facet_free().
 */
FACET_API facet_status facet_nn_model_describe(const facet_nn_model *m, char **json);

/* Plans the graph for the settings' input shape and backend. *out is set only on success. */
FACET_API facet_status facet_nn_session_create(const facet_nn_model *m, const facet_nn_settings *s,
                                               facet_nn_session **out);
FACET_API void facet_nn_session_destroy(facet_nn_session *s);

/* Copies input i (float32, row-major in the planned shape) into the session. */
FACET_API facet_status facet_nn_session_set_input(facet_nn_session *s, int i, const float *data,
                                                  size_t count);
/* Runs the graph. Allocates nothing; the outputs stay valid until the next run. */
FACET_API facet_status facet_nn_session_run(facet_nn_session *s);
/* Output i: a pointer into the session (valid until the next run or destroy) and its shape. */
FACET_API facet_status facet_nn_session_output(facet_nn_session *s, int i, const float **data,
                                               facet_nn_shape *shape);
FACET_API facet_status facet_nn_session_input_shape(const facet_nn_session *s, int i, facet_nn_shape *out);
FACET_API int facet_nn_session_num_outputs(const facet_nn_session *s);
/* Multiply-accumulate count of one run x 2 (the FLOPs used for GFLOP/s figures). */
FACET_API double facet_nn_session_flops(const facet_nn_session *s);
FACET_API facet_nn_backend facet_nn_session_backend(const facet_nn_session *s);
FACET_API int facet_nn_session_threads(const facet_nn_session *s);
/* Which table of facet's own kernels the session runs ("avx512", "avx2", "c"), or "none" (the
 * reference backend, no table for this CPU, or FACET_NN_KERNELS=none). A static string. */
FACET_API const char *facet_nn_session_kernels(const facet_nn_session *s);
/*
 * With settings.profile set: a JSON array, one entry per planned step in run order, with its
 * operator, backend, output shape and the total milliseconds spent in it over all runs so far.
 * *json is allocated by the library: release it with facet_free().
 */
FACET_API facet_status facet_nn_session_profile(const facet_nn_session *s, char **json);

/* The last error message of this session ("" if none). */
FACET_API const char *facet_nn_session_errmsg(const facet_nn_session *s);

static inline int64_t facet_nn_shape_count(const facet_nn_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->dims[i];
    return n;
}

#ifdef __cplusplus
}
#endif
#endif
