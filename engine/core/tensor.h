/*
 * tensor.h — float32 n-d tensors over reference-counted storage.
 *
 * A tensor is a view: shape, strides (in elements) and an offset into a
 * storage that several views may share. Tensors are reference-counted;
 * every function that returns a tensor returns a new reference the caller
 * must mgv_release(). Input tensors are borrowed.
 *
 * Autograd fields live here too (requires_grad, grad, node) so that every op
 * can record itself; see autograd.h.
 */
#ifndef MGV_TENSOR_H
#define MGV_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define MGV_MAX_DIMS 8

typedef struct mgv_storage {
    float *data;
    int64_t size;      /* elements */
    int refcount;
} mgv_storage;

struct mgv_node;

typedef struct mgv_tensor {
    int refcount;
    int ndim;
    int64_t shape[MGV_MAX_DIMS];
    int64_t stride[MGV_MAX_DIMS];
    int64_t offset;
    mgv_storage *storage;
    /* autograd */
    int requires_grad;          /* leaf parameter or result of a recorded op */
    int retain_grad;            /* keep .grad on a non-leaf after backward */
    int graph_released;         /* backward already ran through this tensor */
    int visit;                  /* scratch mark for graph walks */
    struct mgv_tensor *grad;    /* accumulated gradient, same shape, or NULL */
    struct mgv_node *node;      /* the op that produced it; NULL for leaves */
} mgv_tensor;

/* ---- construction ---------------------------------------------------- */
/* Uninitialised contiguous tensor. ndim 0 is a scalar (one element). */
mgv_tensor *mgv_empty(int ndim, const int64_t *shape);
mgv_tensor *mgv_zeros(int ndim, const int64_t *shape);
mgv_tensor *mgv_ones(int ndim, const int64_t *shape);
mgv_tensor *mgv_full(int ndim, const int64_t *shape, float value);
mgv_tensor *mgv_scalar(float value);
/* Copies n = numel(shape) floats from data. */
mgv_tensor *mgv_from_data(int ndim, const int64_t *shape, const float *data);
mgv_tensor *mgv_zeros_like(const mgv_tensor *t);
/* Contiguous copy of the values, no autograd history. */
mgv_tensor *mgv_clone_data(const mgv_tensor *t);
/* A new header on the same storage, with no autograd history (detach). */
mgv_tensor *mgv_detach(const mgv_tensor *t);
/* A view with explicit geometry on t's storage; used by view ops. */
mgv_tensor *mgv_view_of(const mgv_tensor *t, int ndim, const int64_t *shape,
                        const int64_t *stride, int64_t offset);

/* ---- reference counting ---------------------------------------------- */
mgv_tensor *mgv_retain(mgv_tensor *t);   /* returns t */
void mgv_release(mgv_tensor *t);         /* NULL is fine */

/* ---- geometry -------------------------------------------------------- */
int64_t mgv_numel(const mgv_tensor *t);
int64_t mgv_shape_numel(int ndim, const int64_t *shape);
int mgv_is_contiguous(const mgv_tensor *t);
int mgv_same_shape(const mgv_tensor *a, const mgv_tensor *b);
/* Normalises a possibly negative axis; fails with a message naming op. */
int mgv_axis(const char *op, const mgv_tensor *t, int axis, int *out);
/* Writes "[16x768]" (or "[]" for a scalar) into buf; returns buf. */
char *mgv_shape_str(const mgv_tensor *t, char *buf, size_t n);
char *mgv_shape_str_n(int ndim, const int64_t *shape, char *buf, size_t n);
/* Pointer to element 0 of the view. */
static inline float *mgv_data(const mgv_tensor *t)
{
    return t->storage->data + t->offset;
}
/* Value at a flat row-major index (follows strides). */
float mgv_get_flat(const mgv_tensor *t, int64_t i);
void mgv_set_flat(mgv_tensor *t, int64_t i, float v);
/* Contiguous copy into dst (numel floats), whatever the strides. */
void mgv_copy_to_buffer(const mgv_tensor *t, float *dst);
/* Copies src values into dst (same numel), following both strides. */
int mgv_copy_(mgv_tensor *dst, const mgv_tensor *src);
void mgv_fill_(mgv_tensor *t, float v);

/* ---- memory accounting ----------------------------------------------- */
/* Bytes of tensor storage currently allocated (all threads). */
int64_t mgv_bytes_allocated(void);
/* Bytes of freed storage kept for reuse (see tensor.c: at most a quarter of
 * the memory limit, and never more than the limit leaves beside the live
 * storage); -1 when the build has no cache (AddressSanitizer). */
int64_t mgv_bytes_cached(void);
/* Refuse single allocations above this many bytes (default: 16 GiB). */
void mgv_set_alloc_limit(int64_t bytes);
/*
 * The memory budget: an allocation that would take the live tensor storage
 * (mgv_bytes_allocated) above the limit fails with a message naming the
 * shape, the size and the limit, instead of being left to the kernel's OOM
 * killer. Default: 0.9 x the smallest of physical RAM, RLIMIT_AS and the
 * cgroup memory.max. mgv_set_memory_limit returns the previous limit; a
 * negative value restores the default. Thread-safe.
 */
int64_t mgv_memory_limit(void);
int64_t mgv_set_memory_limit(int64_t bytes);
int64_t mgv_default_memory_limit(void);
/* Largest element count of any tensor or view (keeps sizes and byte counts
 * far from int64 overflow). */
#define MGV_MAX_NUMEL ((int64_t)1 << 60)



/* For kernels: t itself (retained) when contiguous, else a contiguous copy.
 * No autograd history either way; the caller releases it. */
mgv_tensor *mgv_contiguous_data(mgv_tensor *t);

#endif
