/*
 * test_optim.c — SGD, Adam, AdamW and gradient clipping against numbers from
 * PyTorch, plus argument checks, skipping of parameters without gradient and
 * convergence on a quadratic.
 *
 * The tiny problem: parameters a = [1, -2, 0.5] and b = [[0.3, -0.7], [1.2, 0]],
 * loss = sum(0.5*c*p^2 + d*p), so grad = c*p + d with
 *   ca = [1, 2, 0.5], da = [0.5, -1, 0.25],
 *   cb = [[1.5, 0.5], [2, 1]], db = [[-0.2, 0.3], [0.1, -0.4]].
 * The expected values were produced once with torch 1.13 (/usr/bin/python3):
 *
 *   def run(mk):
 *       a = torch.tensor(A0, requires_grad=True); b = torch.tensor(B0, requires_grad=True)
 *       opt = mk([a, b])
 *       for s in range(3):
 *           with torch.no_grad(): a.grad = ca*a + da; b.grad = cb*b + db
 *           opt.step(); print(a.flatten().tolist() + b.flatten().tolist())
 *   run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01))
 *   run(lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.9, 0.999), eps=1e-8))
 *   run(lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1))
 *   run(lambda p: torch.optim.AdamW(p, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.5))
 */
#include "check.h"
#include "mgv.h"
#include "core/optim.h"

static const float A0[3] = {1.0f, -2.0f, 0.5f};
static const float B0[4] = {0.3f, -0.7f, 1.2f, 0.0f};
static const float CA[3] = {1.0f, 2.0f, 0.5f}, DA[3] = {0.5f, -1.0f, 0.25f};
static const float CB[4] = {1.5f, 0.5f, 2.0f, 1.0f}, DB[4] = {-0.2f, 0.3f, 0.1f, -0.4f};

static mgv_tensor *param(int ndim, const int64_t *shape, const float *data)
{
    mgv_tensor *p = mgv_from_data(ndim, shape, data);
    p->requires_grad = 1;
    return p;
}

/* Replaces p->grad with c*p + d (computed as torch does, in float). */
static void set_grad(mgv_tensor *p, const float *c, const float *d)
{
    mgv_release(p->grad);
    p->grad = mgv_zeros(p->ndim, p->shape);
    float *g = mgv_data(p->grad);
    const float *x = mgv_data(p);
    for (int64_t i = 0; i < mgv_numel(p); i++) g[i] = c[i] * x[i] + d[i];
}

/* Three steps on the tiny problem; want[s] are a's and b's values after step s+1. */
static void check_three_steps(mgv_optim *o, mgv_tensor *a, mgv_tensor *b,
                              const float want[3][7])
{
    CHECK(o != NULL);
    if (!o) return;
    for (int s = 0; s < 3; s++) {
        set_grad(a, CA, DA);
        set_grad(b, CB, DB);
        CHECK(mgv_optim_step(o) == 0);
        CHECK(o->t == s + 1);
        for (int i = 0; i < 3; i++) CHECK_NEAR(mgv_data(a)[i], want[s][i], 2e-6);
        for (int i = 0; i < 4; i++) CHECK_NEAR(mgv_data(b)[i], want[s][3 + i], 2e-6);
    }
}

static void run_case(int kind, const float want[3][7])
{
    int64_t sa[1] = {3}, sb[2] = {2, 2};
    mgv_tensor *a = param(1, sa, A0), *b = param(2, sb, B0);
    mgv_tensor *ps[2] = {a, b};
    mgv_optim *o = NULL;
    switch (kind) {
    case 0: o = mgv_sgd_new(2, ps, 0.1, 0.9, 0.01); break;
    case 1: o = mgv_adam_new(2, ps, 0.1, 0.9, 0.999, 1e-8, 0.0, 0); break;
    case 2: o = mgv_adam_new(2, ps, 0.1, 0.8, 0.99, 1e-3, 0.1, 0); break;
    case 3: o = mgv_adam_new(2, ps, 0.1, 0.9, 0.999, 1e-8, 0.5, 1); break;
    }
    check_three_steps(o, a, b, want);
    mgv_optim_free(o);
    mgv_release(a);
    mgv_release(b);
}

static void test_sgd_momentum_vs_torch(void)
{
    static const float want[3][7] = {
        {0.848999977f, -1.49800003f, 0.449499995f, 0.274700016f, -0.694299996f, 0.948800027f,
         0.0400000028f},
        {0.577350974f, -0.645101964f, 0.356125504f, 0.230450317f, -0.683760703f, 0.52201122f,
         0.111960001f},
        {0.224554464f, 0.352171779f, 0.228926048f, 0.175827593f, -0.669403553f, 0.0229770467f,
         0.205416039f},
    };
    run_case(0, want);
}

static void test_adam_vs_torch(void)
{
    static const float want[3][7] = {
        {0.899999976f, -1.89999998f, 0.400000006f, 0.200000018f, -0.600000024f, 1.10000002f,
         0.100000001f},
        {0.800239027f, -1.80012715f, 0.300412238f, 0.110142507f, -0.532994211f, 1.00030375f,
         0.198257506f},
        {0.70090282f, -1.7004739f, 0.201586276f, 0.0494484566f, -0.525562465f, 0.901155472f,
         0.292605042f},
    };
    run_case(1, want);
}

static void test_adam_weight_decay_vs_torch(void)
{
    static const float want[3][7] = {
        {0.900062442f, -1.90001917f, 0.400181472f, 0.200355858f, -0.600826442f, 1.10003817f,
         0.099750638f},
        {0.800567269f, -1.80027854f, 0.301147103f, 0.111811154f, -0.510151744f, 1.00060713f,
         0.196564794f},
        {0.701848924f, -1.70094895f, 0.203542516f, 0.0527665801f, -0.441483974f, 0.902119517f,
         0.28694126f},
    };
    run_case(2, want);
}

static void test_adamw_vs_torch(void)
{
    static const float want[3][7] = {
        {0.849999964f, -1.79999995f, 0.375f, 0.185000002f, -0.564999998f, 1.03999996f,
         0.100000001f},
        {0.707912147f, -1.61030364f, 0.256818265f, 0.0897078663f, -0.498103052f, 0.888588548f,
         0.193257511f},
        {0.573649585f, -1.43061209f, 0.145567894f, 0.0362096988f, -0.495979637f, 0.745811641f,
         0.278202742f},
    };
    run_case(3, want);
}

/* By hand: plain SGD is p - lr*g; Adam's first step is p - lr*g/(|g| + eps'),
 * i.e. about lr*sign(g), whatever the gradient's scale. */
static void test_first_steps_by_hand(void)
{
    int64_t s[1] = {3};
    float x0[3] = {1.0f, 2.0f, -3.0f};
    mgv_tensor *p = param(1, s, x0);
    mgv_optim *o = mgv_sgd_new(1, &p, 0.5, 0.0, 0.0);
    float g[3] = {0.5f, -4.0f, 0.0f};
    p->grad = mgv_from_data(1, s, g);
    CHECK(mgv_optim_step(o) == 0);
    CHECK(mgv_data(p)[0] == 0.75f && mgv_data(p)[1] == 4.0f && mgv_data(p)[2] == -3.0f);
    CHECK(o->m[0] == NULL);   /* no momentum, no buffer */
    mgv_optim_free(o);

    o = mgv_adam_new(1, &p, 0.01, 0.9, 0.999, 1e-8, 0.0, 0);
    float g2[3] = {1000.0f, -1e-3f, 0.0f};
    mgv_release(p->grad);
    p->grad = mgv_from_data(1, s, g2);
    CHECK(mgv_optim_step(o) == 0);
    CHECK_NEAR(mgv_data(p)[0], 0.75 - 0.01, 1e-6);
    CHECK_NEAR(mgv_data(p)[1], 4.0 + 0.01 * (1e-3 / (1e-3 + 1e-8)), 1e-6);
    CHECK(mgv_data(p)[2] == -3.0f);   /* zero gradient: m = 0, no move */
    CHECK(o->m[0] && o->v[0]);
    CHECK_NEAR(mgv_data(o->m[0])[0], 100.0, 1e-3);   /* (1-b1)*g */
    CHECK_NEAR(mgv_data(o->v[0])[0], 1000.0, 1e-2);  /* (1-b2)*g^2 */
    mgv_optim_free(o);
    mgv_release(p);
}

static void test_clip_grad_norm(void)
{
    int64_t s2[1] = {2}, s1[1] = {1};
    float z[2] = {0, 0};
    mgv_tensor *a = param(1, s2, z), *b = param(1, s1, z), *c = param(1, s1, z);
    float ga[2] = {3.0f, 4.0f}, gb[1] = {12.0f};
    a->grad = mgv_from_data(1, s2, ga);
    b->grad = mgv_from_data(1, s1, gb);
    mgv_tensor *ps[3] = {a, b, c};   /* c has no gradient: ignored */
    /* norm = sqrt(9 + 16 + 144) = 13; below the limit nothing changes */
    CHECK_NEAR(mgv_clip_grad_norm(3, ps, 20.0), 13.0, 1e-9);
    CHECK(mgv_data(a->grad)[0] == 3.0f && mgv_data(b->grad)[0] == 12.0f);
    CHECK(c->grad == NULL);
    /* above: scaled by 6.5 / (13 + 1e-6), so the new norm is ~6.5 */
    CHECK_NEAR(mgv_clip_grad_norm(3, ps, 6.5), 13.0, 1e-9);
    double k = 6.5 / (13.0 + 1e-6);
    CHECK_NEAR(mgv_data(a->grad)[0], 3.0 * k, 1e-6);
    CHECK_NEAR(mgv_data(a->grad)[1], 4.0 * k, 1e-6);
    CHECK_NEAR(mgv_data(b->grad)[0], 12.0 * k, 1e-6);
    CHECK_NEAR(mgv_clip_grad_norm(3, ps, 100.0), 6.5, 1e-5);
    /* no gradients at all: norm 0 */
    CHECK(mgv_clip_grad_norm(1, &c, 1.0) == 0.0);
    CHECK(mgv_clip_grad_norm(0, NULL, 1.0) == 0.0);
    /* bad arguments */
    CHECK(mgv_clip_grad_norm(-1, ps, 1.0) == -1.0);
    CHECK_ERROR_HAS("clip_grad_norm: -1 parameters");
    CHECK(mgv_clip_grad_norm(3, ps, -1.0) == -1.0);
    CHECK_ERROR_HAS("max_norm");
    mgv_tensor *withnull[2] = {a, NULL};
    CHECK(mgv_clip_grad_norm(2, withnull, 1.0) == -1.0);
    CHECK_ERROR_HAS("parameter 2 is NULL");
    mgv_release(a);
    mgv_release(b);
    mgv_release(c);
}

/* Minimise sum(w_i * (p_i - target_i)^2) with Adam, from far away. */
static void test_adam_converges_on_quadratic(void)
{
    int64_t s[1] = {4};
    float x0[4] = {5.0f, -5.0f, 0.0f, 10.0f};
    const float target[4] = {1.0f, 2.0f, -3.0f, 0.5f}, w[4] = {1.0f, 10.0f, 0.1f, 3.0f};
    mgv_tensor *p = param(1, s, x0);
    mgv_optim *o = mgv_adam_new(1, &p, 0.05, 0.9, 0.999, 1e-8, 0.0, 0);
    CHECK(o != NULL);
    for (int it = 0; it < 2000 && o; it++) {
        mgv_optim_zero_grad(o);
        p->grad = mgv_zeros(1, s);
        for (int i = 0; i < 4; i++)
            mgv_data(p->grad)[i] = 2.0f * w[i] * (mgv_data(p)[i] - target[i]);
        CHECK(mgv_optim_step(o) == 0);
    }
    for (int i = 0; i < 4; i++) CHECK_NEAR(mgv_data(p)[i], target[i], 1e-3);
    mgv_optim_free(o);
    mgv_release(p);
}

static void test_params_without_grad_untouched(void)
{
    int64_t s[1] = {2};
    float x[2] = {1.0f, 2.0f}, y[2] = {3.0f, 4.0f}, g[2] = {1.0f, 1.0f};
    for (int kind = 0; kind < 3; kind++) {
        mgv_tensor *a = param(1, s, x), *b = param(1, s, y);
        mgv_tensor *ps[2] = {a, b};
        mgv_optim *o = kind == 0   ? mgv_sgd_new(2, ps, 0.1, 0.9, 0.1)
                       : kind == 1 ? mgv_adam_new(2, ps, 0.1, 0.9, 0.999, 1e-8, 0.1, 0)
                                   : mgv_adam_new(2, ps, 0.1, 0.9, 0.999, 1e-8, 0.1, 1);
        CHECK(o != NULL);
        if (!o) continue;
        a->grad = mgv_from_data(1, s, g);
        CHECK(mgv_optim_step(o) == 0);
        CHECK(mgv_data(a)[0] != 1.0f);
        CHECK(mgv_data(b)[0] == 3.0f && mgv_data(b)[1] == 4.0f);   /* no decay either */
        CHECK(o->m[0] != NULL && o->m[1] == NULL && o->v[1] == NULL);
        /* zero_grad drops gradients; a step then changes nothing */
        mgv_optim_zero_grad(o);
        CHECK(a->grad == NULL && b->grad == NULL);
        float before = mgv_data(a)[0];
        CHECK(mgv_optim_step(o) == 0);
        CHECK(mgv_data(a)[0] == before);
        mgv_optim_free(o);
        mgv_release(a);
        mgv_release(b);
    }
}

/* A parameter that is a strided view, with a strided gradient. */
static void test_strided_param_and_grad(void)
{
    int64_t s[2] = {2, 2}, ts[2] = {2, 2}, tst[2] = {1, 2};
    float x[4] = {1, 2, 3, 4}, g[4] = {10, 20, 30, 40};
    mgv_tensor *base = mgv_from_data(2, s, x);
    mgv_tensor *p = mgv_view_of(base, 2, ts, tst, 0);   /* transpose: [[1,3],[2,4]] */
    p->requires_grad = 1;
    mgv_tensor *gb = mgv_from_data(2, s, g);
    p->grad = mgv_view_of(gb, 2, ts, tst, 0);            /* [[10,30],[20,40]] */
    mgv_optim *o = mgv_sgd_new(1, &p, 0.01, 0.0, 0.0);
    CHECK(mgv_optim_step(o) == 0);
    /* each element moves by 0.01 * its own gradient */
    CHECK_NEAR(mgv_data(base)[0], 0.9, 1e-6);
    CHECK_NEAR(mgv_data(base)[1], 1.8, 1e-6);
    CHECK_NEAR(mgv_data(base)[2], 2.7, 1e-6);
    CHECK_NEAR(mgv_data(base)[3], 3.6, 1e-6);
    mgv_optim_free(o);
    mgv_release(p);
    mgv_release(gb);
    mgv_release(base);
}

static void test_bad_arguments(void)
{
    int64_t s[1] = {2};
    float x[2] = {1, 2};
    mgv_tensor *p = param(1, s, x);
    mgv_tensor *frozen = mgv_from_data(1, s, x);
    CHECK(mgv_sgd_new(1, &p, -0.1, 0, 0) == NULL);
    CHECK_ERROR_HAS("sgd: lr -0.1 must be >= 0");
    CHECK(mgv_sgd_new(1, &p, 0.1, -1, 0) == NULL);
    CHECK_ERROR_HAS("momentum");
    CHECK(mgv_adam_new(1, &p, 0.1, 1.0, 0.999, 1e-8, 0, 0) == NULL);
    CHECK_ERROR_HAS("adam: beta1 1 must be in [0, 1)");
    CHECK(mgv_adam_new(1, &p, 0.1, 0.9, -0.5, 1e-8, 0, 1) == NULL);
    CHECK_ERROR_HAS("adamw: beta2 -0.5");
    CHECK(mgv_adam_new(1, &p, 0.1, 0.9, 0.999, 0.0, 0, 0) == NULL);
    CHECK_ERROR_HAS("eps 0 must be > 0");
    CHECK(mgv_adam_new(1, &p, NAN, 0.9, 0.999, 1e-8, 0, 0) == NULL);
    CHECK_ERROR_HAS("lr");
    CHECK(mgv_adam_new(1, &p, 0.1, 0.9, 0.999, 1e-8, -1, 0) == NULL);
    CHECK_ERROR_HAS("weight_decay");
    CHECK(mgv_adam_new(-1, &p, 0.1, 0.9, 0.999, 1e-8, 0, 0) == NULL);
    CHECK_ERROR_HAS("-1 parameters");
    CHECK(mgv_sgd_new(1, NULL, 0.1, 0, 0) == NULL);
    CHECK_ERROR_HAS("parameter list is NULL");
    mgv_tensor *ps[3] = {p, NULL, frozen};
    CHECK(mgv_sgd_new(2, ps, 0.1, 0, 0) == NULL);
    CHECK_ERROR_HAS("sgd: parameter 2 is NULL");
    ps[1] = frozen;
    CHECK(mgv_adam_new(2, ps, 0.1, 0.9, 0.999, 1e-8, 0, 0) == NULL);
    CHECK_ERROR_HAS("adam: parameter 2 does not require grad");
    ps[1] = p;
    CHECK(mgv_sgd_new(2, ps, 0.1, 0, 0) == NULL);
    CHECK_ERROR_HAS("parameter 2 is the same tensor as parameter 1");
    /* results of ops are not parameters */
    mgv_tensor *y = mgv_zeros(1, s);
    CHECK(mgv_record(y, "exp", NULL, 1, &p) != NULL);
    CHECK(mgv_sgd_new(1, &y, 0.1, 0, 0) == NULL);
    CHECK_ERROR_HAS("sgd: parameter 1 is not a leaf (it is the result of exp)");
    mgv_release(y);
    /* an empty list is fine */
    mgv_optim *o = mgv_sgd_new(0, NULL, 0.1, 0, 0);
    CHECK(o != NULL && mgv_optim_step(o) == 0);
    mgv_optim_free(o);
    /* a gradient of the wrong shape fails the step and changes nothing */
    o = mgv_adam_new(1, &p, 0.1, 0.9, 0.999, 1e-8, 0, 0);
    int64_t s3[1] = {3};
    p->grad = mgv_ones(1, s3);
    CHECK(mgv_optim_step(o) == -1);
    CHECK_ERROR_HAS("adam: parameter 1 has shape [2] but its gradient has shape [3]");
    CHECK(o->t == 0 && mgv_data(p)[0] == 1.0f);
    CHECK(mgv_optim_step(NULL) == -1);
    mgv_optim_zero_grad(NULL);
    mgv_optim_free(NULL);
    mgv_optim_free(o);
    mgv_release(p);
    mgv_release(frozen);
}

int main(void)
{
    RUN(test_sgd_momentum_vs_torch);
    RUN(test_adam_vs_torch);
    RUN(test_adam_weight_decay_vs_torch);
    RUN(test_adamw_vs_torch);
    RUN(test_first_steps_by_hand);
    RUN(test_clip_grad_norm);
    RUN(test_adam_converges_on_quadratic);
    RUN(test_params_without_grad_untouched);
    RUN(test_strided_param_and_grad);
    RUN(test_bad_arguments);
    return CHECK_DONE();
}
