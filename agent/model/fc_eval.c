// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Scoring the forecasters on a series: the LSTM and every baseline, trained
 * on its head and scored on its tail (forecast.h, fc_eval). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"

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
