/*
 * autograd.h — reverse-mode automatic differentiation, define-by-run.
 *
 * Every op that runs while grad mode is on and has an input that requires
 * grad records a node on its output: the backward function, retained
 * references to its inputs, and whatever it saved. mgv_backward() sorts the
 * nodes reachable from a root topologically and runs them in reverse,
 * accumulating gradients into .grad of the leaves that require grad.
 *
 * Writing an op (forward and backward side by side):
 *
 *   static int exp_backward(mgv_node *n, mgv_tensor *gout) {
 *       mgv_tensor *g = mgv_mul(gout, n->saved[0]);      // d/dx e^x = e^x
 *       int rc = mgv_accumulate_grad(n->inputs[0], g);
 *       mgv_release(g);
 *       return rc;
 *   }
 *   mgv_tensor *mgv_exp(mgv_tensor *x) {
 *       mgv_tensor *y = ...compute...;
 *       if (mgv_needs_grad(1, &x)) {
 *           mgv_node *n = mgv_record(y, "exp", exp_backward, 1, &x);
 *           if (!n) { mgv_release(y); return NULL; }
 *           n->saved[0] = mgv_detach(y);   // never save y itself: a cycle
 *       }
 *       return y;
 *   }
 *
 * Backward functions run with grad mode off, so they may call public ops.
 * A node must never hold a reference to its own output (use mgv_detach).
 */
#ifndef MGV_AUTOGRAD_H
#define MGV_AUTOGRAD_H

#include "core/profile.h"
#include "core/tensor.h"

#define MGV_NODE_MAX_INPUTS 4
#define MGV_NODE_MAX_SAVED 4

typedef struct mgv_node mgv_node;
/* Computes input gradients from the output gradient gout (same shape as the
 * output) and hands each to mgv_accumulate_grad. Returns 0 or -1. */
typedef int (*mgv_backward_fn)(mgv_node *node, mgv_tensor *gout);

struct mgv_node {
    int refcount;
    const char *op;                               /* for messages and printing */
    const char *scope;                            /* profile scope at recording, or NULL */
    mgv_backward_fn backward;
    int n_inputs;
    mgv_tensor *inputs[MGV_NODE_MAX_INPUTS];      /* retained */
    mgv_tensor *saved[MGV_NODE_MAX_SAVED];        /* retained, released with node */
    int64_t ints[MGV_MAX_DIMS * 2];               /* small per-op parameters */
    double reals[4];
    void *ctx;                                    /* larger per-op data */
    void (*free_ctx)(void *ctx);
    int64_t out_shape[MGV_MAX_DIMS];              /* geometry of the output */
    int out_ndim;
    /* a variable number of inputs (concat): extra retained inputs */
    int n_extra;
    mgv_tensor **extra;
};

/* ---- grad mode (thread-local) ----------------------------------------- */
int mgv_grad_enabled(void);
/* Sets grad mode; returns the previous value so callers can restore it. */
int mgv_set_grad_enabled(int on);

/* ---- for op authors ---------------------------------------------------- */
/* True when grad mode is on and any of the n inputs requires grad. */
int mgv_needs_grad(int n, mgv_tensor *const *inputs);
/* Creates a node for output y with the given inputs (retained), attaches it
 * (y->node, y->requires_grad = 1) and returns it for the op to fill saved[]
 * and params. Returns NULL with a message on allocation failure. */
mgv_node *mgv_record(mgv_tensor *y, const char *op, mgv_backward_fn fn, int n,
                     mgv_tensor *const *inputs);
/* Adds g (shape of t, or broadcastable to it: it is summed down) to t->grad
 * when t requires grad; a no-op otherwise. g is borrowed. */
int mgv_accumulate_grad(mgv_tensor *t, mgv_tensor *g);
/* The same for a gradient the caller made for this call alone (a new,
 * contiguous tensor it will not touch again): when t has no gradient yet and
 * nothing else refers to g or its storage, g becomes it without a copy. g is
 * still borrowed (release it as usual). */
int mgv_accumulate_grad_fresh(mgv_tensor *t, mgv_tensor *g);
/* Sums g over broadcast dimensions so that it has the given shape. */
mgv_tensor *mgv_sum_to_shape(mgv_tensor *g, int ndim, const int64_t *shape);

void mgv_node_release(mgv_node *n);

/* ---- for users --------------------------------------------------------- */
/* Called by mgv_backward for each leaf as soon as its gradient is complete
 * (every op that used it has run its backward), while backward goes on with
 * the rest: data-parallel training starts sending those gradients early.
 * NULL turns it off. Only leaves that received a gradient are reported. */
typedef void (*mgv_grad_ready_fn)(mgv_tensor *leaf, void *ctx);
void mgv_set_grad_ready_hook(mgv_grad_ready_fn fn, void *ctx);

/* Backpropagates from root. grad may be NULL when root has one element
 * (taken as 1). Frees the graph behind root afterwards (a second backward
 * through it fails with a message); non-leaf gradients are dropped unless
 * retain_grad is set. */
int mgv_backward(mgv_tensor *root, mgv_tensor *grad);
/* Makes t a leaf that requires grad (parameters). Fails on non-leaves. */
int mgv_set_requires_grad(mgv_tensor *t, int on);
void mgv_zero_grad(mgv_tensor *t);

#endif
