// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `qlb forecast`: train, evaluate and export the load forecaster. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "forecast.h"
#include "log.h"
#include "opts.h"
#include "parse.h"


struct cli {
	const char *trace, *out, *model, *header, *symbol;
	struct fc_series_opts series;
	struct fc_arch arch;
	struct fc_prep_opts prep;
	struct fc_train_opts train;
	uint32_t season;
	uint32_t period;
	int have_period;	/* else a day, where the interval is known */
	double train_frac;
	struct horizons {
		uint32_t v[FC_EVAL_MAX_HORIZONS];
		uint32_t n;
	} horizons;
	int json, verbose, no_residual, no_diff;
};

_Static_assert(sizeof(size_t) == sizeof(uint64_t), "--aggregate, --offset, --limit are U64");
_Static_assert(sizeof(enum fc_norm) == sizeof(int) && sizeof(enum fc_impute) == sizeof(int),
	       "--norm and --impute are choices");

static int parse_horizons(const char *s, void *dst, char *why, size_t len)
{
	struct horizons *h = dst;
	char buf[128], *save = NULL;
	uint32_t v;

	if (strlen(s) >= sizeof(buf)) {
		snprintf(why, len, "list too long");
		return -EINVAL;
	}
	strcpy(buf, s);
	h->n = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (h->n == FC_EVAL_MAX_HORIZONS || qlb_parse_u32(tok, 1, FC_MAX_HORIZON, &v)) {
			snprintf(why, len, "want up to %d horizons from 1 to %d, comma-separated",
				 FC_EVAL_MAX_HORIZONS, FC_MAX_HORIZON);
			return -EINVAL;
		}
		h->v[h->n++] = v;
	}
	if (!h->n) {
		snprintf(why, len, "empty list");
		return -EINVAL;
	}
	return 0;
}

static int parse_winsor(const char *s, void *dst, char *why, size_t len)
{
	struct fc_prep_opts *p = dst;
	double lo, hi;
	char tail;

	if (sscanf(s, "%lf,%lf%c", &lo, &hi, &tail) != 2 || !(lo >= 0) || !(hi <= 100) ||
	    !(lo < hi)) {
		snprintf(why, len, "want LO,HI with 0 <= LO < HI <= 100");
		return -EINVAL;
	}
	p->lo_pct = lo;
	p->hi_pct = hi;
	return 0;
}

static const struct qlb_opt_choice norms[] = {
	{ "minmax", FC_NORM_MINMAX }, { "log1p", FC_NORM_LOG1P_MINMAX }, { NULL, 0 }
};
static const struct qlb_opt_choice losses[] = { { "mse", 0 }, { "mae", 1 }, { NULL, 0 } };
static const struct qlb_opt_choice imputes[] = {
	{ "mean", FC_IMPUTE_MEAN }, { "last", FC_IMPUTE_LAST }, { NULL, 0 }
};

#define SERIES_ROWS \
	{ .name = "", .type = QLB_OPT_SECTION, .help = "series:" }, \
	{ QLB_O_STR("trace", 0, "FILE", struct cli, trace, \
		    "CSV or gzip CSV: NASA per-second (`requests`),\n" \
		    "WorldCup per-minute (`num_request`) or qlb history\n" \
		    "(`ts`,`lambda`; lambda summed per ts). Required.") }, \
	{ QLB_O_U64("aggregate", 0, "K", struct cli, series.aggregate, 1, 1000000, \
		    "sum K consecutive rows into one point (default 1)") }, \
	{ QLB_O_U64("offset", 0, "O", struct cli, series.offset, 0, UINT64_MAX, \
		    "skip O input rows first (default 0)") }, \
	{ QLB_O_U64("limit", 0, "N", struct cli, series.limit, 1, UINT64_MAX, \
		    "read at most N input rows after the offset\n(default all)") }

#define TRAIN_ROWS \
	{ .name = "", .type = QLB_OPT_SECTION, .help = "model and training:" }, \
	{ QLB_O_U32("hidden", 0, "N", struct cli, arch.hidden, 1, FC_MAX_HIDDEN, \
		    "LSTM units per layer (default 32)") }, \
	{ QLB_O_U32("layers", 0, "L", struct cli, arch.layers, 1, FC_MAX_LAYERS, \
		    "stacked LSTM layers (default 1)") }, \
	{ QLB_O_U32("mlp", 0, "N", struct cli, arch.mlp, 0, FC_MAX_MLP, \
		    "dense+ReLU front layer width, 0 = none (default 0)") }, \
	{ QLB_O_U32("window", 0, "W", struct cli, arch.window, 1, FC_MAX_WINDOW, \
		    "truncated-BPTT length in steps (default 64)") }, \
	{ QLB_O_U32("epochs", 0, "E", struct cli, train.epochs, 1, 100000, \
		    "passes over the training data (default 40)") }, \
	{ QLB_O_DOUBLE("lr", 0, "X", struct cli, train.lr, 1e-7, 1.0, \
		       "Adam step size, decays linearly to X/10\n(default 0.003)") }, \
	{ QLB_O_U32("batch", 0, "B", struct cli, train.batch, 1, 4096, \
		    "parallel streams per Adam step (default 4)") }, \
	{ QLB_O_U64("seed", 0, "S", struct cli, train.seed, 0, UINT64_MAX, \
		    "weight-init and shuffling seed (default 1)") }, \
	{ QLB_O_U32("season", 0, "M", struct cli, season, 0, FC_MAX_SEASON, \
		    "also feed the value M steps before each target,\n" \
		    "e.g. 1440 (a day of minutes); 0 = off (default)") }, \
	{ QLB_O_CHOICE("norm", 0, "KIND", struct cli, prep.norm, norms, \
		       "minmax or log1p (log1p then min-max; default\nlog1p)") }, \
	{ QLB_O_CUSTOM("winsor", 0, "LO,HI", struct cli, prep, parse_winsor, \
		       "winsorising percentiles (default 1,99)") }, \
	{ QLB_O_CHOICE("impute", 0, "KIND", struct cli, prep.impute, imputes, \
		       "missing windows: mean or last (default mean)") }, \
	{ QLB_O_FLAG("no-residual", 0, struct cli, no_residual, \
		     "forecast levels, not the change from the last value") }, \
	{ QLB_O_FLAG("no-diff", 0, struct cli, no_diff, \
		     "do not feed the step-to-step change as an extra\ninput") }, \
	{ QLB_O_CHOICE("loss", 0, "KIND", struct cli, train.l1, losses, \
		       "training loss on normalised values: mse or mae\n(default mae)") }, \
	{ QLB_O_DOUBLE("val", 0, "F", struct cli, train.val_frac, 0, 0.49, \
		       "tail fraction used to keep the best epoch\n(default 0.1)") }, \
	{ QLB_O_FLAG("verbose", 0, struct cli, verbose, "print one line per epoch to stderr") }

static const struct qlb_opt train_opts[] = {
	{ QLB_O_U32("horizon", 0, "H", struct cli, arch.horizon, 1, FC_MAX_HORIZON,
		    "forecast steps 1..H ahead (required)") },
	{ QLB_O_STR("out", 0, "MODEL", struct cli, out, "model file to write (required)") },
	{ QLB_O_DOUBLE("train-frac", 0, "F", struct cli, train_frac, 0.01, 1.0,
		       "train on the first F of the series (default 1;\n"
		       "use 0.8 to match 'eval')") },
	SERIES_ROWS,
	TRAIN_ROWS,
	QLB_OPT_END
};

static const struct qlb_opt eval_opts[] = {
	{ QLB_O_STR("model", 0, "MODEL", struct cli, model,
		    "evaluate this model file instead of training one") },
	{ QLB_O_CUSTOM("horizons", 0, "LIST", struct cli, horizons, parse_horizons,
		       "comma-separated horizons, up to 8 (default 1,5)") },
	{ QLB_O_U32("horizon", 0, "H", struct cli, arch.horizon, 1, FC_MAX_HORIZON,
		    "the trained LSTM's horizon (default: the largest\nof --horizons)") },
	{ QLB_O_U32("period", 0, "M", struct cli, period, 0, 8u * FC_MAX_SEASON,
		    "seasonal period of the baselines (default: one\n"
		    "day if the interval is known, else 0 =\nnon-seasonal)") },
	{ QLB_O_FLAG("json", 0, struct cli, json, "print JSON instead of a table") },
	SERIES_ROWS,
	TRAIN_ROWS,
	QLB_OPT_END
};

static const struct qlb_opt export_opts[] = {
	{ QLB_O_STR("model", 0, "MODEL", struct cli, model, "model file to read (required)") },
	{ QLB_O_STR("header", 0, "FILE", struct cli, header, "header to write (required)") },
	{ QLB_O_STR("symbol", 0, "NAME", struct cli, symbol,
		    "C identifier (default qlb_default_model)") },
	QLB_OPT_END
};

static const struct qlb_cmd_spec train_spec = {
	.name = "forecast train",
	.synopsis =
	"Usage: qlb forecast train --trace FILE --horizon H --out MODEL [options]\n"
	"\n"
	"Trains the LSTM on the whole series (or its first --train-frac) and writes\n"
	"a model file with its preprocessing.\n",
	.opts = train_opts,
};

static const struct qlb_cmd_spec eval_spec = {
	.name = "forecast eval",
	.synopsis =
	"Usage: qlb forecast eval --trace FILE [--model MODEL] [options]\n"
	"\n"
	"Fits on the first 80% of the series and reports MAE, RMSE and sMAPE on the\n"
	"last 20% for the LSTM and every baseline, and the winner per horizon.\n"
	"Without --model an LSTM is trained with the model options below.\n",
	.opts = eval_opts,
};

static const struct qlb_cmd_spec export_spec = {
	.name = "forecast export",
	.synopsis =
	"Usage: qlb forecast export --model MODEL --header FILE [--symbol NAME]\n"
	"\n"
	"Writes the serialised model as a C header defining\n"
	"`static const unsigned char NAME[]` and `NAME_len`; the agent loads it with\n"
	"fc_model_deserialize(), the same loader as for files.\n",
	.opts = export_opts,
};

static const char usage_main[] =
	"Usage: qlb forecast COMMAND [options]\n"
	"\n"
	"Forecasts per-window request rates (a VIP's arrival rate) a few windows ahead.\n"
	"\n"
	"Commands:\n"
	"  train   train an LSTM on a trace and write a model file\n"
	"  eval    score the LSTM and the baselines (naive, seasonal-naive, ewma, holt,\n"
	"          holt-winters) on the last 20% of a trace: MAE, RMSE, sMAPE\n"
	"  export  write a model as a C header (static const byte array)\n"
	"\n"
	"Run 'qlb forecast COMMAND --help' for the options of a command.\n"
	"Exit status: 0 ok, 1 runtime failure, 2 bad input.\n";

static void cli_defaults(struct cli *c)
{
	memset(c, 0, sizeof(*c));
	c->arch = (struct fc_arch){ .mlp = 0, .hidden = 32, .layers = 1, .horizon = 0,
				    .window = 64, .season = 0, .flags = FC_ARCH_RESIDUAL };
	c->prep = (struct fc_prep_opts){ .lo_pct = 1, .hi_pct = 99,
					 .norm = FC_NORM_LOG1P_MINMAX,
					 .impute = FC_IMPUTE_MEAN };
	fc_train_opts_default(&c->train);
	c->train_frac = 1.0;
	c->horizons.v[0] = 1;
	c->horizons.v[1] = 5;
	c->horizons.n = 2;
	c->symbol = "qlb_default_model";
}

/* c's defaults, then the command line over them: 0 to go on, 2 on bad
 * input, -1 after --help (exit 0). */
static int parse(int argc, char **argv, const struct qlb_cmd_spec *spec, struct cli *c)
{
	struct qlb_opts_result res;
	int err;

	cli_defaults(c);
	err = qlb_opts_parse(spec, argc, argv, c, &res);
	if (err)
		return err > 0 ? -1 : QLB_EXIT_USAGE;
	c->have_period = qlb_opts_given(spec, &res, "period");
	return 0;
}

/* One day of points when the interval is known and it fits the bounds. */
static uint32_t daily_period(const struct fc_series *s)
{
	double p;

	if (!(s->interval_s > 0))
		return 0;
	p = floor(86400.0 / s->interval_s + 0.5);
	return p >= 2 && p <= FC_MAX_SEASON ? (uint32_t)p : 0;
}

static int load_series(const struct cli *c, struct fc_series *s)
{
	struct qlb_error err = {};
	int rc;

	if (!c->trace)
		return qlb_usage_error("--trace FILE is required (see --help)");
	rc = fc_series_read(c->trace, &c->series, s, &err);
	if (rc)
		return qlb_usage_error("%s", err.msg);
	if (s->n < 8) {
		fc_series_free(s);
		return qlb_usage_error("%s: only %zu points after aggregation, need at least 8", c->trace,
			    s->n);
	}
	return 0;
}

/* Joins argv into the model's provenance note. */
static void set_note(struct fc_model *m, int argc, char **argv)
{
	size_t off = 0;

	off += (size_t)snprintf(m->note, sizeof(m->note), "qlb forecast");
	for (int i = 0; i < argc && off < sizeof(m->note); i++)
		off += (size_t)snprintf(m->note + off, sizeof(m->note) - off, " %s", argv[i]);
}

static int train_model(struct cli *c, const double *x, size_t n, struct fc_model *m)
{
	struct fc_train_report rep;
	struct qlb_error err = {};
	int rc;

	c->arch.season = c->season;
	c->arch.flags = (c->no_residual ? 0 : FC_ARCH_RESIDUAL) | (c->no_diff ? 0 : FC_ARCH_DIFF_INPUT);
	rc = fc_arch_validate(&c->arch, &err);
	if (rc)
		return qlb_usage_error("%s", err.msg);
	c->train.log = c->verbose ? stderr : NULL;
	rc = fc_model_train_series(m, &c->arch, &c->prep, &c->train, x, n, &rep, &err);
	if (rc)
		return rc == -ENOMEM ? (qlb_err("%s", err.msg), 1) : qlb_usage_error("%s", err.msg);
	if (c->verbose)
		fprintf(stderr,
			"trained %zu points in %.1fs: train loss %.6g -> %.6g, best val loss %.6g "
			"(epoch %u)\n",
			n, rep.seconds, rep.first_epoch_loss, rep.last_epoch_loss,
			rep.best_val_loss, rep.best_epoch);
	return 0;
}

static int do_train(int argc, char **argv)
{
	struct cli c;
	struct fc_series s;
	struct fc_model m;
	struct qlb_error err = {};
	size_t n;
	int rc;

	rc = parse(argc, argv, &train_spec, &c);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (!c.arch.horizon)
		return qlb_usage_error("--horizon H is required (see --help)");
	if (!c.out)
		return qlb_usage_error("--out MODEL is required (see --help)");
	rc = load_series(&c, &s);
	if (rc)
		return rc;
	n = (size_t)(c.train_frac * (double)s.n);
	rc = train_model(&c, s.v, n, &m);
	fc_series_free(&s);
	if (rc)
		return rc;
	set_note(&m, argc, argv);
	rc = fc_model_save(&m, c.out, &err);
	fc_model_free(&m);
	if (rc == -EIO || rc == -ENOSPC || rc == -ENOMEM) {
		qlb_err("%s", err.msg);
		return 1;
	}
	return rc ? qlb_usage_error("%s", err.msg) : 0;
}

static void print_table(const struct cli *c, const struct fc_series *s,
			const struct fc_eval_result *r, const struct fc_model *m)
{
	printf("trace %s: %zu points (%s", c->trace, r->n, s->column);
	if (s->interval_s > 0)
		printf(", %gs per point", s->interval_s);
	printf("), train %zu, test %zu, baseline period %u\n", r->n_train, r->n - r->n_train,
	       r->period);
	printf("lstm: hidden %u, layers %u, mlp %u, horizon %u, window %u, season %u, %s%s%s\n\n",
	       m->arch.hidden, m->arch.layers, m->arch.mlp, m->arch.horizon, m->arch.window,
	       m->arch.season, m->prep.norm == FC_NORM_LOG1P_MINMAX ? "log1p" : "minmax",
	       (m->arch.flags & FC_ARCH_DIFF_INPUT) ? ", diff input" : "",
	       (m->arch.flags & FC_ARCH_RESIDUAL) ? ", residual" : "");
	printf("%-7s  %-14s  %12s  %12s  %8s\n", "horizon", "forecaster", "MAE", "RMSE",
	       "sMAPE%");
	for (uint32_t hi = 0; hi < c->horizons.n; hi++) {
		for (int k = 0; k < FC_EVAL_FORECASTERS; k++) {
			const struct fc_metrics *mt = &r->m[hi][k];

			if (k == FC_BASELINE_COUNT && !r->lstm_valid[hi]) {
				printf("%-7u  %-14s  %12s  %12s  %8s\n", c->horizons.v[hi],
				       fc_eval_name(k), "n/a", "n/a", "n/a");
				continue;
			}
			printf("%-7u  %-14s  %12.4f  %12.4f  %8.3f%s\n", c->horizons.v[hi],
			       fc_eval_name(k), mt->mae, mt->rmse, mt->smape,
			       r->winner[hi] == k ? "  *" : "");
		}
	}
	printf("\n");
	for (uint32_t hi = 0; hi < c->horizons.n; hi++) {
		double best_base = INFINITY;
		int bb = 0;

		for (int k = 0; k < FC_BASELINE_COUNT; k++)
			if (r->m[hi][k].mae < best_base) {
				best_base = r->m[hi][k].mae;
				bb = k;
			}
		printf("winner at horizon %u: %s", c->horizons.v[hi], fc_eval_name(r->winner[hi]));
		if (r->lstm_valid[hi])
			printf(" (lstm MAE / best baseline %s MAE = %.3f)",
			       fc_eval_name(bb), r->m[hi][FC_BASELINE_COUNT].mae / best_base);
		printf("\n");
	}
}

static void print_json_num(double v)
{
	if (isfinite(v))
		printf("%.6g", v);
	else
		printf("null");
}

static void print_json(const struct cli *c, const struct fc_eval_result *r)
{
	printf("{\"trace\":\"");
	for (const char *p = c->trace; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		if ((unsigned char)*p >= 0x20)
			putchar(*p);
	}
	printf("\",\"points\":%zu,\"train\":%zu,\"period\":%u,\"horizons\":[", r->n, r->n_train,
	       r->period);
	for (uint32_t hi = 0; hi < c->horizons.n; hi++) {
		printf("%s{\"horizon\":%u,\"winner\":\"%s\",\"forecasters\":{", hi ? "," : "",
		       c->horizons.v[hi], fc_eval_name(r->winner[hi]));
		for (int k = 0; k < FC_EVAL_FORECASTERS; k++) {
			const struct fc_metrics *mt = &r->m[hi][k];

			printf("%s\"%s\":", k ? "," : "", fc_eval_name(k));
			if (k == FC_BASELINE_COUNT && !r->lstm_valid[hi]) {
				printf("null");
				continue;
			}
			printf("{\"mae\":");
			print_json_num(mt->mae);
			printf(",\"rmse\":");
			print_json_num(mt->rmse);
			printf(",\"smape\":");
			print_json_num(mt->smape);
			printf(",\"n\":%zu}", mt->n);
		}
		printf("}}");
	}
	printf("]}\n");
}

static int do_eval(int argc, char **argv)
{
	struct cli c;
	struct fc_series s;
	struct fc_model m;
	struct fc_eval_opts eo;
	struct fc_eval_result *r;
	struct qlb_error err = {};
	uint32_t max_h = 0;
	size_t n_train;
	int rc;

	rc = parse(argc, argv, &eval_spec, &c);
	if (rc)
		return rc < 0 ? 0 : rc;
	for (uint32_t i = 0; i < c.horizons.n; i++)
		if (c.horizons.v[i] > max_h)
			max_h = c.horizons.v[i];
	if (!c.arch.horizon)
		c.arch.horizon = max_h;
	if (c.model) {
		rc = fc_model_load(&m, c.model, &err);
		if (rc)
			return qlb_usage_error("%s", err.msg);
	}
	rc = load_series(&c, &s);
	if (rc) {
		if (c.model)
			fc_model_free(&m);
		return rc;
	}
	eo = (struct fc_eval_opts){ .n_horizons = c.horizons.n, .train_frac = 0.8 };
	memcpy(eo.horizons, c.horizons.v, sizeof(eo.horizons));
	eo.period = c.have_period ? c.period : daily_period(&s);
	n_train = (size_t)(eo.train_frac * (double)s.n);
	if (eo.period * 2 > n_train && !c.have_period)
		eo.period = 0; /* under two seasons of training data: no seasonal fit */
	if (s.n - n_train <= max_h) {
		fc_series_free(&s);
		if (c.model)
			fc_model_free(&m);
		return qlb_usage_error("test part of %zu points is too short for horizon %u", s.n - n_train,
			    max_h);
	}
	if (!c.model) {
		rc = train_model(&c, s.v, n_train, &m);
		if (rc) {
			fc_series_free(&s);
			return rc;
		}
	}
	r = malloc(sizeof(*r));
	if (!r) {
		rc = 1;
		qlb_err("out of memory");
		goto out;
	}
	rc = fc_eval(&m, s.v, s.n, &eo, r);
	if (rc) {
		rc = rc == -ENOMEM ? 1 : 2;
		qlb_err("evaluation failed: %s", strerror(rc == 1 ? ENOMEM : EINVAL));
	} else if (c.json) {
		print_json(&c, r);
	} else {
		print_table(&c, &s, r, &m);
	}
	free(r);
out:
	fc_series_free(&s);
	fc_model_free(&m);
	return rc;
}

static int do_export(int argc, char **argv)
{
	struct cli c;
	struct fc_model m;
	struct qlb_error err = {};
	char comment[QLB_ERROR_LEN * 2];
	FILE *f;
	int rc;

	rc = parse(argc, argv, &export_spec, &c);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (!c.model)
		return qlb_usage_error("--model MODEL is required (see --help)");
	if (!c.header)
		return qlb_usage_error("--header FILE is required (see --help)");
	for (const char *p = c.symbol; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		      (p != c.symbol && *p >= '0' && *p <= '9')))
			return qlb_usage_error("--symbol: '%s' is not a C identifier", c.symbol);
	if (!*c.symbol)
		return qlb_usage_error("--symbol: empty");
	rc = fc_model_load(&m, c.model, &err);
	if (rc)
		return qlb_usage_error("%s", err.msg);
	snprintf(comment, sizeof(comment), "Exported with: qlb forecast export --model %s --header %s",
		 c.model, c.header);
	f = fopen(c.header, "w");
	if (!f) {
		fc_model_free(&m);
		return qlb_usage_error("%s: %s", c.header, strerror(errno));
	}
	rc = fc_model_export_header_named(&m, f, c.symbol, comment);
	if (fclose(f) && !rc)
		rc = -EIO;
	fc_model_free(&m);
	if (rc) {
		qlb_err("%s: write failed", c.header);
		return 1;
	}
	return 0;
}

static const struct qlb_cli_command forecast_verbs[] = {
	{ "train", do_train },
	{ "eval", do_eval },
	{ "export", do_export },
};

int cmd_forecast(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	const struct qlb_cli_command *verb;

	if (sub && (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help"))) {
		fputs(usage_main, stdout);
		return 0;
	}
	verb = QLB_CLI_FIND_VERB("forecast", sub, forecast_verbs, "train, eval or export");
	return verb ? verb->run(argc - 1, argv + 1) : QLB_EXIT_USAGE;
}
