/*
 * ops_matmul.c — matmul and linear on OpenBLAS (cblas_sgemm).
 *
 * Every product goes through gemm() below. An operand is handed to BLAS as it
 * lies in memory whenever its last two axes have a unit stride in one
 * direction (row-major, or a transposed view: then the BLAS transpose flag is
 * flipped); anything else is first copied to contiguous memory. Batch axes
 * may have any strides: each batch is one GEMM at its own offset. When b is
 * 2-d (and in linear) all leading rows of the left operand form one GEMM.
 *
 * Backward uses the transpose flags too (no transposed copies):
 *   dA = dY B^T,  dB = A^T dY,
 * accumulated with beta = 1 into zeroed buffers of the input shapes, which
 * sums the gradient over broadcast batches.
 *
 * Many small batched GEMMs (attention heads) are split over the engine's
 * threads by batch, one thread per GEMM, so results do not depend on the
 * thread count; a backward whose gradient block is shared by broadcast
 * batches stays on one thread.
 */
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops_matmul.h"
#include "core/parallel.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- operands as BLAS sees them ----------------------------------------- */

/* The logical r x c matrix (last two axes) of t: element (i, j) of a batch
 * lives at base[i*ld + j] when tr == 0 and at base[j*ld + i] when tr == 1. */
typedef struct {
    mgv_tensor *t;   /* retained: the input, a view of it, or a contiguous copy */
    int tr;
    int64_t ld;
} operand;

/* Whether t's last two axes can be given to BLAS as they are; sets tr, ld. */
static int blas_layout(const mgv_tensor *t, int *tr, int64_t *ld)
{
    int nd = t->ndim;
    int64_t r = t->shape[nd - 2], c = t->shape[nd - 1];
    int64_t sr = t->stride[nd - 2], sc = t->stride[nd - 1];
    int64_t min_row_ld = c > 1 ? c : 1, min_col_ld = r > 1 ? r : 1;
    if (r == 0 || c == 0) {   /* nothing is read */
        *tr = 0;
        *ld = min_row_ld;
        return 1;
    }
    if ((c == 1 || sc == 1) && (r == 1 || sr >= min_row_ld)) {
        *tr = 0;
        *ld = r == 1 ? min_row_ld : sr;
        return *ld <= INT_MAX;
    }
    if ((r == 1 || sr == 1) && (c == 1 || sc >= min_col_ld)) {
        *tr = 1;
        *ld = c == 1 ? min_col_ld : sc;
        return *ld <= INT_MAX;
    }
    return 0;
}

/* Takes a new reference to t (or a contiguous copy of it) as a BLAS operand. */
static int operand_init(operand *o, mgv_tensor *t)
{
    if (blas_layout(t, &o->tr, &o->ld)) {
        o->t = mgv_retain(t);
        return 0;
    }
    o->t = mgv_clone_data(t);
    if (!o->t) return -1;
    if (!blas_layout(o->t, &o->tr, &o->ld)) {
        mgv_release(o->t);
        o->t = NULL;
        return mgv_fail("matmul: matrix too large for BLAS (leading dimension over %d)", INT_MAX);
    }
    return 0;
}

/*
 * t [..., c] seen as a 2-d [R, c] operand, R = numel / c: a view when the
 * leading axes nest (row stride times rows), else a view of a contiguous copy.
 * A 1-d t becomes [1, c].
 */
static int operand_rows(operand *o, mgv_tensor *t)
{
    int nd = t->ndim;
    int64_t c = t->shape[nd - 1];
    int64_t rows = c ? mgv_numel(t) / c : mgv_shape_numel(nd - 1, t->shape);
    int64_t row_stride = c, expect = 0;
    int found = 0, nests = 1;
    for (int d = nd - 2; d >= 0; d--) {
        if (t->shape[d] == 1) continue;
        if (!found) {
            row_stride = t->stride[d];
            found = 1;
        } else if (t->stride[d] != expect) {
            nests = 0;
            break;
        }
        expect = t->stride[d] * t->shape[d];
    }
    int64_t shape[2] = {rows, c}, stride[2] = {row_stride, t->stride[nd - 1]};
    mgv_tensor *src = NULL, *v;
    if (nests) {
        v = mgv_view_of(t, 2, shape, stride, t->offset);
    } else {
        src = mgv_clone_data(t);
        if (!src) return -1;
        stride[0] = c;
        stride[1] = 1;
        v = mgv_view_of(src, 2, shape, stride, 0);
        mgv_release(src);
    }
    if (!v) return -1;
    int rc = operand_init(o, v);
    mgv_release(v);
    return rc;
}

/* Pointer to the operand's data (element 0 of the view). */
static inline float *operand_data(const operand *o) { return mgv_data(o->t); }

/*
 * C[M, N] = alpha * op(A) op(B) + beta * C, where op(A) is A (ta = 0) or A^T
 * (ta = 1) of the logical matrices, op(A) being M x K and op(B) K x N.
 */
static void gemm(int64_t M, int64_t N, int64_t K, const float *A, int atr, int64_t lda, int ta,
                 const float *B, int btr, int64_t ldb, int tb, float beta, float *C, int64_t ldc)
{
    /* mgv_sgemm handles the empty cases and splits large products over the
     * engine's threads (parallel.h) */
    mgv_sgemm(atr ^ ta, btr ^ tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc > 0 ? ldc : 1);
}

static int too_big(int64_t v) { return v > INT_MAX; }

/* ---- batching ----------------------------------------------------------- */

/*
 * For each batch of the output batch shape (nb axes, bshape), the element
 * offset of t's matching matrix: from t's strides, or (contig) from the
 * strides of a contiguous tensor of t's shape. Broadcast axes step by 0.
 */
static void batch_offsets(const mgv_tensor *t, int nb, const int64_t *bshape, int contig,
                          int64_t *offs)
{
    int tb = t->ndim - 2;
    int64_t st[MGV_MAX_DIMS] = {0};
    int64_t cs = t->shape[t->ndim - 1] * t->shape[t->ndim - 2];
    for (int d = tb - 1; d >= 0; d--) {
        int od = d + nb - tb;
        st[od] = t->shape[d] == 1 ? 0 : (contig ? cs : t->stride[d]);
        cs *= t->shape[d];
    }
    int64_t nbatch = mgv_shape_numel(nb, bshape), idx[MGV_MAX_DIMS] = {0}, off = 0;
    for (int64_t i = 0; i < nbatch; i++) {
        offs[i] = off;
        for (int d = nb - 1; d >= 0; d--) {
            idx[d]++;
            off += st[d];
            if (idx[d] < bshape[d]) break;
            off -= st[d] * bshape[d];
            idx[d] = 0;
        }
    }
}

/* The geometry of one matmul: batch shape, sizes, and whether b is shared. */
typedef struct {
    int nb;
    int64_t bshape[MGV_MAX_DIMS];
    int64_t nbatch, n, k, m;
    int flat;   /* b is 2-d: a is taken as [rows, k] and the product is one GEMM */
} mm_plan;

static int mm_plan_make(mgv_tensor *a, mgv_tensor *b, mm_plan *p)
{
    char sa[96], sb[96];
    if (a->ndim < 2 || b->ndim < 2)
        return mgv_fail("matmul: shapes %s and %s: both operands need at least 2 dimensions "
                        "(reshape a vector to [1xn] or [nx1])",
                        mgv_shape_str(a, sa, sizeof sa), mgv_shape_str(b, sb, sizeof sb));
    p->n = a->shape[a->ndim - 2];
    p->k = a->shape[a->ndim - 1];
    p->m = b->shape[b->ndim - 1];
    if (b->shape[b->ndim - 2] != p->k)
        return mgv_fail("matmul: shapes %s and %s do not fit", mgv_shape_str(a, sa, sizeof sa),
                        mgv_shape_str(b, sb, sizeof sb));
    int na = a->ndim - 2, nbb = b->ndim - 2;
    p->nb = na > nbb ? na : nbb;
    for (int d = 0; d < p->nb; d++) {
        int da = d - (p->nb - na), db = d - (p->nb - nbb);
        int64_t x = da >= 0 ? a->shape[da] : 1, y = db >= 0 ? b->shape[db] : 1;
        if (x != y && x != 1 && y != 1)
            return mgv_fail("matmul: shapes %s and %s do not fit (batch axes do not broadcast)",
                            mgv_shape_str(a, sa, sizeof sa), mgv_shape_str(b, sb, sizeof sb));
        p->bshape[d] = x == 1 ? y : x;
    }
    p->nbatch = mgv_shape_numel(p->nb, p->bshape);
    p->flat = b->ndim == 2;
    int64_t rows = p->flat ? p->nbatch * p->n : p->n;
    if (too_big(rows) || too_big(p->k) || too_big(p->m))
        return mgv_fail("matmul: shapes %s and %s are too large for BLAS",
                        mgv_shape_str(a, sa, sizeof sa), mgv_shape_str(b, sb, sizeof sb));
    return 0;
}

/* Operands of a plan, with per-batch offsets into their data and into
 * contiguous buffers of their shapes (for gradients). */
typedef struct {
    operand A, B;
    int64_t *aoff, *boff, *gaoff, *gboff;
    int64_t nbatch, rows;   /* GEMMs, and rows of a per GEMM */
} mm_ops;

static void mm_ops_free(mm_ops *o)
{
    mgv_release(o->A.t);
    mgv_release(o->B.t);
    free(o->aoff);
    free(o->boff);
    free(o->gaoff);
    free(o->gboff);
    memset(o, 0, sizeof *o);
}

static int mm_ops_make(mgv_tensor *a, mgv_tensor *b, const mm_plan *p, mm_ops *o)
{
    memset(o, 0, sizeof *o);
    int rc = p->flat ? operand_rows(&o->A, a) : operand_init(&o->A, a);
    if (rc == 0) rc = operand_init(&o->B, b);
    if (rc < 0) {
        mm_ops_free(o);
        return -1;
    }
    o->nbatch = p->flat ? 1 : p->nbatch;
    o->rows = p->flat ? p->nbatch * p->n : p->n;
    size_t nb = (size_t)(o->nbatch ? o->nbatch : 1);
    o->aoff = malloc(nb * sizeof(int64_t));
    o->boff = malloc(nb * sizeof(int64_t));
    o->gaoff = malloc(nb * sizeof(int64_t));
    o->gboff = malloc(nb * sizeof(int64_t));
    if (!o->aoff || !o->boff || !o->gaoff || !o->gboff) {
        mm_ops_free(o);
        return mgv_fail("matmul: out of memory");
    }
    int nbd = p->flat ? 0 : p->nb;
    batch_offsets(o->A.t, nbd, p->bshape, 0, o->aoff);
    batch_offsets(o->B.t, nbd, p->bshape, 0, o->boff);
    batch_offsets(o->A.t, nbd, p->bshape, 1, o->gaoff);
    batch_offsets(o->B.t, nbd, p->bshape, 1, o->gboff);
    return 0;
}

/* ---- matmul --------------------------------------------------------------- */

/* The GEMMs of a batched product (or of its backward), for a range of batches. */
typedef struct {
    const mm_ops *o;
    const mm_plan *p;
    float *Y;          /* forward output */
    const float *gy;   /* backward: output gradient, and the input gradients or NULL */
    float *ga, *gb;
} mm_batch_job;

static void mm_forward_part(void *ctx, int64_t b0, int64_t b1, int part)
{
    const mm_batch_job *j = ctx;
    const mm_ops *o = j->o;
    const float *A = operand_data(&o->A), *B = operand_data(&o->B);
    int64_t n = o->rows, k = j->p->k, m = j->p->m;
    (void)part;
    for (int64_t i = b0; i < b1; i++)
        gemm(n, m, k, A + o->aoff[i], o->A.tr, o->A.ld, 0, B + o->boff[i], o->B.tr, o->B.ld, 0,
             0.0f, j->Y + i * n * m, m);
}

static void mm_backward_part(void *ctx, int64_t b0, int64_t b1, int part)
{
    const mm_batch_job *j = ctx;
    const mm_ops *o = j->o;
    const float *A = operand_data(&o->A), *B = operand_data(&o->B);
    int64_t n = o->rows, k = j->p->k, m = j->p->m;
    (void)part;
    for (int64_t i = b0; i < b1; i++) {
        const float *gyi = j->gy + i * n * m;
        if (j->ga)   /* dA_i [n,k] += dY_i [n,m] B_i^T */
            gemm(n, k, m, gyi, 0, m, 0, B + o->boff[i], o->B.tr, o->B.ld, 1, 1.0f,
                 j->ga + o->gaoff[i], k);
        if (j->gb)   /* dB_i [k,m] += A_i^T dY_i */
            gemm(k, m, n, A + o->aoff[i], o->A.tr, o->A.ld, 1, gyi, 0, m, 0, 1.0f,
                 j->gb + o->gboff[i], m);
    }
}

/* Many small GEMMs (attention heads) are spread over the engine's threads,
 * each on one thread; a few large ones split themselves (mgv_sgemm). */
static void run_batches(mm_batch_job *j, mgv_range_fn fn)
{
    double work = (double)j->o->rows * (double)j->p->k * (double)j->p->m;
    if (j->o->nbatch < 2 || work >= 4e6) {
        fn(j, 0, j->o->nbatch, 0);
        return;
    }
    mgv_parallel_for(j->o->nbatch, (int64_t)(1e6 / (work + 1)) + 1, fn, j);
}

static int matmul_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *a = node->inputs[0], *b = node->inputs[1];
    mm_plan p;
    mm_ops o;
    if (mm_plan_make(a, b, &p) < 0 || mm_ops_make(a, b, &p, &o) < 0) return -1;
    mgv_tensor *g = mgv_contiguous_data(gout);
    mgv_tensor *ga = a->requires_grad ? mgv_zeros(a->ndim, a->shape) : NULL;
    mgv_tensor *gb = b->requires_grad ? mgv_zeros(b->ndim, b->shape) : NULL;
    int rc = -1;
    if (!g || (a->requires_grad && !ga) || (b->requires_grad && !gb)) goto out;
    mm_batch_job j = {&o, &p, NULL, mgv_data(g), ga ? mgv_data(ga) : NULL,
                      gb ? mgv_data(gb) : NULL};
    /* a broadcast operand's gradient block is shared by several batches:
     * those must be summed in turn, on one thread */
    int shared = (ga && mgv_numel(a) != o.nbatch * o.rows * p.k) ||
                 (gb && mgv_numel(b) != o.nbatch * p.k * p.m);
    if (shared)
        mm_backward_part(&j, 0, o.nbatch, 0);
    else
        run_batches(&j, mm_backward_part);
    rc = 0;
    if (ga) rc = mgv_accumulate_grad_fresh(a, ga);
    if (rc == 0 && gb) rc = mgv_accumulate_grad_fresh(b, gb);
out:
    mgv_release(g);
    mgv_release(ga);
    mgv_release(gb);
    mm_ops_free(&o);
    return rc;
}

mgv_tensor *mgv_matmul(mgv_tensor *a, mgv_tensor *b)
{
    mm_plan p;
    mm_ops o;
    if (mm_plan_make(a, b, &p) < 0) return NULL;
    int64_t shape[MGV_MAX_DIMS];
    int nd = p.nb + 2;
    if (nd > MGV_MAX_DIMS) return mgv_fail_null("matmul: too many dimensions");
    memcpy(shape, p.bshape, sizeof(int64_t) * (size_t)p.nb);
    shape[p.nb] = p.n;
    shape[p.nb + 1] = p.m;
    mgv_tensor *y = mgv_empty(nd, shape);   /* every batch's block is written (beta 0) */
    if (!y) return NULL;
    if (mm_ops_make(a, b, &p, &o) < 0) {
        mgv_release(y);
        return NULL;
    }
    mm_batch_job j = {&o, &p, mgv_data(y), NULL, NULL, NULL};
    run_batches(&j, mm_forward_part);
    mm_ops_free(&o);
    mgv_tensor *in[2] = {a, b};
    MGV_PROFILE_UNTAPED("matmul", 2, in);
    if (mgv_needs_grad(2, in) && !mgv_record(y, "matmul", matmul_backward, 2, in)) {
        mgv_release(y);
        return NULL;
    }
    return y;
}

/* ---- linear --------------------------------------------------------------- */

static int linear_check(mgv_tensor *x, mgv_tensor *W, mgv_tensor *bias)
{
    char sx[96], sw[96], sb[96];
    if (x->ndim < 1 || W->ndim != 2 || x->shape[x->ndim - 1] != W->shape[1])
        return mgv_fail("linear: input %s and weight %s do not fit (weight is [out x in])",
                        mgv_shape_str(x, sx, sizeof sx), mgv_shape_str(W, sw, sizeof sw));
    if (bias && (bias->ndim != 1 || bias->shape[0] != W->shape[0]))
        return mgv_fail("linear: bias %s does not fit weight %s (needs [%lld])",
                        mgv_shape_str(bias, sb, sizeof sb), mgv_shape_str(W, sw, sizeof sw),
                        (long long)W->shape[0]);
    if (too_big(W->shape[0]) || too_big(W->shape[1]) ||
        (W->shape[1] && too_big(mgv_numel(x) / W->shape[1])))
        return mgv_fail("linear: input %s too large for BLAS", mgv_shape_str(x, sx, sizeof sx));
    return 0;
}

/* Column sums d[j] += sum over rows of g[r, j], split over the threads by
 * columns: each column is summed in row order, whatever the split. */
typedef struct {
    const float *g;
    float *d;
    int64_t rows, cols;
} colsum_job;

static void colsum_part(void *ctx, int64_t c0, int64_t c1, int part)
{
    const colsum_job *j = ctx;
    (void)part;
    for (int64_t r = 0; r < j->rows; r++) {
        const float *row = j->g + r * j->cols;
        for (int64_t c = c0; c < c1; c++) j->d[c] += row[c];
    }
}

/* Columns per part: at least ~64K elements of work, and whole cache lines. */
static int64_t colsum_min_part(int64_t rows)
{
    int64_t m = 65536 / (rows ? rows : 1);
    return m < 16 ? 16 : m;
}

static int linear_backward(mgv_node *node, mgv_tensor *gout)
{
    mgv_tensor *x = node->inputs[0], *W = node->inputs[1], *bias = node->inputs[2];
    operand X = {0}, Wo = {0};
    mgv_tensor *g = NULL, *gx = NULL, *gw = NULL, *gb = NULL;
    int rc = -1;
    if (operand_rows(&X, x) < 0 || operand_init(&Wo, W) < 0) goto out;
    g = mgv_contiguous_data(gout);
    if (!g) goto out;
    int64_t R = X.t->shape[0], in = W->shape[1], outf = W->shape[0];
    const float *gy = mgv_data(g);
    if (x->requires_grad) {   /* dX [R,in] = dY [R,out] W [out,in] */
        if (!(gx = mgv_empty(x->ndim, x->shape))) goto out;
        gemm(R, in, outf, gy, 0, outf, 0, operand_data(&Wo), Wo.tr, Wo.ld, 0, 0.0f,
             mgv_data(gx), in);
    }
    if (W->requires_grad) {   /* dW [out,in] = dY^T X */
        if (!(gw = mgv_empty(2, W->shape))) goto out;
        gemm(outf, in, R, gy, 0, outf, 1, operand_data(&X), X.tr, X.ld, 0, 0.0f, mgv_data(gw),
             in);
    }
    if (bias && bias->requires_grad) {   /* db = column sums of dY */
        if (!(gb = mgv_zeros(1, bias->shape))) goto out;
        colsum_job cj = {gy, mgv_data(gb), R, outf};
        mgv_parallel_for(outf, colsum_min_part(R), colsum_part, &cj);
    }
    rc = 0;
    if (gx) rc = mgv_accumulate_grad_fresh(x, gx);
    if (rc == 0 && gw) rc = mgv_accumulate_grad_fresh(W, gw);
    if (rc == 0 && gb) rc = mgv_accumulate_grad_fresh(bias, gb);
out:
    mgv_release(X.t);
    mgv_release(Wo.t);
    mgv_release(g);
    mgv_release(gx);
    mgv_release(gw);
    mgv_release(gb);
    return rc;
}

mgv_tensor *mgv_linear(mgv_tensor *x, mgv_tensor *W, mgv_tensor *bias)
{
    if (linear_check(x, W, bias) < 0) return NULL;
    int64_t shape[MGV_MAX_DIMS];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    int64_t in = W->shape[1], outf = W->shape[0];
    shape[x->ndim - 1] = outf;
    mgv_tensor *y = mgv_empty(x->ndim, shape);
    if (!y) return NULL;
    operand X = {0}, Wo = {0};
    if (operand_rows(&X, x) < 0) {
        mgv_release(y);
        return NULL;
    }
    if (operand_init(&Wo, W) < 0) {
        mgv_release(X.t);
        mgv_release(y);
        return NULL;
    }
    int64_t R = X.t->shape[0];
    float *Y = mgv_data(y);
    float beta = 0.0f;
    if (bias) {   /* start every row at the bias and let the GEMM add x W^T */
        mgv_tensor *bc = mgv_contiguous_data(bias);
        if (!bc) {
            mgv_release(X.t);
            mgv_release(Wo.t);
            mgv_release(y);
            return NULL;
        }
        mgv_fill_rows(Y, outf, R, mgv_data(bc), outf);
        mgv_release(bc);
        beta = 1.0f;
    }
    gemm(R, outf, in, operand_data(&X), X.tr, X.ld, 0, operand_data(&Wo), Wo.tr, Wo.ld, 1, beta,
         Y, outf);
    mgv_release(X.t);
    mgv_release(Wo.t);
    mgv_tensor *inputs[3] = {x, W, bias};
    MGV_PROFILE_UNTAPED("linear", 3, inputs);
    if (mgv_needs_grad(3, inputs) && !mgv_record(y, "linear", linear_backward, 3, inputs)) {
        mgv_release(y);
        return NULL;
    }
    return y;
}
