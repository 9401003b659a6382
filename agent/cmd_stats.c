// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `qlb stats`, `qlb status` and `qlb conn`: read-only views of the state. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <jansson.h>

#include "opts.h"
#include "policy.h"
#include "qlb.h"

struct stats_args {
	int json;
	double watch;
	uint32_t count;
};

static const struct qlb_opt stats_opts[] = {
	{ QLB_O_FLAG("json", 'j', struct stats_args, json, "one JSON object per report") },
	{ QLB_O_DOUBLE("watch", 'w', "SECONDS", struct stats_args, watch, 0.1, 3600,
		       "report every SECONDS with rates over the interval,\n"
		       "until interrupted") },
	{ QLB_O_U32("count", 'c', "N", struct stats_args, count, 1, UINT32_MAX,
		    "with --watch: stop after N reports") },
	QLB_OPT_END
};

static const struct qlb_cmd_spec stats_spec = {
	.name = "stats",
	.synopsis =
	"Usage: qlb stats [--json] [--watch SECONDS [--count N]]\n"
	"\n"
	"Counters per VIP and per backend, summed over CPUs, and the reason\n"
	"counters of every packet the program saw. ACTIVE = new - closed - expired.\n"
	"LAMBDA (arrivals/s), MU (estimated capacity/s), RHO and W (the DLBQT\n"
	"paper's rho / (mu (1 - rho))) come from the agent's last window, with\n"
	"WEIGHT, the weight the ring was built with; '-' when no agent ran.\n"
	"Response time (RT) runs from a request's first packet to the first\n"
	"response packet, as seen by the balancer.\n",
	.opts = stats_opts,
};

struct status_args {
	int json;
};

static const struct qlb_opt status_opts[] = {
	{ QLB_O_FLAG("json", 'j', struct status_args, json, "machine-readable output") },
	QLB_OPT_END
};

static const struct qlb_cmd_spec status_spec = {
	.name = "status",
	.synopsis =
	"Usage: qlb status [--json]\n"
	"\n"
	"Where qlb is attached, how, and how much state it holds.\n",
	.opts = status_opts,
};

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

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static const char *health_name(const struct qlb_backend *b)
{
	if (b->flags & QLB_BE_F_DOWN)
		return "down";
	return b->flags & QLB_BE_F_DRAIN ? "draining" : "up";
}

static json_t *backend_json(struct qlb_state *st, int id, const struct qlb_backend_stats *s,
			    const struct qlb_backend_stats *prev, double dt)
{
	const struct qlb_backend *b = &st->backends[id];
	struct qlb_backend_est e = {};
	uint64_t done = s->flows_closed + s->flows_expired;
	__u32 key = id;
	char buf[64];
	json_t *o;

	/* Estimates exist while an agent runs (or ran: updated_ns says when). */
	bpf_map_lookup_elem(st->maps.backend_est, &key, &e);
	qlb_format_endpoint(&b->addr, b->family, ntohs(b->port), buf, sizeof(buf));
	o = json_pack("{s:s,s:i,s:i,s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f}",
		      "backend", buf, "id", id, "weight", (int)b->weight,
		      "ring_weight", (int)b->ring_weight, "health", health_name(b),
		      "flows_new", (json_int_t)s->flows_new,
		      "flows_closed", (json_int_t)s->flows_closed,
		      "flows_expired", (json_int_t)s->flows_expired,
		      "flows_active", (json_int_t)(s->flows_new > done ? s->flows_new - done : 0),
		      "packets_to", (json_int_t)s->packets_to,
		      "bytes_to", (json_int_t)s->bytes_to,
		      "packets_from", (json_int_t)s->packets_from,
		      "bytes_from", (json_int_t)s->bytes_from,
		      "rt_samples", (json_int_t)s->rt_count,
		      "rt_mean_us", s->rt_count ? s->rt_sum_ns / 1e3 / s->rt_count : 0.0,
		      "rt_p50_us", qlb_rt_percentile_us(s->rt_hist, 50),
		      "rt_p99_us", qlb_rt_percentile_us(s->rt_hist, 99));
	json_object_set_new(o, "duration_samples", json_integer((json_int_t)s->dur_count));
	json_object_set_new(o, "duration_mean_us",
			    json_real(s->dur_count ? s->dur_sum_ns / 1e3 / s->dur_count : 0.0));
	json_object_set_new(o, "refused", json_integer((json_int_t)s->refused));
	if (e.updated_ns)
		json_object_set_new(o, "estimate", json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:s}",
			"lambda", e.lambda_milli / 1e3, "mu", e.mu_milli / 1e3,
			"rho", e.rho_micro / 1e6, "w_paper_s", e.w_paper_ns / 1e9,
			"t_system_s", e.t_system_ns / 1e9, "share", e.share_micro / 1e6,
			"policy", qlb_policy_name(e.policy)));
	if (prev && dt > 0)
		json_object_set_new(o, "flows_new_per_s",
				    json_real((s->flows_new - prev->flows_new) / dt));
	return o;
}

/* Builds one report; prev (may be NULL) turns counters into rates. */
static json_t *stats_json(struct qlb_state *st, const struct qlb_stats_snapshot *cur,
			  const struct qlb_stats_snapshot *prev)
{
	json_t *root = json_object(), *vips = json_array(), *reasons = json_object();
	double dt = prev ? cur->at - prev->at : 0;
	char buf[64];
	int i, j;

	for (i = 0; i < st->nvips; i++) {
		const struct qlb_vip_entry *v = &st->vips[i];
		const struct qlb_vip_stats *vs = &cur->vip[v->val.vip_id];
		uint64_t sum[4] = {};
		json_t *o, *bes = json_array();

		for (j = 0; j < QLB_MAX_BACKENDS; j++) {
			const struct qlb_backend *b = &st->backends[j];
			const struct qlb_backend_stats *s = &cur->be[j];

			if (!(b->flags & QLB_BE_F_IN_USE) || b->vip_id != v->val.vip_id)
				continue;
			json_array_append_new(bes, backend_json(st, j, s,
				prev ? &prev->be[j] : NULL, dt));
			sum[0] += s->packets_to;
			sum[1] += s->bytes_to;
			sum[2] += s->packets_from;
			sum[3] += s->bytes_from;
		}
		qlb_format_endpoint(&v->key.addr, v->key.family, ntohs(v->key.port), buf,
				    sizeof(buf));
		/* Packet and byte totals are over the backends it has now. */
		o = json_pack("{s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:o}",
			      "vip", buf, "proto", qlb_proto_name(v->key.proto),
			      "id", (int)v->val.vip_id,
			      "flows_new", (json_int_t)vs->flows_new,
			      "packets_to", (json_int_t)sum[0],
			      "bytes_to", (json_int_t)sum[1],
			      "packets_from", (json_int_t)sum[2],
			      "bytes_from", (json_int_t)sum[3],
			      "no_backend", (json_int_t)vs->no_backend,
			      "backends", bes);
		json_array_append_new(vips, o);
	}
	for (i = 0; i < QLB_R_MAX; i++)
		json_object_set_new(reasons, qlb_reason_name(i),
				    json_pack("{s:I,s:I}",
					      "packets", (json_int_t)cur->reason[i].packets,
					      "bytes", (json_int_t)cur->reason[i].bytes));
	json_object_set_new(root, "interval_s", json_real(dt));
	json_object_set_new(root, "vips", vips);
	json_object_set_new(root, "reasons", reasons);
	return root;
}

static void print_stats_text(json_t *r)
{
	json_t *v, *b, *reasons = json_object_get(r, "reasons"), *val;
	double dt = json_real_value(json_object_get(r, "interval_s"));
	const char *name;
	size_t i, j;

	json_array_foreach(json_object_get(r, "vips"), i, v) {
		printf("VIP %s %s: flows %lld, packets to/from %lld/%lld, bytes to/from %lld/%lld, no-backend drops %lld\n",
		       json_string_value(json_object_get(v, "vip")),
		       json_string_value(json_object_get(v, "proto")),
		       json_integer_value(json_object_get(v, "flows_new")),
		       json_integer_value(json_object_get(v, "packets_to")),
		       json_integer_value(json_object_get(v, "packets_from")),
		       json_integer_value(json_object_get(v, "bytes_to")),
		       json_integer_value(json_object_get(v, "bytes_from")),
		       json_integer_value(json_object_get(v, "no_backend")));
		printf("  %-22s %-8s %6s %8s %8s %6s %9s %9s %7s %8s %8s %8s %8s%s\n",
		       "BACKEND", "HEALTH", "WEIGHT", "NEW", "CLOSED", "ACTIVE", "LAMBDA", "MU",
		       "RHO", "W", "RT_MEAN", "RT_P50", "RT_P99", dt > 0 ? "    NEW/S" : "");
		json_array_foreach(json_object_get(v, "backends"), j, b) {
			json_t *e = json_object_get(b, "estimate");
			char lam[16] = "-", mu[16] = "-", rho[16] = "-", w[16] = "-";

			if (e) {
				snprintf(lam, sizeof(lam), "%.1f", json_real_value(json_object_get(e, "lambda")));
				snprintf(mu, sizeof(mu), "%.1f", json_real_value(json_object_get(e, "mu")));
				snprintf(rho, sizeof(rho), "%.3f", json_real_value(json_object_get(e, "rho")));
				snprintf(w, sizeof(w), "%.2fms",
					 1e3 * json_real_value(json_object_get(e, "w_paper_s")));
			}
			printf("  %-22s %-8s %6lld %8lld %8lld %6lld %9s %9s %7s %8s %6.0fus %6.0fus %6.0fus",
			       json_string_value(json_object_get(b, "backend")),
			       json_string_value(json_object_get(b, "health")),
			       json_integer_value(json_object_get(b, "ring_weight")),
			       json_integer_value(json_object_get(b, "flows_new")),
			       json_integer_value(json_object_get(b, "flows_closed")) +
			       json_integer_value(json_object_get(b, "flows_expired")),
			       json_integer_value(json_object_get(b, "flows_active")),
			       lam, mu, rho, w,
			       json_real_value(json_object_get(b, "rt_mean_us")),
			       json_real_value(json_object_get(b, "rt_p50_us")),
			       json_real_value(json_object_get(b, "rt_p99_us")));
			if (dt > 0)
				printf(" %9.1f", json_real_value(json_object_get(b, "flows_new_per_s")));
			putchar('\n');
		}
	}
	printf("Packets by reason:\n");
	json_object_foreach(reasons, name, val) {
		json_int_t p = json_integer_value(json_object_get(val, "packets"));

		if (p)
			printf("  %-24s %12lld packets %14lld bytes\n", name, p,
			       json_integer_value(json_object_get(val, "bytes")));
	}
}

int cmd_stats(int argc, char **argv)
{
	struct qlb_stats_snapshot *cur = NULL, *prev = NULL, *tmp;
	struct stats_args a = {};
	struct qlb_opts_result res;
	struct qlb_state *st = NULL;
	uint32_t n;
	int err;

	err = qlb_opts_parse(&stats_spec, argc, argv, &a, &res);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	if (a.count && !a.watch) {
		qlb_err("--count needs --watch");
		return QLB_EXIT_USAGE;
	}

	err = qlb_state_open(&st, 0, 0);
	if (err)
		return qlb_exit_code(err);
	cur = calloc(1, sizeof(*cur));
	prev = calloc(1, sizeof(*prev));
	if (!cur || !prev) {
		err = -ENOMEM;
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (n = 0; !stop_requested; n++) {
		json_t *report;

		err = qlb_state_read(st);
		if (!err)
			err = qlb_stats_read(st, cur);
		if (err) {
			qlb_err("cannot read counters: %s", strerror(-err));
			break;
		}
		report = stats_json(st, cur, n ? prev : NULL);
		if (a.json) {
			json_dumpf(report, stdout, a.watch ? JSON_COMPACT : JSON_INDENT(2));
			putchar('\n');
		} else {
			if (a.watch && isatty(STDOUT_FILENO))
				fputs("\033[H\033[2J", stdout);
			print_stats_text(report);
			if (a.watch)
				putchar('\n');
		}
		fflush(stdout);
		json_decref(report);
		if (!a.watch || (a.count && n + 1 >= a.count))
			break;
		tmp = prev;
		prev = cur;
		cur = tmp;
		usleep((useconds_t)(a.watch * 1e6));
	}
out:
	free(cur);
	free(prev);
	qlb_state_close(st);
	return qlb_exit_code(err);
}

static int count_request_flow(const struct qlb_flow_entry *e, void *ctx)
{
	if (!(e->val.flags & QLB_FLOW_F_RESPONSE))
		++*(long *)ctx;
	return 0;
}

int cmd_status(int argc, char **argv)
{
	struct status_args a = {};
	struct qlb_opts_result res;
	struct qlb_state *st = NULL;
	json_t *root, *ifs;
	__u32 key, next, *prev = NULL;
	int err, nbackends = 0, i;
	long nflows = 0;

	err = qlb_opts_parse(&status_spec, argc, argv, &a, &res);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	err = qlb_state_open(&st, 0, 0);
	if (!err)
		err = qlb_state_read(st);
	if (err) {
		qlb_state_close(st);
		return qlb_exit_code(err);
	}
	for (i = 0; i < QLB_MAX_BACKENDS; i++)
		nbackends += !!(st->backends[i].flags & QLB_BE_F_IN_USE);
	ifs = json_array();
	while (!bpf_map_get_next_key(st->maps.ifaces, prev, &next)) {
		struct qlb_iface info;
		char path[512];
		int link_fd;
		static const char *const modes[] = { "unspec", "native", "generic", "hw" };

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(st->maps.ifaces, &key, &info))
			continue;
		snprintf(path, sizeof(path), "%s/link_%s", st->pin_dir, info.name);
		link_fd = bpf_obj_get(path);
		if (link_fd >= 0)
			close(link_fd);
		json_array_append_new(ifs, json_pack("{s:s,s:i,s:s,s:s,s:s}",
			"iface", info.name, "ifindex", (int)info.ifindex,
			"role", info.role == (QLB_IF_CLIENT | QLB_IF_BACKEND) ? "client+backend" :
				info.role & QLB_IF_CLIENT ? "client" : "backend",
			"mode", info.xdp_mode < 4 ? modes[info.xdp_mode] : "?",
			"attachment", link_fd >= 0 ? "bpf_link" : "libxdp-dispatcher"));
	}
	qlb_flows_foreach(st, count_request_flow, &nflows);
	root = json_pack("{s:s,s:o,s:i,s:i,s:I,s:I}", "pin_dir", st->pin_dir,
			 "interfaces", ifs, "vips", st->nvips, "backends", nbackends,
			 "flows", (json_int_t)nflows,
			 "flow_capacity", (json_int_t)QLB_FLOW_TABLE_SIZE);
	if (a.json) {
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		json_t *f;
		size_t idx;

		printf("pin directory: %s\n", st->pin_dir);
		if (!json_array_size(ifs))
			printf("not attached to any interface\n");
		json_array_foreach(ifs, idx, f)
			printf("attached: %-12s ifindex %-4lld role %-15s mode %-8s via %s\n",
			       json_string_value(json_object_get(f, "iface")),
			       json_integer_value(json_object_get(f, "ifindex")),
			       json_string_value(json_object_get(f, "role")),
			       json_string_value(json_object_get(f, "mode")),
			       json_string_value(json_object_get(f, "attachment")));
		printf("vips: %d, backends: %d, flows: %ld (tables hold %d entries per family, two per flow)\n",
		       st->nvips, nbackends, nflows, QLB_FLOW_TABLE_SIZE);
	}
	json_decref(root);
	qlb_state_close(st);
	return 0;
}

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

int cmd_conn(int argc, char **argv)
{
	struct conn_args a = { .limit = 100 };
	struct conn_filter f = {};
	struct qlb_opts_result res;
	struct timespec now;
	int err;

	err = qlb_opts_parse(&conn_spec, argc, argv, &a, &res);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	if (res.npos != 1 || strcmp(res.pos[0], "list"))
		return qlb_usage_error(res.npos ? "unknown conn command '%s': want list" :
				       "missing command: want 'conn list'", res.pos[0]);
	f.client = a.client;
	f.backend = a.backend;
	f.only_open = a.only_open;
	f.limit = a.limit;
	err = qlb_state_open(&f.st, 0, 0);
	if (!err)
		err = qlb_state_read(f.st);
	if (err) {
		qlb_state_close(f.st);
		return qlb_exit_code(err);
	}
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
