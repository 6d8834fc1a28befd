/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-bind.c - the bind driver's export grammar and option parser. Input: the export, then
 * a NUL, then options separated by NULs. Checks what must hold for every accepted export:
 * normalization is idempotent, the result is absolute, has no "//", no "." or ".." segment,
 * no trailing '/', and only characters of the grammar.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *opts[70];
	const char *why = NULL;
	char *buf, *norm = NULL, *again = NULL;
	size_t n = 0;

	if (size > 65536)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (driver_bind.normalize(buf, &norm, &why) == 0) {
		size_t l = strlen(norm);

		if (norm[0] != '/' || strstr(norm, "//") || strstr(norm, "/./") ||
		    strstr(norm, "/../") || (l > 1 && norm[l - 1] == '/') ||
		    strcmp(norm + l - (l >= 2 ? 2 : l), "/.") == 0 ||
		    (l >= 3 && strcmp(norm + l - 3, "/..") == 0))
			abort();
		for (size_t i = 0; i < l; i++)
			if (norm[i] <= ' ' || norm[i] >= 0x7f || strchr("\\;$`'\"()<>|&*?[]{}!#", norm[i]))
				abort();
		if (driver_bind.normalize(norm, &again, &why) != 0 || strcmp(norm, again) != 0)
			abort();
	} else if (!why)
		abort();
	for (size_t i = strlen(buf) + 1; i < size && n < 70; i += strlen(buf + i) + 1)
		opts[n++] = buf + i;
	{
		struct driver_opts o = {};

		if (driver_bind.options(opts, n, &o, &why) == 0) {
			if (!o.canonical || strstr(o.canonical, "suid,") == o.canonical ||
			    !strstr(o.canonical, "nosuid") || !strstr(o.canonical, "nodev"))
				abort();
			driver_opts_done(&o);
		}
	}
	free(norm);
	free(again);
	free(buf);
	return 0;
}
