/*
 * model_options.h — every option of the model, once: its name (the Lua
 * option and the key of model:config()), where it lives in mgv_model_config
 * (MODEL: the struct itself, HEAD: its head config), its kind, our default,
 * the authors' value (ref) and whether that value is known (known 0: the
 * paper does not say, and ref repeats the default), and a help line.
 *
 * Generated from this table: mgv_model_default_config (the defaults),
 * mgv_head_default_config (the head's options at the authors' values), the
 * description mgv_model_options[] (the help text), and in the Lua binding
 * the option parsing, model:config() and the printed summary. A new
 * option is one row here, plus its use.
 *
 * Kinds: INT, NUM, BOOL, STR (a string or NULL), CHOICE (a string among
 * the row's names in MGV_MODEL_CHOICES, stored as the name's value).
 */
#ifndef MGV_MODEL_OPTIONS_H
#define MGV_MODEL_OPTIONS_H

/* X(name, at, field, kind, default, ref, known, help) */
#define MGV_MODEL_OPTIONS(X)                                                                    \
    X(task, MODEL, n_spans, CHOICE, 1, 1, 0,                                                    \
      "'met' and 'synth': one entity span; 'mre': two (head and tail), and images off")        \
    X(hidden, MODEL, hidden, INT, 64, 768, 1, "hidden size d of text and image tokens")         \
    X(heads, MODEL, heads, INT, 4, 12, 1, "attention heads of the text encoder")                \
    X(layers, MODEL, text_layers, INT, 1, 12, 1, "layers of the text encoder")                  \
    X(max_len, MODEL, max_len, INT, 96, 128, 1, "tokens of a sequence, [CLS] and markers too")  \
    X(dropout, MODEL, dropout, NUM, 0.1, 0.1, 1, "dropout in the text encoder")                 \
    X(experts, HEAD, experts, INT, 4, 8, 1, "K, the experts of the VIB-MoE")                    \
    /* the authors: 256 for MRE, 768 for MET (the paper preset resolves it by task) */          \
    X(proj, HEAD, proj, INT, 64, 256, 1, "size of the bilinear score's projections")            \
    X(images, MODEL, use_images, BOOL, 1, 1, 1, "pictures through the patch encoder")           \
    X(image_size, MODEL, image_size, INT, 16, 384, 1, "side of the pictures in pixels")         \
    X(patch, MODEL, patch, INT, 4, 16, 1, "side of a patch (an image token) in pixels")         \
    X(vmoe, HEAD, use_vmoe, BOOL, 1, 1, 1, "the VIB-MoE layer (false: a linear layer)")         \
    X(nce, HEAD, use_nce, BOOL, 1, 1, 1, "InfoNCE between text and image")                      \
    X(mg, HEAD, use_mg, BOOL, 1, 1, 1, "MG-VAT, graph-based virtual adversarial training")      \
    X(vat, HEAD, vat_mode, CHOICE, MGV_VAT_LEARNED, MGV_VAT_LEARNED, 1,                         \
      "MG-VAT's perturbation: 'learned' (one vector r) or 'power' (classic VAT)")               \
    X(beta, HEAD, beta, NUM, 1, 1, 1, "weight of the auxiliary losses")                         \
    /* why ours differs: MGV_MODEL_WHY below */                                                 \
    X(vmoe_weight, HEAD, vmoe_weight, NUM, 0.01, 1, 1, "weight of L_vmoe in the auxiliary sum") \
    X(head_dropout, HEAD, dropout, NUM, 0.3, 0.1, 1, "dropout on h_x and the label vectors")    \
    X(lr, MODEL, lr, NUM, 5e-4, 1e-5, 1, "Adam's learning rate")                                \
    X(weight_decay, MODEL, weight_decay, NUM, 0, 0, 1, "Adam's weight decay")                   \
    X(clip, MODEL, clip, NUM, 1, 0, 1, "gradient norm clipping (0: none)")                      \
    X(seed, MODEL, seed, INT, 0, 0, 1, "seeds initialisation, noise and dropout")               \
    X(text, MODEL, text_features, CHOICE, 0, 0, 0,                                              \
      "text through the 'encoder' or precomputed 'features' (ds:load_features)")                \
    X(image, MODEL, image_features, CHOICE, 0, 0, 0,                                            \
      "images as 'pixels' or precomputed 'features'")                                           \
    X(entity_dim, HEAD, entity_dim, INT, 0, 0, 0,                                               \
      "entries of h_e with features (0: (1 + spans) hidden, the text encoder's)")               \
    X(label_dim, HEAD, label_dim, INT, 0, 0, 0,                                                 \
      "entries of a label vector with features (0: hidden)")                                    \
    X(prior, MODEL, prior, BOOL, 0, 0, 1, "the word-vector prior in the score (GloVe)")         \
    X(tau, HEAD, tau, NUM, 10, 10, 0, "scale of the prior's cosine")                            \
    X(prior_decay, HEAD, prior_decay, NUM, 0.1, 0.1, 0, "weight of the prior's |W - W_init|^2")  \
    X(bert, MODEL, bert_dir, STR, NULL, NULL, 0,                                                \
      "a Hugging Face BERT directory: BERT becomes the text encoder")                            \
    X(bert_lowercase, MODEL, bert_lowercase, BOOL, 0, 1, 1,                                     \
      "BERT's input lower-cased and stripped of accents (keras-bert's cased=False) "            \
      "whatever the vocabulary")                                                                \
    X(mre_markers, MODEL, mre_markers, CHOICE, 0, 1, 1,                                         \
      "BERT's MRE markers: 'head12' [unused1] head [unused2] .. [unused3] tail [unused4]; "     \
      "'head13' [unused1] head [unused3] .. [unused2] tail [unused4]")                          \
    X(label_text, MODEL, label_text, CHOICE, 0, 1, 1,                                           \
      "BERT's label text: 'phrase' (readable, masked mean) or 'raw' (the data set's name, "     \
      "mean over 16 positions for MRE, 5 for MET, padding included)")                           \
    X(init, HEAD, init, CHOICE, 0, 1, 1,                                                        \
      "the head's dense layers: 'torch' (U(+-1/sqrt(fan_in)), biases too) or 'glorot' "         \
      "(Glorot uniform, zero biases)")                                                          \
    X(label_dropout, HEAD, label_dropout, CHOICE, 0, 1, 1,                                      \
      "the dropout mask of the label vectors: one per 'batch' or one per 'sample'")             \
    X(mg_update, MODEL, mg_update, CHOICE, 0, 1, 1,                                             \
      "MG-VAT's r: 'after' the model step on its node vectors (own Adam), or 'reference': "     \
      "a step on a fresh forward first, then the model step moves r too")

/* The names of the CHOICE options and their values; C(option, {name, value}, ...). */
#define MGV_MODEL_CHOICES(C)                                              \
    C(task, {"mre", 2}, {"met", 1}, {"synth", 1})                         \
    C(vat, {"learned", MGV_VAT_LEARNED}, {"power", MGV_VAT_POWER})       \
    C(text, {"encoder", 0}, {"features", 1})                              \
    C(image, {"pixels", 0}, {"features", 1})                              \
    C(mre_markers, {"head12", 0}, {"head13", 1})                          \
    C(label_text, {"phrase", 0}, {"raw", 1})                              \
    C(init, {"torch", 0}, {"glorot", 1})                                  \
    C(label_dropout, {"batch", 0}, {"sample", 1})                         \
    C(mg_update, {"after", 0}, {"reference", 1})

/* Why our default differs from the authors' value, one row per such option;
 * W(option, reason). The README's table of settings prints these. */
#define MGV_MODEL_WHY(W)                                                                        \
    W(hidden, "a small encoder trained from scratch on a CPU; with BERT it is BERT's")          \
    W(heads, "as hidden; with BERT, BERT's")                                                    \
    W(layers, "as hidden; with BERT, BERT's")                                                   \
    W(max_len, "GloVe sequences are short; zeroshot.lua uses 128 with BERT")                    \
    W(experts, "half the VIB-MoE's cost at our small d")                                        \
    W(proj, "in scale with our small d")                                                        \
    W(image_size, "the synthetic set's pictures; ViT tokens come at the authors' size")        \
    W(patch, "as image_size")                                                                   \
    W(vmoe_weight, "the KL sums over K d dims (~30 at d 64, K 4): weighted 1 it swamps the "    \
      "ranking loss and the experts collapse to the prior (synthetic set: val macro-F1 "        \
      "0.857 at 0.01, 0.795 at 0.1)")                                                           \
    W(head_dropout, "the zero-shot scorer over-fits the seen classes quickly")                  \
    W(lr, "encoders trained from scratch; 1e-5 is for fine-tuning BERT (zeroshot.lua's "        \
      "with BERT)")                                                                             \
    W(clip, "a guard against early divergence of encoders trained from scratch")                \
    W(bert_lowercase, "a cased vocabulary read as cased (as Hugging Face's bert-base-cased)")   \
    W(mre_markers, "each entity between a consecutive pair; only the markers' identities "      \
      "differ")                                                                                 \
    W(label_text, "'person person couple' is words BERT knows; the raw name is mostly "         \
      "punctuation, and padding positions carry no meaning")                                    \
    W(init, "PyTorch's nn.Linear default, as everywhere in the engine")                         \
    W(label_dropout, "one [C, D] mask instead of [B, C, D]: the label vectors are shared")      \
    W(mg_update, "no second forward pass per step (about half a step's cost)")

/* The reason of MGV_MODEL_WHY for an option, or NULL. */
const char *mgv_model_option_why(const char *name);

typedef struct mgv_choice {
    const char *name;
    int value;
} mgv_choice;

/* mgv_model_choices_<option>[], ending with {NULL, 0} */
#define MGV_DECLARE_CHOICES(option, ...) extern const mgv_choice mgv_model_choices_##option[];
MGV_MODEL_CHOICES(MGV_DECLARE_CHOICES)
#undef MGV_DECLARE_CHOICES

typedef enum {
    MGV_OPT_INT, MGV_OPT_NUM, MGV_OPT_BOOL, MGV_OPT_STR, MGV_OPT_CHOICE
} mgv_option_kind;

/* The table as data, for the help text. */
typedef struct mgv_model_option {
    const char *name, *help;
    mgv_option_kind kind;
    const mgv_choice *choices;   /* CHOICE */
    double def, ref;             /* STR: none (NULL) */
    int known;                   /* ref is the authors' value */
} mgv_model_option;

/* Every option in table order, ending with a NULL name. */
extern const mgv_model_option mgv_model_options[];

/* The name of value v among choices (the first such), or NULL. */
const char *mgv_choice_name(const mgv_choice *choices, int v);

/* The field of row `at`, `field` in the config c (an lvalue). */
#define MGV_OPTION_AT_MODEL(c, field) (c).field
#define MGV_OPTION_AT_HEAD(c, field) (c).head.field
#define MGV_OPTION_FIELD(c, at, field) MGV_OPTION_AT_##at(c, field)

#endif
