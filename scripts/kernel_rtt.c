/*
 * kernel_rtt.c — a lean Jupyter client that times the execute round trip of
 * any kernel (scripts/bench_kernel.py runs it against mgv-kernel and
 * ipykernel in the same run).
 *
 *   kernel_rtt CONNECTION_FILE [N] [CODE]
 *
 * One round trip: send a signed execute_request on shell, then wait until
 * both the execute_reply (shell) and the `idle` status (IOPub) whose parent
 * is that request have arrived. Messages are matched by the request's msg_id
 * inside the parent-header frame; incoming signatures are not checked (the
 * same for every kernel, and the kernel's own cost is what we want to see).
 * Prints the median, mean and minimum in milliseconds of N timed round
 * trips after N/10 warm-up ones.
 *
 * Written in C so the client adds little: jupyter_client's Python session
 * costs about 1 ms of CPU per round trip on this machine, which would hide
 * most of a fast kernel's time.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char *key;
static const char *session = "kernel-rtt-session";
static long serial;

/* Sends a signed execute_request; writes its msg_id to id (64 bytes). */
static int send_execute(void *shell, const char *code, char *id)
{
    snprintf(id, 64, "rtt-%ld-%ld", (long)time(NULL), ++serial);
    char header[512], content[1024];
    snprintf(header, sizeof header,
             "{\"msg_id\":\"%s\",\"session\":\"%s\",\"username\":\"rtt\",\"date\":"
             "\"2026-01-01T00:00:00.000000Z\",\"msg_type\":\"execute_request\",\"version\":\"5.3\"}",
             id, session);
    json_t *c = json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent", 0,
                          "store_history", 1, "user_expressions", "allow_stdin", 0,
                          "stop_on_error", 1);
    char *cs = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    snprintf(content, sizeof content, "%s", cs);
    free(cs);
    const char *frames[4] = {header, "{}", "{}", content};
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char all[2048];
    size_t len = 0;
    for (int i = 0; i < 4; i++) {
        memcpy(all + len, frames[i], strlen(frames[i]));
        len += strlen(frames[i]);
    }
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)all, len, mac, &maclen);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < maclen; i++) sprintf(hex + 2 * i, "%02x", mac[i]);
    if (zmq_send(shell, "<IDS|MSG>", 9, ZMQ_SNDMORE) < 0) return -1;
    if (zmq_send(shell, hex, 2 * maclen, ZMQ_SNDMORE) < 0) return -1;
    for (int i = 0; i < 4; i++)
        if (zmq_send(shell, frames[i], strlen(frames[i]), i < 3 ? ZMQ_SNDMORE : 0) < 0) return -1;
    return 0;
}

/* Reads one multipart message; returns 1 if its parent header names id
 * (and, for IOPub, it is an idle status), 0 otherwise. */
static int read_message(void *s, const char *id, int want_idle)
{
    int after_delim = -1, match = 0, idle = 0, more = 1;
    for (int i = 0; more; i++) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, s, 0) < 0) {
            zmq_msg_close(&f);
            return 0;
        }
        const char *d = zmq_msg_data(&f);
        size_t n = zmq_msg_size(&f);
        if (after_delim < 0 && n == 9 && memcmp(d, "<IDS|MSG>", 9) == 0) after_delim = 0;
        else if (after_delim >= 0) {
            after_delim++;
            /* 1 signature, 2 header, 3 parent header, 4 metadata, 5 content */
            if (after_delim == 3 && memmem(d, n, id, strlen(id))) match = 1;
            if (after_delim == 2 && memmem(d, n, "\"status\"", 8)) idle = 1;
            if (after_delim == 5 && idle && !memmem(d, n, "\"idle\"", 6)) idle = 0;
        }
        more = zmq_msg_more(&f);
        zmq_msg_close(&f);
    }
    return match && (!want_idle || idle);
}

static double round_trip(void *shell, void *iopub, const char *code)
{
    char id[64];
    double t0 = now_ms();
    if (send_execute(shell, code, id) != 0) return -1;
    int got_reply = 0, got_idle = 0;
    while (!(got_reply && got_idle)) {
        zmq_pollitem_t it[2] = {{shell, 0, ZMQ_POLLIN, 0}, {iopub, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(it, 2, 10000) <= 0) return -1;
        if (it[0].revents & ZMQ_POLLIN) got_reply |= read_message(shell, id, 0);
        if (it[1].revents & ZMQ_POLLIN) got_idle |= read_message(iopub, id, 1);
    }
    return now_ms() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: kernel_rtt CONNECTION_FILE [N] [CODE]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 1000;
    const char *code = argc > 3 ? argv[3] : "1";
    json_error_t err;
    json_t *conn = json_load_file(argv[1], 0, &err);
    if (!conn) {
        fprintf(stderr, "kernel_rtt: %s: %s\n", argv[1], err.text);
        return 1;
    }
    key = json_string_value(json_object_get(conn, "key"));
    const char *ip = json_string_value(json_object_get(conn, "ip"));
    if (!key || !ip || n < 1) {
        fprintf(stderr, "kernel_rtt: no key or ip in %s\n", argv[1]);
        return 1;
    }
    void *ctx = zmq_ctx_new();
    void *shell = zmq_socket(ctx, ZMQ_DEALER), *iopub = zmq_socket(ctx, ZMQ_SUB);
    char ep[256];
    snprintf(ep, sizeof ep, "tcp://%s:%lld", ip,
             (long long)json_integer_value(json_object_get(conn, "shell_port")));
    zmq_connect(shell, ep);
    snprintf(ep, sizeof ep, "tcp://%s:%lld", ip,
             (long long)json_integer_value(json_object_get(conn, "iopub_port")));
    zmq_setsockopt(iopub, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect(iopub, ep);
    /* a SUB socket misses what is published before it is connected: warm
     * up until a round trip completes */
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    for (int i = 0; i < 1 + n / 10; i++)
        if (round_trip(shell, iopub, code) < 0 && i == 0) {
            fprintf(stderr, "kernel_rtt: no answer from the kernel\n");
            return 1;
        }
    double *t = malloc(sizeof *t * (size_t)n), sum = 0;
    for (int i = 0; i < n; i++) {
        t[i] = round_trip(shell, iopub, code);
        if (t[i] < 0) {
            fprintf(stderr, "kernel_rtt: round trip %d timed out\n", i);
            return 1;
        }
        sum += t[i];
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    printf("median_ms=%.4f mean_ms=%.4f min_ms=%.4f n=%d\n", t[n / 2], sum / n, t[0], n);
    free(t);
    zmq_close(shell);
    zmq_close(iopub);
    zmq_ctx_term(ctx);
    json_decref(conn);
    return 0;
}
