// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The doctor's checks (doctor.h). Each one names a way in which a balancer
 * that looks configured moves no traffic, or moves it wrong, and gives the
 * command that fixes it. The commands are written for a shell in the host's
 * namespaces: `ip -n NS`, `ip netns exec NS`, `qlb -n NS`.
 *
 * Interfaces are checked in the balancer's namespace, and through a veth
 * into its peer's: frames redirected into a veth are delivered only if the
 * peer runs NAPI (an XDP program there, or GRO), and a local sender whose
 * veth offloads checksums hands XDP packets whose checksum is only a
 * partial sum, which NAT then forwards as they are.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <bpf/bpf.h>

#include "array.h"
#include "addr.h"
#include "doctor.h"
#include "link.h"
#include "neigh.h"
#include "netns.h"
#include "state.h"

#define NUD_USABLE (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | \
		    NUD_PERMANENT | NUD_NOARP)

void qlb_doctor_add(struct qlb_doctor *d, const char *check, const char *subject,
		    const char *fix, const char *fmt, ...)
{
	struct qlb_finding *f;
	va_list ap;

	f = qlb_array_room(d->f, d->n, &d->cap, sizeof(*f), 16);
	if (!f)
		return;	/* out of memory: the finding is lost, not the rest */
	d->f = f;
	f = &d->f[d->n++];
	memset(f, 0, sizeof(*f));
	f->check = check;
	snprintf(f->subject, sizeof(f->subject), "%s", subject);
	snprintf(f->fix, sizeof(f->fix), "%s", fix ? fix : "");
	va_start(ap, fmt);
	vsnprintf(f->problem, sizeof(f->problem), fmt, ap);
	va_end(ap);
}

void qlb_doctor_free(struct qlb_doctor *d)
{
	free(d->f);
	memset(d, 0, sizeof(*d));
}

/* cmd as typed in a shell of the host's namespaces, to run in namespace ns
 * ("" the host's, a /run/netns name, "pid-N" a process's). */
static char *in_ns(char *buf, size_t len, const char *ns, const char *cmd)
{
	if (!ns[0])
		snprintf(buf, len, "%s", cmd);
	else if (!strncmp(ns, "pid-", 4))
		snprintf(buf, len, "nsenter -t %s -n %s", ns + 4, cmd);
	else if (!strncmp(ns, "ino-", 4))
		snprintf(buf, len, "%s (in network namespace %s)", cmd, ns);
	else if (!strncmp(cmd, "ip ", 3) || !strncmp(cmd, "qlb ", 4))
		snprintf(buf, len, "%.*s -n %s %s", cmd[0] == 'i' ? 2 : 3, cmd, ns,
			 cmd + (cmd[0] == 'i' ? 3 : 4));
	else
		snprintf(buf, len, "ip netns exec %s %s", ns, cmd);
	return buf;
}

/* ---- what the doctor knows of the balancer ---- */

struct ctx {
	struct qlb_doctor *d;
	struct qlb_state *st;
	char self_ns[64];	/* the balancer's namespace, as in_ns takes it */
	char client_if[16];	/* an attached client-facing interface, for fixes */
	int client_ifindex;
	uint32_t mtu_limit;
	int backend_only;	/* a backend's own checks, not its interface's */
};

static const char *mode_str(uint32_t mode)
{
	static const char *const modes[] = { "unspec", "native", "generic", "hw" };

	return mode < 4 ? modes[mode] : "?";
}

static int attached_info(struct ctx *c, int ifindex, struct qlb_iface *info)
{
	__u32 key = (__u32)ifindex;

	return c->st && !bpf_map_lookup_elem(c->st->maps.ifaces, &key, info);
}

static const char *ifname_of(int ifindex, char *buf)
{
	if (!if_indextoname((unsigned int)ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "ifindex %d", ifindex);
	return buf;
}

/* ---- a veth's peer, looked at in its own namespace ---- */

struct peer {
	char ns[64];		/* as in_ns takes it */
	struct qlb_link_info li;
	int gro_known, txcsum_known;
	uint32_t gro, txcsum, drv_prog, skb_prog;
};

/* Enters the namespace of li's peer (nothing to enter if it is this one):
 * 0 with *saved set for qlb_netns_restore, or -errno. */
static int enter_peer_ns(const struct ctx *c, const struct qlb_link_info *li, char *ns,
			 size_t len, int *saved)
{
	int fd, err;

	*saved = -1;
	if (li->peer_nsid < 0) {
		snprintf(ns, len, "%s", c->self_ns);
		return 0;
	}
	err = qlb_netns_open_nsid(li->peer_nsid, &fd, ns, len);
	if (err)
		return err;
	err = qlb_netns_switch(fd, saved);
	close(fd);
	return err;
}

static int peer_look(const struct ctx *c, const struct qlb_link_info *li, struct peer *p)
{
	int saved, err;

	memset(p, 0, sizeof(*p));
	err = enter_peer_ns(c, li, p->ns, sizeof(p->ns), &saved);
	if (err)
		return err;
	err = qlb_link_get(li->peer_ifindex, &p->li);
	if (!err) {
		p->gro_known = !qlb_link_ethtool(p->li.name, ETHTOOL_GGRO, &p->gro);
		p->txcsum_known = !qlb_link_ethtool(p->li.name, ETHTOOL_GTXCSUM, &p->txcsum);
		qlb_link_xdp(p->li.ifindex, &p->drv_prog, &p->skb_prog);
	}
	qlb_netns_restore(saved);
	return err;
}

/* ---- interfaces ---- */

static void check_mtu(struct ctx *c, const char *ns, const struct qlb_link_info *li,
		      const char *what)
{
	char cmd[96], fix[256];

	if (li->mtu <= c->mtu_limit)
		return;
	snprintf(cmd, sizeof(cmd), "ip link set dev %s mtu 1500", li->name);
	qlb_doctor_add(c->d, "mtu", li->name, in_ns(fix, sizeof(fix), ns, cmd),
		       "%s%s has MTU %u, above %u, the largest frame that fits one XDP buffer: "
		       "native XDP is refused there (qlb's program is not multi-buffer)",
		       li->name, what, li->mtu, c->mtu_limit);
}

static void check_down(struct ctx *c, const char *ns, const struct qlb_link_info *li,
		       const char *what)
{
	char cmd[96], fix[256];

	if (li->up)
		return;
	snprintf(cmd, sizeof(cmd), "ip link set dev %s up", li->name);
	qlb_doctor_add(c->d, "link-down", li->name, in_ns(fix, sizeof(fix), ns, cmd),
		       "%s%s is down: nothing passes it", li->name, what);
}

/* "qlb detach X && qlb attach ..." that puts X back in its role. */
static char *reattach_cmd(const struct ctx *c, const struct qlb_iface *info, const char *mode,
			  char *buf, size_t len)
{
	char detach[64], attach[128], a[192], b[192];

	snprintf(detach, sizeof(detach), "qlb detach %s", info->name);
	if (info->role & QLB_IF_CLIENT || !c->client_if[0])
		snprintf(attach, sizeof(attach), "qlb attach %s%s", info->name, mode);
	else
		snprintf(attach, sizeof(attach), "qlb attach %s --backend-iface %s%s", c->client_if,
			 info->name, mode);
	snprintf(buf, len, "%s && %s", in_ns(a, sizeof(a), c->self_ns, detach),
		 in_ns(b, sizeof(b), c->self_ns, attach));
	return buf;
}

/* The mode qlb runs in on an attached interface, and why not native. */
static void check_mode(struct ctx *c, const struct qlb_link_info *li,
		       const struct qlb_iface *info, struct qlb_doctor_iface *rep)
{
	uint32_t drv = 0, skb = 0;
	char fix[256];

	snprintf(rep->mode, sizeof(rep->mode), "%s", mode_str(info->xdp_mode));
	if (qlb_link_xdp(li->ifindex, &drv, &skb) || (!drv && !skb)) {
		qlb_doctor_add(c->d, "xdp-mode", li->name, reattach_cmd(c, info, "", fix, sizeof(fix)),
			       "qlb is recorded as attached to %s, but no XDP program runs there",
			       li->name);
		snprintf(rep->mode, sizeof(rep->mode), "recorded, not attached");
		return;
	}
	if (info->xdp_mode != 2 /* XDP_MODE_SKB */)
		return;
	if (info->native_err == QLB_IF_NATIVE_NOT_TRIED) {
		snprintf(rep->mode, sizeof(rep->mode), "generic (as asked)");
		return;
	}
	qlb_doctor_add(c->d, "xdp-mode", li->name,
		       info->native_err == -EOPNOTSUPP ? "" :
		       reattach_cmd(c, info, " --mode native", fix, sizeof(fix)),
		       "qlb runs in generic (skb) mode on %s, slower than native: native was refused "
		       "(%s)%s", li->name, strerror(-info->native_err),
		       info->native_err == -ERANGE ? ": the MTU of the interface or its veth peer is "
		       "too large for native XDP (see the mtu findings), fix that, then reattach" :
		       info->native_err == -EOPNOTSUPP ? ": its driver has no native XDP" :
		       ": 'qlb -v attach' shows the kernel's reason");
}

static void check_veth_peer(struct ctx *c, const struct qlb_link_info *li, int receives)
{
	char cmd[128], fix[256], what[160];
	struct peer p;
	int err;

	err = peer_look(c, li, &p);
	if (err) {
		qlb_doctor_add(c->d, "veth-napi", li->name, "",
			       "cannot look at the peer of veth %s (namespace id %d): %s; "
			       "check by hand that it runs GRO or an XDP program", li->name,
			       li->peer_nsid, strerror(-err));
		return;
	}
	snprintf(what, sizeof(what), " (the veth peer of %s%s%s)", li->name,
		 p.ns[0] ? ", namespace " : "", p.ns);
	check_down(c, p.ns, &p.li, what);
	check_mtu(c, p.ns, &p.li, what);
	/* A native XDP program there, or GRO, gives the peer NAPI. */
	if (!p.drv_prog && p.gro_known && !p.gro) {
		snprintf(cmd, sizeof(cmd), "ethtool -K %s gro on", p.li.name);
		qlb_doctor_add(c->d, "veth-napi", li->name, in_ns(fix, sizeof(fix), p.ns, cmd),
			       "frames qlb sends into %s are dropped: its peer %s%s%s runs no NAPI "
			       "(no XDP program, GRO off)", li->name, p.li.name,
			       p.ns[0] ? " in namespace " : "", p.ns);
	}
	if (receives && p.txcsum_known && p.txcsum) {
		snprintf(cmd, sizeof(cmd), "ethtool -K %s tx off", p.li.name);
		qlb_doctor_add(c->d, "veth-csum", li->name, in_ns(fix, sizeof(fix), p.ns, cmd),
			       "%s%s%s, the peer of %s, offloads TX checksums: packets sent through "
			       "it reach XDP with a partial checksum, and qlb forwards them as they "
			       "are, with a bad one", p.li.name, p.ns[0] ? " in namespace " : "",
			       p.ns, li->name);
	}
}

static void check_iface(struct ctx *c, int ifindex, const char *name_hint)
{
	struct qlb_doctor_iface *rep;
	struct qlb_link_info li;
	struct qlb_iface info;
	int attached;
	char fix[256], cmd[96];

	for (unsigned int i = 0; i < c->d->nifaces; i++)
		if (if_nametoindex(c->d->ifaces[i].name) == (unsigned int)ifindex)
			return;	/* checked already */
	attached = attached_info(c, ifindex, &info);
	if (qlb_link_get(ifindex, &li)) {
		if (attached) {
			snprintf(cmd, sizeof(cmd), "qlb detach %s", info.name);
			qlb_doctor_add(c->d, "xdp-mode", info.name,
				       in_ns(fix, sizeof(fix), c->self_ns, cmd),
				       "qlb is recorded as attached to %s (ifindex %u), which is gone",
				       info.name, info.ifindex);
		} else {
			qlb_doctor_add(c->d, "link-down", name_hint, "", "no interface %s here",
				       name_hint);
		}
		return;
	}
	if (c->d->nifaces == sizeof(c->d->ifaces) / sizeof(c->d->ifaces[0]))
		return;
	rep = &c->d->ifaces[c->d->nifaces++];
	memset(rep, 0, sizeof(*rep));
	snprintf(rep->name, sizeof(rep->name), "%s", li.name);
	if (attached) {
		snprintf(rep->role, sizeof(rep->role), "%s",
			 info.role == (QLB_IF_CLIENT | QLB_IF_BACKEND) ? "client+backend" :
			 info.role & QLB_IF_CLIENT ? "client" : "backend");
		check_mode(c, &li, &info, rep);
	} else {
		snprintf(rep->mode, sizeof(rep->mode), "not attached");
	}
	check_down(c, c->self_ns, &li, "");
	check_mtu(c, c->self_ns, &li, "");
	/* Every interface here is one qlb sends into (replies to clients,
	 * requests to backends) and, attached, one it receives from. */
	if (!strcmp(li.kind, "veth"))
		check_veth_peer(c, &li, 1);
}

/* ---- backends ---- */

static void backend_fix_readd(const struct ctx *c, const struct qlb_backend *b, char *fix,
			      size_t len)
{
	const struct qlb_vip_entry *v = NULL;
	char vip[64], be[64], del[160], add[160], del_ns[224], add_ns[224];

	for (int i = 0; i < c->st->nvips; i++)
		if (c->st->vips[i].val.vip_id == b->vip_id)
			v = &c->st->vips[i];
	qlb_format_endpoint(&b->addr, b->family, ntohs(b->port), be, sizeof(be));
	if (!v) {
		fix[0] = 0;
		return;
	}
	qlb_format_endpoint(&v->key.addr, v->key.family, ntohs(v->key.port), vip, sizeof(vip));
	snprintf(del, sizeof(del), "qlb backend del %s %s", vip, be);
	snprintf(add, sizeof(add), "qlb backend add %s %s --weight %u", vip, be, b->weight);
	snprintf(fix, len, "%s && %s", in_ns(del_ns, sizeof(del_ns), c->self_ns, del),
		 in_ns(add_ns, sizeof(add_ns), c->self_ns, add));
}

/*
 * In NAT mode a backend's replies must come back through the balancer. Where
 * the backend is a local namespace behind a veth (a lab), look there: its
 * route to the clients (to the balancer's client-side address) must go
 * through the veth to a balancer address, or replies bypass NAT; with
 * rp_filter on, the requests are dropped as well.
 */
static void check_backend_return(struct ctx *c, const struct qlb_backend *b,
				 const struct qlb_link_info *egress, const char *name)
{
	int af = b->family == QLB_FAMILY_V4 ? AF_INET : AF_INET6;
	struct qlb_route_info here, back;
	union qlb_addr client_side, bal;
	char ns[64], gw[64], ca[64], ba[64], cmd[192], fix[256], peer[IF_NAMESIZE];
	long rp_all = 0, rp_if = 0;
	int saved, local, err, routed, via_balancer;

	if (c->client_ifindex <= 0 ||
	    qlb_link_first_addr(c->client_ifindex, af, &client_side) ||
	    qlb_link_first_addr(egress->ifindex, af, &bal))
		return;	/* nothing to route back to, or no address to route through */
	if (enter_peer_ns(c, egress, ns, sizeof(ns), &saved))
		return;
	local = !qlb_route_query(&b->addr, b->family, &here) && here.type == RTN_LOCAL;
	err = local ? qlb_route_query(&client_side, b->family, &back) : 0;
	if (local && !if_indextoname(egress->peer_ifindex, peer))
		local = 0;
	if (local && af == AF_INET) {
		char path[96];

		qlb_sysctl_read("net/ipv4/conf/all/rp_filter", &rp_all);
		snprintf(path, sizeof(path), "net/ipv4/conf/%s/rp_filter", peer);
		qlb_sysctl_read(path, &rp_if);
	}
	qlb_netns_restore(saved);
	if (!local)
		return;
	inet_ntop(af, client_side.bytes, ca, sizeof(ca));
	inet_ntop(af, bal.bytes, ba, sizeof(ba));
	snprintf(cmd, sizeof(cmd), "ip %sroute replace default via %s dev %s",
		 af == AF_INET ? "" : "-6 ", ba, peer);
	in_ns(fix, sizeof(fix), ns, cmd);
	routed = !err;
	via_balancer = routed && back.ifindex == (uint32_t)egress->peer_ifindex &&
		       back.has_gateway && qlb_link_has_addr(egress->ifindex, af, &back.nexthop);
	if (!routed) {
		qlb_doctor_add(c->d, "backend-return", name, fix,
			       "backend %s (namespace %s) has no route back to the clients (none to "
			       "%s): its replies cannot reach the balancer", name, ns[0] ? ns : "host",
			       ca);
		return;
	}
	if (via_balancer)
		return;
	if (back.has_gateway)
		inet_ntop(af, back.nexthop.bytes, gw, sizeof(gw));
	else
		snprintf(gw, sizeof(gw), "no gateway (on-link)");
	qlb_doctor_add(c->d, "backend-return", name, fix,
		       "backend %s (namespace %s) routes the clients (%s) through %s, not through "
		       "the balancer (%s on %s): its replies bypass the NAT%s", name,
		       ns[0] ? ns : "host", ca, gw, ba, egress->name,
		       (rp_all == 1 || rp_if == 1) && back.ifindex != (uint32_t)egress->peer_ifindex ?
		       ", and its strict rp_filter drops the requests" : "");
}

static void check_backend(struct ctx *c, const struct qlb_backend *b)
{
	char name[64], nh[64], fix[256], cmd[160], was[IF_NAMESIZE], now[IF_NAMESIZE];
	int af = b->family == QLB_FAMILY_V4 ? AF_INET : AF_INET6;
	struct qlb_link_info egress;
	struct qlb_route_info ri;
	struct qlb_iface info;

	qlb_format_endpoint(&b->addr, b->family, 0, name, sizeof(name));
	c->d->nbackends++;
	if (qlb_route_query(&b->addr, b->family, &ri)) {
		snprintf(cmd, sizeof(cmd), "ip %sroute add %s dev IFACE", af == AF_INET ? "" : "-6 ",
			 name);
		qlb_doctor_add(c->d, "backend-route", name, in_ns(fix, sizeof(fix), c->self_ns, cmd),
			       "no route to backend %s: qlb cannot reach it", name);
		return;
	}
	if (ri.ifindex != b->ifindex) {
		backend_fix_readd(c, b, fix, sizeof(fix));
		qlb_doctor_add(c->d, "backend-route", name, fix,
			       "backend %s was added behind %s, but its route now leaves through %s: "
			       "qlb still sends it there", name, ifname_of((int)b->ifindex, was),
			       ifname_of((int)ri.ifindex, now));
	}
	if (!attached_info(c, (int)ri.ifindex, &info)) {
		snprintf(cmd, sizeof(cmd), "qlb attach %s --backend-iface %s",
			 c->client_if[0] ? c->client_if : "IFACE", ifname_of((int)ri.ifindex, now));
		qlb_doctor_add(c->d, "backend-iface", name, in_ns(fix, sizeof(fix), c->self_ns, cmd),
			       "backend %s is reached through %s, where qlb is not attached: its "
			       "replies there are not reverse-NATed", name, now);
	}
	inet_ntop(af, ri.nexthop.bytes, nh, sizeof(nh));
	if (!(ri.neigh_state & NUD_USABLE)) {
		snprintf(cmd, sizeof(cmd), "ping -c 1 -I %s %s", ifname_of((int)ri.ifindex, now), nh);
		qlb_doctor_add(c->d, "backend-neigh", name, in_ns(fix, sizeof(fix), c->self_ns, cmd),
			       "the next hop of backend %s (%s on %s) has %s neighbour entry: "
			       "nothing answers for it", name, nh, now,
			       !ri.neigh_state ? "no" : ri.neigh_state & NUD_FAILED ? "a failed" :
			       "an unresolved");
	} else if (memcmp(ri.mac, b->dmac, 6)) {
		backend_fix_readd(c, b, fix, sizeof(fix));
		qlb_doctor_add(c->d, "backend-neigh", name, fix,
			       "the next hop of backend %s (%s) is now at %02x:%02x:%02x:%02x:%02x:%02x, "
			       "qlb sends to %02x:%02x:%02x:%02x:%02x:%02x", name, nh,
			       ri.mac[0], ri.mac[1], ri.mac[2], ri.mac[3], ri.mac[4], ri.mac[5],
			       b->dmac[0], b->dmac[1], b->dmac[2], b->dmac[3], b->dmac[4], b->dmac[5]);
	}
	if (!c->backend_only)
		check_iface(c, (int)ri.ifindex, now);
	if (!qlb_link_get((int)ri.ifindex, &egress) && !strcmp(egress.kind, "veth"))
		check_backend_return(c, b, &egress, name);
}

/* ---- sysctls ---- */

static void check_forwarding(struct ctx *c)
{
	static const struct {
		const char *path, *fix;
	} knobs[] = {
		{ "net/ipv4/ip_forward", "sysctl -w net.ipv4.ip_forward=0" },
		{ "net/ipv6/conf/all/forwarding", "sysctl -w net.ipv6.conf.all.forwarding=0" },
	};
	char fix[256];
	long v;

	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
		if (!qlb_sysctl_read(knobs[i].path, &v) && v)
			qlb_doctor_add(c->d, "forwarding", knobs[i].path,
				       in_ns(fix, sizeof(fix), c->self_ns, knobs[i].fix),
				       "%s is on where qlb runs NAT: the kernel routes on, un-NATed, "
				       "what qlb passes to it (a backend's reply on an interface "
				       "without qlb, a fragment to a VIP), so clients see backend "
				       "addresses (keep it on only if this host routes other "
				       "traffic)", knobs[i].path);
}

/* Sets up c and calls fn for each attached interface (NULL: none), the
 * client-facing one noted first for the fixes that name it. */
static int ctx_init(struct ctx *c, struct qlb_doctor *d, struct qlb_state *st,
		    void (*fn)(struct ctx *c, int ifindex, const char *name))
{
	__u32 key, next, *prev = NULL;
	struct qlb_iface info;
	int err;

	memset(c, 0, sizeof(*c));
	c->d = d;
	c->st = st;
	c->mtu_limit = qlb_xdp_max_frame_mtu();
	if (qlb_netns_self_name(c->self_ns, sizeof(c->self_ns)) < 0)
		c->self_ns[0] = 0;
	if (!st)
		return 0;
	err = qlb_state_read(st);
	if (err)
		return err;
	while (!bpf_map_get_next_key(st->maps.ifaces, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(st->maps.ifaces, &key, &info) &&
		    (info.role & QLB_IF_CLIENT) && !c->client_if[0]) {
			snprintf(c->client_if, sizeof(c->client_if), "%s", info.name);
			c->client_ifindex = (int)info.ifindex;
		}
	}
	for (prev = NULL; fn && !bpf_map_get_next_key(st->maps.ifaces, prev, &next);) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(st->maps.ifaces, &key, &info))
			fn(c, (int)info.ifindex, info.name);
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct qlb_doctor_iface *)a)->name,
		      ((const struct qlb_doctor_iface *)b)->name);
}

int qlb_doctor_run(struct qlb_state *st, char *const *extra, unsigned int n,
		   struct qlb_doctor *d)
{
	struct ctx c;
	int err;

	err = ctx_init(&c, d, st, check_iface);
	if (err)
		return err;
	for (unsigned int i = 0; i < n; i++) {
		int ifindex = (int)if_nametoindex(extra[i]);

		if (!ifindex)
			qlb_doctor_add(d, "link-down", extra[i], "", "no interface %s here", extra[i]);
		else
			check_iface(&c, ifindex, extra[i]);
	}
	for (int i = 0; st && i < QLB_MAX_BACKENDS; i++)
		if (st->backends[i].flags & QLB_BE_F_IN_USE)
			check_backend(&c, &st->backends[i]);
	check_forwarding(&c);
	qsort(d->ifaces, d->nifaces, sizeof(d->ifaces[0]), by_name);
	return err;
}

int qlb_doctor_run_backend(struct qlb_state *st, uint32_t id, struct qlb_doctor *d)
{
	struct ctx c;
	int err;

	if (id >= QLB_MAX_BACKENDS)
		return -EINVAL;
	err = ctx_init(&c, d, st, NULL);
	if (err)
		return err;
	c.backend_only = 1;
	check_backend(&c, &st->backends[id]);
	return 0;
}
