/* tensor.c — tensors, storage, geometry (see tensor.h). */
#include "tensor.h"
#include "autograd.h"
#include "error.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic int64_t bytes_allocated = 0;
static int64_t alloc_limit = (int64_t)16 << 30;

int64_t mgv_bytes_allocated(void) { return atomic_load(&bytes_allocated); }
void mgv_set_alloc_limit(int64_t bytes) { alloc_limit = bytes; }

int64_t mgv_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

char *mgv_shape_str_n(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t used = 0;
    if (n == 0) return buf;
    used += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? "x%lld" : "%lld",
                                 (long long)shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
    return buf;
}

char *mgv_shape_str(const mgv_tensor *t, char *buf, size_t n)
{
    return mgv_shape_str_n(t->ndim, t->shape, buf, n);
}

static mgv_storage *storage_new(int64_t size)
{
    if (size < 0) return mgv_fail_null("tensor: negative size %lld", (long long)size);
    if (size > alloc_limit / (int64_t)sizeof(float))
        return mgv_fail_null("tensor: cannot allocate %lld elements (%.1f GiB, limit %.1f GiB)",
                             (long long)size, (double)size * 4 / (1 << 30),
                             (double)alloc_limit / (1 << 30));
    mgv_storage *s = malloc(sizeof *s);
    if (!s) return mgv_fail_null("tensor: out of memory");
    /* 64-byte alignment keeps SIMD loads and BLAS happy. */
    size_t bytes = ((size_t)(size ? size : 1) * sizeof(float) + 63) & ~(size_t)63;
    s->data = aligned_alloc(64, bytes);
    if (!s->data) {
        free(s);
        return mgv_fail_null("tensor: out of memory allocating %lld elements (%.1f MiB)",
                             (long long)size, (double)size * 4 / (1 << 20));
    }
    s->size = size;
    s->refcount = 1;
    atomic_fetch_add(&bytes_allocated, (int64_t)bytes);
    return s;
}

static void storage_release(mgv_storage *s)
{
    if (!s || --s->refcount > 0) return;
    size_t bytes = ((size_t)(s->size ? s->size : 1) * sizeof(float) + 63) & ~(size_t)63;
    atomic_fetch_sub(&bytes_allocated, (int64_t)bytes);
    free(s->data);
    free(s);
}

static mgv_tensor *header_new(int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > MGV_MAX_DIMS)
        return mgv_fail_null("tensor: %d dimensions (at most %d)", ndim, MGV_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return mgv_fail_null("tensor: negative size %lld in dimension %d",
                                 (long long)shape[i], i + 1);
    mgv_tensor *t = calloc(1, sizeof *t);
    if (!t) return mgv_fail_null("tensor: out of memory");
    t->refcount = 1;
    t->ndim = ndim;
    int64_t st = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->stride[i] = st;
        st *= shape[i];
    }
    return t;
}

mgv_tensor *mgv_empty(int ndim, const int64_t *shape)
{
    mgv_tensor *t = header_new(ndim, shape);
    if (!t) return NULL;
    /* overflow guard: product of sizes must stay well inside int64 */
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && n > INT64_MAX / 8 / shape[i]) {
            free(t);
            return mgv_fail_null("tensor: size overflows");
        }
        n *= shape[i];
    }
    t->storage = storage_new(n);
    if (!t->storage) {
        free(t);
        return NULL;
    }
    return t;
}

mgv_tensor *mgv_full(int ndim, const int64_t *shape, float value)
{
    mgv_tensor *t = mgv_empty(ndim, shape);
    if (t) mgv_fill_(t, value);
    return t;
}

mgv_tensor *mgv_zeros(int ndim, const int64_t *shape)
{
    mgv_tensor *t = mgv_empty(ndim, shape);
    if (t) memset(t->storage->data, 0, (size_t)t->storage->size * sizeof(float));
    return t;
}

mgv_tensor *mgv_ones(int ndim, const int64_t *shape) { return mgv_full(ndim, shape, 1.0f); }

mgv_tensor *mgv_scalar(float value) { return mgv_full(0, NULL, value); }

mgv_tensor *mgv_from_data(int ndim, const int64_t *shape, const float *data)
{
    mgv_tensor *t = mgv_empty(ndim, shape);
    if (t) memcpy(t->storage->data, data, (size_t)mgv_numel(t) * sizeof(float));
    return t;
}

mgv_tensor *mgv_zeros_like(const mgv_tensor *t) { return mgv_zeros(t->ndim, t->shape); }

mgv_tensor *mgv_clone_data(const mgv_tensor *t)
{
    mgv_tensor *c = mgv_empty(t->ndim, t->shape);
    if (c) mgv_copy_to_buffer(t, c->storage->data);
    return c;
}

mgv_tensor *mgv_view_of(const mgv_tensor *t, int ndim, const int64_t *shape,
                        const int64_t *stride, int64_t offset)
{
    mgv_tensor *v = header_new(ndim, shape);
    if (!v) return NULL;
    for (int i = 0; i < ndim; i++) v->stride[i] = stride[i];
    v->offset = offset;
    v->storage = t->storage;
    v->storage->refcount++;
    return v;
}

mgv_tensor *mgv_detach(const mgv_tensor *t)
{
    return mgv_view_of(t, t->ndim, t->shape, t->stride, t->offset);
}

mgv_tensor *mgv_retain(mgv_tensor *t)
{
    if (t) t->refcount++;
    return t;
}

void mgv_release(mgv_tensor *t)
{
    if (!t) return;
    assert(t->refcount > 0);
    if (--t->refcount > 0) return;
    mgv_release(t->grad);
    if (t->node) mgv_node_release(t->node);
    storage_release(t->storage);
    free(t);
}

int64_t mgv_numel(const mgv_tensor *t) { return mgv_shape_numel(t->ndim, t->shape); }

int mgv_is_contiguous(const mgv_tensor *t)
{
    int64_t st = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != st) return 0;
        st *= t->shape[i];
    }
    return 1;
}

int mgv_same_shape(const mgv_tensor *a, const mgv_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

int mgv_axis(const char *op, const mgv_tensor *t, int axis, int *out)
{
    int n = t->ndim;
    int a = axis < 0 ? axis + n : axis;
    if (a < 0 || a >= n) {
        char s[96];
        return mgv_fail("%s: axis %d out of range for shape %s", op, axis,
                        mgv_shape_str(t, s, sizeof s));
    }
    *out = a;
    return 0;
}

/* Storage offset of flat row-major index i. */
static int64_t flat_offset(const mgv_tensor *t, int64_t i)
{
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t n = t->shape[d];
        off += (i % n) * t->stride[d];
        i /= n;
    }
    return off;
}

float mgv_get_flat(const mgv_tensor *t, int64_t i) { return t->storage->data[flat_offset(t, i)]; }

void mgv_set_flat(mgv_tensor *t, int64_t i, float v) { t->storage->data[flat_offset(t, i)] = v; }

void mgv_copy_to_buffer(const mgv_tensor *t, float *dst)
{
    int64_t n = mgv_numel(t);
    if (mgv_is_contiguous(t)) {
        memcpy(dst, mgv_data(t), (size_t)n * sizeof(float));
        return;
    }
    /* odometer walk over the view: one add per element, no divisions */
    int64_t idx[MGV_MAX_DIMS] = {0};
    int64_t off = t->offset;
    const float *src = t->storage->data;
    int last = t->ndim - 1;
    for (int64_t i = 0; i < n; i++) {
        dst[i] = src[off];
        int d = last;
        while (d >= 0) {
            idx[d]++;
            off += t->stride[d];
            if (idx[d] < t->shape[d]) break;
            off -= t->stride[d] * t->shape[d];
            idx[d] = 0;
            d--;
        }
    }
}

int mgv_copy_(mgv_tensor *dst, const mgv_tensor *src)
{
    int64_t n = mgv_numel(dst);
    if (n != mgv_numel(src)) {
        char a[96], b[96];
        return mgv_fail("copy: %s and %s differ in size", mgv_shape_str(dst, a, sizeof a),
                        mgv_shape_str(src, b, sizeof b));
    }
    if (mgv_is_contiguous(dst)) {
        mgv_copy_to_buffer(src, mgv_data(dst));
        return 0;
    }
    float *tmp = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!tmp) return mgv_fail("copy: out of memory");
    mgv_copy_to_buffer(src, tmp);
    for (int64_t i = 0; i < n; i++) mgv_set_flat(dst, i, tmp[i]);
    free(tmp);
    return 0;
}

void mgv_fill_(mgv_tensor *t, float v)
{
    int64_t n = mgv_numel(t);
    if (mgv_is_contiguous(t)) {
        float *p = mgv_data(t);
        for (int64_t i = 0; i < n; i++) p[i] = v;
    } else {
        for (int64_t i = 0; i < n; i++) mgv_set_flat(t, i, v);
    }
}

mgv_tensor *mgv_contiguous_data(mgv_tensor *t)
{
    if (mgv_is_contiguous(t)) return mgv_retain(t);
    return mgv_clone_data(t);
}
