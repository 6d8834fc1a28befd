/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* path-util.h - lexical path helpers (no I/O). */
#pragma once

#include <stdbool.h>

/* Is @path @dir itself or inside it, lexically ("/a/b" is under "/a", "/ab" is not)? */
bool path_is_under(const char *path, const char *dir);

/* Lexically clean an absolute path into *ret (caller frees): no "//", no trailing "/", no "."
 * segments. Returns -EINVAL for a relative path, a ".." segment or one of PATH_MAX or more,
 * -ENOMEM. */
int path_clean_abs(const char *in, char **ret);
