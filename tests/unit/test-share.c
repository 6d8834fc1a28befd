/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-share.c - the validation every driver shares: volume names, owner ids, and the share
 * hash that names a mountpoint. Pure functions, so everything here is table-driven.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "internal.h"
#include "test.h"
#include "cleanup.h"

/*
 * A row's input is @prefix followed by @fill copies of @pad (so long inputs can be spelled
 * without 256-character literals), then @suffix.
 */
struct check_row {
	const char *prefix;
	size_t fill;
	char pad;
	const char *suffix;
	int rc;
};

static char *row_input(const struct check_row *row)
{
	size_t a = strlen(row->prefix), b = row->suffix ? strlen(row->suffix) : 0;
	char *s = malloc(a + row->fill + b + 1);

	ASSERT_TRUE(s != NULL);
	memcpy(s, row->prefix, a);
	memset(s + a, row->pad ? row->pad : 'a', row->fill);
	if (b)
		memcpy(s + a + row->fill, row->suffix, b);
	s[a + row->fill + b] = '\0';
	return s;
}

static void run_check_table(const char *what, int (*check)(const char *, const char **),
			    const struct check_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *in = row_input(&rows[i]);
		const char *err = NULL;
		int r = check(in, &err);

		if (r != rows[i].rc)
			TEST_FAIL("%s row %zu (\"%s\", %zu bytes): got %d, want %d (%s)", what, i,
				  in, strlen(in), r, rows[i].rc, err ? err : "no message");
		if (r < 0 && (!err || !*err))
			TEST_FAIL("%s row %zu (\"%s\"): refused without a message", what, i, in);
	}
}

static const struct check_row volume_rows[] = {
	/* accepted */
	{ "a", 0, 0, NULL, 0 },
	{ "vol1", 0, 0, NULL, 0 },
	{ "a.b-c_d", 0, 0, NULL, 0 },
	{ "A-Z_09", 0, 0, NULL, 0 },
	{ "0", 0, 0, NULL, 0 },
	{ "_x", 0, 0, NULL, 0 },
	{ "a..b", 0, 0, NULL, 0 },            /* '.' inside is fine; only a leading one is not */
	{ "trailing.", 0, 0, NULL, 0 },
	{ "trailing-", 0, 0, NULL, 0 },
	{ "", 255, 'v', NULL, 0 },            /* exactly the cap */
	{ "x", 254, '-', NULL, 0 },           /* 255 bytes, mostly '-' */
	/* refused */
	{ "", 0, 0, NULL, -EINVAL },          /* empty */
	{ "", 256, 'v', NULL, -EINVAL },      /* one over the cap */
	{ "", 4096, 'v', NULL, -EINVAL },     /* far over the cap */
	{ "v", 254, 0, "/", -EINVAL },        /* 256 bytes, bad last byte */
	{ ".x", 0, 0, NULL, -EINVAL },
	{ "-x", 0, 0, NULL, -EINVAL },        /* option injection */
	{ ".", 0, 0, NULL, -EINVAL },
	{ "..", 0, 0, NULL, -EINVAL },
	{ "a/b", 0, 0, NULL, -EINVAL },
	{ "/", 0, 0, NULL, -EINVAL },
	{ "a b", 0, 0, NULL, -EINVAL },
	{ "a\tb", 0, 0, NULL, -EINVAL },
	{ "a\nb", 0, 0, NULL, -EINVAL },
	{ "a\rb", 0, 0, NULL, -EINVAL },
	{ "a;b", 0, 0, NULL, -EINVAL },
	{ "a$b", 0, 0, NULL, -EINVAL },
	{ "$(id)", 0, 0, NULL, -EINVAL },
	{ "a`id`", 0, 0, NULL, -EINVAL },
	{ "a\\b", 0, 0, NULL, -EINVAL },
	{ "a:b", 0, 0, NULL, -EINVAL },
	{ "a*", 0, 0, NULL, -EINVAL },
	{ "a\x7f", 0, 0, NULL, -EINVAL },
	{ "a\x01", 0, 0, NULL, -EINVAL },
	{ "caf\xc3\xa9", 0, 0, NULL, -EINVAL }, /* UTF-8 */
	{ "\xff", 0, 0, NULL, -EINVAL },
};

static void test_volume_name_table(void)
{
	run_check_table("volume", volume_name_check, volume_rows, ELEMENTSOF(volume_rows));
}

static void test_volume_name_null(void)
{
	const char *err = NULL;

	ASSERT_EQ(volume_name_check(NULL, &err), -EINVAL);
	ASSERT_TRUE(err != NULL);
}

static const struct check_row owner_rows[] = {
	/* accepted */
	{ "o", 0, 0, NULL, 0 },
	{ "vm-1234", 0, 0, NULL, 0 },
	{ "user@host:1", 0, 0, NULL, 0 },
	{ "!\"#$%&'()*+,-.:;<=>?@[\\]^_`{|}~", 0, 0, NULL, 0 }, /* all punctuation but '/' */
	{ "-leading-dash", 0, 0, NULL, 0 },
	{ ".", 0, 0, NULL, 0 },
	{ "", 128, 'o', NULL, 0 },             /* exactly the cap */
	{ "~", 127, '!', NULL, 0 },
	/* refused */
	{ "", 0, 0, NULL, -EINVAL },           /* empty */
	{ "", 129, 'o', NULL, -EINVAL },       /* one over the cap */
	{ "", 1000, 'o', NULL, -EINVAL },
	{ "/", 0, 0, NULL, -EINVAL },
	{ "a/b", 0, 0, NULL, -EINVAL },
	{ "a b", 0, 0, NULL, -EINVAL },
	{ " ", 0, 0, NULL, -EINVAL },
	{ "a\tb", 0, 0, NULL, -EINVAL },
	{ "a\nb", 0, 0, NULL, -EINVAL },
	{ "a\x1b[31m", 0, 0, NULL, -EINVAL },  /* terminal escape */
	{ "a\x01", 0, 0, NULL, -EINVAL },
	{ "a\x7f", 0, 0, NULL, -EINVAL },
	{ "a\x80", 0, 0, NULL, -EINVAL },
	{ "\xc3\xa9", 0, 0, NULL, -EINVAL },   /* UTF-8 */
	{ "\xff", 0, 0, NULL, -EINVAL },
	{ "o", 127, 'o', "/", -EINVAL },       /* 129 bytes, bad last byte */
	{ "o", 126, 'o', " ", -EINVAL },       /* 128 bytes, bad last byte */
};

static void test_owner_table(void)
{
	run_check_table("owner", owner_check, owner_rows, ELEMENTSOF(owner_rows));
}

static void test_owner_null(void)
{
	const char *err = NULL;

	ASSERT_EQ(owner_check(NULL, &err), -EINVAL);
	ASSERT_TRUE(err != NULL);
}

static bool is_lower_hex64(const char *h)
{
	if (strlen(h) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return true;
}

static void hash_of(const char *driver, const char *export, char out[65])
{
	memset(out, 'X', 65); /* the terminator must come from share_hash() */
	ASSERT_OK(share_hash(driver, export, out));
	ASSERT_EQ(out[64], '\0');
	if (!is_lower_hex64(out))
		TEST_FAIL("hash of (%s, %s) is not 64 lower-case hex digits: %.65s", driver,
			  export, out);
}

static void test_share_hash_vectors(void)
{
	static const struct {
		const char *driver, *export, *sha256;
	} rows[] = {
		/* printf 'bind\0/srv/x' | sha256sum */
		{ "bind", "/srv/x", "1e3ceb3f08ef632e906fee30345671d60a8d3bb6a23b2dfbac8dcefcf0af71dd" },
		/* printf 'bind\0/srv/y' | sha256sum */
		{ "bind", "/srv/y", "943b1ef5e547d75a669168888ff9bad0dbd4c34a874fd906fe0325fe9de77304" },
		/* printf 'nfs\0/srv/x' | sha256sum */
		{ "nfs", "/srv/x", "dfb2bf8c2080677f6680e9f42859c3b9bf2cc7ce05a6e475c1ed04a7039972bd" },
		/* printf 'bin\0d/srv/x' | sha256sum: the NUL keeps the fields apart */
		{ "bin", "d/srv/x", "01f84d49abe3524166562076f92b7a9de234575ce3f211d65d0cf5c5ae6cccd1" },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		char h[65];

		hash_of(rows[i].driver, rows[i].export, h);
		ASSERT_STREQ(h, rows[i].sha256);
	}
}

static void test_share_hash_distinct(void)
{
	char a[65], b[65], c[65], d[65];

	hash_of("bind", "/srv/x", a);
	hash_of("bind", "/srv/x", b);
	ASSERT_STREQ(a, b); /* deterministic */
	hash_of("sshfs", "/srv/x", c);
	ASSERT_TRUE(strcmp(a, c) != 0); /* driver is part of the share */
	hash_of("bind", "/srv/x/", d);
	ASSERT_TRUE(strcmp(a, d) != 0); /* hashes the normalized form only: no folding here */
	hash_of("bin", "d/srv/x", d);
	ASSERT_TRUE(strcmp(a, d) != 0); /* concatenation without a separator would collide */
}

static const struct test tests[] = {
	{ "volume_name_check table", test_volume_name_table },
	{ "volume_name_check NULL", test_volume_name_null },
	{ "owner_check table", test_owner_table },
	{ "owner_check NULL", test_owner_null },
	{ "share_hash known vectors", test_share_hash_vectors },
	{ "share_hash distinct inputs", test_share_hash_distinct },
};

TEST_MAIN(tests)
