/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine/reconcile.h - see reconcile.c. Engine-internal: included by lib/engine/ only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "kview.h"
#include "volmount.h"
#include "engine/probe.h"

struct volmount_ctx;
struct ledger_share;
struct volmount_report;

/*
 * How host_reconcile() may narrow the exclusive host lock its caller holds (@host_fd): once
 * it holds every share's lock, it calls @publish (may be NULL; host-up records the host up
 * there, so attach is not refused meanwhile), sets @published, and turns the host lock
 * shared with a reconcile marked in progress (lock_host_downgrade()), so attach and detach of
 * a share wait only until that share is reconciled. The boot id is recorded by the caller
 * after the reconcile, still under the lock: a call that dies before leaves the boot
 * unrecorded, and the next call reconciles again. With too many shares for the descriptors
 * left to the process it keeps the exclusive lock and does not call @publish (@published
 * stays false: the caller records everything).
 */
struct reconcile_hold {
	int host_fd;
	int (*publish)(struct volmount_ctx *ctx, void *arg);
	void *arg;
	bool published;
	bool ran; /* every share was worked on (each may still have failed) */
};

/*
 * Reconcile every share of the ledger against the kernel (host-up, and the first call after a
 * reboot: @new_boot), each under its share lock, up to the context's max_helpers at once
 * (fanout.c); with @adopt, also adopt the mounts at nova
 * mountpoints that no share owns. Every share gets one entry in @report.
 */
int host_reconcile(struct volmount_ctx *ctx, bool new_boot, bool adopt,
		   struct volmount_report *report, struct reconcile_hold *hold);

/* Reconcile one share's row (its lock held by the caller); with @probe, probe a network
 * share's mount and remount it if it is stale or hung. */
int reconcile_one(struct volmount_ctx *ctx, const struct ledger_share *row_in, bool new_boot,
		  bool probe, struct volmount_report *rep);

/* A probe's verdict on the mount @mount_id, made before the share lock was taken (repair
 * probes every share at once, against one deadline). Used only if that very mount is still
 * the share's when it is looked at under the lock; otherwise the share is probed again. */
struct probe_hint {
	uint64_t mount_id;
	enum health h;
	int err;
	uint64_t at_ms; /* when the probe ended (now_ms()) */
};

/* reconcile_one() with @hint (may be NULL). */
int reconcile_one_hinted(struct volmount_ctx *ctx, const struct ledger_share *row_in,
			 bool new_boot, bool probe, const struct probe_hint *hint,
			 struct volmount_report *rep);
