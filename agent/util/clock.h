/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef QLB_CLOCK_H
#define QLB_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns: the clock of flow times (to a fixed offset) and of
 * the agent's estimates. */
static inline uint64_t qlb_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The same clock in seconds, for timing runs and windows. */
static inline double qlb_mono_s(void)
{
	return qlb_mono_ns() * 1e-9;
}

#endif /* QLB_CLOCK_H */
