/*
 * test_metrics.c — confusion matrix and P/R/F1 against sklearn.
 *
 * Expected values were computed once with scikit-learn 1.2.1
 * (precision_score / recall_score / f1_score, average="macro" and "micro",
 * zero_division=0, labels=None; precision_recall_fscore_support for the
 * per-class rows; confusion_matrix for the matrix) and pasted here.
 */
#include <stdlib.h>

#include "check.h"
#include "data/metrics.h"

#define N(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

typedef struct expect {
    double macro_p, macro_r, macro_f1, micro_f1;
} expect;

static void check_avgs(const mgv_metrics *m, expect e)
{
    CHECK_NEAR(m->macro_p, e.macro_p, 1e-12);
    CHECK_NEAR(m->macro_r, e.macro_r, 1e-12);
    CHECK_NEAR(m->macro_f1, e.macro_f1, 1e-12);
    CHECK_NEAR(m->micro_f1, e.micro_f1, 1e-12);
    CHECK_NEAR(m->micro_p, e.micro_f1, 1e-12);   /* single-label: micro P = R = F1 */
    CHECK_NEAR(m->micro_r, e.micro_f1, 1e-12);
    CHECK_NEAR(m->accuracy, e.micro_f1, 1e-12);
}

/* 6 classes; class 3 is in gold and predicted once; class 4 is predicted
 * but never gold; class 5 appears nowhere and must not count. */
static void test_mixed(void)
{
    const int64_t gold[] = {0, 0, 1, 1, 1, 2, 2, 3, 0, 1, 3, 1};
    const int64_t pred[] = {0, 1, 1, 1, 0, 2, 4, 0, 0, 2, 3, 4};
    mgv_metrics m;
    CHECK(mgv_metrics_compute(N(gold), gold, pred, 6, &m) == 0);
    /* sklearn: macro P=0.53333333333333333 R=0.41333333333333327
     * F=0.44761904761904764, micro 0.5 */
    check_avgs(&m, (expect){0.53333333333333333, 0.41333333333333327, 0.44761904761904764, 0.5});
    const double P[5] = {0.5, 0.66666666666666663, 0.5, 1, 0};
    const double R[5] = {0.66666666666666663, 0.40000000000000002, 0.5, 0.5, 0};
    const double F[5] = {0.57142857142857151, 0.5, 0.5, 0.66666666666666663, 0};
    const int64_t S[5] = {3, 5, 2, 2, 0};
    for (int c = 0; c < 5; c++) {
        CHECK(m.present[c]);
        CHECK_NEAR(m.precision[c], P[c], 1e-12);
        CHECK_NEAR(m.recall[c], R[c], 1e-12);
        CHECK_NEAR(m.f1[c], F[c], 1e-12);
        CHECK(m.support[c] == S[c]);
    }
    CHECK(!m.present[5] && m.n_present == 5 && m.support[5] == 0 && m.f1[5] == 0);
    /* sklearn confusion_matrix(labels=range(6)), rows = gold */
    const int64_t cm[36] = {2, 1, 0, 0, 0, 0, 1, 2, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0,
                            1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    int same = 1;
    for (int i = 0; i < 36; i++) same &= m.confusion[i] == cm[i];
    CHECK(same);
    CHECK(m.predicted[4] == 2 && m.tp[1] == 2 && m.n == 12 && m.n_classes == 6);
    mgv_metrics_free(&m);
    CHECK(m.confusion == NULL);
    mgv_metrics_free(&m);   /* twice is fine */
}

/* class 3 is gold twice and never predicted (precision 0 by zero_division) */
static void test_never_predicted(void)
{
    const int64_t gold[] = {0, 1, 2, 2, 3, 3, 1};
    const int64_t pred[] = {0, 1, 2, 0, 0, 1, 1};
    mgv_metrics m;
    CHECK(mgv_metrics_compute(N(gold), gold, pred, 4, &m) == 0);
    check_avgs(&m, (expect){0.5, 0.625, 0.4916666666666667, 0.5714285714285714});
    const double P[4] = {0.33333333333333331, 0.66666666666666663, 1, 0};
    const double R[4] = {1, 1, 0.5, 0};
    const double F[4] = {0.5, 0.80000000000000004, 0.66666666666666663, 0};
    for (int c = 0; c < 4; c++) {
        CHECK_NEAR(m.precision[c], P[c], 1e-12);
        CHECK_NEAR(m.recall[c], R[c], 1e-12);
        CHECK_NEAR(m.f1[c], F[c], 1e-12);
    }
    CHECK(m.predicted[3] == 0 && m.support[3] == 2);
    mgv_metrics_free(&m);
}

/* class 2 predicted but never gold (recall 0 by zero_division), counts in macro */
static void test_predicted_not_gold(void)
{
    const int64_t gold[] = {0, 0, 0, 0, 1};
    const int64_t pred[] = {0, 0, 1, 2, 2};
    mgv_metrics m;
    CHECK(mgv_metrics_compute(N(gold), gold, pred, 3, &m) == 0);
    check_avgs(&m, (expect){0.33333333333333331, 0.16666666666666666, 0.22222222222222221,
                            0.40000000000000002});
    CHECK_NEAR(m.f1[0], 0.66666666666666663, 1e-12);
    CHECK(m.present[2] && m.recall[2] == 0 && m.precision[2] == 0 && m.f1[2] == 0);
    mgv_metrics_free(&m);
}

static void test_all_correct_all_wrong(void)
{
    mgv_metrics m;
    const int64_t g1[] = {2, 0, 1, 2, 2};
    CHECK(mgv_metrics_compute(N(g1), g1, g1, 4, &m) == 0);  /* class 3 absent */
    check_avgs(&m, (expect){1, 1, 1, 1});
    CHECK(m.n_present == 3 && !m.present[3]);
    mgv_metrics_free(&m);

    const int64_t g2[] = {0, 1, 2, 0}, p2[] = {1, 2, 0, 2};
    CHECK(mgv_metrics_compute(N(g2), g2, p2, 3, &m) == 0);
    check_avgs(&m, (expect){0, 0, 0, 0});
    CHECK(m.confusion[0 * 3 + 1] == 1 && m.confusion[0 * 3 + 2] == 1 && m.confusion[2 * 3 + 0] == 1);
    mgv_metrics_free(&m);

    const int64_t g3[] = {1, 1, 1};   /* a single label present of 3 */
    CHECK(mgv_metrics_compute(N(g3), g3, g3, 3, &m) == 0);
    check_avgs(&m, (expect){1, 1, 1, 1});
    CHECK(m.n_present == 1);
    mgv_metrics_free(&m);
}

static void test_errors(void)
{
    mgv_metrics m;
    const int64_t g[] = {0, 1, 2}, bad[] = {0, 3, 1}, neg[] = {0, -1, 1};
    CHECK(mgv_metrics_compute(3, g, bad, 3, &m) == -1);
    CHECK_ERROR_HAS("predicted label 3 of sample 1 is not in 0..2");
    CHECK(m.confusion == NULL);
    mgv_metrics_free(&m);
    CHECK(mgv_metrics_compute(3, neg, g, 3, &m) == -1);
    CHECK_ERROR_HAS("gold label -1 of sample 1");
    CHECK(mgv_metrics_compute(0, g, g, 3, &m) == -1);
    CHECK_ERROR_HAS("no samples");
    CHECK(mgv_metrics_compute(3, NULL, g, 3, &m) == -1);
    CHECK_ERROR_HAS("NULL");
    CHECK(mgv_metrics_compute(3, g, g, 0, &m) == -1);
    CHECK_ERROR_HAS("0 classes");
    CHECK(mgv_metrics_table(&m, NULL, 0) == NULL);
    CHECK_ERROR_HAS("no metrics");
}

static void test_table(void)
{
    const int64_t gold[] = {0, 1, 2, 2, 3, 3, 1};
    const int64_t pred[] = {0, 1, 2, 0, 0, 1, 1};
    mgv_metrics m;
    CHECK(mgv_metrics_compute(N(gold), gold, pred, 5, &m) == 0);
    const char *names[5] = {"Person", "/per/loc/place_of_birth", NULL, "Site", "Movie"};
    char *t = mgv_metrics_table(&m, names, 0);
    const char *want =
        "class                    precision  recall      f1  support\n"
        "Person                      0.3333  1.0000  0.5000        1\n"
        "/per/loc/place_of_birth     0.6667  1.0000  0.8000        2\n"
        "2                           1.0000  0.5000  0.6667        2\n"
        "Site                        0.0000  0.0000  0.0000        2\n"
        "macro avg                   0.5000  0.6250  0.4917        7\n"
        "micro avg                   0.5714  0.5714  0.5714        7\n";
    CHECK(t && strcmp(t, want) == 0);
    if (t && strcmp(t, want) != 0) printf("%s", t);
    free(t);
    t = mgv_metrics_table(&m, names, 1);   /* Movie listed, marked absent */
    CHECK(t && strstr(t, "\nMovie (absent)") && strstr(t, "macro avg                   0.5000"));
    if (t && !strstr(t, "\nMovie (absent)")) printf("%s", t);
    free(t);
    t = mgv_metrics_table(&m, NULL, 0);
    CHECK(t && strncmp(t, "class      ", 11) == 0 && strstr(t, "\n3       "));
    free(t);
    mgv_metrics_free(&m);
}

int main(void)
{
    RUN(test_mixed);
    RUN(test_never_predicted);
    RUN(test_predicted_not_gold);
    RUN(test_all_correct_all_wrong);
    RUN(test_errors);
    RUN(test_table);
    return CHECK_DONE();
}
