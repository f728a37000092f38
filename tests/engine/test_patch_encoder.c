/*
 * test_patch_encoder.c — images to patch tokens (engine/nn/patch_encoder.c).
 *
 * Checks: token shapes and parameter names; a 1-patch image computed by hand
 * (with the CLS token, with and without the GELU + linear layer); agreement
 * with a direct stride-p convolution written as loops, on a non-square,
 * non-contiguous image batch; "no image" samples (zero tokens, zero mask
 * row, no gradient, and a transformer layer over them stays finite); a
 * finite-difference gradient check; error messages.
 */
#include <stdlib.h>

#include "check.h"
#include "gradcheck.h"
#include "mgv.h"
#include "core/params.h"
#include "nn/patch_encoder.h"
#include "nn/transformer.h"

static int all_finite(mgv_tensor *t)
{
    for (int64_t i = 0; i < mgv_numel(t); i++)
        if (!isfinite(mgv_get_flat(t, i))) return 0;
    return 1;
}

static void set_values(mgv_tensor *t, const float *v)
{
    for (int64_t i = 0; i < mgv_numel(t); i++) mgv_set_flat(t, i, v[i]);
}

static void test_shapes_and_names(void)
{
    mgv_patch_encoder_config cfg = mgv_patch_encoder_default_config(8, 4, 5);
    mgv_paramset ps;
    mgv_params_init(&ps);
    mgv_patch_encoder pe;
    CHECK(mgv_patch_encoder_init(&pe, &ps, "vision", &cfg, NULL) == 0);
    CHECK(pe.n_patches == 4 && pe.n_tokens == 4 && ps.n == 3);
    mgv_tensor *w = mgv_params_get(&ps, "vision.patch.weight");
    CHECK(w && w->ndim == 4 && w->shape[0] == 5 && w->shape[1] == 3 && w->shape[2] == 4 &&
          w->shape[3] == 4);
    CHECK(mgv_params_get(&ps, "vision.patch.bias") != NULL);
    mgv_tensor *pos = mgv_params_get(&ps, "vision.position_embeddings");
    CHECK(pos && pos->ndim == 3 && pos->shape[0] == 1 && pos->shape[1] == 4 && pos->shape[2] == 5);
    /* Conv2d-style init: |w| <= 1/sqrt(48) */
    double mx = 0;
    for (int64_t i = 0; w && i < mgv_numel(w); i++)
        mx = fmax(mx, fabs(mgv_get_flat(w, i)));
    CHECK(mx > 0 && mx <= 1 / sqrt(48.0));

    int64_t is[4] = {2, 3, 8, 8};
    mgv_tensor *im = gradcheck_input(4, is, 1, 0, 1), *mask = NULL;
    mgv_tensor *y = mgv_patch_encoder_forward(&pe, im, NULL, &mask);
    CHECK(y && y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 4 && y->shape[2] == 5);
    CHECK(mask && mask->ndim == 2 && mask->shape[0] == 2 && mask->shape[1] == 4);
    for (int64_t i = 0; mask && i < 8; i++) CHECK(mgv_get_flat(mask, i) == 1.0f);
    mgv_release(y);
    mgv_release(mask);

    /* with the CLS token and the extra layer: 5 tokens, 6 parameters, rectangular image */
    mgv_paramset ps2;
    mgv_params_init(&ps2);
    cfg.cls_token = cfg.extra_layer = 1;
    cfg.image_w = 12;
    CHECK(mgv_patch_encoder_init(&pe, &ps2, "vision", &cfg, NULL) == 0);
    CHECK(pe.grid_h == 2 && pe.grid_w == 3 && pe.n_tokens == 7 && ps2.n == 6);
    CHECK(mgv_params_get(&ps2, "vision.cls_token") && mgv_params_get(&ps2, "vision.proj.weight") &&
          mgv_params_get(&ps2, "vision.proj.bias"));
    int64_t is2[4] = {1, 3, 8, 12};
    mgv_tensor *im2 = gradcheck_input(4, is2, 2, 0, 1);
    y = mgv_patch_encoder_forward(&pe, im2, NULL, NULL);
    CHECK(y && y->shape[0] == 1 && y->shape[1] == 7 && y->shape[2] == 5 && all_finite(y));
    mgv_release(y);
    mgv_release(im);
    mgv_release(im2);
    mgv_params_free(&ps);
    mgv_params_free(&ps2);
}

/* A 2x2 RGB image, patch 2, d 2: pixel (c, i, j) = 4c + 2i + j + 1 (1..12).
 * Weight row 0 all ones -> 78; row 1 alternating +1, -1 -> -6. Bias (0.5, -1),
 * CLS (1, 2), positions ((0.1, 0.2), (0.3, 0.4)):
 *   token 0 = CLS + pos0 = (1.1, 2.2); token 1 = (78.5 + 0.3, -7 + 0.4).
 * With proj = diag(1, 2), bias 0 after GELU: GELU(78.5) = 78.5 and
 * GELU(-7) = -7 Phi(-7) = -9.0e-12, so token 1 = (78.8, 0.4). */
static void test_one_patch_by_hand(void)
{
    for (int extra = 0; extra < 2; extra++) {
        mgv_patch_encoder_config cfg = mgv_patch_encoder_default_config(2, 2, 2);
        cfg.cls_token = 1;
        cfg.extra_layer = extra;
        mgv_paramset ps;
        mgv_params_init(&ps);
        mgv_patch_encoder pe;
        CHECK(mgv_patch_encoder_init(&pe, &ps, "v", &cfg, NULL) == 0);
        float w[24], px[12];
        for (int i = 0; i < 12; i++) {
            w[i] = 1;
            w[12 + i] = i % 2 ? -1.0f : 1.0f;
            px[i] = (float)(i + 1);
        }
        set_values(pe.patch_w, w);
        set_values(pe.patch_b, (float[]){0.5f, -1.0f});
        set_values(pe.cls, (float[]){1, 2});
        set_values(pe.pos, (float[]){0.1f, 0.2f, 0.3f, 0.4f});
        if (extra) {
            set_values(pe.proj_w, (float[]){1, 0, 0, 2});
            set_values(pe.proj_b, (float[]){0, 0});
        }
        int64_t is[4] = {1, 3, 2, 2};
        mgv_tensor *im = mgv_from_data(4, is, px);
        mgv_tensor *y = mgv_patch_encoder_forward(&pe, im, NULL, NULL);
        CHECK(y && mgv_numel(y) == 4);
        if (y) {
            CHECK_NEAR(mgv_get_flat(y, 0), 1.1, 1e-6);
            CHECK_NEAR(mgv_get_flat(y, 1), 2.2, 1e-6);
            CHECK_NEAR(mgv_get_flat(y, 2), 78.8, 1e-5);
            CHECK_NEAR(mgv_get_flat(y, 3), extra ? 0.4 : -6.6, 1e-5);
        }
        mgv_release(y);
        mgv_release(im);
        mgv_params_free(&ps);
    }
}

/* Against out[b, r gw + q, o] = bias[o] + pos[r gw + q, o]
 *   + sum_{c,i,j} W[o,c,i,j] img[b,c,r p + i,q p + j]
 * on a 4x6 two-channel image given as a transposed (non-contiguous) view. */
static void test_matches_direct_convolution(void)
{
    mgv_patch_encoder_config cfg = mgv_patch_encoder_default_config(4, 2, 3);
    cfg.channels = 2;
    cfg.image_w = 6;
    mgv_paramset ps;
    mgv_params_init(&ps);
    mgv_patch_encoder pe;
    mgv_rng r;
    mgv_rng_seed(&r, 4);
    CHECK(mgv_patch_encoder_init(&pe, &ps, "v", &cfg, &r) == 0);
    mgv_fill_uniform_(pe.pos, &r, -1, 1);
    int64_t ts[4] = {2, 2, 6, 4};   /* [B, C, W, H] */
    mgv_tensor *raw = gradcheck_input(4, ts, 9, -1, 1);
    mgv_tensor *im = mgv_transpose(raw, 2, 3);   /* [B, C, H, W], not contiguous */
    CHECK(im && !mgv_is_contiguous(im));
    mgv_tensor *y = mgv_patch_encoder_forward(&pe, im, NULL, NULL);
    CHECK(y && y->shape[1] == 6 && y->shape[2] == 3);
    double worst = 0;
    for (int b = 0; y && b < 2; b++)
        for (int rr = 0; rr < 2; rr++)
            for (int q = 0; q < 3; q++)
                for (int o = 0; o < 3; o++) {
                    double s = mgv_get_flat(pe.patch_b, o) +
                               mgv_get_flat(pe.pos, (rr * 3 + q) * 3 + o);
                    for (int c = 0; c < 2; c++)
                        for (int i = 0; i < 2; i++)
                            for (int j = 0; j < 2; j++) {
                                int h = rr * 2 + i, w = q * 2 + j;
                                double px = mgv_get_flat(raw, ((b * 2 + c) * 6 + w) * 4 + h);
                                s += mgv_get_flat(pe.patch_w, ((o * 2 + c) * 2 + i) * 2 + j) * px;
                            }
                    double got = mgv_get_flat(y, (b * 6 + rr * 3 + q) * 3 + o);
                    worst = fmax(worst, fabs(got - s));
                }
    CHECK(worst < 1e-5);
    mgv_release(y);
    mgv_release(im);
    mgv_release(raw);
    mgv_params_free(&ps);
}

/* Sample 1 has no image: zero tokens, zero mask row, no gradient to its
 * pixels; sample 0 is as without `present`; a transformer layer over the
 * tokens with that mask stays finite. */
static void test_no_image_samples(void)
{
    mgv_patch_encoder_config cfg = mgv_patch_encoder_default_config(4, 2, 4);
    cfg.cls_token = 1;
    cfg.extra_layer = 1;
    mgv_paramset ps;
    mgv_params_init(&ps);
    mgv_patch_encoder pe;
    CHECK(mgv_patch_encoder_init(&pe, &ps, "vision", &cfg, NULL) == 0);
    int64_t is[4] = {2, 3, 4, 4}, bs[1] = {2};
    mgv_tensor *im = gradcheck_input(4, is, 3, 0, 1);
    mgv_set_requires_grad(im, 1);
    mgv_tensor *present = mgv_from_data(1, bs, (float[]){1, 0}), *mask = NULL;
    mgv_tensor *y = mgv_patch_encoder_forward(&pe, im, present, &mask);
    mgv_tensor *all = mgv_patch_encoder_forward(&pe, im, NULL, NULL);
    CHECK(y && mask && all);
    int64_t N = pe.n_tokens;   /* 5 */
    for (int64_t i = 0; y && all && i < N * 4; i++) {
        CHECK(mgv_get_flat(y, i) == mgv_get_flat(all, i));
        CHECK(mgv_get_flat(y, N * 4 + i) == 0.0f);
    }
    for (int64_t j = 0; mask && j < N; j++) {
        CHECK(mgv_get_flat(mask, j) == 1.0f);
        CHECK(mgv_get_flat(mask, N + j) == 0.0f);
    }

    /* a transformer layer over these tokens: the absent sample has no keys */
    mgv_transformer_config tc = mgv_transformer_default_config(4, 2, 8);
    mgv_transformer_layer layer;
    CHECK(mgv_transformer_layer_init(&layer, &ps, "vision.encoder.0", &tc, MGV_TRANSFORMER_PRE_LN,
                                     NULL) == 0);
    mgv_tensor *h = y && mask ? mgv_transformer_layer_forward(&layer, y, mask, 1, NULL) : NULL;
    CHECK(h && all_finite(h));
    mgv_tensor *w = h ? gradcheck_input(3, h->shape, 8, -1, 1) : NULL;
    CHECK(h && mgv_backward(h, w) == 0);
    CHECK(im->grad && all_finite(im->grad));
    double g0 = 0, g1 = 0;
    for (int64_t i = 0; im->grad && i < 48; i++) {
        g0 += fabs(mgv_get_flat(im->grad, i));
        g1 += fabs(mgv_get_flat(im->grad, 48 + i));
    }
    CHECK(g0 > 0 && g1 == 0);
    for (int i = 0; i < ps.n; i++) CHECK(ps.tensors[i]->grad && all_finite(ps.tensors[i]->grad));
    mgv_tensor *tmp[] = {y, all, mask, im, present, h, w};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) mgv_release(tmp[i]);
    mgv_params_free(&ps);
}

typedef struct {
    mgv_patch_encoder *pe;
    mgv_tensor *present;
} fd_ctx;

static mgv_tensor *fd_forward(mgv_tensor **in, void *ctx)
{
    fd_ctx *c = ctx;
    return mgv_patch_encoder_forward(c->pe, in[0], c->present, NULL);
}

/* 3-channel 4x4 images, patch 2, d 3, CLS token and extra layer, batch 2
 * with both samples present and then one absent. Inputs: the images and all
 * 6 parameters. Tolerance: gradcheck's default (h 1e-2, atol 2e-3, rtol 1e-2). */
static void test_gradcheck(void)
{
    for (int absent = 0; absent < 2; absent++) {
        mgv_patch_encoder_config cfg = mgv_patch_encoder_default_config(4, 2, 3);
        cfg.cls_token = 1;
        cfg.extra_layer = 1;
        mgv_paramset ps;
        mgv_params_init(&ps);
        mgv_patch_encoder pe;
        CHECK(mgv_patch_encoder_init(&pe, &ps, "v", &cfg, NULL) == 0);
        mgv_rng r;
        mgv_rng_seed(&r, 6);
        for (int i = 0; i < ps.n; i++) mgv_fill_uniform_(ps.tensors[i], &r, -0.7f, 0.7f);
        int64_t is[4] = {2, 3, 4, 4}, bs[1] = {2};
        mgv_tensor *in[7];
        in[0] = gradcheck_input(4, is, 10, -1, 1);
        for (int i = 0; i < 6; i++) in[1 + i] = ps.tensors[i];
        mgv_tensor *present = absent ? mgv_from_data(1, bs, (float[]){0, 1}) : NULL;
        fd_ctx c = {&pe, present};
        gradcheck_opts opt = {1e-2, 2e-3, 1e-2, 0};
        CHECK(gradcheck(absent ? "patch encoder (one absent)" : "patch encoder", fd_forward, &c,
                        7, in, &opt));
        printf("  %s: max |autograd - numeric| = %.2g\n", absent ? "one absent" : "all present",
               opt.max_abs_err);
        mgv_release(in[0]);
        mgv_release(present);
        mgv_params_free(&ps);
    }
}

static void test_errors(void)
{
    mgv_patch_encoder_config cfg = mgv_patch_encoder_default_config(6, 4, 5);
    mgv_paramset ps;
    mgv_params_init(&ps);
    mgv_patch_encoder pe;
    CHECK(mgv_patch_encoder_init(&pe, &ps, "vision", &cfg, NULL) < 0);
    CHECK_ERROR_HAS("patch encoder: image size 6x6 is not divisible by patch size 4");
    cfg = mgv_patch_encoder_default_config(8, 4, 5);
    CHECK(mgv_patch_encoder_init(&pe, &ps, "vision", &cfg, NULL) == 0);
    mgv_patch_encoder again;
    CHECK(mgv_patch_encoder_init(&again, &ps, "vision", &cfg, NULL) < 0);
    CHECK_ERROR_HAS("duplicate parameter name 'vision.patch.weight'");

    int64_t s_h[4] = {2, 3, 10, 8}, s_w[4] = {2, 3, 8, 6}, s_c[4] = {2, 1, 8, 8},
            s_big[4] = {2, 3, 12, 8}, s_3d[3] = {3, 8, 8}, s_ok[4] = {2, 3, 8, 8}, s_p[1] = {3};
    mgv_tensor *t;
    t = mgv_zeros(4, s_h);
    CHECK(mgv_patch_encoder_forward(&pe, t, NULL, NULL) == NULL);
    CHECK_ERROR_HAS("patch encoder: images [2x3x10x8]: height 10 and width 8 must be divisible "
                    "by the patch size 4");
    mgv_release(t);
    t = mgv_zeros(4, s_w);
    CHECK(mgv_patch_encoder_forward(&pe, t, NULL, NULL) == NULL);
    CHECK_ERROR_HAS("width 6 must be divisible by the patch size 4");
    mgv_release(t);
    t = mgv_zeros(4, s_c);
    CHECK(mgv_patch_encoder_forward(&pe, t, NULL, NULL) == NULL);
    CHECK_ERROR_HAS("patch encoder: images [2x1x8x8] have 1 channels, expected 3");
    mgv_release(t);
    t = mgv_zeros(4, s_big);
    CHECK(mgv_patch_encoder_forward(&pe, t, NULL, NULL) == NULL);
    CHECK_ERROR_HAS("are 12x8, the encoder was built for 8x8");
    mgv_release(t);
    t = mgv_zeros(3, s_3d);
    CHECK(mgv_patch_encoder_forward(&pe, t, NULL, NULL) == NULL);
    CHECK_ERROR_HAS("images [3x8x8] must be [B x C x H x W]");
    mgv_release(t);
    t = mgv_zeros(4, s_ok);
    mgv_tensor *p = mgv_ones(1, s_p), *mask = NULL;
    CHECK(mgv_patch_encoder_forward(&pe, t, p, &mask) == NULL && mask == NULL);
    CHECK_ERROR_HAS("present [3] does not fit a batch of 2 images");
    mgv_release(p);
    mgv_release(t);
    mgv_params_free(&ps);
}

int main(void)
{
    RUN(test_shapes_and_names);
    RUN(test_one_patch_by_hand);
    RUN(test_matches_direct_convolution);
    RUN(test_no_image_samples);
    RUN(test_gradcheck);
    RUN(test_errors);
    return CHECK_DONE();
}
