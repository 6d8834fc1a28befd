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
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "error.h"
#include "lock.h"
#include "cleanup.h"
#include "time-util.h"
#include "errno-util.h"

#define GATE_BYTE 0
#define LOCK_BYTE 1
#define RECONCILE_BYTE 2 /* held by a reconcile whose host lock went down to shared */
_Static_assert(LOCK_BYTE == GATE_BYTE + 1, "the shared lock takes gate and lock in one range");

/* The lock state of one context (lock.h): its directories, the shared host lock and the
 * cached share-lock descriptions. Nothing outside this file sees inside. */
struct lock_cache {
	char *run_dir;       /* for messages */
	unsigned timeout_ms; /* for messages */
	int run_fd;          /* O_PATH of the run directory (host.lock) */
	int locks_fd;        /* O_PATH of <run>/locks */
	/* The shared host lock held for attach/detach: one description, a count of holders in
	 * this process, and the generation of the process that opened it (a forked child opens
	 * its own). */
	pthread_mutex_t host_lock_mu;
	int host_lock_fd;
	unsigned host_lock_readers;
	unsigned host_lock_gen;
	/* Share-lock descriptions not in use, kept open for the next lock of the same share,
	 * with the generation of the process that opened them. */
	pthread_mutex_t share_fds_mu;
	struct {
		char hash[65];
		int fd;
	} share_fds[LOCK_CACHE_FDS];
	unsigned n_share_fds;
	unsigned share_fds_gen;
	struct lock_cache *registry_next; /* the fork handlers' list */
};

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

/* One step of a polling wait: -ETIMEDOUT once @deadline_ms has passed, else sleep *@backoff
 * microseconds (start it at 50) and double it, up to 5 ms. */
static int backoff_wait(unsigned *backoff, uint64_t deadline_ms)
{
	if (now_ms() >= deadline_ms)
		return -ETIMEDOUT;
	sleep_us(*backoff);
	if (*backoff < 5000)
		*backoff *= 2;
	return 0;
}

/* Take the lock on @len bytes from @start, polling until @deadline_ms. */
static int wait_lock_range(int fd, short type, off_t start, off_t len, uint64_t deadline_ms)
{
	unsigned backoff = 50;

	for (;;) {
		int r = setlk_range(fd, type, start, len);

		if (r != -EAGAIN && r != -EACCES)
			return r;
		r = backoff_wait(&backoff, deadline_ms);
		if (r < 0)
			return r;
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

int lock_host(struct lock_cache *lc, bool exclusive, uint64_t deadline_ms)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	fd = open_lock_file(lc->run_fd, "host.lock");
	if (fd < 0)
		return error_set(fd, VOLMOUNT_ERR_PERM, "cannot open '%s/host.lock': %s",
				 lc->run_dir, errno_str(fd));
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
		return error_set(r, VOLMOUNT_ERR_TEMPFAIL,
				 exclusive ? "timed out after %u ms draining in-flight operations (host lock)" :
					     "timed out after %u ms waiting for host-up/host-down (host lock)",
				 lc->timeout_ms);
	if (r < 0)
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "host lock: %s", errno_str(r));
	return TAKE_FD(fd);
}

int lock_host_downgrade(int fd)
{
	int r;

	/* Nobody else takes the reconcile byte but under an exclusive host lock, which we
	 * hold: it is free. Converting our own write lock never waits: the lock byte first, so
	 * no exclusive caller can slip in between, then the gate, which lets shared callers
	 * in. */
	r = setlk(fd, F_WRLCK, RECONCILE_BYTE);
	if (r >= 0)
		r = setlk(fd, F_RDLCK, LOCK_BYTE);
	if (r >= 0)
		r = setlk(fd, F_UNLCK, GATE_BYTE);
	if (r < 0)
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "host lock: %s", errno_str(r));
	return 0;
}

/* Does another description hold the reconcile byte of @fd's file? 1, 0 or -errno. */
static int reconcile_held(int fd)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = RECONCILE_BYTE,
		.l_len = 1,
	};

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

int lock_host_unless_reconciling(struct lock_cache *lc, uint64_t deadline_ms)
{
	_cleanup_close_ int fd = -EBADF;
	unsigned backoff = 50;
	bool gate = false;
	int r;

	fd = open_lock_file(lc->run_fd, "host.lock");
	if (fd < 0)
		return error_set(fd, VOLMOUNT_ERR_PERM, "cannot open '%s/host.lock': %s",
				 lc->run_dir, errno_str(fd));
	for (;;) {
		r = gate ? 0 : setlk(fd, F_WRLCK, GATE_BYTE);
		if (r >= 0) {
			gate = true;
			r = setlk(fd, F_WRLCK, LOCK_BYTE);
			if (r >= 0)
				return TAKE_FD(fd);
		}
		if (r != -EAGAIN && r != -EACCES)
			return error_set(r, VOLMOUNT_ERR_INTERNAL, "host lock: %s", errno_str(r));
		/* Waiting: for a host-up or first call that holds the lock exclusively, or for
		 * the shared holders to drain. A reconcile under a downgraded lock holds the lock
		 * byte shared until it ends: give way to it, and let go of the gate (closing the
		 * description), which would otherwise hold back every attach and detach. */
		r = reconcile_held(fd);
		if (r < 0)
			return error_set(r, VOLMOUNT_ERR_INTERNAL, "host lock: %s", errno_str(r));
		if (r > 0)
			return -EINPROGRESS;
		if (backoff_wait(&backoff, deadline_ms) < 0)
			return error_set(-ETIMEDOUT, VOLMOUNT_ERR_TEMPFAIL,
					 "timed out after %u ms draining in-flight operations (host lock)",
					 lc->timeout_ms);
	}
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
int lock_host_shared(struct lock_cache *lc, uint64_t deadline_ms)
{
	unsigned backoff = 50;
	int r = 0;

	(void)pthread_mutex_lock(&lc->host_lock_mu);
	if (lc->host_lock_gen != lock_process_gen()) {
		lc->host_lock_fd = -EBADF; /* the parent's description: never touch it */
		lc->host_lock_readers = 0;
		lc->host_lock_gen = lock_process_gen();
	}
	if (lc->host_lock_fd < 0) {
		int fd = open_lock_file(lc->run_fd, "host.lock");

		if (fd < 0) {
			(void)pthread_mutex_unlock(&lc->host_lock_mu);
			return error_set(fd, VOLMOUNT_ERR_PERM, "cannot open '%s/host.lock': %s",
					 lc->run_dir, errno_str(fd));
		}
		lc->host_lock_fd = fd;
	}
	for (;;) {
		if (lc->host_lock_readers == 0) {
			/* Gate and lock in one call (both free, or wait), then leave the gate. */
			r = wait_lock_range(lc->host_lock_fd, F_RDLCK, GATE_BYTE, 2, deadline_ms);
			if (r >= 0)
				r = setlk(lc->host_lock_fd, F_UNLCK, GATE_BYTE);
			break;
		}
		r = gate_is_closed(lc->host_lock_fd);
		if (r <= 0)
			break; /* open gate: join the holders inside */
		(void)pthread_mutex_unlock(&lc->host_lock_mu);
		if (backoff_wait(&backoff, deadline_ms) < 0)
			return error_set(-ETIMEDOUT, VOLMOUNT_ERR_TEMPFAIL,
					 "timed out after %u ms waiting for host-up/host-down (host lock)",
					 lc->timeout_ms);
		(void)pthread_mutex_lock(&lc->host_lock_mu);
	}
	if (r >= 0)
		lc->host_lock_readers++;
	(void)pthread_mutex_unlock(&lc->host_lock_mu);
	if (r == -ETIMEDOUT)
		return error_set(r, VOLMOUNT_ERR_TEMPFAIL,
				 "timed out after %u ms waiting for host-up/host-down (host lock)",
				 lc->timeout_ms);
	if (r < 0)
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "host lock: %s", errno_str(r));
	return 0;
}

void lock_host_shared_release(struct lock_cache *lc)
{
	(void)pthread_mutex_lock(&lc->host_lock_mu);
	if (lc->host_lock_gen == lock_process_gen() && lc->host_lock_readers > 0 &&
	    --lc->host_lock_readers == 0)
		(void)setlk(lc->host_lock_fd, F_UNLCK, LOCK_BYTE); /* cannot fail on our own lock */
	(void)pthread_mutex_unlock(&lc->host_lock_mu);
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
static struct lock_cache *registry; /* contexts alive, linked by ->registry_next */
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
	for (struct lock_cache *c = registry; c; c = c->registry_next)
		(void)pthread_mutex_lock(&c->share_fds_mu);
}

static void fork_parent(void)
{
	for (struct lock_cache *c = registry; c; c = c->registry_next)
		(void)pthread_mutex_unlock(&c->share_fds_mu);
	(void)pthread_mutex_unlock(&registry_mu);
}

static void fork_child(void)
{
	unsigned gen = forking_gen + 1;

	atomic_store_explicit(&process_gen, gen, memory_order_relaxed);
	for (struct lock_cache *c = registry; c; c = c->registry_next) {
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

int lock_cache_new(struct lock_cache **ret)
{
	struct lock_cache *lc = calloc(1, sizeof(*lc));

	if (!lc)
		return -ENOMEM;
	lc->run_fd = lc->locks_fd = lc->host_lock_fd = -EBADF;
	(void)pthread_mutex_init(&lc->host_lock_mu, NULL); /* cannot fail with default attrs */
	(void)pthread_mutex_init(&lc->share_fds_mu, NULL);
	(void)pthread_once(&atfork_once, atfork_register);
	lc->share_fds_gen = lc->host_lock_gen = lock_process_gen();
	(void)pthread_mutex_lock(&registry_mu);
	lc->registry_next = registry;
	registry = lc;
	(void)pthread_mutex_unlock(&registry_mu);
	*ret = lc;
	return 0;
}

int lock_cache_set_dirs(struct lock_cache *lc, int run_fd, int locks_fd, const char *run_dir,
			unsigned timeout_ms)
{
	char *d = strdup(run_dir);

	if (!d)
		return -ENOMEM;
	free(lc->run_dir);
	lc->run_dir = d;
	if (lc->run_fd >= 0)
		(void)close(lc->run_fd);
	if (lc->locks_fd >= 0)
		(void)close(lc->locks_fd);
	lc->run_fd = run_fd;
	lc->locks_fd = locks_fd;
	lc->timeout_ms = timeout_ms;
	return 0;
}

void lock_cache_free(struct lock_cache *lc)
{
	if (!lc)
		return;
	/* First out of the fork handlers' list: they may close this cache's fds in a child. */
	(void)pthread_mutex_lock(&registry_mu);
	for (struct lock_cache **p = &registry; *p; p = &(*p)->registry_next)
		if (*p == lc) {
			*p = lc->registry_next;
			break;
		}
	(void)pthread_mutex_unlock(&registry_mu);
	if (lc->share_fds_gen == lock_process_gen())
		for (unsigned i = 0; i < lc->n_share_fds; i++)
			(void)close(lc->share_fds[i].fd);
	if (lc->host_lock_fd >= 0 && lc->host_lock_gen == lock_process_gen())
		(void)close(lc->host_lock_fd);
	if (lc->run_fd >= 0)
		(void)close(lc->run_fd);
	if (lc->locks_fd >= 0)
		(void)close(lc->locks_fd);
	(void)pthread_mutex_destroy(&lc->host_lock_mu);
	(void)pthread_mutex_destroy(&lc->share_fds_mu);
	free(lc->run_dir);
	free(lc);
}

/* Defensive: the fork handler has emptied the cache of a child already. */
static void cache_forget_if_forked(struct lock_cache *lc)
{
	if (lc->share_fds_gen == lock_process_gen())
		return;
	lc->n_share_fds = 0;
	lc->share_fds_gen = lock_process_gen();
}

static int cache_take(struct lock_cache *lc, const char *hash)
{
	struct stat st;
	int fd = -EBADF;

	(void)pthread_mutex_lock(&lc->share_fds_mu);
	cache_forget_if_forked(lc);
	for (unsigned i = 0; i < lc->n_share_fds; i++)
		if (strcmp(lc->share_fds[i].hash, hash) == 0) {
			fd = lc->share_fds[i].fd;
			lc->share_fds[i] = lc->share_fds[--lc->n_share_fds];
			break;
		}
	(void)pthread_mutex_unlock(&lc->share_fds_mu);
	if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_nlink == 0)) {
		(void)close(fd);
		fd = -EBADF;
	}
	return fd;
}

/* Keep @fd (unlocked) for the next lock of @hash; when full, the oldest entry goes. */
static void cache_put(struct lock_cache *lc, const char *hash, int fd)
{
	int evicted = -EBADF;

	if (strlen(hash) >= sizeof(lc->share_fds[0].hash)) {
		(void)close(fd);
		return;
	}
	(void)pthread_mutex_lock(&lc->share_fds_mu);
	cache_forget_if_forked(lc);
	if (lc->n_share_fds == LOCK_CACHE_FDS) {
		evicted = lc->share_fds[0].fd;
		memmove(&lc->share_fds[0], &lc->share_fds[1],
			sizeof(lc->share_fds[0]) * (LOCK_CACHE_FDS - 1));
		lc->n_share_fds--;
	}
	(void)snprintf(lc->share_fds[lc->n_share_fds].hash, sizeof(lc->share_fds[0].hash), "%s",
		       hash);
	lc->share_fds[lc->n_share_fds++].fd = fd;
	(void)pthread_mutex_unlock(&lc->share_fds_mu);
	if (evicted >= 0)
		(void)close(evicted);
}

int lock_share(struct lock_cache *lc, const char *hash, uint64_t deadline_ms)
{
	char name[80];
	int fd, r;

	fd = cache_take(lc, hash);
	if (fd < 0) {
		(void)snprintf(name, sizeof(name), "%s.lock", hash);
		fd = open_lock_file(lc->locks_fd, name);
		if (fd < 0)
			return error_set(fd, VOLMOUNT_ERR_PERM,
					 "cannot open lock '%s/locks/%s': %s",
					 lc->run_dir, name, errno_str(fd));
	}
	r = wait_lock(fd, F_WRLCK, 0, deadline_ms);
	if (r < 0) {
		cache_put(lc, hash, fd);
		return r; /* the caller names the share */
	}
	return fd;
}

void lock_share_release(struct lock_cache *lc, const char *hash, int fd)
{
	if (fd < 0)
		return;
	if (setlk(fd, F_UNLCK, 0) < 0) {
		(void)close(fd); /* closing releases whatever is left */
		return;
	}
	cache_put(lc, hash, fd);
}

void lock_release(int fd)
{
	if (fd >= 0)
		(void)close(fd); /* closing the description releases its OFD locks */
}
