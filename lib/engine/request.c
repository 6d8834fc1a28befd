/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * request.c - a share request: driver, normalized export, hash, mountpoint name, options and the
 * helper's spec, and whether a kernel mount is exactly what it would mount.
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
#include "internal.h"
#include "kview.h"
#include "ledger.h"
#include "cleanup.h"
#include "path-util.h"
#include "errno-util.h"

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
		return error_set(-EINVAL, VOLMOUNT_ERR_INPUT,
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
		return error_set(-EINVAL, VOLMOUNT_ERR_INPUT,
				 "export '%s': parent directory cannot be resolved: %s", req->export,
				 errno_str(errno));
	}
	if (asprintf(&full, "%s/%s", strcmp(resolved, "/") == 0 ? "" : resolved, slash + 1) < 0)
		return -ENOMEM;
	if (strlen(full) > VOLMOUNT_EXPORT_MAX)
		return error_set(-EINVAL, VOLMOUNT_ERR_INPUT, "export '%s' resolves to a path that is too long",
				 req->export);
	own = overlaps_own_dir(ctx, full);
	if (own)
		return error_set(-EINVAL, VOLMOUNT_ERR_INPUT,
				 "export '%s' resolves to '%s', which contains or is inside volmount's directory '%s'",
				 req->export, full, own);
	free(req->export);
	req->export = TAKE_PTR(full);
	if (!open_source)
		return 0;
	req->src_fd = open(req->export, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (req->src_fd < 0) {
		r = -errno;
		return error_set(-EINVAL, VOLMOUNT_ERR_INPUT, "export '%s' %s", req->export,
				 r == -ELOOP ? "is a symlink" :
				 r == -ENOTDIR ? "is not a directory" :
				 r == -ENOENT ? "does not exist" : errno_str(r));
	}
	return 0;
}

/* <base>[/<subdir>]/<leaf>, put together without printf (twice per attach or detach). */
int mountpoint_under(const char *base, const struct share_req *req, char **ret)
{
	size_t nb = strlen(base), ns = req->subdir ? strlen(req->subdir) : 0,
	       nl = strlen(req->leaf);
	char *p = malloc(nb + 1 + ns + (ns ? 1 : 0) + nl + 1), *q;

	if (!p)
		return -ENOMEM;
	q = mempcpy(p, base, nb);
	*q++ = '/';
	if (ns) {
		q = mempcpy(q, req->subdir, ns);
		*q++ = '/';
	}
	memcpy(q, req->leaf, nl + 1);
	*ret = p;
	return 0;
}

/* (Re)place the named share's mountpoint under the context's base as it is now. */
int share_req_place(struct volmount_ctx *ctx, struct share_req *req)
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
		       error_set(r, VOLMOUNT_ERR_INTERNAL, "cannot name the share: %s",
				 errno_str(r));
	return 0;
}

/*
 * Requests are validated before the context is opened (invariant 6: a rejected request does
 * not even create volmount's own directories), so their mountpoint was named under the base
 * as configured. Once open, name it under the canonical base, and check the bind source
 * against volmount's directories again now that those are canonical too.
 */
int share_req_rebase(struct volmount_ctx *ctx, struct share_req *req)
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
	int r = driver_mount_spec(req->drv, req->export, &req->opts, helper_target(req), &req->spec,
				     &why);

	if (r < 0)
		return r == -ENOMEM ? r :
		       error_set(r, VOLMOUNT_ERR_INPUT, "invalid %s share: %s", req->drv->name,
				 why ? why : errno_str(r));
	return 0;
}

/*
 * A file a helper reads: a credentials, identity or secret file (CWE-798), or a file it trusts,
 * such as ssh's known hosts (whoever can write that can make ssh believe their server). Only
 * ever passed to a helper as a path, and only if it is a regular file owned by us (root),
 * checked on the open fd, never following a symlink: a secret must be 0600 or stricter, a
 * trusted file must not be writable by group or others. Its contents are never read here.
 */
static int check_helper_file(struct volmount_ctx *ctx, const char *path, const char *what,
			     bool secret)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int r = -errno;

		if (r == -ENOENT)
			return error_set(-EINVAL, VOLMOUNT_ERR_INPUT,
					 "%s '%s' does not exist", what, path);
		return error_set(r == -ELOOP ? -EPERM : r, VOLMOUNT_ERR_PERM,
				 "%s '%s' %s", what, path,
				 r == -ELOOP ? "is a symlink; refusing to follow it" : errno_str(r));
	}
	if (fstat(fd, &st) < 0)
		return error_set(-errno, VOLMOUNT_ERR_INTERNAL, "cannot stat %s '%s': %s",
				 what, path, errno_str(errno));
	if (!S_ISREG(st.st_mode))
		return error_set(-EPERM, VOLMOUNT_ERR_PERM,
				 "%s '%s' is not a regular file", what, path);
	if (st.st_uid != geteuid())
		return error_set(-EPERM, VOLMOUNT_ERR_PERM,
				 "%s '%s' is owned by uid %u, not by uid %u", what, path,
				 (unsigned)st.st_uid, (unsigned)geteuid());
	if (secret && (st.st_mode & 0077))
		return error_set(-EPERM, VOLMOUNT_ERR_PERM,
				 "%s '%s' has mode %04o; it must be 0600 or stricter",
				 what, path, (unsigned)(st.st_mode & 07777));
	if (!secret && (st.st_mode & 0022))
		return error_set(-EPERM, VOLMOUNT_ERR_PERM,
				 "%s '%s' has mode %04o; it must not be writable by group or others",
				 what, path, (unsigned)(st.st_mode & 07777));
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
		return error_set(-EINVAL, VOLMOUNT_ERR_INPUT, "unknown driver '%.64s'",
				 driver ? driver : "(null)");
	r = req.drv->normalize(export, &req.export, &why);
	if (r < 0)
		return r == -ENOMEM ? r :
		       error_set(r, VOLMOUNT_ERR_INPUT, "invalid %s export: %s", req.drv->name,
				 why);
	if (opts) {
		r = req.drv->options(opts, n_opts, &req.opts, &why);
		if (r < 0) {
			share_req_done(&req);
			return r == -ENOMEM ? r :
			       error_set(r, VOLMOUNT_ERR_INPUT, "invalid %s option: %s",
					 req.drv->name, why);
		}
	}
	if (req.drv->kind == DRIVER_KIND_BIND) {
		req.lexical = flags & SHARE_REQ_LEXICAL;
		r = req.lexical ? refuse_own_dir(ctx, req.export) :
				  bind_resolve(ctx, &req, open_source);
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
			r = check_helper_file(ctx, req.opts.cred_path, "credentials file", true);
		if (r >= 0 && open_source && req.opts.trusted_path)
			r = check_helper_file(ctx, req.opts.trusted_path,
					      req.opts.trusted_option ? req.opts.trusted_option :
									"trusted file",
					      false);
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
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "share '%s': recorded options '%s' no longer parse: %s",
				 req->mountpoint, canonical, why ? why : errno_str(r));
	driver_opts_done(&req->opts);
	req->opts = o;
	if (req->drv->kind == DRIVER_KIND_HELPER) {
		driver_mount_spec_done(&req->spec);
		return build_spec(ctx, req);
	}
	return 0;
}

int share_req_resolve(struct volmount_ctx *ctx, struct share_req *req)
{
	char hash[sizeof(req->hash)];
	int r;

	if (!req->lexical)
		return 0;
	memcpy(hash, req->hash, sizeof(hash));
	r = bind_resolve(ctx, req, false);
	if (r >= 0)
		r = share_req_name(ctx, req);
	if (r < 0)
		return r;
	req->lexical = false;
	return strcmp(hash, req->hash) != 0;
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
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "share '%s': bad recorded options '%s'",
				 row->mountpoint, row->options);
	r = share_req_init(ctx, row->driver, row->export, vec, n, SHARE_REQ_OPEN_SOURCE, ret);
	if (r < 0)
		return r;
	if (strcmp(ret->hash, row->hash) != 0) {
		/* The export now resolves elsewhere (a parent symlink changed): not this share. */
		share_req_done(ret);
		return error_set(-ESTALE, VOLMOUNT_ERR_INPUT,
				 "export '%s' no longer resolves to share %s", row->export, row->hash);
	}
	return 0;
}

_Static_assert(KVIEW_ATTR_RDONLY == MOUNT_ATTR_RDONLY && KVIEW_ATTR_NOSUID == MOUNT_ATTR_NOSUID &&
		       KVIEW_ATTR_NODEV == MOUNT_ATTR_NODEV && KVIEW_ATTR_NOEXEC == MOUNT_ATTR_NOEXEC,
	       "kview's flags are MOUNT_ATTR_* bits");

unsigned long attr_flags(unsigned long ms)
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
