/*
 * lhost.c — the C pieces of the interactive host (see lhost.h), and two
 * functions host.lua needs from C: mgv._listdir (file-name completion) and
 * mgv._source (the text of an embedded chunk, for ??name).
 */
#define LMGV_INTERNAL
#include "lmgv.h"
#include "lhost.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>

#include "core/error.h"

static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

void lhost_interrupt(lua_State *L)
{
    mgv_request_interrupt();
    if (L) lua_sethook(L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/* The error text (or the object's __tostring) plus a traceback. */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
        else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int lhost_pcall(lua_State *L, int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    if (lua_gethook(L) == stop_hook) lua_sethook(L, NULL, 0, 0);   /* a stale Ctrl-C */
    mgv_clear_interrupt();
    int status = lua_pcall(L, narg, nres, base);
    if (lua_gethook(L) == stop_hook) lua_sethook(L, NULL, 0, 0);
    mgv_clear_interrupt();
    lua_remove(L, base);
    return status;
}

static const char HOST_KEY = 'h';   /* registry key: mgv._host at start-up */

int lhost_init(lua_State *L)
{
    lua_getglobal(L, "mgv");
    if (lua_istable(L, -1)) lua_getfield(L, -1, "_host");
    else lua_pushnil(L);
    int ok = lua_istable(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &HOST_KEY);
    lua_pop(L, 1);
    if (!ok) return -1;
    if (lhost_push(L, "install_globals")) lua_call(L, 0, 0);
    return 0;
}

int lhost_push(lua_State *L, const char *name)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &HOST_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    if (lua_isfunction(L, -1)) return 1;
    lua_pop(L, 1);
    return 0;
}

int lhost_call(lua_State *L, const char *name, int nargs, int nres)
{
    if (!lhost_push(L, name)) {
        lua_pop(L, nargs);
        return -1;
    }
    lua_insert(L, -1 - nargs);
    return lua_pcall(L, nargs, nres, 0);
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    luaL_error(L, "completion took too long");
}

int lhost_complete(lua_State *L, const char *text, size_t len)
{
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 8) || !lhost_push(L, "complete")) return -1;
    lua_pushlstring(L, text, len);
    lua_Hook user_hook = lua_gethook(L);   /* a debug.sethook of the user's survives */
    int user_mask = lua_gethookmask(L), user_count = lua_gethookcount(L);
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, 2000000);
    int status = lua_pcall(L, 1, 3, 0);
    lua_sethook(L, user_hook, user_mask, user_count);
    if (status != LUA_OK || !lua_istable(L, -2) || !lua_istable(L, -1)) {
        lua_settop(L, top);
        return -1;
    }
    return 0;
}

/* mgv._listdir(dir) -> the names in dir ("." when empty), directories
 * with a '/' after them; nil and a message when it cannot be read. */
static int l_listdir(lua_State *L)
{
    const char *dir = luaL_optstring(L, 1, "");
    if (!*dir) dir = ".";
    DIR *d = opendir(dir);
    if (!d) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot list %s", dir);
        return 2;
    }
    lua_newtable(L);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        const char *path = lua_pushfstring(L, "%s/%s", dir, e->d_name);
        struct stat st;
        int isdir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        lua_pop(L, 1);
        lua_pushstring(L, e->d_name);
        if (isdir) {
            lua_pushliteral(L, "/");
            lua_concat(L, 2);
        }
        lua_rawseti(L, -2, ++n);
    }
    closedir(d);
    return 1;
}

/* mgv._source(name) -> the text of the embedded chunk [mgv]/name.lua, or nil. */
static int l_source(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    for (const lmgv_source *s = lmgv_sources; s->name; s++)
        if (strcmp(s->name, name) == 0) {
            lua_pushlstring(L, (const char *)s->text, s->len);
            return 1;
        }
    luaL_pushfail(L);
    return 1;
}

void lmgv_open_host(lua_State *L, int module)
{
    lua_pushcfunction(L, l_listdir);
    lua_setfield(L, module, "_listdir");
    lua_pushcfunction(L, l_source);
    lua_setfield(L, module, "_source");
}
