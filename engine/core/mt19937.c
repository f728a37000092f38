/* mt19937.c — NumPy-compatible MT19937 (see mt19937.h). */
#include "core/mt19937.h"

#include <string.h>

#define MT_M 397
#define MATRIX_A 0x9908b0dfU
#define UPPER_MASK 0x80000000U
#define LOWER_MASK 0x7fffffffU

void mgv_mt_seed(mgv_mt19937 *mt, uint32_t seed)
{
    for (int i = 0; i < MGV_MT_N; i++) {
        mt->key[i] = seed;
        seed = 1812433253U * (seed ^ (seed >> 30)) + (uint32_t)i + 1U;
    }
    mt->pos = MGV_MT_N;
}

/* Regenerates the whole state block (the "twist"). */
static void mt_generate(mgv_mt19937 *mt)
{
    uint32_t *k = mt->key, y;
    int i;
    for (i = 0; i < MGV_MT_N - MT_M; i++) {
        y = (k[i] & UPPER_MASK) | (k[i + 1] & LOWER_MASK);
        k[i] = k[i + MT_M] ^ (y >> 1) ^ (-(y & 1U) & MATRIX_A);
    }
    for (; i < MGV_MT_N - 1; i++) {
        y = (k[i] & UPPER_MASK) | (k[i + 1] & LOWER_MASK);
        k[i] = k[i + (MT_M - MGV_MT_N)] ^ (y >> 1) ^ (-(y & 1U) & MATRIX_A);
    }
    y = (k[MGV_MT_N - 1] & UPPER_MASK) | (k[0] & LOWER_MASK);
    k[MGV_MT_N - 1] = k[MT_M - 1] ^ (y >> 1) ^ (-(y & 1U) & MATRIX_A);
    mt->pos = 0;
}

uint32_t mgv_mt_next32(mgv_mt19937 *mt)
{
    if (mt->pos >= MGV_MT_N) mt_generate(mt);
    uint32_t y = mt->key[mt->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
}

uint64_t mgv_mt_next64(mgv_mt19937 *mt)
{
    uint64_t hi = mgv_mt_next32(mt);
    uint64_t lo = mgv_mt_next32(mt);
    return hi << 32 | lo;
}

uint64_t mgv_mt_interval(mgv_mt19937 *mt, uint64_t max)
{
    if (max == 0) return 0;
    uint64_t mask = max, value;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    if (max <= 0xffffffffULL) {
        while ((value = (mgv_mt_next32(mt) & mask)) > max) {}
    } else {
        while ((value = (mgv_mt_next64(mt) & mask)) > max) {}
    }
    return value;
}

/* The shuffle of mt19937.h over n elements of size bytes (at most 8). */
static void shuffle(mgv_mt19937 *mt, void *a, size_t n, size_t size)
{
    unsigned char *p = a, t[8];
    for (size_t i = n > 0 ? n - 1 : 0; i >= 1; i--) {
        size_t j = (size_t)mgv_mt_interval(mt, i);
        memcpy(t, p + i * size, size);
        memcpy(p + i * size, p + j * size, size);
        memcpy(p + j * size, t, size);
    }
}

void mgv_mt_shuffle_int(mgv_mt19937 *mt, int *a, size_t n) { shuffle(mt, a, n, sizeof *a); }
void mgv_mt_shuffle_i64(mgv_mt19937 *mt, int64_t *a, size_t n) { shuffle(mt, a, n, sizeof *a); }
