/*
 * textnorm.c — token normalisation for GloVe lookups (see textnorm.h).
 * Every step works on a bounded copy of the token; tokens longer than the
 * work buffer cannot be in the vocabulary anyway (its longest word is far
 * shorter) and are unknown.
 */
#include "data/textnorm.h"

#include <string.h>
#include <strings.h>

#define WORK 512

size_t mgv_textnorm_lower(const char *tok, size_t len, char *out, size_t cap)
{
    if (cap == 0) return 0;
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        char c = tok[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
    return n;
}

int mgv_textnorm_is_url(const char *tok)
{
    return tok && (!strncasecmp(tok, "http://", 7) || !strncasecmp(tok, "https://", 8) ||
                   !strncasecmp(tok, "www.", 4));
}

static int is_punct(unsigned char c)
{
    return c < 0x80 && c > 0x20 && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
           !(c >= 'A' && c <= 'Z');
}

/* Replaces ’ ‘ (E2 80 98/99) by ' and “ ” (E2 80 9C/9D) by " in place;
 * returns the new length and whether anything changed. */
static size_t ascii_quotes(char *s, size_t n, int *changed)
{
    size_t o = 0;
    *changed = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)s[i];
        if (a == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80) {
            unsigned char b = (unsigned char)s[i + 2];
            if (b == 0x98 || b == 0x99 || b == 0x9c || b == 0x9d) {
                s[o++] = (b == 0x98 || b == 0x99) ? '\'' : '"';
                i += 2;
                *changed = 1;
                continue;
            }
        }
        s[o++] = s[i];
    }
    s[o] = '\0';
    return o;
}

/* Shortens runs of >= 3 equal ASCII letters or punctuation marks to `keep`. */
static size_t squeeze(const char *s, size_t n, char *out, int keep)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j] == s[i]) j++;
        size_t run = j - i;
        int letter = (s[i] >= 'a' && s[i] <= 'z') || is_punct((unsigned char)s[i]);
        size_t take = (letter && run >= 3) ? (size_t)keep : run;
        for (size_t k = 0; k < take; k++) out[o++] = s[i];
        i = j;
    }
    out[o] = '\0';
    return o;
}

int64_t mgv_textnorm_row(const mgv_glove *g, const char *tok)
{
    if (!g || !tok || !*tok) return -1;
    size_t len = strlen(tok);
    if (len >= WORK) return -1;
    if (mgv_textnorm_is_url(tok)) return -1;
    char w[WORK], t[WORK];
    size_t n = mgv_textnorm_lower(tok, len, w, sizeof w);
    int64_t row = mgv_glove_lookup(g, w, n);                    /* 1 */
    if (row >= 0) return row;
    const char *s = w;
    if (*s == '@' || *s == '#') {                               /* 2 */
        while (*s == '@' || *s == '#') s++;
        if (!*s) return -1;
        n -= (size_t)(s - w);
        memmove(w, s, n + 1);
        if ((row = mgv_glove_lookup(g, w, n)) >= 0) return row;
    }
    int changed;
    n = ascii_quotes(w, n, &changed);                           /* 3 */
    if (changed && (row = mgv_glove_lookup(g, w, n)) >= 0) return row;
    size_t b = 0, e = n;                                        /* 4 */
    while (b < e && is_punct((unsigned char)w[b])) b++;
    while (e > b && is_punct((unsigned char)w[e - 1])) e--;
    if (b < e && (b > 0 || e < n)) {
        n = e - b;
        memmove(w, w + b, n);
        w[n] = '\0';
        if ((row = mgv_glove_lookup(g, w, n)) >= 0) return row;
    }
    for (int keep = 2; keep >= 1; keep--) {                     /* 5 */
        size_t m = squeeze(w, n, t, keep);
        if (m != n && (row = mgv_glove_lookup(g, t, m)) >= 0) return row;
    }
    return -1;
}

int64_t mgv_textnorm_rows(const mgv_glove *g, const char *const *tok, int64_t n, int64_t *rows)
{
    int64_t found = 0;
    for (int64_t i = 0; i < n; i++) {
        rows[i] = mgv_textnorm_row(g, tok[i]);
        found += rows[i] >= 0;
    }
    return found;
}
