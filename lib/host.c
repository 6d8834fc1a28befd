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

int report_begin(struct volmount_ctx *ctx, struct volmount_report **ret)
{
	int r;

	if (!ctx)
		return -EINVAL;
	ctx_clear_error(ctx);
	r = ctx_open(ctx);
	if (r < 0 || !ret)
		return r;
	return report_new(ret);
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

int report_failed(struct volmount_ctx *ctx, struct volmount_report *rep, const char *path,
		  int r, struct first_failure *first)
{
	const char *msg = volmount_ctx_errmsg(ctx);
	enum volmount_errkind kind = volmount_ctx_errkind(ctx);
	int k;

	k = report_add(rep, path, "failed", "%s", msg && msg[0] ? msg : strerror(-r));
	if (first && first->r == 0) {
		first->r = r;
		first->kind = kind == VOLMOUNT_ERR_NONE ? VOLMOUNT_ERR_INTERNAL : kind;
	}
	ctx_clear_error(ctx);
	return k;
}

int first_failure_result(struct volmount_ctx *ctx, const struct first_failure *first,
			 const char *summary)
{
	if (first->r == 0)
		return 0;
	return ctx_error(ctx, first->r, first->kind, "%s", summary);
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

/*
 * A share without attachments: take its mount (if ours) away and forget it, directory and row,
 * as its last detach would have. This is how repair (and monitor --repair) clean up an
 * "unused" share, the mount a busy last detach left. With @probe (repair) the mount is probed
 * first: only a stale or hung one is unmounted with MNT_FORCE, which aborts a FUSE connection.
 * A healthy mount that is still busy is in use by some process, whose connection must not be
 * torn down under it: the plain unmount fails with EBUSY, the share stays as it is, and a later
 * repair finishes the job once the mount is free.
 */
static int reconcile_unused(struct volmount_ctx *ctx, const struct ledger_share *row,
			    struct share_req *req, bool probe, struct volmount_report *rep)
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
		const char *path = row->mountpoint;
		enum health h;
		int err;
		int64_t us;

		(void)health_probe_many(ctx, &path, 1, &h, &err, &us);
		force = h != HEALTH_OK;
	}
	if (obs == OBS_OURS || obs == OBS_MATCH) {
		r = share_unmount_force(ctx, row->mountpoint, top, force);
		if (force)
			exec_reap_stragglers(); /* the abort released any probe stuck in it */
		if (r == -EBUSY)
			return ctx_error(ctx, r, VOLMOUNT_ERR_TEMPFAIL,
					 "share '%s' has no attachments, but its mount '%s' is busy (a process still uses it); it is unmounted once it is free",
					 row->export, row->mountpoint);
		if (r < 0)
			return r;
	}
	if (row->dir_created) {
		r = share_rmdir(ctx, req);
		if (r < 0)
			return r;
	}
	r = share_delete(ctx, row->hash);
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
		r = share_set(ctx, row->hash, LEDGER_MOUNTED, top);
		if (r < 0)
			return r;
		return report_add(rep, row->mountpoint, "adopted",
				  "'%s' was mounted again by someone else (mount id %llu); recorded and kept",
				  row->export, (unsigned long long)top);
	case OBS_NONE:
		r = share_delete(ctx, row->hash);
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
	if (r >= 0)
		r = share_remount(ctx, row, req, true, &id);
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
		if (h == HEALTH_UNPROBED)
			/* No verdict: never remount a share on the ground of a probe that did
			 * not run. */
			return report_add(rep, row->mountpoint, "unprobed",
					  "'%s' could not be probed now (the executor is full); left as it is",
					  row->export);
		if (h != HEALTH_OK)
			return share_remount_unhealthy(ctx, row, req, top, h, err, rep);
	}
	switch (obs) {
	case OBS_OURS:
		if (strcmp(row->state, LEDGER_MOUNTED) != 0) {
			r = share_set(ctx, row->hash, LEDGER_MOUNTED, top);
			if (r < 0)
				return r;
		}
		return report_add(rep, row->mountpoint, "kept", "%zu attachment(s)",
				  row->n_attachments);
	case OBS_MATCH:
		r = share_set(ctx, row->hash, LEDGER_MOUNTED, top);
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
			return ctx_error(ctx, r, VOLMOUNT_ERR_INTERNAL,
					 "cannot name the mountpoint of '%s': %s", row->export,
					 strerror(-r));
		r = asprintf(&mp, "%s/%s", ctx_base(ctx), md5);
	} else
		r = asprintf(&mp, "%s/%s/%s", ctx_base(ctx), row->driver, row->hash);
	if (r < 0)
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
		r = reconcile_used(ctx, row, &req, probe, rep);
	else
		r = reconcile_unused(ctx, row, &req, probe, rep);
	share_req_done(&req);
	return r;
}

/* ---- adoption (nova path scheme) ---- */

/*
 * The mounts Nova's libvirt volume drivers and os-brick make, by filesystem type: the driver
 * whose shares look like that, what the mount's source has in front of the export, and the
 * option an adopted share is recorded with besides the driver's defaults (NULL: none). An NFS
 * mount of type "nfs" is NFSv3, so it is recorded with vers=3 (the default, vers=4.2, expects
 * "nfs4"); cifs needs credentials= or guest, and the credentials file of someone else's mount
 * is not known: "guest". Bind mounts have no type of their own: see adopt_bind().
 */
static const struct {
	const char *fstype;
	const char *driver;
	const char *source_prefix;
	const char *option;
} adopt_types[] = {
	{ "nfs", "nfs", "", "vers=3" },
	{ "nfs4", "nfs", "", NULL },
	{ "fuse.glusterfs", "glusterfs", "", NULL },
	{ "fuse.sshfs", "sshfs", "", NULL },
	{ "cifs", "cifs", "", "guest" },
	{ "ceph", "cephfs", "", NULL },
	{ "fuse.quobyte", "quobyte", "quobyte@", NULL },
};

#define ADOPT_BIND_TRIES 16 /* candidate exports tried for one bind mount (CWE-400) */

static bool path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* <base>/<32 lower-case hex>: where the nova scheme puts a mountpoint. */
static bool is_nova_mountpoint(struct volmount_ctx *ctx, const char *path)
{
	const char *base = ctx_base(ctx);
	size_t n = strlen(base);

	if (strncmp(path, base, n) != 0 || path[n] != '/')
		return false;
	return strlen(path + n + 1) == 32 && strspn(path + n + 1, "0123456789abcdef") == 32;
}

/*
 * Adopt the mount @top at @path as the share (@driver, @export) with the driver's default
 * options (and @option), if that share's nova mountpoint is @path and volmount would mount it
 * exactly so. The share is recorded with the flags the mount really has, as far as options can
 * say them: "ro" and "noexec" when it is mounted so. nosuid and nodev are on for every share
 * volmount mounts and no option lifts them, so a mount without them is not adopted (issue 9,
 * item 8). Returns 1 when adopted (row inserted, reported), 0 when not (*why says why), or
 * -errno.
 */
static int try_adopt(struct volmount_ctx *ctx, const char *driver, const char *export,
		     const char *option, const char *path, const struct kview_mount *top,
		     struct volmount_report *rep, char *why, size_t why_size)
{
	struct share_req req = { .src_fd = -EBADF };
	const char *opts[3];
	size_t n_opts = 0;
	bool flags_only = false;
	char have[64], want[64];
	int r, m;

	if (option)
		opts[n_opts++] = option;
	if (top->mnt_attr & KVIEW_ATTR_RDONLY)
		opts[n_opts++] = "ro";
	if (top->mnt_attr & KVIEW_ATTR_NOEXEC)
		opts[n_opts++] = "noexec";
	r = share_req_init(ctx, driver, export, opts, n_opts, SHARE_REQ_OPEN_SOURCE, &req);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		(void)snprintf(why, why_size, "%s", volmount_ctx_errmsg(ctx));
		ctx_clear_error(ctx);
		return 0;
	}
	r = 0;
	if (strcmp(req.mountpoint, path) != 0) {
		(void)snprintf(why, why_size,
			       "the mountpoint of %s share '%s' is '%s', not this one (the md5 of the export names it)",
			       driver, req.export, req.mountpoint);
		goto out;
	}
	m = share_matches_flags(&req, top, &flags_only);
	if (m < 0 && m != -ENOMEM) {
		(void)snprintf(why, why_size, "cannot compare it with '%s': %s", req.export,
			       strerror(-m));
		goto out;
	}
	if (m < 0) {
		r = m;
		goto out;
	}
	if (m == 0) {
		if (flags_only)
			(void)snprintf(why, why_size,
				       "it is mounted %s, but volmount mounts %s share '%s' %s (nosuid and nodev always)",
				       share_attr_str(top->mnt_attr, have, sizeof(have)), driver,
				       req.export,
				       share_attr_str(share_attr_wanted(&req), want, sizeof(want)));
		else if (req.drv->kind == DRIVER_KIND_HELPER)
			(void)snprintf(why, why_size, "for %s share '%s' volmount would mount %s '%s'",
				       driver, req.export, req.spec.fstype, req.spec.source);
		else
			(void)snprintf(why, why_size, "it is not exactly a bind mount of '%s'",
				       req.export);
		goto out;
	}
	{
		struct ledger_share row = {
			.hash = req.hash,
			.driver = (char *)req.drv->name,
			.export = req.export,
			.mountpoint = req.mountpoint,
			.options = req.opts.canonical,
			.state = (char *)LEDGER_MOUNTED,
			.mount_id = top->mnt_id,
			.dir_created = false, /* not ours: never removed */
			.adopted = true,
		};

		ctx_db_lock(ctx);
		r = ledger_share_insert(ctx->ledger, &row);
		ctx_db_unlock(ctx);
	}
	if (r == -EEXIST) {
		(void)snprintf(why, why_size, "another share of the ledger already has %s",
			       "this export or this mountpoint");
		ctx_clear_error(ctx);
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	r = report_add(rep, path, "adopted",
		       "%s '%s' mounted by someone else is %s share '%s': recorded with options '%s' and kept until its volumes are attached and detached",
		       top->fstype, top->source, driver, req.export, req.opts.canonical);
	if (r >= 0)
		r = 1;
out:
	share_req_done(&req);
	return r;
}

/* A bind mount shows the type and device of its source, and its root within that file system:
 * the export is found through another mount of the same file system, outside the base. */
static int adopt_bind(struct volmount_ctx *ctx, const char *path, const struct kview_mount *top,
		      struct volmount_report *rep, char *why, size_t why_size)
{
	struct kview_mount *all = NULL;
	size_t n = 0, tries = 0;
	int r;

	r = kview_list_under("/", &all, &n);
	if (r < 0)
		return ctx_error(ctx, r, VOLMOUNT_ERR_INTERNAL, "cannot list mounts: %s",
				 strerror(-r));
	{
		/* kview_list_under("/") leaves out "/" itself. */
		struct kview_mount root = {};
		struct kview_mount *more;

		if (kview_at("/", &root) > 0) {
			more = reallocarray(all, n + 1, sizeof(*all));
			if (!more) {
				kview_mount_done(&root);
				kview_mounts_free(all, n);
				return -ENOMEM;
			}
			all = more;
			all[n++] = root;
		}
	}
	(void)snprintf(why, why_size, "%s",
		       "no export outside the base directory shows the same file system and root");
	r = 0;
	for (size_t i = 0; r == 0 && i < n && tries < ADOPT_BIND_TRIES; i++) {
		const struct kview_mount *s = &all[i];
		_cleanup_free_ char *export = NULL;
		const char *rel;
		size_t rl = strlen(s->mnt_root);

		if (s->dev_major != top->dev_major || s->dev_minor != top->dev_minor ||
		    strcmp(s->fstype, top->fstype) != 0 || path_is_under(s->mnt_point, ctx_base(ctx)))
			continue;
		if (strcmp(s->mnt_root, "/") == 0)
			rel = top->mnt_root;
		else if (path_is_under(top->mnt_root, s->mnt_root))
			rel = top->mnt_root + rl;
		else
			continue;
		if (asprintf(&export, "%s%s", strcmp(s->mnt_point, "/") == 0 ? "" : s->mnt_point,
			     strcmp(rel, "/") == 0 ? "" : rel) < 0) {
			r = -ENOMEM;
			break;
		}
		if (!export[0])
			continue; /* "/" itself is no export */
		tries++;
		r = try_adopt(ctx, "bind", export, NULL, path, top, rep, why, why_size);
	}
	kview_mounts_free(all, n);
	return r;
}

/* A mount at a nova mountpoint that no share row accounts for: adopt it if it is exactly one
 * mount and exactly what volmount would mount there; report it as foreign otherwise. */
static int adopt_one(struct volmount_ctx *ctx, const char *path, struct volmount_report *rep)
{
	struct kview_mount top = {};
	char why[1024] = "";
	const char *source;
	int n, r = 0;
	size_t i;

	n = kview_at(path, &top);
	if (n < 0)
		return report_add(rep, path, "failed", "cannot inspect: %s", strerror(-n));
	if (n == 0)
		return 0; /* gone meanwhile */
	if (n > 1) {
		r = report_add(rep, path, "stacked",
			       "several mounts are stacked here, not by volmount; left untouched");
		kview_mount_done(&top);
		return r;
	}
	for (i = 0; i < ELEMENTSOF(adopt_types); i++)
		if (strcmp(top.fstype, adopt_types[i].fstype) == 0)
			break;
	if (i < ELEMENTSOF(adopt_types)) {
		size_t pl = strlen(adopt_types[i].source_prefix);

		source = top.source;
		if (strncmp(source, adopt_types[i].source_prefix, pl) != 0)
			(void)snprintf(why, sizeof(why), "its source does not start with '%s'",
				       adopt_types[i].source_prefix);
		else
			r = try_adopt(ctx, adopt_types[i].driver, source + pl,
				      adopt_types[i].option, path, &top, rep, why, sizeof(why));
	} else
		r = adopt_bind(ctx, path, &top, rep, why, sizeof(why));
	if (r == 0)
		r = report_add(rep, path, "foreign",
			       "%s '%s' is mounted here, but not by volmount, and is not adopted: %s; left untouched",
			       top.fstype, top.source, why);
	else if (r < 0 && r != -ENOMEM)
		/* One mount that cannot be judged must not keep the others from adoption. */
		r = report_failed(ctx, rep, path, r, NULL);
	kview_mount_done(&top);
	return r < 0 ? r : 0;
}

static int cmp_row_mountpoint(const void *key, const void *elem)
{
	return strcmp(key, ((const struct ledger_share *)elem)->mountpoint);
}

int host_reconcile(struct volmount_ctx *ctx, bool new_boot, bool adopt,
		   struct volmount_report *rep)
{
	struct ledger_share *rows = NULL;
	struct kview_mount *mounts = NULL;
	size_t n_rows = 0, n_mounts = 0;
	struct first_failure failed = {};
	int r;

	ctx_db_lock(ctx);
	r = ledger_shares_list(ctx->ledger, &rows, &n_rows);
	ctx_db_unlock(ctx);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_rows; i++) {
		r = reconcile_one(ctx, &rows[i], new_boot, false, rep);
		if (r == -ENOMEM)
			break;
		if (r < 0)
			/* Keep going: one bad share must not keep the others from their state. */
			(void)report_failed(ctx, rep, rows[i].mountpoint, r, &failed);
	}
	if (r != -ENOMEM) {
		r = kview_list_under(ctx_base(ctx), &mounts, &n_mounts);
		if (r < 0)
			r = ctx_error(ctx, r, VOLMOUNT_ERR_INTERNAL, "cannot list mounts: %s",
				      strerror(-r));
	}
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
	ledger_shares_free(rows, n_rows);
	if (r < 0)
		return r;
	return first_failure_result(
		ctx, &failed, "reconcile could not bring every share to its state (see the report)");
}

static int host_set(struct volmount_ctx *ctx, bool up, struct volmount_report **ret_report)
{
	struct volmount_report *rep = NULL;
	uint64_t deadline;
	int fd, r;

	r = report_begin(ctx, ret_report ? &rep : NULL);
	if (r < 0)
		return r;
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
			r = host_reconcile(ctx, strcmp(before.boot_id, ctx->boot_id) != 0, true,
					   rep);
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

	/* Once per context: a boot does not change under a running process. */
	if (__atomic_load_n(&ctx->boot_checked, __ATOMIC_ACQUIRE))
		return 0;
	ctx_db_lock(ctx);
	r = ledger_host_get(ctx->ledger, &h);
	ctx_db_unlock(ctx);
	if (r < 0)
		return r;
	if (strcmp(h.boot_id, ctx->boot_id) == 0) {
		__atomic_store_n(&ctx->boot_checked, true, __ATOMIC_RELEASE);
		return 0;
	}
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
		(void)host_reconcile(ctx, true, false, NULL);
		ctx_clear_error(ctx);
		ctx_db_lock(ctx);
		r = ledger_host_set(ctx->ledger, NULL, false, ctx->boot_id);
		ctx_db_unlock(ctx);
		if (r >= 0)
			__atomic_store_n(&ctx->boot_checked, true, __ATOMIC_RELEASE);
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
	lock_share_release(ctx, hash, share_fd);
	lock_release(host_fd);
	return r;
}
