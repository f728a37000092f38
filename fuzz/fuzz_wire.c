/*
 * fuzz_wire.c — the Jupyter wire-message checks of kernel/wire.c:
 * kmsg_parse (delimiter, frame count, HMAC signature, replay guard, the four
 * JSON frames, msg_type/msg_id) and ksign_init.
 *
 * Input: one mode byte, then the frames separated by 0xFF bytes (never
 * valid UTF-8, so JSON frames cannot contain one). Modes (byte % 4):
 *   0  signing off (empty key): every well-formed message is parsed;
 *   1  key "fuzzkey", the signature frame as given (almost always dropped);
 *   2  key "fuzzkey", the harness writes the right signature first, so the
 *      JSON frames and the replay guard are reached (a repeated input is a
 *      replay and is dropped, as it must be);
 *   3  the first two frames are a scheme and a key for ksign_init, the rest
 *      is the message.
 */
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "fuzz.h"
#include "kernel.h"

#define SEP 0xFF
#define KEY "fuzzkey"

/* Splits data at SEP into malloc'd frames (each NUL-terminated, as
 * kmsg_recv makes them). */
static kframe *split(const uint8_t *data, size_t size, int *n_out)
{
    int n = 1;
    for (size_t i = 0; i < size; i++) n += data[i] == SEP;
    kframe *fr = calloc((size_t)n, sizeof *fr);
    if (!fr) return NULL;
    size_t start = 0;
    int k = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != SEP) continue;
        size_t len = i - start;
        fr[k].data = malloc(len + 1);
        if (fr[k].data) {
            memcpy(fr[k].data, data + start, len);
            fr[k].data[len] = '\0';
        }
        fr[k].len = len;
        k++;
        start = i + 1;
    }
    for (int i = 0; i < n; i++) {
        if (!fr[i].data) {   /* out of memory: give up on this input */
            for (int j = 0; j < n; j++) free(fr[j].data);
            free(fr);
            return NULL;
        }
    }
    *n_out = n;
    return fr;
}

static int delimiter(const kframe *fr, int n)
{
    for (int i = 0; i < n; i++)
        if (fr[i].len == 9 && memcmp(fr[i].data, "<IDS|MSG>", 9) == 0) return i;
    return -1;
}

/* Replaces frame d+1 with the hex HMAC-SHA256 of frames d+2..d+5. */
static void sign(kframe *fr, int n, int d)
{
    if (d < 0 || n - d < 6) return;
    size_t total = 0;
    for (int i = 2; i < 6; i++) total += fr[d + i].len;
    unsigned char *buf = malloc(total + 1), out[EVP_MAX_MD_SIZE];
    if (!buf) return;
    size_t at = 0, outlen = 0;
    for (int i = 2; i < 6; i++) {
        memcpy(buf + at, fr[d + i].data, fr[d + i].len);
        at += fr[d + i].len;
    }
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, KEY, strlen(KEY), buf, total, out,
                  sizeof out, &outlen)) {
        unsigned char *hex = malloc(2 * outlen + 1);
        if (hex) {
            for (size_t i = 0; i < outlen; i++) sprintf((char *)hex + 2 * i, "%02x", out[i]);
            free(fr[d + 1].data);
            fr[d + 1].data = hex;
            fr[d + 1].len = 2 * outlen;
        }
    }
    free(buf);
}

FUZZ_TARGET(wire)
{
    static int keyed = -1;   /* what ksign_init last set: 0 off, 1 KEY, -1 other */
    if (size < 1) return 0;
    int mode = data[0] % 4;
    int n = 0;
    kframe *fr = split(data + 1, size - 1, &n);
    if (!fr) return 0;
    if (mode == 3) {
        if (n < 2) {
            for (int i = 0; i < n; i++) free(fr[i].data);
            free(fr);
            return 0;
        }
        keyed = -1;
        int rc = ksign_init((const char *)fr[0].data, (const char *)fr[1].data);
        free(fr[0].data);
        free(fr[1].data);
        if (rc != 0) {
            ksign_free();
            for (int i = 2; i < n; i++) free(fr[i].data);
            free(fr);
            return 0;
        }
        memmove(fr, fr + 2, sizeof *fr * (size_t)(n - 2));
        n -= 2;
    } else {
        int want = mode != 0;
        if (keyed != want) {
            FUZZ_CHECK(ksign_init("hmac-sha256", want ? KEY : "") == 0);
            keyed = want;
        }
    }
    int d = delimiter(fr, n);
    if (mode == 2) sign(fr, n, d);
    /* what the result must hold, noted before kmsg_parse takes the frames */
    char *header_copy = NULL;
    size_t header_len = 0;
    if (d >= 0 && n - d >= 6) {
        header_len = fr[d + 2].len;
        header_copy = malloc(header_len + 1);
        if (header_copy) memcpy(header_copy, fr[d + 2].data, header_len + 1);
    }
    kmsg m;
    const char *why = NULL;
    int rc = kmsg_parse(fr, n, &m, &why);
    FUZZ_CHECK(rc == 0 || rc == 1);
    if (rc == 0) {
        FUZZ_CHECK(why && *why);
        FUZZ_CHECK(!m.header && !m.content && !m.ids && !m.header_raw);
    } else {
        FUZZ_CHECK(d >= 0 && n - d >= 6 && m.n_ids == d);
        FUZZ_CHECK(m.header && m.parent && m.metadata && m.content);
        FUZZ_CHECK(json_is_object(m.header) && json_is_object(m.content));
        FUZZ_CHECK(m.msg_type && !strcmp(m.msg_type, kjson_str(m.header, "msg_type", "")));
        FUZZ_CHECK(m.header_len == header_len && header_copy &&
                   !memcmp(m.header_raw, header_copy, header_len));
        (void)kjson_str(m.content, "code", "");
        kmsg_free(&m);
    }
    free(header_copy);
    if (mode == 3) keyed = -1;
    return 0;
}
