/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* path-util.h - lexical path helpers (no I/O). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Is @path @dir itself or inside it, lexically ("/a/b" is under "/a", "/ab" is not)? */
bool path_is_under(const char *path, const char *dir);

enum path_fault {
	PATH_FAULT_NONE,
	PATH_FAULT_RELATIVE, /* empty, or not starting with '/' */
	PATH_FAULT_DOTDOT,   /* a ".." segment */
	PATH_FAULT_LONG,     /* a component longer than the maximum */
};

/* The lexical walk behind path_clean_abs(), for @n bytes of @in and components of at most
 * @max_component bytes: -EINVAL with *ret_fault saying why, -ENOMEM, or 0 and *ret. "/" stays
 * "/". */
int path_clean_n(const char *in, size_t n, size_t max_component, char **ret,
		 enum path_fault *ret_fault);

/* Lexically clean an absolute path into *ret (caller frees): no "//", no trailing "/", no "."
 * segments. Returns -EINVAL for a relative path, a ".." segment or one of PATH_MAX or more,
 * -ENOMEM. */
int path_clean_abs(const char *in, char **ret);
