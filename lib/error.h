/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * error.h - the calling thread's last failure: a message and an error kind, read back through
 * volmount_ctx_errmsg() and volmount_ctx_errkind(). One slot per thread, because a context may
 * be shared by threads and each must read the cause of its own failure. Every layer below the
 * public API reports here and returns a negative errno; the first report of a failure wins
 * where a caller checks error_pending() before adding its own.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

#include "volmount.h"

/*
 * Record the calling thread's failure; returns @r (a negative errno) so callers can write
 * "return error_set(-EINVAL, VOLMOUNT_ERR_INPUT, "bad volume '%s'", v);". A message that comes
 * out empty or ends in ':' gets the errno's text: a failure never prints an empty reason.
 */
int error_set(int r, enum volmount_errkind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Clear the calling thread's slot (at the start of every public call). */
void error_clear(void);
/* Does the calling thread's slot hold a failure (so a caller keeps a callee's cause)? */
bool error_pending(void);
