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
/*
 * The entry for verb given (NULL when none was) of command noun, among the n
 * entries of a verb table whose entries (stride bytes each) start with their
 * name; else NULL after one line that says what is missing or which verbs
 * there are (want: "add, set, del or list").
 */
const void *qlb_cli_find_verb(const char *noun, const char *given, const void *verbs,
			      size_t n, size_t stride, const char *want);
#define QLB_CLI_FIND_VERB(noun, given, table, want) \
	((const __typeof__((table)[0]) *)qlb_cli_find_verb(noun, given, table, \
		sizeof(table) / sizeof((table)[0]), sizeof((table)[0]), want))
/* The verb of a parsed command line: its first positional argument. */
#define QLB_CLI_VERB(res) ((res)->npos ? (res)->pos[0] : NULL)

/* The arguments and options of a command whose only option is --json. */
struct qlb_cli_json_args {
	int json;
};
extern const struct qlb_opt qlb_cli_json_opts[];

/* Prints the checks of `qlb doctor` as warnings: those of one backend, or
 * (backend_id < 0) of everything. */
void qlb_cli_doctor_warn(struct qlb_state *st, int backend_id);

#endif /* QLB_CLI_ARGS_H */
