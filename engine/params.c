/* params.c — named parameter sets (see params.h). */
#include "params.h"

#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "error.h"
#include "safetensors.h"

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

void mgv_params_zero_grad(mgv_paramset *ps)
{
    for (int i = 0; i < ps->n; i++) mgv_zero_grad(ps->tensors[i]);
}

int mgv_params_save(const mgv_paramset *ps, const char *path, int n_meta,
                    const char *const *keys, const char *const *values)
{
    return mgv_safetensors_save(path, ps->n, (const char *const *)ps->names, ps->tensors, n_meta,
                                keys, values);
}

int mgv_params_load(mgv_paramset *ps, const char *path)
{
    mgv_st_file *f = mgv_safetensors_load(path);
    if (!f) return -1;
    int rc = 0;
    for (int i = 0; i < ps->n && rc == 0; i++) {
        mgv_tensor *src = mgv_st_get(f, ps->names[i]);
        char a[96], b[96];
        if (!src)
            rc = mgv_fail("%s: checkpoint has no parameter '%s'", path, ps->names[i]);
        else if (!mgv_same_shape(src, ps->tensors[i]))
            rc = mgv_fail("%s: parameter '%s' has shape %s in the checkpoint, %s in the model",
                          path, ps->names[i], mgv_shape_str(src, a, sizeof a),
                          mgv_shape_str(ps->tensors[i], b, sizeof b));
    }
    /* copy only once everything matched: a failed load leaves the model as it was */
    for (int i = 0; i < ps->n && rc == 0; i++)
        rc = mgv_copy_(ps->tensors[i], mgv_st_get(f, ps->names[i]));
    mgv_st_free(f);
    return rc;
}
