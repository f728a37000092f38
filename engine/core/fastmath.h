/*
 * fastmath.h — vectorisable float math shared by the hot row loops
 * (ops_vmoe.c, transformer.c's inference path).
 *
 * Include it after the file's `#pragma GCC optimize(...)` so the inline
 * functions are compiled with the same options as their callers (GCC does
 * not inline across mismatched optimisation attributes). The row loops are
 * built once per SIMD path from one body (simd.h).
 */
#ifndef MGV_FASTMATH_H
#define MGV_FASTMATH_H

#include <stdint.h>

typedef union {
    float f;
    int32_t i;
} fbits;

/* e^x to about 2e-7 relative; x clamped to [-87, 88] (below -87 the result
 * is ~1e-38, not 0: callers multiply masked entries by 0) */
static inline float mgv_fast_exp(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* n = round(x / ln 2): the argument of the conversion is positive, so
     * truncation is floor (no float rounding tricks: sums may be reassociated) */
    int32_t ni = (int32_t)(x * 1.44269504f + 128.5f) - 128;
    float n = (float)ni;
    float r = x - n * 0.693145752f - n * 1.42860677e-6f;       /* ln 2 in two parts */
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f +
              r * (0.00833333377f + r * 0.00138888892f)))));
    fbits s;
    s.i = (ni + 127) << 23;
    return p * s.f;
}

#endif
