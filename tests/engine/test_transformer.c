/*
 * test_transformer.c — the self-attention encoder layer (engine/nn/transformer.c).
 *
 * Golden: tests/golden/transformer.safetensors, written by
 * scripts/golden_transformer.py (torch, float64, HF parameter names), holds
 * inputs, parameters, outputs and the gradients of sum(w * out) for the
 * post-LN (BERT) and pre-LN (ViT) variants; the engine (float32) must agree
 * within |a - b| <= 1e-4 (1 + |b|). Also: finite-difference gradient checks
 * of both variants on a tiny config, padding semantics (padded keys are
 * ignored, a fully padded sample stays finite), dropout, the N-layer encoder
 * and error messages.
 */
#include <stdlib.h>

#include "check.h"
#include "gradcheck.h"
#include "mgv.h"
#include "core/parallel.h"
#include "core/params.h"
#include "formats/safetensors.h"
#include "nn/transformer.h"

#define GOLDEN "tests/golden/transformer.safetensors"
#define TOL 1e-4

/* ---- helpers ------------------------------------------------------------ */

/* max |a - b| / (1 + |b|) over all elements (infinity when sizes differ). */
static double rel_err(mgv_tensor *a, mgv_tensor *b)
{
    if (!a || !b || mgv_numel(a) != mgv_numel(b)) return INFINITY;
    double worst = 0;
    for (int64_t i = 0; i < mgv_numel(a); i++) {
        double x = mgv_get_flat(a, i), y = mgv_get_flat(b, i);
        double e = fabs(x - y) / (1 + fabs(y));
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/* rel_err(a, b) <= tol; prints the worst otherwise and tracks the maximum. */
static int close_to(const char *what, mgv_tensor *a, mgv_tensor *b, double tol, double *worst_out)
{
    double worst = rel_err(a, b);
    if (worst_out && worst > *worst_out) *worst_out = worst;
    if (!(worst <= tol)) {
        printf("  %s: worst relative error %.3g\n", what, worst);
        return 0;
    }
    return 1;
}

static int all_finite(mgv_tensor *t)
{
    for (int64_t i = 0; i < mgv_numel(t); i++)
        if (!isfinite(mgv_get_flat(t, i))) return 0;
    return 1;
}

/* Gives every parameter of ps values uniform in [-s, s] (LayerNorm gammas
 * around 1), so that gradients are far from trivial. */
static void randomise(mgv_paramset *ps, uint64_t seed, float s)
{
    mgv_rng r;
    mgv_rng_seed(&r, seed);
    for (int i = 0; i < ps->n; i++) {
        mgv_fill_uniform_(ps->tensors[i], &r, -s, s);
        const char *n = ps->names[i];
        size_t len = strlen(n);
        int is_ln = strstr(n, "LayerNorm") || strstr(n, "layernorm");
        if (is_ln && len > 7 && strcmp(n + len - 7, ".weight") == 0) {
            mgv_tensor *g = ps->tensors[i];
            for (int64_t j = 0; j < mgv_numel(g); j++)
                mgv_set_flat(g, j, 1.0f + mgv_get_flat(g, j) * 0.5f);
        }
    }
}

/* ---- golden comparison against torch ------------------------------------ */

static double golden_worst;

static void golden_variant(const char *v, mgv_transformer_variant variant)
{
    mgv_st_file *gold = mgv_safetensors_load(GOLDEN);
    CHECK(gold != NULL);
    if (!gold) return;
    char key[256];
    snprintf(key, sizeof key, "eps.%s", v);
    const char *eps_s = mgv_st_meta(gold, key), *prefix = mgv_st_meta(gold, "prefix");
    CHECK(eps_s && prefix && mgv_st_meta(gold, "hidden"));
    if (!eps_s || !prefix || !mgv_st_meta(gold, "hidden")) {
        mgv_st_free(gold);
        return;
    }
    mgv_transformer_config cfg = mgv_transformer_default_config(
        atoi(mgv_st_meta(gold, "hidden")), atoi(mgv_st_meta(gold, "heads")),
        atoi(mgv_st_meta(gold, "intermediate")));
    cfg.layer_norm_eps = (float)atof(eps_s);
    mgv_paramset ps;
    mgv_params_init(&ps);
    mgv_transformer_layer layer;
    CHECK(mgv_transformer_layer_init(&layer, &ps, prefix, &cfg, variant, NULL) == 0);

    /* every engine parameter exists in the reference under its HF name, and
     * the reference has no parameter the engine lacks */
    int n_gold_params = 0;
    for (int i = 0; i < gold->n; i++) {
        snprintf(key, sizeof key, "%s.param.", v);
        if (strncmp(gold->entries[i].name, key, strlen(key)) == 0) n_gold_params++;
    }
    CHECK(n_gold_params == ps.n && ps.n == 16);
    for (int i = 0; i < ps.n; i++) {
        snprintf(key, sizeof key, "%s.param.%s", v, ps.names[i]);
        mgv_tensor *src = mgv_st_get(gold, key);
        if (!src) printf("  golden file lacks %s\n", key);
        CHECK(src && mgv_copy_(ps.tensors[i], src) == 0);
    }

    snprintf(key, sizeof key, "%s.x", v);
    mgv_tensor *x = mgv_clone_data(mgv_st_get(gold, key));
    mgv_set_requires_grad(x, 1);
    snprintf(key, sizeof key, "%s.mask", v);
    mgv_tensor *mask = mgv_st_get(gold, key);
    snprintf(key, sizeof key, "%s.w", v);
    mgv_tensor *w = mgv_st_get(gold, key);

    mgv_tensor *y = mgv_transformer_layer_forward(&layer, x, mask, 1, NULL);   /* dropout 0.1 */
    mgv_tensor *y_eval = mgv_transformer_layer_forward(&layer, x, mask, 0, NULL);
    CHECK(y && y_eval);
    snprintf(key, sizeof key, "%s.out", v);
    CHECK(close_to(key, y_eval, mgv_st_get(gold, key), TOL, &golden_worst));
    CHECK(y && y_eval && rel_err(y, y_eval) > 1e-3);   /* dropout acts in training */
    mgv_release(y);

    CHECK(y_eval && mgv_backward(y_eval, w) == 0);
    snprintf(key, sizeof key, "%s.grad.x", v);
    CHECK(x->grad && close_to(key, x->grad, mgv_st_get(gold, key), TOL, &golden_worst));
    for (int i = 0; i < ps.n; i++) {
        snprintf(key, sizeof key, "%s.grad.param.%s", v, ps.names[i]);
        mgv_tensor *g = ps.tensors[i]->grad;
        if (!g) printf("  no gradient for %s\n", ps.names[i]);
        CHECK(g && close_to(key, g, mgv_st_get(gold, key), TOL, &golden_worst));
    }
    /* the same without a tape (the inference fast path) */
    int prev = mgv_set_grad_enabled(0);
    mgv_tensor *y_fast = mgv_transformer_layer_forward(&layer, x, mask, 0, NULL);
    mgv_set_grad_enabled(prev);
    CHECK(y_fast && y_fast->node == NULL);
    snprintf(key, sizeof key, "%s.out", v);
    CHECK(y_fast && close_to("no-grad output", y_fast, mgv_st_get(gold, key), TOL, &golden_worst));
    mgv_release(y_fast);
    mgv_release(y_eval);
    mgv_release(x);
    mgv_params_free(&ps);
    mgv_st_free(gold);
}

static void test_golden_post_ln(void) { golden_variant("post", MGV_TRANSFORMER_POST_LN); }
static void test_golden_pre_ln(void) { golden_variant("pre", MGV_TRANSFORMER_PRE_LN); }

/* ---- finite differences ------------------------------------------------- */

typedef struct {
    mgv_transformer_layer *layer;
    mgv_tensor *mask;
} fd_ctx;

static mgv_tensor *fd_forward(mgv_tensor **in, void *ctx)
{
    fd_ctx *c = ctx;
    return mgv_transformer_layer_forward(c->layer, in[0], c->mask, 0, NULL);
}

/* hidden 4, heads 2, intermediate 6, B 3, L 3; sample 1's last token padded,
 * sample 2 entirely padded (no keys at all).
 * Inputs: x and all 16 parameters. Tolerance: gradcheck's default
 * (h 1e-2, atol 2e-3, rtol 1e-2), float32 central differences. */
static void gradcheck_variant(const char *name, mgv_transformer_variant variant)
{
    mgv_transformer_config cfg = mgv_transformer_default_config(4, 2, 6);
    cfg.layer_norm_eps = 1e-5f;
    mgv_paramset ps;
    mgv_params_init(&ps);
    mgv_transformer_layer layer;
    CHECK(mgv_transformer_layer_init(&layer, &ps, "l", &cfg, variant, NULL) == 0);
    randomise(&ps, 99, 0.6f);
    int64_t xs[3] = {3, 3, 4}, ms[2] = {3, 3};
    float mv[9] = {1, 1, 1, 1, 1, 0, 0, 0, 0};
    mgv_tensor *mask = mgv_from_data(2, ms, mv);
    mgv_tensor *in[17];
    in[0] = gradcheck_input(3, xs, 5, -1.5f, 1.5f);
    for (int i = 0; i < 16; i++) in[1 + i] = ps.tensors[i];
    fd_ctx c = {&layer, mask};
    gradcheck_opts opt = {1e-2, 2e-3, 1e-2, 0};
    CHECK(gradcheck(name, fd_forward, &c, 17, in, &opt));
    printf("  %s: max |autograd - numeric| = %.2g\n", name, opt.max_abs_err);
    mgv_release(in[0]);
    mgv_release(mask);
    mgv_params_free(&ps);
}

static void test_gradcheck_post_ln(void) { gradcheck_variant("post-LN", MGV_TRANSFORMER_POST_LN); }
static void test_gradcheck_pre_ln(void) { gradcheck_variant("pre-LN", MGV_TRANSFORMER_PRE_LN); }

/* ---- padding semantics -------------------------------------------------- */

/* Padded keys are ignored: changing x at padded positions leaves every real
 * position's output unchanged, and an all-ones mask equals no mask. */
static void test_padded_keys_ignored(void)
{
    for (int v = 0; v < 2; v++) {
        mgv_transformer_config cfg = mgv_transformer_default_config(8, 2, 12);
        mgv_paramset ps;
        mgv_params_init(&ps);
        mgv_transformer_layer layer;
        CHECK(mgv_transformer_layer_init(&layer, &ps, "l", &cfg, (mgv_transformer_variant)v,
                                         NULL) == 0);
        randomise(&ps, 3 + v, 0.5f);
        int64_t xs[3] = {2, 4, 8}, ms[2] = {2, 4};
        float mv[8] = {1, 1, 1, 1, 1, 1, 0, 0};
        mgv_tensor *mask = mgv_from_data(2, ms, mv), *ones = mgv_ones(2, ms);
        mgv_tensor *x = gradcheck_input(3, xs, 11, -1, 1), *x2 = mgv_clone_data(x);
        for (int64_t j = 0; j < 8; j++) {   /* sample 1, positions 2 and 3 */
            mgv_set_flat(x2, 1 * 32 + 2 * 8 + j, 5.0f);
            mgv_set_flat(x2, 1 * 32 + 3 * 8 + j, -7.0f);
        }
        mgv_tensor *y = mgv_transformer_layer_forward(&layer, x, mask, 0, NULL);
        mgv_tensor *y2 = mgv_transformer_layer_forward(&layer, x2, mask, 0, NULL);
        CHECK(y && y2);
        double worst = 0;
        for (int64_t i = 0; y && y2 && i < 2 * 4 * 8; i++) {
            int b = (int)(i / 32), l = (int)(i / 8 % 4);
            if (b == 1 && l >= 2) continue;
            double e = fabs(mgv_get_flat(y, i) - mgv_get_flat(y2, i));
            if (e > worst) worst = e;
        }
        CHECK(worst < 1e-6);
        /* without the mask the padded tokens would matter */
        mgv_tensor *yn = mgv_transformer_layer_forward(&layer, x, NULL, 0, NULL);
        mgv_tensor *yo = mgv_transformer_layer_forward(&layer, x, ones, 0, NULL);
        CHECK(yn && yo && close_to("all-ones mask", yo, yn, 1e-7, NULL));
        CHECK(yn && y && fabs(mgv_get_flat(yn, 32) - mgv_get_flat(y, 32)) > 1e-4);
        mgv_release(y);
        mgv_release(y2);
        mgv_release(yn);
        mgv_release(yo);
        mgv_release(x);
        mgv_release(x2);
        mgv_release(mask);
        mgv_release(ones);
        mgv_params_free(&ps);
    }
}

/* A sample with no real token ("no image"): outputs and gradients stay
 * finite; its attention output is the output bias alone, so for post-LN its
 * first sub-layer is LN1(x + b_o); the other sample matches running it alone. */
static void test_fully_padded_sample(void)
{
    for (int v = 0; v < 2; v++) {
        mgv_transformer_config cfg = mgv_transformer_default_config(8, 4, 16);
        mgv_paramset ps;
        mgv_params_init(&ps);
        mgv_transformer_layer layer;
        CHECK(mgv_transformer_layer_init(&layer, &ps, "l", &cfg, (mgv_transformer_variant)v,
                                         NULL) == 0);
        randomise(&ps, 21 + v, 0.5f);
        int64_t xs[3] = {2, 3, 8}, ms[2] = {2, 3};
        float mv[6] = {1, 1, 0, 0, 0, 0};
        mgv_tensor *mask = mgv_from_data(2, ms, mv);
        mgv_tensor *x = gradcheck_input(3, xs, 12, -1, 1);
        mgv_set_requires_grad(x, 1);
        mgv_tensor *y = mgv_transformer_layer_forward(&layer, x, mask, 0, NULL);
        CHECK(y && all_finite(y));
        mgv_tensor *w = gradcheck_input(3, xs, 13, -1, 1);
        CHECK(y && mgv_backward(y, w) == 0);
        CHECK(x->grad && all_finite(x->grad));
        for (int i = 0; i < ps.n; i++) CHECK(ps.tensors[i]->grad && all_finite(ps.tensors[i]->grad));

        /* sample 0 alone (tokens 0,1 real, 2 padded) gives the same rows */
        mgv_tensor *x0 = mgv_select(x, 0, 0), *m0 = mgv_select(mask, 0, 0);
        mgv_tensor *x0b = mgv_unsqueeze(x0, 0), *m0b = mgv_unsqueeze(m0, 0);
        mgv_tensor *y0 = mgv_transformer_layer_forward(&layer, x0b, m0b, 0, NULL);
        mgv_tensor *ys = y ? mgv_select(y, 0, 0) : NULL;
        CHECK(y0 && ys && close_to("sample 0 alone", y0, ys, 1e-6, NULL));

        if (v == MGV_TRANSFORMER_POST_LN && y) {
            /* sample 1: h = LN1(x + b_o), out = LN2(h + FFN(h)) */
            int prev = mgv_set_grad_enabled(0);
            mgv_tensor *x1 = mgv_select(x, 0, 1);
            mgv_tensor *h = mgv_add(x1, layer.o_b);
            mgv_tensor *h1 = mgv_layer_norm(h, layer.ln1_g, layer.ln1_b, cfg.layer_norm_eps);
            mgv_tensor *f1 = mgv_linear(h1, layer.i_w, layer.i_b);
            mgv_tensor *f2 = mgv_gelu(f1);
            mgv_tensor *f3 = mgv_linear(f2, layer.f_w, layer.f_b);
            mgv_tensor *f4 = mgv_add(h1, f3);
            mgv_tensor *ref = mgv_layer_norm(f4, layer.ln2_g, layer.ln2_b, cfg.layer_norm_eps);
            mgv_tensor *y1 = mgv_select(y, 0, 1);
            CHECK(ref && y1 && close_to("no-key sample", y1, ref, 1e-6, NULL));
            mgv_tensor *tmp[] = {x1, h, h1, f1, f2, f3, f4, ref, y1};
            for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) mgv_release(tmp[i]);
            mgv_set_grad_enabled(prev);
        }
        mgv_tensor *tmp[] = {y, w, x, mask, x0, m0, x0b, m0b, y0, ys};
        for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) mgv_release(tmp[i]);
        mgv_params_free(&ps);
    }
}

/* ---- dropout, encoder, naming ------------------------------------------- */

/* Dropout only in training; same seed, same numbers; evaluation equals a
 * dropout-free config. */
static void test_dropout(void)
{
    mgv_transformer_config cfg = mgv_transformer_default_config(8, 2, 16);
    cfg.hidden_dropout = 0.3f;
    cfg.attention_dropout = 0.3f;
    mgv_paramset ps;
    mgv_params_init(&ps);
    mgv_transformer_layer layer;
    CHECK(mgv_transformer_layer_init(&layer, &ps, "l", &cfg, MGV_TRANSFORMER_PRE_LN, NULL) == 0);
    randomise(&ps, 5, 0.5f);
    int64_t xs[3] = {2, 4, 8};
    mgv_tensor *x = gradcheck_input(3, xs, 1, -1, 1);
    mgv_rng r1, r2;
    mgv_rng_seed(&r1, 42);
    mgv_rng_seed(&r2, 42);
    mgv_tensor *a = mgv_transformer_layer_forward(&layer, x, NULL, 1, &r1);
    mgv_tensor *b = mgv_transformer_layer_forward(&layer, x, NULL, 1, &r2);
    mgv_tensor *e = mgv_transformer_layer_forward(&layer, x, NULL, 0, &r1);
    CHECK(a && b && e);
    CHECK(a && b && close_to("same seed", a, b, 0, NULL));
    CHECK(a && e && rel_err(a, e) > 1e-3);
    mgv_transformer_layer nodrop = layer;
    nodrop.cfg.hidden_dropout = nodrop.cfg.attention_dropout = 0;
    mgv_tensor *n = mgv_transformer_layer_forward(&nodrop, x, NULL, 1, &r1);
    CHECK(n && e && close_to("eval = no dropout", e, n, 0, NULL));
    mgv_tensor *tmp[] = {a, b, e, n, x};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) mgv_release(tmp[i]);
    mgv_params_free(&ps);
}

/* Two layers named {prefix}.0 and {prefix}.1, the encoder equals applying
 * them in turn; init draws N(0, 0.02^2) weights, zero biases, unit gammas. */
static void test_encoder(void)
{
    mgv_transformer_config cfg = mgv_transformer_default_config(8, 2, 16);
    mgv_paramset ps;
    mgv_params_init(&ps);
    mgv_transformer_encoder enc;
    mgv_rng r;
    mgv_rng_seed(&r, 8);
    CHECK(mgv_transformer_encoder_init(&enc, &ps, "encoder.layer", 2, &cfg,
                                       MGV_TRANSFORMER_POST_LN, &r) == 0);
    CHECK(ps.n == 32 && enc.n_layers == 2);
    CHECK(mgv_params_get(&ps, "encoder.layer.0.attention.self.query.weight") != NULL);
    CHECK(mgv_params_get(&ps, "encoder.layer.1.output.LayerNorm.bias") != NULL);
    CHECK(mgv_params_count(&ps) == 2 * (4 * (8 * 8 + 8) + 2 * 8 * 16 + 16 + 8 + 4 * 8));
    mgv_tensor *qw = mgv_params_get(&ps, "encoder.layer.0.attention.self.query.weight");
    double s2 = 0;
    for (int64_t i = 0; qw && i < 64; i++) s2 += mgv_get_flat(qw, i) * mgv_get_flat(qw, i);
    CHECK(qw && sqrt(s2 / 64) > 0.012 && sqrt(s2 / 64) < 0.03);
    mgv_tensor *g = mgv_params_get(&ps, "encoder.layer.1.attention.output.LayerNorm.weight");
    mgv_tensor *bi = mgv_params_get(&ps, "encoder.layer.1.intermediate.dense.bias");
    CHECK(g && mgv_get_flat(g, 3) == 1.0f && bi && mgv_get_flat(bi, 5) == 0.0f);

    randomise(&ps, 17, 0.5f);
    int64_t xs[3] = {3, 4, 8}, ms[2] = {3, 4};
    float mv[12] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    mgv_tensor *mask = mgv_from_data(2, ms, mv);
    mgv_tensor *x = gradcheck_input(3, xs, 2, -1, 1);
    mgv_tensor *y = mgv_transformer_encoder_forward(&enc, x, mask, 0, NULL);
    mgv_tensor *h = mgv_transformer_layer_forward(&enc.layers[0], x, mask, 0, NULL);
    mgv_tensor *y2 = h ? mgv_transformer_layer_forward(&enc.layers[1], h, mask, 0, NULL) : NULL;
    CHECK(y && y2 && close_to("encoder = layers in turn", y, y2, 0, NULL));
    CHECK(y && all_finite(y));
    mgv_tensor *tmp[] = {y, h, y2, x, mask};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) mgv_release(tmp[i]);
    mgv_transformer_encoder_free(&enc);
    mgv_params_free(&ps);
}

/* The pre-LN variant uses the HF ViT names. */
static void test_vit_names(void)
{
    mgv_transformer_config cfg = mgv_transformer_default_config(8, 2, 16);
    mgv_paramset ps;
    mgv_params_init(&ps);
    mgv_transformer_layer layer;
    CHECK(mgv_transformer_layer_init(&layer, &ps, "vit.encoder.layer.0", &cfg,
                                     MGV_TRANSFORMER_PRE_LN, NULL) == 0);
    const char *names[] = {"layernorm_before.weight", "attention.attention.query.weight",
                           "attention.attention.key.bias", "attention.attention.value.weight",
                           "attention.output.dense.weight", "layernorm_after.bias",
                           "intermediate.dense.weight", "output.dense.bias"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char full[128];
        snprintf(full, sizeof full, "vit.encoder.layer.0.%s", names[i]);
        if (!mgv_params_get(&ps, full)) printf("  missing %s\n", full);
        CHECK(mgv_params_get(&ps, full) != NULL);
    }
    CHECK(ps.n == 16);
    CHECK(layer.i_w && layer.i_w->ndim == 2 && layer.i_w->shape[0] == 16 &&
          layer.i_w->shape[1] == 8);
    mgv_params_free(&ps);
}

/* ---- the inference fast path -------------------------------------------- */

/* Without a tape a layer runs fused kernels (transformer.c); they must give
 * the taped ops' results up to float rounding: both variants, several
 * query blocks (L > 128), odd sizes, a partly and a fully padded sample,
 * large activations (GELU and softmax tails); the same bits when run
 * again, and 1 and 2 threads within 1e-5 (the README's Determinism: the
 * fused linears split products over threads, which OpenBLAS may round
 * differently). */
static void test_fast_path_matches_tape(void)
{
    for (int v = 0; v < 2; v++)
        for (int big = 0; big < 2; big++) {
            mgv_transformer_config cfg = mgv_transformer_default_config(12, 3, 20);
            mgv_paramset ps;
            mgv_params_init(&ps);
            mgv_transformer_layer layer;
            CHECK(mgv_transformer_layer_init(&layer, &ps, "l", &cfg, (mgv_transformer_variant)v,
                                             NULL) == 0);
            randomise(&ps, 31 + v + 2 * big, big ? 1.5f : 0.5f);
            int64_t L = big ? 21 : 133, xs[3] = {3, L, 12}, ms[2] = {3, L};
            mgv_tensor *mask = mgv_zeros(2, ms);
            for (int64_t l = 0; l < L; l++) {
                mgv_set_flat(mask, l, 1.0f);                          /* sample 0: all real */
                mgv_set_flat(mask, L + l, l < L / 2 + 1 ? 1.0f : 0.0f); /* sample 1: half */
            }                                                         /* sample 2: none */
            mgv_tensor *x = gradcheck_input(3, xs, 40 + v, big ? -4 : -1, big ? 4 : 1);
            mgv_tensor *taped = mgv_transformer_layer_forward(&layer, x, mask, 0, NULL);
            int prev = mgv_set_grad_enabled(0);
            mgv_tensor *fast = mgv_transformer_layer_forward(&layer, x, mask, 0, NULL);
            mgv_tensor *fast_nomask = mgv_transformer_layer_forward(&layer, x, NULL, 0, NULL);
            mgv_tensor *fast_again = mgv_transformer_layer_forward(&layer, x, mask, 0, NULL);
            int nt = mgv_set_num_threads(1);
            mgv_tensor *fast1 = mgv_transformer_layer_forward(&layer, x, mask, 0, NULL);
            mgv_set_num_threads(nt);
            mgv_set_grad_enabled(prev);
            mgv_tensor *taped_nomask = mgv_transformer_layer_forward(&layer, x, NULL, 0, NULL);
            CHECK(taped && taped->node != NULL && fast && fast->node == NULL && fast1);
            CHECK(fast && all_finite(fast));
            /* weights up to 1.5 make sums of large terms that cancel: rounding
             * differences (summation order, exp, erf) grow to ~1e-5 there */
            double tol = big ? 1e-4 : 2e-6;
            CHECK(close_to(v ? "pre-LN fast vs taped" : "post-LN fast vs taped", fast, taped, tol,
                           NULL));
            CHECK(close_to("fast vs taped, no mask", fast_nomask, taped_nomask, tol, NULL));
            CHECK(close_to("fast, run again", fast_again, fast, 0, NULL));
            CHECK(close_to("fast, 1 vs 2 threads", fast1, fast, 1e-5, NULL));
            mgv_tensor *tmp[] = {taped, fast, fast_nomask, fast_again, fast1, taped_nomask, x, mask};
            for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) mgv_release(tmp[i]);
            mgv_params_free(&ps);
        }
}

/* ---- errors ------------------------------------------------------------- */

static void test_errors(void)
{
    mgv_transformer_config cfg = mgv_transformer_default_config(8, 3, 16);
    mgv_paramset ps;
    mgv_params_init(&ps);
    mgv_transformer_layer layer;
    CHECK(mgv_transformer_layer_init(&layer, &ps, "l", &cfg, MGV_TRANSFORMER_POST_LN, NULL) < 0);
    CHECK_ERROR_HAS("hidden size 8 is not divisible by 3 heads");
    cfg.heads = 2;
    cfg.hidden_dropout = 1.0f;
    CHECK(mgv_transformer_layer_init(&layer, &ps, "l", &cfg, MGV_TRANSFORMER_POST_LN, NULL) < 0);
    CHECK_ERROR_HAS("dropout");
    cfg.hidden_dropout = 0.1f;
    CHECK(mgv_transformer_layer_init(&layer, &ps, "l", &cfg, MGV_TRANSFORMER_POST_LN, NULL) == 0);
    /* the same prefix twice: a name clash */
    mgv_transformer_layer other;
    CHECK(mgv_transformer_layer_init(&other, &ps, "l", &cfg, MGV_TRANSFORMER_POST_LN, NULL) < 0);
    CHECK_ERROR_HAS("duplicate parameter name 'l.attention.self.query.weight'");

    int64_t bad[3] = {2, 5, 7}, good[3] = {2, 5, 8}, flat[2] = {10, 8}, mbad[2] = {2, 4};
    mgv_tensor *xb = mgv_zeros(3, bad), *xg = mgv_zeros(3, good), *x2 = mgv_zeros(2, flat);
    mgv_tensor *mb = mgv_ones(2, mbad);
    CHECK(mgv_transformer_layer_forward(&layer, xb, NULL, 0, NULL) == NULL);
    CHECK_ERROR_HAS("transformer: input [2x5x7] does not fit hidden size 8");
    CHECK(mgv_transformer_layer_forward(&layer, x2, NULL, 0, NULL) == NULL);
    CHECK_ERROR_HAS("input [10x8]");
    CHECK(mgv_transformer_layer_forward(&layer, xg, mb, 0, NULL) == NULL);
    CHECK_ERROR_HAS("transformer: mask [2x4] does not fit input [2x5x8] (expected [2x5])");

    mgv_transformer_encoder enc;
    CHECK(mgv_transformer_encoder_init(&enc, &ps, "e", 0, &cfg, MGV_TRANSFORMER_PRE_LN, NULL) < 0);
    CHECK_ERROR_HAS("0 layers");
    mgv_transformer_layer blank;
    memset(&blank, 0, sizeof blank);
    CHECK(mgv_transformer_layer_forward(&blank, xg, NULL, 0, NULL) == NULL);
    CHECK_ERROR_HAS("not initialised");
    mgv_release(xb);
    mgv_release(xg);
    mgv_release(x2);
    mgv_release(mb);
    mgv_params_free(&ps);
}

int main(void)
{
    RUN(test_golden_post_ln);
    RUN(test_golden_pre_ln);
    printf("  golden: worst relative error %.2g (tolerance %g)\n", golden_worst, TOL);
    RUN(test_gradcheck_post_ln);
    RUN(test_gradcheck_pre_ln);
    RUN(test_padded_keys_ignored);
    RUN(test_fully_padded_sample);
    RUN(test_dropout);
    RUN(test_encoder);
    RUN(test_vit_names);
    RUN(test_fast_path_matches_tape);
    RUN(test_errors);
    return CHECK_DONE();
}
