/*
 * test_head_pooled.c — evaluation without per-token expert outputs.
 *
 * A no-grad evaluation forward pools through the experts' weights (head.c,
 * pooled_through) unless the head keeps its per-token outputs
 * (token_outputs). Both must give the same scores, attention, node vectors,
 * graph and p within 1e-5 of the largest magnitude of each, and the same
 * predictions: random and trained heads, text-only and with images (one
 * sample without a real picture token), with routing overrides.
 */
#include <stdlib.h>

#include "check.h"
#include "fixtures.h"
#include "mgv.h"
#include "mgvmoe/head.h"

#define TOL 1e-5
enum { B = 5, L = 7, P = 6, D = 16, K = 4, DE = 12, DL = 10, C = 6 };

/* max |a - b| <= TOL max |b|; prints the name when not */
static int close_to(const char *what, mgv_tensor *a, mgv_tensor *b)
{
    if (!a || !b || mgv_numel(a) != mgv_numel(b)) {
        printf("  %s: missing or size mismatch\n", what);
        return 0;
    }
    double worst = max_abs_diff(a, b), scale = max_abs(b);
    if (!(scale > 0) || !(worst <= TOL * scale)) {
        printf("  %s: worst error %.3g of largest %.3g\n", what, worst, scale);
        return 0;
    }
    return 1;
}

typedef struct {
    mgv_tensor *text, *text_mask, *image, *image_mask, *entity, *labels;
    int64_t target[B];
} batch;

/* random tokens; sample i has L - i real text tokens, P - 2i real picture
 * tokens (none for the last samples) */
static void make_batch(batch *bt, mgv_rng *rng)
{
    bt->text = mgv_randn(3, (int64_t[]){B, L, D}, rng);
    bt->image = mgv_randn(3, (int64_t[]){B, P, D}, rng);
    bt->entity = mgv_randn(2, (int64_t[]){B, DE}, rng);
    bt->labels = mgv_randn(2, (int64_t[]){C, DL}, rng);
    bt->text_mask = mgv_zeros(2, (int64_t[]){B, L});
    bt->image_mask = mgv_zeros(2, (int64_t[]){B, P});
    for (int i = 0; i < B; i++) {
        for (int j = 0; j < L - i; j++) mgv_set_flat(bt->text_mask, i * L + j, 1.0f);
        for (int j = 0; j < P - 2 * i; j++) mgv_set_flat(bt->image_mask, i * P + j, 1.0f);
        bt->target[i] = i % C;
    }
}

static void free_batch(batch *bt)
{
    mgv_tensor *ts[] = {bt->text, bt->text_mask, bt->image, bt->image_mask, bt->entity,
                        bt->labels};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) mgv_release(ts[i]);
}

static mgv_head_batch head_batch(const batch *bt, int text_only)
{
    mgv_head_batch b = {.text = bt->text, .text_mask = bt->text_mask, .entity = bt->entity,
                        .labels = bt->labels};
    if (!text_only) {
        b.image = bt->image;
        b.image_mask = bt->image_mask;
    }
    return b;
}

/* the argmax of each row of scores [B, C] */
static void best(mgv_tensor *s, int *out)
{
    for (int i = 0; i < B; i++) {
        out[i] = 0;
        for (int j = 1; j < C; j++)
            if (mgv_get_flat(s, i * C + j) > mgv_get_flat(s, i * C + out[i])) out[i] = j;
    }
}

/* evaluation with and without per-token outputs agree */
static void compare(mgv_head *h, const batch *bt, const char *what)
{
    mgv_head_batch b = head_batch(bt, h->cfg.text_only);
    mgv_head_out tok, pool;
    int prev = mgv_set_grad_enabled(0);
    h->token_outputs = 1;
    int rc1 = mgv_head_forward(h, &b, 0, &tok);
    h->token_outputs = 0;
    int rc2 = mgv_head_forward(h, &b, 0, &pool);
    mgv_set_grad_enabled(prev);
    CHECK(rc1 == 0 && rc2 == 0);
    if (rc1 < 0 || rc2 < 0) return;
    printf("  %s\n", what);
    CHECK(tok.o_text != NULL && pool.o_text == NULL && pool.o_image == NULL);
    CHECK(close_to("scores", pool.scores, tok.scores));
    CHECK(close_to("attention", pool.attention, tok.attention));
    CHECK(close_to("gate_text", pool.gate_text, tok.gate_text));
    if (!h->cfg.text_only) {
        CHECK(tok.o_image != NULL);
        CHECK(close_to("node vectors", pool.g, tok.g));
        CHECK(close_to("graph", pool.graph, tok.graph));
        CHECK(close_to("p", pool.p, tok.p));
        /* the sample without picture tokens pools to zeros in both */
        for (int j = 0; j < D; j++) CHECK(mgv_get_flat(pool.g, (B - 1) * 2 * D + j) == 0.0f);
    }
    int p1[B], p2[B];
    best(tok.scores, p1);
    best(pool.scores, p2);
    for (int i = 0; i < B; i++) CHECK(p1[i] == p2[i]);
    mgv_head_out_clear(&tok);
    mgv_head_out_clear(&pool);
}

/* a few Adam steps on the training loss, so that weights leave their init */
static void train(mgv_head *h, const batch *bt, int steps)
{
    mgv_head_batch b = head_batch(bt, h->cfg.text_only);
    b.target = bt->target;
    mgv_optim *opt = mgv_adam_new(h->params.n, h->params.tensors, 0.05, 0.9, 0.999, 1e-8, 0, 0);
    CHECK(opt != NULL);
    for (int s = 0; opt && s < steps; s++) {
        mgv_head_out o;
        CHECK(mgv_head_forward(h, &b, 1, &o) == 0);
        CHECK(o.loss && mgv_backward(o.loss, NULL) == 0);
        CHECK(mgv_optim_step(opt) == 0);
        mgv_optim_zero_grad(opt);
        mgv_zero_grad(h->r);
        mgv_head_out_clear(&o);
    }
    mgv_optim_free(opt);
}

static void run(int text_only)
{
    mgv_rng rng;
    mgv_rng_seed(&rng, 7 + (uint64_t)text_only);
    batch bt;
    make_batch(&bt, &rng);
    mgv_head_config cfg = mgv_head_default_config(D, K, DE, DL, 8);
    cfg.text_only = text_only;
    mgv_head h;
    CHECK(mgv_head_init(&h, &cfg, 3) == 0);
    /* biases away from zero so that their pooled terms count */
    mgv_fill_uniform_(mgv_params_get(&h.params, "vmoe.mu.bias"), &rng, -1.0f, 1.0f);
    compare(&h, &bt, "random");
    train(&h, &bt, 5);
    compare(&h, &bt, "trained");
    /* routing overrides: experts 1 and 3 off; then fixed gates */
    unsigned char off[K] = {0, 1, 0, 1};
    h.route.off = off;
    compare(&h, &bt, "experts off");
    h.route.off = NULL;
    mgv_tensor *gates = mgv_rand(1, (int64_t[]){K}, &rng);
    h.route.gates = gates;
    compare(&h, &bt, "fixed gates");
    h.route.gates = NULL;
    mgv_release(gates);
    mgv_head_free(&h);
    free_batch(&bt);
}

static void test_pooled_with_images(void) { run(0); }
static void test_pooled_text_only(void) { run(1); }

/* with a tape, losses or noise the per-token path runs: o_text is there */
static void test_per_token_when_needed(void)
{
    mgv_rng rng;
    mgv_rng_seed(&rng, 11);
    batch bt;
    make_batch(&bt, &rng);
    mgv_head_config cfg = mgv_head_default_config(D, K, DE, DL, 8);
    mgv_head h;
    CHECK(mgv_head_init(&h, &cfg, 3) == 0);
    mgv_head_batch b = head_batch(&bt, 0);
    mgv_head_out o;
    int prev = mgv_set_grad_enabled(1);
    CHECK(mgv_head_forward(&h, &b, 0, &o) == 0 && o.o_text && o.o_image);   /* tape */
    mgv_head_out_clear(&o);
    mgv_set_grad_enabled(0);
    b.target = bt.target;
    CHECK(mgv_head_forward(&h, &b, 0, &o) == 0 && o.o_text && o.l_vmoe);     /* losses */
    mgv_head_out_clear(&o);
    b.target = NULL;
    CHECK(mgv_head_forward(&h, &b, 1, &o) == 0 && o.o_text);                 /* sampling */
    mgv_head_out_clear(&o);
    CHECK(mgv_head_forward(&h, &b, 0, &o) == 0 && !o.o_text && o.g);         /* pooled */
    mgv_head_out_clear(&o);
    mgv_set_grad_enabled(prev);
    mgv_head_free(&h);
    free_batch(&bt);
}

int main(void)
{
    RUN(test_pooled_with_images);
    RUN(test_pooled_text_only);
    RUN(test_per_token_when_needed);
    return CHECK_DONE();
}
