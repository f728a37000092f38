/*
 * patch_encoder.h — a small trainable patch encoder: images [B, C, H, W] ->
 * tokens [B, N, d], the embedding stage of a ViT.
 *
 * The image is cut into non-overlapping p x p patches in row-major order
 * (row of patches first, then column); each patch, flattened as (channel,
 * row, column), is mapped to d by a linear layer — exactly a convolution
 * with kernel p and stride p, whose weight is stored conv-shaped
 * [d, C, p, p]. Optionally a GELU + linear d -> d layer follows. Optionally a
 * learned [CLS]-like token is put in front. Learned position embeddings
 * [1, N, d] are added last. N = (H/p)(W/p) (+1 with the CLS token).
 *
 * Samples without an image ("no image"): pass present [B] (non-zero = the
 * sample has an image). Absent samples get all-zero tokens (no gradient flows
 * to their pixels or through them to the parameters) and an all-zero row in
 * the returned token mask, so attention and pooling downstream ignore them.
 *
 * Pixel normalisation (mean/std) is the data loader's job.
 *
 * Parameters (prefix e.g. "vision"):
 *   {prefix}.patch.weight [d, C, p, p], {prefix}.patch.bias [d]
 *   {prefix}.cls_token [1, 1, d]                 (when cls_token)
 *   {prefix}.position_embeddings [1, N, d]
 *   {prefix}.proj.weight [d, d], {prefix}.proj.bias [d]   (when extra_layer)
 * The patch and position tensors have the shapes of HF ViT's
 * embeddings.patch_embeddings.projection.* and embeddings.position_embeddings.
 */
#ifndef MGV_PATCH_ENCODER_H
#define MGV_PATCH_ENCODER_H

#include "core/params.h"
#include "core/rng.h"
#include "core/tensor.h"

typedef struct mgv_patch_encoder_config {
    int channels;        /* C (3) */
    int image_h, image_w;/* pixels, each divisible by patch */
    int patch;           /* p */
    int dim;             /* d */
    int cls_token;       /* prepend a learned token */
    int extra_layer;     /* GELU + linear d -> d after the patch embedding */
    float init_std;      /* position embeddings and CLS token ~ N(0, std^2) (0.02) */
} mgv_patch_encoder_config;

/* 3 channels, square image_size, no CLS token, no extra layer, std 0.02. */
mgv_patch_encoder_config mgv_patch_encoder_default_config(int image_size, int patch, int dim);

typedef struct mgv_patch_encoder {
    mgv_patch_encoder_config cfg;
    int64_t grid_h, grid_w;   /* patches per column / row */
    int64_t n_patches;        /* grid_h * grid_w */
    int64_t n_tokens;         /* n_patches (+1 with the CLS token) */
    /* borrowed from the paramset, which must outlive the encoder */
    mgv_tensor *patch_w, *patch_b, *pos, *cls, *proj_w, *proj_b;
} mgv_patch_encoder;

/* Creates the parameters in ps under prefix. Patch and projection weights
 * are initialised as torch's Conv2d / Linear (U(+-1/sqrt(fan_in))); rng NULL
 * = the global generator. Fails on a bad config or a name clash. */
int mgv_patch_encoder_init(mgv_patch_encoder *pe, mgv_paramset *ps, const char *prefix,
                           const mgv_patch_encoder_config *cfg, mgv_rng *rng);

/* images [B, C, H, W] (H, W as configured) -> new tensor [B, n_tokens, d].
 * present: NULL (every sample has an image) or [B] / any tensor of B
 * elements, non-zero = present. mask_out, when not NULL, receives a new
 * tensor [B, n_tokens]: 1 for the tokens of present samples, 0 otherwise. */
mgv_tensor *mgv_patch_encoder_forward(const mgv_patch_encoder *pe, mgv_tensor *images,
                                      mgv_tensor *present, mgv_tensor **mask_out);

#endif
