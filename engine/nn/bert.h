/*
 * bert.h — BERT (Devlin et al.) on the engine: embeddings, a stack of post-LN
 * transformer layers (transformer.h) and the optional pooler, forward and
 * backward (it is built from autograd ops, so it can be fine-tuned), loaded
 * from the Hugging Face layout: config.json + model.safetensors (+ vocab.txt
 * for the tokenizer, wordpiece.h).
 *
 *   x = LayerNorm(word[ids] + position[0..L) + token_type[types]);  dropout
 *   H = Encoder(x, mask)                  (N post-LN layers, GELU FFN)
 *   pooled = tanh(W H[:, 0] + b)          (when the checkpoint has a pooler)
 *
 * Parameter names are Hugging Face's, after a caller-chosen prefix (e.g. ""
 * or "text.bert."): {p}embeddings.word_embeddings.weight [V, H],
 * {p}embeddings.position_embeddings.weight [P, H],
 * {p}embeddings.token_type_embeddings.weight [T, H],
 * {p}embeddings.LayerNorm.{weight,bias}, {p}encoder.layer.{i}.… (see
 * transformer.h), {p}pooler.dense.{weight,bias}. A checkpoint may prefix its
 * names with "bert." (BertForMaskedLM, BertForPreTraining, …) and may use the
 * old LayerNorm names gamma/beta; both are accepted, other tensors (heads) are
 * ignored.
 */
#ifndef MGV_BERT_H
#define MGV_BERT_H

#include <stdint.h>

#include "core/params.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/transformer.h"

typedef struct mgv_bert_config {
    int vocab_size, hidden, layers, heads, intermediate;
    int max_position, type_vocab_size;
    float layer_norm_eps, hidden_dropout, attention_dropout, init_std;
    int pooler;   /* create pooler.dense (1) */
} mgv_bert_config;

/* bert-base-cased: V 28996, H 768, 12 layers, 12 heads, I 3072, 512
 * positions, 2 types, eps 1e-12, dropout 0.1 / 0.1, std 0.02, pooler. */
mgv_bert_config mgv_bert_base_config(void);
/* Reads a Hugging Face config.json into cfg (fields it lacks keep their
 * value). Fails on hidden_act other than gelu or position_embedding_type
 * other than absolute. */
int mgv_bert_read_config(const char *path, mgv_bert_config *cfg);

typedef struct mgv_bert {
    mgv_bert_config cfg;
    /* borrowed from the paramset, which must outlive the model */
    mgv_tensor *word, *pos, *type, *ln_g, *ln_b;
    mgv_tensor *pool_w, *pool_b;   /* NULL without a pooler */
    mgv_transformer_encoder enc;
    char prefix[96];
} mgv_bert;

/* Creates the parameters in ps under prefix, initialised as BERT does
 * (normal(0, init_std) weights, zero biases, LayerNorm 1/0). rng NULL =
 * the global generator. */
int mgv_bert_init(mgv_bert *b, mgv_paramset *ps, const char *prefix, const mgv_bert_config *cfg,
                  mgv_rng *rng);
void mgv_bert_free(mgv_bert *b);
/* Copies the weights of a safetensors checkpoint into b's parameters (all
 * or nothing): fails with a message listing the missing and mis-shaped
 * tensors. */
int mgv_bert_load_weights(mgv_bert *b, mgv_paramset *ps, const char *path);
/* dir/config.json → init → dir/model.safetensors. The pooler is created
 * when the checkpoint has one. */
int mgv_bert_load_dir(mgv_bert *b, mgv_paramset *ps, const char *prefix, const char *dir,
                      mgv_rng *rng);

/* Embeddings of ids [B x L] (row-major; token_types NULL = all type 0)
 * → [B, L, H]. Ids and types are checked against the tables. */
mgv_tensor *mgv_bert_embed(const mgv_bert *b, int64_t B, int64_t L, const int32_t *ids,
                           const int32_t *token_types, int training, mgv_rng *rng);
/* Last hidden states [B, L, H]; mask [B, L] (non-zero = real token) or NULL.
 * Dropout only when training (rng NULL = global). */
mgv_tensor *mgv_bert_forward(const mgv_bert *b, int64_t B, int64_t L, const int32_t *ids,
                             const int32_t *token_types, mgv_tensor *mask, int training,
                             mgv_rng *rng);
/* tanh(W H[:, 0] + b) → [B, H]; fails without a pooler. */
mgv_tensor *mgv_bert_pool(const mgv_bert *b, mgv_tensor *H);


#endif
