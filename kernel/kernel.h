/*
 * kernel.h — bin/mgv-kernel, a Jupyter kernel (messaging protocol 5.3) on
 * libzmq that hosts one Lua state with the mgv module, as bin/mgv does.
 *
 * Files, by concern:
 *   wire.c      connection file, HMAC signatures, replay guard, message
 *               frames in and out, UTF-8-safe JSON strings
 *   iopub.c     everything published on IOPub: status, output streams
 *               (buffered, sent by a flusher thread while a cell runs),
 *               display data
 *   host.c      the Lua state: stdio redirected into streams, the
 *               primitives of lua/notebook.lua (display messages), running
 *               cells, completion, inspection and interrupts through the
 *               host shared with the REPL (lua/host.lua, lua/lhost.c), stdin
 *   handlers.c  the request handlers of the shell and control sockets,
 *               history, kernel_info
 *   install.c   `mgv-kernel install`: the kernelspec and its logos
 *   main.c      sockets, threads (heartbeat, control, flusher), main loop
 *
 * Threads: the main thread owns the Lua state and the shell and stdin
 * sockets; the control thread answers control requests (interrupt,
 * shutdown, kernel_info) even while a cell runs; the heartbeat thread
 * echoes pings; the flusher thread sends buffered output. IOPub is shared
 * under a mutex. SIGINT is blocked in every thread but the main one.
 */
#ifndef MGV_KERNEL_H
#define MGV_KERNEL_H

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#define KERNEL_PROTOCOL "5.3"
#define KERNEL_NAME "mgv"
#define KERNEL_DISPLAY_NAME "mgv (Lua)"

/* ---- wire.c --------------------------------------------------------------- */

enum { K_SHELL, K_IOPUB, K_STDIN, K_CONTROL, K_HB, K_NSOCK };

/* The connection file. Ports 0 are bound to a free port and written back. */
typedef struct kconn {
    char transport[16];
    char ip[512];
    int port[K_NSOCK];
    char *key;              /* "" when signing is off */
    char scheme[64];        /* "hmac-sha256" */
} kconn;

/* Reads the connection file; -1 with mgv_last_error() set. */
int kconn_load(const char *path, kconn *c);
void kconn_free(kconn *c);
/* "tcp://ip:port" ("tcp://ip:*" for port 0) or "ipc://ip-port". */
void kconn_endpoint(const kconn *c, int which, char *buf, size_t n);
/* Writes the connection back with the ports actually bound. */
int kconn_save(const kconn *c, const char *path);

/* Sets the key and scheme used to sign and check every message. */
int ksign_init(const char *scheme, const char *key);
void ksign_free(void);

typedef struct kframe {
    unsigned char *data;
    size_t len;
} kframe;

/* One received message. header_raw keeps the header frame as received: it is
 * the parent_header of every message sent in answer. */
typedef struct kmsg {
    kframe *ids;
    int n_ids;
    char *header_raw;
    size_t header_len;
    json_t *header, *parent, *metadata, *content;
    const char *msg_type;   /* in header */
} kmsg;

/* A socket and, when several threads send on it, its lock. */
typedef struct ksock {
    void *z;
    pthread_mutex_t *lock;
    const char *name;       /* for log lines */
    int pub;                /* IOPub: a topic frame instead of identities */
} ksock;

/* Receives one message. Returns 1 with *m filled, 0 when a message was
 * dropped (malformed frames, missing or wrong signature, replay — logged,
 * never handled), -1 when the socket gives nothing (errno EAGAIN with
 * ZMQ_DONTWAIT, EINTR, ETERM at shutdown). */
int kmsg_recv(ksock *s, kmsg *m, int flags);
/* What kmsg_recv does with the frames it received: takes fr (the array and
 * each data, malloc'd, with a NUL after len bytes) and returns 1 with *m
 * filled, or 0 with *why set when the message must be dropped. */
int kmsg_parse(kframe *fr, int n, kmsg *m, const char **why);
void kmsg_free(kmsg *m);
/* Sends msg_type with content and metadata (both stolen; NULL means {}).
 * With a parent: its identities (not on IOPub) and its header as
 * parent_header; without, none and {}. Returns 0 or -1. */
int kmsg_send(ksock *s, const char *msg_type, const kmsg *parent, json_t *content,
              json_t *metadata);
/* The same with the parent given as raw header bytes (may be NULL). */
int kmsg_send_raw(ksock *s, const char *msg_type, const kframe *ids, int n_ids,
                  const char *parent_raw, size_t parent_len, json_t *content, json_t *metadata);

/* A JSON string of n bytes: invalid UTF-8 becomes U+FFFD, so that any bytes a
 * cell prints can travel. Never NULL unless memory runs out. */
json_t *kjson_string(const char *s, size_t n);
json_t *kjson_cstr(const char *s);
/* Length of the longest prefix of s[0..n) that does not end inside a
 * UTF-8 sequence (streams keep the cut tail for the next write). */
size_t kutf8_prefix(const char *s, size_t n);
/* A string field of an object, or def. */
const char *kjson_str(json_t *obj, const char *key, const char *def);
/* The kernel's session id (a UUID). */
const char *ksession(void);
/* Log lines on the kernel's own stderr (never into a cell's output). */
void klog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void klog_init(void);

/* ---- iopub.c -------------------------------------------------------------- */

void kio_init(ksock *iopub);
void kio_stop(void);
/* Outputs from now on answer this request (silent: dropped). */
void kio_begin(const kmsg *parent, int silent);
/* Sends what is buffered; outputs no longer have a parent. */
void kio_end(void);
/* Appends to stdout (1) or stderr (2); sent within ~50 ms by the flusher. */
void kio_write(int which, const char *buf, size_t n);
/* Sends buffered output now (keeping a cut UTF-8 tail). */
void kio_flush(void);
/* Publishes an output message (display_data, execute_result, error,
 * clear_output, ...) for the current request after the buffered streams;
 * dropped when the request is silent. content stolen. */
void kio_publish(const char *msg_type, json_t *content);
/* status busy / idle / starting for a request (parent may be NULL). */
void kio_status(const kmsg *parent, const char *state);
/* Sends on IOPub with an explicit parent (control thread). content stolen. */
void kio_send(const kmsg *parent, const char *msg_type, json_t *content);

/* ---- host.c --------------------------------------------------------------- */

/* Redirects stdio into the streams and opens the Lua state; -1 on failure. */
int khost_init(ksock *stdin_sock);
void khost_close(void);
/* The SIGINT handler (main thread): stops a running cell. */
void khost_on_sigint(int sig);
/* 1 while a cell (or input wait) runs. */
int khost_busy(void);

typedef struct kexec {
    const char *code;
    size_t len;
    int count;                 /* execution count shown as In[count] */
    int silent;
    int allow_stdin;
    const kmsg *request;       /* for input_request on stdin */
    json_t *user_expressions;  /* borrowed, may be NULL */
    /* results */
    int ok;
    char *ename, *evalue;      /* on error (malloc'd) */
    json_t *traceback;         /* on error: array of lines */
    json_t *payload;           /* array (page payload of ?name) */
    json_t *user_results;      /* object */
    char *output;              /* text/plain of the result, for history */
} kexec;

/* Runs a cell: publishes execute_result or error itself; fills e. */
void khost_execute(kexec *e);
void kexec_free(kexec *e);
/* Reply contents (status ok) of complete / inspect / is_complete. cursor
 * positions are in Unicode code points, as the protocol counts. */
json_t *khost_complete(const char *code, long cursor);
json_t *khost_inspect(const char *code, long cursor, int detail);
json_t *khost_is_complete(const char *code);

/* ---- handlers.c ----------------------------------------------------------- */

/* Shared state of the kernel process. */
typedef struct kstate {
    void *ctx;
    ksock shell, iopub, stdin_, control, hb;
    pthread_t main_thread;
    volatile sig_atomic_t shutdown;   /* a shutdown_request arrived */
    void *wake;                       /* control thread -> main loop (inproc PAIR) */
    const char *interrupt_mode;
} kstate;
extern kstate ks;

/* Handles one request from the shell socket (main thread). */
void khandle_shell(kmsg *m);
/* Handles one request from the control socket; 1 after shutdown_request. */
int khandle_control(kmsg *m);
void khandlers_free(void);

/* ---- install.c ------------------------------------------------------------- */

/* `mgv-kernel install [...]`; returns the exit status. */
int kinstall_main(int argc, char **argv);

#endif
