/*
 * transformer.c — self-attention encoder layers (see transformer.h).
 *
 * Everything is composed from autograd ops (linear, reshape/permute, matmul,
 * masked_fill, softmax, dropout, layer_norm, gelu, add), so the backward pass
 * comes for free. Intermediates are collected in a small scope and released
 * together at the end of a forward; the graph keeps what backward needs.
 * When no tape is recorded and there is no dropout (inference), a layer
 * takes a fused path on raw buffers instead (see "inference fast path"):
 * the same function up to float rounding, several times faster.
 */
#include "nn/transformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/parallel.h"
#include "core/scope.h"

/* ---- configuration and parameters --------------------------------------- */

mgv_transformer_config mgv_transformer_default_config(int hidden, int heads, int intermediate)
{
    mgv_transformer_config c;
    memset(&c, 0, sizeof c);
    c.hidden = hidden;
    c.heads = heads;
    c.intermediate = intermediate;
    c.layer_norm_eps = 1e-12f;
    c.hidden_dropout = 0.1f;
    c.attention_dropout = 0.1f;
    c.init_std = 0.02f;
    return c;
}

static int check_config(const mgv_transformer_config *c)
{
    if (c->hidden <= 0 || c->heads <= 0 || c->intermediate <= 0)
        return mgv_fail("transformer: hidden %d, heads %d, intermediate %d must be positive",
                        c->hidden, c->heads, c->intermediate);
    if (c->hidden % c->heads != 0)
        return mgv_fail("transformer: hidden size %d is not divisible by %d heads", c->hidden,
                        c->heads);
    if (!(c->layer_norm_eps > 0))
        return mgv_fail("transformer: layer_norm_eps %g must be positive",
                        (double)c->layer_norm_eps);
    if (!(c->hidden_dropout >= 0 && c->hidden_dropout < 1) ||
        !(c->attention_dropout >= 0 && c->attention_dropout < 1))
        return mgv_fail("transformer: dropout %g / %g must be in [0, 1)",
                        (double)c->hidden_dropout, (double)c->attention_dropout);
    if (!(c->init_std >= 0))
        return mgv_fail("transformer: init_std %g must be >= 0", (double)c->init_std);
    return 0;
}

/* {prefix}.{name}.weight [out, in] ~ N(0, std^2) and {prefix}.{name}.bias [out] = 0. */
static int new_linear(mgv_paramset *ps, const char *prefix, const char *name, int out, int in,
                      float std, mgv_rng *rng, mgv_tensor **w, mgv_tensor **b)
{
    char wn[256], bn[256];
    snprintf(wn, sizeof wn, "%s.%s.weight", prefix, name);
    snprintf(bn, sizeof bn, "%s.%s.bias", prefix, name);
    int64_t ws[2] = {out, in}, bs[1] = {out};
    if (!(*w = mgv_params_new(ps, wn, 2, ws, 0, rng))) return -1;
    if (std > 0) mgv_fill_normal_(*w, rng, 0.0f, std);
    if (!(*b = mgv_params_new(ps, bn, 1, bs, 0, rng))) return -1;
    return 0;
}

/* {prefix}.{name}.weight = 1, .bias = 0, both [n]. */
static int new_layer_norm(mgv_paramset *ps, const char *prefix, const char *name, int n,
                          mgv_tensor **g, mgv_tensor **b)
{
    char gn[256], bn[256];
    snprintf(gn, sizeof gn, "%s.%s.weight", prefix, name);
    snprintf(bn, sizeof bn, "%s.%s.bias", prefix, name);
    int64_t s[1] = {n};
    if (!(*g = mgv_params_new(ps, gn, 1, s, 0, NULL))) return -1;
    mgv_fill_(*g, 1.0f);
    if (!(*b = mgv_params_new(ps, bn, 1, s, 0, NULL))) return -1;
    return 0;
}

int mgv_transformer_layer_init(mgv_transformer_layer *layer, mgv_paramset *ps, const char *prefix,
                               const mgv_transformer_config *cfg,
                               mgv_transformer_variant variant, mgv_rng *rng)
{
    memset(layer, 0, sizeof *layer);
    if (check_config(cfg) < 0) return -1;
    if (variant != MGV_TRANSFORMER_POST_LN && variant != MGV_TRANSFORMER_PRE_LN)
        return mgv_fail("transformer: unknown variant %d", (int)variant);
    if (!prefix || !*prefix) return mgv_fail("transformer: empty parameter prefix");
    if (strlen(prefix) > 180) return mgv_fail("transformer: parameter prefix too long");
    if (!rng) rng = mgv_rng_global();
    layer->cfg = *cfg;
    layer->variant = variant;
    int H = cfg->hidden, I = cfg->intermediate;
    float sd = cfg->init_std;
    int post = variant == MGV_TRANSFORMER_POST_LN;
    const char *self = post ? "attention.self" : "attention.attention";
    char qn[64], kn[64], vn[64];
    snprintf(qn, sizeof qn, "%s.query", self);
    snprintf(kn, sizeof kn, "%s.key", self);
    snprintf(vn, sizeof vn, "%s.value", self);
    /* creation order = the order of a HF state dict */
    if (!post && new_layer_norm(ps, prefix, "layernorm_before", H, &layer->ln1_g,
                                &layer->ln1_b) < 0)
        goto fail;
    if (new_linear(ps, prefix, qn, H, H, sd, rng, &layer->q_w, &layer->q_b) < 0 ||
        new_linear(ps, prefix, kn, H, H, sd, rng, &layer->k_w, &layer->k_b) < 0 ||
        new_linear(ps, prefix, vn, H, H, sd, rng, &layer->v_w, &layer->v_b) < 0 ||
        new_linear(ps, prefix, "attention.output.dense", H, H, sd, rng, &layer->o_w,
                   &layer->o_b) < 0)
        goto fail;
    if (post && new_layer_norm(ps, prefix, "attention.output.LayerNorm", H, &layer->ln1_g,
                               &layer->ln1_b) < 0)
        goto fail;
    if (!post && new_layer_norm(ps, prefix, "layernorm_after", H, &layer->ln2_g,
                                &layer->ln2_b) < 0)
        goto fail;
    if (new_linear(ps, prefix, "intermediate.dense", I, H, sd, rng, &layer->i_w, &layer->i_b) < 0 ||
        new_linear(ps, prefix, "output.dense", H, I, sd, rng, &layer->f_w, &layer->f_b) < 0)
        goto fail;
    if (post && new_layer_norm(ps, prefix, "output.LayerNorm", H, &layer->ln2_g,
                               &layer->ln2_b) < 0)
        goto fail;
    return 0;
fail:
    mgv_error_context("transformer layer '%s'", prefix);
    return -1;
}

/* ---- forward ------------------------------------------------------------ */

/* Checks x [B, L, H] and mask [B, L]; builds the key padding tensor
 * [B, 1, 1, L] (1 = padded key), or NULL in *pad when nothing is padded. */
static int prepare(const mgv_transformer_config *c, mgv_tensor *x, mgv_tensor *mask,
                   mgv_tensor **pad)
{
    char a[96], b[96];
    *pad = NULL;
    if (!x) return mgv_fail("transformer: no input");
    if (x->ndim != 3 || x->shape[2] != c->hidden)
        return mgv_fail("transformer: input %s does not fit hidden size %d (expected [B x L x %d])",
                        mgv_shape_str(x, a, sizeof a), c->hidden, c->hidden);
    int64_t B = x->shape[0], L = x->shape[1];
    if (B == 0 || L == 0)
        return mgv_fail("transformer: input %s is empty", mgv_shape_str(x, a, sizeof a));
    if (!mask) return 0;
    if (mask->ndim != 2 || mask->shape[0] != B || mask->shape[1] != L)
        return mgv_fail("transformer: mask %s does not fit input %s (expected [%lldx%lld])",
                        mgv_shape_str(mask, a, sizeof a), mgv_shape_str(x, b, sizeof b),
                        (long long)B, (long long)L);
    int64_t shape[4] = {B, 1, 1, L};
    mgv_tensor *p = mgv_zeros(4, shape);
    if (!p) return -1;
    float *pd = mgv_data(p);
    int any = 0;
    for (int64_t i = 0; i < B * L; i++) {
        float m = mgv_get_flat(mask, i);
        if (m != m) {
            mgv_release(p);
            return mgv_fail("transformer: mask has NaN at element %lld", (long long)i);
        }
        pd[i] = m == 0 ? 1.0f : 0.0f;
        any |= m == 0;
    }
    if (any)
        *pad = p;
    else
        mgv_release(p);
    return 0;
}

/* Multi-head scaled dot-product attention of h [B, L, H], then the output
 * projection; pad [B, 1, 1, L] or NULL. */
static mgv_tensor *attention(const mgv_transformer_layer *ly, mgv_tensor *h, mgv_tensor *pad,
                             int training, mgv_rng *rng)
{
    mgv_scope scope = MGV_SCOPE("transformer"), *sc = &scope;
    const mgv_transformer_config *c = &ly->cfg;
    int64_t B = h->shape[0], L = h->shape[1], nh = c->heads, dh = c->hidden / c->heads;
    int64_t split[4] = {B, L, nh, dh}, merged[3] = {B, L, c->hidden};
    static const int to_heads[4] = {0, 2, 1, 3};   /* [B,L,nh,dh] <-> [B,nh,L,dh] */
    static const int to_keys_t[4] = {0, 2, 3, 1};  /* [B,L,nh,dh] -> [B,nh,dh,L] */
    mgv_tensor *q, *k, *v, *t, *s, *p, *ctx, *out = NULL;

    MGV_TRY(sc, t, mgv_linear(h, ly->q_w, ly->q_b));
    MGV_TRY(sc, t, mgv_scale(t, (float)(1.0 / sqrt((double)dh))));   /* q: fewer elements */
    MGV_TRY(sc, t, mgv_reshape(t, 4, split));
    MGV_TRY(sc, q, mgv_permute(t, to_heads));
    MGV_TRY(sc, t, mgv_linear(h, ly->k_w, ly->k_b));
    MGV_TRY(sc, t, mgv_reshape(t, 4, split));
    MGV_TRY(sc, k, mgv_permute(t, to_keys_t));
    MGV_TRY(sc, t, mgv_linear(h, ly->v_w, ly->v_b));
    MGV_TRY(sc, t, mgv_reshape(t, 4, split));
    MGV_TRY(sc, v, mgv_permute(t, to_heads));

    MGV_TRY(sc, s, mgv_matmul(q, k));                                 /* [B, nh, L, L] */
    /* masked_fill(-inf), softmax and dropout in one pass */
    MGV_TRY(sc, p, mgv_masked_softmax_dropout(s, pad, c->attention_dropout, training, rng));
    MGV_TRY(sc, ctx, mgv_matmul(p, v));                               /* [B, nh, L, dh] */
    MGV_TRY(sc, ctx, mgv_permute(ctx, to_heads));
    MGV_TRY(sc, ctx, mgv_reshape(ctx, 3, merged));
    out = mgv_linear(ctx, ly->o_w, ly->o_b);
fail:
    mgv_scope_close(sc);
    return out;
}

/* FFN(h) = W2 GELU(W1 h + b1) + b2. */
static mgv_tensor *feed_forward(const mgv_transformer_layer *ly, mgv_tensor *h)
{
    mgv_scope scope = MGV_SCOPE("transformer"), *sc = &scope;
    mgv_tensor *t, *out = NULL;
    MGV_TRY(sc, t, mgv_linear(h, ly->i_w, ly->i_b));
    MGV_TRY(sc, t, mgv_gelu(t));
    out = mgv_linear(t, ly->f_w, ly->f_b);
fail:
    mgv_scope_close(sc);
    return out;
}

static mgv_tensor *maybe_dropout(mgv_tensor *x, float p, int training, mgv_rng *rng)
{
    if (training && p > 0) return mgv_dropout(x, p, training, rng);
    return mgv_retain(x);
}

/* ---- inference fast path -------------------------------------------------- */
/*
 * Without a tape (grad mode off, or nothing requires grad) and without
 * dropout, a layer runs on raw buffers instead of autograd ops: no permute
 * copies, no intermediate tensors per op, and every pass threaded.
 *  - Each linear splits its rows over the engine's threads; a part starts
 *    its rows at the bias, adds x W^T with a single-threaded SGEMM, and
 *    then applies the epilogue (GELU, or residual add and LayerNorm) to the
 *    same rows while they are warm.
 *  - Q, K and V go side by side into one [R, 3H] buffer; attention takes
 *    the heads as strided blocks of it (leading dimension 3H). The (sample,
 *    head) pairs are split over the threads; per pair and block of queries,
 *    S = scale Q K^T (SGEMM), a masked softmax in place, and P V written
 *    straight into the head's columns of the [R, H] context.
 * exp and erf are vectorisable polynomial forms (relative error ~2e-7 for
 * exp, ~1.2e-7 for erfc), so results differ from the taped path by float
 * rounding only; the tests compare the two.
 */
#pragma GCC push_options
#pragma GCC optimize("O3", "no-math-errno", "no-signed-zeros", "no-trapping-math", \
                     "associative-math", "fp-contract=fast")


#define ATT_QBLOCK 128   /* queries per block of scores (a block stays in L2) */

#include "core/fastmath.h"   /* after the pragma: see fastmath.h */
#include "core/simd.h"

static MGV_SIMD_BODY void gelu_rows_body(float *y, int64_t rows, int64_t n, int64_t ld)
{
    for (int64_t r = 0; r < rows; r++) {
        float *v = y + r * ld;
        for (int64_t j = 0; j < n; j++) v[j] = mgv_fast_gelu(v[j]);
    }
}
MGV_SIMD_FN(static, gelu_rows, (float *y, int64_t rows, int64_t n, int64_t ld), (y, rows, n, ld))

static MGV_SIMD_BODY void add_row_body(float *y, const float *res, int64_t d)
{
    for (int64_t j = 0; j < d; j++) y[j] += res[j];
}
MGV_SIMD_FN(static, add_row, (float *y, const float *res, int64_t d), (y, res, d))

#pragma GCC pop_options

/* One weight of a fused linear: columns [0, out) of Y (leading dimension
 * ldy) get X W^T + bias. */
typedef struct {
    const float *W, *bias;
    int64_t out;
    float *Y;
    int64_t ldy;
} fast_out;

enum {
    EPI_NONE,      /* Y = X W^T + b */
    EPI_GELU,      /* Y = GELU(X W^T + b) */
    EPI_ADD,       /* Y = res + X W^T + b */
    EPI_ADD_LN,    /* Y = LN(res + X W^T + b) */
    EPI_ADD_AND_LN /* Y = res + X W^T + b, and ln_out = LN(Y) */
};

typedef struct {
    const float *X;   /* [R, in], leading dimension in */
    int64_t in;
    int n_out;
    fast_out o[3];
    int epi;          /* applied to o[0], whose rows hold d = o[0].out values */
    const float *res; /* residual [R, d] (leading dimension d) */
    float *ln_out;    /* [R, d] */
    const float *g, *b;
    float eps;
} fast_linear_job;

static void fast_linear_part(void *ctx, int64_t r0, int64_t r1, int part)
{
    const fast_linear_job *j = ctx;
    (void)part;
    if (r0 >= r1) return;
    for (int k = 0; k < j->n_out; k++) {
        const fast_out *o = &j->o[k];
        for (int64_t r = r0; r < r1; r++)
            memcpy(o->Y + r * o->ldy, o->bias, sizeof(float) * (size_t)o->out);
        /* inside a pool part mgv_sgemm runs on this thread alone */
        mgv_sgemm(0, 1, r1 - r0, o->out, j->in, 1.0f, j->X + r0 * j->in, j->in, o->W, j->in,
                  1.0f, o->Y + r0 * o->ldy, o->ldy);
    }
    const fast_out *o = &j->o[0];
    int64_t d = o->out;
    if (j->epi == EPI_GELU) {
        gelu_rows(o->Y + r0 * o->ldy, r1 - r0, d, o->ldy);
        return;
    }
    if (j->epi == EPI_NONE) return;
    for (int64_t r = r0; r < r1; r++) {
        float *y = o->Y + r * o->ldy;
        add_row(y, j->res + r * d, d);
        if (j->epi == EPI_ADD_LN) mgv_layer_norm_rows(y, y, NULL, 1, d, j->g, j->b, j->eps);
        else if (j->epi == EPI_ADD_AND_LN)
            mgv_layer_norm_rows(y, j->ln_out + r * d, NULL, 1, d, j->g, j->b, j->eps);
    }
}

/* Runs the job over R rows on the engine's threads. */
static void fast_linear(fast_linear_job *j, int64_t R)
{
    int64_t cols = 0;
    for (int k = 0; k < j->n_out; k++) cols += j->o[k].out;
    /* at least ~1 MFLOP per part: below that a thread costs more than it saves */
    int64_t min_part = (int64_t)(1e6 / ((double)j->in * (double)(cols ? cols : 1))) + 1;
    mgv_parallel_for(R, min_part, fast_linear_part, j);
}

typedef struct {
    const float *x;
    float *y;
    int64_t d;
    const float *g, *b;
    float eps;
} fast_ln_job;

static void fast_ln_part(void *ctx, int64_t r0, int64_t r1, int part)
{
    const fast_ln_job *j = ctx;
    (void)part;
    mgv_layer_norm_rows(j->x + r0 * j->d, j->y + r0 * j->d, NULL, r1 - r0, j->d, j->g, j->b,
                        j->eps);
}

typedef struct {
    const float *qkv;   /* [B, L, 3H] */
    float *ctx;         /* [B, L, H] */
    const float *pad;   /* [B, L] (1 = padded) or NULL */
    float *scratch;     /* ATT_QBLOCK x L per part */
    int64_t L, H, nh, dh;
    float scale;
} fast_attn_job;

static void fast_attn_part(void *c, int64_t p0, int64_t p1, int part)
{
    const fast_attn_job *j = c;
    int64_t L = j->L, H = j->H, ld = 3 * H;
    float *S = j->scratch + (int64_t)part * ATT_QBLOCK * L;
    for (int64_t p = p0; p < p1; p++) {
        int64_t b = p / j->nh, h = p % j->nh;
        const float *q = j->qkv + b * L * ld + h * j->dh, *k = q + H, *v = q + 2 * H;
        const float *pad = j->pad ? j->pad + b * L : NULL;
        float *out = j->ctx + b * L * H + h * j->dh;
        for (int64_t i0 = 0; i0 < L; i0 += ATT_QBLOCK) {
            int64_t n = L - i0 < ATT_QBLOCK ? L - i0 : ATT_QBLOCK;
            mgv_sgemm(0, 1, n, L, j->dh, j->scale, q + i0 * ld, ld, k, ld, 0.0f, S, L);
            mgv_softmax_rows(S, S, n, L, pad);
            mgv_sgemm(0, 0, n, j->dh, L, 1.0f, S, L, v, ld, 0.0f, out + i0 * H, H);
        }
    }
}

/* Whether the layer can take the fast path: no dropout, no tape, and every
 * tensor contiguous. */
static int fast_path_ok(const mgv_transformer_layer *ly, mgv_tensor *x, int training)
{
    const mgv_transformer_config *c = &ly->cfg;
    if (training && (c->hidden_dropout > 0 || c->attention_dropout > 0)) return 0;
    mgv_tensor *t[17] = {x,         ly->q_w,  ly->q_b,   ly->k_w,  ly->k_b, ly->v_w,
                         ly->v_b,   ly->o_w,  ly->o_b,   ly->ln1_g, ly->ln1_b, ly->i_w,
                         ly->i_b,   ly->f_w,  ly->f_b,   ly->ln2_g, ly->ln2_b};
    if (mgv_needs_grad(17, t)) return 0;
    for (int i = 1; i < 17; i++)
        if (!mgv_is_contiguous(t[i])) return 0;
    return 1;
}

/* The layer without a tape; pad [B, 1, 1, L] (1 = padded) or NULL. */
static mgv_tensor *layer_forward_fast(const mgv_transformer_layer *ly, mgv_tensor *x,
                                      mgv_tensor *pad)
{
    const mgv_transformer_config *c = &ly->cfg;
    int64_t B = x->shape[0], L = x->shape[1], H = c->hidden, I = c->intermediate;
    int64_t R = B * L, nh = c->heads, dh = H / nh;
    int64_t s_qkv[2] = {R, 3 * H}, s_h[2] = {R, H}, s_i[2] = {R, I};
    int post = ly->variant == MGV_TRANSFORMER_POST_LN;
    int parts = mgv_parallel_parts(B * nh, 1);
    int64_t s_scr[2] = {parts, ATT_QBLOCK * L};
    mgv_tensor *xc = mgv_contiguous_data(x), *y = mgv_empty(3, x->shape);
    mgv_tensor *qkv = mgv_empty(2, s_qkv), *ctx = mgv_empty(2, s_h), *h = mgv_empty(2, s_h);
    mgv_tensor *inter = mgv_empty(2, s_i), *scr = mgv_empty(2, s_scr);
    mgv_tensor *a = post ? NULL : mgv_empty(2, s_h);
    mgv_tensor *own[8] = {xc, qkv, ctx, h, inter, scr, a, NULL};
    if (!xc || !y || !qkv || !ctx || !h || !inter || !scr || (!post && !a)) {
        mgv_release(y);
        y = NULL;
        goto out;
    }
    const float *X = mgv_data(xc);
    float eps = c->layer_norm_eps;
    const float *in = X;
    if (!post) {   /* a = LN1(x) */
        fast_ln_job lj = {X, mgv_data(a), H, mgv_data(ly->ln1_g), mgv_data(ly->ln1_b), eps};
        mgv_parallel_for(R, 64, fast_ln_part, &lj);
        in = mgv_data(a);
    }
    float *QKV = mgv_data(qkv);
    fast_linear_job qj = {
        .X = in, .in = H, .n_out = 3, .epi = EPI_NONE,
        .o = {{mgv_data(ly->q_w), mgv_data(ly->q_b), H, QKV, 3 * H},
              {mgv_data(ly->k_w), mgv_data(ly->k_b), H, QKV + H, 3 * H},
              {mgv_data(ly->v_w), mgv_data(ly->v_b), H, QKV + 2 * H, 3 * H}}};
    fast_linear(&qj, R);

    fast_attn_job aj = {QKV, mgv_data(ctx), pad ? mgv_data(pad) : NULL, mgv_data(scr),
                        L, H, nh, dh, (float)(1.0 / sqrt((double)dh))};
    mgv_parallel_for(B * nh, 1, fast_attn_part, &aj);

    /* attention output: post-LN h = LN1(x + o); pre-LN h = x + o, a = LN2(h) */
    fast_linear_job oj = {
        .X = mgv_data(ctx), .in = H, .n_out = 1, .res = X,
        .o = {{mgv_data(ly->o_w), mgv_data(ly->o_b), H, mgv_data(h), H}}};
    if (post) {
        oj.epi = EPI_ADD_LN;
        oj.g = mgv_data(ly->ln1_g);
        oj.b = mgv_data(ly->ln1_b);
    } else {
        oj.epi = EPI_ADD_AND_LN;
        oj.ln_out = mgv_data(a);
        oj.g = mgv_data(ly->ln2_g);
        oj.b = mgv_data(ly->ln2_b);
    }
    oj.eps = eps;
    fast_linear(&oj, R);

    fast_linear_job ij = {
        .X = post ? mgv_data(h) : mgv_data(a), .in = H, .n_out = 1, .epi = EPI_GELU,
        .o = {{mgv_data(ly->i_w), mgv_data(ly->i_b), I, mgv_data(inter), I}}};
    fast_linear(&ij, R);

    /* FFN output: post-LN y = LN2(h + f); pre-LN y = h + f */
    fast_linear_job fj = {
        .X = mgv_data(inter), .in = I, .n_out = 1, .res = mgv_data(h),
        .epi = post ? EPI_ADD_LN : EPI_ADD,
        .o = {{mgv_data(ly->f_w), mgv_data(ly->f_b), H, mgv_data(y), H}},
        .g = post ? mgv_data(ly->ln2_g) : NULL, .b = post ? mgv_data(ly->ln2_b) : NULL,
        .eps = eps};
    fast_linear(&fj, R);
out:
    for (int i = 0; i < 8; i++) mgv_release(own[i]);
    if (y) MGV_PROFILE_OP("transformer_layer_fused");
    return y;
}

/* The layer on checked input x with the prepared padding tensor. */
static mgv_tensor *layer_forward(const mgv_transformer_layer *ly, mgv_tensor *x, mgv_tensor *pad,
                                 int training, mgv_rng *rng)
{
    mgv_scope scope = MGV_SCOPE("transformer"), *sc = &scope;
    const mgv_transformer_config *c = &ly->cfg;
    float eps = c->layer_norm_eps, hp = c->hidden_dropout;
    mgv_tensor *a, *f, *h, *out = NULL;
    if (fast_path_ok(ly, x, training)) return layer_forward_fast(ly, x, pad);
    if (ly->variant == MGV_TRANSFORMER_POST_LN) {
        MGV_TRY(sc, a, attention(ly, x, pad, training, rng));
        MGV_TRY(sc, a, maybe_dropout(a, hp, training, rng));
        MGV_TRY(sc, h, mgv_add(x, a));
        MGV_TRY(sc, h, mgv_layer_norm(h, ly->ln1_g, ly->ln1_b, eps));
        MGV_TRY(sc, f, feed_forward(ly, h));
        MGV_TRY(sc, f, maybe_dropout(f, hp, training, rng));
        MGV_TRY(sc, f, mgv_add(h, f));
        out = mgv_layer_norm(f, ly->ln2_g, ly->ln2_b, eps);
    } else {
        MGV_TRY(sc, a, mgv_layer_norm(x, ly->ln1_g, ly->ln1_b, eps));
        MGV_TRY(sc, a, attention(ly, a, pad, training, rng));
        MGV_TRY(sc, a, maybe_dropout(a, hp, training, rng));
        MGV_TRY(sc, h, mgv_add(x, a));
        MGV_TRY(sc, f, mgv_layer_norm(h, ly->ln2_g, ly->ln2_b, eps));
        MGV_TRY(sc, f, feed_forward(ly, f));
        MGV_TRY(sc, f, maybe_dropout(f, hp, training, rng));
        out = mgv_add(h, f);
    }
fail:
    mgv_scope_close(sc);
    return out;
}

mgv_tensor *mgv_transformer_layer_forward(const mgv_transformer_layer *layer, mgv_tensor *x,
                                          mgv_tensor *mask, int training, mgv_rng *rng)
{
    if (!layer || !layer->q_w) return mgv_fail_null("transformer: layer is not initialised");
    mgv_tensor *pad;
    if (prepare(&layer->cfg, x, mask, &pad) < 0) return NULL;
    if (!rng) rng = mgv_rng_global();
    mgv_tensor *y = layer_forward(layer, x, pad, training, rng);
    mgv_release(pad);
    return y;
}

/* ---- encoder ------------------------------------------------------------ */

int mgv_transformer_encoder_init(mgv_transformer_encoder *enc, mgv_paramset *ps,
                                 const char *prefix, int n_layers,
                                 const mgv_transformer_config *cfg,
                                 mgv_transformer_variant variant, mgv_rng *rng)
{
    memset(enc, 0, sizeof *enc);
    if (n_layers <= 0) return mgv_fail("transformer: %d layers (need at least 1)", n_layers);
    if (n_layers > 1024) return mgv_fail("transformer: %d layers (at most 1024)", n_layers);
    if (!prefix || !*prefix) return mgv_fail("transformer: empty parameter prefix");
    if (strlen(prefix) > 160) return mgv_fail("transformer: parameter prefix too long");
    enc->layers = calloc((size_t)n_layers, sizeof *enc->layers);
    if (!enc->layers) return mgv_fail("transformer: out of memory");
    for (int i = 0; i < n_layers; i++) {
        char name[200];
        snprintf(name, sizeof name, "%s.%d", prefix, i);
        if (mgv_transformer_layer_init(&enc->layers[i], ps, name, cfg, variant, rng) < 0) {
            mgv_transformer_encoder_free(enc);
            return -1;
        }
        enc->n_layers = i + 1;
    }
    return 0;
}

mgv_tensor *mgv_transformer_encoder_forward(const mgv_transformer_encoder *enc, mgv_tensor *x,
                                            mgv_tensor *mask, int training, mgv_rng *rng)
{
    if (!enc || enc->n_layers <= 0) return mgv_fail_null("transformer: encoder is not initialised");
    mgv_tensor *pad;
    if (prepare(&enc->layers[0].cfg, x, mask, &pad) < 0) return NULL;
    if (!rng) rng = mgv_rng_global();
    mgv_tensor *h = mgv_retain(x);
    const char *outer = mgv_profile_current_scope();
    for (int i = 0; i < enc->n_layers && h; i++) {
        if (mgv_profile_on) {   /* time by layer: "<outer scope>/layer i" */
            char name[200];
            snprintf(name, sizeof name, "%s%slayer %d", outer ? outer : "", outer ? "/" : "", i);
            mgv_profile_scope(name);
        }
        mgv_tensor *next = layer_forward(&enc->layers[i], h, pad, training, rng);
        if (!next) mgv_error_context("transformer layer %d", i);
        mgv_release(h);
        h = next;
    }
    mgv_profile_scope(outer);
    mgv_release(pad);
    return h;
}

void mgv_transformer_encoder_free(mgv_transformer_encoder *enc)
{
    free(enc->layers);
    memset(enc, 0, sizeof *enc);
}
