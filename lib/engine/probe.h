/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine/probe.h - see probe.c. Engine-internal: included by lib/engine/ only. */
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

/* ---- health (health.c) ---- */

enum health {
	HEALTH_OK,    /* the probe answered */
	HEALTH_STALE, /* the probe failed: ENOTCONN, ESTALE, EIO, ... (errno kept) */
	HEALTH_HUNG,  /* the probe passed its deadline */
	HEALTH_UNPROBED, /* no probe ran (the executor had no room): no verdict */
};

/* Probe @n mountpoints at once (statfs in one executor worker, against one deadline: the
 * context's probe timeout): the whole call returns within that deadline plus the executor's
 * grace. Fills
 * ret_health[i], ret_errno[i] (positive, 0 if healthy) and ret_us[i] (probe time, -1 if none). */
int health_probe_many(struct volmount_ctx *ctx, const char *const *paths, size_t n,
		      enum health *ret_health, int *ret_errno, int64_t *ret_us);

/* health_probe_many() of the one mountpoint @path: its verdict, and for HEALTH_STALE the
 * errno in *ret_err. */
enum health probe_one(struct volmount_ctx *ctx, const char *path, int *ret_err);

/* probe_one() against @timeout_ms instead of the context's probe timeout. */
enum health probe_one_within(struct volmount_ctx *ctx, const char *path, unsigned timeout_ms,
			     int *ret_err);
