/*
 * iopub.c — what the kernel publishes on IOPub.
 *
 * Output streams: whatever a cell writes to stdout or stderr (print,
 * io.write, C code using stdio) lands in a buffer per stream. A flusher
 * thread sends a buffer as a `stream` message about 50 ms after its first
 * unsent byte, so a training loop's progress shows while the cell runs;
 * large bursts are sent at once. Before any other output (display_data,
 * execute_result, error) the buffers are sent, so order is kept. A UTF-8
 * sequence cut at the end of a buffer waits for its remaining bytes.
 *
 * Lock order: io.mu, then the IOPub socket's lock.
 */
#include "kernel.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FLUSH_DELAY 0.05        /* seconds from the first unsent byte */
#define FLUSH_NOW (64 * 1024)   /* bytes that are sent without waiting */

typedef struct buffer {
    char *buf;
    size_t len, cap;
} buffer;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ksock *iopub;
    char *parent;        /* raw header of the current request; NULL: none */
    size_t parent_len;
    int silent;
    buffer st[2];        /* stdout, stderr */
    double pending;      /* monotonic time of the oldest unsent byte; 0: none */
    int stop, started;
    pthread_t thread;
} io = {.mu = PTHREAD_MUTEX_INITIALIZER};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sends the buffered streams (io.mu held). all: also a cut UTF-8 tail. */
static void flush_locked(int all)
{
    static const char *const names[2] = {"stdout", "stderr"};
    for (int k = 0; k < 2; k++) {
        buffer *b = &io.st[k];
        if (b->len == 0) continue;
        size_t n = all ? b->len : kutf8_prefix(b->buf, b->len);
        if (n == 0) continue;
        if (!io.silent) {
            json_t *c = json_object();
            json_object_set_new(c, "name", json_string(names[k]));
            json_object_set_new(c, "text", kjson_string(b->buf, n));
            kmsg_send_raw(io.iopub, "stream", NULL, 0, io.parent, io.parent_len, c, NULL);
        }
        memmove(b->buf, b->buf + n, b->len - n);
        b->len -= n;
    }
    io.pending = 0;
}

static void *flusher(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&io.mu);
    while (!io.stop) {
        if (io.pending == 0) {
            pthread_cond_wait(&io.cv, &io.mu);
            continue;
        }
        double due = io.pending + FLUSH_DELAY, t = now();
        if (t >= due) {
            flush_locked(0);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double wait = due - t;
        ts.tv_sec += (time_t)wait;
        ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&io.cv, &io.mu, &ts);
    }
    pthread_mutex_unlock(&io.mu);
    return NULL;
}

void kio_init(ksock *iopub)
{
    io.iopub = iopub;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&io.cv, &ca);
    pthread_condattr_destroy(&ca);
    io.started = pthread_create(&io.thread, NULL, flusher, NULL) == 0;
    if (!io.started) klog("cannot start the output thread: output is sent at the end of cells");
}

void kio_stop(void)
{
    pthread_mutex_lock(&io.mu);
    flush_locked(1);
    io.iopub = NULL;   /* later writes (none expected) are dropped */
    io.stop = 1;
    pthread_cond_signal(&io.cv);
    pthread_mutex_unlock(&io.mu);
    if (io.started) pthread_join(io.thread, NULL);
    io.started = 0;
    for (int k = 0; k < 2; k++) {
        free(io.st[k].buf);
        io.st[k] = (buffer){0};
    }
    free(io.parent);
    io.parent = NULL;
    pthread_cond_destroy(&io.cv);
}

void kio_begin(const kmsg *parent, int silent)
{
    pthread_mutex_lock(&io.mu);
    flush_locked(1);   /* leftovers belong to the previous parent */
    free(io.parent);
    io.parent = NULL;
    io.parent_len = 0;
    if (parent && parent->header_raw) {
        io.parent = malloc(parent->header_len + 1);
        if (io.parent) {
            memcpy(io.parent, parent->header_raw, parent->header_len + 1);
            io.parent_len = parent->header_len;
        }
    }
    io.silent = silent;
    pthread_mutex_unlock(&io.mu);
}

void kio_end(void)
{
    pthread_mutex_lock(&io.mu);
    flush_locked(1);
    free(io.parent);
    io.parent = NULL;
    io.parent_len = 0;
    io.silent = 0;
    pthread_mutex_unlock(&io.mu);
}

void kio_write(int which, const char *buf, size_t n)
{
    if (n == 0) return;
    pthread_mutex_lock(&io.mu);
    if (io.silent || !io.iopub) {
        pthread_mutex_unlock(&io.mu);
        return;
    }
    buffer *b = &io.st[which == 2 ? 1 : 0];
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        char *g = realloc(b->buf, cap);
        if (!g) {   /* out of memory: send what we have, drop the rest */
            flush_locked(1);
            pthread_mutex_unlock(&io.mu);
            return;
        }
        b->buf = g;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, buf, n);
    b->len += n;
    if (b->len >= FLUSH_NOW) {
        flush_locked(0);
    } else if (io.pending == 0) {
        io.pending = now();
        pthread_cond_signal(&io.cv);
    }
    pthread_mutex_unlock(&io.mu);
}

void kio_flush(void)
{
    pthread_mutex_lock(&io.mu);
    flush_locked(0);
    pthread_mutex_unlock(&io.mu);
}

void kio_publish(const char *msg_type, json_t *content)
{
    pthread_mutex_lock(&io.mu);
    flush_locked(0);
    if (io.silent || !io.iopub) json_decref(content);
    else kmsg_send_raw(io.iopub, msg_type, NULL, 0, io.parent, io.parent_len, content, NULL);
    pthread_mutex_unlock(&io.mu);
}

void kio_status(const kmsg *parent, const char *state)
{
    kmsg_send(&ks.iopub, "status", parent, json_pack("{s:s}", "execution_state", state), NULL);
}

void kio_send(const kmsg *parent, const char *msg_type, json_t *content)
{
    kmsg_send(&ks.iopub, msg_type, parent, content, NULL);
}
