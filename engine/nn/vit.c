/*
 * vit.c — ViT forward, HF loading and cached frozen features (see vit.h).
 */
#include "nn/vit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "formats/image.h"
#include "formats/safetensors.h"
#include "nn/hf.h"

mgv_vit_config mgv_vit_base_config(void)
{
    mgv_vit_config c = {768, 12, 12, 3072, 384, 16, 3, 1e-12f, 0.02f};
    return c;
}

int mgv_vit_read_config(const char *path, mgv_vit_config *cfg)
{
    const mgv_hf_field f[] = {
        {"hidden_size", 0, &cfg->hidden},
        {"num_hidden_layers", 0, &cfg->layers},
        {"num_attention_heads", 0, &cfg->heads},
        {"intermediate_size", 0, &cfg->intermediate},
        {"image_size", 0, &cfg->image_size},
        {"patch_size", 0, &cfg->patch},
        {"num_channels", 0, &cfg->channels},
        {"layer_norm_eps", 1, &cfg->layer_norm_eps},
        {"initializer_range", 1, &cfg->init_std},
    };
    return mgv_hf_read_config(path, (int)(sizeof f / sizeof *f), f);
}

int mgv_vit_init(mgv_vit *v, mgv_paramset *ps, const char *prefix, const mgv_vit_config *cfg,
                 mgv_rng *rng)
{
    memset(v, 0, sizeof *v);
    int n0 = ps->n;
    if (!prefix) prefix = "";
    if (strlen(prefix) >= sizeof v->prefix) return mgv_fail("vit: prefix '%s' too long", prefix);
    if (cfg->patch < 1 || cfg->image_size < 1 || cfg->channels < 1 || cfg->layers < 1 ||
        cfg->image_size % cfg->patch)
        return mgv_fail("vit: image size %d must be a positive multiple of the patch size %d "
                        "(channels %d, layers %d)", cfg->image_size, cfg->patch, cfg->channels,
                        cfg->layers);
    if (!rng) rng = mgv_rng_global();
    v->cfg = *cfg;
    snprintf(v->prefix, sizeof v->prefix, "%s", prefix);
    v->grid = cfg->image_size / cfg->patch;
    v->n_tokens = 1 + v->grid * v->grid;
    int64_t H = cfg->hidden, p = cfg->patch;
    float sd = cfg->init_std;
    int64_t cs[3] = {1, 1, H}, ps_[3] = {1, v->n_tokens, H}, ws[4] = {H, cfg->channels, p, p},
            hs[1] = {H};
    if (!(v->cls = mgv_hf_new_param(ps, prefix, "embeddings.cls_token", 3, cs, sd, 0, rng)) ||
        !(v->pos = mgv_hf_new_param(ps, prefix, "embeddings.position_embeddings", 3, ps_, sd, 0, rng)) ||
        !(v->patch_w = mgv_hf_new_param(ps, prefix, "embeddings.patch_embeddings.projection.weight", 4,
                                 ws, sd, 0, rng)) ||
        !(v->patch_b = mgv_hf_new_param(ps, prefix, "embeddings.patch_embeddings.projection.bias", 1, hs,
                                 0, 0, rng)))
        goto fail;
    mgv_transformer_config tc = mgv_transformer_default_config(cfg->hidden, cfg->heads,
                                                               cfg->intermediate);
    tc.layer_norm_eps = cfg->layer_norm_eps;
    tc.hidden_dropout = 0;
    tc.attention_dropout = 0;
    tc.init_std = sd;
    char enc[160];
    snprintf(enc, sizeof enc, "%sencoder.layer", prefix);
    if (mgv_transformer_encoder_init(&v->enc, ps, enc, cfg->layers, &tc, MGV_TRANSFORMER_PRE_LN,
                                     rng) < 0)
        goto fail;
    if (!(v->ln_g = mgv_hf_new_param(ps, prefix, "layernorm.weight", 1, hs, 0, 1, rng)) ||
        !(v->ln_b = mgv_hf_new_param(ps, prefix, "layernorm.bias", 1, hs, 0, 0, rng)))
        goto fail;
    return 0;
fail:
    mgv_error_context("vit");
    mgv_vit_free(v);
    mgv_hf_params_truncate(ps, n0);
    return -1;
}

void mgv_vit_free(mgv_vit *v)
{
    if (v->enc.layers) mgv_transformer_encoder_free(&v->enc);
    memset(v, 0, sizeof *v);
}

int mgv_vit_load_weights(mgv_vit *v, mgv_paramset *ps, const char *path)
{
    return mgv_hf_load_params(ps, v->prefix, path, "vit", "vit", NULL);
}

int mgv_vit_load_dir(mgv_vit *v, mgv_paramset *ps, const char *prefix, const char *dir,
                     mgv_rng *rng)
{
    char cpath[4096], wpath[4096];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", dir);
    mgv_vit_config cfg = mgv_vit_base_config();
    if (mgv_vit_read_config(cpath, &cfg) < 0) {
        mgv_error_context("vit");
        return -1;
    }
    int n0 = ps->n;
    if (mgv_vit_init(v, ps, prefix, &cfg, rng) < 0) return -1;
    if (mgv_vit_load_weights(v, ps, wpath) < 0) {
        mgv_vit_free(v);
        mgv_hf_params_truncate(ps, n0);
        return -1;
    }
    return 0;
}

/* ---- forward ------------------------------------------------------------------ */

mgv_tensor *mgv_vit_forward(const mgv_vit *v, mgv_tensor *images)
{
    if (!v || !v->cls) return mgv_fail_null("vit: model is not initialised");
    const mgv_vit_config *c = &v->cfg;
    char s[96];
    if (!images || images->ndim != 4 || images->shape[1] != c->channels ||
        images->shape[2] != c->image_size || images->shape[3] != c->image_size ||
        images->shape[0] < 1)
        return mgv_fail_null("vit: images %s do not fit the model (expected [B x %d x %d x %d])",
                             images ? mgv_shape_str(images, s, sizeof s) : "NULL", c->channels,
                             c->image_size, c->image_size);
    int64_t B = images->shape[0], g = v->grid, p = c->patch, C = c->channels, H = c->hidden;
    int64_t s6[6] = {B, C, g, p, g, p}, s3[3] = {B, g * g, C * p * p}, w2[2] = {H, C * p * p},
            cs[3] = {B, 1, H};
    static const int perm[6] = {0, 2, 4, 1, 3, 5};   /* [B, gy, gx, C, py, px] */
    mgv_tensor *a = NULL, *b = NULL, *x = NULL, *w = NULL, *e = NULL, *cls = NULL, *t = NULL,
               *t2 = NULL, *h = NULL, *out = NULL;
    if (!(a = mgv_reshape(images, 6, s6)) || !(b = mgv_permute(a, perm)) ||
        !(x = mgv_reshape(b, 3, s3)) || !(w = mgv_reshape(v->patch_w, 2, w2)) ||
        !(e = mgv_linear(x, w, v->patch_b)) || !(cls = mgv_expand(v->cls, 3, cs)))
        goto done;
    mgv_tensor *parts[2] = {cls, e};
    if (!(t = mgv_concat(2, parts, 1)) || !(t2 = mgv_add(t, v->pos)) ||
        !(h = mgv_transformer_encoder_forward(&v->enc, t2, NULL, 0, NULL)))
        goto done;
    out = mgv_layer_norm(h, v->ln_g, v->ln_b, c->layer_norm_eps);
done:
    if (!out) mgv_error_context("vit");
    mgv_tensor *all[9] = {a, b, x, w, e, cls, t, t2, h};
    for (int i = 0; i < 9; i++) mgv_release(all[i]);
    return out;
}

int64_t mgv_vit_feature_tokens(const mgv_vit *v, int pool)
{
    if (pool == 0) return v->n_tokens;
    if (pool < 0 || v->grid % pool)
        return mgv_fail("vit: pool %d must divide the %lld x %lld patch grid (or be 0: all "
                        "tokens)", pool, (long long)v->grid, (long long)v->grid);
    return 1 + (int64_t)pool * pool;
}

/* rows of h [B, 1 + g^2, H] into dst [B, P, H]: all tokens, or the CLS token
 * and cell averages of a pool x pool grid */
static void pool_tokens(const mgv_vit *v, const float *h, int64_t B, int pool, float *dst)
{
    int64_t H = v->cfg.hidden, g = v->grid, T = v->n_tokens;
    if (pool == 0) {
        memcpy(dst, h, sizeof(float) * (size_t)(B * T * H));
        return;
    }
    int64_t P = 1 + (int64_t)pool * pool, cell = g / pool;
    float inv = 1.0f / (float)(cell * cell);
    for (int64_t b = 0; b < B; b++) {
        const float *hb = h + b * T * H;
        float *db = dst + b * P * H;
        memcpy(db, hb, sizeof(float) * (size_t)H);
        memset(db + H, 0, sizeof(float) * (size_t)((P - 1) * H));
        for (int64_t y = 0; y < g; y++)
            for (int64_t x = 0; x < g; x++) {
                const float *src = hb + (1 + y * g + x) * H;
                float *acc = db + (1 + (y / cell) * pool + x / cell) * H;
                for (int64_t k = 0; k < H; k++) acc[k] += src[k];
            }
        for (int64_t k = H; k < P * H; k++) db[k] *= inv;
    }
}

/* ---- the cache key --------------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdULL;
}

static uint64_t hash_floats(uint64_t h, const mgv_tensor *t)
{
    mgv_tensor *c = mgv_contiguous_data((mgv_tensor *)t);
    if (!c) return mix(h, 1);
    const uint32_t *w = (const uint32_t *)mgv_data(c);
    int64_t n = mgv_numel(c);
    /* four interleaved lanes: fast on 100M words */
    uint64_t l[4] = {h, h ^ 1, h ^ 2, h ^ 3};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) l[k] = (l[k] ^ w[i + k]) * 0x100000001b3ULL;
    for (; i < n; i++) l[0] = (l[0] ^ w[i]) * 0x100000001b3ULL;
    mgv_release(c);
    for (int k = 0; k < 4; k++) h = mix(h, l[k]);
    return mix(h, (uint64_t)n);
}

static uint64_t model_key(const mgv_vit *v, int pool)
{
    const mgv_vit_config *c = &v->cfg;
    uint64_t h = 0x6d67762d76697431ULL;   /* "mgv-vit1" */
    int ints[8] = {c->hidden, c->layers, c->heads, c->intermediate, c->image_size, c->patch,
                   c->channels, pool};
    for (int i = 0; i < 8; i++) h = mix(h, (uint64_t)ints[i]);
    float eps = c->layer_norm_eps;
    uint32_t eb;
    memcpy(&eb, &eps, 4);
    h = mix(h, eb);
    mgv_tensor *own[6] = {v->cls, v->pos, v->patch_w, v->patch_b, v->ln_g, v->ln_b};
    for (int i = 0; i < 6; i++) h = hash_floats(h, own[i]);
    for (int l = 0; l < v->enc.n_layers; l++) {
        const mgv_transformer_layer *y = &v->enc.layers[l];
        mgv_tensor *ts[16] = {y->q_w, y->q_b, y->k_w, y->k_b, y->v_w, y->v_b, y->o_w, y->o_b,
                              y->ln1_g, y->ln1_b, y->i_w, y->i_b, y->f_w, y->f_b, y->ln2_g,
                              y->ln2_b};
        for (int i = 0; i < 16; i++) h = hash_floats(h, ts[i]);
    }
    return h;
}

/* The cached features when the file exists and its key matches, else NULL
 * (no message: the caller computes them). */
static mgv_tensor *cache_read(const char *cache, const char *key, int64_t n, int64_t P, int64_t H,
                              uint8_t *present)
{
    if (!cache) return NULL;
    struct stat st;
    if (stat(cache, &st) != 0) return NULL;
    mgv_st_file *f = mgv_safetensors_load(cache);
    if (!f) {
        mgv_clear_error();
        return NULL;
    }
    mgv_tensor *out = NULL;
    const char *k = mgv_st_meta(f, "mgv_vit_key");
    mgv_tensor *t = mgv_st_get(f, "features"), *pr = mgv_st_get(f, "present");
    if (k && strcmp(k, key) == 0 && t && t->ndim == 3 && t->shape[0] == n && t->shape[1] == P &&
        t->shape[2] == H && (!present || (pr && mgv_numel(pr) == n))) {
        out = mgv_clone_data(t);
        if (out && present)
            for (int64_t i = 0; i < n; i++) present[i] = mgv_get_flat(pr, i) != 0;
    }
    mgv_st_free(f);
    return out;
}

static int cache_write(const char *cache, const char *key, mgv_tensor *feat, const uint8_t *present)
{
    if (!cache) return 0;
    const char *names[2] = {"features", "present"};
    mgv_tensor *ts[2] = {feat, NULL};
    int n = 1;
    if (present) {
        int64_t s[1] = {feat->shape[0]};
        if (!(ts[1] = mgv_zeros(1, s))) return -1;
        for (int64_t i = 0; i < s[0]; i++) mgv_data(ts[1])[i] = present[i] ? 1.0f : 0.0f;
        n = 2;
    }
    const char *mk[2] = {"mgv_vit_key", "format"}, *mv[2] = {key, "mgv-vit-features-1"};
    int rc = mgv_safetensors_save(cache, n, names, ts, 2, mk, mv);
    mgv_release(ts[1]);
    if (rc < 0) mgv_error_context("vit: feature cache");
    return rc;
}

/* ---- features ---------------------------------------------------------------------- */

/* The batch source: a tensor of images, or files read into a buffer. */
typedef struct {
    mgv_tensor *images;
    const char *const *paths;
    int fail;
    uint8_t *present;
} source;

static int compute(const mgv_vit *v, const source *src, int64_t n, int batch, int pool,
                   mgv_tensor *out, mgv_vit_progress progress, void *ctx)
{
    int64_t H = v->cfg.hidden, P = out->shape[1], S = v->cfg.image_size, C = v->cfg.channels;
    int prev = mgv_set_grad_enabled(0);
    int rc = 0;
    for (int64_t first = 0; first < n && rc == 0; first += batch) {
        int64_t m = n - first < batch ? n - first : batch;
        mgv_tensor *imgs = NULL;
        if (src->images) {
            imgs = mgv_slice(src->images, 0, first, first + m, 1);
        } else {
            int64_t s4[4] = {m, C, S, S};
            imgs = mgv_zeros(4, s4);
            for (int64_t i = 0; imgs && i < m; i++) {
                int r = mgv_image_load_into(src->paths[first + i], (int)S,
                                            src->fail ? MGV_IMAGE_FAIL : MGV_IMAGE_BLANK,
                                            mgv_data(imgs) + i * C * S * S);
                if (r < 0) {
                    mgv_error_context("vit");
                    rc = -1;
                    break;
                }
                if (src->present) src->present[first + i] = r == MGV_IMAGE_OK;
                if (r != MGV_IMAGE_OK) mgv_clear_error();   /* a blank picture, not an error */
            }
        }
        mgv_tensor *h = imgs && rc == 0 ? mgv_vit_forward(v, imgs) : NULL;
        mgv_tensor *hc = h ? mgv_contiguous_data(h) : NULL;
        if (!hc) {
            rc = -1;
        } else {
            pool_tokens(v, mgv_data(hc), m, pool, mgv_data(out) + first * P * H);
            if (src->present)   /* no picture: zero features */
                for (int64_t i = 0; i < m; i++)
                    if (!src->present[first + i])
                        memset(mgv_data(out) + (first + i) * P * H, 0, sizeof(float) * (size_t)(P * H));
        }
        mgv_release(imgs);
        mgv_release(h);
        mgv_release(hc);
        if (rc == 0 && mgv_interrupted()) rc = mgv_fail("vit: features: interrupted");
        if (rc == 0 && progress && progress(first + m, n, ctx))
            rc = mgv_fail("vit: features: cancelled");
    }
    mgv_set_grad_enabled(prev);
    return rc;
}

static mgv_tensor *features(const mgv_vit *v, const source *src, int64_t n, int batch, int pool,
                            const char *cache, uint64_t key, mgv_vit_progress progress, void *ctx)
{
    if (batch < 1) return mgv_fail_null("vit: batch %d must be positive", batch);
    int64_t P = mgv_vit_feature_tokens(v, pool), H = v->cfg.hidden;
    if (P < 0) return NULL;
    char keystr[40];
    snprintf(keystr, sizeof keystr, "%016llx", (unsigned long long)mix(key, model_key(v, pool)));
    mgv_tensor *out = cache_read(cache, keystr, n, P, H, src->present);
    if (out) {
        if (progress) progress(n, n, ctx);
        return out;
    }
    int64_t s[3] = {n, P, H};
    if (!(out = mgv_zeros(3, s))) return NULL;
    if (compute(v, src, n, batch, pool, out, progress, ctx) < 0 ||
        cache_write(cache, keystr, out, src->present) < 0) {
        mgv_release(out);
        return NULL;
    }
    return out;
}

mgv_tensor *mgv_vit_features(const mgv_vit *v, mgv_tensor *images, int batch, int pool,
                             const char *cache, mgv_vit_progress progress, void *ctx)
{
    char s[96];
    const mgv_vit_config *c = &v->cfg;
    if (!images || images->ndim != 4 || images->shape[1] != c->channels ||
        images->shape[2] != c->image_size || images->shape[3] != c->image_size)
        return mgv_fail_null("vit: images %s do not fit the model (expected [N x %d x %d x %d])",
                             images ? mgv_shape_str(images, s, sizeof s) : "NULL", c->channels,
                             c->image_size, c->image_size);
    source src = {images, NULL, 0, NULL};
    return features(v, &src, images->shape[0], batch, pool, cache, hash_floats(7, images),
                    progress, ctx);
}

mgv_tensor *mgv_vit_features_files(const mgv_vit *v, int n, const char *const *paths, int fail,
                                   int batch, int pool, const char *cache, uint8_t *present,
                                   mgv_vit_progress progress, void *ctx)
{
    if (n < 1) return mgv_fail_null("vit: no pictures");
    uint8_t *own = present ? NULL : malloc((size_t)n);
    if (!present && !own) return mgv_fail_null("vit: out of memory");
    source src = {NULL, paths, fail, present ? present : own};
    uint64_t key = 11;
    for (int i = 0; i < n; i++) {
        const char *p = paths[i] ? paths[i] : "";
        for (const char *q = p; *q; q++) key = mix(key, (unsigned char)*q);
        struct stat st;
        if (stat(p, &st) == 0) {
            key = mix(key, (uint64_t)st.st_size);
            key = mix(key, (uint64_t)st.st_mtime);
        } else {
            key = mix(key, 0xdeadULL);
        }
        key = mix(key, 0x2f2f);
    }
    mgv_tensor *out = features(v, &src, n, batch, pool, cache, key, progress, ctx);
    free(own);
    return out;
}
