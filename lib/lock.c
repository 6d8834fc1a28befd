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
#include <unistd.h>

#include "internal.h"
#include "lock.h"
#include "util/cleanup.h"

#define GATE_BYTE 0
#define LOCK_BYTE 1

static void sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int setlk(int fd, short type, off_t start)
{
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = start,
		.l_len = 1,
		.l_pid = 0, /* must be 0 for OFD locks */
	};

	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return -errno;
	return 0;
}

/* Take the lock on one byte, polling until @deadline_ms. */
static int wait_lock(int fd, short type, off_t start, uint64_t deadline_ms)
{
	unsigned backoff = 50;

	for (;;) {
		int r = setlk(fd, type, start);

		if (r != -EAGAIN && r != -EACCES)
			return r;
		if (now_ms() >= deadline_ms)
			return -ETIMEDOUT;
		sleep_us(backoff);
		if (backoff < 5000)
			backoff *= 2;
	}
}

static int open_lock_file(int dirfd, const char *name)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return -errno;
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
	if (ctx->host_lock_pid != getpid()) {
		ctx->host_lock_fd = -EBADF; /* the parent's description: never touch it */
		ctx->host_lock_readers = 0;
		ctx->host_lock_pid = getpid();
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
			r = wait_lock(ctx->host_lock_fd, F_RDLCK, GATE_BYTE, deadline_ms);
			if (r >= 0)
				r = wait_lock(ctx->host_lock_fd, F_RDLCK, LOCK_BYTE, deadline_ms);
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
	if (ctx->host_lock_pid == getpid() && ctx->host_lock_readers > 0 &&
	    --ctx->host_lock_readers == 0)
		(void)setlk(ctx->host_lock_fd, F_UNLCK, LOCK_BYTE); /* cannot fail on our own lock */
	(void)pthread_mutex_unlock(&ctx->host_lock_mu);
}

int lock_share(struct volmount_ctx *ctx, const char *hash, uint64_t deadline_ms)
{
	_cleanup_close_ int fd = -EBADF;
	char name[80];
	int r;

	(void)snprintf(name, sizeof(name), "%s.lock", hash);
	fd = open_lock_file(ctx->locks_fd, name);
	if (fd < 0)
		return ctx_error(ctx, fd, VOLMOUNT_ERR_PERM, "cannot open lock '%s/locks/%s': %s",
				 ctx->paths[VOLMOUNT_PATH_RUN_DIR], name, strerror(-fd));
	r = wait_lock(fd, F_WRLCK, 0, deadline_ms);
	if (r < 0)
		return r; /* the caller names the share */
	return TAKE_FD(fd);
}

void lock_release(int fd)
{
	if (fd >= 0)
		(void)close(fd); /* closing the description releases its OFD locks */
}
