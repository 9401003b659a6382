// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Choosing a backend for a new flow: ring shares, the per-flow picks (lc,
 * p2c, sed), and backends that refuse or stay silent.
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

static void test_no_backend_dropped(void **state)
{
	struct dp *dp = *state;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;
	uint32_t vid, bid;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40008, TH_SYN);
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_DROP);
	/* Weight 0 holds no slot either. */
	bid = dp_backend(dp, vid, "10.1.0.1", 80, 0);
	assert_int_not_equal(bid, QLB_NO_BACKEND);
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_DROP);
	assert_int_equal(dp_reason(dp, QLB_R_DROP_NO_BACKEND), 2);
}

/* Sends n SYNs from distinct flows; counts[] gets the backend each reached. */
static void spray(struct dp *dp, int n, uint32_t first_flow, const uint32_t *ids,
		  int nids, uint64_t *counts)
{
	uint32_t daddr, to;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	char src[32];
	int i, j;

	memset(counts, 0, nids * sizeof(*counts));
	for (i = 0; i < n; i++) {
		uint32_t f = first_flow + i;
		struct pkt_spec s = spec(QLB_FAMILY_V4, IPPROTO_TCP,
					 1024 + f % 60000, TH_SYN);

		snprintf(src, sizeof(src), "198.18.%u.%u", (f / 60000) % 256,
			 (f / 60000 / 256) % 256 + 1);
		s.src = src;
		assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
		memcpy(&daddr, pkt + lay.l3 + 16, 4);
		to = id_of(dp, daddr);
		for (j = 0; j < nids; j++)
			counts[j] += ids[j] == to;
	}
}

static void test_weight_split_1_2_5(void **state)
{
	struct dp *dp = *state;
	const uint32_t weights[3] = { 1, 2, 5 };
	uint32_t ids[3], vid;
	uint64_t counts[3];
	const int n = 100000;
	int i;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	ids[0] = dp_backend(dp, vid, "10.1.0.1", 80, weights[0]);
	ids[1] = dp_backend(dp, vid, "10.1.0.2", 80, weights[1]);
	ids[2] = dp_backend(dp, vid, "10.1.0.3", 80, weights[2]);
	spray(dp, n, 0, ids, 3, counts);
	for (i = 0; i < 3; i++) {
		double share = 100.0 * counts[i] / n, want = 100.0 * weights[i] / 8;

		print_message("backend weight %u: %.2f%% of flows (want %.2f%%), %u ring slots\n",
			      weights[i], share, want, dp->st->backends[ids[i]].ring_slots);
		assert_true(share > want - 1.0 && share < want + 1.0);
	}
}

/* What the policies turn into: eligibility, modes, SED's condition. */
static void test_pick_table(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, other, a, b, c, d, x, to;
	struct qlb_vip_backends vb;

	assert_int_equal(qlb_pick_mode_of(QLB_POLICY_LC, 0), QLB_PICK_LC);
	assert_int_equal(qlb_pick_mode_of(QLB_POLICY_P2C, 0), QLB_PICK_P2C);
	assert_int_equal(qlb_pick_mode_of(QLB_POLICY_SEDQ, 1), QLB_PICK_SED);
	assert_int_equal(qlb_pick_mode_of(QLB_POLICY_SEDQ, 0), QLB_PICK_RING);
	assert_int_equal(qlb_pick_mode_of(QLB_POLICY_WRR, 1), QLB_PICK_RING);
	assert_int_equal(qlb_pick_mode_of(QLB_POLICY_DLBQT, 1), QLB_PICK_RING);

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	other = dp_vip(dp, "10.0.0.101", 80, IPPROTO_TCP);
	a = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	b = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	c = dp_backend(dp, vid, "10.1.0.3", 80, 1);
	d = dp_backend(dp, vid, "10.1.0.4", 80, 1);
	assert_int_not_equal(dp_backend(dp, vid, "10.1.0.5", 80, 0), QLB_NO_BACKEND);
	x = dp_backend(dp, other, "10.1.0.9", 80, 1);
	vb = pick_table(dp, vid);
	assert_int_equal(vb.mode, QLB_PICK_RING);
	assert_int_equal(vb.count, 4);

	/* Eligible: in use, not drained, not down, ring weight > 0. */
	assert_int_equal(qlb_backend_update(dp->st, b, 1, QLB_BE_F_DRAIN), 0);
	assert_int_equal(qlb_backend_update(dp->st, c, 1, QLB_BE_F_DOWN), 0);
	set_policy(dp, vid, QLB_POLICY_LC);
	vb = pick_table(dp, vid);
	assert_int_equal(vb.mode, QLB_PICK_LC);
	assert_int_equal(vb.count, 2);
	assert_int_equal(vb.ids[0], a);
	assert_int_equal(vb.ids[1], d);
	assert_int_equal(vb.mu[0], 1);	/* LC is SED with equal mu */
	assert_int_equal(vb.mu[1], 1);
	set_policy(dp, vid, QLB_POLICY_P2C);
	assert_int_equal(pick_table(dp, vid).mode, QLB_PICK_P2C);

	/* qlb: SED only once every eligible backend has a fresh mu. */
	set_policy(dp, vid, QLB_POLICY_SEDQ);
	assert_int_equal(pick_table(dp, vid).mode, QLB_PICK_RING);
	set_mu(dp, a, 300000, 0);
	assert_int_equal(qlb_publish_pick(dp->st, vid), 0);
	assert_int_equal(pick_table(dp, vid).mode, QLB_PICK_RING);
	set_mu(dp, d, 100000, 60 * NSEC);
	assert_int_equal(qlb_publish_pick(dp->st, vid), 0);
	assert_int_equal(pick_table(dp, vid).mode, QLB_PICK_RING);
	set_mu(dp, d, 100000, 0);
	assert_int_equal(qlb_publish_pick(dp->st, vid), 0);
	vb = pick_table(dp, vid);
	assert_int_equal(vb.mode, QLB_PICK_SED);
	assert_int_equal(vb.mu[0], 300000);
	assert_int_equal(vb.mu[1], 100000);
	/* The agent's pick rate, where it set one, instead of mu. */
	dp->st->pick_mu_milli[a] = 150000;
	assert_int_equal(qlb_publish_pick(dp->st, vid), 0);
	vb = pick_table(dp, vid);
	assert_int_equal(vb.mu[0], 150000);
	assert_int_equal(vb.mu[1], 100000);
	dp->st->pick_mu_milli[a] = 0;
	assert_int_equal(qlb_publish_pick(dp->st, vid), 0);
	assert_int_equal(pick_table(dp, vid).mu[0], 300000);
	/* A ring change refreshes the table too: d drained leaves a alone. */
	assert_int_equal(qlb_backend_update(dp->st, d, 1, QLB_BE_F_DRAIN), 0);
	vb = pick_table(dp, vid);
	assert_int_equal(vb.count, 1);
	assert_int_equal(vb.ids[0], a);
	assert_int_equal(qlb_backend_update(dp->st, d, 1, 0), 0);

	/* A pick naming a backend of another VIP (as a half-written entry
	 * could) falls back to the ring. */
	vb.mode = QLB_PICK_LC;
	vb.count = 1;
	vb.ids[0] = x;
	assert_int_equal(bpf_map_update_elem(dp->st->maps.vip_backends, &vid, &vb, BPF_ANY), 0);
	to = send_req(dp, 42000, TH_SYN);
	assert_true(to == a || to == d);

	/* Deleting the VIP empties its entry. */
	assert_int_equal(qlb_vip_del(dp->st, vip_key(dp, vid)), 0);
	vb = pick_table(dp, vid);
	assert_int_equal(vb.count, 0);
	assert_int_equal(vb.mode, QLB_PICK_RING);
}

/* LC: each new flow to the fewest active flows, ties to the lowest id;
 * closing flows brings a backend back. */
static void test_lc_picks_least_active(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, a, b, c;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	a = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	b = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	c = dp_backend(dp, vid, "10.1.0.3", 80, 1);
	set_policy(dp, vid, QLB_POLICY_LC);

	/* Established flows on a and b only, while c is drained. */
	assert_int_equal(qlb_backend_update(dp->st, c, 1, QLB_BE_F_DRAIN), 0);
	assert_int_equal(open_flow(dp, 41000), a);
	assert_int_equal(open_flow(dp, 41001), b);
	assert_int_equal(open_flow(dp, 41002), a);
	assert_int_equal(open_flow(dp, 41003), b);
	assert_int_equal(active(dp, a), 2);
	assert_int_equal(active(dp, b), 2);
	assert_int_equal(active(dp, c), 0);

	/* Back in: c has the fewest until it catches up. */
	assert_int_equal(qlb_backend_update(dp->st, c, 1, 0), 0);
	assert_int_equal(open_flow(dp, 41004), c);
	assert_int_equal(open_flow(dp, 41005), c);
	assert_int_equal(open_flow(dp, 41006), a);	/* 2:2:2, lowest id */
	assert_int_equal(open_flow(dp, 41007), b);
	assert_int_equal(open_flow(dp, 41008), c);
	/* Established flows stay where they are, whatever the counts. */
	assert_int_equal(send_req(dp, 41000, TH_ACK), a);

	/* Two of a's flows end (FIN both ways on one, the server aborting the
	 * other). */
	assert_int_equal(send_req(dp, 41000, TH_FIN | TH_ACK), a);
	send_reply(dp, 41000, a, TH_FIN | TH_ACK);
	send_reply(dp, 41002, a, TH_RST);
	assert_int_equal(active(dp, a), 1);
	assert_int_equal(active(dp, b), 3);
	assert_int_equal(active(dp, c), 3);
	assert_int_equal(open_flow(dp, 41009), a);
	assert_int_equal(open_flow(dp, 41010), a);
	assert_int_equal(open_flow(dp, 41011), a);	/* 3:3:3 */
	assert_int_equal(open_flow(dp, 41012), b);
	assert_int_equal(flows_new(dp, a), 6);
	assert_int_equal(flows_new(dp, b), 4);
	assert_int_equal(flows_new(dp, c), 3);

	/* SYNs of one round trip see each other: no herd to the idlest. */
	set_active(dp, a, 0);
	set_active(dp, b, 0);
	set_active(dp, c, 0);
	assert_int_equal(send_req(dp, 41100, TH_SYN), a);
	assert_int_equal(send_req(dp, 41101, TH_SYN), b);
	assert_int_equal(send_req(dp, 41102, TH_SYN), c);
	assert_int_equal(send_req(dp, 41103, TH_SYN), a);
}

/* Sets when backend id last refused, on the program's clock (a jiffies
 * clock, which can be a few hundred ms off CLOCK_MONOTONIC). */
static void set_refused_at(struct dp *dp, uint32_t id, uint64_t t)
{
	assert_int_equal(bpf_map_update_elem(dp->st->maps.backend_refused, &id, &t, BPF_ANY), 0);
}

/* A backend that refuses a connection (RST before anything else) is passed
 * over by the per-flow picks for the hold, though it looks idle; a server
 * aborting a connection it answered is not a refusal. */
static void test_refused_backend_passed_over(void **state)
{
	struct dp *dp = *state;
	struct qlb_backend_stats bs;
	uint32_t vid, a, b;
	uint64_t at;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	a = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	b = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	set_policy(dp, vid, QLB_POLICY_LC);

	assert_int_equal(send_req(dp, 42000, TH_SYN), a);
	send_reply(dp, 42000, a, TH_RST | TH_ACK);
	assert_int_equal(active(dp, a), 0);
	dp_backend_stats(dp, a, &bs);
	assert_int_equal(bs.refused, 1);
	/* Refused: it never was a flow, so no completion and no duration. */
	assert_int_equal(bs.flows_new, 0);
	assert_int_equal(bs.flows_closed, 0);
	assert_int_equal(bs.dur_count, 0);
	assert_int_equal(bpf_map_lookup_elem(dp->st->maps.backend_refused, &a, &at), 0);
	assert_true(at > 0);
	print_message("program clock - CLOCK_MONOTONIC: %+.1f ms\n",
		      ((double)at - (double)qlb_mono_ns()) / 1e6);
	/* a is idle and first, yet b takes the new flows. */
	assert_int_equal(open_flow(dp, 42001), b);
	assert_int_equal(open_flow(dp, 42002), b);
	/* Unless every candidate refuses: then the usual rule. */
	set_refused_at(dp, b, at);
	assert_int_equal(send_req(dp, 42003, TH_SYN), a);
	send_reply(dp, 42003, a, TH_RST | TH_ACK);

	/* Past the hold, a is a candidate again. */
	set_refused_at(dp, a, at - 2 * NSEC);
	set_refused_at(dp, b, at - 2 * NSEC);
	assert_int_equal(send_req(dp, 42004, TH_SYN), a);
	/* a answers, then aborts: counted as a reset, not a refusal. */
	send_reply(dp, 42004, a, TH_SYN | TH_ACK);
	send_reply(dp, 42004, a, TH_RST | TH_ACK);
	/* Nor is the abort of an established flow. */
	assert_int_equal(open_flow(dp, 42005), a);
	send_reply(dp, 42005, a, TH_RST);
	/* Nor a reset of a mid-stream packet the table knew nothing of:
	 * the ring sent it, and the RST goes back to the client. */
	set_policy(dp, vid, QLB_POLICY_WRR);
	assert_int_equal(qlb_backend_update(dp->st, b, 1, QLB_BE_F_DRAIN), 0);
	assert_int_equal(send_req(dp, 42007, TH_ACK), a);
	send_reply(dp, 42007, a, TH_RST);
	dp_backend_stats(dp, a, &bs);
	assert_int_equal(bs.refused, 2);
	assert_int_equal(bs.resets_from, 5);
	assert_int_equal(bs.flows_new, 1);
	assert_int_equal(bs.dur_count, 1);
	assert_int_equal(qlb_backend_update(dp->st, b, 1, 0), 0);
	set_policy(dp, vid, QLB_POLICY_LC);
	assert_int_equal(send_req(dp, 42006, TH_SYN), a);

	/* A reused id forgets the refusal (ids are reused last: with none
	 * left in use, from 0). */
	set_refused_at(dp, a, at);
	assert_int_equal(qlb_backend_remove(dp->st, b), 0);
	assert_int_equal(qlb_backend_remove(dp->st, a), 0);
	assert_int_equal(dp_backend(dp, vid, "10.1.0.3", 80, 1), a);
	assert_int_equal(bpf_map_lookup_elem(dp->st->maps.backend_refused, &a, &at), 0);
	assert_int_equal(at, 0);
}

/* On the ring too: a refusing backend's new flows go to the next slots'
 * owners for the hold, and only while someone else is not refusing. */
static void test_ring_skips_refusing_backend(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, ids[2], victim, other, got[2] = { 0 }, i;
	uint64_t at;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	ids[0] = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	ids[1] = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	victim = send_req(dp, 43000, TH_SYN);
	other = victim == ids[0] ? ids[1] : ids[0];
	send_reply(dp, 43000, victim, TH_RST | TH_ACK);
	assert_int_equal(bpf_map_lookup_elem(dp->st->maps.backend_refused, &victim, &at), 0);

	for (i = 0; i < 200; i++)
		assert_int_equal(send_req(dp, 43100 + i, TH_SYN), other);
	/* Both refusing: each flow keeps its own slot. */
	set_refused_at(dp, other, at);
	for (i = 0; i < 200; i++)
		got[send_req(dp, 43300 + i, TH_SYN) == victim]++;
	assert_true(got[0] > 50 && got[1] > 50);
	/* Past the hold, the ring's split again. */
	set_refused_at(dp, victim, at - 2 * NSEC);
	set_refused_at(dp, other, at - 2 * NSEC);
	got[0] = got[1] = 0;
	for (i = 0; i < 200; i++)
		got[send_req(dp, 43500 + i, TH_SYN) == victim]++;
	assert_true(got[0] > 50 && got[1] > 50);
}

/* P2C: the loaded backend gets clearly fewer new flows, drained and down
 * ones none. */
static void test_p2c_avoids_loaded(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, a, b, c, d, e, i;
	uint64_t na, nb, nc;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	a = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	b = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	c = dp_backend(dp, vid, "10.1.0.3", 80, 1);
	d = dp_backend(dp, vid, "10.1.0.4", 80, 1);
	e = dp_backend(dp, vid, "10.1.0.5", 80, 1);
	assert_int_equal(qlb_backend_update(dp->st, d, 1, QLB_BE_F_DRAIN), 0);
	assert_int_equal(qlb_backend_update(dp->st, e, 1, QLB_BE_F_DOWN), 0);

	/* 40 open flows on a (LC while b and c are drained). */
	set_policy(dp, vid, QLB_POLICY_LC);
	assert_int_equal(qlb_backend_update(dp->st, b, 1, QLB_BE_F_DRAIN), 0);
	assert_int_equal(qlb_backend_update(dp->st, c, 1, QLB_BE_F_DRAIN), 0);
	for (i = 0; i < 40; i++)
		assert_int_equal(open_flow(dp, 43000 + i), a);
	assert_int_equal(qlb_backend_update(dp->st, b, 1, 0), 0);
	assert_int_equal(qlb_backend_update(dp->st, c, 1, 0), 0);

	set_policy(dp, vid, QLB_POLICY_P2C);
	for (i = 0; i < 60; i++) {
		uint32_t to = open_flow(dp, 44000 + i);

		assert_true(to == a || to == b || to == c);
	}
	na = flows_new(dp, a) - 40;
	nb = flows_new(dp, b);
	nc = flows_new(dp, c);
	print_message("p2c: 60 new flows: loaded %llu, idle %llu and %llu\n",
		      (unsigned long long)na, (unsigned long long)nb,
		      (unsigned long long)nc);
	/* a is picked only against a backend with more than its 40. */
	assert_int_equal(na, 0);
	assert_true(nb >= 25 && nc >= 25);
	assert_int_equal(nb + nc, 60);
	assert_int_equal(flows_new(dp, d), 0);
	assert_int_equal(flows_new(dp, e), 0);
	assert_int_equal(active(dp, b), (int64_t)nb);

	/* With one candidate left, it takes everything. */
	assert_int_equal(qlb_backend_update(dp->st, b, 1, QLB_BE_F_DRAIN), 0);
	assert_int_equal(qlb_backend_update(dp->st, c, 1, QLB_BE_F_DOWN), 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(send_req(dp, 45000 + i, TH_SYN), a);
}

/* SED: the least (active + 1) / mu, exactly; ties to the lowest id. */
static void test_sed_rule(void **state)
{
	struct dp *dp = *state;
	const struct {
		int64_t fast, slow;
		int want_fast;
	} cases[] = {
		{ 0, 0, 1 },	/* 1/300 < 1/100 */
		{ 8, 2, 1 },	/* 9/300 = 0.030 < 3/100 */
		{ 9, 2, 0 },	/* 10/300 > 3/100 */
		{ 5, 1, 1 },	/* 6/300 = 2/100: tie, lowest id */
		{ 100, 33, 1 },	/* 101/300 < 34/100 */
		{ 104, 33, 0 },	/* 105/300 > 34/100 */
		{ 0, -3, 1 },	/* a negative count reads as 0 */
	};
	const char want_seq[] = "FFFSFFFSFFFS";
	uint32_t vid, fast, slow, i;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	fast = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	slow = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	set_mu(dp, fast, 300000, 0);
	set_mu(dp, slow, 100000, 0);
	set_policy(dp, vid, QLB_POLICY_SEDQ);
	assert_int_equal(pick_table(dp, vid).mode, QLB_PICK_SED);

	/* From 0:0 the fast one takes three for each of the slow one's. */
	for (i = 0; i < sizeof(want_seq) - 1; i++) {
		uint32_t to = open_flow(dp, 46000 + i);

		if (to != (want_seq[i] == 'F' ? fast : slow))
			fail_msg("new flow %u went to the %s backend (want %c)", i,
				 to == fast ? "fast" : "slow", want_seq[i]);
	}
	assert_int_equal(active(dp, fast), 9);
	assert_int_equal(active(dp, slow), 3);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t to;

		set_active(dp, fast, cases[i].fast);
		set_active(dp, slow, cases[i].slow);
		to = send_req(dp, 47000 + i, TH_SYN);
		if (to != (cases[i].want_fast ? fast : slow))
			fail_msg("active %lld:%lld: went to the %s backend",
				 (long long)cases[i].fast, (long long)cases[i].slow,
				 to == fast ? "fast" : "slow");
	}
}

/* A backend that leaves a SYN unanswered (dead without a RST, or dropping
 * SYNs): the client's retry goes to another backend, and the silent one is
 * passed over as if it had refused. A retry within the limit, an answered
 * flow's retry and mid-stream packets stay. */
static void test_unanswered_syn_rescheduled(void **state)
{
	struct dp *dp = *state;
	struct pkt_spec s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 48000, TH_ACK);
	struct qlb_backend_stats bs;
	struct pkt_layout lay;
	uint8_t pkt[PKT_MAX];
	uint32_t vid, a, b;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	a = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	b = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	set_policy(dp, vid, QLB_POLICY_LC);

	assert_int_equal(send_req(dp, 48000, TH_SYN), a);
	/* A duplicate at once is no retry; the first retry, 1 s later, is
	 * left alone (one lost SYN-ACK). The program's clock runs up to
	 * 256 ms behind CLOCK_MONOTONIC here (see
	 * test_refused_backend_passed_over), hence the ages. */
	assert_int_equal(send_req(dp, 48000, TH_SYN), a);
	age_pending(dp, 48000, 2 * NSEC);
	assert_int_equal(send_req(dp, 48000, TH_SYN), a);
	assert_int_equal(send_req(dp, 48000, TH_SYN), a);
	/* The second retry, 1 s or more after the first. */
	age_pending(dp, 48000, 2 * NSEC);
	assert_int_equal(send_req(dp, 48000, TH_SYN), b);
	dp_backend_stats(dp, a, &bs);
	assert_int_equal(bs.refused, 1);
	assert_int_equal(bs.flows_new, 0);
	assert_int_equal(bs.dur_count, 0);
	/* a's late SYN-ACK goes to our kernel, not to the client. */
	assert_int_equal(reply_verdict(dp, 48000, a, TH_SYN | TH_ACK), XDP_PASS);
	/* The flow is b's now, both ways. */
	send_reply(dp, 48000, b, TH_SYN | TH_ACK);
	s.ack = 1001;
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	assert_int_equal(active(dp, a), 0);
	assert_int_equal(active(dp, b), 1);
	/* a is idle, yet refusing for the hold: new flows go to b. */
	assert_int_equal(send_req(dp, 48001, TH_SYN), b);

	/* An answered flow's SYN again (the SYN-ACK lost on its way to the
	 * client) stays, and so does a mid-stream packet of an unanswered
	 * flow. */
	send_reply(dp, 48001, b, TH_SYN | TH_ACK);
	age_pending(dp, 48001, 2 * NSEC);
	assert_int_equal(send_req(dp, 48001, TH_SYN), b);
	assert_int_equal(send_req(dp, 48002, TH_SYN), b);
	age_pending(dp, 48002, 2 * NSEC);
	assert_int_equal(send_req(dp, 48002, TH_ACK), b);
	dp_backend_stats(dp, b, &bs);
	assert_int_equal(bs.refused, 0);
	assert_int_equal(active(dp, b), 1);

	/* IPv6 the same: the retry leaves the silent backend. */
	{
		struct pkt_spec s6 = spec(QLB_FAMILY_V6, IPPROTO_TCP, 48100, TH_SYN);
		uint32_t vid6 = dp_vip(dp, VIP6, 80, IPPROTO_TCP), c, d;
		uint8_t first[16];

		c = dp_backend(dp, vid6, "fd01::1", 80, 1);
		d = dp_backend(dp, vid6, "fd01::2", 80, 1);
		set_policy(dp, vid6, QLB_POLICY_LC);
		assert_int_equal(run_spec(dp, &s6, pkt, &lay), XDP_TX);
		memcpy(first, pkt + lay.l3 + 24, 16);
		assert_int_equal(age_v6_pending(dp, 2 * NSEC), 1);
		assert_int_equal(run_spec(dp, &s6, pkt, &lay), XDP_TX);
		assert_memory_equal(pkt + lay.l3 + 24, first, 16);
		assert_int_equal(age_v6_pending(dp, 2 * NSEC), 1);
		assert_int_equal(run_spec(dp, &s6, pkt, &lay), XDP_TX);
		assert_memory_not_equal(pkt + lay.l3 + 24, first, 16);
		dp_backend_stats(dp, c, &bs);
		assert_int_equal(bs.refused, 1);
		(void)d;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_backend_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_weight_split_1_2_5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pick_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lc_picks_least_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_backend_passed_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unanswered_syn_rescheduled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_skips_refusing_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_p2c_avoids_loaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sed_rule, setup, teardown),
	};

	return cmocka_run_group_tests_name("pick", tests, NULL, NULL);
}
