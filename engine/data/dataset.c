/* dataset.c — the common instance form (see dataset.h). */
#include "data/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ops_shape.h"
#include "formats/image.h"
#include "formats/safetensors.h"
#include <jansson.h>

void mgv_instance_free(mgv_instance *in)
{
    free(in->tokens);
    free(in->image_name);
    if (in->words)
        for (int t = 0; t < in->n_tokens; t++) free(in->words[t]);
    free(in->words);
    free(in->text);
    in->tokens = NULL;
    in->image_name = NULL;
    in->words = NULL;
    in->text = NULL;
}

void mgv_dataset_free(mgv_dataset *ds)
{
    if (!ds) return;
    for (int i = 0; i < ds->n; i++) mgv_instance_free(&ds->inst[i]);
    free(ds->inst);
    for (int c = 0; c < ds->n_classes; c++) {
        free(ds->class_names[c]);
        free(ds->class_name_tokens[c]);
        if (ds->class_phrases) free(ds->class_phrases[c]);
    }
    free(ds->class_phrases);
    free(ds->class_names);
    free(ds->class_name_tokens);
    free(ds->class_name_len);
    mgv_release(ds->images);
    mgv_tensor *f[6] = {ds->feat.text, ds->feat.text_mask, ds->feat.entity, ds->feat.image,
                        ds->feat.image_mask, ds->feat.labels};
    for (int i = 0; i < 6; i++) mgv_release(f[i]);
    memset(ds, 0, sizeof *ds);
}

/* rows of the kept instances (and classes) of every feature tensor */
static int subset_features(const mgv_dataset *ds, const int *map, int n_keep, const int *classes,
                           mgv_dataset *out)
{
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)(ds->n + 1));
    int64_t *crow = malloc(sizeof(int64_t) * (size_t)(n_keep + 1));
    if (!rows || !crow) {
        free(rows);
        free(crow);
        return mgv_fail("dataset: out of memory");
    }
    int64_t k = 0;
    for (int i = 0; i < ds->n; i++)
        if (map[ds->inst[i].label] >= 0) rows[k++] = i;
    for (int c = 0; c < n_keep; c++) crow[c] = classes[c];
    const mgv_features *f = &ds->feat;
    mgv_features *g = &out->feat;
    int rc = 0;
    mgv_tensor *const src[5] = {f->text, f->text_mask, f->entity, f->image, f->image_mask};
    mgv_tensor **dst[5] = {&g->text, &g->text_mask, &g->entity, &g->image, &g->image_mask};
    for (int i = 0; i < 5 && rc == 0; i++)
        if (src[i] && !(*dst[i] = mgv_index_select(src[i], 0, rows, k))) rc = -1;
    if (rc == 0 && f->labels && !(g->labels = mgv_index_select(f->labels, 0, crow, n_keep)))
        rc = -1;
    free(rows);
    free(crow);
    return rc;
}

int mgv_dataset_subset(const mgv_dataset *ds, int n_keep, const int *classes, mgv_dataset *out)
{
    memset(out, 0, sizeof *out);
    int *map = malloc(sizeof(int) * (size_t)(ds->n_classes ? ds->n_classes : 1));
    if (!map) return mgv_fail("dataset: out of memory");
    for (int c = 0; c < ds->n_classes; c++) map[c] = -1;
    for (int k = 0; k < n_keep; k++) {
        if (classes[k] < 0 || classes[k] >= ds->n_classes) {
            free(map);
            return mgv_fail("dataset: class %d out of range (%d classes)", classes[k],
                            ds->n_classes);
        }
        map[classes[k]] = k;
    }
    out->n_classes = n_keep;
    out->class_names = calloc((size_t)n_keep + 1, sizeof(char *));
    out->class_name_tokens = calloc((size_t)n_keep + 1, sizeof(int32_t *));
    out->class_name_len = calloc((size_t)n_keep + 1, sizeof(int));
    if (ds->class_phrases && !(out->class_phrases = calloc((size_t)n_keep + 1, sizeof(char *))))
        goto oom;
    int n = 0;
    for (int i = 0; i < ds->n; i++) n += map[ds->inst[i].label] >= 0;
    out->inst = calloc((size_t)n + 1, sizeof(mgv_instance));
    if (!out->class_names || !out->class_name_tokens || !out->class_name_len || !out->inst)
        goto oom;
    for (int k = 0; k < n_keep; k++) {
        int c = classes[k];
        out->class_names[k] = strdup(ds->class_names[c]);
        out->class_name_len[k] = ds->class_name_len[c];
        out->class_name_tokens[k] = malloc(sizeof(int32_t) * (size_t)(ds->class_name_len[c] + 1));
        if (!out->class_names[k] || !out->class_name_tokens[k]) goto oom;
        memcpy(out->class_name_tokens[k], ds->class_name_tokens[c],
               sizeof(int32_t) * (size_t)ds->class_name_len[c]);
        if (ds->class_phrases && ds->class_phrases[c] &&
            !(out->class_phrases[k] = strdup(ds->class_phrases[c])))
            goto oom;
    }
    for (int i = 0; i < ds->n; i++) {
        const mgv_instance *src = &ds->inst[i];
        if (map[src->label] < 0) continue;
        mgv_instance *dst = &out->inst[out->n];
        *dst = *src;
        dst->label = map[src->label];
        dst->tokens = malloc(sizeof(int32_t) * (size_t)(src->n_tokens + 1));
        dst->image_name = src->image_name ? strdup(src->image_name) : NULL;
        dst->text = src->text ? strdup(src->text) : NULL;
        dst->words = src->words ? calloc((size_t)src->n_tokens + 1, sizeof(char *)) : NULL;
        out->n++;   /* so that free() sees what was allocated */
        if (!dst->tokens || (src->image_name && !dst->image_name) || (src->text && !dst->text) ||
            (src->words && !dst->words))
            goto oom;
        for (int t = 0; src->words && t < src->n_tokens; t++)
            if (!(dst->words[t] = strdup(src->words[t]))) goto oom;
        memcpy(dst->tokens, src->tokens, sizeof(int32_t) * (size_t)src->n_tokens);
    }
    out->images = mgv_retain(ds->images);
    out->n_word_rows = ds->n_word_rows;
    int any_feat = ds->feat.text || ds->feat.entity || ds->feat.image || ds->feat.labels;
    if (any_feat && subset_features(ds, map, n_keep, classes, out) < 0) {
        free(map);
        mgv_dataset_free(out);
        return -1;
    }
    free(map);
    return 0;
oom:
    free(map);
    mgv_dataset_free(out);
    return mgv_fail("dataset: out of memory");
}

int mgv_dataset_load_images(mgv_dataset *ds, const char *dir, int size, int policy,
                            int64_t *n_missing,
                            int (*progress)(int64_t done, int64_t total, void *ctx), void *ctx)
{
    if (size < 1 || size > 4096) return mgv_fail("images: size %d outside [1, 4096]", size);
    if (policy < MGV_IMAGE_FAIL || policy > MGV_IMAGE_BLANK)
        return mgv_fail("images: unknown policy %d", policy);
    int64_t want = 0, missing = 0;
    for (int i = 0; i < ds->n; i++) want += ds->inst[i].image_name != NULL;
    if (n_missing) *n_missing = 0;
    if (want == 0) return 0;   /* nothing names a picture: keep what the data set has */
    int64_t shape[4] = {want, 3, size, size};
    mgv_tensor *imgs = mgv_zeros(4, shape);
    if (!imgs) return -1;
    char *drop = calloc((size_t)ds->n + 1, 1);
    if (!drop) {
        mgv_release(imgs);
        return mgv_fail("images: out of memory");
    }
    int64_t row = 0, per = 3 * (int64_t)size * size, done = 0;
    int rc = 0;
    for (int i = 0; i < ds->n && rc == 0; i++) {
        mgv_instance *in = &ds->inst[i];
        in->image = -1;
        if (!in->image_name) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, in->image_name);
        int r = mgv_image_load_into(path, size, (mgv_image_policy)policy,
                                    mgv_data(imgs) + row * per);
        if (r < 0) {
            rc = -1;
            mgv_error_context("images: instance %d", i + 1);
            break;
        }
        if (r == MGV_IMAGE_OK) {
            in->image = (int)row++;
        } else {
            missing++;
            if (r == MGV_IMAGE_SKIPPED) drop[i] = 1;
        }
        done++;
        if (mgv_interrupted()) rc = mgv_fail("images: interrupted");
        else if (progress && progress(done, want, ctx)) rc = mgv_fail("images: cancelled");
    }
    if (rc < 0) {
        free(drop);
        mgv_release(imgs);
        return -1;
    }
    /* compact: drop skipped instances */
    int k = 0;
    for (int i = 0; i < ds->n; i++) {
        if (drop[i]) {
            mgv_instance_free(&ds->inst[i]);
            continue;
        }
        ds->inst[k++] = ds->inst[i];
    }
    ds->n = k;
    free(drop);
    /* keep only the rows that were filled */
    if (row < want) {
        int64_t s2[4] = {row, 3, size, size};
        mgv_tensor *fit = mgv_from_data(4, s2, mgv_data(imgs));
        mgv_release(imgs);
        if (!fit) return -1;
        imgs = fit;
    }
    mgv_release(ds->images);
    ds->images = imgs;
    if (n_missing) *n_missing = missing;
    return 0;
}

/* ---- precomputed features ------------------------------------------------ */

static int feature_tensor(const mgv_st_file *f, const char *path, const char *name, int ndim,
                          int64_t rows, int required, mgv_tensor **out)
{
    char sh[96];
    *out = NULL;
    mgv_tensor *t = mgv_st_get(f, name);
    if (!t) return required ? mgv_fail("features: %s has no tensor '%s'", path, name) : 0;
    if (t->ndim != ndim || (rows >= 0 && t->shape[0] != rows))
        return mgv_fail("features: %s: '%s' is %s; expected %d axes and %lld rows", path, name,
                        mgv_shape_str(t, sh, sizeof sh), ndim, (long long)rows);
    *out = mgv_clone_data(t);
    return *out ? 0 : -1;
}

static int read_features(const mgv_st_file *f, const char *path, int64_t n, int64_t C,
                         mgv_features *ft)
{
    memset(ft, 0, sizeof *ft);
    char a[96], b[96];
    int rc = feature_tensor(f, path, "text", 3, n, 1, &ft->text);
    if (rc == 0) rc = feature_tensor(f, path, "entity", 2, n, 1, &ft->entity);
    if (rc == 0) rc = feature_tensor(f, path, "labels", 2, C, 1, &ft->labels);
    if (rc == 0) rc = feature_tensor(f, path, "text_mask", 2, n, 0, &ft->text_mask);
    if (rc == 0) rc = feature_tensor(f, path, "image", 3, n, 0, &ft->image);
    if (rc == 0) rc = feature_tensor(f, path, "image_mask", 2, n, 0, &ft->image_mask);
    if (rc == 0 && !ft->text_mask) {
        int64_t ms[2] = {ft->text->shape[0], ft->text->shape[1]};
        if (!(ft->text_mask = mgv_ones(2, ms))) rc = -1;
    }
    if (rc == 0 && ft->text_mask->shape[1] != ft->text->shape[1])
        rc = mgv_fail("features: %s: text_mask %s does not fit text %s", path,
                      mgv_shape_str(ft->text_mask, a, sizeof a), mgv_shape_str(ft->text, b, sizeof b));
    if (rc == 0 && ft->image && ft->image->shape[2] != ft->text->shape[2])
        rc = mgv_fail("features: %s: image tokens %s and text tokens %s differ in size", path,
                      mgv_shape_str(ft->image, a, sizeof a), mgv_shape_str(ft->text, b, sizeof b));
    if (rc == 0 && ft->image && !ft->image_mask) {
        int64_t ms[2] = {ft->image->shape[0], ft->image->shape[1]};
        if (!(ft->image_mask = mgv_ones(2, ms))) rc = -1;
    }
    if (rc == 0 && ft->image_mask && (!ft->image || ft->image_mask->shape[1] != ft->image->shape[1]))
        rc = mgv_fail("features: %s: image_mask without matching image tokens", path);
    if (rc < 0) {
        mgv_tensor *all[6] = {ft->text, ft->text_mask, ft->entity, ft->image, ft->image_mask, ft->labels};
        for (int i = 0; i < 6; i++) mgv_release(all[i]);
        memset(ft, 0, sizeof *ft);
    }
    return rc;
}

int mgv_dataset_load_features(mgv_dataset *ds, const char *path)
{
    mgv_st_file *f = mgv_safetensors_load(path);
    if (!f) return -1;
    mgv_features ft;
    int rc = read_features(f, path, ds->n, ds->n_classes, &ft);
    mgv_st_free(f);
    if (rc < 0) return -1;
    mgv_tensor *old[6] = {ds->feat.text, ds->feat.text_mask, ds->feat.entity, ds->feat.image,
                          ds->feat.image_mask, ds->feat.labels};
    for (int i = 0; i < 6; i++) mgv_release(old[i]);
    ds->feat = ft;
    return 0;
}

int mgv_dataset_from_features(mgv_dataset *ds, const char *path)
{
    memset(ds, 0, sizeof *ds);
    mgv_st_file *f = mgv_safetensors_load(path);
    if (!f) return -1;
    int rc = 0;
    const char *classes = mgv_st_meta(f, "classes");
    json_error_t jerr;
    json_t *names = classes ? json_loads(classes, 0, &jerr) : NULL;
    mgv_tensor *target = mgv_st_get(f, "target");
    if (!names || !json_is_array(names) || json_array_size(names) < 1)
        rc = mgv_fail("features: %s: metadata 'classes' must be a JSON array of class names", path);
    else if (!target || target->ndim != 1)
        rc = mgv_fail("features: %s: needs a tensor 'target' [N] of class indices", path);
    int C = rc == 0 ? (int)json_array_size(names) : 0;
    int64_t n = rc == 0 ? target->shape[0] : 0;
    if (rc == 0) {
        ds->n_classes = C;
        ds->class_names = calloc((size_t)C, sizeof(char *));
        ds->class_name_tokens = calloc((size_t)C, sizeof(int32_t *));
        ds->class_name_len = calloc((size_t)C, sizeof(int));
        ds->inst = calloc((size_t)n + 1, sizeof(mgv_instance));
        if (!ds->class_names || !ds->class_name_tokens || !ds->class_name_len || !ds->inst)
            rc = mgv_fail("features: out of memory");
    }
    for (int c = 0; c < C && rc == 0; c++) {
        json_t *s = json_array_get(names, (size_t)c);
        if (!json_is_string(s)) rc = mgv_fail("features: %s: class %d is not a string", path, c + 1);
        else if (!(ds->class_names[c] = strdup(json_string_value(s))) ||
                 !(ds->class_name_tokens[c] = malloc(sizeof(int32_t))))
            rc = mgv_fail("features: out of memory");
    }
    for (int64_t i = 0; i < n && rc == 0; i++) {
        float v = mgv_get_flat(target, i);
        int c = (int)v;
        if (v != (float)c || c < 0 || c >= C) {
            rc = mgv_fail("features: %s: target %g of instance %lld is not a class in [0, %d)", path,
                          v, (long long)i, C);
            break;
        }
        mgv_instance *in = &ds->inst[ds->n++];
        in->label = c;
        in->image = -1;
        if (!(in->tokens = malloc(sizeof(int32_t)))) rc = mgv_fail("features: out of memory");
    }
    if (rc == 0) rc = read_features(f, path, n, C, &ds->feat);
    json_decref(names);
    mgv_st_free(f);
    if (rc < 0) mgv_dataset_free(ds);
    return rc;
}
