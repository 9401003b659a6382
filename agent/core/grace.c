// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * RCU grace periods for userspace, off the caller's critical path.
 *
 * A ring buffer that a flip retired (state.c) may be rewritten only once no
 * XDP program that could have read the old ring_gen is still running. Every
 * run of a BPF program is an RCU read-side critical section (rcu_read_lock,
 * or softirq/bh-disabled in the driver's NAPI poll, which synchronize_rcu()
 * also waits for), so one grace period that starts after the flip is enough.
 *
 * Userspace gets one from the kernel as a side effect with a documented
 * purpose: every update of a map-in-map slot returns only after
 * synchronize_rcu() (maybe_wait_bpf_programs() in kernel/bpf/syscall.c: "so
 * that userspace, when we return to it, knows that all non-sleepable
 * programs that could be running use the new map value"); the kernel's own
 * selftests use it the same way to wait for an RCU grace period. qlb uses a
 * private one-slot ARRAY_OF_MAPS for it, so nothing that packets read is
 * touched.
 *
 * That wait is tens of milliseconds, mostly sleeping. A helper thread does it, so a
 * publisher asks for one (qlb_gp_request, a ticket) right after its flip and
 * goes on; the next publisher waits for the ticket (qlb_gp_wait), which is
 * long done when windows are 0.1 s or more apart. Tickets are process-wide:
 * a grace period is system-wide, whichever qlb_state asked for it.
 */
#include <errno.h>
#include <pthread.h>

#include <bpf/bpf.h>

#include "grace.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started;		/* the helper thread runs */
	uint64_t requested;	/* tickets handed out: 1, 2, ... */
	uint64_t completed;	/* every ticket <= completed had its grace period */
	int err;		/* a grace period failed: -errno, sticky */
	int (*op)(void);	/* one grace period (tests substitute their own) */
	int outer_fd, inner_fd;
} gp = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
	.outer_fd = -1,
	.inner_fd = -1,
};

/* One grace period: an update of a private map-in-map slot (see above).
 * Runs on the helper thread only. */
static int map_in_map_grace_period(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	__u32 key = 0;

	if (gp.inner_fd < 0) {
		gp.inner_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "qlb_gp_in", sizeof(__u32),
					     sizeof(__u32), 1, NULL);
		if (gp.inner_fd < 0)
			return -errno;
	}
	if (gp.outer_fd < 0) {
		opts.inner_map_fd = gp.inner_fd;
		gp.outer_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "qlb_gp", sizeof(__u32),
					     sizeof(__u32), 1, &opts);
		if (gp.outer_fd < 0)
			return -errno;
	}
	return bpf_map_update_elem(gp.outer_fd, &key, &gp.inner_fd, BPF_ANY) ? -errno : 0;
}

static void *gp_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&gp.mu);
	for (;;) {
		uint64_t upto;
		int (*op)(void);
		int err;

		while (gp.completed == gp.requested || gp.err)
			pthread_cond_wait(&gp.cv, &gp.mu);
		/* One grace period that starts now covers every ticket so far:
		 * each was handed out after its flip had returned. */
		upto = gp.requested;
		op = gp.op ? gp.op : map_in_map_grace_period;
		pthread_mutex_unlock(&gp.mu);
		err = op();
		pthread_mutex_lock(&gp.mu);
		if (err)
			gp.err = err;
		else
			gp.completed = upto;
		pthread_cond_broadcast(&gp.cv);
	}
	return NULL;
}

int qlb_gp_request(uint64_t *ticket)
{
	pthread_t t;
	int err = 0;

	pthread_mutex_lock(&gp.mu);
	if (!gp.started) {
		/* Detached: it lives as long as the process, idle between
		 * requests; a process may exit while it waits in the kernel. */
		err = -pthread_create(&t, NULL, gp_main, NULL);
		if (!err)
			pthread_detach(t);
		gp.started = !err;
	}
	if (!err)
		err = gp.err;
	if (!err) {
		*ticket = ++gp.requested;
		pthread_cond_broadcast(&gp.cv);
	}
	pthread_mutex_unlock(&gp.mu);
	return err;
}

int qlb_gp_wait(uint64_t ticket)
{
	int err;

	pthread_mutex_lock(&gp.mu);
	while (gp.completed < ticket && !gp.err)
		pthread_cond_wait(&gp.cv, &gp.mu);
	err = gp.completed >= ticket ? 0 : gp.err;
	pthread_mutex_unlock(&gp.mu);
	return err;
}

int qlb_gp_done(uint64_t ticket)
{
	int done;

	pthread_mutex_lock(&gp.mu);
	done = gp.completed >= ticket;
	pthread_mutex_unlock(&gp.mu);
	return done;
}

int qlb_gp_sync(void)
{
	uint64_t ticket;
	int err = qlb_gp_request(&ticket);

	return err ? err : qlb_gp_wait(ticket);
}

void qlb_gp_set_op(int (*op)(void))
{
	pthread_mutex_lock(&gp.mu);
	gp.op = op;
	pthread_mutex_unlock(&gp.mu);
}
