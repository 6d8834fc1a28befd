/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gc.c - volmount_gc(): leftover mountpoint directories no share owns.
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

#include "engine/report.h"
#include "internal.h"
#include "kview.h"
#include "ledger.h"
#include "lock.h"
#include "cleanup.h"
#include "errno-util.h"

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
					  errno_str(n));
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return report_add(rep, path, "unknown", "not a directory; left untouched");
	r = unlinkat(dfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
	if (r == -ENOTEMPTY || r == -EEXIST)
		return report_add(rep, path, "kept", "not empty; left untouched");
	if (r < 0)
		return report_add(rep, path, "failed", "%s", errno_str(r));
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
		return report_add(rep, dpath, "failed", "cannot read: %s", errno_str(r));
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
	host_fd = lock_host(ctx->locks, true, now_ms() + ctx->timeout_ms);
	if (host_fd < 0) {
		volmount_report_free(rep);
		return host_fd;
	}
	r = ledger_shares_list(ctx->ledger, &rows, &n_rows);
	fd = r < 0 ? -1 : openat(ctx->base_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r >= 0 && fd < 0)
		r = error_set(-errno, VOLMOUNT_ERR_IO, "cannot read '%s': %s", ctx_base(ctx),
			      errno_str(errno));
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
			r = report_add(rep, dpath, "failed", "cannot read: %s", errno_str(errno));
			continue;
		}
		r = gc_dir(ctx, dfd, dpath, 64, rows, n_rows, rep);
	}
	if (base)
		(void)closedir(base);
	lock_release(host_fd);
	ledger_shares_free(rows, n_rows);
	return report_finish(rep, r, ret_report);
}
