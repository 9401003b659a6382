// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ICMP and ICMPv6 through the real program (BPF_PROG_TEST_RUN): echo
 * requests to a VIP answered and rate-limited; errors about a VIP's flows
 * translated for the backend (a fragmentation-needed or packet-too-big
 * about a reply it sent as the VIP) and for the client, with the rewritten
 * outer and quoted bytes and every checksum checked.
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

#include "dp_harness.h"
#include "dp_test.h"

#define ROUTER4 "192.0.2.254"
#define ROUTER6 "2001:db8::fe"
#define BACKEND4 "10.1.0.1"
#define BACKEND6 "fd01::1"
#define BPORT 8080

/* The layout of the packet quoted in an ICMP error built by pkt_build. */
static struct pkt_layout quote_layout(const struct pkt_layout *lay, uint8_t family)
{
	struct pkt_layout q = { .len = lay->len, .l3 = lay->payload };

	q.l4 = q.l3 + (family == QLB_FAMILY_V4 ? 20 : 40);
	q.payload = q.l4 + 20;
	return q;
}

static uint16_t port_at(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return ntohs(v);
}

/* A VIP with one backend on BPORT, and the client's flow from sport on it,
 * established; returns the backend's id. */
static uint32_t world(struct dp *dp, uint8_t family, uint16_t sport)
{
	uint32_t vid = dp_vip(dp, family == QLB_FAMILY_V4 ? VIP4 : VIP6, 80, IPPROTO_TCP);
	uint32_t bid = dp_backend(dp, vid, family == QLB_FAMILY_V4 ? BACKEND4 : BACKEND6, BPORT,
				  1);
	struct pkt_spec s = spec(family, IPPROTO_TCP, sport, TH_SYN), r;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;

	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	r = reply_of(&s, family == QLB_FAMILY_V4 ? BACKEND4 : BACKEND6, BPORT, TH_SYN | TH_ACK);
	assert_int_equal(run_spec(dp, &r, pkt, &lay), XDP_TX);
	s.tcp_flags = TH_ACK;
	s.ack = 1001;
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	assert_int_equal(flows_new(dp, bid), 1);
	return bid;
}

static struct pkt_spec icmp_spec(uint8_t family, const char *src, const char *dst, uint8_t type,
				 uint8_t code)
{
	struct pkt_spec s = spec(family, family == QLB_FAMILY_V4 ? IPPROTO_ICMP : IPPROTO_ICMPV6,
				 0, 0);

	s.src = src;
	s.dst = dst;
	s.icmp_type = type;
	s.icmp_code = code;
	return s;
}

static void echo(uint8_t family)
{
	struct dp *dp = NULL;
	const char *vip = family == QLB_FAMILY_V4 ? VIP4 : VIP6;
	const char *client = family == QLB_FAMILY_V4 ? CLIENT4 : CLIENT6;
	struct pkt_spec s = icmp_spec(family, client, vip, family == QLB_FAMILY_V4 ? 8 : 128, 0);
	uint8_t pkt[PKT_MAX], sent[PKT_MAX];
	struct pkt_layout lay;

	dp = calloc(1, sizeof(*dp));
	assert_int_equal(dp_setup(dp), 0);
	dp_vip(dp, vip, 80, IPPROTO_TCP);
	s.icmp_rest = 0x12340001;	/* id, sequence */
	s.payload_len = 56;
	pkt_build(&s, sent, &lay);
	memcpy(pkt, sent, lay.len);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	assert_memory_equal(pkt, CLIENT_MAC, 6);
	assert_memory_equal(pkt + 6, LB_MAC, 6);
	assert_addr(pkt + lay.l3 + src_off(family), family, vip);
	assert_addr(pkt + lay.l3 + dst_off(family), family, client);
	assert_int_equal(pkt[lay.l4], family == QLB_FAMILY_V4 ? 0 : 129);
	assert_int_equal(pkt[lay.l3 + (family == QLB_FAMILY_V4 ? 8 : 7)], 64);	/* TTL */
	/* id, sequence and data as sent. */
	assert_memory_equal(pkt + lay.l4 + 4, sent + lay.l4 + 4, lay.len - lay.l4 - 4);
	assert_true(pkt_checksums_ok(pkt, &lay, family, s.proto));
	assert_int_equal(dp_reason(dp, QLB_R_ICMP_ECHO_REPLY), 1);

	/* To an address that is no VIP: the kernel's, untouched. */
	s.dst = family == QLB_FAMILY_V4 ? "10.0.0.200" : "fd00::200";
	pkt_build(&s, sent, &lay);
	memcpy(pkt, sent, lay.len);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_PASS);
	assert_memory_equal(pkt, sent, lay.len);
	assert_int_equal(dp_reason(dp, QLB_R_PASS_NOT_L4), 1);
	dp_teardown(dp);
	free(dp);
}

static void test_echo_v4(void **state) { (void)state; echo(QLB_FAMILY_V4); }
static void test_echo_v6(void **state) { (void)state; echo(QLB_FAMILY_V6); }

/* qlb's own answers are rate-limited: a burst gets at most two seconds'
 * budget (the burst may straddle a second) and the rest is dropped. */
static void test_echo_rate_limited(void **state)
{
	struct dp *dp = *state;
	struct pkt_spec s = icmp_spec(QLB_FAMILY_V4, CLIENT4, VIP4, 8, 0);
	const uint64_t burst = 2500, rate = 1000;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	uint64_t replies, drops;

	dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	for (uint64_t i = 0; i < burst; i++)
		run_spec(dp, &s, pkt, &lay);
	replies = dp_reason(dp, QLB_R_ICMP_ECHO_REPLY);
	drops = dp_reason(dp, QLB_R_DROP_ICMP_RATE);
	print_message("%llu echo requests: %llu answered, %llu dropped\n",
		      (unsigned long long)burst, (unsigned long long)replies,
		      (unsigned long long)drops);
	assert_int_equal(replies + drops, burst);
	assert_true(replies >= rate && replies <= 2 * rate);
}

/* A router on the client's side cannot carry a reply the VIP sent: its
 * error, addressed to the VIP, goes to the backend with the quoted reply as
 * the backend sent it. */
static void to_backend(uint8_t family, uint16_t quote_len)
{
	struct dp *dp = calloc(1, sizeof(*dp));
	const char *vip = family == QLB_FAMILY_V4 ? VIP4 : VIP6;
	const char *client = family == QLB_FAMILY_V4 ? CLIENT4 : CLIENT6;
	const char *backend = family == QLB_FAMILY_V4 ? BACKEND4 : BACKEND6;
	const char *router = family == QLB_FAMILY_V4 ? ROUTER4 : ROUTER6;
	struct pkt_spec reply = spec(family, IPPROTO_TCP, 80, TH_ACK), s;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay, q;

	assert_int_equal(dp_setup(dp), 0);
	world(dp, family, 40000);
	/* The reply as it left the balancer: VIP:80 -> client:40000. */
	reply.src = vip;
	reply.dst = client;
	reply.dport = 40000;
	reply.payload_len = 1400;
	s = icmp_spec(family, router, vip, family == QLB_FAMILY_V4 ? 3 : 2,
		      family == QLB_FAMILY_V4 ? 4 : 0);
	s.icmp_rest = 1280;	/* the next hop's MTU */
	s.quote = &reply;
	s.quote_len = quote_len;
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	assert_int_equal(dp_reason(dp, QLB_R_ICMP_TO_BACKEND), 1);
	assert_memory_equal(pkt, BACKEND_MAC, 6);
	assert_addr(pkt + lay.l3 + src_off(family), family, router);
	assert_addr(pkt + lay.l3 + dst_off(family), family, backend);
	assert_true(pkt_checksums_ok(pkt, &lay, family, s.proto));
	q = quote_layout(&lay, family);
	assert_addr(pkt + q.l3 + src_off(family), family, backend);
	assert_addr(pkt + q.l3 + dst_off(family), family, client);
	assert_int_equal(port_at(pkt + q.l4), BPORT);
	assert_int_equal(port_at(pkt + q.l4 + 2), 40000);
	assert_int_equal(pkt[lay.l4 + 7] | pkt[lay.l4 + 6] << 8, 1280);
	/* The quoted IPv4 header's own checksum. */
	if (family == QLB_FAMILY_V4)
		assert_true(ipv4_header_ok(pkt + q.l3));
	/* A whole quote: the quoted TCP checksum must hold for the quoted
	 * segment as the backend sent it (its length from the quoted header). */
	if (quote_len >= (family == QLB_FAMILY_V4 ? 20 : 40) + 20 + 1400) {
		q.len = lay.len;
		assert_true(pkt_checksums_ok(pkt, &q, family, IPPROTO_TCP));
	}
	dp_teardown(dp);
	free(dp);
}

static void test_frag_needed_to_backend(void **state)
{
	(void)state;
	to_backend(QLB_FAMILY_V4, 28);		/* IP header + 8 bytes: the minimum */
	to_backend(QLB_FAMILY_V4, 1440);	/* the whole reply */
}

static void test_packet_too_big_to_backend(void **state)
{
	(void)state;
	to_backend(QLB_FAMILY_V6, 48);
	to_backend(QLB_FAMILY_V6, 1232);	/* as much as fits in 1280 */
}

/* A router on the backend's side cannot carry a request we forwarded: its
 * error, on its way to the client, gets the VIP back in the quote. */
static void to_client(uint8_t family, uint8_t type, uint8_t code)
{
	struct dp *dp = calloc(1, sizeof(*dp));
	const char *vip = family == QLB_FAMILY_V4 ? VIP4 : VIP6;
	const char *client = family == QLB_FAMILY_V4 ? CLIENT4 : CLIENT6;
	const char *backend = family == QLB_FAMILY_V4 ? BACKEND4 : BACKEND6;
	const char *router = family == QLB_FAMILY_V4 ? "10.1.0.254" : "fd01::fe";
	struct pkt_spec req = spec(family, IPPROTO_TCP, 40000, TH_ACK), s;
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay, q;

	assert_int_equal(dp_setup(dp), 0);
	world(dp, family, 40000);
	req.dst = backend;
	req.dport = BPORT;
	req.payload_len = 100;
	s = icmp_spec(family, router, client, type, code);
	s.quote = &req;
	s.quote_len = 1000;
	memcpy(s.smac, BACKEND_MAC, 6);
	pkt_build(&s, pkt, &lay);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_TX);
	assert_int_equal(dp_reason(dp, QLB_R_ICMP_TO_CLIENT), 1);
	assert_memory_equal(pkt, CLIENT_MAC, 6);
	assert_memory_equal(pkt + 6, LB_MAC, 6);
	assert_addr(pkt + lay.l3 + src_off(family), family, router);
	assert_addr(pkt + lay.l3 + dst_off(family), family, client);
	assert_true(pkt_checksums_ok(pkt, &lay, family, s.proto));
	q = quote_layout(&lay, family);
	assert_addr(pkt + q.l3 + src_off(family), family, client);
	assert_addr(pkt + q.l3 + dst_off(family), family, vip);
	assert_int_equal(port_at(pkt + q.l4), 40000);
	assert_int_equal(port_at(pkt + q.l4 + 2), 80);
	assert_true(pkt_checksums_ok(pkt, &q, family, IPPROTO_TCP));
	dp_teardown(dp);
	free(dp);
}

static void test_errors_to_client(void **state)
{
	(void)state;
	to_client(QLB_FAMILY_V4, 3, 4);		/* fragmentation needed */
	to_client(QLB_FAMILY_V4, 11, 0);	/* time exceeded */
	to_client(QLB_FAMILY_V4, 3, 1);		/* host unreachable */
	to_client(QLB_FAMILY_V6, 2, 0);		/* packet too big */
	to_client(QLB_FAMILY_V6, 1, 3);		/* address unreachable */
	to_client(QLB_FAMILY_V6, 3, 0);		/* time exceeded */
	to_client(QLB_FAMILY_V6, 4, 0);		/* parameter problem */
}

/* An error to a VIP that quotes too little is passed as malformed; one about
 * no flow of ours is passed; neither is changed. */
static void test_unusable_errors_passed(void **state)
{
	struct dp *dp = *state;
	struct pkt_spec reply = spec(QLB_FAMILY_V4, IPPROTO_TCP, 80, TH_ACK), s;
	uint8_t pkt[PKT_MAX], sent[PKT_MAX];
	struct pkt_layout lay;

	world(dp, QLB_FAMILY_V4, 40000);
	reply.src = VIP4;
	reply.dst = CLIENT4;
	reply.dport = 40000;
	s = icmp_spec(QLB_FAMILY_V4, ROUTER4, VIP4, 3, 4);
	s.quote = &reply;
	s.quote_len = 24;	/* 4 bytes of TCP: no ports */
	pkt_build(&s, sent, &lay);
	memcpy(pkt, sent, lay.len);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_PASS);
	assert_memory_equal(pkt, sent, lay.len);
	assert_int_equal(dp_reason(dp, QLB_R_BAD_ICMP), 1);

	reply.dport = 40999;	/* no such flow */
	s.quote_len = 40;
	pkt_build(&s, sent, &lay);
	memcpy(pkt, sent, lay.len);
	assert_int_equal(dp_run(dp, pkt, lay.len, NULL), XDP_PASS);
	assert_memory_equal(pkt, sent, lay.len);
	assert_int_equal(dp_reason(dp, QLB_R_PASS_NOT_L4), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_v4),
		cmocka_unit_test(test_echo_v6),
		cmocka_unit_test_setup_teardown(test_echo_rate_limited, setup, teardown),
		cmocka_unit_test(test_frag_needed_to_backend),
		cmocka_unit_test(test_packet_too_big_to_backend),
		cmocka_unit_test(test_errors_to_client),
		cmocka_unit_test_setup_teardown(test_unusable_errors_passed, setup, teardown),
	};

	return cmocka_run_group_tests_name("icmp", tests, NULL, NULL);
}
