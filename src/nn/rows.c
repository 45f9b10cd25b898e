/*
 * rows.c - chains of convolutions run row by row, so their intermediate maps never
 * leave the cache.
 *
 * The first layers of a detector work on the largest maps of the network: fr_detect at 320x240
 * makes three 120x160 maps of 16-32 channels (1.2-2.4 MB each) before its first stride-2 step,
 * and the SDK's pyramid runs it on frames up to 1920x1080 (maps of 40-80 MB). Run one operator
 * at a time, each of them streams its whole input and output through memory. Here a chain of
 * such convolutions - a first layer, depthwise 3x3 and pointwise 1x1, each with its activation -
 * becomes one step that makes the chain's output one row at a time: each stage keeps only the
 * few rows of its output that the next stage reads (3 before a 3x3, 1 before a 1x1) in a ring,
 * and asks the stage before it for rows as it needs them. The whole working set is a few hundred
 * KB per thread, and the stages' intermediate tensors disappear from the arena. Measured in one
 * process against the same plan without chains (docs/performance.md): even at 320x240, 0.90x
 * the time at 720x1280 and 0.85x at 1080x1920.
 *
 * With several threads, each takes a horizontal band of the chain's output; the rows that two
 * bands both need are computed by both (a few rows per stage), so the bands are independent.
 *
 * Chains are found after XNNPACK assignment, among consecutive steps where each intermediate
 * value has one reader and is not a graph output, and are fused where a map is larger than a
 * core's L2 (1 MiB). The first layer (only at the head), depthwise and pointwise kernels are
 * the slots of the session's kernel table (kernels.h); pointwise steps, which XNNPACK runs on
 * whole maps, get the table's row kernel.
 * FACET_NN_ROWS=0 in the environment turns the pass off (for A/B measurements), =2 fuses every
 * chain whatever its size (so that tests reach it with small maps); tests/test_nn.c compares
 * fused plans with the reference backend.
 */
#include <math.h>
#include <string.h>

#include <pthreadpool.h>

#include "nn/kernels.h"
#include "nn/nn.h"

#define CHAIN_MAX 32
#define ROWS_MIN_BYTES (1 << 20)

typedef struct stage {
    int kind;
    nn_conv j;     /* shapes, strides, packed weights; x/y unused inside a chain */
    size_t ring;       /* offset of this stage's output ring in a band's scratch (not the last) */
    size_t row_floats; /* one output row, padded to a cache line */
    int ring_rows;     /* rows the next stage reads at once */
} stage;

typedef struct chain {
    int n, nbands;
    stage st[CHAIN_MAX];
    float *scratch; /* nbands x band_floats */
    size_t band_floats;
    int in, out;    /* tensors */
    const nn_kernels *k;
    const float *x;
    float *y;
} chain;

static float *ring_row(const chain *c, float *scr, int i, int r)
{
    const stage *g = &c->st[i];
    return scr + g->ring + (size_t)(r % g->ring_rows) * g->row_floats;
}

/* Makes stage i's output rows up to (not including) `upto`, pulling input rows from stage i-1. */
static void produce(const chain *c, float *scr, int *next, int i, int upto)
{
    const stage *g = &c->st[i];
    const nn_conv *j = &g->j;
    while (next[i] < upto) {
        const int r = next[i], iy0 = r * j->sh - j->pt;
        const int need = iy0 + j->kh < j->H ? iy0 + j->kh : j->H;
        if (i > 0) produce(c, scr, next, i - 1, need);
        float *y = i == c->n - 1 ? c->y + (size_t)r * j->OW * j->M : ring_row(c, scr, i, r);
        if (g->kind == NN_K_FIRST) {
            c->k->first_row(j, r, y);
        } else {
            const float *rows[3] = {NULL, NULL, NULL};
            for (int ky = 0; ky < j->kh; ky++) {
                const int iy = iy0 + ky;
                if (iy < 0 || iy >= j->H) continue;
                rows[ky] = i == 0 ? c->x + (size_t)iy * j->W * j->C : ring_row(c, scr, i - 1, iy);
            }
            if (g->kind == NN_K_DW) c->k->dw_row(j, rows, y);
            else c->k->pw_pixels(j, rows[0], y, j->OW);
        }
        next[i]++;
    }
}

static void band_task(void *ctx, size_t band)
{
    const chain *c = ctx;
    const int n = c->n, OH = c->st[n - 1].j.OH;
    const int r0 = (int)((int64_t)OH * (int64_t)band / c->nbands);
    const int r1 = (int)((int64_t)OH * (int64_t)(band + 1) / c->nbands);
    if (r0 >= r1) return;
    int next[CHAIN_MAX];
    next[n - 1] = r0;
    for (int i = n - 1; i > 0; i--) {
        const int lo = next[i] * c->st[i].j.sh - c->st[i].j.pt;
        next[i - 1] = lo < 0 ? 0 : lo;
    }
    produce(c, c->scratch + band * c->band_floats, next, n - 1, r1);
}

static int run_chain(nn_session *s, nn_step *st)
{
    chain *c = st->be;
    c->x = s->t[c->in].data;
    c->y = s->t[c->out].data;
    if (c->st[0].kind == NN_K_FIRST) c->st[0].j.x = c->x;
    pthreadpool_parallelize_1d(s->pool, band_task, c, (size_t)c->nbands, 0);
    return 0;
}

#define T(i) (&s->t[st->in[i]])
#define O(i) (&s->t[st->out[i]])

/* The stage kind a planned step can be, or -1. */
static int stage_kind(const nn_session *s, const nn_step *st, int head)
{
    if (st->op != NN_OP_CONV || !st->kernel || !s->kern) return -1;
    const nn_conv *j = nn_conv_of(st);
    if (j) {
        if (j->kind == NN_K_FIRST) return head ? NN_K_FIRST : -1;
        return j->kind == NN_K_DW || j->kind == NN_K_PW ? j->kind : -1;
    }
    /* pointwise steps (XNNPACK's on whole maps) get our row kernel inside a chain */
    if (s->kern->pw_pixels && !strcmp(st->kernel, "xnnpack") && (st->act == NN_ACT_NONE || st->act == NN_ACT_RELU) &&
        T(0)->layout == NN_NHWC && st->aux[0] == 1 && st->aux[1] == 1 && st->aux[2] == 1 && st->aux[3] == 1 &&
        !(st->aux[6] | st->aux[7] | st->aux[8] | st->aux[9]) && st->aux[10] == 1 && T(1)->shape.d[0] >= 16 &&
        T(0)->shape.d[0] == 1)
        return NN_K_PW;
    return -1;
}

/* Turns steps [a, b) into one chain step at a. */
static int make_chain(nn_session *s, int a, int b)
{
    chain *c = nn_own(s, facet_alloc(sizeof(chain)));
    if (!c) return FACET_E_NO_MEMORY;
    memset(c, 0, sizeof(*c));
    c->n = b - a;
    c->k = s->kern;
    double flops = 0;
    for (int i = 0; i < c->n; i++) {
        nn_step *st = &s->steps[a + i];
        stage *g = &c->st[i];
        g->kind = stage_kind(s, st, i == 0);
        if (g->kind == NN_K_PW && !nn_conv_of(st)) { /* an XNNPACK pointwise step */
            int rc = nn_conv_job(s, st, NN_K_PW, &g->j);
            if (rc) return rc;
            if (st->be && st->be_free) st->be_free(st->be);
            st->be = NULL;
        } else {
            g->j = *nn_conv_of(st); /* made by nn_conv_make, owned by the session */
        }
        flops += st->flops;
    }
    size_t band = 0;
    for (int i = 0; i + 1 < c->n; i++) {
        stage *g = &c->st[i];
        g->row_floats = ((size_t)g->j.OW * (size_t)g->j.M + 15) & ~(size_t)15;
        g->ring_rows = c->st[i + 1].j.kh;
        g->ring = band;
        band += g->row_floats * (size_t)g->ring_rows;
    }
    c->nbands = s->threads > 1 ? s->threads : 1;
    c->band_floats = band;
    c->scratch = nn_own(s, facet_alloc(sizeof(float) * (band * (size_t)c->nbands + 16)));
    if (!c->scratch) return FACET_E_NO_MEMORY;
    nn_step *head = &s->steps[a];
    c->in = head->in[0];
    c->out = s->steps[b - 1].out[0];
    head->nin = head->nout = 1;
    head->out[0] = c->out;
    head->act = s->steps[b - 1].act;
    head->flops = flops;
    head->be = c;
    head->be_free = NULL;
    head->be_prepare = NULL;
    head->run = run_chain;
    head->kernel = s->kern->rows_name;
    memmove(&s->steps[a + 1], &s->steps[b], sizeof(nn_step) * (size_t)(s->nsteps - b));
    s->nsteps -= b - a - 1;
    return 0;
}

int nn_rows_fuse(nn_session *s)
{
    const long mode = facet_env_long("FACET_NN_ROWS", 1); /* 0 off, 1 large maps, 2 every chain (tests) */
    if (!mode || !s->kern || !s->kern->dw_row || !s->kern->pw_pixels) return 0;
    for (int a = 0; a < s->nsteps; a++) {
        if (stage_kind(s, &s->steps[a], 1) < 0) continue;
        int b = a + 1;
        while (b < s->nsteps && b - a < CHAIN_MAX) {
            const nn_step *prev = &s->steps[b - 1], *st = &s->steps[b];
            if (stage_kind(s, st, 0) < 0 || st->in[0] != prev->out[0] || nn_readers(s, prev->out[0]) != 1) break;
            b++;
        }
        if (b - a < 2) continue;
        /* only where the maps outgrow the core's L2: below that, one operator at a time streams
         * from cache anyway, and XNNPACK's whole-map GEMMs beat row-sized ones (fr_landmark's
         * 32x32 chains were 20% slower fused) */
        int64_t largest = 0;
        for (int i = a; i < b; i++) {
            const nn_tensor *Y = &s->t[s->steps[i].out[0]];
            int64_t bytes = nn_shape_count(&Y->shape) * 4;
            if (bytes > largest) largest = bytes;
        }
        if (largest < ROWS_MIN_BYTES && mode != 2) continue;
        int rc = make_chain(s, a, b);
        if (rc) return rc == FACET_E_NO_MEMORY ? facet_seterr(&s->err, rc, "no memory for a convolution chain") : rc;
    }
    return 0;
}
