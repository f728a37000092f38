/*
 * bert.c — BERT embeddings + post-LN encoder + pooler, and the Hugging Face
 * checkpoint loader shared with vit.c (see bert.h).
 */
#include "bert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mgv.h"
#include "safetensors.h"

mgv_bert_config mgv_bert_base_config(void)
{
    mgv_bert_config c;
    memset(&c, 0, sizeof c);
    c.vocab_size = 28996;
    c.hidden = 768;
    c.layers = 12;
    c.heads = 12;
    c.intermediate = 3072;
    c.max_position = 512;
    c.type_vocab_size = 2;
    c.layer_norm_eps = 1e-12f;
    c.hidden_dropout = 0.1f;
    c.attention_dropout = 0.1f;
    c.init_std = 0.02f;
    c.pooler = 1;
    return c;
}

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

int mgv_bert_read_config(const char *path, mgv_bert_config *cfg)
{
    const mgv_hf_field f[] = {
        {"vocab_size", 0, &cfg->vocab_size},
        {"hidden_size", 0, &cfg->hidden},
        {"num_hidden_layers", 0, &cfg->layers},
        {"num_attention_heads", 0, &cfg->heads},
        {"intermediate_size", 0, &cfg->intermediate},
        {"max_position_embeddings", 0, &cfg->max_position},
        {"type_vocab_size", 0, &cfg->type_vocab_size},
        {"layer_norm_eps", 1, &cfg->layer_norm_eps},
        {"hidden_dropout_prob", 1, &cfg->hidden_dropout},
        {"attention_probs_dropout_prob", 1, &cfg->attention_dropout},
        {"initializer_range", 1, &cfg->init_std},
    };
    return mgv_hf_read_config(path, (int)(sizeof f / sizeof *f), f);
}

/* ---- parameters --------------------------------------------------------------- */

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

int mgv_bert_init(mgv_bert *b, mgv_paramset *ps, const char *prefix, const mgv_bert_config *cfg,
                  mgv_rng *rng)
{
    memset(b, 0, sizeof *b);
    int n0 = ps->n;
    if (!prefix) prefix = "";
    if (strlen(prefix) >= sizeof b->prefix) return mgv_fail("bert: prefix '%s' too long", prefix);
    if (cfg->vocab_size < 1 || cfg->max_position < 1 || cfg->type_vocab_size < 1 ||
        cfg->layers < 1)
        return mgv_fail("bert: vocab %d, positions %d, types %d and layers %d must be positive",
                        cfg->vocab_size, cfg->max_position, cfg->type_vocab_size, cfg->layers);
    if (!rng) rng = mgv_rng_global();
    b->cfg = *cfg;
    snprintf(b->prefix, sizeof b->prefix, "%s", prefix);
    int64_t H = cfg->hidden;
    float sd = cfg->init_std;
    int64_t ws[2] = {cfg->vocab_size, H}, ps_[2] = {cfg->max_position, H},
            ts[2] = {cfg->type_vocab_size, H}, hs[1] = {H}, pw[2] = {H, H};
    if (!(b->word = mgv_hf_new_param(ps, prefix, "embeddings.word_embeddings.weight", 2, ws, sd, 0, rng)) ||
        !(b->pos = mgv_hf_new_param(ps, prefix, "embeddings.position_embeddings.weight", 2, ps_, sd, 0,
                             rng)) ||
        !(b->type = mgv_hf_new_param(ps, prefix, "embeddings.token_type_embeddings.weight", 2, ts, sd, 0,
                              rng)) ||
        !(b->ln_g = mgv_hf_new_param(ps, prefix, "embeddings.LayerNorm.weight", 1, hs, 0, 1, rng)) ||
        !(b->ln_b = mgv_hf_new_param(ps, prefix, "embeddings.LayerNorm.bias", 1, hs, 0, 0, rng)))
        goto fail;
    mgv_transformer_config tc = mgv_transformer_default_config(cfg->hidden, cfg->heads,
                                                               cfg->intermediate);
    tc.layer_norm_eps = cfg->layer_norm_eps;
    tc.hidden_dropout = cfg->hidden_dropout;
    tc.attention_dropout = cfg->attention_dropout;
    tc.init_std = cfg->init_std;
    char enc[160];
    snprintf(enc, sizeof enc, "%sencoder.layer", prefix);
    if (mgv_transformer_encoder_init(&b->enc, ps, enc, cfg->layers, &tc, MGV_TRANSFORMER_POST_LN,
                                     rng) < 0)
        goto fail;
    if (cfg->pooler &&
        (!(b->pool_w = mgv_hf_new_param(ps, prefix, "pooler.dense.weight", 2, pw, sd, 0, rng)) ||
         !(b->pool_b = mgv_hf_new_param(ps, prefix, "pooler.dense.bias", 1, hs, 0, 0, rng))))
        goto fail;
    return 0;
fail:
    mgv_error_context("bert");
    mgv_bert_free(b);
    mgv_hf_params_truncate(ps, n0);
    return -1;
}

void mgv_bert_free(mgv_bert *b)
{
    if (b->enc.layers) mgv_transformer_encoder_free(&b->enc);
    memset(b, 0, sizeof *b);
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

int mgv_bert_load_weights(mgv_bert *b, mgv_paramset *ps, const char *path)
{
    return mgv_hf_load_params(ps, b->prefix, path, "bert", "bert", NULL);
}

int mgv_bert_load_dir(mgv_bert *b, mgv_paramset *ps, const char *prefix, const char *dir,
                      mgv_rng *rng)
{
    char cpath[4096], wpath[4096];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", dir);
    mgv_bert_config cfg = mgv_bert_base_config();
    if (mgv_bert_read_config(cpath, &cfg) < 0) {
        mgv_error_context("bert");
        return -1;
    }
    /* a pooler only when the checkpoint has one: peek at the header */
    mgv_st_file *f = mgv_safetensors_load(wpath);
    if (!f) {
        mgv_error_context("bert");
        return -1;
    }
    cfg.pooler = mgv_st_get(f, "pooler.dense.weight") || mgv_st_get(f, "bert.pooler.dense.weight");
    mgv_st_free(f);
    int n0 = ps->n;
    if (mgv_bert_init(b, ps, prefix, &cfg, rng) < 0) return -1;
    if (mgv_bert_load_weights(b, ps, wpath) < 0) {
        mgv_bert_free(b);
        mgv_hf_params_truncate(ps, n0);
        return -1;
    }
    return 0;
}

/* ---- forward ------------------------------------------------------------------------- */

mgv_tensor *mgv_bert_embed(const mgv_bert *b, int64_t B, int64_t L, const int32_t *ids,
                           const int32_t *token_types, int training, mgv_rng *rng)
{
    if (!b || !b->word) return mgv_fail_null("bert: model is not initialised");
    if (B < 1 || L < 1 || !ids) return mgv_fail_null("bert: empty input [%lldx%lld]",
                                                     (long long)B, (long long)L);
    if (L > b->cfg.max_position)
        return mgv_fail_null("bert: %lld tokens exceed the %d positions of the model",
                             (long long)L, b->cfg.max_position);
    int64_t n = B * L;
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)n * 2);
    if (!idx) return mgv_fail_null("bert: out of memory");
    int64_t *tdx = idx + n;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= b->cfg.vocab_size) {
            free(idx);
            return mgv_fail_null("bert: token id %d at [%lld, %lld] is outside the vocabulary "
                                 "of %d", ids[i], (long long)(i / L + 1), (long long)(i % L + 1),
                                 b->cfg.vocab_size);
        }
        int32_t t = token_types ? token_types[i] : 0;
        if (t < 0 || t >= b->cfg.type_vocab_size) {
            free(idx);
            return mgv_fail_null("bert: token type %d outside [0, %d)", t,
                                 b->cfg.type_vocab_size);
        }
        idx[i] = ids[i];
        tdx[i] = t;
    }
    int64_t shape[2] = {B, L};
    mgv_tensor *we = mgv_embedding(b->word, idx, 2, shape);
    mgv_tensor *te = we ? mgv_embedding(b->type, tdx, 2, shape) : NULL;
    mgv_tensor *pe = te ? mgv_slice(b->pos, 0, 0, L, 1) : NULL;
    mgv_tensor *s1 = pe ? mgv_add(we, pe) : NULL;
    mgv_tensor *s2 = s1 ? mgv_add(s1, te) : NULL;
    mgv_tensor *x = s2 ? mgv_layer_norm(s2, b->ln_g, b->ln_b, b->cfg.layer_norm_eps) : NULL;
    mgv_tensor *out = NULL;
    if (x) out = training && b->cfg.hidden_dropout > 0
                     ? mgv_dropout(x, b->cfg.hidden_dropout, 1, rng ? rng : mgv_rng_global())
                     : mgv_retain(x);
    free(idx);
    mgv_release(we);
    mgv_release(te);
    mgv_release(pe);
    mgv_release(s1);
    mgv_release(s2);
    mgv_release(x);
    if (!out) mgv_error_context("bert embeddings");
    return out;
}

mgv_tensor *mgv_bert_forward(const mgv_bert *b, int64_t B, int64_t L, const int32_t *ids,
                             const int32_t *token_types, mgv_tensor *mask, int training,
                             mgv_rng *rng)
{
    mgv_tensor *x = mgv_bert_embed(b, B, L, ids, token_types, training, rng);
    if (!x) return NULL;
    mgv_tensor *h = mgv_transformer_encoder_forward(&b->enc, x, mask, training, rng);
    mgv_release(x);
    if (!h) mgv_error_context("bert");
    return h;
}

mgv_tensor *mgv_bert_pool(const mgv_bert *b, mgv_tensor *H)
{
    if (!b->pool_w) return mgv_fail_null("bert: the model has no pooler");
    if (!H || H->ndim != 3 || H->shape[2] != b->cfg.hidden) {
        char s[96];
        return mgv_fail_null("bert: pooler input %s is not [B x L x %d]",
                             H ? mgv_shape_str(H, s, sizeof s) : "NULL", b->cfg.hidden);
    }
    mgv_tensor *c = mgv_select(H, 1, 0);
    mgv_tensor *l = c ? mgv_linear(c, b->pool_w, b->pool_b) : NULL;
    mgv_tensor *out = l ? mgv_tanh(l) : NULL;
    mgv_release(c);
    mgv_release(l);
    return out;
}
