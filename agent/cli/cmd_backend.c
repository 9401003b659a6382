// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `qlb backend add|set|del|list`. As for VIPs, each verb checks all of its
 * input against the pinned state before it writes anything.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "addr.h"
#include "args.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "neigh.h"
#include "opts.h"
#include "parse.h"
#include "state.h"

struct backend_args {
	int proto;
	uint32_t weight;
	int have_weight;
	int drain, undrain;
	int json;
	/* From the positional arguments, once parsed. */
	struct qlb_vip_key key;
	struct qlb_endpoint ep;
};

static const struct qlb_opt backend_opts[] = {
	{ QLB_O_U32("weight", 'w', "W", struct backend_args, weight, 0, QLB_MAX_WEIGHT,
		    "share of new flows, 0-65535 (default 1); the ring\n"
		    "gives each backend W / sum(W) of its slots") },
	{ QLB_O_FLAG("drain", 'd', struct backend_args, drain,
		     "take no new flows; established flows stay"), .group = 1 },
	{ QLB_O_FLAG("undrain", 'u', struct backend_args, undrain, "take new flows again"),
	  .group = 1 },
	{ QLB_O_CHOICE("proto", 'p', "tcp|udp", struct backend_args, proto, qlb_cli_protos,
		       "the VIP's protocol (default tcp)") },
	{ QLB_O_FLAG("json", 'j', struct backend_args, json, "machine-readable output (list)") },
	QLB_OPT_END
};

static const struct qlb_cmd_spec backend_spec = {
	.name = "backend",
	.synopsis =
	"Usage: qlb backend add VIP ADDR[:PORT] [--weight W] [--proto tcp|udp]\n"
	"       qlb backend set VIP ADDR[:PORT] [--weight W] [--drain | --undrain]\n"
	"       qlb backend del VIP ADDR[:PORT]\n"
	"       qlb backend list [VIP] [--json]\n"
	"\n"
	"Manage the backends (real servers) of a VIP. VIP is ADDR:PORT; a backend\n"
	"without a port receives the VIP's port. A backend is reached through the\n"
	"interface its route names; 'qlb attach' must cover that interface.\n",
	.opts = backend_opts,
	.max_pos = 3,
};

static const char *backend_str(const struct backend_args *a, char *buf, size_t len)
{
	return qlb_format_endpoint(&a->ep.addr, a->ep.family, a->ep.port, buf, len);
}

static int backend_add_failed(int err, const char *buf, const struct qlb_backend *b);

static int backend_add(struct qlb_state *st, struct qlb_vip_entry *v, const struct backend_args *a)
{
	struct qlb_backend b = {};
	struct qlb_error why = {};
	struct qlb_nexthop nh;
	char buf[64];
	uint32_t id;
	int err;

	backend_str(a, buf, sizeof(buf));
	if (qlb_find_backend(st, v->val.vip_id, &a->ep) >= 0) {
		qlb_err("backend %s already exists for this VIP", buf);
		return -EEXIST;
	}
	if (a->ep.family != v->key.family) {
		qlb_err("backend %s and VIP differ in address family (NAT mode needs the same)",
			buf);
		return -EINVAL;
	}
	if (qlb_addr_unicast(&a->ep.addr, a->ep.family, why.msg, sizeof(why.msg))) {
		qlb_err("backend %s is %s", buf, why.msg);
		return -EINVAL;
	}
	b.addr = a->ep.addr;
	b.port = htons(a->ep.port);
	b.family = a->ep.family;
	b.vip_id = v->val.vip_id;
	/* The same server under another spelling, or another VIP's: before
	 * anything waits on the network. */
	err = qlb_backend_conflict(st, &b);
	if (err)
		return backend_add_failed(err, buf, &b);
	err = qlb_resolve_nexthop(&a->ep.addr, a->ep.family, 3000, &nh, &why);
	if (err) {
		qlb_err("cannot reach backend %s: %s", buf, why.msg);
		return err;
	}
	b.flags = QLB_BE_F_IN_USE;
	b.weight = a->weight;
	b.ifindex = nh.ifindex;
	memcpy(b.dmac, nh.dmac, 6);
	memcpy(b.smac, nh.smac, 6);
	err = qlb_backend_insert(st, &b, &id);
	if (!err)
		qlb_cli_doctor_warn(st, (int)id);
	return err ? backend_add_failed(err, buf, &b) : 0;
}

/* The one line for a backend that could not be added. */
static int backend_add_failed(int err, const char *buf, const struct qlb_backend *b)
{
	if (err == -ENOSPC)
		qlb_err("no room for another backend (at most %d)", QLB_MAX_BACKENDS);
	else if (err == -EEXIST)
		qlb_err("backend %s already exists for this VIP (a backend without a port "
			"serves on the VIP's)", buf);
	else if (err == -EADDRINUSE)
		qlb_err("backend %s already serves another VIP: in NAT mode one server "
			"endpoint serves one VIP (use another port)", buf);
	else if (err == -EOPNOTSUPP || err == -EINVAL)
		qlb_err("interface %u cannot transmit XDP frames: %s", b->ifindex, strerror(-err));
	else
		qlb_err("cannot add backend %s: %s", buf, strerror(-err));
	return err;
}

/* The id of the backend the arguments name, or -ENOENT after one line. */
static int find_named(struct qlb_state *st, const struct qlb_vip_entry *v,
		      const struct backend_args *a)
{
	char buf[64];
	int id = qlb_find_backend(st, v->val.vip_id, &a->ep);

	if (id < 0)
		qlb_err("unknown backend %s for this VIP", backend_str(a, buf, sizeof(buf)));
	return id < 0 ? -ENOENT : id;
}

static int backend_set(struct qlb_state *st, struct qlb_vip_entry *v, const struct backend_args *a)
{
	const struct qlb_backend *b;
	uint32_t flags;
	int id, err;

	if (!a->have_weight && !a->drain && !a->undrain) {
		qlb_err("nothing to set: give --weight, --drain or --undrain");
		return -EINVAL;
	}
	id = find_named(st, v, a);
	if (id < 0)
		return id;
	b = &st->backends[id];
	flags = a->drain ? b->flags | QLB_BE_F_DRAIN :
		a->undrain ? b->flags & ~QLB_BE_F_DRAIN : b->flags;
	err = qlb_backend_update(st, (uint32_t)id, a->have_weight ? a->weight : b->weight, flags);
	if (err)
		qlb_err("cannot set backend: %s", strerror(-err));
	return err;
}

static int backend_del(struct qlb_state *st, struct qlb_vip_entry *v, const struct backend_args *a)
{
	int id = find_named(st, v, a), err;

	if (id < 0)
		return id;
	err = qlb_backend_remove(st, (uint32_t)id);
	if (err)
		qlb_err("cannot del backend: %s", strerror(-err));
	return err;
}

static int backend_list(struct qlb_state *st, struct qlb_vip_entry *only,
			const struct backend_args *a)
{
	json_t *arr = json_array();
	char vbuf[64], bbuf[64], ifname[IF_NAMESIZE], mac[18];
	int i, j;

	for (i = 0; i < st->nvips; i++) {
		const struct qlb_vip_entry *v = &st->vips[i];

		if (only && memcmp(&v->key, &only->key, sizeof(v->key)))
			continue;
		qlb_cli_vip_str(&v->key, vbuf, sizeof(vbuf));
		if (!a->json) {
			printf("VIP %s %s (id %u)\n", vbuf, qlb_proto_name(v->key.proto),
			       v->val.vip_id);
			printf("  %-30s %5s %6s %-8s %6s %6s  %-10s %s\n", "BACKEND", "ID",
			       "WEIGHT", "STATE", "SLOTS", "SHARE", "IFACE", "NEXT_HOP_MAC");
		}
		for (j = 0; j < QLB_MAX_BACKENDS; j++) {
			const struct qlb_backend *b = &st->backends[j];

			if (!(b->flags & QLB_BE_F_IN_USE) || b->vip_id != v->val.vip_id)
				continue;
			qlb_format_endpoint(&b->addr, b->family, ntohs(b->port), bbuf, sizeof(bbuf));
			if (!if_indextoname(b->ifindex, ifname))
				snprintf(ifname, sizeof(ifname), "#%u", b->ifindex);
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
				 b->dmac[0], b->dmac[1], b->dmac[2], b->dmac[3],
				 b->dmac[4], b->dmac[5]);
			if (a->json)
				json_array_append_new(arr, json_pack(
					"{s:s,s:s,s:s,s:i,s:i,s:s,s:i,s:f,s:s,s:s}",
					"vip", vbuf, "proto", qlb_proto_name(v->key.proto),
					"backend", bbuf, "id", j, "weight", (int)b->weight,
					"state", qlb_backend_state_name(b), "slots", (int)b->ring_slots,
					"share", 100.0 * b->ring_slots / QLB_RING_SIZE,
					"iface", ifname, "mac", mac));
			else
				printf("  %-30s %5d %6u %-8s %6u %5.1f%%  %-10s %s\n", bbuf, j,
				       b->weight, qlb_backend_state_name(b), b->ring_slots,
				       100.0 * b->ring_slots / QLB_RING_SIZE, ifname, mac);
		}
	}
	if (a->json) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(arr);
	return 0;
}

static const struct backend_verb {
	const char *name;
	int (*run)(struct qlb_state *st, struct qlb_vip_entry *v, const struct backend_args *a);
	int writes;
	int weight;		/* --weight allowed */
	int drain;		/* --drain, --undrain allowed */
} backend_verbs[] = {
	{ "add", backend_add, 1, 1, 0 },
	{ "set", backend_set, 1, 1, 1 },
	{ "del", backend_del, 1, 0, 0 },
	{ "list", backend_list, 0, 0, 0 },
	{ "show", backend_list, 0, 0, 0 },
};

int cmd_backend(int argc, char **argv)
{
	struct backend_args a = { .proto = IPPROTO_TCP, .weight = 1 };
	const struct backend_verb *verb;
	struct qlb_vip_entry *v = NULL;
	struct qlb_opts_result res;
	struct qlb_state *st = NULL;
	struct qlb_error e = {};
	char why[160], buf[64];
	int err, is_list;

	err = qlb_opts_parse(&backend_spec, argc, argv, &a, &res);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	verb = QLB_CLI_FIND_VERB("backend", QLB_CLI_VERB(&res), backend_verbs, "add, set, del or list");
	if (!verb)
		return QLB_EXIT_USAGE;
	a.have_weight = qlb_opts_given(&backend_spec, &res, "weight");
	is_list = verb->run == backend_list;
	if ((a.have_weight && !verb->weight) || ((a.drain || a.undrain) && !verb->drain))
		return qlb_usage_error(verb->weight ? "'backend %s' takes no --drain; add, then "
				       "'backend set --drain'" : "'backend %s' takes no "
				       "--weight/--drain", verb->name);
	if (is_list) {
		err = res.npos > 2 ? qlb_cli_need_args(res.pos + 1, res.npos - 1, 1, "") : 0;
		if (!err && res.npos == 2)
			err = qlb_cli_vip_key(res.pos[1], a.proto, &a.key);
	} else {
		err = qlb_cli_need_args(res.pos + 1, res.npos - 1, 2,
					"VIP and backend address (VIP ADDR[:PORT])");
		if (!err)
			err = qlb_cli_vip_key(res.pos[1], a.proto, &a.key);
		if (!err && qlb_parse_endpoint(res.pos[2], 0, &a.ep, why, sizeof(why))) {
			qlb_err("%s", why);
			err = -EINVAL;
		}
	}
	if (err)
		return qlb_exit_code(err);

	err = qlb_state_open(&st, 0, verb->writes, &e);
	if (err)
		return qlb_fail(err, &e);
	err = qlb_state_read(st);
	if (!err && (!is_list || res.npos == 2)) {
		v = qlb_find_vip(st, &a.key);
		if (!v) {
			qlb_err("unknown VIP %s %s", qlb_cli_vip_str(&a.key, buf, sizeof(buf)),
				qlb_proto_name(a.key.proto));
			err = -ENOENT;
		}
	}
	if (!err)
		err = verb->run(st, v, &a);
	qlb_state_close(st);
	return qlb_exit_code(err);
}
