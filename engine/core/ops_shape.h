/*
 * ops_shape.h — views and rearrangements. View ops share storage with their
 * input (no copy); all record autograd. Axes may be negative (from the end).
 */
#ifndef MGV_OPS_SHAPE_H
#define MGV_OPS_SHAPE_H

#include "core/tensor.h"

/* One size may be -1 (inferred). A view when x is contiguous, else a copy. */
mgv_tensor *mgv_reshape(mgv_tensor *x, int ndim, const int64_t *shape);
/* Swaps two axes (view). */
mgv_tensor *mgv_transpose(mgv_tensor *x, int axis_a, int axis_b);
/* perm has x->ndim entries, a permutation of 0..ndim-1 (view). */
mgv_tensor *mgv_permute(mgv_tensor *x, const int *perm);
/* Python-style x[start:stop:step] along axis; negative start/stop count from
 * the end and are clamped; step >= 1 (view). */
mgv_tensor *mgv_slice(mgv_tensor *x, int axis, int64_t start, int64_t stop, int64_t step);
/* x[index] along axis, dropping that axis (view); negative index from the end. */
mgv_tensor *mgv_select(mgv_tensor *x, int axis, int64_t index);
mgv_tensor *mgv_unsqueeze(mgv_tensor *x, int axis);   /* axis in [-ndim-1, ndim] */
mgv_tensor *mgv_squeeze(mgv_tensor *x, int axis);     /* that axis must have size 1 */
/* Broadcast view to shape (numpy rules, stride 0 on expanded axes). */
mgv_tensor *mgv_expand(mgv_tensor *x, int ndim, const int64_t *shape);
/* x itself (retained) when contiguous, else a contiguous copy that records autograd. */
mgv_tensor *mgv_contiguous(mgv_tensor *x);
/* Joins n tensors along axis; other sizes must agree. */
mgv_tensor *mgv_concat(int n, mgv_tensor *const *xs, int axis);
/* Gathers n slices x[index[i]] along axis into a new tensor (that axis gets
 * size n); backward scatter-adds. Indices out of range fail with a message. */
mgv_tensor *mgv_index_select(mgv_tensor *x, int axis, const int64_t *index, int64_t n);

#endif
