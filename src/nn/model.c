/*
 * model.c - read-only questions about a loaded model: its inputs, outputs and a JSON summary
 * (operator histogram, parameter count) for `facet nn info` and `facet models`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

int facet_nn_model_num_inputs(const facet_nn_model *m)
{
    return m ? m->ninputs : 0;
}

int facet_nn_model_num_outputs(const facet_nn_model *m)
{
    return m ? m->noutputs : 0;
}

const char *facet_nn_model_input_name(const facet_nn_model *m, int i)
{
    return m && i >= 0 && i < m->ninputs ? m->values[m->inputs[i]].name : NULL;
}

const char *facet_nn_model_output_name(const facet_nn_model *m, int i)
{
    return m && i >= 0 && i < m->noutputs ? m->values[m->outputs[i]].name : NULL;
}

facet_status facet_nn_model_input_shape(const facet_nn_model *m, int i, facet_nn_shape *out)
{
    if (!m || !out || i < 0 || i >= m->ninputs)
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "bad model, index or out");
    const nn_value *v = &m->values[m->inputs[i]];
    out->ndim = v->shape.ndim;
    for (int d = 0; d < v->shape.ndim; d++) out->dims[d] = v->shape.d[d];
    return FACET_OK;
}

/* A growable string for JSON output. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_put(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap + (size_t)k) * 2 + 256;
        char *np = facet_realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') sb_put(b, "\\%c", c);
        else if (c < 0x20) sb_put(b, "\\u%04x", c);
        else sb_put(b, "%c", c);
    }
    sb_put(b, "\"");
}

facet_status facet_nn_model_describe(const facet_nn_model *m, char **json)
{
    if (!m || !json) return facet_seterr(NULL, FACET_E_INVALID_ARG, "model or json is NULL");
    *json = NULL;
    sbuf b = {0};
    b.cap = 1024;
    b.p = facet_malloc(b.cap);
    if (!b.p) return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory");
    b.p[0] = 0;
    sb_put(&b, "{\"ir_version\": %lld, \"opset\": %lld, \"producer\": ", (long long)m->ir_version,
           (long long)m->opset);
    sb_str(&b, m->producer ? m->producer : "");
    sb_put(&b, ", \"inputs\": [");
    for (int i = 0; i < m->ninputs; i++) {
        const nn_value *v = &m->values[m->inputs[i]];
        sb_put(&b, "%s{\"name\": ", i ? ", " : "");
        sb_str(&b, v->name);
        sb_put(&b, ", \"shape\": [");
        for (int d = 0; d < v->shape.ndim; d++) sb_put(&b, "%s%lld", d ? ", " : "", (long long)v->shape.d[d]);
        sb_put(&b, "]}");
    }
    sb_put(&b, "], \"outputs\": [");
    for (int i = 0; i < m->noutputs; i++) {
        sb_put(&b, "%s", i ? ", " : "");
        sb_str(&b, m->values[m->outputs[i]].name);
    }
    sb_put(&b, "], \"nodes\": %d, \"parameters\": %lld, \"operators\": {", m->nnodes, (long long)m->nparams);
    int first = 1;
    for (int op = 0; op < NN_OP_ONNX_COUNT; op++) {
        int c = 0;
        for (int i = 0; i < m->nnodes; i++) c += m->nodes[i].op == (nn_op)op;
        if (!c) continue;
        sb_put(&b, "%s\"%s\": %d", first ? "" : ", ", nn_op_name((nn_op)op), c);
        first = 0;
    }
    sb_put(&b, "}}");
    if (b.oom) {
        free(b.p);
        return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory");
    }
    *json = b.p;
    return FACET_OK;
}
