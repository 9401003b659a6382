// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Preprocessing fitted on training data only and stored with the model. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double fc_percentile(const double *x, size_t n, double pct)
{
	double *sorted, pos, frac, res;
	size_t k = 0, lo;

	sorted = malloc((n ? n : 1) * sizeof(*sorted));
	if (!sorted)
		return NAN;
	for (size_t i = 0; i < n; i++)
		if (isfinite(x[i]))
			sorted[k++] = x[i];
	if (!k) {
		free(sorted);
		return NAN;
	}
	qsort(sorted, k, sizeof(*sorted), cmp_double);
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	pos = pct / 100.0 * (double)(k - 1);
	lo = (size_t)pos;
	if (lo >= k - 1) {
		res = sorted[k - 1];
	} else {
		frac = pos - (double)lo;
		res = sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
	}
	free(sorted);
	return res;
}

static double transform(const struct fc_prep *p, double v)
{
	return p->norm == FC_NORM_LOG1P_MINMAX ? log1p(v > 0 ? v : 0) : v;
}

int fc_prep_fit(struct fc_prep *p, const double *x, size_t n, double lo_pct, double hi_pct,
		enum fc_norm norm, enum fc_impute impute)
{
	double sum = 0, lo_t = INFINITY, hi_t = -INFINITY;
	size_t finite = 0;

	if (!p || !x || (norm != FC_NORM_MINMAX && norm != FC_NORM_LOG1P_MINMAX) ||
	    (impute != FC_IMPUTE_MEAN && impute != FC_IMPUTE_LAST) || !(lo_pct >= 0) ||
	    !(hi_pct <= 100) || !(lo_pct <= hi_pct))
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->norm = norm;
	p->impute = impute;
	p->winsor_lo_pct = lo_pct;
	p->winsor_hi_pct = hi_pct;
	p->clip_lo = fc_percentile(x, n, lo_pct);
	p->clip_hi = fc_percentile(x, n, hi_pct);
	if (!isfinite(p->clip_lo) || !isfinite(p->clip_hi))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		double v, t;

		if (!isfinite(x[i]))
			continue;
		v = fmin(fmax(x[i], p->clip_lo), p->clip_hi);
		t = transform(p, v);
		sum += v;
		lo_t = fmin(lo_t, t);
		hi_t = fmax(hi_t, t);
		finite++;
	}
	if (finite < 2)
		return -EINVAL;
	p->mean = sum / (double)finite;
	p->min = lo_t;
	/* A constant series still needs a usable scale. */
	p->max = hi_t > lo_t ? hi_t : lo_t + 1.0;
	return 0;
}

int fc_prep_validate(const struct fc_prep *p, struct qlb_error *err)
{
	const char *why = NULL;

	if (p->norm != FC_NORM_MINMAX && p->norm != FC_NORM_LOG1P_MINMAX)
		why = "unknown normalisation";
	else if (p->impute != FC_IMPUTE_MEAN && p->impute != FC_IMPUTE_LAST)
		why = "unknown imputation";
	else if (!(p->winsor_lo_pct >= 0 && p->winsor_hi_pct <= 100 &&
		   p->winsor_lo_pct <= p->winsor_hi_pct))
		why = "winsorising percentiles out of range";
	else if (!isfinite(p->clip_lo) || !isfinite(p->clip_hi) || p->clip_lo > p->clip_hi)
		why = "winsorising bounds invalid";
	else if (!isfinite(p->mean) || !isfinite(p->min) || !isfinite(p->max) ||
		 !(p->max > p->min))
		why = "normalisation range invalid";
	if (why) {
		qlb_error_set(err, 0, "preprocessing: %s", why);
		return -EINVAL;
	}
	return 0;
}

double fc_prep_apply(const struct fc_prep *p, double raw, double *last_raw)
{
	double v = raw;

	if (!isfinite(v)) {
		if (p->impute == FC_IMPUTE_LAST && last_raw && isfinite(*last_raw))
			v = *last_raw;
		else
			v = p->mean;
	} else if (last_raw) {
		*last_raw = v;
	}
	v = fmin(fmax(v, p->clip_lo), p->clip_hi);
	return (transform(p, v) - p->min) / (p->max - p->min);
}

double fc_prep_invert(const struct fc_prep *p, double normalised)
{
	double t = p->min + normalised * (p->max - p->min);

	if (p->norm == FC_NORM_LOG1P_MINMAX) {
		/* expm1 of a wild forecast would overflow; cap at e^50. */
		if (t > 50)
			t = 50;
		return t > 0 ? expm1(t) : 0;
	}
	return t;
}

void fc_prep_apply_series(const struct fc_prep *p, const double *x, size_t n, float *out)
{
	double last = NAN;

	for (size_t i = 0; i < n; i++)
		out[i] = (float)fc_prep_apply(p, x[i], &last);
}
