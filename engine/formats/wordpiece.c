/*
 * wordpiece.c — BERT's WordPiece tokenizer (see wordpiece.h).
 *
 * Text is decoded to code points once; every step (cleaning, NFC, lower-
 * casing, accent stripping, punctuation split) works on code point arrays,
 * and only the final pieces are encoded back to UTF-8 for the vocabulary
 * look-up (an open-addressing hash table over the entries' bytes).
 */
#include "formats/wordpiece.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"
#include "core/fileio.h"
#include "formats/utf8.h"
#include "formats/wordpiece_tables.h"

struct mgv_wordpiece {
    mgv_wordpiece_config cfg;
    int n;                  /* ids 0 .. n-1 */
    char **tokens;          /* id -> entry (owned) */
    int32_t *slots;         /* hash table of ids, -1 = empty */
    size_t mask;            /* table size - 1 (a power of two) */
    mgv_wordpiece_specials sp;
};

/* ---- id lists ------------------------------------------------------------ */

void mgv_ids_free(mgv_ids *ids)
{
    free(ids->v);
    memset(ids, 0, sizeof *ids);
}

int mgv_ids_push(mgv_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        int cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = realloc(ids->v, sizeof(int32_t) * (size_t)cap);
        if (!v) return mgv_fail("wordpiece: out of memory");
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return 0;
}

/* ---- code point buffers ---------------------------------------------------- */

typedef struct {
    uint32_t *v;
    size_t n, cap;
} cpbuf;

static int cp_push(cpbuf *b, uint32_t c)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uint32_t *v = realloc(b->v, sizeof(uint32_t) * cap);
        if (!v) return mgv_fail("wordpiece: out of memory");
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = c;
    return 0;
}

/* UTF-8 → code points; an invalid byte reads as U+FFFD. */
static int decode_utf8(const char *text, size_t len, cpbuf *out)
{
    const unsigned char *p = (const unsigned char *)text, *e = p + len;
    out->n = 0;
    while (p < e) {
        int k = mgv_utf8_seq(p, e);
        uint32_t c;
        if (k == 0) {
            c = 0xFFFD;
            k = 1;
        } else if (k == 1) {
            c = p[0];
        } else if (k == 2) {
            c = ((uint32_t)(p[0] & 0x1f) << 6) | (p[1] & 0x3f);
        } else if (k == 3) {
            c = ((uint32_t)(p[0] & 0x0f) << 12) | ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
        } else {
            c = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3f) << 12) |
                ((uint32_t)(p[2] & 0x3f) << 6) | (p[3] & 0x3f);
        }
        if (cp_push(out, c) < 0) return -1;
        p += k;
    }
    return 0;
}

/* ---- Unicode properties ------------------------------------------------------ */

/* Index of the last run starting at or before c. */
static size_t run_of(const uint32_t *first, size_t n, uint32_t c)
{
    size_t lo = 0, hi = n;   /* first[lo] <= c < first[hi] */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (first[mid] <= c) lo = mid;
        else hi = mid;
    }
    return lo;
}

static unsigned uflags(uint32_t c)
{
    if (c >= 0x110000) return WP_CONTROL;
    return wp_flag_value[run_of(wp_flag_first, sizeof wp_flag_first / sizeof *wp_flag_first, c)];
}

static int ccc(uint32_t c)
{
    if (c < 0x300 || c >= 0x110000) return 0;
    return wp_ccc_value[run_of(wp_ccc_first, sizeof wp_ccc_first / sizeof *wp_ccc_first, c)];
}

static uint32_t lower1(uint32_t c)
{
    if (c < 128) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    size_t lo = 0, hi = sizeof wp_lower / sizeof *wp_lower;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (wp_lower[mid][0] == c) return wp_lower[mid][1];
        if (wp_lower[mid][0] < c) lo = mid + 1;
        else hi = mid;
    }
    return c;
}

static int is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Hangul syllables (algorithmic (de)composition). */
enum { SB = 0xAC00, LB = 0x1100, VB = 0x1161, TB = 0x11A7, LC = 19, VC = 21, TC = 28,
       NC = VC * TC, SC = LC * NC };

/* Appends the full canonical decomposition of c. */
static int decompose(uint32_t c, cpbuf *out)
{
    if (c >= SB && c < SB + SC) {
        uint32_t s = c - SB;
        if (cp_push(out, LB + s / NC) < 0 || cp_push(out, VB + (s % NC) / TC) < 0) return -1;
        if (s % TC && cp_push(out, TB + s % TC) < 0) return -1;
        return 0;
    }
    if (c >= 0xC0) {
        size_t lo = 0, hi = sizeof wp_decomp / sizeof *wp_decomp;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (wp_decomp[mid][0] == c) {
                for (uint32_t k = 0; k < wp_decomp[mid][2]; k++)
                    if (cp_push(out, wp_decomp_pool[wp_decomp[mid][1] + k]) < 0) return -1;
                return 0;
            }
            if (wp_decomp[mid][0] < c) lo = mid + 1;
            else hi = mid;
        }
    }
    return cp_push(out, c);
}

/* NFD of in[0..n) into out (cleared): decomposition, then the canonical
 * ordering of combining marks (a stable sort by class within each run of
 * non-starters). */
static int nfd(const uint32_t *in, size_t n, cpbuf *out)
{
    out->n = 0;
    for (size_t i = 0; i < n; i++)
        if (decompose(in[i], out) < 0) return -1;
    for (size_t i = 1; i < out->n; i++) {
        uint32_t c = out->v[i];
        int cc = ccc(c);
        if (cc == 0) continue;
        size_t j = i;
        while (j > 0 && ccc(out->v[j - 1]) > cc) {
            out->v[j] = out->v[j - 1];
            j--;
        }
        out->v[j] = c;
    }
    return 0;
}

/* The primary composite of a + b, or 0. */
static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a >= LB && a < LB + LC && b >= VB && b < VB + VC)
        return SB + ((a - LB) * VC + (b - VB)) * TC;
    if (a >= SB && a < SB + SC && (a - SB) % TC == 0 && b > TB && b < TB + TC)
        return a + (b - TB);
    size_t lo = 0, hi = sizeof wp_compose / sizeof *wp_compose;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *e = wp_compose[mid];
        if (e[0] == a && e[1] == b) return e[2];
        if (e[0] < a || (e[0] == a && e[1] < b)) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* Canonical composition in place (the input is in NFD). */
static void compose(cpbuf *b)
{
    if (b->n == 0) return;
    size_t w = 1;
    long starter = ccc(b->v[0]) == 0 ? 0 : -1;
    int last_cc = starter == 0 ? 0 : 256;
    for (size_t r = 1; r < b->n; r++) {
        uint32_t c = b->v[r];
        int cc = ccc(c);
        /* not blocked: adjacent to the starter, or every mark between has a lower class */
        if (starter >= 0 && ((size_t)starter == w - 1 || (last_cc != 0 && last_cc < cc))) {
            uint32_t p = compose_pair(b->v[starter], c);
            if (p) {
                b->v[starter] = p;
                continue;
            }
        }
        if (cc == 0) {
            starter = (long)w;
            last_cc = 0;
        } else {
            last_cc = cc;
        }
        b->v[w++] = c;
    }
    b->n = w;
}

/* ---- the vocabulary ------------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static int32_t lookup(const mgv_wordpiece *wp, const char *s, size_t n)
{
    size_t i = (size_t)hash_bytes(s, n) & wp->mask;
    for (;;) {
        int32_t id = wp->slots[i];
        if (id < 0) return -1;
        const char *t = wp->tokens[id];
        if (strlen(t) == n && memcmp(t, s, n) == 0) return id;
        i = (i + 1) & wp->mask;
    }
}

int32_t mgv_wordpiece_id(const mgv_wordpiece *wp, const char *token)
{
    return wp && token ? lookup(wp, token, strlen(token)) : -1;
}

const char *mgv_wordpiece_token(const mgv_wordpiece *wp, int32_t id)
{
    return wp && id >= 0 && id < wp->n ? wp->tokens[id] : NULL;
}

int mgv_wordpiece_vocab_size(const mgv_wordpiece *wp) { return wp ? wp->n : 0; }
const mgv_wordpiece_config *mgv_wordpiece_config_of(const mgv_wordpiece *wp) { return &wp->cfg; }
const mgv_wordpiece_specials *mgv_wordpiece_specials_of(const mgv_wordpiece *wp) { return &wp->sp; }

mgv_wordpiece_config mgv_wordpiece_default_config(int lowercase)
{
    mgv_wordpiece_config c = {lowercase ? 1 : 0, -1, 1, 1, 100};
    return c;
}

void mgv_wordpiece_free(mgv_wordpiece *wp)
{
    if (!wp) return;
    for (int i = 0; i < wp->n; i++) free(wp->tokens[i]);
    free(wp->tokens);
    free(wp->slots);
    free(wp);
}

/* Builds the table; takes ownership of tokens[0..n) (freed on failure). */
static mgv_wordpiece *build(int n, char **tokens, const mgv_wordpiece_config *cfg)
{
    mgv_wordpiece *wp = calloc(1, sizeof *wp);
    size_t cap = 16;
    while (cap < (size_t)n * 2 + 2) cap *= 2;
    if (wp) wp->slots = malloc(sizeof(int32_t) * cap);
    if (!wp || !wp->slots) {
        for (int i = 0; i < n; i++) free(tokens[i]);
        free(tokens);
        if (wp) free(wp);
        return mgv_fail_null("wordpiece: out of memory");
    }
    wp->cfg = cfg ? *cfg : mgv_wordpiece_default_config(0);
    if (wp->cfg.max_input_chars_per_word <= 0) wp->cfg.max_input_chars_per_word = 100;
    wp->n = n;
    wp->tokens = tokens;
    wp->mask = cap - 1;
    for (size_t i = 0; i < cap; i++) wp->slots[i] = -1;
    for (int id = 0; id < n; id++) {
        size_t len = strlen(tokens[id]);
        size_t i = (size_t)hash_bytes(tokens[id], len) & wp->mask;
        while (wp->slots[i] >= 0 && strcmp(tokens[wp->slots[i]], tokens[id]) != 0)
            i = (i + 1) & wp->mask;
        wp->slots[i] = id;   /* a repeated entry keeps its last id */
    }
    wp->sp.cls = mgv_wordpiece_id(wp, "[CLS]");
    wp->sp.sep = mgv_wordpiece_id(wp, "[SEP]");
    wp->sp.pad = mgv_wordpiece_id(wp, "[PAD]");
    wp->sp.unk = mgv_wordpiece_id(wp, "[UNK]");
    wp->sp.mask = mgv_wordpiece_id(wp, "[MASK]");
    for (int k = 0; k < 4; k++) {
        char name[32];
        snprintf(name, sizeof name, "[unused%d]", k + 1);
        wp->sp.marker[k] = mgv_wordpiece_id(wp, name);
    }
    return wp;
}

void mgv_wordpiece_set_lowercase(mgv_wordpiece *wp, int lowercase)
{
    wp->cfg.lowercase = lowercase != 0;
    wp->cfg.strip_accents = -1;   /* as lowercase, as HF's None */
}

int mgv_wordpiece_set_markers(mgv_wordpiece *wp, const int order[4])
{
    int32_t ids[4];
    for (int k = 0; k < 4; k++) {
        char name[32];
        if (order[k] < 1 || order[k] > 4)
            return mgv_fail("wordpiece: marker [unused%d] outside 1..4", order[k]);
        snprintf(name, sizeof name, "[unused%d]", order[k]);
        ids[k] = mgv_wordpiece_id(wp, name);
    }
    memcpy(wp->sp.marker, ids, sizeof ids);
    return 0;
}

mgv_wordpiece *mgv_wordpiece_from_tokens(int n, const char *const *tokens,
                                         const mgv_wordpiece_config *cfg)
{
    if (n < 1) return mgv_fail_null("wordpiece: empty vocabulary");
    char **t = calloc((size_t)n, sizeof(char *));
    if (!t) return mgv_fail_null("wordpiece: out of memory");
    for (int i = 0; i < n; i++)
        if (!(t[i] = strdup(tokens[i] ? tokens[i] : ""))) {
            for (int k = 0; k < i; k++) free(t[k]);
            free(t);
            return mgv_fail_null("wordpiece: out of memory");
        }
    return build(n, t, cfg);
}

mgv_wordpiece *mgv_wordpiece_load(const char *vocab_path, const mgv_wordpiece_config *cfg)
{
    size_t len;
    char *buf = mgv_read_file(vocab_path, &len, (int64_t)1 << 30, "wordpiece");
    if (!buf) return NULL;
    int n = 0, cap = 0;
    char **t = NULL;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && buf[j] != '\n') j++;
        size_t e = j;
        if (e > i && buf[e - 1] == '\r') e--;   /* CRLF files (HF would keep the \r) */
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            char **nt = realloc(t, sizeof(char *) * (size_t)cap);
            if (!nt) goto oom;
            t = nt;
        }
        if (!(t[n] = strndup(buf + i, e - i))) goto oom;
        n++;
        i = j + 1;
    }
    free(buf);
    if (n == 0) {
        free(t);
        return mgv_fail_null("wordpiece: %s: empty vocabulary", vocab_path);
    }
    return build(n, t, cfg);
oom:
    for (int k = 0; k < n; k++) free(t[k]);
    free(t);
    free(buf);
    return mgv_fail_null("wordpiece: out of memory");
}

mgv_wordpiece *mgv_wordpiece_load_dir(const char *dir)
{
    char path[4096];
    mgv_wordpiece_config cfg = mgv_wordpiece_default_config(0);
    int known = 0;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        json_error_t err;
        json_t *j = json_load_file(path, 0, &err);
        if (!j || !json_is_object(j)) {
            json_decref(j);
            return mgv_fail_null("wordpiece: %s: not a JSON object (line %d: %s)", path, err.line,
                                 err.text);
        }
        json_t *v = json_object_get(j, "do_lower_case");
        if (json_is_boolean(v)) {
            cfg.lowercase = json_is_true(v);
            known = 1;
        }
        v = json_object_get(j, "strip_accents");
        if (json_is_boolean(v)) cfg.strip_accents = json_is_true(v);
        v = json_object_get(j, "tokenize_chinese_chars");
        if (json_is_boolean(v)) cfg.chinese_chars = json_is_true(v);
        json_decref(j);
    }
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    mgv_wordpiece *wp = mgv_wordpiece_load(path, &cfg);
    if (!wp || known) return wp;
    /* no tokenizer_config.json: guess from the name, then from the entries */
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    int upper = 0;
    for (int i = 0; i < wp->n && !upper; i++) {
        const char *s = wp->tokens[i];
        if (s[0] == '[') continue;
        for (; *s; s++)
            if (*s >= 'A' && *s <= 'Z') {
                upper = 1;
                break;
            }
    }
    wp->cfg.lowercase = strstr(base, "uncased") != NULL || !upper;
    return wp;
}

/* ---- basic tokenisation ---------------------------------------------------------- */

typedef struct {
    const mgv_wordpiece *wp;
    /* a piece (code points) or a special token id (piece NULL) */
    int (*piece)(void *ud, const uint32_t *cps, size_t n, int32_t special_id);
    void *ud;
    cpbuf a, b, c;   /* scratch */
} pipeline;

static void pipeline_free(pipeline *p)
{
    free(p->a.v);
    free(p->b.v);
    free(p->c.v);
}

/* One whitespace-delimited word: lower-case / strip accents, then split
 * around punctuation, handing each piece on. */
static int basic_word(pipeline *p, const uint32_t *w, size_t n)
{
    const mgv_wordpiece_config *c = &p->wp->cfg;
    int strip = c->strip_accents == 1 || (c->strip_accents == -1 && c->lowercase);
    if (c->lowercase) {
        p->b.n = 0;
        for (size_t i = 0; i < n; i++) {
            int rc;
            if (w[i] == 0x130) rc = cp_push(&p->b, 'i') < 0 ? -1 : cp_push(&p->b, 0x307);
            else rc = cp_push(&p->b, lower1(w[i]));
            if (rc < 0) return -1;
        }
        w = p->b.v;
        n = p->b.n;
    }
    if (strip) {
        if (nfd(w, n, &p->c) < 0) return -1;
        size_t k = 0;
        for (size_t i = 0; i < p->c.n; i++)
            if (!(uflags(p->c.v[i]) & WP_MN)) p->c.v[k++] = p->c.v[i];
        p->c.n = k;
        w = p->c.v;
        n = p->c.n;
    }
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(uflags(w[i]) & WP_PUNCT)) continue;
        if (i > start && p->piece(p->ud, w + start, i - start, -1) < 0) return -1;
        if (p->piece(p->ud, w + i, 1, -1) < 0) return -1;
        start = i + 1;
    }
    if (n > start && p->piece(p->ud, w + start, n - start, -1) < 0) return -1;
    return 0;
}

/* A stretch of text without special tokens: clean, CJK spacing, NFC, split. */
static int basic_segment(pipeline *p, const uint32_t *in, size_t n)
{
    cpbuf *t = &p->a;
    t->n = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        unsigned f = uflags(c);
        if (c == 0 || c == 0xFFFD || (f & WP_CONTROL)) continue;
        int rc;
        if (f & WP_SPACE) rc = cp_push(t, ' ');
        else if (p->wp->cfg.chinese_chars && is_cjk(c))
            rc = (cp_push(t, ' ') < 0 || cp_push(t, c) < 0) ? -1 : cp_push(t, ' ');
        else rc = cp_push(t, c);
        if (rc < 0) return -1;
    }
    if (p->wp->cfg.nfc) {
        /* nfd into c, compose, and keep the result in a (swap buffers) */
        if (nfd(t->v, t->n, &p->c) < 0) return -1;
        compose(&p->c);
        cpbuf tmp = p->a;
        p->a = p->c;
        p->c = tmp;
        t = &p->a;
    }
    /* words: basic_word uses b and c as scratch, never a */
    size_t i = 0;
    while (i < t->n) {
        while (i < t->n && t->v[i] == ' ') i++;
        size_t j = i;
        while (j < t->n && t->v[j] != ' ') j++;
        if (j > i && basic_word(p, t->v + i, j - i) < 0) return -1;
        i = j;
    }
    return 0;
}

/* Length of the special token written at s (one in the vocabulary), or 0. */
static size_t special_at(const mgv_wordpiece *wp, const char *s, size_t left, int32_t *id)
{
    static const char *const fixed[] = {"[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"};
    for (size_t k = 0; k < sizeof fixed / sizeof *fixed; k++) {
        size_t n = strlen(fixed[k]);
        if (left >= n && memcmp(s, fixed[k], n) == 0 && (*id = lookup(wp, s, n)) >= 0) return n;
    }
    if (left >= 9 && memcmp(s, "[unused", 7) == 0 && isdigit((unsigned char)s[7])) {
        size_t n = 7;
        while (n < left && n < 16 && isdigit((unsigned char)s[n])) n++;
        if (n < left && s[n] == ']' && (*id = lookup(wp, s, n + 1)) >= 0) return n + 1;
    }
    return 0;
}

static int run_pipeline(pipeline *p, const char *text, size_t len)
{
    cpbuf seg = {0};
    int rc = 0;
    size_t i = 0, start = 0;
    while (i <= len && rc == 0) {
        int32_t id = -1;
        size_t k = i < len && text[i] == '[' ? special_at(p->wp, text + i, len - i, &id) : 0;
        if (k == 0 && i < len) {
            i++;
            continue;
        }
        if (i > start) {
            rc = decode_utf8(text + start, i - start, &seg);
            if (rc == 0) rc = basic_segment(p, seg.v, seg.n);
        }
        if (rc == 0 && k > 0) rc = p->piece(p->ud, NULL, 0, id);
        i += k ? k : 1;
        start = i;
    }
    free(seg.v);
    return rc;
}

/* ---- the basic pieces as strings ------------------------------------------------------ */

typedef struct {
    const mgv_wordpiece *wp;
    void (*emit)(const char *s, size_t n, void *ud);
    void *ud;
    char *buf;
    size_t cap;
} emit_ctx;

/* UTF-8 of cps[0..n) into *buf (grown as needed); byte offsets of each code
 * point into off when not NULL (off[n] = total). Returns the length or -1. */
static long to_utf8(const uint32_t *cps, size_t n, char **buf, size_t *cap, size_t *off)
{
    if (*cap < 4 * n + 4) {
        char *b = realloc(*buf, 4 * n + 4);
        if (!b) return mgv_fail("wordpiece: out of memory");
        *buf = b;
        *cap = 4 * n + 4;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (off) off[i] = k;
        k += (size_t)mgv_utf8_encode(cps[i], (unsigned char *)*buf + k);
    }
    if (off) off[n] = k;
    (*buf)[k] = 0;
    return (long)k;
}

static int emit_piece(void *ud, const uint32_t *cps, size_t n, int32_t special)
{
    emit_ctx *e = ud;
    if (!cps) {
        const char *t = mgv_wordpiece_token(e->wp, special);
        e->emit(t, strlen(t), e->ud);
        return 0;
    }
    long k = to_utf8(cps, n, &e->buf, &e->cap, NULL);
    if (k < 0) return -1;
    e->emit(e->buf, (size_t)k, e->ud);
    return 0;
}

int mgv_wordpiece_basic(const mgv_wordpiece *wp, const char *text, size_t len,
                        void (*emit)(const char *s, size_t n, void *ud), void *ud)
{
    if (!wp || (!text && len)) return mgv_fail("wordpiece: no tokenizer or text");
    emit_ctx e = {wp, emit, ud, NULL, 0};
    pipeline p = {wp, emit_piece, &e, {0}, {0}, {0}};
    int rc = run_pipeline(&p, text, len);
    pipeline_free(&p);
    free(e.buf);
    return rc;
}

/* ---- WordPiece ---------------------------------------------------------------------- */

typedef struct {
    const mgv_wordpiece *wp;
    mgv_ids *out;
    char *buf;        /* the piece's UTF-8 */
    size_t cap;
    char *scratch;    /* "##" + a continuation */
    size_t scratch_cap;
    size_t *off;      /* byte offsets of the code points */
    size_t off_cap;
} encode_ctx;

static int push_unk(encode_ctx *e)
{
    if (e->wp->sp.unk < 0)
        return mgv_fail("wordpiece: a word is not in the vocabulary and it has no [UNK]");
    return mgv_ids_push(e->out, e->wp->sp.unk);
}

/* Greedy longest-match-first over the piece's code points. */
static int encode_piece(void *ud, const uint32_t *cps, size_t n, int32_t special)
{
    encode_ctx *e = ud;
    if (!cps) return mgv_ids_push(e->out, special);
    if (n > (size_t)e->wp->cfg.max_input_chars_per_word) return push_unk(e);
    if (e->off_cap < n + 1) {
        size_t *o = realloc(e->off, sizeof(size_t) * (n + 1));
        if (!o) return mgv_fail("wordpiece: out of memory");
        e->off = o;
        e->off_cap = n + 1;
    }
    /* the piece's UTF-8 in buf[2..]; a continuation is looked up as "##" +
     * its bytes, copied to the front of scratch */
    long k = to_utf8(cps, n, &e->buf, &e->cap, e->off);
    if (k < 0) return -1;
    if (e->scratch_cap < (size_t)k + 3) {
        char *b = realloc(e->scratch, (size_t)k + 3);
        if (!b) return mgv_fail("wordpiece: out of memory");
        e->scratch = b;
        e->scratch_cap = (size_t)k + 3;
    }
    e->scratch[0] = e->scratch[1] = '#';
    int first_id = e->out->n;
    size_t start = 0;
    while (start < n) {
        int32_t found = -1;
        size_t end = n;
        for (; end > start; end--) {
            size_t b = e->off[start], len = e->off[end] - b;
            if (start == 0) {
                found = lookup(e->wp, e->buf, len);
            } else {
                memcpy(e->scratch + 2, e->buf + b, len);
                found = lookup(e->wp, e->scratch, len + 2);
            }
            if (found >= 0) break;
        }
        if (found < 0) {
            e->out->n = first_id;   /* the whole piece is unknown */
            return push_unk(e);
        }
        if (mgv_ids_push(e->out, found) < 0) return -1;
        start = end;
    }
    return 0;
}

int mgv_wordpiece_encode(const mgv_wordpiece *wp, const char *text, size_t len, mgv_ids *out)
{
    if (!wp || !out || (!text && len)) return mgv_fail("wordpiece: no tokenizer or text");
    encode_ctx e = {wp, out, NULL, 0, NULL, 0, NULL, 0};
    pipeline p = {wp, encode_piece, &e, {0}, {0}, {0}};
    int rc = run_pipeline(&p, text, len);
    pipeline_free(&p);
    free(e.buf);
    free(e.scratch);
    free(e.off);
    return rc;
}

/* ---- BERT input sequences ---------------------------------------------------------------- */

static int check_sequence_vocab(const mgv_wordpiece *wp, int n_spans, int max_len)
{
    if (!wp) return mgv_fail("wordpiece: no tokenizer");
    if (n_spans < 0 || n_spans > 2) return mgv_fail("wordpiece: %d entity spans (0..2)", n_spans);
    if (max_len < 8) return mgv_fail("wordpiece: max_len %d is too small (at least 8)", max_len);
    if (wp->sp.cls < 0 || wp->sp.sep < 0)
        return mgv_fail("wordpiece: the vocabulary has no [CLS] or [SEP]");
    for (int k = 0; k < 2 * n_spans; k++)
        if (wp->sp.marker[k] < 0)
            return mgv_fail("wordpiece: the vocabulary has no [unused%d] for the entity markers",
                            k + 1);
    return 0;
}

/* Markers closing at boundary t (in reverse span order) then opening there. */
static int markers_at(const mgv_wordpiece *wp, int64_t t, int n_spans, const int64_t *b,
                      const int64_t *e, mgv_ids *body, int64_t *pos)
{
    for (int s = n_spans - 1; s >= 0; s--)
        if (t == e[s] && mgv_ids_push(body, wp->sp.marker[2 * s + 1]) < 0) return -1;
    for (int s = 0; s < n_spans; s++)
        if (t == b[s]) {
            pos[s] = body->n;
            if (mgv_ids_push(body, wp->sp.marker[2 * s]) < 0) return -1;
        }
    return 0;
}

/* [CLS] window-of-body [SEP] into out; the window holds the markers. */
static int finish_sequence(const mgv_wordpiece *wp, const mgv_ids *body, int n_spans,
                           const int64_t *pos, int max_len, mgv_ids *out, int64_t *marker)
{
    int room = max_len - 2, start = 0, len = body->n;
    if (len > room) {
        int64_t lo = 0, hi = 0;
        if (n_spans > 0) {
            lo = hi = pos[0];
            for (int s = 1; s < n_spans; s++) {
                if (pos[s] < lo) lo = pos[s];
                if (pos[s] > hi) hi = pos[s];
            }
        }
        int64_t st = lo - (room - (hi - lo)) / 2;
        if (st > len - room) st = len - room;
        if (st < 0) st = 0;
        start = (int)st;
        len = room;
    }
    out->n = 0;
    if (mgv_ids_push(out, wp->sp.cls) < 0) return -1;
    for (int i = 0; i < len; i++)
        if (mgv_ids_push(out, body->v[start + i]) < 0) return -1;
    if (mgv_ids_push(out, wp->sp.sep) < 0) return -1;
    for (int s = 0; s < n_spans; s++) {
        int64_t p = pos[s] - start + 1;
        marker[s] = p >= 1 && p <= len ? p : 0;
    }
    return 0;
}

int mgv_wordpiece_sequence_words(const mgv_wordpiece *wp, int n_words, const char *const *words,
                                 int n_spans, const int *span_begin, const int *span_end,
                                 int max_len, mgv_ids *out, int64_t *marker)
{
    if (check_sequence_vocab(wp, n_spans, max_len) < 0) return -1;
    int64_t b[2], e[2], pos[2] = {0, 0};
    for (int s = 0; s < n_spans; s++) {
        b[s] = span_begin[s];
        e[s] = span_end[s];
        if (b[s] < 0 || b[s] >= e[s] || e[s] > n_words)
            return mgv_fail("wordpiece: span %d [%lld, %lld) is empty or outside the %d words",
                            s + 1, (long long)b[s], (long long)e[s], n_words);
    }
    mgv_ids body = {0};
    int rc = 0;
    for (int t = 0; t <= n_words && rc == 0; t++) {
        rc = markers_at(wp, t, n_spans, b, e, &body, pos);
        if (rc == 0 && t < n_words && words[t])
            rc = mgv_wordpiece_encode(wp, words[t], strlen(words[t]), &body);
    }
    if (rc == 0) rc = finish_sequence(wp, &body, n_spans, pos, max_len, out, marker);
    mgv_ids_free(&body);
    return rc;
}

int mgv_wordpiece_sequence_text(const mgv_wordpiece *wp, const char *text, size_t len,
                                int n_spans, const int64_t *span_begin, const int64_t *span_end,
                                int max_len, mgv_ids *out, int64_t *marker)
{
    if (check_sequence_vocab(wp, n_spans, max_len) < 0) return -1;
    if (!text && len) return mgv_fail("wordpiece: no text");
    int64_t cut[5], pos[2] = {0, 0};
    int nc = 0;
    for (int s = 0; s < n_spans; s++) {
        if (span_begin[s] < 0 || span_begin[s] >= span_end[s] || span_end[s] > (int64_t)len)
            return mgv_fail("wordpiece: span %d [%lld, %lld) is empty or outside the %zu bytes",
                            s + 1, (long long)span_begin[s], (long long)span_end[s], len);
        cut[nc++] = span_begin[s];
        cut[nc++] = span_end[s];
    }
    cut[nc++] = (int64_t)len;
    /* sort the boundaries (at most 5) */
    for (int i = 1; i < nc; i++)
        for (int j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
            int64_t t = cut[j];
            cut[j] = cut[j - 1];
            cut[j - 1] = t;
        }
    mgv_ids body = {0};
    int rc = markers_at(wp, 0, n_spans, span_begin, span_end, &body, pos);
    int64_t at = 0;
    for (int i = 0; i < nc && rc == 0; i++) {
        if (cut[i] == at) continue;
        rc = mgv_wordpiece_encode(wp, text + at, (size_t)(cut[i] - at), &body);
        at = cut[i];
        if (rc == 0) rc = markers_at(wp, at, n_spans, span_begin, span_end, &body, pos);
    }
    if (rc == 0) rc = finish_sequence(wp, &body, n_spans, pos, max_len, out, marker);
    mgv_ids_free(&body);
    return rc;
}
