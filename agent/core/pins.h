/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Where the pins are, whether they can be, and whose they are. */
#ifndef QLB_PINS_H
#define QLB_PINS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define QLB_DEFAULT_PIN_DIR "/sys/fs/bpf/qlb"

/* $QLB_PIN_DIR, else the default of this network namespace: QLB_DEFAULT_PIN_DIR
 * in the host's, QLB_DEFAULT_PIN_DIR/netns/NAME in a namespace named NAME
 * under /run/netns (ino-N for an unnamed one), so that balancers in two
 * namespaces of one host never share pins by accident. */
const char *qlb_pin_dir(void);
/* 0 if dir, or the nearest directory above it that exists, is on a bpffs;
 * else -EMEDIUMTYPE with why, and in fix the command to type instead of
 * `qlb cmd` (or what sets a bpffs up). */
int qlb_pin_dir_fs(const char *dir, const char *cmd, char *why, size_t wlen, char *fix,
		   size_t flen);
/* The same, with one sentence in e: what is wrong and what to type. */
int qlb_pin_dir_check(const char *dir, struct qlb_error *e);

/* The ABI version of the pins under dir: 0 with *version 0 when nothing is
 * pinned there, QLB_PINS_ABI_OLD for pins older than the abi map,
 * QLB_PINS_ABI_INCOMPLETE for pins whose creation did not finish. */
#define QLB_PINS_ABI_OLD	0xffffffffu
#define QLB_PINS_ABI_INCOMPLETE	0xfffffffeu
int qlb_pins_abi_version(const char *dir, uint32_t *version);
/* 0 if the pins under dir are of this ABI or absent (*version 0); else
 * -EPROTO with what to do in e. */
int qlb_pins_abi_check(const char *dir, uint32_t *version, struct qlb_error *e);
/* Loads the BPF object once so that libbpf creates and pins its maps, the
 * ABI version last. */
int qlb_pins_create(const char *pin_dir);
/* Detaches the pinned links and removes every pin of the directory, whatever
 * made them (`qlb detach --all --purge`); other namespaces' directories in
 * it stay. */
int qlb_pins_purge(const char *pin_dir);

#endif /* QLB_PINS_H */
