/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* xoshiro256** seeded through splitmix64: one independent, deterministic
 * stream per instance (p2c, the simulator, the load generator). */
#ifndef QLB_RNG_H
#define QLB_RNG_H

#include <stdint.h>

struct qlb_rng {
	uint64_t s[4];
};

void qlb_rng_seed(struct qlb_rng *r, uint64_t seed);

static inline uint64_t qlb_rng_next(struct qlb_rng *r)
{
	uint64_t *s = r->s, x = s[1] * 5, result = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return result;
}

/* Uniform in [0, 1), 53 bits. */
static inline double qlb_rng_uniform(struct qlb_rng *r)
{
	return (double)(qlb_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), n >= 1 (Lemire's multiply-shift; bias < n / 2^64). */
static inline uint32_t qlb_rng_below(struct qlb_rng *r, uint32_t n)
{
	return (uint32_t)(((unsigned __int128)qlb_rng_next(r) * n) >> 64);
}

#endif /* QLB_RNG_H */
