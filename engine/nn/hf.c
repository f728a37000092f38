/*
 * hf.c — Hugging Face config.json fields, parameter creation and
 * safetensors loading by Hugging Face names (see hf.h).
 */
#include "nn/hf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "formats/safetensors.h"

/* ---- config.json ------------------------------------------------------------ */

/* Integer field k of a JSON object into *dst when present. */
static int cfg_int(json_t *o, const char *k, int *dst, const char *path)
{
    json_t *v = json_object_get(o, k);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > 1 << 30)
        return mgv_fail("%s: \"%s\" must be a positive integer", path, k);
    *dst = (int)json_integer_value(v);
    return 0;
}

static int cfg_real(json_t *o, const char *k, float *dst, const char *path)
{
    json_t *v = json_object_get(o, k);
    if (!v) return 0;
    if (!json_is_number(v)) return mgv_fail("%s: \"%s\" must be a number", path, k);
    *dst = (float)json_number_value(v);
    return 0;
}

int mgv_hf_read_config(const char *path, int n, const mgv_hf_field *fields)
{
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) return mgv_fail("%s: cannot read JSON (line %d: %s)", path, err.line, err.text);
    int rc = 0;
    if (!json_is_object(j)) rc = mgv_fail("%s: not a JSON object", path);
    for (int i = 0; i < n && rc == 0; i++)
        rc = fields[i].is_real ? cfg_real(j, fields[i].key, fields[i].dst, path)
                               : cfg_int(j, fields[i].key, fields[i].dst, path);
    /* the engine's layers compute exact GELU and absolute positions only */
    json_t *v = rc == 0 ? json_object_get(j, "hidden_act") : NULL;
    if (v && (!json_is_string(v) || strcmp(json_string_value(v), "gelu") != 0))
        rc = mgv_fail("%s: hidden_act \"%s\" is not supported (only exact \"gelu\")", path,
                      json_is_string(v) ? json_string_value(v) : "?");
    v = rc == 0 ? json_object_get(j, "position_embedding_type") : NULL;
    if (v && (!json_is_string(v) || strcmp(json_string_value(v), "absolute") != 0))
        rc = mgv_fail("%s: position_embedding_type \"%s\" is not supported (only \"absolute\")",
                      path, json_is_string(v) ? json_string_value(v) : "?");
    v = rc == 0 ? json_object_get(j, "qkv_bias") : NULL;
    if (v && json_is_false(v))
        rc = mgv_fail("%s: qkv_bias false is not supported", path);
    json_decref(j);
    return rc;
}

/* ---- parameters -------------------------------------------------------------- */

mgv_tensor *mgv_hf_new_param(mgv_paramset *ps, const char *prefix, const char *name, int ndim,
                             const int64_t *shape, float std, float fill, mgv_rng *rng)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    mgv_tensor *t = mgv_params_new(ps, full, ndim, shape, 0, rng);
    if (!t) return NULL;
    if (std > 0) mgv_fill_normal_(t, rng, 0.0f, std);
    else if (fill != 0) mgv_fill_(t, fill);
    return t;
}

void mgv_hf_params_truncate(mgv_paramset *ps, int n)
{
    while (ps->n > n) {
        ps->n--;
        free(ps->names[ps->n]);
        mgv_release(ps->tensors[ps->n]);
    }
}

/* ---- Hugging Face checkpoints -------------------------------------------------------- */

/* The checkpoint tensor for parameter name hf (see mgv_hf_load_params). */
static mgv_tensor *find_hf(const mgv_st_file *f, const char *hf, const char *model_prefix)
{
    char alt[512];
    mgv_tensor *t = mgv_st_get(f, hf);
    if (t) return t;
    if (model_prefix) {
        snprintf(alt, sizeof alt, "%s.%s", model_prefix, hf);
        if ((t = mgv_st_get(f, alt))) return t;
    }
    /* old names: LayerNorm.gamma / LayerNorm.beta */
    size_t n = strlen(hf), cut = 0;
    const char *rep = NULL;
    if (!strstr(hf, "LayerNorm.") && !strstr(hf, "layernorm")) return NULL;
    if (n > 7 && strcmp(hf + n - 7, ".weight") == 0) {
        rep = ".gamma";
        cut = 7;
    } else if (n > 5 && strcmp(hf + n - 5, ".bias") == 0) {
        rep = ".beta";
        cut = 5;
    } else {
        return NULL;
    }
    for (int k = 0; k < 2; k++) {
        if (k == 1 && !model_prefix) break;
        snprintf(alt, sizeof alt, "%s%s%.*s%s", k ? model_prefix : "", k ? "." : "",
                 (int)(n - cut), hf, rep);
        if ((t = mgv_st_get(f, alt))) return t;
    }
    return NULL;
}

/* A bounded "a, b, c and 4 more" list. */
typedef struct {
    char text[1500];
    int shown, hidden;
} name_list;

static void list_add(name_list *l, const char *item)
{
    size_t len = strlen(l->text);
    if (l->shown < 6 && len + strlen(item) + 3 < sizeof l->text) {
        snprintf(l->text + len, sizeof l->text - len, "%s%s", l->shown ? "; " : "", item);
        l->shown++;
    } else {
        l->hidden++;
    }
}

static const char *list_more(const name_list *l, char *buf, size_t n)
{
    if (l->hidden) snprintf(buf, n, " and %d more", l->hidden);
    else buf[0] = 0;
    return buf;
}

int mgv_hf_load_params(mgv_paramset *ps, const char *prefix, const char *path,
                       const char *model_prefix, const char *who, int *n_unused)
{
    mgv_st_file *f = mgv_safetensors_load(path);
    if (!f) {
        mgv_error_context("%s", who);
        return -1;
    }
    size_t pl = strlen(prefix);
    name_list missing, shaped;
    memset(&missing, 0, sizeof missing);
    memset(&shaped, 0, sizeof shaped);
    int np = 0;
    mgv_tensor **src = calloc((size_t)ps->n + 1, sizeof *src);
    char *used = calloc((size_t)f->n + 1, 1);
    if (!src || !used) {
        free(src);
        free(used);
        mgv_st_free(f);
        return mgv_fail("%s: out of memory", who);
    }
    for (int i = 0; i < ps->n; i++) {
        if (strncmp(ps->names[i], prefix, pl) != 0) continue;
        np++;
        const char *hf = ps->names[i] + pl;
        mgv_tensor *t = find_hf(f, hf, model_prefix);
        if (!t) {
            list_add(&missing, hf);
            continue;
        }
        if (!mgv_same_shape(t, ps->tensors[i])) {
            char a[96], b[96], item[400];
            snprintf(item, sizeof item, "%s is %s in the file, %s expected", hf,
                     mgv_shape_str(t, a, sizeof a), mgv_shape_str(ps->tensors[i], b, sizeof b));
            list_add(&shaped, item);
            continue;
        }
        src[i] = t;
        for (int k = 0; k < f->n; k++)
            if (f->entries[k].tensor == t) used[k] = 1;
    }
    int rc = 0, nm = missing.shown + missing.hidden, ns = shaped.shown + shaped.hidden;
    if (nm + ns > 0) {
        char m1[48], m2[48];
        rc = mgv_fail("%s: %s does not fit the model's %d parameters: %d missing%s%s%s%s; "
                      "%d mis-shaped%s%s%s%s",
                      who, path, np, nm, nm ? " (" : "", missing.text,
                      list_more(&missing, m1, sizeof m1), nm ? ")" : "", ns, ns ? " (" : "",
                      shaped.text, list_more(&shaped, m2, sizeof m2), ns ? ")" : "");
    }
    for (int i = 0; i < ps->n && rc == 0; i++)
        if (src[i]) rc = mgv_copy_(ps->tensors[i], src[i]);
    if (rc == 0 && n_unused) {
        *n_unused = 0;
        for (int k = 0; k < f->n; k++) *n_unused += !used[k];
    }
    free(src);
    free(used);
    mgv_st_free(f);
    return rc;
}
