/* head.c — the MG-VMoE head (see head.h). Built from autograd ops; the VIB-MoE experts are one
 * fused op (ops_vmoe.h). */
#include "mgvmoe/head.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/scope.h"
#include "mgvmoe/model_options.h"
#include "mgvmoe/ops_vmoe.h"

mgv_head_config mgv_head_default_config(int d, int experts, int entity_dim, int label_dim,
                                        int proj)
{
    mgv_head_config c = {0};
    /* the head's options at the authors' values (model_options.h) */
#define REF_MODEL(field, v)
#define REF_HEAD(field, v) c.field = v;
#define SET_REF(name, at, field, kind, def, ref, known, help) REF_##at(field, ref)
    MGV_MODEL_OPTIONS(SET_REF)
#undef SET_REF
#undef REF_HEAD
#undef REF_MODEL
    c.d = d;
    c.experts = experts;
    c.entity_dim = entity_dim;
    c.label_dim = label_dim;
    c.proj = proj;
    c.margin = 1.0f;
    c.vat_eps = 1.0f;
    c.vat_xi = 1e-6f;
    c.vat_iters = 1;
    return c;
}

/* PyTorch's nn.Linear initialisation: U(+-1/sqrt(fan_in)), the bias too;
 * or Keras' Dense default (init 1): Glorot uniform, U(+-sqrt(6/(fan_in +
 * fan_out))), and a zero bias. */
static mgv_tensor *linear_param(mgv_head *h, const char *name, int out, int in)
{
    char wname[96], bname[96];
    snprintf(wname, sizeof wname, "%s.weight", name);
    snprintf(bname, sizeof bname, "%s.bias", name);
    int glorot = h->cfg.init == 1;
    float bound = glorot ? sqrtf(6.0f / (float)(in + out)) : 1.0f / sqrtf((float)in);
    int64_t ws[2] = {out, in}, bs[1] = {out};
    if (!mgv_params_new(&h->params, wname, 2, ws, bound, &h->rng)) return NULL;
    return mgv_params_new(&h->params, bname, 1, bs, glorot ? 0.0f : bound, &h->rng);
}

/* The score maps of the word-vector prior: zero, but the identity from the
 * first prior_identity entries of g (which follow h_x / h_l in the input)
 * to the first outputs; their initial values are kept for the decay. */
static int init_prior_maps(mgv_head *h)
{
    const mgv_head_config *c = &h->cfg;
    const char *names[2][2] = {{"score.x.weight", "score.x.bias"},
                               {"score.label.weight", "score.label.bias"}};
    int64_t offset[2] = {c->entity_dim + c->d, c->label_dim};
    for (int k = 0; k < 2; k++) {
        mgv_tensor *w = mgv_params_get(&h->params, names[k][0]);
        mgv_fill_(w, 0.0f);
        mgv_fill_(mgv_params_get(&h->params, names[k][1]), 0.0f);
        int64_t in = w->shape[1];
        float *wd = mgv_data(w);
        for (int64_t i = 0; i < c->prior_identity; i++) wd[i * in + offset[k] + i] = 1.0f;
        if (!(h->score_init[k] = mgv_clone_data(w))) return -1;
    }
    return 0;
}

int mgv_head_init(mgv_head *h, const mgv_head_config *cfg, uint64_t seed)
{
    memset(h, 0, sizeof *h);
    if (cfg->d <= 0 || cfg->experts <= 0 || cfg->entity_dim <= 0 || cfg->label_dim <= 0 ||
        cfg->proj <= 0)
        return mgv_fail("head: sizes must be positive (d %d, experts %d, entity %d, label %d, "
                        "proj %d)", cfg->d, cfg->experts, cfg->entity_dim, cfg->label_dim,
                        cfg->proj);
    if (cfg->dropout < 0 || cfg->dropout >= 1)
        return mgv_fail("head: dropout %g outside [0, 1)", cfg->dropout);
    if (cfg->init < 0 || cfg->init > 1 || cfg->label_dropout < 0 || cfg->label_dropout > 1)
        return mgv_fail("head: init and label_dropout are 0 or 1");
    h->cfg = *cfg;
    mgv_rng_seed(&h->rng, seed);
    mgv_params_init(&h->params);
    int d = cfg->d, K = cfg->experts;
    int ok = 1;
    if (cfg->use_vmoe) {
        ok = ok && linear_param(h, "vmoe.gate", K, d);
        ok = ok && linear_param(h, "vmoe.mu", K * d, d);
        ok = ok && linear_param(h, "vmoe.logvar", K * d, d);
    } else {
        ok = ok && linear_param(h, "vmoe.linear", d, d);
    }
    ok = ok && linear_param(h, "fuse", 1, cfg->entity_dim + d);
    if (cfg->prior_dim < 0 || cfg->prior_label_dim < 0 || cfg->prior_identity < 0 ||
        cfg->prior_identity > cfg->proj || cfg->prior_identity > cfg->prior_dim ||
        cfg->prior_identity > cfg->prior_label_dim || (cfg->prior_dim > 0) != (cfg->prior_label_dim > 0)) {
        mgv_head_free(h);
        return mgv_fail("head: prior sizes %d / %d / %d do not fit (proj %d)", cfg->prior_dim,
                        cfg->prior_label_dim, cfg->prior_identity, cfg->proj);
    }
    ok = ok && linear_param(h, "score.x", cfg->proj, cfg->entity_dim + d + cfg->prior_dim);
    ok = ok && linear_param(h, "score.label", cfg->proj, cfg->label_dim + cfg->prior_label_dim);
    if (ok && cfg->prior_dim > 0) ok = init_prior_maps(h) == 0;
    int64_t rs[2] = {1, 2 * (int64_t)d};
    h->r = ok ? mgv_zeros(2, rs) : NULL;
    if (!h->r) {
        mgv_head_free(h);
        return -1;
    }
    mgv_fill_uniform_(h->r, &h->rng, -0.05f, 0.05f);
    mgv_set_requires_grad(h->r, 1);
    return 0;
}

void mgv_head_free(mgv_head *h)
{
    mgv_params_free(&h->params);
    mgv_release(h->r);
    h->r = NULL;
    for (int k = 0; k < 2; k++) {
        mgv_release(h->score_init[k]);
        h->score_init[k] = NULL;
    }
}

void mgv_head_out_clear(mgv_head_out *o)
{
    mgv_tensor **f[] = {&o->scores, &o->loss, &o->l_rank, &o->l_vmoe, &o->l_nce, &o->l_mg,
                        &o->kl_text, &o->kl_image, &o->ent_text, &o->ent_image, &o->gate_text,
                        &o->gate_image, &o->usage_text, &o->usage_image, &o->o_text, &o->o_image, &o->attention, &o->graph,
                        &o->p, &o->p_tilde, &o->g, &o->l_prior, &o->in_text, &o->in_text_mask,
                        &o->in_image, &o->in_image_mask, &o->in_entity, &o->in_labels};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        mgv_release(*f[i]);
        *f[i] = NULL;
    }
}

/* sum(x * mask) / sum(mask): the mean over real tokens. mask has no grad. */
static mgv_tensor *masked_mean(mgv_scope *sc, mgv_tensor *x, mgv_tensor *mask)
{
    double count = 0;
    int64_t n = mgv_numel(mask);
    for (int64_t i = 0; i < n; i++) count += mgv_get_flat(mask, i);
    mgv_tensor *t = x;
    if (count > 0) MGV_TRY(sc, t, mgv_mul(x, mask));
    MGV_TRY(sc, t, mgv_sum_all(t));
    return mgv_keep(sc, mgv_scale(t, count > 0 ? (float)(1.0 / count) : 0.0f));
fail:
    return NULL;
}

/* The real tokens per sample of mask [B, N] -> [B, 1], at least 1: a sample
 * with no real tokens pools to zeros rather than NaN. */
static mgv_tensor *token_counts(mgv_scope *sc, mgv_tensor *mask)
{
    int ax1 = 1;
    mgv_tensor *den, *den_safe;
    MGV_TRY(sc, den, mgv_sum(mask, 1, &ax1, 1));
    MGV_TRY(sc, den_safe, mgv_clone_data(den));
    for (int64_t i = 0; i < mgv_numel(den_safe); i++)
        if (mgv_get_flat(den_safe, i) <= 0) mgv_set_flat(den_safe, i, 1.0f);
    return den_safe;
fail:
    return NULL;
}

/* Masked mean over tokens: o [B, N, d], mask [B, N] -> [B, d]. */
static mgv_tensor *pool_tokens(mgv_scope *sc, mgv_tensor *o, mgv_tensor *mask)
{
    mgv_tensor *num, *den;
    /* sum_n mask[b, n] o[b, n, :] as a batched product [B, 1, N] [B, N, d]:
     * no [B, N, d] temporary, and o may be a strided view */
    MGV_TRY(sc, num, mgv_unsqueeze(mask, 1));
    MGV_TRY(sc, num, mgv_matmul(num, o));
    MGV_TRY(sc, num, mgv_squeeze(num, 1));
    if (!(den = token_counts(sc, mask))) return NULL;
    return mgv_keep(sc, mgv_div(num, den));
fail:
    return NULL;
}

/* Row i of pooled sums [B, R, d] as the masked mean pool_tokens gives. */
static mgv_tensor *pooled_mean(mgv_scope *sc, mgv_tensor *sums, int i, mgv_tensor *mask)
{
    mgv_tensor *num, *den;
    MGV_TRY(sc, num, mgv_select(sums, 1, i));
    if (!(den = token_counts(sc, mask))) return NULL;
    return mgv_keep(sc, mgv_div(num, den));
fail:
    return NULL;
}

/* The VIB-MoE's results; modality 0 is text, 1 the image (all borrowed from
 * the scope). Tokens are stacked in fusion order: a sample's image tokens,
 * then its text tokens. */
typedef struct {
    mgv_tensor *O;         /* MoE outputs of all tokens [B, N, d]; NULL when pooled */
    mgv_tensor *H, *pi;    /* without O (pooled): the tokens [B, N, d] and gates [B, N, K] */
    mgv_tensor *M;         /* their mask [B, N] */
    mgv_tensor *mask[2];   /* a modality's mask spread over the N tokens (0 elsewhere) */
    mgv_tensor *o[2];      /* a modality's outputs [B, N_i, d] (views of O) */
    mgv_tensor *gate[2];   /* a modality's gates [B, N_i, K] (views) */
    mgv_tensor *kl[2], *ent[2];   /* masked means (with want_loss) */
} vmoe_result;

/* mask [B, n] placed at tokens off .. off + n - 1 of N, zeros elsewhere (no grad) */
static mgv_tensor *spread_mask(mgv_scope *sc, mgv_tensor *mask, int64_t N, int64_t off)
{
    int64_t B = mask->shape[0], n = mask->shape[1];
    mgv_tensor *m = mgv_keep(sc, mgv_zeros(2, (int64_t[]){B, N}));
    if (!m) return NULL;
    float *md = mgv_data(m);
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < n; j++) md[b * N + off + j] = mgv_get_flat(mask, b * n + j);
    return m;
}

/*
 * The VIB-MoE over the text and image tokens (one layer shared by both): the
 * tokens are stacked per sample in fusion order [image; text], so that the
 * gate and the experts are each one larger product and the fusion reads O
 * as it is. The KL and gate entropy per modality only with want_loss.
 */
static int vmoe_forward(mgv_head *hd, mgv_scope *sc, const mgv_head_batch *b, int sample,
                        int want_loss, int pooled, vmoe_result *res)
{
    const mgv_head_config *c = &hd->cfg;
    mgv_paramset *ps = &hd->params;
    int64_t d = c->d;
    memset(res, 0, sizeof *res);
    /* the parts in stacking order, and which modality each is */
    int n = c->text_only ? 1 : 2, which[2];
    mgv_tensor *hs[2], *ms[2], *ns[2];
    if (c->text_only) {
        which[0] = 0, hs[0] = b->text, ms[0] = b->text_mask, ns[0] = b->noise_text;
    } else {
        which[0] = 1, hs[0] = b->image, ms[0] = b->image_mask, ns[0] = b->noise_image;
        which[1] = 0, hs[1] = b->text, ms[1] = b->text_mask, ns[1] = b->noise_text;
    }
    mgv_tensor *h = hs[0];
    res->M = ms[0];
    if (n == 2) {
        MGV_TRY(sc, h, mgv_concat(n, hs, 1));
        MGV_TRY(sc, res->M, mgv_concat(n, ms, 1));
    }
    int64_t N = h->shape[1], off = 0;
    if (c->use_vmoe) {
        int given = (ns[0] != NULL) + (n == 2 && ns[1] != NULL);
        if (given && given != n) {
            mgv_fail("head: fixed noise given for some modalities only");
            goto fail;
        }
        mgv_tensor *eps = given ? ns[0] : NULL, *gate, *okl;
        if (given && n == 2) MGV_TRY(sc, eps, mgv_concat(n, ns, 1));
        MGV_TRY(sc, gate, mgv_linear(h, mgv_params_get(ps, "vmoe.gate.weight"),
                                     mgv_params_get(ps, "vmoe.gate.bias")));
        const mgv_head_routing *rt = &hd->route;
        if (rt->off) {   /* disabled experts: -inf logits, so the rest renormalise */
            mgv_tensor *off;
            MGV_TRY(sc, off, mgv_zeros(1, (int64_t[]){c->experts}));
            for (int k = 0; k < c->experts; k++) mgv_set_flat(off, k, rt->off[k] ? 1.0f : 0.0f);
            MGV_TRY(sc, gate, mgv_masked_fill(gate, off, -INFINITY));
        }
        MGV_TRY(sc, gate, mgv_softmax(gate, -1));
        if (rt->gates) {
            MGV_TRY(sc, gate, mgv_expand(rt->gates, gate->ndim, gate->shape));
            MGV_TRY(sc, gate, mgv_contiguous(gate));
        }
        res->H = h;
        res->pi = gate;
        /* the experts fused (ops_vmoe.h): [o, kl] per token, without
         * materialising sigma, z or large noise; the same as the reference's
         * linear -> reshape -> mu + exp(lv / 2) eps -> sum_k pi_k z_k and
         * gaussian_kl(mu, lv) */
        /* given the parts, only those that need it get an input gradient
         * (not fixed picture features) */
        /* pooled (evaluation): no per-token outputs; the callers pool
         * through the experts' weights (pooled_through) */
        if (pooled) okl = NULL;
        else MGV_TRY(sc, okl, mgv_vmoe_experts_cat(n, hs, gate, mgv_params_get(ps, "vmoe.mu.weight"),
                                              mgv_params_get(ps, "vmoe.mu.bias"),
                                              mgv_params_get(ps, "vmoe.logvar.weight"),
                                              mgv_params_get(ps, "vmoe.logvar.bias"), eps,
                                              (sample ? MGV_VMOE_SAMPLE : 0) |
                                                  (want_loss ? 0 : MGV_VMOE_NO_KL),
                                              &hd->rng, hd->reuse));
        if (okl) MGV_TRY(sc, res->O, mgv_slice(okl, -1, 0, d, 1));
        mgv_tensor *klcol = NULL, *ent_tok = NULL;
        if (want_loss) {
            int axl = -1;
            MGV_TRY(sc, klcol, mgv_select(okl, -1, d));
            /* a routed gate may be exactly 0: 0 log 0 counts as 0 */
            MGV_TRY(sc, ent_tok, rt->off || rt->gates ? mgv_add_scalar(gate, 1e-30f)
                                                      : mgv_retain(gate));
            MGV_TRY(sc, ent_tok, mgv_log(ent_tok));
            MGV_TRY(sc, ent_tok, mgv_mul(gate, ent_tok));
            MGV_TRY(sc, ent_tok, mgv_sum(ent_tok, 1, &axl, 0));
            MGV_TRY(sc, ent_tok, mgv_neg(ent_tok));
        }
        for (int i = 0; i < n; i++) {
            int m = which[i];
            int64_t Ni = hs[i]->shape[1];
            MGV_TRY(sc, res->gate[m], mgv_slice(gate, 1, off, off + Ni, 1));
            res->mask[m] = spread_mask(sc, ms[i], N, off);
            if (!res->mask[m]) goto fail;
            if (want_loss) {
                res->kl[m] = masked_mean(sc, klcol, res->mask[m]);
                res->ent[m] = masked_mean(sc, ent_tok, res->mask[m]);
                if (!res->kl[m] || !res->ent[m]) goto fail;
            }
            off += Ni;
        }
    } else {
        MGV_TRY(sc, res->O, mgv_linear(h, mgv_params_get(ps, "vmoe.linear.weight"),
                                       mgv_params_get(ps, "vmoe.linear.bias")));
        for (int i = 0; i < n; i++) {
            res->mask[which[i]] = spread_mask(sc, ms[i], N, off);
            if (!res->mask[which[i]]) goto fail;
            off += hs[i]->shape[1];
        }
    }
    off = 0;
    for (int i = 0; res->O && i < n; i++) {   /* views for inspection */
        int64_t Ni = hs[i]->shape[1];
        MGV_TRY(sc, res->o[which[i]], mgv_slice(res->O, 1, off, off + Ni, 1));
        off += Ni;
    }
    return 0;
fail:
    return -1;
}

/*
 * Evaluation without per-token outputs: with z = mu, o_t = sum_k pi_tk (W_k
 * h_t + b_k) is linear in h_t, and all that reads o is linear in it, so
 * the experts' d x d products can follow the pooling over tokens instead of
 * preceding it: K products per pooled row rather than per token.
 * pooled_logits: o_t . w for w [1, d], as sum_k pi_tk (h_t . W_k^T w + b_k . w)
 * -> [B, N]. pooled_through: sum_t w_rt o_t for weights w [B, R, N], as
 * sum_k W_k (sum_t w_rt pi_tk h_t) + sum_k (sum_t w_rt pi_tk) b_k -> [B, R, d].
 */
static int expert_weights(mgv_head *hd, mgv_scope *sc, mgv_tensor **W, mgv_tensor **bias)
{
    int64_t K = hd->cfg.experts, d = hd->cfg.d;
    mgv_paramset *ps = &hd->params;
    MGV_TRY(sc, *W, mgv_reshape(mgv_params_get(ps, "vmoe.mu.weight"), 3, (int64_t[]){K, d, d}));
    MGV_TRY(sc, *bias, mgv_reshape(mgv_params_get(ps, "vmoe.mu.bias"), 2, (int64_t[]){K, d}));
    return 0;
fail:
    return -1;
}

static mgv_tensor *pooled_logits(mgv_head *hd, mgv_scope *sc, const vmoe_result *r,
                                 mgv_tensor *w)
{
    int64_t K = hd->cfg.experts, d = hd->cfg.d;
    int axl = -1;
    mgv_tensor *W, *bias, *u, *cb, *t;
    if (expert_weights(hd, sc, &W, &bias) < 0) return NULL;
    MGV_TRY(sc, u, mgv_matmul(w, W));                      /* W_k^T w: [K, 1, d] */
    MGV_TRY(sc, u, mgv_reshape(u, 2, (int64_t[]){K, d}));
    MGV_TRY(sc, t, mgv_transpose(w, 0, 1));
    MGV_TRY(sc, cb, mgv_matmul(bias, t));                  /* b_k . w: [K, 1] */
    MGV_TRY(sc, cb, mgv_reshape(cb, 1, (int64_t[]){K}));
    MGV_TRY(sc, t, mgv_linear(r->H, u, cb));               /* [B, N, K] */
    MGV_TRY(sc, t, mgv_mul(t, r->pi));
    return mgv_keep(sc, mgv_sum(t, 1, &axl, 0));
fail:
    return NULL;
}

static mgv_tensor *pooled_through(mgv_head *hd, mgv_scope *sc, const vmoe_result *r,
                                  mgv_tensor *w)
{
    int64_t K = hd->cfg.experts, d = hd->cfg.d;
    int64_t B = w->shape[0], R = w->shape[1], N = w->shape[2];
    int axl = -1, ax0 = 0;
    mgv_tensor *W, *bias, *q, *a, *y, *t;
    if (expert_weights(hd, sc, &W, &bias) < 0) return NULL;
    /* q[b, r, k, t] = w_rt pi_tk */
    MGV_TRY(sc, q, mgv_unsqueeze(w, 2));
    MGV_TRY(sc, t, mgv_transpose(r->pi, 1, 2));
    MGV_TRY(sc, t, mgv_unsqueeze(t, 1));
    MGV_TRY(sc, q, mgv_mul(q, t));
    MGV_TRY(sc, q, mgv_reshape(q, 3, (int64_t[]){B, R * K, N}));
    MGV_TRY(sc, t, mgv_matmul(q, r->H));                   /* [B, R K, d] */
    MGV_TRY(sc, t, mgv_reshape(t, 3, (int64_t[]){B * R, K, d}));
    MGV_TRY(sc, t, mgv_transpose(t, 0, 1));
    MGV_TRY(sc, y, mgv_transpose(W, 1, 2));
    MGV_TRY(sc, y, mgv_matmul(t, y));                      /* [K, B R, d] */
    MGV_TRY(sc, y, mgv_sum(y, 1, &ax0, 0));
    MGV_TRY(sc, a, mgv_sum(q, 1, &axl, 0));
    MGV_TRY(sc, a, mgv_reshape(a, 2, (int64_t[]){B * R, K}));
    MGV_TRY(sc, a, mgv_matmul(a, bias));
    MGV_TRY(sc, y, mgv_add(y, a));
    return mgv_keep(sc, mgv_reshape(y, 3, (int64_t[]){B, R, d}));
fail:
    return NULL;
}

/* x / (|x| + eps) row by row (the last axis) */
static mgv_tensor *unit_rows(mgv_scope *sc, mgv_tensor *x, float eps)
{
    mgv_tensor *t;
    MGV_TRY(sc, t, mgv_l2_norm(x, -1, 1));
    MGV_TRY(sc, t, mgv_add_scalar(t, eps));
    return mgv_keep(sc, mgv_div(x, t));
fail:
    return NULL;
}

/* log p = log softmax([<g, G g>, <g, (1 - G) g>]) per node: [B, 2]. */
static mgv_tensor *graph_logp(mgv_scope *sc, mgv_tensor *g, mgv_tensor *G)
{
    int axl = -1;
    mgv_tensor *Gg[2], *pn[2], *t;
    MGV_TRY(sc, Gg[0], mgv_matmul(G, g));
    MGV_TRY(sc, t, mgv_neg(G));
    MGV_TRY(sc, t, mgv_add_scalar(t, 1.0f));   /* 1 - G */
    MGV_TRY(sc, Gg[1], mgv_matmul(t, g));
    for (int k = 0; k < 2; k++) {
        MGV_TRY(sc, t, mgv_mul(g, Gg[k]));
        MGV_TRY(sc, pn[k], mgv_sum(t, 1, &axl, 1));
    }
    MGV_TRY(sc, t, mgv_concat(2, pn, 1));
    return mgv_keep(sc, mgv_log_softmax(t, -1));
fail:
    return NULL;
}

/* G_ij = (cos(g_i, g_j) + 1) / 2. */
static mgv_tensor *batch_graph(mgv_scope *sc, mgv_tensor *g)
{
    mgv_tensor *gn, *t;
    if (!(gn = unit_rows(sc, g, 1e-12f))) return NULL;
    MGV_TRY(sc, t, mgv_transpose(gn, 0, 1));
    MGV_TRY(sc, t, mgv_matmul(gn, t));
    MGV_TRY(sc, t, mgv_add_scalar(t, 1.0f));
    return mgv_keep(sc, mgv_scale(t, 0.5f));
fail:
    return NULL;
}

/* MG-VAT's divergence mean_i KL(p_i || p~_i), p~ from the nodes g moved by
 * r in the same graph G; *logq gets log p~ (borrowed from the scope). */
static mgv_tensor *graph_divergence(mgv_scope *sc, mgv_tensor *g, mgv_tensor *r, mgv_tensor *G,
                                    mgv_tensor *logp, mgv_tensor **logq)
{
    mgv_tensor *t;
    MGV_TRY(sc, t, mgv_add(g, r));
    if (!(*logq = graph_logp(sc, t, G))) return NULL;
    MGV_TRY(sc, t, mgv_kl_categorical(logp, *logq, -1));
    return mgv_keep(sc, mgv_mean_all(t));
fail:
    return NULL;
}

/* Classic VAT (Miyato et al.): per-node r from power iteration on
 * KL(p || p(g + r)) with p and G held fixed; returns r_adv [B, 2d] (no grad). */
static mgv_tensor *vat_power_r(mgv_scope *sc, mgv_tensor *g, mgv_tensor *G, mgv_tensor *logp,
                               float xi, float eps, int iters, mgv_rng *rng)
{
    int prev = mgv_set_grad_enabled(1);
    mgv_tensor *gd, *Gd, *lpd, *dvec, *dn, *t;
    MGV_TRY(sc, gd, mgv_detach(g));
    MGV_TRY(sc, Gd, mgv_detach(G));
    MGV_TRY(sc, lpd, mgv_detach(logp));
    MGV_TRY(sc, dvec, mgv_randn(g->ndim, g->shape, rng));
    for (int it = 0; it < iters; it++) {
        mgv_tensor *leaf, *lq;
        if (!(dn = unit_rows(sc, dvec, 1e-12f))) goto fail;
        MGV_TRY(sc, t, mgv_scale(dn, xi));
        MGV_TRY(sc, leaf, mgv_clone_data(t));
        mgv_set_requires_grad(leaf, 1);
        MGV_TRY(sc, t, mgv_add(gd, leaf));
        if (!(lq = graph_logp(sc, t, Gd))) goto fail;
        MGV_TRY(sc, t, mgv_kl_categorical(lpd, lq, -1));
        MGV_TRY(sc, t, mgv_mean_all(t));
        if (mgv_backward(t, NULL) < 0) goto fail;
        MGV_TRY(sc, dvec, leaf->grad ? mgv_clone_data(leaf->grad) : mgv_zeros_like(leaf));
    }
    mgv_set_grad_enabled(prev);
    if (!(dn = unit_rows(sc, dvec, 1e-12f))) return NULL;
    return mgv_keep(sc, mgv_scale(dn, eps));
fail:
    mgv_set_grad_enabled(prev);
    return NULL;
}

static int check_batch(const mgv_head *h, const mgv_head_batch *b)
{
    char s1[96], s2[96];
    const mgv_head_config *c = &h->cfg;
    if (!b->text || !b->text_mask || !b->entity || (!b->labels && !b->nodes_only))
        return mgv_fail("head: batch needs text, text_mask, entity and labels");
    if (b->text->ndim != 3 || b->text->shape[2] != c->d)
        return mgv_fail("head: text tokens %s, expected [B x L x %d]",
                        mgv_shape_str(b->text, s1, sizeof s1), c->d);
    int64_t B = b->text->shape[0];
    if (b->text_mask->ndim != 2 || b->text_mask->shape[0] != B ||
        b->text_mask->shape[1] != b->text->shape[1])
        return mgv_fail("head: text mask %s does not fit text %s",
                        mgv_shape_str(b->text_mask, s1, sizeof s1),
                        mgv_shape_str(b->text, s2, sizeof s2));
    if (!c->text_only) {
        if (!b->image || !b->image_mask)
            return mgv_fail("head: batch needs image tokens and mask (or a text-only head)");
        if (b->image->ndim != 3 || b->image->shape[0] != B || b->image->shape[2] != c->d)
            return mgv_fail("head: image tokens %s, expected [%lld x P x %d]",
                            mgv_shape_str(b->image, s1, sizeof s1), (long long)B, c->d);
        if (b->image_mask->ndim != 2 || b->image_mask->shape[0] != B ||
            b->image_mask->shape[1] != b->image->shape[1])
            return mgv_fail("head: image mask %s does not fit image %s",
                            mgv_shape_str(b->image_mask, s1, sizeof s1),
                            mgv_shape_str(b->image, s2, sizeof s2));
    }
    if (b->entity->ndim != 2 || b->entity->shape[0] != B || b->entity->shape[1] != c->entity_dim)
        return mgv_fail("head: entity feature %s, expected [%lld x %d]",
                        mgv_shape_str(b->entity, s1, sizeof s1), (long long)B, c->entity_dim);
    if (b->nodes_only) return 0;
    if (b->labels->ndim != 2 || b->labels->shape[1] != c->label_dim || b->labels->shape[0] < 1)
        return mgv_fail("head: label embeddings %s, expected [C x %d]",
                        mgv_shape_str(b->labels, s1, sizeof s1), c->label_dim);
    if (c->prior_dim > 0) {
        if (!b->prior || b->prior->ndim != 2 || b->prior->shape[0] != B ||
            b->prior->shape[1] != c->prior_dim)
            return mgv_fail("head: prior features %s, expected [%lld x %d]",
                            b->prior ? mgv_shape_str(b->prior, s1, sizeof s1) : "missing",
                            (long long)B, c->prior_dim);
        if (!b->prior_labels || b->prior_labels->ndim != 2 ||
            b->prior_labels->shape[0] != b->labels->shape[0] ||
            b->prior_labels->shape[1] != c->prior_label_dim)
            return mgv_fail("head: label prior features %s, expected [%lld x %d]",
                            b->prior_labels ? mgv_shape_str(b->prior_labels, s1, sizeof s1)
                                            : "missing",
                            (long long)b->labels->shape[0], c->prior_label_dim);
    }
    if (b->target) {
        int64_t C = b->labels->shape[0];
        for (int64_t i = 0; i < B; i++)
            if (b->target[i] < 0 || b->target[i] >= C)
                return mgv_fail("head: target %lld of sample %lld outside the %lld labels",
                                (long long)b->target[i], (long long)i, (long long)C);
    }
    return 0;
}

int mgv_head_forward(mgv_head *h, const mgv_head_batch *b, int training, mgv_head_out *out)
{
    memset(out, 0, sizeof *out);
    if (check_batch(h, b) < 0) return -1;
    const mgv_head_config *c = &h->cfg;
    mgv_paramset *ps = &h->params;
    mgv_scope scv = MGV_SCOPE("head"), *sc = &scv;
    int sample = training || c->sample_eval;
    int text_only = c->text_only;
    int64_t B = b->text->shape[0], d = c->d;
    mgv_tensor *t;

    int want_loss = b->target != NULL && !b->nodes_only;
    /* evaluation without a tape pools through the experts (pooled_through)
     * unless the caller wants the per-token outputs */
    int pooled = c->use_vmoe && !sample && !want_loss && !h->token_outputs && !b->noise_text &&
                 !b->noise_image && !b->nodes_only && !mgv_grad_enabled();
    vmoe_result r;
    mgv_tensor *sums = NULL, *scores = NULL;
    if (vmoe_forward(h, sc, b, sample, want_loss, pooled, &r) < 0) goto fail;
    mgv_tensor *O = r.O;
    if (b->nodes_only) goto nodes;

    /* fusion: attention over [O_v; O_t] pooled by the entity, padding masked */
    mgv_tensor *M = r.M;
    /* the reference's logit [h_e; o_n] W^T + b, split as o_n W_o^T + (h_e W_e^T + b):
     * the entity part once per sample, without the [B, N, DE + d] input */
    mgv_tensor *fw = mgv_params_get(ps, "fuse.weight");
    int64_t DE = c->entity_dim;
    mgv_tensor *w_e, *w_o, *l_o, *l_e, *pad, *att, *h_mm, *h_x;
    MGV_TRY(sc, w_e, mgv_slice(fw, 1, 0, DE, 1));
    MGV_TRY(sc, w_o, mgv_slice(fw, 1, DE, DE + d, 1));
    if (!O) {
        if (!(l_o = pooled_logits(h, sc, &r, w_o))) goto fail;
    } else {
        MGV_TRY(sc, l_o, mgv_linear(O, w_o, NULL));
        MGV_TRY(sc, l_o, mgv_squeeze(l_o, -1));                                    /* [B, N] */
    }
    MGV_TRY(sc, l_e, mgv_linear(b->entity, w_e, mgv_params_get(ps, "fuse.bias"))); /* [B, 1] */
    MGV_TRY(sc, t, mgv_add(l_o, l_e));
    MGV_TRY(sc, pad, mgv_neg(M));
    MGV_TRY(sc, pad, mgv_add_scalar(pad, 1.0f));   /* 1 where padding */
    MGV_TRY(sc, t, mgv_masked_fill(t, pad, -INFINITY));
    MGV_TRY(sc, att, mgv_softmax(t, 1));
    /* pooled: the attention's and the modalities' sums of o in one pass,
     * rows [att; text mask; image mask] */
    if (!O) {
        mgv_tensor *ws[3];
        int nw = text_only ? 2 : 3;
        for (int i = 0; i < nw; i++) MGV_TRY(sc, ws[i], mgv_unsqueeze(i ? r.mask[i - 1] : att, 1));
        MGV_TRY(sc, sums, mgv_concat(nw, ws, 1));
        if (!(sums = pooled_through(h, sc, &r, sums))) goto fail;
        MGV_TRY(sc, h_mm, mgv_select(sums, 1, 0));
    } else {
        /* h_mm = sum_n att[b, n] O[b, n, :], a batched product [B, 1, N] [B, N, d] */
        MGV_TRY(sc, h_mm, mgv_unsqueeze(att, 1));
        MGV_TRY(sc, h_mm, mgv_matmul(h_mm, O));
        MGV_TRY(sc, h_mm, mgv_squeeze(h_mm, 1));
    }
    mgv_tensor *hx_parts[2] = {h_mm, b->entity};
    MGV_TRY(sc, h_x, mgv_concat(2, hx_parts, -1));

    /* zero-shot bilinear scores (or the prior's scaled cosine) */
    float p_drop = training ? c->dropout : 0.0f;
    mgv_tensor *x_in, *l_in, *ex, *el;
    /* per sample: every sample sees its own copy of the labels [B, C, DL]
     * under its own mask (MRE/model.py:83, :89), so the label side and the
     * scores are batched */
    int per_sample = training && p_drop > 0 && c->label_dropout == 1;
    mgv_tensor *labels = b->labels, *prior_labels = b->prior_labels;
    if (per_sample) {
        int64_t C = labels->shape[0], ls[3] = {B, C, labels->shape[1]};
        MGV_TRY(sc, labels, mgv_expand(labels, 3, ls));
        MGV_TRY(sc, labels, mgv_contiguous(labels));
        if (prior_labels) {
            int64_t ps3[3] = {B, C, prior_labels->shape[1]};
            MGV_TRY(sc, prior_labels, mgv_expand(prior_labels, 3, ps3));
            MGV_TRY(sc, prior_labels, mgv_contiguous(prior_labels));
        }
    }
    MGV_TRY(sc, x_in, mgv_dropout(h_x, p_drop, training, &h->rng));
    MGV_TRY(sc, l_in, mgv_dropout(labels, p_drop, training, &h->rng));
    if (c->prior_dim > 0) {
        mgv_tensor *xp[2] = {x_in, b->prior}, *lp[2] = {l_in, prior_labels};
        MGV_TRY(sc, x_in, mgv_concat(2, xp, -1));
        MGV_TRY(sc, l_in, mgv_concat(2, lp, -1));
    }
    MGV_TRY(sc, ex, mgv_linear(x_in, mgv_params_get(ps, "score.x.weight"),
                               mgv_params_get(ps, "score.x.bias")));
    MGV_TRY(sc, el, mgv_linear(l_in, mgv_params_get(ps, "score.label.weight"),
                               mgv_params_get(ps, "score.label.bias")));
    if (c->prior_dim > 0) {
        /* unit rows (a zero row stays zero), then tau times their products */
        if (!(ex = unit_rows(sc, ex, 1e-6f)) || !(el = unit_rows(sc, el, 1e-6f))) goto fail;
        MGV_TRY(sc, ex, mgv_scale(ex, c->tau));
    }
    if (per_sample) {
        /* [B, 1, proj] [B, proj, C] -> [B, C] */
        MGV_TRY(sc, ex, mgv_unsqueeze(ex, 1));
        MGV_TRY(sc, t, mgv_transpose(el, 1, 2));
        MGV_TRY(sc, scores, mgv_matmul(ex, t));
        MGV_TRY(sc, scores, mgv_squeeze(scores, 1));
    } else {
        MGV_TRY(sc, t, mgv_transpose(el, 0, 1));
        MGV_TRY(sc, scores, mgv_matmul(ex, t));
    }
    out->scores = mgv_retain(scores);
    out->in_text = mgv_retain(b->text);
    out->in_text_mask = mgv_retain(b->text_mask);
    out->in_image = text_only ? NULL : mgv_retain(b->image);
    out->in_image_mask = text_only ? NULL : mgv_retain(b->image_mask);
    out->in_entity = mgv_retain(b->entity);
    out->in_labels = mgv_retain(b->labels);
    out->attention = mgv_retain(att);
    out->o_text = mgv_retain(r.o[0]);
    if (r.gate[0]) {
        out->gate_text = mgv_retain(r.gate[0]);
        mgv_tensor *u = pool_tokens(sc, r.gate[0], b->text_mask);
        if (!u) goto fail;
        out->usage_text = mgv_retain(u);
    }
    if (!text_only) {
        out->o_image = mgv_retain(r.o[1]);
        if (r.gate[1]) {
            out->gate_image = mgv_retain(r.gate[1]);
            mgv_tensor *u = pool_tokens(sc, r.gate[1], b->image_mask);
            if (!u) goto fail;
            out->usage_image = mgv_retain(u);
        }
    }

    /* the graph and p are cheap and worth seeing even without a target;
     * pooled over all of O with a modality's spread mask (no views of O
     * on the tape) */
nodes:;
    mgv_tensor *t_pool = O ? pool_tokens(sc, O, r.mask[0]) : pooled_mean(sc, sums, 1, r.mask[0]);
    if (!t_pool) goto fail;
    mgv_tensor *v_pool = NULL, *g = NULL, *G = NULL, *logp = NULL;
    if (!text_only) {
        v_pool = O ? pool_tokens(sc, O, r.mask[1]) : pooled_mean(sc, sums, 2, r.mask[1]);
        if (!v_pool) goto fail;
        mgv_tensor *gv[2] = {v_pool, t_pool};
        MGV_TRY(sc, g, mgv_concat(2, gv, -1));
        G = batch_graph(sc, g);
        if (!G) goto fail;
        logp = graph_logp(sc, g, G);
        if (!logp) goto fail;
        out->g = mgv_retain(g);
        out->graph = mgv_retain(G);
        out->p = mgv_exp(logp);
        if (!out->p) goto fail;
    }

    if (!want_loss) {
        mgv_scope_close(sc);
        return 0;
    }

    /* losses */
    mgv_tensor *l_rank, *aux, *total;
    MGV_TRY(sc, l_rank, mgv_margin_ranking(scores, b->target, c->margin));
    MGV_TRY(sc, aux, mgv_scalar(0.0f));
    if (c->use_vmoe) {
        mgv_tensor *lvm;
        MGV_TRY(sc, lvm, mgv_add(r.kl[0], r.ent[0]));
        if (!text_only) {
            MGV_TRY(sc, t, mgv_add(r.kl[1], r.ent[1]));
            MGV_TRY(sc, t, mgv_add(lvm, t));
            MGV_TRY(sc, lvm, mgv_scale(t, 0.5f));
        }
        out->l_vmoe = mgv_retain(lvm);
        out->kl_text = mgv_retain(r.kl[0]);
        out->ent_text = mgv_retain(r.ent[0]);
        if (!text_only) {
            out->kl_image = mgv_retain(r.kl[1]);
            out->ent_image = mgv_retain(r.ent[1]);
        }
        MGV_TRY(sc, t, mgv_scale(lvm, c->vmoe_weight));
        MGV_TRY(sc, aux, mgv_add(aux, t));
    }
    if (!text_only && c->use_nce) {
        mgv_tensor *logits, *ce[2], *nce;
        MGV_TRY(sc, t, mgv_transpose(v_pool, 0, 1));
        MGV_TRY(sc, logits, mgv_matmul(t_pool, t));
        int64_t *eye = malloc(sizeof(int64_t) * (size_t)B);
        if (!eye) {
            mgv_fail("head: out of memory");
            goto fail;
        }
        for (int64_t i = 0; i < B; i++) eye[i] = i;
        ce[0] = mgv_keep(sc, mgv_cross_entropy(logits, eye));
        t = ce[0] ? mgv_keep(sc, mgv_transpose(logits, 0, 1)) : NULL;
        ce[1] = t ? mgv_keep(sc, mgv_cross_entropy(t, eye)) : NULL;
        free(eye);
        if (!ce[1]) goto fail;
        MGV_TRY(sc, nce, mgv_add(ce[0], ce[1]));
        MGV_TRY(sc, nce, mgv_scale(nce, 0.5f));
        out->l_nce = mgv_retain(nce);
        MGV_TRY(sc, aux, mgv_add(aux, nce));
    }
    if (!text_only && c->use_mg) {
        mgv_tensor *rv = h->r, *logq, *mg;
        if (c->vat_mode == MGV_VAT_POWER &&
            !(rv = vat_power_r(sc, g, G, logp, c->vat_xi, c->vat_eps, c->vat_iters, &h->rng)))
            goto fail;
        if (!(mg = graph_divergence(sc, g, rv, G, logp, &logq))) goto fail;
        out->l_mg = mgv_retain(mg);
        out->p_tilde = mgv_exp(logq);
        if (!out->p_tilde) goto fail;
        MGV_TRY(sc, aux, mgv_add(aux, mg));
    }
    MGV_TRY(sc, t, mgv_scale(aux, c->beta));
    MGV_TRY(sc, total, mgv_add(l_rank, t));
    if (c->prior_dim > 0 && c->prior_decay > 0) {
        const char *wn[2] = {"score.x.weight", "score.label.weight"};
        mgv_tensor *reg;
        MGV_TRY(sc, reg, mgv_scalar(0.0f));
        for (int k = 0; k < 2; k++) {
            MGV_TRY(sc, t, mgv_sub(mgv_params_get(ps, wn[k]), h->score_init[k]));
            MGV_TRY(sc, t, mgv_mul(t, t));
            MGV_TRY(sc, t, mgv_sum_all(t));
            MGV_TRY(sc, reg, mgv_add(reg, t));
        }
        MGV_TRY(sc, reg, mgv_scale(reg, c->prior_decay));
        out->l_prior = mgv_retain(reg);
        MGV_TRY(sc, total, mgv_add(total, reg));
    }
    out->l_rank = mgv_retain(l_rank);
    out->loss = mgv_retain(total);
    mgv_scope_close(sc);
    return 0;
fail:
    mgv_scope_close(sc);
    mgv_head_out_clear(out);
    return -1;
}

int mgv_head_perturb_step(mgv_head *h, mgv_tensor *g, mgv_optim *opt, double *objective)
{
    if (h->cfg.text_only || !h->cfg.use_mg || h->cfg.vat_mode != MGV_VAT_LEARNED) return 0;
    return mgv_vat_perturb_step(h->r, g, NULL, opt, objective);
}

/* ---- graph-VAT routines on their own ---------------------------------------- */

/* g [B, D], G [B, B] (when given) and r broadcasting to g (when given) */
static int check_nodes(const char *op, mgv_tensor *g, mgv_tensor *G, mgv_tensor *r)
{
    char s1[96], s2[96];
    if (g->ndim != 2) return mgv_fail("%s: node vectors %s, expected [B x D]", op,
                                      mgv_shape_str(g, s1, sizeof s1));
    if (G && (G->ndim != 2 || G->shape[0] != g->shape[0] || G->shape[1] != g->shape[0]))
        return mgv_fail("%s: graph %s does not fit node vectors %s (expected [%lld x %lld])", op,
                        mgv_shape_str(G, s1, sizeof s1), mgv_shape_str(g, s2, sizeof s2),
                        (long long)g->shape[0], (long long)g->shape[0]);
    if (r && (r->ndim > 2 || r->shape[r->ndim - 1] != g->shape[1] ||
              (r->ndim == 2 && r->shape[0] != 1 && r->shape[0] != g->shape[0])))
        return mgv_fail("%s: perturbation %s does not fit node vectors %s", op,
                        mgv_shape_str(r, s1, sizeof s1), mgv_shape_str(g, s2, sizeof s2));
    return 0;
}

mgv_tensor *mgv_vat_graph(mgv_tensor *g)
{
    if (check_nodes("vat.graph", g, NULL, NULL) < 0) return NULL;
    mgv_scope scv = MGV_SCOPE("vat"), *sc = &scv;
    mgv_tensor *G = mgv_retain(batch_graph(sc, g));
    mgv_scope_close(sc);
    return G;
}

mgv_tensor *mgv_vat_logp(mgv_tensor *g, mgv_tensor *G, mgv_tensor *r)
{
    if (check_nodes("vat.probs", g, G, r) < 0) return NULL;
    mgv_scope scv = MGV_SCOPE("vat"), *sc = &scv;
    mgv_tensor *x = g, *lp = NULL;
    if (!r || (x = mgv_keep(sc, mgv_add(g, r)))) lp = mgv_retain(graph_logp(sc, x, G));
    mgv_scope_close(sc);
    return lp;
}

mgv_tensor *mgv_vat_loss(mgv_tensor *g, mgv_tensor *G, mgv_tensor *r)
{
    if (check_nodes("vat.loss", g, G, r) < 0) return NULL;
    if (!r) return mgv_fail_null("vat.loss: a perturbation r is needed");
    mgv_scope scv = MGV_SCOPE("vat"), *sc = &scv;
    mgv_tensor *logp = graph_logp(sc, g, G), *logq, *mg = NULL;
    if (logp) mg = mgv_retain(graph_divergence(sc, g, r, G, logp, &logq));
    mgv_scope_close(sc);
    return mg;
}

mgv_tensor *mgv_vat_power(mgv_tensor *g, mgv_tensor *G, float xi, float eps, int iters,
                          mgv_rng *rng)
{
    if (check_nodes("vat.power", g, G, NULL) < 0) return NULL;
    if (iters < 1) return mgv_fail_null("vat.power: iters %d must be at least 1", iters);
    mgv_scope scv = MGV_SCOPE("vat"), *sc = &scv;
    mgv_tensor *logp = graph_logp(sc, g, G), *r = NULL;
    if (logp) r = mgv_retain(vat_power_r(sc, g, G, logp, xi, eps, iters, rng ? rng : mgv_rng_global()));
    mgv_scope_close(sc);
    return r;
}

int mgv_vat_perturb_step(mgv_tensor *r, mgv_tensor *g, mgv_tensor *G, mgv_optim *opt,
                         double *objective)
{
    if (check_nodes("vat.perturbation", g, G, r) < 0) return -1;
    mgv_scope scv = MGV_SCOPE("vat"), *sc = &scv;
    int prev = mgv_set_grad_enabled(1);
    mgv_tensor *gd, *Gd, *logp, *logq, *mg, *obj;
    MGV_TRY(sc, gd, mgv_detach(g));
    if (G) MGV_TRY(sc, Gd, mgv_detach(G));
    else if (!(Gd = batch_graph(sc, gd))) goto fail;
    if (!(logp = graph_logp(sc, gd, Gd)) || !(mg = graph_divergence(sc, gd, r, Gd, logp, &logq)))
        goto fail;
    MGV_TRY(sc, obj, mgv_reshape(r, 1, (int64_t[]){-1}));
    MGV_TRY(sc, obj, mgv_l2_norm(obj, 0, 0));
    MGV_TRY(sc, obj, mgv_sub(obj, mg));
    if (objective) *objective = mgv_get_flat(obj, 0);
    mgv_zero_grad(r);
    if (mgv_backward(obj, NULL) < 0) goto fail;
    if (mgv_optim_step(opt) < 0) goto fail;
    mgv_zero_grad(r);
    mgv_set_grad_enabled(prev);
    mgv_scope_close(sc);
    return 0;
fail:
    mgv_set_grad_enabled(prev);
    mgv_scope_close(sc);
    return -1;
}
