/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-tmp.h - for unit tests that need volmount's directories: a temporary root, paths in it,
 * its removal, and a context whose state, base and run directories lie in it.
 */
#pragma once

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "volmount.h"

/* A new directory /tmp/volmount-test-@name.XXXXXX (caller frees, or test_rm_rf()). */
static inline char *test_tmpdir(const char *name)
{
	char *t = NULL;

	ASSERT_TRUE(asprintf(&t, "/tmp/volmount-test-%s.XXXXXX", name) > 0);
	ASSERT_TRUE(mkdtemp(t) != NULL);
	return t;
}

static inline char *test_path(const char *root, const char *rel)
{
	char *p = NULL;

	ASSERT_TRUE(asprintf(&p, "%s/%s", root, rel) > 0);
	return p;
}

static inline int test_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(p); /* best effort */
	return 0;
}

/* Remove the tree *@root (best effort) and free it; for _cleanup_(). */
static inline void test_rm_rf(char **root)
{
	if (!*root)
		return;
	(void)nftw(*root, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(*root);
	*root = NULL;
}

/* A context, not yet opened, with its state, base and run directories in @root. */
static inline struct volmount_ctx *test_ctx_in(const char *root)
{
	struct volmount_ctx *ctx = NULL;
	char *state = test_path(root, "state"), *base = test_path(root, "base");
	char *run = test_path(root, "run");

	ASSERT_OK(volmount_ctx_new(&ctx));
	ASSERT_OK(volmount_ctx_set_path(ctx, VOLMOUNT_PATH_STATE_DIR, state));
	ASSERT_OK(volmount_ctx_set_path(ctx, VOLMOUNT_PATH_BASE_DIR, base));
	ASSERT_OK(volmount_ctx_set_path(ctx, VOLMOUNT_PATH_RUN_DIR, run));
	free(state);
	free(base);
	free(run);
	return ctx;
}
