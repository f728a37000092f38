/*
 * safetensors.c — reading and writing the Hugging Face safetensors format
 * (see safetensors.h).
 *
 * Layout: u64 little-endian N, N bytes of JSON header (may be padded with
 * spaces), then the data section; each tensor's data_offsets are relative to
 * the first byte after the header. We write F32 only, tensors in the given
 * order with contiguous offsets, the header padded to a multiple of 8 bytes
 * as the reference implementation does. We read F32, F64, F16, BF16, I64,
 * I32, I16, I8, U8 and BOOL, all converted to float32.
 *
 * The reader treats the file as hostile: every length and offset is checked
 * before it is used, so no byte sequence can make it read out of bounds. The
 * JSON is parsed by jansson (with duplicate keys rejected).
 */
#include "core/error.h"
#include "core/fileio.h"
#include "formats/safetensors.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
#define ST_META_KEY "__metadata__"

/* ---- small helpers --------------------------------------------------------- */

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE half to float, exact for every value (subnormals, inf, nan). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31) return bits_to_float(sign | 0x7f800000u | (mant << 13));
    return bits_to_float(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

/* double to float without undefined behaviour for out-of-range values. */
static float double_to_float(double d)
{
    if (d > FLT_MAX) return INFINITY;
    if (d < -FLT_MAX) return -INFINITY;
    return (float)d;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ---- dtypes ------------------------------------------------------------------ */

typedef enum {
    DT_F32, DT_F64, DT_F16, DT_BF16, DT_I64, DT_I32, DT_I16, DT_I8, DT_U8, DT_BOOL
} dtype;

static const struct {
    const char *name;
    dtype dt;
    int size;
} dtypes[] = {
    {"F32", DT_F32, 4}, {"F64", DT_F64, 8}, {"F16", DT_F16, 2},  {"BF16", DT_BF16, 2},
    {"I64", DT_I64, 8}, {"I32", DT_I32, 4}, {"I16", DT_I16, 2},  {"I8", DT_I8, 1},
    {"U8", DT_U8, 1},   {"BOOL", DT_BOOL, 1},
};

static int find_dtype(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0) return (int)i;
    return -1;
}

/* Converts n little-endian elements of type dt at src into floats. */
static void convert(dtype dt, const unsigned char *src, int64_t n, float *dst)
{
    switch (dt) {
    case DT_F32:
        if (host_is_little_endian()) {
            memcpy(dst, src, (size_t)n * 4);
        } else {
            for (int64_t i = 0; i < n; i++) dst[i] = bits_to_float(rd32(src + 4 * i));
        }
        break;
    case DT_F64:
        for (int64_t i = 0; i < n; i++) {
            uint64_t u = rd64(src + 8 * i);
            double d;
            memcpy(&d, &u, sizeof d);
            dst[i] = double_to_float(d);
        }
        break;
    case DT_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = half_to_float(rd16(src + 2 * i));
        break;
    case DT_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = bits_to_float((uint32_t)rd16(src + 2 * i) << 16);
        break;
    case DT_I64:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int64_t)rd64(src + 8 * i);
        break;
    case DT_I32:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int32_t)rd32(src + 4 * i);
        break;
    case DT_I16:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int16_t)rd16(src + 2 * i);
        break;
    case DT_I8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int8_t)src[i];
        break;
    case DT_U8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
        break;
    case DT_BOOL:
        for (int64_t i = 0; i < n; i++) dst[i] = src[i] ? 1.0f : 0.0f;
        break;
    }
}

/* ---- the file structure -------------------------------------------------------- */

void mgv_st_free(mgv_st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) {
        free(f->entries[i].name);
        mgv_release(f->entries[i].tensor);
    }
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->entries);
    free(f->meta_keys);
    free(f->meta_values);
    free(f);
}

/* The tensor called name, BORROWED from f (like mgv_st_meta's string): valid
 * until mgv_st_free; retain it to keep it longer. NULL when absent. */
mgv_tensor *mgv_st_get(const mgv_st_file *f, const char *name)
{
    if (!f || !name) return NULL;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->entries[i].name, name) == 0) return f->entries[i].tensor;
    return NULL;
}

/* The metadata value for key (owned by f), or NULL. */
const char *mgv_st_meta(const mgv_st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

/* ---- parsing ----------------------------------------------------------------- */

/* Reads the "__metadata__" object (string -> string) into f. */
static int parse_metadata(mgv_st_file *f, json_t *meta, const char *what)
{
    if (json_is_null(meta)) return 0;
    if (!json_is_object(meta))
        return mgv_fail("safetensors: %s: \"%s\" is not an object", what, ST_META_KEY);
    size_t n = json_object_size(meta);
    f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_values = calloc(n ? n : 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values) return mgv_fail("safetensors: %s: out of memory", what);
    const char *key;
    json_t *val;
    json_object_foreach(meta, key, val) {
        if (!json_is_string(val))
            return mgv_fail("safetensors: %s: metadata \"%.100s\" is not a string", what, key);
        f->meta_keys[f->n_meta] = strdup(key);
        f->meta_values[f->n_meta] = strdup(json_string_value(val));
        f->n_meta++;
        if (!f->meta_keys[f->n_meta - 1] || !f->meta_values[f->n_meta - 1])
            return mgv_fail("safetensors: %s: out of memory", what);
    }
    return 0;
}

/* Reads an integer >= 0 from a JSON value; -1 when it is not one. */
static int64_t json_nonneg_int(const json_t *v)
{
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    return x < 0 ? -1 : (int64_t)x;
}

/* Checks one header entry and turns its data into a float32 tensor. */
static mgv_tensor *parse_entry(const char *name, json_t *e, const unsigned char *data,
                               uint64_t data_len, const char *what)
{
#define ENTRY_FAIL(...)                                                                   \
    do {                                                                                  \
        char why_[256];                                                                   \
        snprintf(why_, sizeof why_, __VA_ARGS__);                                         \
        return mgv_fail_null("safetensors: %s: tensor \"%.100s\": %s", what, name, why_); \
    } while (0)
    if (!json_is_object(e)) ENTRY_FAIL("entry is not an object");
    json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"),
           *jo = json_object_get(e, "data_offsets");
    if (!json_is_string(jd)) ENTRY_FAIL("\"dtype\" is missing or not a string");
    int di = find_dtype(json_string_value(jd));
    if (di < 0)
        ENTRY_FAIL("dtype \"%.32s\" is not supported (F32, F64, F16, BF16, I64, I32, I16, I8, "
                   "U8, BOOL)",
                   json_string_value(jd));
    if (!json_is_array(js)) ENTRY_FAIL("\"shape\" is missing or not a list");
    size_t ndim = json_array_size(js);
    if (ndim > MGV_MAX_DIMS)
        ENTRY_FAIL("shape has %zu dimensions (at most %d)", ndim, MGV_MAX_DIMS);
    int64_t shape[MGV_MAX_DIMS];
    int has_zero = 0;
    for (size_t i = 0; i < ndim; i++) {
        shape[i] = json_nonneg_int(json_array_get(js, i));
        if (shape[i] < 0) ENTRY_FAIL("shape entry %zu is not a non-negative integer", i + 1);
        if (shape[i] == 0) has_zero = 1;
    }
    /* numel and byte size, refusing anything that could overflow: a real
     * tensor must fit in the data section, which fits in memory */
    int64_t numel = has_zero ? 0 : 1;
    for (size_t i = 0; i < ndim && numel; i++) {
        if (numel > INT64_MAX / 8 / shape[i]) ENTRY_FAIL("shape is too large");
        numel *= shape[i];
    }
    uint64_t nbytes = (uint64_t)numel * (uint64_t)dtypes[di].size;
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        ENTRY_FAIL("\"data_offsets\" is missing or not a list of two integers");
    int64_t begin = json_nonneg_int(json_array_get(jo, 0));
    int64_t end = json_nonneg_int(json_array_get(jo, 1));
    if (begin < 0 || end < 0) ENTRY_FAIL("\"data_offsets\" are not non-negative integers");
    if (end < begin) ENTRY_FAIL("data_offsets [%lld, %lld] end before they begin",
                                (long long)begin, (long long)end);
    if ((uint64_t)end > data_len)
        ENTRY_FAIL("data_offsets [%lld, %lld] go beyond the data section (%llu bytes)",
                   (long long)begin, (long long)end, (unsigned long long)data_len);
    if ((uint64_t)(end - begin) != nbytes) {
        char s[128];
        mgv_shape_str_n((int)ndim, shape, s, sizeof s);
        ENTRY_FAIL("data_offsets [%lld, %lld] hold %lld bytes but %s %s needs %llu",
                   (long long)begin, (long long)end, (long long)(end - begin),
                   dtypes[di].name, s, (unsigned long long)nbytes);
    }
    mgv_tensor *t = mgv_empty((int)ndim, shape);
    if (!t) {
        mgv_error_context("safetensors: %s: tensor \"%.100s\"", what, name);
        return NULL;
    }
    convert(dtypes[di].dt, data + begin, numel, mgv_data(t));
    return t;
#undef ENTRY_FAIL
}

/* Turns jansson's "duplicate object key near '"w"'" into a message naming w. */
static void *fail_json(const json_error_t *err, const char *what)
{
    if (json_error_code(err) == json_error_duplicate_key) {
        const char *near = strstr(err->text, "near '");
        if (near) {
            near += 6;
            int len = (int)strlen(near);
            if (len > 0 && near[len - 1] == '\'') len--;
            return mgv_fail_null("safetensors: %s: duplicate name %.*s in the header", what,
                                 len > 100 ? 100 : len, near);
        }
    }
    return mgv_fail_null("safetensors: %s: header is not valid JSON: %s (at byte %d)", what,
                         err->text, err->position);
}

mgv_st_file *mgv_safetensors_parse(const unsigned char *buf, size_t len, const char *what)
{
    if (!what) what = "(buffer)";
    if (!buf && len) return mgv_fail_null("safetensors: %s: buffer is NULL", what);
    if (len < 8)
        return mgv_fail_null("safetensors: %s: file is %zu bytes, too short for the 8-byte "
                             "header length (truncated?)",
                             what, len);
    uint64_t hlen = rd64(buf);
    if (hlen > (uint64_t)len - 8)
        return mgv_fail_null("safetensors: %s: header length %llu exceeds the %zu bytes that "
                             "follow it (truncated or not a safetensors file)",
                             what, (unsigned long long)hlen, len - 8);
    if (hlen > ST_MAX_HEADER)
        return mgv_fail_null("safetensors: %s: header length %llu is over the 100 MB limit",
                             what, (unsigned long long)hlen);
    json_error_t err;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!root) return fail_json(&err, what);
    mgv_st_file *f = NULL;
    if (!json_is_object(root)) {
        mgv_fail("safetensors: %s: header is not a JSON object", what);
        goto fail;
    }
    f = calloc(1, sizeof *f);
    size_t n = json_object_size(root);
    if (f) f->entries = calloc(n ? n : 1, sizeof *f->entries);
    if (!f || !f->entries) {
        mgv_fail("safetensors: %s: out of memory", what);
        goto fail;
    }
    const unsigned char *data = buf + 8 + hlen;
    uint64_t data_len = (uint64_t)len - 8 - hlen;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, ST_META_KEY) == 0) {
            if (parse_metadata(f, val, what) < 0) goto fail;
            continue;
        }
        mgv_tensor *t = parse_entry(key, val, data, data_len, what);
        if (!t) goto fail;
        f->entries[f->n].tensor = t;
        f->entries[f->n].name = strdup(key);
        f->n++;
        if (!f->entries[f->n - 1].name) {
            mgv_fail("safetensors: %s: out of memory", what);
            goto fail;
        }
    }
    json_decref(root);
    return f;
fail:
    mgv_st_free(f);
    json_decref(root);
    return NULL;
}

/* Reads the whole file (rather than mmap: a file that shrinks under us
 * cannot crash the process). */
mgv_st_file *mgv_safetensors_load(const char *path)
{
    if (!path) return mgv_fail_null("safetensors: load: path is NULL");
    size_t len;
    char *buf = mgv_read_file(path, &len, 0, "safetensors");
    if (!buf) return NULL;
    mgv_st_file *f = mgv_safetensors_parse((const unsigned char *)buf, len, path);
    free(buf);
    return f;
}

/* ---- saving ----------------------------------------------------------------- */

/* Builds the header JSON, padded with spaces to a multiple of 8 bytes. */
static char *build_header(int n, const char *const *names, mgv_tensor *const *tensors,
                          int n_meta, const char *const *keys, const char *const *values,
                          const char *path, size_t *out_len)
{
    json_t *root = json_object();
    if (!root) return mgv_fail_null("safetensors: %s: out of memory", path);
    char *text = NULL;
    if (n_meta > 0) {
        json_t *meta = json_object();
        if (!meta || json_object_set_new(root, ST_META_KEY, meta) < 0) goto oom;
        for (int i = 0; i < n_meta; i++) {
            json_t *v = json_string(values[i]);
            if (!v) {
                mgv_fail("safetensors: %s: metadata \"%.100s\" is not valid UTF-8", path, keys[i]);
                goto fail;
            }
            if (json_object_set_new(meta, keys[i], v) < 0) {
                mgv_fail("safetensors: %s: metadata key \"%.100s\" is not valid UTF-8", path,
                         keys[i]);
                goto fail;
            }
        }
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const mgv_tensor *t = tensors[i];
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        if (!e || !shape || !offs) {
            json_decref(e);
            json_decref(shape);
            json_decref(offs);
            goto oom;
        }
        uint64_t bytes = (uint64_t)mgv_numel(t) * 4;
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_array_append_new(offs, json_integer((json_int_t)offset));
        json_array_append_new(offs, json_integer((json_int_t)(offset + bytes)));
        offset += bytes;
        json_object_set_new(e, "dtype", json_string("F32"));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", offs);
        if (json_object_set_new(root, names[i], e) < 0) {
            mgv_fail("safetensors: %s: tensor name \"%.100s\" is not valid UTF-8", path,
                     names[i]);
            goto fail;
        }
        if (json_array_size(shape) != (size_t)t->ndim || json_array_size(offs) != 2) goto oom;
    }
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) goto oom;
    size_t len = strlen(text), padded = (len + 7) & ~(size_t)7;
    char *out = malloc(padded + 1);
    if (!out) goto oom;
    memcpy(out, text, len);
    memset(out + len, ' ', padded - len);
    out[padded] = '\0';
    free(text);
    json_decref(root);
    *out_len = padded;
    return out;
oom:
    mgv_fail("safetensors: %s: out of memory building the header", path);
fail:
    free(text);
    json_decref(root);
    return NULL;
}

/* Writes a tensor's values as little-endian float32, in row-major order. */
static int write_tensor(int fd, mgv_tensor *t)
{
    int64_t n = mgv_numel(t);
    if (n == 0) return 0;
    mgv_tensor *c = mgv_contiguous_data(t);
    if (!c) return -2;
    int rc = 0;
    if (host_is_little_endian()) {
        rc = mgv_write_all(fd, mgv_data(c), (size_t)n * 4);
    } else {
        unsigned char chunk[4096];
        const float *src = mgv_data(c);
        for (int64_t i = 0; i < n && rc == 0;) {
            size_t k = 0;
            for (; k < sizeof chunk / 4 && i < n; k++, i++) {
                uint32_t u;
                memcpy(&u, &src[i], 4);
                for (int b = 0; b < 4; b++) chunk[4 * k + b] = (unsigned char)(u >> (8 * b));
            }
            rc = mgv_write_all(fd, chunk, 4 * k);
        }
    }
    mgv_release(c);
    return rc;
}

int mgv_safetensors_save(const char *path, int n, const char *const *names,
                         mgv_tensor *const *tensors, int n_meta,
                         const char *const *meta_keys, const char *const *meta_values)
{
    if (!path || !*path) return mgv_fail("safetensors: save: path is empty");
    if (n < 0) return mgv_fail("safetensors: %s: %d tensors (must be >= 0)", path, n);
    if (n_meta < 0)
        return mgv_fail("safetensors: %s: %d metadata entries (must be >= 0)", path, n_meta);
    if (n > 0 && (!names || !tensors))
        return mgv_fail("safetensors: %s: names or tensors list is NULL", path);
    if (n_meta > 0 && (!meta_keys || !meta_values))
        return mgv_fail("safetensors: %s: metadata list is NULL", path);
    for (int i = 0; i < n; i++) {
        if (!names[i]) return mgv_fail("safetensors: %s: name of tensor %d is NULL", path, i + 1);
        if (!tensors[i])
            return mgv_fail("safetensors: %s: tensor \"%.100s\" is NULL", path, names[i]);
        if (strcmp(names[i], ST_META_KEY) == 0)
            return mgv_fail("safetensors: %s: \"%s\" is reserved and cannot name a tensor",
                            path, ST_META_KEY);
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return mgv_fail("safetensors: %s: duplicate tensor name \"%.100s\"", path,
                                names[i]);
    }
    for (int i = 0; i < n_meta; i++) {
        if (!meta_keys[i] || !meta_values[i])
            return mgv_fail("safetensors: %s: metadata entry %d is NULL", path, i + 1);
        for (int j = 0; j < i; j++)
            if (strcmp(meta_keys[i], meta_keys[j]) == 0)
                return mgv_fail("safetensors: %s: duplicate metadata key \"%.100s\"", path,
                                meta_keys[i]);
    }

    size_t hlen = 0;
    char *header = build_header(n, names, tensors, n_meta, meta_keys, meta_values, path, &hlen);
    if (!header) return -1;

    mgv_atomic_file af;
    if (mgv_atomic_open(&af, path, "safetensors") < 0) {
        free(header);
        return -1;
    }
    int fd = af.fd;
    unsigned char len8[8];
    for (int b = 0; b < 8; b++) len8[b] = (unsigned char)((uint64_t)hlen >> (8 * b));
    int rc = mgv_write_all(fd, len8, 8);
    if (rc == 0) rc = mgv_write_all(fd, header, hlen);
    for (int i = 0; i < n && rc == 0; i++) rc = write_tensor(fd, tensors[i]);
    free(header);
    if (rc == -2)   /* the message is already set */
        mgv_error_context("safetensors: %s", path);
    else if (rc < 0)
        mgv_fail("safetensors: %s: write failed: %s", path, strerror(errno));
    return mgv_atomic_commit(&af, rc == 0);
}
