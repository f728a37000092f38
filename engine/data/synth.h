/*
 * synth.h — the built-in synthetic multimodal data set.
 *
 * A seeded generator of a small zero-shot entity-typing task in which
 * transfer to unseen classes is possible and images matter:
 *  - every class c has a latent meaning u_c in R^m;
 *  - a frozen "pretrained" word table (the stand-in for GloVe) maps a word
 *    with latent u to E u + noise (unit length), with E fixed and random
 *    (word_dim x m);
 *  - a class's name is a made-up word whose latent is u_c, so label names
 *    carry the meaning through the same text encoder;
 *  - an instance has its own latent u = u_c + class_spread n; its sentence
 *    mixes filler words (random latents) with two cue words of its class
 *    (latents near u_c), and marks one cue word as the entity mention;
 *  - its image renders the instance's latent: pixel q = tanh(gain R_q u +
 *    noise). The images are textures: R_q mixes a map shared by every
 *    image_tile x image_tile tile (weight image_shared) with a map of its
 *    own, so a patch embedding with weights shared across patches (the
 *    stem of a ViT, without the mixing layers a pretrained ViT has) can
 *    read the latent from any patch;
 *  - classes come in confusable pairs (c, c'); an "ambiguous" instance
 *    speaks only of the pair — its cue words point exactly between the two
 *    names' word vectors (equally close to both) — so only the image tells
 *    c from c'. Since the image renders the instance's latent, not the
 *    class's, it alone confuses near classes (class_spread), while text and
 *    image together tell every instance.
 * Splits keep pairs together so that confusion stays inside a split: the
 * pairs are shuffled, val and test get a third each, train the rest (with
 * the defaults 64 classes: 24 train, 20 val, 20 test). Enough seen classes
 * are needed to learn maps (image -> label space) that transfer; with 10
 * seen classes in a 6-d latent space the models memorise them instead.
 * Everything is drawn from one generator seeded with cfg.seed.
 */
#ifndef MGV_SYNTH_H
#define MGV_SYNTH_H

#include <stdint.h>

#include "core/tensor.h"
#include "data/dataset.h"

typedef struct mgv_synth_config {
    int n_classes;        /* even, <= 64; classes pair up (default 64) */
    int latent_dim;       /* m, <= 64 (default 6) */
    int word_dim;         /* size of the word vectors (default 100, as GloVe) */
    int per_class;        /* instances per class (default 40) */
    float ambiguous;      /* fraction of instances whose text names only the pair (0.5) */
    float class_spread;   /* sigma of an instance's latent around its class (0.5) */
    float pair_noise;     /* latent noise of the pair words (0: exactly between the names) */
    int image_size;       /* S: images are 3 x S x S (default 16) */
    float image_gain;     /* pixels are tanh(gain R u + noise) (1) */
    float image_noise;    /* pixel noise sigma (0.1) */
    int image_tile;       /* T: T x T tiles share a rendering map (4; 0 = none), <= S */
    float image_shared;   /* weight in [0, 1] of the shared tile map in a pixel's (0.8) */
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
