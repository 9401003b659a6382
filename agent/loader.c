// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Loading and attaching the XDP program.
 *
 * qlb attaches through libxdp, so that it shares an interface with other XDP
 * programs through libxdp's dispatcher. Where the dispatcher cannot load (it
 * needs freplace programs, which some kernels or sandboxes refuse), libxdp
 * falls back to a legacy netlink attachment that nothing owns. qlb then
 * replaces it with a bpf_link pinned under the pin directory: the link keeps
 * the program attached with no process running, cannot be overwritten by
 * another tool's netlink attach, and is what `qlb detach` removes.
 */
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <xdp/libxdp.h>

#include "qlb.h"
#include "qlb.skel.h"

#define PROG_PIN "qlb_xdp"

static void pin_path(char *buf, size_t len, const char *pin_dir, const char *name)
{
	snprintf(buf, len, "%s/%s", pin_dir, name);
}

static void link_pin_path(char *buf, size_t len, const char *pin_dir,
			  const char *ifname)
{
	snprintf(buf, len, "%s/link_%s", pin_dir, ifname);
}

/* The pin directory and its parents (a namespace's lives in
 * /sys/fs/bpf/qlb/netns/NAME). */
static int mkdir_p(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(path, 0700) && errno != EEXIST ? -errno : 0;
}

int qlb_skel_open(const char *pin_dir, struct qlb_bpf **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct qlb_bpf *skel;
	char path[512];
	int fd, err, ncpus;

	err = mkdir_p(pin_dir);
	if (err)
		return err;
	skel = qlb_bpf__open_opts(&opts);
	if (!skel)
		return -errno;
	skel->rodata->hash_seed = qlb_random_seed();
	/* backend_stats holds QLB_MAX_BACKENDS entries per possible CPU. */
	ncpus = libbpf_num_possible_cpus();
	err = ncpus > 0 ? bpf_map__set_max_entries(skel->maps.backend_stats,
						   ncpus * QLB_MAX_BACKENDS) : ncpus;
	if (err) {
		qlb_bpf__destroy(skel);
		return err;
	}

	/* The kernel adds BPF_F_RDONLY_PROG to every devmap it creates, and
	 * libbpf 1.1 then refuses to reuse the pinned one ("parameter
	 * mismatch"). Hand libbpf the pinned devmap ourselves. */
	pin_path(path, sizeof(path), pin_dir, "tx_ports");
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		err = bpf_map__set_pin_path(skel->maps.tx_ports, NULL);
		if (!err)
			err = bpf_map__reuse_fd(skel->maps.tx_ports, fd);
		close(fd);
		if (err) {
			qlb_bpf__destroy(skel);
			return err;
		}
	}
	*out = skel;
	return 0;
}

int qlb_skel_stamp_abi(struct qlb_bpf *skel)
{
	struct qlb_abi_info info = { .version = QLB_ABI_VERSION };
	__u32 key = 0;

	return bpf_map__update_elem(skel->maps.abi, &key, sizeof(key), &info, sizeof(info),
				    BPF_ANY);
}

int qlb_loader_create_pins(const char *pin_dir)
{
	struct qlb_bpf *skel;
	int err;

	err = qlb_skel_open(pin_dir, &skel);
	if (err)
		return err;
	/* Loading pins every map (LIBBPF_PIN_BY_NAME); the program itself is
	 * dropped with the skeleton until `qlb attach` needs it. The ABI
	 * version goes in last: pins without it are incomplete. */
	err = qlb_bpf__load(skel);
	if (!err)
		err = qlb_skel_stamp_abi(skel);
	qlb_bpf__destroy(skel);
	return err;
}

static enum xdp_attach_mode parse_mode(const char *mode)
{
	if (!mode || !strcmp(mode, "auto"))
		return XDP_MODE_UNSPEC;
	if (!strcmp(mode, "native"))
		return XDP_MODE_NATIVE;
	if (!strcmp(mode, "generic"))
		return XDP_MODE_SKB;
	return (enum xdp_attach_mode)-1;
}

static const char *mode_name(enum xdp_attach_mode m)
{
	switch (m) {
	case XDP_MODE_NATIVE: return "native";
	case XDP_MODE_SKB: return "generic";
	case XDP_MODE_HW: return "hw";
	default: return "unspec";
	}
}

/* Returns the program to attach: the pinned one if qlb already runs on
 * another interface (one program, one set of maps), else a fresh load. */
static int get_program(struct qlb_state *st, struct xdp_program **prog,
		       struct qlb_bpf **skel)
{
	char path[512];
	int fd, err;

	*skel = NULL;
	pin_path(path, sizeof(path), st->pin_dir, PROG_PIN);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		*prog = xdp_program__from_fd(fd);
		err = libxdp_get_error(*prog);
		if (err)
			close(fd);
		return err;
	}
	err = qlb_skel_open(st->pin_dir, skel);
	if (err)
		return err;
	*prog = xdp_program__from_bpf_obj((*skel)->obj, "xdp");
	err = libxdp_get_error(*prog);
	if (err) {
		qlb_bpf__destroy(*skel);
		*skel = NULL;
	}
	return err;
}

/* Swaps a legacy netlink attachment for a pinned bpf_link (see top). */
static int pin_as_link(struct qlb_state *st, struct xdp_program *prog,
		       const char *ifname, int ifindex, enum xdp_attach_mode mode)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts,
		    .flags = mode == XDP_MODE_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
	char path[512];
	int link_fd, err;

	err = xdp_program__detach(prog, ifindex, mode, 0);
	if (err)
		return err;
	link_fd = bpf_link_create(xdp_program__fd(prog), ifindex, BPF_XDP, &opts);
	if (link_fd < 0)
		return -errno;
	link_pin_path(path, sizeof(path), st->pin_dir, ifname);
	err = bpf_obj_pin(link_fd, path) ? -errno : 0;
	if (err)
		bpf_link_detach(link_fd);
	close(link_fd);
	return err;
}

/* A record of ifaces still describes this namespace: the index names the
 * same interface, and a program runs there. */
static int recorded_attachment_live(const struct qlb_iface *info)
{
	char name[IF_NAMESIZE];
	__u32 prog_id = 0;

	return if_indextoname(info->ifindex, name) && !strncmp(name, info->name, sizeof(name)) &&
	       !bpf_xdp_query_id((int)info->ifindex, 0, &prog_id) && prog_id;
}

int qlb_attach(struct qlb_state *st, const char *ifname, uint32_t role,
	       const char *mode_str, int *attached)
{
	enum xdp_attach_mode mode = parse_mode(mode_str), tried;
	struct qlb_iface info = {}, existing;
	struct xdp_multiprog *mp = NULL;
	struct xdp_program *prog = NULL;
	struct qlb_bpf *skel = NULL;
	char path[512];
	int ifindex, err, legacy, native_err = 0;
	__u32 key;

	*attached = 0;
	if ((int)mode < 0) {
		qlb_err("bad --mode '%s': want native, generic or auto", mode_str);
		return -EINVAL;
	}
	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		qlb_err("no interface named '%s'", ifname);
		return -ENODEV;
	}
	key = ifindex;
	if (!bpf_map_lookup_elem(st->maps.ifaces, &key, &existing) &&
	    !recorded_attachment_live(&existing)) {
		/* The record outlived its interface (a namespace deleted, an
		 * index reused): forget it and attach afresh. */
		link_pin_path(path, sizeof(path), st->pin_dir, existing.name);
		unlink(path);
		bpf_map_delete_elem(st->maps.ifaces, &key);
	} else if (!bpf_map_lookup_elem(st->maps.ifaces, &key, &existing)) {
		/* Attached already: nothing to do, unless asked for another
		 * mode, which takes a detach (the flows stay). */
		if (mode != XDP_MODE_UNSPEC && mode != (enum xdp_attach_mode)existing.xdp_mode) {
			qlb_err("qlb is attached to %s in %s mode: 'qlb detach %s' first to change it",
				ifname, mode_name(existing.xdp_mode), ifname);
			return -EEXIST;
		}
		if ((existing.role & role) == role)
			return 0;
		/* Same interface for clients and backends: one attachment. */
		existing.role |= role;
		return bpf_map_update_elem(st->maps.ifaces, &key, &existing, BPF_EXIST) ? -errno : 0;
	}

	err = get_program(st, &prog, &skel);
	if (err) {
		qlb_err("cannot load the XDP program: %s", strerror(-err));
		return err;
	}
	tried = mode == XDP_MODE_UNSPEC ? XDP_MODE_NATIVE : mode;
	qlb_libs_quiet(1);	/* the dispatcher probe fails noisily where it can't work */
	err = xdp_program__attach(prog, ifindex, tried, 0);
	/* Generic mode is the fallback for drivers without native XDP, not a
	 * way around a program that already owns the interface. */
	if (err && mode == XDP_MODE_UNSPEC && err != -EBUSY && err != -EEXIST) {
		native_err = err;	/* for `qlb doctor`: why not native */
		tried = XDP_MODE_SKB;
		err = xdp_program__attach(prog, ifindex, tried, 0);
	} else if (mode == XDP_MODE_SKB) {
		native_err = QLB_IF_NATIVE_NOT_TRIED;
	}
	qlb_libs_quiet(0);
	if (err) {
		qlb_err("cannot attach to %s in %s mode: %s%s (-v shows why)", ifname, mode_name(tried),
			strerror(-err),
			err == -EBUSY || err == -EEXIST ?
			" (another XDP program owns it; libxdp's dispatcher is unavailable)" : "");
		goto out;
	}
	pin_path(path, sizeof(path), st->pin_dir, PROG_PIN);
	if (skel && bpf_obj_pin(xdp_program__fd(prog), path)) {
		err = -errno;
		qlb_err("cannot pin the program at %s: %s", path, strerror(errno));
		xdp_program__detach(prog, ifindex, tried, 0);
		goto out;
	}

	mp = xdp_multiprog__get_from_ifindex(ifindex);
	legacy = !libxdp_get_error(mp) && mp && xdp_multiprog__is_legacy(mp);
	if (legacy) {
		err = pin_as_link(st, prog, ifname, ifindex, tried);
		if (err) {
			qlb_err("cannot attach a bpf_link to %s: %s", ifname, strerror(-err));
			goto out;
		}
	}

	info.ifindex = ifindex;
	info.role = role;
	info.xdp_mode = tried;
	info.native_err = native_err;
	snprintf(info.name, sizeof(info.name), "%s", ifname);
	if (bpf_map_update_elem(st->maps.tx_ports, &key, &key, BPF_ANY) ||
	    bpf_map_update_elem(st->maps.ifaces, &key, &info, BPF_ANY)) {
		err = -errno;
		qlb_err("cannot record %s in tx_ports: %s", ifname, strerror(errno));
		qlb_detach(st, ifname);
		goto out;
	}
	*attached = 1;
	if (qlb_verbose)
		fprintf(stderr, "attached to %s (ifindex %d) in %s mode%s\n", ifname,
			ifindex, mode_name(tried), legacy ? " via a pinned bpf_link" :
			" via libxdp's dispatcher");
out:
	if (mp && !libxdp_get_error(mp))
		xdp_multiprog__close(mp);
	xdp_program__close(prog);
	if (skel)
		qlb_bpf__destroy(skel);
	return err;
}

/* Detaches whatever qlb put on the interface: its pinned link (which is
 * qlb's wherever the interface now is), or its program inside libxdp's
 * dispatcher, found by ifindex: only where that index still names the
 * interface, since in another namespace it may be anything. */
static int detach_program(struct qlb_state *st, const char *ifname, int ifindex,
			  enum xdp_attach_mode mode)
{
	struct xdp_program *prog;
	char path[512];
	int fd, err;

	link_pin_path(path, sizeof(path), st->pin_dir, ifname);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		err = bpf_link_detach(fd) ? -errno : 0;
		close(fd);
		if (!err || err == -ENOLINK)
			unlink(path);
		return err == -ENOLINK ? 0 : err;
	}
	if ((int)if_nametoindex(ifname) != ifindex)
		return 0;	/* gone, or not here: nothing of ours to detach */
	pin_path(path, sizeof(path), st->pin_dir, PROG_PIN);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	prog = xdp_program__from_fd(fd);
	err = libxdp_get_error(prog);
	if (err) {
		close(fd);
		return err;
	}
	err = xdp_program__detach(prog, ifindex, mode, 0);
	xdp_program__close(prog);
	return err;
}

int qlb_detach(struct qlb_state *st, const char *ifname)
{
	struct qlb_iface info, *found = NULL;
	__u32 key, next, *prev = NULL;
	char path[512];
	int err, in_use = 0, i;

	while (!bpf_map_get_next_key(st->maps.ifaces, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(st->maps.ifaces, &key, &info) &&
		    !strncmp(info.name, ifname, sizeof(info.name))) {
			found = &info;
			break;
		}
	}
	if (!found) {
		qlb_err("qlb is not attached to '%s'", ifname);
		return -ENOENT;
	}
	err = detach_program(st, ifname, info.ifindex, info.xdp_mode);
	if (err) {
		qlb_err("cannot detach from %s: %s", ifname, strerror(-err));
		return err;
	}
	bpf_map_delete_elem(st->maps.ifaces, &key);
	/* Backends reached through this interface still need it as a
	 * redirect target, even with no program on it. */
	qlb_state_read(st);
	for (i = 0; i < QLB_MAX_BACKENDS; i++)
		if ((st->backends[i].flags & QLB_BE_F_IN_USE) &&
		    st->backends[i].ifindex == key)
			in_use = 1;
	if (!in_use)
		bpf_map_delete_elem(st->maps.tx_ports, &key);

	prev = NULL;
	if (bpf_map_get_next_key(st->maps.ifaces, prev, &next)) {
		/* Last interface gone: drop the program, keep the maps. */
		pin_path(path, sizeof(path), st->pin_dir, PROG_PIN);
		unlink(path);
	}
	return 0;
}

int qlb_purge_pins(const char *pin_dir)
{
	struct dirent *de;
	char path[PATH_MAX];
	DIR *d;
	int err = 0, fd;

	d = opendir(pin_dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		/* Other namespaces' pins live in subdirectories: not ours. */
		if (de->d_name[0] == '.' || de->d_type == DT_DIR)
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, de->d_name);
		/* A pinned link detaches with its last reference; detach it
		 * anyway, in case something else holds one. */
		if (!strncmp(de->d_name, "link_", 5) && (fd = bpf_obj_get(path)) >= 0) {
			bpf_link_detach(fd);
			close(fd);
		}
		if (unlink(path) && !err)
			err = -errno;
	}
	closedir(d);
	/* The directory goes when nothing else is in it, and a namespace's
	 * (QLB_DEFAULT_PIN_DIR/netns/NAME) takes netns/ and the default
	 * directory along once they are empty. */
	if (rmdir(pin_dir) && errno != ENOTEMPTY && errno != EEXIST && !err)
		err = -errno;
	if (!err && !strncmp(pin_dir, QLB_DEFAULT_PIN_DIR "/netns/",
			     strlen(QLB_DEFAULT_PIN_DIR "/netns/")) &&
	    !rmdir(QLB_DEFAULT_PIN_DIR "/netns"))
		rmdir(QLB_DEFAULT_PIN_DIR);
	return err;
}
