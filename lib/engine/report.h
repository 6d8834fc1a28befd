/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine/report.h - see report.c. Engine-internal: included by lib/engine/ only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "kview.h"
#include "volmount.h"

struct volmount_ctx;
struct ledger_share;
struct volmount_report;

/* Reports (host.c): a growing list of (path, action, detail). */
int report_new(struct volmount_report **ret);
/* The end of a host-wide call: on an error (@r < 0) free @rep and return @r; otherwise hand
 * it to the caller through @ret_report (or free it if that is NULL) and return 0. */
int report_finish(struct volmount_report *rep, int r, struct volmount_report **ret_report);
/* The generation the report says the host is at (host-up and host-down set it). */
void report_set_generation(struct volmount_report *rep, uint64_t generation);

/* The start of a host-wide call (host-up/down, repair, gc): @ctx checked, the calling thread's
 * error cleared, the context opened, and with @ret a new report. */
int report_begin(struct volmount_ctx *ctx, struct volmount_report **ret);

/* Move every entry of @src to the end of @dst, in order, and free @src. 0 or -ENOMEM (then
 * @src is freed with what was not moved). Either may be NULL (@dst NULL: @src is freed). */
int report_append(struct volmount_report *dst, struct volmount_report *src);

int report_add(struct volmount_report *rep, const char *path, const char *action,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The first share that failed in a host-wide call: its code and kind decide the call's own. */
struct first_failure {
	int r;
	enum volmount_errkind kind;
};

/* Report the share at @path as "failed" because of @r (< 0), with the calling thread's message
 * or, if a step left none, the errno text (a detail is never empty); note it in @first if it is
 * the first failure; clear the thread's error for the next share. Returns 0 or -ENOMEM. */
int report_failed(struct volmount_ctx *ctx, struct volmount_report *rep, const char *path,
		  int r, struct first_failure *first);

/* The result of a host-wide call that ran to its end: 0, or the first failure's code with its
 * kind (a busy share is 75 whichever command met it) and @summary as the message. */
int first_failure_result(struct volmount_ctx *ctx, const struct first_failure *first,
			 const char *summary);
