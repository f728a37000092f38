/*
 * ops_elementwise.h — arithmetic with numpy broadcasting and unary maps.
 * Every op records autograd; backward of a broadcast input sums the gradient
 * back to the input's shape.
 */
#ifndef MGV_OPS_ELEMENTWISE_H
#define MGV_OPS_ELEMENTWISE_H

#include "core/tensor.h"

/* The broadcast shape of a and b, or a message naming op and both shapes. */
int mgv_broadcast_shape(const char *op, const mgv_tensor *a, const mgv_tensor *b, int *ndim,
                        int64_t *shape);

mgv_tensor *mgv_add(mgv_tensor *a, mgv_tensor *b);
mgv_tensor *mgv_sub(mgv_tensor *a, mgv_tensor *b);
mgv_tensor *mgv_mul(mgv_tensor *a, mgv_tensor *b);
mgv_tensor *mgv_div(mgv_tensor *a, mgv_tensor *b);

mgv_tensor *mgv_scale(mgv_tensor *x, float s);        /* s * x */
mgv_tensor *mgv_add_scalar(mgv_tensor *x, float s);   /* x + s */
mgv_tensor *mgv_pow_scalar(mgv_tensor *x, float p);   /* x ^ p */

mgv_tensor *mgv_neg(mgv_tensor *x);
mgv_tensor *mgv_exp(mgv_tensor *x);
mgv_tensor *mgv_log(mgv_tensor *x);
mgv_tensor *mgv_sqrt(mgv_tensor *x);
mgv_tensor *mgv_tanh(mgv_tensor *x);
mgv_tensor *mgv_relu(mgv_tensor *x);
mgv_tensor *mgv_gelu(mgv_tensor *x);       /* exact: x * Phi(x), with erf (as BERT) */
mgv_tensor *mgv_sigmoid(mgv_tensor *x);

#endif
