/*
 * zsplit.h — zero-shot splits of a labelled dataset, and the class-balanced
 * sampler used in training.
 *
 * MRE (MNRE): pool train/val/test (in that order), drop the "no relation"
 * labels (None, Other, none, NA), list the remaining labels in order of first
 * appearance, shuffle that list with NumPy's RandomState(seed).shuffle, and
 * with a = n/3 (integer division) give the first a+1 labels to train, the
 * next a to val and the rest to test (22 -> 8/7/7).
 *
 * MET (WikiDiverse types): three groups that rotate,
 *   A = {People, Site, Building, Currency}, B = {Location, Event, Book, Music},
 *   C = {Organization, Country, APP, Movie};
 *   task 1: train A, val B, test C; task 2: B/C/A; task 3: C/A/B.
 * Type names match case-insensitively; types in no group are dropped.
 *
 * Labels are ints in [0, nlabels) with a name table; instance lists are
 * indices into the dataset, in dataset order.
 */
#ifndef MGV_ZSPLIT_H
#define MGV_ZSPLIT_H

#include <stdint.h>

#include "core/rng.h"
#include "data/met.h"
#include "data/mnre.h"

enum { MGV_SPLIT_TRAIN = 0, MGV_SPLIT_VAL = 1, MGV_SPLIT_TEST = 2 };

typedef struct mgv_zsplit {
    int nlabels[3];                 /* train, val, test */
    int *labels[3];                 /* label ids, in split order */
    int64_t ninst[3];
    int64_t *inst[3];               /* instance indices with those labels */
    int64_t ndropped;               /* instances in no part */
} mgv_zsplit;

/* 1 for the "no relation" names None, Other, none, NA. */
int mgv_zsplit_is_null_label(const char *name);

/* MRE split over n instances with labels label[i] in [0, nlabels). seed in
 * [0, 2^32). Returns 0, or -1 with a message (out is then empty). */
int mgv_zsplit_mre(mgv_zsplit *out, int64_t n, const int *label, int nlabels,
                   const char *const *names, int64_t seed);
/* The same over a (pooled) MNRE dataset. */
int mgv_zsplit_mre_dataset(mgv_zsplit *out, const mgv_mnre *ds, int64_t seed);

/* MET rotation, task 1..3. */
int mgv_zsplit_met(mgv_zsplit *out, int64_t n, const int *label, int nlabels,
                   const char *const *names, int task);
int mgv_zsplit_met_dataset(mgv_zsplit *out, const mgv_met *ds, int task);
/* Type names of MET group g (0 = A, 1 = B, 2 = C); *n gets 4. NULL if g is bad. */
const char *const *mgv_zsplit_met_group(int g, int *n);

void mgv_zsplit_free(mgv_zsplit *s);     /* frees the arrays, zeroes s; NULL ok */

/*
 * Class-balanced sampler: visits the classes round-robin (ascending label
 * id) and returns a uniformly random instance of the current class each
 * time. Built over n instances inst[i] with labels label[i] (copied).
 */
typedef struct mgv_sampler mgv_sampler;

mgv_sampler *mgv_sampler_new(int64_t n, const int64_t *inst, const int *label);
/* Sampler over split part (MGV_SPLIT_*), label_of[] indexed by instance index. */
mgv_sampler *mgv_sampler_for_split(const mgv_zsplit *s, int part, const int *label_of);
int64_t mgv_sampler_next(mgv_sampler *s, mgv_rng *r);          /* r NULL: global */
void mgv_sampler_fill(mgv_sampler *s, mgv_rng *r, int64_t *out, int64_t count);
int mgv_sampler_nclasses(const mgv_sampler *s);
void mgv_sampler_reset(mgv_sampler *s);                        /* back to the first class */
void mgv_sampler_free(mgv_sampler *s);

#endif
