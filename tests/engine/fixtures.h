/*
 * fixtures.h — helpers several engine tests share: comparing engine results
 * with golden tensors, writing small fixture files into a temporary
 * directory, linking a golden file into one, and the line format of MNRE's
 * data files. Header-only (static inline: a test that uses none of them gets
 * no unused-function warning).
 */
#ifndef MGV_FIXTURES_H
#define MGV_FIXTURES_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/tensor.h"

/* max |a - b| over all elements (infinity when a or b is missing or the
 * sizes differ; NaN when one is NaN: no later element replaces it, as the
 * comparisons with a NaN are false). */
static inline double max_abs_diff(const mgv_tensor *a, const mgv_tensor *b)
{
    if (!a || !b || mgv_numel(a) != mgv_numel(b)) return INFINITY;
    double worst = 0;
    for (int64_t i = 0; i < mgv_numel(a); i++) {
        double d = fabs((double)mgv_get_flat(a, i) - mgv_get_flat(b, i));
        if (d > worst || isnan(d)) worst = d;
    }
    return worst;
}

/* max |t| over all elements (0 when t is missing; NaN when one is NaN, as
 * max_abs_diff). */
static inline double max_abs(const mgv_tensor *t)
{
    double m = 0;
    for (int64_t i = 0; t && i < mgv_numel(t); i++) {
        double v = fabs((double)mgv_get_flat(t, i));
        if (v > m || isnan(v)) m = v;
    }
    return m;
}

/* Writes text to dir/name (silently nothing when it cannot be opened: the
 * test's next check fails instead). */
static inline void write_file_in(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Symlinks target (relative to the current directory, e.g. a file of
 * tests/golden/) as link; 0 or -1 like symlink(). */
static inline int link_from_cwd(const char *target, const char *link)
{
    char *cwd = getcwd(NULL, 0), abs_target[1024];
    if (!cwd) return -1;
    snprintf(abs_target, sizeof abs_target, "%s/%s", cwd, target);
    free(cwd);
    return symlink(abs_target, link);
}

/* One line of an MNRE data file (a Python dict literal): tokens, head and
 * tail spans (word positions, end exclusive) and the relation. */
#define MNRE_LINE(toks, hb, he, tb, te, rel)                                             \
    "{'token': " toks ", 'h': {'name': 'x', 'pos': [" #hb ", " #he "]}, 't': {'name': 'y', " \
    "'pos': [" #tb ", " #te "]}, 'img_id': 'a.jpg', 'relation': '" rel "'}\n"

#endif
