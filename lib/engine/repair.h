/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine/repair.h - see repair.c. Engine-internal: included by lib/engine/ only. */
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

/* Repair one share (by hash) under the shared host lock and its share lock: probe it, and
 * bring it to its desired state (remount stale/hung/missing, unmount unused). */
int host_repair_share(struct volmount_ctx *ctx, const char *hash, struct volmount_report *rep);
