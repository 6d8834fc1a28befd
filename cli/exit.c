/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exit.c - from a failure to the exit status and its one line on stderr. The numbers are
 * sysexits.h's, as DESIGN.md's CLI contract lists them; the line is formatted (and escaped)
 * by output_error(). A failure without a kind is a library bug, so it is 70, never 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* vasprintf() */
#endif

#include "exit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "cleanup.h"

static const char *command;

void exit_set_command(const char *verb)
{
	command = verb;
}

int exit_status(enum volmount_errkind kind)
{
	switch (kind) {
	case VOLMOUNT_ERR_INPUT:
		return EX_DATAERR;
	case VOLMOUNT_ERR_HOSTDOWN:
		return EX_UNAVAILABLE;
	case VOLMOUNT_ERR_UNAVAILABLE:
		/* sysexits.h: "a service is unavailable. This can occur if a support program or
		 * file does not exist." An installation problem, not a bug (70); and for the
		 * caller what 69 already means: this host cannot serve the share now. */
		return EX_UNAVAILABLE;
	case VOLMOUNT_ERR_MOUNTPOINT:
		return EX_CANTCREAT;
	case VOLMOUNT_ERR_IO:
		return EX_IOERR;
	case VOLMOUNT_ERR_TEMPFAIL:
		return EX_TEMPFAIL;
	case VOLMOUNT_ERR_PERM:
		return EX_NOPERM;
	case VOLMOUNT_ERR_CONFIG:
		return EX_CONFIG;
	case VOLMOUNT_ERR_NONE: /* a failure without a kind is a library bug */
	case VOLMOUNT_ERR_INTERNAL:
	case _VOLMOUNT_ERR_MAX:
		break;
	}
	return EX_SOFTWARE;
}

const char *exit_errmsg(struct volmount_ctx *ctx, int r)
{
	const char *msg = volmount_ctx_errmsg(ctx);

	return msg && msg[0] ? msg : strerror(-r);
}

int exit_fail(struct volmount_ctx *ctx, int r)
{
	output_error(command, "%s", exit_errmsg(ctx, r));
	return exit_status(volmount_ctx_errkind(ctx));
}

int exit_fail_output(int r)
{
	output_error(command, "cannot format the result: %s", strerror(-r));
	return EX_SOFTWARE;
}

int exit_error(int status, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	output_error(command, "%s", msg ? msg : "out of memory while formatting a message");
	return status;
}

int exit_unhealthy(size_t n_unhealthy)
{
	return n_unhealthy > 0 ? EX_UNAVAILABLE : EX_OK;
}
