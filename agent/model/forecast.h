/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * qlb forecasting library: per-window arrival-rate forecasts for the agent.
 *
 * Pieces, all in plain C11 with no global mutable state:
 *   - fc_prep_*      preprocessing fitted on training data and stored with the
 *                    model (winsorising, imputation, min-max or log1p+min-max).
 *   - fc_model_* /   an LSTM (optional dense+ReLU front layer, 1..3 stacked
 *     fc_lstm_*      layers, linear head giving horizons 1..H at once), its
 *                    training (BPTT + Adam) and an allocation-free streaming
 *                    step for the agent.
 *   - fc_baseline_*  naive, seasonal naive, EWMA, Holt, Holt-Winters.
 *   - fc_series_*    reads the gzip request-rate traces (data/traces/) and
 *                    qlb agent history CSVs.
 *   - fc_eval        runs every forecaster on one series and scores them.
 *
 * Functions return 0 (or a count) on success and -errno on failure; those
 * taking a struct qlb_error (may be NULL) say why in it, in one line.
 */
#ifndef QLB_FORECAST_H
#define QLB_FORECAST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

/* Bounds enforced on every model, whether built, trained or loaded. */
#define FC_MAX_HIDDEN 256
#define FC_MAX_LAYERS 3
#define FC_MAX_MLP 256
#define FC_MAX_HORIZON 64
#define FC_MAX_WINDOW 4096
#define FC_MAX_SEASON 20160 /* two weeks of one-minute windows */
#define FC_MAX_NOTE 1024

/* ------------------------------------------------------------------ prep */

enum fc_norm {
	FC_NORM_MINMAX = 0,	  /* (x - min) / (max - min) */
	FC_NORM_LOG1P_MINMAX = 1, /* min-max of log1p(max(x, 0)) */
};

enum fc_impute {
	FC_IMPUTE_MEAN = 0, /* missing window -> training mean */
	FC_IMPUTE_LAST = 1, /* missing window -> last observed value (mean before any) */
};

struct fc_prep {
	uint32_t norm;	 /* enum fc_norm */
	uint32_t impute; /* enum fc_impute */
	double winsor_lo_pct, winsor_hi_pct; /* percentiles used by the fit, 0..100 */
	double clip_lo, clip_hi;	     /* raw-scale winsorising bounds */
	double mean;			     /* raw-scale training mean (after winsorising) */
	double min, max;		     /* training range after the (log1p) transform */
};

/* Fits on x[0..n) (NaN = missing, ignored). Needs >= 2 finite values. */
int fc_prep_fit(struct fc_prep *p, const double *x, size_t n, double lo_pct, double hi_pct,
		enum fc_norm norm, enum fc_impute impute);
/* Checks a prep block (as loaded from a file); fills err on failure. */
int fc_prep_validate(const struct fc_prep *p, struct qlb_error *err);
/* Imputes (NaN), winsorises and normalises one raw value. *last_raw carries the
 * last good raw value for FC_IMPUTE_LAST; start it at NAN. May be NULL. */
double fc_prep_apply(const struct fc_prep *p, double raw, double *last_raw);
/* Inverse of the normalisation (no un-winsorising), clamped to >= 0 for log1p. */
double fc_prep_invert(const struct fc_prep *p, double normalised);
/* fc_prep_apply over x[0..n) in order (last-value imputation carries over). */
void fc_prep_apply_series(const struct fc_prep *p, const double *x, size_t n, float *out);
/* Linear-interpolated percentile (0..100) of the finite values of x. NAN if none. */
double fc_percentile(const double *x, size_t n, double pct);

/* ----------------------------------------------------------------- model */

#define FC_ARCH_RESIDUAL 0x1u	/* head forecasts the change from the last input */
#define FC_ARCH_DIFF_INPUT 0x2u /* also feed FC_DIFF_GAIN * (x[t] - x[t-1]) */
#define FC_ARCH_KNOWN_FLAGS (FC_ARCH_RESIDUAL | FC_ARCH_DIFF_INPUT)
/* Step-to-step changes are ~1% of the normalised range; the gain puts them on
 * the scale of the level so the LSTM's input weights need not grow 100x. */
#define FC_DIFF_GAIN 10.0f

struct fc_arch {
	uint32_t mlp;	  /* width of the dense+ReLU front layer, 0 = none */
	uint32_t hidden;  /* LSTM units per layer */
	uint32_t layers;  /* stacked LSTM layers, 1..FC_MAX_LAYERS */
	uint32_t horizon; /* forecasts for t+1..t+horizon from one step */
	uint32_t window;  /* truncated-BPTT length used in training */
	uint32_t season;  /* >0: also feed x[t+k-season], k=1..horizon (>= horizon) */
	/* inputs per step, in order: x[t], [diff], [season lags] */
	uint32_t flags;	  /* FC_ARCH_* */
};

struct fc_model {
	struct fc_arch arch;
	struct fc_prep prep;
	uint32_t n_input; /* features per step: 1 [+1 diff] [+horizon with season] */
	size_t n_params;
	float *params; /* every weight, one block, in file order */
	/* views into params */
	float *mlp_w, *mlp_b;			   /* [mlp][n_input], [mlp] */
	float *lstm_w[FC_MAX_LAYERS];		   /* [4*hidden][in_l + hidden], gates i,f,g,o */
	float *lstm_b[FC_MAX_LAYERS];		   /* [4*hidden] */
	uint32_t lstm_in[FC_MAX_LAYERS];	   /* in_l */
	float *out_w, *out_b;			   /* [horizon][hidden], [horizon] */
	char note[FC_MAX_NOTE + 1];		   /* provenance, e.g. the train command */
};

/* Checks sizes against the FC_MAX_* bounds. */
int fc_arch_validate(const struct fc_arch *a, struct qlb_error *err);
/* Number of float parameters of an architecture (0 if invalid). */
size_t fc_arch_param_count(const struct fc_arch *a);
/* Allocates a model and initialises weights from seed (deterministic). The
 * prep block is set to identity min-max (0..1); fit it before training. */
int fc_model_init(struct fc_model *m, const struct fc_arch *a, uint64_t seed);
void fc_model_free(struct fc_model *m);
/* For the loader: allocates a model of a valid arch with zero weights. */
int fc_model_alloc_internal(struct fc_model *m, const struct fc_arch *a);
int fc_model_copy(struct fc_model *dst, const struct fc_model *src);

/* Serialised format (all little-endian):
 *   "QLBFCST\0" | u32 version | u32 header_len | header | f32 params[n] | u32 crc32
 * header (v1): u32 mlp, hidden, layers, horizon, window, season, flags, n_params,
 *   prep.norm, prep.impute, note_len | f64 winsor_lo_pct, winsor_hi_pct, clip_lo,
 *   clip_hi, mean, min, max | note bytes.  The CRC (zlib crc32) covers every byte
 *   before it. */
#define FC_MODEL_MAGIC "QLBFCST"
#define FC_MODEL_VERSION 1u
int fc_model_serialize(const struct fc_model *m, uint8_t **buf, size_t *len);
/* Never trusts buf: every size, bound, the length and the CRC are checked.
 * -EBADMSG: not a model / truncated / CRC; -EPROTONOSUPPORT: version;
 * -EINVAL: sizes or values out of range; -ENOMEM. */
int fc_model_deserialize(struct fc_model *m, const void *buf, size_t len, struct qlb_error *err);
int fc_model_save(const struct fc_model *m, const char *path, struct qlb_error *err);
int fc_model_load(struct fc_model *m, const char *path, struct qlb_error *err);
/* Writes a C header defining `static const unsigned char qlb_default_model[]`
 * (the serialised model) and `qlb_default_model_len`; load it with
 * fc_model_deserialize(m, qlb_default_model, qlb_default_model_len, err). */
int fc_model_export_header(const struct fc_model *m, FILE *f);
/* Same with a chosen symbol prefix and an extra comment line (may be NULL). */
int fc_model_export_header_named(const struct fc_model *m, FILE *f, const char *symbol,
				 const char *comment);

/* ---------------------------------------------------------- streaming LSTM */

/* Everything one stream needs between steps, allocated once. */
struct fc_lstm_state {
	uint32_t layers, hidden, n_input, horizon, season;
	float *h, *c;	   /* [layers][hidden] */
	float *feat;	   /* [n_input] */
	float *xh;	   /* [max(in_l) + hidden] */
	float *gates;	   /* [4 * hidden] */
	float *ring;	   /* [season] last normalised inputs */
	float *y;	   /* [horizon] normalised forecasts of the last step */
	uint64_t seen;	   /* inputs consumed since reset */
	float prev;	   /* last normalised input, for the diff feature */
	double last_raw;   /* for FC_IMPUTE_LAST */
	void *block;	   /* the single allocation behind the arrays */
};

int fc_lstm_state_init(struct fc_lstm_state *s, const struct fc_model *m);
void fc_lstm_state_reset(struct fc_lstm_state *s);
void fc_lstm_state_free(struct fc_lstm_state *s);
/* One step on a normalised input; writes normalised forecasts for t+1..t+H to
 * out[0..H). Allocates nothing. s must come from fc_lstm_state_init(m). */
void fc_lstm_step(const struct fc_model *m, struct fc_lstm_state *s, float x_t, float *out);
/* Same on a raw value (NaN = missing window): preprocessing in, raw-scale
 * forecasts (>= 0) out. */
void fc_lstm_step_raw(const struct fc_model *m, struct fc_lstm_state *s, double raw_t,
		      double *out);

/* --------------------------------------------------------------- training */

struct fc_train_opts {
	uint32_t epochs;
	uint32_t batch;	 /* parallel streams per Adam step */
	double lr;	 /* Adam step size, decays linearly to lr/10 */
	double clip;	 /* global gradient-norm clip, 0 = off */
	double val_frac; /* tail of the series used to pick the best epoch, 0 = none */
	int l1;		 /* loss: 0 = mean squared error, 1 = mean absolute error */
	uint64_t seed;
	FILE *log; /* per-epoch progress, NULL = quiet */
};

struct fc_train_report {
	double first_epoch_loss, last_epoch_loss; /* training loss (normalised) */
	double best_val_loss;			  /* NAN without validation */
	uint32_t best_epoch;			  /* 1-based */
	double seconds;
};

void fc_train_opts_default(struct fc_train_opts *o);
/* Trains on the normalised series x[0..n) (m->prep already fitted). */
int fc_train(struct fc_model *m, const float *x, size_t n, const struct fc_train_opts *o,
	     struct fc_train_report *rep);
struct fc_prep_opts {
	double lo_pct, hi_pct; /* winsorising percentiles, e.g. 1 and 99 */
	enum fc_norm norm;
	enum fc_impute impute;
};

/* Whole pipeline on raw x[0..n): fits m->prep on it, initialises m from
 * a and o->seed, trains. On failure m is freed and err says why. */
int fc_model_train_series(struct fc_model *m, const struct fc_arch *a,
			  const struct fc_prep_opts *p, const struct fc_train_opts *o,
			  const double *x, size_t n, struct fc_train_report *rep,
			  struct qlb_error *err);
/* Mean squared (l1: absolute) error of every horizon at every step of
 * x[start..start+len) run from a zero state, and (if grad != NULL) its
 * gradient for every parameter, in double. Targets are x[t+1..t+H], so
 * start+len+H <= n. For gradient checks. */
int fc_lstm_window_loss(const struct fc_model *m, const float *x, size_t n, size_t start,
			size_t len, int l1, double *loss, double *grad);
/* Streaming mean squared (l1: absolute) error of the forecasts made at
 * x[from..n), normalised, after warming up on the `warmup` points before. */
double fc_lstm_stream_loss(const struct fc_model *m, const float *x, size_t n, size_t from,
			   size_t warmup, int l1);

/* -------------------------------------------------------------- baselines */

enum fc_kind {
	FC_NAIVE = 0,
	FC_SEASONAL_NAIVE,
	FC_EWMA,
	FC_HOLT,
	FC_HOLT_WINTERS,
	FC_BASELINE_COUNT
};

/* Streaming forecaster: fit() picks parameters and resets, update() consumes
 * one value, forecast(h) predicts h steps past the last update. */
struct fc_baseline {
	enum fc_kind kind;
	uint32_t period; /* seasonal kinds; falls back to non-seasonal when 0 */
	double alpha, beta, gamma;
	/* state */
	double level, trend, last;
	double *season;	 /* [period] seasonal components (Holt-Winters) */
	double *history; /* [period] last values (seasonal naive, HW warm-up) */
	uint64_t seen;
};

const char *fc_baseline_name(enum fc_kind kind);
int fc_baseline_init(struct fc_baseline *b, enum fc_kind kind, uint32_t period);
void fc_baseline_free(struct fc_baseline *b);
void fc_baseline_reset(struct fc_baseline *b);
/* Grid-searches the smoothing parameters minimising the squared error of the
 * horizon-h forecasts over x[0..n) (NaNs skipped), then resets the state. */
int fc_baseline_fit(struct fc_baseline *b, const double *x, size_t n, uint32_t h);
void fc_baseline_update(struct fc_baseline *b, double x);
double fc_baseline_forecast(const struct fc_baseline *b, uint32_t h);

/* ----------------------------------------------------------------- series */

struct fc_series {
	double *v; /* NaN = missing */
	size_t n;
	double interval_s; /* seconds per point after aggregation, 0 if unknown */
	char column[16];   /* column read: requests, num_request or lambda */
};

struct fc_series_opts {
	size_t aggregate; /* sum this many consecutive rows (0/1 = none) */
	size_t offset;	  /* skip this many rows (windows for history CSVs) */
	size_t limit;	  /* read at most this many rows after offset, 0 = all */
};

/* Reads a trace (gzip or plain CSV): a `requests` column (NASA per-second), a
 * `num_request` column (WorldCup per-minute), or a qlb history CSV with `ts`
 * and `lambda` columns (lambda summed over consecutive rows with the same ts).
 * offset/limit count input rows before aggregation; a trailing partial
 * aggregate is dropped. */
int fc_series_read(const char *path, const struct fc_series_opts *o, struct fc_series *s,
		   struct qlb_error *err);
void fc_series_free(struct fc_series *s);

/* --------------------------------------------------------------- evaluate */

struct fc_metrics {
	double mae, rmse, smape; /* sMAPE in percent; 0/0 terms count as 0 */
	size_t n;
};

#define FC_EVAL_MAX_HORIZONS 8
#define FC_EVAL_FORECASTERS (FC_BASELINE_COUNT + 1) /* baselines + LSTM (last) */

struct fc_eval_opts {
	uint32_t horizons[FC_EVAL_MAX_HORIZONS];
	uint32_t n_horizons;
	double train_frac; /* 0.8 */
	uint32_t period;   /* seasonal period for baselines */
};

struct fc_eval_result {
	size_t n, n_train;
	uint32_t period;
	struct fc_metrics m[FC_EVAL_MAX_HORIZONS][FC_EVAL_FORECASTERS];
	int lstm_valid[FC_EVAL_MAX_HORIZONS]; /* horizon within the model's */
	int winner[FC_EVAL_MAX_HORIZONS];     /* index of the lowest MAE */
};

const char *fc_eval_name(int forecaster); /* baselines, then "lstm" */
/* Scores every forecaster on x[n_train..n) with the model (already trained on
 * x[0..n_train) or loaded): origins t >= n_train-1 with t+h < n. */
int fc_eval(const struct fc_model *m, const double *x, size_t n, const struct fc_eval_opts *o,
	    struct fc_eval_result *r);


#endif /* QLB_FORECAST_H */
