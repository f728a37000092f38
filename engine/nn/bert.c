/*
 * bert.c — BERT embeddings + post-LN encoder + pooler (see bert.h); the
 * Hugging Face checkpoint helpers are in hf.c.
 */
#include "nn/bert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "formats/safetensors.h"
#include "nn/hf.h"

mgv_bert_config mgv_bert_base_config(void)
{
    mgv_bert_config c;
    memset(&c, 0, sizeof c);
    c.vocab_size = 28996;
    c.hidden = 768;
    c.layers = 12;
    c.heads = 12;
    c.intermediate = 3072;
    c.max_position = 512;
    c.type_vocab_size = 2;
    c.layer_norm_eps = 1e-12f;
    c.hidden_dropout = 0.1f;
    c.attention_dropout = 0.1f;
    c.init_std = 0.02f;
    c.pooler = 1;
    return c;
}

int mgv_bert_read_config(const char *path, mgv_bert_config *cfg)
{
    const mgv_hf_field f[] = {
        {"vocab_size", 0, &cfg->vocab_size},
        {"hidden_size", 0, &cfg->hidden},
        {"num_hidden_layers", 0, &cfg->layers},
        {"num_attention_heads", 0, &cfg->heads},
        {"intermediate_size", 0, &cfg->intermediate},
        {"max_position_embeddings", 0, &cfg->max_position},
        {"type_vocab_size", 0, &cfg->type_vocab_size},
        {"layer_norm_eps", 1, &cfg->layer_norm_eps},
        {"hidden_dropout_prob", 1, &cfg->hidden_dropout},
        {"attention_probs_dropout_prob", 1, &cfg->attention_dropout},
        {"initializer_range", 1, &cfg->init_std},
    };
    return mgv_hf_read_config(path, (int)(sizeof f / sizeof *f), f);
}

/* ---- parameters --------------------------------------------------------------- */

int mgv_bert_init(mgv_bert *b, mgv_paramset *ps, const char *prefix, const mgv_bert_config *cfg,
                  mgv_rng *rng)
{
    memset(b, 0, sizeof *b);
    int n0 = ps->n;
    if (!prefix) prefix = "";
    if (strlen(prefix) >= sizeof b->prefix) return mgv_fail("bert: prefix '%s' too long", prefix);
    if (cfg->vocab_size < 1 || cfg->max_position < 1 || cfg->type_vocab_size < 1 ||
        cfg->layers < 1)
        return mgv_fail("bert: vocab %d, positions %d, types %d and layers %d must be positive",
                        cfg->vocab_size, cfg->max_position, cfg->type_vocab_size, cfg->layers);
    if (!rng) rng = mgv_rng_global();
    b->cfg = *cfg;
    snprintf(b->prefix, sizeof b->prefix, "%s", prefix);
    int64_t H = cfg->hidden;
    float sd = cfg->init_std;
    int64_t ws[2] = {cfg->vocab_size, H}, ps_[2] = {cfg->max_position, H},
            ts[2] = {cfg->type_vocab_size, H}, hs[1] = {H}, pw[2] = {H, H};
    if (!(b->word = mgv_hf_new_param(ps, prefix, "embeddings.word_embeddings.weight", 2, ws, sd, 0, rng)) ||
        !(b->pos = mgv_hf_new_param(ps, prefix, "embeddings.position_embeddings.weight", 2, ps_, sd, 0,
                             rng)) ||
        !(b->type = mgv_hf_new_param(ps, prefix, "embeddings.token_type_embeddings.weight", 2, ts, sd, 0,
                              rng)) ||
        !(b->ln_g = mgv_hf_new_param(ps, prefix, "embeddings.LayerNorm.weight", 1, hs, 0, 1, rng)) ||
        !(b->ln_b = mgv_hf_new_param(ps, prefix, "embeddings.LayerNorm.bias", 1, hs, 0, 0, rng)))
        goto fail;
    mgv_transformer_config tc = mgv_transformer_default_config(cfg->hidden, cfg->heads,
                                                               cfg->intermediate);
    tc.layer_norm_eps = cfg->layer_norm_eps;
    tc.hidden_dropout = cfg->hidden_dropout;
    tc.attention_dropout = cfg->attention_dropout;
    tc.init_std = cfg->init_std;
    char enc[160];
    snprintf(enc, sizeof enc, "%sencoder.layer", prefix);
    if (mgv_transformer_encoder_init(&b->enc, ps, enc, cfg->layers, &tc, MGV_TRANSFORMER_POST_LN,
                                     rng) < 0)
        goto fail;
    if (cfg->pooler &&
        (!(b->pool_w = mgv_hf_new_param(ps, prefix, "pooler.dense.weight", 2, pw, sd, 0, rng)) ||
         !(b->pool_b = mgv_hf_new_param(ps, prefix, "pooler.dense.bias", 1, hs, 0, 0, rng))))
        goto fail;
    return 0;
fail:
    mgv_error_context("bert");
    mgv_bert_free(b);
    mgv_hf_params_truncate(ps, n0);
    return -1;
}

void mgv_bert_free(mgv_bert *b)
{
    if (b->enc.layers) mgv_transformer_encoder_free(&b->enc);
    memset(b, 0, sizeof *b);
}

int mgv_bert_load_weights(mgv_bert *b, mgv_paramset *ps, const char *path)
{
    return mgv_hf_load_params(ps, b->prefix, path, "bert", "bert", NULL);
}

int mgv_bert_load_dir(mgv_bert *b, mgv_paramset *ps, const char *prefix, const char *dir,
                      mgv_rng *rng)
{
    char cpath[4096], wpath[4096];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", dir);
    mgv_bert_config cfg = mgv_bert_base_config();
    if (mgv_bert_read_config(cpath, &cfg) < 0) {
        mgv_error_context("bert");
        return -1;
    }
    /* a pooler only when the checkpoint has one: peek at the header */
    mgv_st_file *f = mgv_safetensors_load(wpath);
    if (!f) {
        mgv_error_context("bert");
        return -1;
    }
    cfg.pooler = mgv_st_get(f, "pooler.dense.weight") || mgv_st_get(f, "bert.pooler.dense.weight");
    mgv_st_free(f);
    int n0 = ps->n;
    if (mgv_bert_init(b, ps, prefix, &cfg, rng) < 0) return -1;
    if (mgv_bert_load_weights(b, ps, wpath) < 0) {
        mgv_bert_free(b);
        mgv_hf_params_truncate(ps, n0);
        return -1;
    }
    return 0;
}

/* ---- forward ------------------------------------------------------------------------- */

mgv_tensor *mgv_bert_embed(const mgv_bert *b, int64_t B, int64_t L, const int32_t *ids,
                           const int32_t *token_types, int training, mgv_rng *rng)
{
    if (!b || !b->word) return mgv_fail_null("bert: model is not initialised");
    if (B < 1 || L < 1 || !ids) return mgv_fail_null("bert: empty input [%lldx%lld]",
                                                     (long long)B, (long long)L);
    if (L > b->cfg.max_position)
        return mgv_fail_null("bert: %lld tokens exceed the %d positions of the model",
                             (long long)L, b->cfg.max_position);
    int64_t n = B * L;
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)n * 2);
    if (!idx) return mgv_fail_null("bert: out of memory");
    int64_t *tdx = idx + n;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= b->cfg.vocab_size) {
            free(idx);
            return mgv_fail_null("bert: token id %d at [%lld, %lld] is outside the vocabulary "
                                 "of %d", ids[i], (long long)(i / L + 1), (long long)(i % L + 1),
                                 b->cfg.vocab_size);
        }
        int32_t t = token_types ? token_types[i] : 0;
        if (t < 0 || t >= b->cfg.type_vocab_size) {
            free(idx);
            return mgv_fail_null("bert: token type %d outside [0, %d)", t,
                                 b->cfg.type_vocab_size);
        }
        idx[i] = ids[i];
        tdx[i] = t;
    }
    int64_t shape[2] = {B, L};
    mgv_tensor *we = mgv_embedding(b->word, idx, 2, shape);
    mgv_tensor *te = we ? mgv_embedding(b->type, tdx, 2, shape) : NULL;
    mgv_tensor *pe = te ? mgv_slice(b->pos, 0, 0, L, 1) : NULL;
    mgv_tensor *s1 = pe ? mgv_add(we, pe) : NULL;
    mgv_tensor *s2 = s1 ? mgv_add(s1, te) : NULL;
    mgv_tensor *x = s2 ? mgv_layer_norm(s2, b->ln_g, b->ln_b, b->cfg.layer_norm_eps) : NULL;
    mgv_tensor *out = NULL;
    if (x) out = training && b->cfg.hidden_dropout > 0
                     ? mgv_dropout(x, b->cfg.hidden_dropout, 1, rng ? rng : mgv_rng_global())
                     : mgv_retain(x);
    free(idx);
    mgv_release(we);
    mgv_release(te);
    mgv_release(pe);
    mgv_release(s1);
    mgv_release(s2);
    mgv_release(x);
    if (!out) mgv_error_context("bert embeddings");
    return out;
}

mgv_tensor *mgv_bert_forward(const mgv_bert *b, int64_t B, int64_t L, const int32_t *ids,
                             const int32_t *token_types, mgv_tensor *mask, int training,
                             mgv_rng *rng)
{
    mgv_tensor *x = mgv_bert_embed(b, B, L, ids, token_types, training, rng);
    if (!x) return NULL;
    mgv_tensor *h = mgv_transformer_encoder_forward(&b->enc, x, mask, training, rng);
    mgv_release(x);
    if (!h) mgv_error_context("bert");
    return h;
}

mgv_tensor *mgv_bert_pool(const mgv_bert *b, mgv_tensor *H)
{
    if (!b->pool_w) return mgv_fail_null("bert: the model has no pooler");
    if (!H || H->ndim != 3 || H->shape[2] != b->cfg.hidden) {
        char s[96];
        return mgv_fail_null("bert: pooler input %s is not [B x L x %d]",
                             H ? mgv_shape_str(H, s, sizeof s) : "NULL", b->cfg.hidden);
    }
    mgv_tensor *c = mgv_select(H, 1, 0);
    mgv_tensor *l = c ? mgv_linear(c, b->pool_w, b->pool_b) : NULL;
    mgv_tensor *out = l ? mgv_tanh(l) : NULL;
    mgv_release(c);
    mgv_release(l);
    return out;
}
