/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdlib.h>

/*
 * ARRAY_GROW(v, cap, n, first) - room for element @n of the array @v of capacity @cap:
 * nothing if n < cap, else the capacity doubled (@first for an empty array) with
 * reallocarray(). Evaluates to 0, or -ENOMEM with @v and @cap untouched. @v and @cap are
 * lvalues (a typed pointer and a size_t), each evaluated more than once: pass plain names or
 * members, nothing with side effects.
 */
#define ARRAY_GROW(v, cap, n, first)                                                    \
	({                                                                              \
		int _grow_r = 0;                                                        \
		if ((n) >= (cap)) {                                                     \
			size_t _grow_cap = (cap) ? (cap) * 2 : (size_t)(first);          \
			__typeof__(v) _grow_v = reallocarray((v), _grow_cap, sizeof(*(v))); \
			if (_grow_v) {                                                  \
				(v) = _grow_v;                                          \
				(cap) = _grow_cap;                                      \
			} else {                                                        \
				_grow_r = -ENOMEM;                                      \
			}                                                               \
		}                                                                       \
		_grow_r;                                                                \
	})
