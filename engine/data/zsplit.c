/*
 * zsplit.c — zero-shot splits and the class-balanced sampler (see zsplit.h).
 */
#include "data/zsplit.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/mt19937.h"

int mgv_zsplit_is_null_label(const char *name)
{
    return name && (!strcmp(name, "None") || !strcmp(name, "Other") || !strcmp(name, "none") ||
                    !strcmp(name, "NA"));
}

void mgv_zsplit_free(mgv_zsplit *s)
{
    if (!s) return;
    for (int p = 0; p < 3; p++) {
        free(s->labels[p]);
        free(s->inst[p]);
    }
    memset(s, 0, sizeof *s);
}

static int check_labels(const char *op, int64_t n, const int *label, int nlabels,
                        const char *const *names)
{
    if (n < 0 || (n > 0 && !label)) return mgv_fail("%s: no labels given", op);
    if (nlabels <= 0 || !names) return mgv_fail("%s: empty label table", op);
    for (int i = 0; i < nlabels; i++)
        if (!names[i]) return mgv_fail("%s: label %d has no name", op, i);
    for (int64_t i = 0; i < n; i++)
        if (label[i] < 0 || label[i] >= nlabels)
            return mgv_fail("%s: instance %lld has label %d, not in [0, %d)", op, (long long)i,
                            label[i], nlabels);
    return 0;
}

/* Fills out's instance lists from part_of[label] (-1: none). */
static int collect(mgv_zsplit *out, int64_t n, const int *label, const int *part_of)
{
    for (int64_t i = 0; i < n; i++) {
        int p = part_of[label[i]];
        if (p < 0) out->ndropped++;
        else out->ninst[p]++;
    }
    for (int p = 0; p < 3; p++) {
        out->inst[p] = malloc((size_t)(out->ninst[p] ? out->ninst[p] : 1) * sizeof(int64_t));
        if (!out->inst[p]) return mgv_fail("zsplit: out of memory");
        out->ninst[p] = 0;
    }
    for (int64_t i = 0; i < n; i++) {
        int p = part_of[label[i]];
        if (p >= 0) out->inst[p][out->ninst[p]++] = i;
    }
    return 0;
}

int mgv_zsplit_mre(mgv_zsplit *out, int64_t n, const int *label, int nlabels,
                   const char *const *names, int64_t seed)
{
    if (!out) return mgv_fail("zsplit: no output");
    memset(out, 0, sizeof *out);
    if (check_labels("zsplit", n, label, nlabels, names)) return -1;
    if (seed < 0 || seed > 0xffffffffLL)
        return mgv_fail("zsplit: seed %lld is not in [0, 2^32)", (long long)seed);
    int *order = malloc((size_t)nlabels * sizeof *order);
    int *part_of = malloc((size_t)nlabels * sizeof *part_of);
    char *seen = calloc((size_t)nlabels, 1);
    int rc = -1, m = 0;
    if (!order || !part_of || !seen) {
        mgv_fail("zsplit: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {      /* labels in order of first appearance */
        int l = label[i];
        if (!seen[l]) {
            seen[l] = 1;
            if (!mgv_zsplit_is_null_label(names[l])) order[m++] = l;
        }
    }
    if (m == 0) {
        mgv_fail("zsplit: no labels left after dropping None/Other/none/NA");
        goto done;
    }
    mgv_mt19937 mt;
    mgv_mt_seed(&mt, (uint32_t)seed);
    mgv_mt_shuffle_int(&mt, order, (size_t)m);
    int a = m / 3;
    int count[3] = {a + 1 < m ? a + 1 : m, 0, 0};
    count[1] = m - count[0] < a ? m - count[0] : a;
    count[2] = m - count[0] - count[1];
    for (int l = 0; l < nlabels; l++) part_of[l] = -1;
    for (int p = 0, k = 0; p < 3; p++) {
        out->labels[p] = malloc((size_t)(count[p] ? count[p] : 1) * sizeof(int));
        if (!out->labels[p]) {
            mgv_fail("zsplit: out of memory");
            goto done;
        }
        for (int j = 0; j < count[p]; j++, k++) {
            out->labels[p][j] = order[k];
            part_of[order[k]] = p;
        }
        out->nlabels[p] = count[p];
    }
    rc = collect(out, n, label, part_of);
done:
    free(order);
    free(part_of);
    free(seen);
    if (rc) mgv_zsplit_free(out);
    return rc;
}

int mgv_zsplit_mre_dataset(mgv_zsplit *out, const mgv_mnre *ds, int64_t seed)
{
    if (!ds) return mgv_fail("zsplit: no dataset");
    int *label = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *label);
    if (!label) return mgv_fail("zsplit: out of memory");
    for (int64_t i = 0; i < ds->n; i++) label[i] = ds->inst[i].rel;
    int rc = mgv_zsplit_mre(out, ds->n, label, ds->nrel, ds->rel_names, seed);
    free(label);
    return rc;
}

static const char *const met_groups[3][4] = {
    {"People", "Site", "Building", "Currency"},
    {"Location", "Event", "Book", "Music"},
    {"Organization", "Country", "APP", "Movie"},
};

const char *const *mgv_zsplit_met_group(int g, int *n)
{
    if (g < 0 || g > 2) return NULL;
    if (n) *n = 4;
    return met_groups[g];
}

int mgv_zsplit_met(mgv_zsplit *out, int64_t n, const int *label, int nlabels,
                   const char *const *names, int task)
{
    if (!out) return mgv_fail("zsplit: no output");
    memset(out, 0, sizeof *out);
    if (task < 1 || task > 3) return mgv_fail("zsplit: MET task %d is not 1, 2 or 3", task);
    if (check_labels("zsplit", n, label, nlabels, names)) return -1;
    int *part_of = malloc((size_t)nlabels * sizeof *part_of);
    int rc = -1;
    if (!part_of) return mgv_fail("zsplit: out of memory");
    for (int l = 0; l < nlabels; l++) part_of[l] = -1;
    /* task t: train group t-1, val group t, test group t+1 (mod 3) */
    for (int p = 0; p < 3; p++) {
        int g = (task - 1 + p) % 3;
        out->labels[p] = malloc((size_t)nlabels * sizeof(int));
        if (!out->labels[p]) {
            mgv_fail("zsplit: out of memory");
            goto done;
        }
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < nlabels; l++)
                if (part_of[l] < 0 && !strcasecmp(names[l], met_groups[g][j])) {
                    part_of[l] = p;     /* every spelling of the name joins the group */
                    out->labels[p][out->nlabels[p]++] = l;
                }
    }
    if (collect(out, n, label, part_of)) goto done;
    for (int p = 0; p < 3; p++)
        if (out->ninst[p] == 0) {
            int g = (task - 1 + p) % 3;
            mgv_fail("zsplit: MET task %d: no instances of group %c (%s, %s, %s, %s) for %s", task,
                     'A' + g, met_groups[g][0], met_groups[g][1], met_groups[g][2],
                     met_groups[g][3], p == 0 ? "train" : p == 1 ? "val" : "test");
            goto done;
        }
    rc = 0;
done:
    free(part_of);
    if (rc) mgv_zsplit_free(out);
    return rc;
}

int mgv_zsplit_met_dataset(mgv_zsplit *out, const mgv_met *ds, int task)
{
    if (!ds) return mgv_fail("zsplit: no dataset");
    int *label = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *label);
    if (!label) return mgv_fail("zsplit: out of memory");
    for (int64_t i = 0; i < ds->n; i++) label[i] = ds->inst[i].type;
    int rc = mgv_zsplit_met(out, ds->n, label, ds->ntypes, ds->type_names, task);
    free(label);
    return rc;
}

/* ---- class-balanced sampler ----------------------------------------- */

struct mgv_sampler {
    int ncls;
    int64_t *start;                 /* ncls + 1 offsets into members */
    int64_t *members;               /* instances grouped by class */
    int next;                       /* class of the next draw */
};

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

mgv_sampler *mgv_sampler_new(int64_t n, const int64_t *inst, const int *label)
{
    if (n <= 0 || !inst || !label) return mgv_fail_null("sampler: no instances");
    for (int64_t i = 0; i < n; i++)
        if (label[i] < 0)
            return mgv_fail_null("sampler: instance %lld has negative label %d",
                                 (long long)inst[i], label[i]);
    mgv_sampler *s = calloc(1, sizeof *s);
    int *sorted = malloc((size_t)n * sizeof *sorted);
    int64_t *pos = NULL;
    if (!s || !sorted) goto oom;
    memcpy(sorted, label, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_int);
    int ncls = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || sorted[i] != sorted[i - 1]) sorted[ncls++] = sorted[i];
    s->ncls = ncls;
    s->start = calloc((size_t)ncls + 1, sizeof *s->start);
    s->members = malloc((size_t)n * sizeof *s->members);
    pos = malloc((size_t)ncls * sizeof *pos);
    if (!s->start || !s->members || !pos) goto oom;
    /* class index of each label by binary search over the distinct labels */
    for (int64_t i = 0; i < n; i++) {
        int *c = bsearch(&label[i], sorted, (size_t)ncls, sizeof *sorted, cmp_int);
        s->start[c - sorted + 1]++;
    }
    for (int c = 0; c < ncls; c++) s->start[c + 1] += s->start[c];
    for (int c = 0; c < ncls; c++) pos[c] = s->start[c];
    for (int64_t i = 0; i < n; i++) {
        int *c = bsearch(&label[i], sorted, (size_t)ncls, sizeof *sorted, cmp_int);
        s->members[pos[c - sorted]++] = inst[i];
    }
    free(pos);
    free(sorted);
    return s;
oom:
    free(pos);
    free(sorted);
    mgv_sampler_free(s);
    return mgv_fail_null("sampler: out of memory");
}

mgv_sampler *mgv_sampler_for_split(const mgv_zsplit *sp, int part, const int *label_of)
{
    if (!sp || part < 0 || part > 2 || !label_of)
        return mgv_fail_null("sampler: bad split part %d", part);
    int64_t n = sp->ninst[part];
    if (n <= 0) return mgv_fail_null("sampler: split part %d has no instances", part);
    int *lab = malloc((size_t)n * sizeof *lab);
    if (!lab) return mgv_fail_null("sampler: out of memory");
    for (int64_t i = 0; i < n; i++) lab[i] = label_of[sp->inst[part][i]];
    mgv_sampler *s = mgv_sampler_new(n, sp->inst[part], lab);
    free(lab);
    return s;
}

int64_t mgv_sampler_next(mgv_sampler *s, mgv_rng *r)
{
    if (!r) r = mgv_rng_global();
    int c = s->next;
    s->next = (c + 1) % s->ncls;
    int64_t cnt = s->start[c + 1] - s->start[c];
    return s->members[s->start[c] + (int64_t)mgv_rng_below(r, (uint64_t)cnt)];
}

void mgv_sampler_fill(mgv_sampler *s, mgv_rng *r, int64_t *out, int64_t count)
{
    for (int64_t i = 0; i < count; i++) out[i] = mgv_sampler_next(s, r);
}

int mgv_sampler_nclasses(const mgv_sampler *s) { return s ? s->ncls : 0; }

void mgv_sampler_reset(mgv_sampler *s)
{
    if (s) s->next = 0;
}

void mgv_sampler_free(mgv_sampler *s)
{
    if (!s) return;
    free(s->start);
    free(s->members);
    free(s);
}
