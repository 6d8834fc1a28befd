/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kview.c - the kernel's view of what is mounted: which mounts sit at a path, which mount holds an
 * fd, what a mount id names, and which mounts lie below a directory. It owns the two back-ends
 * (statx(STATX_MNT_ID_UNIQUE) + statmount(2)/listmount(2), and libmount's parsing of
 * /proc/self/mountinfo) and the one-time probe that picks between them. It is the only file that
 * includes <libmount.h>. It must never stat, statfs or open anything inside a mount (a hung FUSE
 * or network server would hang us): its only path-based call is statx(AT_SYMLINK_NOFOLLOW |
 * AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT), answered from cached attributes. It keeps no shared
 * mutable state but the back-end choice; buffers and libmount tables are per call, so any number
 * of threads may call in at once.
 *
 * (1) Both back-ends answer in the same terms for the same mount: fstype is type[.subtype],
 *     source/mnt_root/mnt_point are unescaped, dev is the superblock's device. Only the id space
 *     differs (64-bit unique ids vs mountinfo ids), and ids of one back-end mean nothing to the
 *     other.
 * (2) A mount whose mount point is not reachable from our root (the namespace's rootfs, mounts
 *     outside a chroot) does not exist for us: mountinfo omits it, and so do we with statmount.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <dlfcn.h>
#include <libmount.h>
#include <pthread.h>

#include "kview.h"
#include "cleanup.h"
#include "array-util.h"

/*
 * The build headers are Linux 6.1; statmount/listmount arrived in 6.8, sb_source and fs_subtype in
 * 6.13. The structures get names of our own: newer uapi and libc headers define struct statmount
 * too, possibly in an older layout, and we want exactly this one.
 * FIXME: use <linux/mount.h> once the oldest build host ships 6.13+ uapi headers.
 */
#ifndef __NR_statmount
#define __NR_statmount 457 /* same number on every architecture but alpha */
#endif
#ifndef __NR_listmount
#define __NR_listmount 458
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U
#endif
#ifndef STATMOUNT_SB_BASIC
#define STATMOUNT_SB_BASIC 0x00000001U
#endif
#ifndef STATMOUNT_MNT_BASIC
#define STATMOUNT_MNT_BASIC 0x00000002U
#endif
#ifndef STATMOUNT_MNT_ROOT
#define STATMOUNT_MNT_ROOT 0x00000008U
#endif
#ifndef STATMOUNT_MNT_POINT
#define STATMOUNT_MNT_POINT 0x00000010U
#endif
#ifndef STATMOUNT_FS_TYPE
#define STATMOUNT_FS_TYPE 0x00000020U
#endif
#ifndef STATMOUNT_FS_SUBTYPE
#define STATMOUNT_FS_SUBTYPE 0x00000100U
#endif
#ifndef STATMOUNT_SB_SOURCE
#define STATMOUNT_SB_SOURCE 0x00000200U
#endif
#ifndef LSMT_ROOT
#define LSMT_ROOT 0xffffffffffffffffULL
#endif
#ifndef MNT_ID_REQ_SIZE_VER0
#define MNT_ID_REQ_SIZE_VER0 24U
#endif

struct kv_mnt_id_req {
	uint32_t size;
	uint32_t spare;
	uint64_t mnt_id;
	uint64_t param;
	uint64_t mnt_ns_id; /* VER1 only; we send VER0 */
};

struct kv_statmount {
	uint32_t size;
	uint32_t mnt_opts;
	uint64_t mask;
	uint32_t sb_dev_major, sb_dev_minor;
	uint64_t sb_magic;
	uint32_t sb_flags;
	uint32_t fs_type;
	uint64_t mnt_id, mnt_parent_id;
	uint32_t mnt_id_old, mnt_parent_id_old;
	uint64_t mnt_attr, mnt_propagation, mnt_peer_group, mnt_master, propagate_from;
	uint32_t mnt_root, mnt_point;
	uint64_t mnt_ns_id;
	uint32_t fs_subtype, sb_source, opt_num, opt_array, opt_sec_num, opt_sec_array;
	uint64_t supported_mask;
	uint32_t mnt_uidmap_num, mnt_uidmap, mnt_gidmap_num, mnt_gidmap;
	uint64_t spare2[43];
	char str[]; /* string fields above are offsets into this */
};

_Static_assert(offsetof(struct kv_statmount, str) == 512, "struct statmount layout");
_Static_assert(offsetof(struct kv_mnt_id_req, mnt_ns_id) == MNT_ID_REQ_SIZE_VER0, "mnt_id_req layout");

#define SM_MASK_WALK (STATMOUNT_MNT_BASIC | STATMOUNT_MNT_POINT)
#define SM_MASK_FULL                                                                              \
	(STATMOUNT_SB_BASIC | STATMOUNT_MNT_BASIC | STATMOUNT_MNT_ROOT | STATMOUNT_MNT_POINT |       \
	 STATMOUNT_FS_TYPE | STATMOUNT_FS_SUBTYPE | STATMOUNT_SB_SOURCE)
/* The kernel leaves out empty strings: no subtype, or no mount point when unreachable (2). */
#define SM_MASK_NEEDED (SM_MASK_FULL & ~(STATMOUNT_FS_SUBTYPE | STATMOUNT_MNT_POINT))

#define SM_BUF_MIN ((size_t)4096)
#define SM_BUF_MAX ((size_t)1024 * 1024)
#define LM_PAGE 4096            /* ids per listmount() call */
#define LIST_MAX (1024 * 1024)  /* mounts per kview_list_under() answer */
#define STACK_MAX 256           /* mounts counted at one path */
#define AT_RETRIES 3            /* statx/statmount races with an umount */

#define MOUNTINFO_PATH "/proc/self/mountinfo"
#define STATX_FLAGS (AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT)

/* ---- back-end choice ---- */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool probe_statmount_ok; /* written once, inside probe_once */
static _Atomic int backend_forced = KVIEW_BACKEND_AUTO;

/* ---- statmount back-end ---- */

struct smbuf {
	struct kv_statmount *sm;
	size_t size;
};

static void smbuf_done(struct smbuf *b)
{
	free(b->sm);
	b->sm = NULL;
	b->size = 0;
}

static int sm_fetch(struct smbuf *b, uint64_t mnt_id, uint64_t mask)
{
	struct kv_mnt_id_req req = {
		.size = MNT_ID_REQ_SIZE_VER0,
		.mnt_id = mnt_id,
		.param = mask,
	};

	if (!b->sm) {
		b->sm = malloc(SM_BUF_MIN);
		if (!b->sm)
			return -ENOMEM;
		b->size = SM_BUF_MIN;
	}

	/* Grows 4 KiB -> 1 MiB by doubling: at most nine calls. */
	for (;;) {
		struct kv_statmount *n;

		if (syscall(__NR_statmount, &req, b->sm, b->size, 0) >= 0)
			break;
		if (errno != EOVERFLOW)
			return -errno;
		if (b->size >= SM_BUF_MAX)
			return -EOVERFLOW;
		n = malloc(b->size * 2);
		if (!n)
			return -ENOMEM;
		free(b->sm);
		b->sm = n;
		b->size *= 2;
	}

	if (b->sm->size < offsetof(struct kv_statmount, str) || b->sm->size > b->size)
		return -EBADMSG;
	return 0;
}

/* The string at offset @off of the last answer, or NULL if the kernel did not set @flag. */
static const char *sm_str(const struct smbuf *b, uint64_t flag, uint32_t off)
{
	size_t avail = b->sm->size - offsetof(struct kv_statmount, str);

	if (!(b->sm->mask & flag) || off >= avail || !memchr(b->sm->str + off, 0, avail - off))
		return NULL;
	return b->sm->str + off;
}

static int mount_fill(struct kview_mount *ret, uint64_t id, uint64_t parent_id, unsigned maj,
		      unsigned min, uint64_t attr, const char *type, const char *subtype,
		      const char *source, const char *root, const char *point)
{
	_cleanup_(kview_mount_done) struct kview_mount m = {
		.mnt_id = id,
		.parent_id = parent_id,
		.dev_major = maj,
		.dev_minor = min,
		.mnt_attr = attr & KVIEW_ATTR_MASK,
	};

	if (subtype && subtype[0]) {
		if (asprintf(&m.fstype, "%s.%s", type, subtype) < 0)
			m.fstype = NULL;
	} else
		m.fstype = strdup(type);
	m.source = strdup(source);
	m.mnt_root = strdup(root);
	m.mnt_point = strdup(point);
	if (!m.fstype || !m.source || !m.mnt_root || !m.mnt_point)
		return -ENOMEM;

	*ret = m;
	m = (struct kview_mount){ 0 };
	return 0;
}

/* -ENOENT if the mount is not visible from our root (2). */
static int sm_to_mount(const struct smbuf *b, struct kview_mount *ret)
{
	const struct kv_statmount *sm = b->sm;
	const char *type, *subtype, *source, *root, *point;

	point = sm_str(b, STATMOUNT_MNT_POINT, sm->mnt_point);
	if (!point)
		return -ENOENT;
	if ((sm->mask & SM_MASK_NEEDED) != SM_MASK_NEEDED)
		return -EBADMSG;
	type = sm_str(b, STATMOUNT_FS_TYPE, sm->fs_type);
	subtype = sm_str(b, STATMOUNT_FS_SUBTYPE, sm->fs_subtype);
	source = sm_str(b, STATMOUNT_SB_SOURCE, sm->sb_source);
	root = sm_str(b, STATMOUNT_MNT_ROOT, sm->mnt_root);
	if (!type || !source || !root)
		return -EBADMSG;

	return mount_fill(ret, sm->mnt_id, sm->mnt_parent_id, sm->sb_dev_major, sm->sb_dev_minor,
			  sm->mnt_attr, type, subtype, source, root, point);
}

static void probe(void)
{
	_cleanup_(smbuf_done) struct smbuf b = { 0 };
	struct statx stx;

	if (statx(AT_FDCWD, "/", STATX_FLAGS, STATX_MNT_ID_UNIQUE, &stx) < 0)
		return;
	if (!(stx.stx_mask & STATX_MNT_ID_UNIQUE))
		return;
	if (sm_fetch(&b, stx.stx_mnt_id, SM_MASK_FULL) < 0)
		return;
	/* 6.8-6.12 have statmount without sb_source (added with fs_subtype, in 6.13). */
	if ((b.sm->mask & (SM_MASK_NEEDED | STATMOUNT_MNT_POINT)) !=
	    (SM_MASK_NEEDED | STATMOUNT_MNT_POINT))
		return;
	probe_statmount_ok = true;
}

static bool have_statmount(void)
{
	int r = pthread_once(&probe_once, probe);

	assert(r == 0); /* pthread_once() only fails on invalid arguments */
	(void)r;
	return probe_statmount_ok;
}

int kview_set_backend(enum kview_backend b)
{
	switch (b) {
	case KVIEW_BACKEND_AUTO:
	case KVIEW_BACKEND_MOUNTINFO:
		break;
	case KVIEW_BACKEND_STATMOUNT:
		if (!have_statmount())
			return -EOPNOTSUPP;
		break;
	default:
		return -EINVAL;
	}
	atomic_store(&backend_forced, (int)b);
	return 0;
}

enum kview_backend kview_get_backend(void)
{
	int b = atomic_load(&backend_forced);

	if (b != KVIEW_BACKEND_AUTO)
		return (enum kview_backend)b;
	return have_statmount() ? KVIEW_BACKEND_STATMOUNT : KVIEW_BACKEND_MOUNTINFO;
}

static bool use_statmount(void)
{
	return kview_get_backend() == KVIEW_BACKEND_STATMOUNT;
}

/* ---- mountinfo back-end ---- */

/*
 * libmount is loaded with dlopen() the first time the mountinfo back-end is used. On kernels
 * with statmount it never is, and every volmount process is spared loading libmount and what
 * it pulls in (libblkid, libselinux, libpcre2): about half a millisecond of each CLI call.
 * Below, the names of the functions we use resolve to this table.
 */
static struct {
	__typeof__(mnt_new_table) *new_table;
	__typeof__(mnt_unref_table) *unref_table;
	__typeof__(mnt_table_parse_file) *table_parse_file;
	__typeof__(mnt_new_iter) *new_iter;
	__typeof__(mnt_free_iter) *free_iter;
	__typeof__(mnt_table_next_fs) *table_next_fs;
	__typeof__(mnt_fs_get_fstype) *fs_get_fstype;
	__typeof__(mnt_fs_get_source) *fs_get_source;
	__typeof__(mnt_fs_get_root) *fs_get_root;
	__typeof__(mnt_fs_get_target) *fs_get_target;
	__typeof__(mnt_fs_get_id) *fs_get_id;
	__typeof__(mnt_fs_get_parent_id) *fs_get_parent_id;
	__typeof__(mnt_fs_get_devno) *fs_get_devno;
	__typeof__(mnt_fs_get_vfs_options) *fs_get_vfs_options;
} lm;
static pthread_once_t lm_once = PTHREAD_ONCE_INIT;
static int lm_error = -ENOSYS;

static void lm_load(void)
{
	static const struct {
		const char *name;
		void **slot;
	} syms[] = {
		{ "mnt_new_table", (void **)&lm.new_table },
		{ "mnt_unref_table", (void **)&lm.unref_table },
		{ "mnt_table_parse_file", (void **)&lm.table_parse_file },
		{ "mnt_new_iter", (void **)&lm.new_iter },
		{ "mnt_free_iter", (void **)&lm.free_iter },
		{ "mnt_table_next_fs", (void **)&lm.table_next_fs },
		{ "mnt_fs_get_fstype", (void **)&lm.fs_get_fstype },
		{ "mnt_fs_get_source", (void **)&lm.fs_get_source },
		{ "mnt_fs_get_root", (void **)&lm.fs_get_root },
		{ "mnt_fs_get_target", (void **)&lm.fs_get_target },
		{ "mnt_fs_get_id", (void **)&lm.fs_get_id },
		{ "mnt_fs_get_parent_id", (void **)&lm.fs_get_parent_id },
		{ "mnt_fs_get_devno", (void **)&lm.fs_get_devno },
		{ "mnt_fs_get_vfs_options", (void **)&lm.fs_get_vfs_options },
	};
	void *h = dlopen("libmount.so.1", RTLD_NOW | RTLD_LOCAL);

	if (!h)
		return;
	for (size_t i = 0; i < ELEMENTSOF(syms); i++) {
		*syms[i].slot = dlsym(h, syms[i].name);
		if (!*syms[i].slot)
			return; /* keep the handle: a partial libmount is not used, never unloaded */
	}
	lm_error = 0;
}

/* 0 once libmount is usable, or -ENOSYS (not installed, or without a symbol we need). */
static int lm_ready(void)
{
	(void)pthread_once(&lm_once, lm_load);
	return lm_error;
}

#define mnt_new_table (*lm.new_table)
#define mnt_unref_table (*lm.unref_table)
#define mnt_table_parse_file (*lm.table_parse_file)
#define mnt_new_iter (*lm.new_iter)
#define mnt_free_iter (*lm.free_iter)
#define mnt_table_next_fs (*lm.table_next_fs)
#define mnt_fs_get_fstype (*lm.fs_get_fstype)
#define mnt_fs_get_source (*lm.fs_get_source)
#define mnt_fs_get_root (*lm.fs_get_root)
#define mnt_fs_get_target (*lm.fs_get_target)
#define mnt_fs_get_id (*lm.fs_get_id)
#define mnt_fs_get_parent_id (*lm.fs_get_parent_id)
#define mnt_fs_get_devno (*lm.fs_get_devno)
#define mnt_fs_get_vfs_options (*lm.fs_get_vfs_options)

static void unref_tablep(struct libmnt_table **tb)
{
	if (*tb) /* non-NULL only once libmount is loaded */
		mnt_unref_table(*tb);
}

static void free_iterp(struct libmnt_iter **it)
{
	if (*it)
		mnt_free_iter(*it);
}

static int mi_load(struct libmnt_table **ret)
{
	_cleanup_(unref_tablep) struct libmnt_table *tb = NULL;
	int r = lm_ready();

	if (r < 0)
		return r;
	tb = mnt_new_table();
	if (!tb)
		return -ENOMEM;
	r = mnt_table_parse_file(tb, MOUNTINFO_PATH);
	if (r < 0)
		return r;
	if (r > 0)
		return -EBADMSG;
	*ret = TAKE_PTR(tb);
	return 0;
}

/*
 * The per-mount flags of a mountinfo line (its sixth field, "rw,nosuid,nodev,relatime") as
 * MOUNT_ATTR_* bits, as statmount reports them: the kernel writes "relatime" or "noatime" for
 * those atime modes and nothing for strictatime.
 */
static uint64_t mi_attr(const char *vfs)
{
	static const struct {
		const char *name;
		uint64_t attr;
	} words[] = {
		{ "ro", KVIEW_ATTR_RDONLY },         { "nosuid", KVIEW_ATTR_NOSUID },
		{ "nodev", KVIEW_ATTR_NODEV },       { "noexec", KVIEW_ATTR_NOEXEC },
		{ "noatime", KVIEW_ATTR_NOATIME },   { "nodiratime", KVIEW_ATTR_NODIRATIME },
		{ "nosymfollow", KVIEW_ATTR_NOSYMFOLLOW },
	};
	uint64_t attr = 0;
	bool atime_word = false;

	for (const char *p = vfs ? vfs : ""; *p;) {
		size_t n = strcspn(p, ",");

		for (size_t i = 0; i < ELEMENTSOF(words); i++)
			if (strlen(words[i].name) == n && strncmp(p, words[i].name, n) == 0)
				attr |= words[i].attr;
		if ((n == 7 && strncmp(p, "noatime", 7) == 0) ||
		    (n == 8 && strncmp(p, "relatime", 8) == 0))
			atime_word = true;
		p += n;
		if (*p == ',')
			p++;
	}
	return atime_word ? attr : attr | KVIEW_ATTR_STRICTATIME;
}

static int mi_to_mount(struct libmnt_fs *fs, struct kview_mount *ret)
{
	const char *type = mnt_fs_get_fstype(fs);
	const char *source = mnt_fs_get_source(fs);
	const char *root = mnt_fs_get_root(fs);
	const char *point = mnt_fs_get_target(fs);
	int id = mnt_fs_get_id(fs), parent_id = mnt_fs_get_parent_id(fs);
	dev_t dev = mnt_fs_get_devno(fs);

	if (!type || !root || !point || id < 0 || parent_id < 0)
		return -EBADMSG;
	/* A mountinfo line always has a source ("none" when the kernel has none); be safe anyway. */
	if (!source)
		source = "none";
	return mount_fill(ret, (uint64_t)id, (uint64_t)parent_id, major(dev), minor(dev),
			  mi_attr(mnt_fs_get_vfs_options(fs)), type, NULL, source, root, point);
}

/* Borrowed from @tb; -ENOENT if absent. */
static int mi_find_id(struct libmnt_table *tb, uint64_t id, struct libmnt_fs **ret)
{
	_cleanup_(free_iterp) struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs;
	int r;

	if (!it)
		return -ENOMEM;
	if (id > INT_MAX)
		return -ENOENT;
	while ((r = mnt_table_next_fs(tb, it, &fs)) == 0)
		if (mnt_fs_get_id(fs) == (int)id) {
			*ret = fs;
			return 0;
		}
	return r < 0 ? r : -ENOENT;
}

static bool target_is(struct libmnt_fs *fs, const char *path)
{
	const char *t = mnt_fs_get_target(fs);

	return t && strcmp(t, path) == 0;
}

/*
 * Kernels before 5.8 have no STATX_MNT_ID: all mountinfo entries at @path count, and the top is the
 * last one that no other entry there has as its parent. Unlike the id walk, this also counts
 * mounts at @path that a mount on an ancestor hides.
 */
static int mi_at_by_target(struct libmnt_table *tb, const char *path, struct libmnt_fs **ret_top)
{
	_cleanup_(free_iterp) struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *at[STACK_MAX], *fs, *top = NULL;
	size_t n = 0;
	int r;

	if (!it)
		return -ENOMEM;
	while ((r = mnt_table_next_fs(tb, it, &fs)) == 0)
		if (target_is(fs, path) && n < ELEMENTSOF(at))
			at[n++] = fs;
	if (r < 0)
		return r;

	for (size_t i = 0; i < n; i++) {
		bool covered = false;

		for (size_t j = 0; j < n && !covered; j++)
			covered = j != i && mnt_fs_get_parent_id(at[j]) == mnt_fs_get_id(at[i]);
		if (!covered)
			top = at[i];
	}
	if (n > 0 && !top)
		top = at[n - 1]; /* a parent loop: only a corrupt table has one */
	*ret_top = top;
	return (int)n;
}

static int mi_at(int dfd, const char *name, const char *path, struct kview_mount *ret_top)
{
	_cleanup_(unref_tablep) struct libmnt_table *tb = NULL;
	struct libmnt_fs *top = NULL, *cur;
	struct statx stx;
	int r, n;

	if (statx(dfd, name, STATX_FLAGS, STATX_TYPE | STATX_MNT_ID, &stx) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	if ((stx.stx_mask & STATX_TYPE) && S_ISLNK(stx.stx_mode))
		return -ELOOP;

	r = mi_load(&tb);
	if (r < 0)
		return r;

	if (!(stx.stx_mask & STATX_MNT_ID)) {
		n = mi_at_by_target(tb, path, &top);
		if (n <= 0)
			return n;
	} else {
		/* Same walk as the statmount back-end: the top mount, then its parents at @path. */
		r = mi_find_id(tb, stx.stx_mnt_id, &top);
		if (r == -ENOENT)
			return 0; /* unmounted since statx() */
		if (r < 0)
			return r;
		if (!target_is(top, path))
			return 0;
		for (n = 1, cur = top; n < STACK_MAX; n++) {
			struct libmnt_fs *parent;
			int pid = mnt_fs_get_parent_id(cur);

			if (pid < 0 || pid == mnt_fs_get_id(cur))
				break;
			r = mi_find_id(tb, (uint64_t)pid, &parent);
			if (r == -ENOENT)
				break;
			if (r < 0)
				return r;
			if (!target_is(parent, path))
				break;
			cur = parent;
		}
	}

	if (ret_top) {
		r = mi_to_mount(top, ret_top);
		if (r < 0)
			return r;
	}
	return n;
}

static int mi_by_id(uint64_t mnt_id, struct kview_mount *ret)
{
	_cleanup_(unref_tablep) struct libmnt_table *tb = NULL;
	struct libmnt_fs *fs;
	int r = mi_load(&tb);

	if (r < 0)
		return r;
	r = mi_find_id(tb, mnt_id, &fs);
	if (r < 0)
		return r;
	return mi_to_mount(fs, ret);
}

/* ---- statmount versions ---- */

/*
 * The mounts at @path: their count, the top one's id, and with @ret_top the top one in full.
 * Without @ret_top only ids and mount points are fetched (the warm path's check needs no more).
 */
static int sm_at(int dfd, const char *name, const char *path, struct kview_mount *ret_top,
		 uint64_t *ret_top_id)
{
	_cleanup_(smbuf_done) struct smbuf b = { 0 };
	_cleanup_(kview_mount_done) struct kview_mount top = { 0 };
	struct statx stx;
	const char *point;
	uint64_t top_id, cur, parent;
	int r = -ENOENT, n;

	for (int i = 0; i < AT_RETRIES && r == -ENOENT; i++) {
		if (statx(dfd, name, STATX_FLAGS, STATX_TYPE | STATX_MNT_ID_UNIQUE, &stx) < 0)
			return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
		if ((stx.stx_mask & STATX_TYPE) && S_ISLNK(stx.stx_mode))
			return -ELOOP;
		if (!(stx.stx_mask & STATX_MNT_ID_UNIQUE))
			return -EOPNOTSUPP;
		/* Not the root of the mount that holds it: nothing is mounted at @path (every
		 * kernel with statmount reports this attribute; the mask says so). */
		if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
		    !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
			return 0;
		/* ENOENT: unmounted between the two calls; look at the path again. */
		r = sm_fetch(&b, stx.stx_mnt_id, ret_top ? SM_MASK_FULL : SM_MASK_WALK);
	}
	if (r < 0)
		return r;

	point = sm_str(&b, STATMOUNT_MNT_POINT, b.sm->mnt_point);
	if (!point || strcmp(point, path) != 0)
		return 0;
	if (ret_top) {
		r = sm_to_mount(&b, &top);
		if (r < 0)
			return r;
	}

	/* Stacked mounts: each one's parent is the mount it covers, at the same mount point. */
	top_id = cur = b.sm->mnt_id;
	parent = b.sm->mnt_parent_id;
	for (n = 1; n < STACK_MAX && parent != cur; n++) {
		r = sm_fetch(&b, parent, SM_MASK_WALK);
		if (r == -ENOENT)
			break; /* unmounted meanwhile */
		if (r < 0)
			return r;
		point = sm_str(&b, STATMOUNT_MNT_POINT, b.sm->mnt_point);
		if (!point || strcmp(point, path) != 0)
			break;
		cur = parent;
		parent = b.sm->mnt_parent_id;
	}

	if (ret_top_id)
		*ret_top_id = top_id;
	if (ret_top) {
		*ret_top = top;
		top = (struct kview_mount){ 0 };
	}
	return n;
}

/* ---- public ---- */

void kview_mount_done(struct kview_mount *m)
{
	if (!m)
		return;
	free(m->fstype);
	free(m->source);
	free(m->mnt_root);
	free(m->mnt_point);
	m->fstype = m->source = m->mnt_root = m->mnt_point = NULL;
}

void kview_mounts_free(struct kview_mount *m, size_t n)
{
	if (!m)
		return;
	for (size_t i = 0; i < n; i++)
		kview_mount_done(&m[i]);
	free(m);
}

/*
 * A count of STACK_MAX is a lower bound: we stop walking there rather than fail, so the caller
 * still learns the path is mounted and what is on top.
 */
int kview_at(const char *path, struct kview_mount *ret_top)
{
	if (!path || path[0] != '/')
		return -EINVAL;
	return use_statmount() ? sm_at(AT_FDCWD, path, path, ret_top, NULL) :
				 mi_at(AT_FDCWD, path, path, ret_top);
}

int kview_at_in(int dfd, const char *name, const char *path, struct kview_mount *ret_top)
{
	if (dfd < 0 || !name || !*name || strchr(name, '/') || !path || path[0] != '/')
		return -EINVAL;
	return use_statmount() ? sm_at(dfd, name, path, ret_top, NULL) :
				 mi_at(dfd, name, path, ret_top);
}

/*
 * The mount whose root is @name in @dfd, by ids only: statx (is it a mount root, which
 * mount), then statmount (its parent). Returns 0 (no mount root there), 1 with *ret_id and
 * *ret_parent, or 2 meaning "ask the full look" (a symlink, no unique ids, or something
 * changed between the two calls).
 */
static int top_and_parent(int dfd, const char *name, uint64_t *ret_id, uint64_t *ret_parent)
{
	struct kv_statmount sm;
	struct kv_mnt_id_req req = { .size = MNT_ID_REQ_SIZE_VER0, .param = STATMOUNT_MNT_BASIC };
	struct statx stx;

	if (statx(dfd, name, STATX_FLAGS, STATX_TYPE | STATX_MNT_ID_UNIQUE, &stx) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : 2;
	if ((stx.stx_mask & STATX_TYPE) && S_ISLNK(stx.stx_mode))
		return 2; /* the full look says -ELOOP */
	if (!(stx.stx_mask & STATX_MNT_ID_UNIQUE) || !(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
		return 2;
	if (!(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return 0;
	req.mnt_id = stx.stx_mnt_id;
	if (syscall(__NR_statmount, &req, &sm, sizeof(sm), 0) < 0 ||
	    !(sm.mask & STATMOUNT_MNT_BASIC) || sm.mnt_id != stx.stx_mnt_id)
		return 2;
	*ret_id = sm.mnt_id;
	*ret_parent = sm.mnt_parent_id;
	return 1;
}

/*
 * The usual answer with no strings formatted: the mount at @path (statx), its parent
 * (statmount, ids only), and the mount that holds @path's directory (statx). When that is the
 * parent, the top mount's mount point lies in its parent's tree, not on the root of a mount
 * below it at @path: exactly one mount. Returns 0 or 1, or 2 meaning "ask sm_at()" (stacked,
 * or something changed between the calls).
 */
static int sm_at_id_quick(int dfd, const char *name, const char *path, uint64_t dir_id,
			  uint64_t *ret_top_id)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	uint64_t top, parent;
	struct statx dstx;
	int r;

	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(dir))
		return 2;
	r = top_and_parent(dfd, name, &top, &parent);
	if (r != 1)
		return r;
	if (dir_id != 0) { /* the caller looked at @dfd once for many names */
		if (dir_id != parent)
			return 2;
		*ret_top_id = top;
		return 1;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if ((dfd == AT_FDCWD ? statx(AT_FDCWD, dir, STATX_FLAGS, STATX_MNT_ID_UNIQUE, &dstx) :
			       statx(dfd, "", STATX_FLAGS | AT_EMPTY_PATH, STATX_MNT_ID_UNIQUE, &dstx)) < 0 ||
	    !(dstx.stx_mask & STATX_MNT_ID_UNIQUE) || dstx.stx_mnt_id != parent)
		return 2;
	*ret_top_id = top;
	return 1;
}

int kview_fd_mnt_id(int fd, uint64_t *ret_id)
{
	if (fd < 0 || !ret_id)
		return -EINVAL;
	if (!use_statmount())
		return -EOPNOTSUPP; /* only unique ids: kview_id_of_fd() would give a reusable one */
	return kview_id_of_fd(fd, ret_id);
}

int kview_at_id_on(int dfd, const char *rel, uint64_t parent_id, uint64_t *ret_top_id)
{
	uint64_t top, parent;
	int r;

	if (dfd < 0 || !rel || !*rel || rel[0] == '/' || !parent_id || !ret_top_id)
		return -EINVAL;
	if (!use_statmount())
		return 2;
	r = top_and_parent(dfd, rel, &top, &parent);
	if (r != 1)
		return r;
	if (parent != parent_id)
		return 2;
	*ret_top_id = top;
	return 1;
}

static int at_id(int dfd, const char *name, const char *path, uint64_t dir_id,
		 uint64_t *ret_top_id)
{
	struct kview_mount top = { 0 };
	int n;

	if (use_statmount()) {
		n = sm_at_id_quick(dfd, name, path, dir_id, ret_top_id);
		return n < 2 ? n : sm_at(dfd, name, path, NULL, ret_top_id);
	}
	n = mi_at(dfd, name, path, &top);
	if (n > 0)
		*ret_top_id = top.mnt_id;
	kview_mount_done(&top);
	return n;
}

int kview_at_id(const char *path, uint64_t *ret_top_id)
{
	if (!path || path[0] != '/' || !ret_top_id)
		return -EINVAL;
	return at_id(AT_FDCWD, path, path, 0, ret_top_id);
}

int kview_at_id_in(int dfd, const char *name, const char *path, uint64_t *ret_top_id)
{
	if (dfd < 0 || !name || !*name || strchr(name, '/') || !path || path[0] != '/' ||
	    !ret_top_id)
		return -EINVAL;
	return at_id(dfd, name, path, 0, ret_top_id);
}

int kview_at_id_under(int dfd, uint64_t dir_id, const char *name, const char *path,
		      uint64_t *ret_top_id)
{
	if (dfd < 0 || !name || !*name || strchr(name, '/') || !path || path[0] != '/' ||
	    !ret_top_id)
		return -EINVAL;
	return at_id(dfd, name, path, dir_id, ret_top_id);
}

int kview_of_fd(int fd, struct kview_mount *ret)
{
	struct statx stx;

	if (fd < 0)
		return -EBADF;
	if (!ret)
		return -EINVAL;

	if (use_statmount()) {
		_cleanup_(smbuf_done) struct smbuf b = { 0 };
		int r;

		if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID_UNIQUE, &stx) < 0)
			return -errno;
		if (!(stx.stx_mask & STATX_MNT_ID_UNIQUE))
			return -EOPNOTSUPP;
		r = sm_fetch(&b, stx.stx_mnt_id, SM_MASK_FULL);
		if (r < 0)
			return r;
		return sm_to_mount(&b, ret);
	}

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) < 0)
		return -errno;
	if (!(stx.stx_mask & STATX_MNT_ID))
		return -EOPNOTSUPP;
	return mi_by_id(stx.stx_mnt_id, ret);
}

int kview_id_of_fd(int fd, uint64_t *ret_id)
{
	unsigned mask = use_statmount() ? STATX_MNT_ID_UNIQUE : STATX_MNT_ID;
	struct statx stx;

	if (fd < 0)
		return -EBADF;
	if (!ret_id)
		return -EINVAL;
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, mask, &stx) < 0)
		return -errno;
	if (!(stx.stx_mask & mask))
		return -EOPNOTSUPP;
	*ret_id = stx.stx_mnt_id;
	return 0;
}

int kview_by_id(uint64_t mnt_id, struct kview_mount *ret)
{
	if (!ret)
		return -EINVAL;

	if (use_statmount()) {
		_cleanup_(smbuf_done) struct smbuf b = { 0 };
		int r = sm_fetch(&b, mnt_id, SM_MASK_FULL);

		/* EINVAL: an id outside the unique-id range (an old mountinfo id, 0) names nothing. */
		if (r == -EINVAL)
			return -ENOENT;
		if (r < 0)
			return r;
		return sm_to_mount(&b, ret);
	}
	return mi_by_id(mnt_id, ret);
}

static bool is_under(const char *point, const char *prefix, size_t plen)
{
	return strncmp(point, prefix, plen) == 0 && point[plen] == '/' && point[plen + 1] != '\0';
}

struct mlist {
	struct kview_mount *m;
	size_t n, cap;
};

static void mlist_done(struct mlist *l)
{
	kview_mounts_free(l->m, l->n);
	*l = (struct mlist){ 0 };
}

/* Returns the slot to fill, zeroed, or NULL. */
static struct kview_mount *mlist_add(struct mlist *l, int *reterr)
{
	if (l->n >= LIST_MAX) {
		*reterr = -E2BIG;
		return NULL;
	}
	if (ARRAY_GROW(l->m, l->cap, l->n, 16) < 0) {
		*reterr = -ENOMEM;
		return NULL;
	}
	l->m[l->n] = (struct kview_mount){ 0 };
	return &l->m[l->n];
}

static int sm_list_under(const char *prefix, size_t plen, struct mlist *l)
{
	_cleanup_(smbuf_done) struct smbuf b = { 0 };
	_cleanup_free_ uint64_t *ids = calloc(LM_PAGE, sizeof(*ids));
	uint64_t last = 0;

	if (!ids)
		return -ENOMEM;

	for (;;) {
		struct kv_mnt_id_req req = {
			.size = MNT_ID_REQ_SIZE_VER0,
			.mnt_id = LSMT_ROOT,
			.param = last,
		};
		long n = syscall(__NR_listmount, &req, ids, (size_t)LM_PAGE, 0);

		if (n < 0)
			return -errno;
		for (long i = 0; i < n; i++) {
			struct kview_mount *slot;
			const char *point;
			int r = sm_fetch(&b, ids[i], SM_MASK_FULL);

			if (r == -ENOENT)
				continue; /* unmounted since listmount() */
			if (r < 0)
				return r;
			point = sm_str(&b, STATMOUNT_MNT_POINT, b.sm->mnt_point);
			if (!point || !is_under(point, prefix, plen))
				continue;
			slot = mlist_add(l, &r);
			if (!slot)
				return r;
			r = sm_to_mount(&b, slot);
			if (r < 0)
				return r;
			l->n++;
		}
		if (n < LM_PAGE)
			return 0;
		last = ids[n - 1];
	}
}

static int mi_list_under(const char *prefix, size_t plen, struct mlist *l)
{
	_cleanup_(unref_tablep) struct libmnt_table *tb = NULL;
	_cleanup_(free_iterp) struct libmnt_iter *it = NULL;
	struct libmnt_fs *fs;
	int r;

	/* mi_load() loads libmount: no mnt_*() call before it (a NULL call otherwise). */
	r = mi_load(&tb);
	if (r < 0)
		return r;
	it = mnt_new_iter(MNT_ITER_FORWARD);
	if (!it)
		return -ENOMEM;
	while ((r = mnt_table_next_fs(tb, it, &fs)) == 0) {
		const char *point = mnt_fs_get_target(fs);
		struct kview_mount *slot;

		if (!point || !is_under(point, prefix, plen))
			continue;
		slot = mlist_add(l, &r);
		if (!slot)
			return r;
		r = mi_to_mount(fs, slot);
		if (r < 0)
			return r;
		l->n++;
	}
	return r < 0 ? r : 0;
}

int kview_list_under(const char *prefix, struct kview_mount **ret, size_t *ret_n)
{
	_cleanup_(mlist_done) struct mlist l = { 0 };
	size_t plen;
	int r;

	if (!prefix || prefix[0] != '/' || !ret || !ret_n)
		return -EINVAL;
	/* "/a/b/" means "/a/b"; "/" becomes "", under which every other mount point lies. */
	plen = strlen(prefix);
	while (plen > 0 && prefix[plen - 1] == '/')
		plen--;

	r = use_statmount() ? sm_list_under(prefix, plen, &l) : mi_list_under(prefix, plen, &l);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(l.m);
	*ret_n = l.n;
	l.n = 0;
	return 0;
}
