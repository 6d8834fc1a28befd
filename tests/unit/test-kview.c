/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-kview.c - unit test of lib/kview.c against real mounts (tmpfs, bind, stacked, fuse without
 * a daemon) made in a private mount namespace of its own, under a private tmpfs over /tmp.
 * Every case runs once per back-end, and the two back-ends are compared field by field. Exits 77
 * (skip) when it may not create a mount namespace.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kview.h"
#include "test.h"
#include "test-ns.h"
#include "cleanup.h"

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U
#endif

static char base[64];       /* a tmpfs, private to this test's namespace */
static bool have_statmount; /* the statmount back-end can be selected */

static const enum kview_backend backends[] = { KVIEW_BACKEND_STATMOUNT, KVIEW_BACKEND_MOUNTINFO };

/* Selects @b; false if this kernel (or valgrind) lacks statmount, which setup() vetted. */
static bool use(enum kview_backend b)
{
	int r = kview_set_backend(b);

	if (b == KVIEW_BACKEND_STATMOUNT && !have_statmount) {
		ASSERT_EQ(r, -EOPNOTSUPP);
		return false;
	}
	ASSERT_EQ(r, 0);
	ASSERT_EQ(kview_get_backend(), b);
	return true;
}

static char *at_base(const char *rel)
{
	char *p;

	ASSERT_TRUE(asprintf(&p, "%s/%s", base, rel) > 0);
	return p;
}

static char *mkdir_base(const char *rel)
{
	char *p = at_base(rel);

	ASSERT_EQ(mkdir(p, 0755), 0);
	return p;
}

static void mount_tmpfs(const char *source, const char *target)
{
	ASSERT_EQ(mount(source, target, "tmpfs", 0, "size=1m,mode=0755"), 0);
}

/* The id statx reports for @path in the back-end's id space. */
static uint64_t id_of(const char *path, enum kview_backend b)
{
	unsigned mask = b == KVIEW_BACKEND_STATMOUNT ? STATX_MNT_ID_UNIQUE : STATX_MNT_ID;
	struct statx stx;

	ASSERT_EQ(statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, mask, &stx), 0);
	ASSERT_TRUE(stx.stx_mask & mask);
	return stx.stx_mnt_id;
}

static void assert_same_mount(const struct kview_mount *a, const struct kview_mount *b)
{
	ASSERT_STREQ(a->fstype, b->fstype);
	ASSERT_STREQ(a->source, b->source);
	ASSERT_STREQ(a->mnt_root, b->mnt_root);
	ASSERT_STREQ(a->mnt_point, b->mnt_point);
	ASSERT_EQ(a->dev_major, b->dev_major);
	ASSERT_EQ(a->dev_minor, b->dev_minor);
	ASSERT_EQ(a->mnt_attr, b->mnt_attr);
}

/* kview_at() through both back-ends: same count, same top; returns the count, top in *ret. */
static int at_both(const char *path, struct kview_mount *ret)
{
	struct kview_mount m[ELEMENTSOF(backends)] = { 0 };
	int n[ELEMENTSOF(backends)];
	size_t used = 0;

	for (size_t i = 0; i < ELEMENTSOF(backends); i++) {
		if (!use(backends[i]))
			continue;
		uint64_t top_id = 0;

		n[used] = kview_at(path, &m[used]);
		if (n[used] > 0)
			ASSERT_EQ(m[used].mnt_id, id_of(path, backends[i]));
		/* The ids-only form gives the same count and top. */
		ASSERT_EQ(kview_at_id(path, &top_id), n[used]);
		if (n[used] > 0)
			ASSERT_EQ(top_id, m[used].mnt_id);
		/* So does the form for many entries of one directory, looked at once. */
		{
			_cleanup_free_ char *dir = strdup(path);
			char *slash = dir ? strrchr(dir, '/') : NULL;
			int dfd;

			ASSERT_TRUE(slash != NULL);
			*slash = '\0';
			dfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (dfd >= 0 && slash[1]) {
				uint64_t dir_id = 0, id2 = 0, id3 = 0;

				ASSERT_OK(kview_id_of_fd(dfd, &dir_id));
				ASSERT_EQ(kview_at_id_under(dfd, dir_id, slash + 1, path, &id2),
					  n[used]);
				ASSERT_EQ(kview_at_id_under(dfd, 0, slash + 1, path, &id3), n[used]);
				if (n[used] > 0) {
					ASSERT_EQ(id2, m[used].mnt_id);
					ASSERT_EQ(id3, m[used].mnt_id);
				}
			}
			if (dfd >= 0)
				(void)close(dfd);
		}
		used++;
	}
	ASSERT_TRUE(used > 0);
	for (size_t i = 1; i < used; i++) {
		ASSERT_EQ(n[i], n[0]);
		if (n[0] > 0)
			assert_same_mount(&m[i], &m[0]);
	}
	for (size_t i = 1; i < used; i++)
		kview_mount_done(&m[i]);
	if (ret && n[0] > 0)
		*ret = m[0];
	else
		kview_mount_done(&m[0]);
	return n[0];
}

/*
 * kview_list_under() as the first mountinfo call of a process (what the first call after a
 * reboot does on a kernel without statmount, such as Debian 12's 6.1) used to call libmount
 * before loading it: a NULL call, found by the VM tests (tests/vm). A child of its own,
 * because libmount stays loaded once any case has used the back-end: keep this case first.
 */
static void test_list_under_first(void)
{
	int st = 0;
	pid_t pid = fork();

	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct kview_mount *m = NULL;
		size_t n = 0;

		bool ok = kview_set_backend(KVIEW_BACKEND_MOUNTINFO) == 0 &&
			  kview_list_under("/", &m, &n) == 0 && n > 0;

		_exit(ok ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_EQ(WEXITSTATUS(st), 0);
}

static void test_backend_choice(void)
{
	ASSERT_EQ(kview_set_backend((enum kview_backend)42), -EINVAL);
	ASSERT_EQ(kview_set_backend(KVIEW_BACKEND_AUTO), 0);
	ASSERT_EQ(kview_get_backend(),
		  have_statmount ? KVIEW_BACKEND_STATMOUNT : KVIEW_BACKEND_MOUNTINFO);
	ASSERT_EQ(kview_set_backend(KVIEW_BACKEND_MOUNTINFO), 0);
	ASSERT_EQ(kview_get_backend(), KVIEW_BACKEND_MOUNTINFO);
	ASSERT_EQ(kview_set_backend(KVIEW_BACKEND_STATMOUNT), have_statmount ? 0 : -EOPNOTSUPP);
}

static void test_not_mountpoint(void)
{
	_cleanup_free_ char *dir = mkdir_base("plain");
	_cleanup_free_ char *file = at_base("plain/file");
	_cleanup_free_ char *below_file = at_base("plain/file/x");
	_cleanup_free_ char *missing = at_base("missing");
	_cleanup_close_ int fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	struct kview_mount m = { 0 };

	ASSERT_TRUE(fd >= 0);
	for (size_t i = 0; i < ELEMENTSOF(backends); i++) {
		if (!use(backends[i]))
			continue;
		ASSERT_EQ(kview_at(dir, &m), 0);
		ASSERT_EQ(kview_at(file, NULL), 0);
		ASSERT_EQ(kview_at(missing, &m), 0);
		ASSERT_EQ(kview_at(below_file, &m), 0);
		ASSERT_TRUE(m.fstype == NULL); /* untouched */
		ASSERT_EQ(kview_at("relative/path", &m), -EINVAL);
		ASSERT_EQ(kview_at(NULL, &m), -EINVAL);
		ASSERT_EQ(kview_at(base, NULL), 1);
	}
	ASSERT_EQ(at_both(base, NULL), 1);
}

static void test_tmpfs(void)
{
	_cleanup_free_ char *dir = mkdir_base("tmp");
	struct kview_mount m = { 0 }, parent = { 0 };
	struct stat st;

	mount_tmpfs("kv-source", dir);
	ASSERT_EQ(stat(dir, &st), 0);
	ASSERT_EQ(at_both(dir, &m), 1);
	ASSERT_STREQ(m.fstype, "tmpfs");
	ASSERT_STREQ(m.source, "kv-source");
	ASSERT_STREQ(m.mnt_root, "/");
	ASSERT_STREQ(m.mnt_point, dir);
	ASSERT_EQ(m.dev_major, major(st.st_dev));
	ASSERT_EQ(m.dev_minor, minor(st.st_dev));
	kview_mount_done(&m);
	kview_mount_done(&m); /* idempotent */
	kview_mount_done(NULL);

	for (size_t i = 0; i < ELEMENTSOF(backends); i++) {
		if (!use(backends[i]))
			continue;
		ASSERT_EQ(kview_at(dir, &m), 1);
		ASSERT_EQ(kview_at(base, &parent), 1);
		ASSERT_EQ(m.parent_id, parent.mnt_id);
		kview_mount_done(&m);
		kview_mount_done(&parent);
	}
	ASSERT_EQ(umount2(dir, 0), 0);
	ASSERT_EQ(at_both(dir, NULL), 0);
}

static void test_none_source(void)
{
	_cleanup_free_ char *dir = mkdir_base("none");
	struct kview_mount m = { 0 };

	mount_tmpfs("none", dir);
	ASSERT_EQ(at_both(dir, &m), 1);
	ASSERT_STREQ(m.source, "none");
	kview_mount_done(&m);
	ASSERT_EQ(umount2(dir, 0), 0);
}

static void test_bind_subdir(void)
{
	_cleanup_free_ char *src = mkdir_base("bsrc");
	_cleanup_free_ char *sub = at_base("bsrc/a");
	_cleanup_free_ char *subsub = at_base("bsrc/a/b");
	_cleanup_free_ char *dst = mkdir_base("bdst");
	struct kview_mount s = { 0 }, d = { 0 };

	mount_tmpfs("bind-src", src);
	ASSERT_EQ(mkdir(sub, 0755), 0);
	ASSERT_EQ(mkdir(subsub, 0755), 0);
	ASSERT_EQ(mount(subsub, dst, "none", MS_BIND, NULL), 0); /* a type: valgrind checks it */

	ASSERT_EQ(at_both(src, &s), 1);
	ASSERT_EQ(at_both(dst, &d), 1);
	ASSERT_STREQ(d.mnt_root, "/a/b");
	ASSERT_STREQ(d.mnt_point, dst);
	ASSERT_STREQ(d.fstype, "tmpfs");
	ASSERT_STREQ(d.source, s.source);
	ASSERT_EQ(d.dev_major, s.dev_major);
	ASSERT_EQ(d.dev_minor, s.dev_minor);
	ASSERT_TRUE(d.mnt_id != s.mnt_id);
	kview_mount_done(&s);
	kview_mount_done(&d);

	/* The bind source's subdirectory is no mount point. */
	ASSERT_EQ(at_both(subsub, NULL), 0);
	ASSERT_EQ(umount2(dst, 0), 0);
	ASSERT_EQ(umount2(src, 0), 0);
}

static void test_stacked(void)
{
	_cleanup_free_ char *dir = mkdir_base("stack");
	_cleanup_free_ char *y = at_base("stack/y");
	struct kview_mount m = { 0 };

	mount_tmpfs("first", dir);
	ASSERT_EQ(at_both(dir, NULL), 1);
	ASSERT_EQ(mkdir(y, 0755), 0);
	mount_tmpfs("hidden", y);
	mount_tmpfs("second", dir);
	ASSERT_EQ(at_both(dir, &m), 2);
	ASSERT_STREQ(m.source, "second");
	kview_mount_done(&m);

	/* "stack/y" in the covered tmpfs is no longer reachable; a fresh one on top is. */
	ASSERT_EQ(at_both(y, NULL), 0);
	ASSERT_EQ(mkdir(y, 0755), 0);
	mount_tmpfs("visible", y);
	ASSERT_EQ(at_both(y, &m), 1);
	ASSERT_STREQ(m.source, "visible");
	kview_mount_done(&m);

	mount_tmpfs("third", dir);
	ASSERT_EQ(at_both(dir, &m), 3);
	ASSERT_STREQ(m.source, "third");
	kview_mount_done(&m);

	ASSERT_EQ(umount2(dir, MNT_DETACH), 0);
	ASSERT_EQ(at_both(dir, &m), 2);
	ASSERT_STREQ(m.source, "second");
	kview_mount_done(&m);
	ASSERT_EQ(umount2(dir, MNT_DETACH), 0);
	ASSERT_EQ(at_both(dir, &m), 1);
	ASSERT_STREQ(m.source, "first");
	kview_mount_done(&m);
	ASSERT_EQ(umount2(dir, MNT_DETACH), 0);
	ASSERT_EQ(at_both(dir, NULL), 0);
}

#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200 /* Linux 6.5 */
#endif

/* A mount slipped beneath the top one (move_mount(MOVE_MOUNT_BENEATH)): the top keeps its id
 * and its parent changes, and the count must see both. */
static void test_beneath(void)
{
	_cleanup_free_ char *dir = mkdir_base("beneath");
	_cleanup_free_ char *src = mkdir_base("beneath-src");
	_cleanup_close_ int tree = -EBADF;
	struct kview_mount m = { 0 };
	uint64_t top;

	mount_tmpfs("on-top", dir);
	mount_tmpfs("slipped-under", src);
	ASSERT_EQ(at_both(dir, &m), 1);
	top = m.mnt_id;
	kview_mount_done(&m);
	tree = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	ASSERT_TRUE(tree >= 0);
	ASSERT_EQ(move_mount(tree, "", AT_FDCWD, dir,
			  MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_BENEATH), 0);
	ASSERT_EQ(at_both(dir, &m), 2);
	ASSERT_STREQ(m.source, "on-top");
	if (use(KVIEW_BACKEND_STATMOUNT))
		ASSERT_EQ(m.mnt_id, top);
	kview_mount_done(&m);
	ASSERT_EQ(umount2(dir, MNT_DETACH), 0);
	ASSERT_EQ(at_both(dir, &m), 1);
	ASSERT_STREQ(m.source, "slipped-under");
	kview_mount_done(&m);
	ASSERT_EQ(umount2(dir, MNT_DETACH), 0);
	ASSERT_EQ(umount2(src, MNT_DETACH), 0);
	ASSERT_EQ(at_both(dir, NULL), 0);
}

/*
 * kview_at_id_on(): "one mount at @rel, directly on @parent_id" in two calls. Nothing there is
 * 0; a mount on the directory's own mount is 1 with its id; one stacked on top, or one with a
 * mount slipped beneath it, has another parent and is 2 (the caller then asks kview_at_id(),
 * which counts them); so is a symlink; the mountinfo back-end always says 2.
 */
static void test_at_id_on(void)
{
	_cleanup_free_ char *dir = mkdir_base("on"), *sub = at_base("on/sub");
	_cleanup_free_ char *src = mkdir_base("on-src"), *link = at_base("on/link");
	_cleanup_close_ int dfd = -EBADF, tree = -EBADF;
	uint64_t parent = 0, id = 0, top = 0;

	ASSERT_EQ(mkdir(sub, 0755), 0);
	ASSERT_EQ(symlink(sub, link), 0);
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(dfd >= 0);
	ASSERT_EQ(kview_at_id_on(dfd, "sub", 0, &id), -EINVAL);
	ASSERT_EQ(kview_at_id_on(dfd, "/abs", 1, &id), -EINVAL);
	if (use(KVIEW_BACKEND_MOUNTINFO)) {
		ASSERT_EQ(kview_fd_mnt_id(dfd, &parent), -EOPNOTSUPP);
		ASSERT_EQ(kview_at_id_on(dfd, "sub", 1, &id), 2);
	}
	if (!use(KVIEW_BACKEND_STATMOUNT))
		return;
	ASSERT_EQ(kview_fd_mnt_id(dfd, &parent), 0);
	ASSERT_TRUE(parent != 0);
	ASSERT_EQ(kview_at_id_on(dfd, "sub", parent, &id), 0);
	ASSERT_EQ(kview_at_id_on(dfd, "missing", parent, &id), 0);
	mount_tmpfs("alone", sub);
	ASSERT_EQ(kview_at_id_on(dfd, "sub", parent, &id), 1);
	ASSERT_EQ(kview_at_id(sub, &top), 1);
	ASSERT_EQ(id, top);
	ASSERT_EQ(kview_at_id_on(dfd, "sub", parent + 1, &id), 2); /* another parent */
	ASSERT_EQ(kview_at_id_on(dfd, "link", parent, &id), 2);    /* a symlink */
	mount_tmpfs("on-top", sub);
	ASSERT_EQ(kview_at_id_on(dfd, "sub", parent, &id), 2);
	ASSERT_EQ(kview_at_id(sub, &top), 2);
	ASSERT_EQ(umount2(sub, MNT_DETACH), 0);
	ASSERT_EQ(kview_at_id_on(dfd, "sub", parent, &id), 1);
	/* A mount slipped beneath ours: the top keeps its id, its parent is the newcomer. */
	mount_tmpfs("beneath", src);
	tree = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	ASSERT_TRUE(tree >= 0);
	ASSERT_EQ(move_mount(tree, "", AT_FDCWD, sub, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_BENEATH),
		  0);
	ASSERT_EQ(kview_at_id_on(dfd, "sub", parent, &top), 2);
	ASSERT_EQ(kview_at_id(sub, &top), 2);
	ASSERT_EQ(umount2(sub, MNT_DETACH), 0);
	ASSERT_EQ(umount2(sub, MNT_DETACH), 0);
	ASSERT_EQ(umount2(src, MNT_DETACH), 0);
	ASSERT_EQ(kview_at_id_on(dfd, "sub", parent, &id), 0);
}

/* Per-mount flags: the same MOUNT_ATTR_* bits from statmount's mnt_attr and from mountinfo's
 * option field, for every flag volmount sets and each atime mode; a bind mount has its own. */
static void test_mount_flags(void)
{
	static const struct {
		unsigned long ms;
		uint64_t want;
	} cases[] = {
		{ 0, 0 },
		{ MS_RDONLY, KVIEW_ATTR_RDONLY },
		{ MS_NOSUID | MS_NODEV, KVIEW_ATTR_NOSUID | KVIEW_ATTR_NODEV },
		{ MS_NOEXEC | MS_NOATIME, KVIEW_ATTR_NOEXEC | KVIEW_ATTR_NOATIME },
		{ MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  KVIEW_ATTR_RDONLY | KVIEW_ATTR_NOSUID | KVIEW_ATTR_NODEV | KVIEW_ATTR_NOEXEC },
		{ MS_STRICTATIME | MS_NODIRATIME, KVIEW_ATTR_STRICTATIME | KVIEW_ATTR_NODIRATIME },
	};
	_cleanup_free_ char *dir = mkdir_base("flags");
	_cleanup_free_ char *dst = mkdir_base("flags-bind");

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct kview_mount m = { 0 };
		uint64_t atime;

		ASSERT_EQ(mount("flags", dir, "tmpfs", cases[i].ms, "size=1m"), 0);
		ASSERT_EQ(at_both(dir, &m), 1);
		/* relatime is the default when no atime mode is asked for */
		atime = cases[i].want & (KVIEW_ATTR_NOATIME | KVIEW_ATTR_STRICTATIME);
		ASSERT_EQ(m.mnt_attr & ~(KVIEW_ATTR_NOATIME | KVIEW_ATTR_STRICTATIME),
			  cases[i].want & ~(KVIEW_ATTR_NOATIME | KVIEW_ATTR_STRICTATIME));
		ASSERT_EQ(m.mnt_attr & (KVIEW_ATTR_NOATIME | KVIEW_ATTR_STRICTATIME), atime);
		ASSERT_EQ(m.mnt_attr & ~KVIEW_ATTR_MASK, 0);
		kview_mount_done(&m);

		/* A bind of it, made read-only and nosymfollow on its own: the source keeps its
		 * flags. */
		ASSERT_EQ(mount(dir, dst, "none", MS_BIND, NULL), 0);
		ASSERT_EQ(mount("none", dst, "none", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSYMFOLLOW |
					      cases[i].ms,
				NULL),
			  0);
		ASSERT_EQ(at_both(dst, &m), 1);
		ASSERT_TRUE(m.mnt_attr & KVIEW_ATTR_RDONLY);
		ASSERT_TRUE(m.mnt_attr & KVIEW_ATTR_NOSYMFOLLOW);
		kview_mount_done(&m);
		ASSERT_EQ(at_both(dir, &m), 1);
		ASSERT_EQ(!!(m.mnt_attr & KVIEW_ATTR_RDONLY), !!(cases[i].ms & MS_RDONLY));
		ASSERT_EQ(m.mnt_attr & KVIEW_ATTR_NOSYMFOLLOW, 0);
		kview_mount_done(&m);
		ASSERT_EQ(umount2(dst, 0), 0);
		ASSERT_EQ(umount2(dir, 0), 0);
	}
}

static void test_symlink(void)
{
	_cleanup_free_ char *target = mkdir_base("ltarget");
	_cleanup_free_ char *link = at_base("link");
	_cleanup_free_ char *dangling = at_base("dangling");
	_cleanup_free_ char *through = at_base("link/x");

	mount_tmpfs("under-link", target);
	ASSERT_EQ(symlink(target, link), 0);
	ASSERT_EQ(symlink("/nonexistent/kview", dangling), 0);
	for (size_t i = 0; i < ELEMENTSOF(backends); i++) {
		struct kview_mount m = { 0 };

		if (!use(backends[i]))
			continue;
		uint64_t id = 0;

		ASSERT_EQ(kview_at(link, &m), -ELOOP);
		ASSERT_EQ(kview_at(dangling, &m), -ELOOP);
		ASSERT_EQ(kview_at_id(link, &id), -ELOOP);
		ASSERT_EQ(kview_at_id(dangling, &id), -ELOOP);
		ASSERT_EQ(kview_at_id("relative", &id), -EINVAL);
		ASSERT_TRUE(m.fstype == NULL);
		ASSERT_EQ(kview_at(through, &m), 0); /* nothing at link/x */
		ASSERT_EQ(kview_at(target, NULL), 1);
	}
	ASSERT_EQ(umount2(target, 0), 0);
}

static void test_odd_names(void)
{
	static const char *const names[] = { "with space", "tab\there", "back\\slash", "new\nline",
					     "oct\\040al" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *dir = mkdir_base(names[i]);
		_cleanup_free_ char *src = NULL;
		struct kview_mount m = { 0 };

		ASSERT_TRUE(asprintf(&src, "src %s", names[i]) > 0);
		mount_tmpfs(src, dir);
		ASSERT_EQ(at_both(dir, &m), 1);
		ASSERT_STREQ(m.mnt_point, dir);
		ASSERT_STREQ(m.source, src);
		kview_mount_done(&m);
		ASSERT_EQ(umount2(dir, 0), 0);
	}
}

static void test_long_strings(void)
{
	/* Source and mount point together overflow a first 4 KiB statmount buffer. */
	_cleanup_free_ char *dir = mkdir_base("long");
	_cleanup_free_ char *src = malloc(4000);
	size_t len = strlen(dir);
	struct kview_mount m = { 0 };

	ASSERT_TRUE(src != NULL);
	memset(src, 's', 3999);
	src[3999] = '\0';
	dir = realloc(TAKE_PTR(dir), len + 15 * 201 + 1);
	ASSERT_TRUE(dir != NULL);
	for (int i = 0; i < 15; i++) {
		dir[len++] = '/';
		memset(dir + len, 'a' + i, 200);
		len += 200;
		dir[len] = '\0';
		ASSERT_EQ(mkdir(dir, 0755), 0);
	}
	mount_tmpfs(src, dir);
	ASSERT_EQ(at_both(dir, &m), 1);
	ASSERT_STREQ(m.source, src);
	ASSERT_STREQ(m.mnt_point, dir);
	kview_mount_done(&m);
	ASSERT_EQ(umount2(dir, 0), 0);
}

static void test_fuse_subtype(void)
{
	_cleanup_free_ char *dir = mkdir_base("fuse");
	_cleanup_free_ char *opts = NULL;
	_cleanup_close_ int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	struct kview_mount m = { 0 };

	if (fd < 0) {
		printf("# no /dev/fuse (%s): fuse subtype not tested\n", strerror(errno));
		return;
	}
	/* No daemon ever answers: statx(DONT_SYNC) and the mount table do not need one. */
	ASSERT_TRUE(asprintf(&opts, "fd=%d,rootmode=40000,user_id=0,group_id=0", fd) > 0);
	ASSERT_EQ(mount("kvhost:/export", dir, "fuse.kvtest", MS_NOSUID | MS_NODEV, opts), 0);
	ASSERT_EQ(at_both(dir, &m), 1);
	ASSERT_STREQ(m.fstype, "fuse.kvtest");
	ASSERT_STREQ(m.source, "kvhost:/export");
	kview_mount_done(&m);
	/* Abort the connection first, so nothing can wait for the absent daemon. */
	ASSERT_EQ(close(TAKE_FD(fd)), 0);
	ASSERT_EQ(umount2(dir, MNT_DETACH), 0);
}

static void test_of_fd(void)
{
	_cleanup_free_ char *dir = mkdir_base("fdm");
	_cleanup_free_ char *file = at_base("fdm/f");
	_cleanup_free_ char *plain = mkdir_base("fdplain");

	mount_tmpfs("fd-tmpfs", dir);
	for (size_t i = 0; i < ELEMENTSOF(backends); i++) {
		_cleanup_close_ int fd = -EBADF, pfd = -EBADF, dfd = -EBADF;
		struct kview_mount top = { 0 }, m = { 0 }, b = { 0 };

		if (!use(backends[i]))
			continue;
		fd = open(file, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
		ASSERT_TRUE(fd >= 0);
		pfd = open(dir, O_PATH | O_CLOEXEC);
		ASSERT_TRUE(pfd >= 0);
		dfd = open(plain, O_PATH | O_DIRECTORY | O_CLOEXEC);
		ASSERT_TRUE(dfd >= 0);

		ASSERT_EQ(kview_at(dir, &top), 1);
		ASSERT_EQ(kview_of_fd(fd, &m), 0);
		ASSERT_EQ(m.mnt_id, top.mnt_id);
		assert_same_mount(&m, &top);
		kview_mount_done(&m);
		ASSERT_EQ(kview_of_fd(pfd, &m), 0);
		ASSERT_EQ(m.mnt_id, top.mnt_id);
		kview_mount_done(&m);

		ASSERT_EQ(kview_at(base, &b), 1);
		ASSERT_EQ(kview_of_fd(dfd, &m), 0);
		ASSERT_EQ(m.mnt_id, b.mnt_id);
		ASSERT_STREQ(m.mnt_point, base);
		kview_mount_done(&m);

		ASSERT_EQ(kview_of_fd(-1, &m), -EBADF);
		ASSERT_EQ(kview_of_fd(fd, NULL), -EINVAL);
		kview_mount_done(&top);
		kview_mount_done(&b);
	}
	ASSERT_EQ(umount2(dir, 0), 0);
}

static void test_by_id(void)
{
	_cleanup_free_ char *dir = mkdir_base("byid");

	for (size_t i = 0; i < ELEMENTSOF(backends); i++) {
		struct kview_mount top = { 0 }, m = { 0 };
		uint64_t id;

		if (!use(backends[i]))
			continue;
		mount_tmpfs("by-id", dir);
		ASSERT_EQ(kview_at(dir, &top), 1);
		id = top.mnt_id;
		ASSERT_EQ(kview_by_id(id, &m), 0);
		ASSERT_EQ(m.mnt_id, id);
		ASSERT_EQ(m.parent_id, top.parent_id);
		assert_same_mount(&m, &top);
		kview_mount_done(&m);
		kview_mount_done(&top);

		ASSERT_EQ(umount2(dir, 0), 0);
		ASSERT_EQ(kview_by_id(id, &m), -ENOENT);
		ASSERT_TRUE(m.fstype == NULL);
		ASSERT_EQ(kview_by_id(0, &m), -ENOENT);
		ASSERT_EQ(kview_by_id(UINT64_MAX, &m), -ENOENT);
		ASSERT_EQ(kview_by_id(id, NULL), -EINVAL);
	}
}

static void test_list_under(void)
{
	static const char *const dirs[] = { "lst", "lst/a", "lst/b", "lst/b/c", "lstX", "lstX/d" };
	static const char *const want[] = { "lst/a", "lst/b", "lst/b/c" };
	_cleanup_free_ char *prefix = at_base("lst");
	_cleanup_free_ char *prefix_slash = at_base("lst/");
	struct kview_mount *lists[ELEMENTSOF(backends)] = { 0 };
	size_t counts[ELEMENTSOF(backends)] = { 0 }, used = 0;

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		_cleanup_free_ char *d = mkdir_base(dirs[i]);

		mount_tmpfs(dirs[i], d);
	}

	for (size_t i = 0; i < ELEMENTSOF(backends); i++) {
		struct kview_mount *l = NULL, *all = NULL;
		size_t n = 0, n_all = 0;
		bool seen = false;

		if (!use(backends[i]))
			continue;
		ASSERT_EQ(kview_list_under(prefix, &l, &n), 0);
		ASSERT_EQ(n, ELEMENTSOF(want));
		for (size_t j = 0; j < n; j++) {
			_cleanup_free_ char *p = at_base(want[j]);

			ASSERT_STREQ(l[j].mnt_point, p);
			ASSERT_STREQ(l[j].source, want[j]);
			ASSERT_STREQ(l[j].fstype, "tmpfs");
		}
		kview_mounts_free(l, n);

		ASSERT_EQ(kview_list_under(prefix_slash, &l, &n), 0);
		ASSERT_EQ(n, ELEMENTSOF(want));
		lists[used] = l;
		counts[used] = n;
		used++;

		/* Everything below "/", which itself is not listed. */
		ASSERT_EQ(kview_list_under("/", &all, &n_all), 0);
		ASSERT_TRUE(n_all >= ELEMENTSOF(dirs) + 1);
		for (size_t j = 0; j < n_all; j++) {
			ASSERT_TRUE(strcmp(all[j].mnt_point, "/") != 0);
			seen = seen || strcmp(all[j].mnt_point, prefix) == 0;
		}
		ASSERT_TRUE(seen);
		kview_mounts_free(all, n_all);

		ASSERT_EQ(kview_list_under("relative", &l, &n), -EINVAL);
		ASSERT_EQ(kview_list_under(prefix, NULL, &n), -EINVAL);
	}

	for (size_t i = 1; i < used; i++) {
		ASSERT_EQ(counts[i], counts[0]);
		for (size_t j = 0; j < counts[0]; j++)
			assert_same_mount(&lists[i][j], &lists[0][j]);
	}
	for (size_t i = 0; i < used; i++)
		kview_mounts_free(lists[i], counts[i]);
	kview_mounts_free(NULL, 0);

	/* An empty answer. */
	for (size_t i = 0; i < ELEMENTSOF(backends); i++) {
		_cleanup_free_ char *leaf = at_base("lst/a");
		struct kview_mount *l = NULL;
		size_t n = 1;

		if (!use(backends[i]))
			continue;
		ASSERT_EQ(kview_list_under(leaf, &l, &n), 0);
		ASSERT_EQ(n, 0);
		free(l);
	}

	for (size_t i = ELEMENTSOF(dirs); i > 0; i--) {
		_cleanup_free_ char *d = at_base(dirs[i - 1]);

		ASSERT_EQ(umount2(d, 0), 0);
	}
}

/* Many threads asking at once (run under TSan in CI). */
struct hammer {
	const char *path;
	int fails;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;

	for (int i = 0; i < 200; i++) {
		struct kview_mount m = { 0 };

		if (kview_at(h->path, &m) != 2 || strcmp(m.source, "hammer-top") != 0)
			h->fails++;
		kview_mount_done(&m);
	}
	return NULL;
}

static void test_threads(void)
{
	_cleanup_free_ char *dir = mkdir_base("threads");
	pthread_t t[8];
	struct hammer h[ELEMENTSOF(t)];

	mount_tmpfs("hammer-low", dir);
	mount_tmpfs("hammer-top", dir);
	for (size_t b = 0; b < ELEMENTSOF(backends); b++) {
		if (!use(backends[b]))
			continue;
		for (size_t i = 0; i < ELEMENTSOF(t); i++) {
			h[i] = (struct hammer){ .path = dir };
			ASSERT_EQ(pthread_create(&t[i], NULL, hammer_run, &h[i]), 0);
		}
		for (size_t i = 0; i < ELEMENTSOF(t); i++) {
			ASSERT_EQ(pthread_join(t[i], NULL), 0);
			ASSERT_EQ(h[i].fails, 0);
		}
	}
	ASSERT_EQ(umount2(dir, MNT_DETACH), 0);
	ASSERT_EQ(umount2(dir, MNT_DETACH), 0);
}

static const struct test tests[] = {
	{ "list_under loads libmount first", test_list_under_first },
	{ "backend choice", test_backend_choice },
	{ "not a mount point", test_not_mountpoint },
	{ "tmpfs", test_tmpfs },
	{ "source none", test_none_source },
	{ "bind of a subdirectory", test_bind_subdir },
	{ "stacked and hidden mounts", test_stacked },
	{ "a mount slipped beneath", test_beneath },
	{ "one mount directly on a known parent, in two calls", test_at_id_on },
	{ "mount flags", test_mount_flags },
	{ "symlink", test_symlink },
	{ "escaped names", test_odd_names },
	{ "long strings", test_long_strings },
	{ "fuse subtype", test_fuse_subtype },
	{ "of_fd", test_of_fd },
	{ "by_id", test_by_id },
	{ "list_under", test_list_under },
	{ "threads", test_threads },
};

/*
 * statmount must be usable when the kernel has it with sb_source (6.13+); valgrind, which does
 * not know the syscall, answers ENOSYS and so legitimately leaves only mountinfo.
 */
static bool kernel_should_have_statmount(void)
{
	struct utsname u;
	unsigned maj = 0, min = 0;

	if (syscall(457, NULL, NULL, 0, 0) == 0 || errno == ENOSYS)
		return false;
	ASSERT_EQ(uname(&u), 0);
	if (sscanf(u.release, "%u.%u", &maj, &min) != 2)
		return false;
	return maj > 6 || (maj == 6 && min >= 13);
}

static void setup(void)
{
	test_private_mount_ns();

	/* A tmpfs over /tmp, in this namespace only: an aborted run leaves nothing behind. */
	mount_tmpfs("kview-tmp", "/tmp");
	strcpy(base, "/tmp/test-kview-XXXXXX");
	ASSERT_TRUE(mkdtemp(base) != NULL);
	mount_tmpfs("kview-base", base);

	have_statmount = kview_set_backend(KVIEW_BACKEND_STATMOUNT) == 0;
	if (!have_statmount) {
		ASSERT_TRUE(!kernel_should_have_statmount());
		printf("# statmount back-end unavailable: testing mountinfo only\n");
	}
}

static void teardown(void)
{
	if (umount2(base, MNT_DETACH) < 0 || rmdir(base) < 0 || umount2("/tmp", MNT_DETACH) < 0)
		TEST_FAIL("cleanup of %s: %s", base, strerror(errno));
}

int main(void)
{
	int r;

	setup();
	r = test_run(tests, ELEMENTSOF(tests));
	teardown();
	return r;
}
