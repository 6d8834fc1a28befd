/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine/request.h - see request.c. Engine-internal: included by lib/engine/ only. */
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

/*
 * A request resolved to a share. The share's identity is @hash (the ledger key and the name of
 * its lock file) whatever the path scheme; the scheme only names the mountpoint:
 *   volmount: <base>/<driver>/<hash>  (subdir = the driver's name, leaf = hash)
 *   nova:     <base>/<md5 hex>        (subdir = NULL: the base itself, leaf = md5 of export)
 */
struct share_req {
	const struct driver *drv;
	char *export;       /* normalized (bind: parent directory resolved) */
	char hash[65];      /* sha256 hex of "driver\0export" */
	const char *subdir; /* the mountpoint's parent under the base (static), or NULL */
	char leaf[65];      /* the mountpoint's own name */
	char *mountpoint;   /* <base>[/<subdir>]/<leaf> */
	struct driver_opts opts;
	int src_fd;       /* bind: O_PATH of the source directory, or -EBADF */
	struct driver_mount_spec spec; /* helper drivers, once options are known: argv and
					* the mount table entry the helper must produce */
	bool lexical; /* bind, SHARE_REQ_LEXICAL: the export as given, not resolved yet */
};

/* Name the share of @req->drv and @req->export: fill hash, subdir, leaf and mountpoint (under
 * the context's base, by its path scheme). */
int share_req_name(struct volmount_ctx *ctx, struct share_req *req);

/* Does the mount @m look exactly like what mounting @req produces (helper drivers: fstype and
 * source; bind: device, fstype and root of the open source; and, once @req's options are known,
 * the per-mount flags they set: ro, nosuid, nodev, noexec)? 1 yes, 0 no, or -errno. */
int share_matches(const struct share_req *req, const struct kview_mount *m);

/* As share_matches(); on 0, *ret_flags_only says that only the flags differ (the mount is of
 * the right file system and source, but mounted e.g. rw where the options ask for ro). */
int share_matches_flags(const struct share_req *req, const struct kview_mount *m,
			bool *ret_flags_only);

/* The per-mount flags share_matches() compares, and those @req's options set among them. */
#define SHARE_ATTR_CHECKED \
	(KVIEW_ATTR_RDONLY | KVIEW_ATTR_NOSUID | KVIEW_ATTR_NODEV | KVIEW_ATTR_NOEXEC)

uint64_t share_attr_wanted(const struct share_req *req);

/* "ro,nosuid,nodev": @attr's checked flags in words (always "ro" or "rw" first). */
const char *share_attr_str(uint64_t attr, char *buf, size_t size);

/* Parse a share's canonical option string into @req (opts and, for helper drivers, spec).
 * Used when the options come from the ledger rather than the caller. */
int share_req_load_options(struct volmount_ctx *ctx, struct share_req *req, const char *canonical);

void share_req_done(struct share_req *req);

enum {
	/* Attach: the bind source directory must exist, is opened O_PATH|O_NOFOLLOW and kept in
	 * ret->src_fd; without it a missing source only means the export cannot be resolved
	 * further than lexically. */
	SHARE_REQ_OPEN_SOURCE = 1 << 0,
	/* Detach: name a bind share by the export as given (lexically normalized), without
	 * resolving its parent directories; share_req_resolve() does that later if needed. */
	SHARE_REQ_LEXICAL = 1 << 1,
};

/*
 * Validate @driver and @export and fill @ret (@flags: SHARE_REQ_*). @opts may be NULL (no
 * option check). Errors are INPUT (65).
 */
int share_req_init(struct volmount_ctx *ctx, const char *driver, const char *export,
		   const char *const *opts, size_t n_opts, unsigned flags, struct share_req *ret);

/* A SHARE_REQ_LEXICAL request, resolved and named as without that flag: 1 when that names
 * another share than before, 0 when the same one (or it was not lexical), or -errno (set). */
int share_req_resolve(struct volmount_ctx *ctx, struct share_req *req);

/* Rebuild the request of a ledger row (for host-up); opens the source. */
int share_req_from_row(struct volmount_ctx *ctx, const struct ledger_share *row,
		       struct share_req *ret);

/* <base>[/<subdir>]/<leaf> */
int mountpoint_under(const char *base, const struct share_req *req, char **ret);

/* (Re)place the named share's mountpoint under the context's base as it is now. */
int share_req_place(struct volmount_ctx *ctx, struct share_req *req);

/*
 * Requests are validated before the context is opened (invariant 6: a rejected request does
 * not even create volmount's own directories), so their mountpoint was named under the base
 * as configured. Once open, name it under the canonical base, and check the bind source
 * against volmount's directories again now that those are canonical too.
 */
int share_req_rebase(struct volmount_ctx *ctx, struct share_req *req);

unsigned long attr_flags(unsigned long ms);
