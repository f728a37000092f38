/*
 * optim.c — SGD, Adam and AdamW over a list of parameters (see optim.h), and
 * gradient-norm clipping.
 *
 * The update rules follow PyTorch 1.13 (torch.optim.SGD/Adam/AdamW and
 * torch.nn.utils.clip_grad_norm_) operation by operation, in float32, so
 * that the same problem gives the same numbers to about 1e-7. Parameters are
 * leaves and are updated in place on their data; nothing is recorded for
 * autograd.
 *
 * State: o->m holds the SGD momentum buffer or Adam's first moment, o->v
 * Adam's second moment; both are made on the first step in which the
 * parameter has a gradient. Parameters without a gradient are skipped.
 * Bias correction uses the optimiser's step count o->t (torch counts steps
 * per parameter; the two agree whenever every parameter has had a gradient
 * since the first step).
 */
#include "core/autograd.h"
#include "core/error.h"
#include "core/optim.h"
#include "core/parallel.h"

#include <math.h>
#include <stdlib.h>

static const char *kind_name(mgv_optim_kind k)
{
    switch (k) {
    case MGV_OPTIM_SGD: return "sgd";
    case MGV_OPTIM_ADAM: return "adam";
    case MGV_OPTIM_ADAMW: return "adamw";
    }
    return "optim";
}

/* Checks the parameter list shared by all constructors. */
static int check_params(const char *op, int n, mgv_tensor *const *params)
{
    if (n < 0) return mgv_fail("%s: %d parameters (must be >= 0)", op, n);
    if (n > 0 && !params) return mgv_fail("%s: parameter list is NULL", op);
    for (int i = 0; i < n; i++) {
        const mgv_tensor *p = params[i];
        if (!p) return mgv_fail("%s: parameter %d is NULL", op, i + 1);
        if (!p->requires_grad)
            return mgv_fail("%s: parameter %d does not require grad", op, i + 1);
        if (p->node)
            return mgv_fail("%s: parameter %d is not a leaf (it is the result of %s)", op,
                            i + 1, p->node->op ? p->node->op : "an op");
        /* a parameter listed twice would be stepped twice */
        for (int j = 0; j < i; j++)
            if (params[j] == p)
                return mgv_fail("%s: parameter %d is the same tensor as parameter %d", op,
                                i + 1, j + 1);
    }
    return 0;
}

static mgv_optim *optim_new(mgv_optim_kind kind, int n, mgv_tensor *const *params)
{
    mgv_optim *o = calloc(1, sizeof *o);
    if (!o) return mgv_fail_null("%s: out of memory", kind_name(kind));
    size_t k = (size_t)(n ? n : 1);
    o->params = calloc(k, sizeof *o->params);
    o->m = calloc(k, sizeof *o->m);
    o->v = calloc(k, sizeof *o->v);
    if (!o->params || !o->m || !o->v) {
        free(o->params);
        free(o->m);
        free(o->v);
        free(o);
        return mgv_fail_null("%s: out of memory", kind_name(kind));
    }
    o->kind = kind;
    o->n = n;
    for (int i = 0; i < n; i++) o->params[i] = mgv_retain(params[i]);
    return o;
}

mgv_optim *mgv_sgd_new(int n, mgv_tensor *const *params, double lr, double momentum,
                       double weight_decay)
{
    if (!(lr >= 0) || isinf(lr)) return mgv_fail_null("sgd: lr %g must be >= 0", lr);
    if (!(momentum >= 0) || isinf(momentum))
        return mgv_fail_null("sgd: momentum %g must be >= 0", momentum);
    if (!(weight_decay >= 0) || isinf(weight_decay))
        return mgv_fail_null("sgd: weight_decay %g must be >= 0", weight_decay);
    if (check_params("sgd", n, params) < 0) return NULL;
    mgv_optim *o = optim_new(MGV_OPTIM_SGD, n, params);
    if (!o) return NULL;
    o->lr = lr;
    o->momentum = momentum;
    o->weight_decay = weight_decay;
    return o;
}

mgv_optim *mgv_adam_new(int n, mgv_tensor *const *params, double lr, double beta1,
                        double beta2, double eps, double weight_decay, int decoupled)
{
    const char *op = decoupled ? "adamw" : "adam";
    if (!(lr >= 0) || isinf(lr)) return mgv_fail_null("%s: lr %g must be >= 0", op, lr);
    if (!(beta1 >= 0 && beta1 < 1))
        return mgv_fail_null("%s: beta1 %g must be in [0, 1)", op, beta1);
    if (!(beta2 >= 0 && beta2 < 1))
        return mgv_fail_null("%s: beta2 %g must be in [0, 1)", op, beta2);
    if (!(eps > 0) || isinf(eps)) return mgv_fail_null("%s: eps %g must be > 0", op, eps);
    if (!(weight_decay >= 0) || isinf(weight_decay))
        return mgv_fail_null("%s: weight_decay %g must be >= 0", op, weight_decay);
    if (check_params(op, n, params) < 0) return NULL;
    mgv_optim *o = optim_new(decoupled ? MGV_OPTIM_ADAMW : MGV_OPTIM_ADAM, n, params);
    if (!o) return NULL;
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    return o;
}

/* ---- the update rules, on contiguous float arrays ------------------------ */

/* torch.optim.SGD (dampening 0, no Nesterov): d = g + wd*p;
 * buf = momentum*buf + d (torch's first-step buf = d is the same, since the
 * buffer starts at zero); p -= lr*buf. */
static void sgd_update(float *p, const float *g, float *buf, int64_t n, float lr,
                       float momentum, float wd)
{
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0) d += wd * p[i];
        if (buf) {
            buf[i] = momentum * buf[i] + d;
            d = buf[i];
        }
        p[i] -= lr * d;
    }
}

/* torch.optim.Adam / AdamW (amsgrad off). Coupled decay adds wd*p to the
 * gradient; decoupled decay first scales p by (1 - lr*wd). Then
 *   m = b1*m + (1-b1)*g,  v = b2*v + (1-b2)*g^2,
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). */
typedef struct adam_job {
    float *p, *m, *v;
    const float *g;
    const mgv_optim *o;
    int decoupled;
} adam_job;

static void adam_part(void *ctx, int64_t begin, int64_t end, int part)
{
    const adam_job *j = ctx;
    const mgv_optim *o = j->o;
    float *p = j->p, *m = j->m, *v = j->v;
    const float *g = j->g;
    int decoupled = j->decoupled;
    double bc1 = 1.0 - pow(o->beta1, (double)o->t);
    double bc2 = 1.0 - pow(o->beta2, (double)o->t);
    float step_size = (float)(o->lr / bc1);
    float inv_bc2_sqrt = (float)(1.0 / sqrt(bc2));
    float b1 = (float)o->beta1, b2 = (float)o->beta2;
    float one_b1 = (float)(1.0 - o->beta1), one_b2 = (float)(1.0 - o->beta2);
    float eps = (float)o->eps;
    float wd = (float)o->weight_decay;
    float decay = (float)(1.0 - o->lr * o->weight_decay);
    for (int64_t i = begin; i < end; i++) {
        float gi = g[i];
        if (wd != 0) {
            if (decoupled) p[i] *= decay;
            else gi += wd * p[i];
        }
        m[i] = b1 * m[i] + one_b1 * gi;
        v[i] = b2 * v[i] + one_b2 * gi * gi;
        float denom = sqrtf(v[i]) * inv_bc2_sqrt + eps;
        p[i] -= step_size * (m[i] / denom);
    }
}

/* element by element, so the split over threads changes no bit; memory
 * bound (BERT-base: 1.7 GB of parameters, gradients and moments a step) */
static void adam_update(float *p, const float *g, float *m, float *v, int64_t n,
                        const mgv_optim *o, int decoupled)
{
    adam_job j = {p, m, v, g, o, decoupled};
    mgv_parallel_for(n, 1 << 15, adam_part, &j);
}

int mgv_optim_step(mgv_optim *o)
{
    if (!o) return mgv_fail("optim step: optimiser is NULL");
    const char *op = kind_name(o->kind);
    int adam = o->kind != MGV_OPTIM_SGD;
    /* Check everything and make the state first, so that a failure changes nothing. */
    for (int i = 0; i < o->n; i++) {
        mgv_tensor *p = o->params[i];
        if (!p->grad) continue;
        if (!mgv_same_shape(p, p->grad)) {
            char a[96], b[96];
            return mgv_fail("%s: parameter %d has shape %s but its gradient has shape %s", op,
                            i + 1, mgv_shape_str(p, a, sizeof a),
                            mgv_shape_str(p->grad, b, sizeof b));
        }
        if ((adam || o->momentum != 0) && !o->m[i]) {
            o->m[i] = mgv_zeros(p->ndim, p->shape);
            if (!o->m[i]) goto oom;
        }
        if (adam && !o->v[i]) {
            o->v[i] = mgv_zeros(p->ndim, p->shape);
            if (!o->v[i]) goto oom;
        }
    }
    o->t++;
    for (int i = 0; i < o->n; i++) {
        mgv_tensor *p = o->params[i];
        if (!p->grad) continue;
        int64_t n = mgv_numel(p);
        /* the kernels want contiguous arrays; views are copied in and back out */
        mgv_tensor *pc = mgv_contiguous_data(p);
        mgv_tensor *gc = pc ? mgv_contiguous_data(p->grad) : NULL;
        if (!gc) {
            mgv_release(pc);
            mgv_error_context("%s: parameter %d", op, i + 1);
            return -1;
        }
        if (adam) {
            adam_update(mgv_data(pc), mgv_data(gc), mgv_data(o->m[i]), mgv_data(o->v[i]), n,
                        o, o->kind == MGV_OPTIM_ADAMW);
        } else {
            sgd_update(mgv_data(pc), mgv_data(gc), o->m[i] ? mgv_data(o->m[i]) : NULL, n,
                       (float)o->lr, (float)o->momentum, (float)o->weight_decay);
        }
        int rc = pc != p ? mgv_copy_(p, pc) : 0;
        mgv_release(pc);
        mgv_release(gc);
        if (rc < 0) return -1;
    }
    if (mgv_profile_on) mgv_profile_mark(op, MGV_PROF_UPDATE);
    return 0;
oom:
    mgv_error_context("%s: allocating optimiser state", op);
    return -1;
}

/* Drops the gradients (torch's zero_grad(set_to_none=True)): a parameter
 * that gets no gradient before the next step is then skipped. */
void mgv_optim_zero_grad(mgv_optim *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        mgv_release(o->params[i]->grad);
        o->params[i]->grad = NULL;
    }
}

void mgv_optim_free(mgv_optim *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        mgv_release(o->params[i]);
        mgv_release(o->m[i]);
        mgv_release(o->v[i]);
    }
    free(o->params);
    free(o->m);
    free(o->v);
    free(o);
}

/* Sum of squares of a gradient, in double, whatever its strides. */
static double sum_squares(const mgv_tensor *g)
{
    int64_t n = mgv_numel(g);
    double s = 0;
    if (mgv_is_contiguous(g)) {
        const float *d = mgv_data(g);
        for (int64_t i = 0; i < n; i++) s += (double)d[i] * d[i];
    } else {
        for (int64_t i = 0; i < n; i++) {
            double x = mgv_get_flat(g, i);
            s += x * x;
        }
    }
    return s;
}

/* As torch.nn.utils.clip_grad_norm_ (L2): coef = max_norm / (norm + 1e-6),
 * applied when below 1. Returns -1 with a message on bad arguments. */
double mgv_clip_grad_norm(int n, mgv_tensor *const *params, double max_norm)
{
    if (n < 0) return mgv_fail("clip_grad_norm: %d parameters (must be >= 0)", n);
    if (n > 0 && !params) return mgv_fail("clip_grad_norm: parameter list is NULL");
    if (!(max_norm >= 0)) return mgv_fail("clip_grad_norm: max_norm %g must be >= 0", max_norm);
    for (int i = 0; i < n; i++)
        if (!params[i]) return mgv_fail("clip_grad_norm: parameter %d is NULL", i + 1);
    double ss = 0;
    for (int i = 0; i < n; i++)
        if (params[i]->grad) ss += sum_squares(params[i]->grad);
    double norm = sqrt(ss);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1) {
        float c = (float)coef;
        for (int i = 0; i < n; i++) {
            mgv_tensor *g = params[i]->grad;
            if (!g) continue;
            int64_t k = mgv_numel(g);
            if (mgv_is_contiguous(g)) {
                float *d = mgv_data(g);
                for (int64_t j = 0; j < k; j++) d[j] *= c;
            } else {
                for (int64_t j = 0; j < k; j++) mgv_set_flat(g, j, mgv_get_flat(g, j) * c);
            }
        }
    }
    return norm;
}
