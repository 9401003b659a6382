// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Network namespaces. `qlb -n NS` joins NS with setns(2) alone, unlike
 * `ip netns exec` and `ip -n`, which also remount /sys in a mount namespace
 * of their own: that hides the bpffs under /sys/fs/bpf, where qlb's state is
 * pinned. Joining only the network namespace keeps the host's mounts, so
 * every qlb process sees the same pins.
 *
 * Namespaces are named as iproute2 names them (a bind mount under
 * /run/netns); a veth's peer is found through its netns id (IFLA_LINK_NETNSID),
 * which RTM_GETNSID maps back to a namespace file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>

#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "netns.h"

#define NETNS_RUN_DIR "/run/netns"

static int same_file(const char *a, const struct stat *b)
{
	struct stat s;

	return !stat(a, &s) && s.st_dev == b->st_dev && s.st_ino == b->st_ino;
}

static int netns_path(const char *name, char *buf, size_t len)
{
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	return snprintf(buf, len, NETNS_RUN_DIR "/%s", name) >= (int)len ? -ENAMETOOLONG : 0;
}

int qlb_netns_enter(const char *name)
{
	char path[PATH_MAX];
	int fd, err;

	/* A path (/proc/PID/ns/net) as well as a name, for namespaces
	 * that iproute2 did not name, such as a container's. */
	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else if ((err = netns_path(name, path, sizeof(path))))
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	return err;
}

int qlb_netns_is_host(void)
{
	struct stat self, init;
	char name[NAME_MAX + 1];

	if (stat("/proc/self/ns/net", &self))
		return 1;
	/* A namespace with a name is not the host's; where PID 1's cannot be
	 * read (a sandbox), an unnamed one is taken for the host's. */
	if (!qlb_netns_name_of(&self, name, sizeof(name)))
		return 0;
	if (stat("/proc/1/ns/net", &init))
		return 1;
	return self.st_dev == init.st_dev && self.st_ino == init.st_ino;
}

int qlb_netns_name_of(const struct stat *ns, char *buf, size_t len)
{
	struct dirent *de;
	char path[PATH_MAX];
	DIR *d;
	int err = -ENOENT;

	d = opendir(NETNS_RUN_DIR);
	if (!d)
		return -ENOENT;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", de->d_name);
		if (same_file(path, ns)) {
			snprintf(buf, len, "%s", de->d_name);
			err = 0;
			break;
		}
	}
	closedir(d);
	return err;
}

int qlb_netns_self_name(char *buf, size_t len)
{
	struct stat self;

	buf[0] = 0;
	if (stat("/proc/self/ns/net", &self))
		return -errno;
	if (!qlb_netns_name_of(&self, buf, len))
		return 0;
	buf[0] = 0;
	if (qlb_netns_is_host())
		return 0;
	snprintf(buf, len, "ino-%llu", (unsigned long long)self.st_ino);
	return 1;
}

/* ---- netns ids ---- */

static int nsid_reply(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[NETNSA_MAX + 1];

	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct rtgenmsg), tb, NETNSA_MAX, NULL) < 0)
		return NL_SKIP;
	if (tb[NETNSA_NSID])
		*(int32_t *)arg = (int32_t)nla_get_u32(tb[NETNSA_NSID]);
	return NL_OK;
}

/* The id under which the current namespace knows the namespace of fd
 * (NETNSA_NSID_NOT_ASSIGNED if it has none). libnl has no call for
 * RTM_GETNSID; its message API builds one. */
static int nsid_of_fd(struct nl_sock *sk, int fd, int32_t *nsid)
{
	struct rtgenmsg g = { .rtgen_family = AF_UNSPEC };
	struct nl_msg *msg;
	int err;

	*nsid = NETNSA_NSID_NOT_ASSIGNED;
	msg = nlmsg_alloc_simple(RTM_GETNSID, NLM_F_REQUEST);
	if (!msg)
		return -ENOMEM;
	err = nlmsg_append(msg, &g, sizeof(g), NLMSG_ALIGNTO) < 0 ||
	      nla_put_u32(msg, NETNSA_FD, (uint32_t)fd) < 0 ? -ENOMEM : 0;
	if (!err && nl_send_auto(sk, msg) < 0)
		err = -EIO;
	nlmsg_free(msg);
	if (err)
		return err;
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, nsid_reply, nsid);
	return nl_recvmsgs_default(sk) < 0 ? -EIO : 0;
}

/* Tries the namespace file path: 1 and its fd if the current namespace
 * knows it as nsid. */
static int try_nsid(struct nl_sock *sk, const char *path, int32_t nsid, int *fd_out)
{
	int32_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (!nsid_of_fd(sk, fd, &got) && got == nsid) {
		*fd_out = fd;
		return 1;
	}
	close(fd);
	return 0;
}

int qlb_netns_open_nsid(int32_t nsid, int *fd, char *name, size_t len)
{
	struct nl_sock *sk;
	struct dirent *de;
	char path[PATH_MAX];
	int found = 0;
	DIR *d;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	if (nl_connect(sk, NETLINK_ROUTE) < 0) {
		nl_socket_free(sk);
		return -EIO;
	}
	/* One reply per request, no ACK after it: the replies then come
	 * one per nl_recvmsgs, in the order of the requests. */
	nl_socket_disable_auto_ack(sk);
	/* Named namespaces first, then the host's, then any process's
	 * (a container's namespace has no name). */
	d = opendir(NETNS_RUN_DIR);
	while (d && !found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", de->d_name);
		if ((found = try_nsid(sk, path, nsid, fd)))
			snprintf(name, len, "%s", de->d_name);
	}
	if (d)
		closedir(d);
	if (!found && (found = try_nsid(sk, "/proc/1/ns/net", nsid, fd)))
		name[0] = 0;
	d = found ? NULL : opendir("/proc");
	while (d && !found && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		if ((found = try_nsid(sk, path, nsid, fd)))
			snprintf(name, len, "pid-%s", de->d_name);
	}
	if (d)
		closedir(d);
	nl_socket_free(sk);
	return found ? 0 : -ENOENT;
}

int qlb_netns_switch(int fd, int *saved)
{
	*saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET)) {
		int err = -errno;

		close(*saved);
		*saved = -1;
		return err;
	}
	return 0;
}

void qlb_netns_restore(int saved)
{
	if (saved < 0)
		return;
	/* Back to where this process was: it opened that namespace itself,
	 * so the switch cannot be refused. */
	if (setns(saved, CLONE_NEWNET))
		abort();
	close(saved);
}
