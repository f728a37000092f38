/*
 * ljson.c — mgv.json.encode / mgv.json.decode on jansson.
 *
 * Lua tables whose keys are exactly 1..n become arrays (an empty table is
 * an empty array), other tables objects with string keys; nil and a
 * function become null. Cycles and nesting deeper than 200 are errors.
 */
#define LMGV_INTERNAL
#include "lmgv.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

static json_t *to_json(lua_State *L, int idx, int depth);

static int is_array(lua_State *L, int idx, size_t *n)
{
    size_t len = lua_rawlen(L, idx), count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return 0;
        }
    }
    *n = len;
    return count == len;
}

static json_t *to_json(lua_State *L, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    if (depth > 200) luaL_error(L, "json.encode: nesting deeper than 200 (a cycle?)");
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
    case LUA_TNONE:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return json_integer((json_int_t)lua_tointeger(L, idx));
        {
            double v = lua_tonumber(L, idx);
            return isfinite(v) ? json_real(v) : json_null();   /* JSON has no NaN or inf */
        }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *j = json_stringn(s, len);
        if (!j) luaL_error(L, "json.encode: a string is not valid UTF-8");
        return j;
    }
    case LUA_TTABLE: {
        size_t n;
        luaL_checkstack(L, 4, "json.encode");
        if (is_array(L, idx, &n)) {
            json_t *a = json_array();
            for (size_t i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, (lua_Integer)i);
                json_array_append_new(a, to_json(L, -1, depth + 1));
                lua_pop(L, 1);
            }
            return a;
        }
        json_t *o = json_object();
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pushvalue(L, -2);
            const char *k = lua_tostring(L, -1);   /* numbers become string keys */
            if (!k) {
                json_decref(o);
                luaL_error(L, "json.encode: a table key of type %s", luaL_typename(L, -3));
            }
            json_object_set_new(o, k, to_json(L, -2, depth + 1));
            lua_pop(L, 2);
        }
        return o;
    }
    default: {
        mgv_tensor *t = lmgv_test(L, idx);
        if (t) {   /* tensors become nested arrays through :totable() */
            lua_getfield(L, idx, "totable");
            lua_pushvalue(L, idx);
            lua_call(L, 1, 1);
            json_t *j = to_json(L, -1, depth + 1);
            lua_pop(L, 1);
            return j;
        }
        return json_null();
    }
    }
}

static int l_encode(lua_State *L)
{
    json_t *j = to_json(L, 1, 0);
    int flags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(10) | JSON_COMPACT;
    if (lua_toboolean(L, 2)) flags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(10) | JSON_INDENT(2);
    char *s = json_dumps(j, flags);
    json_decref(j);
    if (!s) return luaL_error(L, "json.encode: out of memory");
    lua_pushstring(L, s);
    free(s);
    return 1;
}

static void push_json(lua_State *L, json_t *j)
{
    luaL_checkstack(L, 4, "json.decode");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            push_json(L, v);
            lua_setfield(L, -2, k);
        }
        break;
    }
    case JSON_ARRAY: {
        lua_createtable(L, (int)json_array_size(j), 0);
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            push_json(L, v);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    default:
        lua_pushnil(L);
    }
}

static int l_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    json_error_t err;
    json_t *j = json_loadb(s, len, JSON_DECODE_ANY, &err);
    if (!j) return luaL_error(L, "json.decode: %s at line %d column %d", err.text, err.line, err.column);
    push_json(L, j);
    json_decref(j);
    return 1;
}

void lmgv_open_json(lua_State *L, int module)
{
    lua_newtable(L);
    lua_pushcfunction(L, l_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, l_decode);
    lua_setfield(L, -2, "decode");
    lua_setfield(L, module, "json");
}
