/*
 * onnx.c - reads an ONNX file into a facet_nn_model.
 *
 * We use protobuf-c with the onnx.proto that Debian's libonnx-dev ships, compiled at build
 * time: protobuf-c's unpacker is bounds-checked and mature, and the schema then always matches
 * the standard. Everything the protobuf layer cannot know is checked here: operator names and
 * attributes against what the engine implements, tensor sizes against their data, every name a
 * node reads against what the graph produces, and cycles. Nodes are put in topological order.
 * A model that passes this reader can be planned without further validation of its structure;
 * shapes are checked by the planner.
 */
#include <stdlib.h>
#include <string.h>

#include "nn.h"
#include "onnx.pb-c.h"

#define NN_MAX_MODEL_BYTES ((size_t)1 << 31)
#define NN_MAX_ELEMS ((int64_t)1 << 30)

static const struct {
    const char *name;
    const char *attrs; /* allowed attribute names, space separated */
} op_table[NN_OP_ONNX_COUNT] = {
    [NN_OP_CONV] = {"Conv", "auto_pad dilations group kernel_shape pads strides"},
    [NN_OP_BATCHNORM] = {"BatchNormalization", "epsilon momentum spatial"},
    [NN_OP_RELU] = {"Relu", ""},
    [NN_OP_PRELU] = {"PRelu", ""},
    [NN_OP_SIGMOID] = {"Sigmoid", ""},
    [NN_OP_TANH] = {"Tanh", ""},
    [NN_OP_EXP] = {"Exp", ""},
    [NN_OP_SOFTMAX] = {"Softmax", "axis"},
    [NN_OP_ADD] = {"Add", ""},
    [NN_OP_SUB] = {"Sub", ""},
    [NN_OP_MUL] = {"Mul", ""},
    [NN_OP_DIV] = {"Div", ""},
    [NN_OP_MAXPOOL] = {"MaxPool", "auto_pad ceil_mode dilations kernel_shape pads storage_order strides"},
    [NN_OP_AVGPOOL] = {"AveragePool", "auto_pad ceil_mode count_include_pad kernel_shape pads strides"},
    [NN_OP_GAVGPOOL] = {"GlobalAveragePool", ""},
    [NN_OP_REDUCEMEAN] = {"ReduceMean", "axes keepdims"},
    [NN_OP_PAD] = {"Pad", "mode pads value"},
    [NN_OP_CONCAT] = {"Concat", "axis"},
    [NN_OP_SPLIT] = {"Split", "axis split"},
    [NN_OP_SLICE] = {"Slice", "axes ends starts"},
    [NN_OP_RESHAPE] = {"Reshape", ""},
    [NN_OP_FLATTEN] = {"Flatten", "axis"},
    [NN_OP_TRANSPOSE] = {"Transpose", "perm"},
    [NN_OP_GATHER] = {"Gather", "axis"},
    [NN_OP_UNSQUEEZE] = {"Unsqueeze", "axes"},
    [NN_OP_SHAPE] = {"Shape", ""},
    [NN_OP_CONSTANT] = {"Constant", "value"},
    [NN_OP_CONSTANTOFSHAPE] = {"ConstantOfShape", "value"},
    [NN_OP_GEMM] = {"Gemm", "alpha beta transA transB"},
    [NN_OP_MATMUL] = {"MatMul", ""},
    [NN_OP_IDENTITY] = {"Identity", ""},
    [NN_OP_DROPOUT] = {"Dropout", "ratio seed is_test"},
};

const char *nn_op_name(nn_op op)
{
    if (op < NN_OP_ONNX_COUNT) return op_table[op].name;
    switch (op) {
    case NN_OP_TO_NHWC: return "ToNHWC";
    case NN_OP_TO_NCHW: return "ToNCHW";
    case NN_OP_CHANNEL_SHUFFLE: return "ChannelShuffle";
    default: return "?";
    }
}

static int word_in(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !memcmp(p, w, n)) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

const nn_attr *nn_attr_find(const nn_node *n, const char *name)
{
    for (int i = 0; i < n->nattr; i++)
        if (!strcmp(n->attr[i].name, name)) return &n->attr[i];
    return NULL;
}

int64_t nn_attr_int(const nn_node *n, const char *name, int64_t def)
{
    const nn_attr *a = nn_attr_find(n, name);
    return a && a->type == NN_ATTR_INT ? a->i : def;
}

float nn_attr_float(const nn_node *n, const char *name, float def)
{
    const nn_attr *a = nn_attr_find(n, name);
    return a && a->type == NN_ATTR_FLOAT ? a->f : def;
}

const int64_t *nn_attr_ints(const nn_node *n, const char *name, int *count)
{
    const nn_attr *a = nn_attr_find(n, name);
    if (!a || a->type != NN_ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->ints;
}

int64_t nn_shape_count(const nn_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->d[i];
    return n;
}

size_t nn_dtype_size(int dtype)
{
    return dtype == NN_I64 ? 8 : 4;
}

/* ---- name table: open addressing, FNV-1a ---- */

typedef struct name_map {
    int *slot; /* value index + 1, 0 = empty */
    size_t cap;
} name_map;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

typedef struct reader {
    facet_nn_model *m;
    name_map map;
    int cap_values;
    facet_err *e;
} reader;

static int find_value(reader *r, const char *name)
{
    size_t i = hash_str(name) & (r->map.cap - 1);
    while (r->map.slot[i]) {
        int v = r->map.slot[i] - 1;
        if (!strcmp(r->m->values[v].name, name)) return v;
        i = (i + 1) & (r->map.cap - 1);
    }
    return -1;
}

static int grow_map(reader *r)
{
    size_t cap = r->map.cap ? r->map.cap * 2 : 256;
    int *slot = facet_calloc(cap, sizeof *slot);
    if (!slot) return -1;
    free(r->map.slot);
    r->map.slot = slot;
    r->map.cap = cap;
    for (int v = 0; v < r->m->nvalues; v++) {
        size_t i = hash_str(r->m->values[v].name) & (cap - 1);
        while (slot[i]) i = (i + 1) & (cap - 1);
        slot[i] = v + 1;
    }
    return 0;
}

/* Index of the value called `name`, creating it when `create` is set; -1 on failure. */
static int value_index(reader *r, const char *name, int create)
{
    if (r->map.cap) {
        int v = find_value(r, name);
        if (v >= 0 || !create) return v;
    } else if (!create) {
        return -1;
    }
    facet_nn_model *m = r->m;
    if (m->nvalues >= r->cap_values) {
        int cap = r->cap_values ? r->cap_values * 2 : 128;
        nn_value *nv = facet_realloc(m->values, (size_t)cap * sizeof *nv);
        if (!nv) return -1;
        m->values = nv;
        r->cap_values = cap;
    }
    if ((size_t)(m->nvalues + 1) * 2 > r->map.cap && grow_map(r)) return -1;
    nn_value *val = &m->values[m->nvalues];
    memset(val, 0, sizeof *val);
    val->name = facet_strdup(name);
    if (!val->name) return -1;
    size_t i = hash_str(name) & (r->map.cap - 1);
    while (r->map.slot[i]) i = (i + 1) & (r->map.cap - 1);
    r->map.slot[i] = m->nvalues + 1;
    return m->nvalues++;
}

/* Converts a TensorProto into an owned constant, checking sizes against the data. */
static int read_tensor(reader *r, const Onnx__TensorProto *tp, nn_const *out, const char *what)
{
    memset(out, 0, sizeof *out);
    const char *name = tp->name ? tp->name : "";
    if (tp->n_dims > NN_MAXDIM)
        return facet_seterr(r->e, FACET_E_UNSUPPORTED, "%s '%s': %zu dimensions (max %d)", what,
                            name, tp->n_dims, NN_MAXDIM);
    out->shape.ndim = (int)tp->n_dims;
    int64_t count = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        int64_t d = tp->dims[i];
        if (d < 0 || d > NN_MAX_ELEMS || (d && count > NN_MAX_ELEMS / d))
            return facet_seterr(r->e, FACET_E_FORMAT, "%s '%s': dimension %zu is %lld, out of range",
                                what, name, i, (long long)d);
        out->shape.d[i] = d;
        count *= d;
    }
    if (tp->n_external_data || (tp->has_data_location && tp->data_location != 0))
        return facet_seterr(r->e, FACET_E_UNSUPPORTED, "%s '%s': external data is not supported",
                            what, name);
    int dt = tp->has_data_type ? tp->data_type : 0;
    size_t es;
    if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        out->dtype = NN_F32;
        es = 4;
    } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
        out->dtype = NN_I64;
        es = 8;
    } else {
        return facet_seterr(r->e, FACET_E_UNSUPPORTED, "%s '%s': element type %d is not supported",
                            what, name, dt);
    }
    out->data = facet_alloc((size_t)count * es);
    if (!out->data) return facet_seterr(r->e, FACET_E_NO_MEMORY, "no memory for '%s'", name);
    size_t have;
    if (tp->has_raw_data) {
        size_t src_es = dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? 4 : es;
        have = tp->raw_data.len / src_es;
        if (tp->raw_data.len % src_es || have != (size_t)count) goto size_mismatch;
        if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
            for (int64_t i = 0; i < count; i++) {
                int32_t v;
                memcpy(&v, tp->raw_data.data + i * 4, 4);
                ((int64_t *)out->data)[i] = v;
            }
        } else {
            memcpy(out->data, tp->raw_data.data, (size_t)count * es);
        }
    } else if (out->dtype == NN_F32) {
        have = tp->n_float_data;
        if (have != (size_t)count) goto size_mismatch;
        memcpy(out->data, tp->float_data, (size_t)count * 4);
    } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
        have = tp->n_int64_data;
        if (have != (size_t)count) goto size_mismatch;
        memcpy(out->data, tp->int64_data, (size_t)count * 8);
    } else {
        have = tp->n_int32_data;
        if (have != (size_t)count) goto size_mismatch;
        for (int64_t i = 0; i < count; i++) ((int64_t *)out->data)[i] = tp->int32_data[i];
    }
    return FACET_OK;
size_mismatch:
    facet_free_aligned(out->data);
    out->data = NULL;
    return facet_seterr(r->e, FACET_E_FORMAT, "%s '%s': shape says %lld elements, data has %zu",
                        what, name, (long long)count, have);
}

static int read_attr(reader *r, const Onnx__NodeProto *np, const Onnx__AttributeProto *ap,
                     nn_attr *a)
{
    const char *nname = np->name && *np->name ? np->name : "(unnamed)";
    memset(a, 0, sizeof *a);
    if (!ap->name) return facet_seterr(r->e, FACET_E_FORMAT, "node '%s': attribute without name", nname);
    a->name = facet_strdup(ap->name);
    if (!a->name) return FACET_E_NO_MEMORY;
    int type = ap->has_type ? (int)ap->type : 0;
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: a->type = NN_ATTR_FLOAT; a->f = ap->f; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: a->type = NN_ATTR_INT; a->i = ap->i; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        a->type = NN_ATTR_STRING;
        a->s = facet_malloc(ap->s.len + 1);
        if (!a->s) return FACET_E_NO_MEMORY;
        if (ap->s.len) memcpy(a->s, ap->s.data, ap->s.len);
        a->s[ap->s.len] = 0;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        a->type = NN_ATTR_TENSOR;
        if (!ap->t) return facet_seterr(r->e, FACET_E_FORMAT, "node '%s': tensor attribute '%s' is empty", nname, ap->name);
        return read_tensor(r, ap->t, &a->t, "attribute tensor");
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        a->type = NN_ATTR_INTS;
        if (ap->n_ints > 64) return facet_seterr(r->e, FACET_E_FORMAT, "node '%s': attribute '%s' has %zu values", nname, ap->name, ap->n_ints);
        a->n = (int)ap->n_ints;
        a->ints = facet_malloc((ap->n_ints + 1) * sizeof *a->ints);
        if (!a->ints) return FACET_E_NO_MEMORY;
        if (ap->n_ints) memcpy(a->ints, ap->ints, ap->n_ints * sizeof *a->ints);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        a->type = NN_ATTR_FLOATS;
        if (ap->n_floats > 64) return facet_seterr(r->e, FACET_E_FORMAT, "node '%s': attribute '%s' has %zu values", nname, ap->name, ap->n_floats);
        a->n = (int)ap->n_floats;
        a->floats = facet_malloc((ap->n_floats + 1) * sizeof *a->floats);
        if (!a->floats) return FACET_E_NO_MEMORY;
        if (ap->n_floats) memcpy(a->floats, ap->floats, ap->n_floats * sizeof *a->floats);
        break;
    default:
        return facet_seterr(r->e, FACET_E_UNSUPPORTED, "node '%s': attribute '%s' has unsupported type %d",
                            nname, ap->name, type);
    }
    return FACET_OK;
}

static int read_node(reader *r, const Onnx__NodeProto *np, nn_node *n)
{
    const char *nname = np->name && *np->name ? np->name : "(unnamed)";
    memset(n, 0, sizeof *n);
    n->name = facet_strdup(nname);
    if (!n->name) return FACET_E_NO_MEMORY;
    if (np->domain && *np->domain && strcmp(np->domain, "ai.onnx"))
        return facet_seterr(r->e, FACET_E_UNSUPPORTED, "node '%s': operator domain '%s' is not supported",
                            nname, np->domain);
    const char *type = np->op_type ? np->op_type : "";
    int op = -1;
    for (int i = 0; i < NN_OP_ONNX_COUNT; i++)
        if (!strcmp(op_table[i].name, type)) op = i;
    if (op < 0)
        return facet_seterr(r->e, FACET_E_UNSUPPORTED, "node '%s': unknown operator '%s'", nname, type);
    n->op = (nn_op)op;
    if (np->n_input > NN_STEP_MAXIO || np->n_output > NN_STEP_MAXIO || np->n_output == 0)
        return facet_seterr(r->e, FACET_E_FORMAT, "node '%s' (%s): %zu inputs, %zu outputs", nname,
                            type, np->n_input, np->n_output);
    n->attr = facet_calloc(np->n_attribute + 1, sizeof *n->attr);
    n->in = facet_malloc((np->n_input + 1) * sizeof *n->in);
    n->out = facet_malloc((np->n_output + 1) * sizeof *n->out);
    if (!n->attr || !n->in || !n->out) return FACET_E_NO_MEMORY;
    /* only now: the model's destroy frees nattr entries of attr, which must exist */
    n->nattr = (int)np->n_attribute;
    for (size_t i = 0; i < np->n_attribute; i++) {
        int rc = read_attr(r, np, np->attribute[i], &n->attr[i]);
        if (rc) return rc;
        if (!word_in(op_table[op].attrs, n->attr[i].name))
            return facet_seterr(r->e, FACET_E_UNSUPPORTED, "node '%s' (%s): unknown attribute '%s'",
                                nname, type, n->attr[i].name);
    }
    n->nin = (int)np->n_input;
    for (size_t i = 0; i < np->n_input; i++) {
        const char *in = np->input[i] ? np->input[i] : "";
        n->in[i] = *in ? value_index(r, in, 1) : -1;
        if (*in && n->in[i] < 0) return FACET_E_NO_MEMORY;
    }
    n->nout = (int)np->n_output;
    for (size_t i = 0; i < np->n_output; i++) {
        const char *out = np->output[i] ? np->output[i] : "";
        if (!*out) return facet_seterr(r->e, FACET_E_FORMAT, "node '%s': empty output name", nname);
        n->out[i] = value_index(r, out, 1);
        if (n->out[i] < 0) return FACET_E_NO_MEMORY;
    }
    return FACET_OK;
}

static void free_attr(nn_attr *a)
{
    free(a->name);
    free(a->s);
    free(a->ints);
    free(a->floats);
    facet_free_aligned(a->t.data);
}

void facet_nn_model_destroy(facet_nn_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->nvalues; i++) {
        free(m->values[i].name);
        facet_free_aligned(m->values[i].data);
    }
    free(m->values);
    for (int i = 0; i < m->nnodes; i++) {
        nn_node *n = &m->nodes[i];
        free(n->name);
        free(n->in);
        free(n->out);
        for (int k = 0; k < n->nattr; k++) free_attr(&n->attr[k]);
        free(n->attr);
    }
    free(m->nodes);
    free(m->inputs);
    free(m->outputs);
    free(m->producer);
    free(m);
}

/* Kahn's algorithm: orders nodes so that every value is produced before it is read. */
static int topo_sort(reader *r, nn_node *nodes, int nnodes)
{
    facet_nn_model *m = r->m;
    int *producer = facet_malloc(((size_t)m->nvalues + 1) * sizeof *producer);
    int *indeg = facet_calloc((size_t)nnodes + 1, sizeof *indeg);
    int *order = facet_malloc(((size_t)nnodes + 1) * sizeof *order);
    char *known = facet_calloc((size_t)m->nvalues + 1, 1);
    int *start = NULL, *rd = NULL;
    int rc = FACET_E_NO_MEMORY;
    if (!producer || !indeg || !order || !known) goto done;
    for (int v = 0; v < m->nvalues; v++) producer[v] = -1;
    for (int i = 0; i < nnodes; i++)
        for (int k = 0; k < nodes[i].nout; k++) {
            int v = nodes[i].out[k];
            if (producer[v] >= 0 || m->values[v].data) {
                rc = facet_seterr(r->e, FACET_E_FORMAT, "value '%s' is produced twice",
                                  m->values[v].name);
                goto done;
            }
            producer[v] = i;
        }
    for (int v = 0; v < m->nvalues; v++) known[v] = m->values[v].data != NULL;
    for (int i = 0; i < m->ninputs; i++) known[m->inputs[i]] = 1;
    for (int i = 0; i < nnodes; i++)
        for (int k = 0; k < nodes[i].nin; k++) {
            int v = nodes[i].in[k];
            if (v < 0) continue;
            if (producer[v] < 0 && !known[v]) {
                rc = facet_seterr(r->e, FACET_E_FORMAT, "node '%s' reads '%s', which nothing produces",
                                  nodes[i].name, m->values[v].name);
                goto done;
            }
            if (producer[v] >= 0) indeg[i]++;
        }
    /* readers of each value, as compressed rows: readers of v are rd[start[v]..start[v+1]) */
    start = facet_calloc((size_t)m->nvalues + 2, sizeof *start);
    int nedges = 0;
    for (int i = 0; i < nnodes; i++) nedges += nodes[i].nin;
    rd = facet_malloc(((size_t)nedges + 1) * sizeof *rd);
    if (!start || !rd) goto done;
    for (int i = 0; i < nnodes; i++)
        for (int q = 0; q < nodes[i].nin; q++)
            if (nodes[i].in[q] >= 0) start[nodes[i].in[q] + 2]++;
    for (int v = 0; v < m->nvalues; v++) start[v + 2] += start[v + 1];
    for (int i = 0; i < nnodes; i++)
        for (int q = 0; q < nodes[i].nin; q++)
            if (nodes[i].in[q] >= 0) rd[start[nodes[i].in[q] + 1]++] = i;
    int head = 0, tail = 0;
    for (int i = 0; i < nnodes; i++)
        if (!indeg[i]) order[tail++] = i;
    while (head < tail) {
        int i = order[head++];
        for (int k = 0; k < nodes[i].nout; k++) {
            int v = nodes[i].out[k];
            /* every reader of v loses one dependency per input slot that reads it */
            for (int e = start[v]; e < start[v + 1]; e++)
                if (--indeg[rd[e]] == 0) order[tail++] = rd[e];
        }
    }
    if (tail != nnodes) {
        rc = facet_seterr(r->e, FACET_E_FORMAT, "the graph has a cycle (%d of %d nodes orderable)",
                          tail, nnodes);
        goto done;
    }
    m->nodes = facet_malloc(((size_t)nnodes + 1) * sizeof *m->nodes);
    if (!m->nodes) goto done;
    for (int i = 0; i < nnodes; i++) m->nodes[i] = nodes[order[i]];
    m->nnodes = nnodes;
    for (int i = 0; i < m->noutputs; i++)
        if (producer[m->outputs[i]] < 0 && !known[m->outputs[i]]) {
            rc = facet_seterr(r->e, FACET_E_FORMAT, "graph output '%s' is never produced",
                              m->values[m->outputs[i]].name);
            goto done;
        }
    rc = FACET_OK;
done:
    free(producer);
    free(indeg);
    free(order);
    free(known);
    free(start);
    free(rd);
    return rc;
}

static int read_graph(reader *r, const Onnx__GraphProto *g)
{
    facet_nn_model *m = r->m;
    int rc;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *tp = g->initializer[i];
        if (!tp->name || !*tp->name)
            return facet_seterr(r->e, FACET_E_FORMAT, "initializer %zu has no name", i);
        int v = value_index(r, tp->name, 1);
        if (v < 0) return FACET_E_NO_MEMORY;
        if (m->values[v].data)
            return facet_seterr(r->e, FACET_E_FORMAT, "initializer '%s' appears twice", tp->name);
        nn_const c;
        if ((rc = read_tensor(r, tp, &c, "initializer"))) return rc;
        m->values[v].data = c.data;
        m->values[v].dtype = c.dtype;
        m->values[v].shape = *(nn_shape *)&c.shape;
        m->values[v].has_shape = 1;
        m->nparams += nn_shape_count(&c.shape);
    }
    m->inputs = facet_malloc((g->n_input + 1) * sizeof *m->inputs);
    m->outputs = facet_malloc((g->n_output + 1) * sizeof *m->outputs);
    if (!m->inputs || !m->outputs) return FACET_E_NO_MEMORY;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi->name || !*vi->name) return facet_seterr(r->e, FACET_E_FORMAT, "graph input %zu has no name", i);
        int v = value_index(r, vi->name, 1);
        if (v < 0) return FACET_E_NO_MEMORY;
        if (m->values[v].data) continue; /* old-style models list initializers as inputs */
        const Onnx__TypeProto *tp = vi->type;
        if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
            return facet_seterr(r->e, FACET_E_UNSUPPORTED, "graph input '%s' is not a tensor", vi->name);
        const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
        if (tt->has_elem_type && tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            return facet_seterr(r->e, FACET_E_UNSUPPORTED, "graph input '%s' has element type %d; only float is supported",
                                vi->name, tt->elem_type);
        nn_value *val = &m->values[v];
        val->dtype = NN_F32;
        if (tt->shape) {
            if (tt->shape->n_dim > NN_MAXDIM)
                return facet_seterr(r->e, FACET_E_UNSUPPORTED, "graph input '%s' has %zu dimensions", vi->name, tt->shape->n_dim);
            val->shape.ndim = (int)tt->shape->n_dim;
            for (size_t k = 0; k < tt->shape->n_dim; k++) {
                const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
                int64_t dv = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? d->dim_value : 1;
                if (dv <= 0 || dv > NN_MAX_ELEMS)
                    return facet_seterr(r->e, FACET_E_FORMAT, "graph input '%s': dimension %zu is %lld", vi->name, k, (long long)dv);
                val->shape.d[k] = dv;
            }
            val->has_shape = 1;
        }
        m->inputs[m->ninputs++] = v;
    }
    if (m->ninputs == 0) return facet_seterr(r->e, FACET_E_FORMAT, "the graph has no inputs");
    for (size_t i = 0; i < g->n_output; i++) {
        const Onnx__ValueInfoProto *vi = g->output[i];
        if (!vi->name || !*vi->name) return facet_seterr(r->e, FACET_E_FORMAT, "graph output %zu has no name", i);
        int v = value_index(r, vi->name, 1);
        if (v < 0) return FACET_E_NO_MEMORY;
        m->outputs[m->noutputs++] = v;
    }
    if (m->noutputs == 0) return facet_seterr(r->e, FACET_E_FORMAT, "the graph has no outputs");
    if (g->n_node > 100000) return facet_seterr(r->e, FACET_E_LIMIT, "the graph has %zu nodes", g->n_node);
    nn_node *nodes = facet_calloc(g->n_node + 1, sizeof *nodes);
    if (!nodes) return FACET_E_NO_MEMORY;
    int n = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        rc = read_node(r, g->node[i], &nodes[n++]);
        if (rc) goto fail;
    }
    rc = topo_sort(r, nodes, n);
    if (rc) goto fail;
    free(nodes);
    return FACET_OK;
fail:
    /* hand the partly read nodes to the model so that destroy frees them */
    if (!m->nodes) {
        m->nodes = nodes;
        m->nnodes = n;
    } else {
        free(nodes);
    }
    return rc;
}

facet_status facet_nn_model_load_memory(const void *data, size_t size, facet_nn_model **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (!data || !size) return facet_seterr(NULL, FACET_E_INVALID_ARG, "data is empty");
    if (size > NN_MAX_MODEL_BYTES) return facet_seterr(NULL, FACET_E_LIMIT, "model is %zu bytes", size);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, data);
    if (!mp) return facet_seterr(NULL, FACET_E_FORMAT, "not an ONNX model (the protobuf does not parse)");
    reader r = {0};
    int rc = FACET_E_NO_MEMORY;
    r.m = facet_calloc(1, sizeof *r.m);
    if (!r.m) goto done;
    r.m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    r.m->producer = facet_strdup(mp->producer_name ? mp->producer_name : "");
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) r.m->opset = o->version;
    }
    if (!mp->graph) {
        rc = facet_seterr(NULL, FACET_E_FORMAT, "the model has no graph");
        goto done;
    }
    if (r.m->ir_version < 3 || r.m->opset < 7 || r.m->opset > 12) {
        rc = facet_seterr(NULL, FACET_E_UNSUPPORTED,
                          "ONNX ir_version %lld, opset %lld: facet supports opsets 7 to 12",
                          (long long)r.m->ir_version, (long long)r.m->opset);
        goto done;
    }
    if ((rc = read_graph(&r, mp->graph))) {
        if (rc == FACET_E_NO_MEMORY && !facet_thread_errmsg()[0])
            facet_seterr(NULL, rc, "out of memory while reading the model");
        goto done;
    }
    *out = r.m;
    r.m = NULL;
    rc = FACET_OK;
done:
    if (rc == FACET_E_NO_MEMORY) facet_seterr(NULL, rc, "out of memory while reading the model");
    facet_nn_model_destroy(r.m);
    free(r.map.slot);
    onnx__model_proto__free_unpacked(mp, NULL);
    return rc;
}

facet_status facet_nn_model_load(const char *path, facet_nn_model **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (!path) return facet_seterr(NULL, FACET_E_INVALID_ARG, "path is NULL");
    uint8_t *data;
    size_t size;
    int rc = facet_read_file(path, NN_MAX_MODEL_BYTES, &data, &size, NULL);
    if (rc) return rc;
    rc = facet_nn_model_load_memory(data, size, out);
    free(data);
    if (rc) {
        char msg[FACET_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", facet_thread_errmsg());
        facet_seterr(NULL, rc, "%s: %s", path, msg);
    }
    return rc;
}
