/*
 * synth.h — the built-in synthetic multimodal data set.
 *
 * A seeded generator of a small zero-shot entity-typing task in which
 * transfer to unseen classes is possible and images matter:
 *  - every class c has a latent meaning u_c in R^m;
 *  - a frozen "pretrained" word table (the stand-in for GloVe) maps a word
 *    with latent u to E u + noise, with E fixed and random (word_dim x m);
 *  - a class's name is a made-up word whose latent is u_c, so label names
 *    carry the meaning through the same text encoder;
 *  - an instance has its own latent u = u_c + sigma n; its sentence mixes
 *    filler words (random latents) with cue words near u, and marks one cue
 *    word as the entity mention; its image is R u + noise for a fixed random
 *    R, laid out as 3 x S x S pixels;
 *  - classes come in confusable pairs (c, c'); an "ambiguous" instance
 *    speaks only of the pair — its cue words have latent (u_c + u_c')/2 —
 *    so only the image tells c from c'.
 * Splits keep pairs together so that confusion stays inside a split.
 */
#ifndef MGV_SYNTH_H
#define MGV_SYNTH_H

#include <stdint.h>

#include "dataset.h"
#include "tensor.h"

typedef struct mgv_synth_config {
    int n_classes;        /* even; classes pair up (default 30) */
    int latent_dim;       /* m (default 6) */
    int word_dim;         /* size of the word vectors (default 100, as GloVe) */
    int per_class;        /* instances per class (default 60) */
    float ambiguous;      /* fraction of instances whose text names only the pair (0.5) */
    float class_spread;   /* sigma of an instance's latent around its class (0.35) */
    int image_size;       /* S: images are 3 x S x S (default 16) */
    float image_gain;     /* pixels are tanh(gain R u + noise) (1) */
    float image_noise;    /* pixel noise sigma (0.1) */
    int image_tile;       /* T: tiles of T x T pixels share a rendering map (4; 0 = none) */
    float image_shared;   /* weight of the shared tile map in each pixel's map (0.8) */
    int sentence_len;     /* tokens per sentence (default 10) */
    int fillers;          /* filler vocabulary size (default 200) */
    uint64_t seed;
} mgv_synth_config;

mgv_synth_config mgv_synth_default_config(void);

typedef struct mgv_synth {
    mgv_synth_config cfg;
    mgv_dataset data;         /* all classes; labels are class ids */
    mgv_tensor *word_vectors; /* [V, word_dim] frozen table */
    int vocab_size;
    char **words;             /* V words */
    char *ambiguous;          /* per instance: 1 when the text is ambiguous */
    int split[3][64];         /* class ids of train / val / test */
    int split_n[3];
} mgv_synth;

int mgv_synth_generate(const mgv_synth_config *cfg, mgv_synth *out);
void mgv_synth_free(mgv_synth *s);

#endif
