// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `qlb conn list`: the flows in the connection table. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "addr.h"
#include "args.h"
#include "cli.h"
#include "flows.h"
#include "log.h"
#include "opts.h"
#include "parse.h"
#include "state.h"

static int parse_filter_endpoint(const char *s, void *dst, char *why, size_t len)
{
	return qlb_parse_endpoint(s, 0, dst, why, len);
}

struct conn_args {
	struct qlb_endpoint client, backend;
	int only_open, json;
	uint32_t limit;
};

static const struct qlb_opt conn_opts[] = {
	{ QLB_O_CUSTOM("client", 'c', "ADDR", struct conn_args, client, parse_filter_endpoint,
		       "only flows from this client address") },
	{ QLB_O_CUSTOM("backend", 'b', "ADDR", struct conn_args, backend, parse_filter_endpoint,
		       "only flows to this backend address") },
	{ QLB_O_FLAG("open", 'o', struct conn_args, only_open, "only flows with no FIN or RST seen") },
	{ QLB_O_U32("limit", 'l', "N", struct conn_args, limit, 1, 2 * QLB_FLOW_TABLE_SIZE,
		    "show at most N flows (default 100)") },
	{ QLB_O_FLAG("json", 'j', struct conn_args, json, "machine-readable output") },
	QLB_OPT_END
};

static const struct qlb_cmd_spec conn_spec = {
	.name = "conn",
	.synopsis =
	"Usage: qlb conn list [--client ADDR] [--backend ADDR] [--open] [--limit N] [--json]\n"
	"\n"
	"Flows in the connection table: client, VIP, backend, state and idle time.\n",
	.opts = conn_opts,
	.max_pos = 1,
};

/* An endpoint filter matches an address, and the port if it names one. */
static int endpoint_matches(const struct qlb_endpoint *want, const union qlb_addr *addr,
			    uint8_t family, uint16_t port)
{
	return want->family == family && !memcmp(&want->addr, addr, sizeof(*addr)) &&
	       (!want->port || want->port == port);
}

struct conn_filter {
	struct qlb_state *st;
	struct qlb_endpoint client, backend;
	int only_open;
	uint32_t limit, shown;
	double now_ns;
	json_t *out;
};

static int add_conn(const struct qlb_flow_entry *e, void *ctx)
{
	struct conn_filter *f = ctx;
	const struct qlb_backend *b;
	char cbuf[64], vbuf[64], bbuf[64];
	double idle;

	if (f->shown >= f->limit)
		return 1;
	/* A flow is shown once, by its request entry. */
	if ((e->val.flags & QLB_FLOW_F_RESPONSE) || e->val.backend_id >= QLB_MAX_BACKENDS)
		return 0;
	b = &f->st->backends[e->val.backend_id];
	if ((f->only_open && (e->val.flags & QLB_FLOW_F_CLOSED)) ||
	    (f->client.family && !endpoint_matches(&f->client, &e->saddr, e->family, e->sport)) ||
	    (f->backend.family && !endpoint_matches(&f->backend, &b->addr, b->family,
						    ntohs(b->port))))
		return 0;
	qlb_format_endpoint(&e->saddr, e->family, e->sport, cbuf, sizeof(cbuf));
	qlb_format_endpoint(&e->daddr, e->family, e->dport, vbuf, sizeof(vbuf));
	qlb_format_endpoint(&b->addr, b->family, ntohs(b->port), bbuf, sizeof(bbuf));
	idle = (f->now_ns - (double)e->val.last_seen_ns) / 1e9;
	json_array_append_new(f->out, json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:f}",
		"client", cbuf, "vip", vbuf, "proto", qlb_proto_name(e->proto),
		"backend", bbuf, "backend_id", (int)e->val.backend_id,
		"state", e->val.flags & QLB_FLOW_F_CLOSED ? "closed" : "open",
		"idle_s", idle < 0 ? 0.0 : idle));
	f->shown++;
	return 0;
}

/* A table of one, so that conn words a missing or unknown verb as the other
 * nouns do (qlb_cli_find_verb). */
static const struct conn_verb {
	const char *name;
} conn_verbs[] = {
	{ "list" },
};

int cmd_conn(int argc, char **argv)
{
	struct conn_args a = { .limit = 100 };
	struct qlb_error e = {};
	struct conn_filter f = {};
	struct qlb_opts_result res;
	struct timespec now;
	int err;

	err = qlb_opts_parse(&conn_spec, argc, argv, &a, &res);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	if (!QLB_CLI_FIND_VERB("conn", QLB_CLI_VERB(&res), conn_verbs, "list"))
		return QLB_EXIT_USAGE;
	f.client = a.client;
	f.backend = a.backend;
	f.only_open = a.only_open;
	f.limit = a.limit;
	err = qlb_state_open(&f.st, 0, 0, &e);
	if (err)
		return qlb_fail(err, &e);
	qlb_state_read(f.st);
	/* The data plane stamps flows with the monotonic clock at tick
	 * resolution. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	f.now_ns = now.tv_sec * 1e9 + now.tv_nsec;
	f.out = json_array();
	err = qlb_flows_foreach(f.st, add_conn, &f);
	if (a.json) {
		json_dumpf(f.out, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		json_t *o;
		size_t i;

		printf("%-5s %-30s %-30s %-30s %-7s %s\n", "PROTO", "CLIENT", "VIP",
		       "BACKEND", "STATE", "IDLE");
		json_array_foreach(f.out, i, o)
			printf("%-5s %-30s %-30s %-30s %-7s %.1fs\n",
			       json_string_value(json_object_get(o, "proto")),
			       json_string_value(json_object_get(o, "client")),
			       json_string_value(json_object_get(o, "vip")),
			       json_string_value(json_object_get(o, "backend")),
			       json_string_value(json_object_get(o, "state")),
			       json_real_value(json_object_get(o, "idle_s")));
	}
	json_decref(f.out);
	qlb_state_close(f.st);
	return qlb_exit_code(err);
}
