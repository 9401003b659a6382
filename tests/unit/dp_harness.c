// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp_harness.h"
#include "pins.h"
#include "stats.h"
#include "qlb.skel.h"
#include "skel.h"

const uint8_t CLIENT_MAC[6] = { 0x02, 0xc1, 0, 0, 0, 0x01 };
const uint8_t LB_MAC[6] = { 0x02, 0x1b, 0, 0, 0, 0x01 };
const uint8_t BACKEND_MAC[6] = { 0x02, 0xbe, 0, 0, 0, 0x01 };

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t pseudo_header(uint8_t family, const uint8_t *l3, uint8_t proto,
			      uint32_t l4_len)
{
	uint32_t sum = 0;

	if (family == QLB_FAMILY_V4)
		sum = csum_add(sum, l3 + 12, 8);	/* saddr, daddr */
	else
		sum = csum_add(sum, l3 + 8, 32);
	return sum + proto + l4_len;
}

static int is_icmp(uint8_t proto)
{
	return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

/* ICMPv4 sums no pseudo-header; ICMPv6 does. */
static uint32_t l4_sum_start(uint8_t family, const uint8_t *l3, uint8_t proto, uint32_t len)
{
	return proto == IPPROTO_ICMP ? 0 : pseudo_header(family, l3, proto, len);
}

size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, struct pkt_layout *lay)
{
	uint8_t quoted[PKT_MAX];
	struct pkt_layout qlay;
	size_t quote_len = 0;
	size_t off = 0, l4_hlen = s->proto == IPPROTO_TCP ? sizeof(struct tcphdr) :
				 is_icmp(s->proto) ? 8 : sizeof(struct udphdr);
	size_t l4_len, i;

	if (s->quote) {
		pkt_build(s->quote, quoted, &qlay);
		quote_len = qlay.len - qlay.l3 < s->quote_len ? qlay.len - qlay.l3 : s->quote_len;
	}
	l4_len = l4_hlen + (s->quote ? quote_len : s->payload_len);
	struct ethhdr *eth = (void *)buf;
	uint16_t ethertype = s->family == QLB_FAMILY_V4 ? ETH_P_IP : ETH_P_IPV6;

	memset(buf, 0, PKT_MAX);
	memcpy(eth->h_dest, s->dmac, 6);
	memcpy(eth->h_source, s->smac, 6);
	off = sizeof(*eth);
	if (s->vlan) {
		eth->h_proto = htons(ETH_P_8021Q);
		buf[off] = 0;
		buf[off + 1] = 42;	/* VLAN 42 */
		buf[off + 2] = ethertype >> 8;
		buf[off + 3] = ethertype & 0xff;
		off += 4;
	} else {
		eth->h_proto = htons(ethertype);
	}
	lay->l3 = off;

	if (s->family == QLB_FAMILY_V4) {
		struct iphdr ip = {};
		size_t ihl = sizeof(ip) + (s->ip_options ? 4 : 0);
		uint16_t check;

		ip.version = 4;
		ip.ihl = ihl / 4;
		ip.ttl = 64;
		ip.protocol = s->proto;
		ip.tot_len = htons(ihl + l4_len);
		ip.frag_off = htons(s->frag_off);
		inet_pton(AF_INET, s->src, &ip.saddr);
		inet_pton(AF_INET, s->dst, &ip.daddr);
		memcpy(buf + off, &ip, sizeof(ip));
		if (s->ip_options)
			memset(buf + off + sizeof(ip), 1, 4);	/* NOPs */
		check = htons(csum_fold(csum_add(0, buf + off, ihl)));
		memcpy(buf + off + 10, &check, 2);
		off += ihl;
	} else {
		struct ipv6hdr ip6 = {};
		size_t ext = 0, ip6_off = off;

		ip6.version = 6;
		ip6.hop_limit = 64;
		inet_pton(AF_INET6, s->src, &ip6.saddr);
		inet_pton(AF_INET6, s->dst, &ip6.daddr);
		off += sizeof(ip6);
		ip6.nexthdr = s->proto;
		if (s->ipv6_hopopts) {
			ip6.nexthdr = 0;	/* hop-by-hop, 8 bytes, PadN */
			buf[off] = s->ipv6_frag ? 44 : s->proto;
			buf[off + 1] = 0;
			buf[off + 2] = 1;	/* PadN */
			buf[off + 3] = 4;
			off += 8;
			ext += 8;
		}
		if (s->ipv6_frag) {
			if (!s->ipv6_hopopts)
				ip6.nexthdr = 44;
			buf[off] = s->proto;
			buf[off + 3] = 1;	/* offset 0, M flag */
			off += 8;
			ext += 8;
		}
		ip6.payload_len = htons(ext + l4_len);
		memcpy(buf + ip6_off, &ip6, sizeof(ip6));
	}
	lay->l4 = off;
	if (s->proto == IPPROTO_TCP) {
		struct tcphdr th = {};

		th.source = htons(s->sport);
		th.dest = htons(s->dport);
		th.seq = htonl(s->seq ? s->seq : 1000);
		th.ack_seq = htonl(s->ack);
		th.doff = sizeof(th) / 4;
		th.window = htons(65535);
		memcpy(buf + off, &th, sizeof(th));
		buf[off + 13] = s->tcp_flags;
	} else if (is_icmp(s->proto)) {
		uint32_t rest = htonl(s->icmp_rest);

		buf[off] = s->icmp_type;
		buf[off + 1] = s->icmp_code;
		memcpy(buf + off + 4, &rest, 4);
	} else {
		struct udphdr uh = {};

		uh.source = htons(s->sport);
		uh.dest = htons(s->dport);
		uh.len = htons(l4_len);
		memcpy(buf + off, &uh, sizeof(uh));
	}
	lay->payload = off + l4_hlen;
	if (s->quote) {
		memcpy(buf + lay->payload, quoted + qlay.l3, quote_len);
	} else {
		for (i = 0; i < s->payload_len; i++)
			buf[lay->payload + i] = (uint8_t)('a' + i % 26);
	}
	lay->len = lay->l4 + l4_len;

	{
		uint32_t sum = l4_sum_start(s->family, buf + lay->l3, s->proto, l4_len);
		uint16_t c = csum_fold(csum_add(sum, buf + lay->l4, l4_len));

		if (s->proto == IPPROTO_UDP && !c)
			c = 0xffff;
		c = htons(c);
		memcpy(buf + lay->l4 + (s->proto == IPPROTO_TCP ? 16 : is_icmp(s->proto) ? 2 : 6),
		       &c, 2);
	}
	return lay->len;
}

int ipv4_header_ok(const uint8_t *ip)
{
	return csum_fold(csum_add(0, ip, (ip[0] & 0xf) * 4)) == 0;
}

int pkt_checksums_ok(const uint8_t *buf, const struct pkt_layout *lay, uint8_t family,
		     uint8_t proto)
{
	size_t l4_len = lay->len - lay->l4;
	uint32_t sum;

	if (family == QLB_FAMILY_V4 &&
	    csum_fold(csum_add(0, buf + lay->l3, (buf[lay->l3] & 0xf) * 4)) != 0)
		return 0;
	sum = l4_sum_start(family, buf + lay->l3, proto, l4_len);
	return csum_fold(csum_add(sum, buf + lay->l4, l4_len)) == 0;
}

/* A test that crashed (an ASan report aborts) leaves its pins behind; the
 * next run removes those whose process is gone. */
static void remove_stale_pins(void)
{
	struct dirent *de;
	char path[300];
	DIR *d = opendir("/sys/fs/bpf");
	int pid;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (sscanf(de->d_name, "qlb-test-%d", &pid) != 1 || !kill(pid, 0))
			continue;
		snprintf(path, sizeof(path), "/sys/fs/bpf/%s", de->d_name);
		qlb_pins_purge(path);
	}
	closedir(d);
}

int dp_setup(struct dp *dp)
{
	return dp_setup_flow_table(dp, 0);
}

int dp_setup_flow_table(struct dp *dp, uint32_t entries)
{
	return dp_setup_opts(dp, entries, 0);
}

int dp_setup_opts(struct dp *dp, uint32_t entries, uint64_t syn_flood_per_epoch)
{
	int err;

	memset(dp, 0, sizeof(*dp));
	/* A private namespace: lo is the only device, and nothing leaks. */
	if (unshare(CLONE_NEWNET)) {
		perror("unshare(CLONE_NEWNET)");
		return -errno;
	}
	remove_stale_pins();
	snprintf(dp->pin_dir, sizeof(dp->pin_dir), "/sys/fs/bpf/qlb-test-%d", getpid());
	qlb_pins_purge(dp->pin_dir);
	setenv("QLB_PIN_DIR", dp->pin_dir, 1);
	err = qlb_skel_open(dp->pin_dir, &dp->skel);
	if (err)
		return err;
	dp->skel->rodata->hash_seed = 0x5eed;
	if (syn_flood_per_epoch)
		dp->skel->rodata->syn_flood_per_epoch = syn_flood_per_epoch;
	/* Small tables, to fill them. */
	if (entries) {
		struct bpf_map *tables[] = { dp->skel->maps.flows_v4, dp->skel->maps.flows_v6,
					     dp->skel->maps.pending_v4, dp->skel->maps.pending_v6 };

		for (size_t i = 0; i < 4; i++) {
			err = bpf_map__set_max_entries(tables[i], entries);
			if (err)
				return err;
		}
	}
	err = qlb_bpf__load(dp->skel);
	if (!err)
		err = qlb_skel_stamp_abi(dp->skel);
	if (err)
		return err;
	dp->prog_fd = bpf_program__fd(dp->skel->progs.qlb_xdp);
	err = qlb_state_open(&dp->st, 0, 0, NULL);
	if (err)
		return err;
	return qlb_state_read(dp->st);
}

void dp_teardown(struct dp *dp)
{
	qlb_state_close(dp->st);
	qlb_bpf__destroy(dp->skel);
	qlb_pins_purge(dp->pin_dir);
}

int dp_run(struct dp *dp, uint8_t *pkt, size_t len, size_t *len_out)
{
	struct xdp_md ctx_in = { .data_end = len, .ingress_ifindex = 1 };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = pkt, .data_size_in = len,
		    .data_out = pkt, .data_size_out = PKT_MAX,
		    .ctx_in = &ctx_in, .ctx_size_in = sizeof(ctx_in),
		    .repeat = 1);

	if (bpf_prog_test_run_opts(dp->prog_fd, &opts))
		return -1;
	if (len_out)
		*len_out = opts.data_size_out;
	return opts.retval;
}

uint32_t dp_vip(struct dp *dp, const char *addr, uint16_t port, uint8_t proto)
{
	struct qlb_vip_key k = { .port = htons(port), .proto = proto };
	uint32_t id = QLB_NO_BACKEND;

	k.family = strchr(addr, ':') ? QLB_FAMILY_V6 : QLB_FAMILY_V4;
	inet_pton(k.family == QLB_FAMILY_V4 ? AF_INET : AF_INET6, addr, &k.addr);
	if (qlb_vip_add(dp->st, &k, &id))
		return QLB_NO_BACKEND;
	return id;
}

uint32_t dp_backend(struct dp *dp, uint32_t vip_id, const char *addr, uint16_t port,
		    uint32_t weight)
{
	struct qlb_backend b = { .port = htons(port), .vip_id = vip_id,
				 .flags = QLB_BE_F_IN_USE, .weight = weight, .ring_weight = weight,
				 .ifindex = 1 };
	uint32_t id = QLB_NO_BACKEND;

	b.family = strchr(addr, ':') ? QLB_FAMILY_V6 : QLB_FAMILY_V4;
	inet_pton(b.family == QLB_FAMILY_V4 ? AF_INET : AF_INET6, addr, &b.addr);
	memcpy(b.dmac, BACKEND_MAC, 6);
	memcpy(b.smac, LB_MAC, 6);
	if (qlb_backend_insert(dp->st, &b, &id))
		return QLB_NO_BACKEND;
	return id;
}

void dp_backend_stats(struct dp *dp, uint32_t id, struct qlb_backend_stats *out)
{
	struct qlb_stats_snapshot *snap = calloc(1, sizeof(*snap));

	qlb_stats_read(dp->st, snap);
	*out = snap->be[id];
	free(snap);
}

uint64_t dp_reason(struct dp *dp, enum qlb_reason r)
{
	struct qlb_stats_snapshot *snap = calloc(1, sizeof(*snap));
	uint64_t v;

	qlb_stats_read(dp->st, snap);
	v = snap->reason[r].packets;
	free(snap);
	return v;
}
