/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The data plane's BPF object, opened with its maps bound to the pins. */
#ifndef QLB_SKEL_H
#define QLB_SKEL_H

struct qlb_bpf;

/* Opens the skeleton with its maps bound to the pins under pin_dir (made at
 * load if absent) and their flow-hash seed (a random one for new pins). */
int qlb_skel_open(const char *pin_dir, struct qlb_bpf **skel);
/* Writes this ABI's version into a loaded skeleton's pinned abi map: the
 * last step of creating pins. */
int qlb_skel_stamp_abi(struct qlb_bpf *skel);

#endif /* QLB_SKEL_H */
