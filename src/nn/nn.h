/*
 * nn.h - private structures of the inference engine.
 *
 * A facet_nn_model is what the ONNX reader produced: a table of values (named tensors, with
 * data for initializers) and a list of nodes that refer to values by index, with their
 * attributes kept as parsed. It is never modified after load, so threads share it.
 *
 * A facet_nn_session is a plan for one input shape: every value gets a static shape, nodes
 * whose inputs are all known are folded into constants (the Shape/Gather/Concat chains),
 * BatchNormalization is folded into the Conv before it, activations are fused, and the rest
 * becomes a flat list of steps that read and write one pre-sized arena. Running the plan
 * just walks the steps: nothing is allocated.
 */
#ifndef FACET_SRC_NN_H
#define FACET_SRC_NN_H

#include <stdint.h>
#include <stdio.h>

#include "base/base.h"
#include "facet/nn.h"

#define NN_MAXDIM FACET_NN_MAX_DIMS

enum nn_dtype { NN_F32 = 1, NN_I64 = 7 };

typedef enum nn_op {
    NN_OP_CONV, NN_OP_BATCHNORM, NN_OP_RELU, NN_OP_PRELU, NN_OP_SIGMOID, NN_OP_TANH, NN_OP_EXP,
    NN_OP_SOFTMAX, NN_OP_ADD, NN_OP_SUB, NN_OP_MUL, NN_OP_DIV, NN_OP_MAXPOOL, NN_OP_AVGPOOL,
    NN_OP_GAVGPOOL, NN_OP_REDUCEMEAN, NN_OP_PAD, NN_OP_CONCAT, NN_OP_SPLIT, NN_OP_SLICE,
    NN_OP_RESHAPE, NN_OP_FLATTEN, NN_OP_TRANSPOSE, NN_OP_GATHER, NN_OP_UNSQUEEZE, NN_OP_SHAPE,
    NN_OP_CONSTANT, NN_OP_CONSTANTOFSHAPE, NN_OP_GEMM, NN_OP_MATMUL, NN_OP_IDENTITY,
    NN_OP_DROPOUT,
    NN_OP_ONNX_COUNT,
    /* made by the planner, never read from a file */
    NN_OP_TO_NHWC = NN_OP_ONNX_COUNT, NN_OP_TO_NCHW, NN_OP_CHANNEL_SHUFFLE,
    NN_OP_COUNT
} nn_op;

typedef struct nn_shape {
    int ndim;
    int64_t d[NN_MAXDIM];
} nn_shape;

enum nn_attr_type { NN_ATTR_FLOAT = 1, NN_ATTR_INT, NN_ATTR_STRING, NN_ATTR_TENSOR,
                    NN_ATTR_FLOATS = 6, NN_ATTR_INTS };

typedef struct nn_const {
    int dtype;
    nn_shape shape;
    void *data; /* 64-byte aligned, owned */
} nn_const;

typedef struct nn_attr {
    char *name;
    int type;
    float f;
    int64_t i;
    char *s;
    int n;          /* count of ints/floats */
    int64_t *ints;
    float *floats;
    nn_const t;
} nn_attr;

typedef struct nn_value {
    char *name;
    int dtype;           /* 0 while unknown (intermediate values) */
    nn_shape shape;      /* declared or initializer shape */
    int has_shape;
    void *data;          /* initializer data (owned), else NULL */
} nn_value;

typedef struct nn_node {
    nn_op op;
    char *name;
    int nin, nout;
    int *in;  /* value indices; -1 for an omitted optional input */
    int *out;
    int nattr;
    nn_attr *attr;
} nn_node;

struct facet_nn_model {
    nn_value *values;
    int nvalues;
    nn_node *nodes; /* in topological order (the reader sorts them) */
    int nnodes;
    int *inputs;    /* graph inputs that are not initializers */
    int ninputs;
    int *outputs;
    int noutputs;
    int64_t opset, ir_version;
    char *producer;
    int64_t nparams;
};

const char *nn_op_name(nn_op op);
const nn_attr *nn_attr_find(const nn_node *n, const char *name);
int64_t nn_attr_int(const nn_node *n, const char *name, int64_t def);
float nn_attr_float(const nn_node *n, const char *name, float def);
/* Pointer to the ints of an INTS attribute and its count, or NULL/0 when absent. */
const int64_t *nn_attr_ints(const nn_node *n, const char *name, int *count);

int64_t nn_shape_count(const nn_shape *s);
size_t nn_dtype_size(int dtype);

/* ---- sessions ---- */

enum nn_layout { NN_NCHW = 0, NN_NHWC = 1 };
enum nn_act { NN_ACT_NONE = 0, NN_ACT_RELU = 1 };

typedef struct nn_tensor {
    int dtype;
    nn_shape shape;     /* logical shape, ONNX order */
    int layout;         /* physical order of a 4-D activation */
    int is_const;       /* data fixed at plan time */
    void *data;         /* resolved pointer: constant storage or the arena */
    int64_t offset;     /* arena offset, -1 if not in the arena */
    int alias;          /* value whose buffer this one shares, or -1 */
    int first, last;    /* steps that define and last read it */
    int is_output;
} nn_tensor;

typedef struct facet_nn_session nn_session;
typedef struct nn_step nn_step;
typedef int (*nn_run_fn)(nn_session *s, nn_step *st);

#define NN_STEP_MAXIO 32

struct nn_step {
    nn_op op;
    const nn_node *node; /* NULL for planner-made steps */
    int nin, nout;
    int in[NN_STEP_MAXIO];
    int out[NN_STEP_MAXIO];
    int act;             /* fused activation after the op */
    int alias_in;        /* non-zero: out[0] shares in[0]'s buffer and the step does nothing */
    float *w, *b;        /* folded conv weights and bias (owned) when they differ */
    int64_t aux[16];     /* op-specific resolved integers (kernel, strides, pads, axes...) */
    float faux[4];       /* op-specific resolved floats (alpha, beta, epsilon, pad value) */
    double flops;
    nn_run_fn run;
    const char *kernel;  /* which implementation runs it (profiles): "ref", "xnnpack", "avx512", "avx2" */
    void *be;            /* backend state (xnnpack operator, packed weights) */
    void (*be_free)(void *);
    int (*be_prepare)(nn_session *s, nn_step *st); /* called once the arena is placed */
};

struct facet_nn_session {
    const facet_nn_model *model;
    facet_nn_backend backend;
    int threads;
    nn_tensor *t;   /* one per model value, then planner-made values */
    int nt, cap_t;
    nn_step *steps;
    int nsteps, cap_steps;
    void **owned;   /* constant buffers made at plan time */
    int nowned, cap_owned;
    uint8_t *arena;
    int64_t arena_size;
    int *inputs, *outputs; /* tensor indices */
    int ninputs, noutputs;
    double flops;
    void *pool;     /* pthreadpool for the xnnpack backend */
    const struct nn_kernels *kern; /* own kernels' table (kernels.h), NULL: none */
    float *wino_scratch;   /* Winograd steps' scratch (conv.c), shared: steps run one at a time */
    size_t wino_floats;
    double *prof_ms; /* per step, when profiling */
    int yield_after_run;
    facet_err err;
};

int nn_plan(facet_nn_session *s, const facet_nn_settings *st);
void nn_plan_free(facet_nn_session *s);
/* Adds a tensor to the session; returns its index or -1 on out-of-memory. */
int nn_tensor_add(facet_nn_session *s, int dtype, const nn_shape *shape);
/* How many steps read value v (plus one when it is a graph output). */
int nn_readers(const facet_nn_session *s, int v);
/* Keeps `p` (facet_alloc'd) to be freed with the session; returns p or NULL on failure. */
void *nn_own(facet_nn_session *s, void *p);

/* Reference kernels: shape inference + execution; see ops/ref.c. */
int nn_ref_infer(facet_nn_session *s, nn_step *st);
/* Inserts a step before position `at` (steps after it move up); returns it or NULL. */
nn_step *nn_step_insert(facet_nn_session *s, int at);
int nn_ref_prepare(facet_nn_session *s, nn_step *st);

/* XNNPACK backend (xnnpack/backend.c): per-session thread pool; nn_xnn_assign claims the steps
 * it can run, chooses NHWC layout between them and sets their be_prepare. */
int nn_xnn_session_init(nn_session *s);
/* XNNPACK's one-time initialisation, FACET_CPU_MASK applied to the ISA it picks (0, or
 * FACET_E_UNSUPPORTED); sessions call it themselves. */
int nn_xnn_init(void);
void nn_xnn_session_free(nn_session *s);
/* Puts the session's worker threads to sleep until its next run. */
void nn_xnn_session_idle(nn_session *s);
int nn_xnn_assign(nn_session *s);

/* Own kernels (kernels.h, conv.c, rows.c) through the session's table s->kern (NULL: none).
 * The _ok functions say whether a step qualifies for a slot of that table. */
int nn_conv_first_ok(const nn_session *s, const nn_step *st);
int nn_conv_dw_ok(const nn_session *s, const nn_step *st);
int nn_conv_gd_ok(const nn_session *s, const nn_step *st);
int nn_conv_pw_ok(const nn_session *s, const nn_step *st);
int nn_conv_full_ok(const nn_session *s, const nn_step *st);
enum { NN_K_FIRST, NN_K_DW, NN_K_GD, NN_K_PW, NN_K_CONV, NN_K_WINO };
int nn_conv_make(nn_session *s, nn_step *st, int kind);
/* A PRelu after one of those convolutions: fused into it (returns 1, the step becomes an alias). */
int nn_conv_fuse_prelu(nn_session *s, nn_step *st);
/* Exp, two-class Softmax and Tanh on the table's vector kernel, a Tanh fused into one of those
 * convolutions when it follows one (returns 1 when taken). */
int nn_elementwise_make(nn_session *s, nn_step *st);
/* Fuses chains of those convolutions and pointwise ones into steps that run row by row
 * (rows.c); called once XNNPACK has claimed its steps. */
int nn_rows_fuse(nn_session *s);

#endif
