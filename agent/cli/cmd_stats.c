// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `qlb stats`: the counters per VIP, backend and reason, with the agent's
 * estimates, once or every few seconds. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <jansson.h>

#include "addr.h"
#include "cli.h"
#include "log.h"
#include "opts.h"
#include "parse.h"
#include "policy.h"
#include "state.h"
#include "stats.h"

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

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static json_t *backend_json(struct qlb_state *st, int id, const struct qlb_stats_snapshot *cur,
			    const struct qlb_backend_stats *prev, double dt)
{
	const struct qlb_backend_stats *s = &cur->be[id];
	const struct qlb_backend *b = &st->backends[id];
	struct qlb_backend_est e = {};
	__u32 key = id;
	char buf[64];
	json_t *o;

	/* Estimates exist while an agent runs (or ran: updated_ns says when). */
	bpf_map_lookup_elem(st->maps.backend_est, &key, &e);
	qlb_format_endpoint(&b->addr, b->family, ntohs(b->port), buf, sizeof(buf));
	o = json_pack("{s:s,s:i,s:i,s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f}",
		      "backend", buf, "id", id, "weight", (int)b->weight,
		      "ring_weight", (int)b->ring_weight, "health", qlb_backend_state_name(b),
		      "flows_new", (json_int_t)s->flows_new,
		      "flows_closed", (json_int_t)s->flows_closed,
		      "flows_expired", (json_int_t)s->flows_expired,
		      "flows_active", (json_int_t)qlb_flows_open(cur, id),
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
	json_object_set_new(o, "flows_evicted", json_integer((json_int_t)cur->evicted[id]));
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
	json_t *events = json_object();
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
			json_array_append_new(bes, backend_json(st, j, cur,
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
	for (i = 0; i < QLB_EV_MAX; i++)
		json_object_set_new(events, qlb_event_name(i),
				    json_integer((json_int_t)cur->event[i]));
	json_object_set_new(root, "interval_s", json_real(dt));
	json_object_set_new(root, "vips", vips);
	json_object_set_new(root, "reasons", reasons);
	json_object_set_new(root, "flood", json_pack("{s:i,s:i}", "cpus_flooding",
						      (int)cur->flooding_cpus, "cpus", st->ncpus));
	json_object_set_new(root, "events", events);
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
	v = json_object_get(r, "flood");
	printf("Flood mode: %s (%lld of %lld CPUs)\n",
	       json_integer_value(json_object_get(v, "cpus_flooding")) ? "ON" : "off",
	       json_integer_value(json_object_get(v, "cpus_flooding")),
	       json_integer_value(json_object_get(v, "cpus")));
	printf("Flow events:\n");
	json_object_foreach(json_object_get(r, "events"), name, val)
		if (json_integer_value(val))
			printf("  %-24s %12lld\n", name, json_integer_value(val));
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
	struct qlb_error e = {};
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

	err = qlb_state_open(&st, 0, 0, &e);
	if (err)
		return qlb_fail(err, &e);
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

