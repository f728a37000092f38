/*
 * test_model_bert.c — MG-VMoE with BERT as the text encoder (issue 8), on the
 * tiny golden checkpoint tests/golden/bert_tiny (hidden 32, 16 positions):
 * the WordPiece batch with entity markers [unused1..4] from the raw words
 * (MRE, through mgv_task_mre) and the raw sentence (MET, byte spans); a
 * train step fine-tunes BERT and the loss falls on a tiny batch; predictions
 * survive a checkpoint round trip; bad configurations are messages.
 */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "fixtures.h"
#include "mgv.h"
#include "data/synth.h"
#include "data/tasks.h"
#include "formats/safetensors.h"
#include "formats/wordpiece.h"
#include "mgvmoe/model.h"

#define BERT_DIR "tests/golden/bert_tiny"

static char dir[] = "/tmp/mgv_model_bert_XXXXXX";
static mgv_task T;   /* the MRE task of the fixture below */

static const char *glove_json =
    "{\"dimensions\":4,\"vectors\":{"
    "\"person\":[1,0,0,0,1,0],\"location\":[0,1,0,0,1,1],\"organization\":[0,0,0,1,1,2],"
    "\"couple\":[0,0,1,0,1,3],\"member\":[0,0,0,1,1,4],\"of\":[0,0,0,0,1,5],"
    "\"place\":[0,1,0,0,1,6],\"birth\":[0.5,0.5,0,0,1,7],\"peer\":[0.7,0,0,0.3,1,8],"
    "\"neighbor\":[0.5,0.5,0,0,1,9],\"the\":[0,0,0,0,1,10]}}";

/* six relations: the split puts three in train (seed 0) */
static void write_mnre(void)
{
    write_file_in(dir, "train.txt",
                  MNRE_LINE("['Rafael', 'Nadal', 'and', 'the', 'couple', 'Hello']", 0, 2, 5, 6,
                            "/per/per/couple")
                  MNRE_LINE("['Hello', 'and', 'World', 'couple']", 0, 1, 2, 3, "/per/per/couple")
                  MNRE_LINE("['Rafael', 'member', 'of', 'the', 'club', 'York']", 0, 1, 5, 6,
                            "/per/org/member_of")
                  MNRE_LINE("['Nadal', 'member', 'York']", 0, 1, 2, 3, "/per/org/member_of")
                  MNRE_LINE("['Rafael', 'near', 'New', 'York']", 0, 1, 2, 4, "/per/loc/neighbor")
                  MNRE_LINE("['World', 'near', 'York', 'end']", 0, 1, 2, 3, "/per/loc/neighbor"));
    write_file_in(dir, "val.txt",
                  MNRE_LINE("['Rafael', 'born', 'in', 'New', 'York']", 0, 1, 3, 5,
                            "/per/loc/place_of_birth")
                  MNRE_LINE("['Hello', 'peer', 'World']", 0, 1, 2, 3, "/per/per/peer"));
    write_file_in(dir, "test.txt",
                  MNRE_LINE("['the', 'club', 'at', 'New', 'York']", 1, 2, 3, 5,
                            "/org/loc/locate_at")
                  MNRE_LINE("['Nadal', 'peer', 'Rafael']", 0, 1, 2, 3, "/per/per/peer"));
}

static mgv_model_config bert_config(int n_spans)
{
    mgv_model_config c = mgv_model_default_config();
    c.n_spans = n_spans;
    c.use_images = 0;
    c.head.experts = 2;
    c.head.proj = 16;
    c.lr = 1e-3;
    c.seed = 5;
    c.bert_dir = BERT_DIR;
    return c;
}

static mgv_tensor *bert_param(const mgv_model *m, const char *name)
{
    char full[256];
    snprintf(full, sizeof full, "text.bert.%s", name);
    return mgv_params_get(&m->params, full);
}

static void test_init_follows_checkpoint(void)
{
    mgv_model m;
    mgv_model_config c = bert_config(2);
    c.hidden = 64;   /* ignored: BERT's hidden wins */
    char keep[64];
    snprintf(keep, sizeof keep, "%s", c.bert_dir);
    c.bert_dir = keep;
    CHECK(mgv_model_init(&m, &c, NULL) == 0);
    keep[0] = 0;   /* the model keeps its own copy of the directory */
    CHECK(m.cfg.hidden == 32 && m.cfg.heads == 4 && m.cfg.text_layers == 2);
    CHECK(m.cfg.max_len == 16);   /* 96 capped at the 16 positions */
    CHECK(m.cfg.bert_dir && strcmp(m.cfg.bert_dir, BERT_DIR) == 0);
    CHECK(m.wp && mgv_wordpiece_vocab_size(m.wp) == 155);
    /* entity feature [CLS; E1; E2] of 3 x 32 */
    CHECK(m.head.cfg.entity_dim == 96 && m.head.cfg.label_dim == 32);
    mgv_tensor *w = bert_param(&m, "embeddings.word_embeddings.weight");
    CHECK(w && w->shape[0] == 155 && w->shape[1] == 32);
    mgv_model_free(&m);
}

static void test_collate_words_with_markers(void)
{
    mgv_model m;
    mgv_model_config c = bert_config(2);
    CHECK(mgv_model_init(&m, &c, NULL) == 0);
    const mgv_dataset *ds = &T.split[0];
    CHECK(ds->n >= 4 && ds->inst[0].words && ds->class_phrases);
    const mgv_wordpiece_specials *sp = mgv_wordpiece_specials_of(m.wp);
    int idx[4] = {0, 1, 2, 3};
    mgv_batch b;
    CHECK(mgv_model_collate(&m, ds, idx, 4, &b) == 0);
    CHECK(b.B == 4 && b.L <= 16);
    for (int i = 0; i < 4; i++) {
        const mgv_instance *in = &ds->inst[idx[i]];
        const int32_t *row = b.ids + i * b.L;
        CHECK(row[0] == sp->cls);
        CHECK(row[b.marker[2 * i]] == sp->marker[0]);       /* [unused1] head */
        CHECK(row[b.marker[2 * i + 1]] == sp->marker[2]);   /* [unused3] tail */
        /* the word after the head marker is the head's first word */
        const char *tok = mgv_wordpiece_token(m.wp, row[b.marker[2 * i] + 1]);
        const char *w = in->words[in->span_begin[0]];
        CHECK(tok && (strcmp(tok, w) == 0 || strcmp(tok, "[UNK]") == 0));
        int n = 0;
        for (int64_t t = 0; t < b.L; t++) n += mgv_get_flat(b.text_mask, i * b.L + t) > 0;
        CHECK(row[n - 1] == sp->sep);
        for (int64_t t = n; t < b.L; t++) CHECK(row[t] == sp->pad);
        CHECK(b.target[i] == in->label);
    }
    mgv_batch_free(&b);
    /* "Rafael Nadal" is in the tiny vocabulary: [CLS] [unused1] Rafael Nadal [unused2] and ... */
    int found = 0;
    for (int s = 0; s < 3; s++) {
        ds = &T.split[s];
        for (int i = 0; i < ds->n; i++)
            if (ds->inst[i].n_tokens == 6 && strcmp(ds->inst[i].words[1], "Nadal") == 0) {
                found++;
                CHECK(mgv_model_collate(&m, ds, &i, 1, &b) == 0);
                CHECK(b.marker[0] == 1 && b.ids[1] == sp->marker[0]);
                CHECK(b.ids[2] == mgv_wordpiece_id(m.wp, "Rafael"));
                CHECK(b.ids[3] == mgv_wordpiece_id(m.wp, "Nadal"));
                CHECK(b.ids[4] == sp->marker[1]);
                mgv_batch_free(&b);
            }
    }
    CHECK(found == 1);
    ds = &T.split[0];
    /* label embeddings: one vector per class, through BERT */
    mgv_tensor *lab = mgv_model_label_embeddings(&m, ds, 0);
    CHECK(lab && lab->shape[0] == ds->n_classes && lab->shape[1] == 32);
    mgv_release(lab);
    mgv_model_free(&m);
}

/* The loss of instances idx[0..n) in evaluation mode (no dropout). */
static double eval_loss(mgv_model *m, const mgv_dataset *ds, const int *idx, int n)
{
    mgv_head_out o;
    double loss = NAN;
    if (mgv_model_forward(m, ds, idx, n, 0, 1, &o) == 0) {
        if (o.loss) loss = mgv_get_flat(o.loss, 0);
        mgv_head_out_clear(&o);
    }
    return loss;
}

static void test_train_steps_fine_tune_bert(void)
{
    mgv_model m;
    mgv_model_config c = bert_config(2);
    c.head.dropout = 0;
    CHECK(mgv_model_init(&m, &c, NULL) == 0);
    const mgv_dataset *ds = &T.split[0];
    mgv_tensor *q = bert_param(&m, "encoder.layer.0.attention.self.query.weight");
    mgv_tensor *q0 = q ? mgv_clone_data(q) : NULL;
    CHECK(q && q0);
    int idx[4] = {0, 1, 2, 3};
    /* the training losses carry BERT's dropout (which masks a few steps
     * happen to draw decides); the evaluation loss does not */
    double first = eval_loss(&m, ds, idx, 4), last = NAN;
    int ok = 1;
    for (int s = 0; s < 20 && ok; s++) {
        mgv_step_stats st;
        if (mgv_model_train_step(&m, ds, idx, 4, &st) < 0) {
            ok = 0;
            break;
        }
        CHECK(isfinite(st.loss));
    }
    CHECK(ok);
    CHECK(m.steps == 20);
    last = eval_loss(&m, ds, idx, 4);
    CHECK(isfinite(first) && last < first);   /* four instances are learnt */
    if (getenv("MGV_VERBOSE") || !(last < first)) printf("  loss %g -> %g\n", first, last);
    /* the step reached BERT: its weights moved */
    double moved = 0;
    for (int64_t k = 0; q && q0 && k < mgv_numel(q); k++)
        moved = fmax(moved, fabs(mgv_get_flat(q, k) - mgv_get_flat(q0, k)));
    CHECK(moved > 1e-5);
    mgv_release(q0);
    mgv_model_free(&m);
}

static void test_checkpoint_round_trip(void)
{
    mgv_model a, b;
    mgv_model_config c = bert_config(2);
    CHECK(mgv_model_init(&a, &c, NULL) == 0);
    const mgv_dataset *ds = &T.split[0];
    int idx[4] = {0, 1, 2, 3};
    mgv_step_stats st;
    for (int s = 0; s < 3; s++) CHECK(mgv_model_train_step(&a, ds, idx, 4, &st) == 0);
    char path[256];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    CHECK(mgv_model_save(&a, path, 1, 0, NULL, NULL) == 0);
    /* the BERT weights are in the checkpoint under text.bert. */
    mgv_st_file *f = mgv_safetensors_load(path);
    CHECK(f && mgv_st_get(f, "text.bert.embeddings.word_embeddings.weight"));
    CHECK(f && mgv_st_get(f, "optim.m.text.bert.encoder.layer.1.output.dense.weight"));
    if (f) mgv_st_free(f);
    mgv_model_config c2 = bert_config(2);
    c2.seed = 99;   /* a different head initialisation, overwritten by the load */
    CHECK(mgv_model_init(&b, &c2, NULL) == 0);
    CHECK(mgv_model_load(&b, path) == 0);
    CHECK(b.steps == 3);
    int n = ds->n, pa[16], pb[16];
    CHECK(mgv_model_predict(&a, ds, 4, pa, NULL, NULL) == 0);
    CHECK(mgv_model_predict(&b, ds, 4, pb, NULL, NULL) == 0);
    for (int i = 0; i < n && i < 16; i++) CHECK(pa[i] == pb[i]);
    mgv_head_out oa, ob;
    int prev = mgv_set_grad_enabled(0);
    CHECK(mgv_model_forward(&a, ds, idx, 4, 0, 1, &oa) == 0);
    CHECK(mgv_model_forward(&b, ds, idx, 4, 0, 1, &ob) == 0);
    mgv_set_grad_enabled(prev);
    for (int64_t k = 0; oa.scores && ob.scores && k < mgv_numel(oa.scores); k++)
        CHECK(mgv_get_flat(oa.scores, k) == mgv_get_flat(ob.scores, k));
    CHECK(mgv_get_flat(oa.loss, 0) == mgv_get_flat(ob.loss, 0));
    mgv_head_out_clear(&oa);
    mgv_head_out_clear(&ob);
    /* a GloVe model's checkpoint does not fit a BERT model */
    mgv_model g;
    mgv_model_config gc = mgv_model_default_config();
    gc.n_spans = 2;
    gc.use_images = 0;
    gc.head.experts = 2;
    gc.head.proj = 16;
    gc.hidden = 32;
    CHECK(mgv_model_init(&g, &gc, T.words) == 0);
    char gpath[256];
    snprintf(gpath, sizeof gpath, "%s/glove.safetensors", dir);
    CHECK(mgv_model_save(&g, gpath, 0, 0, NULL, NULL) == 0);
    CHECK(mgv_model_load(&b, gpath) < 0);
    CHECK_ERROR_HAS("text.bert.");
    mgv_model_free(&g);
    mgv_model_free(&a);
    mgv_model_free(&b);
}

/* MET: the raw sentence with the mention as a byte span */
static void test_sentence_path(void)
{
    mgv_model m;
    mgv_model_config c = bert_config(1);
    CHECK(mgv_model_init(&m, &c, NULL) == 0);
    static const char *sent[3] = {"Hello Rafael Nadal , play", "the World end", "New York stop"};
    static const int64_t mb[3] = {6, 4, 0}, me[3] = {18, 9, 8};
    mgv_instance inst[3];
    memset(inst, 0, sizeof inst);
    for (int i = 0; i < 3; i++) {
        inst[i].n_spans = 1;
        inst[i].text = (char *)sent[i];
        inst[i].text_begin[0] = mb[i];
        inst[i].text_end[0] = me[i];
        inst[i].label = i % 2;
        inst[i].image = -1;
    }
    char *names[2] = {"People", "Location"}, *phrases[2] = {"people", "location"};
    mgv_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.n = 3;
    ds.inst = inst;
    ds.n_classes = 2;
    ds.class_names = names;
    ds.class_phrases = phrases;
    const mgv_wordpiece_specials *sp = mgv_wordpiece_specials_of(m.wp);
    int idx[3] = {0, 1, 2};
    mgv_batch b;
    CHECK(mgv_model_collate(&m, &ds, idx, 3, &b) == 0);
    /* [CLS] Hello [unused1] Rafael Nadal [unused2] , play [SEP] */
    CHECK(b.marker[0] == 2 && b.ids[2] == sp->marker[0]);
    CHECK(b.ids[3] == mgv_wordpiece_id(m.wp, "Rafael") && b.ids[5] == sp->marker[1]);
    CHECK(b.marker[2] == 1 && b.ids[2 * b.L + 1] == sp->marker[0]);
    mgv_batch_free(&b);
    mgv_step_stats st;
    CHECK(mgv_model_train_step(&m, &ds, idx, 3, &st) == 0 && isfinite(st.loss));
    int pred[3] = {-1, -1, -1};
    CHECK(mgv_model_predict(&m, &ds, 2, pred, NULL, NULL) == 0);
    for (int i = 0; i < 3; i++) CHECK(pred[i] == 0 || pred[i] == 1);
    mgv_model_free(&m);
}

/* mgv_model_init refuses c (with words) with a message that has msg. */
static void check_init_fails(const mgv_model_config *c, mgv_tensor *words, const char *msg)
{
    mgv_model m;
    CHECK(mgv_model_init(&m, c, words) < 0);
    CHECK_ERROR_HAS(msg);
}

static void test_errors(void)
{
    mgv_model m;
    mgv_model_config c = bert_config(2);
    c.prior = 1;
    check_init_fails(&c, T.words, "needs GloVe");
    c = bert_config(2);
    c.text_features = 1;
    check_init_fails(&c, NULL, "exclude");
    c = bert_config(2);
    c.bert_dir = "/nonexistent-mgv-bert";
    check_init_fails(&c, NULL, "nonexistent-mgv-bert");
    c = bert_config(2);
    c.max_len = 4;
    check_init_fails(&c, NULL, "max_len 4");
    /* a data set without raw text (the synthetic set) */
    c = bert_config(1);
    CHECK(mgv_model_init(&m, &c, NULL) == 0);
    mgv_synth_config sc = mgv_synth_default_config();
    sc.per_class = 2;
    mgv_synth S;
    CHECK(mgv_synth_generate(&sc, &S) == 0);
    int one = 0;
    mgv_batch b;
    CHECK(mgv_model_collate(&m, &S.data, &one, 1, &b) < 0);
    CHECK_ERROR_HAS("no raw text");
    mgv_head_out o;
    CHECK(mgv_model_forward(&m, &S.data, &one, 1, 0, 1, &o) < 0);
    mgv_synth_free(&S);
    mgv_model_free(&m);
}

/* subset keeps the raw words and the phrases */
static void test_subset_keeps_raw_text(void)
{
    const mgv_dataset *ds = &T.split[0];
    int keep[1] = {ds->n_classes - 1};
    mgv_dataset sub;
    CHECK(mgv_dataset_subset(ds, 1, keep, &sub) == 0);
    CHECK(sub.n >= 1 && sub.class_phrases && sub.class_phrases[0]);
    CHECK(strcmp(sub.class_phrases[0], ds->class_phrases[keep[0]]) == 0);
    for (int i = 0; i < sub.n; i++) {
        CHECK(sub.inst[i].words != NULL);
        for (int t = 0; sub.inst[i].words && t < sub.inst[i].n_tokens; t++)
            CHECK(sub.inst[i].words[t] && sub.inst[i].words[t][0]);
    }
    mgv_dataset_free(&sub);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    write_file_in(dir, "glove.json", glove_json);
    write_mnre();
    char json[256], cache[256];
    snprintf(json, sizeof json, "%s/glove.json", dir);
    snprintf(cache, sizeof cache, "%s/glove.bin", dir);
    mgv_glove *g = mgv_glove_open_or_convert(json, cache, NULL, NULL);
    if (!g || mgv_task_mre(&T, dir, g, 0, NULL) < 0) {
        printf("FAIL fixture: %s\n", mgv_last_error());
        return 1;
    }
    mgv_glove_close(g);
    RUN(test_init_follows_checkpoint);
    RUN(test_collate_words_with_markers);
    RUN(test_train_steps_fine_tune_bert);
    RUN(test_checkpoint_round_trip);
    RUN(test_sentence_path);
    RUN(test_errors);
    RUN(test_subset_keeps_raw_text);
    mgv_task_free(&T);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return CHECK_DONE();
}
