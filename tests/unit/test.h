/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test.h - minimal unit-test harness: explicit test table, TAP output, ASSERT_* print
 * file:line, the expression and both values, then abort(). Exit code 77 means "skipped".
 */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_TEST_SKIP 77

struct test {
	const char *name;
	void (*fn)(void);
};

#define TEST_FAIL(fmt, ...)                                                           \
	do {                                                                          \
		fprintf(stderr, "%s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__); \
		abort();                                                              \
	} while (0)

#define ASSERT_OK(expr)                                                        \
	do {                                                                   \
		long _r = (expr);                                              \
		if (_r < 0)                                                    \
			TEST_FAIL("%s failed: %s", #expr, strerror((int)-_r)); \
	} while (0)

#define ASSERT_EQ(a, b)                                                      \
	do {                                                                 \
		long long _a = (long long)(a), _b = (long long)(b);          \
		if (_a != _b)                                                \
			TEST_FAIL("%s == %s: %lld != %lld", #a, #b, _a, _b); \
	} while (0)

#define ASSERT_TRUE(e)                                          \
	do {                                                    \
		if (!(e))                                       \
			TEST_FAIL("%s is false", #e);           \
	} while (0)

#define ASSERT_STREQ(a, b)                                                                  \
	do {                                                                                \
		const char *_a = (a), *_b = (b);                                            \
		if (!_a || !_b || strcmp(_a, _b) != 0)                                      \
			TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, _a ? _a : "(null)", \
				  _b ? _b : "(null)");                                      \
	} while (0)

/* The threads of this process: the entries of /proc/self/task. */
static inline size_t test_n_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	size_t n = 0;

	ASSERT_TRUE(d != NULL);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	(void)closedir(d);
	return n;
}

static inline int test_run(const struct test *t, size_t n)
{
	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		t[i].fn();
		printf("ok %zu - %s\n", i + 1, t[i].name);
		fflush(stdout);
	}
	return EXIT_SUCCESS;
}

#define TEST_MAIN(table) \
	int main(void) { return test_run(table, sizeof(table) / sizeof((table)[0])); }
