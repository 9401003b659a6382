/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef ASSERT_NEAR_H
#define ASSERT_NEAR_H

#include <math.h>

/* cmocka 1.1.5 (Debian 12) has no assert_double_equal. */
#define assert_near(a, b, tol)                                                            \
	do {                                                                              \
		double a_ = (a), b_ = (b), t_ = (tol);                                    \
		if (!(fabs(a_ - b_) <= t_))                                               \
			fail_msg("%s = %.17g, want %s = %.17g within %g", #a, a_, #b, b_, \
				 t_);                                                     \
	} while (0)

#define assert_below(a, b)                                                           \
	do {                                                                         \
		double a_ = (a), b_ = (b);                                           \
		if (!(a_ < b_))                                                      \
			fail_msg("%s = %.6g, want below %s = %.6g", #a, a_, #b, b_); \
	} while (0)

#endif
