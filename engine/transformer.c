/*
 * transformer.c — self-attention encoder layers (see transformer.h).
 *
 * Everything is composed from autograd ops (linear, reshape/permute, matmul,
 * masked_fill, softmax, dropout, layer_norm, gelu, add), so the backward pass
 * comes for free. Intermediates are collected in a small scope and released
 * together at the end of a forward; the graph keeps what backward needs.
 */
#include "transformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgv.h"

/* ---- a scope of temporaries --------------------------------------------- */
#define TSCOPE_MAX 64
typedef struct {
    mgv_tensor *t[TSCOPE_MAX];
    int n;
} tscope;

/* Takes ownership of t (NULL passes through, the error is already set). */
static mgv_tensor *tkeep(tscope *s, mgv_tensor *t)
{
    if (!t) return NULL;
    if (s->n == TSCOPE_MAX) {
        mgv_release(t);
        return mgv_fail_null("transformer: too many temporaries");
    }
    s->t[s->n++] = t;
    return t;
}

static void tscope_close(tscope *s)
{
    for (int i = 0; i < s->n; i++) mgv_release(s->t[i]);
    s->n = 0;
}

/* var = expr, kept in the scope `sc`; jumps to fail on error. */
#define TRY(var, expr)                                   \
    do {                                                 \
        if (!((var) = tkeep(sc, (expr)))) goto fail;     \
    } while (0)

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
    tscope scope = {.n = 0}, *sc = &scope;
    const mgv_transformer_config *c = &ly->cfg;
    int64_t B = h->shape[0], L = h->shape[1], nh = c->heads, dh = c->hidden / c->heads;
    int64_t split[4] = {B, L, nh, dh}, merged[3] = {B, L, c->hidden};
    static const int to_heads[4] = {0, 2, 1, 3};   /* [B,L,nh,dh] <-> [B,nh,L,dh] */
    static const int to_keys_t[4] = {0, 2, 3, 1};  /* [B,L,nh,dh] -> [B,nh,dh,L] */
    mgv_tensor *q, *k, *v, *t, *s, *p, *ctx, *out = NULL;

    TRY(t, mgv_linear(h, ly->q_w, ly->q_b));
    TRY(t, mgv_scale(t, (float)(1.0 / sqrt((double)dh))));   /* scale q: fewer elements */
    TRY(t, mgv_reshape(t, 4, split));
    TRY(q, mgv_permute(t, to_heads));
    TRY(t, mgv_linear(h, ly->k_w, ly->k_b));
    TRY(t, mgv_reshape(t, 4, split));
    TRY(k, mgv_permute(t, to_keys_t));
    TRY(t, mgv_linear(h, ly->v_w, ly->v_b));
    TRY(t, mgv_reshape(t, 4, split));
    TRY(v, mgv_permute(t, to_heads));

    TRY(s, mgv_matmul(q, k));                                 /* [B, nh, L, L] */
    if (pad) TRY(s, mgv_masked_fill(s, pad, -INFINITY));
    TRY(p, mgv_softmax(s, -1));
    if (training && c->attention_dropout > 0)
        TRY(p, mgv_dropout(p, c->attention_dropout, training, rng));
    TRY(ctx, mgv_matmul(p, v));                               /* [B, nh, L, dh] */
    TRY(ctx, mgv_permute(ctx, to_heads));
    TRY(ctx, mgv_reshape(ctx, 3, merged));
    out = mgv_linear(ctx, ly->o_w, ly->o_b);
fail:
    tscope_close(sc);
    return out;
}

/* FFN(h) = W2 GELU(W1 h + b1) + b2. */
static mgv_tensor *feed_forward(const mgv_transformer_layer *ly, mgv_tensor *h)
{
    tscope scope = {.n = 0}, *sc = &scope;
    mgv_tensor *t, *out = NULL;
    TRY(t, mgv_linear(h, ly->i_w, ly->i_b));
    TRY(t, mgv_gelu(t));
    out = mgv_linear(t, ly->f_w, ly->f_b);
fail:
    tscope_close(sc);
    return out;
}

static mgv_tensor *maybe_dropout(mgv_tensor *x, float p, int training, mgv_rng *rng)
{
    if (training && p > 0) return mgv_dropout(x, p, training, rng);
    return mgv_retain(x);
}

/* The layer on checked input x with the prepared padding tensor. */
static mgv_tensor *layer_forward(const mgv_transformer_layer *ly, mgv_tensor *x, mgv_tensor *pad,
                                 int training, mgv_rng *rng)
{
    tscope scope = {.n = 0}, *sc = &scope;
    const mgv_transformer_config *c = &ly->cfg;
    float eps = c->layer_norm_eps, hp = c->hidden_dropout;
    mgv_tensor *a, *f, *h, *out = NULL;
    if (ly->variant == MGV_TRANSFORMER_POST_LN) {
        TRY(a, attention(ly, x, pad, training, rng));
        TRY(a, maybe_dropout(a, hp, training, rng));
        TRY(h, mgv_add(x, a));
        TRY(h, mgv_layer_norm(h, ly->ln1_g, ly->ln1_b, eps));
        TRY(f, feed_forward(ly, h));
        TRY(f, maybe_dropout(f, hp, training, rng));
        TRY(f, mgv_add(h, f));
        out = mgv_layer_norm(f, ly->ln2_g, ly->ln2_b, eps);
    } else {
        TRY(a, mgv_layer_norm(x, ly->ln1_g, ly->ln1_b, eps));
        TRY(a, attention(ly, a, pad, training, rng));
        TRY(a, maybe_dropout(a, hp, training, rng));
        TRY(h, mgv_add(x, a));
        TRY(f, mgv_layer_norm(h, ly->ln2_g, ly->ln2_b, eps));
        TRY(f, feed_forward(ly, f));
        TRY(f, maybe_dropout(f, hp, training, rng));
        out = mgv_add(h, f);
    }
fail:
    tscope_close(sc);
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
    for (int i = 0; i < enc->n_layers && h; i++) {
        mgv_tensor *next = layer_forward(&enc->layers[i], h, pad, training, rng);
        if (!next) mgv_error_context("transformer layer %d", i);
        mgv_release(h);
        h = next;
    }
    mgv_release(pad);
    return h;
}

void mgv_transformer_encoder_free(mgv_transformer_encoder *enc)
{
    free(enc->layers);
    memset(enc, 0, sizeof *enc);
}
