/*
 * textnorm.h — from a raw token (MNRE tweets, WikiDiverse captions) to a row
 * of the GloVe vectors.
 *
 * GloVe 6B is lowercased and has no Twitter handles or hashtags, so a token
 * is tried in this order, the first hit wins:
 *   1. the token ASCII-lowercased (other UTF-8 bytes kept as they are);
 *   2. '@user' / '#tag': without the leading run of '@' and '#';
 *   3. typographic quotes mapped to ASCII (’ ‘ -> ', “ ” -> ");
 *   4. leading and trailing ASCII punctuation stripped ("nadal!!" -> "nadal"),
 *      unless the token is nothing but punctuation;
 *   5. runs of 3 or more equal letters or punctuation marks shortened to 2,
 *      then to 1 ("sooooo" -> "soo" -> "so", "....." -> "..", ".").
 * URLs (http://, https://, www.) are unknown (-1): GloVe has no URL token.
 * Camel-case hashtags (#WorldCup) are not split: they map to one row or none.
 * Note: the wink package drops stopwords and plain numbers ("a", "i", "'s",
 * "2011" are not in it), so those tokens are unknown too; what an unknown
 * token gets (a learned vector, zeros) is the caller's choice.
 */
#ifndef MGV_TEXTNORM_H
#define MGV_TEXTNORM_H

#include <stddef.h>
#include <stdint.h>

#include "formats/glove.h"

/* ASCII-lowercases tok[0..len) into out (at most cap-1 bytes, NUL-terminated);
 * returns the length written. */
size_t mgv_textnorm_lower(const char *tok, size_t len, char *out, size_t cap);

/* 1 when the token looks like a URL. */
int mgv_textnorm_is_url(const char *tok);

/* Row of tok in g following the steps above, or -1 when unknown. */
int64_t mgv_textnorm_row(const mgv_glove *g, const char *tok);

/* Rows of n tokens into rows[]; returns how many were found. */
int64_t mgv_textnorm_rows(const mgv_glove *g, const char *const *tok, int64_t n, int64_t *rows);

#endif
