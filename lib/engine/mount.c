/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mount.c - mounting and unmounting a share: bind (open_tree/move_mount), FUSE mounts made by
 * volmount, helpers through the executor, verification by mount id, forced unmount, remount of an
 * unhealthy share, and the end of a crashed call's helpers.
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

#include "engine/mount.h"
#include "engine/request.h"
#include "engine/mountpoint.h"
#include "engine/probe.h"
#include "engine/report.h"
#include "engine/fanout.h"
#include "internal.h"
#include "exec.h"
#include "kview.h"
#include "ledger.h"
#include "cleanup.h"
#include "errno-util.h"

/* Bind: clone the source (not its submounts), set the flags on the detached clone, then move
 * it onto the mountpoint fd. No path is re-resolved between check and mount, and the flags
 * are in place before the mount becomes visible (no remount step). */
static int mount_bind(struct volmount_ctx *ctx, const struct share_req *req, int mp_fd,
		      int *ret_tree)
{
	_cleanup_close_ int tree = -EBADF;
	struct mount_attr attr = { .attr_set = attr_flags(req->opts.flags) };

	tree = open_tree(req->src_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (tree < 0)
		return error_set(-errno, VOLMOUNT_ERR_IO, "cannot clone '%s': %s", req->export,
				 errno_str(errno));
	if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		return error_set(-errno, VOLMOUNT_ERR_IO, "cannot set mount flags on '%s': %s",
				 req->export, errno_str(errno));
	if (move_mount(tree, "", mp_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return error_set(-errno, VOLMOUNT_ERR_IO, "cannot mount '%s' on '%s': %s",
				 req->export, req->mountpoint, errno_str(errno));
	*ret_tree = TAKE_FD(tree);
	return 0;
}

/* What a helper's failure most likely means, from its stderr: the server is down or
 * unreachable (69), permission was refused (77), or another I/O failure (74). */
static enum volmount_errkind classify_helper_error(const char *err)
{
	static const char *const unreachable[] = {
		"connection refused", "no route to host", "network is unreachable",
		"connection timed out", "could not resolve", "name or service not known",
		"connection reset", "connection closed", "host is down", "transport endpoint",
		"failed to fetch volume file", "mount failed. check the log",
		/* mount.glusterfs says only this when no volfile server answers (or the volume
		 * does not exist on it: glusterfs cannot tell the two apart either). */
		"mounting glusterfs on",
	};
	static const char *const denied[] = {
		"permission denied", "access denied", "host key verification failed",
		"authentication failed",
	};

	for (size_t i = 0; err && i < ELEMENTSOF(denied); i++)
		if (strcasestr(err, denied[i]))
			return VOLMOUNT_ERR_PERM;
	for (size_t i = 0; err && i < ELEMENTSOF(unreachable); i++)
		if (strcasestr(err, unreachable[i]))
			return VOLMOUNT_ERR_HOSTDOWN;
	return VOLMOUNT_ERR_IO;
}

/*
 * Take away a mount that a failed or unverified mount left. @mnt_fd (>= 0) is the mount we
 * made (open_tree or fsmount): it is detached wherever it is, even if the directory was moved
 * after we opened it, and nothing else is touched; we just made it and nobody holds it, so
 * the lazy form is the one that cannot fail with EBUSY on our own fd. Without it (a helper
 * mounted by name), the mount at the mountpoint, in the pinned directory @dfd, is taken away
 * if it is of the helper's type: nothing else can have appeared there, the share lock is held
 * and the mountpoint was checked empty. Best effort.
 */
static void undo_mount(const struct share_req *req, int dfd, int mnt_fd)
{
	struct kview_mount top = {};
	struct pinned_name pn;
	const char *at;
	int n;

	if (mnt_fd >= 0) {
		char self[sizeof("/proc/self/fd/") + 3 * sizeof(int)];

		(void)snprintf(self, sizeof(self), "/proc/self/fd/%d", mnt_fd);
		(void)umount2(self, MNT_DETACH);
		return;
	}
	at = pinned_name(&pn, dfd, req->leaf);
	n = kview_at_in(dfd, req->leaf, req->mountpoint, &top);
	if (n >= 1 && strcmp(top.fstype, req->spec.fstype) == 0 &&
	    umount2(at, UMOUNT_NOFOLLOW) < 0 && errno == EBUSY)
		(void)umount2(at, UMOUNT_NOFOLLOW | MNT_FORCE);
	kview_mount_done(&top);
}

/*
 * DRIVER_TARGET_FUSE_FD: make the FUSE mount ourselves, onto the checked fd @mp_fd, with the
 * flags set before it is attached, and return the connection (/dev/fuse) for the helper to
 * serve, and the new mount's id. Until the helper answers, requests to the mount wait; if it
 * fails, the connection dies with it and undo_mount() takes the mount away.
 */
static int mount_fuse(struct volmount_ctx *ctx, const struct share_req *req, int mp_fd,
		      int *ret_dev, int *ret_mnt, uint64_t *ret_id)
{
	_cleanup_close_ int dev = -EBADF, fs = -EBADF, mnt = -EBADF;
	const char *subtype = strchr(req->spec.fstype, '.');
	char num[3 * sizeof(int)], uid[3 * sizeof(int)], gid[3 * sizeof(int)];
	const char *step = "fsopen";
	int r;

	if (strncmp(req->spec.fstype, "fuse.", 5) != 0 || !subtype[1])
		return error_set(-EINVAL, VOLMOUNT_ERR_INTERNAL,
				 "driver '%s' has no FUSE subtype ('%s')", req->drv->name,
				 req->spec.fstype);
	dev = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (dev < 0)
		return error_set(-errno, VOLMOUNT_ERR_IO, "cannot open /dev/fuse for '%s': %s",
				 req->export, errno_str(errno));
	(void)snprintf(num, sizeof(num), "%d", dev);
	(void)snprintf(uid, sizeof(uid), "%u", (unsigned)geteuid());
	(void)snprintf(gid, sizeof(gid), "%u", (unsigned)getegid());
	fs = fsopen("fuse", FSOPEN_CLOEXEC);
	r = fs < 0 ? -1 : 0;
	if (r == 0 && (step = "source", fsconfig(fs, FSCONFIG_SET_STRING, "source", req->spec.source, 0)) < 0)
		r = -1;
	if (r == 0 && (step = "subtype", fsconfig(fs, FSCONFIG_SET_STRING, "subtype", subtype + 1, 0)) < 0)
		r = -1;
	if (r == 0 && (step = "fd", fsconfig(fs, FSCONFIG_SET_STRING, "fd", num, 0)) < 0)
		r = -1;
	if (r == 0 && (step = "rootmode", fsconfig(fs, FSCONFIG_SET_STRING, "rootmode", "40000", 0)) < 0)
		r = -1;
	if (r == 0 && (step = "user_id", fsconfig(fs, FSCONFIG_SET_STRING, "user_id", uid, 0)) < 0)
		r = -1;
	if (r == 0 && (step = "group_id", fsconfig(fs, FSCONFIG_SET_STRING, "group_id", gid, 0)) < 0)
		r = -1;
	if (r == 0 && (req->opts.fuse_flags & DRIVER_FUSE_ALLOW_OTHER) &&
	    (step = "allow_other", fsconfig(fs, FSCONFIG_SET_FLAG, "allow_other", NULL, 0)) < 0)
		r = -1;
	if (r == 0 && (req->opts.fuse_flags & DRIVER_FUSE_DEFAULT_PERMISSIONS) &&
	    (step = "default_permissions",
	     fsconfig(fs, FSCONFIG_SET_FLAG, "default_permissions", NULL, 0)) < 0)
		r = -1;
	if (r == 0 && (step = "create", fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0)) < 0)
		r = -1;
	if (r == 0) {
		step = "fsmount";
		mnt = fsmount(fs, FSMOUNT_CLOEXEC, (unsigned)attr_flags(req->opts.flags));
		r = mnt < 0 ? -1 : 0;
	}
	if (r == 0 && (step = "move_mount", move_mount(mnt, "", mp_fd, "",
						 MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)) < 0)
		r = -1;
	if (r < 0)
		return error_set(-errno, VOLMOUNT_ERR_IO, "cannot mount FUSE for '%s' on '%s' (%s): %s",
				 req->export, req->mountpoint, step, errno_str(errno));
	r = kview_id_of_fd(mnt, ret_id);
	if (r < 0) {
		undo_mount(req, -1, mnt);
		return error_set(r, VOLMOUNT_ERR_IO, "cannot identify the new mount at '%s': %s",
				 req->mountpoint, errno_str(r));
	}
	*ret_dev = TAKE_FD(dev);
	*ret_mnt = TAKE_FD(mnt);
	return 0;
}

/*
 * Helper drivers: run the helper through the executor (absolute path, argv, clean
 * environment, deadline) on the mountpoint fd @mp_fd as its driver's target says (driver.h),
 * then believe only the kernel, looking from the pinned directory @dfd: exactly one mount at
 * the mountpoint, the one we made (FUSE) or of the expected type and source.
 */
static int mount_helper(struct volmount_ctx *ctx, const struct share_req *req, int dfd, int mp_fd,
			uint64_t *ret_id)
{
	_cleanup_close_ int dev = -EBADF, mnt = -EBADF;
	_cleanup_free_ char *server = NULL;
	struct exec_result res = {};
	struct kview_mount top = {};
	uint64_t mine = 0;
	const char *helper;
	bool failed;
	int r, n;

	if (!req->spec.argv || !req->spec.argv[0])
		return error_set(-EINVAL, VOLMOUNT_ERR_INTERNAL, "no helper for share '%s'",
				 req->export);
	helper = req->spec.argv[0];
	/* Inside a fan-out (host-up, repair): a server that another share's helper found dead
	 * in this call is not tried again (fanout.c). */
	if (fanout_active())
		server = fanout_server_key(req->drv->name, req->export, req->opts.canonical);
	r = fanout_gate_check(server);
	if (r < 0)
		return r;
	/* A missing or unsafe helper fails before anything is mounted for it. */
	r = req->drv->target == DRIVER_TARGET_FUSE_FD ? exec_check_binary(helper, NULL) : 0;
	if (r >= 0 && req->drv->target == DRIVER_TARGET_FUSE_FD) {
		r = mount_fuse(ctx, req, mp_fd, &dev, &mnt, &mine);
		if (r < 0)
			return r;
	}
	/* Marked with the share's hash: whatever the helper leaves running (ssh, the FUSE daemon)
	 * can be found and ended if this call dies (share_end_orphans()). */
	if (r >= 0)
		r = exec_run_helper((const char *const *)req->spec.argv, ctx->timeout_ms, 0,
				    req->hash,
				    req->drv->target == DRIVER_TARGET_FUSE_FD ? dev :
				    req->drv->target == DRIVER_TARGET_PROC_FD ? mp_fd : -1, &res);
	close_now(&dev); /* the helper serves its own copy of the connection */
	if (r < 0 && r != -ETIMEDOUT) {
		exec_result_done(&res);
		if (mnt >= 0)
			undo_mount(req, dfd, mnt);
		if (r == -ENOENT)
			return error_set(r, VOLMOUNT_ERR_UNAVAILABLE,
					 "cannot run helper '%s' for '%s': not installed (install the %s driver's helper package)",
					 helper, req->export, req->drv->name);
		if (r == -EACCES || r == -EPERM)
			return error_set(r, VOLMOUNT_ERR_PERM,
					 "cannot run helper '%s' for '%s': it must be a root-owned executable that only root can write (%s)",
					 helper, req->export, errno_str(r));
		return error_set(r, r == -EAGAIN ? VOLMOUNT_ERR_TEMPFAIL : VOLMOUNT_ERR_INTERNAL,
				 "cannot run helper '%s' for '%s': %s", helper, req->export,
				 errno_str(r));
	}
	failed = r == -ETIMEDOUT || !WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0;
	if (failed) {
		/* First end what the helper left running in other sessions (a daemon killing the
		 * group did not reach), so nothing can mount after the undo. */
		(void)exec_end_share(req->hash, EXEC_KILL_GRACE_MS);
		undo_mount(req, dfd, mnt);
		if (r == -ETIMEDOUT)
			r = error_set(-ETIMEDOUT, VOLMOUNT_ERR_TEMPFAIL,
				      "helper '%s' for '%s' did not finish within %u ms and was killed",
				      helper, req->export, ctx->timeout_ms);
		else
			r = error_set(-EIO, classify_helper_error(res.err),
				      "helper '%s' failed for '%s' (%s %d): %s", helper, req->export,
				      WIFEXITED(res.status) ? "exit" : "signal",
				      WIFEXITED(res.status) ? WEXITSTATUS(res.status) :
							      WTERMSIG(res.status),
				      res.err && res.err[0] ? res.err : "no message");
		exec_result_done(&res);
		fanout_gate_note(server, r, volmount_ctx_errkind(ctx), volmount_ctx_errmsg(ctx));
		return r;
	}
	exec_result_done(&res);

	/* Invariant 2: the helper's exit code proves nothing. */
	n = kview_at_in(dfd, req->leaf, req->mountpoint, &top);
	if (n == 1 && (mnt < 0 || top.mnt_id == mine) &&
	    strcmp(top.fstype, req->spec.fstype) == 0 && strcmp(top.source, req->spec.source) == 0) {
		*ret_id = top.mnt_id;
		kview_mount_done(&top);
		fanout_gate_note(server, 0, VOLMOUNT_ERR_NONE, NULL); /* the server answers */
		return 0;
	}
	if (n <= 0)
		r = error_set(-EIO, VOLMOUNT_ERR_IO,
			      "helper '%s' reported success for '%s', but nothing is mounted at '%s'",
			      helper, req->export, req->mountpoint);
	else
		r = error_set(-EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
			      "mount at '%s' did not verify: the kernel shows %d mount(s), the top one %s '%s', expected %s '%s'",
			      req->mountpoint, n, top.fstype, top.source, req->spec.fstype,
			      req->spec.source);
	kview_mount_done(&top);
	(void)exec_end_share(req->hash, EXEC_KILL_GRACE_MS);
	if (n > 0 || mnt >= 0)
		undo_mount(req, dfd, mnt);
	return r;
}

int share_end_orphans(struct volmount_ctx *ctx, const struct ledger_share *row,
		      const struct share_req *req)
{
	uint64_t top = 0;
	int n, obs;

	if (strcmp(row->state, LEDGER_PENDING) != 0 || !req->drv ||
	    req->drv->kind != DRIVER_KIND_HELPER)
		return 0;
	n = exec_end_share(row->hash, ctx->timeout_ms);
	if (n < 0)
		return error_set(n, VOLMOUNT_ERR_TEMPFAIL,
				 "a helper of share '%s' that an earlier call left running could not be ended (%s); not mounting it again now",
				 row->export, errno_str(n));
	if (n == 0)
		return 0;
	/* It may have mounted before it died (or served the mount volmount made); its FUSE
	 * daemon (marked too) is dead now, so the mount is of no use: take it away, and the
	 * caller's rules start from nothing. */
	obs = share_observe(ctx, row->mountpoint, row->mount_id, req, &top);
	if (obs < 0)
		return obs;
	if (obs == OBS_OURS || obs == OBS_MATCH)
		return share_unmount_force(ctx, row->mountpoint, top, true);
	return 0;
}

/*
 * share_mount() in the mountpoint's parent directory @dfd, opened by open_parent_dir(): the
 * mountpoint is opened once, checked on that fd (check_mountpoint_fd()), and mounted on that
 * same fd, so nothing swapped in after the check can be mounted over.
 */
int share_mount_at(struct volmount_ctx *ctx, const struct share_req *req, int dfd,
			  uint64_t *ret_mount_id)
{
	_cleanup_close_ int mp_fd = -EBADF, tree = -EBADF;
	uint64_t mine = 0, top_id = 0;
	int r, obs;

	mp_fd = open_mountpoint(ctx, req, dfd);
	if (mp_fd == -ENOENT)
		return error_set(-ENOENT, VOLMOUNT_ERR_MOUNTPOINT,
				 "mountpoint '%s' has disappeared", req->mountpoint);
	if (mp_fd < 0)
		return mp_fd;
	r = check_mountpoint_fd(ctx, req, dfd, mp_fd);
	if (r < 0)
		return r;
	if (share_test_before_mount)
		share_test_before_mount(req->mountpoint);
	if (req->drv->kind == DRIVER_KIND_HELPER)
		return mount_helper(ctx, req, dfd, mp_fd, ret_mount_id);
	r = mount_bind(ctx, req, mp_fd, &tree);
	if (r < 0)
		return r;
	if (share_test_before_verify)
		share_test_before_verify(req->mountpoint);
	/* Verify (invariant 2): the mount we made is the only one at the mountpoint. */
	r = kview_id_of_fd(tree, &mine);
	if (r < 0) {
		undo_mount(req, dfd, tree);
		return error_set(r, VOLMOUNT_ERR_IO, "cannot identify the new mount at '%s': %s",
				 req->mountpoint, errno_str(r));
	}
	obs = observe_at(ctx, dfd, req->leaf, req->mountpoint, mine, req, &top_id);
	if (obs != OBS_OURS) {
		/* Take ours away, wherever it is; touch nothing else. */
		undo_mount(req, dfd, tree);
		if (obs < 0)
			return obs; /* observe_at() said why */
		return error_set(-EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
				 "mount at '%s' did not verify (%s); refusing to keep it",
				 req->mountpoint, obs == OBS_STACKED ? "stacked mounts" : "not ours");
	}
	*ret_mount_id = mine;
	return 0;
}

int share_mount(struct volmount_ctx *ctx, const struct share_req *req, uint64_t *ret_mount_id)
{
	_cleanup_close_ int dfd = -EBADF;

	dfd = open_parent_dir(ctx, req, false);
	if (dfd < 0)
		return dfd;
	return share_mount_at(ctx, req, dfd, ret_mount_id);
}

int share_unmount(struct volmount_ctx *ctx, const char *mountpoint, uint64_t mount_id)
{
	return share_unmount_force(ctx, mountpoint, mount_id, false);
}

#define UNMOUNT_TRIES 5

struct unmount_gone {
	struct volmount_ctx *ctx;
	int dfd;
	const char *leaf, *mountpoint;
	uint64_t mount_id;
};

/* exec_umount()'s question: has our mount left the mountpoint? */
static int unmount_gone(void *arg)
{
	struct unmount_gone *g = arg;
	uint64_t top = 0;
	int obs = observe_at(g->ctx, g->dfd, g->leaf, g->mountpoint, g->mount_id, NULL, &top);

	return obs >= 0 && obs != OBS_OURS;
}

int share_unmount_force(struct volmount_ctx *ctx, const char *mountpoint, uint64_t mount_id,
			bool force)
{
	_cleanup_close_ int dfd = -EBADF;
	struct pinned_name pn;
	const char *leaf = NULL, *at = mountpoint;
	uint64_t top = 0;
	int obs, r = 0;

	/* Look, unmount and look again from one pinned directory: what is verified is what is
	 * unmounted (by name only for a mountpoint outside the base, which no row has). */
	dfd = mp_parent_open(ctx, mountpoint, &leaf);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0 && dfd != -EXDEV)
		return dfd;
	if (dfd >= 0)
		at = pinned_name(&pn, dfd, leaf);
	obs = observe_at(ctx, dfd, leaf, mountpoint, mount_id, NULL, &top);
	if (obs < 0)
		return obs;
	if (obs == OBS_NONE)
		return 0;
	if (obs != OBS_OURS)
		/* Stacked, or not ours: never unmount what we cannot prove is ours. */
		return error_set(-EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
				 "mountpoint '%s' holds %s; not unmounting it", mountpoint,
				 obs == OBS_STACKED ? "stacked mounts" : "a mount volmount did not make");
	for (int i = 0; i < (force ? UNMOUNT_TRIES : 1); i++) {
		struct unmount_gone g = { ctx, dfd, leaf, mountpoint, mount_id };

		/* A hung FUSE mount needs MNT_FORCE (it aborts the connection); EBUSY from
		 * callers stuck in a dead mount clears once the abort releases them. A stale or
		 * hung mount is unmounted by a child we can leave: dropping the last NFSv4 mount
		 * of a dead server blocks whoever does it in the client's teardown, for minutes,
		 * after the mount has left the table (seen in tests/vm: umount2 right after the
		 * server died). */
		if (force)
			r = exec_umount(dfd >= 0 ? dfd : -1, dfd >= 0 ? leaf : mountpoint,
					UMOUNT_NOFOLLOW | MNT_FORCE, ctx->timeout_ms, unmount_gone, &g);
		else
			r = umount2(at, UMOUNT_NOFOLLOW) < 0 ? -errno : 0;
		if (r != -EBUSY)
			break;
		if (force)
			sleep_ms(100u << i);
	}
	/* EINVAL: not a mountpoint (any more). A FUSE daemon may have unmounted itself between
	 * our look and the call (sshfs does, some seconds into a partition): the verification
	 * below decides, not the errno. */
	if (r < 0 && r != -EINVAL)
		return error_set(r, r == -EBUSY ? VOLMOUNT_ERR_TEMPFAIL : VOLMOUNT_ERR_IO,
				 "cannot unmount '%s': %s", mountpoint, errno_str(r));
	/* Verify (CWE-691): it is gone before anyone mounts there again. */
	obs = observe_at(ctx, dfd, leaf, mountpoint, mount_id, NULL, &top);
	if (obs < 0)
		return obs;
	if (obs == OBS_OURS)
		return error_set(-EBUSY, VOLMOUNT_ERR_IO, "'%s' is still mounted after unmount",
				 mountpoint);
	return 0;
}

int share_remount(struct volmount_ctx *ctx, const struct ledger_share *row,
		  const struct share_req *req, bool record, uint64_t *ret_id)
{
	uint64_t id = 0;
	int r;

	/* The recorded mount is gone: forget its id before mounting again, so a crash between
	 * the mount and the record leaves a row that cannot vouch for the wrong mount (the new
	 * one is then recognised by what it is, as after any crash). */
	if (strcmp(row->state, LEDGER_PENDING) != 0 || row->mount_id != 0) {
		r = ledger_share_set(ctx->ledger, row->hash, LEDGER_PENDING, 0);
		if (r < 0)
			return r;
	}
	r = share_mount(ctx, req, &id);
	if (r >= 0 && record)
		r = ledger_share_set(ctx->ledger, row->hash, LEDGER_MOUNTED, id);
	if (r >= 0)
		*ret_id = id;
	return r;
}

/*
 * Repair of a share with attachments whose mount is ours but stale or hung: unmount it (with
 * MNT_FORCE, bounded retries), verify it is gone, mount again, verify, record.
 */
int share_probe_heal(struct volmount_ctx *ctx, const struct ledger_share *row,
		     struct share_req *req, uint64_t top, struct volmount_report *rep)
{
	int err;
	enum health h = probe_one(ctx, row->mountpoint, &err);

	return share_heal_verdict(ctx, row, req, top, h, err, rep);
}

int share_heal_verdict(struct volmount_ctx *ctx, const struct ledger_share *row,
		       struct share_req *req, uint64_t top, enum health h, int err,
		       struct volmount_report *rep)
{
	int r;

	if (h == HEALTH_OK || h == HEALTH_UNPROBED)
		return (int)h;
	r = share_remount_unhealthy(ctx, row, req, top, h, err, rep);
	return r < 0 ? r : (int)h;
}

int share_remount_unhealthy(struct volmount_ctx *ctx, const struct ledger_share *row,
			     struct share_req *req, uint64_t top, enum health h, int err,
			     struct volmount_report *rep)
{
	uint64_t id = 0;
	int r;

	/* The row stops vouching for the mount before it goes: a warm attach (attach.c, design
	 * note 7, no share lock) that checks the row from here on takes the general path and
	 * waits for this repair, instead of joining a share about to be unmounted and perhaps
	 * not mounted again. If the unmount fails, the mount stays, and so does the row. */
	r = ledger_share_set(ctx->ledger, row->hash, LEDGER_PENDING, 0);
	if (r < 0)
		return r;
	if (share_test_before_unmount)
		share_test_before_unmount(row->mountpoint);
	r = share_unmount_force(ctx, row->mountpoint, top, true);
	exec_reap_stragglers(); /* the abort released any probe stuck in the old mount */
	if (r < 0) {
		int k = ledger_share_set(ctx->ledger, row->hash, row->state, row->mount_id);

		return k < 0 ? k : r;
	}
	r = share_remount(ctx, row, req, true, &id);
	if (r < 0)
		return r;
	return report_add(rep, row->mountpoint, "repaired",
			  "'%s' was %s (%s); unmounted, mounted again as mount id %llu", row->export,
			  h == HEALTH_HUNG ? "hung" : "stale", errno_str(err), (unsigned long long)id);
}
