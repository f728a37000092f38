/*
 * head.h — the MG-VMoE head (DESIGN.md section 2) on token features.
 *
 * Given text token states [B, L, d], image token states [B, P, d] (with
 * padding masks), the entity feature h_e [B, DE] and label embeddings
 * [C, DL], the head computes:
 *   VIB-MoE on each modality with one shared layer (gate pi, K Gaussian
 *   experts, reparameterised samples, mixture output, KL and gate entropy),
 *   masked fusion attention pooled by the entity -> h_x = [h_mm; h_e],
 *   zero-shot bilinear scores s = (W1 h_x + b1)(W2 h_l + b2)^T and the
 *   margin ranking loss, InfoNCE between pooled text and image states, the
 *   batch graph G and MG-VAT's divergence KL(p || p~).
 * Encoders live elsewhere; the head only sees tensors, so it also serves
 * precomputed features.
 *
 * Parameter names (checkpoint keys): vmoe.gate.{weight,bias},
 * vmoe.mu.{weight,bias}, vmoe.logvar.{weight,bias} (or vmoe.linear.* when
 * the VIB-MoE is ablated), fuse.{weight,bias}, score.x.{weight,bias},
 * score.label.{weight,bias}, vat.r.
 */
#ifndef MGV_HEAD_H
#define MGV_HEAD_H

#include "core/optim.h"
#include "core/params.h"
#include "core/rng.h"
#include "core/tensor.h"

typedef enum { MGV_VAT_LEARNED = 0, MGV_VAT_POWER = 1 } mgv_vat_mode;

typedef struct mgv_head_config {
    int d;              /* token hidden size, both modalities */
    int experts;        /* K */
    int entity_dim;     /* DE: size of h_e */
    int label_dim;      /* DL: size of a label embedding */
    int proj;           /* bilinear projection size (256 MRE, 768 MET) */
    float beta;         /* weight of the auxiliary losses */
    float vmoe_weight;  /* weight of L_vmoe inside the auxiliary sum */
    float margin;       /* ranking margin (1) */
    float dropout;      /* on h_x and label embeddings in training */
    int use_vmoe;       /* 0: a plain linear layer d -> d instead (ablation) */
    int use_nce;        /* InfoNCE term */
    int use_mg;         /* MG-VAT term */
    int text_only;      /* ignore images entirely */
    mgv_vat_mode vat_mode;
    float vat_eps, vat_xi;  /* classic VAT radius and probe size */
    int vat_iters;          /* power iterations (classic VAT) */
    int sample_eval;    /* sample the experts' noise at evaluation too */
    int init;           /* dense layers: 0 PyTorch's uniform, 1 Glorot uniform and zero biases */
    int label_dropout;  /* 0: one mask over the labels [C, DL] per batch; 1: one per sample */
    /* Word-vector prior (0 = off, the reference's bilinear score). With
     * prior_dim > 0 the batch also brings frozen word-vector features of the
     * instance (g_x [B, prior_dim]) and of each label (g_l [C,
     * prior_label_dim]), and the score becomes a scaled cosine
     *     s = tau cos(W1 [h_x; g_x] + b1, W2 [h_l; g_l] + b2)
     * whose maps start as the identity on the first prior_identity entries of
     * g_x and g_l (the mention's and the label's mean word vectors) and zero
     * elsewhere, so training starts from the no-training similarity baseline;
     * prior_decay |W - W_init|^2 keeps them near it. See model.h. */
    int prior_dim, prior_label_dim, prior_identity;
    float tau, prior_decay;
} mgv_head_config;

/* The authors' values: those of the model's options (model_options.h), and
 * DESIGN.md's for the rest (margin 1, classic VAT's radius 1, probe 1e-6,
 * one power iteration), for hidden size d and K experts. */
mgv_head_config mgv_head_default_config(int d, int experts, int entity_dim, int label_dim,
                                        int proj);

/* An intervention on the routing, read by every forward pass while set
 * (the caller's pointers, borrowed): experts k with off[k] != 0 get gate 0
 * and the others share the gate renormalised; gates, when set (broadcasting
 * to [..., K]), replace the gate network's probabilities altogether. */
typedef struct mgv_head_routing {
    const unsigned char *off;   /* K flags, or NULL */
    mgv_tensor *gates;          /* or NULL */
} mgv_head_routing;

typedef struct mgv_head {
    mgv_head_config cfg;
    mgv_head_routing route;     /* none after init */
    /* the experts' Y carried between two forwards of one training step
     * (ops_vmoe.h; set and cleared by the caller, NULL otherwise) */
    struct mgv_vmoe_reuse *reuse;
    /* 1: evaluation computes the per-token MoE outputs (out->o_text,
     * o_image) for inspection; 0 (after init): an evaluation forward without
     * tape, noise or losses pools through the experts instead and leaves
     * them NULL (the same scores, graph and node vectors up to rounding) */
    int token_outputs;
    mgv_paramset params;    /* everything the model step updates (not vat.r) */
    mgv_tensor *r;          /* the learned perturbation [1, 2d] (a parameter of its own) */
    mgv_tensor *score_init[2];  /* W1, W2 at initialisation (prior only; no grad) */
    mgv_rng rng;            /* noise and dropout */
} mgv_head;

typedef struct mgv_head_batch {
    mgv_tensor *text, *text_mask;     /* [B, L, d], [B, L] (1 real, 0 padding) */
    mgv_tensor *image, *image_mask;   /* [B, P, d], [B, P]; NULL when text-only */
    mgv_tensor *entity;               /* [B, DE] */
    mgv_tensor *labels;               /* [C, DL] */
    const int64_t *target;            /* B gold label indices in [0, C), or NULL */
    mgv_tensor *prior, *prior_labels; /* g_x [B, Dg], g_l [C, Dgl] (cfg.prior_dim > 0) */
    mgv_tensor *noise_text, *noise_image;  /* optional fixed eps [B, N, K, d] (tests) */
    /* 1: the VIB-MoE and the node vectors g alone (MG-VAT's perturbation
     * step): no fusion, scores or losses; labels and target may be NULL */
    int nodes_only;
} mgv_head_batch;

typedef struct mgv_head_out {
    mgv_tensor *scores;                       /* [B, C] */
    mgv_tensor *loss;                         /* total, when target given */
    mgv_tensor *l_rank, *l_vmoe, *l_nce, *l_mg, *l_prior;
    mgv_tensor *kl_text, *kl_image, *ent_text, *ent_image;
    mgv_tensor *gate_text, *gate_image;       /* [B, L, K], [B, P, K] */
    mgv_tensor *usage_text, *usage_image;     /* expert usage per sample: mean gate over real tokens [B, K] */
    mgv_tensor *o_text, *o_image;             /* MoE outputs [B, N, d] (see token_outputs) */
    mgv_tensor *attention;                    /* [B, P + L] (image tokens first) */
    mgv_tensor *graph;                        /* G [B, B] */
    mgv_tensor *p, *p_tilde;                  /* [B, 2] probabilities */
    mgv_tensor *g;                            /* node vectors [B, 2d] */
    /* the batch's inputs (b->text ... b->labels), for who rebuilds the head */
    mgv_tensor *in_text, *in_text_mask, *in_image, *in_image_mask, *in_entity, *in_labels;
} mgv_head_out;

int mgv_head_init(mgv_head *h, const mgv_head_config *cfg, uint64_t seed);
void mgv_head_free(mgv_head *h);
/* Forward pass. training: sample noise, dropout. Losses are computed when
 * b->target is set. Every tensor in out is a new reference (clear it). */
int mgv_head_forward(mgv_head *h, const mgv_head_batch *b, int training, mgv_head_out *out);
void mgv_head_out_clear(mgv_head_out *out);
/* The reference's perturbation update: one step of opt (an optimiser over
 * h->r alone) on -L_mg(g, r) + |r|_2 (the plain norm) with the node vectors
 * g of a forward pass held fixed (the MoE output does not depend on r). */
int mgv_head_perturb_step(mgv_head *h, mgv_tensor *g, mgv_optim *opt, double *objective);

/*
 * MG-VAT's routines on their own (the head uses them), on node vectors g
 * [B, D] and a graph G [B, B]; differentiable in g, G and r. A perturbation
 * r is [D], [1, D] or [B, D].
 *   mgv_vat_graph: G_ij = (cos(g_i, g_j) + 1) / 2.
 *   mgv_vat_logp: log p [B, 2] = log softmax([<g_i, (G g)_i>, <g_i, ((1 - G) g)_i>]),
 *     of g + r when r is not NULL (log p~).
 *   mgv_vat_loss: mean_i KL(p_i || p~_i).
 *   mgv_vat_power: classic VAT's r_adv = eps d / |d| per node after iters power
 *     iterations from a normal d (rng; NULL the global one), probe size xi;
 *     p and G held fixed, no grad.
 *   mgv_vat_perturb_step: one step of opt (an optimiser over r alone) on
 *     -L_mg(g, G, r) + |r|_2 with g and G held fixed (G NULL: the graph of g);
 *     *objective (may be NULL) gets the objective before the step.
 */
mgv_tensor *mgv_vat_graph(mgv_tensor *g);
mgv_tensor *mgv_vat_logp(mgv_tensor *g, mgv_tensor *G, mgv_tensor *r);
mgv_tensor *mgv_vat_loss(mgv_tensor *g, mgv_tensor *G, mgv_tensor *r);
mgv_tensor *mgv_vat_power(mgv_tensor *g, mgv_tensor *G, float xi, float eps, int iters,
                          mgv_rng *rng);
int mgv_vat_perturb_step(mgv_tensor *r, mgv_tensor *g, mgv_tensor *G, mgv_optim *opt,
                         double *objective);

#endif
