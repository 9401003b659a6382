/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Where the tests and benchmarks find the request-rate traces the repository
 * carries (data/traces/, see its README): relative to the repository root,
 * where make runs them; $QLB_TRACES_DIR overrides. */
#ifndef QLB_TESTS_TRACES_H
#define QLB_TESTS_TRACES_H

#include <stdlib.h>

static inline const char *qlb_traces_dir(void)
{
	const char *d = getenv("QLB_TRACES_DIR");

	return d && *d ? d : "data/traces";
}

#endif /* QLB_TESTS_TRACES_H */
