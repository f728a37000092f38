/*
 * features.h — attaching an encoder's picture features to a data set: the
 * data layer's side of the ViT encoder (nn/vit.h), so that the encoder
 * itself knows nothing of data sets.
 */
#ifndef MGV_FEATURES_H
#define MGV_FEATURES_H

#include <stdint.h>

#include "data/dataset.h"
#include "nn/vit.h"

/*
 * Image features of a data set: instance i gets the features of
 * dir/<its image_name> (each distinct file computed once) in
 * ds->feat.image [N, P, H] and ds->feat.image_mask [N, P] (1 where the
 * instance has a readable picture, else 0 and zero features). A model with
 * image features (mgv_model_config.image_features, hidden H) then uses them.
 * *n_missing (may be NULL) gets the instances without a picture.
 */
int mgv_vit_attach_dataset(const mgv_vit *v, mgv_dataset *ds, const char *dir, int batch,
                           int pool, const char *cache, int64_t *n_missing,
                           mgv_vit_progress progress, void *ctx);

#endif
