// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `qlb vip ...` and `qlb backend ...`: configuration commands. Each one
 * validates all of its input against the pinned state before it writes
 * anything, so a rejected command leaves every map as it was.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <jansson.h>

#include "doctor.h"
#include "opts.h"
#include "policy.h"
#include "qlb.h"

static int parse_policy_opt(const char *s, void *dst, char *why, size_t len)
{
	int p = qlb_policy_parse(s);

	if (p < 0 || p == QLB_POLICY_ORACLE) {
		snprintf(why, len, "want rr, wrr, lc, p2c, lcpu, lram, dlbqt or qlb");
		return -EINVAL;
	}
	*(int *)dst = p;
	return 0;
}

struct config_args {
	const char *verb;
	const char *pos[3];
	int npos;
	int proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	int have_weight;
	uint32_t weight;
	int drain;		/* 1 drain, -1 undrain, 0 unchanged */
	int drain_flag, undrain_flag;
	int json;
	int policy;		/* enum qlb_policy_kind, -1 unset */
};

static const struct qlb_opt_choice protos[] = {
	{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP }, { NULL, 0 }
};

#define PROTO_OPT(help) \
	{ QLB_O_CHOICE("proto", 'p', "tcp|udp", struct config_args, proto, protos, help) }
#define JSON_OPT { QLB_O_FLAG("json", 'j', struct config_args, json, "machine-readable output (list)") }

static const struct qlb_opt vip_opts[] = {
	PROTO_OPT("transport protocol (default tcp)"),
	{ QLB_O_CUSTOM("policy", 'P', "NAME", struct config_args, policy, parse_policy_opt,
		       "how the agent weighs the backends (default wrr):\n"
		       "rr, wrr, lc, p2c, lcpu, lram, dlbqt or qlb (see README)") },
	JSON_OPT,
	QLB_OPT_END
};

static const struct qlb_cmd_spec vip_spec = {
	.name = "vip",
	.synopsis =
	"Usage: qlb vip add ADDR:PORT [--proto tcp|udp] [--policy NAME]\n"
	"       qlb vip set ADDR:PORT [--proto tcp|udp] --policy NAME\n"
	"       qlb vip del ADDR:PORT [--proto tcp|udp]\n"
	"       qlb vip list [--json]\n"
	"\n"
	"Manage virtual IPs. IPv6 addresses go in brackets: [2001:db8::1]:80.\n",
	.epilog = "Deleting a VIP deletes its backends; its established flows stop.\n",
	.opts = vip_opts,
	.max_pos = 2,
};

static const struct qlb_opt backend_opts[] = {
	{ QLB_O_U32("weight", 'w', "W", struct config_args, weight, 0, QLB_MAX_WEIGHT,
		    "share of new flows, 0-65535 (default 1); the ring\n"
		    "gives each backend W / sum(W) of its slots") },
	{ QLB_O_FLAG("drain", 'd', struct config_args, drain_flag,
		     "take no new flows; established flows stay"), .group = 1 },
	{ QLB_O_FLAG("undrain", 'u', struct config_args, undrain_flag, "take new flows again"),
	  .group = 1 },
	PROTO_OPT("the VIP's protocol (default tcp)"),
	JSON_OPT,
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

/* 0, 1 after --help, or -EINVAL (reported). */
static int parse_config_args(int argc, char **argv, const struct qlb_cmd_spec *spec,
			     struct config_args *a)
{
	struct qlb_opts_result res;
	int err;

	memset(a, 0, sizeof(*a));
	a->proto = IPPROTO_TCP;
	a->weight = 1;
	a->policy = -1;
	err = qlb_opts_parse(spec, argc, argv, a, &res);
	if (err)
		return err;
	if (!res.npos) {
		qlb_err("missing command (see qlb %s --help)", spec->name);
		return -EINVAL;
	}
	a->verb = res.pos[0];
	for (unsigned int i = 1; i < res.npos; i++)
		a->pos[a->npos++] = res.pos[i];
	a->have_weight = qlb_opts_given(spec, &res, "weight");
	a->drain = a->drain_flag ? 1 : a->undrain_flag ? -1 : 0;
	return 0;
}

static int parse_vip_key(const char *s, uint8_t proto, struct qlb_vip_key *k)
{
	struct qlb_endpoint ep;
	char err[160];

	if (qlb_parse_endpoint(s, 1, &ep, err, sizeof(err))) {
		qlb_err("%s", err);
		return -EINVAL;
	}
	memset(k, 0, sizeof(*k));
	k->addr = ep.addr;
	k->port = htons(ep.port);
	k->proto = proto;
	k->family = ep.family;
	return 0;
}

static const char *vip_str(const struct qlb_vip_key *k, char *buf, size_t len)
{
	return qlb_format_endpoint(&k->addr, k->family, ntohs(k->port), buf, len);
}

static int need_args(const struct config_args *a, int n, const char *what)
{
	if (a->npos < n) {
		qlb_err("missing %s (see --help)", what);
		return -EINVAL;
	}
	if (a->npos > n) {
		qlb_err("unexpected argument '%s'", a->pos[n]);
		return -EINVAL;
	}
	return 0;
}

/* ---- vip ---- */

static int vip_add(struct qlb_state *st, const struct qlb_vip_key *k, int policy)
{
	char buf[64];
	int err = qlb_vip_add(st, k, NULL);

	if (!err && policy >= 0)
		err = qlb_vip_set_policy(st, k, policy);

	if (err == -EEXIST)
		qlb_err("VIP %s %s already exists", vip_str(k, buf, sizeof(buf)),
			qlb_proto_name(k->proto));
	else if (err == -ENOSPC)
		qlb_err("no room for another VIP (at most %d)", QLB_MAX_VIPS);
	else if (err)
		qlb_err("cannot add VIP: %s", strerror(-err));
	return err;
}

static int vip_del(struct qlb_state *st, const struct qlb_vip_key *k)
{
	char buf[64];
	int err = qlb_vip_del(st, k);

	if (err == -ENOENT)
		qlb_err("unknown VIP %s %s", vip_str(k, buf, sizeof(buf)),
			qlb_proto_name(k->proto));
	else if (err)
		qlb_err("cannot delete VIP: %s", strerror(-err));
	return err;
}

static int vip_set(struct qlb_state *st, const struct qlb_vip_key *k, int policy)
{
	char buf[64];
	int err = qlb_vip_set_policy(st, k, policy);

	if (err == -ENOENT)
		qlb_err("unknown VIP %s %s", vip_str(k, buf, sizeof(buf)),
			qlb_proto_name(k->proto));
	else if (err)
		qlb_err("cannot set VIP: %s", strerror(-err));
	return err;
}

static int count_backends(struct qlb_state *st, uint32_t vip_id)
{
	int i, n = 0;

	for (i = 0; i < QLB_MAX_BACKENDS; i++)
		n += (st->backends[i].flags & QLB_BE_F_IN_USE) &&
		     st->backends[i].vip_id == vip_id;
	return n;
}

static int vip_list(struct qlb_state *st, int json)
{
	json_t *arr = json_array();
	char buf[64];
	int i;

	if (!json)
		printf("%-28s %-5s %4s %-7s %8s %8s\n", "VIP", "PROTO", "ID", "POLICY", "BACKENDS",
		       "RING_GEN");
	for (i = 0; i < st->nvips; i++) {
		const struct qlb_vip_entry *v = &st->vips[i];

		vip_str(&v->key, buf, sizeof(buf));
		if (json)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:i,s:s,s:i,s:i}",
				"vip", buf, "proto", qlb_proto_name(v->key.proto),
				"id", (int)v->val.vip_id, "policy", qlb_policy_name(v->val.policy),
				"backends", count_backends(st, v->val.vip_id),
				"ring_gen", (int)v->val.ring_gen));
		else
			printf("%-28s %-5s %4u %-7s %8d %8u\n", buf, qlb_proto_name(v->key.proto),
			       v->val.vip_id, qlb_policy_name(v->val.policy),
			       count_backends(st, v->val.vip_id),
			       v->val.ring_gen);
	}
	if (json) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(arr);
	return 0;
}

int cmd_vip(int argc, char **argv)
{
	struct qlb_state *st = NULL;
	struct config_args a;
	struct qlb_vip_key k;
	int err, is_list;

	err = parse_config_args(argc, argv, &vip_spec, &a);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	is_list = !strcmp(a.verb, "list") || !strcmp(a.verb, "show");
	if (!is_list && strcmp(a.verb, "add") && strcmp(a.verb, "del") && strcmp(a.verb, "set")) {
		qlb_err("unknown vip command '%s': want add, set, del or list", a.verb);
		return QLB_EXIT_USAGE;
	}
	if (!strcmp(a.verb, "set") && a.policy < 0) {
		qlb_err("nothing to set: give --policy");
		return QLB_EXIT_USAGE;
	}
	if (a.policy >= 0 && strcmp(a.verb, "set") && strcmp(a.verb, "add")) {
		qlb_err("'vip %s' takes no --policy", a.verb);
		return QLB_EXIT_USAGE;
	}
	err = need_args(&a, is_list ? 0 : 1, "VIP address ADDR:PORT");
	if (!err && !is_list)
		err = parse_vip_key(a.pos[0], a.proto, &k);
	if (err)
		return qlb_exit_code(err);

	err = qlb_state_open(&st, !strcmp(a.verb, "add"), !is_list);
	if (!err)
		err = qlb_state_read(st);
	if (!err) {
		if (is_list)
			err = vip_list(st, a.json);
		else if (!strcmp(a.verb, "add"))
			err = vip_add(st, &k, a.policy);
		else if (!strcmp(a.verb, "set"))
			err = vip_set(st, &k, a.policy);
		else
			err = vip_del(st, &k);
	}
	qlb_state_close(st);
	return qlb_exit_code(err);
}

/* ---- backend ---- */

static int backend_add(struct qlb_state *st, struct qlb_vip_entry *v,
		       const struct qlb_endpoint *ep, uint32_t weight)
{
	struct qlb_backend b = {};
	struct qlb_nexthop nh;
	char buf[64], why[160];
	uint32_t id;
	int err;

	qlb_format_endpoint(&ep->addr, ep->family, ep->port, buf, sizeof(buf));
	if (qlb_find_backend(st, v->val.vip_id, ep) >= 0) {
		qlb_err("backend %s already exists for this VIP", buf);
		return -EEXIST;
	}
	if (ep->family != v->key.family) {
		qlb_err("backend %s and VIP differ in address family (NAT mode needs the same)",
			buf);
		return -EINVAL;
	}
	err = qlb_resolve_nexthop(&ep->addr, ep->family, 3000, &nh, why, sizeof(why));
	if (err) {
		qlb_err("cannot reach backend %s: %s", buf, why);
		return err;
	}
	b.addr = ep->addr;
	b.port = htons(ep->port);
	b.family = ep->family;
	b.vip_id = v->val.vip_id;
	b.flags = QLB_BE_F_IN_USE;
	b.weight = weight;
	b.ifindex = nh.ifindex;
	memcpy(b.dmac, nh.dmac, 6);
	memcpy(b.smac, nh.smac, 6);
	err = qlb_backend_insert(st, &b, &id);
	if (!err)
		qlb_doctor_warn_backend(st, id);
	if (err == -ENOSPC)
		qlb_err("no room for another backend (at most %d)", QLB_MAX_BACKENDS);
	else if (err == -EOPNOTSUPP || err == -EINVAL)
		qlb_err("interface %u cannot transmit XDP frames: %s", b.ifindex,
			strerror(-err));
	else if (err)
		qlb_err("cannot add backend %s: %s", buf, strerror(-err));
	return err;
}

static int backend_change(struct qlb_state *st, struct qlb_vip_entry *v,
			  const struct qlb_endpoint *ep, const struct config_args *a)
{
	const struct qlb_backend *b;
	uint32_t flags;
	char buf[64];
	int id, err;

	id = qlb_find_backend(st, v->val.vip_id, ep);
	if (id < 0) {
		qlb_err("unknown backend %s for this VIP",
			qlb_format_endpoint(&ep->addr, ep->family, ep->port, buf, sizeof(buf)));
		return -ENOENT;
	}
	b = &st->backends[id];
	if (!strcmp(a->verb, "del")) {
		err = qlb_backend_remove(st, id);
	} else {
		if (!a->have_weight && !a->drain) {
			qlb_err("nothing to set: give --weight, --drain or --undrain");
			return -EINVAL;
		}
		flags = b->flags;
		if (a->drain > 0)
			flags |= QLB_BE_F_DRAIN;
		else if (a->drain < 0)
			flags &= ~QLB_BE_F_DRAIN;
		err = qlb_backend_update(st, id, a->have_weight ? a->weight : b->weight, flags);
	}
	if (err)
		qlb_err("cannot %s backend: %s", a->verb, strerror(-err));
	return err;
}

static const char *backend_state(const struct qlb_backend *b)
{
	if (b->flags & QLB_BE_F_DOWN)
		return "down";	/* failed the agent's health checks */
	if (b->flags & QLB_BE_F_DRAIN)
		return "draining";
	return b->weight ? "active" : "idle";
}

static int backend_list(struct qlb_state *st, const struct qlb_vip_key *only, int json)
{
	json_t *arr = json_array();
	char vbuf[64], bbuf[64], ifname[IF_NAMESIZE], mac[18];
	int i, j;

	for (i = 0; i < st->nvips; i++) {
		const struct qlb_vip_entry *v = &st->vips[i];

		if (only && memcmp(&v->key, only, sizeof(*only)))
			continue;
		vip_str(&v->key, vbuf, sizeof(vbuf));
		if (!json) {
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
			if (json)
				json_array_append_new(arr, json_pack(
					"{s:s,s:s,s:s,s:i,s:i,s:s,s:i,s:f,s:s,s:s}",
					"vip", vbuf, "proto", qlb_proto_name(v->key.proto),
					"backend", bbuf, "id", j, "weight", (int)b->weight,
					"state", backend_state(b), "slots", (int)b->ring_slots,
					"share", 100.0 * b->ring_slots / QLB_RING_SIZE,
					"iface", ifname, "mac", mac));
			else
				printf("  %-30s %5d %6u %-8s %6u %5.1f%%  %-10s %s\n", bbuf, j,
				       b->weight, backend_state(b), b->ring_slots,
				       100.0 * b->ring_slots / QLB_RING_SIZE, ifname, mac);
		}
	}
	if (json) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(arr);
	return 0;
}

int cmd_backend(int argc, char **argv)
{
	struct qlb_vip_entry *v = NULL;
	struct qlb_state *st = NULL;
	struct qlb_endpoint ep;
	struct config_args a;
	struct qlb_vip_key k;
	char why[160], buf[64];
	int err, is_list, is_add;

	err = parse_config_args(argc, argv, &backend_spec, &a);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	is_list = !strcmp(a.verb, "list") || !strcmp(a.verb, "show");
	is_add = !strcmp(a.verb, "add");
	if (!is_list && !is_add && strcmp(a.verb, "set") && strcmp(a.verb, "del")) {
		qlb_err("unknown backend command '%s': want add, set, del or list", a.verb);
		return QLB_EXIT_USAGE;
	}
	if (is_list) {
		if (a.npos > 1)
			err = need_args(&a, 1, "");
		else if (a.npos == 1)
			err = parse_vip_key(a.pos[0], a.proto, &k);
	} else {
		err = need_args(&a, 2, "VIP and backend address (VIP ADDR[:PORT])");
		if (!err)
			err = parse_vip_key(a.pos[0], a.proto, &k);
		if (!err && qlb_parse_endpoint(a.pos[1], 0, &ep, why, sizeof(why))) {
			qlb_err("%s", why);
			err = -EINVAL;
		}
		if (!err && !is_add && strcmp(a.verb, "set") && (a.have_weight || a.drain)) {
			qlb_err("'backend %s' takes no --weight/--drain", a.verb);
			err = -EINVAL;
		}
		if (!err && is_add && a.drain) {
			qlb_err("'backend add' takes no --drain; add, then 'backend set --drain'");
			err = -EINVAL;
		}
	}
	if (err)
		return qlb_exit_code(err);

	err = qlb_state_open(&st, 0, !is_list);
	if (!err)
		err = qlb_state_read(st);
	if (!err && (!is_list || a.npos)) {
		v = qlb_find_vip(st, &k);
		if (!v) {
			qlb_err("unknown VIP %s %s", vip_str(&k, buf, sizeof(buf)),
				qlb_proto_name(k.proto));
			err = -ENOENT;
		}
	}
	if (!err) {
		if (is_list)
			err = backend_list(st, a.npos ? &k : NULL, a.json);
		else if (is_add)
			err = backend_add(st, v, &ep, a.weight);
		else
			err = backend_change(st, v, &ep, &a);
	}
	qlb_state_close(st);
	return qlb_exit_code(err);
}
