/*
 * ops_matmul.h — matrix products on OpenBLAS (cblas_sgemm).
 */
#ifndef MGV_OPS_MATMUL_H
#define MGV_OPS_MATMUL_H

#include "core/tensor.h"

/*
 * a [..., n, k] @ b [..., k, m] -> [..., n, m]. Batch axes broadcast (numpy
 * matmul rules); a 2-d b is shared by every batch of a (one GEMM over all
 * rows). 1-d operands are not accepted: reshape them.
 */
mgv_tensor *mgv_matmul(mgv_tensor *a, mgv_tensor *b);
/* y = x W^T + bias, as torch.nn.Linear: x [..., in], W [out, in], bias [out]
 * or NULL. One GEMM over all leading axes. */
mgv_tensor *mgv_linear(mgv_tensor *x, mgv_tensor *W, mgv_tensor *bias);

#endif
