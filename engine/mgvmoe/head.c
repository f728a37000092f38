/* head.c — the MG-VMoE head (see head.h). Built from autograd ops; the VIB-MoE experts are one
 * fused op (ops_vmoe.h). */
#include "mgvmoe/head.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "mgvmoe/ops_vmoe.h"

/* ---- a scope of temporaries: every intermediate goes in, all released at the end */
#define SCOPE_MAX 256
typedef struct {
    mgv_tensor *t[SCOPE_MAX];
    int n;
    int failed;
} scope;

static mgv_tensor *keep(scope *s, mgv_tensor *t)
{
    if (!t) {
        s->failed = 1;
        return NULL;
    }
    if (s->n == SCOPE_MAX) {
        mgv_release(t);
        s->failed = 1;
        mgv_fail("head: too many temporaries");
        return NULL;
    }
    s->t[s->n++] = t;
    return t;
}

static void scope_close(scope *s)
{
    for (int i = 0; i < s->n; i++) mgv_release(s->t[i]);
    s->n = 0;
}

#define K(x)                                  \
    ({                                        \
        mgv_tensor *k_ = keep(sc, (x));       \
        if (!k_) goto fail;                   \
        k_;                                   \
    })

mgv_head_config mgv_head_default_config(int d, int experts, int entity_dim, int label_dim,
                                        int proj)
{
    mgv_head_config c = {0};
    c.d = d;
    c.experts = experts;
    c.entity_dim = entity_dim;
    c.label_dim = label_dim;
    c.proj = proj;
    c.beta = 1.0f;
    c.vmoe_weight = 1.0f;
    c.margin = 1.0f;
    c.dropout = 0.1f;
    c.use_vmoe = 1;
    c.use_nce = 1;
    c.use_mg = 1;
    c.vat_mode = MGV_VAT_LEARNED;
    c.vat_eps = 1.0f;
    c.vat_xi = 1e-6f;
    c.vat_iters = 1;
    c.tau = 10.0f;
    c.prior_decay = 0.1f;
    return c;
}

/* PyTorch's nn.Linear initialisation bound: 1/sqrt(fan_in). */
static mgv_tensor *linear_param(mgv_head *h, const char *name, int out, int in)
{
    char wname[96], bname[96];
    snprintf(wname, sizeof wname, "%s.weight", name);
    snprintf(bname, sizeof bname, "%s.bias", name);
    float bound = 1.0f / sqrtf((float)in);
    int64_t ws[2] = {out, in}, bs[1] = {out};
    if (!mgv_params_new(&h->params, wname, 2, ws, bound, &h->rng)) return NULL;
    return mgv_params_new(&h->params, bname, 1, bs, bound, &h->rng);
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
                        &o->p, &o->p_tilde, &o->g, &o->l_prior};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        mgv_release(*f[i]);
        *f[i] = NULL;
    }
}

/* sum(x * mask) / sum(mask): the mean over real tokens. mask has no grad. */
static mgv_tensor *masked_mean(scope *sc, mgv_tensor *x, mgv_tensor *mask)
{
    double count = 0;
    int64_t n = mgv_numel(mask);
    for (int64_t i = 0; i < n; i++) count += mgv_get_flat(mask, i);
    if (count <= 0) return keep(sc, mgv_scale(K(mgv_sum_all(x)), 0.0f));
    return keep(sc, mgv_scale(K(mgv_sum_all(K(mgv_mul(x, mask)))), (float)(1.0 / count)));
fail:
    return NULL;
}

/* Masked mean over tokens: o [B, N, d], mask [B, N] -> [B, d]. */
static mgv_tensor *pool_tokens(scope *sc, mgv_tensor *o, mgv_tensor *mask)
{
    int ax1 = 1;
    /* sum_n mask[b, n] o[b, n, :] as a batched product [B, 1, N] [B, N, d]:
     * no [B, N, d] temporary, and o may be a strided view */
    mgv_tensor *num = K(mgv_squeeze(K(mgv_matmul(K(mgv_unsqueeze(mask, 1)), o)), 1));
    mgv_tensor *den = K(mgv_sum(mask, 1, &ax1, 1));
    /* a sample with no real tokens pools to zeros rather than NaN */
    mgv_tensor *den_safe = K(mgv_clone_data(den));
    for (int64_t i = 0; i < mgv_numel(den_safe); i++)
        if (mgv_get_flat(den_safe, i) <= 0) mgv_set_flat(den_safe, i, 1.0f);
    return keep(sc, mgv_div(num, den_safe));
fail:
    return NULL;
}

/* The VIB-MoE's results; modality 0 is text, 1 the image (all borrowed from
 * the scope). Tokens are stacked in fusion order: a sample's image tokens,
 * then its text tokens. */
typedef struct {
    mgv_tensor *O;         /* MoE outputs of all tokens [B, N, d] */
    mgv_tensor *M;         /* their mask [B, N] */
    mgv_tensor *mask[2];   /* a modality's mask spread over the N tokens (0 elsewhere) */
    mgv_tensor *o[2];      /* a modality's outputs [B, N_i, d] (views of O) */
    mgv_tensor *gate[2];   /* a modality's gates [B, N_i, K] (views) */
    mgv_tensor *kl[2], *ent[2];   /* masked means (with want_loss) */
} vmoe_result;

/* mask [B, n] placed at tokens off .. off + n - 1 of N, zeros elsewhere (no grad) */
static mgv_tensor *spread_mask(scope *sc, mgv_tensor *mask, int64_t N, int64_t off)
{
    int64_t B = mask->shape[0], n = mask->shape[1];
    mgv_tensor *m = keep(sc, mgv_zeros(2, (int64_t[]){B, N}));
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
static int vmoe_forward(mgv_head *hd, scope *sc, const mgv_head_batch *b, int sample,
                        int want_loss, vmoe_result *res)
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
    mgv_tensor *h = n == 1 ? hs[0] : K(mgv_concat(n, hs, 1));
    res->M = n == 1 ? ms[0] : K(mgv_concat(n, ms, 1));
    int64_t N = h->shape[1], off = 0;
    if (c->use_vmoe) {
        int given = (ns[0] != NULL) + (n == 2 && ns[1] != NULL);
        if (given && given != n) {
            mgv_fail("head: fixed noise given for some modalities only");
            goto fail;
        }
        mgv_tensor *eps = !given ? NULL : (n == 1 ? ns[0] : K(mgv_concat(n, ns, 1)));
        mgv_tensor *gate = K(mgv_softmax(
            K(mgv_linear(h, mgv_params_get(ps, "vmoe.gate.weight"),
                         mgv_params_get(ps, "vmoe.gate.bias"))), -1));
        /* the experts fused (ops_vmoe.h): [o, kl] per token, without
         * materialising sigma, z or large noise; the same as the reference's
         * linear -> reshape -> mu + exp(lv / 2) eps -> sum_k pi_k z_k and
         * gaussian_kl(mu, lv) */
        mgv_tensor *okl = K(mgv_vmoe_experts(h, gate, mgv_params_get(ps, "vmoe.mu.weight"),
                                             mgv_params_get(ps, "vmoe.mu.bias"),
                                             mgv_params_get(ps, "vmoe.logvar.weight"),
                                             mgv_params_get(ps, "vmoe.logvar.bias"), eps,
                                             (sample ? MGV_VMOE_SAMPLE : 0) |
                                                 (want_loss ? 0 : MGV_VMOE_NO_KL),
                                             &hd->rng));
        res->O = K(mgv_slice(okl, -1, 0, d, 1));
        mgv_tensor *klcol = NULL, *ent_tok = NULL;
        if (want_loss) {
            int axl = -1;
            klcol = K(mgv_select(okl, -1, d));
            mgv_tensor *plogp = K(mgv_mul(gate, K(mgv_log(gate))));
            ent_tok = K(mgv_neg(K(mgv_sum(plogp, 1, &axl, 0))));
        }
        for (int i = 0; i < n; i++) {
            int m = which[i];
            int64_t Ni = hs[i]->shape[1];
            res->gate[m] = K(mgv_slice(gate, 1, off, off + Ni, 1));
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
        res->O = K(mgv_linear(h, mgv_params_get(ps, "vmoe.linear.weight"),
                              mgv_params_get(ps, "vmoe.linear.bias")));
        for (int i = 0; i < n; i++) {
            res->mask[which[i]] = spread_mask(sc, ms[i], N, off);
            if (!res->mask[which[i]]) goto fail;
            off += hs[i]->shape[1];
        }
    }
    off = 0;
    for (int i = 0; i < n; i++) {   /* views for inspection */
        int64_t Ni = hs[i]->shape[1];
        res->o[which[i]] = K(mgv_slice(res->O, 1, off, off + Ni, 1));
        off += Ni;
    }
    return 0;
fail:
    return -1;
}

/* log p = log softmax([<g, G g>, <g, (1 - G) g>]) per node: [B, 2]. */
static mgv_tensor *graph_logp(scope *sc, mgv_tensor *g, mgv_tensor *G)
{
    int axl = -1;
    mgv_tensor *Gg = K(mgv_matmul(G, g));
    mgv_tensor *notG = K(mgv_add_scalar(K(mgv_neg(G)), 1.0f));
    mgv_tensor *nGg = K(mgv_matmul(notG, g));
    mgv_tensor *pos = K(mgv_sum(K(mgv_mul(g, Gg)), 1, &axl, 1));
    mgv_tensor *neg = K(mgv_sum(K(mgv_mul(g, nGg)), 1, &axl, 1));
    mgv_tensor *pn[2] = {pos, neg};
    return keep(sc, mgv_log_softmax(K(mgv_concat(2, pn, 1)), -1));
fail:
    return NULL;
}

/* G_ij = (cos(g_i, g_j) + 1) / 2. */
static mgv_tensor *batch_graph(scope *sc, mgv_tensor *g)
{
    mgv_tensor *norm = K(mgv_l2_norm(g, -1, 1));
    mgv_tensor *gn = K(mgv_div(g, K(mgv_add_scalar(norm, 1e-12f))));
    mgv_tensor *cosm = K(mgv_matmul(gn, K(mgv_transpose(gn, 0, 1))));
    return keep(sc, mgv_scale(K(mgv_add_scalar(cosm, 1.0f)), 0.5f));
fail:
    return NULL;
}

/* Classic VAT (Miyato et al.): per-node r from power iteration on
 * KL(p || p(g + r)) with p and G held fixed; returns r_adv [B, 2d] (no grad). */
static mgv_tensor *vat_power_r(mgv_head *hd, scope *sc, mgv_tensor *g, mgv_tensor *G,
                               mgv_tensor *logp)
{
    const mgv_head_config *c = &hd->cfg;
    int prev = mgv_set_grad_enabled(1);
    mgv_tensor *gd = K(mgv_detach(g)), *Gd = K(mgv_detach(G)), *lpd = K(mgv_detach(logp));
    mgv_tensor *dvec = K(mgv_randn(g->ndim, g->shape, &hd->rng));
    for (int it = 0; it < c->vat_iters; it++) {
        mgv_tensor *dn = K(mgv_div(dvec, K(mgv_add_scalar(K(mgv_l2_norm(dvec, -1, 1)), 1e-12f))));
        mgv_tensor *probe = K(mgv_scale(dn, c->vat_xi));
        mgv_tensor *leaf = K(mgv_clone_data(probe));
        mgv_set_requires_grad(leaf, 1);
        mgv_tensor *lq = graph_logp(sc, K(mgv_add(gd, leaf)), Gd);
        if (!lq) goto fail;
        mgv_tensor *kl = K(mgv_mean_all(K(mgv_kl_categorical(lpd, lq, -1))));
        if (mgv_backward(kl, NULL) < 0) goto fail;
        dvec = leaf->grad ? K(mgv_clone_data(leaf->grad)) : K(mgv_zeros_like(leaf));
    }
    mgv_set_grad_enabled(prev);
    mgv_tensor *dn = K(mgv_div(dvec, K(mgv_add_scalar(K(mgv_l2_norm(dvec, -1, 1)), 1e-12f))));
    return keep(sc, mgv_scale(dn, c->vat_eps));
fail:
    mgv_set_grad_enabled(prev);
    return NULL;
}

static int check_batch(const mgv_head *h, const mgv_head_batch *b)
{
    char s1[96], s2[96];
    const mgv_head_config *c = &h->cfg;
    if (!b->text || !b->text_mask || !b->entity || !b->labels)
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
    scope scv = {0}, *sc = &scv;
    int sample = training || c->sample_eval;
    int text_only = c->text_only;
    int64_t B = b->text->shape[0], d = c->d;

    int want_loss = b->target != NULL;
    vmoe_result r;
    if (vmoe_forward(h, sc, b, sample, want_loss, &r) < 0) goto fail;

    /* fusion: attention over [O_v; O_t] pooled by the entity, padding masked */
    mgv_tensor *O = r.O, *M = r.M;
    /* the reference's logit [h_e; o_n] W^T + b, split as o_n W_o^T + (h_e W_e^T + b):
     * the entity part once per sample, without the [B, N, DE + d] input */
    mgv_tensor *fw = mgv_params_get(ps, "fuse.weight");
    int64_t DE = c->entity_dim;
    mgv_tensor *w_e = K(mgv_slice(fw, 1, 0, DE, 1)), *w_o = K(mgv_slice(fw, 1, DE, DE + d, 1));
    mgv_tensor *l_o = K(mgv_squeeze(K(mgv_linear(O, w_o, NULL)), -1));             /* [B, N] */
    mgv_tensor *l_e = K(mgv_linear(b->entity, w_e, mgv_params_get(ps, "fuse.bias"))); /* [B, 1] */
    mgv_tensor *logit = K(mgv_add(l_o, l_e));
    mgv_tensor *pad = K(mgv_add_scalar(K(mgv_neg(M)), 1.0f));   /* 1 where padding */
    mgv_tensor *att = K(mgv_softmax(K(mgv_masked_fill(logit, pad, -INFINITY)), 1));
    /* h_mm = sum_n att[b, n] O[b, n, :], a batched product [B, 1, N] [B, N, d] */
    mgv_tensor *h_mm = K(mgv_squeeze(K(mgv_matmul(K(mgv_unsqueeze(att, 1)), O)), 1));
    mgv_tensor *hx_parts[2] = {h_mm, b->entity};
    mgv_tensor *h_x = K(mgv_concat(2, hx_parts, -1));

    /* zero-shot bilinear scores (or the prior's scaled cosine) */
    float p_drop = training ? c->dropout : 0.0f;
    mgv_tensor *x_in = K(mgv_dropout(h_x, p_drop, training, &h->rng));
    mgv_tensor *l_in = K(mgv_dropout(b->labels, p_drop, training, &h->rng));
    if (c->prior_dim > 0) {
        mgv_tensor *xp[2] = {x_in, b->prior}, *lp[2] = {l_in, b->prior_labels};
        x_in = K(mgv_concat(2, xp, -1));
        l_in = K(mgv_concat(2, lp, -1));
    }
    mgv_tensor *ex = K(mgv_linear(x_in, mgv_params_get(ps, "score.x.weight"),
                                  mgv_params_get(ps, "score.x.bias")));
    mgv_tensor *el = K(mgv_linear(l_in, mgv_params_get(ps, "score.label.weight"),
                                  mgv_params_get(ps, "score.label.bias")));
    if (c->prior_dim > 0) {
        /* unit rows (a zero row stays zero), then tau times their products */
        ex = K(mgv_div(ex, K(mgv_add_scalar(K(mgv_l2_norm(ex, -1, 1)), 1e-6f))));
        el = K(mgv_div(el, K(mgv_add_scalar(K(mgv_l2_norm(el, -1, 1)), 1e-6f))));
        ex = K(mgv_scale(ex, c->tau));
    }
    mgv_tensor *scores = K(mgv_matmul(ex, K(mgv_transpose(el, 0, 1))));
    out->scores = mgv_retain(scores);
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
    mgv_tensor *t_pool = pool_tokens(sc, O, r.mask[0]);
    if (!t_pool) goto fail;
    mgv_tensor *v_pool = NULL, *g = NULL, *G = NULL, *logp = NULL;
    if (!text_only) {
        v_pool = pool_tokens(sc, O, r.mask[1]);
        if (!v_pool) goto fail;
        mgv_tensor *gv[2] = {v_pool, t_pool};
        g = K(mgv_concat(2, gv, -1));
        G = batch_graph(sc, g);
        if (!G) goto fail;
        logp = graph_logp(sc, g, G);
        if (!logp) goto fail;
        out->g = mgv_retain(g);
        out->graph = mgv_retain(G);
        out->p = mgv_exp(logp);
        if (!out->p) goto fail;
    }

    if (!b->target) {
        scope_close(sc);
        return 0;
    }

    /* losses */
    mgv_tensor *l_rank = K(mgv_margin_ranking(scores, b->target, c->margin));
    mgv_tensor *aux = K(mgv_scalar(0.0f));
    if (c->use_vmoe) {
        mgv_tensor *lt = K(mgv_add(r.kl[0], r.ent[0]));
        mgv_tensor *lvm = lt;
        if (!text_only) lvm = K(mgv_scale(K(mgv_add(lt, K(mgv_add(r.kl[1], r.ent[1])))), 0.5f));
        out->l_vmoe = mgv_retain(lvm);
        out->kl_text = mgv_retain(r.kl[0]);
        out->ent_text = mgv_retain(r.ent[0]);
        if (!text_only) {
            out->kl_image = mgv_retain(r.kl[1]);
            out->ent_image = mgv_retain(r.ent[1]);
        }
        aux = K(mgv_add(aux, K(mgv_scale(lvm, c->vmoe_weight))));
    }
    if (!text_only && c->use_nce) {
        mgv_tensor *logits = K(mgv_matmul(t_pool, K(mgv_transpose(v_pool, 0, 1))));
        int64_t *eye = malloc(sizeof(int64_t) * (size_t)B);
        if (!eye) {
            mgv_fail("head: out of memory");
            goto fail;
        }
        for (int64_t i = 0; i < B; i++) eye[i] = i;
        mgv_tensor *ce1 = keep(sc, mgv_cross_entropy(logits, eye));
        mgv_tensor *ce2 = ce1 ? keep(sc, mgv_cross_entropy(K(mgv_transpose(logits, 0, 1)), eye))
                              : NULL;
        free(eye);
        if (!ce2) goto fail;
        mgv_tensor *nce = K(mgv_scale(K(mgv_add(ce1, ce2)), 0.5f));
        out->l_nce = mgv_retain(nce);
        aux = K(mgv_add(aux, nce));
    }
    if (!text_only && c->use_mg) {
        mgv_tensor *r;
        if (c->vat_mode == MGV_VAT_POWER) {
            r = vat_power_r(h, sc, g, G, logp);
            if (!r) goto fail;
        } else {
            r = h->r;
        }
        mgv_tensor *logq = graph_logp(sc, K(mgv_add(g, r)), G);
        if (!logq) goto fail;
        mgv_tensor *mg = K(mgv_mean_all(K(mgv_kl_categorical(logp, logq, -1))));
        out->l_mg = mgv_retain(mg);
        out->p_tilde = mgv_exp(logq);
        if (!out->p_tilde) goto fail;
        aux = K(mgv_add(aux, mg));
    }
    mgv_tensor *total = K(mgv_add(l_rank, K(mgv_scale(aux, c->beta))));
    if (c->prior_dim > 0 && c->prior_decay > 0) {
        const char *wn[2] = {"score.x.weight", "score.label.weight"};
        mgv_tensor *reg = K(mgv_scalar(0.0f));
        for (int k = 0; k < 2; k++) {
            mgv_tensor *dw = K(mgv_sub(mgv_params_get(ps, wn[k]), h->score_init[k]));
            reg = K(mgv_add(reg, K(mgv_sum_all(K(mgv_mul(dw, dw))))));
        }
        reg = K(mgv_scale(reg, c->prior_decay));
        out->l_prior = mgv_retain(reg);
        total = K(mgv_add(total, reg));
    }
    out->l_rank = mgv_retain(l_rank);
    out->loss = mgv_retain(total);
    if (!out->loss) goto fail;
    scope_close(sc);
    return 0;
fail:
    scope_close(sc);
    mgv_head_out_clear(out);
    return -1;
}

int mgv_head_perturb_step(mgv_head *h, mgv_tensor *g, mgv_optim *opt, double *objective)
{
    if (h->cfg.text_only || !h->cfg.use_mg || h->cfg.vat_mode != MGV_VAT_LEARNED) return 0;
    scope scv = {0}, *sc = &scv;
    int prev = mgv_set_grad_enabled(1);
    mgv_tensor *gd = K(mgv_detach(g));
    mgv_tensor *G = batch_graph(sc, gd);
    if (!G) goto fail;
    mgv_tensor *logp = graph_logp(sc, gd, G);
    if (!logp) goto fail;
    mgv_tensor *logq = graph_logp(sc, K(mgv_add(gd, h->r)), G);
    if (!logq) goto fail;
    mgv_tensor *mg = K(mgv_mean_all(K(mgv_kl_categorical(logp, logq, -1))));
    mgv_tensor *rnorm = K(mgv_l2_norm(K(mgv_reshape(h->r, 1, (int64_t[]){-1})), 0, 0));
    mgv_tensor *obj = K(mgv_sub(rnorm, mg));
    if (objective) *objective = mgv_get_flat(obj, 0);
    mgv_zero_grad(h->r);
    if (mgv_backward(obj, NULL) < 0) goto fail;
    if (mgv_optim_step(opt) < 0) goto fail;
    mgv_zero_grad(h->r);
    mgv_set_grad_enabled(prev);
    scope_close(sc);
    return 0;
fail:
    mgv_set_grad_enabled(prev);
    scope_close(sc);
    return -1;
}
