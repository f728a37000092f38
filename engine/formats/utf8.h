/*
 * utf8.h — the small UTF-8 and hex-digit rules the text parsers share
 * (the GloVe JSON reader and the Python literal parser).
 *
 * Validation is strict: no overlong forms, no surrogates (U+D800..U+DFFF),
 * nothing above U+10FFFF.
 */
#ifndef MGV_UTF8_H
#define MGV_UTF8_H

#include <stdint.h>

/*
 * Bytes in the sequence lead byte c starts (1 for ASCII, 2..4), or 0 when c
 * cannot start one. For a multi-byte lead, the second byte must lie in
 * [*lo, *hi]; every later byte in [0x80, 0xbf].
 */
int mgv_utf8_lead(unsigned c, unsigned *lo, unsigned *hi);
/* Length of the valid sequence at p (e is the end of the text), 0 when it
 * is invalid or cut off. */
int mgv_utf8_seq(const unsigned char *p, const unsigned char *e);
/* Encodes code point cp (at most 0x10FFFF) into out; returns the byte count. */
int mgv_utf8_encode(uint32_t cp, unsigned char out[4]);
/* The value of hex digit c (0-9, a-f, A-F), or -1. */
int mgv_hex_digit(int c);

#endif
