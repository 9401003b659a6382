/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The agent's CSV history: one row per window and backend (history.c). */
#ifndef QLB_HISTORY_H
#define QLB_HISTORY_H

#include <stdint.h>
#include <stdio.h>

#include "policy.h"
#include "state.h"

/* Opens path for appending, with the header line if it is new. */
int qlb_history_open(const char *path, FILE **f);
void qlb_history_row(FILE *f, double now, const struct qlb_vip_entry *v,
		     const struct qlb_backend *b, const struct qlb_obs *ob,
		     const struct qlb_est *e, uint32_t weight, double churn);

#endif /* QLB_HISTORY_H */
