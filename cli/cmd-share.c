/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cmd-share.c - the commands on shares and on the host: attach, detach, path, list, status,
 * host-up and host-down. Each is one library call, its result handed to output.c, and its
 * failure to exit.c; nothing here decides what a result means.
 */
#include <stdlib.h>

#include "cmds.h"
#include "exit.h"
#include "output.h"
#include "cleanup.h"

static void snapshot_freep(struct volmount_snapshot **s)
{
	volmount_snapshot_free(*s);
}

static void report_freep(struct volmount_report **r)
{
	volmount_report_free(*r);
}

static struct output_attachment attachment_of(const struct cmd_args *a)
{
	return (struct output_attachment){
		.driver = a->type,
		.export = a->export,
		.volume = a->volume,
		.owner = a->owner,
	};
}

int cmd_attach(struct volmount_ctx *ctx, const struct cmd_args *a)
{
	_cleanup_free_ char *device_path = NULL;
	_cleanup_free_ char *mountpoint = NULL;
	const struct output_attachment att = attachment_of(a);
	int r;

	r = volmount_attach(ctx, a->type, a->export, a->volume, a->owner, a->options, a->n_options,
			    &device_path);
	if (r < 0)
		return exit_fail(ctx, r);

	if (a->json) {
		/* The attach succeeded, so the share's path is computable; failing here would
		 * be a library bug, and the device path is still worth printing. */
		r = volmount_share_path(ctx, a->type, a->export, &mountpoint);
		if (r < 0)
			return exit_fail(ctx, r);
	}

	r = output_attach(a->json, &att, device_path, mountpoint);
	if (r < 0)
		return exit_fail_output(r);
	return EX_OK;
}

int cmd_detach(struct volmount_ctx *ctx, const struct cmd_args *a)
{
	const struct output_attachment att = attachment_of(a);
	int r;

	r = volmount_detach(ctx, a->type, a->export, a->volume, a->owner);
	if (r < 0)
		return exit_fail(ctx, r);
	if (r == 1)
		output_warning("volume '%s' of owner '%s' is not attached to %s share '%s', "
			       "nothing to do",
			       a->volume, a->owner, a->type, a->export);

	r = output_detach(a->json, &att, r == 0);
	if (r < 0)
		return exit_fail_output(r);
	return EX_OK;
}

int cmd_path(struct volmount_ctx *ctx, const struct cmd_args *a)
{
	_cleanup_free_ char *mountpoint = NULL;
	int r;

	r = volmount_share_path(ctx, a->type, a->export, &mountpoint);
	if (r < 0)
		return exit_fail(ctx, r);

	r = output_path(a->json, mountpoint);
	if (r < 0)
		return exit_fail_output(r);
	return EX_OK;
}

int cmd_list(struct volmount_ctx *ctx, const struct cmd_args *a)
{
	_cleanup_(snapshot_freep) struct volmount_snapshot *s = NULL;
	int r;

	r = volmount_snapshot_new(ctx, &s);
	if (r < 0)
		return exit_fail(ctx, r);

	r = output_list(a->json, s);
	if (r < 0)
		return exit_fail_output(r);
	return EX_OK;
}

int cmd_status(struct volmount_ctx *ctx, const struct cmd_args *a)
{
	_cleanup_(snapshot_freep) struct volmount_snapshot *s = NULL;
	int r;

	r = volmount_snapshot_new(ctx, &s);
	if (r < 0)
		return exit_fail(ctx, r);

	r = output_status(a->json, s);
	if (r < 0)
		return exit_fail_output(r);
	return EX_OK;
}

int cmd_host_up(struct volmount_ctx *ctx, const struct cmd_args *a)
{
	_cleanup_(report_freep) struct volmount_report *report = NULL;
	int r, k;

	r = volmount_host_up(ctx, &report);
	/* A partial failure still comes with a report: show what was done, then the error. */
	if (r < 0 && !report)
		return exit_fail(ctx, r);
	k = output_host_up(a->json, report);
	if (r < 0)
		return exit_fail(ctx, r);
	if (k < 0)
		return exit_fail_output(k);
	return EX_OK;
}

int cmd_host_down(struct volmount_ctx *ctx, const struct cmd_args *a)
{
	int r;

	r = volmount_host_down(ctx);
	if (r < 0)
		return exit_fail(ctx, r);

	r = output_host_down(a->json);
	if (r < 0)
		return exit_fail_output(r);
	return EX_OK;
}
