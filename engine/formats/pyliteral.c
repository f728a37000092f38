/*
 * pyliteral.c — Python literal parser (see pyliteral.h).
 *
 * A recursive-descent parser over a byte range. Nodes, pointer arrays and
 * decoded strings come from an arena of blocks that a new parse rewinds;
 * containers collect their children on a shared growable stack first,
 * because their size is unknown until the closing bracket.
 */
#include "formats/pyliteral.h"

#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/utf8.h"

#define MAX_DEPTH 200
#define BLOCK_MIN (64 * 1024)

typedef struct block {
    struct block *next;
    size_t cap, used;
    _Alignas(16) char data[];
} block;

struct mgv_pydoc {
    block *head, *cur;
    mgv_py **stack;                 /* children of open containers */
    size_t nstack, capstack;
    char *sbuf;                     /* string being decoded */
    size_t slen, scap;
    /* state of the current parse */
    const char *src, *end, *p, *file;
    int first_line, depth;
    const char *pos_at;             /* position cache for line/col */
    int pos_line;
    const char *pos_line_start;
};

/* ---- arena ----------------------------------------------------------- */

static void *arena_alloc(mgv_pydoc *d, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    for (;;) {
        block *b = d->cur;
        if (b && b->cap - b->used >= size) {
            void *r = b->data + b->used;
            b->used += size;
            return r;
        }
        if (b && b->next) {         /* rewound block from an earlier parse */
            d->cur = b->next;
            d->cur->used = 0;
            continue;
        }
        size_t cap = size > BLOCK_MIN ? size : BLOCK_MIN;
        block *nb = malloc(sizeof(block) + cap);
        if (!nb) return NULL;
        nb->next = NULL;
        nb->cap = cap;
        nb->used = 0;
        if (b) b->next = nb;
        else d->head = nb;
        d->cur = nb;
    }
}

mgv_pydoc *mgv_pydoc_new(void)
{
    mgv_pydoc *d = calloc(1, sizeof *d);
    if (!d) return mgv_fail_null("pyliteral: out of memory");
    return d;
}

void mgv_pydoc_free(mgv_pydoc *d)
{
    if (!d) return;
    for (block *b = d->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(d->stack);
    free(d->sbuf);
    free(d);
}

/* ---- positions and errors ------------------------------------------- */

/* Line and column of `at`; scans forward from the last answer when it can. */
static void where(mgv_pydoc *d, const char *at, int *line, int *col)
{
    if (at < d->pos_at) {
        d->pos_at = d->src;
        d->pos_line = d->first_line;
        d->pos_line_start = d->src;
    }
    for (const char *q = d->pos_at; q < at; q++)
        if (*q == '\n') {
            d->pos_line++;
            d->pos_line_start = q + 1;
        }
    d->pos_at = at;
    *line = d->pos_line;
    *col = (int)(at - d->pos_line_start) + 1;
}

static void *fail_at(mgv_pydoc *d, const char *at, const char *fmt, ...) MGV_PRINTF(3, 4);
static void *fail_at(mgv_pydoc *d, const char *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    where(d, at, &line, &col);
    return mgv_fail_null("%s:%d:%d: %s", d->file, line, col, msg);
}

/* Describes the byte at p for a message: 'x', end of input, or byte 0xNN. */
static const char *describe(const mgv_pydoc *d, const char *p, char *buf, size_t n)
{
    if (p >= d->end) return "end of input";
    unsigned char c = (unsigned char)*p;
    if (c >= 0x21 && c < 0x7f) snprintf(buf, n, "'%c'", c);
    else if (c == '\n') return "end of line";
    else snprintf(buf, n, "byte 0x%02x", c);
    return buf;
}

static mgv_py *new_node(mgv_pydoc *d, mgv_py_type t, const char *at)
{
    mgv_py *v = arena_alloc(d, sizeof *v);
    if (!v) return mgv_fail_null("pyliteral: out of memory");
    memset(v, 0, sizeof *v);
    v->type = t;
    where(d, at, &v->line, &v->col);
    return v;
}

static int push(mgv_pydoc *d, mgv_py *v)
{
    if (d->nstack == d->capstack) {
        size_t cap = d->capstack ? 2 * d->capstack : 256;
        mgv_py **s = realloc(d->stack, cap * sizeof *s);
        if (!s) return mgv_fail("pyliteral: out of memory");
        d->stack = s;
        d->capstack = cap;
    }
    d->stack[d->nstack++] = v;
    return 0;
}

/* Moves stack[base..] into an arena array and pops them. */
static mgv_py **pop_to_array(mgv_pydoc *d, size_t base, size_t *n)
{
    *n = d->nstack - base;
    mgv_py **a = arena_alloc(d, (*n ? *n : 1) * sizeof *a);
    if (!a) return mgv_fail_null("pyliteral: out of memory");
    if (*n) memcpy(a, d->stack + base, *n * sizeof *a);
    d->nstack = base;
    return a;
}

/* ---- lexing helpers -------------------------------------------------- */

static void skip_ws(mgv_pydoc *d)
{
    const char *p = d->p, *e = d->end;
    while (p < e) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') p++;
        else if (c == '#') {
            while (p < e && *p != '\n') p++;
        } else if (c == '\\' && p + 1 < e && p[1] == '\n') p += 2;
        else if (c == '\\' && p + 2 < e && p[1] == '\r' && p[2] == '\n') p += 3;
        else break;
    }
    d->p = p;
}

static int is_ident(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int sbuf_reserve(mgv_pydoc *d, size_t extra)
{
    if (d->slen + extra <= d->scap) return 0;
    size_t cap = d->scap ? d->scap : 256;
    while (cap < d->slen + extra) cap *= 2;
    char *s = realloc(d->sbuf, cap);
    if (!s) return mgv_fail("pyliteral: out of memory");
    d->sbuf = s;
    d->scap = cap;
    return 0;
}

static int put_bytes(mgv_pydoc *d, const char *s, size_t n)
{
    if (sbuf_reserve(d, n)) return -1;
    memcpy(d->sbuf + d->slen, s, n);
    d->slen += n;
    return 0;
}

static int put_code_point(mgv_pydoc *d, uint32_t cp)
{
    unsigned char b[4];
    int n = mgv_utf8_encode(cp, b);
    return put_bytes(d, (const char *)b, (size_t)n);
}

/* Reads exactly n hex digits at p into *out; 0 on success. */
static int read_hex(const char *p, const char *e, int n, uint32_t *out)
{
    uint32_t v = 0;
    if (e - p < n) return -1;
    for (int i = 0; i < n; i++) {
        int h = mgv_hex_digit((unsigned char)p[i]);
        if (h < 0) return -1;
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return 0;
}

/* ---- values ---------------------------------------------------------- */

static mgv_py *parse_value(mgv_pydoc *d);

static int string_start(const mgv_pydoc *d, const char *p, int *raw, int *bad_prefix)
{
    const char *e = d->end;
    *raw = 0;
    *bad_prefix = 0;
    if (p < e && (*p == '\'' || *p == '"')) return 1;
    int np = 0;
    while (np < 2 && p + np < e && p[np] && strchr("uUrRbBfF", p[np])) np++;
    if (np == 0 || p + np >= e || (p[np] != '\'' && p[np] != '"')) return 0;
    /* str prefixes are u and r; two letters (rb, fr, ...) are never a plain str */
    if (np == 2 || !strchr("uUrR", p[0])) *bad_prefix = 1;
    *raw = p[0] == 'r' || p[0] == 'R';
    return 1;
}

/* One quoted piece at d->p (after its prefix), decoded onto sbuf. */
static int string_piece(mgv_pydoc *d, int raw)
{
    const char *start = d->p, *p = d->p, *e = d->end;
    char q = *p;
    int triple = e - p >= 3 && p[1] == q && p[2] == q;
    p += triple ? 3 : 1;
    for (;;) {
        if (p >= e) {
            fail_at(d, start, "unterminated string");
            return -1;
        }
        unsigned char c = (unsigned char)*p;
        if (c == (unsigned char)q && (!triple || (e - p >= 3 && p[1] == q && p[2] == q))) {
            p += triple ? 3 : 1;
            break;
        }
        if (c == '\n' && !triple) {
            fail_at(d, start, "unterminated string (end of line inside quotes)");
            return -1;
        }
        if (c >= 0x80) {
            int n = mgv_utf8_seq((const unsigned char *)p, (const unsigned char *)e);
            if (!n) {
                fail_at(d, p, "invalid UTF-8 byte 0x%02x in string", c);
                return -1;
            }
            if (put_bytes(d, p, (size_t)n)) return -1;
            p += n;
            continue;
        }
        if (c != '\\') {
            if (put_bytes(d, p, 1)) return -1;
            p++;
            continue;
        }
        if (p + 1 >= e) {
            fail_at(d, start, "unterminated string");
            return -1;
        }
        char x = p[1];
        if (raw) {      /* a backslash only keeps the next quote from ending it */
            if ((unsigned char)x >= 0x80 || x == '\n') {
                if (put_bytes(d, p, 1)) return -1;
                p++;
            } else {
                if (put_bytes(d, p, 2)) return -1;
                p += 2;
            }
            continue;
        }
        const char *esc = p;
        uint32_t cp;
        char one = 0;
        switch (x) {
        case '\n': p += 2; continue;
        case '\r': p += (p + 2 < e && p[2] == '\n') ? 3 : 2; continue;
        case '\\': case '\'': case '"': one = x; break;
        case 'a': one = '\a'; break;
        case 'b': one = '\b'; break;
        case 'f': one = '\f'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'v': one = '\v'; break;
        case 'x':
            if (read_hex(p + 2, e, 2, &cp)) {
                fail_at(d, esc, "truncated \\xXX escape");
                return -1;
            }
            if (put_code_point(d, cp)) return -1;
            p += 4;
            continue;
        case 'u':
        case 'U': {
            int n = x == 'u' ? 4 : 8;
            if (read_hex(p + 2, e, n, &cp)) {
                fail_at(d, esc, "truncated \\%c escape", x);
                return -1;
            }
            p += 2 + n;
            if (cp > 0x10ffff) {
                fail_at(d, esc, "\\U escape beyond U+10FFFF");
                return -1;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {     /* pair with a following low surrogate */
                uint32_t lo;
                if (e - p >= 6 && p[0] == '\\' && p[1] == 'u' && !read_hex(p + 2, e, 4, &lo) &&
                    lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                } else {
                    fail_at(d, esc, "lone surrogate \\u%04x", (unsigned)cp);
                    return -1;
                }
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                fail_at(d, esc, "lone surrogate \\u%04x", (unsigned)cp);
                return -1;
            }
            if (put_code_point(d, cp)) return -1;
            continue;
        }
        case 'N':
            fail_at(d, esc, "\\N{...} escapes are not supported");
            return -1;
        default:
            if (x >= '0' && x <= '7') {
                cp = 0;
                int k = 1;
                while (k <= 3 && p + k < e && p[k] >= '0' && p[k] <= '7') {
                    cp = cp * 8 + (uint32_t)(p[k] - '0');
                    k++;
                }
                if (put_code_point(d, cp)) return -1;
                p += k;
                continue;
            }
            /* unknown escape: Python keeps the backslash; the next char is read normally */
            if (put_bytes(d, p, 1)) return -1;
            p++;
            continue;
        }
        if (put_bytes(d, &one, 1)) return -1;
        p += 2;
    }
    d->p = p;
    return 0;
}

static mgv_py *parse_string(mgv_pydoc *d)
{
    const char *start = d->p;
    d->slen = 0;
    for (;;) {
        int raw, bad;
        if (!string_start(d, d->p, &raw, &bad)) break;
        if (bad) return fail_at(d, d->p, "only str literals are supported (prefix u or r)");
        while (*d->p != '\'' && *d->p != '"') d->p++;
        if (string_piece(d, raw)) return NULL;
        skip_ws(d);     /* adjacent literals concatenate: 'a' 'b' */
    }
    mgv_py *v = new_node(d, MGV_PY_STR, start);
    if (!v) return NULL;
    char *s = arena_alloc(d, d->slen + 1);
    if (!s) return mgv_fail_null("pyliteral: out of memory");
    if (d->slen) memcpy(s, d->sbuf, d->slen);
    s[d->slen] = '\0';
    v->v.str.s = s;
    v->v.str.len = d->slen;
    return v;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* Digits of base `base` with single underscores between them; returns the
 * end, or NULL (message set) on a misplaced underscore. */
static const char *scan_digits(mgv_pydoc *d, const char *p, int base)
{
    const char *e = d->end;
    int prev_digit = 0;
    while (p < e) {
        int c = (unsigned char)*p, h = mgv_hex_digit(c);
        if (h >= 0 && h < base && !(base <= 10 && (c < '0' || c > '9'))) {
            prev_digit = 1;
            p++;
        } else if (c == '_') {
            if (!prev_digit || p + 1 >= e || mgv_hex_digit((unsigned char)p[1]) < 0 ||
                mgv_hex_digit((unsigned char)p[1]) >= base)
                return fail_at(d, p, "invalid number (misplaced '_')");
            prev_digit = 0;
            p++;
        } else break;
    }
    return p;
}

static mgv_py *parse_number(mgv_pydoc *d)
{
    const char *start = d->p, *e = d->end;
    int neg = 0;
    if (*d->p == '-' || *d->p == '+') {
        neg = *d->p == '-';
        d->p++;
        skip_ws(d);
        char buf[16];
        if (d->p >= e || !((*d->p >= '0' && *d->p <= '9') || *d->p == '.'))
            return fail_at(d, d->p, "expected a number after '%c', found %s", *start,
                           describe(d, d->p, buf, sizeof buf));
    }
    const char *num = d->p, *p = d->p;
    int base = 10, is_float = 0;
    if (p + 1 < e && p[0] == '0' && strchr("xXoObB", p[1]) && p[1]) {
        base = (p[1] == 'x' || p[1] == 'X') ? 16 : (p[1] == 'o' || p[1] == 'O') ? 8 : 2;
        p += 2;
        if (p < e && *p == '_') p++;    /* 0x_ff is allowed */
        const char *q = scan_digits(d, p, base);
        if (!q) return NULL;
        if (q == p) return fail_at(d, num, "invalid number (no digits after the base prefix)");
        p = q;
    } else {
        const char *q = scan_digits(d, p, 10);
        if (!q) return NULL;
        int int_digits = q != p;
        p = q;
        if (p < e && *p == '.') {
            is_float = 1;
            p++;
            q = scan_digits(d, p, 10);
            if (!q) return NULL;
            if (!int_digits && q == p) return fail_at(d, num, "invalid number");
            p = q;
        }
        if (p < e && (*p == 'e' || *p == 'E')) {
            const char *x = p + 1;
            if (x < e && (*x == '+' || *x == '-')) x++;
            q = scan_digits(d, x, 10);
            if (!q) return NULL;
            if (q == x) return fail_at(d, p, "invalid number (exponent without digits)");
            is_float = 1;
            p = q;
        }
        if (!is_float && num[0] == '0')
            for (const char *z = num; z < p; z++)
                if (*z != '0' && *z != '_')
                    return fail_at(d, num, "leading zeros in an integer are not allowed");
    }
    if (p < e && (*p == 'j' || *p == 'J'))
        return fail_at(d, num, "complex numbers are not supported");
    if (p < e && (is_ident((unsigned char)*p) || *p == '.'))
        return fail_at(d, num, "invalid number");
    d->p = p;
    if (is_float) {
        char buf[512];
        size_t n = 0;
        for (const char *z = num; z < p; z++) {
            if (*z == '_') continue;
            if (n + 2 >= sizeof buf) return fail_at(d, num, "number too long");
            buf[n++] = *z;
        }
        buf[n] = '\0';
        pthread_once(&c_locale_once, make_c_locale);
        double x = c_locale ? strtod_l(buf, NULL, c_locale) : strtod(buf, NULL);
        mgv_py *v = new_node(d, MGV_PY_FLOAT, start);
        if (v) v->v.number = neg ? -x : x;
        return v;
    }
    uint64_t acc = 0;
    const char *z = num + (base == 10 ? 0 : 2);
    for (; z < p; z++) {
        if (*z == '_') continue;
        uint64_t h = (uint64_t)mgv_hex_digit((unsigned char)*z);
        if (acc > (UINT64_MAX - h) / (uint64_t)base)
            return fail_at(d, num, "integer does not fit in 64 bits");
        acc = acc * (uint64_t)base + h;
    }
    if (acc > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return fail_at(d, num, "integer does not fit in 64 bits");
    mgv_py *v = new_node(d, MGV_PY_INT, start);
    if (v) v->v.integer = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return v;
}

/* [a, b, ...] and (a, b, ...); `first` is a tuple's already parsed item. */
static mgv_py *parse_seq(mgv_pydoc *d, mgv_py *v, char close, mgv_py *first)
{
    size_t base = d->nstack;
    if (first && push(d, first)) return NULL;
    for (;;) {
        skip_ws(d);
        if (d->p < d->end && *d->p == close) {
            d->p++;
            break;
        }
        if (d->nstack > base) {     /* after an item: ',' then maybe the close */
            char buf[16];
            if (d->p >= d->end || *d->p != ',') {
                d->nstack = base;
                return fail_at(d, d->p, "expected ',' or '%c', found %s", close,
                               describe(d, d->p, buf, sizeof buf));
            }
            d->p++;
            skip_ws(d);
            if (d->p < d->end && *d->p == close) {
                d->p++;
                break;
            }
        }
        mgv_py *item = parse_value(d);
        if (!item || push(d, item)) {
            d->nstack = base;
            return NULL;
        }
    }
    v->v.seq.items = pop_to_array(d, base, &v->v.seq.n);
    return v->v.seq.items ? v : NULL;
}

static mgv_py *parse_dict(mgv_pydoc *d, mgv_py *v, const char *start)
{
    size_t base = d->nstack;
    char buf[16];
    for (;;) {
        skip_ws(d);
        if (d->p < d->end && *d->p == '}') {
            d->p++;
            break;
        }
        if (d->nstack > base) {
            if (d->p >= d->end || *d->p != ',') {
                d->nstack = base;
                return fail_at(d, d->p, "expected ',' or '}', found %s",
                               describe(d, d->p, buf, sizeof buf));
            }
            d->p++;
            skip_ws(d);
            if (d->p < d->end && *d->p == '}') {
                d->p++;
                break;
            }
        }
        mgv_py *k = parse_value(d);
        if (!k) goto fail;
        if (k->type == MGV_PY_LIST || k->type == MGV_PY_DICT) {
            fail_at(d, start, "unhashable dict key (%s) at line %d col %d",
                    mgv_py_type_name(k->type), k->line, k->col);
            goto fail;
        }
        skip_ws(d);
        if (d->p >= d->end || *d->p != ':') {
            if (d->p < d->end && (*d->p == ',' || *d->p == '}') && d->nstack == base)
                fail_at(d, start, "set literals are not supported");
            else
                fail_at(d, d->p, "expected ':' after a dict key, found %s",
                        describe(d, d->p, buf, sizeof buf));
            goto fail;
        }
        d->p++;
        skip_ws(d);
        mgv_py *val = parse_value(d);
        if (!val || push(d, k) || push(d, val)) goto fail;
    }
    {
        size_t n = (d->nstack - base) / 2;
        mgv_py **keys = arena_alloc(d, (n ? n : 1) * sizeof *keys);
        mgv_py **vals = arena_alloc(d, (n ? n : 1) * sizeof *vals);
        if (!keys || !vals) {
            mgv_fail("pyliteral: out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            keys[i] = d->stack[base + 2 * i];
            vals[i] = d->stack[base + 2 * i + 1];
        }
        d->nstack = base;
        v->v.dict.keys = keys;
        v->v.dict.values = vals;
        v->v.dict.n = n;
        return v;
    }
fail:
    d->nstack = base;
    return NULL;
}

static mgv_py *parse_value(mgv_pydoc *d)
{
    skip_ws(d);
    const char *p = d->p, *e = d->end;
    char buf[16];
    if (p >= e) return fail_at(d, p, "unexpected end of input, expected a value");
    char c = *p;
    if (c == '[' || c == '(' || c == '{') {
        if (d->depth >= MAX_DEPTH) return fail_at(d, p, "nesting deeper than %d", MAX_DEPTH);
        d->depth++;
        d->p++;
        /* the node is made first so that positions are asked for in order */
        mgv_py *v = new_node(d, c == '[' ? MGV_PY_LIST : c == '{' ? MGV_PY_DICT : MGV_PY_TUPLE, p);
        if (!v) {
            /* out of memory: message set */
        } else if (c == '[') v = parse_seq(d, v, ']', NULL);
        else if (c == '{') v = parse_dict(d, v, p);
        else {
            mgv_py *tuple = v;
            skip_ws(d);
            if (d->p < e && *d->p == ')') {     /* () */
                d->p++;
            } else {
                mgv_py *first = parse_value(d);
                v = NULL;
                if (first) {
                    skip_ws(d);
                    if (d->p < e && *d->p == ')') {     /* (x) is just x */
                        d->p++;
                        v = first;
                    } else if (d->p < e && *d->p == ',') {     /* a tuple: (x,) (x, y) */
                        v = parse_seq(d, tuple, ')', first);
                    } else {
                        v = fail_at(d, d->p, "expected ',' or ')', found %s",
                                    describe(d, d->p, buf, sizeof buf));
                    }
                }
            }
        }
        d->depth--;
        return v;
    }
    int raw, bad;
    if (string_start(d, p, &raw, &bad)) return parse_string(d);
    if ((c >= '0' && c <= '9') || c == '-' || c == '+' ||
        (c == '.' && p + 1 < e && p[1] >= '0' && p[1] <= '9'))
        return parse_number(d);
    if (is_ident((unsigned char)c)) {
        const char *q = p;
        while (q < e && is_ident((unsigned char)*q)) q++;
        size_t n = (size_t)(q - p);
        mgv_py *v = NULL;
        if (n == 4 && !memcmp(p, "None", 4)) v = new_node(d, MGV_PY_NONE, p);
        else if (n == 4 && !memcmp(p, "True", 4)) {
            if ((v = new_node(d, MGV_PY_BOOL, p))) v->v.boolean = 1;
        } else if (n == 5 && !memcmp(p, "False", 5)) {
            if ((v = new_node(d, MGV_PY_BOOL, p))) v->v.boolean = 0;
        } else {
            return fail_at(d, p, "unexpected name '%.*s' (only literals are allowed)",
                           n > 40 ? 40 : (int)n, p);
        }
        d->p = q;
        return v;
    }
    return fail_at(d, p, "unexpected %s, expected a value", describe(d, p, buf, sizeof buf));
}

const mgv_py *mgv_py_parse(mgv_pydoc *d, const char *src, size_t len, const char *file,
                           int first_line)
{
    if (!d) return mgv_fail_null("pyliteral: no document");
    for (block *b = d->head; b; b = b->next) b->used = 0;
    d->cur = d->head;
    d->nstack = 0;
    d->src = d->p = src ? src : "";
    d->end = d->src + (src ? len : 0);
    d->file = file ? file : "<string>";
    d->first_line = first_line;
    d->depth = 0;
    d->pos_at = d->src;
    d->pos_line = first_line;
    d->pos_line_start = d->src;
    mgv_py *v = parse_value(d);
    if (!v) return NULL;
    skip_ws(d);
    if (d->p < d->end && *d->p == ',') {    /* a bare tuple: 1, 2 */
        mgv_py *t = new_node(d, MGV_PY_TUPLE, d->p);    /* line/col set below */
        if (!t || push(d, v)) return NULL;
        while (d->p < d->end && *d->p == ',') {
            d->p++;
            skip_ws(d);
            if (d->p >= d->end) break;
            mgv_py *item = parse_value(d);
            if (!item || push(d, item)) return NULL;
            skip_ws(d);
        }
        t->line = v->line;
        t->col = v->col;
        t->v.seq.items = pop_to_array(d, 0, &t->v.seq.n);
        if (!t->v.seq.items) return NULL;
        v = t;
    }
    if (d->p < d->end) {
        char buf[16];
        return fail_at(d, d->p, "unexpected %s after the value",
                       describe(d, d->p, buf, sizeof buf));
    }
    return v;
}

const mgv_py *mgv_py_get(const mgv_py *dict, const char *key)
{
    if (!dict || dict->type != MGV_PY_DICT || !key) return NULL;
    size_t kl = strlen(key);
    for (size_t i = dict->v.dict.n; i-- > 0;) {
        const mgv_py *k = dict->v.dict.keys[i];
        if (k->type == MGV_PY_STR && k->v.str.len == kl && !memcmp(k->v.str.s, key, kl))
            return dict->v.dict.values[i];
    }
    return NULL;
}

const char *mgv_py_type_name(mgv_py_type t)
{
    static const char *names[] = {"None", "bool", "int", "float", "str", "list", "tuple", "dict"};
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}
