/*
 * optim.h — optimisers over a list of parameter tensors (leaves that require
 * grad). Parameters without a gradient are skipped by step().
 */
#ifndef MGV_OPTIM_H
#define MGV_OPTIM_H

#include "core/tensor.h"

typedef enum { MGV_OPTIM_SGD, MGV_OPTIM_ADAM, MGV_OPTIM_ADAMW } mgv_optim_kind;

typedef struct mgv_optim {
    mgv_optim_kind kind;
    int n;                      /* parameters */
    mgv_tensor **params;        /* retained */
    mgv_tensor **m, **v;        /* Adam moments / SGD momentum buffer (m), retained, lazily made */
    double lr, beta1, beta2, eps, weight_decay, momentum;
    int64_t t;                  /* steps taken */
} mgv_optim;

/* SGD with optional momentum and (L2, coupled) weight decay. */
mgv_optim *mgv_sgd_new(int n, mgv_tensor *const *params, double lr, double momentum,
                       double weight_decay);
/* Adam (weight decay added to the gradient, as torch.optim.Adam) or AdamW
 * (decoupled decay, as torch.optim.AdamW) when decoupled is set. */
mgv_optim *mgv_adam_new(int n, mgv_tensor *const *params, double lr, double beta1,
                        double beta2, double eps, double weight_decay, int decoupled);
int mgv_optim_step(mgv_optim *o);
void mgv_optim_zero_grad(mgv_optim *o);
void mgv_optim_free(mgv_optim *o);

/* Scales all gradients so that their joint L2 norm is at most max_norm;
 * returns the norm before clipping (as torch.nn.utils.clip_grad_norm_). */
double mgv_clip_grad_norm(int n, mgv_tensor *const *params, double max_norm);

#endif
