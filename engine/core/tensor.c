/* tensor.c — tensors, storage, geometry (see tensor.h). */
#include "core/autograd.h"
#include "core/error.h"
#include "core/tensor.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/*
 * Allocation of storage blocks. A training step allocates and frees the
 * same large sizes every step, and a block that goes back to the kernel is
 * zeroed by it again, page by page, when it is next touched: that cost a
 * quarter of the BERT paper step. So:
 *  - blocks from HUGE_MIN_BYTES up are 2 MiB aligned and use transparent
 *    huge pages (512 times fewer faults);
 *  - freed blocks from CACHE_MIN_BYTES up wait in a cache for the next
 *    request of exactly their size (the most recent such block first). A
 *    step's activations are freed by its backward pass and asked for again,
 *    size by size, by the next forward pass, so the cache must hold a whole
 *    step: it keeps up to a quarter of the memory limit (cache_cap), the
 *    oldest blocks going first. Blocks from HUGE_MIN_BYTES up are marked
 *    MADV_FREE while cached, so that the kernel may take their pages under
 *    memory pressure; otherwise they are reused as they are.
 *  - a fresh block never makes live plus cached bytes pass the memory
 *    limit: the oldest cached blocks are freed first.
 * Cached blocks are not counted as allocated (mgv_bytes_allocated). The
 * cache is off under AddressSanitizer, which should see every free.
 */
#define HUGE_MIN_BYTES ((size_t)4 << 20)
#define CACHE_MIN_BYTES ((size_t)64 << 10)
#define CACHE_BUCKETS 256   /* hash buckets by size */

#if defined(__SANITIZE_ADDRESS__)
#define USE_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define USE_CACHE 0
#endif
#endif
#ifndef USE_CACHE
#define USE_CACHE 1
#endif

/* A cached block: on the age list (all blocks, oldest first) and on its
 * size bucket's list (most recent first). */
typedef struct cached_block {
    void *p;
    size_t bytes;
    struct cached_block *older, *newer;   /* age list */
    struct cached_block *prev, *next;     /* bucket list */
} cached_block;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static cached_block *oldest, *newest;
static cached_block *bucket[CACHE_BUCKETS];
static size_t cache_bytes = 0;

static _Atomic int64_t bytes_allocated = 0;

static size_t cache_cap(void) { return (size_t)(mgv_memory_limit() / 4); }

static cached_block **bucket_of(size_t bytes) { return &bucket[(bytes >> 6) % CACHE_BUCKETS]; }

/* Takes b off both lists (cache_mu held). */
static void cache_unlink(cached_block *b)
{
    if (b->older) b->older->newer = b->newer; else oldest = b->newer;
    if (b->newer) b->newer->older = b->older; else newest = b->older;
    if (b->prev) b->prev->next = b->next; else *bucket_of(b->bytes) = b->next;
    if (b->next) b->next->prev = b->prev;
    cache_bytes -= b->bytes;
}

/* Frees the oldest cached blocks until at most keep bytes stay cached. */
static void cache_trim(size_t keep)
{
    while (1) {
        pthread_mutex_lock(&cache_mu);
        cached_block *b = cache_bytes > keep ? oldest : NULL;
        if (b) cache_unlink(b);
        pthread_mutex_unlock(&cache_mu);
        if (!b) return;
        free(b->p);
        free(b);
    }
}

static void *cache_take(size_t bytes)
{
    void *p = NULL;
    cached_block *b = NULL;
    if (!USE_CACHE || bytes < CACHE_MIN_BYTES) return NULL;
    pthread_mutex_lock(&cache_mu);
    for (b = *bucket_of(bytes); b && b->bytes != bytes; b = b->next) {
    }
    if (b) {
        cache_unlink(b);
        p = b->p;
    }
    pthread_mutex_unlock(&cache_mu);
    free(b);
    return p;
}

/* Keeps p for reuse, or frees it (and whatever it pushes out). */
static void cache_put(void *p, size_t bytes)
{
    cached_block *b = USE_CACHE && bytes >= CACHE_MIN_BYTES ? malloc(sizeof *b) : NULL;
    size_t cap = b ? cache_cap() : 0;
    if (!b || bytes > cap) {
        free(b);
        free(p);
        return;
    }
#ifdef MADV_FREE
    if (bytes >= HUGE_MIN_BYTES)   /* 2 MiB aligned, so whole pages */
        madvise(p, (bytes + 4095) & ~(size_t)4095, MADV_FREE);
#endif
    cache_trim(cap - bytes);
    b->p = p;
    b->bytes = bytes;
    pthread_mutex_lock(&cache_mu);
    cached_block **head = bucket_of(bytes);
    b->older = newest;
    b->newer = NULL;
    if (newest) newest->newer = b; else oldest = b;
    newest = b;
    b->prev = NULL;
    b->next = *head;
    if (*head) (*head)->prev = b;
    *head = b;
    cache_bytes += bytes;
    pthread_mutex_unlock(&cache_mu);
}

int64_t mgv_bytes_cached(void)
{
    if (!USE_CACHE) return -1;
    pthread_mutex_lock(&cache_mu);
    size_t n = cache_bytes;
    pthread_mutex_unlock(&cache_mu);
    return (int64_t)n;
}

static void *block_alloc(size_t bytes)
{
    void *p = cache_take(bytes);
    if (p) return p;
    if (USE_CACHE) {   /* live + cached + this block within the limit */
        int64_t room = mgv_memory_limit() - atomic_load(&bytes_allocated);
        cache_trim(room > 0 ? (size_t)room : 0);
    }
    if (bytes < HUGE_MIN_BYTES) return aligned_alloc(64, bytes);   /* SIMD- and BLAS-friendly */
    if (posix_memalign(&p, (size_t)2 << 20, bytes) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);   /* advice only: failure is harmless */
#endif
    return p;
}

/*
 * Memory budget. bytes_allocated counts live storage (rounded block sizes;
 * cached blocks are not counted). An allocation reserves its bytes with one
 * atomic add and gives them back when the total would pass the limit, so
 * threads allocating at once can never overshoot it together. The limit is
 * 0.9 of the smallest of physical RAM, RLIMIT_AS and the cgroup's memory.max
 * (computed once; mgv_set_memory_limit overrides it): under Linux overcommit
 * a malloc far beyond RAM succeeds and the process is killed later when the
 * pages are touched, so the engine must refuse such tensors itself.
 */
static _Atomic int64_t memory_limit = -1;   /* -1: not computed yet */
static int64_t alloc_limit = (int64_t)16 << 30;

int64_t mgv_bytes_allocated(void) { return atomic_load(&bytes_allocated); }
void mgv_set_alloc_limit(int64_t bytes) { alloc_limit = bytes; }

/* cgroup v2 memory.max of this process's group ("max" or absent: -1) */
static int64_t cgroup_memory_max(void)
{
    char path[512] = "/sys/fs/cgroup/memory.max", line[512];
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "0::", 3) != 0) continue;
            line[strcspn(line, "\n")] = '\0';
            if (strcmp(line + 3, "/") != 0)
                snprintf(path, sizeof path, "/sys/fs/cgroup%.400s/memory.max", line + 3);
            break;
        }
        fclose(f);
    }
    long long v = -1;
    f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%lld", &v) != 1) v = -1;   /* "max" */
        fclose(f);
    }
    return v > 0 ? (int64_t)v : -1;
}

int64_t mgv_default_memory_limit(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    int64_t m = pages > 0 && page > 0 ? (int64_t)pages * page : (int64_t)8 << 30;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (uint64_t)rl.rlim_cur < (uint64_t)m)
        m = (int64_t)rl.rlim_cur;
    int64_t cg = cgroup_memory_max();
    if (cg > 0 && cg < m) m = cg;
    return (int64_t)((double)m * 0.9);
}

int64_t mgv_memory_limit(void)
{
    int64_t lim = atomic_load_explicit(&memory_limit, memory_order_relaxed);
    if (lim >= 0) return lim;
    lim = mgv_default_memory_limit();
    int64_t unset = -1;   /* another thread may have set it meanwhile: keep theirs */
    if (!atomic_compare_exchange_strong(&memory_limit, &unset, lim)) lim = atomic_load(&memory_limit);
    return lim;
}

int64_t mgv_set_memory_limit(int64_t bytes)
{
    int64_t old = mgv_memory_limit();
    atomic_store(&memory_limit, bytes < 0 ? mgv_default_memory_limit() : bytes);
    return old;
}

/* "4.0 TB", "21.6 GB", "512 B": decimal units, as people say them */
static const char *human_bytes(double b, char *buf, size_t n)
{
    static const char *const unit[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    int u = 0;
    while (b >= 1000 && u < 6) {
        b /= 1000;
        u++;
    }
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
    return buf;
}

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

/* Storage for size elements of a tensor of this shape (named in messages). */
static mgv_storage *storage_new(int64_t size, int ndim, const int64_t *shape)
{
    char sh[160], need[32], lim_s[32], used_s[32];
    if (size < 0) return mgv_fail_null("tensor: negative size %lld", (long long)size);
    size_t bytes = ((size_t)(size ? size : 1) * sizeof(float) + 63) & ~(size_t)63;
    /* reserve first: the check and the count are one compare-and-swap, so
     * the count never passes the limit, whatever other threads do */
    int64_t limit = mgv_memory_limit();
    int64_t before = atomic_load_explicit(&bytes_allocated, memory_order_relaxed);
    while (before + (int64_t)bytes <= limit &&
           !atomic_compare_exchange_weak(&bytes_allocated, &before, before + (int64_t)bytes)) {
    }
    if (before + (int64_t)bytes > limit) {
        mgv_shape_str_n(ndim, shape, sh, sizeof sh);
        human_bytes((double)size * sizeof(float), need, sizeof need);
        human_bytes((double)limit, lim_s, sizeof lim_s);
        if (before > 0 && (int64_t)bytes <= limit)
            return mgv_fail_null("tensor: cannot allocate %s (%s): the memory limit is %s and "
                                 "tensors already hold %s (mgv.set_memory_limit)", sh, need,
                                 lim_s, human_bytes((double)before, used_s, sizeof used_s));
        return mgv_fail_null("tensor: cannot allocate %s (%s): the memory limit is %s "
                             "(mgv.set_memory_limit)", sh, need, lim_s);
    }
    if (size > alloc_limit / (int64_t)sizeof(float)) {
        atomic_fetch_sub(&bytes_allocated, (int64_t)bytes);
        return mgv_fail_null("tensor: cannot allocate %s (%s): larger than the limit for one "
                             "tensor, %s", mgv_shape_str_n(ndim, shape, sh, sizeof sh),
                             human_bytes((double)size * sizeof(float), need, sizeof need),
                             human_bytes((double)alloc_limit, lim_s, sizeof lim_s));
    }
    mgv_storage *s = malloc(sizeof *s);
    if (s) s->data = block_alloc(bytes);
    if (!s || !s->data) {
        free(s);
        atomic_fetch_sub(&bytes_allocated, (int64_t)bytes);
        return mgv_fail_null("tensor: out of memory allocating %s (%s)",
                             mgv_shape_str_n(ndim, shape, sh, sizeof sh),
                             human_bytes((double)size * sizeof(float), need, sizeof need));
    }
    s->size = size;
    s->refcount = 1;
    return s;
}

static void storage_release(mgv_storage *s)
{
    if (!s || --s->refcount > 0) return;
    size_t bytes = ((size_t)(s->size ? s->size : 1) * sizeof(float) + 63) & ~(size_t)63;
    atomic_fetch_sub(&bytes_allocated, (int64_t)bytes);
    cache_put(s->data, bytes);
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
    /* the element count (also of views, e.g. a huge expand) must fit well
     * inside int64 so that numel, strides, byte counts and index arithmetic
     * cannot overflow anywhere; zeros are skipped so that no partial product
     * (a contiguous stride) can overflow either */
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && count > MGV_MAX_NUMEL / shape[i]) {
            char sh[160];
            return mgv_fail_null("tensor: shape %s has too many elements (at most 2^60)",
                                 mgv_shape_str_n(ndim, shape, sh, sizeof sh));
        }
        if (shape[i]) count *= shape[i];
    }
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
    mgv_tensor *t = header_new(ndim, shape);   /* checks the count for overflow */
    if (!t) return NULL;
    t->storage = storage_new(mgv_shape_numel(ndim, shape), ndim, shape);
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
    if (n == 0) return;
    /* row by row along the last axis (memcpy when its stride is 1, as in
     * column slices and strided views), with an odometer walk over the rows:
     * one add per row, no divisions */
    int last = t->ndim - 1;
    int64_t len = t->shape[last], st = t->stride[last], rows = n / len;
    int64_t idx[MGV_MAX_DIMS] = {0};
    int64_t off = t->offset;
    const float *src = t->storage->data;
    for (int64_t r = 0; r < rows; r++, dst += len) {
        if (st == 1) {
            memcpy(dst, src + off, (size_t)len * sizeof(float));
        } else {
            for (int64_t j = 0; j < len; j++) dst[j] = src[off + j * st];
        }
        int d = last - 1;
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
