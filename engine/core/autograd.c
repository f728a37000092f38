/* autograd.c — the tape: recording nodes and running them backwards. */
#include "core/autograd.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local int grad_disabled = 0;

int mgv_grad_enabled(void) { return !grad_disabled; }

int mgv_set_grad_enabled(int on)
{
    int prev = !grad_disabled;
    grad_disabled = !on;
    return prev;
}

int mgv_needs_grad(int n, mgv_tensor *const *inputs)
{
    if (grad_disabled) return 0;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return 1;
    return 0;
}

mgv_node *mgv_record(mgv_tensor *y, const char *op, mgv_backward_fn fn, int n,
                     mgv_tensor *const *inputs)
{
    mgv_node *node = calloc(1, sizeof *node);
    if (!node) return mgv_fail_null("%s: out of memory recording autograd node", op);
    node->refcount = 1;
    node->op = op;
    if (mgv_profile_on) {
        node->scope = mgv_profile_current_scope();
        mgv_profile_mark(op, MGV_PROF_FORWARD);
    }
    node->backward = fn;
    if (n > MGV_NODE_MAX_INPUTS) {
        /* more inputs than the fixed slots: keep them all in extra[] */
        node->extra = calloc((size_t)n, sizeof *node->extra);
        if (!node->extra) {
            free(node);
            return mgv_fail_null("%s: out of memory recording autograd node", op);
        }
        for (int i = 0; i < n; i++) node->extra[i] = mgv_retain(inputs[i]);
        node->n_extra = n;
    } else {
        for (int i = 0; i < n; i++) node->inputs[i] = mgv_retain(inputs[i]);
        node->n_inputs = n;
    }
    node->out_ndim = y->ndim;
    memcpy(node->out_shape, y->shape, sizeof y->shape);
    if (y->node) mgv_node_release(y->node);
    y->node = node;
    y->requires_grad = 1;
    return node;
}

void mgv_node_release(mgv_node *n)
{
    if (!n || --n->refcount > 0) return;
    for (int i = 0; i < n->n_inputs; i++) mgv_release(n->inputs[i]);
    for (int i = 0; i < MGV_NODE_MAX_SAVED; i++) mgv_release(n->saved[i]);
    for (int i = 0; i < n->n_extra; i++) mgv_release(n->extra[i]);
    free(n->extra);
    if (n->ctx && n->free_ctx) n->free_ctx(n->ctx);
    free(n);
}

mgv_tensor *mgv_sum_to_shape(mgv_tensor *g, int ndim, const int64_t *shape)
{
    char a[96], b[96];
    if (ndim > g->ndim)
        return mgv_fail_null("sum_to_shape: cannot reduce %s to %s", mgv_shape_str(g, a, sizeof a),
                             mgv_shape_str_n(ndim, shape, b, sizeof b));
    /* align trailing dimensions; every target dim must be 1 or equal */
    int lead = g->ndim - ndim;
    int64_t tstride[MGV_MAX_DIMS];   /* target stride per g dimension (0 = summed) */
    int64_t st = 1;
    for (int d = g->ndim - 1; d >= 0; d--) {
        int td = d - lead;
        if (td < 0) {
            tstride[d] = 0;
            continue;
        }
        if (shape[td] == g->shape[d]) {
            tstride[d] = st;
        } else if (shape[td] == 1) {
            tstride[d] = 0;
        } else {
            return mgv_fail_null("sum_to_shape: cannot reduce %s to %s",
                                 mgv_shape_str(g, a, sizeof a),
                                 mgv_shape_str_n(ndim, shape, b, sizeof b));
        }
        st *= shape[td];
    }
    mgv_tensor *out = mgv_zeros(ndim, shape);
    if (!out) return NULL;
    mgv_tensor *gc = mgv_contiguous_data(g);
    if (!gc) {
        mgv_release(out);
        return NULL;
    }
    const float *src = mgv_data(gc);
    float *dst = mgv_data(out);
    int64_t n = mgv_numel(g), idx[MGV_MAX_DIMS] = {0}, off = 0;
    for (int64_t i = 0; i < n; i++) {
        dst[off] += src[i];
        for (int d = g->ndim - 1; d >= 0; d--) {
            idx[d]++;
            off += tstride[d];
            if (idx[d] < g->shape[d]) break;
            off -= tstride[d] * g->shape[d];
            idx[d] = 0;
        }
    }
    mgv_release(gc);
    return out;
}

int mgv_accumulate_grad(mgv_tensor *t, mgv_tensor *g)
{
    if (!t || !t->requires_grad) return 0;
    if (!g) return -1;   /* the op that made g failed and set the message */
    mgv_tensor *gs = NULL;
    if (!mgv_same_shape(t, g)) {
        gs = mgv_sum_to_shape(g, t->ndim, t->shape);
        if (!gs) return -1;
        g = gs;
    }
    int64_t n = mgv_numel(t);
    if (!t->grad) {
        t->grad = mgv_clone_data(g);
        mgv_release(gs);
        return t->grad ? 0 : -1;
    }
    mgv_tensor *gc = mgv_contiguous_data(g);
    if (!gc) {
        mgv_release(gs);
        return -1;
    }
    float *dst = mgv_data(t->grad);
    const float *src = mgv_data(gc);
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
    mgv_release(gc);
    mgv_release(gs);
    return 0;
}

int mgv_accumulate_grad_fresh(mgv_tensor *t, mgv_tensor *g)
{
    /* only when nothing else can see g: one reference, its own whole storage */
    if (t && t->requires_grad && !t->grad && g && g->refcount == 1 && !g->node &&
        !g->requires_grad && g->storage->refcount == 1 && g->offset == 0 &&
        g->storage->size == mgv_numel(g) && mgv_same_shape(t, g) && mgv_is_contiguous(g)) {
        t->grad = mgv_retain(g);
        return 0;
    }
    return mgv_accumulate_grad(t, g);
}

/* ---- backward ----------------------------------------------------------- */

typedef struct {
    mgv_tensor **items;
    size_t n, cap;
} tensor_list;

static int list_push(tensor_list *l, mgv_tensor *t)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        mgv_tensor **p = realloc(l->items, cap * sizeof *p);
        if (!p) return mgv_fail("backward: out of memory");
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = t;
    return 0;
}

static int node_input_count(const mgv_node *n) { return n->n_extra ? n->n_extra : n->n_inputs; }

static mgv_tensor *node_input(const mgv_node *n, int i)
{
    return n->n_extra ? n->extra[i] : n->inputs[i];
}

/*
 * Topological order by iterative DFS (graphs of long training loops can be
 * deep; recursion would overflow the C stack). visit: 0 new, 1 on the stack
 * with inputs pending, 2 emitted; reset to 0 afterwards.
 */
static int topo_sort(mgv_tensor *root, tensor_list *order)
{
    tensor_list stack = {0};
    tensor_list marked = {0};
    int rc = list_push(&stack, root);
    while (stack.n && rc == 0) {
        mgv_tensor *t = stack.items[stack.n - 1];
        if (t->visit == 1) {            /* inputs done: emit */
            stack.n--;
            t->visit = 2;
            rc = list_push(order, t);
            continue;
        }
        if (t->visit == 2) {
            stack.n--;
            continue;
        }
        t->visit = 1;
        rc = list_push(&marked, t);
        if (t->node) {
            for (int i = 0; i < node_input_count(t->node) && rc == 0; i++) {
                mgv_tensor *in = node_input(t->node, i);
                if (in && in->requires_grad && in->visit == 0) rc = list_push(&stack, in);
            }
        }
    }
    for (size_t i = 0; i < marked.n; i++) marked.items[i]->visit = 0;
    free(stack.items);
    free(marked.items);
    return rc;
}

static mgv_grad_ready_fn ready_fn;
static void *ready_ctx;

void mgv_set_grad_ready_hook(mgv_grad_ready_fn fn, void *ctx)
{
    ready_fn = fn;
    ready_ctx = ctx;
}

int mgv_backward(mgv_tensor *root, mgv_tensor *grad)
{
    char s[96];
    if (!root->requires_grad)
        return mgv_fail("backward: the tensor does not require grad (no parameter led to it, "
                        "or it was computed in no-grad mode)");
    if (root->graph_released)
        return mgv_fail("backward: the graph behind this tensor was already freed by an "
                        "earlier backward; compute it again");
    mgv_tensor *seed;
    if (grad) {
        if (!mgv_same_shape(grad, root)) {
            char g[96];
            return mgv_fail("backward: gradient %s does not match tensor %s",
                            mgv_shape_str(grad, g, sizeof g), mgv_shape_str(root, s, sizeof s));
        }
        seed = mgv_clone_data(grad);
    } else {
        if (mgv_numel(root) != 1)
            return mgv_fail("backward: tensor %s is not a scalar; pass a gradient of its shape",
                            mgv_shape_str(root, s, sizeof s));
        seed = mgv_ones(root->ndim, root->shape);
    }
    if (!seed) return -1;

    tensor_list order = {0};
    if (topo_sort(root, &order) < 0) {
        mgv_release(seed);
        free(order.items);
        return -1;
    }
    int prev = mgv_set_grad_enabled(0);
    int rc = 0;
    /* the root's incoming gradient: accumulate (a leaf root keeps it) */
    if (!root->node) {
        rc = mgv_accumulate_grad(root, seed);
    } else {
        mgv_release(root->grad);
        root->grad = mgv_retain(seed);
    }
    mgv_release(seed);
    /* order has inputs before outputs; walk it from the root back */
    for (size_t k = order.n; k-- > 0 && rc == 0;) {
        mgv_tensor *t = order.items[k];
        /* a leaf: its consumers all come later in order, so they have run */
        if (!t->node && t->grad && ready_fn) ready_fn(t, ready_ctx);
        if (!t->node || !t->grad) continue;
        if (mgv_interrupted()) {
            rc = mgv_fail("backward: interrupted");
            break;
        }
        if (mgv_profile_on) {
            /* the node whole, inner ops not marked; the glue before it apart */
            mgv_profile_mark("(autograd)", MGV_PROF_BACKWARD);
            double t0 = mgv_profile_clock();
            mgv_profile_on = 0;
            rc = t->node->backward(t->node, t->grad);
            mgv_profile_on = 1;
            mgv_profile_add(t->node->op, t->node->scope, MGV_PROF_BACKWARD,
                            mgv_profile_clock() - t0);
        } else {
            rc = t->node->backward(t->node, t->grad);
        }
        if (rc < 0) mgv_error_context("backward of %s", t->node->op);
        /* every consumer of t ran before it: its gradient is spent, and
         * dropping it now keeps only the frontier of gradients alive */
        if (!t->retain_grad) {
            mgv_release(t->grad);
            t->grad = NULL;
        }
    }
    /* free the graph: non-leaves drop their node and (unless retained) grad */
    for (size_t k = 0; k < order.n; k++) {
        mgv_tensor *t = order.items[k];
        if (!t->node) continue;
        mgv_node_release(t->node);
        t->node = NULL;
        t->graph_released = 1;
        if (!t->retain_grad) {
            mgv_release(t->grad);
            t->grad = NULL;
        }
    }
    mgv_set_grad_enabled(prev);
    free(order.items);
    return rc;
}

int mgv_set_requires_grad(mgv_tensor *t, int on)
{
    if (t->node)
        return mgv_fail("requires_grad: only leaf tensors can be made parameters "
                        "(this one was computed by %s); detach it first", t->node->op);
    t->requires_grad = on ? 1 : 0;
    return 0;
}

void mgv_zero_grad(mgv_tensor *t)
{
    mgv_release(t->grad);
    t->grad = NULL;
}
