/* rng.c — xoshiro256** with splitmix64 seeding (see rng.h). */
#include "core/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void mgv_rng_seed(mgv_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0;
    mgv_rng_set_shard(r, 0, 0);
}

void mgv_rng_set_shard(mgv_rng *r, int64_t before, int64_t rows)
{
    r->shard_before = before;
    r->shard_rows = rows;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mgv_rng_next(mgv_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mgv_rng_uniform(mgv_rng *r) { return (double)(mgv_rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t mgv_rng_below(mgv_rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = mgv_rng_next(r);
    while (x >= limit);
    return x % n;
}

double mgv_rng_normal(mgv_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1, u2;
    do u1 = mgv_rng_uniform(r);
    while (u1 <= 0.0);
    u2 = mgv_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1)), ang = 2.0 * M_PI * u2;
    r->spare = rad * sin(ang);
    r->has_spare = 1;
    return rad * cos(ang);
}

static mgv_rng global_rng;
static int global_seeded = 0;

mgv_rng *mgv_rng_global(void)
{
    if (!global_seeded) {
        mgv_rng_seed(&global_rng, 0x6d67760aULL);
        global_seeded = 1;
    }
    return &global_rng;
}

void mgv_fill_uniform_(mgv_tensor *t, mgv_rng *r, float lo, float hi)
{
    if (!r) r = mgv_rng_global();
    int64_t n = mgv_numel(t);
    for (int64_t i = 0; i < n; i++)
        mgv_set_flat(t, i, lo + (hi - lo) * (float)mgv_rng_uniform(r));
}

void mgv_fill_normal_(mgv_tensor *t, mgv_rng *r, float mean, float std)
{
    if (!r) r = mgv_rng_global();
    int64_t n = mgv_numel(t);
    for (int64_t i = 0; i < n; i++) mgv_set_flat(t, i, mean + std * (float)mgv_rng_normal(r));
}

mgv_tensor *mgv_rand(int ndim, const int64_t *shape, mgv_rng *r)
{
    mgv_tensor *t = mgv_empty(ndim, shape);
    if (t) mgv_fill_uniform_(t, r, 0.0f, 1.0f);
    return t;
}

mgv_tensor *mgv_randn(int ndim, const int64_t *shape, mgv_rng *r)
{
    mgv_tensor *t = mgv_empty(ndim, shape);
    if (t) mgv_fill_normal_(t, r, 0.0f, 1.0f);
    return t;
}
