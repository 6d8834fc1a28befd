/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-engine.c - the engine's pieces that need no mount: building a share request (the name
 * of its mountpoint under both path schemes, the helper's argv with the fd stand-in its
 * driver's target calls for, refusals with their error kind), deciding whether a kernel
 * mount is what a request would mount (type, source and flags), and reports (entries,
 * the first failure's kind deciding the result, the hand-over). The context is never opened:
 * nothing here touches the file system.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/report.h"
#include "engine/request.h"
#include "cleanup.h"
#include "internal.h"
#include "driver.h"
#include "test.h"
#include "volmount.h"

static struct volmount_ctx *new_ctx(enum volmount_path_scheme scheme)
{
	struct volmount_ctx *ctx = NULL;

	ASSERT_OK(volmount_ctx_new(&ctx));
	ASSERT_OK(volmount_ctx_set_path(ctx, VOLMOUNT_PATH_BASE_DIR, "/srv/vm/mnt"));
	ASSERT_OK(volmount_ctx_set_path_scheme(ctx, scheme));
	return ctx;
}

static bool argv_has(char *const *argv, const char *arg)
{
	for (; argv && *argv; argv++)
		if (strcmp(*argv, arg) == 0)
			return true;
	return false;
}

/* Helper drivers: normalized export, hash-named mountpoint, and the argv names the fd
 * stand-in of the driver's target, never the mountpoint itself, except for the drivers
 * whose helper must be given the name. */
static void test_request_helpers(void)
{
	static const struct {
		const char *driver, *export, *normal, *target;
		const char *opts[3];
	} rows[] = {
		{ "sshfs", "root@127.0.0.1:/srv//x/", "root@127.0.0.1:/srv/x", "/dev/fd/3",
		  { "port=2222", NULL } },
		{ "nfs", "srv:/exports/v/", "srv:/exports/v", "/proc/self/fd/3", { NULL } },
		{ "cifs", "//srv/share", "//srv/share", "/proc/self/fd/3", { "guest", NULL } },
		{ "glusterfs", "gl1:/vol", "gl1:/vol", NULL /* the mountpoint */, { NULL } },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		struct volmount_ctx *ctx = new_ctx(VOLMOUNT_PATH_SCHEME_VOLMOUNT);
		struct share_req req = { .src_fd = -EBADF };
		size_t n = 0;
		char want[256];

		while (rows[i].opts[n])
			n++;
		ASSERT_OK(share_req_init(ctx, rows[i].driver, rows[i].export, rows[i].opts, n, 0,
					 &req));
		ASSERT_STREQ(req.export, rows[i].normal);
		ASSERT_EQ(strlen(req.hash), 64u);
		(void)snprintf(want, sizeof(want), "/srv/vm/mnt/%s/%s", rows[i].driver, req.hash);
		ASSERT_STREQ(req.mountpoint, want);
		ASSERT_TRUE(req.spec.argv != NULL);
		ASSERT_TRUE(argv_has(req.spec.argv, rows[i].target ? rows[i].target : want));
		if (rows[i].target && argv_has(req.spec.argv, want))
			TEST_FAIL("%s: the helper's argv names the mountpoint", rows[i].driver);
		ASSERT_STREQ(req.spec.source, rows[i].normal);
		share_req_done(&req);
		volmount_ctx_free(ctx);
	}
}

/* The nova scheme names the mountpoint after the md5 of the export, directly under the base;
 * the share's identity (its hash) is the same under both schemes. */
static void test_request_nova_name(void)
{
	struct volmount_ctx *v = new_ctx(VOLMOUNT_PATH_SCHEME_VOLMOUNT);
	struct volmount_ctx *nova = new_ctx(VOLMOUNT_PATH_SCHEME_NOVA);
	struct share_req a = { .src_fd = -EBADF }, b = { .src_fd = -EBADF };

	ASSERT_OK(share_req_init(v, "nfs", "srv:/exports/v", NULL, 0, 0, &a));
	ASSERT_OK(share_req_init(nova, "nfs", "srv:/exports/v", NULL, 0, 0, &b));
	ASSERT_STREQ(a.hash, b.hash);
	{
		char name[33], want[64];

		ASSERT_OK(share_nova_name("srv:/exports/v", name));
		(void)snprintf(want, sizeof(want), "/srv/vm/mnt/%s", name);
		ASSERT_STREQ(b.mountpoint, want);
	}
	ASSERT_EQ(strlen(b.mountpoint + 12), 32u);
	ASSERT_TRUE(strchr(b.mountpoint + 12, '/') == NULL);
	ASSERT_TRUE(b.subdir == NULL);
	share_req_done(&a);
	share_req_done(&b);
	volmount_ctx_free(v);
	volmount_ctx_free(nova);
}

/* Refusals say why, with the input kind, and leave nothing allocated (ASan checks). */
static void test_request_refused(void)
{
	static const struct {
		const char *driver, *export, *opt;
	} rows[] = {
		{ "nope", "/x", NULL },
		{ "nfs", "-o:/x", NULL },
		{ "nfs", "srv:/a/../b", NULL },
		{ "sshfs", "u@h:/x", "ProxyCommand=sh" },
		{ "sshfs", "u@h:/x", "StrictHostKeyChecking=accept-new" },
		{ "cifs", "//srv/share", "password=x" },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		struct volmount_ctx *ctx = new_ctx(VOLMOUNT_PATH_SCHEME_VOLMOUNT);
		struct share_req req = { .src_fd = -EBADF };
		const char *opts[] = { rows[i].opt, NULL };
		int r;

		error_clear();
		r = share_req_init(ctx, rows[i].driver, rows[i].export, opts, rows[i].opt ? 1 : 0,
				   0, &req);
		if (r >= 0)
			TEST_FAIL("%s %s %s: accepted", rows[i].driver, rows[i].export,
				  rows[i].opt ? rows[i].opt : "");
		ASSERT_EQ(r, -EINVAL);
		ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_INPUT);
		ASSERT_TRUE(volmount_ctx_errmsg(ctx)[0] != '\0');
		volmount_ctx_free(ctx);
	}
}

/* A kernel mount is the request's only with its type, its source and, once the options are
 * known, exactly the flags they set. */
static void test_matches(void)
{
	struct volmount_ctx *ctx = new_ctx(VOLMOUNT_PATH_SCHEME_VOLMOUNT);
	const char *ro[] = { "ro" };
	struct share_req req = { .src_fd = -EBADF };
	struct kview_mount m = {
		.fstype = (char *)"nfs4",
		.source = (char *)"srv:/exports/v",
		.mnt_attr = KVIEW_ATTR_RDONLY | KVIEW_ATTR_NOSUID | KVIEW_ATTR_NODEV,
	};
	bool flags_only = false;
	char buf[64];

	ASSERT_OK(share_req_init(ctx, "nfs", "srv:/exports/v", ro, 1, 0, &req));
	ASSERT_EQ(share_matches(&req, &m), 1);
	m.mnt_attr &= ~(uint64_t)KVIEW_ATTR_RDONLY; /* mounted rw */
	ASSERT_EQ(share_matches_flags(&req, &m, &flags_only), 0);
	ASSERT_TRUE(flags_only);
	ASSERT_STREQ(share_attr_str(m.mnt_attr, buf, sizeof(buf)), "rw,nosuid,nodev");
	ASSERT_STREQ(share_attr_str(share_attr_wanted(&req), buf, sizeof(buf)), "ro,nosuid,nodev");
	m.mnt_attr |= KVIEW_ATTR_RDONLY;
	m.source = (char *)"srv:/exports/w";
	ASSERT_EQ(share_matches_flags(&req, &m, &flags_only), 0);
	ASSERT_TRUE(!flags_only);
	m.source = (char *)"srv:/exports/v";
	m.fstype = (char *)"nfs";
	ASSERT_EQ(share_matches(&req, &m), 0);
	share_req_done(&req);
	volmount_ctx_free(ctx);
}

/* Reports: entries in order, a failure's detail never empty, and the first failure's kind
 * decides the call's result. */
static void test_reports(void)
{
	struct volmount_ctx *ctx = new_ctx(VOLMOUNT_PATH_SCHEME_VOLMOUNT);
	struct volmount_report *rep = NULL, *out = NULL;
	struct first_failure first = { 0 };

	ASSERT_OK(report_new(&rep));
	ASSERT_OK(report_add(rep, "/m/a", "kept", "share '%s' is fine", "a"));
	error_set(-EBUSY, VOLMOUNT_ERR_TEMPFAIL, "busy: ");
	(void)report_failed(ctx, rep, "/m/b", -EBUSY, &first);
	error_set(-EIO, VOLMOUNT_ERR_IO, "I/O");
	(void)report_failed(ctx, rep, "/m/c", -EIO, &first);
	ASSERT_EQ(volmount_report_n_entries(rep), 3u);
	ASSERT_STREQ(volmount_report_entry_path(rep, 0), "/m/a");
	ASSERT_STREQ(volmount_report_entry_action(rep, 1), "failed");
	ASSERT_TRUE(volmount_report_entry_detail(rep, 1)[0] != '\0');
	ASSERT_TRUE(strstr(volmount_report_entry_detail(rep, 1), "busy") != NULL);
	ASSERT_EQ(first_failure_result(ctx, &first, "not every share"), -EBUSY);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_TEMPFAIL);
	/* Handed over on success, freed on an error (ASan would see a leak otherwise). */
	ASSERT_OK(report_finish(rep, 0, &out));
	ASSERT_TRUE(out == rep);
	ASSERT_OK(report_new(&rep));
	ASSERT_EQ(report_finish(rep, -EIO, &out), -EIO);
	volmount_report_free(out);
	volmount_ctx_free(ctx);
}

static const struct test tests[] = {
	{ "request: helper drivers name a stand-in, never the mountpoint", test_request_helpers },
	{ "request: the nova scheme's names", test_request_nova_name },
	{ "request: refusals are input errors with a reason", test_request_refused },
	{ "a mount is the request's only with its type, source and flags", test_matches },
	{ "reports: entries, failures and the first failure's kind", test_reports },
};

TEST_MAIN(tests)
