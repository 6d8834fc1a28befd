/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * attach.c - attach and detach, and the share primitives they are built from.
 *
 * Design notes:
 * (1) Invariant: after any completed call, a share is mounted exactly when it has at least one
 *     attachment, and then exactly once.
 * (2) Crash ordering. attach: host lock (shared) -> share lock -> [first attachment: insert a
 *     pending share row -> mkdir -> mount -> verify] -> commit the attachment (and mount id).
 *     detach: host lock (shared) -> share lock -> commit the removal -> [last: unmount ->
 *     verify -> rmdir -> delete the share row]. A crash anywhere leaves a row that says what
 *     may be half done ("pending" or "unmounting"), which host-up or the next call for that
 *     share finishes.
 * (3) A mount is ours only if the kernel shows exactly one mount at the mountpoint and its id
 *     is the one we recorded (or, for a mount we just made, the one we made). A helper's or a
 *     syscall's success alone proves nothing.
 * (4) Nothing is mounted on a mountpoint that is a symlink, already a mountpoint, or not empty;
 *     mountpoints are opened O_PATH|O_NOFOLLOW and mounted through the fd.
 * (5) A rejected request changes nothing: all validation happens before the first write.
 * (6) Path schemes (engine.h) only name the mountpoint; a share's identity (ledger key, lock)
 *     is always its SHA-256 hash. With the nova scheme (<base>/<md5 of the export>), a first
 *     attach that finds exactly the mount volmount would make already at the mountpoint (Nova
 *     or os-brick made it) adopts it instead of refusing; the first attach on an adopted
 *     share records its options; an adopted share without attachments is never unmounted, and
 *     a directory volmount did not create is never removed.
 * (7) The share lock guards the mount, the ledger's write transaction the count. Whatever
 *     mounts or unmounts a share, or takes its count from 0 to 1 or from 1 to 0, holds the
 *     share's lock. A warm attach (the bind mount there, ours, recorded mounted, with at least
 *     one attachment) and a detach that leaves an attachment change neither: they are one
 *     write transaction, which checks those conditions and is ordered against every other
 *     writer by SQLite. A last detach marks the share unmounting in its own transaction before
 *     it unmounts, so no warm attach joins a share on its way out; a share found without
 *     attachments goes to the general path, so repair's "unused" decision (made under the
 *     share lock, count 0) cannot be overtaken either. They take no host lock either: what
 *     host-down does is one ledger write (the host marked down), so a warm call whose
 *     transaction comes first is done before it, and one that comes after finds the host
 *     down and takes the general path, which waits for the host lock and reports it; host-up
 *     publishes the host up only while it holds every share's lock, and a share it has not
 *     reconciled yet is one whose mount is gone (not warm) or still the very mount recorded;
 *     after a reboot, where a mount of the new boot may carry an old id, no warm attach
 *     runs until the boot is recorded, and the reconcile forgets every old id first. Repair
 *     marks a share pending before it unmounts it. gc removes only directories no row owns.
 *
 *     (no row) --attach--> pending --mount+verify--> mounted --last detach--> unmounting
 *         ^                   |                                                   |
 *         +----rollback-------+-------------------unmount+rmdir-------------------+
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/request.h"
#include "engine/mountpoint.h"
#include "engine/probe.h"
#include "engine/mount.h"
#include "engine/host.h"
#include "internal.h"
#include "kview.h"
#include "ledger.h"
#include "lock.h"
#include "cleanup.h"
#include "errno-util.h"

/* The shared host lock (the ledger's boot was checked before). */
static int enter_host(struct volmount_ctx *ctx, uint64_t deadline, bool *ret_held)
{
	int r = lock_host_shared(ctx->locks, deadline);

	if (r < 0)
		return r;
	*ret_held = true; /* release with lock_host_shared_release() */
	return 0;
}

/*
 * Under the host and share locks: the host row and the share's row in one read (the warm
 * path's only read). -EHOSTDOWN if the host is down; -ENOENT if there is no such share.
 */
static int host_down_error(struct volmount_ctx *ctx, const struct ledger_host *h)
{
	return error_set(-EHOSTDOWN, VOLMOUNT_ERR_HOSTDOWN,
			 "host is down (generation %llu); run host-up first",
			 (unsigned long long)h->generation);
}

static int read_host_share(struct volmount_ctx *ctx, const struct share_req *req,
			   struct ledger_share *ret)
{
	struct ledger_host h;
	int r;

	r = ledger_host_share_get(ctx->ledger, req->hash, &h, ret);
	if (r < 0 && r != -ENOENT)
		return r;
	if (strcmp(h.state, "up") != 0) {
		if (r >= 0)
			ledger_share_done(ret);
		return host_down_error(ctx, &h);
	}
	return r;
}

/*
 * Is exactly one mount at @req's mountpoint (1, its id in *ret_top)? The quick form first:
 * from the pinned base directory, its top mount sits directly on the base's own mount (two
 * calls; kview_at_id_on()); the mountpoint's directory is one volmount made there and keeps
 * (<base>/<driver>, or the base itself). Otherwise the general check by name (three calls).
 */
static int warm_top(struct volmount_ctx *ctx, const struct share_req *req, uint64_t *ret_top)
{
	uint64_t base_id = __atomic_load_n(&ctx->base_mnt_id, __ATOMIC_RELAXED);
	size_t ns = req->subdir ? strlen(req->subdir) : 0, nl = strnlen(req->leaf, sizeof(req->leaf));
	char rel[NAME_MAX + 1 + sizeof(req->leaf)], *p = rel;
	int n = 2;

	if (!base_id && kview_fd_mnt_id(ctx->base_fd, &base_id) >= 0)
		__atomic_store_n(&ctx->base_mnt_id, base_id, __ATOMIC_RELAXED); /* fixed for the fd */
	if (base_id && ns <= NAME_MAX && nl < sizeof(req->leaf)) {
		if (ns) {
			p = mempcpy(p, req->subdir, ns);
			*p++ = '/';
		}
		memcpy(p, req->leaf, nl + 1);
		n = kview_at_id_on(ctx->base_fd, rel, base_id, ret_top);
	}
	return n == 2 ? kview_at_id(req->mountpoint, ret_top) : n;
}

/*
 * The warm attach of a bind share, without the host or the share lock (design note 7): if
 * exactly one mount sits at the mountpoint and the ledger records that very mount for this
 * share, with at least one attachment, on a host that is up (checked in the write transaction
 * that adds this one), that is all there is to do. Returns 1 when attached, 0 when the share
 * needs the general path (nothing was written; a host that is down is reported there, once
 * the host lock shows no host-up is in progress), or an error. Network shares take the
 * general path, which probes their health first.
 */
static int attach_warm(struct volmount_ctx *ctx, struct share_req *req, const char *volume,
		       const char *owner, int *ret)
{
	struct ledger_host h;
	uint64_t top = 0;
	int r;

	/* Only once this context has seen its boot recorded: while another process's reconcile
	 * of a new boot runs (host_check_boot() then returns without waiting), the mount found
	 * may carry an id of the last boot, and the share must be waited for under its lock. */
	if (!__atomic_load_n(&ctx->boot_checked, __ATOMIC_ACQUIRE) ||
	    req->drv->kind != DRIVER_KIND_BIND || warm_top(ctx, req, &top) != 1)
		return 0;
	r = ledger_attach_warm(ctx->ledger, req->hash, top, req->opts.canonical, volume, owner, &h);
	if (r == -EHOSTDOWN)
		return 0;
	*ret = 0;
	return r;
}

static int enter_share(struct volmount_ctx *ctx, const struct share_req *req, uint64_t deadline)
{
	int fd = lock_share(ctx->locks, req->hash, deadline);

	if (fd == -ETIMEDOUT)
		return error_set(fd, VOLMOUNT_ERR_TEMPFAIL,
				 "timed out after %u ms waiting for the lock of share '%s' (%s)",
				 ctx->timeout_ms, req->export, req->mountpoint);
	if (fd < 0 && !error_pending())
		return error_set(fd, VOLMOUNT_ERR_INTERNAL, "share lock of '%s': %s",
				 req->mountpoint, errno_str(fd));
	return fd;
}

/* The calling thread's error, kept across clean-up that may overwrite it. */
struct saved_error {
	char msg[1024];
	enum volmount_errkind kind;
};

static void error_save(struct volmount_ctx *ctx, struct saved_error *e)
{
	(void)snprintf(e->msg, sizeof(e->msg), "%s", volmount_ctx_errmsg(ctx));
	e->kind = volmount_ctx_errkind(ctx);
}

static void error_restore(struct volmount_ctx *ctx, const struct saved_error *e)
{
	(void)error_set(0, e->kind, "%s", e->msg);
}

/*
 * Undo a failed first attach. The row is forgotten only when the kernel shows nothing at the
 * mountpoint and the directory we made is gone: if anything is left (a mount we could not
 * verify or take away), the pending row stays, so the next call for this share or host-up
 * finds it and resolves it, instead of an orphaned mount nobody knows about. Keeps the
 * calling thread's first error message.
 */
static void rollback_first(struct volmount_ctx *ctx, const struct share_req *req, bool existed)
{
	struct saved_error e;
	bool clean;

	error_save(ctx, &e);
	clean = kview_at(req->mountpoint, NULL) == 0;
	if (clean && !existed)
		clean = share_rmdir(ctx, req) >= 0;
	if (clean) {
		(void)ledger_share_delete(ctx->ledger, req->hash); /* best effort: host-up retries */
	}
	error_restore(ctx, &e);
}

/* The ledger row of @req's share (borrowing its strings), in @state with @mount_id. */
static struct ledger_share row_of_req(const struct share_req *req, const char *state,
				      uint64_t mount_id)
{
	return (struct ledger_share){
		.hash = (char *)req->hash,
		.driver = (char *)req->drv->name,
		.export = req->export,
		.mountpoint = req->mountpoint,
		.options = req->opts.canonical,
		.state = (char *)state,
		.mount_id = mount_id,
	};
}

/* First attachment: make the directory, mount, verify. The pending row comes first so a crash
 * at any later point leaves a record that host-up resolves. On failure undo everything. */
static int attach_first(struct volmount_ctx *ctx, const struct share_req *req, uint64_t *ret_id)
{
	struct ledger_share row = row_of_req(req, LEDGER_PENDING, 0);
	_cleanup_close_ int dfd = parent_dir_if_any(ctx, req);
	bool exists = false;
	int r;

	/* One open of the parent directory serves the check, the mkdir and the mount. */
	if (dfd < 0 && dfd != -ENOENT)
		return dfd;
	r = check_mountpoint_at(ctx, req, dfd, &exists);
	if (r < 0)
		return r;
	row.dir_created = !exists;
	r = ledger_share_insert(ctx->ledger, &row);
	if (r == -EEXIST)
		/* The hash is free (the caller holds its lock and found no row), so the
		 * mountpoint is taken: with the nova scheme, the same export under another
		 * driver has the same mountpoint. */
		return error_set(-EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
				 "mountpoint '%s' already belongs to another share (the same export under another driver?)",
				 req->mountpoint);
	if (r < 0)
		return r;
	if (dfd < 0) {
		dfd = open_parent_dir(ctx, req, true);
		r = dfd < 0 ? dfd : 0;
	}
	if (r >= 0 && !exists)
		r = mkdir_at(ctx, req, dfd);
	if (r >= 0 && share_test_after_check)
		share_test_after_check(req->mountpoint);
	if (r >= 0)
		r = share_mount_at(ctx, req, dfd, ret_id);
	if (r < 0)
		rollback_first(ctx, req, exists);
	return r;
}

/*
 * The refusal of a mount someone else made that is the right file system and source, but
 * carries other per-mount flags than this attach's options would set (issue 9, item 8): it
 * names both sides. Adopting it would hand out a writable share to a caller that asked for a
 * read-only one, or vouch for nosuid/nodev the mount does not have. Exit 65, as for any
 * options that differ from the share's.
 */
static int refuse_flags(struct volmount_ctx *ctx, const struct share_req *req,
			const struct kview_mount *top, const char *what)
{
	char have[64], want[64];

	return error_set(-EINVAL, VOLMOUNT_ERR_INPUT,
			 "%s at '%s' (%s '%s') is mounted %s; with options '%s' volmount would mount '%s' %s; refusing to adopt it",
			 what, req->mountpoint, top->fstype, top->source,
			 share_attr_str(top->mnt_attr, have, sizeof(have)), req->opts.canonical,
			 req->export, share_attr_str(share_attr_wanted(req), want, sizeof(want)));
}

/*
 * An adopted share (someone else mounted it; no attachment yet): its recorded options are only
 * the driver's defaults, so this first attach states them, provided the mount is exactly what
 * volmount would make with them. Returns the observation to go on with: OBS_OURS (checked
 * against these options), OBS_NONE (the adopted mount is gone), or an error.
 */
static int attach_adopted(struct volmount_ctx *ctx, const struct share_req *req,
			  uint64_t *ret_top)
{
	struct kview_mount top = {};
	bool flags_only = false;
	int n, m, r;

	assert(req->drv);
	n = kview_at(req->mountpoint, &top);
	if (n < 0)
		return error_set(n, n == -ELOOP ? VOLMOUNT_ERR_MOUNTPOINT : VOLMOUNT_ERR_INTERNAL,
				 "cannot inspect mountpoint '%s': %s", req->mountpoint, errno_str(n));
	if (n == 0)
		return OBS_NONE;
	if (n > 1) {
		kview_mount_done(&top);
		return error_set(-EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
				 "mountpoint '%s' of adopted share '%s' holds stacked mounts; refusing to attach",
				 req->mountpoint, req->export);
	}
	m = share_matches_flags(req, &top, &flags_only);
	if (m > 0) {
		*ret_top = top.mnt_id;
		r = OBS_OURS;
	} else if (m == 0 && flags_only)
		r = refuse_flags(ctx, req, &top, "the mount adopted");
	else if (m == 0 && req->drv->kind == DRIVER_KIND_HELPER)
		r = error_set(-EINVAL, VOLMOUNT_ERR_INPUT,
			      "share '%s' was adopted as %s '%s' at '%s'; with options '%s' volmount would mount %s '%s'",
			      req->export, top.fstype, top.source, req->mountpoint,
			      req->opts.canonical, req->spec.fstype, req->spec.source);
	else if (m == 0)
		r = error_set(-EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
			      "the mount adopted at '%s' (%s '%s') is no longer a bind mount of '%s'; refusing to attach",
			      req->mountpoint, top.fstype, top.source, req->export);
	else
		r = error_set(m, VOLMOUNT_ERR_INTERNAL, "cannot identify the source of '%s': %s",
			      req->export, errno_str(m));
	kview_mount_done(&top);
	return r;
}

/* A share row exists: make sure its mount is there and ours, mending what a crash left.
 * *ret_claim: the share was adopted, and this attach's options become its options. */
static int attach_existing(struct volmount_ctx *ctx, const struct share_req *req,
			   const struct ledger_share *row, uint64_t *ret_id, bool *ret_fresh,
			   bool *ret_claim)
{
	uint64_t top = 0;
	int obs;

	if (row->adopted) {
		obs = attach_adopted(ctx, req, &top);
		if (obs < 0)
			return obs;
		if (obs == OBS_NONE) {
			/* The adopted mount is gone: nothing is left to adopt. Forget the row (its
			 * directory, if still there, stays someone else's) and mount afresh. */
			int r;

			r = ledger_share_delete(ctx->ledger, row->hash);
			if (r >= 0)
				r = attach_first(ctx, req, ret_id);
			if (r >= 0)
				*ret_fresh = true;
			return r;
		}
		*ret_claim = true;
		if (obs == OBS_OURS && top != row->mount_id) {
			/* Its owner mounted it again since it was adopted: the same share, as
			 * verified above; record the mount as it is now. */
			int r;

			r = ledger_share_set(ctx->ledger, row->hash, LEDGER_MOUNTED, top);
			if (r < 0)
				return r;
		}
	} else if (strcmp(row->options, req->opts.canonical) != 0)
		return error_set(-EINVAL, VOLMOUNT_ERR_INPUT,
				 "share '%s' is mounted with options '%s'; this attach asks for '%s'",
				 req->export, row->options, req->opts.canonical);
	else {
		/* A crashed call's helper may still be connecting: end it before anything else,
		 * or it mounts on top of what this call mounts. */
		int r = share_end_orphans(ctx, row, req);

		if (r < 0)
			return r;
		obs = share_observe(ctx, req->mountpoint, row->mount_id, req, &top);
		if (obs < 0)
			return obs;
	}
	switch (obs) {
	case OBS_OURS:
		if (req->drv->kind == DRIVER_KIND_HELPER) {
			/* A network share can go stale under a healthy-looking mount table (the
			 * seed's ENOTCONN case): probe it, and repair it before handing out a
			 * device path on a dead mount. Bind mounts cannot go stale this way, so
			 * their warm path stays free of a probe. */
			int k = share_probe_heal(ctx, row, (struct share_req *)req, top, NULL);

			if (k < 0)
				return k;
			if (k == HEALTH_UNPROBED)
				return error_set(-EAGAIN, VOLMOUNT_ERR_TEMPFAIL,
						 "share '%s' could not be probed now (too many probes or helpers in flight); try again",
						 req->export);
			if (k != HEALTH_OK) {
				*ret_id = 0; /* recorded by the repair; other attachments use it */
				return 0;
			}
		}
		*ret_id = strcmp(row->state, LEDGER_MOUNTED) == 0 ? 0 : top;
		return 0;
	case OBS_MATCH:
		if (strcmp(row->state, LEDGER_MOUNTED) != 0) {
			/* Our own mount from an attach that crashed before its commit. */
			*ret_id = top;
			return 0;
		}
		break;
	case OBS_NONE: {
		bool exists = false;
		int r = share_check_mountpoint(ctx, req, &exists);

		if (r < 0)
			return r;
		if (!exists) {
			if (!row->dir_created)
				return error_set(-ENOENT, VOLMOUNT_ERR_MOUNTPOINT,
						 "mountpoint '%s' has disappeared", req->mountpoint);
			r = share_mkdir(ctx, req);
			if (r < 0)
				return r;
		}
		/* Recorded by the attachment's commit, with the attachment. */
		r = share_remount(ctx, row, req, false, ret_id);
		if (r >= 0)
			*ret_fresh = true;
		return r;
	}
	default:
		break;
	}
	return error_set(-EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
			 "mountpoint '%s' of share '%s' holds %s; refusing to attach",
			 req->mountpoint, req->export,
			 obs == OBS_STACKED ? "stacked mounts" : "a mount volmount did not make");
}

/*
 * No row, but with the nova scheme the mountpoint may already hold the share, mounted by Nova
 * or os-brick before volmount took over the host (and before host-up adopted it). If the
 * kernel shows exactly one mount there and it is precisely what volmount would mount for this
 * request, record it as adopted (so a crash before the attachment is committed leaves a share
 * that is kept, never one whose mount host-up would take away), and go on as for an existing
 * row. Returns 1 when adopted (*ret_row filled), 0 when there is nothing to adopt.
 */
static int attach_adopt(struct volmount_ctx *ctx, const struct share_req *req,
			struct ledger_share *ret_row)
{
	uint64_t top = 0;
	int obs, r;

	assert(req->drv);
	if (ctx->path_scheme != VOLMOUNT_PATH_SCHEME_NOVA)
		return 0;
	obs = share_observe(ctx, req->mountpoint, 0, req, &top);
	if (obs < 0)
		return obs;
	if (obs == OBS_FOREIGN) {
		/* The right share with the wrong flags gets a refusal that says so. */
		struct kview_mount m = {};
		bool flags_only = false;

		if (kview_at(req->mountpoint, &m) == 1 &&
		    share_matches_flags(req, &m, &flags_only) == 0 && flags_only)
			r = refuse_flags(ctx, req, &m, "the mount");
		else
			r = 0;
		kview_mount_done(&m);
		if (r < 0)
			return r;
	}
	if (obs != OBS_MATCH)
		return 0; /* nothing there, or not exactly ours: attach_first() says why */
	{
		struct ledger_share row = row_of_req(req, LEDGER_MOUNTED, top);

		row.adopted = true; /* and dir_created false: the directory is someone else's */
		r = ledger_share_insert(ctx->ledger, &row);
		if (r >= 0)
			r = ledger_share_get(ctx->ledger, req->hash, ret_row);
	}
	if (r == -EEXIST)
		return error_set(-EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
				 "mountpoint '%s' already belongs to another share (the same export under another driver?)",
				 req->mountpoint);
	return r < 0 ? r : 1;
}

static void undo_fresh_mount(struct volmount_ctx *ctx, const struct share_req *req,
			     uint64_t mount_id)
{
	struct saved_error e;

	error_save(ctx, &e);
	(void)share_unmount(ctx, req->mountpoint, mount_id); /* best effort; host-up retries */
	error_restore(ctx, &e);
}

/* Every failure @r after the request was resolved names the share (DESIGN: "with the share
 * named"), unless the message already does, and says why: a step that failed without a message
 * of its own gets the errno text, never an empty reason. */
static void name_share_in_error(struct volmount_ctx *ctx, const struct share_req *req, int r)
{
	struct saved_error e;

	error_save(ctx, &e);
	if (!e.msg[0]) {
		(void)snprintf(e.msg, sizeof(e.msg), "%s", errno_str(r));
		if (e.kind == VOLMOUNT_ERR_NONE)
			e.kind = VOLMOUNT_ERR_INTERNAL;
		error_restore(ctx, &e);
	}
	if (!req->export || strstr(e.msg, req->export) || strstr(e.msg, req->mountpoint))
		return;
	(void)error_set(0, e.kind, "share '%s' (%s): %s", req->export, req->mountpoint,
			e.msg);
}

/* An attachment's volume and owner, before anything else is looked at. */
static int check_attachment(const char *volume, const char *owner)
{
	const char *why = NULL;

	if (volume_name_check(volume, &why) < 0)
		return error_set(-EINVAL, VOLMOUNT_ERR_INPUT, "invalid volume name: %s", why);
	if (owner_check(owner, &why) < 0)
		return error_set(-EINVAL, VOLMOUNT_ERR_INPUT, "invalid owner: %s", why);
	return 0;
}

/* volmount_attach() under the host and share locks. */
static int attach_locked(struct volmount_ctx *ctx, struct share_req *req, const char *volume,
			 const char *owner)
{
	_cleanup_(ledger_share_done) struct ledger_share row = {};
	uint64_t mount_id = 0;
	bool added = false, fresh = false, claim = false;
	int r;

	r = read_host_share(ctx, req, &row);
	if (r == -ENOENT) {
		r = attach_adopt(ctx, req, &row);
		if (r == 0) {
			r = attach_first(ctx, req, &mount_id);
			fresh = r >= 0;
		} else if (r > 0)
			r = attach_existing(ctx, req, &row, &mount_id, &fresh, &claim);
	} else if (r >= 0)
		r = attach_existing(ctx, req, &row, &mount_id, &fresh, &claim);
	if (r < 0)
		return r;
	r = ledger_attach_claim(ctx->ledger, req->hash, mount_id,
				claim ? req->opts.canonical : NULL, volume, owner, &added);
	if (r < 0 && fresh)
		/* Invariant 1: no attachment was recorded, so the mount made for it goes. The
		 * pending row stays, with nothing mounted: the next call or host-up forgets it. */
		undo_fresh_mount(ctx, req, mount_id);
	return r;
}

/* The locked step of attach or detach: (ctx, req, volume, owner). */
typedef int (*share_step)(struct volmount_ctx *, struct share_req *, const char *, const char *);
/* The warm step (design note 7, no lock): 1 when it did the whole call, whose result it put
 * in *ret; 0 when the share needs the locked step (nothing was written); or -errno. */
typedef int (*share_warm)(struct volmount_ctx *, struct share_req *, const char *, const char *,
			  int *ret);

/*
 * Once the ledger's boot is checked: @warm, then, unless it did the whole call, @locked under
 * the shared host lock and @req's share lock, both released before returning. A failure names
 * the share in its message.
 */
static int with_share_locked(struct volmount_ctx *ctx, struct share_req *req, const char *volume,
			     const char *owner, share_warm warm, share_step locked)
{
	uint64_t deadline = now_ms() + ctx->timeout_ms;
	bool host_held = false;
	int r, result = 0;

	r = host_check_boot(ctx, deadline); /* reconcile first if the ledger is of another boot */
	if (r >= 0)
		r = warm(ctx, req, volume, owner, &result);
	if (r > 0)
		r = result;
	else if (r == 0)
		r = enter_host(ctx, deadline, &host_held);
	if (r >= 0 && host_held) {
		int share_fd = enter_share(ctx, req, deadline);

		r = share_fd < 0 ? share_fd : locked(ctx, req, volume, owner);
		lock_share_release(ctx->locks, req->hash, share_fd);
	}
	if (host_held)
		lock_host_shared_release(ctx->locks);
	if (r < 0)
		name_share_in_error(ctx, req, r);
	return r;
}

/* <mountpoint>/<volume>, without printf: a warm attach is a few microseconds. */
static char *device_path(const char *mountpoint, const char *volume)
{
	size_t nm = strlen(mountpoint), nv = strlen(volume);
	char *p = malloc(nm + 1 + nv + 1);

	if (p) {
		memcpy(p, mountpoint, nm);
		p[nm] = '/';
		memcpy(p + nm + 1, volume, nv + 1);
	}
	return p;
}

VOLMOUNT_EXPORT int volmount_attach(struct volmount_ctx *ctx, const char *driver,
				    const char *export, const char *volume, const char *owner,
				    const char *const *options, size_t n_options,
				    char **ret_device_path)
{
	_cleanup_(share_req_done) struct share_req req = { .src_fd = -EBADF };
	_cleanup_free_ char *device = NULL;
	int r;

	if (!ctx || (n_options && !options))
		return -EINVAL;
	error_clear();
	r = check_attachment(volume, owner);
	if (r < 0)
		return r;
	r = share_req_init(ctx, driver, export, options ? options : (const char *const[]){ NULL },
			   n_options, SHARE_REQ_OPEN_SOURCE, &req);
	if (r < 0)
		return r;
	r = ctx_open(ctx);
	if (r >= 0)
		r = share_req_rebase(ctx, &req);
	if (r < 0)
		return r;
	device = device_path(req.mountpoint, volume);
	if (!device)
		return -ENOMEM;
	r = with_share_locked(ctx, &req, volume, owner, attach_warm, attach_locked);
	if (r < 0)
		return r;
	if (ret_device_path)
		*ret_device_path = TAKE_PTR(device);
	return 0;
}

/* One transaction reads the host and the share and removes the attachment. An adopted share
 * has no attachment yet and is kept for its owner's consumers (-ENOENT, as for no share). */
static int detach_record(struct volmount_ctx *ctx, const struct share_req *req,
			 const char *volume, const char *owner, struct ledger_share *ret_row,
			 bool *ret_removed, size_t *ret_remaining)
{
	struct ledger_host host;
	int r;

	r = ledger_detach_checked(ctx->ledger, req->hash, volume, owner, &host, ret_row,
				  ret_removed, ret_remaining);
	return r == -EHOSTDOWN ? host_down_error(ctx, &host) : r;
}

/* The last attachment left: unmount, verify, remove the directory, forget the share. */
static int finish_share(struct volmount_ctx *ctx, const struct ledger_share *row,
			const struct share_req *req)
{
	uint64_t id = row->mount_id, top = 0;
	int r;

	/* A row that never reached "mounted" (an attach killed between its mount and its
	 * commit) has no trustworthy id: the mount is ours if it is exactly what the driver
	 * makes from this export. */
	if (strcmp(row->state, LEDGER_MOUNTED) != 0 && (req->src_fd >= 0 || req->spec.fstype) &&
	    share_observe(ctx, row->mountpoint, row->mount_id, req, &top) == OBS_MATCH)
		id = top;
	r = share_unmount(ctx, row->mountpoint, id);
	if (r < 0)
		return r;
	return share_forget(ctx, row, req);
}

/*
 * The warm detach, without a lock (design note 7): the removal of an attachment that leaves
 * another, so the share stays mounted; it looks at no mount, so it needs no recorded boot
 * either. A bind export is first taken as given (SHARE_REQ_LEXICAL): the share recorded under
 * exactly that name (its export as resolved at attach) is the one to detach from when it
 * holds the attachment, even if a parent directory has since been replaced by a symlink.
 * Only when it does not is the export resolved, as attach resolves it, and the share that
 * names tried. So the warm detach costs no path walk, and the locked step, if needed, gets
 * the share that holds the attachment. Returns as a share_warm.
 */
static int detach_warm(struct volmount_ctx *ctx, struct share_req *req, const char *volume,
		       const char *owner, int *ret)
{
	bool removed = false;
	int r = ledger_detach_warm(ctx->ledger, req->hash, volume, owner, &removed);

	if (r >= 0 && !removed && req->lexical) {
		int k = share_req_resolve(ctx, req);

		if (k < 0)
			return k;
		if (k > 0) /* another share: the same, there */
			r = ledger_detach_warm(ctx->ledger, req->hash, volume, owner, &removed);
	}
	if (r > 0)
		*ret = removed ? 0 : 1;
	return r;
}

/* volmount_detach() under the host and share locks: 0, or 1 when there was no such
 * attachment. */
static int detach_locked(struct volmount_ctx *ctx, struct share_req *req, const char *volume,
			 const char *owner)
{
	_cleanup_(ledger_share_done) struct ledger_share row = {};
	size_t remaining = 0;
	bool removed = false;
	int r;

	r = detach_record(ctx, req, volume, owner, &row, &removed, &remaining);
	if (r == -ENOENT)
		return 1; /* no such share, so no such attachment: nothing to do */
	if (r < 0)
		return r;
	/* Finish the unmount also when this attachment was already gone: a detach retried after
	 * a failed unmount completes the clean-up. */
	if (remaining == 0) {
		/* Best effort, and only for a row that never reached "mounted": with the source
		 * open, a mount left by a killed attach can be proven ours and cleaned up. A
		 * source that is gone must not keep a detach from working. */
		if (req->drv->kind == DRIVER_KIND_BIND && strcmp(row.state, LEDGER_MOUNTED) != 0)
			req->src_fd = open(req->export, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (req->drv->kind == DRIVER_KIND_HELPER &&
		    share_req_load_options(ctx, req, row.options) < 0)
			error_clear(); /* only needed to recognise a crashed attach's mount */
		r = finish_share(ctx, &row, req);
		if (r < 0)
			return r;
	}
	return removed ? 0 : 1;
}

VOLMOUNT_EXPORT int volmount_detach(struct volmount_ctx *ctx, const char *driver,
				    const char *export, const char *volume, const char *owner)
{
	_cleanup_(share_req_done) struct share_req req = { .src_fd = -EBADF };
	int r;

	if (!ctx)
		return -EINVAL;
	error_clear();
	r = check_attachment(volume, owner);
	if (r < 0)
		return r;
	r = share_req_init(ctx, driver, export, NULL, 0, SHARE_REQ_LEXICAL, &req);
	if (r < 0)
		return r;
	r = ctx_open(ctx);
	if (r >= 0)
		r = share_req_place(ctx, &req); /* under the canonical base, now that it is known */
	if (r < 0)
		return r;
	return with_share_locked(ctx, &req, volume, owner, detach_warm, detach_locked);
}

VOLMOUNT_EXPORT int volmount_share_path(struct volmount_ctx *ctx, const char *driver,
					const char *export, char **ret_path)
{
	struct share_req req = { .src_fd = -EBADF };
	int r;

	if (!ctx || !ret_path)
		return -EINVAL;
	error_clear();
	/* No ctx_open(): path must work read-only and create nothing. */
	r = share_req_init(ctx, driver, export, NULL, 0, false, &req);
	if (r < 0)
		return r;
	if (!__atomic_load_n(&ctx->base_canon, __ATOMIC_ACQUIRE)) {
		/* Name the mountpoint as an opened context would: under the canonical base. */
		_cleanup_free_ char *canon = realpath(ctx_base(ctx), NULL);
		char *p = NULL;

		if (canon && mountpoint_under(canon, &req, &p) >= 0) {
			free(req.mountpoint);
			req.mountpoint = p;
		}
	}
	*ret_path = TAKE_PTR(req.mountpoint);
	share_req_done(&req);
	return 0;
}
