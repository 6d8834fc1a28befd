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
/*
 * Were the mount ids of a ledger whose host row records @recorded taken in the boot @ours?
 * The row holds the boot of the last finished reconcile, or, while one is unfinished (a
 * host-up published the host up and has not recorded its boot yet, or died), that same boot
 * marked with a leading '~': ids of that boot, not all of them verified since.
 */
bool boot_is_ours(const char *recorded, const char *ours);
