/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine/host.h - see host.c. Engine-internal: included by lib/engine/ only. */
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

/* If the ledger was written under another boot, reconcile now (takes the host lock). */
int host_check_boot(struct volmount_ctx *ctx, uint64_t deadline_ms);
