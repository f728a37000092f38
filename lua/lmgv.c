/*
 * lmgv.c — the module entry point: luaopen_mgv builds the `mgv` table from
 * the C parts (ltensor.c, lops.c, loptim.c, ldata.c, lmodel.c, lblocks.c, ljson.c, lplot.c,
 * lencoders.c, lhost.c; option tables in lopts.c) and then runs
 * the pure-Lua parts (the lua/ Lua files, embedded into the build as byte
 * arrays by lua/gen_embed.c).
 *
 * Each embedded chunk is called with (mgv, mgv.Tensor, the tensor metatable)
 * in file-name order and may add functions, set metamethods (__tostring is
 * Lua code in print.lua) and register help texts (help.lua).
 *
 * Also the small helpers the binding files share (option choices, progress
 * callbacks, result tables, class registration); see lmgv.h.
 */
#define LMGV_INTERNAL
#include "lmgv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/simd.h"

void lmgv_open_encoders(lua_State *L, int module);   /* lencoders.c: mgv.bert, mgv.vit, mgv.wordpiece */

int luaopen_mgv(lua_State *L)
{
    luaL_checkversion(L);
    if (mgv_simd_init() != 0) return luaL_error(L, "%s", mgv_last_error());   /* bad $MGV_SIMD */
    lua_newtable(L);
    int module = lua_gettop(L);
    lmgv_open_tensor(L, module);
    lmgv_open_ops(L, module);
    lmgv_open_optim(L, module);
    lmgv_open_model(L, module);
    lmgv_open_blocks(L, module);
    lmgv_open_json(L, module);
    lmgv_open_plot(L, module);
    lmgv_open_encoders(L, module);
    lmgv_open_host(L, module);
    lmgv_open_dist(L, module);
    lua_pushliteral(L, LMGV_VERSION);
    lua_setfield(L, module, "version");

    for (const lmgv_source *s = lmgv_sources; s->name; s++) {
        char chunkname[128];
        snprintf(chunkname, sizeof chunkname, "=[mgv]/%s.lua", s->name);
        if (luaL_loadbufferx(L, (const char *)s->text, s->len, chunkname, "t") != LUA_OK)
            return lua_error(L);
        lua_pushvalue(L, module);
        lua_getfield(L, module, "Tensor");
        luaL_getmetatable(L, LMGV_TENSOR);
        lua_call(L, 3, 0);
    }
    lua_settop(L, module);
    return 1;
}

/* ---- helpers shared by the bindings ---------------------------------------------- */

int lmgv_opt_choice(lua_State *L, int t, const char *k, const char *def,
                    const char *const *choices, const char *op)
{
    const char *v = lmgv_opt_string(L, t, k, def, op);
    int n = 0;
    for (; choices[n]; n++)
        if (strcmp(v, choices[n]) == 0) return n;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "%s: %s must be ", op, k);
    luaL_addvalue(&b);
    for (int i = 0; i < n; i++) {
        lua_pushfstring(L, "%s'%s'", i == 0 ? "" : i == n - 1 ? " or " : ", ", choices[i]);
        luaL_addvalue(&b);
    }
    lua_pushfstring(L, " (got '%s')", v);
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    return lua_error(L);
}

void lmgv_progress_call(const lmgv_progress *p, int64_t done, int64_t total)
{
    if (!p->fn) return;
    lua_pushvalue(p->L, p->fn);
    lua_pushinteger(p->L, (lua_Integer)done);
    lua_pushinteger(p->L, (lua_Integer)total);
    if (lua_pcall(p->L, 2, 0, 0) != LUA_OK) lua_pop(p->L, 1);
}

void lmgv_set_params(lua_State *L, const mgv_paramset *ps)
{
    for (int i = 0; i < ps->n; i++) {
        lmgv_push(L, mgv_retain(ps->tensors[i]));
        lua_setfield(L, -2, ps->names[i]);
    }
}

void lmgv_set_number(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

void lmgv_set_fields(lua_State *L, const lmgv_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (f[i].v == (lua_Integer)f[i].v && f[i].v >= 1) lua_pushinteger(L, (lua_Integer)f[i].v);
        else lua_pushnumber(L, f[i].v);
        lua_setfield(L, -2, f[i].k);
    }
}

void lmgv_push_ints(lua_State *L, const int *v, int n, int add)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, (lua_Integer)v[i] + add);
        lua_rawseti(L, -2, i + 1);
    }
}

void lmgv_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                    lua_CFunction tostring, lua_CFunction index)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    if (index) {
        lua_setfield(L, -2, "__methods");
        lua_pushcfunction(L, index);
    }
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__close");
    if (tostring) {
        lua_pushcfunction(L, tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}

void lmgv_set_metamethod(lua_State *L, const char *name, const char *event, lua_CFunction f)
{
    luaL_getmetatable(L, name);
    lua_pushcfunction(L, f);
    lua_setfield(L, -2, event);
    lua_pop(L, 1);
}

void lmgv_new_lib(lua_State *L, int module, const char *name, const luaL_Reg *funcs)
{
    lua_newtable(L);
    luaL_setfuncs(L, funcs, 0);
    lua_setfield(L, module, name);
}

/* os.tmpname in $TMPDIR (Lua's own always uses /tmp), so that whoever points
 * TMPDIR elsewhere finds every temporary file of a script there. */
static int os_tmpname(lua_State *L)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    char name[4096];
    if (snprintf(name, sizeof name, "%s/lua_XXXXXX", dir) >= (int)sizeof name)
        return luaL_error(L, "os.tmpname: TMPDIR is too long");
    int fd = mkstemp(name);
    if (fd < 0) return luaL_error(L, "os.tmpname: cannot create a file in %s", dir);
    close(fd);
    lua_pushstring(L, name);
    return 1;
}

void mgv_lua_open(lua_State *L)
{
    luaL_requiref(L, "mgv", luaopen_mgv, 1);
    lua_pop(L, 1);
    if (lua_getglobal(L, "os") == LUA_TTABLE) {
        lua_pushcfunction(L, os_tmpname);
        lua_setfield(L, -2, "tmpname");
    }
    lua_pop(L, 1);
}
