/* dataset.c — the common instance form (see dataset.h). */
#include "dataset.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

void mgv_dataset_free(mgv_dataset *ds)
{
    if (!ds) return;
    for (int i = 0; i < ds->n; i++) free(ds->inst[i].tokens);
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
        if (!dst->tokens) goto oom;
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
