/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine/reconcile.h - see reconcile.c. Engine-internal: included by lib/engine/ only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "kview.h"
#include "volmount.h"

struct volmount_ctx;
struct ledger_share;
struct volmount_report;

/*
 * Reconcile every share of the ledger against the kernel (host-up, and the first call after a
 * reboot: @new_boot), each under its share lock; with @adopt, also adopt the mounts at nova
 * mountpoints that no share owns. Every share gets one entry in @report.
 */
int host_reconcile(struct volmount_ctx *ctx, bool new_boot, bool adopt,
		   struct volmount_report *report);

/* Reconcile one share's row (its lock held by the caller); with @probe, probe a network
 * share's mount and remount it if it is stale or hung. */
int reconcile_one(struct volmount_ctx *ctx, const struct ledger_share *row_in, bool new_boot,
		  bool probe, struct volmount_report *rep);
