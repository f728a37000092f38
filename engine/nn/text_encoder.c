/* text_encoder.c — frozen word vectors + learned specials/positions + transformer
 * (see text_encoder.h; span-aware entity markers). */
#include "nn/text_encoder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int mgv_text_encoder_init(mgv_text_encoder *te, mgv_paramset *ps, mgv_tensor *words,
                          const mgv_text_encoder_config *cfg, mgv_rng *rng)
{
    memset(te, 0, sizeof *te);
    if (!words || words->ndim != 2 || words->shape[0] < 1)
        return mgv_fail("text encoder: word table must be [V x dim] with V >= 1");
    if (cfg->hidden < 1 || cfg->max_len < 2 || cfg->layers < 0)
        return mgv_fail("text encoder: hidden %d, max_len %d, layers %d are not usable",
                        cfg->hidden, cfg->max_len, cfg->layers);
    te->cfg = *cfg;
    int64_t d = cfg->hidden, wd = words->shape[1];
    int64_t pw[2] = {d, wd}, pb[1] = {d}, sp[2] = {MGV_N_SPECIAL, d}, po[2] = {cfg->max_len, d};
    float bound = 1.0f / sqrtf((float)wd);
    if (!(te->proj_w = mgv_params_new(ps, "text.proj.weight", 2, pw, bound, rng)) ||
        !(te->proj_b = mgv_params_new(ps, "text.proj.bias", 1, pb, bound, rng)) ||
        !(te->special = mgv_params_new(ps, "text.special", 2, sp, 0.1f, rng)) ||
        !(te->pos = mgv_params_new(ps, "text.position", 2, po, 0.02f, rng)) ||
        !(te->ln_g = mgv_params_new(ps, "text.norm.weight", 1, pb, 0, rng)) ||
        !(te->ln_b = mgv_params_new(ps, "text.norm.bias", 1, pb, 0, rng)))
        return -1;
    mgv_fill_(te->ln_g, 1.0f);
    if (cfg->layers > 0) {
        mgv_transformer_config tc = mgv_transformer_default_config((int)d, cfg->heads, 4 * (int)d);
        tc.hidden_dropout = cfg->dropout;
        tc.attention_dropout = cfg->dropout;
        if (mgv_transformer_encoder_init(&te->enc, ps, "text.layer", cfg->layers, &tc,
                                         MGV_TRANSFORMER_POST_LN, rng) < 0)
            return -1;
    }
    te->words = mgv_retain(words);
    return 0;
}

void mgv_text_encoder_free(mgv_text_encoder *te)
{
    if (te->cfg.layers > 0) mgv_transformer_encoder_free(&te->enc);
    mgv_release(te->words);
    memset(te, 0, sizeof *te);
}

/* The constant [B, L, L] averaging matrix of span-aware markers: row p of
 * sample b holds 1/n on the n words of the span that an opening marker at p
 * opens (up to its closing marker or the end); other rows are zero.
 * Returns 0 and *out = NULL when the batch has no opening marker. */
static int span_matrix(int64_t B, int64_t L, const int32_t *ids, mgv_tensor **out)
{
    static const int32_t open[3] = {MGV_TOK_E, MGV_TOK_E1, MGV_TOK_E2};
    static const int32_t close[3] = {MGV_TOK_E_END, MGV_TOK_E1_END, MGV_TOK_E2_END};
    *out = NULL;
    int64_t shape[3] = {B, L, L};
    mgv_tensor *A = NULL;
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = 0; p < L; p++) {
            const int32_t *row = ids + b * L;
            int k = -1;
            for (int j = 0; j < 3; j++)
                if (row[p] == open[j]) k = j;
            if (k < 0) continue;
            int64_t n = 0, q;
            for (q = p + 1; q < L && row[q] != close[k]; q++) n += row[q] >= 0;
            if (n == 0) continue;
            if (!A && !(A = mgv_zeros(3, shape))) return -1;
            float *a = mgv_data(A) + (b * L + p) * L;
            for (q = p + 1; q < L && row[q] != close[k]; q++)
                if (row[q] >= 0) a[q] = 1.0f / (float)n;
        }
    *out = A;
    return 0;
}

mgv_tensor *mgv_text_encoder_forward(mgv_text_encoder *te, int64_t B, int64_t L,
                                     const int32_t *ids, mgv_tensor *mask, int training,
                                     mgv_rng *rng)
{
    if (L > te->cfg.max_len)
        return mgv_fail_null("text encoder: %lld tokens exceed max_len %d", (long long)L,
                             te->cfg.max_len);
    int64_t n = B * L, V = te->words->shape[0];
    int64_t *word_idx = malloc(sizeof(int64_t) * (size_t)(n + L + 1));
    int64_t *spec_idx = malloc(sizeof(int64_t) * (size_t)(n + 1));
    float *is_word = malloc(sizeof(float) * (size_t)(n + 1));
    mgv_tensor *t[15] = {0}, *out = NULL;
    if (!word_idx || !spec_idx || !is_word) {
        mgv_fail("text encoder: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id >= V) {
            mgv_fail("text encoder: word id %d outside the table of %lld rows", id, (long long)V);
            goto done;
        }
        if (id < -MGV_N_SPECIAL) {
            mgv_fail("text encoder: unknown special token id %d", id);
            goto done;
        }
        word_idx[i] = id >= 0 ? id : 0;
        spec_idx[i] = id >= 0 ? 0 : -id - 1;
        is_word[i] = id >= 0 ? 1.0f : 0.0f;
    }
    int64_t s2[2] = {B, L}, s3[3] = {B, L, 1};
    /* frozen rows: embedding of a table that does not require grad */
    if (!(t[0] = mgv_embedding(te->words, word_idx, 2, s2))) goto done;
    if (!(t[1] = mgv_linear(t[0], te->proj_w, te->proj_b))) goto done;
    if (!(t[2] = mgv_from_data(3, s3, is_word))) goto done;
    if (!(t[3] = mgv_mul(t[1], t[2]))) goto done;   /* projected words, 0 at specials */
    if (!(t[4] = mgv_embedding(te->special, spec_idx, 2, s2))) goto done;
    /* (1 - is_word) for the special rows */
    for (int64_t i = 0; i < n; i++) is_word[i] = 1.0f - is_word[i];
    if (!(t[5] = mgv_from_data(3, s3, is_word))) goto done;
    if (!(t[6] = mgv_mul(t[4], t[5]))) goto done;
    if (!(t[7] = mgv_add(t[3], t[6]))) goto done;
    mgv_tensor *e = t[7];
    if (te->cfg.marker_span) {
        if (span_matrix(B, L, ids, &t[12]) < 0) goto done;
        if (t[12]) {
            if (!(t[13] = mgv_matmul(t[12], t[3]))) goto done;
            if (!(t[14] = mgv_add(e, t[13]))) goto done;
            e = t[14];
        }
    }
    for (int64_t l = 0; l < L; l++) word_idx[l] = l;
    if (!(t[8] = mgv_embedding(te->pos, word_idx, 1, &L))) goto done;
    if (!(t[9] = mgv_add(e, t[8]))) goto done;
    if (!(t[10] = mgv_layer_norm(t[9], te->ln_g, te->ln_b, 1e-5f))) goto done;
    if (!(t[11] = mgv_dropout(t[10], te->cfg.dropout, training, rng))) goto done;
    if (te->cfg.layers > 0)
        out = mgv_transformer_encoder_forward(&te->enc, t[11], mask, training, rng);
    else
        out = mgv_retain(t[11]);
done:
    for (int i = 0; i < 15; i++) mgv_release(t[i]);
    free(word_idx);
    free(spec_idx);
    free(is_word);
    return out;
}
