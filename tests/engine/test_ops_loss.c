/*
 * test_ops_loss.c — cross_entropy, margin_ranking, kl_categorical,
 * gaussian_kl: hand-computed values, target and shape errors, and
 * finite-difference gradients of every differentiable input.
 *
 * Gradient tolerance: default atol 2e-3, rtol 1e-2 with h = 1e-2 throughout.
 * margin_ranking is piecewise linear: its scores are nudged so every hinge
 * argument is at least 0.05 from 0 (> h), where the central difference is
 * exact up to rounding.
 */
#include "check.h"
#include "gradcheck.h"
#include "mgv.h"

static mgv_tensor *rnd(int ndim, const int64_t *shape, uint64_t seed, float lo, float hi)
{
    return gradcheck_input(ndim, shape, seed, lo, hi);
}

/* ---- cross_entropy --------------------------------------------------------------- */

static void test_cross_entropy_values(void)
{
    float d[6] = {1, 2, 3, 1, 1, 1};
    int64_t s[2] = {2, 3}, t[2] = {2, 0};
    mgv_tensor *x = mgv_from_data(2, s, d);
    mgv_set_requires_grad(x, 1);
    mgv_tensor *y = mgv_cross_entropy(x, t);
    CHECK(y && y->ndim == 0);
    if (y) {
        /* row 0: -log softmax([1,2,3])[2] = 0.40760596; row 1: log 3 */
        CHECK_NEAR(mgv_get_flat(y, 0), (0.4076059644443806 + log(3.0)) / 2, 1e-6);
        CHECK(mgv_backward(y, NULL) == 0);
        /* (softmax - onehot) / N */
        const double want[6] = {0.09003057317 / 2, 0.24472847105 / 2, (0.66524095577 - 1) / 2,
                                (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6};
        if (x->grad)
            for (int i = 0; i < 6; i++) CHECK_NEAR(mgv_get_flat(x->grad, i), want[i], 1e-6);
        else
            CHECK(x->grad != NULL);
    }
    mgv_release(y);
    /* large logits stay finite */
    float big[2] = {1000, 0};
    int64_t sb[2] = {1, 2}, tb[1] = {1};
    mgv_tensor *b = mgv_from_data(2, sb, big);
    y = mgv_cross_entropy(b, tb);
    CHECK(y && fabs(mgv_get_flat(y, 0) - 1000) < 1e-3);
    mgv_release(y);
    mgv_release(b);
    mgv_release(x);
}

static void test_cross_entropy_errors(void)
{
    int64_t s[2] = {2, 5}, s1[1] = {5}, bad[2] = {0, 5}, neg[2] = {-1, 0};
    mgv_tensor *x = mgv_zeros(2, s), *v = mgv_zeros(1, s1);
    CHECK(mgv_cross_entropy(x, bad) == NULL);
    CHECK_ERROR_HAS("cross_entropy: target 5 (row 1) out of range for 5 classes");
    CHECK(mgv_cross_entropy(x, neg) == NULL);
    CHECK_ERROR_HAS("target -1 (row 0)");
    CHECK(mgv_cross_entropy(v, bad) == NULL);
    CHECK_ERROR_HAS("cross_entropy: logits [5] must be 2-d");
    CHECK(mgv_margin_ranking(x, bad, 0.1f) == NULL);
    CHECK_ERROR_HAS("margin_ranking: target 5 (row 1) out of range for 5 classes");
    mgv_release(x);
    mgv_release(v);
}

static mgv_tensor *f_ce(mgv_tensor **in, void *ctx) { return mgv_cross_entropy(in[0], ctx); }

static void test_cross_entropy_grad(void)
{
    int64_t s[2] = {4, 5}, t[4] = {0, 4, 2, 2};
    mgv_tensor *x = rnd(2, s, 1, -2, 2);
    CHECK(gradcheck("cross_entropy", f_ce, t, 1, &x, NULL));   /* default tol */
    /* a transposed view as logits */
    int64_t s2[2] = {5, 4}, vs[2] = {4, 5}, vst[2] = {1, 4};
    mgv_tensor *x0 = rnd(2, s2, 2, -2, 2);
    mgv_tensor *v = mgv_view_of(x0, 2, vs, vst, 0);
    CHECK(gradcheck("cross_entropy on a view", f_ce, t, 1, &v, NULL));
    mgv_release(v);
    mgv_release(x0);
    mgv_release(x);
}

/* ---- margin_ranking -------------------------------------------------------------- */

static void test_margin_ranking_values(void)
{
    float d[6] = {0.2f, 0.5f, 0.1f, 0.9f, 0.1f, 0.3f};
    int64_t s[2] = {2, 3}, t[2] = {0, 0};
    mgv_tensor *x = mgv_from_data(2, s, d);
    mgv_set_requires_grad(x, 1);
    mgv_tensor *y = mgv_margin_ranking(x, t, 0.5f);
    CHECK(y && y->ndim == 0);
    if (y) {
        /* row 0: (0.5-0.2+0.5) + (0.5-0.2+0.1) = 1.2; row 1: both hinges negative */
        CHECK_NEAR(mgv_get_flat(y, 0), 0.6, 1e-6);
        CHECK(mgv_backward(y, NULL) == 0);
        const double want[6] = {-1, 0.5, 0.5, 0, 0, 0};
        if (x->grad)
            for (int i = 0; i < 6; i++) CHECK_NEAR(mgv_get_flat(x->grad, i), want[i], 1e-6);
        else
            CHECK(x->grad != NULL);
    }
    mgv_release(y);
    /* exactly at the hinge (margin - s_y + s_j = 0): no loss, subgradient 0 */
    float h[2] = {1.0f, 0.5f};
    int64_t sh[2] = {1, 2}, th[1] = {0};
    mgv_tensor *z = mgv_from_data(2, sh, h);
    mgv_set_requires_grad(z, 1);
    y = mgv_margin_ranking(z, th, 0.5f);
    CHECK(y && mgv_get_flat(y, 0) == 0);
    if (y) {
        CHECK(mgv_backward(y, NULL) == 0);
        CHECK(z->grad && mgv_get_flat(z->grad, 0) == 0 && mgv_get_flat(z->grad, 1) == 0);
    }
    mgv_release(y);
    mgv_release(z);
    mgv_release(x);
}

typedef struct {
    const int64_t *t;
    float margin;
} mr_ctx;

static mgv_tensor *f_mr(mgv_tensor **in, void *ctx)
{
    mr_ctx *c = ctx;
    return mgv_margin_ranking(in[0], c->t, c->margin);
}

static void test_margin_ranking_grad(void)
{
    int64_t s[2] = {5, 6}, t[5] = {0, 3, 5, 3, 1};
    float margin = 0.3f;
    mgv_tensor *x = rnd(2, s, 3, -1, 1);
    /* keep every hinge argument at least 0.05 from zero */
    for (int b = 0; b < 5; b++)
        for (int j = 0; j < 6; j++) {
            if (j == t[b]) continue;
            float h = margin - mgv_get_flat(x, b * 6 + t[b]) + mgv_get_flat(x, b * 6 + j);
            if (fabsf(h) < 0.05f) mgv_set_flat(x, b * 6 + j, mgv_get_flat(x, b * 6 + j) + 0.1f);
        }
    mr_ctx c = {t, margin};
    CHECK(gradcheck("margin_ranking", f_mr, &c, 1, &x, NULL));   /* default tol */
    mgv_release(x);
}

/* ---- kl_categorical -------------------------------------------------------------- */

static void test_kl_categorical_values(void)
{
    float p[4] = {0.5f, 0.5f, 1.0f, 0.0f}, q[4] = {0.25f, 0.75f, 0.5f, 0.5f};
    float lp[4], lq[4];
    for (int i = 0; i < 4; i++) {
        lp[i] = logf(p[i]);   /* log 0 = -inf: that term contributes 0 */
        lq[i] = logf(q[i]);
    }
    int64_t s[2] = {2, 2};
    mgv_tensor *a = mgv_from_data(2, s, lp), *b = mgv_from_data(2, s, lq);
    mgv_set_requires_grad(a, 1);
    mgv_set_requires_grad(b, 1);
    mgv_tensor *y = mgv_kl_categorical(a, b, -1);
    CHECK(y && y->ndim == 1 && y->shape[0] == 2);
    if (y) {
        CHECK_NEAR(mgv_get_flat(y, 0), 0.5 * log(2.0) + 0.5 * log(2.0 / 3), 1e-6);
        CHECK_NEAR(mgv_get_flat(y, 1), log(2.0), 1e-6);
        mgv_tensor *g = mgv_ones(1, y->shape);
        CHECK(mgv_backward(y, g) == 0);
        mgv_release(g);
        /* d/dlogq = -p; d/dlogp = p (logp - logq + 1); 0 where p = 0 */
        if (a->grad && b->grad) {
            CHECK_NEAR(mgv_get_flat(b->grad, 0), -0.5, 1e-6);
            CHECK_NEAR(mgv_get_flat(b->grad, 2), -1.0, 1e-6);
            CHECK(mgv_get_flat(b->grad, 3) == 0 && mgv_get_flat(a->grad, 3) == 0);
            CHECK_NEAR(mgv_get_flat(a->grad, 0), 0.5 * (log(2.0) + 1), 1e-6);
        } else {
            CHECK(a->grad && b->grad);
        }
    }
    mgv_release(y);
    /* along axis 0: columns (0.5, 1) vs (0.25, 0.5)... just the shape and one value */
    y = mgv_kl_categorical(a, b, 0);
    CHECK(y && y->ndim == 1 && y->shape[0] == 2);
    mgv_release(y);
    int64_t s3[1] = {4};
    mgv_tensor *c = mgv_zeros(1, s3);
    CHECK(mgv_kl_categorical(a, c, 0) == NULL);
    CHECK_ERROR_HAS("kl_categorical: logp [2x2] and logq [4] differ in shape");
    CHECK(mgv_kl_categorical(a, b, 2) == NULL);
    CHECK_ERROR_HAS("kl_categorical: axis 2 out of range");
    mgv_release(c);
    mgv_release(a);
    mgv_release(b);
}

static mgv_tensor *f_kl_of_logits(mgv_tensor **in, void *ctx)
{
    int axis = *(int *)ctx;
    mgv_tensor *lp = mgv_log_softmax(in[0], axis), *lq = mgv_log_softmax(in[1], axis);
    mgv_tensor *y = lp && lq ? mgv_kl_categorical(lp, lq, axis) : NULL;
    mgv_release(lp);
    mgv_release(lq);
    return y;
}

static mgv_tensor *f_kl(mgv_tensor **in, void *ctx)
{
    return mgv_kl_categorical(in[0], in[1], *(int *)ctx);
}

static void test_kl_categorical_grad(void)
{
    int64_t s[3] = {2, 4, 3};
    mgv_tensor *in[2] = {rnd(3, s, 4, -2, 2), rnd(3, s, 5, -2, 2)};
    int axes[3] = {-1, 1, 0};
    char name[64];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "kl(log_softmax) axis %d", axes[i]);
        CHECK(gradcheck(name, f_kl_of_logits, &axes[i], 2, in, NULL));   /* default tol */
    }
    /* the formula itself on arbitrary log-values (not normalised) */
    mgv_tensor *jn[2] = {rnd(3, s, 6, -2, 0), rnd(3, s, 7, -2, 0)};
    CHECK(gradcheck("kl raw", f_kl, &axes[0], 2, jn, NULL));
    for (int i = 0; i < 2; i++) {
        mgv_release(in[i]);
        mgv_release(jn[i]);
    }
}

/* ---- gaussian_kl --------------------------------------------------------------- */

static void test_gaussian_kl_values(void)
{
    float mu[4] = {1, 0, 0, 0}, lv[4] = {0, 0, 0, (float)M_LN2};
    int64_t s[2] = {2, 2};
    mgv_tensor *m = mgv_from_data(2, s, mu), *l = mgv_from_data(2, s, lv);
    mgv_tensor *y = mgv_gaussian_kl(m, l, 1);
    CHECK(y && y->ndim == 1 && y->shape[0] == 2);
    if (y) {
        /* row 0: mu = 1 gives 1/2, mu = 0 lv = 0 gives 0; row 1: 0 + (1 - ln 2)/2 */
        CHECK_NEAR(mgv_get_flat(y, 0), 0.5, 1e-6);
        CHECK_NEAR(mgv_get_flat(y, 1), 0.5 * (1 - log(2.0)), 1e-6);
    }
    mgv_release(y);
    y = mgv_gaussian_kl(m, l, 2);
    CHECK(y && y->ndim == 0 && fabs(mgv_get_flat(y, 0) - (1 - 0.5 * log(2.0))) < 1e-6);
    mgv_release(y);
    y = mgv_gaussian_kl(m, l, 0);   /* elementwise */
    CHECK(y && y->ndim == 2 && fabs(mgv_get_flat(y, 0) - 0.5) < 1e-6 && mgv_get_flat(y, 1) == 0);
    mgv_release(y);
    CHECK(mgv_gaussian_kl(m, l, 3) == NULL);
    CHECK_ERROR_HAS("gaussian_kl: cannot sum 3 axes of [2x2]");
    int64_t s1[1] = {4};
    mgv_tensor *v = mgv_zeros(1, s1);
    CHECK(mgv_gaussian_kl(m, v, 1) == NULL);
    CHECK_ERROR_HAS("gaussian_kl: mu [2x2] and logvar [4] differ in shape");
    mgv_release(v);
    mgv_release(m);
    mgv_release(l);
}

static mgv_tensor *f_gkl(mgv_tensor **in, void *ctx)
{
    return mgv_gaussian_kl(in[0], in[1], *(int *)ctx);
}

static void test_gaussian_kl_grad(void)
{
    int64_t s[3] = {2, 3, 4};
    mgv_tensor *in[2] = {rnd(3, s, 8, -1.5f, 1.5f), rnd(3, s, 9, -1.5f, 1.5f)};
    for (int k = 0; k <= 3; k++) {
        char name[64];
        snprintf(name, sizeof name, "gaussian_kl n_sum_dims %d", k);
        CHECK(gradcheck(name, f_gkl, &k, 2, in, NULL));   /* default tol */
    }
    mgv_release(in[0]);
    mgv_release(in[1]);
}

int main(void)
{
    RUN(test_cross_entropy_values);
    RUN(test_cross_entropy_errors);
    RUN(test_cross_entropy_grad);
    RUN(test_margin_ranking_values);
    RUN(test_margin_ranking_grad);
    RUN(test_kl_categorical_values);
    RUN(test_kl_categorical_grad);
    RUN(test_gaussian_kl_values);
    RUN(test_gaussian_kl_grad);
    return CHECK_DONE();
}
