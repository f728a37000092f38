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
#include "core/parallel.h"

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
 *
 * Rows are split over the engine's threads. dgamma and dbeta are summed per
 * block of LN_BLOCK rows and the blocks then added in order, so they do not
 * depend on the thread count.
 */
#define LN_BLOCK 32

#pragma GCC push_options
#pragma GCC optimize("O3", "no-math-errno", "no-signed-zeros", "no-trapping-math", \
                     "associative-math", "fp-contract=fast")
#include "core/simd.h"

static MGV_SIMD_BODY void mgv_layer_norm_rows_body(const float *x, float *y, float *stats,
                                               int64_t rows, int64_t d, const float *g,
                                               const float *b, float eps)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *v = x + r * d;
        float *out = y + r * d;
        float s = 0;
        for (int64_t j = 0; j < d; j++) s += v[j];
        float mean = s / (float)d, q = 0;
        for (int64_t j = 0; j < d; j++) q += (v[j] - mean) * (v[j] - mean);
        float rstd = 1.0f / sqrtf(q / (float)d + eps);
        if (stats) {
            stats[2 * r] = mean;
            stats[2 * r + 1] = rstd;
        }
        for (int64_t j = 0; j < d; j++) {
            float t = (v[j] - mean) * rstd;
            if (g) t *= g[j];
            if (b) t += b[j];
            out[j] = t;
        }
    }
}
MGV_SIMD_FN(, mgv_layer_norm_rows,
            (const float *x, float *y, float *stats, int64_t rows, int64_t d, const float *g,
             const float *b, float eps),
            (x, y, stats, rows, d, g, b, eps))

/* dx of rows rows (dx NULL: none), and the block's sums of g xhat (dg) and
 * g (db) when not NULL. */
static MGV_SIMD_BODY void layer_norm_grad_rows_body(const float *x, const float *gy,
                                                    const float *st, int64_t rows, int64_t d,
                                                    const float *gm, float *dx, float *dg,
                                                    float *db)
{
    if (dg)
        for (int64_t j = 0; j < d; j++) dg[j] = 0;
    if (db)
        for (int64_t j = 0; j < d; j++) db[j] = 0;
    float inv_d = 1.0f / (float)d;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d, *gr = gy + r * d;
        float mean = st[2 * r], rstd = st[2 * r + 1];
        if (dg)
            for (int64_t j = 0; j < d; j++) dg[j] += gr[j] * ((xr[j] - mean) * rstd);
        if (db)
            for (int64_t j = 0; j < d; j++) db[j] += gr[j];
        if (!dx) continue;
        float s1 = 0, s2 = 0;
        for (int64_t j = 0; j < d; j++) {
            float dxh = gm ? gr[j] * gm[j] : gr[j];
            s1 += dxh;
            s2 += dxh * ((xr[j] - mean) * rstd);
        }
        s1 *= inv_d;
        s2 *= inv_d;
        float *dr = dx + r * d;
        for (int64_t j = 0; j < d; j++) {
            float dxh = gm ? gr[j] * gm[j] : gr[j];
            dr[j] = rstd * (dxh - s1 - (xr[j] - mean) * rstd * s2);
        }
    }
}
MGV_SIMD_FN(static, layer_norm_grad_rows,
            (const float *x, const float *gy, const float *st, int64_t rows, int64_t d,
             const float *gm, float *dx, float *dg, float *db),
            (x, gy, st, rows, d, gm, dx, dg, db))
#pragma GCC pop_options

typedef struct {
    const float *x, *gy, *st, *gm, *bt;
    float *y, *dx, *dg, *db;   /* dg, db: [blocks, d] partial sums */
    int64_t rows, d;
    float eps;
} ln_job;

static void ln_forward_part(void *ctx, int64_t b0, int64_t b1, int part)
{
    const ln_job *j = ctx;
    (void)part;
    int64_t r0 = b0 * LN_BLOCK, r1 = b1 * LN_BLOCK < j->rows ? b1 * LN_BLOCK : j->rows;
    mgv_layer_norm_rows(j->x + r0 * j->d, j->y + r0 * j->d, (float *)j->st + 2 * r0, r1 - r0,
                        j->d, j->gm, j->bt, j->eps);
}

static void ln_backward_part(void *ctx, int64_t b0, int64_t b1, int part)
{
    const ln_job *j = ctx;
    (void)part;
    for (int64_t k = b0; k < b1; k++) {
        int64_t r0 = k * LN_BLOCK, r1 = r0 + LN_BLOCK < j->rows ? r0 + LN_BLOCK : j->rows;
        layer_norm_grad_rows(j->x + r0 * j->d, j->gy + r0 * j->d, j->st + 2 * r0, r1 - r0, j->d,
                             j->gm, j->dx ? j->dx + r0 * j->d : NULL,
                             j->dg ? j->dg + k * j->d : NULL, j->db ? j->db + k * j->d : NULL);
    }
}

/* The sum over blocks of [blocks, d] partial sums, in block order. */
static mgv_tensor *sum_blocks(const float *part, int64_t blocks, const int64_t *shape)
{
    mgv_tensor *t = mgv_zeros(1, shape);
    if (!t) return NULL;
    float *o = mgv_data(t);
    for (int64_t k = 0; k < blocks; k++)
        for (int64_t j = 0; j < shape[0]; j++) o[j] += part[k * shape[0] + j];
    return t;
}

static int layer_norm_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *x = node->inputs[0], *gamma = node->inputs[1], *beta = node->inputs[2];
    mgv_tensor *stats = node->saved[0];
    int64_t d = x->shape[x->ndim - 1], rows = d ? mgv_numel(x) / d : 0;
    int64_t blocks = (rows + LN_BLOCK - 1) / LN_BLOCK;
    int want_g = gamma && gamma->requires_grad, want_b = beta && beta->requires_grad;
    mgv_tensor *xc = mgv_contiguous_data(x), *g = mgv_contiguous_data(gout);
    mgv_tensor *gc = gamma ? mgv_contiguous_data(gamma) : NULL;
    mgv_tensor *dx = NULL, *dgamma = NULL, *dbeta = NULL;
    float *partial = malloc(sizeof(float) * (size_t)(2 * blocks * d + 1));
    int rc = -1;
    if (!xc || !g || (gamma && !gc) || !partial) {
        if (!partial) mgv_fail("layer_norm: out of memory");
        goto out;
    }
    if (x->requires_grad && !(dx = mgv_empty(x->ndim, x->shape))) goto out;
    ln_job j = {mgv_data(xc), mgv_data(g), mgv_data(stats), gc ? mgv_data(gc) : NULL, NULL,
                NULL, dx ? mgv_data(dx) : NULL, want_g ? partial : NULL,
                want_b ? partial + blocks * d : NULL, rows, d, 0};
    if (d > 0) mgv_parallel_for(blocks, 1, ln_backward_part, &j);
    if (want_g && !(dgamma = sum_blocks(partial, blocks, gamma->shape))) goto out;
    if (want_b && !(dbeta = sum_blocks(partial + blocks * d, blocks, beta->shape))) goto out;
    rc = 0;
    if (dx) rc = mgv_accumulate_grad_fresh(x, dx);
    if (rc == 0 && dgamma) rc = mgv_accumulate_grad_fresh(gamma, dgamma);
    if (rc == 0 && dbeta) rc = mgv_accumulate_grad_fresh(beta, dbeta);
out:
    free(partial);
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
    ln_job j = {mgv_data(xc), NULL, mgv_data(stats), gc ? mgv_data(gc) : NULL,
                bc ? mgv_data(bc) : NULL, mgv_data(y), NULL, NULL, NULL, rows, d, eps};
    if (d > 0) mgv_parallel_for((rows + LN_BLOCK - 1) / LN_BLOCK, 1, ln_forward_part, &j);
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
/*
 * Element i of a call's mask is dropped when mgv_rng_keyed32 of counter
 * base + i under the call's key (one draw of the generator) is below
 * p 2^32. Nothing is stored: backward draws the same mask again from
 * ints[0] = key, ints[1] = base, reals[0] = p. The draws do not depend on
 * how the elements are split over threads.
 */

#pragma GCC push_options
#pragma GCC optimize("O3")

/* y[j] = x[j] * (0 or scale) for the n counters from lo (high half in k1). */
static MGV_SIMD_BODY void dropout_row_body(const float *x, float *y, int64_t n, uint32_t k0,
                                           uint32_t k1, uint32_t lo, uint32_t t, float scale)
{
    for (int64_t j = 0; j < n; j++)
        y[j] = x[j] * (mgv_rng_keyed32(k0, k1, lo + (uint32_t)j) < t ? 0.0f : scale);
}
MGV_SIMD_FN(static, dropout_row,
            (const float *x, float *y, int64_t n, uint32_t k0, uint32_t k1, uint32_t lo,
             uint32_t t, float scale),
            (x, y, n, k0, k1, lo, t, scale))
#pragma GCC pop_options

typedef struct {
    const float *x;
    float *y;
    uint64_t key, base;
    uint32_t t;
    float scale;
} dropout_job;

static void dropout_part(void *ctx, int64_t b, int64_t e, int part)
{
    const dropout_job *j = ctx;
    (void)part;
    while (b < e) {   /* pieces within which the counter's high half is constant */
        uint64_t c = j->base + (uint64_t)b;
        uint32_t lo = (uint32_t)c;
        int64_t n = e - b, room = (int64_t)(((uint64_t)1 << 32) - lo);
        if (n > room) n = room;
        dropout_row(j->x + b, j->y + b, n, (uint32_t)j->key,
                    mgv_rng_keyed_hi((uint32_t)(j->key >> 32), (uint32_t)(c >> 32)), lo, j->t,
                    j->scale);
        b += n;
    }
}

void mgv_dropout_apply(const float *x, float *y, int64_t n, float p, uint64_t key, uint64_t base)
{
    double t = ldexp((double)p, 32);
    dropout_job j = {x, y, key, base, t < 4294967295.0 ? (uint32_t)(t + 0.5) : 0xffffffffU,
                     1.0f / (1.0f - p)};
    mgv_parallel_for(n, 32768, dropout_part, &j);
}

uint64_t mgv_dropout_key(mgv_rng *rng, const mgv_tensor *x, uint64_t *base)
{
    /* a rank's rows of a global batch: their counters in the whole batch's mask */
    int64_t n = mgv_numel(x);
    int64_t per_row = rng->shard_rows > 0 && x->ndim > 0 && x->shape[0] == rng->shard_rows
                          ? n / rng->shard_rows : 0;
    *base = (uint64_t)(per_row * rng->shard_before);
    return mgv_rng_next(rng);
}

static int dropout_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *g = mgv_contiguous_data(gout);
    mgv_tensor *dx = g ? mgv_empty(gout->ndim, gout->shape) : NULL;
    int rc = -1;
    if (dx) {
        mgv_dropout_apply(mgv_data(g), mgv_data(dx), mgv_numel(dx), (float)node->reals[0],
                          (uint64_t)node->ints[0], (uint64_t)node->ints[1]);
        rc = mgv_accumulate_grad_fresh(node->inputs[0], dx);
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
    mgv_tensor *y = xc ? mgv_empty(x->ndim, x->shape) : NULL;
    if (!y) {
        mgv_release(xc);
        return NULL;
    }
    uint64_t base, key = mgv_dropout_key(rng, x, &base);
    mgv_dropout_apply(mgv_data(xc), mgv_data(y), mgv_numel(x), p, key, base);
    mgv_release(xc);
    MGV_PROFILE_UNTAPED("dropout", 1, &x);
    if (mgv_needs_grad(1, &x)) {
        mgv_node *node = mgv_record(y, "dropout", dropout_backward, 1, &x);
        if (!node) {
            mgv_release(y);
            return NULL;
        }
        node->ints[0] = (int64_t)key;
        node->ints[1] = (int64_t)base;
        node->reals[0] = p;
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

static int cmp_pos(const void *a, const void *b, void *ctx);

/* The gradient rows of index[] summed per distinct row in position order
 * (as adding into a zeroed table would), then added once into grad: only
 * the rows used are touched, not the whole table. */
static int embedding_backward_sparse(mgv_tensor *grad, const int64_t *index, int64_t n,
                                     int64_t d, const float *gd)
{
    int64_t *pos = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    float *acc = malloc(sizeof(float) * (size_t)(d ? d : 1));
    if (!pos || !acc) {
        free(pos);
        free(acc);
        return mgv_fail("embedding: out of memory");
    }
    for (int64_t i = 0; i < n; i++) pos[i] = i;
    qsort_r(pos, (size_t)n, sizeof *pos, cmp_pos, (void *)index);
    float *dd = mgv_data(grad);
    for (int64_t a = 0, b; a < n; a = b) {
        memcpy(acc, gd + pos[a] * d, sizeof(float) * (size_t)d);
        for (b = a + 1; b < n && index[pos[b]] == index[pos[a]]; b++)
            for (int64_t j = 0; j < d; j++) acc[j] += gd[pos[b] * d + j];
        float *row = dd + index[pos[a]] * d;
        for (int64_t j = 0; j < d; j++) row[j] += acc[j];
    }
    free(pos);
    free(acc);
    return 0;
}

/* Positions by index, ties in position order (so sums keep their order). */
static int cmp_pos(const void *a, const void *b, void *ctx)
{
    const int64_t *index = ctx, i = *(const int64_t *)a, j = *(const int64_t *)b;
    if (index[i] != index[j]) return index[i] < index[j] ? -1 : 1;
    return (i > j) - (i < j);
}

static int embedding_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *w = node->inputs[0];
    const int64_t *index = node->ctx;
    int64_t n = node->ints[0], d = w->shape[1];
    mgv_tensor *g = mgv_contiguous_data(gout);
    if (!g) return -1;
    int rc;
    if (w->grad && mgv_is_contiguous(w->grad) && mgv_same_shape(w->grad, w)) {
        rc = embedding_backward_sparse(w->grad, index, n, d, mgv_data(g));
    } else {   /* the first gradient: a zeroed table with the rows in */
        mgv_tensor *dw = mgv_zeros(2, w->shape);
        rc = dw ? embedding_backward_sparse(dw, index, n, d, mgv_data(g)) : -1;
        if (rc == 0) rc = mgv_accumulate_grad_fresh(w, dw);
        mgv_release(dw);
    }
    mgv_release(g);
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
