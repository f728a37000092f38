/*
 * mnre.c — MNRE loader (see mnre.h).
 *
 * Each file is read whole, split into lines, and every non-blank line is
 * parsed with pyliteral into a tree that lives only until the next line.
 * The strings we keep are copied into a pool of large chunks; token
 * pointers go into one array shared by all instances (tokens are appended
 * in instance order, so each instance's slice is fixed up at the end).
 */
#include "data/mnre.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/strpool.h"
#include "formats/pyliteral.h"

struct mgv_mnre_store {
    mgv_strpool pool;
    const char **toks;
    size_t ntoks, captoks;
    int64_t capinst;
    int caprel;
};

static char *pool_copy(mgv_mnre_store *st, const char *s, size_t n)
{
    return mgv_strpool_copy(&st->pool, s, n, "mnre");
}

static mgv_mnre *dataset_new(void)
{
    mgv_mnre *ds = calloc(1, sizeof *ds);
    if (!ds) return mgv_fail_null("mnre: out of memory");
    ds->store = calloc(1, sizeof *ds->store);
    if (!ds->store) {
        free(ds);
        return mgv_fail_null("mnre: out of memory");
    }
    return ds;
}

void mgv_mnre_free(mgv_mnre *ds)
{
    if (!ds) return;
    if (ds->store) {
        mgv_strpool_free(&ds->store->pool);
        free(ds->store->toks);
        free(ds->store);
    }
    free(ds->inst);
    free(ds->rel_names);
    free(ds->part_names);
    free(ds);
}

int mgv_mnre_rel_id(const mgv_mnre *ds, const char *name)
{
    if (!ds || !name) return -1;
    for (int i = 0; i < ds->nrel; i++)
        if (!strcmp(ds->rel_names[i], name)) return i;
    return -1;
}

/* Relation id for name, adding it to the table on first sight. */
static int intern_rel(mgv_mnre *ds, const char *name, size_t len)
{
    for (int i = 0; i < ds->nrel; i++)
        if (strlen(ds->rel_names[i]) == len && !memcmp(ds->rel_names[i], name, len)) return i;
    mgv_mnre_store *st = ds->store;
    if (ds->nrel == st->caprel) {
        int cap = st->caprel ? 2 * st->caprel : 32;
        const char **r = realloc(ds->rel_names, (size_t)cap * sizeof *r);
        if (!r) return mgv_fail("mnre: out of memory");
        ds->rel_names = r;
        st->caprel = cap;
    }
    const char *s = pool_copy(st, name, len);
    if (!s) return -1;
    ds->rel_names[ds->nrel] = s;
    return ds->nrel++;
}

/* The value of key in dict d, which must have type t (or a list/tuple when
 * t is MGV_PY_LIST); NULL with a message otherwise. */
static const mgv_py *field(const mgv_py *d, const char *key, mgv_py_type t, const char *what,
                           const char *file, int line)
{
    const mgv_py *v = mgv_py_get(d, key);
    if (!v) return mgv_fail_null("mnre: %s:%d: missing key '%s'", file, line, what);
    int ok = v->type == t || (t == MGV_PY_LIST && v->type == MGV_PY_TUPLE);
    if (!ok)
        return mgv_fail_null("mnre: %s:%d: '%s' must be a %s, found %s", file, line, what,
                             mgv_py_type_name(t), mgv_py_type_name(v->type));
    /* kept as C strings: a NUL ('\x00') would cut them short */
    if (t == MGV_PY_STR && memchr(v->v.str.s, '\0', v->v.str.len))
        return mgv_fail_null("mnre: %s:%d: '%s' contains a NUL character", file, line, what);
    return v;
}

/* An entity {'name': str, 'pos': [begin, end]} checked against ntok tokens. */
static int entity(mgv_mnre *ds, const mgv_py *root, const char *key, int ntok, int *b, int *e,
                  const char **name, const char *file, int line)
{
    const mgv_py *ent = field(root, key, MGV_PY_DICT, key, file, line);
    if (!ent) return -1;
    char what[16];
    snprintf(what, sizeof what, "%s.name", key);
    const mgv_py *nm = field(ent, "name", MGV_PY_STR, what, file, line);
    if (!nm) return -1;
    snprintf(what, sizeof what, "%s.pos", key);
    const mgv_py *pos = field(ent, "pos", MGV_PY_LIST, what, file, line);
    if (!pos) return -1;
    if (pos->v.seq.n != 2 || pos->v.seq.items[0]->type != MGV_PY_INT ||
        pos->v.seq.items[1]->type != MGV_PY_INT)
        return mgv_fail("mnre: %s:%d: '%s' must be [begin, end] (two ints)", file, line, what);
    int64_t pb = pos->v.seq.items[0]->v.integer, pe = pos->v.seq.items[1]->v.integer;
    if (pb < 0 || pe > ntok || pb > pe)
        return mgv_fail("mnre: %s:%d: '%s' span [%lld, %lld) is outside the %d tokens", file,
                        line, key, (long long)pb, (long long)pe, ntok);
    if (pb == pe)
        return mgv_fail("mnre: %s:%d: '%s' span [%lld, %lld) is empty", file, line, key,
                        (long long)pb, (long long)pe);
    *b = (int)pb;
    *e = (int)pe;
    *name = pool_copy(ds->store, nm->v.str.s, nm->v.str.len);
    return *name ? 0 : -1;
}

/* Checks one parsed line and appends it as an instance. */
static int add_instance(mgv_mnre *ds, const mgv_py *root, int part, const char *file, int line)
{
    mgv_mnre_store *st = ds->store;
    if (root->type != MGV_PY_DICT)
        return mgv_fail("mnre: %s:%d: expected a dict, found %s", file, line,
                        mgv_py_type_name(root->type));
    const mgv_py *tok = field(root, "token", MGV_PY_LIST, "token", file, line);
    if (!tok) return -1;
    size_t ntok = tok->v.seq.n;
    if (ntok == 0) return mgv_fail("mnre: %s:%d: 'token' is empty", file, line);
    if (ntok > 1000000) return mgv_fail("mnre: %s:%d: too many tokens (%zu)", file, line, ntok);
    for (size_t i = 0; i < ntok; i++) {
        const mgv_py *t = tok->v.seq.items[i];
        if (t->type != MGV_PY_STR)
            return mgv_fail("mnre: %s:%d: token %zu is a %s, not a str", file, line, i,
                            mgv_py_type_name(t->type));
        if (t->v.str.len == 0) return mgv_fail("mnre: %s:%d: token %zu is empty", file, line, i);
        if (memchr(t->v.str.s, '\0', t->v.str.len))
            return mgv_fail("mnre: %s:%d: token %zu contains a NUL character", file, line, i);
    }
    mgv_mnre_inst in;
    memset(&in, 0, sizeof in);
    in.ntok = (int)ntok;
    in.part = part;
    in.line = line;
    if (entity(ds, root, "h", in.ntok, &in.h_begin, &in.h_end, &in.h_name, file, line) ||
        entity(ds, root, "t", in.ntok, &in.t_begin, &in.t_end, &in.t_name, file, line))
        return -1;
    const mgv_py *img = field(root, "img_id", MGV_PY_STR, "img_id", file, line);
    const mgv_py *rel = img ? field(root, "relation", MGV_PY_STR, "relation", file, line) : NULL;
    if (!rel) return -1;
    in.img_id = pool_copy(st, img->v.str.s, img->v.str.len);
    if (!in.img_id) return -1;
    in.rel = intern_rel(ds, rel->v.str.s, rel->v.str.len);
    if (in.rel < 0) return -1;

    if (st->ntoks + ntok > st->captoks) {
        size_t cap = st->captoks ? st->captoks : 4096;
        while (cap < st->ntoks + ntok) cap *= 2;
        const char **t = realloc(st->toks, cap * sizeof *t);
        if (!t) return mgv_fail("mnre: out of memory");
        st->toks = t;
        st->captoks = cap;
    }
    for (size_t i = 0; i < ntok; i++) {
        const mgv_py *s = tok->v.seq.items[i];
        const char *c = pool_copy(st, s->v.str.s, s->v.str.len);
        if (!c) return -1;
        st->toks[st->ntoks++] = c;
    }
    if (ds->n == st->capinst) {
        int64_t cap = st->capinst ? 2 * st->capinst : 1024;
        mgv_mnre_inst *a = realloc(ds->inst, (size_t)cap * sizeof *a);
        if (!a) return mgv_fail("mnre: out of memory");
        ds->inst = a;
        st->capinst = cap;
    }
    ds->inst[ds->n++] = in;
    return 0;
}

/* Parses every line of text as part `part`. */
static int parse_text(mgv_mnre *ds, mgv_pydoc *doc, const char *text, size_t len,
                      const char *name, int part)
{
    const char *p = text, *end = text + len;
    int line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q < le) {
            const mgv_py *root = mgv_py_parse(doc, p, (size_t)(le - p), name, line);
            if (!root) {
                mgv_error_context("mnre");
                return -1;
            }
            if (add_instance(ds, root, part, name, line)) return -1;
        }
        p = nl ? nl + 1 : end;
        if ((line & 1023) == 0 && mgv_interrupted()) return mgv_fail("mnre: interrupted");
    }
    return 0;
}

static int add_part(mgv_mnre *ds, const char *name)
{
    const char **a = realloc(ds->part_names, (size_t)(ds->nparts + 1) * sizeof *a);
    if (!a) return mgv_fail("mnre: out of memory");
    ds->part_names = a;
    const char *s = pool_copy(ds->store, name, strlen(name));
    if (!s) return -1;
    ds->part_names[ds->nparts++] = s;
    return 0;
}

/* Points each instance at its slice of the shared token array. */
static void fix_tokens(mgv_mnre *ds)
{
    size_t off = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        ds->inst[i].tok = ds->store->toks + off;
        off += (size_t)ds->inst[i].ntok;
    }
}

/* The end of a load: the parser goes; the data set is finished, or freed
 * when the load failed (NULL). */
static mgv_mnre *finish_load(mgv_mnre *ds, mgv_pydoc *doc, int failed)
{
    mgv_pydoc_free(doc);
    if (failed) {
        mgv_mnre_free(ds);
        return NULL;
    }
    fix_tokens(ds);
    return ds;
}

mgv_mnre *mgv_mnre_load_parts(const char *const *paths, int nparts)
{
    if (!paths || nparts <= 0) return mgv_fail_null("mnre: no files to load");
    mgv_mnre *ds = dataset_new();
    mgv_pydoc *doc = ds ? mgv_pydoc_new() : NULL;
    int rc = doc ? 0 : -1;
    for (int i = 0; i < nparts && !rc; i++) {
        size_t len = 0;
        char *text = paths[i] ? mgv_read_file(paths[i], &len, 0, "mnre")
                              : mgv_fail_null("mnre: NULL path");
        rc = text ? add_part(ds, paths[i]) : -1;
        if (!rc) rc = parse_text(ds, doc, text, len, paths[i], i);
        free(text);
    }
    return finish_load(ds, doc, rc != 0);
}

mgv_mnre *mgv_mnre_load(const char *path) { return mgv_mnre_load_parts(&path, 1); }

mgv_mnre *mgv_mnre_parse(const char *text, size_t len, const char *name)
{
    if (!name) name = "<string>";
    mgv_mnre *ds = dataset_new();
    mgv_pydoc *doc = ds ? mgv_pydoc_new() : NULL;
    int failed = !doc || add_part(ds, name) ||
                 parse_text(ds, doc, text ? text : "", text ? len : 0, name, 0);
    return finish_load(ds, doc, failed);
}
