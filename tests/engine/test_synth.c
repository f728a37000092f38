/*
 * test_synth.c — the synthetic multimodal zero-shot set: sizes and splits,
 * seeding, what the text says (clear mentions point at their class's name,
 * ambiguous ones exactly between the pair's names), the texture images, and
 * bad configurations.
 */
#include <stdlib.h>

#include "check.h"
#include "mgv.h"
#include "data/synth.h"

static double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb + 1e-30);
}

static void test_sizes_and_splits(void)
{
    mgv_synth_config c = mgv_synth_default_config();
    c.per_class = 6;
    mgv_synth S;
    CHECK(mgv_synth_generate(&c, &S) == 0);
    CHECK(S.data.n == 64 * 6 && S.data.n_classes == 64);
    CHECK(S.split_n[0] == 24 && S.split_n[1] == 20 && S.split_n[2] == 20);
    CHECK(S.data.images && S.data.images->shape[0] == S.data.n && S.data.images->shape[1] == 3 &&
          S.data.images->shape[2] == 16 && S.data.images->shape[3] == 16);
    CHECK(S.word_vectors->shape[0] == S.vocab_size && S.word_vectors->shape[1] == 100);
    /* every class in exactly one split, pairs (2p, 2p+1) together */
    int where[64];
    for (int k = 0; k < 64; k++) where[k] = -1;
    for (int s = 0; s < 3; s++)
        for (int j = 0; j < S.split_n[s]; j++) {
            CHECK(where[S.split[s][j]] == -1);
            where[S.split[s][j]] = s;
        }
    for (int k = 0; k < 64; k += 2) CHECK(where[k] >= 0 && where[k] == where[k + 1]);
    /* instances: one-word mention inside the sentence, word rows in range */
    int amb = 0;
    for (int i = 0; i < S.data.n; i++) {
        const mgv_instance *in = &S.data.inst[i];
        CHECK(in->n_tokens == 10 && in->n_spans == 1);
        CHECK(in->span_begin[0] >= 0 && in->span_end[0] == in->span_begin[0] + 1 &&
              in->span_end[0] <= in->n_tokens);
        for (int t = 0; t < in->n_tokens; t++)
            CHECK(in->tokens[t] >= 0 && in->tokens[t] < S.vocab_size);
        amb += S.ambiguous[i];
    }
    printf("  ambiguous: %d of %d\n", amb, S.data.n);
    CHECK(amb > S.data.n * 0.4 && amb < S.data.n * 0.6);
    mgv_synth_free(&S);
}

static void test_seeded(void)
{
    mgv_synth_config c = mgv_synth_default_config();
    c.per_class = 3;
    c.seed = 4;
    mgv_synth a, b, d;
    CHECK(mgv_synth_generate(&c, &a) == 0);
    CHECK(mgv_synth_generate(&c, &b) == 0);
    c.seed = 5;
    CHECK(mgv_synth_generate(&c, &d) == 0);
    int same_w = 1, same_i = 1, diff = 0;
    for (int64_t i = 0; i < mgv_numel(a.word_vectors); i++)
        same_w &= mgv_get_flat(a.word_vectors, i) == mgv_get_flat(b.word_vectors, i);
    for (int64_t i = 0; i < mgv_numel(a.data.images); i++) {
        same_i &= mgv_get_flat(a.data.images, i) == mgv_get_flat(b.data.images, i);
        diff += mgv_get_flat(a.data.images, i) != mgv_get_flat(d.data.images, i);
    }
    CHECK(same_w && same_i);
    CHECK(diff > 0);
    for (int s = 0; s < 3; s++)
        for (int j = 0; j < a.split_n[s]; j++) CHECK(a.split[s][j] == b.split[s][j]);
    mgv_synth_free(&a);
    mgv_synth_free(&b);
    mgv_synth_free(&d);
}

/* mean |cos(mention, name) - cos(mention, partner's name)| over the ambiguous
 * instances, and the share of clear mentions nearest to their own name */
static void text_stats(const mgv_synth *S, double *amb_gap, double *clear_own)
{
    const float *W = mgv_data(S->word_vectors);
    int D = S->cfg.word_dim, n_clear = 0, own_best = 0, n_amb = 0;
    double gap = 0;
    for (int i = 0; i < S->data.n; i++) {
        const mgv_instance *in = &S->data.inst[i];
        int k = in->label, other = k ^ 1;
        const float *w = W + (size_t)in->tokens[in->span_begin[0]] * (size_t)D;
        double ck = cosine(w, W + (size_t)S->data.class_name_tokens[k][0] * (size_t)D, D);
        double co = cosine(w, W + (size_t)S->data.class_name_tokens[other][0] * (size_t)D, D);
        if (S->ambiguous[i]) {
            n_amb++;
            gap += fabs(ck - co);
        } else {
            n_clear++;
            int best = 1;
            for (int j = 0; j < S->data.n_classes; j++)
                if (j != k &&
                    cosine(w, W + (size_t)S->data.class_name_tokens[j][0] * (size_t)D, D) > ck)
                    best = 0;
            own_best += best;
        }
    }
    *amb_gap = n_amb ? gap / n_amb : 1.0;
    *clear_own = n_clear ? (double)own_best / n_clear : 0.0;
}

/* clear mentions are nearest to their own name; ambiguous ones are equally
 * close to both names of the pair, up to the words' own noise (compare a
 * set whose pair words lean at random) */
static void test_what_the_text_says(void)
{
    mgv_synth_config c = mgv_synth_default_config();
    c.per_class = 10;
    mgv_synth S;
    double gap, own, gap_noisy, own_noisy;
    CHECK(mgv_synth_generate(&c, &S) == 0);
    text_stats(&S, &gap, &own);
    mgv_synth_free(&S);
    c.pair_noise = 0.3f;
    CHECK(mgv_synth_generate(&c, &S) == 0);
    text_stats(&S, &gap_noisy, &own_noisy);
    mgv_synth_free(&S);
    printf("  clear mentions nearest to their own name: %.3f; ambiguous mentions: mean "
           "|cos(name) - cos(partner)| = %.4f (%.4f with pair_noise 0.3)\n", own, gap,
           gap_noisy);
    CHECK(own > 0.9);
    CHECK(gap < 0.03 && gap_noisy > 3 * gap);
}

/* with the tile map alone and no noise, the image repeats every T pixels */
static void test_texture_images(void)
{
    mgv_synth_config c = mgv_synth_default_config();
    c.per_class = 2;
    c.image_shared = 1.0f;
    c.image_noise = 0.0f;
    mgv_synth S;
    CHECK(mgv_synth_generate(&c, &S) == 0);
    int T = c.image_tile, Sz = c.image_size, repeats = 1, in_range = 1;
    double spread = 0;
    for (int i = 0; i < 4; i++) {
        const float *img = mgv_data(S.data.images) + (size_t)i * 3 * Sz * Sz;
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < Sz; y++)
                for (int x = 0; x < Sz; x++) {
                    float v = img[(ch * Sz + y) * Sz + x];
                    repeats &= fabsf(v - img[(ch * Sz + y % T) * Sz + x % T]) < 1e-6f;
                    in_range &= v > -1.0f && v < 1.0f;
                    spread += fabs(v);
                }
    }
    CHECK(repeats && in_range);
    CHECK(spread / (4.0 * 3 * Sz * Sz) > 0.2);   /* not flat */
    mgv_synth_free(&S);
}

static void test_bad_configs(void)
{
    mgv_synth S;
    mgv_synth_config c = mgv_synth_default_config();
    c.n_classes = 7;
    CHECK(mgv_synth_generate(&c, &S) < 0);
    CHECK_ERROR_HAS("even");
    c = mgv_synth_default_config();
    c.image_tile = 17;
    CHECK(mgv_synth_generate(&c, &S) < 0);
    CHECK_ERROR_HAS("image_tile");
    c = mgv_synth_default_config();
    c.image_shared = 1.5f;
    CHECK(mgv_synth_generate(&c, &S) < 0);
    CHECK_ERROR_HAS("image_shared");
    c = mgv_synth_default_config();
    c.latent_dim = 65;
    CHECK(mgv_synth_generate(&c, &S) < 0);
    CHECK_ERROR_HAS("latent_dim");
    c = mgv_synth_default_config();
    c.class_spread = -1;
    CHECK(mgv_synth_generate(&c, &S) < 0);
    CHECK_ERROR_HAS("class_spread");
}

int main(void)
{
    RUN(test_sizes_and_splits);
    RUN(test_seeded);
    RUN(test_what_the_text_says);
    RUN(test_texture_images);
    RUN(test_bad_configs);
    return CHECK_DONE();
}
