/*
 * main.c — bin/mgv: runs Lua scripts with the mgv module preloaded, and the
 * interactive REPL on GNU Readline.
 *
 *   mgv FILE.lua [args]   run a script; the global `arg` as lua(1) makes it
 *   mgv -e 'code' ...     run code (repeatable, in order)
 *   mgv -                 run standard input
 *   mgv -i ...            enter the REPL after the script / -e code
 *   mgv -v / -h           version / usage (also --version / --help)
 *   mgv --simd-paths      the SIMD paths this CPU can run, best first, each
 *                         with its OpenBLAS core type (the test runner's query)
 *   mgv                   the REPL on a terminal, else standard input as a script
 *
 * Scripts behave as under lua.c: errors print their message and a traceback
 * on stderr and the exit status is 1; Ctrl-C sets a hook (the one thing a
 * signal handler may safely do to a Lua state) that raises "interrupted!" at
 * the next Lua instruction and raises the engine's interrupt flag so that
 * long C loops (training, backward) stop too; a second Ctrl-C kills.
 *
 * The REPL (what it shares with the Jupyter kernel is in lua/host.lua and
 * lua/lhost.c; this file keeps the terminal):
 *  - a chunk compiles by mgv._host.compile: "return <chunk>" first, so
 *    that expressions print their values (through mgv.inspect: nested
 *    tables, tensors numpy-style); "x = 1; x" prints 1, "return x" prints
 *    x, a trailing ';' silences. Input whose syntax error ends in "<eof>"
 *    continues on a secondary prompt. Chunks are named stdin:1, stdin:2,
 *    ... so that tracebacks say which input failed;
 *  - "?x" prints the documentation of x, "??f" the Lua source of f, as does
 *    help(x); a line starting with '%' is a magic (%time, %timeit, %who);
 *  - Tab completes globals, fields and methods; in a string literal it
 *    completes file names (mgv._host.complete, the kernel's completion);
 *  - history persists in $MGV_HISTORY or ~/.mgv_history (each entry
 *    appended at once, multi-line entries kept whole, truncated to
 *    MGV_HISTORY_SIZE entries, default 1000); Ctrl-R etc. come from Readline;
 *  - errors print the message and a short traceback and the session goes on;
 *  - Ctrl-C while code runs interrupts it (hook + engine flag) and returns
 *    to the prompt with the state intact; it never kills the process (after
 *    three unanswered ones it says how to: Ctrl-\). At the prompt Ctrl-C
 *    clears the line; on an empty prompt it explains how to leave, and a
 *    second one (or Ctrl-D) then exits. Ctrl-D on an empty prompt exits at
 *    once only when nothing was run yet; otherwise it first warns that the
 *    session's variables will be lost.
 * Readline runs through its callback interface with pselect(), so that a
 * SIGINT at the prompt is noticed without longjmp and without races.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <readline/history.h>
#include <readline/readline.h>

#include "core/error.h"
#include "core/simd.h"
#include "lhost.h"
#include "lmgv.h"

static const char *progname = "mgv";
static lua_State *running_L;               /* for the signal handlers */
static int repl_mode;                      /* in the REPL: Ctrl-C never kills */
static volatile sig_atomic_t run_sigints;  /* Ctrl-C count during one call */
static volatile sig_atomic_t prompt_sigint;
static volatile sig_atomic_t got_sigwinch;

#define PROMPT1 "mgv> "
#define PROMPT2 "...> "
#define HISTORY_DEFAULT 1000

/* ---- interrupts ------------------------------------------------------- */

/* While Lua runs: stop it at the next instruction and stop engine loops. */
static void on_sigint_run(int sig)
{
    (void)sig;
    lhost_interrupt(running_L);
    if (repl_mode && ++run_sigints == 3) {
        static const char msg[] =
            "\nmgv: still busy (in a C call that does not poll Ctrl-C); Ctrl-\\ quits mgv, "
            "losing the session\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
    }
}

static void on_sigint_prompt(int sig)
{
    (void)sig;
    prompt_sigint = 1;
}

static void on_sigwinch(int sig)
{
    (void)sig;
    got_sigwinch = 1;
}

static void set_handler(int sig, void (*fn)(int), int flags, struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigaction(sig, &sa, old);
}

/* ---- running chunks --------------------------------------------------- */

static void message(const char *msg)
{
    fflush(stdout);
    if (progname) fprintf(stderr, "%s: ", progname);
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
}

/*
 * Calls the function below narg arguments in protected mode with Ctrl-C
 * caught: in a script a second Ctrl-C kills (as lua.c), in the REPL it
 * never does. Restores the previous SIGINT handler afterwards.
 */
static int docall(lua_State *L, int narg, int nres)
{
    running_L = L;
    run_sigints = 0;
    struct sigaction old;
    set_handler(SIGINT, on_sigint_run, repl_mode ? 0 : SA_RESETHAND, &old);
    int status = lhost_pcall(L, narg, nres);
    sigaction(SIGINT, &old, NULL);
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

/* ---- the REPL's Lua helpers ---------------------------------------------- */

/*
 * Prints an error in the REPL: the message, then a traceback cut down to the
 * frames that say something (none for an error in the typed line itself).
 * A progress bar left on the terminal by the interrupted code is erased first.
 */
static void report_repl(lua_State *L)
{
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    if (!msg) msg = "(error object is not a string)";
    if (isatty(STDERR_FILENO)) fputs("\r\033[K", stderr);
    fflush(stdout);
    const char *tb = strstr(msg, "\nstack traceback:\n");
    if (!tb) {
        fprintf(stderr, "%s\n", msg);
        fflush(stderr);
        lua_pop(L, 1);
        return;
    }
    fprintf(stderr, "%.*s\n", (int)(tb - msg), msg);
    /* the frames, one per line, each starting with a tab */
    const char *frames[64];
    int lens[64], n = 0, main_chunks = 0;
    for (const char *p = tb + strlen("\nstack traceback:\n"); *p && n < 64;) {
        const char *e = strchr(p, '\n');
        int l = e ? (int)(e - p) : (int)strlen(p);
#define IS(s) (l == (int)strlen(s) && strncmp(p, s, (size_t)l) == 0)
        int drop = IS("\t[C]: in ?") || IS("\t[C]: in function 'error'") ||
                   IS("\t[C]: in function 'assert'");
#undef IS
        if (!drop) {
            if (l >= 13 && strncmp(p + l - 13, "in main chunk", 13) == 0) main_chunks++;
            frames[n] = p;
            lens[n++] = l;
        }
        if (!e) break;
        p = e + 1;
    }
    if (!(n == 0 || (n == 1 && main_chunks == 1))) {
        fputs("stack traceback:\n", stderr);
        for (int i = 0; i < n; i++) {
            if (n > 10 && i == 6) {
                fprintf(stderr, "\t... (%d more)\n", n - 9);
                i = n - 3;
            }
            fprintf(stderr, "%.*s\n", lens[i], frames[i]);
        }
    }
    fflush(stderr);
    lua_pop(L, 1);
}

/* Prints the n values on top of the stack (a chunk's results) and pops them. */
static void show_results(lua_State *L, int n)
{
    if (n == 0) return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    int base = lua_gettop(L) - n + 1;
    if (lhost_push(L, "present_text")) {
        lua_insert(L, base);
        int status = docall(L, n, 1);
        if (status == LUA_OK) {
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            if (s) {
                fwrite(s, 1, len, stdout);
                fputc('\n', stdout);
                fflush(stdout);
            }
            lua_pop(L, 1);
        } else {
            report_repl(L);
        }
        return;
    }
    for (int i = base; i < base + n; i++) {   /* no module: as lua.c */
        fputs(luaL_tolstring(L, i, NULL), stdout);
        fputc(i + 1 < base + n ? '\t' : '\n', stdout);
        lua_pop(L, 1);
    }
    fflush(stdout);
    lua_pop(L, n);
}

/* ---- completion ----------------------------------------------------------- */

static lua_State *comp_L;
static char **comp_list;
static int comp_n, comp_next;
static size_t comp_head;   /* bytes of "path." shared by every match (not displayed) */

#define LUA_BREAKS " \t\n\"\\'`@$><=;|&{}()[],+-*/%^#~?!"

static void free_completions(void)
{
    for (int i = 0; i < comp_n; i++) free(comp_list[i]);
    free(comp_list);
    comp_list = NULL;
    comp_n = comp_next = 0;
}

static char *comp_generator(const char *text, int state)
{
    (void)text;
    if (state == 0) comp_next = 0;
    if (comp_next < comp_n) return strdup(comp_list[comp_next++]);
    return NULL;
}

/* Lists the matches without their shared "path." head (readline shows mgv.zeros as zeros). */
static void display_matches(char **matches, int n, int max_len)
{
    (void)max_len;
    char **shown = malloc(sizeof *shown * (size_t)(n + 2));
    if (!shown) return;
    int longest = 0;
    shown[0] = matches[0];
    for (int i = 1; i <= n; i++) {
        size_t l = strlen(matches[i]);
        shown[i] = matches[i] + (l >= comp_head ? comp_head : 0);
        if ((int)strlen(shown[i]) > longest) longest = (int)strlen(shown[i]);
    }
    shown[n + 1] = NULL;
    rl_display_match_list(shown, n, longest);
    rl_forced_update_display();
    free(shown);
}

/* Asks mgv._host.complete for the matches of the line up to the cursor.
 * Its word may start before or after readline's (text, at start): the
 * matches are cut or extended to replace text. */
static char **attempt_completion(const char *text, int start, int end)
{
    rl_completion_suppress_append = 1;
    rl_completion_display_matches_hook = NULL;
    rl_attempted_completion_over = 1;
    free_completions();
    lua_State *L = comp_L;
    int top = lua_gettop(L);
    if (lhost_complete(L, rl_line_buffer, (size_t)end) != 0) return NULL;
    int s = (int)lua_tointeger(L, top + 1);
    int n = (int)lua_rawlen(L, top + 2);
    int files = 0;
    comp_list = calloc((size_t)(n ? n : 1), sizeof *comp_list);
    for (int i = 1; comp_list && i <= n; i++) {
        lua_rawgeti(L, top + 2, i);
        lua_rawgeti(L, top + 3, i);
        const char *m = lua_tostring(L, -2), *kind = lua_tostring(L, -1);
        if (kind && (strcmp(kind, "file") == 0 || strcmp(kind, "directory") == 0)) files = 1;
        char *c = NULL;
        if (!m || s < 0 || s > end) {
            /* nothing */
        } else if (s <= start) {
            size_t cut = (size_t)(start - s);
            if (strlen(m) >= cut && strncmp(m, rl_line_buffer + s, cut) == 0) c = strdup(m + cut);
        } else if ((c = malloc((size_t)(s - start) + strlen(m) + 1)) != NULL) {
            memcpy(c, rl_line_buffer + start, (size_t)(s - start));
            strcpy(c + (s - start), m);
        }
        if (c) comp_list[comp_n++] = c;
        lua_pop(L, 2);
    }
    lua_settop(L, top);
    const char *sep = NULL;
    for (const char *p = text; *p && !files; p++)
        if (*p == '.' || *p == ':') sep = p;
    comp_head = sep ? (size_t)(sep - text + 1) : 0;
    if (comp_n == 0) return NULL;
    rl_completion_display_matches_hook = display_matches;
    return rl_completion_matches(text, comp_generator);
}

/* ---- reading lines ---------------------------------------------------------- */

enum { READ_LINE, READ_EOF, READ_INTERRUPT };

static char *cb_line;
static int cb_done;

static void on_line(char *line)
{
    cb_line = line;
    cb_done = 1;
    rl_callback_handler_remove();
}

/*
 * Reads one line with the prompt. READ_LINE sets *out (free it); READ_EOF is
 * Ctrl-D on an empty line or the end of input; READ_INTERRUPT is Ctrl-C, after
 * which the line is gone and *was_empty says whether it had been empty.
 */
static int read_line(const char *prompt, char **out, int *was_empty)
{
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGWINCH);
    sigprocmask(SIG_BLOCK, &block, &orig);
    prompt_sigint = 0;
    cb_done = 0;
    cb_line = NULL;
    *out = NULL;
    int result = READ_LINE;
    rl_callback_handler_install(prompt, on_line);
    int fd = fileno(rl_instream ? rl_instream : stdin);
    while (!cb_done) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        int r = pselect(fd + 1, &fds, NULL, NULL, NULL, &orig);
        if (got_sigwinch) {
            got_sigwinch = 0;
            rl_resize_terminal();
        }
        if (prompt_sigint) {
            prompt_sigint = 0;
            rl_callback_sigcleanup();   /* leaves an i-search or a key sequence */
            *was_empty = rl_end == 0;
            rl_point = rl_end;
            rl_redisplay();
            fputs("^C", rl_outstream ? rl_outstream : stdout);
            rl_replace_line("", 0);
            rl_crlf();
            rl_callback_handler_remove();
            result = READ_INTERRUPT;
            break;
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            rl_callback_handler_remove();
            result = READ_EOF;
            break;
        }
        if (r > 0) rl_callback_read_char();
    }
    if (result == READ_LINE) {
        if (cb_line) *out = cb_line;
        else result = READ_EOF;
    }
    fflush(rl_outstream ? rl_outstream : stdout);
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return result;
}

/* ---- history ---------------------------------------------------------------- */

static char hist_path[4096];
static int hist_size = HISTORY_DEFAULT;

/* Entries are written with a timestamp line before each ("#<seconds>"), by
 * which readline reads a multi-line entry back as one entry (as bash's
 * lithist). A file without timestamps still reads, line by line. */
static void history_open(void)
{
    const char *h = getenv("MGV_HISTORY");
    const char *home = getenv("HOME");
    if (h) snprintf(hist_path, sizeof hist_path, "%s", h);   /* "" switches it off */
    else if (home && *home) snprintf(hist_path, sizeof hist_path, "%s/.mgv_history", home);
    else hist_path[0] = '\0';
    const char *size = getenv("MGV_HISTORY_SIZE");
    if (size && atoi(size) > 0) hist_size = atoi(size);
    history_comment_char = '#';   /* timestamps read "#<seconds>" */
    history_write_timestamps = 1;
    history_multiline_entries = 1;
    using_history();
    stifle_history(hist_size);
    if (*hist_path) read_history(hist_path);
}

/*
 * Adds a chunk, whole (a multi-line chunk stays one entry); consecutive
 * duplicates are skipped. Each entry is appended to the file at once, so a
 * crash loses nothing and concurrent sessions do not overwrite each other.
 */
static void history_add(const char *chunk)
{
    while (*chunk == ' ' || *chunk == '\t') chunk++;
    if (!*chunk) return;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && strcmp(last->line, chunk) == 0) return;
    add_history(chunk);
    if (*hist_path) {
        if (access(hist_path, F_OK) != 0) write_history(hist_path);
        else append_history(1, hist_path);
    }
}

static void history_close(void)
{
    if (*hist_path && access(hist_path, F_OK) == 0) history_truncate_file(hist_path, hist_size);
    clear_history();
}

/* ---- the REPL ----------------------------------------------------------------- */

enum { CHUNK_RUN, CHUNK_ERROR, CHUNK_HELP, CHUNK_NONE, CHUNK_EOF, CHUNK_INTERRUPT_EMPTY };

static int chunk_count;   /* names chunks stdin:1, stdin:2, ... */

/*
 * Compiles code (the string at the top) with mgv._host.compile and replaces
 * it by the function (*kind CHUNK_RUN, *print whether to show its results),
 * the help text (CHUNK_HELP), an error message (CHUNK_ERROR) or nothing
 * (CHUNK_NONE). Returns 1 when the input is incomplete (the message left).
 */
static int compile(lua_State *L, int *kind, int *print)
{
    char name[32];
    snprintf(name, sizeof name, "=stdin:%d", chunk_count + 1);
    int code = lua_gettop(L);
    *print = 0;
    lua_pushvalue(L, code);
    lua_pushstring(L, name);
    int status = lhost_call(L, "compile", 2, 3);
    if (status != LUA_OK) {
        if (status < 0) lua_pushliteral(L, "mgv._host is missing: cannot compile");
        lua_replace(L, code);
        lua_settop(L, code);
        *kind = CHUNK_ERROR;
        return 0;
    }
    const char *k = lua_tostring(L, code + 1);
    int more = 0;
    if (k && strcmp(k, "run") == 0) {
        *kind = CHUNK_RUN;
        *print = lua_toboolean(L, code + 3);
    } else if (k && strcmp(k, "help") == 0) {
        *kind = CHUNK_HELP;
    } else if (k && strcmp(k, "error") == 0) {
        *kind = CHUNK_ERROR;
        more = lua_toboolean(L, code + 3);
    } else {
        *kind = CHUNK_NONE;
    }
    lua_settop(L, code + 2);
    lua_replace(L, code);
    lua_settop(L, code);
    return more;
}

/*
 * Reads one chunk. CHUNK_RUN leaves the function on the stack (*print says
 * whether to show its results), CHUNK_ERROR a syntax error message,
 * CHUNK_HELP the text to print.
 */
static int read_chunk(lua_State *L, int *print)
{
    char *line;
    int empty = 0, kind;
    int r = read_line(PROMPT1, &line, &empty);
    if (r == READ_EOF) return CHUNK_EOF;
    if (r == READ_INTERRUPT) return empty ? CHUNK_INTERRUPT_EMPTY : CHUNK_NONE;
    lua_pushstring(L, line);   /* the code so far, at index top */
    free(line);
    int code_idx = lua_gettop(L);
    for (;;) {
        lua_pushvalue(L, code_idx);
        int more = compile(L, &kind, print);
        if (!more) break;
        lua_pop(L, 1);   /* the "incomplete" message */
        r = read_line(PROMPT2, &line, &empty);
        if (r == READ_INTERRUPT) {
            lua_settop(L, code_idx - 1);
            return CHUNK_NONE;
        }
        if (r == READ_EOF) {   /* report what is missing */
            lua_pushvalue(L, code_idx);
            compile(L, &kind, print);
            break;
        }
        lua_pushvalue(L, code_idx);
        lua_pushliteral(L, "\n");
        lua_pushstring(L, line);
        free(line);
        lua_concat(L, 3);
        lua_replace(L, code_idx);
    }
    history_add(lua_tostring(L, code_idx));
    lua_remove(L, code_idx);
    if (kind == CHUNK_NONE) lua_pop(L, 1);
    if (kind == CHUNK_RUN) chunk_count++;
    return kind;
}

static void repl(lua_State *L)
{
    repl_mode = 1;
    progname = NULL;   /* errors print without a prefix */
    comp_L = L;
    int interactive = isatty(STDIN_FILENO);

    rl_readline_name = "mgv";
    rl_catch_signals = 0;    /* SIGINT and SIGWINCH are handled here */
    rl_catch_sigwinch = 0;
    rl_attempted_completion_function = attempt_completion;
    rl_completer_word_break_characters = LUA_BREAKS;
    rl_basic_quote_characters = "";   /* no closing quote after a file name: as in the kernel */
    struct sigaction old_int, old_winch;
    set_handler(SIGINT, on_sigint_prompt, 0, &old_int);
    set_handler(SIGWINCH, on_sigwinch, SA_RESTART, &old_winch);
    history_open();

    int ran = 0;            /* something ran: leaving loses state */
    int exit_armed = 0;     /* the next Ctrl-C / Ctrl-D on an empty line exits */
    for (;;) {
        lua_settop(L, 0);
        int print = 0;
        int kind = read_chunk(L, &print);
        if (kind == CHUNK_EOF) {
            if (!interactive || !ran || exit_armed) break;
            fputs("(press Ctrl-D again to exit: this session's variables, tensors and models "
                  "will be lost)\n", stdout);
            fflush(stdout);
            exit_armed = 1;
            continue;
        }
        if (kind == CHUNK_INTERRUPT_EMPTY) {
            if (exit_armed) break;
            fputs("(to exit press Ctrl-C again or Ctrl-D, or call os.exit(); " 
                  "unsaved variables, tensors and models will be lost)\n", stdout);
            fflush(stdout);
            exit_armed = 1;
            continue;
        }
        exit_armed = 0;
        if (kind == CHUNK_NONE) continue;
        if (kind == CHUNK_ERROR) {
            report_repl(L);
            continue;
        }
        if (kind == CHUNK_HELP) {
            size_t len;
            const char *text = lua_tolstring(L, -1, &len);
            fwrite(text ? text : "", 1, text ? len : 0, stdout);
            fputc('\n', stdout);
            fflush(stdout);
            continue;
        }
        ran = 1;
        int base = lua_gettop(L);
        int status = docall(L, 0, LUA_MULTRET);
        if (status != LUA_OK) {
            report_repl(L);
            continue;
        }
        int n = lua_gettop(L) - base + 1;
        if (print) show_results(L, n);
    }
    lua_settop(L, 0);
    if (!interactive) putchar('\n');   /* readline ended the line on a terminal */
    fflush(stdout);
    history_close();
    free_completions();
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGWINCH, &old_winch, NULL);
    repl_mode = 0;
    progname = "mgv";
}

/* ---- main ------------------------------------------------------------- */

static void print_version(void)
{
    printf("mgv %s (%s)\n", LMGV_VERSION, LUA_RELEASE);
    fflush(stdout);
}

static void print_banner(void)
{
    printf("mgv %s (%s)  ?name or help(x) for documentation, Tab completes, Ctrl-D exits\n",
           LMGV_VERSION, LUA_RELEASE);
    fflush(stdout);
}

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: %s [options] [script [args]]\n"
            "  -e code        run code (repeatable)\n"
            "  -i             enter the interactive mode after the script / code\n"
            "  -v, --version  show the version\n"
            "  -h, --help     show this help\n"
            "  --simd-paths   list the SIMD paths this CPU runs ($MGV_SIMD), best first\n"
            "  --             stop handling options\n"
            "  -              run standard input and stop handling options\n"
            "With no script and no -e: the interactive mode on a terminal, else\n"
            "standard input runs as a script. The module is the global `mgv`\n"
            "(mgv.help() lists its functions). Interactive history goes to\n"
            "$MGV_HISTORY (default ~/.mgv_history; empty: none), at most\n"
            "$MGV_HISTORY_SIZE entries (default %d).\n",
            progname, HISTORY_DEFAULT);
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
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            has_v = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_usage(stdout);
            lua_pushboolean(L, 1);
            return 1;
        } else if (strcmp(a, "--simd-paths") == 0) {
            for (int p = MGV_SIMD_NPATHS - 1; p >= 0; p--)
                if (mgv_simd_supported(p)) printf("%s %s\n", mgv_simd_name(p), mgv_simd_blas_core(p));
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
    lhost_init(L);   /* the interactive host; the globals help, display, update_display */
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
        print_banner();
        repl(L);
    } else if (script == argc && !has_e && !has_v) {
        if (isatty(STDIN_FILENO)) {
            print_banner();
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
    if (mgv_simd_init() != 0) {   /* a path this CPU lacks: say so rather than run another */
        message(mgv_last_error());
        return 2;
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
