/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kview.h - the kernel's view of what is mounted, by mount id.
 *
 * Two back-ends: statx(STATX_MNT_ID_UNIQUE) + statmount(2)/listmount(2) on kernels that have them
 * (6.8+), libmount's parsing of /proc/self/mountinfo otherwise. Nothing here ever calls
 * stat/statfs/open on a path inside a mount: the only path-based call is
 * statx(AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC), which the kernel answers from cached
 * attributes and which does not block even on a hung FUSE mount.
 *
 * The only file that includes <libmount.h>.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kview_mount {
	uint64_t mnt_id;    /* unique id (statmount back-end) or mountinfo id (fallback) */
	uint64_t parent_id; /* same id space as mnt_id */
	uint32_t dev_major, dev_minor;
	uint64_t mnt_attr; /* per-mount flags as MOUNT_ATTR_* bits, the same from both back-ends:
			    * RDONLY, NOSUID, NODEV, NOEXEC, the atime mode, NODIRATIME and
			    * NOSYMFOLLOW (KVIEW_ATTR_MASK); never the superblock's flags */
	char *fstype;    /* "ext4", "tmpfs", "fuse.sshfs" (type and subtype joined with '.') */
	char *source;    /* superblock source as mountinfo shows it ("/dev/vda", "127.0.0.2:/tvol") */
	char *mnt_root;  /* root of the mount within its filesystem ("/", "/srv/a" for a bind) */
	char *mnt_point; /* where it is mounted, as seen from this process's root */
};

/* The MOUNT_ATTR_* bits struct kview_mount.mnt_attr may hold (linux/mount.h values). */
#define KVIEW_ATTR_RDONLY      0x00000001ULL
#define KVIEW_ATTR_NOSUID      0x00000002ULL
#define KVIEW_ATTR_NODEV       0x00000004ULL
#define KVIEW_ATTR_NOEXEC      0x00000008ULL
#define KVIEW_ATTR_NOATIME     0x00000010ULL
#define KVIEW_ATTR_STRICTATIME 0x00000020ULL
#define KVIEW_ATTR_NODIRATIME  0x00000080ULL
#define KVIEW_ATTR_NOSYMFOLLOW 0x00200000ULL
#define KVIEW_ATTR_MASK                                                                           \
	(KVIEW_ATTR_RDONLY | KVIEW_ATTR_NOSUID | KVIEW_ATTR_NODEV | KVIEW_ATTR_NOEXEC |            \
	 KVIEW_ATTR_NOATIME | KVIEW_ATTR_STRICTATIME | KVIEW_ATTR_NODIRATIME |                     \
	 KVIEW_ATTR_NOSYMFOLLOW)

void kview_mount_done(struct kview_mount *m); /* frees the strings; NULL-safe, idempotent */

enum kview_backend {
	KVIEW_BACKEND_AUTO,      /* statmount if the kernel has it, else mountinfo */
	KVIEW_BACKEND_STATMOUNT,
	KVIEW_BACKEND_MOUNTINFO,
};

/* Choose the back-end for this process (tests force MOUNTINFO to cover the fallback).
 * Returns -EOPNOTSUPP if STATMOUNT is asked for and the kernel lacks it. */
int kview_set_backend(enum kview_backend b);
/* The back-end in effect after AUTO was resolved. */
enum kview_backend kview_get_backend(void);

/*
 * kview_at() - how many mounts sit exactly at @path (absolute, normalized, no symlinks),
 * and the topmost one.
 * Returns the count (0 when @path is not a mountpoint or does not exist; 2 or more when
 * mounts are stacked) and, when the count is > 0 and @ret_top is not NULL, fills *ret_top
 * (caller calls kview_mount_done()). Returns -errno on failure (ELOOP if @path's last
 * component is a symlink).
 */
int kview_at(const char *path, struct kview_mount *ret_top);

/*
 * kview_at_id() - as kview_at(), but only the count and the top mount's id (in the back-end's
 * id space), fetched without formatting the other fields: the cheap form of "is exactly our
 * mount there?".
 */
int kview_at_id(const char *path, uint64_t *ret_top_id);

/*
 * kview_at_in(), kview_at_id_in() - the same for the entry @name of the directory @dfd, whose
 * mount point the kernel reports as @path: the mount is found from the fd, so nothing above
 * @dfd is looked up again (the mountinfo back-end of old kernels still compares @path with
 * the table, having no other key).
 */
int kview_at_in(int dfd, const char *name, const char *path, struct kview_mount *ret_top);
int kview_at_id_in(int dfd, const char *name, const char *path, uint64_t *ret_top_id);
/*
 * kview_at_id_under() - kview_at_id_in() for one of many entries of @dfd, whose own mount id
 * the caller read once with kview_id_of_fd() (@dir_id; 0: read it now): one statx and one
 * statmount per entry.
 */
int kview_at_id_under(int dfd, uint64_t dir_id, const char *name, const char *path,
		      uint64_t *ret_top_id);

/*
 * kview_fd_mnt_id() - the unique id of the mount @fd is on (statmount back-end only, else
 * -EOPNOTSUPP).
 */
int kview_fd_mnt_id(int fd, uint64_t *ret_id);

/*
 * kview_at_id_on() - the quickest form of "is exactly one mount at @rel (relative to @dfd),
 * mounted directly on the mount @parent_id?", in two calls: 1 with its id in *ret_top_id when
 * the top mount at @rel is a mount root whose parent is @parent_id (then it is the only mount
 * there: the mount it would have to be stacked on, @parent_id itself, cannot be moved inside
 * its own tree); 0 when nothing is mounted there; 2 when it cannot tell (another parent, a
 * symlink as last component, no statmount): ask kview_at_id(). Directories on the way are
 * looked up as statx() does: @rel must lie below directories the caller made and keeps.
 */
int kview_at_id_on(int dfd, const char *rel, uint64_t parent_id, uint64_t *ret_top_id);

/*
 * kview_of_fd() - the mount that contains the object @fd refers to (any fd, O_PATH included).
 */
int kview_of_fd(int fd, struct kview_mount *ret);

/* kview_id_of_fd() - only the id of that mount (one statx, in the back-end's id space). */
int kview_id_of_fd(int fd, uint64_t *ret_id);

/*
 * kview_by_id() - the mount with id @mnt_id. Returns -ENOENT if there is none.
 */
int kview_by_id(uint64_t mnt_id, struct kview_mount *ret);

/*
 * kview_list_under() - every mount whose mount point is strictly below the directory @prefix
 * (so "/a/b" matches "/a/b/c", not "/a/bc" nor "/a/b" itself), in mount order.
 * Sets *ret (array, caller frees each with kview_mount_done() and the array with free())
 * and *ret_n. Used by reconcile; cost is linear in the mount table.
 */
int kview_list_under(const char *prefix, struct kview_mount **ret, size_t *ret_n);

/* Free an array from kview_list_under(). */
void kview_mounts_free(struct kview_mount *m, size_t n);
