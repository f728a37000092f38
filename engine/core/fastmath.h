/*
 * fastmath.h — vectorisable float math shared by the hot row loops
 * (ops_vmoe.c, ops_elementwise.c, transformer.c's inference path).
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
 * is ~1e-38, not 0: see mgv_fast_exp_or0). NaN in, NaN out;
 * the computation runs on -87 meanwhile, since converting NaN to an integer
 * is undefined. */
static inline float mgv_fast_exp(float in)
{
    float x = in > -87.0f ? in : -87.0f;
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
    return in == in ? p * s.f : in;
}

/* e^a, and exactly 0 below -87 (-inf included), where mgv_fast_exp would
 * give ~1e-38: for sums whose masked or underflowing terms must vanish. */
static inline float mgv_fast_exp_or0(float a) { return a < -87.0f ? 0.0f : mgv_fast_exp(a); }

/* erfc(z) = t e^(p(t) - z^2), t = 1 / (1 + z/2), z >= 0: the Chebyshev fit
 * of Numerical Recipes (erfcc: relative error < 1.2e-7 everywhere); returns p. */
static inline float mgv_erfcc_poly(float t)
{
    return -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
           t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
           t * (-0.82215223f + t * 0.17087277f))))))));
}

/* x Phi(x) = x (2 - erfc(x / sqrt 2)) / 2, with erfc from the fit above,
 * so the negative tail keeps its relative precision. */
static inline float mgv_fast_gelu(float x)
{
    float z = (x < 0 ? -x : x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = mgv_erfcc_poly(t);
    float a = p - z * z;
    float c = t * mgv_fast_exp_or0(a);   /* erfc(|x| / sqrt 2); 0 in the tail */
    return 0.5f * x * (x < 0 ? c : 2.0f - c);
}

/* d/dx x Phi(x) = Phi(x) + x phi(x), Phi from the same erfc fit. */
static inline float mgv_fast_gelu_grad(float x)
{
    float z = (x < 0 ? -x : x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = mgv_erfcc_poly(t);
    float e = mgv_fast_exp(-z * z);   /* e^(-x^2 / 2) */
    float c = t * mgv_fast_exp(p) * e;
    float cdf = 0.5f * (x < 0 ? c : 2.0f - c);
    return cdf + x * 0.39894228040143267794f * e;
}

#endif
