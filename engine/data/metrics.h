/*
 * metrics.h — classification scores from gold and predicted class indices.
 *
 * The numbers are sklearn's precision_score / recall_score / f1_score with
 * labels=None and zero_division=0:
 *   - the labels scored are the sorted union of the labels in gold and pred
 *     (a class that appears in neither is left out of every average);
 *   - per class: P = tp / predicted, R = tp / support, F1 = 2PR / (P + R),
 *     each 0 when its denominator is 0 (sklearn warns and uses 0);
 *   - macro-P/R/F1 = unweighted means of the per-class values over those
 *     labels (macro-F1 is the mean of F1s, not the F1 of macro-P and macro-R);
 *   - micro-P/R/F1 pool tp/fp/fn over the labels; for single-label data they
 *     all equal accuracy.
 */
#ifndef MGV_METRICS_H
#define MGV_METRICS_H

#include <stdint.h>

typedef struct mgv_metrics {
    int n_classes;              /* C: class indices are 0..C-1 */
    int64_t n;                  /* samples */
    int64_t *confusion;         /* C*C, row = gold, column = predicted */
    /* per class, C entries each; classes outside gold ∪ pred have present 0
     * and zeros everywhere */
    double *precision, *recall, *f1;
    int64_t *support;           /* gold count */
    int64_t *predicted;         /* predicted count */
    int64_t *tp;
    unsigned char *present;     /* in gold ∪ pred (the labels sklearn scores) */
    int n_present;
    double macro_p, macro_r, macro_f1;
    double micro_p, micro_r, micro_f1;
    double accuracy;
} mgv_metrics;

/* Fills m from n gold and predicted indices in [0, n_classes). On error
 * (n < 1, an index out of range, NULL arrays) returns -1 with a message and
 * leaves m empty (safe to free). Free with mgv_metrics_free. */
int mgv_metrics_compute(int64_t n, const int64_t *gold, const int64_t *pred, int n_classes,
                        mgv_metrics *m);
/* Frees the arrays and zeroes m; an already freed or zeroed m is fine. */
void mgv_metrics_free(mgv_metrics *m);

/* The per-class table as text (malloc'd; free() it), one row per scored
 * class in index order, then macro and micro rows:
 *
 *   class            precision  recall      f1  support
 *   Person              0.5000  1.0000  0.6667        2
 *   ...
 *   macro avg           0.2500  0.5000  0.3333        4
 *   micro avg           0.5000  0.5000  0.5000        4
 *
 * names has n_classes entries (NULL, or a NULL entry, prints the index).
 * With all_classes set, classes outside gold ∪ pred are listed too, marked
 * "(absent)"; they never count in the averages. */
char *mgv_metrics_table(const mgv_metrics *m, const char *const *names, int all_classes);

#endif
