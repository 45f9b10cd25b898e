/*
 * plan.c - turns a model into a session: shapes, constant folding, fusions, layout, memory.
 *
 * The passes, in order:
 *  1. every node in topological order gets its output shapes from the reference backend's
 *     inference; a node whose inputs are all constant is evaluated right away and its outputs
 *     become constants (this removes the Shape -> Gather -> Unsqueeze -> Concat chains that
 *     exporters emit around Reshape);
 *  2. BatchNormalization after a Conv is folded into the Conv's weights; a Relu that is the
 *     only reader of a Conv/Gemm/Add output becomes that step's fused activation;
 *  3. the XNNPACK backend (when chosen) claims the steps it runs and picks NHWC layout for the
 *     4-D activations between them, inserting layout conversions where a reference step needs
 *     NCHW (nn/xnnpack/backend.c);
 *  4. memory: each non-constant tensor gets an offset in one arena by a first-fit walk over
 *     the steps, freeing a buffer after its last reader; reshape-like steps alias their input.
 * After this nothing is allocated: facet_nn_session_run only walks the steps.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "nn.h"

int nn_tensor_add(facet_nn_session *s, int dtype, const nn_shape *shape)
{
    if (s->nt == s->cap_t) {
        int cap = s->cap_t * 2 + 16;
        nn_tensor *t = facet_realloc(s->t, (size_t)cap * sizeof *t);
        if (!t) return -1;
        s->t = t;
        s->cap_t = cap;
    }
    nn_tensor *t = &s->t[s->nt];
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    if (shape) t->shape = *shape;
    t->offset = -1;
    t->alias = -1;
    t->first = t->last = -1;
    return s->nt++;
}

void *nn_own(facet_nn_session *s, void *p)
{
    if (!p) return NULL;
    if (s->nowned == s->cap_owned) {
        int cap = s->cap_owned * 2 + 16;
        void **o = facet_realloc(s->owned, (size_t)cap * sizeof *o);
        if (!o) {
            facet_free_aligned(p);
            return NULL;
        }
        s->owned = o;
        s->cap_owned = cap;
    }
    s->owned[s->nowned++] = p;
    return p;
}

static nn_step *add_step(facet_nn_session *s)
{
    if (s->nsteps == s->cap_steps) {
        int cap = s->cap_steps * 2 + 16;
        nn_step *st = facet_realloc(s->steps, (size_t)cap * sizeof *st);
        if (!st) return NULL;
        s->steps = st;
        s->cap_steps = cap;
    }
    nn_step *st = &s->steps[s->nsteps++];
    memset(st, 0, sizeof *st);
    return st;
}

nn_step *nn_step_insert(facet_nn_session *s, int at)
{
    if (!add_step(s)) return NULL;
    memmove(&s->steps[at + 1], &s->steps[at], sizeof(nn_step) * (size_t)(s->nsteps - 1 - at));
    memset(&s->steps[at], 0, sizeof(nn_step));
    return &s->steps[at];
}

static int alloc_const(facet_nn_session *s, nn_tensor *t)
{
    size_t bytes;
    if (facet_mul_overflow((size_t)nn_shape_count(&t->shape), nn_dtype_size(t->dtype), &bytes))
        return facet_seterr(&s->err, FACET_E_LIMIT, "constant too large");
    t->data = nn_own(s, facet_alloc(bytes));
    if (!t->data) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for a constant of %zu bytes", bytes);
    t->is_const = 1;
    return 0;
}

static int is_alias_op(nn_op op)
{
    return op == NN_OP_RESHAPE || op == NN_OP_FLATTEN || op == NN_OP_UNSQUEEZE ||
           op == NN_OP_IDENTITY || op == NN_OP_DROPOUT;
}

static int plan_node(facet_nn_session *s, const nn_node *n);

/* Marks the nodes that the session's outputs depend on (nodes are in topological order). */
static char *needed_nodes(facet_nn_session *s)
{
    const facet_nn_model *m = s->model;
    char *need_v = facet_calloc((size_t)m->nvalues + 1, 1), *need_n = facet_calloc((size_t)m->nnodes + 1, 1);
    if (!need_v || !need_n) {
        free(need_v);
        free(need_n);
        return NULL;
    }
    for (int i = 0; i < s->noutputs; i++) need_v[s->outputs[i]] = 1;
    for (int i = m->nnodes - 1; i >= 0; i--) {
        const nn_node *n = &m->nodes[i];
        for (int k = 0; k < n->nout; k++) need_n[i] |= need_v[n->out[k]];
        if (!need_n[i]) continue;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0) need_v[n->in[k]] = 1;
    }
    free(need_v);
    return need_n;
}

/* Pass 1: shapes and constant folding. */
static int build_steps(facet_nn_session *s)
{
    const facet_nn_model *m = s->model;
    char *need = needed_nodes(s);
    if (!need) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
    int rc = 0;
    for (int i = 0; i < m->nnodes && !rc; i++) {
        if (need[i]) rc = plan_node(s, &m->nodes[i]);
    }
    free(need);
    return rc;
}

/* Infers one node's outputs; folds it into constants when its inputs are all known. */
static int plan_node(facet_nn_session *s, const nn_node *n)
{
    nn_step tmp = {0};
    tmp.op = n->op;
    tmp.node = n;
    tmp.nin = n->nin;
    tmp.nout = n->nout;
    memcpy(tmp.in, n->in, sizeof(int) * (size_t)n->nin);
    memcpy(tmp.out, n->out, sizeof(int) * (size_t)n->nout);
    int rc = nn_ref_infer(s, &tmp);
    if (rc) return rc;
    for (int k = 0; k < tmp.nout; k++) {
        nn_tensor *o = &s->t[tmp.out[k]];
        if (nn_shape_count(&o->shape) > ((int64_t)1 << 30))
            return facet_seterr(&s->err, FACET_E_LIMIT, "node '%s': output of %lld elements",
                                n->name, (long long)nn_shape_count(&o->shape));
    }
    int all_const = 1;
    for (int k = 0; k < tmp.nin; k++)
        if (tmp.in[k] >= 0 && !s->t[tmp.in[k]].is_const) all_const = 0;
    if (tmp.op == NN_OP_SHAPE) all_const = 1; /* shapes are static */
    if (all_const) {
        for (int k = 0; k < tmp.nout; k++)
            if ((rc = alloc_const(s, &s->t[tmp.out[k]]))) return rc;
        return tmp.run(s, &tmp);
    }
    for (int k = 0; k < tmp.nin; k++)
        if (tmp.in[k] >= 0 && s->t[tmp.in[k]].is_const && s->t[tmp.in[k]].dtype == NN_I64 &&
            tmp.op != NN_OP_RESHAPE && tmp.op != NN_OP_GATHER)
            return facet_seterr(&s->err, FACET_E_UNSUPPORTED,
                                "node '%s' (%s): integer tensors at run time are not supported",
                                n->name, nn_op_name(n->op));
    for (int k = 0; k < tmp.nout; k++)
        if (s->t[tmp.out[k]].dtype != NN_F32)
            return facet_seterr(&s->err, FACET_E_UNSUPPORTED,
                                "node '%s' (%s): integer tensors at run time are not supported",
                                n->name, nn_op_name(n->op));
    nn_step *st = add_step(s);
    if (!st) return FACET_E_NO_MEMORY;
    *st = tmp;
    return 0;
}

/* Number of step inputs that read tensor v, plus one if it is a graph output. */
int nn_readers(const facet_nn_session *s, int v)
{
    int c = s->t[v].is_output;
    for (int i = 0; i < s->nsteps; i++)
        for (int k = 0; k < s->steps[i].nin; k++) c += s->steps[i].in[k] == v;
    return c;
}

static int next_reader(const facet_nn_session *s, int from, int v)
{
    for (int i = from + 1; i < s->nsteps; i++)
        for (int k = 0; k < s->steps[i].nin; k++)
            if (s->steps[i].in[k] == v) return i;
    return -1;
}

static void drop_step(facet_nn_session *s, int i)
{
    memmove(&s->steps[i], &s->steps[i + 1], sizeof(nn_step) * (size_t)(s->nsteps - i - 1));
    s->nsteps--;
}

static int only_reader(const facet_nn_session *s, int i, int v, nn_op op)
{
    int j = next_reader(s, i, v);
    return j >= 0 && nn_readers(s, v) == 1 && s->steps[j].op == op ? j : -1;
}

/* Reshape [N,C,H,W] -> [N,g,C/g,H,W], Transpose(0,2,1,3,4), Reshape -> [N,C,H,W]: the channel
 * shuffle of ShuffleNet, which channels-last backends do in one pass. */
static void fuse_channel_shuffle(facet_nn_session *s)
{
    for (int i = 0; i < s->nsteps; i++) {
        nn_step *r1 = &s->steps[i];
        if (r1->op != NN_OP_RESHAPE) continue;
        const nn_shape *x = &s->t[r1->in[0]].shape, *y = &s->t[r1->out[0]].shape;
        if (x->ndim != 4 || y->ndim != 5 || y->d[0] != x->d[0] || y->d[1] * y->d[2] != x->d[1] ||
            y->d[3] != x->d[2] || y->d[4] != x->d[3])
            continue;
        int j = only_reader(s, i, r1->out[0], NN_OP_TRANSPOSE);
        if (j < 0) continue;
        const int64_t *p = s->steps[j].aux;
        if (p[0] != 0 || p[1] != 2 || p[2] != 1 || p[3] != 3 || p[4] != 4) continue;
        int k = only_reader(s, j, s->steps[j].out[0], NN_OP_RESHAPE);
        if (k < 0) continue;
        const nn_shape *z = &s->t[s->steps[k].out[0]].shape;
        if (z->ndim != 4 || memcmp(z->d, x->d, sizeof(int64_t) * 4)) continue;
        int64_t g = y->d[1];
        int in = r1->in[0], out = s->steps[k].out[0];
        drop_step(s, k);
        drop_step(s, j);
        r1 = &s->steps[i];
        memset(r1, 0, sizeof *r1);
        r1->op = NN_OP_CHANNEL_SHUFFLE;
        r1->nin = r1->nout = 1;
        r1->in[0] = in;
        r1->out[0] = out;
        r1->aux[0] = g;
    }
}

/* Folds y' = y * a[m] + c[m] (per output channel; c may be NULL) into a convolution's weights
 * and bias. */
static int fold_affine(facet_nn_session *s, nn_step *st, const float *a, const float *c)
{
    const nn_tensor *W = &s->t[st->in[1]];
    int64_t M = W->shape.d[0], per = nn_shape_count(&W->shape) / M;
    float *w = nn_own(s, facet_alloc(sizeof(float) * (size_t)(M * per)));
    float *b = nn_own(s, facet_alloc(sizeof(float) * (size_t)M));
    if (!w || !b) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory to fold into a convolution");
    const float *w0 = st->w ? st->w : (const float *)W->data;
    const float *b0 = st->b ? st->b : (st->nin > 2 && st->in[2] >= 0 ? (const float *)s->t[st->in[2]].data : NULL);
    for (int64_t m = 0; m < M; m++) {
        for (int64_t k = 0; k < per; k++) w[m * per + k] = w0[m * per + k] * a[m];
        b[m] = (b0 ? b0[m] : 0.0f) * a[m] + (c ? c[m] : 0.0f);
    }
    st->w = w;
    st->b = b;
    return 0;
}

/* Pass 2: BatchNormalization and constant Mul into Conv, Relu into its producer, channel shuffles,
 * no-op pads. */
static int fuse(facet_nn_session *s)
{
    fuse_channel_shuffle(s);
    for (int i = 0; i < s->nsteps; i++) {
        nn_step *st = &s->steps[i];
        if (st->op != NN_OP_PAD) continue;
        const nn_shape *x = &s->t[st->in[0]].shape, *y = &s->t[st->out[0]].shape;
        if (!memcmp(x->d, y->d, sizeof(int64_t) * (size_t)x->ndim)) st->alias_in = 1;
    }
    for (int i = 0; i < s->nsteps; i++) {
        nn_step *st = &s->steps[i];
        if (st->op != NN_OP_CONV) continue;
        int y = st->out[0];
        int j = next_reader(s, i, y);
        if (j < 0 || nn_readers(s, y) != 1 || s->steps[j].op != NN_OP_BATCHNORM || s->steps[j].in[0] != y)
            continue;
        nn_step *bn = &s->steps[j];
        int ok = 1;
        for (int k = 1; k < 5; k++) ok &= s->t[bn->in[k]].is_const;
        if (!ok || !s->t[st->in[1]].is_const || (st->nin > 2 && st->in[2] >= 0 && !s->t[st->in[2]].is_const))
            continue;
        int64_t M = s->t[st->in[1]].shape.d[0];
        float *a = facet_malloc(sizeof(float) * (size_t)M * 2);
        if (!a) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory to fold BatchNormalization");
        const float *sc = s->t[bn->in[1]].data, *bb = s->t[bn->in[2]].data;
        const float *mean = s->t[bn->in[3]].data, *var = s->t[bn->in[4]].data;
        for (int64_t m = 0; m < M; m++) {
            a[m] = sc[m] / sqrtf(var[m] + bn->faux[0]);
            a[M + m] = bb[m] - mean[m] * a[m];
        }
        int rc = fold_affine(s, st, a, a + M);
        free(a);
        if (rc) return rc;
        st->out[0] = bn->out[0];
        drop_step(s, j);
    }
    /* Conv then Mul by a constant scalar or per-channel [M,1,1] / [1,M,1,1] (fr_detect scales
     * its RFB branch by 0.1): folded into the weights and bias */
    for (int i = 0; i < s->nsteps; i++) {
        nn_step *st = &s->steps[i];
        if (st->op != NN_OP_CONV || st->act || !s->t[st->in[1]].is_const ||
            (st->nin > 2 && st->in[2] >= 0 && !s->t[st->in[2]].is_const))
            continue;
        int y = st->out[0];
        int j = next_reader(s, i, y);
        if (j < 0 || nn_readers(s, y) != 1 || s->steps[j].op != NN_OP_MUL) continue;
        nn_step *mul = &s->steps[j];
        const nn_tensor *K = &s->t[mul->in[mul->in[0] == y ? 1 : 0]];
        const nn_tensor *W = &s->t[st->in[1]];
        int64_t M = W->shape.d[0], nk = nn_shape_count(&K->shape);
        const nn_tensor *Y = &s->t[y], *Z = &s->t[mul->out[0]];
        int per_channel = nk == M && ((K->shape.ndim == 3 && K->shape.d[1] == 1 && K->shape.d[2] == 1) ||
                                      (K->shape.ndim == 4 && K->shape.d[0] == 1 && K->shape.d[2] == 1 &&
                                       K->shape.d[3] == 1));
        if (!K->is_const || K->dtype != NN_F32 || (nk != 1 && !per_channel) || Y->shape.ndim != 4 ||
            memcmp(&Y->shape, &Z->shape, sizeof(nn_shape)))
            continue;
        float *a = facet_malloc(sizeof(float) * (size_t)M);
        if (!a) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory to fold a Mul");
        for (int64_t m = 0; m < M; m++) a[m] = ((const float *)K->data)[nk == 1 ? 0 : m];
        int rc = fold_affine(s, st, a, NULL);
        free(a);
        if (rc) return rc;
        st->out[0] = mul->out[0];
        drop_step(s, j);
    }
    for (int i = 0; i < s->nsteps; i++) {
        nn_step *st = &s->steps[i];
        if (st->op != NN_OP_CONV && st->op != NN_OP_GEMM && st->op != NN_OP_ADD &&
            st->op != NN_OP_BATCHNORM)
            continue;
        if (st->act) continue;
        int y = st->out[0];
        int j = next_reader(s, i, y);
        if (j < 0 || nn_readers(s, y) != 1 || s->steps[j].op != NN_OP_RELU) continue;
        st->act = NN_ACT_RELU;
        st->out[0] = s->steps[j].out[0];
        drop_step(s, j);
    }
    return 0;
}

/* Pass 4: aliases and arena offsets. */
static int root_of(const facet_nn_session *s, int v)
{
    while (s->t[v].alias >= 0) v = s->t[v].alias;
    return v;
}

typedef struct block {
    int64_t off, size;
} block;

static int plan_memory(facet_nn_session *s)
{
    int nt = s->nt;
    for (int v = 0; v < nt; v++) {
        s->t[v].first = s->t[v].last = -1;
        s->t[v].alias = -1;
    }
    for (int i = 0; i < s->nsteps; i++) {
        nn_step *st = &s->steps[i];
        if ((is_alias_op(st->op) || st->alias_in) && !s->t[st->in[0]].is_const) {
            s->t[st->out[0]].alias = st->in[0];
            st->run = NULL;
        }
    }
    /* liveness of each root buffer, extended by its aliases */
    for (int i = 0; i < s->nsteps; i++) {
        nn_step *st = &s->steps[i];
        for (int k = 0; k < st->nout; k++) {
            int r = root_of(s, st->out[k]);
            if (s->t[r].first < 0) s->t[r].first = i;
            if (s->t[r].last < i) s->t[r].last = i;
        }
        for (int k = 0; k < st->nin; k++) {
            if (st->in[k] < 0) continue;
            int r = root_of(s, st->in[k]);
            if (s->t[r].last < i) s->t[r].last = i;
        }
    }
    for (int i = 0; i < s->noutputs; i++) s->t[root_of(s, s->outputs[i])].last = s->nsteps;
    for (int i = 0; i < s->ninputs; i++) {
        int r = root_of(s, s->inputs[i]);
        s->t[r].first = -1;
        s->t[r].last = s->nsteps; /* inputs stay valid: the caller writes them once */
    }
    block *freel = facet_malloc(sizeof(block) * ((size_t)nt + 1) * 2);
    if (!freel) return FACET_E_NO_MEMORY;
    int nfree = 0;
    int64_t top = 0;
    /* walk events in step order: allocate at first def, free after last use */
    for (int i = -1; i <= s->nsteps; i++) {
        for (int v = 0; v < nt; v++) {
            nn_tensor *t = &s->t[v];
            if (t->is_const || t->alias >= 0 || t->first != i || t->offset >= 0) continue;
            if (i == -1 && t->last < 0) continue;
            if (t->last < 0 && t->first < 0) continue;
            int64_t size = (nn_shape_count(&t->shape) * (int64_t)nn_dtype_size(t->dtype) + 63) & ~(int64_t)63;
            if (size == 0) size = 64;
            int best = -1;
            for (int b = 0; b < nfree; b++)
                if (freel[b].size >= size && (best < 0 || freel[b].size < freel[best].size)) best = b;
            if (best >= 0) {
                t->offset = freel[best].off;
                freel[best].off += size;
                freel[best].size -= size;
                if (!freel[best].size) freel[best] = freel[--nfree];
            } else {
                t->offset = top;
                top += size;
            }
        }
        for (int v = 0; v < nt; v++) {
            nn_tensor *t = &s->t[v];
            if (t->is_const || t->alias >= 0 || t->offset < 0 || t->last != i) continue;
            int64_t size = (nn_shape_count(&t->shape) * (int64_t)nn_dtype_size(t->dtype) + 63) & ~(int64_t)63;
            if (size == 0) size = 64;
            freel[nfree].off = t->offset;
            freel[nfree].size = size;
            nfree++;
            /* merge neighbours so that large later tensors can reuse the space */
            for (int a = 0; a < nfree; a++)
                for (int b = 0; b < nfree; b++) {
                    if (a == b || freel[a].off + freel[a].size != freel[b].off) continue;
                    freel[a].size += freel[b].size;
                    freel[b] = freel[--nfree];
                    a = -1;
                    break;
                }
        }
    }
    free(freel);
    s->arena_size = top;
    s->arena = facet_alloc((size_t)top + 64);
    if (!s->arena) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for a %lld-byte arena", (long long)top);
    for (int v = 0; v < nt; v++) {
        nn_tensor *t = &s->t[v];
        if (t->is_const) continue;
        int r = root_of(s, v);
        if (s->t[r].offset >= 0) t->data = s->arena + s->t[r].offset;
    }
    return 0;
}

int nn_plan(facet_nn_session *s, const facet_nn_settings *set)
{
    const facet_nn_model *m = s->model;
    int rc;
    for (int v = 0; v < m->nvalues; v++) {
        int k = nn_tensor_add(s, m->values[v].dtype, m->values[v].has_shape ? &m->values[v].shape : NULL);
        if (k < 0) return FACET_E_NO_MEMORY;
        if (m->values[v].data) {
            s->t[k].is_const = 1;
            s->t[k].data = m->values[v].data;
        }
    }
    int nout = set->num_output_names > 0 ? set->num_output_names : m->noutputs;
    if (nout > 1024) return facet_seterr(&s->err, FACET_E_INVALID_ARG, "too many output names");
    s->inputs = facet_malloc(sizeof(int) * ((size_t)m->ninputs + 1));
    s->outputs = facet_malloc(sizeof(int) * ((size_t)nout + 1));
    if (!s->inputs || !s->outputs) return FACET_E_NO_MEMORY;
    s->ninputs = m->ninputs;
    s->noutputs = nout;
    memcpy(s->inputs, m->inputs, sizeof(int) * (size_t)m->ninputs);
    if (set->num_output_names > 0) {
        if (!set->output_names) return facet_seterr(&s->err, FACET_E_INVALID_ARG, "output_names is NULL");
        for (int i = 0; i < nout; i++) {
            int v = -1;
            for (int k = 0; set->output_names[i] && k < m->nvalues; k++)
                if (!strcmp(m->values[k].name, set->output_names[i])) v = k;
            if (v < 0)
                return facet_seterr(&s->err, FACET_E_INVALID_ARG, "the model has no value named '%s'",
                                    set->output_names[i] ? set->output_names[i] : "(null)");
            s->outputs[i] = v;
        }
    } else {
        memcpy(s->outputs, m->outputs, sizeof(int) * (size_t)nout);
    }
    for (int i = 0; i < m->ninputs; i++) {
        nn_tensor *t = &s->t[s->inputs[i]];
        if (i == 0 && set->override_input) {
            if (set->input_shape.ndim < 1 || set->input_shape.ndim > NN_MAXDIM)
                return facet_seterr(&s->err, FACET_E_INVALID_ARG, "input_shape has %d dims", set->input_shape.ndim);
            t->shape.ndim = set->input_shape.ndim;
            for (int d = 0; d < t->shape.ndim; d++) {
                if (set->input_shape.dims[d] < 1 || set->input_shape.dims[d] > (1 << 20))
                    return facet_seterr(&s->err, FACET_E_INVALID_ARG, "input_shape dimension %d is %lld", d,
                                        (long long)set->input_shape.dims[d]);
                t->shape.d[d] = set->input_shape.dims[d];
            }
        } else if (!m->values[s->inputs[i]].has_shape) {
            return facet_seterr(&s->err, FACET_E_INVALID_ARG, "input '%s' has no declared shape: give one",
                                m->values[s->inputs[i]].name);
        }
        if (nn_shape_count(&t->shape) > ((int64_t)1 << 30))
            return facet_seterr(&s->err, FACET_E_LIMIT, "input of %lld elements", (long long)nn_shape_count(&t->shape));
    }
    if ((rc = build_steps(s))) return rc;
    for (int i = 0; i < s->noutputs; i++) s->t[s->outputs[i]].is_output = 1;
    if ((rc = fuse(s))) return rc;
    if (s->backend == FACET_NN_BACKEND_XNNPACK) {
        if ((rc = nn_xnn_assign(s))) return rc;
    }
    /* graph outputs that are constants are copied into the arena by a final step-free path */
    if ((rc = plan_memory(s))) return rc;
    s->flops = 0;
    for (int i = 0; i < s->nsteps; i++) {
        nn_step *st = &s->steps[i];
        s->flops += st->flops;
        if ((rc = nn_ref_prepare(s, st))) return rc;
        if (st->be_prepare && (rc = st->be_prepare(s, st))) return rc;
    }
    return 0;
}

void nn_plan_free(facet_nn_session *s)
{
    for (int i = 0; i < s->nsteps; i++)
        if (s->steps[i].be && s->steps[i].be_free) s->steps[i].be_free(s->steps[i].be);
    for (int i = 0; i < s->nowned; i++) facet_free_aligned(s->owned[i]);
    free(s->owned);
    free(s->steps);
    free(s->t);
    free(s->inputs);
    free(s->outputs);
    facet_free_aligned(s->arena);
}

/* ---------------- public session API ---------------- */

void facet_nn_settings_defaults(facet_nn_settings *s)
{
    if (!s) return;
    memset(s, 0, sizeof *s);
    s->backend = FACET_NN_BACKEND_AUTO;
}

facet_status facet_nn_session_create(const facet_nn_model *m, const facet_nn_settings *set,
                                     facet_nn_session **out)
{
    if (!out) return facet_seterr(NULL, FACET_E_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (!m) return facet_seterr(NULL, FACET_E_INVALID_ARG, "model is NULL");
    int erc = facet_env_check(NULL);
    if (erc) return erc;
    facet_nn_settings def;
    if (!set) {
        facet_nn_settings_defaults(&def);
        set = &def;
    }
    facet_nn_session *s = facet_calloc(1, sizeof *s);
    if (!s) return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory for a session");
    s->model = m;
    s->backend = set->backend;
    if (s->backend == FACET_NN_BACKEND_AUTO) {
        const char *b = getenv("FACET_NN_BACKEND");
        s->backend = b && !strcmp(b, "ref") ? FACET_NN_BACKEND_REF : FACET_NN_BACKEND_XNNPACK;
        if (b && *b && strcmp(b, "ref") && strcmp(b, "xnnpack")) {
            free(s);
            return facet_seterr(NULL, FACET_E_INVALID_ARG, "FACET_NN_BACKEND='%s': use ref or xnnpack", b);
        }
    }
    if (s->backend != FACET_NN_BACKEND_REF && s->backend != FACET_NN_BACKEND_XNNPACK) {
        free(s);
        return facet_seterr(NULL, FACET_E_INVALID_ARG, "unknown backend %d", (int)set->backend);
    }
    s->threads = facet_threads_resolve(set->num_threads);
    s->yield_after_run = set->yield_after_run;
    int rc = FACET_OK;
    if (s->backend == FACET_NN_BACKEND_XNNPACK) {
        const nn_kernels *k = NULL;
        if ((rc = nn_kernels_pick(&k, NULL))) {
            free(s);
            return rc;
        }
        s->kern = k;
        rc = nn_xnn_session_init(s);
    }
    if (!rc) rc = nn_plan(s, set);
    if (!rc && set->profile) {
        s->prof_ms = facet_calloc((size_t)s->nsteps + 1, sizeof(double));
        if (!s->prof_ms) rc = facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for the profile");
    }
    if (rc) {
        char msg[FACET_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", s->err.msg[0] ? s->err.msg : facet_thread_errmsg());
        if (!msg[0]) snprintf(msg, sizeof msg, "%s", facet_status_str(rc));
        facet_nn_session_destroy(s);
        return facet_seterr(NULL, rc, "%s", msg);
    }
    *out = s;
    return FACET_OK;
}

void facet_nn_session_destroy(facet_nn_session *s)
{
    if (!s) return;
    nn_plan_free(s);
    nn_xnn_session_free(s);
    free(s->prof_ms);
    free(s);
}

facet_status facet_nn_session_set_input(facet_nn_session *s, int i, const float *data, size_t count)
{
    if (!s) return facet_seterr(NULL, FACET_E_INVALID_ARG, "session is NULL");
    if (i < 0 || i >= s->ninputs) return facet_seterr(&s->err, FACET_E_INVALID_ARG, "input index %d out of range", i);
    nn_tensor *t = &s->t[s->inputs[i]];
    if (!data || (int64_t)count != nn_shape_count(&t->shape))
        return facet_seterr(&s->err, FACET_E_INVALID_ARG, "input %d needs %lld floats, got %zu", i,
                            (long long)nn_shape_count(&t->shape), count);
    if (t->data) memcpy(t->data, data, count * sizeof(float));
    return FACET_OK;
}

facet_status facet_nn_session_run(facet_nn_session *s)
{
    if (!s) return facet_seterr(NULL, FACET_E_INVALID_ARG, "session is NULL");
    for (int i = 0; i < s->nsteps; i++) {
        nn_step *st = &s->steps[i];
        if (!st->run) continue;
        uint64_t t0 = s->prof_ms ? facet_now_ns() : 0;
        int rc = st->run(s, st);
        if (rc) {
            if (s->yield_after_run) nn_xnn_session_idle(s);
            return rc;
        }
        if (s->prof_ms) s->prof_ms[i] += (double)(facet_now_ns() - t0) / 1e6;
    }
    if (s->yield_after_run) nn_xnn_session_idle(s);
    return FACET_OK;
}

facet_status facet_nn_session_output(facet_nn_session *s, int i, const float **data, facet_nn_shape *shape)
{
    if (!s) return facet_seterr(NULL, FACET_E_INVALID_ARG, "session is NULL");
    if (i < 0 || i >= s->noutputs) return facet_seterr(&s->err, FACET_E_INVALID_ARG, "output index %d out of range", i);
    const nn_tensor *t = &s->t[s->outputs[i]];
    if (data) *data = t->data;
    if (shape) {
        shape->ndim = t->shape.ndim;
        for (int d = 0; d < t->shape.ndim; d++) shape->dims[d] = t->shape.d[d];
    }
    return FACET_OK;
}

facet_status facet_nn_session_input_shape(const facet_nn_session *s, int i, facet_nn_shape *out)
{
    if (!s || !out || i < 0 || i >= s->ninputs) return facet_seterr(NULL, FACET_E_INVALID_ARG, "bad argument");
    const nn_tensor *t = &s->t[s->inputs[i]];
    out->ndim = t->shape.ndim;
    for (int d = 0; d < t->shape.ndim; d++) out->dims[d] = t->shape.d[d];
    return FACET_OK;
}

int facet_nn_session_num_outputs(const facet_nn_session *s)
{
    return s ? s->noutputs : 0;
}

double facet_nn_session_flops(const facet_nn_session *s)
{
    return s ? s->flops : 0;
}

const char *facet_nn_session_kernels(const facet_nn_session *s)
{
    return s && s->kern ? s->kern->isa : "none";
}

facet_nn_backend facet_nn_session_backend(const facet_nn_session *s)
{
    return s ? s->backend : FACET_NN_BACKEND_AUTO;
}

int facet_nn_session_threads(const facet_nn_session *s)
{
    return s ? s->threads : 0;
}

const char *facet_nn_session_errmsg(const facet_nn_session *s)
{
    return s ? s->err.msg : "";
}

facet_status facet_nn_session_profile(const facet_nn_session *s, char **json)
{
    if (!s || !json) return facet_seterr(NULL, FACET_E_INVALID_ARG, "session or json is NULL");
    *json = NULL;
    if (!s->prof_ms) return facet_seterr(NULL, FACET_E_INVALID_ARG, "the session was made without profile");
    size_t cap = 256 + (size_t)s->nsteps * 160, n = 0;
    char *p = facet_malloc(cap);
    if (!p) return facet_seterr(NULL, FACET_E_NO_MEMORY, "no memory");
    n += (size_t)snprintf(p + n, cap - n, "[");
    for (int i = 0; i < s->nsteps; i++) {
        const nn_step *st = &s->steps[i];
        const nn_tensor *y = &s->t[st->out[0]];
        n += (size_t)snprintf(p + n, cap - n, "%s\n {\"op\": \"%s\", \"kernel\": \"%s\", \"shape\": [", i ? "," : "",
                              nn_op_name(st->op), !st->run ? "alias" : st->kernel ? st->kernel : "ref");
        for (int d = 0; d < y->shape.ndim && n < cap - 64; d++)
            n += (size_t)snprintf(p + n, cap - n, "%s%lld", d ? "," : "", (long long)y->shape.d[d]);
        n += (size_t)snprintf(p + n, cap - n, "], \"mflop\": %.3f, \"ms\": %.4f}", st->flops / 1e6, s->prof_ms[i]);
    }
    snprintf(p + n, cap - n, "\n]");
    *json = p;
    return FACET_OK;
}
