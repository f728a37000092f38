/*
 * test_text_encoder.c — the offline text encoder's embedding stage: words,
 * specials and positions through the layer norm, span-aware entity markers
 * ([E] / [E1] / [E2] also carry their span's mean projected word vector),
 * the gradient through that path, and bad input.
 */
#include <stdlib.h>

#include "check.h"
#include "gradcheck.h"
#include "mgv.h"
#include "nn/text_encoder.h"

enum { V = 5, WD = 3, D = 4 };

static mgv_tensor *word_table(void)
{
    int64_t s[2] = {V, WD};
    return gradcheck_input(2, s, 7, -1.0f, 1.0f);
}

static int make_encoder(mgv_text_encoder *te, mgv_paramset *ps, mgv_tensor *words, int span)
{
    mgv_rng r;
    mgv_rng_seed(&r, 11);
    mgv_params_init(ps);
    mgv_text_encoder_config c = {D, 2, 0, 16, 0.0f, span};
    return mgv_text_encoder_init(te, ps, words, &c, &r);
}

/* LN(e + pos_t) by hand: e is the embedding sum before the positions */
static void expected_state(const mgv_text_encoder *te, const double *e, int t, double *out)
{
    double x[D], mean = 0, var = 0;
    for (int k = 0; k < D; k++) {
        x[k] = e[k] + mgv_get_flat(te->pos, t * D + k);
        mean += x[k] / D;
    }
    for (int k = 0; k < D; k++) var += (x[k] - mean) * (x[k] - mean) / D;
    for (int k = 0; k < D; k++)
        out[k] = (x[k] - mean) / sqrt(var + 1e-5) * mgv_get_flat(te->ln_g, k) +
                 mgv_get_flat(te->ln_b, k);
}

/* proj(word) + acc into e (weight f) */
static void add_word(const mgv_text_encoder *te, int word, double f, double *e)
{
    for (int k = 0; k < D; k++) {
        double s = mgv_get_flat(te->proj_b, k);
        for (int j = 0; j < WD; j++)
            s += mgv_get_flat(te->proj_w, k * WD + j) * mgv_get_flat(te->words, word * WD + j);
        e[k] += f * s;
    }
}

static void add_special(const mgv_text_encoder *te, int id, double *e)
{
    for (int k = 0; k < D; k++) e[k] += mgv_get_flat(te->special, (-id - 1) * D + k);
}

static void check_row(mgv_tensor *H, int b, int L, int t, const double *want)
{
    for (int k = 0; k < D; k++)
        CHECK_NEAR(mgv_get_flat(H, (b * L + t) * D + k), want[k], 1e-5);
}

static void test_marker_span(void)
{
    mgv_tensor *words = word_table();
    /* MET: [CLS] w0 [E] w1 w2 [/E] w3 ; MRE: [CLS] [E1] w4 [/E1] w0 [E2] w2 [/E2] */
    enum { L = 8 };
    int32_t ids[2 * L] = {MGV_TOK_CLS, 0, MGV_TOK_E, 1, 2, MGV_TOK_E_END, 3, MGV_TOK_PAD,
                          MGV_TOK_CLS, MGV_TOK_E1, 4, MGV_TOK_E1_END, 0, MGV_TOK_E2, 2,
                          MGV_TOK_E2_END};
    int64_t ms[2] = {2, L};
    mgv_tensor *mask = mgv_ones(2, ms);
    mgv_set_flat(mask, L - 1, 0.0f);
    for (int span = 0; span <= 1; span++) {
        mgv_paramset ps;
        mgv_text_encoder te;
        CHECK(make_encoder(&te, &ps, words, span) == 0);
        mgv_tensor *H = mgv_text_encoder_forward(&te, 2, L, ids, mask, 0, NULL);
        CHECK(H && H->ndim == 3 && H->shape[0] == 2 && H->shape[1] == L && H->shape[2] == D);
        if (!H) {
            mgv_text_encoder_free(&te);
            mgv_params_free(&ps);
            continue;
        }
        double e[D], want[D];
        /* a plain word and [CLS] do not change */
        memset(e, 0, sizeof e);
        add_word(&te, 0, 1.0, e);
        expected_state(&te, e, 1, want);
        check_row(H, 0, L, 1, want);
        memset(e, 0, sizeof e);
        add_special(&te, MGV_TOK_CLS, e);
        expected_state(&te, e, 0, want);
        check_row(H, 0, L, 0, want);
        /* [E]: its embedding, plus the mean of w1 and w2 with marker_span */
        memset(e, 0, sizeof e);
        add_special(&te, MGV_TOK_E, e);
        if (span) {
            add_word(&te, 1, 0.5, e);
            add_word(&te, 2, 0.5, e);
        }
        expected_state(&te, e, 2, want);
        check_row(H, 0, L, 2, want);
        /* the closing marker carries nothing */
        memset(e, 0, sizeof e);
        add_special(&te, MGV_TOK_E_END, e);
        expected_state(&te, e, 5, want);
        check_row(H, 0, L, 5, want);
        /* MRE: [E1] carries w4 only, [E2] carries w2 only */
        memset(e, 0, sizeof e);
        add_special(&te, MGV_TOK_E1, e);
        if (span) add_word(&te, 4, 1.0, e);
        expected_state(&te, e, 1, want);
        check_row(H, 1, L, 1, want);
        memset(e, 0, sizeof e);
        add_special(&te, MGV_TOK_E2, e);
        if (span) add_word(&te, 2, 1.0, e);
        expected_state(&te, e, 5, want);
        check_row(H, 1, L, 5, want);
        mgv_release(H);
        mgv_text_encoder_free(&te);
        mgv_params_free(&ps);
    }
    mgv_release(mask);
    mgv_release(words);
}

/* a span cut by truncation runs to the end; an empty span adds nothing */
static void test_marker_span_edges(void)
{
    mgv_tensor *words = word_table();
    enum { L = 5 };
    int32_t ids[2 * L] = {MGV_TOK_CLS, 3, MGV_TOK_E, 1, 4,
                          MGV_TOK_CLS, MGV_TOK_E, MGV_TOK_E_END, 2, 0};
    int64_t ms[2] = {2, L};
    mgv_tensor *mask = mgv_ones(2, ms);
    mgv_paramset ps;
    mgv_text_encoder te;
    CHECK(make_encoder(&te, &ps, words, 1) == 0);
    mgv_tensor *H = mgv_text_encoder_forward(&te, 2, L, ids, mask, 0, NULL);
    CHECK(H != NULL);
    if (H) {
        double e[D] = {0}, want[D];
        add_special(&te, MGV_TOK_E, e);
        add_word(&te, 1, 0.5, e);
        add_word(&te, 4, 0.5, e);
        expected_state(&te, e, 2, want);
        check_row(H, 0, L, 2, want);
        memset(e, 0, sizeof e);
        add_special(&te, MGV_TOK_E, e);
        expected_state(&te, e, 1, want);
        check_row(H, 1, L, 1, want);
    }
    mgv_release(H);
    mgv_text_encoder_free(&te);
    mgv_params_free(&ps);
    mgv_release(mask);
    mgv_release(words);
}

typedef struct {
    mgv_text_encoder *te;
    mgv_tensor *mask;
    const int32_t *ids;
} fwd_ctx;

static mgv_tensor *fwd(mgv_tensor **in, void *ctx)
{
    fwd_ctx *c = ctx;
    (void)in;   /* the encoder's own parameter tensors are the inputs */
    return mgv_text_encoder_forward(c->te, 1, 6, c->ids, c->mask, 0, NULL);
}

/* the projection and the special rows get their gradient through the marker path too */
static void test_marker_span_gradient(void)
{
    mgv_tensor *words = word_table();
    int32_t ids[6] = {MGV_TOK_CLS, MGV_TOK_E, 2, 3, MGV_TOK_E_END, 1};
    int64_t ms[2] = {1, 6};
    mgv_tensor *mask = mgv_ones(2, ms);
    mgv_paramset ps;
    mgv_text_encoder te;
    CHECK(make_encoder(&te, &ps, words, 1) == 0);
    /* O(1) special rows: the initial ones (|x| <= 0.1) give the layer norm a tiny
     * variance, and differences of h = 1e-2 would no longer be local */
    for (int64_t i = 0; i < mgv_numel(te.special); i++)
        mgv_set_flat(te.special, i, (float)cos(0.7 * (double)i));
    fwd_ctx c = {&te, mask, ids};
    mgv_tensor *in[3] = {te.proj_w, te.proj_b, te.special};
    gradcheck_opts o = {1e-2, 2e-3, 1e-2, 0};
    CHECK(gradcheck("text encoder (marker span)", fwd, &c, 3, in, &o));
    printf("  marker span: max |autograd - numeric| = %.1e\n", o.max_abs_err);
    mgv_text_encoder_free(&te);
    mgv_params_free(&ps);
    mgv_release(mask);
    mgv_release(words);
}

static void test_errors(void)
{
    mgv_tensor *words = word_table();
    int64_t ms[2] = {1, 3};
    mgv_tensor *mask = mgv_ones(2, ms);
    mgv_paramset ps;
    mgv_text_encoder te;
    CHECK(make_encoder(&te, &ps, words, 1) == 0);
    int32_t bad_word[3] = {MGV_TOK_CLS, V, 0};
    CHECK(mgv_text_encoder_forward(&te, 1, 3, bad_word, mask, 0, NULL) == NULL);
    CHECK_ERROR_HAS("outside the table");
    int32_t bad_special[3] = {MGV_TOK_CLS, -MGV_N_SPECIAL - 1, 0};
    CHECK(mgv_text_encoder_forward(&te, 1, 3, bad_special, mask, 0, NULL) == NULL);
    CHECK_ERROR_HAS("unknown special");
    int32_t *many = calloc(17, sizeof(int32_t));
    int64_t ms2[2] = {1, 17};
    mgv_tensor *mask2 = mgv_ones(2, ms2);
    CHECK(mgv_text_encoder_forward(&te, 1, 17, many, mask2, 0, NULL) == NULL);
    CHECK_ERROR_HAS("exceed max_len");
    free(many);
    mgv_release(mask2);
    mgv_text_encoder_free(&te);
    mgv_params_free(&ps);
    mgv_text_encoder_config c = {D, 2, -1, 16, 0.0f, 1};
    mgv_params_init(&ps);
    CHECK(mgv_text_encoder_init(&te, &ps, words, &c, NULL) < 0);
    CHECK_ERROR_HAS("not usable");
    mgv_params_free(&ps);
    mgv_release(mask);
    mgv_release(words);
}

int main(void)
{
    RUN(test_marker_span);
    RUN(test_marker_span_edges);
    RUN(test_marker_span_gradient);
    RUN(test_errors);
    return CHECK_DONE();
}
