/*
 * ref.c - the reference backend: for every operator, shape inference (checking the inputs the
 * model gives it) and a plain C kernel in ONNX's NCHW layout.
 *
 * These kernels are the definition of right: they are written to be read, with the loops in the
 * order of the operator's formula, and every fast path elsewhere is tested against them. They
 * also evaluate constant sub-graphs at plan time. A kernel reads its parameters from the step
 * (resolved once by nn_ref_infer) and its tensors from the session; it never allocates.
 */
#include <math.h>
#include <string.h>

#include "nn/nn.h"
#include "nn/ops/fastmath.h"

#define T(i) (&s->t[st->in[i]])
#define O(i) (&s->t[st->out[i]])
#define F(tp) ((float *)(tp)->data)
#define I64(tp) ((int64_t *)(tp)->data)

static int fail(nn_session *s, const nn_step *st, int status, const char *fmt, const char *detail)
{
    const char *name = st->node ? st->node->name : "(planner)";
    char msg[256];
    snprintf(msg, sizeof msg, fmt, detail);
    return facet_seterr(&s->err, status, "node '%s' (%s): %s", name, nn_op_name(st->op), msg);
}

static int shape_str(const nn_shape *sh, char *buf, size_t n)
{
    int k = snprintf(buf, n, "[");
    for (int i = 0; i < sh->ndim && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, i ? ",%lld" : "%lld", (long long)sh->d[i]);
    if ((size_t)k < n) snprintf(buf + k, n - (size_t)k, "]");
    return 0;
}

static int bad_shape(nn_session *s, const nn_step *st, const char *what, const nn_shape *sh)
{
    char b[160], m[200];
    shape_str(sh, b, sizeof b);
    snprintf(m, sizeof m, "%s %s", what, b);
    return fail(s, st, FACET_E_FORMAT, "unexpected shape: %s", m);
}

static int64_t count_of(const nn_tensor *t)
{
    return nn_shape_count(&t->shape);
}

/* ---------- elementwise ---------- */

static int run_relu(nn_session *s, nn_step *st)
{
    const float *x = F(T(0));
    float *y = F(O(0));
    int64_t n = count_of(O(0));
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
    return 0;
}

VECTORISABLE_SELECTS static int run_tanh(nn_session *s, nn_step *st)
{
    const float *x = F(T(0));
    float *y = F(O(0));
    int64_t n = count_of(O(0));
    for (int64_t i = 0; i < n; i++) y[i] = fast_tanh(x[i]);
    return 0;
}

VECTORISABLE_SELECTS static int run_exp(nn_session *s, nn_step *st)
{
    const float *x = F(T(0));
    float *y = F(O(0));
    int64_t n = count_of(O(0));
    for (int64_t i = 0; i < n; i++) y[i] = fast_exp(x[i]);
    return 0;
}

VECTORISABLE_SELECTS static int run_sigmoid(nn_session *s, nn_step *st)
{
    const float *x = F(T(0));
    float *y = F(O(0));
    int64_t n = count_of(O(0));
    for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + fast_exp(-x[i]));
    return 0;
}

/* Broadcast iteration: strides of each operand over the output's dims (0 where broadcast). */
static void bcast_strides(const nn_shape *in, const nn_shape *out, int64_t *stride)
{
    int off = out->ndim - in->ndim;
    int64_t st = 1;
    for (int i = out->ndim - 1; i >= 0; i--) {
        int k = i - off;
        if (k < 0 || in->d[k] == 1) {
            stride[i] = 0;
        } else {
            stride[i] = st;
        }
        if (k >= 0) st *= in->d[k];
    }
}

static inline int64_t binop_i64(nn_op op, int64_t a, int64_t b)
{
    switch (op) {
    case NN_OP_ADD: return a + b;
    case NN_OP_SUB: return a - b;
    case NN_OP_MUL: return a * b;
    case NN_OP_DIV: return b ? a / b : 0;
    default: return 0;
    }
}

/* Merges adjacent output dims over which both operands are laid out the same way, so that
 * the inner loop runs over as many elements as possible (e.g. [1,4420,2] * [1,1,2] becomes
 * 4420 rows of 2, and equal shapes become one flat loop). Returns the collapsed rank. */
static int collapse(const nn_shape *y, int64_t *sa, int64_t *sb, int64_t *dims)
{
    int nd = 0;
    for (int i = 0; i < y->ndim; i++) {
        if (y->d[i] == 1) continue;
        if (nd && sa[nd - 1] == sa[i] * y->d[i] && sb[nd - 1] == sb[i] * y->d[i]) {
            dims[nd - 1] *= y->d[i];
            sa[nd - 1] = sa[i];
            sb[nd - 1] = sb[i];
            continue;
        }
        dims[nd] = y->d[i];
        sa[nd] = sa[i];
        sb[nd] = sb[i];
        nd++;
    }
    return nd;
}

#define BIN_LOOP(EXPR)                                                                       \
    do {                                                                                     \
        if (ia == 1 && ib == 1)                                                              \
            for (int64_t i = 0; i < inner; i++) { float a = pa[i], b = pb[i]; y[i] = (EXPR); } \
        else if (ia == 1)                                                                    \
            for (int64_t i = 0; i < inner; i++) { float a = pa[i], b = pb[0]; y[i] = (EXPR); } \
        else if (ib == 1)                                                                    \
            for (int64_t i = 0; i < inner; i++) { float a = pa[0], b = pb[i]; y[i] = (EXPR); } \
        else                                                                                 \
            for (int64_t i = 0; i < inner; i++) { float a = pa[0], b = pb[0]; y[i] = (EXPR); } \
    } while (0)

static int run_binary(nn_session *s, nn_step *st)
{
    const nn_tensor *A = T(0), *B = T(1), *Y = O(0);
    int64_t sa[NN_MAXDIM], sb[NN_MAXDIM], dims[NN_MAXDIM], idx[NN_MAXDIM] = {0};
    bcast_strides(&A->shape, &Y->shape, sa);
    bcast_strides(&B->shape, &Y->shape, sb);
    int nd = collapse(&Y->shape, sa, sb, dims);
    int64_t n = count_of(Y);
    int64_t inner = nd ? dims[nd - 1] : 1;
    int64_t ia = nd ? sa[nd - 1] : 0, ib = nd ? sb[nd - 1] : 0;
    int relu = st->act == NN_ACT_RELU;
    for (int64_t base = 0; base < n; base += inner) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < nd - 1; d++) {
            oa += idx[d] * sa[d];
            ob += idx[d] * sb[d];
        }
        if (Y->dtype == NN_I64) {
            for (int64_t i = 0; i < inner; i++)
                I64(Y)[base + i] = binop_i64(st->op, I64(A)[oa + i * ia], I64(B)[ob + i * ib]);
        } else {
            const float *pa = F(A) + oa, *pb = F(B) + ob;
            float *y = F(Y) + base;
            switch (st->op) {
            case NN_OP_ADD: BIN_LOOP(a + b); break;
            case NN_OP_SUB: BIN_LOOP(a - b); break;
            case NN_OP_MUL: BIN_LOOP(a * b); break;
            case NN_OP_DIV: BIN_LOOP(a / b); break;
            default: BIN_LOOP(a < 0 ? a * b : a); break;
            }
            if (relu)
                for (int64_t i = 0; i < inner; i++) y[i] = y[i] < 0 ? 0 : y[i];
        }
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < dims[d]) break;
            idx[d] = 0;
        }
    }
    return 0;
}

static int broadcast_shape(const nn_shape *a, const nn_shape *b, nn_shape *out)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    out->ndim = nd;
    for (int i = 0; i < nd; i++) {
        int ka = i - (nd - a->ndim), kb = i - (nd - b->ndim);
        int64_t da = ka >= 0 ? a->d[ka] : 1, db = kb >= 0 ? b->d[kb] : 1;
        if (da != db && da != 1 && db != 1) return -1;
        out->d[i] = da == 1 ? db : da;
    }
    return 0;
}

/* ---------- softmax, batchnorm, reductions ---------- */

VECTORISABLE_SELECTS static int run_softmax(nn_session *s, nn_step *st)
{
    const float *x = F(T(0));
    float *y = F(O(0));
    int64_t inner = st->aux[0], outer = count_of(O(0)) / (inner ? inner : 1);
    if (inner == 2) { /* two classes (detector scores): one exponential per row */
        for (int64_t o = 0; o < outer; o++) {
            float d = x[2 * o + 1] - x[2 * o];
            float e = fast_exp(d > 80.0f ? 80.0f : d), inv = 1.0f / (1.0f + e);
            y[2 * o] = inv;
            y[2 * o + 1] = e * inv;
        }
        return 0;
    }
    for (int64_t o = 0; o < outer; o++) {
        const float *xr = x + o * inner;
        float *yr = y + o * inner;
        float mx = -INFINITY;
        for (int64_t i = 0; i < inner; i++) mx = xr[i] > mx ? xr[i] : mx;
        double sum = 0;
        for (int64_t i = 0; i < inner; i++) {
            yr[i] = fast_exp(xr[i] - mx);
            sum += yr[i];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t i = 0; i < inner; i++) yr[i] *= inv;
    }
    return 0;
}

static int run_batchnorm(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    const float *x = F(X), *sc = F(T(1)), *bi = F(T(2)), *mean = F(T(3)), *var = F(T(4));
    float *y = F(O(0));
    int64_t N = X->shape.d[0], C = X->shape.d[1], HW = count_of(X) / (N * C);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            float a = sc[c] / sqrtf(var[c] + st->faux[0]), b = bi[c] - mean[c] * a;
            const float *xp = x + (n * C + c) * HW;
            float *yp = y + (n * C + c) * HW;
            for (int64_t i = 0; i < HW; i++) {
                float v = xp[i] * a + b;
                yp[i] = st->act == NN_ACT_RELU && v < 0 ? 0 : v;
            }
        }
    return 0;
}

static int run_gavgpool(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    int64_t NC = X->shape.d[0] * X->shape.d[1], HW = count_of(X) / NC;
    for (int64_t i = 0; i < NC; i++) {
        const float *xp = F(X) + i * HW;
        double sum = 0;
        for (int64_t k = 0; k < HW; k++) sum += xp[k];
        F(O(0))[i] = (float)(sum / (double)HW);
    }
    return 0;
}

/* ReduceMean: aux[0] is a bitmask of reduced axes of the input. */
static int run_reducemean(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    int nd = X->shape.ndim;
    int64_t ostride[NN_MAXDIM], idx[NN_MAXDIM] = {0}, st_ = 1;
    for (int d = nd - 1; d >= 0; d--) {
        if (st->aux[0] & (1 << d)) {
            ostride[d] = 0;
        } else {
            ostride[d] = st_;
            st_ *= X->shape.d[d];
        }
    }
    float *y = F(O(0));
    int64_t on = count_of(O(0)), n = count_of(X);
    for (int64_t i = 0; i < on; i++) y[i] = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t o = 0;
        for (int d = 0; d < nd; d++) o += idx[d] * ostride[d];
        y[o] += F(X)[i];
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < X->shape.d[d]) break;
            idx[d] = 0;
        }
    }
    float inv = (float)on / (float)n;
    for (int64_t i = 0; i < on; i++) y[i] *= inv;
    return 0;
}

/* ---------- convolution and pooling (NCHW) ---------- */
/* aux: 0 kh 1 kw 2 sh 3 sw 4 dh 5 dw 6 pt 7 pl 8 pb 9 pr 10 group 11 ceil 12 count_include_pad */

static int run_conv(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0), *Y = O(0);
    const float *w = st->w ? st->w : F(T(1));
    const float *bias = st->b ? st->b : (st->nin > 2 && st->in[2] >= 0 ? F(T(2)) : NULL);
    int64_t N = X->shape.d[0], C = X->shape.d[1], H = X->shape.d[2], W = X->shape.d[3];
    int64_t M = Y->shape.d[1], OH = Y->shape.d[2], OW = Y->shape.d[3];
    int64_t kh = st->aux[0], kw = st->aux[1], sh = st->aux[2], sw = st->aux[3];
    int64_t dh = st->aux[4], dw = st->aux[5], pt = st->aux[6], pl = st->aux[7], G = st->aux[10];
    int64_t Cg = C / G, Mg = M / G;
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            int64_t g = m / Mg;
            float *yp = F(Y) + ((n * M + m) * OH) * OW;
            float b = bias ? bias[m] : 0.0f;
            for (int64_t i = 0; i < OH * OW; i++) yp[i] = b;
            for (int64_t c = 0; c < Cg; c++) {
                const float *xp = F(X) + ((n * C + g * Cg + c) * H) * W;
                const float *wp = w + ((m * Cg + c) * kh) * kw;
                for (int64_t ky = 0; ky < kh; ky++)
                    for (int64_t kx = 0; kx < kw; kx++) {
                        float wv = wp[ky * kw + kx];
                        for (int64_t oy = 0; oy < OH; oy++) {
                            int64_t iy = oy * sh - pt + ky * dh;
                            if (iy < 0 || iy >= H) continue;
                            const float *xr = xp + iy * W;
                            float *yr = yp + oy * OW;
                            /* the range of ox whose input column is inside the image */
                            int64_t off = kx * dw - pl;
                            int64_t ox0 = off < 0 ? (-off + sw - 1) / sw : 0;
                            int64_t ox1 = (W - 1 - off) < 0 ? 0 : (W - 1 - off) / sw + 1;
                            if (ox1 > OW) ox1 = OW;
                            for (int64_t ox = ox0; ox < ox1; ox++) yr[ox] += wv * xr[ox * sw + off];
                        }
                    }
            }
            if (st->act == NN_ACT_RELU)
                for (int64_t i = 0; i < OH * OW; i++) yp[i] = yp[i] > 0 ? yp[i] : 0;
        }
    return 0;
}

static int run_pool(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0), *Y = O(0);
    int64_t NC = X->shape.d[0] * X->shape.d[1], H = X->shape.d[2], W = X->shape.d[3];
    int64_t OH = Y->shape.d[2], OW = Y->shape.d[3];
    int64_t kh = st->aux[0], kw = st->aux[1], sh = st->aux[2], sw = st->aux[3];
    int64_t pt = st->aux[6], pl = st->aux[7], cip = st->aux[12];
    int is_max = st->op == NN_OP_MAXPOOL;
    for (int64_t nc = 0; nc < NC; nc++) {
        const float *xp = F(X) + nc * H * W;
        float *yp = F(Y) + nc * OH * OW;
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t y0 = oy * sh - pt, x0 = ox * sw - pl;
                float acc = is_max ? -INFINITY : 0.0f;
                int64_t cnt = 0;
                for (int64_t ky = 0; ky < kh; ky++)
                    for (int64_t kx = 0; kx < kw; kx++) {
                        int64_t iy = y0 + ky, ix = x0 + kx;
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                        float v = xp[iy * W + ix];
                        if (is_max) acc = v > acc ? v : acc;
                        else acc += v;
                        cnt++;
                    }
                if (!is_max) {
                    /* count_include_pad counts the padded window, clipped at the far edge */
                    if (cip) {
                        int64_t ye = y0 + kh, xe = x0 + kw;
                        int64_t hmax = H + st->aux[8], wmax = W + st->aux[9];
                        ye = ye < hmax ? ye : hmax;
                        xe = xe < wmax ? xe : wmax;
                        cnt = (ye - y0) * (xe - x0);
                    }
                    acc = cnt ? acc / (float)cnt : 0.0f;
                }
                yp[oy * OW + ox] = acc;
            }
    }
    return 0;
}

/* ---------- matrix products ---------- */
/* Gemm aux: 0 M 1 K 2 N 3 transA 4 transB; faux: 0 alpha 1 beta */

static int run_gemm(nn_session *s, nn_step *st)
{
    const float *A = F(T(0)), *B = F(T(1));
    const nn_tensor *Ct = st->nin > 2 && st->in[2] >= 0 ? T(2) : NULL;
    float *Y = F(O(0));
    int64_t M = st->aux[0], K = st->aux[1], N = st->aux[2];
    int ta = (int)st->aux[3], tb = (int)st->aux[4];
    float alpha = st->faux[0], beta = st->faux[1];
    int64_t cs[2] = {0, 0};
    if (Ct) {
        nn_shape ys = {2, {M, N}};
        bcast_strides(&Ct->shape, &ys, cs);
    }
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++) {
                float a = ta ? A[k * M + i] : A[i * K + k];
                float b = tb ? B[j * K + k] : B[k * N + j];
                acc += (double)a * b;
            }
            float v = alpha * (float)acc;
            if (Ct) v += beta * F(Ct)[i * cs[0] + j * cs[1]];
            Y[i * N + j] = st->act == NN_ACT_RELU && v < 0 ? 0 : v;
        }
    return 0;
}

/* MatMul aux: 0 M 1 K 2 N; batch broadcast through the leading dims of the output. */
static int run_matmul(nn_session *s, nn_step *st)
{
    const nn_tensor *A = T(0), *B = T(1), *Y = O(0);
    int64_t M = st->aux[0], K = st->aux[1], N = st->aux[2];
    int nd = Y->shape.ndim;
    nn_shape ybatch = {nd - 2, {0}}, abatch = {0, {0}}, bbatch = {0, {0}};
    for (int i = 0; i < nd - 2; i++) ybatch.d[i] = Y->shape.d[i];
    if (A->shape.ndim > 2) {
        abatch.ndim = A->shape.ndim - 2;
        memcpy(abatch.d, A->shape.d, sizeof(int64_t) * (size_t)abatch.ndim);
    }
    if (B->shape.ndim > 2) {
        bbatch.ndim = B->shape.ndim - 2;
        memcpy(bbatch.d, B->shape.d, sizeof(int64_t) * (size_t)bbatch.ndim);
    }
    int64_t sa[NN_MAXDIM] = {0}, sb[NN_MAXDIM] = {0}, idx[NN_MAXDIM] = {0};
    bcast_strides(&abatch, &ybatch, sa);
    bcast_strides(&bbatch, &ybatch, sb);
    int64_t nb = nn_shape_count(&ybatch);
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < ybatch.ndim; d++) {
            oa += idx[d] * sa[d];
            ob += idx[d] * sb[d];
        }
        const float *a = F(A) + oa * M * K, *b = F(B) + ob * K * N;
        float *y = F(Y) + bi * M * N;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) acc += (double)a[i * K + k] * b[k * N + j];
                y[i * N + j] = (float)acc;
            }
        for (int d = ybatch.ndim - 1; d >= 0; d--) {
            if (++idx[d] < ybatch.d[d]) break;
            idx[d] = 0;
        }
    }
    return 0;
}

/* ---------- data movement ---------- */

/* memcpy for runs that may be a few bytes long (Slice and Concat on narrow last axes copy
 * thousands of 8-byte runs): short runs are copied inline rather than by a library call. */
static inline void copy_run(void *dst, const void *src, size_t bytes)
{
    /* detection heads slice and concatenate pairs and quads of floats, thousands of times per
     * step: fixed-size copies compile to one move */
    if (bytes == 8) {
        memcpy(dst, src, 8);
    } else if (bytes == 16) {
        memcpy(dst, src, 16);
    } else if (bytes == 4) {
        memcpy(dst, src, 4);
    } else if (bytes <= 32) {
        uint8_t *d = dst;
        const uint8_t *s = src;
        for (size_t i = 0; i < bytes; i++) d[i] = s[i];
    } else {
        memcpy(dst, src, bytes);
    }
}

static int run_copy(nn_session *s, nn_step *st)
{
    if (T(0)->data != O(0)->data)
        memmove(O(0)->data, T(0)->data, (size_t)count_of(O(0)) * nn_dtype_size(O(0)->dtype));
    return 0;
}

/* Concat/Split along aux[0]: outer = prod(dims before axis), chunk = dims from axis on. */
static int run_concat(nn_session *s, nn_step *st)
{
    const nn_tensor *Y = O(0);
    int axis = (int)st->aux[0];
    size_t es = nn_dtype_size(Y->dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= Y->shape.d[d];
    for (int d = axis + 1; d < Y->shape.ndim; d++) inner *= Y->shape.d[d];
    int64_t ychunk = Y->shape.d[axis] * inner;
    int64_t pos = 0;
    for (int i = 0; i < st->nin; i++) {
        const nn_tensor *X = T(i);
        int64_t xchunk = X->shape.d[axis] * inner;
        for (int64_t o = 0; o < outer; o++)
            copy_run((uint8_t *)Y->data + (size_t)(o * ychunk + pos) * es,
                     (const uint8_t *)X->data + (size_t)(o * xchunk) * es, (size_t)xchunk * es);
        pos += xchunk;
    }
    return 0;
}

static int run_split(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    int axis = (int)st->aux[0];
    size_t es = nn_dtype_size(X->dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= X->shape.d[d];
    for (int d = axis + 1; d < X->shape.ndim; d++) inner *= X->shape.d[d];
    int64_t xchunk = X->shape.d[axis] * inner, pos = 0;
    for (int i = 0; i < st->nout; i++) {
        const nn_tensor *Y = O(i);
        int64_t ychunk = Y->shape.d[axis] * inner;
        for (int64_t o = 0; o < outer; o++)
            copy_run((uint8_t *)Y->data + (size_t)(o * ychunk) * es,
                     (const uint8_t *)X->data + (size_t)(o * xchunk + pos) * es, (size_t)ychunk * es);
        pos += ychunk;
    }
    return 0;
}

/* Copies the box starting at start[] of X with Y's shape (used by Slice; Pad does the reverse
 * with `into` set: writes X into Y at offset start[]). */
static void copy_box(const nn_tensor *X, const nn_tensor *Y, const int64_t *start, int into)
{
    const nn_tensor *box = into ? X : Y; /* the smaller tensor: the region's shape */
    const nn_tensor *big = into ? Y : X;
    int nd = box->shape.ndim;
    size_t es = nn_dtype_size(X->dtype);
    int64_t n = nn_shape_count(&box->shape);
    if (n == 0) return;
    if (nd == 0) {
        memcpy(big->data, box->data, es);
        return;
    }
    int64_t bstride[NN_MAXDIM], st_ = 1;
    for (int d = nd - 1; d >= 0; d--) {
        bstride[d] = st_;
        st_ *= big->shape.d[d];
    }
    /* the two innermost dims are walked in a tight loop, the rest by an odometer */
    int64_t inner = box->shape.d[nd - 1], rows = nd > 1 ? box->shape.d[nd - 2] : 1;
    int64_t rstride = nd > 1 ? bstride[nd - 2] : 0;
    int64_t idx[NN_MAXDIM] = {0};
    size_t row_bytes = (size_t)inner * es;
    for (int64_t base = 0; base < n; base += inner * rows) {
        int64_t off = 0;
        for (int d = 0; d < nd; d++) off += (idx[d] + start[d]) * bstride[d];
        uint8_t *bigp = (uint8_t *)big->data + (size_t)off * es;
        uint8_t *boxp = (uint8_t *)box->data + (size_t)base * es;
        for (int64_t r = 0; r < rows; r++) {
            uint8_t *bp = bigp + (size_t)(r * rstride) * es, *xp = boxp + (size_t)r * row_bytes;
            if (into) copy_run(bp, xp, row_bytes);
            else copy_run(xp, bp, row_bytes);
        }
        for (int d = nd - 3; d >= 0; d--) {
            if (++idx[d] < box->shape.d[d]) break;
            idx[d] = 0;
        }
    }
}

static int run_slice(nn_session *s, nn_step *st)
{
    copy_box(T(0), O(0), st->aux, 0);
    return 0;
}

/* Pad (constant mode): aux[0..nd) are the leading pads; faux[0] the value. */
static int run_pad(nn_session *s, nn_step *st)
{
    const nn_tensor *Y = O(0);
    int64_t n = count_of(Y);
    float v = st->faux[0];
    for (int64_t i = 0; i < n; i++) F(Y)[i] = v;
    copy_box(T(0), Y, st->aux, 1);
    return 0;
}

static int run_transpose(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0), *Y = O(0);
    int nd = X->shape.ndim;
    size_t es = nn_dtype_size(X->dtype);
    int64_t xstride[NN_MAXDIM], st_ = 1, idx[NN_MAXDIM] = {0}, pstride[NN_MAXDIM];
    for (int d = nd - 1; d >= 0; d--) {
        xstride[d] = st_;
        st_ *= X->shape.d[d];
    }
    for (int d = 0; d < nd; d++) pstride[d] = xstride[st->aux[d]];
    int64_t n = count_of(Y);
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (int d = 0; d < nd; d++) off += idx[d] * pstride[d];
        memcpy((uint8_t *)Y->data + (size_t)i * es, (const uint8_t *)X->data + (size_t)off * es, es);
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < Y->shape.d[d]) break;
            idx[d] = 0;
        }
    }
    return 0;
}

static int run_gather(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0), *I = T(1), *Y = O(0);
    int axis = (int)st->aux[0];
    size_t es = nn_dtype_size(X->dtype);
    int64_t outer = 1, inner = 1, dim = X->shape.d[axis], ni = count_of(I);
    for (int d = 0; d < axis; d++) outer *= X->shape.d[d];
    for (int d = axis + 1; d < X->shape.ndim; d++) inner *= X->shape.d[d];
    for (int64_t k = 0; k < ni; k++) {
        int64_t j = I64(I)[k];
        if (j < 0) j += dim;
        if (j < 0 || j >= dim)
            return fail(s, st, FACET_E_FORMAT, "index out of range%s", "");
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < ni; k++) {
            int64_t j = I64(I)[k];
            if (j < 0) j += dim;
            memcpy((uint8_t *)Y->data + (size_t)((o * ni + k) * inner) * es,
                   (const uint8_t *)X->data + (size_t)((o * dim + j) * inner) * es, (size_t)inner * es);
        }
    return 0;
}

static int run_shape(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    for (int d = 0; d < X->shape.ndim; d++) I64(O(0))[d] = X->shape.d[d];
    return 0;
}

static int run_fill(nn_session *s, nn_step *st)
{
    const nn_tensor *Y = O(0);
    int64_t n = count_of(Y);
    const nn_attr *a = st->node ? nn_attr_find(st->node, "value") : NULL;
    if (a && a->type == NN_ATTR_TENSOR && nn_shape_count(&a->t.shape) == 1) {
        size_t es = nn_dtype_size(Y->dtype);
        for (int64_t i = 0; i < n; i++)
            memcpy((uint8_t *)Y->data + (size_t)i * es, a->t.data, es);
    } else {
        memset(Y->data, 0, (size_t)n * nn_dtype_size(Y->dtype));
    }
    return 0;
}

static int run_constant(nn_session *s, nn_step *st)
{
    const nn_attr *a = nn_attr_find(st->node, "value");
    memcpy(O(0)->data, a->t.data, (size_t)count_of(O(0)) * nn_dtype_size(O(0)->dtype));
    return 0;
}

/* ---------- shape inference ---------- */

static int need_inputs(nn_session *s, nn_step *st, int lo, int hi)
{
    int n = 0;
    while (n < st->nin && st->in[n] >= 0) n++;
    for (int i = 0; i < st->nin; i++)
        if (i < lo && st->in[i] < 0) return fail(s, st, FACET_E_FORMAT, "input %s is missing", "");
    if (st->nin < lo || st->nin > hi) {
        char b[64];
        snprintf(b, sizeof b, "%d inputs, expected %d to %d", st->nin, lo, hi);
        return fail(s, st, FACET_E_FORMAT, "%s", b);
    }
    return 0;
}

static int need_f32(nn_session *s, nn_step *st, int i)
{
    if (T(i)->dtype != NN_F32) return fail(s, st, FACET_E_UNSUPPORTED, "input %s must be float", "");
    return 0;
}

static int set_out(nn_step *st, nn_session *s, int k, int dtype, const nn_shape *sh)
{
    O(k)->dtype = dtype;
    O(k)->shape = *sh;
    return 0;
}

static int norm_axis(int64_t axis, int nd, int64_t *out)
{
    if (axis < 0) axis += nd;
    if (axis < 0 || axis >= nd) return -1;
    *out = axis;
    return 0;
}

/* Resolves kernel/stride/dilation/pads for Conv and the pools into aux[0..12]. */
static int infer_window(nn_session *s, nn_step *st, const nn_shape *x, int64_t kh, int64_t kw,
                        nn_shape *y, int64_t outc)
{
    const nn_node *n = st->node;
    int cnt;
    const int64_t *v;
    int64_t *a = st->aux;
    a[0] = kh;
    a[1] = kw;
    a[2] = a[3] = a[4] = a[5] = 1;
    a[6] = a[7] = a[8] = a[9] = 0;
    if ((v = nn_attr_ints(n, "strides", &cnt))) {
        if (cnt != 2) return fail(s, st, FACET_E_UNSUPPORTED, "only 2-D strides are supported%s", "");
        a[2] = v[0], a[3] = v[1];
    }
    if ((v = nn_attr_ints(n, "dilations", &cnt))) {
        if (cnt != 2) return fail(s, st, FACET_E_UNSUPPORTED, "only 2-D dilations are supported%s", "");
        a[4] = v[0], a[5] = v[1];
    }
    if ((v = nn_attr_ints(n, "pads", &cnt))) {
        if (cnt != 4) return fail(s, st, FACET_E_UNSUPPORTED, "only 2-D pads are supported%s", "");
        a[6] = v[0], a[7] = v[1], a[8] = v[2], a[9] = v[3];
    }
    for (int i = 0; i < 10; i++)
        if (a[i] < (i < 6 ? 1 : 0) || a[i] > 4096)
            return fail(s, st, FACET_E_FORMAT, "kernel, stride, dilation or pad out of range%s", "");
    a[11] = nn_attr_int(n, "ceil_mode", 0);
    a[12] = nn_attr_int(n, "count_include_pad", 0);
    const nn_attr *ap = nn_attr_find(n, "auto_pad");
    int64_t H = x->d[2], W = x->d[3];
    int64_t ekh = (kh - 1) * a[4] + 1, ekw = (kw - 1) * a[5] + 1;
    if (ap && ap->s && strcmp(ap->s, "NOTSET")) {
        if (!strcmp(ap->s, "VALID")) {
            a[6] = a[7] = a[8] = a[9] = 0;
        } else if (!strcmp(ap->s, "SAME_UPPER") || !strcmp(ap->s, "SAME_LOWER")) {
            int64_t oh = (H + a[2] - 1) / a[2], ow = (W + a[3] - 1) / a[3];
            int64_t ph = (oh - 1) * a[2] + ekh - H, pw = (ow - 1) * a[3] + ekw - W;
            ph = ph < 0 ? 0 : ph;
            pw = pw < 0 ? 0 : pw;
            int lower = !strcmp(ap->s, "SAME_LOWER");
            a[6] = lower ? (ph + 1) / 2 : ph / 2;
            a[8] = ph - a[6];
            a[7] = lower ? (pw + 1) / 2 : pw / 2;
            a[9] = pw - a[7];
        } else {
            return fail(s, st, FACET_E_UNSUPPORTED, "auto_pad '%s'", ap->s);
        }
    }
    int64_t nh = H + a[6] + a[8] - ekh, nw = W + a[7] + a[9] - ekw;
    if (nh < 0 || nw < 0) return bad_shape(s, st, "input smaller than the kernel:", x);
    int64_t oh, ow;
    if (a[11]) {
        oh = (nh + a[2] - 1) / a[2] + 1;
        ow = (nw + a[3] - 1) / a[3] + 1;
        /* the last window must start inside the input or its left padding */
        if ((oh - 1) * a[2] >= H + a[6]) oh--;
        if ((ow - 1) * a[3] >= W + a[7]) ow--;
    } else {
        oh = nh / a[2] + 1;
        ow = nw / a[3] + 1;
    }
    y->ndim = 4;
    y->d[0] = x->d[0];
    y->d[1] = outc;
    y->d[2] = oh;
    y->d[3] = ow;
    return 0;
}

int nn_ref_infer(nn_session *s, nn_step *st)
{
    const nn_node *n = st->node;
    int rc, cnt;
    const int64_t *v;
    nn_shape y = {0, {0}};
    const nn_shape *x = st->nin > 0 && st->in[0] >= 0 ? &T(0)->shape : NULL;
    st->flops = 0;
    switch (st->op) {
    case NN_OP_RELU: case NN_OP_SIGMOID: case NN_OP_TANH: case NN_OP_EXP:
        if ((rc = need_inputs(s, st, 1, 1)) || (rc = need_f32(s, st, 0))) return rc;
        st->run = st->op == NN_OP_RELU ? run_relu : st->op == NN_OP_SIGMOID ? run_sigmoid
                : st->op == NN_OP_TANH ? run_tanh : run_exp;
        return set_out(st, s, 0, NN_F32, x);
    case NN_OP_IDENTITY: case NN_OP_DROPOUT:
        if ((rc = need_inputs(s, st, 1, 3))) return rc;
        if (st->nout > 1) return fail(s, st, FACET_E_UNSUPPORTED, "the mask output is not supported%s", "");
        st->run = run_copy;
        return set_out(st, s, 0, T(0)->dtype, x);
    case NN_OP_ADD: case NN_OP_SUB: case NN_OP_MUL: case NN_OP_DIV: case NN_OP_PRELU:
        if ((rc = need_inputs(s, st, 2, 2))) return rc;
        if (T(0)->dtype != T(1)->dtype || (st->op == NN_OP_PRELU && T(0)->dtype != NN_F32))
            return fail(s, st, FACET_E_FORMAT, "input types differ%s", "");
        if (broadcast_shape(x, &T(1)->shape, &y)) return bad_shape(s, st, "inputs do not broadcast, second is", &T(1)->shape);
        if (st->op == NN_OP_PRELU && y.ndim != x->ndim) return bad_shape(s, st, "slope", &T(1)->shape);
        for (int i = 0; i < y.ndim && st->op == NN_OP_PRELU; i++)
            if (y.d[i] != x->d[i]) return bad_shape(s, st, "slope", &T(1)->shape);
        st->run = run_binary;
        return set_out(st, s, 0, T(0)->dtype, &y);
    case NN_OP_SOFTMAX: {
        if ((rc = need_inputs(s, st, 1, 1)) || (rc = need_f32(s, st, 0))) return rc;
        int64_t axis;
        if (norm_axis(nn_attr_int(n, "axis", 1), x->ndim, &axis)) return bad_shape(s, st, "axis out of range for", x);
        st->aux[0] = 1;
        for (int d = (int)axis; d < x->ndim; d++) st->aux[0] *= x->d[d];
        st->run = run_softmax;
        return set_out(st, s, 0, NN_F32, x);
    }
    case NN_OP_BATCHNORM:
        if ((rc = need_inputs(s, st, 5, 5)) || (rc = need_f32(s, st, 0))) return rc;
        if (x->ndim < 2) return bad_shape(s, st, "input", x);
        for (int i = 1; i < 5; i++)
            if (T(i)->dtype != NN_F32 || count_of(T(i)) != x->d[1])
                return bad_shape(s, st, "parameter", &T(i)->shape);
        if (st->nout > 1) return fail(s, st, FACET_E_UNSUPPORTED, "training outputs are not supported%s", "");
        st->faux[0] = nn_attr_float(n, "epsilon", 1e-5f);
        st->run = run_batchnorm;
        return set_out(st, s, 0, NN_F32, x);
    case NN_OP_CONV: {
        if ((rc = need_inputs(s, st, 2, 3)) || (rc = need_f32(s, st, 0)) || (rc = need_f32(s, st, 1))) return rc;
        const nn_shape *w = &T(1)->shape;
        if (x->ndim != 4 || w->ndim != 4) return bad_shape(s, st, "only 2-D convolution; input", x);
        int64_t G = nn_attr_int(n, "group", 1);
        if (G < 1 || x->d[1] % G || w->d[0] % G || w->d[1] * G != x->d[1])
            return bad_shape(s, st, "weights do not match the input channels and group:", w);
        if ((v = nn_attr_ints(n, "kernel_shape", &cnt)) && (cnt != 2 || v[0] != w->d[2] || v[1] != w->d[3]))
            return bad_shape(s, st, "kernel_shape does not match weights", w);
        if (st->nin > 2 && st->in[2] >= 0 && count_of(T(2)) != w->d[0])
            return bad_shape(s, st, "bias", &T(2)->shape);
        if ((rc = infer_window(s, st, x, w->d[2], w->d[3], &y, w->d[0]))) return rc;
        st->aux[10] = G;
        st->flops = 2.0 * (double)nn_shape_count(&y) * (double)(w->d[1] * w->d[2] * w->d[3]);
        st->run = run_conv;
        return set_out(st, s, 0, NN_F32, &y);
    }
    case NN_OP_MAXPOOL: case NN_OP_AVGPOOL: {
        if ((rc = need_inputs(s, st, 1, 1)) || (rc = need_f32(s, st, 0))) return rc;
        if (x->ndim != 4) return bad_shape(s, st, "only 2-D pooling; input", x);
        if (st->nout > 1) return fail(s, st, FACET_E_UNSUPPORTED, "the indices output is not supported%s", "");
        if (nn_attr_int(n, "storage_order", 0)) return fail(s, st, FACET_E_UNSUPPORTED, "storage_order 1%s", "");
        if (!(v = nn_attr_ints(n, "kernel_shape", &cnt)) || cnt != 2)
            return fail(s, st, FACET_E_FORMAT, "kernel_shape must have 2 values%s", "");
        if ((rc = infer_window(s, st, x, v[0], v[1], &y, x->d[1]))) return rc;
        if (st->aux[4] != 1 || st->aux[5] != 1) return fail(s, st, FACET_E_UNSUPPORTED, "dilated pooling%s", "");
        st->run = run_pool;
        return set_out(st, s, 0, NN_F32, &y);
    }
    case NN_OP_GAVGPOOL:
        if ((rc = need_inputs(s, st, 1, 1)) || (rc = need_f32(s, st, 0))) return rc;
        if (x->ndim < 3) return bad_shape(s, st, "input", x);
        y = *x;
        for (int d = 2; d < y.ndim; d++) y.d[d] = 1;
        st->run = run_gavgpool;
        return set_out(st, s, 0, NN_F32, &y);
    case NN_OP_REDUCEMEAN: {
        if ((rc = need_inputs(s, st, 1, 1)) || (rc = need_f32(s, st, 0))) return rc;
        int keep = (int)nn_attr_int(n, "keepdims", 1);
        int64_t mask = 0;
        v = nn_attr_ints(n, "axes", &cnt);
        if (!v) mask = (1 << x->ndim) - 1;
        for (int i = 0; i < cnt; i++) {
            int64_t a;
            if (norm_axis(v[i], x->ndim, &a)) return bad_shape(s, st, "axes out of range for", x);
            mask |= (int64_t)1 << a;
        }
        st->aux[0] = mask;
        for (int d = 0; d < x->ndim; d++) {
            if (!(mask & (1 << d))) y.d[y.ndim++] = x->d[d];
            else if (keep) y.d[y.ndim++] = 1;
        }
        st->run = run_reducemean;
        return set_out(st, s, 0, NN_F32, &y);
    }
    case NN_OP_PAD: {
        if ((rc = need_inputs(s, st, 1, 1)) || (rc = need_f32(s, st, 0))) return rc;
        const nn_attr *mode = nn_attr_find(n, "mode");
        if (mode && mode->s && strcmp(mode->s, "constant"))
            return fail(s, st, FACET_E_UNSUPPORTED, "pad mode '%s'", mode->s);
        v = nn_attr_ints(n, "pads", &cnt);
        if (!v || cnt != 2 * x->ndim) return fail(s, st, FACET_E_FORMAT, "pads must have 2 values per dimension%s", "");
        y = *x;
        for (int d = 0; d < x->ndim; d++) {
            if (v[d] < 0 || v[d + x->ndim] < 0 || v[d] > 4096 || v[d + x->ndim] > 4096)
                return fail(s, st, FACET_E_UNSUPPORTED, "negative or huge pads%s", "");
            st->aux[d] = v[d];
            y.d[d] += v[d] + v[d + x->ndim];
        }
        st->faux[0] = nn_attr_float(n, "value", 0.0f);
        st->run = run_pad;
        return set_out(st, s, 0, NN_F32, &y);
    }
    case NN_OP_CONCAT: {
        if ((rc = need_inputs(s, st, 1, NN_STEP_MAXIO))) return rc;
        int64_t axis;
        if (norm_axis(nn_attr_int(n, "axis", 0), x->ndim, &axis)) return bad_shape(s, st, "axis out of range for", x);
        y = *x;
        y.d[axis] = 0;
        for (int i = 0; i < st->nin; i++) {
            const nn_shape *xi = &T(i)->shape;
            if (st->in[i] < 0 || xi->ndim != x->ndim || T(i)->dtype != T(0)->dtype)
                return bad_shape(s, st, "inputs differ in rank or type:", xi);
            for (int d = 0; d < x->ndim; d++)
                if (d != axis && xi->d[d] != x->d[d]) return bad_shape(s, st, "inputs differ:", xi);
            y.d[axis] += xi->d[axis];
        }
        st->aux[0] = axis;
        st->run = run_concat;
        return set_out(st, s, 0, T(0)->dtype, &y);
    }
    case NN_OP_SPLIT: {
        if ((rc = need_inputs(s, st, 1, 1))) return rc;
        int64_t axis;
        if (norm_axis(nn_attr_int(n, "axis", 0), x->ndim, &axis)) return bad_shape(s, st, "axis out of range for", x);
        v = nn_attr_ints(n, "split", &cnt);
        if (v && cnt != st->nout) return fail(s, st, FACET_E_FORMAT, "split has a wrong count%s", "");
        if (!v && x->d[axis] % st->nout) return bad_shape(s, st, "cannot split evenly", x);
        int64_t total = 0;
        for (int i = 0; i < st->nout; i++) {
            y = *x;
            y.d[axis] = v ? v[i] : x->d[axis] / st->nout;
            if (y.d[axis] < 0) return fail(s, st, FACET_E_FORMAT, "negative split%s", "");
            total += y.d[axis];
            set_out(st, s, i, T(0)->dtype, &y);
        }
        if (total != x->d[axis]) return bad_shape(s, st, "split sizes do not add up to", x);
        st->aux[0] = axis;
        st->run = run_split;
        return 0;
    }
    case NN_OP_SLICE: {
        if ((rc = need_inputs(s, st, 1, 1))) return rc;
        int ns, ne, na;
        const int64_t *starts = nn_attr_ints(n, "starts", &ns), *ends = nn_attr_ints(n, "ends", &ne);
        const int64_t *axes = nn_attr_ints(n, "axes", &na);
        if (!starts || !ends || ns != ne || (axes && na != ns) || ns > x->ndim)
            return fail(s, st, FACET_E_FORMAT, "starts/ends/axes are inconsistent%s", "");
        y = *x;
        for (int d = 0; d < x->ndim; d++) st->aux[d] = 0;
        for (int i = 0; i < ns; i++) {
            int64_t a;
            if (norm_axis(axes ? axes[i] : i, x->ndim, &a)) return bad_shape(s, st, "axes out of range for", x);
            int64_t dim = x->d[a], b = starts[i], e = ends[i];
            if (b < 0) b += dim;
            if (e < 0) e += dim;
            b = b < 0 ? 0 : b > dim ? dim : b;
            e = e < 0 ? 0 : e > dim ? dim : e;
            st->aux[a] = b;
            y.d[a] = e > b ? e - b : 0;
        }
        st->run = run_slice;
        return set_out(st, s, 0, T(0)->dtype, &y);
    }
    case NN_OP_RESHAPE: {
        if ((rc = need_inputs(s, st, 2, 2))) return rc;
        const nn_tensor *sh = T(1);
        if (!sh->is_const || sh->dtype != NN_I64 || sh->shape.ndim != 1 || sh->shape.d[0] > NN_MAXDIM)
            return fail(s, st, FACET_E_UNSUPPORTED, "the shape input must be a constant int64 vector%s", "");
        y.ndim = (int)sh->shape.d[0];
        int infer = -1;
        int64_t known = 1;
        for (int d = 0; d < y.ndim; d++) {
            int64_t dv = I64(sh)[d];
            if (dv == 0) {
                if (d >= x->ndim) return bad_shape(s, st, "0 refers past the input's rank", x);
                dv = x->d[d];
            }
            if (dv == -1) {
                if (infer >= 0) return fail(s, st, FACET_E_FORMAT, "two -1 in the shape%s", "");
                infer = d;
                dv = 1;
            } else if (dv < 0) {
                return fail(s, st, FACET_E_FORMAT, "negative dimension in the shape%s", "");
            }
            y.d[d] = dv;
            known *= dv;
        }
        int64_t total = count_of(T(0));
        if (infer >= 0) {
            if (!known || total % known) return bad_shape(s, st, "cannot infer -1 for", x);
            y.d[infer] = total / known;
        } else if (known != total) {
            return bad_shape(s, st, "element count differs from", x);
        }
        st->run = run_copy;
        return set_out(st, s, 0, T(0)->dtype, &y);
    }
    case NN_OP_FLATTEN: {
        if ((rc = need_inputs(s, st, 1, 1))) return rc;
        int64_t axis = nn_attr_int(n, "axis", 1);
        if (axis < 0) axis += x->ndim;
        if (axis < 0 || axis > x->ndim) return bad_shape(s, st, "axis out of range for", x);
        y.ndim = 2;
        y.d[0] = y.d[1] = 1;
        for (int d = 0; d < x->ndim; d++) y.d[d < axis ? 0 : 1] *= x->d[d];
        st->run = run_copy;
        return set_out(st, s, 0, T(0)->dtype, &y);
    }
    case NN_OP_UNSQUEEZE: {
        if ((rc = need_inputs(s, st, 1, 1))) return rc;
        v = nn_attr_ints(n, "axes", &cnt);
        if (!v || !cnt || x->ndim + cnt > NN_MAXDIM) return fail(s, st, FACET_E_FORMAT, "bad axes%s", "");
        y.ndim = x->ndim + cnt;
        int64_t mask = 0;
        for (int i = 0; i < cnt; i++) {
            int64_t a;
            if (norm_axis(v[i], y.ndim, &a) || (mask & (1 << a))) return fail(s, st, FACET_E_FORMAT, "bad axes%s", "");
            mask |= (int64_t)1 << a;
        }
        for (int d = 0, k = 0; d < y.ndim; d++) y.d[d] = (mask & (1 << d)) ? 1 : x->d[k++];
        st->run = run_copy;
        return set_out(st, s, 0, T(0)->dtype, &y);
    }
    case NN_OP_TRANSPOSE: {
        if ((rc = need_inputs(s, st, 1, 1))) return rc;
        v = nn_attr_ints(n, "perm", &cnt);
        if (v && cnt != x->ndim) return fail(s, st, FACET_E_FORMAT, "perm has the wrong length%s", "");
        int seen = 0;
        y.ndim = x->ndim;
        for (int d = 0; d < x->ndim; d++) {
            int64_t p = v ? v[d] : x->ndim - 1 - d;
            if (p < 0 || p >= x->ndim || (seen & (1 << p))) return fail(s, st, FACET_E_FORMAT, "perm is not a permutation%s", "");
            seen |= 1 << p;
            st->aux[d] = p;
            y.d[d] = x->d[p];
        }
        st->run = run_transpose;
        return set_out(st, s, 0, T(0)->dtype, &y);
    }
    case NN_OP_GATHER: {
        if ((rc = need_inputs(s, st, 2, 2))) return rc;
        if (T(1)->dtype != NN_I64) return fail(s, st, FACET_E_UNSUPPORTED, "indices must be integers%s", "");
        int64_t axis;
        if (norm_axis(nn_attr_int(n, "axis", 0), x->ndim, &axis)) return bad_shape(s, st, "axis out of range for", x);
        const nn_shape *is = &T(1)->shape;
        if (x->ndim - 1 + is->ndim > NN_MAXDIM) return bad_shape(s, st, "indices", is);
        for (int d = 0; d < axis; d++) y.d[y.ndim++] = x->d[d];
        for (int d = 0; d < is->ndim; d++) y.d[y.ndim++] = is->d[d];
        for (int d = (int)axis + 1; d < x->ndim; d++) y.d[y.ndim++] = x->d[d];
        st->aux[0] = axis;
        st->run = run_gather;
        return set_out(st, s, 0, T(0)->dtype, &y);
    }
    case NN_OP_SHAPE:
        if ((rc = need_inputs(s, st, 1, 1))) return rc;
        y.ndim = 1;
        y.d[0] = x->ndim;
        st->run = run_shape;
        return set_out(st, s, 0, NN_I64, &y);
    case NN_OP_CONSTANT: {
        const nn_attr *a = nn_attr_find(n, "value");
        if (!a || a->type != NN_ATTR_TENSOR) return fail(s, st, FACET_E_FORMAT, "needs a tensor 'value'%s", "");
        st->run = run_constant;
        return set_out(st, s, 0, a->t.dtype, &a->t.shape);
    }
    case NN_OP_CONSTANTOFSHAPE: {
        if ((rc = need_inputs(s, st, 1, 1))) return rc;
        const nn_tensor *sh = T(0);
        if (!sh->is_const || sh->dtype != NN_I64 || sh->shape.ndim != 1 || sh->shape.d[0] > NN_MAXDIM)
            return fail(s, st, FACET_E_UNSUPPORTED, "the shape input must be a constant int64 vector%s", "");
        y.ndim = (int)sh->shape.d[0];
        int64_t total = 1;
        for (int d = 0; d < y.ndim; d++) {
            y.d[d] = I64(sh)[d];
            if (y.d[d] < 0 || y.d[d] > ((int64_t)1 << 30) || (total *= y.d[d]) > ((int64_t)1 << 30))
                return fail(s, st, FACET_E_LIMIT, "shape out of range%s", "");
        }
        const nn_attr *a = nn_attr_find(n, "value");
        int dt = a && a->type == NN_ATTR_TENSOR ? a->t.dtype : NN_F32;
        st->run = run_fill;
        return set_out(st, s, 0, dt, &y);
    }
    case NN_OP_GEMM: {
        if ((rc = need_inputs(s, st, 2, 3)) || (rc = need_f32(s, st, 0)) || (rc = need_f32(s, st, 1))) return rc;
        const nn_shape *b = &T(1)->shape;
        if (x->ndim != 2 || b->ndim != 2) return bad_shape(s, st, "Gemm needs 2-D inputs:", x);
        int ta = (int)nn_attr_int(n, "transA", 0), tb = (int)nn_attr_int(n, "transB", 0);
        int64_t M = ta ? x->d[1] : x->d[0], K = ta ? x->d[0] : x->d[1];
        int64_t K2 = tb ? b->d[1] : b->d[0], N = tb ? b->d[0] : b->d[1];
        if (K != K2) return bad_shape(s, st, "inner dimensions differ; B is", b);
        y.ndim = 2;
        y.d[0] = M;
        y.d[1] = N;
        if (st->nin > 2 && st->in[2] >= 0) {
            nn_shape cy;
            if (broadcast_shape(&T(2)->shape, &y, &cy) || cy.ndim != 2 || cy.d[0] != M || cy.d[1] != N)
                return bad_shape(s, st, "C does not broadcast:", &T(2)->shape);
        }
        st->aux[0] = M, st->aux[1] = K, st->aux[2] = N, st->aux[3] = ta, st->aux[4] = tb;
        st->faux[0] = nn_attr_float(n, "alpha", 1.0f);
        st->faux[1] = nn_attr_float(n, "beta", 1.0f);
        st->flops = 2.0 * (double)(M * N * K);
        st->run = run_gemm;
        return set_out(st, s, 0, NN_F32, &y);
    }
    case NN_OP_MATMUL: {
        if ((rc = need_inputs(s, st, 2, 2)) || (rc = need_f32(s, st, 0)) || (rc = need_f32(s, st, 1))) return rc;
        const nn_shape *b = &T(1)->shape;
        if (x->ndim < 2 || b->ndim < 2) return fail(s, st, FACET_E_UNSUPPORTED, "1-D MatMul operands%s", "");
        int64_t M = x->d[x->ndim - 2], K = x->d[x->ndim - 1], N = b->d[b->ndim - 1];
        if (b->d[b->ndim - 2] != K) return bad_shape(s, st, "inner dimensions differ; B is", b);
        nn_shape xa = *x, xb = *b, yb;
        xa.ndim -= 2;
        xb.ndim -= 2;
        if (broadcast_shape(&xa, &xb, &yb)) return bad_shape(s, st, "batch dims do not broadcast:", b);
        y = yb;
        y.d[y.ndim++] = M;
        y.d[y.ndim++] = N;
        st->aux[0] = M, st->aux[1] = K, st->aux[2] = N;
        st->flops = 2.0 * (double)(nn_shape_count(&yb) * M * N * K);
        st->run = run_matmul;
        return set_out(st, s, 0, NN_F32, &y);
    }
    default:
        return fail(s, st, FACET_E_INTERNAL, "no reference kernel%s", "");
    }
}

/* ---- planner-made steps ---- */

/* NCHW <-> NHWC for a 4-D tensor whose logical shape is NCHW. */
static int run_layout(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    int64_t N = X->shape.d[0], C = X->shape.d[1], HW = X->shape.d[2] * X->shape.d[3];
    const float *x = F(X);
    float *y = F(O(0));
    int to_nhwc = st->op == NN_OP_TO_NHWC;
    for (int64_t n = 0; n < N; n++) {
        const float *xn = x + n * C * HW;
        float *yn = y + n * C * HW;
        /* the loop over the small dimension goes inside, so both streams stay sequential */
        if (to_nhwc)
            for (int64_t i = 0; i < HW; i++)
                for (int64_t c = 0; c < C; c++) yn[i * C + c] = xn[c * HW + i];
        else
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < HW; i++) yn[c * HW + i] = xn[i * C + c];
    }
    return 0;
}

/* ChannelShuffle (NCHW): output channel j*g + i is input channel i*(C/g) + j. */
static int run_channel_shuffle(nn_session *s, nn_step *st)
{
    const nn_tensor *X = T(0);
    int64_t N = X->shape.d[0], C = X->shape.d[1], HW = X->shape.d[2] * X->shape.d[3], g = st->aux[0];
    int64_t cg = C / g;
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < g; i++)
            for (int64_t j = 0; j < cg; j++)
                memcpy(F(O(0)) + (n * C + j * g + i) * HW, F(X) + (n * C + i * cg + j) * HW,
                       sizeof(float) * (size_t)HW);
    return 0;
}

int nn_ref_prepare(nn_session *s, nn_step *st)
{
    (void)s;
    if (st->alias_in) return 0;
    if (st->op == NN_OP_CHANNEL_SHUFFLE && !st->run) st->run = run_channel_shuffle;
    if (st->op == NN_OP_TO_NHWC || st->op == NN_OP_TO_NCHW) {
        st->run = run_layout;
        return 0;
    }
    return 0;
}
