/*
 * conv.c - the planner's side of our own kernels (kernels.h): which steps a table's slots
 * take, their packed weights and jobs, fused activations, and running them on the session's
 * thread pool. Nothing here depends on an instruction set: the slots of the session's table
 * (s->kern) do the arithmetic.
 *
 * The steps taken: first layers (1-4 input channels, an image, 16-64 output channels) read in
 * ONNX's NCHW directly, which XNNPACK would run as a GEMM with K = 27 after a transpose;
 * depthwise 3x3 on 16 or more channels; the global depthwise (a kernel as large as the map,
 * MobileFaceNet's GDConv), which XNNPACK ran at under 1 GFLOP/s; and Exp, Tanh and two-class
 * Softmax. Where a table says so, pointwise 1x1 steps on whole maps (pw_maps: AVX2 and
 * AVX-512), full KxK convolutions (conv_row, for as many outputs and columns as the table's
 * conv_min_m and conv_min_ow: narrower ones stay with XNNPACK) and 3x3 stride-1 convolutions as
 * Winograd F(2x2, 3x3) (wino: the transforms of ops/wino.h around 16 GEMMs on pw_pixels);
 * otherwise those stay with XNNPACK, pointwise ones except inside the row-by-row chains of
 * rows.c. A PRelu or Tanh after one of our convolutions goes into its output.
 */
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>

#include "nn/kernels.h"
#include "nn/nn.h"

#define T(i) (&s->t[st->in[i]])
#define O(i) (&s->t[st->out[i]])

const nn_kernels *const *nn_kernels_list(int *n)
{
    static const nn_kernels *const all[] = {
        &nn_kernels_c,
#ifdef NN_HAVE_X86_KERNELS
        &nn_kernels_avx2, &nn_kernels_avx512,
#endif
    };
    *n = (int)(sizeof all / sizeof all[0]);
    return all;
}

int nn_kernels_pick(const nn_kernels **out, facet_err *err)
{
    int n;
    const nn_kernels *const *all = nn_kernels_list(&n);
    const unsigned have = facet_cpu_flags();
    const char *want = getenv("FACET_NN_KERNELS");
    *out = NULL;
    if (want && *want) {
        if (!strcmp(want, "none")) return 0;
        for (int i = 0; i < n; i++) {
            if (strcmp(all[i]->isa, want)) continue;
            if ((all[i]->needs & have) != all[i]->needs)
                return facet_seterr(err, FACET_E_UNSUPPORTED,
                                    "FACET_NN_KERNELS='%s': this CPU (%s) cannot run them", want,
                                    facet_cpu_features());
            *out = all[i];
            return 0;
        }
        return facet_seterr(err, FACET_E_INVALID_ARG, "FACET_NN_KERNELS='%s': use none, c%s", want,
#ifdef NN_HAVE_X86_KERNELS
                            ", avx2, avx512"
#else
                            ""
#endif
        );
    }
    for (int i = n - 1; i > 0; i--) /* widest first; the C table only when named */
        if ((all[i]->needs & have) == all[i]->needs) {
            *out = all[i];
            break;
        }
    return 0;
}

/* One of our convolution steps as planned: its job and the table that runs it; each run copies
 * it with that run's tensors. */
typedef struct conv_step {
    nn_conv j;
    const nn_kernels *k;
} conv_step;

/* Depthwise and full convolutions: one output row from the input rows it reads (NULL: padding). */
static void row_task(void *ctx, size_t oy)
{
    const conv_step *c = ctx;
    const nn_conv *j = &c->j;
    const float *rows[NN_K_MAXK];
    nn_conv_tap_rows(j, j->x, (int)oy, rows);
    float *y = j->y + oy * (size_t)j->OW * j->M;
    if (j->kind == NN_K_DW) c->k->dw_row(j, rows, y);
    else c->k->conv_row(j, rows, y);
}

static void first_task(void *ctx, size_t oy)
{
    const conv_step *c = ctx;
    c->k->first_row(&c->j, (int)oy, c->j.y + oy * (size_t)c->j.OW * c->j.M);
}

/* A whole-map pointwise step in runs of PW_RUN pixels (pw_pixels blocks them for L1 itself). */
#define PW_RUN 192
static void pw_task(void *ctx, size_t i)
{
    const conv_step *c = ctx;
    const nn_conv *j = &c->j;
    const int n = j->OH * j->OW, p0 = (int)i * PW_RUN;
    c->k->pw_pixels(j, j->x + (size_t)p0 * j->C, j->y + (size_t)p0 * j->M, n - p0 < PW_RUN ? n - p0 : PW_RUN);
}

/* Winograd F(2x2, 3x3) (ops/wino.h): the session's threads each take a band of the map's tiles
 * (2x2 output blocks, row by row) and, WINO_NT tiles at a time, transform the input patches,
 * run the 16 GEMMs on pw_pixels and transform the products back, all in their part of the
 * session's scratch (in L2: 16 x WINO_NT x C + 16 x WINO_NT x M floats). */
#define WINO_NT 30
typedef struct wino_ctx {
    const conv_step *c;
    float *scratch;
    size_t band_floats;
    int tiles, nbands; /* tiles of the map (2x2 output blocks, row by row), bands */
} wino_ctx;

static size_t wino_band_floats(const nn_conv *j)
{
    return (size_t)16 * WINO_NT * ((size_t)j->C + (size_t)j->M) + 16;
}

static void wino_task(void *ctx, size_t band)
{
    const wino_ctx *w = ctx;
    const nn_conv *j = &w->c->j;
    const nn_kernels *k = w->c->k;
    const int t0 = (int)((int64_t)w->tiles * (int64_t)band / w->nbands);
    const int t1 = (int)((int64_t)w->tiles * (int64_t)(band + 1) / w->nbands);
    float *V = w->scratch + band * w->band_floats, *Mm = V + (size_t)16 * WINO_NT * j->C;
    nn_conv g = *j; /* the 16 GEMMs: (tiles x C) by U[e] (C x Mp), no bias, no activation */
    g.kind = NN_K_PW;
    g.b = j->zero;
    g.ak = NN_K_ACT_NONE;
    for (int t = t0; t < t1; t += WINO_NT) {
        const int nt = t1 - t < WINO_NT ? t1 - t : WINO_NT;
        k->wino_in(j, t, nt, V, (size_t)WINO_NT * j->C);
        for (int e = 0; e < 16; e++) {
            g.w = j->w + (size_t)e * j->C * j->Mp;
            k->pw_pixels(&g, V + (size_t)e * WINO_NT * j->C, Mm + (size_t)e * WINO_NT * j->M, nt);
        }
        k->wino_out(j, Mm, (size_t)WINO_NT * j->M, t, nt);
    }
}

static int run_conv(nn_session *s, nn_step *st)
{
    conv_step c = *(const conv_step *)st->be;
    c.j.x = T(0)->data;
    c.j.y = O(0)->data;
    if (c.j.kind == NN_K_WINO) {
        /* a band per thread, but no band of fewer than a GEMM tile's 12 tiles: fr_gender's 8x8
         * maps (16 tiles) in two bands of 8 would go to pw_pixels' one-pixel path */
        const int tiles = ((c.j.OH + 1) / 2) * ((c.j.OW + 1) / 2), most = tiles / 12 > 1 ? tiles / 12 : 1;
        const int threads = s->threads > 1 ? s->threads : 1;
        wino_ctx w = {&c, s->wino_scratch, wino_band_floats(&c.j), tiles, threads < most ? threads : most};
        pthreadpool_parallelize_1d(s->pool, wino_task, &w, (size_t)w.nbands, 0);
    } else if (c.j.kind == NN_K_GD) c.k->gd(&c.j);
    else if (c.j.kind == NN_K_PW)
        pthreadpool_parallelize_1d(s->pool, pw_task, &c, (size_t)((c.j.OH * c.j.OW + PW_RUN - 1) / PW_RUN), 0);
    else
        pthreadpool_parallelize_1d(s->pool, c.j.kind == NN_K_FIRST ? first_task : row_task, &c, (size_t)c.j.OH, 0);
    return 0;
}

const nn_conv *nn_conv_of(const nn_step *st)
{
    return st->run == run_conv ? &((const conv_step *)st->be)->j : NULL;
}

int nn_conv_first_ok(const nn_session *s, const nn_step *st)
{
    if (!s->kern || !s->kern->first_row || st->op != NN_OP_CONV) return 0;
    const nn_tensor *X = &s->t[st->in[0]], *W = &s->t[st->in[1]];
    int64_t C = X->shape.d[1], M = W->shape.d[0];
    return X->shape.ndim == 4 && st->aux[10] == 1 && C >= 1 && C <= 4 && M >= 16 && M <= 64 && st->aux[4] == 1 &&
           st->aux[5] == 1 && st->aux[0] <= 7 && st->aux[1] <= 7;
}

int nn_conv_dw_ok(const nn_session *s, const nn_step *st)
{
    if (!s->kern || !s->kern->dw_row || st->op != NN_OP_CONV) return 0;
    const nn_tensor *X = &s->t[st->in[0]], *W = &s->t[st->in[1]];
    int64_t C = X->shape.d[1];
    return X->shape.ndim == 4 && st->aux[10] == C && W->shape.d[0] == C && C >= 16 && st->aux[0] == 3 &&
           st->aux[1] == 3 && st->aux[4] == 1 && st->aux[5] == 1;
}

int nn_conv_gd_ok(const nn_session *s, const nn_step *st)
{
    if (!s->kern || !s->kern->gd || st->op != NN_OP_CONV) return 0;
    const nn_tensor *X = &s->t[st->in[0]], *Y = &s->t[st->out[0]], *W = &s->t[st->in[1]];
    if (X->shape.ndim != 4 || Y->shape.ndim != 4) return 0;
    int64_t C = X->shape.d[1];
    return X->shape.d[0] == 1 && st->aux[10] == C && W->shape.d[0] == C && st->aux[0] == X->shape.d[2] &&
           st->aux[1] == X->shape.d[3] && !(st->aux[6] | st->aux[7] | st->aux[8] | st->aux[9]) &&
           st->aux[4] == 1 && st->aux[5] == 1 && Y->shape.d[2] == 1 && Y->shape.d[3] == 1;
}

/* A pointwise 1x1 step on a whole NHWC map, for tables whose pw_pixels beats XNNPACK's GEMM. */
int nn_conv_pw_ok(const nn_session *s, const nn_step *st)
{
    /* FACET_NN_PW_MAPS=0/1 overrides the table's choice, for A/B measurements */
    const long force = facet_env_long("FACET_NN_PW_MAPS", -1);
    if (!s->kern || !s->kern->pw_pixels || !(force >= 0 ? force : s->kern->pw_maps) || st->op != NN_OP_CONV) return 0;
    const nn_tensor *X = &s->t[st->in[0]], *W = &s->t[st->in[1]];
    return X->shape.ndim == 4 && X->shape.d[0] == 1 && W->shape.ndim == 4 && st->aux[0] == 1 && st->aux[1] == 1 &&
           st->aux[2] == 1 && st->aux[3] == 1 && !(st->aux[6] | st->aux[7] | st->aux[8] | st->aux[9]) &&
           st->aux[10] == 1 && W->shape.d[0] >= 4;
}

/* A full (group 1) convolution on an NHWC map, kernels up to NN_K_MAXK, strides 1-2, any
 * dilation (fr_detect's RFB branches); image-like inputs (1-4 channels, NCHW) are first
 * layers instead. */
int nn_conv_full_ok(const nn_session *s, const nn_step *st)
{
    if (!s->kern || !s->kern->conv_row || st->op != NN_OP_CONV) return 0;
    const nn_tensor *X = &s->t[st->in[0]], *W = &s->t[st->in[1]], *Y = &s->t[st->out[0]];
    return X->shape.ndim == 4 && X->shape.d[0] == 1 && W->shape.ndim == 4 && Y->shape.ndim == 4 && st->aux[10] == 1 &&
           X->shape.d[1] >= 8 && W->shape.d[0] >= 4 && W->shape.d[0] >= s->kern->conv_min_m &&
           Y->shape.d[3] >= s->kern->conv_min_ow && st->aux[0] > 1 && st->aux[0] <= NN_K_MAXK &&
           st->aux[1] > 1 && st->aux[1] <= NN_K_MAXK && st->aux[2] <= 2 && st->aux[3] <= 2;
}

/* A 3x3 convolution with stride 1, no dilation and 16 or more input and output channels on an
 * NHWC map, as Winograd F(2x2, 3x3) (ops/wino.h): 2.25 times fewer multiplications, at the
 * price of two transforms and (F(2x2) being the mildest of the family) a rounding error of the
 * order of the direct sum's. Tables whose slots run it; FACET_NN_WINO=0/1 overrides, for A/B
 * measurements. */
int nn_conv_wino_ok(const nn_session *s, const nn_step *st)
{
    const long force = facet_env_long("FACET_NN_WINO", -1);
    if (!s->kern || !s->kern->wino_in || !s->kern->wino_out || !s->kern->pw_pixels || st->op != NN_OP_CONV) return 0;
    if (!(force >= 0 ? force : s->kern->wino)) return 0;
    const nn_tensor *X = &s->t[st->in[0]], *W = &s->t[st->in[1]], *Y = &s->t[st->out[0]];
    return X->shape.ndim == 4 && X->shape.d[0] == 1 && W->shape.ndim == 4 && Y->shape.ndim == 4 && st->aux[10] == 1 &&
           X->shape.d[1] >= 16 && W->shape.d[0] >= 16 && st->aux[0] == 3 && st->aux[1] == 3 && st->aux[2] == 1 &&
           st->aux[3] == 1 && st->aux[4] == 1 && st->aux[5] == 1 && Y->shape.d[2] >= 2 && Y->shape.d[3] >= 2;
}

/* Packs a convolution's weights as [Cg][kh][kw][Mp], or [kh][kw][Cg][Mp] with taps_outer (a full
 * convolution's kernel walks the input channels of one tap innermost); output channels are
 * innermost, which is what every kernel here reads ([kh][kw][Cp] for depthwise, [C][M] for
 * pointwise), Mp = M rounded up to 16 with zeros. The bias is zeros when there is none, and
 * beyond M. Both belong to the session. */
static int pack_conv(nn_session *s, const nn_step *st, int Mp, int taps_outer, int temp, float **w, float **b)
{
    const nn_tensor *W = T(1);
    int64_t M = W->shape.d[0], Cg = W->shape.d[1], kh = W->shape.d[2], kw = W->shape.d[3];
    const float *w0 = st->w ? st->w : W->data;
    const float *b0 = st->b ? st->b : (st->nin > 2 && st->in[2] >= 0 ? T(2)->data : NULL);
    /* temp: the caller transforms the weights and frees these (Winograd) */
    float *packed = facet_alloc(sizeof(float) * (size_t)(Mp * Cg * kh * kw));
    if (packed && !temp) packed = nn_own(s, packed);
    float *bias = nn_own(s, facet_alloc(sizeof(float) * (size_t)Mp));
    if (!packed || !bias) {
        if (temp) facet_free_aligned(packed);
        return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for packed weights");
    }
    memset(packed, 0, sizeof(float) * (size_t)(Mp * Cg * kh * kw));
    for (int64_t m = 0; m < Mp; m++) bias[m] = b0 && m < M ? b0[m] : 0.0f;
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t k = 0; k < kh * kw; k++) {
                const int64_t at = taps_outer ? k * Cg + c : c * kh * kw + k;
                packed[at * Mp + m] = w0[(m * Cg + c) * kh * kw + k];
            }
    *w = packed;
    *b = bias;
    return 0;
}

int nn_conv_job(nn_session *s, const nn_step *st, int kind, nn_conv *j)
{
    const nn_tensor *X = T(0), *Y = O(0);
    memset(j, 0, sizeof(*j));
    j->C = (int)X->shape.d[1];
    j->H = (int)X->shape.d[2];
    j->W = (int)X->shape.d[3];
    j->M = (int)Y->shape.d[1];
    j->OH = (int)Y->shape.d[2];
    j->OW = (int)Y->shape.d[3];
    j->kh = (int)st->aux[0];
    j->kw = (int)st->aux[1];
    j->sh = (int)st->aux[2];
    j->sw = (int)st->aux[3];
    j->pt = (int)st->aux[6];
    j->pl = (int)st->aux[7];
    j->dil_h = (int)st->aux[4];
    j->dil_w = (int)st->aux[5];
    j->Mp = (j->M + 15) & ~15;
    j->kind = kind;
    j->ymm_tail = nn_conv_ymm_tail(kind, j->M);
    float *w = NULL, *b = NULL;
    int rc = pack_conv(s, st, j->Mp, kind == NN_K_CONV || kind == NN_K_WINO, kind == NN_K_WINO, &w, &b);
    if (rc) return rc;
    if (kind == NN_K_WINO) { /* U = G g G^T per input and output channel: [16][C][Mp] */
        const size_t cm = (size_t)j->C * (size_t)j->Mp;
        float *u = nn_own(s, facet_alloc(sizeof(float) * 16 * cm));
        if (!u) {
            facet_free_aligned(w);
            return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for Winograd weights");
        }
        for (size_t at = 0; at < cm; at++) {
            float g[3][3], t[4][3];
            for (int k = 0; k < 9; k++) g[k / 3][k % 3] = w[(size_t)k * cm + at];
            for (int c = 0; c < 3; c++) { /* G g */
                t[0][c] = g[0][c];
                t[1][c] = 0.5f * (g[0][c] + g[1][c] + g[2][c]);
                t[2][c] = 0.5f * (g[0][c] - g[1][c] + g[2][c]);
                t[3][c] = g[2][c];
            }
            for (int r = 0; r < 4; r++) { /* (G g) G^T */
                u[(size_t)(4 * r + 0) * cm + at] = t[r][0];
                u[(size_t)(4 * r + 1) * cm + at] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
                u[(size_t)(4 * r + 2) * cm + at] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
                u[(size_t)(4 * r + 3) * cm + at] = t[r][2];
            }
        }
        facet_free_aligned(w);
        w = u;
        /* the session's scratch: a band per thread (conv.c wino_task) */
        const size_t need = wino_band_floats(j) * (size_t)(s->threads > 1 ? s->threads : 1);
        if (need > s->wino_floats) {
            float *scr = nn_own(s, facet_alloc(sizeof(float) * need));
            if (!scr) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for Winograd scratch");
            s->wino_scratch = scr;
            s->wino_floats = need;
        }
    }
    j->w = w;
    j->b = b;
    float *slope = nn_own(s, facet_alloc(sizeof(float) * (size_t)j->Mp));
    if (!slope) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for a convolution");
    for (int m = 0; m < j->Mp; m++) slope[m] = st->act == NN_ACT_RELU ? 0.0f : 1.0f;
    j->slope = slope;
    j->ak = st->act == NN_ACT_RELU ? NN_K_ACT_RELU : NN_K_ACT_NONE;
    if (kind == NN_K_DW || kind == NN_K_CONV || kind == NN_K_WINO) {
        /* padding rows / columns read zeros; Winograd's GEMMs read it as their bias too */
        const size_t nz = ((size_t)j->W * (size_t)j->C > (size_t)j->Mp ? (size_t)j->W * (size_t)j->C : (size_t)j->Mp) + 16;
        float *zero = nn_own(s, facet_alloc(sizeof(float) * nz));
        if (!zero) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for a zero row");
        memset(zero, 0, sizeof(float) * nz);
        j->zero = zero;
    }
    return 0;
}

/* Our convolution that produces the input of `st` when the activation `st` computes can go
 * into its output: the convolution has none of its own, and `st` is its output's only reader. */
static nn_conv *fusable_producer(nn_session *s, const nn_step *st)
{
    nn_step *p = NULL;
    for (nn_step *q = s->steps; q < st; q++)
        if (q->nout >= 1 && q->out[0] == st->in[0]) p = q;
    if (!p || p->run != run_conv || p->act != NN_ACT_NONE || T(0)->is_output || nn_readers(s, st->in[0]) != 1)
        return NULL;
    nn_conv *j = &((conv_step *)p->be)->j;
    return j->ak == NN_K_ACT_NONE ? j : NULL;
}

/* Takes a PRelu into the convolution before it when that is one of ours (see above) and the
 * slopes are per channel: the PRelu step then aliases its input. */
int nn_conv_fuse_prelu(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0), *A = T(1);
    int64_t C = X->shape.ndim == 4 ? X->shape.d[1] : 0;
    if (!A->is_const || nn_shape_count(&A->shape) != C || X->layout != NN_NHWC) return 0;
    nn_conv *j = fusable_producer(s, st);
    if (!j) return 0;
    float *slope = (float *)j->slope; /* owned by the session, made for this step */
    for (int64_t c = 0; c < C; c++) slope[c] = ((const float *)A->data)[c];
    j->ak = NN_K_ACT_SLOPE;
    st->alias_in = 1;
    st->kernel = "fused";
    return 1;
}

static int run_lanes(nn_session *s, nn_step *st)
{
    s->kern->lanes(st->op, T(0)->data, O(0)->data, nn_shape_count(&T(0)->shape));
    return 0;
}

/* Exp, Tanh and two-class Softmax (fr_detect's box-decoding tail) on the table's vector kernel.
 * A Tanh goes into the first-layer or depthwise convolution before it when it can (SSR-Net's
 * fr_age and fr_gender: conv, BatchNormalization, Tanh; libm's tanhf, then a rational function
 * in portable C, had made it a fifth of their time). */
int nn_elementwise_make(nn_session *s, nn_step *st)
{
    if (!s->kern || T(0)->dtype != NN_F32) return 0;
    if (st->op == NN_OP_TANH) {
        nn_conv *j = fusable_producer(s, st);
        if (j && (j->kind == NN_K_FIRST || j->kind == NN_K_DW)) {
            j->ak = NN_K_ACT_TANH;
            st->alias_in = 1;
            st->kernel = "fused";
            return 1;
        }
    } else if (st->op != NN_OP_EXP && (st->op != NN_OP_SOFTMAX || st->aux[0] != 2 ||
                                       nn_shape_count(&T(0)->shape) % 2 || T(0)->layout != NN_NCHW)) {
        return 0;
    }
    if (!s->kern->lanes) return 0;
    st->run = run_lanes;
    st->kernel = s->kern->isa;
    return 1;
}

int nn_conv_make(nn_session *s, nn_step *st, int kind)
{
    conv_step *c = nn_own(s, facet_alloc(sizeof(conv_step)));
    if (!c) return facet_seterr(&s->err, FACET_E_NO_MEMORY, "no memory for a convolution");
    int rc = nn_conv_job(s, st, kind, &c->j);
    if (rc) return rc;
    c->k = s->kern;
    st->be = c;
    st->be_free = NULL; /* the session owns the job and its packed weights */
    st->run = run_conv;
    st->kernel = s->kern->isa;
    return 0;
}
