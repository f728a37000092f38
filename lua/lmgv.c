/*
 * lmgv.c — the module entry point: luaopen_mgv builds the `mgv` table from
 * the C parts (ltensor.c, lops.c, loptim.c, lmodel.c, ljson.c) and then runs
 * the pure-Lua parts (the lua/ Lua files, embedded into the build as byte
 * arrays by lua/gen_embed.c).
 *
 * Each embedded chunk is called with (mgv, mgv.Tensor, the tensor metatable)
 * in file-name order and may add functions, set metamethods (__tostring is
 * Lua code in print.lua) and register help texts (help.lua).
 */
#define LMGV_INTERNAL
#include "lmgv.h"

#include <stdio.h>
#include <string.h>

void lmgv_open_encoders(lua_State *L, int module);   /* lencoders.c: mgv.bert, mgv.vit, mgv.wordpiece */

int luaopen_mgv(lua_State *L)
{
    luaL_checkversion(L);
    lua_newtable(L);
    int module = lua_gettop(L);
    lmgv_open_tensor(L, module);
    lmgv_open_ops(L, module);
    lmgv_open_optim(L, module);
    lmgv_open_model(L, module);
    lmgv_open_json(L, module);
    lmgv_open_plot(L, module);
    lmgv_open_encoders(L, module);
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

void mgv_lua_open(lua_State *L)
{
    luaL_requiref(L, "mgv", luaopen_mgv, 1);
    lua_pop(L, 1);
}
