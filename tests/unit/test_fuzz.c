// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A packet fuzzer over the real program (BPF_PROG_TEST_RUN). Valid packets
 * of every path (new and established flows both ways, UDP, ICMP echo and
 * errors, tags, extension headers, options, fragments) are sent as they are
 * or mangled: bytes flipped in the headers, lengths and offsets set at
 * random, frames cut short or padded. The invariants, for every packet:
 *   - a packet passed or dropped leaves the program unchanged;
 *   - a forwarded packet is well-formed (every header inside the frame and
 *     consistent with the lengths), and its checksums hold if the input's
 *     did;
 *   - every packet is counted under exactly one reason.
 * FUZZ_PACKETS sets the count (`make fuzz`: 10,000,000; `make test`: a
 * short run), FUZZ_SEED the seed.
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

#define TEMPLATES_MAX 32

struct template {
	uint8_t pkt[PKT_MAX];
	size_t len;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: fast, and a seed replays a run. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (p[i] << 8) | p[i + 1];
	if (n & 1)
		s += p[n - 1] << 8;
	return s;
}

static int folds_to_zero(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

/*
 * Whether the frame is a well-formed Ethernet / IPv4 or IPv6 / TCP, UDP or
 * ICMP packet, and (*sums_ok) whether its checksums hold. Only what the
 * program forwards: IPv4 without options or fragments, IPv6 with at most
 * hop-by-hop, routing or destination options before its L4 header.
 */
static int well_formed(const uint8_t *f, size_t len, int *sums_ok)
{
	size_t l3 = 14, l4, end;
	uint16_t et;
	uint8_t proto, family;
	uint32_t s;

	*sums_ok = 0;
	if (len < 14)
		return 0;
	et = f[12] << 8 | f[13];
	if (et == 0x8100) {
		if (len < 18)
			return 0;
		et = f[16] << 8 | f[17];
		l3 = 18;
	}
	if (et == 0x0800) {
		size_t tot;

		family = 4;
		if (len < l3 + 20 || f[l3] != 0x45)
			return 0;
		tot = f[l3 + 2] << 8 | f[l3 + 3];
		if (tot < 20 || l3 + tot > len || (f[l3 + 6] & 0x3f) || f[l3 + 7])
			return 0;
		proto = f[l3 + 9];
		l4 = l3 + 20;
		end = l3 + tot;
	} else if (et == 0x86dd) {
		size_t pl, hops = 0;

		family = 6;
		if (len < l3 + 40 || f[l3] >> 4 != 6)
			return 0;
		pl = f[l3 + 4] << 8 | f[l3 + 5];
		end = l3 + 40 + pl;
		if (end > len)
			return 0;
		proto = f[l3 + 6];
		l4 = l3 + 40;
		while (proto == 0 || proto == 43 || proto == 60) {
			if (++hops > 4 || l4 + 8 > end)
				return 0;
			proto = f[l4];
			l4 += (f[l4 + 1] + 1) * 8;
		}
		if (l4 > end)
			return 0;
	} else {
		return 0;
	}
	if (proto == 6) {
		if (l4 + 20 > end || (f[l4 + 12] >> 4) * 4 < 20 || l4 + (f[l4 + 12] >> 4) * 4 > end)
			return 0;
	} else if (proto == 17) {
		size_t ulen;

		if (l4 + 8 > end)
			return 0;
		ulen = f[l4 + 4] << 8 | f[l4 + 5];
		if (ulen < 8 || l4 + ulen > end)
			return 0;
	} else if (proto == (family == 4 ? 1 : 58)) {
		if (l4 + 8 > end)
			return 0;
	} else {
		return 0;
	}
	/* Checksums over what the IP header says the packet is. */
	if (family == 4 && !folds_to_zero(sum16(0, f + l3, 20)))
		return 1;
	if (proto == 1) {
		s = 0;
	} else if (family == 4) {
		s = sum16(0, f + l3 + 12, 8) + proto + (uint32_t)(end - l4);
	} else {
		s = sum16(0, f + l3 + 8, 32) + proto + (uint32_t)(end - l4);
	}
	if (proto == 17 && family == 4 && !f[l4 + 6] && !f[l4 + 7])
		*sums_ok = 1;	/* no checksum */
	else
		*sums_ok = folds_to_zero(sum16(s, f + l4, end - l4));
	return 1;
}

/* Valid packets of every path, on a data plane with flows both ways. */
static int make_templates(struct dp *dp, struct template *t)
{
	static struct pkt_spec quote_reply, quote_req;
	struct pkt_spec s[TEMPLATES_MAX];
	uint32_t vid4, vid6, uvid, b4;
	char baddr[INET_ADDRSTRLEN];
	struct pkt_layout lay;
	int n = 0, i;

	vid4 = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	vid6 = dp_vip(dp, VIP6, 80, IPPROTO_TCP);
	uvid = dp_vip(dp, VIP4, 53, IPPROTO_UDP);
	b4 = dp_backend(dp, vid4, "10.1.0.1", 8080, 1);
	dp_backend(dp, vid4, "10.1.0.2", 8080, 2);
	dp_backend(dp, vid6, "fd01::1", 80, 1);
	dp_backend(dp, uvid, "10.1.0.3", 53, 1);
	/* An established flow to answer and to quote. */
	b4 = open_flow(dp, 40000);
	inet_ntop(AF_INET, &dp->st->backends[b4].addr.v4, baddr, sizeof(baddr));

	s[n++] = spec(QLB_FAMILY_V4, IPPROTO_TCP, 41000, TH_SYN);
	s[n++] = spec(QLB_FAMILY_V6, IPPROTO_TCP, 41000, TH_SYN);
	s[n] = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40000, TH_ACK | TH_PSH);
	s[n++].payload_len = 200;
	s[n] = reply_of(&s[n - 1], baddr, 8080, TH_ACK | TH_PSH);
	s[n++].payload_len = 900;
	s[n] = spec(QLB_FAMILY_V4, IPPROTO_UDP, 41001, 0);
	s[n].dport = 53;
	s[n++].payload_len = 40;
	s[n] = spec(QLB_FAMILY_V6, IPPROTO_UDP, 41001, 0);
	s[n++].payload_len = 40;
	s[n] = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40000, TH_ACK);
	s[n++].vlan = 1;
	s[n] = spec(QLB_FAMILY_V6, IPPROTO_TCP, 41002, TH_SYN);
	s[n++].ipv6_hopopts = 1;
	s[n] = spec(QLB_FAMILY_V4, IPPROTO_TCP, 41003, TH_SYN);
	s[n++].ip_options = 1;
	s[n] = spec(QLB_FAMILY_V4, IPPROTO_UDP, 41004, 0);
	s[n].dport = 53;
	s[n++].frag_off = 0x2000;
	s[n] = spec(QLB_FAMILY_V4, IPPROTO_TCP, 41005, TH_ACK);
	s[n++].dst = "10.0.0.200";	/* no VIP */
	s[n] = spec(QLB_FAMILY_V4, IPPROTO_TCP, 41006, TH_ACK);	/* no flow */
	s[n++].ack = 77;
	/* ICMP: echo to the VIP, an error about the flow's reply to the VIP,
	 * one about its request on its way to the client. */
	s[n] = spec(QLB_FAMILY_V4, IPPROTO_ICMP, 0, 0);
	s[n].icmp_type = 8;
	s[n++].payload_len = 32;
	s[n] = spec(QLB_FAMILY_V6, IPPROTO_ICMPV6, 0, 0);
	s[n].icmp_type = 128;
	s[n++].payload_len = 32;
	quote_reply = spec(QLB_FAMILY_V4, IPPROTO_TCP, 80, TH_ACK);
	quote_reply.src = VIP4;
	quote_reply.dst = CLIENT4;
	quote_reply.dport = 40000;
	quote_reply.payload_len = 100;
	s[n] = spec(QLB_FAMILY_V4, IPPROTO_ICMP, 0, 0);
	s[n].src = "192.0.2.254";
	s[n].icmp_type = 3;
	s[n].icmp_code = 4;
	s[n].quote = &quote_reply;
	s[n++].quote_len = 140;
	quote_req = spec(QLB_FAMILY_V4, IPPROTO_TCP, 40000, TH_ACK);
	quote_req.dst = baddr;
	quote_req.dport = 8080;
	s[n] = spec(QLB_FAMILY_V4, IPPROTO_ICMP, 0, 0);
	s[n].src = "10.1.0.254";
	s[n].dst = CLIENT4;
	s[n].icmp_type = 11;
	s[n].quote = &quote_req;
	s[n++].quote_len = 40;
	for (i = 0; i < n; i++)
		t[i].len = pkt_build(&s[i], t[i].pkt, &lay);
	return n;
}

/* Mangles a copy of a template: one of several kinds of damage, or none. */
static size_t mangle(uint8_t *p, size_t len)
{
	uint64_t r = rnd();
	size_t hdr = len < 96 ? len : 96, i, n;

	switch (r % 8) {
	case 0:
	case 1:
		return len;	/* valid */
	case 2:		/* a few bytes anywhere in the headers */
		n = 1 + (r >> 8) % 4;
		for (i = 0; i < n; i++)
			p[rnd() % hdr] ^= (uint8_t)(1 + rnd() % 255);
		return len;
	case 3:		/* cut short */
		return (r >> 8) % len;
	case 4:		/* a length or offset field set at random */
		i = 14 + (r >> 8) % (hdr > 14 ? hdr - 14 : 1);
		p[i] = (uint8_t)rnd();
		if (i + 1 < len)
			p[i + 1] = (uint8_t)rnd();
		return len;
	case 5:		/* padded with junk */
		n = (r >> 8) % 64;
		for (i = 0; i < n && len < PKT_MAX; i++)
			p[len++] = (uint8_t)rnd();
		return len;
	case 6:		/* the EtherType or the IP version/protocol */
		p[(r >> 8) % 2 ? 12 : 14 + ((r >> 16) % 2) * 9] ^= (uint8_t)(1 + (r >> 24) % 255);
		return len;
	default:	/* a byte deep in the packet, and a cut */
		p[(r >> 8) % len] ^= 0xff;
		return len - (r >> 20) % (len / 2 + 1);
	}
}

static void hexdump(const char *what, const uint8_t *p, size_t len)
{
	print_message("%s (%zu bytes):", what, len);
	for (size_t i = 0; i < len && i < 128; i++)
		print_message("%s%02x", i % 16 ? " " : "\n  ", p[i]);
	print_message("\n");
}

static void test_fuzz(void **state)
{
	struct dp *dp = *state;
	static struct template t[TEMPLATES_MAX];
	const char *env = getenv("FUZZ_PACKETS"), *seed = getenv("FUZZ_SEED");
	uint64_t packets = env ? strtoull(env, NULL, 10) : 200000, counted = 0;
	uint64_t verdicts[5] = {}, forwarded_bad_input = 0, reasons_before = 0;
	uint8_t in[PKT_MAX], out[PKT_MAX];
	int n = make_templates(dp, t);

	rng_state = seed ? strtoull(seed, NULL, 10) : 0x9e3779b97f4a7c15ull;
	for (int r = 0; r < QLB_R_MAX; r++)
		reasons_before += dp_reason(dp, r);
	for (uint64_t k = 0; k < packets; k++) {
		const struct template *tp = &t[rnd() % n];
		size_t len, out_len = 0;
		int sums_in, sums_out, ok_in, verdict;

		memcpy(in, tp->pkt, tp->len);
		memset(in + tp->len, 0, 64);
		len = mangle(in, tp->len);
		if (len < 14)
			len = 14;	/* the kernel runs no shorter frame */
		ok_in = well_formed(in, len, &sums_in);
		memcpy(out, in, len);
		verdict = dp_run(dp, out, len, &out_len);
		if (verdict < 0 || verdict > XDP_REDIRECT || verdict == XDP_ABORTED) {
			hexdump("input", in, len);
			fail_msg("packet %llu: verdict %d", (unsigned long long)k, verdict);
		}
		verdicts[verdict]++;
		if (verdict == XDP_PASS || verdict == XDP_DROP) {
			if (out_len != len || memcmp(in, out, len)) {
				hexdump("input", in, len);
				hexdump("output", out, out_len);
				fail_msg("packet %llu: passed or dropped, yet changed",
					 (unsigned long long)k);
			}
			continue;
		}
		if (!well_formed(out, out_len, &sums_out)) {
			hexdump("input", in, len);
			hexdump("output", out, out_len);
			fail_msg("packet %llu: forwarded malformed", (unsigned long long)k);
		}
		forwarded_bad_input += !ok_in;
		if (ok_in && sums_in && !sums_out) {
			hexdump("input", in, len);
			hexdump("output", out, out_len);
			fail_msg("packet %llu: checksums broken by the program", (unsigned long long)k);
		}
	}
	for (int r = 0; r < QLB_R_MAX; r++)
		counted += dp_reason(dp, r);
	print_message("%llu packets from %d templates: pass %llu, drop %llu, tx %llu, redirect %llu; "
		      "counted %llu\n", (unsigned long long)packets, n,
		      (unsigned long long)verdicts[XDP_PASS], (unsigned long long)verdicts[XDP_DROP],
		      (unsigned long long)verdicts[XDP_TX], (unsigned long long)verdicts[XDP_REDIRECT],
		      (unsigned long long)(counted - reasons_before));
	/* The program's idea of malformed is the checker's: whatever it
	 * forwarded was well-formed going in. */
	assert_int_equal(forwarded_bad_input, 0);
	assert_int_equal(counted - reasons_before, packets);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fuzz, setup, teardown),
	};

	return cmocka_run_group_tests_name("fuzz", tests, NULL, NULL);
}
