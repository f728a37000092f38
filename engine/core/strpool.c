/* strpool.c — string pool in large chunks (see strpool.h). */
#include "core/strpool.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define CHUNK_MIN (256 * 1024)

struct mgv_strpool_chunk {
    struct mgv_strpool_chunk *next;
    size_t used, cap;
    char data[];
};

char *mgv_strpool_copy(mgv_strpool *p, const char *s, size_t n, const char *who)
{
    struct mgv_strpool_chunk *c = p->chunks;
    if (!c || c->cap - c->used < n + 1) {
        /* a string longer than a chunk gets a chunk of its own */
        size_t cap = n + 1 > CHUNK_MIN ? n + 1 : CHUNK_MIN;
        c = malloc(sizeof *c + cap);
        if (!c) return mgv_fail_null("%s: out of memory", who);
        c->next = p->chunks;
        c->used = 0;
        c->cap = cap;
        p->chunks = c;
    }
    char *r = c->data + c->used;
    memcpy(r, s, n);
    r[n] = '\0';
    c->used += n + 1;
    return r;
}

void mgv_strpool_free(mgv_strpool *p)
{
    for (struct mgv_strpool_chunk *c = p->chunks, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    p->chunks = NULL;
}
