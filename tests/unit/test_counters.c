// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The counters the agent reads: backends and estimates through their
 * mappings, backend stats per CPU.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/if_ether.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

#include "clock.h"
#include "dp_harness.h"
#include "dp_test.h"
#include "flows.h"
#include "grace.h"
#include "pick.h"
#include "policy.h"
#include "ring.h"
#include "stats.h"

/* backends and backend_est are read and written through their mappings:
 * what one side writes, the other reads. */
static void test_mapped_backends_and_estimates(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, ids[2], w[2] = { 3, 1 };
	struct qlb_backend_est e = { .updated_ns = 42, .mu_milli = 7000 }, got;
	struct qlb_backend b;
	double churn;
	int i;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	ids[0] = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	ids[1] = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	assert_int_equal(qlb_apply_ring_weights(dp->st, vid, ids, w, 2, &churn), 0);
	assert_true(churn > 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(bpf_map_lookup_elem(dp->st->maps.backends, &ids[i], &b), 0);
		assert_int_equal(b.ring_weight, w[i]);
		assert_int_equal(b.ring_slots, dp->st->backends[ids[i]].ring_slots);
	}
	assert_true(dp->st->backends[ids[0]].ring_slots > 2 * dp->st->backends[ids[1]].ring_slots);

	/* A write through the syscall shows in the next snapshot. */
	b.weight = 9;
	assert_int_equal(bpf_map_update_elem(dp->st->maps.backends, &ids[1], &b, BPF_EXIST), 0);
	assert_int_equal(qlb_state_read(dp->st), 0);
	assert_int_equal(dp->st->backends[ids[1]].weight, 9);

	qlb_backend_est_write(dp->st, ids[0], &e);
	assert_int_equal(bpf_map_lookup_elem(dp->st->maps.backend_est, &ids[0], &got), 0);
	assert_memory_equal(&got, &e, sizeof(e));
}

/* backend_stats: each CPU counts in its own entries (QLB_BE_STATS_KEY), and
 * a read sums them. Runs the program pinned to two CPUs in turn. */
static void test_backend_stats_per_cpu(void **state)
{
	struct dp *dp = *state;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 45000, TH_ACK);
	struct qlb_backend_stats bs;
	cpu_set_t all, one;
	int cpus[2], ncpu = 0, c, i;
	uint32_t vid, b;

	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	for (c = 0; c < dp->st->ncpus && c < CPU_SETSIZE && ncpu < 2; c++)
		if (CPU_ISSET(c, &all))
			cpus[ncpu++] = c;
	if (ncpu < 2)
		skip();
	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	b = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	for (i = 0; i < 2; i++) {
		CPU_ZERO(&one);
		CPU_SET(cpus[i], &one);
		assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
		/* The first CPU sees the handshake: SYN and ACK, 2 packets. */
		if (!i)
			assert_int_equal(open_flow(dp, 45000), b);
		for (c = 0; c < 1 + 6 * i; c++)
			assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	}
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	assert_int_equal(dp->st->stats_map[QLB_BE_STATS_KEY(cpus[0], b)].packets_to, 3);
	assert_int_equal(dp->st->stats_map[QLB_BE_STATS_KEY(cpus[0], b)].flows_new, 1);
	assert_int_equal(dp->st->stats_map[QLB_BE_STATS_KEY(cpus[1], b)].packets_to, 7);
	dp_backend_stats(dp, b, &bs);
	assert_int_equal(bs.packets_to, 10);
	assert_int_equal(bs.bytes_to, 10 * lay.len);
	assert_int_equal(bs.flows_new, 1);

	/* A reused id starts from nothing, on every CPU. */
	qlb_backend_stats_zero(dp->st, b);
	dp_backend_stats(dp, b, &bs);
	assert_int_equal(bs.packets_to, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mapped_backends_and_estimates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_backend_stats_per_cpu, setup, teardown),
	};

	return cmocka_run_group_tests_name("counters", tests, NULL, NULL);
}
