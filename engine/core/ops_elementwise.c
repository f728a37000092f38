/*
 * ops_elementwise.c — arithmetic with numpy broadcasting (add, sub, mul, div),
 * scalar maps (scale, add_scalar, pow_scalar) and unary functions (neg, exp,
 * log, sqrt, tanh, relu, gelu, sigmoid). Each op's backward sits next to its
 * forward.
 *
 * Binary ops take a flat loop when both inputs are contiguous and of the same
 * shape; otherwise they walk the output in row-major order with an odometer
 * over the outer axes, carrying one storage offset per input (broadcast axes
 * have stride 0), and run a strided loop along the last axis. Gradients of
 * broadcast inputs are summed back to their shape by mgv_accumulate_grad.
 *
 * Unary ops read a contiguous copy of a strided input and write a contiguous
 * output; their backward is one fused loop computing gout * f'(x) from the
 * saved input or output. Long unary loops are split over the engine's
 * threads in element ranges (the same numbers for any thread count).
 */
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops_elementwise.h"
#include "core/parallel.h"

#include <math.h>
#include <string.h>

/* Accumulates g into t's gradient and drops the reference to g (which
 * becomes t's gradient without a copy when t had none and g is the caller's
 * alone). */
static int accumulate_owned(mgv_tensor *t, mgv_tensor *g)
{
    int rc = mgv_accumulate_grad_fresh(t, g);
    mgv_release(g);
    return rc;
}

/* ---- broadcasting ------------------------------------------------------- */

int mgv_broadcast_shape(const char *op, const mgv_tensor *a, const mgv_tensor *b, int *ndim,
                        int64_t *shape)
{
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < n; d++) {
        int da = d - (n - a->ndim), db = d - (n - b->ndim);
        int64_t sa = da >= 0 ? a->shape[da] : 1;
        int64_t sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char x[96], y[96];
            return mgv_fail("%s: shapes %s and %s do not broadcast", op,
                            mgv_shape_str(a, x, sizeof x), mgv_shape_str(b, y, sizeof y));
        }
        shape[d] = sa == 1 ? sb : sa;
    }
    *ndim = n;
    return 0;
}

/* Strides of t seen through the broadcast shape (ndim, shape): 0 on axes t
 * lacks or has size 1, so those axes repeat the same elements. */
static void broadcast_strides(const mgv_tensor *t, int ndim, int64_t *stride)
{
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++) {
        int td = d - lead;
        stride[d] = (td < 0 || t->shape[td] == 1) ? 0 : t->stride[td];
    }
}

/* ---- binary kernels ----------------------------------------------------- */

enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV };
static const char *const binary_names[] = {"add", "sub", "mul", "div"};

/* One row: o[i] = a[i*sa] op b[i*sb]. The unit-stride and scalar-b cases get
 * their own loops so the compiler can vectorise them. */
#define BINARY_ROW(EXPR)                                                     \
    do {                                                                     \
        if (sa == 1 && sb == 1) {                                            \
            for (int64_t i = 0; i < n; i++) {                                \
                float x = a[i], y = b[i];                                    \
                o[i] = (EXPR);                                               \
            }                                                                \
        } else if (sb == 0) {                                                \
            float y = b[0];                                                  \
            for (int64_t i = 0; i < n; i++) {                                \
                float x = a[i * sa];                                         \
                o[i] = (EXPR);                                               \
            }                                                                \
        } else {                                                             \
            for (int64_t i = 0; i < n; i++) {                                \
                float x = a[i * sa], y = b[i * sb];                          \
                o[i] = (EXPR);                                               \
            }                                                                \
        }                                                                    \
    } while (0)

static void binary_row(int op, int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                       float *o)
{
    switch (op) {
    case BIN_ADD: BINARY_ROW(x + y); break;
    case BIN_SUB: BINARY_ROW(x - y); break;
    case BIN_MUL: BINARY_ROW(x * y); break;
    default: BINARY_ROW(x / y); break;
    }
}

/* The flat case over the engine's threads (exact per element: any split
 * gives the same numbers). */
typedef struct {
    int op;
    const float *a, *b;
    float *o;
} binary_job;

static void binary_part(void *ctx, int64_t b, int64_t e, int part)
{
    const binary_job *j = ctx;
    (void)part;
    binary_row(j->op, e - b, j->a + b, 1, j->b + b, 1, j->o + b);
}

static mgv_tensor *binary_forward(int op, mgv_tensor *a, mgv_tensor *b)
{
    int nd;
    int64_t shape[MGV_MAX_DIMS];
    if (mgv_broadcast_shape(binary_names[op], a, b, &nd, shape) < 0) return NULL;
    mgv_tensor *y = mgv_empty(nd, shape);
    if (!y) return NULL;
    int64_t n = mgv_numel(y);
    float *o = mgv_data(y);
    if (n == 0) return y;
    if (mgv_is_contiguous(a) && mgv_is_contiguous(b) && mgv_same_shape(a, b)) {
        binary_job j = {op, mgv_data(a), mgv_data(b), o};
        mgv_parallel_for(n, 65536, binary_part, &j);
        return y;
    }
    /* general path: odometer over the outer axes, strided rows along the last */
    int64_t sh[MGV_MAX_DIMS], sa[MGV_MAX_DIMS], sb[MGV_MAX_DIMS], idx[MGV_MAX_DIMS] = {0};
    int m = nd;
    if (m == 0) {   /* scalar op scalar: one row of one element */
        m = 1;
        sh[0] = 1;
        sa[0] = sb[0] = 0;
    } else {
        memcpy(sh, shape, sizeof(int64_t) * (size_t)nd);
        broadcast_strides(a, nd, sa);
        broadcast_strides(b, nd, sb);
    }
    int last = m - 1;
    int64_t len = sh[last], rows = n / len;
    int64_t oa = a->offset, ob = b->offset;
    const float *pa = a->storage->data, *pb = b->storage->data;
    for (int64_t r = 0; r < rows; r++) {
        binary_row(op, len, pa + oa, sa[last], pb + ob, sb[last], o + r * len);
        for (int d = last - 1; d >= 0; d--) {
            idx[d]++;
            oa += sa[d];
            ob += sb[d];
            if (idx[d] < sh[d]) break;
            oa -= sa[d] * sh[d];
            ob -= sb[d] * sh[d];
            idx[d] = 0;
        }
    }
    return y;
}

static mgv_tensor *binary_op(int op, mgv_tensor *a, mgv_tensor *b, mgv_backward_fn backward)
{
    mgv_tensor *y = binary_forward(op, a, b);
    if (!y) return NULL;
    mgv_tensor *in[2] = {a, b};
    MGV_PROFILE_UNTAPED(binary_names[op], 2, in);
    if (mgv_needs_grad(2, in) && !mgv_record(y, binary_names[op], backward, 2, in)) {
        mgv_release(y);
        return NULL;
    }
    return y;
}

/* d(a+b) = g, g */
static int add_backward(mgv_node *n, mgv_tensor *g)
{
    int rc = mgv_accumulate_grad(n->inputs[0], g);
    if (rc == 0) rc = mgv_accumulate_grad(n->inputs[1], g);
    return rc;
}
mgv_tensor *mgv_add(mgv_tensor *a, mgv_tensor *b) { return binary_op(BIN_ADD, a, b, add_backward); }

/* d(a-b) = g, -g */
static int sub_backward(mgv_node *n, mgv_tensor *g)
{
    int rc = mgv_accumulate_grad(n->inputs[0], g);
    if (rc == 0 && n->inputs[1]->requires_grad) rc = accumulate_owned(n->inputs[1], mgv_neg(g));
    return rc;
}
mgv_tensor *mgv_sub(mgv_tensor *a, mgv_tensor *b) { return binary_op(BIN_SUB, a, b, sub_backward); }

/* d(a*b) = g*b, g*a */
static int mul_backward(mgv_node *n, mgv_tensor *g)
{
    mgv_tensor *a = n->inputs[0], *b = n->inputs[1];
    int rc = 0;
    if (a->requires_grad) rc = accumulate_owned(a, mgv_mul(g, b));
    if (rc == 0 && b->requires_grad) rc = accumulate_owned(b, mgv_mul(g, a));
    return rc;
}
mgv_tensor *mgv_mul(mgv_tensor *a, mgv_tensor *b) { return binary_op(BIN_MUL, a, b, mul_backward); }

/* d(a/b) = g/b, -g*a/b^2 */
static int div_backward(mgv_node *n, mgv_tensor *g)
{
    mgv_tensor *a = n->inputs[0], *b = n->inputs[1];
    int rc = 0;
    if (a->requires_grad) rc = accumulate_owned(a, mgv_div(g, b));
    if (rc == 0 && b->requires_grad) {
        mgv_tensor *ga = mgv_mul(g, a);
        mgv_tensor *bb = ga ? mgv_mul(b, b) : NULL;
        mgv_tensor *q = bb ? mgv_div(ga, bb) : NULL;
        mgv_tensor *gb = q ? mgv_neg(q) : NULL;
        mgv_release(ga);
        mgv_release(bb);
        mgv_release(q);
        rc = accumulate_owned(b, gb);
    }
    return rc;
}
mgv_tensor *mgv_div(mgv_tensor *a, mgv_tensor *b) { return binary_op(BIN_DIV, a, b, div_backward); }

/* ---- unary maps ---------------------------------------------------------- */

enum {
    UN_NEG, UN_EXP, UN_LOG, UN_SQRT, UN_TANH, UN_RELU, UN_GELU, UN_SIGMOID,
    UN_SCALE, UN_ADD_SCALAR, UN_POW
};
static const char *const unary_names[] = {"neg",  "exp",  "log",   "sqrt",       "tanh", "relu",
                                          "gelu", "sigmoid", "scale", "add_scalar", "pow_scalar"};


/* Ops whose derivative is cheapest from the output y rather than x. */
static int unary_saves_output(int op)
{
    return op == UN_EXP || op == UN_SQRT || op == UN_TANH || op == UN_SIGMOID;
}

static float sigmoidf(float x)
{
    /* never exponentiate a large positive number: no overflow, no NaN */
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* GELU and its derivative on vectorisable exp and erfc (fastmath.h): within
 * a few float roundings of erff and expf. */
#pragma GCC push_options
#pragma GCC optimize("O3", "no-math-errno", "no-signed-zeros", "no-trapping-math", \
                     "fp-contract=fast")
#include "core/fastmath.h"   /* after the pragma: see fastmath.h */
#include "core/simd.h"

static MGV_SIMD_BODY void gelu_map_body(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++) y[i] = mgv_fast_gelu(x[i]);
}
MGV_SIMD_FN(static, gelu_map, (int64_t n, const float *x, float *y), (n, x, y))

static MGV_SIMD_BODY void gelu_grad_map_body(int64_t n, const float *g, const float *x, float *gx)
{
    for (int64_t i = 0; i < n; i++) gx[i] = g[i] * mgv_fast_gelu_grad(x[i]);
}
MGV_SIMD_FN(static, gelu_grad_map, (int64_t n, const float *g, const float *x, float *gx),
            (n, g, x, gx))
#pragma GCC pop_options

static void unary_kernel(int op, float p, int64_t n, const float *x, float *y)
{
    switch (op) {
    case UN_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;
    case UN_EXP: for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]); break;
    case UN_LOG: for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]); break;
    case UN_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
    case UN_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
    case UN_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f; break;
    case UN_GELU: gelu_map(n, x, y); break;
    case UN_SIGMOID: for (int64_t i = 0; i < n; i++) y[i] = sigmoidf(x[i]); break;
    case UN_SCALE: for (int64_t i = 0; i < n; i++) y[i] = p * x[i]; break;
    case UN_ADD_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = x[i] + p; break;
    default: /* UN_POW */
        if (p == 2.0f)
            for (int64_t i = 0; i < n; i++) y[i] = x[i] * x[i];
        else
            for (int64_t i = 0; i < n; i++) y[i] = powf(x[i], p);
        break;
    }
}

/* gx[i] = g[i] * f'(x[i]); x is the input, y the saved output (only one of
 * them is needed per op, the other may be NULL). */
static void unary_grad_kernel(int op, float p, int64_t n, const float *g, const float *x,
                              const float *y, float *gx)
{
    switch (op) {
    case UN_NEG: for (int64_t i = 0; i < n; i++) gx[i] = -g[i]; break;
    case UN_EXP: for (int64_t i = 0; i < n; i++) gx[i] = g[i] * y[i]; break;
    case UN_LOG: for (int64_t i = 0; i < n; i++) gx[i] = g[i] / x[i]; break;
    case UN_SQRT: for (int64_t i = 0; i < n; i++) gx[i] = g[i] * 0.5f / y[i]; break;
    case UN_TANH: for (int64_t i = 0; i < n; i++) gx[i] = g[i] * (1.0f - y[i] * y[i]); break;
    case UN_RELU: for (int64_t i = 0; i < n; i++) gx[i] = x[i] > 0 ? g[i] : 0.0f; break;
    case UN_GELU: gelu_grad_map(n, g, x, gx); break;
    case UN_SIGMOID: for (int64_t i = 0; i < n; i++) gx[i] = g[i] * y[i] * (1.0f - y[i]); break;
    case UN_SCALE: for (int64_t i = 0; i < n; i++) gx[i] = g[i] * p; break;
    case UN_ADD_SCALAR: for (int64_t i = 0; i < n; i++) gx[i] = g[i]; break;
    default: /* UN_POW: p x^(p-1); p == 0 is a constant (avoid 0 * inf at x = 0) */
        if (p == 0.0f)
            for (int64_t i = 0; i < n; i++) gx[i] = 0.0f;
        else if (p == 2.0f)
            for (int64_t i = 0; i < n; i++) gx[i] = g[i] * 2.0f * x[i];
        else
            for (int64_t i = 0; i < n; i++) gx[i] = g[i] * p * powf(x[i], p - 1.0f);
        break;
    }
}

/* A unary map (forward: g NULL) or its gradient over a range of elements.
 * Parts are whole blocks of UNARY_BLOCK elements from the start, so each
 * element takes the same path through a vectorised loop (main body or
 * remainder) for any thread count. */
#define UNARY_BLOCK 4096
#define UNARY_MIN_BLOCKS 4
typedef struct {
    int op;
    float p;
    const float *g, *x, *y;
    float *out;
    int64_t n;
} unary_job;

static void unary_part(void *ctx, int64_t b, int64_t e, int part)
{
    const unary_job *j = ctx;
    (void)part;
    b *= UNARY_BLOCK;
    e = e * UNARY_BLOCK < j->n ? e * UNARY_BLOCK : j->n;
    if (!j->g)
        unary_kernel(j->op, j->p, e - b, j->x + b, j->out + b);
    else
        unary_grad_kernel(j->op, j->p, e - b, j->g + b, j->x ? j->x + b : NULL,
                          j->y ? j->y + b : NULL, j->out + b);
}

static void unary_run(unary_job *j)
{
    mgv_parallel_for((j->n + UNARY_BLOCK - 1) / UNARY_BLOCK, UNARY_MIN_BLOCKS, unary_part, j);
}

/* node: inputs[0] = x, saved[0] = detached output (when the op needs it),
 * ints[0] = op, reals[0] = the scalar parameter. */
static int unary_backward(mgv_node *node, mgv_tensor *g)
{
    int op = (int)node->ints[0];
    float p = (float)node->reals[0];
    mgv_tensor *x = node->inputs[0];
    if (!x->requires_grad) return 0;
    mgv_tensor *gc = mgv_contiguous_data(g);
    mgv_tensor *xc = NULL, *yc = NULL;
    mgv_tensor *gx = gc ? mgv_empty(x->ndim, x->shape) : NULL;
    if (!gx) goto fail;
    if (unary_saves_output(op)) {
        if (!(yc = mgv_contiguous_data(node->saved[0]))) goto fail;
    } else if (op == UN_LOG || op == UN_RELU || op == UN_GELU || op == UN_POW) {
        if (!(xc = mgv_contiguous_data(x))) goto fail;
    }
    unary_job j = {op, p, mgv_data(gc), xc ? mgv_data(xc) : NULL, yc ? mgv_data(yc) : NULL,
                   mgv_data(gx), mgv_numel(x)};
    unary_run(&j);
    mgv_release(gc);
    mgv_release(xc);
    mgv_release(yc);
    return accumulate_owned(x, gx);
fail:
    mgv_release(gc);
    mgv_release(xc);
    mgv_release(yc);
    mgv_release(gx);
    return -1;
}

static mgv_tensor *unary_op(int op, mgv_tensor *x, float p)
{
    mgv_tensor *xc = mgv_contiguous_data(x);
    if (!xc) return NULL;
    mgv_tensor *y = mgv_empty(x->ndim, x->shape);
    if (!y) {
        mgv_release(xc);
        return NULL;
    }
    unary_job j = {op, p, NULL, mgv_data(xc), NULL, mgv_data(y), mgv_numel(x)};
    unary_run(&j);
    mgv_release(xc);
    MGV_PROFILE_UNTAPED(unary_names[op], 1, &x);
    if (mgv_needs_grad(1, &x)) {
        mgv_node *n = mgv_record(y, unary_names[op], unary_backward, 1, &x);
        if (!n) {
            mgv_release(y);
            return NULL;
        }
        n->ints[0] = op;
        n->reals[0] = p;
        if (unary_saves_output(op) && !(n->saved[0] = mgv_detach(y))) {
            mgv_release(y);
            return NULL;
        }
    }
    return y;
}

mgv_tensor *mgv_scale(mgv_tensor *x, float s) { return unary_op(UN_SCALE, x, s); }
mgv_tensor *mgv_add_scalar(mgv_tensor *x, float s) { return unary_op(UN_ADD_SCALAR, x, s); }
mgv_tensor *mgv_pow_scalar(mgv_tensor *x, float p) { return unary_op(UN_POW, x, p); }
mgv_tensor *mgv_neg(mgv_tensor *x) { return unary_op(UN_NEG, x, 0); }
mgv_tensor *mgv_exp(mgv_tensor *x) { return unary_op(UN_EXP, x, 0); }
mgv_tensor *mgv_log(mgv_tensor *x) { return unary_op(UN_LOG, x, 0); }
mgv_tensor *mgv_sqrt(mgv_tensor *x) { return unary_op(UN_SQRT, x, 0); }
mgv_tensor *mgv_tanh(mgv_tensor *x) { return unary_op(UN_TANH, x, 0); }
mgv_tensor *mgv_relu(mgv_tensor *x) { return unary_op(UN_RELU, x, 0); }
mgv_tensor *mgv_gelu(mgv_tensor *x) { return unary_op(UN_GELU, x, 0); }
mgv_tensor *mgv_sigmoid(mgv_tensor *x) { return unary_op(UN_SIGMOID, x, 0); }
