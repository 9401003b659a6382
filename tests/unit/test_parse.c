// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The parser: every reason a packet goes no further in one table, then the
 * edges in depth (a cut at every length, headers that lie, IPv4 options and
 * fragments, IPv6 extension headers).
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

/* s's packet goes to the kernel as it came. */
static void assert_passed_untouched(struct dp *dp, const struct pkt_spec *s)
{
	uint8_t pkt[PKT_MAX], orig[PKT_MAX];
	struct pkt_layout lay;

	pkt_build(s, pkt, &lay);
	memcpy(orig, pkt, lay.len);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_PASS);
	assert_memory_equal(pkt, orig, lay.len);
}

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
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	assert_int_equal(pkt[15], 42);	/* tag kept */
	assert_addr(pkt + lay.l3 + 16, QLB_FAMILY_V4, "10.1.0.1");
	assert_true(pkt_checksums_ok(pkt, &lay, QLB_FAMILY_V4, IPPROTO_TCP));
}

static void test_not_vip_passes_untouched(void **state)
{
	struct dp *dp = *state;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;
	uint32_t vid;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	dp_backend(dp, vid, "10.1.0.1", 80, 1);
	/* Wrong port, wrong protocol, wrong address. */
	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40003, TH_SYN);
	s.dport = 81;
	assert_passed_untouched(dp, &s);
	s = spec(QLB_FAMILY_V4, IPPROTO_UDP, 40003, 0);
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_PASS);
	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40003, TH_SYN);
	s.dst = "10.0.0.101";
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_PASS);
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
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s;
	uint32_t vid;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	dp_backend(dp, vid, "10.1.0.1", 80, 1);

	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40006, TH_SYN);
	s.ip_options = 1;
	assert_passed_untouched(dp, &s);
	assert_int_equal(dp_reason(dp, QLB_R_PASS_IPV4_OPTIONS), 1);

	s = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40006, TH_SYN);
	s.frag_off = 0x2000;		/* first fragment: MF */
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_PASS);
	s.frag_off = 185;		/* a later fragment: offset 1480 */
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_PASS);
	assert_int_equal(dp_reason(dp, QLB_R_PASS_IPV4_FRAG), 2);

	/* DF alone is not a fragment. */
	s.frag_off = 0x4000;
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
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
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_PASS);
	assert_int_equal(dp_reason(dp, QLB_R_PASS_IPV6_FRAG), 1);

	/* A hop-by-hop header is skipped and the flow balanced. */
	s.ipv6_frag = 0;
	s.ipv6_hopopts = 1;
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	assert_addr(pkt + lay.l3 + 24, QLB_FAMILY_V6, "fd01::1");
	assert_true(pkt_checksums_ok(pkt, &lay, QLB_FAMILY_V6, IPPROTO_TCP));
}

/* ---- every reason, one row each ---- */

/* What a row does to the packet built from its spec. */
enum mangle {
	AS_BUILT,
	ETHERTYPE_ARP,
	PROTO_ICMP,		/* IPv4 protocol 1 */
	FRAME_13_BYTES,		/* shorter than an Ethernet header */
	CUT_IN_VLAN_TAG,
	CUT_IN_IP_HEADER,
	TCP_DOFF_PAST_END,
	UDP_LEN_PAST_END,
	IPV6_DSTOPTS_CHAIN,	/* more extension headers than the parser walks */
};

/* The VIP's state when the row's packet arrives. */
enum world {
	ONE_BACKEND,
	NO_BACKEND,
	BACKEND_OFF_TX_PORTS,	/* reached through an interface not in tx_ports */
	FLOW_TABLE_FULL,
	REPLY_TO_REQUEST,	/* the packet answers a request sent first */
	STRAY_REPLY,		/* a backend's packet of no flow, to no known client */
};

struct parse_case {
	const char *name;
	uint8_t family, proto;
	struct pkt_spec opts;	/* dport, vlan, ip_options, frag_off, ipv6_* */
	enum mangle mangle;
	enum world world;
	int action;
	enum qlb_reason reason;
	/* Why no packet can reach this reason through BPF_PROG_TEST_RUN; the
	 * row then checks that the kernel refuses its packet. */
	const char *unreachable;
};

#define V4 QLB_FAMILY_V4
#define V6 QLB_FAMILY_V6
#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP

static const struct parse_case parse_cases[] = {
	{ "ipv4 tcp syn", V4, TCP, {}, AS_BUILT, ONE_BACKEND, XDP_TX, QLB_R_FWD_TO_BACKEND, NULL },
	{ "ipv6 udp", V6, UDP, {}, AS_BUILT, ONE_BACKEND, XDP_TX, QLB_R_FWD_TO_BACKEND, NULL },
	{ "802.1Q tagged", V4, TCP, { .vlan = 1 }, AS_BUILT, ONE_BACKEND, XDP_TX,
	  QLB_R_FWD_TO_BACKEND, NULL },
	{ "ipv6 hop-by-hop", V6, TCP, { .ipv6_hopopts = 1 }, AS_BUILT, ONE_BACKEND, XDP_TX,
	  QLB_R_FWD_TO_BACKEND, NULL },
	{ "ipv4 reply", V4, TCP, {}, AS_BUILT, REPLY_TO_REQUEST, XDP_TX, QLB_R_FWD_TO_CLIENT, NULL },
	{ "ipv6 reply", V6, UDP, {}, AS_BUILT, REPLY_TO_REQUEST, XDP_TX, QLB_R_FWD_TO_CLIENT, NULL },
	{ "arp", V4, TCP, {}, ETHERTYPE_ARP, ONE_BACKEND, XDP_PASS, QLB_R_PASS_NOT_IP, NULL },
	{ "icmp", V4, TCP, {}, PROTO_ICMP, ONE_BACKEND, XDP_PASS, QLB_R_PASS_NOT_L4, NULL },
	{ "other port", V4, TCP, { .dport = 81 }, AS_BUILT, ONE_BACKEND, XDP_PASS,
	  QLB_R_PASS_NOT_VIP, NULL },
	{ "ipv4 first fragment", V4, UDP, { .frag_off = 0x2000 }, AS_BUILT, ONE_BACKEND,
	  XDP_PASS, QLB_R_PASS_IPV4_FRAG, NULL },
	{ "ipv4 options", V4, TCP, { .ip_options = 1 }, AS_BUILT, ONE_BACKEND, XDP_PASS,
	  QLB_R_PASS_IPV4_OPTIONS, NULL },
	{ "ipv6 fragment", V6, TCP, { .ipv6_frag = 1 }, AS_BUILT, ONE_BACKEND, XDP_PASS,
	  QLB_R_PASS_IPV6_FRAG, NULL },
	{ "ipv6 extension chain", V6, UDP, {}, IPV6_DSTOPTS_CHAIN, ONE_BACKEND, XDP_PASS,
	  QLB_R_PASS_IPV6_EXT, NULL },
	{ "13-byte frame", V4, TCP, {}, FRAME_13_BYTES, ONE_BACKEND, XDP_PASS, QLB_R_BAD_ETH,
	  "XDP hands no program a frame shorter than an Ethernet header (test runs, "
	  "bpf_xdp_adjust_head and _tail refuse one); the check is for the verifier" },
	{ "cut in the vlan tag", V4, TCP, { .vlan = 1 }, CUT_IN_VLAN_TAG, ONE_BACKEND, XDP_PASS,
	  QLB_R_BAD_VLAN, NULL },
	{ "cut in the ipv4 header", V4, TCP, {}, CUT_IN_IP_HEADER, ONE_BACKEND, XDP_PASS,
	  QLB_R_BAD_IPV4, NULL },
	{ "cut in the ipv6 header", V6, TCP, {}, CUT_IN_IP_HEADER, ONE_BACKEND, XDP_PASS,
	  QLB_R_BAD_IPV6, NULL },
	{ "tcp data offset past the end", V4, TCP, {}, TCP_DOFF_PAST_END, ONE_BACKEND, XDP_DROP,
	  QLB_R_BAD_TCP, NULL },
	{ "udp length past the end", V6, UDP, {}, UDP_LEN_PAST_END, ONE_BACKEND, XDP_DROP,
	  QLB_R_BAD_UDP, NULL },
	{ "vip without backends", V4, TCP, {}, AS_BUILT, NO_BACKEND, XDP_DROP,
	  QLB_R_DROP_NO_BACKEND, NULL },
	/* A full table keeps no state for the flow: the ring places it. */
	{ "flow table full", V4, UDP, {}, AS_BUILT, FLOW_TABLE_FULL, XDP_TX,
	  QLB_R_FWD_TO_BACKEND, NULL },
	{ "stray reply", V4, TCP, {}, AS_BUILT, STRAY_REPLY, XDP_PASS, QLB_R_PASS_STRAY_REPLY,
	  NULL },
	{ "egress not in tx_ports", V6, TCP, {}, AS_BUILT, BACKEND_OFF_TX_PORTS, XDP_DROP,
	  QLB_R_DROP_NO_TX_PORT, NULL },
};

/* Destination-options headers (8 bytes, PadN) between the IPv6 header and
 * the L4 header, more than the parser walks before it gives up. */
static size_t insert_dstopts(uint8_t *pkt, size_t len, const struct pkt_layout *lay)
{
	const size_t n = 8, l4 = lay->l3 + 40;
	uint8_t next = pkt[lay->l3 + 6];
	uint16_t plen;

	memmove(pkt + l4 + 8 * n, pkt + l4, len - l4);
	for (size_t i = 0; i < n; i++) {
		uint8_t *h = pkt + l4 + 8 * i;

		memset(h, 0, 8);
		h[0] = i + 1 < n ? IPPROTO_DSTOPTS : next;
		h[2] = 1;	/* PadN over the remaining 4 bytes */
		h[3] = 4;
	}
	pkt[lay->l3 + 6] = IPPROTO_DSTOPTS;
	memcpy(&plen, pkt + lay->l3 + 4, 2);
	plen = htons(ntohs(plen) + 8 * n);
	memcpy(pkt + lay->l3 + 4, &plen, 2);
	return len + 8 * n;
}

/* The row's packet in pkt; returns its length. */
static size_t mangle(const struct parse_case *c, uint8_t *pkt, const struct pkt_layout *lay)
{
	size_t len = lay->len;

	switch (c->mangle) {
	case AS_BUILT:
		break;
	case ETHERTYPE_ARP:
		pkt[12] = 0x08;
		pkt[13] = 0x06;
		break;
	case PROTO_ICMP:
		pkt[lay->l3 + 9] = IPPROTO_ICMP;
		break;
	case FRAME_13_BYTES:
		len = ETH_HLEN - 1;
		break;
	case CUT_IN_VLAN_TAG:
		len = 16;
		break;
	case CUT_IN_IP_HEADER:
		len = lay->l3 + 10;
		break;
	case TCP_DOFF_PAST_END:
		pkt[lay->l4 + 12] = 15 << 4;
		break;
	case UDP_LEN_PAST_END:
		pkt[lay->l4 + 4] = 0x10;
		break;
	case IPV6_DSTOPTS_CHAIN:
		len = insert_dstopts(pkt, len, lay);
		break;
	}
	return len;
}

/* The VIP of the row's family and protocol, as its world has it. */
static void build_world(struct dp *dp, const struct parse_case *c, const struct pkt_spec *req)
{
	const char *baddr = c->family == V4 ? "10.1.0.1" : "fd01::1";
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	uint32_t vid, b;

	vid = dp_vip(dp, req->dst, 80, c->proto);
	assert_int_not_equal(vid, QLB_NO_BACKEND);
	if (c->world == NO_BACKEND)
		return;
	b = dp_backend(dp, vid, baddr, 80, 1);
	assert_int_not_equal(b, QLB_NO_BACKEND);
	if (c->world == BACKEND_OFF_TX_PORTS)
		dp->st->be_map[b].ifindex = 99;
	if (c->world == REPLY_TO_REQUEST) {
		assert_int_equal(run_spec(dp, req, pkt, &lay), XDP_TX);
	}
}

/* The row's data plane, static so that the teardown finds it when an
 * assertion leaves the test midway. */
static struct dp row_dp;
static int row_dp_up;

static int teardown_row(void **state)
{
	(void)state;
	if (row_dp_up)
		dp_teardown(&row_dp);
	row_dp_up = 0;
	return 0;
}

static void run_parse_case(const struct parse_case *c)
{
	const char *baddr = c->family == V4 ? "10.1.0.1" : "fd01::1";
	struct pkt_spec s = spec(c->family, c->proto, 40100, c->proto == TCP ? TH_SYN : 0);
	uint64_t before[QLB_R_MAX];
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct dp *dp = &row_dp;
	size_t len;
	int ret;

	/* One entry: the request's fits, its response's does not. */
	row_dp_up = 1;
	assert_int_equal(dp_setup_flow_table(dp, c->world == FLOW_TABLE_FULL ? 1 : 0), 0);
	s.payload_len = c->proto == UDP ? 16 : 0;
	s.vlan = c->opts.vlan;
	s.ip_options = c->opts.ip_options;
	s.frag_off = c->opts.frag_off;
	s.ipv6_frag = c->opts.ipv6_frag;
	s.ipv6_hopopts = c->opts.ipv6_hopopts;
	build_world(dp, c, &s);
	if (c->opts.dport)
		s.dport = c->opts.dport;
	if (c->world == REPLY_TO_REQUEST || c->world == STRAY_REPLY)
		s = reply_of(&s, baddr, 80, c->proto == TCP ? TH_SYN | TH_ACK : 0);

	for (int r = 0; r < QLB_R_MAX; r++)
		before[r] = dp_reason(dp, r);
	pkt_build(&s, pkt, &lay);
	len = mangle(c, pkt, &lay);
	ret = dp_run(dp, pkt, len, NULL);
	if (c->unreachable) {
		if (ret != -1 || errno != EINVAL)
			fail_msg("%s: the kernel ran it (%d), yet the row says: %s", c->name, ret,
				 c->unreachable);
		print_message("# %s: not run: %s\n", c->name, c->unreachable);
		teardown_row(NULL);
		return;
	}
	if (ret != c->action)
		fail_msg("%s: action %d, want %d", c->name, ret, c->action);
	for (int r = 0; r < QLB_R_MAX; r++) {
		uint64_t d = dp_reason(dp, r) - before[r];

		if (d != (r == (int)c->reason))
			fail_msg("%s: %s counted %llu times, want %s", c->name,
				 qlb_reason_name(r), (unsigned long long)d,
				 qlb_reason_name(c->reason));
	}
	teardown_row(NULL);
}

/* Each row on a data plane of its own; every reason has a row, but those of
 * ICMP, whose packets test_icmp.c builds and checks byte for byte. */
static void test_every_reason(void **state)
{
	const size_t n = sizeof(parse_cases) / sizeof(parse_cases[0]);
	int has_row[QLB_R_MAX] = {
		[QLB_R_ICMP_ECHO_REPLY] = 1, [QLB_R_DROP_ICMP_RATE] = 1,
		[QLB_R_ICMP_TO_BACKEND] = 1, [QLB_R_ICMP_TO_CLIENT] = 1, [QLB_R_BAD_ICMP] = 1,
	};

	(void)state;
	for (size_t i = 0; i < n; i++) {
		run_parse_case(&parse_cases[i]);
		has_row[parse_cases[i].reason] = 1;
	}
	for (int r = 0; r < QLB_R_MAX; r++)
		if (!has_row[r])
			fail_msg("reason %s has no row in parse_cases", qlb_reason_name(r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_every_reason, teardown_row),
		cmocka_unit_test_setup_teardown(test_vlan_tagged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_vip_passes_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_at_every_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inconsistent_l4_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv4_options_and_fragments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_extension_headers, setup, teardown),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
