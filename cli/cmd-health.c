/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cmd-health.c - check, repair, gc and monitor: the operator's view of share health. Output
 * only; every decision is the library's.
 *
 * Exit status of check: 0 when every share is healthy (mounted with attachments, or
 * unmounted without; an adopted share is mounted without), 69 (EX_UNAVAILABLE) when any share
 * is unused (mounted without attachments: a busy last detach), stale, hung, unprobed (no probe
 * could run: no verdict, so not healthy either), missing, foreign or stacked; the usual codes
 * when the check itself fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "output.h"

static const char *const share_states[] = {
	"mounted", "unmounted", "unused", "stale", "hung", "unprobed", "missing", "foreign", "stacked",
	"unknown",
};

static bool state_is_healthy(const char *state)
{
	return strcmp(state, "mounted") == 0 || strcmp(state, "unmounted") == 0;
}

static void json_put(struct json_object *o, const char *k, struct json_object *v)
{
	(void)json_object_object_add(o, k, v); /* fails only on allocation; output is best effort */
}

static int print_json(struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED);

	if (!s)
		return -ENOMEM;
	(void)puts(s);
	return 0;
}

int cmd_check(struct volmount_ctx *ctx, bool json)
{
	struct volmount_snapshot *s = NULL;
	size_t n, unhealthy = 0;
	int r;

	r = volmount_snapshot_new_ex(ctx, VOLMOUNT_SNAPSHOT_PROBE, &s);
	if (r < 0)
		return cli_fail(ctx, r);
	n = volmount_snapshot_n_shares(s);
	for (size_t i = 0; i < n; i++)
		if (!state_is_healthy(volmount_snapshot_share_state(s, i)))
			unhealthy++;
	if (json) {
		struct json_object *o = json_object_new_object(), *a = json_object_new_array();

		if (!o || !a) {
			json_object_put(o);
			json_object_put(a);
			volmount_snapshot_free(s);
			return EX_SOFTWARE;
		}
		json_put(o, "healthy", json_object_new_boolean(unhealthy == 0));
		json_put(o, "unhealthy", json_object_new_uint64(unhealthy));
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_new_object();
			int err = volmount_snapshot_share_errno(s, i);
			int64_t us = volmount_snapshot_share_probe_us(s, i);

			if (!e)
				continue;
			json_put(e, "mountpoint",
				 json_object_new_string(volmount_snapshot_share_mountpoint(s, i)));
			json_put(e, "driver",
				 json_object_new_string(volmount_snapshot_share_driver(s, i)));
			json_put(e, "export",
				 json_object_new_string(volmount_snapshot_share_export(s, i)));
			json_put(e, "state",
				 json_object_new_string(volmount_snapshot_share_state(s, i)));
			json_put(e, "errno",
				 err ? json_object_new_string(strerrorname_np(err) ?
								      strerrorname_np(err) : "?") :
				       NULL);
			json_put(e, "error", err ? json_object_new_string(strerror(err)) : NULL);
			json_put(e, "probe_us", us >= 0 ? json_object_new_int64(us) : NULL);
			json_put(e, "attachments",
				 json_object_new_uint64(volmount_snapshot_share_n_attachments(s, i)));
			(void)json_object_array_add(a, e);
		}
		json_put(o, "shares", a);
		(void)print_json(o);
		json_object_put(o);
	} else {
		for (size_t i = 0; i < n; i++) {
			int err = volmount_snapshot_share_errno(s, i);
			int64_t us = volmount_snapshot_share_probe_us(s, i);

			printf("%-9s %-9s %s %s", volmount_snapshot_share_state(s, i),
			       volmount_snapshot_share_driver(s, i),
			       volmount_snapshot_share_export(s, i),
			       volmount_snapshot_share_mountpoint(s, i));
			if (err)
				printf(" (%s: %s)", strerrorname_np(err) ? strerrorname_np(err) : "?",
				       strerror(err));
			else if (us >= 0)
				printf(" (probe %" PRId64 " us)", us);
			(void)putchar('\n');
		}
		printf("%zu share(s), %zu unhealthy\n", n, unhealthy);
	}
	volmount_snapshot_free(s);
	return unhealthy ? EX_UNAVAILABLE : EX_OK;
}

static int print_report(const struct volmount_report *rep, bool json, const char *what)
{
	size_t n = volmount_report_n_entries(rep);

	if (json) {
		struct json_object *o = json_object_new_object(), *a = json_object_new_array();
		int r;

		if (!o || !a) {
			json_object_put(o);
			json_object_put(a);
			return -ENOMEM;
		}
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_new_object();

			if (!e)
				continue;
			json_put(e, "path", json_object_new_string(volmount_report_entry_path(rep, i)));
			json_put(e, "action",
				 json_object_new_string(volmount_report_entry_action(rep, i)));
			json_put(e, "detail",
				 json_object_new_string(volmount_report_entry_detail(rep, i)));
			(void)json_object_array_add(a, e);
		}
		json_put(o, "actions", a);
		r = print_json(o);
		json_object_put(o);
		return r;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s %s: %s\n", volmount_report_entry_action(rep, i),
		       volmount_report_entry_path(rep, i), volmount_report_entry_detail(rep, i));
	printf("%s: %zu action(s)\n", what, n);
	return 0;
}

int cmd_repair(struct volmount_ctx *ctx, bool json)
{
	struct volmount_report *rep = NULL;
	int r = volmount_repair(ctx, &rep);

	if (rep)
		(void)print_report(rep, json, "repair");
	volmount_report_free(rep);
	return r < 0 ? cli_fail(ctx, r) : EX_OK;
}

int cmd_gc(struct volmount_ctx *ctx, bool json)
{
	struct volmount_report *rep = NULL;
	int r = volmount_gc(ctx, &rep);

	if (rep)
		(void)print_report(rep, json, "gc");
	volmount_report_free(rep);
	return r < 0 ? cli_fail(ctx, r) : EX_OK;
}

/* ---- monitor ---- */

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct counters {
	uint64_t checks, repairs_ok, repairs_failed;
};

/* Prometheus text exposition: label values escape '\', '"' and newlines. */
static void put_label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			(void)fputc('\\', f);
		if (*v == '\n') {
			(void)fputs("\\n", f);
			continue;
		}
		(void)fputc(*v, f);
	}
}

static int write_metrics(const char *path, const struct volmount_snapshot *s,
			 const struct counters *c, double cycle_s)
{
	size_t n = volmount_snapshot_n_shares(s), att = 0;
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
	fprintf(f, "# HELP volmount_shares Shares by observed state.\n"
		   "# TYPE volmount_shares gauge\n");
	for (size_t k = 0; k < sizeof(share_states) / sizeof(share_states[0]); k++) {
		size_t cnt = 0;

		for (size_t i = 0; i < n; i++)
			cnt += strcmp(volmount_snapshot_share_state(s, i), share_states[k]) == 0;
		fprintf(f, "volmount_shares{state=\"%s\"} %zu\n", share_states[k], cnt);
	}
	for (size_t i = 0; i < n; i++)
		att += volmount_snapshot_share_n_attachments(s, i);
	fprintf(f, "# HELP volmount_attachments Attachments recorded in the ledger.\n"
		   "# TYPE volmount_attachments gauge\nvolmount_attachments %zu\n", att);
	fprintf(f, "# HELP volmount_repairs_total Repairs done by this monitor, by result.\n"
		   "# TYPE volmount_repairs_total counter\n"
		   "volmount_repairs_total{result=\"ok\"} %" PRIu64 "\n"
		   "volmount_repairs_total{result=\"failed\"} %" PRIu64 "\n",
		c->repairs_ok, c->repairs_failed);
	fprintf(f, "# HELP volmount_probe_latency_seconds Duration of the last liveness probe of "
		   "each mounted share.\n# TYPE volmount_probe_latency_seconds gauge\n");
	for (size_t i = 0; i < n; i++) {
		int64_t us = volmount_snapshot_share_probe_us(s, i);

		if (us < 0)
			continue;
		fputs("volmount_probe_latency_seconds{mountpoint=\"", f);
		put_label(f, volmount_snapshot_share_mountpoint(s, i));
		fputs("\",driver=\"", f);
		put_label(f, volmount_snapshot_share_driver(s, i));
		fprintf(f, "\"} %.6f\n", (double)us / 1e6);
	}
	fprintf(f, "# HELP volmount_check_duration_seconds Duration of the last check cycle.\n"
		   "# TYPE volmount_check_duration_seconds gauge\n"
		   "volmount_check_duration_seconds %.6f\n", cycle_s);
	fprintf(f, "# HELP volmount_checks_total Check cycles run by this monitor.\n"
		   "# TYPE volmount_checks_total counter\nvolmount_checks_total %" PRIu64 "\n",
		c->checks);
	fprintf(f, "# HELP volmount_host_up 1 if the host is up.\n# TYPE volmount_host_up gauge\n"
		   "volmount_host_up %d\n",
		strcmp(volmount_snapshot_host_state(s), "up") == 0);
	fprintf(f, "# HELP volmount_generation Host generation.\n# TYPE volmount_generation gauge\n"
		   "volmount_generation %" PRIu64 "\n", volmount_snapshot_generation(s));
	/* Atomic replacement: readers see the old file or the new one, never a torn one. */
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

/* Sleep @ms, waking early when a stop is requested. */
static void nap(unsigned ms)
{
	for (unsigned slept = 0; slept < ms && !stop_requested; slept += 100) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000000L };

		(void)nanosleep(&ts, NULL); /* EINTR from the stop signal ends the nap early */
	}
}

int cmd_monitor(struct volmount_ctx *ctx, const struct monitor_args *a)
{
	struct sigaction sa = { .sa_handler = on_stop };
	struct counters c = { 0 };
	int status = EX_OK;

	(void)sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	fprintf(stderr, "<6>volmount monitor: checking every %u ms%s\n", a->interval_ms,
		a->repair ? ", repairing" : "");
	while (!stop_requested) {
		struct volmount_snapshot *s = NULL;
		double t0 = now_s();
		size_t unhealthy = 0, n;
		int r;

		r = volmount_snapshot_new_ex(ctx, VOLMOUNT_SNAPSHOT_PROBE, &s);
		if (r < 0) {
			fprintf(stderr, "<3>volmount monitor: check failed: %s\n",
				volmount_ctx_errmsg(ctx));
			nap(a->interval_ms);
			continue;
		}
		c.checks++;
		n = volmount_snapshot_n_shares(s);
		for (size_t i = 0; i < n; i++)
			if (!state_is_healthy(volmount_snapshot_share_state(s, i))) {
				unhealthy++;
				fprintf(stderr, "<4>volmount monitor: %s %s is %s\n",
					volmount_snapshot_share_driver(s, i),
					volmount_snapshot_share_mountpoint(s, i),
					volmount_snapshot_share_state(s, i));
			}
		if (a->repair && unhealthy) {
			struct volmount_report *rep = NULL;

			(void)volmount_repair(ctx, &rep);
			for (size_t i = 0; i < volmount_report_n_entries(rep); i++) {
				const char *act = volmount_report_entry_action(rep, i);

				if (strcmp(act, "repaired") == 0 || strcmp(act, "mounted") == 0 ||
				    strcmp(act, "unmounted") == 0 || strcmp(act, "removed") == 0)
					c.repairs_ok++;
				else if (strcmp(act, "failed") == 0)
					c.repairs_failed++;
				else
					continue;
				fprintf(stderr, "<5>volmount monitor: %s %s: %s\n", act,
					volmount_report_entry_path(rep, i),
					volmount_report_entry_detail(rep, i));
			}
			volmount_report_free(rep);
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
				fprintf(stderr, "<3>volmount monitor: cannot write '%s': %s\n",
					a->metrics, strerror(-r));
		}
		volmount_snapshot_free(s);
		nap(a->interval_ms);
	}
	fprintf(stderr, "<6>volmount monitor: stopped\n");
	return status;
}
