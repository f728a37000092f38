/*
 * test_ops_reduce.c — sum, mean, max (with argmax), sum_all, mean_all:
 * values against hand-computed numbers and independent loops, axis lists
 * (negative, repeated, out of range), keepdim, scalars, size-0 axes, 8-d
 * tensors, strided inputs, accuracy over a million elements, and
 * finite-difference gradient checks for every op.
 *
 * Gradient checks use gradcheck.h's defaults (h = 1e-2, atol 2e-3, rtol 1e-2)
 * unless a comment at the check says otherwise.
 */
#include "check.h"
#include "gradcheck.h"
#include "testutil.h"

#define AXES(...) ((const int[]){__VA_ARGS__})

static mgv_tensor *rnd(int ndim, const int64_t *shape, uint64_t seed)
{
    return gradcheck_input(ndim, shape, seed, -1, 1);
}

/* Distinct values 0.1 apart (much more than 2h) in shuffled order, so a
 * finite-difference step never changes which element is the maximum. */
static mgv_tensor *distinct(int ndim, const int64_t *shape, uint64_t seed)
{
    mgv_tensor *t = mgv_empty(ndim, shape);
    int64_t n = mgv_numel(t);
    mgv_rng r;
    mgv_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) mgv_set_flat(t, i, 0.1f * (float)i - 1.0f);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)mgv_rng_below(&r, (uint64_t)i + 1);
        float a = mgv_get_flat(t, i);
        mgv_set_flat(t, i, mgv_get_flat(t, j));
        mgv_set_flat(t, j, a);
    }
    return t;
}

/* ---- sum / mean values ------------------------------------------------------ */

static void test_sum_values(void)
{
    mgv_tensor *x = mgv_from_data(2, SHAPE(2, 3), DATA(1, 2, 3, 4, 5, 6)), *y;
    y = mgv_sum(x, 1, AXES(0), 0);
    CHECK(shape_is(y, 1, SHAPE(3)) && values_near(y, DATA(5, 7, 9), 3, 0));
    mgv_release(y);
    y = mgv_sum(x, 1, AXES(1), 0);
    CHECK(shape_is(y, 1, SHAPE(2)) && values_near(y, DATA(6, 15), 2, 0));
    mgv_release(y);
    y = mgv_sum(x, 1, AXES(-1), 1);
    CHECK(shape_is(y, 2, SHAPE(2, 1)) && values_near(y, DATA(6, 15), 2, 0));
    mgv_release(y);
    y = mgv_sum(x, 1, AXES(0), 1);
    CHECK(shape_is(y, 2, SHAPE(1, 3)) && values_near(y, DATA(5, 7, 9), 3, 0));
    mgv_release(y);
    y = mgv_sum(x, 2, AXES(1, 0), 0);
    CHECK(y && y->ndim == 0 && mgv_get_flat(y, 0) == 21);
    mgv_release(y);
    y = mgv_sum(x, 0, NULL, 0);
    CHECK(y && y->ndim == 0 && mgv_get_flat(y, 0) == 21);
    mgv_release(y);
    y = mgv_sum(x, 0, NULL, 1);
    CHECK(shape_is(y, 2, SHAPE(1, 1)) && mgv_get_flat(y, 0) == 21);
    mgv_release(y);
    y = mgv_sum_all(x);
    CHECK(y && y->ndim == 0 && mgv_get_flat(y, 0) == 21);
    mgv_release(y);

    y = mgv_mean(x, 1, AXES(0), 0);
    CHECK(shape_is(y, 1, SHAPE(3)) && values_near(y, DATA(2.5f, 3.5f, 4.5f), 3, 0));
    mgv_release(y);
    y = mgv_mean(x, 1, AXES(1), 1);
    CHECK(shape_is(y, 2, SHAPE(2, 1)) && values_near(y, DATA(2, 5), 2, 1e-6));
    mgv_release(y);
    y = mgv_mean_all(x);
    CHECK(y && y->ndim == 0 && mgv_get_flat(y, 0) == 3.5f);
    mgv_release(y);

    /* strided input: the transpose [[1,4],[2,5],[3,6]] */
    mgv_tensor *xt = mgv_transpose(x, 0, 1);
    y = mgv_sum(xt, 1, AXES(1), 0);
    CHECK(shape_is(y, 1, SHAPE(3)) && values_near(y, DATA(5, 7, 9), 3, 0));
    mgv_release(y);
    y = mgv_sum(xt, 1, AXES(0), 0);
    CHECK(shape_is(y, 1, SHAPE(2)) && values_near(y, DATA(6, 15), 2, 0));
    mgv_release(y);
    mgv_release(xt);
    mgv_release(x);
}

/* Every subset of axes of a 3-d and of an 8-d tensor against a direct loop. */
static void test_sum_axis_sets(void)
{
    const int64_t *shapes[2] = {SHAPE(2, 3, 4), SHAPE(2, 1, 2, 3, 1, 2, 2, 1)};
    const int ndims[2] = {3, 8};
    int bad = 0;
    for (int s = 0; s < 2; s++) {
        int nd = ndims[s];
        mgv_tensor *x = iota(nd, shapes[s]);
        int64_t n = mgv_numel(x);
        for (int set = 1; set < (1 << nd); set++) {
            int axes[8], na = 0;
            for (int d = 0; d < nd; d++)
                if (set >> d & 1) axes[na++] = d - (set % 2 ? nd : 0);   /* mix negative */
            mgv_tensor *y = mgv_sum(x, na, axes, 1);
            if (!y) {
                bad++;
                continue;
            }
            /* expected: each input element adds to the output element with its
             * reduced coordinates set to 0 */
            double want[256] = {0};
            for (int64_t i = 0; i < n; i++) {
                int64_t rem = i, o = 0, ost = 1;
                for (int d = nd - 1; d >= 0; d--) {
                    int64_t c = rem % shapes[s][d];
                    rem /= shapes[s][d];
                    if (!(set >> d & 1)) {
                        o += c * ost;
                        ost *= shapes[s][d];
                    }
                }
                want[o] += (double)i;
            }
            for (int64_t j = 0; j < mgv_numel(y); j++)
                if (mgv_get_flat(y, j) != (float)want[j]) bad++;
            mgv_release(y);
        }
        mgv_release(x);
    }
    CHECK(bad == 0);
}

static void test_sum_edge_cases(void)
{
    mgv_tensor *e = mgv_zeros(2, SHAPE(0, 3)), *y;
    y = mgv_sum(e, 1, AXES(0), 0);   /* summing nothing gives 0 */
    CHECK(shape_is(y, 1, SHAPE(3)) && values_near(y, DATA(0, 0, 0), 3, 0));
    mgv_release(y);
    y = mgv_sum(e, 1, AXES(1), 0);
    CHECK(shape_is(y, 1, SHAPE(0)));
    mgv_release(y);
    y = mgv_sum_all(e);
    CHECK(y && y->ndim == 0 && mgv_get_flat(y, 0) == 0);
    mgv_release(y);
    y = mgv_mean(e, 1, AXES(0), 0);   /* the mean of nothing is NaN */
    CHECK(shape_is(y, 1, SHAPE(3)) && isnan(mgv_get_flat(y, 0)) && isnan(mgv_get_flat(y, 2)));
    mgv_release(y);

    mgv_tensor *s = mgv_scalar(5);
    y = mgv_sum_all(s);
    CHECK(y && y->ndim == 0 && mgv_get_flat(y, 0) == 5);
    mgv_release(y);
    y = mgv_mean(s, 0, NULL, 1);
    CHECK(y && y->ndim == 0 && mgv_get_flat(y, 0) == 5);
    mgv_release(y);
    CHECK(mgv_sum(s, 1, AXES(0), 0) == NULL);
    CHECK_ERROR_HAS("sum: axis 0 out of range for shape []");

    mgv_tensor *o = mgv_from_data(3, SHAPE(1, 3, 1), DATA(1, 2, 3));   /* size-1 axes */
    y = mgv_sum(o, 2, AXES(0, 2), 0);
    CHECK(shape_is(y, 1, SHAPE(3)) && values_near(y, DATA(1, 2, 3), 3, 0));
    mgv_release(y);

    mgv_tensor *x = mgv_zeros(2, SHAPE(2, 3));
    CHECK(mgv_sum(x, 1, AXES(2), 0) == NULL);
    CHECK(strcmp(mgv_last_error(), "sum: axis 2 out of range for shape [2x3]") == 0);
    CHECK(mgv_mean(x, 1, AXES(-3), 0) == NULL);
    CHECK(strcmp(mgv_last_error(), "mean: axis -3 out of range for shape [2x3]") == 0);
    CHECK(mgv_sum(x, 2, AXES(1, -1), 0) == NULL);
    CHECK(strcmp(mgv_last_error(), "sum: axis -1 given twice for shape [2x3]") == 0);
    CHECK(mgv_mean(x, -1, AXES(0), 0) == NULL);
    CHECK_ERROR_HAS("mean: negative axis count");
    mgv_release(x);
    mgv_release(o);
    mgv_release(s);
    mgv_release(e);
}

/* A million float additions of 0.1f: naive float accumulation drifts by ~1%. */
static void test_sum_accuracy(void)
{
    int64_t n = 1000000;
    mgv_tensor *x = mgv_full(1, &n, 0.1f);
    mgv_tensor *s = mgv_sum_all(x), *m = mgv_mean_all(x);
    double exact = 0.1f * 1e6;   /* 100000.00149... */
    CHECK(s && fabs(mgv_get_flat(s, 0) - exact) < 0.01);
    CHECK(m && fabs(mgv_get_flat(m, 0) - 0.1f) < 1e-8);
    mgv_release(s);
    mgv_release(m);
    /* also down a strided column: [1000000 x 1] viewed as a row */
    mgv_tensor *col = mgv_reshape(x, 2, SHAPE(1000, 1000));
    mgv_tensor *t = col ? mgv_transpose(col, 0, 1) : NULL;
    s = t ? mgv_sum(t, 2, AXES(0, 1), 0) : NULL;
    CHECK(s && fabs(mgv_get_flat(s, 0) - exact) < 0.01);
    mgv_release(s);
    mgv_release(t);
    mgv_release(col);
    mgv_release(x);
}

/* ---- max -------------------------------------------------------------------- */

static void test_max_values(void)
{
    mgv_tensor *x = mgv_from_data(2, SHAPE(2, 3), DATA(1, 5, 3, 4, 2, 6)), *y, *am;
    y = mgv_max(x, 1, 0, &am);
    CHECK(shape_is(y, 1, SHAPE(2)) && values_near(y, DATA(5, 6), 2, 0));
    CHECK(shape_is(am, 1, SHAPE(2)) && values_near(am, DATA(1, 2), 2, 0));
    mgv_release(y);
    mgv_release(am);
    y = mgv_max(x, 0, 0, &am);
    CHECK(shape_is(y, 1, SHAPE(3)) && values_near(y, DATA(4, 5, 6), 3, 0));
    CHECK(am && values_near(am, DATA(1, 0, 1), 3, 0));
    mgv_release(y);
    mgv_release(am);
    y = mgv_max(x, -1, 1, &am);
    CHECK(shape_is(y, 2, SHAPE(2, 1)) && values_near(y, DATA(5, 6), 2, 0));
    CHECK(shape_is(am, 2, SHAPE(2, 1)));
    mgv_release(y);
    mgv_release(am);
    y = mgv_max(x, 0, 0, NULL);   /* argmax not wanted */
    CHECK(y && values_near(y, DATA(4, 5, 6), 3, 0));
    mgv_release(y);

    /* strided input: the transpose [[1,4],[5,2],[3,6]] */
    mgv_tensor *xt = mgv_transpose(x, 0, 1);
    y = mgv_max(xt, 1, 0, &am);
    CHECK(y && values_near(y, DATA(4, 5, 6), 3, 0) && values_near(am, DATA(1, 0, 1), 3, 0));
    mgv_release(y);
    mgv_release(am);
    mgv_release(xt);

    /* ties: the first maximal element wins, for the value and the gradient */
    mgv_tensor *t = mgv_from_data(1, SHAPE(4), DATA(3, 1, 3, -2));
    mgv_set_requires_grad(t, 1);
    y = mgv_max(t, 0, 0, &am);
    CHECK(y && y->ndim == 0 && mgv_get_flat(y, 0) == 3 && mgv_get_flat(am, 0) == 0);
    CHECK(y && mgv_backward(y, NULL) == 0);
    CHECK(t->grad && values_near(t->grad, DATA(1, 0, 0, 0), 4, 0));
    mgv_release(y);
    mgv_release(am);

    /* NaN propagates */
    mgv_tensor *nn = mgv_from_data(1, SHAPE(3), DATA(1, NAN, 2));
    y = mgv_max(nn, 0, 0, &am);
    CHECK(y && isnan(mgv_get_flat(y, 0)) && mgv_get_flat(am, 0) == 1);
    mgv_release(y);
    mgv_release(am);

    /* size-1 axis, 8-d, and an empty non-reduced axis */
    mgv_tensor *e8 = iota(8, SHAPE(1, 2, 1, 2, 1, 2, 1, 2));
    y = mgv_max(e8, 3, 0, &am);   /* max over an axis of stride 4: x + 4 */
    CHECK(shape_is(y, 7, SHAPE(1, 2, 1, 1, 2, 1, 2)) &&
          values_near(y, DATA(4, 5, 6, 7, 12, 13, 14, 15), 8, 0));
    CHECK(am && values_near(am, DATA(1, 1, 1, 1, 1, 1, 1, 1), 8, 0));
    mgv_release(y);
    mgv_release(am);
    y = mgv_max(e8, 0, 1, NULL);
    CHECK(shape_is(y, 8, SHAPE(1, 2, 1, 2, 1, 2, 1, 2)) && mgv_get_flat(y, 9) == 9);
    mgv_release(y);
    mgv_tensor *z = mgv_zeros(2, SHAPE(3, 0));
    y = mgv_max(z, 0, 0, NULL);
    CHECK(shape_is(y, 1, SHAPE(0)));
    mgv_release(y);

    /* errors */
    am = x;   /* must be reset to NULL on failure */
    CHECK(mgv_max(z, 1, 0, &am) == NULL && am == NULL);
    CHECK(strcmp(mgv_last_error(), "max: axis 1 of [3x0] is empty") == 0);
    CHECK(mgv_max(x, 2, 0, NULL) == NULL);
    CHECK(strcmp(mgv_last_error(), "max: axis 2 out of range for shape [2x3]") == 0);
    mgv_tensor *s = mgv_scalar(1);
    CHECK(mgv_max(s, 0, 0, NULL) == NULL);
    CHECK_ERROR_HAS("max: axis 0 out of range for shape []");
    mgv_release(s);
    mgv_release(z);
    mgv_release(e8);
    mgv_release(nn);
    mgv_release(t);
    mgv_release(x);
}

/* Backward of sum and mean broadcasts the gradient (hand-computed). */
static void test_backward_values(void)
{
    mgv_tensor *x = mgv_from_data(2, SHAPE(2, 3), DATA(1, 2, 3, 4, 5, 6));
    mgv_set_requires_grad(x, 1);
    mgv_tensor *g = mgv_from_data(1, SHAPE(2), DATA(10, 20));
    mgv_tensor *y = mgv_sum(x, 1, AXES(1), 0);
    CHECK(y && mgv_backward(y, g) == 0);
    CHECK(x->grad && values_near(x->grad, DATA(10, 10, 10, 20, 20, 20), 6, 0));
    mgv_release(y);
    mgv_zero_grad(x);
    y = mgv_mean_all(x);
    CHECK(y && mgv_backward(y, NULL) == 0);
    float sixth = 1.0f / 6;   /* d mean / d x_i = 1/n */
    CHECK(x->grad &&
          values_near(x->grad, DATA(sixth, sixth, sixth, sixth, sixth, sixth), 6, 1e-7));
    mgv_release(y);
    mgv_release(g);
    mgv_release(x);
}

/* ---- gradient checks -------------------------------------------------------- */

typedef struct {
    int naxes;
    int axes[8];
    int keepdim;
    int mean;
    int transposed;   /* feed transpose(x, 0, -1) instead of x */
} red_ctx;

static mgv_tensor *f_reduce(mgv_tensor **in, void *ctx)
{
    red_ctx *c = ctx;
    mgv_tensor *x = c->transposed ? mgv_transpose(in[0], 0, -1) : mgv_retain(in[0]);
    mgv_tensor *y = c->mean ? mgv_mean(x, c->naxes, c->axes, c->keepdim)
                            : mgv_sum(x, c->naxes, c->axes, c->keepdim);
    mgv_release(x);
    return y;
}

typedef struct {
    int axis, keepdim, transposed;
} max_ctx;

static mgv_tensor *f_max(mgv_tensor **in, void *ctx)
{
    max_ctx *c = ctx;
    mgv_tensor *x = c->transposed ? mgv_transpose(in[0], 0, 1) : mgv_retain(in[0]);
    mgv_tensor *y = mgv_max(x, c->axis, c->keepdim, NULL);
    mgv_release(x);
    return y;
}

static mgv_tensor *f_sum_all(mgv_tensor **in, void *ctx) { return mgv_sum_all(in[0]); }
static mgv_tensor *f_mean_all(mgv_tensor **in, void *ctx) { return mgv_mean_all(in[0]); }

static int check_red(const char *name, red_ctx c, mgv_tensor *x)
{
    int ok = gradcheck(name, f_reduce, &c, 1, &x, NULL);
    mgv_release(x);
    return ok;
}

static int check_max(const char *name, max_ctx c, mgv_tensor *x)
{
    int ok = gradcheck(name, f_max, &c, 1, &x, NULL);
    mgv_release(x);
    return ok;
}

static int check_fn(const char *name, gradcheck_fn f, mgv_tensor *x)
{
    int ok = gradcheck(name, f, NULL, 1, &x, NULL);
    mgv_release(x);
    return ok;
}

static void test_gradcheck_sum_mean(void)
{
    const int64_t *s234 = SHAPE(2, 3, 4);
    /* every check here: default tolerance atol 2e-3, rtol 1e-2 */
    CHECK(check_red("sum axis 1", (red_ctx){1, {1}, 0, 0, 0}, rnd(3, s234, 1)));
    CHECK(check_red("sum axis 0 keepdim", (red_ctx){1, {0}, 1, 0, 0}, rnd(3, s234, 2)));
    CHECK(check_red("sum axes 0,-1", (red_ctx){2, {0, -1}, 0, 0, 0}, rnd(3, s234, 3)));
    CHECK(check_red("sum all keepdim", (red_ctx){0, {0}, 1, 0, 0}, rnd(3, s234, 4)));
    CHECK(check_red("mean axis -1", (red_ctx){1, {-1}, 0, 1, 0}, rnd(3, s234, 5)));
    CHECK(check_red("mean axes 0,1 keepdim", (red_ctx){2, {0, 1}, 1, 1, 0}, rnd(3, s234, 6)));
    CHECK(check_red("sum of transpose, axis 1", (red_ctx){1, {1}, 0, 0, 1}, rnd(3, s234, 7)));
    CHECK(check_red("mean of transpose, axis 0", (red_ctx){1, {0}, 1, 1, 1}, rnd(3, s234, 8)));
    CHECK(check_red("sum 8-d, axes 1,3,6", (red_ctx){3, {1, 3, 6}, 0, 0, 0},
                    rnd(8, SHAPE(2, 2, 1, 2, 1, 2, 2, 1), 9)));
    CHECK(check_red("sum of a scalar", (red_ctx){0, {0}, 0, 0, 0}, rnd(0, NULL, 10)));
    CHECK(check_fn("sum_all", f_sum_all, rnd(2, SHAPE(3, 5), 11)));
    CHECK(check_fn("mean_all", f_mean_all, rnd(2, SHAPE(3, 5), 12)));
}

static void test_gradcheck_max(void)
{
    /* distinct values 0.1 apart; every check: default tolerance atol 2e-3, rtol 1e-2 */
    CHECK(check_max("max axis 1", (max_ctx){1, 0, 0}, distinct(2, SHAPE(3, 5), 21)));
    CHECK(check_max("max axis 0 keepdim", (max_ctx){0, 1, 0}, distinct(2, SHAPE(3, 5), 22)));
    CHECK(check_max("max axis -1 of 3-d", (max_ctx){-1, 0, 0},
                    distinct(3, SHAPE(2, 3, 4), 23)));
    CHECK(check_max("max axis 1 of 3-d", (max_ctx){1, 1, 0}, distinct(3, SHAPE(2, 3, 4), 24)));
    CHECK(check_max("max of transpose, axis 1", (max_ctx){1, 0, 1},
                    distinct(2, SHAPE(4, 3), 25)));
}

int main(void)
{
    RUN(test_sum_values);
    RUN(test_sum_axis_sets);
    RUN(test_sum_edge_cases);
    RUN(test_sum_accuracy);
    RUN(test_max_values);
    RUN(test_backward_values);
    RUN(test_gradcheck_sum_mean);
    RUN(test_gradcheck_max);
    return CHECK_DONE();
}
