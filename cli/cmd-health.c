/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cmd-health.c - check, repair, gc and monitor: the operator's view of share health. Every
 * decision is the library's (volmount_share_state_healthy() says which states are healthy),
 * every word printed is output.c's, every exit status exit.c's.
 *
 * Exit status of check: 0 when every share is healthy (mounted with attachments, or
 * unmounted without; an adopted share is mounted without), 69 (EX_UNAVAILABLE) when any share
 * is unused (mounted without attachments: a busy last detach), stale, hung, unprobed (no probe
 * could run: no verdict, so not healthy either), missing, foreign or stacked; the usual codes
 * when the check itself fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "exit.h"
#include "notify.h"
#include "output.h"
#include "errno-util.h"

/* How many shares of @s are not as they should be; the library says what healthy means. */
static size_t count_unhealthy(const struct volmount_snapshot *s)
{
	size_t n = volmount_snapshot_n_shares(s), unhealthy = 0;

	for (size_t i = 0; i < n; i++)
		if (!volmount_share_state_healthy(volmount_snapshot_share_state_id(s, i)))
			unhealthy++;
	return unhealthy;
}

int cmd_check(struct volmount_ctx *ctx, const struct cmd_args *a)
{
	struct volmount_snapshot *s = NULL;
	size_t unhealthy;
	int r;

	r = volmount_snapshot_new_ex(ctx, VOLMOUNT_SNAPSHOT_PROBE, &s);
	if (r < 0)
		return exit_fail(ctx, r);
	unhealthy = count_unhealthy(s);
	r = output_check(a->json, s, unhealthy);
	volmount_snapshot_free(s);
	if (r < 0)
		return exit_fail_output(r);
	return exit_unhealthy(unhealthy);
}

/* repair and gc: what was done is shown even when a share failed, then the failure. */
static int report_command(struct volmount_ctx *ctx, const struct cmd_args *a, const char *what,
			  int (*op)(struct volmount_ctx *, struct volmount_report **))
{
	struct volmount_report *rep = NULL;
	int r = op(ctx, &rep), k = 0;

	if (rep)
		k = output_report(a->json, rep, what);
	volmount_report_free(rep);
	if (r < 0)
		return exit_fail(ctx, r);
	if (k < 0)
		return exit_fail_output(k);
	return EX_OK;
}

int cmd_repair(struct volmount_ctx *ctx, const struct cmd_args *a)
{
	return report_command(ctx, a, "repair", volmount_repair);
}

int cmd_gc(struct volmount_ctx *ctx, const struct cmd_args *a)
{
	return report_command(ctx, a, "gc", volmount_gc);
}

/* ---- monitor ---- */

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Replace @path atomically with the metrics: readers see the old file or the new one, never a
 * torn one. Returns 0 or -errno. */
static int write_metrics(const char *path, const struct volmount_snapshot *s,
			 const struct output_monitor_counters *c, double cycle_s)
{
	char tmp[4096];
	FILE *f;
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		r = -errno;
		(void)close(fd);
		(void)unlink(tmp);
		return r;
	}
	output_metrics(f, s, c, cycle_s);
	if (fflush(f) != 0 || fchmod(fileno(f), 0644) < 0 || fsync(fileno(f)) < 0)
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

static double now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* systemd's watchdog (WatchdogSec=): fed at half its interval, from the naps between checks
 * and after each check; raised at start (WATCHDOG_USEC=) when one check and repair may take
 * longer than the unit's interval. */
static uint64_t watchdog_usec;
static double watchdog_fed;

static void feed_watchdog(void)
{
	double now = now_s();

	if (watchdog_usec && now - watchdog_fed >= (double)watchdog_usec / 2e6) {
		(void)notify_send("WATCHDOG=1");
		watchdog_fed = now;
	}
}

/* Sleep @ms, waking early when a stop is requested. */
static void nap(unsigned ms)
{
	for (unsigned slept = 0; slept < ms && !stop_requested; slept += 100) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000000L };

		(void)nanosleep(&ts, NULL); /* EINTR from the stop signal ends the nap early */
		feed_watchdog();
	}
}

/* Log the unhealthy shares of @s; returns how many there are. */
static size_t log_unhealthy(const struct volmount_snapshot *s)
{
	size_t n = volmount_snapshot_n_shares(s), unhealthy = 0;

	for (size_t i = 0; i < n; i++) {
		if (volmount_share_state_healthy(volmount_snapshot_share_state_id(s, i)))
			continue;
		unhealthy++;
		output_log(OUTPUT_LOG_WARNING, "%s %s is %s", volmount_snapshot_share_driver(s, i),
			   volmount_snapshot_share_mountpoint(s, i),
			   volmount_snapshot_share_state(s, i));
	}
	return unhealthy;
}

/* Repair, count and log what the repair changed or failed to change. */
static void repair(struct volmount_ctx *ctx, struct output_monitor_counters *c)
{
	struct volmount_report *rep = NULL;
	uint64_t before = c->repairs_ok + c->repairs_failed;
	int r = volmount_repair(ctx, &rep);

	for (size_t i = 0; i < volmount_report_n_entries(rep); i++) {
		switch (volmount_report_entry_action_id(rep, i)) {
		case VOLMOUNT_ACTION_REPAIRED:
		case VOLMOUNT_ACTION_MOUNTED:
		case VOLMOUNT_ACTION_UNMOUNTED:
		case VOLMOUNT_ACTION_REMOVED:
			c->repairs_ok++;
			break;
		case VOLMOUNT_ACTION_FAILED:
			c->repairs_failed++;
			break;
		default: /* kept, reported only, or a word this CLI does not know: no change */
			continue;
		}
		output_log(OUTPUT_LOG_NOTICE, "%s %s: %s", volmount_report_entry_action(rep, i),
			   volmount_report_entry_path(rep, i),
			   volmount_report_entry_detail(rep, i));
	}
	volmount_report_free(rep);
	/* the audit line of a repair, as `volmount repair` leaves one, when it changed or
	 * failed anything */
	if (r < 0)
		output_audit("repair", NULL, NULL, NULL, NULL,
			     exit_status(volmount_ctx_errkind(ctx)), volmount_ctx_errmsg(ctx));
	else if (c->repairs_ok + c->repairs_failed > before)
		output_audit("repair", NULL, NULL, NULL, NULL, 0, NULL);
}

int cmd_monitor(struct volmount_ctx *ctx, const struct monitor_args *a)
{
	struct sigaction sa = { .sa_handler = on_stop };
	struct output_monitor_counters c = { 0 };

	(void)sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	watchdog_usec = notify_watchdog_usec();
	watchdog_fed = now_s();
	output_log(OUTPUT_LOG_INFO, "checking every %u ms%s", a->interval_ms,
		   a->repair ? ", repairing" : "");
	(void)notify_send("READY=1");
	if (watchdog_usec) {
		/* Nothing feeds the watchdog inside one check and repair: two probed snapshots
		 * (probe_timeout and its grace each) and a repair (2 x probe_timeout + 0.25 s +
		 * 2 x timeout, plus its forced unmounts, at most a timeout more). With a long
		 * timeout in volmount.conf that is more than the unit's WatchdogSec=: raise it for
		 * this process (feeding stays at half the unit's interval). */
		uint64_t probe = volmount_ctx_get_probe_timeout(ctx), t = volmount_ctx_get_timeout(ctx);
		uint64_t need_us = (4 * probe + 3 * t + 5000) * 1000;

		if (need_us > watchdog_usec) {
			char msg[64];

			(void)snprintf(msg, sizeof(msg), "WATCHDOG_USEC=%llu", (unsigned long long)need_us);
			(void)notify_send(msg);
			output_log(OUTPUT_LOG_INFO,
				   "watchdog interval raised to %llu s: one check and repair may take that long",
				   (unsigned long long)(need_us / 1000000));
		}
	}
	while (!stop_requested) {
		struct volmount_snapshot *s = NULL;
		double t0 = now_s();
		int r;

		r = volmount_snapshot_new_ex(ctx, VOLMOUNT_SNAPSHOT_PROBE, &s);
		if (r < 0) {
			output_log(OUTPUT_LOG_ERR, "check failed: %s", volmount_ctx_errmsg(ctx));
			nap(a->interval_ms);
			continue;
		}
		c.checks++;
		if (log_unhealthy(s) > 0 && a->repair) {
			repair(ctx, &c);
			/* Publish the state after the repair, not the one that caused it. */
			volmount_snapshot_free(s);
			s = NULL;
			r = volmount_snapshot_new_ex(ctx, VOLMOUNT_SNAPSHOT_PROBE, &s);
			if (r < 0) {
				nap(a->interval_ms);
				continue;
			}
		}
		if (a->metrics) {
			r = write_metrics(a->metrics, s, &c, now_s() - t0);
			if (r < 0)
				output_log(OUTPUT_LOG_ERR, "cannot write '%s': %s", a->metrics,
					   errno_str(r));
		}
		volmount_snapshot_free(s);
		feed_watchdog();
		nap(a->interval_ms);
	}
	(void)notify_send("STOPPING=1");
	output_log(OUTPUT_LOG_INFO, "stopped");
	return EX_OK;
}
