/*
 * test_vit.c — ViT on the engine and its cached frozen features
 * (engine/nn/vit.c).
 *
 * Golden: scripts/golden_bert_vit.py writes a tiny random ViT (32 x 32
 * pixels, patch 8 -> 17 tokens, hidden 32, 4 heads, 2 layers) in the Hugging
 * Face layout, tests/golden/vit_tiny/ ("vit." names and a classifier, as
 * ViTForImageClassification), and the float64 torch results (Conv2d patch
 * embedding, CLS, positions, pre-LN layers, final layernorm) in
 * tests/golden/vit_tiny_io.safetensors; the engine must agree within 1e-4.
 * Also: pooled features (CLS + cell means) against the golden states, the
 * feature cache (reused, and recomputed when the weights change), features
 * of picture files (a missing file gives zeros and present = 0), features
 * attached to a data set's instances, and error messages.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fixtures.h"
#include "formats/image.h"
#include "mgv.h"
#include "formats/safetensors.h"
#include "nn/vit.h"

#define DIR "tests/golden/vit_tiny"
#define IO "tests/golden/vit_tiny_io.safetensors"
#define TOL 1e-4

static mgv_paramset ps;
static mgv_vit vit;
static char tmpdir[128];

static const char *tmp(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void test_golden(void)
{
    mgv_st_file *io = mgv_safetensors_load(IO);
    CHECK(io != NULL);
    if (!io) return;
    CHECK(vit.grid == 4 && vit.n_tokens == 17 && ps.n == 6 + 2 * 16);
    mgv_tensor *h = mgv_vit_forward(&vit, mgv_st_get(io, "images"));
    double d = max_abs_diff(h, mgv_st_get(io, "hidden"));
    printf("  max abs diff of the last hidden states: %.2g\n", d);
    CHECK(d <= TOL);

    /* features: all tokens = forward; pool 2 = CLS + means of 2x2-patch cells */
    mgv_tensor *f0 = mgv_vit_features(&vit, mgv_st_get(io, "images"), 1, 0, NULL, NULL, NULL);
    CHECK(f0 && max_abs_diff(f0, h) <= 1e-5);   /* batch 1 vs 2: other GEMM blocking */
    mgv_tensor *f2 = mgv_vit_features(&vit, mgv_st_get(io, "images"), 2, 2, NULL, NULL, NULL);
    CHECK(f2 && f2->shape[0] == 2 && f2->shape[1] == 5 && f2->shape[2] == 32);
    mgv_tensor *g = mgv_st_get(io, "hidden");
    double worst = 0;
    for (int b = 0; f2 && b < 2; b++)
        for (int cell = 0; cell < 5; cell++)
            for (int k = 0; k < 32; k++) {
                double want;
                if (cell == 0) {
                    want = mgv_get_flat(g, (b * 17 + 0) * 32 + k);
                } else {
                    int cy = (cell - 1) / 2, cx = (cell - 1) % 2;
                    want = 0;
                    for (int y = 2 * cy; y < 2 * cy + 2; y++)
                        for (int x = 2 * cx; x < 2 * cx + 2; x++)
                            want += mgv_get_flat(g, (b * 17 + 1 + y * 4 + x) * 32 + k) / 4;
                }
                double e = fabs(mgv_get_flat(f2, (b * 5 + cell) * 32 + k) - want);
                if (e > worst) worst = e;
            }
    CHECK(worst <= TOL);
    CHECK(mgv_vit_feature_tokens(&vit, 3) < 0);
    CHECK_ERROR_HAS("pool 3 must divide the 4 x 4 patch grid");
    mgv_release(h);
    mgv_release(f0);
    mgv_release(f2);
    mgv_st_free(io);
}

static int count_progress(int64_t done, int64_t total, void *ctx)
{
    (void)done;
    (void)total;
    (*(int *)ctx)++;
    return 0;
}

static void test_cache(void)
{
    mgv_st_file *io = mgv_safetensors_load(IO);
    if (!io) return;
    mgv_tensor *images = mgv_st_get(io, "images");
    const char *cache = tmp("feat.safetensors");
    int calls = 0;
    mgv_tensor *a = mgv_vit_features(&vit, images, 1, 0, cache, count_progress, &calls);
    CHECK(a && calls == 2 && access(cache, F_OK) == 0);
    /* the second time it is read back (one progress call: all done) */
    calls = 0;
    mgv_tensor *b = mgv_vit_features(&vit, images, 1, 0, cache, count_progress, &calls);
    CHECK(b && calls == 1 && max_abs_diff(a, b) == 0);
    /* other weights: the key differs and the features are computed again */
    mgv_tensor *bias = vit.ln_b;
    mgv_set_flat(bias, 0, mgv_get_flat(bias, 0) + 1.0f);
    calls = 0;
    mgv_tensor *c = mgv_vit_features(&vit, images, 2, 0, cache, count_progress, &calls);
    CHECK(c && calls == 1 && fabs(mgv_get_flat(c, 0) - mgv_get_flat(a, 0) - 1.0) < 1e-5);
    mgv_set_flat(bias, 0, mgv_get_flat(bias, 0) - 1.0f);
    /* other pixels: computed again too */
    mgv_tensor *img2 = mgv_clone_data(images);
    mgv_set_flat(img2, 5, 0.25f);
    calls = 0;
    mgv_tensor *d = mgv_vit_features(&vit, img2, 2, 0, cache, count_progress, &calls);
    CHECK(d && calls == 1 && max_abs_diff(d, a) > 1e-6);
    remove(cache);
    /* errors */
    CHECK(mgv_vit_features(&vit, images, 0, 0, NULL, NULL, NULL) == NULL);
    CHECK_ERROR_HAS("batch 0 must be positive");
    int64_t bad[4] = {1, 3, 16, 16};
    mgv_tensor *small = mgv_zeros(4, bad);
    CHECK(mgv_vit_forward(&vit, small) == NULL);
    CHECK_ERROR_HAS("images [1x3x16x16] do not fit the model (expected [B x 3 x 32 x 32])");
    mgv_tensor *all[] = {a, b, c, d, img2, small};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mgv_release(all[i]);
    mgv_st_free(io);
}

/* a w x h PNG with a gradient pattern */
static void write_png(const char *path, int w, int h, int seed)
{
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) rgb[i] = (uint8_t)((i * 7 + seed * 31) % 251);
    mgv_png_write_rgb(path, w, h, rgb);
    free(rgb);
}

static void test_files_and_dataset(void)
{
    write_png(tmp("a.png"), 40, 30, 1);
    write_png(tmp("b.png"), 32, 32, 2);
    const char *paths[3] = {tmp("a.png"), tmp("missing.png"), tmp("b.png")};
    uint8_t present[3] = {9, 9, 9};
    mgv_tensor *f = mgv_vit_features_files(&vit, 3, paths, 0, 2, 0, NULL, present, NULL, NULL);
    CHECK(f && present[0] == 1 && present[1] == 0 && present[2] == 1);
    /* row 0 = forward of the preprocessed picture; row 1 zeros */
    mgv_tensor *img = NULL;
    CHECK(mgv_image_load(paths[0], 32, MGV_IMAGE_FAIL, &img) == MGV_IMAGE_OK);
    mgv_tensor *one = img ? mgv_unsqueeze(img, 0) : NULL;
    mgv_tensor *h = one ? mgv_vit_forward(&vit, one) : NULL;
    mgv_tensor *r0 = f ? mgv_select(f, 0, 0) : NULL, *r1 = f ? mgv_select(f, 0, 1) : NULL;
    CHECK(h && r0 && max_abs_diff(h, r0) <= 1e-5);
    double zero = 0;
    for (int64_t i = 0; r1 && i < mgv_numel(r1); i++) zero += fabs(mgv_get_flat(r1, i));
    CHECK(r1 && zero == 0);
    /* fail policy: the missing file is an error */
    CHECK(mgv_vit_features_files(&vit, 3, paths, 1, 2, 0, NULL, NULL, NULL, NULL) == NULL);
    CHECK_ERROR_HAS("missing.png");

    /* a data set of four instances: two share a.png, one has no picture, one a missing one */
    mgv_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.n = 4;
    ds.inst = calloc(4, sizeof *ds.inst);
    const char *names[4] = {"a.png", "a.png", NULL, "nope.png"};
    for (int i = 0; i < 4; i++) {
        ds.inst[i].image = -1;
        ds.inst[i].image_name = names[i] ? strdup(names[i]) : NULL;
    }
    int64_t missing = -1;
    CHECK(mgv_vit_attach_dataset(&vit, &ds, tmpdir, 4, 2, tmp("ds.safetensors"), &missing, NULL,
                                 NULL) == 0);
    CHECK(missing == 2 && ds.feat.image && ds.feat.image_mask);
    if (ds.feat.image) {
        CHECK(ds.feat.image->shape[0] == 4 && ds.feat.image->shape[1] == 5);
        mgv_tensor *i0 = mgv_select(ds.feat.image, 0, 0), *i1 = mgv_select(ds.feat.image, 0, 1);
        CHECK(max_abs_diff(i0, i1) == 0 && fabs(mgv_get_flat(i0, 0) - mgv_get_flat(h, 0)) < 1e-5);
        CHECK(mgv_get_flat(ds.feat.image_mask, 0) == 1 && mgv_get_flat(ds.feat.image_mask, 9) == 1 &&
              mgv_get_flat(ds.feat.image_mask, 10) == 0 && mgv_get_flat(ds.feat.image_mask, 19) == 0 &&
              mgv_get_flat(ds.feat.image, 2 * 160 + 7) == 0 && mgv_get_flat(ds.feat.image, 3 * 160) == 0);
        mgv_release(i0);
        mgv_release(i1);
    }
    remove(tmp("ds.safetensors"));
    mgv_dataset_free(&ds);
    mgv_tensor *all[] = {f, img, one, h, r0, r1};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mgv_release(all[i]);
    remove(tmp("a.png"));
    remove(tmp("b.png"));
}

static void test_load_errors(void)
{
    mgv_paramset p2;
    mgv_params_init(&p2);
    mgv_vit v2;
    CHECK(mgv_vit_load_dir(&v2, &p2, "", "tests/golden/bert_tiny", NULL) < 0);
    CHECK_ERROR_HAS("missing (embeddings.cls_token; embeddings.position_embeddings;");
    CHECK(p2.n == 0);
    /* a config whose image size the weights do not fit */
    write_file_in(tmpdir, "config.json",
                  "{\"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                  "\"intermediate_size\": 64, \"image_size\": 48, \"patch_size\": 8}");
    CHECK(link_from_cwd(DIR "/model.safetensors", tmp("model.safetensors")) == 0);
    CHECK(mgv_vit_load_dir(&v2, &p2, "", tmpdir, NULL) < 0);
    CHECK_ERROR_HAS("embeddings.position_embeddings is [1x17x32] in the file, [1x37x32] expected");
    remove(tmp("model.safetensors"));
    remove(tmp("config.json"));
    mgv_params_free(&p2);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mgv_vit_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    mgv_params_init(&ps);
    if (mgv_vit_load_dir(&vit, &ps, "", DIR, NULL) < 0) {
        printf("FAIL load: %s\n", mgv_last_error());
        return 1;
    }
    RUN(test_golden);
    RUN(test_cache);
    RUN(test_files_and_dataset);
    RUN(test_load_errors);
    mgv_vit_free(&vit);
    mgv_params_free(&ps);
    rmdir(tmpdir);
    return CHECK_DONE();
}
