/*
 * test_ops_shape.c — views and rearrangements: geometry and values against
 * hand-computed numbers or index formulas, storage sharing (writes through a
 * view reach the base), Python slice semantics, negative axes, scalars, size-0
 * and 8-d tensors, error messages, and finite-difference gradient checks for
 * every op, including chains of views and non-contiguous inputs.
 *
 * Gradient checks use gradcheck.h's defaults (h = 1e-2, atol 2e-3, rtol 1e-2)
 * unless a comment at the check says otherwise. These ops are linear, so the
 * differences are exact up to float rounding.
 */
#include "check.h"
#include "gradcheck.h"
#include "testutil.h"

static mgv_tensor *rnd(int ndim, const int64_t *shape, uint64_t seed)
{
    return gradcheck_input(ndim, shape, seed, -1, 1);
}

/* ---- reshape ----------------------------------------------------------------- */

static void test_reshape(void)
{
    mgv_tensor *x = iota(2, SHAPE(2, 3)), *y;
    y = mgv_reshape(x, 2, SHAPE(3, 2));
    CHECK(shape_is(y, 2, SHAPE(3, 2)) && y->storage == x->storage);
    CHECK(y && values_near(y, DATA(0, 1, 2, 3, 4, 5), 6, 0));
    mgv_set_flat(y, 4, 40);   /* write through the view, read the base */
    CHECK(mgv_get_flat(x, 4) == 40);
    mgv_set_flat(x, 4, 4);
    mgv_release(y);
    y = mgv_reshape(x, 1, SHAPE(-1));
    CHECK(shape_is(y, 1, SHAPE(6)));
    mgv_release(y);
    y = mgv_reshape(x, 4, SHAPE(1, 2, -1, 1));
    CHECK(shape_is(y, 4, SHAPE(1, 2, 3, 1)));
    mgv_release(y);

    /* non-contiguous input: a copy in the view's row-major order */
    mgv_tensor *xt = mgv_transpose(x, 0, 1);   /* [[0,3],[1,4],[2,5]] */
    y = mgv_reshape(xt, 1, SHAPE(6));
    CHECK(shape_is(y, 1, SHAPE(6)) && y->storage != x->storage && mgv_is_contiguous(y));
    CHECK(y && values_near(y, DATA(0, 3, 1, 4, 2, 5), 6, 0));
    mgv_release(y);
    mgv_release(xt);

    /* scalars and size-1 shapes */
    mgv_tensor *s = mgv_scalar(7);
    y = mgv_reshape(s, 3, SHAPE(1, 1, 1));
    CHECK(shape_is(y, 3, SHAPE(1, 1, 1)) && mgv_get_flat(y, 0) == 7);
    mgv_tensor *back = y ? mgv_reshape(y, 0, NULL) : NULL;
    CHECK(back && back->ndim == 0 && mgv_get_flat(back, 0) == 7);
    mgv_release(back);
    mgv_release(y);
    y = mgv_reshape(s, 1, SHAPE(-1));
    CHECK(shape_is(y, 1, SHAPE(1)));
    mgv_release(y);

    /* size 0 */
    mgv_tensor *e = mgv_zeros(2, SHAPE(0, 3));
    y = mgv_reshape(e, 3, SHAPE(3, 0, 5));
    CHECK(shape_is(y, 3, SHAPE(3, 0, 5)));
    mgv_release(y);
    y = mgv_reshape(e, 2, SHAPE(-1, 3));
    CHECK(shape_is(y, 2, SHAPE(0, 3)));
    mgv_release(y);
    CHECK(mgv_reshape(e, 2, SHAPE(0, -1)) == NULL);   /* -1 is ambiguous next to a 0 */
    CHECK_ERROR_HAS("reshape: cannot reshape [0x3]");

    /* errors */
    CHECK(mgv_reshape(x, 2, SHAPE(4, 2)) == NULL);
    CHECK(strcmp(mgv_last_error(), "reshape: cannot reshape [2x3] (6 elements) to [4x2]") == 0);
    CHECK(mgv_reshape(x, 2, SHAPE(4, -1)) == NULL);
    CHECK_ERROR_HAS("reshape: cannot reshape [2x3] (6 elements) to [4x-1]");
    CHECK(mgv_reshape(x, 2, SHAPE(-1, -1)) == NULL);
    CHECK_ERROR_HAS("reshape: more than one -1 in [-1x-1]");
    CHECK(mgv_reshape(x, 2, SHAPE(-2, -3)) == NULL);
    CHECK_ERROR_HAS("reshape: negative size");
    CHECK(mgv_reshape(x, 9, SHAPE(1, 1, 1, 1, 1, 1, 2, 3, 1)) == NULL);
    CHECK_ERROR_HAS("reshape: 9 dimensions (at most 8)");
    CHECK(mgv_reshape(x, 3, SHAPE(1 << 30, 1 << 30, 1 << 30)) == NULL);   /* no overflow */
    CHECK_ERROR_HAS("reshape: cannot reshape");

    /* 8-d */
    mgv_tensor *b = iota(1, SHAPE(256));
    y = mgv_reshape(b, 8, SHAPE(2, 2, 2, 2, 2, 2, 2, 2));
    CHECK(shape_is(y, 8, SHAPE(2, 2, 2, 2, 2, 2, 2, 2)) && y->stride[0] == 128 &&
          y->stride[7] == 1 && mgv_get_flat(y, 255) == 255);
    mgv_release(y);
    mgv_release(b);
    mgv_release(e);
    mgv_release(s);
    mgv_release(x);
}

/* ---- transpose / permute ----------------------------------------------------- */

static void test_transpose(void)
{
    mgv_tensor *x = iota(3, SHAPE(2, 3, 4));
    mgv_tensor *y = mgv_transpose(x, 0, 2), *z = mgv_transpose(x, -1, -3);
    CHECK(shape_is(y, 3, SHAPE(4, 3, 2)) && shape_is(z, 3, SHAPE(4, 3, 2)));
    CHECK(y && y->storage == x->storage && !mgv_is_contiguous(y));
    int bad = 0;
    for (int i = 0; y && z && i < 4; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++) {
                float want = (float)(k * 12 + j * 4 + i);   /* y[i,j,k] = x[k,j,i] */
                if (mgv_get_flat(y, (i * 3 + j) * 2 + k) != want) bad++;
                if (mgv_get_flat(z, (i * 3 + j) * 2 + k) != want) bad++;
            }
    CHECK(bad == 0);
    mgv_set_flat(y, 1, -5);   /* y[0,0,1] = x[1,0,0] = flat 12 */
    CHECK(mgv_get_flat(x, 12) == -5);
    mgv_release(y);
    mgv_release(z);
    y = mgv_transpose(x, 1, 1);   /* same axis: a plain view */
    CHECK(shape_is(y, 3, SHAPE(2, 3, 4)) && mgv_is_contiguous(y));
    mgv_release(y);
    CHECK(mgv_transpose(x, 0, 3) == NULL);
    CHECK(strcmp(mgv_last_error(), "transpose: axis 3 out of range for shape [2x3x4]") == 0);
    CHECK(mgv_transpose(x, -4, 0) == NULL);
    CHECK_ERROR_HAS("transpose: axis -4 out of range");
    mgv_tensor *s = mgv_scalar(1);
    CHECK(mgv_transpose(s, 0, 0) == NULL);
    CHECK_ERROR_HAS("transpose: axis 0 out of range for shape []");
    mgv_release(s);
    mgv_release(x);
}

static void test_permute(void)
{
    mgv_tensor *x = iota(3, SHAPE(2, 3, 4));
    mgv_tensor *y = mgv_permute(x, (const int[]){2, 0, 1});
    mgv_tensor *z = mgv_permute(x, (const int[]){-1, 0, -2});   /* negative axes */
    CHECK(shape_is(y, 3, SHAPE(4, 2, 3)) && shape_is(z, 3, SHAPE(4, 2, 3)));
    CHECK(y && y->storage == x->storage);
    int bad = 0;
    for (int i = 0; y && z && i < 4; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 3; k++) {
                float want = (float)(j * 12 + k * 4 + i);   /* y[i,j,k] = x[j,k,i] */
                if (mgv_get_flat(y, (i * 2 + j) * 3 + k) != want) bad++;
                if (mgv_get_flat(z, (i * 2 + j) * 3 + k) != want) bad++;
            }
    CHECK(bad == 0);
    mgv_set_flat(y, 3, 99);   /* y[0,1,0] = x[1,0,0] = flat 12 */
    CHECK(mgv_get_flat(x, 12) == 99);
    mgv_release(y);
    mgv_release(z);
    CHECK(mgv_permute(x, (const int[]){0, 0, 1}) == NULL);
    CHECK(strcmp(mgv_last_error(),
                 "permute: (0 0 1) is not a permutation of the axes of [2x3x4]") == 0);
    CHECK(mgv_permute(x, (const int[]){0, 1, 3}) == NULL);
    CHECK_ERROR_HAS("not a permutation");

    /* 8-d: reversing the axes; y[i0..i7] = x[i7..i0] */
    mgv_tensor *e = iota(8, SHAPE(1, 2, 1, 2, 1, 2, 1, 2));
    y = mgv_permute(e, (const int[]){7, 6, 5, 4, 3, 2, 1, 0});
    CHECK(shape_is(y, 8, SHAPE(2, 1, 2, 1, 2, 1, 2, 1)));
    bad = 0;
    for (int k = 0; y && k < 16; k++) {
        /* y's non-trivial axes are 0,2,4,6 with bits of k, x's are 7,5,3,1 */
        int b0 = (k >> 3) & 1, b1 = (k >> 2) & 1, b2 = (k >> 1) & 1, b3 = k & 1;
        float want = (float)(b3 * 8 + b2 * 4 + b1 * 2 + b0);
        if (mgv_get_flat(y, k) != want) bad++;
    }
    CHECK(bad == 0);
    mgv_release(y);
    mgv_tensor *s = mgv_scalar(3);
    y = mgv_permute(s, NULL);   /* a scalar has the empty permutation */
    CHECK(y && y->ndim == 0 && mgv_get_flat(y, 0) == 3);
    mgv_release(y);
    mgv_release(s);
    mgv_release(e);
    mgv_release(x);
}

/* ---- slice / select ---------------------------------------------------------- */

static void test_slice(void)
{
    mgv_tensor *x = iota(1, SHAPE(5)), *y;
    y = mgv_slice(x, 0, 1, 4, 2);
    CHECK(shape_is(y, 1, SHAPE(2)) && values_near(y, DATA(1, 3), 2, 0));
    mgv_release(y);
    y = mgv_slice(x, 0, -3, 5, 1);
    CHECK(y && values_near(y, DATA(2, 3, 4), 3, 0));
    mgv_release(y);
    y = mgv_slice(x, -1, -100, 100, 1);   /* clamped to the whole axis */
    CHECK(y && values_near(y, DATA(0, 1, 2, 3, 4), 5, 0));
    mgv_release(y);
    y = mgv_slice(x, 0, 0, -1, 2);
    CHECK(y && values_near(y, DATA(0, 2), 2, 0));
    mgv_release(y);
    y = mgv_slice(x, 0, 0, INT64_MAX, 3);
    CHECK(y && values_near(y, DATA(0, 3), 2, 0));
    mgv_release(y);
    y = mgv_slice(x, 0, 3, 1, 1);   /* start past stop: empty */
    CHECK(shape_is(y, 1, SHAPE(0)));
    mgv_release(y);
    y = mgv_slice(x, 0, 7, 9, 1);
    CHECK(shape_is(y, 1, SHAPE(0)));
    mgv_release(y);
    CHECK(mgv_slice(x, 0, 0, 5, 0) == NULL);
    CHECK(strcmp(mgv_last_error(), "slice: step 0 must be >= 1") == 0);
    CHECK(mgv_slice(x, 1, 0, 5, 1) == NULL);
    CHECK_ERROR_HAS("slice: axis 1 out of range for shape [5]");

    /* 2-d, middle columns, sharing storage */
    mgv_tensor *m = iota(2, SHAPE(3, 4));
    y = mgv_slice(m, 1, 1, 3, 1);
    CHECK(shape_is(y, 2, SHAPE(3, 2)) && y->storage == m->storage);
    CHECK(y && values_near(y, DATA(1, 2, 5, 6, 9, 10), 6, 0));
    mgv_set_flat(y, 3, -6);   /* y[1,1] = m[1,2] */
    CHECK(mgv_get_flat(m, 6) == -6);
    mgv_release(y);
    mgv_release(m);
    mgv_release(x);
}

static void test_select(void)
{
    mgv_tensor *m = iota(2, SHAPE(3, 4)), *y;
    y = mgv_select(m, 0, 1);
    CHECK(shape_is(y, 1, SHAPE(4)) && values_near(y, DATA(4, 5, 6, 7), 4, 0));
    CHECK(y && y->storage == m->storage);
    mgv_set_flat(y, 0, 44);
    CHECK(mgv_get_flat(m, 4) == 44);
    mgv_release(y);
    y = mgv_select(m, -1, -1);
    CHECK(shape_is(y, 1, SHAPE(3)) && values_near(y, DATA(3, 7, 11), 3, 0));
    mgv_release(y);
    mgv_tensor *v = iota(1, SHAPE(5));
    y = mgv_select(v, 0, 2);   /* down to a scalar */
    CHECK(y && y->ndim == 0 && mgv_get_flat(y, 0) == 2);
    mgv_release(y);
    CHECK(mgv_select(m, 0, 3) == NULL);
    CHECK(strcmp(mgv_last_error(), "select: index 3 out of range for axis 0 of size 3") == 0);
    CHECK(mgv_select(m, 1, -5) == NULL);
    CHECK_ERROR_HAS("select: index -5 out of range for axis 1 of size 4");
    CHECK(mgv_select(m, 2, 0) == NULL);
    CHECK_ERROR_HAS("select: axis 2 out of range");
    mgv_release(v);
    mgv_release(m);
}

/* ---- unsqueeze / squeeze / expand / contiguous ----------------------------------- */

static void test_unsqueeze_squeeze(void)
{
    mgv_tensor *x = iota(2, SHAPE(2, 3)), *y;
    y = mgv_unsqueeze(x, 0);
    CHECK(shape_is(y, 3, SHAPE(1, 2, 3)) && y->storage == x->storage && mgv_is_contiguous(y));
    mgv_release(y);
    y = mgv_unsqueeze(x, 1);
    CHECK(shape_is(y, 3, SHAPE(2, 1, 3)) && mgv_is_contiguous(y));
    mgv_release(y);
    y = mgv_unsqueeze(x, -1);
    CHECK(shape_is(y, 3, SHAPE(2, 3, 1)));
    CHECK(y && values_near(y, DATA(0, 1, 2, 3, 4, 5), 6, 0));
    mgv_release(y);
    y = mgv_unsqueeze(x, -3);
    CHECK(shape_is(y, 3, SHAPE(1, 2, 3)));
    mgv_set_flat(y, 5, 50);
    CHECK(mgv_get_flat(x, 5) == 50);
    mgv_release(y);
    CHECK(mgv_unsqueeze(x, 3) == NULL);
    CHECK(strcmp(mgv_last_error(), "unsqueeze: axis 3 out of range for shape [2x3]") == 0);
    CHECK(mgv_unsqueeze(x, -4) == NULL);
    CHECK_ERROR_HAS("unsqueeze: axis -4 out of range");
    mgv_tensor *e = mgv_zeros(8, SHAPE(1, 1, 1, 1, 1, 1, 1, 2));
    CHECK(mgv_unsqueeze(e, 0) == NULL);
    CHECK_ERROR_HAS("already has 8 dimensions");

    mgv_tensor *w = iota(3, SHAPE(2, 1, 3));
    y = mgv_squeeze(w, 1);
    CHECK(shape_is(y, 2, SHAPE(2, 3)) && y->storage == w->storage);
    mgv_release(y);
    y = mgv_squeeze(w, -2);
    CHECK(shape_is(y, 2, SHAPE(2, 3)) && values_near(y, DATA(0, 1, 2, 3, 4, 5), 6, 0));
    mgv_release(y);
    y = mgv_squeeze(e, 0);
    CHECK(shape_is(y, 7, SHAPE(1, 1, 1, 1, 1, 1, 2)));
    mgv_release(y);
    CHECK(mgv_squeeze(w, 0) == NULL);
    CHECK(strcmp(mgv_last_error(), "squeeze: axis 0 of [2x1x3] has size 2, not 1") == 0);
    CHECK(mgv_squeeze(w, 5) == NULL);
    CHECK_ERROR_HAS("squeeze: axis 5 out of range");

    /* scalar <-> [1] */
    mgv_tensor *s = mgv_scalar(4);
    y = mgv_unsqueeze(s, 0);
    CHECK(shape_is(y, 1, SHAPE(1)) && mgv_get_flat(y, 0) == 4);
    mgv_tensor *z = y ? mgv_squeeze(y, -1) : NULL;
    CHECK(z && z->ndim == 0 && mgv_get_flat(z, 0) == 4);
    mgv_release(z);
    mgv_release(y);
    /* unsqueeze of a strided view keeps the view's element order */
    mgv_tensor *xt = mgv_transpose(x, 0, 1);
    y = mgv_unsqueeze(xt, 1);
    CHECK(shape_is(y, 3, SHAPE(3, 1, 2)) && values_near(y, DATA(0, 3, 1, 4, 2, 50), 6, 0));
    mgv_release(y);
    mgv_release(xt);
    mgv_release(s);
    mgv_release(w);
    mgv_release(e);
    mgv_release(x);
}

static void test_expand(void)
{
    mgv_tensor *x = iota(2, SHAPE(3, 1)), *y;
    y = mgv_expand(x, 3, SHAPE(2, 3, 4));
    CHECK(shape_is(y, 3, SHAPE(2, 3, 4)) && y->storage == x->storage);
    CHECK(y && y->stride[0] == 0 && y->stride[2] == 0);
    int bad = 0;
    for (int i = 0; y && i < 24; i++)
        if (mgv_get_flat(y, i) != (float)((i / 4) % 3)) bad++;
    CHECK(bad == 0);
    mgv_set_flat(x, 1, 10);   /* every expanded copy sees the base */
    CHECK(y && mgv_get_flat(y, 4) == 10 && mgv_get_flat(y, 19) == 10);
    mgv_release(y);
    y = mgv_expand(x, 2, SHAPE(-1, 5));
    CHECK(shape_is(y, 2, SHAPE(3, 5)));
    mgv_release(y);
    y = mgv_expand(x, 2, SHAPE(3, 0));   /* size 1 stretches to 0 */
    CHECK(shape_is(y, 2, SHAPE(3, 0)));
    mgv_release(y);
    mgv_tensor *s = mgv_scalar(2);
    y = mgv_expand(s, 2, SHAPE(2, 2));
    CHECK(shape_is(y, 2, SHAPE(2, 2)) && values_near(y, DATA(2, 2, 2, 2), 4, 0));
    mgv_release(y);
    CHECK(mgv_expand(x, 2, SHAPE(4, 4)) == NULL);
    CHECK(strcmp(mgv_last_error(), "expand: cannot expand [3x1] to [4x4]") == 0);
    CHECK(mgv_expand(x, 1, SHAPE(3)) == NULL);
    CHECK_ERROR_HAS("expand: cannot expand [3x1] to [3]");
    CHECK(mgv_expand(x, 3, SHAPE(-1, 3, 2)) == NULL);   /* -1 only for existing axes */
    CHECK_ERROR_HAS("expand: cannot expand");
    mgv_release(s);
    mgv_release(x);
}

static void test_contiguous(void)
{
    mgv_tensor *x = iota(2, SHAPE(2, 3));
    mgv_tensor *c = mgv_contiguous(x);
    CHECK(c == x && x->refcount == 2);
    mgv_release(c);
    mgv_tensor *t = mgv_transpose(x, 0, 1);
    c = mgv_contiguous(t);
    CHECK(c && c != t && mgv_is_contiguous(c) && c->storage != x->storage);
    CHECK(shape_is(c, 2, SHAPE(3, 2)) && values_near(c, DATA(0, 3, 1, 4, 2, 5), 6, 0));
    mgv_release(c);
    mgv_release(t);
    mgv_release(x);
}

/* ---- concat / index_select --------------------------------------------------- */

static void test_concat(void)
{
    mgv_tensor *a = mgv_from_data(2, SHAPE(2, 2), DATA(1, 2, 3, 4));
    mgv_tensor *b = mgv_from_data(2, SHAPE(2, 3), DATA(5, 6, 7, 8, 9, 10));
    mgv_tensor *c = mgv_from_data(2, SHAPE(1, 2), DATA(11, 12));
    mgv_tensor *y;
    y = mgv_concat(2, (mgv_tensor *[]){a, b}, 1);
    CHECK(shape_is(y, 2, SHAPE(2, 5)) &&
          values_near(y, DATA(1, 2, 5, 6, 7, 3, 4, 8, 9, 10), 10, 0));
    mgv_release(y);
    y = mgv_concat(2, (mgv_tensor *[]){b, a}, -1);
    CHECK(y && values_near(y, DATA(5, 6, 7, 1, 2, 8, 9, 10, 3, 4), 10, 0));
    mgv_release(y);
    y = mgv_concat(3, (mgv_tensor *[]){a, c, a}, 0);
    CHECK(shape_is(y, 2, SHAPE(5, 2)) &&
          values_near(y, DATA(1, 2, 3, 4, 11, 12, 1, 2, 3, 4), 10, 0));
    mgv_release(y);
    /* a transposed piece and an empty piece */
    mgv_tensor *at = mgv_transpose(a, 0, 1), *e = mgv_zeros(2, SHAPE(2, 0));
    y = mgv_concat(3, (mgv_tensor *[]){at, e, a}, 1);
    CHECK(shape_is(y, 2, SHAPE(2, 4)) && values_near(y, DATA(1, 3, 1, 2, 2, 4, 3, 4), 8, 0));
    mgv_release(y);
    /* more pieces than a node's fixed input slots */
    mgv_tensor *many[6];
    for (int i = 0; i < 6; i++) many[i] = mgv_full(1, SHAPE(2), (float)i);
    y = mgv_concat(6, many, 0);
    CHECK(shape_is(y, 1, SHAPE(12)) &&
          values_near(y, DATA(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5), 12, 0));
    mgv_release(y);
    y = mgv_concat(1, &a, 0);   /* one piece: a copy */
    CHECK(y && y != a && y->storage != a->storage && values_near(y, DATA(1, 2, 3, 4), 4, 0));
    mgv_release(y);

    CHECK(mgv_concat(2, (mgv_tensor *[]){a, b}, 0) == NULL);
    CHECK(strcmp(mgv_last_error(), "concat: shapes [2x2] and [2x3] differ outside axis 0") == 0);
    mgv_tensor *v = mgv_zeros(1, SHAPE(2));
    CHECK(mgv_concat(2, (mgv_tensor *[]){a, v}, 0) == NULL);
    CHECK_ERROR_HAS("concat: shapes [2x2] and [2] differ outside axis 0");
    CHECK(mgv_concat(2, (mgv_tensor *[]){a, b}, 2) == NULL);
    CHECK_ERROR_HAS("concat: axis 2 out of range for shape [2x2]");
    CHECK(mgv_concat(0, NULL, 0) == NULL);
    CHECK_ERROR_HAS("concat: no tensors");
    for (int i = 0; i < 6; i++) mgv_release(many[i]);
    mgv_release(v);
    mgv_release(at);
    mgv_release(e);
    mgv_release(a);
    mgv_release(b);
    mgv_release(c);
}

static void test_index_select(void)
{
    mgv_tensor *x = iota(2, SHAPE(5, 2)), *y;
    y = mgv_index_select(x, 0, (const int64_t[]){4, 0, 4}, 3);
    CHECK(shape_is(y, 2, SHAPE(3, 2)) && values_near(y, DATA(8, 9, 0, 1, 8, 9), 6, 0));
    CHECK(y && y->storage != x->storage);
    mgv_release(y);
    y = mgv_index_select(x, -1, (const int64_t[]){1, 1, 0}, 3);
    CHECK(shape_is(y, 2, SHAPE(5, 3)) &&
          values_near(y, DATA(1, 1, 0, 3, 3, 2, 5, 5, 4, 7, 7, 6, 9, 9, 8), 15, 0));
    mgv_release(y);
    y = mgv_index_select(x, 0, NULL, 0);
    CHECK(shape_is(y, 2, SHAPE(0, 2)));
    mgv_release(y);
    /* strided input */
    mgv_tensor *xt = mgv_transpose(x, 0, 1);   /* [2x5] */
    y = mgv_index_select(xt, 1, (const int64_t[]){3, 1}, 2);
    CHECK(shape_is(y, 2, SHAPE(2, 2)) && values_near(y, DATA(6, 2, 7, 3), 4, 0));
    mgv_release(y);
    CHECK(mgv_index_select(x, 0, (const int64_t[]){1, 7}, 2) == NULL);
    CHECK(strcmp(mgv_last_error(),
                 "index_select: index 7 out of range for axis 0 of size 5") == 0);
    CHECK(mgv_index_select(x, 1, (const int64_t[]){-1}, 1) == NULL);
    CHECK_ERROR_HAS("index_select: index -1 out of range for axis 1 of size 2");
    CHECK(mgv_index_select(x, 2, (const int64_t[]){0}, 1) == NULL);
    CHECK_ERROR_HAS("index_select: axis 2 out of range");
    mgv_release(xt);
    mgv_release(x);
}

/* Backward lands in the right places (hand-computed). */
static void test_backward_values(void)
{
    mgv_tensor *x = iota(1, SHAPE(5));
    mgv_set_requires_grad(x, 1);
    mgv_tensor *g2 = mgv_from_data(1, SHAPE(2), DATA(10, 20));
    mgv_tensor *y = mgv_slice(x, 0, 1, 5, 2);   /* x[1], x[3] */
    CHECK(y && y->requires_grad && mgv_backward(y, g2) == 0);
    CHECK(x->grad && values_near(x->grad, DATA(0, 10, 0, 20, 0), 5, 0));
    mgv_release(y);
    mgv_zero_grad(x);
    mgv_tensor *g3 = mgv_from_data(1, SHAPE(3), DATA(1, 2, 3));
    y = mgv_index_select(x, 0, (const int64_t[]){1, 1, 3}, 3);   /* repeats add up */
    CHECK(y && mgv_backward(y, g3) == 0);
    CHECK(x->grad && values_near(x->grad, DATA(0, 3, 0, 3, 0), 5, 0));
    mgv_release(y);
    mgv_zero_grad(x);
    mgv_tensor *one = mgv_scalar(5);
    y = mgv_select(x, 0, -2);
    CHECK(y && mgv_backward(y, one) == 0);
    CHECK(x->grad && values_near(x->grad, DATA(0, 0, 0, 5, 0), 5, 0));
    mgv_release(y);
    mgv_zero_grad(x);
    /* expand backward sums over the copies: 4 copies of each element */
    mgv_tensor *g = mgv_ones(2, SHAPE(4, 5));
    y = mgv_expand(x, 2, SHAPE(4, 5));
    CHECK(y && mgv_backward(y, g) == 0);
    CHECK(x->grad && values_near(x->grad, DATA(4, 4, 4, 4, 4), 5, 0));
    mgv_release(y);
    /* views of a tensor without grad record nothing */
    mgv_tensor *p = iota(2, SHAPE(2, 3));
    y = mgv_transpose(p, 0, 1);
    CHECK(y && !y->requires_grad && !y->node);
    mgv_release(y);
    mgv_release(p);
    mgv_release(g);
    mgv_release(one);
    mgv_release(g2);
    mgv_release(g3);
    mgv_release(x);
}

/* ---- gradient checks -------------------------------------------------------- */

/*
 * gradcheck evaluates f at x+h and at x-h before reading both results; a
 * view returned by f would alias x and show the x-h values both times. So
 * the view-returning functions below end with own(): a recorded copy
 * (scale by exactly 1), whose backward passes the gradient through untouched.
 */
static mgv_tensor *own(mgv_tensor *view)
{
    if (!view) return NULL;
    mgv_tensor *y = mgv_scale(view, 1.0f);
    mgv_release(view);
    return y;
}

static mgv_tensor *f_reshape(mgv_tensor **in, void *ctx)
{
    return own(mgv_reshape(in[0], 2, SHAPE(4, -1)));
}
static mgv_tensor *f_reshape_strided(mgv_tensor **in, void *ctx)
{
    mgv_tensor *t = mgv_transpose(in[0], 0, 2);
    mgv_tensor *y = mgv_reshape(t, 2, SHAPE(-1, 6));
    mgv_release(t);
    return y;   /* reshape of a non-contiguous view copies */
}
static mgv_tensor *f_transpose(mgv_tensor **in, void *ctx)
{
    return own(mgv_transpose(in[0], 0, -1));
}
static mgv_tensor *f_permute(mgv_tensor **in, void *ctx)
{
    return own(mgv_permute(in[0], (const int[]){2, 0, 1}));
}
static mgv_tensor *f_permute8(mgv_tensor **in, void *ctx)
{
    return own(mgv_permute(in[0], (const int[]){7, 6, 5, 4, 3, 2, 1, 0}));
}
static mgv_tensor *f_slice(mgv_tensor **in, void *ctx) { return own(mgv_slice(in[0], 1, 1, 7, 2)); }
/* view chain: slice of a transpose */
static mgv_tensor *f_slice_of_transpose(mgv_tensor **in, void *ctx)
{
    mgv_tensor *t = mgv_transpose(in[0], 0, 1);
    mgv_tensor *y = mgv_slice(t, 0, -4, INT64_MAX, 2);
    mgv_release(t);
    return own(y);
}
/* view chain: select of a permute, then unsqueeze */
static mgv_tensor *f_select_chain(mgv_tensor **in, void *ctx)
{
    mgv_tensor *p = mgv_permute(in[0], (const int[]){1, 2, 0});
    mgv_tensor *s = mgv_select(p, -1, 1);
    mgv_tensor *y = mgv_unsqueeze(s, 0);
    mgv_release(p);
    mgv_release(s);
    return own(y);
}
static mgv_tensor *f_select(mgv_tensor **in, void *ctx) { return own(mgv_select(in[0], -1, 2)); }
static mgv_tensor *f_unsqueeze(mgv_tensor **in, void *ctx) { return own(mgv_unsqueeze(in[0], 1)); }
static mgv_tensor *f_unsqueeze0(mgv_tensor **in, void *ctx) { return own(mgv_unsqueeze(in[0], 0)); }
static mgv_tensor *f_squeeze(mgv_tensor **in, void *ctx) { return own(mgv_squeeze(in[0], -2)); }
static mgv_tensor *f_expand(mgv_tensor **in, void *ctx)
{
    return own(mgv_expand(in[0], 3, SHAPE(2, 3, 4)));
}
static mgv_tensor *f_contiguous(mgv_tensor **in, void *ctx)
{
    mgv_tensor *t = mgv_transpose(in[0], 0, 1);
    mgv_tensor *y = mgv_contiguous(t);
    mgv_release(t);
    return y;
}
/* concat of a transposed [3x2] view and a [2x4] tensor along axis 1 */
static mgv_tensor *f_concat2(mgv_tensor **in, void *ctx)
{
    mgv_tensor *t = mgv_transpose(in[0], 0, 1);
    mgv_tensor *y = mgv_concat(2, (mgv_tensor *[]){t, in[1]}, 1);
    mgv_release(t);
    return y;
}
static mgv_tensor *f_concat6(mgv_tensor **in, void *ctx) { return mgv_concat(6, in, 0); }
static mgv_tensor *f_index_select(mgv_tensor **in, void *ctx)
{
    return mgv_index_select(in[0], 1, (const int64_t[]){3, 0, 3, 1}, 4);
}
/* a view (transpose) fed into index_select */
static mgv_tensor *f_index_select_strided(mgv_tensor **in, void *ctx)
{
    mgv_tensor *t = mgv_transpose(in[0], 0, 1);
    mgv_tensor *y = mgv_index_select(t, 0, (const int64_t[]){2, 2, 0}, 3);
    mgv_release(t);
    return y;
}

static int check1(const char *name, gradcheck_fn f, mgv_tensor *x)
{
    int ok = gradcheck(name, f, NULL, 1, &x, NULL);
    mgv_release(x);
    return ok;
}

static void test_gradcheck_views(void)
{
    /* every check here: default tolerance atol 2e-3, rtol 1e-2 */
    CHECK(check1("reshape", f_reshape, rnd(3, SHAPE(2, 3, 4), 1)));
    CHECK(check1("reshape of transpose (copy)", f_reshape_strided, rnd(3, SHAPE(2, 3, 4), 2)));
    CHECK(check1("transpose", f_transpose, rnd(3, SHAPE(2, 3, 4), 3)));
    CHECK(check1("permute", f_permute, rnd(3, SHAPE(2, 3, 4), 4)));
    CHECK(check1("permute 8-d", f_permute8, rnd(8, SHAPE(2, 1, 2, 1, 1, 2, 1, 2), 5)));
    CHECK(check1("slice step 2", f_slice, rnd(3, SHAPE(3, 7, 2), 6)));
    CHECK(check1("slice of transpose", f_slice_of_transpose, rnd(2, SHAPE(3, 5), 7)));
    CHECK(check1("unsqueeze(select(permute))", f_select_chain, rnd(3, SHAPE(2, 3, 4), 8)));
    CHECK(check1("select", f_select, rnd(2, SHAPE(3, 4), 9)));
    CHECK(check1("unsqueeze", f_unsqueeze, rnd(2, SHAPE(3, 4), 10)));
    CHECK(check1("squeeze", f_squeeze, rnd(3, SHAPE(3, 1, 4), 11)));
    CHECK(check1("unsqueeze scalar", f_unsqueeze0, rnd(0, NULL, 12)));
    CHECK(check1("expand [3,1] -> [2,3,4]", f_expand, rnd(2, SHAPE(3, 1), 13)));
    CHECK(check1("contiguous(transpose)", f_contiguous, rnd(2, SHAPE(2, 3), 14)));
}

static void test_gradcheck_copies(void)
{
    /* every check here: default tolerance atol 2e-3, rtol 1e-2 */
    mgv_tensor *in2[2] = {rnd(2, SHAPE(2, 3), 21), rnd(2, SHAPE(3, 4), 22)};
    CHECK(gradcheck("concat(transpose, x) axis 1", f_concat2, NULL, 2, in2, NULL));
    mgv_release(in2[0]);
    mgv_release(in2[1]);
    mgv_tensor *in6[6];
    for (int i = 0; i < 6; i++) in6[i] = rnd(2, SHAPE(1 + i % 2, 3), 30 + (uint64_t)i);
    CHECK(gradcheck("concat of 6 (node->extra)", f_concat6, NULL, 6, in6, NULL));
    for (int i = 0; i < 6; i++) mgv_release(in6[i]);
    CHECK(check1("index_select with repeats", f_index_select, rnd(2, SHAPE(3, 4), 40)));
    CHECK(check1("index_select of transpose", f_index_select_strided, rnd(2, SHAPE(2, 3), 41)));
}

int main(void)
{
    RUN(test_reshape);
    RUN(test_transpose);
    RUN(test_permute);
    RUN(test_slice);
    RUN(test_select);
    RUN(test_unsqueeze_squeeze);
    RUN(test_expand);
    RUN(test_contiguous);
    RUN(test_concat);
    RUN(test_index_select);
    RUN(test_backward_values);
    RUN(test_gradcheck_views);
    RUN(test_gradcheck_copies);
    return CHECK_DONE();
}
