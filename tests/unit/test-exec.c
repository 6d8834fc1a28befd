/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-exec.c - unit test of lib/exec.c: helper runs (binary checks, clean environment, closed
 * fds, new session, captured and redacted stderr, deadlines that kill the whole process group)
 * and statfs probes against healthy, missing, hung, unkillable (D state) and dead FUSE mounts.
 * The FUSE mounts need no FUSE library: the test opens /dev/fuse itself and answers INIT (or
 * not) by hand. Runs in a private mount namespace with a root-owned 0755 tmpfs over /tmp (so
 * binaries copied there can pass the owner/mode checks); exits 77 (skip) when it may not create
 * the namespace. Tests may use /bin/sh; the product code never does.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"
#include "internal.h"
#include "test.h"
#include "test-ns.h"
#include "cleanup.h"

static char base[64]; /* root-owned 0700 directory on our private tmpfs */

static char *at_base(const char *rel)
{
	char *p;

	ASSERT_TRUE(asprintf(&p, "%s/%s", base, rel) > 0);
	return p;
}

/* A process is gone when it no longer exists or is a zombie waiting for its (new) parent. */
static bool pid_gone(pid_t pid)
{
	char path[64], buf[512];
	_cleanup_close_ int fd = -EBADF;
	ssize_t n;
	char *p;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

/* Members of process group @pgid that are not zombies (zombies of reparented members wait
 * for PID 1 to reap them). */
static int group_live_members(pid_t pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	ASSERT_TRUE(d != NULL);
	while ((de = readdir(d))) {
		char path[300], buf[512], state;
		int fd, pgrp, ppid;
		ssize_t len;
		char *p;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		(void)snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		(void)close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		p = strrchr(buf, ')');
		if (p && sscanf(p + 2, "%c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
		    state != 'Z' && state != 'X')
			n++;
	}
	closedir(d);
	return n;
}

static bool wait_gone(pid_t pid, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while (!pid_gone(pid)) {
		if (now_ms() >= end)
			return false;
		sleep_ms(10);
	}
	return true;
}

static bool wait_no_stragglers(unsigned ms)
{
	uint64_t end = now_ms() + ms;

	for (;;) {
		exec_reap_stragglers();
		if (exec_stragglers() == 0)
			return true;
		if (now_ms() >= end)
			return false;
		sleep_ms(10);
	}
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	_cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = -EBADF;
	char buf[65536];
	ssize_t n;

	ASSERT_TRUE(in >= 0);
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ASSERT_TRUE(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ASSERT_EQ(write(out, buf, (size_t)n), n);
	ASSERT_EQ(n, 0);
	ASSERT_EQ(fchmod(out, mode), 0);
}

static int run(const char *const *argv, unsigned timeout_ms, unsigned flags,
	       struct exec_result *res)
{
	return exec_run_full(argv, timeout_ms, flags, res);
}

/* ---- helpers ---- */

static void test_true_false(void)
{
	const char *t[] = { "/bin/true", NULL };
	const char *f[] = { "/bin/false", NULL };
	struct exec_result res;

	ASSERT_EQ(exec_run(t, 5000, &res), 0);
	ASSERT_TRUE(WIFEXITED(res.status));
	ASSERT_EQ(WEXITSTATUS(res.status), 0);
	ASSERT_TRUE(res.reaped && !res.timed_out && res.pid > 0);
	ASSERT_STREQ(res.err, "");
	ASSERT_TRUE(res.out == NULL);
	exec_result_done(&res);

	ASSERT_EQ(exec_run(f, 5000, &res), 0);
	ASSERT_TRUE(WIFEXITED(res.status));
	ASSERT_EQ(WEXITSTATUS(res.status), 1);
	exec_result_done(&res);
	exec_result_done(&res); /* idempotent */
}

static void test_refused(void)
{
	const char *rel[] = { "true", NULL };
	const char *none[] = { "/nonexistent/bin/true", NULL };
	const char *dir[] = { "/usr/bin", NULL };
	const char *noexec[] = { "/etc/passwd", NULL };
	const char *ok[] = { "/bin/true", NULL };
	const char *empty[] = { NULL };
	struct exec_result res;

	ASSERT_EQ(exec_run(rel, 1000, &res), -EINVAL);
	ASSERT_TRUE(res.err == NULL && res.pid == -1);
	exec_result_done(&res);
	ASSERT_EQ(exec_run(none, 1000, &res), -ENOENT);
	ASSERT_EQ(exec_run(dir, 1000, &res), -EACCES);
	ASSERT_EQ(exec_run(noexec, 1000, &res), -EACCES);
	ASSERT_EQ(exec_run(empty, 1000, &res), -EINVAL);
	ASSERT_EQ(exec_run(NULL, 1000, &res), -EINVAL);
	ASSERT_EQ(exec_run(ok, 0, &res), -EINVAL);
	ASSERT_EQ(exec_run_full(ok, 1000, 1u << 7, &res), -EINVAL);
	ASSERT_EQ(exec_run(ok, 1000, NULL), -EINVAL);
	ASSERT_EQ(exec_check_binary(NULL, NULL), -EINVAL);
	ASSERT_EQ(exec_check_binary("bin/true", NULL), -EINVAL);
	ASSERT_EQ(exec_check_binary("/", NULL), -EACCES);
}

static void test_binary_owner_mode(void)
{
	_cleanup_free_ char *good = at_base("true-ok");
	_cleanup_free_ char *nobody = at_base("true-nobody");
	_cleanup_free_ char *ww = at_base("true-777");
	_cleanup_free_ char *gw = at_base("true-775");
	_cleanup_free_ char *wwdir = at_base("wwdir");
	_cleanup_free_ char *stickydir = at_base("sticky");
	_cleanup_free_ char *in_ww = at_base("wwdir/true");
	_cleanup_free_ char *in_sticky = at_base("sticky/true");
	_cleanup_free_ char *link_ok = at_base("link-ok");
	_cleanup_free_ char *link_bad = at_base("link-bad");
	_cleanup_free_ char *resolved = NULL;
	const char *argv[] = { NULL, NULL };
	struct exec_result res;

	copy_file("/bin/true", good, 0755);
	copy_file("/bin/true", nobody, 0755);
	ASSERT_EQ(chown(nobody, 65534, 65534), 0);
	copy_file("/bin/true", ww, 0777);
	copy_file("/bin/true", gw, 0775);
	ASSERT_EQ(mkdir(wwdir, 0755), 0);
	copy_file("/bin/true", in_ww, 0755);
	ASSERT_EQ(chmod(wwdir, 0777), 0);
	ASSERT_EQ(mkdir(stickydir, 0755), 0);
	copy_file("/bin/true", in_sticky, 0755);
	ASSERT_EQ(chmod(stickydir, 01777), 0);
	ASSERT_EQ(symlink("/bin/true", link_ok), 0);
	ASSERT_EQ(symlink(ww, link_bad), 0);

	/* The positive control: a root-owned 0755 copy on a safe path runs. */
	argv[0] = good;
	ASSERT_EQ(exec_run(argv, 5000, &res), 0);
	ASSERT_TRUE(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0);
	exec_result_done(&res);

	ASSERT_EQ(exec_check_binary(nobody, NULL), -EPERM);
	ASSERT_EQ(exec_check_binary(ww, NULL), -EPERM);
	ASSERT_EQ(exec_check_binary(gw, NULL), -EPERM);
	ASSERT_EQ(exec_check_binary(in_ww, NULL), -EPERM);
	ASSERT_EQ(exec_check_binary(in_sticky, NULL), -EPERM);
	ASSERT_EQ(exec_check_binary(link_bad, NULL), -EPERM);
	argv[0] = nobody;
	ASSERT_EQ(exec_run(argv, 1000, &res), -EPERM);
	argv[0] = ww;
	ASSERT_EQ(exec_run(argv, 1000, &res), -EPERM);

	/* Symlinks are resolved first (merged /usr: /bin -> usr/bin), then checked. */
	ASSERT_EQ(exec_check_binary(link_ok, &resolved), 0);
	ASSERT_TRUE(resolved && resolved[0] == '/' && strstr(resolved, "/true"));
	free(TAKE_PTR(resolved));
	ASSERT_EQ(exec_check_binary("/bin/true", &resolved), 0);
	ASSERT_STREQ(resolved, "/usr/bin/true");

	ASSERT_EQ(chmod(wwdir, 0755), 0);
	ASSERT_EQ(chmod(stickydir, 0755), 0);
}

static void test_env_clean(void)
{
	const char *argv[] = { "/usr/bin/env", NULL };
	struct exec_result res;

	ASSERT_EQ(setenv("VOLMOUNT_TEST_CANARY", "leaked", 1), 0);
	ASSERT_EQ(setenv("LD_PRELOAD", "", 1), 0);
	ASSERT_EQ(run(argv, 5000, EXEC_CAPTURE_STDOUT, &res), 0);
	ASSERT_EQ(WEXITSTATUS(res.status), 0);
	ASSERT_STREQ(res.out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLANG=C\n");
	ASSERT_EQ(res.out_len, strlen(res.out));
	exec_result_done(&res);
	ASSERT_EQ(unsetenv("VOLMOUNT_TEST_CANARY"), 0);
	ASSERT_EQ(unsetenv("LD_PRELOAD"), 0);
}

static void test_fds_closed(void)
{
	const char *ls[] = { "/bin/ls", "-l", "/proc/self/fd", NULL };
	const char *pwd[] = { "/bin/pwd", NULL };
	_cleanup_close_ int canary = -EBADF;
	struct exec_result res;
	int nfd = 0;
	int p[2];

	/* Inheritable on purpose: only the executor can keep them from the child. */
	nfd = open("/dev/null", O_RDONLY); /* NOLINT(android-cloexec-open): inheritable canary */
	ASSERT_TRUE(nfd >= 0);
	canary = fcntl(nfd, F_DUPFD, 42);
	ASSERT_TRUE(canary >= 42);
	ASSERT_EQ(close(nfd), 0);
	nfd = 0;
	ASSERT_EQ(pipe(p), 0); /* NOLINT(android-cloexec-pipe): inheritable canary */

	ASSERT_EQ(run(ls, 5000, EXEC_CAPTURE_STDOUT, &res), 0);
	ASSERT_EQ(WEXITSTATUS(res.status), 0);
	for (char *line = strtok(res.out, "\n"); line; line = strtok(NULL, "\n")) {
		char *arrow = strstr(line, " -> ");
		char *sp;
		int fd;

		if (!arrow)
			continue; /* "total 0" */
		*arrow = '\0';
		sp = strrchr(line, ' ');
		ASSERT_TRUE(sp != NULL);
		fd = atoi(sp + 1);
		printf("# child fd %d -> %s\n", fd, arrow + 4);
		ASSERT_TRUE(fd >= 0 && fd <= 3); /* 0..2, and 3: the directory ls reads */
		if (fd == 0)
			ASSERT_STREQ(arrow + 4, "/dev/null");
		if (fd == 1 || fd == 2)
			ASSERT_TRUE(strncmp(arrow + 4, "pipe:", 5) == 0);
		nfd++;
	}
	ASSERT_EQ(nfd, 4);
	exec_result_done(&res);
	(void)close(p[0]);
	(void)close(p[1]);

	ASSERT_EQ(run(pwd, 5000, EXEC_CAPTURE_STDOUT, &res), 0);
	ASSERT_STREQ(res.out, "/\n");
	exec_result_done(&res);
}

static void test_session_and_signals(void)
{
	const char *stat[] = { "/bin/cat", "/proc/self/stat", NULL };
	const char *status[] = { "/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status", NULL };
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_term, old_pipe;
	sigset_t usr1, old_mask;
	struct exec_result res;
	unsigned long long blk, ignored;
	int pid, ppid, pgrp, session, tty;
	char state;
	char *p;

	ASSERT_EQ(run(stat, 5000, EXEC_CAPTURE_STDOUT, &res), 0);
	p = strrchr(res.out, ')');
	ASSERT_TRUE(p != NULL);
	ASSERT_EQ(sscanf(p + 2, "%c %d %d %d %d", &state, &ppid, &pgrp, &session, &tty), 5);
	pid = res.pid;
	ASSERT_EQ(ppid, getpid());
	ASSERT_EQ(pgrp, pid);
	ASSERT_EQ(session, pid);
	ASSERT_EQ(tty, 0);
	exec_result_done(&res);

	/* Ignored and blocked signals of the caller do not reach the helper. */
	ASSERT_EQ(sigaction(SIGTERM, &ign, &old_term), 0);
	ASSERT_EQ(sigaction(SIGPIPE, &ign, &old_pipe), 0);
	ASSERT_EQ(sigemptyset(&usr1), 0);
	ASSERT_EQ(sigaddset(&usr1, SIGUSR1), 0);
	ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &usr1, &old_mask), 0);
	ASSERT_EQ(run(status, 5000, EXEC_CAPTURE_STDOUT, &res), 0);
	ASSERT_EQ(sscanf(res.out, "SigBlk: %llx SigIgn: %llx", &blk, &ignored), 2);
	ASSERT_EQ(blk, 0);
	/* glibc's posix_spawn leaves its two internal signals (32, 33: thread cancellation and
	 * setxid) ignored whatever POSIX_SPAWN_SETSIGDEF says; no other signal may be. */
	ASSERT_EQ(ignored & ~(3ULL << 31), 0);
	exec_result_done(&res);
	ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &old_mask, NULL), 0);
	ASSERT_EQ(sigaction(SIGTERM, &old_term, NULL), 0);
	ASSERT_EQ(sigaction(SIGPIPE, &old_pipe, NULL), 0);
}

static void test_stderr_captured(void)
{
	const char *esc[] = { "/bin/sh", "-c",
			      "printf 'out\\n'; printf 'line1\\nline2\\t\\033[1m\\377\\n\\n' >&2",
			      NULL };
	const char *big_err[] = { "/bin/sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' x >&2",
				  NULL };
	const char *big_out[] = { "/bin/sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' y", NULL };
	struct exec_result res;
	uint64_t t0 = now_ms();

	ASSERT_EQ(exec_run(esc, 5000, &res), 0);
	ASSERT_STREQ(res.err, "line1\\nline2\\t\\x1b[1m\\xff");
	exec_result_done(&res);

	/* 1 MiB on stderr: read to the end (the writer never blocks), kept to the cap. */
	ASSERT_EQ(exec_run(big_err, 10000, &res), 0);
	ASSERT_TRUE(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0);
	ASSERT_EQ(strlen(res.err), EXEC_ERR_MAX - 1);
	ASSERT_TRUE(strcmp(res.err + EXEC_ERR_MAX - 4, "...") == 0);
	ASSERT_EQ(strspn(res.err, "x"), EXEC_ERR_MAX - 4);
	exec_result_done(&res);

	ASSERT_EQ(run(big_out, 10000, EXEC_CAPTURE_STDOUT, &res), 0);
	ASSERT_TRUE(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0);
	ASSERT_EQ(res.out_len, EXEC_OUT_MAX);
	ASSERT_EQ(strlen(res.out), EXEC_OUT_MAX);
	ASSERT_STREQ(res.err, "");
	exec_result_done(&res);
	ASSERT_TRUE(now_ms() - t0 < 5000);
}

static void test_redaction(void)
{
	const char *argv[] = { "/bin/sh", "-c",
			       "echo 'mount error: password=hunter2,user=bob secret=s3cr3t PASS=x "
			       "passwd=y' >&2; exit 32",
			       NULL };
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
		{ "password=hunter2", "password=***" },
		{ "opts: username=u,password=hunter2,domain=d",
		  "opts: username=u,password=***,domain=d" },
		{ "Password=a b", "Password=*** b" },
		{ "secret=\x1b[2Jboom", "secret=***\\x1b[2Jboom" },
		{ "pass=", "pass=***" },
		{ "password=abc\npassword=def\n", "password=***\\npassword=***" },
		{ "plain text\r\n", "plain text" },
		{ "", "" },
	};
	_cleanup_free_ char *big = NULL;
	struct exec_result res;
	char *s;

	ASSERT_EQ(exec_run(argv, 5000, &res), 0);
	ASSERT_EQ(WEXITSTATUS(res.status), 32);
	ASSERT_STREQ(res.err, "mount error: password=***,user=bob secret=*** PASS=*** passwd=***");
	ASSERT_TRUE(strstr(res.err, "hunter2") == NULL);
	exec_result_done(&res);

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		ASSERT_EQ(exec_sanitize(cases[i].in, strlen(cases[i].in), &s), 0);
		ASSERT_STREQ(s, cases[i].want);
		free(s);
	}
	ASSERT_EQ(exec_sanitize("a\0b", 3, &s), 0);
	ASSERT_STREQ(s, "a\\x00b");
	free(s);

	/* A secret straddling the cap is cut, never shown. */
	big = malloc(EXEC_ERR_MAX + 64);
	ASSERT_TRUE(big != NULL);
	memset(big, 'z', EXEC_ERR_MAX - 10);
	memcpy(big + EXEC_ERR_MAX - 10, "password=topsecretvalue", 24);
	ASSERT_EQ(exec_sanitize(big, EXEC_ERR_MAX + 13, &s), 0);
	ASSERT_TRUE(strlen(s) <= EXEC_ERR_MAX - 1);
	ASSERT_TRUE(strstr(s, "topsecret") == NULL && strstr(s, "tops") == NULL);
	ASSERT_TRUE(strcmp(s + strlen(s) - 3, "...") == 0);
	free(s);
	ASSERT_EQ(exec_sanitize(NULL, 1, &s), -EINVAL);
}

static void test_timeout(void)
{
	const char *argv[] = { "/bin/sleep", "10", NULL };
	struct exec_result res;
	uint64_t t0 = now_ms(), dt;

	ASSERT_EQ(exec_run(argv, 200, &res), -ETIMEDOUT);
	dt = now_ms() - t0;
	printf("# sleep 10 with a 200 ms deadline returned after %llu ms\n",
	       (unsigned long long)dt);
	ASSERT_TRUE(dt >= 190 && dt < 1500);
	ASSERT_TRUE(res.timed_out && res.reaped && res.pid > 0);
	ASSERT_TRUE(WIFSIGNALED(res.status) && WTERMSIG(res.status) == SIGKILL);
	ASSERT_STREQ(res.err, "");
	ASSERT_EQ(kill(res.pid, 0), -1);
	ASSERT_EQ(errno, ESRCH);
	ASSERT_EQ(exec_stragglers(), 0);
	exec_result_done(&res);
}

static void test_process_group(void)
{
	_cleanup_free_ char *pidfile = at_base("grandchild.pid");
	_cleanup_free_ char *script = NULL;
	const char *argv[] = { "/bin/sh", "-c", NULL, NULL };
	struct exec_result res;
	char buf[32] = { 0 };
	uint64_t t0 = now_ms();
	int fd;
	pid_t gpid;

	ASSERT_TRUE(asprintf(&script, "sleep 30 & echo $! > %s; echo started >&2; sleep 30",
			     pidfile) > 0);
	argv[2] = script;
	ASSERT_EQ(exec_run(argv, 500, &res), -ETIMEDOUT);
	ASSERT_TRUE(now_ms() - t0 < 1500 + 500);
	ASSERT_TRUE(res.timed_out && res.reaped);
	ASSERT_STREQ(res.err, "started");

	fd = open(pidfile, O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	ASSERT_TRUE(read(fd, buf, sizeof(buf) - 1) > 0);
	(void)close(fd);
	gpid = atoi(buf);
	ASSERT_TRUE(gpid > 1);
	/* The background sleep was reparented; it must be dead (a zombie at most). */
	ASSERT_TRUE(wait_gone(gpid, 3000));
	ASSERT_TRUE(wait_gone(res.pid, 100));
	/* SIGKILL is asynchronous: the rest of the group (not our children) dies shortly after. */
	for (uint64_t end = now_ms() + 3000; group_live_members(res.pid) > 0;) {
		ASSERT_TRUE(now_ms() < end);
		sleep_ms(10);
	}
	exec_result_done(&res);
}

/* A helper that leaves a process holding its stderr open: the call returns when it exits. */
static void test_leftover_holds_pipe(void)
{
	const char *argv[] = { "/bin/sh", "-c", "sleep 20 & echo done >&2", NULL };
	struct exec_result res;
	uint64_t t0 = now_ms();

	ASSERT_EQ(exec_run(argv, 10000, &res), 0);
	ASSERT_TRUE(now_ms() - t0 < 2000);
	ASSERT_EQ(WEXITSTATUS(res.status), 0);
	ASSERT_STREQ(res.err, "done");
	ASSERT_EQ(kill(-res.pid, SIGKILL), 0); /* the leftover sleep, in the helper's group */
	exec_result_done(&res);
}

/* ---- the share mark ---- */

/* /proc/<pid>/environ of @pid holds @entry. */
static bool environ_holds(pid_t pid, const char *entry)
{
	char path[64], buf[4096];
	_cleanup_close_ int fd = -EBADF;
	ssize_t n;

	(void)snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
		buf[n] = '\0';
		if (strcmp(buf + i, entry) == 0)
			return true;
	}
	return false;
}

/* A helper that daemonizes (setsid, so killing its group misses it) and one that stays in its
 * group: both carry the mark, and exec_end_share() ends both, and only those of its share. */
static void test_end_share(void)
{
	const char *argv[] = { "/bin/sh", "-c",
			       "setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $! >&2; "
			       "sleep 61 </dev/null >/dev/null 2>&1 & echo $! >&2",
			       NULL };
	struct exec_result a, b;
	pid_t a1, a2, b1, b2;

	ASSERT_EQ(exec_run_share(argv, 5000, 0, "0123abcdef", &a), 0);
	ASSERT_EQ(sscanf(a.err, "%d\\n%d", &a1, &a2), 2);
	ASSERT_EQ(exec_run_share(argv, 5000, 0, "other", &b), 0);
	ASSERT_EQ(sscanf(b.err, "%d\\n%d", &b1, &b2), 2);
	/* A child caught in the middle of its execve() shows an empty environment for a
	 * moment: look again (bounded) before judging. */
	for (int i = 0; i < 500 && !(environ_holds(a1, "VOLMOUNT_SHARE=0123abcdef") &&
				     environ_holds(b2, "VOLMOUNT_SHARE=other"));
	     i++)
		usleep(2000);
	ASSERT_TRUE(environ_holds(a1, "VOLMOUNT_SHARE=0123abcdef"));
	ASSERT_TRUE(environ_holds(b2, "VOLMOUNT_SHARE=other"));
	ASSERT_TRUE(!pid_gone(a1));

	ASSERT_EQ(exec_end_share("0123abcdef", 3000), 2);
	ASSERT_TRUE(pid_gone(a1));
	ASSERT_TRUE(pid_gone(a2));
	ASSERT_TRUE(!pid_gone(b1)); /* another share's helpers are left alone */
	ASSERT_TRUE(!pid_gone(b2));
	ASSERT_EQ(exec_end_share("0123abcdef", 3000), 0);
	ASSERT_EQ(exec_end_share("other", 3000), 2);
	ASSERT_TRUE(pid_gone(b1) && pid_gone(b2));

	ASSERT_EQ(exec_end_share("bad id", 1000), -EINVAL);
	ASSERT_EQ(exec_end_share("", 1000), -EINVAL);
	ASSERT_EQ(exec_end_share("x", 0), -EINVAL);
	exec_result_done(&a);
	exec_result_done(&b);
	ASSERT_EQ(exec_run_share(argv, 5000, 0, "a=b", &b), -EINVAL);
	exec_result_done(&b);
}

/* ---- probes ---- */

static void test_probe_healthy(void)
{
	long lat = -1;

	ASSERT_EQ(exec_probe_statfs("/tmp", 2000, &lat), 0);
	printf("# statfs(/tmp) latency %ld us\n", lat);
	ASSERT_TRUE(lat > 0);
	ASSERT_EQ(exec_probe_statfs("/", 2000, NULL), 0);
}

static void test_probe_errors(void)
{
	_cleanup_free_ char *nope = at_base("no/such/dir");
	_cleanup_free_ char *file = at_base("true-ok");
	_cleanup_free_ char *long_path = malloc(PATH_MAX + 2);
	long lat = -7;

	ASSERT_EQ(exec_probe_statfs(nope, 2000, &lat), -ENOENT);
	ASSERT_EQ(lat, -7); /* untouched on failure */
	ASSERT_EQ(exec_probe_statfs(file, 2000, NULL), 0);
	ASSERT_EQ(exec_probe_statfs("tmp", 2000, NULL), -EINVAL);
	ASSERT_EQ(exec_probe_statfs(NULL, 2000, NULL), -EINVAL);
	ASSERT_EQ(exec_probe_statfs("/tmp", 0, NULL), -EINVAL);
	ASSERT_TRUE(long_path != NULL);
	long_path[0] = '/';
	memset(long_path + 1, 'a', PATH_MAX);
	long_path[PATH_MAX + 1] = '\0';
	ASSERT_EQ(exec_probe_statfs(long_path, 2000, NULL), -EINVAL);
}

/* A FUSE mount served by this test: @init says whether INIT is answered; then a reader thread
 * reads every request and answers none, so each caller stays in the kernel in D state. */
struct fuse_srv {
	int fd;
	char *dir;
	pthread_t reader;
	bool reading;
	atomic_bool stop;
	atomic_uint nreq;
	atomic_uint first_opcode;
	char *buf;
};

#define FUSE_BUF ((size_t)128 * 1024)

static bool fuse_mount(struct fuse_srv *s, const char *name)
{
	_cleanup_free_ char *opts = NULL;

	*s = (struct fuse_srv){ .fd = -EBADF };
	s->fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (s->fd < 0) {
		printf("# no /dev/fuse (%s): FUSE cases not tested\n", strerror(errno));
		return false;
	}
	s->dir = at_base(name);
	ASSERT_EQ(mkdir(s->dir, 0700), 0);
	ASSERT_TRUE(asprintf(&opts, "fd=%d,rootmode=40000,user_id=0,group_id=0", s->fd) > 0);
	ASSERT_EQ(mount("exectest", s->dir, "fuse.exectest", MS_NOSUID | MS_NODEV, opts), 0);
	s->buf = malloc(FUSE_BUF);
	ASSERT_TRUE(s->buf != NULL);
	return true;
}

static void fuse_answer_init(struct fuse_srv *s)
{
	const struct fuse_in_header *in = (const void *)s->buf;
	const struct fuse_init_in *init = (const void *)(s->buf + sizeof(*in));
	struct {
		struct fuse_out_header h;
		struct fuse_init_out o;
	} rep;
	ssize_t n = read(s->fd, s->buf, FUSE_BUF);

	ASSERT_TRUE(n >= (ssize_t)(sizeof(*in) + sizeof(*init)));
	ASSERT_EQ(in->opcode, FUSE_INIT);
	rep = (__typeof__(rep)){
		.h = { .len = sizeof(rep), .error = 0, .unique = in->unique },
		.o = { .major = FUSE_KERNEL_VERSION,
		       .minor = init->minor < FUSE_KERNEL_MINOR_VERSION ? init->minor
									: FUSE_KERNEL_MINOR_VERSION,
		       .max_readahead = init->max_readahead,
		       .max_background = 16,
		       .congestion_threshold = 12,
		       .max_write = 4096,
		       .time_gran = 1 },
	};
	ASSERT_EQ(write(s->fd, &rep, sizeof(rep)), (ssize_t)sizeof(rep));
}

static void *fuse_reader(void *arg)
{
	struct fuse_srv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pf = { .fd = s->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pf, 1, 20) <= 0)
			continue;
		n = read(s->fd, s->buf, FUSE_BUF);
		if (n >= (ssize_t)sizeof(struct fuse_in_header)) {
			const struct fuse_in_header *in = (const void *)s->buf;

			if (atomic_fetch_add(&s->nreq, 1) == 0)
				atomic_store(&s->first_opcode, in->opcode);
		} else if (n < 0 && errno != EINTR && errno != EAGAIN)
			break;
	}
	return NULL;
}

static void fuse_start_reader(struct fuse_srv *s)
{
	ASSERT_EQ(pthread_create(&s->reader, NULL, fuse_reader, s), 0);
	s->reading = true;
}

/* Abort the connection (closing the last /dev/fuse fd does), which releases every caller. */
static void fuse_abort(struct fuse_srv *s)
{
	if (s->reading) {
		atomic_store(&s->stop, true);
		ASSERT_EQ(pthread_join(s->reader, NULL), 0);
		s->reading = false;
	}
	if (s->fd >= 0)
		ASSERT_EQ(close(TAKE_FD(s->fd)), 0);
}

static void fuse_unmount(struct fuse_srv *s)
{
	fuse_abort(s);
	ASSERT_EQ(umount2(s->dir, MNT_DETACH), 0);
	ASSERT_EQ(rmdir(s->dir), 0);
	free(s->dir);
	free(s->buf);
}

/* INIT never answered: statfs waits (killably) for the connection to come up. */
static void test_probe_hung_fuse(void)
{
	struct fuse_srv s;
	uint64_t t0, dt;
	long lat = -7;

	if (!fuse_mount(&s, "fuse-hung"))
		return;
	t0 = now_ms();
	ASSERT_EQ(exec_probe_statfs(s.dir, 300, &lat), -ETIMEDOUT);
	dt = now_ms() - t0;
	printf("# hung FUSE (no INIT): -ETIMEDOUT after %llu ms, %zu straggler(s)\n",
	       (unsigned long long)dt, exec_stragglers());
	ASSERT_TRUE(dt >= 290 && dt < 300 + 1000);
	ASSERT_EQ(lat, -7);
	fuse_unmount(&s);
	ASSERT_TRUE(wait_no_stragglers(3000));
}

/* INIT answered, the STATFS request read and never answered: the probe child is in D state
 * and SIGKILL cannot end it until the connection is aborted. */
static void test_probe_dstate_fuse(void)
{
	struct fuse_srv s;
	uint64_t t0, dt;

	if (!fuse_mount(&s, "fuse-dstate"))
		return;
	fuse_answer_init(&s);
	fuse_start_reader(&s);

	/* Under heavy load the reader may not have taken the request off /dev/fuse before the
	 * deadline; the probe child is then killable and reaped. Retry a few times. */
	for (int attempt = 1;; attempt++) {
		t0 = now_ms();
		ASSERT_EQ(exec_probe_statfs(s.dir, 300, NULL), -ETIMEDOUT);
		dt = now_ms() - t0;
		printf("# D-state FUSE: -ETIMEDOUT after %llu ms, %zu straggler(s), first request "
		       "opcode %u\n",
		       (unsigned long long)dt, exec_stragglers(), atomic_load(&s.first_opcode));
		ASSERT_TRUE(dt >= 290 && dt < 300 + 1000);
		if (exec_stragglers() == 1 || attempt == 3)
			break;
	}
	ASSERT_TRUE(atomic_load(&s.nreq) >= 1);
	ASSERT_EQ(atomic_load(&s.first_opcode), FUSE_STATFS);
	ASSERT_EQ(exec_stragglers(), 1);

	/* Its request is still unanswered: answered at once, no second child. */
	t0 = now_ms();
	ASSERT_EQ(exec_probe_statfs(s.dir, 300, NULL), -ETIMEDOUT);
	ASSERT_TRUE(now_ms() - t0 < 100);
	ASSERT_EQ(exec_stragglers(), 1);

	/* Helpers still run meanwhile. */
	{
		const char *t[] = { "/bin/true", NULL };
		struct exec_result res;

		ASSERT_EQ(exec_run(t, 5000, &res), 0);
		exec_result_done(&res);
	}

	fuse_abort(&s);
	ASSERT_TRUE(wait_no_stragglers(3000));
	fuse_unmount(&s);
}

/* The daemon is gone (fd closed): the kernel answers ENOTCONN at once. */
static void test_probe_dead_fuse(void)
{
	struct fuse_srv s;

	if (!fuse_mount(&s, "fuse-dead"))
		return;
	fuse_abort(&s);
	ASSERT_EQ(exec_probe_statfs(s.dir, 2000, NULL), -ENOTCONN);
	ASSERT_EQ(exec_stragglers(), 0);
	fuse_unmount(&s);
}

struct probe_job {
	const char *path;
	int r;
};

static void *probe_thread(void *arg)
{
	struct probe_job *j = arg;

	j->r = exec_probe_statfs(j->path, 400, NULL);
	return NULL;
}

static void *mixed_thread(void *arg)
{
	const char *t[] = { "/bin/true", NULL };
	int *failures = arg;

	for (int i = 0; i < 5; i++) {
		struct exec_result res;
		long lat = 0;

		if (exec_probe_statfs("/tmp", 5000, &lat) != 0 || lat <= 0)
			(*failures)++;
		if (exec_run(t, 5000, &res) != 0 || res.status != 0)
			(*failures)++;
		exec_result_done(&res);
	}
	return NULL;
}

static void test_concurrent(void)
{
	pthread_t th[10];
	int failures[10] = { 0 };

	for (size_t i = 0; i < ELEMENTSOF(th); i++)
		ASSERT_EQ(pthread_create(&th[i], NULL, mixed_thread, &failures[i]), 0);
	for (size_t i = 0; i < ELEMENTSOF(th); i++) {
		ASSERT_EQ(pthread_join(th[i], NULL), 0);
		ASSERT_EQ(failures[i], 0);
	}
	ASSERT_EQ(exec_stragglers(), 0);
}

/* EXEC_SLOTS_MAX unkillable probes fill the table: further calls fail with -EAGAIN instead of
 * starting children, until the mount is aborted and the stragglers reaped. */
static void test_slots_full(void)
{
	const char *t[] = { "/bin/true", NULL };
	struct probe_job jobs[EXEC_SLOTS_MAX];
	pthread_t th[EXEC_SLOTS_MAX];
	struct exec_result res;
	struct fuse_srv s;

	if (!fuse_mount(&s, "fuse-full"))
		return;
	fuse_answer_init(&s);
	fuse_start_reader(&s);

	for (size_t i = 0; i < ELEMENTSOF(th); i++) {
		char *p;

		ASSERT_TRUE(asprintf(&p, "%s/d%zu", s.dir, i) > 0);
		jobs[i] = (struct probe_job){ .path = p };
	}
	/* Paths already stuck answer at once; under heavy load a probe may be killed before the
	 * reader took its request (then it is reaped, not stuck), so go round again. */
	for (int round = 1; round <= 5 && exec_stragglers() < EXEC_SLOTS_MAX; round++) {
		for (size_t i = 0; i < ELEMENTSOF(th); i++)
			ASSERT_EQ(pthread_create(&th[i], NULL, probe_thread, &jobs[i]), 0);
		for (size_t i = 0; i < ELEMENTSOF(th); i++) {
			ASSERT_EQ(pthread_join(th[i], NULL), 0);
			ASSERT_TRUE(jobs[i].r == -ETIMEDOUT || (round > 1 && jobs[i].r == -EAGAIN));
		}
		printf("# round %d: %zu stragglers\n", round, exec_stragglers());
	}
	for (size_t i = 0; i < ELEMENTSOF(th); i++)
		free((char *)jobs[i].path);
	printf("# %zu stragglers after %d stuck probes\n", exec_stragglers(), EXEC_SLOTS_MAX);
	ASSERT_EQ(exec_stragglers(), EXEC_SLOTS_MAX);
	ASSERT_EQ(exec_probe_statfs("/tmp", 1000, NULL), -EAGAIN);
	{
		/* No slot for a worker: not probed, never a verdict. */
		const char *one[] = { "/tmp" };
		int r1 = 0;

		ASSERT_EQ(exec_probe_statfs_many(one, 1, 1000, &r1, NULL), 0);
		ASSERT_EQ(r1, EXEC_PROBE_NOT_RUN);
	}
	ASSERT_EQ(exec_run(t, 1000, &res), -EAGAIN);
	exec_result_done(&res);

	fuse_abort(&s);
	ASSERT_TRUE(wait_no_stragglers(5000));
	ASSERT_EQ(exec_probe_statfs("/tmp", 1000, NULL), 0);
	fuse_unmount(&s);
}

/* Many hung mounts, a healthy path and a missing one, in one call: one worker, one deadline;
 * every hung path is reported hung (none "not run"), the others get their answer. */
#define MANY_HUNG 200
static void test_probe_many(void)
{
	static struct fuse_srv s[MANY_HUNG];
	const char *paths[MANY_HUNG + 2];
	int r[MANY_HUNG + 2];
	long us[MANY_HUNG + 2];
	size_t n_hung = 0;
	uint64_t t0, dt;

	for (size_t i = 0; i < MANY_HUNG; i++) {
		char name[32];

		(void)snprintf(name, sizeof(name), "fuse-many-%zu", i);
		if (!fuse_mount(&s[i], name))
			return;
		paths[i] = s[i].dir;
	}
	paths[MANY_HUNG] = "/tmp";
	paths[MANY_HUNG + 1] = "/tmp/no-such-dir-at-all";
	t0 = now_ms();
	ASSERT_EQ(exec_probe_statfs_many(paths, MANY_HUNG + 2, 400, r, us), 0);
	dt = now_ms() - t0;
	for (size_t i = 0; i < MANY_HUNG; i++)
		n_hung += r[i] == -ETIMEDOUT;
	printf("# %d hung FUSE mounts probed at once: %zu hung after %llu ms, %zu straggler(s)\n",
	       MANY_HUNG, n_hung, (unsigned long long)dt, exec_stragglers());
	ASSERT_EQ(n_hung, (size_t)MANY_HUNG);
	ASSERT_EQ(r[MANY_HUNG], 0);
	ASSERT_TRUE(us[MANY_HUNG] >= 1);
	ASSERT_EQ(r[MANY_HUNG + 1], -ENOENT);
	ASSERT_EQ(us[MANY_HUNG + 1], -1);
	/* One deadline, not one per batch (probing 32 at a time would take 7 deadlines, 2.8 s):
	 * generous for a loaded machine. */
	ASSERT_TRUE(dt >= 390 && dt < 400 + 1500);
	for (size_t i = 0; i < MANY_HUNG; i++)
		fuse_unmount(&s[i]);
	ASSERT_TRUE(wait_no_stragglers(3000));
	ASSERT_EQ(exec_probe_statfs_many(paths, 0, 400, r, us), 0);
	ASSERT_EQ(exec_probe_statfs_many(paths, 1, 0, r, us), -EINVAL);
	paths[0] = "relative";
	ASSERT_EQ(exec_probe_statfs_many(paths, 1, 400, r, us), -EINVAL);
}

/* A worker stuck in D state is tracked (one slot) with the path it waits on; the next call
 * reports that path hung at once, without a new task on it, and probes the others. */
static void test_probe_many_dstate(void)
{
	struct fuse_srv s;
	const char *paths[2];
	int r[2];
	long us[2];
	uint64_t t0;

	if (!fuse_mount(&s, "fuse-many-d"))
		return;
	fuse_answer_init(&s);
	fuse_start_reader(&s);
	paths[0] = s.dir;
	paths[1] = "/tmp";
	for (int round = 0; round < 5 && exec_stragglers() == 0; round++) {
		ASSERT_EQ(exec_probe_statfs_many(paths, 2, 300, r, us), 0);
		ASSERT_EQ(r[0], -ETIMEDOUT);
		ASSERT_EQ(r[1], 0);
	}
	ASSERT_EQ(exec_stragglers(), 1u);
	t0 = now_ms();
	ASSERT_EQ(exec_probe_statfs_many(paths, 2, 5000, r, us), 0);
	ASSERT_TRUE(now_ms() - t0 < 2500); /* the stuck path was not waited for again */
	ASSERT_EQ(r[0], -ETIMEDOUT);
	ASSERT_EQ(r[1], 0);
	ASSERT_EQ(exec_stragglers(), 1u);
	fuse_abort(&s); /* releases the stuck thread: the worker dies and is reaped */
	ASSERT_TRUE(wait_no_stragglers(3000));
	fuse_unmount(&s);
}

/* exec_umount: the child's answer is the result; its arguments are checked. (The case it exists
 * for, a caller stuck in the teardown of the last NFSv4 mount of a dead server, needs a real
 * NFS client: tests/vm/guest/test-nfs-faults.sh.) */
static void test_umount(void)
{
	_cleanup_free_ char *m = NULL;
	_cleanup_close_ int dfd = -EBADF;

	ASSERT_TRUE(asprintf(&m, "%s/um", base) > 0);
	ASSERT_OK(mkdir(m, 0700));
	dfd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(dfd >= 0);

	ASSERT_OK(mount("um", m, "tmpfs", 0, "size=1m"));
	ASSERT_EQ(exec_umount(dfd, "um", UMOUNT_NOFOLLOW, 5000, NULL, NULL), 0);
	ASSERT_EQ(exec_umount(dfd, "um", UMOUNT_NOFOLLOW, 5000, NULL, NULL), -EINVAL);
	ASSERT_OK(mount("um", m, "tmpfs", 0, "size=1m"));
	ASSERT_EQ(exec_umount(-1, m, UMOUNT_NOFOLLOW | MNT_FORCE, 5000, NULL, NULL), 0);

	ASSERT_EQ(exec_umount(dfd, "a/b", 0, 5000, NULL, NULL), -EINVAL);
	ASSERT_EQ(exec_umount(dfd, "", 0, 5000, NULL, NULL), -EINVAL);
	ASSERT_EQ(exec_umount(-1, "relative", 0, 5000, NULL, NULL), -EINVAL);
	ASSERT_EQ(exec_umount(dfd, "um", 0, 0, NULL, NULL), -EINVAL);
	ASSERT_OK(rmdir(m));
}

static const struct test tests[] = {
	{ "true and false", test_true_false },
	{ "refused argv and binaries", test_refused },
	{ "binary owner and mode checks", test_binary_owner_mode },
	{ "clean environment", test_env_clean },
	{ "only stdio fds, cwd /", test_fds_closed },
	{ "own session, default signals", test_session_and_signals },
	{ "stderr captured, escaped, capped", test_stderr_captured },
	{ "secrets redacted", test_redaction },
	{ "deadline kills and reaps", test_timeout },
	{ "deadline kills the process group", test_process_group },
	{ "leftover process holding stderr", test_leftover_holds_pipe },
	{ "helpers of a share marked and ended", test_end_share },
	{ "probe healthy", test_probe_healthy },
	{ "probe errors", test_probe_errors },
	{ "probe hung FUSE", test_probe_hung_fuse },
	{ "probe D-state FUSE, straggler reaped", test_probe_dstate_fuse },
	{ "probe dead FUSE", test_probe_dead_fuse },
	{ "unmount in a child", test_umount },
	{ "concurrent probes and helpers", test_concurrent },
	{ "many hung paths, one worker, one deadline", test_probe_many },
	{ "stuck worker tracked, its path not probed again", test_probe_many_dstate },
	{ "straggler table full", test_slots_full },
};

static void setup(void)
{
	test_private_mount_ns();
	/* Root-owned 0755, in this namespace only: an aborted run leaves nothing behind. */
	if (mount("exec-tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64m") < 0)
		TEST_FAIL("tmpfs on /tmp: %s", strerror(errno));
	strcpy(base, "/tmp/test-exec-XXXXXX");
	ASSERT_TRUE(mkdtemp(base) != NULL);
}

static void teardown(void)
{
	if (umount2("/tmp", MNT_DETACH) < 0)
		TEST_FAIL("cleanup of /tmp: %s", strerror(errno));
}

int main(void)
{
	int r;

	setup();
	r = test_run(tests, ELEMENTSOF(tests));
	teardown();
	return r;
}
