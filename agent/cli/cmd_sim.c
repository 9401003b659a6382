// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `qlb sim`: compare scheduling policies on simulated backends. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cli.h"
#include "forecast.h"
#include "log.h"
#include "opts.h"
#include "parse.h"
#include "sim.h"

#define MU_UNIT 100.0		/* --mu-ratio 1 = 100 requests/s */
#define MAX_LIST 1024		/* entries in --mu, --mu-ratio, --weights */
#define MAX_BACKENDS_CLI 1000000u

struct cli {
	int policies[QLB_POLICY_MAX * 4];
	uint32_t npolicies, nbackends, servers, queue;
	struct num_list {
		double v[MAX_LIST];
		uint32_t n;
	} mu, mu_ratio, weights;
	int service;		/* enum sim_service */
	struct arrivals_arg {
		enum sim_arrivals kind;
		const char *trace;
	} arrivals;
	double load, window, warmup, refused_hold;
	uint64_t requests, seed;
	int no_cpu, occupancy, forecast, json;
	const char *trace_estimates;
};

/* --trace-estimates: one CSV row per backend and window of every policy. */
struct estimate_trace {
	FILE *f;
	const char *policy;
};

static void trace_window(void *ctx, double t, const struct qlb_obs *obs, const uint32_t *weights,
			 const struct qlb_est *est, uint32_t n)
{
	struct estimate_trace *tr = ctx;

	for (uint32_t i = 0; i < n; i++)
		fprintf(tr->f, "%s,%.3f,%u,%.6g,%.6g,%.6g,%.6g,%.6g,%u,%llu,%llu,%.6g\n", tr->policy, t,
			i, obs[i].true_mu, est[i].mu, est[i].lambda, obs[i].active, est[i].share,
			weights[i], (unsigned long long)obs[i].arrivals,
			(unsigned long long)obs[i].completions, obs[i].rt_mean_s);
}

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* Positive numbers separated by sep. */
static int parse_numbers(const char *s, char sep, struct num_list *l, char *why, size_t len)
{
	const char *p = s;

	l->n = 0;
	for (;;) {
		char tok[64];
		size_t n = strcspn(p, (char[]){ sep, '\0' });

		if (l->n == MAX_LIST || n >= sizeof(tok) || !n ||
		    (memcpy(tok, p, n), tok[n] = '\0', qlb_parse_double(tok, 1e-9, 1e12, &l->v[l->n]))) {
			snprintf(why, len, "want positive numbers separated by '%c' (at most %d)", sep,
				 MAX_LIST);
			return -EINVAL;
		}
		l->n++;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

static int parse_mu(const char *s, void *dst, char *why, size_t len)
{
	return parse_numbers(s, ',', dst, why, len);
}

static int parse_mu_ratio(const char *s, void *dst, char *why, size_t len)
{
	return parse_numbers(s, ':', dst, why, len);
}

static int parse_weights(const char *s, void *dst, char *why, size_t len)
{
	struct num_list *l = dst;
	int err = parse_numbers(s, ',', l, why, len);

	for (uint32_t i = 0; !err && i < l->n; i++)
		if (l->v[i] != floor(l->v[i]) || l->v[i] > 65535)
			err = -EINVAL;
	if (err)
		snprintf(why, len, "want whole numbers 1..65535 separated by ','");
	return err;
}

static int parse_policies(const char *s, void *dst, char *why, size_t len)
{
	struct cli *c = container_of(dst, struct cli, policies);
	char buf[256], *save = NULL;

	c->npolicies = 0;
	if (!strcmp(s, "all")) {
		for (int k = 0; k < QLB_POLICY_MAX; k++)
			c->policies[c->npolicies++] = k;
		return 0;
	}
	if (strlen(s) >= sizeof(buf)) {
		snprintf(why, len, "list too long");
		return -EINVAL;
	}
	strcpy(buf, s);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int k = qlb_policy_parse(tok);

		if (k < 0) {
			snprintf(why, len, "unknown policy '%s': want a list of rr, wrr, lc, p2c, "
				 "lcpu, lram, dlbqt, qlb, oracle, or all", tok);
			return -EINVAL;
		}
		if (c->npolicies == sizeof(c->policies) / sizeof(c->policies[0])) {
			snprintf(why, len, "too many policies");
			return -EINVAL;
		}
		c->policies[c->npolicies++] = k;
	}
	if (!c->npolicies) {
		snprintf(why, len, "empty list");
		return -EINVAL;
	}
	return 0;
}

static int parse_arrivals(const char *s, void *dst, char *why, size_t len)
{
	struct arrivals_arg *a = dst;

	a->trace = NULL;
	if (!strcmp(s, "poisson")) {
		a->kind = SIM_ARRIVALS_POISSON;
	} else if (!strcmp(s, "uniform")) {
		a->kind = SIM_ARRIVALS_UNIFORM;
	} else if (!strcmp(s, "onoff")) {
		a->kind = SIM_ARRIVALS_ONOFF;
	} else if (!strncmp(s, "trace:", 6) && s[6]) {
		a->kind = SIM_ARRIVALS_TRACE;
		a->trace = s + 6;
	} else {
		snprintf(why, len, "want poisson, uniform, onoff or trace:FILE");
		return -EINVAL;
	}
	return 0;
}

/* A whole number, written 1000000 or 1e6 alike. */
static int parse_count(const char *s, uint64_t hi, uint64_t *out, char *why, size_t len)
{
	double v;

	if (qlb_parse_double(s, 0, (double)hi, &v) || v != floor(v)) {
		snprintf(why, len, "want a whole number from 0 to %g", (double)hi);
		return -EINVAL;
	}
	*out = (uint64_t)v;
	return 0;
}

static int parse_requests(const char *s, void *dst, char *why, size_t len)
{
	int err = parse_count(s, 1000000000000ull, dst, why, len);

	if (!err && !*(uint64_t *)dst) {
		snprintf(why, len, "want at least 1");
		return -EINVAL;
	}
	return err;
}

static int parse_seed(const char *s, void *dst, char *why, size_t len)
{
	return parse_count(s, 1ull << 53, dst, why, len);
}

static const struct qlb_opt_choice services[] = {
	{ "exp", SIM_SERVICE_EXP }, { "det", SIM_SERVICE_DET }, { "pareto", SIM_SERVICE_PARETO },
	{ NULL, 0 }
};

static const struct qlb_opt sim_opts[] = {
	{ QLB_O_CUSTOM("policy", 0, "LIST", struct cli, policies, parse_policies,
		       "comma-separated policies, or all (default all):\n"
		       "rr, wrr, lc, p2c, lcpu, lram, dlbqt (the DLBQT\n"
		       "paper), qlb (ours), oracle (square-root split on\n"
		       "the true rates)") },
	{ QLB_O_U32("backends", 0, "N", struct cli, nbackends, 1, MAX_BACKENDS_CLI,
		    "number of backends, 1..1000000 (default 2)") },
	{ QLB_O_CUSTOM("mu", 0, "LIST", struct cli, mu, parse_mu,
		       "per-server service rates in requests/s,\n"
		       "comma-separated, cycled over the backends"), .group = 1 },
	{ QLB_O_CUSTOM("mu-ratio", 0, "A:B:..", struct cli, mu_ratio, parse_mu_ratio,
		       "relative per-server rates, 1 = 100 requests/s,\n"
		       "cycled (default 3:1)"), .group = 1 },
	{ QLB_O_U32("servers", 0, "C", struct cli, servers, 1, 1024,
		    "parallel servers per backend (M/M/c), 1..1024\n"
		    "(default 1)") },
	{ QLB_O_CHOICE("service", 0, "KIND", struct cli, service, services,
		       "service times, mean 1/mu: exp, det, or pareto\n"
		       "(shape 2.2) (default exp)") },
	{ QLB_O_U32("queue", 0, "K", struct cli, queue, 0, 100000000,
		    "waiting room per backend; arrivals finding it full\n"
		    "are lost; 0 = none, only the servers (default 1000)") },
	{ QLB_O_CUSTOM("arrivals", 0, "KIND", struct cli, arrivals, parse_arrivals,
		       "poisson, uniform (inter-arrival U[0, 2/rate], as in\n"
		       "the paper), onoff (rate 1.8x / 0.2x, 5 s mean\n"
		       "periods), or trace:FILE (a gzip trace such as\n"
		       "data/traces/*, one row per window, scaled to\n"
		       "--load, Poisson within a window) (default poisson)") },
	{ QLB_O_DOUBLE("load", 0, "RHO", struct cli, load, 1e-6, 10,
		       "mean arrival rate / total capacity, (0, 10]\n"
		       "(default 0.7)") },
	{ QLB_O_CUSTOM("requests", 0, "N", struct cli, requests, parse_requests,
		       "requests to simulate (default 1000000)") },
	{ QLB_O_DOUBLE("window", 0, "S", struct cli, window, 1e-3, 3600,
		       "policy window, simulated seconds (default 1)") },
	{ QLB_O_DOUBLE("warmup", 0, "F", struct cli, warmup, 0, 0.9,
		       "leading fraction of requests left out of the\n"
		       "metrics, 0..0.9 (default 0.1)") },
	{ QLB_O_DOUBLE("refused-hold", 0, "S", struct cli, refused_hold, 0, 3600,
		       "an arrival lost at a full backend makes every pick\n"
		       "pass that backend over for S seconds, as the data\n"
		       "path does with one that refused a connection;\n"
		       "0 = never (default 1)") },
	{ QLB_O_CUSTOM("weights", 0, "LIST", struct cli, weights, parse_weights,
		       "the operator's weights (wrr; qlb's prior), cycled\n"
		       "(default 1 each)") },
	{ QLB_O_FLAG("no-cpu", 0, struct cli, no_cpu,
		     "hide cpu_util from the policies, as for an agent\n"
		     "without a metrics source (qlb then infers capacity\n"
		     "from response times)") },
	{ QLB_O_FLAG("occupancy", 0, struct cli, occupancy,
		     "qlb takes capacity from the open flows' busy time\n"
		     "where there is no cpu_util, as qlb agent --occupancy") },
	{ QLB_O_FLAG("forecast", 0, struct cli, forecast,
		     "give every policy the next window's true arrival\n"
		     "rate as its forecast (the most a forecaster could\n"
		     "add; without it only the oracle knows the rate)") },
	{ QLB_O_CUSTOM("seed", 0, "S", struct cli, seed, parse_seed, "random seed (default 1)") },
	{ QLB_O_FLAG("json", 0, struct cli, json, "print JSON instead of a table") },
	{ QLB_O_STR("trace-estimates", 0, "FILE", struct cli, trace_estimates,
		    "write each window's estimates to FILE as CSV:\n"
		    "policy, t, backend, true mu, mu_hat, lambda,\n"
		    "in system, share, weight, arrivals, completions,\n"
		    "mean response time (s)") },
	QLB_OPT_END
};

static const struct qlb_cmd_spec sim_spec = {
	.name = "sim",
	.synopsis =
	"Usage: qlb sim [options]\n"
	"\n"
	"Simulates the load balancer in front of N queueing backends and runs each\n"
	"policy on the same request stream (same seed: same arrivals, same request\n"
	"sizes). Every window the policy gets the observations the agent would\n"
	"measure and its weights route the next window (lc and p2c decide per\n"
	"request on the live active counts, like the data path).\n",
	.epilog =
	"\n"
	"Columns: mean, p50 and p99 response time (ms); loss (% of requests dropped at\n"
	"full queues); throughput (completed requests/s); Jain's fairness index and the\n"
	"imbalance factor beta = (max - min) / mean, both over backend utilisations.\n"
	"Exit status: 0 ok, 1 runtime failure, 2 bad input.\n",
	.opts = sim_opts,
};

/* 0 to run, 1 after --help, -errno on bad input (already reported). */
static int parse(int argc, char **argv, struct cli *c)
{
	struct qlb_opts_result res;

	*c = (struct cli){ .nbackends = 2, .servers = 1, .queue = 1000,
			   .mu_ratio = { .v = { 3, 1 }, .n = 2 }, .weights = { .v = { 1 }, .n = 1 },
			   .service = SIM_SERVICE_EXP, .arrivals = { SIM_ARRIVALS_POISSON, NULL },
			   .load = 0.7, .window = 1.0, .warmup = 0.1, .refused_hold = 1.0, .requests = 1000000,
			   .seed = 1 };
	parse_policies("all", c->policies, NULL, 0);
	return qlb_opts_parse(&sim_spec, argc, argv, c, &res);
}

/* A trace as one relative rate per window: as many rows as the run needs
 * (a rough count, the run cycles it anyway), capped to keep loading quick. */
static int load_trace(const struct cli *c, double capacity, struct fc_series *s)
{
	double windows = (double)c->requests / (c->load * capacity * c->window);
	struct fc_series_opts o = { .limit = (size_t)fmin(fmax(2 * windows + 16, 64), 1e7) };
	struct qlb_error err = {};
	int rc = fc_series_read(c->arrivals.trace, &o, s, &err);
	double sum = 0;

	if (rc) {
		qlb_err("--arrivals: %s", err.msg);
		return rc;
	}
	for (size_t i = 0; i < s->n; i++)
		sum += isfinite(s->v[i]) && s->v[i] > 0 ? s->v[i] : 0;
	if (!(sum > 0)) {
		qlb_err("--arrivals: %s has no requests in its first %zu rows", c->arrivals.trace, s->n);
		fc_series_free(s);
		return -EINVAL;
	}
	return 0;
}

static const char *service_name(enum sim_service s)
{
	return s == SIM_SERVICE_DET ? "det" : s == SIM_SERVICE_PARETO ? "pareto" : "exp";
}

static const char *arrivals_name(enum sim_arrivals a)
{
	static const char *const names[] = { "poisson", "uniform", "onoff", "trace" };

	return names[a];
}

/* JSON number, or null for NAN/infinity. */
static void json_num(const char *key, double v, int last)
{
	if (isfinite(v))
		printf("\"%s\": %.6g%s", key, v, last ? "" : ", ");
	else
		printf("\"%s\": null%s", key, last ? "" : ", ");
}

/* The rates given, per backend cycled. */
static uint32_t nmu(const struct cli *c)
{
	return c->mu.n ? c->mu.n : c->mu_ratio.n;
}

static void print_header(const struct cli *c, const struct sim_backend *be, double capacity)
{
	if (c->json) {
		printf("{\"scenario\": {\"backends\": %u, \"servers\": %u, \"mu\": [", c->nbackends,
		       c->servers);
		for (uint32_t i = 0; i < nmu(c) && i < c->nbackends; i++)
			printf("%s%.6g", i ? ", " : "", be[i].mu);
		printf("], \"service\": \"%s\", \"queue\": %u, \"arrivals\": \"%s\", ",
		       service_name(c->service), c->queue, arrivals_name(c->arrivals.kind));
		json_num("load", c->load, 0);
		json_num("arrival_rate", c->load * capacity, 0);
		printf("\"requests\": %llu, ", (unsigned long long)c->requests);
		json_num("window_s", c->window, 0);
		json_num("warmup", c->warmup, 0);
		printf("\"cpu_util\": %s, \"occupancy\": %s, \"forecast\": %s, \"seed\": %llu}, "
		       "\"results\": [",
		       c->no_cpu ? "false" : "true", c->occupancy ? "true" : "false",
		       c->forecast ? "true" : "false",
		       (unsigned long long)c->seed);
		return;
	}
	printf("%u backends x %u server%s, mu", c->nbackends, c->servers, c->servers > 1 ? "s" : "");
	for (uint32_t i = 0; i < nmu(c) && i < c->nbackends; i++)
		printf("%s%g", i ? "," : " ", be[i].mu);
	printf("%s/s, %s service, queue %u, %s arrivals at %.4g/s (load %.3g), %llu requests, "
	       "window %gs, warm-up %g%s%s%s, seed %llu\n",
	       nmu(c) < c->nbackends ? ",..." : "", service_name(c->service), c->queue,
	       arrivals_name(c->arrivals.kind), c->load * capacity, c->load,
	       (unsigned long long)c->requests, c->window, c->warmup, c->no_cpu ? ", no cpu_util" : "",
	       c->occupancy ? ", occupancy" : "", c->forecast ? ", perfect forecast" : "", (unsigned long long)c->seed);
	printf("%-8s %10s %10s %10s %8s %12s %7s %7s %8s\n", "policy", "mean_ms", "p50_ms", "p99_ms",
	       "loss_%", "thr_rps", "jain", "beta", "wall_s");
}

static void print_row(const struct cli *c, int k, const struct sim_result *r, double wall,
		      int first)
{
	if (c->json) {
		printf("%s{\"policy\": \"%s\", ", first ? "" : ", ", qlb_policy_name(k));
		json_num("mean_s", r->rt_mean_s, 0);
		json_num("p50_s", r->rt_p50_s, 0);
		json_num("p99_s", r->rt_p99_s, 0);
		json_num("loss", r->loss, 0);
		json_num("throughput", r->throughput, 0);
		json_num("jain", r->jain, 0);
		json_num("beta", r->beta, 0);
		printf("\"arrivals\": %llu, \"completions\": %llu, \"drops\": %llu, ",
		       (unsigned long long)r->arrivals, (unsigned long long)r->completions,
		       (unsigned long long)r->drops);
		json_num("sim_s", r->sim_s, 0);
		json_num("wall_s", wall, 1);
		printf("}");
		return;
	}
	printf("%-8s %10.3f %10.3f %10.3f %8.3f %12.1f %7.3f %7.3f %8.2f\n", qlb_policy_name(k),
	       r->rt_mean_s * 1e3, r->rt_p50_s * 1e3, r->rt_p99_s * 1e3, r->loss * 100,
	       r->throughput, r->jain, r->beta, wall);
}

int cmd_sim(int argc, char **argv)
{
	struct fc_series trace = { 0 };
	struct estimate_trace est_trace = { 0 };
	struct sim_backend *be;
	struct sim_config cfg;
	double capacity = 0;
	struct cli c;
	int rc;

	rc = parse(argc, argv, &c);
	if (rc)
		return rc > 0 ? 0 : QLB_EXIT_USAGE;
	be = calloc(c.nbackends, sizeof(*be));
	if (!be) {
		qlb_err("out of memory");
		return QLB_EXIT_FAIL;
	}
	for (uint32_t i = 0; i < c.nbackends; i++) {
		/* --mu in requests/s, else --mu-ratio (its default too). */
		be[i].mu = c.mu.n ? c.mu.v[i % c.mu.n] : c.mu_ratio.v[i % c.mu_ratio.n] * MU_UNIT;
		be[i].servers = c.servers;
		be[i].weight = (uint32_t)c.weights.v[i % c.weights.n];
		capacity += be[i].mu * be[i].servers;
	}
	sim_config_default(&cfg);
	cfg.nbackends = c.nbackends;
	cfg.backends = be;
	cfg.service = c.service;
	cfg.queue = c.queue;
	cfg.arrivals = c.arrivals.kind;
	cfg.load = c.load;
	cfg.requests = c.requests;
	cfg.window_s = c.window;
	cfg.warmup_frac = c.warmup;
	cfg.hide_cpu = c.no_cpu;
	cfg.occupancy = c.occupancy;
	cfg.refused_hold_s = c.refused_hold;
	cfg.perfect_forecast = c.forecast;
	cfg.seed = c.seed;
	if (c.arrivals.trace) {
		rc = load_trace(&c, capacity, &trace);
		if (rc) {
			free(be);
			return QLB_EXIT_USAGE;
		}
		cfg.rate_series = trace.v;
		cfg.rate_len = trace.n;
	}

	if (c.trace_estimates) {
		est_trace.f = fopen(c.trace_estimates, "w");
		if (!est_trace.f) {
			qlb_err("--trace-estimates '%s': %s", c.trace_estimates, strerror(errno));
			fc_series_free(&trace);
			free(be);
			return QLB_EXIT_USAGE;
		}
		fprintf(est_trace.f, "policy,t_s,backend,true_mu,mu_hat,lambda,in_system,share,weight,"
				 "arrivals,completions,rt_mean_s\n");
		cfg.on_window = trace_window;
		cfg.ctx = &est_trace;
	}
	print_header(&c, be, capacity);
	for (uint32_t j = 0; j < c.npolicies; j++) {
		struct sim_result r;
		double t0 = qlb_mono_s();

		cfg.policy = c.policies[j];
		est_trace.policy = qlb_policy_name(cfg.policy);
		rc = sim_run(&cfg, &r);
		if (rc) {
			fflush(stdout);
			qlb_err("simulating %s: %s", qlb_policy_name(cfg.policy), strerror(-rc));
			break;
		}
		print_row(&c, cfg.policy, &r, qlb_mono_s() - t0, j == 0);
		fflush(stdout);
	}
	if (c.json && !rc)
		printf("]}\n");
	if (est_trace.f && fclose(est_trace.f) && !rc) {
		qlb_err("--trace-estimates '%s': %s", c.trace_estimates, strerror(errno));
		rc = -EIO;
	}
	fc_series_free(&trace);
	free(be);
	return rc ? QLB_EXIT_FAIL : QLB_EXIT_OK;
}
