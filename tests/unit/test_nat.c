// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * NAT both ways on crafted packets (BPF_PROG_TEST_RUN): requests rewritten to
 * their backend, replies back to the VIP, MACs, checksums and the per-flow
 * counters, for each family and protocol.
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

/* A request and its reply both ways through the program, for one family and
 * protocol: DNAT, reverse NAT, MACs, checksums, counters. */
static void roundtrip(struct dp *dp, uint8_t family, uint8_t proto)
{
	const char *vip = family == QLB_FAMILY_V4 ? VIP4 : VIP6;
	const char *baddr = family == QLB_FAMILY_V4 ? "10.1.0.1" : "fd01::1";
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s, r;
	struct qlb_backend_stats bs;
	uint32_t vid, bid;
	uint16_t port;
	size_t out;

	vid = dp_vip(dp, vip, 80, proto);
	assert_int_not_equal(vid, QLB_NO_BACKEND);
	bid = dp_backend(dp, vid, baddr, 8080, 1);
	assert_int_not_equal(bid, QLB_NO_BACKEND);

	s = spec(family, proto, 40000, TH_SYN);
	s.payload_len = proto == IPPROTO_UDP ? 32 : 0;
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, &out), XDP_TX);
	assert_int_equal(out, lay.len);
	assert_memory_equal(pkt, BACKEND_MAC, 6);
	assert_memory_equal(pkt + 6, LB_MAC, 6);
	assert_addr(pkt + lay.l3 + dst_off(family), family, baddr);
	assert_addr(pkt + lay.l3 + src_off(family), family, s.src);
	memcpy(&port, pkt + lay.l4 + 2, 2);
	assert_int_equal(ntohs(port), 8080);
	assert_true(pkt_checksums_ok(pkt, &lay, family, proto));

	r = reply_of(&s, baddr, 8080, TH_SYN | TH_ACK);
	r.payload_len = 48;
	pkt_build(&r, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, &out), XDP_TX);
	assert_memory_equal(pkt, CLIENT_MAC, 6);
	assert_memory_equal(pkt + 6, LB_MAC, 6);
	assert_addr(pkt + lay.l3 + src_off(family), family, vip);
	assert_addr(pkt + lay.l3 + dst_off(family), family, s.src);
	memcpy(&port, pkt + lay.l4, 2);
	assert_int_equal(ntohs(port), 80);
	assert_true(pkt_checksums_ok(pkt, &lay, family, proto));

	dp_backend_stats(dp, bid, &bs);
	/* A TCP flow is new once the client completes its handshake. */
	assert_int_equal(bs.flows_new, proto == IPPROTO_UDP ? 1 : 0);
	assert_int_equal(bs.packets_to, 1);
	assert_int_equal(bs.packets_from, 1);
	assert_int_equal(bs.bytes_from, lay.len);
	/* UDP carried a request payload, answered by the reply: one sample. */
	assert_int_equal(bs.rt_count, proto == IPPROTO_UDP ? 1 : 0);
	if (proto != IPPROTO_TCP)
		return;
	s.tcp_flags = TH_ACK;
	s.ack = 1001;
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	assert_addr(pkt + lay.l3 + dst_off(family), family, baddr);
	assert_true(pkt_checksums_ok(pkt, &lay, family, proto));
	dp_backend_stats(dp, bid, &bs);
	assert_int_equal(bs.flows_new, 1);
	assert_int_equal(active(dp, bid), 1);
}

static void test_ipv4_tcp(void **state) { roundtrip(*state, QLB_FAMILY_V4, IPPROTO_TCP); }
static void test_ipv4_udp(void **state) { roundtrip(*state, QLB_FAMILY_V4, IPPROTO_UDP); }
static void test_ipv6_tcp(void **state) { roundtrip(*state, QLB_FAMILY_V6, IPPROTO_TCP); }
static void test_ipv6_udp(void **state) { roundtrip(*state, QLB_FAMILY_V6, IPPROTO_UDP); }

/* TCP: FIN in both directions counts one completion; the response time runs
 * from the request's first data packet to the first data of the response,
 * the flow's duration from its SYN to the first FIN. */
static void test_tcp_lifecycle(void **state)
{
	struct dp *dp = *state;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s, r;
	struct qlb_backend_stats bs;
	uint32_t vid, bid;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	bid = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40002, TH_SYN);
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	r = reply_of(&s, "10.1.0.1", 80, TH_SYN | TH_ACK);
	assert_int_equal(run_spec(dp, &r, pkt, &lay), XDP_TX);
	/* The handshake's ACK carries the first request bytes. */
	s.tcp_flags = TH_ACK | TH_PSH;
	s.ack = 1001;
	s.payload_len = 100;
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	r.tcp_flags = TH_ACK | TH_PSH;
	r.payload_len = 500;
	assert_int_equal(run_spec(dp, &r, pkt, &lay), XDP_TX);
	usleep(20 * 1000); /* the rest of the transfer */
	r.tcp_flags = TH_FIN | TH_ACK;
	r.payload_len = 0;
	assert_int_equal(run_spec(dp, &r, pkt, &lay), XDP_TX);
	s.tcp_flags = TH_FIN | TH_ACK;
	s.payload_len = 0;
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);

	dp_backend_stats(dp, bid, &bs);
	assert_int_equal(bs.flows_new, 1);
	assert_int_equal(bs.flows_closed, 1);
	assert_int_equal(bs.rt_count, 1);
	assert_true(bs.rt_sum_ns > 0);
	/* One duration (the second FIN is no second close), spanning the
	 * transfer that the first-byte time leaves out. */
	assert_int_equal(bs.dur_count, 1);
	assert_true(bs.dur_sum_ns >= 20 * 1000 * 1000ull);
	assert_true(bs.dur_sum_ns < 5ull * 1000 * 1000 * 1000);
	assert_true(bs.dur_sum_ns > bs.rt_sum_ns);
	assert_int_equal(bs.packets_to, 3);
	assert_int_equal(bs.packets_from, 3);
	assert_int_equal(active(dp, bid), 0);

	/* A new SYN on the closed 4-tuple is a new flow, once its handshake
	 * completes; until then the old one's entries are gone and the new
	 * one half-open. */
	s.tcp_flags = TH_SYN;
	s.ack = 0;
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	assert_int_equal(flow_entries(dp, 40002), 0);
	r.tcp_flags = TH_SYN | TH_ACK;
	r.seq = 5000;
	assert_int_equal(run_spec(dp, &r, pkt, &lay), XDP_TX);
	s.tcp_flags = TH_ACK;
	s.ack = 5001;
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	dp_backend_stats(dp, bid, &bs);
	assert_int_equal(bs.flows_new, 2);
	assert_int_equal(active(dp, bid), 1);
	assert_int_equal(flow_entries(dp, 40002), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ipv4_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv4_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_lifecycle, setup, teardown),
	};

	return cmocka_run_group_tests_name("nat", tests, NULL, NULL);
}
