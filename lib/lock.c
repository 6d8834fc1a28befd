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
