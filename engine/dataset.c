/* dataset.c — the common instance form (see dataset.h). */
#include "dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"

void mgv_dataset_free(mgv_dataset *ds)
{
    if (!ds) return;
    for (int i = 0; i < ds->n; i++) {
        free(ds->inst[i].tokens);
        free(ds->inst[i].image_name);
    }
    free(ds->inst);
    for (int c = 0; c < ds->n_classes; c++) {
        free(ds->class_names[c]);
        free(ds->class_name_tokens[c]);
    }
    free(ds->class_names);
    free(ds->class_name_tokens);
    free(ds->class_name_len);
    mgv_release(ds->images);
    memset(ds, 0, sizeof *ds);
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
    }
    for (int i = 0; i < ds->n; i++) {
        const mgv_instance *src = &ds->inst[i];
        if (map[src->label] < 0) continue;
        mgv_instance *dst = &out->inst[out->n];
        *dst = *src;
        dst->label = map[src->label];
        dst->tokens = malloc(sizeof(int32_t) * (size_t)(src->n_tokens + 1));
        dst->image_name = src->image_name ? strdup(src->image_name) : NULL;
        if (!dst->tokens || (src->image_name && !dst->image_name)) {
            out->n++;   /* so that free() sees what was allocated */
            goto oom;
        }
        memcpy(dst->tokens, src->tokens, sizeof(int32_t) * (size_t)src->n_tokens);
        out->n++;
    }
    out->images = mgv_retain(ds->images);
    out->n_word_rows = ds->n_word_rows;
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
            free(ds->inst[i].tokens);
            free(ds->inst[i].image_name);
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
