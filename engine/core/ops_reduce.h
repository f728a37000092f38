/*
 * ops_reduce.h — reductions along axes. naxes == 0 reduces over every axis
 * (a scalar result, or all-ones shape with keepdim).
 */
#ifndef MGV_OPS_REDUCE_H
#define MGV_OPS_REDUCE_H

#include "core/tensor.h"

mgv_tensor *mgv_sum(mgv_tensor *x, int naxes, const int *axes, int keepdim);
mgv_tensor *mgv_mean(mgv_tensor *x, int naxes, const int *axes, int keepdim);
/* Maximum along one axis; when argmax is not NULL it receives a new tensor of
 * the indices (as floats, shape of the result). Gradient flows to the first
 * maximal element. */
mgv_tensor *mgv_max(mgv_tensor *x, int axis, int keepdim, mgv_tensor **argmax);
mgv_tensor *mgv_sum_all(mgv_tensor *x);    /* scalar */
mgv_tensor *mgv_mean_all(mgv_tensor *x);   /* scalar */

#endif
