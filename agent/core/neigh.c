// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Next-hop resolution through libnl: the kernel's route table picks the
 * egress interface and gateway, its neighbour table gives the MAC. An unknown
 * neighbour is resolved by the kernel itself (NTF_USE makes it send the ARP
 * or NDP probe), so qlb sends no packet of its own.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <linux/neighbour.h>

#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include "neigh.h"

#define NUD_USABLE (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | \
		    NUD_PERMANENT | NUD_NOARP)

/* The neighbour entry of dst on ifindex: its NUD state (0: none) and, when
 * usable, its MAC. */
static int neigh_entry(struct nl_sock *sk, int ifindex, struct nl_addr *dst,
		       uint16_t *state, uint8_t mac[6])
{
	struct nl_cache *cache = NULL;
	struct rtnl_neigh *n;
	struct nl_addr *ll;
	int found = 0;

	*state = 0;
	if (rtnl_neigh_alloc_cache(sk, &cache) < 0)
		return -ENOMEM;
	n = rtnl_neigh_get(cache, ifindex, dst);
	if (n) {
		ll = rtnl_neigh_get_lladdr(n);
		*state = (uint16_t)rtnl_neigh_get_state(n);
		if ((*state & NUD_USABLE) && ll && nl_addr_get_len(ll) == 6) {
			memcpy(mac, nl_addr_get_binary_addr(ll), 6);
			found = 1;
		}
		rtnl_neigh_put(n);
	}
	nl_cache_free(cache);
	return found ? 0 : -EAGAIN;
}

static int lookup_neigh(struct nl_sock *sk, int ifindex, struct nl_addr *dst, uint8_t mac[6])
{
	uint16_t state;

	return neigh_entry(sk, ifindex, dst, &state, mac);
}

/* A route lookup and what it leaves to release. */
struct route_q {
	struct nl_sock *sk;
	struct nl_addr *dst;
	struct rtnl_route *route;
	uint32_t ifindex;	/* the first next hop's interface */
	struct nl_addr *next_hop;	/* its gateway, else dst (on-link) */
};

static void route_done(struct route_q *q)
{
	if (q->route)
		rtnl_route_put(q->route);
	nl_addr_put(q->dst);
	nl_socket_free(q->sk);
}

/* Looks up the route to addr: -ENOMEM, -EIO (no netlink) or -EHOSTUNREACH;
 * route_done() after it either way. */
static int route_lookup(const union qlb_addr *addr, uint8_t family, struct route_q *q)
{
	int af = family == QLB_FAMILY_V4 ? AF_INET : AF_INET6;
	struct rtnl_nexthop *hop;

	memset(q, 0, sizeof(*q));
	q->sk = nl_socket_alloc();
	q->dst = nl_addr_build(af, addr->bytes, af == AF_INET ? 4 : 16);
	if (!q->sk || !q->dst)
		return -ENOMEM;
	if (nl_connect(q->sk, NETLINK_ROUTE) < 0)
		return -EIO;
	if (rtnl_route_lookup(q->sk, q->dst, &q->route) < 0 || !q->route ||
	    !(hop = rtnl_route_nexthop_n(q->route, 0)))
		return -EHOSTUNREACH;
	q->ifindex = (uint32_t)rtnl_route_nh_get_ifindex(hop);
	q->next_hop = rtnl_route_nh_get_gateway(hop);
	return 0;
}

int qlb_route_query(const union qlb_addr *addr, uint8_t family, struct qlb_route_info *ri)
{
	struct route_q q;
	int err;

	memset(ri, 0, sizeof(*ri));
	err = route_lookup(addr, family, &q);
	if (!err) {
		ri->ifindex = q.ifindex;
		ri->type = rtnl_route_get_type(q.route);
		ri->has_gateway = q.next_hop != NULL;
		if (!q.next_hop)
			q.next_hop = q.dst;
		memcpy(ri->nexthop.bytes, nl_addr_get_binary_addr(q.next_hop),
		       nl_addr_get_len(q.next_hop) < 16 ? nl_addr_get_len(q.next_hop) : 16);
		neigh_entry(q.sk, (int)ri->ifindex, q.next_hop, &ri->neigh_state, ri->mac);
	}
	route_done(&q);
	return err;
}

static int kick_neigh(struct nl_sock *sk, int ifindex, struct nl_addr *dst)
{
	struct rtnl_neigh *n = rtnl_neigh_alloc();
	int err;

	if (!n)
		return -ENOMEM;
	rtnl_neigh_set_ifindex(n, ifindex);
	rtnl_neigh_set_dst(n, dst);
	rtnl_neigh_set_flags(n, NTF_USE);
	err = rtnl_neigh_add(sk, n, NLM_F_CREATE);
	rtnl_neigh_put(n);
	return err < 0 ? -EIO : 0;
}

static int link_mac(struct nl_sock *sk, int ifindex, uint8_t mac[6])
{
	struct rtnl_link *link = NULL;
	struct nl_addr *ll;
	int err = -ENODEV;

	if (rtnl_link_get_kernel(sk, ifindex, NULL, &link) < 0)
		return -ENODEV;
	ll = rtnl_link_get_addr(link);
	if (ll && nl_addr_get_len(ll) == 6) {
		memcpy(mac, nl_addr_get_binary_addr(ll), 6);
		err = 0;
	}
	rtnl_link_put(link);
	return err;
}

int qlb_resolve_nexthop(const union qlb_addr *addr, uint8_t family,
			int timeout_ms, struct qlb_nexthop *nh, struct qlb_error *e)
{
	struct nl_addr *target;
	struct route_q q;
	int err, waited;

	err = route_lookup(addr, family, &q);
	if (err) {
		qlb_error_set(e, 0, err == -EHOSTUNREACH ? "no route to the backend" :
			 "cannot ask the kernel's route table");
		goto out;
	}
	if (rtnl_route_get_type(q.route) == RTN_LOCAL) {
		/* Its packets would come straight back to us. */
		err = qlb_error_set(e, -EINVAL, "it is an address of this host, the balancer "
				    "itself");
		goto out;
	}
	nh->ifindex = q.ifindex;
	/* On-link, the backend is its own next hop. */
	target = q.next_hop ? q.next_hop : q.dst;
	err = link_mac(q.sk, nh->ifindex, nh->smac);
	if (err) {
		qlb_error_set(e, 0, "egress interface %u has no MAC address",
			 nh->ifindex);
		goto out;
	}
	for (waited = 0;; waited += 10) {
		err = lookup_neigh(q.sk, nh->ifindex, target, nh->dmac);
		if (err != -EAGAIN || waited >= timeout_ms)
			break;
		/* Ask again now and then: a probe sent before the link was
		 * fully up may have gone nowhere. */
		if (waited % 250 == 0)
			kick_neigh(q.sk, nh->ifindex, target);
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	if (err)
		qlb_error_set(e, 0, "next hop's MAC address unresolved after %d ms",
			 timeout_ms);
out:
	route_done(&q);
	return err;
}
