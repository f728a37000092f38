/*
 * testutil.h — helpers the engine tests share: literal shapes and data,
 * value / shape comparisons that print what differs, and where the tests
 * find the repository and the real data sets.
 */
#ifndef MGV_TESTUTIL_H
#define MGV_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mgv.h"
#include "data/mnre.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define DATA(...) ((const float[]){__VA_ARGS__})

/* Every element of t equals expect[i] within tol (flat row-major order). */
static inline int values_near(const mgv_tensor *t, const float *expect, int64_t n, double tol)
{
    if (mgv_numel(t) != n) {
        printf("  numel %lld, expected %lld\n", (long long)mgv_numel(t), (long long)n);
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = mgv_get_flat(t, i);
        if (!(fabs(v - expect[i]) <= tol)) {
            printf("  element %lld = %.9g, expected %.9g\n", (long long)i, v, expect[i]);
            return 0;
        }
    }
    return 1;
}

/* t is not NULL and has exactly this shape. */
static inline int shape_is(const mgv_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || t->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return 0;
    return 1;
}

/* 0, 1, 2, ... in the given shape */
static inline mgv_tensor *iota(int ndim, const int64_t *shape)
{
    mgv_tensor *t = mgv_empty(ndim, shape);
    for (int64_t i = 0; i < mgv_numel(t); i++) mgv_set_flat(t, i, (float)i);
    return t;
}

/* The repository root: $MGV_ROOT (tests/run.sh sets it), else ".". */
static inline const char *test_root(void)
{
    const char *r = getenv("MGV_ROOT");
    return r && *r ? r : ".";
}

/*
 * The folder holding the real MNRE text (train.txt, val.txt, test.txt):
 * $MGV_MNRE_DIR, else the shared copy beside the repository, else what
 * scripts/get-data.sh fetched ($MGV_DATA/mnre or data/mnre). NULL when none
 * has it; buf then names the first place looked at (for a NOTE line).
 */
static inline const char *test_mnre_dir(char *buf, size_t n)
{
    const char *env = getenv("MGV_MNRE_DIR"), *data = getenv("MGV_DATA");
    char cand[3][1024];
    int nc = 0;
    if (env && *env) snprintf(cand[nc++], sizeof cand[0], "%s", env);
    else {
        snprintf(cand[nc++], sizeof cand[0], "%s/../shared/data/mnre", test_root());
        if (data && *data) snprintf(cand[nc++], sizeof cand[0], "%s/mnre", data);
        else snprintf(cand[nc++], sizeof cand[0], "%s/data/mnre", test_root());
    }
    static const char *const parts[3] = {"train", "val", "test"};
    for (int i = 0; i < nc; i++) {
        int found = 0;
        for (int k = 0; k < 3; k++) {
            char probe[1100];
            snprintf(probe, sizeof probe, "%s/%s.txt", cand[i], parts[k]);
            FILE *f = fopen(probe, "rb");
            if (f) fclose(f);
            found += f != NULL;
        }
        if (found == 3) {
            snprintf(buf, n, "%s", cand[i]);
            return buf;
        }
    }
    snprintf(buf, n, "%s", cand[0]);
    return NULL;
}

/* The three parts of the MNRE text in dir, loaded together (or NULL). */
static inline mgv_mnre *test_mnre_load(const char *dir)
{
    static const char *const parts[3] = {"train", "val", "test"};
    char p[3][1100];
    const char *paths[3];
    for (int i = 0; i < 3; i++) {
        snprintf(p[i], sizeof p[i], "%s/%s.txt", dir, parts[i]);
        paths[i] = p[i];
    }
    return mgv_mnre_load_parts(paths, 3);
}

#endif
