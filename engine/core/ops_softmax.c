/*
 * ops_softmax.c — softmax and log-softmax along an axis.
 *
 * The tensor is seen as [outer, n, inner] around the axis (n = its length).
 * Both ops subtract the maximum before exponentiating, so large logits do
 * not overflow.
 *
 * Masked entries (-inf) give softmax 0 and log-softmax -inf. A slice that is
 * entirely -inf (everything masked) has no distribution: softmax gives all
 * zeros there, log-softmax all -inf, and no gradient flows back through it
 * (both backward passes give 0), so a fully masked row never produces NaN.
 * +inf or NaN inputs still give NaN.
 *
 * Backward, with y the saved output and g the incoming gradient:
 *   softmax:      dx = y * (g - sum(g * y))
 *   log_softmax:  dx = g - exp(y) * sum(g)
 */
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops_nn.h"
#include "core/ops_softmax.h"
#include "core/parallel.h"

#include <math.h>
#include <stdlib.h>

/* outer, n, inner of t around axis ax. */
static void split_axis(const mgv_tensor *t, int ax, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = mgv_shape_numel(ax, t->shape);
    *n = t->shape[ax];
    *inner = mgv_shape_numel(t->ndim - ax - 1, t->shape + ax + 1);
}

/* Log-softmax of one slice with unit stride (the usual last-axis case). */
static void log_softmax_row(const float *x, float *y, int64_t n)
{
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    if (mx == -INFINITY) mx = 0;   /* all masked: every exp below is 0 */
    float s = 0;
    for (int64_t j = 0; j < n; j++) s += expf(x[j] - mx);
    /* (x - mx) - log s, not x - (mx + log s): keeps precision for large x */
    float ls = s > 0 ? logf(s) : 0;   /* all masked: y = x = -inf */
    for (int64_t j = 0; j < n; j++) y[j] = (x[j] - mx) - ls;
}

/* The row softmax (see ops_softmax.h) and its gradient, on the
 * vectorisable exp of fastmath.h. Rows start at fixed places, so the sums
 * do not depend on the thread count. */
#pragma GCC push_options
#pragma GCC optimize("O3", "no-math-errno", "no-signed-zeros", "no-trapping-math", \
                     "associative-math", "fp-contract=fast")
#include "core/fastmath.h"   /* after the pragma: see fastmath.h */
#include "core/simd.h"

static MGV_SIMD_BODY void mgv_softmax_rows_body(const float *x, float *y, int64_t rows,
                                                int64_t n, const float *pad)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        /* 16 independent maxima: one running maximum does not vectorise */
        float m[16];
        for (int k = 0; k < 16; k++) m[k] = -INFINITY;
        int64_t j = 0;
        for (; j + 16 <= n; j += 16)
            for (int k = 0; k < 16; k++) {
                float v = pad && pad[j + k] != 0 ? -INFINITY : xr[j + k];
                m[k] = v > m[k] ? v : m[k];
            }
        for (; j < n; j++) {
            float v = pad && pad[j] != 0 ? -INFINITY : xr[j];
            m[0] = v > m[0] ? v : m[0];
        }
        float mx = m[0];
        for (int k = 1; k < 16; k++) mx = m[k] > mx ? m[k] : mx;
        if (mx == -INFINITY) mx = 0;   /* all masked: every exp below is 0 */
        float s = 0;
        for (j = 0; j < n; j++) {
            float e = mgv_fast_exp_or0((pad && pad[j] != 0 ? -INFINITY : xr[j]) - mx);
            yr[j] = e;
            s += e;
        }
        float inv = s > 0 ? 1.0f / s : 0.0f;
        for (j = 0; j < n; j++) yr[j] *= inv;
    }
}
MGV_SIMD_FN(, mgv_softmax_rows,
            (const float *x, float *y, int64_t rows, int64_t n, const float *pad),
            (x, y, rows, n, pad))

static MGV_SIMD_BODY void softmax_grad_rows_body(const float *y, const float *g, float *dx,
                                                 int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * n, *gr = g + r * n;
        float *dr = dx + r * n, dot = 0;
        for (int64_t j = 0; j < n; j++) dot += gr[j] * yr[j];
        for (int64_t j = 0; j < n; j++) dr[j] = yr[j] * (gr[j] - dot);
    }
}
MGV_SIMD_FN(static, softmax_grad_rows,
            (const float *y, const float *g, float *dx, int64_t rows, int64_t n),
            (y, g, dx, rows, n))
#pragma GCC pop_options

/* inner > 1: the slices are the columns of an [n, inner] block; walking the
 * block row by row keeps memory access sequential. buf holds 2 * inner. */
static void softmax_block(const float *x, float *y, int64_t n, int64_t inner, int logv,
                          float *buf)
{
    float *mx = buf, *s = buf + inner;
    for (int64_t i = 0; i < inner; i++) {
        mx[i] = -INFINITY;
        s[i] = 0;
    }
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < inner; i++) mx[i] = x[j * inner + i] > mx[i] ? x[j * inner + i] : mx[i];
    for (int64_t i = 0; i < inner; i++)
        if (mx[i] == -INFINITY) mx[i] = 0;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < inner; i++) {
            float e = expf(x[j * inner + i] - mx[i]);
            s[i] += e;
            if (!logv) y[j * inner + i] = e;
        }
    if (logv) {
        for (int64_t i = 0; i < inner; i++) s[i] = s[i] > 0 ? logf(s[i]) : 0;
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < inner; i++)
                y[j * inner + i] = (x[j * inner + i] - mx[i]) - s[i];
    } else {
        for (int64_t i = 0; i < inner; i++) s[i] = s[i] > 0 ? 1.0f / s[i] : 0.0f;
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < inner; i++) y[j * inner + i] *= s[i];
    }
}

/* Log-softmax gradient of one unit-stride slice. */
static void log_softmax_row_backward(const float *y, const float *g, float *dx, int64_t n)
{
    float sg = 0;
    int live = 0;
    for (int64_t j = 0; j < n; j++) {
        sg += g[j];
        live |= y[j] != -INFINITY;
    }
    if (!live) {
        for (int64_t j = 0; j < n; j++) dx[j] = 0;
        return;
    }
    for (int64_t j = 0; j < n; j++) dx[j] = g[j] - expf(y[j]) * sg;
}

static void softmax_block_backward(const float *y, const float *g, float *dx, int64_t n,
                                   int64_t inner, int logv, float *buf)
{
    float *acc = buf, *live = buf + inner;
    for (int64_t i = 0; i < inner; i++) acc[i] = live[i] = 0;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < inner; i++) {
            float yv = y[j * inner + i], gv = g[j * inner + i];
            acc[i] += logv ? gv : gv * yv;
            if (logv && yv != -INFINITY) live[i] = 1;
        }
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < inner; i++) {
            float yv = y[j * inner + i], gv = g[j * inner + i];
            dx[j * inner + i] = logv ? (live[i] != 0 ? gv - expf(yv) * acc[i] : 0.0f)
                                     : yv * (gv - acc[i]);
        }
}

/* Last-axis slices are split over the engine's threads, whole slices per
 * thread (so results do not depend on the thread count). */
#define ROWS_MIN_ELEMS 32768   /* elements per part, at least */
typedef struct {
    const float *x, *g;   /* forward: input; backward: saved output and gradient */
    float *out;
    int64_t n;
    int logv;
} rows_job;

static void forward_rows(void *ctx, int64_t r0, int64_t r1, int part)
{
    const rows_job *j = ctx;
    (void)part;
    if (!j->logv) {
        mgv_softmax_rows(j->x + r0 * j->n, j->out + r0 * j->n, r1 - r0, j->n, NULL);
        return;
    }
    for (int64_t r = r0; r < r1; r++) log_softmax_row(j->x + r * j->n, j->out + r * j->n, j->n);
}

static void backward_rows(void *ctx, int64_t r0, int64_t r1, int part)
{
    const rows_job *j = ctx;
    (void)part;
    if (!j->logv) {
        softmax_grad_rows(j->x + r0 * j->n, j->g + r0 * j->n, j->out + r0 * j->n, r1 - r0, j->n);
        return;
    }
    for (int64_t r = r0; r < r1; r++)
        log_softmax_row_backward(j->x + r * j->n, j->g + r * j->n, j->out + r * j->n, j->n);
}

static int softmax_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *x = node->inputs[0], *y = node->saved[0];
    int ax = (int)node->ints[0], logv = (int)node->ints[1];
    int64_t outer, n, inner;
    split_axis(y, ax, &outer, &n, &inner);
    mgv_tensor *g = mgv_contiguous_data(gout);
    mgv_tensor *dx = mgv_empty(y->ndim, y->shape);
    float *buf = inner > 1 ? malloc(sizeof(float) * 2 * (size_t)inner) : NULL;
    int rc = -1;
    if (!g || !dx || (inner > 1 && !buf)) {
        if (g && dx) mgv_fail("%s: out of memory", node->op);
        goto out;
    }
    /* y is the saved output: created contiguous by the forward pass */
    const float *yd = mgv_data(y), *gd = mgv_data(g);
    float *dd = mgv_data(dx);
    if (inner == 1) {
        rows_job j = {yd, gd, dd, n, logv};
        mgv_parallel_for(outer, ROWS_MIN_ELEMS / (n + 1) + 1, backward_rows, &j);
    } else {
        for (int64_t o = 0; o < outer; o++) {
            int64_t base = o * n * inner;
            softmax_block_backward(yd + base, gd + base, dd + base, n, inner, logv, buf);
        }
    }
    rc = mgv_accumulate_grad(x, dx);
out:
    free(buf);
    mgv_release(g);
    mgv_release(dx);
    return rc;
}

static mgv_tensor *softmax_impl(const char *op, mgv_tensor *x, int axis, int logv)
{
    int ax;
    if (mgv_axis(op, x, axis, &ax) < 0) return NULL;
    int64_t outer, n, inner;
    split_axis(x, ax, &outer, &n, &inner);
    mgv_tensor *xc = mgv_contiguous_data(x);
    if (!xc) return NULL;
    mgv_tensor *y = mgv_empty(x->ndim, x->shape);
    float *buf = inner > 1 ? malloc(sizeof(float) * 2 * (size_t)inner) : NULL;
    if (!y || (inner > 1 && !buf)) {
        if (y) mgv_fail("%s: out of memory", op);
        free(buf);
        mgv_release(xc);
        mgv_release(y);
        return NULL;
    }
    const float *xd = mgv_data(xc);
    float *yd = mgv_data(y);
    if (inner == 1) {
        rows_job j = {xd, NULL, yd, n, logv};
        mgv_parallel_for(outer, ROWS_MIN_ELEMS / (n + 1) + 1, forward_rows, &j);
    } else {
        for (int64_t o = 0; o < outer; o++) {
            int64_t base = o * n * inner;
            softmax_block(xd + base, yd + base, n, inner, logv, buf);
        }
    }
    free(buf);
    mgv_release(xc);
    MGV_PROFILE_UNTAPED(op, 1, &x);
    if (mgv_needs_grad(1, &x)) {
        mgv_node *node = mgv_record(y, op, softmax_backward, 1, &x);
        if (!node) {
            mgv_release(y);
            return NULL;
        }
        node->saved[0] = mgv_detach(y);
        node->ints[0] = ax;
        node->ints[1] = logv;
        if (!node->saved[0]) {
            mgv_release(y);
            return NULL;
        }
    }
    return y;
}

mgv_tensor *mgv_softmax(mgv_tensor *x, int axis) { return softmax_impl("softmax", x, axis, 0); }

mgv_tensor *mgv_log_softmax(mgv_tensor *x, int axis)
{
    return softmax_impl("log_softmax", x, axis, 1);
}

/* ---- masked softmax with dropout (attention weights) ---------------------- */
/*
 * One op for masked_fill(x, pad, -inf), softmax over the last axis and
 * dropout, the same generator draws and numbers (up to float rounding), in
 * one pass per run of rows. saved[0] is the softmax y; the dropout mask is
 * drawn again in backward from ints[0] = key, ints[1] = base, reals[0] = p
 * (p 0: none): dx = y (gd - sum(gd y)) with gd = g times the mask. ints[2]
 * holds the rows per pad row, by which both passes walk the rows.
 */
typedef struct {
    const float *x, *pad, *g, *y;   /* backward: g, y */
    float *out, *prob;              /* forward: out (dropped), prob (y); backward: out (dx) */
    int64_t n, rows_per_pad;        /* row length; rows sharing one pad row */
    float p;
    uint64_t key, base;
} msd_job;

/* The end of the run of rows from r that share r's pad row, within r1: each
 * run is one call of the row kernels over run * n elements (the element
 * counters of the dropout mask stay base + r * n + j). */
static int64_t msd_run_end(const msd_job *j, int64_t r, int64_t r1)
{
    int64_t e = (r / j->rows_per_pad + 1) * j->rows_per_pad;
    return e < r1 ? e : r1;
}

static void msd_forward_part(void *ctx, int64_t r0, int64_t r1, int part)
{
    const msd_job *j = ctx;
    (void)part;
    int64_t n = j->n;
    for (int64_t r = r0, e; r < r1; r = e) {
        e = msd_run_end(j, r, r1);
        float *yr = j->prob + r * n;
        mgv_softmax_rows(j->x + r * n, yr, e - r, n,
                         j->pad ? j->pad + (r / j->rows_per_pad) * n : NULL);
        if (j->p > 0)
            mgv_dropout_apply(yr, j->out + r * n, (e - r) * n, j->p, j->key,
                              j->base + (uint64_t)(r * n));
    }
}

static void msd_backward_part(void *ctx, int64_t r0, int64_t r1, int part)
{
    const msd_job *j = ctx;
    (void)part;
    int64_t n = j->n;
    for (int64_t r = r0, e; r < r1; r = e) {
        e = msd_run_end(j, r, r1);
        const float *gr = j->g + r * n;
        float *dr = j->out + r * n;
        if (j->p > 0) {   /* dx = g times the mask first, then the gradient in place */
            mgv_dropout_apply(gr, dr, (e - r) * n, j->p, j->key, j->base + (uint64_t)(r * n));
            gr = dr;
        }
        softmax_grad_rows(j->y + r * n, gr, dr, e - r, n);
    }
}

static int msd_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *y = node->saved[0];
    int64_t n = y->shape[y->ndim - 1], rows = n ? mgv_numel(y) / n : 0;
    mgv_tensor *g = mgv_contiguous_data(gout);
    mgv_tensor *dx = g ? mgv_empty(y->ndim, y->shape) : NULL;
    int rc = -1;
    if (dx) {
        msd_job j = {NULL, NULL, mgv_data(g), mgv_data(y), mgv_data(dx), NULL, n,
                     node->ints[2], (float)node->reals[0], (uint64_t)node->ints[0],
                     (uint64_t)node->ints[1]};
        mgv_parallel_for(rows, ROWS_MIN_ELEMS / (n + 1) + 1, msd_backward_part, &j);
        rc = mgv_accumulate_grad_fresh(node->inputs[0], dx);
    }
    mgv_release(g);
    mgv_release(dx);
    return rc;
}

mgv_tensor *mgv_masked_softmax_dropout(mgv_tensor *x, mgv_tensor *pad, float p, int training,
                                       mgv_rng *rng)
{
    char sx[96], sp[96];
    if (!(p >= 0 && p < 1))
        return mgv_fail_null("masked_softmax_dropout: p = %g must be in [0, 1)", (double)p);
    if (x->ndim < 1)
        return mgv_fail_null("masked_softmax_dropout: input %s needs at least one dimension",
                             mgv_shape_str(x, sx, sizeof sx));
    int64_t n = x->shape[x->ndim - 1], rows = n ? mgv_numel(x) / n : 0;
    int64_t lead = x->ndim > 1 ? x->shape[0] : 1;
    if (pad && (pad->ndim != x->ndim || pad->shape[0] != lead || pad->shape[pad->ndim - 1] != n ||
                mgv_numel(pad) != lead * n))
        return mgv_fail_null("masked_softmax_dropout: pad %s is not one row of %lld keys per "
                             "sample of input %s",
                             mgv_shape_str(pad, sp, sizeof sp), (long long)n,
                             mgv_shape_str(x, sx, sizeof sx));
    if (!training) p = 0;
    if (!rng) rng = mgv_rng_global();
    mgv_tensor *xc = mgv_contiguous_data(x), *pc = pad ? mgv_contiguous_data(pad) : NULL;
    mgv_tensor *y = xc && (!pad || pc) ? mgv_empty(x->ndim, x->shape) : NULL;
    mgv_tensor *out = y && p > 0 ? mgv_empty(x->ndim, x->shape) : mgv_retain(y);
    if (!out) {
        mgv_release(xc);
        mgv_release(pc);
        mgv_release(y);
        return NULL;
    }
    uint64_t base = 0, key = p > 0 ? mgv_dropout_key(rng, x, &base) : 0;
    msd_job j = {mgv_data(xc), pc ? mgv_data(pc) : NULL, NULL, NULL, mgv_data(out), mgv_data(y),
                 n, lead ? rows / lead : 1, p, key, base};
    mgv_parallel_for(rows, ROWS_MIN_ELEMS / (n + 1) + 1, msd_forward_part, &j);
    mgv_release(xc);
    mgv_release(pc);
    MGV_PROFILE_UNTAPED("masked_softmax_dropout", 1, &x);
    if (mgv_needs_grad(1, &x)) {
        mgv_node *node = mgv_record(out, "masked_softmax_dropout", msd_backward, 1, &x);
        if (!node || !(node->saved[0] = mgv_detach(y))) {
            mgv_release(y);
            mgv_release(out);
            return NULL;
        }
        node->ints[0] = (int64_t)key;
        node->ints[1] = (int64_t)base;
        node->ints[2] = j.rows_per_pad;
        node->reals[0] = p;
    }
    mgv_release(y);
    return out;
}
