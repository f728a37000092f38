/*
 * simd.h — which instruction set the hot row loops run on.
 *
 * Each hot loop is compiled once per path from one body (MGV_SIMD_FN
 * below) and called through the path chosen at start-up: the best the CPU
 * has, or the one $MGV_SIMD names ("avx512", "avx2" or "generic"; empty or
 * "auto" is the best). $MGV_SIMD is read once, on first use or by
 * mgv_simd_init(), which the binaries call first so that a path the CPU
 * lacks, or an unknown name, is a message and not a silent fallback.
 *
 * OpenBLAS picks its own kernels when it loads ($OPENBLAS_CORETYPE);
 * mgv_simd_blas_core names the core that matches each path, for the test
 * runner, which runs the engine tests once per path with both set.
 */
#ifndef MGV_SIMD_H
#define MGV_SIMD_H

#include <stddef.h>

enum { MGV_SIMD_GENERIC, MGV_SIMD_AVX2, MGV_SIMD_AVX512, MGV_SIMD_NPATHS };

/* Reads $MGV_SIMD (once; later calls return the first answer): 0, or -1
 * with a message ("MGV_SIMD=avx512: this CPU has no AVX-512 (it has: avx2,
 * generic)"). After -1 the best path is used. */
int mgv_simd_init(void);
/* The path in use (reads $MGV_SIMD on first use, as mgv_simd_init). */
int mgv_simd_path(void);
/* The path a value of $MGV_SIMD names (NULL, "" and "auto": the best), or
 * -1 with the message in err[n]. */
int mgv_simd_parse(const char *value, char *err, size_t n);
/* "avx512", "avx2", "generic" (NULL for a bad path). */
const char *mgv_simd_name(int path);
/* The OpenBLAS core type of the same instruction set ("SkylakeX", "Haswell",
 * "Prescott"), for $OPENBLAS_CORETYPE. */
const char *mgv_simd_blas_core(int path);
/* Whether this build and this CPU can run the path. */
int mgv_simd_supported(int path);
/* Test-only: switches the path in-process (no thread may be inside the
 * engine); returns the previous path, or -1 with a message if unsupported. */
int mgv_simd_set_path(int path);

/*
 * MGV_SIMD_FN(qual, name, params, args) defines name_avx512, name_avx2 and
 * name_generic, each the always-inline body name_body compiled for its
 * instruction set (the body and what it inlines take the caller's target),
 * and `qual void name params` calling the one of the current path. The
 * body is declared `static MGV_SIMD_BODY void name_body params`.
 *
 *     static MGV_SIMD_BODY void add_row_body(float *y, const float *x, int64_t n) { ... }
 *     MGV_SIMD_FN(static, add_row, (float *y, const float *x, int64_t n), (y, x, n))
 *
 * Other compilers and other machines get the plain body alone.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MGV_SIMD_X86 1
#define MGV_SIMD_BODY inline __attribute__((always_inline))
#define MGV_SIMD_FN(qual, name, params, args)                                        \
    __attribute__((target("avx512f,avx512vl,avx2,fma"))) static void name##_avx512 params \
    { name##_body args; }                                                            \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params              \
    { name##_body args; }                                                            \
    static void name##_generic params { name##_body args; }                          \
    qual void name params                                                            \
    {                                                                                \
        switch (mgv_simd_path()) {                                                   \
        case MGV_SIMD_AVX512: name##_avx512 args; break;                             \
        case MGV_SIMD_AVX2: name##_avx2 args; break;                                 \
        default: name##_generic args; break;                                         \
        }                                                                            \
    }
#else
#define MGV_SIMD_BODY inline
#define MGV_SIMD_FN(qual, name, params, args) qual void name params { name##_body args; }
#endif

#endif
