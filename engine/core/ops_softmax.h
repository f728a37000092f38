/* ops_softmax.h — softmax and log-softmax along an axis (max-subtracted). */
#ifndef MGV_OPS_SOFTMAX_H
#define MGV_OPS_SOFTMAX_H

#include "core/rng.h"
#include "core/tensor.h"

mgv_tensor *mgv_softmax(mgv_tensor *x, int axis);
mgv_tensor *mgv_log_softmax(mgv_tensor *x, int axis);
/* Softmax of rows rows of n floats, x to y (y may be x), on the caller's
 * thread: within float rounding of expf (terms below e^-87 are 0). Keys j
 * with pad[j] != 0 are left out when pad is not NULL; a row with no key
 * left becomes zeros. */
void mgv_softmax_rows(const float *x, float *y, int64_t rows, int64_t n, const float *pad);
/* dropout(softmax(masked_fill(x, pad, -inf), -1), p, training, rng) in one
 * op, the same draws and numbers up to float rounding: pad (1 = key left out), when not NULL,
 * holds one row of x's last-axis length per index of x's first axis (as
 * [B, 1, 1, L] for scores [B, heads, L, L]). */
mgv_tensor *mgv_masked_softmax_dropout(mgv_tensor *x, mgv_tensor *pad, float p, int training,
                                       mgv_rng *rng);

#endif
