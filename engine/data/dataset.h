/*
 * dataset.h — the one in-memory form every task takes before batching.
 *
 * An instance is a tokenised sentence (row ids into a frozen word table,
 * -1 for words the table lacks), one or two entity spans in tokens
 * (MET: the mention; MRE: head and tail), a class index and an optional
 * image (an index into the image tensor, or -1 for "no image"). Classes have
 * names and tokenised names (label names go through the same text encoder).
 * Tasks also keep the raw words / sentence and each class's label phrase,
 * for text encoders with their own tokenizer (BERT, wordpiece.h).
 * MNRE, WikiDiverse and the synthetic set all convert to this.
 */
#ifndef MGV_DATASET_H
#define MGV_DATASET_H

#include <stdint.h>

#include "core/tensor.h"

#define MGV_MAX_SPANS 2

typedef struct mgv_instance {
    int n_tokens;
    int32_t *tokens;                 /* word-table rows, -1 unknown */
    int n_spans;                     /* 1 (MET) or 2 (MRE) */
    int span_begin[MGV_MAX_SPANS];   /* token spans, half-open */
    int span_end[MGV_MAX_SPANS];
    int label;                       /* class index */
    int image;                       /* row of dataset->images, or -1 */
    char *image_name;                /* file name of its picture, or NULL (owned) */
    /* the raw text, for encoders with their own tokenizer (BERT): */
    char **words;                    /* MRE: the n_tokens raw tokens (owned), or NULL */
    char *text;                      /* MET: the raw sentence (owned), or NULL */
    int64_t text_begin[MGV_MAX_SPANS], text_end[MGV_MAX_SPANS];   /* byte spans in text */
} mgv_instance;

/* Token states from an outside encoder, row i for instance i (optional). */
typedef struct mgv_features {
    mgv_tensor *text, *text_mask;     /* [N, L, d], [N, L] (1 real, 0 padding) */
    mgv_tensor *entity;               /* [N, DE] the entity feature h_e */
    mgv_tensor *image, *image_mask;   /* [N, P, d], [N, P]; or NULL */
    mgv_tensor *labels;               /* [C, DL] label embeddings in class order */
} mgv_features;

typedef struct mgv_dataset {
    int n;
    mgv_instance *inst;
    int n_classes;
    char **class_names;              /* display names, e.g. "/per/per/couple" */
    int *class_name_len;             /* tokens of each label name */
    int32_t **class_name_tokens;
    char **class_phrases;            /* the label phrase of each class (owned), or NULL */
    mgv_tensor *images;              /* [n_images, 3, S, S] pixels, or NULL */
    int n_word_rows;                 /* rows of the word table the ids refer to */
    mgv_features feat;               /* precomputed features, or all NULL */
} mgv_dataset;

void mgv_dataset_free(mgv_dataset *ds);
/*
 * Reads the pictures of the instances that name one (image_name) from dir,
 * resized to size x size and scaled to [-1, 1], into ds->images
 * [n_loaded, 3, size, size]. A missing or corrupt picture follows policy
 * (an mgv_image_policy): fail; skip (the instance is dropped from ds); or
 * blank (the instance keeps image = -1: "no image", masked by the model).
 * *n_missing gets the number of pictures that could not be read.
 * progress(done, total, ctx) may be NULL; it returns non-zero to cancel.
 */
int mgv_dataset_load_images(mgv_dataset *ds, const char *dir, int size, int policy,
                            int64_t *n_missing,
                            int (*progress)(int64_t done, int64_t total, void *ctx), void *ctx);

/*
 * Precomputed features from a safetensors file with tensors "text" [N, L, d],
 * optional "text_mask" [N, L] (default all real), "entity" [N, DE], optional
 * "image" [N, P, d] and "image_mask" [N, P], and "labels" [C, DL] — N the
 * instances of ds in order, C its classes in order. Checked against ds; on
 * failure ds is unchanged.
 */
int mgv_dataset_load_features(mgv_dataset *ds, const char *path);
/* A data set made from such a file alone: it must also hold "target" [N]
 * (class indices) and the class names in the metadata key "classes" (JSON
 * array of strings). Its instances have no tokens. */
int mgv_dataset_from_features(mgv_dataset *ds, const char *path);

/* Frees what an instance owns (tokens, image name, raw text). */
void mgv_instance_free(mgv_instance *in);

/* Instances whose label is in the class list (n_keep classes), relabelled
 * 0..n_keep-1 in list order; class names, phrases, raw text, images and
 * precomputed features are carried over. */
int mgv_dataset_subset(const mgv_dataset *ds, int n_keep, const int *classes, mgv_dataset *out);

#endif
