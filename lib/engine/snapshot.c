/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapshot.c - a read-only picture of the ledger joined with what the kernel shows at each
 * mountpoint. Takes no lock (readers never wait behind a slow mount) and never touches a path
 * inside a mount: the state comes from mount ids only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/mountpoint.h"
#include "engine/probe.h"
#include "engine/host.h"
#include "internal.h"
#include "ledger.h"
#include "cleanup.h"

struct snap_share {
	struct ledger_share row;
	const char *state;
	int err;
	int64_t probe_us;
	struct ledger_attachment *att; /* into volmount_snapshot.atts */
	size_t n_att;
};

struct volmount_snapshot {
	char host_state[8];
	uint64_t generation;
	struct snap_share *s;
	size_t n;
	struct ledger_attachment *atts; /* every share's, in one array (ledger_read_all()) */
	size_t n_atts;
};

VOLMOUNT_EXPORT void volmount_snapshot_free(struct volmount_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		ledger_share_done(&s->s[i].row);
	ledger_attachments_free(s->atts, s->n_atts);
	free(s->s);
	free(s);
}

/*
 * Observed state of one share (see volmount.h for the words); for "unknown", *ret_err is the
 * errno that kept it from being observed (check says why). A share that is mounted but has
 * no attachment is "unused": what a last detach leaves when its unmount met EBUSY (a process
 * still had its cwd or a file inside). Nothing should be mounted for it, so it is not healthy,
 * and repair unmounts it once it is free. An adopted share is the documented exception: it is
 * kept mounted for the host's consumers until its volumes are attached again.
 */
static const char *observe_state(struct volmount_ctx *ctx, struct mp_dirs *dirs,
				 const struct ledger_share *row, bool ids_ours, int *ret_err)
{
	/* A mount id recorded in another boot names no mount of ours in this one, though a
	 * mount of this boot may carry it (until the first call reconciles, host_check_boot()):
	 * a mount is then never "ours" by its id. */
	int obs = share_observe_cached(ctx, dirs, row->mountpoint, ids_ours ? row->mount_id : 0);

	switch (obs) {
	case OBS_NONE:
		return row->n_attachments > 0 ? "missing" : "unmounted";
	case OBS_OURS:
		return row->n_attachments > 0 || row->adopted ? "mounted" : "unused";
	case OBS_STACKED:
		return "stacked";
	case OBS_FOREIGN:
	case OBS_MATCH:
		return "foreign";
	default:
		*ret_err = obs < 0 ? -obs : EIO;
		return "unknown";
	}
}

VOLMOUNT_EXPORT int volmount_snapshot_new(struct volmount_ctx *ctx, struct volmount_snapshot **ret)
{
	return volmount_snapshot_new_ex(ctx, 0, ret);
}

/* Probe every share observed as mounted, all at once; stale and hung replace "mounted". */
static int probe_all(struct volmount_ctx *ctx, struct volmount_snapshot *s)
{
	_cleanup_free_ const char **paths = calloc(s->n ? s->n : 1, sizeof(*paths));
	_cleanup_free_ size_t *idx = calloc(s->n ? s->n : 1, sizeof(*idx));
	_cleanup_free_ enum health *h = calloc(s->n ? s->n : 1, sizeof(*h));
	_cleanup_free_ int *err = calloc(s->n ? s->n : 1, sizeof(*err));
	_cleanup_free_ int64_t *us = calloc(s->n ? s->n : 1, sizeof(*us));
	size_t m = 0;

	if (!paths || !idx || !h || !err || !us)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->s[i].state, "mounted") == 0) {
			idx[m] = i;
			paths[m++] = s->s[i].row.mountpoint;
		}
	(void)health_probe_many(ctx, paths, m, h, err, us);
	for (size_t k = 0; k < m; k++) {
		struct snap_share *sh = &s->s[idx[k]];

		sh->err = err[k];
		sh->probe_us = us[k];
		if (h[k] == HEALTH_STALE)
			sh->state = "stale";
		else if (h[k] == HEALTH_HUNG)
			sh->state = "hung";
		else if (h[k] == HEALTH_UNPROBED)
			sh->state = "unprobed";
	}
	return 0;
}

/*
 * Design (issue 11: check of 10,000 shares in well under a second, the cost per share flat):
 * three ledger statements in one read transaction whatever the number of shares; each parent
 * directory opened, checked and looked at once, so a share costs one statx and one statmount;
 * then one probe worker for every mounted share (probe.c).
 */
VOLMOUNT_EXPORT int volmount_snapshot_new_ex(struct volmount_ctx *ctx, uint64_t flags,
					     struct volmount_snapshot **ret)
{
	_cleanup_free_ size_t *first = NULL;
	struct mp_dirs dirs = { .n = 0 };
	struct volmount_snapshot *s;
	struct ledger_share *rows = NULL;
	struct ledger_host h;
	size_t n = 0;
	int r;

	if (!ctx || !ret || (flags & ~VOLMOUNT_SNAPSHOT_PROBE))
		return -EINVAL;
	error_clear();
	r = ctx_open(ctx);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	r = ledger_read_all(ctx->ledger, &h, &rows, &n, &s->atts, &first);
	if (r >= 0) {
		s->n_atts = first[n];
		s->s = calloc(n ? n : 1, sizeof(*s->s));
		if (!s->s)
			r = -ENOMEM;
	}
	if (r < 0) {
		ledger_shares_free(rows, n);
		volmount_snapshot_free(s);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		s->s[i].row = rows[i];
		s->s[i].att = s->atts + first[i];
		s->s[i].n_att = first[i + 1] - first[i];
	}
	s->n = n;
	free(rows); /* the strings now belong to s */
	memcpy(s->host_state, h.state, sizeof(s->host_state));
	s->generation = h.generation;
	for (size_t i = 0; i < s->n; i++) {
		s->s[i].state = observe_state(ctx, &dirs, &s->s[i].row,
					      boot_is_ours(h.boot_id, ctx->boot_id), &s->s[i].err);
		s->s[i].probe_us = -1;
	}
	mp_dirs_done(&dirs);
	error_clear(); /* an observation failure is reported as the state "unknown" */
	if (flags & VOLMOUNT_SNAPSHOT_PROBE) {
		r = probe_all(ctx, s);
		if (r < 0) {
			volmount_snapshot_free(s);
			return r;
		}
	}
	*ret = s;
	return 0;
}

#define SHARE(s, i) ((s) && (i) < (s)->n)

VOLMOUNT_EXPORT const char *volmount_snapshot_host_state(const struct volmount_snapshot *s)
{
	return s ? s->host_state : NULL;
}

VOLMOUNT_EXPORT uint64_t volmount_snapshot_generation(const struct volmount_snapshot *s)
{
	return s ? s->generation : 0;
}

VOLMOUNT_EXPORT size_t volmount_snapshot_n_shares(const struct volmount_snapshot *s)
{
	return s ? s->n : 0;
}

VOLMOUNT_EXPORT const char *volmount_snapshot_share_driver(const struct volmount_snapshot *s,
							   size_t i)
{
	return SHARE(s, i) ? s->s[i].row.driver : NULL;
}

VOLMOUNT_EXPORT const char *volmount_snapshot_share_export(const struct volmount_snapshot *s,
							   size_t i)
{
	return SHARE(s, i) ? s->s[i].row.export : NULL;
}

VOLMOUNT_EXPORT const char *volmount_snapshot_share_mountpoint(const struct volmount_snapshot *s,
							       size_t i)
{
	return SHARE(s, i) ? s->s[i].row.mountpoint : NULL;
}

VOLMOUNT_EXPORT const char *volmount_snapshot_share_options(const struct volmount_snapshot *s,
							    size_t i)
{
	return SHARE(s, i) ? s->s[i].row.options : NULL;
}

VOLMOUNT_EXPORT const char *volmount_snapshot_share_state(const struct volmount_snapshot *s,
							  size_t i)
{
	return SHARE(s, i) ? s->s[i].state : NULL;
}

VOLMOUNT_EXPORT uint64_t volmount_snapshot_share_mount_id(const struct volmount_snapshot *s,
							  size_t i)
{
	return SHARE(s, i) ? s->s[i].row.mount_id : 0;
}

VOLMOUNT_EXPORT bool volmount_snapshot_share_adopted(const struct volmount_snapshot *s, size_t i)
{
	return SHARE(s, i) ? s->s[i].row.adopted : false;
}

VOLMOUNT_EXPORT size_t volmount_snapshot_share_n_attachments(const struct volmount_snapshot *s,
							     size_t i)
{
	return SHARE(s, i) ? s->s[i].n_att : 0;
}

VOLMOUNT_EXPORT const char *volmount_snapshot_attachment_volume(const struct volmount_snapshot *s,
								size_t i, size_t j)
{
	return SHARE(s, i) && j < s->s[i].n_att ? s->s[i].att[j].volume : NULL;
}

VOLMOUNT_EXPORT const char *volmount_snapshot_attachment_owner(const struct volmount_snapshot *s,
							       size_t i, size_t j)
{
	return SHARE(s, i) && j < s->s[i].n_att ? s->s[i].att[j].owner : NULL;
}

VOLMOUNT_EXPORT int volmount_snapshot_share_errno(const struct volmount_snapshot *s, size_t i)
{
	return SHARE(s, i) ? s->s[i].err : 0;
}

VOLMOUNT_EXPORT int64_t volmount_snapshot_share_probe_us(const struct volmount_snapshot *s,
							 size_t i)
{
	return SHARE(s, i) ? s->s[i].probe_us : -1;
}
