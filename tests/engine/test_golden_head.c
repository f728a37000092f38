/*
 * test_golden_head.c — the MG-VMoE head against a PyTorch reference.
 *
 * tests/golden/head.safetensors was written by scripts/golden_head.py (torch,
 * float64) on a fixed tiny batch with fixed expert noise. The engine, in
 * float32, must reproduce every loss term and the gradient of the total loss
 * with respect to every parameter and input, and the gradient of the
 * perturbation objective -L_mg + |r|, within |a - b| <= 1e-4 (1 + |b|).
 */
#include <stdlib.h>

#include "check.h"
#include "mgvmoe/head.h"
#include "mgv.h"
#include "formats/safetensors.h"

#define GOLDEN "tests/golden/head.safetensors"
#define TOL 1e-4

static mgv_st_file *gold;

static int meta_int(const char *key) { return atoi(mgv_st_meta(gold, key)); }

static mgv_tensor *gt(const char *name)
{
    mgv_tensor *t = mgv_st_get(gold, name);
    if (!t) printf("  golden file lacks %s\n", name);
    return t;
}

/* max |a - b| / (1 + |b|) over all elements; prints the name when too big */
static int close_to(const char *what, mgv_tensor *a, mgv_tensor *b)
{
    if (!a || !b || mgv_numel(a) != mgv_numel(b)) {
        printf("  %s: missing or size mismatch\n", what);
        return 0;
    }
    double worst = 0;
    for (int64_t i = 0; i < mgv_numel(a); i++) {
        double x = mgv_get_flat(a, i), y = mgv_get_flat(b, i);
        double e = fabs(x - y) / (1 + fabs(y));
        if (!(e <= worst)) worst = e;
    }
    if (!(worst <= TOL)) {
        printf("  %s: worst relative error %.3g\n", what, worst);
        return 0;
    }
    return 1;
}

static void setup_head(mgv_head *h)
{
    mgv_head_config cfg = mgv_head_default_config(meta_int("d"), meta_int("K"), meta_int("DE"),
                                                  meta_int("DL"), meta_int("PROJ"));
    cfg.dropout = 0;   /* the reference ran without dropout */
    CHECK(mgv_head_init(h, &cfg, 1) == 0);
    for (int i = 0; i < h->params.n; i++) {
        char key[128];
        snprintf(key, sizeof key, "param.%s", h->params.names[i]);
        CHECK(mgv_copy_(h->params.tensors[i], gt(key)) == 0);
    }
    CHECK(mgv_copy_(h->r, gt("param.vat.r")) == 0);
}

static void test_golden_losses_and_grads(void)
{
    mgv_head h;
    setup_head(&h);
    const char *in_names[4] = {"text", "image", "entity", "labels"};
    mgv_tensor *in[4];
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "input.%s", in_names[i]);
        in[i] = mgv_clone_data(gt(key));
        mgv_set_requires_grad(in[i], 1);
    }
    mgv_tensor *tgt = gt("input.target");
    int64_t B = mgv_numel(tgt), target[16];
    for (int64_t i = 0; i < B; i++) target[i] = (int64_t)mgv_get_flat(tgt, i);
    mgv_head_batch b = {.text = in[0], .text_mask = gt("input.text_mask"), .image = in[1],
                        .image_mask = gt("input.image_mask"), .entity = in[2], .labels = in[3],
                        .target = target, .noise_text = gt("noise.text"),
                        .noise_image = gt("noise.image")};
    mgv_head_out out;
    CHECK(mgv_head_forward(&h, &b, 1, &out) == 0);
    if (!out.loss) return;
    const struct {
        const char *key;   /* golden tensor */
        mgv_tensor *got;
    } results[] = {
        {"loss.l_rank", out.l_rank},       {"loss.l_vmoe", out.l_vmoe},
        {"loss.kl_text", out.kl_text},     {"loss.kl_image", out.kl_image},
        {"loss.ent_text", out.ent_text},   {"loss.ent_image", out.ent_image},
        {"loss.l_nce", out.l_nce},         {"loss.l_mg", out.l_mg},
        {"loss.total", out.loss},          {"out.scores", out.scores},
        {"out.attention", out.attention},  {"out.graph", out.graph},
        {"out.gate_text", out.gate_text},
    };
    for (size_t i = 0; i < sizeof results / sizeof *results; i++)
        CHECK(close_to(results[i].key, results[i].got, gt(results[i].key)));
    CHECK(mgv_backward(out.loss, NULL) == 0);
    for (int i = 0; i < h.params.n; i++) {
        char key[128];
        snprintf(key, sizeof key, "grad.param.%s", h.params.names[i]);
        CHECK(close_to(key, h.params.tensors[i]->grad, gt(key)));
    }
    CHECK(close_to("grad.param.vat.r", h.r->grad, gt("grad.param.vat.r")));
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "grad.input.%s", in_names[i]);
        CHECK(close_to(key, in[i]->grad, gt(key)));
    }
    /* the perturbation objective and its gradient on r */
    mgv_tensor *g = mgv_retain(out.g);
    mgv_head_out_clear(&out);
    mgv_zero_grad(h.r);
    mgv_tensor *rs[1] = {h.r};
    /* plain SGD with lr 1 turns the step into r_before - r_after = gradient */
    mgv_optim *opt = mgv_sgd_new(1, rs, 1.0, 0.0, 0.0);
    mgv_tensor *r_before = mgv_clone_data(h.r);
    double obj = 0;
    CHECK(mgv_head_perturb_step(&h, g, opt, &obj) == 0);
    CHECK_NEAR(obj, mgv_get_flat(gt("loss.r_objective"), 0), TOL * (1 + fabs(obj)));
    mgv_tensor *step = mgv_clone_data(r_before);
    for (int64_t i = 0; i < mgv_numel(step); i++)
        mgv_set_flat(step, i, mgv_get_flat(r_before, i) - mgv_get_flat(h.r, i));
    CHECK(close_to("grad_r_objective", step, gt("grad_r_objective")));
    mgv_release(step);
    mgv_release(r_before);
    mgv_optim_free(opt);
    mgv_release(g);
    for (int i = 0; i < 4; i++) mgv_release(in[i]);
    mgv_head_free(&h);
}

/* The golden inputs as an evaluation batch (no target, no noise). */
static mgv_head_batch eval_batch(void)
{
    mgv_head_batch b = {.text = gt("input.text"), .text_mask = gt("input.text_mask"),
                        .image = gt("input.image"), .image_mask = gt("input.image_mask"),
                        .entity = gt("input.entity"), .labels = gt("input.labels")};
    return b;
}

static void test_eval_is_deterministic(void)
{
    mgv_head h;
    setup_head(&h);
    mgv_head_batch b = eval_batch();
    mgv_head_out o1, o2;
    CHECK(mgv_head_forward(&h, &b, 0, &o1) == 0);
    CHECK(mgv_head_forward(&h, &b, 0, &o2) == 0);
    CHECK(close_to("eval scores repeat", o1.scores, o2.scores));
    CHECK(o1.loss == NULL);   /* no target, no loss */
    CHECK(o1.graph && o1.p && o1.gate_image);
    /* p rows are distributions */
    for (int64_t i = 0; i < o1.p->shape[0]; i++)
        CHECK_NEAR(mgv_get_flat(o1.p, 2 * i) + mgv_get_flat(o1.p, 2 * i + 1), 1.0, 1e-6);
    mgv_head_out_clear(&o1);
    mgv_head_out_clear(&o2);
    mgv_head_free(&h);
}

/* MG-VAT's fresh forward stops at the node vectors: the same g, bit for
 * bit, as a whole training forward from the same state, without labels */
static void test_nodes_only(void)
{
    mgv_head h1, h2;
    setup_head(&h1);
    setup_head(&h2);
    mgv_head_batch b = eval_batch();
    mgv_head_out full, nodes;
    CHECK(mgv_head_forward(&h1, &b, 1, &full) == 0);
    b.labels = NULL;
    b.nodes_only = 1;
    CHECK(mgv_head_forward(&h2, &b, 1, &nodes) == 0);
    CHECK(nodes.g && !nodes.scores && full.g && full.scores);
    CHECK(nodes.g && full.g && mgv_numel(nodes.g) == mgv_numel(full.g));
    for (int64_t i = 0; nodes.g && full.g && i < mgv_numel(full.g); i++)
        CHECK(mgv_get_flat(nodes.g, i) == mgv_get_flat(full.g, i));
    mgv_head_out_clear(&full);
    mgv_head_out_clear(&nodes);
    b.nodes_only = 0;   /* without nodes_only the labels are needed */
    CHECK(mgv_head_forward(&h2, &b, 1, &nodes) < 0);
    CHECK_ERROR_HAS("labels");
    mgv_head_free(&h1);
    mgv_head_free(&h2);
}

static void test_bad_batches(void)
{
    mgv_head h;
    setup_head(&h);
    mgv_head_batch b = eval_batch();
    b.text = gt("input.image");
    mgv_head_out o;
    CHECK(mgv_head_forward(&h, &b, 0, &o) < 0);
    CHECK_ERROR_HAS("text mask");
    b.text = gt("input.text");
    b.entity = gt("input.labels");
    CHECK(mgv_head_forward(&h, &b, 0, &o) < 0);
    CHECK_ERROR_HAS("entity feature");
    b.entity = gt("input.entity");
    int64_t bad[4] = {0, 1, 9, 2};
    b.target = bad;
    CHECK(mgv_head_forward(&h, &b, 1, &o) < 0);
    CHECK_ERROR_HAS("target 9");
    mgv_head_free(&h);
}

int main(void)
{
    gold = mgv_safetensors_load(GOLDEN);
    if (!gold) {
        printf("FAIL load_golden: %s\n", mgv_last_error());
        return 1;
    }
    RUN(test_golden_losses_and_grads);
    RUN(test_eval_is_deterministic);
    RUN(test_nodes_only);
    RUN(test_bad_batches);
    mgv_st_free(gold);
    return CHECK_DONE();
}
