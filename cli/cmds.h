/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cmds.h - the commands of volmount, one function each, called by main.c once the command
 * line is parsed and the context configured. Each calls the library, hands the result to
 * output.c and returns the exit status, which exit.c decides. A command never parses
 * arguments and never calls another command.
 *
 *   cmd-share.c   attach, detach, path, list, status, host-up, host-down
 *   cmd-health.c  check, repair, gc, monitor
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "volmount.h"

/* The command options, as parsed (NULL / 0 when not given). */
struct cmd_args {
	const char *type;
	const char *export;
	const char *volume;
	const char *owner;
	const char *const *options;
	size_t n_options;
	bool json;
};

int cmd_attach(struct volmount_ctx *ctx, const struct cmd_args *a);
int cmd_detach(struct volmount_ctx *ctx, const struct cmd_args *a);
int cmd_path(struct volmount_ctx *ctx, const struct cmd_args *a);
int cmd_list(struct volmount_ctx *ctx, const struct cmd_args *a);
int cmd_status(struct volmount_ctx *ctx, const struct cmd_args *a);
int cmd_host_up(struct volmount_ctx *ctx, const struct cmd_args *a);
int cmd_host_down(struct volmount_ctx *ctx, const struct cmd_args *a);

int cmd_check(struct volmount_ctx *ctx, const struct cmd_args *a);
int cmd_repair(struct volmount_ctx *ctx, const struct cmd_args *a);
int cmd_gc(struct volmount_ctx *ctx, const struct cmd_args *a);

struct monitor_args {
	unsigned interval_ms;
	const char *metrics; /* file to write Prometheus text to, or NULL */
	bool repair;
};

int cmd_monitor(struct volmount_ctx *ctx, const struct monitor_args *a);
