/*
 * test_memory_limit.c — the engine's memory budget (tensor.h): allocations
 * that cannot be satisfied are messages, never an OOM kill; the live-storage
 * count is exact and thread-safe; element counts cannot overflow.
 */
#include <pthread.h>
#include <stdint.h>

#include "check.h"
#include "mgv.h"

#define MB ((int64_t)1 << 20)

/* the default comes from the machine: positive, at most 0.9 x RAM */
static void test_default_limit(void)
{
    int64_t lim = mgv_memory_limit();
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    CHECK(lim > 0);
    CHECK(lim == mgv_default_memory_limit());
    CHECK((double)lim <= 0.9 * (double)pages * (double)page + 1);
}

/* 4 TB, 400 GB and 60 GB: far above RAM, refused before any allocation,
 * with a message naming the shape, the size and the limit */
static void test_above_ram(void)
{
    int64_t before = mgv_bytes_allocated();
    int64_t a[2] = {1000000, 1000000};
    CHECK(mgv_zeros(2, a) == NULL);
    CHECK_ERROR_HAS("tensor: cannot allocate [1000000x1000000] (4.0 TB): the memory limit is ");
    CHECK_ERROR_HAS("(mgv.set_memory_limit)");
    int64_t b[3] = {100000, 100000, 10};
    CHECK(mgv_ones(3, b) == NULL);
    CHECK_ERROR_HAS("[100000x100000x10] (400.0 GB)");
    int64_t c[1] = {15000000000LL};   /* 60 GB: below any overflow, above RAM */
    CHECK(mgv_empty(1, c) == NULL);
    CHECK_ERROR_HAS("[15000000000] (60.0 GB)");
    CHECK(mgv_bytes_allocated() == before);   /* failed reservations are given back */
}

/* products of sizes that overflow int64, for tensors and for views */
static void test_overflow(void)
{
    int64_t a[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    CHECK(mgv_zeros(2, a) == NULL);
    CHECK_ERROR_HAS("too many elements");
    int64_t b[4] = {(int64_t)1 << 20, (int64_t)1 << 20, (int64_t)1 << 20, (int64_t)1 << 20};
    CHECK(mgv_zeros(4, b) == NULL);
    CHECK_ERROR_HAS("too many elements");
    int64_t c[2] = {INT64_MAX, 2};
    CHECK(mgv_zeros(2, c) == NULL);
    CHECK_ERROR_HAS("too many elements");
    /* a zero does not excuse the other sizes (their product is a stride) */
    int64_t d[3] = {INT64_MAX, 0, INT64_MAX};
    CHECK(mgv_zeros(3, d) == NULL);
    CHECK_ERROR_HAS("too many elements");
    int64_t d2[3] = {(int64_t)1 << 40, 0, (int64_t)1 << 20};
    mgv_tensor *z = mgv_zeros(3, d2);
    CHECK(z && mgv_numel(z) == 0);
    /* a broadcast view (stride 0) may not pretend to hold 2^80 elements */
    int64_t one[2] = {1, 1};
    mgv_tensor *s = mgv_zeros(2, one);
    int64_t st[2] = {0, 0};
    CHECK(s && mgv_view_of(s, 2, a, st, 0) == NULL);
    CHECK_ERROR_HAS("too many elements");
    mgv_tensor *e = s ? mgv_expand(s, 2, a) : NULL;
    CHECK(e == NULL);
    mgv_release(s);
    mgv_release(z);
}

/* a small limit: what fits is allocated, what does not is refused with the
 * bytes in use named; freeing makes room again */
static void test_small_limit(void)
{
    int64_t base = mgv_bytes_allocated();
    int64_t old = mgv_set_memory_limit(base + 10 * MB);
    CHECK(old == mgv_default_memory_limit());
    CHECK(mgv_memory_limit() == base + 10 * MB);
    int64_t four[1] = {MB};   /* 4 MiB */
    mgv_tensor *a = mgv_zeros(1, four), *b = mgv_zeros(1, four);
    CHECK(a && b);
    CHECK(mgv_bytes_allocated() - base == 8 * MB);
    mgv_tensor *c = mgv_zeros(1, four);
    CHECK(c == NULL);
    CHECK_ERROR_HAS("cannot allocate [1048576] (4.2 MB): the memory limit is 10.5 MB and "
                    "tensors already hold");
    /* ops fail the same way (the result is one more tensor) */
    CHECK(mgv_add(a, b) == NULL);
    CHECK_ERROR_HAS("cannot allocate");
    CHECK(mgv_bytes_allocated() - base == 8 * MB);
    mgv_release(a);
    c = mgv_add(b, b);
    CHECK(c != NULL);
    mgv_release(b);
    mgv_release(c);
    CHECK(mgv_bytes_allocated() == base);
    /* negative: back to the default */
    mgv_set_memory_limit(-1);
    CHECK(mgv_memory_limit() == mgv_default_memory_limit());
}

/* 4 threads allocate and free against a limit that fits only some of their
 * tensors: the count never passes the limit and ends where it began */
typedef struct {
    int ok, refused;
    int64_t peak;
} worker_result;

static int64_t thread_limit;

static void *worker(void *arg)
{
    worker_result *r = arg;
    int64_t shape[1] = {64 * 1024};   /* 256 KiB */
    mgv_tensor *held[24] = {0};   /* 6 MiB: more than the limit alone */
    for (int i = 0; i < 4000; i++) {
        int k = i % 24;
        mgv_release(held[k]);
        held[k] = mgv_empty(1, shape);
        if (held[k]) r->ok++;
        else r->refused++;
        int64_t now = mgv_bytes_allocated();
        if (now > r->peak) r->peak = now;
    }
    for (int k = 0; k < 24; k++) mgv_release(held[k]);
    return NULL;
}

static void test_threads(void)
{
    int64_t base = mgv_bytes_allocated();
    thread_limit = base + 5 * MB;   /* 20 blocks of the 96 the threads want */
    mgv_set_memory_limit(thread_limit);
    pthread_t th[4];
    worker_result r[4] = {{0}};
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, worker, &r[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    int ok = 0, refused = 0;
    for (int i = 0; i < 4; i++) {
        ok += r[i].ok;
        refused += r[i].refused;
        CHECK(r[i].peak <= thread_limit);
    }
    CHECK(ok > 0 && refused > 0);
    CHECK(ok + refused == 16000);
    CHECK(mgv_bytes_allocated() == base);
    mgv_set_memory_limit(-1);
}

int main(void)
{
    RUN(test_default_limit);
    RUN(test_above_ram);
    RUN(test_overflow);
    RUN(test_small_limit);
    RUN(test_threads);
    return CHECK_DONE();
}
