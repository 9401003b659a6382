/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What the kernel says of an interface in this network namespace (link.c). */
#ifndef QLB_LINK_H
#define QLB_LINK_H

#include <net/if.h>
#include <stdint.h>

#include "qlb_abi.h"

/* XDP_PACKET_HEADROOM, and SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
 * on 64-bit kernels. */
#define QLB_XDP_HEADROOM	256
#define QLB_XDP_SHINFO		320

struct qlb_link_info {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[16];		/* "veth", "bridge", ...; "" for a plain device */
	uint32_t mtu;
	int up;			/* IFF_UP */
	int master;		/* ifindex of the bridge it is a port of, or 0 */
	int peer_ifindex;	/* veth: the peer's ifindex in its namespace */
	int32_t peer_nsid;	/* veth: the peer's namespace id; -1: this one */
};

int qlb_link_get(int ifindex, struct qlb_link_info *li);
/* The first address of family (AF_INET, AF_INET6; not link-local) on
 * ifindex, or -ENOENT. */
int qlb_link_first_addr(int ifindex, int family, union qlb_addr *addr);
/* 1 if ifindex holds addr. */
int qlb_link_has_addr(int ifindex, int family, const union qlb_addr *addr);
/* An ethtool "get" that answers one value (ETHTOOL_GGRO, ETHTOOL_GTXCSUM). */
int qlb_link_ethtool(const char *ifname, uint32_t cmd, uint32_t *value);
/* The XDP programs on ifindex: native (driver) and generic; 0 for none. */
int qlb_link_xdp(int ifindex, uint32_t *drv_prog_id, uint32_t *skb_prog_id);
/* A sysctl under /proc/sys ("net/ipv4/ip_forward"), of this namespace. */
int qlb_sysctl_read(const char *path, long *value);
/* The largest MTU whose frames fit one XDP buffer. */
uint32_t qlb_xdp_max_frame_mtu(void);

#endif /* QLB_LINK_H */
