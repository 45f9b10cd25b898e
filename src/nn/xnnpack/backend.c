/*
 * backend.c - the XNNPACK backend: the heavy operators on XNNPACK, in NHWC.
 *
 * XNNPACK's operators work on channels-last tensors, ONNX graphs are channels-first. Rather
 * than transposing around every operator, nn_xnn_assign walks the planned steps once and gives
 * each 4-D activation a physical layout:
 *   - steps XNNPACK (or our own channels-last loops) can run take NHWC inputs and make NHWC
 *     outputs: Conv, pools, PRelu, BatchNormalization, binary arithmetic, channel Concat and
 *     Split, ChannelShuffle, Pad;
 *   - elementwise unary steps (Relu, Sigmoid, ...) do not care and follow their input;
 *   - every other step reads NCHW, and a conversion step is inserted where a value crosses
 *     from one world to the other (once per value; a conversion of a tensor with H*W == 1 or
 *     C == 1 is free, both layouts are the same bytes);
 *   - Transpose(0,2,3,1) of an NHWC tensor, as detection heads do, is the same bytes too.
 * Gemm/MatMul with constant weights run as XNNPACK fully-connected operators.
 * XNNPACK operators are created here with their weights (XNNPACK packs its own copy) and set
 * up once the arena is placed (be_prepare), so a run is just xnn_run_operator per step.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "nn/kernels.h"
#include "nn/nn.h"

static pthread_once_t xnn_once = PTHREAD_ONCE_INIT;
static enum xnn_status xnn_init_status = xnn_status_uninitialized;

#if defined(__x86_64__)
#include <cpuinfo.h>

/* XNNPACK picks its microkernels once, at initialisation, from the ISA flags of cpuinfo (the
 * library it detects the CPU with). Clearing there what FACET_CPU_MASK masks off makes the
 * mask hold for the whole engine, so that an AVX-512 machine measures and tests the AVX2 (or
 * SSE) paths of XNNPACK as well as ours; the mask in force at the first session decides. */
static void mask_cpuinfo(void)
{
    const unsigned f = facet_cpu_flags();
    if (!cpuinfo_initialize()) return; /* XNNPACK's own initialisation then fails and says so */
    struct cpuinfo_x86_isa *isa = &cpuinfo_isa;
    if (!(f & FACET_CPU_AVX512F))
        isa->avx512f = isa->avx512pf = isa->avx512er = isa->avx512cd = isa->avx512dq = isa->avx512bw =
            isa->avx512vl = isa->avx512ifma = isa->avx512vbmi = isa->avx512vbmi2 = isa->avx512bitalg =
                isa->avx512vpopcntdq = isa->avx512vnni = isa->avx512bf16 = isa->avx512vp2intersect =
                    isa->avx512_4vnniw = isa->avx512_4fmaps = false;
    if (!(f & FACET_CPU_AVX512VNNI)) isa->avx512vnni = false;
    if (!(f & FACET_CPU_AVX512BF16)) isa->avx512bf16 = false;
    if (!(f & FACET_CPU_AVX512BW)) isa->avx512bw = false;
    if (!(f & FACET_CPU_AVX512VL)) isa->avx512vl = false;
    if (!(f & FACET_CPU_AVX2)) isa->avx2 = false;
    if (!(f & FACET_CPU_FMA)) isa->fma3 = isa->fma4 = false;
    if (!(f & FACET_CPU_F16C)) isa->f16c = false;
    if (!(f & FACET_CPU_AVX)) isa->avx = isa->xop = isa->fma3 = isa->fma4 = isa->f16c = isa->avx2 = false;
    if (!(f & FACET_CPU_SSE41)) isa->sse4_1 = isa->sse4_2 = false;
}
#endif

static void xnn_init_once(void)
{
#if defined(__x86_64__)
    mask_cpuinfo();
#endif
    xnn_init_status = xnn_initialize(NULL);
}

int nn_xnn_init(void)
{
    pthread_once(&xnn_once, xnn_init_once);
    return xnn_init_status == xnn_status_success ? 0 : FACET_E_UNSUPPORTED;
}

int nn_xnn_session_init(nn_session *s)
{
    pthread_once(&xnn_once, xnn_init_once);
    if (xnn_init_status != xnn_status_success)
        return facet_seterr(&s->err, FACET_E_UNSUPPORTED,
                            "XNNPACK cannot initialise on this CPU (status %d); use FACET_NN_BACKEND=ref",
                            (int)xnn_init_status);
    if (s->threads > 1) {
        s->pool = pthreadpool_create((size_t)s->threads);
        if (!s->pool) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "cannot create a thread pool");
    }
    return 0;
}

static void idle_task(void *ctx, size_t i)
{
    (void)ctx, (void)i;
}

void nn_xnn_session_idle(nn_session *s)
{
    /* pthreadpool's workers spin between parallel calls; after the last step of a run they
     * sleep instead when asked, or every idle session's workers keep cores busy (a face
     * pipeline holds three sessions: with two threads each, their spinning made it 6x slower) */
    if (s->pool)
        pthreadpool_parallelize_1d(s->pool, idle_task, NULL, pthreadpool_get_threads_count(s->pool),
                                   PTHREADPOOL_FLAG_YIELD_WORKERS);
}

void nn_xnn_session_free(nn_session *s)
{
    if (s->pool) pthreadpool_destroy(s->pool);
    s->pool = NULL;
}

static void op_free(void *op)
{
    xnn_delete_operator(op);
}

#define T(i) (&s->t[st->in[i]])
#define O(i) (&s->t[st->out[i]])

static int xnn_fail(nn_session *s, const nn_step *st, const char *what, enum xnn_status x)
{
    return facet_seterr(&s->err, FACET_E_INTERNAL, "node '%s' (%s): XNNPACK %s failed (status %d)",
                        st->node ? st->node->name : "(planner)", nn_op_name(st->op), what, (int)x);
}

static int run_xnn(nn_session *s, nn_step *st)
{
    enum xnn_status x = xnn_run_operator(st->be, s->pool);
    return x == xnn_status_success ? 0 : xnn_fail(s, st, "run", x);
}

static float out_min(const nn_step *st)
{
    return st->act == NN_ACT_RELU ? 0.0f : -INFINITY;
}

/* ---------- our own channels-last kernels ---------- */

/* BatchNormalization in NHWC: y = x * a[c] + b[c] (a, b precomputed in st->w, st->b), a Relu
 * after it fused (st->act), on the session's kernel table (the C one when there is none), 64
 * pixels per task on the thread pool. After fuse_cat_bn the step reads the inputs of the Concat
 * it followed instead (in[0..nin): each a slice of the channels), so the concatenation is never
 * written. */
#define BN_PIXELS 64

typedef struct bn_ctx {
    nn_session *s;
    nn_step *st;
    int64_t P, C; /* pixels, channels of the output */
    int pieces;   /* inputs read: 1, or the Concat's */
} bn_ctx;

static void bn_task(void *ctx, size_t i)
{
    const bn_ctx *c = ctx;
    nn_session *s = c->s;
    nn_step *st = c->st;
    const nn_kernels *k = s->kern && s->kern->affine ? s->kern : &nn_kernels_c;
    const int64_t p0 = (int64_t)i * BN_PIXELS, n = c->P - p0 < BN_PIXELS ? c->P - p0 : BN_PIXELS;
    float *y = (float *)O(0)->data + p0 * c->C;
    int64_t pos = 0;
    for (int q = 0; q < c->pieces; q++) {
        const int64_t Ci = T(q)->shape.d[1]; /* a plain BatchNormalization: its input's, = C */
        k->affine((const float *)T(q)->data + p0 * Ci, Ci, st->w + pos, st->b + pos, st->act == NN_ACT_RELU, y + pos,
                  c->C, (int)Ci, n);
        pos += Ci;
    }
}

static int run_bn_pieces(nn_session *s, nn_step *st, int pieces)
{
    bn_ctx c = {s, st, 0, O(0)->shape.d[1], pieces};
    c.P = nn_shape_count(&O(0)->shape) / c.C;
    pthreadpool_parallelize_1d(s->pool, bn_task, &c, (size_t)((c.P + BN_PIXELS - 1) / BN_PIXELS), 0);
    return 0;
}

static int run_bn_nhwc(nn_session *s, nn_step *st)
{
    return run_bn_pieces(s, st, 1);
}

static int run_cat_bn_nhwc(nn_session *s, nn_step *st)
{
    return run_bn_pieces(s, st, st->nin);
}

/* Concat / Split along channels in NHWC: rows of C_i floats copied per pixel. */
static int run_concat_nhwc(nn_session *s, nn_step *st)
{
    const nn_tensor *Y = O(0);
    int64_t Ct = Y->shape.d[1], P = nn_shape_count(&Y->shape) / Ct, pos = 0;
    float *y = Y->data;
    for (int i = 0; i < st->nin; i++) {
        const nn_tensor *X = T(i);
        int64_t Ci = X->shape.d[1];
        const float *x = X->data;
        for (int64_t p = 0; p < P; p++) memcpy(y + p * Ct + pos, x + p * Ci, sizeof(float) * (size_t)Ci);
        pos += Ci;
    }
    return 0;
}

static int run_split_nhwc(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    int64_t Ct = X->shape.d[1], P = nn_shape_count(&X->shape) / Ct, pos = 0;
    const float *x = X->data;
    for (int i = 0; i < st->nout; i++) {
        const nn_tensor *Y = O(i);
        int64_t Ci = Y->shape.d[1];
        float *y = Y->data;
        for (int64_t p = 0; p < P; p++) memcpy(y + p * Ci, x + p * Ct + pos, sizeof(float) * (size_t)Ci);
        pos += Ci;
    }
    return 0;
}

/* ShuffleNet's unit boundary in one pass: Concat(a, b) of two equal halves, ChannelShuffle with
 * 2 groups (which interleaves them: a0 b0 a1 b1 ...), then, when one follows, Split into two
 * equal halves. Three copies of every pixel become one. */
static int run_cat_shuffle_nhwc(nn_session *s, nn_step *st)
{
    const nn_tensor *A = T(0);
    int64_t h = A->shape.d[1], P = nn_shape_count(&A->shape) / h;
    const float *a = A->data, *b = T(1)->data;
    float *y0 = O(0)->data, *y1 = st->nout > 1 ? O(1)->data : NULL;
    float *row = st->be; /* 2h floats of scratch: the interleaved pixel */
    for (int64_t p = 0; p < P; p++) {
        const float *ap = a + p * h, *bp = b + p * h;
        for (int64_t k = 0; k < h; k++) {
            row[2 * k] = ap[k];
            row[2 * k + 1] = bp[k];
        }
        if (y1) {
            memcpy(y0 + p * h, row, sizeof(float) * (size_t)h);
            memcpy(y1 + p * h, row + h, sizeof(float) * (size_t)h);
        } else {
            memcpy(y0 + p * 2 * h, row, sizeof(float) * (size_t)(2 * h));
        }
    }
    return 0;
}

/* Finds Concat -> ChannelShuffle(2) [-> Split] runs of NHWC steps and makes each one step. */
static void fuse_cat_shuffle(nn_session *s)
{
    for (int i = 0; i + 1 < s->nsteps; i++) {
        nn_step *c = &s->steps[i], *sh = &s->steps[i + 1];
        if (c->op != NN_OP_CONCAT || c->run != run_concat_nhwc || c->nin != 2 || sh->op != NN_OP_CHANNEL_SHUFFLE ||
            sh->aux[0] != 2 || sh->in[0] != c->out[0] || nn_readers(s, c->out[0]) != 1 || !sh->kernel ||
            strcmp(sh->kernel, "xnnpack"))
            continue;
        const nn_tensor *A = &s->t[c->in[0]], *B = &s->t[c->in[1]];
        if (A->layout != NN_NHWC || B->layout != NN_NHWC || A->shape.d[1] != B->shape.d[1] ||
            nn_shape_count(&A->shape) != nn_shape_count(&B->shape))
            continue;
        int64_t h = A->shape.d[1];
        nn_step *sp = i + 2 < s->nsteps ? &s->steps[i + 2] : NULL;
        int with_split = sp && sp->op == NN_OP_SPLIT && sp->run == run_split_nhwc && sp->nout == 2 &&
                         sp->in[0] == sh->out[0] && nn_readers(s, sh->out[0]) == 1 &&
                         s->t[sp->out[0]].shape.d[1] == h && s->t[sp->out[1]].shape.d[1] == h;
        float *row = nn_own(s, facet_alloc(sizeof(float) * (size_t)(2 * h)));
        if (!row) continue; /* left unfused */
        if (sh->be && sh->be_free) sh->be_free(sh->be);
        c->op = NN_OP_CHANNEL_SHUFFLE;
        c->run = run_cat_shuffle_nhwc;
        c->kernel = "nhwc-fused";
        c->be = row;
        c->be_free = NULL;
        c->be_prepare = NULL;
        int drop = 1;
        if (with_split) {
            c->nout = 2;
            c->out[0] = sp->out[0];
            c->out[1] = sp->out[1];
            drop = 2;
        } else {
            c->out[0] = sh->out[0];
        }
        memmove(&s->steps[i + 1], &s->steps[i + 1 + drop], sizeof(nn_step) * (size_t)(s->nsteps - i - 1 - drop));
        s->nsteps -= drop;
    }
}

/* Concat -> BatchNormalization, the Concat's output read by nothing else (DenseNet, fr_expression:
 * every layer normalises the concatenation of all the features before it, so the Concats copy
 * a growing map 58 times): the BatchNormalization reads the Concat's inputs and writes the
 * normalised concatenation in one pass, and the Concat step goes. */
static void fuse_cat_bn(nn_session *s)
{
    for (int i = 0; i + 1 < s->nsteps; i++) {
        nn_step *c = &s->steps[i], *bn = &s->steps[i + 1];
        if (c->op != NN_OP_CONCAT || c->run != run_concat_nhwc || bn->run != run_bn_nhwc || bn->in[0] != c->out[0] ||
            bn->alias_in || nn_readers(s, c->out[0]) != 1 || s->t[c->out[0]].is_output)
            continue;
        int nhwc = 1;
        for (int k = 0; k < c->nin; k++) nhwc &= s->t[c->in[k]].layout == NN_NHWC && s->t[c->in[k]].dtype == NN_F32;
        if (!nhwc) continue;
        bn->nin = c->nin; /* the scale, offset, mean and variance are folded into w and b already */
        memcpy(bn->in, c->in, sizeof(int) * (size_t)c->nin);
        bn->run = run_cat_bn_nhwc;
        bn->kernel = "nhwc-fused";
        memmove(&s->steps[i], &s->steps[i + 1], sizeof(nn_step) * (size_t)(s->nsteps - i - 1));
        s->nsteps--;
    }
}

/* ---------- operator creation (at assign) and setup (once the arena is placed) ---------- */

/* Takes a freshly created operator into the step: it is set up by `prep` once the arena is
 * placed and run by run_xnn. */
static int adopt(nn_session *s, nn_step *st, enum xnn_status created, xnn_operator_t op, const char *what,
                 int (*prep)(nn_session *, nn_step *))
{
    if (created != xnn_status_success) return xnn_fail(s, st, what, created);
    st->be = op;
    st->be_free = op_free;
    st->be_prepare = prep;
    st->run = run_xnn;
    st->kernel = "xnnpack";
    return 0;
}

static int prep_conv(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    enum xnn_status x = xnn_setup_convolution2d_nhwc_f32(st->be, (size_t)X->shape.d[0], (size_t)X->shape.d[2],
                                                         (size_t)X->shape.d[3], X->data, O(0)->data, s->pool);
    return x == xnn_status_success ? 0 : xnn_fail(s, st, "setup", x);
}

static int make_conv(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0), *W = T(1);
    int64_t C = X->shape.d[1], M = W->shape.d[0], kh = W->shape.d[2], kw = W->shape.d[3];
    int64_t G = st->aux[10], Cg = C / G, Mg = M / G;
    const float *w0 = st->w ? st->w : W->data;
    const float *b0 = st->b ? st->b : (st->nin > 2 && st->in[2] >= 0 ? T(2)->data : NULL);
    /* ONNX [M][Cg][kh][kw] -> XNNPACK [M][kh][kw][Cg] (same bytes when Cg == 1) */
    float *w = facet_alloc(sizeof(float) * (size_t)(M * Cg * kh * kw));
    if (!w) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for weights");
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t k = 0; k < kh * kw; k++) w[(m * kh * kw + k) * Cg + c] = w0[(m * Cg + c) * kh * kw + k];
    xnn_operator_t op = NULL;
    enum xnn_status x = xnn_create_convolution2d_nhwc_f32(
        (uint32_t)st->aux[6], (uint32_t)st->aux[9], (uint32_t)st->aux[8], (uint32_t)st->aux[7], (uint32_t)kh,
        (uint32_t)kw, (uint32_t)st->aux[2], (uint32_t)st->aux[3], (uint32_t)st->aux[4], (uint32_t)st->aux[5],
        (uint32_t)G, (size_t)Cg, (size_t)Mg, (size_t)C, (size_t)M, w, b0, out_min(st), INFINITY, 0, &op);
    facet_free_aligned(w);
    return adopt(s, st, x, op, "convolution create", prep_conv);
}

static int prep_pool(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    enum xnn_status x;
    if (st->op == NN_OP_MAXPOOL)
        x = xnn_setup_max_pooling2d_nhwc_f32(st->be, (size_t)X->shape.d[0], (size_t)X->shape.d[2],
                                             (size_t)X->shape.d[3], X->data, O(0)->data, s->pool);
    else
        x = xnn_setup_average_pooling2d_nhwc_f32(st->be, (size_t)X->shape.d[0], (size_t)X->shape.d[2],
                                                 (size_t)X->shape.d[3], X->data, O(0)->data, s->pool);
    return x == xnn_status_success ? 0 : xnn_fail(s, st, "setup", x);
}

static int make_pool(nn_session *s, nn_step *st)
{
    int64_t C = T(0)->shape.d[1];
    xnn_operator_t op = NULL;
    enum xnn_status x;
    if (st->op == NN_OP_MAXPOOL)
        x = xnn_create_max_pooling2d_nhwc_f32((uint32_t)st->aux[6], (uint32_t)st->aux[9], (uint32_t)st->aux[8],
                                              (uint32_t)st->aux[7], (uint32_t)st->aux[0], (uint32_t)st->aux[1],
                                              (uint32_t)st->aux[2], (uint32_t)st->aux[3], 1, 1, (size_t)C,
                                              (size_t)C, (size_t)C, -INFINITY, INFINITY, 0, &op);
    else
        x = xnn_create_average_pooling2d_nhwc_f32((uint32_t)st->aux[6], (uint32_t)st->aux[9],
                                                  (uint32_t)st->aux[8], (uint32_t)st->aux[7],
                                                  (uint32_t)st->aux[0], (uint32_t)st->aux[1],
                                                  (uint32_t)st->aux[2], (uint32_t)st->aux[3], (size_t)C,
                                                  (size_t)C, (size_t)C, -INFINITY, INFINITY, 0, &op);
    return adopt(s, st, x, op, "pooling create", prep_pool);
}

static int prep_gap(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    enum xnn_status x = xnn_setup_global_average_pooling_nwc_f32(
        st->be, (size_t)X->shape.d[0], (size_t)(X->shape.d[2] * X->shape.d[3]), X->data, O(0)->data, s->pool);
    return x == xnn_status_success ? 0 : xnn_fail(s, st, "setup", x);
}

static int make_gap(nn_session *s, nn_step *st)
{
    size_t C = (size_t)T(0)->shape.d[1];
    xnn_operator_t op = NULL;
    enum xnn_status x = xnn_create_global_average_pooling_nwc_f32(C, C, C, -INFINITY, INFINITY, 0, &op);
    return adopt(s, st, x, op, "global average pooling create", prep_gap);
}

static int prep_prelu(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    size_t C = (size_t)X->shape.d[1];
    enum xnn_status x = xnn_setup_prelu_nc_f32(st->be, (size_t)nn_shape_count(&X->shape) / C, X->data,
                                               O(0)->data, s->pool);
    return x == xnn_status_success ? 0 : xnn_fail(s, st, "setup", x);
}

static int make_prelu(nn_session *s, nn_step *st)
{
    size_t C = (size_t)T(0)->shape.d[1];
    xnn_operator_t op = NULL;
    enum xnn_status x = xnn_create_prelu_nc_f32(C, C, C, T(1)->data, 0, &op);
    return adopt(s, st, x, op, "prelu create", prep_prelu);
}

/* Binary ops: shapes in NHWC order, kept in aux: aux[0..3] first input, aux[4..7] second. */
static int prep_binary(nn_session *s, nn_step *st)
{
    size_t a[4], b[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (size_t)st->aux[i];
        b[i] = (size_t)st->aux[4 + i];
    }
    const float *x0 = st->w ? st->w : T(0)->data;
    const float *x1 = st->b ? st->b : T(1)->data;
    float *y = O(0)->data;
    enum xnn_status x;
    switch (st->op) {
    case NN_OP_ADD: x = xnn_setup_add_nd_f32(st->be, 4, a, 4, b, x0, x1, y, s->pool); break;
    case NN_OP_SUB: x = xnn_setup_subtract_nd_f32(st->be, 4, a, 4, b, x0, x1, y, s->pool); break;
    case NN_OP_MUL: x = xnn_setup_multiply_nd_f32(st->be, 4, a, 4, b, x0, x1, y, s->pool); break;
    default: x = xnn_setup_divide_nd_f32(st->be, 4, a, 4, b, x0, x1, y, s->pool); break;
    }
    return x == xnn_status_success ? 0 : xnn_fail(s, st, "setup", x);
}

/* A constant operand of a channels-last binary op: padded to 4-D and permuted to NHWC. */
static int nhwc_const(nn_session *s, const nn_tensor *c, int64_t *shape4, float **out)
{
    int64_t d[4] = {1, 1, 1, 1};
    int off = 4 - c->shape.ndim;
    for (int i = 0; i < c->shape.ndim; i++) d[off + i] = c->shape.d[i];
    float *p = nn_own(s, facet_alloc(sizeof(float) * (size_t)nn_shape_count(&c->shape)));
    if (!p) return FACET_E_NO_MEMORY;
    const float *src = c->data;
    for (int64_t n = 0; n < d[0]; n++)
        for (int64_t ch = 0; ch < d[1]; ch++)
            for (int64_t h = 0; h < d[2]; h++)
                for (int64_t w = 0; w < d[3]; w++)
                    p[((n * d[2] + h) * d[3] + w) * d[1] + ch] = src[((n * d[1] + ch) * d[2] + h) * d[3] + w];
    shape4[0] = d[0], shape4[1] = d[2], shape4[2] = d[3], shape4[3] = d[1];
    *out = p;
    return 0;
}

static int make_binary(nn_session *s, nn_step *st)
{
    for (int k = 0; k < 2; k++) {
        const nn_tensor *X = T(k);
        if (X->is_const) {
            float *p;
            if (nhwc_const(s, X, &st->aux[4 * k], &p)) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory");
            if (k == 0) st->w = p;
            else st->b = p;
        } else {
            st->aux[4 * k + 0] = X->shape.d[0];
            st->aux[4 * k + 1] = X->shape.d[2];
            st->aux[4 * k + 2] = X->shape.d[3];
            st->aux[4 * k + 3] = X->shape.d[1];
        }
    }
    xnn_operator_t op = NULL;
    enum xnn_status x;
    switch (st->op) {
    case NN_OP_ADD: x = xnn_create_add_nd_f32(out_min(st), INFINITY, 0, &op); break;
    case NN_OP_SUB: x = xnn_create_subtract_nd_f32(out_min(st), INFINITY, 0, &op); break;
    case NN_OP_MUL: x = xnn_create_multiply_nd_f32(out_min(st), INFINITY, 0, &op); break;
    default: x = xnn_create_divide_nd_f32(out_min(st), INFINITY, 0, &op); break;
    }
    return adopt(s, st, x, op, "binary create", prep_binary);
}

static int prep_shuffle(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    size_t P = (size_t)(nn_shape_count(&X->shape) / X->shape.d[1]);
    enum xnn_status x = xnn_setup_channel_shuffle_nc_x32(st->be, P, X->data, O(0)->data, s->pool);
    return x == xnn_status_success ? 0 : xnn_fail(s, st, "setup", x);
}

static int make_shuffle(nn_session *s, nn_step *st)
{
    size_t C = (size_t)T(0)->shape.d[1], g = (size_t)st->aux[0];
    xnn_operator_t op = NULL;
    enum xnn_status x = xnn_create_channel_shuffle_nc_x32(g, C / g, C, C, 0, &op);
    return adopt(s, st, x, op, "channel shuffle create", prep_shuffle);
}

static int prep_pad(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    /* ONNX pads in NCHW order: aux[0..3] leading; trailing recomputed from the shapes */
    size_t in[4] = {(size_t)X->shape.d[0], (size_t)X->shape.d[2], (size_t)X->shape.d[3], (size_t)X->shape.d[1]};
    const nn_tensor *Y = O(0);
    size_t pre[4] = {(size_t)st->aux[0], (size_t)st->aux[2], (size_t)st->aux[3], (size_t)st->aux[1]};
    size_t out[4] = {(size_t)Y->shape.d[0], (size_t)Y->shape.d[2], (size_t)Y->shape.d[3], (size_t)Y->shape.d[1]};
    size_t post[4];
    for (int i = 0; i < 4; i++) post[i] = out[i] - in[i] - pre[i];
    enum xnn_status x = xnn_setup_constant_pad_nd_x32(st->be, 4, in, pre, post, X->data, Y->data, s->pool);
    return x == xnn_status_success ? 0 : xnn_fail(s, st, "setup", x);
}

static int make_pad(nn_session *s, nn_step *st)
{
    xnn_operator_t op = NULL;
    enum xnn_status x = xnn_create_constant_pad_nd_x32(&st->faux[0], 0, &op);
    return adopt(s, st, x, op, "pad create", prep_pad);
}

static int prep_fc(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    enum xnn_status x = xnn_setup_fully_connected_nc_f32(st->be, (size_t)st->aux[0], X->data, O(0)->data, s->pool);
    return x == xnn_status_success ? 0 : xnn_fail(s, st, "setup", x);
}

/* Gemm (transA 0, alpha = beta = 1, constant B and a [N]-like C) and 2-D MatMul with constant B. */
static int make_fc(nn_session *s, nn_step *st)
{
    int64_t K = st->aux[1], N = st->aux[2];
    int tb = st->op == NN_OP_GEMM ? (int)st->aux[4] : 0;
    const float *bias = st->op == NN_OP_GEMM && st->nin > 2 && st->in[2] >= 0 ? T(2)->data : NULL;
    xnn_operator_t op = NULL;
    enum xnn_status x = xnn_create_fully_connected_nc_f32((size_t)K, (size_t)N, (size_t)K, (size_t)N, T(1)->data,
                                                          bias, out_min(st), INFINITY,
                                                          tb ? 0 : XNN_FLAG_TRANSPOSE_WEIGHTS, &op);
    return adopt(s, st, x, op, "fully connected create", prep_fc);
}

/* ---------- layout assignment ---------- */

/* M_NHWC: channels-last in and out; M_NHWC_OUT: an NCHW image in, channels-last out (our own
 * first-layer convolution); M_FOLLOW: layout-agnostic, keeps its input's; M_FLAT: 2-D. */
enum mode { M_REF, M_NHWC, M_NHWC_OUT, M_FOLLOW, M_FLAT };

static int is4(const nn_tensor *t)
{
    return t->shape.ndim == 4 && t->dtype == NN_F32;
}

static int any_nhwc_input(const nn_session *s, const nn_step *st)
{
    for (int k = 0; k < st->nin; k++)
        if (st->in[k] >= 0 && s->t[st->in[k]].layout == NN_NHWC) return 1;
    return 0;
}

static enum mode choose(nn_session *s, nn_step *st)
{
    const nn_tensor *X = st->nin && st->in[0] >= 0 ? T(0) : NULL;
    if (!X) return M_REF;
    switch (st->op) {
    case NN_OP_CONV:
        if (!is4(X) || !T(1)->is_const || (st->nin > 2 && st->in[2] >= 0 && !T(2)->is_const)) return M_REF;
        if (X->layout == NN_NCHW && nn_conv_first_ok(s, st)) return M_NHWC_OUT;
        return M_NHWC;
    case NN_OP_MAXPOOL: case NN_OP_AVGPOOL: {
        if (!is4(X)) return M_REF;
        /* ceil_mode is fine when it does not change the size; average pools only unpadded */
        int64_t H = X->shape.d[2], W = X->shape.d[3];
        int64_t fh = (H + st->aux[6] + st->aux[8] - st->aux[0]) / st->aux[2] + 1;
        int64_t fw = (W + st->aux[7] + st->aux[9] - st->aux[1]) / st->aux[3] + 1;
        if (fh != O(0)->shape.d[2] || fw != O(0)->shape.d[3]) return M_REF;
        if (st->op == NN_OP_AVGPOOL && (st->aux[6] | st->aux[7] | st->aux[8] | st->aux[9])) return M_REF;
        return M_NHWC;
    }
    case NN_OP_GAVGPOOL:
        return is4(X) ? M_NHWC : M_REF;
    case NN_OP_REDUCEMEAN:
        return is4(X) && st->aux[0] == 0xc ? M_NHWC : M_REF;
    case NN_OP_PRELU:
        return is4(X) && T(1)->is_const && nn_shape_count(&T(1)->shape) == X->shape.d[1] &&
                       (T(1)->shape.ndim < 3 || T(1)->shape.d[T(1)->shape.ndim - 3] == X->shape.d[1])
                   ? M_NHWC : M_REF;
    case NN_OP_BATCHNORM:
        return is4(X) && X->layout == NN_NHWC && T(1)->is_const && T(2)->is_const && T(3)->is_const &&
                       T(4)->is_const ? M_NHWC : M_REF;
    case NN_OP_RELU: case NN_OP_SIGMOID: case NN_OP_TANH: case NN_OP_EXP:
        return X->layout == NN_NHWC ? M_FOLLOW : M_REF;
    case NN_OP_ADD: case NN_OP_SUB: case NN_OP_MUL: case NN_OP_DIV: {
        if (!is4(O(0)) || !any_nhwc_input(s, st)) return M_REF;
        for (int k = 0; k < 2; k++)
            if (!T(k)->is_const && !is4(T(k))) return M_REF;
        return M_NHWC;
    }
    case NN_OP_CONCAT: case NN_OP_SPLIT: case NN_OP_CHANNEL_SHUFFLE:
        if (!is4(X) || !any_nhwc_input(s, st)) return M_REF;
        if (st->op != NN_OP_CHANNEL_SHUFFLE && st->aux[0] != 1) return M_REF;
        for (int k = 0; k < st->nin; k++)
            if (T(k)->is_const) return M_REF;
        return M_NHWC;
    case NN_OP_PAD:
        if (!is4(X) || X->layout != NN_NHWC || st->aux[0] || st->aux[1]) return M_REF;
        if (O(0)->shape.d[0] != X->shape.d[0] || O(0)->shape.d[1] != X->shape.d[1]) return M_REF;
        return M_NHWC;
    case NN_OP_TRANSPOSE:
        if (is4(X) && X->layout == NN_NHWC && st->aux[0] == 0 && st->aux[1] == 2 && st->aux[2] == 3 &&
            st->aux[3] == 1)
            return M_FLAT;
        return M_REF;
    case NN_OP_GEMM:
        if (st->aux[3] || st->faux[0] != 1.0f || st->faux[1] != 1.0f || !T(1)->is_const) return M_REF;
        if (st->nin > 2 && st->in[2] >= 0 && (!T(2)->is_const || nn_shape_count(&T(2)->shape) != st->aux[2]))
            return M_REF;
        return M_FLAT;
    case NN_OP_MATMUL:
        return X->shape.ndim == 2 && T(1)->shape.ndim == 2 && T(1)->is_const ? M_FLAT : M_REF;
    default:
        return M_REF;
    }
}

typedef struct conv_cache {
    int *nhwc, *nchw; /* per tensor: its copy in that layout, or -1 */
    int n;
} conv_cache;

/* Returns the index of `v` in the wanted layout, inserting a conversion step at *pos. */
static int convert(nn_session *s, conv_cache *cc, int v, int want, int *pos)
{
    if (s->t[v].is_const || !is4(&s->t[v]) || s->t[v].layout == want) return v;
    int *cache = want == NN_NHWC ? cc->nhwc : cc->nchw;
    if (v < cc->n && cache[v] >= 0) return cache[v];
    nn_shape sh = s->t[v].shape;
    int nv = nn_tensor_add(s, NN_F32, &sh);
    if (nv < 0) return -1;
    s->t[nv].layout = want;
    nn_step *st = nn_step_insert(s, *pos);
    if (!st) return -1;
    st->op = want == NN_NHWC ? NN_OP_TO_NHWC : NN_OP_TO_NCHW;
    st->nin = st->nout = 1;
    st->in[0] = v;
    st->out[0] = nv;
    if (sh.d[1] == 1 || sh.d[2] * sh.d[3] == 1) st->alias_in = 1;
    (*pos)++;
    if (v < cc->n) cache[v] = nv;
    return nv;
}

int nn_xnn_assign(nn_session *s)
{
    conv_cache cc;
    cc.n = s->nt;
    cc.nhwc = facet_malloc(sizeof(int) * ((size_t)cc.n + 1));
    cc.nchw = facet_malloc(sizeof(int) * ((size_t)cc.n + 1));
    int rc = FACET_E_NO_MEMORY;
    if (!cc.nhwc || !cc.nchw) goto done;
    for (int i = 0; i < cc.n; i++) cc.nhwc[i] = cc.nchw[i] = -1;
    for (int i = 0; i < s->nsteps; i++) {
        nn_step *st = &s->steps[i];
        enum mode md = st->alias_in ? M_FOLLOW : choose(s, st);
        int want = md == M_NHWC ? NN_NHWC : NN_NCHW;
        if (md != M_FOLLOW && md != M_FLAT) {
            for (int k = 0; k < st->nin; k++) {
                if (st->in[k] < 0) continue;
                int nv = convert(s, &cc, st->in[k], want, &i);
                if (nv < 0) goto done;
                st = &s->steps[i]; /* the insert may have moved the array */
                st->in[k] = nv;
            }
        }
        int out_layout = md == M_NHWC || md == M_NHWC_OUT || (md == M_FOLLOW && T(0)->layout == NN_NHWC)
                             ? NN_NHWC : NN_NCHW;
        for (int k = 0; k < st->nout; k++) O(k)->layout = is4(O(k)) ? out_layout : NN_NCHW;
        switch (md) {
        case M_REF: case M_FOLLOW:
            if (!st->alias_in) nn_elementwise_make(s, st);
            rc = 0;
            break;
        case M_FLAT:
            if (st->op == NN_OP_TRANSPOSE) {
                st->alias_in = 1;
                O(0)->layout = NN_NCHW;
                rc = 0;
            } else {
                rc = make_fc(s, st);
            }
            break;
        case M_NHWC_OUT: rc = nn_conv_make(s, st, NN_K_FIRST); break;
        case M_NHWC:
            switch (st->op) {
            case NN_OP_CONV:
                rc = nn_conv_dw_ok(s, st)   ? nn_conv_make(s, st, NN_K_DW)
                     : nn_conv_gd_ok(s, st) ? nn_conv_make(s, st, NN_K_GD)
                     : nn_conv_pw_ok(s, st) ? nn_conv_make(s, st, NN_K_PW)
                     : nn_conv_wino_ok(s, st) ? nn_conv_make(s, st, NN_K_WINO)
                     : nn_conv_full_ok(s, st) ? nn_conv_make(s, st, NN_K_CONV)
                                                : make_conv(s, st);
                break;
            case NN_OP_MAXPOOL: case NN_OP_AVGPOOL: rc = make_pool(s, st); break;
            case NN_OP_GAVGPOOL: case NN_OP_REDUCEMEAN:
                rc = make_gap(s, st);
                if (O(0)->shape.ndim != 4) O(0)->layout = NN_NCHW;
                break;
            case NN_OP_PRELU: rc = nn_conv_fuse_prelu(s, st) ? 0 : make_prelu(s, st); break;
            case NN_OP_ADD: case NN_OP_SUB: case NN_OP_MUL: case NN_OP_DIV: rc = make_binary(s, st); break;
            case NN_OP_CHANNEL_SHUFFLE: rc = make_shuffle(s, st); break;
            case NN_OP_PAD: rc = make_pad(s, st); break;
            case NN_OP_CONCAT: st->run = run_concat_nhwc, st->kernel = "nhwc", rc = 0; break;
            case NN_OP_SPLIT: st->run = run_split_nhwc, st->kernel = "nhwc", rc = 0; break;
            case NN_OP_BATCHNORM: {
                int64_t C = T(0)->shape.d[1];
                float *a = nn_own(s, facet_alloc(sizeof(float) * (size_t)C));
                float *b = nn_own(s, facet_alloc(sizeof(float) * (size_t)C));
                if (!a || !b) goto done;
                const float *sc = T(1)->data, *bb = T(2)->data, *mean = T(3)->data, *var = T(4)->data;
                for (int64_t c = 0; c < C; c++) {
                    a[c] = sc[c] / sqrtf(var[c] + st->faux[0]);
                    b[c] = bb[c] - mean[c] * a[c];
                }
                st->w = a;
                st->b = b;
                st->run = run_bn_nhwc;
                st->kernel = "nhwc";
                rc = 0;
                break;
            }
            default: rc = facet_seterr(&s->err, FACET_E_INTERNAL, "xnnpack: unhandled %s", nn_op_name(st->op));
            }
            break;
        }
        if (rc) goto done;
    }
    fuse_cat_shuffle(s);
    fuse_cat_bn(s);
    if ((rc = nn_rows_fuse(s))) goto done;
    /* graph outputs leave in ONNX layout */
    for (int i = 0; i < s->noutputs; i++) {
        int pos = s->nsteps;
        int nv = convert(s, &cc, s->outputs[i], NN_NCHW, &pos);
        if (nv < 0) goto done;
        if (nv != s->outputs[i]) {
            s->t[nv].is_output = 1;
            s->outputs[i] = nv;
        }
    }
    rc = 0;
done:
    if (rc == FACET_E_NO_MEMORY) facet_seterr(&s->err, rc, "out of memory while planning for XNNPACK");
    free(cc.nhwc);
    free(cc.nchw);
    return rc;
}
