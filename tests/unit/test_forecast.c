// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of the forecasting library (agent/model/forecast.h). Run from the repo
 * root, where the traces are (tests/traces.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "cli.h"
#include "forecast.h"
#include "fc_default_model.h"
#include "cli_capture.h"
#include "assert_near.h"
#include "../traces.h"

/* ------------------------------------------------------------- helpers */


static uint64_t test_rng = 12345;

static double rnd_uniform(void)
{
	uint64_t z = (test_rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0;
}

static double rnd_normal(void)
{
	double u1 = rnd_uniform(), u2 = rnd_uniform();

	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* period-24 daily-like series with noise, always >= 0 */
static double *seasonal_series(size_t n, double noise_sd)
{
	double *x = malloc(n * sizeof(*x));

	assert_non_null(x);
	test_rng = 777;
	for (size_t t = 0; t < n; t++) {
		double v = 100 + 50 * sin(2 * M_PI * (double)t / 24.0) +
			   15 * sin(2 * M_PI * (double)t / 6.0) + noise_sd * rnd_normal();

		x[t] = v > 0 ? v : 0;
	}
	return x;
}

#define RUN_CLI(c, ...) RUN_CLI_CMD((c), cmd_forecast, __VA_ARGS__)

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Bad input: exit 2 and exactly one "qlb: ..." line on stderr. */
static void assert_one_line_error(const struct captured *c)
{
	if (c->rc != 2 || strncmp(c->err, "qlb: ", 5) || count_lines(c->err) != 1)
		fail_msg("expected rc 2 and one 'qlb:' line, got rc %d, stderr:\n%s", c->rc,
			 c->err);
}

static void make_model(struct fc_model *m, const struct fc_arch *a, uint64_t seed)
{
	double raw[64];

	assert_int_equal(fc_model_init(m, a, seed), 0);
	for (int i = 0; i < 64; i++)
		raw[i] = 10 + 5 * sin(i * 0.3) + i;
	assert_int_equal(fc_prep_fit(&m->prep, raw, 64, 1, 99, FC_NORM_LOG1P_MINMAX,
				     FC_IMPUTE_LAST),
			 0);
	snprintf(m->note, sizeof(m->note), "unit test model seed %llu",
		 (unsigned long long)seed);
}

/* ------------------------------------------------------ gradient check */

static void gradient_check(const struct fc_arch *a, int l1)
{
	struct fc_model m;
	const size_t n = 48, start = 9, len = 7;
	float x[48];
	double *grad, loss, worst = 0;
	size_t worst_i = 0;

	make_model(&m, a, 99);
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(0.5 + 0.3 * sin(0.7 * (double)i) + 0.1 * cos(2.3 * (double)i));
	grad = calloc(m.n_params, sizeof(*grad));
	assert_non_null(grad);
	assert_int_equal(fc_lstm_window_loss(&m, x, n, start, len, l1, &loss, grad), 0);
	assert_true(loss > 0);

	for (size_t i = 0; i < m.n_params; i++) {
		const float w = m.params[i];
		const float wp = w + 1e-3f, wm = w - 1e-3f;
		double lp, lm, num, rel;

		m.params[i] = wp;
		assert_int_equal(fc_lstm_window_loss(&m, x, n, start, len, l1, &lp, NULL), 0);
		m.params[i] = wm;
		assert_int_equal(fc_lstm_window_loss(&m, x, n, start, len, l1, &lm, NULL), 0);
		m.params[i] = w;
		/* divide by the step the float weights really took */
		num = (lp - lm) / ((double)wp - (double)wm);
		rel = fabs(num - grad[i]) / fmax(fmax(fabs(num), fabs(grad[i])), 1e-6);
		if (rel > worst) {
			worst = rel;
			worst_i = i;
		}
	}
	print_message("# gradient check (%s loss): %zu parameters, worst relative error %.2g\n",
		      l1 ? "mae" : "mse", m.n_params, worst);
	if (worst >= 1e-4)
		fail_msg("BPTT gradient of parameter %zu off by relative %.3g (tolerance 1e-4)",
			 worst_i, worst);
	free(grad);
	fc_model_free(&m);
}

/* Double-precision BPTT vs central differences: relative error < 1e-4 for
 * every parameter, for each code path (MLP front, stacking, seasonal and diff
 * inputs, residual and direct heads, both losses). The MAE loss is checked
 * away from its kink: no residual of this fixed data is near zero. */
static void test_gradient_check(void **state)
{
	(void)state;
	gradient_check(&(struct fc_arch){ .mlp = 4, .hidden = 5, .layers = 2, .horizon = 3,
					  .window = 7, .season = 4, .flags = FC_ARCH_RESIDUAL },
		       0);
	gradient_check(&(struct fc_arch){ .mlp = 0, .hidden = 6, .layers = 1, .horizon = 2,
					  .window = 7, .season = 0, .flags = 0 },
		       0);
	gradient_check(&(struct fc_arch){ .mlp = 3, .hidden = 3, .layers = 3, .horizon = 1,
					  .window = 7, .season = 5, .flags = FC_ARCH_DIFF_INPUT },
		       0);
	gradient_check(&(struct fc_arch){ .mlp = 0, .hidden = 7, .layers = 1, .horizon = 4,
					  .window = 7, .season = 0,
					  .flags = FC_ARCH_RESIDUAL | FC_ARCH_DIFF_INPUT },
		       1);
}

/* The float streaming step must compute what the double training pass does. */
static void test_stream_matches_training(void **state)
{
	struct fc_arch a = { .mlp = 4, .hidden = 8, .layers = 2, .horizon = 3, .window = 20,
			     .season = 6, .flags = FC_ARCH_RESIDUAL | FC_ARCH_DIFF_INPUT };
	struct fc_model m;
	struct fc_lstm_state s;
	float x[40], out[3];
	const size_t len = 30;
	double loss, sse = 0;

	(void)state;
	make_model(&m, &a, 5);
	for (int i = 0; i < 40; i++)
		x[i] = (float)(0.4 + 0.3 * sin(0.5 * i));
	assert_int_equal(fc_lstm_window_loss(&m, x, 40, 0, len, 0, &loss, NULL), 0);
	assert_int_equal(fc_lstm_state_init(&s, &m), 0);
	for (size_t t = 0; t < len; t++) {
		fc_lstm_step(&m, &s, x[t], out);
		for (int k = 0; k < 3; k++) {
			double e = (double)out[k] - x[t + 1 + k];

			sse += e * e;
		}
	}
	assert_near(sse / (len * 3), loss, 1e-6 * loss + 1e-9);
	fc_lstm_state_free(&s);
	fc_model_free(&m);
}

/* ------------------------------------------------------------ training */

/* Seasonal series + noise (sd 5): training lowers the loss, and on the
 * held-out 20% the LSTM's MAE is < 8 at horizons 1 and 3 (noise alone gives
 * ~4) and below the naive forecast's. */
static void test_training_learns_seasonal(void **state)
{
	const size_t n = 3000;
	double *x = seasonal_series(n, 5.0);
	struct fc_arch a = { .hidden = 16, .layers = 1, .horizon = 3, .window = 48,
			     .season = 24, .flags = FC_ARCH_RESIDUAL };
	struct fc_prep_opts p = { 0, 100, FC_NORM_MINMAX, FC_IMPUTE_MEAN };
	struct fc_train_opts o;
	struct fc_train_report rep;
	struct fc_eval_opts eo = { .horizons = { 1, 3 }, .n_horizons = 2, .train_frac = 0.8,
				   .period = 24 };
	struct fc_eval_result r;
	struct fc_model m;
	struct qlb_error err = {};

	(void)state;
	fc_train_opts_default(&o);
	o.epochs = 30;
	o.batch = 8;
	o.lr = 1e-2;
	assert_int_equal(fc_model_train_series(&m, &a, &p, &o, x, 2400, &rep, &err), 0);
	assert_true(rep.last_epoch_loss < 0.5 * rep.first_epoch_loss);
	assert_int_equal(fc_eval(&m, x, n, &eo, &r), 0);
	for (int hi = 0; hi < 2; hi++) {
		double lstm = r.m[hi][FC_BASELINE_COUNT].mae, naive = r.m[hi][FC_NAIVE].mae;

		if (!(lstm < 8.0 && lstm < naive))
			fail_msg("horizon %u: lstm MAE %.3f, naive %.3f (want < 8 and < naive)",
				 eo.horizons[hi], lstm, naive);
	}
	fc_model_free(&m);
	free(x);
}

/* Same seed, same data -> bit-identical weights. */
static void test_training_deterministic(void **state)
{
	double *x = seasonal_series(600, 3.0);
	struct fc_arch a = { .mlp = 4, .hidden = 6, .layers = 2, .horizon = 2, .window = 16,
			     .season = 24, .flags = FC_ARCH_RESIDUAL };
	struct fc_prep_opts p = { 1, 99, FC_NORM_LOG1P_MINMAX, FC_IMPUTE_MEAN };
	struct fc_train_opts o;
	struct fc_model m1, m2;

	(void)state;
	fc_train_opts_default(&o);
	o.epochs = 3;
	o.seed = 42;
	assert_int_equal(fc_model_train_series(&m1, &a, &p, &o, x, 600, NULL, NULL), 0);
	assert_int_equal(fc_model_train_series(&m2, &a, &p, &o, x, 600, NULL, NULL), 0);
	assert_int_equal(m1.n_params, m2.n_params);
	assert_memory_equal(m1.params, m2.params, m1.n_params * sizeof(float));
	fc_model_free(&m1);
	fc_model_free(&m2);
	free(x);
}

/* ------------------------------------------------------- model files */

static void forecasts_of(const struct fc_model *m, double *out, size_t steps)
{
	struct fc_lstm_state s;

	assert_int_equal(fc_lstm_state_init(&s, m), 0);
	for (size_t t = 0; t < steps; t++) {
		double raw = t % 17 == 16 ? NAN : 20 + 10 * sin(0.2 * (double)t);

		fc_lstm_step_raw(m, &s, raw, out + t * m->arch.horizon);
	}
	fc_lstm_state_free(&s);
}

/* Reads back the bytes of an exported header's array. */
static size_t parse_header_bytes(FILE *f, uint8_t *buf, size_t cap)
{
	char line[512];
	size_t n = 0;
	int in_array = 0;

	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "static const unsigned char")) {
			in_array = 1;
			continue;
		}
		if (!in_array)
			continue;
		if (strstr(line, "};"))
			break;
		for (char *p = line; (p = strstr(p, "0x")); p += 2) {
			assert_true(n < cap);
			buf[n++] = (uint8_t)strtoul(p, NULL, 16);
		}
	}
	return n;
}

static void test_model_roundtrip(void **state)
{
	struct fc_arch a = { .mlp = 8, .hidden = 12, .layers = 2, .horizon = 4, .window = 32,
			     .season = 10, .flags = FC_ARCH_RESIDUAL };
	struct fc_model m, m2, m3;
	uint8_t *buf, *buf2, *parsed;
	size_t len, len2, steps = 200;
	char path[] = "/tmp/qlb-fc-test-XXXXXX";
	struct qlb_error err = {};
	double *f1, *f2;
	FILE *hf;
	int fd;

	(void)state;
	make_model(&m, &a, 7);
	assert_int_equal(fc_model_serialize(&m, &buf, &len), 0);
	assert_int_equal(fc_model_deserialize(&m2, buf, len, &err), 0);
	assert_memory_equal(m.params, m2.params, m.n_params * sizeof(float));
	assert_string_equal(m.note, m2.note);
	assert_memory_equal(&m.prep, &m2.prep, sizeof(m.prep));

	/* through a file */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fc_model_save(&m, path, &err), 0);
	assert_int_equal(fc_model_load(&m3, path, &err), 0);
	unlink(path);

	f1 = calloc(steps * a.horizon, sizeof(double));
	f2 = calloc(steps * a.horizon, sizeof(double));
	forecasts_of(&m, f1, steps);
	forecasts_of(&m3, f2, steps);
	assert_memory_equal(f1, f2, steps * a.horizon * sizeof(double));

	/* the exported header holds exactly the serialised bytes */
	hf = tmpfile();
	assert_non_null(hf);
	assert_int_equal(fc_model_export_header(&m3, hf), 0);
	parsed = malloc(len + 16);
	len2 = parse_header_bytes(hf, parsed, len + 16);
	assert_int_equal(len2, len);
	assert_memory_equal(parsed, buf, len);
	fclose(hf);
	assert_int_equal(fc_model_serialize(&m3, &buf2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(buf2, buf, len);

	free(parsed);
	free(buf);
	free(buf2);
	free(f1);
	free(f2);
	fc_model_free(&m);
	fc_model_free(&m2);
	fc_model_free(&m3);
}

/* The compiled-in default model loads with the file loader, serialises back to
 * the very same bytes, and forecasts like its round-tripped copy (1e-6). */
static void test_default_model_header(void **state)
{
	struct fc_model m, m2;
	struct qlb_error err = {};
	uint8_t *buf;
	size_t len, steps = 300;
	double *f1, *f2;

	(void)state;
	if (fc_model_deserialize(&m, qlb_default_model, qlb_default_model_len, &err))
		fail_msg("default model does not load: %s", err.msg);
	assert_int_equal(fc_model_serialize(&m, &buf, &len), 0);
	assert_int_equal(len, qlb_default_model_len);
	assert_memory_equal(buf, qlb_default_model, len);
	assert_int_equal(fc_model_deserialize(&m2, buf, len, &err), 0);
	f1 = calloc(steps * m.arch.horizon, sizeof(double));
	f2 = calloc(steps * m.arch.horizon, sizeof(double));
	forecasts_of(&m, f1, steps);
	forecasts_of(&m2, f2, steps);
	for (size_t i = 0; i < steps * m.arch.horizon; i++) {
		assert_true(isfinite(f1[i]) && f1[i] >= 0);
		assert_near(f1[i], f2[i], 1e-6 * fmax(1.0, fabs(f1[i])));
	}
	free(f1);
	free(f2);
	free(buf);
	fc_model_free(&m);
	fc_model_free(&m2);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void fix_crc(uint8_t *b, size_t len)
{
	put_le32(b + len - 4, (uint32_t)crc32(0, b, (uInt)(len - 4)));
}

/* Patches one u32 (with a valid CRC) and expects rejection with rc. */
static void expect_patched_u32(const uint8_t *orig, size_t len, size_t off, uint32_t v, int rc)
{
	uint8_t *b = malloc(len);
	struct fc_model m;
	struct qlb_error err = {};

	memcpy(b, orig, len);
	put_le32(b + off, v);
	fix_crc(b, len);
	if (fc_model_deserialize(&m, b, len, &err) != rc || !err.msg[0])
		fail_msg("u32 at %zu = %u: want rc %d with a reason, got '%s'", off, v, rc, err.msg);
	free(b);
}

static void test_bad_model_files(void **state)
{
	struct fc_arch a = { .mlp = 3, .hidden = 4, .layers = 2, .horizon = 2, .window = 8,
			     .season = 3, .flags = FC_ARCH_RESIDUAL };
	struct fc_model m, out;
	uint8_t *buf, *b;
	size_t len, hdr = 16, weights;
	struct qlb_error err = {};
	struct captured c;
	char path[] = "/tmp/qlb-fc-bad-XXXXXX";
	FILE *f;
	int fd;

	(void)state;
	make_model(&m, &a, 3);
	assert_int_equal(fc_model_serialize(&m, &buf, &len), 0);
	weights = len - 4 - m.n_params * 4;
	b = malloc(len + 8);

	/* every truncation */
	for (size_t cut = 0; cut < len; cut++) {
		memcpy(b, buf, cut);
		err.msg[0] = '\0';
		if (fc_model_deserialize(&out, b, cut, &err) == 0 || !err.msg[0])
			fail_msg("truncated to %zu of %zu bytes was accepted", cut, len);
	}
	/* one flipped byte anywhere (magic, version, header, note, weights, CRC) */
	for (size_t i = 0; i < len; i++) {
		memcpy(b, buf, len);
		b[i] ^= 0x5a;
		err.msg[0] = '\0';
		if (fc_model_deserialize(&out, b, len, &err) == 0 || !err.msg[0])
			fail_msg("flipped byte %zu of %zu was accepted", i, len);
	}
	/* trailing garbage */
	memcpy(b, buf, len);
	b[len] = 0;
	assert_int_equal(fc_model_deserialize(&out, b, len + 1, &err), -EBADMSG);

	/* structurally wrong but CRC-valid */
	expect_patched_u32(buf, len, 8, 2, -EPROTONOSUPPORT);	    /* version */
	expect_patched_u32(buf, len, 8, 0xffffffffu, -EPROTONOSUPPORT);
	expect_patched_u32(buf, len, 12, 0xffffffffu, -EBADMSG);    /* header length */
	expect_patched_u32(buf, len, hdr + 0, 100000, -EINVAL);	    /* mlp */
	expect_patched_u32(buf, len, hdr + 4, 0, -EINVAL);	    /* hidden */
	expect_patched_u32(buf, len, hdr + 4, 1u << 30, -EINVAL);
	expect_patched_u32(buf, len, hdr + 8, 0, -EINVAL);	    /* layers */
	expect_patched_u32(buf, len, hdr + 8, 99, -EINVAL);
	expect_patched_u32(buf, len, hdr + 12, 0, -EINVAL);	    /* horizon */
	expect_patched_u32(buf, len, hdr + 12, 1000000, -EINVAL);
	expect_patched_u32(buf, len, hdr + 16, 0, -EINVAL);	    /* window */
	expect_patched_u32(buf, len, hdr + 20, 1, -EINVAL);	    /* season < horizon */
	expect_patched_u32(buf, len, hdr + 24, 0x80, -EINVAL);	    /* flags */
	expect_patched_u32(buf, len, hdr + 28, 7, -EINVAL);	    /* n_params */
	expect_patched_u32(buf, len, hdr + 28, 0xffffffffu, -EINVAL);
	expect_patched_u32(buf, len, hdr + 32, 9, -EINVAL);	    /* norm */
	expect_patched_u32(buf, len, hdr + 36, 9, -EINVAL);	    /* impute */
	expect_patched_u32(buf, len, hdr + 40, 5000, -EBADMSG);	    /* note length */
	expect_patched_u32(buf, len, hdr + 44 + 52, 0x7ff80000u, -EINVAL); /* prep.max NaN */
	expect_patched_u32(buf, len, weights, 0x7fc00000u, -EINVAL);	    /* NaN weight */
	/* a bigger architecture with a matching count, in too short a file */
	{
		struct fc_arch big = a;

		big.hidden = 200;
		memcpy(b, buf, len);
		put_le32(b + hdr + 4, 200);
		put_le32(b + hdr + 28, (uint32_t)fc_arch_param_count(&big));
		fix_crc(b, len);
		assert_int_equal(fc_model_deserialize(&out, b, len, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "truncated"));
	}
	assert_int_equal(fc_model_deserialize(&out, NULL, 0, &err), -EBADMSG);
	assert_int_not_equal(fc_model_load(&out, "/nonexistent/model.bin", &err), 0);

	/* the CLI names the problem in one line and exits 2 */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	f = fopen(path, "wb");
	fwrite(buf, 1, len / 2, f);
	fclose(f);
	RUN_CLI(&c, "forecast", "export", "--model", path, "--header", "/tmp/qlb-fc-never.h");
	assert_one_line_error(&c);
	assert_non_null(strstr(c.err, "truncated"));
	f = fopen(path, "wb");
	buf[len - 1] ^= 1;
	fwrite(buf, 1, len, f);
	fclose(f);
	RUN_CLI(&c, "forecast", "export", "--model", path, "--header", "/tmp/qlb-fc-never.h");
	assert_one_line_error(&c);
	assert_non_null(strstr(c.err, "CRC"));
	unlink(path);
	assert_int_equal(access("/tmp/qlb-fc-never.h", F_OK), -1);

	free(b);
	free(buf);
	fc_model_free(&m);
}

/* ----------------------------------------------------------- baselines */

static void fit_and_feed(struct fc_baseline *b, enum fc_kind k, uint32_t period, const double *x,
			 size_t n, uint32_t h)
{
	assert_int_equal(fc_baseline_init(b, k, period), 0);
	assert_int_equal(fc_baseline_fit(b, x, n, h), 0);
	for (size_t t = 0; t < n; t++)
		fc_baseline_update(b, x[t]);
}

static void test_baselines_known_series(void **state)
{
	enum { N = 120, P = 12 };
	double cst[N], lin[N], sea[N];

	(void)state;
	for (int t = 0; t < N; t++) {
		cst[t] = 7.5;
		lin[t] = 3 + 2.0 * t;
		sea[t] = 50 + 10 * sin(2 * M_PI * t / P) + (t % P == 3 ? 5 : 0);
	}
	for (int k = 0; k < FC_BASELINE_COUNT; k++) {
		for (uint32_t h = 1; h <= 15; h += 7) {
			struct fc_baseline b;

			/* constant: everyone exact */
			fit_and_feed(&b, (enum fc_kind)k, P, cst, N, h);
			assert_near(fc_baseline_forecast(&b, h), 7.5, 1e-9);
			fc_baseline_free(&b);

			/* pure seasonal: the seasonal ones exact */
			if (k == FC_SEASONAL_NAIVE || k == FC_HOLT_WINTERS) {
				fit_and_feed(&b, (enum fc_kind)k, P, sea, N, h);
				assert_near(fc_baseline_forecast(&b, h),
						    50 + 10 * sin(2 * M_PI * (N - 1 + h) / P) +
							    ((N - 1 + h) % P == 3 ? 5 : 0),
						    1e-6);
				fc_baseline_free(&b);
			}
		}
	}
	/* linear: naive = last value, Holt extrapolates the trend exactly */
	{
		struct fc_baseline b;

		fit_and_feed(&b, FC_NAIVE, 0, lin, N, 1);
		assert_near(fc_baseline_forecast(&b, 4), lin[N - 1], 1e-12);
		fc_baseline_free(&b);
		fit_and_feed(&b, FC_HOLT, 0, lin, N, 3);
		for (uint32_t h = 1; h <= 10; h++)
			assert_near(fc_baseline_forecast(&b, h), lin[N - 1] + 2.0 * h, 1e-6);
		fc_baseline_free(&b);
		fit_and_feed(&b, FC_HOLT_WINTERS, 0, lin, N, 2); /* period 0: plain Holt */
		assert_near(fc_baseline_forecast(&b, 5), lin[N - 1] + 10.0, 1e-6);
		fc_baseline_free(&b);
		fit_and_feed(&b, FC_EWMA, 0, lin, N, 1); /* lags a trend, best alpha = 1 */
		assert_near(b.alpha, 1.0, 0);
		assert_near(fc_baseline_forecast(&b, 1), lin[N - 1], 1e-9);
		fc_baseline_free(&b);
	}
	/* EWMA with a fixed alpha on a step */
	{
		struct fc_baseline b;

		assert_int_equal(fc_baseline_init(&b, FC_EWMA, 0), 0);
		b.alpha = 0.5;
		fc_baseline_update(&b, 0);
		fc_baseline_update(&b, 8);
		fc_baseline_update(&b, 8);
		assert_near(fc_baseline_forecast(&b, 3), 6.0, 1e-12);
		/* a missing value leaves the forecast finite and unchanged */
		fc_baseline_update(&b, NAN);
		assert_near(fc_baseline_forecast(&b, 1), 6.0, 1e-12);
		fc_baseline_free(&b);
	}
	assert_string_equal(fc_baseline_name(FC_HOLT_WINTERS), "holt-winters");
	assert_string_equal(fc_eval_name(FC_BASELINE_COUNT), "lstm");
}

/* -------------------------------------------------------- preprocessing */

static void test_prep(void **state)
{
	double x[1001], pct;
	struct fc_prep p;
	double last = NAN;

	(void)state;
	for (int i = 0; i <= 100; i++)
		x[i] = i; /* 0..100 */
	assert_near(fc_percentile(x, 101, 50), 50, 1e-12);
	assert_near(fc_percentile(x, 101, 1), 1, 1e-12);
	assert_near(fc_percentile(x, 101, 2.5), 2.5, 1e-12); /* interpolated */
	pct = fc_percentile((double[]){ 1, 2, NAN, 4 }, 4, 50);
	assert_near(pct, 2, 1e-12);

	for (int i = 0; i < 1001; i++)
		x[i] = i % 100; /* ten rounds of 0..99 */
	x[500] = 1e6;	      /* outlier */
	x[501] = NAN;	      /* missing */
	assert_int_equal(fc_prep_fit(&p, x, 1001, 1, 99, FC_NORM_MINMAX, FC_IMPUTE_MEAN), 0);
	assert_true(p.clip_lo >= 0 && p.clip_lo <= 1);
	assert_true(p.clip_hi >= 98 && p.clip_hi <= 99);
	/* winsorised: the outlier and anything beyond map to exactly 1, below to 0 */
	assert_near(fc_prep_apply(&p, 1e6, NULL), 1.0, 1e-12);
	assert_near(fc_prep_apply(&p, -50, NULL), 0.0, 1e-12);
	assert_near(fc_prep_invert(&p, fc_prep_apply(&p, 1e6, NULL)), p.clip_hi, 1e-9);
	/* mean imputation uses the winsorised training mean (~49.5, not ~1000) */
	assert_near(fc_prep_invert(&p, fc_prep_apply(&p, NAN, NULL)), p.mean, 1e-9);
	assert_true(p.mean > 49 && p.mean < 51);
	/* round trip inside the clip range, both normalisations */
	for (int norm = 0; norm < 2; norm++) {
		assert_int_equal(fc_prep_fit(&p, x, 1001, 1, 99, (enum fc_norm)norm,
					     FC_IMPUTE_LAST),
				 0);
		assert_int_equal(fc_prep_validate(&p, NULL), 0);
		for (double v = p.clip_lo; v <= p.clip_hi; v += 3.7) {
			double z = fc_prep_apply(&p, v, NULL);

			assert_true(z >= -1e-12 && z <= 1 + 1e-12);
			assert_near(fc_prep_invert(&p, z), v, 1e-9 * fmax(1, v));
		}
		/* last-value imputation */
		last = NAN;
		fc_prep_apply(&p, 42, &last);
		assert_near(fc_prep_invert(&p, fc_prep_apply(&p, NAN, &last)), 42, 1e-9);
		/* before any value: the mean */
		last = NAN;
		assert_near(fc_prep_invert(&p, fc_prep_apply(&p, NAN, &last)), p.mean,
				    1e-9);
	}
	/* constant training data still gives a usable scale */
	assert_int_equal(fc_prep_fit(&p, (double[]){ 3, 3, 3 }, 3, 1, 99, FC_NORM_MINMAX,
				     FC_IMPUTE_MEAN),
			 0);
	assert_true(p.max > p.min);
	assert_int_not_equal(fc_prep_fit(&p, (double[]){ NAN, 1 }, 2, 1, 99, FC_NORM_MINMAX,
					 FC_IMPUTE_MEAN),
			     0);
}

/* ------------------------------------------------------------- series */

static void test_series_formats(void **state)
{
	char path[] = "/tmp/qlb-fc-hist-XXXXXX";
	struct qlb_error err = {};
	struct fc_series s;
	struct fc_series_opts o = { 0 };
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "ts,vip,backend,lambda,mu\n"
		   "100,a,1,1.5,9\n100,a,2,2.5,9\n"
		   "101,a,1,4,9\n"
		   "102,a,1,,9\n102,a,2,1,9\n"
		   "103,a,1,6,9\n");
	fclose(f);
	assert_int_equal(fc_series_read(path, NULL, &s, &err), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.column, "lambda");
	assert_near(s.v[0], 4.0, 1e-12);
	assert_near(s.v[1], 4.0, 1e-12);
	assert_true(isnan(s.v[2])); /* a missing lambda makes the window missing */
	assert_near(s.v[3], 6.0, 1e-12);
	fc_series_free(&s);
	o = (struct fc_series_opts){ .offset = 1, .limit = 2 };
	assert_int_equal(fc_series_read(path, &o, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_near(s.v[0], 4.0, 1e-12);
	fc_series_free(&s);

	f = fopen(path, "w");
	fprintf(f, "timestamp,num_request,size\n2020,1,0\n2020,2,0\n2020,3,0\n2020,4,0\n"
		   "2020,5,0\n");
	fclose(f);
	o = (struct fc_series_opts){ .aggregate = 2 };
	assert_int_equal(fc_series_read(path, &o, &s, &err), 0);
	assert_int_equal(s.n, 2); /* trailing partial aggregate dropped */
	assert_near(s.v[1], 7.0, 1e-12);
	assert_near(s.interval_s, 120.0, 1e-12);
	fc_series_free(&s);

	f = fopen(path, "w");
	fprintf(f, "when,value\n1,2\n");
	fclose(f);
	assert_int_equal(fc_series_read(path, NULL, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "column"));
	f = fopen(path, "w");
	fprintf(f, "requests\n1\nbanana\n");
	fclose(f);
	assert_int_equal(fc_series_read(path, NULL, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, ":3:"));
	unlink(path);
	assert_int_not_equal(fc_series_read("/nonexistent/trace.csv", NULL, &s, &err), 0);
}

/* -------------------------------------------- eval on the traces */

static void eval_slice(const char *file, size_t offset, size_t aggregate, uint32_t period)
{
	char path[512];
	struct qlb_error err = {};
	struct fc_series_opts so = { .aggregate = aggregate, .offset = offset, .limit = 3000 };
	struct fc_series s;
	struct fc_arch a = { .hidden = 8, .layers = 1, .horizon = 5, .window = 16,
			     .season = period, .flags = FC_ARCH_RESIDUAL };
	struct fc_prep_opts p = { 1, 99, FC_NORM_LOG1P_MINMAX, FC_IMPUTE_MEAN };
	struct fc_train_opts o;
	struct fc_eval_opts eo = { .horizons = { 1, 5 }, .n_horizons = 2, .train_frac = 0.8,
				   .period = period };
	struct fc_eval_result r;
	struct fc_model m;

	snprintf(path, sizeof(path), "%s/%s", qlb_traces_dir(), file);
	if (fc_series_read(path, &so, &s, &err))
		fail_msg("%s (set QLB_TRACES_DIR)", err.msg);
	assert_int_equal(s.n, 3000 / aggregate);
	fc_train_opts_default(&o);
	o.epochs = 3;
	if (fc_model_train_series(&m, &a, &p, &o, s.v, (size_t)(0.8 * (double)s.n), NULL, &err))
		fail_msg("%s: %s", file, err.msg);
	assert_int_equal(fc_eval(&m, s.v, s.n, &eo, &r), 0);
	for (int hi = 0; hi < 2; hi++) {
		assert_true(r.lstm_valid[hi]);
		assert_true(r.winner[hi] >= 0);
		for (int k = 0; k < FC_EVAL_FORECASTERS; k++) {
			const struct fc_metrics *mt = &r.m[hi][k];

			if (!mt->n || !isfinite(mt->mae) || !isfinite(mt->rmse) ||
			    !isfinite(mt->smape) || mt->mae < 0 || mt->rmse < mt->mae - 1e-9)
				fail_msg("%s h=%u %s: n %zu mae %g rmse %g smape %g", file,
					 eo.horizons[hi], fc_eval_name(k), mt->n, mt->mae,
					 mt->rmse, mt->smape);
		}
	}
	fc_model_free(&m);
	fc_series_free(&s);
}

static void test_eval_on_trace_slices(void **state)
{
	(void)state;
	/* 3,000 s of NASA at 10 s per point; 3,000 minutes of WorldCup */
	eval_slice("nasa-http-1995-per-second.csv.gz", 200000, 10, 30);
	eval_slice("worldcup98-per-minute.csv.gz", 60000, 1, 60);
}

/* The same through the CLI: table and JSON, every metric a number. */
static void test_cli_eval(void **state)
{
	char trace[512];
	struct captured c;

	(void)state;
	snprintf(trace, sizeof(trace), "%s/worldcup98-per-minute.csv.gz", qlb_traces_dir());
	RUN_CLI(&c, "forecast", "eval", "--trace", trace, "--offset", "60000", "--limit", "3000",
		"--epochs", "2", "--hidden", "8", "--window", "16", "--period", "60", "--json");
	if (c.rc)
		fail_msg("eval rc %d: %s", c.rc, c.err);
	assert_non_null(strstr(c.out, "\"lstm\":{\"mae\":"));
	assert_non_null(strstr(c.out, "\"holt-winters\":{\"mae\":"));
	assert_null(strstr(c.out, "null"));
	RUN_CLI(&c, "forecast", "eval", "--trace", trace, "--offset", "60000", "--limit", "3000",
		"--epochs", "2", "--hidden", "8", "--window", "16", "--horizons", "1,2,5");
	assert_int_equal(c.rc, 0);
	assert_non_null(strstr(c.out, "winner at horizon 5:"));
	assert_null(strstr(c.out, "nan"));
}

static void test_cli_errors(void **state)
{
	char trace[512], model[] = "/tmp/qlb-fc-cli-XXXXXX", header[64];
	struct captured c;
	int fd;

	(void)state;
	snprintf(trace, sizeof(trace), "%s/worldcup98-per-minute.csv.gz", qlb_traces_dir());
	RUN_CLI(&c, "forecast", "--help");
	assert_int_equal(c.rc, 0);
	assert_non_null(strstr(c.out, "train"));
	RUN_CLI(&c, "forecast", "eval", "--help");
	assert_int_equal(c.rc, 0);
	assert_non_null(strstr(c.out, "--horizons"));
	RUN_CLI(&c, "forecast");
	assert_one_line_error(&c);
	RUN_CLI(&c, "forecast", "fly");
	assert_one_line_error(&c);
	RUN_CLI(&c, "forecast", "train", "--trace", trace, "--out", "/tmp/x");
	assert_one_line_error(&c); /* no --horizon */
	RUN_CLI(&c, "forecast", "train", "--trace", trace, "--horizon", "0", "--out", "/tmp/x");
	assert_one_line_error(&c);
	RUN_CLI(&c, "forecast", "train", "--trace", trace, "--horizon", "3x", "--out", "/tmp/x");
	assert_one_line_error(&c);
	RUN_CLI(&c, "forecast", "train", "--bogus");
	assert_one_line_error(&c);
	RUN_CLI(&c, "forecast", "eval", "--trace");
	assert_one_line_error(&c);
	RUN_CLI(&c, "forecast", "eval", "--trace", "/nonexistent.csv.gz");
	assert_one_line_error(&c);
	RUN_CLI(&c, "forecast", "eval", "--trace", trace, "--horizons", "1,,x");
	assert_one_line_error(&c);
	RUN_CLI(&c, "forecast", "eval", "--trace", trace, "--limit", "5");
	assert_one_line_error(&c); /* too short */
	RUN_CLI(&c, "forecast", "train", "--trace", trace, "--limit", "100", "--horizon", "2",
		"--window", "64", "--out", "/tmp/x");
	assert_one_line_error(&c); /* too short for the window */
	RUN_CLI(&c, "forecast", "export", "--model", "/nonexistent.bin", "--header", "/tmp/x.h");
	assert_one_line_error(&c);

	/* a working train + export pair */
	fd = mkstemp(model);
	assert_true(fd >= 0);
	close(fd);
	snprintf(header, sizeof(header), "%s.h", model);
	RUN_CLI(&c, "forecast", "train", "--trace", trace, "--offset", "1000", "--limit", "2000",
		"--horizon", "3", "--hidden", "4", "--window", "16", "--epochs", "1", "--out",
		model);
	if (c.rc)
		fail_msg("train rc %d: %s", c.rc, c.err);
	RUN_CLI(&c, "forecast", "export", "--model", model, "--header", header, "--symbol",
		"bad-name");
	assert_one_line_error(&c);
	RUN_CLI(&c, "forecast", "export", "--model", model, "--header", header);
	assert_int_equal(c.rc, 0);
	RUN_CLI(&c, "forecast", "eval", "--trace", trace, "--offset", "1000", "--limit", "2000",
		"--model", model, "--horizons", "1,3,6");
	assert_int_equal(c.rc, 0);
	assert_non_null(strstr(c.out, "n/a")); /* horizon 6 beyond the model's 3 */
	RUN_CLI(&c, "forecast", "eval", "--trace", trace, "--limit", "2000", "--model", header);
	assert_one_line_error(&c); /* a header is not a model */
	assert_non_null(strstr(c.err, "magic"));
	unlink(model);
	unlink(header);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gradient_check),
		cmocka_unit_test(test_stream_matches_training),
		cmocka_unit_test(test_training_learns_seasonal),
		cmocka_unit_test(test_training_deterministic),
		cmocka_unit_test(test_model_roundtrip),
		cmocka_unit_test(test_default_model_header),
		cmocka_unit_test(test_bad_model_files),
		cmocka_unit_test(test_baselines_known_series),
		cmocka_unit_test(test_prep),
		cmocka_unit_test(test_series_formats),
		cmocka_unit_test(test_eval_on_trace_slices),
		cmocka_unit_test(test_cli_eval),
		cmocka_unit_test(test_cli_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
