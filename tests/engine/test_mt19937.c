/*
 * test_mt19937.c — MT19937 against NumPy's legacy RandomState.
 *
 * The expected numbers were produced once with NumPy 1.24.2:
 *
 *   import numpy as np
 *   for s in (0, 12345):
 *       np.random.RandomState(s).randint(0, 2**32, size=5, dtype=np.uint32)
 *   np.random.RandomState(0).randint(0, 2**32, size=2000, dtype=np.uint32)[-1]
 *   np.random.RandomState(4294967295).randint(0, 2**32, size=3, dtype=np.uint32)
 *   np.random.RandomState(3).randint(0, 1000 + 1, size=6, dtype=np.int64)
 *   np.random.RandomState(3).randint(0, 2**40 + 1, size=4, dtype=np.int64)
 *   for s in range(5):
 *       l = list(range(22)); np.random.RandomState(s).shuffle(l)
 *   l = list(range(1000)); np.random.RandomState(0).shuffle(l)
 *   sum(i * x for i, x in enumerate(l)), l[:5]      # and the same with seed 7
 *
 * (randint over the full uint32 range returns raw draws; the bounded int64
 * draws go through the same masked rejection as random_interval.)
 */
#include "check.h"
#include "core/mt19937.h"

static void test_raw_outputs(void)
{
    static const uint32_t s0[5] = {2357136044U, 2546248239U, 3071714933U, 3626093760U,
                                   2588848963U};
    static const uint32_t s12345[5] = {3992670690U, 3823185381U, 1358822685U, 561383553U,
                                       789925284U};
    static const uint32_t smax[3] = {419326371U, 479346978U, 3918654476U};
    mgv_mt19937 mt;
    mgv_mt_seed(&mt, 0);
    for (int i = 0; i < 5; i++) CHECK(mgv_mt_next32(&mt) == s0[i]);
    mgv_mt_seed(&mt, 12345);
    for (int i = 0; i < 5; i++) CHECK(mgv_mt_next32(&mt) == s12345[i]);
    mgv_mt_seed(&mt, 4294967295U);
    for (int i = 0; i < 3; i++) CHECK(mgv_mt_next32(&mt) == smax[i]);
    /* past the first 624-word block: the twist runs again */
    mgv_mt_seed(&mt, 0);
    uint32_t last = 0;
    for (int i = 0; i < 2000; i++) last = mgv_mt_next32(&mt);
    CHECK(last == 3856691381U);
}

static void test_interval(void)
{
    static const uint64_t small[6] = {874, 664, 249, 643, 952, 968};
    static const uint64_t big[4] = {1073054410371ULL, 867663915883ULL, 593770158997ULL,
                                    511502908838ULL};
    mgv_mt19937 mt;
    mgv_mt_seed(&mt, 3);
    for (int i = 0; i < 6; i++) CHECK(mgv_mt_interval(&mt, 1000) == small[i]);
    mgv_mt_seed(&mt, 3);
    for (int i = 0; i < 4; i++) CHECK(mgv_mt_interval(&mt, (1ULL << 40)) == big[i]);
    /* max 0 draws nothing */
    mgv_mt_seed(&mt, 0);
    CHECK(mgv_mt_interval(&mt, 0) == 0);
    CHECK(mgv_mt_next32(&mt) == 2357136044U);
}

static void test_shuffle22(void)
{
    static const int want[5][22] = {
        {20, 10, 14, 13, 1, 21, 11, 19, 8, 6, 16, 4, 2, 5, 17, 9, 7, 18, 3, 0, 15, 12},
        {19, 16, 3, 13, 18, 15, 10, 4, 2, 17, 6, 7, 1, 14, 0, 21, 20, 9, 8, 12, 11, 5},
        {12, 0, 14, 6, 19, 20, 3, 10, 9, 4, 5, 16, 1, 2, 7, 18, 17, 11, 21, 13, 15, 8},
        {20, 13, 16, 1, 2, 14, 12, 19, 4, 18, 6, 7, 5, 17, 15, 9, 11, 21, 0, 8, 3, 10},
        {20, 19, 0, 3, 6, 11, 15, 2, 4, 17, 16, 21, 13, 7, 12, 10, 9, 18, 8, 1, 5, 14},
    };
    for (int s = 0; s < 5; s++) {
        int a[22];
        int64_t b[22];
        for (int i = 0; i < 22; i++) a[i] = i, b[i] = i;
        mgv_mt19937 mt;
        mgv_mt_seed(&mt, (uint32_t)s);
        mgv_mt_shuffle_int(&mt, a, 22);
        mgv_mt_seed(&mt, (uint32_t)s);
        mgv_mt_shuffle_i64(&mt, b, 22);
        for (int i = 0; i < 22; i++) CHECK(a[i] == want[s][i] && b[i] == want[s][i]);
    }
}

static void test_shuffle1000(void)
{
    static int a[1000];
    mgv_mt19937 mt;
    for (uint32_t seed = 0; seed <= 7; seed += 7) {
        for (int i = 0; i < 1000; i++) a[i] = i;
        mgv_mt_seed(&mt, seed);
        mgv_mt_shuffle_int(&mt, a, 1000);
        long long h = 0;
        for (int i = 0; i < 1000; i++) h += (long long)i * a[i];
        CHECK(h == (seed == 0 ? 247872640LL : 246202311LL));
        if (seed == 0) CHECK(a[0] == 993 && a[1] == 859 && a[2] == 298 && a[3] == 553 && a[4] == 672);
    }
    /* n = 0 and n = 1 draw nothing and change nothing */
    int one = 5;
    mgv_mt_seed(&mt, 0);
    mgv_mt_shuffle_int(&mt, &one, 1);
    mgv_mt_shuffle_int(&mt, NULL, 0);
    CHECK(one == 5 && mgv_mt_next32(&mt) == 2357136044U);
}

int main(void)
{
    RUN(test_raw_outputs);
    RUN(test_interval);
    RUN(test_shuffle22);
    RUN(test_shuffle1000);
    return CHECK_DONE();
}
