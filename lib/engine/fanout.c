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
 * The server gate: when a helper for a server fails in a way that says the server does not
 * answer (deadline passed, host down or unreachable), the shares of that server whose helper
 * has not started yet fail at once with that cause. So a dead server costs one helper
 * deadline in total (the helpers already running expire together), not one per share; shares
 * that need no helper (kept, unmounted, forgotten) are never gated.
 *
 * Reports: each job writes its own report; they are appended in index order at the end, so
 * the report reads as the serial loop's did, whatever order the jobs finished in.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fanout.h"
#include "engine/report.h"
#include "internal.h"
#include "cleanup.h"

struct dead_server {
	char *key;
	int r;
	enum volmount_errkind kind;
	char *msg;
};

struct job {
	struct volmount_report *rep;
	struct first_failure failed;
	int r;
};

struct fanout {
	struct volmount_ctx *ctx;
	const char *const *paths;
	fanout_fn fn;
	void *arg;
	bool want_reports;
	size_t n, next;
	size_t *order;
	struct job *jobs;
	pthread_mutex_t mu;
	bool stop; /* a job ran out of memory: start nothing more */
	struct dead_server *dead;
	size_t n_dead, cap_dead;
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
	if (r == -ENOMEM) {
		j->failed = (struct first_failure){ .r = r, .kind = VOLMOUNT_ERR_INTERNAL };
		(void)pthread_mutex_lock(&f->mu);
		f->stop = true;
		(void)pthread_mutex_unlock(&f->mu);
	}
	j->r = r;
	error_clear();
}

static void *worker(void *arg)
{
	struct fanout *f = arg;

	current = f;
	for (;;) {
		size_t i;

		(void)pthread_mutex_lock(&f->mu);
		if (f->stop || f->next >= f->n) {
			(void)pthread_mutex_unlock(&f->mu);
			break;
		}
		i = f->order[f->next++];
		(void)pthread_mutex_unlock(&f->mu);
		run_one(f, i);
	}
	current = NULL;
	return NULL;
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

/* Round robin over servers: the k-th share of each server before the (k+1)-th of any. */
static int make_order(size_t n, const char *const *groups, size_t *order)
{
	_cleanup_free_ struct keyed *k = NULL;

	if (!groups) {
		for (size_t i = 0; i < n; i++)
			order[i] = i;
		return 0;
	}
	k = calloc(n, sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		k[i] = (struct keyed){ .key = groups[i], .i = i };
	qsort(k, n, sizeof(*k), cmp_key);
	for (size_t i = 1; i < n; i++)
		if (k[i].key && k[i - 1].key && strcmp(k[i].key, k[i - 1].key) == 0)
			k[i].rank = k[i - 1].rank + 1;
	qsort(k, n, sizeof(*k), cmp_rank);
	for (size_t i = 0; i < n; i++)
		order[i] = k[i].i;
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
	size_t want, started = 0;
	int r = 0;

	if (n == 0)
		return 0;
	f.order = calloc(n, sizeof(*f.order));
	f.jobs = calloc(n, sizeof(*f.jobs));
	if (!f.order || !f.jobs || make_order(n, groups, f.order) < 0) {
		free(f.order);
		free(f.jobs);
		return error_set(-ENOMEM, VOLMOUNT_ERR_INTERNAL, "out of memory");
	}
	(void)pthread_mutex_init(&f.mu, NULL);
	want = __atomic_load_n(&ctx->max_helpers, __ATOMIC_RELAXED);
	if (want > n)
		want = n;
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
	(void)worker(&f);
	for (size_t t = 0; t < started; t++)
		(void)pthread_join(threads[t], NULL);

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
	for (size_t d = 0; d < f.n_dead; d++) {
		free(f.dead[d].key);
		free(f.dead[d].msg);
	}
	free(f.dead);
	free(f.order);
	free(f.jobs);
	(void)pthread_mutex_destroy(&f.mu);
	if (r < 0)
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "out of memory");
	return 0;
}

char *fanout_server_key(const char *driver, const char *export, const char *options)
{
	const char *end;
	char *key = NULL;

	if (!driver || !export)
		return NULL;
	if (strncmp(export, "//", 2) == 0)
		end = strchrnul(export + 2, '/');
	else
		end = strchrnul(export, ':');
	if (asprintf(&key, "%s\n%.*s\n%s", driver, (int)(end - export), export,
		     options ? options : "") < 0)
		return NULL;
	return key;
}

int fanout_gate_check(const char *key)
{
	struct fanout *f = current;
	int r = 0;

	if (!f || !key)
		return 0;
	(void)pthread_mutex_lock(&f->mu);
	for (size_t d = 0; d < f->n_dead; d++)
		if (strcmp(f->dead[d].key, key) == 0) {
			r = error_set(f->dead[d].r, f->dead[d].kind,
				      "not tried: a helper for another share of the same server failed in this call: %s",
				      f->dead[d].msg);
			break;
		}
	(void)pthread_mutex_unlock(&f->mu);
	return r;
}

void fanout_gate_note(const char *key, int r, enum volmount_errkind kind, const char *msg)
{
	struct fanout *f = current;

	if (!f || !key || r >= 0 || (r != -ETIMEDOUT && kind != VOLMOUNT_ERR_HOSTDOWN))
		return;
	(void)pthread_mutex_lock(&f->mu);
	for (size_t d = 0; d < f->n_dead; d++)
		if (strcmp(f->dead[d].key, key) == 0)
			goto out;
	if (f->n_dead == f->cap_dead) {
		size_t ncap = f->cap_dead ? f->cap_dead * 2 : 4;
		struct dead_server *nd = reallocarray(f->dead, ncap, sizeof(*nd));

		if (!nd)
			goto out; /* only slower: the next share tries the server itself */
		f->dead = nd;
		f->cap_dead = ncap;
	}
	f->dead[f->n_dead] = (struct dead_server){
		.key = strdup(key), .r = r, .kind = kind, .msg = strdup(msg && msg[0] ? msg : "?"),
	};
	if (!f->dead[f->n_dead].key || !f->dead[f->n_dead].msg) {
		free(f->dead[f->n_dead].key);
		free(f->dead[f->n_dead].msg);
	} else
		f->n_dead++;
out:
	(void)pthread_mutex_unlock(&f->mu);
}
