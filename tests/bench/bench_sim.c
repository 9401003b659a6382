// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Simulator speed: 1,000 backends (300 and 100 requests/s, alternating),
 * 10 million Poisson requests at 70% load, routed by qlb, next to a
 * reference measured in the same run: generating the same arrival stream
 * (inter-arrival and size draws from the same generator) and sampling a
 * backend for each request by binary search over cumulative weights, with
 * no queues, no event heap and no policy. The ratio is the price of the
 * simulation proper.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "rng.h"
#include "sim.h"

#define BACKENDS 1000
#define REQUESTS 10000000ull
#define LOAD 0.7
#define TARGET_S 60.0

static volatile double sink;

/* The arrival stream and the backend draws alone. */
static double reference(const struct sim_backend *be, uint32_t n, double rate)
{
	double *cum = malloc(n * sizeof(*cum)), total = 0, t = 0, work = 0, t0;
	struct qlb_rng rng;

	if (!cum)
		return NAN;
	for (uint32_t i = 0; i < n; i++)
		cum[i] = total += be[i].weight;
	qlb_rng_seed(&rng, 1);
	t0 = qlb_mono_s();
	for (uint64_t k = 0; k < REQUESTS; k++) {
		double u = qlb_rng_uniform(&rng) * total, size;
		uint32_t lo = 0, hi = n - 1;

		t += -log1p(-qlb_rng_uniform(&rng)) / rate;
		size = -log1p(-qlb_rng_uniform(&rng));
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;

			if (cum[mid] > u)
				hi = mid;
			else
				lo = mid + 1;
		}
		work += size / be[lo].mu;
	}
	t0 = qlb_mono_s() - t0;
	sink = t + work;
	free(cum);
	return t0;
}

static int run(enum qlb_policy_kind k, const struct sim_backend *be, double *wall,
	       struct sim_result *r)
{
	struct sim_config c;
	double t0;
	int rc;

	sim_config_default(&c);
	c.policy = k;
	c.nbackends = BACKENDS;
	c.backends = be;
	c.load = LOAD;
	c.requests = REQUESTS;
	t0 = qlb_mono_s();
	rc = sim_run(&c, r);
	*wall = qlb_mono_s() - t0;
	return rc;
}

int main(void)
{
	static struct sim_backend be[BACKENDS];
	const enum qlb_policy_kind kinds[] = { QLB_POLICY_SEDQ, QLB_POLICY_RR, QLB_POLICY_P2C };
	double capacity = 0, ref_s, qlb_s = 0;

	for (uint32_t i = 0; i < BACKENDS; i++) {
		be[i] = (struct sim_backend){ .mu = i % 2 ? 100 : 300, .servers = 1, .weight = 1 };
		capacity += be[i].mu;
	}
	printf("bench_sim: %u backends (300/s and 100/s), %llu Poisson requests at load %.1f "
	       "(%.0f/s), 1 s windows\n",
	       BACKENDS, REQUESTS, LOAD, LOAD * capacity);
	ref_s = reference(be, BACKENDS, LOAD * capacity);
	printf("  %-28s %7.2f s  %6.2f M requests/s\n", "reference (draws only)", ref_s,
	       REQUESTS / ref_s / 1e6);
	for (size_t j = 0; j < sizeof(kinds) / sizeof(kinds[0]); j++) {
		struct sim_result r;
		double wall;
		char label[64];

		if (run(kinds[j], be, &wall, &r)) {
			fprintf(stderr, "bench_sim: sim_run(%s) failed\n", qlb_policy_name(kinds[j]));
			return 1;
		}
		snprintf(label, sizeof(label), "sim, policy %s", qlb_policy_name(kinds[j]));
		printf("  %-28s %7.2f s  %6.2f M requests/s  %5.1fx reference  (%llu events, "
		       "%llu windows, %.0f s simulated, mean %.2f ms)\n",
		       label, wall, REQUESTS / wall / 1e6, wall / ref_s,
		       (unsigned long long)r.events, (unsigned long long)r.windows, r.sim_s,
		       r.rt_mean_s * 1e3);
		if (kinds[j] == QLB_POLICY_SEDQ)
			qlb_s = wall;
	}
	printf("  target: 1,000 backends x 10 M requests well under %.0f s: %s (%.2f s)\n", TARGET_S,
	       qlb_s < TARGET_S / 4 ? "met" : "NOT met", qlb_s);
	return qlb_s < TARGET_S / 4 ? 0 : 1;
}
