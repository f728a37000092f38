/*
 * params.h — a named, ordered set of parameter tensors: what a model owns,
 * what an optimiser steps and what a checkpoint stores.
 */
#ifndef MGV_PARAMS_H
#define MGV_PARAMS_H

#include "core/rng.h"
#include "core/tensor.h"

typedef struct mgv_paramset {
    int n, cap;
    char **names;
    mgv_tensor **tensors;   /* owned references; leaves that require grad */
} mgv_paramset;

void mgv_params_init(mgv_paramset *ps);
void mgv_params_free(mgv_paramset *ps);
/* Creates a parameter of the given shape, initialised U(-bound, bound)
 * (bound 0 = zeros), and returns it (borrowed: the set owns it). */
mgv_tensor *mgv_params_new(mgv_paramset *ps, const char *name, int ndim, const int64_t *shape,
                           float bound, mgv_rng *rng);
/* Adds an existing tensor (retained). Names must be unique. */
int mgv_params_add(mgv_paramset *ps, const char *name, mgv_tensor *t);
mgv_tensor *mgv_params_get(const mgv_paramset *ps, const char *name);
int64_t mgv_params_count(const mgv_paramset *ps);   /* total elements */

#endif
