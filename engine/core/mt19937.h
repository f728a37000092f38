/*
 * mt19937.h — the Mersenne Twister exactly as NumPy's legacy RandomState uses
 * it, so that splits made here match `np.random.RandomState(seed).shuffle(...)`
 * number for number.
 *
 * Only what the zero-shot splits need: integer seeding (init_genrand, which
 * RandomState(int) uses for 0 <= seed < 2^32), raw 32-bit draws, NumPy's
 * legacy bounded draw (random_interval: mask + rejection) and its
 * Fisher-Yates shuffle. Training randomness uses mgv_rng (rng.h), not this.
 */
#ifndef MGV_MT19937_H
#define MGV_MT19937_H

#include <stddef.h>
#include <stdint.h>

#define MGV_MT_N 624

typedef struct mgv_mt19937 {
    uint32_t key[MGV_MT_N];
    int pos;
} mgv_mt19937;

/* Seeds like RandomState(seed) for an integer seed in [0, 2^32). */
void mgv_mt_seed(mgv_mt19937 *mt, uint32_t seed);
/* Next raw tempered 32-bit output. */
uint32_t mgv_mt_next32(mgv_mt19937 *mt);
/* Two 32-bit outputs, the first in the high half (NumPy's mt19937_next64). */
uint64_t mgv_mt_next64(mgv_mt19937 *mt);
/* Uniform integer in [0, max], NumPy's legacy random_interval. */
uint64_t mgv_mt_interval(mgv_mt19937 *mt, uint64_t max);
/* In-place shuffle, as RandomState.shuffle: for i = n-1..1, j = interval(i), swap. */
void mgv_mt_shuffle_int(mgv_mt19937 *mt, int *a, size_t n);
void mgv_mt_shuffle_i64(mgv_mt19937 *mt, int64_t *a, size_t n);

#endif
