// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Forecaster costs, each next to a reference measured in the same run:
 *   1. LSTM streaming step (hidden 32, 1 layer, horizon 5, level + diff
 *      inputs: the default model's shape) vs a plain float matrix-vector
 *      product of the same gate-matrix size, and vs an EWMA update+forecast.
 *   2. Training on one day of per-minute WorldCup data (1440 points) vs the
 *      same number of plain double matrix-vector products as the training's
 *      forward+backward passes (3 per step per layer), and vs fitting
 *      Holt-Winters on the same data.
 * Run from the repo root, where the traces are (tests/traces.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "forecast.h"
#include "../traces.h"

#define STEP_TARGET_US 5.0

static volatile double sink;

/* y = W x, rows x cols, row-major: the plainest loop, what -O2 makes of it. */
static void matvec_f(const float *w, const float *x, float *y, int rows, int cols)
{
	for (int r = 0; r < rows; r++) {
		float s = 0;

		for (int c = 0; c < cols; c++)
			s += w[(size_t)r * cols + c] * x[c];
		y[r] = s;
	}
}

static void matvec_d(const double *w, const double *x, double *y, int rows, int cols)
{
	for (int r = 0; r < rows; r++) {
		double s = 0;

		for (int c = 0; c < cols; c++)
			s += w[(size_t)r * cols + c] * x[c];
		y[r] = s;
	}
}

static int bench_step(void)
{
	struct fc_arch a = { .hidden = 32, .layers = 1, .horizon = 5, .window = 64,
			     .flags = FC_ARCH_RESIDUAL | FC_ARCH_DIFF_INPUT };
	const int steps = 400000;
	struct fc_model m;
	struct fc_lstm_state s;
	struct fc_baseline b;
	float out[5], *w, *x, *y;
	int rows = 4 * 32, cols = 2 + 32;
	double t0, lstm_ns, mv_ns, ewma_ns, acc = 0;

	if (fc_model_init(&m, &a, 1) || fc_lstm_state_init(&s, &m))
		return 1;
	for (int i = 0; i < 5000; i++) /* warm up */
		fc_lstm_step(&m, &s, 0.5f, out);
	t0 = qlb_mono_s();
	for (int i = 0; i < steps; i++) {
		fc_lstm_step(&m, &s, (float)(i & 1023) * (1.0f / 1024), out);
		acc += out[4];
	}
	lstm_ns = (qlb_mono_s() - t0) * 1e9 / steps;

	w = malloc(sizeof(float) * rows * cols);
	x = malloc(sizeof(float) * cols);
	y = malloc(sizeof(float) * rows);
	for (int i = 0; i < rows * cols; i++)
		w[i] = (float)((i * 37 % 101) - 50) * 1e-3f;
	for (int i = 0; i < cols; i++)
		x[i] = 0.01f * i;
	t0 = qlb_mono_s();
	for (int i = 0; i < steps; i++) {
		x[i % cols] = (float)(i & 255) * 1e-3f;
		matvec_f(w, x, y, rows, cols);
		acc += y[i % rows];
	}
	mv_ns = (qlb_mono_s() - t0) * 1e9 / steps;

	fc_baseline_init(&b, FC_EWMA, 0);
	b.alpha = 0.3;
	t0 = qlb_mono_s();
	for (int i = 0; i < steps; i++) {
		fc_baseline_update(&b, (double)(i & 1023));
		acc += fc_baseline_forecast(&b, 5);
	}
	ewma_ns = (qlb_mono_s() - t0) * 1e9 / steps;
	sink = acc;

	printf("LSTM step (hidden 32, 1 layer, %u inputs, horizon 5): %8.1f ns/step  "
	       "(target <= %.0f us: %s)\n",
	       m.n_input, lstm_ns, STEP_TARGET_US, lstm_ns <= STEP_TARGET_US * 1000 ? "ok" : "MISSED");
	printf("  reference: plain %dx%d float mat-vec          %8.1f ns   ratio %.2f\n", rows,
	       cols, mv_ns, lstm_ns / mv_ns);
	printf("  reference: EWMA update + forecast              %8.1f ns   ratio %.1f\n", ewma_ns,
	       lstm_ns / ewma_ns);
	free(w);
	free(x);
	free(y);
	fc_baseline_free(&b);
	fc_lstm_state_free(&s);
	fc_model_free(&m);
	return 0;
}

static int bench_train(void)
{
	char path[512];
	struct qlb_error err = {};
	struct fc_series_opts so = { .offset = 50400, .limit = 1440 }; /* 5 June 1998 */
	struct fc_series ser;
	struct fc_arch a = { .hidden = 32, .layers = 1, .horizon = 5, .window = 64,
			     .flags = FC_ARCH_RESIDUAL | FC_ARCH_DIFF_INPUT };
	struct fc_prep_opts p = { 1, 99, FC_NORM_LOG1P_MINMAX, FC_IMPUTE_MEAN };
	struct fc_train_opts o;
	struct fc_train_report rep;
	struct fc_model m;
	struct fc_baseline hw;
	double t0, train_s, ref_s, hw_s, *w, *x, *y;
	size_t steps, n_fit;
	uint32_t streams;
	int rows = 4 * 32, cols = 2 + 32;

	snprintf(path, sizeof(path), "%s/worldcup98-per-minute.csv.gz", qlb_traces_dir());
	if (fc_series_read(path, &so, &ser, &err)) {
		fprintf(stderr, "bench: %s (set QLB_TRACES_DIR)\n", err.msg);
		return 1;
	}
	fc_train_opts_default(&o);
	t0 = qlb_mono_s();
	if (fc_model_train_series(&m, &a, &p, &o, ser.v, ser.n, &rep, &err)) {
		fprintf(stderr, "bench: %s\n", err.msg);
		return 1;
	}
	train_s = qlb_mono_s() - t0;

	/* steps the trainer really ran (it shrinks the streams for short data) */
	n_fit = ser.n - (size_t)(o.val_frac * (double)ser.n);
	streams = o.batch;
	if ((n_fit - a.horizon) / streams < 2 * (size_t)a.window)
		streams = (uint32_t)((n_fit - a.horizon) / (2 * (size_t)a.window));
	steps = (size_t)o.epochs * streams *
		(((n_fit - a.horizon) / streams - a.window) / a.window) * a.window;

	w = malloc(sizeof(double) * rows * cols);
	x = malloc(sizeof(double) * cols);
	y = malloc(sizeof(double) * rows);
	for (int i = 0; i < rows * cols; i++)
		w[i] = (double)((i * 37 % 101) - 50) * 1e-3;
	for (int i = 0; i < cols; i++)
		x[i] = 0.01 * i;
	t0 = qlb_mono_s();
	for (size_t i = 0; i < 3 * steps; i++) {
		x[i % cols] = (double)(i & 255) * 1e-3;
		matvec_d(w, x, y, rows, cols);
		sink = y[i % rows];
	}
	ref_s = qlb_mono_s() - t0;

	fc_baseline_init(&hw, FC_HOLT_WINTERS, 60);
	t0 = qlb_mono_s();
	fc_baseline_fit(&hw, ser.v, ser.n, 5);
	hw_s = qlb_mono_s() - t0;

	printf("LSTM training, 1440 points of WorldCup per-minute (default options), hidden 32, %u epochs, "
	       "%zu BPTT steps: %.3f s (train loss %.4g -> %.4g)\n",
	       o.epochs, steps, train_s, rep.first_epoch_loss, rep.last_epoch_loss);
	printf("  reference: %zu plain %dx%d double mat-vecs (3 per step)  %.3f s   ratio %.2f\n",
	       3 * steps, rows, cols, ref_s, train_s / ref_s);
	printf("  reference: Holt-Winters grid-search fit (period 60)      %.3f s   ratio %.1f\n",
	       hw_s, train_s / hw_s);
	free(w);
	free(x);
	free(y);
	fc_baseline_free(&hw);
	fc_model_free(&m);
	fc_series_free(&ser);
	return 0;
}

int main(void)
{
	int rc = bench_step();

	return rc ? rc : bench_train();
}
