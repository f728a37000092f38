/*
 * ops_vmoe.c — the VIB-MoE experts fused into one op (see ops_vmoe.h).
 *
 * Forward: two GEMMs add h W^T for mu and log sigma^2 side by side into
 * Y [T, 2Kd], whose rows start as the biases (mu alone, [T, Kd], in
 * evaluation without KL); Y is kept for backward. One pass over the rows of
 * Y then draws the noise, mixes o = sum_k pi_k z_k and sums the KL, row by
 * row while the row is in cache. Backward: one pass turns each row of Y into
 * its gradient (dmu | dlv) in place, collecting dpi and per-block bias sums;
 * then GEMMs give the weight and input gradients.
 * Rows are split over the engine's threads in fixed blocks, and block
 * partial sums are added in block order, so the row pass does not depend on
 * the thread count (GEMMs split over threads may: README, Determinism).
 *
 * The file is compiled with vectorisation, reassociation of float sums and
 * fused multiply-adds (the pragma below), and the row loops once per SIMD
 * path (AVX-512, AVX2, generic: simd.h): they are the hot elementwise code
 * of the whole training step. Nothing here tests for NaN or infinity. The
 * paths differ by rounding.
 */
#pragma GCC optimize("O3", "no-math-errno", "no-signed-zeros", "no-trapping-math", \
                     "associative-math", "fp-contract=fast")

#include "mgvmoe/ops_vmoe.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"

#define ROW_BLOCK 64   /* rows per block of bias partial sums (and per unit of work) */
/* Keyed noise up to this size is kept from forward for backward; larger
 * noise is drawn again in backward rather than held (memory over time). */
static _Atomic int64_t keep_noise_bytes = (int64_t)64 << 20;

int64_t mgv_vmoe_keep_noise_limit(int64_t bytes)
{
    return bytes < 0 ? atomic_load(&keep_noise_bytes) : atomic_exchange(&keep_noise_bytes, bytes);
}

/* ---- vectorisable float math -------------------------------------------------- */

#include "core/fastmath.h"   /* after the pragma: see fastmath.h */
#include "core/simd.h"

/* ln x for x in (0, 1] (Cephes' polynomial), about 1e-7 absolute. The
 * mantissa is moved to [sqrt(1/2), sqrt(2)) with integer arithmetic alone. */
static inline float fast_log01(float x)
{
    fbits b;
    b.f = x;
    int32_t i = b.i - 0x3f3504f3;               /* bits of sqrt(1/2) */
    float e = (float)(i >> 23);
    b.i = (i & 0x007fffff) + 0x3f3504f3;
    float m = b.f;
    float f = m - 1.0f, z = f * f;
    float y = ((((((((7.0376836292e-2f * f - 1.1514610310e-1f) * f + 1.1676998740e-1f) * f -
                    1.2420140846e-1f) * f + 1.4249322787e-1f) * f - 1.6668057665e-1f) * f +
                 2.0000714765e-1f) * f - 2.4999993993e-1f) * f + 3.3333331174e-1f) * f * z;
    y += -2.12194440e-4f * e - 0.5f * z;
    return f + y + 0.693359375f * e;
}

/* sqrt(|v| + 1e-30) by Newton's method on 1/sqrt v (libm's sqrtf would keep
 * the loop scalar for errno's sake), to about 1e-7 relative. The sign is
 * dropped and the floor added so that 0, -0 and rounding noise below 0 give
 * ~1e-15: at v = 0 the iteration's y^2 would overflow and 0 * inf is NaN. */
static inline float fast_sqrt(float v)
{
    fbits b;
    b.f = v;
    b.i &= 0x7fffffff;
    v = b.f + 1e-30f;
    b.f = v;
    b.i = 0x5f3759df - (b.i >> 1);
    float y = b.f;
    for (int it = 0; it < 3; it++) y = y * (1.5f - 0.5f * v * y * y);
    return v * y;
}

/* ---- noise: counter-based standard normals -------------------------------------- */

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The two uniforms of a 64-bit hash: u1 in (0, 1] from the high 32 bits (it
 * rounds to 1 at the very top; fast_sqrt's floor keeps r = 0 finite there),
 * u2 in [0, 1) from 24 further bits. */
static inline float uniform_hi(uint64_t x) { return ((float)(uint32_t)(x >> 32) + 0.5f) * 0x1p-32f; }
static inline float uniform_lo(uint64_t x) { return (float)(uint32_t)((x >> 8) & 0xffffff) * 0x1p-24f; }

/* Box-Muller: r = sqrt(-2 ln u1), t = 2a with a = pi u2 - pi/2 in
 * [-pi/2, pi/2), whose sine and cosine come from Taylor series (< 1e-7). */
static inline void box_muller(float u1, float u2, float *z_cos, float *z_sin)
{
    float r = fast_sqrt(-2.0f * fast_log01(u1));
    float a = 3.14159265f * u2 - 1.57079633f, a2 = a * a;
    float s = a * (1.0f - a2 * (1.0f / 6 - a2 * (1.0f / 120 - a2 * (1.0f / 5040 -
              a2 * (1.0f / 362880 - a2 * (1.0f / 39916800))))));
    float c = 1.0f - a2 * (0.5f - a2 * (1.0f / 24 - a2 * (1.0f / 720 - a2 * (1.0f / 40320 -
              a2 * (1.0f / 3628800 - a2 * (1.0f / 479001600))))));
    *z_cos = r * (c * c - s * s);
    *z_sin = r * (2.0f * s * c);
}

void mgv_vmoe_normal_pair(uint64_t x, float *z_cos, float *z_sin)
{
    box_muller(uniform_hi(x), uniform_lo(x), z_cos, z_sin);
}

/*
 * Box-Muller on SplitMix64 values: pair q of row `row` (m = ceil(n / 2)
 * pairs a row) is hashed from counter row * m + q; it gives value q
 * (r cos t) and value m + q (r sin t) of the row.
 */
static MGV_SIMD_BODY void mgv_vmoe_noise_row_body(uint64_t key, int64_t row, int64_t n, float *dst)
{
    enum { CH = 256 };
    float u1[CH], u2[CH], c2[CH], s2[CH];
    int64_t m = (n + 1) / 2;
    uint64_t base = key + (uint64_t)row * (uint64_t)m * 0x9e3779b97f4a7c15ULL;
    for (int64_t q0 = 0; q0 < m; q0 += CH) {
        int cnt = (int)(m - q0 < CH ? m - q0 : CH);
        for (int i = 0; i < cnt; i++) {
            uint64_t x = mix64(base + (uint64_t)(q0 + i + 1) * 0x9e3779b97f4a7c15ULL);
            u1[i] = uniform_hi(x);
            u2[i] = uniform_lo(x);
        }
        for (int i = 0; i < cnt; i++) box_muller(u1[i], u2[i], &c2[i], &s2[i]);
        memcpy(dst + q0, c2, sizeof(float) * (size_t)cnt);
        int64_t ns = n - m - q0;   /* the sine half is one shorter when n is odd */
        if (ns > cnt) ns = cnt;
        if (ns > 0) memcpy(dst + m + q0, s2, sizeof(float) * (size_t)ns);
    }
}
MGV_SIMD_FN(, mgv_vmoe_noise_row, (uint64_t key, int64_t row, int64_t n, float *dst),
            (key, row, n, dst))

/* ---- the row kernels ------------------------------------------------------------- */

enum { NOISE_NONE = 0, NOISE_KEYED = 1, NOISE_GIVEN = 2 };

typedef struct {
    int64_t T, d, K, Kd;
    float *Y;              /* [T, ldy]: mu | lv (forward), dmu | dlv (after backward) */
    const int64_t *yrow;   /* token t's row of Y (parts: part by part), or NULL: row t */
    int64_t ldy;           /* 2Kd, or Kd without lv */
    int has_lv;            /* log sigma^2 computed (sampling or KL wanted) */
    const float *pi;       /* [T, K] */
    const float *bmu, *blv;
    const float *eps;      /* given noise [T, Kd] */
    float *keep;           /* forward, keyed noise: also written here [T, Kd], or NULL */
    int noise;
    uint64_t key;
    float *out;            /* forward: [T, d + 1] */
    const float *gout;     /* backward: [T, d + 1] */
    float *dpi;            /* backward: [T, K] */
    float *dbias;          /* backward: [blocks, 2Kd] */
    _Atomic int failed;    /* a part could not get its scratch memory */
} vmoe_ctx;

/* one expert of one row (biases already in): o += pi z, acc += the KL terms */
static inline void expert_fwd(int64_t d, float p, const float *restrict mu,
                              const float *restrict lv, const float *restrict ep,
                              float *restrict o, float *restrict acc)
{
    if (!lv) {   /* evaluation without KL: z = mu */
        for (int64_t j = 0; j < d; j++) o[j] += p * mu[j];
    } else if (ep) {
        for (int64_t j = 0; j < d; j++) {
            float m = mu[j], l = lv[j], s = mgv_fast_exp(0.5f * l);
            o[j] += p * (m + s * ep[j]);
            acc[j] += 1.0f + l - m * m - s * s;
        }
    } else {
        for (int64_t j = 0; j < d; j++) {
            float m = mu[j], l = lv[j];
            o[j] += p * m;
            acc[j] += 1.0f + l - m * m - mgv_fast_exp(l);
        }
    }
}

/* Y's rows start as the biases [bmu | blv]: the GEMMs then add h W^T with
 * beta = 1, which spares BLAS its zeroing pass and the row pass its bias
 * additions and write-back */
static void bias_rows(const vmoe_ctx *c, int64_t t0, int64_t t1)
{
    float *y = c->Y + t0 * c->ldy;
    mgv_fill_rows(y, c->ldy, t1 - t0, c->bmu, c->Kd);
    if (c->has_lv) mgv_fill_rows(y + c->Kd, c->ldy, t1 - t0, c->blv, c->Kd);
}

static MGV_SIMD_BODY void fwd_part_body(void *vc, int64_t b0, int64_t b1, int part)
{
    vmoe_ctx *c = vc;
    int64_t d = c->d, K = c->K, Kd = c->Kd;
    float *acc = malloc(sizeof(float) * (size_t)d);
    int scratch = c->noise == NOISE_KEYED && !c->keep;
    float *noise = scratch ? malloc(sizeof(float) * (size_t)Kd) : NULL;
    if (!acc || (scratch && !noise)) {
        atomic_store(&c->failed, 1);
        free(acc);
        free(noise);
        return;
    }
    int64_t t1 = b1 * ROW_BLOCK < c->T ? b1 * ROW_BLOCK : c->T;
    for (int64_t t = b0 * ROW_BLOCK; t < t1; t++) {
        float *mu = c->Y + (c->yrow ? c->yrow[t] : t) * c->ldy, *lv = c->has_lv ? mu + Kd : NULL;
        float *o = c->out + t * (d + 1);
        const float *ep = NULL;
        if (c->noise == NOISE_GIVEN) ep = c->eps + t * Kd;
        if (c->noise == NOISE_KEYED) {
            float *row = c->keep ? c->keep + t * Kd : noise;
            mgv_vmoe_noise_row(c->key, t, Kd, row);
            ep = row;
        }
        memset(o, 0, sizeof(float) * (size_t)d);
        memset(acc, 0, sizeof(float) * (size_t)d);
        for (int64_t k = 0; k < K; k++)
            expert_fwd(d, c->pi[t * K + k], mu + k * d, lv ? lv + k * d : NULL,
                       ep ? ep + k * d : NULL, o, acc);
        float kl = 0;
        for (int64_t j = 0; j < d; j++) kl += acc[j];
        o[d] = c->has_lv ? -0.5f * kl : 0.0f;
    }
    free(acc);
    free(noise);
}
MGV_SIMD_FN(static, fwd_part, (void *vc, int64_t b0, int64_t b1, int part), (vc, b0, b1, part))

/* one expert of one row: mu, lv -> dmu, dlv in place; returns dL/dpi_k */
static inline float expert_bwd(int64_t d, float p, float gk, const float *restrict g,
                               float *restrict mu, float *restrict lv, const float *restrict ep,
                               float *restrict dbm, float *restrict dbl)
{
    float dp = 0;
    if (!lv) {
        for (int64_t j = 0; j < d; j++) {
            dp += g[j] * mu[j];
            float dm = p * g[j];
            mu[j] = dm;
            dbm[j] += dm;
        }
    } else if (ep) {
        for (int64_t j = 0; j < d; j++) {
            float m = mu[j], s = mgv_fast_exp(0.5f * lv[j]);
            float sn = s * ep[j], pg = p * g[j];
            dp += g[j] * (m + sn);
            float dm = pg + gk * m, dl = 0.5f * (pg * sn + gk * (s * s - 1.0f));
            mu[j] = dm;
            lv[j] = dl;
            dbm[j] += dm;
            dbl[j] += dl;
        }
    } else {
        for (int64_t j = 0; j < d; j++) {
            float m = mu[j];
            dp += g[j] * m;
            float dm = p * g[j] + gk * m, dl = 0.5f * gk * (mgv_fast_exp(lv[j]) - 1.0f);
            mu[j] = dm;
            lv[j] = dl;
            dbm[j] += dm;
            dbl[j] += dl;
        }
    }
    return dp;
}

static MGV_SIMD_BODY void bwd_part_body(void *vc, int64_t b0, int64_t b1, int part)
{
    vmoe_ctx *c = vc;
    int64_t d = c->d, K = c->K, Kd = c->Kd;
    float *noise = c->noise == NOISE_KEYED ? malloc(sizeof(float) * (size_t)Kd) : NULL;
    if (c->noise == NOISE_KEYED && !noise) {
        atomic_store(&c->failed, 1);
        return;
    }
    for (int64_t blk = b0; blk < b1; blk++) {
        float *db = c->dbias + blk * 2 * Kd;
        memset(db, 0, sizeof(float) * (size_t)(2 * Kd));
        int64_t t1 = (blk + 1) * ROW_BLOCK < c->T ? (blk + 1) * ROW_BLOCK : c->T;
        for (int64_t t = blk * ROW_BLOCK; t < t1; t++) {
            float *mu = c->Y + (c->yrow ? c->yrow[t] : t) * c->ldy;
            float *lv = c->has_lv ? mu + Kd : NULL;
            const float *g = c->gout + t * (d + 1), *ep = NULL;
            if (c->noise == NOISE_GIVEN) ep = c->eps + t * Kd;
            if (c->noise == NOISE_KEYED) {
                mgv_vmoe_noise_row(c->key, t, Kd, noise);
                ep = noise;
            }
            for (int64_t k = 0; k < K; k++)
                c->dpi[t * K + k] = expert_bwd(d, c->pi[t * K + k], g[d], g, mu + k * d,
                                               lv ? lv + k * d : NULL, ep ? ep + k * d : NULL,
                                               db + k * d, db + Kd + k * d);
        }
    }
    free(noise);
}
MGV_SIMD_FN(static, bwd_part, (void *vc, int64_t b0, int64_t b1, int part), (vc, b0, b1, part))

/* ---- the op ------------------------------------------------------------------------ */

static int64_t n_blocks(int64_t T) { return (T + ROW_BLOCK - 1) / ROW_BLOCK; }

/* Work units are blocks; a part gets at least ~1 MFLOP-equivalent of rows. */
static int64_t min_blocks(int64_t Kd)
{
    int64_t rows = (int64_t)(65536 / (Kd > 0 ? Kd : 1)) + 1;
    return (rows + ROW_BLOCK - 1) / ROW_BLOCK;
}

static mgv_tensor *input(const mgv_node *n, int i) { return n->extra[i]; }

/* Parts [B, N_i, d] are stacked part by part in X and Y (part i from row
 * B * (N_0 + ... + N_{i-1})), each one product: the same product for a
 * part's rows whatever the other parts are or whether they are computed
 * (OpenBLAS's bits for a row depend on the call it is in). Token t = (b, j)
 * of the concatenation is row yrow[t]. */
static int64_t *part_rows(int np, mgv_tensor *const *parts)
{
    int64_t B = parts[0]->shape[0], N = 0, first = 0;
    for (int i = 0; i < np; i++) N += parts[i]->shape[1];
    int64_t *yrow = malloc(sizeof(int64_t) * (size_t)(B * N > 0 ? B * N : 1)), j0 = 0;
    if (!yrow) return mgv_fail_null("vmoe: out of memory");
    for (int i = 0; i < np; j0 += parts[i]->shape[1], first += B * parts[i]->shape[1], i++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < parts[i]->shape[1]; j++)
                yrow[b * N + j0 + j] = first + b * parts[i]->shape[1] + j;
    return yrow;
}

/* The input gradient dX = dmu Wmu + dlv Wlv of the parts that require grad,
 * one product each over its own rows of Y */
static int parts_backward(int np, mgv_tensor *const *parts, const float *dY, int64_t ldy,
                          mgv_tensor *Wmu, mgv_tensor *Wlv, int has_lv, int64_t d, int64_t Kd)
{
    int need = 0;
    for (int i = 0; i < np; i++) need |= parts[i]->requires_grad;
    if (!need) return 0;
    mgv_tensor *Wm = mgv_contiguous_data(Wmu), *Wl = Wm ? mgv_contiguous_data(Wlv) : NULL;
    int rc = Wl ? 0 : -1;
    for (int64_t i = 0, first = 0; i < np && rc == 0; first += mgv_numel(parts[i]) / d, i++) {
        mgv_tensor *p = parts[i], *dX;
        if (!p->requires_grad) continue;
        if (!(dX = mgv_empty(p->ndim, p->shape))) {
            rc = -1;
            break;
        }
        int64_t rows = mgv_numel(p) / d;
        const float *src = dY + first * ldy;
        mgv_sgemm(0, 0, rows, d, Kd, 1.0f, src, ldy, mgv_data(Wm), d, 0.0f, mgv_data(dX), d);
        if (has_lv)
            mgv_sgemm(0, 0, rows, d, Kd, 1.0f, src + Kd, ldy, mgv_data(Wl), d, 1.0f, mgv_data(dX), d);
        rc = mgv_accumulate_grad_fresh(p, dX);
        mgv_release(dX);
    }
    mgv_release(Wm);
    mgv_release(Wl);
    return rc;
}

static int vmoe_backward(mgv_node *n, mgv_tensor *gout)
{
    int np = (int)n->ints[5];   /* inputs: the token parts, pi, Wmu, bmu, Wlv, blv */
    mgv_tensor *pi = input(n, np), *Wmu = input(n, np + 1), *bmu = input(n, np + 2),
               *Wlv = input(n, np + 3), *blv = input(n, np + 4);
    mgv_tensor *Y = n->saved[0], *X = n->saved[1], *P = n->saved[2], *E = n->saved[3];
    int64_t d = n->ints[2], K = n->ints[3], Kd = K * d, T = Y->shape[0], ldy = Y->shape[1];
    int has_lv = (int)n->ints[4];
    mgv_tensor *G = mgv_contiguous_data(gout), *dpi = mgv_empty(pi->ndim, pi->shape);
    mgv_tensor *dWm = NULL, *dWl = NULL, *dbm = NULL, *dbl = NULL;
    int64_t nb = n_blocks(T), *yrow = NULL;
    float *dbias = malloc(sizeof(float) * (size_t)(nb ? nb : 1) * (size_t)(2 * Kd));
    int rc = -1;
    if (!G || !dpi || !dbias) {
        if (!dbias) mgv_fail("vmoe: out of memory in backward");
        goto out;
    }
    if (np > 1 && !(yrow = part_rows(np, n->extra))) goto out;
    vmoe_ctx c = {.T = T, .d = d, .K = K, .Kd = Kd, .Y = mgv_data(Y), .yrow = yrow, .ldy = ldy,
                  .has_lv = has_lv, .pi = mgv_data(P), .eps = E ? mgv_data(E) : NULL, .noise = (int)n->ints[0],
                  .key = (uint64_t)n->ints[1], .gout = mgv_data(G), .dpi = mgv_data(dpi),
                  .dbias = dbias};
    atomic_init(&c.failed, 0);
    mgv_parallel_for(nb, min_blocks(Kd), bwd_part, &c);
    if (atomic_load(&c.failed)) {
        mgv_fail("vmoe: out of memory in backward");
        goto out;
    }
    const float *dY = mgv_data(Y), *Xd = mgv_data(X);
    int64_t wshape[2] = {Kd, d}, bshape[1] = {Kd};
    if (Wmu->requires_grad) {   /* dWmu [Kd, d] = dmu^T X */
        if (!(dWm = mgv_empty(2, wshape))) goto out;
        mgv_sgemm(1, 0, Kd, d, T, 1.0f, dY, ldy, Xd, d, 0.0f, mgv_data(dWm), d);
    }
    if (has_lv && Wlv->requires_grad) {
        if (!(dWl = mgv_empty(2, wshape))) goto out;
        mgv_sgemm(1, 0, Kd, d, T, 1.0f, dY + Kd, ldy, Xd, d, 0.0f, mgv_data(dWl), d);
    }
    if (bmu->requires_grad || (has_lv && blv->requires_grad)) {   /* block sums, in block order */
        if (!(dbm = mgv_zeros(1, bshape)) || !(dbl = mgv_zeros(1, bshape))) goto out;
        float *a = mgv_data(dbm), *b = mgv_data(dbl);
        for (int64_t blk = 0; blk < nb; blk++) {
            const float *src = dbias + blk * 2 * Kd;
            for (int64_t j = 0; j < Kd; j++) a[j] += src[j];
            for (int64_t j = 0; j < Kd; j++) b[j] += src[Kd + j];
        }
    }
    rc = mgv_accumulate_grad_fresh(pi, dpi);
    if (rc == 0 && dWm) rc = mgv_accumulate_grad_fresh(Wmu, dWm);
    if (rc == 0 && dWl) rc = mgv_accumulate_grad_fresh(Wlv, dWl);
    if (rc == 0 && dbm) rc = mgv_accumulate_grad_fresh(bmu, dbm);
    if (rc == 0 && dbl && has_lv) rc = mgv_accumulate_grad_fresh(blv, dbl);
    if (rc == 0) rc = parts_backward(np, n->extra, dY, ldy, Wmu, Wlv, has_lv, d, Kd);
out:
    /* the graph runs backward once: Y (now gradients), the noise and the
     * inputs' copies can go now rather than when the whole graph is freed */
    for (int i = 0; i < MGV_NODE_MAX_SAVED; i++) {
        mgv_release(n->saved[i]);
        n->saved[i] = NULL;
    }
    free(dbias);
    free(yrow);
    mgv_release(G);
    mgv_release(dpi);
    mgv_release(dWm);
    mgv_release(dWl);
    mgv_release(dbm);
    mgv_release(dbl);
    return rc;
}

static int check_args(mgv_tensor *h, mgv_tensor *pi, mgv_tensor *Wmu, mgv_tensor *bmu,
                      mgv_tensor *Wlv, mgv_tensor *blv, mgv_tensor *eps)
{
    char s1[96], s2[96];
    if (!h || !pi || !Wmu || !bmu || !Wlv || !blv)
        return mgv_fail("vmoe: tokens, gate, weights and biases are all needed");
    if (h->ndim < 1 || h->shape[h->ndim - 1] < 1)
        return mgv_fail("vmoe: tokens %s need a last axis of at least 1",
                        mgv_shape_str(h, s1, sizeof s1));
    int64_t d = h->shape[h->ndim - 1];
    int ok = pi->ndim == h->ndim && pi->shape[pi->ndim - 1] >= 1;
    for (int i = 0; ok && i < h->ndim - 1; i++) ok = pi->shape[i] == h->shape[i];
    if (!ok)
        return mgv_fail("vmoe: gate %s does not fit tokens %s (needs [..., K])",
                        mgv_shape_str(pi, s1, sizeof s1), mgv_shape_str(h, s2, sizeof s2));
    int64_t K = pi->shape[pi->ndim - 1];
    mgv_tensor *W[2] = {Wmu, Wlv}, *b[2] = {bmu, blv};
    for (int i = 0; i < 2; i++) {
        if (W[i]->ndim != 2 || W[i]->shape[0] != K * d || W[i]->shape[1] != d)
            return mgv_fail("vmoe: weight %s, expected [%lld x %lld] for %lld experts of size %lld",
                            mgv_shape_str(W[i], s1, sizeof s1), (long long)(K * d), (long long)d,
                            (long long)K, (long long)d);
        if (b[i]->ndim != 1 || b[i]->shape[0] != K * d)
            return mgv_fail("vmoe: bias %s, expected [%lld]", mgv_shape_str(b[i], s1, sizeof s1),
                            (long long)(K * d));
    }
    if (eps) {
        ok = eps->ndim == h->ndim + 1 && eps->shape[eps->ndim - 1] == d &&
             eps->shape[eps->ndim - 2] == K;
        for (int i = 0; ok && i < h->ndim - 1; i++) ok = eps->shape[i] == h->shape[i];
        if (!ok)
            return mgv_fail("vmoe: noise %s does not fit tokens %s with %lld experts "
                            "(needs [..., %lld x %lld])",
                            mgv_shape_str(eps, s1, sizeof s1), mgv_shape_str(h, s2, sizeof s2),
                            (long long)K, (long long)K, (long long)d);
    }
    if (K * d > (int64_t)1 << 30 || mgv_numel(h) / d > (int64_t)1 << 31)
        return mgv_fail("vmoe: tokens %s with %lld experts are too large",
                        mgv_shape_str(h, s1, sizeof s1), (long long)K);
    return 0;
}

/* The parts [B, N_i, d] stacked part by part (part_rows), shaped as their
 * concatenation [B, sum N_i, d] along axis 1 */
static mgv_tensor *concat_parts(int np, mgv_tensor *const *parts)
{
    char s1[96], s2[96];
    int64_t N = 0;
    for (int i = 0; i < np; i++) {
        mgv_tensor *p = parts[i];
        if (!p) return mgv_fail_null("vmoe: tokens, gate, weights and biases are all needed");
        if (p->ndim != 3 || p->shape[2] < 1 || p->shape[0] != parts[0]->shape[0] ||
            p->shape[2] != parts[0]->shape[2])
            return mgv_fail_null("vmoe: token part %s does not fit %s (parts are [B x N_i x d])",
                                 mgv_shape_str(p, s1, sizeof s1),
                                 mgv_shape_str(parts[0], s2, sizeof s2));
        N += p->shape[1];
    }
    int64_t B = parts[0]->shape[0], d = parts[0]->shape[2], xs[3] = {B, N, d}, off = 0;
    mgv_tensor *X = mgv_empty(3, xs);
    for (int i = 0; X && i < np; off += parts[i]->shape[1], i++) {
        mgv_tensor *c = mgv_contiguous_data(parts[i]);
        int64_t row = parts[i]->shape[1] * d;
        if (!c) {
            mgv_release(X);
            return NULL;
        }
        memcpy(mgv_data(X) + B * off * d, mgv_data(c), sizeof(float) * (size_t)(B * row));
        mgv_release(c);
    }
    return X;
}

void mgv_vmoe_reuse_clear(mgv_vmoe_reuse *r)
{
    mgv_release(r->Y);
    mgv_release(r->X);
    memset(r, 0, sizeof *r);
}

/* The record's Y when it fits this pass (which then owns it), else NULL */
static mgv_tensor *take_reused(mgv_vmoe_reuse *r, mgv_tensor *const *W, int np,
                               const int64_t *rows, int64_t ldy)
{
    mgv_tensor *Y = r->Y;
    int ok = Y && Y->shape[1] == ldy && r->np == np && Y->refcount == 1 &&
             Y->storage->refcount == 1;
    for (int i = 0; ok && i < 4; i++) ok = r->W[i] == W[i];
    for (int i = 0; ok && i < np; i++) ok = r->rows[i] == rows[i];
    if (!ok) return NULL;
    r->Y = NULL;
    return Y;
}

mgv_tensor *mgv_vmoe_experts(mgv_tensor *h, mgv_tensor *pi, mgv_tensor *Wmu, mgv_tensor *bmu,
                             mgv_tensor *Wlv, mgv_tensor *blv, mgv_tensor *eps, int flags,
                             mgv_rng *rng)
{
    return mgv_vmoe_experts_cat(1, &h, pi, Wmu, bmu, Wlv, blv, eps, flags, rng, NULL);
}

mgv_tensor *mgv_vmoe_experts_cat(int np, mgv_tensor *const *parts, mgv_tensor *pi,
                                 mgv_tensor *Wmu, mgv_tensor *bmu, mgv_tensor *Wlv,
                                 mgv_tensor *blv, mgv_tensor *eps, int flags, mgv_rng *rng,
                                 mgv_vmoe_reuse *reuse)
{
    if (np < 1 || np > MGV_MAX_DIMS) return mgv_fail_null("vmoe: %d token parts", np);
    mgv_tensor *X = np == 1 ? NULL : concat_parts(np, parts), *h = np == 1 ? parts[0] : X;
    if ((np > 1 && !X) || check_args(h, pi, Wmu, bmu, Wlv, blv, eps) < 0) {
        mgv_release(X);
        return NULL;
    }
    int64_t d = h->shape[h->ndim - 1], K = pi->shape[pi->ndim - 1], Kd = K * d;
    int64_t T = mgv_numel(h) / d;
    int noise = eps ? NOISE_GIVEN : ((flags & MGV_VMOE_SAMPLE) ? NOISE_KEYED : NOISE_NONE);
    int has_lv = noise != NOISE_NONE || !(flags & MGV_VMOE_NO_KL);
    int64_t ldy = has_lv ? 2 * Kd : Kd;
    int64_t yshape[2] = {T, ldy}, oshape[MGV_MAX_DIMS];
    memcpy(oshape, h->shape, sizeof(int64_t) * (size_t)h->ndim);
    oshape[h->ndim - 1] = d + 1;
    if (np == 1) X = mgv_contiguous_data(h);
    mgv_tensor *P = mgv_contiguous_data(pi);
    mgv_tensor *Wm = mgv_contiguous_data(Wmu), *Wl = mgv_contiguous_data(Wlv);
    mgv_tensor *bm = mgv_contiguous_data(bmu), *bl = mgv_contiguous_data(blv);
    mgv_tensor *E = eps ? mgv_contiguous_data(eps) : NULL;
    mgv_tensor *W4[4] = {Wmu, bmu, Wlv, blv}, *RX = NULL;
    int64_t rows[MGV_MAX_DIMS], *yrow = np > 1 ? part_rows(np, parts) : NULL;
    for (int i = 0; i < np; i++) rows[i] = np == 1 ? T : mgv_numel(parts[i]) / d;
    mgv_tensor *Y = reuse ? take_reused(reuse, W4, np, rows, ldy) : NULL;
    mgv_tensor *out = mgv_empty(h->ndim, oshape), *result = NULL;
    if (Y) RX = mgv_retain(reuse->X);
    if (reuse) mgv_vmoe_reuse_clear(reuse);   /* a record serves one pass at most */
    if (!Y) Y = mgv_empty(2, yshape);
    if (!X || !P || !Wm || !Wl || !bm || !bl || (eps && !E) || !Y || !out || (np > 1 && !yrow))
        goto done;
    mgv_tensor *in[MGV_MAX_DIMS + 5];
    for (int i = 0; i < np; i++) in[i] = parts[i];
    in[np] = pi, in[np + 1] = Wmu, in[np + 2] = bmu, in[np + 3] = Wlv, in[np + 4] = blv;
    int grad = mgv_needs_grad(np + 5, in);
    if (grad && noise == NOISE_KEYED && T * Kd * (int64_t)sizeof(float) <= atomic_load(&keep_noise_bytes)) {
        int64_t es[2] = {T, Kd};   /* small: keep the noise rather than draw it twice */
        if (!(E = mgv_empty(2, es))) goto done;
    }
    float *Yd = mgv_data(Y);
    const float *Xd = mgv_data(X);
    uint64_t key = noise == NOISE_KEYED ? mgv_rng_next(rng ? rng : mgv_rng_global()) : 0;
    vmoe_ctx c = {.T = T, .d = d, .K = K, .Kd = Kd, .Y = Yd, .yrow = yrow, .ldy = ldy,
                  .has_lv = has_lv, .pi = mgv_data(P),
                  .bmu = mgv_data(bm), .blv = mgv_data(bl), .eps = E ? mgv_data(E) : NULL,
                  .keep = noise == NOISE_KEYED && E ? mgv_data(E) : NULL, .noise = noise,
                  .key = key, .out = mgv_data(out)};
    atomic_init(&c.failed, 0);
    if (!RX) bias_rows(&c, 0, T);
    /* one product per part; a reused Y keeps the parts whose tokens are the record's */
    for (int64_t i = 0, f = 0; i < np; f += rows[i], i++) {
        const float *x = Xd + f * d;
        float *y = Yd + f * ldy;
        if (RX) {
            if (!memcmp(x, (float *)mgv_data(RX) + f * d, sizeof(float) * (size_t)(rows[i] * d)))
                continue;
            bias_rows(&c, f, f + rows[i]);
        }
        mgv_sgemm(0, 1, rows[i], Kd, d, 1.0f, x, d, mgv_data(Wm), d, 1.0f, y, ldy);
        if (has_lv) mgv_sgemm(0, 1, rows[i], Kd, d, 1.0f, x, d, mgv_data(Wl), d, 1.0f, y + Kd, ldy);
    }
    mgv_parallel_for(n_blocks(T), min_blocks(Kd), fwd_part, &c);
    if (atomic_load(&c.failed)) {
        mgv_fail("vmoe: out of memory");
        goto done;
    }
    MGV_PROFILE_UNTAPED("vmoe", np + 5, in);
    if (grad) {
        mgv_node *n = mgv_record(out, "vmoe", vmoe_backward, np + 5, in);
        if (!n) goto done;
        n->saved[0] = mgv_retain(Y);
        n->saved[1] = mgv_retain(X);
        n->saved[2] = mgv_retain(P);
        n->saved[3] = E ? mgv_retain(E) : NULL;
        n->ints[0] = E ? NOISE_GIVEN : noise;
        n->ints[1] = (int64_t)key;
        n->ints[2] = d;
        n->ints[3] = K;
        n->ints[4] = has_lv;
        n->ints[5] = np;
    } else if (reuse) {   /* untaped: Y stays as computed, for the next pass */
        reuse->Y = mgv_retain(Y);
        reuse->X = mgv_retain(X);
        for (int i = 0; i < 4; i++) reuse->W[i] = W4[i];
        reuse->np = np;
        memcpy(reuse->rows, rows, sizeof rows);
    }
    result = out;
    out = NULL;
done:
    free(yrow);
    mgv_release(X);
    mgv_release(RX);
    mgv_release(P);
    mgv_release(Wm);
    mgv_release(Wl);
    mgv_release(bm);
    mgv_release(bl);
    mgv_release(E);
    mgv_release(Y);
    mgv_release(out);
    return result;
}
