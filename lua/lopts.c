/*
 * lopts.c — option tables for the Lua bindings: mgv.model{hidden = 64},
 * mgv.optim.adam(params, {lr = 1e-3}), ... (see lmgv.h).
 *
 * An options argument may be absent (nil/none: every option takes its
 * default). Unknown keys and values of the wrong type are errors that name
 * the function, so that a typo never passes silently.
 */
#define LMGV_INTERNAL
#include "lmgv.h"

#include <limits.h>

#include <string.h>

void lmgv_check_options(lua_State *L, int t, const char *const *known, const char *op)
{
    if (lua_isnoneornil(L, t)) return;
    luaL_checktype(L, t, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (int i = 0; known[i] && !ok; i++) ok = strcmp(lua_tostring(L, -1), known[i]) == 0;
        if (!ok) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (int i = 0; known[i]; i++) {
                if (i) luaL_addstring(&b, ", ");
                luaL_addstring(&b, known[i]);
            }
            luaL_pushresult(&b);
            const char *list = lua_tostring(L, -1);
            const char *key = luaL_tolstring(L, -2, NULL);
            luaL_error(L, "%s: unknown option '%s' (known: %s)", op, key, list);
        }
    }
}

/* Pushes option k of the options at t and returns 1, or returns 0 (pushing
 * nothing) when it is absent. */
static int push_option(lua_State *L, int t, const char *k)
{
    if (lua_isnoneornil(L, t)) return 0;
    if (lua_getfield(L, t, k) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    return 0;
}

/* Raises the error for the option value on the top of the stack. */
static void bad_type(lua_State *L, const char *op, const char *k, const char *want)
{
    luaL_error(L, "%s: option '%s' must be %s, got %s", op, k, want, luaL_typename(L, -1));
}

int lmgv_has_option(lua_State *L, int t, const char *k)
{
    if (!push_option(L, t, k)) return 0;
    lua_pop(L, 1);
    return 1;
}

int lmgv_opt_int(lua_State *L, int t, const char *k, int def, const char *op)
{
    if (!push_option(L, t, k)) return def;
    int isnum;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    if (!isnum) bad_type(L, op, k, "an integer");
    if (v < -INT_MAX || v > INT_MAX)   /* not truncated to something else */
        luaL_error(L, "%s: option '%s' is out of range (%I)", op, k, v);
    lua_pop(L, 1);
    return (int)v;
}

double lmgv_opt_number(lua_State *L, int t, const char *k, double def, const char *op)
{
    if (!push_option(L, t, k)) return def;
    int isnum;
    lua_Number v = lua_tonumberx(L, -1, &isnum);
    if (!isnum) bad_type(L, op, k, "a number");
    lua_pop(L, 1);
    return (double)v;
}

int lmgv_opt_bool(lua_State *L, int t, const char *k, int def)
{
    if (!push_option(L, t, k)) return def;
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

const char *lmgv_opt_string(lua_State *L, int t, const char *k, const char *def, const char *op)
{
    if (!push_option(L, t, k)) return def;
    if (lua_type(L, -1) != LUA_TSTRING) bad_type(L, op, k, "a string");
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1);   /* the options table keeps the string alive */
    return v;
}
