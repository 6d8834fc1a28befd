/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * host.c - host-up (drain, reconcile, raise the generation), host-down (drain, refuse), the
 * reboot check, and the report object that says what was done.
 *
 * Reconcile rules, for each share in the ledger (the exclusive host lock is held, so no
 * attach or detach runs meanwhile, in this process or any other):
 *   attachments, our mount present          -> kept
 *   attachments, no mount                   -> mounted again (and verified)
 *   attachments, a matching mount not ours  -> adopted (a crash between mount and commit, or
 *                                              a mount that survived our ledger's last commit)
 *   no attachments, our or matching mount   -> unmounted, directory removed, row deleted
 *   no attachments, no mount                -> directory removed, row deleted
 *   something else at the mountpoint        -> reported as foreign (or stacked), never touched
 * Then every mount below the base directory that no row accounts for is reported as foreign.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "exec.h"
#include "internal.h"
#include "ledger.h"
#include "lock.h"
#include "util/cleanup.h"

struct report_entry {
	char *path;
	char *action;
	char *detail;
};

struct volmount_report {
	struct report_entry *e;
	size_t n, cap;
	uint64_t generation;
};

int report_new(struct volmount_report **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

int report_add(struct volmount_report *rep, const char *path, const char *action,
		      const char *fmt, ...)
{
	struct report_entry e = {};
	va_list ap;
	int k;

	if (!rep)
		return 0;
	if (rep->n == rep->cap) {
		size_t ncap = rep->cap ? rep->cap * 2 : 16;
		struct report_entry *ne = reallocarray(rep->e, ncap, sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		rep->e = ne;
		rep->cap = ncap;
	}
	va_start(ap, fmt);
	k = vasprintf(&e.detail, fmt, ap);
	va_end(ap);
	e.path = strdup(path);
	e.action = strdup(action);
	if (k < 0 || !e.path || !e.action) {
		if (k >= 0)
			free(e.detail);
		free(e.path);
		free(e.action);
		return -ENOMEM;
	}
	rep->e[rep->n++] = e;
	return 0;
}

VOLMOUNT_EXPORT size_t volmount_report_n_entries(const struct volmount_report *r)
{
	return r ? r->n : 0;
}

VOLMOUNT_EXPORT const char *volmount_report_entry_path(const struct volmount_report *r, size_t i)
{
	return r && i < r->n ? r->e[i].path : NULL;
}

VOLMOUNT_EXPORT const char *volmount_report_entry_action(const struct volmount_report *r,
							 size_t i)
{
	return r && i < r->n ? r->e[i].action : NULL;
}

VOLMOUNT_EXPORT const char *volmount_report_entry_detail(const struct volmount_report *r,
							 size_t i)
{
	return r && i < r->n ? r->e[i].detail : NULL;
}

VOLMOUNT_EXPORT uint64_t volmount_report_generation(const struct volmount_report *r)
{
	return r ? r->generation : 0;
}

VOLMOUNT_EXPORT void volmount_report_free(struct volmount_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->e[i].path);
		free(r->e[i].action);
		free(r->e[i].detail);
	}
	free(r->e);
	free(r);
}

static int delete_row(struct volmount_ctx *ctx, const char *hash)
{
	int r;

	ctx_db_lock(ctx);
	r = ledger_share_delete(ctx->ledger, hash);
	ctx_db_unlock(ctx);
	return r;
}

/* A share without attachments: take its mount (if ours) away and forget it. */
static int reconcile_unused(struct volmount_ctx *ctx, const struct ledger_share *row,
			    struct share_req *req, bool force, struct volmount_report *rep)
{
	uint64_t top = 0;
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
	if (obs == OBS_OURS || obs == OBS_MATCH) {
		r = share_unmount_force(ctx, row->mountpoint, top, force);
		if (r < 0)
			return r;
	}
	if (row->dir_created) {
		r = share_rmdir(ctx, row->driver, row->hash, row->mountpoint);
		if (r < 0)
			return r;
	}
	r = delete_row(ctx, row->hash);
	if (r < 0)
		return r;
	return report_add(rep, row->mountpoint, obs == OBS_NONE ? "removed" : "unmounted",
			  "share '%s' had no attachments", row->export);
}

/*
 * Repair of a share with attachments whose mount is ours but stale or hung: unmount it (with
 * MNT_FORCE, bounded retries), verify it is gone, mount again, verify, record.
 */
int share_remount_unhealthy(struct volmount_ctx *ctx, const struct ledger_share *row,
			     struct share_req *req, uint64_t top, enum health h, int err,
			     struct volmount_report *rep)
{
	uint64_t id = 0;
	int r;

	r = share_unmount_force(ctx, row->mountpoint, top, true);
	exec_reap_stragglers(); /* the abort released any probe stuck in the old mount */
	if (r < 0)
		return r;
	ctx_db_lock(ctx);
	r = ledger_share_set(ctx->ledger, row->hash, LEDGER_PENDING, 0);
	ctx_db_unlock(ctx);
	if (r >= 0)
		r = share_mount(ctx, req, &id);
	if (r < 0)
		return r;
	ctx_db_lock(ctx);
	r = ledger_share_set(ctx->ledger, row->hash, LEDGER_MOUNTED, id);
	ctx_db_unlock(ctx);
	if (r < 0)
		return r;
	return report_add(rep, row->mountpoint, "repaired",
			  "'%s' was %s (%s); unmounted, mounted again as mount id %llu", row->export,
			  h == HEALTH_HUNG ? "hung" : "stale", strerror(err), (unsigned long long)id);
}

static int reconcile_used(struct volmount_ctx *ctx, const struct ledger_share *row,
			  struct share_req *req, bool probe, struct volmount_report *rep)
{
	uint64_t top = 0, id = 0;
	int obs, r;

	obs = share_observe(ctx, row->mountpoint, row->mount_id, req, &top);
	if (obs < 0)
		return obs;
	if (probe && (obs == OBS_OURS || obs == OBS_MATCH)) {
		const char *path = row->mountpoint;
		enum health h;
		int err;
		int64_t us;

		(void)health_probe_many(ctx, &path, 1, &h, &err, &us);
		if (h != HEALTH_OK)
			return share_remount_unhealthy(ctx, row, req, top, h, err, rep);
	}
	switch (obs) {
	case OBS_OURS:
		if (strcmp(row->state, LEDGER_MOUNTED) != 0) {
			ctx_db_lock(ctx);
			r = ledger_share_set(ctx->ledger, row->hash, LEDGER_MOUNTED, top);
			ctx_db_unlock(ctx);
			if (r < 0)
				return r;
		}
		return report_add(rep, row->mountpoint, "kept", "%zu attachment(s)",
				  row->n_attachments);
	case OBS_MATCH:
		ctx_db_lock(ctx);
		r = ledger_share_set(ctx->ledger, row->hash, LEDGER_MOUNTED, top);
		ctx_db_unlock(ctx);
		if (r < 0)
			return r;
		return report_add(rep, row->mountpoint, "adopted",
				  "mount id %llu of '%s' verified and recorded",
				  (unsigned long long)top, row->export);
	case OBS_NONE: {
		bool exists = false;

		r = share_check_mountpoint(ctx, req, &exists);
		if (r >= 0 && !exists && !row->dir_created)
			r = ctx_error(ctx, -ENOENT, VOLMOUNT_ERR_MOUNTPOINT,
				      "mountpoint '%s' has disappeared", row->mountpoint);
		else if (r >= 0 && !exists)
			r = share_mkdir(ctx, req);
		if (r >= 0 && (strcmp(row->state, LEDGER_PENDING) != 0 || row->mount_id != 0)) {
			/* As in attach: never let a row vouch for a mount it did not record. */
			ctx_db_lock(ctx);
			r = ledger_share_set(ctx->ledger, row->hash, LEDGER_PENDING, 0);
			ctx_db_unlock(ctx);
		}
		if (r >= 0)
			r = share_mount(ctx, req, &id);
		if (r < 0)
			return r;
		ctx_db_lock(ctx);
		r = ledger_share_set(ctx->ledger, row->hash, LEDGER_MOUNTED, id);
		ctx_db_unlock(ctx);
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

/* A row is only acted on if it names exactly the mountpoint its driver and hash give: a
 * damaged or tampered ledger must not steer an unmount or rmdir elsewhere. */
static int row_is_sane(struct volmount_ctx *ctx, const struct ledger_share *row)
{
	_cleanup_free_ char *mp = NULL;

	if (!driver_find(row->driver) || strlen(row->hash) != 64 ||
	    strspn(row->hash, "0123456789abcdef") != 64)
		return 0;
	if (asprintf(&mp, "%s/%s/%s", ctx_base(ctx), row->driver, row->hash) < 0)
		return -ENOMEM;
	return strcmp(mp, row->mountpoint) == 0;
}

static int reconcile_one(struct volmount_ctx *ctx, const struct ledger_share *row_in,
			 bool new_boot, bool probe, struct volmount_report *rep)
{
	struct share_req req = { .src_fd = -EBADF };
	struct ledger_share copy = *row_in;
	const struct ledger_share *row = &copy;
	int r;

	r = row_is_sane(ctx, row_in);
	if (r <= 0)
		return r < 0 ? r :
		       ctx_error(ctx, -EUCLEAN, VOLMOUNT_ERR_INTERNAL,
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
		ctx_clear_error(ctx);
		req.drv = driver_find(row->driver);
		if (!req.drv)
			return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INTERNAL,
					 "ledger names unknown driver '%s'", row->driver);
		req.mountpoint = strdup(row->mountpoint);
		if (!req.mountpoint)
			return -ENOMEM;
		memcpy(req.hash, row->hash, sizeof(req.hash));
	}
	if (row->n_attachments > 0)
		r = reconcile_used(ctx, row, &req, probe, rep);
	else
		r = reconcile_unused(ctx, row, &req, probe, rep);
	share_req_done(&req);
	return r;
}

int host_reconcile(struct volmount_ctx *ctx, bool new_boot, struct volmount_report *rep)
{
	struct ledger_share *rows = NULL;
	struct kview_mount *mounts = NULL;
	size_t n_rows = 0, n_mounts = 0;
	int r, failed = 0;

	ctx_db_lock(ctx);
	r = ledger_shares_list(ctx->ledger, &rows, &n_rows);
	ctx_db_unlock(ctx);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_rows; i++) {
		r = reconcile_one(ctx, &rows[i], new_boot, false, rep);
		if (r == -ENOMEM)
			break;
		if (r < 0) {
			/* Keep going: one bad share must not keep the others from their state. */
			if (!failed)
				failed = r;
			(void)report_add(rep, rows[i].mountpoint, "failed", "%s",
					 volmount_ctx_errmsg(ctx));
		}
	}
	if (r != -ENOMEM) {
		r = kview_list_under(ctx_base(ctx), &mounts, &n_mounts);
		if (r < 0)
			r = ctx_error(ctx, r, VOLMOUNT_ERR_INTERNAL, "cannot list mounts: %s",
				      strerror(-r));
	}
	for (size_t i = 0; r >= 0 && i < n_mounts; i++) {
		bool known = false;

		for (size_t j = 0; j < n_rows && !known; j++)
			known = strcmp(rows[j].mountpoint, mounts[i].mnt_point) == 0;
		if (!known)
			r = report_add(rep, mounts[i].mnt_point, "foreign",
				       "%s '%s' is mounted under the base directory, but not by volmount; left untouched",
				       mounts[i].fstype, mounts[i].source);
	}
	kview_mounts_free(mounts, n_mounts);
	ledger_shares_free(rows, n_rows);
	if (r < 0)
		return r;
	if (failed)
		return ctx_error(ctx, failed, ctx_has_error(ctx) ? volmount_ctx_errkind(ctx) :
								   VOLMOUNT_ERR_IO,
				 "reconcile could not bring every share to its state (see the report)");
	return 0;
}

static int host_set(struct volmount_ctx *ctx, bool up, struct volmount_report **ret_report)
{
	struct volmount_report *rep = NULL;
	uint64_t deadline;
	int fd, r;

	if (!ctx)
		return -EINVAL;
	ctx_clear_error(ctx);
	r = ctx_open(ctx);
	if (r < 0)
		return r;
	if (ret_report) {
		rep = calloc(1, sizeof(*rep));
		if (!rep)
			return -ENOMEM;
	}
	deadline = now_ms() + ctx->timeout_ms;
	fd = lock_host(ctx, true, deadline); /* drains attach/detach in every process */
	if (fd < 0) {
		volmount_report_free(rep);
		return fd;
	}
	if (up) {
		struct ledger_host before;

		ctx_db_lock(ctx);
		r = ledger_host_get(ctx->ledger, &before);
		ctx_db_unlock(ctx);
		if (r >= 0)
			r = host_reconcile(ctx, strcmp(before.boot_id, ctx->boot_id) != 0, rep);
	} else
		r = 0;
	if (r >= 0 || up) {
		/* host-up marks the host up even when a share failed: the others are fine, and
		 * the failure is reported; the caller sees the error. */
		struct ledger_host h;
		int k;

		ctx_db_lock(ctx);
		k = ledger_host_set(ctx->ledger, up ? "up" : "down", up, up ? ctx->boot_id : NULL);
		if (k >= 0 && rep)
			k = ledger_host_get(ctx->ledger, &h);
		ctx_db_unlock(ctx);
		if (k >= 0 && rep)
			rep->generation = h.generation;
		if (r >= 0)
			r = k;
	}
	lock_release(fd);
	if (ret_report && (r >= 0 || ctx_has_error(ctx)))
		*ret_report = rep;
	else
		volmount_report_free(rep);
	return r;
}

VOLMOUNT_EXPORT int volmount_host_up(struct volmount_ctx *ctx, struct volmount_report **ret_report)
{
	return host_set(ctx, true, ret_report);
}

VOLMOUNT_EXPORT int volmount_host_down(struct volmount_ctx *ctx)
{
	return host_set(ctx, false, NULL);
}

int host_check_boot(struct volmount_ctx *ctx, uint64_t deadline_ms)
{
	struct ledger_host h;
	int fd, r;

	ctx_db_lock(ctx);
	r = ledger_host_get(ctx->ledger, &h);
	ctx_db_unlock(ctx);
	if (r < 0)
		return r;
	/* A host that is down is reconciled by its host-up, not behind the operator's back;
	 * attach and detach refuse it anyway. */
	if (strcmp(h.boot_id, ctx->boot_id) == 0 || strcmp(h.state, "up") != 0)
		return 0;
	/* First call since a reboot (or ever): every recorded mount id is from another boot.
	 * Reconcile before anyone relies on them; host state and generation are kept. */
	fd = lock_host(ctx, true, deadline_ms);
	if (fd < 0)
		return fd;
	ctx_db_lock(ctx);
	r = ledger_host_get(ctx->ledger, &h);
	ctx_db_unlock(ctx);
	if (r >= 0 && strcmp(h.boot_id, ctx->boot_id) != 0 && strcmp(h.state, "up") == 0) {
		/* One share that cannot be brought back must not fail every later call for the
		 * others: it stays as the ledger has it (and list shows it), and the boot is
		 * recorded either way. Only a ledger failure is the caller's failure. */
		(void)host_reconcile(ctx, true, NULL);
		ctx_clear_error(ctx);
		ctx_db_lock(ctx);
		r = ledger_host_set(ctx->ledger, NULL, false, ctx->boot_id);
		ctx_db_unlock(ctx);
	}
	lock_release(fd);
	return r;
}

int host_repair_share(struct volmount_ctx *ctx, const char *hash, struct volmount_report *rep)
{
	struct ledger_share row = {};
	struct ledger_host h;
	uint64_t deadline = now_ms() + ctx->timeout_ms;
	int host_fd, share_fd, r;

	host_fd = lock_host(ctx, false, deadline);
	if (host_fd < 0)
		return host_fd;
	ctx_db_lock(ctx);
	r = ledger_host_get(ctx->ledger, &h);
	ctx_db_unlock(ctx);
	if (r >= 0 && strcmp(h.state, "up") != 0)
		r = ctx_error(ctx, -EHOSTDOWN, VOLMOUNT_ERR_HOSTDOWN,
			      "host is down; run host-up before repair");
	if (r < 0) {
		lock_release(host_fd);
		return r;
	}
	share_fd = lock_share(ctx, hash, deadline);
	if (share_fd < 0) {
		lock_release(host_fd);
		return ctx_error(ctx, share_fd, VOLMOUNT_ERR_TEMPFAIL,
				 "share %s is busy (lock not available within %u ms); skipped", hash,
				 ctx->timeout_ms);
	}
	/* Read again under the lock: the share may have changed since the list was taken. */
	ctx_db_lock(ctx);
	r = ledger_share_get(ctx->ledger, hash, &row);
	ctx_db_unlock(ctx);
	if (r == -ENOENT)
		r = 0;
	else if (r >= 0)
		r = reconcile_one(ctx, &row, false, true, rep);
	ledger_share_done(&row);
	lock_release(share_fd);
	lock_release(host_fd);
	return r;
}
