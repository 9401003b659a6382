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

#include "qlb.h"

#define NUD_USABLE (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | \
		    NUD_PERMANENT | NUD_NOARP)

static int lookup_neigh(struct nl_sock *sk, int ifindex, struct nl_addr *dst,
			uint8_t mac[6])
{
	struct nl_cache *cache = NULL;
	struct rtnl_neigh *n;
	struct nl_addr *ll;
	int found = 0;

	if (rtnl_neigh_alloc_cache(sk, &cache) < 0)
		return -ENOMEM;
	n = rtnl_neigh_get(cache, ifindex, dst);
	if (n) {
		ll = rtnl_neigh_get_lladdr(n);
		if ((rtnl_neigh_get_state(n) & NUD_USABLE) && ll &&
		    nl_addr_get_len(ll) == 6) {
			memcpy(mac, nl_addr_get_binary_addr(ll), 6);
			found = 1;
		}
		rtnl_neigh_put(n);
	}
	nl_cache_free(cache);
	return found ? 0 : -EAGAIN;
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
			int timeout_ms, struct qlb_nexthop *nh, char *errbuf,
			size_t errlen)
{
	int af = family == QLB_FAMILY_V4 ? AF_INET : AF_INET6;
	struct nl_addr *dst = NULL, *target;
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *hop;
	struct nl_sock *sk;
	int err, waited;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	if (nl_connect(sk, NETLINK_ROUTE) < 0) {
		snprintf(errbuf, errlen, "cannot open a netlink socket");
		err = -EIO;
		goto out;
	}
	dst = nl_addr_build(af, addr->bytes, af == AF_INET ? 4 : 16);
	if (!dst) {
		err = -ENOMEM;
		goto out;
	}
	if (rtnl_route_lookup(sk, dst, &route) < 0 || !route ||
	    !(hop = rtnl_route_nexthop_n(route, 0))) {
		snprintf(errbuf, errlen, "no route to the backend");
		err = -EHOSTUNREACH;
		goto out;
	}
	nh->ifindex = rtnl_route_nh_get_ifindex(hop);
	target = rtnl_route_nh_get_gateway(hop);
	if (!target)
		target = dst;	/* on-link: the backend is its own next hop */

	err = link_mac(sk, nh->ifindex, nh->smac);
	if (err) {
		snprintf(errbuf, errlen, "egress interface %u has no MAC address",
			 nh->ifindex);
		goto out;
	}
	for (waited = 0;; waited += 10) {
		err = lookup_neigh(sk, nh->ifindex, target, nh->dmac);
		if (err != -EAGAIN || waited >= timeout_ms)
			break;
		/* Ask again now and then: a probe sent before the link was
		 * fully up may have gone nowhere. */
		if (waited % 250 == 0)
			kick_neigh(sk, nh->ifindex, target);
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	if (err)
		snprintf(errbuf, errlen, "next hop's MAC address unresolved after %d ms",
			 timeout_ms);
out:
	if (route)
		rtnl_route_put(route);
	nl_addr_put(dst);
	nl_socket_free(sk);
	return err;
}
