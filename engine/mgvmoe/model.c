/* model.c — MG-VMoE end to end (see model.h). */
#include "mgvmoe/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/scope.h"
#include "formats/glove.h"
#include "formats/safetensors.h"

/* the table of options as data (model_options.h) */
#define DEFINE_CHOICES(option, ...) \
    const mgv_choice mgv_model_choices_##option[] = {__VA_ARGS__, {NULL, 0}};
MGV_MODEL_CHOICES(DEFINE_CHOICES)
#undef DEFINE_CHOICES

#define CHOICES_INT(option) NULL
#define CHOICES_NUM(option) NULL
#define CHOICES_BOOL(option) NULL
#define CHOICES_STR(option) NULL
#define CHOICES_CHOICE(option) mgv_model_choices_##option
#define NUMBER_INT(v) (v)
#define NUMBER_NUM(v) (v)
#define NUMBER_BOOL(v) (v)
#define NUMBER_STR(v) 0
#define NUMBER_CHOICE(v) (v)
#define OPTION_ROW(name, at, field, kind, def, ref, known, help)                              \
    {#name, help, MGV_OPT_##kind, CHOICES_##kind(name), NUMBER_##kind(def), NUMBER_##kind(ref), \
     known},
const mgv_model_option mgv_model_options[] = {
    MGV_MODEL_OPTIONS(OPTION_ROW){NULL, NULL, MGV_OPT_INT, NULL, 0, 0, 0}};
#undef OPTION_ROW

const char *mgv_choice_name(const mgv_choice *choices, int v)
{
    for (; choices->name; choices++)
        if (choices->value == v) return choices->name;
    return NULL;
}

const char *mgv_model_option_why(const char *name)
{
#define WHY_ROW(option, reason) \
    if (strcmp(name, #option) == 0) return reason;
    MGV_MODEL_WHY(WHY_ROW)
#undef WHY_ROW
    return NULL;
}

int mgv_model_preset(const char *name, mgv_model_config *c)
{
    if (!name || strcmp(name, "paper") != 0)
        return mgv_fail("model: unknown preset '%s' (known: 'paper')", name ? name : "(null)");
    int n_spans = c->n_spans;
#define SET_KNOWN(option, at, field, kind, def, ref, known, help) \
    if (known && MGV_OPT_##kind != MGV_OPT_STR) MGV_OPTION_FIELD(*c, at, field) = NUMBER_##kind(ref);
    MGV_MODEL_OPTIONS(SET_KNOWN)
#undef SET_KNOWN
    c->n_spans = n_spans;
    /* MET/model.py:36 d = 768; MRE/model.py:70 d = 256 */
    c->head.proj = n_spans == 1 ? 768 : 256;
    return 0;
}

mgv_model_config mgv_model_default_config(void)
{
    mgv_model_config c;
    memset(&c, 0, sizeof c);
    /* what no option sets: the margin, classic VAT's radius, ... */
    c.head = mgv_head_default_config(0, 0, 0, 0, 0);
#define SET_DEFAULT(name, at, field, kind, def, ref, known, help) \
    MGV_OPTION_FIELD(c, at, field) = def;
    MGV_MODEL_OPTIONS(SET_DEFAULT)
#undef SET_DEFAULT
    return c;
}

/* ---- the word-vector prior --------------------------------------------------------- */

/* g_x of an instance: mean word vectors of the mentions (or of the sentence
 * when no mention word is known: the no-training baseline's feature), and
 * with two spans also of the head, the tail, the sentence and the words
 * between the two mentions; one span adds the sentence. */
#define PRIOR_BLOCKS(n_spans) ((n_spans) == 2 ? 5 : 2)

static int prior_of_instance(const mgv_tensor *words, const mgv_instance *in, int n_spans,
                             float *out)
{
    int64_t wd = words->shape[1];
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(in->n_tokens + 1));
    if (!ids) return mgv_fail("model: out of memory");
    memset(out, 0, sizeof(float) * (size_t)(wd * PRIOR_BLOCKS(n_spans)));
    int n = 0;
    for (int s = 0; s < in->n_spans; s++)
        for (int t = in->span_begin[s]; t < in->span_end[s] && t < in->n_tokens; t++)
            ids[n++] = in->tokens[t];
    if (mgv_word_mean(words, ids, n, out) == 0)
        mgv_word_mean(words, in->tokens, in->n_tokens, out);
    float *blk = out + wd;
    if (n_spans == 2 && in->n_spans == 2) {
        for (int s = 0; s < 2; s++, blk += wd) {
            int end = in->span_end[s] < in->n_tokens ? in->span_end[s] : in->n_tokens;
            mgv_word_mean(words, in->tokens + in->span_begin[s], end - in->span_begin[s], blk);
        }
        mgv_word_mean(words, in->tokens, in->n_tokens, blk);
        blk += wd;
        int lo = in->span_end[0] < in->span_end[1] ? in->span_end[0] : in->span_end[1];
        int hi = in->span_begin[0] > in->span_begin[1] ? in->span_begin[0] : in->span_begin[1];
        if (hi > lo && hi <= in->n_tokens) mgv_word_mean(words, in->tokens + lo, hi - lo, blk);
    } else if (n_spans == 1) {
        mgv_word_mean(words, in->tokens, in->n_tokens, blk);
    }
    free(ids);
    return 0;
}

static mgv_tensor *prior_features(const mgv_model *m, const mgv_dataset *ds, const int *idx,
                                  int n)
{
    int64_t shape[2] = {n, m->head.cfg.prior_dim};
    mgv_tensor *g = mgv_zeros(2, shape);
    if (!g) return NULL;
    for (int i = 0; i < n; i++)
        if (prior_of_instance(m->text.words, &ds->inst[idx[i]], m->cfg.n_spans,
                              mgv_data(g) + (int64_t)i * shape[1]) < 0) {
            mgv_release(g);
            return NULL;
        }
    return g;
}

/* g_l: the mean word vector of each class's label phrase */
static mgv_tensor *prior_label_features(const mgv_model *m, const mgv_dataset *ds)
{
    int64_t shape[2] = {ds->n_classes, m->head.cfg.prior_label_dim};
    mgv_tensor *g = mgv_zeros(2, shape);
    if (!g) return NULL;
    for (int c = 0; c < ds->n_classes; c++)
        mgv_word_mean(m->text.words, ds->class_name_tokens[c], ds->class_name_len[c],
                      mgv_data(g) + (int64_t)c * shape[1]);
    return g;
}

/* BERT from a Hugging Face directory and its tokenizer; the model's hidden
 * size and sequence length follow the checkpoint. */
static int init_bert(mgv_model *m, const char *dir)
{
    if (!(m->bert_dir = strdup(dir))) return mgv_fail("model: out of memory");
    m->cfg.bert_dir = m->bert_dir;
    if (mgv_bert_load_dir(&m->bert, &m->params, "text.bert.", dir, &m->rng) < 0) return -1;
    if (!(m->wp = mgv_wordpiece_load_dir(dir))) return -1;
    const mgv_wordpiece_specials *sp = mgv_wordpiece_specials_of(m->wp);
    if (sp->cls < 0 || sp->sep < 0)
        return mgv_fail("model: the BERT vocabulary of %s lacks [CLS] or [SEP]", dir);
    for (int k = 0; k < 2 * m->cfg.n_spans; k++)
        if (sp->marker[k] < 0)
            return mgv_fail("model: the BERT vocabulary of %s lacks the entity marker [unused%d]",
                            dir, k + 1);
    if (m->cfg.bert_lowercase) mgv_wordpiece_set_lowercase(m->wp, 1);
    if (m->cfg.mre_markers && m->cfg.n_spans == 2) {
        /* MRE/data_loader.py:126-141: [unused1] head [unused3], [unused2] tail [unused4] */
        static const int head13[4] = {1, 3, 2, 4};
        if (mgv_wordpiece_set_markers(m->wp, head13) < 0) return -1;
    }
    if (mgv_wordpiece_vocab_size(m->wp) > m->bert.cfg.vocab_size)
        return mgv_fail("model: %s: vocab.txt has %d entries but the model only %d", dir,
                        mgv_wordpiece_vocab_size(m->wp), m->bert.cfg.vocab_size);
    m->cfg.hidden = m->bert.cfg.hidden;
    m->cfg.heads = m->bert.cfg.heads;
    m->cfg.text_layers = m->bert.cfg.layers;
    m->cfg.dropout = m->bert.cfg.hidden_dropout;
    if (m->cfg.max_len > m->bert.cfg.max_position) m->cfg.max_len = m->bert.cfg.max_position;
    if (m->cfg.max_len < 8)
        return mgv_fail("model: max_len %d is too short for BERT sequences (at least 8)",
                        m->cfg.max_len);
    return 0;
}

/* all trainable tensors: encoders then head, then r when the model step
 * moves it too (mg_update 1; r always has its own optimiser as well) */
static int collect_params(mgv_model *m, mgv_tensor ***out)
{
    int n = m->params.n + m->head.params.n, with_r = m->cfg.mg_update == 1;
    mgv_tensor **all = malloc(sizeof(mgv_tensor *) * (size_t)(n + 1));
    if (!all) return mgv_fail("model: out of memory");
    for (int i = 0; i < m->params.n; i++) all[i] = m->params.tensors[i];
    for (int i = 0; i < m->head.params.n; i++) all[m->params.n + i] = m->head.params.tensors[i];
    if (with_r) all[n] = m->head.r;
    *out = all;
    return n + with_r;
}

int mgv_model_init(mgv_model *m, const mgv_model_config *cfg, mgv_tensor *words)
{
    memset(m, 0, sizeof *m);
    if (cfg->n_spans < 1 || cfg->n_spans > MGV_MAX_SPANS)
        return mgv_fail("model: n_spans must be 1 or 2 (got %d)", cfg->n_spans);
    if (!cfg->bert_dir && (cfg->hidden < 1 || cfg->heads < 1 || cfg->hidden % cfg->heads))
        return mgv_fail("model: hidden %d must be a positive multiple of heads %d", cfg->hidden,
                        cfg->heads);
    if (cfg->bert_dir && cfg->text_features)
        return mgv_fail("model: a BERT text encoder and precomputed text features exclude each "
                        "other");
    if (cfg->mg_update < 0 || cfg->mg_update > 1 || cfg->label_text < 0 || cfg->label_text > 1 ||
        cfg->mre_markers < 0 || cfg->mre_markers > 1)
        return mgv_fail("model: mg_update, label_text and mre_markers are 0 or 1");
    if (cfg->bert_dir && cfg->prior)
        return mgv_fail("model: the word-vector prior needs GloVe (the GloVe text encoder's word "
                        "table); turn it off with BERT");
    m->cfg = *cfg;
    m->cfg.bert_dir = NULL;
    mgv_rng_seed(&m->rng, cfg->seed);
    mgv_params_init(&m->params);
    if (cfg->bert_dir) {
        if (init_bert(m, cfg->bert_dir) < 0) goto fail;
    } else if (!cfg->text_features) {
        mgv_text_encoder_config tc = {cfg->hidden, cfg->heads, cfg->text_layers, cfg->max_len,
                                      cfg->dropout, 1 /* span-aware entity markers */};
        if (mgv_text_encoder_init(&m->text, &m->params, words, &tc, &m->rng) < 0) goto fail;
    }
    if (cfg->use_images && !cfg->image_features) {
        mgv_patch_encoder_config pc = mgv_patch_encoder_default_config(cfg->image_size,
                                                                       cfg->patch, m->cfg.hidden);
        /* no GELU layer after the patch embedding: mean/attention pooling of a
         * linear patch embedding stays linear in the pixels, which transfers
         * to unseen classes (synthetic set: val macro-F1 0.84 without, 0.79 with) */
        pc.extra_layer = 0;
        if (mgv_patch_encoder_init(&m->vision, &m->params, "vision", &pc, &m->rng) < 0) goto fail;
    }
    /* the head's sizes follow the encoders */
    int hidden = m->cfg.hidden;
    mgv_head_config hc = cfg->head;
    hc.d = hidden;
    if (hc.entity_dim <= 0) hc.entity_dim = (1 + cfg->n_spans) * hidden;
    if (hc.label_dim <= 0) hc.label_dim = hidden;
    hc.text_only = !cfg->use_images;
    hc.prior_dim = hc.prior_label_dim = hc.prior_identity = 0;
    if (cfg->prior) {
        if (cfg->text_features) {
            mgv_fail("model: the word-vector prior needs the text encoder's word table, not "
                     "precomputed text features");
            goto fail;
        }
        int wd = (int)words->shape[1];
        hc.prior_dim = wd * PRIOR_BLOCKS(cfg->n_spans);
        hc.prior_label_dim = wd;
        /* the projection holds at least the word vectors, so the untrained
         * score is exactly the baseline's cosine */
        if (hc.proj < wd) hc.proj = m->cfg.head.proj = wd;
        hc.prior_identity = wd;
    }
    if (mgv_head_init(&m->head, &hc, cfg->seed * 7919 + 17) < 0) goto fail;
    mgv_tensor **all = NULL;
    int n = collect_params(m, &all);
    if (n < 0) goto fail;
    m->opt = mgv_adam_new(n, all, cfg->lr, 0.9, 0.999, 1e-7, cfg->weight_decay, 0);
    free(all);
    if (!m->opt) goto fail;
    m->opt_r = mgv_adam_new(1, &m->head.r, cfg->lr, 0.9, 0.999, 1e-7, 0, 0);
    if (!m->opt_r) goto fail;
    return 0;
fail:
    mgv_model_free(m);
    return -1;
}

void mgv_model_free(mgv_model *m)
{
    if (m->opt) mgv_optim_free(m->opt);
    if (m->opt_r) mgv_optim_free(m->opt_r);
    mgv_head_free(&m->head);
    if (m->text.words) mgv_text_encoder_free(&m->text);
    mgv_bert_free(&m->bert);
    if (m->wp) mgv_wordpiece_free(m->wp);
    free(m->bert_dir);
    mgv_params_free(&m->params);
    memset(m, 0, sizeof *m);
}

int64_t mgv_model_param_count(const mgv_model *m)
{
    return mgv_params_count(&m->params) + mgv_params_count(&m->head.params) +
           mgv_numel(m->head.r);
}

/* ---- batches ------------------------------------------------------------ */

static const int32_t open_marker[2][2] = {{MGV_TOK_E, MGV_TOK_E_END}, {MGV_TOK_E1, MGV_TOK_E1_END}};

/* [CLS] + tokens with markers around the spans, cut to max_len around the
 * markers. Writes ids (capacity cap) and the markers' positions. */
static int build_sequence(const mgv_instance *in, int n_spans, int max_len, int32_t *seq,
                          int cap, int64_t *marker)
{
    int32_t open[2], close[2];
    if (n_spans == 1) {
        open[0] = open_marker[0][0];
        close[0] = open_marker[0][1];
    } else {
        open[0] = MGV_TOK_E1;
        close[0] = MGV_TOK_E1_END;
        open[1] = MGV_TOK_E2;
        close[1] = MGV_TOK_E2_END;
    }
    int len = 0;
    int64_t pos[2] = {-1, -1};
    for (int t = 0; t <= in->n_tokens; t++) {
        for (int s = n_spans - 1; s >= 0; s--)   /* closes before opens at one boundary */
            if (t == in->span_end[s] && len < cap) seq[len++] = close[s];
        for (int s = 0; s < n_spans; s++)
            if (t == in->span_begin[s] && len < cap) {
                pos[s] = len;
                seq[len++] = open[s];
            }
        if (t < in->n_tokens && len < cap) seq[len++] = in->tokens[t] >= 0 ? in->tokens[t] : MGV_TOK_UNK;
    }
    for (int s = 0; s < n_spans; s++)
        if (pos[s] < 0) return mgv_fail("span %d [%d, %d) outside the %d tokens", s + 1,
                                        in->span_begin[s], in->span_end[s], in->n_tokens);
    /* window of max_len - 1 tokens (after [CLS]) that holds the markers */
    int room = max_len - 1, start = 0;
    if (len > room) {
        int64_t lo = pos[0], hi = pos[0];
        for (int s = 1; s < n_spans; s++) {
            if (pos[s] < lo) lo = pos[s];
            if (pos[s] > hi) hi = pos[s];
        }
        start = (int)(lo - (room - (hi - lo)) / 2);
        if (start > len - room) start = len - room;
        if (start < 0) start = 0;
        len = room;
    }
    memmove(seq + 1, seq + start, sizeof(int32_t) * (size_t)len);
    seq[0] = MGV_TOK_CLS;
    for (int s = 0; s < n_spans; s++) {
        marker[s] = pos[s] - start + 1;
        if (marker[s] < 1 || marker[s] > len) marker[s] = 1;   /* markers too far apart */
    }
    return len + 1;
}

void mgv_batch_free(mgv_batch *b)
{
    free(b->ids);
    free(b->marker);
    free(b->target);
    mgv_release(b->text_mask);
    mgv_release(b->images);
    mgv_release(b->image_mask);
    memset(b, 0, sizeof *b);
}

static int collate_images(const mgv_model *m, const mgv_dataset *ds, const int *idx, int n,
                          mgv_batch *out);
static int collate_bert(const mgv_model *m, const mgv_dataset *ds, const int *idx, int n,
                        mgv_batch *out);


/* The id matrix [n x L] and the mask [n, L] of a batch (filled by the caller). */
static int batch_alloc_ids(mgv_batch *out, int n, int64_t L)
{
    out->B = n;
    out->L = L;
    out->ids = malloc(sizeof(int32_t) * (size_t)n * (size_t)L);
    int64_t ms[2] = {n, L};
    out->text_mask = mgv_zeros(2, ms);
    if (!out->ids || !out->text_mask) {
        if (!out->ids) mgv_fail("collate: out of memory");
        return -1;
    }
    return 0;
}

int mgv_model_collate(const mgv_model *m, const mgv_dataset *ds, const int *idx, int n,
                      mgv_batch *out)
{
    memset(out, 0, sizeof *out);
    const mgv_model_config *c = &m->cfg;
    if (n < 1) return mgv_fail("collate: empty batch");
    int cap = 0;
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= ds->n)
            return mgv_fail("collate: instance %d out of range (%d instances)", idx[i], ds->n);
        const mgv_instance *in = &ds->inst[idx[i]];
        if (in->n_spans < c->n_spans)
            return mgv_fail("collate: instance %d has %d entity spans, the model wants %d",
                            idx[i], in->n_spans, c->n_spans);
        if (in->n_tokens + 1 + 2 * c->n_spans > cap) cap = in->n_tokens + 1 + 2 * c->n_spans;
    }
    if (m->wp) return collate_bert(m, ds, idx, n, out);
    int32_t *seq = malloc(sizeof(int32_t) * (size_t)n * (size_t)cap);
    int *lens = malloc(sizeof(int) * (size_t)n);
    out->marker = malloc(sizeof(int64_t) * (size_t)n * (size_t)c->n_spans);
    out->target = malloc(sizeof(int64_t) * (size_t)n);
    if (!seq || !lens || !out->marker || !out->target) {
        mgv_fail("collate: out of memory");
        goto fail;
    }
    int L = 1;
    for (int i = 0; i < n; i++) {
        const mgv_instance *in = &ds->inst[idx[i]];
        lens[i] = build_sequence(in, c->n_spans, c->max_len, seq + (size_t)i * (size_t)cap, cap,
                                 out->marker + (size_t)i * (size_t)c->n_spans);
        if (lens[i] < 0) {
            mgv_error_context("collate: instance %d", idx[i]);
            goto fail;
        }
        if (lens[i] > L) L = lens[i];
        out->target[i] = in->label;
    }
    if (batch_alloc_ids(out, n, L) < 0) goto fail;
    float *mk = mgv_data(out->text_mask);
    for (int i = 0; i < n; i++)
        for (int t = 0; t < L; t++) {
            int real = t < lens[i];
            out->ids[i * L + t] = real ? seq[(size_t)i * (size_t)cap + (size_t)t] : MGV_TOK_PAD;
            mk[i * L + t] = real ? 1.0f : 0.0f;
        }
    if (collate_images(m, ds, idx, n, out) < 0) goto fail;
    free(seq);
    free(lens);
    return 0;
fail:
    free(seq);
    free(lens);
    mgv_batch_free(out);
    return -1;
}

/* The pixel images of a batch and their mask (models with the patch encoder). */
static int collate_images(const mgv_model *m, const mgv_dataset *ds, const int *idx, int n,
                          mgv_batch *out)
{
    const mgv_model_config *c = &m->cfg;
    if (c->use_images && !c->image_features) {
        if (!ds->images)
            return mgv_fail("collate: the data set has no images; use a text-only model");
        int64_t S = ds->images->shape[2];
        int64_t is[4] = {n, 3, S, ds->images->shape[3]};
        out->images = mgv_zeros(4, is);
        if (!out->images) return -1;
        int64_t per = 3 * S * ds->images->shape[3];
        int64_t P = m->vision.n_tokens;
        int64_t ps2[2] = {n, P};
        out->image_mask = mgv_zeros(2, ps2);
        if (!out->image_mask) return -1;
        const float *src = mgv_data(ds->images);
        for (int i = 0; i < n; i++) {
            int im = ds->inst[idx[i]].image;
            if (im < 0 || im >= ds->images->shape[0]) continue;   /* no image: all masked */
            memcpy(mgv_data(out->images) + i * per, src + (int64_t)im * per,
                   sizeof(float) * (size_t)per);
            for (int64_t p = 0; p < P; p++) mgv_data(out->image_mask)[i * P + p] = 1.0f;
        }
    }
    return 0;
}

/* The BERT batch: each instance's raw words (MRE) or sentence (MET) through
 * the WordPiece tokenizer with the markers [unused1..4] around its spans,
 * [CLS] ... [SEP], padded with [PAD]. */
static int collate_bert(const mgv_model *m, const mgv_dataset *ds, const int *idx, int n,
                        mgv_batch *out)
{
    int ns = m->cfg.n_spans, L = 1, rc = -1;
    mgv_ids *seq = calloc((size_t)n, sizeof *seq);
    out->marker = malloc(sizeof(int64_t) * (size_t)n * (size_t)ns);
    out->target = malloc(sizeof(int64_t) * (size_t)n);
    if (!seq || !out->marker || !out->target) {
        mgv_fail("collate: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const mgv_instance *in = &ds->inst[idx[i]];
        int64_t *mk = out->marker + (size_t)i * (size_t)ns;
        int r;
        if (in->words)
            r = mgv_wordpiece_sequence_words(m->wp, in->n_tokens, (const char *const *)in->words,
                                             ns, in->span_begin, in->span_end, m->cfg.max_len,
                                             &seq[i], mk);
        else if (in->text)
            r = mgv_wordpiece_sequence_text(m->wp, in->text, strlen(in->text), ns, in->text_begin,
                                            in->text_end, m->cfg.max_len, &seq[i], mk);
        else
            r = mgv_fail("the instance has no raw text (a BERT model needs a data set from "
                         "mgv.data.mre or mgv.data.met)");
        if (r < 0) {
            mgv_error_context("collate: instance %d", idx[i]);
            goto done;
        }
        if (seq[i].n > L) L = seq[i].n;
        out->target[i] = in->label;
    }
    int32_t pad = mgv_wordpiece_specials_of(m->wp)->pad;
    if (pad < 0) pad = 0;
    if (batch_alloc_ids(out, n, L) < 0) goto done;
    float *mask = mgv_data(out->text_mask);
    for (int i = 0; i < n; i++)
        for (int t = 0; t < L; t++) {
            int real = t < seq[i].n;
            out->ids[(size_t)i * (size_t)L + (size_t)t] = real ? seq[i].v[t] : pad;
            mask[(size_t)i * (size_t)L + (size_t)t] = real ? 1.0f : 0.0f;
        }
    rc = collate_images(m, ds, idx, n, out);
done:
    for (int i = 0; seq && i < n; i++) mgv_ids_free(&seq[i]);
    free(seq);
    if (rc < 0) mgv_batch_free(out);
    return rc;
}

/* ---- forward ------------------------------------------------------------ */

static mgv_tensor *label_mean(mgv_model *m, int C, int L, int32_t *ids, mgv_tensor *mask,
                              int training, int all_positions);

/* rows H[b, pos[b]] of H [B, L, d] -> [B, d] */
static mgv_tensor *gather_positions(mgv_tensor *H, const int64_t *pos, int stride, int s)
{
    int64_t B = H->shape[0], L = H->shape[1], d = H->shape[2];
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)B);
    if (!rows) return mgv_fail_null("model: out of memory");
    for (int64_t b = 0; b < B; b++) rows[b] = b * L + (pos ? pos[b * stride + s] : 0);
    int64_t flat[2] = {B * L, d};
    mgv_tensor *H2 = mgv_reshape(H, 2, flat);
    mgv_tensor *r = H2 ? mgv_index_select(H2, 0, rows, B) : NULL;
    mgv_release(H2);
    free(rows);
    return r;
}

/* token states [B, L, d] of a batch through the text encoder (GloVe or BERT) */
static mgv_tensor *encode_text(mgv_model *m, int64_t B, int64_t L, const int32_t *ids,
                               mgv_tensor *mask, int training)
{
    if (m->wp) return mgv_bert_forward(&m->bert, B, L, ids, NULL, mask, training, &m->rng);
    return mgv_text_encoder_forward(&m->text, B, L, ids, mask, training, &m->rng);
}

/* the authors' fixed label lengths: MRE/data_loader.py:112 max_len=16,
 * MET/data_loader.py:350 encode(class_name, 5) */
#define RAW_LABEL_LEN(n_spans) ((n_spans) == 2 ? 16 : 5)

/* [CLS] text [SEP] of the raw name, cut to max_len as keras-bert's encode */
static int raw_label_ids(const mgv_model *m, const char *name, int max_len, mgv_ids *out)
{
    const mgv_wordpiece_specials *sp = mgv_wordpiece_specials_of(m->wp);
    if (sp->cls < 0 || sp->sep < 0) return mgv_fail("model: the vocabulary lacks [CLS] or [SEP]");
    mgv_ids body = {0};
    int rc = mgv_wordpiece_encode(m->wp, name, strlen(name), &body);
    if (rc == 0) rc = mgv_ids_push(out, sp->cls);
    for (int t = 0; rc == 0 && t < body.n && t < max_len - 2; t++) rc = mgv_ids_push(out, body.v[t]);
    if (rc == 0) rc = mgv_ids_push(out, sp->sep);
    mgv_ids_free(&body);
    return rc;
}

/* BERT input of the label texts: [CLS] phrase [SEP] (or the raw name),
 * padded, and the mask */
static int label_ids_bert(const mgv_model *m, const mgv_dataset *ds, int32_t **ids_out,
                          mgv_tensor **mask_out, int *L_out)
{
    int C = ds->n_classes, L = 1, rc = -1, raw = m->cfg.label_text == 1;
    if (raw) L = RAW_LABEL_LEN(m->cfg.n_spans);
    int32_t *ids = NULL;
    mgv_tensor *mask = NULL;
    if (!raw && !ds->class_phrases)
        return mgv_fail("model: the data set has no label phrases (a BERT model needs a data "
                        "set from mgv.data.mre or mgv.data.met)");
    mgv_ids *seq = calloc((size_t)C + 1, sizeof *seq);
    if (!seq) return mgv_fail("model: out of memory");
    for (int c = 0; c < C; c++) {
        const char *ph = raw || !ds->class_phrases[c] ? ds->class_names[c] : ds->class_phrases[c];
        if ((raw ? raw_label_ids(m, ph, L, &seq[c])
                 : mgv_wordpiece_sequence_text(m->wp, ph, strlen(ph), 0, NULL, NULL,
                                               m->cfg.max_len, &seq[c], NULL)) < 0) {
            mgv_error_context("model: label '%s'", ds->class_names[c]);
            goto done;
        }
        if (seq[c].n > L) L = seq[c].n;
    }
    int32_t pad = mgv_wordpiece_specials_of(m->wp)->pad;
    int64_t ms[2] = {C, L};
    ids = malloc(sizeof(int32_t) * (size_t)C * (size_t)L + 1);
    mask = mgv_zeros(2, ms);
    if (!ids || !mask) {
        if (!ids) mgv_fail("model: out of memory");
        goto done;
    }
    for (int c = 0; c < C; c++)
        for (int t = 0; t < L; t++) {
            int real = t < seq[c].n;
            ids[(size_t)c * (size_t)L + (size_t)t] = real ? seq[c].v[t] : (pad < 0 ? 0 : pad);
            mgv_data(mask)[(size_t)c * (size_t)L + (size_t)t] = real ? 1.0f : 0.0f;
        }
    rc = 0;
done:
    for (int c = 0; c < C; c++) mgv_ids_free(&seq[c]);
    free(seq);
    if (rc < 0) {
        free(ids);
        mgv_release(mask);
        return -1;
    }
    *ids_out = ids;
    *mask_out = mask;
    *L_out = L;
    return 0;
}

mgv_tensor *mgv_model_label_embeddings(mgv_model *m, const mgv_dataset *ds, int training)
{
    if (m->wp) {
        int32_t *ids = NULL;
        mgv_tensor *mask = NULL;
        int L = 0;
        if (label_ids_bert(m, ds, &ids, &mask, &L) < 0) return NULL;
        /* raw: MRE/sentence_encoder.py:41 reduce_mean over all positions */
        return label_mean(m, ds->n_classes, L, ids, mask, training, m->cfg.label_text == 1);
    }
    int C = ds->n_classes, L = 2;
    for (int c = 0; c < C; c++)
        if (ds->class_name_len[c] + 1 > L) L = ds->class_name_len[c] + 1;
    if (L > m->cfg.max_len) L = m->cfg.max_len;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)C * (size_t)L);
    int64_t ms[2] = {C, L};
    mgv_tensor *mask = mgv_zeros(2, ms);
    if (!ids || !mask) {
        if (!ids) mgv_fail("model: out of memory");
        free(ids);
        mgv_release(mask);
        return NULL;
    }
    for (int c = 0; c < C; c++) {
        int len = ds->class_name_len[c] + 1;
        if (len > L) len = L;
        for (int t = 0; t < L; t++) {
            int32_t id = MGV_TOK_PAD;
            if (t == 0) id = MGV_TOK_CLS;
            else if (t < len) id = ds->class_name_tokens[c][t - 1] >= 0 ? ds->class_name_tokens[c][t - 1] : MGV_TOK_UNK;
            ids[c * L + t] = id;
            mgv_data(mask)[c * L + t] = t < len ? 1.0f : 0.0f;
        }
    }
    return label_mean(m, C, L, ids, mask, training, 0);
}

/* the mean state over each phrase's real tokens, or over all L positions
 * (takes ids and mask) */
static mgv_tensor *label_mean(mgv_model *m, int C, int L, int32_t *ids, mgv_tensor *mask,
                              int training, int all_positions)
{
    mgv_scope sc = MGV_SCOPE("model");
    mgv_tensor *H, *num, *den, *out = NULL;
    int ax = 1;
    mgv_keep(&sc, mask);
    MGV_TRY(&sc, H, encode_text(m, C, L, ids, mask, training));
    if (all_positions) {
        MGV_TRY(&sc, num, mgv_sum(H, 1, &ax, 0));
        out = mgv_scale(num, 1.0f / (float)L);
        goto fail;
    }
    MGV_TRY(&sc, num, mgv_unsqueeze(mask, -1));
    MGV_TRY(&sc, num, mgv_mul(H, num));
    MGV_TRY(&sc, num, mgv_sum(num, 1, &ax, 0));
    MGV_TRY(&sc, den, mgv_sum(mask, 1, &ax, 1));
    out = mgv_div(num, den);
fail:
    free(ids);
    mgv_scope_close(&sc);
    return out;
}

/* rows idx[0..n) of a feature tensor */
static mgv_tensor *feature_rows(mgv_tensor *t, const int *idx, int n, const char *what)
{
    if (!t) return mgv_fail_null("model: the data set has no precomputed %s features "
                                 "(ds:load_features(path))", what);
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)n);
    if (!rows) return mgv_fail_null("model: out of memory");
    for (int i = 0; i < n; i++) rows[i] = idx[i];
    mgv_tensor *r = mgv_index_select(t, 0, rows, n);
    free(rows);
    return r;
}

/* the forward pass on precomputed text (and image) features */
static int forward_features(mgv_model *m, const mgv_dataset *ds, const int *idx, int n,
                            int training, int want_loss, mgv_head_out *out)
{
    const mgv_features *f = &ds->feat;
    int rc = -1;
    mgv_scope sc = MGV_SCOPE("model");
    mgv_tensor *H, *tm, *ent, *img = NULL, *im = NULL;
    int64_t *target = malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!target) return mgv_fail("model: out of memory");
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= ds->n) {
            mgv_fail("model: instance %d out of range (%d instances)", idx[i], ds->n);
            goto fail;
        }
        target[i] = ds->inst[idx[i]].label;
    }
    MGV_TRY(&sc, H, feature_rows(f->text, idx, n, "text"));
    MGV_TRY(&sc, tm, feature_rows(f->text_mask, idx, n, "text"));
    MGV_TRY(&sc, ent, feature_rows(f->entity, idx, n, "entity"));
    if (!f->labels) {
        mgv_fail("model: the data set has no precomputed label features");
        goto fail;
    }
    if (m->cfg.use_images) {
        if (!m->cfg.image_features) {
            mgv_fail("model: text features with pixel images is not supported; use image "
                     "features too, or a text-only model");
            goto fail;
        }
        MGV_TRY(&sc, img, feature_rows(f->image, idx, n, "image"));
        MGV_TRY(&sc, im, feature_rows(f->image_mask, idx, n, "image"));
    }
    mgv_head_batch hb = {.text = H, .text_mask = tm, .image = img, .image_mask = im,
                         .entity = ent, .labels = f->labels,
                         .target = want_loss ? target : NULL};
    const char *outer = mgv_profile_scope("head");
    rc = mgv_head_forward(&m->head, &hb, training, out);
    mgv_profile_scope(outer);
fail:
    mgv_scope_close(&sc);
    free(target);
    return rc;
}

/* The forward pass through the encoders. labels: the classes' embeddings
 * when the caller already has them (they do not change across the batches
 * of an evaluation), or NULL to encode them here. */
static int forward_batch(mgv_model *m, const mgv_dataset *ds, const int *idx, int n, int training,
                         int want_loss, mgv_tensor *given_labels, mgv_head_out *out)
{
    memset(out, 0, sizeof *out);
    if (m->cfg.text_features) return forward_features(m, ds, idx, n, training, want_loss, out);
    mgv_batch b;
    if (mgv_model_collate(m, ds, idx, n, &b) < 0) return -1;
    int rc = -1, ns = m->cfg.n_spans;
    mgv_scope sc = MGV_SCOPE("model");
    mgv_tensor *H, *ent, *labels, *img = NULL, *image_mask = b.image_mask, *parts[3];
    mgv_tensor *gx = NULL, *gl = NULL;
    /* profile scopes: the text encoder, the label vectors, the head */
    const char *outer = mgv_profile_scope("text");
    MGV_TRY(&sc, H, encode_text(m, b.B, b.L, b.ids, b.text_mask, training));
    MGV_TRY(&sc, parts[0], gather_positions(H, NULL, 0, 0));
    for (int s = 0; s < ns; s++) MGV_TRY(&sc, parts[1 + s], gather_positions(H, b.marker, ns, s));
    MGV_TRY(&sc, ent, mgv_concat(1 + ns, parts, -1));
    mgv_profile_scope("labels");
    MGV_TRY(&sc, labels, given_labels ? mgv_retain(given_labels)
                                      : mgv_model_label_embeddings(m, ds, training));
    mgv_profile_scope("head");
    if (m->cfg.use_images && m->cfg.image_features) {
        MGV_TRY(&sc, img, feature_rows(ds->feat.image, idx, n, "image"));
        MGV_TRY(&sc, image_mask, feature_rows(ds->feat.image_mask, idx, n, "image"));
    } else if (m->cfg.use_images) {
        MGV_TRY(&sc, img, mgv_patch_encoder_forward(&m->vision, b.images, NULL, NULL));
    }
    if (m->head.cfg.prior_dim > 0) {
        MGV_TRY(&sc, gx, prior_features(m, ds, idx, n));
        MGV_TRY(&sc, gl, prior_label_features(m, ds));
    }
    mgv_head_batch hb = {.text = H, .text_mask = b.text_mask, .image = img,
                         .image_mask = image_mask, .entity = ent, .labels = labels,
                         .target = want_loss ? b.target : NULL, .prior = gx,
                         .prior_labels = gl};
    rc = mgv_head_forward(&m->head, &hb, training, out);
fail:
    mgv_profile_scope(outer);
    mgv_scope_close(&sc);
    mgv_batch_free(&b);
    return rc;
}

int mgv_model_forward(mgv_model *m, const mgv_dataset *ds, const int *idx, int n, int training,
                      int want_loss, mgv_head_out *out)
{
    return forward_batch(m, ds, idx, n, training, want_loss, NULL, out);
}

/* the class with the highest score in each row of scores [n, C] */
static void argmax_rows(mgv_tensor *scores, int n, int *best)
{
    int64_t C = scores->shape[1];
    mgv_tensor *sc = mgv_contiguous_data(scores);
    const float *s = sc ? mgv_data(sc) : NULL;
    for (int i = 0; i < n; i++) {
        int b = 0;
        for (int64_t j = 1; s && j < C; j++)
            if (s[i * C + j] > s[i * C + b]) b = (int)j;
        best[i] = b;
    }
    mgv_release(sc);
}

static double scalar_or_zero(mgv_tensor *t) { return t ? mgv_get_flat(t, 0) : 0.0; }

/* the learned r of MG-VAT is in use */
static int learned_r(const mgv_model *m)
{
    const mgv_head_config *hc = &m->cfg.head;
    return hc->use_mg && hc->vat_mode == MGV_VAT_LEARNED && m->cfg.use_images;
}

int mgv_model_perturb_step(mgv_model *m, const mgv_dataset *ds, const int *idx, int n,
                           double *objective)
{
    if (objective) *objective = 0;
    if (!learned_r(m)) return 0;
    /* MRE/framework.py:127-129: a fresh forward with training=True, the
     * gradient of -L_mg + |r| with respect to r alone */
    int prev = mgv_set_grad_enabled(0);
    mgv_head_out out;
    int rc = mgv_model_forward(m, ds, idx, n, 1, 0, &out);
    mgv_set_grad_enabled(prev);
    if (rc < 0) return -1;
    rc = out.g ? mgv_head_perturb_step(&m->head, out.g, m->opt_r, objective) : 0;
    mgv_head_out_clear(&out);
    return rc;
}

int mgv_model_train_step(mgv_model *m, const mgv_dataset *ds, const int *idx, int n,
                         mgv_step_stats *st)
{
    memset(st, 0, sizeof *st);
    if (m->cfg.mg_update == 1 && mgv_model_perturb_step(m, ds, idx, n, &st->r_objective) < 0)
        return -1;
    int prev = mgv_set_grad_enabled(1);
    mgv_head_out out;
    int rc = -1;
    if (mgv_model_forward(m, ds, idx, n, 1, 1, &out) < 0) {
        mgv_set_grad_enabled(prev);
        return -1;
    }
    st->loss = scalar_or_zero(out.loss);
    st->l_rank = scalar_or_zero(out.l_rank);
    st->l_vmoe = scalar_or_zero(out.l_vmoe);
    st->l_nce = scalar_or_zero(out.l_nce);
    st->l_mg = scalar_or_zero(out.l_mg);
    int correct = 0, *best = malloc(sizeof(int) * (size_t)n);
    if (!best) {
        mgv_fail("train step: out of memory");
        goto done;
    }
    argmax_rows(out.scores, n, best);
    for (int i = 0; i < n; i++) correct += best[i] == ds->inst[idx[i]].label;
    free(best);
    st->accuracy = (double)correct / n;
    if (!isfinite(st->loss)) {
        mgv_fail("train step: the loss is %g (diverged); lower the learning rate", st->loss);
        goto done;
    }
    if (mgv_backward(out.loss, NULL) < 0) goto done;
    if (m->cfg.clip > 0) st->grad_norm = mgv_clip_grad_norm(m->opt->n, m->opt->params, m->cfg.clip);
    if (mgv_optim_step(m->opt) < 0) goto done;
    mgv_optim_zero_grad(m->opt);
    mgv_zero_grad(m->head.r);
    /* ours: the adversarial update of r on this batch's node vectors */
    if (m->cfg.mg_update == 0 && out.g && learned_r(m)) {
        if (mgv_head_perturb_step(&m->head, out.g, m->opt_r, &st->r_objective) < 0) goto done;
    }
    m->steps++;
    rc = 0;
done:
    mgv_head_out_clear(&out);
    mgv_optim_zero_grad(m->opt);
    mgv_zero_grad(m->head.r);
    mgv_set_grad_enabled(prev);
    return rc;
}

int mgv_model_predict_range(mgv_model *m, const mgv_dataset *ds, int first, int count,
                            int batch_size, int *pred)
{
    if (batch_size < 1) return mgv_fail("predict: batch size %d", batch_size);
    if (first < 0 || count < 0 || first + count > ds->n)
        return mgv_fail("predict: instances [%d, %d) outside the %d of the data set", first,
                        first + count, ds->n);
    int prev = mgv_set_grad_enabled(0);
    int *idx = malloc(sizeof(int) * (size_t)batch_size);
    int rc = 0;
    if (!idx) rc = mgv_fail("predict: out of memory");
    /* evaluation is deterministic: the label embeddings serve every batch */
    mgv_tensor *labels = NULL;
    if (rc == 0 && count > 0 && !m->cfg.text_features &&
        !(labels = mgv_model_label_embeddings(m, ds, 0)))
        rc = -1;
    for (int done = 0; done < count && rc == 0; done += batch_size) {
        if (mgv_interrupted()) {
            rc = mgv_fail("predict: interrupted");
            break;
        }
        int n = count - done < batch_size ? count - done : batch_size;
        for (int i = 0; i < n; i++) idx[i] = first + done + i;
        mgv_head_out out;
        if (forward_batch(m, ds, idx, n, 0, 0, labels, &out) < 0) {
            rc = -1;
            break;
        }
        argmax_rows(out.scores, n, pred + done);
        mgv_head_out_clear(&out);
    }
    mgv_release(labels);
    free(idx);
    mgv_set_grad_enabled(prev);
    return rc;
}

int mgv_model_predict(mgv_model *m, const mgv_dataset *ds, int batch_size, int *pred,
                      void (*progress)(int64_t done, int64_t total, void *ctx), void *ctx)
{
    if (batch_size < 1) return mgv_fail("predict: batch size %d", batch_size);
    /* in chunks of a few batches so that progress can be shown */
    int chunk = batch_size * 8;
    for (int first = 0; first < ds->n; first += chunk) {
        int n = ds->n - first < chunk ? ds->n - first : chunk;
        if (mgv_model_predict_range(m, ds, first, n, batch_size, pred + first) < 0) return -1;
        if (progress) progress(first + n, ds->n, ctx);
    }
    return 0;
}

/* ---- checkpoints ---------------------------------------------------------- */

typedef struct {
    int n, cap;
    char **names;
    mgv_tensor **ts;
} named_list;

static int nl_add(named_list *l, const char *prefix, const char *name, mgv_tensor *t)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **nn = realloc(l->names, sizeof(char *) * (size_t)cap);
        if (nn) l->names = nn;
        mgv_tensor **nt = realloc(l->ts, sizeof(mgv_tensor *) * (size_t)cap);
        if (nt) l->ts = nt;
        if (!nn || !nt) return mgv_fail("checkpoint: out of memory");
        l->cap = cap;
    }
    size_t len = strlen(prefix) + strlen(name) + 1;
    l->names[l->n] = malloc(len);
    if (!l->names[l->n]) return mgv_fail("checkpoint: out of memory");
    snprintf(l->names[l->n], len, "%s%s", prefix, name);
    l->ts[l->n++] = t;
    return 0;
}

static void nl_free(named_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    free(l->ts);
}

/* every tensor a checkpoint holds, under its name */
static int checkpoint_tensors(mgv_model *m, int with_optim, named_list *l)
{
    memset(l, 0, sizeof *l);
    const char *pname;
    for (int i = 0; i < m->params.n; i++)
        if (nl_add(l, "", m->params.names[i], m->params.tensors[i]) < 0) return -1;
    for (int i = 0; i < m->head.params.n; i++)
        if (nl_add(l, "", m->head.params.names[i], m->head.params.tensors[i]) < 0) return -1;
    if (nl_add(l, "", "vat.r", m->head.r) < 0) return -1;
    if (!with_optim) return 0;
    /* opt's tensors are the first of l, in order (r last with mg_update 1) */
    for (int i = 0; i < m->opt->n; i++) {
        pname = l->names[i];
        if (m->opt->m[i] && nl_add(l, "optim.m.", pname, m->opt->m[i]) < 0) return -1;
        if (m->opt->v[i] && nl_add(l, "optim.v.", pname, m->opt->v[i]) < 0) return -1;
    }
    if (m->opt_r->m[0] && nl_add(l, "optim_r.m.", "vat.r", m->opt_r->m[0]) < 0) return -1;
    if (m->opt_r->v[0] && nl_add(l, "optim_r.v.", "vat.r", m->opt_r->v[0]) < 0) return -1;
    return 0;
}

int mgv_model_save(mgv_model *m, const char *path, int with_optim, int n_meta,
                   const char *const *keys, const char *const *values)
{
    named_list l;
    int rc = checkpoint_tensors(m, with_optim, &l);
    /* the model's own entries, then every one of the caller's */
    const char **k = rc == 0 ? malloc(sizeof(char *) * (size_t)(n_meta + 4)) : NULL;
    const char **v = k ? malloc(sizeof(char *) * (size_t)(n_meta + 4)) : NULL;
    if (rc == 0 && !v) rc = mgv_fail("checkpoint: out of memory");
    if (rc == 0) {
        char steps[32], t1[32], t2[32];
        int nm = 0;
        snprintf(steps, sizeof steps, "%lld", (long long)m->steps);
        snprintf(t1, sizeof t1, "%lld", (long long)m->opt->t);
        snprintf(t2, sizeof t2, "%lld", (long long)m->opt_r->t);
        k[nm] = "format"; v[nm++] = "mgv-mgvmoe-1";
        k[nm] = "steps"; v[nm++] = steps;
        k[nm] = "optim_t"; v[nm++] = t1;
        k[nm] = "optim_r_t"; v[nm++] = t2;
        for (int i = 0; i < n_meta; i++) {
            k[nm] = keys[i];
            v[nm++] = values[i];
        }
        rc = mgv_safetensors_save(path, l.n, (const char *const *)l.names, l.ts, nm, k, v);
    }
    free(k);
    free(v);
    nl_free(&l);
    return rc;
}

int mgv_model_load(mgv_model *m, const char *path)
{
    mgv_st_file *f = mgv_safetensors_load(path);
    if (!f) return -1;
    named_list l;
    int rc = checkpoint_tensors(m, 0, &l);
    char a[96], b[96];
    /* check everything first: a failed load leaves the model as it was */
    for (int i = 0; i < l.n && rc == 0; i++) {
        mgv_tensor *src = mgv_st_get(f, l.names[i]);
        if (!src)
            rc = mgv_fail("%s: checkpoint lacks '%s' (a model of another configuration?)", path,
                          l.names[i]);
        else if (!mgv_same_shape(src, l.ts[i]))
            rc = mgv_fail("%s: '%s' is %s in the checkpoint but %s in the model", path,
                          l.names[i], mgv_shape_str(src, a, sizeof a),
                          mgv_shape_str(l.ts[i], b, sizeof b));
    }
    /* the optimiser state when present (resume), copied before anything
     * changes: slot i of staged is moment i (m then v) of opt, then of opt_r */
    int n_slots = 2 * m->opt->n + 2;
    mgv_tensor **staged = rc == 0 ? calloc((size_t)n_slots, sizeof *staged) : NULL;
    if (rc == 0 && !staged) rc = mgv_fail("%s: out of memory", path);
    for (int i = 0; i < n_slots && rc == 0; i++) {
        const char *pname = i < 2 * m->opt->n ? l.names[i / 2] : "vat.r";
        char key[256];
        snprintf(key, sizeof key, "%s.%c.%s", i < 2 * m->opt->n ? "optim" : "optim_r",
                 i % 2 ? 'v' : 'm', pname);
        mgv_tensor *src = mgv_st_get(f, key);
        if (src && !(staged[i] = mgv_clone_data(src))) {
            mgv_error_context("%s: optimiser state '%s'", path, key);
            rc = -1;
        }
    }
    for (int i = 0; i < l.n && rc == 0; i++) rc = mgv_copy_(l.ts[i], mgv_st_get(f, l.names[i]));
    for (int i = 0; i < n_slots && rc == 0; i++) {
        if (!staged[i]) continue;
        mgv_optim *o = i < 2 * m->opt->n ? m->opt : m->opt_r;
        int j = i < 2 * m->opt->n ? i / 2 : 0;
        mgv_tensor **slot = i % 2 ? &o->v[j] : &o->m[j];
        mgv_release(*slot);
        *slot = staged[i];
        staged[i] = NULL;
    }
    for (int i = 0; staged && i < n_slots; i++) mgv_release(staged[i]);
    free(staged);
    if (rc == 0) {
        const char *s = mgv_st_meta(f, "steps");
        if (s) m->steps = atoll(s);
        if ((s = mgv_st_meta(f, "optim_t"))) m->opt->t = atoll(s);
        if ((s = mgv_st_meta(f, "optim_r_t"))) m->opt_r->t = atoll(s);
    }
    nl_free(&l);
    mgv_st_free(f);
    return rc;
}
