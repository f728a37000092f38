/*
 * ops_loss.h — losses and divergences.
 */
#ifndef MGV_OPS_LOSS_H
#define MGV_OPS_LOSS_H

#include "core/tensor.h"

/* Mean over N of -log softmax(logits)[i, target[i]]; logits [N, C]; scalar. */
mgv_tensor *mgv_cross_entropy(mgv_tensor *logits, const int64_t *target);
/* Zero-shot ranking loss of MG-VMoE: mean over B of
 * sum_{j != y} max(0, margin - s[y] + s[j]); scores [B, C]; scalar. */
mgv_tensor *mgv_margin_ranking(mgv_tensor *scores, const int64_t *target, float margin);
/* KL(p || q) = sum_axis exp(logp) (logp - logq) from log-probabilities of the
 * same shape; the axis is removed. */
mgv_tensor *mgv_kl_categorical(mgv_tensor *logp, mgv_tensor *logq, int axis);
/* KL(N(mu, exp(logvar)) || N(0, I)) = -1/2 sum (1 + logvar - mu^2 - exp(logvar))
 * over the last n_sum_dims axes; the result has the leading axes. */
mgv_tensor *mgv_gaussian_kl(mgv_tensor *mu, mgv_tensor *logvar, int n_sum_dims);

#endif
