/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lock.c - bounded OFD locks between threads and processes.
 *
 * OFD locks belong to the open file description, so two threads of one process that open the
 * lock file separately exclude each other just as two processes do, and a lock dies with the
 * process that held it (a crashed holder never wedges the host).
 *
 * The kernel offers no timed F_OFD_SETLKW, so waits poll F_OFD_SETLK with a backoff from
 * 50 us to 5 ms until the deadline. To keep a stream of attach/detach callers from starving
 * host-up, the host lock file has two byte ranges: byte 0 is a gate and byte 1 the lock.
 * Exclusive callers take the gate first and keep it, so new shared callers queue at the gate
 * while those already inside drain.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "internal.h"
#include "lock.h"
#include "util/cleanup.h"

#define GATE_BYTE 0
#define LOCK_BYTE 1
_Static_assert(LOCK_BYTE == GATE_BYTE + 1, "the shared lock takes gate and lock in one range");

static void sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int setlk_range(int fd, short type, off_t start, off_t len)
{
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = start,
		.l_len = len,
		.l_pid = 0, /* must be 0 for OFD locks */
	};

	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return -errno;
	return 0;
}

static int setlk(int fd, short type, off_t start)
{
	return setlk_range(fd, type, start, 1);
}

/* Take the lock on @len bytes from @start, polling until @deadline_ms. */
static int wait_lock_range(int fd, short type, off_t start, off_t len, uint64_t deadline_ms)
{
	unsigned backoff = 50;

	for (;;) {
		int r = setlk_range(fd, type, start, len);

		if (r != -EAGAIN && r != -EACCES)
			return r;
		if (now_ms() >= deadline_ms)
			return -ETIMEDOUT;
		sleep_us(backoff);
		if (backoff < 5000)
			backoff *= 2;
	}
}

static int wait_lock(int fd, short type, off_t start, uint64_t deadline_ms)
{
	return wait_lock_range(fd, type, start, 1, deadline_ms);
}

/*
 * Never keep a lock file on fd 0, 1 or 2: a caller that runs us with a standard descriptor
 * closed would otherwise have its next write to stdout or stderr land in the lock file (the
 * CLI reopens them on /dev/null first; this covers every other program that links us).
 * Takes @fd (>= 0); returns a descriptor above 2 or -errno.
 */
static int fd_above_stdio(int fd)
{
	int nfd;

	if (fd < 0 || fd > STDERR_FILENO)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	if (nfd < 0)
		nfd = -errno;
	(void)close(fd); /* the low descriptor is never used: only its duplicate is returned */
	return nfd;
}

static int open_lock_file(int dirfd, const char *name)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return -errno;
	fd = fd_above_stdio(fd);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
		return -EPERM;
	if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) /* created under any umask */
		return -errno;
	return TAKE_FD(fd);
}

int lock_host(struct volmount_ctx *ctx, bool exclusive, uint64_t deadline_ms)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	fd = open_lock_file(ctx->run_fd, "host.lock");
	if (fd < 0)
		return ctx_error(ctx, fd, VOLMOUNT_ERR_PERM, "cannot open '%s/host.lock': %s",
				 ctx->paths[VOLMOUNT_PATH_RUN_DIR], strerror(-fd));
	if (exclusive) {
		r = wait_lock(fd, F_WRLCK, GATE_BYTE, deadline_ms);
		if (r >= 0)
			r = wait_lock(fd, F_WRLCK, LOCK_BYTE, deadline_ms);
	} else {
		r = wait_lock(fd, F_RDLCK, GATE_BYTE, deadline_ms);
		if (r >= 0)
			r = wait_lock(fd, F_RDLCK, LOCK_BYTE, deadline_ms);
		if (r >= 0)
			r = setlk(fd, F_UNLCK, GATE_BYTE);
	}
	if (r == -ETIMEDOUT)
		return ctx_error(ctx, r, VOLMOUNT_ERR_TEMPFAIL,
				 exclusive ? "timed out after %u ms draining in-flight operations (host lock)" :
					     "timed out after %u ms waiting for host-up/host-down (host lock)",
				 ctx->timeout_ms);
	if (r < 0)
		return ctx_error(ctx, r, VOLMOUNT_ERR_INTERNAL, "host lock: %s", strerror(-r));
	return TAKE_FD(fd);
}

/* Is a writer holding (or waiting at) the gate? F_OFD_GETLK reports a conflicting lock of
 * another open file description. */
static int gate_is_closed(int fd)
{
	struct flock fl = {
		.l_type = F_RDLCK,
		.l_whence = SEEK_SET,
		.l_start = GATE_BYTE,
		.l_len = 1,
	};

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

/*
 * The shared host lock, as attach and detach take it on every call. One open file
 * description per context serves all its threads: the first holder takes the OFD lock, the
 * last one drops it, and the fd stays open (saving an open, fstat and close per call). A
 * thread joining holders already inside still stops at the gate while a writer waits there,
 * so host-up is not starved by a busy process. After fork() the inherited description is
 * the parent's, so a child opens its own.
 */
int lock_host_shared(struct volmount_ctx *ctx, uint64_t deadline_ms)
{
	unsigned backoff = 50;
	int r = 0;

	(void)pthread_mutex_lock(&ctx->host_lock_mu);
	if (ctx->host_lock_gen != lock_process_gen()) {
		ctx->host_lock_fd = -EBADF; /* the parent's description: never touch it */
		ctx->host_lock_readers = 0;
		ctx->host_lock_gen = lock_process_gen();
	}
	if (ctx->host_lock_fd < 0) {
		int fd = open_lock_file(ctx->run_fd, "host.lock");

		if (fd < 0) {
			(void)pthread_mutex_unlock(&ctx->host_lock_mu);
			return ctx_error(ctx, fd, VOLMOUNT_ERR_PERM, "cannot open '%s/host.lock': %s",
					 ctx->paths[VOLMOUNT_PATH_RUN_DIR], strerror(-fd));
		}
		ctx->host_lock_fd = fd;
	}
	for (;;) {
		if (ctx->host_lock_readers == 0) {
			/* Gate and lock in one call (both free, or wait), then leave the gate. */
			r = wait_lock_range(ctx->host_lock_fd, F_RDLCK, GATE_BYTE, 2, deadline_ms);
			if (r >= 0)
				r = setlk(ctx->host_lock_fd, F_UNLCK, GATE_BYTE);
			break;
		}
		r = gate_is_closed(ctx->host_lock_fd);
		if (r <= 0)
			break; /* open gate: join the holders inside */
		(void)pthread_mutex_unlock(&ctx->host_lock_mu);
		if (now_ms() >= deadline_ms)
			return ctx_error(ctx, -ETIMEDOUT, VOLMOUNT_ERR_TEMPFAIL,
					 "timed out after %u ms waiting for host-up/host-down (host lock)",
					 ctx->timeout_ms);
		sleep_us(backoff);
		if (backoff < 5000)
			backoff *= 2;
		(void)pthread_mutex_lock(&ctx->host_lock_mu);
	}
	if (r >= 0)
		ctx->host_lock_readers++;
	(void)pthread_mutex_unlock(&ctx->host_lock_mu);
	if (r == -ETIMEDOUT)
		return ctx_error(ctx, r, VOLMOUNT_ERR_TEMPFAIL,
				 "timed out after %u ms waiting for host-up/host-down (host lock)",
				 ctx->timeout_ms);
	if (r < 0)
		return ctx_error(ctx, r, VOLMOUNT_ERR_INTERNAL, "host lock: %s", strerror(-r));
	return 0;
}

void lock_host_shared_release(struct volmount_ctx *ctx)
{
	(void)pthread_mutex_lock(&ctx->host_lock_mu);
	if (ctx->host_lock_gen == lock_process_gen() && ctx->host_lock_readers > 0 &&
	    --ctx->host_lock_readers == 0)
		(void)setlk(ctx->host_lock_fd, F_UNLCK, LOCK_BYTE); /* cannot fail on our own lock */
	(void)pthread_mutex_unlock(&ctx->host_lock_mu);
}

/*
 * Share-lock descriptions are kept per context once released, so the next lock of a share is
 * one fcntl() instead of an open, an fstat and a close. A description is in the cache only
 * while no thread holds it: a thread takes it out to lock (two threads of one process must
 * use two descriptions to exclude each other). One that names a file no longer linked (a run
 * directory made afresh) is dropped rather than used: it would exclude nobody.
 *
 * fork(): an OFD lock lives as long as its description, and a child that inherits a cached
 * description keeps it alive. If the parent later locked it and died holding it, the share
 * would stay locked until the child exits. So a fork handler closes, in the child, every
 * description the context caches, and the shared host lock's too (pthread_atfork(), with
 * every registered context's cache held across the fork so the child sees it whole). The
 * parent keeps its own; a child opens its own when it needs them.
 */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct volmount_ctx *registry; /* contexts alive, linked by ->registry_next */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
/* Raised in every child fork() makes, so "still the process that opened this?" costs no
 * getpid(). (A child made by a raw clone(), without the fork handlers, is not told apart:
 * it must not use its parent's contexts.) */
static _Atomic unsigned process_gen;
static unsigned forking_gen;          /* written in fork_prepare(), under registry_mu */

unsigned lock_process_gen(void)
{
	return atomic_load_explicit(&process_gen, memory_order_relaxed);
}

static void fork_prepare(void)
{
	(void)pthread_mutex_lock(&registry_mu);
	forking_gen = lock_process_gen();
	for (struct volmount_ctx *c = registry; c; c = c->registry_next)
		(void)pthread_mutex_lock(&c->share_fds_mu);
}

static void fork_parent(void)
{
	for (struct volmount_ctx *c = registry; c; c = c->registry_next)
		(void)pthread_mutex_unlock(&c->share_fds_mu);
	(void)pthread_mutex_unlock(&registry_mu);
}

static void fork_child(void)
{
	unsigned gen = forking_gen + 1;

	atomic_store_explicit(&process_gen, gen, memory_order_relaxed);
	for (struct volmount_ctx *c = registry; c; c = c->registry_next) {
		/* Only descriptions the forking process opened itself are known to be open. */
		if (c->share_fds_gen == forking_gen)
			for (unsigned i = 0; i < c->n_share_fds; i++)
				(void)close(c->share_fds[i].fd);
		c->n_share_fds = 0;
		c->share_fds_gen = gen;
		if (c->host_lock_fd >= 0 && c->host_lock_gen == forking_gen)
			(void)close(c->host_lock_fd); /* lock_host_shared() then opens its own */
		(void)pthread_mutex_unlock(&c->share_fds_mu);
	}
	(void)pthread_mutex_unlock(&registry_mu);
}

static void atfork_register(void)
{
	(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void lock_share_cache_init(struct volmount_ctx *ctx)
{
	(void)pthread_once(&atfork_once, atfork_register);
	ctx->share_fds_gen = ctx->host_lock_gen = lock_process_gen();
	(void)pthread_mutex_lock(&registry_mu);
	ctx->registry_next = registry;
	registry = ctx;
	(void)pthread_mutex_unlock(&registry_mu);
}

void lock_share_cache_drop(struct volmount_ctx *ctx)
{
	(void)pthread_mutex_lock(&registry_mu);
	for (struct volmount_ctx **p = &registry; *p; p = &(*p)->registry_next)
		if (*p == ctx) {
			*p = ctx->registry_next;
			break;
		}
	(void)pthread_mutex_unlock(&registry_mu);
	(void)pthread_mutex_lock(&ctx->share_fds_mu);
	if (ctx->share_fds_gen == lock_process_gen())
		for (unsigned i = 0; i < ctx->n_share_fds; i++)
			(void)close(ctx->share_fds[i].fd);
	ctx->n_share_fds = 0;
	(void)pthread_mutex_unlock(&ctx->share_fds_mu);
}

/* Defensive: the fork handler has emptied the cache of a child already. */
static void cache_forget_if_forked(struct volmount_ctx *ctx)
{
	if (ctx->share_fds_gen == lock_process_gen())
		return;
	ctx->n_share_fds = 0;
	ctx->share_fds_gen = lock_process_gen();
}

static int cache_take(struct volmount_ctx *ctx, const char *hash)
{
	struct stat st;
	int fd = -EBADF;

	(void)pthread_mutex_lock(&ctx->share_fds_mu);
	cache_forget_if_forked(ctx);
	for (unsigned i = 0; i < ctx->n_share_fds; i++)
		if (strcmp(ctx->share_fds[i].hash, hash) == 0) {
			fd = ctx->share_fds[i].fd;
			ctx->share_fds[i] = ctx->share_fds[--ctx->n_share_fds];
			break;
		}
	(void)pthread_mutex_unlock(&ctx->share_fds_mu);
	if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_nlink == 0)) {
		(void)close(fd);
		fd = -EBADF;
	}
	return fd;
}

/* Keep @fd (unlocked) for the next lock of @hash; when full, the oldest entry goes. */
static void cache_put(struct volmount_ctx *ctx, const char *hash, int fd)
{
	int evicted = -EBADF;

	if (strlen(hash) >= sizeof(ctx->share_fds[0].hash)) {
		(void)close(fd);
		return;
	}
	(void)pthread_mutex_lock(&ctx->share_fds_mu);
	cache_forget_if_forked(ctx);
	if (ctx->n_share_fds == CTX_SHARE_FDS) {
		evicted = ctx->share_fds[0].fd;
		memmove(&ctx->share_fds[0], &ctx->share_fds[1],
			sizeof(ctx->share_fds[0]) * (CTX_SHARE_FDS - 1));
		ctx->n_share_fds--;
	}
	(void)snprintf(ctx->share_fds[ctx->n_share_fds].hash, sizeof(ctx->share_fds[0].hash), "%s",
		       hash);
	ctx->share_fds[ctx->n_share_fds++].fd = fd;
	(void)pthread_mutex_unlock(&ctx->share_fds_mu);
	if (evicted >= 0)
		(void)close(evicted);
}

int lock_share(struct volmount_ctx *ctx, const char *hash, uint64_t deadline_ms)
{
	char name[80];
	int fd, r;

	fd = cache_take(ctx, hash);
	if (fd < 0) {
		(void)snprintf(name, sizeof(name), "%s.lock", hash);
		fd = open_lock_file(ctx->locks_fd, name);
		if (fd < 0)
			return ctx_error(ctx, fd, VOLMOUNT_ERR_PERM,
					 "cannot open lock '%s/locks/%s': %s",
					 ctx->paths[VOLMOUNT_PATH_RUN_DIR], name, strerror(-fd));
	}
	r = wait_lock(fd, F_WRLCK, 0, deadline_ms);
	if (r < 0) {
		cache_put(ctx, hash, fd);
		return r; /* the caller names the share */
	}
	return fd;
}

void lock_share_release(struct volmount_ctx *ctx, const char *hash, int fd)
{
	if (fd < 0)
		return;
	if (setlk(fd, F_UNLCK, 0) < 0) {
		(void)close(fd); /* closing releases whatever is left */
		return;
	}
	cache_put(ctx, hash, fd);
}

void lock_release(int fd)
{
	if (fd >= 0)
		(void)close(fd); /* closing the description releases its OFD locks */
}
