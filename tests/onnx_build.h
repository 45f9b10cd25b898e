/*
 * onnx_build.h - builds small ONNX models in memory for tests: per-operator graphs with random
 * weights (to compare backends) and deliberately broken graphs (to check the reader refuses
 * them). Uses the protobuf-c structures generated from onnx.proto, then packs them to bytes so
 * that the model goes through exactly the same reader as a file.
 */
#ifndef FACET_TEST_ONNX_BUILD_H
#define FACET_TEST_ONNX_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

#define OB_MAX 64

typedef struct ob_graph {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    Onnx__NodeProto nodes[OB_MAX];
    Onnx__NodeProto *node_ptrs[OB_MAX];
    Onnx__TensorProto inits[OB_MAX];
    Onnx__TensorProto *init_ptrs[OB_MAX];
    Onnx__ValueInfoProto vin[4], vout[8];
    Onnx__ValueInfoProto *vin_ptrs[4], *vout_ptrs[8];
    Onnx__TypeProto types[12];
    Onnx__TypeProto__Tensor ttypes[12];
    Onnx__TensorShapeProto shapes[12];
    Onnx__TensorShapeProto__Dimension dims[12][8];
    Onnx__TensorShapeProto__Dimension *dim_ptrs[12][8];
    Onnx__AttributeProto attrs[OB_MAX * 4];
    Onnx__AttributeProto *attr_ptrs[OB_MAX][8];
    char *strs[OB_MAX * 16];
    void *bufs[OB_MAX * 4];
    int nstr, nbuf, nattr, ntypes;
    uint32_t rng;
} ob_graph;

static inline float ob_rand(ob_graph *g)
{
    g->rng = g->rng * 1664525u + 1013904223u;
    return (float)((double)g->rng / 4294967296.0 * 2.0 - 1.0);
}

static inline char *ob_str(ob_graph *g, const char *s)
{
    char *p = strdup(s);
    g->strs[g->nstr++] = p;
    return p;
}

static inline void ob_init(ob_graph *g, int opset_version, uint32_t seed)
{
    memset(g, 0, sizeof *g);
    g->rng = seed;
    onnx__model_proto__init(&g->model);
    onnx__graph_proto__init(&g->graph);
    onnx__operator_set_id_proto__init(&g->opset);
    g->opset.has_version = 1;
    g->opset.version = opset_version;
    g->opset.domain = ob_str(g, "");
    g->opsets[0] = &g->opset;
    g->model.n_opset_import = 1;
    g->model.opset_import = g->opsets;
    g->model.has_ir_version = 1;
    g->model.ir_version = 6;
    g->model.graph = &g->graph;
    g->graph.node = g->node_ptrs;
    g->graph.initializer = g->init_ptrs;
    g->graph.input = g->vin_ptrs;
    g->graph.output = g->vout_ptrs;
}

static inline Onnx__ValueInfoProto *ob_value_info(ob_graph *g, Onnx__ValueInfoProto *vi, const char *name,
                                                  int ndim, const int64_t *dims)
{
    int k = g->ntypes++;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(&g->types[k]);
    onnx__type_proto__tensor__init(&g->ttypes[k]);
    onnx__tensor_shape_proto__init(&g->shapes[k]);
    vi->name = ob_str(g, name);
    vi->type = &g->types[k];
    g->types[k].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    g->types[k].tensor_type = &g->ttypes[k];
    g->ttypes[k].has_elem_type = 1;
    g->ttypes[k].elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    if (ndim >= 0) {
        g->ttypes[k].shape = &g->shapes[k];
        g->shapes[k].n_dim = (size_t)ndim;
        g->shapes[k].dim = g->dim_ptrs[k];
        for (int d = 0; d < ndim; d++) {
            onnx__tensor_shape_proto__dimension__init(&g->dims[k][d]);
            g->dims[k][d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            g->dims[k][d].dim_value = dims[d];
            g->dim_ptrs[k][d] = &g->dims[k][d];
        }
    }
    return vi;
}

static inline void ob_input(ob_graph *g, const char *name, int ndim, const int64_t *dims)
{
    int i = (int)g->graph.n_input++;
    g->vin_ptrs[i] = ob_value_info(g, &g->vin[i], name, ndim, dims);
}

static inline void ob_output(ob_graph *g, const char *name)
{
    int i = (int)g->graph.n_output++;
    g->vout_ptrs[i] = ob_value_info(g, &g->vout[i], name, -1, NULL);
}

/* A float initializer with random values in [lo, hi) (or all `lo` when hi == lo). */
static inline Onnx__TensorProto *ob_weight(ob_graph *g, const char *name, int ndim, const int64_t *dims, float lo,
                                           float hi)
{
    Onnx__TensorProto *t = &g->inits[g->graph.n_initializer];
    g->init_ptrs[g->graph.n_initializer++] = t;
    onnx__tensor_proto__init(t);
    t->name = ob_str(g, name);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_dims = (size_t)ndim;
    t->dims = malloc(sizeof(int64_t) * 8);
    g->bufs[g->nbuf++] = t->dims;
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        t->dims[d] = dims[d];
        n *= (size_t)dims[d];
    }
    float *v = malloc(n * sizeof(float) + 4);
    g->bufs[g->nbuf++] = v;
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * (ob_rand(g) * 0.5f + 0.5f);
    t->has_raw_data = 1;
    t->raw_data.len = n * sizeof(float);
    t->raw_data.data = (uint8_t *)v;
    return t;
}

static inline Onnx__TensorProto *ob_ints(ob_graph *g, const char *name, int n, const int64_t *vals)
{
    Onnx__TensorProto *t = &g->inits[g->graph.n_initializer];
    g->init_ptrs[g->graph.n_initializer++] = t;
    onnx__tensor_proto__init(t);
    t->name = ob_str(g, name);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->n_dims = 1;
    t->dims = malloc(sizeof(int64_t));
    g->bufs[g->nbuf++] = t->dims;
    t->dims[0] = n;
    t->n_int64_data = (size_t)n;
    t->int64_data = malloc(sizeof(int64_t) * (size_t)(n + 1));
    g->bufs[g->nbuf++] = t->int64_data;
    memcpy(t->int64_data, vals, sizeof(int64_t) * (size_t)n);
    return t;
}

/* Adds a node; `ins`/`outs` are space-separated names ("-" for an omitted input). */
static inline Onnx__NodeProto *ob_node(ob_graph *g, const char *op, const char *ins, const char *outs)
{
    int k = (int)g->graph.n_node++;
    Onnx__NodeProto *n = &g->nodes[k];
    g->node_ptrs[k] = n;
    onnx__node_proto__init(n);
    n->op_type = ob_str(g, op);
    char nm[32];
    snprintf(nm, sizeof nm, "n%d_%s", k, op);
    n->name = ob_str(g, nm);
    n->input = malloc(sizeof(char *) * 16);
    n->output = malloc(sizeof(char *) * 16);
    n->attribute = g->attr_ptrs[k];
    g->bufs[g->nbuf++] = n->input;
    g->bufs[g->nbuf++] = n->output;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", ins);
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " "))
        n->input[n->n_input++] = ob_str(g, strcmp(tok, "-") ? tok : "");
    snprintf(buf, sizeof buf, "%s", outs);
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) n->output[n->n_output++] = ob_str(g, tok);
    return n;
}

static inline Onnx__AttributeProto *ob_attr(ob_graph *g, Onnx__NodeProto *n, const char *name)
{
    Onnx__AttributeProto *a = &g->attrs[g->nattr++];
    onnx__attribute_proto__init(a);
    a->name = ob_str(g, name);
    a->has_type = 1;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static inline void ob_attr_i(ob_graph *g, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = ob_attr(g, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

static inline void ob_attr_f(ob_graph *g, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = ob_attr(g, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
}

static inline void ob_attr_ints(ob_graph *g, Onnx__NodeProto *n, const char *name, int cnt, const int64_t *v)
{
    Onnx__AttributeProto *a = ob_attr(g, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = (size_t)cnt;
    a->ints = malloc(sizeof(int64_t) * (size_t)(cnt + 1));
    g->bufs[g->nbuf++] = a->ints;
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)cnt);
}

/* Packs the model; the caller frees the bytes. Frees the builder's allocations. */
static inline uint8_t *ob_pack(ob_graph *g, size_t *size)
{
    *size = onnx__model_proto__get_packed_size(&g->model);
    uint8_t *out = malloc(*size + 1);
    onnx__model_proto__pack(&g->model, out);
    for (int i = 0; i < g->nstr; i++) free(g->strs[i]);
    for (int i = 0; i < g->nbuf; i++) free(g->bufs[i]);
    g->nstr = g->nbuf = 0;
    return out;
}

#endif
