/*
 * ops_vmoe.h — the VIB-MoE layer's experts as one fused op (DESIGN.md
 * section 2, issue 6).
 *
 * For tokens h [..., d] and gate probabilities pi [..., K] (computed by the
 * caller, e.g. softmax(linear(h, Wg, bg))), with Wmu, Wlv [K*d, d] (expert k
 * owns rows k*d .. k*d + d - 1) and biases bmu, blv [K*d]:
 *
 *   mu_k = h Wmu_k^T + bmu_k,   lv_k = h Wlv_k^T + blv_k        (log sigma^2)
 *   z_k  = mu_k + exp(lv_k / 2) * eps_k,   eps_k ~ N(0, I)       (sampling)
 *   z_k  = mu_k                                                  (otherwise)
 *   o    = sum_k pi_k z_k
 *   kl   = -1/2 sum_{k, j} (1 + lv_kj - mu_kj^2 - exp(lv_kj))   (KL to N(0, I))
 *
 * The result is [..., d + 1]: o in the first d columns, kl in the last. It
 * is exactly the composition linear -> reshape -> exp/mul/add -> weighted sum
 * and gaussian_kl of the reference, but never materialises more than the two
 * GEMM outputs (mu and log sigma^2, kept for backward, which overwrites them
 * with their own gradients): no sigma, no z, and no noise tensor when the
 * noise is large. The noise is counter-based — drawn from a key taken once
 * from rng; kept for backward up to a size, drawn again beyond it — so it is
 * the same whatever the thread count.
 *
 * eps: a given noise tensor [..., K, d] (tests, golden files) or NULL.
 * flags: MGV_VMOE_SAMPLE draws the noise from rng when eps is NULL (else
 * there is none: z_k = mu_k, evaluation); MGV_VMOE_NO_KL, when there is no
 * noise either, skips log sigma^2 altogether (half the work; the kl column is
 * then 0 and Wlv, blv get no gradient).
 * Differentiable in h, pi and all four weights.
 */
#ifndef MGV_OPS_VMOE_H
#define MGV_OPS_VMOE_H

#include "core/rng.h"
#include "core/tensor.h"

#define MGV_VMOE_SAMPLE 1
#define MGV_VMOE_NO_KL 2

mgv_tensor *mgv_vmoe_experts(mgv_tensor *h, mgv_tensor *pi, mgv_tensor *Wmu, mgv_tensor *bmu,
                             mgv_tensor *Wlv, mgv_tensor *blv, mgv_tensor *eps, int flags,
                             mgv_rng *rng);

/*
 * Y carried from one pass of the op to the next: a pass with reuse->Y NULL
 * and no tape keeps its Y and tokens here; the next pass with the same
 * parameters (the same tensors: the caller scopes the record to one
 * training step, before any update) and the same layout takes Y over and
 * computes again only the parts whose tokens differ bit for bit (the noise
 * is drawn anew; Y does not depend on it): the very products of a pass
 * without the record, so the same bits. Every pass given a record holding Y
 * empties it. mgv_vmoe_reuse_clear drops what it holds.
 */
typedef struct mgv_vmoe_reuse {
    mgv_tensor *Y, *X;          /* the recording pass's Y [T, ldy] and tokens [T, d] */
    const mgv_tensor *W[4];     /* its Wmu, bmu, Wlv, blv */
    int np;                     /* and its parts' rows */
    int64_t rows[MGV_MAX_DIMS];
} mgv_vmoe_reuse;
void mgv_vmoe_reuse_clear(mgv_vmoe_reuse *r);

/*
 * The op on the concatenation of n token parts [B, N_i, d] along axis 1
 * (n = 1: one tensor [..., d], as mgv_vmoe_experts), with pi [B, sum N_i, K]
 * (and eps) for the concatenation. Only the parts that require grad get an
 * input gradient, so fixed inputs (cached picture features) cost no
 * backward product. reuse: NULL, or a record as above.
 */
mgv_tensor *mgv_vmoe_experts_cat(int n, mgv_tensor *const *parts, mgv_tensor *pi,
                                 mgv_tensor *Wmu, mgv_tensor *bmu, mgv_tensor *Wlv,
                                 mgv_tensor *blv, mgv_tensor *eps, int flags, mgv_rng *rng,
                                 mgv_vmoe_reuse *reuse);

/* Keyed noise of up to this many bytes (default 64 MiB) is kept from forward
 * for backward; larger noise is drawn again in backward instead of being held.
 * Sets the limit (bytes >= 0) and returns the previous one; -1 just reads it. */
int64_t mgv_vmoe_keep_noise_limit(int64_t bytes);

/* The counter-based standard normals the op draws: n values of row `row`
 * (row length n) of the stream keyed by key. Exposed for tests. */
void mgv_vmoe_noise_row(uint64_t key, int64_t row, int64_t n, float *dst);
/* The pair of normals one 64-bit hash value x gives (Box-Muller). For tests. */
void mgv_vmoe_normal_pair(uint64_t x, float *z_cos, float *z_sin);

#endif
