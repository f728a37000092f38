/*
 * test_simd.c — the SIMD path (simd.h): $MGV_SIMD and OpenBLAS's core took
 * effect (tests/run.sh names both in every engine test's header line, and
 * this test makes that line true), what $MGV_SIMD accepts and refuses, and
 * the test-only switch.
 */
#include <cblas.h>
#include <stdlib.h>
#include <strings.h>

#include "check.h"
#include "core/simd.h"

/* the path and the OpenBLAS core the environment asks for are the ones in use */
static void test_path_in_use(void)
{
    const char *want = getenv("MGV_SIMD"), *core = getenv("OPENBLAS_CORETYPE");
    CHECK(mgv_simd_init() == 0);
    int p = mgv_simd_path();
    CHECK(p >= 0 && p < MGV_SIMD_NPATHS && mgv_simd_supported(p));
    if (want && *want) {
        if (strcmp(want, mgv_simd_name(p)) != 0) printf("  MGV_SIMD=%s, path %s\n", want, mgv_simd_name(p));
        CHECK(strcmp(want, mgv_simd_name(p)) == 0);
    } else {
        CHECK(p == mgv_simd_parse(NULL, NULL, 0));   /* the best */
    }
    if (core && *core) {
        if (strcasecmp(core, openblas_get_corename()) != 0)
            printf("  OPENBLAS_CORETYPE=%s, core %s\n", core, openblas_get_corename());
        CHECK(strcasecmp(core, openblas_get_corename()) == 0);
    }
}

static void test_parse(void)
{
    char err[160] = "";
    int best = mgv_simd_parse("auto", err, sizeof err);
    CHECK(mgv_simd_supported(best) && mgv_simd_parse("", err, sizeof err) == best);
    for (int p = best + 1; p < MGV_SIMD_NPATHS; p++) CHECK(!mgv_simd_supported(p));
    CHECK(mgv_simd_supported(MGV_SIMD_GENERIC));
    for (int p = 0; p < MGV_SIMD_NPATHS; p++) {
        err[0] = 0;
        int got = mgv_simd_parse(mgv_simd_name(p), err, sizeof err);
        if (mgv_simd_supported(p)) {
            CHECK(got == p && err[0] == 0);
        } else {   /* e.g. "MGV_SIMD=avx512: this CPU has no AVX-512 (it has: avx2, generic)" */
            char want[64];
            snprintf(want, sizeof want, "MGV_SIMD=%s: this CPU has no ", mgv_simd_name(p));
            CHECK(got == -1 && strstr(err, want) == err && strstr(err, "(it has: ") &&
                  strstr(err, "generic)"));
        }
    }
    CHECK(mgv_simd_parse("sse9", err, sizeof err) == -1);
    CHECK(strstr(err, "MGV_SIMD=sse9: unknown path (this CPU has: ") == err);
    CHECK(strcmp(mgv_simd_name(MGV_SIMD_AVX2), "avx2") == 0 && !mgv_simd_name(-1));
    CHECK(strcmp(mgv_simd_blas_core(MGV_SIMD_AVX512), "SkylakeX") == 0);
}

/* the test-only switch changes the path and refuses what the CPU lacks */
static void test_set_path(void)
{
    int prev = mgv_simd_path();
    CHECK(mgv_simd_set_path(MGV_SIMD_GENERIC) == prev && mgv_simd_path() == MGV_SIMD_GENERIC);
    for (int p = 0; p < MGV_SIMD_NPATHS; p++)
        if (!mgv_simd_supported(p)) {
            CHECK(mgv_simd_set_path(p) == -1 && mgv_simd_path() == MGV_SIMD_GENERIC);
            CHECK_ERROR_HAS("simd: this CPU cannot run path");
        }
    CHECK(mgv_simd_set_path(-1) == -1);
    CHECK(mgv_simd_set_path(prev) == MGV_SIMD_GENERIC && mgv_simd_path() == prev);
}

int main(void)
{
    RUN(test_path_in_use);
    RUN(test_parse);
    RUN(test_set_path);
    return CHECK_DONE();
}
