/*
 * patch_encoder.c — images to patch tokens (see patch_encoder.h).
 *
 * The patch split is a reshape and a permute: [B, C, H, W] ->
 * [B, C, gh, p, gw, p] -> [B, gh, gw, C, p, p] -> [B, P, C p p]; the
 * embedding is one linear layer with the conv weight viewed as [d, C p p].
 * All steps are autograd ops, so the backward pass comes for free.
 */
#include "nn/patch_encoder.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/scope.h"

mgv_patch_encoder_config mgv_patch_encoder_default_config(int image_size, int patch, int dim)
{
    mgv_patch_encoder_config c;
    memset(&c, 0, sizeof c);
    c.channels = 3;
    c.image_h = c.image_w = image_size;
    c.patch = patch;
    c.dim = dim;
    c.init_std = 0.02f;
    return c;
}

static int check_config(const mgv_patch_encoder_config *c)
{
    if (c->channels <= 0 || c->patch <= 0 || c->dim <= 0 || c->image_h <= 0 || c->image_w <= 0)
        return mgv_fail("patch encoder: channels %d, image %dx%d, patch %d, dim %d must be "
                        "positive", c->channels, c->image_h, c->image_w, c->patch, c->dim);
    if (c->image_h % c->patch || c->image_w % c->patch)
        return mgv_fail("patch encoder: image size %dx%d is not divisible by patch size %d",
                        c->image_h, c->image_w, c->patch);
    if (!(c->init_std >= 0))
        return mgv_fail("patch encoder: init_std %g must be >= 0", (double)c->init_std);
    return 0;
}

/* prefix.name as a new parameter of the given shape (U(+-bound), or zeros). */
static mgv_tensor *param(mgv_paramset *ps, const char *prefix, const char *name, int ndim,
                         const int64_t *shape, float bound, mgv_rng *rng)
{
    char full[256];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    return mgv_params_new(ps, full, ndim, shape, bound, rng);
}

int mgv_patch_encoder_init(mgv_patch_encoder *pe, mgv_paramset *ps, const char *prefix,
                           const mgv_patch_encoder_config *cfg, mgv_rng *rng)
{
    memset(pe, 0, sizeof *pe);
    if (check_config(cfg) < 0) return -1;
    if (!prefix || !*prefix) return mgv_fail("patch encoder: empty parameter prefix");
    if (strlen(prefix) > 200) return mgv_fail("patch encoder: parameter prefix too long");
    if (!rng) rng = mgv_rng_global();
    const mgv_patch_encoder_config *c = cfg;
    pe->cfg = *cfg;
    pe->grid_h = c->image_h / c->patch;
    pe->grid_w = c->image_w / c->patch;
    pe->n_patches = pe->grid_h * pe->grid_w;
    pe->n_tokens = pe->n_patches + (c->cls_token ? 1 : 0);
    int64_t fan_in = (int64_t)c->channels * c->patch * c->patch;
    float bound = 1.0f / sqrtf((float)fan_in);
    int64_t ws[4] = {c->dim, c->channels, c->patch, c->patch}, bs[1] = {c->dim};
    int64_t cs[3] = {1, 1, c->dim}, qs[3] = {1, pe->n_tokens, c->dim}, ps2[2] = {c->dim, c->dim};
    if (!(pe->patch_w = param(ps, prefix, "patch.weight", 4, ws, bound, rng)) ||
        !(pe->patch_b = param(ps, prefix, "patch.bias", 1, bs, bound, rng)))
        goto fail;
    if (c->cls_token) {
        if (!(pe->cls = param(ps, prefix, "cls_token", 3, cs, 0, rng))) goto fail;
        if (c->init_std > 0) mgv_fill_normal_(pe->cls, rng, 0.0f, c->init_std);
    }
    if (!(pe->pos = param(ps, prefix, "position_embeddings", 3, qs, 0, rng))) goto fail;
    if (c->init_std > 0) mgv_fill_normal_(pe->pos, rng, 0.0f, c->init_std);
    if (c->extra_layer) {
        float pb = 1.0f / sqrtf((float)c->dim);
        if (!(pe->proj_w = param(ps, prefix, "proj.weight", 2, ps2, pb, rng)) ||
            !(pe->proj_b = param(ps, prefix, "proj.bias", 1, bs, pb, rng)))
            goto fail;
    }
    return 0;
fail:
    mgv_error_context("patch encoder '%s'", prefix);
    return -1;
}

/* Checks the image batch against the configuration. */
static int check_images(const mgv_patch_encoder *pe, const mgv_tensor *im)
{
    const mgv_patch_encoder_config *c = &pe->cfg;
    char s[96];
    if (!im) return mgv_fail("patch encoder: no images");
    if (im->ndim != 4)
        return mgv_fail("patch encoder: images %s must be [B x C x H x W]",
                        mgv_shape_str(im, s, sizeof s));
    if (im->shape[0] == 0)
        return mgv_fail("patch encoder: images %s: empty batch", mgv_shape_str(im, s, sizeof s));
    if (im->shape[1] != c->channels)
        return mgv_fail("patch encoder: images %s have %lld channels, expected %d",
                        mgv_shape_str(im, s, sizeof s), (long long)im->shape[1], c->channels);
    if (im->shape[2] % c->patch || im->shape[3] % c->patch)
        return mgv_fail("patch encoder: images %s: height %lld and width %lld must be "
                        "divisible by the patch size %d",
                        mgv_shape_str(im, s, sizeof s), (long long)im->shape[2],
                        (long long)im->shape[3], c->patch);
    if (im->shape[2] != c->image_h || im->shape[3] != c->image_w)
        return mgv_fail("patch encoder: images %s are %lldx%lld, the encoder was built for "
                        "%dx%d", mgv_shape_str(im, s, sizeof s), (long long)im->shape[2],
                        (long long)im->shape[3], c->image_h, c->image_w);
    return 0;
}

mgv_tensor *mgv_patch_encoder_forward(const mgv_patch_encoder *pe, mgv_tensor *images,
                                      mgv_tensor *present, mgv_tensor **mask_out)
{
    if (mask_out) *mask_out = NULL;
    if (!pe || !pe->patch_w) return mgv_fail_null("patch encoder: not initialised");
    if (check_images(pe, images) < 0) return NULL;
    const mgv_patch_encoder_config *c = &pe->cfg;
    int64_t B = images->shape[0], C = c->channels, p = c->patch, d = c->dim;
    int64_t gh = pe->grid_h, gw = pe->grid_w, P = pe->n_patches, N = pe->n_tokens;
    char s[96];
    if (present && mgv_numel(present) != B)
        return mgv_fail_null("patch encoder: present %s does not fit a batch of %lld images",
                             mgv_shape_str(present, s, sizeof s), (long long)B);

    /* per-sample presence flags; a multiplier only when some sample is absent */
    mgv_scope scope = MGV_SCOPE("patch encoder"), *sc = &scope;
    mgv_tensor *keep = NULL, *t, *w2, *e, *out = NULL;
    int64_t ks[3] = {B, 1, 1};
    if (present) {
        int absent = 0;
        for (int64_t b = 0; b < B; b++) absent |= mgv_get_flat(present, b) == 0;
        if (absent) {
            MGV_TRY(sc, keep, mgv_empty(3, ks));
            for (int64_t b = 0; b < B; b++)
                mgv_data(keep)[b] = mgv_get_flat(present, b) != 0 ? 1.0f : 0.0f;
        }
    }

    /* patches [B, P, C p p] in row-major patch order */
    int64_t s6[6] = {B, C, gh, p, gw, p}, s3[3] = {B, P, C * p * p}, s2[2] = {d, C * p * p};
    static const int perm[6] = {0, 2, 4, 1, 3, 5};
    MGV_TRY(sc, t, mgv_reshape(images, 6, s6));
    MGV_TRY(sc, t, mgv_permute(t, perm));
    MGV_TRY(sc, t, mgv_reshape(t, 3, s3));
    MGV_TRY(sc, w2, mgv_reshape(pe->patch_w, 2, s2));
    MGV_TRY(sc, e, mgv_linear(t, w2, pe->patch_b));                    /* [B, P, d] */
    if (pe->proj_w) {
        MGV_TRY(sc, e, mgv_gelu(e));
        MGV_TRY(sc, e, mgv_linear(e, pe->proj_w, pe->proj_b));
    }
    if (pe->cls) {
        int64_t cs[3] = {B, 1, d};
        mgv_tensor *cls, *parts[2];
        MGV_TRY(sc, cls, mgv_expand(pe->cls, 3, cs));
        parts[0] = cls;
        parts[1] = e;
        MGV_TRY(sc, e, mgv_concat(2, parts, 1));
    }
    if (keep) {
        MGV_TRY(sc, e, mgv_add(e, pe->pos));
        out = mgv_mul(e, keep);    /* absent samples: zero tokens, no gradient */
    } else {
        out = mgv_add(e, pe->pos);
    }
    if (out && mask_out) {
        int64_t ms[2] = {B, N};
        *mask_out = mgv_ones(2, ms);
        if (!*mask_out) {
            mgv_release(out);
            out = NULL;
        } else if (keep) {
            for (int64_t b = 0; b < B; b++)
                if (mgv_data(keep)[b] == 0)
                    for (int64_t j = 0; j < N; j++) mgv_data(*mask_out)[b * N + j] = 0;
        }
    }
fail:
    mgv_scope_close(sc);
    return out;
}
