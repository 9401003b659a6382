// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The pin directory: where it is (one per network namespace), whether it is
 * on a bpffs, which ABI its pins are of, making them, and removing them.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netns.h"
#include "pins.h"
#include "qlb_abi.h"
#include "qlb.skel.h"
#include "skel.h"

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

int qlb_pin_dir_check(const char *dir, struct qlb_error *e)
{
	char why[QLB_ERROR_LEN], fix[256];
	int err = qlb_pin_dir_fs(dir, "COMMAND ...", why, sizeof(why), fix, sizeof(fix));

	if (err)
		qlb_error_set(e, err, "%s; run '%s' %s", why, fix,
			      strncmp(fix, "qlb ", 4) ? "first" : "instead");
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

int qlb_pins_abi_check(const char *dir, uint32_t *version, struct qlb_error *e)
{
	static const char fix[] = "run the qlb that made them, or remove them with "
				  "'qlb detach --all --purge' (their flows and counters go too)";
	int err = qlb_pins_abi_version(dir, version);

	if (err)
		return qlb_error_set(e, err, "cannot read the ABI version of the pins under %s: %s",
				     dir, strerror(-err));
	if (*version == 0 || *version == QLB_ABI_VERSION)
		return 0;
	if (*version == QLB_PINS_ABI_OLD)
		return qlb_error_set(e, -EPROTO, "the pins under %s are older than qlb ABI %d "
				     "(no abi pin): %s", dir, QLB_ABI_VERSION, fix);
	if (*version == QLB_PINS_ABI_INCOMPLETE)
		return qlb_error_set(e, -EPROTO, "the pins under %s are incomplete (their creation "
				     "did not finish): remove them with 'qlb detach --all --purge'",
				     dir);
	return qlb_error_set(e, -EPROTO, "the pins under %s are of qlb ABI %u, this qlb speaks "
			     "ABI %d: %s", dir, *version, QLB_ABI_VERSION, fix);
}

int qlb_pins_create(const char *pin_dir)
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

int qlb_pins_purge(const char *pin_dir)
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
