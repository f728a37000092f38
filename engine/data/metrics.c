/*
 * metrics.c — confusion matrix, per-class and averaged P/R/F1 (metrics.h).
 */
#include "data/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void mgv_metrics_free(mgv_metrics *m)
{
    if (!m) return;
    free(m->confusion);
    free(m->precision);
    free(m->recall);
    free(m->f1);
    free(m->support);
    free(m->predicted);
    free(m->tp);
    free(m->present);
    memset(m, 0, sizeof *m);
}

/* tp/den, or 0 when den is 0 (sklearn's zero_division=0). */
static double ratio(int64_t num, int64_t den)
{
    return den > 0 ? (double)num / (double)den : 0.0;
}

int mgv_metrics_compute(int64_t n, const int64_t *gold, const int64_t *pred, int n_classes,
                        mgv_metrics *m)
{
    if (!m) return mgv_fail("metrics: output is NULL");
    memset(m, 0, sizeof *m);
    if (n < 1) return mgv_fail("metrics: no samples (n = %lld)", (long long)n);
    if (!gold || !pred) return mgv_fail("metrics: gold or predicted labels are NULL");
    if (n_classes < 1 || n_classes > 1000000)
        return mgv_fail("metrics: %d classes (must be 1..1000000)", n_classes);
    for (int64_t i = 0; i < n; i++) {
        if (gold[i] < 0 || gold[i] >= n_classes)
            return mgv_fail("metrics: gold label %lld of sample %lld is not in 0..%d",
                            (long long)gold[i], (long long)i, n_classes - 1);
        if (pred[i] < 0 || pred[i] >= n_classes)
            return mgv_fail("metrics: predicted label %lld of sample %lld is not in 0..%d",
                            (long long)pred[i], (long long)i, n_classes - 1);
    }
    size_t C = (size_t)n_classes;
    m->confusion = calloc(C * C, sizeof *m->confusion);
    m->precision = calloc(C, sizeof(double));
    m->recall = calloc(C, sizeof(double));
    m->f1 = calloc(C, sizeof(double));
    m->support = calloc(C, sizeof(int64_t));
    m->predicted = calloc(C, sizeof(int64_t));
    m->tp = calloc(C, sizeof(int64_t));
    m->present = calloc(C, 1);
    if (!m->confusion || !m->precision || !m->recall || !m->f1 || !m->support ||
        !m->predicted || !m->tp || !m->present) {
        mgv_metrics_free(m);
        return mgv_fail("metrics: out of memory for %d classes", n_classes);
    }
    m->n_classes = n_classes;
    m->n = n;
    for (int64_t i = 0; i < n; i++) {
        int64_t g = gold[i], p = pred[i];
        m->confusion[g * n_classes + p]++;
        m->support[g]++;
        m->predicted[p]++;
        if (g == p) m->tp[g]++;
    }
    int64_t tp_sum = 0, pred_sum = 0, true_sum = 0;
    for (int c = 0; c < n_classes; c++) {
        if (m->support[c] == 0 && m->predicted[c] == 0) continue;  /* not in gold ∪ pred */
        m->present[c] = 1;
        m->n_present++;
        m->precision[c] = ratio(m->tp[c], m->predicted[c]);
        m->recall[c] = ratio(m->tp[c], m->support[c]);
        /* 2PR/(P+R) = 2tp/(support + predicted); 0 when tp = 0 */
        m->f1[c] = ratio(2 * m->tp[c], m->support[c] + m->predicted[c]);
        m->macro_p += m->precision[c];
        m->macro_r += m->recall[c];
        m->macro_f1 += m->f1[c];
        tp_sum += m->tp[c];
        pred_sum += m->predicted[c];
        true_sum += m->support[c];
    }
    m->macro_p /= m->n_present;
    m->macro_r /= m->n_present;
    m->macro_f1 /= m->n_present;
    m->micro_p = ratio(tp_sum, pred_sum);
    m->micro_r = ratio(tp_sum, true_sum);
    m->micro_f1 = ratio(2 * tp_sum, pred_sum + true_sum);
    m->accuracy = ratio(tp_sum, n);
    return 0;
}

/* A growing string for the table. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) MGV_PRINTF(2, 3);
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < b->cap - b->len) {
            b->len += (size_t)k;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)k + 64;
        char *ns = realloc(b->s, ncap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = ncap;
    }
}

char *mgv_metrics_table(const mgv_metrics *m, const char *const *names, int all_classes)
{
    if (!m || !m->precision) return mgv_fail_null("metrics_table: no metrics computed");
    int C = m->n_classes;
    char idx[32];
    int width = (int)strlen("macro avg");
    for (int c = 0; c < C; c++) {
        if (!m->present[c] && !all_classes) continue;
        const char *nm = names && names[c] ? names[c] : (snprintf(idx, sizeof idx, "%d", c), idx);
        int len = (int)strlen(nm) + (m->present[c] ? 0 : (int)strlen(" (absent)"));
        if (len > width) width = len;
    }
    strbuf b = {malloc(256), 0, 256, 0};
    if (!b.s) return mgv_fail_null("metrics_table: out of memory");
    b.s[0] = '\0';
    sb_printf(&b, "%-*s  precision  recall      f1  support\n", width, "class");
    for (int c = 0; c < C; c++) {
        if (!m->present[c] && !all_classes) continue;
        const char *nm = names && names[c] ? names[c] : (snprintf(idx, sizeof idx, "%d", c), idx);
        if (m->present[c])
            sb_printf(&b, "%-*s     %6.4f  %6.4f  %6.4f  %7lld\n", width, nm, m->precision[c],
                      m->recall[c], m->f1[c], (long long)m->support[c]);
        else
            sb_printf(&b, "%s (absent)%*s          -       -       -  %7d\n", nm,
                      width - (int)strlen(nm) - (int)strlen(" (absent)"), "", 0);
    }
    sb_printf(&b, "%-*s     %6.4f  %6.4f  %6.4f  %7lld\n", width, "macro avg", m->macro_p,
              m->macro_r, m->macro_f1, (long long)m->n);
    sb_printf(&b, "%-*s     %6.4f  %6.4f  %6.4f  %7lld\n", width, "micro avg", m->micro_p,
              m->micro_r, m->micro_f1, (long long)m->n);
    if (b.oom) {
        free(b.s);
        return mgv_fail_null("metrics_table: out of memory");
    }
    return b.s;
}
