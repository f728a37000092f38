/*
 * strpool.h — a pool of immutable strings copied into large chunks, freed
 * all at once (the loaders keep every name and token this way instead of
 * one malloc per string).
 */
#ifndef MGV_STRPOOL_H
#define MGV_STRPOOL_H

#include <stddef.h>

typedef struct mgv_strpool {
    struct mgv_strpool_chunk *chunks;   /* newest first; zero-initialise the pool */
} mgv_strpool;

/* A NUL-terminated copy of s[0..n) that lives as long as the pool; NULL with
 * the message "<who>: out of memory". */
char *mgv_strpool_copy(mgv_strpool *p, const char *s, size_t n, const char *who);
/* Frees every string of the pool; the pool is empty (and usable) afterwards. */
void mgv_strpool_free(mgv_strpool *p);

#endif
