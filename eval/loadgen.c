// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * qlb-loadgen: seeded open-loop HTTP/1.1 load for qlb's evaluation.
 *
 * Why a generator of our own: the evaluation drives nginx backends through
 * the balancer's VIP with a seeded open-loop schedule and per-request
 * timing, one new TCP connection per request, so that the balancer
 * schedules every request as a new flow. httperf has no seed option and no
 * per-request log; h2load's timing script (--timing-script-file) reuses each
 * client's connection, so the balancer would see only -c flows. So this is
 * a small generator on libcurl's multi interface: libcurl, a well-kept HTTP
 * client, does the HTTP; we own only the schedule (loadgen_sched.c, seeded
 * and unit-tested) and the bookkeeping here.
 *
 * The loop: start every request that is due (or, with --max-inflight
 * requests in flight, count it dropped_client: never delay it), then sleep
 * in epoll_wait until a socket is ready, libcurl's timer expires, or a
 * timerfd armed at the next scheduled start fires (µs precision; a poll
 * timeout alone has ms granularity), and hand libcurl just what happened
 * (curl_multi_socket_action; libcurl's own timer, in ms, bounds the
 * epoll_wait timeout). Not curl_multi_perform + curl_multi_poll:
 * perform walks every transfer on each call (a poll(2) per connecting
 * socket), so a wake costs O(requests in flight) and the starts fall
 * behind the schedule just when backends slow down, which is where the
 * evaluation looks. 3000 req/s into a blackhole (SYNs dropped,
 * --timeout 1: 3000 in flight), quiet 2-core VM: perform + poll started
 * late by 2.3 ms at the median and 12 ms at p99, on 3.5 s of CPU;
 * socket_action by 0.05 ms and 0.15 ms, on 0.9 s. Easy handles come
 * from a pool of --max-inflight slots, made on first use and reused.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "forecast.h"	/* fc_percentile */
#include "loadgen_sched.h"

#define WAIT_MAX_MS	100	/* re-check the stop flag at least this often */
#define EVENTS		256	/* epoll events per wake */
#define FD_SPARE	64	/* open files beyond one socket per request */
#define LOG_BUF		(1 << 20)

struct slot {
	CURL *easy;
	uint64_t idx, sched_ns, start_ns, bytes;
	uint32_t file;
	int busy;
};

struct totals {
	uint64_t sent, ok, failed, timeouts, dropped, bytes;
	uint64_t first_start_ns, last_done_ns, max_lag_ns;
	double *rt_us;		/* response times of the ok requests */
};

struct run {
	const struct lg_opts *o;
	struct lg_sched sched;
	CURLM *multi;
	struct curl_slist *headers;
	char **urls;		/* o->url + o->files[i] */
	struct slot *slots, **idle;
	uint32_t nidle, inflight;
	FILE *log;
	int epfd, tfd;		/* epoll; the schedule's timerfd */
	int cb_err;		/* errno of a failed on_socket */
	uint64_t t0, armed_ns;
	uint64_t curl_due_ns;	/* libcurl's timer (CLOCK_MONOTONIC), or UINT64_MAX */
	struct totals tot;
};

static volatile sig_atomic_t stop_requested;

__attribute__((format(printf, 1, 2)))
static void lg_err(const char *fmt, ...)
{
	va_list ap;

	fputs("qlb-loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Reports a failed system call (errno) once; returns -errno. */
static int sys_err(const char *what)
{
	int err = errno;

	lg_err("%s: %s", what, strerror(err));
	return -err;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	((struct slot *)arg)->bytes += size * n;
	return size * n;
}

/* ------------------------------------------------------------ schedule dump */

static int dump_schedule(const struct lg_opts *o)
{
	struct lg_sched s;
	uint64_t t;
	uint32_t f;
	int err;

	err = lg_sched_init(&s, o->arrivals, o->rate, o->seed, o->nfiles);
	if (err) {
		lg_err("schedule: %s", strerror(-err));
		return err;
	}
	for (uint64_t i = 0; i < o->requests; i++) {
		lg_sched_next(&s, &t, &f);
		printf("%" PRIu64 " %s\n", t / 1000, o->files[f]);
	}
	lg_sched_free(&s);
	if (fflush(stdout) || ferror(stdout)) {
		lg_err("writing the schedule failed");
		return -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------ libcurl's sockets, timer */

/* CURLMOPT_SOCKETFUNCTION: mirrors what libcurl waits for on s into the
 * epoll set. socketp is set (curl_multi_assign) once s is in the set. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *arg, void *socketp)
{
	struct epoll_event ev = { .data.fd = s };
	struct run *r = arg;
	int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		/* Fails harmlessly if libcurl has closed s: epoll forgot it. */
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (epoll_ctl(r->epfd, op, s, &ev) && (errno != EEXIST ||
	    epoll_ctl(r->epfd, EPOLL_CTL_MOD, s, &ev))) {
		r->cb_err = errno;
		return -1;
	}
	return socketp ? 0 : (int)curl_multi_assign(r->multi, s, r);
}

/* CURLMOPT_TIMERFUNCTION: libcurl wants CURL_SOCKET_TIMEOUT handled in
 * timeout_ms (0: at once; -1: never). Kept for the loop's epoll_wait
 * timeout (libcurl's timers are in ms): a timerfd would cost a syscall
 * on every change, several per request. */
static int on_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct run *r = arg;

	(void)multi;
	r->curl_due_ns = timeout_ms < 0 ? UINT64_MAX : now_ns() + (uint64_t)timeout_ms * 1000000;
	return 0;
}

/* Lets libcurl act on socket s (events: CURL_CSELECT_*) or, with
 * CURL_SOCKET_TIMEOUT, on its expired timers. */
static int curl_act(struct run *r, curl_socket_t s, int events)
{
	CURLMcode mc;
	int running;

	mc = curl_multi_socket_action(r->multi, s, events, &running);
	if (!mc)
		return 0;
	if (r->cb_err)
		lg_err("epoll_ctl: %s", strerror(r->cb_err));
	else
		lg_err("curl_multi_socket_action: %s", curl_multi_strerror(mc));
	return -EIO;
}

/* ------------------------------------------------------------ setup */

/* The URLs of the files, each checked by libcurl's parser: -EINVAL if one
 * is refused (a bad argument), -ENOMEM. */
static int make_urls(struct run *r)
{
	const struct lg_opts *o = r->o;
	CURLU *u = curl_url();

	r->urls = calloc(o->nfiles, sizeof(*r->urls));
	if (!u || !r->urls) {
		curl_url_cleanup(u);
		lg_err("out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < o->nfiles; i++) {
		if (asprintf(&r->urls[i], "%s%s", o->url, o->files[i]) < 0) {
			r->urls[i] = NULL;
			curl_url_cleanup(u);
			lg_err("out of memory");
			return -ENOMEM;
		}
		if (curl_url_set(u, CURLUPART_URL, r->urls[i], 0)) {
			curl_url_cleanup(u);
			lg_err("--url: libcurl refuses '%s'", r->urls[i]);
			return -EINVAL;
		}
	}
	curl_url_cleanup(u);
	return 0;
}

/* One socket per request in flight, and a few more. */
static int raise_nofile(uint32_t inflight)
{
	rlim_t need = (rlim_t)inflight + FD_SPARE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return sys_err("getrlimit");
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		lg_err("--max-inflight %u needs %llu open files; the hard limit is %llu", inflight,
		       (unsigned long long)need, (unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return sys_err("setrlimit");
	return 0;
}

static int run_setup(struct run *r)
{
	const struct lg_opts *o = r->o;
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: epoll_wait wakes */
	int err;

	err = raise_nofile(o->max_inflight);
	if (err)
		return err;
	err = lg_sched_init(&r->sched, o->arrivals, o->rate, o->seed, o->nfiles);
	if (err) {
		lg_err("schedule: %s", strerror(-err));
		return err;
	}
	r->slots = calloc(o->max_inflight, sizeof(*r->slots));
	r->idle = calloc(o->max_inflight, sizeof(*r->idle));
	r->tot.rt_us = malloc(o->requests * sizeof(*r->tot.rt_us)); /* touched as used */
	r->multi = curl_multi_init();
	r->headers = curl_slist_append(NULL, "Connection: close");
	if (!r->slots || !r->idle || !r->tot.rt_us || !r->multi || !r->headers) {
		lg_err("out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < o->max_inflight; i++)
		r->idle[i] = &r->slots[o->max_inflight - 1 - i];
	r->nidle = o->max_inflight;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0)
		return sys_err("epoll_create1");
	r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (r->tfd < 0 || epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->tfd,
				    &(struct epoll_event){ .events = EPOLLIN, .data.fd = r->tfd }))
		return sys_err("timerfd");
	if (curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, on_socket) ||
	    curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r) ||
	    curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, on_timer) ||
	    curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r)) {
		lg_err("libcurl refuses socket and timer callbacks");
		return -EINVAL;
	}
	/* Timers may fire this late: 1 ns, not the default 50 µs. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return 0;
}

static int open_log(struct run *r)
{
	r->log = fopen(r->o->log, "w");
	if (!r->log) {
		int err = errno;

		lg_err("cannot create %s: %s", r->o->log, strerror(err));
		return -err;
	}
	setvbuf(r->log, NULL, _IOFBF, LOG_BUF);
	fputs("idx,file,sched_us,start_us,connect_us,ttfb_us,total_us,bytes,http_status,curl_code\n",
	      r->log);
	return 0;
}

static int close_log(struct run *r)
{
	int bad;

	if (!r->log)
		return 0;
	bad = ferror(r->log);
	bad |= fclose(r->log);
	r->log = NULL;
	if (bad) {
		lg_err("writing %s failed", r->o->log);
		return -EIO;
	}
	return 0;
}

static void run_teardown(struct run *r)
{
	for (uint32_t i = 0; r->slots && i < r->o->max_inflight; i++) {
		if (r->slots[i].busy)
			curl_multi_remove_handle(r->multi, r->slots[i].easy);
		curl_easy_cleanup(r->slots[i].easy);
	}
	curl_multi_cleanup(r->multi);
	curl_slist_free_all(r->headers);
	for (uint32_t i = 0; r->urls && i < r->o->nfiles; i++)
		free(r->urls[i]);
	free(r->urls);
	free(r->slots);
	free(r->idle);
	free(r->tot.rt_us);
	/* After libcurl, whose cleanup still calls on_socket. */
	if (r->epfd >= 0)
		close(r->epfd);
	if (r->tfd >= 0)
		close(r->tfd);
	lg_sched_free(&r->sched);
}

/* ------------------------------------------------------------ requests */

static CURL *easy_new(struct run *r, struct slot *s)
{
	CURL *e = curl_easy_init();

	if (!e)
		return NULL;
	if (curl_easy_setopt(e, CURLOPT_PRIVATE, s) ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, s) ||
	    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) ||
	    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) ||
	    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http") ||
	    curl_easy_setopt(e, CURLOPT_NOPROXY, "*") ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ceil(r->o->timeout_s * 1e3)) ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) ||
	    /* a gzip response makes the server pay CPU for each request */
	    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, r->o->compressed ? "gzip" : NULL) ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "qlb-loadgen")) {
		curl_easy_cleanup(e);
		return NULL;
	}
	return e;
}

static int start(struct run *r, uint64_t idx, uint64_t sched_ns, uint32_t file, uint64_t now)
{
	struct slot *s = r->idle[r->nidle - 1];
	CURLMcode mc;

	if (!s->easy)
		s->easy = easy_new(r, s);
	if (!s->easy || curl_easy_setopt(s->easy, CURLOPT_URL, r->urls[file])) {
		lg_err("cannot set up a libcurl handle");
		return -ENOMEM;
	}
	s->idx = idx;
	s->sched_ns = sched_ns;
	s->file = file;
	s->bytes = 0;
	s->start_ns = now;
	mc = curl_multi_add_handle(r->multi, s->easy);
	if (mc) {
		lg_err("curl_multi_add_handle: %s", curl_multi_strerror(mc));
		return -EIO;
	}
	s->busy = 1;
	r->nidle--;
	r->inflight++;
	if (!r->tot.sent++)
		r->tot.first_start_ns = now;
	if (now - sched_ns > r->tot.max_lag_ns)
		r->tot.max_lag_ns = now - sched_ns;
	return 0;
}

static void drop(struct run *r, uint64_t idx, uint64_t sched_ns, uint32_t file)
{
	r->tot.dropped++;
	if (r->log)
		fprintf(r->log, "%" PRIu64 ",%s,%" PRIu64 ",,,,,0,0,\n", idx,
			r->o->files[file], sched_ns / 1000);
}

static void finish(struct run *r, struct slot *s, CURLcode cc, uint64_t now)
{
	curl_off_t connect_us = 0, ttfb_us = 0, clen = -1, wire = -1;
	uint64_t total_ns = now - s->start_ns;
	long status = 0;
	int ok;

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(s->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
	curl_easy_getinfo(s->easy, CURLINFO_STARTTRANSFER_TIME_T, &ttfb_us);
	curl_easy_getinfo(s->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
	/* Content-Length counts the encoded body, s->bytes the decoded one. */
	if (r->o->compressed)
		curl_easy_getinfo(s->easy, CURLINFO_SIZE_DOWNLOAD_T, &wire);
	else
		wire = (curl_off_t)s->bytes;
	curl_multi_remove_handle(r->multi, s->easy);

	ok = cc == CURLE_OK && status >= 200 && status < 300 && (clen < 0 || clen == wire);
	if (ok)
		r->tot.rt_us[r->tot.ok++] = total_ns / 1e3;
	else
		r->tot.failed++;
	r->tot.timeouts += cc == CURLE_OPERATION_TIMEDOUT;
	r->tot.bytes += s->bytes;
	if (now > r->tot.last_done_ns)
		r->tot.last_done_ns = now;
	if (r->log)
		fprintf(r->log,
			"%" PRIu64 ",%s,%" PRIu64 ",%" PRIu64 ",%lld,%lld,%" PRIu64 ",%" PRIu64
			",%ld,%d\n",
			s->idx, r->o->files[s->file], s->sched_ns / 1000, s->start_ns / 1000,
			(long long)connect_us, (long long)ttfb_us, total_ns / 1000, s->bytes,
			status, (int)cc);
	s->busy = 0;
	r->idle[r->nidle++] = s;
	r->inflight--;
}

static void collect(struct run *r)
{
	uint64_t now = now_ns() - r->t0;
	CURLMsg *m;
	CURLcode cc;
	char *s;
	int left;

	while ((m = curl_multi_info_read(r->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		/* m dies with the handle's removal in finish(). */
		cc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &s);
		finish(r, (struct slot *)s, cc, now);
	}
}

/* Ends what is still in flight, as if libcurl had said cc. */
static void abort_all(struct run *r, CURLcode cc)
{
	uint64_t now = now_ns() - r->t0;

	for (uint32_t i = 0; i < r->o->max_inflight; i++)
		if (r->slots[i].busy)
			finish(r, &r->slots[i], cc, now);
}

/* Wakes epoll_wait at the run's offset t_ns. */
static int arm_timer(struct run *r, uint64_t t_ns)
{
	uint64_t at = r->t0 + t_ns;
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(at / 1000000000ull),
			      .tv_nsec = (long)(at % 1000000000ull) },
	};

	if (r->armed_ns == t_ns)
		return 0;
	if (timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL))
		return sys_err("timerfd_settime");
	r->armed_ns = t_ns;
	return 0;
}

/* An epoll_wait timeout in ms, at most cap, that does not wake before due. */
static int ms_until(uint64_t due, uint64_t now, int cap)
{
	if (due <= now)
		return 0;
	if ((due - now) / 1000000 >= (uint64_t)cap)
		return cap;
	return (int)((due - now + 999999) / 1000000);
}

/* Hands libcurl one wake's socket events, then its timer if expired. */
static int dispatch(struct run *r, const struct epoll_event *ev, int n)
{
	uint64_t ticks;
	ssize_t got;
	int err;

	for (int i = 0; i < n; i++) {
		uint32_t e = ev[i].events;

		if (ev[i].data.fd == r->tfd) {
			/* Clear it: it stays readable until read (or re-armed). */
			got = read(r->tfd, &ticks, sizeof(ticks));
			(void)got;
			continue;
		}
		err = curl_act(r, ev[i].data.fd, (e & EPOLLIN ? CURL_CSELECT_IN : 0) |
					       (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
					       (e & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0));
		if (err)
			return err;
	}
	/* Also right after new transfers: adding one sets the timer to 0. */
	return now_ns() >= r->curl_due_ns ? curl_act(r, CURL_SOCKET_TIMEOUT, 0) : 0;
}

/* Sends the schedule. Returns 0, -EINTR (SIGINT/SIGTERM) or -errno. */
static int run_schedule(struct run *r)
{
	const struct lg_opts *o = r->o;
	uint64_t timeout_ns = (uint64_t)(o->timeout_s * 1e9), idx = 0, next_ns;
	uint64_t now, deadline = UINT64_MAX;
	struct epoll_event ev[EVENTS];
	int err, n, wait_ms;
	uint32_t file;

	lg_sched_next(&r->sched, &next_ns, &file);
	r->t0 = now_ns();
	for (;;) {
		now = now_ns() - r->t0;
		while (idx < o->requests && next_ns <= now) {
			if (r->inflight == o->max_inflight)
				drop(r, idx, next_ns, file);
			else if ((err = start(r, idx, next_ns, file, now)))
				return err;
			if (++idx < o->requests)
				lg_sched_next(&r->sched, &next_ns, &file);
			else
				deadline = next_ns + timeout_ns;
		}
		if (stop_requested) {
			abort_all(r, CURLE_ABORTED_BY_CALLBACK);
			return -EINTR;
		}
		if (now >= deadline) {
			abort_all(r, CURLE_OPERATION_TIMEDOUT);
			return 0;
		}
		/* The new transfers connect now, not after a wake. */
		err = dispatch(r, NULL, 0);
		if (err)
			return err;
		wait_ms = WAIT_MAX_MS;
		if (idx < o->requests) {
			err = arm_timer(r, next_ns);
			if (err)
				return err;
		} else {
			wait_ms = ms_until(r->t0 + deadline, now_ns(), wait_ms);
		}
		wait_ms = ms_until(r->curl_due_ns, now_ns(), wait_ms);
		n = epoll_wait(r->epfd, ev, EVENTS, wait_ms);
		if (n < 0 && errno != EINTR)
			return sys_err("epoll_wait");
		err = dispatch(r, ev, n > 0 ? n : 0);
		if (err)
			return err;
		collect(r);
		if (idx == o->requests && !r->inflight)
			return 0;
	}
}

/* ------------------------------------------------------------ summary */

static json_t *real_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static int print_summary(const struct run *r, int interrupted)
{
	static const char *const arrivals[] = { "uniform", "poisson", "const" };
	const struct totals *t = &r->tot;
	const struct lg_opts *o = r->o;
	double dur = t->sent ? (t->last_done_ns - t->first_start_ns) / 1e9 : 0, sum = 0;
	double rps = dur > 0 ? t->ok / dur : 0, bps = dur > 0 ? t->bytes * 8.0 / dur : 0;
	double mean = NAN, p50, p99;
	json_t *j;

	for (uint64_t i = 0; i < t->ok; i++)
		sum += t->rt_us[i];
	if (t->ok)
		mean = sum / t->ok / 1e3;
	p50 = fc_percentile(t->rt_us, t->ok, 50) / 1e3;
	p99 = fc_percentile(t->rt_us, t->ok, 99) / 1e3;
	j = json_object();
	if (!j || json_object_set_new(j, "requests", json_integer((json_int_t)o->requests)) ||
	    json_object_set_new(j, "sent", json_integer((json_int_t)t->sent)) ||
	    json_object_set_new(j, "ok", json_integer((json_int_t)t->ok)) ||
	    json_object_set_new(j, "failed", json_integer((json_int_t)t->failed)) ||
	    json_object_set_new(j, "timeouts", json_integer((json_int_t)t->timeouts)) ||
	    json_object_set_new(j, "dropped_client", json_integer((json_int_t)t->dropped)) ||
	    json_object_set_new(j, "bytes", json_integer((json_int_t)t->bytes)) ||
	    json_object_set_new(j, "duration_s", json_real(dur)) ||
	    json_object_set_new(j, "rps", json_real(rps)) ||
	    json_object_set_new(j, "bits_per_s", json_real(bps)) ||
	    json_object_set_new(j, "mean_ms", real_or_null(mean)) ||
	    json_object_set_new(j, "p50_ms", real_or_null(p50)) ||
	    json_object_set_new(j, "p99_ms", real_or_null(p99)) ||
	    json_object_set_new(j, "max_lag_ms", json_real(t->max_lag_ns / 1e6)) ||
	    /* JSON integers are signed 64-bit: a seed above 2^63 as a string */
	    json_object_set_new(j, "seed", o->seed <= INT64_MAX ?
				json_integer((json_int_t)o->seed) : json_sprintf("%" PRIu64, o->seed)) ||
	    json_object_set_new(j, "rate", json_real(o->rate)) ||
	    json_object_set_new(j, "arrivals", json_string(arrivals[o->arrivals])) ||
	    json_object_set_new(j, "interrupted", json_boolean(interrupted))) {
		json_decref(j);
		lg_err("out of memory");
		return -ENOMEM;
	}
	if (o->json) {
		json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
		putchar('\n');
	} else {
		const char *key;
		json_t *v;

		json_object_foreach(j, key, v) {
			if (json_is_integer(v))
				printf("%s=%" JSON_INTEGER_FORMAT "\n", key, json_integer_value(v));
			else if (json_is_real(v))
				printf("%s=%.6g\n", key, json_real_value(v));
			else if (json_is_string(v))
				printf("%s=%s\n", key, json_string_value(v));
			else if (json_is_boolean(v))
				printf("%s=%d\n", key, json_is_true(v));
			else
				printf("%s=nan\n", key);
		}
	}
	json_decref(j);
	if (fflush(stdout) || ferror(stdout)) {
		lg_err("writing the summary failed");
		return -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	struct lg_opts o;
	struct run r = { .o = &o, .epfd = -1, .tfd = -1, .armed_ns = UINT64_MAX,
			.curl_due_ns = UINT64_MAX };
	char why[256];
	int err, rc = 1;

	err = lg_parse_args(argc, argv, &o, why, sizeof(why));
	if (err) {
		lg_err("%s", why);
		lg_opts_free(&o);
		return 2;
	}
	if (o.help) {
		fputs(lg_usage, stdout);
		lg_opts_free(&o);
		return 0;
	}
	if (o.dump) {
		rc = dump_schedule(&o) ? 1 : 0;
		lg_opts_free(&o);
		return rc;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		lg_err("curl_global_init failed");
		lg_opts_free(&o);
		return 1;
	}
	err = make_urls(&r);
	if (err) {
		rc = err == -EINVAL ? 2 : 1;
		goto out;
	}
	err = run_setup(&r);
	if (err)
		goto out;
	if (o.log && open_log(&r))
		goto out;
	err = run_schedule(&r);
	if (close_log(&r) || (err && err != -EINTR))
		goto out;
	if (print_summary(&r, err == -EINTR))
		goto out;
	rc = err ? 1 : 0;
out:
	if (r.log)
		fclose(r.log);
	run_teardown(&r);
	curl_global_cleanup();
	lg_opts_free(&o);
	return rc;
}
