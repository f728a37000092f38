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

static json_t *to_json(lua_State *L, int idx, int depth, json_t *pending);

/*
 * Lua errors (a cycle, a bad key, invalid UTF-8, a freed tensor, memory)
 * can be raised in the middle of a conversion. So that they leak nothing,
 * every jansson value made is owned by one `pending` array, anchored in a
 * userdata box whose __gc releases it; containers hold extra references to
 * their members. The box also anchors a decoded document while it is being
 * turned into Lua values.
 */
#define JSON_BOX "mgv.json.box"

static int box_gc(lua_State *L)
{
    json_t **b = luaL_checkudata(L, 1, JSON_BOX);
    json_decref(*b);
    *b = NULL;
    return 0;
}

/* Pushes a box owning j (j may be NULL: no box content yet). */
static json_t **push_box(lua_State *L, json_t *j)
{
    json_t **b = lua_newuserdatauv(L, sizeof *b, 0);
    *b = j;
    if (luaL_newmetatable(L, JSON_BOX)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

/* v, now owned by pending (raises when v is NULL: out of memory) */
static json_t *owned(lua_State *L, json_t *pending, json_t *v)
{
    if (!v || json_array_append_new(pending, v) < 0) luaL_error(L, "json.encode: out of memory");
    return v;
}

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

static json_t *to_json(lua_State *L, int idx, int depth, json_t *pending)
{
    idx = lua_absindex(L, idx);
    if (depth > 200) luaL_error(L, "json.encode: nesting deeper than 200 (a cycle?)");
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
    case LUA_TNONE:
        return owned(L, pending, json_null());
    case LUA_TBOOLEAN:
        return owned(L, pending, json_boolean(lua_toboolean(L, idx)));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return owned(L, pending, json_integer((json_int_t)lua_tointeger(L, idx)));
        {
            double v = lua_tonumber(L, idx);   /* JSON has no NaN or inf */
            return owned(L, pending, isfinite(v) ? json_real(v) : json_null());
        }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *j = json_stringn(s, len);
        if (!j) luaL_error(L, "json.encode: a string is not valid UTF-8");
        return owned(L, pending, j);
    }
    case LUA_TTABLE: {
        size_t n;
        luaL_checkstack(L, 4, "json.encode");
        if (is_array(L, idx, &n)) {
            json_t *a = owned(L, pending, json_array());
            for (size_t i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, (lua_Integer)i);
                if (json_array_append(a, to_json(L, -1, depth + 1, pending)) < 0)
                    luaL_error(L, "json.encode: out of memory");
                lua_pop(L, 1);
            }
            return a;
        }
        json_t *o = owned(L, pending, json_object());
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pushvalue(L, -2);
            const char *k = lua_tostring(L, -1);   /* numbers become string keys */
            if (!k) luaL_error(L, "json.encode: a table key of type %s", luaL_typename(L, -3));
            if (json_object_set(o, k, to_json(L, -2, depth + 1, pending)) < 0)
                luaL_error(L, "json.encode: a key is not valid UTF-8 (or out of memory)");
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
            json_t *j = to_json(L, -1, depth + 1, pending);
            lua_pop(L, 1);
            return j;
        }
        return owned(L, pending, json_null());
    }
    }
}

static int l_encode(lua_State *L)
{
    int pretty = lua_toboolean(L, 2);
    lua_settop(L, 1);
    json_t **box = push_box(L, json_array());
    if (!*box) return luaL_error(L, "json.encode: out of memory");
    json_t *j = to_json(L, 1, 0, *box);
    int flags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(10) | JSON_COMPACT;
    if (pretty) flags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(10) | JSON_INDENT(2);
    char *s = json_dumps(j, flags);
    json_decref(*box);   /* frees everything now rather than at collection */
    *box = NULL;
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
    json_t **box = push_box(L, j);   /* freed even if push_json raises */
    push_json(L, j);
    json_decref(*box);
    *box = NULL;
    return 1;
}

void lmgv_open_json(lua_State *L, int module)
{
    static const luaL_Reg funcs[] = {{"encode", l_encode}, {"decode", l_decode}, {NULL, NULL}};
    lmgv_new_lib(L, module, "json", funcs);
}
