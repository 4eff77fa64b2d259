/* Deterministic pseudo-random numbers (xoshiro256** seeded by splitmix64).
 * Everything random in proteus draws from a px_rng so that the same
 * --seed gives byte-identical output. */
#ifndef PX_RNG_H
#define PX_RNG_H

#include <stdint.h>

typedef struct px_rng {
    uint64_t s[4];
} px_rng;

void px_rng_seed(px_rng *r, uint64_t seed);
uint64_t px_rng_next(px_rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t px_rng_below(px_rng *r, uint64_t n);
/* Uniform double in [0, 1). */
double px_rng_unit(px_rng *r);
/* 64-bit hash of a string, for deriving per-object streams. */
uint64_t px_hash_str(const char *s);

#endif
