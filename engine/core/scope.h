/*
 * scope.h — a scope of temporaries: the intermediates of a computation go
 * in as they are made and are released together at its end, so that every
 * failure has one exit. The tape keeps what backward needs.
 *
 *     mgv_scope sc = MGV_SCOPE("head");
 *     mgv_tensor *t;
 *     MGV_TRY(&sc, t, mgv_matmul(a, b));   // t kept in sc; NULL: goto fail
 *     ...
 * fail:
 *     mgv_scope_close(&sc);
 */
#ifndef MGV_SCOPE_H
#define MGV_SCOPE_H

#include "core/tensor.h"

#define MGV_SCOPE_MAX 256

typedef struct mgv_scope {
    const char *what;   /* names the scope in "<what>: too many temporaries" */
    int n;
    mgv_tensor *t[MGV_SCOPE_MAX];
} mgv_scope;

#define MGV_SCOPE(what) {(what), 0, {NULL}}

/* Takes ownership of t and returns it. NULL in (a failed op: its message
 * is recorded) is NULL out; a full scope releases t and fails. */
mgv_tensor *mgv_keep(mgv_scope *s, mgv_tensor *t);
/* Releases everything kept; the scope can be used again. */
void mgv_scope_close(mgv_scope *s);

/* var = expr, kept in the scope; jumps to the label fail on NULL. */
#define MGV_TRY(s, var, expr)                              \
    do {                                                   \
        if (!((var) = mgv_keep((s), (expr)))) goto fail;   \
    } while (0)

#endif
