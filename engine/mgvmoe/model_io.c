/*
 * model_io.c — checkpoints of the model (see model.h): parameters, the
 * optimisers' state and the generators, in one safetensors file.
 */
#include "mgvmoe/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#include "formats/safetensors.h"

/* ---- checkpoints ---------------------------------------------------------- */

typedef struct {
    int n, cap;
    char **names;
    mgv_tensor **ts;
} named_list;

static int nl_add(named_list *l, const char *prefix, const char *name, mgv_tensor *t)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **nn = realloc(l->names, sizeof(char *) * (size_t)cap);
        if (nn) l->names = nn;
        mgv_tensor **nt = realloc(l->ts, sizeof(mgv_tensor *) * (size_t)cap);
        if (nt) l->ts = nt;
        if (!nn || !nt) return mgv_fail("checkpoint: out of memory");
        l->cap = cap;
    }
    size_t len = strlen(prefix) + strlen(name) + 1;
    l->names[l->n] = malloc(len);
    if (!l->names[l->n]) return mgv_fail("checkpoint: out of memory");
    snprintf(l->names[l->n], len, "%s%s", prefix, name);
    l->ts[l->n++] = t;
    return 0;
}

static void nl_free(named_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    free(l->ts);
}

/* every tensor a checkpoint holds, under its name */
static int checkpoint_tensors(mgv_model *m, int with_optim, named_list *l)
{
    memset(l, 0, sizeof *l);
    const char *pname;
    for (int i = 0; i < m->params.n; i++)
        if (nl_add(l, "", m->params.names[i], m->params.tensors[i]) < 0) return -1;
    for (int i = 0; i < m->head.params.n; i++)
        if (nl_add(l, "", m->head.params.names[i], m->head.params.tensors[i]) < 0) return -1;
    if (nl_add(l, "", "vat.r", m->head.r) < 0) return -1;
    if (!with_optim) return 0;
    /* opt's tensors are the first of l, in order (r last with mg_update 1) */
    for (int i = 0; i < m->opt->n; i++) {
        pname = l->names[i];
        if (m->opt->m[i] && nl_add(l, "optim.m.", pname, m->opt->m[i]) < 0) return -1;
        if (m->opt->v[i] && nl_add(l, "optim.v.", pname, m->opt->v[i]) < 0) return -1;
    }
    if (m->opt_r->m[0] && nl_add(l, "optim_r.m.", "vat.r", m->opt_r->m[0]) < 0) return -1;
    if (m->opt_r->v[0] && nl_add(l, "optim_r.v.", "vat.r", m->opt_r->v[0]) < 0) return -1;
    return 0;
}

/* a generator's state as text (checkpoint metadata) and back */
#define RNG_TEXT 112
static void rng_text(const mgv_rng *r, char *out)
{
    snprintf(out, RNG_TEXT, "%016llx%016llx%016llx%016llx %d %a", (unsigned long long)r->s[0],
             (unsigned long long)r->s[1], (unsigned long long)r->s[2],
             (unsigned long long)r->s[3], r->has_spare, r->spare);
}

static void rng_parse(mgv_rng *r, const char *s)
{
    unsigned long long w[4];
    int spare;
    double v;
    if (sscanf(s, "%16llx%16llx%16llx%16llx %d %la", &w[0], &w[1], &w[2], &w[3], &spare, &v) != 6)
        return;   /* an older checkpoint: the generator stays as it is */
    for (int i = 0; i < 4; i++) r->s[i] = w[i];
    r->has_spare = spare;
    r->spare = v;
}

int mgv_model_save(mgv_model *m, const char *path, int with_optim, int n_meta,
                   const char *const *keys, const char *const *values)
{
    named_list l;
    int rc = checkpoint_tensors(m, with_optim, &l);
    /* the model's own entries, then every one of the caller's */
    const char **k = rc == 0 ? malloc(sizeof(char *) * (size_t)(n_meta + 6)) : NULL;
    const char **v = k ? malloc(sizeof(char *) * (size_t)(n_meta + 6)) : NULL;
    if (rc == 0 && !v) rc = mgv_fail("checkpoint: out of memory");
    if (rc == 0) {
        char steps[32], t1[32], t2[32], rng[2][RNG_TEXT];
        int nm = 0;
        rng_text(&m->rng, rng[0]);
        rng_text(&m->head.rng, rng[1]);
        /* the generators' states, so that a resumed run draws what the
         * uninterrupted one would have */
        k[nm] = "rng"; v[nm++] = rng[0];
        k[nm] = "head_rng"; v[nm++] = rng[1];
        snprintf(steps, sizeof steps, "%lld", (long long)m->steps);
        snprintf(t1, sizeof t1, "%lld", (long long)m->opt->t);
        snprintf(t2, sizeof t2, "%lld", (long long)m->opt_r->t);
        k[nm] = "format"; v[nm++] = "mgv-mgvmoe-1";
        k[nm] = "steps"; v[nm++] = steps;
        k[nm] = "optim_t"; v[nm++] = t1;
        k[nm] = "optim_r_t"; v[nm++] = t2;
        for (int i = 0; i < n_meta; i++) {
            k[nm] = keys[i];
            v[nm++] = values[i];
        }
        rc = mgv_safetensors_save(path, l.n, (const char *const *)l.names, l.ts, nm, k, v);
    }
    free(k);
    free(v);
    nl_free(&l);
    return rc;
}

int mgv_model_load(mgv_model *m, const char *path)
{
    mgv_st_file *f = mgv_safetensors_load(path);
    if (!f) return -1;
    named_list l;
    int rc = checkpoint_tensors(m, 0, &l);
    char a[96], b[96];
    /* check everything first: a failed load leaves the model as it was */
    for (int i = 0; i < l.n && rc == 0; i++) {
        mgv_tensor *src = mgv_st_get(f, l.names[i]);
        if (!src)
            rc = mgv_fail("%s: checkpoint lacks '%s' (a model of another configuration?)", path,
                          l.names[i]);
        else if (!mgv_same_shape(src, l.ts[i]))
            rc = mgv_fail("%s: '%s' is %s in the checkpoint but %s in the model", path,
                          l.names[i], mgv_shape_str(src, a, sizeof a),
                          mgv_shape_str(l.ts[i], b, sizeof b));
    }
    /* the optimiser state when present (resume), copied before anything
     * changes: slot i of staged is moment i (m then v) of opt, then of opt_r */
    int n_slots = 2 * m->opt->n + 2;
    mgv_tensor **staged = rc == 0 ? calloc((size_t)n_slots, sizeof *staged) : NULL;
    if (rc == 0 && !staged) rc = mgv_fail("%s: out of memory", path);
    for (int i = 0; i < n_slots && rc == 0; i++) {
        const char *pname = i < 2 * m->opt->n ? l.names[i / 2] : "vat.r";
        char key[256];
        snprintf(key, sizeof key, "%s.%c.%s", i < 2 * m->opt->n ? "optim" : "optim_r",
                 i % 2 ? 'v' : 'm', pname);
        mgv_tensor *src = mgv_st_get(f, key);
        if (src && !(staged[i] = mgv_clone_data(src))) {
            mgv_error_context("%s: optimiser state '%s'", path, key);
            rc = -1;
        }
    }
    for (int i = 0; i < l.n && rc == 0; i++) rc = mgv_copy_(l.ts[i], mgv_st_get(f, l.names[i]));
    for (int i = 0; i < n_slots && rc == 0; i++) {
        if (!staged[i]) continue;
        mgv_optim *o = i < 2 * m->opt->n ? m->opt : m->opt_r;
        int j = i < 2 * m->opt->n ? i / 2 : 0;
        mgv_tensor **slot = i % 2 ? &o->v[j] : &o->m[j];
        mgv_release(*slot);
        *slot = staged[i];
        staged[i] = NULL;
    }
    for (int i = 0; staged && i < n_slots; i++) mgv_release(staged[i]);
    free(staged);
    if (rc == 0) {
        const char *s = mgv_st_meta(f, "steps");
        if (s) m->steps = atoll(s);
        if ((s = mgv_st_meta(f, "optim_t"))) m->opt->t = atoll(s);
        if ((s = mgv_st_meta(f, "optim_r_t"))) m->opt_r->t = atoll(s);
        if ((s = mgv_st_meta(f, "rng"))) rng_parse(&m->rng, s);
        if ((s = mgv_st_meta(f, "head_rng"))) rng_parse(&m->head.rng, s);
    }
    nl_free(&l);
    mgv_st_free(f);
    return rc;
}
