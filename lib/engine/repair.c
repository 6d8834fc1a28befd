/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * repair.c - volmount_repair(): every share brought to its desired state, one at a time under its
 * lock.
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
#include "internal.h"
#include "ledger.h"
#include "lock.h"
#include "cleanup.h"

int host_repair_share(struct volmount_ctx *ctx, const char *hash, struct volmount_report *rep)
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
	else if (r >= 0)
		r = reconcile_one(ctx, &row, false, true, rep);
	ledger_share_done(&row);
	lock_share_release(ctx->locks, hash, share_fd);
	lock_release(host_fd);
	return r;
}

/* ---- repair ---- */

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
	r = ledger_shares_list(ctx->ledger, &rows, &n);
	if (r < 0) {
		volmount_report_free(rep);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		r = host_repair_share(ctx, rows[i].hash, rep);
		if (r == -ENOMEM)
			break;
		if (r < 0)
			(void)report_failed(ctx, rep, rows[i].mountpoint, r, &failed);
		r = 0;
	}
	ledger_shares_free(rows, n);
	r = report_finish(rep, r, ret_report);
	if (r < 0)
		return r;
	/* The first failure's kind, not always 74: a busy share is 75 here as in detach and
	 * host-up. */
	return first_failure_result(
		ctx, &failed, "repair could not bring every share to health (see the report)");
}
