// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `qlb vip add|set|del|list`. Each verb validates all of its input against
 * the pinned state before it writes anything, so a rejected command leaves
 * every map as it was.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <netinet/in.h>

#include "addr.h"
#include "args.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "opts.h"
#include "parse.h"
#include "policy.h"
#include "state.h"

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

struct vip_args {
	int proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	int policy;		/* enum qlb_policy_kind, -1 unset */
	int json;
	struct qlb_vip_key key;	/* of pos[1], once parsed */
};

static const struct qlb_opt vip_opts[] = {
	{ QLB_O_CHOICE("proto", 'p', "tcp|udp", struct vip_args, proto, qlb_cli_protos,
		       "transport protocol (default tcp)") },
	{ QLB_O_CUSTOM("policy", 'P', "NAME", struct vip_args, policy, parse_policy_opt,
		       "how the agent weighs the backends (default wrr):\n"
		       "rr, wrr, lc, p2c, lcpu, lram, dlbqt or qlb (see README)") },
	{ QLB_O_FLAG("json", 'j', struct vip_args, json, "machine-readable output (list)") },
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

/* The one line for a VIP that is not there, or a change that failed. */
static int vip_failed(const struct vip_args *a, int err, const char *verb)
{
	char buf[64];

	qlb_cli_vip_str(&a->key, buf, sizeof(buf));
	if (err == -EEXIST)
		qlb_err("VIP %s %s already exists", buf, qlb_proto_name(a->key.proto));
	else if (err == -ENOENT)
		qlb_err("unknown VIP %s %s", buf, qlb_proto_name(a->key.proto));
	else if (err == -ENOSPC)
		qlb_err("no room for another VIP (at most %d)", QLB_MAX_VIPS);
	else if (err)
		qlb_err("cannot %s VIP: %s", verb, strerror(-err));
	return err;
}

static int vip_add(struct qlb_state *st, const struct vip_args *a)
{
	char why[96], buf[64];
	int err;

	if (qlb_addr_unicast(&a->key.addr, a->key.family, why, sizeof(why))) {
		qlb_err("VIP %s is %s: no client can reach it through a balancer",
			qlb_cli_vip_str(&a->key, buf, sizeof(buf)), why);
		return -EINVAL;
	}
	err = qlb_vip_add(st, &a->key, NULL);

	if (!err && a->policy >= 0)
		err = qlb_vip_set_policy(st, &a->key, (uint32_t)a->policy);
	return vip_failed(a, err, "add");
}

static int vip_set(struct qlb_state *st, const struct vip_args *a)
{
	return vip_failed(a, qlb_vip_set_policy(st, &a->key, (uint32_t)a->policy), "set");
}

static int vip_del(struct qlb_state *st, const struct vip_args *a)
{
	return vip_failed(a, qlb_vip_del(st, &a->key), "delete");
}

static int count_backends(struct qlb_state *st, uint32_t vip_id)
{
	int i, n = 0;

	for (i = 0; i < QLB_MAX_BACKENDS; i++)
		n += (st->backends[i].flags & QLB_BE_F_IN_USE) &&
		     st->backends[i].vip_id == vip_id;
	return n;
}

static int vip_list(struct qlb_state *st, const struct vip_args *a)
{
	json_t *arr = json_array();
	char buf[64];
	int i;

	if (!a->json)
		printf("%-28s %-5s %4s %-7s %8s %8s\n", "VIP", "PROTO", "ID", "POLICY", "BACKENDS",
		       "RING_GEN");
	for (i = 0; i < st->nvips; i++) {
		const struct qlb_vip_entry *v = &st->vips[i];

		qlb_cli_vip_str(&v->key, buf, sizeof(buf));
		if (a->json)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:i,s:s,s:i,s:i}",
				"vip", buf, "proto", qlb_proto_name(v->key.proto),
				"id", (int)v->val.vip_id, "policy", qlb_policy_name(v->val.policy),
				"backends", count_backends(st, v->val.vip_id),
				"ring_gen", (int)v->val.ring_gen));
		else
			printf("%-28s %-5s %4u %-7s %8d %8u\n", buf, qlb_proto_name(v->key.proto),
			       v->val.vip_id, qlb_policy_name(v->val.policy),
			       count_backends(st, v->val.vip_id), v->val.ring_gen);
	}
	if (a->json) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(arr);
	return 0;
}

static const struct vip_verb {
	const char *name;
	int (*run)(struct qlb_state *st, const struct vip_args *a);
	int takes_vip;		/* ADDR:PORT after the verb */
	int writes;		/* takes the writers' lock */
	int creates;		/* creates the pins when there are none */
	int policy;		/* --policy: 1 required, 0 allowed, -1 refused */
} vip_verbs[] = {
	{ "add", vip_add, 1, 1, 1, 0 },
	{ "set", vip_set, 1, 1, 0, 1 },
	{ "del", vip_del, 1, 1, 0, -1 },
	{ "list", vip_list, 0, 0, 0, -1 },
	{ "show", vip_list, 0, 0, 0, -1 },
};

int cmd_vip(int argc, char **argv)
{
	struct vip_args a = { .proto = IPPROTO_TCP, .policy = -1 };
	const struct vip_verb *verb;
	struct qlb_opts_result res;
	struct qlb_state *st = NULL;
	struct qlb_error e = {};
	int err;

	err = qlb_opts_parse(&vip_spec, argc, argv, &a, &res);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	verb = QLB_CLI_FIND_VERB("vip", QLB_CLI_VERB(&res), vip_verbs, "add, set, del or list");
	if (!verb)
		return QLB_EXIT_USAGE;
	if (verb->policy > 0 && a.policy < 0)
		return qlb_usage_error("nothing to set: give --policy");
	if (verb->policy < 0 && a.policy >= 0)
		return qlb_usage_error("'vip %s' takes no --policy", verb->name);
	err = qlb_cli_need_args(res.pos + 1, res.npos - 1, verb->takes_vip,
				"VIP address ADDR:PORT");
	if (!err && verb->takes_vip)
		err = qlb_cli_vip_key(res.pos[1], a.proto, &a.key);
	if (err)
		return qlb_exit_code(err);

	err = qlb_state_open(&st, verb->creates, verb->writes, &e);
	if (err)
		return qlb_fail(err, &e);
	err = qlb_state_read(st);
	if (!err)
		err = verb->run(st, &a);
	qlb_state_close(st);
	return qlb_exit_code(err);
}
