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
 *
 *     (no row) --attach--> pending --mount+verify--> mounted --last detach--> unmounting
 *         ^                   |                                                   |
 *         +----rollback-------+-------------------unmount+rmdir-------------------+
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "exec.h"
#include "internal.h"
#include "ledger.h"
#include "lock.h"
#include "util/cleanup.h"

void share_req_done(struct share_req *req)
{
	if (!req)
		return;
	free(req->export);
	free(req->mountpoint);
	driver_opts_done(&req->opts);
	driver_mount_spec_done(&req->spec);
	if (req->src_fd >= 0)
		(void)close(req->src_fd);
	req->export = req->mountpoint = NULL;
	req->src_fd = -EBADF;
}

static bool path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Does @path contain, or lie inside, one of volmount's own directories? A consumer given a
 * device path there could reach the ledger or the lock files. Returns the directory or NULL. */
static const char *overlaps_own_dir(struct volmount_ctx *ctx, const char *path)
{
	const char *dirs[] = { ctx_base(ctx), ctx->paths[VOLMOUNT_PATH_STATE_DIR],
			       ctx->paths[VOLMOUNT_PATH_RUN_DIR] };

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
		if (path_is_under(path, dirs[i]) || path_is_under(dirs[i], path))
			return dirs[i];
	return NULL;
}

static int refuse_own_dir(struct volmount_ctx *ctx, const char *export)
{
	const char *own = overlaps_own_dir(ctx, export);

	if (own)
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT,
				 "export '%s' must not contain or be inside volmount's directory '%s'",
				 export, own);
	return 0;
}

/*
 * Bind: resolve symlinks in the parent directories (never in the last component), so that one
 * directory reached through two spellings is one share. When the parent does not exist, the
 * lexical form is kept (detach and path must still work after the source is gone).
 */
static int bind_resolve(struct volmount_ctx *ctx, struct share_req *req, bool open_source)
{
	char *slash = strrchr(req->export, '/');
	_cleanup_free_ char *parent = NULL, *resolved = NULL, *full = NULL;
	const char *own;
	int r = refuse_own_dir(ctx, req->export);

	if (r < 0)
		return r;
	{
		/* Fast path: if no component is a symlink, the lexically normalized export is
		 * already canonical, and one openat2() proves it (and opens the source we need
		 * anyway) where realpath() would lstat every component. */
		struct open_how how = {
			.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		int fd = (int)syscall(SYS_openat2, AT_FDCWD, req->export, &how, sizeof(how));

		if (fd >= 0) {
			if (open_source)
				req->src_fd = fd;
			else
				(void)close(fd);
			return 0;
		}
		/* ELOOP: a symlink somewhere (resolved below, or refused if it is the last
		 * component); ENOSYS on kernels before 5.6; anything else is judged below too. */
	}
	parent = strndup(req->export, (size_t)(slash - req->export));
	if (!parent)
		return -ENOMEM;
	resolved = realpath(parent[0] ? parent : "/", NULL);
	if (!resolved) {
		if (!open_source)
			return 0;
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT,
				 "export '%s': parent directory cannot be resolved: %s", req->export,
				 strerror(errno));
	}
	if (asprintf(&full, "%s/%s", strcmp(resolved, "/") == 0 ? "" : resolved, slash + 1) < 0)
		return -ENOMEM;
	if (strlen(full) > VOLMOUNT_EXPORT_MAX)
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT, "export '%s' resolves to a path that is too long",
				 req->export);
	own = overlaps_own_dir(ctx, full);
	if (own)
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT,
				 "export '%s' resolves to '%s', which contains or is inside volmount's directory '%s'",
				 req->export, full, own);
	free(req->export);
	req->export = TAKE_PTR(full);
	if (!open_source)
		return 0;
	req->src_fd = open(req->export, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (req->src_fd < 0) {
		r = -errno;
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT, "export '%s' %s", req->export,
				 r == -ELOOP ? "is a symlink" :
				 r == -ENOTDIR ? "is not a directory" :
				 r == -ENOENT ? "does not exist" : strerror(-r));
	}
	return 0;
}


/* <base>[/<subdir>]/<leaf> */
static int mountpoint_under(const char *base, const struct share_req *req, char **ret)
{
	return asprintf(ret, "%s/%s%s%s", base, req->subdir ? req->subdir : "",
			req->subdir ? "/" : "", req->leaf) < 0 ? -ENOMEM : 0;
}

/* (Re)place the named share's mountpoint under the context's base as it is now. */
static int share_req_place(struct volmount_ctx *ctx, struct share_req *req)
{
	char *mp = NULL;
	int r = mountpoint_under(ctx_base(ctx), req, &mp);

	if (r < 0)
		return r;
	free(req->mountpoint);
	req->mountpoint = mp;
	return 0;
}

int share_req_name(struct volmount_ctx *ctx, struct share_req *req)
{
	int r;

	r = share_hash(req->drv->name, req->export, req->hash);
	if (r >= 0 && ctx->path_scheme == VOLMOUNT_PATH_SCHEME_NOVA) {
		req->subdir = NULL;
		r = share_nova_name(req->export, req->leaf);
	} else if (r >= 0) {
		req->subdir = req->drv->name;
		memcpy(req->leaf, req->hash, sizeof(req->leaf));
	}
	if (r >= 0)
		r = share_req_place(ctx, req);
	if (r < 0)
		return r == -ENOMEM ? r :
		       ctx_error(ctx, r, VOLMOUNT_ERR_INTERNAL, "cannot name the share: %s",
				 strerror(-r));
	return 0;
}

/*
 * Requests are validated before the context is opened (invariant 6: a rejected request does
 * not even create volmount's own directories), so their mountpoint was named under the base
 * as configured. Once open, name it under the canonical base, and check the bind source
 * against volmount's directories again now that those are canonical too.
 */
static int share_req_rebase(struct volmount_ctx *ctx, struct share_req *req)
{
	int r = share_req_place(ctx, req); /* the hash and leaf do not depend on the base */

	if (r < 0 || req->drv->kind != DRIVER_KIND_BIND)
		return r;
	return refuse_own_dir(ctx, req->export);
}

/* Split a canonical "a,b,c" option string into a vector (no escaping: canonical options never
 * contain ','). */
static int split_options(const char *canonical, char **ret_buf, const char **vec, size_t cap,
			 size_t *ret_n)
{
	char *buf = strdup(canonical), *save = NULL;
	size_t n = 0;

	if (!buf)
		return -ENOMEM;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == cap) {
			free(buf);
			return -E2BIG;
		}
		vec[n++] = t;
	}
	*ret_buf = buf;
	*ret_n = n;
	return 0;
}

void (*share_test_after_check)(const char *mountpoint);
void (*share_test_before_mount)(const char *mountpoint);
void (*share_test_before_verify)(const char *mountpoint);

/* The name a helper is told to mount on: the mountpoint fd's stand-in (driver.h). */
static const char *helper_target(const struct share_req *req)
{
	switch (req->drv->target) {
	case DRIVER_TARGET_FUSE_FD:
		return "/dev/fd/3";
	case DRIVER_TARGET_PROC_FD:
		return "/proc/self/fd/3";
	case DRIVER_TARGET_NAME:
	default:
		return req->mountpoint;
	}
}

/* The helper's argv and the mount table entry it must produce. */
static int build_spec(struct volmount_ctx *ctx, struct share_req *req)
{
	const char *why = NULL;
	int r = req->drv->mount_spec(req->export, &req->opts, helper_target(req), &req->spec,
				     &why);

	if (r < 0)
		return r == -ENOMEM ? r :
		       ctx_error(ctx, r, VOLMOUNT_ERR_INPUT, "invalid %s share: %s", req->drv->name,
				 why ? why : strerror(-r));
	return 0;
}

/*
 * A credentials, identity or secret file (CWE-798): only ever passed to a helper as a path,
 * and only if it is a regular file owned by us (root) that nobody else can read or write.
 * Checked on the open fd, never following a symlink. Its contents are never read here.
 */
static int check_cred_file(struct volmount_ctx *ctx, const char *path)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int r = -errno;

		if (r == -ENOENT)
			return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT,
					 "credentials file '%s' does not exist", path);
		return ctx_error(ctx, r == -ELOOP ? -EPERM : r, VOLMOUNT_ERR_PERM,
				 "credentials file '%s' %s", path,
				 r == -ELOOP ? "is a symlink; refusing to follow it" : strerror(-r));
	}
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return ctx_error(ctx, -EPERM, VOLMOUNT_ERR_PERM,
				 "credentials file '%s' is not a regular file", path);
	if (st.st_uid != geteuid())
		return ctx_error(ctx, -EPERM, VOLMOUNT_ERR_PERM,
				 "credentials file '%s' is owned by uid %u, not by uid %u", path,
				 (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 0077)
		return ctx_error(ctx, -EPERM, VOLMOUNT_ERR_PERM,
				 "credentials file '%s' has mode %04o; it must be 0600 or stricter",
				 path, (unsigned)(st.st_mode & 07777));
	return 0;
}

int share_req_init(struct volmount_ctx *ctx, const char *driver, const char *export,
		   const char *const *opts, size_t n_opts, unsigned flags, struct share_req *ret)
{
	bool open_source = flags & SHARE_REQ_OPEN_SOURCE;
	struct share_req req = { .src_fd = -EBADF };
	const char *why = NULL;
	int r;

	req.drv = driver_find(driver);
	if (!req.drv)
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT, "unknown driver '%.64s'",
				 driver ? driver : "(null)");
	r = req.drv->normalize(export, &req.export, &why);
	if (r < 0)
		return r == -ENOMEM ? r :
		       ctx_error(ctx, r, VOLMOUNT_ERR_INPUT, "invalid %s export: %s", req.drv->name,
				 why);
	if (opts) {
		r = req.drv->options(opts, n_opts, &req.opts, &why);
		if (r < 0) {
			share_req_done(&req);
			return r == -ENOMEM ? r :
			       ctx_error(ctx, r, VOLMOUNT_ERR_INPUT, "invalid %s option: %s",
					 req.drv->name, why);
		}
	}
	if (req.drv->kind == DRIVER_KIND_BIND) {
		r = bind_resolve(ctx, &req, open_source);
		if (r < 0) {
			share_req_done(&req);
			return r;
		}
	}
	r = share_req_name(ctx, &req);
	if (r < 0) {
		share_req_done(&req);
		return r;
	}
	if (opts && req.drv->kind == DRIVER_KIND_HELPER) {
		r = build_spec(ctx, &req);
		if (r >= 0 && open_source && req.opts.cred_path)
			r = check_cred_file(ctx, req.opts.cred_path);
		if (r < 0) {
			share_req_done(&req);
			return r;
		}
	}
	*ret = req;
	return 0;
}

int share_req_load_options(struct volmount_ctx *ctx, struct share_req *req, const char *canonical)
{
	const char *vec[VOLMOUNT_OPTIONS_MAX];
	_cleanup_free_ char *buf = NULL;
	struct driver_opts o = {};
	const char *why = NULL;
	size_t n = 0;
	int r;

	r = split_options(canonical, &buf, vec, ELEMENTSOF(vec), &n);
	if (r >= 0)
		r = req->drv->options(vec, n, &o, &why);
	if (r < 0)
		return ctx_error(ctx, r, VOLMOUNT_ERR_INTERNAL, "share '%s': recorded options '%s' no longer parse: %s",
				 req->mountpoint, canonical, why ? why : strerror(-r));
	driver_opts_done(&req->opts);
	req->opts = o;
	if (req->drv->kind == DRIVER_KIND_HELPER) {
		driver_mount_spec_done(&req->spec);
		return build_spec(ctx, req);
	}
	return 0;
}

int share_req_from_row(struct volmount_ctx *ctx, const struct ledger_share *row,
		       struct share_req *ret)
{
	const char *vec[VOLMOUNT_OPTIONS_MAX];
	_cleanup_free_ char *buf = NULL;
	size_t n = 0;
	int r;

	r = split_options(row->options, &buf, vec, ELEMENTSOF(vec), &n);
	if (r < 0)
		return ctx_error(ctx, r, VOLMOUNT_ERR_INTERNAL, "share '%s': bad recorded options '%s'",
				 row->mountpoint, row->options);
	r = share_req_init(ctx, row->driver, row->export, vec, n, SHARE_REQ_OPEN_SOURCE, ret);
	if (r < 0)
		return r;
	if (strcmp(ret->hash, row->hash) != 0) {
		/* The export now resolves elsewhere (a parent symlink changed): not this share. */
		share_req_done(ret);
		return ctx_error(ctx, -ESTALE, VOLMOUNT_ERR_INPUT,
				 "export '%s' no longer resolves to share %s", row->export, row->hash);
	}
	return 0;
}

_Static_assert(KVIEW_ATTR_RDONLY == MOUNT_ATTR_RDONLY && KVIEW_ATTR_NOSUID == MOUNT_ATTR_NOSUID &&
		       KVIEW_ATTR_NODEV == MOUNT_ATTR_NODEV && KVIEW_ATTR_NOEXEC == MOUNT_ATTR_NOEXEC,
	       "kview's flags are MOUNT_ATTR_* bits");

static unsigned long attr_flags(unsigned long ms);

uint64_t share_attr_wanted(const struct share_req *req)
{
	return attr_flags(req->opts.flags) & SHARE_ATTR_CHECKED;
}

const char *share_attr_str(uint64_t attr, char *buf, size_t size)
{
	(void)snprintf(buf, size, "%s%s%s%s", attr & KVIEW_ATTR_RDONLY ? "ro" : "rw",
		       attr & KVIEW_ATTR_NOSUID ? ",nosuid" : "",
		       attr & KVIEW_ATTR_NODEV ? ",nodev" : "",
		       attr & KVIEW_ATTR_NOEXEC ? ",noexec" : "");
	return buf;
}

/* Type and source (bind: device, type and root of the open source), without the flags. */
static int share_matches_what(const struct share_req *req, const struct kview_mount *m)
{
	struct kview_mount src = {};
	_cleanup_free_ char *root = NULL;
	const char *rel;
	int r, match;

	if (req->drv->kind == DRIVER_KIND_HELPER)
		return req->spec.fstype && strcmp(m->fstype, req->spec.fstype) == 0 &&
		       strcmp(m->source, req->spec.source) == 0;
	if (req->src_fd < 0)
		return 0;
	r = kview_of_fd(req->src_fd, &src);
	if (r < 0)
		return r;
	rel = req->export;
	if (strcmp(src.mnt_point, "/") != 0)
		rel += strlen(src.mnt_point);
	if (asprintf(&root, "%s%s", strcmp(src.mnt_root, "/") == 0 && *rel ? "" : src.mnt_root,
		     rel) < 0) {
		kview_mount_done(&src);
		return -ENOMEM;
	}
	match = m->dev_major == src.dev_major && m->dev_minor == src.dev_minor &&
		strcmp(m->fstype, src.fstype) == 0 && strcmp(m->mnt_root, root) == 0;
	kview_mount_done(&src);
	return match;
}

/*
 * The flags are part of "exactly what volmount would mount": a mount others made read-write,
 * or without nosuid/nodev, is not the share these options describe, whatever its source.
 * They are compared only once the options are known (@req->opts.canonical): a detach resolves
 * a bind share without them, and its own mount needs no second look at its flags.
 */
int share_matches_flags(const struct share_req *req, const struct kview_mount *m,
			bool *ret_flags_only)
{
	int r = share_matches_what(req, m);

	if (ret_flags_only)
		*ret_flags_only = false;
	if (r <= 0 || !req->opts.canonical)
		return r;
	if ((m->mnt_attr & SHARE_ATTR_CHECKED) == share_attr_wanted(req))
		return 1;
	if (ret_flags_only)
		*ret_flags_only = true;
	return 0;
}

int share_matches(const struct share_req *req, const struct kview_mount *m)
{
	return share_matches_flags(req, m, NULL);
}

/*
 * The directory that holds @mountpoint, one of ours (<base>/<driver>/<leaf>, or <base>/<leaf>
 * with the nova scheme), opened from the pinned base directory without following a symlink
 * and checked like open_parent_dir() does; *ret_leaf points into @mountpoint. Everything that
 * looks at or unmounts a mountpoint starts from this fd, so no name above the leaf is looked up
 * again. Returns the fd, -ENOENT (no such directory: nothing can be mounted there; no error
 * recorded), -EXDEV (not a mountpoint of this base; no error recorded), or another error.
 */
static int mp_parent_open(struct volmount_ctx *ctx, const char *mountpoint, const char **ret_leaf)
{
	const char *base = ctx_base(ctx), *rest, *slash;
	size_t bl = strlen(base);
	char sub[NAME_MAX + 1] = ".";
	struct stat st;
	int fd;

	if (ctx->base_fd < 0 || strncmp(mountpoint, base, bl) != 0 || mountpoint[bl] != '/')
		return -EXDEV;
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
	fd = openat(ctx->base_fd, sub, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_MOUNTPOINT,
				 "cannot open the directory of mountpoint '%s': %s%s", mountpoint,
				 strerror(errno),
				 errno == ELOOP || errno == ENOTDIR ?
					 " (it has been replaced by a symlink or a non-directory)" : "");
	}
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 0022)) {
		(void)close(fd);
		return ctx_error(ctx, -EPERM, VOLMOUNT_ERR_PERM,
				 "the directory of mountpoint '%s' must be owned by uid %u and not writable by group or others",
				 mountpoint, (unsigned)geteuid());
	}
	*ret_leaf = rest;
	return fd;
}

/* share_observe() at the entry @leaf of the pinned directory @dfd (or by name if @dfd < 0). */
static int observe_at(struct volmount_ctx *ctx, int dfd, const char *leaf, const char *mountpoint,
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
		return ctx_error(ctx, n, n == -ELOOP ? VOLMOUNT_ERR_MOUNTPOINT : VOLMOUNT_ERR_INTERNAL,
				 "cannot inspect mountpoint '%s': %s", mountpoint,
				 n == -ELOOP ? "it is a symlink" : strerror(-n));
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
static int open_parent_dir(struct volmount_ctx *ctx, const struct share_req *req, bool create)
{
	const char *sub = req->subdir ? req->subdir : ".";
	const char *sep = req->subdir ? "/" : "";
	struct stat st;
	int fd;

	fd = openat(ctx->base_fd, sub, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create && req->subdir) {
		if (mkdirat(ctx->base_fd, sub, 0755) < 0 && errno != EEXIST)
			return ctx_error(ctx, -errno, VOLMOUNT_ERR_MOUNTPOINT,
					 "cannot create '%s/%s': %s",
					 ctx_base(ctx), sub, strerror(errno));
		fd = openat(ctx->base_fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && fchmod(fd, 0755) < 0) {
			(void)close(fd);
			return ctx_error(ctx, -errno, VOLMOUNT_ERR_PERM, "cannot chmod '%s/%s'",
					 ctx_base(ctx), sub);
		}
	}
	if (fd < 0)
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_MOUNTPOINT,
				 "cannot open '%s%s%s': %s%s", ctx_base(ctx), sep,
				 req->subdir ? req->subdir : "", strerror(errno),
				 errno == ELOOP || errno == ENOTDIR ? " (a symlink or not a directory)" : "");
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 0022)) {
		int r = errno ? -errno : -EPERM;

		(void)close(fd);
		return ctx_error(ctx, r == -EBADF ? r : -EPERM, VOLMOUNT_ERR_PERM,
				 "'%s%s%s' must be owned by uid %u and not writable by group or others",
				 ctx_base(ctx), sep, req->subdir ? req->subdir : "",
				 (unsigned)geteuid());
	}
	return fd;
}

/* The mountpoint's parent directory if it exists (-ENOENT if not, with no error recorded). */
static int parent_dir_if_any(struct volmount_ctx *ctx, const struct share_req *req)
{
	int dfd = open_parent_dir(ctx, req, false);

	if (dfd == -ENOENT)
		ctx_clear_error(ctx);
	return dfd;
}

/* A path under a pinned directory, for the calls that take only a name (umount2): the
 * kernel resolves "/proc/self/fd/<dfd>" to that very directory, then looks up @leaf in it. */
struct pinned_name {
	char s[sizeof("/proc/self/fd//") + 3 * sizeof(int) + NAME_MAX + 1];
};

static const char *pinned_name(struct pinned_name *p, int dfd, const char *leaf)
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
static int check_mountpoint_fd(struct volmount_ctx *ctx, const struct share_req *req, int dfd,
			       int fd)
{
	uint64_t here = 0, parent = 0;
	struct stat st;
	int r;

	r = kview_id_of_fd(fd, &here);
	if (r >= 0)
		r = kview_id_of_fd(dfd, &parent);
	if (r < 0)
		return ctx_error(ctx, r, VOLMOUNT_ERR_INTERNAL, "cannot inspect mountpoint '%s': %s",
				 req->mountpoint, strerror(-r));
	if (here != parent)
		return ctx_error(ctx, -EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
				 "mountpoint '%s' is already a mountpoint of something else; refusing to mount over it",
				 req->mountpoint);
	r = dir_is_empty(fd);
	if (r < 0)
		return ctx_error(ctx, r, VOLMOUNT_ERR_INTERNAL, "cannot read '%s': %s",
				 req->mountpoint, strerror(-r));
	if (r == 0)
		return ctx_error(ctx, -ENOTEMPTY, VOLMOUNT_ERR_MOUNTPOINT,
				 "mountpoint '%s' is not empty; refusing to mount over it",
				 req->mountpoint);
	/* An existing empty directory (a leftover, or planted) is only used once it is ours:
	 * root-owned 0700, set on the fd we checked. */
	if (fstat(fd, &st) < 0)
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_INTERNAL, "cannot inspect '%s': %s",
				 req->mountpoint, strerror(errno));
	if ((st.st_uid != geteuid() || st.st_gid != getegid() || (st.st_mode & 07777) != 0700) &&
	    (fchown(fd, geteuid(), getegid()) < 0 || fchmod(fd, 0700) < 0))
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_PERM,
				 "cannot take over mountpoint directory '%s': %s", req->mountpoint,
				 strerror(errno));
	return 0;
}

/* Open the mountpoint directory in @dfd for check_mountpoint_fd() and the mount. */
static int open_mountpoint(struct volmount_ctx *ctx, const struct share_req *req, int dfd)
{
	int fd = openat(dfd, req->leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno != ENOENT)
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_MOUNTPOINT, "mountpoint '%s' %s",
				 req->mountpoint,
				 errno == ELOOP || errno == ENOTDIR ? "is a symlink or not a directory" :
								      strerror(errno));
	return fd < 0 ? -ENOENT : fd;
}

/* share_check_mountpoint() with the parent directory @dfd open, or -ENOENT if it is missing. */
static int check_mountpoint_at(struct volmount_ctx *ctx, const struct share_req *req, int dfd,
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
		return ctx_error(ctx, -ELOOP, VOLMOUNT_ERR_MOUNTPOINT,
				 "mountpoint '%s' is a symlink; refusing to mount through it",
				 req->mountpoint);
	if (n < 0 && n != -ENOTDIR)
		return ctx_error(ctx, n, VOLMOUNT_ERR_INTERNAL, "cannot inspect mountpoint '%s': %s",
				 req->mountpoint, strerror(-n));
	if (n > 0) {
		int r = ctx_error(ctx, -EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
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

static int mkdir_at(struct volmount_ctx *ctx, const struct share_req *req, int dfd)
{
	_cleanup_close_ int fd = -EBADF;

	if (mkdirat(dfd, req->leaf, 0700) < 0)
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_MOUNTPOINT, "cannot create mountpoint '%s': %s",
				 req->mountpoint, strerror(errno));
	fd = openat(dfd, req->leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0700) < 0) /* mkdirat honours the umask */
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_MOUNTPOINT, "cannot set the mode of '%s': %s",
				 req->mountpoint, strerror(errno));
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

int share_rmdir(struct volmount_ctx *ctx, const struct share_req *req)
{
	_cleanup_close_ int dfd = -EBADF;

	dfd = openat(ctx->base_fd, req->subdir ? req->subdir : ".",
		     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (unlinkat(dfd, req->leaf, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_MOUNTPOINT,
				 "cannot remove mountpoint directory '%s': %s", req->mountpoint,
				 strerror(errno));
	return 0;
}

static unsigned long attr_flags(unsigned long ms)
{
	unsigned long a = 0;

	if (ms & MS_RDONLY)
		a |= MOUNT_ATTR_RDONLY;
	if (ms & MS_NOSUID)
		a |= MOUNT_ATTR_NOSUID;
	if (ms & MS_NODEV)
		a |= MOUNT_ATTR_NODEV;
	if (ms & MS_NOEXEC)
		a |= MOUNT_ATTR_NOEXEC;
	return a;
}

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
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_IO, "cannot clone '%s': %s", req->export,
				 strerror(errno));
	if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_IO, "cannot set mount flags on '%s': %s",
				 req->export, strerror(errno));
	if (move_mount(tree, "", mp_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_IO, "cannot mount '%s' on '%s': %s",
				 req->export, req->mountpoint, strerror(errno));
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
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INTERNAL,
				 "driver '%s' has no FUSE subtype ('%s')", req->drv->name,
				 req->spec.fstype);
	dev = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (dev < 0)
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_IO, "cannot open /dev/fuse for '%s': %s",
				 req->export, strerror(errno));
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
		return ctx_error(ctx, -errno, VOLMOUNT_ERR_IO, "cannot mount FUSE for '%s' on '%s' (%s): %s",
				 req->export, req->mountpoint, step, strerror(errno));
	r = kview_id_of_fd(mnt, ret_id);
	if (r < 0) {
		undo_mount(req, -1, mnt);
		return ctx_error(ctx, r, VOLMOUNT_ERR_IO, "cannot identify the new mount at '%s': %s",
				 req->mountpoint, strerror(-r));
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
	struct exec_result res = {};
	struct kview_mount top = {};
	uint64_t mine = 0;
	const char *helper;
	bool failed;
	int r, n;

	if (!req->spec.argv || !req->spec.argv[0])
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INTERNAL, "no helper for share '%s'",
				 req->export);
	helper = req->spec.argv[0];
	if (req->drv->target == DRIVER_TARGET_FUSE_FD) {
		r = mount_fuse(ctx, req, mp_fd, &dev, &mnt, &mine);
		if (r < 0)
			return r;
	}
	r = exec_run_fd((const char *const *)req->spec.argv, ctx->timeout_ms, 0,
			req->drv->target == DRIVER_TARGET_FUSE_FD ? dev :
			req->drv->target == DRIVER_TARGET_PROC_FD ? mp_fd : -1, &res);
	close_now(&dev); /* the helper serves its own copy of the connection */
	if (r < 0 && r != -ETIMEDOUT) {
		exec_result_done(&res);
		if (mnt >= 0)
			undo_mount(req, dfd, mnt);
		return ctx_error(ctx, r, r == -EAGAIN ? VOLMOUNT_ERR_TEMPFAIL : VOLMOUNT_ERR_INTERNAL,
				 "cannot run helper '%s' for '%s': %s", helper, req->export,
				 r == -ENOENT ? "not installed" : strerror(-r));
	}
	failed = r == -ETIMEDOUT || !WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0;
	if (failed) {
		undo_mount(req, dfd, mnt);
		if (r == -ETIMEDOUT)
			r = ctx_error(ctx, -ETIMEDOUT, VOLMOUNT_ERR_TEMPFAIL,
				      "helper '%s' for '%s' did not finish within %u ms and was killed",
				      helper, req->export, ctx->timeout_ms);
		else
			r = ctx_error(ctx, -EIO, classify_helper_error(res.err),
				      "helper '%s' failed for '%s' (%s %d): %s", helper, req->export,
				      WIFEXITED(res.status) ? "exit" : "signal",
				      WIFEXITED(res.status) ? WEXITSTATUS(res.status) :
							      WTERMSIG(res.status),
				      res.err && res.err[0] ? res.err : "no message");
		exec_result_done(&res);
		return r;
	}
	exec_result_done(&res);

	/* Invariant 2: the helper's exit code proves nothing. */
	n = kview_at_in(dfd, req->leaf, req->mountpoint, &top);
	if (n == 1 && (mnt < 0 || top.mnt_id == mine) &&
	    strcmp(top.fstype, req->spec.fstype) == 0 && strcmp(top.source, req->spec.source) == 0) {
		*ret_id = top.mnt_id;
		kview_mount_done(&top);
		return 0;
	}
	if (n <= 0)
		r = ctx_error(ctx, -EIO, VOLMOUNT_ERR_IO,
			      "helper '%s' reported success for '%s', but nothing is mounted at '%s'",
			      helper, req->export, req->mountpoint);
	else
		r = ctx_error(ctx, -EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
			      "mount at '%s' did not verify: the kernel shows %d mount(s), the top one %s '%s', expected %s '%s'",
			      req->mountpoint, n, top.fstype, top.source, req->spec.fstype,
			      req->spec.source);
	kview_mount_done(&top);
	if (n > 0 || mnt >= 0)
		undo_mount(req, dfd, mnt);
	return r;
}

/*
 * share_mount() in the mountpoint's parent directory @dfd, opened by open_parent_dir(): the
 * mountpoint is opened once, checked on that fd (check_mountpoint_fd()), and mounted on that
 * same fd, so nothing swapped in after the check can be mounted over.
 */
static int share_mount_at(struct volmount_ctx *ctx, const struct share_req *req, int dfd,
			  uint64_t *ret_mount_id)
{
	_cleanup_close_ int mp_fd = -EBADF, tree = -EBADF;
	uint64_t mine = 0, top_id = 0;
	int r, obs;

	mp_fd = open_mountpoint(ctx, req, dfd);
	if (mp_fd == -ENOENT)
		return ctx_error(ctx, -ENOENT, VOLMOUNT_ERR_MOUNTPOINT,
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
		return ctx_error(ctx, r, VOLMOUNT_ERR_IO, "cannot identify the new mount at '%s': %s",
				 req->mountpoint, strerror(-r));
	}
	obs = observe_at(ctx, dfd, req->leaf, req->mountpoint, mine, req, &top_id);
	if (obs != OBS_OURS) {
		/* Take ours away, wherever it is; touch nothing else. */
		undo_mount(req, dfd, tree);
		if (obs < 0)
			return obs; /* observe_at() said why */
		return ctx_error(ctx, -EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
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
		return ctx_error(ctx, -EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
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
		return ctx_error(ctx, r, r == -EBUSY ? VOLMOUNT_ERR_TEMPFAIL : VOLMOUNT_ERR_IO,
				 "cannot unmount '%s': %s", mountpoint, strerror(-r));
	/* Verify (CWE-691): it is gone before anyone mounts there again. */
	obs = observe_at(ctx, dfd, leaf, mountpoint, mount_id, NULL, &top);
	if (obs < 0)
		return obs;
	if (obs == OBS_OURS)
		return ctx_error(ctx, -EBUSY, VOLMOUNT_ERR_IO, "'%s' is still mounted after unmount",
				 mountpoint);
	return 0;
}

int share_set(struct volmount_ctx *ctx, const char *hash, const char *state, uint64_t mount_id)
{
	int r;

	ctx_db_lock(ctx);
	r = ledger_share_set(ctx->ledger, hash, state, mount_id);
	ctx_db_unlock(ctx);
	return r;
}

int share_delete(struct volmount_ctx *ctx, const char *hash)
{
	int r;

	ctx_db_lock(ctx);
	r = ledger_share_delete(ctx->ledger, hash);
	ctx_db_unlock(ctx);
	return r;
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
		r = share_set(ctx, row->hash, LEDGER_PENDING, 0);
		if (r < 0)
			return r;
	}
	r = share_mount(ctx, req, &id);
	if (r >= 0 && record)
		r = share_set(ctx, row->hash, LEDGER_MOUNTED, id);
	if (r >= 0)
		*ret_id = id;
	return r;
}

/* Check the host is up; reconcile first if the ledger comes from another boot. */
static int enter_host(struct volmount_ctx *ctx, uint64_t deadline, bool *ret_held)
{
	int r;

	r = host_check_boot(ctx, deadline);
	if (r < 0)
		return r;
	r = lock_host_shared(ctx, deadline);
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
	return ctx_error(ctx, -EHOSTDOWN, VOLMOUNT_ERR_HOSTDOWN,
			 "host is down (generation %llu); run host-up first",
			 (unsigned long long)h->generation);
}

static int read_host_share(struct volmount_ctx *ctx, const struct share_req *req,
			   struct ledger_share *ret)
{
	struct ledger_host h;
	int r;

	ctx_db_lock(ctx);
	r = ledger_host_share_get(ctx->ledger, req->hash, &h, ret);
	ctx_db_unlock(ctx);
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
 * The warm attach of a bind share, under the host and share locks: if exactly one mount sits
 * at the mountpoint and the ledger records that very mount for this share (checked in the
 * write transaction that adds the attachment), that is all there is to do. Returns 1 when
 * attached, 0 when the share needs the general path (nothing was written), or an error.
 * Network shares take the general path, which probes their health first.
 */
static int attach_warm(struct volmount_ctx *ctx, const struct share_req *req, const char *volume,
		       const char *owner)
{
	struct ledger_host h;
	uint64_t top = 0;
	int r;

	if (req->drv->kind != DRIVER_KIND_BIND || kview_at_id(req->mountpoint, &top) != 1)
		return 0;
	ctx_db_lock(ctx);
	r = ledger_attach_warm(ctx->ledger, req->hash, top, req->opts.canonical, volume, owner, &h);
	ctx_db_unlock(ctx);
	return r == -EHOSTDOWN ? host_down_error(ctx, &h) : r;
}

static int enter_share(struct volmount_ctx *ctx, const struct share_req *req, uint64_t deadline)
{
	int fd = lock_share(ctx, req->hash, deadline);

	if (fd == -ETIMEDOUT)
		return ctx_error(ctx, fd, VOLMOUNT_ERR_TEMPFAIL,
				 "timed out after %u ms waiting for the lock of share '%s' (%s)",
				 ctx->timeout_ms, req->export, req->mountpoint);
	if (fd < 0 && !ctx_has_error(ctx))
		return ctx_error(ctx, fd, VOLMOUNT_ERR_INTERNAL, "share lock of '%s': %s",
				 req->mountpoint, strerror(-fd));
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
	(void)ctx_error(ctx, 0, e->kind, "%s", e->msg);
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
		(void)share_delete(ctx, req->hash); /* best effort: host-up retries */
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
	ctx_db_lock(ctx);
	r = ledger_share_insert(ctx->ledger, &row);
	ctx_db_unlock(ctx);
	if (r == -EEXIST)
		/* The hash is free (the caller holds its lock and found no row), so the
		 * mountpoint is taken: with the nova scheme, the same export under another
		 * driver has the same mountpoint. */
		return ctx_error(ctx, -EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
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

	return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT,
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
		return ctx_error(ctx, n, n == -ELOOP ? VOLMOUNT_ERR_MOUNTPOINT : VOLMOUNT_ERR_INTERNAL,
				 "cannot inspect mountpoint '%s': %s", req->mountpoint, strerror(-n));
	if (n == 0)
		return OBS_NONE;
	if (n > 1) {
		kview_mount_done(&top);
		return ctx_error(ctx, -EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
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
		r = ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT,
			      "share '%s' was adopted as %s '%s' at '%s'; with options '%s' volmount would mount %s '%s'",
			      req->export, top.fstype, top.source, req->mountpoint,
			      req->opts.canonical, req->spec.fstype, req->spec.source);
	else if (m == 0)
		r = ctx_error(ctx, -EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
			      "the mount adopted at '%s' (%s '%s') is no longer a bind mount of '%s'; refusing to attach",
			      req->mountpoint, top.fstype, top.source, req->export);
	else
		r = ctx_error(ctx, m, VOLMOUNT_ERR_INTERNAL, "cannot identify the source of '%s': %s",
			      req->export, strerror(-m));
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

			r = share_delete(ctx, row->hash);
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

			r = share_set(ctx, row->hash, LEDGER_MOUNTED, top);
			if (r < 0)
				return r;
		}
	} else if (strcmp(row->options, req->opts.canonical) != 0)
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT,
				 "share '%s' is mounted with options '%s'; this attach asks for '%s'",
				 req->export, row->options, req->opts.canonical);
	else {
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
			const char *path = req->mountpoint;
			enum health h;
			int err;
			int64_t us;

			(void)health_probe_many(ctx, &path, 1, &h, &err, &us);
			if (h != HEALTH_OK) {
				int r = share_remount_unhealthy(ctx, row, (struct share_req *)req, top,
								h, err, NULL);

				if (r < 0)
					return r;
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
				return ctx_error(ctx, -ENOENT, VOLMOUNT_ERR_MOUNTPOINT,
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
	return ctx_error(ctx, -EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
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
		ctx_db_lock(ctx);
		r = ledger_share_insert(ctx->ledger, &row);
		if (r >= 0)
			r = ledger_share_get(ctx->ledger, req->hash, ret_row);
		ctx_db_unlock(ctx);
	}
	if (r == -EEXIST)
		return ctx_error(ctx, -EADDRINUSE, VOLMOUNT_ERR_MOUNTPOINT,
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

/* Every failure after the request was resolved names the share (DESIGN: "with the share
 * named"), unless the message already does. */
static void name_share_in_error(struct volmount_ctx *ctx, const struct share_req *req)
{
	struct saved_error e;

	error_save(ctx, &e);
	if (!req->export || strstr(e.msg, req->export) || strstr(e.msg, req->mountpoint))
		return;
	(void)ctx_error(ctx, 0, e.kind, "share '%s' (%s): %s", req->export, req->mountpoint,
			e.msg);
}

VOLMOUNT_EXPORT int volmount_attach(struct volmount_ctx *ctx, const char *driver,
				    const char *export, const char *volume, const char *owner,
				    const char *const *options, size_t n_options,
				    char **ret_device_path)
{
	struct share_req req = { .src_fd = -EBADF };
	struct ledger_share row = {};
	_cleanup_free_ char *device = NULL;
	const char *why = NULL;
	int share_fd = -EBADF, r;
	bool host_held = false;
	uint64_t deadline, mount_id = 0;
	bool added = false, fresh = false, claim = false;

	if (!ctx || (n_options && !options))
		return -EINVAL;
	ctx_clear_error(ctx);
	if (volume_name_check(volume, &why) < 0)
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT, "invalid volume name: %s", why);
	if (owner_check(owner, &why) < 0)
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT, "invalid owner: %s", why);
	r = share_req_init(ctx, driver, export, options ? options : (const char *const[]){ NULL },
			   n_options, SHARE_REQ_OPEN_SOURCE, &req);
	if (r < 0)
		return r;
	r = ctx_open(ctx);
	if (r >= 0)
		r = share_req_rebase(ctx, &req);
	if (r < 0) {
		share_req_done(&req);
		return r;
	}
	if (asprintf(&device, "%s/%s", req.mountpoint, volume) < 0) {
		share_req_done(&req);
		return -ENOMEM;
	}
	deadline = now_ms() + ctx->timeout_ms;
	r = enter_host(ctx, deadline, &host_held);
	if (r < 0)
		goto out;
	share_fd = enter_share(ctx, &req, deadline);
	if (share_fd < 0) {
		r = share_fd;
		goto out;
	}
	r = attach_warm(ctx, &req, volume, owner);
	if (r != 0)
		goto out;
	r = read_host_share(ctx, &req, &row);
	if (r == -ENOENT) {
		r = attach_adopt(ctx, &req, &row);
		if (r == 0) {
			r = attach_first(ctx, &req, &mount_id);
			fresh = r >= 0;
		} else if (r > 0)
			r = attach_existing(ctx, &req, &row, &mount_id, &fresh, &claim);
	} else if (r >= 0)
		r = attach_existing(ctx, &req, &row, &mount_id, &fresh, &claim);
	if (r < 0)
		goto out;
	ctx_db_lock(ctx);
	r = ledger_attach_claim(ctx->ledger, req.hash, mount_id,
				claim ? req.opts.canonical : NULL, volume, owner, &added);
	ctx_db_unlock(ctx);
	if (r < 0 && fresh)
		/* Invariant 1: no attachment was recorded, so the mount made for it goes. The
		 * pending row stays, with nothing mounted: the next call or host-up forgets it. */
		undo_fresh_mount(ctx, &req, mount_id);
out:
	lock_share_release(ctx, req.hash, share_fd);
	if (host_held)
		lock_host_shared_release(ctx);
	if (r < 0)
		name_share_in_error(ctx, &req);
	ledger_share_done(&row);
	share_req_done(&req);
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

	ctx_db_lock(ctx);
	r = ledger_detach_checked(ctx->ledger, req->hash, volume, owner, &host, ret_row,
				  ret_removed, ret_remaining);
	ctx_db_unlock(ctx);
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
	if (row->dir_created) {
		r = share_rmdir(ctx, req);
		if (r < 0)
			return r;
	}
	r = share_delete(ctx, row->hash);
	return r;
}

VOLMOUNT_EXPORT int volmount_detach(struct volmount_ctx *ctx, const char *driver,
				    const char *export, const char *volume, const char *owner)
{
	struct share_req req = { .src_fd = -EBADF };
	struct ledger_share row = {};
	const char *why = NULL;
	int share_fd = -EBADF, r;
	bool host_held = false;
	uint64_t deadline;
	size_t remaining = 0;
	bool removed = false;

	if (!ctx)
		return -EINVAL;
	ctx_clear_error(ctx);
	if (volume_name_check(volume, &why) < 0)
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT, "invalid volume name: %s", why);
	if (owner_check(owner, &why) < 0)
		return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT, "invalid owner: %s", why);
	r = share_req_init(ctx, driver, export, NULL, 0, 0, &req);
	if (r < 0)
		return r;
	r = ctx_open(ctx);
	if (r >= 0)
		r = share_req_place(ctx, &req); /* under the canonical base, now that it is known */
	if (r < 0) {
		share_req_done(&req);
		return r;
	}
	deadline = now_ms() + ctx->timeout_ms;
	r = enter_host(ctx, deadline, &host_held);
	if (r < 0)
		goto out;
	share_fd = enter_share(ctx, &req, deadline);
	if (share_fd < 0) {
		r = share_fd;
		goto out;
	}
	r = detach_record(ctx, &req, volume, owner, &row, &removed, &remaining);
	/* Best effort, and only for a row that never reached "mounted": with the source open, a
	 * mount left by a killed attach can be proven ours and cleaned up. A source that is
	 * gone must not keep a detach from working. */
	if (r >= 0 && remaining == 0 && req.drv->kind == DRIVER_KIND_BIND &&
	    strcmp(row.state, LEDGER_MOUNTED) != 0)
		req.src_fd = open(req.export, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r == -ENOENT) {
		r = 1; /* no such share, so no such attachment: nothing to do */
		goto out;
	}
	if (r < 0)
		goto out;
	/* Finish the unmount also when this attachment was already gone: a detach retried after
	 * a failed unmount completes the clean-up. */
	if (remaining == 0) {
		if (req.drv->kind == DRIVER_KIND_HELPER &&
		    share_req_load_options(ctx, &req, row.options) < 0)
			ctx_clear_error(ctx); /* only needed to recognise a crashed attach's mount */
		r = finish_share(ctx, &row, &req);
	}
	if (r >= 0)
		r = removed ? 0 : 1;
out:
	lock_share_release(ctx, req.hash, share_fd);
	if (host_held)
		lock_host_shared_release(ctx);
	if (r < 0)
		name_share_in_error(ctx, &req);
	ledger_share_done(&row);
	share_req_done(&req);
	return r;
}

VOLMOUNT_EXPORT int volmount_share_path(struct volmount_ctx *ctx, const char *driver,
					const char *export, char **ret_path)
{
	struct share_req req = { .src_fd = -EBADF };
	int r;

	if (!ctx || !ret_path)
		return -EINVAL;
	ctx_clear_error(ctx);
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
