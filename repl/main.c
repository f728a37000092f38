/*
 * main.c — bin/mgv: runs Lua scripts with the mgv module preloaded, and a
 * small readline REPL.
 *
 *   mgv FILE.lua [args]   run a script; the global `arg` as lua(1) makes it
 *   mgv -e 'code' ...     run code (repeatable, in order)
 *   mgv -                 run standard input
 *   mgv -i ...            enter the REPL after the script / -e code
 *   mgv -v / -h           version / usage
 *   mgv                   the REPL on a terminal, else standard input as a script
 *
 * Behaviour follows lua.c where users know it: errors print their message
 * and a traceback on stderr and the exit status is 1; Ctrl-C while Lua runs
 * sets a hook (the one thing a signal handler may safely do to a Lua state)
 * that raises "interrupted!" at the next Lua instruction, and also raises the
 * engine's interrupt flag so that long C loops (training, backward) stop
 * too. A second Ctrl-C kills the process. In the REPL a line is first tried
 * as "return <line>" so that expressions print their values, and a chunk
 * whose syntax error ends in "<eof>" continues on the next line.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <readline/history.h>
#include <readline/readline.h>

#include "error.h"
#include "lmgv.h"

static const char *progname = "mgv";
static lua_State *running_L;   /* for the signal handler */

/* ---- interrupts ------------------------------------------------------- */

static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void on_sigint(int sig)
{
    (void)sig;
    mgv_request_interrupt();
    lua_sethook(running_L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT,
                1);
}

/* Installs the handler once; SA_RESETHAND makes a second Ctrl-C fatal. */
static void catch_sigint(int on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on ? on_sigint : SIG_DFL;
    sa.sa_flags = on ? SA_RESETHAND : 0;
    sigaction(SIGINT, &sa, NULL);
}

/* ---- running chunks --------------------------------------------------- */

static void message(const char *msg)
{
    fflush(stdout);
    fprintf(stderr, "%s: %s\n", progname, msg);
    fflush(stderr);
}

/* Message handler: the error text (or the object's __tostring) plus a traceback. */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function below narg arguments in protected mode, with Ctrl-C caught. */
static int docall(lua_State *L, int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    if (lua_gethook(L) == stop_hook) lua_sethook(L, NULL, 0, 0);   /* a stale Ctrl-C */
    mgv_clear_interrupt();
    running_L = L;
    catch_sigint(1);
    int status = lua_pcall(L, narg, nres, base);
    catch_sigint(0);
    mgv_clear_interrupt();
    lua_remove(L, base);
    return status;
}

/* Prints the error at the top of the stack (if any) and pops it. */
static int report(lua_State *L, int status)
{
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        message(msg ? msg : "(error object is not a string)");
        lua_pop(L, 1);
    }
    return status;
}

static int dochunk(lua_State *L, int status)
{
    if (status == LUA_OK) status = docall(L, 0, 0);
    return report(L, status);
}

static int dostring(lua_State *L, const char *code, const char *name)
{
    return dochunk(L, luaL_loadbuffer(L, code, strlen(code), name));
}

/* The global `arg`: arg[0] the script, arg[1..] its arguments, the
 * interpreter and options at negative indices (as lua.c). */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
    if (script == argc) script = 0;   /* no script: arg[0] is the program */
    lua_createtable(L, argc - script - 1 > 0 ? argc - script - 1 : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

/* Runs the script at argv[script] with the following arguments as `...`. */
static int run_script(lua_State *L, char **argv, int argc, int script)
{
    const char *fname = argv[script];
    if (strcmp(fname, "-") == 0 && (script == 0 || strcmp(argv[script - 1], "--") != 0))
        fname = NULL;   /* standard input */
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = argc - script - 1;
        luaL_checkstack(L, n + 3, "too many arguments to script");
        for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
        status = docall(L, n, 0);
    }
    return report(L, status);
}

/* ---- REPL ------------------------------------------------------------- */

static int incomplete(lua_State *L, int status)
{
    if (status == LUA_ERRSYNTAX) {
        size_t len;
        const char *msg = lua_tolstring(L, -1, &len);
        if (len >= 5 && strcmp(msg + len - 5, "<eof>") == 0) {
            lua_pop(L, 1);
            return 1;
        }
    }
    return 0;
}

/* Reads one chunk; leaves the compiled function on the stack, or an error
 * message. Returns -1 at end of input. */
static int read_chunk(lua_State *L)
{
    char *line = readline("mgv> ");
    if (!line) return -1;
    lua_settop(L, 0);
    /* an expression? */
    const char *ret = lua_pushfstring(L, "return %s;", line);
    int status = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
    if (status == LUA_OK) {
        lua_remove(L, -2);
        if (*line) add_history(line);
        free(line);
        return LUA_OK;
    }
    lua_pop(L, 2);
    /* a statement, maybe over several lines */
    lua_pushstring(L, line);
    free(line);
    for (;;) {
        size_t len;
        const char *code = lua_tolstring(L, 1, &len);
        status = luaL_loadbuffer(L, code, len, "=stdin");
        if (!incomplete(L, status)) break;
        char *more = readline("...> ");
        if (!more) break;
        lua_pushfstring(L, "%s\n%s", lua_tostring(L, 1), more);
        free(more);
        lua_replace(L, 1);
    }
    if (lua_rawlen(L, 1) > 0) add_history(lua_tostring(L, 1));
    lua_remove(L, 1);
    return status;
}

static void print_results(lua_State *L)
{
    int n = lua_gettop(L);
    if (n == 0) return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
        message(lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
}

static void history_path(char *buf, size_t n)
{
    const char *h = getenv("MGV_HISTORY");
    const char *home = getenv("HOME");
    if (h) snprintf(buf, n, "%s", h);
    else if (home) snprintf(buf, n, "%s/.mgv_history", home);
    else buf[0] = '\0';
}

static void repl(lua_State *L)
{
    char hist[4096];
    history_path(hist, sizeof hist);
    rl_readline_name = "mgv";
    if (*hist) read_history(hist);
    int status;
    while ((status = read_chunk(L)) != -1) {
        if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
        if (status == LUA_OK) print_results(L);
        else report(L, status);
        lua_settop(L, 0);
    }
    lua_settop(L, 0);
    putchar('\n');
    if (*hist) {
        stifle_history(1000);
        write_history(hist);
    }
}

/* ---- main ------------------------------------------------------------- */

static void print_version(void)
{
    printf("mgv %s (%s)\n", LMGV_VERSION, LUA_RELEASE);
    fflush(stdout);
}

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: %s [options] [script [args]]\n"
            "  -e code   run code (repeatable)\n"
            "  -i        enter the interactive mode after the script / code\n"
            "  -v        show the version\n"
            "  -h        show this help\n"
            "  --        stop handling options\n"
            "  -         run standard input and stop handling options\n"
            "With no script and no -e: the interactive mode on a terminal, else\n"
            "standard input runs as a script. The module is the global `mgv`\n"
            "(mgv.help() lists its functions).\n",
            progname);
}

/* Runs in protected mode, so that memory errors in setup are reported too. */
static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    int script = 0, has_e = 0, has_i = 0, has_v = 0;
    /* first pass: check the options and find the script */
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') break;
        if (strcmp(a, "-") == 0) break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-e") == 0) {
            if (++i >= argc) {
                print_usage(stderr);
                lua_pushboolean(L, 0);
                return 1;
            }
            has_e = 1;
        } else if (strncmp(a, "-e", 2) == 0) {
            has_e = 1;
        } else if (strcmp(a, "-i") == 0) {
            has_i = 1;
        } else if (strcmp(a, "-v") == 0) {
            has_v = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_usage(stdout);
            lua_pushboolean(L, 1);
            return 1;
        } else {
            fprintf(stderr, "%s: unrecognized option '%s'\n", progname, a);
            print_usage(stderr);
            lua_pushboolean(L, 0);
            return 1;
        }
    }
    script = i < argc ? i : argc;
    if (has_v) print_version();

    luaL_openlibs(L);
    mgv_lua_open(L);
    create_arg_table(L, argv, argc, script);

    /* second pass: run -e code in order */
    for (i = 1; i < script; i++) {
        if (strncmp(argv[i], "-e", 2) == 0) {
            const char *code = argv[i][2] ? argv[i] + 2 : argv[++i];
            if (dostring(L, code, "=(command line)") != LUA_OK) {
                lua_pushboolean(L, 0);
                return 1;
            }
        }
    }
    if (script < argc) {
        if (run_script(L, argv, argc, script) != LUA_OK) {
            lua_pushboolean(L, 0);
            return 1;
        }
    }
    if (has_i) {
        print_version();
        repl(L);
    } else if (script == argc && !has_e && !has_v) {
        if (isatty(STDIN_FILENO)) {
            print_version();
            repl(L);
        } else if (dochunk(L, luaL_loadfile(L, NULL)) != LUA_OK) {
            lua_pushboolean(L, 0);
            return 1;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

int main(int argc, char **argv)
{
    if (argv[0] && argv[0][0]) {
        const char *slash = strrchr(argv[0], '/');
        progname = slash ? slash + 1 : argv[0];
    }
    lua_State *L = luaL_newstate();
    if (!L) {
        message("cannot create state: not enough memory");
        return EXIT_FAILURE;
    }
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 0);
    int ok = lua_toboolean(L, -1);
    report(L, status);
    lua_close(L);
    return (status == LUA_OK && ok) ? EXIT_SUCCESS : EXIT_FAILURE;
}
