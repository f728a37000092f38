/*
 * handlers.c — what the kernel does with each request.
 *
 * Every request is framed by IOPub `status: busy` first and `status: idle`
 * last, with the reply in between. Shell requests run on the main thread
 * (the one that owns the Lua state); control requests (shutdown, interrupt,
 * kernel_info) on the control thread, so they are answered while a cell
 * runs. History lives in memory for the life of the process (session 1):
 * every input, but the output text only of the last HIST_OUTPUTS cells and
 * cut at HIST_OUTPUT_MAX bytes, so that cells with large results do not
 * make the kernel grow for ever.
 */
#include "kernel.h"

#include <fnmatch.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lua.h>
#include <zmq.h>

#include "lmgv.h"

kstate ks;

static int exec_count;         /* the last In[n] given to a stored cell */
static kmsg *held;             /* requests met while aborting, handled next */
static int n_held;

/* ---- history ------------------------------------------------------------------- */

#define HIST_SESSION 1
#define HIST_OUTPUTS 200              /* entries that keep their output */
#define HIST_OUTPUT_MAX (64 * 1024)   /* bytes of an output kept */

typedef struct hentry {
    int line;
    char *input, *output;
} hentry;
static hentry *hist;
static size_t n_hist, cap_hist;

static void hist_add(int line, const char *input, const char *output)
{
    if (n_hist == cap_hist) {
        size_t cap = cap_hist ? 2 * cap_hist : 64;
        hentry *g = realloc(hist, cap * sizeof *g);
        if (!g) return;
        hist = g;
        cap_hist = cap;
    }
    hentry *h = &hist[n_hist];
    h->line = line;
    h->input = strdup(input);
    h->output = NULL;
    if (output) {
        size_t n = strlen(output);
        if (n <= HIST_OUTPUT_MAX) {
            h->output = strdup(output);
        } else if ((h->output = malloc(HIST_OUTPUT_MAX + 4))) {
            size_t k = kutf8_prefix(output, HIST_OUTPUT_MAX);
            memcpy(h->output, output, k);
            memcpy(h->output + k, "\xE2\x80\xA6", 4);   /* U+2026 and the NUL */
        }
    }
    if (!h->input) {
        free(h->output);
        return;
    }
    n_hist++;
    if (n_hist > HIST_OUTPUTS) {   /* the oldest output still kept goes */
        free(hist[n_hist - 1 - HIST_OUTPUTS].output);
        hist[n_hist - 1 - HIST_OUTPUTS].output = NULL;
    }
}

void khandlers_free(void)
{
    for (int i = 0; i < n_held; i++) kmsg_free(&held[i]);
    free(held);
    held = NULL;
    n_held = 0;
    for (size_t i = 0; i < n_hist; i++) {
        free(hist[i].input);
        free(hist[i].output);
    }
    free(hist);
    hist = NULL;
    n_hist = cap_hist = 0;
}

static json_t *hist_item(const hentry *h, int output)
{
    if (output)
        return json_pack("[i, i, [o, o]]", HIST_SESSION, h->line, kjson_cstr(h->input),
                         h->output ? kjson_cstr(h->output) : json_null());
    return json_pack("[i, i, o]", HIST_SESSION, h->line, kjson_cstr(h->input));
}

static json_int_t int_field(json_t *c, const char *k, json_int_t def)
{
    json_t *v = json_object_get(c, k);
    return json_is_integer(v) ? json_integer_value(v) : json_is_real(v) ? (json_int_t)json_real_value(v) : def;
}

static json_t *history_reply(json_t *c)
{
    const char *type = kjson_str(c, "hist_access_type", "tail");
    int output = json_is_true(json_object_get(c, "output"));
    json_t *items = json_array();
    if (strcmp(type, "tail") == 0) {
        json_int_t n = int_field(c, "n", 10);
        size_t first = n < 0 ? n_hist : (size_t)n >= n_hist ? 0 : n_hist - (size_t)n;
        for (size_t i = first; i < n_hist; i++) json_array_append_new(items, hist_item(&hist[i], output));
    } else if (strcmp(type, "range") == 0) {
        json_int_t session = int_field(c, "session", 0);
        json_int_t start = int_field(c, "start", 0), stop = int_field(c, "stop", -1);
        if (session == 0 || session == HIST_SESSION)   /* earlier sessions are not kept */
            for (size_t i = 0; i < n_hist; i++)
                if (hist[i].line >= start && (stop < 0 || hist[i].line < stop))
                    json_array_append_new(items, hist_item(&hist[i], output));
    } else if (strcmp(type, "search") == 0) {
        const char *pattern = kjson_str(c, "pattern", "*");
        int unique = json_is_true(json_object_get(c, "unique"));
        json_int_t n = int_field(c, "n", -1);
        /* newest first, then reversed: the last n matches, oldest first */
        size_t *pick = malloc((n_hist ? n_hist : 1) * sizeof *pick), k = 0;
        for (size_t i = n_hist; pick && i-- > 0 && (n < 0 || (json_int_t)k < n);) {
            if (fnmatch(pattern, hist[i].input, 0) != 0) continue;
            int dup = 0;
            for (size_t j = 0; unique && j < k && !dup; j++)
                dup = strcmp(hist[pick[j]].input, hist[i].input) == 0;
            if (!dup) pick[k++] = i;
        }
        while (pick && k-- > 0) json_array_append_new(items, hist_item(&hist[pick[k]], output));
        free(pick);
    }
    return json_pack("{s:s, s:o}", "status", "ok", "history", items);
}

/* ---- kernel_info ----------------------------------------------------------------- */

static json_t *kernel_info(void)
{
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s}, s:s, s:b, s:[{s:s, s:s}]}",
        "status", "ok", "protocol_version", KERNEL_PROTOCOL, "implementation", "mgv",
        "implementation_version", LMGV_VERSION, "language_info", "name", "lua", "version",
        LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "." LUA_VERSION_RELEASE, "mimetype", "text/x-lua",
        "file_extension", ".lua", "pygments_lexer", "lua", "codemirror_mode", "lua",
        "nbconvert_exporter", "script", "banner",
        "mgv " LMGV_VERSION " (" LUA_RELEASE ") - the MG-VMoE engine from Lua\n"
        "?name shows help, mgv.help() lists the topics, display(x) shows pictures",
        "debugger", 0, "help_links", "text", "Lua 5.4 manual", "url",
        "https://www.lua.org/manual/5.4/");
}

/* ---- aborting after an error ---------------------------------------------------------
 * After a failed cell with stop_on_error, execute requests already queued
 * (sent before the client could see the failure) are answered "aborted"
 * without running, as ipykernel does. This runs before the failed cell's
 * reply, so a request sent after that reply always runs. Other requests
 * found on the way are kept and handled after the reply. */

static void abort_queued(void)
{
    kmsg m;
    int rc;
    while ((rc = kmsg_recv(&ks.shell, &m, ZMQ_DONTWAIT)) >= 0) {
        if (rc == 0) continue;
        if (strcmp(m.msg_type, "execute_request") == 0) {
            kio_status(&m, "busy");
            kmsg_send(&ks.shell, "execute_reply", &m,
                      json_pack("{s:s, s:i}", "status", "aborted", "execution_count", exec_count),
                      NULL);
            kio_status(&m, "idle");
            kmsg_free(&m);
        } else {
            kmsg *g = realloc(held, sizeof *held * (size_t)(n_held + 1));
            if (!g) {
                kmsg_free(&m);
                continue;
            }
            held = g;
            held[n_held++] = m;
        }
    }
}

static void handle_held(void)
{
    kmsg *list = held;
    int n = n_held;
    held = NULL;
    n_held = 0;
    for (int i = 0; i < n; i++) {
        khandle_shell(&list[i]);
        kmsg_free(&list[i]);
    }
    free(list);
}

/* ---- execute ---------------------------------------------------------------------- */

static void execute(kmsg *m)
{
    json_t *c = m->content;
    const char *code = kjson_str(c, "code", "");
    json_t *v;
    int silent = json_is_true(json_object_get(c, "silent"));
    int store = !silent && ((v = json_object_get(c, "store_history")) ? json_is_true(v) : 1);
    int allow_stdin = json_is_true(json_object_get(c, "allow_stdin"));   /* absent: no (ipykernel) */
    int stop_on_error = (v = json_object_get(c, "stop_on_error")) ? json_is_true(v) : 1;
    if (store) exec_count++;
    int count = store ? exec_count : exec_count + 1;
    kio_begin(m, silent);
    kio_publish("execute_input",
                json_pack("{s:o, s:i}", "code", kjson_cstr(code), "execution_count", count));
    kexec e = {.code = code,
               .len = strlen(code),
               .count = count,
               .silent = silent,
               .allow_stdin = allow_stdin,
               .request = m,
               .user_expressions = json_object_get(c, "user_expressions")};
    khost_execute(&e);
    kio_end();
    if (store) hist_add(count, code, e.output);
    json_t *r;
    if (e.ok) {
        r = json_pack("{s:s, s:i, s:O, s:O}", "status", "ok", "execution_count", count, "payload",
                      e.payload, "user_expressions", e.user_results);
    } else {
        r = json_pack("{s:s, s:i, s:s, s:s, s:O, s:O, s:O}", "status", "error", "execution_count",
                      count, "ename", e.ename, "evalue", e.evalue, "traceback", e.traceback,
                      "payload", e.payload, "user_expressions", e.user_results);
        if (stop_on_error) abort_queued();
    }
    kmsg_send(&ks.shell, "execute_reply", m, r, json_pack("{s:s}", "status", e.ok ? "ok" : "error"));
    kexec_free(&e);
}

/* ---- shutdown, interrupt -------------------------------------------------------------- */

static void shutdown_request(kmsg *m, ksock *reply_on)
{
    int restart = json_is_true(json_object_get(m->content, "restart"));
    ks.shutdown = 1;
    json_t *c = json_pack("{s:s, s:b}", "status", "ok", "restart", restart);
    kmsg_send(reply_on, "shutdown_reply", m, json_incref(c), NULL);
    kio_send(m, "shutdown_reply", c);
    /* Stop a running cell. A cell whose busy status went out a moment ago may
     * not have entered Lua yet, so keep interrupting for a short while. */
    if (reply_on != &ks.shell)
        for (int i = 0; i < 20; i++) {
            if (khost_busy()) pthread_kill(ks.main_thread, SIGINT);
            struct timespec ts = {0, 25 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
}

/* ---- dispatch ------------------------------------------------------------------------- */

void khandle_shell(kmsg *m)
{
    const char *t = m->msg_type;
    json_t *c = m->content;
    kio_status(m, "busy");
    if (strcmp(t, "execute_request") == 0) {
        execute(m);
    } else if (strcmp(t, "kernel_info_request") == 0) {
        kmsg_send(&ks.shell, "kernel_info_reply", m, kernel_info(), NULL);
    } else if (strcmp(t, "complete_request") == 0) {
        const char *code = kjson_str(c, "code", "");
        json_int_t pos = int_field(c, "cursor_pos", -1);
        kmsg_send(&ks.shell, "complete_reply", m, khost_complete(code, (long)pos), NULL);
    } else if (strcmp(t, "inspect_request") == 0) {
        const char *code = kjson_str(c, "code", "");
        json_int_t pos = int_field(c, "cursor_pos", -1);
        kmsg_send(&ks.shell, "inspect_reply", m,
                  khost_inspect(code, (long)pos, (int)int_field(c, "detail_level", 0)), NULL);
    } else if (strcmp(t, "is_complete_request") == 0) {
        kmsg_send(&ks.shell, "is_complete_reply", m, khost_is_complete(kjson_str(c, "code", "")), NULL);
    } else if (strcmp(t, "history_request") == 0) {
        kmsg_send(&ks.shell, "history_reply", m, history_reply(c), NULL);
    } else if (strcmp(t, "comm_info_request") == 0) {
        kmsg_send(&ks.shell, "comm_info_reply", m, json_pack("{s:s, s:{}}", "status", "ok", "comms"), NULL);
    } else if (strcmp(t, "comm_open") == 0) {
        /* no comm targets: close it, as the protocol asks */
        kio_send(m, "comm_close", json_pack("{s:o, s:{}}", "comm_id",
                                            kjson_cstr(kjson_str(c, "comm_id", "")), "data"));
    } else if (strcmp(t, "comm_msg") == 0 || strcmp(t, "comm_close") == 0) {
        /* no comms are open */
    } else if (strcmp(t, "shutdown_request") == 0) {
        shutdown_request(m, &ks.shell);
    } else if (strcmp(t, "interrupt_request") == 0) {
        kmsg_send(&ks.shell, "interrupt_reply", m, json_pack("{s:s}", "status", "ok"), NULL);
    } else {
        klog("ignored a %s on shell", t);
    }
    kio_status(m, "idle");
    if (held) handle_held();
}

int khandle_control(kmsg *m)
{
    const char *t = m->msg_type;
    int stop = 0;
    kio_status(m, "busy");
    if (strcmp(t, "shutdown_request") == 0) {
        shutdown_request(m, &ks.control);
        stop = 1;
    } else if (strcmp(t, "interrupt_request") == 0) {
        pthread_kill(ks.main_thread, SIGINT);
        kmsg_send(&ks.control, "interrupt_reply", m, json_pack("{s:s}", "status", "ok"), NULL);
    } else if (strcmp(t, "kernel_info_request") == 0) {
        kmsg_send(&ks.control, "kernel_info_reply", m, kernel_info(), NULL);
    } else {
        klog("ignored a %s on control", t);
    }
    kio_status(m, "idle");
    if (stop && ks.wake) zmq_send(ks.wake, "x", 1, ZMQ_DONTWAIT);
    return stop;
}
