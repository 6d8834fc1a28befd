/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * output.h - how the volmount command presents results: plain text or exactly one JSON document
 * on stdout, and one-line diagnostics on stderr. Knows nothing of arguments or exit codes.
 */
#pragma once

#include <stdbool.h>

#include "volmount.h"

/* The identity of one attachment, as the user gave it on the command line. */
struct output_attachment {
	const char *driver;
	const char *export;
	const char *volume;
	const char *owner;
};

/*
 * Each output_*() writes the result of one command to stdout, as JSON if @json. Returns 0, or
 * -ENOMEM if the JSON document could not be built (nothing was written then). Write errors are
 * reported by output_flush().
 */
int output_attach(bool json, const struct output_attachment *a, const char *device_path,
		  const char *mountpoint);
int output_detach(bool json, const struct output_attachment *a, bool detached);
int output_path(bool json, const char *mountpoint);
int output_list(bool json, const struct volmount_snapshot *s);
int output_status(bool json, const struct volmount_snapshot *s);
/* @s is a snapshot taken after host-up, for the generation; NULL if it could not be read. */
int output_host_up(bool json, const struct volmount_report *r);
int output_host_down(bool json);

/* Flush stdout. Returns 0 or -errno. */
int output_flush(void);

/*
 * One line on stderr: "volmount: <verb>: <message>" (no "<verb>: " if @verb is NULL). Control
 * characters are escaped as \xNN, so the line is always exactly one line.
 */
void output_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One line on stderr: "volmount: warning: <message>", escaped like output_error(). */
void output_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
