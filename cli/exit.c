/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exit.c - from a failure to the exit status and its one line on stderr. The numbers are
 * sysexits.h's, as DESIGN.md's CLI contract lists them; the line is formatted (and escaped)
 * by output_error(). A failure without a kind is a library bug, so it is 70, never 0. With
 * --json the failure is also {"error": {"kind", "message", "exit_code"}} on stdout (in the
 * command's document when it printed one, as host-up, repair and gc do on a partial failure).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* vasprintf() */
#endif

#include "exit.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "cleanup.h"
#include "errno-util.h"

static const char *command;
static bool json;
static char *last_message;

/* Each kind of library failure: its exit status, and its name in the JSON error object. */
static const struct {
	enum volmount_errkind kind;
	int status;
	const char *name;
} kinds[] = {
	{ VOLMOUNT_ERR_INPUT, EX_DATAERR, "input" },
	{ VOLMOUNT_ERR_HOSTDOWN, EX_UNAVAILABLE, "host-down" },
	/* sysexits.h: "a service is unavailable. This can occur if a support program or file
	 * does not exist." An installation problem, not a bug (70); and for the caller what 69
	 * already means: this host cannot serve the share now. */
	{ VOLMOUNT_ERR_UNAVAILABLE, EX_UNAVAILABLE, "unavailable" },
	{ VOLMOUNT_ERR_MOUNTPOINT, EX_CANTCREAT, "mountpoint" },
	{ VOLMOUNT_ERR_IO, EX_IOERR, "io" },
	{ VOLMOUNT_ERR_TEMPFAIL, EX_TEMPFAIL, "tempfail" },
	{ VOLMOUNT_ERR_PERM, EX_NOPERM, "permission" },
	{ VOLMOUNT_ERR_CONFIG, EX_CONFIG, "config" },
	/* a failure without a kind (NONE) is a library bug: internal, 70, never 0 */
	{ VOLMOUNT_ERR_INTERNAL, EX_SOFTWARE, "internal" },
};

void exit_set_command(const char *verb)
{
	command = verb;
}

void exit_set_json(bool on)
{
	json = on;
}

const char *exit_last_message(void)
{
	return last_message;
}

int exit_status(enum volmount_errkind kind)
{
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
		if (kinds[i].kind == kind)
			return kinds[i].status;
	return EX_SOFTWARE;
}

/* The name of a failure with @status; the command line's own are "usage". */
static const char *kind_name(int status)
{
	if (status == EX_USAGE)
		return "usage";
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
		if (kinds[i].status == status)
			return kinds[i].name;
	return "internal";
}

/* The one failure of this run: a line on stderr, and with --json the error object. */
static int fail(const char *kind, int status, const char *msg)
{
	free(last_message);
	last_message = strdup(msg);
	output_error(command, "%s", msg);
	if (json)
		output_json_error(kind, msg, status);
	return status;
}

const char *exit_errmsg(struct volmount_ctx *ctx, int r)
{
	const char *msg = volmount_ctx_errmsg(ctx);

	return msg && msg[0] ? msg : errno_str(r);
}

int exit_fail(struct volmount_ctx *ctx, int r)
{
	enum volmount_errkind kind = volmount_ctx_errkind(ctx);
	int status = exit_status(kind);
	const char *name = kind_name(status);

	for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
		if (kinds[i].kind == kind)
			name = kinds[i].name;
	return fail(name, status, exit_errmsg(ctx, r));
}

int exit_fail_output(int r)
{
	_cleanup_free_ char *msg = NULL;

	if (asprintf(&msg, "cannot format the result: %s", errno_str(r)) < 0)
		msg = NULL;
	return fail("internal", EX_SOFTWARE, msg ? msg : "cannot format the result");
}

int exit_error(int status, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	return fail(kind_name(status), status,
		    msg ? msg : "out of memory while formatting a message");
}

int exit_unhealthy(size_t n_unhealthy)
{
	return n_unhealthy > 0 ? EX_UNAVAILABLE : EX_OK;
}
