/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "path-util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

bool path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int path_clean_abs(const char *in, char **ret)
{
	size_t n = strlen(in), o = 0;
	char *out;

	if (in[0] != '/' || n >= PATH_MAX)
		return -EINVAL;
	out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n;) {
		size_t j;

		while (in[i] == '/')
			i++;
		j = i;
		while (in[j] && in[j] != '/')
			j++;
		if (j == i)
			break;
		if (j - i == 1 && in[i] == '.') {
			i = j;
			continue;
		}
		if (j - i == 2 && in[i] == '.' && in[i + 1] == '.') {
			free(out);
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

