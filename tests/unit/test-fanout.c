/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-fanout.c - the fan-out of host-up and repair (lib/engine/fanout.c) with jobs that stand
 * in for shares: counted, never timed. Jobs of live servers "mount" (a short sleep, the gate
 * told the server answers), jobs of one dead server "time out" (a longer sleep, the gate told
 * the server does not answer), jobs without a server (bind shares) only record their thread.
 * Checked: never more jobs at once than max_helpers; never more than max(1, max_helpers / 4)
 * of the dead server's in flight; after its first failure its other shares fail at the gate
 * without running; jobs without a server run in the calling thread; the report holds one
 * entry per job in index order, whatever order they ran in, and the first failure in index
 * order decides the result; with max_helpers = 1 everything runs in the calling thread, one
 * at a time; a server that has mounted a share in the call and then refuses one connection
 * (busy) fails that share alone, while a deadline passing still gates the rest. Also run under
 * ThreadSanitizer (suite tsan).
 */
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/fanout.h"
#include "engine/report.h"
#include "cleanup.h"
#include "internal.h"
#include "test.h"
#include "volmount.h"

#define N_JOBS	  200
#define N_LOCAL	  40 /* jobs 0..39 have no server */
#define N_SERVERS 5  /* the others: server i % 5; server 4 is dead */
#define DEAD	  4

struct run {
	const char *groups[N_JOBS];
	char paths_buf[N_JOBS][32];
	const char *paths[N_JOBS];
	pthread_t caller;
	atomic_int running, peak, dead_running, dead_peak, dead_ran, gated, off_caller;
};

static const char *const server_keys[N_SERVERS] = { "sshfs\nh0\n", "sshfs\nh1\n", "sshfs\nh2\n",
						    "sshfs\nh3\n", "sshfs\nh4\n" };

static void nap_us(long us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = us * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void raise_peak(atomic_int *peak, int now)
{
	int p = atomic_load(peak);

	while (now > p && !atomic_compare_exchange_weak(peak, &p, now))
		;
}

static int job(struct volmount_ctx *ctx, void *arg, size_t i, struct volmount_report *rep)
{
	struct run *run = arg;
	const char *key = run->groups[i];
	int r;

	(void)ctx;
	if (!key) {
		if (!pthread_equal(pthread_self(), run->caller))
			atomic_fetch_add(&run->off_caller, 1);
		return report_add(rep, run->paths[i], "kept", "local job %zu", i);
	}
	r = fanout_gate_check(key);
	if (r < 0) {
		atomic_fetch_add(&run->gated, 1);
		return r;
	}
	raise_peak(&run->peak, atomic_fetch_add(&run->running, 1) + 1);
	if (key == server_keys[DEAD]) {
		raise_peak(&run->dead_peak, atomic_fetch_add(&run->dead_running, 1) + 1);
		atomic_fetch_add(&run->dead_ran, 1);
		nap_us(20000);
		atomic_fetch_sub(&run->dead_running, 1);
		atomic_fetch_sub(&run->running, 1);
		r = error_set(-ETIMEDOUT, VOLMOUNT_ERR_TEMPFAIL, "helper for job %zu timed out", i);
		fanout_gate_note(key, r, VOLMOUNT_ERR_TEMPFAIL, "helper timed out");
		return r;
	}
	nap_us(1000);
	fanout_gate_note(key, 0, VOLMOUNT_ERR_NONE, NULL);
	atomic_fetch_sub(&run->running, 1);
	return report_add(rep, run->paths[i], "mounted", "job %zu", i);
}

static void setup(struct run *run)
{
	memset(run, 0, sizeof(*run));
	run->caller = pthread_self();
	for (size_t i = 0; i < N_JOBS; i++) {
		snprintf(run->paths_buf[i], sizeof(run->paths_buf[i]), "/mnt/job%03zu", i);
		run->paths[i] = run->paths_buf[i];
		run->groups[i] = i < N_LOCAL ? NULL : server_keys[i % N_SERVERS];
	}
}

static size_t n_dead_jobs(void)
{
	size_t n = 0;

	for (size_t i = N_LOCAL; i < N_JOBS; i++)
		n += i % N_SERVERS == DEAD;
	return n;
}

static void check_report(struct run *run, struct volmount_report *rep)
{
	ASSERT_EQ(volmount_report_n_entries(rep), (size_t)N_JOBS);
	for (size_t i = 0; i < N_JOBS; i++) {
		const char *want = i < N_LOCAL		      ? "kept" :
				   i % N_SERVERS == DEAD ? "failed" :
							   "mounted";

		ASSERT_STREQ(volmount_report_entry_path(rep, i), run->paths[i]);
		ASSERT_STREQ(volmount_report_entry_action(rep, i), want);
	}
}

static void run_with(unsigned max_helpers, struct run *run)
{
	struct volmount_ctx *ctx = NULL;
	struct volmount_report *rep = NULL;
	struct first_failure failed = {};

	ASSERT_OK(volmount_ctx_new(&ctx));
	ASSERT_OK(volmount_ctx_set_max_helpers(ctx, max_helpers));
	ASSERT_OK(report_new(&rep));
	setup(run);
	ASSERT_OK(fanout_run(ctx, N_JOBS, run->paths, run->groups, job, run, rep, &failed));
	check_report(run, rep);
	/* The first failure in index order: a dead job (they all fail alike). */
	ASSERT_EQ(failed.r, -ETIMEDOUT);
	ASSERT_EQ(failed.kind, VOLMOUNT_ERR_TEMPFAIL);
	ASSERT_EQ(atomic_load(&run->running), 0);
	ASSERT_EQ(atomic_load(&run->off_caller), 0);
	/* Every dead job either ran its "helper" or failed at the gate. */
	ASSERT_EQ((size_t)(atomic_load(&run->dead_ran) + atomic_load(&run->gated)), n_dead_jobs());
	ASSERT_TRUE(!fanout_active()); /* the calling thread works for no fan-out any more */
	volmount_report_free(rep);
	volmount_ctx_free(ctx);
}

static void test_bounded_and_gated(void)
{
	struct run *run = calloc(1, sizeof(*run));

	ASSERT_TRUE(run != NULL);
	run_with(8, run);
	if (atomic_load(&run->peak) > 8)
		TEST_FAIL("%d jobs at once, max_helpers 8", atomic_load(&run->peak));
	if (atomic_load(&run->peak) < 2)
		TEST_FAIL("never more than %d job at once: not parallel", 1);
	/* An unproven server: at most 8 / 4 in flight; the dead one never proves itself. */
	if (atomic_load(&run->dead_peak) > 2)
		TEST_FAIL("%d jobs of the dead server at once (at most 2)",
			  atomic_load(&run->dead_peak));
	/* Its first failure gates the rest: at most the ones in flight by then ran. */
	if (atomic_load(&run->dead_ran) < 1 || atomic_load(&run->dead_ran) > 2)
		TEST_FAIL("%d of the dead server's jobs ran (1 or 2 expected)",
			  atomic_load(&run->dead_ran));
	free(run);
}

static void test_serial(void)
{
	struct run *run = calloc(1, sizeof(*run));

	ASSERT_TRUE(run != NULL);
	run_with(1, run);
	ASSERT_EQ(atomic_load(&run->peak), 1);
	ASSERT_EQ(atomic_load(&run->dead_ran), 1); /* one deadline, then the gate */
	free(run);
}

static void test_server_key(void)
{
	_cleanup_free_ char *a = fanout_server_key("sshfs", "root@h:/x", "port=2222");
	_cleanup_free_ char *b = fanout_server_key("sshfs", "root@h:/y", "port=2222");
	_cleanup_free_ char *c = fanout_server_key("sshfs", "root@h:/x", "port=2223");
	_cleanup_free_ char *d = fanout_server_key("cifs", "//srv/share", "");
	_cleanup_free_ char *e = fanout_server_key("cifs", "//srv/other", "");
	_cleanup_free_ char *f = fanout_server_key("nfs", "srv:/export", "");

	ASSERT_TRUE(a && b && c && d && e && f);
	ASSERT_STREQ(a, b);	       /* two exports of one server */
	ASSERT_TRUE(strcmp(a, c) != 0); /* another port: another server */
	ASSERT_STREQ(d, e);
	ASSERT_TRUE(strcmp(d, f) != 0);
	ASSERT_TRUE(fanout_server_key(NULL, "x", "") == NULL);
	/* IPv6 literals are one host each, not cut at their first ':'. */
	{
		_cleanup_free_ char *v1 = fanout_server_key("nfs", "[2001:db8::1]:/a", "");
		_cleanup_free_ char *v1b = fanout_server_key("nfs", "[2001:db8::1]:/b", "");
		_cleanup_free_ char *v2 = fanout_server_key("nfs", "[2001:db8::2]:/a", "");
		_cleanup_free_ char *u1 = fanout_server_key("sshfs", "root@[fd00::5]:/x", "");
		_cleanup_free_ char *u2 = fanout_server_key("sshfs", "root@[fd00::6]:/x", "");
		_cleanup_free_ char *q1 = fanout_server_key("quobyte", "reg:7861/vol", "");
		_cleanup_free_ char *q2 = fanout_server_key("quobyte", "reg:7862/vol", "");
		_cleanup_free_ char *q3 = fanout_server_key("quobyte", "reg/vol", "");
		_cleanup_free_ char *q4 = fanout_server_key("quobyte", "reg/other", "");

		ASSERT_TRUE(v1 && v1b && v2 && u1 && u2 && q1 && q2 && q3 && q4);
		ASSERT_STREQ(v1, v1b);
		ASSERT_TRUE(strcmp(v1, v2) != 0);
		ASSERT_TRUE(strcmp(u1, u2) != 0);
		ASSERT_TRUE(strcmp(q1, q2) != 0); /* another registry port */
		ASSERT_STREQ(q3, q4);		   /* one registry, two volumes */
	}
	/* Outside a fan-out the gate never stops anyone. */
	ASSERT_TRUE(!fanout_active());
	ASSERT_OK(fanout_gate_check(a));
	fanout_gate_note(a, -ETIMEDOUT, VOLMOUNT_ERR_TEMPFAIL, "x");
	ASSERT_OK(fanout_gate_check(a));
}

/* One server, proven alive by its first job; then every third job's helper is refused (a busy
 * sshd), or, with @timeout, one helper's deadline passes. */
struct busy {
	const char *groups[30];
	char paths_buf[30][32];
	const char *paths[30];
	bool timeout;
	atomic_int mounted, refused, gated;
};

static int busy_job(struct volmount_ctx *ctx, void *arg, size_t i, struct volmount_report *rep)
{
	struct busy *b = arg;
	int r;

	(void)ctx;
	r = fanout_gate_check(b->groups[i]);
	if (r < 0) {
		atomic_fetch_add(&b->gated, 1);
		return r;
	}
	if (i % 3 == 1) {
		while (atomic_load(&b->mounted) == 0) /* fail only once the server is proven */
			nap_us(100);
		atomic_fetch_add(&b->refused, 1);
		if (b->timeout) {
			r = error_set(-ETIMEDOUT, VOLMOUNT_ERR_TEMPFAIL, "job %zu timed out", i);
			fanout_gate_note(b->groups[i], r, VOLMOUNT_ERR_TEMPFAIL, "timed out");
		} else {
			r = error_set(-EHOSTDOWN, VOLMOUNT_ERR_HOSTDOWN, "job %zu: connection reset", i);
			fanout_gate_note(b->groups[i], r, VOLMOUNT_ERR_HOSTDOWN, "connection reset");
		}
		return r;
	}
	nap_us(500);
	fanout_gate_note(b->groups[i], 0, VOLMOUNT_ERR_NONE, NULL);
	atomic_fetch_add(&b->mounted, 1);
	return report_add(rep, b->paths[i], "mounted", "job %zu", i);
}

static void run_busy(struct busy *b, bool timeout)
{
	struct volmount_ctx *ctx = NULL;
	struct volmount_report *rep = NULL;
	struct first_failure failed = {};

	memset(b, 0, sizeof(*b));
	b->timeout = timeout;
	for (size_t i = 0; i < 30; i++) {
		snprintf(b->paths_buf[i], sizeof(b->paths_buf[i]), "/mnt/busy%02zu", i);
		b->paths[i] = b->paths_buf[i];
		b->groups[i] = server_keys[0];
	}
	ASSERT_OK(volmount_ctx_new(&ctx));
	ASSERT_OK(volmount_ctx_set_max_helpers(ctx, 4));
	ASSERT_OK(report_new(&rep));
	ASSERT_OK(fanout_run(ctx, 30, b->paths, b->groups, busy_job, b, rep, &failed));
	ASSERT_EQ(volmount_report_n_entries(rep), (size_t)30);
	volmount_report_free(rep);
	volmount_ctx_free(ctx);
}

static void test_proven_server_busy(void)
{
	struct busy *b = calloc(1, sizeof(*b));

	ASSERT_TRUE(b != NULL);
	/* Refused connections after the server proved itself: each fails alone. */
	run_busy(b, false);
	ASSERT_EQ(atomic_load(&b->gated), 0);
	ASSERT_EQ(atomic_load(&b->refused), 10);
	ASSERT_EQ(atomic_load(&b->mounted), 20);
	/* A passed deadline still stops the server's shares not yet started. */
	run_busy(b, true);
	if (atomic_load(&b->gated) < 1)
		TEST_FAIL("a deadline after the server proved itself gated %s", "nothing");
	ASSERT_EQ(atomic_load(&b->gated) + atomic_load(&b->refused) + atomic_load(&b->mounted), 30);
	free(b);
}

/* When fanout_run() returns, its threads are gone from the kernel too, not only joined: a
 * single-threaded caller may unshare() or setns() its mount namespace at once. Repeated, since
 * a thread that lingers does so for a moment only. */
static void test_threads_gone(void)
{
	struct busy *warm = calloc(1, sizeof(*warm));
	size_t before;

	/* One run first: ThreadSanitizer starts a thread of its own at the first
	 * pthread_create(), which stays; the count is taken after it. */
	ASSERT_TRUE(warm != NULL);
	run_busy(warm, false);
	free(warm);
	before = test_n_tasks();

	for (int k = 0; k < 30; k++) {
		struct busy *b = calloc(1, sizeof(*b));

		ASSERT_TRUE(b != NULL);
		run_busy(b, false);
		/* What a single-threaded caller does next (under TSan the process never is). */
		if (before == 1 && unshare(CLONE_NEWNS) < 0)
			TEST_FAIL("round %d: unshare(CLONE_NEWNS) right after fanout_run(): %s", k,
				  strerror(errno));
		free(b);
		if (test_n_tasks() != before)
			TEST_FAIL("round %d: %zu tasks after fanout_run(), %zu before", k, test_n_tasks(),
				  before);
	}
}

static const struct test tests[] = {
	{ "no thread of the fan-out left in the kernel when it returns", test_threads_gone },
	{ "a proven server's refused connection fails that share alone", test_proven_server_busy },
	{ "bounded, round robin, dead server gated", test_bounded_and_gated },
	{ "max_helpers = 1: one at a time in the calling thread", test_serial },
	{ "server keys; no gate outside a fan-out", test_server_key },
};

int main(void)
{
	return test_run(tests, ELEMENTSOF(tests));
}
