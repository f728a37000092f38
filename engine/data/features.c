/*
 * features.c — ViT picture features attached to a data set (see features.h).
 */
#include "data/features.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int mgv_vit_attach_dataset(const mgv_vit *v, mgv_dataset *ds, const char *dir, int batch,
                           int pool, const char *cache, int64_t *n_missing,
                           mgv_vit_progress progress, void *ctx)
{
    int64_t P = mgv_vit_feature_tokens(v, pool), H = v->cfg.hidden;
    if (P < 0) return -1;
    if (ds->n < 1) return mgv_fail("vit: the data set is empty");
    /* distinct picture names, sorted */
    const char **names = malloc(sizeof(char *) * (size_t)ds->n);
    int nn = 0, rc = 0;
    if (!names) return mgv_fail("vit: out of memory");
    for (int i = 0; i < ds->n; i++)
        if (ds->inst[i].image_name && ds->inst[i].image_name[0])
            names[nn++] = ds->inst[i].image_name;
    qsort(names, (size_t)nn, sizeof *names, cmp_str);
    int nu = 0;
    for (int i = 0; i < nn; i++)
        if (nu == 0 || strcmp(names[nu - 1], names[i]) != 0) names[nu++] = names[i];
    char **paths = calloc((size_t)nu + 1, sizeof(char *));
    uint8_t *present = calloc((size_t)nu + 1, 1);
    mgv_tensor *feat = NULL, *img = NULL, *mask = NULL;
    if (!paths || !present) rc = mgv_fail("vit: out of memory");
    for (int i = 0; i < nu && rc == 0; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        if (!(paths[i] = malloc(len))) rc = mgv_fail("vit: out of memory");
        else snprintf(paths[i], len, "%s/%s", dir, names[i]);
    }
    if (rc == 0 && nu > 0 &&
        !(feat = mgv_vit_features_files(v, nu, (const char *const *)paths, 0, batch, pool, cache,
                                        present, progress, ctx)))
        rc = -1;
    int64_t s3[3] = {ds->n, P, H}, s2[2] = {ds->n, P};
    if (rc == 0 && (!(img = mgv_zeros(3, s3)) || !(mask = mgv_zeros(2, s2)))) rc = -1;
    int64_t missing = 0;
    for (int i = 0; i < ds->n && rc == 0; i++) {
        const char *nm = ds->inst[i].image_name;
        const char **hit = nm && nu ? bsearch(&nm, names, (size_t)nu, sizeof *names, cmp_str) : NULL;
        int64_t r = hit ? hit - names : -1;
        if (r < 0 || !present[r]) {
            missing++;
            continue;
        }
        memcpy(mgv_data(img) + (int64_t)i * P * H, mgv_data(feat) + r * P * H,
               sizeof(float) * (size_t)(P * H));
        for (int64_t k = 0; k < P; k++) mgv_data(mask)[(int64_t)i * P + k] = 1.0f;
    }
    if (rc == 0) {
        mgv_release(ds->feat.image);
        mgv_release(ds->feat.image_mask);
        ds->feat.image = img;
        ds->feat.image_mask = mask;
        img = mask = NULL;
        if (n_missing) *n_missing = missing;
    }
    for (int i = 0; paths && i < nu; i++) free(paths[i]);
    free(paths);
    free(present);
    free(names);
    mgv_release(feat);
    mgv_release(img);
    mgv_release(mask);
    return rc;
}
