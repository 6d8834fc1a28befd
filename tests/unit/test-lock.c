/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-lock.c - the OFD locks, for real, in a temporary run directory: the per-share lock
 * between two descriptions of one process, between threads and between processes; release when
 * the holder closes, exits or is killed; the host lock's shared/exclusive modes and its gate
 * (a waiting exclusive locker keeps new shared lockers out); bounded waits that end at the
 * deadline and not much later; lock file modes; planted symlinks and other non-files; never
 * a lock file on fd 0, 1 or 2.
 * Needs no root: every directory is ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "lock.h"
#include "test.h"
#include "test-tmp.h"
#include "cleanup.h"
#include "volmount.h"

#define HASH  "1e3ceb3f08ef632e906fee30345671d60a8d3bb6a23b2dfbac8dcefcf0af71dd"
#define HASH2 "943b1ef5e547d75a669168888ff9bad0dbd4c34a874fd906fe0325fe9de77304"
#define HASH3 "dfb2bf8c2080677f6680e9f42859c3b9bf2cc7ce05a6e475c1ed04a7039972bd"

/* How late a timed-out wait may return after its deadline. */
#define SLACK_MS 500

/* ---- fixture ---- */

static char *root;
static struct volmount_ctx *ctx;

static char *path_in(const char *rel)
{
	return test_path(root, rel);
}

static void setup(void)
{
	root = test_tmpdir("lock");
	ctx = test_ctx_in(root);
	ASSERT_OK(ctx_open(ctx));
}

static void teardown(void)
{
	volmount_ctx_free(ctx);
	ctx = NULL;
	test_rm_rf(&root);
}

/* Expect a lock call that returned @r at @end to have timed out at @deadline. */
static void expect_timed_out(int r, uint64_t deadline, uint64_t end, const char *what)
{
	if (r != -ETIMEDOUT)
		TEST_FAIL("%s: got %d, want -ETIMEDOUT", what, r);
	if (end < deadline)
		TEST_FAIL("%s: gave up %llu ms before its deadline", what,
			  (unsigned long long)(deadline - end));
	if (end > deadline + SLACK_MS)
		TEST_FAIL("%s: returned %llu ms after its deadline", what,
			  (unsigned long long)(end - deadline));
}

static void try_share_times_out(const char *hash, unsigned wait_ms, const char *what)
{
	uint64_t deadline = now_ms() + wait_ms;
	int r = lock_share(ctx->locks, hash, deadline);

	if (r >= 0)
		lock_release(r);
	expect_timed_out(r, deadline, now_ms(), what);
}

static void try_host_times_out(bool exclusive, unsigned wait_ms, const char *what)
{
	uint64_t deadline = now_ms() + wait_ms;
	int r = lock_host(ctx->locks, exclusive, deadline);

	if (r >= 0)
		lock_release(r);
	expect_timed_out(r, deadline, now_ms(), what);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_TEMPFAIL);
}

/* Take a lock that must be free: at once, well before a generous deadline. */
static int share_now(const char *hash)
{
	uint64_t t0 = now_ms();
	int fd = lock_share(ctx->locks, hash, t0 + 2000);

	ASSERT_OK(fd);
	ASSERT_TRUE(now_ms() - t0 < 200);
	return fd;
}

static int host_now(bool exclusive)
{
	uint64_t t0 = now_ms();
	int fd = lock_host(ctx->locks, exclusive, t0 + 2000);

	ASSERT_OK(fd);
	ASSERT_TRUE(now_ms() - t0 < 200);
	return fd;
}

/* ---- per-share lock ---- */

static void test_share_two_fds(void)
{
	int a = share_now(HASH), b;

	try_share_times_out(HASH, 300, "second description, same process");
	b = share_now(HASH2); /* another share is independent */
	lock_release(b);

	/* A deadline already passed fails at once, without sleeping. */
	{
		uint64_t t0 = now_ms();

		ASSERT_EQ(lock_share(ctx->locks, HASH, t0 > 10 ? t0 - 10 : 0), -ETIMEDOUT);
		ASSERT_TRUE(now_ms() - t0 < 100);
	}

	lock_release(a); /* closing releases */
	b = share_now(HASH);
	lock_release(b);
	lock_release(-EBADF); /* accepted, no-op */
}

struct holder {
	pthread_t tid;
	const char *hash;
	bool host, exclusive;
	unsigned hold_ms;
	uint64_t deadline;
	int pipe_fd;         /* written once the lock is held */
	int result;          /* lock call's result */
	uint64_t got_at;     /* now_ms() when it was taken */
	uint64_t released_at;
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;
	char c = 'x';
	int fd = h->host ? lock_host(ctx->locks, h->exclusive, h->deadline) :
			   lock_share(ctx->locks, h->hash, h->deadline);

	h->result = fd;
	h->got_at = now_ms();
	if (h->pipe_fd >= 0)
		ASSERT_EQ(write(h->pipe_fd, &c, 1), 1);
	if (fd >= 0) {
		sleep_ms(h->hold_ms);
		h->released_at = now_ms();
		lock_release(fd);
	}
	return NULL;
}

static void wait_byte(int fd)
{
	char c;

	ASSERT_EQ(read(fd, &c, 1), 1);
}

/* Nothing written to @fd yet. */
static bool no_byte(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 0;
}

static void test_share_threads(void)
{
	int p[2];
	struct holder h = { .hash = HASH, .hold_ms = 300 };
	uint64_t t0;
	int fd;

	ASSERT_OK(pipe2(p, O_CLOEXEC) < 0 ? -errno : 0);
	h.pipe_fd = p[1];
	h.deadline = now_ms() + 2000;
	ASSERT_EQ(pthread_create(&h.tid, NULL, holder_main, &h), 0);
	wait_byte(p[0]);
	ASSERT_OK(h.result);

	try_share_times_out(HASH, 100, "main thread while another thread holds");
	t0 = now_ms();
	fd = lock_share(ctx->locks, HASH, t0 + 3000);
	ASSERT_OK(fd);
	/* Only after the thread let go. */
	ASSERT_TRUE(now_ms() >= h.got_at + 300);
	ASSERT_EQ(pthread_join(h.tid, NULL), 0);
	ASSERT_TRUE(h.released_at != 0);

	/* And the other way round: a thread waits for the main thread. */
	h = (struct holder){ .hash = HASH, .hold_ms = 0, .pipe_fd = p[1] };
	h.deadline = now_ms() + 3000;
	ASSERT_EQ(pthread_create(&h.tid, NULL, holder_main, &h), 0);
	sleep_ms(200);
	t0 = now_ms();
	lock_release(fd);
	wait_byte(p[0]);
	ASSERT_OK(h.result);
	ASSERT_TRUE(h.got_at >= t0);
	ASSERT_EQ(pthread_join(h.tid, NULL), 0);

	(void)close(p[0]);
	(void)close(p[1]);
}

/*
 * Fork a child that takes the share lock, reports on @p, then either holds it for @hold_ms and
 * exits normally, or (@hold_ms == 0) blocks until killed. Returns the child's pid.
 */
static pid_t fork_holder(const char *hash, unsigned hold_ms, int p[2])
{
	pid_t pid;

	ASSERT_OK(pipe2(p, O_CLOEXEC) < 0 ? -errno : 0);
	fflush(stdout);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		int fd = lock_share(ctx->locks, hash, now_ms() + 2000);
		char c = fd >= 0 ? 'y' : 'n';

		if (write(p[1], &c, 1) != 1)
			_exit(2);
		if (fd < 0)
			_exit(1);
		if (hold_ms) {
			sleep_ms(hold_ms);
			_exit(0); /* exit while still holding: the kernel releases */
		}
		for (;;)
			pause();
	}
	(void)close(p[1]);
	{
		char c = 0;

		ASSERT_EQ(read(p[0], &c, 1), 1);
		ASSERT_EQ(c, 'y');
	}
	return pid;
}

static void reap(pid_t pid, int want_signal)
{
	int status = 0;

	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (want_signal) {
		ASSERT_TRUE(WIFSIGNALED(status));
		ASSERT_EQ(WTERMSIG(status), want_signal);
	} else {
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(WEXITSTATUS(status), 0);
	}
}

static void test_share_processes(void)
{
	int p[2];
	uint64_t t_locked = now_ms();
	pid_t pid = fork_holder(HASH, 300, p);
	uint64_t t0;
	int fd;

	try_share_times_out(HASH, 100, "parent while a child holds");
	t0 = now_ms();
	fd = lock_share(ctx->locks, HASH, t0 + 3000);
	ASSERT_OK(fd);
	/* The child held it for 300 ms after it reported; we cannot have had it before. */
	ASSERT_TRUE(now_ms() >= t_locked + 300);
	ASSERT_TRUE(now_ms() - t0 < 2000);
	reap(pid, 0);
	(void)close(p[0]);

	/* The child now waits for the parent. */
	{
		pid_t c;
		int q[2];

		ASSERT_OK(pipe2(q, O_CLOEXEC) < 0 ? -errno : 0);
		fflush(stdout);
		c = fork();
		ASSERT_TRUE(c >= 0);
		if (c == 0) {
			uint64_t d = now_ms() + 150;
			int r;

			/* Drop the inherited copy of the parent's description, which holds the
			 * lock (OFD locks follow the description, not the process). */
			lock_release(fd);
			r = lock_share(ctx->locks, HASH, d);

			/* Timed out while the parent holds it... */
			if (r != -ETIMEDOUT || now_ms() < d)
				_exit(3);
			if (write(q[1], "w", 1) != 1)
				_exit(2);
			/* ...and gets it once the parent lets go. */
			r = lock_share(ctx->locks, HASH, now_ms() + 3000);
			_exit(r >= 0 ? 0 : 4);
		}
		(void)close(q[1]);
		wait_byte(q[0]);
		sleep_ms(100);
		lock_release(fd);
		reap(c, 0);
		(void)close(q[0]);
	}
}

static void test_share_released_on_exit_and_kill(void)
{
	int p[2], fd;
	pid_t pid;

	/* Holder _exit()s without releasing. */
	pid = fork_holder(HASH, 50, p);
	reap(pid, 0);
	(void)close(p[0]);
	fd = share_now(HASH);
	lock_release(fd);

	/* Holder is killed while holding. */
	pid = fork_holder(HASH, 0, p);
	try_share_times_out(HASH, 100, "while a child holds until killed");
	ASSERT_OK(kill(pid, SIGKILL) < 0 ? -errno : 0);
	reap(pid, SIGKILL);
	(void)close(p[0]);
	fd = share_now(HASH);
	lock_release(fd);
}

static unsigned count_fds(void)
{
	unsigned n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/*
 * lock_share_release() keeps the description for the next lock of the share: the same fd
 * comes back, still excluding every other description; a forked child never uses the
 * parent's cached ones; the cache is bounded.
 */
static void test_share_cache(void)
{
	unsigned before;
	int a, b, p[2];
	pid_t pid;

	a = share_now(HASH);
	lock_share_release(ctx->locks, HASH, a);
	b = share_now(HASH);
	ASSERT_EQ(b, a); /* the cached description */
	try_share_times_out(HASH, 100, "a fresh description while the cached one holds");
	lock_share_release(ctx->locks, HASH, b);

	/* The parent's cache now holds an unlocked description of HASH. A child that locks
	 * HASH must do so on a description of its own, or the parent's next lock (taking the
	 * same description from its cache) would not conflict with the child's. */
	pid = fork_holder(HASH, 0, p);
	try_share_times_out(HASH, 100, "the parent, while its child holds");
	ASSERT_OK(kill(pid, SIGKILL) < 0 ? -errno : 0);
	reap(pid, SIGKILL);
	(void)close(p[0]);
	lock_share_release(ctx->locks, HASH, share_now(HASH));

	/* Bounded: many shares leave at most LOCK_CACHE_FDS descriptions open. */
	before = count_fds();
	for (unsigned i = 0; i < LOCK_CACHE_FDS + 20; i++) {
		char hash[65];

		(void)snprintf(hash, sizeof(hash), "c%063x", i);
		lock_share_release(ctx->locks, hash, share_now(hash));
	}
	ASSERT_TRUE(count_fds() <= before + LOCK_CACHE_FDS);
	lock_share_release(ctx->locks, HASH, -EBADF); /* accepted, no-op */
}

/*
 * A forked child that never calls volmount must not keep a cached description alive: if it
 * did, a lock the parent later took through that description and never released (a crash;
 * here: closing without unlocking) would outlive the parent's close until the child exits.
 */
static void test_share_cache_fork_child(void)
{
	int fd, p[2];
	pid_t pid;
	char c = 0;

	lock_share_release(ctx->locks, HASH2, share_now(HASH2)); /* HASH2's description is cached */
	ASSERT_OK(pipe2(p, O_CLOEXEC) < 0 ? -errno : 0);
	fflush(stdout);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a failed test */
		if (write(p[1], "y", 1) != 1)
			_exit(2);
		for (;;)
			pause(); /* never calls volmount */
	}
	(void)close(p[1]);
	ASSERT_EQ(read(p[0], &c, 1), 1);
	(void)close(p[0]);
	fd = share_now(HASH2); /* the cached description */
	lock_release(fd);      /* closed while locked, as a crash would */
	lock_release(share_now(HASH2));
	ASSERT_OK(kill(pid, SIGKILL) < 0 ? -errno : 0);
	reap(pid, SIGKILL);
}

/* A cached description of a lock file that was unlinked (a run directory made afresh) is
 * not used: the lock is taken on the file that is there now, which others lock too. */
static void test_share_cache_unlinked(void)
{
	_cleanup_free_ char *path = path_in("run/locks/" HASH3 ".lock");
	struct stat st;
	int fd;

	lock_share_release(ctx->locks, HASH3, share_now(HASH3));
	ASSERT_OK(unlink(path) < 0 ? -errno : 0);
	fd = share_now(HASH3);
	ASSERT_OK(fstat(fd, &st) < 0 ? -errno : 0);
	ASSERT_EQ(st.st_nlink, 1);
	try_share_times_out(HASH3, 100, "a fresh description while the lock on the new file is held");
	lock_share_release(ctx->locks, HASH3, fd);
}

/* ---- host lock ---- */

static void test_host_shared_and_exclusive(void)
{
	int s1 = host_now(false), s2 = host_now(false), x;

	/* Two shared holders coexist; an exclusive one cannot get in. */
	try_host_times_out(true, 300, "exclusive while two shared are held");
	/* The timed-out exclusive attempt left no gate behind: shared still comes in at once. */
	lock_release(host_now(false));

	lock_release(s1);
	try_host_times_out(true, 100, "exclusive while one shared is held");
	lock_release(s2);

	x = host_now(true);
	try_host_times_out(false, 200, "shared while exclusive is held");
	try_host_times_out(true, 100, "exclusive while exclusive is held");
	lock_release(x);
	lock_release(host_now(false));
	lock_release(host_now(true));
}

static void test_host_exclusive_waits_for_shared(void)
{
	int p[2];
	struct holder h = { .host = true, .exclusive = false, .hold_ms = 300 };
	uint64_t t0;
	int x;

	ASSERT_OK(pipe2(p, O_CLOEXEC) < 0 ? -errno : 0);
	h.pipe_fd = p[1];
	h.deadline = now_ms() + 2000;
	ASSERT_EQ(pthread_create(&h.tid, NULL, holder_main, &h), 0);
	wait_byte(p[0]);
	ASSERT_OK(h.result);

	t0 = now_ms();
	x = lock_host(ctx->locks, true, t0 + 3000);
	ASSERT_OK(x);
	ASSERT_TRUE(now_ms() >= h.got_at + 300); /* drained the shared holder first */
	ASSERT_EQ(pthread_join(h.tid, NULL), 0);
	lock_release(x);
	(void)close(p[0]);
	(void)close(p[1]);
}

/* Is byte @start of <run>/host.lock locked against a shared lock by some description? */
static bool host_byte_taken(off_t start)
{
	_cleanup_free_ char *path = path_in("run/host.lock");
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = 1 };

	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(fcntl(fd, F_OFD_GETLK, &fl) < 0 ? -errno : 0);
	return fl.l_type != F_UNLCK;
}

static void test_host_gate_blocks_new_shared(void)
{
	int p[2], s;
	struct holder h = { .host = true, .exclusive = true, .hold_ms = 200 };
	uint64_t t_release;

	s = host_now(false);

	ASSERT_OK(pipe2(p, O_CLOEXEC) < 0 ? -errno : 0);
	h.pipe_fd = p[1];
	h.deadline = now_ms() + 4000;
	ASSERT_EQ(pthread_create(&h.tid, NULL, holder_main, &h), 0);

	/* Wait (bounded) until the exclusive waiter has taken the gate. */
	for (uint64_t d = now_ms() + 2000; !host_byte_taken(0);) {
		ASSERT_TRUE(now_ms() < d);
		sleep_ms(5);
	}

	/* A new shared locker queues behind the pending exclusive one. */
	try_host_times_out(false, 300, "new shared while an exclusive waits");

	/* The exclusive one is still waiting (the shared holder is in). */
	ASSERT_TRUE(no_byte(p[0]));

	t_release = now_ms();
	lock_release(s);
	wait_byte(p[0]);
	ASSERT_OK(h.result);
	ASSERT_TRUE(h.got_at >= t_release);
	ASSERT_TRUE(h.got_at - t_release < 1000);

	/* After the exclusive holder releases, shared comes in again. */
	s = lock_host(ctx->locks, false, now_ms() + 3000);
	ASSERT_OK(s);
	ASSERT_TRUE(now_ms() >= h.got_at + 200);
	ASSERT_EQ(pthread_join(h.tid, NULL), 0);
	lock_release(s);
	(void)close(p[0]);
	(void)close(p[1]);
}

/* The first call after a reboot waits for an exclusive holder, but gives way (-EINPROGRESS)
 * to a reconcile that has narrowed its lock, and never keeps the gate meanwhile: attach and
 * detach of shares already reconciled must not wait behind it (review finding 7). */
struct unless {
	uint64_t deadline;
	int result;
};

static void *unless_main(void *arg)
{
	struct unless *u = arg;

	u->result = lock_host_unless_reconciling(ctx->locks, u->deadline);
	if (u->result >= 0)
		lock_release(u->result);
	return NULL;
}

static void test_host_unless_reconciling(void)
{
	struct unless u = { .deadline = now_ms() + 10000, .result = 1 };
	pthread_t t;
	int a, s, x;

	a = lock_host(ctx->locks, true, now_ms() + 2000); /* host-up, before it narrows */
	ASSERT_OK(a);
	ASSERT_EQ(lock_host_unless_reconciling(ctx->locks, now_ms() + 100), -ETIMEDOUT);
	ASSERT_EQ(pthread_create(&t, NULL, unless_main, &u), 0);
	ASSERT_OK(lock_host_downgrade(a)); /* the reconcile begins */
	/* It returns while the reconcile still holds its lock (else: -ETIMEDOUT after 10 s). */
	ASSERT_EQ(pthread_join(t, NULL), 0);
	ASSERT_EQ(u.result, -EINPROGRESS);
	/* The gate is open: a shared locker gets in on its first try. */
	s = lock_host(ctx->locks, false, now_ms());
	ASSERT_OK(s);
	lock_release(s);
	lock_release(a); /* the reconcile is over */
	x = lock_host_unless_reconciling(ctx->locks, now_ms() + 2000);
	ASSERT_OK(x);
	lock_release(x);
}

/* ---- files ---- */

static void expect_lock_file(int fd, const char *rel)
{
	_cleanup_free_ char *path = path_in(rel);
	struct stat st, lst;

	ASSERT_OK(fstat(fd, &st) < 0 ? -errno : 0);
	ASSERT_TRUE(S_ISREG(st.st_mode));
	if ((st.st_mode & 07777) != 0600)
		TEST_FAIL("%s has mode %04o, want 0600", rel, (unsigned)(st.st_mode & 07777));
	ASSERT_EQ(st.st_uid, geteuid());
	/* The fd is the file at the expected path. */
	ASSERT_OK(lstat(path, &lst) < 0 ? -errno : 0);
	ASSERT_EQ(st.st_ino, lst.st_ino);
	ASSERT_EQ(st.st_dev, lst.st_dev);
	ASSERT_TRUE((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
}

static void test_lock_file_modes(void)
{
	_cleanup_free_ char *host = path_in("run/host.lock");
	mode_t old;
	int fd;

	/* Created afresh under umask 0. */
	ASSERT_OK(unlink(host) < 0 && errno != ENOENT ? -errno : 0);
	old = umask(0);
	fd = share_now(HASH3);
	expect_lock_file(fd, "run/locks/" HASH3 ".lock");
	lock_release(fd);
	fd = host_now(false);
	expect_lock_file(fd, "run/host.lock");
	lock_release(fd);
	(void)umask(old);

	/* A lock file found with a loose mode is tightened. */
	{
		_cleanup_free_ char *path = path_in("run/locks/" HASH2 ".lock");
		_cleanup_close_ int c = -EBADF;

		(void)unlink(path); /* an earlier test left it, as it should */
		c = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		ASSERT_TRUE(c >= 0);
		ASSERT_OK(fchmod(c, 0666) < 0 ? -errno : 0);
	}
	fd = share_now(HASH2);
	expect_lock_file(fd, "run/locks/" HASH2 ".lock");
	lock_release(fd);

	/* Lock files stay after release (never deleted while the host is up). */
	{
		_cleanup_free_ char *path = path_in("run/locks/" HASH3 ".lock");
		struct stat st;

		ASSERT_OK(lstat(path, &st) < 0 ? -errno : 0);
	}
}

#define PLANTED "0000000000000000000000000000000000000000000000000000000000000000"

static void test_planted_non_files(void)
{
	_cleanup_free_ char *lock = path_in("run/locks/" PLANTED ".lock");
	_cleanup_free_ char *target = path_in("target");
	_cleanup_free_ char *host = path_in("run/host.lock");
	struct stat st;
	uint64_t t0;
	int r;

	/* A symlink to a file that does not exist: refused, and the target is not created. */
	ASSERT_OK(symlink(target, lock) < 0 ? -errno : 0);
	error_clear();
	t0 = now_ms();
	r = lock_share(ctx->locks, PLANTED, t0 + 1000);
	if (r >= 0)
		TEST_FAIL("lock_share followed a planted symlink (fd %d)", r);
	ASSERT_EQ(r, -ELOOP);
	ASSERT_TRUE(now_ms() - t0 < 500); /* an error, not a wait */
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_PERM);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), PLANTED) != NULL);
	ASSERT_TRUE(lstat(target, &st) < 0 && errno == ENOENT);

	/* A symlink to an existing file: refused; the file keeps its mode. */
	{
		_cleanup_close_ int c = open(target, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

		ASSERT_TRUE(c >= 0);
		ASSERT_OK(fchmod(c, 0644) < 0 ? -errno : 0);
	}
	r = lock_share(ctx->locks, PLANTED, now_ms() + 1000);
	ASSERT_TRUE(r < 0);
	ASSERT_OK(stat(target, &st) < 0 ? -errno : 0);
	ASSERT_EQ(st.st_mode & 07777, 0644);
	ASSERT_OK(lstat(lock, &st) < 0 ? -errno : 0);
	ASSERT_TRUE(S_ISLNK(st.st_mode));

	/* A directory or a FIFO in its place: refused, without blocking. */
	ASSERT_OK(unlink(lock) < 0 ? -errno : 0);
	ASSERT_OK(mkdir(lock, 0700) < 0 ? -errno : 0);
	ASSERT_TRUE(lock_share(ctx->locks, PLANTED, now_ms() + 1000) < 0);
	ASSERT_OK(rmdir(lock) < 0 ? -errno : 0);
	ASSERT_OK(mkfifo(lock, 0600) < 0 ? -errno : 0);
	t0 = now_ms();
	ASSERT_TRUE(lock_share(ctx->locks, PLANTED, t0 + 1000) < 0);
	ASSERT_TRUE(now_ms() - t0 < 500);
	ASSERT_OK(unlink(lock) < 0 ? -errno : 0);

	/* The host lock too. */
	ASSERT_OK(unlink(host) < 0 && errno != ENOENT ? -errno : 0);
	ASSERT_OK(symlink(target, host) < 0 ? -errno : 0);
	ASSERT_TRUE(lock_host(ctx->locks, false, now_ms() + 1000) < 0);
	ASSERT_TRUE(lock_host(ctx->locks, true, now_ms() + 1000) < 0);
	ASSERT_OK(stat(target, &st) < 0 ? -errno : 0);
	ASSERT_EQ(st.st_mode & 07777, 0644);
	ASSERT_OK(unlink(host) < 0 ? -errno : 0);
	lock_release(host_now(true));
}

#define LOWFD "1111111111111111111111111111111111111111111111111111111111111111"

/* With stdin, stdout and stderr closed (a caller started so), a lock file must not take one of
 * their numbers: a later message for stderr would be written into it. */
static void test_never_on_stdio(void)
{
	int saved[3], host, share;

	for (int i = 0; i < 3; i++) {
		saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 100);
		ASSERT_TRUE(saved[i] >= 100);
	}
	for (int i = 0; i < 3; i++)
		(void)close(i);
	host = lock_host(ctx->locks, false, now_ms() + 1000);
	share = lock_share(ctx->locks, LOWFD, now_ms() + 1000);
	/* What else sits on 0..2 now (the low descriptors the guard gave back are free again). */
	for (int i = 0; i < 3; i++) {
		ASSERT_TRUE(dup2(saved[i], i) == i);
		(void)close(saved[i]);
	}
	if (host < 0 || share < 0)
		TEST_FAIL("locking failed: host %d, share %d", host, share);
	if (host <= STDERR_FILENO || share <= STDERR_FILENO)
		TEST_FAIL("a lock file took a standard descriptor: host %d, share %d", host, share);
	lock_release(share);
	lock_release(host);
}

static const struct test tests[] = {
	{ "share lock: two descriptions, one process", test_share_two_fds },
	{ "share lock: threads", test_share_threads },
	{ "share lock: processes", test_share_processes },
	{ "share lock: released when the holder exits or is killed",
	  test_share_released_on_exit_and_kill },
	{ "share lock: cached descriptions", test_share_cache },
	{ "share lock: a forked child keeps no cached description", test_share_cache_fork_child },
	{ "share lock: a cached description of an unlinked file", test_share_cache_unlinked },
	{ "host lock: shared and exclusive", test_host_shared_and_exclusive },
	{ "host lock: exclusive waits for shared", test_host_exclusive_waits_for_shared },
	{ "host lock: pending exclusive blocks new shared", test_host_gate_blocks_new_shared },
	{ "host lock: the first call after a reboot gives way to a reconcile", test_host_unless_reconciling },
	{ "lock files are private regular files", test_lock_file_modes },
	{ "planted symlinks and non-files refused", test_planted_non_files },
	{ "lock files never take fd 0, 1 or 2", test_never_on_stdio },
};

int main(void)
{
	int r;

	setup();
	r = test_run(tests, ELEMENTSOF(tests));
	teardown();
	return r;
}
