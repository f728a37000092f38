/*
 * host.c — the kernel's Lua state: the mgv module as the global `mgv`, as
 * in bin/mgv, plus display(x [, id]), update_display(id, x),
 * clear_output([wait]) and exit() / quit() (ask the front end to close).
 *
 * Output: the C streams stdout and stderr are replaced (before Lua opens its
 * io library) by glibc cookie streams that append to the IOPub buffers, so
 * print, io.write, io.stdout:write, io.stderr:write and any C code using
 * stdio stream into the notebook while the cell runs. io.read, io.lines
 * and io.stdin's methods ask the front end with input_request, one reply
 * per format, when the request allows stdin, and raise at once when it
 * does not; C code reading the stream stdin gets the replies as lines (or
 * end of file).
 *
 * Running a cell: as lua.c does, the cell is first tried as
 * "return <cell>"; else, when the last lines form an expression and the
 * lines before them are a complete chunk, as "<lines before> return <last
 * lines>" (so the last expression's value is the execute_result); else as
 * it is. Errors are caught with a message handler that adds a traceback and
 * become one `error` message. `?name` / `name?` shows help as a page.
 *
 * Interrupts: SIGINT (sent by the front end, or by the control thread for
 * an interrupt_request) sets a hook that raises "interrupted!" at the next
 * Lua instruction, and the engine's interrupt flag that long C loops poll —
 * lua.c's technique. The state survives: only the cell stops.
 *
 * Completion and inspection are small Lua functions (the chunk below) that
 * walk tables without calling user code. The chunk also replaces
 * mgv.progress (a terminal bar in bin/mgv) by a display line redrawn with
 * update_display, so training shows its progress live in a notebook.
 */
#include "kernel.h"

#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <openssl/evp.h>
#include <uuid/uuid.h>
#include <zmq.h>

#include "core/error.h"
#include "lmgv.h"

static lua_State *L;
static int helper_ref = LUA_NOREF;
static volatile sig_atomic_t busy;          /* a cell runs */
static volatile sig_atomic_t interrupted;   /* SIGINT arrived while busy */
static ksock *stdin_sock;
static kexec *cur;                          /* the cell that runs, for stdin */
static FILE *out_f, *err_f, *in_f;

int khost_busy(void)
{
    return busy;
}

/* ---- helper chunk (completion, inspection, help) ---------------------------- */

/* in pieces: ISO C promises string literals of 4095 characters only */
static const char *const helper_src[] = {
    "local G, M, display, update_display, now, cell = ...\n"
    "local type, next, rawget, tostring, pcall, ipairs = type, next, rawget, tostring, pcall, ipairs\n"
    "local getmt, getupvalue, getinfo, getlocal = debug.getmetatable, debug.getupvalue, debug.getinfo, debug.getlocal\n"
    "local sort, concat, min = table.sort, table.concat, math.min\n"
    "local K = {}\n"
    "local keywords = {}\n"
    "for w in ('and break do else elseif end false for function goto if in local nil not or repeat '\n"
    "  .. 'return then true until while'):gmatch('%a+') do keywords[w] = true end\n"
    "-- standard library functions, by identity, for a link to the manual\n"
    "local stdname = {}\n"
    "for _, lib in ipairs({'string', 'table', 'math', 'io', 'os', 'coroutine', 'utf8', 'debug', 'package'}) do\n"
    "  local t = rawget(G, lib)\n"
    "  if type(t) == 'table' then\n"
    "    for k, f in next, t do if type(f) == 'function' then stdname[f] = lib .. '.' .. k end end\n"
    "  end\n"
    "end\n"
    "for w in ('assert collectgarbage dofile error getmetatable ipairs load loadfile next pairs pcall '\n"
    "  .. 'print rawequal rawget rawlen rawset require select setmetatable tonumber tostring type '\n"
    "  .. 'xpcall warn'):gmatch('%a+') do\n"
    "  if type(rawget(G, w)) == 'function' then stdname[rawget(G, w)] = w end\n"
    "end\n"
    "local manual = 'https://www.lua.org/manual/5.4/manual.html#pdf-'\n"
    "\n"
    "-- the tables a value's fields come from: the value (a table), then its\n"
    "-- __index tables, or the methods table a C __index keeps as upvalue 1\n"
    "local function sources(v)\n"
    "  local out, seen = {}, {}\n"
    "  for _ = 1, 8 do\n"
    "    if v == nil or seen[v] then break end\n"
    "    seen[v] = true\n"
    "    if type(v) == 'table' then out[#out + 1] = v end\n"
    "    local mt = getmt(v)\n"
    "    local ix = type(mt) == 'table' and rawget(mt, '__index') or nil\n"
    "    if type(ix) == 'function' then\n"
    "      local ok, _, up = pcall(getupvalue, ix, 1)\n"
    "      ix = ok and type(up) == 'table' and up or nil\n"
    "    end\n"
    "    if type(ix) ~= 'table' then break end\n"
    "    v = ix\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "local function field(v, k)\n"
    "  for _, t in ipairs(sources(v)) do\n"
    "    local x = rawget(t, k)\n"
    "    if x ~= nil then return x end\n"
    "  end\n"
    "end\n"
    "local function resolve(name)\n"
    "  local v = G\n"
    "  for seg in name:gmatch('[^.:]+') do\n"
    "    if v == nil then return nil end\n"
    "    v = field(v, seg)\n"
    "  end\n"
    "  return v\n"
    "end\n"
    "local function ident(k) return type(k) == 'string' and k:match('^[%a_][%w_]*$') ~= nil end\n"
    "\n",
    "-- completion of the text before the cursor: start (0-based byte), matches, types\n"
    "function K.complete(text)\n"
    "  local line = text:match('[^\\n]*$')\n"
    "  local open, i = nil, 1\n"
    "  while i <= #line do   -- inside a string or a comment: nothing to complete\n"
    "    local c = line:sub(i, i)\n"
    "    if open then\n"
    "      if c == '\\\\' then i = i + 1 elseif c == open then open = nil end\n"
    "    elseif c == '\"' or c == \"'\" then open = c\n"
    "    elseif line:sub(i, i + 1) == '--' then return #text, {}, {}\n"
    "    end\n"
    "    i = i + 1\n"
    "  end\n"
    "  if open then return #text, {}, {} end\n"
    "  local chain = text:match('[%w_%.:]*$')\n"
    "  local start = #text - #chain\n"
    "  if chain:match('^[%d.:]') then return start, {}, {} end\n"
    "  local base, sep, partial = chain:match('^(.*)([.:])([%w_]*)$')\n"
    "  if not base then base, sep, partial = '', '', chain end\n"
    "  local pool = {}\n"
    "  if base == '' then\n"
    "    if sep ~= '' then return start, {}, {} end\n"
    "    for _, t in ipairs(sources(G)) do\n"
    "      for k, v in next, t do if ident(k) and pool[k] == nil then pool[k] = type(v) end end\n"
    "    end\n"
    "    for w in next, keywords do if pool[w] == nil then pool[w] = 'keyword' end end\n"
    "  else\n"
    "    if base:find(':') or not base:match('^[%a_][%w_.]*$') or base:find('..', 1, true)\n"
    "      or base:sub(-1) == '.' then return start, {}, {} end\n"
    "    local v = resolve(base)\n"
    "    if v == nil then return start, {}, {} end\n"
    "    for _, t in ipairs(sources(v)) do\n"
    "      for k, x in next, t do\n"
    "        if ident(k) and not k:match('^__') and (sep ~= ':' or type(x) == 'function')\n"
    "          and pool[k] == nil then pool[k] = type(x) end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  local names = {}\n"
    "  local private = partial:sub(1, 1) == '_'\n"
    "  for k in next, pool do\n"
    "    if k:sub(1, #partial) == partial and (private or k:sub(1, 1) ~= '_') then names[#names + 1] = k end\n"
    "  end\n"
    "  sort(names)\n"
    "  local matches, types = {}, {}\n"
    "  for n, k in ipairs(names) do matches[n] = base .. sep .. k; types[n] = pool[k] end\n"
    "  return start, matches, types\n"
    "end\n"
    "\n"
    "local function typename(v)\n"
    "  local mt = getmt(v)\n"
    "  local n = type(mt) == 'table' and rawget(mt, '__name')\n"
    "  return type(n) == 'string' and n or type(v)\n"
    "end\n"
    "local function show(v)\n"
    "  local ok, s = pcall(tostring, v)\n"
    "  if not ok or type(s) ~= 'string' then s = '<' .. typename(v) .. '>' end\n"
    "  if #s > 3000 then s = s:sub(1, 3000) .. '\\n...' end\n"
    "  return s\n"
    "end\n"
    "local function signature(name, f)\n"
    "  local info = getinfo(f, 'Su')\n"
    "  if not info or info.what == 'C' then return nil end\n"
    "  local params = {}\n"
    "  for i = 1, info.nparams do params[i] = getlocal(f, i) end\n"
    "  if info.isvararg then params[#params + 1] = '...' end\n"
    "  return name .. '(' .. concat(params, ', ') .. ')  -- defined at ' .. info.short_src .. ':'\n"
    "    .. info.linedefined\n"
    "end\n"
    "\n",
    "-- help text for a name (nil when it names nothing)\n"
    "function K.help(name)\n"
    "  name = name:gsub('%s+', '')\n"
    "  local doc\n"
    "  local function try(x)\n"
    "    if doc or not (M and M.doc) then return end\n"
    "    local ok, d = pcall(M.doc, x)\n"
    "    if ok and type(d) == 'string' then doc = d end\n"
    "  end\n"
    "  if name == '' then try(nil) return doc end\n"
    "  local v = resolve(name)\n"
    "  if type(v) == 'function' then try(v) end\n"
    "  try(name)\n"
    "  if v == nil then return doc end\n"
    "  local out = {}\n"
    "  if type(v) == 'function' then\n"
    "    local std = stdname[v]\n"
    "    if std then\n"
    "      out[#out + 1] = std .. ': a function of the Lua standard library\\n  ' .. manual .. std\n"
    "    else\n"
    "      local sig = signature(name, v)\n"
    "      if sig then out[#out + 1] = sig\n"
    "      elseif not doc then out[#out + 1] = name .. ': a built-in function' end\n"
    "    end\n"
    "  else\n"
    "    out[#out + 1] = name .. ': ' .. typename(v)\n"
    "    local mt = getmt(v)\n"
    "    if type(v) == 'table' and not (type(mt) == 'table' and rawget(mt, '__tostring')) then\n"
    "      local keys = {}\n"
    "      for k in next, v do if type(k) == 'string' then keys[#keys + 1] = k end end\n"
    "      sort(keys)\n"
    "      local shown = {}\n"
    "      for i = 1, min(#keys, 60) do shown[i] = keys[i] end\n"
    "      if #keys > 0 then out[#out + 1] = 'fields: ' .. concat(shown, ', ') .. (#keys > 60 and ', ...' or '') end\n"
    "      if #v > 0 then out[#out + 1] = 'length: ' .. #v end\n"
    "    else\n"
    "      out[#out + 1] = show(v)\n"
    "    end\n"
    "  end\n"
    "  if doc then out[#out + 1] = doc end\n"
    "  return concat(out, '\\n')\n"
    "end\n"
    "\n"
    "-- help for the name at a 0-based byte position (or the function being called)\n"
    "function K.inspect(code, pos)\n"
    "  local before, after = code:sub(1, pos), code:sub(pos + 1)\n"
    "  local name = before:match('[%w_%.:]*$') .. after:match('^[%w_]*')\n"
    "  if not name:match('[%a_]') then\n"
    "    local depth, i = 0, #before\n"
    "    while i > 0 do\n"
    "      local c = before:sub(i, i)\n"
    "      if c == ')' then depth = depth + 1\n"
    "      elseif c == '(' then if depth == 0 then break end depth = depth - 1 end\n"
    "      i = i - 1\n"
    "    end\n"
    "    name = i > 0 and before:sub(1, i - 1):match('[%w_%.:]*$') or ''\n"
    "  end\n"
    "  name = name:gsub('^[.:]+', ''):gsub('[.:]+$', '')\n"
    "  if name == '' or name:match('^%d') then return nil end\n"
    "  return K.help(name), name\n"
    "end\n"
    "\n"
    "-- progress bars (mgv.progress, used by mgv.train and mgv.predict): one\n"
    "-- line per cell, redrawn in place with update_display at most 4 times a second\n"
    "if type(M) == 'table' and M.progress then\n"
    "  local format, rep, floor = string.format, string.rep, math.floor\n"
    "  local shown   -- the display id of the cell's progress line, once shown\n"
    "  function M.progress(total, label)\n"
    "    local bar = { total = total, label = label or '', start = now(), last = -1 }\n"
    "    function bar:update(done, info)\n"
    "      local t = now()\n"
    "      if done < self.total and t - self.last < 0.25 then return end\n"
    "      self.last = t\n"
    "      local frac = self.total > 0 and done / self.total or 1\n"
    "      local filled = floor(frac * 24 + 0.5)\n"
    "      local elapsed = t - self.start\n"
    "      local rate = elapsed > 0 and done / elapsed or 0\n"
    "      local eta = rate > 0 and (self.total - done) / rate or 0\n"
    "      local text = format('%s [%s%s] %d/%d %.1f/s ETA %ds %s', self.label, rep('=', filled),\n"
    "        rep(' ', 24 - filled), done, self.total, rate, floor(eta + 0.5), info or '')\n"
    "      local id = 'mgv-progress-' .. cell()\n"
    "      if shown == id then update_display(id, text) else display(text, id) shown = id end\n"
    "    end\n"
    "    function bar:close() end\n"
    "    return bar\n"
    "  end\n"
    "end\n"
    "return K\n",
    NULL};

/* lua_load's reader over the pieces of helper_src */
static const char *next_piece(lua_State *L, void *ud, size_t *size)
{
    const char *const **p = ud;
    const char *s = **p;
    if (!s) return NULL;
    (*p)++;
    *size = strlen(s);
    return s;
}

/* ---- stdio ------------------------------------------------------------------- */

static ssize_t out_write(void *cookie, const char *buf, size_t n)
{
    kio_write((int)(intptr_t)cookie, buf, n);
    return (ssize_t)n;
}

static char *in_buf;
static size_t in_len, in_pos;

/* Sends input_request and waits for the reply. 1 with the reply and a '\n'
 * in in_buf; 0 at end of input (the reply "\x04": what jupyter console
 * sends on Ctrl-D, and what ipykernel takes as EOF); -1 when interrupted or
 * shutting down. */
static int request_input(void)
{
    kmsg m;
    int rc;
    kio_flush();
    while ((rc = kmsg_recv(stdin_sock, &m, ZMQ_DONTWAIT)) >= 0)   /* stale replies */
        if (rc == 1) kmsg_free(&m);
    kmsg_send(stdin_sock, "input_request", cur->request,
              json_pack("{s:s, s:b}", "prompt", "", "password", 0), NULL);
    for (;;) {
        if (interrupted || ks.shutdown) return -1;
        zmq_pollitem_t it = {stdin_sock->z, 0, ZMQ_POLLIN, 0};
        rc = zmq_poll(&it, 1, 100);
        if (rc < 0 && errno != EINTR) return -1;
        if (rc <= 0) continue;
        if (kmsg_recv(stdin_sock, &m, ZMQ_DONTWAIT) != 1) continue;
        if (strcmp(m.msg_type, "input_reply") == 0) {
            const char *v = kjson_str(m.content, "value", "");
            size_t n = strlen(v);
            int eof = strcmp(v, "\x04") == 0;
            free(in_buf);
            in_buf = eof ? NULL : malloc(n + 2);
            in_len = in_pos = 0;
            if (in_buf) {
                memcpy(in_buf, v, n);
                in_buf[n] = '\n';
                in_len = n + 1;
            }
            kmsg_free(&m);
            return eof ? 0 : in_buf ? 1 : -1;
        }
        kmsg_free(&m);
    }
}

/* The C stream stdin, for C code that reads it (debug.debug): replies as
 * lines; at end of file when the request does not allow input. */
static ssize_t in_read(void *cookie, char *buf, size_t size)
{
    (void)cookie;
    if (in_pos >= in_len) {
        if (!cur || !cur->allow_stdin || !stdin_sock) return 0;   /* end of file */
        int rc = request_input();
        if (rc <= 0) {
            if (!interrupted) return 0;
            errno = EINTR;
            return -1;
        }
    }
    size_t n = in_len - in_pos < size ? in_len - in_pos : size;
    memcpy(buf, in_buf + in_pos, n);
    in_pos += n;
    return (ssize_t)n;
}

/* ---- stdin for Lua ------------------------------------------------------------
 * io.read, io.lines (on the default input) and io.stdin's read and lines
 * ask the front end: each format reads one reply. "l" gives the reply,
 * "L" the reply and "\n", "n" the reply as a number (fail when it is not
 * one), "a" the reply ("" at end of input), a count k at most k bytes of
 * it. End of input (Ctrl-D in jupyter console) gives fail, as at the end
 * of a file. Without allow_stdin they raise at once: nothing would answer. */

static void stop_hook(lua_State *S, lua_Debug *ar);

/* Pushes the next reply, or nothing at end of input (returns 0). */
static int stdin_reply(lua_State *S)
{
    if (!cur || !stdin_sock) luaL_error(S, "no input: stdin is read only while a cell runs");
    if (!cur->allow_stdin)
        luaL_error(S, "no input: this front end does not take input requests (allow_stdin is false)");
    int rc = request_input();
    if (rc < 0) {
        if (interrupted) stop_hook(S, NULL);   /* raises "interrupted!" */
        luaL_error(S, ks.shutdown ? "no input: the kernel is shutting down" : "no input: out of memory");
    }
    if (rc == 0) return 0;
    lua_pushlstring(S, in_buf, in_len - 1);
    in_pos = in_len;   /* taken: not also read by the C stream */
    return 1;
}

/* io.read's formats from index first on, as liolib's g_read reads a file. */
static int stdin_read(lua_State *S, int first)
{
    int last = lua_gettop(S), n, ok = 1;
    if (first > last) {
        lua_pushliteral(S, "l");
        last++;
    }
    for (n = first; n <= last && ok; n++) {
        luaL_checkstack(S, 2, "too many arguments");
        if (lua_type(S, n) == LUA_TNUMBER) {
            lua_Integer k = luaL_checkinteger(S, n);
            size_t len;
            if (k <= 0) lua_pushliteral(S, "");   /* asks nothing */
            else if ((ok = stdin_reply(S)) && lua_tolstring(S, -1, &len) && len > (size_t)k) {
                lua_pushlstring(S, lua_tostring(S, -1), (size_t)k);
                lua_remove(S, -2);
            }
        } else {
            const char *p = luaL_checkstring(S, n);
            if (*p == '*') p++;   /* Lua 5.3's "*l" */
            if (!*p || !strchr("nlLa", *p)) return luaL_argerror(S, n, "invalid format");
            ok = stdin_reply(S);
            if (*p == 'a' && !ok) {
                lua_pushliteral(S, "");
                ok = 1;
            } else if (*p == 'L' && ok) {
                lua_pushliteral(S, "\n");
                lua_concat(S, 2);
            } else if (*p == 'n' && ok) {
                size_t len;
                const char *s = lua_tolstring(S, -1, &len);
                size_t used = lua_stringtonumber(S, s);
                ok = used == len + 1;   /* the whole reply (not up to a NUL in it) */
                if (ok) lua_remove(S, -2);
                else lua_pop(S, used ? 2 : 1);
            }
        }
        if (!ok) luaL_pushfail(S);
    }
    return n - first;
}

/* The iterator of io.lines() on stdin: upvalue 1 the count of formats,
 * then the formats. */
static int stdin_line(lua_State *S)
{
    int n = (int)lua_tointeger(S, lua_upvalueindex(1));
    lua_settop(S, 0);
    luaL_checkstack(S, n, "too many arguments");
    for (int i = 1; i <= n; i++) lua_pushvalue(S, lua_upvalueindex(1 + i));
    return stdin_read(S, 1);
}

/* Whether the call reads stdin: upvalue 2 is io.stdin, upvalue 3 the
 * original io.input (for io.read and io.lines) or nil (for the methods,
 * whose self is the file). */
static int reads_stdin(lua_State *S)
{
    if (lua_isnil(S, lua_upvalueindex(3))) return lua_rawequal(S, 1, lua_upvalueindex(2));
    lua_pushvalue(S, lua_upvalueindex(3));
    lua_call(S, 0, 1);
    int r = lua_rawequal(S, -1, lua_upvalueindex(2));
    lua_pop(S, 1);
    return r;
}

/* Calls the original function (upvalue 1) with the arguments. */
static int original(lua_State *S)
{
    int n = lua_gettop(S);
    lua_pushvalue(S, lua_upvalueindex(1));
    lua_insert(S, 1);
    lua_call(S, n, LUA_MULTRET);
    return lua_gettop(S);
}

static int l_read(lua_State *S)
{
    int method = lua_isnil(S, lua_upvalueindex(3));
    return reads_stdin(S) ? stdin_read(S, method ? 2 : 1) : original(S);
}

static int l_lines(lua_State *S)
{
    int method = lua_isnil(S, lua_upvalueindex(3));
    if ((!method && !lua_isnoneornil(S, 1)) || !reads_stdin(S)) return original(S);   /* a file */
    if (lua_gettop(S) == 0) lua_pushnil(S);
    int n = lua_gettop(S) - 1;
    luaL_argcheck(S, n <= 250, 252, "too many arguments");   /* liolib's MAXARGLINE */
    lua_pushinteger(S, n);
    lua_replace(S, 1);
    lua_pushcclosure(S, stdin_line, n + 1);
    return 1;
}

/* Wraps io.read, io.lines and the file methods read and lines. */
static void wrap_stdin(lua_State *S)
{
    lua_getglobal(S, "io");
    lua_getfield(S, -1, "stdin");
    lua_getfield(S, -2, "input");
    luaL_getmetatable(S, LUA_FILEHANDLE);
    lua_getfield(S, -1, "__index");   /* io, stdin, input, mt, methods */
    static const char *const names[] = {"read", "lines"};
    static const lua_CFunction fns[] = {l_read, l_lines};
    for (int i = 0; i < 2; i++) {
        lua_getfield(S, -5, names[i]);
        lua_pushvalue(S, -5);
        lua_pushvalue(S, -5);
        lua_pushcclosure(S, fns[i], 3);
        lua_setfield(S, -6, names[i]);
        lua_getfield(S, -1, names[i]);
        lua_pushvalue(S, -5);
        lua_pushnil(S);
        lua_pushcclosure(S, fns[i], 3);
        lua_setfield(S, -2, names[i]);
    }
    lua_pop(S, 5);
}

/* ---- rendering values ---------------------------------------------------------- */

/* Pushes the text of values first..first+n-1 (tab-separated, as print) and,
 * for a single value with a png() method returning PNG bytes, those bytes
 * (else nil). May raise. */
static void render(lua_State *S, int first, int n)
{
    luaL_Buffer b;
    luaL_checkstack(S, 4, "display");
    luaL_buffinit(S, &b);
    for (int i = 0; i < n; i++) {
        if (i) luaL_addchar(&b, '\t');
        luaL_tolstring(S, first + i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    int t = n == 1 ? lua_type(S, first) : LUA_TNIL;
    if ((t == LUA_TUSERDATA || t == LUA_TTABLE) && lua_getmetatable(S, first)) {
        lua_pop(S, 1);
        lua_getfield(S, first, "png");
        if (lua_isfunction(S, -1)) {
            lua_pushvalue(S, first);
            lua_call(S, 1, 1);
            size_t len;
            const char *p = lua_tolstring(S, -1, &len);
            if (!p || len < 24 || memcmp(p, "\x89PNG\r\n\x1a\n", 8) != 0) {
                lua_pop(S, 1);
                lua_pushnil(S);
            }
        } else {
            lua_pop(S, 1);
            lua_pushnil(S);
        }
    } else {
        lua_pushnil(S);
    }
}

static int l_render(lua_State *S)
{
    int n = lua_gettop(S);
    render(S, 1, n);
    return 2;
}

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The mime bundle of a rendering: text/plain always, image/png when there
 * are PNG bytes (with their size in *meta). */
static json_t *bundle(const char *text, size_t tlen, const char *png, size_t plen, json_t **meta)
{
    json_t *data = json_object();
    *meta = json_object();
    json_object_set_new(data, "text/plain", kjson_string(text, tlen));
    if (png) {
        size_t cap = 4 * ((plen + 2) / 3) + 1;
        unsigned char *b64 = malloc(cap);
        if (b64) {
            int k = EVP_EncodeBlock(b64, (const unsigned char *)png, (int)plen);
            json_object_set_new(data, "image/png", json_stringn((const char *)b64, (size_t)k));
            free(b64);
            json_object_set_new(*meta, "image/png",
                                json_pack("{s:I, s:I}", "width", (json_int_t)be32((const unsigned char *)png + 16),
                                          "height", (json_int_t)be32((const unsigned char *)png + 20)));
        }
    }
    return data;
}

static void new_display_id(char *out)
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

/* display(x [, id]): x as display_data (a picture when it has png(), its
 * text always). With a display id (a string of the caller's choice),
 * update_display(id, y) replaces it later. Returns nothing, so that a cell
 * ending in display(x) shows no Out value. */
static int l_display(lua_State *S)
{
    luaL_checkany(S, 1);
    const char *given = luaL_optstring(S, 2, NULL);
    lua_settop(S, 2);
    render(S, 1, 1);
    size_t tlen = 0, plen = 0;
    const char *text = lua_tolstring(S, -2, &tlen);
    const char *png = lua_tolstring(S, -1, &plen);
    char id[40];
    if (!given) new_display_id(id);
    json_t *meta;
    json_t *data = bundle(text, tlen, png, plen, &meta);
    kio_publish("display_data", json_pack("{s:o, s:o, s:{s:o}}", "data", data, "metadata", meta,
                                          "transient", "display_id",
                                          kjson_cstr(given ? given : id)));
    return 0;
}

/* update_display(id, x): replaces the output shown with that display id. */
static int l_update_display(lua_State *S)
{
    const char *id = luaL_checkstring(S, 1);
    luaL_checkany(S, 2);
    lua_settop(S, 2);
    render(S, 2, 1);
    size_t tlen = 0, plen = 0;
    const char *text = lua_tolstring(S, -2, &tlen);
    const char *png = lua_tolstring(S, -1, &plen);
    json_t *meta;
    json_t *data = bundle(text, tlen, png, plen, &meta);
    kio_publish("update_display_data", json_pack("{s:o, s:o, s:{s:o}}", "data", data, "metadata",
                                                 meta, "transient", "display_id", kjson_cstr(id)));
    return 0;
}

/* clear_output([wait]): clears the cell's output (wait: when new output comes). */
static int l_clear_output(lua_State *S)
{
    kio_publish("clear_output", json_pack("{s:b}", "wait", lua_toboolean(S, 1)));
    return 0;
}

/* exit() / quit(): asks the front end to close (the ask_exit payload, as
 * IPython does); jupyter console then shuts the kernel down. */
static int ask_exit;

static int l_exit(lua_State *S)
{
    ask_exit = 1;
    (void)S;
    return 0;
}

/* Seconds on a monotonic clock, for the progress bars. */
static int l_now(lua_State *S)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(S, (lua_Number)ts.tv_sec + ts.tv_nsec * 1e-9);
    return 1;
}

/* A tag of the running cell ("<pid>-<count>"): display ids unique per cell. */
static int cell_count;

static int l_cell(lua_State *S)
{
    lua_pushfstring(S, "%d-%d", (int)getpid(), cell_count);
    return 1;
}

static int l_not_a_tty(lua_State *S)
{
    lua_pushboolean(S, 0);
    return 1;
}

/* ---- the state ---------------------------------------------------------------- */

static int pinit(lua_State *S)
{
    luaL_openlibs(S);
    mgv_lua_open(S);
    static const luaL_Reg globals[] = {{"display", l_display},
                                       {"update_display", l_update_display},
                                       {"clear_output", l_clear_output},
                                       {"exit", l_exit},
                                       {"quit", l_exit},
                                       {NULL, NULL}};
    lua_pushglobaltable(S);
    luaL_setfuncs(S, globals, 0);
    lua_pop(S, 1);
    /* stdout and stderr here are never terminals: no progress bars with \r */
    lua_getglobal(S, "mgv");
    if (lua_istable(S, -1)) {
        lua_pushcfunction(S, l_not_a_tty);
        lua_setfield(S, -2, "isatty");
    }
    lua_pop(S, 1);
    wrap_stdin(S);
    lua_createtable(S, 0, 1);
    lua_pushliteral(S, "mgv-kernel");
    lua_rawseti(S, -2, 0);
    lua_setglobal(S, "arg");
    const char *const *piece = helper_src;
    if (lua_load(S, next_piece, &piece, "=[mgv-kernel]", "t") != LUA_OK)
        return lua_error(S);
    lua_pushglobaltable(S);
    lua_getglobal(S, "mgv");
    lua_pushcfunction(S, l_display);
    lua_pushcfunction(S, l_update_display);
    lua_pushcfunction(S, l_now);
    lua_pushcfunction(S, l_cell);
    lua_call(S, 6, 1);
    helper_ref = luaL_ref(S, LUA_REGISTRYINDEX);
    return 0;
}

int khost_init(ksock *stdin_s)
{
    stdin_sock = stdin_s;
    cookie_io_functions_t out = {.write = out_write};
    cookie_io_functions_t in = {.read = in_read};
    out_f = fopencookie((void *)(intptr_t)1, "w", out);
    err_f = fopencookie((void *)(intptr_t)2, "w", out);
    in_f = fopencookie(NULL, "r", in);
    if (!out_f || !err_f || !in_f) return mgv_fail("cannot redirect stdio");
    setvbuf(out_f, NULL, _IONBF, 0);
    setvbuf(err_f, NULL, _IONBF, 0);
    fflush(stdout);
    fflush(stderr);
    /* glibc's stdin/stdout/stderr are assignable; Lua's io library takes them
     * when it opens, and print uses stdout each time */
    stdout = out_f;
    stderr = err_f;
    stdin = in_f;
    L = luaL_newstate();
    if (!L) return mgv_fail("cannot create the Lua state: out of memory");
    lua_pushcfunction(L, pinit);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        mgv_fail("cannot open the Lua state: %s", lua_tostring(L, -1));
        return -1;
    }
    return 0;
}

void khost_close(void)
{
    if (L) lua_close(L);
    L = NULL;
    free(in_buf);
    in_buf = NULL;
    in_len = in_pos = 0;
    fflush(out_f);
    fflush(err_f);
}

/* ---- interrupts ---------------------------------------------------------------- */

static void stop_hook(lua_State *S, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(S, NULL, 0, 0);
    luaL_error(S, "interrupted!");
}

void khost_on_sigint(int sig)
{
    (void)sig;
    if (!busy) return;
    interrupted = 1;
    mgv_request_interrupt();
    if (L) lua_sethook(L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/* ---- running cells ---------------------------------------------------------------- */

/* Message handler: a table {message, traceback}. */
static int msghandler(lua_State *S)
{
    const char *msg = lua_tostring(S, 1);
    if (!msg) {
        if (luaL_callmeta(S, 1, "__tostring") && lua_type(S, -1) == LUA_TSTRING)
            msg = lua_tostring(S, -1);
        else
            msg = lua_pushfstring(S, "(error object is a %s value)", luaL_typename(S, 1));
    }
    lua_createtable(S, 2, 0);
    lua_pushstring(S, msg);
    lua_rawseti(S, -2, 1);
    luaL_traceback(S, S, NULL, 1);
    lua_rawseti(S, -2, 2);
    return 1;
}

/* Calls the function below narg arguments with the handler, interrupts on. */
static int docall(int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    if (lua_gethook(L) == stop_hook) lua_sethook(L, NULL, 0, 0);   /* a stale interrupt */
    interrupted = 0;
    mgv_clear_interrupt();
    busy = 1;
    int status = lua_pcall(L, narg, nres, base);
    busy = 0;
    if (lua_gethook(L) == stop_hook) lua_sethook(L, NULL, 0, 0);
    mgv_clear_interrupt();
    lua_remove(L, base);
    return status;
}

static int compiles(const char *code, size_t len)
{
    int ok = luaL_loadbuffer(L, code, len, "=check") == LUA_OK;
    lua_pop(L, 1);
    return ok;
}

/* Loads "return " .. code[off..] after code[0..off) into buf. */
static int load_with_return(luaL_Buffer *b, const char *code, size_t len, size_t off,
                            const char *name)
{
    luaL_buffinit(L, b);
    luaL_addlstring(b, code, off);
    luaL_addstring(b, "return ");
    luaL_addlstring(b, code + off, len - off);
    luaL_pushresult(b);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    int status = luaL_loadbuffer(L, s, n, name);
    lua_remove(L, -2);
    return status;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return 0;
    return 1;
}

/* Compiles a cell (see the file comment); pushes the function or a message. */
static int load_cell(const char *code, size_t len, const char *name)
{
    luaL_Buffer b;
    if (load_with_return(&b, code, len, 0, name) == LUA_OK) return LUA_OK;
    lua_pop(L, 1);
    /* the last lines as an expression, trying up to 20 line starts from the end */
    size_t end = len;
    while (end > 0 && blank(code + end - 1, 1)) end--;
    int tries = 0;
    for (size_t off = end; off > 0 && tries < 20;) {
        off--;
        while (off > 0 && code[off - 1] != '\n') off--;
        if (blank(code + off, end - off)) continue;
        tries++;
        luaL_buffinit(L, &b);
        luaL_addstring(&b, "return ");
        luaL_addlstring(&b, code + off, len - off);
        luaL_pushresult(&b);
        size_t n;
        const char *tail = lua_tolstring(L, -1, &n);
        int ok = compiles(tail, n);
        lua_pop(L, 1);
        if (!ok || !compiles(code, off)) continue;
        if (load_with_return(&b, code, len, off, name) == LUA_OK) return LUA_OK;
        lua_pop(L, 1);
    }
    return luaL_loadbuffer(L, code, len, name);
}

/* `?name`, `name?`, `??name`: the name (in buf), else NULL. */
static const char *help_request(const char *code, size_t len, char *buf, size_t n)
{
    size_t a = 0, e = len;
    while (a < e && blank(code + a, 1)) a++;
    while (e > a && blank(code + e - 1, 1)) e--;
    if (a == e) return NULL;
    int pre = code[a] == '?', post = code[e - 1] == '?';
    if (!pre && !post) return NULL;
    while (a < e && code[a] == '?') a++;
    while (e > a && code[e - 1] == '?') e--;
    while (a < e && blank(code + a, 1)) a++;
    while (e > a && blank(code + e - 1, 1)) e--;
    if (e - a >= n) return NULL;
    for (size_t i = a; i < e; i++) {
        char c = code[i];
        if (!(c == '_' || c == '.' || c == ':' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z')))
            return NULL;
    }
    memcpy(buf, code + a, e - a);
    buf[e - a] = '\0';
    return buf;
}

/* Calls helper function fname with nargs arguments on the stack; nres results
 * or -1 (stack unchanged then). */
static int call_helper(const char *fname, int nargs, int nres)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, helper_ref);
    lua_getfield(L, -1, fname);
    lua_remove(L, -2);
    lua_insert(L, -1 - nargs);
    if (lua_pcall(L, nargs, nres, 0) != LUA_OK) {
        klog("%s: %s", fname, lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

/* Splits a traceback into lines for the protocol. */
static json_t *lines_of(const char *first, const char *rest)
{
    json_t *a = json_array();
    if (first) json_array_append_new(a, kjson_cstr(first));
    for (const char *p = rest; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        json_array_append_new(a, kjson_string(p, n));
        p = nl ? nl + 1 : p + n;
    }
    return a;
}

static void set_error(kexec *e, int status, const char *msg, const char *tb)
{
    const char *ename = status == LUA_ERRSYNTAX ? "SyntaxError"
                        : status == LUA_ERRMEM  ? "MemoryError"
                        : interrupted           ? "Interrupted"
                                                : "LuaError";
    e->ok = 0;
    e->ename = strdup(ename);
    e->evalue = strdup(msg ? msg : "(no message)");
    e->traceback = lines_of(msg ? msg : "(no message)", tb);
}

static void eval_user_expressions(kexec *e)
{
    e->user_results = json_object();
    if (!json_is_object(e->user_expressions)) return;
    const char *key;
    json_t *val;
    json_object_foreach(e->user_expressions, key, val) {
        json_t *r;
        const char *expr = json_is_string(val) ? json_string_value(val) : "";
        lua_settop(L, 0);
        const char *src = lua_pushfstring(L, "return %s", expr);
        int st = luaL_loadbuffer(L, src, strlen(src), "=user_expression");
        lua_remove(L, 1);
        if (st == LUA_OK) st = docall(0, 1);
        if (st == LUA_OK) {
            lua_pushcfunction(L, l_render);
            lua_insert(L, 1);
            st = lua_pcall(L, 1, 2, 0);
        }
        if (st == LUA_OK) {
            size_t tlen = 0, plen = 0;
            const char *text = lua_tolstring(L, 1, &tlen);
            const char *png = lua_tolstring(L, 2, &plen);
            json_t *meta;
            json_t *data = bundle(text, tlen, png, plen, &meta);
            r = json_pack("{s:s, s:o, s:o}", "status", "ok", "data", data, "metadata", meta);
        } else {
            const char *msg = lua_istable(L, -1) ? (lua_rawgeti(L, -1, 1), lua_tostring(L, -1))
                                                 : lua_tostring(L, -1);
            r = json_pack("{s:s, s:s, s:o, s:[]}", "status", "error", "ename", "LuaError", "evalue",
                          kjson_cstr(msg ? msg : "error"), "traceback");
        }
        if (r) json_object_set_new(e->user_results, key, r);
        lua_settop(L, 0);
    }
}

void khost_execute(kexec *e)
{
    char chunkname[64], namebuf[512];
    e->ok = 1;
    e->payload = json_array();
    ask_exit = 0;
    cell_count++;
    cur = e;
    in_len = in_pos = 0;
    clearerr(in_f);
    __fpurge(in_f);
    lua_settop(L, 0);
    const char *help = help_request(e->code, e->len, namebuf, sizeof namebuf);
    if (help) {
        lua_pushstring(L, help);
        if (call_helper("help", 1, 1) == 0 && lua_isstring(L, -1)) {
            size_t n;
            const char *text = lua_tolstring(L, -1, &n);
            json_array_append_new(e->payload,
                                  json_pack("{s:s, s:{s:o}, s:i}", "source", "page", "data",
                                            "text/plain", kjson_string(text, n), "start", 0));
        } else {
            char msg[600];
            snprintf(msg, sizeof msg, "no help for %s\n", help);
            kio_write(2, msg, strlen(msg));
        }
        lua_settop(L, 0);
        cur = NULL;
        eval_user_expressions(e);
        return;
    }
    snprintf(chunkname, sizeof chunkname, "=In[%d]", e->count);
    int status = load_cell(e->code, e->len, chunkname);
    if (status == LUA_OK) status = docall(0, LUA_MULTRET);
    cur = NULL;
    if (status == LUA_OK) {
        int n = lua_gettop(L);
        if (n > 0) {
            lua_pushcfunction(L, l_render);
            lua_insert(L, 1);
            if (lua_pcall(L, n, 2, 0) == LUA_OK) {
                size_t tlen = 0, plen = 0;
                const char *text = lua_tolstring(L, 1, &tlen);
                const char *png = lua_tolstring(L, 2, &plen);
                e->output = malloc(tlen + 1);
                if (e->output) {
                    memcpy(e->output, text, tlen);
                    e->output[tlen] = '\0';
                }
                json_t *meta;
                json_t *data = bundle(text, tlen, png, plen, &meta);
                kio_publish("execute_result",
                            json_pack("{s:i, s:o, s:o}", "execution_count", e->count, "data", data,
                                      "metadata", meta));
            } else {
                const char *msg = lua_tostring(L, -1);
                char line[1024];
                snprintf(line, sizeof line, "cannot show the result: %s\n", msg ? msg : "?");
                kio_write(2, line, strlen(line));
            }
        }
    } else {
        const char *msg = NULL, *tb = NULL;
        if (lua_istable(L, -1)) {
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            msg = lua_tostring(L, -2);
            tb = lua_tostring(L, -1);
        } else {
            msg = lua_tostring(L, -1);
        }
        set_error(e, status, msg, tb);
        kio_publish("error", json_pack("{s:s, s:s, s:O}", "ename", e->ename, "evalue", e->evalue,
                                       "traceback", e->traceback));
    }
    interrupted = 0;
    lua_settop(L, 0);
    if (ask_exit)
        json_array_append_new(e->payload, json_pack("{s:s, s:b}", "source", "ask_exit", "keepkernel", 0));
    ask_exit = 0;
    eval_user_expressions(e);
}

void kexec_free(kexec *e)
{
    free(e->ename);
    free(e->evalue);
    free(e->output);
    json_decref(e->traceback);
    json_decref(e->payload);
    json_decref(e->user_results);
    e->ename = e->evalue = e->output = NULL;
    e->traceback = e->payload = e->user_results = NULL;
}

/* ---- completion, inspection, is_complete ----------------------------------------- */

/* Byte offset of code point cursor in s (clamped to the end). */
static size_t cp_to_byte(const char *s, long cursor)
{
    size_t i = 0;
    long cp = 0;
    if (cursor < 0) return strlen(s);
    while (s[i] && cp < cursor) {
        i++;
        while (s[i] && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        cp++;
    }
    return i;
}

static long byte_to_cp(const char *s, size_t off)
{
    long cp = 0;
    for (size_t i = 0; i < off && s[i]; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) cp++;
    return cp;
}

json_t *khost_complete(const char *code, long cursor)
{
    size_t off = cp_to_byte(code, cursor);
    long cur_cp = byte_to_cp(code, off);
    json_t *matches = json_array(), *types = json_array();
    long start = cur_cp;
    lua_settop(L, 0);
    lua_pushlstring(L, code, off);
    if (call_helper("complete", 1, 3) == 0) {
        size_t sbyte = (size_t)lua_tointeger(L, 1);
        if (sbyte > off) sbyte = off;
        start = byte_to_cp(code, sbyte);
        lua_Integer n = luaL_len(L, 2);
        for (lua_Integer i = 1; i <= n && i <= 5000; i++) {
            lua_rawgeti(L, 2, i);
            lua_rawgeti(L, 3, i);
            size_t len;
            const char *m = lua_tolstring(L, -2, &len);
            if (m) {
                json_array_append_new(matches, kjson_string(m, len));
                json_array_append_new(types, json_pack("{s:I, s:I, s:o, s:s}", "start", (json_int_t)start,
                                                       "end", (json_int_t)cur_cp, "text", kjson_string(m, len),
                                                       "type", lua_isstring(L, -1) ? lua_tostring(L, -1) : ""));
            }
            lua_pop(L, 2);
        }
    }
    lua_settop(L, 0);
    return json_pack("{s:o, s:I, s:I, s:{s:o}, s:s}", "matches", matches, "cursor_start",
                     (json_int_t)start, "cursor_end", (json_int_t)cur_cp, "metadata",
                     "_jupyter_types_experimental", types, "status", "ok");
}

json_t *khost_inspect(const char *code, long cursor, int detail)
{
    (void)detail;
    size_t off = cp_to_byte(code, cursor);
    json_t *data = json_object();
    int found = 0;
    lua_settop(L, 0);
    lua_pushstring(L, code);
    lua_pushinteger(L, (lua_Integer)off);
    if (call_helper("inspect", 2, 1) == 0 && lua_isstring(L, -1)) {
        size_t n;
        const char *text = lua_tolstring(L, -1, &n);
        json_object_set_new(data, "text/plain", kjson_string(text, n));
        found = 1;
    }
    lua_settop(L, 0);
    return json_pack("{s:s, s:b, s:o, s:{}}", "status", "ok", "found", found, "data", data,
                     "metadata");
}

json_t *khost_is_complete(const char *code)
{
    size_t len = strlen(code);
    char namebuf[512];
    if (blank(code, len) || help_request(code, len, namebuf, sizeof namebuf))
        return json_pack("{s:s}", "status", "complete");
    lua_settop(L, 0);
    luaL_Buffer b;
    int st = load_with_return(&b, code, len, 0, "=check");
    lua_settop(L, 0);
    if (st == LUA_OK) return json_pack("{s:s}", "status", "complete");
    st = luaL_loadbuffer(L, code, len, "=check");
    size_t mlen = 0;
    const char *msg = st == LUA_ERRSYNTAX ? lua_tolstring(L, -1, &mlen) : NULL;
    int incomplete = msg && mlen >= 5 && strcmp(msg + mlen - 5, "<eof>") == 0;
    lua_settop(L, 0);
    if (st == LUA_OK) return json_pack("{s:s}", "status", "complete");
    if (!incomplete) return json_pack("{s:s}", "status", "invalid");
    /* indent: the last non-blank line's indentation, one step deeper */
    const char *last = code, *p = code;
    while (*p) {
        const char *line = p;
        while (*p && *p != '\n') p++;
        if (!blank(line, (size_t)(p - line))) last = line;
        if (*p) p++;
    }
    size_t ind = 0;
    while (last[ind] == ' ' || last[ind] == '\t') ind++;
    char indent[64];
    if (ind > sizeof indent - 3) ind = sizeof indent - 3;
    memcpy(indent, last, ind);
    memcpy(indent + ind, "  ", 3);
    return json_pack("{s:s, s:s}", "status", "incomplete", "indent", indent);
}
