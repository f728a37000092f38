/*
 * vit.h — the Vision Transformer (Dosovitskiy et al.) on the engine, as
 * Hugging Face's ViTModel computes it, loaded from config.json +
 * model.safetensors (google/vit-base-patch16-384 is the paper's), and a
 * feature extractor with a cache on disk: the paper keeps ViT frozen, so
 * its image tokens are computed once.
 *
 *   patches  [B, N, C p p]   non-overlapping p x p patches in row-major order,
 *                            each flattened as (channel, row, column)
 *   e = patches W^T + b      = the Conv2d(C, H, p, stride p) of HF, as a matmul
 *   x = [cls; e] + position  [B, 1 + N, H]
 *   H = LayerNorm(Encoder(x))  (pre-LN layers, transformer.h; final layernorm)
 *
 * Input pixels are the preprocessed image (image.h: resize to S x S, then
 * x / 127.5 - 1, i.e. HF's mean 0.5 / std 0.5 normalisation).
 *
 * Parameter names (after a caller-chosen prefix): embeddings.cls_token
 * [1, 1, H], embeddings.position_embeddings [1, 1 + N, H],
 * embeddings.patch_embeddings.projection.{weight [H, C, p, p], bias [H]},
 * encoder.layer.{i}.… (transformer.h, PRE_LN), layernorm.{weight,bias}.
 * Checkpoints may prefix them with "vit." (ViTForImageClassification);
 * pooler and classifier tensors are ignored.
 */
#ifndef MGV_VIT_H
#define MGV_VIT_H

#include <stdint.h>

#include "core/params.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/transformer.h"

typedef struct mgv_vit_config {
    int hidden, layers, heads, intermediate;
    int image_size, patch, channels;
    float layer_norm_eps, init_std;
} mgv_vit_config;

/* vit-base-patch16-384: H 768, 12 layers, 12 heads, I 3072, 384 px,
 * patch 16 (577 tokens), 3 channels, eps 1e-12, std 0.02. */
mgv_vit_config mgv_vit_base_config(void);
/* Reads a Hugging Face config.json into cfg (absent fields keep their value). */
int mgv_vit_read_config(const char *path, mgv_vit_config *cfg);

typedef struct mgv_vit {
    mgv_vit_config cfg;
    int64_t grid;       /* patches per side */
    int64_t n_tokens;   /* 1 + grid^2 */
    /* borrowed from the paramset, which must outlive the model */
    mgv_tensor *cls, *pos, *patch_w, *patch_b, *ln_g, *ln_b;
    mgv_transformer_encoder enc;
    char prefix[96];
} mgv_vit;

int mgv_vit_init(mgv_vit *v, mgv_paramset *ps, const char *prefix, const mgv_vit_config *cfg,
                 mgv_rng *rng);
void mgv_vit_free(mgv_vit *v);
/* All or nothing; the message lists missing and mis-shaped tensors. */
int mgv_vit_load_weights(mgv_vit *v, mgv_paramset *ps, const char *path);
/* dir/config.json → init → dir/model.safetensors. */
int mgv_vit_load_dir(mgv_vit *v, mgv_paramset *ps, const char *prefix, const char *dir,
                     mgv_rng *rng);

/* images [B, C, S, S] → last hidden states [B, 1 + N, H] (after the final
 * layernorm). Inference (no dropout); records autograd when grad mode is
 * on and a parameter requires grad. */
mgv_tensor *mgv_vit_forward(const mgv_vit *v, mgv_tensor *images);

/* Tokens per image of the features: 1 + N (pool 0), or 1 + pool^2 (the CLS
 * token and the patch tokens averaged over a pool x pool grid of cells);
 * -1 with a message when pool does not divide the grid. */
int64_t mgv_vit_feature_tokens(const mgv_vit *v, int pool);

typedef int (*mgv_vit_progress)(int64_t done, int64_t total, void *ctx);

/*
 * Frozen features of images [N, C, S, S] → [N, P, H] (P from
 * mgv_vit_feature_tokens), batch images at a time with grad mode off.
 * cache (may be NULL): a safetensors file; when it holds the features of the
 * same model weights, pool and pixels they are read back, else they are
 * computed and the file is (re)written atomically. progress may be NULL;
 * it returns non-zero to cancel. Ctrl-C (mgv_interrupted) stops too.
 */
mgv_tensor *mgv_vit_features(const mgv_vit *v, mgv_tensor *images, int batch, int pool,
                             const char *cache, mgv_vit_progress progress, void *ctx);

/*
 * The same for picture files (JPEG/PNG), each loaded and preprocessed to the
 * model's image size. A missing or unreadable file gives zero features and
 * present[i] = 0 (present may be NULL); with policy MGV_IMAGE_FAIL it is an
 * error instead. The cache key covers the paths, sizes and modification
 * times of the files, the weights and pool.
 */
mgv_tensor *mgv_vit_features_files(const mgv_vit *v, int n, const char *const *paths, int fail,
                                   int batch, int pool, const char *cache, uint8_t *present,
                                   mgv_vit_progress progress, void *ctx);

#endif
