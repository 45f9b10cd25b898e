/*
 * fuzz_onnx.c - libFuzzer target for the ONNX reader and planner: any byte string must load
 * or fail with an error; a model that loads is planned on both backends and, when small, run
 * once on each. Seed it with the real models: ./fuzz_onnx CORPUS models/
 */
#include <stdint.h>
#include <stdlib.h>

#include "facet/facet.h"

/* Plans the model on one backend and, when it is small, runs it once on zeros. */
static void plan_and_run(const facet_nn_model *m, facet_nn_backend backend)
{
    facet_nn_settings set;
    facet_nn_settings_defaults(&set);
    set.backend = backend;
    set.num_threads = 1;
    facet_nn_session *s = NULL;
    if (facet_nn_session_create(m, &set, &s) != 0) return;
    facet_nn_shape in;
    facet_nn_session_input_shape(s, 0, &in);
    int64_t n = facet_nn_shape_count(&in);
    if (n <= (1 << 16) && facet_nn_session_flops(s) < 5e7) {
        float *x = calloc((size_t)n, sizeof(float));
        if (x && facet_nn_session_set_input(s, 0, x, (size_t)n) == 0) facet_nn_session_run(s);
        free(x);
    }
    facet_nn_session_destroy(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    facet_nn_model *m = NULL;
    if (facet_nn_model_load_memory(data, size, &m) != 0) return 0;
    plan_and_run(m, FACET_NN_BACKEND_REF);
    /* the XNNPACK backend's planning (layouts, fusions, row chains, own kernels) as well */
    plan_and_run(m, FACET_NN_BACKEND_XNNPACK);
    facet_nn_model_destroy(m);
    return 0;
}
