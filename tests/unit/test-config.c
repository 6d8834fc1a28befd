/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-config.c - volmount_ctx_load_config(): the file format, value checks, the trust checks on
 * the open file (owner, mode, symlink, type, size), and that a rejected file changes nothing.
 * Needs root to create root-owned files; skips otherwise. Works in its own temporary directory.
 */
#ifndef _GNU_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "test.h"
#include "cleanup.h"
#include "volmount.h"

static char tmpdir[] = "/tmp/volmount-test-config.XXXXXX";

static void ctx_freep(struct volmount_ctx **ctx)
{
	volmount_ctx_free(*ctx);
}

/* Write @content to <tmpdir>/@name with @mode; returns the path (caller frees). */
static char *write_file_len(const char *name, const char *content, size_t len, mode_t mode)
{
	_cleanup_close_ int fd = -EBADF;
	char *path = NULL;

	ASSERT_TRUE(asprintf(&path, "%s/%s", tmpdir, name) > 0);
	(void)unlink(path); /* tests may rewrite a file */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(write(fd, content, len), (ssize_t)len);
	ASSERT_OK(fchmod(fd, mode)); /* independent of umask */
	return path;
}

static char *write_file(const char *name, const char *content)
{
	return write_file_len(name, content, strlen(content), 0644);
}

static struct volmount_ctx *new_ctx(void)
{
	struct volmount_ctx *ctx = NULL;

	ASSERT_OK(volmount_ctx_new(&ctx));
	return ctx;
}

/* Load @content as a file and expect failure @err with a CONFIG message mentioning @needle. */
static void expect_bad(const char *content, int err, const char *needle)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *path = write_file("bad.conf", content);

	ASSERT_EQ(volmount_ctx_load_config(ctx, path, true), err);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_CONFIG);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), path) != NULL);
	if (!strstr(volmount_ctx_errmsg(ctx), needle))
		TEST_FAIL("message '%s' lacks '%s'", volmount_ctx_errmsg(ctx), needle);
	/* nothing applied */
	ASSERT_STREQ(volmount_ctx_get_path(ctx, VOLMOUNT_PATH_STATE_DIR),
		     VOLMOUNT_DEFAULT_STATE_DIR);
	ASSERT_EQ(ctx->timeout_ms, VOLMOUNT_DEFAULT_TIMEOUT_MS);
	ASSERT_EQ(ctx->durability, VOLMOUNT_DURABILITY_NORMAL);
}

static void expect_timeout(const char *value, unsigned ms)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *content = NULL;
	_cleanup_free_ char *path = NULL;

	ASSERT_TRUE(asprintf(&content, "timeout = %s\n", value) > 0);
	path = write_file("timeout.conf", content);
	ASSERT_OK(volmount_ctx_load_config(ctx, path, true));
	ASSERT_EQ(ctx->timeout_ms, ms);
}

static void test_good_file(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *path = write_file("good.conf", "state_dir = /srv/vm/state\n"
							    "base_dir = /srv/vm/mnt\n"
							    "run_dir = /run/vm\n"
							    "timeout = 2.5\n"
							    "durability = full\n");

	ASSERT_EQ(volmount_ctx_load_config(ctx, path, true), 0);
	ASSERT_STREQ(volmount_ctx_get_path(ctx, VOLMOUNT_PATH_STATE_DIR), "/srv/vm/state");
	ASSERT_STREQ(volmount_ctx_get_path(ctx, VOLMOUNT_PATH_BASE_DIR), "/srv/vm/mnt");
	ASSERT_STREQ(volmount_ctx_get_path(ctx, VOLMOUNT_PATH_RUN_DIR), "/run/vm");
	ASSERT_EQ(ctx->timeout_ms, 2500);
	ASSERT_EQ(ctx->durability, VOLMOUNT_DURABILITY_FULL);

	/* later setters win over the file */
	ASSERT_OK(volmount_ctx_set_path(ctx, VOLMOUNT_PATH_STATE_DIR, "/other"));
	ASSERT_STREQ(volmount_ctx_get_path(ctx, VOLMOUNT_PATH_STATE_DIR), "/other");
}

static void test_partial_file_keeps_defaults(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *path = write_file("partial.conf", "base_dir=/b\n");

	ASSERT_OK(volmount_ctx_load_config(ctx, path, true));
	ASSERT_STREQ(volmount_ctx_get_path(ctx, VOLMOUNT_PATH_BASE_DIR), "/b");
	ASSERT_STREQ(volmount_ctx_get_path(ctx, VOLMOUNT_PATH_STATE_DIR),
		     VOLMOUNT_DEFAULT_STATE_DIR);
	ASSERT_STREQ(volmount_ctx_get_path(ctx, VOLMOUNT_PATH_RUN_DIR), VOLMOUNT_DEFAULT_RUN_DIR);
	ASSERT_EQ(ctx->timeout_ms, VOLMOUNT_DEFAULT_TIMEOUT_MS);
}

static void test_comments_and_blanks(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *path = write_file(
		"comments.conf", "# volmount configuration\n"
				 "\n"
				 "   \t \n"
				 "  # indented comment = with an equals sign\n"
				 "\tstate_dir\t=\t/s#1   # a '#' inside a value is kept\n"
				 "timeout=7 # seconds\r\n"
				 "durability = normal#x\n");

	/* '#' not after a blank is part of the value: "normal#x" is not a durability */
	ASSERT_EQ(volmount_ctx_load_config(ctx, path, true), -EINVAL);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), ":7:") != NULL);

	free(path);
	path = write_file("comments.conf", "# volmount configuration\n"
					   "\n"
					   "   \t \n"
					   "  # indented comment = with an equals sign\n"
					   "\tstate_dir\t=\t/s#1   # a '#' inside a value is kept\n"
					   "timeout=7 # seconds\r\n"
					   "#\n"
					   "durability = full"); /* no final newline */
	ASSERT_OK(volmount_ctx_load_config(ctx, path, true));
	ASSERT_STREQ(volmount_ctx_get_path(ctx, VOLMOUNT_PATH_STATE_DIR), "/s#1");
	ASSERT_EQ(ctx->timeout_ms, 7000);
	ASSERT_EQ(ctx->durability, VOLMOUNT_DURABILITY_FULL);
}

static void test_empty_file(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *path = write_file("empty.conf", "");

	ASSERT_OK(volmount_ctx_load_config(ctx, path, true));
	ASSERT_STREQ(volmount_ctx_get_path(ctx, VOLMOUNT_PATH_STATE_DIR),
		     VOLMOUNT_DEFAULT_STATE_DIR);
}

static void test_unknown_key(void)
{
	expect_bad("timeout = 1\n\nstate-dir = /x\n", -EINVAL, ":3: unknown key 'state-dir'");
	expect_bad("State_Dir = /x\n", -EINVAL, ":1: unknown key");
}

static void test_syntax_errors(void)
{
	expect_bad("state_dir /x\n", -EINVAL, ":1: expected 'key = value'");
	expect_bad(" = /x\n", -EINVAL, ":1: missing key");
	expect_bad("state_dir =\n", -EINVAL, ":1: missing value");
	expect_bad("state_dir = # nothing\n", -EINVAL, ":1: missing value");
	expect_bad("state_dir = /a b\n", -EINVAL, ":1: unexpected text");
	expect_bad("timeout = 5 6\n", -EINVAL, ":1: unexpected text");
	expect_bad("state_dir = /a\x01\n", -EINVAL, ":1: control character");
	expect_bad("state_dir = /a\x7f\n", -EINVAL, ":1: control character");
}

static void test_bad_values(void)
{
	static const char *const timeouts[] = {
		"0",
		"0.0",
		"-1",
		"+1",
		"abc",
		"1e3",
		"1E3",
		"0x10",
		"inf",
		"nan",
		".",
		"1.2.3",
		"86400.001",
		"86401",
		"1,5",
		"5s",
		"99999999999999999999999999999",
	};

	for (size_t i = 0; i < ELEMENTSOF(timeouts); i++) {
		_cleanup_free_ char *content = NULL;

		ASSERT_TRUE(asprintf(&content, "timeout = %s\n", timeouts[i]) > 0);
		expect_bad(content, -EINVAL, ":1: timeout");
	}
	expect_bad("durability = fast\n", -EINVAL, ":1: durability must be");
	expect_bad("durability = FULL\n", -EINVAL, ":1: durability must be");
}

static void test_good_timeouts(void)
{
	expect_timeout("30", 30000);
	expect_timeout("0.5", 500);
	expect_timeout(".5", 500);
	expect_timeout("5.", 5000);
	expect_timeout("86400", 86400000);
	expect_timeout("86400.000", 86400000);
	expect_timeout("1.0005", 1001); /* rounded up, never down to a shorter wait */
	expect_timeout("0.0001", 1);	/* never rounded to 0 */
	expect_timeout("007", 7000);
}

/* max_helpers: a whole number from 1 to 32, through the file and the setter alike. */
static void test_max_helpers(void)
{
	static const char *const bad[] = { "0", "33", "-1", "+4", "4.0", "abc", "0x10",
					   "4k", "99999999999999999999" };
	static const struct {
		const char *value;
		unsigned n;
	} good[] = { { "1", 1 }, { "4", 4 }, { "32", 32 }, { "016", 16 } };

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_free_ char *content = NULL;

		ASSERT_TRUE(asprintf(&content, "max_helpers = %s\n", bad[i]) > 0);
		expect_bad(content, -EINVAL, ":1: max_helpers must be a whole number from 1 to 32");
	}
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
		_cleanup_free_ char *content = NULL;
		_cleanup_free_ char *path = NULL;

		ASSERT_EQ(ctx->max_helpers, VOLMOUNT_DEFAULT_MAX_HELPERS);
		ASSERT_TRUE(asprintf(&content, "max_helpers = %s\n", good[i].value) > 0);
		path = write_file("timeout.conf", content);
		ASSERT_OK(volmount_ctx_load_config(ctx, path, true));
		ASSERT_EQ(ctx->max_helpers, good[i].n);
	}
	{
		_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();

		ASSERT_EQ(volmount_ctx_set_max_helpers(ctx, 0), -EINVAL);
		ASSERT_EQ(volmount_ctx_set_max_helpers(ctx, VOLMOUNT_MAX_HELPERS_MAX + 1), -EINVAL);
		ASSERT_EQ(volmount_ctx_set_max_helpers(NULL, 4), -EINVAL);
		ASSERT_EQ(ctx->max_helpers, VOLMOUNT_DEFAULT_MAX_HELPERS);
		ASSERT_OK(volmount_ctx_set_max_helpers(ctx, 1));
		ASSERT_EQ(ctx->max_helpers, 1u);
	}
}

static void test_relative_path(void)
{
	expect_bad("state_dir = var/lib/volmount\n", -EINVAL, ":1: state_dir must be an absolute");
	expect_bad("base_dir = ./mnt\n", -EINVAL, ":1: base_dir must be an absolute");
	expect_bad("run_dir = ~/run\n", -EINVAL, ":1: run_dir must be an absolute");
	/* refused by volmount_ctx_set_path(): reported with the line, and nothing applied */
	expect_bad("timeout = 3\nstate_dir = /a/../b\n", -EINVAL, ":2: state_dir: ");
	expect_bad("base_dir = /\n", -EINVAL, ":1: base_dir: ");
}

static void test_long_path(void)
{
	_cleanup_free_ char *name = calloc(4201, 1);
	_cleanup_free_ char *content = NULL;

	ASSERT_TRUE(name != NULL);
	memset(name, 'a', 4200); /* PATH_MAX is 4096 */
	ASSERT_TRUE(asprintf(&content, "state_dir = /%s\n", name) > 0);
	expect_bad(content, -EINVAL, ":1: state_dir is longer than");
}

static void test_duplicate_key(void)
{
	/* documented choice: a repeated key is an error, naming both lines */
	expect_bad("timeout = 1\n# x\ntimeout = 2\n", -EINVAL,
		   ":3: timeout is already set on line 1");
	expect_bad("base_dir = /a\nbase_dir = /a\n", -EINVAL, ":2: base_dir is already set");
}

static void test_overlong_line(void)
{
	_cleanup_free_ char *content = malloc(9000);

	ASSERT_TRUE(content != NULL);
	memset(content, '#', 8999);
	content[8998] = '\n';
	content[8999] = '\0';
	expect_bad(content, -EINVAL, ":1: line longer than");

	/* also as the last line, without a newline, after good lines */
	memcpy(content, "timeout = 1\n", 12);
	content[8998] = '#';
	expect_bad(content, -EINVAL, ":2: line longer than");
}

static void test_oversized_file(void)
{
	size_t n = 64 * 1024 + 1;
	_cleanup_free_ char *content = malloc(n + 1);

	ASSERT_TRUE(content != NULL);
	for (size_t i = 0; i < n; i++)
		content[i] = (i % 64 == 63) ? '\n' : '#';
	content[n] = '\0';
	expect_bad(content, -EINVAL, "larger than 64 KiB");

	/* exactly at the cap is fine */
	{
		_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
		_cleanup_free_ char *path = write_file_len("cap.conf", content, n - 1, 0644);

		ASSERT_OK(volmount_ctx_load_config(ctx, path, true));
	}
}

static void test_nul_byte(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *path = write_file_len("nul.conf", "timeout = 1\0\n", 13, 0644);

	ASSERT_EQ(volmount_ctx_load_config(ctx, path, true), -EINVAL);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), "NUL") != NULL);
}

static void test_not_root_owned(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *path = write_file("owner.conf", "timeout = 1\n");

	ASSERT_OK(chown(path, 65534, 65534));
	ASSERT_EQ(volmount_ctx_load_config(ctx, path, true), -EPERM);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_CONFIG);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), "not by root") != NULL);
	/* also when the file is optional: it exists, so it must be trustworthy */
	ASSERT_EQ(volmount_ctx_load_config(ctx, path, false), -EPERM);
	ASSERT_EQ(ctx->timeout_ms, VOLMOUNT_DEFAULT_TIMEOUT_MS);
}

static void test_writable_by_others(void)
{
	static const mode_t modes[] = { 0664, 0646, 0666, 0620, 0602 };

	for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
		_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
		_cleanup_free_ char *path =
			write_file_len("mode.conf", "timeout = 1\n", 12, modes[i]);

		ASSERT_EQ(volmount_ctx_load_config(ctx, path, true), -EPERM);
		ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), "writable by group or others") !=
			    NULL);
		ASSERT_EQ(ctx->timeout_ms, VOLMOUNT_DEFAULT_TIMEOUT_MS);
	}

	/* read-only for others, and 0600/0400, are fine */
	{
		static const mode_t ok[] = { 0644, 0600, 0400, 0444 };

		for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
			_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
			_cleanup_free_ char *path =
				write_file_len("mode.conf", "timeout = 1\n", 12, ok[i]);

			ASSERT_OK(volmount_ctx_load_config(ctx, path, true));
			ASSERT_EQ(ctx->timeout_ms, 1000);
		}
	}
}

static void test_missing_file(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *path = NULL;

	ASSERT_TRUE(asprintf(&path, "%s/does-not-exist.conf", tmpdir) > 0);
	ASSERT_EQ(volmount_ctx_load_config(ctx, path, false), 0);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_NONE);
	ASSERT_EQ(volmount_ctx_load_config(ctx, path, true), -ENOENT);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_CONFIG);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), path) != NULL);
}

static void test_symlink(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *target = write_file("target.conf", "timeout = 1\n");
	_cleanup_free_ char *link = NULL;
	_cleanup_free_ char *dangling = NULL;

	ASSERT_TRUE(asprintf(&link, "%s/link.conf", tmpdir) > 0);
	ASSERT_OK(symlink(target, link));
	ASSERT_EQ(volmount_ctx_load_config(ctx, link, true), -EPERM);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), "symbolic link") != NULL);
	ASSERT_EQ(volmount_ctx_load_config(ctx, link, false), -EPERM);
	ASSERT_EQ(ctx->timeout_ms, VOLMOUNT_DEFAULT_TIMEOUT_MS);

	/* a dangling symlink is not "missing": someone put it there */
	ASSERT_TRUE(asprintf(&dangling, "%s/dangling.conf", tmpdir) > 0);
	ASSERT_OK(symlink("/nonexistent/volmount.conf", dangling));
	ASSERT_EQ(volmount_ctx_load_config(ctx, dangling, false), -EPERM);
}

static void test_not_regular(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();
	_cleanup_free_ char *fifo = NULL;

	ASSERT_EQ(volmount_ctx_load_config(ctx, tmpdir, true), -EINVAL);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), "not a regular file") != NULL);

	/* a FIFO must be refused without blocking on open() */
	ASSERT_TRUE(asprintf(&fifo, "%s/fifo.conf", tmpdir) > 0);
	ASSERT_OK(mkfifo(fifo, 0600));
	ASSERT_EQ(volmount_ctx_load_config(ctx, fifo, true), -EINVAL);
	ASSERT_EQ(volmount_ctx_load_config(ctx, "/dev/null", true), -EINVAL);
}

static void test_bad_arguments(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx();

	ASSERT_EQ(volmount_ctx_load_config(NULL, "/etc/volmount.conf", false), -EINVAL);
	ASSERT_EQ(volmount_ctx_load_config(ctx, NULL, false), -EINVAL);
	ASSERT_EQ(volmount_ctx_load_config(ctx, "", false), -EINVAL);
}

static const struct test tests[] = {
	{ "good file", test_good_file },
	{ "partial file keeps defaults", test_partial_file_keeps_defaults },
	{ "comments and blank lines", test_comments_and_blanks },
	{ "empty file", test_empty_file },
	{ "unknown key", test_unknown_key },
	{ "syntax errors", test_syntax_errors },
	{ "bad values", test_bad_values },
	{ "good timeouts", test_good_timeouts },
	{ "max_helpers", test_max_helpers },
	{ "relative path", test_relative_path },
	{ "overlong path", test_long_path },
	{ "duplicate key is an error", test_duplicate_key },
	{ "overlong line", test_overlong_line },
	{ "oversized file", test_oversized_file },
	{ "NUL byte", test_nul_byte },
	{ "not root-owned", test_not_root_owned },
	{ "writable by group or others", test_writable_by_others },
	{ "missing file", test_missing_file },
	{ "symlink refused", test_symlink },
	{ "not a regular file", test_not_regular },
	{ "bad arguments", test_bad_arguments },
};

static void remove_tmpdir(void)
{
	static const char *const names[] = {
		"bad.conf",    "timeout.conf", "good.conf",	"partial.conf", "comments.conf",
		"empty.conf",  "cap.conf",     "nul.conf",	"owner.conf",	"mode.conf",
		"target.conf", "link.conf",    "dangling.conf", "fifo.conf",
	};

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *p = NULL;

		if (asprintf(&p, "%s/%s", tmpdir, names[i]) > 0)
			(void)unlink(p); /* best effort: not every test ran */
	}
	(void)rmdir(tmpdir);
}

int main(void)
{
	int r;

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root to create root-owned config files\n");
		return EXIT_SUCCESS;
	}
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	r = test_run(tests, ELEMENTSOF(tests));
	remove_tmpdir();
	return r;
}
