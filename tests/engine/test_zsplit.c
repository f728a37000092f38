/*
 * test_zsplit.c — zero-shot splits (MRE shuffle, MET rotation) and the
 * class-balanced sampler.
 *
 * The synthetic expectations come from NumPy 1.24.2:
 *
 *   names = ['rel_%02d' % k for k in range(25)]
 *   names[3], names[11], names[17] = 'None', 'NA', 'Other'
 *   label = [(i * 7 + i // 5) % 25 for i in range(200)]
 *   order = labels in order of first appearance, null names dropped (22)
 *   for seed in range(5):
 *       o = list(order); np.random.RandomState(seed).shuffle(o); a = len(o) // 3
 *       parts = o[:a+1], o[a+1:2*a+1], o[2*a+1:]   # and instance counts per part
 *
 * On the real MNRE text (when present: $MGV_MNRE_DIR, ../shared/data/mnre,
 * or data/mnre from scripts/get-data.sh) seed 0 must give the test
 * relations of the paper's split; without it the synthetic test above still
 * checks the algorithm.
 */
#include <stdlib.h>

#include "check.h"
#include "testutil.h"
#include "data/zsplit.h"

#define NSYN 200
static int syn_label[NSYN];
static char syn_buf[25][16];
static const char *syn_names[25];

static void make_synthetic(void)
{
    for (int k = 0; k < 25; k++) {
        snprintf(syn_buf[k], sizeof syn_buf[k], "rel_%02d", k);
        syn_names[k] = syn_buf[k];
    }
    syn_names[3] = "None";
    syn_names[11] = "NA";
    syn_names[17] = "Other";
    for (int i = 0; i < NSYN; i++) syn_label[i] = (i * 7 + i / 5) % 25;
}

static void test_mre_synthetic(void)
{
    static const int want[5][3][8] = {
        {{6, 1, 23, 16, 7, 10, 5, 24}, {15, 4, 9, 18, 14, 22, 13}, {19, 8, 20, 21, 0, 2, 12}},
        {{24, 9, 21, 16, 20, 2, 1, 18}, {14, 13, 4, 8, 7, 23, 0}, {10, 6, 19, 15, 12, 5, 22}},
        {{12, 0, 23, 4, 24, 6, 21, 1}, {19, 18, 22, 9, 7, 14, 8}, {20, 13, 5, 10, 16, 2, 15}},
        {{6, 16, 9, 7, 14, 23, 12, 24}, {18, 20, 4, 8, 22, 13, 2}, {19, 5, 10, 0, 15, 21, 1}},
        {{6, 24, 0, 21, 4, 5, 2, 14}, {18, 13, 9, 10, 16, 8, 12}, {1, 19, 20, 15, 7, 22, 23}},
    };
    static const int64_t want_n[5][3] = {
        {63, 56, 57}, {63, 60, 53}, {63, 59, 54}, {63, 56, 57}, {67, 55, 54}};
    static const int64_t want_test_sum[5] = {5565, 5066, 5543, 5555, 5008};
    make_synthetic();
    for (int seed = 0; seed < 5; seed++) {
        mgv_zsplit s;
        CHECK(mgv_zsplit_mre(&s, NSYN, syn_label, 25, syn_names, seed) == 0);
        CHECK(s.nlabels[0] == 8 && s.nlabels[1] == 7 && s.nlabels[2] == 7);
        for (int p = 0; p < 3; p++) {
            for (int j = 0; j < s.nlabels[p] && j < 8; j++) CHECK(s.labels[p][j] == want[seed][p][j]);
            CHECK(s.ninst[p] == want_n[seed][p]);
            for (int64_t i = 0; i < s.ninst[p]; i++) {       /* in dataset order, right part */
                int64_t x = s.inst[p][i];
                CHECK(i == 0 || x > s.inst[p][i - 1]);
                int in = 0;
                for (int j = 0; j < s.nlabels[p]; j++) in |= syn_label[x] == s.labels[p][j];
                CHECK(in);
            }
        }
        int64_t sum = 0;
        for (int64_t i = 0; i < s.ninst[2]; i++) sum += s.inst[2][i];
        CHECK(sum == want_test_sum[seed]);
        /* None, NA, Other instances (8 labels of 25 -> 24 instances) are dropped */
        CHECK(s.ndropped == NSYN - want_n[seed][0] - want_n[seed][1] - want_n[seed][2]);
        mgv_zsplit_free(&s);
        CHECK(s.inst[0] == NULL && s.nlabels[0] == 0);
    }
}

static void test_mre_edges(void)
{
    const char *names[4] = {"None", "a", "b", "NA"};
    int lab[6] = {0, 1, 0, 2, 3, 1};
    mgv_zsplit s;
    /* 2 labels: a = 0 -> train 1, val 0, test 1 (as Python slicing gives) */
    CHECK(mgv_zsplit_mre(&s, 6, lab, 4, names, 0) == 0);
    CHECK(s.nlabels[0] == 1 && s.nlabels[1] == 0 && s.nlabels[2] == 1);
    CHECK(s.ninst[0] + s.ninst[2] == 3 && s.ndropped == 3);
    mgv_zsplit_free(&s);
    int only_null[3] = {0, 3, 0};
    CHECK(mgv_zsplit_mre(&s, 3, only_null, 4, names, 0) == -1);
    CHECK_ERROR_HAS("zsplit: no labels left after dropping None/Other/none/NA");
    int bad[2] = {1, 4};
    CHECK(mgv_zsplit_mre(&s, 2, bad, 4, names, 0) == -1);
    CHECK_ERROR_HAS("zsplit: instance 1 has label 4, not in [0, 4)");
    CHECK(mgv_zsplit_mre(&s, 6, lab, 4, names, -1) == -1);
    CHECK_ERROR_HAS("zsplit: seed -1 is not in [0, 2^32)");
    CHECK(mgv_zsplit_mre(&s, 6, lab, 4, names, 4294967296LL) == -1);
    CHECK(mgv_zsplit_mre(&s, 6, lab, 4, names, 4294967295LL) == 0);
    mgv_zsplit_free(&s);
    CHECK(mgv_zsplit_is_null_label("none") && mgv_zsplit_is_null_label("Other") &&
          !mgv_zsplit_is_null_label("NONE") && !mgv_zsplit_is_null_label("/per/per/couple"));
    mgv_zsplit_free(NULL);
}

static void test_met_rotation(void)
{
    /* the 12 types in a scrambled order, plus one type in no group */
    const char *names[13] = {"Movie", "people", "Site", "Event", "APP", "Book", "Currency",
                             "Location", "Misc", "Country", "Building", "Music", "Organization"};
    int lab[26];
    for (int i = 0; i < 26; i++) lab[i] = i % 13;
    /* groups by id: A = people 1, Site 2, Building 10, Currency 6;
     * B = Location 7, Event 3, Book 5, Music 11; C = Organization 12, Country 9, APP 4, Movie 0 */
    static const int A[4] = {1, 2, 10, 6}, B[4] = {7, 3, 5, 11}, C[4] = {12, 9, 4, 0};
    const int *want[3][3] = {{A, B, C}, {B, C, A}, {C, A, B}};
    for (int task = 1; task <= 3; task++) {
        mgv_zsplit s;
        CHECK(mgv_zsplit_met(&s, 26, lab, 13, names, task) == 0);
        for (int p = 0; p < 3; p++) {
            CHECK(s.nlabels[p] == 4 && s.ninst[p] == 8);
            for (int j = 0; j < 4; j++) CHECK(s.labels[p][j] == want[task - 1][p][j]);
        }
        CHECK(s.ndropped == 2);     /* the two "Misc" instances */
        mgv_zsplit_free(&s);
    }
    mgv_zsplit s;
    CHECK(mgv_zsplit_met(&s, 26, lab, 13, names, 4) == -1);
    CHECK_ERROR_HAS("zsplit: MET task 4 is not 1, 2 or 3");
    int no_c[4] = {1, 2, 7, 3};     /* nothing from group C */
    CHECK(mgv_zsplit_met(&s, 4, no_c, 13, names, 1) == -1);
    CHECK_ERROR_HAS("no instances of group C (Organization, Country, APP, Movie) for test");
    int n;
    const char *const *g = mgv_zsplit_met_group(1, &n);
    CHECK(g && n == 4 && !strcmp(g[0], "Location") && mgv_zsplit_met_group(3, &n) == NULL);
}

static void test_sampler(void)
{
    /* 3 classes (labels 2, 5, 9) of sizes 1, 2, 5 */
    int64_t inst[8] = {10, 11, 12, 13, 14, 15, 16, 17};
    int lab[8] = {9, 5, 9, 2, 9, 5, 9, 9};
    mgv_sampler *s = mgv_sampler_new(8, inst, lab);
    CHECK(s && mgv_sampler_nclasses(s) == 3);
    if (!s) return;
    mgv_rng r;
    mgv_rng_seed(&r, 42);
    int hits[8] = {0};
    for (int i = 0; i < 3000; i++) {
        int64_t x = mgv_sampler_next(s, &r);
        CHECK(x >= 10 && x <= 17);
        if (x < 10 || x > 17) break;
        int want = i % 3 == 0 ? 2 : i % 3 == 1 ? 5 : 9;     /* ascending label order */
        CHECK(lab[x - 10] == want);
        hits[x - 10]++;
    }
    /* class 2 has one member: 1000 hits; class 5 two: ~500 each; class 9: ~200 each */
    CHECK(hits[3] == 1000);
    CHECK(hits[1] > 400 && hits[1] < 600 && hits[1] + hits[5] == 1000);
    CHECK(hits[0] > 140 && hits[0] < 260 && hits[6] > 140 && hits[6] < 260);
    /* same seed, same sequence; reset goes back to the first class */
    int64_t a[10], b[10];
    mgv_sampler_reset(s);
    mgv_rng_seed(&r, 7);
    mgv_sampler_fill(s, &r, a, 10);
    mgv_sampler_reset(s);
    mgv_rng_seed(&r, 7);
    mgv_sampler_fill(s, &r, b, 10);
    CHECK(!memcmp(a, b, sizeof a) && a[0] == 13);
    mgv_sampler_free(s);

    CHECK(mgv_sampler_new(0, inst, lab) == NULL);
    CHECK_ERROR_HAS("sampler: no instances");
    int neg[2] = {0, -1};
    CHECK(mgv_sampler_new(2, inst, neg) == NULL);
    CHECK_ERROR_HAS("sampler: instance 11 has negative label -1");

    /* over a split part, labels looked up by instance index */
    make_synthetic();
    mgv_zsplit sp;
    CHECK(mgv_zsplit_mre(&sp, NSYN, syn_label, 25, syn_names, 0) == 0);
    s = mgv_sampler_for_split(&sp, MGV_SPLIT_TEST, syn_label);
    CHECK(s && mgv_sampler_nclasses(s) == 7);
    if (s) {
        for (int i = 0; i < 70; i++) {
            int64_t x = mgv_sampler_next(s, &r);
            int in = 0;
            for (int j = 0; j < 7; j++) in |= syn_label[x] == sp.labels[2][j];
            CHECK(in);
        }
    }
    mgv_sampler_free(s);
    mgv_zsplit_free(&sp);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Seed 0 on the real MNRE v2 text: the paper's test relations. */
static void test_mre_real_seed0(void)
{
    char dir[1024];
    test_mnre_dir(dir, sizeof dir);
    mgv_mnre *ds = test_mnre_load(dir);
    CHECK(ds != NULL);
    if (!ds) return;
    mgv_zsplit s;
    CHECK(mgv_zsplit_mre_dataset(&s, ds, 0) == 0);
    static const char *test_rels[7] = {"/neighbor", "/locate_at", "/alumi", "/held_on",
                                       "/part_of", "/nationality", "/couple"};
    CHECK(s.nlabels[0] == 8 && s.nlabels[1] == 7 && s.nlabels[2] == 7);
    for (int j = 0; j < 7 && j < s.nlabels[2]; j++)
        CHECK(ends_with(ds->rel_names[s.labels[2][j]], test_rels[j]));
    CHECK(s.ninst[0] == 1224 && s.ninst[1] == 3482 && s.ninst[2] == 1061);
    CHECK(s.ndropped == 9718);
    printf("  seed 0 test relations:");
    for (int j = 0; j < s.nlabels[2]; j++) printf(" %s", ds->rel_names[s.labels[2][j]]);
    printf(" (%lld instances)\n", (long long)s.ninst[2]);
    mgv_zsplit_free(&s);
    /* seeds 1-4 (instance counts from the same NumPy procedure) */
    static const int64_t counts[4][3] = {
        {1868, 2228, 1671}, {1032, 4213, 522}, {1750, 3198, 819}, {1421, 1879, 2467}};
    for (int seed = 1; seed <= 4; seed++) {
        CHECK(mgv_zsplit_mre_dataset(&s, ds, seed) == 0);
        for (int q = 0; q < 3; q++) CHECK(s.ninst[q] == counts[seed - 1][q]);
        mgv_zsplit_free(&s);
    }
    mgv_mnre_free(ds);
}

int main(void)
{
    RUN(test_mre_synthetic);
    RUN(test_mre_edges);
    RUN(test_met_rotation);
    RUN(test_sampler);
    char dir[1024];
    if (test_mnre_dir(dir, sizeof dir)) RUN(test_mre_real_seed0);
    else printf("NOTE test_mre_real_seed0 not run: no MNRE text at %s (the synthetic split test "
                "checks the algorithm)\n", dir);
    return CHECK_DONE();
}
