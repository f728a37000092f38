/* scope.c — a scope of temporaries (see scope.h). */
#include "core/scope.h"

#include "core/error.h"

mgv_tensor *mgv_keep(mgv_scope *s, mgv_tensor *t)
{
    if (!t) return NULL;
    if (s->n == MGV_SCOPE_MAX) {
        mgv_release(t);
        return mgv_fail_null("%s: too many temporaries", s->what);
    }
    s->t[s->n++] = t;
    return t;
}

void mgv_scope_close(mgv_scope *s)
{
    for (int i = 0; i < s->n; i++) mgv_release(s->t[i]);
    s->n = 0;
}
