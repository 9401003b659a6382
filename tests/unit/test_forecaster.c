// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of the agent's forecast hook and scaling signals
 * (agent/model/forecaster.h): online selection among the forecasters, model
 * fallbacks, the threshold scaler and the --on-scale hook. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "forecaster.h"
#include "assert_near.h"

/* ------------------------------------------------------------- helpers */


/* splitmix64: a private, seeded stream per test */
struct rng {
	uint64_t s;
};

static double rnd_uniform(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double rnd_normal(struct rng *r)
{
	double u1 = rnd_uniform(r), u2 = rnd_uniform(r);

	return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static struct qlb_forecaster *make(const char *model, uint32_t refit)
{
	struct qlb_forecaster_opts o;
	struct qlb_forecaster *f;
	struct qlb_error err = {};
	int rc;

	qlb_forecaster_opts_default(&o);
	o.model = model;
	if (refit != UINT32_MAX)
		o.refit = refit;
	rc = qlb_forecaster_create(&o, &f, &err);
	if (rc || err.msg[0])
		fail_msg("create(%s): %d '%s'", model ? model : "compiled", rc, err.msg);
	return f;
}

static int cand(const struct qlb_forecast_info *in, const char *name)
{
	for (uint32_t i = 0; i < in->n; i++)
		if (!strcmp(in->c[i].name, name))
			return (int)i;
	fail_msg("no candidate %s", name);
	return -1;
}

/* The winner's rolling MAE is no higher than any other's. */
static void assert_winner_is_best(const struct qlb_forecast_info *in)
{
	double w = in->c[cand(in, in->winner)].mae;

	for (uint32_t i = 0; i < in->n; i++)
		if (!(w <= in->c[i].mae))
			fail_msg("winner %s MAE %.6f > %s MAE %.6f", in->winner, w, in->c[i].name,
				 in->c[i].mae);
}

static void print_info(const char *what, const struct qlb_forecast_info *in)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "# %s: winner %s, rolling MAE", what, in->winner);

	for (uint32_t i = 0; i < in->n && n > 0 && (size_t)n < sizeof(line); i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %s %.3f", in->c[i].name,
			      in->c[i].mae);
	print_message("%s\n", line);
}

/* ------------------------------------------------------- forecasting */

/* Flat load, a missing window, then a surge: NAN until warm, then finite
 * forecasts that follow the surge. */
static void test_warmup_and_surge(void **state)
{
	struct qlb_forecaster *f = make(NULL, UINT32_MAX);
	struct qlb_forecast_info in, prev = { 0 };
	struct rng r = { 1 };
	double lh, x;

	(void)state;
	for (int t = 0; t < 160; t++) {
		if (t < 60)
			x = 100 + 3 * rnd_normal(&r);
		else if (t < 70)
			x = 100 + 30.0 * (t - 59) + 3 * rnd_normal(&r); /* 100 -> 400 /s */
		else
			x = 400 + 6 * rnd_normal(&r);
		if (t == 45)
			x = NAN; /* a missing window */
		lh = qlb_forecaster_step(f, x, &in);
		assert_int_equal(in.windows, t + 1);
		/* the first window only starts the forecasts: 30 scored
		 * windows are 31 steps */
		if (t < 30) {
			assert_true(isnan(lh));
			assert_false(in.warm);
			continue;
		}
		if (!isfinite(lh) || !in.warm || lh < 0)
			fail_msg("window %d: lambda_hat %g (warm %d)", t, lh, in.warm);
		assert_near(in.lambda_hat, lh, 0);
		assert_winner_is_best(&in);
		if (t == 45) /* a missing window is not scored */
			for (uint32_t i = 0; i < in.n; i++)
				assert_near(in.c[i].mae, prev.c[i].mae, 0);
		prev = in;
		if (t >= 80 && fabs(lh - 400) > 40)
			fail_msg("window %d: lambda_hat %.1f does not follow the surge to 400", t,
				 lh);
	}
	print_info("surge, end", &in);
	qlb_forecaster_destroy(f);
}

/* A smooth daily-like cycle: a trend-following forecaster beats naive and
 * is picked; the same stream gives the same forecasts. */
static void test_seasonal_series(void **state)
{
	struct qlb_forecaster *f = make(NULL, UINT32_MAX), *g = make(NULL, UINT32_MAX);
	struct qlb_forecast_info in, in2;
	struct rng r = { 2 };

	(void)state;
	for (int t = 0; t < 600; t++) {
		double x = 200 + 100 * sin(2 * M_PI * t / 60.0) + 3 * rnd_normal(&r);
		double a = qlb_forecaster_step(f, x, &in), b = qlb_forecaster_step(g, x, &in2);

		if (memcmp(&a, &b, sizeof(a)))
			fail_msg("window %d: two forecasters on one stream differ", t);
		if (t < 100 || t % 50)
			continue;
		assert_winner_is_best(&in);
		if (strcmp(in.winner, "holt") && strcmp(in.winner, "lstm"))
			fail_msg("window %d: %s picked on a smooth cycle", t, in.winner);
		if (!(in.c[cand(&in, in.winner)].mae < 0.9 * in.c[cand(&in, "naive")].mae))
			fail_msg("window %d: %s does not beat naive by 10%%", t, in.winner);
	}
	print_info("sine + noise", &in);
	qlb_forecaster_destroy(f);
	qlb_forecaster_destroy(g);
}

static void test_constant_series(void **state)
{
	struct qlb_forecaster *f = make(NULL, UINT32_MAX);
	struct qlb_forecast_info in;
	double lh = NAN;

	(void)state;
	for (int t = 0; t < 100; t++)
		lh = qlb_forecaster_step(f, 250, &in);
	assert_near(lh, 250, 1e-9);
	for (uint32_t i = 0; i < in.n; i++) {
		/* the LSTM is not exact: it forecasts a change from a float state */
		double tol = strcmp(in.c[i].name, "lstm") ? 1e-9 : 2.5;

		assert_near(in.c[i].mae, 0, tol);
		assert_near(in.c[i].forecast, 250, tol);
	}
	print_info("constant", &in);
	qlb_forecaster_destroy(f);
}

/* Options: a seasonal-naive candidate, an idle VIP, the shortest warm-up. */
static void test_options(void **state)
{
	static const double pattern[10] = { 10, 50, 20, 80, 30, 90, 15, 60, 5, 40 };
	struct qlb_forecaster_opts o;
	struct qlb_forecaster *f;
	struct qlb_forecast_info in;
	struct qlb_error err = {};
	double lh = NAN;

	(void)state;
	qlb_forecaster_opts_default(&o);
	o.season = 10;
	o.refit_phase = 7;
	assert_int_equal(qlb_forecaster_create(&o, &f, &err), 0);
	for (int t = 0; t < 100; t++) {
		lh = qlb_forecaster_step(f, pattern[t % 10], &in);
		if (t >= 50)
			assert_near(lh, pattern[(t + 1) % 10], 1e-12);
	}
	assert_int_equal(in.n, 5);
	assert_string_equal(in.winner, "seasonal-naive");
	assert_near(in.c[cand(&in, "seasonal-naive")].mae, 0, 0);
	print_info("period 10", &in);
	qlb_forecaster_destroy(f);

	/* an idle VIP forecasts exactly 0 (the LSTM clips small rates) */
	f = make(NULL, UINT32_MAX);
	for (int t = 0; t < 60; t++)
		lh = qlb_forecaster_step(f, 0, &in);
	assert_near(lh, 0, 0);
	assert_string_equal(in.winner, "naive");
	qlb_forecaster_destroy(f);

	/* all windows missing: never warm, never a crash */
	f = make(NULL, UINT32_MAX);
	for (int t = 0; t < 60; t++)
		assert_true(isnan(qlb_forecaster_step(f, t % 2 ? NAN : -1, &in)));
	assert_int_equal(in.scored, 0);
	assert_true(isnan(in.c[0].mae));
	qlb_forecaster_destroy(f);

	/* validation 1, warm-up 1: forecasts from the second window */
	qlb_forecaster_opts_default(&o);
	o.validation = o.warmup = 1;
	o.refit = 0;
	assert_int_equal(qlb_forecaster_create(&o, &f, &err), 0);
	assert_true(isnan(qlb_forecaster_step(f, 10, &in)));
	assert_true(isfinite(qlb_forecaster_step(f, 20, &in)));
	assert_int_equal(in.scored, 1);
	qlb_forecaster_destroy(f);
}

/* White noise around a level (EWMA's case), then a jumping random walk
 * (naive's): the winner changes within the validation length. */
static void switching(const char *model, uint32_t refit, uint64_t seed)
{
	struct qlb_forecaster *f = make(model, refit);
	struct qlb_forecast_info in;
	struct rng r = { seed };
	double level = 100;
	int first_naive = -1, naive_after = 0;

	for (int t = 0; t < 400; t++) {
		double x;

		if (t < 150) {
			x = 100 + 10 * rnd_normal(&r);
		} else {
			if (rnd_uniform(&r) < 0.3)
				level = fabs(level + 40 * rnd_normal(&r));
			x = level;
		}
		qlb_forecaster_step(f, x, &in);
		if (t == 149) {
			print_info("white noise", &in);
			assert_winner_is_best(&in);
			if (!strcmp(in.winner, "naive") ||
			    !(in.c[cand(&in, in.winner)].mae < 0.85 * in.c[cand(&in, "naive")].mae))
				fail_msg("on white noise %s won", in.winner);
			/* fixed parameters: EWMA (alpha 0.5) is the right smoother */
			if (refit == 0)
				assert_string_equal(in.winner, "ewma");
		}
		if (t >= 150 && !strcmp(in.winner, "naive")) {
			if (first_naive < 0)
				first_naive = t - 150;
			naive_after += t >= 180;
		}
	}
	print_info("random walk", &in);
	print_message("# naive first won %d windows after the switch, then %d of 220\n",
		      first_naive, naive_after);
	if (first_naive < 0 || first_naive >= 30)
		fail_msg("naive took %d windows to win (validation 30)", first_naive);
	if (naive_after < 200)
		fail_msg("naive won only %d of the 220 random-walk windows", naive_after);
	qlb_forecaster_destroy(f);
}

static void test_winner_switches(void **state)
{
	(void)state;
	switching("none", 0, 1);	/* the selection alone */
	switching("none", 0, 7);
	switching(NULL, UINT32_MAX, 3); /* defaults: LSTM and refits */
}

/* Forecasting helps before a surge: on a linear ramp (+5% of the start per
 * window) every warm forecast is closer to the next window than the last
 * observation is. Also at horizon 3. */
static void test_ramp_beats_naive(void **state)
{
	(void)state;
	for (uint32_t h = 1; h <= 3; h += 2) {
		struct qlb_forecaster_opts o;
		struct qlb_forecaster *f;
		struct qlb_forecast_info in;
		struct qlb_error err = {};
		double lh[200];
		int warm = 0;

		qlb_forecaster_opts_default(&o);
		o.horizon = h;
		assert_int_equal(qlb_forecaster_create(&o, &f, &err), 0);
		for (int t = 0; t < 120; t++) {
			double x = 100 * (1 + 0.05 * t);

			/* lh[t - h] was the forecast of this window */
			if (t >= (int)h && isfinite(lh[t - h])) {
				double prev = 100 * (1 + 0.05 * (t - (int)h));

				warm++;
				if (!(fabs(lh[t - h] - x) < fabs(prev - x)))
					fail_msg("h %u, window %d: forecast %.3f, naive %.3f, actual %.3f",
						 h, t, lh[t - h], prev, x);
			}
			lh[t] = qlb_forecaster_step(f, x, &in);
		}
		print_info(h == 1 ? "ramp, h 1" : "ramp, h 3", &in);
		/* scored against the window they forecast: naive is h steps behind */
		assert_near(in.c[cand(&in, "naive")].mae, 5.0 * h, 1e-9);
		assert_near(in.c[cand(&in, "holt")].mae, 0, 1e-6);
		assert_true(warm >= 80);
		assert_near(lh[119], 100 * (1 + 0.05 * (119 + h)), 1e-6);
		qlb_forecaster_destroy(f);
	}
}

/* ------------------------------------------------------------- models */

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Creation with a model spec: expected status, an error mentioning `want`
 * (NULL: no error), and a forecaster that runs. */
static void expect_model(const char *model, uint32_t horizon, enum qlb_forecaster_status st,
			 const char *want)
{
	struct qlb_forecaster_opts o;
	struct qlb_forecaster *f;
	struct qlb_forecast_info in;
	struct qlb_error err = {};
	double lh = NAN;

	qlb_forecaster_opts_default(&o);
	o.model = model;
	o.horizon = horizon;
	memset(err.msg, 'x', sizeof(err.msg));
	assert_int_equal(qlb_forecaster_create(&o, &f, &err), 0);
	assert_non_null(f);
	assert_non_null(memchr(err.msg, '\0', sizeof(err.msg)));
	print_message("# model %s, horizon %u: %s%s%s\n", model ? model : "(null)", horizon,
		      qlb_forecaster_status_name(qlb_forecaster_status(f)), err.msg[0] ? ": " : "",
		      err.msg);
	if (qlb_forecaster_status(f) != st)
		fail_msg("model %s: status %s, want %s", model,
			 qlb_forecaster_status_name(qlb_forecaster_status(f)),
			 qlb_forecaster_status_name(st));
	if (want && !strstr(err.msg, want))
		fail_msg("model %s: error '%s' does not mention '%s'", model, err.msg, want);
	if (!want && err.msg[0])
		fail_msg("model %s: unexpected error '%s'", model, err.msg);
	for (int t = 0; t < 40; t++)
		lh = qlb_forecaster_step(f, 50 + t, &in);
	assert_true(isfinite(lh));
	assert_int_equal(in.n, st == QLB_FC_STATUS_NONE || st == QLB_FC_STATUS_FALLBACK_NONE ? 3 : 4);
	qlb_forecaster_destroy(f);
}

static void test_model_fallbacks(void **state)
{
	char dir[] = "/tmp/qlb-fcr-XXXXXX", good[64], trunc[64], junk[64], shortm[64],
	     empty[64], missing[64], crc[64], longp[256];
	struct fc_model m, m1;
	struct fc_arch a1 = { .hidden = 4, .layers = 1, .horizon = 1, .window = 8 };
	uint8_t *buf, rnd[4096];
	size_t len;
	struct qlb_error err = {};
	struct rng r = { 9 };

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(good, sizeof(good), "%s/good.bin", dir);
	snprintf(trunc, sizeof(trunc), "%s/trunc.bin", dir);
	snprintf(junk, sizeof(junk), "%s/junk.bin", dir);
	snprintf(shortm, sizeof(shortm), "%s/h1.bin", dir);
	snprintf(empty, sizeof(empty), "%s/empty.bin", dir);
	snprintf(missing, sizeof(missing), "%s/missing.bin", dir);
	snprintf(crc, sizeof(crc), "%s/crc.bin", dir);
	snprintf(longp, sizeof(longp), "%s/%0180d.bin", dir, 0);

	assert_int_equal(qlb_forecaster_load_default(&m, &err), 0);
	assert_int_equal(fc_model_serialize(&m, &buf, &len), 0);
	write_file(good, buf, len);
	write_file(trunc, buf, len / 2);
	write_file(empty, buf, 0);
	buf[len / 2] ^= 0x20;	/* one weight bit: the CRC catches it */
	write_file(crc, buf, len);
	buf[len / 2] ^= 0x20;
	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)(rnd_uniform(&r) * 256);
	write_file(junk, rnd, sizeof(rnd));
	/* a valid model that forecasts only one window ahead */
	assert_int_equal(fc_model_init(&m1, &a1, 1), 0);
	{
		double raw[64];

		for (int i = 0; i < 64; i++)
			raw[i] = 50 + i;
		assert_int_equal(fc_prep_fit(&m1.prep, raw, 64, 1, 99, FC_NORM_LOG1P_MINMAX,
					     FC_IMPUTE_LAST),
				 0);
	}
	assert_int_equal(fc_model_save(&m1, shortm, &err), 0);

	expect_model(NULL, 1, QLB_FC_STATUS_COMPILED, NULL);
	expect_model("", 1, QLB_FC_STATUS_COMPILED, NULL);
	expect_model("compiled", 1, QLB_FC_STATUS_COMPILED, NULL);
	expect_model("none", 1, QLB_FC_STATUS_NONE, NULL);
	expect_model(good, 1, QLB_FC_STATUS_FILE, NULL);
	expect_model(shortm, 1, QLB_FC_STATUS_FILE, NULL);
	expect_model(missing, 1, QLB_FC_STATUS_FALLBACK_COMPILED, "missing.bin");
	expect_model(missing, 1, QLB_FC_STATUS_FALLBACK_COMPILED, "compiled");
	expect_model(trunc, 1, QLB_FC_STATUS_FALLBACK_COMPILED, "trunc.bin");
	expect_model(junk, 1, QLB_FC_STATUS_FALLBACK_COMPILED, "junk.bin");
	expect_model(empty, 1, QLB_FC_STATUS_FALLBACK_COMPILED, "empty.bin");
	expect_model(crc, 1, QLB_FC_STATUS_FALLBACK_COMPILED, "CRC");
	/* a long reason is cut, the fallback is not */
	expect_model(longp, 1, QLB_FC_STATUS_FALLBACK_COMPILED, "; using the compiled model");
	expect_model(dir, 1, QLB_FC_STATUS_FALLBACK_COMPILED, "compiled");
	expect_model(shortm, 2, QLB_FC_STATUS_FALLBACK_COMPILED, "horizon 1 < 2 needed");
	/* the compiled model forecasts 5 windows ahead */
	expect_model(NULL, 6, QLB_FC_STATUS_FALLBACK_NONE, "horizon 5 < 6 needed; no usable model, baselines only");
	expect_model(junk, 6, QLB_FC_STATUS_FALLBACK_NONE, "baselines only");

	/* bad options are the only failures */
	{
		struct qlb_forecaster_opts o;
		struct qlb_forecaster *f = (void *)1;

		qlb_forecaster_opts_default(&o);
		o.validation = 0;
		assert_int_equal(qlb_forecaster_create(&o, &f, &err), -EINVAL);
		assert_null(f);
		assert_true(err.msg[0] != '\0');
		qlb_forecaster_opts_default(&o);
		o.horizon = FC_MAX_HORIZON + 1;
		assert_int_equal(qlb_forecaster_create(&o, &f, &err), -EINVAL);
		qlb_forecaster_opts_default(&o);
		o.model_scale = NAN;
		assert_int_equal(qlb_forecaster_create(&o, &f, &err), -EINVAL);
	}

	unlink(good);
	unlink(trunc);
	unlink(junk);
	unlink(shortm);
	unlink(empty);
	unlink(crc);
	rmdir(dir);
	free(buf);
	fc_model_free(&m);
	fc_model_free(&m1);
}

/* ------------------------------------------------------------- scaler */

static void test_scaler(void **state)
{
	struct qlb_scaler s;
	struct qlb_scaler_opts o;
	struct qlb_scale_event ev;
	int t, fired;

	(void)state;
	assert_int_equal(qlb_scaler_init(&s, NULL), 0);
	assert_near(s.o.theta_up, 0.8, 0);
	assert_near(s.o.theta_down, 0.3, 0);
	assert_int_equal(s.o.k, 3);
	assert_int_equal(s.o.cooldown, 10);

	/* k - 1 windows above, then a dip: nothing */
	assert_int_equal(qlb_scaler_step(&s, 90, 100, &ev), 0);
	assert_int_equal(qlb_scaler_step(&s, 90, 100, &ev), 0);
	assert_int_equal(qlb_scaler_step(&s, 50, 100, &ev), 0);
	/* exactly at the threshold is not above it */
	for (t = 0; t < 5; t++)
		assert_int_equal(qlb_scaler_step(&s, 80, 100, &ev), 0);
	/* k windows above: one scale-up with the figures */
	assert_int_equal(qlb_scaler_step(&s, 85, 100, &ev), 0);
	assert_int_equal(qlb_scaler_step(&s, 90, 100, &ev), 0);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(qlb_scaler_step(&s, 95, 100, &ev), 1);
	assert_int_equal(ev.dir, QLB_SCALE_UP);
	assert_near(ev.utilisation, 0.95, 1e-12);
	assert_near(ev.lambda_hat, 95, 0);
	assert_near(ev.mu, 100, 0);
	assert_near(ev.threshold, 0.8, 0);
	assert_int_equal(ev.windows, 3);
	assert_int_equal(s.ups, 1);
	/* still above: the cooldown holds the next 10 windows... */
	for (t = 0; t < 10; t++)
		assert_int_equal(qlb_scaler_step(&s, 95, 100, &ev), 0);
	/* ...then it fires again, counting the windows it waited */
	assert_int_equal(qlb_scaler_step(&s, 95, 100, &ev), 1);
	assert_int_equal(ev.windows, 11);
	assert_int_equal(s.ups, 2);

	/* below theta_down for k windows (after the cooldown): scale-down */
	fired = 0;
	for (t = 0; t < 10; t++)
		fired += qlb_scaler_step(&s, 50, 100, &ev);
	assert_int_equal(fired, 0);
	assert_int_equal(qlb_scaler_step(&s, 20, 100, &ev), 0);
	assert_int_equal(qlb_scaler_step(&s, 20, 100, &ev), 0);
	assert_int_equal(qlb_scaler_step(&s, 20, 100, &ev), 1);
	assert_int_equal(ev.dir, QLB_SCALE_DOWN);
	assert_near(ev.utilisation, 0.2, 1e-12);
	assert_near(ev.threshold, 0.3, 0);
	assert_int_equal(s.downs, 1);

	/* NAN, negative and zero-capacity windows never fire and break streaks */
	assert_int_equal(qlb_scaler_init(&s, NULL), 0);
	for (t = 0; t < 20; t++) {
		assert_int_equal(qlb_scaler_step(&s, NAN, 100, &ev), 0);
		assert_int_equal(qlb_scaler_step(&s, 95, NAN, &ev), 0);
		assert_int_equal(qlb_scaler_step(&s, 95, 0, &ev), 0);
		assert_int_equal(qlb_scaler_step(&s, -1, 100, &ev), 0);
		assert_int_equal(qlb_scaler_step(&s, INFINITY, 100, &ev), 0);
		assert_int_equal(qlb_scaler_step(&s, 95, 100, &ev), 0);
		assert_int_equal(qlb_scaler_step(&s, 95, 100, &ev), 0);
	}
	assert_near(s.last_util, 0.95, 1e-12);
	assert_int_equal(qlb_scaler_step(&s, NAN, 100, &ev), 0);
	assert_true(isnan(s.last_util));
	assert_int_equal(s.ups + s.downs, 0);

	/* options */
	qlb_scaler_opts_default(&o);
	o.k = 1;
	o.cooldown = 0;
	assert_int_equal(qlb_scaler_init(&s, &o), 0);
	assert_int_equal(qlb_scaler_step(&s, 81, 100, NULL), 1);
	assert_int_equal(qlb_scaler_step(&s, 81, 100, NULL), 1);
	o.theta_down = 0.9;
	assert_int_equal(qlb_scaler_init(&s, &o), -EINVAL);
	qlb_scaler_opts_default(&o);
	o.k = 0;
	assert_int_equal(qlb_scaler_init(&s, &o), -EINVAL);
	qlb_scaler_opts_default(&o);
	o.theta_up = NAN;
	assert_int_equal(qlb_scaler_init(&s, &o), -EINVAL);
}

/* ---------------------------------------------------------------- hook */

/* Waits up to 5 s for path to appear. */
static int wait_file(const char *path)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	struct stat st;

	for (int i = 0; i < 500; i++) {
		if (!stat(path, &st))
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void test_hook(void **state)
{
	char dir[] = "/tmp/qlb-fch-XXXXXX", out[64], after[64], cmd[1024], buf[1024];
	struct qlb_scale_event ev = { .dir = QLB_SCALE_UP, .utilisation = 0.875,
				      .lambda_hat = 875.5, .mu = 1000.25, .threshold = 0.8,
				      .windows = 3 };
	FILE *fp;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(out, sizeof(out), "%s/env", dir);
	snprintf(after, sizeof(after), "%s/after", dir);
	/* an inherited QLB_VIP must not shadow ours; /proc/PID/environ shows
	 * what the shell got, duplicates included */
	setenv("QLB_VIP", "stale", 1);
	/* written under another name and renamed: the test never reads half */
	snprintf(cmd, sizeof(cmd),
		 "tr '\\000' '\\n' < /proc/$$/environ | grep -E '^QLB_(SCALE_|VIP=)' | sort > %s.tmp; "
		 /* Standard signals only: glibc reserves 32 and 33, which a
		  * parent (prove, for one) may leave ignored and no program can
		  * reset. */
		 "ign=$(awk '/SigIgn/ { print $2 }' /proc/$$/status); "
		 "printf 'SigIgn:\\t%%08x\\n' $(( 0x$ign & 0x7fffffff )) >> %s.tmp; "
		 "test -t 0 && echo tty >> %s.tmp; mv %s.tmp %s",
		 out, out, out, out, out);
	/* as the agent does: the hook must not inherit it */
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(qlb_scale_run_hook(cmd, &ev, "10.0.0.1:80"), 0);
	if (wait_file(out))
		fail_msg("the hook did not write %s within 5 s", out);
	fp = fopen(out, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	assert_string_equal(buf, "QLB_SCALE_DIRECTION=up\n"
				 "QLB_SCALE_LAMBDA_HAT=875.500\n"
				 "QLB_SCALE_MU=1000.250\n"
				 "QLB_SCALE_UTILISATION=0.8750\n"
				 "QLB_SCALE_WINDOWS=3\n"
				 "QLB_VIP=10.0.0.1:80\n"
				 "SigIgn:\t00000000\n");
	unsetenv("QLB_VIP");
	signal(SIGPIPE, SIG_DFL);

	/* failing commands are started fine and break nothing */
	assert_int_equal(qlb_scale_run_hook("exit 3", &ev, "v"), 0);
	assert_int_equal(qlb_scale_run_hook("/nonexistent/qlb-hook 2>/dev/null", &ev, "v"), 0);
	assert_int_equal(qlb_scale_run_hook("kill -9 $$", &ev, "v"), 0);
	ev.dir = QLB_SCALE_DOWN;
	snprintf(cmd, sizeof(cmd), "echo \"$QLB_SCALE_DIRECTION\" > %s.tmp; mv %s.tmp %s",
		 after, after, after);
	assert_int_equal(qlb_scale_run_hook(cmd, &ev, NULL), 0);
	if (wait_file(after))
		fail_msg("the hook after failing ones did not run");
	fp = fopen(after, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "down\n");

	/* the caller is left with no child to reap */
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);

	assert_int_equal(qlb_scale_run_hook(NULL, &ev, "v"), -EINVAL);
	assert_int_equal(qlb_scale_run_hook("true", NULL, "v"), -EINVAL);
	assert_int_equal(qlb_scale_run_hook("", &ev, "v"), -EINVAL);

	unlink(out);
	unlink(after);
	rmdir(dir);
}

/* ---------------------------------------------------- log and metrics */

static void test_log_and_metrics(void **state)
{
	struct qlb_scale_event ev = { .dir = QLB_SCALE_DOWN, .utilisation = 0.25,
				      .lambda_hat = 25, .mu = 100, .threshold = 0.3,
				      .windows = 4 };
	struct qlb_forecaster *f = make("none", UINT32_MAX);
	struct qlb_forecast_info in;
	struct qlb_scaler s;
	char line[256], *page = NULL;
	size_t len = 0;
	FILE *mf;

	(void)state;
	assert_int_equal(qlb_scale_event_format(&ev, "10.0.0.1:80", line, sizeof(line)), 0);
	assert_string_equal(line, "scale-down 10.0.0.1:80: forecast utilisation 0.250 < 0.30 "
				  "for 4 windows (lambda_hat 25.000/s, mu 100.000/s)");

	for (int t = 0; t < 40; t++)
		qlb_forecaster_step(f, 100, &in);
	assert_int_equal(qlb_scaler_init(&s, NULL), 0);
	for (int t = 0; t < 3; t++)
		qlb_scaler_step(&s, 100, 110, NULL);
	mf = open_memstream(&page, &len);
	assert_non_null(mf);
	qlb_forecast_metrics_write(mf, "vip=\"v\"", &in, &s);
	fclose(mf);
	print_message("%s", page);
	assert_non_null(strstr(page, "qlb_vip_forecast_lambda_hat{vip=\"v\"} 100\n"));
	assert_non_null(strstr(page, "qlb_vip_forecast_warm{vip=\"v\"} 1\n"));
	assert_non_null(strstr(page, "qlb_vip_forecast_mae{vip=\"v\",forecaster=\"holt\"} 0\n"));
	assert_non_null(strstr(page, "qlb_vip_forecast_in_use{vip=\"v\",forecaster=\"naive\"} 1\n"));
	assert_non_null(strstr(page, "qlb_vip_forecast_in_use{vip=\"v\",forecaster=\"ewma\"} 0\n"));
	assert_non_null(strstr(page, "qlb_vip_forecast_utilisation{vip=\"v\"} 0.909091\n"));
	assert_non_null(strstr(page, "qlb_vip_scale_events_total{vip=\"v\",direction=\"up\"} 1\n"));
	assert_non_null(strstr(page, "qlb_vip_scale_events_total{vip=\"v\",direction=\"down\"} 0\n"));
	free(page);
	qlb_forecaster_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_warmup_and_surge),
		cmocka_unit_test(test_seasonal_series),
		cmocka_unit_test(test_constant_series),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_winner_switches),
		cmocka_unit_test(test_ramp_beats_naive),
		cmocka_unit_test(test_model_fallbacks),
		cmocka_unit_test(test_scaler),
		cmocka_unit_test(test_hook),
		cmocka_unit_test(test_log_and_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
