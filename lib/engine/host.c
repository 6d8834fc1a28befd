/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * host.c - volmount_host_up(), volmount_host_down() and the first call after a reboot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/host.h"
#include "engine/report.h"
#include "engine/reconcile.h"
#include "internal.h"
#include "ledger.h"
#include "lock.h"
#include "cleanup.h"

bool boot_is_ours(const char *recorded, const char *ours)
{
	return strcmp(recorded + (recorded[0] == '~'), ours) == 0;
}

/* host-up's new state, before the reconcile ends: up, a new generation, and this boot marked
 * unfinished (boot_is_ours()): the recorded ids are of this boot by now (a reconcile of a new
 * boot has set them all to 0 before it publishes), not all verified. If this host-up dies
 * before its end, the next call of any process finds the boot unrecorded and reconciles every
 * share (host_check_boot()), keeping those ids. The boot is recorded once every share has
 * been worked on. */
static int publish_up(struct volmount_ctx *ctx, void *arg)
{
	char unfinished[sizeof(ctx->boot_id) + 1];

	(void)arg;
	(void)snprintf(unfinished, sizeof(unfinished), "~%s", ctx->boot_id);
	return ledger_host_set(ctx->ledger, "up", true, unfinished);
}

static int host_set(struct volmount_ctx *ctx, bool up, struct volmount_report **ret_report)
{
	struct volmount_report *rep = NULL;
	struct reconcile_hold hold = { .publish = publish_up };
	uint64_t deadline;
	int fd, r;

	r = report_begin(ctx, ret_report ? &rep : NULL);
	if (r < 0)
		return r;
	deadline = now_ms() + ctx->timeout_ms;
	fd = lock_host(ctx->locks, true, deadline); /* drains attach/detach in every process */
	if (fd < 0) {
		volmount_report_free(rep);
		return fd;
	}
	hold.host_fd = fd;
	if (up) {
		struct ledger_host before;

		/* The host is marked up, and the lock narrowed to the shares not yet
		 * reconciled, as soon as every share's lock is held (reconcile.c). */
		r = ledger_host_get(ctx->ledger, &before);
		if (r >= 0)
			r = host_reconcile(ctx, !boot_is_ours(before.boot_id, ctx->boot_id), true,
					   rep, &hold);
	} else
		r = 0;
	if (r >= 0 || up) {
		/* host-up marks the host up even when a share failed: the others are fine, and
		 * the failure is reported; the caller sees the error. */
		struct ledger_host h;
		int k = 0;

		/* The boot only once the reconcile ran over every share (a share that failed
		 * stays as the ledger has it and is reported); if it never ran (out of memory,
		 * the lock not narrowed), the next call reconciles. */
		const char *boot = up && hold.ran ? ctx->boot_id : NULL;

		if (hold.published)
			k = boot ? ledger_host_set(ctx->ledger, NULL, false, boot) : 0;
		else
			k = ledger_host_set(ctx->ledger, up ? "up" : "down", up, boot);
		if (k >= 0 && rep)
			k = ledger_host_get(ctx->ledger, &h);
		if (k >= 0 && rep)
			report_set_generation(rep, h.generation);
		if (r >= 0)
			r = k;
	}
	lock_release(fd);
	if (ret_report && (r >= 0 || error_pending()))
		*ret_report = rep;
	else
		volmount_report_free(rep);
	return r;
}

VOLMOUNT_EXPORT int volmount_host_up(struct volmount_ctx *ctx, struct volmount_report **ret_report)
{
	return host_set(ctx, true, ret_report);
}

VOLMOUNT_EXPORT int volmount_host_down(struct volmount_ctx *ctx)
{
	return host_set(ctx, false, NULL);
}

int host_check_boot(struct volmount_ctx *ctx, uint64_t deadline_ms)
{
	struct ledger_host h;
	int fd, r;

	/* Once per context: a boot does not change under a running process. */
	if (__atomic_load_n(&ctx->boot_checked, __ATOMIC_ACQUIRE))
		return 0;
	r = ledger_host_get(ctx->ledger, &h);
	if (r < 0)
		return r;
	if (strcmp(h.boot_id, ctx->boot_id) == 0) {
		__atomic_store_n(&ctx->boot_checked, true, __ATOMIC_RELEASE);
		return 0;
	}
	/* A host that is down is reconciled by its host-up, not behind the operator's back;
	 * attach and detach refuse it anyway. */
	if (strcmp(h.state, "up") != 0)
		return 0;
	/* First call since a reboot (or ever), or after a host-up that did not finish: the
	 * recorded mount ids are of another boot, or not all verified. Reconcile before anyone
	 * relies on them; host state and generation are kept. Unless a
	 * host-up or first call of another process reconciles right now, or starts to while
	 * this one waits: it holds the lock of every share it has not reconciled yet, so this
	 * call's share is reconciled by the time the call has its lock. Check again next time
	 * (the boot is recorded at its end). */
	fd = lock_host_unless_reconciling(ctx->locks, deadline_ms);
	if (fd == -EINPROGRESS)
		return 0;
	if (fd < 0)
		return fd;
	r = ledger_host_get(ctx->ledger, &h);
	if (r >= 0 && strcmp(h.boot_id, ctx->boot_id) == 0)
		__atomic_store_n(&ctx->boot_checked, true, __ATOMIC_RELEASE); /* done meanwhile */
	else if (r >= 0 && strcmp(h.state, "up") == 0) {
		/* One share that cannot be brought back must not fail every later call for the
		 * others: it stays as the ledger has it (and list shows it), and the boot is
		 * recorded either way. Only a failure that stopped the reconcile (the ledger,
		 * memory) is the caller's failure; the next call reconciles again. */
		struct reconcile_hold hold = { .host_fd = fd };

		r = host_reconcile(ctx, !boot_is_ours(h.boot_id, ctx->boot_id), false, NULL, &hold);
		if (hold.ran) {
			error_clear();
			r = ledger_host_set(ctx->ledger, NULL, false, ctx->boot_id);
		}
		if (r >= 0 && hold.ran)
			__atomic_store_n(&ctx->boot_checked, true, __ATOMIC_RELEASE);
	}
	lock_release(fd);
	return r;
}
