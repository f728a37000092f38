/*
 * test_ops_matmul.c — matmul and linear: values against an independent naive
 * triple loop (broadcast batches, transposed and strided views, 3-d @ 2-d),
 * shape errors, and finite-difference gradients of every input.
 *
 * Gradient tolerances: the products are linear in each input, so central
 * differences are exact up to float rounding of the forward pass (about
 * 1e-6 * k / h with k <= 8 here); the default atol 2e-3, rtol 1e-2 with
 * h = 1e-2 is used throughout.
 */
#include "check.h"
#include "gradcheck.h"
#include "mgv.h"
#include "core/parallel.h"

/* ---- naive reference ------------------------------------------------------ */

/* Flat batch index of t (batch axes of t) for the out batch multi-index. */
static int64_t ref_batch(const mgv_tensor *t, int nb, const int64_t *bidx)
{
    int tb = t->ndim - 2;
    int64_t f = 0;
    for (int d = 0; d < tb; d++) {
        int64_t i = t->shape[d] == 1 ? 0 : bidx[d + nb - tb];
        f = f * t->shape[d] + i;
    }
    return f;
}

/* Checks y == a @ b elementwise (double sums over mgv_get_flat, which follows
 * any strides), with broadcast batches. Returns the number of mismatches. */
static int ref_check(mgv_tensor *a, mgv_tensor *b, mgv_tensor *y, double tol)
{
    int64_t n = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1], m = b->shape[b->ndim - 1];
    int nb = y->ndim - 2;
    int64_t nbatch = mgv_shape_numel(nb, y->shape), bad = 0;
    for (int64_t bi = 0; bi < nbatch; bi++) {
        int64_t bidx[MGV_MAX_DIMS], r = bi;
        for (int d = nb - 1; d >= 0; d--) {
            bidx[d] = r % y->shape[d];
            r /= y->shape[d];
        }
        int64_t ab = ref_batch(a, nb, bidx), bb = ref_batch(b, nb, bidx);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) {
                double s = 0;
                for (int64_t q = 0; q < k; q++)
                    s += (double)mgv_get_flat(a, ab * n * k + i * k + q) *
                         mgv_get_flat(b, bb * k * m + q * m + j);
                double v = mgv_get_flat(y, bi * n * m + i * m + j);
                if (fabs(v - s) > tol * (1 + fabs(s))) {
                    if (bad++ < 3)
                        printf("  batch %lld (%lld,%lld): %.7g vs naive %.7g\n", (long long)bi,
                               (long long)i, (long long)j, v, s);
                }
            }
    }
    return (int)bad;
}

static mgv_tensor *rnd(int ndim, const int64_t *shape, uint64_t seed)
{
    return gradcheck_input(ndim, shape, seed, -1.0f, 1.0f);
}

/* A transposed view of the last two axes of t. */
static mgv_tensor *transposed(mgv_tensor *t)
{
    int64_t shape[MGV_MAX_DIMS], stride[MGV_MAX_DIMS];
    int nd = t->ndim;
    for (int d = 0; d < nd; d++) {
        shape[d] = t->shape[d];
        stride[d] = t->stride[d];
    }
    shape[nd - 2] = t->shape[nd - 1];
    shape[nd - 1] = t->shape[nd - 2];
    stride[nd - 2] = t->stride[nd - 1];
    stride[nd - 1] = t->stride[nd - 2];
    return mgv_view_of(t, nd, shape, stride, t->offset);
}

/* ---- forward values ---------------------------------------------------------- */

static void test_matmul_2d_values(void)
{
    int64_t sa[2] = {7, 5}, sb[2] = {5, 3};
    mgv_tensor *a = rnd(2, sa, 1), *b = rnd(2, sb, 2);
    mgv_tensor *y = mgv_matmul(a, b);
    CHECK(y && y->ndim == 2 && y->shape[0] == 7 && y->shape[1] == 3);
    if (y) CHECK(ref_check(a, b, y, 1e-5) == 0);
    mgv_release(y);
    /* a hand-computed 2x2 */
    float da[4] = {1, 2, 3, 4}, db[4] = {5, 6, 7, 8};
    int64_t s2[2] = {2, 2};
    mgv_tensor *p = mgv_from_data(2, s2, da), *q = mgv_from_data(2, s2, db);
    mgv_tensor *r = mgv_matmul(p, q);
    CHECK(r && mgv_get_flat(r, 0) == 19 && mgv_get_flat(r, 1) == 22 && mgv_get_flat(r, 2) == 43 &&
          mgv_get_flat(r, 3) == 50);
    CHECK(r && !r->requires_grad && !r->node);   /* no inputs require grad: no node */
    mgv_release(r);
    mgv_release(p);
    mgv_release(q);
    mgv_release(a);
    mgv_release(b);
}

static void test_matmul_large_values(void)
{
    /* big enough for OpenBLAS's blocked kernels */
    int64_t sa[2] = {67, 129}, sb[2] = {129, 95};
    mgv_tensor *a = rnd(2, sa, 3), *b = rnd(2, sb, 4);
    mgv_tensor *y = mgv_matmul(a, b);
    CHECK(y != NULL);
    if (y) CHECK(ref_check(a, b, y, 1e-5) == 0);
    mgv_release(y);
    mgv_release(a);
    mgv_release(b);
}

static void test_matmul_batched_values(void)
{
    struct {
        int na, nb;
        int64_t sa[4], sb[4], sy[4];
        int ny;
    } cases[] = {
        {3, 3, {2, 3, 4}, {2, 4, 5}, {2, 3, 5}, 3},            /* plain batch */
        {4, 3, {2, 1, 3, 4}, {3, 4, 5}, {2, 3, 3, 5}, 4},      /* broadcast batch */
        {3, 2, {4, 3, 5}, {5, 2}, {4, 3, 2}, 3},               /* 3-d @ 2-d: one GEMM */
        {4, 2, {2, 3, 3, 5}, {5, 2}, {2, 3, 3, 2}, 4},         /* 4-d @ 2-d */
        {2, 3, {3, 4}, {2, 4, 5}, {2, 3, 5}, 3},               /* 2-d @ 3-d */
        {4, 4, {2, 1, 3, 4}, {1, 3, 4, 2}, {2, 3, 3, 2}, 4},   /* both broadcast */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mgv_tensor *a = rnd(cases[c].na, cases[c].sa, 10 + c), *b = rnd(cases[c].nb, cases[c].sb, 20 + c);
        mgv_tensor *y = mgv_matmul(a, b);
        CHECK(y != NULL);
        if (y) {
            CHECK(y->ndim == cases[c].ny);
            for (int d = 0; d < y->ndim && d < 4; d++) CHECK(y->shape[d] == cases[c].sy[d]);
            CHECK(ref_check(a, b, y, 1e-5) == 0);
        }
        mgv_release(y);
        mgv_release(a);
        mgv_release(b);
    }
}

static void test_matmul_views(void)
{
    /* a^T and b^T as strided views (BLAS transpose flags, no copies) */
    int64_t s1[2] = {5, 7}, s2[2] = {3, 5};
    mgv_tensor *a0 = rnd(2, s1, 31), *b0 = rnd(2, s2, 32);
    mgv_tensor *a = transposed(a0), *b = transposed(b0);   /* [7x5], [5x3] */
    mgv_tensor *y = mgv_matmul(a, b);
    CHECK(y && y->shape[0] == 7 && y->shape[1] == 3);
    if (y) CHECK(ref_check(a, b, y, 1e-5) == 0);
    mgv_release(y);
    /* batched transposed view (not collapsible) @ 2-d */
    int64_t s3[3] = {2, 5, 3}, s4[2] = {5, 4};
    mgv_tensor *c0 = rnd(3, s3, 33), *d = rnd(2, s4, 34);
    mgv_tensor *c = transposed(c0);   /* [2x3x5] */
    y = mgv_matmul(c, d);
    CHECK(y && y->ndim == 3 && y->shape[1] == 3 && y->shape[2] == 4);
    if (y) CHECK(ref_check(c, d, y, 1e-5) == 0);
    mgv_release(y);
    /* every other column: no unit stride at all, goes through a copy */
    int64_t s5[2] = {4, 10};
    mgv_tensor *e0 = rnd(2, s5, 35);
    int64_t vs[2] = {4, 5}, vst[2] = {10, 2};
    mgv_tensor *e = mgv_view_of(e0, 2, vs, vst, 1);
    mgv_tensor *f = rnd(2, s4, 36);
    y = mgv_matmul(e, f);
    CHECK(y != NULL);
    if (y) CHECK(ref_check(e, f, y, 1e-5) == 0);
    mgv_release(y);
    /* q @ k^T as in attention: [2,3,4] @ transposed [2,3,4] */
    int64_t sq[3] = {2, 3, 4};
    mgv_tensor *q = rnd(3, sq, 37), *k0 = rnd(3, sq, 38);
    mgv_tensor *k = transposed(k0);
    y = mgv_matmul(q, k);
    CHECK(y && y->shape[1] == 3 && y->shape[2] == 3);
    if (y) CHECK(ref_check(q, k, y, 1e-5) == 0);
    mgv_release(y);
    mgv_tensor *all[] = {a0, b0, a, b, c0, c, d, e0, e, f, q, k0, k};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) mgv_release(all[i]);
}

static void test_matmul_errors(void)
{
    int64_t sa[2] = {16, 768}, sb[2] = {512, 8};
    mgv_tensor *a = mgv_zeros(2, sa), *b = mgv_zeros(2, sb);
    CHECK(mgv_matmul(a, b) == NULL);
    CHECK_ERROR_HAS("matmul: shapes [16x768] and [512x8] do not fit");
    int64_t s3[3] = {2, 3, 4}, s4[3] = {3, 4, 5}, s1[1] = {4};
    mgv_tensor *c = mgv_zeros(3, s3), *d = mgv_zeros(3, s4), *v = mgv_zeros(1, s1);
    CHECK(mgv_matmul(c, d) == NULL);
    CHECK_ERROR_HAS("matmul: shapes [2x3x4] and [3x4x5] do not fit");
    CHECK_ERROR_HAS("broadcast");
    CHECK(mgv_matmul(c, v) == NULL);
    CHECK_ERROR_HAS("at least 2 dimensions");
    mgv_release(a);
    mgv_release(b);
    mgv_release(c);
    mgv_release(d);
    mgv_release(v);
}

static void test_matmul_empty(void)
{
    /* k = 0: the product is all zeros; gradients are zero-size or zeros */
    int64_t sa[2] = {2, 0}, sb[2] = {0, 3}, sc[2] = {0, 3}, sd[2] = {3, 4};
    mgv_tensor *a = mgv_zeros(2, sa), *b = mgv_zeros(2, sb);
    mgv_set_requires_grad(a, 1);
    mgv_set_requires_grad(b, 1);
    mgv_tensor *y = mgv_matmul(a, b);
    CHECK(y && y->shape[0] == 2 && y->shape[1] == 3);
    if (y) {
        for (int i = 0; i < 6; i++) CHECK(mgv_get_flat(y, i) == 0);
        mgv_tensor *g = mgv_ones(2, y->shape);
        CHECK(mgv_backward(y, g) == 0);
        CHECK(a->grad && mgv_numel(a->grad) == 0);
        mgv_release(g);
    }
    mgv_release(y);
    mgv_tensor *c = mgv_zeros(2, sc), *d = mgv_zeros(2, sd);
    y = mgv_matmul(c, d);
    CHECK(y && y->shape[0] == 0 && y->shape[1] == 4);
    mgv_release(y);
    mgv_release(a);
    mgv_release(b);
    mgv_release(c);
    mgv_release(d);
}

/* ---- gradients ----------------------------------------------------------------- */

static mgv_tensor *f_matmul(mgv_tensor **in, void *ctx) { return mgv_matmul(in[0], in[1]); }

static void grad_case(const char *name, int na, const int64_t *sa, int nb, const int64_t *sb,
                      int ta, int tb)
{
    mgv_tensor *a0 = rnd(na, sa, 41), *b0 = rnd(nb, sb, 42);
    mgv_tensor *in[2] = {ta ? transposed(a0) : mgv_retain(a0), tb ? transposed(b0) : mgv_retain(b0)};
    CHECK(gradcheck(name, f_matmul, NULL, 2, in, NULL));   /* default atol 2e-3, rtol 1e-2 */
    mgv_release(in[0]);
    mgv_release(in[1]);
    mgv_release(a0);
    mgv_release(b0);
}

static void test_matmul_grad(void)
{
    int64_t a2[2] = {4, 3}, b2[2] = {3, 5};
    grad_case("2-d", 2, a2, 2, b2, 0, 0);
    int64_t a3[3] = {2, 3, 4}, b3[3] = {2, 4, 2};
    grad_case("batched 3-d", 3, a3, 3, b3, 0, 0);
    int64_t a4[4] = {2, 1, 3, 4}, b4[3] = {3, 4, 2};
    grad_case("4-d with broadcast batch", 4, a4, 3, b4, 0, 0);
    int64_t a5[4] = {1, 2, 3, 2}, b5[4] = {2, 1, 2, 3};
    grad_case("4-d both broadcast", 4, a5, 4, b5, 0, 0);
    int64_t a6[3] = {2, 3, 4}, b6[2] = {4, 5};
    grad_case("3-d @ 2-d", 3, a6, 2, b6, 0, 0);
    int64_t a7[2] = {3, 4}, b7[3] = {2, 4, 2};
    grad_case("2-d @ 3-d", 2, a7, 3, b7, 0, 0);
    /* transposed views: a given as [3x4]^T, b as [5x3]^T */
    int64_t a8[2] = {3, 4}, b8[2] = {5, 3};
    grad_case("transposed views", 2, a8, 2, b8, 1, 1);
    int64_t a9[3] = {2, 4, 3}, b9[2] = {4, 2};
    grad_case("batched transposed @ 2-d", 3, a9, 2, b9, 1, 0);
}

/* ---- linear ---------------------------------------------------------------------- */

/* y == x W^T + bias, naive. */
static int linear_ref_check(mgv_tensor *x, mgv_tensor *W, mgv_tensor *bias, mgv_tensor *y)
{
    int64_t in = W->shape[1], out = W->shape[0], R = mgv_numel(x) / in, bad = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = bias ? mgv_get_flat(bias, o) : 0;
            for (int64_t i = 0; i < in; i++)
                s += (double)mgv_get_flat(x, r * in + i) * mgv_get_flat(W, o * in + i);
            if (fabs(s - mgv_get_flat(y, r * out + o)) > 1e-5 * (1 + fabs(s))) bad++;
        }
    return (int)bad;
}

/* Many small batches run one GEMM per thread: the values match the naive
 * product, the gradients match dA = dY B^T and dB = A^T dY summed naively,
 * a broadcast b (its gradient summed over batches) too, and 1 and 2
 * threads give the same numbers. */
static void test_matmul_batches_threaded(void)
{
    int64_t as[3] = {24, 16, 8}, bs[3] = {24, 8, 12}, bs1[3] = {1, 8, 12}, ys[3] = {24, 16, 12};
    for (int bcast = 0; bcast < 2; bcast++) {
        mgv_tensor *y_t[2] = {NULL, NULL}, *ga_t[2] = {NULL, NULL}, *gb_t[2] = {NULL, NULL};
        mgv_tensor *a = rnd(3, as, 71), *b = rnd(3, bcast ? bs1 : bs, 72), *gy = rnd(3, ys, 73);
        mgv_set_requires_grad(a, 1);
        mgv_set_requires_grad(b, 1);
        int nt = mgv_get_num_threads();
        for (int t = 0; t < 2; t++) {
            mgv_set_num_threads(t ? 2 : 1);
            mgv_zero_grad(a);
            mgv_zero_grad(b);
            mgv_tensor *y = mgv_matmul(a, b);
            CHECK(y && ref_check(a, b, y, 1e-5) == 0);
            CHECK(y && mgv_backward(y, gy) == 0);
            y_t[t] = y;
            ga_t[t] = a->grad ? mgv_clone_data(a->grad) : NULL;
            gb_t[t] = b->grad ? mgv_clone_data(b->grad) : NULL;
        }
        mgv_set_num_threads(nt);
        CHECK(ga_t[1] && gb_t[1]);
        int bad = 0;
        for (int64_t i = 0; ga_t[1] && i < 24 * 16 * 8; i++) {   /* dA[z,i,q] = sum_j dY[z,i,j] B[z,q,j] */
            int64_t z = i / 128, r = i / 8 % 16, q = i % 8, zb = bcast ? 0 : z;
            double s = 0;
            for (int64_t j = 0; j < 12; j++)
                s += (double)mgv_get_flat(gy, z * 192 + r * 12 + j) * mgv_get_flat(b, zb * 96 + q * 12 + j);
            bad += fabs(mgv_get_flat(ga_t[1], i) - s) > 1e-5 * (1 + fabs(s));
        }
        for (int64_t i = 0; gb_t[1] && i < mgv_numel(b); i++) {   /* dB[z,q,j] = sum_i A[z,i,q] dY[z,i,j] */
            int64_t z = i / 96, q = i / 12 % 8, j = i % 12;
            double s = 0;
            for (int64_t zz = 0; zz < 24; zz++) {
                if (!bcast && zz != z) continue;
                for (int64_t r = 0; r < 16; r++)
                    s += (double)mgv_get_flat(a, zz * 128 + r * 8 + q) * mgv_get_flat(gy, zz * 192 + r * 12 + j);
            }
            bad += fabs(mgv_get_flat(gb_t[1], i) - s) > 1e-5 * (1 + fabs(s));
        }
        CHECK(bad == 0);
        for (int64_t i = 0; y_t[0] && y_t[1] && i < mgv_numel(y_t[0]); i++)
            bad += mgv_get_flat(y_t[0], i) != mgv_get_flat(y_t[1], i);
        for (int64_t i = 0; ga_t[0] && ga_t[1] && i < mgv_numel(a); i++)
            bad += mgv_get_flat(ga_t[0], i) != mgv_get_flat(ga_t[1], i);
        for (int64_t i = 0; gb_t[0] && gb_t[1] && i < mgv_numel(b); i++)
            bad += mgv_get_flat(gb_t[0], i) != mgv_get_flat(gb_t[1], i);
        CHECK(bad == 0);
        mgv_tensor *tmp[] = {a, b, gy, y_t[0], y_t[1], ga_t[0], ga_t[1], gb_t[0], gb_t[1]};
        for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) mgv_release(tmp[i]);
    }
}

static void test_linear_values(void)
{
    int64_t sx[3] = {2, 3, 4}, sw[2] = {5, 4}, sb[1] = {5};
    mgv_tensor *x = rnd(3, sx, 51), *W = rnd(2, sw, 52), *b = rnd(1, sb, 53);
    mgv_tensor *y = mgv_linear(x, W, b);
    CHECK(y && y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 5);
    if (y) CHECK(linear_ref_check(x, W, b, y) == 0);
    mgv_release(y);
    y = mgv_linear(x, W, NULL);
    CHECK(y != NULL);
    if (y) CHECK(linear_ref_check(x, W, NULL, y) == 0);
    mgv_release(y);
    /* 1-d input */
    mgv_tensor *v = rnd(1, sx + 2, 54);
    y = mgv_linear(v, W, b);
    CHECK(y && y->ndim == 1 && y->shape[0] == 5);
    if (y) CHECK(linear_ref_check(v, W, b, y) == 0);
    mgv_release(y);
    /* hand-computed: x = [1 2], W = [[1 0] [1 1] [0 -1]], b = [0.5 0 1] */
    float dx[2] = {1, 2}, dw[6] = {1, 0, 1, 1, 0, -1}, db[3] = {0.5f, 0, 1};
    int64_t s1[1] = {2}, s2[2] = {3, 2}, s3[1] = {3};
    mgv_tensor *hx = mgv_from_data(1, s1, dx), *hw = mgv_from_data(2, s2, dw),
               *hb = mgv_from_data(1, s3, db);
    y = mgv_linear(hx, hw, hb);
    CHECK(y && mgv_get_flat(y, 0) == 1.5f && mgv_get_flat(y, 1) == 3.0f &&
          mgv_get_flat(y, 2) == -1.0f);
    mgv_release(y);
    /* non-contiguous x (transposed) and W (transposed view of [in, out]) */
    int64_t sxt[2] = {4, 6}, swt[2] = {4, 5};
    mgv_tensor *xt0 = rnd(2, sxt, 55), *wt0 = rnd(2, swt, 56);
    mgv_tensor *xt = transposed(xt0), *wt = transposed(wt0);   /* [6x4], [5x4] */
    y = mgv_linear(xt, wt, b);
    CHECK(y && y->shape[0] == 6 && y->shape[1] == 5);
    if (y) CHECK(linear_ref_check(xt, wt, b, y) == 0);
    mgv_release(y);
    mgv_tensor *all[] = {x, W, b, v, hx, hw, hb, xt0, wt0, xt, wt};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) mgv_release(all[i]);
}

static void test_linear_errors(void)
{
    int64_t sx[2] = {16, 768}, sw[2] = {8, 512}, sb[1] = {7}, sw2[2] = {8, 768};
    mgv_tensor *x = mgv_zeros(2, sx), *W = mgv_zeros(2, sw), *b = mgv_zeros(1, sb),
               *W2 = mgv_zeros(2, sw2);
    CHECK(mgv_linear(x, W, NULL) == NULL);
    CHECK_ERROR_HAS("linear: input [16x768] and weight [8x512] do not fit");
    CHECK(mgv_linear(x, W2, b) == NULL);
    CHECK_ERROR_HAS("linear: bias [7] does not fit weight [8x768]");
    mgv_release(x);
    mgv_release(W);
    mgv_release(b);
    mgv_release(W2);
}

static mgv_tensor *f_linear_bias(mgv_tensor **in, void *ctx) { return mgv_linear(in[0], in[1], in[2]); }
static mgv_tensor *f_linear(mgv_tensor **in, void *ctx) { return mgv_linear(in[0], in[1], NULL); }

static void test_linear_grad(void)
{
    int64_t sx[3] = {2, 3, 4}, sw[2] = {5, 4}, sb[1] = {5};
    mgv_tensor *in[3] = {rnd(3, sx, 61), rnd(2, sw, 62), rnd(1, sb, 63)};
    /* default tolerance (linear in each input) */
    CHECK(gradcheck("linear with bias", f_linear_bias, NULL, 3, in, NULL));
    CHECK(gradcheck("linear without bias", f_linear, NULL, 2, in, NULL));
    /* W as a transposed view, x a transposed view */
    int64_t swt[2] = {4, 5}, sxt[2] = {4, 3};
    mgv_tensor *w0 = rnd(2, swt, 64), *x0 = rnd(2, sxt, 65);
    mgv_tensor *vin[3] = {transposed(x0), transposed(w0), in[2]};
    CHECK(gradcheck("linear on views", f_linear_bias, NULL, 3, vin, NULL));
    mgv_release(vin[0]);
    mgv_release(vin[1]);
    mgv_release(w0);
    mgv_release(x0);
    for (int i = 0; i < 3; i++) mgv_release(in[i]);
}

int main(void)
{
    RUN(test_matmul_2d_values);
    RUN(test_matmul_large_values);
    RUN(test_matmul_batched_values);
    RUN(test_matmul_views);
    RUN(test_matmul_errors);
    RUN(test_matmul_empty);
    RUN(test_matmul_grad);
    RUN(test_matmul_batches_threaded);
    RUN(test_linear_values);
    RUN(test_linear_errors);
    RUN(test_linear_grad);
    return CHECK_DONE();
}
