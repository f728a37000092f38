/*
 * loptim.c — optimisers ("mgv.Optim" userdata: mgv.optim.sgd / adam / adamw,
 * mgv.optim.clip_grad_norm) and checkpoints (mgv.save / mgv.load, safetensors
 * files) for Lua.
 *
 * An optimiser object owns its engine state; hyperparameters are fields
 * (o.lr = 1e-4 changes the learning rate for the next step).
 */
#define LMGV_INTERNAL
#include "lmgv.h"

#include <stdlib.h>
#include <string.h>

typedef struct lmgv_optim {
    mgv_optim *o;
} lmgv_optim;

static const char *const kind_names[] = {"sgd", "adam", "adamw"};

/*
 * Parameters from a Lua array of tensors, or from a table name -> tensor
 * (taken in sorted name order, so that the order is reproducible). The
 * pointer array is a scratch userdata left on the stack.
 */
static mgv_tensor **param_list(lua_State *L, int arg, int *n, const char *op)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    int count = (int)lua_rawlen(L, arg);
    if (count == 0) {
        /* a dictionary: sort the keys (strings) with table.sort */
        lua_newtable(L);
        int keys = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, arg)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "%s: parameters must be an array of tensors or a table name -> "
                              "tensor", op);
            lua_pushvalue(L, -1);
            lua_rawseti(L, keys, ++count);
        }
        lua_getglobal(L, "table");
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_getfield(L, -1, "sort");
            lua_pushvalue(L, keys);
            lua_call(L, 1, 0);
        }
        lua_pop(L, 1);
        for (int i = 1; i <= count; i++) {   /* keys[i] <- params[keys[i]] */
            lua_rawgeti(L, keys, i);
            lua_rawget(L, arg);
            lua_rawseti(L, keys, i);
        }
        lua_replace(L, arg);   /* work on the sorted array from now on */
    }
    if (count == 0) luaL_error(L, "%s: empty parameter list", op);
    mgv_tensor **ps = lua_newuserdatauv(L, (size_t)count * sizeof *ps, 0);
    for (int i = 0; i < count; i++) {
        lua_rawgeti(L, arg, i + 1);
        ps[i] = lmgv_test(L, -1);
        if (!ps[i])
            luaL_error(L, "%s: parameter %d is a %s, expected a tensor", op, i + 1,
                       luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    *n = count;
    return ps;
}

static lmgv_optim *optim_slot(lua_State *L)
{
    lmgv_optim *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->o = NULL;
    luaL_setmetatable(L, LMGV_OPTIM);
    return u;
}

static void optim_done(lua_State *L, lmgv_optim *u)
{
    if (!u->o) lmgv_error(L);
}

static int l_sgd(lua_State *L)
{
    static const char *const known[] = {"lr", "momentum", "weight_decay", NULL};
    const char *op = "optim.sgd";
    int n;
    lmgv_check_options(L, 2, known, op);
    if (!lmgv_has_option(L, 2, "lr")) return luaL_error(L, "%s: option 'lr' is required", op);
    double lr = lmgv_opt_number(L, 2, "lr", 0, op);
    double mom = lmgv_opt_number(L, 2, "momentum", 0, op);
    double wd = lmgv_opt_number(L, 2, "weight_decay", 0, op);
    mgv_tensor **ps = param_list(L, 1, &n, op);
    lmgv_optim *u = optim_slot(L);
    u->o = mgv_sgd_new(n, ps, lr, mom, wd);
    optim_done(L, u);
    return 1;
}

/* Reads {beta1, beta2} from the table at idx. */
static void read_betas(lua_State *L, int idx, double *b1, double *b2, const char *op)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE || lua_rawlen(L, idx) != 2)
        luaL_error(L, "%s: betas must be a table {beta1, beta2}", op);
    lua_rawgeti(L, idx, 1);
    lua_rawgeti(L, idx, 2);
    if (lua_type(L, -2) != LUA_TNUMBER || lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "%s: betas must hold two numbers", op);
    *b1 = lua_tonumber(L, -2);
    *b2 = lua_tonumber(L, -1);
    lua_pop(L, 2);
}

static void betas(lua_State *L, int opts, double *b1, double *b2, const char *op)
{
    if (lua_isnoneornil(L, opts)) return;
    lua_getfield(L, opts, "betas");
    if (!lua_isnil(L, -1)) read_betas(L, -1, b1, b2, op);
    lua_pop(L, 1);
}

static int adam(lua_State *L, int decoupled)
{
    static const char *const known[] = {"lr", "betas", "eps", "weight_decay", NULL};
    const char *op = decoupled ? "optim.adamw" : "optim.adam";
    int n;
    lmgv_check_options(L, 2, known, op);
    double lr = lmgv_opt_number(L, 2, "lr", 1e-3, op);
    double eps = lmgv_opt_number(L, 2, "eps", 1e-8, op);
    double wd = lmgv_opt_number(L, 2, "weight_decay", decoupled ? 1e-2 : 0, op);
    double b1 = 0.9, b2 = 0.999;
    betas(L, 2, &b1, &b2, op);
    mgv_tensor **ps = param_list(L, 1, &n, op);
    lmgv_optim *u = optim_slot(L);
    u->o = mgv_adam_new(n, ps, lr, b1, b2, eps, wd, decoupled);
    optim_done(L, u);
    return 1;
}

static int l_adam(lua_State *L) { return adam(L, 0); }
static int l_adamw(lua_State *L) { return adam(L, 1); }

mgv_optim *lmgv_check_optim(lua_State *L, int arg)
{
    lmgv_optim *u = luaL_checkudata(L, arg, LMGV_OPTIM);
    if (!u->o) luaL_argerror(L, arg, "optimiser has been freed");
    return u->o;
}

static int o_step(lua_State *L)
{
    if (mgv_optim_step(lmgv_check_optim(L, 1)) < 0) return lmgv_error(L);
    lmgv_account(L);
    return 0;
}

static int o_zero_grad(lua_State *L)
{
    mgv_optim_zero_grad(lmgv_check_optim(L, 1));
    return 0;
}

/* o:params() -> a Lua array of the parameter tensors */
static int o_params(lua_State *L)
{
    mgv_optim *o = lmgv_check_optim(L, 1);
    lua_createtable(L, o->n, 0);
    for (int i = 0; i < o->n; i++) {
        lmgv_push(L, mgv_retain(o->params[i]));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int o_gc(lua_State *L)
{
    lmgv_optim *u = luaL_checkudata(L, 1, LMGV_OPTIM);
    mgv_optim_free(u->o);
    u->o = NULL;
    return 0;
}

static int o_tostring(lua_State *L)
{
    lmgv_optim *u = luaL_checkudata(L, 1, LMGV_OPTIM);
    if (!u->o) {
        lua_pushliteral(L, "mgv.optim (freed)");
        return 1;
    }
    mgv_optim *o = u->o;
    if (o->kind == MGV_OPTIM_SGD)
        lua_pushfstring(L, "mgv.optim.sgd(lr=%f, momentum=%f, weight_decay=%f; %d params)", o->lr,
                        o->momentum, o->weight_decay, o->n);
    else
        lua_pushfstring(L, "mgv.optim.%s(lr=%f, betas={%f, %f}, eps=%f, weight_decay=%f; "
                           "%d params, %I steps)",
                        kind_names[o->kind], o->lr, o->beta1, o->beta2, o->eps, o->weight_decay,
                        o->n, (lua_Integer)o->t);
    return 1;
}

static double *hyper_field(mgv_optim *o, const char *k)
{
    if (strcmp(k, "lr") == 0) return &o->lr;
    if (strcmp(k, "momentum") == 0) return &o->momentum;
    if (strcmp(k, "weight_decay") == 0) return &o->weight_decay;
    if (strcmp(k, "eps") == 0) return &o->eps;
    if (strcmp(k, "beta1") == 0) return &o->beta1;
    if (strcmp(k, "beta2") == 0) return &o->beta2;
    return NULL;
}

static int o_index(lua_State *L)
{
    mgv_optim *o = lmgv_check_optim(L, 1);
    const char *k = luaL_checkstring(L, 2);
    double *f = hyper_field(o, k);
    if (f) {
        lua_pushnumber(L, *f);
    } else if (strcmp(k, "betas") == 0) {
        lua_createtable(L, 2, 0);
        lua_pushnumber(L, o->beta1);
        lua_rawseti(L, -2, 1);
        lua_pushnumber(L, o->beta2);
        lua_rawseti(L, -2, 2);
    } else if (strcmp(k, "steps") == 0) {
        lua_pushinteger(L, (lua_Integer)o->t);
    } else if (strcmp(k, "kind") == 0) {
        lua_pushstring(L, kind_names[o->kind]);
    } else if (strcmp(k, "n") == 0) {
        lua_pushinteger(L, o->n);
    } else {
        luaL_getmetafield(L, 1, "__methods");
        lua_pushvalue(L, 2);
        lua_rawget(L, -2);
    }
    return 1;
}

static int o_newindex(lua_State *L)
{
    mgv_optim *o = lmgv_check_optim(L, 1);
    const char *k = luaL_checkstring(L, 2);
    double *f = hyper_field(o, k);
    if (f) {
        *f = luaL_checknumber(L, 3);
        return 0;
    }
    if (strcmp(k, "betas") == 0) {
        read_betas(L, 3, &o->beta1, &o->beta2, "optim");
        return 0;
    }
    return luaL_error(L, "optim: cannot set field '%s' (settable: lr, momentum, weight_decay, "
                         "eps, beta1, beta2, betas)", k);
}

/* mgv.optim.clip_grad_norm(params, max_norm) -> norm before clipping */
static int l_clip_grad_norm(lua_State *L)
{
    int n;
    double max_norm = luaL_checknumber(L, 2);
    mgv_tensor **ps = param_list(L, 1, &n, "clip_grad_norm");
    double norm = mgv_clip_grad_norm(n, ps, max_norm);
    lua_pushnumber(L, norm);
    return 1;
}

/* ------------------------------------------------------------------------ */
/* checkpoints                                                               */
/* ------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* mgv.save(path, {name = tensor, ...} [, {key = string}]) */
static int l_save(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    /* names (strings anchored as keys of the argument table) */
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        n++;
    }
    const char **names = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *names, 0);
    mgv_tensor **ts = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *ts, 0);
    int i = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return luaL_error(L, "save: tensor names must be strings, got a %s key",
                              luaL_typename(L, -2));
        if (!lmgv_test(L, -1))
            return luaL_error(L, "save: '%s' is a %s, expected a tensor", lua_tostring(L, -2),
                              luaL_typename(L, -1));
        names[i++] = lua_tostring(L, -2);
        lua_pop(L, 1);
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (i = 0; i < n; i++) {
        lua_getfield(L, 2, names[i]);
        ts[i] = lmgv_test(L, -1);
        lua_pop(L, 1);
    }
    /* metadata: string (or number) values, kept in a table of strings */
    int nm = 0;
    const char **keys = NULL, **vals = NULL;
    if (!lua_isnil(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            lua_pop(L, 1);
            nm++;
        }
        keys = lua_newuserdatauv(L, (size_t)(nm ? nm : 1) * sizeof *keys, 0);
        vals = lua_newuserdatauv(L, (size_t)(nm ? nm : 1) * sizeof *vals, 0);
        lua_newtable(L);   /* anchors converted strings */
        int anchor = lua_gettop(L);
        i = 0;
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            int vt = lua_type(L, -1);
            if (lua_type(L, -2) != LUA_TSTRING || (vt != LUA_TSTRING && vt != LUA_TNUMBER))
                return luaL_error(L, "save: metadata must map string keys to strings");
            keys[i] = lua_tostring(L, -2);
            lua_pushvalue(L, -1);
            vals[i] = lua_tostring(L, -1);   /* converts a number copy, not the key */
            lua_rawseti(L, anchor, i + 1);
            i++;
            lua_pop(L, 1);
        }
    }
    if (mgv_safetensors_save(path, n, names, ts, nm, keys, vals) < 0) return lmgv_error(L);
    return 0;
}

/* mgv.load(path) -> {name = tensor}, {key = string} */
static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mgv_st_file *f = mgv_safetensors_load(path);
    if (!f) return lmgv_error(L);
    lua_createtable(L, 0, f->n);
    lua_createtable(L, 0, f->n_meta);
    for (int i = 0; i < f->n_meta; i++) {
        lua_pushstring(L, f->meta_values[i]);
        lua_setfield(L, -2, f->meta_keys[i]);
    }
    /* move every tensor reference into a userdata before anything can raise
     * twice: the file struct is freed right after */
    luaL_checkstack(L, f->n + 4, "load");
    for (int i = 0; i < f->n; i++) {
        lmgv_tensor *u = lua_newuserdatauv(L, sizeof *u, 0);
        u->t = f->entries[i].tensor;
        f->entries[i].tensor = NULL;
        luaL_setmetatable(L, LMGV_TENSOR);
        lua_setfield(L, -3, f->entries[i].name);
    }
    mgv_st_free(f);
    lmgv_account(L);
    return 2;
}

static const luaL_Reg optim_methods[] = {
    {"step", o_step},
    {"zero_grad", o_zero_grad},
    {"params", o_params},
    {NULL, NULL},
};

static const luaL_Reg optim_funcs[] = {
    {"sgd", l_sgd},
    {"adam", l_adam},
    {"adamw", l_adamw},
    {"clip_grad_norm", l_clip_grad_norm},
    {NULL, NULL},
};

void lmgv_open_optim(lua_State *L, int module)
{
    lmgv_new_class(L, LMGV_OPTIM, optim_methods, o_gc, o_tostring, o_index);
    lmgv_set_metamethod(L, LMGV_OPTIM, "__newindex", o_newindex);

    lua_newtable(L);
    luaL_setfuncs(L, optim_funcs, 0);
    lua_setfield(L, module, "optim");
    lua_pushcfunction(L, l_save);
    lua_setfield(L, module, "save");
    lua_pushcfunction(L, l_load);
    lua_setfield(L, module, "load");
}
