// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What the kernel says of an interface in the current network namespace:
 * its kind, MTU and veth peer (libnl), its offloads (the ethtool ioctl:
 * Debian has no ethtool library, and the legacy GGRO/GTXCSUM commands answer
 * in one call where ethtool's netlink family needs a string-set walk), its
 * XDP program (libbpf) and its sysctls (/proc/sys, which a process reads for
 * the namespace it is in).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>

#include <bpf/libbpf.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "link.h"

static struct nl_sock *route_socket(void)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (sk && nl_connect(sk, NETLINK_ROUTE) < 0) {
		nl_socket_free(sk);
		sk = NULL;
	}
	return sk;
}

int qlb_link_get(int ifindex, struct qlb_link_info *li)
{
	struct rtnl_link *link = NULL;
	struct nl_sock *sk;
	const char *kind;
	int32_t nsid;

	memset(li, 0, sizeof(*li));
	li->peer_nsid = -1;
	sk = route_socket();
	if (!sk)
		return -EIO;
	if (rtnl_link_get_kernel(sk, ifindex, NULL, &link) < 0) {
		nl_socket_free(sk);
		return -ENODEV;
	}
	li->ifindex = ifindex;
	snprintf(li->name, sizeof(li->name), "%s", rtnl_link_get_name(link));
	kind = rtnl_link_get_type(link);
	snprintf(li->kind, sizeof(li->kind), "%s", kind ? kind : "");
	li->mtu = rtnl_link_get_mtu(link);
	li->up = !!(rtnl_link_get_flags(link) & IFF_UP);
	li->master = rtnl_link_get_master(link);
	if (!strcmp(li->kind, "veth")) {
		li->peer_ifindex = rtnl_link_get_link(link);
		if (!rtnl_link_get_link_netnsid(link, &nsid))
			li->peer_nsid = nsid;
	}
	rtnl_link_put(link);
	nl_socket_free(sk);
	return 0;
}

int qlb_link_first_addr(int ifindex, int family, union qlb_addr *addr)
{
	struct nl_cache *cache = NULL;
	struct nl_object *obj;
	struct nl_sock *sk;
	int err = -ENOENT;

	sk = route_socket();
	if (!sk)
		return -EIO;
	if (rtnl_addr_alloc_cache(sk, &cache) < 0) {
		nl_socket_free(sk);
		return -ENOMEM;
	}
	for (obj = nl_cache_get_first(cache); obj && err; obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *a = (struct rtnl_addr *)obj;
		struct nl_addr *local = rtnl_addr_get_local(a);

		if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != family ||
		    !local || nl_addr_get_len(local) > sizeof(addr->bytes))
			continue;
		/* IPv6 link-local addresses say nothing of the routes. */
		if (family == AF_INET6 && ((uint8_t *)nl_addr_get_binary_addr(local))[0] == 0xfe)
			continue;
		memset(addr, 0, sizeof(*addr));
		memcpy(addr->bytes, nl_addr_get_binary_addr(local), nl_addr_get_len(local));
		err = 0;
	}
	nl_cache_free(cache);
	nl_socket_free(sk);
	return err;
}

int qlb_link_has_addr(int ifindex, int family, const union qlb_addr *addr)
{
	struct nl_cache *cache = NULL;
	struct nl_object *obj;
	struct nl_sock *sk;
	int found = 0;

	sk = route_socket();
	if (!sk)
		return 0;
	if (rtnl_addr_alloc_cache(sk, &cache) < 0) {
		nl_socket_free(sk);
		return 0;
	}
	for (obj = nl_cache_get_first(cache); obj && !found; obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *a = (struct rtnl_addr *)obj;
		struct nl_addr *local = rtnl_addr_get_local(a);

		found = rtnl_addr_get_ifindex(a) == ifindex && rtnl_addr_get_family(a) == family &&
			local && !memcmp(nl_addr_get_binary_addr(local), addr->bytes,
					 nl_addr_get_len(local));
	}
	nl_cache_free(cache);
	nl_socket_free(sk);
	return found;
}

int qlb_link_ethtool(const char *ifname, uint32_t cmd, uint32_t *value)
{
	struct ethtool_value ev = { .cmd = cmd };
	struct ifreq ifr = {};
	int fd, err = 0;

	/* A socket answers for the namespace it was made in: made here. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr))
		err = -errno;
	close(fd);
	if (!err)
		*value = ev.data;
	return err;
}

int qlb_link_xdp(int ifindex, uint32_t *drv_prog_id, uint32_t *skb_prog_id)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int err = bpf_xdp_query(ifindex, 0, &q);

	if (err)
		return err;
	*drv_prog_id = q.drv_prog_id;
	*skb_prog_id = q.skb_prog_id;
	return 0;
}

int qlb_sysctl_read(const char *path, long *value)
{
	char buf[32], full[256];
	ssize_t n;
	int fd;

	snprintf(full, sizeof(full), "/proc/sys/%s", path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n ? -errno : -EIO;
	buf[n] = 0;
	*value = strtol(buf, NULL, 10);
	return 0;
}

uint32_t qlb_xdp_max_frame_mtu(void)
{
	long page = sysconf(_SC_PAGESIZE);

	/* One page less XDP's headroom, the skb_shared_info at its end and
	 * the Ethernet header: what a driver's (and veth's) single-buffer
	 * XDP takes. A program that declares multi-buffer support (xdp.frags)
	 * takes more; qlb's does not, as it parses headers in one buffer. */
	return (uint32_t)(page > 0 ? page : 4096) - QLB_XDP_HEADROOM - QLB_XDP_SHINFO - 14;
}
