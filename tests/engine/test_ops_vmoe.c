/*
 * test_ops_vmoe.c — the fused VIB-MoE experts (ops_vmoe.h) and the thread
 * pool under them (parallel.h).
 *
 * The op is checked against the composition of plain ops it replaces
 * (linear, reshape, exp, mul, sum, gaussian_kl): values to 1e-5 and the
 * gradients of a weighted sum of its output to 1e-4, with given noise and
 * without noise. Finite differences (h = 1e-2, default atol 2e-3, rtol 1e-2)
 * check every input's gradient with given noise and with keyed noise (the
 * rng is reseeded before each evaluation, so every call draws the same key:
 * backward must regenerate exactly the forward's noise). The keyed noise
 * has mean 0 and variance 1. Determinism as the README states it: the same
 * bits run to run, across thread counts for the row pass; within 1e-5 across
 * thread counts with split GEMMs and across SIMD paths. mgv_sgemm agrees
 * with a naive product on split and unsplit shapes; the pool covers a range exactly once; freed
 * large blocks are reused. Bad shapes are messages.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "mgv.h"
#include "core/parallel.h"
#include "core/simd.h"
#include "mgvmoe/ops_vmoe.h"

enum { B = 2, N = 3, D = 4, KX = 3 };

typedef struct {
    mgv_tensor *eps;   /* given noise, or NULL */
    int flags;         /* MGV_VMOE_SAMPLE, MGV_VMOE_NO_KL */
    uint64_t seed;     /* keyed noise: the rng is reseeded to this before each call */
} vctx;

/* inputs: h, pi logits, Wmu, bmu, Wlv, blv */
static void make_inputs(mgv_tensor **in, int64_t b, int64_t n, int64_t d, int64_t k)
{
    int64_t hs[3] = {b, n, d}, ps[3] = {b, n, k}, ws[2] = {k * d, d}, bs[1] = {k * d};
    in[0] = gradcheck_input(3, hs, 1, -1, 1);
    in[1] = gradcheck_input(3, ps, 2, -1, 1);
    in[2] = gradcheck_input(2, ws, 3, -0.5f, 0.5f);
    in[3] = gradcheck_input(1, bs, 4, -0.2f, 0.2f);
    in[4] = gradcheck_input(2, ws, 5, -0.5f, 0.5f);
    in[5] = gradcheck_input(1, bs, 6, -0.3f, 0.3f);
}

static mgv_tensor *f_fused(mgv_tensor **in, void *ctx)
{
    vctx *c = ctx;
    mgv_rng r;
    mgv_rng_seed(&r, c->seed);
    mgv_tensor *pi = mgv_softmax(in[1], -1);
    mgv_tensor *y = mgv_vmoe_experts(in[0], pi, in[2], in[3], in[4], in[5], c->eps, c->flags, &r);
    mgv_release(pi);
    return y;
}

/* the same result from plain ops: [o, kl] */
static mgv_tensor *f_plain(mgv_tensor **in, void *ctx)
{
    vctx *c = ctx;
    mgv_tensor *h = in[0];
    int64_t b = h->shape[0], n = h->shape[1], d = h->shape[2], k = in[1]->shape[2];
    int64_t s4[4] = {b, n, k, d};
    mgv_tensor *pi = mgv_softmax(in[1], -1);
    mgv_tensor *l1 = mgv_linear(h, in[2], in[3]), *l2 = mgv_linear(h, in[4], in[5]);
    mgv_tensor *mu = mgv_reshape(l1, 4, s4), *lv = mgv_reshape(l2, 4, s4);
    mgv_tensor *z = mgv_retain(mu), *t[6] = {0};
    if (c->eps) {
        t[0] = mgv_scale(lv, 0.5f);
        t[1] = mgv_exp(t[0]);
        t[2] = mgv_mul(t[1], c->eps);
        mgv_release(z);
        z = mgv_add(mu, t[2]);
    }
    int ax = -2;
    t[3] = mgv_unsqueeze(pi, -1);
    t[4] = mgv_mul(t[3], z);
    mgv_tensor *o = mgv_sum(t[4], 1, &ax, 0);
    mgv_tensor *kl = mgv_gaussian_kl(mu, lv, 2);
    t[5] = mgv_unsqueeze(kl, -1);
    mgv_tensor *parts[2] = {o, t[5]};
    mgv_tensor *y = mgv_concat(2, parts, -1);
    mgv_release(pi);
    mgv_release(l1);
    mgv_release(l2);
    mgv_release(mu);
    mgv_release(lv);
    mgv_release(z);
    mgv_release(o);
    mgv_release(kl);
    for (int i = 0; i < 6; i++) mgv_release(t[i]);
    return y;
}

/* forward values and gradients of sum(w * y) of fused vs plain */
static void compare_with_plain(mgv_tensor *eps)
{
    mgv_tensor *in[6];
    make_inputs(in, B, N, D, KX);
    vctx c = {eps, 0, 0};
    mgv_tensor *grads[2][6] = {{0}};
    mgv_tensor *ys[2];
    for (int v = 0; v < 2; v++) {
        for (int i = 0; i < 6; i++) {
            mgv_zero_grad(in[i]);
            mgv_set_requires_grad(in[i], 1);
        }
        mgv_tensor *y = v == 0 ? f_fused(in, &c) : f_plain(in, &c);
        CHECK(y != NULL);
        if (!y) break;
        ys[v] = mgv_clone_data(y);
        mgv_tensor *w = gradcheck_input(y->ndim, y->shape, 9, -1, 1);
        CHECK(mgv_backward(y, w) == 0);
        for (int i = 0; i < 6; i++) grads[v][i] = in[i]->grad ? mgv_retain(in[i]->grad) : NULL;
        mgv_release(w);
        mgv_release(y);
    }
    CHECK(ys[0]->shape[2] == D + 1);
    CHECK(max_abs_diff(ys[0], ys[1]) < 1e-5);
    for (int i = 0; i < 6; i++) {
        double e = max_abs_diff(grads[0][i], grads[1][i]);
        if (!(e < 1e-4)) printf("  input %d: gradient differs by %g\n", i, e);
        CHECK(e < 1e-4);
    }
    for (int v = 0; v < 2; v++) {
        mgv_release(ys[v]);
        for (int i = 0; i < 6; i++) mgv_release(grads[v][i]);
    }
    for (int i = 0; i < 6; i++) mgv_release(in[i]);
}

static void test_vmoe_matches_plain_ops(void)
{
    int64_t es[4] = {B, N, KX, D};
    mgv_tensor *eps = gradcheck_input(4, es, 7, -2, 2);
    compare_with_plain(eps);   /* training, the noise given */
    compare_with_plain(NULL);  /* evaluation: z = mu */
    mgv_release(eps);
}

static void test_vmoe_grad(void)
{
    mgv_tensor *in[6];
    make_inputs(in, B, N, D, KX);
    int64_t es[4] = {B, N, KX, D};
    mgv_tensor *eps = gradcheck_input(4, es, 7, -2, 2);
    vctx given = {eps, MGV_VMOE_SAMPLE, 0}, keyed = {NULL, MGV_VMOE_SAMPLE, 42};
    vctx none = {NULL, 0, 0}, no_kl = {NULL, MGV_VMOE_NO_KL, 0};
    CHECK(gradcheck("vmoe, given noise", f_fused, &given, 6, in, NULL));
    CHECK(gradcheck("vmoe, keyed noise (kept)", f_fused, &keyed, 6, in, NULL));
    int64_t prev = mgv_vmoe_keep_noise_limit(0);
    CHECK(gradcheck("vmoe, keyed noise (drawn again)", f_fused, &keyed, 6, in, NULL));
    mgv_vmoe_keep_noise_limit(prev);
    CHECK(gradcheck("vmoe, no noise", f_fused, &none, 6, in, NULL));
    CHECK(gradcheck("vmoe, no noise, no KL", f_fused, &no_kl, 6, in, NULL));
    mgv_release(eps);
    for (int i = 0; i < 6; i++) mgv_release(in[i]);
}

/* without noise and KL, o is the same as with KL (bitwise) and kl is 0;
 * with the noise given, NO_KL changes nothing */
static void test_vmoe_no_kl(void)
{
    mgv_tensor *in[6];
    make_inputs(in, B, N, D, KX);
    int64_t es[4] = {B, N, KX, D};
    mgv_tensor *eps = gradcheck_input(4, es, 7, -2, 2);
    vctx full = {NULL, 0, 0}, no_kl = {NULL, MGV_VMOE_NO_KL, 0};
    vctx given = {eps, 0, 0}, given_no_kl = {eps, MGV_VMOE_NO_KL, 0};
    mgv_tensor *a = f_fused(in, &full), *b = f_fused(in, &no_kl);
    mgv_tensor *c = f_fused(in, &given), *e = f_fused(in, &given_no_kl);
    CHECK(a && b && c && e);
    if (a && b && c && e) {
        for (int64_t t = 0; t < B * N; t++) {
            for (int j = 0; j < D; j++)
                CHECK(mgv_get_flat(a, t * (D + 1) + j) == mgv_get_flat(b, t * (D + 1) + j));
            CHECK(mgv_get_flat(b, t * (D + 1) + D) == 0.0f);
            CHECK(mgv_get_flat(a, t * (D + 1) + D) > 0.0f);
        }
        CHECK(max_abs_diff(c, e) == 0);
    }
    mgv_release(a);
    mgv_release(b);
    mgv_release(c);
    mgv_release(e);
    mgv_release(eps);
    for (int i = 0; i < 6; i++) mgv_release(in[i]);
}

static void test_vmoe_noise(void)
{
    enum { ROWS = 200, LEN = 1001 };   /* odd: the sine half is one shorter */
    float *buf = malloc(sizeof(float) * LEN);
    double s = 0, s2 = 0, s4 = 0;
    int64_t n = 0;
    for (int r = 0; r < ROWS; r++) {
        mgv_vmoe_noise_row(99, r, LEN, buf);
        for (int j = 0; j < LEN; j++) {
            s += buf[j];
            s2 += (double)buf[j] * buf[j];
            s4 += (double)buf[j] * buf[j] * buf[j] * buf[j];
            n++;
        }
    }
    double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n / (var * var);
    CHECK_NEAR(mean, 0, 0.01);   /* 2e5 draws: standard error 0.0022 */
    CHECK_NEAR(var, 1, 0.02);
    CHECK_NEAR(kurt, 3, 0.1);
    /* the same key and row give the same values; another row differs */
    float *again = malloc(sizeof(float) * LEN);
    mgv_vmoe_noise_row(99, 7, LEN, buf);
    mgv_vmoe_noise_row(99, 7, LEN, again);
    CHECK(memcmp(buf, again, sizeof(float) * LEN) == 0);
    mgv_vmoe_noise_row(99, 8, LEN, again);
    CHECK(buf[0] != again[0] && buf[LEN - 1] != again[LEN - 1]);
    free(buf);
    free(again);
    /* the extremes of the hash: u1 rounds to 1 (r = 0: 0 * 1/sqrt(0) once gave
     * NaN), and u1 at its smallest, u2 = 0 (t = -pi): r = sqrt(-2 ln 2^-33) */
    float zc, zs;
    mgv_vmoe_normal_pair(~(uint64_t)0, &zc, &zs);
    CHECK(isfinite(zc) && isfinite(zs) && fabsf(zc) < 1e-6f && fabsf(zs) < 1e-6f);
    mgv_vmoe_normal_pair(0, &zc, &zs);
    CHECK_NEAR(zc, -sqrt(-2 * log(0x1p-33)), 1e-5);
    CHECK_NEAR(zs, 0, 1e-5);
    mgv_vmoe_normal_pair((uint64_t)0x80000000u << 32 | 0x400000u << 8, &zc, &zs);   /* u1 ~ 1/2, u2 = 1/4 */
    CHECK_NEAR(zc, 0, 1e-5);
    CHECK_NEAR(zs, -sqrt(-2 * log(0.5)), 1e-5);
}

/* The output and the six gradients (of a weighted sum of it) of one forward
 * and backward with keyed noise, into r[7]; 0 on success. */
static int vmoe_run(mgv_tensor **in, mgv_tensor **r)
{
    vctx c = {NULL, MGV_VMOE_SAMPLE, 5};
    for (int i = 0; i < 6; i++) {
        mgv_zero_grad(in[i]);
        mgv_set_requires_grad(in[i], 1);
    }
    mgv_tensor *out = f_fused(in, &c);
    if (!out) return -1;
    r[0] = mgv_clone_data(out);
    mgv_tensor *w = gradcheck_input(out->ndim, out->shape, 9, -1, 1);
    int rc = mgv_backward(out, w);
    for (int i = 0; i < 6; i++) r[1 + i] = mgv_retain(in[i]->grad);
    mgv_release(w);
    mgv_release(out);
    return rc;
}

/* The worst over the seven results of max|a - b| / max|a| (the difference
 * relative to the result's scale: single entries may be near 0). */
static double vmoe_rel_diff(mgv_tensor **a, mgv_tensor **b)
{
    double worst = 0;
    for (int i = 0; i < 7; i++) {
        double e = max_abs_diff(a[i], b[i]) / max_abs(a[i]);
        if (e > worst || isnan(e)) worst = e;
    }
    return worst;
}

static void vmoe_release(mgv_tensor **r)
{
    for (int i = 0; i < 7; i++) mgv_release(r[i]);
}

/* 4 x 600 tokens of 32 values, 4 experts: two parts of rows, and GEMMs split
 * over threads */
static void vmoe_big_inputs(mgv_tensor **in) { make_inputs(in, 4, 600, 32, 4); }

/* The guarantee of the README's Determinism section: the same path, core and
 * thread count give the same bits (run twice; keyed noise kept or drawn again
 * in backward). Across 1 and 2 threads the row pass gives the same bits (its
 * GEMMs kept below mgv_sgemm's split: 2400 x 128 x 8 multiply-adds), and
 * with GEMMs split over threads, which OpenBLAS may round differently, the
 * results agree to VMOE_THREADS_TOL. */
#define VMOE_THREADS_TOL 1e-5
static void test_vmoe_threads(void)
{
    int prev = mgv_get_num_threads();
    int64_t keep = mgv_vmoe_keep_noise_limit(-1);
    mgv_tensor *in[6], *r[4][7] = {{0}};
    vmoe_big_inputs(in);
    for (int v = 0; v < 4; v++) {
        /* 2 threads, again, with the noise drawn again in backward; 1 thread */
        mgv_set_num_threads(v == 3 ? 1 : 2);
        mgv_vmoe_keep_noise_limit(v == 2 ? 0 : keep);
        CHECK(vmoe_run(in, r[v]) == 0);
    }
    mgv_vmoe_keep_noise_limit(keep);
    for (int v = 1; v < 3; v++)
        for (int i = 0; i < 7; i++) CHECK(max_abs_diff(r[0][i], r[v][i]) == 0);
    double e = vmoe_rel_diff(r[0], r[3]);
    if (!(e <= VMOE_THREADS_TOL)) printf("  1 vs 2 threads: relative difference %.3g\n", e);
    CHECK(e <= VMOE_THREADS_TOL);
    for (int v = 0; v < 4; v++) vmoe_release(r[v]);
    for (int i = 0; i < 6; i++) mgv_release(in[i]);

    make_inputs(in, 4, 600, 8, 16);   /* Kd 128: the row pass in two parts, GEMMs whole */
    mgv_set_num_threads(2);
    CHECK(mgv_parallel_parts((2400 + 63) / 64, (65536 / 128 + 1 + 63) / 64) == 2);
    for (int v = 0; v < 2; v++) {
        mgv_set_num_threads(v ? 1 : 2);
        CHECK(vmoe_run(in, r[v]) == 0);
    }
    for (int i = 0; i < 7; i++) CHECK(max_abs_diff(r[0][i], r[1][i]) == 0);
    for (int v = 0; v < 2; v++) vmoe_release(r[v]);
    for (int i = 0; i < 6; i++) mgv_release(in[i]);
    mgv_set_num_threads(prev);
}

/* Every SIMD path this CPU runs (switched in-process; OpenBLAS's core stays)
 * gives the generic path's noise and results to VMOE_PATHS_TOL, and the same
 * bits when run again. */
#define VMOE_PATHS_TOL 1e-5
static void test_vmoe_paths(void)
{
    int prev = mgv_simd_path();
    mgv_tensor *in[6], *r[MGV_SIMD_NPATHS][7] = {{0}}, *again[7] = {0};
    float noise[MGV_SIMD_NPATHS][301];
    vmoe_big_inputs(in);
    for (int p = 0; p < MGV_SIMD_NPATHS; p++) {
        if (!mgv_simd_supported(p)) continue;
        CHECK(mgv_simd_set_path(p) >= 0 && mgv_simd_path() == p);
        mgv_vmoe_noise_row(3, 11, 301, noise[p]);
        CHECK(vmoe_run(in, r[p]) == 0);
        if (p == prev) {
            CHECK(vmoe_run(in, again) == 0);
            for (int i = 0; i < 7; i++) CHECK(max_abs_diff(r[p][i], again[i]) == 0);
        }
        if (p == MGV_SIMD_GENERIC) continue;
        double e = vmoe_rel_diff(r[MGV_SIMD_GENERIC], r[p]), en = 0;
        for (int j = 0; j < 301; j++) en = fmax(en, fabs(noise[p][j] - noise[MGV_SIMD_GENERIC][j]));
        if (!(e <= VMOE_PATHS_TOL && en <= 1e-5))
            printf("  %s vs generic: relative difference %.3g, noise %.3g\n", mgv_simd_name(p), e, en);
        CHECK(e <= VMOE_PATHS_TOL);
        CHECK(en <= 1e-5);   /* absolute: the values are standard normals */
    }
    CHECK(mgv_simd_set_path(prev) >= 0);
    CHECK(mgv_simd_set_path(MGV_SIMD_NPATHS) < 0);
    CHECK_ERROR_HAS("simd: this CPU cannot run path");
    for (int p = 0; p < MGV_SIMD_NPATHS; p++) vmoe_release(r[p]);
    vmoe_release(again);
    for (int i = 0; i < 6; i++) mgv_release(in[i]);
}

/* mgv_sgemm, split (large) and unsplit (small), every transpose, vs a naive loop */
static void test_sgemm(void)
{
    int prev = mgv_set_num_threads(2);
    const int64_t sizes[3][3] = {{5, 7, 3}, {300, 90, 200}, {40, 600, 170}};
    for (int s = 0; s < 3; s++) {
        int64_t M = sizes[s][0], Nn = sizes[s][1], Kk = sizes[s][2];
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int64_t as[2] = {ta ? Kk : M, ta ? M : Kk}, bs[2] = {tb ? Nn : Kk, tb ? Kk : Nn};
                int64_t cs[2] = {M, Nn};
                mgv_tensor *A = gradcheck_input(2, as, 11, -1, 1), *Bm = gradcheck_input(2, bs, 12, -1, 1);
                mgv_tensor *C = gradcheck_input(2, cs, 13, -1, 1);
                mgv_tensor *C0 = mgv_clone_data(C);
                const float *a = mgv_data(A), *b = mgv_data(Bm), *c0 = mgv_data(C0);
                mgv_sgemm(ta, tb, M, Nn, Kk, 0.5f, a, as[1], b, bs[1], 2.0f, mgv_data(C), Nn);
                double worst = 0;
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < Nn; j++) {
                        double acc = 0;
                        for (int64_t k = 0; k < Kk; k++)
                            acc += (double)(ta ? a[k * M + i] : a[i * Kk + k]) *
                                   (tb ? b[j * Kk + k] : b[k * Nn + j]);
                        double want = 0.5 * acc + 2.0 * c0[i * Nn + j];
                        double e = fabs(want - mgv_data(C)[i * Nn + j]);
                        if (e > worst) worst = e;
                    }
                if (!(worst < 1e-3)) printf("  sgemm %lldx%lldx%lld ta %d tb %d: error %g\n",
                                            (long long)M, (long long)Nn, (long long)Kk, ta, tb, worst);
                CHECK(worst < 1e-3);
                mgv_release(A);
                mgv_release(Bm);
                mgv_release(C);
                mgv_release(C0);
            }
    }
    mgv_set_num_threads(prev);
}

/* parallel_for covers [0, n) exactly once, in contiguous parts */
static void mark(void *ctx, int64_t b, int64_t e, int part)
{
    int *hits = ctx;
    for (int64_t i = b; i < e; i++) hits[i] += 1 + part * 0;
}

static void test_parallel_for(void)
{
    int prev = mgv_set_num_threads(3);
    CHECK(mgv_get_num_threads() == 3);
    CHECK(mgv_parallel_parts(1000, 10) == 3);
    CHECK(mgv_parallel_parts(15, 10) == 1);
    for (int rep = 0; rep < 200; rep++) {
        int hits[1000] = {0};
        mgv_parallel_for(1000, 10, mark, hits);
        int ok = 1;
        for (int i = 0; i < 1000; i++) ok &= hits[i] == 1;
        CHECK(ok);
        if (!ok) break;
    }
    mgv_set_num_threads(prev);
    CHECK(mgv_get_num_threads() == prev);
}

/* tensor.c keeps freed large blocks for the next request of their size: the
 * same memory comes back (not under AddressSanitizer, which sees every free),
 * is not counted as allocated meanwhile, and mgv_zeros still zeroes it */
static void test_storage_reuse(void)
{
#if !defined(__SANITIZE_ADDRESS__)
    int64_t sizes[2] = {1 << 18, 5 << 20};   /* 1 MiB (small cache), 20 MiB (big slots) */
    for (int i = 0; i < 2; i++) {
        int64_t base = mgv_bytes_allocated();
        mgv_tensor *a = mgv_full(1, &sizes[i], 3.0f);
        float *pa = mgv_data(a);
        CHECK(mgv_bytes_allocated() - base >= sizes[i] * 4);
        mgv_release(a);
        CHECK(mgv_bytes_allocated() == base);
        mgv_tensor *b = mgv_zeros(1, &sizes[i]);
        CHECK(mgv_data(b) == pa);
        int zero = 1;
        for (int64_t j = 0; j < sizes[i]; j += 4099) zero &= mgv_data(b)[j] == 0.0f;
        CHECK(zero);
        mgv_release(b);
    }
#endif
}

static void test_vmoe_errors(void)
{
    mgv_tensor *in[6];
    make_inputs(in, B, N, D, KX);
    int64_t ps[3] = {B, N + 1, KX}, es[4] = {B, N, KX + 1, D};
    mgv_tensor *badpi = mgv_zeros(3, ps), *badeps = mgv_zeros(4, es);
    CHECK(!mgv_vmoe_experts(in[0], badpi, in[2], in[3], in[4], in[5], NULL, 0, NULL));
    CHECK_ERROR_HAS("vmoe: gate [2x4x3] does not fit tokens [2x3x4]");
    mgv_tensor *pi = mgv_softmax(in[1], -1);
    CHECK(!mgv_vmoe_experts(in[0], pi, in[2], in[3], in[2], in[5], badeps, 1, NULL));
    CHECK_ERROR_HAS("vmoe: noise [2x3x4x4] does not fit tokens [2x3x4]");
    CHECK(!mgv_vmoe_experts(in[0], pi, in[3], in[3], in[4], in[5], NULL, 0, NULL));
    CHECK_ERROR_HAS("vmoe: weight [12], expected [12 x 4]");
    CHECK(!mgv_vmoe_experts(in[0], pi, in[2], in[2], in[4], in[5], NULL, 0, NULL));
    CHECK_ERROR_HAS("vmoe: bias [12x4], expected [12]");
    mgv_release(pi);
    mgv_release(badpi);
    mgv_release(badeps);
    for (int i = 0; i < 6; i++) mgv_release(in[i]);
}

/* the bits of two tensors' values agree */
static int same_bits(mgv_tensor *a, mgv_tensor *b)
{
    if (!a || !b || mgv_numel(a) != mgv_numel(b)) return 0;
    mgv_tensor *ca = mgv_contiguous_data(a), *cb = mgv_contiguous_data(b);
    int same = !memcmp(mgv_data(ca), mgv_data(cb), sizeof(float) * (size_t)mgv_numel(a));
    mgv_release(ca);
    mgv_release(cb);
    return same;
}

/* max |a - b| / max |b| (NaN in either stays NaN: the check fails) */
static double max_rel(mgv_tensor *a, mgv_tensor *b)
{
    return max_abs_diff(a, b) / fmax(max_abs(b), 1e-30);
}

/* One pass of the op on [img; txt] along the tokens, as two parts or as their
 * concatenation, with keyed noise; with grad, a weighted sum's backward puts
 * the gradients of W[0..3] and of txt in g[0..4] (img never requires grad). */
static mgv_tensor *parts_pass(int as_parts, mgv_tensor *img, mgv_tensor *txt, mgv_tensor *lg,
                              mgv_tensor **W, mgv_vmoe_reuse *reuse, mgv_tensor **g)
{
    mgv_rng r;
    mgv_rng_seed(&r, 21);
    mgv_tensor *pi = mgv_softmax(lg, -1), *parts[2] = {img, txt}, *h = NULL, *y;
    if (as_parts) {
        y = mgv_vmoe_experts_cat(2, parts, pi, W[0], W[1], W[2], W[3], NULL, MGV_VMOE_SAMPLE, &r,
                                 reuse);
    } else {
        h = mgv_concat(2, parts, 1);
        y = mgv_vmoe_experts_cat(1, &h, pi, W[0], W[1], W[2], W[3], NULL, MGV_VMOE_SAMPLE, &r,
                                 reuse);
    }
    if (y && g && mgv_grad_enabled()) {
        mgv_tensor *wt = gradcheck_input(y->ndim, y->shape, 22, -1, 1), *t = mgv_mul(y, wt);
        mgv_tensor *loss = mgv_sum_all(t);
        CHECK(mgv_backward(loss, NULL) == 0);
        for (int i = 0; i < 4; i++) {
            g[i] = mgv_clone_data(W[i]->grad);
            mgv_zero_grad(W[i]);
        }
        g[4] = mgv_clone_data(txt->grad);
        mgv_zero_grad(txt);
        CHECK(img->requires_grad || !img->grad);
        mgv_release(loss);
        mgv_release(t);
        mgv_release(wt);
    }
    mgv_release(h);
    mgv_release(pi);
    return y;
}

static void free_grads(mgv_tensor **g)
{
    for (int i = 0; i < 5; i++) {
        mgv_release(g[i]);
        g[i] = NULL;
    }
}

/* two passes' outputs and gradients have the same bits (and are released) */
static void check_same(mgv_tensor *y0, mgv_tensor *y1, mgv_tensor **g0, mgv_tensor **g1)
{
    CHECK(y0 && y1 && same_bits(y0, y1));
    for (int i = 0; i < 5; i++) CHECK(same_bits(g0[i], g1[i]));
    mgv_release(y0);
    mgv_release(y1);
    free_grads(g0);
    free_grads(g1);
}

/* an untaped pass on [img; txt] that leaves its Y in rec */
static void record(mgv_tensor *img, mgv_tensor *txt, mgv_tensor *lg, mgv_tensor **W,
                   mgv_vmoe_reuse *rec)
{
    int prev = mgv_set_grad_enabled(0);
    mgv_tensor *y = parts_pass(1, img, txt, lg, W, rec, NULL);
    mgv_set_grad_enabled(prev);
    CHECK(y && rec->Y && rec->X);
    mgv_release(y);
}

/* a taped pass given the record rec empties it and has the bits of one without */
static void check_reused(mgv_tensor *img, mgv_tensor *txt, mgv_tensor *lg, mgv_tensor **W,
                         mgv_vmoe_reuse *rec)
{
    mgv_tensor *g0[5] = {0}, *g1[5] = {0};
    mgv_tensor *y0 = parts_pass(1, img, txt, lg, W, rec, g0);
    CHECK(!rec->Y && !rec->X);
    mgv_tensor *y1 = parts_pass(1, img, txt, lg, W, NULL, g1);
    check_same(y0, y1, g0, g1);
}

/* Parts: the op on the parts gives the values of the op on their
 * concatenation (to rounding: other products), the fixed part gets no
 * gradient, and the text part's gradient has the same bits whether the
 * picture's is computed or not. Reuse: a taped
 * pass that takes Y over from an untaped pass with the same parameters
 * gives the bits of one that computes Y afresh, whether all rows, some or
 * none change; a record of other parameters is not used; a pass empties the
 * record. The products are large enough to be split over two threads. */
static void test_vmoe_parts_reuse(void)
{
    enum { PB = 3, PP = 40, PL = 24, PD = 96, PK = 4 };
    int prev_threads = mgv_set_num_threads(2);
    int64_t is[3] = {PB, PP, PD}, ts[3] = {PB, PL, PD}, ps[3] = {PB, PP + PL, PK};
    int64_t ws[2] = {PK * PD, PD}, bs[1] = {PK * PD};
    mgv_tensor *img = gradcheck_input(3, is, 11, -1, 1), *txt = gradcheck_input(3, ts, 12, -1, 1);
    mgv_tensor *txt2 = gradcheck_input(3, ts, 13, -1, 1), *lg = gradcheck_input(3, ps, 14, -2, 2);
    mgv_tensor *W[4] = {gradcheck_input(2, ws, 15, -0.3f, 0.3f), gradcheck_input(1, bs, 16, -0.2f, 0.2f),
                        gradcheck_input(2, ws, 17, -0.3f, 0.3f), gradcheck_input(1, bs, 18, -0.2f, 0.2f)};
    for (int i = 0; i < 4; i++) mgv_set_requires_grad(W[i], 1);
    mgv_set_requires_grad(txt, 1);
    mgv_set_requires_grad(txt2, 1);
    mgv_tensor *g0[5] = {0}, *g1[5] = {0};

    /* other products than the concatenation's: the same values to rounding */
    mgv_tensor *y0 = parts_pass(0, img, txt, lg, W, NULL, g0);
    mgv_tensor *y1 = parts_pass(1, img, txt, lg, W, NULL, g1);
    CHECK(y0 && y1 && max_rel(y0, y1) < 1e-5);
    for (int i = 0; i < 5; i++) CHECK(max_rel(g0[i], g1[i]) < 1e-5);
    mgv_release(y0);
    free_grads(g0);
    /* the text part's gradient has the same bits when the picture needs one too */
    mgv_set_requires_grad(img, 1);
    y0 = parts_pass(1, img, txt, lg, W, NULL, g0);
    CHECK(img->grad && mgv_numel(img->grad) == mgv_numel(img));
    mgv_set_requires_grad(img, 0);
    mgv_release(img->grad);
    img->grad = NULL;
    check_same(y0, y1, g0, g1);

    /* reuse: the record of an untaped pass on [img; txt], then a taped pass */
    mgv_tensor *next[3] = {txt2, txt, NULL};   /* some rows change, none, all (below) */
    for (int c = 0; c < 3; c++) {
        mgv_vmoe_reuse rec = {0};
        mgv_tensor *t = next[c] ? next[c] : txt2, *im = img;
        mgv_tensor *im2 = next[c] ? NULL : gradcheck_input(3, is, 19, -1, 1);
        if (im2) im = im2;
        record(img, txt, lg, W, &rec);
        check_reused(im, t, lg, W, &rec);
        mgv_release(im2);
    }
    /* other parameters (another tensor, other values): Y is computed afresh */
    mgv_vmoe_reuse rec = {0};
    record(img, txt, lg, W, &rec);
    mgv_tensor *W2[4] = {mgv_clone_data(W[0]), W[1], W[2], W[3]};
    for (int64_t i = 0; i < mgv_numel(W2[0]); i++) mgv_set_flat(W2[0], i, 1.5f * mgv_get_flat(W2[0], i));
    mgv_set_requires_grad(W2[0], 1);
    check_reused(img, txt, lg, W2, &rec);
    /* a taped pass records nothing */
    y0 = parts_pass(1, img, txt, lg, W, &rec, g0);
    CHECK(!rec.Y && !rec.X);
    mgv_release(y0);
    free_grads(g0);
    /* parts that do not fit are a message */
    int64_t bad_s[3] = {PB + 1, PL, PD};
    mgv_tensor *bad = gradcheck_input(3, bad_s, 20, -1, 1), *bp[2] = {img, bad};
    mgv_tensor *pi = mgv_softmax(lg, -1);
    CHECK(!mgv_vmoe_experts_cat(2, bp, pi, W[0], W[1], W[2], W[3], NULL, 0, NULL, NULL));
    CHECK_ERROR_HAS("does not fit");
    mgv_release(pi);
    mgv_release(bad);
    mgv_release(W2[0]);
    for (int i = 0; i < 4; i++) mgv_release(W[i]);
    mgv_release(img);
    mgv_release(txt);
    mgv_release(txt2);
    mgv_release(lg);
    mgv_set_num_threads(prev_threads);
}

int main(void)
{
    RUN(test_vmoe_matches_plain_ops);
    RUN(test_vmoe_grad);
    RUN(test_vmoe_no_kl);
    RUN(test_vmoe_noise);
    RUN(test_vmoe_threads);
    RUN(test_vmoe_paths);
    RUN(test_sgemm);
    RUN(test_parallel_for);
    RUN(test_storage_reuse);
    RUN(test_vmoe_errors);
    RUN(test_vmoe_parts_reuse);
    return CHECK_DONE();
}
