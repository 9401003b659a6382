/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Strict parsers for input: the whole string, no sign on the integers,
 * finite doubles. They return 0, -EINVAL (not a number of that kind) or
 * -ERANGE (outside [min, max]); callers word the error. */
#ifndef QLB_PARSE_H
#define QLB_PARSE_H

#include <stdint.h>

int qlb_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
int qlb_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int qlb_parse_double(const char *s, double min, double max, double *out);
/* "tcp" or "udp" to IPPROTO_*. */
int qlb_parse_proto(const char *s, uint8_t *proto);
const char *qlb_proto_name(uint8_t proto);

#endif /* QLB_PARSE_H */
