/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the data-plane tests share on top of dp_harness: the test network
 * (VIPs, clients), packets of a flow and its replies, and readers of the
 * pick, counter and flow state. They assert with cmocka, so only tests use
 * them; the benches use dp_harness alone.
 */
#ifndef DP_TEST_H
#define DP_TEST_H

#include <stdint.h>
#include "dp_harness.h"

#define VIP4 "10.0.0.100"
#define VIP6 "fd00::100"
#define CLIENT4 "192.0.2.7"
#define CLIENT6 "2001:db8::7"
#define NSEC 1000000000ull

/* A client's packet to the VIP of family, port 80, from sport. */
struct pkt_spec spec(uint8_t family, uint8_t proto, uint16_t sport, uint8_t flags);
/* The reply of backend baddr:bport to the request in s. */
struct pkt_spec reply_of(const struct pkt_spec *s, const char *baddr, uint16_t bport,
			 uint8_t flags);
/* Builds s's packet into pkt, its layout into lay, and runs it: the verdict. */
int run_spec(struct dp *dp, const struct pkt_spec *s, uint8_t *pkt, struct pkt_layout *lay);
/* cmocka fixtures: a struct dp in *state. */
int setup(void **state);
int teardown(void **state);
void assert_addr(const uint8_t *p, uint8_t family, const char *want);
/* Offsets of the addresses in the IP header. */
size_t src_off(uint8_t family);
size_t dst_off(uint8_t family);
/* One more packet of the client's IPv4 TCP flow from sport; the backend
 * address it was sent to. */
uint32_t backend_of(struct dp *dp, uint16_t sport, uint8_t flags);
const struct qlb_vip_key *vip_key(struct dp *dp, uint32_t vid);
void set_policy(struct dp *dp, uint32_t vid, uint32_t policy);
struct qlb_vip_backends pick_table(struct dp *dp, uint32_t vid);
/* backend_active, raw: here it must never go below 0. set_active also
 * clears the flows placed and not established. */
int64_t active(struct dp *dp, uint32_t id);
void set_active(struct dp *dp, uint32_t id, int64_t v);
/* The backend a request was sent to, from its rewritten destination. */
uint32_t id_of(struct dp *dp, uint32_t daddr);
/* As backend_of, but the backend's id. */
uint32_t send_req(struct dp *dp, uint16_t sport, uint8_t flags);
/* The client's IPv4 TCP flow from sport through its handshake (SYN, the
 * backend's SYN-ACK, the client's ACK of it): established; its backend. */
uint32_t open_flow(struct dp *dp, uint16_t sport);
/* One packet of backend bid's reply to the flow from sport: the verdict;
 * send_reply asserts it was forwarded. */
int reply_verdict(struct dp *dp, uint16_t sport, uint32_t bid, uint8_t flags);
void send_reply(struct dp *dp, uint16_t sport, uint32_t bid, uint8_t flags);
/* A capacity estimate as the agent writes it, age_ns old. */
void set_mu(struct dp *dp, uint32_t id, uint64_t mu_milli, uint64_t age_ns);
uint64_t flows_new(struct dp *dp, uint32_t id);
/* Ages the entries of the flow from sport (which: 1 request, 2 response,
 * 3 both) to now - age_ns; age_v6_flows ages every IPv6 entry and returns
 * how many there are. */
void age_flow(struct dp *dp, uint16_t sport, int which, uint64_t age_ns);
int age_v6_flows(struct dp *dp, uint64_t age_ns);
/* The same for half-open entries (qlb_abi.h's pending tables). */
void age_pending(struct dp *dp, uint16_t sport, uint64_t age_ns);
int age_v6_pending(struct dp *dp, uint64_t age_ns);
/* IPv4 flow entries, either direction, of the flow from sport. */
int flow_entries(struct dp *dp, uint16_t sport);

#endif
