/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctx.c - the handle: paths, timeouts, durability, the path scheme, the lazily opened ledger
 * (whose recorded path scheme must be the configured one while it holds shares), directory fds,
 * and the thread-local error slot. It owns the creation and permission checks of the state,
 * base and run directories (CWE-732): each is created 0700 (base 0755) independent of umask,
 * and refused if it is not root-owned (our euid) or is writable by group or others.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "path-util.h"
#include "time-util.h"
#include "lock.h"
#include "ledger.h"
#include "cleanup.h"
#include "errno-util.h"

VOLMOUNT_EXPORT unsigned volmount_version_number(void)
{
	return VOLMOUNT_VERSION_NUMBER;
}

int read_boot_id(char *buf, size_t size)
{
	_cleanup_close_ int fd = -EBADF;
	ssize_t n;

	if (size < 37)
		return -EINVAL;
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		return -errno;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	if (n == 0)
		return -EIO;
	buf[n] = '\0';
	return 0;
}

VOLMOUNT_EXPORT int volmount_ctx_new(struct volmount_ctx **ret)
{
	static const char *const defaults[_VOLMOUNT_PATH_MAX] = {
		[VOLMOUNT_PATH_STATE_DIR] = VOLMOUNT_DEFAULT_STATE_DIR,
		[VOLMOUNT_PATH_BASE_DIR] = VOLMOUNT_DEFAULT_BASE_DIR,
		[VOLMOUNT_PATH_RUN_DIR] = VOLMOUNT_DEFAULT_RUN_DIR,
	};
	struct volmount_ctx *ctx;

	if (!ret)
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->base_fd = -EBADF;
	ctx->timeout_ms = VOLMOUNT_DEFAULT_TIMEOUT_MS;
	ctx->probe_timeout_ms = VOLMOUNT_DEFAULT_PROBE_TIMEOUT_MS;
	ctx->max_helpers = VOLMOUNT_DEFAULT_MAX_HELPERS;
	ctx->durability = VOLMOUNT_DURABILITY_NORMAL;
	(void)pthread_mutex_init(&ctx->open_lock, NULL); /* cannot fail with default attrs */
	if (lock_cache_new(&ctx->locks) < 0) {
		volmount_ctx_free(ctx);
		return -ENOMEM;
	}
	for (int i = 0; i < _VOLMOUNT_PATH_MAX; i++) {
		ctx->paths[i] = strdup(defaults[i]);
		if (!ctx->paths[i]) {
			volmount_ctx_free(ctx);
			return -ENOMEM;
		}
	}
	*ret = ctx;
	return 0;
}

VOLMOUNT_EXPORT void volmount_ctx_free(struct volmount_ctx *ctx)
{
	if (!ctx)
		return;
	lock_cache_free(ctx->locks);
	ledger_close(ctx->ledger);
	if (ctx->base_fd >= 0)
		(void)close(ctx->base_fd);
	for (int i = 0; i < _VOLMOUNT_PATH_MAX; i++)
		free(ctx->paths[i]);
	free(ctx->base_canon);
	free(ctx->base_canon_retired);
	(void)pthread_mutex_destroy(&ctx->open_lock);
	free(ctx);
}

VOLMOUNT_EXPORT int volmount_ctx_set_path(struct volmount_ctx *ctx, enum volmount_path which,
					  const char *path)
{
	char *p;
	int r;

	if (!ctx || !path || (unsigned)which >= _VOLMOUNT_PATH_MAX)
		return -EINVAL;
	if (ctx->opened)
		return error_set(-EBUSY, VOLMOUNT_ERR_INTERNAL,
				 "paths cannot change once the context is in use");
	r = path_clean_abs(path, &p);
	if (r < 0)
		return error_set(r, VOLMOUNT_ERR_CONFIG,
				 "path '%s' must be absolute, without '..' and shorter than %d",
				 path, PATH_MAX);
	if (strcmp(p, "/") == 0) {
		free(p);
		return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG, "path '/' is not allowed");
	}
	free(ctx->paths[which]);
	ctx->paths[which] = p;
	return 0;
}

VOLMOUNT_EXPORT const char *volmount_ctx_get_path(const struct volmount_ctx *ctx,
						  enum volmount_path which)
{
	if (!ctx || (unsigned)which >= _VOLMOUNT_PATH_MAX)
		return NULL;
	return ctx->paths[which];
}

VOLMOUNT_EXPORT int volmount_ctx_set_timeout(struct volmount_ctx *ctx, unsigned timeout_ms)
{
	if (!ctx || timeout_ms == 0 || timeout_ms > 86400000u)
		return -EINVAL;
	ctx->timeout_ms = timeout_ms;
	return 0;
}

VOLMOUNT_EXPORT int volmount_ctx_set_probe_timeout(struct volmount_ctx *ctx, unsigned timeout_ms)
{
	if (!ctx || timeout_ms == 0 || timeout_ms > 86400000u)
		return -EINVAL;
	ctx->probe_timeout_ms = timeout_ms;
	return 0;
}

VOLMOUNT_EXPORT int volmount_ctx_set_max_helpers(struct volmount_ctx *ctx, unsigned n)
{
	if (!ctx || n == 0 || n > VOLMOUNT_MAX_HELPERS_MAX)
		return -EINVAL;
	__atomic_store_n(&ctx->max_helpers, n, __ATOMIC_RELAXED);
	return 0;
}

VOLMOUNT_EXPORT unsigned volmount_ctx_get_timeout(const struct volmount_ctx *ctx)
{
	return ctx ? ctx->timeout_ms : 0;
}

VOLMOUNT_EXPORT unsigned volmount_ctx_get_probe_timeout(const struct volmount_ctx *ctx)
{
	return ctx ? ctx->probe_timeout_ms : 0;
}

const char *path_scheme_name(enum volmount_path_scheme s)
{
	return s == VOLMOUNT_PATH_SCHEME_NOVA ? "nova" : "volmount";
}

VOLMOUNT_EXPORT int volmount_ctx_set_path_scheme(struct volmount_ctx *ctx,
						 enum volmount_path_scheme scheme)
{
	if (!ctx || (unsigned)scheme >= _VOLMOUNT_PATH_SCHEME_MAX)
		return -EINVAL;
	if (ctx->opened)
		return error_set(-EBUSY, VOLMOUNT_ERR_INTERNAL,
				 "the path scheme cannot change once the context is in use");
	ctx->path_scheme = scheme;
	return 0;
}

VOLMOUNT_EXPORT int volmount_ctx_set_durability(struct volmount_ctx *ctx,
						enum volmount_durability d)
{
	if (!ctx || (unsigned)d >= _VOLMOUNT_DURABILITY_MAX)
		return -EINVAL;
	if (ctx->opened)
		return -EBUSY;
	ctx->durability = d;
	return 0;
}

/*
 * May a directory we pass through on the way to a state, base or run directory stay as it is?
 * Whoever can rename or replace an entry in it can swap the rest of the path under us (a nova
 * user owning /var/lib/nova, say), so every ancestor must be owned by root (or by our euid) and
 * not writable by group or others. A root-owned sticky directory (/tmp) is allowed: in it
 * nobody but root may rename or remove an entry root owns, and the next component is required
 * to be root's by this same rule, so a name planted there by someone else is refused.
 */
static const char *ancestor_fault(const struct stat *st, char *buf, size_t size)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		(void)snprintf(buf, size, "is owned by uid %u, not by root", (unsigned)st->st_uid);
		return buf;
	}
	if ((st->st_mode & 0022) && !((st->st_mode & S_ISVTX) && st->st_uid == 0)) {
		(void)snprintf(buf, size, "is writable by group or others (mode %04o) without being a root-owned sticky directory",
			       (unsigned)(st->st_mode & 07777));
		return buf;
	}
	return NULL;
}

/*
 * Open (creating if needed) the directory @path with @mode. The walk starts at "/" and opens
 * one component at a time with O_NOFOLLOW, checking each on its fd before going on
 * (ancestor_fault()), so no name is ever resolved twice and nothing an unprivileged user
 * controls lies on the way. Components we create are 0755 (the last one @mode), whatever the
 * umask. The directory itself must be owned by our euid and not writable by group or others
 * (nor more permissive than @mode when we created it). Returns an O_PATH fd. Without @create,
 * only checks what exists and returns 0 (no fd), so that a refusal of one directory leaves
 * nothing created for another.
 */
static int open_secure_dir(struct volmount_ctx *ctx, const char *path, mode_t mode,
			   const char *what, bool create)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *copy = strdup(path);
	char why[160];
	struct stat st;
	int r;

	if (!copy)
		return -ENOMEM;
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (char *c = copy + 1, *next; c && *c; c = next) {
		int nfd;
		bool last;

		if (fstat(fd, &st) < 0)
			return error_set(-errno, VOLMOUNT_ERR_PERM, "cannot inspect a parent of %s '%s': %s",
					 what, path, errno_str(errno));
		if (ancestor_fault(&st, why, sizeof(why))) {
			/* The directory we stand in: "/" or the components before @c. */
			if (c > copy + 1)
				c[-1] = '\0';
			return error_set(-EPERM, VOLMOUNT_ERR_PERM,
					 "%s '%s': its parent directory '%s' %s; anyone who can write there can swap the path under volmount",
					 what, path, c > copy + 1 ? copy : "/", why);
		}
		next = strchr(c, '/');
		if (next)
			*next++ = '\0';
		last = !next || !*next;
		nfd = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && !create)
			return 0; /* the rest is made later, under ancestors found safe */
		if (nfd < 0 && errno == ENOENT) {
			if (mkdirat(fd, c, last ? mode : 0755) < 0 && errno != EEXIST)
				return error_set(-errno, VOLMOUNT_ERR_MOUNTPOINT,
						 "cannot create %s '%s': %s", what, path,
						 errno_str(errno));
			nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			/* mkdirat honours the umask: set the mode we mean on the fd. */
			if (nfd >= 0 && fchmod(nfd, last ? mode : 0755) < 0) {
				r = -errno;
				(void)close(nfd);
				return error_set(r, VOLMOUNT_ERR_PERM, "cannot chmod %s '%s': %s",
						 what, path, errno_str(r));
			}
		}
		if (nfd < 0) {
			r = -errno;
			if (r == -ELOOP || r == -ENOTDIR)
				return error_set(r, VOLMOUNT_ERR_MOUNTPOINT,
						 "%s '%s' is, or passes through, a symlink or a non-directory",
						 what, path);
			return error_set(r, VOLMOUNT_ERR_PERM, "cannot open %s '%s': %s", what,
					 path, errno_str(r));
		}
		(void)close(fd);
		fd = nfd;
		if (next)
			next[-1] = '/'; /* keep @copy whole up to here, for the messages */
	}
	if (fstat(fd, &st) < 0)
		return error_set(-errno, VOLMOUNT_ERR_PERM, "cannot inspect %s '%s': %s", what,
				 path, errno_str(errno));
	if (st.st_uid != geteuid())
		return error_set(-EPERM, VOLMOUNT_ERR_PERM,
				 "%s '%s' is owned by uid %u, not by uid %u", what, path,
				 (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 0022)
		return error_set(-EPERM, VOLMOUNT_ERR_PERM,
				 "%s '%s' is writable by group or others (mode %04o)", what, path,
				 (unsigned)(st.st_mode & 07777));
	if ((st.st_mode & 07777 & ~mode) != 0)
		return error_set(-EPERM, VOLMOUNT_ERR_PERM,
				 "%s '%s' has mode %04o, more permissive than %04o", what, path,
				 (unsigned)(st.st_mode & 07777), (unsigned)mode);
	return create ? TAKE_FD(fd) : 0;
}

/* State, base and run directories: all three checked before any is created, so a refusal
 * changes nothing. */
static int check_dirs(struct volmount_ctx *ctx)
{
	static const char *const what[_VOLMOUNT_PATH_MAX] = {
		[VOLMOUNT_PATH_STATE_DIR] = "state directory",
		[VOLMOUNT_PATH_BASE_DIR] = "base directory",
		[VOLMOUNT_PATH_RUN_DIR] = "run directory",
	};

	for (int i = 0; i < _VOLMOUNT_PATH_MAX; i++) {
		int r = open_secure_dir(ctx, ctx->paths[i], i == VOLMOUNT_PATH_BASE_DIR ? 0755 : 0700,
					what[i], false);

		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Mountpoints are compared with what the kernel reports, which is canonical: name them under
 * the canonical base (its parents may be symlinks). Published atomically; the configured
 * string stays valid for readers that got it. A retry after a failed open (a refused path
 * scheme, say) publishes again: a reader may hold the old string, so it is retired, not
 * freed, until the end.
 */
static int publish_canonical_base(struct volmount_ctx *ctx)
{
	char *canon = realpath(ctx->paths[VOLMOUNT_PATH_BASE_DIR], NULL), *old;

	if (!canon)
		return error_set(-errno, VOLMOUNT_ERR_MOUNTPOINT,
				 "cannot resolve base directory '%s': %s",
				 ctx->paths[VOLMOUNT_PATH_BASE_DIR], errno_str(errno));
	old = __atomic_load_n(&ctx->base_canon, __ATOMIC_ACQUIRE);
	if (old && strcmp(old, canon) == 0)
		free(canon);
	else {
		__atomic_store_n(&ctx->base_canon, canon, __ATOMIC_RELEASE);
		if (old) {
			free(ctx->base_canon_retired);
			ctx->base_canon_retired = old;
		}
	}
	return 0;
}

/* <run>/locks, made if needed and checked as the run directory is. */
static int open_locks_dir(struct volmount_ctx *ctx)
{
	_cleanup_free_ char *locks = NULL;

	if (asprintf(&locks, "%s/locks", ctx->paths[VOLMOUNT_PATH_RUN_DIR]) < 0)
		return -ENOMEM;
	return open_secure_dir(ctx, locks, 0700, "lock directory", true);
}

/* The ledger, refused when its shares were made with another path scheme: mountpoints of
 * both schemes in one ledger would be two layouts to reconcile, gc and reason about. */
static int open_ledger(struct volmount_ctx *ctx, int state_fd, struct ledger **ret)
{
	const char *want = path_scheme_name(ctx->path_scheme);
	struct ledger *ledger = NULL;
	char recorded[16] = "";
	size_t n = 0;
	int r;

	r = ledger_open(state_fd, ctx->paths[VOLMOUNT_PATH_STATE_DIR], ctx->durability,
			ctx->timeout_ms, &ledger);
	if (r < 0)
		return r;
	ledger_set_scheme(ledger, want);
	r = ledger_scheme_claim(ledger, recorded, sizeof(recorded), &n);
	if (r == -EXDEV)
		r = error_set(-EXDEV, VOLMOUNT_ERR_CONFIG,
			      "the ledger in '%s' holds %zu share(s) made with path scheme '%s', but the configured path scheme is '%s'; use '%s' (or detach every volume first)",
			      ctx->paths[VOLMOUNT_PATH_STATE_DIR], n, recorded, want, recorded);
	if (r < 0) {
		ledger_close(ledger);
		return r;
	}
	*ret = ledger;
	return 0;
}

static int do_open(struct volmount_ctx *ctx)
{
	_cleanup_close_ int state_fd = -EBADF, run_fd = -EBADF, base_fd = -EBADF,
			    locks_fd = -EBADF;
	struct ledger *ledger = NULL;
	int r;

	r = read_boot_id(ctx->boot_id, sizeof(ctx->boot_id));
	if (r < 0)
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "cannot read the boot id: %s",
				 errno_str(r));
	r = check_dirs(ctx);
	if (r < 0)
		return r;
	state_fd = open_secure_dir(ctx, ctx->paths[VOLMOUNT_PATH_STATE_DIR], 0700,
				   "state directory", true);
	if (state_fd < 0)
		return state_fd;
	run_fd = open_secure_dir(ctx, ctx->paths[VOLMOUNT_PATH_RUN_DIR], 0700, "run directory",
				 true);
	if (run_fd < 0)
		return run_fd;
	base_fd = open_secure_dir(ctx, ctx->paths[VOLMOUNT_PATH_BASE_DIR], 0755,
				  "base directory", true);
	if (base_fd < 0)
		return base_fd;
	r = publish_canonical_base(ctx);
	if (r < 0)
		return r;
	locks_fd = open_locks_dir(ctx);
	if (locks_fd < 0)
		return locks_fd;
	r = open_ledger(ctx, state_fd, &ledger);
	if (r < 0)
		return r;
	r = lock_cache_set_dirs(ctx->locks, run_fd, locks_fd, ctx->paths[VOLMOUNT_PATH_RUN_DIR],
				ctx->timeout_ms);
	if (r < 0) {
		ledger_close(ledger);
		return r;
	}
	run_fd = locks_fd = -EBADF; /* the lock cache's now */
	ctx->ledger = ledger;
	ctx->base_fd = TAKE_FD(base_fd);
	return 0;
}

int ctx_open(struct volmount_ctx *ctx)
{
	int r = 0;

	(void)pthread_mutex_lock(&ctx->open_lock);
	if (!ctx->opened) {
		r = do_open(ctx);
		if (r >= 0)
			ctx->opened = true;
	}
	(void)pthread_mutex_unlock(&ctx->open_lock);
	return r;
}

const char *ctx_base(const struct volmount_ctx *ctx)
{
	const char *c = __atomic_load_n(&ctx->base_canon, __ATOMIC_ACQUIRE);

	return c ? c : ctx->paths[VOLMOUNT_PATH_BASE_DIR];
}
