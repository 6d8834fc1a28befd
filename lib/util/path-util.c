/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "path-util.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int path_clean_n(const char *in, size_t n, size_t max_component, char **ret,
		 enum path_fault *ret_fault)
{
	size_t o = 0;
	char *out;

	*ret_fault = PATH_FAULT_NONE;
	if (n == 0 || in[0] != '/') {
		*ret_fault = PATH_FAULT_RELATIVE;
		return -EINVAL;
	}
	out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n;) {
		size_t j;

		while (i < n && in[i] == '/')
			i++;
		for (j = i; j < n && in[j] != '/'; j++)
			;
		if (j == i)
			break;
		if (j - i == 1 && in[i] == '.') {
			i = j;
			continue;
		}
		if ((j - i == 2 && in[i] == '.' && in[i + 1] == '.') || j - i > max_component) {
			free(out);
			*ret_fault = j - i > max_component ? PATH_FAULT_LONG : PATH_FAULT_DOTDOT;
			return -EINVAL;
		}
		out[o++] = '/';
		memcpy(out + o, in + i, j - i);
		o += j - i;
		i = j;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	*ret = out;
	return 0;
}

int path_clean_abs(const char *in, char **ret)
{
	enum path_fault f;
	size_t n = strlen(in);

	if (n >= PATH_MAX)
		return -EINVAL;
	return path_clean_n(in, n, SIZE_MAX, ret, &f);
}
