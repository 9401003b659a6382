// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Flow state under SYN floods and lost entries, through the real program
 * (BPF_PROG_TEST_RUN): a SYN writes only the half-open table; only the
 * client's ACK of the backend's SYN-ACK makes a flow established and
 * counted; flood mode keeps no state and uses the ring; a packet of no
 * known flow is never placed by load; a reply of a flow without state is
 * adopted once the backend shows it holds the connection.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

#include "clock.h"
#include "dp_harness.h"
#include "dp_test.h"
#include "flows.h"
#include "stats.h"

static uint64_t event(struct dp *dp, enum qlb_event e)
{
	struct qlb_stats_snapshot *snap = calloc(1, sizeof(*snap));
	uint64_t v;

	assert_non_null(snap);
	assert_int_equal(qlb_stats_read(dp->st, snap), 0);
	v = snap->event[e];
	free(snap);
	return v;
}

static int map_entries(int fd, size_t key_size)
{
	uint8_t key[64], next[64];
	void *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

static int pending_entries(struct dp *dp)
{
	return map_entries(dp->st->maps.pending_v4, sizeof(struct qlb_flow4_key));
}

/* Puts every CPU in flood mode (on) or out of it (off). */
static void force_flood(struct dp *dp, int on)
{
	struct qlb_flood *f = calloc(dp->st->ncpus, sizeof(*f));
	__u32 zero = 0;

	assert_non_null(f);
	for (int c = 0; c < dp->st->ncpus; c++)
		f[c].until_epoch = on ? UINT64_MAX : 0;
	assert_int_equal(bpf_map_update_elem(dp->st->maps.flood_state, &zero, f, BPF_ANY), 0);
	free(f);
}

/* The client's ACK of flow sport with ack number ack; the verdict. */
static int ack_verdict(struct dp *dp, uint16_t sport, uint32_t ack, uint32_t *to)
{
	struct pkt_spec s = spec(QLB_FAMILY_V4, IPPROTO_TCP, sport, TH_ACK);
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	uint32_t daddr;
	int ret;

	s.ack = ack;
	ret = run_spec(dp, &s, pkt, &lay);
	memcpy(&daddr, pkt + lay.l3 + 16, 4);
	if (to && ret == XDP_TX)
		*to = id_of(dp, daddr);
	return ret;
}

/* A SYN is half-open and counts nowhere; a forged ACK does not complete
 * it, the right one does. */
static void test_handshake_makes_the_flow(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, b, to;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	b = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	assert_int_equal(send_req(dp, 50000, TH_SYN), b);
	assert_int_equal(pending_entries(dp), 1);
	assert_int_equal(flow_entries(dp, 50000), 0);
	assert_int_equal(active(dp, b), 0);
	assert_int_equal(flows_new(dp, b), 0);
	assert_int_equal(event(dp, QLB_EV_SYN_HALF_OPEN), 1);

	/* Before the SYN-ACK, and after it with the wrong number: forwarded
	 * to the flow's backend, not established. */
	assert_int_equal(ack_verdict(dp, 50000, 1001, &to), XDP_TX);
	assert_int_equal(to, b);
	send_reply(dp, 50000, b, TH_SYN | TH_ACK);
	assert_int_equal(ack_verdict(dp, 50000, 777, &to), XDP_TX);
	assert_int_equal(to, b);
	assert_int_equal(flows_new(dp, b), 0);
	assert_int_equal(event(dp, QLB_EV_ACK_UNVERIFIED), 2);

	assert_int_equal(ack_verdict(dp, 50000, 1001, &to), XDP_TX);
	assert_int_equal(to, b);
	assert_int_equal(pending_entries(dp), 0);
	assert_int_equal(flow_entries(dp, 50000), 2);
	assert_int_equal(active(dp, b), 1);
	assert_int_equal(flows_new(dp, b), 1);
	assert_int_equal(event(dp, QLB_EV_HANDSHAKE_DONE), 1);

	/* A client that gives up before the handshake leaves nothing. */
	assert_int_equal(send_req(dp, 50001, TH_SYN), b);
	assert_int_equal(send_req(dp, 50001, TH_RST), b);
	assert_int_equal(pending_entries(dp), 0);
	assert_int_equal(active(dp, b), 1);
}

#define SMALL_TABLE 64

static int setup_small(void **state)
{
	struct dp *dp = calloc(1, sizeof(*dp));

	if (!dp || dp_setup_flow_table(dp, SMALL_TABLE))
		return -1;
	*state = dp;
	return 0;
}

/* Spoofed SYNs past the half-open table's size: the established flows, idle
 * or not, keep their entries and their backend, and the counts stay. */
static void test_syn_flood_spares_established(void **state)
{
	struct dp *dp = *state;
	const uint32_t entries = SMALL_TABLE, flood = 10 * entries;
	uint32_t vid, b, i, to;
	char src[32];
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	b = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	dp_backend(dp, vid, "10.1.0.2", 80, 1);
	set_policy(dp, vid, QLB_POLICY_LC);
	for (i = 0; i < 10; i++)
		open_flow(dp, 51000 + i);
	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 0, TH_SYN);
	s.src = src;
	for (i = 0; i < flood; i++) {
		snprintf(src, sizeof(src), "198.51.%u.%u", i / 250, 1 + i % 250);
		s.sport = 1024 + i;
		assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	}
	print_message("%u spoofed SYNs: %llu half-open, %llu without state\n", flood,
		      (unsigned long long)event(dp, QLB_EV_SYN_HALF_OPEN) - 10,
		      (unsigned long long)event(dp, QLB_EV_SYN_STATELESS));
	assert_true(pending_entries(dp) <= (int)entries);
	assert_true(event(dp, QLB_EV_SYN_STATELESS) > 0);
	assert_true(event(dp, QLB_EV_FLOOD_ENTERED) > 0);
	for (i = 0; i < 10; i++) {
		assert_int_equal(flow_entries(dp, 51000 + i), 2);
		assert_int_equal(ack_verdict(dp, 51000 + i, 1001, &to), XDP_TX);
	}
	assert_int_equal(active(dp, b) + active(dp, b + 1), 10);
	assert_int_equal(flows_new(dp, b) + flows_new(dp, b + 1), 10);
	(void)to;
}

/* Flood mode: a SYN keeps no state and goes by the ring; the backend's
 * SYN-ACK reaches a client known from an earlier handshake; the rest of the
 * flow follows the ring, and the flow is adopted when a reply shows the
 * backend holds it, once the flood is over. */
static void test_flood_mode_stateless(void **state)
{
	struct dp *dp = *state;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;
	uint32_t vid, uvid, b, u, to;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	b = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	/* A stranger's reply goes to the kernel: no hop is known for it. */
	assert_int_equal(reply_verdict(dp, 52000, b, TH_SYN | TH_ACK), XDP_PASS);
	assert_int_equal(dp_reason(dp, QLB_R_PASS_STRAY_REPLY), 1);
	open_flow(dp, 52001);	/* the client's hop, learned */

	force_flood(dp, 1);
	assert_int_equal(send_req(dp, 52000, TH_SYN), b);
	assert_int_equal(pending_entries(dp), 0);
	assert_int_equal(event(dp, QLB_EV_SYN_STATELESS), 1);
	send_reply(dp, 52000, b, TH_SYN | TH_ACK);
	assert_int_equal(ack_verdict(dp, 52000, 1001, &to), XDP_TX);
	assert_int_equal(to, b);
	assert_int_equal(event(dp, QLB_EV_LOST_TO_RING), 1);
	/* While flooding, a reply is forwarded but not adopted. */
	send_reply(dp, 52000, b, TH_ACK | TH_PSH);
	assert_int_equal(flow_entries(dp, 52000), 0);
	assert_int_equal(event(dp, QLB_EV_REPLY_STATELESS), 2);

	/* UDP too keeps no state then. */
	uvid = dp_vip(dp, VIP4, 53, IPPROTO_UDP);
	u = dp_backend(dp, uvid, "10.1.0.2", 53, 1);
	s = spec(QLB_FAMILY_V4, IPPROTO_UDP, 52100, 0);
	s.dport = 53;
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	assert_int_equal(event(dp, QLB_EV_UDP_STATELESS), 1);
	assert_int_equal(active(dp, u), 0);

	force_flood(dp, 0);
	send_reply(dp, 52000, b, TH_ACK | TH_PSH);
	assert_int_equal(flow_entries(dp, 52000), 2);
	assert_int_equal(event(dp, QLB_EV_ADOPTED), 1);
	assert_int_equal(active(dp, b), 2);
	assert_int_equal(flows_new(dp, b), 2);
	/* From here it is an established flow like any other. */
	assert_int_equal(ack_verdict(dp, 52000, 1001, &to), XDP_TX);
	assert_int_equal(event(dp, QLB_EV_LOST_TO_RING), 1);
	/* A RST is no proof: a forged ACK's answer adopts nothing. */
	assert_int_equal(ack_verdict(dp, 52002, 5, &to), XDP_TX);
	send_reply(dp, 52002, to, TH_RST);
	assert_int_equal(flow_entries(dp, 52002), 0);
}

/* A packet of no known flow goes by the ring even where the per-flow pick
 * would choose otherwise: the backend it began on, while the ring stays. */
static void test_lost_entry_not_placed_by_load(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, a, b, i, to, got[2] = { 0 };

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	a = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	b = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	set_policy(dp, vid, QLB_POLICY_LC);
	set_active(dp, a, 1000);
	/* New flows: all to b, the least loaded. */
	for (i = 0; i < 20; i++)
		assert_int_equal(send_req(dp, 53000 + i, TH_SYN), b);
	/* Mid-flow packets of no flow: the ring's split, about half each. */
	for (i = 0; i < 200; i++) {
		assert_int_equal(ack_verdict(dp, 53100 + i, 1, &to), XDP_TX);
		got[to == b]++;
	}
	print_message("lost packets: %u to the loaded backend, %u to the idle one\n", got[0],
		      got[1]);
	assert_true(got[0] > 50 && got[1] > 50);
	assert_int_equal(event(dp, QLB_EV_LOST_TO_RING), 200);
}

/* The agent's GC takes half-open entries that never completed. */
static void test_pending_gc(void **state)
{
	struct dp *dp = *state;
	uint64_t deleted = 0;
	uint32_t vid, b;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	b = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	assert_int_equal(send_req(dp, 54000, TH_SYN), b);
	assert_int_equal(send_req(dp, 54001, TH_SYN), b);
	age_pending(dp, 54000, 20 * NSEC);
	assert_int_equal(qlb_pending_gc(dp->st, 10 * NSEC, &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(pending_entries(dp), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake_makes_the_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_flood_spares_established, setup_small,
						teardown),
		cmocka_unit_test_setup_teardown(test_flood_mode_stateless, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_entry_not_placed_by_load, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pending_gc, setup, teardown),
	};

	return cmocka_run_group_tests_name("flood", tests, NULL, NULL);
}
