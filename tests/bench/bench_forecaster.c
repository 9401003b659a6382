// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's online forecaster (agent/model/forecaster.h):
 *   1. cost per window and VIP, with and without the LSTM and the periodic
 *      EWMA/Holt refit, next to a bare EWMA update as the reference;
 *   2. a replay of the traces (data/traces/) as the agent would see them (1 s and
 *      60 s windows): MAE of the λ̂ handed to the policy against each
 *      candidate's, and how often each one was in use. These are the
 *      numbers in docs/forecast-accuracy.md.
 * Run from the repo root, where the traces are (tests/traces.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "forecaster.h"
#include "../traces.h"

static volatile double sink;

static double ns_per_step(const char *model, uint32_t refit)
{
	struct qlb_forecaster_opts o;
	struct qlb_forecaster *f;
	struct qlb_error err = {};
	const int n = 300000;
	double t0, s = 0;

	qlb_forecaster_opts_default(&o);
	o.model = model;
	o.refit = refit;
	if (qlb_forecaster_create(&o, &f, &err))
		return NAN;
	t0 = qlb_mono_s();
	for (int t = 0; t < n; t++)
		s += qlb_forecaster_step(f, 100 + 50 * sin(t * 0.01) + (t % 7), NULL);
	t0 = qlb_mono_s() - t0;
	sink = s;
	qlb_forecaster_destroy(f);
	return t0 / n * 1e9;
}

static void bench_cost(void)
{
	struct fc_baseline b;
	const int n = 10000000;
	double t0, ref, lstm_refit = ns_per_step(NULL, 30), lstm = ns_per_step(NULL, 0),
		       base_refit = ns_per_step("none", 30), base = ns_per_step("none", 0);

	fc_baseline_init(&b, FC_EWMA, 0);
	t0 = qlb_mono_s();
	for (int t = 0; t < n; t++) {
		fc_baseline_update(&b, 100 + (t % 7));
		sink = fc_baseline_forecast(&b, 1);
	}
	ref = (qlb_mono_s() - t0) / n * 1e9;
	fc_baseline_free(&b);
	printf("forecaster step, per VIP and window (validation 30, refit every 30 on 120):\n");
	printf("  LSTM + baselines, refit    %8.1f ns/step  ratio %.0f\n", lstm_refit,
	       lstm_refit / ref);
	printf("  LSTM + baselines, no refit %8.1f ns/step  ratio %.0f\n", lstm, lstm / ref);
	printf("  baselines only, refit      %8.1f ns/step  ratio %.0f\n", base_refit,
	       base_refit / ref);
	printf("  baselines only, no refit   %8.1f ns/step  ratio %.0f\n", base, base / ref);
	printf("  one refit (EWMA + Holt grid on 120 windows): %.1f us\n",
	       (base_refit - base) * 30 / 1e3);
	printf("  reference: EWMA update + forecast %.1f ns\n", ref);
}

/* Replays x[from..from+n) (arrivals/s per window). */
static void replay(const double *x, size_t from, size_t n, uint32_t validation, const char *label)
{
	struct qlb_forecaster_opts o;
	struct qlb_forecaster *f;
	struct qlb_forecast_info in;
	struct qlb_error err = {};
	double sel = 0, mae[QLB_FC_MAX_CANDIDATES] = { 0 }, prev[QLB_FC_MAX_CANDIDATES], lh = NAN;
	size_t cnt = 0, used[QLB_FC_MAX_CANDIDATES] = { 0 };

	qlb_forecaster_opts_default(&o);
	o.validation = validation;
	if (qlb_forecaster_create(&o, &f, &err))
		return;
	memset(&in, 0, sizeof(in));
	for (size_t t = from; t < from + n; t++) {
		/* everyone scored on the windows the policy got a forecast for */
		if (isfinite(lh) && isfinite(x[t])) {
			sel += fabs(lh - x[t]);
			for (uint32_t i = 0; i < in.n; i++)
				mae[i] += fabs(prev[i] - x[t]);
			for (uint32_t i = 0; i < in.n; i++)
				used[i] += !strcmp(in.winner, in.c[i].name);
			cnt++;
		}
		lh = qlb_forecaster_step(f, x[t], &in);
		for (uint32_t i = 0; i < in.n; i++)
			prev[i] = in.c[i].forecast;
	}
	printf("%s, validation %u: %zu windows, selected %.4f |", label, validation, cnt,
	       sel / (double)cnt);
	for (uint32_t i = 0; i < in.n; i++)
		printf(" %s %.4f (%.0f%%)", in.c[i].name, mae[i] / (double)cnt,
		       100.0 * (double)used[i] / (double)cnt);
	printf("\n");
	qlb_forecaster_destroy(f);
}

static int load(const char *file, size_t aggregate, struct fc_series *s)
{
	struct fc_series_opts so = { .aggregate = aggregate };
	char path[512];
	struct qlb_error err = {};

	snprintf(path, sizeof(path), "%s/%s", qlb_traces_dir(), file);
	if (fc_series_read(path, &so, s, &err)) {
		printf("skipped: %s\n", err.msg);
		return -1;
	}
	/* counts per window -> arrivals/s, what the agent feeds */
	for (size_t i = 0; i < s->n; i++)
		s->v[i] /= s->interval_s > 0 ? s->interval_s : 1;
	return 0;
}

static void bench_traces(void)
{
	static const uint32_t vals[] = { 30, 120 };
	struct fc_series s;

	printf("replay: MAE in arrivals/s of the forecast the policy gets ('selected') and of "
	       "each candidate, (share of windows it was in use); compiled model, scale 60\n");
	if (!load("nasa-http-1995-per-second.csv.gz", 0, &s)) {
		for (int v = 0; v < 2; v++)
			replay(s.v, 0, s.n < 7 * 86400 ? s.n : 7 * 86400, vals[v],
			       "NASA, 1 s windows, first week");
		fc_series_free(&s);
	}
	if (!load("nasa-http-1995-per-second.csv.gz", 60, &s)) {
		for (int v = 0; v < 2; v++)
			replay(s.v, 0, s.n, vals[v], "NASA, 60 s windows");
		fc_series_free(&s);
	}
	if (!load("worldcup98-per-minute.csv.gz", 0, &s)) {
		/* the last 20%: the compiled model never saw it */
		size_t from = s.n - s.n / 5;

		for (int v = 0; v < 2; v++)
			replay(s.v, from, s.n - from, vals[v], "WorldCup, 60 s windows, test 20%");
		fc_series_free(&s);
	}
}

int main(void)
{
	bench_cost();
	bench_traces();
	return 0;
}
