/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine/fanout.h - see fanout.c. Engine-internal: included by lib/engine/ only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "volmount.h"

struct volmount_ctx;
struct volmount_report;
struct first_failure;

/*
 * One job of a fan-out: work on share @i, reporting to @rep (the job's own report; NULL when
 * the caller keeps none). Returns 0 or an error set on the calling thread's slot; the fan-out
 * reports it as "failed" for paths[i].
 */
typedef int (*fanout_fn)(struct volmount_ctx *ctx, void *arg, size_t i,
			 struct volmount_report *rep);

/*
 * Run @fn for i = 0..@n-1 on at most the context's max_helpers threads at once, the calling
 * thread among them (with max_helpers = 1, or a single job, all in the calling thread, in
 * index order). Jobs start so that the k-th share of every server comes before the (k+1)-th
 * of any: groups[i] (@groups or groups[i] NULL: a group of its own) is share i's
 * fanout_server_key(). The jobs' entries go to @rep in index order, as a serial loop would
 * have written them, and the first failure in index order to @failed. Returns 0 when every
 * job ran (failed or not), or -ENOMEM (a job ran out of memory: nothing more was started; the
 * jobs that never ran are not reported). Every thread is joined before it returns.
 */
int fanout_run(struct volmount_ctx *ctx, size_t n, const char *const *paths,
	       const char *const *groups, fanout_fn fn, void *arg, struct volmount_report *rep,
	       struct first_failure *failed);

/*
 * The server of a helper share as far as failing together goes: driver, the host part of the
 * export ("user@host" before the first ':' outside brackets, so "[2001:db8::1]" whole;
 * "host:port" of quobyte's "host:port/volume"; "//host" of "//host/share") and the canonical
 * options (a port option, say, makes it another server). Shares of one key reach one server;
 * two servers never share a key (shares of one server may have several). Caller frees; NULL
 * without memory.
 */
char *fanout_server_key(const char *driver, const char *export, const char *options);

/*
 * The gate a helper mount passes inside a fan-out (mount.c). Once a helper for one server has
 * failed in a way that says the server does not answer (its deadline passed, or the host is
 * down or unreachable), the shares of that server whose helper has not started yet in the
 * same fan-out fail at once with that cause, instead of each running its own helper into the
 * same deadline. fanout_gate_check() returns 0 (go on) or that failure (set on the thread's
 * slot); fanout_gate_note() records a helper's failure (@r < 0, @kind, @msg), or with @r >= 0
 * that it mounted (the server answers: its shares are no longer held back, see fanout.c).
 * Both are no-ops outside a fan-out and for a NULL @key.
 */
int fanout_gate_check(const char *key);
/* Does the calling thread work for a fan-out (so the gate applies)? */
bool fanout_active(void);
void fanout_gate_note(const char *key, int r, enum volmount_errkind kind, const char *msg);
