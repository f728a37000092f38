/*
 * ltensor.c — the tensor userdata of the Lua binding ("mgv.Tensor").
 *
 * In the manner of liolib.c: a small userdata holding one engine reference,
 * a metatable made with luaL_newmetatable (its __name feeds type errors),
 * methods looked up through __index, idempotent __gc and __close. __index is
 * a C closure so that fields (t.grad, t.requires_grad, ...) and integer
 * indexing (t[i]) come before the methods table (mgv.Tensor, an upvalue).
 *
 * Also here: constructors (mgv.tensor, zeros, ones, full, rand, randn,
 * arange), element access, conversion to Lua tables, and the helpers that
 * translate Lua conventions (1-based, negative from the end) to the engine's.
 *
 * Memory: a tensor is a few bytes of Lua userdata over a possibly huge C
 * allocation that Lua's collector cannot see. lmgv_account() reports the
 * engine's allocations to the collector as GC debt (LUA_GCSTEP with the
 * kilobytes allocated), so a loop that makes and drops tensors has its
 * garbage finalised at the rate it is produced.
 */
#define LMGV_INTERNAL
#include "lmgv.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* userdata basics                                                           */
/* ------------------------------------------------------------------------ */

mgv_tensor *lmgv_test(lua_State *L, int idx)
{
    lmgv_tensor *u = luaL_testudata(L, idx, LMGV_TENSOR);
    if (!u) return NULL;
    if (!u->t) luaL_argerror(L, idx, "tensor has been freed (closed)");
    return u->t;
}

mgv_tensor *lmgv_check(lua_State *L, int arg)
{
    lmgv_tensor *u = luaL_testudata(L, arg, LMGV_TENSOR);
    if (!u) luaL_typeerror(L, arg, LMGV_TENSOR);
    if (!u->t) luaL_argerror(L, arg, "tensor has been freed (closed)");
    return u->t;
}

mgv_tensor *lmgv_opt(lua_State *L, int arg)
{
    if (lua_isnoneornil(L, arg)) return NULL;
    return lmgv_check(L, arg);
}

lmgv_tensor *lmgv_slot(lua_State *L)
{
    lmgv_tensor *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->t = NULL;
    luaL_setmetatable(L, LMGV_TENSOR);
    return u;
}

int lmgv_error(lua_State *L)
{
    const char *msg = mgv_last_error();
    if (!msg || !*msg) return luaL_error(L, "mgv: engine call failed");
    /* the engine's allocator says "tensor: cannot allocate ..."; name the
     * Lua function that asked instead ("matmul: cannot allocate ...") */
    lua_Debug ar;
    if (strncmp(msg, "tensor: ", 8) == 0 && lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) &&
        ar.name)
        return luaL_error(L, "%s: %s", ar.name, msg + 8);
    return luaL_error(L, "%s", msg);
}

/* lmgv_error for a constructor, named even when called without a name
 * (pcall(mgv.zeros, ...)) */
static int ctor_error(lua_State *L, const char *op)
{
    const char *msg = mgv_last_error();
    if (msg && strncmp(msg, "tensor: ", 8) == 0) return luaL_error(L, "%s: %s", op, msg + 8);
    return lmgv_error(L);
}

/*
 * Net engine growth since the last call becomes GC debt. Small amounts are
 * batched (64 KiB) so that tiny tensors do not each cost a collector step.
 *
 * The debt alone suffices for the incremental collector. In generational
 * mode (plain lua5.4 runs that way) a tensor that survives two minor
 * collections becomes old and waits for a major one, which Lua starts only
 * when its own small heap doubles; so after churning more than the live
 * size (engine + Lua heap, at least 16 MiB) a full collection runs. Its cost
 * is proportional to what was allocated, like any collector pause.
 */
static int64_t seen_bytes, pending_bytes, since_full, live_after_full;

void lmgv_account(lua_State *L)
{
    int64_t now = mgv_bytes_allocated();
    if (now > seen_bytes) {
        pending_bytes += now - seen_bytes;
        since_full += now - seen_bytes;
    }
    seen_bytes = now;
    if (pending_bytes < 64 * 1024) return;
    int64_t kb = pending_bytes / 1024;
    pending_bytes = 0;
    int64_t lua_heap = (int64_t)lua_gc(L, LUA_GCCOUNT) * 1024;
    int64_t limit = live_after_full + lua_heap;
    if (limit < ((int64_t)16 << 20)) limit = (int64_t)16 << 20;
    if (since_full > limit) {
        lua_gc(L, LUA_GCCOLLECT);
        since_full = 0;
        live_after_full = seen_bytes = mgv_bytes_allocated();
    } else {
        lua_gc(L, LUA_GCSTEP, (int)(kb > (1 << 30) ? (1 << 30) : kb));
    }
}

void lmgv_done(lua_State *L, lmgv_tensor *slot)
{
    if (!slot->t) lmgv_error(L);
    lmgv_account(L);
}

void lmgv_push(lua_State *L, mgv_tensor *t)
{
    if (!t) lmgv_error(L);
    lmgv_tensor *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->t = t;
    luaL_setmetatable(L, LMGV_TENSOR);
    lmgv_account(L);
}

mgv_tensor *lmgv_scalar(lua_State *L, lua_Number v)
{
    mgv_tensor *s = mgv_scalar((float)v);
    if (!s) lmgv_error(L);
    return s;
}

void lmgv_check_writable(lua_State *L, mgv_tensor *t, const char *op)
{
    if (t->requires_grad && mgv_grad_enabled())
        luaL_error(L, "%s: the tensor requires grad, so an in-place change would be invisible "
                      "to autograd; do it inside mgv.no_grad(function() ... end) or on "
                      "t:detach()", op);
}

/* ------------------------------------------------------------------------ */
/* argument conversion                                                       */
/* ------------------------------------------------------------------------ */

int lmgv_axis(lua_State *L, int arg, int ndim)
{
    lua_Integer a = luaL_checkinteger(L, arg);
    if (a == 0)
        return luaL_argerror(L, arg, "axis 0 does not exist (axes are 1-based; -1 is the last)");
    if (a > ndim || a < -ndim) {
        const char *m = lua_pushfstring(L, "axis %d out of range for a tensor with %d axes",
                                        (int)a, ndim);
        return luaL_argerror(L, arg, m);
    }
    return (int)(a > 0 ? a - 1 : a + ndim);
}

int lmgv_optaxis(lua_State *L, int arg, int ndim, int def)
{
    if (!lua_isnoneornil(L, arg)) return lmgv_axis(L, arg, ndim);
    if (def == 0 || def > ndim || def < -ndim)
        return luaL_error(L, "axis %d (the default) out of range for a tensor with %d axes", def,
                          ndim);
    return def > 0 ? def - 1 : def + ndim;
}

int64_t lmgv_index(lua_State *L, int arg, lua_Integer i, int64_t n, const char *what)
{
    if (i == 0)
        luaL_error(L, "%s: index 0 does not exist (indices are 1-based; -1 is the last)", what);
    int64_t k = i > 0 ? (int64_t)i - 1 : n + (int64_t)i;
    if (k < 0 || k >= n)
        luaL_error(L, "%s: index %I out of range for an axis of size %I", what, (lua_Integer)i,
                   (lua_Integer)n);
    (void)arg;
    return k;
}

/* One shape entry; mode 0 sizes >= 0, 1 also a single -1, 2 any -1. */
static int64_t shape_entry(lua_State *L, int arg, int idx, int mode, int *n_infer)
{
    int ok;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok) {
        const char *m = lua_pushfstring(L, "shape entries must be integers, got %s",
                                        luaL_typename(L, idx));
        luaL_argerror(L, arg, m);
    }
    if (v == -1 && mode > 0) {
        if (mode == 1 && ++*n_infer > 1) luaL_argerror(L, arg, "only one size may be -1");
        return -1;
    }
    if (v < 0) {
        const char *m = lua_pushfstring(L, "negative size %I in shape", v);
        luaL_argerror(L, arg, m);
    }
    return (int64_t)v;
}

int lmgv_shape(lua_State *L, int arg, int64_t *shape, int mode)
{
    int n_infer = 0;
    if (lua_type(L, arg) == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, arg);
        if (n > MGV_MAX_DIMS) {
            const char *m = lua_pushfstring(L, "%I dimensions (at most %d)", n, MGV_MAX_DIMS);
            return luaL_argerror(L, arg, m);
        }
        for (int i = 0; i < (int)n; i++) {
            lua_rawgeti(L, arg, i + 1);
            shape[i] = shape_entry(L, arg, -1, mode, &n_infer);
            lua_pop(L, 1);
        }
        return (int)n;
    }
    int top = lua_gettop(L);
    int n = top >= arg ? top - arg + 1 : 0;
    if (n > MGV_MAX_DIMS) {
        const char *m = lua_pushfstring(L, "%d dimensions (at most %d)", n, MGV_MAX_DIMS);
        return luaL_argerror(L, arg, m);
    }
    for (int i = 0; i < n; i++) shape[i] = shape_entry(L, arg + i, arg + i, mode, &n_infer);
    return n;
}

/* Converts one Lua value (number) to a 0-based index in [0, limit). */
static int64_t index_value(lua_State *L, lua_Number v, int64_t limit, const char *what)
{
    if (v != floor(v) || !(fabs(v) < 9.0e15))
        luaL_error(L, "%s: index %f is not an integer", what, (double)v);
    if (v < 1 || (limit > 0 && v > (lua_Number)limit)) {
        if (limit > 0)
            luaL_error(L, "%s: index %I out of range 1..%I", what, (lua_Integer)v,
                       (lua_Integer)limit);
        luaL_error(L, "%s: index %I out of range (indices are 1-based)", what, (lua_Integer)v);
    }
    return (int64_t)v - 1;
}

/* Shape of a nested table at idx (descending through the first elements). */
static int table_shape(lua_State *L, int idx, int64_t *shape, const char *what)
{
    int nd = 0;
    lua_pushvalue(L, idx);
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (nd == MGV_MAX_DIMS) luaL_error(L, "%s: nested table deeper than %d", what, MGV_MAX_DIMS);
        int64_t len = (int64_t)lua_rawlen(L, -1);
        shape[nd++] = len;
        if (len == 0) break;
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return nd;
}

static void path_str(char *buf, size_t n, const int64_t *path, int depth)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < depth && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "[%lld]", (long long)path[i] + 1);
}

/*
 * Walks a nested table at the top of the stack whose shape was inferred,
 * calling put(value) per element in row-major order; ragged or non-number
 * entries raise errors naming the position.
 */
typedef struct walk {
    const char *what;
    int nd;
    const int64_t *shape;
    int64_t path[MGV_MAX_DIMS];
    float *out;             /* tensor construction */
    int64_t *iout;          /* index conversion */
    int64_t limit;
    int64_t k;
} walk;

static void walk_table(lua_State *L, walk *w, int depth)
{
    char p[128];
    int64_t len = (int64_t)lua_rawlen(L, -1);
    if (len != w->shape[depth]) {
        path_str(p, sizeof p, w->path, depth);
        luaL_error(L, "%s: ragged nested table: %s%s has %I entries, expected %I", w->what,
                   depth ? "element " : "the outer table", p, (lua_Integer)len,
                   (lua_Integer)w->shape[depth]);
    }
    luaL_checkstack(L, 2, "nested table");
    for (int64_t i = 0; i < len; i++) {
        w->path[depth] = i;
        int t = lua_rawgeti(L, -1, (lua_Integer)i + 1);
        if (depth + 1 < w->nd) {
            if (t != LUA_TTABLE) {
                path_str(p, sizeof p, w->path, depth + 1);
                luaL_error(L, "%s: ragged nested table: element %s is a %s, expected a table",
                           w->what, p, lua_typename(L, t));
            }
            walk_table(L, w, depth + 1);
        } else {
            if (t != LUA_TNUMBER) {
                path_str(p, sizeof p, w->path, depth + 1);
                luaL_error(L, "%s: element %s is a %s, expected a number", w->what, p,
                           lua_typename(L, t));
            }
            lua_Number v = lua_tonumber(L, -1);
            if (w->out) w->out[w->k++] = (float)v;
            else w->iout[w->k++] = index_value(L, v, w->limit, w->what);
        }
        lua_pop(L, 1);
    }
}

int64_t *lmgv_indices(lua_State *L, int arg, int64_t limit, const char *what, int64_t *n,
                      int *ndim, int64_t *shape)
{
    int64_t sh[MGV_MAX_DIMS];
    int nd;
    int64_t count;
    int type = lua_type(L, arg);
    mgv_tensor *t = NULL;
    if (type == LUA_TNUMBER) {
        nd = 0;
        count = 1;
    } else if (type == LUA_TTABLE) {
        nd = table_shape(L, arg, sh, what);
        count = mgv_shape_numel(nd, sh);
    } else if ((t = lmgv_test(L, arg)) != NULL) {
        nd = t->ndim;
        memcpy(sh, t->shape, sizeof sh);
        count = mgv_numel(t);
    } else {
        luaL_typeerror(L, arg, "table of indices or mgv.Tensor");
        return NULL;
    }
    int64_t *idx = lua_newuserdatauv(L, (size_t)(count ? count : 1) * sizeof(int64_t), 0);
    if (type == LUA_TNUMBER) {
        idx[0] = index_value(L, lua_tonumber(L, arg), limit, what);
    } else if (type == LUA_TTABLE) {
        walk w = {.what = what, .nd = nd, .shape = sh, .iout = idx, .limit = limit};
        if (nd > 0) {
            lua_pushvalue(L, arg);
            walk_table(L, &w, 0);
            lua_pop(L, 1);
        }
    } else {
        for (int64_t i = 0; i < count; i++)
            idx[i] = index_value(L, mgv_get_flat(t, i), limit, what);
    }
    *n = count;
    if (ndim) *ndim = nd;
    if (shape) memcpy(shape, sh, (size_t)nd * sizeof *sh);
    return idx;
}

/* ------------------------------------------------------------------------ */
/* constructors                                                              */
/* ------------------------------------------------------------------------ */

/* mgv.tensor(nested table | number | tensor) */
static int l_tensor(lua_State *L)
{
    int type = lua_type(L, 1);
    if (type == LUA_TNUMBER) {
        lmgv_tensor *u = lmgv_slot(L);
        u->t = mgv_scalar((float)lua_tonumber(L, 1));
        lmgv_done(L, u);
        return 1;
    }
    if (type != LUA_TTABLE) {
        mgv_tensor *src = lmgv_test(L, 1);
        if (!src) return luaL_typeerror(L, 1, "nested table of numbers, number or mgv.Tensor");
        lmgv_tensor *u = lmgv_slot(L);
        u->t = mgv_clone_data(src);
        lmgv_done(L, u);
        return 1;
    }
    int64_t shape[MGV_MAX_DIMS];
    int nd = table_shape(L, 1, shape, "tensor");
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_empty(nd, shape);
    if (!u->t) ctor_error(L, "tensor");
    walk w = {.what = "tensor", .nd = nd, .shape = shape, .out = mgv_data(u->t)};
    if (nd > 0 && shape[0] > 0) {
        lua_pushvalue(L, 1);
        walk_table(L, &w, 0);
        lua_pop(L, 1);
    }
    lmgv_account(L);
    return 1;
}

typedef mgv_tensor *(*shape_ctor)(int ndim, const int64_t *shape);

static int make_shaped(lua_State *L, shape_ctor f, const char *op)
{
    int64_t shape[MGV_MAX_DIMS];
    int nd = lmgv_shape(L, 1, shape, 0);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = f(nd, shape);
    if (!u->t) ctor_error(L, op);
    lmgv_done(L, u);
    return 1;
}

static mgv_tensor *rand_global(int nd, const int64_t *s) { return mgv_rand(nd, s, NULL); }
static mgv_tensor *randn_global(int nd, const int64_t *s) { return mgv_randn(nd, s, NULL); }

static int l_zeros(lua_State *L) { return make_shaped(L, mgv_zeros, "zeros"); }
static int l_ones(lua_State *L) { return make_shaped(L, mgv_ones, "ones"); }
static int l_rand(lua_State *L) { return make_shaped(L, rand_global, "rand"); }
static int l_randn(lua_State *L) { return make_shaped(L, randn_global, "randn"); }

/* mgv.full(shape, value): shape a table or one size */
static int l_full(lua_State *L)
{
    int64_t shape[MGV_MAX_DIMS];
    int nd;
    if (lua_type(L, 1) == LUA_TTABLE) {
        nd = lmgv_shape(L, 1, shape, 0);
    } else {
        lua_Integer n = luaL_checkinteger(L, 1);
        luaL_argcheck(L, n >= 0, 1, "negative size");
        shape[0] = n;
        nd = 1;
    }
    float v = (float)luaL_checknumber(L, 2);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_full(nd, shape, v);
    if (!u->t) ctor_error(L, "full");
    lmgv_done(L, u);
    return 1;
}

/* mgv.arange(n) -> 0..n-1; mgv.arange(start, stop [, step]) (stop exclusive) */
static int l_arange(lua_State *L)
{
    lua_Number start = 0, stop, step = 1;
    if (lua_isnoneornil(L, 2)) {
        stop = luaL_checknumber(L, 1);
    } else {
        start = luaL_checknumber(L, 1);
        stop = luaL_checknumber(L, 2);
        step = luaL_optnumber(L, 3, 1);
    }
    luaL_argcheck(L, step != 0, 3, "step must not be 0");
    lua_Number span = ceil((stop - start) / step);
    int64_t n = span > 0 ? (int64_t)span : 0;
    if (span > 9.0e15) return luaL_error(L, "arange: too many elements");
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_empty(1, &n);
    if (!u->t) ctor_error(L, "arange");
    float *p = mgv_data(u->t);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(start + (lua_Number)i * step);
    lmgv_account(L);
    return 1;
}

static int l_seed(lua_State *L)
{
    lua_Integer s = luaL_checkinteger(L, 1);
    mgv_rng_seed(mgv_rng_global(), (uint64_t)s);
    return 0;
}

static int l_is_tensor(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, LMGV_TENSOR) != NULL);
    return 1;
}

/* mgv.rss() -> resident set size of the process in bytes (/proc/self/statm) */
static int l_rss(lua_State *L)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, resident = 0;
    if (!f) return luaL_error(L, "rss: cannot open /proc/self/statm");
    int ok = fscanf(f, "%lld %lld", &size, &resident) == 2;
    fclose(f);
    if (!ok) return luaL_error(L, "rss: cannot parse /proc/self/statm");
    lua_pushinteger(L, (lua_Integer)resident * (lua_Integer)sysconf(_SC_PAGESIZE));
    return 1;
}

/* mgv.memory() -> bytes of tensor storage the engine holds, the limit, the
 * bytes of freed storage kept for reuse */
static int l_memory(lua_State *L)
{
    int64_t cached = mgv_bytes_cached();
    lua_pushinteger(L, (lua_Integer)mgv_bytes_allocated());
    lua_pushinteger(L, (lua_Integer)mgv_memory_limit());
    lua_pushinteger(L, (lua_Integer)(cached > 0 ? cached : 0));
    return 3;
}

/* mgv.set_memory_limit(bytes | nil) -> the previous limit; nil: the default */
static int l_set_memory_limit(lua_State *L)
{
    int64_t bytes = -1;
    if (!lua_isnoneornil(L, 1)) {
        lua_Number v = luaL_checknumber(L, 1);
        luaL_argcheck(L, v >= 0 && v < 9.2e18, 1,
                      "the limit must be a number of bytes >= 0 (nil: the default)");
        bytes = (int64_t)v;
    }
    lua_pushinteger(L, (lua_Integer)mgv_set_memory_limit(bytes));
    return 1;
}

/* ------------------------------------------------------------------------ */
/* metamethods                                                               */
/* ------------------------------------------------------------------------ */

static int t_gc(lua_State *L)
{
    lmgv_tensor *u = luaL_checkudata(L, 1, LMGV_TENSOR);
    mgv_release(u->t);
    u->t = NULL;
    return 0;
}

static void shape_error(lua_State *L, const char *fmt, const mgv_tensor *t)
{
    char s[128];
    luaL_error(L, fmt, mgv_shape_str(t, s, sizeof s));
}

/* t[i]: select on axis 1 (a view), or the number for a 1-d tensor. */
static int index_int(lua_State *L, mgv_tensor *t, lua_Integer i)
{
    if (t->ndim == 0) shape_error(L, "index: a 0-d tensor %s has no elements to index; use item()", t);
    int64_t k = lmgv_index(L, 2, i, t->shape[0], "index");
    if (t->ndim == 1) {
        lua_pushnumber(L, t->storage->data[t->offset + k * t->stride[0]]);
        return 1;
    }
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_select(t, 0, k);
    lmgv_done(L, u);
    return 1;
}

/* Pushes field k (grad, requires_grad, is_leaf, grad_fn); 0 if k is no field. */
static int push_field(lua_State *L, const char *k)
{
    enum { GRAD, REQUIRES_GRAD, IS_LEAF, GRAD_FN, NONE } f = NONE;
    if (strcmp(k, "grad") == 0) f = GRAD;
    else if (strcmp(k, "requires_grad") == 0) f = REQUIRES_GRAD;
    else if (strcmp(k, "is_leaf") == 0) f = IS_LEAF;
    else if (strcmp(k, "grad_fn") == 0) f = GRAD_FN;
    if (f == NONE) return 0;
    mgv_tensor *t = lmgv_check(L, 1);
    switch (f) {
    case GRAD:
        if (t->grad) lmgv_push(L, mgv_retain(t->grad));
        else lua_pushnil(L);
        break;
    case REQUIRES_GRAD: lua_pushboolean(L, t->requires_grad); break;
    case IS_LEAF: lua_pushboolean(L, t->node == NULL); break;
    default:
        if (t->node) lua_pushstring(L, t->node->op);
        else lua_pushnil(L);
    }
    return 1;
}

/* The number key of t[k] or t[k] = v (stack slot 2); an error unless integral. */
static lua_Integer int_key(lua_State *L)
{
    int ok;
    lua_Integer i = lua_tointegerx(L, 2, &ok);
    if (!ok)
        luaL_error(L, "index: tensor indices must be integers, got %f",
                   (double)lua_tonumber(L, 2));
    return i;
}

/* __index: integer keys select, then fields, then the methods (upvalue 1). */
static int t_index(lua_State *L)
{
    luaL_checkudata(L, 1, LMGV_TENSOR);
    int kt = lua_type(L, 2);
    if (kt == LUA_TNUMBER) return index_int(L, lmgv_check(L, 1), int_key(L));
    if (kt == LUA_TSTRING) {
        if (push_field(L, lua_tostring(L, 2))) return 1;
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(1));
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

/* dst <- src with numpy broadcasting of src; overlapping storage is copied first. */
static void copy_into(lua_State *L, mgv_tensor *dst, mgv_tensor *src, const char *op)
{
    char a[128], b[128];
    int prev = mgv_set_grad_enabled(0);
    mgv_tensor *s = src->storage == dst->storage ? mgv_clone_data(src) : mgv_retain(src);
    mgv_tensor *e = NULL;
    int rc = -1;
    if (s) {
        if (mgv_same_shape(s, dst)) {
            e = mgv_retain(s);
        } else {
            e = mgv_expand(s, dst->ndim, dst->shape);
            if (!e)
                mgv_fail("%s: source %s does not broadcast to %s", op,
                         mgv_shape_str(src, b, sizeof b), mgv_shape_str(dst, a, sizeof a));
        }
        if (e) rc = mgv_copy_(dst, e);
    }
    mgv_release(e);
    mgv_release(s);
    mgv_set_grad_enabled(prev);
    if (rc < 0) lmgv_error(L);
}

/* Assigns the value at vidx (number, tensor or nested table) into dst. */
static void assign(lua_State *L, mgv_tensor *dst, int vidx, const char *op)
{
    int vt = lua_type(L, vidx);
    if (vt == LUA_TNUMBER) {
        mgv_fill_(dst, (float)lua_tonumber(L, vidx));
        return;
    }
    mgv_tensor *src = lmgv_test(L, vidx);
    if (src) {
        copy_into(L, dst, src, op);
        return;
    }
    if (vt == LUA_TTABLE) {
        lua_pushcfunction(L, l_tensor);
        lua_pushvalue(L, vidx);
        lua_call(L, 1, 1);
        copy_into(L, dst, lmgv_check(L, -1), op);
        lua_pop(L, 1);
        return;
    }
    luaL_error(L, "%s: cannot assign a %s to a tensor (number, table or tensor expected)", op,
               luaL_typename(L, vidx));
}

static int t_newindex(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    int kt = lua_type(L, 2);
    if (kt == LUA_TNUMBER) {
        lua_Integer i = int_key(L);
        if (t->ndim == 0)
            shape_error(L, "index: a 0-d tensor %s has no elements to index; use fill()", t);
        int64_t k = lmgv_index(L, 2, i, t->shape[0], "index");
        lmgv_check_writable(L, t, "assignment");
        if (t->ndim == 1 && lua_type(L, 3) == LUA_TNUMBER) {
            t->storage->data[t->offset + k * t->stride[0]] = (float)lua_tonumber(L, 3);
            return 0;
        }
        int prev = mgv_set_grad_enabled(0);
        mgv_tensor *v = mgv_select(t, 0, k);
        mgv_set_grad_enabled(prev);
        if (!v) return lmgv_error(L);
        lmgv_push(L, v);    /* anchored, so an error below cannot leak it */
        assign(L, v, 3, "assignment");
        return 0;
    }
    if (kt == LUA_TSTRING) {
        const char *k = lua_tostring(L, 2);
        if (strcmp(k, "requires_grad") == 0) {
            if (mgv_set_requires_grad(t, lua_toboolean(L, 3)) < 0) return lmgv_error(L);
            return 0;
        }
        if (strcmp(k, "grad") == 0) {
            mgv_tensor *g = lmgv_opt(L, 3);
            if (g && !mgv_same_shape(g, t)) {
                char a[128], b[128];
                return luaL_error(L, "grad: gradient %s does not match tensor %s",
                                  mgv_shape_str(g, a, sizeof a), mgv_shape_str(t, b, sizeof b));
            }
            mgv_release(t->grad);
            t->grad = g ? mgv_retain(g) : NULL;
            return 0;
        }
        return luaL_error(L, "cannot set field '%s' of a tensor (settable: requires_grad, grad)",
                          k);
    }
    return luaL_error(L, "cannot index a tensor with a %s", luaL_typename(L, 2));
}

static int t_len(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    if (t->ndim == 0) shape_error(L, "#: a 0-d tensor %s has no length", t);
    lua_pushinteger(L, (lua_Integer)t->shape[0]);
    return 1;
}

/* ------------------------------------------------------------------------ */
/* methods: geometry, elements, conversion                                   */
/* ------------------------------------------------------------------------ */

static int m_shape(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, (lua_Integer)t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* t:size() -> shape table; t:size(axis) -> that size */
static int m_size(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    if (lua_isnoneornil(L, 2)) return m_shape(L);
    int a = lmgv_axis(L, 2, t->ndim);
    lua_pushinteger(L, (lua_Integer)t->shape[a]);
    return 1;
}

static int m_dim(lua_State *L)
{
    lua_pushinteger(L, lmgv_check(L, 1)->ndim);
    return 1;
}

static int m_numel(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)mgv_numel(lmgv_check(L, 1)));
    return 1;
}

static int m_is_contiguous(lua_State *L)
{
    lua_pushboolean(L, mgv_is_contiguous(lmgv_check(L, 1)));
    return 1;
}

/* Storage offset of the element at the 1-based indices in args first.. */
static int64_t element_offset(lua_State *L, mgv_tensor *t, int first, const char *op)
{
    int n = lua_gettop(L) - first + 1;
    if (n < 0) n = 0;
    if (n != t->ndim) {
        char s[128];
        luaL_error(L, "%s: %d indices for a tensor of shape %s (%d needed)", op, n,
                   mgv_shape_str(t, s, sizeof s), t->ndim);
    }
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        lua_Integer i = luaL_checkinteger(L, first + d);
        off += lmgv_index(L, first + d, i, t->shape[d], op) * t->stride[d];
    }
    return off;
}

static int m_get(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    lua_pushnumber(L, t->storage->data[element_offset(L, t, 2, "get")]);
    return 1;
}

static int m_set(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    float v = (float)luaL_checknumber(L, 2);
    int64_t off = element_offset(L, t, 3, "set");
    lmgv_check_writable(L, t, "set");
    t->storage->data[off] = v;
    lua_settop(L, 1);
    return 1;
}

static int m_item(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    if (mgv_numel(t) != 1) {
        char s[128];
        return luaL_error(L, "item: tensor %s has %I elements, not 1", mgv_shape_str(t, s, sizeof s),
                          (lua_Integer)mgv_numel(t));
    }
    lua_pushnumber(L, mgv_get_flat(t, 0));
    return 1;
}

static void push_nested(lua_State *L, const mgv_tensor *t, int d, int64_t off)
{
    if (d == t->ndim) {
        lua_pushnumber(L, t->storage->data[off]);
        return;
    }
    luaL_checkstack(L, 3, "totable");
    int64_t n = t->shape[d];
    lua_createtable(L, n < (1 << 30) ? (int)n : 0, 0);
    for (int64_t i = 0; i < n; i++) {
        push_nested(L, t, d + 1, off + i * t->stride[d]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
        if ((i & 0xffff) == 0xffff && mgv_interrupted()) luaL_error(L, "totable: interrupted");
    }
}

static int m_totable(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    push_nested(L, t, 0, t->offset);
    return 1;
}

/* A copy; differentiable (recorded) when t requires grad in grad mode. */
static int m_clone(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_needs_grad(1, &t) ? mgv_scale(t, 1.0f) : mgv_clone_data(t);
    lmgv_done(L, u);
    return 1;
}

static int m_detach(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_detach(t);
    lmgv_done(L, u);
    return 1;
}

static int m_fill(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    float v = (float)luaL_checknumber(L, 2);
    lmgv_check_writable(L, t, "fill");
    mgv_fill_(t, v);
    lua_settop(L, 1);
    return 1;
}

/* t:copy(src): src a tensor (broadcast to t), a nested table or a number. */
static int m_copy(lua_State *L)
{
    mgv_tensor *t = lmgv_check(L, 1);
    luaL_checkany(L, 2);
    lmgv_check_writable(L, t, "copy");
    assign(L, t, 2, "copy");
    lua_settop(L, 1);
    return 1;
}

/* t:uniform_(lo = 0, hi = 1), t:normal_(mean = 0, std = 1): in-place random
 * fill from the global rng. */
static int random_fill(lua_State *L, const char *op,
                       void (*fill)(mgv_tensor *, mgv_rng *, float, float))
{
    mgv_tensor *t = lmgv_check(L, 1);
    float a = (float)luaL_optnumber(L, 2, 0), b = (float)luaL_optnumber(L, 3, 1);
    lmgv_check_writable(L, t, op);
    fill(t, NULL, a, b);
    lua_settop(L, 1);
    return 1;
}

static int m_uniform_(lua_State *L) { return random_fill(L, "uniform_", mgv_fill_uniform_); }
static int m_normal_(lua_State *L) { return random_fill(L, "normal_", mgv_fill_normal_); }

/* ------------------------------------------------------------------------ */
/* registration                                                              */
/* ------------------------------------------------------------------------ */

static const luaL_Reg tensor_methods[] = {
    {"shape", m_shape},
    {"size", m_size},
    {"dim", m_dim},
    {"numel", m_numel},
    {"is_contiguous", m_is_contiguous},
    {"get", m_get},
    {"set", m_set},
    {"item", m_item},
    {"totable", m_totable},
    {"clone", m_clone},
    {"detach", m_detach},
    {"fill", m_fill},
    {"copy", m_copy},
    {"uniform_", m_uniform_},
    {"normal_", m_normal_},
    {"free", t_gc},   /* t:free() releases the storage now, as the collector would */
    {NULL, NULL},
};

static const luaL_Reg module_funcs[] = {
    {"tensor", l_tensor},
    {"zeros", l_zeros},
    {"ones", l_ones},
    {"full", l_full},
    {"rand", l_rand},
    {"randn", l_randn},
    {"arange", l_arange},
    {"seed", l_seed},
    {"is_tensor", l_is_tensor},
    {"rss", l_rss},
    {"memory", l_memory},
    {"set_memory_limit", l_set_memory_limit},
    {NULL, NULL},
};

void lmgv_open_tensor(lua_State *L, int module)
{
    /* mgv.Tensor: the methods table (users may add methods to it) */
    lua_newtable(L);
    luaL_setfuncs(L, tensor_methods, 0);
    int methods = lua_gettop(L);
    lua_pushvalue(L, methods);
    lua_setfield(L, module, "Tensor");

    luaL_newmetatable(L, LMGV_TENSOR);
    lua_pushcfunction(L, t_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, t_gc);
    lua_setfield(L, -2, "__close");
    lua_pushvalue(L, methods);
    lua_pushcclosure(L, t_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, t_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, t_len);
    lua_setfield(L, -2, "__len");
    lua_pop(L, 2);

    lua_pushvalue(L, module);
    luaL_setfuncs(L, module_funcs, 0);
    lua_pop(L, 1);
}
