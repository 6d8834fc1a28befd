/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * repair.c - volmount_repair(): every share brought to its desired state, each under its lock.
 *
 * Bounded in time, whatever the number of unhealthy shares:
 *   1. every mounted share is probed at once (health_probe_many(): one worker, one deadline,
 *      probe_timeout);
 *   2. then up to max_helpers shares are repaired at once (fanout.c: at most that many
 *      helpers, a dead server costs one helper deadline, not one per share), each under its
 *      share lock; a share whose mount is still the one probed in step 1 is not probed again
 *      if step 1 found it healthy, or unhealthy less than probe_timeout ago; an older
 *      unhealthy verdict is confirmed under the lock by a probe of at most 0.25 s before
 *      anything is forced (a mount that answers by then is kept);
 *   3. no share is started once `timeout` has passed since step 2 began: those left are
 *      reported failed ("not tried", exit 75) for the next repair.
 * So repair returns within probe_timeout + 0.25 s of grace + 0.25 s of confirmation + 2 x
 * timeout (the last shares started run to their own deadline) plus the bounded forced
 * unmounts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/repair.h"
#include "engine/report.h"
#include "engine/reconcile.h"
#include "engine/fanout.h"
#include "engine/probe.h"
#include "engine/host.h"
#include "internal.h"
#include "ledger.h"
#include "lock.h"
#include "cleanup.h"

static int repair_share(struct volmount_ctx *ctx, const char *hash, const struct probe_hint *hint,
			struct volmount_report *rep)
{
	struct ledger_share row = {};
	struct ledger_host h;
	uint64_t deadline = now_ms() + ctx->timeout_ms;
	int host_fd, share_fd, r;

	host_fd = lock_host(ctx->locks, false, deadline);
	if (host_fd < 0)
		return host_fd;
	r = ledger_host_get(ctx->ledger, &h);
	if (r >= 0 && strcmp(h.state, "up") != 0)
		r = error_set(-EHOSTDOWN, VOLMOUNT_ERR_HOSTDOWN,
			      "host is down; run host-up before repair");
	if (r < 0) {
		lock_release(host_fd);
		return r;
	}
	share_fd = lock_share(ctx->locks, hash, deadline);
	if (share_fd < 0) {
		lock_release(host_fd);
		return error_set(share_fd, VOLMOUNT_ERR_TEMPFAIL,
				 "share %s is busy (lock not available within %u ms); skipped", hash,
				 ctx->timeout_ms);
	}
	/* Read again under the lock: the share may have changed since the list was taken. */
	r = ledger_share_get(ctx->ledger, hash, &row);
	if (r == -ENOENT)
		r = 0;
	else if (r >= 0) /* ids of another boot prove nothing (volmount_repair() reconciled) */
		r = reconcile_one_hinted(ctx, &row, !boot_is_ours(h.boot_id, ctx->boot_id), true,
					 hint, rep);
	ledger_share_done(&row);
	lock_share_release(ctx->locks, hash, share_fd);
	lock_release(host_fd);
	return r;
}

int host_repair_share(struct volmount_ctx *ctx, const char *hash, struct volmount_report *rep)
{
	return repair_share(ctx, hash, NULL, rep);
}

/* ---- repair ---- */

struct repair_jobs {
	const struct ledger_share *rows;
	const struct probe_hint *hints;
	uint64_t deadline; /* no share is started after it */
};

static int repair_job(struct volmount_ctx *ctx, void *arg, size_t i, struct volmount_report *rep)
{
	struct repair_jobs *j = arg;

	if (now_ms() >= j->deadline)
		return error_set(-ETIMEDOUT, VOLMOUNT_ERR_TEMPFAIL,
				 "not tried: repair's time for starting shares (%u ms) was spent on the others; run repair again",
				 ctx->timeout_ms);
	return repair_share(ctx, j->rows[i].hash, &j->hints[i], rep);
}

/* Step 1: every share with a recorded mount probed at once; the verdicts, by mount id. */
static int probe_all(struct volmount_ctx *ctx, const struct ledger_share *rows, size_t n,
		     struct probe_hint *hints)
{
	_cleanup_free_ const char **paths = calloc(n, sizeof(*paths));
	_cleanup_free_ size_t *idx = calloc(n, sizeof(*idx));
	_cleanup_free_ enum health *h = calloc(n, sizeof(*h));
	_cleanup_free_ int *err = calloc(n, sizeof(*err));
	_cleanup_free_ int64_t *us = calloc(n, sizeof(*us));
	uint64_t at;
	size_t m = 0;

	if (!paths || !idx || !h || !err || !us)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		hints[i] = (struct probe_hint){ .h = HEALTH_UNPROBED };
		if (rows[i].mount_id == 0 || !driver_find(rows[i].driver))
			continue;
		paths[m] = rows[i].mountpoint;
		idx[m++] = i;
	}
	if (m == 0)
		return 0;
	(void)health_probe_many(ctx, paths, m, h, err, us);
	at = now_ms();
	for (size_t k = 0; k < m; k++)
		hints[idx[k]] = (struct probe_hint){
			.mount_id = rows[idx[k]].mount_id, .h = h[k], .err = err[k], .at_ms = at,
		};
	return 0;
}

static int repair_all(struct volmount_ctx *ctx, const struct ledger_share *rows, size_t n,
		      struct volmount_report *rep, struct first_failure *failed)
{
	_cleanup_free_ struct probe_hint *hints = calloc(n ? n : 1, sizeof(*hints));
	_cleanup_free_ const char **paths = calloc(n ? n : 1, sizeof(*paths));
	_cleanup_free_ char **groups = calloc(n ? n : 1, sizeof(*groups));
	struct repair_jobs jobs = { .rows = rows, .hints = hints };
	int r;

	if (!hints || !paths || !groups)
		return error_set(-ENOMEM, VOLMOUNT_ERR_INTERNAL, "out of memory");
	r = probe_all(ctx, rows, n, hints);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct driver *d = driver_find(rows[i].driver);

		paths[i] = rows[i].mountpoint;
		if (d && d->kind == DRIVER_KIND_HELPER) {
			groups[i] = fanout_server_key(rows[i].driver, rows[i].export,
						      rows[i].options);
			if (!groups[i])
				r = -ENOMEM;
		}
	}
	if (r >= 0) {
		jobs.deadline = now_ms() + ctx->timeout_ms;
		r = fanout_run(ctx, n, paths, (const char *const *)groups, repair_job, &jobs, rep,
			       failed);
	} else
		r = error_set(r, VOLMOUNT_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++)
		free(groups[i]);
	return r;
}

VOLMOUNT_EXPORT int volmount_repair(struct volmount_ctx *ctx, struct volmount_report **ret_report)
{
	struct volmount_report *rep = NULL;
	struct ledger_share *rows = NULL;
	struct first_failure failed = {};
	size_t n = 0;
	int r;

	r = report_begin(ctx, &rep);
	if (r < 0)
		return r;
	/* After a reboot the recorded mount ids are another boot's: reconcile first, as the
	 * first attach or detach would, rather than judge (and perhaps unmount) a mount of this
	 * boot that carries one. */
	r = host_check_boot(ctx, now_ms() + ctx->timeout_ms);
	if (r >= 0)
		r = ledger_shares_list(ctx->ledger, &rows, &n);
	if (r < 0) {
		volmount_report_free(rep);
		return r;
	}
	r = repair_all(ctx, rows, n, rep, &failed);
	ledger_shares_free(rows, n);
	r = report_finish(rep, r, ret_report);
	if (r < 0)
		return r;
	/* The first failure's kind, not always 74: a busy share is 75 here as in detach and
	 * host-up. */
	return first_failure_result(
		ctx, &failed, "repair could not bring every share to health (see the report)");
}
