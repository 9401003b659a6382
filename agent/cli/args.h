/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What several commands parse and print alike (args.c). */
#ifndef QLB_CLI_ARGS_H
#define QLB_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "opts.h"
#include "qlb_abi.h"

struct qlb_state;

/* --proto's choices. */
extern const struct qlb_opt_choice qlb_cli_protos[];

/* ADDR:PORT into a VIP key; one line and -EINVAL on bad input. */
int qlb_cli_vip_key(const char *s, int proto, struct qlb_vip_key *k);
/* "1.2.3.4:80" or "[::1]:80". */
const char *qlb_cli_vip_str(const struct qlb_vip_key *k, char *buf, size_t len);
/* Exactly n positional arguments after the verb, else one line naming what
 * is missing or extra, and -EINVAL. */
int qlb_cli_need_args(char *const *pos, unsigned int npos, unsigned int n, const char *what);
/* Prints the checks of `qlb doctor` as warnings: those of one backend, or
 * (backend_id < 0) of everything. */
void qlb_cli_doctor_warn(struct qlb_state *st, int backend_id);

#endif /* QLB_CLI_ARGS_H */
