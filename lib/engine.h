/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * engine.h - the pieces attach/detach, host-up and snapshots share: resolving a request to a
 * share, observing what the kernel has at its mountpoint, mounting and unmounting it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "driver.h"
#include "kview.h"
#include "volmount.h"

struct volmount_ctx;
struct ledger_share;

/*
 * A request resolved to a share. The share's identity is @hash (the ledger key and the name of
 * its lock file) whatever the path scheme; the scheme only names the mountpoint:
 *   volmount: <base>/<driver>/<hash>  (subdir = the driver's name, leaf = hash)
 *   nova:     <base>/<md5 hex>        (subdir = NULL: the base itself, leaf = md5 of export)
 */
struct share_req {
	const struct driver *drv;
	char *export;       /* normalized (bind: parent directory resolved) */
	char hash[65];      /* sha256 hex of "driver\0export" */
	const char *subdir; /* the mountpoint's parent under the base (static), or NULL */
	char leaf[65];      /* the mountpoint's own name */
	char *mountpoint;   /* <base>[/<subdir>]/<leaf> */
	struct driver_opts opts;
	int src_fd;       /* bind: O_PATH of the source directory, or -EBADF */
	struct driver_mount_spec spec; /* helper drivers, once options are known: argv and
					* the mount table entry the helper must produce */
};


/* Name the share of @req->drv and @req->export: fill hash, subdir, leaf and mountpoint (under
 * the context's base, by its path scheme). */
int share_req_name(struct volmount_ctx *ctx, struct share_req *req);

/* Does the mount @m look exactly like what mounting @req produces (helper drivers: fstype and
 * source; bind: device, fstype and root of the open source; and, once @req's options are known,
 * the per-mount flags they set: ro, nosuid, nodev, noexec)? 1 yes, 0 no, or -errno. */
int share_matches(const struct share_req *req, const struct kview_mount *m);
/* As share_matches(); on 0, *ret_flags_only says that only the flags differ (the mount is of
 * the right file system and source, but mounted e.g. rw where the options ask for ro). */
int share_matches_flags(const struct share_req *req, const struct kview_mount *m,
			bool *ret_flags_only);

/* The per-mount flags share_matches() compares, and those @req's options set among them. */
#define SHARE_ATTR_CHECKED \
	(KVIEW_ATTR_RDONLY | KVIEW_ATTR_NOSUID | KVIEW_ATTR_NODEV | KVIEW_ATTR_NOEXEC)
uint64_t share_attr_wanted(const struct share_req *req);
/* "ro,nosuid,nodev": @attr's checked flags in words (always "ro" or "rw" first). */
const char *share_attr_str(uint64_t attr, char *buf, size_t size);

/* Parse a share's canonical option string into @req (opts and, for helper drivers, spec).
 * Used when the options come from the ledger rather than the caller. */
int share_req_load_options(struct volmount_ctx *ctx, struct share_req *req, const char *canonical);

void share_req_done(struct share_req *req);

enum {
	/* Attach: the bind source directory must exist, is opened O_PATH|O_NOFOLLOW and kept in
	 * ret->src_fd; without it a missing source only means the export cannot be resolved
	 * further than lexically. */
	SHARE_REQ_OPEN_SOURCE = 1 << 0,
};

/*
 * Validate @driver and @export and fill @ret (@flags: SHARE_REQ_*). @opts may be NULL (no
 * option check). Errors are INPUT (65).
 */
int share_req_init(struct volmount_ctx *ctx, const char *driver, const char *export,
		   const char *const *opts, size_t n_opts, unsigned flags, struct share_req *ret);

/* Rebuild the request of a ledger row (for host-up); opens the source. */
int share_req_from_row(struct volmount_ctx *ctx, const struct ledger_share *row,
		       struct share_req *ret);

enum observed {
	OBS_NONE,    /* nothing mounted at the mountpoint */
	OBS_OURS,    /* exactly one mount, and its id is the one recorded */
	OBS_MATCH,   /* exactly one mount, not the recorded id, but of the expected type/source */
	OBS_FOREIGN, /* exactly one mount of something else */
	OBS_STACKED, /* more than one mount */
};

/*
 * What the kernel has at @mountpoint compared with @recorded_id, and (when @req has an open
 * source) with what the driver expects. *ret_id receives the top mount's id (0 if none).
 */
int share_observe(struct volmount_ctx *ctx, const char *mountpoint, uint64_t recorded_id,
		  const struct share_req *req, uint64_t *ret_id);

/*
 * Make sure the mountpoint directory can take a mount: not a symlink, not a mountpoint, empty.
 * Creates nothing. Sets *ret_exists. Errors are MOUNTPOINT (73).
 */
int share_check_mountpoint(struct volmount_ctx *ctx, const struct share_req *req,
			   bool *ret_exists);

/* Create the mountpoint directory (0700, whatever the umask). */
int share_mkdir(struct volmount_ctx *ctx, const struct share_req *req);

/* Remove the mountpoint directory (only ever called for directories we created). */
int share_rmdir(struct volmount_ctx *ctx, const struct share_req *req);

/* Mount the share and verify it: exactly one mount, ours, of the expected kind. */
int share_mount(struct volmount_ctx *ctx, const struct share_req *req, uint64_t *ret_mount_id);

/* Record @state and @mount_id for the share @hash (one short transaction). */
int share_set(struct volmount_ctx *ctx, const char *hash, const char *state, uint64_t mount_id);
/* Forget the share (and its attachments) under ctx->db_lock. */
int share_delete(struct volmount_ctx *ctx, const char *hash);

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

/* ---- health (health.c) ---- */

enum health {
	HEALTH_OK,    /* the probe answered */
	HEALTH_STALE, /* the probe failed: ENOTCONN, ESTALE, EIO, ... (errno kept) */
	HEALTH_HUNG,  /* the probe passed its deadline */
	HEALTH_UNPROBED, /* no probe ran (the executor had no room): no verdict */
};

/* Probe @n mountpoints at once (statfs in one executor worker, against one deadline: the
 * context's probe timeout): the whole call returns within that deadline plus the executor's
 * grace. Fills
 * ret_health[i], ret_errno[i] (positive, 0 if healthy) and ret_us[i] (probe time, -1 if none). */
int health_probe_many(struct volmount_ctx *ctx, const char *const *paths, size_t n,
		      enum health *ret_health, int *ret_errno, int64_t *ret_us);

/* A share with attachments whose mount (@top) is ours but stale or hung: unmount it (forced,
 * bounded), verify, mount again, verify, record. @rep may be NULL. */
int share_remount_unhealthy(struct volmount_ctx *ctx, const struct ledger_share *row,
			    struct share_req *req, uint64_t top, enum health h, int err,
			    struct volmount_report *rep);

/* Reports (host.c): a growing list of (path, action, detail). */
int report_new(struct volmount_report **ret);
/* The start of a host-wide call (host-up/down, repair, gc): @ctx checked, the calling thread's
 * error cleared, the context opened, and with @ret a new report. */
int report_begin(struct volmount_ctx *ctx, struct volmount_report **ret);
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

/* Repair one share (by hash) under the shared host lock and its share lock: probe it, and
 * bring it to its desired state (remount stale/hung/missing, unmount unused). */
int host_repair_share(struct volmount_ctx *ctx, const char *hash, struct volmount_report *rep);

/* Run the reconcile of host-up. Caller holds the exclusive host lock. @report may be NULL.
 * With @adopt (host-up itself, not the reboot check) and the nova path scheme, mounts others
 * made at <base>/<md5> that are exactly what volmount would mount there are adopted. */
struct volmount_report;
int host_reconcile(struct volmount_ctx *ctx, bool new_boot, bool adopt,
		   struct volmount_report *report);
/* If the ledger was written under another boot, reconcile now (takes the host lock). */
int host_check_boot(struct volmount_ctx *ctx, uint64_t deadline_ms);

/* Tests only (NULL otherwise): called by a first attach between its check of the mountpoint
 * and share_mount(); in share_mount() once the mountpoint fd is open and checked, before the
 * mount; and after a bind mount, before it is verified. */
extern void (*share_test_after_check)(const char *mountpoint);
extern void (*share_test_before_mount)(const char *mountpoint);
extern void (*share_test_before_verify)(const char *mountpoint);
