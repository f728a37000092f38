/*
 * ops_nn.h — neural-network building blocks.
 */
#ifndef MGV_OPS_NN_H
#define MGV_OPS_NN_H

#include "core/rng.h"
#include "core/tensor.h"

/* Normalises over the last axis; gamma and beta ([d]) may be NULL. */
mgv_tensor *mgv_layer_norm(mgv_tensor *x, mgv_tensor *gamma, mgv_tensor *beta, float eps);
/* The rows rows of d values of x normalised into y (y may be x); gamma g and
 * beta b may be NULL; stats, when not NULL, gets (mean, rstd) per row. */
void mgv_layer_norm_rows(const float *x, float *y, float *stats, int64_t rows, int64_t d,
                         const float *g, const float *b, float eps);
/* Inverted dropout: zeroes with probability p and scales by 1/(1-p) when
 * training; x itself (retained) otherwise. rng NULL = the global generator. */
mgv_tensor *mgv_dropout(mgv_tensor *x, float p, int training, mgv_rng *rng);
/* Dropout's mask as fused ops use it: the key of a new mask of x drawn from
 * rng (one draw) and in *base the counter of x's element 0 (non-zero for a
 * rank's rows of a sharded batch); y = x times the mask for p over n
 * elements from counter base (y may be x). */
uint64_t mgv_dropout_key(mgv_rng *rng, const mgv_tensor *x, uint64_t *base);
void mgv_dropout_apply(const float *x, float *y, int64_t n, float p, uint64_t key,
                       uint64_t base);
/* Where mask (broadcastable to x) is non-zero the result is value, else x. */
mgv_tensor *mgv_masked_fill(mgv_tensor *x, mgv_tensor *mask, float value);
/* Rows of weight [V, d] picked by n indices; result shape (ndim, shape) + [d]
 * where numel(shape) == n. */
mgv_tensor *mgv_embedding(mgv_tensor *weight, const int64_t *index, int ndim,
                          const int64_t *shape);
/* <a,b> / max(|a||b|, eps) along axis (a and b broadcast); the axis is removed. */
mgv_tensor *mgv_cosine_similarity(mgv_tensor *a, mgv_tensor *b, int axis, float eps);
/* sqrt(sum x^2) along axis. */
mgv_tensor *mgv_l2_norm(mgv_tensor *x, int axis, int keepdim);

#endif
