/*
 * host.c — the kernel's Lua state: the mgv module as the global `mgv`, as
 * in bin/mgv, the interactive host shared with the REPL (lua/host.lua,
 * lua/lhost.c: how a cell compiles, how values show, completion, help,
 * magics) and the notebook parts of lua/notebook.lua (display(obj [, id]),
 * update_display(obj, id), live progress lines), plus clear_output([wait])
 * and exit() / quit() (ask the front end to close).
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
 * Running a cell: mgv._host.compile (the REPL's rule: "x = 1; x" shows 1,
 * "return x" shows x, a trailing ';' silences) with the chunk name
 * In[count], so tracebacks say "In[3]:2:". Errors become one `error`
 * message. `?name` / `name?` / `??name` show help or source as a page;
 * a line starting with '%' is a magic, never Lua.
 *
 * Interrupts: SIGINT (sent by the front end, or by the control thread for
 * an interrupt_request) sets a hook that raises "interrupted!" at the next
 * Lua instruction, and the engine's interrupt flag that long C loops poll —
 * lua.c's technique (lhost_interrupt). The state survives: only the cell
 * stops.
 */
#include "kernel.h"

#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <openssl/evp.h>
#include <zmq.h>

#include "core/error.h"
#include "lhost.h"
#include "lmgv.h"

static lua_State *L;
static volatile sig_atomic_t busy;          /* a cell runs */
static volatile sig_atomic_t interrupted;   /* SIGINT arrived while busy */
static ksock *stdin_sock;
static kexec *cur;                          /* the cell that runs, for stdin */
static FILE *out_f, *err_f, *in_f;

int khost_busy(void)
{
    return busy;
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

/* Pushes the next reply, or nothing at end of input (returns 0). */
static int stdin_reply(lua_State *S)
{
    if (!cur || !stdin_sock) luaL_error(S, "no input: stdin is read only while a cell runs");
    if (!cur->allow_stdin)
        luaL_error(S, "no input: this front end does not take input requests (allow_stdin is false)");
    int rc = request_input();
    if (rc < 0) {
        if (interrupted) luaL_error(S, "interrupted!");
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

/* ---- showing values ------------------------------------------------------------ */

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The mime bundle of a presentation (mgv._host.present): text/plain always,
 * text/html and image/png (with its size in *meta) when given. */
static json_t *bundle(const char *text, size_t tlen, const char *html, const char *png, size_t plen,
                      json_t **meta)
{
    json_t *data = json_object();
    *meta = json_object();
    json_object_set_new(data, "text/plain", kjson_string(text ? text : "", text ? tlen : 0));
    if (html) json_object_set_new(data, "text/html", kjson_cstr(html));
    if (png && plen >= 24) {
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

/* The bundle of text, html, png at stack indices i, i+1, i+2. */
static json_t *bundle_at(lua_State *S, int i, json_t **meta)
{
    size_t tlen = 0, plen = 0;
    const char *text = lua_tolstring(S, i, &tlen);
    const char *html = lua_tostring(S, i + 1);
    const char *png = lua_tolstring(S, i + 2, &plen);
    return bundle(text, tlen, html, png, plen, meta);
}

/* Replaces the n values on top of the stack by their presentation (text,
 * html, png); 0, or -1 with the error written to the cell's stderr. */
static int present(int n)
{
    int base = lua_gettop(L) - n + 1;
    if (!lhost_push(L, "present")) {
        lua_settop(L, base - 1);
        return -1;
    }
    lua_insert(L, base);
    if (lhost_pcall(L, n, 3) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        char line[1024];
        snprintf(line, sizeof line, "cannot show the result: %s\n", msg ? msg : "?");
        kio_write(2, line, strlen(line));
        lua_settop(L, base - 1);
        return -1;
    }
    return 0;
}

/* publish(msg_type, display_id, text [, html [, png]]): a display_data or
 * update_display_data message (notebook.lua's display and progress lines). */
static int l_publish(lua_State *S)
{
    const char *type = luaL_checkstring(S, 1);
    const char *id = luaL_checkstring(S, 2);
    luaL_checkstring(S, 3);
    lua_settop(S, 5);
    json_t *meta;
    json_t *data = bundle_at(S, 3, &meta);
    kio_publish(type, json_pack("{s:o, s:o, s:{s:s}}", "data", data, "metadata", meta, "transient",
                                "display_id", id));
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
    static const luaL_Reg globals[] = {{"clear_output", l_clear_output},
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
    if (lhost_init(S) != 0 || !lhost_push(S, "notebook"))
        return luaL_error(S, "the module has no interactive host (mgv._host)");
    static const luaL_Reg prims[] = {{"publish", l_publish}, {"cell", l_cell}, {NULL, NULL}};
    luaL_newlib(S, prims);
    lua_call(S, 1, 0);
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

void khost_on_sigint(int sig)
{
    (void)sig;
    if (!busy) return;
    interrupted = 1;
    lhost_interrupt(L);
}

/* ---- running cells ---------------------------------------------------------------- */

static int run(int narg, int nres)
{
    interrupted = 0;
    busy = 1;
    int status = lhost_pcall(L, narg, nres);
    busy = 0;
    return status;
}

/* Calls mgv._host.<fname> with the nargs arguments on the stack: nres results,
 * or -1 (the arguments popped). */
static int call_host(const char *fname, int nargs, int nres)
{
    int status = lhost_call(L, fname, nargs, nres);
    if (status > 0) {   /* an error (a missing function is no news) */
        klog("%s: %s", fname, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return status == LUA_OK ? 0 : -1;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return 0;
    return 1;
}

/* Splits a traceback into lines for the protocol. */
static json_t *lines_of(const char *first, size_t n, const char *rest)
{
    json_t *a = json_array();
    json_array_append_new(a, kjson_string(first, n));
    for (const char *p = rest; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t k = nl ? (size_t)(nl - p) : strlen(p);
        json_array_append_new(a, kjson_string(p, k));
        p = nl ? nl + 1 : p + k;
    }
    return a;
}

/* e's error from a message "text\nstack traceback:\n..." (lhost_pcall's). */
static void set_error(kexec *e, const char *ename, const char *msg)
{
    if (!msg) msg = "(no message)";
    const char *tb = strstr(msg, "\nstack traceback:\n");
    size_t n = tb ? (size_t)(tb - msg) : strlen(msg);
    e->ok = 0;
    e->ename = strdup(ename);
    e->evalue = strndup(msg, n);
    e->traceback = lines_of(msg, n, tb ? tb + 1 : NULL);
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
        if (st == LUA_OK) st = run(0, 1);
        if (st == LUA_OK && present(1) == 0) {
            json_t *meta;
            json_t *data = bundle_at(L, 1, &meta);
            r = json_pack("{s:s, s:o, s:o}", "status", "ok", "data", data, "metadata", meta);
        } else {
            const char *msg = st != LUA_OK ? lua_tostring(L, -1) : "cannot show the value";
            r = json_pack("{s:s, s:s, s:o, s:[]}", "status", "error", "ename", "LuaError", "evalue",
                          kjson_cstr(msg ? msg : "error"), "traceback");
        }
        if (r) json_object_set_new(e->user_results, key, r);
        lua_settop(L, 0);
    }
}

/* Pushes mgv._host.compile(code, name [, {check = true}]): kind and up to two
 * values (3 slots). check: only whether code is complete (no help text, the
 * input not kept). */
static const char *compile(const char *code, size_t len, const char *name, int check)
{
    lua_pushlstring(L, code, len);
    lua_pushstring(L, name);
    if (check) {
        lua_createtable(L, 0, 1);
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "check");
    }
    if (call_host("compile", 2 + check, 3) != 0) {
        lua_pushliteral(L, "error");
        lua_pushliteral(L, "the kernel cannot compile cells (mgv._host is missing)");
        lua_pushboolean(L, 0);
    }
    return lua_tostring(L, -3);
}

void khost_execute(kexec *e)
{
    char chunkname[64];
    e->ok = 1;
    e->payload = json_array();
    ask_exit = 0;
    cell_count++;
    cur = e;
    in_len = in_pos = 0;
    clearerr(in_f);
    __fpurge(in_f);
    lua_settop(L, 0);
    snprintf(chunkname, sizeof chunkname, "=In[%d]", e->count);
    const char *kind = compile(e->code, e->len, chunkname, 0);
    if (strcmp(kind, "help") == 0) {
        size_t n;
        const char *text = lua_tolstring(L, 2, &n);
        json_array_append_new(e->payload, json_pack("{s:s, s:{s:o}, s:i}", "source", "page", "data",
                                                    "text/plain", kjson_string(text ? text : "", n),
                                                    "start", 0));
    } else if (strcmp(kind, "error") == 0) {
        set_error(e, "SyntaxError", lua_tostring(L, 2));
    } else if (strcmp(kind, "run") == 0) {
        int show = lua_toboolean(L, 3);
        lua_settop(L, 2);
        lua_remove(L, 1);
        int status = run(0, LUA_MULTRET);
        int n = lua_gettop(L);
        if (status != LUA_OK) {
            set_error(e, status == LUA_ERRMEM ? "MemoryError" : interrupted ? "Interrupted" : "LuaError",
                      lua_tostring(L, -1));
        } else if (show && n > 0 && present(n) == 0 && lua_isstring(L, -3)) {
            size_t tlen;
            const char *text = lua_tolstring(L, -3, &tlen);
            e->output = strndup(text, tlen);
            json_t *meta;
            json_t *data = bundle_at(L, lua_gettop(L) - 2, &meta);
            kio_publish("execute_result", json_pack("{s:i, s:o, s:o}", "execution_count", e->count,
                                                    "data", data, "metadata", meta));
        }
    }
    cur = NULL;
    if (!e->ok)
        kio_publish("error", json_pack("{s:s, s:s, s:O}", "ename", e->ename, "evalue", e->evalue,
                                       "traceback", e->traceback));
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
    if (lhost_complete(L, code, off) == 0) {
        size_t sbyte = (size_t)lua_tointeger(L, 1);
        if (sbyte > off) sbyte = off;
        start = byte_to_cp(code, sbyte);
        lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
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
    if (call_host("inspect", 2, 1) == 0 && lua_isstring(L, -1)) {
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
    lua_settop(L, 0);
    const char *kind = compile(code, strlen(code), "=check", 1);
    int error = strcmp(kind, "error") == 0, incomplete = error && lua_toboolean(L, 3);
    lua_settop(L, 0);
    if (!error) return json_pack("{s:s}", "status", "complete");
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
