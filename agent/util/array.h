/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Arrays that grow as they are appended to. Their callers collect lists
 * whose length is known only at the end (flows the GC will delete, a trace's
 * rows, a window's response times, the doctor's findings); doubling keeps
 * the appends amortised O(1). A helper rather than a generic vector type,
 * because each caller keeps its array in a struct of its own.
 */
#ifndef QLB_ARRAY_H
#define QLB_ARRAY_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

/*
 * v, of *cap elements of elem bytes with n in use, with room for one more:
 * v itself when there is room, else v reallocated to twice *cap (first when
 * *cap is 0) and *cap updated. NULL when out of memory; v is then intact.
 */
static inline void *qlb_array_room(void *v, size_t n, size_t *cap, size_t elem, size_t first)
{
	size_t want;
	void *grown;

	if (n < *cap)
		return v;
	want = *cap ? 2 * *cap : first;
	grown = realloc(v, want * elem);
	if (grown)
		*cap = want;
	return grown;
}

/*
 * Appends value to arr (n in use, cap allocated, first allocated when
 * empty): 0, or -ENOMEM with arr as it was. arr, n and cap are lvalues,
 * evaluated more than once.
 */
#define QLB_ARRAY_PUSH(arr, n, cap, first, value)					\
	({										\
		__typeof__(arr) grown_ = qlb_array_room(arr, n, &(cap), sizeof(*(arr)), first); \
		if (grown_) {								\
			(arr) = grown_;							\
			(arr)[(n)++] = (value);						\
		}									\
		grown_ ? 0 : -ENOMEM;							\
	})

#endif
