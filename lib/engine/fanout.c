/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fanout.c - host-up, the first call after a reboot and repair work on many shares at once:
 * a bounded number of threads (the context's max_helpers, the calling thread among them) take
 * the shares one by one, each under its own share lock as before, and each run at most one
 * helper at a time, so at most max_helpers helpers run at once, however many shares there are.
 *
 * Order: shares are started so that the k-th share of every server comes before the (k+1)-th
 * of any (round robin over servers), so one dead server's shares start early and wait out
 * their deadlines together rather than one after another, and every live server has shares in
 * flight from the start.
 *
 * Until one helper for a server has mounted in this call, at most max(1, max_helpers / 4) of its
 * shares are in flight: a dead server's shares cannot take every thread for a whole helper
 * deadline while the live servers' shares wait; a server proven alive has no such limit.
 *
 * The server gate: when a helper for a server fails in a way that says the server does not
 * answer (deadline passed, host down or unreachable), the shares of that server whose helper
 * has not started yet fail at once with that cause. Once a server has mounted a share in the
 * call, only a passed deadline does that: a refused or reset connection then means a busy
 * server (sshd drops connections beyond MaxStartups), and fails that share alone. So a dead
 * server costs one helper deadline in total (the helpers already running expire together), not
 * one per share; shares that need no helper (kept, unmounted, forgotten) are never gated.
 *
 * Shares without a server (bind) are worked on by the calling thread alone, before it helps
 * with the others: threads gain them nothing (the kernel's mount lock and the ledger's
 * serialise their work) and would only add contention, so a host of bind shares reconciles
 * exactly as serially as before.
 *
 * Reports: each job writes its own report; they are appended in index order at the end, so
 * the report reads as the serial loop's did, whatever order the jobs finished in.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/fanout.h"
#include "engine/report.h"
#include "internal.h"
#include "cleanup.h"

/* One server (a distinct fanout_server_key()) of the shares of a fan-out. */
struct server {
	const char *key;   /* borrowed from the caller's groups[] */
	unsigned inflight; /* its jobs running now */
	bool proven;	   /* one of its helpers mounted in this call */
	bool dead;	   /* one of its helpers said it does not answer: the rest fail at once */
	int r;
	enum volmount_errkind kind;
	char *msg;
};

struct job {
	struct volmount_report *rep;
	struct first_failure failed;
	int r;
	size_t server; /* index in servers[], or SIZE_MAX: none */
	bool taken;
};

struct fanout {
	struct volmount_ctx *ctx;
	const char *const *paths;
	fanout_fn fn;
	void *arg;
	bool want_reports;
	size_t n, next; /* next: the first position of order[] not taken */
	size_t *order;
	struct job *jobs;
	struct server *servers;
	size_t n_servers;
	unsigned cap; /* jobs in flight per server not yet proven */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop; /* a job ran out of memory: start nothing more */
};

/* The fan-out the calling thread works for, if any (the gate's way in from mount.c). */
static __thread struct fanout *current;

static void run_one(struct fanout *f, size_t i)
{
	struct job *j = &f->jobs[i];
	int r = 0;

	error_clear();
	if (f->want_reports)
		r = report_new(&j->rep);
	if (r >= 0)
		r = f->fn(f->ctx, f->arg, i, j->rep);
	if (r < 0 && r != -ENOMEM && report_failed(f->ctx, j->rep, f->paths[i], r, &j->failed) < 0)
		r = -ENOMEM;
	if (r == -ENOMEM)
		j->failed = (struct first_failure){ .r = r, .kind = VOLMOUNT_ERR_INTERNAL };
	j->r = r;
	error_clear();
}

/* Under f->mu: may job @i start now? Not while its server, not yet proven alive nor found
 * dead, already has f->cap jobs in flight: a dead server's shares must not take every thread
 * for a whole helper deadline while the live servers' shares wait. */
static bool may_start(const struct fanout *f, size_t i)
{
	const struct job *j = &f->jobs[i];
	const struct server *s;

	if (j->server == SIZE_MAX)
		return true;
	s = &f->servers[j->server];
	return s->proven || s->dead || s->inflight < f->cap;
}

/* Under f->mu: the next job to start, or SIZE_MAX when none is left for this thread. The
 * calling thread (@caller) takes the jobs without a server (bind shares: no helper, nothing to
 * wait for, and nothing gained from threads, as the kernel and the ledger serialise their
 * work) first, then helps with the others; the other threads take only jobs with a server.
 * Waits while every job left is held back by may_start(). */
static size_t take_next(struct fanout *f, bool caller)
{
	for (;;) {
		bool left = false;

		while (f->next < f->n && f->jobs[f->order[f->next]].taken)
			f->next++;
		if (f->stop)
			return SIZE_MAX;
		for (size_t p = f->next; caller && p < f->n; p++) {
			size_t i = f->order[p];

			if (!f->jobs[i].taken && f->jobs[i].server == SIZE_MAX) {
				f->jobs[i].taken = true;
				return i;
			}
		}
		for (size_t p = f->next; p < f->n; p++) {
			size_t i = f->order[p];

			if (f->jobs[i].taken || f->jobs[i].server == SIZE_MAX)
				continue;
			left = true;
			if (may_start(f, i)) {
				f->jobs[i].taken = true;
				if (f->jobs[i].server != SIZE_MAX)
					f->servers[f->jobs[i].server].inflight++;
				return i;
			}
		}
		if (!left)
			return SIZE_MAX;
		/* Some thread runs a job of each held-back server: its end wakes us. */
		(void)pthread_cond_wait(&f->cond, &f->mu);
	}
}

static void work(struct fanout *f, bool caller)
{
	current = f;
	(void)pthread_mutex_lock(&f->mu);
	for (;;) {
		size_t i = take_next(f, caller);

		if (i == SIZE_MAX)
			break;
		(void)pthread_mutex_unlock(&f->mu);
		run_one(f, i);
		(void)pthread_mutex_lock(&f->mu);
		if (f->jobs[i].server != SIZE_MAX)
			f->servers[f->jobs[i].server].inflight--;
		if (f->jobs[i].r == -ENOMEM)
			f->stop = true;
		(void)pthread_cond_broadcast(&f->cond);
	}
	(void)pthread_cond_broadcast(&f->cond);
	(void)pthread_mutex_unlock(&f->mu);
	current = NULL;
}

static void *worker(void *arg)
{
	work(arg, false);
	return (void *)(intptr_t)gettid();
}

/*
 * pthread_join() returns once a thread has cleared its tid, before the kernel has let go of
 * its share of the process's fs state: until then unshare(CLONE_NEWNS) and setns() fail with
 * EINVAL in a caller that just got its answer. Wait (bounded: 100 ms) until each joined
 * thread @tids[0..n-1] is gone from /proc/self/task, which the kernel does after that.
 */
static void wait_threads_gone(const pid_t *tids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char path[64];

		if (tids[i] <= 0)
			continue;
		(void)snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tids[i]);
		for (unsigned k = 0; k < 1000 && access(path, F_OK) == 0; k++) {
			struct timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000L };

			(void)nanosleep(&ts, NULL);
		}
	}
}

struct keyed {
	const char *key;
	size_t i, rank;
};

static int cmp_key(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = x->key && y->key ? strcmp(x->key, y->key) : (x->key != NULL) - (y->key != NULL);

	return c ? c : (x->i > y->i) - (x->i < y->i);
}

static int cmp_rank(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (x->rank != y->rank)
		return (x->rank > y->rank) - (x->rank < y->rank);
	return (x->i > y->i) - (x->i < y->i);
}

/* The servers, and the order: round robin over servers, the k-th share of each before the
 * (k+1)-th of any (shares without a server count as servers of their own). */
static int make_order(struct fanout *f, const char *const *groups)
{
	_cleanup_free_ struct keyed *k = NULL;
	size_t n = f->n;

	for (size_t i = 0; i < n; i++)
		f->jobs[i].server = SIZE_MAX;
	if (!groups) {
		for (size_t i = 0; i < n; i++)
			f->order[i] = i;
		return 0;
	}
	k = calloc(n, sizeof(*k));
	f->servers = calloc(n, sizeof(*f->servers));
	if (!k || !f->servers)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		k[i] = (struct keyed){ .key = groups[i], .i = i };
	qsort(k, n, sizeof(*k), cmp_key);
	for (size_t i = 0; i < n; i++) {
		if (!k[i].key)
			continue;
		if (i > 0 && k[i - 1].key && strcmp(k[i].key, k[i - 1].key) == 0)
			k[i].rank = k[i - 1].rank + 1;
		else
			f->servers[f->n_servers++].key = k[i].key;
		f->jobs[k[i].i].server = f->n_servers - 1;
	}
	qsort(k, n, sizeof(*k), cmp_rank);
	for (size_t i = 0; i < n; i++)
		f->order[i] = k[i].i;
	return 0;
}

int fanout_run(struct volmount_ctx *ctx, size_t n, const char *const *paths,
	       const char *const *groups, fanout_fn fn, void *arg, struct volmount_report *rep,
	       struct first_failure *failed)
{
	struct fanout f = {
		.ctx = ctx, .paths = paths, .fn = fn, .arg = arg, .want_reports = rep != NULL,
		.n = n,
	};
	_cleanup_free_ pthread_t *threads = NULL;
	size_t want, started = 0, n_server = 0;
	int r = 0;

	if (n == 0)
		return 0;
	f.order = calloc(n, sizeof(*f.order));
	f.jobs = calloc(n, sizeof(*f.jobs));
	if (!f.order || !f.jobs || make_order(&f, groups) < 0) {
		free(f.servers);
		free(f.order);
		free(f.jobs);
		return error_set(-ENOMEM, VOLMOUNT_ERR_INTERNAL, "out of memory");
	}
	(void)pthread_mutex_init(&f.mu, NULL);
	(void)pthread_cond_init(&f.cond, NULL);
	want = __atomic_load_n(&ctx->max_helpers, __ATOMIC_RELAXED);
	f.cap = want / 4 > 1 ? (unsigned)(want / 4) : 1;
	/* Threads for the jobs with a server only: the calling thread is one of them. */
	for (size_t i = 0; i < n; i++)
		n_server += f.jobs[i].server != SIZE_MAX;
	if (want > n_server)
		want = n_server > 0 ? n_server : 1;
	if (want > 1) {
		threads = calloc(want - 1, sizeof(*threads));
		/* Fewer threads than asked (none, even) only makes it slower: the calling thread
		 * works through whatever the others do not take. */
		for (size_t t = 0; threads && t < want - 1; t++) {
			if (pthread_create(&threads[t], NULL, worker, &f) != 0)
				break;
			started++;
		}
	}
	work(&f, true);
	{
		pid_t tids[VOLMOUNT_MAX_HELPERS_MAX] = { 0 };

		for (size_t t = 0; t < started; t++) {
			void *tid = NULL;

			(void)pthread_join(threads[t], &tid);
			tids[t] = (pid_t)(intptr_t)tid;
		}
		wait_threads_gone(tids, started);
	}

	for (size_t i = 0; i < n; i++) {
		struct job *j = &f.jobs[i];

		if (j->r == -ENOMEM)
			r = -ENOMEM;
		if (r >= 0 && report_append(rep, j->rep) < 0)
			r = -ENOMEM;
		else if (r < 0)
			volmount_report_free(j->rep);
		j->rep = NULL;
		if (failed && failed->r == 0 && j->failed.r != 0)
			*failed = j->failed;
	}
	for (size_t g = 0; g < f.n_servers; g++)
		free(f.servers[g].msg);
	free(f.servers);
	free(f.order);
	free(f.jobs);
	(void)pthread_cond_destroy(&f.cond);
	(void)pthread_mutex_destroy(&f.mu);
	if (r < 0)
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "out of memory");
	return 0;
}

/* The length of @e's server part: "//host" of "//host/share"; else up to the first ':' or
 * '/' outside brackets ("[2001:db8::1]" is one host), with a ":port" that a '/' follows
 * ("host:7861/volume"). */
static size_t server_part(const char *e)
{
	bool bracket = false;
	size_t i;

	if (strncmp(e, "//", 2) == 0)
		return (size_t)(strchrnul(e + 2, '/') - e);
	for (i = 0; e[i]; i++) {
		if (e[i] == '[')
			bracket = true;
		else if (e[i] == ']')
			bracket = false;
		else if (!bracket && e[i] == '/')
			return i;
		else if (!bracket && e[i] == ':') {
			size_t j = i + 1;

			while (e[j] >= '0' && e[j] <= '9')
				j++;
			return j > i + 1 && e[j] == '/' ? j : i;
		}
	}
	return i;
}

char *fanout_server_key(const char *driver, const char *export, const char *options)
{
	char *key = NULL;

	if (!driver || !export)
		return NULL;
	if (asprintf(&key, "%s\n%.*s\n%s", driver, (int)server_part(export), export,
		     options ? options : "") < 0)
		return NULL;
	return key;
}

static int cmp_server(const void *key, const void *elem)
{
	return strcmp(key, ((const struct server *)elem)->key);
}

/* Under f->mu: the server called @key in this fan-out, or NULL. servers[] is sorted by key
 * (make_order() fills it from the sorted keys). */
static struct server *server_of(struct fanout *f, const char *key)
{
	if (!f->servers || f->n_servers == 0)
		return NULL;
	return bsearch(key, f->servers, f->n_servers, sizeof(*f->servers), cmp_server);
}

bool fanout_active(void)
{
	return current != NULL;
}

int fanout_gate_check(const char *key)
{
	struct fanout *f = current;
	struct server *s;
	int r = 0;

	if (!f || !key)
		return 0;
	(void)pthread_mutex_lock(&f->mu);
	s = server_of(f, key);
	if (s && s->dead)
		r = error_set(s->r, s->kind,
			      "not tried: a helper for another share of the same server failed in this call: %s",
			      s->msg ? s->msg : "it did not answer");
	(void)pthread_mutex_unlock(&f->mu);
	return r;
}

void fanout_gate_note(const char *key, int r, enum volmount_errkind kind, const char *msg)
{
	struct fanout *f = current;
	struct server *s;

	if (!f || !key)
		return;
	if (r < 0 && r != -ETIMEDOUT && kind != VOLMOUNT_ERR_HOSTDOWN)
		return; /* a failure of this share, not of its server */
	(void)pthread_mutex_lock(&f->mu);
	s = server_of(f, key);
	if (s && r >= 0)
		s->proven = true;
	else if (s && !s->dead && (!s->proven || r == -ETIMEDOUT)) {
		/* A server that mounted a share in this call and then refuses or resets one
		 * connection is busy (sshd's MaxStartups, a full accept queue), not gone: that
		 * share fails alone, cheaply. A deadline that passes still stops the rest: it is
		 * what costs time. */
		s->dead = true;
		s->r = r;
		s->kind = kind;
		s->msg = msg && msg[0] ? strdup(msg) : NULL; /* NULL: a generic message */
	}
	(void)pthread_cond_broadcast(&f->cond);
	(void)pthread_mutex_unlock(&f->mu);
}
