/*
 * ops_loss.c — losses and divergences: cross_entropy, margin_ranking,
 * kl_categorical, gaussian_kl.
 *
 * Sums are accumulated in double (losses are small differences of large
 * sums); gradients are written in float. Targets are validated before any
 * work so a bad label is a message naming the row, the label and the range.
 */
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Copies n targets into a fresh array after checking each is in [0, C). */
static int64_t *targets_copy(const char *op, const int64_t *target, int64_t n, int64_t C)
{
    if (n > 0 && !target) return mgv_fail_null("%s: no targets given", op);
    for (int64_t i = 0; i < n; i++)
        if (target[i] < 0 || target[i] >= C)
            return mgv_fail_null("%s: target %lld (row %lld) out of range for %lld classes", op,
                                 (long long)target[i], (long long)i, (long long)C);
    int64_t *t = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!t) return mgv_fail_null("%s: out of memory", op);
    if (n) memcpy(t, target, sizeof(int64_t) * (size_t)n);
    return t;
}

/* [N, C] with N, C >= 1, or a message. */
static int check_2d(const char *op, const char *what, const mgv_tensor *x)
{
    char s[96];
    if (x->ndim != 2 || x->shape[0] < 1 || x->shape[1] < 1)
        return mgv_fail("%s: %s %s must be 2-d [N x C] with N, C >= 1", op, what,
                        mgv_shape_str(x, s, sizeof s));
    return 0;
}

/* Records the node of a scalar loss whose backward needs only the input and
 * the targets (kept in ctx). Releases y and returns NULL on failure. */
static mgv_tensor *record_with_targets(mgv_tensor *y, const char *op, mgv_backward_fn fn,
                                       mgv_tensor *x, int64_t *targets, double real)
{
    MGV_PROFILE_UNTAPED(op, 1, &x);
    if (!mgv_needs_grad(1, &x)) {
        free(targets);
        return y;
    }
    mgv_node *node = mgv_record(y, op, fn, 1, &x);
    if (!node) {
        free(targets);
        mgv_release(y);
        return NULL;
    }
    node->ctx = targets;
    node->free_ctx = free;
    node->reals[0] = real;
    return y;
}

/* ---- cross_entropy ------------------------------------------------------- */
/*
 * loss = mean_i (lse_i - x[i, t_i]), lse_i = log sum_j exp x[i, j].
 * d/dx[i, j] = (softmax_ij - [j == t_i]) / N. A row whose logits are all
 * -inf has an infinite loss and no gradient.
 */

/* lse of one row, max-subtracted; -inf for an all -inf row. */
static double row_lse(const float *x, int64_t C)
{
    float mx = -INFINITY;
    for (int64_t j = 0; j < C; j++) mx = x[j] > mx ? x[j] : mx;
    if (mx == -INFINITY) return -INFINITY;
    double s = 0;
    for (int64_t j = 0; j < C; j++) s += expf(x[j] - mx);
    return mx + log(s);
}

static int cross_entropy_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *x = node->inputs[0];
    const int64_t *t = node->ctx;
    int64_t N = x->shape[0], C = x->shape[1];
    mgv_tensor *xc = mgv_contiguous_data(x);
    mgv_tensor *dx = xc ? mgv_empty(2, x->shape) : NULL;
    if (!dx) {
        mgv_release(xc);
        return -1;
    }
    float k = mgv_get_flat(gout, 0) / (float)N;
    const float *xd = mgv_data(xc);
    float *dd = mgv_data(dx);
    for (int64_t i = 0; i < N; i++) {
        const float *xr = xd + i * C;
        float *dr = dd + i * C;
        double lse = row_lse(xr, C);
        if (lse == -INFINITY) {
            for (int64_t j = 0; j < C; j++) dr[j] = 0;
            continue;
        }
        float l = (float)lse;
        for (int64_t j = 0; j < C; j++) dr[j] = k * expf(xr[j] - l);
        dr[t[i]] -= k;
    }
    mgv_release(xc);
    int rc = mgv_accumulate_grad(x, dx);
    mgv_release(dx);
    return rc;
}

mgv_tensor *mgv_cross_entropy(mgv_tensor *logits, const int64_t *target)
{
    if (check_2d("cross_entropy", "logits", logits) < 0) return NULL;
    int64_t N = logits->shape[0], C = logits->shape[1];
    int64_t *t = targets_copy("cross_entropy", target, N, C);
    if (!t) return NULL;
    mgv_tensor *xc = mgv_contiguous_data(logits);
    mgv_tensor *y = xc ? mgv_empty(0, NULL) : NULL;
    if (!y) {
        free(t);
        mgv_release(xc);
        return NULL;
    }
    const float *xd = mgv_data(xc);
    double sum = 0;
    for (int64_t i = 0; i < N; i++) {
        const float *xr = xd + i * C;
        double lse = row_lse(xr, C);
        sum += lse == -INFINITY ? INFINITY : lse - xr[t[i]];
    }
    mgv_data(y)[0] = (float)(sum / (double)N);
    mgv_release(xc);
    return record_with_targets(y, "cross_entropy", cross_entropy_backward, logits, t, 0);
}

/* ---- margin_ranking ------------------------------------------------------ */
/*
 * loss = mean_b sum_{j != y_b} max(0, margin - s[b, y_b] + s[b, j]).
 * Each active pair (strictly positive hinge) adds 1/B to d s[b, j] and
 * subtracts 1/B from d s[b, y_b]; at the hinge the subgradient is 0.
 */

static int margin_ranking_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *s = node->inputs[0];
    const int64_t *t = node->ctx;
    float margin = (float)node->reals[0];
    int64_t B = s->shape[0], C = s->shape[1];
    mgv_tensor *sc = mgv_contiguous_data(s);
    mgv_tensor *ds = sc ? mgv_zeros(2, s->shape) : NULL;
    if (!ds) {
        mgv_release(sc);
        return -1;
    }
    float k = mgv_get_flat(gout, 0) / (float)B;
    const float *sd = mgv_data(sc);
    float *dd = mgv_data(ds);
    for (int64_t b = 0; b < B; b++) {
        const float *sr = sd + b * C;
        float *dr = dd + b * C;
        float base = margin - sr[t[b]];
        for (int64_t j = 0; j < C; j++) {
            if (j == t[b] || !(base + sr[j] > 0)) continue;
            dr[j] += k;
            dr[t[b]] -= k;
        }
    }
    mgv_release(sc);
    int rc = mgv_accumulate_grad(s, ds);
    mgv_release(ds);
    return rc;
}

mgv_tensor *mgv_margin_ranking(mgv_tensor *scores, const int64_t *target, float margin)
{
    if (check_2d("margin_ranking", "scores", scores) < 0) return NULL;
    int64_t B = scores->shape[0], C = scores->shape[1];
    int64_t *t = targets_copy("margin_ranking", target, B, C);
    if (!t) return NULL;
    mgv_tensor *sc = mgv_contiguous_data(scores);
    mgv_tensor *y = sc ? mgv_empty(0, NULL) : NULL;
    if (!y) {
        free(t);
        mgv_release(sc);
        return NULL;
    }
    const float *sd = mgv_data(sc);
    double sum = 0;
    for (int64_t b = 0; b < B; b++) {
        const float *sr = sd + b * C;
        float base = margin - sr[t[b]];
        for (int64_t j = 0; j < C; j++) {
            float h = base + sr[j];
            if (j != t[b] && h > 0) sum += h;
        }
    }
    mgv_data(y)[0] = (float)(sum / (double)B);
    mgv_release(sc);
    return record_with_targets(y, "margin_ranking", margin_ranking_backward, scores, t, margin);
}

/* ---- kl_categorical ------------------------------------------------------ */
/*
 * kl = sum_axis p (logp - logq), p = exp(logp), with 0 log 0 = 0 (terms where
 * p == 0 contribute nothing, also for logq = -inf there).
 * d/dlogp = p (logp - logq + 1), d/dlogq = -p; both 0 where p == 0.
 */

static void kl_split(const mgv_tensor *t, int ax, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = mgv_shape_numel(ax, t->shape);
    *n = t->shape[ax];
    *inner = mgv_shape_numel(t->ndim - ax - 1, t->shape + ax + 1);
}

static int kl_categorical_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *lp = node->inputs[0], *lq = node->inputs[1];
    int ax = (int)node->ints[0];
    int64_t outer, n, inner;
    kl_split(lp, ax, &outer, &n, &inner);
    mgv_tensor *pc = mgv_contiguous_data(lp), *qc = mgv_contiguous_data(lq);
    mgv_tensor *g = mgv_contiguous_data(gout);
    mgv_tensor *dp = mgv_empty(lp->ndim, lp->shape), *dq = mgv_empty(lq->ndim, lq->shape);
    int rc = -1;
    if (pc && qc && g && dp && dq) {
        const float *pd = mgv_data(pc), *qd = mgv_data(qc), *gd = mgv_data(g);
        float *dpd = mgv_data(dp), *dqd = mgv_data(dq);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < n; j++) {
                int64_t base = (o * n + j) * inner;
                const float *gr = gd + o * inner;
                for (int64_t i = 0; i < inner; i++) {
                    float l = pd[base + i], p = expf(l);
                    if (p == 0) {
                        dpd[base + i] = dqd[base + i] = 0;
                        continue;
                    }
                    dpd[base + i] = gr[i] * p * (l - qd[base + i] + 1);
                    dqd[base + i] = -gr[i] * p;
                }
            }
        rc = mgv_accumulate_grad(lp, dp);
        if (rc == 0) rc = mgv_accumulate_grad(lq, dq);
    }
    mgv_release(pc);
    mgv_release(qc);
    mgv_release(g);
    mgv_release(dp);
    mgv_release(dq);
    return rc;
}

mgv_tensor *mgv_kl_categorical(mgv_tensor *logp, mgv_tensor *logq, int axis)
{
    char sp[96], sq[96];
    if (!mgv_same_shape(logp, logq))
        return mgv_fail_null("kl_categorical: logp %s and logq %s differ in shape",
                             mgv_shape_str(logp, sp, sizeof sp), mgv_shape_str(logq, sq, sizeof sq));
    int ax;
    if (mgv_axis("kl_categorical", logp, axis, &ax) < 0) return NULL;
    int64_t outer, n, inner, oshape[MGV_MAX_DIMS];
    kl_split(logp, ax, &outer, &n, &inner);
    for (int d = 0, k = 0; d < logp->ndim; d++)
        if (d != ax) oshape[k++] = logp->shape[d];
    mgv_tensor *pc = mgv_contiguous_data(logp), *qc = mgv_contiguous_data(logq);
    int64_t ny = outer * inner;
    double *acc = malloc(sizeof(double) * (size_t)(ny ? ny : 1));
    mgv_tensor *y = mgv_empty(logp->ndim - 1, oshape);
    if (!pc || !qc || !acc || !y) {
        if (!acc) mgv_fail("kl_categorical: out of memory");
        mgv_release(pc);
        mgv_release(qc);
        mgv_release(y);
        free(acc);
        return NULL;
    }
    const float *pd = mgv_data(pc), *qd = mgv_data(qc);
    for (int64_t k = 0; k < ny; k++) acc[k] = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < n; j++) {
            int64_t base = (o * n + j) * inner;
            double *ar = acc + o * inner;
            for (int64_t i = 0; i < inner; i++) {
                float l = pd[base + i], p = expf(l);
                if (p != 0) ar[i] += (double)p * ((double)l - qd[base + i]);
            }
        }
    float *yd = mgv_data(y);
    for (int64_t k = 0; k < ny; k++) yd[k] = (float)acc[k];
    free(acc);
    mgv_release(pc);
    mgv_release(qc);
    mgv_tensor *in[2] = {logp, logq};
    MGV_PROFILE_UNTAPED("kl_categorical", 2, in);
    if (mgv_needs_grad(2, in)) {
        mgv_node *node = mgv_record(y, "kl_categorical", kl_categorical_backward, 2, in);
        if (!node) {
            mgv_release(y);
            return NULL;
        }
        node->ints[0] = ax;
    }
    return y;
}

/* ---- gaussian_kl --------------------------------------------------------- */
/*
 * kl = -1/2 sum (1 + logvar - mu^2 - exp(logvar)) over the last n_sum_dims
 * axes. d/dmu = mu, d/dlogvar = (exp(logvar) - 1) / 2 (times the incoming
 * gradient of the row). ints[0] holds n_sum_dims.
 */

static int gaussian_kl_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *mu = node->inputs[0], *lv = node->inputs[1];
    int lead = mu->ndim - (int)node->ints[0];
    int64_t R = mgv_shape_numel(lead, mu->shape);
    int64_t D = mgv_shape_numel(mu->ndim - lead, mu->shape + lead);
    mgv_tensor *mc = mgv_contiguous_data(mu), *lc = mgv_contiguous_data(lv);
    mgv_tensor *g = mgv_contiguous_data(gout);
    mgv_tensor *dm = mgv_empty(mu->ndim, mu->shape), *dl = mgv_empty(lv->ndim, lv->shape);
    int rc = -1;
    if (mc && lc && g && dm && dl) {
        const float *md = mgv_data(mc), *ld = mgv_data(lc), *gd = mgv_data(g);
        float *dmd = mgv_data(dm), *dld = mgv_data(dl);
        for (int64_t r = 0; r < R; r++) {
            float gr = gd[r];
            for (int64_t j = 0; j < D; j++) {
                int64_t k = r * D + j;
                dmd[k] = gr * md[k];
                dld[k] = 0.5f * gr * (expf(ld[k]) - 1.0f);
            }
        }
        rc = mgv_accumulate_grad(mu, dm);
        if (rc == 0) rc = mgv_accumulate_grad(lv, dl);
    }
    mgv_release(mc);
    mgv_release(lc);
    mgv_release(g);
    mgv_release(dm);
    mgv_release(dl);
    return rc;
}

mgv_tensor *mgv_gaussian_kl(mgv_tensor *mu, mgv_tensor *logvar, int n_sum_dims)
{
    char sm[96], sl[96];
    if (!mgv_same_shape(mu, logvar))
        return mgv_fail_null("gaussian_kl: mu %s and logvar %s differ in shape",
                             mgv_shape_str(mu, sm, sizeof sm), mgv_shape_str(logvar, sl, sizeof sl));
    if (n_sum_dims < 0 || n_sum_dims > mu->ndim)
        return mgv_fail_null("gaussian_kl: cannot sum %d axes of %s", n_sum_dims,
                             mgv_shape_str(mu, sm, sizeof sm));
    int lead = mu->ndim - n_sum_dims;
    int64_t R = mgv_shape_numel(lead, mu->shape);
    int64_t D = mgv_shape_numel(n_sum_dims, mu->shape + lead);
    mgv_tensor *mc = mgv_contiguous_data(mu), *lc = mgv_contiguous_data(logvar);
    mgv_tensor *y = mgv_empty(lead, mu->shape);
    if (!mc || !lc || !y) {
        mgv_release(mc);
        mgv_release(lc);
        mgv_release(y);
        return NULL;
    }
    const float *md = mgv_data(mc), *ld = mgv_data(lc);
    float *yd = mgv_data(y);
    for (int64_t r = 0; r < R; r++) {
        double s = 0;
        for (int64_t j = 0; j < D; j++) {
            int64_t k = r * D + j;
            s += 1.0 + ld[k] - (double)md[k] * md[k] - exp((double)ld[k]);
        }
        yd[r] = (float)(-0.5 * s);
    }
    mgv_release(mc);
    mgv_release(lc);
    mgv_tensor *in[2] = {mu, logvar};
    MGV_PROFILE_UNTAPED("gaussian_kl", 2, in);
    if (mgv_needs_grad(2, in)) {
        mgv_node *node = mgv_record(y, "gaussian_kl", gaussian_kl_backward, 2, in);
        if (!node) {
            mgv_release(y);
            return NULL;
        }
        node->ints[0] = n_sum_dims;
    }
    return y;
}
