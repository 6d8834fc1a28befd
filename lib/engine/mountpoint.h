/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine/mountpoint.h - see mountpoint.c. Engine-internal: included by lib/engine/ only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>

#include "driver.h"
#include "kview.h"
#include "volmount.h"
#include "engine/request.h"

struct volmount_ctx;
struct ledger_share;
struct volmount_report;

/* A path under a pinned directory, for the calls that take only a name (umount2): the
 * kernel resolves "/proc/self/fd/<dfd>" to that very directory, then looks up @leaf in it. */
struct pinned_name {
	char s[sizeof("/proc/self/fd//") + 3 * sizeof(int) + NAME_MAX + 1];
};

enum observed {
	OBS_NONE,    /* nothing mounted at the mountpoint */
	OBS_OURS,    /* exactly one mount, and its id is the one recorded */
	OBS_MATCH,   /* exactly one mount, not the recorded id, but of the expected type/source */
	OBS_FOREIGN, /* exactly one mount of something else */
	OBS_STACKED, /* more than one mount */
};

/*
 * What the kernel has at @mountpoint compared with @recorded_id, and (when @req has an open
 * source) with what the driver expects. *ret_id receives the top mount's id (0 if none).
 */
int share_observe(struct volmount_ctx *ctx, const char *mountpoint, uint64_t recorded_id,
		  const struct share_req *req, uint64_t *ret_id);

/*
 * Make sure the mountpoint directory can take a mount: not a symlink, not a mountpoint, empty.
 * Creates nothing. Sets *ret_exists. Errors are MOUNTPOINT (73).
 */
int share_check_mountpoint(struct volmount_ctx *ctx, const struct share_req *req,
			   bool *ret_exists);

/* Create the mountpoint directory (0700, whatever the umask). */
int share_mkdir(struct volmount_ctx *ctx, const struct share_req *req);

/* Remove the mountpoint directory (only ever called for directories we created). */
/* A share whose mount is gone for good: remove its directory if volmount created it, then
 * forget its row (and attachments). */
int share_forget(struct volmount_ctx *ctx, const struct ledger_share *row,
		 const struct share_req *req);
int share_rmdir(struct volmount_ctx *ctx, const struct share_req *req);

/* Tests only (NULL otherwise): called by a first attach between its check of the mountpoint
 * and share_mount(); in share_mount() once the mountpoint fd is open and checked, before the
 * mount; after a bind mount, before it is verified; and by the repair of an unhealthy share
 * before it unmounts it. */
extern void (*share_test_after_check)(const char *mountpoint);

extern void (*share_test_before_mount)(const char *mountpoint);

extern void (*share_test_before_verify)(const char *mountpoint);

extern void (*share_test_before_unmount)(const char *mountpoint);

/*
 * The directory that holds @mountpoint, one of ours (<base>/<driver>/<leaf>, or <base>/<leaf>
 * with the nova scheme), opened from the pinned base directory without following a symlink
 * and checked like open_parent_dir() does; *ret_leaf points into @mountpoint. Everything that
 * looks at or unmounts a mountpoint starts from this fd, so no name above the leaf is looked up
 * again. Returns the fd, -ENOENT (no such directory: nothing can be mounted there; no error
 * recorded), -EXDEV (not a mountpoint of this base; no error recorded), or another error.
 */
int mp_parent_open(struct volmount_ctx *ctx, const char *mountpoint, const char **ret_leaf);

/* The directories that hold many mountpoints (one per driver, or the base), each opened,
 * checked and looked at once: what share_observe_cached() keeps between calls. */
struct mp_dir {
	char sub[256];	/* NAME_MAX + 1: the entry of the base ("." for the base itself) */
	int fd;		/* mp_parent_open()'s fd, or its -errno */
	uint64_t mnt_id; /* the mount that holds it (0: unknown) */
};
struct mp_dirs {
	struct mp_dir dir[16];
	size_t n;
};
void mp_dirs_done(struct mp_dirs *d);
/*
 * share_observe() without a request (so never OBS_MATCH), for one of many mountpoints: the
 * parent directory is opened, checked and looked at once per @dirs (start zeroed; then
 * mp_dirs_done()), so a mountpoint costs one statx and one statmount.
 */
int share_observe_cached(struct volmount_ctx *ctx, struct mp_dirs *dirs, const char *mountpoint,
			 uint64_t recorded_id);

/* share_observe() at the entry @leaf of the pinned directory @dfd (or by name if @dfd < 0). */
int observe_at(struct volmount_ctx *ctx, int dfd, const char *leaf, const char *mountpoint,
		      uint64_t recorded_id, const struct share_req *req, uint64_t *ret_id);

/*
 * Open the directory that holds @req's mountpoint: <base>/<driver> (created 0755 with
 * @create), or with the nova scheme the base itself. Either way it must be ours and not
 * writable by group or others (CWE-732): whoever can write there could swap a mountpoint
 * between check and mount.
 */
int open_parent_dir(struct volmount_ctx *ctx, const struct share_req *req, bool create);

/* The mountpoint's parent directory if it exists (-ENOENT if not, with no error recorded). */
int parent_dir_if_any(struct volmount_ctx *ctx, const struct share_req *req);

const char *pinned_name(struct pinned_name *p, int dfd, const char *leaf);

/*
 * The checks of a mountpoint directory, on the fd @fd (opened O_RDONLY|O_DIRECTORY|O_NOFOLLOW
 * in the pinned directory @dfd) that will then be mounted on: nothing mounted on it (its mount
 * is @dfd's), empty, and ours (root-owned 0700, taken over on the fd if it was not).
 */
int check_mountpoint_fd(struct volmount_ctx *ctx, const struct share_req *req, int dfd,
			       int fd);

/* Open the mountpoint directory in @dfd for check_mountpoint_fd() and the mount. */
int open_mountpoint(struct volmount_ctx *ctx, const struct share_req *req, int dfd);

/* share_check_mountpoint() with the parent directory @dfd open, or -ENOENT if it is missing. */
int check_mountpoint_at(struct volmount_ctx *ctx, const struct share_req *req, int dfd,
			       bool *ret_exists);

int mkdir_at(struct volmount_ctx *ctx, const struct share_req *req, int dfd);
