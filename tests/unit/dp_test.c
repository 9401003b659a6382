// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Helpers of the data-plane tests; see dp_test.h. */
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

struct pkt_spec spec(uint8_t family, uint8_t proto, uint16_t sport,
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
struct pkt_spec reply_of(const struct pkt_spec *s, const char *baddr,
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

int setup(void **state)
{
	struct dp *dp = calloc(1, sizeof(*dp));

	if (!dp || dp_setup(dp))
		return -1;
	*state = dp;
	return 0;
}

int teardown(void **state)
{
	dp_teardown(*state);
	free(*state);
	return 0;
}

void assert_addr(const uint8_t *p, uint8_t family, const char *want)
{
	uint8_t bin[16];

	inet_pton(family == QLB_FAMILY_V4 ? AF_INET : AF_INET6, want, bin);
	assert_memory_equal(p, bin, family == QLB_FAMILY_V4 ? 4 : 16);
}

int run_spec(struct dp *dp, const struct pkt_spec *s, uint8_t *pkt, struct pkt_layout *lay)
{
	pkt_build(s, pkt, lay);
	return dp_run(dp, pkt, lay->len, NULL);
}

/* Offsets of addresses in the IP header. */
size_t src_off(uint8_t family) { return family == QLB_FAMILY_V4 ? 12 : 8; }
size_t dst_off(uint8_t family) { return family == QLB_FAMILY_V4 ? 16 : 24; }

/* Sends one more packet of flow (src, sport) and returns the backend address
 * it was sent to. */
uint32_t backend_of(struct dp *dp, uint16_t sport, uint8_t flags)
{
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	struct pkt_spec s = spec(QLB_FAMILY_V4, IPPROTO_TCP, sport, flags);
	uint32_t daddr;

	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	memcpy(&daddr, pkt + lay.l3 + 16, 4);
	return daddr;
}

const struct qlb_vip_key *vip_key(struct dp *dp, uint32_t vid)
{
	int i;

	for (i = 0; i < dp->st->nvips; i++)
		if (dp->st->vips[i].val.vip_id == vid)
			return &dp->st->vips[i].key;
	fail_msg("no VIP %u", vid);
	return NULL;
}

void set_policy(struct dp *dp, uint32_t vid, uint32_t policy)
{
	assert_int_equal(qlb_vip_set_policy(dp->st, vip_key(dp, vid), policy), 0);
}

struct qlb_vip_backends pick_table(struct dp *dp, uint32_t vid)
{
	struct qlb_vip_backends vb;

	assert_int_equal(bpf_map_lookup_elem(dp->st->maps.vip_backends, &vid, &vb), 0);
	return vb;
}

/* The raw counter, not clamped: here it must never go below 0. */
int64_t active(struct dp *dp, uint32_t id)
{
	return __atomic_load_n(&dp->st->active[id].active, __ATOMIC_RELAXED);
}

/* Also forgets the flows placed and not established yet. */
void set_active(struct dp *dp, uint32_t id, int64_t v)
{
	__atomic_store_n(&dp->st->active[id].active, v, __ATOMIC_RELAXED);
	dp->st->active[id].placed = 0;
}

/* The backend a request was sent to, from its rewritten destination. */
uint32_t id_of(struct dp *dp, uint32_t daddr)
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
uint32_t send_req(struct dp *dp, uint16_t sport, uint8_t flags)
{
	return id_of(dp, backend_of(dp, sport, flags));
}

/* A client's ACK of flow sport with ack number ack: the backend it reached. */
static uint32_t send_ack(struct dp *dp, uint16_t sport, uint32_t ack)
{
	struct pkt_spec s = spec(QLB_FAMILY_V4, IPPROTO_TCP, sport, TH_ACK);
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;
	uint32_t daddr;

	s.ack = ack;
	assert_int_equal(run_spec(dp, &s, pkt, &lay), XDP_TX);
	memcpy(&daddr, pkt + lay.l3 + 16, 4);
	return id_of(dp, daddr);
}

uint32_t open_flow(struct dp *dp, uint16_t sport)
{
	uint32_t bid = send_req(dp, sport, TH_SYN);

	send_reply(dp, sport, bid, TH_SYN | TH_ACK);
	assert_int_equal(send_ack(dp, sport, 1001), bid);
	return bid;
}

/* One packet of backend bid's reply to the client's flow from sport; the
 * program's verdict. */
int reply_verdict(struct dp *dp, uint16_t sport, uint32_t bid, uint8_t flags)
{
	struct pkt_spec s = spec(QLB_FAMILY_V4, IPPROTO_TCP, sport, 0), r;
	char baddr[INET_ADDRSTRLEN];
	uint8_t pkt[PKT_MAX];
	struct pkt_layout lay;

	inet_ntop(AF_INET, &dp->st->backends[bid].addr.v4, baddr, sizeof(baddr));
	r = reply_of(&s, baddr, ntohs(dp->st->backends[bid].port), flags);
	return run_spec(dp, &r, pkt, &lay);
}

/* The same, forwarded to the client. */
void send_reply(struct dp *dp, uint16_t sport, uint32_t bid, uint8_t flags)
{
	assert_int_equal(reply_verdict(dp, sport, bid, flags), XDP_TX);
}

/* A capacity estimate as the agent writes it, age_ns old. */
void set_mu(struct dp *dp, uint32_t id, uint64_t mu_milli, uint64_t age_ns)
{
	struct qlb_backend_est e = { .updated_ns = qlb_mono_ns() - age_ns, .mu_milli = mu_milli };

	assert_int_equal(bpf_map_update_elem(dp->st->maps.backend_est, &id, &e, BPF_ANY), 0);
}

uint64_t flows_new(struct dp *dp, uint32_t id)
{
	struct qlb_backend_stats bs;

	dp_backend_stats(dp, id, &bs);
	return bs.flows_new;
}

/* Points last_seen of the entries of the client's flow from sport at
 * now - age_ns: which = 1 request entry, 2 response entry, 3 both. */
void age_flow(struct dp *dp, uint16_t sport, int which, uint64_t age_ns)
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

/* Ages the half-open entry of the client's IPv4 TCP flow from sport. */
void age_pending(struct dp *dp, uint16_t sport, uint64_t age_ns)
{
	struct qlb_flow4_key k = { .sport = htons(sport), .dport = htons(80),
				   .proto = IPPROTO_TCP };
	struct qlb_flow f;

	inet_pton(AF_INET, CLIENT4, &k.saddr);
	inet_pton(AF_INET, VIP4, &k.daddr);
	assert_int_equal(bpf_map_lookup_elem(dp->st->maps.pending_v4, &k, &f), 0);
	f.last_seen_ns = qlb_mono_ns() - age_ns;
	assert_int_equal(bpf_map_update_elem(dp->st->maps.pending_v4, &k, &f, BPF_EXIST), 0);
}

/* Ages every entry of an IPv6 table; returns how many there are. */
static int age_v6_table(int fd, uint64_t age_ns)
{
	struct qlb_flow6_key key, next, *prev = NULL;
	struct qlb_flow f;
	int n = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &f))
			continue;
		f.last_seen_ns = qlb_mono_ns() - age_ns;
		assert_int_equal(bpf_map_update_elem(fd, &key, &f, BPF_EXIST), 0);
		n++;
	}
	return n;
}

int age_v6_pending(struct dp *dp, uint64_t age_ns)
{
	return age_v6_table(dp->st->maps.pending_v6, age_ns);
}

int age_v6_flows(struct dp *dp, uint64_t age_ns)
{
	return age_v6_table(dp->st->maps.flows_v6, age_ns);
}

int flow_entries(struct dp *dp, uint16_t sport)
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
