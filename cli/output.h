/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * output.h - how the volmount command presents results: plain text or exactly one JSON document
 * on stdout, one-line diagnostics on stderr, the monitor's log lines and metrics. The only
 * place in cli/ that formats anything (one JSON printer for every command). Knows nothing of
 * arguments or exit codes; depends on the library only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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
/* @r may be NULL (nothing to list); its generation is shown. */
int output_host_up(bool json, const struct volmount_report *r);
int output_host_down(bool json);
/* check: every share with its probe result; @n_unhealthy is the count the exit status uses. */
int output_check(bool json, const struct volmount_snapshot *s, size_t n_unhealthy);
/* repair, gc: the entries of @r; @what ("repair", "gc") names the text summary line. */
int output_report(bool json, const struct volmount_report *r, const char *what);

/* What the monitor has done since it started, for its metrics. */
struct output_monitor_counters {
	uint64_t checks, repairs_ok, repairs_failed;
};

/* The monitor's metrics, in Prometheus text exposition format, to @f (errors stay on @f). */
void output_metrics(FILE *f, const struct volmount_snapshot *s,
		    const struct output_monitor_counters *c, double cycle_s);

/* The monitor's log lines: "volmount monitor: <message>" on stderr, escaped like
 * output_error(). When stderr is the journal ($JOURNAL_STREAM), this line and every other one
 * on stderr starts with the "<N>" of sd-daemon(3), so journald keeps the priority. */
enum output_log_prio {
	OUTPUT_LOG_ERR = 3,
	OUTPUT_LOG_WARNING = 4,
	OUTPUT_LOG_NOTICE = 5,
	OUTPUT_LOG_INFO = 6,
};
void output_log(enum output_log_prio prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One audit line in syslog(3) (facility daemon; notice, or err for a failure): "attach
 * driver='..' export='..' volume='..' owner='..': ok", or "host-up host: failed (exit 69): <why>"
 * when @driver is NULL. */
void output_audit(const char *what, const char *driver, const char *export, const char *volume,
		  const char *owner, int status, const char *why);

/* With --json: the failure of this run, printed as {"error": {"kind", "message",
 * "exit_code"}} by output_flush(), inside the command's document if it made one. */
void output_json_error(const char *kind, const char *message, int exit_code);

/* Print the JSON document, if any, and flush stdout. Returns 0 or -errno. */
int output_flush(void);

/*
 * One line on stderr: "volmount: <verb>: <message>" (no "<verb>: " if @verb is NULL). Control
 * characters are escaped as \xNN, so the line is always exactly one line.
 */
void output_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One line on stderr: "volmount: warning: <message>", escaped like output_error(). */
void output_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
