/*
 * test_ops_elementwise.c — broadcasting arithmetic and unary maps: forward
 * values (hand-computed or from libm in double), broadcasting rules and their
 * error messages, strided inputs, empty and 8-d tensors, finite-difference
 * gradient checks for every op, and the autograd tape's accumulation and
 * release behaviour.
 *
 * Gradient checks use gradcheck.h's defaults (h = 1e-2, atol 2e-3, rtol 1e-2)
 * unless a comment at the check says otherwise.
 */
#include "check.h"
#include "gradcheck.h"
#include "testutil.h"
#include "core/parallel.h"

/* ---- gradcheck adaptors ---------------------------------------------------- */

typedef struct { mgv_tensor *(*f)(mgv_tensor *, mgv_tensor *); } bin_ctx;
typedef struct { mgv_tensor *(*f)(mgv_tensor *); } un_ctx;
typedef struct { mgv_tensor *(*f)(mgv_tensor *, float); float p; } par_ctx;

static mgv_tensor *f_bin(mgv_tensor **in, void *ctx) { return ((bin_ctx *)ctx)->f(in[0], in[1]); }
static mgv_tensor *f_un(mgv_tensor **in, void *ctx) { return ((un_ctx *)ctx)->f(in[0]); }
static mgv_tensor *f_par(mgv_tensor **in, void *ctx)
{
    par_ctx *c = ctx;
    return c->f(in[0], c->p);
}
/* same tensor twice: x * x */
static mgv_tensor *f_square(mgv_tensor **in, void *ctx) { return mgv_mul(in[0], in[0]); }
/* a transposed (non-contiguous) view fed into a binary op */
static mgv_tensor *f_transposed_bin(mgv_tensor **in, void *ctx)
{
    mgv_tensor *t = mgv_transpose(in[0], 0, 1);
    mgv_tensor *y = ((bin_ctx *)ctx)->f(t, in[1]);
    mgv_release(t);
    return y;
}
/* a transposed view fed into a unary op */
static mgv_tensor *f_transposed_un(mgv_tensor **in, void *ctx)
{
    mgv_tensor *t = mgv_transpose(in[0], 0, -1);
    mgv_tensor *y = ((un_ctx *)ctx)->f(t);
    mgv_release(t);
    return y;
}

/* Runs one gradcheck over two fresh inputs and releases them. */
static int check_bin(const char *name, mgv_tensor *(*f)(mgv_tensor *, mgv_tensor *),
                     mgv_tensor *a, mgv_tensor *b, gradcheck_opts *opt, int transposed)
{
    bin_ctx c = {f};
    mgv_tensor *in[2] = {a, b};
    int ok = gradcheck(name, transposed ? f_transposed_bin : f_bin, &c, 2, in, opt);
    mgv_release(a);
    mgv_release(b);
    return ok;
}

static int check_un(const char *name, mgv_tensor *(*f)(mgv_tensor *), mgv_tensor *x,
                    gradcheck_opts *opt, int transposed)
{
    un_ctx c = {f};
    mgv_tensor *in[1] = {x};
    int ok = gradcheck(name, transposed ? f_transposed_un : f_un, &c, 1, in, opt);
    mgv_release(x);
    return ok;
}

static int check_par(const char *name, mgv_tensor *(*f)(mgv_tensor *, float), float p,
                     mgv_tensor *x, gradcheck_opts *opt)
{
    par_ctx c = {f, p};
    mgv_tensor *in[1] = {x};
    int ok = gradcheck(name, f_par, &c, 1, in, opt);
    mgv_release(x);
    return ok;
}

static mgv_tensor *rnd(int ndim, const int64_t *shape, uint64_t seed, float lo, float hi)
{
    return gradcheck_input(ndim, shape, seed, lo, hi);
}

/* Values with |x| in [0.2, 1], alternating sign: away from relu's kink. */
static mgv_tensor *away_from_zero(int ndim, const int64_t *shape, uint64_t seed)
{
    mgv_tensor *t = rnd(ndim, shape, seed, 0.2f, 1.0f);
    for (int64_t i = 0; i < mgv_numel(t); i += 2) mgv_set_flat(t, i, -mgv_get_flat(t, i));
    return t;
}

/* ---- broadcasting ------------------------------------------------------------ */

static void test_broadcast_shape(void)
{
    mgv_tensor *a = mgv_zeros(3, SHAPE(2, 3, 4)), *b = mgv_zeros(2, SHAPE(3, 1));
    mgv_tensor *c = mgv_zeros(1, SHAPE(4)), *s = mgv_scalar(1);
    mgv_tensor *e = mgv_zeros(2, SHAPE(0, 3)), *e1 = mgv_zeros(2, SHAPE(1, 3));
    int nd;
    int64_t sh[MGV_MAX_DIMS];
    CHECK(mgv_broadcast_shape("add", a, b, &nd, sh) == 0 && nd == 3 && sh[0] == 2 &&
          sh[1] == 3 && sh[2] == 4);
    CHECK(mgv_broadcast_shape("add", c, a, &nd, sh) == 0 && nd == 3 && sh[0] == 2 &&
          sh[1] == 3 && sh[2] == 4);
    CHECK(mgv_broadcast_shape("add", b, c, &nd, sh) == 0 && nd == 2 && sh[0] == 3 && sh[1] == 4);
    CHECK(mgv_broadcast_shape("add", s, s, &nd, sh) == 0 && nd == 0);
    CHECK(mgv_broadcast_shape("add", s, b, &nd, sh) == 0 && nd == 2 && sh[0] == 3 && sh[1] == 1);
    /* a size-1 axis stretches to 0 as to any size */
    CHECK(mgv_broadcast_shape("add", e, e1, &nd, sh) == 0 && nd == 2 && sh[0] == 0 && sh[1] == 3);
    /* [2x3] against [4] */
    mgv_tensor *f = mgv_zeros(2, SHAPE(2, 3));
    CHECK(mgv_broadcast_shape("add", f, c, &nd, sh) < 0);
    CHECK(strcmp(mgv_last_error(), "add: shapes [2x3] and [4] do not broadcast") == 0);
    mgv_release(a);
    mgv_release(b);
    mgv_release(c);
    mgv_release(s);
    mgv_release(e);
    mgv_release(e1);
    mgv_release(f);
}

static void test_binary_errors(void)
{
    mgv_tensor *a = mgv_zeros(2, SHAPE(2, 3)), *b = mgv_zeros(1, SHAPE(4));
    mgv_tensor *c = mgv_zeros(2, SHAPE(3, 2)), *z = mgv_zeros(1, SHAPE(0));
    mgv_tensor *w = mgv_zeros(1, SHAPE(2));
    CHECK(mgv_add(a, b) == NULL);
    CHECK(strcmp(mgv_last_error(), "add: shapes [2x3] and [4] do not broadcast") == 0);
    CHECK(mgv_sub(a, c) == NULL);
    CHECK_ERROR_HAS("sub: shapes [2x3] and [3x2] do not broadcast");
    CHECK(mgv_mul(c, a) == NULL);
    CHECK_ERROR_HAS("mul: shapes [3x2] and [2x3] do not broadcast");
    CHECK(mgv_div(z, w) == NULL);   /* 0 against 2: neither is 1 */
    CHECK_ERROR_HAS("div: shapes [0] and [2] do not broadcast");
    mgv_release(a);
    mgv_release(b);
    mgv_release(c);
    mgv_release(z);
    mgv_release(w);
}

/* ---- forward values ------------------------------------------------------------ */

static void test_binary_values(void)
{
    mgv_tensor *a = mgv_from_data(2, SHAPE(2, 3), DATA(1, 2, 3, 4, 5, 6));
    mgv_tensor *row = mgv_from_data(1, SHAPE(3), DATA(10, 20, 30));
    mgv_tensor *col = mgv_from_data(2, SHAPE(2, 1), DATA(1, 2));
    mgv_tensor *two = mgv_scalar(2);
    mgv_tensor *y;

    y = mgv_add(a, row);
    CHECK(y && shape_is(y, 2, SHAPE(2, 3)) && values_near(y, DATA(11, 22, 33, 14, 25, 36), 6, 0));
    mgv_release(y);
    y = mgv_sub(a, col);
    CHECK(y && values_near(y, DATA(0, 1, 2, 2, 3, 4), 6, 0));
    mgv_release(y);
    y = mgv_sub(col, a);   /* broadcast on the left operand */
    CHECK(y && values_near(y, DATA(0, -1, -2, -2, -3, -4), 6, 0));
    mgv_release(y);
    y = mgv_mul(two, a);
    CHECK(y && shape_is(y, 2, SHAPE(2, 3)) && values_near(y, DATA(2, 4, 6, 8, 10, 12), 6, 0));
    mgv_release(y);
    y = mgv_div(a, col);
    CHECK(y && values_near(y, DATA(1, 2, 3, 2, 2.5f, 3), 6, 0));
    mgv_release(y);
    y = mgv_div(two, two);   /* scalar op scalar is a scalar */
    CHECK(y && y->ndim == 0 && mgv_get_flat(y, 0) == 1.0f);
    mgv_release(y);
    y = mgv_mul(row, col);   /* [3] x [2x1] -> [2x3] outer product */
    CHECK(y && shape_is(y, 2, SHAPE(2, 3)) && values_near(y, DATA(10, 20, 30, 20, 40, 60), 6, 0));
    mgv_release(y);

    /* a transposed view: aT = [[1,4],[2,5],[3,6]] */
    mgv_tensor *at = mgv_transpose(a, 0, 1), *ones = mgv_ones(2, SHAPE(3, 2));
    CHECK(!mgv_is_contiguous(at));
    y = mgv_add(at, ones);
    CHECK(y && values_near(y, DATA(2, 5, 3, 6, 4, 7), 6, 0));
    mgv_release(y);
    y = mgv_sub(ones, at);
    CHECK(y && values_near(y, DATA(0, -3, -1, -4, -2, -5), 6, 0));
    mgv_release(y);
    mgv_release(at);
    mgv_release(ones);
    mgv_release(a);
    mgv_release(row);
    mgv_release(col);
    mgv_release(two);
}

/* The strided (odometer) path against an element-by-element formula, on a
 * size where rows and carries happen many times. */
static void test_strided_path_matches(void)
{
    mgv_tensor *a = rnd(2, SHAPE(37, 53), 1, -1, 1);
    mgv_tensor *b0 = rnd(2, SHAPE(53, 37), 2, -1, 1);
    mgv_tensor *bt = mgv_transpose(b0, 0, 1);   /* [37x53], non-contiguous */
    mgv_tensor *c = rnd(1, SHAPE(53), 3, 1, 2);
    mgv_tensor *y1 = mgv_mul(a, bt), *y2 = mgv_div(bt, c), *y3 = mgv_add(a, a);
    CHECK(y1 && y2 && y3);
    int bad = 0;
    for (int i = 0; i < 37 && y1 && y2 && y3; i++)
        for (int j = 0; j < 53; j++) {
            float av = mgv_get_flat(a, i * 53 + j), bv = mgv_get_flat(b0, j * 37 + i);
            float cv = mgv_get_flat(c, j);
            if (mgv_get_flat(y1, i * 53 + j) != av * bv) bad++;
            if (mgv_get_flat(y2, i * 53 + j) != bv / cv) bad++;
            if (mgv_get_flat(y3, i * 53 + j) != av + av) bad++;
        }
    CHECK(bad == 0);
    mgv_release(y1);
    mgv_release(y2);
    mgv_release(y3);
    mgv_release(a);
    mgv_release(b0);
    mgv_release(bt);
    mgv_release(c);
}

static void test_eight_dims(void)
{
    /* a [2,1,2,1,2,1,2,1] holds 0..15, b [1,2,1,2,1,2,1,2] holds 100*(0..15) */
    float da[16], db[16];
    for (int i = 0; i < 16; i++) {
        da[i] = (float)i;
        db[i] = 100.0f * (float)i;
    }
    mgv_tensor *a = mgv_from_data(8, SHAPE(2, 1, 2, 1, 2, 1, 2, 1), da);
    mgv_tensor *b = mgv_from_data(8, SHAPE(1, 2, 1, 2, 1, 2, 1, 2), db);
    mgv_tensor *y = mgv_add(a, b);
    CHECK(y && shape_is(y, 8, SHAPE(2, 2, 2, 2, 2, 2, 2, 2)));
    int bad = 0;
    for (int k = 0; y && k < 256; k++) {
        int i[8];
        for (int d = 0; d < 8; d++) i[d] = (k >> (7 - d)) & 1;
        float want = (float)(i[0] * 8 + i[2] * 4 + i[4] * 2 + i[6]) +
                     100.0f * (float)(i[1] * 8 + i[3] * 4 + i[5] * 2 + i[7]);
        if (mgv_get_flat(y, k) != want) bad++;
    }
    CHECK(bad == 0);
    mgv_release(y);
    mgv_release(a);
    mgv_release(b);
}

static void test_empty(void)
{
    mgv_tensor *e = mgv_zeros(2, SHAPE(0, 3)), *r = mgv_ones(2, SHAPE(1, 3));
    mgv_tensor *y = mgv_add(e, r);
    CHECK(y && shape_is(y, 2, SHAPE(0, 3)) && mgv_numel(y) == 0);
    mgv_release(y);
    y = mgv_exp(e);
    CHECK(y && shape_is(y, 2, SHAPE(0, 3)));
    mgv_release(y);
    mgv_tensor *c = mgv_zeros(2, SHAPE(2, 0)), *k = mgv_ones(2, SHAPE(2, 1));
    y = mgv_mul(c, k);
    CHECK(y && shape_is(y, 2, SHAPE(2, 0)));
    mgv_release(y);
    /* gradients of an empty op are empty too */
    mgv_set_requires_grad(e, 1);
    y = mgv_mul(e, r);
    mgv_tensor *s = y ? mgv_sum_all(y) : NULL;
    CHECK(s && mgv_get_flat(s, 0) == 0.0f);
    CHECK(s && mgv_backward(s, NULL) == 0);
    CHECK(e->grad && shape_is(e->grad, 2, SHAPE(0, 3)));
    mgv_release(s);
    mgv_release(y);
    mgv_release(e);
    mgv_release(r);
    mgv_release(c);
    mgv_release(k);
}

static void test_unary_values(void)
{
    const float xs[] = {-3.0f, -1.0f, -0.5f, 0.0f, 0.25f, 1.0f, 2.0f, 4.0f};
    mgv_tensor *x = mgv_from_data(1, SHAPE(8), xs);
    mgv_tensor *pos = mgv_from_data(1, SHAPE(4), DATA(0.25f, 1.0f, 4.0f, 2.718281828f));
    mgv_tensor *y;
    float want[8];

    y = mgv_neg(x);
    for (int i = 0; i < 8; i++) want[i] = -xs[i];
    CHECK(y && values_near(y, want, 8, 0));
    mgv_release(y);
    y = mgv_exp(x);
    for (int i = 0; i < 8; i++) want[i] = (float)exp(xs[i]);
    CHECK(y && values_near(y, want, 8, 1e-5) && fabs(mgv_get_flat(y, 5) - 2.718281828) < 1e-6);
    mgv_release(y);
    y = mgv_log(pos);
    CHECK(y && values_near(y, DATA(-1.386294361f, 0, 1.386294361f, 1), 4, 1e-6));
    mgv_release(y);
    y = mgv_sqrt(pos);
    CHECK(y && values_near(y, DATA(0.5f, 1, 2, 1.6487212707f), 4, 1e-6));
    mgv_release(y);
    y = mgv_tanh(x);
    for (int i = 0; i < 8; i++) want[i] = (float)tanh(xs[i]);
    CHECK(y && values_near(y, want, 8, 1e-6) && fabs(mgv_get_flat(y, 2) + 0.46211715726) < 1e-6);
    mgv_release(y);
    y = mgv_relu(x);
    CHECK(y && values_near(y, DATA(0, 0, 0, 0, 0.25f, 1, 2, 4), 8, 0));
    mgv_release(y);
    /* gelu(x) = x Phi(x): Phi(1) = 0.8413447460685429, Phi(-1) = 0.15865525393145707 */
    y = mgv_gelu(x);
    for (int i = 0; i < 8; i++) want[i] = (float)(xs[i] * 0.5 * (1 + erf(xs[i] / sqrt(2.0))));
    CHECK(y && values_near(y, want, 8, 1e-6));
    CHECK(y && fabs(mgv_get_flat(y, 5) - 0.8413447460685429) < 1e-6);
    CHECK(y && fabs(mgv_get_flat(y, 1) + 0.15865525393145707) < 1e-6);
    CHECK(y && fabs(mgv_get_flat(y, 6) - 1.9544997361036416) < 1e-6);
    CHECK(y && mgv_get_flat(y, 3) == 0.0f);
    mgv_release(y);
    y = mgv_sigmoid(x);
    for (int i = 0; i < 8; i++) want[i] = (float)(1 / (1 + exp(-xs[i])));
    CHECK(y && values_near(y, want, 8, 1e-6) && mgv_get_flat(y, 3) == 0.5f);
    mgv_release(y);
    y = mgv_scale(x, -2.0f);
    for (int i = 0; i < 8; i++) want[i] = -2 * xs[i];
    CHECK(y && values_near(y, want, 8, 0));
    mgv_release(y);
    y = mgv_add_scalar(x, 1.5f);
    for (int i = 0; i < 8; i++) want[i] = xs[i] + 1.5f;
    CHECK(y && values_near(y, want, 8, 0));
    mgv_release(y);
    y = mgv_pow_scalar(x, 2.0f);
    CHECK(y && values_near(y, DATA(9, 1, 0.25f, 0, 0.0625f, 1, 4, 16), 8, 0));
    mgv_release(y);
    y = mgv_pow_scalar(x, 3.0f);
    CHECK(y && values_near(y, DATA(-27, -1, -0.125f, 0, 0.015625f, 1, 8, 64), 8, 1e-5));
    mgv_release(y);
    y = mgv_pow_scalar(pos, 0.5f);
    CHECK(y && values_near(y, DATA(0.5f, 1, 2, 1.6487212707f), 4, 1e-6));
    mgv_release(y);
    y = mgv_pow_scalar(pos, -1.0f);
    CHECK(y && values_near(y, DATA(4, 1, 0.25f, 0.36787944f), 4, 1e-6));
    mgv_release(y);

    /* extremes: no overflow to NaN */
    mgv_tensor *big = mgv_from_data(1, SHAPE(2), DATA(-100, 100));
    y = mgv_sigmoid(big);
    CHECK(y && mgv_get_flat(y, 0) >= 0 && mgv_get_flat(y, 0) < 1e-30 && mgv_get_flat(y, 1) == 1);
    mgv_release(y);
    y = mgv_tanh(big);
    CHECK(y && mgv_get_flat(y, 0) == -1 && mgv_get_flat(y, 1) == 1);
    mgv_release(y);
    y = mgv_gelu(big);
    CHECK(y && mgv_get_flat(y, 0) == 0 && mgv_get_flat(y, 1) == 100);
    mgv_release(y);

    /* unary on a strided view and on a 0-d scalar */
    mgv_tensor *m = mgv_from_data(2, SHAPE(2, 2), DATA(1, 2, 3, 4));
    mgv_tensor *mt = mgv_transpose(m, 0, 1);
    y = mgv_scale(mt, 10);
    CHECK(y && mgv_is_contiguous(y) && values_near(y, DATA(10, 30, 20, 40), 4, 0));
    mgv_release(y);
    mgv_tensor *s = mgv_scalar(-2);
    y = mgv_relu(s);
    CHECK(y && y->ndim == 0 && mgv_get_flat(y, 0) == 0);
    mgv_release(y);

    mgv_release(s);
    mgv_release(m);
    mgv_release(mt);
    mgv_release(big);
    mgv_release(x);
    mgv_release(pos);
}

/* ---- gradient checks ---------------------------------------------------------- */

static void test_grad_binary(void)
{
    const int64_t *s234 = SHAPE(2, 3, 4);
    /* all: default tolerance atol 2e-3, rtol 1e-2 (h = 1e-2) */
    CHECK(check_bin("add same shape", mgv_add, rnd(3, s234, 1, -1, 1), rnd(3, s234, 2, -1, 1),
                    NULL, 0));
    CHECK(check_bin("sub same shape", mgv_sub, rnd(3, s234, 3, -1, 1), rnd(3, s234, 4, -1, 1),
                    NULL, 0));
    CHECK(check_bin("mul same shape", mgv_mul, rnd(3, s234, 5, -1, 1), rnd(3, s234, 6, -1, 1),
                    NULL, 0));
    /* denominators kept in [0.5, 1.5], away from 0 */
    CHECK(check_bin("div same shape", mgv_div, rnd(3, s234, 7, -1, 1), rnd(3, s234, 8, 0.5f, 1.5f),
                    NULL, 0));
}

static void test_grad_broadcast(void)
{
    /* all: default tolerance atol 2e-3, rtol 1e-2 */
    CHECK(check_bin("[2,3,4] + [3,1]", mgv_add, rnd(3, SHAPE(2, 3, 4), 11, -1, 1),
                    rnd(2, SHAPE(3, 1), 12, -1, 1), NULL, 0));
    CHECK(check_bin("[4] * [2,3,4]", mgv_mul, rnd(1, SHAPE(4), 13, -1, 1),
                    rnd(3, SHAPE(2, 3, 4), 14, -1, 1), NULL, 0));
    CHECK(check_bin("[2,1,4] - [3,1]", mgv_sub, rnd(3, SHAPE(2, 1, 4), 15, -1, 1),
                    rnd(2, SHAPE(3, 1), 16, -1, 1), NULL, 0));
    CHECK(check_bin("[2,3,4] / [3,1]", mgv_div, rnd(3, SHAPE(2, 3, 4), 17, -1, 1),
                    rnd(2, SHAPE(3, 1), 18, 0.5f, 1.5f), NULL, 0));
    CHECK(check_bin("[3,1] / [1,4] (both broadcast)", mgv_div, rnd(2, SHAPE(3, 1), 19, -1, 1),
                    rnd(2, SHAPE(1, 4), 20, 0.5f, 1.5f), NULL, 0));
    CHECK(check_bin("scalar * [2,3]", mgv_mul, rnd(0, NULL, 21, -1, 1),
                    rnd(2, SHAPE(2, 3), 22, -1, 1), NULL, 0));
    CHECK(check_bin("scalar - scalar", mgv_sub, rnd(0, NULL, 23, -1, 1), rnd(0, NULL, 24, -1, 1),
                    NULL, 0));
    CHECK(check_bin("8-d broadcast *", mgv_mul, rnd(8, SHAPE(2, 1, 2, 1, 1, 2, 1, 1), 25, -1, 1),
                    rnd(8, SHAPE(1, 2, 1, 1, 2, 1, 1, 2), 26, -1, 1), NULL, 0));
}

static void test_grad_noncontiguous(void)
{
    /* transposed [4,3] view as a [3,4] operand; default tolerance atol 2e-3, rtol 1e-2 */
    CHECK(check_bin("transpose(a) * b", mgv_mul, rnd(2, SHAPE(4, 3), 31, -1, 1),
                    rnd(2, SHAPE(3, 4), 32, -1, 1), NULL, 1));
    CHECK(check_bin("transpose(a) / b[4]", mgv_div, rnd(2, SHAPE(4, 3), 33, -1, 1),
                    rnd(1, SHAPE(4), 34, 0.5f, 1.5f), NULL, 1));
    CHECK(check_bin("transpose(a) + b[3,1]", mgv_add, rnd(2, SHAPE(4, 3), 35, -1, 1),
                    rnd(2, SHAPE(3, 1), 36, -1, 1), NULL, 1));
    /* unary op on a transposed 3-d view; default tolerance */
    CHECK(check_un("tanh(transpose)", mgv_tanh, rnd(3, SHAPE(2, 3, 4), 37, -1, 1), NULL, 1));
    CHECK(check_un("gelu(transpose)", mgv_gelu, rnd(3, SHAPE(2, 3, 4), 38, -2, 2), NULL, 1));
    /* the same tensor as both operands: gradient 2x; default tolerance */
    mgv_tensor *x = rnd(2, SHAPE(3, 4), 39, -1, 1);
    CHECK(gradcheck("x * x", f_square, NULL, 1, &x, NULL));
    mgv_release(x);
}

static void test_grad_unary(void)
{
    const int64_t *s = SHAPE(3, 5);
    /* all below: default tolerance atol 2e-3, rtol 1e-2 */
    CHECK(check_un("neg", mgv_neg, rnd(2, s, 41, -1, 1), NULL, 0));
    CHECK(check_un("exp", mgv_exp, rnd(2, s, 42, -1, 1), NULL, 0));
    /* log, sqrt: inputs kept in [0.5, 2] */
    CHECK(check_un("log", mgv_log, rnd(2, s, 43, 0.5f, 2), NULL, 0));
    CHECK(check_un("sqrt", mgv_sqrt, rnd(2, s, 44, 0.5f, 2), NULL, 0));
    CHECK(check_un("tanh", mgv_tanh, rnd(2, s, 45, -2, 2), NULL, 0));
    /* relu: |x| >= 0.2, far from the kink compared with h = 1e-2 */
    CHECK(check_un("relu", mgv_relu, away_from_zero(2, s, 46), NULL, 0));
    CHECK(check_un("gelu", mgv_gelu, rnd(2, s, 47, -3, 3), NULL, 0));
    CHECK(check_un("sigmoid", mgv_sigmoid, rnd(2, s, 48, -3, 3), NULL, 0));
    CHECK(check_un("sigmoid scalar", mgv_sigmoid, rnd(0, NULL, 49, -3, 3), NULL, 0));
    CHECK(check_par("scale", mgv_scale, -1.7f, rnd(2, s, 50, -1, 1), NULL));
    CHECK(check_par("add_scalar", mgv_add_scalar, 3.0f, rnd(2, s, 51, -1, 1), NULL));
    CHECK(check_par("pow_scalar 2", mgv_pow_scalar, 2.0f, rnd(2, s, 52, -1, 1), NULL));
    CHECK(check_par("pow_scalar 3", mgv_pow_scalar, 3.0f, rnd(2, s, 53, -1, 1), NULL));
    /* fractional and negative powers: positive base in [0.5, 2] */
    CHECK(check_par("pow_scalar 2.5", mgv_pow_scalar, 2.5f, rnd(2, s, 54, 0.5f, 2), NULL));
    CHECK(check_par("pow_scalar -1", mgv_pow_scalar, -1.0f, rnd(2, s, 55, 0.5f, 2), NULL));
    CHECK(check_par("pow_scalar 0", mgv_pow_scalar, 0.0f, rnd(2, s, 56, -1, 1), NULL));
}

/* Hand-checked derivatives at points where the formulas are known. */
static void test_grad_values(void)
{
    mgv_tensor *x = mgv_from_data(1, SHAPE(3), DATA(-1, 0, 1)), *one = mgv_ones(1, SHAPE(3));
    mgv_set_requires_grad(x, 1);
    mgv_tensor *y = mgv_gelu(x);
    CHECK(y && mgv_backward(y, one) == 0);
    /* gelu'(x) = Phi(x) + x phi(x): at 0 it is 1/2; at 1, 0.8413447 + 0.2419707 */
    CHECK(x->grad && values_near(x->grad, DATA(-0.0833154705f, 0.5f, 1.0833154705f), 3, 1e-6));
    mgv_release(y);
    mgv_zero_grad(x);
    y = mgv_sigmoid(x);
    CHECK(y && mgv_backward(y, one) == 0);
    /* sigmoid'(0) = 1/4, sigmoid'(+-1) = 0.19661193 */
    CHECK(x->grad && values_near(x->grad, DATA(0.19661193f, 0.25f, 0.19661193f), 3, 1e-6));
    mgv_release(y);
    mgv_zero_grad(x);
    y = mgv_relu(x);
    CHECK(y && mgv_backward(y, one) == 0);
    CHECK(x->grad && values_near(x->grad, DATA(0, 0, 1), 3, 0));   /* relu'(0) taken as 0 */
    mgv_release(y);
    mgv_release(x);
    mgv_release(one);
}

/* ---- autograd behaviour ------------------------------------------------------- */

static void test_no_grad_recording(void)
{
    mgv_tensor *a = mgv_ones(1, SHAPE(3)), *b = mgv_ones(1, SHAPE(3));
    mgv_tensor *y = mgv_add(a, b);
    CHECK(y && !y->requires_grad && !y->node);   /* no parameter: no node */
    mgv_release(y);
    mgv_set_requires_grad(a, 1);
    int prev = mgv_set_grad_enabled(0);
    y = mgv_mul(a, b);
    CHECK(y && !y->requires_grad && !y->node);   /* grad mode off: no node */
    mgv_release(y);
    y = mgv_exp(a);
    CHECK(y && !y->node);
    mgv_release(y);
    mgv_set_grad_enabled(prev);
    y = mgv_mul(a, b);
    CHECK(y && y->requires_grad && y->node && strcmp(y->node->op, "mul") == 0);
    /* only the parameter gets a gradient */
    mgv_tensor *s = mgv_sum_all(y);
    CHECK(s && mgv_backward(s, NULL) == 0);
    CHECK(a->grad && values_near(a->grad, DATA(1, 1, 1), 3, 0));
    CHECK(b->grad == NULL);
    mgv_release(s);
    mgv_release(y);
    mgv_release(a);
    mgv_release(b);
}

static void test_grad_accumulates(void)
{
    mgv_tensor *x = mgv_from_data(1, SHAPE(3), DATA(1, 2, 3));
    mgv_set_requires_grad(x, 1);
    /* graph 1: sum(x*x) -> 2x */
    mgv_tensor *sq = mgv_mul(x, x), *l1 = mgv_sum_all(sq);
    CHECK(l1 && mgv_backward(l1, NULL) == 0);
    CHECK(x->grad && values_near(x->grad, DATA(2, 4, 6), 3, 0));
    /* graph 2, computed separately: sum(3x + 1) -> 3, added on top */
    mgv_tensor *t = mgv_scale(x, 3), *u = mgv_add_scalar(t, 1), *l2 = mgv_sum_all(u);
    CHECK(l2 && mgv_backward(l2, NULL) == 0);
    CHECK(x->grad && values_near(x->grad, DATA(5, 7, 9), 3, 0));
    /* backward twice through the same graph fails with a message */
    CHECK(mgv_backward(l2, NULL) < 0);
    CHECK_ERROR_HAS("already freed");
    CHECK(values_near(x->grad, DATA(5, 7, 9), 3, 0));   /* unchanged by the failure */
    mgv_release(sq);
    mgv_release(l1);
    mgv_release(t);
    mgv_release(u);
    mgv_release(l2);
    mgv_release(x);
}

/* Long unary loops are split over threads: gelu and its gradient on 100003
 * elements match x Phi(x) and Phi(x) + x phi(x) from libm's erf in double,
 * and 1 and 2 threads agree exactly. */
static void test_unary_threaded(void)
{
    int64_t n = 100003, shape[1] = {n};
    mgv_tensor *x = rnd(1, shape, 91, -6, 6), *g = rnd(1, shape, 92, -1, 1);
    mgv_set_requires_grad(x, 1);
    mgv_tensor *y_t[2], *gx_t[2];
    int nt = mgv_get_num_threads();
    for (int t = 0; t < 2; t++) {
        mgv_set_num_threads(t ? 2 : 1);
        mgv_zero_grad(x);
        y_t[t] = mgv_gelu(x);
        CHECK(y_t[t] && mgv_backward(y_t[t], g) == 0);
        gx_t[t] = x->grad ? mgv_clone_data(x->grad) : NULL;
    }
    mgv_set_num_threads(nt);
    int bad = 0;
    for (int64_t i = 0; y_t[1] && gx_t[1] && i < n; i++) {
        double v = mgv_get_flat(x, i), cdf = 0.5 * (1 + erf(v / sqrt(2.0)));
        double pdf = exp(-0.5 * v * v) / sqrt(2 * M_PI);
        bad += fabs(mgv_get_flat(y_t[1], i) - v * cdf) > 1e-6 * (1 + fabs(v));
        bad += fabs(mgv_get_flat(gx_t[1], i) - mgv_get_flat(g, i) * (cdf + v * pdf)) > 1e-6;
        bad += mgv_get_flat(y_t[0], i) != mgv_get_flat(y_t[1], i) ||
               mgv_get_flat(gx_t[0], i) != mgv_get_flat(gx_t[1], i);
    }
    CHECK(bad == 0);
    mgv_tensor *tmp[] = {x, g, y_t[0], y_t[1], gx_t[0], gx_t[1]};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) mgv_release(tmp[i]);
}

int main(void)
{
    RUN(test_broadcast_shape);
    RUN(test_binary_errors);
    RUN(test_binary_values);
    RUN(test_strided_path_matches);
    RUN(test_eight_dims);
    RUN(test_empty);
    RUN(test_unary_values);
    RUN(test_grad_binary);
    RUN(test_grad_broadcast);
    RUN(test_grad_noncontiguous);
    RUN(test_grad_unary);
    RUN(test_unary_threaded);
    RUN(test_grad_values);
    RUN(test_no_grad_recording);
    RUN(test_grad_accumulates);
    return CHECK_DONE();
}
