/*
 * gradcheck.h — finite-difference gradient checks for the engine tests.
 *
 * For an op f and inputs x_1..x_k that require grad, the scalar
 * L = sum(w ⊙ f(x)) with fixed random weights w is differentiated two ways:
 * autograd (backward of f(x) with gradient w) and central differences
 * (L(x + h e_i) - L(x - h e_i)) / 2h accumulated in double. They must agree
 * within |a - n| <= atol + rtol * |n| for every element.
 *
 * Float32 evaluation limits precision: with h = 1e-2 and O(1) inputs the
 * difference quotient is good to about 1e-3 relative, so the default
 * tolerance is atol = 2e-3, rtol = 1e-2 (callers may tighten or loosen it and
 * say why).
 */
#ifndef MGV_GRADCHECK_H
#define MGV_GRADCHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "mgv.h"

typedef mgv_tensor *(*gradcheck_fn)(mgv_tensor **inputs, void *ctx);

typedef struct {
    double h, atol, rtol;
    double max_abs_err;     /* filled in: the worst |autograd - numeric| */
} gradcheck_opts;

static double gradcheck_weighted_sum(mgv_tensor *y, const float *w)
{
    double s = 0;
    int64_t n = mgv_numel(y);
    for (int64_t i = 0; i < n; i++) s += (double)w[i] * mgv_get_flat(y, i);
    return s;
}

/* Returns 1 when every gradient agrees; prints the first few mismatches. */
static int gradcheck(const char *name, gradcheck_fn f, void *ctx, int k, mgv_tensor **inputs,
                     gradcheck_opts *opt)
{
    gradcheck_opts def = {1e-2, 2e-3, 1e-2, 0};
    if (!opt) opt = &def;
    if (opt->h == 0) opt->h = def.h;
    opt->max_abs_err = 0;
    for (int i = 0; i < k; i++) {
        mgv_zero_grad(inputs[i]);
        mgv_set_requires_grad(inputs[i], 1);
    }
    mgv_tensor *y = f(inputs, ctx);
    if (!y) {
        printf("  %s: forward failed: %s\n", name, mgv_last_error());
        return 0;
    }
    int64_t ny = mgv_numel(y);
    float *w = malloc(sizeof(float) * (size_t)(ny ? ny : 1));
    mgv_rng r;
    mgv_rng_seed(&r, 1234);
    for (int64_t i = 0; i < ny; i++) w[i] = (float)(mgv_rng_uniform(&r) * 2 - 1);
    mgv_tensor *wt = mgv_from_data(y->ndim, y->shape, w);
    if (mgv_backward(y, wt) < 0) {
        printf("  %s: backward failed: %s\n", name, mgv_last_error());
        mgv_release(wt);
        mgv_release(y);
        free(w);
        return 0;
    }
    mgv_release(wt);
    mgv_release(y);
    int ok = 1, reported = 0;
    int prev = mgv_set_grad_enabled(0);
    for (int i = 0; i < k; i++) {
        mgv_tensor *x = inputs[i];
        int64_t n = mgv_numel(x);
        for (int64_t j = 0; j < n; j++) {
            float orig = mgv_get_flat(x, j);
            /* read each result before moving x again: f may return a view of x */
            mgv_set_flat(x, j, orig + (float)opt->h);
            mgv_tensor *yp = f(inputs, ctx);
            double lp = yp ? gradcheck_weighted_sum(yp, w) : 0;
            mgv_release(yp);
            mgv_set_flat(x, j, orig - (float)opt->h);
            mgv_tensor *ym = f(inputs, ctx);
            double lm = ym ? gradcheck_weighted_sum(ym, w) : 0;
            mgv_release(ym);
            mgv_set_flat(x, j, orig);
            if (!yp || !ym) {
                printf("  %s: forward failed during differencing: %s\n", name, mgv_last_error());
                ok = 0;
                goto done;
            }
            double num = (lp - lm) / (2 * opt->h);
            double ana = x->grad ? mgv_get_flat(x->grad, j) : 0.0;
            double err = fabs(ana - num);
            if (err > opt->max_abs_err) opt->max_abs_err = err;
            if (err > opt->atol + opt->rtol * fabs(num)) {
                ok = 0;
                if (reported++ < 5)
                    printf("  %s: input %d element %lld: autograd %.6g, numeric %.6g\n", name, i,
                           (long long)j, ana, num);
            }
        }
    }
done:
    mgv_set_grad_enabled(prev);
    free(w);
    return ok;
}

/* A tensor of the given shape with values uniform in [lo, hi), seeded. */
static mgv_tensor *gradcheck_input(int ndim, const int64_t *shape, uint64_t seed, float lo,
                                   float hi)
{
    mgv_rng r;
    mgv_rng_seed(&r, seed);
    mgv_tensor *t = mgv_empty(ndim, shape);
    mgv_fill_uniform_(t, &r, lo, hi);
    return t;
}

#endif
