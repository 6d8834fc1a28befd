/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exit.h - the exit status of the volmount command (sysexits.h, see DESIGN.md) and the one
 * failure line that goes with it. Every failure of a command ends here: exit_fail() for the
 * library's, exit_error() for the command line's own, so the mapping from a failure to its
 * number lives in one file. Uses output.c to print; knows nothing of commands or arguments.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sysexits.h> /* EX_OK, EX_USAGE, ...: the statuses commands return */

#include "volmount.h"

/* Name the command being run ("attach", ...), for every later failure line; NULL: none yet. */
void exit_set_command(const char *verb);

/* With --json, every failure is also a JSON error object on stdout. */
void exit_set_json(bool on);

/* The message of the last failure reported here, or NULL (for the audit line). */
const char *exit_last_message(void);

/* The exit status for a library failure of kind @kind. */
int exit_status(enum volmount_errkind kind);

/* The library's message for its failure @r on @ctx, or the errno text if it left none. */
const char *exit_errmsg(struct volmount_ctx *ctx, int r);

/* "volmount: COMMAND: <library's message>" for the library's failure @r; returns its status. */
int exit_fail(struct volmount_ctx *ctx, int r);

/* An output_*() failed with @r (it can only run out of memory building JSON): says so,
 * returns EX_SOFTWARE. */
int exit_fail_output(int r);

/* "volmount: COMMAND: <message>" for a failure the command line found itself; returns
 * @status (EX_USAGE, EX_CONFIG, ...). */
int exit_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The status of a check that found @n_unhealthy shares not as they should be: 0 or 69. */
int exit_unhealthy(size_t n_unhealthy);
