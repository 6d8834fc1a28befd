/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine/adopt.h - see adopt.c. Engine-internal: included by lib/engine/ only. */
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

/* <base>/<32 lower-case hex>: where the nova scheme puts a mountpoint. */
bool is_nova_mountpoint(struct volmount_ctx *ctx, const char *path);

/* A mount at a nova mountpoint that no share row accounts for: adopt it if it is exactly one
 * mount and exactly what volmount would mount there; report it as foreign otherwise. */
int adopt_one(struct volmount_ctx *ctx, const char *path, struct volmount_report *rep);
