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

#include "attach.h"
#include "log.h"	/* qlb_libs_quiet */
#include "qlb.skel.h"
#include "skel.h"

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
	       const char *mode_str, int *attached, struct qlb_error *e)
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
	if ((int)mode < 0)
		return qlb_error_set(e, -EINVAL, "bad --mode '%s': want native, generic or auto",
				     mode_str);
	ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return qlb_error_set(e, -ENODEV, "no interface named '%s'", ifname);
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
		if (mode != XDP_MODE_UNSPEC && mode != (enum xdp_attach_mode)existing.xdp_mode)
			return qlb_error_set(e, -EEXIST, "qlb is attached to %s in %s mode: 'qlb "
					     "detach %s' first to change it", ifname,
					     mode_name(existing.xdp_mode), ifname);
		if ((existing.role & role) == role)
			return 0;
		/* Same interface for clients and backends: one attachment. */
		existing.role |= role;
		return bpf_map_update_elem(st->maps.ifaces, &key, &existing, BPF_EXIST) ? -errno : 0;
	}

	err = get_program(st, &prog, &skel);
	if (err)
		return qlb_error_set(e, err, "cannot load the XDP program: %s", strerror(-err));
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
		qlb_error_set(e, err, "cannot attach to %s in %s mode: %s%s (-v shows why)", ifname,
			      mode_name(tried), strerror(-err), err == -EBUSY || err == -EEXIST ?
			      " (another XDP program owns it; libxdp's dispatcher is unavailable)" :
			      "");
		goto out;
	}
	pin_path(path, sizeof(path), st->pin_dir, PROG_PIN);
	if (skel && bpf_obj_pin(xdp_program__fd(prog), path)) {
		err = qlb_error_set(e, -errno, "cannot pin the program at %s: %s", path,
				    strerror(errno));
		xdp_program__detach(prog, ifindex, tried, 0);
		goto out;
	}

	mp = xdp_multiprog__get_from_ifindex(ifindex);
	legacy = !libxdp_get_error(mp) && mp && xdp_multiprog__is_legacy(mp);
	if (legacy) {
		err = pin_as_link(st, prog, ifname, ifindex, tried);
		if (err) {
			qlb_error_set(e, err, "cannot attach a bpf_link to %s: %s", ifname,
				      strerror(-err));
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
		err = qlb_error_set(e, -errno, "cannot record %s in tx_ports: %s", ifname,
				    strerror(errno));
		qlb_detach(st, ifname, NULL);
		goto out;
	}
	*attached = 1;
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

int qlb_detach(struct qlb_state *st, const char *ifname, struct qlb_error *e)
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
	if (!found)
		return qlb_error_set(e, -ENOENT, "qlb is not attached to '%s'", ifname);
	err = detach_program(st, ifname, info.ifindex, info.xdp_mode);
	if (err)
		return qlb_error_set(e, err, "cannot detach from %s: %s", ifname, strerror(-err));
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

/* Swaps the program under every pinned link, old_fd's for new_fd; on a
 * failure, the links swapped so far go back. 0 or -errno. */
static int swap_links(struct qlb_state *st, int old_fd, int new_fd, unsigned int *swapped,
		      struct qlb_error *e)
{
	char names[QLB_MAX_IFACES][IF_NAMESIZE], path[512];
	struct qlb_iface info;
	__u32 key, next, *prev = NULL;
	unsigned int n = 0, i;
	int err = 0;

	while (n < QLB_MAX_IFACES && !bpf_map_get_next_key(st->maps.ifaces, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(st->maps.ifaces, &key, &info))
			continue;
		snprintf(names[n++], IF_NAMESIZE, "%s", info.name);
	}
	*swapped = 0;
	for (i = 0; i < n && !err; i++) {
		LIBBPF_OPTS(bpf_link_update_opts, opts, .flags = BPF_F_REPLACE,
			    .old_prog_fd = old_fd);
		int fd;

		link_pin_path(path, sizeof(path), st->pin_dir, names[i]);
		fd = bpf_obj_get(path);
		if (fd < 0) {
			err = qlb_error_set(e, -EOPNOTSUPP, "%s carries qlb through libxdp's "
					    "dispatcher, not a pinned link: detach it and attach "
					    "again instead", names[i]);
			break;
		}
		/* Atomic: a packet runs the old program or the new one. */
		if (bpf_link_update(fd, new_fd, &opts))
			err = qlb_error_set(e, -errno, "cannot swap the program on %s: %s",
					    names[i], strerror(errno));
		else
			(*swapped)++;
		close(fd);
	}
	if (!err)
		return 0;
	for (i = 0; i < *swapped; i++) {
		LIBBPF_OPTS(bpf_link_update_opts, back, .flags = BPF_F_REPLACE,
			    .old_prog_fd = new_fd);
		int fd;

		link_pin_path(path, sizeof(path), st->pin_dir, names[i]);
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			bpf_link_update(fd, old_fd, &back);
			close(fd);
		}
	}
	*swapped = 0;
	return err;
}

int qlb_replace_program(struct qlb_state *st, unsigned int *swapped, struct qlb_error *e)
{
	char path[512];
	struct qlb_bpf *skel = NULL;
	int old_fd, new_fd, err;

	*swapped = 0;
	pin_path(path, sizeof(path), st->pin_dir, PROG_PIN);
	old_fd = bpf_obj_get(path);
	if (old_fd < 0)
		return qlb_error_set(e, -ENOENT, "qlb is attached nowhere: nothing to replace "
				     "('qlb attach IFACE' loads the program)");
	/* The new build on the same pinned maps: libbpf refuses any whose
	 * type, sizes or flags differ from what this build declares. */
	err = qlb_skel_open(st->pin_dir, &skel);
	if (!err)
		err = qlb_bpf__load(skel);
	if (err) {
		qlb_error_set(e, err, "this build cannot run on the pinned maps under %s: %s "
			      "(-v shows which map differs)", st->pin_dir, strerror(-err));
		goto out;
	}
	new_fd = bpf_program__fd(skel->progs.qlb_xdp);
	err = swap_links(st, old_fd, new_fd, swapped, e);
	if (err)
		goto out;
	/* The program pin names the running program. bpffs renames no pin
	 * over another, so: unlinked, then pinned again, under the state
	 * lock that every attach takes. */
	unlink(path);
	if (bpf_obj_pin(new_fd, path))
		err = qlb_error_set(e, -errno, "the program runs, but cannot be pinned at %s: %s",
				    path, strerror(errno));
out:
	close(old_fd);
	qlb_bpf__destroy(skel);
	return err;
}
