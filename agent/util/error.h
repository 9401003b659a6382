/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The error convention below the command line: a function returns 0 or
 * -errno and never prints; where the errno alone would not say what went
 * wrong, it also fills a struct qlb_error, which whoever handles the error
 * prints, once (qlb_fail in log.h).
 */
#ifndef QLB_ERROR_H
#define QLB_ERROR_H

#define QLB_ERROR_LEN 320

struct qlb_error {
	char msg[QLB_ERROR_LEN];
};

/* Sets e's message (e may be NULL); always returns err, for
 * `return qlb_error_set(e, -ENOENT, "no ...")`. */
int qlb_error_set(struct qlb_error *e, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* QLB_ERROR_H */
