/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-warm.c - attach and detach through a context that stays open (the warm path: one
 * transaction, ids-only kernel check, no share lock), against real bind mounts in a
 * private mount namespace of its own under a private tmpfs over /tmp. What it shows: an open
 * context answers as a fresh one (every CLI call) does: a second spelling of a mounted share
 * (through a symlinked parent) reaches that one share for attach and detach, and a spelling
 * that comes to name another directory names another share for attach, while a detach with
 * the spelling a share was made under still reaches it; exports refused after resolution
 * (a symlink as last component, a path into volmount's own directories, a source removed) are
 * refused with nothing created, not even a lock file; a share whose lock file vanished still
 * attaches and detaches; a host that is down refuses the warm attach; a mount taken away is
 * mounted again, a covered one refused; what another context changes between two warm calls
 * (attachments, host state, a new mount) is seen by the next; warm calls go through while the
 * share's lock is held elsewhere, calls that mount or unmount wait for it. Exits 77 (skip) when it may not create a mount
 * namespace.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/mount.h"
#include "engine/mountpoint.h"
#include "engine/probe.h"
#include "engine/request.h"
#include "internal.h"
#include "kview.h"
#include "ledger.h"
#include "test.h"
#include "test-tmp.h"
#include "test-ns.h"
#include "cleanup.h"
#include "volmount.h"

static char root[64]; /* a tmpfs, private to this test's namespace */
static char state[128], base[128], run[128], locks[160];
static char exports[128], link_dir[128], e1[160], e1_linked[160], sym_export[160];

/* A context on <root>/{state,base,run} (test-tmp.h), not yet opened. */
static struct volmount_ctx *new_ctx(void)
{
	return test_ctx_in(root);
}

static void ctx_freep(struct volmount_ctx **ctx)
{
	volmount_ctx_free(*ctx);
}

static void closedirp(DIR **d)
{
	if (*d)
		(void)closedir(*d);
}

static unsigned count_entries(const char *dir)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	return n;
}

static char *attach(struct volmount_ctx *ctx, const char *export, const char *volume)
{
	char *dev = NULL;
	int r = volmount_attach(ctx, "bind", export, volume, "o", NULL, 0, &dev);

	if (r < 0)
		TEST_FAIL("attach %s %s: %s", export, volume, volmount_ctx_errmsg(ctx));
	ASSERT_TRUE(dev != NULL);
	return dev;
}

static char *mountpoint_of(const char *device)
{
	char *mp = strdup(device), *slash;

	ASSERT_TRUE(mp != NULL);
	slash = strrchr(mp, '/');
	ASSERT_TRUE(slash != NULL);
	*slash = '\0';
	return mp;
}

/* The device path @device lies in the share mounted at @mp. */
static void expect_in_share(const char *device, const char *mp)
{
	_cleanup_free_ char *got = mountpoint_of(device);

	ASSERT_STREQ(got, mp);
}

static size_t n_attachments(struct volmount_ctx *ctx, const char *export)
{
	struct volmount_snapshot *s = NULL;
	size_t n = 0, found = 0;

	ASSERT_OK(volmount_snapshot_new(ctx, &s));
	for (size_t i = 0; i < volmount_snapshot_n_shares(s); i++)
		if (strcmp(volmount_snapshot_share_export(s, i), export) == 0) {
			n = volmount_snapshot_share_n_attachments(s, i);
			found++;
		}
	ASSERT_TRUE(found <= 1);
	volmount_snapshot_free(s);
	return n;
}

static size_t n_shares(struct volmount_ctx *ctx)
{
	struct volmount_snapshot *s = NULL;
	size_t n;

	ASSERT_OK(volmount_snapshot_new(ctx, &s));
	n = volmount_snapshot_n_shares(s);
	volmount_snapshot_free(s);
	return n;
}

static void mkdir_p(const char *p)
{
	ASSERT_OK(mkdir(p, 0755) < 0 ? -errno : 0);
}

/* Warm attach and detach under a second spelling reach the one share; mounted once. */
static void test_two_spellings(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *d1 = NULL, *d2 = NULL, *d3 = NULL, *mp = NULL;

	d1 = attach(ctx, e1, "v1"); /* opens the context: resolved at once */
	mp = mountpoint_of(d1);
	ASSERT_EQ(kview_at(mp, NULL), 1);
	d2 = attach(ctx, e1, "v2"); /* warm, as given */
	expect_in_share(d2, mp);
	d3 = attach(ctx, e1_linked, "v3"); /* warm miss, resolved to the same share */
	expect_in_share(d3, mp);
	ASSERT_EQ(kview_at(mp, NULL), 1);
	ASSERT_EQ(n_shares(ctx), 1);
	ASSERT_EQ(n_attachments(ctx, e1), 3);

	/* Detach under either spelling; a second detach finds nothing (1). */
	ASSERT_EQ(volmount_detach(ctx, "bind", e1_linked, "v1", "o"), 0);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1_linked, "v1", "o"), 1);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v3", "o"), 0);
	ASSERT_EQ(n_attachments(ctx, e1), 1);
	ASSERT_EQ(kview_at(mp, NULL), 1);
	/* The last one, through the symlinked spelling: unmounted, directory gone. */
	ASSERT_EQ(volmount_detach(ctx, "bind", e1_linked, "v2", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 0);
	ASSERT_TRUE(access(mp, F_OK) < 0 && errno == ENOENT);
	ASSERT_EQ(n_shares(ctx), 0);
	/* Nothing left to detach, under either spelling. */
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v2", "o"), 1);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1_linked, "v2", "o"), 1);
}

/* Refused on an open context as on a fresh one, with nothing created. */
static void test_refused_when_open(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *d = attach(ctx, e1, "keep"), *inside = NULL;
	_cleanup_free_ char *mp = mountpoint_of(d);
	unsigned lock_files = count_entries(locks), dirs = count_entries(base);
	char *dev = NULL;

	ASSERT_TRUE(asprintf(&inside, "%s/bind", base) > 0);
	ASSERT_EQ(volmount_attach(ctx, "bind", sym_export, "v", "o", NULL, 0, &dev), -EINVAL);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_INPUT);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), "symlink") != NULL);
	ASSERT_EQ(volmount_attach(ctx, "bind", inside, "v", "o", NULL, 0, &dev), -EINVAL);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_INPUT);
	ASSERT_TRUE(dev == NULL);
	ASSERT_EQ(count_entries(locks), lock_files);
	ASSERT_EQ(count_entries(base), dirs);
	ASSERT_EQ(n_shares(ctx), 1);
	ASSERT_EQ(kview_at(mp, NULL), 1);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "keep", "o"), 0);
}

/* A mounted share whose lock file is gone (a run directory made afresh) still attaches and
 * detaches: warm calls take no share lock, and the last detach makes the lock file again. */
static void test_lock_file_gone(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_(ctx_freep) struct volmount_ctx *other = NULL;
	_cleanup_free_ char *d1 = attach(ctx, e1, "v1"), *d2 = NULL, *mp = mountpoint_of(d1);
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;

	/* Another context (its cache holds nothing) sees the run directory wiped. */
	ASSERT_TRUE((d = opendir(locks)) != NULL);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			ASSERT_OK(unlinkat(dirfd(d), de->d_name, 0) < 0 ? -errno : 0);
	ASSERT_EQ(count_entries(locks), 0);
	other = new_ctx();
	d2 = attach(other, e1, "v0"); /* the context opens, then the warm path */
	d2 = (free(d2), attach(other, e1, "v2"));
	expect_in_share(d2, mp);
	ASSERT_EQ(count_entries(locks), 0); /* neither took the share's lock */
	ASSERT_EQ(n_attachments(other, e1), 3);
	ASSERT_EQ(kview_at(mp, NULL), 1);
	ASSERT_EQ(volmount_detach(other, "bind", e1, "v0", "o"), 0);
	ASSERT_EQ(volmount_detach(other, "bind", e1, "v2", "o"), 0);
	ASSERT_EQ(count_entries(locks), 0);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v1", "o"), 0); /* the last: locked */
	ASSERT_EQ(count_entries(locks), 1);
	ASSERT_EQ(kview_at(mp, NULL), 0);
}

/* An OFD lock on <run>/locks/<hash>.lock, as another process's general path holds it. */
static int hold_share_lock(const char *mp)
{
	const char *hash = strrchr(mp, '/') + 1;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	_cleanup_free_ char *path = NULL;
	int fd;

	ASSERT_TRUE(asprintf(&path, "%s/%s.lock", locks, hash) > 0);
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0);
	return fd;
}

/*
 * attach.c, note 7: the share lock guards the mount, the ledger's transaction the count. With
 * the share's lock held elsewhere (a repair, a first attach or a last detach of another
 * process), a warm attach and a detach that leaves an attachment go through at once; the last
 * detach, which unmounts, waits for the lock and gives up at the deadline with nothing
 * changed; and a share whose count is 0 is never joined without the lock.
 */
static void test_share_lock_held(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *d1 = attach(ctx, e1, "v1"), *d2 = NULL, *mp = mountpoint_of(d1);
	char *dev = NULL;
	int held;

	ASSERT_OK(volmount_ctx_set_timeout(ctx, 300));
	held = hold_share_lock(mp);
	d2 = attach(ctx, e1, "v2");
	expect_in_share(d2, mp);
	ASSERT_EQ(n_attachments(ctx, e1), 2);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v2", "o"), 0);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v2", "o"), 1); /* gone already */
	ASSERT_EQ(n_attachments(ctx, e1), 1);
	/* The last detach unmounts: it waits, and times out with nothing changed. */
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v1", "o"), -ETIMEDOUT);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_TEMPFAIL);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), "lock of share") != NULL);
	ASSERT_EQ(n_attachments(ctx, e1), 1);
	ASSERT_EQ(kview_at(mp, NULL), 1);
	/* Released: the last detach unmounts. */
	(void)close(held);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v1", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 0);
	/* Mounted again; a last detach that timed out leaves the count at 1, and the next
	 * attach still joins without the lock. */
	d2 = (free(d2), attach(ctx, e1, "v1"));
	held = hold_share_lock(mp);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v1", "o"), -ETIMEDOUT);
	ASSERT_EQ(volmount_attach(ctx, "bind", e1, "v2", "o", NULL, 0, &dev), 0);
	free(dev);
	dev = NULL;
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v2", "o"), 0);
	(void)close(held);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v1", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 0);
	/* Nothing attached: the first attach mounts, under the lock, so it waits. */
	held = hold_share_lock(mp);
	ASSERT_EQ(volmount_attach(ctx, "bind", e1, "v1", "o", NULL, 0, &dev), -ETIMEDOUT);
	ASSERT_TRUE(dev == NULL);
	ASSERT_EQ(kview_at(mp, NULL), 0);
	ASSERT_EQ(n_attachments(ctx, e1), 0);
	(void)close(held);
}

/* With the host down the warm attach and the detach are refused, and nothing changes. */
static void test_host_down(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *d1 = attach(ctx, e1, "v1"), *mp = mountpoint_of(d1);
	char *dev = NULL;

	ASSERT_OK(volmount_host_down(ctx));
	ASSERT_EQ(volmount_attach(ctx, "bind", e1, "v2", "o", NULL, 0, &dev), -EHOSTDOWN);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_HOSTDOWN);
	ASSERT_EQ(volmount_attach(ctx, "bind", e1_linked, "v2", "o", NULL, 0, &dev), -EHOSTDOWN);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v1", "o"), -EHOSTDOWN);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1_linked, "v1", "o"), -EHOSTDOWN);
	ASSERT_TRUE(dev == NULL);
	ASSERT_OK(volmount_host_up(ctx, NULL));
	ASSERT_EQ(n_attachments(ctx, e1), 1);
	ASSERT_EQ(kview_at(mp, NULL), 1);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v1", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 0);
}

/*
 * The warm paths keep what they read of a share between calls (ledger.c, struct warm_cache),
 * valid only while no other connection changed the ledger. Every change another context makes
 * in between is seen: its attachments counted (so the last detach still unmounts), its
 * host-down refused, its remount's new mount id noticed.
 */
static void test_other_context_changes(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *a = new_ctx();
	_cleanup_(ctx_freep) struct volmount_ctx *b = new_ctx();
	_cleanup_free_ char *d1 = attach(a, e1, "v1"), *mp = mountpoint_of(d1);
	_cleanup_free_ char *d2 = attach(a, e1, "v2"), *d3 = NULL, *d4 = NULL;
	char *dev = NULL;

	/* a's warm detach and attach keep the share's count (now 2). */
	ASSERT_EQ(volmount_detach(a, "bind", e1, "v2", "o"), 0);
	d2 = (free(d2), attach(a, e1, "v2"));
	/* b adds one and removes one of a's: a's next detaches count 3 - 1 = 2 left, then 1. */
	d3 = attach(b, e1, "v3");
	ASSERT_EQ(volmount_detach(b, "bind", e1, "v1", "o"), 0);
	ASSERT_EQ(volmount_detach(a, "bind", e1, "v2", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 1);
	ASSERT_EQ(n_attachments(a, e1), 1);
	/* b takes the host down: a's warm attach and detach are refused, nothing changes. */
	ASSERT_OK(volmount_host_down(b));
	ASSERT_EQ(volmount_attach(a, "bind", e1, "v4", "o", NULL, 0, &dev), -EHOSTDOWN);
	ASSERT_TRUE(dev == NULL);
	ASSERT_EQ(volmount_detach(a, "bind", e1, "v3", "o"), -EHOSTDOWN);
	ASSERT_OK(volmount_host_up(b, NULL));
	ASSERT_EQ(n_attachments(a, e1), 1);
	/* The mount taken away and made again by b: a attaches to the new mount, once. */
	ASSERT_OK(umount2(mp, 0) < 0 ? -errno : 0);
	d4 = attach(b, e1, "v4");
	ASSERT_EQ(kview_at(mp, NULL), 1);
	d2 = (free(d2), attach(a, e1, "v2"));
	ASSERT_EQ(kview_at(mp, NULL), 1);
	ASSERT_EQ(n_attachments(a, e1), 3);
	/* The last detach, by a, after b's: unmounted. */
	ASSERT_EQ(volmount_detach(b, "bind", e1, "v4", "o"), 0);
	ASSERT_EQ(volmount_detach(a, "bind", e1, "v3", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 1);
	ASSERT_EQ(volmount_detach(a, "bind", e1, "v2", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 0);
	ASSERT_EQ(n_shares(a), 0);
}

/* The mount taken away behind volmount's back: the warm path must not answer from the
 * ledger alone; the general path mounts it again. */
static void test_mount_gone(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *d1 = attach(ctx, e1, "v1"), *d2 = NULL, *mp = mountpoint_of(d1);

	ASSERT_OK(umount2(mp, 0) < 0 ? -errno : 0);
	ASSERT_EQ(kview_at(mp, NULL), 0);
	d2 = attach(ctx, e1, "v2");
	ASSERT_EQ(kview_at(mp, NULL), 1);
	/* Something stacked on top of ours: refused, not attached. */
	ASSERT_OK(mount("stacked", mp, "tmpfs", 0, "size=1m") < 0 ? -errno : 0);
	ASSERT_EQ(volmount_attach(ctx, "bind", e1, "v3", "o", NULL, 0, NULL), -EADDRINUSE);
	ASSERT_EQ(n_attachments(ctx, e1), 2);
	ASSERT_OK(umount2(mp, 0) < 0 ? -errno : 0);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v1", "o"), 0);
	ASSERT_EQ(volmount_detach(ctx, "bind", e1, "v2", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 0);
}

/*
 * A context that stays open answers as a fresh one (every CLI call) does, even when the same
 * export string comes to name another directory: the parent renamed and a symlink put in its
 * place. The string now names a second share; detach under it, through the open context,
 * removes the attachment made there.
 */
static void test_spelling_changes_meaning(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *a = new_ctx();
	_cleanup_(ctx_freep) struct volmount_ctx *b = new_ctx();
	_cleanup_free_ char *moved = NULL, *moved_e1 = NULL, *d1 = NULL, *d2 = NULL, *d3 = NULL;
	_cleanup_free_ char *mp1 = NULL, *mp2 = NULL;

	ASSERT_TRUE(asprintf(&moved, "%s-moved", exports) > 0);
	ASSERT_TRUE(asprintf(&moved_e1, "%s/e1", moved) > 0);
	d1 = attach(a, e1, "v1");
	mp1 = mountpoint_of(d1);
	ASSERT_OK(rename(exports, moved) < 0 ? -errno : 0);
	ASSERT_OK(symlink(moved, exports) < 0 ? -errno : 0);

	d2 = attach(b, e1, "v2"); /* a fresh context: resolved, another share */
	mp2 = mountpoint_of(d2);
	ASSERT_TRUE(strcmp(mp1, mp2) != 0);
	ASSERT_EQ(n_attachments(a, moved_e1), 1);
	d3 = attach(a, e1, "v3"); /* the open context agrees */
	expect_in_share(d3, mp2);
	ASSERT_EQ(volmount_detach(a, "bind", e1, "v2", "o"), 0);
	ASSERT_EQ(volmount_detach(a, "bind", e1, "v3", "o"), 0);
	ASSERT_EQ(kview_at(mp2, NULL), 0);
	/* The first share keeps the name it was made under. A detach that names it exactly, with
	 * an attachment it holds, reaches it though the name now resolves elsewhere (the caller
	 * detaches with the export it attached with: nothing is left mounted); the new spelling
	 * of that directory does not. */
	ASSERT_EQ(kview_at(mp1, NULL), 1);
	ASSERT_EQ(volmount_detach(b, "bind", moved_e1, "v1", "o"), 1);
	ASSERT_EQ(kview_at(mp1, NULL), 1);
	ASSERT_EQ(volmount_detach(a, "bind", e1, "v1", "o"), 0);
	ASSERT_EQ(kview_at(mp1, NULL), 0);
	ASSERT_EQ(n_shares(a), 0);
	ASSERT_OK(unlink(exports) < 0 ? -errno : 0);
	ASSERT_OK(rename(moved, exports) < 0 ? -errno : 0);
}

/* A source directory removed under a mounted share: a new attachment is refused by an open
 * context as by a fresh one; the existing attachment still detaches. */
static void test_source_removed(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *e2 = NULL, *d1 = NULL, *mp = NULL;

	ASSERT_TRUE(asprintf(&e2, "%s/e2", exports) > 0);
	mkdir_p(e2);
	d1 = attach(ctx, e2, "v1");
	mp = mountpoint_of(d1);
	ASSERT_OK(rmdir(e2) < 0 ? -errno : 0);
	ASSERT_EQ(volmount_attach(ctx, "bind", e2, "v2", "o", NULL, 0, NULL), -EINVAL);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_INPUT);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), "does not exist") != NULL);
	ASSERT_EQ(n_attachments(ctx, e2), 1);
	ASSERT_EQ(volmount_detach(ctx, "bind", e2, "v1", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 0);
}

/* The ledger as after a reboot: another boot recorded, and (when @id) the share's recorded
 * mount id set to @id, as a mount of the new boot may carry it. Through its own context. */
static void as_after_reboot(const char *hash, uint64_t id)
{
	_cleanup_(ctx_freep) struct volmount_ctx *c = new_ctx();

	ASSERT_OK(ctx_open(c));
	ASSERT_OK(ledger_host_set(c->ledger, "up", false, "previous-boot"));
	if (id)
		ASSERT_OK(ledger_share_set(c->ledger, hash, LEDGER_MOUNTED, id));
}

/* A mount of the new boot that carries the id the ledger recorded in the last one (ids are
 * handed out alike each boot) is not the share's: the reconcile forgets every old id, so no
 * warm attach trusts it, and the general path refuses it. */
static void test_reboot_id_reused(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *a = new_ctx();
	_cleanup_(ctx_freep) struct volmount_ctx *b = NULL;
	_cleanup_free_ char *d1 = attach(a, e1, "v1"), *mp = mountpoint_of(d1), *evil = NULL;
	struct kview_mount m = {};
	char *dev = NULL;

	ASSERT_TRUE(asprintf(&evil, "%s/evil", exports) > 0);
	mkdir_p(evil);
	/* The reboot: the share's mount gone, another directory mounted there by someone else. */
	ASSERT_OK(umount2(mp, MNT_DETACH) < 0 ? -errno : 0);
	ASSERT_OK(mount(evil, mp, NULL, MS_BIND, NULL) < 0 ? -errno : 0);
	ASSERT_EQ(kview_at(mp, &m), 1);
	as_after_reboot(strrchr(mp, '/') + 1, m.mnt_id);
	kview_mount_done(&m);
	b = new_ctx();
	ASSERT_EQ(volmount_attach(b, "bind", e1, "v2", "o", NULL, 0, &dev), -EADDRINUSE);
	ASSERT_EQ(volmount_ctx_errkind(b), VOLMOUNT_ERR_MOUNTPOINT);
	ASSERT_TRUE(dev == NULL);
	ASSERT_EQ(n_attachments(b, e1), 1);
	ASSERT_OK(umount2(mp, MNT_DETACH) < 0 ? -errno : 0);
	ASSERT_OK(rmdir(evil) < 0 ? -errno : 0);
	ASSERT_EQ(volmount_host_up(b, NULL), 0); /* mounts the share again */
	ASSERT_EQ(volmount_detach(b, "bind", e1, "v1", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 0);
}

/* While another process reconciles a new boot (the host lock narrowed: its lock byte shared,
 * the reconcile byte and the share's lock held), a fresh context's call does not wait for the
 * whole reconcile, but its share, not reached yet, is: no warm attach before the boot is
 * recorded, though the recorded mount is still there with its id. */
static void test_warm_waits_for_reconcile(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *a = new_ctx();
	_cleanup_(ctx_freep) struct volmount_ctx *b = NULL;
	_cleanup_free_ char *d1 = attach(a, e1, "v1"), *mp = mountpoint_of(d1), *host = NULL;
	struct flock lk = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 1, .l_len = 1 };
	struct flock rc = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2, .l_len = 1 };
	char *dev = NULL;
	int hfd, sfd;

	as_after_reboot(strrchr(mp, '/') + 1, 0);
	ASSERT_TRUE(asprintf(&host, "%s/host.lock", run) > 0);
	hfd = open(host, O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(hfd >= 0);
	ASSERT_OK(fcntl(hfd, F_OFD_SETLK, &lk) < 0 ? -errno : 0);
	ASSERT_OK(fcntl(hfd, F_OFD_SETLK, &rc) < 0 ? -errno : 0);
	sfd = hold_share_lock(mp);
	b = new_ctx();
	ASSERT_OK(volmount_ctx_set_timeout(b, 300));
	ASSERT_EQ(volmount_attach(b, "bind", e1, "v2", "o", NULL, 0, &dev), -ETIMEDOUT);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(b), "lock of share") != NULL);
	ASSERT_EQ(n_attachments(b, e1), 1);
	/* The last detach, by another spelling: it finds the share that holds the attachment
	 * (not "no such attachment" under the spelling's own name) and waits for its lock. */
	ASSERT_EQ(volmount_detach(b, "bind", e1_linked, "v1", "o"), -ETIMEDOUT);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(b), "lock of share") != NULL);
	ASSERT_EQ(n_attachments(b, e1), 1);
	(void)close(sfd);
	(void)close(hfd);
	ASSERT_EQ(volmount_detach(a, "bind", e1, "v1", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 0);
}

/* A host-up that published the host up and then died leaves the boot of the recorded ids
 * marked unfinished ("~<boot>"). On the same boot those ids are still the mounts': the next
 * call's reconcile keeps them, so a share it cannot verify again (its source removed) still
 * detaches and unmounts by its id. */
static void test_unfinished_hostup_same_boot(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *a = new_ctx();
	_cleanup_(ctx_freep) struct volmount_ctx *b = NULL;
	_cleanup_free_ char *e3 = NULL, *d1 = NULL, *mp = NULL;
	char marker[64];

	ASSERT_TRUE(asprintf(&e3, "%s/e3", exports) > 0);
	mkdir_p(e3);
	d1 = attach(a, e3, "v1");
	mp = mountpoint_of(d1);
	ASSERT_OK(rmdir(e3) < 0 ? -errno : 0);
	(void)snprintf(marker, sizeof(marker), "~%s", a->boot_id);
	ASSERT_OK(ledger_host_set(a->ledger, "up", false, marker));
	b = new_ctx();
	ASSERT_EQ(volmount_detach(b, "bind", e3, "v1", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 0);
	ASSERT_EQ(n_shares(b), 0);
}

/* After a reboot, before anything reconciled: check does not call a mount "ours" by an id of
 * the last boot, and repair reconciles first, so a mount someone else made there, carrying
 * the id recorded for a share on its way out (unmounting, no attachment), is left alone. */
static void test_repair_after_reboot(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *a = new_ctx();
	_cleanup_(ctx_freep) struct volmount_ctx *b = NULL;
	_cleanup_free_ char *d1 = attach(a, e1, "v1"), *mp = mountpoint_of(d1), *evil = NULL;
	const char *hash = strrchr(mp, '/') + 1;
	struct volmount_snapshot *snap = NULL;
	struct volmount_report *rep = NULL;
	struct kview_mount m = {};
	bool removed = false;
	size_t left = 9;

	/* A last detach whose unmount never happened: the row says unmounting. */
	ASSERT_OK(ledger_detach(a->ledger, hash, "v1", "o", &removed, &left));
	ASSERT_TRUE(removed);
	ASSERT_EQ(left, 0);
	/* The reboot: someone else's mount there, carrying the recorded id. */
	ASSERT_TRUE(asprintf(&evil, "%s/evil2", exports) > 0);
	mkdir_p(evil);
	ASSERT_OK(umount2(mp, MNT_DETACH) < 0 ? -errno : 0);
	ASSERT_OK(mount(evil, mp, NULL, MS_BIND, NULL) < 0 ? -errno : 0);
	ASSERT_EQ(kview_at(mp, &m), 1);
	ASSERT_OK(ledger_share_set(a->ledger, hash, LEDGER_UNMOUNTING, m.mnt_id));
	kview_mount_done(&m);
	ASSERT_OK(ledger_host_set(a->ledger, "up", false, "previous-boot"));

	b = new_ctx();
	ASSERT_OK(volmount_snapshot_new(b, &snap));
	ASSERT_EQ(volmount_snapshot_n_shares(snap), 1);
	ASSERT_STREQ(volmount_snapshot_share_state(snap, 0), "foreign");
	volmount_snapshot_free(snap);
	(void)volmount_repair(b, &rep);
	volmount_report_free(rep);
	ASSERT_EQ(kview_at(mp, NULL), 1); /* someone else's mount, left alone */
	ASSERT_OK(umount2(mp, MNT_DETACH) < 0 ? -errno : 0);
	ASSERT_OK(rmdir(evil) < 0 ? -errno : 0);
	ASSERT_OK(volmount_repair(b, NULL));
	ASSERT_EQ(n_shares(b), 0);
}

/* share_test_before_mount: the reconciling process dies on reaching this mountpoint. */
static char die_at[256];

static void die_before_mount(const char *mountpoint)
{
	if (strcmp(mountpoint, die_at) == 0)
		_exit(0);
}

/*
 * After a reboot, a host-up (@host_up) or another call's own reconcile remounts the first of
 * two shares and dies before the second (one share at a time, in mountpoint order). The first
 * share's new id is of this boot and must stay trusted: check calls it mounted, and with its
 * source removed it still detaches and unmounts by that id.
 */
static void reconcile_dies_after_reboot(bool host_up)
{
	_cleanup_(ctx_freep) struct volmount_ctx *a = new_ctx();
	_cleanup_(ctx_freep) struct volmount_ctx *b = NULL;
	_cleanup_free_ char *ea = NULL, *eb = NULL, *da = NULL, *db = NULL;
	_cleanup_free_ char *mpa = NULL, *mpb = NULL;
	struct volmount_snapshot *snap = NULL;
	pid_t pid;
	int st;

	ASSERT_TRUE(asprintf(&ea, "%s/ra%d", exports, host_up) > 0);
	ASSERT_TRUE(asprintf(&eb, "%s/rb%d", exports, host_up) > 0);
	mkdir_p(ea);
	mkdir_p(eb);
	da = attach(a, ea, "v1");
	db = attach(a, eb, "v1");
	mpa = mountpoint_of(da);
	mpb = mountpoint_of(db);
	if (strcmp(mpa, mpb) > 0) { /* a: the share reconciled first */
		char *t = mpa;

		mpa = mpb;
		mpb = t;
		t = ea;
		ea = eb;
		eb = t;
	}
	ASSERT_OK(umount2(mpa, MNT_DETACH) < 0 ? -errno : 0);
	ASSERT_OK(umount2(mpb, MNT_DETACH) < 0 ? -errno : 0);
	ASSERT_OK(ledger_host_set(a->ledger, "up", false, "previous-boot"));
	(void)snprintf(die_at, sizeof(die_at), "%s", mpb);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct volmount_ctx *c = new_ctx();

		if (volmount_ctx_set_max_helpers(c, 1) < 0)
			_exit(2);
		share_test_before_mount = die_before_mount;
		if (host_up)
			(void)volmount_host_up(c, NULL);
		else
			(void)volmount_detach(c, "bind", e1, "nothing", "o");
		_exit(3); /* it did not reach the second share */
	}
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ASSERT_EQ(kview_at(mpa, NULL), 1);
	ASSERT_EQ(kview_at(mpb, NULL), 0);
	b = new_ctx();
	ASSERT_OK(volmount_snapshot_new(b, &snap));
	for (size_t i = 0; i < volmount_snapshot_n_shares(snap); i++)
		if (strcmp(volmount_snapshot_share_export(snap, i), ea) == 0)
			ASSERT_STREQ(volmount_snapshot_share_state(snap, i), "mounted");
	volmount_snapshot_free(snap);
	ASSERT_OK(rmdir(ea) < 0 ? -errno : 0);
	ASSERT_EQ(volmount_detach(b, "bind", ea, "v1", "o"), 0);
	ASSERT_EQ(kview_at(mpa, NULL), 0);
	ASSERT_EQ(volmount_detach(b, "bind", eb, "v1", "o"), 0);
	ASSERT_EQ(kview_at(mpb, NULL), 0);
	ASSERT_EQ(n_shares(b), 0);
}

static void test_hostup_dies_after_reboot(void)
{
	reconcile_dies_after_reboot(true);
}

static void test_first_call_dies_after_reboot(void)
{
	reconcile_dies_after_reboot(false);
}

/* share_test_before_unmount: a warm attach of another context, made while repair is about to
 * unmount the share; what it returned and the share's row as it found it. */
static struct volmount_ctx *during_ctx;
static int during_attach;
static char during_state[16];
static uint64_t during_id;

static void attach_during_repair(const char *mountpoint)
{
	struct ledger_share row = {};
	char *dev = NULL;

	(void)mountpoint;
	ASSERT_OK(ledger_share_get(during_ctx->ledger, strrchr(mountpoint, '/') + 1, &row));
	(void)snprintf(during_state, sizeof(during_state), "%s", row.state);
	during_id = row.mount_id;
	ledger_share_done(&row);
	during_attach = volmount_attach(during_ctx, "bind", e1, "v2", "o", NULL, 0, &dev);
	free(dev);
}

/* The repair of an unhealthy share marks it pending before it unmounts it: a warm attach (no
 * share lock) from then on takes the general path and waits for the repair, and never joins a
 * share about to be unmounted (it might not be mounted again). */
static void test_repair_marks_pending_first(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *a = new_ctx();
	_cleanup_free_ char *d1 = attach(a, e1, "v1"), *mp = mountpoint_of(d1);
	_cleanup_(share_req_done) struct share_req req = { .src_fd = -EBADF };
	struct ledger_share row = {};
	int held;

	during_ctx = new_ctx();
	ASSERT_OK(volmount_ctx_set_timeout(during_ctx, 300));
	ASSERT_OK(ctx_open(during_ctx));
	ASSERT_OK(ledger_share_get(a->ledger, strrchr(mp, '/') + 1, &row));
	ASSERT_OK(share_req_from_row(a, &row, &req));
	held = hold_share_lock(mp); /* as repair holds it */
	share_test_before_unmount = attach_during_repair;
	ASSERT_OK(share_remount_unhealthy(a, &row, &req, row.mount_id, HEALTH_STALE, EIO, NULL));
	share_test_before_unmount = NULL;
	(void)close(held);
	ASSERT_STREQ(during_state, LEDGER_PENDING);
	ASSERT_EQ(during_id, 0);
	ASSERT_EQ(during_attach, -ETIMEDOUT); /* waited for the share's lock */
	ASSERT_EQ(n_attachments(a, e1), 1);
	ASSERT_EQ(kview_at(mp, NULL), 1); /* mounted again, once */
	ledger_share_done(&row);
	volmount_ctx_free(during_ctx);
	during_ctx = NULL;
	ASSERT_EQ(volmount_detach(a, "bind", e1, "v1", "o"), 0);
	ASSERT_EQ(kview_at(mp, NULL), 0);
}

static const struct test tests[] = {
	{ "two spellings of one share", test_two_spellings },
	{ "refused on an open context, nothing created", test_refused_when_open },
	{ "lock file gone", test_lock_file_gone },
	{ "host down", test_host_down },
	{ "mount gone or covered", test_mount_gone },
	{ "a spelling that comes to name another directory", test_spelling_changes_meaning },
	{ "source removed under a mounted share", test_source_removed },
	{ "another context's changes between warm calls", test_other_context_changes },
	{ "warm calls do not wait for the share lock; mounting and unmounting do", test_share_lock_held },
	{ "after a reboot, a mount carrying a recorded id is not trusted", test_reboot_id_reused },
	{ "while another process reconciles a new boot, no warm attach", test_warm_waits_for_reconcile },
	{ "repair marks an unhealthy share pending before it unmounts it", test_repair_marks_pending_first },
	{ "an unfinished host-up on the same boot keeps the recorded ids", test_unfinished_hostup_same_boot },
	{ "after a reboot, check and repair trust no id of the last boot", test_repair_after_reboot },
	{ "a host-up that dies after a reboot: the ids it recorded stay trusted", test_hostup_dies_after_reboot },
	{ "a first call that dies after a reboot: the same", test_first_call_dies_after_reboot },
};

static void setup(void)
{
	test_private_mount_ns();
	ASSERT_OK(mount("warm-tmp", "/tmp", "tmpfs", 0, "size=16m,mode=0755") < 0 ? -errno : 0);
	strcpy(root, "/tmp/test-warm-XXXXXX");
	ASSERT_TRUE(mkdtemp(root) != NULL);
	ASSERT_OK(chmod(root, 0755) < 0 ? -errno : 0);
	(void)snprintf(state, sizeof(state), "%s/state", root);
	(void)snprintf(base, sizeof(base), "%s/base", root);
	(void)snprintf(run, sizeof(run), "%s/run", root);
	(void)snprintf(locks, sizeof(locks), "%s/locks", run);
	(void)snprintf(exports, sizeof(exports), "%s/exports", root);
	(void)snprintf(link_dir, sizeof(link_dir), "%s/exports-link", root);
	(void)snprintf(e1, sizeof(e1), "%s/e1", exports);
	(void)snprintf(e1_linked, sizeof(e1_linked), "%s/e1", link_dir);
	(void)snprintf(sym_export, sizeof(sym_export), "%s/e1-symlink", exports);
	mkdir_p(exports);
	mkdir_p(e1);
	ASSERT_OK(symlink(exports, link_dir) < 0 ? -errno : 0);
	ASSERT_OK(symlink(e1, sym_export) < 0 ? -errno : 0);
}

int main(void)
{
	int r;

	setup();
	r = test_run(tests, ELEMENTSOF(tests));
	(void)umount2("/tmp", MNT_DETACH);
	return r;
}
