// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The pinned state is the only state: every qlb process (CLI or agent) reads
 * VIPs and backends from the pinned maps, so nothing is lost when a process
 * dies and a new one picks up where it left off.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <dirent.h>
#include <linux/magic.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "qlb.h"


const char *qlb_pin_dir(void)
{
	static char dir[256];
	const char *d = getenv("QLB_PIN_DIR");
	char ns[128];

	if (d && *d)
		return d;
	if (!dir[0]) {
		if (qlb_netns_self_name(ns, sizeof(ns)) < 0 || !ns[0])
			snprintf(dir, sizeof(dir), "%s", QLB_DEFAULT_PIN_DIR);
		else
			snprintf(dir, sizeof(dir), "%s/netns/%s", QLB_DEFAULT_PIN_DIR, ns);
	}
	return dir;
}

int qlb_pin_dir_fs(const char *dir, const char *cmd, char *why, size_t wlen, char *fix,
		   size_t flen)
{
	char path[PATH_MAX], ns[128], *slash;
	struct statfs fs;

	snprintf(path, sizeof(path), "%s", dir);
	while (statfs(path, &fs) && errno == ENOENT && (slash = strrchr(path, '/')) && slash != path)
		*slash = 0;
	if (!statfs(path, &fs) && fs.f_type == BPF_FS_MAGIC)
		return 0;
	/* In a named namespace, /sys without its bpffs is `ip netns exec`'s
	 * doing (or `ip -n`'s, which does the same). */
	if (!qlb_netns_is_host() && qlb_netns_self_name(ns, sizeof(ns)) == 0) {
		snprintf(why, wlen, "%s is not on a bpffs: `ip netns exec` remounts /sys, which "
			 "hides it", dir);
		snprintf(fix, flen, "qlb -n %s %s", ns, cmd);
	} else if (!strncmp(dir, "/sys/fs/bpf/", 12)) {
		snprintf(why, wlen, "%s is not on a bpffs", dir);
		snprintf(fix, flen, "mount -t bpf bpf /sys/fs/bpf");
	} else {
		snprintf(why, wlen, "%s is not on a bpffs", dir);
		snprintf(fix, flen, "QLB_PIN_DIR=/sys/fs/bpf/NAME qlb %s", cmd);
	}
	return -EMEDIUMTYPE;
}

int qlb_pin_dir_check(const char *dir)
{
	char why[PATH_MAX + 128], fix[256];
	int err = qlb_pin_dir_fs(dir, "COMMAND ...", why, sizeof(why), fix, sizeof(fix));

	if (err)
		qlb_err("%s; run '%s' %s", why, fix, strncmp(fix, "qlb ", 4) ? "first" : "instead");
	return err;
}

/* Any pin (a file, not a directory) under dir. */
static int has_pins(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int found = 0;

	while (d && !found && (de = readdir(d)))
		found = de->d_name[0] != '.' && de->d_type != DT_DIR;
	if (d)
		closedir(d);
	return found;
}

int qlb_pins_abi_version(const char *dir, uint32_t *version)
{
	struct qlb_abi_info info = {};
	char path[PATH_MAX];
	__u32 key = 0;
	int fd, err = 0;

	*version = 0;
	snprintf(path, sizeof(path), "%s/abi", dir);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		if (has_pins(dir))
			*version = QLB_PINS_ABI_OLD;
		return 0;
	}
	if (bpf_map_lookup_elem(fd, &key, &info))
		err = -errno;
	close(fd);
	*version = info.version ? info.version : QLB_PINS_ABI_INCOMPLETE;
	return err;
}

int qlb_pins_abi_check(const char *dir, uint32_t *version)
{
	static const char fix[] = "run the qlb that made them, or remove them with "
				  "'qlb detach --all --purge' (their flows and counters go too)";
	int err = qlb_pins_abi_version(dir, version);

	if (err) {
		qlb_err("cannot read the ABI version of the pins under %s: %s", dir, strerror(-err));
		return err;
	}
	if (*version == 0 || *version == QLB_ABI_VERSION)
		return 0;
	if (*version == QLB_PINS_ABI_OLD)
		qlb_err("the pins under %s are older than qlb ABI %d (no abi pin): %s", dir,
			QLB_ABI_VERSION, fix);
	else if (*version == QLB_PINS_ABI_INCOMPLETE)
		qlb_err("the pins under %s are incomplete (their creation did not finish): "
			"remove them with 'qlb detach --all --purge'", dir);
	else
		qlb_err("the pins under %s are of qlb ABI %u, this qlb speaks ABI %d: %s", dir,
			*version, QLB_ABI_VERSION, fix);
	return -EPROTO;
}

static void vip_rings_close(struct qlb_vip_rings *r);

static const struct {
	const char *name;
	size_t offset;
} map_pins[] = {
#define PIN(n) { #n, offsetof(struct qlb_maps, n) }
	PIN(vips), PIN(backends), PIN(maglev_rings), PIN(flows_v4),
	PIN(flows_v6), PIN(tx_ports), PIN(ifaces), PIN(backend_stats),
	PIN(backend_est), PIN(vip_stats), PIN(reason_stats), PIN(vip_backends),
	PIN(backend_active), PIN(backend_gc), PIN(backend_refused), PIN(abi),
#undef PIN
};

/* The mapped arrays; an array map lays values round_up(size, 8) apart, as
 * C lays these structs out in an array. */
static const struct {
	size_t offset;		/* of the pointer in struct qlb_state */
	size_t fd_offset;	/* of the map's fd in struct qlb_maps */
	size_t size;		/* QLB_MAX_BACKENDS entries */
	int per_cpu;		/* that many per possible CPU */
} mapped[] = {
#define MAPPED(p, m, t, c) { offsetof(struct qlb_state, p), offsetof(struct qlb_maps, m), \
			     QLB_MAX_BACKENDS * sizeof(t), c }
	MAPPED(active, backend_active, __s64, 0),
	MAPPED(gc, backend_gc, struct qlb_backend_gc, 0),
	MAPPED(be_map, backends, struct qlb_backend, 0),
	MAPPED(est_map, backend_est, struct qlb_backend_est, 0),
	MAPPED(stats_map, backend_stats, struct qlb_backend_stats, 1),
#undef MAPPED
};
_Static_assert(sizeof(struct qlb_backend) % 8 == 0, "backends stride");
_Static_assert(sizeof(struct qlb_backend_est) % 8 == 0, "backend_est stride");
_Static_assert(sizeof(struct qlb_backend_stats) % 8 == 0, "backend_stats stride");

static size_t mapped_size(const struct qlb_state *st, size_t i)
{
	return mapped[i].size * (mapped[i].per_cpu ? (size_t)st->ncpus : 1);
}

static void *map_mmap(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int open_pins(struct qlb_state *st)
{
	char path[512];
	size_t i;

	for (i = 0; i < sizeof(map_pins) / sizeof(map_pins[0]); i++) {
		int *fd = (int *)((char *)&st->maps + map_pins[i].offset);

		snprintf(path, sizeof(path), "%s/%s", st->pin_dir, map_pins[i].name);
		*fd = bpf_obj_get(path);
		if (*fd < 0)
			return -errno;
	}
	for (i = 0; i < sizeof(mapped) / sizeof(mapped[0]); i++) {
		void **p = (void **)((char *)st + mapped[i].offset);
		int fd = *(int *)((char *)&st->maps + mapped[i].fd_offset);

		*p = map_mmap(fd, mapped_size(st, i));
		if (!*p)
			return -errno;
	}
	return 0;
}

static void close_pins(struct qlb_state *st)
{
	size_t i;

	for (i = 0; i < sizeof(mapped) / sizeof(mapped[0]); i++) {
		void **p = (void **)((char *)st + mapped[i].offset);

		if (*p)
			munmap(*p, mapped_size(st, i));
		*p = NULL;
	}
	for (i = 0; i < sizeof(map_pins) / sizeof(map_pins[0]); i++) {
		int *fd = (int *)((char *)&st->maps + map_pins[i].offset);

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
}

int qlb_state_open(struct qlb_state **out, int create, int writable)
{
	struct qlb_state *st;
	uint32_t version;
	int err;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	memset(&st->maps, 0xff, sizeof(st->maps));
	for (uint32_t k = 0; k < QLB_RING_SIZE; k++)
		st->ring_keys[k] = k;
	for (int i = 0; i < QLB_MAX_VIPS; i++)
		st->rings[i].buf[0].fd = st->rings[i].buf[1].fd = -1;
	st->lock_fd = -1;
	st->mu_max_age_ns = QLB_MU_MAX_AGE_NS;
	snprintf(st->pin_dir, sizeof(st->pin_dir), "%s", qlb_pin_dir());
	st->ncpus = libbpf_num_possible_cpus();
	if (st->ncpus <= 0) {
		err = st->ncpus ? st->ncpus : -EINVAL;
		goto fail;
	}

	err = qlb_pin_dir_check(st->pin_dir);
	if (err)
		goto fail;
	if (writable) {
		err = qlb_state_lock(st);
		if (err)
			goto fail;
	}
	err = qlb_pins_abi_check(st->pin_dir, &version);
	if (err)
		goto fail;
	if (!version && create) {
		err = qlb_loader_create_pins(st->pin_dir);
		if (err) {
			qlb_err("cannot create the pinned maps under %s: %s", st->pin_dir,
				strerror(-err));
			goto fail;
		}
	} else if (!version) {
		qlb_err("no qlb state under %s: run 'qlb attach' or 'qlb vip add' first",
			st->pin_dir);
		err = -ENOENT;
		goto fail;
	}
	err = open_pins(st);
	if (err) {
		qlb_err("cannot open the pinned maps under %s: %s%s", st->pin_dir, strerror(-err),
			err == -ENOENT ? " (some are missing: 'qlb detach --all --purge' "
					 "removes the rest)" : "");
		goto fail;
	}
	*out = st;
	return 0;
fail:
	qlb_state_close(st);
	return err;
}

/* One writer at a time: a command reads the snapshot, decides, and writes;
 * two of them interleaving could publish a stale ring. */
/* One lock per pin directory: /run/qlb.lock for the default one, else
 * /run/qlb-<pin dir with '/' as '_'>.lock, so that deployments with their
 * own pins (a test next to a live balancer) never wait for each other. */
static void lock_path(char *buf, size_t len)
{
	const char *dir = qlb_pin_dir();
	size_t i, n;

	if (!strcmp(dir, QLB_DEFAULT_PIN_DIR)) {
		snprintf(buf, len, "/run/qlb.lock");
		return;
	}
	n = (size_t)snprintf(buf, len, "/run/qlb-%s.lock", dir);
	for (i = strlen("/run/qlb-"); i < n && i < len; i++)
		if (buf[i] == '/')
			buf[i] = '_';
}

int qlb_state_lock(struct qlb_state *st)
{
	char path[PATH_MAX];

	lock_path(path, sizeof(path));
	if (st->lock_fd < 0)
		st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0 || flock(st->lock_fd, LOCK_EX)) {
		int err = -errno;

		qlb_err("cannot lock %s: %s", path, strerror(errno));
		return err;
	}
	return 0;
}

void qlb_state_unlock(struct qlb_state *st)
{
	if (st->lock_fd >= 0)
		flock(st->lock_fd, LOCK_UN);
}

void qlb_state_close(struct qlb_state *st)
{
	if (!st)
		return;
	for (int i = 0; i < QLB_MAX_VIPS; i++)
		vip_rings_close(&st->rings[i]);
	close_pins(st);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st);
}

int qlb_state_read(struct qlb_state *st)
{
	struct qlb_vip_key key, next, *prev = NULL;

	st->nvips = 0;
	while (st->nvips < QLB_MAX_VIPS &&
	       !bpf_map_get_next_key(st->maps.vips, prev, &next)) {
		struct qlb_vip_entry *e = &st->vips[st->nvips];

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(st->maps.vips, &key, &e->val))
			continue;	/* deleted while we walked */
		e->key = key;
		st->nvips++;
	}

	/* From the mapping: a copy of memory, where a batch lookup cost a
	 * syscall's worth of checks per backend (~1 ms for 4,096). */
	memcpy(st->backends, st->be_map, sizeof(st->backends));
	return 0;
}

struct qlb_vip_entry *qlb_find_vip(struct qlb_state *st, const struct qlb_vip_key *k)
{
	int i;

	for (i = 0; i < st->nvips; i++)
		if (!memcmp(&st->vips[i].key, k, sizeof(*k)))
			return &st->vips[i];
	return NULL;
}

int qlb_find_backend(struct qlb_state *st, uint32_t vip_id,
		     const struct qlb_endpoint *ep)
{
	int i;

	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		const struct qlb_backend *b = &st->backends[i];

		if ((b->flags & QLB_BE_F_IN_USE) && b->vip_id == vip_id &&
		    b->family == ep->family && ntohs(b->port) == ep->port &&
		    !memcmp(&b->addr, &ep->addr, sizeof(b->addr)))
			return i;
	}
	return -ENOENT;
}

int qlb_alloc_vip_id(struct qlb_state *st, uint32_t *id)
{
	uint8_t used[QLB_MAX_VIPS] = {};
	uint32_t i;

	for (i = 0; i < (uint32_t)st->nvips; i++)
		used[st->vips[i].val.vip_id] = 1;
	for (i = 0; i < QLB_MAX_VIPS; i++) {
		if (!used[i]) {
			*id = i;
			return 0;
		}
	}
	return -ENOSPC;
}

/* A deleted backend's id is reused last: flow-table entries that still name
 * it must not land on a newcomer. So allocate the free id that follows the
 * highest id in use, wrapping around. */
int qlb_alloc_backend_id(struct qlb_state *st, uint32_t *id)
{
	uint32_t i, start = 0;

	for (i = 0; i < QLB_MAX_BACKENDS; i++)
		if (st->backends[i].flags & QLB_BE_F_IN_USE)
			start = i + 1;
	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		uint32_t c = (start + i) % QLB_MAX_BACKENDS;

		if (!(st->backends[c].flags & QLB_BE_F_IN_USE)) {
			*id = c;
			return 0;
		}
	}
	return -ENOSPC;
}

/*
 * Publishing a ring: two rings per VIP, flipped.
 *
 * Each VIP has two rings, in maglev_rings slots QLB_RING_KEY(vip_id, 0) and
 * (vip_id, 1); the program reads the one its VIP's ring_gen picks. A publish
 * writes the other one through a mapping this process keeps, then flips
 * ring_gen with one update of the VIP, which the hash table makes by
 * replacing the element whole under RCU: a new flow finds either the old
 * generation and the old, untouched ring, or the new generation and the
 * whole new ring. Nothing waits on the way, where swapping in a fresh inner
 * map made every publish wait out the RCU grace period that the kernel
 * adds to every map-in-map update (8-30 ms, more under load).
 *
 * The ring a flip retired is the next publish's target, and a program that
 * read the old ring_gen just before the flip may still be reading it. It is
 * rewritten only after an RCU grace period that began after that flip
 * (grace.c): this process asks for one right after its flip, and its next
 * publish waits for it, which is long done when publishes are windows
 * apart. When the last flip was not this process's (the CLI's, or the
 * agent's before a restart), nothing tells when it happened, and the
 * publish waits out a fresh grace period before writing: the old cost, on
 * a path that is not the agent's window.
 *
 * An outer slot changes only when a ring is created (a VIP's ring 0 with
 * the VIP, its ring 1 at its first flip) and when the VIP is deleted, and a
 * slot is (re)filled only while the VIP does not name its ring in ring_id[]
 * (so the program cannot be reading it); the kernel waits out a grace
 * period on each of those updates. ring_id[] tells every process which
 * rings a VIP has without a lookup in maglev_rings, which older kernels
 * make wait out a grace period too.
 */
#define RING_STRIDE 8	/* an array map lays values round_up(size, 8) apart */

static size_t ring_map_len(void)
{
	size_t page = sysconf(_SC_PAGESIZE);

	return ((size_t)QLB_RING_SIZE * RING_STRIDE + page - 1) / page * page;
}

static void ring_buf_close(struct qlb_ring_buf *b)
{
	if (b->mem)
		munmap(b->mem, ring_map_len());
	if (b->id)
		close(b->fd);
	*b = (struct qlb_ring_buf){ .fd = -1 };
}

static void vip_rings_close(struct qlb_vip_rings *r)
{
	ring_buf_close(&r->buf[0]);
	ring_buf_close(&r->buf[1]);
	memset(r, 0, sizeof(*r));
	r->buf[0].fd = r->buf[1].fd = -1;
}

/* Takes fd (a ring map) into b, mapped; closes fd on failure. */
static int ring_buf_take(struct qlb_ring_buf *b, int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	void *mem;
	int err;

	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		goto fail;
	}
	if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != sizeof(__u32) ||
	    info.max_entries != QLB_RING_SIZE || !(info.map_flags & BPF_F_MMAPABLE)) {
		err = -EINVAL;	/* not a ring: a map id reused after wrapping */
		goto fail;
	}
	mem = mmap(NULL, ring_map_len(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	*b = (struct qlb_ring_buf){ .id = info.id, .fd = fd, .mem = mem };
	return 0;
fail:
	close(fd);
	return err;
}

/* Ring `which` of a VIP, as ring_id[] names it: mapped from before, or
 * opened by id. */
static int ring_open(struct qlb_state *st, uint32_t vip_id, int which, uint32_t id)
{
	struct qlb_ring_buf *b = &st->rings[vip_id].buf[which];
	int fd;

	if (b->id == id)
		return 0;
	ring_buf_close(b);
	fd = bpf_map_get_fd_by_id(id);
	return fd < 0 ? -errno : ring_buf_take(b, fd);
}

/* A fresh ring in slot `which` of a VIP. The update returns once no program
 * can see what the slot held before. */
static int ring_create(struct qlb_state *st, uint32_t vip_id, int which)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	struct qlb_ring_buf *b = &st->rings[vip_id].buf[which];
	__u32 key = QLB_RING_KEY(vip_id, which);
	int fd, err;

	ring_buf_close(b);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "qlb_ring", sizeof(__u32), sizeof(__u32),
			    QLB_RING_SIZE, &opts);
	if (fd < 0)
		return -errno;
	err = ring_buf_take(b, fd);
	if (!err && bpf_map_update_elem(st->maps.maglev_rings, &key, &b->fd, BPF_ANY))
		err = -errno;
	if (err)
		ring_buf_close(b);
	return err;
}

/*
 * Opens the ring a publish writes (*which) and, for the churn, the active
 * one (*active, NULL if none), and returns once the target may be written.
 * v is the VIP as the kernel has it (NULL: being added).
 */
static int ring_target(struct qlb_state *st, uint32_t vip_id, const struct qlb_vip *v,
		       int *which, struct qlb_ring_buf **active)
{
	struct qlb_vip_rings *r = &st->rings[vip_id];
	int b, a, err;

	*active = NULL;
	if (!v) {
		/* A new VIP: a fresh ring 0, in place of whatever a command
		 * that died left; the update's grace period also outlasts
		 * every reader of an earlier VIP with this id. */
		vip_rings_close(r);
		*which = 0;
		return ring_create(st, vip_id, 0);
	}
	a = v->ring_gen & 1;
	b = !a;
	*which = b;
	if (v->ring_id[a]) {
		err = ring_open(st, vip_id, a, v->ring_id[a]);
		if (err)
			return err;
		*active = &r->buf[a];
	}
	/* Never active in this VIP's life: nobody can be reading it. */
	if (!v->ring_id[b])
		return ring_create(st, vip_id, b);
	err = ring_open(st, vip_id, b, v->ring_id[b]);
	if (err)
		return err;
	/* Retired by this process's own last flip: its grace period was
	 * asked for then. */
	if (r->flip_ticket && r->flip_gen == v->ring_gen &&
	    r->flip_ids[0] == v->ring_id[0] && r->flip_ids[1] == v->ring_id[1])
		return qlb_gp_wait(r->flip_ticket);
	return qlb_gp_sync();
}

/* Writes ring[] into b and counts each backend's slots; *moved (may be
 * NULL) gets the slots whose owner differs from old's. One pass. */
static void ring_write(const uint32_t *ring, struct qlb_ring_buf *b,
		       const struct qlb_ring_buf *old, uint32_t *slots, uint32_t *moved)
{
	const uint8_t *was = old && moved ? old->mem : NULL;
	uint32_t i, n = 0, id, prev;

	for (i = 0; i < QLB_RING_SIZE; i++) {
		id = ring[i];
		memcpy(b->mem + (size_t)i * RING_STRIDE, &id, sizeof(id));
		if (id < QLB_MAX_BACKENDS)
			slots[id]++;
		if (was) {
			memcpy(&prev, was + (size_t)i * RING_STRIDE, sizeof(prev));
			n += prev != id;
		}
	}
	if (was)
		*moved = n;
}

/* The first ring a process writes is read back through the syscall: the
 * program must see what the mapping shows. */
static int ring_check_layout(struct qlb_state *st, const struct qlb_ring_buf *b,
			     const uint32_t *ring)
{
	__u32 probe[2] = { 1, QLB_RING_SIZE - 1 }, v;
	int i;

	if (st->ring_layout_ok)
		return 0;
	for (i = 0; i < 2; i++) {
		if (bpf_map_lookup_elem(b->fd, &probe[i], &v))
			return -errno;
		if (v != ring[probe[i]]) {
			qlb_err("ring maps are not laid out %d bytes apart on this kernel",
				RING_STRIDE);
			return -EOPNOTSUPP;
		}
	}
	st->ring_layout_ok = 1;
	return 0;
}

void qlb_rings_delete(struct qlb_state *st, uint32_t vip_id)
{
	__u32 key;
	int i;

	if (vip_id >= QLB_MAX_VIPS)
		return;
	vip_rings_close(&st->rings[vip_id]);
	for (i = 0; i < 2; i++) {
		key = QLB_RING_KEY(vip_id, i);
		bpf_map_delete_elem(st->maps.maglev_rings, &key);
	}
}

int qlb_publish_ring(struct qlb_state *st, uint32_t vip_id, double *churn_pct)
{
	struct qlb_maglev_backend *mb;
	uint32_t *ring, slots[QLB_MAX_BACKENDS] = {}, moved = QLB_RING_SIZE;
	struct qlb_vip_rings *r = &st->rings[vip_id];
	struct qlb_ring_buf *active;
	struct qlb_vip_entry *v = NULL;
	struct qlb_vip cur, next;
	int i, n = 0, which, err;

	if (vip_id >= QLB_MAX_VIPS)
		return -EINVAL;
	ring = malloc(QLB_RING_SIZE * sizeof(*ring));
	mb = malloc(QLB_MAX_BACKENDS * sizeof(*mb));
	if (!ring || !mb) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		const struct qlb_backend *b = &st->backends[i];

		if (!(b->flags & QLB_BE_F_IN_USE) || b->vip_id != vip_id)
			continue;
		mb[n].offset_seed = qlb_backend_identity(&b->addr, b->family, b->port);
		mb[n].weight = (b->flags & (QLB_BE_F_DRAIN | QLB_BE_F_DOWN)) ? 0 : b->ring_weight;
		mb[n].id = i;
		n++;
	}
	err = qlb_maglev_build(mb, n, ring);
	if (err)
		goto out;

	for (i = 0; i < st->nvips; i++)
		if (st->vips[i].val.vip_id == vip_id)
			v = &st->vips[i];
	/* Which ring is inactive comes from the snapshot: a stale one would
	 * name the active ring. Writers hold the lock, so this never fires
	 * unless one of them does not. */
	if (v && (bpf_map_lookup_elem(st->maps.vips, &v->key, &cur) ||
		  memcmp(&cur, &v->val, sizeof(cur)))) {
		err = -ESTALE;
		goto out;
	}
	err = ring_target(st, vip_id, v ? &v->val : NULL, &which, &active);
	if (err)
		goto out;
	ring_write(ring, &r->buf[which], active, slots, churn_pct ? &moved : NULL);
	err = ring_check_layout(st, &r->buf[which], ring);
	if (err)
		goto out;
	if (churn_pct)
		*churn_pct = 100.0 * moved / QLB_RING_SIZE;	/* no old ring: all new */

	if (v) {
		/* The flip. */
		next = v->val;
		next.ring_gen++;
		next.ring_id[which] = r->buf[which].id;
		if (bpf_map_update_elem(st->maps.vips, &v->key, &next, BPF_EXIST)) {
			err = -errno;
			goto out;
		}
		v->val = next;
		r->flip_gen = next.ring_gen;
		r->flip_ids[0] = next.ring_id[0];
		r->flip_ids[1] = next.ring_id[1];
		/* Without a ticket the next publish waits out its own. */
		if (qlb_gp_request(&r->flip_ticket))
			r->flip_ticket = 0;
	}

	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		struct qlb_backend *b = &st->backends[i];

		if (!(b->flags & QLB_BE_F_IN_USE) || b->vip_id != vip_id ||
		    b->ring_slots == slots[i])
			continue;
		b->ring_slots = slots[i];
		qlb_backend_store_u32(st, i, &b->ring_slots);
	}
	/* The per-flow picks follow the same eligibility as the ring. */
	err = qlb_publish_pick(st, vip_id);
out:
	free(ring);
	free(mb);
	return err;
}

void qlb_backend_store_u32(struct qlb_state *st, uint32_t id, const __u32 *field)
{
	size_t off = (const char *)field - (const char *)&st->backends[id];

	__atomic_store_n((__u32 *)((char *)&st->be_map[id] + off), *field, __ATOMIC_RELAXED);
}

void qlb_backend_stats_zero(struct qlb_state *st, uint32_t id)
{
	for (int cpu = 0; id < QLB_MAX_BACKENDS && cpu < st->ncpus; cpu++)
		memset(&st->stats_map[QLB_BE_STATS_KEY(cpu, id)], 0, sizeof(*st->stats_map));
}

void qlb_backend_est_write(struct qlb_state *st, uint32_t id, const struct qlb_backend_est *e)
{
	if (id < QLB_MAX_BACKENDS)
		memcpy(&st->est_map[id], e, sizeof(*e));
}

/* Zeroes a per-CPU stats slot so a reused id starts from nothing. */
int qlb_zero_percpu(struct qlb_state *st, int map_fd, uint32_t key, size_t value_size)
{
	void *zeros = calloc(st->ncpus, (value_size + 7) / 8 * 8);
	int err = 0;

	if (!zeros)
		return -ENOMEM;
	if (bpf_map_update_elem(map_fd, &key, zeros, BPF_ANY))
		err = -errno;
	free(zeros);
	return err;
}

/* Seeds the flow hash so that outsiders cannot aim flows at one backend. */
uint32_t qlb_random_seed(void)
{
	uint32_t seed = 0;

	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint32_t)getpid() * 2654435761u;
	return seed;
}
