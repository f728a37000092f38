/*
 * rng.h — deterministic seeded random numbers (xoshiro256**, seeded through
 * splitmix64). One generator per model or run; same seed, same numbers.
 */
#ifndef MGV_RNG_H
#define MGV_RNG_H

#include <stdint.h>

#include "core/tensor.h"

typedef struct mgv_rng {
    uint64_t s[4];
    int has_spare;      /* Box-Muller makes normals in pairs */
    double spare;
    /* Row sharding (data-parallel ranks): while rows > 0, a dropout mask of
     * a tensor whose first axis has `rows` rows is drawn as rows
     * [before, before + rows) of the whole batch's tensor, so each rank gets
     * the masks one process would give its rows (the rows after them move no
     * counter). */
    int64_t shard_before, shard_rows;
} mgv_rng;

void mgv_rng_seed(mgv_rng *r, uint64_t seed);
uint64_t mgv_rng_next(mgv_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double mgv_rng_uniform(mgv_rng *r);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t mgv_rng_below(mgv_rng *r, uint64_t n);
double mgv_rng_normal(mgv_rng *r);
/* Sets the row sharding (rows 0: off). */
void mgv_rng_set_shard(mgv_rng *r, int64_t before, int64_t rows);

/*
 * Keyed counter-based draws (dropout masks): a 32-bit hash of a counter
 * under a 64-bit key, two rounds of an invertible mixer (lowbias32) with a
 * key half injected before each. Element i of a mask is draw i whatever
 * order or thread computes it, so masks are drawn in parallel, by SIMD
 * lanes, and again in backward instead of being stored. k1 takes the high
 * half of the counter (mgv_rng_keyed_hi), lo the low half.
 */
static inline uint32_t mgv_rng_keyed32(uint32_t k0, uint32_t k1, uint32_t lo)
{
    uint32_t x = lo ^ k0;
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    x += k1;
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* The k1 of counters whose high half is hi under the key's high half k1. */
static inline uint32_t mgv_rng_keyed_hi(uint32_t k1, uint32_t hi) { return k1 + hi * 0x9e3779b9U; }

/* The process-wide generator used when a caller passes NULL. */
mgv_rng *mgv_rng_global(void);

/* Fill t in place: uniform in [lo, hi), normal N(mean, std^2). r may be NULL. */
void mgv_fill_uniform_(mgv_tensor *t, mgv_rng *r, float lo, float hi);
void mgv_fill_normal_(mgv_tensor *t, mgv_rng *r, float mean, float std);
mgv_tensor *mgv_rand(int ndim, const int64_t *shape, mgv_rng *r);
mgv_tensor *mgv_randn(int ndim, const int64_t *shape, mgv_rng *r);

#endif
