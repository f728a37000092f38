/*
 * wire.c — the Jupyter wire protocol: the connection file, HMAC signatures,
 * and messages as ZeroMQ frames.
 *
 * A message on the wire is
 *   [identities...] "<IDS|MSG>" signature header parent_header metadata content [buffers...]
 * The signature is the hex HMAC (scheme and key from the connection file)
 * over the four JSON frames exactly as received. A message whose signature
 * is missing or wrong, whose frames are malformed, or whose signature was
 * seen before (a replay) is dropped here and never reaches a handler; the
 * comparison takes the same time wherever the first difference lies.
 */
#include "kernel.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <uuid/uuid.h>
#include <zmq.h>

#include "core/error.h"
#include "formats/utf8.h"

#define DELIM "<IDS|MSG>"
#define MAX_FRAMES 4096

/* ---- logging -------------------------------------------------------------- */

static FILE *log_fp;   /* a duplicate of the original stderr */

void klog_init(void)
{
    int fd = dup(2);
    log_fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (log_fp) setvbuf(log_fp, NULL, _IOLBF, 0);
}

void klog(const char *fmt, ...)
{
    FILE *f = log_fp ? log_fp : stderr;
    va_list ap;
    va_start(ap, fmt);
    flockfile(f);
    fputs("mgv-kernel: ", f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    funlockfile(f);
    va_end(ap);
}

/* ---- connection file ------------------------------------------------------- */

static const char *const port_keys[K_NSOCK] = {"shell_port", "iopub_port", "stdin_port",
                                               "control_port", "hb_port"};

int kconn_load(const char *path, kconn *c)
{
    memset(c, 0, sizeof *c);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) return mgv_fail("connection file %s: %s (line %d)", path, err.text, err.line);
    if (!json_is_object(j)) {
        json_decref(j);
        return mgv_fail("connection file %s: not a JSON object", path);
    }
    snprintf(c->transport, sizeof c->transport, "%s", kjson_str(j, "transport", "tcp"));
    snprintf(c->ip, sizeof c->ip, "%s", kjson_str(j, "ip", "127.0.0.1"));
    snprintf(c->scheme, sizeof c->scheme, "%s", kjson_str(j, "signature_scheme", "hmac-sha256"));
    c->key = strdup(kjson_str(j, "key", ""));
    int bad = !c->key;
    for (int i = 0; i < K_NSOCK; i++) {
        json_t *p = json_object_get(j, port_keys[i]);
        if (p && !json_is_integer(p)) bad = 1;
        c->port[i] = p ? (int)json_integer_value(p) : 0;
        if (c->port[i] < 0 || c->port[i] > 65535) bad = 1;
    }
    json_decref(j);
    if (bad) {
        kconn_free(c);
        return mgv_fail("connection file %s: a port is not an integer in 0..65535", path);
    }
    if (strcmp(c->transport, "tcp") != 0 && strcmp(c->transport, "ipc") != 0) {
        kconn_free(c);
        return mgv_fail("connection file %s: transport '%s' (expected tcp or ipc)", path,
                        c->transport);
    }
    return 0;
}

void kconn_free(kconn *c)
{
    free(c->key);
    c->key = NULL;
}

void kconn_endpoint(const kconn *c, int which, char *buf, size_t n)
{
    if (strcmp(c->transport, "ipc") == 0)
        snprintf(buf, n, "ipc://%s-%d", c->ip, c->port[which]);
    else if (c->port[which] == 0)
        snprintf(buf, n, "tcp://%s:*", c->ip);
    else
        snprintf(buf, n, "tcp://%s:%d", c->ip, c->port[which]);
}

int kconn_save(const kconn *c, const char *path)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "transport", c->transport, "ip", c->ip,
                          "key", c->key, "signature_scheme", c->scheme, "kernel_name", KERNEL_NAME);
    if (!j) return mgv_fail("connection file %s: out of memory", path);
    for (int i = 0; i < K_NSOCK; i++) json_object_set_new(j, port_keys[i], json_integer(c->port[i]));
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    int rc = json_dump_file(j, tmp, JSON_INDENT(2));
    json_decref(j);
    if (rc != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return mgv_fail("connection file %s: cannot write it back", path);
    }
    return 0;
}

/* ---- signatures ------------------------------------------------------------- */

static EVP_MAC *mac;
static char mac_digest[32];
static unsigned char *mac_key;
static size_t mac_keylen;
static size_t mac_hexlen;   /* length of a valid signature */

int ksign_init(const char *scheme, const char *key)
{
    ksign_free();
    mac_keylen = strlen(key);
    if (mac_keylen == 0) return 0;   /* the protocol's "no authentication" */
    if (strncmp(scheme, "hmac-", 5) != 0 || strlen(scheme + 5) >= sizeof mac_digest)
        return mgv_fail("signature scheme '%s' is not hmac-<digest>", scheme);
    snprintf(mac_digest, sizeof mac_digest, "%s", scheme + 5);
    const EVP_MD *md = EVP_get_digestbyname(mac_digest);
    if (!md) return mgv_fail("signature scheme '%s': unknown digest", scheme);
    mac_hexlen = 2 * (size_t)EVP_MD_get_size(md);
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    mac_key = malloc(mac_keylen);
    if (!mac || !mac_key) return mgv_fail("signatures: cannot set up HMAC");
    memcpy(mac_key, key, mac_keylen);
    return 0;
}

void ksign_free(void)
{
    if (mac) EVP_MAC_free(mac);
    mac = NULL;
    if (mac_key) OPENSSL_cleanse(mac_key, mac_keylen);
    free(mac_key);
    mac_key = NULL;
    mac_keylen = 0;
}

/* The hex signature of four parts into hex (at least 129 bytes); "" when
 * signing is off. Returns 0 or -1. */
static int sign_parts(const void *const parts[4], const size_t lens[4], char *hex)
{
    hex[0] = '\0';
    if (mac_keylen == 0) return 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    if (!ctx) return -1;
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, mac_digest, 0),
                            OSSL_PARAM_construct_end()};
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t outlen = 0;
    int ok = EVP_MAC_init(ctx, mac_key, mac_keylen, params);
    for (int i = 0; ok && i < 4; i++) ok = EVP_MAC_update(ctx, parts[i], lens[i]);
    ok = ok && EVP_MAC_final(ctx, out, &outlen, sizeof out);
    EVP_MAC_CTX_free(ctx);
    if (!ok) return -1;
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < outlen; i++) {
        hex[2 * i] = digits[out[i] >> 4];
        hex[2 * i + 1] = digits[out[i] & 15];
    }
    hex[2 * outlen] = '\0';
    return 0;
}

/* ---- replay guard ------------------------------------------------------------
 * Signatures seen recently, in two generations of an open-addressing set:
 * when the current one is half full it becomes the old one. At least 16384
 * recent signatures are always remembered. */

#define SEEN_SLOTS 65536
typedef struct seen_set {
    uint64_t *a, *b;
    int count;
} seen_set;
static seen_set seen[2];
static int seen_cur;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

static int seen_has(const seen_set *s, uint64_t a, uint64_t b, size_t *slot)
{
    size_t i = (size_t)(a ^ (b >> 7)) & (SEEN_SLOTS - 1);
    while (s->a[i] || s->b[i]) {
        if (s->a[i] == a && s->b[i] == b) return 1;
        i = (i + 1) & (SEEN_SLOTS - 1);
    }
    if (slot) *slot = i;
    return 0;
}

/* 1 when the signature was seen before (else remembers it); -1 on no memory. */
static int replayed(const char *hex)
{
    uint64_t a = 1469598103934665603ULL, b = 1099511628211ULL;
    for (const char *p = hex; *p; p++) {   /* two independent 64-bit hashes */
        a = (a ^ (unsigned char)*p) * 1099511628211ULL;
        b = (b + (unsigned char)*p) * 6364136223846793005ULL + 1442695040888963407ULL;
    }
    if (!a && !b) a = 1;
    pthread_mutex_lock(&seen_lock);
    int rc = 0;
    for (int g = 0; g < 2 && rc == 0; g++) {
        seen_set *s = &seen[g];
        if (!s->a) {
            s->a = calloc(SEEN_SLOTS, sizeof *s->a);
            s->b = calloc(SEEN_SLOTS, sizeof *s->b);
            if (!s->a || !s->b) rc = -1;
        }
    }
    if (rc == 0) {
        size_t slot = 0;
        if (seen_has(&seen[0], a, b, NULL) || seen_has(&seen[1], a, b, NULL)) {
            rc = 1;
        } else {
            seen_set *s = &seen[seen_cur];
            if (s->count >= SEEN_SLOTS / 4) {   /* start a new generation */
                seen_cur ^= 1;
                s = &seen[seen_cur];
                memset(s->a, 0, SEEN_SLOTS * sizeof *s->a);
                memset(s->b, 0, SEEN_SLOTS * sizeof *s->b);
                s->count = 0;
            }
            seen_has(s, a, b, &slot);
            s->a[slot] = a;
            s->b[slot] = b;
            s->count++;
        }
    }
    pthread_mutex_unlock(&seen_lock);
    return rc;
}

static void __attribute__((destructor)) seen_free(void)
{
    for (int g = 0; g < 2; g++) {
        free(seen[g].a);
        free(seen[g].b);
        seen[g].a = seen[g].b = NULL;
    }
}

/* ---- ids, dates ---------------------------------------------------------------- */

static char session_id[40];
static pthread_once_t session_once = PTHREAD_ONCE_INIT;

static void make_session(void)
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, session_id);
}

const char *ksession(void)
{
    pthread_once(&session_once, make_session);
    return session_id;
}

static void iso_now(char *buf, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%06ldZ", ts.tv_nsec / 1000);
}

/* ---- JSON strings ----------------------------------------------------------------- */

json_t *kjson_string(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    size_t bad = 0;
    for (const unsigned char *q = p; q < e;) {
        int k = mgv_utf8_seq(q, e);
        if (k > 0) q += k;
        else bad++, q++;
    }
    if (!bad) return json_stringn(s, n);
    char *out = malloc(n + 2 * bad + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *q = p; q < e;) {
        int k = mgv_utf8_seq(q, e);
        if (k > 0) {
            memcpy(o, q, (size_t)k);
            o += k, q += k;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);   /* U+FFFD */
            o += 3, q++;
        }
    }
    json_t *j = json_stringn(out, (size_t)(o - out));
    free(out);
    return j;
}

json_t *kjson_cstr(const char *s)
{
    return kjson_string(s ? s : "", s ? strlen(s) : 0);
}

size_t kutf8_prefix(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    /* look back over at most 3 bytes for a lead byte whose sequence is cut */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned c = p[n - back];
        if ((c & 0xC0) == 0x80) continue;   /* continuation byte */
        unsigned lo, hi;
        int need = mgv_utf8_lead(c, &lo, &hi);
        return (need > 1 && (size_t)need > back) ? n - back : n;
    }
    return n;
}

const char *kjson_str(json_t *obj, const char *key, const char *def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

/* ---- receiving ----------------------------------------------------------------- */

/* Drop reports are rate-limited: a flood of garbage must not flood the log. */
static void dropped(const ksock *s, const char *why)
{
    static unsigned long n;
    unsigned long k = __atomic_add_fetch(&n, 1, __ATOMIC_RELAXED);
    if (k <= 20 || k % 1000 == 0)
        klog("dropped a message on %s: %s%s", s->name, why, k == 20 ? " (further drops are counted quietly)" : "");
}

static void free_frames(kframe *f, int n)
{
    for (int i = 0; i < n; i++) free(f[i].data);
    free(f);
}

static json_t *parse_object(const kframe *f)
{
    json_t *j = json_loadb((const char *)f->data, f->len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

int kmsg_recv(ksock *s, kmsg *m, int flags)
{
    memset(m, 0, sizeof *m);
    kframe *fr = NULL;
    int n = 0, cap = 0, too_many = 0;
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, s->z, n == 0 ? flags : 0) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            free_frames(fr, n);
            errno = e;
            return -1;
        }
        int more = zmq_msg_more(&part);
        if (n < MAX_FRAMES) {
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                kframe *g = realloc(fr, sizeof *fr * (size_t)cap);
                if (!g) {
                    too_many = 1;
                    cap = n;
                    goto skip;
                }
                fr = g;
            }
            size_t len = zmq_msg_size(&part);
            fr[n].data = malloc(len + 1);   /* NUL-terminated for convenience */
            if (!fr[n].data) {
                too_many = 1;
                goto skip;
            }
            memcpy(fr[n].data, zmq_msg_data(&part), len);
            fr[n].data[len] = '\0';
            fr[n].len = len;
            n++;
        } else {
            too_many = 1;
        }
    skip:
        zmq_msg_close(&part);
        if (!more) break;
    }
    const char *why = "too many frames or out of memory";
    int rc = 0;
    if (too_many) free_frames(fr, n);
    else rc = kmsg_parse(fr, n, m, &why);
    if (rc == 0) dropped(s, why);
    return rc;
}

/* The checks and parsing of kmsg_recv, apart from the socket (the fuzz
 * target calls it directly). */
int kmsg_parse(kframe *fr, int n, kmsg *m, const char **why_out)
{
    memset(m, 0, sizeof *m);
    const char *why = NULL;
    int d = -1;
    for (int i = 0; i < n && d < 0; i++)
        if (fr[i].len == strlen(DELIM) && memcmp(fr[i].data, DELIM, fr[i].len) == 0) d = i;
    if (d < 0) why = "no <IDS|MSG> delimiter";
    else if (n - d < 6) why = "fewer than the 5 frames after the delimiter";
    if (!why && mac_keylen) {
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        const void *parts[4] = {fr[d + 2].data, fr[d + 3].data, fr[d + 4].data, fr[d + 5].data};
        const size_t lens[4] = {fr[d + 2].len, fr[d + 3].len, fr[d + 4].len, fr[d + 5].len};
        const kframe *sig = &fr[d + 1];
        if (sign_parts(parts, lens, hex) != 0) why = "cannot compute the signature";
        else if (sig->len != mac_hexlen || strlen(hex) != mac_hexlen ||
                 CRYPTO_memcmp(sig->data, hex, mac_hexlen) != 0)
            why = sig->len ? "wrong signature" : "unsigned";
        else if (replayed(hex) != 0)
            why = "signature seen before (a replay)";
    }
    if (!why) {
        m->header = parse_object(&fr[d + 2]);
        m->parent = parse_object(&fr[d + 3]);
        m->metadata = parse_object(&fr[d + 4]);
        m->content = parse_object(&fr[d + 5]);
        if (!m->header || !m->parent || !m->metadata || !m->content)
            why = "a JSON frame is not an object";
        else if (!json_is_string(json_object_get(m->header, "msg_type")) ||
                 !json_is_string(json_object_get(m->header, "msg_id")))
            why = "the header lacks msg_type or msg_id";
    }
    if (why) {
        *why_out = why;
        kmsg_free(m);
        free_frames(fr, n);
        return 0;
    }
    m->msg_type = json_string_value(json_object_get(m->header, "msg_type"));
    m->header_raw = (char *)fr[d + 2].data;   /* take the frame */
    m->header_len = fr[d + 2].len;
    fr[d + 2].data = NULL;
    m->n_ids = d;
    m->ids = d > 0 ? malloc(sizeof *m->ids * (size_t)d) : NULL;
    if (d > 0 && !m->ids) {
        *why_out = "out of memory";
        kmsg_free(m);
        free_frames(fr, n);
        return 0;
    }
    for (int i = 0; i < d; i++) {
        m->ids[i] = fr[i];
        fr[i].data = NULL;
    }
    free_frames(fr, n);
    return 1;
}

void kmsg_free(kmsg *m)
{
    if (!m) return;
    free_frames(m->ids, m->n_ids);
    free(m->header_raw);
    json_decref(m->header);
    json_decref(m->parent);
    json_decref(m->metadata);
    json_decref(m->content);
    memset(m, 0, sizeof *m);
}

/* ---- sending ------------------------------------------------------------------- */

int kmsg_send_raw(ksock *s, const char *msg_type, const kframe *ids, int n_ids,
                  const char *parent_raw, size_t parent_len, json_t *content, json_t *metadata)
{
    static unsigned long counter;
    char msg_id[96], date[64];
    snprintf(msg_id, sizeof msg_id, "%s_%d_%lu", ksession(), (int)getpid(),
             __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    iso_now(date, sizeof date);
    json_t *header = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "msg_id", msg_id, "session",
                               ksession(), "username", "kernel", "date", date, "msg_type", msg_type,
                               "version", KERNEL_PROTOCOL);
    char *h = header ? json_dumps(header, JSON_COMPACT) : NULL;
    char *md = metadata ? json_dumps(metadata, JSON_COMPACT) : NULL;
    char *ct = content ? json_dumps(content, JSON_COMPACT) : NULL;
    json_decref(header);
    json_decref(metadata);
    json_decref(content);
    const char *mds = md ? md : "{}", *cts = ct ? ct : "{}";
    if (!parent_raw) parent_raw = "{}", parent_len = 2;
    int rc = -1;
    if (h && (md || !metadata) && (ct || !content)) {
        const void *parts[4] = {h, parent_raw, mds, cts};
        const size_t lens[4] = {strlen(h), parent_len, strlen(mds), strlen(cts)};
        char sig[2 * EVP_MAX_MD_SIZE + 1];
        if (sign_parts(parts, lens, sig) == 0) {
            if (s->lock) pthread_mutex_lock(s->lock);
            rc = 0;
            if (s->pub) {
                char topic[160];
                snprintf(topic, sizeof topic, "kernel.%s.%s", ksession(), msg_type);
                rc |= zmq_send(s->z, topic, strlen(topic), ZMQ_SNDMORE) < 0;
            } else {
                for (int i = 0; i < n_ids; i++)
                    rc |= zmq_send(s->z, ids[i].data, ids[i].len, ZMQ_SNDMORE) < 0;
            }
            rc |= zmq_send(s->z, DELIM, strlen(DELIM), ZMQ_SNDMORE) < 0;
            rc |= zmq_send(s->z, sig, strlen(sig), ZMQ_SNDMORE) < 0;
            for (int i = 0; i < 4; i++)
                rc |= zmq_send(s->z, parts[i], lens[i], i < 3 ? ZMQ_SNDMORE : 0) < 0;
            if (s->lock) pthread_mutex_unlock(s->lock);
            rc = rc ? -1 : 0;
        }
    }
    if (rc != 0 && errno != ETERM) klog("could not send %s on %s", msg_type, s->name);
    free(h);
    free(md);
    free(ct);
    return rc;
}

int kmsg_send(ksock *s, const char *msg_type, const kmsg *parent, json_t *content,
              json_t *metadata)
{
    return kmsg_send_raw(s, msg_type, parent ? parent->ids : NULL, parent ? parent->n_ids : 0,
                         parent ? parent->header_raw : NULL, parent ? parent->header_len : 0,
                         content, metadata);
}
