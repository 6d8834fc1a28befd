/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-mountpoint.c - the mountpoint is opened once, checked on that fd and mounted on that
 * same fd (issue 9, item 6). Real bind mounts in a private mount namespace under a private
 * tmpfs over /tmp; the engine's test hooks stand in for a racing root process that swaps the
 * mountpoint directory at the worst moments:
 *   - between a first attach's look at the mountpoint and the mount (the window f472022 left
 *     open: it opened the directory again to mount, so a non-empty directory put there in
 *     between was mounted over): refused, the swapped-in directory untouched;
 *   - after the mountpoint fd is open and checked: the mount lands on the checked directory,
 *     wherever it has been moved, is found not to be at the mountpoint, and is taken away;
 *     the swapped-in directory is never mounted over;
 *   - after the mount, another mount stacked on it: verification, which looks from the pinned
 *     parent directory, refuses it and detaches ours, and leaves the other one alone.
 * Exits 77 (skip) when it may not create a mount namespace.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/mountpoint.h"
#include "test-ns.h"
#include "test.h"
#include "test-tmp.h"
#include "cleanup.h"
#include "volmount.h"

static char root[64];
static char state[128], base[128], run[128], export1[128];

/* A context on <root>/{state,base,run} (test-tmp.h), not yet opened. */
static struct volmount_ctx *new_ctx(void)
{
	return test_ctx_in(root);
}

static void ctx_freep(struct volmount_ctx **ctx)
{
	volmount_ctx_free(*ctx);
}

/* How many mounts have @path as their mount point, from /proc/self/mountinfo. */
static unsigned mounts_at(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	unsigned n = 0;

	ASSERT_TRUE(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		char point[PATH_MAX];

		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 && strcmp(point, path) == 0)
			n++;
	}
	(void)fclose(f);
	return n;
}

/* How many mounts lie under @dir (its mount point starts with "@dir/"). */
static unsigned mounts_under(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	size_t n = strlen(dir);
	unsigned c = 0;

	ASSERT_TRUE(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		char point[PATH_MAX];

		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 &&
		    strncmp(point, dir, n) == 0 && point[n] == '/')
			c++;
	}
	(void)fclose(f);
	return c;
}

static char moved[PATH_MAX];

/* The racing root process: the checked directory goes away under another name, and a
 * non-empty directory takes its name. */
static void swap_in_full_dir(const char *mountpoint)
{
	char precious[PATH_MAX + 16];
	_cleanup_close_ int fd = -EBADF;

	(void)snprintf(moved, sizeof(moved), "%s.moved", mountpoint);
	ASSERT_OK(rename(mountpoint, moved) < 0 ? -errno : 0);
	ASSERT_OK(mkdir(mountpoint, 0700) < 0 ? -errno : 0);
	(void)snprintf(precious, sizeof(precious), "%s/precious", mountpoint);
	fd = open(precious, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ASSERT_TRUE(fd >= 0);
}

static void expect_decoy_untouched(const char *mountpoint)
{
	char precious[PATH_MAX + 16];
	struct stat st;

	(void)snprintf(precious, sizeof(precious), "%s/precious", mountpoint);
	ASSERT_EQ(mounts_at(mountpoint), 0u);
	ASSERT_OK(stat(precious, &st) < 0 ? -errno : 0); /* visible: nothing covers it */
	ASSERT_EQ(mounts_at(moved), 0u);               /* ours was taken away */
	ASSERT_EQ(mounts_under(base), 0u);
}

/* The share's mountpoint, as `volmount path` prints it. */
static char *share_path(struct volmount_ctx *ctx)
{
	char *mp = NULL;

	ASSERT_OK(volmount_share_path(ctx, "bind", export1, &mp));
	return mp;
}

static void clean_up(const char *mountpoint)
{
	char precious[PATH_MAX + 16];

	(void)snprintf(precious, sizeof(precious), "%s/precious", mountpoint);
	(void)unlink(precious);
	(void)rmdir(mountpoint);
	(void)rmdir(moved);
}

static void attach_refused_with(void (**hook)(const char *), const char *want_msg)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *mp = NULL, *dev = NULL;
	int r;

	mp = share_path(ctx);
	*hook = swap_in_full_dir;
	r = volmount_attach(ctx, "bind", export1, "v1", "o1", NULL, 0, &dev);
	*hook = NULL;
	if (r >= 0)
		TEST_FAIL("attach succeeded although the mountpoint was swapped: %s", dev);
	if (!strstr(volmount_ctx_errmsg(ctx), want_msg))
		TEST_FAIL("unexpected message: '%s' (want '%s')", volmount_ctx_errmsg(ctx), want_msg);
	ASSERT_TRUE(volmount_ctx_errkind(ctx) == VOLMOUNT_ERR_MOUNTPOINT);
	expect_decoy_untouched(mp);
	clean_up(mp);
}

/* The window between the first attach's look and the mount. */
static void test_swap_after_check(void)
{
	attach_refused_with(&share_test_after_check, "is not empty; refusing to mount over it");
}

/* After the fd is checked: the mount goes onto the checked directory, not the decoy. */
static void test_swap_before_mount(void)
{
	attach_refused_with(&share_test_before_mount, "did not verify");
}

static void stack_tmpfs(const char *mountpoint)
{
	ASSERT_OK(mount("racer", mountpoint, "tmpfs", 0, "size=1m") < 0 ? -errno : 0);
}

/* After the mount, before verification: a racing mount on top. */
static void test_stacked_before_verify(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *mp = NULL, *dev = NULL;
	int r;

	mp = share_path(ctx);
	share_test_before_verify = stack_tmpfs;
	r = volmount_attach(ctx, "bind", export1, "v1", "o1", NULL, 0, &dev);
	share_test_before_verify = NULL;
	if (r >= 0)
		TEST_FAIL("attach succeeded under a stacked mount: %s", dev);
	if (!strstr(volmount_ctx_errmsg(ctx), "stacked"))
		TEST_FAIL("unexpected message: '%s'", volmount_ctx_errmsg(ctx));
	/* Ours is gone; the racer's tmpfs is the one mount left there, untouched. */
	ASSERT_EQ(mounts_at(mp), 1u);
	ASSERT_OK(umount2(mp, UMOUNT_NOFOLLOW) < 0 ? -errno : 0);
	ASSERT_EQ(mounts_under(base), 0u);
}

/* Without a race, the same attach works and mounts exactly once. */
static void test_no_race(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *mp = NULL, *dev = NULL;

	mp = share_path(ctx);
	ASSERT_OK(volmount_attach(ctx, "bind", export1, "v1", "o1", NULL, 0, &dev));
	ASSERT_EQ(mounts_at(mp), 1u);
	ASSERT_OK(volmount_detach(ctx, "bind", export1, "v1", "o1"));
	ASSERT_EQ(mounts_at(mp), 0u);
}

static const struct test tests[] = {
	{ "swap between the first look and the mount: refused", test_swap_after_check },
	{ "swap after the fd is checked: the decoy is never mounted over", test_swap_before_mount },
	{ "a mount stacked before verification: refused, ours taken away",
	  test_stacked_before_verify },
	{ "no race: mounted once", test_no_race },
};

static void setup(void)
{
	test_private_mount_ns();
	ASSERT_OK(mount("mp-tmp", "/tmp", "tmpfs", 0, "size=16m,mode=0755") < 0 ? -errno : 0);
	strcpy(root, "/tmp/test-mp-XXXXXX");
	ASSERT_TRUE(mkdtemp(root) != NULL);
	ASSERT_OK(chmod(root, 0755) < 0 ? -errno : 0);
	(void)snprintf(state, sizeof(state), "%s/state", root);
	(void)snprintf(base, sizeof(base), "%s/base", root);
	(void)snprintf(run, sizeof(run), "%s/run", root);
	(void)snprintf(export1, sizeof(export1), "%s/export1", root);
	ASSERT_OK(mkdir(export1, 0755) < 0 ? -errno : 0);
}

int main(void)
{
	int r;

	setup();
	r = test_run(tests, ELEMENTSOF(tests));
	(void)umount2("/tmp", MNT_DETACH);
	return r;
}
