/*
 * test_model.c — MG-VMoE end to end on the synthetic set: batch assembly
 * (markers, padding, truncation), training lowers the loss, prediction is
 * deterministic, checkpoints round-trip and resume (and fail whole), bad input is a
 * message.
 */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "mgv.h"
#include "data/synth.h"
#include "data/tasks.h"
#include "formats/safetensors.h"
#include "mgvmoe/model.h"

static mgv_synth S;

static mgv_model_config small_config(void)
{
    mgv_model_config c = mgv_model_default_config();
    c.hidden = 32;
    c.heads = 2;
    c.head.experts = 4;
    c.head.proj = 32;
    c.image_size = S.cfg.image_size;
    c.patch = 4;
    c.lr = 2e-3;
    c.seed = 3;
    return c;
}

static void test_collate_markers(void)
{
    mgv_model m;
    mgv_model_config c = small_config();
    CHECK(mgv_model_init(&m, &c, S.word_vectors) == 0);
    int idx[2] = {0, 5};
    mgv_batch b;
    CHECK(mgv_model_collate(&m, &S.data, idx, 2, &b) == 0);
    /* [CLS] + 10 tokens + 2 markers */
    CHECK(b.B == 2 && b.L == 13);
    for (int i = 0; i < 2; i++) {
        const mgv_instance *in = &S.data.inst[idx[i]];
        CHECK(b.ids[i * b.L] == MGV_TOK_CLS);
        CHECK(b.marker[i] == in->span_begin[0] + 1);
        CHECK(b.ids[i * b.L + b.marker[i]] == MGV_TOK_E);
        CHECK(b.ids[i * b.L + b.marker[i] + 1] == in->tokens[in->span_begin[0]]);
        CHECK(b.ids[i * b.L + b.marker[i] + 2] == MGV_TOK_E_END);
        CHECK(b.target[i] == in->label);
    }
    CHECK(b.image_mask && mgv_numel(b.image_mask) == 2 * m.vision.n_tokens);
    mgv_batch_free(&b);
    /* truncation keeps the markers inside the window */
    mgv_model_config c2 = small_config();
    c2.max_len = 6;
    mgv_model m2;
    CHECK(mgv_model_init(&m2, &c2, S.word_vectors) == 0);
    for (int i = 0; i < 20; i++) {
        int one = i * 7;
        CHECK(mgv_model_collate(&m2, &S.data, &one, 1, &b) == 0);
        CHECK(b.L <= 6);
        CHECK(b.ids[b.marker[0]] == MGV_TOK_E);
        mgv_batch_free(&b);
    }
    int bad = S.data.n;
    CHECK(mgv_model_collate(&m2, &S.data, &bad, 1, &b) < 0);
    CHECK_ERROR_HAS("out of range");
    mgv_model_free(&m2);
    mgv_model_free(&m);
}

static void test_training_lowers_loss(void)
{
    mgv_dataset train;
    CHECK(mgv_dataset_subset(&S.data, S.split_n[0], S.split[0], &train) == 0);
    mgv_model m;
    mgv_model_config c = small_config();
    CHECK(mgv_model_init(&m, &c, S.word_vectors) == 0);
    mgv_rng r;
    mgv_rng_seed(&r, 5);
    int idx[16];
    double first = 0, last = 0;
    for (int step = 0; step < 60; step++) {
        for (int i = 0; i < 16; i++) idx[i] = (int)mgv_rng_below(&r, (uint64_t)train.n);
        mgv_step_stats st;
        CHECK(mgv_model_train_step(&m, &train, idx, 16, &st) == 0);
        if (step < 5) first += st.l_rank / 5;
        if (step >= 55) last += st.l_rank / 5;
    }
    printf("  ranking loss: first 5 steps %.3f, last 5 steps %.3f\n", first, last);
    CHECK(last < 0.6 * first);
    CHECK(m.steps == 60);
    /* prediction is deterministic in evaluation */
    int *p1 = malloc(sizeof(int) * (size_t)train.n), *p2 = malloc(sizeof(int) * (size_t)train.n);
    CHECK(mgv_model_predict(&m, &train, 32, p1, NULL, NULL) == 0);
    CHECK(mgv_model_predict(&m, &train, 7, p2, NULL, NULL) == 0);
    int same = 1, correct = 0;
    for (int i = 0; i < train.n; i++) {
        same &= p1[i] == p2[i];
        correct += p1[i] == train.inst[i].label;
    }
    CHECK(same);
    printf("  train accuracy after 60 steps: %.3f\n", (double)correct / train.n);
    CHECK(correct > train.n / 2);
    /* checkpoint round trip: a fresh model loads and predicts the same */
    char path[] = "/tmp/mgv-test-model-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK(mgv_model_save(&m, path, 1, 0, NULL, NULL) == 0);
    mgv_model m2;
    mgv_model_config c2 = small_config();
    c2.seed = 99;
    CHECK(mgv_model_init(&m2, &c2, S.word_vectors) == 0);
    CHECK(mgv_model_load(&m2, path) == 0);
    CHECK(m2.steps == 60 && m2.opt->t == m.opt->t);
    CHECK(mgv_model_predict(&m2, &train, 32, p2, NULL, NULL) == 0);
    same = 1;
    for (int i = 0; i < train.n; i++) same &= p1[i] == p2[i];
    CHECK(same);
    /* a model of another shape refuses the checkpoint and stays as it was */
    mgv_model m3;
    mgv_model_config c3 = small_config();
    c3.head.experts = 2;
    CHECK(mgv_model_init(&m3, &c3, S.word_vectors) == 0);
    CHECK(mgv_model_load(&m3, path) < 0);
    CHECK_ERROR_HAS("in the checkpoint");
    mgv_model_free(&m3);
    unlink(path);
    free(p1);
    free(p2);
    mgv_model_free(&m2);
    mgv_model_free(&m);
    mgv_dataset_free(&train);
}

static void test_inspection_outputs(void)
{
    mgv_model m;
    mgv_model_config c = small_config();
    CHECK(mgv_model_init(&m, &c, S.word_vectors) == 0);
    int idx[4] = {0, 100, 200, 300};
    mgv_head_out o;
    CHECK(mgv_model_forward(&m, &S.data, idx, 4, 0, 1, &o) == 0);
    CHECK(o.gate_text && o.gate_text->shape[0] == 4 && o.gate_text->shape[2] == 4);
    CHECK(o.gate_image && o.gate_image->shape[1] == m.vision.n_tokens);
    CHECK(o.graph && o.graph->shape[0] == 4 && o.graph->shape[1] == 4);
    CHECK(o.p && o.p_tilde && o.p->shape[1] == 2);
    /* gate rows sum to 1; G is symmetric with ones on the diagonal */
    for (int64_t i = 0; i < mgv_numel(o.gate_text) / 4; i++) {
        double s = 0;
        for (int k = 0; k < 4; k++) s += mgv_get_flat(o.gate_text, i * 4 + k);
        CHECK_NEAR(s, 1.0, 1e-5);
    }
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(mgv_get_flat(o.graph, i * 4 + i), 1.0, 1e-5);
        for (int j = 0; j < 4; j++)
            CHECK_NEAR(mgv_get_flat(o.graph, i * 4 + j), mgv_get_flat(o.graph, j * 4 + i), 1e-6);
    }
    mgv_head_out_clear(&o);
    mgv_model_free(&m);
}

static void test_text_only_and_ablations(void)
{
    int idx[8] = {0, 1, 2, 3, 60, 61, 62, 63};
    for (int variant = 0; variant < 4; variant++) {
        mgv_model_config c = small_config();
        if (variant == 0) c.use_images = 0;
        if (variant == 1) c.head.use_vmoe = 0;
        if (variant == 2) c.head.use_mg = 0;
        if (variant == 3) c.head.vat_mode = MGV_VAT_POWER;
        mgv_model m;
        CHECK(mgv_model_init(&m, &c, S.word_vectors) == 0);
        mgv_step_stats st;
        CHECK(mgv_model_train_step(&m, &S.data, idx, 8, &st) == 0);
        CHECK(isfinite(st.loss) && st.loss > 0);
        if (variant == 0) CHECK(st.l_nce == 0 && st.l_mg == 0);
        if (variant == 1) CHECK(st.l_vmoe == 0);
        if (variant == 2) CHECK(st.l_mg == 0);
        if (variant == 3) CHECK(st.l_mg >= 0);
        mgv_model_free(&m);
    }
}

/* The word-vector prior: untrained, the scores are tau times the cosine of
 * the mention's and the label's mean word vectors, so the predictions are
 * the no-training baseline's; the decay term is zero at the start and
 * grows once the maps move; precomputed text features cannot have it. */
static void test_prior_starts_at_baseline(void)
{
    mgv_model_config c = small_config();
    c.prior = 1;
    c.use_images = 0;
    mgv_model m;
    CHECK(mgv_model_init(&m, &c, S.word_vectors) == 0);
    int64_t wd = S.word_vectors->shape[1];
    CHECK(m.head.cfg.prior_dim == 2 * wd && m.head.cfg.prior_identity == wd);
    CHECK(m.head.cfg.proj >= wd);
    int n = S.data.n, *pred = malloc(sizeof(int) * (size_t)n), *base = malloc(sizeof(int) * (size_t)n);
    CHECK(mgv_model_predict(&m, &S.data, 64, pred, NULL, NULL) == 0);
    CHECK(mgv_task_glove_baseline(&S.data, S.word_vectors, base) == 0);
    int same = 0;
    for (int i = 0; i < n; i++) same += pred[i] == base[i];
    CHECK_NEAR(same, n, 0);   /* every prediction agrees with the baseline */
    /* instance 3's scores against a direct computation */
    int one = 3;
    mgv_head_out out;
    CHECK(mgv_model_forward(&m, &S.data, &one, 1, 0, 0, &out) == 0);
    const mgv_instance *in = &S.data.inst[one];
    float *x = calloc((size_t)wd, sizeof(float)), *l = calloc((size_t)wd, sizeof(float));
    CHECK(mgv_word_mean(S.word_vectors, in->tokens + in->span_begin[0],
                        in->span_end[0] - in->span_begin[0], x) > 0);
    double worst = 0;
    for (int k = 0; k < S.data.n_classes; k++) {
        memset(l, 0, sizeof(float) * (size_t)wd);
        mgv_word_mean(S.word_vectors, S.data.class_name_tokens[k], S.data.class_name_len[k], l);
        double xl = 0, xx = 0, ll = 0;
        for (int64_t j = 0; j < wd; j++) {
            xl += (double)x[j] * l[j];
            xx += (double)x[j] * x[j];
            ll += (double)l[j] * l[j];
        }
        double want = 10.0 * xl / sqrt(xx * ll), got = mgv_get_flat(out.scores, k);
        if (fabs(want - got) > worst) worst = fabs(want - got);
    }
    CHECK_NEAR(worst, 0, 1e-4);   /* scores are 10 cos(x, l) */
    mgv_head_out_clear(&out);
    free(x);
    free(l);
    /* training moves the maps: the decay term becomes positive */
    int idx[8] = {0, 1, 2, 3, 60, 61, 62, 63};
    mgv_step_stats st;
    for (int i = 0; i < 3; i++) CHECK(mgv_model_train_step(&m, &S.data, idx, 8, &st) == 0);
    CHECK(mgv_model_forward(&m, &S.data, idx, 8, 1, 1, &out) == 0);
    CHECK(out.l_prior && mgv_get_flat(out.l_prior, 0) > 0);
    CHECK(mgv_get_flat(out.loss, 0) >= mgv_get_flat(out.l_prior, 0));
    mgv_head_out_clear(&out);
    mgv_model_free(&m);
    free(pred);
    free(base);
    mgv_model_config f = small_config();
    f.prior = 1;
    f.text_features = 1;
    f.use_images = 0;
    CHECK(mgv_model_init(&m, &f, NULL) < 0);
    CHECK_ERROR_HAS("word-vector prior");
}

/* a checkpoint keeps every metadata entry; loading the optimiser state
 * under a memory budget that cannot hold it fails and leaves the model as
 * it was */
static void test_checkpoint_failures(void)
{
    mgv_model m, m2;
    mgv_model_config c = small_config();
    CHECK(mgv_model_init(&m, &c, S.word_vectors) == 0);
    int idx[4] = {0, 100, 200, 300};
    mgv_step_stats st;
    CHECK(mgv_model_train_step(&m, &S.data, idx, 4, &st) == 0);
    char path[] = "/tmp/mgv-test-model-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    enum { NM = 60 };
    char kb[NM][16], vb[NM][16];
    const char *keys[NM], *values[NM];
    for (int i = 0; i < NM; i++) {
        snprintf(kb[i], sizeof kb[i], "key%d", i);
        snprintf(vb[i], sizeof vb[i], "value%d", i);
        keys[i] = kb[i];
        values[i] = vb[i];
    }
    CHECK(mgv_model_save(&m, path, 1, NM, keys, values) == 0);
    int64_t before = mgv_bytes_allocated();
    mgv_st_file *f = mgv_safetensors_load(path);
    CHECK(f != NULL);
    int64_t file_bytes = mgv_bytes_allocated() - before;
    CHECK(f && f->n_meta == NM + 6);   /* format, steps, optim_t, optim_r_t, rng, head_rng */
    CHECK(f && mgv_st_meta(f, "key59") && strcmp(mgv_st_meta(f, "key59"), "value59") == 0);
    CHECK(f && mgv_st_meta(f, "steps") && strcmp(mgv_st_meta(f, "steps"), "1") == 0);
    mgv_st_free(f);
    /* the generators come back with the checkpoint: a resumed run draws on */
    mgv_rng rng_at_save = m.rng, head_rng_at_save = m.head.rng;
    mgv_rng_next(&m.rng);
    mgv_rng_normal(&m.head.rng);
    CHECK(mgv_model_load(&m, path) == 0);
    CHECK(memcmp(m.rng.s, rng_at_save.s, sizeof m.rng.s) == 0);
    CHECK(memcmp(m.head.rng.s, head_rng_at_save.s, sizeof m.rng.s) == 0);
    CHECK(m.head.rng.has_spare == head_rng_at_save.has_spare &&
          m.head.rng.spare == head_rng_at_save.spare);
    int64_t moments = 0;
    for (int i = 0; i < m.opt->n; i++)
        if (m.opt->m[i]) moments += 4 * (mgv_numel(m.opt->m[i]) + mgv_numel(m.opt->v[i]));
    CHECK(moments > 0);

    mgv_model_config c2 = small_config();
    c2.seed = 99;
    CHECK(mgv_model_init(&m2, &c2, S.word_vectors) == 0);
    mgv_tensor *w = mgv_params_get(&m2.head.params, "fuse.weight");
    mgv_tensor *w0 = mgv_clone_data(w);
    /* room for the file and half the moments */
    int64_t old = mgv_set_memory_limit(mgv_bytes_allocated() + file_bytes + moments / 2);
    int rc = mgv_model_load(&m2, path);
    mgv_set_memory_limit(old);
    CHECK(rc < 0);
    CHECK_ERROR_HAS("cannot allocate");
    CHECK_ERROR_HAS("optimiser state");
    int same = 1;
    for (int64_t i = 0; i < mgv_numel(w); i++) same &= mgv_get_flat(w, i) == mgv_get_flat(w0, i);
    CHECK(same);
    CHECK(m2.steps == 0 && m2.opt->t == 0 && m2.opt->m[0] == NULL);
    /* with room it loads */
    CHECK(mgv_model_load(&m2, path) == 0);
    CHECK(m2.steps == 1 && m2.opt->m[0] != NULL);
    CHECK(mgv_get_flat(w, 0) == mgv_get_flat(mgv_params_get(&m.head.params, "fuse.weight"), 0));
    mgv_release(w0);
    unlink(path);
    mgv_model_free(&m2);
    mgv_model_free(&m);
}

int main(void)
{
    mgv_synth_config sc = mgv_synth_default_config();
    sc.per_class = 20;
    if (mgv_synth_generate(&sc, &S) < 0) {
        printf("FAIL synth_generate: %s\n", mgv_last_error());
        return 1;
    }
    RUN(test_collate_markers);
    RUN(test_training_lowers_loss);
    RUN(test_inspection_outputs);
    RUN(test_text_only_and_ablations);
    RUN(test_prior_starts_at_baseline);
    RUN(test_checkpoint_failures);
    mgv_synth_free(&S);
    return CHECK_DONE();
}
