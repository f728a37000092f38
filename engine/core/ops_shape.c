/*
 * ops_shape.c — views and rearrangements: reshape, transpose, permute,
 * slice, select, unsqueeze, squeeze, expand, contiguous, concat and
 * index_select, each with its backward beside it.
 *
 * View ops build a new header on the input's storage (mgv_view_of) with
 * adjusted shape, strides and offset; nothing is copied, so writing through a
 * view changes the base. Their backward maps the output gradient back onto
 * the input's geometry: the inverse view (transpose, permute, squeeze,
 * unsqueeze, reshape), a zero tensor with the gradient written into the
 * viewed region (slice, select), or a sum over broadcast axes (expand, done
 * by mgv_accumulate_grad). concat and index_select copy.
 */
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops_shape.h"

#include <stdio.h>
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

/* Row-major strides of shape; returns the element count. */
static int64_t contiguous_strides(int ndim, const int64_t *shape, int64_t *stride)
{
    int64_t st = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = st;
        st *= shape[i];
    }
    return st;
}

/* Records a one-input node for y with params ints[0..nints-1]. On failure y is
 * released and NULL returned; without grad y is returned untouched. */
static mgv_tensor *record1(mgv_tensor *y, mgv_tensor *x, const char *op, mgv_backward_fn fn,
                           const int64_t *ints, int nints)
{
    if (y) MGV_PROFILE_UNTAPED(op, 1, &x);
    if (!y || !mgv_needs_grad(1, &x)) return y;
    mgv_node *n = mgv_record(y, op, fn, 1, &x);
    if (!n) {
        mgv_release(y);
        return NULL;
    }
    for (int i = 0; i < nints; i++) n->ints[i] = ints[i];
    return y;
}

/* Copies src into the (possibly strided) view dst of the same shape: an
 * odometer over the outer axes of both, strided rows along the last. */
static void strided_copy(mgv_tensor *dst, const mgv_tensor *src)
{
    int64_t n = mgv_numel(dst);
    if (n == 0) return;
    if (mgv_is_contiguous(dst)) {
        mgv_copy_to_buffer(src, mgv_data(dst));
        return;
    }
    /* a non-contiguous tensor has at least one axis */
    int last = dst->ndim - 1;
    int64_t len = dst->shape[last], rows = n / len, idx[MGV_MAX_DIMS] = {0};
    int64_t od = dst->offset, os = src->offset;
    int64_t sd = dst->stride[last], ss = src->stride[last];
    float *pd = dst->storage->data;
    const float *ps = src->storage->data;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < len; i++) pd[od + i * sd] = ps[os + i * ss];
        for (int d = last - 1; d >= 0; d--) {
            idx[d]++;
            od += dst->stride[d];
            os += src->stride[d];
            if (idx[d] < dst->shape[d]) break;
            od -= dst->stride[d] * dst->shape[d];
            os -= src->stride[d] * dst->shape[d];
            idx[d] = 0;
        }
    }
}

/* ---- reshape ------------------------------------------------------------ */

static int reshape_backward(mgv_node *n, mgv_tensor *g)
{
    mgv_tensor *x = n->inputs[0];
    return accumulate_owned(x, mgv_reshape(g, x->ndim, x->shape));
}

mgv_tensor *mgv_reshape(mgv_tensor *x, int ndim, const int64_t *shape)
{
    char a[128], b[128];
    if (ndim < 0 || ndim > MGV_MAX_DIMS)
        return mgv_fail_null("reshape: %d dimensions (at most %d)", ndim, MGV_MAX_DIMS);
    int64_t sh[MGV_MAX_DIMS], st[MGV_MAX_DIMS], known = 1, n = mgv_numel(x);
    int infer = -1, overflow = 0;
    for (int i = 0; i < ndim; i++) {
        sh[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0)
                return mgv_fail_null("reshape: more than one -1 in %s",
                                     mgv_shape_str_n(ndim, shape, b, sizeof b));
            infer = i;
        } else if (shape[i] < 0) {
            return mgv_fail_null("reshape: negative size in %s",
                                 mgv_shape_str_n(ndim, shape, b, sizeof b));
        } else if (shape[i] > 0 && known > INT64_MAX / shape[i]) {
            overflow = 1;
        } else {
            known *= shape[i];
        }
    }
    if (!overflow && infer >= 0 && known > 0 && n % known == 0) sh[infer] = n / known;
    if (overflow || (infer >= 0 && (known == 0 || n % known != 0)) || (infer < 0 && known != n))
        return mgv_fail_null("reshape: cannot reshape %s (%lld elements) to %s",
                             mgv_shape_str(x, a, sizeof a), (long long)n,
                             mgv_shape_str_n(ndim, shape, b, sizeof b));
    contiguous_strides(ndim, sh, st);
    mgv_tensor *y;
    if (mgv_is_contiguous(x)) {
        y = mgv_view_of(x, ndim, sh, st, x->offset);
    } else {
        mgv_tensor *c = mgv_clone_data(x);
        if (!c) return NULL;
        y = mgv_view_of(c, ndim, sh, st, 0);
        mgv_release(c);
    }
    return record1(y, x, "reshape", reshape_backward, NULL, 0);
}

/* ---- transpose / permute ------------------------------------------------ */

static int transpose_backward(mgv_node *n, mgv_tensor *g)
{
    return accumulate_owned(n->inputs[0], mgv_transpose(g, (int)n->ints[0], (int)n->ints[1]));
}

mgv_tensor *mgv_transpose(mgv_tensor *x, int axis_a, int axis_b)
{
    int a, b;
    if (mgv_axis("transpose", x, axis_a, &a) < 0 || mgv_axis("transpose", x, axis_b, &b) < 0)
        return NULL;
    int64_t sh[MGV_MAX_DIMS], st[MGV_MAX_DIMS];
    memcpy(sh, x->shape, sizeof sh);
    memcpy(st, x->stride, sizeof st);
    sh[a] = x->shape[b], st[a] = x->stride[b];
    sh[b] = x->shape[a], st[b] = x->stride[a];
    int64_t p[2] = {a, b};
    return record1(mgv_view_of(x, x->ndim, sh, st, x->offset), x, "transpose",
                   transpose_backward, p, 2);
}

/* The gradient goes through the inverse permutation (ints = perm). */
static int permute_backward(mgv_node *n, mgv_tensor *g)
{
    int inv[MGV_MAX_DIMS];
    for (int i = 0; i < g->ndim; i++) inv[n->ints[i]] = i;
    return accumulate_owned(n->inputs[0], mgv_permute(g, inv));
}

mgv_tensor *mgv_permute(mgv_tensor *x, const int *perm)
{
    int nd = x->ndim, seen[MGV_MAX_DIMS] = {0};
    int64_t sh[MGV_MAX_DIMS], st[MGV_MAX_DIMS], p[MGV_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        int ax = perm[i] < 0 ? perm[i] + nd : perm[i];
        if (ax < 0 || ax >= nd || seen[ax]) {
            char s[96], q[64];
            size_t used = 0;
            for (int j = 0; j < nd && used < sizeof q; j++)
                used += (size_t)snprintf(q + used, sizeof q - used, j ? " %d" : "%d", perm[j]);
            return mgv_fail_null("permute: (%s) is not a permutation of the axes of %s", q,
                                 mgv_shape_str(x, s, sizeof s));
        }
        seen[ax] = 1;
        p[i] = ax;
        sh[i] = x->shape[ax];
        st[i] = x->stride[ax];
    }
    return record1(mgv_view_of(x, nd, sh, st, x->offset), x, "permute", permute_backward, p,
                   nd);
}

/* ---- slice / select ----------------------------------------------------- */

/* The gradient of a view of x: g copied into the region (ndim, shape, stride,
 * offset) of a zero tensor shaped like x (contiguous), accumulated into x. */
static int scatter_grad(mgv_tensor *x, mgv_tensor *g, int ndim, const int64_t *shape,
                        const int64_t *stride, int64_t offset)
{
    mgv_tensor *gx = mgv_zeros(x->ndim, x->shape);
    if (!gx) return -1;
    mgv_tensor *region = mgv_view_of(gx, ndim, shape, stride, offset);
    if (!region) {
        mgv_release(gx);
        return -1;
    }
    strided_copy(region, g);
    mgv_release(region);
    return accumulate_owned(x, gx);
}

/* ints: axis, start, length, step. The gradient lands in the sliced region of
 * a zero tensor shaped like the input. */
static int slice_backward(mgv_node *n, mgv_tensor *g)
{
    mgv_tensor *x = n->inputs[0];
    int axis = (int)n->ints[0];
    int64_t sh[MGV_MAX_DIMS], st[MGV_MAX_DIMS];
    memcpy(sh, x->shape, sizeof sh);
    contiguous_strides(x->ndim, x->shape, st);
    int64_t offset = n->ints[1] * st[axis];
    sh[axis] = n->ints[2];
    st[axis] *= n->ints[3];
    return scatter_grad(x, g, x->ndim, sh, st, offset);
}

mgv_tensor *mgv_slice(mgv_tensor *x, int axis, int64_t start, int64_t stop, int64_t step)
{
    int a;
    if (mgv_axis("slice", x, axis, &a) < 0) return NULL;
    if (step < 1) return mgv_fail_null("slice: step %lld must be >= 1", (long long)step);
    int64_t size = x->shape[a];
    if (start < 0) start = start + size < 0 ? 0 : start + size;
    if (start > size) start = size;
    if (stop < 0) stop = stop + size < 0 ? 0 : stop + size;
    if (stop > size) stop = size;
    /* written so that a huge step cannot overflow; with at most one element
     * the step does not matter and is taken as 1 (stride * step could overflow) */
    int64_t len = stop > start ? (stop - start - 1) / step + 1 : 0;
    if (len <= 1) step = 1;
    int64_t sh[MGV_MAX_DIMS], st[MGV_MAX_DIMS];
    memcpy(sh, x->shape, sizeof sh);
    memcpy(st, x->stride, sizeof st);
    sh[a] = len;
    st[a] = x->stride[a] * step;
    int64_t p[4] = {a, start, len, step};
    return record1(mgv_view_of(x, x->ndim, sh, st, x->offset + start * x->stride[a]), x, "slice",
                   slice_backward, p, 4);
}

/* ints: axis, index. Like slice, into the selected hyperplane of zeros. */
static int select_backward(mgv_node *n, mgv_tensor *g)
{
    mgv_tensor *x = n->inputs[0];
    int axis = (int)n->ints[0];
    int64_t st[MGV_MAX_DIMS], sh2[MGV_MAX_DIMS], st2[MGV_MAX_DIMS];
    contiguous_strides(x->ndim, x->shape, st);
    for (int i = 0, j = 0; i < x->ndim; i++) {
        if (i == axis) continue;
        sh2[j] = x->shape[i];
        st2[j++] = st[i];
    }
    return scatter_grad(x, g, x->ndim - 1, sh2, st2, n->ints[1] * st[axis]);
}

mgv_tensor *mgv_select(mgv_tensor *x, int axis, int64_t index)
{
    int a;
    if (mgv_axis("select", x, axis, &a) < 0) return NULL;
    int64_t size = x->shape[a], i = index < 0 ? index + size : index;
    if (i < 0 || i >= size)
        return mgv_fail_null("select: index %lld out of range for axis %d of size %lld",
                             (long long)index, a, (long long)size);
    int64_t sh[MGV_MAX_DIMS], st[MGV_MAX_DIMS];
    for (int d = 0, j = 0; d < x->ndim; d++) {
        if (d == a) continue;
        sh[j] = x->shape[d];
        st[j++] = x->stride[d];
    }
    int64_t p[2] = {a, i};
    return record1(mgv_view_of(x, x->ndim - 1, sh, st, x->offset + i * x->stride[a]), x,
                   "select", select_backward, p, 2);
}

/* ---- unsqueeze / squeeze ------------------------------------------------ */

static int unsqueeze_backward(mgv_node *n, mgv_tensor *g)
{
    return accumulate_owned(n->inputs[0], mgv_squeeze(g, (int)n->ints[0]));
}

mgv_tensor *mgv_unsqueeze(mgv_tensor *x, int axis)
{
    char s[96];
    int nd = x->ndim;
    int a = axis < 0 ? axis + nd + 1 : axis;
    if (a < 0 || a > nd)
        return mgv_fail_null("unsqueeze: axis %d out of range for shape %s", axis,
                             mgv_shape_str(x, s, sizeof s));
    if (nd == MGV_MAX_DIMS)
        return mgv_fail_null("unsqueeze: %s already has %d dimensions (the most allowed)",
                             mgv_shape_str(x, s, sizeof s), MGV_MAX_DIMS);
    int64_t sh[MGV_MAX_DIMS], st[MGV_MAX_DIMS];
    for (int d = 0, j = 0; d <= nd; d++) {
        if (d == a) {
            /* any stride works for a size-1 axis; this one keeps it contiguous-looking */
            sh[d] = 1;
            st[d] = a < nd ? x->shape[a] * x->stride[a] : 1;
            continue;
        }
        sh[d] = x->shape[j];
        st[d] = x->stride[j++];
    }
    int64_t p[1] = {a};
    return record1(mgv_view_of(x, nd + 1, sh, st, x->offset), x, "unsqueeze",
                   unsqueeze_backward, p, 1);
}

static int squeeze_backward(mgv_node *n, mgv_tensor *g)
{
    return accumulate_owned(n->inputs[0], mgv_unsqueeze(g, (int)n->ints[0]));
}

mgv_tensor *mgv_squeeze(mgv_tensor *x, int axis)
{
    int a;
    if (mgv_axis("squeeze", x, axis, &a) < 0) return NULL;
    if (x->shape[a] != 1) {
        char s[96];
        return mgv_fail_null("squeeze: axis %d of %s has size %lld, not 1", axis,
                             mgv_shape_str(x, s, sizeof s), (long long)x->shape[a]);
    }
    int64_t sh[MGV_MAX_DIMS], st[MGV_MAX_DIMS];
    for (int d = 0, j = 0; d < x->ndim; d++) {
        if (d == a) continue;
        sh[j] = x->shape[d];
        st[j++] = x->stride[d];
    }
    int64_t p[1] = {a};
    return record1(mgv_view_of(x, x->ndim - 1, sh, st, x->offset), x, "squeeze",
                   squeeze_backward, p, 1);
}

/* ---- expand / contiguous ----------------------------------------------- */

/* The gradient is summed over the broadcast axes by mgv_accumulate_grad. */
static int pass_backward(mgv_node *n, mgv_tensor *g)
{
    return mgv_accumulate_grad(n->inputs[0], g);
}

mgv_tensor *mgv_expand(mgv_tensor *x, int ndim, const int64_t *shape)
{
    char a[128], b[128];
    if (ndim < x->ndim || ndim > MGV_MAX_DIMS)
        goto bad;
    int64_t sh[MGV_MAX_DIMS], st[MGV_MAX_DIMS];
    int lead = ndim - x->ndim;
    for (int d = 0; d < ndim; d++) {
        int xd = d - lead;
        int64_t want = shape[d];
        if (xd < 0) {   /* new leading axis */
            if (want < 0) goto bad;
            sh[d] = want;
            st[d] = 0;
        } else if (want == -1 || want == x->shape[xd]) {
            sh[d] = x->shape[xd];
            st[d] = x->stride[xd];
        } else if (x->shape[xd] == 1 && want >= 0) {
            sh[d] = want;
            st[d] = 0;
        } else {
            goto bad;
        }
    }
    return record1(mgv_view_of(x, ndim, sh, st, x->offset), x, "expand", pass_backward, NULL, 0);
bad:
    return mgv_fail_null("expand: cannot expand %s to %s", mgv_shape_str(x, a, sizeof a),
                         mgv_shape_str_n(ndim > MGV_MAX_DIMS ? MGV_MAX_DIMS : ndim, shape, b,
                                         sizeof b));
}

mgv_tensor *mgv_contiguous(mgv_tensor *x)
{
    if (mgv_is_contiguous(x)) return mgv_retain(x);
    return record1(mgv_clone_data(x), x, "contiguous", pass_backward, NULL, 0);
}

/* ---- concat ------------------------------------------------------------ */

/* Each input takes its own slab of the gradient along the axis (ints[0]). */
static int concat_backward(mgv_node *n, mgv_tensor *g)
{
    int count = n->n_extra ? n->n_extra : n->n_inputs;
    mgv_tensor *const *xs = n->n_extra ? n->extra : n->inputs;
    int axis = (int)n->ints[0];
    int64_t off = 0;
    for (int i = 0; i < count; i++) {
        mgv_tensor *x = xs[i];
        if (x->requires_grad) {
            int64_t sh[MGV_MAX_DIMS];
            memcpy(sh, g->shape, sizeof sh);
            sh[axis] = x->shape[axis];
            mgv_tensor *part = mgv_view_of(g, g->ndim, sh, g->stride,
                                           g->offset + off * g->stride[axis]);
            if (!part || accumulate_owned(x, part) < 0) return -1;
        }
        off += x->shape[axis];
    }
    return 0;
}

mgv_tensor *mgv_concat(int n, mgv_tensor *const *xs, int axis)
{
    char a[96], b[96];
    if (n < 1 || !xs) return mgv_fail_null("concat: no tensors to join");
    for (int i = 0; i < n; i++)
        if (!xs[i]) return mgv_fail_null("concat: tensor %d is missing", i + 1);
    int ax;
    if (mgv_axis("concat", xs[0], axis, &ax) < 0) return NULL;
    int nd = xs[0]->ndim;
    int64_t sh[MGV_MAX_DIMS];
    memcpy(sh, xs[0]->shape, sizeof sh);
    sh[ax] = 0;
    for (int i = 0; i < n; i++) {
        const mgv_tensor *x = xs[i];
        int ok = x->ndim == nd;
        for (int d = 0; ok && d < nd; d++)
            if (d != ax && x->shape[d] != sh[d]) ok = 0;
        if (!ok)
            return mgv_fail_null("concat: shapes %s and %s differ outside axis %d",
                                 mgv_shape_str(xs[0], a, sizeof a), mgv_shape_str(x, b, sizeof b),
                                 ax);
        sh[ax] += x->shape[ax];
    }
    mgv_tensor *y = mgv_empty(nd, sh);
    if (!y) return NULL;
    /* rows: product of the axes before ax; each input fills a slab per row */
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < ax; d++) outer *= sh[d];
    for (int d = ax + 1; d < nd; d++) inner *= sh[d];
    int64_t out_row = sh[ax] * inner, off = 0;
    float *dst = mgv_data(y);
    for (int i = 0; i < n; i++) {
        int64_t chunk = xs[i]->shape[ax] * inner;
        if (chunk > 0 && outer > 0) {
            mgv_tensor *c = mgv_contiguous_data(xs[i]);
            if (!c) {
                mgv_release(y);
                return NULL;
            }
            const float *src = mgv_data(c);
            for (int64_t o = 0; o < outer; o++)
                memcpy(dst + o * out_row + off, src + o * chunk, (size_t)chunk * sizeof(float));
            mgv_release(c);
        }
        off += chunk;
    }
    MGV_PROFILE_UNTAPED("concat", n, xs);
    if (mgv_needs_grad(n, xs)) {
        mgv_node *node = mgv_record(y, "concat", concat_backward, n, xs);
        if (!node) {
            mgv_release(y);
            return NULL;
        }
        node->ints[0] = ax;
    }
    return y;
}

/* ---- index_select ------------------------------------------------------ */

typedef struct {
    int64_t n;
    int64_t index[];
} index_list;

/* Scatter-adds the gradient rows back to the rows they were gathered from
 * (repeated indices add up). ints[0] = axis; ctx = the indices. */
static int index_select_backward(mgv_node *node, mgv_tensor *g)
{
    mgv_tensor *x = node->inputs[0];
    const index_list *il = node->ctx;
    int axis = (int)node->ints[0];
    mgv_tensor *gx = mgv_zeros(x->ndim, x->shape);
    mgv_tensor *gc = gx ? mgv_contiguous_data(g) : NULL;
    if (!gc) {
        mgv_release(gx);
        return -1;
    }
    int64_t outer = 1, inner = 1, size = x->shape[axis], n = il->n;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    const float *src = mgv_data(gc);
    float *dst = mgv_data(gx);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < n; i++) {
            const float *s = src + (o * n + i) * inner;
            float *d = dst + (o * size + il->index[i]) * inner;
            for (int64_t k = 0; k < inner; k++) d[k] += s[k];
        }
    mgv_release(gc);
    return accumulate_owned(x, gx);
}

mgv_tensor *mgv_index_select(mgv_tensor *x, int axis, const int64_t *index, int64_t n)
{
    int a;
    if (mgv_axis("index_select", x, axis, &a) < 0) return NULL;
    if (n < 0) return mgv_fail_null("index_select: negative count %lld", (long long)n);
    if (n > 0 && !index) return mgv_fail_null("index_select: no indices");
    int64_t size = x->shape[a];
    for (int64_t i = 0; i < n; i++)
        if (index[i] < 0 || index[i] >= size)
            return mgv_fail_null("index_select: index %lld out of range for axis %d of size %lld",
                                 (long long)index[i], a, (long long)size);
    int64_t sh[MGV_MAX_DIMS];
    memcpy(sh, x->shape, sizeof sh);
    sh[a] = n;
    mgv_tensor *y = mgv_empty(x->ndim, sh);
    if (!y) return NULL;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < a; d++) outer *= x->shape[d];
    for (int d = a + 1; d < x->ndim; d++) inner *= x->shape[d];
    if (n > 0 && inner > 0 && outer > 0) {
        mgv_tensor *c = mgv_contiguous_data(x);
        if (!c) {
            mgv_release(y);
            return NULL;
        }
        const float *src = mgv_data(c);
        float *dst = mgv_data(y);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < n; i++)
                memcpy(dst + (o * n + i) * inner, src + (o * size + index[i]) * inner,
                       (size_t)inner * sizeof(float));
        mgv_release(c);
    }
    MGV_PROFILE_UNTAPED("index_select", 1, &x);
    if (mgv_needs_grad(1, &x)) {
        index_list *il = malloc(sizeof *il + sizeof(int64_t) * (size_t)n);
        if (!il) {
            mgv_release(y);
            return mgv_fail_null("index_select: out of memory");
        }
        il->n = n;
        if (n > 0) memcpy(il->index, index, sizeof(int64_t) * (size_t)n);
        mgv_node *node = mgv_record(y, "index_select", index_select_backward, 1, &x);
        if (!node) {
            free(il);
            mgv_release(y);
            return NULL;
        }
        node->ints[0] = a;
        node->ctx = il;
        node->free_ctx = free;
    }
    return y;
}
