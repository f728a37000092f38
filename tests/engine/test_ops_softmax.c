/*
 * test_ops_softmax.c — softmax and log_softmax: hand-computed values, an
 * independent double-precision reference along every axis, stability for
 * large logits, -inf masking (partial and fully masked slices), errors, and
 * finite-difference gradients on axes 0, 1 and -1; the fused masked softmax
 * with dropout against the ops it replaces.
 *
 * Gradient tolerance: default atol 2e-3, rtol 1e-2 with h = 1e-2 (inputs in
 * [-2, 2], so the second derivatives are O(1) and the central-difference
 * error O(h^2) stays far below it).
 */
#include "check.h"
#include "gradcheck.h"
#include "mgv.h"
#include "core/parallel.h"

/* Independent reference: for every slice along ax, computes softmax (or its
 * log) in double by index arithmetic and compares with y. */
static int ref_check(mgv_tensor *x, mgv_tensor *y, int ax, int logv, double tol)
{
    int64_t outer = 1, inner = 1, n = x->shape[ax], bad = 0;
    for (int d = 0; d < ax; d++) outer *= x->shape[d];
    for (int d = ax + 1; d < x->ndim; d++) inner *= x->shape[d];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double mx = -INFINITY, s = 0;
            for (int64_t j = 0; j < n; j++) {
                double v = mgv_get_flat(x, (o * n + j) * inner + i);
                if (v > mx) mx = v;
            }
            for (int64_t j = 0; j < n; j++) s += exp(mgv_get_flat(x, (o * n + j) * inner + i) - mx);
            for (int64_t j = 0; j < n; j++) {
                int64_t k = (o * n + j) * inner + i;
                double e = mgv_get_flat(x, k) - mx - log(s);
                double want = logv ? e : exp(e), got = mgv_get_flat(y, k);
                if (fabs(got - want) > tol) {
                    if (bad++ < 3) printf("  element %lld: %.7g vs %.7g\n", (long long)k, got, want);
                }
            }
        }
    return (int)bad;
}

static void test_softmax_hand_values(void)
{
    float d[6] = {1, 2, 3, 1000, 1001, 1002};   /* second row: overflow without max-subtraction */
    int64_t s[2] = {2, 3};
    mgv_tensor *x = mgv_from_data(2, s, d);
    mgv_tensor *y = mgv_softmax(x, -1), *l = mgv_log_softmax(x, 1);
    CHECK(y && l);
    if (y && l) {
        const double p[3] = {0.09003057317038046, 0.24472847105479767, 0.6652409557748219};
        const double lp[3] = {-2.4076059644443806, -1.4076059644443806, -0.4076059644443806};
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 3; j++) {
                CHECK_NEAR(mgv_get_flat(y, r * 3 + j), p[j], 1e-6);
                CHECK_NEAR(mgv_get_flat(l, r * 3 + j), lp[j], 1e-5);
            }
    }
    mgv_release(y);
    mgv_release(l);
    /* axis 0 of the same: columns [1, 1000] etc. -> [e^-999, 1] ~ [0, 1] */
    y = mgv_softmax(x, 0);
    CHECK(y && mgv_get_flat(y, 0) < 1e-30 && fabs(mgv_get_flat(y, 3) - 1) < 1e-7);
    mgv_release(y);
    mgv_release(x);
}

static void test_softmax_axes_reference(void)
{
    int64_t s[3] = {3, 4, 5};
    mgv_tensor *x = gradcheck_input(3, s, 7, -3, 3);
    for (int logv = 0; logv < 2; logv++)
        for (int ax = 0; ax < 3; ax++) {
            mgv_tensor *y = logv ? mgv_log_softmax(x, ax) : mgv_softmax(x, ax - 3);
            CHECK(y && mgv_same_shape(x, y));
            if (y) CHECK(ref_check(x, y, ax, logv, 1e-6) == 0);
            mgv_release(y);
        }
    /* a non-contiguous input: transposed view of the last two axes */
    int64_t vs[3] = {3, 5, 4}, vst[3] = {20, 1, 5};
    mgv_tensor *v = mgv_view_of(x, 3, vs, vst, 0);
    for (int ax = 0; ax < 3; ax++) {
        mgv_tensor *y = mgv_softmax(v, ax);
        CHECK(y != NULL);
        if (y) CHECK(ref_check(v, y, ax, 0, 1e-6) == 0);
        mgv_release(y);
    }
    mgv_release(v);
    mgv_release(x);
}

static void test_softmax_masked(void)
{
    const float NI = -INFINITY;
    /* row 0 partly masked, row 1 fully masked, row 2 plain */
    float d[9] = {NI, 0, 0, NI, NI, NI, 0, 0, 0};
    int64_t s[2] = {3, 3};
    mgv_tensor *x = mgv_from_data(2, s, d);
    mgv_set_requires_grad(x, 1);
    mgv_tensor *y = mgv_softmax(x, 1);
    CHECK(y != NULL);
    if (y) {
        const double want[9] = {0, 0.5, 0.5, 0, 0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3};
        for (int i = 0; i < 9; i++) CHECK_NEAR(mgv_get_flat(y, i), want[i], 1e-7);
        float gd[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        mgv_tensor *g = mgv_from_data(2, s, gd);
        CHECK(mgv_backward(y, g) == 0);
        /* dx = y (g - <g, y>): row 0: <g,y> = 2.5 -> [0, -0.25, 0.25]; row 1: 0 */
        if (x->grad) {
            const double gw[9] = {0, -0.25, 0.25, 0, 0, 0, -1.0 / 3, 0, 1.0 / 3};
            for (int i = 0; i < 9; i++) CHECK_NEAR(mgv_get_flat(x->grad, i), gw[i], 1e-6);
        } else {
            CHECK(x->grad != NULL);
        }
        mgv_release(g);
    }
    mgv_release(y);
    mgv_zero_grad(x);
    mgv_tensor *l = mgv_log_softmax(x, 1);
    CHECK(l != NULL);
    if (l) {
        CHECK(isinf(mgv_get_flat(l, 0)) && mgv_get_flat(l, 0) < 0);
        CHECK_NEAR(mgv_get_flat(l, 1), -log(2.0), 1e-6);
        for (int j = 3; j < 6; j++) CHECK(isinf(mgv_get_flat(l, j)) && mgv_get_flat(l, j) < 0);
        CHECK_NEAR(mgv_get_flat(l, 8), -log(3.0), 1e-6);
        float gd[9] = {0, 1, 1, 1, 1, 1, 1, 0, 0};
        mgv_tensor *g = mgv_from_data(2, s, gd);
        CHECK(mgv_backward(l, g) == 0);
        /* dx = g - softmax * sum(g): row 0 [0, 0, 0]; row 1 fully masked: 0;
         * row 2 [1 - 1/3, -1/3, -1/3] */
        if (x->grad) {
            const double gw[9] = {0, 0, 0, 0, 0, 0, 2.0 / 3, -1.0 / 3, -1.0 / 3};
            for (int i = 0; i < 9; i++) {
                CHECK(!isnan(mgv_get_flat(x->grad, i)));
                CHECK_NEAR(mgv_get_flat(x->grad, i), gw[i], 1e-6);
            }
        } else {
            CHECK(x->grad != NULL);
        }
        mgv_release(g);
    }
    mgv_release(l);
    /* a fully masked column along axis 0 (inner > 1 path) */
    float e[6] = {NI, 1, NI, 2, NI, 3};
    int64_t s2[2] = {3, 2};
    mgv_tensor *z = mgv_from_data(2, s2, e);
    mgv_tensor *zs = mgv_softmax(z, 0), *zl = mgv_log_softmax(z, 0);
    CHECK(zs && zl);
    if (zs && zl)
        for (int j = 0; j < 3; j++) {
            CHECK(mgv_get_flat(zs, 2 * j) == 0);
            CHECK(isinf(mgv_get_flat(zl, 2 * j)));
            CHECK(!isnan(mgv_get_flat(zs, 2 * j + 1)) && !isnan(mgv_get_flat(zl, 2 * j + 1)));
        }
    mgv_release(zs);
    mgv_release(zl);
    mgv_release(z);
    mgv_release(x);
}

static void test_softmax_errors(void)
{
    int64_t s[2] = {2, 3};
    mgv_tensor *x = mgv_zeros(2, s);
    CHECK(mgv_softmax(x, 2) == NULL);
    CHECK_ERROR_HAS("softmax: axis 2 out of range for shape [2x3]");
    CHECK(mgv_log_softmax(x, -3) == NULL);
    CHECK_ERROR_HAS("log_softmax: axis -3 out of range");
    mgv_release(x);
}

typedef struct {
    int axis, logv;
} sm_ctx;

static mgv_tensor *f_softmax(mgv_tensor **in, void *ctx)
{
    sm_ctx *c = ctx;
    return c->logv ? mgv_log_softmax(in[0], c->axis) : mgv_softmax(in[0], c->axis);
}

static void test_softmax_grad(void)
{
    int64_t s[3] = {3, 4, 5};
    const int axes[3] = {0, 1, -1};
    char name[64];
    for (int logv = 0; logv < 2; logv++)
        for (int a = 0; a < 3; a++) {
            mgv_tensor *x = gradcheck_input(3, s, 100 + a, -2, 2);
            sm_ctx c = {axes[a], logv};
            snprintf(name, sizeof name, "%s axis %d", logv ? "log_softmax" : "softmax", axes[a]);
            CHECK(gradcheck(name, f_softmax, &c, 1, &x, NULL));   /* default tolerance */
            mgv_release(x);
        }
    /* 2-d, and a transposed view as input */
    int64_t s2[2] = {4, 6};
    mgv_tensor *x0 = gradcheck_input(2, s2, 200, -2, 2);
    int64_t vs[2] = {6, 4}, vst[2] = {1, 6};
    mgv_tensor *v = mgv_view_of(x0, 2, vs, vst, 0);
    for (int logv = 0; logv < 2; logv++) {
        sm_ctx c = {1, logv};
        CHECK(gradcheck(logv ? "log_softmax view" : "softmax view", f_softmax, &c, 1, &v, NULL));
        c.axis = 0;
        CHECK(gradcheck(logv ? "log_softmax view axis 0" : "softmax view axis 0", f_softmax, &c, 1,
                        &v, NULL));
    }
    mgv_release(v);
    mgv_release(x0);
}

/* Long last-axis softmaxes are split over threads by rows: values match the
 * reference, the gradient matches y (g - sum g y) (log: g - e^y sum g)
 * row by row, with a fully masked row, and 1 and 2 threads agree exactly. */
static void test_softmax_rows_threaded(void)
{
    int64_t xs[2] = {96, 700};
    for (int logv = 0; logv < 2; logv++) {
        mgv_tensor *x = gradcheck_input(2, xs, 81 + logv, -3, 3), *g = gradcheck_input(2, xs, 83, -1, 1);
        for (int64_t j = 0; j < 700; j++) mgv_set_flat(x, 5 * 700 + j, -INFINITY);
        mgv_set_requires_grad(x, 1);
        mgv_tensor *y_t[2], *gx_t[2];
        int nt = mgv_get_num_threads();
        for (int t = 0; t < 2; t++) {
            mgv_set_num_threads(t ? 2 : 1);
            mgv_zero_grad(x);
            y_t[t] = logv ? mgv_log_softmax(x, -1) : mgv_softmax(x, -1);
            CHECK(y_t[t] && mgv_backward(y_t[t], g) == 0);
            gx_t[t] = x->grad ? mgv_clone_data(x->grad) : NULL;
        }
        mgv_set_num_threads(nt);
        mgv_tensor *y = y_t[1], *gx = gx_t[1];
        CHECK(y && gx);
        int bad = 0;
        for (int64_t r = 0; y && gx && r < 96; r++) {
            if (r == 5) {   /* fully masked: zeros (log: -inf), no gradient */
                for (int64_t j = 0; j < 700; j++)
                    bad += mgv_get_flat(y, r * 700 + j) != (logv ? -INFINITY : 0.0f) ||
                           mgv_get_flat(gx, r * 700 + j) != 0.0f;
                continue;
            }
            double sgy = 0, sg = 0;
            for (int64_t j = 0; j < 700; j++) {
                double yv = mgv_get_flat(y, r * 700 + j), gv = mgv_get_flat(g, r * 700 + j);
                sgy += gv * yv;
                sg += gv;
            }
            for (int64_t j = 0; j < 700; j++) {
                double yv = mgv_get_flat(y, r * 700 + j), gv = mgv_get_flat(g, r * 700 + j);
                double want = logv ? gv - exp(yv) * sg : yv * (gv - sgy);
                bad += fabs(mgv_get_flat(gx, r * 700 + j) - want) > 1e-5;
            }
        }
        mgv_tensor *xr = mgv_clone_data(x);   /* the reference skips -inf rows badly: finite copy */
        for (int64_t j = 0; j < 700; j++) mgv_set_flat(xr, 5 * 700 + j, 0.0f);
        mgv_tensor *yr = logv ? mgv_log_softmax(xr, -1) : mgv_softmax(xr, -1);
        CHECK(yr && ref_check(xr, yr, 1, logv, logv ? 1e-5 : 1e-6) == 0);
        CHECK(bad == 0);
        for (int64_t i = 0; y_t[0] && y_t[1] && gx_t[0] && i < 96 * 700; i++) {
            float a0 = mgv_get_flat(y_t[0], i), a1 = mgv_get_flat(y_t[1], i);
            bad += !(a0 == a1) || mgv_get_flat(gx_t[0], i) != mgv_get_flat(gx_t[1], i);
        }
        CHECK(bad == 0);
        mgv_tensor *tmp[] = {x, g, y_t[0], y_t[1], gx_t[0], gx_t[1], xr, yr};
        for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) mgv_release(tmp[i]);
    }
}

/* masked_softmax_dropout against the three ops it fuses (masked_fill -inf,
 * softmax, dropout) with generators in the same state: the same dropped
 * entries, outputs and input gradients within float rounding (the masked
 * loop may vectorise differently), with a padded key, a fully padded
 * sample, on 1 and 2 threads, and without dropout (p 0, or evaluation). */
static void test_masked_softmax_dropout(void)
{
    int64_t xs[4] = {3, 2, 40, 40}, ps[4] = {3, 1, 1, 40};
    mgv_tensor *x0 = gradcheck_input(4, xs, 301, -3, 3), *g = gradcheck_input(4, xs, 302, -1, 1);
    mgv_tensor *pad = mgv_zeros(4, ps);
    mgv_set_flat(pad, 7, 1.0f);                                  /* sample 0: key 7 */
    for (int64_t j = 0; j < 40; j++) mgv_set_flat(pad, 80 + j, 1.0f);   /* sample 2: all */
    const float probs[3] = {0.3f, 0.0f, 0.3f};
    const int train[3] = {1, 1, 0};
    int nt = mgv_get_num_threads();
    for (int c = 0; c < 3 * 2; c++) {
        float p = probs[c / 2];
        mgv_set_num_threads(c % 2 ? 2 : 1);
        mgv_tensor *x1 = mgv_clone_data(x0), *x2 = mgv_clone_data(x0);
        mgv_set_requires_grad(x1, 1);
        mgv_set_requires_grad(x2, 1);
        mgv_rng r1, r2;
        mgv_rng_seed(&r1, 17);
        mgv_rng_seed(&r2, 17);
        mgv_tensor *f = mgv_masked_softmax_dropout(x1, pad, p, train[c / 2], &r1);
        mgv_tensor *m = mgv_masked_fill(x2, pad, -INFINITY);
        mgv_tensor *sm = m ? mgv_softmax(m, -1) : NULL;
        mgv_tensor *u = sm ? mgv_dropout(sm, p, train[c / 2], &r2) : NULL;
        CHECK(f && u && mgv_backward(f, g) == 0 && mgv_backward(u, g) == 0);
        int bad = 0, zeros = 0;
        for (int64_t i = 0; f && u && x1->grad && x2->grad && i < mgv_numel(x0); i++) {
            float a = mgv_get_flat(f, i), b = mgv_get_flat(u, i);
            float ga = mgv_get_flat(x1->grad, i), gb = mgv_get_flat(x2->grad, i);
            /* y (g - sum g y) cancels: gradients within 1e-6 of g's scale (1) */
            bad += (a == 0) != (b == 0) || fabsf(a - b) > 1e-6f * fabsf(b) ||
                   fabsf(ga - gb) > 1e-6f;
            zeros += a == 0;
        }
        CHECK(bad == 0);
        /* padded entries (1 key x 80 rows, 1600 of sample 2) and, with dropout, ~30% more */
        int64_t padded = 80 + 80 * 40;
        CHECK(p > 0 && train[c / 2] ? zeros > padded + 1000 : zeros == padded);
        CHECK(mgv_rng_next(&r1) == mgv_rng_next(&r2));   /* the same draws taken */
        mgv_tensor *tmp[] = {x1, x2, f, m, sm, u};
        for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) mgv_release(tmp[i]);
    }
    mgv_set_num_threads(nt);
    /* errors: a pad that is not one row per sample, a bad p */
    int64_t bs[4] = {3, 1, 40, 40};
    mgv_tensor *bad_pad = mgv_zeros(4, bs);
    CHECK(mgv_masked_softmax_dropout(x0, bad_pad, 0.1f, 1, NULL) == NULL);
    CHECK_ERROR_HAS("is not one row of 40 keys per sample");
    CHECK(mgv_masked_softmax_dropout(x0, NULL, 1.0f, 1, NULL) == NULL);
    CHECK_ERROR_HAS("p = 1 must be in [0, 1)");
    mgv_release(bad_pad);
    mgv_release(pad);
    mgv_release(x0);
    mgv_release(g);
}

int main(void)
{
    RUN(test_softmax_hand_values);
    RUN(test_softmax_axes_reference);
    RUN(test_softmax_masked);
    RUN(test_softmax_errors);
    RUN(test_softmax_grad);
    RUN(test_softmax_rows_threaded);
    RUN(test_masked_softmax_dropout);
    return CHECK_DONE();
}
