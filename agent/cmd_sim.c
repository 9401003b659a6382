// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `qlb sim`: compare scheduling policies on simulated backends. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forecast.h"
#include "qlb.h"
#include "sim.h"

#define MU_UNIT 100.0		/* --mu-ratio 1 = 100 requests/s */
#define MAX_LIST 1024		/* entries in --mu, --mu-ratio, --weights */
#define MAX_BACKENDS_CLI 1000000u

static const char usage[] =
	"usage: qlb sim [options]\n"
	"\n"
	"Simulates the load balancer in front of N queueing backends and runs each\n"
	"policy on the same request stream (same seed: same arrivals, same request\n"
	"sizes). Every window the policy gets the observations the agent would\n"
	"measure and its weights route the next window (lc and p2c decide per\n"
	"request on the live active counts, like the data path).\n"
	"\n"
	"  --policy LIST      comma-separated policies, or all (default all):\n"
	"                     rr, wrr, lc, p2c, lcpu, lram, dlbqt (the DLBQT paper),\n"
	"                     qlb (ours), oracle (square-root split on the true rates)\n"
	"  --backends N       number of backends, 1..1000000 (default 2)\n"
	"  --mu LIST          per-server service rates in requests/s, comma-separated,\n"
	"                     cycled over the backends\n"
	"  --mu-ratio A:B:..  relative per-server rates, 1 = 100 requests/s, cycled\n"
	"                     (default 3:1)\n"
	"  --servers C        parallel servers per backend (M/M/c), 1..1024 (default 1)\n"
	"  --service KIND     service times, mean 1/mu: exp, det, or pareto (shape 2.2)\n"
	"                     (default exp)\n"
	"  --queue K          waiting room per backend; arrivals finding it full are\n"
	"                     lost; 0 = none, only the servers (default 1000)\n"
	"  --arrivals KIND    poisson, uniform (inter-arrival U[0, 2/rate], as in the\n"
	"                     paper), onoff (rate 1.8x / 0.2x, 5 s mean periods), or\n"
	"                     trace:FILE (a gzip trace such as data/traces/*, one\n"
	"                     row per window, scaled to --load, Poisson within a\n"
	"                     window) (default poisson)\n"
	"  --load RHO         mean arrival rate / total capacity, (0, 10] (default 0.7)\n"
	"  --requests N       requests to simulate (default 1000000)\n"
	"  --window S         policy window, simulated seconds (default 1)\n"
	"  --warmup F         leading fraction of requests left out of the metrics,\n"
	"                     0..0.9 (default 0.1)\n"
	"  --weights LIST     the operator's weights (wrr; qlb's prior), cycled\n"
	"                     (default 1 each)\n"
	"  --no-cpu           hide cpu_util from the policies, as for an agent without\n"
	"                     a metrics source (qlb then infers capacity from response\n"
	"                     times)\n"
	"  --forecast         give every policy the next window's true arrival rate as\n"
	"                     its forecast (the most a forecaster could add; without\n"
	"                     it only the oracle knows the rate)\n"
	"  --seed S           random seed (default 1)\n"
	"  --json             print JSON instead of a table\n"
	"  --help             this text\n"
	"\n"
	"Columns: mean, p50 and p99 response time (ms); loss (% of requests dropped at\n"
	"full queues); throughput (completed requests/s); Jain's fairness index and the\n"
	"imbalance factor beta = (max - min) / mean, both over backend utilisations.\n"
	"Exit status: 0 ok, 1 runtime failure, 2 bad input.\n";

enum {
	OPT_POLICY = 256, OPT_BACKENDS, OPT_MU, OPT_MU_RATIO, OPT_SERVERS, OPT_SERVICE,
	OPT_QUEUE, OPT_ARRIVALS, OPT_LOAD, OPT_REQUESTS, OPT_WINDOW, OPT_WARMUP, OPT_WEIGHTS,
	OPT_NO_CPU, OPT_FORECAST, OPT_SEED, OPT_JSON, OPT_HELP,
};

static const struct option options[] = {
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "backends", required_argument, NULL, OPT_BACKENDS },
	{ "mu", required_argument, NULL, OPT_MU },
	{ "mu-ratio", required_argument, NULL, OPT_MU_RATIO },
	{ "servers", required_argument, NULL, OPT_SERVERS },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "queue", required_argument, NULL, OPT_QUEUE },
	{ "arrivals", required_argument, NULL, OPT_ARRIVALS },
	{ "load", required_argument, NULL, OPT_LOAD },
	{ "requests", required_argument, NULL, OPT_REQUESTS },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "weights", required_argument, NULL, OPT_WEIGHTS },
	{ "no-cpu", no_argument, NULL, OPT_NO_CPU },
	{ "forecast", no_argument, NULL, OPT_FORECAST },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

struct cli {
	int policies[QLB_POLICY_MAX * 4];
	uint32_t npolicies, nbackends, servers, queue;
	double mu[MAX_LIST], weights[MAX_LIST];
	uint32_t nmu, nweights;
	int mu_is_ratio;
	enum sim_service service;
	enum sim_arrivals arrivals;
	const char *trace;
	double load, window, warmup;
	uint64_t requests, seed;
	int no_cpu, forecast, json;
};

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
	int err = qlb_parse_double(s, lo, hi, out);

	if (err == -EINVAL)
		qlb_err("--%s: '%s' is not a number", opt, s);
	else if (err)
		qlb_err("--%s: '%s' out of range %g..%g", opt, s, lo, hi);
	return err;
}

static int parse_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	if (qlb_parse_u32(s, lo, hi, out)) {
		qlb_err("--%s: '%s' is not an integer in %u..%u", opt, s, lo, hi);
		return -EINVAL;
	}
	return 0;
}

/* Positive numbers separated by sep, into out[MAX_LIST]. */
static int parse_numbers(const char *opt, const char *s, char sep, double *out, uint32_t *n)
{
	const char *p = s;

	*n = 0;
	for (;;) {
		char tok[64];
		size_t len = strcspn(p, (char[]){ sep, '\0' });

		if (*n == MAX_LIST || len >= sizeof(tok) || !len) {
			qlb_err("--%s: '%s' is not a list of positive numbers", opt, s);
			return -EINVAL;
		}
		memcpy(tok, p, len);
		tok[len] = '\0';
		if (parse_double(opt, tok, 1e-9, 1e12, &out[(*n)++]))
			return -EINVAL;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static int parse_policies(const char *s, struct cli *c)
{
	char buf[256], *save = NULL;

	c->npolicies = 0;
	if (!strcmp(s, "all")) {
		for (int k = 0; k < QLB_POLICY_MAX; k++)
			c->policies[c->npolicies++] = k;
		return 0;
	}
	if (strlen(s) >= sizeof(buf)) {
		qlb_err("--policy: list too long");
		return -EINVAL;
	}
	strcpy(buf, s);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int k = qlb_policy_parse(tok);

		if (k < 0) {
			qlb_err("--policy: unknown policy '%s' (see qlb sim --help)", tok);
			return -EINVAL;
		}
		if (c->npolicies == sizeof(c->policies) / sizeof(c->policies[0])) {
			qlb_err("--policy: too many policies");
			return -EINVAL;
		}
		c->policies[c->npolicies++] = k;
	}
	if (!c->npolicies) {
		qlb_err("--policy: empty list");
		return -EINVAL;
	}
	return 0;
}

static int parse_count(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	double v;

	/* accepts 1000000 and 1e6 alike */
	if (parse_double(opt, s, (double)lo, (double)hi, &v))
		return -EINVAL;
	if (v != floor(v)) {
		qlb_err("--%s: '%s' is not a whole number", opt, s);
		return -EINVAL;
	}
	*out = (uint64_t)v;
	return 0;
}

/* 0 to run, 1 after --help, -errno on bad input (already reported). */
static int parse(int argc, char **argv, struct cli *c)
{
	int ch, mu_given = 0;

	*c = (struct cli){ .nbackends = 2, .servers = 1, .queue = 1000, .mu = { 3, 1 },
			   .nmu = 2, .mu_is_ratio = 1, .weights = { 1 }, .nweights = 1,
			   .load = 0.7, .window = 1.0, .warmup = 0.1, .requests = 1000000,
			   .seed = 1 };
	parse_policies("all", c);
	optind = 0; /* full reset: cmd_sim may run more than once per process */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		int rc = 0;

		switch (ch) {
		case OPT_POLICY: rc = parse_policies(optarg, c); break;
		case OPT_BACKENDS:
			rc = parse_u32("backends", optarg, 1, MAX_BACKENDS_CLI, &c->nbackends);
			break;
		case OPT_MU:
		case OPT_MU_RATIO:
			if (mu_given++) {
				qlb_err("give --mu or --mu-ratio once");
				return -EINVAL;
			}
			c->mu_is_ratio = ch == OPT_MU_RATIO;
			rc = parse_numbers(ch == OPT_MU ? "mu" : "mu-ratio", optarg,
					   ch == OPT_MU ? ',' : ':', c->mu, &c->nmu);
			break;
		case OPT_WEIGHTS:
			rc = parse_numbers("weights", optarg, ',', c->weights, &c->nweights);
			for (uint32_t i = 0; !rc && i < c->nweights; i++)
				if (c->weights[i] != floor(c->weights[i]) || c->weights[i] > 65535) {
					qlb_err("--weights: want whole numbers 1..65535");
					rc = -EINVAL;
				}
			break;
		case OPT_SERVERS: rc = parse_u32("servers", optarg, 1, 1024, &c->servers); break;
		case OPT_QUEUE: rc = parse_u32("queue", optarg, 0, 100000000, &c->queue); break;
		case OPT_SERVICE:
			if (!strcmp(optarg, "exp"))
				c->service = SIM_SERVICE_EXP;
			else if (!strcmp(optarg, "det"))
				c->service = SIM_SERVICE_DET;
			else if (!strcmp(optarg, "pareto"))
				c->service = SIM_SERVICE_PARETO;
			else
				rc = -EINVAL;
			if (rc)
				qlb_err("--service: want exp, det or pareto, not '%s'", optarg);
			break;
		case OPT_ARRIVALS:
			c->trace = NULL;
			if (!strcmp(optarg, "poisson")) {
				c->arrivals = SIM_ARRIVALS_POISSON;
			} else if (!strcmp(optarg, "uniform")) {
				c->arrivals = SIM_ARRIVALS_UNIFORM;
			} else if (!strcmp(optarg, "onoff")) {
				c->arrivals = SIM_ARRIVALS_ONOFF;
			} else if (!strncmp(optarg, "trace:", 6) && optarg[6]) {
				c->arrivals = SIM_ARRIVALS_TRACE;
				c->trace = optarg + 6;
			} else {
				qlb_err("--arrivals: want poisson, uniform, onoff or trace:FILE, not '%s'",
					optarg);
				rc = -EINVAL;
			}
			break;
		case OPT_LOAD: rc = parse_double("load", optarg, 1e-6, 10, &c->load); break;
		case OPT_REQUESTS:
			rc = parse_count("requests", optarg, 1, 1000000000000ull, &c->requests);
			break;
		case OPT_WINDOW: rc = parse_double("window", optarg, 1e-3, 3600, &c->window); break;
		case OPT_WARMUP: rc = parse_double("warmup", optarg, 0, 0.9, &c->warmup); break;
		case OPT_SEED:
			rc = parse_count("seed", optarg, 0, 1ull << 53, &c->seed);
			break;
		case OPT_NO_CPU: c->no_cpu = 1; break;
		case OPT_FORECAST: c->forecast = 1; break;
		case OPT_JSON: c->json = 1; break;
		case OPT_HELP: fputs(usage, stdout); return 1;
		case ':':
			qlb_err("%s needs a value (see qlb sim --help)", argv[optind - 1]);
			return -EINVAL;
		default:
			qlb_err("unknown option '%s' (see qlb sim --help)", argv[optind - 1]);
			return -EINVAL;
		}
		if (rc)
			return -EINVAL;
	}
	if (optind < argc) {
		qlb_err("unexpected argument '%s' (see qlb sim --help)", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* A trace as one relative rate per window: as many rows as the run needs
 * (a rough count, the run cycles it anyway), capped to keep loading quick. */
static int load_trace(const struct cli *c, double capacity, struct fc_series *s)
{
	double windows = (double)c->requests / (c->load * capacity * c->window);
	struct fc_series_opts o = { .limit = (size_t)fmin(fmax(2 * windows + 16, 64), 1e7) };
	char err[FC_ERR_LEN];
	int rc = fc_series_read(c->trace, &o, s, err);
	double sum = 0;

	if (rc) {
		qlb_err("--arrivals: %s", err);
		return rc;
	}
	for (size_t i = 0; i < s->n; i++)
		sum += isfinite(s->v[i]) && s->v[i] > 0 ? s->v[i] : 0;
	if (!(sum > 0)) {
		qlb_err("--arrivals: %s has no requests in its first %zu rows", c->trace, s->n);
		fc_series_free(s);
		return -EINVAL;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
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

static void print_header(const struct cli *c, const struct sim_backend *be, double capacity)
{
	if (c->json) {
		printf("{\"scenario\": {\"backends\": %u, \"servers\": %u, \"mu\": [", c->nbackends,
		       c->servers);
		for (uint32_t i = 0; i < c->nmu && i < c->nbackends; i++)
			printf("%s%.6g", i ? ", " : "", be[i].mu);
		printf("], \"service\": \"%s\", \"queue\": %u, \"arrivals\": \"%s\", ",
		       service_name(c->service), c->queue, arrivals_name(c->arrivals));
		json_num("load", c->load, 0);
		json_num("arrival_rate", c->load * capacity, 0);
		printf("\"requests\": %llu, ", (unsigned long long)c->requests);
		json_num("window_s", c->window, 0);
		json_num("warmup", c->warmup, 0);
		printf("\"cpu_util\": %s, \"forecast\": %s, \"seed\": %llu}, \"results\": [",
		       c->no_cpu ? "false" : "true", c->forecast ? "true" : "false",
		       (unsigned long long)c->seed);
		return;
	}
	printf("%u backends x %u server%s, mu", c->nbackends, c->servers, c->servers > 1 ? "s" : "");
	for (uint32_t i = 0; i < c->nmu && i < c->nbackends; i++)
		printf("%s%g", i ? "," : " ", be[i].mu);
	printf("%s/s, %s service, queue %u, %s arrivals at %.4g/s (load %.3g), %llu requests, "
	       "window %gs, warm-up %g%s%s, seed %llu\n",
	       c->nmu < c->nbackends ? ",..." : "", service_name(c->service), c->queue,
	       arrivals_name(c->arrivals), c->load * capacity, c->load,
	       (unsigned long long)c->requests, c->window, c->warmup, c->no_cpu ? ", no cpu_util" : "",
	       c->forecast ? ", perfect forecast" : "", (unsigned long long)c->seed);
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
		be[i].mu = c.mu[i % c.nmu] * (c.mu_is_ratio ? MU_UNIT : 1.0);
		be[i].servers = c.servers;
		be[i].weight = (uint32_t)c.weights[i % c.nweights];
		capacity += be[i].mu * be[i].servers;
	}
	sim_config_default(&cfg);
	cfg.nbackends = c.nbackends;
	cfg.backends = be;
	cfg.service = c.service;
	cfg.queue = c.queue;
	cfg.arrivals = c.arrivals;
	cfg.load = c.load;
	cfg.requests = c.requests;
	cfg.window_s = c.window;
	cfg.warmup_frac = c.warmup;
	cfg.hide_cpu = c.no_cpu;
	cfg.perfect_forecast = c.forecast;
	cfg.seed = c.seed;
	if (c.trace) {
		rc = load_trace(&c, capacity, &trace);
		if (rc) {
			free(be);
			return QLB_EXIT_USAGE;
		}
		cfg.rate_series = trace.v;
		cfg.rate_len = trace.n;
	}

	print_header(&c, be, capacity);
	for (uint32_t j = 0; j < c.npolicies; j++) {
		struct sim_result r;
		double t0 = now_s();

		cfg.policy = c.policies[j];
		rc = sim_run(&cfg, &r);
		if (rc) {
			fflush(stdout);
			qlb_err("simulating %s: %s", qlb_policy_name(cfg.policy), strerror(-rc));
			break;
		}
		print_row(&c, cfg.policy, &r, now_s() - t0, j == 0);
		fflush(stdout);
	}
	if (c.json && !rc)
		printf("]}\n");
	fc_series_free(&trace);
	free(be);
	return rc ? QLB_EXIT_FAIL : QLB_EXIT_OK;
}
