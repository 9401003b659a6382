// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Health probes: a TCP connect, or an HTTP GET that must answer 2xx or 3xx.
 * All due probes of a window run at once on non-blocking sockets under one
 * poll(), so a thousand backends cost one window, not a thousand timeouts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "health.h"

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int qlb_health_parse(const char *spec, struct qlb_health_opts *o)
{
	if (!strcmp(spec, "none")) {
		o->kind = QLB_HEALTH_NONE;
	} else if (!strcmp(spec, "tcp")) {
		o->kind = QLB_HEALTH_TCP;
	} else if (!strncmp(spec, "http", 4) && (!spec[4] || spec[4] == ':')) {
		o->kind = QLB_HEALTH_HTTP;
		snprintf(o->path, sizeof(o->path), "%s", spec[4] ? spec + 5 : "/");
		if (o->path[0] != '/' || strpbrk(o->path, " \r\n"))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	return 0;
}

static void probe_close(struct qlb_probe *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

/* Starts a probe; returns 1 if it finished at once (result in *ok). */
static int probe_start(struct qlb_probe *p, const struct qlb_health_opts *o, int *ok)
{
	struct sockaddr_storage ss = {};
	socklen_t len;

	p->fd = socket(p->family == QLB_FAMILY_V4 ? AF_INET : AF_INET6,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		*ok = 0;
		return 1;
	}
	if (p->family == QLB_FAMILY_V4) {
		struct sockaddr_in *sin = (void *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(p->port);
		sin->sin_addr.s_addr = p->addr.v4;
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (void *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(p->port);
		memcpy(&sin6->sin6_addr, p->addr.bytes, 16);
		len = sizeof(*sin6);
	}
	p->state = QLB_PROBE_CONNECTING;
	p->got = 0;
	if (connect(p->fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		probe_close(p);
		*ok = 0;
		return 1;
	}
	(void)o;
	return 0;
}

/* Advances a probe on a poll event; returns 1 when it has a verdict. */
static int probe_step(struct qlb_probe *p, const struct qlb_health_opts *o, short revents,
		      int *ok)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	char req[320];
	ssize_t r;

	*ok = 0;
	switch (p->state) {
	case QLB_PROBE_CONNECTING:
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr ||
		    (revents & (POLLERR | POLLHUP) && !(revents & POLLOUT)))
			return 1;
		if (o->kind == QLB_HEALTH_TCP) {
			*ok = 1;
			return 1;
		}
		snprintf(req, sizeof(req),
			 "GET %s HTTP/1.0\r\nUser-Agent: qlb-health\r\nConnection: close\r\n\r\n",
			 o->path);
		if (send(p->fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
			return 1;
		p->state = QLB_PROBE_READING;
		return 0;
	case QLB_PROBE_READING:
		r = recv(p->fd, p->buf + p->got, sizeof(p->buf) - 1 - p->got, 0);
		if (r <= 0)
			return 1;
		p->got += r;
		p->buf[p->got] = 0;
		if (p->got < 12 && !memchr(p->buf, '\n', p->got))
			return 0;
		/* "HTTP/1.x 2xx" or "3xx" */
		*ok = !strncmp(p->buf, "HTTP/1.", 7) && p->got >= 12 &&
		      (p->buf[9] == '2' || p->buf[9] == '3');
		return 1;
	default:
		return 1;
	}
}

static void record(struct qlb_probe *p, const struct qlb_health_opts *o, int ok)
{
	probe_close(p);
	p->state = QLB_PROBE_IDLE;
	if (ok) {
		p->fails = 0;
		if (!p->up && ++p->oks >= o->rise) {
			p->up = 1;
			p->changed = 1;
		}
	} else {
		p->oks = 0;
		if (p->up && ++p->fails >= o->fall) {
			p->up = 0;
			p->changed = 1;
		} else if (!p->up) {
			p->fails++;
		}
	}
}

void qlb_health_run(struct qlb_probe *probes, uint32_t n, const struct qlb_health_opts *o,
		    double deadline)
{
	struct pollfd *pfd = calloc(n ? n : 1, sizeof(*pfd));
	uint32_t *idx = calloc(n ? n : 1, sizeof(*idx));
	double now = mono_now(), probe_deadline;
	uint32_t i, live;
	int ok;

	if (!pfd || !idx || o->kind == QLB_HEALTH_NONE)
		goto out;
	probe_deadline = now + o->timeout_s < deadline ? now + o->timeout_s : deadline;
	for (i = 0; i < n; i++) {
		struct qlb_probe *p = &probes[i];

		p->changed = 0;
		if (!p->active || now < p->next_at)
			continue;
		/* Windows start with some jitter: without the slack a probe due
		 * a hair after a window's start would wait for the next one. */
		p->next_at = now + 0.9 * o->interval_s;
		if (probe_start(p, o, &ok))
			record(p, o, ok);
	}
	for (;;) {
		int timeout_ms, ready;

		live = 0;
		for (i = 0; i < n; i++) {
			if (probes[i].state == QLB_PROBE_IDLE)
				continue;
			pfd[live].fd = probes[i].fd;
			pfd[live].events = probes[i].state == QLB_PROBE_CONNECTING ? POLLOUT : POLLIN;
			pfd[live].revents = 0;
			idx[live++] = i;
		}
		now = mono_now();
		if (!live || now >= probe_deadline)
			break;
		timeout_ms = (int)((probe_deadline - now) * 1000) + 1;
		ready = poll(pfd, live, timeout_ms);
		if (ready < 0 && errno != EINTR)
			break;
		for (i = 0; ready > 0 && i < live; i++)
			if (pfd[i].revents && probe_step(&probes[idx[i]], o, pfd[i].revents, &ok))
				record(&probes[idx[i]], o, ok);
	}
	/* Whatever did not answer in time failed. */
	for (i = 0; i < n; i++)
		if (probes[i].state != QLB_PROBE_IDLE)
			record(&probes[i], o, 0);
out:
	free(pfd);
	free(idx);
}
