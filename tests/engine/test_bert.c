/*
 * test_bert.c — BERT on the engine (engine/nn/bert.c).
 *
 * Golden: scripts/golden_bert_vit.py writes a tiny random BERT (vocab 155,
 * hidden 32, 4 heads, 2 layers, 16 positions) in the Hugging Face layout,
 * tests/golden/bert_tiny/ (config.json, vocab.txt, model.safetensors with
 * "bert." names, old gamma/beta LayerNorm names and an unused head tensor),
 * and its float64 torch results in tests/golden/bert_tiny_io.safetensors:
 * the embeddings output, the last hidden states (a padded second sample,
 * two token types), the pooled output and the gradients of
 * sum(w * H) + sum(wp * pooled) for all 39 parameters. The engine (float32)
 * must agree within 1e-4 (absolute, |values| <= ~3). Also: loading under a
 * prefix, the messages for missing / mis-shaped tensors and bad configs, id
 * and length checks, dropout in training.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/bert.h"
#include "check.h"
#include "fixtures.h"
#include "mgv.h"
#include "formats/safetensors.h"

#define DIR "tests/golden/bert_tiny"
#define IO "tests/golden/bert_tiny_io.safetensors"
#define TOL 1e-4

/* ids / types of the golden file as int32 [B x L] */
static int32_t *int_rows(mgv_tensor *t)
{
    int32_t *v = malloc(sizeof(int32_t) * (size_t)mgv_numel(t));
    for (int64_t i = 0; i < mgv_numel(t); i++) v[i] = (int32_t)mgv_get_flat(t, i);
    return v;
}

static void run_golden(const char *prefix)
{
    mgv_st_file *io = mgv_safetensors_load(IO);
    CHECK(io != NULL);
    if (!io) return;
    mgv_paramset ps;
    mgv_params_init(&ps);
    mgv_bert b;
    CHECK(mgv_bert_load_dir(&b, &ps, prefix, DIR, NULL) == 0);
    CHECK(ps.n == 39 && b.pool_w != NULL && b.cfg.hidden == 32 && b.cfg.vocab_size == 155);
    mgv_tensor *tid = mgv_st_get(io, "ids"), *tty = mgv_st_get(io, "types"),
               *mask = mgv_st_get(io, "mask");
    int64_t B = tid->shape[0], L = tid->shape[1];
    int32_t *ids = int_rows(tid), *types = int_rows(tty);

    int prev = mgv_set_grad_enabled(1);
    mgv_tensor *emb = mgv_bert_embed(&b, B, L, ids, types, 0, NULL);
    mgv_tensor *H = mgv_bert_forward(&b, B, L, ids, types, mask, 0, NULL);
    mgv_tensor *pooled = H ? mgv_bert_pool(&b, H) : NULL;
    CHECK(emb && H && pooled);
    double d_emb = max_abs_diff(emb, mgv_st_get(io, "embeddings"));
    double d_h = max_abs_diff(H, mgv_st_get(io, "hidden"));
    double d_p = max_abs_diff(pooled, mgv_st_get(io, "pooled"));
    CHECK(d_emb <= TOL && d_h <= TOL && d_p <= TOL);

    /* gradients of sum(w * H) + sum(wp * pooled) */
    mgv_tensor *a = mgv_mul(H, mgv_st_get(io, "w")), *sa = mgv_sum_all(a);
    mgv_tensor *c = mgv_mul(pooled, mgv_st_get(io, "wp")), *sc = mgv_sum_all(c);
    mgv_tensor *loss = mgv_add(sa, sc);
    CHECK(loss && mgv_backward(loss, NULL) == 0);
    double d_grad = 0;
    int n_grads = 0;
    for (int i = 0; i < ps.n; i++) {
        char key[300];
        snprintf(key, sizeof key, "grad.%s", ps.names[i] + strlen(prefix));
        mgv_tensor *g = mgv_st_get(io, key);
        if (!g || !ps.tensors[i]->grad) {
            printf("  no gradient for %s\n", ps.names[i]);
            CHECK(0);
            continue;
        }
        double d = max_abs_diff(ps.tensors[i]->grad, g);
        if (d > d_grad) d_grad = d;
        if (!(d <= TOL)) printf("  %s: max abs diff %.3g\n", key, d);
        n_grads++;
    }
    CHECK(n_grads == 39 && d_grad <= TOL);
    printf("  prefix '%s': max abs diff embeddings %.2g, hidden %.2g, pooled %.2g, gradients %.2g\n",
           prefix, d_emb, d_h, d_p, d_grad);

    /* dropout acts in training and nowhere else */
    mgv_tensor *Ht = mgv_bert_forward(&b, B, L, ids, types, mask, 1, NULL);
    CHECK(Ht && max_abs_diff(Ht, H) > 1e-3);
    mgv_set_grad_enabled(prev);
    mgv_tensor *all[] = {emb, H, pooled, a, sa, c, sc, loss, Ht};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mgv_release(all[i]);
    free(ids);
    free(types);
    mgv_bert_free(&b);
    mgv_params_free(&ps);
    mgv_st_free(io);
}

static void test_golden(void) { run_golden(""); }
static void test_golden_prefixed(void) { run_golden("text.bert."); }

static char tmpdir[128];

static void write_text(const char *name, const char *text)
{
    write_file_in(tmpdir, name, text);
}

static void test_errors(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mgv_bert_XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    mgv_paramset ps;
    mgv_params_init(&ps);
    mgv_bert b;
    /* no config */
    CHECK(mgv_bert_load_dir(&b, &ps, "", tmpdir, NULL) < 0);
    CHECK_ERROR_HAS("config.json");
    /* unsupported activation */
    write_text("config.json", "{\"hidden_size\": 32, \"hidden_act\": \"relu\"}");
    CHECK(mgv_bert_load_dir(&b, &ps, "", tmpdir, NULL) < 0);
    CHECK_ERROR_HAS("hidden_act \"relu\" is not supported");
    write_text("config.json", "{\"hidden_size\": \"big\"}");
    CHECK(mgv_bert_load_dir(&b, &ps, "", tmpdir, NULL) < 0);
    CHECK_ERROR_HAS("\"hidden_size\" must be a positive integer");
    /* a config that does not fit the weights: hidden 16 and 3 layers */
    write_text("config.json",
               "{\"vocab_size\": 155, \"hidden_size\": 16, \"num_hidden_layers\": 3, "
               "\"num_attention_heads\": 4, \"intermediate_size\": 64, "
               "\"max_position_embeddings\": 16, \"type_vocab_size\": 2}");
    char link[256];
    snprintf(link, sizeof link, "%s/model.safetensors", tmpdir);
    CHECK(link_from_cwd(DIR "/model.safetensors", link) == 0);
    CHECK(mgv_bert_load_dir(&b, &ps, "", tmpdir, NULL) < 0);
    printf("  message: %.300s...\n", mgv_last_error());
    CHECK_ERROR_HAS("does not fit the model's");
    CHECK_ERROR_HAS("missing (encoder.layer.2.");
    CHECK_ERROR_HAS("mis-shaped (embeddings.word_embeddings.weight is [155x32] in the file, "
                    "[155x16] expected");
    CHECK_ERROR_HAS("more");
    CHECK(ps.n == 0);   /* a failed load leaves nothing behind */
    mgv_params_free(&ps);
    remove(link);
    snprintf(link, sizeof link, "%s/config.json", tmpdir);
    remove(link);
    rmdir(tmpdir);

    /* ids and lengths */
    mgv_params_init(&ps);
    CHECK(mgv_bert_load_dir(&b, &ps, "", DIR, NULL) == 0);
    int32_t ids[20] = {7, 200};
    CHECK(mgv_bert_forward(&b, 1, 2, ids, NULL, NULL, 0, NULL) == NULL);
    CHECK_ERROR_HAS("token id 200 at [1, 2] is outside the vocabulary of 155");
    CHECK(mgv_bert_forward(&b, 1, 20, ids, NULL, NULL, 0, NULL) == NULL);
    CHECK_ERROR_HAS("20 tokens exceed the 16 positions");
    int32_t types[2] = {0, 2};
    ids[1] = 8;
    CHECK(mgv_bert_forward(&b, 1, 2, ids, types, NULL, 0, NULL) == NULL);
    CHECK_ERROR_HAS("token type 2 outside [0, 2)");
    mgv_bert_free(&b);
    mgv_params_free(&ps);

    /* init without a pooler: pool fails with a message */
    mgv_bert_config cfg = mgv_bert_base_config();
    cfg.vocab_size = 10;
    cfg.hidden = 8;
    cfg.heads = 2;
    cfg.intermediate = 16;
    cfg.layers = 1;
    cfg.max_position = 8;
    cfg.pooler = 0;
    mgv_params_init(&ps);
    CHECK(mgv_bert_init(&b, &ps, "", &cfg, NULL) == 0 && ps.n == 5 + 16);
    int32_t small[3] = {1, 2, 3};
    mgv_tensor *H = mgv_bert_forward(&b, 1, 3, small, NULL, NULL, 0, NULL);
    CHECK(H && H->shape[2] == 8);
    CHECK(mgv_bert_pool(&b, H) == NULL);
    CHECK_ERROR_HAS("no pooler");
    mgv_release(H);
    mgv_bert_free(&b);
    mgv_params_free(&ps);
}

int main(void)
{
    RUN(test_golden);
    RUN(test_golden_prefixed);
    RUN(test_errors);
    return CHECK_DONE();
}
