/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine/mount.h - see mount.c. Engine-internal: included by lib/engine/ only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "kview.h"
#include "volmount.h"
#include "engine/request.h"
#include "engine/probe.h"

struct volmount_ctx;
struct ledger_share;
struct volmount_report;

/* Mount the share and verify it: exactly one mount, ours, of the expected kind. */
int share_mount(struct volmount_ctx *ctx, const struct share_req *req, uint64_t *ret_mount_id);

/*
 * Mount again a share whose row exists but whose mount is gone (or was just taken away): the
 * row first goes back to pending/0, then the share is mounted and verified, and with @record
 * the new id is recorded as mounted. *ret_id is the new mount's id.
 */
int share_remount(struct volmount_ctx *ctx, const struct ledger_share *row,
		  const struct share_req *req, bool record, uint64_t *ret_id);

/* Unmount @mount_id at @mountpoint (never anything else) and verify it is gone. */
int share_unmount(struct volmount_ctx *ctx, const char *mountpoint, uint64_t mount_id);

/*
 * Repair's unmount of a stale or hung mount: as share_unmount(), but when the kernel says
 * EBUSY (callers stuck in the dead mount hold it) or @force is set (hung), retry a bounded
 * number of times with MNT_FORCE, which aborts a FUSE connection and releases its stuck
 * callers. Never a lazy unmount.
 */
int share_unmount_force(struct volmount_ctx *ctx, const char *mountpoint, uint64_t mount_id,
			bool force);

/*
 * A share row in state pending (a call died while mounting it): end every process still
 * marked with the share (exec_end_share(): its helper, ssh, a FUSE daemon), wait until they
 * are gone, and if any was found, take away the mount it may have made before dying, so the
 * caller goes on from the kernel's view with no helper left that could mount later. No-op for
 * other rows and for drivers without a helper. Returns 0 or an error (set on @ctx).
 */
int share_end_orphans(struct volmount_ctx *ctx, const struct ledger_share *row,
		      const struct share_req *req);

/*
 * A network share with attachments whose mount @top is ours: probe it and, if it is stale or
 * hung, remount it (share_remount_unhealthy(), which reports to @rep, may be NULL). Returns
 * the verdict, HEALTH_OK (nothing to do), HEALTH_UNPROBED (no verdict: nothing done, never a
 * remount on the ground of a probe that did not run) or HEALTH_STALE/HEALTH_HUNG once it is
 * mounted again; or an error.
 */
int share_probe_heal(struct volmount_ctx *ctx, const struct ledger_share *row,
		     struct share_req *req, uint64_t top, struct volmount_report *rep);

/* share_probe_heal() with the verdict @h (@err) of a probe already made of this very mount
 * @top (repair probes every share at once first). */
int share_heal_verdict(struct volmount_ctx *ctx, const struct ledger_share *row,
		       struct share_req *req, uint64_t top, enum health h, int err,
		       struct volmount_report *rep);

/* A share with attachments whose mount (@top) is ours but stale or hung: unmount it (forced,
 * bounded), verify, mount again, verify, record. @rep may be NULL. */
int share_remount_unhealthy(struct volmount_ctx *ctx, const struct ledger_share *row,
			    struct share_req *req, uint64_t top, enum health h, int err,
			    struct volmount_report *rep);

/*
 * share_mount() in the mountpoint's parent directory @dfd, opened by open_parent_dir(): the
 * mountpoint is opened once, checked on that fd (check_mountpoint_fd()), and mounted on that
 * same fd, so nothing swapped in after the check can be mounted over.
 */
int share_mount_at(struct volmount_ctx *ctx, const struct share_req *req, int dfd,
			  uint64_t *ret_mount_id);
