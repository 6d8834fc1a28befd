/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mountpoint.c - the directories: the pinned parent of a mountpoint, the mountpoint checked on
 * the fd that will be mounted on, mkdir and rmdir, and what the kernel shows there
 * (share_observe()).
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

#include "engine/mountpoint.h"
#include "engine/request.h"
#include "internal.h"
#include "kview.h"
#include "ledger.h"
#include "cleanup.h"
#include "errno-util.h"

void (*share_test_after_check)(const char *mountpoint);

void (*share_test_before_mount)(const char *mountpoint);

void (*share_test_before_verify)(const char *mountpoint);

void (*share_test_before_unmount)(const char *mountpoint);

/* @mountpoint as <base>/<sub>/<leaf> (sub "." with the nova scheme): -EXDEV if it is not. */
static int mp_split(struct volmount_ctx *ctx, const char *mountpoint, char sub[NAME_MAX + 1],
		    const char **ret_leaf)
{
	const char *base = ctx_base(ctx), *rest, *slash;
	size_t bl = strlen(base);

	if (ctx->base_fd < 0 || strncmp(mountpoint, base, bl) != 0 || mountpoint[bl] != '/')
		return -EXDEV;
	strcpy(sub, ".");
	rest = mountpoint + bl + 1;
	slash = strchr(rest, '/');
	if (slash) {
		if (strchr(slash + 1, '/') || slash == rest || (size_t)(slash - rest) > NAME_MAX)
			return -EXDEV;
		memcpy(sub, rest, (size_t)(slash - rest));
		sub[slash - rest] = '\0';
		rest = slash + 1;
	}
	if (!*rest)
		return -EXDEV;
	*ret_leaf = rest;
	return 0;
}

/* The directory @sub of the base, opened and checked as mp_parent_open() says. */
static int mp_dir_open(struct volmount_ctx *ctx, const char *sub, const char *mountpoint)
{
	struct stat st;
	int fd;

	fd = openat(ctx->base_fd, sub, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		return error_set(-errno, VOLMOUNT_ERR_MOUNTPOINT,
				 "cannot open the directory of mountpoint '%s': %s%s", mountpoint,
				 errno_str(errno),
				 errno == ELOOP || errno == ENOTDIR ?
					 " (it has been replaced by a symlink or a non-directory)" : "");
	}
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 0022)) {
		(void)close(fd);
		return error_set(-EPERM, VOLMOUNT_ERR_PERM,
				 "the directory of mountpoint '%s' must be owned by uid %u and not writable by group or others",
				 mountpoint, (unsigned)geteuid());
	}
	return fd;
}

/*
 * The directory that holds @mountpoint, one of ours (<base>/<driver>/<leaf>, or <base>/<leaf>
 * with the nova scheme), opened from the pinned base directory without following a symlink
 * and checked like open_parent_dir() does; *ret_leaf points into @mountpoint. Everything that
 * looks at or unmounts a mountpoint starts from this fd, so no name above the leaf is looked up
 * again. Returns the fd, -ENOENT (no such directory: nothing can be mounted there; no error
 * recorded), -EXDEV (not a mountpoint of this base; no error recorded), or another error.
 */
int mp_parent_open(struct volmount_ctx *ctx, const char *mountpoint, const char **ret_leaf)
{
	char sub[NAME_MAX + 1];
	int r = mp_split(ctx, mountpoint, sub, ret_leaf);

	return r < 0 ? r : mp_dir_open(ctx, sub, mountpoint);
}

/* share_observe() at the entry @leaf of the pinned directory @dfd (or by name if @dfd < 0). */
int observe_at(struct volmount_ctx *ctx, int dfd, const char *leaf, const char *mountpoint,
		      uint64_t recorded_id, const struct share_req *req, uint64_t *ret_id)
{
	struct kview_mount top = {};
	uint64_t top_id = 0;
	int n, m;

	/* From ids alone (the cheap statmount): nothing, stacked, or exactly what we recorded. */
	n = dfd >= 0 ? kview_at_id_in(dfd, leaf, mountpoint, &top_id) :
		       kview_at_id(mountpoint, &top_id);
	if (n > 1 || (n == 1 && recorded_id != 0 && top_id == recorded_id) || (n == 1 && !req)) {
		if (ret_id)
			*ret_id = top_id;
		return n > 1 ? OBS_STACKED : top_id == recorded_id ? OBS_OURS : OBS_FOREIGN;
	}
	/* A mount we have no id for: whether it is what the driver makes needs all of it. */
	if (n == 1)
		n = dfd >= 0 ? kview_at_in(dfd, leaf, mountpoint, &top) : kview_at(mountpoint, &top);
	if (n < 0)
		return error_set(n, n == -ELOOP ? VOLMOUNT_ERR_MOUNTPOINT : VOLMOUNT_ERR_INTERNAL,
				 "cannot inspect mountpoint '%s': %s", mountpoint,
				 n == -ELOOP ? "it is a symlink" : errno_str(n));
	if (ret_id)
		*ret_id = n > 0 ? top.mnt_id : 0;
	if (n == 0)
		return OBS_NONE;
	if (n > 1) {
		kview_mount_done(&top); /* stacked since the first look */
		return OBS_STACKED;
	}
	if (recorded_id != 0 && top.mnt_id == recorded_id) {
		kview_mount_done(&top); /* remounted since the first look: ours */
		return OBS_OURS;
	}
	m = share_matches(req, &top);
	kview_mount_done(&top);
	return m > 0 ? OBS_MATCH : OBS_FOREIGN;
}

void mp_dirs_done(struct mp_dirs *d)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->dir[i].fd >= 0)
			(void)close(d->dir[i].fd);
	d->n = 0;
}

int share_observe_cached(struct volmount_ctx *ctx, struct mp_dirs *dirs, const char *mountpoint,
			 uint64_t recorded_id)
{
	char sub[NAME_MAX + 1];
	const char *leaf = NULL;
	uint64_t top_id = 0;
	size_t i;
	int n, r = mp_split(ctx, mountpoint, sub, &leaf);

	if (r < 0)
		return share_observe(ctx, mountpoint, recorded_id, NULL, NULL); /* not one of ours */
	for (i = 0; i < dirs->n && strcmp(dirs->dir[i].sub, sub) != 0; i++)
		;
	if (i == dirs->n) {
		if (i == ELEMENTSOF(dirs->dir))
			return share_observe(ctx, mountpoint, recorded_id, NULL, NULL);
		dirs->dir[i] = (struct mp_dir){ .fd = mp_dir_open(ctx, sub, mountpoint) };
		strcpy(dirs->dir[i].sub, sub);
		if (dirs->dir[i].fd >= 0) {
			r = kview_id_of_fd(dirs->dir[i].fd, &dirs->dir[i].mnt_id);
			if (r < 0)
				dirs->dir[i].mnt_id = 0; /* kview_at_id_under() then looks itself */
		}
		dirs->n++;
	}
	if (dirs->dir[i].fd == -ENOENT)
		return OBS_NONE;
	if (dirs->dir[i].fd < 0)
		return dirs->dir[i].fd;
	/* observe_at() without a request, from ids alone, the directory looked at once. */
	n = kview_at_id_under(dirs->dir[i].fd, dirs->dir[i].mnt_id, leaf, mountpoint, &top_id);
	if (n < 0)
		return error_set(n, n == -ELOOP ? VOLMOUNT_ERR_MOUNTPOINT : VOLMOUNT_ERR_INTERNAL,
				 "cannot inspect mountpoint '%s': %s", mountpoint,
				 n == -ELOOP ? "it is a symlink" : errno_str(n));
	if (n == 0)
		return OBS_NONE;
	if (n > 1)
		return OBS_STACKED;
	return recorded_id != 0 && top_id == recorded_id ? OBS_OURS : OBS_FOREIGN;
}

int share_observe(struct volmount_ctx *ctx, const char *mountpoint, uint64_t recorded_id,
		  const struct share_req *req, uint64_t *ret_id)
{
	_cleanup_close_ int dfd = -EBADF;
	const char *leaf = NULL;

	dfd = mp_parent_open(ctx, mountpoint, &leaf);
	if (dfd == -ENOENT) {
		if (ret_id)
			*ret_id = 0;
		return OBS_NONE;
	}
	if (dfd < 0 && dfd != -EXDEV)
		return dfd;
	return observe_at(ctx, dfd, leaf, mountpoint, recorded_id, req, ret_id);
}

/*
 * Open the directory that holds @req's mountpoint: <base>/<driver> (created 0755 with
 * @create), or with the nova scheme the base itself. Either way it must be ours and not
 * writable by group or others (CWE-732): whoever can write there could swap a mountpoint
 * between check and mount.
 */
int open_parent_dir(struct volmount_ctx *ctx, const struct share_req *req, bool create)
{
	const char *sub = req->subdir ? req->subdir : ".";
	const char *sep = req->subdir ? "/" : "";
	struct stat st;
	int fd;

	fd = openat(ctx->base_fd, sub, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create && req->subdir) {
		if (mkdirat(ctx->base_fd, sub, 0755) < 0 && errno != EEXIST)
			return error_set(-errno, VOLMOUNT_ERR_MOUNTPOINT,
					 "cannot create '%s/%s': %s",
					 ctx_base(ctx), sub, errno_str(errno));
		fd = openat(ctx->base_fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && fchmod(fd, 0755) < 0) {
			(void)close(fd);
			return error_set(-errno, VOLMOUNT_ERR_PERM, "cannot chmod '%s/%s'",
					 ctx_base(ctx), sub);
		}
	}
	if (fd < 0)
		return error_set(-errno, VOLMOUNT_ERR_MOUNTPOINT,
				 "cannot open '%s%s%s': %s%s", ctx_base(ctx), sep,
				 req->subdir ? req->subdir : "", errno_str(errno),
				 errno == ELOOP || errno == ENOTDIR ? " (a symlink or not a directory)" : "");
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 0022)) {
		int r = errno ? -errno : -EPERM;

		(void)close(fd);
		return error_set(r == -EBADF ? r : -EPERM, VOLMOUNT_ERR_PERM,
				 "'%s%s%s' must be owned by uid %u and not writable by group or others",
				 ctx_base(ctx), sep, req->subdir ? req->subdir : "",
				 (unsigned)geteuid());
	}
	return fd;
}

/* The mountpoint's parent directory if it exists (-ENOENT if not, with no error recorded). */
int parent_dir_if_any(struct volmount_ctx *ctx, const struct share_req *req)
{
	int dfd = open_parent_dir(ctx, req, false);

	if (dfd == -ENOENT)
		error_clear();
	return dfd;
}

const char *pinned_name(struct pinned_name *p, int dfd, const char *leaf)
{
	(void)snprintf(p->s, sizeof(p->s), "/proc/self/fd/%d/%s", dfd, leaf);
	return p->s;
}

/* Does the directory @fd hold nothing but "." and ".."? Reads through @fd itself. */
static int dir_is_empty(int fd)
{
	char buf[512] __attribute__((aligned(8)));
	long n;

	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < n;) {
			const struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *de = (const void *)(buf + off);

			if (strcmp(de->name, ".") != 0 && strcmp(de->name, "..") != 0)
				return 0;
			off += de->reclen;
		}
	return n < 0 ? -errno : 1;
}

/*
 * The checks of a mountpoint directory, on the fd @fd (opened O_RDONLY|O_DIRECTORY|O_NOFOLLOW
 * in the pinned directory @dfd) that will then be mounted on: nothing mounted on it (its mount
 * is @dfd's), empty, and ours (root-owned 0700, taken over on the fd if it was not).
 */
int check_mountpoint_fd(struct volmount_ctx *ctx, const struct share_req *req, int dfd,
			       int fd)
{
	uint64_t here = 0, parent = 0;
	struct stat st;
	int r;

	r = kview_id_of_fd(fd, &here);
	if (r >= 0)
		r = kview_id_of_fd(dfd, &parent);
	if (r < 0)
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "cannot inspect mountpoint '%s': %s",
				 req->mountpoint, errno_str(r));
	if (here != parent)
		return error_set(-EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
				 "mountpoint '%s' is already a mountpoint of something else; refusing to mount over it",
				 req->mountpoint);
	r = dir_is_empty(fd);
	if (r < 0)
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "cannot read '%s': %s",
				 req->mountpoint, errno_str(r));
	if (r == 0)
		return error_set(-ENOTEMPTY, VOLMOUNT_ERR_MOUNTPOINT,
				 "mountpoint '%s' is not empty; refusing to mount over it",
				 req->mountpoint);
	/* An existing empty directory (a leftover, or planted) is only used once it is ours:
	 * root-owned 0700, set on the fd we checked. */
	if (fstat(fd, &st) < 0)
		return error_set(-errno, VOLMOUNT_ERR_INTERNAL, "cannot inspect '%s': %s",
				 req->mountpoint, errno_str(errno));
	if ((st.st_uid != geteuid() || st.st_gid != getegid() || (st.st_mode & 07777) != 0700) &&
	    (fchown(fd, geteuid(), getegid()) < 0 || fchmod(fd, 0700) < 0))
		return error_set(-errno, VOLMOUNT_ERR_PERM,
				 "cannot take over mountpoint directory '%s': %s", req->mountpoint,
				 errno_str(errno));
	return 0;
}

/* Open the mountpoint directory in @dfd for check_mountpoint_fd() and the mount. */
int open_mountpoint(struct volmount_ctx *ctx, const struct share_req *req, int dfd)
{
	int fd = openat(dfd, req->leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno != ENOENT)
		return error_set(-errno, VOLMOUNT_ERR_MOUNTPOINT, "mountpoint '%s' %s",
				 req->mountpoint,
				 errno == ELOOP || errno == ENOTDIR ? "is a symlink or not a directory" :
								      errno_str(errno));
	return fd < 0 ? -ENOENT : fd;
}

/* share_check_mountpoint() with the parent directory @dfd open, or -ENOENT if it is missing. */
int check_mountpoint_at(struct volmount_ctx *ctx, const struct share_req *req, int dfd,
			       bool *ret_exists)
{
	_cleanup_close_ int fd = -EBADF;
	struct kview_mount top = {};
	int n;

	if (dfd == -ENOENT) {
		*ret_exists = false;
		return 0;
	}
	n = kview_at_in(dfd, req->leaf, req->mountpoint, &top);
	if (n == -ELOOP)
		return error_set(-ELOOP, VOLMOUNT_ERR_MOUNTPOINT,
				 "mountpoint '%s' is a symlink; refusing to mount through it",
				 req->mountpoint);
	if (n < 0 && n != -ENOTDIR)
		return error_set(n, VOLMOUNT_ERR_INTERNAL, "cannot inspect mountpoint '%s': %s",
				 req->mountpoint, errno_str(n));
	if (n > 0) {
		int r = error_set(-EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
				  "mountpoint '%s' is already a mountpoint of something else (%s '%s'); refusing to mount over it",
				  req->mountpoint, top.fstype, top.source);

		kview_mount_done(&top);
		return r;
	}
	fd = open_mountpoint(ctx, req, dfd);
	if (fd == -ENOENT) {
		*ret_exists = false;
		return 0;
	}
	if (fd < 0)
		return fd;
	n = check_mountpoint_fd(ctx, req, dfd, fd);
	if (n < 0)
		return n;
	*ret_exists = true;
	return 0;
}

int share_check_mountpoint(struct volmount_ctx *ctx, const struct share_req *req,
			   bool *ret_exists)
{
	_cleanup_close_ int dfd = parent_dir_if_any(ctx, req);

	if (dfd < 0 && dfd != -ENOENT)
		return dfd;
	return check_mountpoint_at(ctx, req, dfd, ret_exists);
}

/*
 * mkdirat() honours the umask, which can only take bits away from 0700: the directory is never
 * more open than that, and check_mountpoint_fd(), which every mount runs on the fd it mounts
 * on, makes it exactly root's 0700 (saving an open, an fchmod, which writes the inode, and a
 * close per cold attach).
 */
int mkdir_at(struct volmount_ctx *ctx, const struct share_req *req, int dfd)
{
	if (mkdirat(dfd, req->leaf, 0700) < 0)
		return error_set(-errno, VOLMOUNT_ERR_MOUNTPOINT, "cannot create mountpoint '%s': %s",
				 req->mountpoint, errno_str(errno));
	return 0;
}

int share_mkdir(struct volmount_ctx *ctx, const struct share_req *req)
{
	_cleanup_close_ int dfd = -EBADF;

	dfd = open_parent_dir(ctx, req, true);
	if (dfd < 0)
		return dfd;
	return mkdir_at(ctx, req, dfd);
}

int share_forget(struct volmount_ctx *ctx, const struct ledger_share *row,
		 const struct share_req *req)
{
	int r = row->dir_created ? share_rmdir(ctx, req) : 0;

	return r < 0 ? r : ledger_share_delete(ctx->ledger, row->hash);
}

int share_rmdir(struct volmount_ctx *ctx, const struct share_req *req)
{
	_cleanup_close_ int dfd = -EBADF;

	dfd = openat(ctx->base_fd, req->subdir ? req->subdir : ".",
		     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT)
		return 0;
	if (dfd < 0)
		return error_set(-errno, VOLMOUNT_ERR_MOUNTPOINT,
				 "cannot remove mountpoint directory '%s': cannot open '%s%s%s': %s%s",
				 req->mountpoint, ctx_base(ctx), req->subdir ? "/" : "",
				 req->subdir ? req->subdir : "", errno_str(errno),
				 errno == ELOOP || errno == ENOTDIR ? " (a symlink or not a directory)" :
								      "");
	if (unlinkat(dfd, req->leaf, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return error_set(-errno, VOLMOUNT_ERR_MOUNTPOINT,
				 "cannot remove mountpoint directory '%s': %s", req->mountpoint,
				 errno_str(errno));
	return 0;
}
