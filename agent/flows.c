// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Walking the flow tables (both families) from userspace. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "qlb.h"

static void entry_from_v4(const struct qlb_flow4_key *k, struct qlb_flow_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->family = QLB_FAMILY_V4;
	e->saddr.v4 = k->saddr;
	e->daddr.v4 = k->daddr;
	e->sport = ntohs(k->sport);
	e->dport = ntohs(k->dport);
	e->proto = k->proto;
}

static void entry_from_v6(const struct qlb_flow6_key *k, struct qlb_flow_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->family = QLB_FAMILY_V6;
	memcpy(e->saddr.v6, k->saddr, 16);
	memcpy(e->daddr.v6, k->daddr, 16);
	e->sport = ntohs(k->sport);
	e->dport = ntohs(k->dport);
	e->proto = k->proto;
}

int qlb_flows_foreach(struct qlb_state *st, qlb_flow_fn fn, void *ctx)
{
	union {
		struct qlb_flow4_key k4;
		struct qlb_flow6_key k6;
	} key, next;
	struct qlb_flow_entry e;
	int fam, ret;

	for (fam = 0; fam < 2; fam++) {
		int fd = fam ? st->maps.flows_v6 : st->maps.flows_v4;
		void *prev = NULL;
		struct qlb_flow val;

		while (!bpf_map_get_next_key(fd, prev, &next)) {
			key = next;
			prev = &key;
			/* Gone since get_next_key (evicted or expired): skip. */
			if (bpf_map_lookup_elem(fd, &key, &val))
				continue;
			if (fam)
				entry_from_v6(&key.k6, &e);
			else
				entry_from_v4(&key.k4, &e);
			e.val = val;
			ret = fn(&e, ctx);
			if (ret)
				return ret > 0 ? 0 : ret;
		}
	}
	return 0;
}
