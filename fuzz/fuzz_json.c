/*
 * fuzz_json.c — JSON as the kernel reads it (kernel/wire.c): the frames of a
 * message through jansson with JSON_REJECT_DUPLICATES, kjson_str on the
 * result, the compact dump every sent message goes through, the connection
 * file reader kconn_load, and the kernel's own string helpers kjson_string
 * (invalid UTF-8 -> U+FFFD) and kutf8_prefix (where a stream may be cut).
 *
 * Properties checked: a parsed value dumps and parses back equal;
 * kjson_string always gives valid UTF-8, the same bytes when the input is
 * valid; kutf8_prefix never cuts a valid text inside a character and keeps
 * at most a 3-byte unfinished tail.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "fuzz.h"
#include "kernel.h"
#include "formats/utf8.h"

static int valid_utf8(const unsigned char *p, size_t n)
{
    const unsigned char *e = p + n;
    while (p < e) {
        int k = mgv_utf8_seq(p, e);
        if (k <= 0) return 0;
        p += k;
    }
    return 1;
}

/* The message path: parse, read fields, dump, parse again. */
static void message_json(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!j) return;
    if (json_is_object(j)) {
        static const char *const keys[] = {"msg_type", "msg_id", "session", "username",
                                           "version", "code", "date"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            const char *v = kjson_str(j, keys[i], NULL);
            FUZZ_CHECK(!v || json_is_string(json_object_get(j, keys[i])));
        }
        const char *key;
        json_t *val;
        json_object_foreach(j, key, val) {
            const char *v = kjson_str(j, key, NULL);
            FUZZ_CHECK(json_is_string(val) ? v == json_string_value(val) : v == NULL);
        }
    }
    char *dump = json_dumps(j, JSON_COMPACT);
    if (dump) {
        json_t *back = json_loads(dump, JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(back && json_equal(j, back));
        json_decref(back);
        free(dump);
    }
    json_decref(j);
}

static void strings(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int valid = valid_utf8(data, size);
    json_t *j = kjson_string(s, size);
    FUZZ_CHECK(j && json_is_string(j));
    const char *v = json_string_value(j);
    size_t vn = json_string_length(j);
    FUZZ_CHECK(valid_utf8((const unsigned char *)v, vn));
    if (valid) FUZZ_CHECK(vn == size && !memcmp(v, s, size));
    else FUZZ_CHECK(vn > 0);
    json_decref(j);

    size_t p = kutf8_prefix(s, size);
    FUZZ_CHECK(p <= size && size - p <= 3);
    if (valid) {
        FUZZ_CHECK(p == size);
        /* every cut of a valid text: back to the last character boundary */
        size_t boundary = 0;
        for (size_t k = 0; k <= size; k++) {
            if (k == size || (data[k] & 0xC0) != 0x80) boundary = k;
            FUZZ_CHECK(kutf8_prefix(s, k) == boundary);
        }
    }
}

/* The connection file, through a memfd (kconn_load takes a path). */
static void connection_file(const uint8_t *data, size_t size)
{
    static int fd = -2;
    static char path[64];
    if (fd == -2) {
        fd = memfd_create("fuzz-conn", 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) return;
    kconn c;
    if (kconn_load(path, &c) != 0) return;
    FUZZ_CHECK(c.key && (!strcmp(c.transport, "tcp") || !strcmp(c.transport, "ipc")));
    char ep[1024];
    for (int i = 0; i < K_NSOCK; i++) {
        FUZZ_CHECK(c.port[i] >= 0 && c.port[i] <= 65535);
        kconn_endpoint(&c, i, ep, sizeof ep);
    }
    kconn_free(&c);
}

FUZZ_TARGET(json)
{
    message_json(data, size);
    strings(data, size);
    connection_file(data, size);
    return 0;
}
