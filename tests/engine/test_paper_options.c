/*
 * test_paper_options.c — the options that follow the authors' code (issue
 * 15): MG-VAT's reference update order (r moved by its own step on
 * -L_mg + |r| and by the model step), Glorot initialisation, per-sample
 * label dropout, and the paper preset's values, each with the file and line
 * of ZovanZhou/MG-VMoE (commit dec18d7f) it comes from.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mgv.h"
#include "data/synth.h"
#include "mgvmoe/model.h"

static mgv_synth S;

static mgv_model_config tiny_config(void)
{
    mgv_model_config c = mgv_model_default_config();
    c.hidden = 16;
    c.heads = 2;
    c.head.experts = 2;
    c.head.proj = 8;
    c.image_size = S.cfg.image_size;
    c.patch = 4;
    c.lr = 1e-2;
    c.seed = 7;
    c.mg_update = 1;
    return c;
}

static double max_diff(mgv_tensor *a, mgv_tensor *b)
{
    double d = 0;
    for (int64_t i = 0; i < mgv_numel(a); i++) {
        double e = fabs(mgv_get_flat(a, i) - mgv_get_flat(b, i));
        if (e > d) d = e;
    }
    return d;
}

static double l2(mgv_tensor *t)
{
    double s = 0;
    for (int64_t i = 0; i < mgv_numel(t); i++) s += mgv_get_flat(t, i) * mgv_get_flat(t, i);
    return sqrt(s);
}

/* three models of one seed: A takes only r's own step, B a whole reference
 * step, C a forward pass that measures L_mg at A's draw of noise */
static void test_reference_update(void)
{
    int idx[8] = {0, 3, 5, 8, 11, 14, 17, 20};
    mgv_model_config c = tiny_config();
    mgv_model a, b, m;
    CHECK(mgv_model_init(&a, &c, S.word_vectors) == 0);
    CHECK(mgv_model_init(&b, &c, S.word_vectors) == 0);
    CHECK(mgv_model_init(&m, &c, S.word_vectors) == 0);
    /* the model's optimiser holds r (MRE/framework.py:134-135, r trainable) */
    CHECK(b.opt->n == b.params.n + b.head.params.n + 1 && b.opt->params[b.opt->n - 1] == b.head.r);
    mgv_tensor *r0 = mgv_clone_data(a.head.r);
    CHECK(max_diff(r0, b.head.r) == 0);

    double obj = 0;
    CHECK(mgv_model_perturb_step(&a, &S.data, idx, 8, &obj) == 0);
    mgv_step_stats st;
    CHECK(mgv_model_train_step(&b, &S.data, idx, 8, &st) == 0);
    double moved_own = max_diff(a.head.r, r0), moved_both = max_diff(b.head.r, a.head.r);
    printf("  r moved by its own step %.3g, then by the model step %.3g\n", moved_own, moved_both);
    CHECK(moved_own > 1e-4);     /* Adam's first step: about lr per entry */
    CHECK(moved_both > 1e-4);    /* the model step moved r too */
    /* B's first half is A's step: the same objective */
    CHECK(fabs(st.r_objective - obj) < 1e-6);

    /* the objective is -L_mg + |r0|_2 (MRE/multimodal_encoder.py:177, :181) */
    mgv_head_out out;
    int prev = mgv_set_grad_enabled(0);
    CHECK(mgv_model_forward(&m, &S.data, idx, 8, 1, 1, &out) == 0);
    mgv_set_grad_enabled(prev);
    double l_mg = mgv_get_flat(out.l_mg, 0), want = -l_mg + l2(r0);
    printf("  objective %.6f, -L_mg + |r| %.6f (L_mg %.3g)\n", obj, want, l_mg);
    CHECK(l_mg > 0);
    CHECK(fabs(obj - want) < 1e-5);
    mgv_head_out_clear(&out);

    /* the checkpoint keeps r's moments in both optimisers and loads back */
    char path[] = "/tmp/mgv-test-paper-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK(mgv_model_save(&b, path, 1, 0, NULL, NULL) == 0);
    mgv_model_free(&m);
    CHECK(mgv_model_init(&m, &c, S.word_vectors) == 0);
    CHECK(mgv_model_load(&m, path) == 0);
    CHECK(max_diff(m.head.r, b.head.r) == 0);
    CHECK(m.opt->m[m.opt->n - 1] && max_diff(m.opt->m[m.opt->n - 1], b.opt->m[b.opt->n - 1]) == 0);
    CHECK(m.opt_r->m[0] && max_diff(m.opt_r->m[0], b.opt_r->m[0]) == 0);
    unlink(path);

    /* ours (after): r is not in the model's optimiser */
    mgv_model o;
    c.mg_update = 0;
    CHECK(mgv_model_init(&o, &c, S.word_vectors) == 0);
    CHECK(o.opt->n == o.params.n + o.head.params.n);
    mgv_model_free(&o);
    mgv_release(r0);
    mgv_model_free(&a);
    mgv_model_free(&b);
    mgv_model_free(&m);
}

/* The fresh forward's picture rows of the experts' Y serve the taped forward
 * of the same step (ops_vmoe.h's reuse record): steps with and without it
 * leave every parameter with the same bits. */
static void test_reuse_same_bits(void)
{
    int idx[8] = {0, 3, 5, 8, 11, 14, 17, 20};
    mgv_model_config c = tiny_config();
    c.image_features = 1;
    int64_t is[3] = {S.data.n, 5, c.hidden}, ms[2] = {S.data.n, 5};
    mgv_rng r;
    mgv_rng_seed(&r, 9);
    S.data.feat.image = mgv_randn(3, is, &r);
    S.data.feat.image_mask = mgv_ones(2, ms);
    mgv_model a, b;
    CHECK(mgv_model_init(&a, &c, S.word_vectors) == 0);
    CHECK(mgv_model_init(&b, &c, S.word_vectors) == 0);
    b.no_reuse = 1;
    for (int step = 0; step < 3; step++) {
        mgv_step_stats sa, sb;
        CHECK(mgv_model_train_step(&a, &S.data, idx, 8, &sa) == 0);
        CHECK(mgv_model_train_step(&b, &S.data, idx, 8, &sb) == 0);
        CHECK(sa.loss == sb.loss && sa.r_objective == sb.r_objective);
    }
    CHECK(a.opt->n == b.opt->n && a.opt->n > 0);
    for (int i = 0; i < a.opt->n; i++) CHECK(max_diff(a.opt->params[i], b.opt->params[i]) == 0);
    CHECK(max_diff(a.head.r, b.head.r) == 0 && !a.head.reuse);
    mgv_model_free(&a);
    mgv_model_free(&b);
    mgv_release(S.data.feat.image);
    mgv_release(S.data.feat.image_mask);
    S.data.feat.image = S.data.feat.image_mask = NULL;
}

/* Keras' Dense: Glorot uniform, zero bias (MRE/model.py:73-74, no initializer) */
static void test_glorot_init(void)
{
    mgv_head_config hc = mgv_head_default_config(16, 3, 48, 16, 8);
    CHECK(hc.init == 1 && hc.label_dropout == 1);   /* the authors' values */
    mgv_head h;
    CHECK(mgv_head_init(&h, &hc, 1) == 0);
    const char *names[] = {"vmoe.gate", "vmoe.mu", "vmoe.logvar", "fuse", "score.x", "score.label"};
    for (int k = 0; k < 6; k++) {
        char wn[64], bn[64];
        snprintf(wn, sizeof wn, "%s.weight", names[k]);
        snprintf(bn, sizeof bn, "%s.bias", names[k]);
        mgv_tensor *w = mgv_params_get(&h.params, wn), *b = mgv_params_get(&h.params, bn);
        double a = sqrt(6.0 / (double)(w->shape[0] + w->shape[1])), mx = 0;
        for (int64_t i = 0; i < mgv_numel(w); i++) {
            double v = fabs(mgv_get_flat(w, i));
            if (v > mx) mx = v;
        }
        CHECK(mx <= a && mx > 0.8 * a);
        CHECK(l2(b) == 0);
    }
    mgv_head_free(&h);
    hc.init = 0;   /* PyTorch's: biases U(+-1/sqrt(fan_in)) */
    CHECK(mgv_head_init(&h, &hc, 1) == 0);
    CHECK(l2(mgv_params_get(&h.params, "score.x.bias")) > 0);
    mgv_head_free(&h);
}

/* one mask per sample over [B, C, DL] (MRE/model.py:83, :89): with the
 * instance side constant, a per-batch mask gives every sample the same
 * scores and a per-sample one does not */
static void test_label_dropout_per_sample(void)
{
    int B = 4, C = 5, d = 8;
    for (int mode = 0; mode < 2; mode++) {
        mgv_head_config hc = mgv_head_default_config(d, 2, 2 * d, d, 6);
        hc.dropout = 0.5f;
        hc.label_dropout = mode;
        hc.text_only = 1;
        hc.use_nce = hc.use_mg = 0;
        mgv_head h;
        CHECK(mgv_head_init(&h, &hc, 3) == 0);
        mgv_fill_(mgv_params_get(&h.params, "score.x.weight"), 0.0f);
        mgv_fill_(mgv_params_get(&h.params, "score.x.bias"), 1.0f);
        int64_t ts[3] = {B, 3, d}, ms[2] = {B, 3}, es[2] = {B, 2 * d}, ls[2] = {C, d};
        mgv_tensor *text = mgv_zeros(3, ts), *mask = mgv_zeros(2, ms), *ent = mgv_zeros(2, es);
        mgv_tensor *labels = mgv_zeros(2, ls);
        mgv_fill_(mask, 1.0f);
        mgv_fill_uniform_(labels, &h.rng, 0.5f, 1.0f);
        int64_t target[4] = {0, 1, 2, 3};
        mgv_head_batch hb = {.text = text, .text_mask = mask, .entity = ent, .labels = labels,
                             .target = target};
        mgv_head_out out;
        CHECK(mgv_head_forward(&h, &hb, 1, &out) == 0);
        CHECK(out.scores->ndim == 2 && out.scores->shape[0] == B && out.scores->shape[1] == C);
        double spread = 0;
        for (int b = 1; b < B; b++)
            for (int c = 0; c < C; c++) {
                double e = fabs(mgv_get_flat(out.scores, b * C + c) - mgv_get_flat(out.scores, c));
                if (e > spread) spread = e;
            }
        printf("  label dropout per %s: largest difference between samples %.3g\n",
               mode ? "sample" : "batch", spread);
        CHECK(mode ? spread > 1e-3 : spread == 0);
        /* the loss has gradients through the batched scores */
        CHECK(out.loss && mgv_backward(out.loss, NULL) == 0);
        mgv_tensor *gw = mgv_params_get(&h.params, "score.label.weight")->grad;
        CHECK(gw && l2(gw) > 0);
        mgv_head_out_clear(&out);
        mgv_release(text);
        mgv_release(mask);
        mgv_release(ent);
        mgv_release(labels);
        mgv_head_free(&h);
    }
}

/* The paper preset against the authors' code, ZovanZhou/MG-VMoE at
 * dec18d7f4b4e87fb9e59383145acb2011bbbada6. */
static void test_paper_preset(void)
{
    for (int task = 1; task <= 2; task++) {
        mgv_model_config c = mgv_model_default_config();
        c.n_spans = task;
        CHECK(mgv_model_preset("paper", &c) == 0);
        CHECK(c.n_spans == task);
        /* MRE/main.py:28 --n_expert default=8 (MET/main.py:28) */
        CHECK(c.head.experts == 8);
        /* MRE/model.py:70 d: int = 256; MET/model.py:36 d: int = 768 */
        CHECK(c.head.proj == (task == 2 ? 256 : 768));
        /* MRE/model.py:75 Dropout(0.1), :88-89 on h_emb and h_label_emb */
        CHECK(fabsf(c.head.dropout - 0.1f) < 1e-7f);
        /* MRE/framework.py:157 Adam(learning_rate=lr), no clipnorm anywhere */
        CHECK(c.clip == 0 && c.weight_decay == 0);
        /* MRE/main.py:25 --lr default=1e-5 */
        CHECK(fabs(c.lr - 1e-5) < 1e-12);
        /* MRE/main.py:29 --beta 1.0; MRE/multimodal_encoder.py:179 ibmoe + infonce + graph */
        CHECK(c.head.beta == 1.0f && c.head.vmoe_weight == 1.0f);
        /* MRE/main.py:23 --max_seq_len default=128 */
        CHECK(c.max_len == 128);
        /* MRE/data_loader.py:297 the raw class name; MRE/sentence_encoder.py:41 reduce_mean */
        CHECK(c.label_text == 1);
        /* MRE/data_loader.py:163 Tokenizer(token_dict): keras-bert cased=False; :124 lower() */
        CHECK(c.bert_lowercase == 1);
        /* MRE/data_loader.py:126 [unused1], :139 [unused3] around the head; :129, :141 */
        CHECK(c.mre_markers == 1);
        /* MRE/model.py:73-74, MRE/multimodal_encoder.py:48-50, :108: Dense defaults */
        CHECK(c.head.init == 1);
        /* MRE/model.py:83 reshape (-1, n_class, hidden), :89 dropout, noise_shape None */
        CHECK(c.head.label_dropout == 1);
        /* MRE/framework.py:127-129 r's step, then :134-135 over trainable_variables */
        CHECK(c.mg_update == 1);
        /* MRE/multimodal_encoder.py:90 hidden_size 768; :93-95 vit_b16 at 384 */
        CHECK(c.hidden == 768 && c.image_size == 384 && c.patch == 16);
        /* MRE/main.py seed 0; images on (MRE/main.py:68 use_img=True) */
        CHECK(c.seed == 0 && c.use_images == 1 && c.prior == 0);
        CHECK(c.head.use_vmoe && c.head.use_nce && c.head.use_mg &&
              c.head.vat_mode == MGV_VAT_LEARNED);
    }
    mgv_model_config c = mgv_model_default_config();
    CHECK(mgv_model_preset("papers", &c) < 0);
    CHECK_ERROR_HAS("unknown preset 'papers'");
}

int main(void)
{
    mgv_synth_config sc = mgv_synth_default_config();
    sc.per_class = 6;
    if (mgv_synth_generate(&sc, &S) < 0) {
        printf("FAIL synth_generate: %s\n", mgv_last_error());
        return 1;
    }
    RUN(test_reference_update);
    RUN(test_reuse_same_bits);
    RUN(test_glorot_init);
    RUN(test_label_dropout_per_sample);
    RUN(test_paper_preset);
    mgv_synth_free(&S);
    return CHECK_DONE();
}
