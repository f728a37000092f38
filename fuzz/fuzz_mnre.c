/*
 * fuzz_mnre.c — the MNRE line reader (engine/data/mnre.c) and the Python literal
 * parser under it (engine/formats/pyliteral.c).
 *
 * The input goes through mgv_mnre_parse as a file of lines and through
 * mgv_py_parse as one literal. Properties checked: every instance has
 * non-empty tokens and spans inside them, relation ids match their names;
 * every parsed str is NUL-terminated valid UTF-8 and mgv_py_get finds the
 * last of duplicate keys.
 */
#include <string.h>

#include "fuzz.h"
#include "data/mnre.h"
#include "formats/pyliteral.h"
#include "formats/utf8.h"

static int valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e) {
        int k = mgv_utf8_seq(p, e);
        if (k <= 0) return 0;
        p += k;
    }
    return 1;
}

static void walk(const mgv_py *v)
{
    FUZZ_CHECK(v && v->line >= 1 && v->col >= 1);
    switch (v->type) {
    case MGV_PY_STR:
        FUZZ_CHECK(v->v.str.s && v->v.str.s[v->v.str.len] == '\0');
        FUZZ_CHECK(valid_utf8(v->v.str.s, v->v.str.len));
        break;
    case MGV_PY_LIST:
    case MGV_PY_TUPLE:
        for (size_t i = 0; i < v->v.seq.n; i++) walk(v->v.seq.items[i]);
        break;
    case MGV_PY_DICT:
        for (size_t i = 0; i < v->v.dict.n; i++) {
            walk(v->v.dict.keys[i]);
            walk(v->v.dict.values[i]);
            const mgv_py *k = v->v.dict.keys[i];
            /* a str key without NUL inside: the last equal key wins */
            if (k->type == MGV_PY_STR && strlen(k->v.str.s) == k->v.str.len) {
                const mgv_py *got = mgv_py_get(v, k->v.str.s);
                size_t last = i;
                for (size_t j = i + 1; j < v->v.dict.n; j++) {
                    const mgv_py *kj = v->v.dict.keys[j];
                    if (kj->type == MGV_PY_STR && kj->v.str.len == k->v.str.len &&
                        !memcmp(kj->v.str.s, k->v.str.s, k->v.str.len))
                        last = j;
                }
                FUZZ_CHECK(got == v->v.dict.values[last]);
            }
        }
        break;
    default:
        break;
    }
    FUZZ_CHECK(mgv_py_type_name(v->type) != NULL);
}

static void mnre(const char *text, size_t len)
{
    mgv_mnre *ds = mgv_mnre_parse(text, len, "fuzz.txt");
    if (!ds) return;
    FUZZ_CHECK(ds->n >= 0 && ds->nrel >= 0 && (ds->n == 0 || ds->nrel > 0));
    for (int64_t i = 0; i < ds->n; i++) {
        const mgv_mnre_inst *x = &ds->inst[i];
        FUZZ_CHECK(x->ntok > 0 && x->tok);
        for (int k = 0; k < x->ntok; k++) FUZZ_CHECK(x->tok[k] && x->tok[k][0]);
        FUZZ_CHECK(0 <= x->h_begin && x->h_begin < x->h_end && x->h_end <= x->ntok);
        FUZZ_CHECK(0 <= x->t_begin && x->t_begin < x->t_end && x->t_end <= x->ntok);
        FUZZ_CHECK(x->h_name && x->t_name && x->img_id);
        FUZZ_CHECK(0 <= x->rel && x->rel < ds->nrel && x->line >= 1 && x->part == 0);
    }
    for (int r = 0; r < ds->nrel; r++) FUZZ_CHECK(mgv_mnre_rel_id(ds, ds->rel_names[r]) == r);
    mgv_mnre_free(ds);
}

FUZZ_TARGET(mnre)
{
    mnre((const char *)data, size);
    mgv_pydoc *doc = mgv_pydoc_new();
    if (!doc) return 0;
    const mgv_py *root = mgv_py_parse(doc, (const char *)data, size, "fuzz.py", 1);
    if (root) walk(root);
    mgv_pydoc_free(doc);
    return 0;
}
