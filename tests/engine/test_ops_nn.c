/*
 * test_ops_nn.c — layer_norm, dropout, masked_fill, embedding,
 * cosine_similarity, l2_norm: hand-computed values, broadcasting, errors,
 * dropout statistics and determinism, and finite-difference gradients of
 * every differentiable input.
 *
 * Gradient tolerance: default atol 2e-3, rtol 1e-2 with h = 1e-2 unless a
 * check says otherwise. Inputs are kept away from the ops' kinks (zero
 * vectors for l2_norm / cosine, |a||b| = eps) so the function is smooth
 * within +-h.
 */
#include "check.h"
#include "gradcheck.h"
#include "mgv.h"
#include "core/parallel.h"

static mgv_tensor *rnd(int ndim, const int64_t *shape, uint64_t seed)
{
    return gradcheck_input(ndim, shape, seed, -2.0f, 2.0f);
}

/* ---- layer_norm ------------------------------------------------------------- */

static void test_layer_norm_values(void)
{
    float d[8] = {1, 2, 3, 4, 2, 2, 2, 2};
    float gd[4] = {1, 2, 1, 1}, bd[4] = {0, 0, 1, 0};
    int64_t s[2] = {2, 4}, sp[1] = {4};
    mgv_tensor *x = mgv_from_data(2, s, d), *g = mgv_from_data(1, sp, gd),
               *b = mgv_from_data(1, sp, bd);
    float eps = 1e-5f;
    mgv_tensor *y = mgv_layer_norm(x, g, b, eps);
    CHECK(y && mgv_same_shape(x, y));
    if (y) {
        /* row 0: mean 2.5, var 1.25; row 1: constant, xhat = 0, y = beta */
        double r = 1 / sqrt(1.25 + eps);
        const double want[8] = {-1.5 * r, -0.5 * r * 2, 0.5 * r + 1, 1.5 * r, 0, 0, 1, 0};
        for (int i = 0; i < 8; i++) CHECK_NEAR(mgv_get_flat(y, i), want[i], 1e-5);
    }
    mgv_release(y);
    y = mgv_layer_norm(x, NULL, NULL, eps);
    CHECK(y != NULL);
    if (y) {
        double r = 1 / sqrt(1.25 + eps);
        CHECK_NEAR(mgv_get_flat(y, 0), -1.5 * r, 1e-5);
        CHECK_NEAR(mgv_get_flat(y, 3), 1.5 * r, 1e-5);
        CHECK(mgv_get_flat(y, 5) == 0);
    }
    mgv_release(y);
    int64_t s3[1] = {3};
    mgv_tensor *bad = mgv_zeros(1, s3);
    CHECK(mgv_layer_norm(x, bad, NULL, eps) == NULL);
    CHECK_ERROR_HAS("layer_norm: gamma [3] does not match the last axis of input [2x4]");
    CHECK(mgv_layer_norm(x, g, bad, eps) == NULL);
    CHECK_ERROR_HAS("beta [3]");
    mgv_release(bad);
    mgv_release(x);
    mgv_release(g);
    mgv_release(b);
}

static mgv_tensor *f_ln_affine(mgv_tensor **in, void *ctx) { return mgv_layer_norm(in[0], in[1], in[2], 1e-5f); }
static mgv_tensor *f_ln(mgv_tensor **in, void *ctx) { return mgv_layer_norm(in[0], NULL, NULL, 1e-5f); }

static void test_layer_norm_grad(void)
{
    int64_t s[3] = {2, 3, 5}, sp[1] = {5};
    mgv_tensor *in[3] = {rnd(3, s, 1), rnd(1, sp, 2), rnd(1, sp, 3)};
    CHECK(gradcheck("layer_norm affine", f_ln_affine, NULL, 3, in, NULL));   /* default tol */
    CHECK(gradcheck("layer_norm plain", f_ln, NULL, 1, in, NULL));
    /* a non-contiguous x: transposed [5x3] view of a [3x5] tensor, d = 3 */
    int64_t s2[2] = {3, 5}, vs[2] = {5, 3}, vst[2] = {1, 5}, sp3[1] = {3};
    mgv_tensor *x0 = rnd(2, s2, 4);
    mgv_tensor *vin[3] = {mgv_view_of(x0, 2, vs, vst, 0), rnd(1, sp3, 5), rnd(1, sp3, 6)};
    CHECK(gradcheck("layer_norm on a view", f_ln_affine, NULL, 3, vin, NULL));
    for (int i = 0; i < 3; i++) {
        mgv_release(in[i]);
        mgv_release(vin[i]);
    }
    mgv_release(x0);
}

/* ---- dropout ------------------------------------------------------------------ */

static void test_dropout_statistics(void)
{
    int64_t s[1] = {100000};
    mgv_tensor *x = mgv_ones(1, s);
    mgv_rng r;
    mgv_rng_seed(&r, 42);
    float p = 0.3f;
    mgv_tensor *y = mgv_dropout(x, p, 1, &r);
    CHECK(y != NULL);
    if (y) {
        int64_t zeros = 0, other = 0;
        double sum = 0;
        for (int64_t i = 0; i < s[0]; i++) {
            float v = mgv_get_flat(y, i);
            sum += v;
            if (v == 0)
                zeros++;
            else if (fabsf(v - 1 / (1 - p)) > 1e-6f)
                other++;
        }
        /* std of the zero fraction is sqrt(p(1-p)/n) ~ 0.0014; of the mean ~ 0.002 */
        CHECK_NEAR((double)zeros / s[0], p, 0.01);
        CHECK_NEAR(sum / s[0], 1.0, 0.02);
        CHECK(other == 0);   /* kept values are scaled by exactly 1/(1-p) */
    }
    mgv_release(y);
    mgv_release(x);
}

static void test_dropout_determinism_and_identity(void)
{
    int64_t s[2] = {50, 40};
    mgv_tensor *x = rnd(2, s, 7);
    mgv_rng r1, r2, r3;
    mgv_rng_seed(&r1, 5);
    mgv_rng_seed(&r2, 5);
    mgv_rng_seed(&r3, 6);
    mgv_tensor *a = mgv_dropout(x, 0.5f, 1, &r1), *b = mgv_dropout(x, 0.5f, 1, &r2),
               *c = mgv_dropout(x, 0.5f, 1, &r3);
    CHECK(a && b && c);
    if (a && b && c) {
        int same = 1, differs = 0;
        for (int64_t i = 0; i < 2000; i++) {
            same &= mgv_get_flat(a, i) == mgv_get_flat(b, i);
            differs |= mgv_get_flat(a, i) != mgv_get_flat(c, i);
        }
        CHECK(same);
        CHECK(differs);
    }
    mgv_release(a);
    mgv_release(b);
    mgv_release(c);
    /* eval mode and p = 0 give x itself; NULL rng uses the global one */
    mgv_tensor *e = mgv_dropout(x, 0.5f, 0, NULL), *z = mgv_dropout(x, 0, 1, NULL);
    CHECK(e == x && z == x && x->refcount == 3);
    mgv_release(e);
    mgv_release(z);
    mgv_tensor *gl = mgv_dropout(x, 0.1f, 1, NULL);
    CHECK(gl != NULL && gl != x);
    mgv_release(gl);
    CHECK(mgv_dropout(x, 1.0f, 1, NULL) == NULL);
    CHECK_ERROR_HAS("dropout: p = 1 must be in [0, 1)");
    CHECK(mgv_dropout(x, -0.1f, 0, NULL) == NULL);
    CHECK_ERROR_HAS("must be in [0, 1)");
    mgv_release(x);
}

/* Masks are keyed draws per element: the same on 1 and 2 threads; no
 * visible pattern between neighbours or between consecutive calls; a
 * rank's rows of a sharded batch get the rows of the whole batch's mask. */
static void test_dropout_keyed_draws(void)
{
    int64_t s[2] = {400, 2500};
    mgv_tensor *x = mgv_ones(2, s);
    int nt = mgv_get_num_threads();
    mgv_tensor *y[3];
    for (int t = 0; t < 2; t++) {
        mgv_rng r;
        mgv_rng_seed(&r, 3);
        mgv_set_num_threads(t ? 2 : 1);
        y[t] = mgv_dropout(x, 0.5f, 1, &r);
        if (t) y[2] = mgv_dropout(x, 0.5f, 1, &r);   /* the next call's mask */
    }
    mgv_set_num_threads(nt);
    CHECK(y[0] && y[1] && y[2]);
    int64_t n = s[0] * s[1], same = 0, both_next = 0, both_call = 0;
    for (int64_t i = 0; y[0] && y[1] && y[2] && i < n; i++) {
        int a = mgv_get_flat(y[1], i) == 0;
        same += mgv_get_flat(y[0], i) == mgv_get_flat(y[1], i);
        both_next += i + 1 < n && a && mgv_get_flat(y[1], i + 1) == 0;
        both_call += a && mgv_get_flat(y[2], i) == 0;
    }
    CHECK(same == n);
    /* p^2 = 0.25 of the pairs, std ~ 0.0003 */
    CHECK_NEAR((double)both_next / n, 0.25, 0.003);
    CHECK_NEAR((double)both_call / n, 0.25, 0.003);
    for (int i = 0; i < 3; i++) mgv_release(y[i]);
    /* rows [2, 5) of a batch of 6 */
    int64_t whole[2] = {6, 50}, part[2] = {3, 50};
    mgv_tensor *xw = mgv_ones(2, whole), *xp = mgv_ones(2, part);
    mgv_rng rw, rp;
    mgv_rng_seed(&rw, 11);
    mgv_rng_seed(&rp, 11);
    mgv_rng_set_shard(&rp, 2, 3);
    mgv_tensor *yw = mgv_dropout(xw, 0.4f, 1, &rw), *yp = mgv_dropout(xp, 0.4f, 1, &rp);
    CHECK(yw && yp);
    int bad = 0;
    for (int64_t i = 0; yw && yp && i < 150; i++)
        bad += mgv_get_flat(yp, i) != mgv_get_flat(yw, 100 + i);
    CHECK(bad == 0);
    CHECK(mgv_rng_next(&rw) == mgv_rng_next(&rp));   /* both streams moved alike */
    mgv_release(yw);
    mgv_release(yp);
    mgv_release(xw);
    mgv_release(xp);
    mgv_release(x);
}

static mgv_tensor *f_dropout(mgv_tensor **in, void *ctx)
{
    mgv_rng r;
    mgv_rng_seed(&r, *(uint64_t *)ctx);   /* the same mask on every call */
    return mgv_dropout(in[0], 0.3f, 1, &r);
}

static void test_dropout_grad(void)
{
    int64_t s[2] = {4, 5};
    mgv_tensor *x = rnd(2, s, 8);
    uint64_t seed = 99;
    CHECK(gradcheck("dropout", f_dropout, &seed, 1, &x, NULL));   /* default tol */
    /* the gradient is the mask: 0 or 1/(1-p), matching the forward pass */
    mgv_tensor *y = f_dropout(&x, &seed);
    CHECK(x->grad != NULL);
    if (x->grad && y)
        for (int i = 0; i < 20; i++) {
            float m = mgv_get_flat(x->grad, i);   /* weights w != 1, so compare ratios */
            float yv = mgv_get_flat(y, i), xv = mgv_get_flat(x, i);
            CHECK((yv == 0) == (m == 0));
            if (yv != 0) CHECK_NEAR(yv / xv, 1 / 0.7, 1e-5);
        }
    mgv_release(y);
    mgv_release(x);
}

/* ---- masked_fill ------------------------------------------------------------- */

static void test_masked_fill_values(void)
{
    float d[6] = {1, 2, 3, 4, 5, 6}, m1[3] = {0, 1, 0}, m2[2] = {1, 0};
    int64_t s[2] = {2, 3}, sm1[2] = {1, 3}, sm2[2] = {2, 1};
    mgv_tensor *x = mgv_from_data(2, s, d), *a = mgv_from_data(2, sm1, m1),
               *b = mgv_from_data(2, sm2, m2);
    mgv_tensor *y = mgv_masked_fill(x, a, -INFINITY);
    CHECK(y && mgv_same_shape(x, y));
    if (y) {
        CHECK(mgv_get_flat(y, 0) == 1 && isinf(mgv_get_flat(y, 1)) && mgv_get_flat(y, 2) == 3);
        CHECK(mgv_get_flat(y, 3) == 4 && isinf(mgv_get_flat(y, 4)) && mgv_get_flat(y, 5) == 6);
    }
    mgv_release(y);
    y = mgv_masked_fill(x, b, 9);
    CHECK(y && mgv_get_flat(y, 0) == 9 && mgv_get_flat(y, 2) == 9 && mgv_get_flat(y, 3) == 4);
    mgv_release(y);
    /* a 1-d mask of the last axis, and a scalar mask */
    int64_t s3[1] = {3};
    mgv_tensor *c = mgv_from_data(1, s3, m1), *one = mgv_scalar(1);
    y = mgv_masked_fill(x, c, 0);
    CHECK(y && mgv_get_flat(y, 1) == 0 && mgv_get_flat(y, 4) == 0 && mgv_get_flat(y, 5) == 6);
    mgv_release(y);
    y = mgv_masked_fill(x, one, 7);
    CHECK(y && mgv_get_flat(y, 0) == 7 && mgv_get_flat(y, 5) == 7);
    mgv_release(y);
    int64_t s4[1] = {4};
    mgv_tensor *bad = mgv_zeros(1, s4);
    CHECK(mgv_masked_fill(x, bad, 0) == NULL);
    CHECK_ERROR_HAS("masked_fill: mask [4] does not broadcast to input [2x3]");
    mgv_release(bad);
    mgv_release(one);
    mgv_release(c);
    mgv_release(x);
    mgv_release(a);
    mgv_release(b);
}

static mgv_tensor *f_masked_fill(mgv_tensor **in, void *ctx)
{
    return mgv_masked_fill(in[0], ctx, -3.0f);
}

static void test_masked_fill_grad(void)
{
    int64_t s[3] = {2, 3, 4}, sm[2] = {3, 1};
    float md[3] = {0, 1, 0};
    mgv_tensor *x = rnd(3, s, 9), *m = mgv_from_data(2, sm, md);
    CHECK(gradcheck("masked_fill", f_masked_fill, m, 1, &x, NULL));   /* default tol */
    /* no gradient where filled (the middle row of each [3x4] block) */
    if (x->grad)
        for (int b = 0; b < 2; b++)
            for (int j = 0; j < 4; j++) CHECK(mgv_get_flat(x->grad, b * 12 + 4 + j) == 0);
    mgv_release(x);
    mgv_release(m);
}

/* ---- embedding ------------------------------------------------------------- */

static void test_embedding_values(void)
{
    float w[15];
    for (int i = 0; i < 15; i++) w[i] = (float)i;
    int64_t sw[2] = {5, 3}, sh[2] = {2, 2}, idx[4] = {1, 4, 1, 0};
    mgv_tensor *W = mgv_from_data(2, sw, w);
    mgv_tensor *y = mgv_embedding(W, idx, 2, sh);
    CHECK(y && y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 2 && y->shape[2] == 3);
    if (y)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++)
                CHECK(mgv_get_flat(y, i * 3 + j) == (float)(idx[i] * 3 + j));
    mgv_release(y);
    /* 0-d index: a single row of shape [3] */
    y = mgv_embedding(W, idx + 1, 0, NULL);
    CHECK(y && y->ndim == 1 && y->shape[0] == 3 && mgv_get_flat(y, 0) == 12);
    mgv_release(y);
    int64_t badi[2] = {2, 5}, negi[2] = {-1, 0}, s2[1] = {2};
    CHECK(mgv_embedding(W, badi, 1, s2) == NULL);
    CHECK_ERROR_HAS("embedding: index 5");
    CHECK_ERROR_HAS("out of range for 5 rows");
    CHECK(mgv_embedding(W, negi, 1, s2) == NULL);
    CHECK_ERROR_HAS("index -1");
    mgv_release(W);
}

typedef struct {
    const int64_t *idx;
    int ndim;
    const int64_t *shape;
} emb_ctx;

static mgv_tensor *f_embedding(mgv_tensor **in, void *ctx)
{
    emb_ctx *c = ctx;
    return mgv_embedding(in[0], c->idx, c->ndim, c->shape);
}

static void test_embedding_grad(void)
{
    int64_t sw[2] = {6, 4}, sh[2] = {2, 3}, idx[6] = {2, 5, 2, 0, 2, 5};   /* repeats */
    mgv_tensor *W = rnd(2, sw, 10);
    emb_ctx c = {idx, 2, sh};
    CHECK(gradcheck("embedding", f_embedding, &c, 1, &W, NULL));   /* default tol */
    /* rows never picked get no gradient */
    if (W->grad)
        for (int j = 0; j < 4; j++)
            CHECK(mgv_get_flat(W->grad, 4 + j) == 0 && mgv_get_flat(W->grad, 12 + j) == 0);
    mgv_release(W);
}

/* ---- cosine_similarity --------------------------------------------------------- */

static void test_cosine_values(void)
{
    float da[3] = {1, 0, 0}, db[3] = {1, 1, 0}, dz[3] = {0, 0, 0};
    int64_t s[1] = {3};
    mgv_tensor *a = mgv_from_data(1, s, da), *b = mgv_from_data(1, s, db),
               *z = mgv_from_data(1, s, dz);
    mgv_tensor *y = mgv_cosine_similarity(a, b, 0, 1e-8f);
    CHECK(y && y->ndim == 0);
    if (y) CHECK_NEAR(mgv_get_flat(y, 0), 1 / sqrt(2.0), 1e-6);
    mgv_release(y);
    y = mgv_cosine_similarity(z, b, -1, 1e-8f);   /* zero vector: 0, no NaN */
    CHECK(y && mgv_get_flat(y, 0) == 0);
    mgv_release(y);
    /* broadcast [4,1,3] with [5,3] along the last axis -> [4,5], vs a formula */
    int64_t sa[3] = {4, 1, 3}, sb[2] = {5, 3};
    mgv_tensor *p = rnd(3, sa, 11), *q = rnd(2, sb, 12);
    y = mgv_cosine_similarity(p, q, -1, 1e-8f);
    CHECK(y && y->ndim == 2 && y->shape[0] == 4 && y->shape[1] == 5);
    if (y)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 5; j++) {
                double s2 = 0, n1 = 0, n2 = 0;
                for (int k = 0; k < 3; k++) {
                    double u = mgv_get_flat(p, i * 3 + k), v = mgv_get_flat(q, j * 3 + k);
                    s2 += u * v;
                    n1 += u * u;
                    n2 += v * v;
                }
                CHECK_NEAR(mgv_get_flat(y, i * 5 + j), s2 / sqrt(n1 * n2), 1e-6);
            }
    mgv_release(y);
    /* along axis 0 of [3x2] vs [3x1] -> [2] */
    float dc[6] = {1, 0, 0, 1, 0, 0}, dd[3] = {1, 1, 0};
    int64_t sc[2] = {3, 2}, sd[2] = {3, 1};
    mgv_tensor *c = mgv_from_data(2, sc, dc), *d = mgv_from_data(2, sd, dd);
    y = mgv_cosine_similarity(c, d, 0, 1e-8f);
    CHECK(y && y->ndim == 1 && y->shape[0] == 2);
    if (y) {
        CHECK_NEAR(mgv_get_flat(y, 0), 1 / sqrt(2.0), 1e-6);
        CHECK_NEAR(mgv_get_flat(y, 1), 1 / sqrt(2.0), 1e-6);
    }
    mgv_release(y);
    /* eps clamps the denominator: |a||b| = 0.01 < eps = 0.1 -> s / eps */
    float e1[2] = {0.1f, 0}, e2[2] = {0.1f, 0};
    int64_t s2d[1] = {2};
    mgv_tensor *u = mgv_from_data(1, s2d, e1), *v = mgv_from_data(1, s2d, e2);
    y = mgv_cosine_similarity(u, v, 0, 0.1f);
    CHECK(y && fabs(mgv_get_flat(y, 0) - 0.1) < 1e-6);
    mgv_release(y);
    CHECK(mgv_cosine_similarity(p, c, -1, 1e-8f) == NULL);
    CHECK_ERROR_HAS("cosine_similarity: shapes [4x1x3] and [3x2] do not broadcast");
    CHECK(mgv_cosine_similarity(p, q, 3, 1e-8f) == NULL);
    CHECK_ERROR_HAS("axis 3 out of range for shape [4x5x3]");
    mgv_tensor *all[] = {a, b, z, p, q, c, d, u, v};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) mgv_release(all[i]);
}

typedef struct {
    int axis;
    float eps;
} cos_ctx;

static mgv_tensor *f_cosine(mgv_tensor **in, void *ctx)
{
    cos_ctx *c = ctx;
    return mgv_cosine_similarity(in[0], in[1], c->axis, c->eps);
}

static void test_cosine_grad(void)
{
    int64_t sa[3] = {4, 1, 3}, sb[2] = {5, 3};
    mgv_tensor *in[2] = {rnd(3, sa, 13), rnd(2, sb, 14)};
    cos_ctx c = {-1, 1e-8f};
    CHECK(gradcheck("cosine broadcast last axis", f_cosine, &c, 2, in, NULL));   /* default */
    mgv_release(in[0]);
    mgv_release(in[1]);
    int64_t s3[3] = {3, 4, 2};
    mgv_tensor *jn[2] = {rnd(3, s3, 15), rnd(3, s3, 16)};
    c.axis = 1;
    CHECK(gradcheck("cosine middle axis", f_cosine, &c, 2, jn, NULL));
    /* the eps branch: |a||b| <= eps everywhere (inputs ~0.05, eps = 1) */
    mgv_tensor *kn[2] = {gradcheck_input(3, s3, 17, -0.05f, 0.05f), gradcheck_input(3, s3, 18, -0.05f, 0.05f)};
    cos_ctx ce = {1, 1.0f};
    gradcheck_opts o = {1e-3, 1e-4, 1e-2, 0};   /* small values: h = 1e-3, atol 1e-4 */
    CHECK(gradcheck("cosine eps branch", f_cosine, &ce, 2, kn, &o));
    for (int i = 0; i < 2; i++) {
        mgv_release(jn[i]);
        mgv_release(kn[i]);
    }
}

/* ---- l2_norm ------------------------------------------------------------------ */

static void test_l2_norm_values(void)
{
    float d[6] = {3, 4, 0, 0, 0, 0};
    int64_t s[2] = {3, 2};
    mgv_tensor *x = mgv_from_data(2, s, d);
    mgv_set_requires_grad(x, 1);
    mgv_tensor *y = mgv_l2_norm(x, -1, 0), *k = mgv_l2_norm(x, 1, 1), *c = mgv_l2_norm(x, 0, 0);
    CHECK(y && y->ndim == 1 && y->shape[0] == 3);
    CHECK(k && k->ndim == 2 && k->shape[0] == 3 && k->shape[1] == 1);
    CHECK(c && c->ndim == 1 && c->shape[0] == 2);
    if (y && k && c) {
        CHECK_NEAR(mgv_get_flat(y, 0), 5, 1e-6);
        CHECK(mgv_get_flat(y, 1) == 0);
        CHECK_NEAR(mgv_get_flat(k, 0), 5, 1e-6);
        CHECK_NEAR(mgv_get_flat(c, 0), 3, 1e-6);
        CHECK_NEAR(mgv_get_flat(c, 1), 4, 1e-6);
        /* gradient x / |x|, 0 for the zero rows (no NaN) */
        mgv_tensor *g = mgv_ones(1, y->shape);
        CHECK(mgv_backward(y, g) == 0);
        mgv_release(g);
        if (x->grad) {
            CHECK_NEAR(mgv_get_flat(x->grad, 0), 0.6, 1e-6);
            CHECK_NEAR(mgv_get_flat(x->grad, 1), 0.8, 1e-6);
            for (int i = 2; i < 6; i++) CHECK(mgv_get_flat(x->grad, i) == 0);
        } else {
            CHECK(x->grad != NULL);
        }
    }
    CHECK(mgv_l2_norm(x, 2, 0) == NULL);
    CHECK_ERROR_HAS("l2_norm: axis 2 out of range for shape [3x2]");
    mgv_release(y);
    mgv_release(k);
    mgv_release(c);
    mgv_release(x);
}

typedef struct {
    int axis, keepdim;
} l2_ctx;

static mgv_tensor *f_l2(mgv_tensor **in, void *ctx)
{
    l2_ctx *c = ctx;
    return mgv_l2_norm(in[0], c->axis, c->keepdim);
}

static void test_l2_norm_grad(void)
{
    int64_t s[3] = {3, 4, 2};
    mgv_tensor *x = rnd(3, s, 19);
    const l2_ctx cases[4] = {{0, 0}, {1, 1}, {-1, 0}, {-1, 1}};
    char name[64];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "l2_norm axis %d keepdim %d", cases[i].axis, cases[i].keepdim);
        CHECK(gradcheck(name, f_l2, (void *)&cases[i], 1, &x, NULL));   /* default tol */
    }
    mgv_release(x);
}

int main(void)
{
    RUN(test_layer_norm_values);
    RUN(test_layer_norm_grad);
    RUN(test_dropout_statistics);
    RUN(test_dropout_determinism_and_identity);
    RUN(test_dropout_keyed_draws);
    RUN(test_dropout_grad);
    RUN(test_masked_fill_values);
    RUN(test_masked_fill_grad);
    RUN(test_embedding_values);
    RUN(test_embedding_grad);
    RUN(test_cosine_values);
    RUN(test_cosine_grad);
    RUN(test_l2_norm_values);
    RUN(test_l2_norm_grad);
    return CHECK_DONE();
}
