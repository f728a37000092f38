/*
 * model.h — MG-VMoE end to end: text encoder + vision encoder + head, the
 * batch assembly (entity markers, padding), one training step (the model
 * step, then the reference's perturbation step on that batch's node vectors,
 * so r moves before the next model step) and prediction.
 *
 * The training loop itself is the caller's (Lua's): it picks the batch
 * indices (class-balanced sampler), calls mgv_model_train_step, evaluates
 * with mgv_model_predict and keeps checkpoints.
 */
#ifndef MGV_MODEL_H
#define MGV_MODEL_H

#include <stdint.h>

#include "core/optim.h"
#include "core/params.h"
#include "data/dataset.h"
#include "formats/wordpiece.h"
#include "mgvmoe/head.h"
#include "mgvmoe/model_options.h"
#include "nn/bert.h"
#include "nn/patch_encoder.h"
#include "nn/text_encoder.h"

/* The options, their defaults and the authors' values: model_options.h. */
typedef struct mgv_model_config {
    int n_spans;            /* 1: MET / synthetic (one mention), 2: MRE (head, tail) */
    int hidden;             /* d, shared by both modalities */
    int heads, text_layers, max_len;
    float dropout;          /* encoder dropout */
    int use_images;         /* 0: text only */
    int image_size, patch;  /* pixel images [3, S, S] through the patch encoder */
    /* the word-vector prior of the score (head.h): on for GloVe tasks in the
     * main job, off by default; needs the text encoder's word table */
    int prior;
    double lr, weight_decay, clip;
    uint64_t seed;
    /* precomputed features (the data set's feat, see dataset.h) instead of
     * the text encoder / the patch encoder */
    int text_features, image_features;
    /* non-NULL: the text encoder is BERT from this Hugging Face directory
     * (config.json, model.safetensors, vocab.txt), fine-tuned with the rest;
     * the instances' raw text goes through its WordPiece tokenizer with the
     * markers [unused1..4]. hidden becomes BERT's; max_len is capped at its
     * positions; heads/layers/dropout are BERT's own. Not with the prior. */
    const char *bert_dir;
    /* BERT's input: lower-cased and accent-stripped whatever the vocabulary
     * (keras-bert's cased=False); MRE markers [unused1] head [unused3] ..
     * [unused2] tail [unused4] instead of 1-2 .. 3-4; label text: the
     * data set's raw name over a fixed 16 (MRE) / 5 (MET) positions,
     * padding in the mean, instead of the phrase's masked mean */
    int bert_lowercase, mre_markers, label_text;
    /* MG-VAT's r: 0 after the model step on its node vectors with its own
     * Adam; 1 the reference's order (mgv_model_perturb_step first on a fresh
     * forward, then the model step, whose optimiser holds r too) */
    int mg_update;
    /* the head's options (experts, proj, the losses and their weights, its
     * dropout, the prior's tau and decay; entity_dim and label_dim 0: what
     * the text encoder makes). mgv_model_init completes a copy: d, the
     * feature sizes, text_only and the prior's sizes. */
    mgv_head_config head;
} mgv_model_config;

mgv_model_config mgv_model_default_config(void);

/* The configuration of a preset: "paper" sets every option whose authors'
 * value is known to it (proj by task: 256 for MRE, 768 for MET) on top of
 * c, keeping c's n_spans. -1 (an error message) for an unknown name. */
int mgv_model_preset(const char *name, mgv_model_config *c);

typedef struct mgv_model {
    mgv_model_config cfg;
    mgv_paramset params;        /* encoders' parameters */
    mgv_text_encoder text;      /* the GloVe text encoder (unless BERT or features) */
    mgv_bert bert;              /* with cfg.bert_dir: BERT ("text.bert." parameters) */
    mgv_wordpiece *wp;          /* and its tokenizer */
    char *bert_dir;             /* owned copy; cfg.bert_dir points here */
    mgv_patch_encoder vision;
    mgv_head head;              /* its own params + the perturbation r */
    mgv_optim *opt;             /* over params + head.params (+ head.r with mg_update 1) */
    mgv_optim *opt_r;           /* over head.r */
    mgv_rng rng;
    int64_t steps;
    int no_reuse;               /* tests: no Y carried between a step's forwards (ops_vmoe.h) */
} mgv_model;

/* A batch ready for the encoders. */
typedef struct mgv_batch {
    int64_t B, L;
    int32_t *ids;               /* [B x L] token ids (MGV_TOK_* for specials/padding; with
                                 * BERT the vocabulary's ids, markers [unused1..4]) */
    mgv_tensor *text_mask;      /* [B, L] */
    int64_t *marker;            /* [B x n_spans] positions of the opening markers */
    mgv_tensor *images;         /* [B, 3, S, S] or NULL */
    mgv_tensor *image_mask;     /* [B, P] or NULL */
    int64_t *target;            /* [B] */
} mgv_batch;

/* words: the frozen word table the dataset's token ids index (retained);
 * may be NULL with precomputed text features or BERT. */
int mgv_model_init(mgv_model *m, const mgv_model_config *cfg, mgv_tensor *words);
void mgv_model_free(mgv_model *m);
int64_t mgv_model_param_count(const mgv_model *m);

int mgv_model_collate(const mgv_model *m, const mgv_dataset *ds, const int *idx, int n,
                      mgv_batch *out);
void mgv_batch_free(mgv_batch *b);

/* Label embeddings [C, d] of the dataset's classes, through the text encoder. */
mgv_tensor *mgv_model_label_embeddings(mgv_model *m, const mgv_dataset *ds, int training);

/* Forward of a batch of instances idx[0..n) against all classes of ds.
 * With want_loss, targets are the instances' labels. */
int mgv_model_forward(mgv_model *m, const mgv_dataset *ds, const int *idx, int n, int training,
                      int want_loss, mgv_head_out *out);

typedef struct mgv_step_stats {
    double loss, l_rank, l_vmoe, l_nce, l_mg, r_objective, grad_norm, accuracy;
} mgv_step_stats;

/* One training step on instances idx[0..n) of ds (labels index ds's classes):
 * the model step (Adam on the loss), then the perturbation step of r
 * (mgv_head_perturb_step) on the node vectors of the same forward pass; with
 * mg_update 1, mgv_model_perturb_step first and then the model step. */
int mgv_model_train_step(mgv_model *m, const mgv_dataset *ds, const int *idx, int n,
                         mgv_step_stats *st);

/* The reference's first half of a step: a fresh training forward pass (no
 * loss) and one step of r alone on -L_mg + |r|_2 at its node vectors;
 * *objective gets that objective before the step. 0 when MG-VAT's learned
 * r is not in use. */
int mgv_model_perturb_step(mgv_model *m, const mgv_dataset *ds, const int *idx, int n,
                           double *objective);

/* argmax over ds's classes for every instance (no grad, deterministic),
 * batch_size at a time; progress(done, total, ctx) may be NULL. */
int mgv_model_predict(mgv_model *m, const mgv_dataset *ds, int batch_size, int *pred,
                      void (*progress)(int64_t done, int64_t total, void *ctx), void *ctx);

/* The same for instances first .. first+count-1, predictions into pred[0..count). */
int mgv_model_predict_range(mgv_model *m, const mgv_dataset *ds, int first, int count,
                            int batch_size, int *pred);

/* Checkpoints (safetensors): all parameters, r, and with with_optim the
 * optimiser moments and step count, so training can resume. */
int mgv_model_save(mgv_model *m, const char *path, int with_optim, int n_meta,
                   const char *const *keys, const char *const *values);
int mgv_model_load(mgv_model *m, const char *path);

#endif
