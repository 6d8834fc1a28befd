/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exec.h - the executor: the one place in libvolmount that runs helper programs and liveness
 * probes. Helpers run by absolute, checked path with a fixed argv and a clean environment, no
 * inherited fds, in a session (and so a process group) of their own, under a deadline after
 * which the whole group is SIGKILLed. Probes statfs() a path in a child process, so the caller
 * never touches a possibly hung mount. No child is ever left running unbounded: each one is
 * reaped, or, if the kernel keeps it unkillable (D state on a hung FUSE or network mount),
 * tracked in a small process-global table and reaped later.
 *
 * Requirements on the host program: it must not ignore SIGCHLD (SIG_IGN makes the kernel reap
 * children behind our back) nor reap children it did not start (wait(-1), waitpid(-1) in a
 * SIGCHLD handler). Every function here is thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Longest err string, NUL included. */
#define EXEC_ERR_MAX	    4096
/* Most stdout bytes kept with EXEC_CAPTURE_STDOUT (more is read and dropped). */
#define EXEC_OUT_MAX	    65536
/* After SIGKILL, how long a helper (its group) or a probe child may take to be reaped before it
 * is considered unkillable and tracked. */
#define EXEC_KILL_GRACE_MS  1000u
#define EXEC_PROBE_GRACE_MS 250u
/* Children in flight plus tracked stragglers, per process. A call that would exceed it fails
 * with -EAGAIN instead of starting another child. */
#define EXEC_SLOTS_MAX	    64

/* The environment variable that names the share a helper works for (see exec_run_share()), and
 * the longest share id it takes. */
#define EXEC_SHARE_ENV	    "VOLMOUNT_SHARE="
#define EXEC_SHARE_ID_MAX   64

/* Capture the helper's stdout into exec_result.out (default: /dev/null). */
#define EXEC_CAPTURE_STDOUT (1u << 0)
#define EXEC__ALL	    EXEC_CAPTURE_STDOUT

struct exec_result {
	int status;	/* wait status (WIFEXITED/WEXITSTATUS...); valid when exec_run returned 0 */
	bool timed_out; /* the deadline passed and the process group was SIGKILLed */
	bool reaped;	/* false only if the child stayed unkillable past the grace period; it is
			 * then tracked (see exec_reap_stragglers()) */
	pid_t pid;	/* the child's pid (and process group id); -1 if none was started */
	char *err;	/* captured stderr, never NULL after a run: at most EXEC_ERR_MAX - 1 bytes,
			 * trailing whitespace trimmed, control and non-ASCII bytes escaped (\n, \t,
			 * \xHH), values of password=, passwd=, pass=, secret= replaced by "***", and
			 * "..." at the end if cut. Fit for an error message. */
	char *out;	/* EXEC_CAPTURE_STDOUT only: raw stdout, NUL-terminated, at most
			 * EXEC_OUT_MAX bytes. Not redacted: never log it. NULL otherwise. */
	size_t out_len; /* bytes in out, without the NUL */
};

/* Free what @r holds and reset it. Safe on a zeroed or already done result. */
void exec_result_done(struct exec_result *r);

/*
 * exec_check_binary() - may @path be run as a helper? @path must be absolute; it is resolved
 * with realpath() (so /sbin/mount.nfs through a merged-/usr symlink is fine), then every
 * component of the resolved path is opened with O_PATH|O_NOFOLLOW from "/" and checked on its
 * fd: each directory root-owned and not group/world-writable (sticky or not), the file regular,
 * root-owned, not group/world-writable, with an execute bit. As only root can change such a
 * path, the check still holds when the resolved path is executed.
 * Returns 0, -EINVAL (not absolute), -ENOENT and other errnos of the lookup, -EACCES (not a
 * regular executable file), or -EPERM (owner or mode unsafe). With @ret_resolved (may be NULL)
 * the resolved path is returned on success (caller frees).
 */
int exec_check_binary(const char *path, char **ret_resolved);

/*
 * exec_run() - run argv[0] (an absolute path passing exec_check_binary(); the resolved path is
 * executed, argv[0] is passed as given) with argv and the environment
 * "PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C" only; stdin and stdout /dev/null, stderr
 * captured, every other fd closed, cwd "/", a new session (so its own process group and no
 * controlling terminal: a helper cannot prompt), default signal dispositions and an empty
 * signal mask. When the helper exits, the call returns at once: anything it left running in
 * its group (or that daemonized into another session) is not waited for, so helpers that start
 * a FUSE daemon work. At @timeout_ms (> 0) the whole process group is SIGKILLed and reaped
 * within EXEC_KILL_GRACE_MS; the call never blocks longer than timeout + grace.
 *
 * *ret is always initialised (exec_result_done() is safe on it). Returns 0 when the child ran
 * (see ret->status), -ETIMEDOUT when the deadline passed (ret->timed_out, ret->reaped,
 * ret->err set), -EINVAL (bad arguments), an exec_check_binary() error, -EAGAIN (too many
 * children in flight or unkillable, EXEC_SLOTS_MAX), -ECHILD (someone else reaped the child),
 * or the -errno of pipe/posix_spawn/exec.
 */
int exec_run(const char *const *argv, unsigned timeout_ms, struct exec_result *ret);
/* exec_run() with EXEC_* @flags; unknown bits give -EINVAL. */
int exec_run_full(const char *const *argv, unsigned timeout_ms, unsigned flags,
		  struct exec_result *ret);

/*
 * exec_run_share() - exec_run_full() for a helper that works for share @share (an id of 1 to
 * EXEC_SHARE_ID_MAX ASCII letters and digits; NULL: none): the environment also holds
 * "VOLMOUNT_SHARE=<share>". Not a secret and not a capability: a mark that every process the
 * helper starts (ssh, a daemonized FUSE server) inherits, so exec_end_share() can find them
 * after the call that started them has died.
 */
int exec_run_share(const char *const *argv, unsigned timeout_ms, unsigned flags,
		   const char *share, struct exec_result *ret);
/* exec_run_share() that also gives the helper a copy of @fd (>= 0; -1: none) as its fd 3, and
 * nothing else: a helper told to mount on "/proc/self/fd/3" reaches the very directory the
 * caller opened and checked, and one told to serve "/dev/fd/3" the FUSE connection the caller
 * mounted, not whatever a path names by the time it looks. */
int exec_run_helper(const char *const *argv, unsigned timeout_ms, unsigned flags,
		    const char *share, int fd, struct exec_result *ret);

/*
 * exec_end_share() - SIGKILL every root-owned process (other than the caller) whose environment
 * carries "VOLMOUNT_SHARE=<share>", and wait until each has exited, again and again until /proc
 * shows none: helpers a crashed call left running, with the FUSE daemons they started.
 * Processes are found by reading /proc/<pid>/environ and signalled through a pidfd opened
 * before the read, so a recycled pid is never hit. Returns how many processes were ended
 * (0: none found), -ETIMEDOUT if one still lived after @timeout_ms (unkillable, D state: it may
 * still mount, so do not mount now), -EINVAL, or the -errno of opening /proc.
 */
int exec_end_share(const char *share, unsigned timeout_ms);

/*
 * exec_probe_statfs() - liveness probe of one path: exec_probe_statfs_many() of @path alone
 * (the same worker, the same tracking). The calling process never touches @path (absolute,
 * shorter than PATH_MAX).
 *
 * Returns 0 (healthy; *ret_latency_us, if non-NULL, is the statfs time in microseconds, >= 1),
 * the -errno statfs saw (-ENOTCONN, -ESTALE, -EIO, -EHOSTDOWN, -ECONNABORTED, -ENODEV,
 * -EACCES, -ENOENT...), or -ETIMEDOUT when it passed @timeout_ms (> 0): the worker is then
 * SIGKILLed and, if still unkillable after EXEC_PROBE_GRACE_MS, tracked. While an earlier probe
 * of the same @path string is still stuck, the mount has not answered that request yet: the
 * call returns -ETIMEDOUT at once without starting another worker. Executor failures: -EINVAL,
 * -EAGAIN (no slot, EXEC_SLOTS_MAX, or the worker could not probe: EXEC_PROBE_NOT_RUN),
 * -ENOMEM, or the -errno of mmap/pipe2/fork. Never blocks longer than @timeout_ms +
 * EXEC_PROBE_GRACE_MS.
 */
int exec_probe_statfs(const char *path, unsigned timeout_ms, long *ret_latency_us);

/* Threads of one probe worker at most (exec_probe_statfs_many()): more paths hung at once than
 * this leaves the rest not probed. */
#define EXEC_PROBE_THREADS_MAX 1024u
/* exec_probe_statfs_many(): this path was not probed at all (positive: never an errno). */
#define EXEC_PROBE_NOT_RUN 1

/*
 * exec_probe_statfs_many() - statfs() each of @n paths (absolute, shorter than PATH_MAX)
 * against one deadline, @timeout_ms from the call: one forked worker process probes them all
 * with up to EXEC_PROBE_THREADS_MAX threads (more are started while every thread waits on a
 * path), and is SIGKILLed at the deadline. It holds one executor slot; if it cannot be reaped
 * within EXEC_PROBE_GRACE_MS it is tracked, with the paths it still waited on, and later calls
 * report those paths hung at once without probing them again.
 *
 * Fills ret[i]: 0 (healthy; ret_us[i] the statfs time in microseconds, >= 1, if @ret_us is
 * non-NULL, else -1), the -errno statfs saw, -ETIMEDOUT (its statfs had not returned at the
 * deadline: hung), or EXEC_PROBE_NOT_RUN (never probed: no slot or thread was free, or the
 * worker could not start; never a verdict on the mount). Returns 0 (see @ret), -EINVAL,
 * -ENOMEM, or the -errno of mmap/pipe2/fork (every ret[i] then EXEC_PROBE_NOT_RUN). The
 * call never blocks longer than @timeout_ms + EXEC_PROBE_GRACE_MS. The thread that finishes
 * the last path says so at once, so a call on healthy paths returns as soon as they answered.
 */
int exec_probe_statfs_many(const char *const *paths, size_t n, unsigned timeout_ms, int *ret,
			   long *ret_us);

/*
 * umount2(@name, @flags) in a child process, so that the caller never blocks: whoever drops the
 * last reference to a network filesystem pays for its teardown, and for the last NFSv4 mount of
 * a dead server that blocks (killably) on the syscall's exit for minutes, after the mount has
 * already left the table. @name is a single name under the directory @dfd, or an absolute path
 * with @dfd < 0. Returns the child's result (0 or -errno) when it reports within @timeout_ms;
 * 0 when @gone(@arg) (polled once the child has not answered within 100 ms) says the mount has
 * left the table: the child, stuck in the teardown, is then SIGKILLed, which ends it without
 * the server; -ETIMEDOUT otherwise (child killed, tracked if it does not die). Executor
 * failures as exec_probe_statfs(). Never blocks longer than @timeout_ms + EXEC_PROBE_GRACE_MS.
 */
int exec_umount(int dfd, const char *name, int flags, unsigned timeout_ms, int (*gone)(void *),
		void *arg);

/* Reap, without blocking, tracked children that have died since. Called at the start of every
 * exec_run*() and exec_probe_statfs(). */
void exec_reap_stragglers(void);

/* Number of tracked, not yet reaped children (for tests and metrics). */
size_t exec_stragglers(void);

/*
 * exec_sanitize() - turn @len raw bytes of helper output into the form of exec_result.err:
 * secrets redacted, trailing whitespace trimmed, control and non-ASCII bytes escaped, capped at
 * EXEC_ERR_MAX - 1 bytes ("..." at the end when cut). Returns 0 and *ret (caller frees), or
 * -ENOMEM.
 */
int exec_sanitize(const char *in, size_t len, char **ret);
