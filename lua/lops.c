/*
 * lops.c — tensor operations for Lua: methods of mgv.Tensor (also available
 * as module functions, mgv.exp(t) == t:exp()), arithmetic metamethods,
 * losses, and autograd entry points.
 *
 * Every binding converts Lua conventions to the engine's (axes and indices
 * 1-based, negative from the end; slices inclusive like string.sub), calls
 * one engine function and turns a NULL result into a Lua error carrying the
 * engine's message. Results go into a userdata slot made before the call
 * (lmgv_slot) so that nothing can leak if Lua raises.
 */
#define LMGV_INTERNAL
#include "lmgv.h"
#include "core/parallel.h"
#include "core/simd.h"

#include <math.h>
#include <string.h>

/* Pushes the result of a unary engine op. */
#define UNARY(name, fn)                          \
    static int m_##name(lua_State *L)            \
    {                                            \
        mgv_tensor *x = lmgv_check(L, 1);        \
        lmgv_tensor *u = lmgv_slot(L);           \
        u->t = fn(x);                            \
        lmgv_done(L, u);                         \
        return 1;                                \
    }

/* Pushes the result of an op on a tensor and a number. */
#define NUMBER_OP(name, fn)                           \
    static int m_##name(lua_State *L)                 \
    {                                                 \
        mgv_tensor *x = lmgv_check(L, 1);             \
        float v = (float)luaL_checknumber(L, 2);      \
        lmgv_tensor *u = lmgv_slot(L);                \
        u->t = fn(x, v);                              \
        lmgv_done(L, u);                              \
        return 1;                                     \
    }

/* Pushes the result of an op along one axis (optional, default the last). */
#define AXIS_OP(name, fn)                                 \
    static int m_##name(lua_State *L)                     \
    {                                                     \
        mgv_tensor *x = lmgv_check(L, 1);                 \
        int a = lmgv_optaxis(L, 2, x->ndim, -1);          \
        lmgv_tensor *u = lmgv_slot(L);                    \
        u->t = fn(x, a);                                  \
        lmgv_done(L, u);                                  \
        return 1;                                         \
    }

/* ------------------------------------------------------------------------ */
/* shape ops                                                                 */
/* ------------------------------------------------------------------------ */

static int m_reshape(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    int64_t shape[MGV_MAX_DIMS];
    int nd = lmgv_shape(L, 2, shape, 1);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_reshape(x, nd, shape);
    lmgv_done(L, u);
    return 1;
}

/* view: like reshape, but refuses to copy (the result always shares storage). */
static int m_view(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    if (!mgv_is_contiguous(x)) {
        char s[128];
        return luaL_error(L, "view: tensor %s is not contiguous; use reshape (which copies) "
                             "or contiguous() first", mgv_shape_str(x, s, sizeof s));
    }
    return m_reshape(L);
}

static int m_flatten(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    int64_t n = -1;
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_reshape(x, 1, &n);
    lmgv_done(L, u);
    return 1;
}

/* transpose(a, b); without arguments the last two axes. */
static int m_transpose(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    int a = lmgv_optaxis(L, 2, x->ndim, -2);
    int b = lmgv_optaxis(L, 3, x->ndim, -1);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_transpose(x, a, b);
    lmgv_done(L, u);
    return 1;
}

/* permute(...): a permutation of 1..ndim as varargs or a table. */
static int m_permute(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    int perm[MGV_MAX_DIMS];
    int n;
    if (lua_type(L, 2) == LUA_TTABLE) {
        n = (int)lua_rawlen(L, 2);
        if (n != x->ndim) goto count;
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, 2, i + 1);
            perm[i] = lmgv_axis(L, -1, x->ndim);
            lua_pop(L, 1);
        }
    } else {
        n = lua_gettop(L) - 1;
        if (n != x->ndim) goto count;
        for (int i = 0; i < n; i++) perm[i] = lmgv_axis(L, i + 2, x->ndim);
    }
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_permute(x, perm);
    lmgv_done(L, u);
    return 1;
count:;
    char s[128];
    return luaL_error(L, "permute: %d axes given for a tensor of shape %s (%d needed)", n,
                      mgv_shape_str(x, s, sizeof s), x->ndim);
}

/* slice(axis, i [, j [, step]]): elements i..j inclusive (as string.sub). */
static int m_slice(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    int axis = lmgv_axis(L, 2, x->ndim);
    int64_t n = x->shape[axis];
    lua_Integer i = luaL_optinteger(L, 3, 1), j = luaL_optinteger(L, 4, -1);
    lua_Integer step = luaL_optinteger(L, 5, 1);
    luaL_argcheck(L, step >= 1, 5, "step must be at least 1");
    if (i < 0) i += n + 1;
    if (j < 0) j += n + 1;
    int64_t start = i < 1 ? 0 : (i - 1 > n ? n : i - 1);
    int64_t stop = j > n ? n : j;
    if (stop < start) stop = start;
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_slice(x, axis, start, stop, step);
    lmgv_done(L, u);
    return 1;
}

static int m_select(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    int axis = lmgv_axis(L, 2, x->ndim);
    int64_t k = lmgv_index(L, 3, luaL_checkinteger(L, 3), x->shape[axis], "select");
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_select(x, axis, k);
    lmgv_done(L, u);
    return 1;
}

/* unsqueeze(axis): the new axis has position axis in the result (1..ndim+1, -1 = last). */
static int m_unsqueeze(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    int a = lmgv_axis(L, 2, x->ndim + 1);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_unsqueeze(x, a);
    lmgv_done(L, u);
    return 1;
}

/* squeeze(axis); without an axis every axis of size 1 goes. */
static int m_squeeze(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    lmgv_tensor *u;
    if (lua_isnoneornil(L, 2)) {
        int64_t shape[MGV_MAX_DIMS];
        int nd = 0;
        for (int i = 0; i < x->ndim; i++)
            if (x->shape[i] != 1) shape[nd++] = x->shape[i];
        u = lmgv_slot(L);
        u->t = mgv_reshape(x, nd, shape);
    } else {
        int a = lmgv_axis(L, 2, x->ndim);
        u = lmgv_slot(L);
        u->t = mgv_squeeze(x, a);
    }
    lmgv_done(L, u);
    return 1;
}

/* expand(...): broadcast to a shape; -1 keeps the existing size. */
static int m_expand(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    int64_t shape[MGV_MAX_DIMS];
    int nd = lmgv_shape(L, 2, shape, 2);
    for (int i = 0; i < nd; i++) {
        if (shape[i] != -1) continue;
        int xi = i - (nd - x->ndim);
        if (xi < 0) return luaL_error(L, "expand: -1 is not allowed for a new leading axis");
        shape[i] = x->shape[xi];
    }
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_expand(x, nd, shape);
    lmgv_done(L, u);
    return 1;
}

UNARY(contiguous, mgv_contiguous)

static int m_index_select(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    int axis = lmgv_axis(L, 2, x->ndim);
    int64_t n;
    int64_t *idx = lmgv_indices(L, 3, x->shape[axis], "index_select", &n, NULL, NULL);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_index_select(x, axis, idx, n);
    lmgv_done(L, u);
    return 1;
}

/* mgv.cat({a, b, ...} [, axis = 1]) */
static int l_cat(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);   /* scratch space goes above the arguments */
    int n = (int)lua_rawlen(L, 1);
    luaL_argcheck(L, n >= 1, 1, "at least one tensor expected");
    mgv_tensor **xs = lua_newuserdatauv(L, (size_t)n * sizeof *xs, 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        xs[i] = lmgv_test(L, -1);
        if (!xs[i])
            return luaL_error(L, "cat: element %d of the list is a %s, expected a tensor", i + 1,
                              luaL_typename(L, -1));
        lua_pop(L, 1);   /* still referenced by the table */
    }
    int axis = lmgv_optaxis(L, 2, xs[0]->ndim, 1);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_concat(n, xs, axis);
    lmgv_done(L, u);
    return 1;
}

/* mgv.broadcast_shape(a, b) -> shape table */
static int l_broadcast_shape(lua_State *L)
{
    mgv_tensor *a = lmgv_check(L, 1), *b = lmgv_check(L, 2);
    int nd;
    int64_t shape[MGV_MAX_DIMS];
    if (mgv_broadcast_shape("broadcast_shape", a, b, &nd, shape) < 0) return lmgv_error(L);
    lua_createtable(L, nd, 0);
    for (int i = 0; i < nd; i++) {
        lua_pushinteger(L, (lua_Integer)shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* arithmetic                                                                */
/* ------------------------------------------------------------------------ */

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };
static const char *const op_names[] = {"add", "sub", "mul", "div"};

/* Tensor-tensor, tensor-number and number-tensor arithmetic. */
static int arith(lua_State *L, int op)
{
    mgv_tensor *a = lmgv_test(L, 1), *b = lmgv_test(L, 2);
    mgv_tensor *(*const tt[])(mgv_tensor *, mgv_tensor *) = {mgv_add, mgv_sub, mgv_mul, mgv_div};
    lmgv_tensor *u;
    if (a && b) {
        u = lmgv_slot(L);
        u->t = tt[op](a, b);
    } else if (a) {
        if (lua_type(L, 2) != LUA_TNUMBER) {
            const char *m = lua_pushfstring(L, "number or mgv.Tensor expected, got %s",
                                            luaL_typename(L, 2));
            return luaL_argerror(L, 2, m);
        }
        lua_Number v = lua_tonumber(L, 2);
        u = lmgv_slot(L);
        if (op == OP_ADD) u->t = mgv_add_scalar(a, (float)v);
        else if (op == OP_SUB) u->t = mgv_add_scalar(a, (float)-v);
        else if (op == OP_MUL) u->t = mgv_scale(a, (float)v);
        else {
            mgv_tensor *s = lmgv_scalar(L, v);
            u->t = mgv_div(a, s);
            mgv_release(s);
        }
    } else if (b && lua_type(L, 1) == LUA_TNUMBER) {
        lua_Number v = lua_tonumber(L, 1);
        u = lmgv_slot(L);
        if (op == OP_ADD) u->t = mgv_add_scalar(b, (float)v);
        else if (op == OP_MUL) u->t = mgv_scale(b, (float)v);
        else {
            mgv_tensor *s = lmgv_scalar(L, v);
            u->t = tt[op](s, b);
            mgv_release(s);
        }
    } else {
        return luaL_error(L, "%s: a tensor and a tensor or number expected, got %s and %s",
                          op_names[op], luaL_typename(L, 1), luaL_typename(L, 2));
    }
    lmgv_done(L, u);
    return 1;
}

static int m_add(lua_State *L) { return arith(L, OP_ADD); }
static int m_sub(lua_State *L) { return arith(L, OP_SUB); }
static int m_mul(lua_State *L) { return arith(L, OP_MUL); }
static int m_div(lua_State *L) { return arith(L, OP_DIV); }

NUMBER_OP(scale, mgv_scale)
NUMBER_OP(pow, mgv_pow_scalar)

/* __pow: tensor ^ number only. */
static int mm_pow(lua_State *L)
{
    if (!lmgv_test(L, 1))
        return luaL_error(L, "pow: number ^ tensor is not supported; use (t * math.log(n)):exp()");
    return m_pow(L);
}

UNARY(neg, mgv_neg)
UNARY(exp, mgv_exp)
UNARY(log, mgv_log)
UNARY(sqrt, mgv_sqrt)
UNARY(tanh, mgv_tanh)
UNARY(relu, mgv_relu)
UNARY(gelu, mgv_gelu)
UNARY(sigmoid, mgv_sigmoid)

/* ------------------------------------------------------------------------ */
/* reductions                                                                */
/* ------------------------------------------------------------------------ */

typedef mgv_tensor *(*reduce_fn)(mgv_tensor *, int, const int *, int);

/* sum([axis | {axes}] [, keepdim]) and mean(...) */
static int reduce(lua_State *L, reduce_fn f, mgv_tensor *(*all)(mgv_tensor *))
{
    mgv_tensor *x = lmgv_check(L, 1);
    int axes[MGV_MAX_DIMS];
    int n = 0;
    int keepdim = lua_toboolean(L, 3);
    int t2 = lua_type(L, 2);
    if (t2 == LUA_TBOOLEAN) {          /* sum(true): all axes, keepdim */
        keepdim = lua_toboolean(L, 2);
    } else if (t2 == LUA_TTABLE) {
        n = (int)lua_rawlen(L, 2);
        if (n > x->ndim) return luaL_argerror(L, 2, "more axes than the tensor has");
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, 2, i + 1);
            axes[i] = lmgv_axis(L, -1, x->ndim);
            lua_pop(L, 1);
        }
        if (n == 0 && !keepdim) t2 = LUA_TNIL;
    } else if (t2 != LUA_TNONE && t2 != LUA_TNIL) {
        axes[0] = lmgv_axis(L, 2, x->ndim);
        n = 1;
    }
    lmgv_tensor *u = lmgv_slot(L);
    if (n == 0 && !keepdim) u->t = all(x);
    else u->t = f(x, n, axes, keepdim);
    lmgv_done(L, u);
    return 1;
}

static int m_sum(lua_State *L) { return reduce(L, mgv_sum, mgv_sum_all); }
static int m_mean(lua_State *L) { return reduce(L, mgv_mean, mgv_mean_all); }

/* max([axis [, keepdim]]) -> values, indices (1-based); no axis: over all elements. */
static int m_max(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    int keepdim = lua_toboolean(L, 3);
    int axis = 0;
    lmgv_tensor *src = NULL;
    if (lua_isnoneornil(L, 2)) {
        int64_t n = -1;
        src = lmgv_slot(L);             /* the flattened input, anchored */
        src->t = mgv_reshape(x, 1, &n);
        lmgv_done(L, src);
        x = src->t;
        keepdim = 0;
    } else {
        axis = lmgv_axis(L, 2, x->ndim);
    }
    lmgv_tensor *vals = lmgv_slot(L);
    lmgv_tensor *idx = lmgv_slot(L);
    mgv_tensor *arg = NULL;
    vals->t = mgv_max(x, axis, keepdim, &arg);
    if (!vals->t) return lmgv_error(L);
    int prev = mgv_set_grad_enabled(0);
    idx->t = arg ? mgv_add_scalar(arg, 1.0f) : NULL;
    mgv_set_grad_enabled(prev);
    mgv_release(arg);
    lmgv_done(L, idx);
    return 2;
}

/* ------------------------------------------------------------------------ */
/* matmul, softmax, nn                                                       */
/* ------------------------------------------------------------------------ */

static int m_matmul(lua_State *L)
{
    mgv_tensor *a = lmgv_check(L, 1), *b = lmgv_check(L, 2);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_matmul(a, b);
    lmgv_done(L, u);
    return 1;
}

static int m_linear(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1), *W = lmgv_check(L, 2), *b = lmgv_opt(L, 3);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_linear(x, W, b);
    lmgv_done(L, u);
    return 1;
}

AXIS_OP(softmax, mgv_softmax)
AXIS_OP(log_softmax, mgv_log_softmax)

/* layer_norm([gamma [, beta [, eps = 1e-5]]]) over the last axis */
static int m_layer_norm(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1), *g = lmgv_opt(L, 2), *b = lmgv_opt(L, 3);
    float eps = (float)luaL_optnumber(L, 4, 1e-5);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_layer_norm(x, g, b, eps);
    lmgv_done(L, u);
    return 1;
}

/* dropout([p = 0.5 [, training = true]]) */
static int m_dropout(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    lua_Number p = luaL_optnumber(L, 2, 0.5);
    int training = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_dropout(x, (float)p, training, NULL);
    lmgv_done(L, u);
    return 1;
}

static int m_masked_fill(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1), *mask = lmgv_check(L, 2);
    float v = (float)luaL_checknumber(L, 3);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_masked_fill(x, mask, v);
    lmgv_done(L, u);
    return 1;
}

/* cosine_similarity(b [, axis = -1 [, eps = 1e-8]]) */
static int m_cosine_similarity(lua_State *L)
{
    mgv_tensor *a = lmgv_check(L, 1), *b = lmgv_check(L, 2);
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int axis = lmgv_optaxis(L, 3, nd, -1);
    /* the engine broadcasts a and b: give it the axis counted from the end */
    float eps = (float)luaL_optnumber(L, 4, 1e-8);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_cosine_similarity(a, b, axis - nd, eps);
    lmgv_done(L, u);
    return 1;
}

/* l2_norm([axis = -1 [, keepdim = false]]) */
static int m_l2_norm(lua_State *L)
{
    mgv_tensor *x = lmgv_check(L, 1);
    int axis = lmgv_optaxis(L, 2, x->ndim, -1);
    int keepdim = lua_toboolean(L, 3);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_l2_norm(x, axis, keepdim);
    lmgv_done(L, u);
    return 1;
}

/* mgv.embedding(weight [V x d], idx): idx 1-based (number, table, nested table, tensor) */
static int l_embedding(lua_State *L)
{
    mgv_tensor *w = lmgv_check(L, 1);
    if (w->ndim != 2) {
        char s[128];
        return luaL_error(L, "embedding: weight must be 2-d [V x d], got %s",
                          mgv_shape_str(w, s, sizeof s));
    }
    int64_t n, shape[MGV_MAX_DIMS];
    int nd;
    int64_t *idx = lmgv_indices(L, 2, w->shape[0], "embedding", &n, &nd, shape);
    if (nd >= MGV_MAX_DIMS) return luaL_error(L, "embedding: index has too many axes");
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_embedding(w, idx, nd, shape);
    lmgv_done(L, u);
    return 1;
}

/* Targets (1-based classes) for a [N x C] score matrix, checked against N and C. */
static int64_t *targets(lua_State *L, mgv_tensor *s, int arg, const char *op)
{
    char sh[128];
    if (s->ndim != 2)
        luaL_error(L, "%s: scores must be 2-d [N x C], got %s", op, mgv_shape_str(s, sh, sizeof sh));
    int64_t n;
    int64_t *t = lmgv_indices(L, arg, s->shape[1], op, &n, NULL, NULL);
    if (n != s->shape[0])
        luaL_error(L, "%s: %I targets for scores %s (%I needed)", op, (lua_Integer)n,
                   mgv_shape_str(s, sh, sizeof sh), (lua_Integer)s->shape[0]);
    return t;
}

static int l_cross_entropy(lua_State *L)
{
    mgv_tensor *logits = lmgv_check(L, 1);
    int64_t *t = targets(L, logits, 2, "cross_entropy");
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_cross_entropy(logits, t);
    lmgv_done(L, u);
    return 1;
}

static int l_margin_ranking(lua_State *L)
{
    mgv_tensor *scores = lmgv_check(L, 1);
    float margin = (float)luaL_optnumber(L, 3, 1.0);
    lua_settop(L, 3);
    int64_t *t = targets(L, scores, 2, "margin_ranking");
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_margin_ranking(scores, t, margin);
    lmgv_done(L, u);
    return 1;
}

static int l_kl_categorical(lua_State *L)
{
    mgv_tensor *p = lmgv_check(L, 1), *q = lmgv_check(L, 2);
    int axis = lmgv_optaxis(L, 3, p->ndim, -1);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_kl_categorical(p, q, axis);
    lmgv_done(L, u);
    return 1;
}

static int l_gaussian_kl(lua_State *L)
{
    mgv_tensor *mu = lmgv_check(L, 1), *lv = lmgv_check(L, 2);
    lua_Integer n = luaL_optinteger(L, 3, 1);
    luaL_argcheck(L, n >= 0 && n <= mu->ndim, 3, "number of summed axes out of range");
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_gaussian_kl(mu, lv, (int)n);
    lmgv_done(L, u);
    return 1;
}

/* ------------------------------------------------------------------------ */
/* autograd                                                                  */
/* ------------------------------------------------------------------------ */

/* t:requires_grad_([on = true]) -> t */
static int m_requires_grad_(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    int on = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    if (mgv_set_requires_grad(t, on) < 0) return lmgv_error(L);
    lua_settop(L, 1);
    return 1;
}

/* t:backward([grad]): grad a tensor of t's shape or a number (filled). */
static int m_backward(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    mgv_tensor *g = NULL;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lmgv_tensor *u = lmgv_slot(L);
        u->t = mgv_full(t->ndim, t->shape, (float)lua_tonumber(L, 2));
        lmgv_done(L, u);
        g = u->t;
    } else {
        g = lmgv_opt(L, 2);
    }
    if (mgv_backward(t, g) < 0) return lmgv_error(L);
    lmgv_account(L);
    return 0;
}

static int m_zero_grad(lua_State *L)
{
    mgv_zero_grad(lmgv_check(L, 1));
    lua_settop(L, 1);
    return 1;
}

static int m_retain_grad(lua_State *L)
{
    lmgv_check(L, 1)->retain_grad = 1;
    lua_settop(L, 1);
    return 1;
}

/* mgv.no_grad(fn, ...) -> fn(...) with grad mode off, restored even on error */
static int l_no_grad(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int prev = mgv_set_grad_enabled(0);
    int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    mgv_set_grad_enabled(prev);
    if (status != LUA_OK) return lua_error(L);
    return lua_gettop(L);
}

/* mgv._profile_run(fn, ...) -> wall seconds, seconds after the last op,
 * {{op, scope, phase, calls, seconds}, ...}: fn(...) with the engine's op
 * profile on (stopped on errors too); profile.lua makes the report */
static int l_profile_run(lua_State *L)
{
    static const char *const phases[] = {"forward", "backward", "update"};
    luaL_checktype(L, 1, LUA_TFUNCTION);
    if (mgv_profile_on) return luaL_error(L, "mgv.profile: a profile is already running");
    double t0 = mgv_profile_clock();
    mgv_profile_start();
    int status = lua_pcall(L, lua_gettop(L) - 1, 0, 0);
    double rest = mgv_profile_stop();
    double wall = mgv_profile_clock() - t0;
    if (status != LUA_OK) return lua_error(L);
    int n;
    const mgv_profile_entry *e = mgv_profile_entries(&n);
    lua_pushnumber(L, wall);
    lua_pushnumber(L, rest);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 5);
        lua_pushstring(L, e[i].op);
        lua_setfield(L, -2, "op");
        lua_pushstring(L, e[i].scope);
        lua_setfield(L, -2, "scope");
        lua_pushstring(L, phases[e[i].phase]);
        lua_setfield(L, -2, "phase");
        lua_pushinteger(L, (lua_Integer)e[i].calls);
        lua_setfield(L, -2, "calls");
        lua_pushnumber(L, e[i].seconds);
        lua_setfield(L, -2, "seconds");
        lua_rawseti(L, -2, i + 1);
    }
    return 3;
}

/* mgv.grad_enabled() -> current mode; mgv.grad_enabled(on) sets it, returns the old mode */
static int l_grad_enabled(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_pushboolean(L, mgv_grad_enabled());
    } else {
        lua_pushboolean(L, mgv_set_grad_enabled(lua_toboolean(L, 1)));
    }
    return 1;
}

/* mgv.threads([n]) -> the engine's thread count (kernels and SGEMM), after
 * setting it to n when given */
static int l_threads(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) {
        lua_Integer n = luaL_checkinteger(L, 1);
        if (n < 1 || n > MGV_MAX_THREADS)
            return luaL_error(L, "threads: %d outside 1..%d", (int)n, MGV_MAX_THREADS);
        mgv_set_num_threads((int)n);
    }
    lua_pushinteger(L, mgv_get_num_threads());
    return 1;
}

/* the SIMD path the row loops run (forced by $MGV_SIMD) and the OpenBLAS
 * core that matches it */
static int l_simd(lua_State *L)
{
    int path = mgv_simd_path();
    lua_pushstring(L, mgv_simd_name(path));
    lua_pushstring(L, mgv_simd_blas_core(path));
    return 2;
}

/* ------------------------------------------------------------------------ */
/* registration                                                              */
/* ------------------------------------------------------------------------ */

/* Methods that also become module functions (mgv.exp(t) == t:exp()). */
static const luaL_Reg op_methods[] = {
    {"reshape", m_reshape},
    {"view", m_view},
    {"flatten", m_flatten},
    {"transpose", m_transpose},
    {"permute", m_permute},
    {"slice", m_slice},
    {"select", m_select},
    {"unsqueeze", m_unsqueeze},
    {"squeeze", m_squeeze},
    {"expand", m_expand},
    {"contiguous", m_contiguous},
    {"index_select", m_index_select},
    {"add", m_add},
    {"sub", m_sub},
    {"mul", m_mul},
    {"div", m_div},
    {"scale", m_scale},
    {"pow", m_pow},
    {"neg", m_neg},
    {"exp", m_exp},
    {"log", m_log},
    {"sqrt", m_sqrt},
    {"tanh", m_tanh},
    {"relu", m_relu},
    {"gelu", m_gelu},
    {"sigmoid", m_sigmoid},
    {"sum", m_sum},
    {"mean", m_mean},
    {"max", m_max},
    {"matmul", m_matmul},
    {"linear", m_linear},
    {"softmax", m_softmax},
    {"log_softmax", m_log_softmax},
    {"layer_norm", m_layer_norm},
    {"dropout", m_dropout},
    {"masked_fill", m_masked_fill},
    {"cosine_similarity", m_cosine_similarity},
    {"l2_norm", m_l2_norm},
    {NULL, NULL},
};

static const luaL_Reg grad_methods[] = {
    {"requires_grad_", m_requires_grad_},
    {"backward", m_backward},
    {"zero_grad", m_zero_grad},
    {"retain_grad", m_retain_grad},
    {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__add", m_add},
    {"__sub", m_sub},
    {"__mul", m_mul},
    {"__div", m_div},
    {"__unm", m_neg},
    {"__pow", mm_pow},
    {NULL, NULL},
};

static const luaL_Reg module_funcs[] = {
    {"cat", l_cat},
    {"broadcast_shape", l_broadcast_shape},
    {"embedding", l_embedding},
    {"cross_entropy", l_cross_entropy},
    {"margin_ranking", l_margin_ranking},
    {"kl_categorical", l_kl_categorical},
    {"gaussian_kl", l_gaussian_kl},
    {"no_grad", l_no_grad},
    {"grad_enabled", l_grad_enabled},
    {"_profile_run", l_profile_run},
    {"threads", l_threads},
    {"simd", l_simd},
    {NULL, NULL},
};

void lmgv_open_ops(lua_State *L, int module)
{
    lua_getfield(L, module, "Tensor");
    luaL_setfuncs(L, op_methods, 0);
    luaL_setfuncs(L, grad_methods, 0);
    lua_pop(L, 1);
    luaL_getmetatable(L, LMGV_TENSOR);
    luaL_setfuncs(L, metamethods, 0);
    lua_pop(L, 1);
    lua_pushvalue(L, module);
    luaL_setfuncs(L, op_methods, 0);
    luaL_setfuncs(L, module_funcs, 0);
    lua_pop(L, 1);
}
