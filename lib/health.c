/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * health.c - never hang, always heal: liveness probes, repair and garbage collection.
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "exec.h"
#include "internal.h"
#include "ledger.h"
#include "lock.h"
#include "util/cleanup.h"

/* Without the probe worker (exec_probe_statfs_many() -EOPNOTSUPP): at most this many
 * single-path probes in flight at once (the executor has 64 slots in all). */
#define PROBE_PARALLEL 32

struct probe_job {
	const char *path;
	unsigned timeout_ms;
	int r;
	long us;
};

static void *probe_thread(void *arg)
{
	struct probe_job *j = arg;

	j->us = -1;
	j->r = exec_probe_statfs(j->path, j->timeout_ms, &j->us);
	if (j->r == -EAGAIN)
		j->r = EXEC_PROBE_NOT_RUN; /* no executor slot: not probed, not stale */
	return NULL;
}

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

/* The fallback: single-path probes in batches (one deadline per batch). */
static void probe_batches(struct volmount_ctx *ctx, const char *const *paths, size_t n, int *r,
			  long *us)
{
	struct probe_job jobs[PROBE_PARALLEL];
	pthread_t tids[PROBE_PARALLEL];

	for (size_t base = 0; base < n; base += PROBE_PARALLEL) {
		size_t m = n - base < PROBE_PARALLEL ? n - base : PROBE_PARALLEL;
		bool started[PROBE_PARALLEL] = { false };

		for (size_t i = 0; i < m; i++) {
			jobs[i] = (struct probe_job){ .path = paths[base + i],
						      .timeout_ms = ctx->probe_timeout_ms };
			started[i] = pthread_create(&tids[i], NULL, probe_thread, &jobs[i]) == 0;
			if (!started[i])
				probe_thread(&jobs[i]); /* no thread: probe inline, still bounded */
		}
		for (size_t i = 0; i < m; i++) {
			if (started[i])
				(void)pthread_join(tids[i], NULL); /* bounded: the probe has a deadline */
			r[base + i] = jobs[i].r;
			us[base + i] = jobs[i].us;
		}
	}
}

int health_probe_many(struct volmount_ctx *ctx, const char *const *paths, size_t n,
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
	k = exec_probe_statfs_many(paths, n, ctx->probe_timeout_ms, r, us);
	if (k == -EOPNOTSUPP)
		probe_batches(ctx, paths, n, r, us);
	else if (k < 0)
		for (size_t i = 0; i < n; i++)
			r[i] = EXEC_PROBE_NOT_RUN;
	for (size_t i = 0; i < n; i++)
		probe_verdict(r[i], us[i], &ret_health[i], &ret_errno[i], &ret_us[i]);
	return 0;
}

/* ---- repair ---- */

VOLMOUNT_EXPORT int volmount_repair(struct volmount_ctx *ctx, struct volmount_report **ret_report)
{
	struct volmount_report *rep = NULL;
	struct ledger_share *rows = NULL;
	struct first_failure failed = {};
	size_t n = 0;
	int r;

	r = report_begin(ctx, &rep);
	if (r < 0)
		return r;
	ctx_db_lock(ctx);
	r = ledger_shares_list(ctx->ledger, &rows, &n);
	ctx_db_unlock(ctx);
	if (r < 0) {
		volmount_report_free(rep);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		r = host_repair_share(ctx, rows[i].hash, rep);
		if (r == -ENOMEM)
			break;
		if (r < 0)
			(void)report_failed(ctx, rep, rows[i].mountpoint, r, &failed);
		r = 0;
	}
	ledger_shares_free(rows, n);
	if (r < 0) {
		volmount_report_free(rep);
		return r;
	}
	if (ret_report)
		*ret_report = rep;
	else
		volmount_report_free(rep);
	/* The first failure's kind, not always 74: a busy share is 75 here as in detach and
	 * host-up. */
	return first_failure_result(
		ctx, &failed, "repair could not bring every share to health (see the report)");
}

/* ---- gc ---- */

static bool is_hex_name(const char *name, size_t len)
{
	return strlen(name) == len && strspn(name, "0123456789abcdef") == len;
}

static bool owned(const struct ledger_share *rows, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].mountpoint, path) == 0)
			return true;
	return false;
}

/*
 * One candidate mountpoint directory (<base>/<driver>/<sha256> or, with the nova scheme,
 * <base>/<md5>): removed only if no row owns it, nothing is mounted there, and it is an
 * empty directory. The caller holds the exclusive host lock, so no attach can be creating it.
 */
static int gc_entry(struct volmount_ctx *ctx, int dfd, const char *path, const char *name,
		    const struct ledger_share *rows, size_t n_rows, struct volmount_report *rep)
{
	struct stat st;
	int n, r;

	if (owned(rows, n_rows, path))
		return 0;
	n = kview_at(path, NULL);
	if (n != 0)
		return report_add(rep, path, n > 0 ? "foreign" : "failed", "%s",
				  n > 0 ? "something is mounted here that no share owns; left untouched" :
					  strerror(-n));
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return report_add(rep, path, "unknown", "not a directory; left untouched");
	r = unlinkat(dfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
	if (r == -ENOTEMPTY || r == -EEXIST)
		return report_add(rep, path, "kept", "not empty; left untouched");
	if (r < 0)
		return report_add(rep, path, "failed", "%s", strerror(-r));
	return report_add(rep, path, "removed", "leftover directory no share owns");
}

/* Every entry of the directory @fd (@dpath); candidates are names of @hexlen hex digits. */
static int gc_dir(struct volmount_ctx *ctx, int fd, const char *dpath, size_t hexlen,
		  const struct ledger_share *rows, size_t n_rows, struct volmount_report *rep)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;
	int r = 0;

	if (!d) {
		r = -errno;
		(void)close(fd);
		return report_add(rep, dpath, "failed", "cannot read: %s", strerror(-r));
	}
	/* readdir lists names only; it never enters a mount. */
	while (r >= 0 && (e = readdir(d))) {
		_cleanup_free_ char *path = NULL;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (hexlen != 64 && driver_find(e->d_name))
			continue; /* a driver directory of the other scheme: not a leftover */
		if (asprintf(&path, "%s/%s", dpath, e->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		if (!is_hex_name(e->d_name, hexlen))
			r = hexlen == 64 || !owned(rows, n_rows, path) ?
				    report_add(rep, path, "unknown",
					       "not a name volmount gives a mountpoint; left untouched") :
				    0;
		else
			r = gc_entry(ctx, dirfd(d), path, e->d_name, rows, n_rows, rep);
	}
	(void)closedir(d);
	return r;
}

VOLMOUNT_EXPORT int volmount_gc(struct volmount_ctx *ctx, struct volmount_report **ret_report)
{
	struct volmount_report *rep = NULL;
	struct ledger_share *rows = NULL;
	size_t n_rows = 0;
	DIR *base = NULL;
	struct dirent *de;
	int host_fd, fd, r;

	r = report_begin(ctx, &rep);
	if (r < 0)
		return r;
	/* Exclusive: gc is rare, and with every attach drained no directory it sees can be one
	 * an attach is creating right now. */
	host_fd = lock_host(ctx, true, now_ms() + ctx->timeout_ms);
	if (host_fd < 0) {
		volmount_report_free(rep);
		return host_fd;
	}
	ctx_db_lock(ctx);
	r = ledger_shares_list(ctx->ledger, &rows, &n_rows);
	ctx_db_unlock(ctx);
	fd = r < 0 ? -1 : openat(ctx->base_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r >= 0 && fd < 0)
		r = ctx_error(ctx, -errno, VOLMOUNT_ERR_IO, "cannot read '%s': %s", ctx_base(ctx),
			      strerror(errno));
	if (r >= 0 && ctx->path_scheme == VOLMOUNT_PATH_SCHEME_NOVA) {
		/* <base>/<md5>: the base itself holds the mountpoints. */
		r = gc_dir(ctx, fd, ctx_base(ctx), 32, rows, n_rows, rep);
		fd = -1;
	}
	if (r >= 0 && fd >= 0) {
		base = fdopendir(fd);
		if (!base) {
			r = -errno;
			(void)close(fd);
		}
	}
	while (r >= 0 && base && (de = readdir(base))) {
		_cleanup_free_ char *dpath = NULL;
		int dfd;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (asprintf(&dpath, "%s/%s", ctx_base(ctx), de->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		if (!driver_find(de->d_name)) {
			r = report_add(rep, dpath, "unknown",
				       "not a driver directory of volmount; left untouched");
			continue;
		}
		/* The driver directory itself is never a mount; its entries may be. */
		dfd = openat(ctx->base_fd, de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0) {
			r = report_add(rep, dpath, "failed", "cannot read: %s", strerror(errno));
			continue;
		}
		r = gc_dir(ctx, dfd, dpath, 64, rows, n_rows, rep);
	}
	if (base)
		(void)closedir(base);
	lock_release(host_fd);
	ledger_shares_free(rows, n_rows);
	if (r < 0) {
		volmount_report_free(rep);
		return r;
	}
	if (ret_report)
		*ret_report = rep;
	else
		volmount_report_free(rep);
	return 0;
}
