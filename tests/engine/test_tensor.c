/* test_tensor.c — construction, geometry, reference counting, rng. */
#include "check.h"
#include "mgv.h"

static void test_construct(void)
{
    int64_t shape[3] = {2, 3, 4};
    mgv_tensor *t = mgv_zeros(3, shape);
    CHECK(t != NULL);
    CHECK(mgv_numel(t) == 24);
    CHECK(mgv_is_contiguous(t));
    CHECK(t->stride[0] == 12 && t->stride[1] == 4 && t->stride[2] == 1);
    char s[64];
    CHECK(strcmp(mgv_shape_str(t, s, sizeof s), "[2x3x4]") == 0);
    mgv_set_flat(t, 5, 2.5f);
    CHECK(mgv_get_flat(t, 5) == 2.5f);
    mgv_tensor *sc = mgv_scalar(3.0f);
    CHECK(sc->ndim == 0 && mgv_numel(sc) == 1 && mgv_get_flat(sc, 0) == 3.0f);
    CHECK(strcmp(mgv_shape_str(sc, s, sizeof s), "[]") == 0);
    mgv_release(sc);
    mgv_release(t);
}

static void test_bad_sizes(void)
{
    int64_t neg[2] = {2, -1};
    CHECK(mgv_zeros(2, neg) == NULL);
    CHECK_ERROR_HAS("negative size");
    int64_t huge[2] = {1 << 20, 1 << 20};
    CHECK(mgv_zeros(2, huge) == NULL);
    CHECK_ERROR_HAS("cannot allocate");
    int64_t many[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(mgv_zeros(9, many) == NULL);
    CHECK_ERROR_HAS("dimensions");
}

static void test_views_share_storage(void)
{
    int64_t shape[2] = {2, 3};
    float d[6] = {1, 2, 3, 4, 5, 6};
    mgv_tensor *t = mgv_from_data(2, shape, d);
    int64_t tshape[2] = {3, 2}, tstride[2] = {1, 3};
    mgv_tensor *v = mgv_view_of(t, 2, tshape, tstride, 0);   /* transpose */
    CHECK(!mgv_is_contiguous(v));
    CHECK(mgv_get_flat(v, 1) == 4.0f);   /* v[0][1] = t[1][0] */
    float buf[6];
    mgv_copy_to_buffer(v, buf);
    CHECK(buf[0] == 1 && buf[1] == 4 && buf[2] == 2 && buf[3] == 5 && buf[4] == 3 && buf[5] == 6);
    mgv_set_flat(v, 1, 40.0f);
    CHECK(mgv_get_flat(t, 3) == 40.0f);
    CHECK(t->storage->refcount == 2);
    mgv_release(t);
    CHECK(v->storage->refcount == 1);
    mgv_release(v);
}

static void test_alloc_accounting(void)
{
    int64_t before = mgv_bytes_allocated();
    int64_t shape[1] = {1000};
    mgv_tensor *t = mgv_zeros(1, shape);
    CHECK(mgv_bytes_allocated() - before >= 4000);
    mgv_release(t);
    CHECK(mgv_bytes_allocated() == before);
}

/* Freed blocks are reused by size, within a quarter of the memory limit,
 * and a fresh block trims them to what the limit leaves. */
static void test_block_cache(void)
{
    const int64_t MiB = 1 << 20;
    int64_t one[1] = {MiB / 4}, two[1] = {MiB / 2}, half[1] = {MiB / 8};
    mgv_tensor *a = mgv_empty(1, one);
    float *pa = mgv_data(a);
    int64_t before = mgv_bytes_cached();
    mgv_release(a);
    if (before < 0) {
        printf("NOTE: no block cache in this build (AddressSanitizer)\n");
        CHECK(mgv_bytes_cached() == -1);
        return;
    }
    CHECK(mgv_bytes_cached() == before + MiB);
    a = mgv_empty(1, one);
    CHECK(mgv_data(a) == pa);   /* the same block again */
    CHECK(mgv_bytes_cached() == before);
    int64_t old = mgv_set_memory_limit(2 * MiB);   /* cache cap: 0.5 MiB */
    mgv_release(a);
    CHECK(mgv_bytes_cached() == before);   /* too big for the cap: freed */
    mgv_set_memory_limit(old);
    a = mgv_empty(1, one);
    mgv_tensor *b = mgv_empty(1, two);
    mgv_release(a);
    mgv_release(b);
    CHECK(mgv_bytes_cached() >= 3 * MiB);
    mgv_set_memory_limit(mgv_bytes_allocated() + 3 * MiB / 2);
    mgv_tensor *c = mgv_empty(1, half);   /* a miss: 1 MiB of room beside it */
    CHECK(c != NULL);
    CHECK(mgv_bytes_cached() == 0);   /* oldest first, to at most 1 MiB: both blocks went */
    mgv_release(c);
    mgv_set_memory_limit(old);
}

static void test_rng_deterministic(void)
{
    mgv_rng a, b;
    mgv_rng_seed(&a, 42);
    mgv_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) CHECK(mgv_rng_next(&a) == mgv_rng_next(&b));
    /* moments of 100k normals */
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        double x = mgv_rng_normal(&a);
        s += x;
        s2 += x * x;
    }
    CHECK_NEAR(s / 100000, 0.0, 0.02);
    CHECK_NEAR(s2 / 100000, 1.0, 0.02);
    double u = 0;
    for (int i = 0; i < 100000; i++) u += mgv_rng_uniform(&a);
    CHECK_NEAR(u / 100000, 0.5, 0.01);
    for (int i = 0; i < 1000; i++) CHECK(mgv_rng_below(&a, 7) < 7);
}

int main(void)
{
    RUN(test_construct);
    RUN(test_bad_sizes);
    RUN(test_views_share_storage);
    RUN(test_alloc_accounting);
    RUN(test_block_cache);
    RUN(test_rng_deterministic);
    return CHECK_DONE();
}
