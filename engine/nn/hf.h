/*
 * hf.h — the Hugging Face checkpoint layout shared by the BERT and ViT
 * encoders: config.json fields, parameters named as Hugging Face names them,
 * and loading model.safetensors into them.
 */
#ifndef MGV_HF_H
#define MGV_HF_H

#include "core/params.h"
#include "core/rng.h"
#include "core/tensor.h"

/*
 * Hugging Face checkpoints: for every parameter of ps
 * whose name starts with prefix, the tensor named as the rest of the name,
 * or with "<model_prefix>." in front, or (for LayerNorm weight/bias) its old
 * gamma/beta name. Checks everything first; on any missing or mis-shaped
 * tensor fails with a message naming them (who: path: ...) and changes
 * nothing; else copies all. *n_unused (may be NULL) gets the number of
 * checkpoint tensors nothing used.
 */
int mgv_hf_load_params(mgv_paramset *ps, const char *prefix, const char *path,
                       const char *model_prefix, const char *who, int *n_unused);

/* Drops the parameters added to ps after its first n (a failed init/load
 * leaves the set as it was). */
void mgv_hf_params_truncate(mgv_paramset *ps, int n);
/* A new parameter prefix+name in ps: N(0, std^2) when std > 0, else all fill. */
mgv_tensor *mgv_hf_new_param(mgv_paramset *ps, const char *prefix, const char *name, int ndim,
                             const int64_t *shape, float std, float fill, mgv_rng *rng);

/* config.json fields: key, is_real (float) or int (positive), destination.
 * Absent keys leave the destination alone. Also refuses hidden_act other
 * than "gelu", position_embedding_type other than "absolute" and qkv_bias
 * false. */
typedef struct mgv_hf_field {
    const char *key;
    int is_real;
    void *dst;
} mgv_hf_field;
int mgv_hf_read_config(const char *path, int n, const mgv_hf_field *fields);
#endif
