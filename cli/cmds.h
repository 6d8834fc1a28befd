/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cmds.h - commands that live outside volmount.c (health: check, repair, gc, monitor).
 * Each returns an exit status; failures of the library go through cli_fail().
 */
#pragma once

#include <stdbool.h>

#include "volmount.h"

/* Report the library's failure @r of the current command; returns the exit status. */
int cli_fail(struct volmount_ctx *ctx, int r);

int cmd_check(struct volmount_ctx *ctx, bool json);
int cmd_repair(struct volmount_ctx *ctx, bool json);
int cmd_gc(struct volmount_ctx *ctx, bool json);

struct monitor_args {
	unsigned interval_ms;
	const char *metrics; /* file to write Prometheus text to, or NULL */
	bool repair;
};

int cmd_monitor(struct volmount_ctx *ctx, const struct monitor_args *a);
