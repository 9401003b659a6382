// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `qlb agent`: its options; the loop is control/agent.c. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "cli.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "usage.h"

static int parse_health(const char *s, void *dst, char *why, size_t len)
{
	snprintf(why, len, "want tcp, http[:PATH] (PATH from '/') or none");
	return qlb_health_parse(s, dst);
}

static int parse_listen(const char *s, void *dst, char *why, size_t len)
{
	struct qlb_agent_opts *o = (struct qlb_agent_opts *)((char *)dst -
		offsetof(struct qlb_agent_opts, metrics_listen));

	if (qlb_metrics_parse_listen(s) ||
	    snprintf(o->metrics_listen, sizeof(o->metrics_listen), "%s", s) >=
	    (int)sizeof(o->metrics_listen)) {
		snprintf(why, len, "want ADDR:PORT, [ADDR6]:PORT or none");
		return -EINVAL;
	}
	return 0;
}

static int parse_usage(const char *s, void *dst, char *why, size_t len)
{
	int err = qlb_usage_map_parse(s, dst);

	snprintf(why, len, err == -EEXIST ? "that address has a source already" :
		 "want ADDR=cgroup:REL or ADDR=prom:URL");
	return err;
}

/* "off" still runs the baselines for telemetry and scale events; only the
 * policy stops seeing their forecast. */
static int parse_forecast(const char *s, void *dst, char *why, size_t len)
{
	struct qlb_agent_opts *o = (struct qlb_agent_opts *)((char *)dst -
		offsetof(struct qlb_agent_opts, forecast_model));

	if (!*s) {
		snprintf(why, len, "want compiled, none, off or a model file");
		return -EINVAL;
	}
	o->forecast_off = !strcmp(s, "off");
	if (snprintf(o->forecast_model, sizeof(o->forecast_model), "%s",
		     o->forecast_off ? "none" : s) >= (int)sizeof(o->forecast_model)) {
		snprintf(why, len, "a path of at most %zu characters",
			 sizeof(o->forecast_model) - 1);
		return -ERANGE;
	}
	return 0;
}

#define AO struct qlb_agent_opts
static const struct qlb_opt agent_opts[] = {
	{ QLB_O_DOUBLE("window", 'w', "S", AO, window_s, 0.1, 60,
		       "window length, 0.1-60 s (default 1)") },
	{ QLB_O_U32("servers", 'c', "C", AO, servers, 1, 1024,
		    "parallel servers per backend for M/M/c (default 1)") },
	{ QLB_O_CUSTOM("health", 'H', "SPEC", AO, health, parse_health,
		       "probe: tcp (default), http[:PATH] or none") },
	{ QLB_O_DOUBLE("health-interval", 'i', "S", AO, health.interval_s, 0.1, 3600,
		       "seconds between probes (default: the window)") },
	{ QLB_O_U32("rise", 0, "N", AO, health.rise, 1, 100,
		    "successes to bring a backend up (default 2)") },
	{ QLB_O_U32("fall", 0, "N", AO, health.fall, 1, 100,
		    "failures to take it down (default 2)") },
	{ QLB_O_STRBUF("history", 'o', "FILE", AO, history_path,
		       "append one CSV row per window per backend") },
	{ QLB_O_CUSTOM("metrics-listen", 'm', "A", AO, metrics_listen, parse_listen,
		       "Prometheus text endpoint (default 127.0.0.1:9464;\n"
		       "'none' turns it off)") },
	{ QLB_O_DOUBLE("max-step", 0, "X", AO, policy.max_step, 0.01, 10,
		       "qlb policy: largest relative weight change per\n"
		       "window (default 0.25)") },
	{ QLB_O_DOUBLE("deadband", 0, "X", AO, policy.deadband, 0, 0.5,
		       "qlb policy: share change ignored (default 0.01)") },
	{ QLB_O_DOUBLE("floor", 0, "X", AO, policy.floor_share, 0, 0.5,
		       "qlb policy: minimum share of a live backend (0.02)") },
	{ QLB_O_DOUBLE("slow-start", 0, "S", AO, policy.slow_start_s, 0, 3600,
		       "qlb policy: ramp of a new backend, s (default 30)") },
	{ QLB_O_FLAG("occupancy", 0, AO, policy.occupancy,
		     "qlb policy: without --usage, capacity = completions\n"
		     "per second a flow was open; only for backends that\n"
		     "serve at most --servers requests at once") },
	{ QLB_O_CUSTOM("usage", 'u', "ADDR=SPEC", AO, usage, parse_usage,
		       "where a backend's CPU and memory utilisation come\n"
		       "from (lcpu, lram; qlb uses CPU when known):\n"
		       "cgroup:REL (cgroup v1 path, e.g. qlbt/b1) or\n"
		       "prom:URL (node_exporter text); one per backend"),
	  .flags = QLB_OPT_F_REPEAT },
	{ QLB_O_CUSTOM("forecast", 'f', "M", AO, forecast_model, parse_forecast,
		       "arrival forecast for the qlb policy: compiled\n"
		       "(default: the built-in LSTM), none (baselines\n"
		       "only), off (the policy plans on the measured\n"
		       "rate) or a model file from 'qlb forecast train';\n"
		       "the candidate with the lowest recent error wins") },
	{ QLB_O_DOUBLE("forecast-scale", 0, "X", AO, forecast.model_scale, 1e-6, 1e6,
		       "the model's units per arrival/s (default 60:\n"
		       "the built-in model learned requests per minute)") },
	{ QLB_O_U32("forecast-validation", 0, "N", AO, forecast.validation, 1, 100000,
		    "windows scored to pick the forecaster (30)") },
	{ QLB_O_DOUBLE("scale-up", 0, "X", AO, scale.theta_up, 0.01, 10,
		       "forecast utilisation sum(lambda^)/sum(mu^) above\n"
		       "which a scale-up event fires (default 0.8)") },
	{ QLB_O_DOUBLE("scale-down", 0, "X", AO, scale.theta_down, 0, 10,
		       "... below which a scale-down fires (default 0.3)") },
	{ QLB_O_U32("scale-windows", 0, "K", AO, scale.k, 1, 100000,
		    "consecutive windows needed (default 3)") },
	{ QLB_O_U32("scale-cooldown", 0, "N", AO, scale.cooldown, 0, 100000,
		    "windows after an event with no other (default 10)") },
	{ QLB_O_STRBUF("on-scale", 0, "CMD", AO, on_scale,
		       "run CMD (sh -c) on an event, with QLB_SCALE_*\n"
		       "and QLB_VIP in its environment") },
	QLB_OPT_END
};
#undef AO

static const struct qlb_cmd_spec agent_spec = {
	.name = "agent",
	.synopsis =
	"Usage: qlb agent [--window S] [--servers C] [--health tcp|http[:PATH]|none]\n"
	"                 [--health-interval S] [--rise N] [--fall N]\n"
	"                 [--history FILE] [--metrics-listen ADDR:PORT|none]\n"
	"                 [--usage ADDR=cgroup:REL|prom:URL ...]\n"
	"                 [--forecast MODEL|compiled|none|off] [--on-scale CMD] ...\n"
	"                 [--max-step X] [--deadband X] [--floor X] [--slow-start S]\n"
	"                 [--occupancy]\n"
	"\n"
	"Run the control loop in the foreground until SIGINT or SIGTERM. Each VIP\n"
	"is balanced by its policy ('qlb vip set VIP --policy NAME').\n",
	.opts = agent_opts,
};

int cmd_agent(int argc, char **argv)
{
	struct qlb_opts_result res;
	struct qlb_agent_opts o;
	int err;

	/* Everything the agent process says, bad options included, under the
	 * agent's prefix. */
	qlb_log_prefix("qlb agent");
	qlb_agent_opts_default(&o);
	err = qlb_opts_parse(&agent_spec, argc, argv, &o, &res);
	if (err) {
		qlb_usage_map_free(&o.usage);
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	}
	if (!(o.scale.theta_down < o.scale.theta_up)) {
		qlb_err("--scale-down (%g) must be below --scale-up (%g)", o.scale.theta_down,
			o.scale.theta_up);
		qlb_usage_map_free(&o.usage);
		return QLB_EXIT_USAGE;
	}
	err = qlb_exit_code(qlb_agent_run(&o));
	qlb_usage_map_free(&o.usage);
	return err;
}
