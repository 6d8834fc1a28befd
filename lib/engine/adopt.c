/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * adopt.c - adoption (nova path scheme): a mount Nova or os-brick made, taken over by host-up
 * when it is exactly what volmount would mount.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/adopt.h"
#include "engine/request.h"
#include "engine/report.h"
#include "internal.h"
#include "kview.h"
#include "ledger.h"
#include "cleanup.h"
#include "path-util.h"
#include "errno-util.h"

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

/* <base>/<32 lower-case hex>: where the nova scheme puts a mountpoint. */
bool is_nova_mountpoint(struct volmount_ctx *ctx, const char *path)
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
		error_clear();
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
			       errno_str(m));
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

		r = ledger_share_insert(ctx->ledger, &row);
	}
	if (r == -EEXIST) {
		(void)snprintf(why, why_size, "another share of the ledger already has %s",
			       "this export or this mountpoint");
		error_clear();
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
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "cannot list mounts: %s",
				 errno_str(r));
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
int adopt_one(struct volmount_ctx *ctx, const char *path, struct volmount_report *rep)
{
	struct kview_mount top = {};
	char why[1024] = "";
	const char *source;
	int n, r = 0;
	size_t i;

	n = kview_at(path, &top);
	if (n < 0)
		return report_add(rep, path, "failed", "cannot inspect: %s", errno_str(n));
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
