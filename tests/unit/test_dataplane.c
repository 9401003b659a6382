// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The XDP program on crafted packets (BPF_PROG_TEST_RUN): return codes,
 * rewritten bytes with valid checksums, and the counters.
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
#include "flows.h"
#include "grace.h"
#include "pick.h"
#include "policy.h"
#include "ring.h"
#include "stats.h"

#define VIP4 "10.0.0.100"
#define VIP6 "fd00::100"
#define CLIENT4 "192.0.2.7"
#define CLIENT6 "2001:db8::7"

static struct pkt_spec spec(uint8_t family, uint8_t proto, uint16_t sport,
			    uint8_t flags)
{
	struct pkt_spec s = {
		.family = family, .proto = proto,
		.src = family == QLB_FAMILY_V4 ? CLIENT4 : CLIENT6,
		.dst = family == QLB_FAMILY_V4 ? VIP4 : VIP6,
		.sport = sport, .dport = 80, .tcp_flags = flags,
	};

	memcpy(s.smac, CLIENT_MAC, 6);
	memcpy(s.dmac, LB_MAC, 6);
	return s;
}

/* The reply of backend `baddr:bport` to the request in s. */
static struct pkt_spec reply_of(const struct pkt_spec *s, const char *baddr,
				uint16_t bport, uint8_t flags)
{
	struct pkt_spec r = *s;

	r.src = baddr;
	r.dst = s->src;
	r.sport = bport;
	r.dport = s->sport;
	r.tcp_flags = flags;
	memcpy(r.smac, BACKEND_MAC, 6);
	memcpy(r.dmac, LB_MAC, 6);
	return r;
}

static int setup(void **state)
{
	struct dp *dp = calloc(1, sizeof(*dp));

	if (!dp || dp_setup(dp))
		return -1;
	*state = dp;
	return 0;
}

static int teardown(void **state)
{
	dp_teardown(*state);
	free(*state);
	return 0;
}

static void assert_addr(const uint8_t *p, uint8_t family, const char *want)
{
	uint8_t bin[16];

	inet_pton(family == QLB_FAMILY_V4 ? AF_INET : AF_INET6, want, bin);
	assert_memory_equal(p, bin, family == QLB_FAMILY_V4 ? 4 : 16);
}

/* Offsets of addresses in the IP header. */
static size_t src_off(uint8_t family) { return family == QLB_FAMILY_V4 ? 12 : 8; }
static size_t dst_off(uint8_t family) { return family == QLB_FAMILY_V4 ? 16 : 24; }

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
	assert_int_equal(bs.flows_new, 1);
	assert_int_equal(bs.packets_to, 1);
	assert_int_equal(bs.packets_from, 1);
	assert_int_equal(bs.bytes_from, lay.len);
	/* UDP carried a request payload, answered by the reply: one sample. */
	assert_int_equal(bs.rt_count, proto == IPPROTO_UDP ? 1 : 0);
}

static void test_ipv4_tcp(void **state) { roundtrip(*state, QLB_FAMILY_V4, IPPROTO_TCP); }
static void test_ipv4_udp(void **state) { roundtrip(*state, QLB_FAMILY_V4, IPPROTO_UDP); }
static void test_ipv6_tcp(void **state) { roundtrip(*state, QLB_FAMILY_V6, IPPROTO_TCP); }
static void test_ipv6_udp(void **state) { roundtrip(*state, QLB_FAMILY_V6, IPPROTO_UDP); }

static void test_vlan_tagged(void **state)
{
	struct dp *dp = *state;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;
	uint32_t vid;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	dp_backend(dp, vid, "10.1.0.1", 80, 1);
	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40001, TH_SYN);
	s.vlan = 1;
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	assert_int_equal(pkt[15], 42);	/* tag kept */
	assert_addr(pkt + lay.l3 + 16, QLB_FAMILY_V4, "10.1.0.1");
	assert_true(pkt_checksums_ok(pkt, &lay, QLB_FAMILY_V4, IPPROTO_TCP));
}

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
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	s.tcp_flags = TH_ACK | TH_PSH;
	s.payload_len = 100;
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	r = reply_of(&s, "10.1.0.1", 80, TH_ACK | TH_PSH);
	r.payload_len = 500;
	pkt_build(&r, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	usleep(20 * 1000); /* the rest of the transfer */
	r.tcp_flags = TH_FIN | TH_ACK;
	r.payload_len = 0;
	pkt_build(&r, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	s.tcp_flags = TH_FIN | TH_ACK;
	s.payload_len = 0;
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);

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
	assert_int_equal(bs.packets_from, 2);

	/* A new SYN on the closed 4-tuple is a new flow. */
	s.tcp_flags = TH_SYN;
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	dp_backend_stats(dp, bid, &bs);
	assert_int_equal(bs.flows_new, 2);
}

static void test_not_vip_passes_untouched(void **state)
{
	struct dp *dp = *state;
	uint8_t pkt[PKT_MAX], orig[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;
	uint32_t vid;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	dp_backend(dp, vid, "10.1.0.1", 80, 1);
	/* Wrong port, wrong protocol, wrong address. */
	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40003, TH_SYN);
	s.dport = 81;
	pkt_build(&s, pkt, &lay);
	memcpy(orig, pkt, lay.len);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_PASS);
	assert_memory_equal(pkt, orig, lay.len);
	s = spec(QLB_FAMILY_V4, IPPROTO_UDP, 40003, 0);
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_PASS);
	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40003, TH_SYN);
	s.dst = "10.0.0.101";
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_PASS);
	assert_int_equal(dp_reason(dp, QLB_R_PASS_NOT_VIP), 3);
	assert_int_equal(dp_reason(dp, QLB_R_FWD_TO_BACKEND), 0);

	/* ARP: not IP. */
	pkt_build(&s, pkt, &lay);
	pkt[12] = 0x08;
	pkt[13] = 0x06;
	assert_int_equal(dp_run(dp, pkt, 60, NULL), XDP_PASS);
	assert_int_equal(dp_reason(dp, QLB_R_PASS_NOT_IP), 1);
}

/* Every length short of the whole packet: never forwarded, and each cut is
 * counted under the header it fell in. */
static void truncate_all(struct dp *dp, struct pkt_spec s)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	size_t len, full;
	uint64_t before[QLB_R_MAX], after;
	int r, ret;

	full = pkt_build(&s, pkt, &lay);
	/* BPF_PROG_TEST_RUN refuses XDP input shorter than an Ethernet header. */
	for (len = ETH_HLEN; len < full; len++) {
		enum qlb_reason want;

		for (r = 0; r < QLB_R_MAX; r++)
			before[r] = dp_reason(dp, r);
		pkt_build(&s, pkt, &lay);
		ret = dp_run(dp, pkt, len, NULL);
		if (len < lay.l3)
			want = QLB_R_BAD_VLAN;
		else if (len < lay.l4)
			want = s.family == QLB_FAMILY_V4 ? QLB_R_BAD_IPV4 : QLB_R_BAD_IPV6;
		else if (len < lay.payload || s.payload_len)
			/* The IP length covers bytes that are not there. */
			want = s.family == QLB_FAMILY_V4 ? QLB_R_BAD_IPV4 : QLB_R_BAD_IPV6;
		else
			want = QLB_R_MAX;
		assert_true(ret == XDP_PASS || ret == XDP_DROP);
		if (want != QLB_R_MAX) {
			after = dp_reason(dp, want);
			if (after != before[want] + 1)
				fail_msg("len %zu of %zu: reason %s not counted", len, full,
					 qlb_reason_name(want));
		}
	}
}

static void test_truncated_at_every_length(void **state)
{
	struct dp *dp = *state;
	uint8_t families[] = { QLB_FAMILY_V4, QLB_FAMILY_V6 };
	uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	uint32_t vid;
	size_t f, p;

	for (f = 0; f < 2; f++) {
		for (p = 0; p < 2; p++) {
			struct pkt_spec s = spec(families[f], protos[p], 40004, TH_SYN);

			vid = dp_vip(dp, s.dst, 80, protos[p]);
			dp_backend(dp, vid, families[f] == QLB_FAMILY_V4 ? "10.1.0.1" : "fd01::1",
				   80, 1);
			s.payload_len = 10;
			truncate_all(dp, s);
			s.vlan = 1;
			truncate_all(dp, s);
		}
	}
	assert_int_equal(dp_reason(dp, QLB_R_FWD_TO_BACKEND), 0);
}

/* Headers that are whole but lie: a TCP data offset past the packet, a UDP
 * length past the IP payload. */
static void test_inconsistent_l4_dropped(void **state)
{
	struct dp *dp = *state;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;
	uint32_t vid;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	dp_backend(dp, vid, "10.1.0.1", 80, 1);
	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40005, TH_SYN);
	pkt_build(&s, pkt, &lay);
	pkt[lay.l4 + 12] = 15 << 4;	/* 60-byte header in a 20-byte segment */
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_DROP);
	pkt[lay.l4 + 12] = 4 << 4;	/* shorter than the minimum */
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_DROP);
	assert_int_equal(dp_reason(dp, QLB_R_BAD_TCP), 2);

	vid = dp_vip(dp, VIP4, 53, IPPROTO_UDP);
	dp_backend(dp, vid, "10.1.0.1", 53, 1);
	s = spec(QLB_FAMILY_V4, IPPROTO_UDP, 40005, 0);
	s.dport = 53;
	s.payload_len = 8;
	pkt_build(&s, pkt, &lay);
	pkt[lay.l4 + 5] = 200;		/* UDP length beyond the IP payload */
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_DROP);
	pkt[lay.l4 + 5] = 4;		/* shorter than the UDP header */
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_DROP);
	assert_int_equal(dp_reason(dp, QLB_R_BAD_UDP), 2);
	assert_int_equal(dp_reason(dp, QLB_R_FWD_TO_BACKEND), 0);
}

static void test_ipv4_options_and_fragments(void **state)
{
	struct dp *dp = *state;
	uint8_t pkt[PKT_MAX], orig[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;
	uint32_t vid;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	dp_backend(dp, vid, "10.1.0.1", 80, 1);

	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40006, TH_SYN);
	s.ip_options = 1;
	pkt_build(&s, pkt, &lay);
	memcpy(orig, pkt, lay.len);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_PASS);
	assert_memory_equal(pkt, orig, lay.len);
	assert_int_equal(dp_reason(dp, QLB_R_PASS_IPV4_OPTIONS), 1);

	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40006, TH_SYN);
	s.frag_off = 0x2000;		/* first fragment: MF */
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_PASS);
	s.frag_off = 185;		/* a later fragment: offset 1480 */
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_PASS);
	assert_int_equal(dp_reason(dp, QLB_R_PASS_IPV4_FRAG), 2);

	/* DF alone is not a fragment. */
	s.frag_off = 0x4000;
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	assert_int_equal(dp_reason(dp, QLB_R_FWD_TO_BACKEND), 1);
}

static void test_ipv6_extension_headers(void **state)
{
	struct dp *dp = *state;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;
	uint32_t vid;

	vid = dp_vip(dp, VIP6, 80, IPPROTO_TCP);
	dp_backend(dp, vid, "fd01::1", 80, 1);

	s = spec(QLB_FAMILY_V6, IPPROTO_TCP, 40007, TH_SYN);
	s.ipv6_frag = 1;
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_PASS);
	assert_int_equal(dp_reason(dp, QLB_R_PASS_IPV6_FRAG), 1);

	/* A hop-by-hop header is skipped and the flow balanced. */
	s.ipv6_frag = 0;
	s.ipv6_hopopts = 1;
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	assert_addr(pkt + lay.l3 + 24, QLB_FAMILY_V6, "fd01::1");
	assert_true(pkt_checksums_ok(pkt, &lay, QLB_FAMILY_V6, IPPROTO_TCP));
}

static void test_no_backend_dropped(void **state)
{
	struct dp *dp = *state;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;
	uint32_t vid, bid;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40008, TH_SYN);
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_DROP);
	/* Weight 0 holds no slot either. */
	bid = dp_backend(dp, vid, "10.1.0.1", 80, 0);
	assert_int_not_equal(bid, QLB_NO_BACKEND);
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_DROP);
	assert_int_equal(dp_reason(dp, QLB_R_DROP_NO_BACKEND), 2);
}

/* Sends n SYNs from distinct flows; counts[] gets the backend each reached. */
static void spray(struct dp *dp, int n, uint32_t first_flow, const uint32_t *ids,
		  int nids, uint64_t *counts)
{
	struct qlb_backend_stats before[8], bs;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	char src[32];
	int i;

	for (i = 0; i < nids; i++)
		dp_backend_stats(dp, ids[i], &before[i]);
	for (i = 0; i < n; i++) {
		uint32_t f = first_flow + i;
		struct pkt_spec s = spec(QLB_FAMILY_V4, IPPROTO_TCP,
					 1024 + f % 60000, TH_SYN);

		snprintf(src, sizeof(src), "198.18.%u.%u", (f / 60000) % 256,
			 (f / 60000 / 256) % 256 + 1);
		s.src = src;
		pkt_build(&s, pkt, &lay);
		assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	}
	for (i = 0; i < nids; i++) {
		dp_backend_stats(dp, ids[i], &bs);
		counts[i] = bs.flows_new - before[i].flows_new;
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

/* Sends one more packet of flow (src, sport) and returns the backend address
 * it was sent to. */
static uint32_t backend_of(struct dp *dp, uint16_t sport, uint8_t flags)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s = spec(QLB_FAMILY_V4, IPPROTO_TCP, sport, flags);
	uint32_t daddr;

	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	memcpy(&daddr, pkt + lay.l3 + 16, 4);
	return daddr;
}

static void test_flow_stays_across_switch_and_add(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, ids[2], daddr, gen;
	int i;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	ids[0] = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	ids[1] = dp_backend(dp, vid, "10.1.0.2", 80, 1);

	for (i = 0; i < 64; i++) {
		uint16_t sport = 50000 + i;
		uint32_t owner, other;

		daddr = backend_of(dp, sport, TH_SYN);
		owner = daddr == dp->st->backends[ids[0]].addr.v4 ? ids[0] : ids[1];
		other = owner == ids[0] ? ids[1] : ids[0];

		/* Table switch: the owner loses every slot. */
		gen = dp->st->vips[0].val.ring_gen;
		assert_int_equal(qlb_backend_update(dp->st, owner, 0, 0), 0);
		assert_int_equal(dp->st->backends[owner].ring_slots, 0);
		assert_true(dp->st->vips[0].val.ring_gen > gen);
		assert_int_equal(backend_of(dp, sport, TH_ACK), daddr);
		/* New flows avoid it. */
		assert_int_equal(backend_of(dp, sport + 1000, TH_SYN),
				 dp->st->backends[other].addr.v4);
		assert_int_equal(qlb_backend_update(dp->st, owner, 1, 0), 0);
	}

	/* A backend added with a dominant weight does not move old flows. */
	daddr = backend_of(dp, 60000, TH_SYN);
	assert_int_not_equal(dp_backend(dp, vid, "10.1.0.3", 80, 1000), QLB_NO_BACKEND);
	assert_int_equal(backend_of(dp, 60000, TH_ACK), daddr);
}

static void test_drain_keeps_established(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, a, b, daddr;
	int i;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	a = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	b = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	assert_int_equal(qlb_backend_update(dp->st, b, 1, QLB_BE_F_DRAIN), 0);
	for (i = 0; i < 200; i++)
		assert_int_equal(backend_of(dp, 30000 + i, TH_SYN),
				 dp->st->backends[a].addr.v4);
	/* An established flow on a backend drained afterwards stays there. */
	assert_int_equal(qlb_backend_update(dp->st, b, 1, 0), 0);
	for (i = 0; i < 200; i++) {
		daddr = backend_of(dp, 31000 + i, TH_SYN);
		if (daddr == dp->st->backends[b].addr.v4)
			break;
	}
	assert_int_equal(daddr, dp->st->backends[b].addr.v4);
	assert_int_equal(qlb_backend_update(dp->st, b, 1, QLB_BE_F_DRAIN), 0);
	assert_int_equal(backend_of(dp, 31000 + i, TH_ACK), dp->st->backends[b].addr.v4);
}

/* ---- ring flips: two rings per VIP, the retired one kept for a grace
 * period ---- */

/* The first VIP as the kernel has it. */
static struct qlb_vip kernel_vip(struct dp *dp)
{
	struct qlb_vip v;

	assert_int_equal(bpf_map_lookup_elem(dp->st->maps.vips, &dp->st->vips[0].key, &v), 0);
	return v;
}

/* Ring `which` of VIP v read through syscalls, as the program finds it: the
 * map in its maglev_rings slot, which must be the one ring_id[] names. */
static void kernel_ring(struct dp *dp, const struct qlb_vip *v, int which, uint32_t *ring)
{
	__u32 key = QLB_RING_KEY(v->vip_id, which), id, count = QLB_RING_SIZE, out;
	int fd, err;

	assert_int_equal(bpf_map_lookup_elem(dp->st->maps.maglev_rings, &key, &id), 0);
	assert_int_equal(id, v->ring_id[which]);
	fd = bpf_map_get_fd_by_id(id);
	assert_true(fd >= 0);
	err = bpf_map_lookup_batch(fd, NULL, &out, dp->st->ring_keys, ring, &count, NULL);
	assert_true(!err || errno == ENOENT);
	assert_int_equal(count, QLB_RING_SIZE);
	close(fd);
}

static uint32_t slots_of(const uint32_t *ring, uint32_t id)
{
	uint32_t i, n = 0;

	for (i = 0; i < QLB_RING_SIZE; i++)
		n += ring[i] == id;
	return n;
}

/* A publish writes the inactive ring and flips ring_gen: the active ring is
 * then the whole new one, and the retired one is left as it was. */
static void test_ring_flip_keeps_retired_ring(void **state)
{
	struct dp *dp = *state;
	uint32_t *before = malloc(QLB_RING_SIZE * 4), *ring = malloc(QLB_RING_SIZE * 4);
	uint32_t vid, a, b;
	struct qlb_vip v0, v1;
	int i;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	a = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	b = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	v0 = kernel_vip(dp);
	assert_int_not_equal(v0.ring_id[0], 0);
	assert_int_not_equal(v0.ring_id[1], 0);
	kernel_ring(dp, &v0, v0.ring_gen & 1, before);
	assert_true(slots_of(before, a) > 30000 && slots_of(before, b) > 30000);

	assert_int_equal(qlb_backend_update(dp->st, a, 0, 0), 0);
	v1 = kernel_vip(dp);
	assert_int_equal(v1.ring_gen, v0.ring_gen + 1);
	/* The same two rings, the other one active. */
	assert_memory_equal(v1.ring_id, v0.ring_id, sizeof(v0.ring_id));
	kernel_ring(dp, &v1, v1.ring_gen & 1, ring);
	assert_int_equal(slots_of(ring, b), QLB_RING_SIZE);
	kernel_ring(dp, &v1, v0.ring_gen & 1, ring);
	assert_memory_equal(ring, before, QLB_RING_SIZE * 4);
	for (i = 0; i < 50; i++)
		assert_int_equal(backend_of(dp, 40000 + i, TH_SYN),
				 dp->st->backends[b].addr.v4);
	free(before);
	free(ring);
}

/* A grace period the test holds back, in place of the kernel's. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int hold, calls;
} held = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

static int held_grace_period(void)
{
	pthread_mutex_lock(&held.mu);
	held.calls++;
	while (held.hold)
		pthread_cond_wait(&held.cv, &held.mu);
	pthread_mutex_unlock(&held.mu);
	return 0;
}

static void hold_grace_periods(int hold)
{
	pthread_mutex_lock(&held.mu);
	held.hold = hold;
	pthread_cond_broadcast(&held.cv);
	pthread_mutex_unlock(&held.mu);
}

/* A publish on its own thread. Static, as is its thread: a failed
 * assertion leaves the test, and the teardown then joins it. */
static struct publisher {
	struct qlb_state *st;
	uint32_t id, weight;
	int err;
	int done;	/* atomic */
	int started;
	pthread_t thread;
} pub;

static void *publish_weight(void *arg)
{
	struct publisher *p = arg;

	p->err = qlb_backend_update(p->st, p->id, p->weight, 0);
	__atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int teardown_release(void **state)
{
	hold_grace_periods(0);
	if (pub.started)
		pthread_join(pub.thread, NULL);
	pub.started = 0;
	qlb_gp_set_op(NULL);
	return teardown(state);
}

/* Runs a publish on its own thread and checks that it does not finish, nor
 * touch any ring, while grace periods are held back; then releases them. */
static void assert_publish_waits(struct dp *dp, struct qlb_state *st, uint32_t id,
				 uint32_t weight)
{
	uint32_t *r0 = malloc(QLB_RING_SIZE * 4), *r1 = malloc(QLB_RING_SIZE * 4);
	uint32_t *now = malloc(QLB_RING_SIZE * 4);
	struct qlb_vip v = kernel_vip(dp), after;

	kernel_ring(dp, &v, 0, r0);
	kernel_ring(dp, &v, 1, r1);
	pub = (struct publisher){ .st = st, .id = id, .weight = weight };
	assert_int_equal(pthread_create(&pub.thread, NULL, publish_weight, &pub), 0);
	pub.started = 1;
	usleep(200 * 1000);
	assert_false(__atomic_load_n(&pub.done, __ATOMIC_ACQUIRE));
	after = kernel_vip(dp);
	assert_memory_equal(&after, &v, sizeof(v));
	kernel_ring(dp, &v, 0, now);
	assert_memory_equal(now, r0, QLB_RING_SIZE * 4);
	kernel_ring(dp, &v, 1, now);
	assert_memory_equal(now, r1, QLB_RING_SIZE * 4);

	hold_grace_periods(0);
	assert_int_equal(pthread_join(pub.thread, NULL), 0);
	pub.started = 0;
	assert_int_equal(pub.err, 0);
	after = kernel_vip(dp);
	assert_int_equal(after.ring_gen, v.ring_gen + 1);
	/* The ring that was active stays as it was. */
	kernel_ring(dp, &after, v.ring_gen & 1, now);
	assert_memory_equal(now, v.ring_gen & 1 ? r1 : r0, QLB_RING_SIZE * 4);
	free(r0);
	free(r1);
	free(now);
}

/*
 * The ring a flip retired is not rewritten before a grace period that began
 * after the flip: the next publish waits for the one this process asked for
 * at its flip, and after a flip by another process (a second state on the
 * same pins) for a fresh one.
 */
static void test_retired_ring_waits_for_grace_period(void **state)
{
	struct dp *dp = *state;
	struct qlb_state *other;
	uint32_t vid, a, b;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	a = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	b = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	assert_int_equal(qlb_gp_sync(), 0);

	/* Our own flip; its grace period held back. */
	qlb_gp_set_op(held_grace_period);
	hold_grace_periods(1);
	assert_int_equal(qlb_backend_update(dp->st, a, 0, 0), 0);
	assert_int_equal(backend_of(dp, 41000, TH_SYN), dp->st->backends[b].addr.v4);
	assert_publish_waits(dp, dp->st, a, 1);
	assert_true(held.calls > 0);

	/* Another process's flip: nothing says when it happened. */
	assert_int_equal(qlb_gp_sync(), 0);
	assert_int_equal(qlb_state_open(&other, 0, 0, NULL), 0);
	assert_int_equal(qlb_state_read(other), 0);
	assert_int_equal(qlb_backend_update(other, b, 0, 0), 0);
	assert_int_equal(qlb_gp_sync(), 0);	/* even once its own is done */
	assert_int_equal(qlb_state_read(dp->st), 0);
	hold_grace_periods(1);
	assert_publish_waits(dp, dp->st, b, 1);
	qlb_state_close(other);
	qlb_gp_set_op(NULL);
	assert_int_equal(qlb_gp_sync(), 0);
}

/* Many flips back to back, with the kernel's grace periods: each new flow
 * follows the ring of its generation, and every flow keeps its backend. */
static void test_flows_survive_many_flips(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, ids[2], owner[100];
	int k, j;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	ids[0] = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	ids[1] = dp_backend(dp, vid, "10.1.0.2", 80, 0);
	for (k = 0; k < 100; k++) {
		uint32_t on = ids[k & 1], off = ids[!(k & 1)];
		uint32_t gen = dp->st->vips[0].val.ring_gen;

		assert_int_equal(qlb_backend_update(dp->st, on, 1, 0), 0);
		assert_int_equal(qlb_backend_update(dp->st, off, 0, 0), 0);
		assert_int_equal(dp->st->vips[0].val.ring_gen, gen + 2);
		owner[k] = dp->st->backends[on].addr.v4;
		assert_int_equal(backend_of(dp, 20000 + k, TH_SYN), owner[k]);
		for (j = 0; j <= k; j++)
			assert_int_equal(backend_of(dp, 20000 + j, TH_ACK), owner[j]);
	}
}

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
	struct pkt_spec s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 45000, TH_SYN);
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
		for (c = 0; c < 3 + 4 * i; c++) {
			pkt_build(&s, pkt, &lay);
			assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
			s.tcp_flags = TH_ACK;
		}
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

/* ---- per-flow picks (lc, p2c, sed), active-flow counts, flow GC ---- */

#define NSEC 1000000000ull

static const struct qlb_vip_key *vip_key(struct dp *dp, uint32_t vid)
{
	int i;

	for (i = 0; i < dp->st->nvips; i++)
		if (dp->st->vips[i].val.vip_id == vid)
			return &dp->st->vips[i].key;
	fail_msg("no VIP %u", vid);
	return NULL;
}

static void set_policy(struct dp *dp, uint32_t vid, uint32_t policy)
{
	assert_int_equal(qlb_vip_set_policy(dp->st, vip_key(dp, vid), policy), 0);
}

static struct qlb_vip_backends pick_table(struct dp *dp, uint32_t vid)
{
	struct qlb_vip_backends vb;

	assert_int_equal(bpf_map_lookup_elem(dp->st->maps.vip_backends, &vid, &vb), 0);
	return vb;
}

/* The raw counter, not clamped: here it must never go below 0. */
static int64_t active(struct dp *dp, uint32_t id)
{
	return __atomic_load_n(&dp->st->active[id], __ATOMIC_RELAXED);
}

static void set_active(struct dp *dp, uint32_t id, int64_t v)
{
	__atomic_store_n(&dp->st->active[id], v, __ATOMIC_RELAXED);
}

/* The backend a request was sent to, from its rewritten destination. */
static uint32_t id_of(struct dp *dp, uint32_t daddr)
{
	uint32_t i;

	for (i = 0; i < QLB_MAX_BACKENDS; i++)
		if ((dp->st->backends[i].flags & QLB_BE_F_IN_USE) &&
		    dp->st->backends[i].addr.v4 == daddr)
			return i;
	fail_msg("request sent to an unknown address");
	return QLB_NO_BACKEND;
}

/* One packet of the client's TCP flow from sport; the backend it reached. */
static uint32_t send_req(struct dp *dp, uint16_t sport, uint8_t flags)
{
	return id_of(dp, backend_of(dp, sport, flags));
}

/* One packet of backend bid's reply to the client's flow from sport; the
 * program's verdict. */
static int reply_verdict(struct dp *dp, uint16_t sport, uint32_t bid, uint8_t flags)
{
	struct pkt_spec s = spec(QLB_FAMILY_V4, IPPROTO_TCP, sport, 0), r;
	char baddr[INET_ADDRSTRLEN];
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;

	inet_ntop(AF_INET, &dp->st->backends[bid].addr.v4, baddr, sizeof(baddr));
	r = reply_of(&s, baddr, ntohs(dp->st->backends[bid].port), flags);
	pkt_build(&r, pkt, &lay);
	return dp_run(dp, pkt, lay.len, NULL);
}

/* The same, forwarded to the client. */
static void send_reply(struct dp *dp, uint16_t sport, uint32_t bid, uint8_t flags)
{
	assert_int_equal(reply_verdict(dp, sport, bid, flags), XDP_TX);
}

/* A capacity estimate as the agent writes it, age_ns old. */
static void set_mu(struct dp *dp, uint32_t id, uint64_t mu_milli, uint64_t age_ns)
{
	struct qlb_backend_est e = { .updated_ns = qlb_mono_ns() - age_ns, .mu_milli = mu_milli };

	assert_int_equal(bpf_map_update_elem(dp->st->maps.backend_est, &id, &e, BPF_ANY), 0);
}

static uint64_t flows_new(struct dp *dp, uint32_t id)
{
	struct qlb_backend_stats bs;

	dp_backend_stats(dp, id, &bs);
	return bs.flows_new;
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
	assert_int_equal(send_req(dp, 41000, TH_SYN), a);
	assert_int_equal(send_req(dp, 41001, TH_SYN), b);
	assert_int_equal(send_req(dp, 41002, TH_SYN), a);
	assert_int_equal(send_req(dp, 41003, TH_SYN), b);
	assert_int_equal(active(dp, a), 2);
	assert_int_equal(active(dp, b), 2);
	assert_int_equal(active(dp, c), 0);

	/* Back in: c has the fewest until it catches up. */
	assert_int_equal(qlb_backend_update(dp->st, c, 1, 0), 0);
	assert_int_equal(send_req(dp, 41004, TH_SYN), c);
	assert_int_equal(send_req(dp, 41005, TH_SYN), c);
	assert_int_equal(send_req(dp, 41006, TH_SYN), a);	/* 2:2:2, lowest id */
	assert_int_equal(send_req(dp, 41007, TH_SYN), b);
	assert_int_equal(send_req(dp, 41008, TH_SYN), c);
	/* Established flows stay where they are, whatever the counts. */
	assert_int_equal(send_req(dp, 41000, TH_ACK), a);

	/* Two of a's flows end (FIN both ways on one, the server aborting the
	 * other, which it had answered: no refusal). */
	assert_int_equal(send_req(dp, 41000, TH_FIN | TH_ACK), a);
	send_reply(dp, 41000, a, TH_FIN | TH_ACK);
	send_reply(dp, 41002, a, TH_SYN | TH_ACK);
	send_reply(dp, 41002, a, TH_RST);
	assert_int_equal(active(dp, a), 1);
	assert_int_equal(active(dp, b), 3);
	assert_int_equal(active(dp, c), 3);
	assert_int_equal(send_req(dp, 41009, TH_SYN), a);
	assert_int_equal(send_req(dp, 41010, TH_SYN), a);
	assert_int_equal(send_req(dp, 41011, TH_SYN), a);	/* 3:3:3 */
	assert_int_equal(send_req(dp, 41012, TH_SYN), b);
	assert_int_equal(flows_new(dp, a), 6);
	assert_int_equal(flows_new(dp, b), 4);
	assert_int_equal(flows_new(dp, c), 3);
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
	/* A completion, but its round trip is no service time. */
	assert_int_equal(bs.flows_closed, 1);
	assert_int_equal(bs.dur_count, 0);
	assert_int_equal(bpf_map_lookup_elem(dp->st->maps.backend_refused, &a, &at), 0);
	assert_true(at > 0);
	print_message("program clock - CLOCK_MONOTONIC: %+.1f ms\n",
		      ((double)at - (double)qlb_mono_ns()) / 1e6);
	/* a is idle and first, yet b takes the new flows. */
	assert_int_equal(send_req(dp, 42001, TH_SYN), b);
	assert_int_equal(send_req(dp, 42002, TH_SYN), b);
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
	/* Nor is a reset of a mid-stream packet the table knew nothing of. */
	assert_int_equal(send_req(dp, 42005, TH_ACK), a);
	send_reply(dp, 42005, a, TH_RST);
	dp_backend_stats(dp, a, &bs);
	assert_int_equal(bs.refused, 2);
	assert_int_equal(bs.resets_from, 4);
	assert_int_equal(bs.dur_count, 2);
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
		assert_int_equal(send_req(dp, 43000 + i, TH_SYN), a);
	assert_int_equal(qlb_backend_update(dp->st, b, 1, 0), 0);
	assert_int_equal(qlb_backend_update(dp->st, c, 1, 0), 0);

	set_policy(dp, vid, QLB_POLICY_P2C);
	for (i = 0; i < 60; i++) {
		uint32_t to = send_req(dp, 44000 + i, TH_SYN);

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
		uint32_t to = send_req(dp, 46000 + i, TH_SYN);

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

/* Points last_seen of the entries of the client's flow from sport at
 * now - age_ns: which = 1 request entry, 2 response entry, 3 both. */
static void age_flow(struct dp *dp, uint16_t sport, int which, uint64_t age_ns)
{
	struct qlb_flow4_key key, next, *prev = NULL;
	struct qlb_flow f;
	int n = 0;

	while (!bpf_map_get_next_key(dp->st->maps.flows_v4, prev, &next)) {
		int resp, mine;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(dp->st->maps.flows_v4, &key, &f))
			continue;
		resp = !!(f.flags & QLB_FLOW_F_RESPONSE);
		mine = resp ? key.dport == htons(sport) : key.sport == htons(sport);
		if (!mine || !(which & (resp ? 2 : 1)))
			continue;
		f.last_seen_ns = qlb_mono_ns() - age_ns;
		assert_int_equal(bpf_map_update_elem(dp->st->maps.flows_v4, &key, &f,
						     BPF_EXIST), 0);
		n++;
	}
	assert_int_equal(n, which == 3 ? 2 : 1);
}

/* Ages every IPv6 flow entry; returns how many there are. */
static int age_v6_flows(struct dp *dp, uint64_t age_ns)
{
	struct qlb_flow6_key key, next, *prev = NULL;
	struct qlb_flow f;
	int n = 0;

	while (!bpf_map_get_next_key(dp->st->maps.flows_v6, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(dp->st->maps.flows_v6, &key, &f))
			continue;
		f.last_seen_ns = qlb_mono_ns() - age_ns;
		assert_int_equal(bpf_map_update_elem(dp->st->maps.flows_v6, &key, &f,
						     BPF_EXIST), 0);
		n++;
	}
	return n;
}

/* A backend that leaves a SYN unanswered (dead without a RST, or dropping
 * SYNs): the client's retry goes to another backend, and the silent one is
 * passed over as if it had refused. A retry within the limit, an answered
 * flow's retry and mid-stream packets stay. */
static void test_unanswered_syn_rescheduled(void **state)
{
	struct dp *dp = *state;
	struct qlb_backend_stats bs;
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
	age_flow(dp, 48000, 1, 2 * NSEC);
	assert_int_equal(send_req(dp, 48000, TH_SYN), a);
	assert_int_equal(send_req(dp, 48000, TH_SYN), a);
	/* The second retry, 1 s or more after the first. */
	age_flow(dp, 48000, 1, 2 * NSEC);
	assert_int_equal(send_req(dp, 48000, TH_SYN), b);
	assert_int_equal(active(dp, a), 0);
	assert_int_equal(active(dp, b), 1);
	dp_backend_stats(dp, a, &bs);
	assert_int_equal(bs.refused, 1);
	assert_int_equal(bs.flows_expired, 1);
	assert_int_equal(bs.dur_count, 0);
	/* a's late SYN-ACK goes to our kernel, not to the client. */
	assert_int_equal(reply_verdict(dp, 48000, a, TH_SYN | TH_ACK), XDP_PASS);
	/* The flow is b's now, both ways. */
	send_reply(dp, 48000, b, TH_SYN | TH_ACK);
	assert_int_equal(send_req(dp, 48000, TH_ACK), b);
	/* a is idle, yet refusing for the hold: new flows go to b. */
	assert_int_equal(send_req(dp, 48001, TH_SYN), b);

	/* An answered flow's SYN again (the SYN-ACK lost on its way to the
	 * client) stays, and so does a mid-stream packet of an unanswered
	 * flow. */
	send_reply(dp, 48001, b, TH_SYN | TH_ACK);
	age_flow(dp, 48001, 1, 2 * NSEC);
	assert_int_equal(send_req(dp, 48001, TH_SYN), b);
	assert_int_equal(send_req(dp, 48002, TH_SYN), b);
	age_flow(dp, 48002, 1, 2 * NSEC);
	assert_int_equal(send_req(dp, 48002, TH_ACK), b);
	dp_backend_stats(dp, b, &bs);
	assert_int_equal(bs.refused, 0);
	assert_int_equal(active(dp, b), 3);

	/* IPv6 the same: the retry leaves the silent backend. */
	{
		struct pkt_spec s6 = spec(QLB_FAMILY_V6, IPPROTO_TCP, 48100, TH_SYN);
		uint32_t vid6 = dp_vip(dp, VIP6, 80, IPPROTO_TCP), c, d;
		struct pkt_layout lay;
		uint8_t pkt[PKT_MAX];
		uint8_t first[16];

		c = dp_backend(dp, vid6, "fd01::1", 80, 1);
		d = dp_backend(dp, vid6, "fd01::2", 80, 1);
		set_policy(dp, vid6, QLB_POLICY_LC);
		pkt_build(&s6, pkt, &lay);
		assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
		memcpy(first, pkt + lay.l3 + 24, 16);
		assert_int_equal(active(dp, c), 1);
		assert_int_equal(age_v6_flows(dp, 2 * NSEC), 2);
		pkt_build(&s6, pkt, &lay);
		assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
		assert_memory_equal(pkt + lay.l3 + 24, first, 16);
		assert_int_equal(age_v6_flows(dp, 2 * NSEC), 2);
		pkt_build(&s6, pkt, &lay);
		assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
		assert_memory_not_equal(pkt + lay.l3 + 24, first, 16);
		assert_int_equal(active(dp, c), 0);
		assert_int_equal(active(dp, d), 1);
		dp_backend_stats(dp, c, &bs);
		assert_int_equal(bs.refused, 1);
	}
}

static int flow_entries(struct dp *dp, uint16_t sport)
{
	struct qlb_flow4_key key, next, *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(dp->st->maps.flows_v4, prev, &next)) {
		key = next;
		prev = &key;
		n += key.sport == htons(sport) || key.dport == htons(sport);
	}
	return n;
}

/* The counts: +1 per new flow, -1 once per completion (FIN both ways, RST,
 * UDP expiry), never below 0. */
static void test_active_counts(void **state)
{
	struct dp *dp = *state;
	struct qlb_backend_stats bs;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;
	uint32_t vid, uvid, b, u;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	b = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	assert_int_equal(active(dp, b), 0);
	assert_int_equal(send_req(dp, 48000, TH_SYN), b);
	assert_int_equal(active(dp, b), 1);
	assert_int_equal(send_req(dp, 48001, TH_SYN), b);
	assert_int_equal(send_req(dp, 48000, TH_ACK), b);
	assert_int_equal(active(dp, b), 2);
	/* FIN both ways, then the last ACK: one completion. */
	send_reply(dp, 48000, b, TH_FIN | TH_ACK);
	assert_int_equal(active(dp, b), 1);
	assert_int_equal(send_req(dp, 48000, TH_FIN | TH_ACK), b);
	assert_int_equal(send_req(dp, 48000, TH_ACK), b);
	assert_int_equal(active(dp, b), 1);
	/* RST, then a retransmitted RST and a FIN. */
	assert_int_equal(send_req(dp, 48001, TH_RST), b);
	send_reply(dp, 48001, b, TH_RST);
	assert_int_equal(send_req(dp, 48001, TH_FIN), b);
	assert_int_equal(active(dp, b), 0);
	/* A fresh SYN on a closed 4-tuple is a new flow, and opens again. */
	assert_int_equal(send_req(dp, 48000, TH_SYN), b);
	assert_int_equal(active(dp, b), 1);
	/* A flow whose first packet is a RST never opens. */
	assert_int_equal(send_req(dp, 48002, TH_RST), b);
	assert_int_equal(active(dp, b), 1);
	dp_backend_stats(dp, b, &bs);
	assert_int_equal(bs.flows_new, 4);
	assert_int_equal(bs.flows_closed, 3);
	/* A backend id reused starts from 0. */
	assert_int_equal(qlb_backend_remove(dp->st, b), 0);
	b = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	assert_int_equal(active(dp, b), 0);

	/* UDP: silence past the timeout ends the flow; its next packet is a
	 * new one (-1, then +1). */
	uvid = dp_vip(dp, VIP4, 53, IPPROTO_UDP);
	u = dp_backend(dp, uvid, "10.1.0.2", 53, 1);
	s = spec(QLB_FAMILY_V4, IPPROTO_UDP, 48100, 0);
	s.dport = 53;
	s.payload_len = 20;
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	assert_int_equal(active(dp, u), 1);
	age_flow(dp, 48100, 3, 40 * NSEC);
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	dp_backend_stats(dp, u, &bs);
	assert_int_equal(bs.flows_new, 2);
	assert_int_equal(bs.flows_expired, 1);
	assert_int_equal(active(dp, u), 1);
}

/* GC: idle open flows go (a completion, -1 active), busy ones stay, closed
 * ones after the linger, orphaned responses too. */
static void test_flows_gc(void **state)
{
	struct dp *dp = *state;
	struct qlb_backend_stats bs;
	struct qlb_gc_result res;
	uint32_t vid, uvid, b, u, i;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;
	struct qlb_flow4_key k = {};

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	b = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	uvid = dp_vip(dp, VIP4, 53, IPPROTO_UDP);
	u = dp_backend(dp, uvid, "10.1.0.2", 53, 1);
	for (i = 0; i < 5; i++)
		assert_int_equal(send_req(dp, 49000 + i, TH_SYN), b);
	/* 49004 closes. */
	assert_int_equal(send_req(dp, 49004, TH_FIN | TH_ACK), b);
	send_reply(dp, 49004, b, TH_FIN | TH_ACK);
	s = spec(QLB_FAMILY_V4, IPPROTO_UDP, 49100, 0);
	s.dport = 53;
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	assert_int_equal(active(dp, b), 4);
	assert_int_equal(active(dp, u), 1);

	/* 49000 idle both ways; 49001 idle only in the request direction (a
	 * download); 49002 idle, but its request entry evicted; 49003 busy;
	 * 49004 closed 5 s ago; UDP idle past its shorter timeout. */
	age_flow(dp, 49000, 3, 100 * NSEC);
	age_flow(dp, 49001, 1, 100 * NSEC);
	age_flow(dp, 49002, 3, 100 * NSEC);
	age_flow(dp, 49004, 3, 5 * NSEC);
	age_flow(dp, 49100, 3, 40 * NSEC);
	inet_pton(AF_INET, CLIENT4, &k.saddr);
	inet_pton(AF_INET, VIP4, &k.daddr);
	k.sport = htons(49002);
	k.dport = htons(80);
	k.proto = IPPROTO_TCP;
	assert_int_equal(bpf_map_delete_elem(dp->st->maps.flows_v4, &k), 0);

	assert_int_equal(qlb_flows_gc(dp->st, 60 * NSEC, 30 * NSEC, 10 * NSEC, &res), 2);
	assert_int_equal(res.expired, 2);
	assert_int_equal(res.closed, 0);
	assert_int_equal(res.orphans, 1);
	assert_int_equal(res.scanned, 11);
	assert_int_equal(flow_entries(dp, 49000), 0);
	assert_int_equal(flow_entries(dp, 49001), 2);
	assert_int_equal(flow_entries(dp, 49002), 0);
	assert_int_equal(flow_entries(dp, 49003), 2);
	assert_int_equal(flow_entries(dp, 49004), 2);
	assert_int_equal(flow_entries(dp, 49100), 0);
	/* 49000 went as a completion; 49002's request, the one that knew
	 * it was open, was gone (evicted) before the GC came: its count is
	 * reclaimed, without a completion. */
	assert_int_equal(res.reclaimed, 1);
	assert_int_equal(active(dp, b), 2);
	assert_int_equal(active(dp, u), 0);
	dp_backend_stats(dp, b, &bs);
	assert_int_equal(bs.flows_closed + bs.flows_expired, 2);
	dp_backend_stats(dp, u, &bs);
	assert_int_equal(bs.flows_expired, 1);

	/* Past the linger the closed flow goes, without another completion. */
	age_flow(dp, 49004, 3, 11 * NSEC);
	assert_int_equal(qlb_flows_gc(dp->st, 60 * NSEC, 30 * NSEC, 10 * NSEC, &res), 1);
	assert_int_equal(res.closed, 1);
	assert_int_equal(res.expired, 0);
	assert_int_equal(res.reclaimed, 0);
	assert_int_equal(flow_entries(dp, 49004), 0);
	assert_int_equal(active(dp, b), 2);
	dp_backend_stats(dp, b, &bs);
	assert_int_equal(bs.flows_closed + bs.flows_expired, 2);

	/* A deleted flow's next packet is a new flow. */
	assert_int_equal(send_req(dp, 49000, TH_SYN), b);
	assert_int_equal(active(dp, b), 3);
	assert_int_equal(qlb_flows_gc(dp->st, 60 * NSEC, 30 * NSEC, 10 * NSEC, NULL), 0);

	/* IPv6: both entries of an idle flow go. */
	vid = dp_vip(dp, VIP6, 80, IPPROTO_TCP);
	b = dp_backend(dp, vid, "fd01::1", 8080, 1);
	s = spec(QLB_FAMILY_V6, IPPROTO_TCP, 49200, TH_SYN);
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	assert_int_equal(active(dp, b), 1);
	assert_int_equal(age_v6_flows(dp, 100 * NSEC), 2);
	assert_int_equal(qlb_flows_gc(dp->st, 60 * NSEC, 30 * NSEC, 10 * NSEC, &res), 1);
	assert_int_equal(res.orphans, 0);
	assert_int_equal(age_v6_flows(dp, 0), 0);
	assert_int_equal(active(dp, b), 0);
}

/* Open request entries of backend id, walked as the GC walks. */
struct open_count {
	uint32_t id;
	int64_t n;
};

static int count_open(const struct qlb_flow_entry *e, void *ctx)
{
	struct open_count *c = ctx;

	c->n += e->val.backend_id == c->id &&
		!(e->val.flags & (QLB_FLOW_F_RESPONSE | QLB_FLOW_F_CLOSED));
	return 0;
}

/* A full LRU table evicts open flows without a word; the GC's walk finds
 * them missing and takes them off backend_active, down to the flows the
 * table really holds, and no further. */
static void test_gc_reclaims_evicted(void **state)
{
	struct dp *dp = *state;
	const uint32_t flows = QLB_FLOW_TABLE_SIZE / 2 + QLB_FLOW_TABLE_SIZE / 8;
	struct open_count held = { 0 };
	struct qlb_gc_result res;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	char src[INET_ADDRSTRLEN];
	struct pkt_spec s;
	uint32_t vid, i;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	held.id = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 0, TH_SYN);
	s.src = src;
	/* Two entries a flow: this many do not fit. */
	for (i = 0; i < flows; i++) {
		snprintf(src, sizeof(src), "10.2.%u.%u", i / 50000, 1 + i / 50000 % 200);
		s.sport = 1024 + i % 50000;
		pkt_build(&s, pkt, &lay);
		assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	}
	assert_int_equal(active(dp, held.id), flows);
	assert_int_equal(qlb_flows_foreach(dp->st, count_open, &held), 0);
	assert_true(held.n > 0 && held.n < (int64_t)flows);

	/* Nothing idle: the GC deletes nothing and only reconciles. */
	assert_int_equal(qlb_flows_gc(dp->st, 60 * NSEC, 30 * NSEC, 10 * NSEC, &res), 0);
	assert_int_equal(res.expired, 0);
	print_message("%u flows, %lld kept by the table, %llu reclaimed\n", flows,
		      (long long)held.n, (unsigned long long)res.reclaimed);
	assert_int_equal(res.reclaimed, flows - held.n);
	assert_int_equal(active(dp, held.id), held.n);
	assert_int_equal(qlb_flows_gc(dp->st, 60 * NSEC, 30 * NSEC, 10 * NSEC, &res), 0);
	assert_int_equal(res.reclaimed, 0);
	assert_int_equal(active(dp, held.id), held.n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ipv4_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv4_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vlan_tagged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_vip_passes_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_at_every_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inconsistent_l4_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv4_options_and_fragments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_extension_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_backend_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_weight_split_1_2_5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flow_stays_across_switch_and_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_keeps_established, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_flip_keeps_retired_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retired_ring_waits_for_grace_period, setup,
						teardown_release),
		cmocka_unit_test_setup_teardown(test_flows_survive_many_flips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapped_backends_and_estimates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_stats_per_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pick_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lc_picks_least_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_backend_passed_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unanswered_syn_rescheduled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_skips_refusing_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_p2c_avoids_loaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sed_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_active_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flows_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_reclaims_evicted, setup, teardown),
	};

	return cmocka_run_group_tests_name("dataplane", tests, NULL, NULL);
}
