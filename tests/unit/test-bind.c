/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bind.c - the driver table and the bind driver: export normalization (grammar, "//",
 * "." and ".." handling, caps) and the option allowlist with its hardened defaults.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "driver.h"
#include "internal.h"
#include "test.h"
#include "cleanup.h"

static void test_driver_find(void)
{
	static const char *const unknown[] = { "bogus", "", "BIND", "bind ", " bind", "bin",
					       "binds", "bind\n" };
	const struct driver *d = driver_find("bind");
	bool listed = false;

	ASSERT_TRUE(d == &driver_bind);
	ASSERT_STREQ(d->name, "bind");
	ASSERT_EQ(d->kind, DRIVER_KIND_BIND);
	ASSERT_TRUE(d->normalize != NULL);
	ASSERT_TRUE(d->options != NULL);
	ASSERT_TRUE(d->helper_spec == NULL); /* bind mounts itself; no helper */

	for (size_t i = 0; i < ELEMENTSOF(unknown); i++)
		if (driver_find(unknown[i]) != NULL)
			TEST_FAIL("driver_find(\"%s\") found a driver", unknown[i]);
	ASSERT_TRUE(driver_find(NULL) == NULL);

	/* The table is NULL-terminated, names are unique, and each is found by its name. */
	for (size_t i = 0; driver_table[i]; i++) {
		ASSERT_TRUE(driver_find(driver_table[i]->name) == driver_table[i]);
		listed |= driver_table[i] == &driver_bind;
	}
	ASSERT_TRUE(listed);
}

/* ---- normalize ---- */

/* @out NULL: refused with -EINVAL and a message. */
struct norm_row {
	const char *in;
	const char *out;
};

static const struct norm_row norm_rows[] = {
	/* accepted and normalized */
	{ "/srv/x", "/srv/x" },
	{ "/srv//x/", "/srv/x" },
	{ "/srv/./x", "/srv/x" },
	{ "/./srv/x/.", "/srv/x" },
	{ "//srv///x//", "/srv/x" },
	{ "/srv/x/./././", "/srv/x" },
	{ "/a", "/a" },
	{ "/srv/x,ro", "/srv/x,ro" },          /* ',' is in the grammar; stays in the component */
	{ "/srv/a..b", "/srv/a..b" },          /* not a ".." component */
	{ "/...", "/..." },
	{ "/.hidden/..x", "/.hidden/..x" },
	{ "/a+b@c:d=e~f-g_h.i", "/a+b@c:d=e~f-g_h.i" },
	{ "/-x", "/-x" },                      /* starts with '/', so never an option */
	{ "/A/Z/0/9", "/A/Z/0/9" },
	/* refused: the root directory, however spelled */
	{ "/", NULL },
	{ "//", NULL },
	{ "/.", NULL },
	{ "/./", NULL },
	{ "/././/.", NULL },
	/* refused: ".." anywhere */
	{ "/srv/../etc", NULL },
	{ "/..", NULL },
	{ "/../", NULL },
	{ "/srv/..", NULL },
	{ "/srv/x/../x", NULL },
	/* refused: not absolute */
	{ "", NULL },
	{ "srv/x", NULL },
	{ "./srv", NULL },
	{ "../srv", NULL },
	{ "~/x", NULL },
	{ "-oProxyCommand=x", NULL },
	{ "x:/srv", NULL },
	/* refused: outside the grammar */
	{ "/a b", NULL },
	{ "/a\tb", NULL },
	{ "/a\nb", NULL },
	{ "/a\rb", NULL },
	{ "/a;b", NULL },
	{ "/a$(id)", NULL },
	{ "/a`id`", NULL },
	{ "/a%00", NULL },                     /* '%' is not in the grammar */
	{ "/a\\b", NULL },
	{ "/a*", NULL },
	{ "/a?", NULL },
	{ "/a|b", NULL },
	{ "/a&b", NULL },
	{ "/a'b", NULL },
	{ "/a\"b", NULL },
	{ "/a>b", NULL },
	{ "/a#b", NULL },
	{ "/a\x01", NULL },
	{ "/a\x7f", NULL },
	{ "/\xc3\xbcn\xc3\xaf", NULL },        /* "/ünï" in UTF-8 */
	{ "/\xff", NULL },
};

static void expect_normalize(const char *in, const char *want, size_t row)
{
	_cleanup_free_ char *out = NULL;
	const char *err = NULL;
	int r = driver_bind.normalize(in, &out, &err);

	if (!want) {
		if (r != -EINVAL)
			TEST_FAIL("row %zu: normalize(\"%.80s\") = %d (\"%s\"), want -EINVAL", row,
				  in ? in : "(null)", r, out ? out : "");
		if (!err || !*err)
			TEST_FAIL("row %zu: \"%.80s\" refused without a message", row,
				  in ? in : "(null)");
		ASSERT_TRUE(out == NULL);
		return;
	}
	if (r != 0)
		TEST_FAIL("row %zu: normalize(\"%.80s\") = %d (%s), want \"%.80s\"", row, in, r,
			  err ? err : "no message", want);
	ASSERT_STREQ(out, want);

	/* Normalizing is idempotent: the normal form is its own normal form. */
	{
		_cleanup_free_ char *again = NULL;

		ASSERT_OK(driver_bind.normalize(out, &again, &err));
		ASSERT_STREQ(again, out);
	}
}

static void test_bind_normalize_table(void)
{
	for (size_t i = 0; i < ELEMENTSOF(norm_rows); i++)
		expect_normalize(norm_rows[i].in, norm_rows[i].out, i);
	expect_normalize(NULL, NULL, SIZE_MAX);
}

/* Append @count components of @len 'c' bytes each ("/ccc...") to @p at @o; returns new @o. */
static size_t put_components(char *p, size_t o, size_t count, size_t len)
{
	for (size_t i = 0; i < count; i++) {
		p[o++] = '/';
		memset(p + o, 'c', len);
		o += len;
	}
	p[o] = '\0';
	return o;
}

static void test_bind_normalize_caps(void)
{
	char *p = malloc(8192);
	size_t o;

	ASSERT_TRUE(p != NULL);

	/* 16 components of 255 bytes: exactly 4096 bytes, accepted as is. */
	o = put_components(p, 0, 16, 255);
	ASSERT_EQ(o, 4096);
	expect_normalize(p, p, 1);

	/* The same plus a trailing '/': 4097 bytes, refused for length alone (its normal form
	 * would be the 4096-byte path above). */
	p[o++] = '/';
	p[o] = '\0';
	ASSERT_EQ(strlen(p), 4097);
	expect_normalize(p, NULL, 2);

	/* 4096 bytes with a trailing '/': accepted, normalized without it. */
	o = put_components(p, 0, 15, 255);
	o = put_components(p, o, 1, 254);
	p[o++] = '/';
	p[o] = '\0';
	ASSERT_EQ(strlen(p), 4096);
	{
		_cleanup_free_ char *want = strndup(p, 4095);

		ASSERT_TRUE(want != NULL);
		expect_normalize(p, want, 3);
	}

	/* Far too long. */
	o = put_components(p, 0, 40, 200);
	expect_normalize(p, NULL, 4);

	/* One component of 255 bytes is fine, 256 is not, wherever it is. */
	o = put_components(p, 0, 1, 255);
	expect_normalize(p, p, 5);
	o = put_components(p, 0, 1, 256);
	expect_normalize(p, NULL, 6);
	memcpy(p, "/srv", 4);
	o = put_components(p, 4, 1, 256);
	expect_normalize(p, NULL, 7);
	o = put_components(p, 0, 1, 256);
	memcpy(p + o, "/x", 3);
	expect_normalize(p, NULL, 8);

	free(p);
}

/* ---- options ---- */

#define HARDENED (MS_NOSUID | MS_NODEV)

struct opt_row {
	const char *opts[4];
	size_t n;
	const char *canonical; /* NULL: refused */
	unsigned long flags;
};

static const struct opt_row opt_rows[] = {
	/* accepted */
	{ { NULL }, 0, "nodev,nosuid", HARDENED },
	{ { "ro" }, 1, "nodev,nosuid,ro", HARDENED | MS_RDONLY },
	{ { "rw" }, 1, "nodev,nosuid", HARDENED },
	{ { "noexec" }, 1, "nodev,noexec,nosuid", HARDENED | MS_NOEXEC },
	{ { "nosuid" }, 1, "nodev,nosuid", HARDENED },
	{ { "nodev" }, 1, "nodev,nosuid", HARDENED },
	{ { "ro", "ro" }, 2, "nodev,nosuid,ro", HARDENED | MS_RDONLY },
	{ { "rw", "rw" }, 2, "nodev,nosuid", HARDENED },
	{ { "ro", "noexec" }, 2, "nodev,noexec,nosuid,ro", HARDENED | MS_RDONLY | MS_NOEXEC },
	{ { "noexec", "ro" }, 2, "nodev,noexec,nosuid,ro", HARDENED | MS_RDONLY | MS_NOEXEC },
	{ { "noexec", "noexec", "nodev", "nosuid" }, 4, "nodev,noexec,nosuid",
	  HARDENED | MS_NOEXEC },
	{ { "nosuid", "ro", "nodev", "noexec" }, 4, "nodev,noexec,nosuid,ro",
	  HARDENED | MS_RDONLY | MS_NOEXEC },
	{ { "rw", "noexec" }, 2, "nodev,noexec,nosuid", HARDENED | MS_NOEXEC },
	/* refused */
	{ { "suid" }, 1, NULL, 0 },
	{ { "dev" }, 1, NULL, 0 },
	{ { "exec" }, 1, NULL, 0 },
	{ { "remount" }, 1, NULL, 0 },
	{ { "bind" }, 1, NULL, 0 },
	{ { "rbind" }, 1, NULL, 0 },
	{ { "ro,suid" }, 1, NULL, 0 },
	{ { "ro,noexec" }, 1, NULL, 0 },       /* one option per entry, even if both allowed */
	{ { "ro=1" }, 1, NULL, 0 },
	{ { "x-helper=/bin/sh" }, 1, NULL, 0 },
	{ { "helper=/bin/sh" }, 1, NULL, 0 },
	{ { "ro", "rw" }, 2, NULL, 0 },
	{ { "rw", "noexec", "ro" }, 3, NULL, 0 },
	{ { "ro", "suid" }, 2, NULL, 0 },      /* one bad option spoils the set */
	{ { "noexec", "exec" }, 2, NULL, 0 },
	{ { "RO" }, 1, NULL, 0 },
	{ { "" }, 1, NULL, 0 },
	{ { " ro" }, 1, NULL, 0 },
	{ { "ro " }, 1, NULL, 0 },
	{ { "nodev\n" }, 1, NULL, 0 },
	{ { "ro", NULL }, 2, NULL, 0 },        /* a NULL entry */
};

static void expect_options(const char *const *opts, size_t n, const char *canonical,
			   unsigned long flags, size_t row)
{
	struct driver_opts o = { .canonical = NULL, .flags = 0 };
	const char *err = NULL;
	int r = driver_bind.options(opts, n, &o, &err);

	if (!canonical) {
		if (r != -EINVAL)
			TEST_FAIL("options row %zu: got %d (\"%s\"), want -EINVAL", row, r,
				  o.canonical ? o.canonical : "");
		if (!err || !*err)
			TEST_FAIL("options row %zu: refused without a message", row);
		ASSERT_TRUE(o.canonical == NULL);
		ASSERT_EQ(o.flags, 0);
		return;
	}
	if (r != 0)
		TEST_FAIL("options row %zu: got %d (%s), want \"%s\"", row, r,
			  err ? err : "no message", canonical);
	ASSERT_STREQ(o.canonical, canonical);
	ASSERT_TRUE(o.cred_path == NULL); /* bind has no credentials */
	if (o.flags != flags)
		TEST_FAIL("options row %zu: flags %#lx, want %#lx", row, o.flags, flags);
	driver_opts_done(&o);
	ASSERT_TRUE(o.canonical == NULL);
	ASSERT_EQ(o.flags, 0);
}

static void test_bind_options_table(void)
{
	for (size_t i = 0; i < ELEMENTSOF(opt_rows); i++)
		expect_options(opt_rows[i].opts, opt_rows[i].n, opt_rows[i].canonical,
			       opt_rows[i].flags, i);
}

static void test_bind_options_count_cap(void)
{
	const char *many[VOLMOUNT_OPTIONS_MAX + 1];

	for (size_t i = 0; i < ELEMENTSOF(many); i++)
		many[i] = (i % 2) ? "ro" : "noexec";
	/* 64 options (duplicates): accepted and collapsed. */
	expect_options(many, VOLMOUNT_OPTIONS_MAX, "nodev,noexec,nosuid,ro",
		       HARDENED | MS_RDONLY | MS_NOEXEC, 100);
	/* 65: refused before anything is looked at. */
	expect_options(many, VOLMOUNT_OPTIONS_MAX + 1, NULL, 0, 101);
}

static void test_driver_opts_done_null(void)
{
	struct driver_opts o = { .canonical = NULL, .flags = MS_RDONLY };

	driver_opts_done(NULL);
	driver_opts_done(&o);
	ASSERT_TRUE(o.canonical == NULL);
	ASSERT_EQ(o.flags, 0);

	o.canonical = strdup("ro");
	o.cred_path = strdup("/etc/volmount/cred");
	ASSERT_TRUE(o.canonical && o.cred_path);
	driver_opts_done(&o); /* frees both (ASan/LSan would see a leak) */
	ASSERT_TRUE(o.canonical == NULL);
	ASSERT_TRUE(o.cred_path == NULL);
	driver_opts_done(&o); /* and is idempotent */
}

static const struct test tests[] = {
	{ "driver_find", test_driver_find },
	{ "bind normalize table", test_bind_normalize_table },
	{ "bind normalize length caps", test_bind_normalize_caps },
	{ "bind options table", test_bind_options_table },
	{ "bind options count cap", test_bind_options_count_cap },
	{ "driver_opts_done", test_driver_opts_done_null },
};

TEST_MAIN(tests)
