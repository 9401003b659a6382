/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Harness for data-plane unit tests: the real qlb XDP program, loaded from
 * its skeleton with its maps pinned in a private directory, run on crafted
 * packets through BPF_PROG_TEST_RUN inside a private network namespace.
 */
#ifndef DP_HARNESS_H
#define DP_HARNESS_H

#include <stdint.h>
#include <stddef.h>
#include "config.h"
#include "state.h"

struct qlb_bpf;

struct dp {
	struct qlb_bpf *skel;
	struct qlb_state *st;
	int prog_fd;
	char pin_dir[128];
};

/* A crafted packet: Ethernet (optional 802.1Q), IPv4 or IPv6, TCP or UDP. */
struct pkt_spec {
	uint8_t family;		/* QLB_FAMILY_* */
	uint8_t proto;		/* IPPROTO_TCP / IPPROTO_UDP */
	const char *src;	/* address strings */
	const char *dst;
	uint16_t sport, dport;	/* host order */
	uint8_t tcp_flags;	/* TH_SYN etc. */
	uint32_t seq, ack;	/* TCP, host order; seq 0 means 1000 */
	uint16_t payload_len;
	int vlan;		/* add one 802.1Q tag */
	int ip_options;		/* IPv4: add 4 bytes of options (NOP x4) */
	uint16_t frag_off;	/* IPv4: host-order frag_off field (MF/offset) */
	int ipv6_frag;		/* IPv6: insert a fragment header */
	int ipv6_hopopts;	/* IPv6: insert a hop-by-hop header */
	uint8_t smac[6], dmac[6];
	/* proto IPPROTO_ICMP / IPPROTO_ICMPV6: the ICMP header's type, code
	 * and last 4 bytes (host order: the echo id and sequence, an MTU);
	 * then payload_len bytes of data, or, with quote, the first quote_len
	 * bytes of the quoted packet from its IP header on. */
	uint8_t icmp_type, icmp_code;
	uint32_t icmp_rest;
	const struct pkt_spec *quote;
	uint16_t quote_len;
};

#define PKT_MAX 2048
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

/* Offsets inside a built packet, for assertions. */
struct pkt_layout {
	size_t len;
	size_t l3;
	size_t l4;
	size_t payload;
};

size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, struct pkt_layout *lay);
/* 1 if the IPv4 header checksum (if any) and the L4 checksum verify. */
int pkt_checksums_ok(const uint8_t *buf, const struct pkt_layout *lay, uint8_t family,
		     uint8_t proto);

/* 1 if the IPv4 header at ip has a valid checksum. */
int ipv4_header_ok(const uint8_t *ip);

int dp_setup(struct dp *dp);
/* With flow and half-open tables of `entries` each (0: as built). */
int dp_setup_flow_table(struct dp *dp, uint32_t entries);
/* The same, and the flood threshold (new unverified flows per CPU and
 * epoch; 0: as built). */
int dp_setup_opts(struct dp *dp, uint32_t entries, uint64_t syn_flood_per_epoch);
void dp_teardown(struct dp *dp);
/* Runs the program once. *len_out gets the output length. Returns the XDP
 * action, or -1 if the syscall failed. */
int dp_run(struct dp *dp, uint8_t *pkt, size_t len, size_t *len_out);

uint32_t dp_vip(struct dp *dp, const char *addr, uint16_t port, uint8_t proto);
/* A backend reached through lo (ifindex 1), the ingress of every test run,
 * so the program answers XDP_TX. */
uint32_t dp_backend(struct dp *dp, uint32_t vip_id, const char *addr, uint16_t port,
		    uint32_t weight);
void dp_backend_stats(struct dp *dp, uint32_t id, struct qlb_backend_stats *out);
uint64_t dp_reason(struct dp *dp, enum qlb_reason r);

extern const uint8_t CLIENT_MAC[6], LB_MAC[6], BACKEND_MAC[6], LO_MAC[6];

#endif
