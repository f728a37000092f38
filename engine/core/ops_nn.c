/*
 * ops_nn.c — neural-network building blocks: layer_norm, dropout,
 * masked_fill, embedding, cosine_similarity, l2_norm.
 *
 * Each op reads contiguous copies of its inputs (mgv_contiguous_data), writes
 * a fresh contiguous output, and keeps what its backward needs in the node.
 * Gradients of broadcast inputs are handed to mgv_accumulate_grad in the
 * broadcast shape; it sums them down to the input's shape.
 */
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops_elementwise.h"
#include "core/ops_nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

/* outer, n, inner of a shape around axis ax. */
static void split_shape(int ndim, const int64_t *shape, int ax, int64_t *outer, int64_t *n,
                        int64_t *inner)
{
    *outer = mgv_shape_numel(ax, shape);
    *n = shape[ax];
    *inner = mgv_shape_numel(ndim - ax - 1, shape + ax + 1);
}

/* A contiguous copy of t broadcast to (ndim, shape), which must be valid. */
static mgv_tensor *expand_data(mgv_tensor *t, int ndim, const int64_t *shape)
{
    if (t->ndim == ndim && memcmp(t->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0)
        return mgv_contiguous_data(t);
    int64_t stride[MGV_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++)
        stride[d] = d < lead || t->shape[d - lead] == 1 ? 0 : t->stride[d - lead];
    mgv_tensor *v = mgv_view_of(t, ndim, shape, stride, t->offset);
    if (!v) return NULL;
    mgv_tensor *c = mgv_clone_data(v);
    mgv_release(v);
    return c;
}

/* ---- layer_norm --------------------------------------------------------- */
/*
 * Per row of d values: mean, rstd = 1/sqrt(var + eps) (biased variance),
 * xhat = (x - mean) rstd, y = xhat gamma + beta. Backward with
 * dxhat = g gamma:  dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),
 * dgamma = sum over rows of g xhat, dbeta = sum over rows of g.
 * saved[0] holds [rows, 2] = (mean, rstd).
 */

static int layer_norm_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *x = node->inputs[0], *gamma = node->inputs[1], *beta = node->inputs[2];
    mgv_tensor *stats = node->saved[0];
    int64_t d = x->shape[x->ndim - 1], rows = d ? mgv_numel(x) / d : 0;
    mgv_tensor *xc = mgv_contiguous_data(x), *g = mgv_contiguous_data(gout);
    mgv_tensor *gc = gamma ? mgv_contiguous_data(gamma) : NULL;
    mgv_tensor *dx = NULL, *dgamma = NULL, *dbeta = NULL;
    float *dxhat = malloc(sizeof(float) * (size_t)(d ? d : 1));
    int rc = -1;
    if (!xc || !g || (gamma && !gc) || !dxhat) {
        if (!dxhat) mgv_fail("layer_norm: out of memory");
        goto out;
    }
    if (x->requires_grad && !(dx = mgv_empty(x->ndim, x->shape))) goto out;
    if (gamma && gamma->requires_grad && !(dgamma = mgv_zeros(1, gamma->shape))) goto out;
    if (beta && beta->requires_grad && !(dbeta = mgv_zeros(1, beta->shape))) goto out;
    const float *xd = mgv_data(xc), *gd = mgv_data(g), *st = mgv_data(stats);
    const float *gm = gc ? mgv_data(gc) : NULL;
    float inv_d = d ? 1.0f / (float)d : 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = xd + r * d, *gr = gd + r * d;
        float mean = st[2 * r], rstd = st[2 * r + 1];
        if (dgamma) {
            float *dg = mgv_data(dgamma);
            for (int64_t j = 0; j < d; j++) dg[j] += gr[j] * (xr[j] - mean) * rstd;
        }
        if (dbeta) {
            float *db = mgv_data(dbeta);
            for (int64_t j = 0; j < d; j++) db[j] += gr[j];
        }
        if (!dx) continue;
        float s1 = 0, s2 = 0;
        for (int64_t j = 0; j < d; j++) {
            dxhat[j] = gm ? gr[j] * gm[j] : gr[j];
            s1 += dxhat[j];
            s2 += dxhat[j] * (xr[j] - mean) * rstd;
        }
        s1 *= inv_d;
        s2 *= inv_d;
        float *dr = (float *)mgv_data(dx) + r * d;
        for (int64_t j = 0; j < d; j++)
            dr[j] = rstd * (dxhat[j] - s1 - (xr[j] - mean) * rstd * s2);
    }
    rc = 0;
    if (dx) rc = mgv_accumulate_grad(x, dx);
    if (rc == 0 && dgamma) rc = mgv_accumulate_grad(gamma, dgamma);
    if (rc == 0 && dbeta) rc = mgv_accumulate_grad(beta, dbeta);
out:
    free(dxhat);
    mgv_release(xc);
    mgv_release(g);
    mgv_release(gc);
    mgv_release(dx);
    mgv_release(dgamma);
    mgv_release(dbeta);
    return rc;
}

mgv_tensor *mgv_layer_norm(mgv_tensor *x, mgv_tensor *gamma, mgv_tensor *beta, float eps)
{
    char sx[96], sp[96];
    if (x->ndim < 1)
        return mgv_fail_null("layer_norm: input %s needs at least one dimension",
                             mgv_shape_str(x, sx, sizeof sx));
    if (!(eps >= 0))
        return mgv_fail_null("layer_norm: eps = %g must be >= 0", (double)eps);
    int64_t d = x->shape[x->ndim - 1], rows = d ? mgv_numel(x) / d : 0;
    mgv_tensor *params[2] = {gamma, beta};
    const char *names[2] = {"gamma", "beta"};
    for (int i = 0; i < 2; i++)
        if (params[i] && (params[i]->ndim != 1 || params[i]->shape[0] != d))
            return mgv_fail_null("layer_norm: %s %s does not match the last axis of input %s",
                                 names[i], mgv_shape_str(params[i], sp, sizeof sp),
                                 mgv_shape_str(x, sx, sizeof sx));
    int64_t sshape[2] = {rows, 2};
    mgv_tensor *xc = mgv_contiguous_data(x);
    mgv_tensor *gc = gamma ? mgv_contiguous_data(gamma) : NULL;
    mgv_tensor *bc = beta ? mgv_contiguous_data(beta) : NULL;
    mgv_tensor *y = mgv_empty(x->ndim, x->shape), *stats = mgv_empty(2, sshape);
    if (!xc || (gamma && !gc) || (beta && !bc) || !y || !stats) goto fail;
    const float *xd = mgv_data(xc);
    const float *gm = gc ? mgv_data(gc) : NULL, *bt = bc ? mgv_data(bc) : NULL;
    float *yd = mgv_data(y), *st = mgv_data(stats);
    float inv_d = d ? 1.0f / (float)d : 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = xd + r * d;
        float *yr = yd + r * d;
        float mean = 0, var = 0;
        for (int64_t j = 0; j < d; j++) mean += xr[j];
        mean *= inv_d;
        for (int64_t j = 0; j < d; j++) var += (xr[j] - mean) * (xr[j] - mean);
        var *= inv_d;
        float rstd = 1.0f / sqrtf(var + eps);
        st[2 * r] = mean;
        st[2 * r + 1] = rstd;
        for (int64_t j = 0; j < d; j++) {
            float v = (xr[j] - mean) * rstd;
            if (gm) v *= gm[j];
            if (bt) v += bt[j];
            yr[j] = v;
        }
    }
    mgv_release(xc);
    mgv_release(gc);
    mgv_release(bc);
    mgv_tensor *in[3] = {x, gamma, beta};
    MGV_PROFILE_UNTAPED("layer_norm", 3, in);
    if (mgv_needs_grad(3, in)) {
        mgv_node *node = mgv_record(y, "layer_norm", layer_norm_backward, 3, in);
        if (!node) {
            mgv_release(stats);
            mgv_release(y);
            return NULL;
        }
        node->saved[0] = stats;
    } else {
        mgv_release(stats);
    }
    return y;
fail:
    mgv_release(xc);
    mgv_release(gc);
    mgv_release(bc);
    mgv_release(y);
    mgv_release(stats);
    return NULL;
}

/* ---- dropout ------------------------------------------------------------- */
/* saved[0] is the mask: 0 for dropped elements, 1/(1-p) for kept ones. */

static int dropout_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *g = mgv_contiguous_data(gout);
    mgv_tensor *dx = g ? mgv_empty(gout->ndim, gout->shape) : NULL;
    int rc = -1;
    if (dx) {
        const float *gd = mgv_data(g), *md = mgv_data(node->saved[0]);
        float *dd = mgv_data(dx);
        int64_t n = mgv_numel(dx);
        for (int64_t i = 0; i < n; i++) dd[i] = gd[i] * md[i];
        rc = mgv_accumulate_grad(node->inputs[0], dx);
    }
    mgv_release(g);
    mgv_release(dx);
    return rc;
}

mgv_tensor *mgv_dropout(mgv_tensor *x, float p, int training, mgv_rng *rng)
{
    if (!(p >= 0 && p < 1))
        return mgv_fail_null("dropout: p = %g must be in [0, 1)", (double)p);
    if (!training || p == 0) return mgv_retain(x);
    if (!rng) rng = mgv_rng_global();
    mgv_tensor *xc = mgv_contiguous_data(x);
    mgv_tensor *y = mgv_empty(x->ndim, x->shape), *mask = mgv_empty(x->ndim, x->shape);
    if (!xc || !y || !mask) {
        mgv_release(xc);
        mgv_release(y);
        mgv_release(mask);
        return NULL;
    }
    const float *xd = mgv_data(xc);
    float *yd = mgv_data(y), *md = mgv_data(mask);
    float scale = 1.0f / (1.0f - p);
    int64_t n = mgv_numel(x);
    /* a rank's rows of a global batch: the draws of the other ranks' rows skipped */
    int64_t per_row = rng->shard_rows > 0 && x->ndim > 0 && x->shape[0] == rng->shard_rows
                          ? n / rng->shard_rows : 0;
    mgv_rng_skip(rng, per_row * rng->shard_before);
    for (int64_t i = 0; i < n; i++) {
        md[i] = mgv_rng_uniform(rng) < p ? 0.0f : scale;
        yd[i] = xd[i] * md[i];
    }
    mgv_rng_skip(rng, per_row * rng->shard_after);
    mgv_release(xc);
    MGV_PROFILE_UNTAPED("dropout", 1, &x);
    if (mgv_needs_grad(1, &x)) {
        mgv_node *node = mgv_record(y, "dropout", dropout_backward, 1, &x);
        if (!node) {
            mgv_release(mask);
            mgv_release(y);
            return NULL;
        }
        node->saved[0] = mask;
        node->reals[0] = p;
    } else {
        mgv_release(mask);
    }
    return y;
}

/* ---- masked_fill --------------------------------------------------------- */
/*
 * dst = src where the mask is zero, fill where it is not; the mask (m,
 * contiguous, mshape) is broadcast to (ndim, shape) by walking it with
 * stride 0 along its size-1 axes. The innermost axis is a tight loop.
 */
static void masked_apply(int ndim, const int64_t *shape, const float *src, const float *m,
                         int mndim, const int64_t *mshape, float fill, float *dst)
{
    int64_t mst[MGV_MAX_DIMS] = {0}, cs = 1;
    int lead = ndim - mndim;
    for (int d = ndim - 1; d >= lead; d--) {
        mst[d] = mshape[d - lead] == 1 ? 0 : cs;
        cs *= mshape[d - lead];
    }
    int64_t len = ndim ? shape[ndim - 1] : 1, ms = ndim ? mst[ndim - 1] : 0;
    int64_t rows = len ? mgv_shape_numel(ndim, shape) / len : 0;
    int64_t idx[MGV_MAX_DIMS] = {0}, moff = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *sr = src + r * len;
        float *dr = dst + r * len;
        for (int64_t j = 0; j < len; j++) dr[j] = m[moff + j * ms] != 0 ? fill : sr[j];
        for (int d = ndim - 2; d >= 0; d--) {
            idx[d]++;
            moff += mst[d];
            if (idx[d] < shape[d]) break;
            moff -= mst[d] * shape[d];
            idx[d] = 0;
        }
    }
}

static int masked_fill_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *mask = node->saved[0];
    mgv_tensor *g = mgv_contiguous_data(gout);
    mgv_tensor *dx = g ? mgv_empty(gout->ndim, gout->shape) : NULL;
    int rc = -1;
    if (dx) {
        masked_apply(dx->ndim, dx->shape, mgv_data(g), mgv_data(mask), mask->ndim, mask->shape,
                     0.0f, mgv_data(dx));
        rc = mgv_accumulate_grad(node->inputs[0], dx);
    }
    mgv_release(g);
    mgv_release(dx);
    return rc;
}

mgv_tensor *mgv_masked_fill(mgv_tensor *x, mgv_tensor *mask, float value)
{
    char sx[96], sm[96];
    int ok = mask->ndim <= x->ndim;
    for (int d = 0; ok && d < mask->ndim; d++) {
        int64_t ms = mask->shape[mask->ndim - 1 - d], xs = x->shape[x->ndim - 1 - d];
        ok = ms == xs || ms == 1;
    }
    if (!ok)
        return mgv_fail_null("masked_fill: mask %s does not broadcast to input %s",
                             mgv_shape_str(mask, sm, sizeof sm), mgv_shape_str(x, sx, sizeof sx));
    mgv_tensor *xc = mgv_contiguous_data(x), *mc = mgv_contiguous_data(mask);
    mgv_tensor *y = mgv_empty(x->ndim, x->shape);
    if (!xc || !mc || !y) {
        mgv_release(xc);
        mgv_release(mc);
        mgv_release(y);
        return NULL;
    }
    masked_apply(x->ndim, x->shape, mgv_data(xc), mgv_data(mc), mc->ndim, mc->shape, value,
                 mgv_data(y));
    mgv_release(xc);
    MGV_PROFILE_UNTAPED("masked_fill", 1, &x);
    if (mgv_needs_grad(1, &x)) {
        mgv_node *node = mgv_record(y, "masked_fill", masked_fill_backward, 1, &x);
        /* the mask's values only, without its own autograd history */
        if (!node || !(node->saved[0] = mgv_detach(mc))) {
            mgv_release(mc);
            mgv_release(y);
            return NULL;
        }
    }
    mgv_release(mc);
    return y;
}

/* ---- embedding ----------------------------------------------------------- */
/* ctx holds a copy of the indices; ints[0] is their count. */

static int embedding_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *w = node->inputs[0];
    const int64_t *index = node->ctx;
    int64_t n = node->ints[0], d = w->shape[1];
    mgv_tensor *g = mgv_contiguous_data(gout);
    mgv_tensor *dw = g ? mgv_zeros(2, w->shape) : NULL;
    int rc = -1;
    if (dw) {
        const float *gd = mgv_data(g);
        float *dd = mgv_data(dw);
        for (int64_t i = 0; i < n; i++) {   /* repeated indices add up */
            float *row = dd + index[i] * d;
            const float *gr = gd + i * d;
            for (int64_t j = 0; j < d; j++) row[j] += gr[j];
        }
        rc = mgv_accumulate_grad(w, dw);
    }
    mgv_release(g);
    mgv_release(dw);
    return rc;
}

mgv_tensor *mgv_embedding(mgv_tensor *weight, const int64_t *index, int ndim,
                          const int64_t *shape)
{
    char sw[96];
    if (weight->ndim != 2)
        return mgv_fail_null("embedding: weight %s must be 2-d [rows x dim]",
                             mgv_shape_str(weight, sw, sizeof sw));
    if (ndim < 0 || ndim + 1 > MGV_MAX_DIMS)
        return mgv_fail_null("embedding: %d index dimensions (at most %d)", ndim,
                             MGV_MAX_DIMS - 1);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return mgv_fail_null("embedding: negative size %lld in index shape",
                                 (long long)shape[i]);
    int64_t n = mgv_shape_numel(ndim, shape), V = weight->shape[0], d = weight->shape[1];
    if (n > 0 && !index) return mgv_fail_null("embedding: no indices given");
    for (int64_t i = 0; i < n; i++)
        if (index[i] < 0 || index[i] >= V)
            return mgv_fail_null("embedding: index %lld (position %lld) out of range for %lld "
                                 "rows",
                                 (long long)index[i], (long long)i, (long long)V);
    int64_t oshape[MGV_MAX_DIMS];
    if (ndim) memcpy(oshape, shape, sizeof(int64_t) * (size_t)ndim);
    oshape[ndim] = d;
    mgv_tensor *wc = mgv_contiguous_data(weight);
    mgv_tensor *y = wc ? mgv_empty(ndim + 1, oshape) : NULL;
    if (!y) {
        mgv_release(wc);
        return NULL;
    }
    const float *wd = mgv_data(wc);
    float *yd = mgv_data(y);
    for (int64_t i = 0; i < n; i++)
        memcpy(yd + i * d, wd + index[i] * d, sizeof(float) * (size_t)d);
    mgv_release(wc);
    MGV_PROFILE_UNTAPED("embedding", 1, &weight);
    if (mgv_needs_grad(1, &weight)) {
        int64_t *copy = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
        mgv_node *node = copy ? mgv_record(y, "embedding", embedding_backward, 1, &weight) : NULL;
        if (!node) {
            if (!copy) mgv_fail("embedding: out of memory");
            free(copy);
            mgv_release(y);
            return NULL;
        }
        if (n) memcpy(copy, index, sizeof(int64_t) * (size_t)n);
        node->ctx = copy;
        node->free_ctx = free;
        node->ints[0] = n;
    }
    return y;
}

/* ---- cosine_similarity --------------------------------------------------- */
/*
 * c = s / max(|a||b|, eps), s = <a,b>. With w = |a||b| > eps:
 *   dc/da = b / w - c a / |a|^2   (and symmetrically for b);
 * with w <= eps the denominator is the constant eps: dc/da = b / eps.
 * Both are computed in the broadcast shape. ints[0] is the axis in it.
 */

/* The broadcast shape of a and b and the normalised axis in it. */
static int cosine_geometry(mgv_tensor *a, mgv_tensor *b, int axis, int *nd, int64_t *shape,
                           int *ax)
{
    if (mgv_broadcast_shape("cosine_similarity", a, b, nd, shape) < 0) return -1;
    int x = axis < 0 ? axis + *nd : axis;
    if (x < 0 || x >= *nd) {
        char s[96];
        return mgv_fail("cosine_similarity: axis %d out of range for shape %s", axis,
                        mgv_shape_str_n(*nd, shape, s, sizeof s));
    }
    *ax = x;
    return 0;
}

/* a.b, |a|^2 and |b|^2 over one slice: n elements from base, inner apart. */
static inline void slice_dots(const float *a, const float *b, int64_t base, int64_t n,
                              int64_t inner, double *ab, double *aa, double *bb)
{
    double s = 0, na2 = 0, nb2 = 0;
    for (int64_t j = 0; j < n; j++) {
        double av = a[base + j * inner], bv = b[base + j * inner];
        s += av * bv;
        na2 += av * av;
        nb2 += bv * bv;
    }
    *ab = s;
    *aa = na2;
    *bb = nb2;
}

static int cosine_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *a = node->inputs[0], *b = node->inputs[1];
    int nd, ax;
    int64_t shape[MGV_MAX_DIMS], outer, n, inner;
    float eps = (float)node->reals[0];
    if (cosine_geometry(a, b, (int)node->ints[0], &nd, shape, &ax) < 0) return -1;
    split_shape(nd, shape, ax, &outer, &n, &inner);
    mgv_tensor *ae = expand_data(a, nd, shape), *be = expand_data(b, nd, shape);
    mgv_tensor *g = mgv_contiguous_data(gout);
    mgv_tensor *ga = mgv_empty(nd, shape), *gb = mgv_empty(nd, shape);
    int rc = -1;
    if (!ae || !be || !g || !ga || !gb) goto out;
    const float *ad = mgv_data(ae), *bd = mgv_data(be), *gd = mgv_data(g);
    float *gad = mgv_data(ga), *gbd = mgv_data(gb);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            double s, na2, nb2;
            slice_dots(ad, bd, base, n, inner, &s, &na2, &nb2);
            double w = sqrt(na2) * sqrt(nb2), go = gd[o * inner + i];
            double ca = 0, cb = 0, kab = 0;   /* ga = kab b - ca a, gb = kab a - cb b */
            if (w > eps) {
                double c = s / w;
                kab = go / w;
                ca = go * c / na2;
                cb = go * c / nb2;
            } else if (eps > 0) {
                kab = go / eps;
            }
            for (int64_t j = 0; j < n; j++) {
                int64_t k = base + j * inner;
                gad[k] = (float)(kab * bd[k] - ca * ad[k]);
                gbd[k] = (float)(kab * ad[k] - cb * bd[k]);
            }
        }
    rc = mgv_accumulate_grad(a, ga);
    if (rc == 0) rc = mgv_accumulate_grad(b, gb);
out:
    mgv_release(ae);
    mgv_release(be);
    mgv_release(g);
    mgv_release(ga);
    mgv_release(gb);
    return rc;
}

mgv_tensor *mgv_cosine_similarity(mgv_tensor *a, mgv_tensor *b, int axis, float eps)
{
    int nd, ax;
    int64_t shape[MGV_MAX_DIMS], oshape[MGV_MAX_DIMS], outer, n, inner;
    if (!(eps >= 0))
        return mgv_fail_null("cosine_similarity: eps = %g must be >= 0", (double)eps);
    if (cosine_geometry(a, b, axis, &nd, shape, &ax) < 0) return NULL;
    split_shape(nd, shape, ax, &outer, &n, &inner);
    for (int d = 0, k = 0; d < nd; d++)
        if (d != ax) oshape[k++] = shape[d];
    mgv_tensor *ae = expand_data(a, nd, shape), *be = expand_data(b, nd, shape);
    mgv_tensor *y = mgv_empty(nd - 1, oshape);
    if (!ae || !be || !y) {
        mgv_release(ae);
        mgv_release(be);
        mgv_release(y);
        return NULL;
    }
    const float *ad = mgv_data(ae), *bd = mgv_data(be);
    float *yd = mgv_data(y);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            double s, na2, nb2;
            slice_dots(ad, bd, base, n, inner, &s, &na2, &nb2);
            double den = sqrt(na2) * sqrt(nb2);
            if (den < eps) den = eps;
            yd[o * inner + i] = den > 0 ? (float)(s / den) : 0.0f;
        }
    mgv_release(ae);
    mgv_release(be);
    mgv_tensor *in[2] = {a, b};
    MGV_PROFILE_UNTAPED("cosine_similarity", 2, in);
    if (mgv_needs_grad(2, in)) {
        mgv_node *node = mgv_record(y, "cosine_similarity", cosine_backward, 2, in);
        if (!node) {
            mgv_release(y);
            return NULL;
        }
        node->ints[0] = ax;
        node->reals[0] = eps;
    }
    return y;
}

/* ---- l2_norm --------------------------------------------------------------- */
/* y = sqrt(sum x^2); dx = g x / y, defined as 0 where y == 0 (a zero slice). */

static int l2_norm_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *x = node->inputs[0], *y = node->saved[0];
    int ax = (int)node->ints[0];
    int64_t outer, n, inner;
    split_shape(x->ndim, x->shape, ax, &outer, &n, &inner);
    mgv_tensor *xc = mgv_contiguous_data(x), *g = mgv_contiguous_data(gout);
    mgv_tensor *dx = mgv_empty(x->ndim, x->shape);
    int rc = -1;
    if (xc && g && dx) {
        const float *xd = mgv_data(xc), *gd = mgv_data(g), *yd = mgv_data(y);
        float *dd = mgv_data(dx);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < n; j++) {
                const float *xr = xd + (o * n + j) * inner;
                float *dr = dd + (o * n + j) * inner;
                const float *yr = yd + o * inner, *gr = gd + o * inner;
                for (int64_t i = 0; i < inner; i++)
                    dr[i] = yr[i] > 0 ? gr[i] * xr[i] / yr[i] : 0.0f;
            }
        rc = mgv_accumulate_grad(x, dx);
    }
    mgv_release(xc);
    mgv_release(g);
    mgv_release(dx);
    return rc;
}

mgv_tensor *mgv_l2_norm(mgv_tensor *x, int axis, int keepdim)
{
    int ax;
    if (mgv_axis("l2_norm", x, axis, &ax) < 0) return NULL;
    int64_t outer, n, inner, oshape[MGV_MAX_DIMS];
    split_shape(x->ndim, x->shape, ax, &outer, &n, &inner);
    int ond = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d != ax)
            oshape[ond++] = x->shape[d];
        else if (keepdim)
            oshape[ond++] = 1;
    }
    mgv_tensor *xc = mgv_contiguous_data(x);
    mgv_tensor *y = xc ? mgv_zeros(ond, oshape) : NULL;
    if (!y) {
        mgv_release(xc);
        return NULL;
    }
    const float *xd = mgv_data(xc);
    float *yd = mgv_data(y);
    /* sums of squares, row by row so the inner loop is sequential */
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < n; j++) {
            const float *xr = xd + (o * n + j) * inner;
            float *yr = yd + o * inner;
            for (int64_t i = 0; i < inner; i++) yr[i] += xr[i] * xr[i];
        }
    int64_t ny = outer * inner;
    for (int64_t k = 0; k < ny; k++) yd[k] = sqrtf(yd[k]);
    mgv_release(xc);
    MGV_PROFILE_UNTAPED("l2_norm", 1, &x);
    if (mgv_needs_grad(1, &x)) {
        mgv_node *node = mgv_record(y, "l2_norm", l2_norm_backward, 1, &x);
        if (!node || !(node->saved[0] = mgv_detach(y))) {
            mgv_release(y);
            return NULL;
        }
        node->ints[0] = ax;
    }
    return y;
}
