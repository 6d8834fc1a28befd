/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stress.c - volmount-stress: a multi-process, multi-threaded client of libvolmount.
 *
 * Creates K export directories, forks P processes and starts T threads in each; the threads of
 * one process share one struct volmount_ctx. Every thread attaches and detaches random
 * volumes (v0..v7) of random owners (o0..o3) on the K bind shares until the time is up. A
 * lock wait that passed (-ETIMEDOUT, -EAGAIN) is counted as an error; anything else that fails
 * is a failure, and any failure makes the exit status non-zero. The state is left as it is at
 * the end: the caller checks the invariants (a share is mounted exactly when it has
 * attachments, and never twice).
 *
 * With --ops N each thread stops after N operations instead (and --seconds only bounds the
 * run): a test then counts work, never time, and a slow machine takes longer instead of
 * doing less. With --until FILE as well, a thread that has done its N goes on until FILE
 * exists (a test's sampler says when it has seen enough).
 *
 *   volmount-stress --state-dir D --base-dir D --run-dir D --export-dir DIR
 *                   --shares K --procs P --threads T --seconds S [--ops N [--until FILE]]
 *                   [--seed N] [--timeout-ms MS]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <volmount.h>

#define N_VOLUMES          8
#define N_OWNERS           4
#define MAX_SHARES         64
#define MAX_PROCS          256
#define MAX_THREADS        64
#define MAX_SECONDS        3600
#define MAX_OPS_PER_THREAD 10000000UL
#define MAX_REPORTED       20 /* failure messages printed per process */

struct opts {
	const char *state_dir;
	const char *base_dir;
	const char *run_dir;
	const char *export_dir;
	unsigned shares;
	unsigned procs;
	unsigned threads;
	unsigned seconds;
	unsigned long ops;  /* per thread; 0: until the time is up */
	const char *until; /* with ops: go on until this file exists */
	unsigned timeout_ms;
	uint64_t seed;
	char *exports[MAX_SHARES];
};

/* One slot per process, in memory shared with the parent. */
struct proc_result {
	unsigned long ops;
	unsigned long errors;
	unsigned long failures;
	int done;
};

struct worker {
	pthread_t thread;
	struct volmount_ctx *ctx;
	const struct opts *o;
	unsigned proc;
	unsigned id;
	uint64_t rng;
	struct timespec deadline;
	unsigned long ops;
	unsigned long errors;
	unsigned long failures;
};

static atomic_uint reported;

static void usage(FILE *f)
{
	fputs("usage: volmount-stress --state-dir DIR --base-dir DIR --run-dir DIR --export-dir DIR\n"
	      "                       [--shares K] [--procs P] [--threads T] [--seconds S]\n"
	      "                       [--ops N [--until FILE]] [--seed N] [--timeout-ms MS]\n",
	      f);
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
	unsigned long v;
	char *end = NULL;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || !end || *end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

static uint64_t rng_next(uint64_t *state)
{
	uint64_t x = *state; /* xorshift64* */

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t rng_seed(uint64_t seed, unsigned proc, unsigned thread)
{
	uint64_t s = seed ^ ((uint64_t)(proc + 1) * 0x9E3779B97F4A7C15ULL) ^
		     ((uint64_t)(thread + 1) * 0xBF58476D1CE4E5B9ULL);

	return s ? s : 0x853C49E6748FEA9BULL;
}

static bool before(const struct timespec *now, const struct timespec *deadline)
{
	if (now->tv_sec != deadline->tv_sec)
		return now->tv_sec < deadline->tv_sec;
	return now->tv_nsec < deadline->tv_nsec;
}

static void report_failure(const struct worker *w, const char *op, unsigned share, unsigned vol,
			   unsigned owner, int r)
{
	if (atomic_fetch_add(&reported, 1) >= MAX_REPORTED)
		return;
	fprintf(stderr,
		"volmount-stress: pid %ld thread %u: %s %s v%u o%u: %s (errkind %d): %s\n",
		(long)getpid(), w->id, op, w->o->exports[share], vol, owner, strerror(-r),
		(int)volmount_ctx_errkind(w->ctx), volmount_ctx_errmsg(w->ctx));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct timespec now;
	char volume[16], owner[16];

	while (w->ops < MAX_OPS_PER_THREAD) {
		unsigned share, vol, own;
		bool attach;
		int r;

		if (clock_gettime(CLOCK_MONOTONIC, &now) < 0 || !before(&now, &w->deadline))
			break;
		if (w->o->ops && w->ops >= w->o->ops &&
		    (!w->o->until || access(w->o->until, F_OK) == 0))
			break;

		share = (unsigned)(rng_next(&w->rng) % w->o->shares);
		vol = (unsigned)(rng_next(&w->rng) % N_VOLUMES);
		own = (unsigned)(rng_next(&w->rng) % N_OWNERS);
		attach = rng_next(&w->rng) & 1;
		snprintf(volume, sizeof(volume), "v%u", vol);
		snprintf(owner, sizeof(owner), "o%u", own);

		if (attach)
			r = volmount_attach(w->ctx, "bind", w->o->exports[share], volume, owner, NULL,
					    0, NULL);
		else
			r = volmount_detach(w->ctx, "bind", w->o->exports[share], volume, owner);
		w->ops++;
		if (r >= 0)
			continue;
		w->errors++;
		if (r == -ETIMEDOUT || r == -EAGAIN)
			continue;
		w->failures++;
		report_failure(w, attach ? "attach" : "detach", share, vol, own, r);
	}
	return NULL;
}

static int ctx_setup(const struct opts *o, struct volmount_ctx **ret)
{
	struct volmount_ctx *ctx = NULL;
	int r;

	r = volmount_ctx_new(&ctx);
	if (r < 0)
		return r;
	r = volmount_ctx_set_path(ctx, VOLMOUNT_PATH_STATE_DIR, o->state_dir);
	if (r >= 0)
		r = volmount_ctx_set_path(ctx, VOLMOUNT_PATH_BASE_DIR, o->base_dir);
	if (r >= 0)
		r = volmount_ctx_set_path(ctx, VOLMOUNT_PATH_RUN_DIR, o->run_dir);
	if (r >= 0)
		r = volmount_ctx_set_timeout(ctx, o->timeout_ms);
	if (r < 0) {
		volmount_ctx_free(ctx);
		return r;
	}
	*ret = ctx;
	return 0;
}

/* The body of one forked process; returns its exit status. */
static int run_process(const struct opts *o, unsigned proc, struct proc_result *res)
{
	struct worker workers[MAX_THREADS];
	struct volmount_ctx *ctx = NULL;
	struct timespec deadline;
	unsigned started = 0, i;
	int r;

	/* A process that hangs past every deadline dies and is reported by the parent. */
	alarm(o->seconds + o->timeout_ms / 1000 + 60);

	r = ctx_setup(o, &ctx);
	if (r < 0) {
		fprintf(stderr, "volmount-stress: cannot set up a context: %s\n", strerror(-r));
		res->failures = 1;
		return EXIT_FAILURE;
	}
	if (clock_gettime(CLOCK_MONOTONIC, &deadline) < 0) {
		volmount_ctx_free(ctx);
		res->failures = 1;
		return EXIT_FAILURE;
	}
	deadline.tv_sec += o->seconds;

	memset(workers, 0, sizeof(workers));
	for (i = 0; i < o->threads; i++) {
		struct worker *w = &workers[i];

		w->ctx = ctx;
		w->o = o;
		w->proc = proc;
		w->id = i;
		w->rng = rng_seed(o->seed, proc, i);
		w->deadline = deadline;
		r = pthread_create(&w->thread, NULL, worker_main, w);
		if (r != 0) {
			fprintf(stderr, "volmount-stress: pthread_create: %s\n", strerror(r));
			res->failures++;
			break;
		}
		started++;
	}

	for (i = 0; i < started; i++) {
		r = pthread_join(workers[i].thread, NULL);
		if (r != 0) {
			/* The thread still runs and uses ctx: do not free it under it. */
			fprintf(stderr, "volmount-stress: pthread_join: %s\n", strerror(r));
			res->failures++;
			return EXIT_FAILURE;
		}
		res->ops += workers[i].ops;
		res->errors += workers[i].errors;
		res->failures += workers[i].failures;
	}
	volmount_ctx_free(ctx);
	res->done = 1;
	return res->failures ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int make_exports(struct opts *o)
{
	unsigned i;

	if (mkdir(o->export_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "volmount-stress: mkdir %s: %m\n", o->export_dir);
		return -errno;
	}
	for (i = 0; i < o->shares; i++) {
		if (asprintf(&o->exports[i], "%s/s%u", o->export_dir, i) < 0) {
			o->exports[i] = NULL;
			return -ENOMEM;
		}
		if (mkdir(o->exports[i], 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "volmount-stress: mkdir %s: %m\n", o->exports[i]);
			return -errno;
		}
	}
	return 0;
}

static void free_exports(struct opts *o)
{
	unsigned i;

	for (i = 0; i < MAX_SHARES; i++) {
		free(o->exports[i]);
		o->exports[i] = NULL;
	}
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { ARG_STATE = 0x100, ARG_BASE, ARG_RUN, ARG_EXPORT, ARG_SHARES, ARG_PROCS,
	       ARG_THREADS, ARG_SECONDS, ARG_SEED, ARG_TIMEOUT, ARG_OPS, ARG_UNTIL };
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, ARG_STATE },
		{ "base-dir", required_argument, NULL, ARG_BASE },
		{ "run-dir", required_argument, NULL, ARG_RUN },
		{ "export-dir", required_argument, NULL, ARG_EXPORT },
		{ "shares", required_argument, NULL, ARG_SHARES },
		{ "procs", required_argument, NULL, ARG_PROCS },
		{ "threads", required_argument, NULL, ARG_THREADS },
		{ "seconds", required_argument, NULL, ARG_SECONDS },
		{ "seed", required_argument, NULL, ARG_SEED },
		{ "timeout-ms", required_argument, NULL, ARG_TIMEOUT },
		{ "ops", required_argument, NULL, ARG_OPS },
		{ "until", required_argument, NULL, ARG_UNTIL },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned long v;
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) >= 0) {
		switch (c) {
		case ARG_STATE:
			o->state_dir = optarg;
			break;
		case ARG_BASE:
			o->base_dir = optarg;
			break;
		case ARG_RUN:
			o->run_dir = optarg;
			break;
		case ARG_EXPORT:
			o->export_dir = optarg;
			break;
		case ARG_SHARES:
			r = parse_uint(optarg, 1, MAX_SHARES, &v);
			o->shares = (unsigned)v;
			break;
		case ARG_PROCS:
			r = parse_uint(optarg, 1, MAX_PROCS, &v);
			o->procs = (unsigned)v;
			break;
		case ARG_THREADS:
			r = parse_uint(optarg, 1, MAX_THREADS, &v);
			o->threads = (unsigned)v;
			break;
		case ARG_SECONDS:
			r = parse_uint(optarg, 1, MAX_SECONDS, &v);
			o->seconds = (unsigned)v;
			break;
		case ARG_SEED:
			r = parse_uint(optarg, 0, ULONG_MAX, &v);
			o->seed = v;
			break;
		case ARG_TIMEOUT:
			r = parse_uint(optarg, 1, 86400000, &v);
			o->timeout_ms = (unsigned)v;
			break;
		case ARG_OPS:
			r = parse_uint(optarg, 1, MAX_OPS_PER_THREAD, &v);
			o->ops = v;
			break;
		case ARG_UNTIL:
			o->until = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			return -EINVAL;
		}
		if (r < 0) {
			fprintf(stderr, "volmount-stress: bad value for --%s: %s\n",
				longopts[c - ARG_STATE].name, optarg);
			return r;
		}
	}
	if (optind != argc || !o->state_dir || !o->base_dir || !o->run_dir || !o->export_dir ||
	    (o->until && !o->ops))
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.shares = 4, .procs = 4, .threads = 1, .seconds = 5, .timeout_ms = 10000,
	};
	struct proc_result *results;
	unsigned long ops = 0, errors = 0, failures = 0;
	unsigned forked = 0, i;
	pid_t pids[MAX_PROCS];
	int r;

	o.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return 64;
	}
	r = make_exports(&o);
	if (r < 0) {
		free_exports(&o);
		return EXIT_FAILURE;
	}
	results = mmap(NULL, sizeof(*results) * o.procs, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (results == MAP_FAILED) {
		fprintf(stderr, "volmount-stress: mmap: %m\n");
		free_exports(&o);
		return EXIT_FAILURE;
	}
	memset(results, 0, sizeof(*results) * o.procs);
	printf("seed=%llu shares=%u procs=%u threads=%u seconds=%u\n", (unsigned long long)o.seed,
	       o.shares, o.procs, o.threads, o.seconds);
	fflush(stdout);

	for (i = 0; i < o.procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "volmount-stress: fork: %m\n");
			failures++;
			break;
		}
		if (pid == 0)
			_exit(run_process(&o, i, &results[i]));
		pids[i] = pid;
		forked++;
	}

	for (i = 0; i < forked; i++) {
		int status = 0;
		pid_t p;

		do
			p = waitpid(pids[i], &status, 0);
		while (p < 0 && errno == EINTR);
		if (p < 0) {
			fprintf(stderr, "volmount-stress: waitpid: %m\n");
			failures++;
			continue;
		}
		if (WIFSIGNALED(status)) {
			fprintf(stderr, "volmount-stress: process %u killed by signal %d\n", i,
				WTERMSIG(status));
			failures++;
		} else if (WEXITSTATUS(status) != 0 || !results[i].done) {
			fprintf(stderr, "volmount-stress: process %u exited with status %d\n", i,
				WEXITSTATUS(status));
			if (!results[i].failures)
				failures++;
		}
		ops += results[i].ops;
		errors += results[i].errors;
		failures += results[i].failures;
	}

	printf("ops=%lu errors=%lu\n", ops, errors);
	if (failures)
		fprintf(stderr, "volmount-stress: %lu failures\n", failures);
	munmap(results, sizeof(*results) * o.procs);
	free_exports(&o);
	return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
