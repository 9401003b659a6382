/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Network namespaces (netns.c). */
#ifndef QLB_NETNS_H
#define QLB_NETNS_H

#include <stddef.h>
#include <stdint.h>

struct stat;

/* Joins the network namespace NAME (under /run/netns) or PATH
 * (/proc/PID/ns/net) and nothing else: the mounts stay the host's. */
int qlb_netns_enter(const char *name);
/* 1 if this process is in the host's network namespace (PID 1's). */
int qlb_netns_is_host(void);
/* The name under /run/netns of the namespace file ns, or -ENOENT. */
int qlb_netns_name_of(const struct stat *ns, char *buf, size_t len);
/* This process's namespace: "" for the host's, its name, or "ino-N" for an
 * unnamed one (returns 1 then). */
int qlb_netns_self_name(char *buf, size_t len);
/* Opens the namespace that the current one knows as nsid (a veth peer's
 * IFLA_LINK_NETNSID) and names it: its /run/netns name, "" for the host's,
 * or "pid-N" for a process's. -ENOENT if none is found. */
int qlb_netns_open_nsid(int32_t nsid, int *fd, char *name, size_t len);
/* Moves this thread into the namespace fd; *saved is where it was, for
 * qlb_netns_restore(). */
int qlb_netns_switch(int fd, int *saved);
void qlb_netns_restore(int saved);

#endif /* QLB_NETNS_H */
