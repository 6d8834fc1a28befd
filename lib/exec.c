/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exec.c - the executor: runs helpers (posix_spawn) and statfs liveness probes (a forked
 * worker) under deadlines. It never runs a shell, never passes the caller's environment or
 * fds on, never touches a probed path in the calling process, and never abandons a child that
 * still runs.
 *
 * Design notes.
 * (1) Every child owns a slot in a process-global table of EXEC_SLOTS_MAX entries from before
 *     it is started until it is reaped. A child that outlives SIGKILL plus the grace period
 *     (D state) keeps its slot as a straggler; exec_reap_stragglers() frees it once the kernel
 *     lets it die. Holding the slot from the start means a straggler always has room, so the
 *     number of unreaped children is bounded and none is ever forgotten.
 * (2) We only ever wait for our own pid (waitpid(pid)), and we signal a process group only
 *     while its leader is unreaped, so the pid and pgid cannot have been reused.
 * (3) A helper is done when it exits, not when its pipes reach EOF: a daemon it left behind may
 *     hold them open. A pidfd (when the kernel gives one) tells us when it exits; without one
 *     we poll waitpid(WNOHANG) every 10 ms.
 * (4) The children that run one system call for the caller (the probe worker, the unmount)
 *     are forked from a multi-threaded process: between fork() and _exit() they run only
 *     async-signal-safe calls, with every signal blocked (so no handler of the host runs in
 *     them), and close every inherited fd first (child_prologue()). child_start() and
 *     child_end() are their one way in and out: slot, result pipe, fork, and at the end
 *     SIGKILL, reap within the grace, or track.
 * (5) Helpers of a share are marked and ended by the mark (exec_end_share()).
 * (6) Every liveness probe, of one path or of ten thousand, goes through one worker process per
 *     call (exec_probe_statfs_many()): threads made with a raw clone() take paths from a
 *     shared counter and statfs() them; results live in a MAP_SHARED array, so they survive
 *     the worker's SIGKILL at the deadline; the thread that finishes the last path writes a
 *     byte on the result pipe. See docs/ARCHITECTURE.md, "The probe worker".
 *
 *     slot: FREE --reserve--> BUSY --reaped--> FREE
 *                              '--unkillable--> TRACKED --reaped later--> FREE
 */
#include "exec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "time-util.h"
#include "cleanup.h"

/* Raw stderr bytes kept before sanitizing (the rest is read and dropped). */
#define ERR_RAW_MAX   EXEC_ERR_MAX
/* Without a pidfd, how often we look for the child's exit. */
#define POLL_SLICE_MS 10u

#define HELPER_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#define HELPER_LANG "LANG=C"
/* "VOLMOUNT_SHARE=" + the longest share id + NUL. */
#define SHARE_ENV_MAX (sizeof(EXEC_SHARE_ENV) + EXEC_SHARE_ID_MAX + 1)

/* ---- slot table (design note 1) ---- */

enum slot_state {
	SLOT_FREE,
	SLOT_BUSY,
	SLOT_TRACKED,
};

struct slot {
	enum slot_state state;
	pid_t pid;    /* SLOT_TRACKED */
	char **paths; /* SLOT_TRACKED by a probe: the paths still unanswered (may be NULL) */
	size_t n_paths;
};

static void free_paths(char **paths, size_t n)
{
	for (size_t i = 0; paths && i < n; i++)
		free(paths[i]);
	free(paths);
}

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[EXEC_SLOTS_MAX];

static int slot_reserve(void)
{
	int r = -EAGAIN;

	pthread_mutex_lock(&slots_lock);
	for (int i = 0; i < EXEC_SLOTS_MAX; i++)
		if (slots[i].state == SLOT_FREE) {
			slots[i].state = SLOT_BUSY;
			r = i;
			break;
		}
	pthread_mutex_unlock(&slots_lock);
	return r;
}

static void slot_release(int i)
{
	pthread_mutex_lock(&slots_lock);
	slots[i] = (struct slot){ .state = SLOT_FREE };
	pthread_mutex_unlock(&slots_lock);
}

/* Keep slot @i for the unkillable child @pid; takes @paths (@n of them; may be NULL). */
static void slot_track(int i, pid_t pid, char **paths, size_t n)
{
	pthread_mutex_lock(&slots_lock);
	slots[i] = (struct slot){ .state = SLOT_TRACKED, .pid = pid, .paths = paths, .n_paths = n };
	pthread_mutex_unlock(&slots_lock);
}

static bool path_is_straggling_locked(const char *path)
{
	for (int i = 0; i < EXEC_SLOTS_MAX; i++)
		if (slots[i].state == SLOT_TRACKED)
			for (size_t k = 0; k < slots[i].n_paths; k++)
				if (strcmp(slots[i].paths[k], path) == 0)
					return true;
	return false;
}

void exec_reap_stragglers(void)
{
	pthread_mutex_lock(&slots_lock);
	for (int i = 0; i < EXEC_SLOTS_MAX; i++) {
		pid_t p;

		if (slots[i].state != SLOT_TRACKED)
			continue;
		do
			p = waitpid(slots[i].pid, NULL, WNOHANG);
		while (p < 0 && errno == EINTR);
		/* ECHILD: not ours any more (reaped elsewhere); nothing left to track. */
		if (p == slots[i].pid || (p < 0 && errno == ECHILD)) {
			free_paths(slots[i].paths, slots[i].n_paths);
			slots[i] = (struct slot){ .state = SLOT_FREE };
		}
	}
	pthread_mutex_unlock(&slots_lock);
}

size_t exec_stragglers(void)
{
	size_t n = 0;

	pthread_mutex_lock(&slots_lock);
	for (int i = 0; i < EXEC_SLOTS_MAX; i++)
		n += slots[i].state == SLOT_TRACKED;
	pthread_mutex_unlock(&slots_lock);
	return n;
}

/* ---- waiting ---- */

static int poll_ms(struct pollfd *p, nfds_t n, uint64_t deadline)
{
	uint64_t now = now_ms();
	int k;

	if (now >= deadline)
		return 0;
	k = poll(p, n, (int)(deadline - now > INT_MAX ? INT_MAX : deadline - now));
	if (k < 0 && errno != EINTR)
		return -errno;
	return k < 0 ? 0 : k;
}

/*
 * Reap @pid within @grace_ms. Returns 1 reaped (*ret_status set), 0 still there, or -ECHILD
 * (reaped by someone else: gone, status unknown).
 */
static int reap_within(pid_t pid, int pidfd, unsigned grace_ms, int *ret_status)
{
	uint64_t deadline = now_ms() + grace_ms;

	for (;;) {
		int status;
		pid_t p = waitpid(pid, &status, WNOHANG);

		if (p == pid) {
			*ret_status = status;
			return 1;
		}
		if (p < 0 && errno == ECHILD)
			return -ECHILD;
		if (p < 0 && errno != EINTR)
			return -errno; /* cannot happen with a valid pid and flags */
		if (now_ms() >= deadline)
			return 0;
		if (pidfd >= 0) {
			struct pollfd pf = { .fd = pidfd, .events = POLLIN };

			(void)poll_ms(&pf, 1, deadline);
		} else {
			uint64_t left = deadline - now_ms();

			sleep_ms(left < 5 ? (unsigned)left : 5u);
		}
	}
}

/* A pollable handle on our unreaped child, or -1 (old kernel, or no fd left): callers fall back
 * to polling waitpid(). */
static int open_pidfd(pid_t pid)
{
	int fd = pidfd_open(pid, 0); /* always O_CLOEXEC */

	return fd < 0 ? -1 : fd;
}

/* ---- binary check ---- */

static int check_mode(const struct stat *st)
{
	if (st->st_uid != 0 || (st->st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return 0;
}

int exec_check_binary(const char *path, char **ret_resolved)
{
	_cleanup_free_ char *resolved = NULL;
	_cleanup_close_ int dfd = -EBADF;
	struct stat st;
	char *p, *slash;
	int r;

	if (!path || path[0] != '/')
		return -EINVAL;
	if (strnlen(path, PATH_MAX) >= PATH_MAX)
		return -ENAMETOOLONG;
	resolved = realpath(path, NULL);
	if (!resolved)
		return -errno;
	if (strcmp(resolved, "/") == 0)
		return -EACCES;

	dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fstat(dfd, &st) < 0)
		return -errno;
	r = check_mode(&st);
	if (r < 0)
		return r;

	/* Walk the resolved path one component at a time, without following anything: a symlink
	 * swapped in after realpath() makes the walk fail, never succeed elsewhere. */
	for (p = resolved + 1;; p = slash + 1) {
		_cleanup_close_ int fd = -EBADF;

		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		fd = openat(dfd, p, O_PATH | O_NOFOLLOW | O_CLOEXEC | (slash ? O_DIRECTORY : 0));
		if (slash)
			*slash = '/';
		if (fd < 0)
			return -errno;
		if (fstat(fd, &st) < 0)
			return -errno;
		if (!slash) {
			if (!S_ISREG(st.st_mode) || !(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
				return -EACCES;
			r = check_mode(&st);
			if (r < 0)
				return r;
			break;
		}
		r = check_mode(&st);
		if (r < 0)
			return r;
		close_now(&dfd);
		dfd = TAKE_FD(fd);
	}

	if (ret_resolved)
		*ret_resolved = TAKE_PTR(resolved);
	return 0;
}

/* ---- output capture and sanitizing ---- */

struct capture {
	int fd; /* read end, < 0 once at EOF */
	char *buf;
	size_t len, cap;
	bool cut; /* more was written than kept */
};

/* Read what @c's pipe holds now (non-blocking) into the buffer; the excess is dropped, so the
 * child never blocks on a full pipe. */
static void capture_drain(struct capture *c)
{
	char scratch[16384];

	while (c->fd >= 0) {
		size_t room = c->cap - c->len;
		char *dst = room > 0 ? c->buf + c->len : scratch;
		size_t want = room > 0 ? room : sizeof(scratch);
		ssize_t n = read(c->fd, dst, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) { /* EOF, or an error we can do nothing about: stop reading */
			close_now(&c->fd);
			return;
		}
		if (room > 0)
			c->len += (size_t)n;
		else
			c->cut = true;
	}
}

static void capture_free(struct capture *c)
{
	if (c->buf) {
		explicit_bzero(c->buf, c->cap); /* helper output may hold secrets */
		free(c->buf);
	}
	c->buf = NULL;
	close_now(&c->fd);
}

static const char *const secret_keys[] = { "password=", "passwd=", "secret=", "pass=" };

/* Length of the secret key starting at @s (of @n bytes), or 0. */
static size_t secret_key_at(const char *s, size_t n)
{
	for (size_t k = 0; k < ELEMENTSOF(secret_keys); k++) {
		size_t l = strlen(secret_keys[k]);

		if (l <= n && strncasecmp(s, secret_keys[k], l) == 0)
			return l;
	}
	return 0;
}

static bool ends_value(unsigned char c)
{
	return c == ',' || c == ' ' || c < 0x20 || c == 0x7f;
}

/* Append @s (of @n bytes) to @out unless that would leave no room for "..." and the NUL.
 * Returns false when full. */
static bool out_put(char *out, size_t *len, const char *s, size_t n)
{
	if (*len + n > EXEC_ERR_MAX - 4)
		return false;
	memcpy(out + *len, s, n);
	*len += n;
	return true;
}

static int sanitize(const char *in, size_t len, bool cut, char **ret)
{
	_cleanup_free_ char *out = malloc(EXEC_ERR_MAX);
	size_t o = 0, i = 0;

	if (!out)
		return -ENOMEM;
	while (len > 0 && (in[len - 1] == '\n' || in[len - 1] == '\r' || in[len - 1] == ' ' ||
			   in[len - 1] == '\t'))
		len--;

	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		size_t k = secret_key_at(in + i, len - i);
		char esc[5];
		size_t n;

		if (k > 0) {
			if (!out_put(out, &o, in + i, k))
				break;
			i += k;
			while (i < len && !ends_value((unsigned char)in[i]))
				i++;
			if (!out_put(out, &o, "***", 3))
				break;
			continue;
		}
		if (c == '\n')
			n = (size_t)snprintf(esc, sizeof(esc), "\\n");
		else if (c == '\t')
			n = (size_t)snprintf(esc, sizeof(esc), "\\t");
		else if (c == '\r')
			n = (size_t)snprintf(esc, sizeof(esc), "\\r");
		else if (c < 0x20 || c >= 0x7f)
			n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
		else {
			esc[0] = (char)c;
			n = 1;
		}
		if (!out_put(out, &o, esc, n))
			break;
		i++;
	}
	if (i < len || cut) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	*ret = TAKE_PTR(out);
	return 0;
}

int exec_sanitize(const char *in, size_t len, char **ret)
{
	if ((!in && len > 0) || !ret)
		return -EINVAL;
	return sanitize(in ? in : "", len, false, ret);
}

void exec_result_done(struct exec_result *r)
{
	if (!r)
		return;
	free(r->err);
	if (r->out) {
		explicit_bzero(r->out, r->out_len);
		free(r->out);
	}
	*r = (struct exec_result){ .status = -1, .pid = -1 };
}

/* ---- helpers ---- */

/* A CLOEXEC pipe whose ends are both >= 3, so dup2() onto 0..2 in the child never is a no-op
 * that keeps FD_CLOEXEC (the host may run with stdio closed). Read end non-blocking. */
static int make_pipe(int ret[2])
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	for (int k = 0; k < 2; k++)
		if (p[k] < 3) {
			int fd = fcntl(p[k], F_DUPFD_CLOEXEC, 3);

			if (fd < 0) {
				int r = -errno;

				(void)close(p[0]);
				(void)close(p[1]);
				return r;
			}
			(void)close(p[k]);
			p[k] = fd;
		}
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		int r = -errno;

		(void)close(p[0]);
		(void)close(p[1]);
		return r;
	}
	ret[0] = p[0];
	ret[1] = p[1];
	return 0;
}

static int spawn(const char *bin, const char *const *argv, char *const *envp, int out_w,
		 int err_w, int pass_fd, pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t all, none;
	int r;

	r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		return -r;
	r = posix_spawnattr_init(&attr);
	if (r != 0) {
		(void)posix_spawn_file_actions_destroy(&fa);
		return -r;
	}

	(void)sigfillset(&all);
	(void)sigemptyset(&none);
	/* Order matters: the dup2()s onto 0..2 happen before closefrom(3). */
	r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (r == 0 && out_w >= 0)
		r = posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
	else if (r == 0)
		r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, err_w, STDERR_FILENO);
	/* A helper must not keep the caller's cwd busy (it may be inside a mount). */
	if (r == 0)
		r = posix_spawn_file_actions_addchdir_np(&fa, "/");
	/* @pass_fd (>= 4, see exec_run_helper()) becomes the child's fd 3. */
	if (r == 0 && pass_fd >= 0)
		r = posix_spawn_file_actions_adddup2(&fa, pass_fd, 3);
	if (r == 0)
		r = posix_spawn_file_actions_addclosefrom_np(&fa, pass_fd >= 0 ? 4 : 3);
	/* SETSID: own session and process group, no controlling terminal. */
	if (r == 0)
		r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF |
							    POSIX_SPAWN_SETSIGMASK);
	if (r == 0)
		r = posix_spawnattr_setsigdefault(&attr, &all);
	if (r == 0)
		r = posix_spawnattr_setsigmask(&attr, &none);
	if (r == 0)
		r = posix_spawn(ret_pid, bin, &fa, &attr, (char *const *)argv, envp);

	(void)posix_spawnattr_destroy(&attr);
	(void)posix_spawn_file_actions_destroy(&fa);
	return -r;
}

int exec_run(const char *const *argv, unsigned timeout_ms, struct exec_result *ret)
{
	return exec_run_full(argv, timeout_ms, 0, ret);
}

int exec_run_full(const char *const *argv, unsigned timeout_ms, unsigned flags,
		  struct exec_result *ret)
{
	return exec_run_share(argv, timeout_ms, flags, NULL, ret);
}

static bool share_id_ok(const char *share)
{
	size_t n = share ? strnlen(share, EXEC_SHARE_ID_MAX + 1) : 0;

	return n > 0 && n <= EXEC_SHARE_ID_MAX &&
	       strspn(share, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == n;
}

int exec_run_share(const char *const *argv, unsigned timeout_ms, unsigned flags,
		   const char *share, struct exec_result *ret)
{
	return exec_run_helper(argv, timeout_ms, flags, share, -1, ret);
}

/* The pipes of a helper's stderr (always) and stdout (with EXEC_CAPTURE_STDOUT): our read
 * ends and their buffers in @err and @out, the write ends for the child in *ret_err_w and
 * *ret_out_w. On failure what was made is left for the caller to free. */
static int captures_open(unsigned flags, struct capture *err, int *ret_err_w, struct capture *out,
			 int *ret_out_w)
{
	int p[2] = { -EBADF, -EBADF };
	int r;

	err->cap = ERR_RAW_MAX;
	err->buf = malloc(err->cap);
	if (!err->buf)
		return -ENOMEM;
	r = make_pipe(p);
	if (r < 0)
		return r;
	err->fd = p[0];
	*ret_err_w = p[1];
	if (!(flags & EXEC_CAPTURE_STDOUT))
		return 0;
	out->cap = EXEC_OUT_MAX;
	out->buf = malloc(out->cap + 1);
	if (!out->buf)
		return -ENOMEM;
	r = make_pipe(p);
	if (r < 0)
		return r;
	out->fd = p[0];
	*ret_out_w = p[1];
	return 0;
}

/* Collect the helper's output until it exits (design note 3) or @deadline passes. Returns 0
 * with *ret_exited (and *ret_status when *ret_have_status), or -ETIMEDOUT, or a poll error,
 * with the child still to be ended. */
static int collect_until_exit(pid_t pid, int pidfd, uint64_t deadline, struct capture *err,
			      struct capture *out, bool *ret_exited, bool *ret_have_status,
			      int *ret_status)
{
	for (;;) {
		struct pollfd pf[3];
		nfds_t n = 0;
		bool check_exit = pidfd < 0;
		uint64_t until = deadline;
		int k;

		if (err->fd >= 0)
			pf[n++] = (struct pollfd){ .fd = err->fd, .events = POLLIN };
		if (out->fd >= 0)
			pf[n++] = (struct pollfd){ .fd = out->fd, .events = POLLIN };
		if (pidfd >= 0)
			pf[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		else if (now_ms() + POLL_SLICE_MS < deadline)
			until = now_ms() + POLL_SLICE_MS;

		k = poll_ms(pf, n, until);
		if (k < 0)
			return k;
		capture_drain(err);
		capture_drain(out);
		if (pidfd >= 0 && pf[n - 1].revents)
			check_exit = true;
		if (check_exit || now_ms() >= deadline) {
			k = reap_within(pid, -1, 0, ret_status);
			if (k != 0) {
				*ret_exited = true;
				*ret_have_status = k > 0;
				return k < 0 ? k : 0;
			}
			if (now_ms() >= deadline)
				return -ETIMEDOUT;
		}
	}
}

/* The helper's output into @ret: stderr sanitized (design note 5), stdout as it came. */
static int result_fill(struct capture *err, struct capture *out, int r, struct exec_result *ret)
{
	capture_drain(err);
	capture_drain(out);
	if (sanitize(err->buf, err->len, err->cut, &ret->err) < 0) {
		r = r < 0 ? r : -ENOMEM;
		ret->err = NULL;
	}
	if (out->buf) {
		out->buf[out->len] = '\0';
		ret->out = TAKE_PTR(out->buf);
		ret->out_len = out->len;
	}
	capture_free(err);
	capture_free(out);
	return r;
}

int exec_run_helper(const char *const *argv, unsigned timeout_ms, unsigned flags,
		    const char *share, int fd, struct exec_result *ret)
{
	char share_env[SHARE_ENV_MAX];
	char *envp[] = { HELPER_PATH, HELPER_LANG, share ? share_env : NULL, NULL };
	_cleanup_close_ int pass_fd = -EBADF;
	_cleanup_free_ char *bin = NULL;
	_cleanup_close_ int err_w = -EBADF;
	_cleanup_close_ int out_w = -EBADF;
	_cleanup_close_ int pidfd = -EBADF;
	struct capture err = { .fd = -EBADF }, out = { .fd = -EBADF };
	uint64_t deadline;
	bool exited = false;
	bool have_status = false;
	int status = 0;
	pid_t pid = -1;
	int slot;
	int r;

	if (!ret)
		return -EINVAL;
	*ret = (struct exec_result){ .status = -1, .pid = -1 };
	if (!argv || !argv[0] || timeout_ms == 0 || (flags & ~EXEC__ALL) ||
	    (share && !share_id_ok(share)))
		return -EINVAL;
	if (share)
		(void)snprintf(share_env, sizeof(share_env), "%s%s", EXEC_SHARE_ENV, share);

	exec_reap_stragglers();
	r = exec_check_binary(argv[0], &bin);
	if (r < 0)
		return r;
	/* A copy above 3, so the child's dup2() onto 3 is never the no-op that keeps CLOEXEC. */
	if (fd >= 0) {
		pass_fd = fcntl(fd, F_DUPFD_CLOEXEC, 4);
		if (pass_fd < 0)
			return -errno;
	}

	slot = slot_reserve();
	if (slot < 0)
		return slot;
	r = captures_open(flags, &err, &err_w, &out, &out_w);
	deadline = now_ms() + timeout_ms;
	if (r >= 0)
		r = spawn(bin, argv, envp, out_w, err_w, pass_fd, &pid);
	if (r < 0) {
		capture_free(&err);
		capture_free(&out);
		slot_release(slot);
		return r;
	}
	close_now(&err_w);
	close_now(&out_w);
	ret->pid = pid;
	pidfd = open_pidfd(pid);

	r = collect_until_exit(pid, pidfd, deadline, &err, &out, &exited, &have_status, &status);
	if (!exited) {
		/* Timed out (or poll failed): kill the whole group while its leader is unreaped
		 * (design note 2), then give the kernel a bounded time to let it die. */
		int k;

		(void)kill(-pid, SIGKILL);
		k = reap_within(pid, pidfd, EXEC_KILL_GRACE_MS, &status);
		have_status = k > 0;
		ret->timed_out = r == -ETIMEDOUT;
		ret->reaped = k != 0;
		if (k == 0) {
			slot_track(slot, pid, NULL, 0);
			slot = -1;
		}
	} else
		ret->reaped = true;
	if (slot >= 0)
		slot_release(slot);
	if (have_status)
		ret->status = status;
	return result_fill(&err, &out, r, ret);
}

/* ---- children that run one system call for the caller (design note 4) ---- */

/*
 * A forked child, before its one job: keep @wfd (the result pipe) as fd 3 and @keep (>= 0; -1:
 * none) as fd 4 and close every other fd, so a child stuck in the kernel pins nothing of ours
 * (lock fds, pipes of other helpers, /dev/fuse fds, our stdout); die with the caller; cwd "/"
 * (do not keep the caller's cwd busy while stuck). Async-signal-safe calls only.
 */
static void child_prologue(int wfd, int keep, pid_t parent)
{
	if (wfd == 4 && keep >= 0 && keep != 4) {
		wfd = fcntl(wfd, F_DUPFD, 5); /* dup2(keep, 4) below would close it */
		if (wfd < 0)
			_exit(127);
	}
	if (keep == 3) {
		keep = fcntl(keep, F_DUPFD, 5); /* dup2(wfd, 3) below would close it */
		if (keep < 0)
			_exit(127);
	}
	if ((wfd != 3 && dup2(wfd, 3) < 0) || (keep >= 0 && keep != 4 && dup2(keep, 4) < 0))
		_exit(127);
	if (close_range(0, 2, 0) < 0 || close_range(keep >= 0 ? 5 : 4, ~0u, 0) < 0) {
		for (int fd = 0; fd < 65536; fd++)
			if (fd != 3 && (keep < 0 || fd != 4))
				(void)close(fd);
	}
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* the caller died before prctl() */
		_exit(127);
	(void)!chdir("/");
}

/* A child started by child_start(): its slot, the read end of its result pipe, a pidfd. */
struct child {
	int slot;
	int rfd;
	int pidfd;
	pid_t pid;
};

/*
 * Reserve a slot, make the result pipe and fork with every signal blocked (so no handler of the
 * host runs in the child); the child runs @fn(@arg, write end, caller's pid), which never
 * returns. Returns 0, -EAGAIN (no slot: EXEC_SLOTS_MAX), or the -errno of pipe2/fork.
 */
static int child_start(struct child *c, void (*fn)(void *, int, pid_t), void *arg)
{
	sigset_t all, old;
	pid_t parent = getpid();
	int p[2], r;

	*c = (struct child){ .slot = -1, .rfd = -EBADF, .pidfd = -EBADF, .pid = -1 };
	c->slot = slot_reserve();
	if (c->slot < 0)
		return c->slot;
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		slot_release(c->slot);
		return r;
	}
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	c->pid = fork();
	if (c->pid == 0) {
		fn(arg, p[1], parent);
		_exit(127); /* not reached */
	}
	r = c->pid < 0 ? -errno : 0;
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)close(p[1]);
	if (r < 0) {
		(void)close(p[0]);
		slot_release(c->slot);
		return r;
	}
	c->rfd = p[0];
	c->pidfd = open_pidfd(c->pid);
	return 0;
}

/*
 * The child's job is over (answered, or past its deadline): SIGKILL it (it is still unreaped,
 * so the pid is still our child) and reap it within EXEC_PROBE_GRACE_MS. Returns true when it
 * was reaped (its slot is free), false when it stays unkillable (D state): the caller then
 * hands the slot over with child_track().
 */
static bool child_end(struct child *c)
{
	int status, k;

	(void)kill(c->pid, SIGKILL);
	k = reap_within(c->pid, c->pidfd, EXEC_PROBE_GRACE_MS, &status);
	close_now(&c->rfd);
	close_now(&c->pidfd);
	if (k == 0)
		return false;
	slot_release(c->slot);
	return true;
}

/* Keep the slot of an unkillable child, with the paths it still waits on (taken; may be NULL). */
static void child_track(struct child *c, char **paths, size_t n)
{
	slot_track(c->slot, c->pid, paths, n);
}

/* ---- an unmount the caller can walk away from ---- */

struct umount_job {
	int dfd;
	const char *path;
	int flags;
};

/* The forked child: the directory as fd 4 (its path names /proc/self/fd/4/...). */
static _Noreturn void umount_child(void *arg, int wfd, pid_t parent)
{
	const struct umount_job *j = arg;
	int err = 0;

	child_prologue(wfd, j->dfd, parent);
	if (umount2(j->path, j->flags) < 0)
		err = errno;
	(void)!write(3, &err, sizeof(err));
	_exit(0);
}

int exec_umount(int dfd, const char *name, int flags, unsigned timeout_ms, int (*gone)(void *),
		void *arg)
{
	struct umount_job job = { .dfd = dfd, .flags = flags };
	struct child c;
	char path[PATH_MAX];
	uint64_t deadline, first;
	bool got = false;
	int err = 0, k, r;

	if (!name || timeout_ms == 0 || (dfd < 0 && name[0] != '/') ||
	    (dfd >= 0 && (!name[0] || strchr(name, '/'))))
		return -EINVAL;
	k = dfd >= 0 ? snprintf(path, sizeof(path), "/proc/self/fd/4/%s", name) :
		       snprintf(path, sizeof(path), "%s", name);
	if (k < 0 || (size_t)k >= sizeof(path))
		return -ENAMETOOLONG;
	job.path = path;

	exec_reap_stragglers();
	deadline = now_ms() + timeout_ms;
	/* The usual unmount reports within milliseconds: only then look at the mount table. */
	first = now_ms() + 100;
	r = child_start(&c, umount_child, &job);
	if (r < 0)
		return r;

	r = -ETIMEDOUT;
	for (;;) {
		struct pollfd pf = { .fd = c.rfd, .events = POLLIN };
		uint64_t until = now_ms() < first ? first : now_ms() + 50;
		ssize_t n;

		k = poll_ms(&pf, 1, until < deadline ? until : deadline);
		if (k > 0) {
			n = read(c.rfd, &err, sizeof(err));
			if (n < 0 && errno == EINTR)
				continue;
			got = n == (ssize_t)sizeof(err);
			r = got ? -err : -EPROTO;
			break;
		}
		if (k < 0 && k != -EINTR) {
			r = k;
			break;
		}
		/* No answer yet: the mount may be gone already, its caller stuck in the teardown
		 * that follows (the last NFSv4 mount of a dead server). */
		if (gone && gone(arg) > 0) {
			r = 0;
			break;
		}
		if (now_ms() >= deadline)
			break;
	}
	/* The teardown is killable: it ends without the server. */
	if (!child_end(&c))
		child_track(&c, NULL, 0);
	return r;
}

/* ---- ending the helpers of a share (design note 5) ---- */

/* Does the environment of the process behind @pid_dfd (/proc/<pid>) hold exactly @entry? */
static bool environ_has(int pid_dfd, const char *entry)
{
	_cleanup_close_ int fd = openat(pid_dfd, "environ", O_RDONLY | O_CLOEXEC);
	size_t want = strlen(entry) + 1; /* with its NUL */
	char buf[8192];
	size_t have = 0; /* bytes of the current entry kept in buf */
	bool skipping = false;

	if (fd < 0)
		return false;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		have += (size_t)n;
		for (;;) {
			char *nul = memchr(buf, '\0', have);
			size_t len;

			if (!nul) {
				if (have == sizeof(buf)) { /* an entry longer than ours: skip it */
					skipping = true;
					have = 0;
				}
				break;
			}
			len = (size_t)(nul - buf) + 1;
			if (!skipping && len == want && memcmp(buf, entry, want) == 0)
				return true;
			skipping = false;
			memmove(buf, nul + 1, have - len);
			have -= len;
		}
	}
}

/*
 * One pass over /proc: SIGKILL every root-owned process (not us) whose environment carries
 * @entry, through a pidfd taken before its environment was read (so a reused pid is never
 * signalled). Their pidfds are appended to @fds (@n of @cap). Returns how many were killed.
 */
static int kill_tagged_pass(const char *entry, int *fds, size_t *n, size_t cap)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t self = getpid();
	int killed = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		_cleanup_close_ int pid_dfd = -EBADF;
		_cleanup_close_ int pidfd = -EBADF;
		struct pollfd pf;
		struct stat st;
		char *end;
		long pid;

		pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self)
			continue;
		pidfd = pidfd_open((pid_t)pid, 0);
		if (pidfd < 0)
			continue; /* gone already */
		pid_dfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pid_dfd < 0 || fstat(pid_dfd, &st) < 0 || st.st_uid != 0)
			continue;
		if (!environ_has(pid_dfd, entry))
			continue;
		/* Still the process we read (the pidfd is not readable yet): kill it. */
		pf = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		if (poll(&pf, 1, 0) != 0)
			continue;
		if (pidfd_send_signal(pidfd, SIGKILL, NULL, 0) < 0)
			continue;
		killed++;
		if (*n < cap)
			fds[(*n)++] = TAKE_FD(pidfd);
	}
	(void)closedir(d);
	return killed;
}

int exec_end_share(const char *share, unsigned timeout_ms)
{
	char entry[SHARE_ENV_MAX];
	uint64_t deadline;
	int total = 0;

	if (!share_id_ok(share) || timeout_ms == 0)
		return -EINVAL;
	(void)snprintf(entry, sizeof(entry), "%s%s", EXEC_SHARE_ENV, share);
	deadline = now_ms() + timeout_ms;
	/* Repeat until two passes in a row find nothing: a helper may have forked just before
	 * it was killed, and a process in the middle of an execve() shows an empty environment
	 * for a moment, so one empty pass does not prove there is none. */
	for (unsigned empty = 0;;) {
		int fds[64];
		size_t n = 0;
		int k = kill_tagged_pass(entry, fds, &n, ELEMENTSOF(fds));
		bool all_gone = true;

		if (k < 0)
			return k;
		if (k == 0) {
			if (++empty == 2)
				return total;
			sleep_ms(2);
			continue;
		}
		empty = 0;
		total += k;
		/* Wait (bounded) until each is dead: a pidfd of a process that is not our child
		 * becomes readable when it exits. One that does not die in time (D state) may
		 * still mount: the caller must not mount now. */
		for (size_t i = 0; i < n; i++) {
			struct pollfd pf = { .fd = fds[i], .events = POLLIN };

			while (poll_ms(&pf, 1, deadline) == 0 && now_ms() < deadline)
				;
			if (!(pf.revents & (POLLIN | POLLHUP)))
				all_gone = false;
			(void)close(fds[i]);
		}
		if (!all_gone || now_ms() >= deadline)
			return -ETIMEDOUT;
	}
}

/* ---- liveness probes: one worker, many paths, one deadline (design note 6) ---- */

#include <sys/mman.h>
#include <sys/syscall.h>

#if defined(__x86_64__) && !defined(EXEC_PROBE_LIBC_CLONE)
/* Raw system calls: they return -errno and never touch errno (the worker's threads share the
 * thread pointer of its main thread, so errno would be one variable for all of them). */
static inline long raw_syscall3(long n, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

/*
 * A thread of the calling process (CLONE_THREAD|CLONE_VM...) that runs @fn(@arg) on the stack
 * ending at @stack_top (16-byte aligned) and then exits by itself (SYS_exit: this thread only).
 * No libc and no sanitizer runtime is involved: glibc's clone() is intercepted by
 * ThreadSanitizer as if it were a fork. Returns the thread id or -errno.
 */
static long raw_thread(unsigned long flags, void *stack_top, int (*fn)(void *), void *arg)
{
	register long r10 __asm__("r10") = 0; /* child_tid */
	register long r8 __asm__("r8") = 0;   /* tls */
	register void *r12 __asm__("r12") = (void *)fn; /* callee-saved: kept in the child */
	register void *r13 __asm__("r13") = arg;
	long ret;

	__asm__ volatile("syscall\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xorl %%ebp, %%ebp\n\t"
			 "movq %%r13, %%rdi\n\t"
			 "callq *%%r12\n\t"
			 "movl %[sys_exit], %%eax\n\t"
			 "xorl %%edi, %%edi\n\t"
			 "syscall\n\t"
			 "hlt\n\t"
			 "1:\n\t"
			 : "=a"(ret)
			 : "a"((long)SYS_clone), "D"(flags), "S"(stack_top), "d"(0L), "r"(r10),
			   "r"(r8), "r"(r12), "r"(r13), [sys_exit] "i"(SYS_exit)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
/*
 * Elsewhere (and on x86_64 with EXEC_PROBE_LIBC_CLONE, which the exec-libc-clone test builds to
 * run this variant): glibc's clone() and syscall(). The threads share the main thread's errno,
 * so when two statfs calls fail at the same moment, one may report the other's errno: the
 * verdict (answered, failed, hung) is never affected, only which errno a stale share shows.
 * Not for ThreadSanitizer builds, which intercept clone().
 */
static inline long raw_syscall3(long n, long a, long b, long c)
{
	long r = syscall(n, a, b, c);

	return r < 0 ? -errno : r;
}

static long raw_thread(unsigned long flags, void *stack_top, int (*fn)(void *), void *arg)
{
	int r = clone(fn, stack_top, (int)flags, arg);

	return r < 0 ? -errno : r;
}
#endif

/* Threads of a worker: it starts with PROBE_THREADS_START and doubles while every thread is
 * waiting on a path and paths are left, up to EXEC_PROBE_THREADS_MAX. */
#define PROBE_THREADS_START 8u
#define PROBE_STACK	    (32u * 1024u)
#define PROBE_TICK_MS	    1

enum { CELL_WAITING, CELL_STARTED, CELL_DONE };

/* One path's result, in memory shared between the caller and the worker. */
struct probe_cell {
	uint32_t state; /* CELL_*, written by the worker (release), read by the caller (acquire) */
	int32_t err;	/* positive errno of statfs, 0 if it answered */
	int64_t ns;	/* statfs time */
};

struct probe_shared {
	uint32_t next;	  /* next path index to take */
	uint32_t done;	  /* cells in CELL_DONE */
	uint32_t threads; /* threads started */
	uint32_t pad;
	struct probe_cell cells[];
};

struct probe_job {
	const char *const *paths;
	uint32_t n;
	struct probe_shared *sh;
	char *stacks; /* EXEC_PROBE_THREADS_MAX stacks of PROBE_STACK bytes */
};

static inline int64_t raw_now_ns(void)
{
	struct timespec t;

	if (raw_syscall3(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&t, 0) < 0)
		return 0;
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* A worker thread: raw system calls and atomics only. The one that finishes the last cell says
 * so on the result pipe (fd 3) at once: the caller does not wait for the worker's next tick. */
__attribute__((no_sanitize("address", "thread"))) static int probe_worker_thread(void *arg)
{
	const struct probe_job *j = arg;
	struct probe_shared *sh = j->sh;

	for (;;) {
		uint32_t i = __atomic_fetch_add(&sh->next, 1, __ATOMIC_RELAXED);
		struct probe_cell *c;
		unsigned char st[256] __attribute__((aligned(16))); /* > struct statfs */
		int64_t t0;
		long r;

		if (i >= j->n)
			return 0;
		c = &sh->cells[i];
		__atomic_store_n(&c->state, CELL_STARTED, __ATOMIC_RELEASE);
		t0 = raw_now_ns();
		r = raw_syscall3(SYS_statfs, (long)j->paths[i], (long)st, 0);
		c->ns = raw_now_ns() - t0;
		c->err = r < 0 ? (int32_t)-r : 0;
		__atomic_store_n(&c->state, CELL_DONE, __ATOMIC_RELEASE);
		if (__atomic_add_fetch(&sh->done, 1, __ATOMIC_ACQ_REL) == j->n)
			(void)raw_syscall3(SYS_write, 3, (long)"", 1);
	}
}

/*
 * The forked worker (design note 6): async-signal-safe calls and raw system calls only, every
 * signal blocked. Its threads take paths from the shared counter; its main thread adds threads
 * while all of them wait on paths, and exits once every cell is done (or is SIGKILLed).
 */
static _Noreturn void probe_worker(void *arg, int wfd, pid_t parent)
{
	const struct probe_job *j = arg;
	struct probe_shared *sh = j->sh;
	uint32_t started = 0;
	const unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
				    CLONE_THREAD | CLONE_SYSVSEM;

	child_prologue(wfd, -1, parent);
	for (;;) {
		uint32_t done = __atomic_load_n(&sh->done, __ATOMIC_ACQUIRE);
		uint32_t next = __atomic_load_n(&sh->next, __ATOMIC_RELAXED);
		uint32_t busy = (next < j->n ? next : j->n) - done;
		uint32_t want = started;

		if (done >= j->n)
			break;
		if (started == 0)
			want = j->n < PROBE_THREADS_START ? j->n : PROBE_THREADS_START;
		else if (next < j->n && busy >= started) /* all waiting, paths left: double */
			want = started * 2;
		if (want > EXEC_PROBE_THREADS_MAX)
			want = EXEC_PROBE_THREADS_MAX;
		while (started < want) {
			char *top = j->stacks + (size_t)(started + 1) * PROBE_STACK;

			if (raw_thread(flags, top, probe_worker_thread, (void *)j) < 0)
				break;
			started++;
			__atomic_store_n(&sh->threads, started, __ATOMIC_RELAXED);
		}
		(void)poll(NULL, 0, PROBE_TICK_MS);
	}
	_exit(0);
}

int exec_probe_statfs_many(const char *const *paths, size_t n, unsigned timeout_ms, int *ret,
			   long *ret_us)
{
	_cleanup_free_ const char **todo = NULL;
	_cleanup_free_ size_t *idx = NULL;
	_cleanup_free_ char **stuck = NULL;
	struct probe_shared *sh = MAP_FAILED;
	struct probe_job job = { .stacks = MAP_FAILED };
	struct child c;
	size_t m = 0, n_stuck = 0, sh_len = 0, stacks_len;
	uint64_t deadline;
	bool reaped;
	int r;

	if ((!paths && n > 0) || !ret || timeout_ms == 0 || n > UINT32_MAX / 2)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!paths[i] || paths[i][0] != '/' || strnlen(paths[i], PATH_MAX) >= PATH_MAX)
			return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		ret[i] = EXEC_PROBE_NOT_RUN;
		if (ret_us)
			ret_us[i] = -1;
	}
	if (n == 0)
		return 0;

	exec_reap_stragglers();
	deadline = now_ms() + timeout_ms;
	todo = calloc(n, sizeof(*todo));
	idx = calloc(n, sizeof(*idx));
	if (!todo || !idx)
		return -ENOMEM;
	/* A path an earlier worker is still stuck on has not answered that request yet: hung,
	 * and one stuck task per path is enough. */
	pthread_mutex_lock(&slots_lock);
	for (size_t i = 0; i < n; i++) {
		if (path_is_straggling_locked(paths[i]))
			ret[i] = -ETIMEDOUT;
		else {
			idx[m] = i;
			todo[m++] = paths[i];
		}
	}
	pthread_mutex_unlock(&slots_lock);
	if (m == 0)
		return 0;

	sh_len = sizeof(*sh) + m * sizeof(sh->cells[0]);
	stacks_len = (size_t)EXEC_PROBE_THREADS_MAX * PROBE_STACK;
	/* Shared with the worker, so its results outlive it when it is killed at the deadline. */
	sh = mmap(NULL, sh_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	/* The worker's thread stacks, reserved here so the worker allocates nothing (its copy is
	 * private to it; untouched pages cost nothing). */
	job.stacks = mmap(NULL, stacks_len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (sh == MAP_FAILED || job.stacks == MAP_FAILED) {
		r = -errno;
		goto out;
	}
	job.paths = todo;
	job.n = (uint32_t)m;
	job.sh = sh;
	r = child_start(&c, probe_worker, &job);
	(void)munmap(job.stacks, stacks_len);
	job.stacks = MAP_FAILED;
	if (r == -EAGAIN) {
		r = 0; /* no slot: nothing could be probed, every path stays EXEC_PROBE_NOT_RUN */
		goto out;
	}
	if (r < 0)
		goto out;

	/* Until the last cell is done (a byte), the worker died (EOF), or the deadline. */
	for (;;) {
		struct pollfd pf = { .fd = c.rfd, .events = POLLIN };
		int k = poll_ms(&pf, 1, deadline);

		if (k < 0 || (k == 0 && now_ms() >= deadline) || k > 0)
			break;
	}
	reaped = child_end(&c);

	/* Verdicts: answered, waited on past the deadline (hung), or never taken (not run). */
	if (!reaped)
		stuck = calloc(m, sizeof(*stuck));
	for (size_t i = 0; i < m; i++) {
		const struct probe_cell *cell = &sh->cells[i];
		uint32_t st = __atomic_load_n(&cell->state, __ATOMIC_ACQUIRE);

		if (st == CELL_DONE) {
			ret[idx[i]] = -cell->err;
			if (ret_us && cell->err == 0)
				ret_us[idx[i]] = cell->ns <= 0 ? 1 : (long)((cell->ns + 999) / 1000);
		} else if (st == CELL_STARTED) {
			ret[idx[i]] = -ETIMEDOUT;
			if (stuck && (stuck[n_stuck] = strdup(todo[i])))
				n_stuck++;
		}
	}
	if (!reaped)
		child_track(&c, TAKE_PTR(stuck), n_stuck);
	r = 0;
out:
	if (job.stacks != MAP_FAILED)
		(void)munmap(job.stacks, stacks_len);
	if (sh != MAP_FAILED)
		(void)munmap(sh, sh_len);
	return r;
}

int exec_probe_statfs(const char *path, unsigned timeout_ms, long *ret_latency_us)
{
	int r = EXEC_PROBE_NOT_RUN, k;
	long us = -1;

	if (!path)
		return -EINVAL;
	k = exec_probe_statfs_many(&path, 1, timeout_ms, &r, &us);
	if (k < 0)
		return k;
	if (r == EXEC_PROBE_NOT_RUN)
		return -EAGAIN; /* no slot, or the worker could not run */
	if (r == 0 && ret_latency_us)
		*ret_latency_us = us;
	return r;
}
