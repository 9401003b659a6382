// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The data plane's skeleton (bpftool gen skeleton), opened on the pins. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "qlb_abi.h"
#include "qlb.skel.h"
#include "skel.h"

/* Seeds the flow hash so that outsiders cannot aim flows at one backend. */
static uint32_t random_seed(void)
{
	uint32_t seed = 0;

	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint32_t)getpid() * 2654435761u;
	return seed ? seed : 1;
}

/* The seed of the pins under pin_dir if they have one, else a new one. */
static uint32_t pins_seed(const char *pin_dir)
{
	struct qlb_abi_info info = {};
	char path[512];
	__u32 key = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/abi", pin_dir);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpf_map_lookup_elem(fd, &key, &info))
			info.version = 0;
		close(fd);
	}
	return info.version == QLB_ABI_VERSION && info.hash_seed ? info.hash_seed : random_seed();
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
	skel->rodata->hash_seed = pins_seed(pin_dir);
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
	snprintf(path, sizeof(path), "%s/tx_ports", pin_dir);
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
	struct qlb_abi_info info = { .version = QLB_ABI_VERSION,
				     .hash_seed = skel->rodata->hash_seed };
	__u32 key = 0;

	return bpf_map__update_elem(skel->maps.abi, &key, sizeof(key), &info, sizeof(info),
				    BPF_ANY);
}
