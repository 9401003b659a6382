// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `qlb forecast`: train, evaluate and export the load forecaster. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"
#include "qlb.h"

/* ------------------------------------------------------------ evaluation */

const char *fc_eval_name(int forecaster)
{
	if (forecaster >= 0 && forecaster < FC_BASELINE_COUNT)
		return fc_baseline_name((enum fc_kind)forecaster);
	return forecaster == FC_BASELINE_COUNT ? "lstm" : "?";
}

struct acc {
	double abs, sq, smape;
	size_t n;
};

static void acc_add(struct acc *a, double forecast, double actual)
{
	double e = forecast - actual, den = fabs(forecast) + fabs(actual);

	a->abs += fabs(e);
	a->sq += e * e;
	a->smape += den > 0 ? 2.0 * fabs(e) / den : 0.0;
	a->n++;
}

static struct fc_metrics acc_done(const struct acc *a)
{
	struct fc_metrics m = { NAN, NAN, NAN, a->n };

	if (a->n) {
		m.mae = a->abs / (double)a->n;
		m.rmse = sqrt(a->sq / (double)a->n);
		m.smape = 100.0 * a->smape / (double)a->n;
	}
	return m;
}

int fc_eval(const struct fc_model *m, const double *x, size_t n, const struct fc_eval_opts *o,
	    struct fc_eval_result *r)
{
	struct acc acc[FC_EVAL_MAX_HORIZONS][FC_EVAL_FORECASTERS];
	size_t n_train;
	int rc = 0;

	if (!x || !o || !r || !o->n_horizons || o->n_horizons > FC_EVAL_MAX_HORIZONS ||
	    !(o->train_frac > 0 && o->train_frac < 1))
		return -EINVAL;
	n_train = (size_t)(o->train_frac * (double)n);
	if (n_train < 2 || n_train >= n)
		return -EINVAL;
	for (uint32_t i = 0; i < o->n_horizons; i++)
		if (o->horizons[i] < 1 || o->horizons[i] >= n - n_train + 1)
			return -EINVAL;
	memset(r, 0, sizeof(*r));
	memset(acc, 0, sizeof(acc));
	r->n = n;
	r->n_train = n_train;
	r->period = o->period;

	/* Baselines: parameters fitted on the training part for each horizon,
	 * then one streaming pass over the whole series. */
	for (uint32_t hi = 0; hi < o->n_horizons; hi++) {
		uint32_t h = o->horizons[hi];

		for (int k = 0; k < FC_BASELINE_COUNT; k++) {
			struct fc_baseline b;

			rc = fc_baseline_init(&b, (enum fc_kind)k, o->period);
			if (rc)
				return rc;
			fc_baseline_fit(&b, x, n_train, h);
			for (size_t t = 0; t + h < n; t++) {
				fc_baseline_update(&b, x[t]);
				if (t + 1 >= n_train && isfinite(x[t + h]))
					acc_add(&acc[hi][k], fc_baseline_forecast(&b, h), x[t + h]);
			}
			fc_baseline_free(&b);
		}
	}

	if (m) {
		struct fc_lstm_state s;
		double *out = malloc(m->arch.horizon * sizeof(double));

		if (!out || fc_lstm_state_init(&s, m)) {
			free(out);
			return -ENOMEM;
		}
		for (size_t t = 0; t < n; t++) {
			fc_lstm_step_raw(m, &s, x[t], out);
			if (t + 1 < n_train)
				continue;
			for (uint32_t hi = 0; hi < o->n_horizons; hi++) {
				uint32_t h = o->horizons[hi];

				if (h <= m->arch.horizon && t + h < n && isfinite(x[t + h]))
					acc_add(&acc[hi][FC_BASELINE_COUNT], out[h - 1], x[t + h]);
			}
		}
		fc_lstm_state_free(&s);
		free(out);
	}

	for (uint32_t hi = 0; hi < o->n_horizons; hi++) {
		double best = INFINITY;

		r->lstm_valid[hi] = m && o->horizons[hi] <= m->arch.horizon;
		r->winner[hi] = -1;
		for (int k = 0; k < FC_EVAL_FORECASTERS; k++) {
			r->m[hi][k] = acc_done(&acc[hi][k]);
			if (r->m[hi][k].n && r->m[hi][k].mae < best) {
				best = r->m[hi][k].mae;
				r->winner[hi] = k;
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ CLI */

struct cli {
	const char *trace, *out, *model, *header, *symbol;
	struct fc_series_opts series;
	struct fc_arch arch;
	struct fc_prep_opts prep;
	struct fc_train_opts train;
	uint32_t season;
	long period; /* -1 = auto */
	double train_frac;
	uint32_t horizons[FC_EVAL_MAX_HORIZONS];
	uint32_t n_horizons;
	int json, verbose, residual, diff;
};

enum {
	OPT_TRACE = 256, OPT_HORIZON, OPT_OUT, OPT_HIDDEN, OPT_LAYERS, OPT_MLP, OPT_WINDOW,
	OPT_EPOCHS, OPT_LR, OPT_SEED, OPT_AGGREGATE, OPT_OFFSET, OPT_LIMIT, OPT_BATCH,
	OPT_SEASON, OPT_NORM, OPT_WINSOR, OPT_IMPUTE, OPT_NO_RESIDUAL, OPT_VAL, OPT_TRAIN_FRAC,
	OPT_MODEL, OPT_HORIZONS, OPT_JSON, OPT_PERIOD, OPT_HEADER, OPT_SYMBOL, OPT_VERBOSE,
	OPT_LOSS, OPT_DIFF, OPT_HELP,
};

#define TRAIN_OPTS                                                              \
	{ "hidden", required_argument, NULL, OPT_HIDDEN },                      \
	{ "layers", required_argument, NULL, OPT_LAYERS },                      \
	{ "mlp", required_argument, NULL, OPT_MLP },                            \
	{ "window", required_argument, NULL, OPT_WINDOW },                      \
	{ "epochs", required_argument, NULL, OPT_EPOCHS },                      \
	{ "lr", required_argument, NULL, OPT_LR },                              \
	{ "seed", required_argument, NULL, OPT_SEED },                          \
	{ "batch", required_argument, NULL, OPT_BATCH },                        \
	{ "season", required_argument, NULL, OPT_SEASON },                      \
	{ "norm", required_argument, NULL, OPT_NORM },                          \
	{ "winsor", required_argument, NULL, OPT_WINSOR },                      \
	{ "impute", required_argument, NULL, OPT_IMPUTE },                      \
	{ "no-residual", no_argument, NULL, OPT_NO_RESIDUAL },                  \
	{ "val", required_argument, NULL, OPT_VAL },                            \
	{ "loss", required_argument, NULL, OPT_LOSS },                          \
	{ "no-diff", no_argument, NULL, OPT_DIFF },                             \
	{ "verbose", no_argument, NULL, OPT_VERBOSE }

#define SERIES_OPTS                                                             \
	{ "trace", required_argument, NULL, OPT_TRACE },                        \
	{ "aggregate", required_argument, NULL, OPT_AGGREGATE },                \
	{ "offset", required_argument, NULL, OPT_OFFSET },                      \
	{ "limit", required_argument, NULL, OPT_LIMIT }

static const struct option train_options[] = {
	SERIES_OPTS, TRAIN_OPTS,
	{ "horizon", required_argument, NULL, OPT_HORIZON },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "train-frac", required_argument, NULL, OPT_TRAIN_FRAC },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static const struct option eval_options[] = {
	SERIES_OPTS, TRAIN_OPTS,
	{ "model", required_argument, NULL, OPT_MODEL },
	{ "horizons", required_argument, NULL, OPT_HORIZONS },
	{ "horizon", required_argument, NULL, OPT_HORIZON },
	{ "period", required_argument, NULL, OPT_PERIOD },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static const struct option export_options[] = {
	{ "model", required_argument, NULL, OPT_MODEL },
	{ "header", required_argument, NULL, OPT_HEADER },
	{ "symbol", required_argument, NULL, OPT_SYMBOL },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static const char usage_main[] =
	"usage: qlb forecast <command> [options]\n"
	"\n"
	"Forecasts per-window request rates (a VIP's arrival rate) a few windows ahead.\n"
	"\n"
	"commands:\n"
	"  train   train an LSTM on a trace and write a model file\n"
	"  eval    score the LSTM and the baselines (naive, seasonal-naive, ewma, holt,\n"
	"          holt-winters) on the last 20% of a trace: MAE, RMSE, sMAPE\n"
	"  export  write a model as a C header (static const byte array)\n"
	"\n"
	"Run 'qlb forecast <command> --help' for the options of a command.\n"
	"Exit status: 0 ok, 1 runtime failure, 2 bad input.\n";

static const char usage_series[] =
	"series:\n"
	"  --trace FILE      CSV or gzip CSV: NASA per-second (`requests`), WorldCup\n"
	"                    per-minute (`num_request`) or qlb history (`ts`,`lambda`;\n"
	"                    lambda summed per ts). Required.\n"
	"  --aggregate K     sum K consecutive rows into one point (default 1)\n"
	"  --offset O        skip O input rows first (default 0)\n"
	"  --limit N         read at most N input rows after the offset (default all)\n";

static const char usage_train_opts[] =
	"model and training:\n"
	"  --hidden N        LSTM units per layer, 1..256 (default 32)\n"
	"  --layers L        stacked LSTM layers, 1..3 (default 1)\n"
	"  --mlp N           dense+ReLU front layer width, 0 = none (default 0)\n"
	"  --window W        truncated-BPTT length in steps (default 64)\n"
	"  --epochs E        passes over the training data (default 40)\n"
	"  --lr X            Adam step size, decays linearly to X/10 (default 0.003)\n"
	"  --batch B         parallel streams per Adam step (default 4)\n"
	"  --seed S          weight-init and shuffling seed (default 1)\n"
	"  --season M        also feed the value M steps before each target, e.g.\n"
	"                    1440 (a day of minutes); 0 = off (default)\n"
	"  --norm KIND       minmax or log1p (log1p then min-max; default log1p)\n"
	"  --winsor LO,HI    winsorising percentiles (default 1,99)\n"
	"  --impute KIND     missing windows: mean or last (default mean)\n"
	"  --no-residual     forecast levels, not the change from the last value\n"
	"  --no-diff         do not feed the step-to-step change as an extra input\n"
	"  --loss KIND       training loss on normalised values: mse or mae\n"
	"                    (default mae)\n"
	"  --val F           tail fraction used to keep the best epoch (default 0.1)\n"
	"  --verbose         print one line per epoch to stderr\n";

static void usage_train(FILE *f)
{
	fprintf(f, "usage: qlb forecast train --trace FILE --horizon H --out MODEL [options]\n\n"
		   "Trains the LSTM on the whole series (or its first --train-frac) and writes\n"
		   "a model file with its preprocessing.\n\n"
		   "  --horizon H       forecast steps 1..H ahead, 1..64 (required)\n"
		   "  --out MODEL       model file to write (required)\n"
		   "  --train-frac F    train on the first F of the series (default 1; use\n"
		   "                    0.8 to match 'eval')\n\n");
	fputs(usage_series, f);
	fputc('\n', f);
	fputs(usage_train_opts, f);
}

static void usage_eval(FILE *f)
{
	fprintf(f, "usage: qlb forecast eval --trace FILE [--model MODEL] [options]\n\n"
		   "Fits on the first 80%% of the series and reports MAE, RMSE and sMAPE on the\n"
		   "last 20%% for the LSTM and every baseline, and the winner per horizon.\n"
		   "Without --model an LSTM is trained with the model options below.\n\n"
		   "  --model MODEL     evaluate this model file instead of training one\n"
		   "  --horizons LIST   comma-separated horizons, up to 8 (default 1,5)\n"
		   "  --period M        seasonal period of the baselines (default: one day\n"
		   "                    if the interval is known, else 0 = non-seasonal)\n"
		   "  --json            print JSON instead of a table\n\n");
	fputs(usage_series, f);
	fputc('\n', f);
	fputs(usage_train_opts, f);
}

static void usage_export(FILE *f)
{
	fprintf(f, "usage: qlb forecast export --model MODEL --header FILE [--symbol NAME]\n\n"
		   "Writes the serialised model as a C header defining\n"
		   "`static const unsigned char NAME[]` and `NAME_len`; the agent loads it with\n"
		   "fc_model_deserialize(), the same loader as for files.\n\n"
		   "  --model MODEL     model file to read (required)\n"
		   "  --header FILE     header to write (required)\n"
		   "  --symbol NAME     C identifier (default qlb_default_model)\n");
}

static int parse_ulong(const char *opt, const char *s, unsigned long lo, unsigned long hi,
		       unsigned long *out)
{
	uint64_t v;
	int err = qlb_parse_u64(s, lo, hi, &v);

	if (err == -EINVAL)
		return qlb_usage_error("--%s: '%s' is not a non-negative integer", opt, s ? s : "");
	if (err)
		return qlb_usage_error("--%s: '%s' out of range %lu..%lu", opt, s, lo, hi);
	*out = (unsigned long)v;
	return 0;
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
	int err = qlb_parse_double(s, lo, hi, out);

	if (err == -EINVAL)
		return qlb_usage_error("--%s: '%s' is not a number", opt, s);
	if (err)
		return qlb_usage_error("--%s: '%s' out of range %g..%g", opt, s, lo, hi);
	return 0;
}

static int parse_list(const char *s, struct cli *c)
{
	char buf[128], *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return qlb_usage_error("--horizons: list too long");
	strcpy(buf, s);
	c->n_horizons = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long v;

		if (c->n_horizons == FC_EVAL_MAX_HORIZONS)
			return qlb_usage_error("--horizons: at most %d horizons", FC_EVAL_MAX_HORIZONS);
		if (parse_ulong("horizons", tok, 1, FC_MAX_HORIZON, &v))
			return 2;
		c->horizons[c->n_horizons++] = (uint32_t)v;
	}
	if (!c->n_horizons)
		return qlb_usage_error("--horizons: empty list");
	return 0;
}

static void cli_defaults(struct cli *c)
{
	memset(c, 0, sizeof(*c));
	c->arch = (struct fc_arch){ .mlp = 0, .hidden = 32, .layers = 1, .horizon = 0,
				    .window = 64, .season = 0, .flags = FC_ARCH_RESIDUAL };
	c->prep = (struct fc_prep_opts){ .lo_pct = 1, .hi_pct = 99,
					 .norm = FC_NORM_LOG1P_MINMAX,
					 .impute = FC_IMPUTE_MEAN };
	fc_train_opts_default(&c->train);
	c->diff = 1;
	c->period = -1;
	c->train_frac = 1.0;
	c->horizons[0] = 1;
	c->horizons[1] = 5;
	c->n_horizons = 2;
	c->residual = 1;
	c->symbol = "qlb_default_model";
}

/* 0 to go on, 2 on bad input, -1 after --help (exit 0). */
static int parse(int argc, char **argv, const struct option *opts, void (*usage)(FILE *),
		 struct cli *c)
{
	int ch;

	optind = 0; /* full reset: cmd_forecast may run more than once per process */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		unsigned long u;
		int rc = 0;

		switch (ch) {
		case OPT_TRACE: c->trace = optarg; break;
		case OPT_OUT: c->out = optarg; break;
		case OPT_MODEL: c->model = optarg; break;
		case OPT_HEADER: c->header = optarg; break;
		case OPT_SYMBOL: c->symbol = optarg; break;
		case OPT_JSON: c->json = 1; break;
		case OPT_VERBOSE: c->verbose = 1; break;
		case OPT_NO_RESIDUAL: c->residual = 0; break;
		case OPT_DIFF: c->diff = 0; break;
		case OPT_HELP: usage(stdout); return -1;
		case OPT_HORIZON:
			rc = parse_ulong("horizon", optarg, 1, FC_MAX_HORIZON, &u);
			c->arch.horizon = (uint32_t)u;
			break;
		case OPT_HIDDEN:
			rc = parse_ulong("hidden", optarg, 1, FC_MAX_HIDDEN, &u);
			c->arch.hidden = (uint32_t)u;
			break;
		case OPT_LAYERS:
			rc = parse_ulong("layers", optarg, 1, FC_MAX_LAYERS, &u);
			c->arch.layers = (uint32_t)u;
			break;
		case OPT_MLP:
			rc = parse_ulong("mlp", optarg, 0, FC_MAX_MLP, &u);
			c->arch.mlp = (uint32_t)u;
			break;
		case OPT_WINDOW:
			rc = parse_ulong("window", optarg, 1, FC_MAX_WINDOW, &u);
			c->arch.window = (uint32_t)u;
			break;
		case OPT_EPOCHS:
			rc = parse_ulong("epochs", optarg, 1, 100000, &u);
			c->train.epochs = (uint32_t)u;
			break;
		case OPT_BATCH:
			rc = parse_ulong("batch", optarg, 1, 4096, &u);
			c->train.batch = (uint32_t)u;
			break;
		case OPT_SEED:
			rc = parse_ulong("seed", optarg, 0, ULONG_MAX, &u);
			c->train.seed = u;
			break;
		case OPT_SEASON:
			rc = parse_ulong("season", optarg, 0, FC_MAX_SEASON, &u);
			c->season = (uint32_t)u;
			break;
		case OPT_PERIOD:
			rc = parse_ulong("period", optarg, 0, 8u * FC_MAX_SEASON, &u);
			c->period = (long)u;
			break;
		case OPT_AGGREGATE:
			rc = parse_ulong("aggregate", optarg, 1, 1000000, &u);
			c->series.aggregate = u;
			break;
		case OPT_OFFSET:
			rc = parse_ulong("offset", optarg, 0, ULONG_MAX, &u);
			c->series.offset = u;
			break;
		case OPT_LIMIT:
			rc = parse_ulong("limit", optarg, 1, ULONG_MAX, &u);
			c->series.limit = u;
			break;
		case OPT_LR:
			rc = parse_double("lr", optarg, 1e-7, 1.0, &c->train.lr);
			break;
		case OPT_VAL:
			rc = parse_double("val", optarg, 0, 0.49, &c->train.val_frac);
			break;
		case OPT_TRAIN_FRAC:
			rc = parse_double("train-frac", optarg, 0.01, 1.0, &c->train_frac);
			break;
		case OPT_HORIZONS:
			rc = parse_list(optarg, c);
			break;
		case OPT_NORM:
			if (!strcmp(optarg, "minmax"))
				c->prep.norm = FC_NORM_MINMAX;
			else if (!strcmp(optarg, "log1p"))
				c->prep.norm = FC_NORM_LOG1P_MINMAX;
			else
				rc = qlb_usage_error("--norm: '%s' is not minmax or log1p", optarg);
			break;
		case OPT_LOSS:
			if (!strcmp(optarg, "mse"))
				c->train.l1 = 0;
			else if (!strcmp(optarg, "mae"))
				c->train.l1 = 1;
			else
				rc = qlb_usage_error("--loss: '%s' is not mse or mae", optarg);
			break;
		case OPT_IMPUTE:
			if (!strcmp(optarg, "mean"))
				c->prep.impute = FC_IMPUTE_MEAN;
			else if (!strcmp(optarg, "last"))
				c->prep.impute = FC_IMPUTE_LAST;
			else
				rc = qlb_usage_error("--impute: '%s' is not mean or last", optarg);
			break;
		case OPT_WINSOR: {
			double lo, hi;
			char tail;

			if (sscanf(optarg, "%lf,%lf%c", &lo, &hi, &tail) != 2 || !(lo >= 0) ||
			    !(hi <= 100) || !(lo < hi))
				rc = qlb_usage_error("--winsor: '%s' is not LO,HI with 0 <= LO < HI <= 100",
					  optarg);
			c->prep.lo_pct = lo;
			c->prep.hi_pct = hi;
			break;
		}
		case ':':
			return qlb_usage_error("%s: option needs a value (see --help)", argv[optind - 1]);
		case '?':
		default:
			if (optopt)
				return qlb_usage_error("unknown option '-%c' (see --help)", optopt);
			return qlb_usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
		}
		if (rc)
			return 2;
	}
	if (optind < argc)
		return qlb_usage_error("unexpected argument '%s' (see --help)", argv[optind]);
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
	char err[FC_ERR_LEN];
	int rc;

	if (!c->trace)
		return qlb_usage_error("--trace FILE is required (see --help)");
	rc = fc_series_read(c->trace, &c->series, s, err);
	if (rc)
		return qlb_usage_error("%s", err);
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
	char err[FC_ERR_LEN];
	int rc;

	c->arch.season = c->season;
	c->arch.flags = (c->residual ? FC_ARCH_RESIDUAL : 0) | (c->diff ? FC_ARCH_DIFF_INPUT : 0);
	rc = fc_arch_validate(&c->arch, err);
	if (rc)
		return qlb_usage_error("%s", err);
	c->train.log = c->verbose ? stderr : NULL;
	rc = fc_model_train_series(m, &c->arch, &c->prep, &c->train, x, n, &rep, err);
	if (rc)
		return rc == -ENOMEM ? (qlb_err("%s", err), 1) : qlb_usage_error("%s", err);
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
	char err[FC_ERR_LEN];
	size_t n;
	int rc;

	cli_defaults(&c);
	rc = parse(argc, argv, train_options, usage_train, &c);
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
	rc = fc_model_save(&m, c.out, err);
	fc_model_free(&m);
	if (rc == -EIO || rc == -ENOSPC || rc == -ENOMEM) {
		fprintf(stderr, "qlb: %s\n", err);
		return 1;
	}
	return rc ? qlb_usage_error("%s", err) : 0;
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
	for (uint32_t hi = 0; hi < c->n_horizons; hi++) {
		for (int k = 0; k < FC_EVAL_FORECASTERS; k++) {
			const struct fc_metrics *mt = &r->m[hi][k];

			if (k == FC_BASELINE_COUNT && !r->lstm_valid[hi]) {
				printf("%-7u  %-14s  %12s  %12s  %8s\n", c->horizons[hi],
				       fc_eval_name(k), "n/a", "n/a", "n/a");
				continue;
			}
			printf("%-7u  %-14s  %12.4f  %12.4f  %8.3f%s\n", c->horizons[hi],
			       fc_eval_name(k), mt->mae, mt->rmse, mt->smape,
			       r->winner[hi] == k ? "  *" : "");
		}
	}
	printf("\n");
	for (uint32_t hi = 0; hi < c->n_horizons; hi++) {
		double best_base = INFINITY;
		int bb = 0;

		for (int k = 0; k < FC_BASELINE_COUNT; k++)
			if (r->m[hi][k].mae < best_base) {
				best_base = r->m[hi][k].mae;
				bb = k;
			}
		printf("winner at horizon %u: %s", c->horizons[hi], fc_eval_name(r->winner[hi]));
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
	for (uint32_t hi = 0; hi < c->n_horizons; hi++) {
		printf("%s{\"horizon\":%u,\"winner\":\"%s\",\"forecasters\":{", hi ? "," : "",
		       c->horizons[hi], fc_eval_name(r->winner[hi]));
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
	char err[FC_ERR_LEN];
	uint32_t max_h = 0;
	size_t n_train;
	int rc;

	cli_defaults(&c);
	rc = parse(argc, argv, eval_options, usage_eval, &c);
	if (rc)
		return rc < 0 ? 0 : rc;
	for (uint32_t i = 0; i < c.n_horizons; i++)
		if (c.horizons[i] > max_h)
			max_h = c.horizons[i];
	if (!c.arch.horizon)
		c.arch.horizon = max_h;
	if (c.model) {
		rc = fc_model_load(&m, c.model, err);
		if (rc)
			return qlb_usage_error("%s", err);
	}
	rc = load_series(&c, &s);
	if (rc) {
		if (c.model)
			fc_model_free(&m);
		return rc;
	}
	eo = (struct fc_eval_opts){ .n_horizons = c.n_horizons, .train_frac = 0.8 };
	memcpy(eo.horizons, c.horizons, sizeof(eo.horizons));
	eo.period = c.period >= 0 ? (uint32_t)c.period : daily_period(&s);
	n_train = (size_t)(eo.train_frac * (double)s.n);
	if (eo.period * 2 > n_train && c.period < 0)
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
		fprintf(stderr, "qlb: out of memory\n");
		goto out;
	}
	rc = fc_eval(&m, s.v, s.n, &eo, r);
	if (rc) {
		rc = rc == -ENOMEM ? 1 : 2;
		fprintf(stderr, "qlb: evaluation failed: %s\n", strerror(rc == 1 ? ENOMEM : EINVAL));
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
	char err[FC_ERR_LEN], comment[FC_ERR_LEN * 4];
	FILE *f;
	int rc;

	cli_defaults(&c);
	rc = parse(argc, argv, export_options, usage_export, &c);
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
	rc = fc_model_load(&m, c.model, err);
	if (rc)
		return qlb_usage_error("%s", err);
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
		fprintf(stderr, "qlb: %s: write failed\n", c.header);
		return 1;
	}
	return 0;
}

int cmd_forecast(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub)
		return qlb_usage_error("forecast: missing command: train, eval or export (see --help)");
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (!strcmp(sub, "train"))
		return do_train(argc - 1, argv + 1);
	if (!strcmp(sub, "eval"))
		return do_eval(argc - 1, argv + 1);
	if (!strcmp(sub, "export"))
		return do_export(argc - 1, argv + 1);
	return qlb_usage_error("forecast: unknown command '%s' (train, eval, export; see --help)", sub);
}
