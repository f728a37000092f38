/*
 * transformer.h — a multi-head self-attention encoder layer (and a stack of
 * them), built from autograd ops, with a key padding mask.
 *
 * Two variants:
 *   POST_LN (BERT):  x = LN1(x + Drop(Attn(x)));  x = LN2(x + Drop(FFN(x)))
 *   PRE_LN  (ViT):   x = x + Drop(Attn(LN1(x)));  x = x + Drop(FFN(LN2(x)))
 * where Attn is scaled dot-product attention over `heads` heads followed by
 * an output projection, and FFN(x) = W2 GELU(W1 x + b1) + b2 (exact GELU).
 *
 * Padding: mask [B, L] marks real tokens with non-zero. Padded keys get -inf
 * before the softmax, so no query attends to them. A sample whose tokens are
 * all padded (e.g. "no image") has no keys at all: its attention weights are
 * all zero (the softmax op's convention), its attention output is just the
 * output bias, and nothing is NaN. Outputs at padded positions are computed
 * but meaningless; downstream code must mask them.
 *
 * Parameters live in an mgv_paramset under a name prefix, named as the
 * Hugging Face checkpoints name them so BERT and ViT weights load directly:
 *   POST_LN: {p}.attention.self.{query,key,value}.{weight,bias}
 *            {p}.attention.output.dense.{weight,bias}
 *            {p}.attention.output.LayerNorm.{weight,bias}      (LN1)
 *            {p}.intermediate.dense.{weight,bias}
 *            {p}.output.dense.{weight,bias}
 *            {p}.output.LayerNorm.{weight,bias}                (LN2)
 *   PRE_LN:  {p}.attention.attention.{query,key,value}.{weight,bias}
 *            {p}.attention.output.dense.{weight,bias}
 *            {p}.intermediate.dense.{weight,bias}
 *            {p}.output.dense.{weight,bias}
 *            {p}.layernorm_before.{weight,bias}                (LN1)
 *            {p}.layernorm_after.{weight,bias}                 (LN2)
 * Linear weights are [out, in] (torch.nn.Linear). A BERT layer is e.g.
 * prefix "encoder.layer.3"; an encoder of N layers uses "{p}.{i}".
 * The final LayerNorm a ViT applies after its last layer is not part of
 * these layers.
 */
#ifndef MGV_TRANSFORMER_H
#define MGV_TRANSFORMER_H

#include "core/params.h"
#include "core/rng.h"
#include "core/tensor.h"

typedef enum {
    MGV_TRANSFORMER_POST_LN = 0,   /* BERT */
    MGV_TRANSFORMER_PRE_LN = 1     /* ViT */
} mgv_transformer_variant;

typedef struct mgv_transformer_config {
    int hidden;               /* H, divisible by heads */
    int heads;
    int intermediate;         /* FFN inner size (4H in BERT/ViT) */
    float layer_norm_eps;     /* 1e-12 in BERT and HF ViT */
    float hidden_dropout;     /* after the attention output and the FFN (training only) */
    float attention_dropout;  /* on the attention probabilities (training only) */
    float init_std;           /* weights ~ N(0, init_std^2), biases 0, LN gamma 1 (0.02) */
} mgv_transformer_config;

/* BERT's defaults for the given sizes: eps 1e-12, dropout 0.1 / 0.1, std 0.02. */
mgv_transformer_config mgv_transformer_default_config(int hidden, int heads, int intermediate);

/* One layer. The tensors are borrowed from the paramset, which must outlive
 * the layer (loading a checkpoint copies into them in place). */
typedef struct mgv_transformer_layer {
    mgv_transformer_config cfg;
    mgv_transformer_variant variant;
    mgv_tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;   /* [H, H], [H] */
    mgv_tensor *o_w, *o_b;                           /* attention output [H, H], [H] */
    mgv_tensor *ln1_g, *ln1_b;                       /* see the variant table above */
    mgv_tensor *i_w, *i_b;                           /* [I, H], [I] */
    mgv_tensor *f_w, *f_b;                           /* [H, I], [H] */
    mgv_tensor *ln2_g, *ln2_b;
} mgv_transformer_layer;

/* Creates the layer's 16 parameters in ps under prefix (initialised from
 * rng; NULL = the global generator). Fails on a bad config or a name clash. */
int mgv_transformer_layer_init(mgv_transformer_layer *layer, mgv_paramset *ps, const char *prefix,
                               const mgv_transformer_config *cfg,
                               mgv_transformer_variant variant, mgv_rng *rng);

/* x [B, L, H] -> new tensor [B, L, H]. mask [B, L] (non-zero = real token)
 * or NULL (no padding). Dropout only when training (rng NULL = global).
 * Without a tape (grad mode off, or nothing requires grad) and without
 * dropout, the layer runs fused, threaded kernels instead of autograd ops;
 * results agree with the taped path up to float rounding. */
mgv_tensor *mgv_transformer_layer_forward(const mgv_transformer_layer *layer, mgv_tensor *x,
                                          mgv_tensor *mask, int training, mgv_rng *rng);

/* A stack of n layers sharing one config and variant, named {prefix}.{i}. */
typedef struct mgv_transformer_encoder {
    int n_layers;
    mgv_transformer_layer *layers;   /* owned array (the tensors are in the paramset) */
} mgv_transformer_encoder;

int mgv_transformer_encoder_init(mgv_transformer_encoder *enc, mgv_paramset *ps,
                                 const char *prefix, int n_layers,
                                 const mgv_transformer_config *cfg,
                                 mgv_transformer_variant variant, mgv_rng *rng);
mgv_tensor *mgv_transformer_encoder_forward(const mgv_transformer_encoder *enc, mgv_tensor *x,
                                            mgv_tensor *mask, int training, mgv_rng *rng);
void mgv_transformer_encoder_free(mgv_transformer_encoder *enc);

#endif
