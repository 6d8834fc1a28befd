/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * probe.c - never hang, always heal: liveness probes, repair and garbage collection.
 *
 * Design notes:
 * (1) The calling process never touches a path inside a mount. A probe is statfs() of the
 *     mount root in an executor child with a deadline; a child stuck in D state on a hung
 *     server is tracked by the executor and reaped later, never waited for.
 * (2) All shares of a call are probed at once by one executor worker against one deadline
 *     (exec_probe_statfs_many()), so hung servers cost one deadline in all, whatever their
 *     number, and never delay the verdict on healthy shares. A share the executor could not
 *     probe at all is "unprobed": never called stale or hung, never repaired on that ground.
 * (3) Repair takes the host lock shared and each share's own lock in turn, like attach: it
 *     never blocks attach/detach of other shares, and a share busy past the deadline is
 *     reported and skipped, not waited for without bound.
 * (4) A stale or hung mount is unmounted (UMOUNT_NOFOLLOW; MNT_FORCE, which aborts a FUSE
 *     connection, with bounded retries), verified gone, then mounted again and verified.
 *     Never "-o remount", never a lazy unmount while attachments exist. Foreign and stacked
 *     mounts are reported and never touched.
 * (5) gc removes only empty, unmounted directories at mountpoint names (<base>/<driver>/<sha256>,
 *     or <base>/<md5> with the nova scheme) that no ledger row owns, with attach and detach
 *     drained (exclusive host lock); anything else there is reported, never deleted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/probe.h"
#include "internal.h"
#include "exec.h"
#include "cleanup.h"

static void probe_verdict(int r, long us, enum health *h, int *err, int64_t *ret_us)
{
	*ret_us = r == 0 ? us : -1;
	if (r == 0) {
		*h = HEALTH_OK;
		*err = 0;
	} else if (r == EXEC_PROBE_NOT_RUN) {
		*h = HEALTH_UNPROBED;
		*err = 0;
	} else if (r == -ETIMEDOUT) {
		*h = HEALTH_HUNG;
		*err = ETIMEDOUT;
	} else {
		/* ENOTCONN, ESTALE, EIO, EHOSTDOWN, ECONNABORTED, ENODEV, EACCES... and anything
		 * else: a mount whose root cannot be statfs'ed is not healthy. */
		*h = HEALTH_STALE;
		*err = -r;
	}
}

static int probe_many_within(const char *const *paths, size_t n, unsigned timeout_ms,
			     enum health *ret_health, int *ret_errno, int64_t *ret_us);

enum health probe_one(struct volmount_ctx *ctx, const char *path, int *ret_err)
{
	return probe_one_within(ctx, path, ctx->probe_timeout_ms, ret_err);
}

enum health probe_one_within(struct volmount_ctx *ctx, const char *path, unsigned timeout_ms,
			     int *ret_err)
{
	enum health h = HEALTH_UNPROBED;
	int64_t us;

	(void)ctx;
	*ret_err = 0;
	(void)probe_many_within(&path, 1, timeout_ms, &h, ret_err, &us);
	return h;
}

int health_probe_many(struct volmount_ctx *ctx, const char *const *paths, size_t n,
		      enum health *ret_health, int *ret_errno, int64_t *ret_us)
{
	return probe_many_within(paths, n, ctx->probe_timeout_ms, ret_health, ret_errno, ret_us);
}

static int probe_many_within(const char *const *paths, size_t n, unsigned timeout_ms,
			     enum health *ret_health, int *ret_errno, int64_t *ret_us)
{
	_cleanup_free_ int *r = calloc(n ? n : 1, sizeof(*r));
	_cleanup_free_ long *us = calloc(n ? n : 1, sizeof(*us));
	int k;

	if (!r || !us) {
		for (size_t i = 0; i < n; i++)
			probe_verdict(EXEC_PROBE_NOT_RUN, -1, &ret_health[i], &ret_errno[i],
				      &ret_us[i]);
		return -ENOMEM;
	}
	/* Design note 2: one worker, one deadline for every path. */
	k = exec_probe_statfs_many(paths, n, timeout_ms, r, us);
	if (k < 0)
		for (size_t i = 0; i < n; i++)
			r[i] = EXEC_PROBE_NOT_RUN;
	for (size_t i = 0; i < n; i++)
		probe_verdict(r[i], us[i], &ret_health[i], &ret_errno[i], &ret_us[i]);
	return 0;
}
