/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <string.h>

/*
 * errno_str() - the text of an errno value, positive or negative ("Permission denied").
 *
 * The one errno-to-text call of the library and the command. POSIX does not make strerror()
 * thread-safe (it may format an unknown number into a buffer every thread shares), and the
 * library runs on its callers' threads; glibc's strerrordesc_np() returns only strings of its
 * static table, and NULL for an unknown number.
 */
static inline const char *errno_str(int e)
{
	const char *s = strerrordesc_np(e < 0 ? -e : e);

	return s ? s : "unknown error";
}
