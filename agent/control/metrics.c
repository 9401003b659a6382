// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Prometheus text exposition of the agent's view, on a loopback address by
 * default. The HTTP side is libmicrohttpd (Debian's libmicrohttpd-dev): a
 * small, well-kept embeddable server with its own polling thread, so the
 * control loop never waits on a scraper. The loop rebuilds the page once per
 * window; the server thread only copies it out under a mutex.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <microhttpd.h>

#include "addr.h"
#include "metrics.h"
#include "parse.h"

struct qlb_metrics_server {
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;
	char *page;
	size_t len;
};

static int parse_listen(const char *s, struct sockaddr_storage *ss)
{
	struct qlb_endpoint ep;
	char why[160];

	if (qlb_parse_endpoint(s, 1, &ep, why, sizeof(why)))
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (ep.family == QLB_FAMILY_V4) {
		struct sockaddr_in *sin = (void *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(ep.port);
		sin->sin_addr.s_addr = ep.addr.v4;
	} else {
		struct sockaddr_in6 *sin6 = (void *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(ep.port);
		memcpy(&sin6->sin6_addr, ep.addr.bytes, 16);
	}
	return 0;
}

int qlb_metrics_parse_listen(const char *s)
{
	struct sockaddr_storage ss;

	return !strcmp(s, "none") ? 0 : parse_listen(s, &ss);
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_size, void **req_cls)
{
	struct qlb_metrics_server *m = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned int status = MHD_HTTP_OK;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)req_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return MHD_NO;
	if (strcmp(url, "/metrics")) {
		static const char nf[] = "see /metrics\n";

		resp = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf,
						       MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_NOT_FOUND;
	} else {
		pthread_mutex_lock(&m->lock);
		resp = MHD_create_response_from_buffer(m->len, m->page ? m->page : "",
						       MHD_RESPMEM_MUST_COPY);
		pthread_mutex_unlock(&m->lock);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

int qlb_metrics_start(const char *listen, struct qlb_metrics_server **out)
{
	struct qlb_metrics_server *m;
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (parse_listen(listen, &ss))
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->daemon = MHD_start_daemon(flags, 0, NULL, NULL, serve, m,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				     MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				     MHD_OPTION_END);
	if (!m->daemon) {
		pthread_mutex_destroy(&m->lock);
		free(m);
		return -EADDRINUSE;
	}
	*out = m;
	return 0;
}

void qlb_metrics_stop(struct qlb_metrics_server *m)
{
	MHD_stop_daemon(m->daemon);
	pthread_mutex_destroy(&m->lock);
	free(m->page);
	free(m);
}

/* A backend's plain counters: metric, extra labels, field. */
static const struct {
	const char *name, *labels;
	size_t off;
} backend_counters[] = {
#define BC(name, labels, field) { name, labels, offsetof(struct qlb_backend_stats, field) }
	BC("qlb_backend_flows_total", ",event=\"new\"", flows_new),
	BC("qlb_backend_flows_total", ",event=\"closed\"", flows_closed),
	BC("qlb_backend_flows_total", ",event=\"expired\"", flows_expired),
	BC("qlb_backend_packets_total", ",dir=\"to\"", packets_to),
	BC("qlb_backend_packets_total", ",dir=\"from\"", packets_from),
	BC("qlb_backend_bytes_total", ",dir=\"to\"", bytes_to),
	BC("qlb_backend_bytes_total", ",dir=\"from\"", bytes_from),
	BC("qlb_backend_refused_total", "", refused),
#undef BC
};

static void backend_metrics(FILE *f, struct qlb_state *st, uint32_t id, const char *labels,
			    const struct qlb_stats_snapshot *snap)
{
	const struct qlb_backend_stats *s = &snap->be[id];
	const struct qlb_backend *b = &st->backends[id];
	struct qlb_backend_est e = {};
	uint64_t cum = 0;
	__u32 key = id;
	size_t c;
	int k;

	bpf_map_lookup_elem(st->maps.backend_est, &key, &e);
	for (c = 0; c < sizeof(backend_counters) / sizeof(backend_counters[0]); c++) {
		__u64 v;

		memcpy(&v, (const char *)s + backend_counters[c].off, sizeof(v));
		fprintf(f, "%s{%s%s} %llu\n", backend_counters[c].name, labels,
			backend_counters[c].labels, (unsigned long long)v);
	}
	fprintf(f, "qlb_backend_flows_total{%s,event=\"evicted\"} %llu\n", labels,
		(unsigned long long)snap->evicted[id]);
	fprintf(f, "qlb_backend_active_flows{%s} %llu\n", labels,
		(unsigned long long)qlb_flows_open(snap, id));
	fprintf(f, "qlb_backend_up{%s} %d\n", labels, !(b->flags & QLB_BE_F_DOWN));
	fprintf(f, "qlb_backend_weight{%s} %u\n", labels, b->ring_weight);
	fprintf(f, "qlb_backend_lambda{%s} %.3f\n", labels, e.lambda_milli / 1e3);
	fprintf(f, "qlb_backend_mu{%s} %.3f\n", labels, e.mu_milli / 1e3);
	fprintf(f, "qlb_backend_rho{%s} %.6f\n", labels, e.rho_micro / 1e6);
	fprintf(f, "qlb_backend_w_paper_seconds{%s} %.9f\n", labels, e.w_paper_ns / 1e9);
	fprintf(f, "qlb_backend_time_in_system_seconds{%s} %.9f\n", labels,
		e.t_system_ns / 1e9);
	for (k = 0; k < QLB_RT_BUCKETS; k++) {
		cum += s->rt_hist[k];
		fprintf(f, "qlb_backend_response_time_seconds_bucket{%s,le=\"%g\"} %llu\n",
			labels, (double)(1ull << (k + 1)) / 1e6, (unsigned long long)cum);
	}
	fprintf(f, "qlb_backend_response_time_seconds_bucket{%s,le=\"+Inf\"} %llu\n", labels,
		(unsigned long long)s->rt_count);
	fprintf(f, "qlb_backend_response_time_seconds_sum{%s} %.9f\n", labels,
		s->rt_sum_ns / 1e9);
	fprintf(f, "qlb_backend_response_time_seconds_count{%s} %llu\n", labels,
		(unsigned long long)s->rt_count);
	fprintf(f, "qlb_backend_flow_duration_seconds_sum{%s} %.9f\n", labels,
		s->dur_sum_ns / 1e9);
	fprintf(f, "qlb_backend_flow_duration_seconds_count{%s} %llu\n", labels,
		(unsigned long long)s->dur_count);
}

void qlb_metrics_publish(struct qlb_metrics_server *m, struct qlb_state *st,
			 const struct qlb_stats_snapshot *snap, double window_cost_s,
			 uint64_t windows, const struct qlb_vip_report *vips)
{
	char *page = NULL, vbuf[64], bbuf[64], labels[200];
	size_t len = 0;
	FILE *f = open_memstream(&page, &len);
	int i, j;

	if (!f)
		return;
	fprintf(f, "# HELP qlb_agent_windows_total Control windows run.\n"
		   "# TYPE qlb_agent_windows_total counter\n"
		   "qlb_agent_windows_total %llu\n", (unsigned long long)windows);
	fprintf(f, "# HELP qlb_agent_window_seconds Time the last window took (read, compute, swap).\n"
		   "# TYPE qlb_agent_window_seconds gauge\n"
		   "qlb_agent_window_seconds %.6f\n", window_cost_s);
	fprintf(f, "# TYPE qlb_packets_total counter\n");
	for (i = 0; i < QLB_R_MAX; i++)
		fprintf(f, "qlb_packets_total{reason=\"%s\"} %llu\n", qlb_reason_name(i),
			(unsigned long long)snap->reason[i].packets);
	fprintf(f, "# HELP qlb_flow_events_total What happened to new flows (half-open, flood mode, lost, adopted).\n"
		   "# TYPE qlb_flow_events_total counter\n");
	for (i = 0; i < QLB_EV_MAX; i++)
		fprintf(f, "qlb_flow_events_total{event=\"%s\"} %llu\n", qlb_event_name(i),
			(unsigned long long)snap->event[i]);
	fprintf(f, "# HELP qlb_flood_cpus CPUs in flood mode: SYNs keep no state.\n"
		   "# TYPE qlb_flood_cpus gauge\n"
		   "qlb_flood_cpus %u\n", snap->flooding_cpus);
	fprintf(f, "# TYPE qlb_backend_flows_total counter\n"
		   "# TYPE qlb_backend_response_time_seconds histogram\n"
		   "# TYPE qlb_backend_flow_duration_seconds summary\n"
		   "# TYPE qlb_backend_refused_total counter\n");
	for (i = 0; i < st->nvips; i++) {
		const struct qlb_vip_entry *v = &st->vips[i];

		qlb_format_endpoint(&v->key.addr, v->key.family, ntohs(v->key.port), vbuf,
				    sizeof(vbuf));
		fprintf(f, "qlb_vip_flows_total{vip=\"%s\",proto=\"%s\"} %llu\n", vbuf,
			qlb_proto_name(v->key.proto),
			(unsigned long long)snap->vip[v->val.vip_id].flows_new);
		fprintf(f, "qlb_vip_no_backend_total{vip=\"%s\",proto=\"%s\"} %llu\n", vbuf,
			qlb_proto_name(v->key.proto),
			(unsigned long long)snap->vip[v->val.vip_id].no_backend);
		if (vips && vips[v->val.vip_id].valid) {
			const struct qlb_vip_report *r = &vips[v->val.vip_id];

			snprintf(labels, sizeof(labels), "vip=\"%s\",proto=\"%s\"", vbuf,
				 qlb_proto_name(v->key.proto));
			fprintf(f, "qlb_vip_ring_churn_percent{%s} %.3f\n", labels, r->churn_pct);
			qlb_forecast_metrics_write(f, labels, &r->fi, r->sc);
		}
		for (j = 0; j < QLB_MAX_BACKENDS; j++) {
			const struct qlb_backend *b = &st->backends[j];

			if (!(b->flags & QLB_BE_F_IN_USE) || b->vip_id != v->val.vip_id)
				continue;
			qlb_format_endpoint(&b->addr, b->family, ntohs(b->port), bbuf, sizeof(bbuf));
			snprintf(labels, sizeof(labels), "vip=\"%s\",proto=\"%s\",backend=\"%s\"",
				 vbuf, qlb_proto_name(v->key.proto), bbuf);
			backend_metrics(f, st, j, labels, snap);
		}
	}
	fclose(f);
	pthread_mutex_lock(&m->lock);
	free(m->page);
	m->page = page;
	m->len = len;
	pthread_mutex_unlock(&m->lock);
}
