/*
 * text_encoder.h — the offline default text encoder.
 *
 * Frozen word vectors (GloVe 100-d, or the synthetic set's table) projected
 * to the hidden size, learned embeddings for the special tokens ([CLS],
 * unknown word, entity markers), learned position embeddings, a layer norm
 * and a small trainable transformer (post-LN, BERT-like) on top:
 *     e_i = word_i W^T + b   (a word)   or   special_i   (a special token)
 *     x_i = LN(e_i + pos_i);  H = Transformer(x)
 *
 * Span-aware entity markers (cfg.marker_span, on by default): an opening
 * marker ([E], [E1], [E2]) also gets the mean projected word vector of the
 * span it opens (the words up to its closing marker):
 *     e_[E] = special_[E] + mean_{i in span} (word_i W^T + b)
 * so its state h_[E] — half of the entity feature [h_CLS; h_[E]] — carries
 * the mention. BERT's pretrained attention brings the mention into the
 * marker's state; a one-layer encoder trained from scratch on a few hundred
 * sentences does not learn that pointer (its [E] state then knows only that
 * it is a marker), so zero-shot transfer, which rests on the mention's
 * word vector, fails without it. The spans are read off the ids themselves.
 *
 * Token ids: >= 0 are rows of the word table; negative ids are special
 * tokens (MGV_TOK_*). Sequences are batched as an id matrix [B, L] with a
 * mask [B, L].
 */
#ifndef MGV_TEXT_ENCODER_H
#define MGV_TEXT_ENCODER_H

#include <stdint.h>

#include "core/params.h"
#include "nn/transformer.h"

enum {
    MGV_TOK_UNK = -1,   /* a word the table lacks */
    MGV_TOK_CLS = -2,
    MGV_TOK_E = -3,     /* MET: [E] mention [/E] */
    MGV_TOK_E_END = -4,
    MGV_TOK_E1 = -5,    /* MRE: [E1] head [/E1] ... [E2] tail [/E2] */
    MGV_TOK_E1_END = -6,
    MGV_TOK_E2 = -7,
    MGV_TOK_E2_END = -8,
    MGV_TOK_PAD = -9,
    MGV_N_SPECIAL = 9
};

typedef struct mgv_text_encoder_config {
    int hidden;        /* d */
    int heads;
    int layers;        /* transformer layers (0 = embeddings only) */
    int max_len;       /* positions */
    float dropout;
    int marker_span;   /* opening markers carry their span's mean word vector (1) */
} mgv_text_encoder_config;

typedef struct mgv_text_encoder {
    mgv_text_encoder_config cfg;
    mgv_tensor *words;             /* frozen [V, word_dim] (retained, no grad) */
    mgv_tensor *proj_w, *proj_b;   /* borrowed from the paramset */
    mgv_tensor *special, *pos, *ln_g, *ln_b;
    mgv_transformer_encoder enc;
} mgv_text_encoder;

/* Parameters go into ps under "text.". words is retained. */
int mgv_text_encoder_init(mgv_text_encoder *te, mgv_paramset *ps, mgv_tensor *words,
                          const mgv_text_encoder_config *cfg, mgv_rng *rng);
void mgv_text_encoder_free(mgv_text_encoder *te);
/* ids [B x L] (row-major int32), mask [B, L] -> token states [B, L, d]. */
mgv_tensor *mgv_text_encoder_forward(mgv_text_encoder *te, int64_t B, int64_t L,
                                     const int32_t *ids, mgv_tensor *mask, int training,
                                     mgv_rng *rng);

#endif
