/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reconcile.c - host-up (drain, reconcile, raise the generation), host-down (drain, refuse), the
 * reboot check, and the report object that says what was done.
 *
 * Reconcile rules, for each share in the ledger (under the exclusive host lock, or under the
 * share's lock once the host lock is narrowed, so no attach or detach that mounts, unmounts or
 * takes a count across 0 and 1 runs meanwhile; warm ones may, on the same boot only, and change
 * nothing here but a count that stays above 0: attach.c, design note 7):
 *   attachments, our mount present          -> kept
 *   attachments, no mount                   -> mounted again (and verified)
 *   attachments, a matching mount not ours  -> adopted (a crash between mount and commit, or
 *                                              a mount that survived our ledger's last commit)
 *   no attachments, our or matching mount   -> unmounted, directory removed, row deleted
 *   no attachments, no mount                -> directory removed, row deleted
 *   something else at the mountpoint        -> reported as foreign (or stacked), never touched
 *   adopted, no attachments, mount present  -> kept (someone else mounted it; its consumers
 *                                              still use it)
 *   adopted, no attachments, no mount       -> row deleted (the directory is not ours)
 * Then every mount below the base directory that no row accounts for is reported as foreign,
 * except, in host-up with the nova path scheme, a mount exactly at <base>/<md5>: it is adopted
 * when it is exactly one mount and exactly what volmount would mount there (the driver comes
 * from its type, the export from its source, and the md5 of the normalized export must be the
 * directory's name, and its per-mount flags include nosuid and nodev, which volmount always
 * sets); it is recorded with the driver's default options plus "ro"/"noexec" when the mount has
 * them, no attachments and dir_created = 0, and is kept until its volumes are attached and the
 * last one detached.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine/reconcile.h"
#include "engine/request.h"
#include "engine/mountpoint.h"
#include "engine/probe.h"
#include "engine/report.h"
#include "engine/mount.h"
#include "engine/adopt.h"
#include "engine/fanout.h"
#include "internal.h"
#include "exec.h"
#include "kview.h"
#include "ledger.h"
#include "lock.h"
#include "cleanup.h"
#include "errno-util.h"

/*
 * A share without attachments: take its mount (if ours) away and forget it, directory and row,
 * as its last detach would have. This is how repair (and monitor --repair) clean up an
 * "unused" share, the mount a busy last detach left. With @probe (repair) the mount is probed
 * first: only a stale or hung one is unmounted with MNT_FORCE, which aborts a FUSE connection.
 * A healthy mount that is still busy is in use by some process, whose connection must not be
 * torn down under it: the plain unmount fails with EBUSY, the share stays as it is, and a later
 * repair finishes the job once the mount is free.
 */
/* How long a confirmation of an old unhealthy verdict waits for the mount to answer. */
#define CONFIRM_PROBE_MS 250u

/*
 * The verdict on the mount @top at @path to act on, from repair's first probe (@hint, NULL:
 * none), in *out; false when there is none (probe it in full). A healthy verdict is taken as
 * it is: it only spares a force. An unhealthy one leads to a forced unmount (MNT_FORCE kills
 * an NFS mount's RPCs in flight, aborts a FUSE connection), and a share may wait in repair's
 * fan-out and for its lock long after the first probe, by which time a server that stalled
 * for a failover answers again: older than one probe_timeout, it is confirmed first by a
 * probe of at most CONFIRM_PROBE_MS. A mount that answers is healthy; one that still does not
 * keeps its verdict (it has not answered for longer than a probe_timeout already), so many
 * hung shares cost a short confirmation each, not a probe_timeout each.
 */
static bool hint_verdict(struct volmount_ctx *ctx, const struct probe_hint *hint, uint64_t top,
			 const char *path, struct probe_hint *out)
{
	unsigned wait;
	int err = 0;
	enum health h;

	if (!hint || hint->mount_id == 0 || hint->mount_id != top || hint->h == HEALTH_UNPROBED)
		return false;
	*out = *hint;
	if (hint->h == HEALTH_OK || now_ms() - hint->at_ms <= ctx->probe_timeout_ms)
		return true;
	wait = ctx->probe_timeout_ms < CONFIRM_PROBE_MS ? ctx->probe_timeout_ms : CONFIRM_PROBE_MS;
	h = probe_one_within(ctx, path, wait, &err);
	if (h == HEALTH_UNPROBED)
		return false;
	if (h != HEALTH_HUNG) { /* answered: healthy now, or failing with its own errno */
		out->h = h;
		out->err = err;
	}
	return true;
}

static int reconcile_unused(struct volmount_ctx *ctx, const struct ledger_share *row,
			    struct share_req *req, bool probe, const struct probe_hint *hint,
			    struct volmount_report *rep)
{
	uint64_t top = 0;
	bool force = false;
	int obs, r;

	obs = share_observe(ctx, row->mountpoint, row->mount_id, req, &top);
	if (obs < 0)
		return obs;
	if (obs == OBS_FOREIGN || obs == OBS_STACKED)
		/* The row stays: while anything is mounted there, forgetting the share could
		 * orphan a mount of ours that we merely cannot prove (its source gone, say). */
		return report_add(rep, row->mountpoint, obs == OBS_STACKED ? "stacked" : "foreign",
				  "share '%s' has no attachments, but %s; left untouched",
				  row->export,
				  obs == OBS_STACKED ? "several mounts are stacked on its mountpoint" :
						       "something else is mounted on its mountpoint");
	if (probe && (obs == OBS_OURS || obs == OBS_MATCH)) {
		struct probe_hint known;
		int err;

		force = (hint_verdict(ctx, hint, top, row->mountpoint, &known) ?
				 known.h :
				 probe_one(ctx, row->mountpoint, &err)) != HEALTH_OK;
	}
	if (obs == OBS_OURS || obs == OBS_MATCH) {
		r = share_unmount_force(ctx, row->mountpoint, top, force);
		if (force)
			exec_reap_stragglers(); /* the abort released any probe stuck in it */
		if (r == -EBUSY)
			return error_set(r, VOLMOUNT_ERR_TEMPFAIL,
					 "share '%s' has no attachments, but its mount '%s' is busy (a process still uses it); it is unmounted once it is free",
					 row->export, row->mountpoint);
		if (r < 0)
			return r;
	}
	r = share_forget(ctx, row, req);
	if (r < 0)
		return r;
	return report_add(rep, row->mountpoint, obs == OBS_NONE ? "removed" : "unmounted",
			  "share '%s' had no attachments", row->export);
}

/*
 * An adopted share (mounted by someone else, no attachment yet) is kept while its mount is
 * there: the host's consumers still use it, and its volumes are expected to be attached again.
 * It is forgotten when its mount is gone (volmount has no reason to mount it), and its
 * directory, which volmount did not create, is left as it is.
 */
static int reconcile_adopted(struct volmount_ctx *ctx, const struct ledger_share *row,
			     struct share_req *req, struct volmount_report *rep)
{
	uint64_t top = 0;
	int obs, r;

	obs = share_observe(ctx, row->mountpoint, row->mount_id, req, &top);
	if (obs < 0)
		return obs;
	switch (obs) {
	case OBS_OURS:
		return report_add(rep, row->mountpoint, "kept",
				  "adopted share '%s' has no attachments yet; its mount is kept",
				  row->export);
	case OBS_MATCH:
		r = ledger_share_set(ctx->ledger, row->hash, LEDGER_MOUNTED, top);
		if (r < 0)
			return r;
		return report_add(rep, row->mountpoint, "adopted",
				  "'%s' was mounted again by someone else (mount id %llu); recorded and kept",
				  row->export, (unsigned long long)top);
	case OBS_NONE:
		r = ledger_share_delete(ctx->ledger, row->hash);
		if (r < 0)
			return r;
		return report_add(rep, row->mountpoint, "removed",
				  "adopted share '%s' is no longer mounted and has no attachments; forgotten (its directory is not volmount's and is kept)",
				  row->export);
	default:
		return report_add(rep, row->mountpoint, obs == OBS_STACKED ? "stacked" : "foreign",
				  "adopted share '%s' has no attachments, and %s; left untouched",
				  row->export,
				  obs == OBS_STACKED ? "several mounts are stacked on its mountpoint" :
						       "something else is mounted on its mountpoint now");
	}
}

static int reconcile_used(struct volmount_ctx *ctx, const struct ledger_share *row,
			  struct share_req *req, bool probe, const struct probe_hint *hint,
			  struct volmount_report *rep)
{
	uint64_t top = 0, id = 0;
	int obs, r;

	obs = share_observe(ctx, row->mountpoint, row->mount_id, req, &top);
	if (obs < 0)
		return obs;
	if (probe && (obs == OBS_OURS || obs == OBS_MATCH)) {
		struct probe_hint known;
		int k = obs == OBS_OURS && hint_verdict(ctx, hint, top, row->mountpoint, &known) ?
				share_heal_verdict(ctx, row, req, top, known.h, known.err, rep) :
				share_probe_heal(ctx, row, req, top, rep);

		if (k < 0)
			return k;
		if (k == HEALTH_UNPROBED)
			return report_add(rep, row->mountpoint, "unprobed",
					  "'%s' could not be probed now (the executor is full); left as it is",
					  row->export);
		if (k != HEALTH_OK)
			return 0; /* remounted, and reported so */
	}
	switch (obs) {
	case OBS_OURS:
		if (strcmp(row->state, LEDGER_MOUNTED) != 0) {
			r = ledger_share_set(ctx->ledger, row->hash, LEDGER_MOUNTED, top);
			if (r < 0)
				return r;
		}
		return report_add(rep, row->mountpoint, "kept", "%zu attachment(s)",
				  row->n_attachments);
	case OBS_MATCH:
		r = ledger_share_set(ctx->ledger, row->hash, LEDGER_MOUNTED, top);
		if (r < 0)
			return r;
		return report_add(rep, row->mountpoint, "adopted",
				  "mount id %llu of '%s' verified and recorded",
				  (unsigned long long)top, row->export);
	case OBS_NONE: {
		bool exists = false;

		r = share_check_mountpoint(ctx, req, &exists);
		if (r >= 0 && !exists && !row->dir_created)
			r = error_set(-ENOENT, VOLMOUNT_ERR_MOUNTPOINT,
				      "mountpoint '%s' has disappeared", row->mountpoint);
		else if (r >= 0 && !exists)
			r = share_mkdir(ctx, req);
		if (r >= 0)
			r = share_remount(ctx, row, req, true, &id);
		if (r < 0)
			return r;
		return report_add(rep, row->mountpoint, "mounted",
				  "'%s' mounted again for %zu attachment(s)", row->export,
				  row->n_attachments);
	}
	default:
		return report_add(rep, row->mountpoint, obs == OBS_STACKED ? "stacked" : "foreign",
				  "share '%s' has %zu attachment(s), but %s; left untouched",
				  row->export, row->n_attachments,
				  obs == OBS_STACKED ? "several mounts are stacked on its mountpoint" :
						       "something else is mounted on its mountpoint");
	}
}

/* A row is only acted on if it names exactly the mountpoint its driver and hash (volmount
 * scheme) or its export (nova scheme: <base>/<md5 of the export>) give: a damaged or tampered
 * ledger must not steer an unmount or rmdir elsewhere. */
static int row_is_sane(struct volmount_ctx *ctx, const struct ledger_share *row)
{
	_cleanup_free_ char *mp = NULL;
	char md5[33];
	int r;

	if (!driver_find(row->driver) || strlen(row->hash) != 64 ||
	    strspn(row->hash, "0123456789abcdef") != 64)
		return 0;
	if (ctx->path_scheme == VOLMOUNT_PATH_SCHEME_NOVA) {
		r = share_nova_name(row->export, md5);
		if (r < 0)
			return error_set(r, VOLMOUNT_ERR_INTERNAL,
					 "cannot name the mountpoint of '%s': %s", row->export,
					 errno_str(r));
		r = asprintf(&mp, "%s/%s", ctx_base(ctx), md5);
	} else
		r = asprintf(&mp, "%s/%s/%s", ctx_base(ctx), row->driver, row->hash);
	if (r < 0)
		return -ENOMEM;
	return strcmp(mp, row->mountpoint) == 0;
}

int reconcile_one(struct volmount_ctx *ctx, const struct ledger_share *row_in,
			 bool new_boot, bool probe, struct volmount_report *rep)
{
	return reconcile_one_hinted(ctx, row_in, new_boot, probe, NULL, rep);
}

int reconcile_one_hinted(struct volmount_ctx *ctx, const struct ledger_share *row_in,
			 bool new_boot, bool probe, const struct probe_hint *hint,
			 struct volmount_report *rep)
{
	struct share_req req = { .src_fd = -EBADF };
	struct ledger_share copy = *row_in;
	const struct ledger_share *row = &copy;
	int r;

	r = row_is_sane(ctx, row_in);
	if (r <= 0)
		return r < 0 ? r :
		       error_set(-EUCLEAN, VOLMOUNT_ERR_INTERNAL,
				 "ledger row for '%s' is inconsistent (driver '%s', hash '%s'); not touching it",
				 row_in->mountpoint, row_in->driver, row_in->hash);
	/* Mount ids are per boot: after a reboot a recorded id proves nothing, and a mount is
	 * ours only if it is exactly what the driver makes from this share. */
	if (new_boot)
		copy.mount_id = 0;

	r = share_req_from_row(ctx, row, &req);
	if (r < 0) {
		/* The export is gone or changed: without it we cannot mount, and a mount at the
		 * mountpoint can only be judged by its recorded id. */
		if (row->n_attachments > 0)
			return r;
		error_clear();
		req.drv = driver_find(row->driver);
		if (!req.drv)
			return error_set(-EINVAL, VOLMOUNT_ERR_INTERNAL,
					 "ledger names unknown driver '%s'", row->driver);
		req.export = strdup(row->export);
		if (!req.export)
			return -ENOMEM;
		r = share_req_name(ctx, &req);
		if (r < 0) {
			share_req_done(&req);
			return r;
		}
		/* row_is_sane() proved the row names this mountpoint; its hash is the share's. */
		memcpy(req.hash, row->hash, sizeof(req.hash));
		if (req.subdir)
			memcpy(req.leaf, row->hash, sizeof(req.leaf));
	}
	/* A pending row: a crashed call's helper may still be running; end it first. */
	r = share_end_orphans(ctx, row, &req);
	if (r < 0) {
		share_req_done(&req);
		return r;
	}
	if (row->adopted && row->n_attachments == 0)
		r = reconcile_adopted(ctx, row, &req, rep);
	else if (row->n_attachments > 0)
		r = reconcile_used(ctx, row, &req, probe, hint, rep);
	else
		r = reconcile_unused(ctx, row, &req, probe, hint, rep);
	share_req_done(&req);
	return r;
}

static int cmp_row_mountpoint(const void *key, const void *elem)
{
	return strcmp(key, ((const struct ledger_share *)elem)->mountpoint);
}

/* The mounts under the base directory that no row accounts for: foreign, or (host-up, nova
 * scheme) adopted. Runs while the host lock is exclusive: a share attached meanwhile would
 * look like a mount no row accounts for. */
static int scan_unknown(struct volmount_ctx *ctx, const struct ledger_share *rows, size_t n_rows,
			bool adopt, struct volmount_report *rep)
{
	struct kview_mount *mounts = NULL;
	size_t n_mounts = 0;
	int r;

	r = kview_list_under(ctx_base(ctx), &mounts, &n_mounts);
	if (r < 0)
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "cannot list mounts: %s", errno_str(r));
	for (size_t i = 0; r >= 0 && i < n_mounts; i++) {
		bool known = false, seen = false;

		/* The rows come ordered by mountpoint (ledger_shares_list): a binary search keeps
		 * this linear-logarithmic at 10,000 shares instead of mounts x rows. */
		known = n_rows > 0 &&
			bsearch(mounts[i].mnt_point, rows, n_rows, sizeof(*rows), cmp_row_mountpoint);
		if (known)
			continue;
		if (adopt && ctx->path_scheme == VOLMOUNT_PATH_SCHEME_NOVA &&
		    is_nova_mountpoint(ctx, mounts[i].mnt_point)) {
			/* Stacked mounts list one path twice: judge it once. */
			for (size_t j = 0; j < i && !seen; j++)
				seen = strcmp(mounts[j].mnt_point, mounts[i].mnt_point) == 0;
			if (!seen)
				r = adopt_one(ctx, mounts[i].mnt_point, rep);
			continue;
		}
		r = report_add(rep, mounts[i].mnt_point, "foreign",
			       "%s '%s' is mounted under the base directory, but not by volmount; left untouched",
			       mounts[i].fstype, mounts[i].source);
	}
	kview_mounts_free(mounts, n_mounts);
	return r;
}

struct reconcile_jobs {
	const struct ledger_share *rows;
	int *share_fds; /* held share locks (narrowed), or NULL */
	bool new_boot;
};

static int reconcile_job(struct volmount_ctx *ctx, void *arg, size_t i,
			 struct volmount_report *rep)
{
	struct reconcile_jobs *j = arg;
	int r = reconcile_one(ctx, &j->rows[i], j->new_boot, false, rep);

	if (j->share_fds && j->share_fds[i] >= 0) {
		/* Reconciled: attach and detach of this share may go on now. */
		lock_share_release(ctx->locks, j->rows[i].hash, j->share_fds[i]);
		j->share_fds[i] = -EBADF;
	}
	return r;
}

/* How many share locks the call may hold at once: half the descriptors left to the
 * process, so a host with more shares than that keeps the exclusive host lock instead. */
static size_t share_lock_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1024;
	return rl.rlim_cur > 512 ? (size_t)(rl.rlim_cur - 256) / 2 : 0;
}

/* Take every row's share lock (nobody holds one: the host lock is exclusive). False, with
 * nothing held, if one cannot be taken. */
static bool lock_all_shares(struct volmount_ctx *ctx, const struct ledger_share *rows,
			    size_t n_rows, int *fds)
{
	uint64_t deadline = now_ms() + ctx->timeout_ms;

	for (size_t i = 0; i < n_rows; i++) {
		fds[i] = lock_share(ctx->locks, rows[i].hash, deadline);
		if (fds[i] < 0) {
			for (size_t k = 0; k < i; k++)
				lock_share_release(ctx->locks, rows[k].hash, fds[k]);
			error_clear();
			return false;
		}
	}
	return true;
}

int host_reconcile(struct volmount_ctx *ctx, bool new_boot, bool adopt,
		   struct volmount_report *rep, struct reconcile_hold *hold)
{
	struct ledger_share *rows = NULL;
	struct volmount_report *tail = NULL;
	_cleanup_free_ int *fds = NULL;
	_cleanup_free_ const char **paths = NULL, **groups = NULL;
	struct reconcile_jobs jobs = { .new_boot = new_boot };
	size_t n_rows = 0;
	struct first_failure failed = {};
	_cleanup_free_ char *scan_msg = NULL;
	enum volmount_errkind scan_kind = VOLMOUNT_ERR_INTERNAL;
	int r, scan_r = 0;

	r = ledger_shares_list(ctx->ledger, &rows, &n_rows);
	/* After a reboot every recorded mount id is another boot's, and ids are handed out
	 * alike each boot: forget them all while the host lock is still exclusive, so that no
	 * row vouches for a mount of this boot it did not verify, not even one the reconcile
	 * leaves untouched (foreign, stacked, failed) or has not reached yet (a warm attach
	 * compares the id). Each share's reconcile records the id it verifies. */
	if (r >= 0 && new_boot) {
		/* ...and from here on every recorded id is of this boot, not all verified yet:
		 * the boot is this one, unfinished (host.c, boot_is_ours()). */
		char unfinished[sizeof(ctx->boot_id) + 1];

		(void)snprintf(unfinished, sizeof(unfinished), "~%s", ctx->boot_id);
		r = ledger_shares_forget_mount_ids(ctx->ledger, unfinished);
	}
	if (r < 0) {
		ledger_shares_free(rows, n_rows);
		return r;
	}
	jobs.rows = rows;
	paths = calloc(n_rows + 1, sizeof(*paths));
	groups = calloc(n_rows + 1, sizeof(*groups));
	if (!paths || !groups || (rep && report_new(&tail) < 0)) {
		r = error_set(-ENOMEM, VOLMOUNT_ERR_INTERNAL, "out of memory");
		goto out;
	}
	/* First what no row accounts for, while nothing else can mount; reported after the
	 * shares, as always. */
	scan_r = scan_unknown(ctx, rows, n_rows, adopt, tail);
	if (scan_r == -ENOMEM) {
		r = scan_r;
		goto out;
	}
	if (scan_r < 0) {
		/* Kept for the end: the shares are reconciled all the same. */
		scan_kind = volmount_ctx_errkind(ctx);
		scan_msg = strdup(volmount_ctx_errmsg(ctx));
		error_clear();
	}

	/* Narrow the host lock: hold every share's lock instead, publish the host's new state,
	 * and let the exclusive host lock go down to shared. Attach and detach of a share wait
	 * only until that share is reconciled; host-up, host-down and gc still wait for all. */
	if (hold && n_rows > 0 && n_rows <= share_lock_budget()) {
		fds = calloc(n_rows, sizeof(*fds));
		if (fds && !lock_all_shares(ctx, rows, n_rows, fds)) {
			free(fds);
			fds = NULL;
		}
	}
	if (hold && fds) {
		r = hold->publish ? hold->publish(ctx, hold->arg) : 0;
		if (r >= 0) {
			hold->published = true;
			r = lock_host_downgrade(hold->host_fd);
		}
		if (r < 0) {
			for (size_t i = 0; i < n_rows; i++)
				lock_share_release(ctx->locks, rows[i].hash, fds[i]);
			goto out;
		}
		jobs.share_fds = fds;
	}

	for (size_t i = 0; i < n_rows; i++) {
		paths[i] = rows[i].mountpoint;
		if (driver_find(rows[i].driver) &&
		    driver_find(rows[i].driver)->kind == DRIVER_KIND_HELPER) {
			groups[i] = fanout_server_key(rows[i].driver, rows[i].export,
						      rows[i].options);
			if (!groups[i]) {
				r = error_set(-ENOMEM, VOLMOUNT_ERR_INTERNAL, "out of memory");
				break;
			}
		}
	}
	if (r >= 0) {
		r = fanout_run(ctx, n_rows, paths, groups, reconcile_job, &jobs, rep, &failed);
		if (hold && r >= 0)
			hold->ran = true;
	}
	/* Whatever did not run (out of memory) is released too. */
	for (size_t i = 0; jobs.share_fds && i < n_rows; i++)
		if (fds[i] >= 0)
			lock_share_release(ctx->locks, rows[i].hash, fds[i]);
	if (r >= 0)
		r = report_append(rep, TAKE_PTR(tail));
	if (r >= 0 && scan_r < 0)
		r = error_set(scan_r, scan_kind, "%s", scan_msg ? scan_msg : "");
out:
	for (size_t i = 0; groups && i < n_rows; i++)
		free((char *)groups[i]);
	volmount_report_free(tail);
	ledger_shares_free(rows, n_rows);
	if (r < 0)
		return r;
	return first_failure_result(
		ctx, &failed, "reconcile could not bring every share to its state (see the report)");
}
