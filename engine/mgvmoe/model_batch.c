/*
 * model_batch.c — batches for the model (see model.h): token sequences
 * with entity markers, WordPiece ids for BERT, picture pixels or features.
 */
#include "mgvmoe/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

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
