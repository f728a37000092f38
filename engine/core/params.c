/* params.c — named parameter sets (see params.h). */
#include "core/params.h"

#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/error.h"

void mgv_params_init(mgv_paramset *ps) { memset(ps, 0, sizeof *ps); }

void mgv_params_free(mgv_paramset *ps)
{
    for (int i = 0; i < ps->n; i++) {
        free(ps->names[i]);
        mgv_release(ps->tensors[i]);
    }
    free(ps->names);
    free(ps->tensors);
    memset(ps, 0, sizeof *ps);
}

int mgv_params_add(mgv_paramset *ps, const char *name, mgv_tensor *t)
{
    if (mgv_params_get(ps, name)) return mgv_fail("params: duplicate parameter name '%s'", name);
    if (ps->n == ps->cap) {
        int cap = ps->cap ? ps->cap * 2 : 16;
        char **nn = realloc(ps->names, (size_t)cap * sizeof *nn);
        if (!nn) return mgv_fail("params: out of memory");
        ps->names = nn;
        mgv_tensor **nt = realloc(ps->tensors, (size_t)cap * sizeof *nt);
        if (!nt) return mgv_fail("params: out of memory");
        ps->tensors = nt;
        ps->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return mgv_fail("params: out of memory");
    ps->names[ps->n] = copy;
    ps->tensors[ps->n] = mgv_retain(t);
    ps->n++;
    return 0;
}

mgv_tensor *mgv_params_new(mgv_paramset *ps, const char *name, int ndim, const int64_t *shape,
                           float bound, mgv_rng *rng)
{
    mgv_tensor *t = mgv_zeros(ndim, shape);
    if (!t) return NULL;
    if (bound > 0) mgv_fill_uniform_(t, rng, -bound, bound);
    mgv_set_requires_grad(t, 1);
    int rc = mgv_params_add(ps, name, t);
    mgv_release(t);
    return rc < 0 ? NULL : t;
}

mgv_tensor *mgv_params_get(const mgv_paramset *ps, const char *name)
{
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->names[i], name) == 0) return ps->tensors[i];
    return NULL;
}

int64_t mgv_params_count(const mgv_paramset *ps)
{
    int64_t n = 0;
    for (int i = 0; i < ps->n; i++) n += mgv_numel(ps->tensors[i]);
    return n;
}
