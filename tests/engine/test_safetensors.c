/*
 * test_safetensors.c — checkpoints: round trips, the file layout, atomic
 * saving, and rejection (with a message naming the file and the tensor) of
 * every kind of corrupt input, plus a mutation fuzz that must never crash.
 *
 * With a path argument it only checks the file written by
 * tests/engine/st_write_reference.py (see test_safetensors_python.sh).
 */
#include "check.h"
#include "mgv.h"
#include "formats/safetensors.h"

#include <dirent.h>
#include <float.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

/* ---- helpers ------------------------------------------------------------------ */

static void path_in(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

/* Number of entries in dir (without . and ..); names joined into list. */
static int dir_entries(const char *dir, char *list, size_t n)
{
    DIR *d = opendir(dir);
    int count = 0;
    if (list && n) list[0] = '\0';
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        count++;
        if (list) {
            strncat(list, e->d_name, n - strlen(list) - 1);
            strncat(list, " ", n - strlen(list) - 1);
        }
    }
    closedir(d);
    return count;
}

/* Removes every plain file in dir (one level of subdirectories too). */
static void clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) < 0) {
            clear_dir(p);
            rmdir(p);
        }
    }
    closedir(d);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void write_file(const char *path, const unsigned char *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, len, f);
    fclose(f);
}

/* 8-byte length + header + data, in a fresh buffer. */
static unsigned char *make_image(const char *header, const unsigned char *data, size_t dlen,
                                 size_t *len)
{
    size_t h = strlen(header);
    unsigned char *b = malloc(8 + h + dlen + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    if (dlen) memcpy(b + 8 + h, data, dlen);
    *len = 8 + h + dlen;
    return b;
}

/* Parses header+data; it must fail with a message containing want. */
static int rejects(const char *header, const unsigned char *data, size_t dlen, const char *want)
{
    size_t len;
    unsigned char *b = make_image(header, data, dlen, &len);
    mgv_clear_error();
    mgv_st_file *f = mgv_safetensors_parse(b, len, "bad.safetensors");
    free(b);
    if (f) {
        mgv_st_free(f);
        printf("  accepted: %s\n", header);
        return 0;
    }
    if (!strstr(mgv_last_error(), "bad.safetensors") || !strstr(mgv_last_error(), want)) {
        printf("  for %s\n  error \"%s\" lacks \"%s\"\n", header, mgv_last_error(), want);
        return 0;
    }
    return 1;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- round trip ------------------------------------------------------------------- */

static void test_round_trip(void)
{
    char path[256];
    path_in(path, sizeof path, "rt.safetensors");
    mgv_tensor *scalar = mgv_scalar(3.5f);
    int64_t s1[1] = {6};
    float v1[6] = {1.0f, -0.0f, INFINITY, NAN, 1e-40f, FLT_MAX};
    mgv_tensor *vec = mgv_from_data(1, s1, v1);
    int64_t s4[4] = {2, 3, 1, 2};
    mgv_tensor *t4 = mgv_empty(4, s4);
    for (int i = 0; i < 12; i++) mgv_data(t4)[i] = (float)i * 0.25f - 1.0f;
    int64_t s0[1] = {0}, s203[3] = {2, 0, 3};
    mgv_tensor *empty = mgv_zeros(1, s0), *empty3 = mgv_zeros(3, s203);
    /* a transposed view is saved in its logical (row-major) order */
    int64_t s23[2] = {2, 3}, ts[2] = {3, 2}, tst[2] = {1, 3};
    float v23[6] = {1, 2, 3, 4, 5, 6};
    mgv_tensor *base = mgv_from_data(2, s23, v23);
    mgv_tensor *tr = mgv_view_of(base, 2, ts, tst, 0);
    const char *names[6] = {"scalar", "vec", "four.d", "empty", "empty3", "transposed"};
    mgv_tensor *ts6[6] = {scalar, vec, t4, empty, empty3, tr};
    const char *keys[2] = {"format", "epoch"}, *vals[2] = {"mgv", "12"};
    CHECK(mgv_safetensors_save(path, 6, names, ts6, 2, keys, vals) == 0);

    mgv_st_file *f = mgv_safetensors_load(path);
    CHECK(f != NULL);
    if (f) {
        CHECK(f->n == 6 && f->n_meta == 2);
        for (int i = 0; i < f->n && i < 6; i++) {
            CHECK(strcmp(f->entries[i].name, names[i]) == 0);   /* header order kept */
            CHECK(mgv_same_shape(f->entries[i].tensor, ts6[i]));
            for (int64_t k = 0; k < mgv_numel(ts6[i]); k++)
                CHECK(same_bits(mgv_get_flat(f->entries[i].tensor, k), mgv_get_flat(ts6[i], k)));
        }
        CHECK(f->entries[0].tensor->ndim == 0);
        mgv_tensor *t = mgv_st_get(f, "transposed");
        CHECK(t && mgv_data(t)[0] == 1 && mgv_data(t)[1] == 4 && mgv_data(t)[2] == 2);
        CHECK(t && t->refcount == 1);   /* borrowed from f */
        CHECK(mgv_st_get(f, "nope") == NULL);
        CHECK(mgv_st_meta(f, "epoch") && strcmp(mgv_st_meta(f, "epoch"), "12") == 0);
        CHECK(mgv_st_meta(f, "format") && strcmp(mgv_st_meta(f, "format"), "mgv") == 0);
        CHECK(mgv_st_meta(f, "nope") == NULL);
        mgv_st_free(f);
    }

    /* no tensors, no metadata: still a valid file */
    CHECK(mgv_safetensors_save(path, 0, NULL, NULL, 0, NULL, NULL) == 0);
    f = mgv_safetensors_load(path);
    CHECK(f && f->n == 0 && f->n_meta == 0);
    mgv_st_free(f);
    unlink(path);
    mgv_release(scalar);
    mgv_release(vec);
    mgv_release(t4);
    mgv_release(empty);
    mgv_release(empty3);
    mgv_release(tr);
    mgv_release(base);
}

/* The bytes on disk: header padded to 8 with spaces, F32, contiguous offsets
 * covering the data section exactly, metadata as given, usual file mode. */
static void test_file_layout(void)
{
    char path[256];
    path_in(path, sizeof path, "layout.safetensors");
    int64_t sa[2] = {2, 2}, sb[1] = {3};
    float va[4] = {1, 2, 3, 4}, vb[3] = {-1, 0.5f, 7};
    mgv_tensor *a = mgv_from_data(2, sa, va), *b = mgv_from_data(1, sb, vb);
    const char *names[2] = {"b_second_alphabetically", "a_first"};
    mgv_tensor *ts[2] = {b, a};
    const char *k[1] = {"k"}, *v[1] = {"v"};
    CHECK(mgv_safetensors_save(path, 2, names, ts, 1, k, v) == 0);
    size_t len = 0;
    unsigned char *buf = read_file(path, &len);
    CHECK(buf && len > 8);
    if (!buf) return;
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = h << 8 | buf[i];
    CHECK(h % 8 == 0 && 8 + h + 28 == len);
    CHECK(buf[8] == '{' && (buf[8 + h - 1] == ' ' || buf[8 + h - 1] == '}'));
    json_error_t err;
    json_t *root = json_loadb((const char *)buf + 8, h, 0, &err);
    CHECK(root != NULL);
    json_t *jb = json_object_get(root, names[0]), *ja = json_object_get(root, names[1]);
    CHECK(jb && ja);
    if (jb && ja) {
        CHECK(strcmp(json_string_value(json_object_get(jb, "dtype")), "F32") == 0);
        json_t *ob = json_object_get(jb, "data_offsets"), *oa = json_object_get(ja, "data_offsets");
        CHECK(json_integer_value(json_array_get(ob, 0)) == 0);
        CHECK(json_integer_value(json_array_get(ob, 1)) == 12);
        CHECK(json_integer_value(json_array_get(oa, 0)) == 12);
        CHECK(json_integer_value(json_array_get(oa, 1)) == 28);
        json_t *sh = json_object_get(ja, "shape");
        CHECK(json_array_size(sh) == 2 && json_integer_value(json_array_get(sh, 0)) == 2);
    }
    json_t *meta = json_object_get(root, "__metadata__");
    CHECK(meta && strcmp(json_string_value(json_object_get(meta, "k")), "v") == 0);
    json_decref(root);
    /* data: little-endian float32 */
    float first;
    memcpy(&first, buf + 8 + h, 4);
    CHECK(first == -1.0f);
    CHECK(buf[8 + h + 12] == 0x00 && buf[8 + h + 15] == 0x3f);   /* 1.0f = 0x3f800000 */
    free(buf);
    /* the file gets the usual mode, not mkstemp's 0600 */
    mode_t um = umask(022);
    umask(um);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == (0666 & ~um));
    unlink(path);
    mgv_release(a);
    mgv_release(b);
}

/* ---- atomic saving ------------------------------------------------------------------- */

static void test_save_errors_leave_nothing(void)
{
    char path[256], list[512];
    clear_dir(tmpdir);
    path_in(path, sizeof path, "missing/dir/x.safetensors");
    mgv_tensor *s = mgv_scalar(1.0f);
    const char *names[2] = {"x", "x"};
    mgv_tensor *ts[2] = {s, s};
    CHECK(mgv_safetensors_save(path, 1, names, ts, 0, NULL, NULL) == -1);
    CHECK_ERROR_HAS("missing/dir/x.safetensors");
    CHECK_ERROR_HAS("No such file or directory");
    CHECK(dir_entries(tmpdir, list, sizeof list) == 0);

    path_in(path, sizeof path, "ok.safetensors");
    CHECK(mgv_safetensors_save(path, 2, names, ts, 0, NULL, NULL) == -1);
    CHECK_ERROR_HAS("duplicate tensor name \"x\"");
    const char *meta_name[1] = {"__metadata__"};
    CHECK(mgv_safetensors_save(path, 1, meta_name, ts, 0, NULL, NULL) == -1);
    CHECK_ERROR_HAS("reserved");
    mgv_tensor *nul[1] = {NULL};
    CHECK(mgv_safetensors_save(path, 1, names, nul, 0, NULL, NULL) == -1);
    CHECK_ERROR_HAS("tensor \"x\" is NULL");
    CHECK(mgv_safetensors_save(path, -1, names, ts, 0, NULL, NULL) == -1);
    CHECK_ERROR_HAS("-1 tensors");
    const char *bad_utf8[1] = {"caf\xe9"};
    CHECK(mgv_safetensors_save(path, 1, bad_utf8, ts, 0, NULL, NULL) == -1);
    CHECK_ERROR_HAS("not valid UTF-8");
    const char *mk[2] = {"a", "a"}, *mv[2] = {"1", "2"};
    CHECK(mgv_safetensors_save(path, 1, names, ts, 2, mk, mv) == -1);
    CHECK_ERROR_HAS("duplicate metadata key \"a\"");
    CHECK(mgv_safetensors_save(NULL, 1, names, ts, 0, NULL, NULL) == -1);
    CHECK_ERROR_HAS("path");
    CHECK(dir_entries(tmpdir, list, sizeof list) == 0);
    mgv_release(s);
}

static void test_save_atomic_replace(void)
{
    char path[256], list[512];
    clear_dir(tmpdir);
    path_in(path, sizeof path, "ckpt.safetensors");
    int64_t big[1] = {1000};
    mgv_tensor *a = mgv_full(1, big, 2.0f), *b = mgv_full(1, big, 3.0f), *c = mgv_scalar(9.0f);
    const char *n3[3] = {"a", "b", "c"};
    mgv_tensor *t3[3] = {a, b, c};
    CHECK(mgv_safetensors_save(path, 3, n3, t3, 0, NULL, NULL) == 0);
    CHECK(dir_entries(tmpdir, list, sizeof list) == 1);
    CHECK(strcmp(list, "ckpt.safetensors ") == 0);

    /* overwrite with something smaller: the old content is gone entirely */
    const char *n1[1] = {"c"};
    const char *k[1] = {"step"}, *v[1] = {"2"};
    CHECK(mgv_safetensors_save(path, 1, n1, &c, 1, k, v) == 0);
    CHECK(dir_entries(tmpdir, list, sizeof list) == 1);
    mgv_st_file *f = mgv_safetensors_load(path);
    CHECK(f && f->n == 1 && mgv_get_flat(f->entries[0].tensor, 0) == 9.0f);
    CHECK(f && mgv_st_get(f, "a") == NULL && strcmp(mgv_st_meta(f, "step"), "2") == 0);
    mgv_st_free(f);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size < 200);

    /* a save that fails after the temp file was written (the target is a
     * directory, so the rename fails) removes the temp file */
    char dpath[256];
    path_in(dpath, sizeof dpath, "adir");
    CHECK(mkdir(dpath, 0755) == 0);
    char inner[300];
    snprintf(inner, sizeof inner, "%s/keep", dpath);
    write_file(inner, (const unsigned char *)"x", 1);
    CHECK(mgv_safetensors_save(dpath, 3, n3, t3, 0, NULL, NULL) == -1);
    CHECK_ERROR_HAS("adir");
    CHECK_ERROR_HAS("rename");
    CHECK(dir_entries(tmpdir, list, sizeof list) == 2);   /* ckpt.safetensors and adir */
    CHECK(strstr(list, ".tmp.") == NULL);

    /* a failed save over an existing checkpoint leaves it untouched */
    const char *dup[2] = {"a", "a"};
    CHECK(mgv_safetensors_save(path, 2, dup, t3, 0, NULL, NULL) == -1);
    f = mgv_safetensors_load(path);
    CHECK(f && f->n == 1 && mgv_get_flat(f->entries[0].tensor, 0) == 9.0f);
    mgv_st_free(f);

    /* loading: missing file, a directory */
    path_in(path, sizeof path, "nothing.safetensors");
    CHECK(mgv_safetensors_load(path) == NULL);
    CHECK_ERROR_HAS("nothing.safetensors: cannot open");
    CHECK(mgv_safetensors_load(dpath) == NULL);
    CHECK_ERROR_HAS("adir: is a directory");
    clear_dir(tmpdir);
    mgv_release(a);
    mgv_release(b);
    mgv_release(c);
}

/* ---- corrupt input ------------------------------------------------------------------- */

/* A saved file cut at several lengths: each load fails with the right
 * message and the file's name. Every shorter prefix is rejected too. */
static void test_truncated_files(void)
{
    char path[256], cut[256];
    path_in(path, sizeof path, "full.safetensors");
    path_in(cut, sizeof cut, "cut.safetensors");
    int64_t s[1] = {16};
    mgv_tensor *a = mgv_full(1, s, 1.0f), *b = mgv_full(1, s, 2.0f);
    const char *names[2] = {"first", "second"};
    mgv_tensor *ts[2] = {a, b};
    CHECK(mgv_safetensors_save(path, 2, names, ts, 0, NULL, NULL) == 0);
    size_t len = 0;
    unsigned char *buf = read_file(path, &len);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = h << 8 | buf[i];
    struct {
        size_t at;
        const char *want;
    } cases[] = {
        {0, "file is 0 bytes, too short"},
        {4, "file is 4 bytes, too short"},
        {8, "exceeds the 0 bytes that follow it"},
        {8 + h / 2, "exceeds"},
        {len - 3,
         "tensor \"second\": data_offsets [64, 128] go beyond the data section (125 bytes)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(cut, buf, cases[i].at);
        CHECK(mgv_safetensors_load(cut) == NULL);
        CHECK_ERROR_HAS("cut.safetensors");
        CHECK_ERROR_HAS(cases[i].want);
    }
    int accepted = 0;
    for (size_t n = 0; n < len; n++) {
        mgv_st_file *f = mgv_safetensors_parse(buf, n, "prefix");
        accepted += f != NULL;
        mgv_st_free(f);
    }
    CHECK(accepted == 0);
    mgv_st_file *f = mgv_safetensors_parse(buf, len, "whole");
    CHECK(f && f->n == 2);
    mgv_st_free(f);
    free(buf);
    unlink(path);
    unlink(cut);
    mgv_release(a);
    mgv_release(b);
}

static void test_corrupt_headers(void)
{
    unsigned char d[16] = {0};
    /* header length larger than the file */
    unsigned char small[20] = {0xe8, 0x03};   /* says 1000 */
    CHECK(mgv_safetensors_parse(small, sizeof small, "bad.safetensors") == NULL);
    CHECK_ERROR_HAS("bad.safetensors: header length 1000 exceeds the 12 bytes");
    unsigned char huge[8] = {0, 0, 0, 0, 0, 0, 0, 0x80};
    CHECK(mgv_safetensors_parse(huge, sizeof huge, "bad.safetensors") == NULL);
    CHECK_ERROR_HAS("exceeds");
    /* a header over 100 MB is refused before parsing */
    size_t biglen = 100000000 + 64;
    unsigned char *big = calloc(1, biglen);
    if (big) {
        uint64_t h = 100000001;
        for (int i = 0; i < 8; i++) big[i] = (unsigned char)(h >> (8 * i));
        CHECK(mgv_safetensors_parse(big, biglen, "bad.safetensors") == NULL);
        CHECK_ERROR_HAS("header length 100000001 is over the 100 MB limit");
        free(big);
    }
    CHECK(mgv_safetensors_parse(NULL, 0, NULL) == NULL);
    CHECK_ERROR_HAS("too short");

    /* each header, with the first dlen bytes of d as data, must be refused
     * with a message naming the file and containing want */
    static const struct {
        const char *header;
        size_t dlen;
        const char *want;
    } bad[] = {
        {"{not json}", 0, "header is not valid JSON"},
        {"{\"w\": {\"dtype\": \"F32\"", 0, "header is not valid JSON"},
        {"[1, 2, 3]", 0, "header is not a JSON object"},
        {"\"str\"", 0, "header is not a JSON object"},
        {"{\"w\": 5}", 0, "tensor \"w\": entry is not an object"},
        /* offsets out of range, reversed, not integers, missing */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
         8, "tensor \"w\": data_offsets [8, 16] go beyond the data section (8 bytes)"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}",
         8, "tensor \"w\": data_offsets [8, 0] end before they begin"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}",
         8, "tensor \"w\": \"data_offsets\" are not non-negative integers"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}",
         8, "tensor \"w\": \"data_offsets\" is missing"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}",
         8, "tensor \"w\": \"data_offsets\" is missing"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],"
         "\"data_offsets\":[0,99999999999999999999]}}",
         8, "header is not valid JSON"},
        /* size mismatch */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
         8, "tensor \"w\": data_offsets [0, 8] hold 8 bytes but F32 [3] needs 12"},
        {"{\"w\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
         16, "hold 16 bytes but F16 [2x2] needs 8"},
        /* dtypes */
        {"{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}",
         2, "tensor \"w\": dtype \"F8_E4M3\" is not supported"},
        {"{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}",
         8, "tensor \"w\": \"dtype\" is missing or not a string"},
        /* shapes */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
         8, "tensor \"w\": shape entry 1 is not a non-negative integer"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1, 2.0],\"data_offsets\":[0,8]}}",
         8, "tensor \"w\": shape entry 2 is not a non-negative integer"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}",
         8, "tensor \"w\": \"shape\" is missing or not a list"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],"
         "\"data_offsets\":[0,8]}}",
         8, "tensor \"w\": shape has 9 dimensions (at most 8)"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
         "\"data_offsets\":[0,8]}}",
         8, "tensor \"w\": shape is too large"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[3037000500,3037000500],"
         "\"data_offsets\":[0,8]}}",
         8, "tensor \"w\": shape is too large"},
        /* duplicates */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "duplicate name \"w\""},
        /* metadata */
        {"{\"__metadata__\":{\"a\":1}}", 0, "metadata \"a\" is not a string"},
        {"{\"__metadata__\":[\"a\"]}", 0, "\"__metadata__\" is not an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(rejects(bad[i].header, d, bad[i].dlen, bad[i].want));
    /* tensor data too large for the allocation limit: a message, not a crash */
    mgv_set_alloc_limit(1024);
    unsigned char *zeros = calloc(1, 4096);
    CHECK(rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1024],\"data_offsets\":[0,4096]}}",
                  zeros, 4096, "tensor \"w\": tensor: cannot allocate"));
    free(zeros);
    mgv_set_alloc_limit((int64_t)16 << 30);

    /* things that are fine: padding, unknown extra fields, null metadata, zero-size at end */
    size_t len;
    unsigned char *b = make_image("{\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8],"
                                  "\"extra\":true},\"e\":{\"dtype\":\"F64\",\"shape\":[0],"
                                  "\"data_offsets\":[8,8]},\"__metadata__\":null}    ",
                                  (const unsigned char *)"\0\0\0\0\0\0\x80\x3f", 8, &len);
    mgv_st_file *f = mgv_safetensors_parse(b, len, "ok");
    CHECK(f && f->n == 2 && f->n_meta == 0);
    CHECK(f && f->entries[0].tensor->ndim == 0 && mgv_get_flat(f->entries[0].tensor, 0) == 1.0f);
    CHECK(f && mgv_numel(f->entries[1].tensor) == 0);
    mgv_st_free(f);
    free(b);
}

/* Random mutations of a valid file must never crash (run under ASan). */
static void test_fuzz_mutations(void)
{
    int64_t s[2] = {3, 4};
    mgv_tensor *a = mgv_full(2, s, 0.5f), *c = mgv_scalar(-1.0f);
    char path[256];
    path_in(path, sizeof path, "fuzz.safetensors");
    const char *names[2] = {"alpha", "c"};
    mgv_tensor *ts[2] = {a, c};
    const char *k[1] = {"m"}, *v[1] = {"x"};
    CHECK(mgv_safetensors_save(path, 2, names, ts, 1, k, v) == 0);
    size_t len = 0;
    unsigned char *orig = read_file(path, &len);
    unlink(path);
    unsigned char *buf = malloc(len + 64);
    uint64_t state = 0x9e3779b97f4a7c15ull;
    int ok = 0, bad = 0;
    const unsigned char interesting[] = {'{', '}', '[', ']', '"', ',', ':', '-', '0', '9',
                                         '\\', 0, 0xff, 0x80, ' '};
    for (int it = 0; it < 20000; it++) {
        memcpy(buf, orig, len);
        size_t n = len;
        int edits = 1 + (int)((state >> 59) % 4);
        for (int e = 0; e < edits; e++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)((state >> 33) % n);
            switch ((state >> 20) % 4) {
            case 0: buf[pos] = (unsigned char)(state >> 8); break;
            case 1: buf[pos] = interesting[(state >> 8) % sizeof interesting]; break;
            case 2: buf[pos] ^= (unsigned char)(1u << ((state >> 8) % 8)); break;
            case 3: n = pos + 1; break;   /* truncate */
            }
        }
        mgv_st_file *f = mgv_safetensors_parse(buf, n, "fuzz");
        if (f) {
            ok++;
            for (int i = 0; i < f->n; i++) CHECK(f->entries[i].tensor && f->entries[i].name);
        } else {
            bad++;
            CHECK(strstr(mgv_last_error(), "fuzz") != NULL);
        }
        mgv_st_free(f);
    }
    CHECK(ok > 0 && bad > 0);
    free(buf);
    free(orig);
    mgv_release(a);
    mgv_release(c);
}

/* ---- the file written by st_write_reference.py ----------------------------------- */

static int check_tensor(const mgv_st_file *f, int index, const char *name, int ndim,
                        const int64_t *shape, const float *want)
{
    if (index >= f->n) return 0;
    const mgv_st_entry *e = &f->entries[index];
    if (strcmp(e->name, name) != 0 || e->tensor->ndim != ndim) {
        printf("  entry %d: %s (ndim %d), expected %s\n", index, e->name, e->tensor->ndim, name);
        return 0;
    }
    for (int d = 0; d < ndim; d++)
        if (e->tensor->shape[d] != shape[d]) return 0;
    int good = 1;
    for (int64_t i = 0; i < mgv_numel(e->tensor); i++) {
        float got = mgv_get_flat(e->tensor, i);
        if (!same_bits(got, want[i])) {
            printf("  %s[%lld] = %.9g, expected %.9g\n", name, (long long)i, got, want[i]);
            good = 0;
        }
    }
    return good;
}

static const char *reference_path;

static void test_python_reference_file(void)
{
    mgv_st_file *f = mgv_safetensors_load(reference_path);
    CHECK(f != NULL);
    if (!f) return;
    CHECK(f->n == 7);
    int64_t s23[2] = {2, 3}, s7[1] = {7}, s22[2] = {2, 2}, s3[1] = {3}, s03[2] = {0, 3};
    const float z_f32[6] = {0.0f, 1.5f, -2.25f, 1024.0f, 0.1f, -3.0e38f};
    const float a_f16[7] = {1.0f, -2.0f, 0.5f, 65504.0f, 5.9604644775390625e-8f, -0.0f,
                            INFINITY};
    const float m_bf16[4] = {1.0f, -3.5f, 1.2676506002282294e30f, 7.346839692639297e-40f};
    const float d_f64[4] = {(float)0.1, (float)-123.456, INFINITY, 2.5f};
    const float i_i64[3] = {-5.0f, 0.0f, 1099511627776.0f};
    const float s_i32[1] = {-7.0f};
    CHECK(check_tensor(f, 0, "z_f32", 2, s23, z_f32));
    CHECK(check_tensor(f, 1, "a_f16", 1, s7, a_f16));
    CHECK(check_tensor(f, 2, "m_bf16", 2, s22, m_bf16));
    CHECK(check_tensor(f, 3, "d_f64", 2, s22, d_f64));
    CHECK(check_tensor(f, 4, "i_i64", 1, s3, i_i64));
    CHECK(check_tensor(f, 5, "s_i32", 0, NULL, s_i32));
    CHECK(check_tensor(f, 6, "e_empty", 2, s03, NULL));
    CHECK(f->n_meta == 3);
    const char *fmt = mgv_st_meta(f, "format"), *note = mgv_st_meta(f, "note"),
               *uni = mgv_st_meta(f, "unicode");
    CHECK(fmt && strcmp(fmt, "pt") == 0);
    CHECK(note && strcmp(note, "written by st_write_reference.py") == 0);
    CHECK(uni && strcmp(uni, "\xc3\xbcn\xc3\xaf \xe2\x9c\x93") == 0);
    mgv_st_free(f);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        reference_path = argv[1];
        RUN(test_python_reference_file);
        return CHECK_DONE();
    }
    strcpy(tmpdir, "/tmp/mgv-st-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL test_safetensors: cannot make a temporary directory\n");
        return 1;
    }
    RUN(test_round_trip);
    RUN(test_file_layout);
    RUN(test_save_errors_leave_nothing);
    RUN(test_save_atomic_replace);
    RUN(test_truncated_files);
    RUN(test_corrupt_headers);
    RUN(test_fuzz_mutations);
    clear_dir(tmpdir);
    rmdir(tmpdir);
    return CHECK_DONE();
}
