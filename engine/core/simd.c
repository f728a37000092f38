/*
 * simd.c — the path of the row loops (see simd.h): the CPU's instruction
 * sets, $MGV_SIMD, and the test-only switch.
 */
#include "core/simd.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const char *const names[MGV_SIMD_NPATHS] = {"generic", "avx2", "avx512"};
static const char *const cores[MGV_SIMD_NPATHS] = {"Prescott", "Haswell", "SkylakeX"};
static const char *const long_names[MGV_SIMD_NPATHS] = {"generic", "AVX2", "AVX-512"};

static _Atomic int path = -1;   /* -1: $MGV_SIMD not read yet */
static char init_error[160];    /* the message of a refused $MGV_SIMD */

int mgv_simd_supported(int p)
{
    if (p == MGV_SIMD_GENERIC) return 1;
#ifdef MGV_SIMD_X86
    __builtin_cpu_init();
    /* what the versions in simd.h are compiled for */
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (p == MGV_SIMD_AVX2) return avx2;
    if (p == MGV_SIMD_AVX512)
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#endif
    return 0;
}

const char *mgv_simd_name(int p) { return p >= 0 && p < MGV_SIMD_NPATHS ? names[p] : NULL; }

const char *mgv_simd_blas_core(int p) { return p >= 0 && p < MGV_SIMD_NPATHS ? cores[p] : NULL; }

static int best(void)
{
    int p = MGV_SIMD_NPATHS - 1;
    while (!mgv_simd_supported(p)) p--;
    return p;
}

int mgv_simd_parse(const char *v, char *err, size_t n)
{
    if (!v || !*v || strcmp(v, "auto") == 0) return best();
    char have[64] = "";
    for (int p = MGV_SIMD_NPATHS - 1; p >= 0; p--)
        if (mgv_simd_supported(p))
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", *have ? ", " : "",
                     names[p]);
    for (int p = 0; p < MGV_SIMD_NPATHS; p++)
        if (strcmp(v, names[p]) == 0) {
            if (mgv_simd_supported(p)) return p;
            snprintf(err, n, "MGV_SIMD=%s: this CPU has no %s (it has: %s)", v, long_names[p], have);
            return -1;
        }
    snprintf(err, n, "MGV_SIMD=%.40s: unknown path (this CPU has: %s, or auto)", v, have);
    return -1;
}

/* once: racing first uses (the pool's threads) wait for the one reading */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void resolve(void)
{
    int p = mgv_simd_parse(getenv("MGV_SIMD"), init_error, sizeof init_error);
    atomic_store(&path, p < 0 ? best() : p);
}

int mgv_simd_init(void)
{
    pthread_once(&once, resolve);
    return init_error[0] ? mgv_fail("%s", init_error) : 0;
}

int mgv_simd_path(void)
{
    int p = atomic_load_explicit(&path, memory_order_relaxed);
    if (p >= 0) return p;
    pthread_once(&once, resolve);
    return atomic_load(&path);
}

int mgv_simd_set_path(int p)
{
    int prev = mgv_simd_path();   /* after the first reading, which would undo this */
    if (p < 0 || p >= MGV_SIMD_NPATHS || !mgv_simd_supported(p))
        return mgv_fail("simd: this CPU cannot run path %d (%s)", p,
                        mgv_simd_name(p) ? mgv_simd_name(p) : "unknown");
    atomic_store(&path, p);
    return prev;
}
