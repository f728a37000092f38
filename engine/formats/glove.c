/*
 * glove.c — streaming JSON -> binary cache conversion, and the cache loader
 * (see glove.h).
 *
 * The converter is a small hand-written pull parser over a 1 MiB read
 * buffer: it validates the whole document as JSON (strings, numbers,
 * nesting up to 512 levels, nothing after the top value) but only keeps
 * "dimensions" and the rows of "vectors". Rows go straight to the temp file;
 * only the word list stays in memory. Every error names the byte offset.
 */
#include "formats/glove.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fileio.h"
#include "formats/utf8.h"

#define MAGIC "MGVGLOVE"
#define VERSION 1
#define HEADER_BYTES 64
#define READ_BUF (1 << 20)
#define MAX_DEPTH 512
#define MAX_KEY (64 * 1024)
#define MAX_NUM 64
#define MAX_DIM 65536
#define REPORT_EVERY (4u << 20)

/* ---- growable byte buffer ------------------------------------------- */

typedef struct bytes {
    char *p;
    size_t n, cap;
} bytes;

static int bytes_put(bytes *b, const void *s, size_t n)
{
    if (n == 0) return 0;   /* b->p and s may be NULL then: no pointer arithmetic on them */
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* ---- reader ---------------------------------------------------------- */

typedef struct reader {
    FILE *f;
    const char *name;
    unsigned char *buf;
    size_t pos, len;
    uint64_t base;              /* file offset of buf[0] */
    uint64_t total;
    uint64_t next_report;
    int eof, ioerr, stopped;    /* stopped: cancelled by callback or interrupt */
    mgv_glove_progress_fn cb;
    void *ud;
} reader;

static int refill(reader *r)
{
    if (r->eof || r->stopped) return 0;
    r->base += r->len;
    r->pos = 0;
    r->len = fread(r->buf, 1, READ_BUF, r->f);
    if (r->len == 0) {
        r->eof = 1;
        r->ioerr = ferror(r->f);
        return 0;
    }
    if (mgv_interrupted()) r->stopped = 2;
    else if (r->cb && r->base >= r->next_report) {
        if (r->cb(r->ud, r->base, r->total)) r->stopped = 1;
        r->next_report = r->base + REPORT_EVERY;
    }
    if (r->stopped) {
        r->len = 0;
        return 0;
    }
    return 1;
}

static inline int peek(reader *r)
{
    if (r->pos < r->len) return r->buf[r->pos];
    return refill(r) ? r->buf[r->pos] : -1;
}

static inline int next(reader *r)
{
    int c = peek(r);
    if (c >= 0) r->pos++;
    return c;
}

static uint64_t offset(const reader *r) { return r->base + r->pos; }

static int fail_at(reader *r, uint64_t at, const char *fmt, ...) MGV_PRINTF(3, 4);
static int fail_at(reader *r, uint64_t at, const char *fmt, ...)
{
    if (r->stopped == 1) return mgv_fail("glove: %s: cancelled at byte %llu", r->name,
                                         (unsigned long long)offset(r));
    if (r->stopped == 2) return mgv_fail("glove: %s: interrupted at byte %llu", r->name,
                                         (unsigned long long)offset(r));
    if (r->ioerr) return mgv_fail("glove: %s: read error at byte %llu", r->name,
                                  (unsigned long long)offset(r));
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mgv_fail("glove: %s: byte %llu: %s", r->name, (unsigned long long)at, msg);
}

/* "'x'", "end of input" or "byte 0xNN" for messages. */
static const char *what(int c, char *buf, size_t n)
{
    if (c < 0) return "end of input";
    if (c >= 0x21 && c < 0x7f) snprintf(buf, n, "'%c'", c);
    else snprintf(buf, n, "byte 0x%02x", (unsigned)c);
    return buf;
}

static int expect(reader *r, int want, const char *context)
{
    uint64_t at = offset(r);
    int c = next(r);
    if (c == want) return 0;
    char b[16];
    return fail_at(r, at, "expected '%c' %s, found %s", want, context, what(c, b, sizeof b));
}

static void skip_ws(reader *r)
{
    for (;;) {
        while (r->pos < r->len) {
            unsigned char c = r->buf[r->pos];
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
            r->pos++;
        }
        if (!refill(r)) return;
    }
}

/* ---- strings --------------------------------------------------------- */

static int hex4(reader *r, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = mgv_hex_digit(next(r));
        if (h < 0) return -1;
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return 0;
}

static int put_utf8(bytes *out, uint32_t cp)
{
    unsigned char b[4];
    int n = mgv_utf8_encode(cp, b);
    return bytes_put(out, b, (size_t)n);
}

/*
 * Reads a JSON string (the opening quote is next). With out, the decoded
 * UTF-8 is appended (at most MAX_KEY bytes); without, it is only checked.
 */
static int read_string(reader *r, bytes *out)
{
    uint64_t start = offset(r);
    char b[16];
    int c = next(r);
    if (c != '"') return fail_at(r, start, "expected a string, found %s", what(c, b, sizeof b));
    size_t n0 = out ? out->n : 0;
    for (;;) {
        uint64_t at = offset(r);
        c = next(r);
        if (c < 0) return fail_at(r, start, "unterminated string");
        if (c == '"') break;
        if (c < 0x20) return fail_at(r, at, "control character 0x%02x in a string", (unsigned)c);
        if (c == '\\') {
            int e = next(r);
            uint32_t cp;
            char one;
            switch (e) {
            case '"': one = '"'; break;
            case '\\': one = '\\'; break;
            case '/': one = '/'; break;
            case 'b': one = '\b'; break;
            case 'f': one = '\f'; break;
            case 'n': one = '\n'; break;
            case 'r': one = '\r'; break;
            case 't': one = '\t'; break;
            case 'u':
                if (hex4(r, &cp)) return fail_at(r, at, "bad \\u escape");
                if (cp >= 0xdc00 && cp <= 0xdfff) return fail_at(r, at, "lone surrogate \\u%04x", cp);
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (next(r) != '\\' || next(r) != 'u' || hex4(r, &lo) || lo < 0xdc00 ||
                        lo > 0xdfff)
                        return fail_at(r, at, "lone surrogate \\u%04x", cp);
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (out && put_utf8(out, cp)) return fail_at(r, at, "out of memory");
                goto check_len;
            default:
                return fail_at(r, at, "bad escape \\%s", e < 0 ? "<end>" : what(e, b, sizeof b));
            }
            if (out && bytes_put(out, &one, 1)) return fail_at(r, at, "out of memory");
        } else if (c < 0x80) {
            if (out) {
                char ch = (char)c;
                if (bytes_put(out, &ch, 1)) return fail_at(r, at, "out of memory");
            }
        } else {
            /* a UTF-8 sequence: check lead and continuation bytes strictly */
            unsigned char s[4] = {(unsigned char)c, 0, 0, 0};
            unsigned lo, hi;
            int n = mgv_utf8_lead((unsigned)c, &lo, &hi);
            if (n == 0) return fail_at(r, at, "invalid UTF-8 byte 0x%02x", (unsigned)c);
            for (int i = 1; i < n; i++) {
                int d = peek(r);
                if (d < 0 || (unsigned)d < (i == 1 ? lo : 0x80) || (unsigned)d > (i == 1 ? hi : 0xbf))
                    return fail_at(r, at, "invalid UTF-8 sequence");
                s[i] = (unsigned char)next(r);
            }
            if (out && bytes_put(out, s, (size_t)n)) return fail_at(r, at, "out of memory");
        }
    check_len:
        if (out && out->n - n0 > MAX_KEY)
            return fail_at(r, start, "string longer than %d bytes", MAX_KEY);
    }
    return 0;
}

/* ---- numbers --------------------------------------------------------- */

/* Reads a JSON number's text into num (NUL-terminated), checking the
 * grammar -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?. */
static int read_number(reader *r, char *num)
{
    uint64_t start = offset(r);
    size_t n = 0;
    char b[16];
#define PUT(ch)                                                            \
    do {                                                                   \
        if (n + 1 >= MAX_NUM) return fail_at(r, start, "number too long"); \
        num[n++] = (char)(ch);                                             \
        r->pos++;                                                          \
    } while (0)
    int c = peek(r);
    if (c == '-') {
        PUT(c);
        c = peek(r);
    }
    if (c == '0') {
        PUT(c);
        c = peek(r);
    } else if (c >= '1' && c <= '9') {
        while (c >= '0' && c <= '9') {
            PUT(c);
            c = peek(r);
        }
    } else return fail_at(r, offset(r), "expected a digit, found %s", what(c, b, sizeof b));
    if (c == '.') {
        PUT(c);
        c = peek(r);
        if (!(c >= '0' && c <= '9'))
            return fail_at(r, offset(r), "expected a digit after '.', found %s", what(c, b, sizeof b));
        while (c >= '0' && c <= '9') {
            PUT(c);
            c = peek(r);
        }
    }
    if (c == 'e' || c == 'E') {
        PUT(c);
        c = peek(r);
        if (c == '+' || c == '-') {
            PUT(c);
            c = peek(r);
        }
        if (!(c >= '0' && c <= '9'))
            return fail_at(r, offset(r), "expected a digit in the exponent, found %s",
                           what(c, b, sizeof b));
        while (c >= '0' && c <= '9') {
            PUT(c);
            c = peek(r);
        }
    }
#undef PUT
    num[n] = '\0';
    return 0;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* Correctly rounded float of a checked JSON number. Short decimals take an
 * exact fast path (mantissa < 2^24 and a power of ten up to 10^10, both exact
 * in float, one rounding); the rest go to strtof in the C locale. */
static float to_float(const char *s)
{
    static const float p10[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f,
                                1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
    const char *p = s;
    int neg = *p == '-';
    p += neg;
    uint32_t mant = 0;
    int frac = 0, digits = 0, dot = 0;
    for (; *p; p++) {
        if (*p == '.') {
            dot = 1;
            continue;
        }
        if (*p < '0' || *p > '9') break;  /* exponent: slow path */
        if (++digits > 8) break;
        mant = mant * 10 + (uint32_t)(*p - '0');
        frac += dot;
    }
    if (!*p && mant < (1u << 24) && frac <= 10) {
        float v = (float)mant / p10[frac];
        return neg ? -v : v;
    }
    pthread_once(&c_locale_once, make_c_locale);
    return c_locale ? strtof_l(s, NULL, c_locale) : strtof(s, NULL);
}

/* ---- generic values (checked and skipped) ---------------------------- */

static int read_literal(reader *r, const char *word)
{
    uint64_t start = offset(r);
    for (const char *w = word; *w; w++)
        if (next(r) != *w) return fail_at(r, start, "invalid literal (expected %s)", word);
    return 0;
}

/* Checks and skips one value of any kind, iteratively (no recursion). */
static int skip_value(reader *r)
{
    char stack[MAX_DEPTH];
    int depth = 0;
    char num[MAX_NUM], b[16];
    for (;;) {
        /* a value */
        skip_ws(r);
        uint64_t at = offset(r);
        int c = peek(r);
        if (c == '{' || c == '[') {
            if (depth == MAX_DEPTH) return fail_at(r, at, "nesting deeper than %d", MAX_DEPTH);
            r->pos++;
            stack[depth++] = (char)c;
            skip_ws(r);
            if (peek(r) == (c == '{' ? '}' : ']')) {
                r->pos++;
                depth--;
            } else if (c == '{') {
                if (read_string(r, NULL)) return -1;
                skip_ws(r);
                if (expect(r, ':', "after an object key")) return -1;
                continue;
            } else continue;
        } else if (c == '"') {
            if (read_string(r, NULL)) return -1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if (read_number(r, num)) return -1;
        } else if (c == 't') {
            if (read_literal(r, "true")) return -1;
        } else if (c == 'f') {
            if (read_literal(r, "false")) return -1;
        } else if (c == 'n') {
            if (read_literal(r, "null")) return -1;
        } else {
            return fail_at(r, at, "expected a value, found %s", what(c, b, sizeof b));
        }
        /* after a value: close containers or go on to the next member */
        for (;;) {
            if (depth == 0) return 0;
            skip_ws(r);
            at = offset(r);
            c = next(r);
            char top = stack[depth - 1];
            if (c == ',') {
                if (top == '{') {
                    skip_ws(r);
                    if (read_string(r, NULL)) return -1;
                    skip_ws(r);
                    if (expect(r, ':', "after an object key")) return -1;
                }
                break;
            }
            if (c == (top == '{' ? '}' : ']')) {
                depth--;
                continue;
            }
            return fail_at(r, at, "expected ',' or '%c', found %s", top == '{' ? '}' : ']',
                           what(c, b, sizeof b));
        }
    }
}

/* ---- conversion ------------------------------------------------------ */

typedef struct conv {
    reader r;
    FILE *out;
    bytes words, key;
    float *row;
    size_t rowcap;
    int64_t dim;                    /* 0: not known yet */
    size_t rowlen;                  /* numbers per array (from the first row) */
    uint64_t rows;
    int have_vectors;
} conv;

/* One array of numbers for the word in c->key. */
static int read_row(conv *c)
{
    reader *r = &c->r;
    uint64_t start = offset(r);
    char num[MAX_NUM], b[16];
    if (expect(r, '[', "(a word's vector)")) return -1;
    size_t m = 0;
    skip_ws(r);
    if (peek(r) == ']') return fail_at(r, start, "empty vector");
    for (;;) {
        skip_ws(r);
        uint64_t at = offset(r);
        int ch = peek(r);
        if (!(ch == '-' || (ch >= '0' && ch <= '9')))
            return fail_at(r, at, "expected a number in a vector, found %s", what(ch, b, sizeof b));
        if (read_number(r, num)) return -1;
        if (m == c->rowcap) {
            if (c->rowlen || m >= (size_t)MAX_DIM + 2)
                return fail_at(r, start, "vector has more than %zu numbers",
                               c->rowlen ? c->rowlen : (size_t)MAX_DIM + 2);
            size_t cap = c->rowcap ? 2 * c->rowcap : 128;
            float *nr = realloc(c->row, cap * sizeof *nr);
            if (!nr) return fail_at(r, at, "out of memory");
            c->row = nr;
            c->rowcap = cap;
        }
        float v = to_float(num);
        if (v - v != 0) return fail_at(r, at, "number %s is out of float range", num);
        c->row[m++] = v;
        skip_ws(r);
        at = offset(r);
        ch = next(r);
        if (ch == ']') break;
        if (ch != ',')
            return fail_at(r, at, "expected ',' or ']' in a vector, found %s", what(ch, b, sizeof b));
    }
    if (!c->rowlen) {           /* the first row fixes the shape */
        if (c->dim && (size_t)c->dim > m)
            return fail_at(r, start, "vector has %zu numbers, fewer than dimensions %lld", m,
                           (long long)c->dim);
        if (!c->dim) {
            if (m > MAX_DIM) return fail_at(r, start, "vector longer than %d", MAX_DIM);
            c->dim = (int64_t)m;
        }
        c->rowlen = m;
        c->rowcap = m;          /* later rows may not grow it */
    } else if (m != c->rowlen) {
        return fail_at(r, start, "vector has %zu numbers, the first had %zu", m, c->rowlen);
    }
    if (fwrite(c->row, sizeof(float), (size_t)c->dim, c->out) != (size_t)c->dim)
        return mgv_fail("glove: cannot write the cache: %s", strerror(errno));
    c->rows++;
    return 0;
}

static int read_vectors(conv *c)
{
    reader *r = &c->r;
    char b[16];
    if (c->have_vectors) return fail_at(r, offset(r), "second \"vectors\" key");
    c->have_vectors = 1;
    skip_ws(r);
    if (expect(r, '{', "(the \"vectors\" object)")) return -1;
    skip_ws(r);
    if (peek(r) == '}') {
        r->pos++;
        return 0;
    }
    for (;;) {
        skip_ws(r);
        uint64_t at = offset(r);
        c->key.n = 0;
        if (read_string(r, &c->key)) return -1;
        if (c->key.n && memchr(c->key.p, '\0', c->key.n))
            return fail_at(r, at, "word contains NUL");
        if (bytes_put(&c->words, c->key.p, c->key.n) || bytes_put(&c->words, "", 1))
            return fail_at(r, at, "out of memory");
        skip_ws(r);
        if (expect(r, ':', "after a word")) return -1;
        skip_ws(r);
        if (read_row(c)) return -1;
        skip_ws(r);
        at = offset(r);
        int ch = next(r);
        if (ch == '}') return 0;
        if (ch != ',')
            return fail_at(r, at, "expected ',' or '}' after a vector, found %s", what(ch, b, sizeof b));
    }
}

/* "dimensions": a positive integer (checked, then used for the rows). */
static int read_dimensions(conv *c)
{
    reader *r = &c->r;
    uint64_t at = offset(r);
    if (peek(r) != '-' && !(peek(r) >= '0' && peek(r) <= '9')) return skip_value(r);
    char num[MAX_NUM];
    if (read_number(r, num)) return -1;
    char *end;
    long long d = strtoll(num, &end, 10);
    if (*end || d <= 0 || d > MAX_DIM)
        return fail_at(r, at, "\"dimensions\" must be an integer in [1, %d], found %s", MAX_DIM, num);
    if (!c->have_vectors) c->dim = d;
    return 0;
}

static int read_document(conv *c)
{
    reader *r = &c->r;
    char b[16];
    skip_ws(r);
    if (peek(r) == 0xef) {              /* a UTF-8 byte order mark */
        if (next(r) != 0xef || next(r) != 0xbb || next(r) != 0xbf)
            return fail_at(r, 0, "invalid byte order mark");
        skip_ws(r);
    }
    if (expect(r, '{', "at the start of the document")) return -1;
    skip_ws(r);
    if (peek(r) == '}') r->pos++;
    else
        for (;;) {
            skip_ws(r);
            c->key.n = 0;
            if (read_string(r, &c->key)) return -1;
            skip_ws(r);
            if (expect(r, ':', "after an object key")) return -1;
            skip_ws(r);
            int rc;
            if (c->key.n == 7 && !memcmp(c->key.p, "vectors", 7)) rc = read_vectors(c);
            else if (c->key.n == 10 && !memcmp(c->key.p, "dimensions", 10)) rc = read_dimensions(c);
            else rc = skip_value(r);
            if (rc) return -1;
            skip_ws(r);
            uint64_t at = offset(r);
            int ch = next(r);
            if (ch == '}') break;
            if (ch != ',')
                return fail_at(r, at, "expected ',' or '}', found %s", what(ch, b, sizeof b));
        }
    skip_ws(r);
    uint64_t at = offset(r);
    int ch = peek(r);
    if (ch >= 0) return fail_at(r, at, "unexpected %s after the document", what(ch, b, sizeof b));
    if (r->stopped || r->ioerr) return fail_at(r, at, "stopped");
    if (!c->have_vectors) return fail_at(r, at, "no \"vectors\" object in the document");
    if (c->rows == 0) return fail_at(r, at, "\"vectors\" is empty");
    return 0;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

int mgv_glove_convert(const char *json_path, const char *cache_path, mgv_glove_progress_fn cb,
                      void *ud)
{
    if (!json_path || !cache_path) return mgv_fail("glove: convert needs two paths");
    conv c;
    memset(&c, 0, sizeof c);
    c.r.name = json_path;
    c.r.cb = cb;
    c.r.ud = ud;
    c.r.f = fopen(json_path, "rb");
    if (!c.r.f) return mgv_fail("glove: cannot open '%s': %s", json_path, strerror(errno));
    struct stat st;
    if (fstat(fileno(c.r.f), &st) == 0) c.r.total = (uint64_t)st.st_size;
    c.r.buf = malloc(READ_BUF);
    mgv_atomic_file af;
    int opened = 0, ok = 0, rc = -1;
    if (!c.r.buf) {
        mgv_fail("glove: out of memory");
        goto done;
    }
    if (mgv_atomic_open(&af, cache_path, "glove") < 0) goto done;
    opened = 1;
    c.out = mgv_atomic_stdio(&af);
    if (!c.out) goto done;
    unsigned char hdr[HEADER_BYTES];
    memset(hdr, 0, sizeof hdr);     /* placeholder until the counts are known */
    if (fwrite(hdr, 1, sizeof hdr, c.out) != sizeof hdr) {
        mgv_fail("glove: cannot write '%s': %s", af.tmp, strerror(errno));
        goto done;
    }
    if (cb && cb(ud, 0, c.r.total)) {
        mgv_fail("glove: %s: cancelled at byte 0", json_path);
        goto done;
    }
    if (read_document(&c)) goto done;
    uint64_t words_off = HEADER_BYTES + c.rows * (uint64_t)c.dim * sizeof(float);
    memcpy(hdr, MAGIC, 8);
    put_u32(hdr + 8, VERSION);
    put_u32(hdr + 12, (uint32_t)c.dim);
    put_u64(hdr + 16, c.rows);
    put_u64(hdr + 24, HEADER_BYTES);
    put_u64(hdr + 32, words_off);
    put_u64(hdr + 40, c.words.n);
    put_u64(hdr + 48, fnv1a(c.words.p, c.words.n));
    put_u32(hdr + 56, 0x01020304u);
    if (fwrite(c.words.p, 1, c.words.n, c.out) != c.words.n || fseek(c.out, 0, SEEK_SET) ||
        fwrite(hdr, 1, sizeof hdr, c.out) != sizeof hdr) {
        mgv_fail("glove: cannot write '%s': %s", af.tmp, strerror(errno));
        goto done;
    }
    ok = 1;
done:
    /* flushes, syncs and renames the cache into place, or removes the temp file */
    if (opened) rc = mgv_atomic_commit(&af, ok);
    if (rc == 0 && cb) cb(ud, c.r.total, c.r.total);
    fclose(c.r.f);
    free(c.r.buf);
    free(c.words.p);
    free(c.key.p);
    free(c.row);
    return rc;
}

/* ---- the cache ------------------------------------------------------- */

struct mgv_glove {
    void *map;
    size_t map_len;
    int dim;
    int64_t rows;
    const float *matrix;
    const char *words;
    uint32_t *word_off;             /* rows offsets into words */
    uint32_t *table;                /* row + 1, 0 = empty; power-of-two size */
    uint64_t mask;
    size_t max_len;                 /* longest word, bytes */
};

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

void mgv_glove_close(mgv_glove *g)
{
    if (!g) return;
    if (g->map) munmap(g->map, g->map_len);
    free(g->word_off);
    free(g->table);
    free(g);
}

mgv_glove *mgv_glove_open(const char *path)
{
    if (!path) return mgv_fail_null("glove: NULL path");
    int fd = open(path, O_RDONLY);
    if (fd < 0) return mgv_fail_null("glove: cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return mgv_fail_null("glove: '%s' is not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < HEADER_BYTES) {
        close(fd);
        return mgv_fail_null("glove: '%s' is too short for a cache (%llu bytes)", path,
                             (unsigned long long)size);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return mgv_fail_null("glove: cannot map '%s': %s", path, strerror(errno));
    mgv_glove *g = calloc(1, sizeof *g);
    if (!g) {
        munmap(map, (size_t)size);
        return mgv_fail_null("glove: out of memory");
    }
    g->map = map;
    g->map_len = (size_t)size;
    const unsigned char *h = map;
    uint32_t version = get_u32(h + 8), dim = get_u32(h + 12);
    uint64_t rows = get_u64(h + 16), moff = get_u64(h + 24), woff = get_u64(h + 32),
             wlen = get_u64(h + 40), wsum = get_u64(h + 48);
    const char *bad = NULL;
    if (memcmp(h, MAGIC, 8)) bad = "not a GloVe cache (bad magic)";
    else if (get_u32(h + 56) != 0x01020304u) bad = "byte order differs";
    else if (version != VERSION) bad = "unsupported cache version";
    else if (dim == 0 || dim > MAX_DIM || rows == 0 || rows >= (1ULL << 31)) bad = "bad shape";
    else if (moff != HEADER_BYTES || woff != moff + rows * dim * sizeof(float) ||
             wlen > size || woff > size - wlen || woff + wlen != size)
        bad = "sizes do not match the file (truncated?)";
    else if (wlen >= (1ULL << 32)) bad = "word list too large";
    if (bad) {
        mgv_glove_close(g);
        return mgv_fail_null("glove: '%s': %s", path, bad);
    }
    g->dim = (int)dim;
    g->rows = (int64_t)rows;
    g->matrix = (const float *)((const char *)map + moff);
    g->words = (const char *)map + woff;
    if (fnv1a(g->words, wlen) != wsum || wlen == 0 || g->words[wlen - 1] != '\0') {
        mgv_glove_close(g);
        return mgv_fail_null("glove: '%s': word list is corrupt (checksum)", path);
    }
    uint64_t cap = 1;
    while (cap < 2 * rows) cap <<= 1;
    g->mask = cap - 1;
    g->word_off = malloc(rows * sizeof *g->word_off);
    g->table = calloc(cap, sizeof *g->table);
    if (!g->word_off || !g->table) {
        mgv_glove_close(g);
        return mgv_fail_null("glove: out of memory");
    }
    uint64_t off = 0;
    for (uint64_t i = 0; i < rows; i++) {
        if (off >= wlen) {
            mgv_glove_close(g);
            return mgv_fail_null("glove: '%s': fewer words than rows", path);
        }
        const char *w = g->words + off;
        size_t len = strlen(w);     /* ends inside: the list ends with NUL */
        g->word_off[i] = (uint32_t)off;
        if (len > g->max_len) g->max_len = len;
        uint64_t k = fnv1a(w, len) & g->mask;
        for (;; k = (k + 1) & g->mask) {
            uint32_t e = g->table[k];
            if (!e) {
                g->table[k] = (uint32_t)i + 1;
                break;
            }
            const char *o = g->words + g->word_off[e - 1];
            if (!strcmp(o, w)) break;   /* duplicate word: the first row wins */
        }
        off += len + 1;
    }
    if (off != wlen) {
        mgv_glove_close(g);
        return mgv_fail_null("glove: '%s': more words than rows", path);
    }
    return g;
}

mgv_glove *mgv_glove_open_or_convert(const char *json_path, const char *cache_path,
                                     mgv_glove_progress_fn cb, void *ud)
{
    if (!cache_path) return mgv_fail_null("glove: NULL cache path");
    struct stat cs, js;
    int have_cache = stat(cache_path, &cs) == 0;
    int have_json = json_path && stat(json_path, &js) == 0;
    if (!have_cache || (have_json && js.st_mtime > cs.st_mtime)) {
        if (!have_json)
            return mgv_fail_null("glove: no cache '%s' and no JSON '%s' to make it from",
                                 cache_path, json_path ? json_path : "(none)");
        if (mgv_glove_convert(json_path, cache_path, cb, ud)) return NULL;
    }
    return mgv_glove_open(cache_path);
}

int64_t mgv_glove_rows(const mgv_glove *g) { return g ? g->rows : 0; }
int mgv_glove_dim(const mgv_glove *g) { return g ? g->dim : 0; }

int64_t mgv_glove_lookup(const mgv_glove *g, const char *word, size_t len)
{
    if (!g || !word || len > g->max_len) return -1;
    for (uint64_t k = fnv1a(word, len) & g->mask;; k = (k + 1) & g->mask) {
        uint32_t e = g->table[k];
        if (!e) return -1;
        const char *o = g->words + g->word_off[e - 1];
        if (!memcmp(o, word, len) && o[len] == '\0') return (int64_t)e - 1;
    }
}

int64_t mgv_glove_find(const mgv_glove *g, const char *word)
{
    if (!g || !word) return -1;
    size_t len = strlen(word);
    if (len > g->max_len) return -1;
    if (len == 0) return mgv_glove_lookup(g, "", 0);
    char small[256], *buf = len < sizeof small ? small : malloc(len + 1);
    if (!buf) return -1;
    for (size_t i = 0; i < len; i++) {
        char ch = word[i];
        buf[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    int64_t row = mgv_glove_lookup(g, buf, len);
    if (buf != small) free(buf);
    return row;
}

const float *mgv_glove_row(const mgv_glove *g, int64_t row)
{
    if (!g || row < 0 || row >= g->rows) return NULL;
    return g->matrix + row * g->dim;
}

const char *mgv_glove_word(const mgv_glove *g, int64_t row)
{
    if (!g || row < 0 || row >= g->rows) return NULL;
    return g->words + g->word_off[row];
}

mgv_tensor *mgv_glove_gather(const mgv_glove *g, int64_t n, const int64_t *rows)
{
    if (!g) return mgv_fail_null("glove_gather: no vectors");
    if (n < 0 || (n > 0 && !rows)) return mgv_fail_null("glove_gather: bad row list");
    for (int64_t i = 0; i < n; i++)
        if (rows[i] < -1 || rows[i] >= g->rows)
            return mgv_fail_null("glove_gather: row %lld (item %lld) is not in [-1, %lld)",
                                 (long long)rows[i], (long long)i, (long long)g->rows);
    int64_t shape[2] = {n, g->dim};
    mgv_tensor *t = mgv_empty(2, shape);
    if (!t) return NULL;
    float *d = mgv_data(t);
    for (int64_t i = 0; i < n; i++) {
        if (rows[i] < 0) memset(d + i * g->dim, 0, (size_t)g->dim * sizeof(float));
        else memcpy(d + i * g->dim, g->matrix + rows[i] * g->dim, (size_t)g->dim * sizeof(float));
    }
    return t;
}

int mgv_word_mean(const mgv_tensor *words, const int32_t *ids, int n, float *out)
{
    int64_t dim = words->shape[1], V = words->shape[0];
    int count = 0;
    for (int i = 0; i < n; i++) count += ids[i] >= 0 && ids[i] < V;
    if (count == 0) return 0;
    memset(out, 0, sizeof(float) * (size_t)dim);
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= V) continue;
        const float *r = mgv_data(words) + (int64_t)ids[i] * dim;
        for (int64_t k = 0; k < dim; k++) out[k] += r[k];
    }
    for (int64_t k = 0; k < dim; k++) out[k] /= (float)count;
    return count;
}
