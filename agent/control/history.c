// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The agent's CSV history, read back by `qlb forecast --trace` (fc_series.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>

#include "addr.h"
#include "history.h"

int qlb_history_open(const char *path, FILE **out)
{
	FILE *f = fopen(path, "a");

	if (!f)
		return -errno;
	if (ftell(f) == 0)
		fputs("ts,vip,backend,policy,weight,share,arrivals,completions,active,"
		      "lambda,mu,rho,w_paper,t_system_s,rt_mean_s,rt_p99_s,healthy,"
		      "churn_pct,cpu_util,pick_mu,occupancy\n", f);
	*out = f;
	return 0;
}

void qlb_history_row(FILE *f, double now, const struct qlb_vip_entry *v,
		     const struct qlb_backend *b, const struct qlb_obs *ob,
		     const struct qlb_est *e, uint32_t weight, double churn)
{
	char vbuf[64], bbuf[64];

	qlb_format_endpoint(&v->key.addr, v->key.family, ntohs(v->key.port), vbuf, sizeof(vbuf));
	qlb_format_endpoint(&b->addr, b->family, ntohs(b->port), bbuf, sizeof(bbuf));
	fprintf(f, "%.3f,%s,%s,%s,%u,%.6f,%llu,%llu,%.0f,%.3f,%.3f,%.6f,%.6f,%.6f,%.6f,%.6f,%u,%.3f,"
		"%.4f,%.3f,%.4f\n",
		now, vbuf, bbuf, qlb_policy_name(v->val.policy), weight, e->share,
		(unsigned long long)ob->arrivals, (unsigned long long)ob->completions, ob->active,
		e->lambda, e->mu, e->rho, e->w_paper, e->t_system, ob->rt_mean_s, ob->rt_p99_s,
		ob->healthy, churn, ob->cpu_util, e->pick_mu,
		/* the share of the window its servers had a flow open */
		ob->dt_s > 0 && ob->servers ? ob->busy_s / (ob->dt_s * ob->servers) : NAN);
}
