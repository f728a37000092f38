/*
 * ops_reduce.c — sum and mean over a set of axes, max along one axis (with
 * argmax), and the scalar shorthands sum_all / mean_all. Backward beside
 * each forward.
 *
 * Sums walk the input once in row-major order (following its strides, no
 * copy) with an odometer that carries two offsets: one into the input and
 * one into a double-precision accumulator shaped like the output (stride 0
 * on reduced axes). Accumulating in double keeps long rows accurate: a
 * million float additions lose nothing visible.
 */
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops_elementwise.h"
#include "core/ops_reduce.h"
#include "core/ops_shape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Accumulates g into t's gradient and drops the reference to g (which
 * becomes t's gradient without a copy when t had none and g is the caller's
 * alone). */
static int accumulate_owned(mgv_tensor *t, mgv_tensor *g)
{
    int rc = mgv_accumulate_grad_fresh(t, g);
    mgv_release(g);
    return rc;
}

/* Marks the reduced axes in mask (naxes 0: all); fails on axes out of range
 * or named twice. */
static int reduce_mask(const char *op, const mgv_tensor *x, int naxes, const int *axes, int *mask)
{
    if (naxes < 0) return mgv_fail("%s: negative axis count %d", op, naxes);
    if (naxes > 0 && !axes) return mgv_fail("%s: no axes given", op);
    for (int d = 0; d < x->ndim; d++) mask[d] = naxes == 0;
    for (int i = 0; i < naxes; i++) {
        int a;
        if (mgv_axis(op, x, axes[i], &a) < 0) return -1;
        if (mask[a]) {
            char s[96];
            return mgv_fail("%s: axis %d given twice for shape %s", op, axes[i],
                            mgv_shape_str(x, s, sizeof s));
        }
        mask[a] = 1;
    }
    return 0;
}

/* ---- sum / mean ----------------------------------------------------------- */

/* node: inputs[0] = x, ints[0..ndim-1] = the keepdim output shape, reals[0] =
 * the factor (1 for sum, 1/count for mean). The gradient is scaled, given
 * size-1 axes where the reduced ones were, and broadcast back over x. */
static int sum_backward(mgv_node *n, mgv_tensor *g)
{
    mgv_tensor *x = n->inputs[0];
    if (!x->requires_grad) return 0;
    mgv_tensor *gs = n->reals[0] == 1.0 ? mgv_retain(g) : mgv_scale(g, (float)n->reals[0]);
    mgv_tensor *gk = gs ? mgv_reshape(gs, x->ndim, n->ints) : NULL;
    mgv_tensor *ge = gk ? mgv_expand(gk, x->ndim, x->shape) : NULL;
    mgv_release(gs);
    mgv_release(gk);
    return accumulate_owned(x, ge);
}

/* Sum over the axes in mask, times factor, with or without kept axes. */
static mgv_tensor *reduce_sum(const char *op, mgv_tensor *x, const int *mask, int keepdim,
                              double factor)
{
    int nd = x->ndim, ond = 0;
    int64_t kshape[MGV_MAX_DIMS], oshape[MGV_MAX_DIMS], ostride[MGV_MAX_DIMS];
    int64_t m = 1;
    for (int d = nd - 1; d >= 0; d--) {
        kshape[d] = mask[d] ? 1 : x->shape[d];
        ostride[d] = mask[d] ? 0 : m;
        m *= kshape[d];
    }
    for (int d = 0; d < nd; d++)
        if (keepdim || !mask[d]) oshape[ond++] = kshape[d];
    double *acc = calloc((size_t)(m ? m : 1), sizeof *acc);
    if (!acc) return mgv_fail_null("%s: out of memory", op);
    int64_t n = mgv_numel(x);
    const float *src = x->storage->data;
    if (n > 0 && nd == 0) {
        acc[0] = src[x->offset];
    } else if (n > 0) {
        int last = nd - 1;
        int64_t len = x->shape[last], rows = n / len, xs = x->stride[last];
        int64_t idx[MGV_MAX_DIMS] = {0}, xo = x->offset, oo = 0;
        for (int64_t r = 0; r < rows; r++) {
            const float *p = src + xo;
            if (mask[last]) {   /* the row collapses to one number */
                double s = 0;
                if (xs == 1)
                    for (int64_t k = 0; k < len; k++) s += p[k];
                else
                    for (int64_t k = 0; k < len; k++) s += p[k * xs];
                acc[oo] += s;
            } else {            /* the row adds onto an output row (stride 1) */
                double *q = acc + oo;
                for (int64_t k = 0; k < len; k++) q[k] += p[k * xs];
            }
            for (int d = last - 1; d >= 0; d--) {
                idx[d]++;
                xo += x->stride[d];
                oo += ostride[d];
                if (idx[d] < x->shape[d]) break;
                xo -= x->stride[d] * x->shape[d];
                oo -= ostride[d] * x->shape[d];
                idx[d] = 0;
            }
        }
    }
    mgv_tensor *y = mgv_empty(ond, oshape);
    if (!y) {
        free(acc);
        return NULL;
    }
    float *out = mgv_data(y);
    for (int64_t i = 0; i < m; i++) out[i] = (float)(acc[i] * factor);
    free(acc);
    MGV_PROFILE_UNTAPED(op, 1, &x);
    if (mgv_needs_grad(1, &x)) {
        mgv_node *node = mgv_record(y, op, sum_backward, 1, &x);
        if (!node) {
            mgv_release(y);
            return NULL;
        }
        for (int d = 0; d < nd; d++) node->ints[d] = kshape[d];
        node->reals[0] = factor;
    }
    return y;
}

mgv_tensor *mgv_sum(mgv_tensor *x, int naxes, const int *axes, int keepdim)
{
    int mask[MGV_MAX_DIMS];
    if (reduce_mask("sum", x, naxes, axes, mask) < 0) return NULL;
    return reduce_sum("sum", x, mask, keepdim, 1.0);
}

mgv_tensor *mgv_mean(mgv_tensor *x, int naxes, const int *axes, int keepdim)
{
    int mask[MGV_MAX_DIMS];
    if (reduce_mask("mean", x, naxes, axes, mask) < 0) return NULL;
    int64_t count = 1;
    for (int d = 0; d < x->ndim; d++)
        if (mask[d]) count *= x->shape[d];
    /* the mean of nothing is NaN (0 * NaN), as in numpy */
    return reduce_sum("mean", x, mask, keepdim, count ? 1.0 / (double)count : NAN);
}

mgv_tensor *mgv_sum_all(mgv_tensor *x) { return mgv_sum(x, 0, NULL, 0); }
mgv_tensor *mgv_mean_all(mgv_tensor *x) { return mgv_mean(x, 0, NULL, 0); }

/* ---- max ------------------------------------------------------------------ */

/* node: inputs[0] = x, ints[0] = axis, ctx = the argmax per output element.
 * Each output's gradient goes to the one element that was chosen. */
static int max_backward(mgv_node *n, mgv_tensor *g)
{
    mgv_tensor *x = n->inputs[0];
    if (!x->requires_grad) return 0;
    const int64_t *arg = n->ctx;
    int axis = (int)n->ints[0];
    int64_t outer = 1, inner = 1, len = x->shape[axis];
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    mgv_tensor *gx = mgv_zeros(x->ndim, x->shape);
    mgv_tensor *gc = gx ? mgv_contiguous_data(g) : NULL;
    if (!gc) {
        mgv_release(gx);
        return -1;
    }
    const float *src = mgv_data(gc);
    float *dst = mgv_data(gx);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t j = o * inner + i;
            dst[(o * len + arg[j]) * inner + i] += src[j];
        }
    mgv_release(gc);
    return accumulate_owned(x, gx);
}

mgv_tensor *mgv_max(mgv_tensor *x, int axis, int keepdim, mgv_tensor **argmax)
{
    char s[96];
    int a;
    if (argmax) *argmax = NULL;
    if (mgv_axis("max", x, axis, &a) < 0) return NULL;
    int64_t len = x->shape[a];
    if (len == 0)
        return mgv_fail_null("max: axis %d of %s is empty", axis, mgv_shape_str(x, s, sizeof s));
    int64_t outer = 1, inner = 1, oshape[MGV_MAX_DIMS];
    int ond = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d < a) outer *= x->shape[d];
        if (d > a) inner *= x->shape[d];
        if (d != a) oshape[ond++] = x->shape[d];
        else if (keepdim) oshape[ond++] = 1;
    }
    int64_t m = outer * inner;
    int64_t *arg = malloc(sizeof *arg * (size_t)(m ? m : 1));
    mgv_tensor *y = arg ? mgv_empty(ond, oshape) : NULL;
    mgv_tensor *xc = y ? mgv_contiguous_data(x) : NULL;
    if (!xc) {
        if (!arg) mgv_fail("max: out of memory");
        free(arg);
        mgv_release(y);
        return NULL;
    }
    /* row by row along the axis, so the inner loop runs over contiguous memory;
     * strict > keeps the first maximum, and a NaN wins (propagates) */
    const float *src = mgv_data(xc);
    float *out = mgv_data(y);
    for (int64_t o = 0; o < outer; o++) {
        const float *base = src + o * len * inner;
        float *yo = out + o * inner;
        int64_t *ao = arg + o * inner;
        for (int64_t i = 0; i < inner; i++) {
            yo[i] = base[i];
            ao[i] = 0;
        }
        for (int64_t k = 1; k < len; k++) {
            const float *row = base + k * inner;
            for (int64_t i = 0; i < inner; i++) {
                float v = row[i];
                if (v > yo[i] || (isnan(v) && !isnan(yo[i]))) {
                    yo[i] = v;
                    ao[i] = k;
                }
            }
        }
    }
    mgv_release(xc);
    if (argmax) {
        *argmax = mgv_empty(ond, oshape);
        if (!*argmax) {
            free(arg);
            mgv_release(y);
            return NULL;
        }
        float *pa = mgv_data(*argmax);
        for (int64_t j = 0; j < m; j++) pa[j] = (float)arg[j];
    }
    MGV_PROFILE_UNTAPED("max", 1, &x);
    if (mgv_needs_grad(1, &x)) {
        mgv_node *node = mgv_record(y, "max", max_backward, 1, &x);
        if (!node) {
            free(arg);
            mgv_release(y);
            if (argmax) {
                mgv_release(*argmax);
                *argmax = NULL;
            }
            return NULL;
        }
        node->ints[0] = a;
        node->ctx = arg;
        node->free_ctx = free;
    } else {
        free(arg);
    }
    return y;
}
