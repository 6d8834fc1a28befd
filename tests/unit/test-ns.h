/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-ns.h - for unit tests that mount: a private mount namespace of the test's own, so that
 * nothing it mounts reaches the host, even if it aborts.
 */
#pragma once

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "test.h"

/* Enter a private mount namespace, or exit 77 (skip) when not permitted to. */
static inline void test_private_mount_ns(void)
{
	if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", "none", MS_REC | MS_PRIVATE, NULL) == 0)
		return;
	if (errno == EPERM) {
		printf("1..0 # SKIP no permission for a private mount namespace\n");
		exit(EXIT_TEST_SKIP);
	}
	TEST_FAIL("private mount namespace: %s", strerror(errno));
}
