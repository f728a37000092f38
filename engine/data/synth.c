/* synth.c — the synthetic multimodal zero-shot data set (see synth.h). */
#include "data/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

mgv_synth_config mgv_synth_default_config(void)
{
    mgv_synth_config c;
    c.n_classes = 64;
    c.latent_dim = 6;
    c.word_dim = 100;
    c.per_class = 40;
    c.ambiguous = 0.5f;
    c.class_spread = 0.5f;
    c.image_size = 16;
    c.image_gain = 1.0f;
    c.image_noise = 0.1f;
    c.pair_noise = 0.0f;
    c.image_tile = 4;
    c.image_shared = 0.8f;
    c.sentence_len = 10;
    c.fillers = 200;
    c.seed = 0;
    return c;
}

/* A pronounceable made-up word from syllables, unique by construction of idx. */
static char *made_up_word(int idx, const char *prefix)
{
    static const char *syl[] = {"ka", "lo", "mi", "ren", "su", "tav", "zu", "bex",
                                "dor", "fi", "gal", "hu", "jun", "ny", "pol", "quo"};
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%s", prefix);
    int v = idx;
    do {
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s", syl[v % 16]);
        v /= 16;
    } while (v > 0 && n < 40);
    return strdup(buf);
}

typedef struct {
    const mgv_synth_config *cfg;
    mgv_rng *rng;
    float *E;          /* word_dim x m */
    float *R;          /* 3 S S x m */
    float *vectors;    /* growing table */
    int n_words, cap_words;
    char **words;
} builder;

static int add_word(builder *b, const char *prefix, int idx, const float *latent, float noise)
{
    const mgv_synth_config *c = b->cfg;
    if (b->n_words == b->cap_words) {
        int cap = b->cap_words ? b->cap_words * 2 : 256;
        float *v = realloc(b->vectors, sizeof(float) * (size_t)cap * (size_t)c->word_dim);
        char **w = realloc(b->words, sizeof(char *) * (size_t)cap);
        if (v) b->vectors = v;
        if (w) b->words = w;
        if (!v || !w) return mgv_fail("synth: out of memory");
        b->cap_words = cap;
    }
    float *row = b->vectors + (size_t)b->n_words * (size_t)c->word_dim;
    double norm = 0;
    for (int i = 0; i < c->word_dim; i++) {
        double s = 0;
        for (int j = 0; j < c->latent_dim; j++) s += b->E[i * c->latent_dim + j] * latent[j];
        row[i] = (float)(s + noise * mgv_rng_normal(b->rng));
        norm += row[i] * row[i];
    }
    /* unit length, like the l2-normalised GloVe rows we use */
    norm = sqrt(norm) + 1e-12;
    for (int i = 0; i < c->word_dim; i++) row[i] = (float)(row[i] / norm);
    b->words[b->n_words] = made_up_word(idx, prefix);
    if (!b->words[b->n_words]) return mgv_fail("synth: out of memory");
    return b->n_words++;
}

int mgv_synth_generate(const mgv_synth_config *cfg, mgv_synth *out)
{
    memset(out, 0, sizeof *out);
    const mgv_synth_config *c = cfg;
    if (c->n_classes < 6 || c->n_classes % 2 || c->n_classes > 64)
        return mgv_fail("synth: n_classes must be even and in [6, 64] (got %d)", c->n_classes);
    if (c->latent_dim < 1 || c->word_dim < 1 || c->per_class < 1 || c->image_size < 1 ||
        c->sentence_len < 3 || c->fillers < 1)
        return mgv_fail("synth: sizes must be positive (latent %d, word %d, per class %d, "
                        "image %d, sentence %d >= 3, fillers %d)", c->latent_dim, c->word_dim,
                        c->per_class, c->image_size, c->sentence_len, c->fillers);
    if (c->latent_dim > 64)
        return mgv_fail("synth: latent_dim %d above 64", c->latent_dim);
    /* upper bounds: sizes multiply (3 S^2 in int, instances x tokens in malloc) */
    if (c->per_class > 10000 || c->image_size > 256 || c->sentence_len > 1000 ||
        c->word_dim > 4096 || c->fillers > 100000)
        return mgv_fail("synth: sizes too large (per class %d <= 10000, image %d <= 256, "
                        "sentence %d <= 1000, word %d <= 4096, fillers %d <= 100000)",
                        c->per_class, c->image_size, c->sentence_len, c->word_dim, c->fillers);
    if (c->ambiguous < 0 || c->ambiguous > 1)
        return mgv_fail("synth: ambiguous fraction %g outside [0, 1]", c->ambiguous);
    if (c->image_tile < 0 || c->image_tile > c->image_size || c->image_shared < 0 ||
        c->image_shared > 1)
        return mgv_fail("synth: image_tile %d outside [0, %d] or image_shared %g outside [0, 1]",
                        c->image_tile, c->image_size, c->image_shared);
    if (c->class_spread < 0 || c->pair_noise < 0 || c->image_noise < 0)
        return mgv_fail("synth: class_spread %g, pair_noise %g, image_noise %g must be >= 0",
                        c->class_spread, c->pair_noise, c->image_noise);
    out->cfg = *c;
    mgv_rng rng;
    mgv_rng_seed(&rng, c->seed);
    int m = c->latent_dim, S = c->image_size, npix = 3 * S * S, C = c->n_classes;
    builder b = {c, &rng, NULL, NULL, NULL, 0, 0, NULL};
    b.E = malloc(sizeof(float) * (size_t)c->word_dim * (size_t)m);
    b.R = malloc(sizeof(float) * (size_t)npix * (size_t)m);
    float *u = malloc(sizeof(float) * (size_t)C * (size_t)m);
    int *cue_words = malloc(sizeof(int) * (size_t)C * 4);
    int *pair_words = malloc(sizeof(int) * (size_t)(C / 2) * 4);
    int *filler_ids = malloc(sizeof(int) * (size_t)c->fillers);
    int rc = -1;
    if (!b.E || !b.R || !u || !cue_words || !pair_words || !filler_ids) {
        mgv_fail("synth: out of memory");
        goto done;
    }
    for (int i = 0; i < c->word_dim * m; i++) b.E[i] = (float)mgv_rng_normal(&rng);
    for (int i = 0; i < npix * m; i++) b.R[i] = (float)(mgv_rng_normal(&rng) / sqrt(m));
    if (c->image_tile > 0) {
        /* texture: each pixel's map mixes the map of its place in a tile */
        int T = c->image_tile;
        float *Rt = malloc(sizeof(float) * (size_t)(3 * T * T) * (size_t)m);
        if (!Rt) {
            mgv_fail("synth: out of memory");
            goto done;
        }
        for (int i = 0; i < 3 * T * T * m; i++) Rt[i] = (float)(mgv_rng_normal(&rng) / sqrt(m));
        float a = c->image_shared, r = sqrtf(fmaxf(0.0f, 1.0f - a * a));
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    int q = (ch * S + y) * S + x, t = (ch * T + y % T) * T + x % T;
                    for (int j = 0; j < m; j++)
                        b.R[q * m + j] = a * Rt[t * m + j] + r * b.R[q * m + j];
                }
        free(Rt);
    }
    for (int i = 0; i < C * m; i++) u[i] = (float)mgv_rng_normal(&rng);

    /* vocabulary: class names, cue words per class, cue words per pair, fillers */
    mgv_dataset *ds = &out->data;
    ds->n_classes = C;
    ds->class_names = calloc((size_t)C, sizeof(char *));
    ds->class_name_tokens = calloc((size_t)C, sizeof(int32_t *));
    ds->class_name_len = calloc((size_t)C, sizeof(int));
    if (!ds->class_names || !ds->class_name_tokens || !ds->class_name_len) {
        mgv_fail("synth: out of memory");
        goto done;
    }
    float lat[64];
    for (int k = 0; k < C; k++) {
        int id = add_word(&b, "", k, u + k * m, 0.05f);
        if (id < 0) goto done;
        ds->class_names[k] = strdup(b.words[id]);
        ds->class_name_tokens[k] = malloc(sizeof(int32_t));
        if (!ds->class_names[k] || !ds->class_name_tokens[k]) {
            mgv_fail("synth: out of memory");
            goto done;
        }
        ds->class_name_tokens[k][0] = id;
        ds->class_name_len[k] = 1;
        for (int w = 0; w < 4; w++) {
            for (int j = 0; j < m; j++) lat[j] = u[k * m + j] + 0.3f * (float)mgv_rng_normal(&rng);
            if ((cue_words[k * 4 + w] = add_word(&b, "c", k * 4 + w, lat, 0.1f)) < 0) goto done;
        }
    }
    for (int p = 0; p < C / 2; p++)
        for (int w = 0; w < 4; w++) {
            /* the midpoint of the two names' directions in word space (E is
             * linear), so the word is equally close to both names */
            const float *ua = u + 2 * p * m, *ub = u + (2 * p + 1) * m;
            double na = 0, nb = 0;
            for (int i = 0; i < c->word_dim; i++) {
                double sa = 0, sb = 0;
                for (int j = 0; j < m; j++) {
                    sa += b.E[i * m + j] * ua[j];
                    sb += b.E[i * m + j] * ub[j];
                }
                na += sa * sa;
                nb += sb * sb;
            }
            na = sqrt(na) + 1e-12;
            nb = sqrt(nb) + 1e-12;
            double scale = 0.25 * (na + nb);
            for (int j = 0; j < m; j++)
                lat[j] = (float)(scale * (ua[j] / na + ub[j] / nb)) +
                         c->pair_noise * (float)mgv_rng_normal(&rng);
            if ((pair_words[p * 4 + w] = add_word(&b, "p", p * 4 + w, lat, 0.1f)) < 0) goto done;
        }
    for (int f = 0; f < c->fillers; f++) {
        for (int j = 0; j < m; j++) lat[j] = (float)mgv_rng_normal(&rng);
        if ((filler_ids[f] = add_word(&b, "f", f, lat, 0.3f)) < 0) goto done;
    }

    /* instances */
    int n = C * c->per_class;
    ds->inst = calloc((size_t)n, sizeof(mgv_instance));
    ds->n = ds->inst ? n : 0;
    out->ambiguous = calloc((size_t)n, 1);
    int64_t ishape[4] = {n, 3, S, S};
    ds->images = mgv_empty(4, ishape);
    if (!ds->inst || !out->ambiguous || !ds->images) {
        if (ds->inst && out->ambiguous) mgv_fail("synth: out of memory");
        goto done;
    }
    float *pix = mgv_data(ds->images);
    for (int k = 0; k < C; k++)
        for (int i = 0; i < c->per_class; i++) {
            int idx = k * c->per_class + i;
            mgv_instance *in = &ds->inst[idx];
            for (int j = 0; j < m; j++)
                lat[j] = u[k * m + j] + c->class_spread * (float)mgv_rng_normal(&rng);
            int amb = mgv_rng_uniform(&rng) < c->ambiguous;
            out->ambiguous[idx] = (char)amb;
            in->label = k;
            in->image = idx;
            in->n_spans = 1;
            in->n_tokens = c->sentence_len;
            in->tokens = malloc(sizeof(int32_t) * (size_t)c->sentence_len);
            if (!in->tokens) {
                mgv_fail("synth: out of memory");
                goto done;
            }
            for (int t = 0; t < c->sentence_len; t++)
                in->tokens[t] = filler_ids[mgv_rng_below(&rng, (uint64_t)c->fillers)];
            /* two cue words, one of them the entity mention */
            const int *pool = amb ? pair_words + (k / 2) * 4 : cue_words + k * 4;
            int pos1 = 1 + (int)mgv_rng_below(&rng, (uint64_t)(c->sentence_len - 2));
            int pos2 = (pos1 + 1 + (int)mgv_rng_below(&rng, (uint64_t)(c->sentence_len - 1))) %
                       c->sentence_len;
            in->tokens[pos1] = pool[mgv_rng_below(&rng, 4)];
            in->tokens[pos2] = pool[mgv_rng_below(&rng, 4)];
            in->span_begin[0] = pos1;
            in->span_end[0] = pos1 + 1;
            /* the image renders the instance's own latent */
            float *img = pix + (size_t)idx * (size_t)npix;
            for (int q = 0; q < npix; q++) {
                double s = 0;
                for (int j = 0; j < m; j++) s += b.R[q * m + j] * lat[j];
                img[q] = (float)tanh(c->image_gain * s + c->image_noise * mgv_rng_normal(&rng));
            }
        }

    /* splits: shuffle the pairs, a third of them per split (train gets the rest) */
    int npairs = C / 2, order[32];
    for (int p = 0; p < npairs; p++) order[p] = p;
    for (int p = npairs - 1; p > 0; p--) {
        int q = (int)mgv_rng_below(&rng, (uint64_t)p + 1), t = order[p];
        order[p] = order[q];
        order[q] = t;
    }
    int third = npairs / 3, bounds[4] = {0, npairs - 2 * third, npairs - third, npairs};
    for (int s = 0; s < 3; s++) {
        out->split_n[s] = 0;
        for (int p = bounds[s]; p < bounds[s + 1]; p++) {
            out->split[s][out->split_n[s]++] = 2 * order[p];
            out->split[s][out->split_n[s]++] = 2 * order[p] + 1;
        }
    }

    int64_t vshape[2] = {b.n_words, c->word_dim};
    out->word_vectors = mgv_from_data(2, vshape, b.vectors);
    if (!out->word_vectors) goto done;
    out->vocab_size = b.n_words;
    out->words = b.words;
    b.words = NULL;
    ds->n_word_rows = b.n_words;
    rc = 0;
done:
    if (b.words) {
        for (int i = 0; i < b.n_words; i++) free(b.words[i]);
        free(b.words);
    }
    free(b.vectors);
    free(b.E);
    free(b.R);
    free(u);
    free(cue_words);
    free(pair_words);
    free(filler_ids);
    if (rc < 0) mgv_synth_free(out);
    return rc;
}

void mgv_synth_free(mgv_synth *s)
{
    mgv_dataset_free(&s->data);
    mgv_release(s->word_vectors);
    if (s->words) {
        for (int i = 0; i < s->vocab_size; i++) free(s->words[i]);
        free(s->words);
    }
    free(s->ambiguous);
    memset(s, 0, sizeof *s);
}
