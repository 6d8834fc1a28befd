/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-names.c - volume-name and owner validation. An accepted volume name is one safe path
 * component; an accepted owner has no '/', whitespace or control byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	char *s;

	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (volume_name_check(s, &why) == 0) {
		size_t l = strlen(s);

		if (l == 0 || l > 255 || strchr(s, '/') || s[0] == '.' || s[0] == '-')
			abort();
	}
	if (owner_check(s, &why) == 0) {
		for (const char *p = s; *p; p++)
			if (*p == '/' || (unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
				abort();
		if (strlen(s) > 128)
			abort();
	}
	free(s);
	return 0;
}
