/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-driver.h - the body shared by the helper-driver fuzz targets (fuzz-sshfs.c, ...): each
 * defines FUZZ_DRIVER and includes this file. Input: the export, then a NUL, then options
 * separated by NULs. Aborts unless, for every input:
 *  - a refusal returns -EINVAL with a reason and leaves the output untouched;
 *  - an accepted export's normal form is its own normal form, holds only printable ASCII
 *    without shell metacharacters, does not start with '-' and has no ".." component;
 *  - accepted options give a canonical string that contains nosuid and nodev, is sorted with
 *    unique keys, is accepted again as input with the same result, and does not depend on
 *    the order of the options;
 *  - for every accepted export and options, mount_spec succeeds, argv[0] is absolute, no
 *    element holds whitespace or control bytes, and only "-o" and "--" start with '-';
 *  - mount_spec refuses a hostile mountpoint.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

#define FUZZ_OPTS_MAX 70

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_export(const char *norm)
{
	size_t l = strlen(norm);

	if (l == 0 || norm[0] == '-' || strstr(norm, "/../") ||
	    (l >= 3 && strcmp(norm + l - 3, "/..") == 0) || strstr(norm, "/./"))
		abort();
	for (size_t i = 0; i < l; i++) {
		unsigned char c = (unsigned char)norm[i];

		if (c <= ' ' || c >= 0x7f || strchr("\\;`'\"()<>|&*?{}!#%", c))
			abort();
		if (c == '$' && FUZZ_DRIVER.normalize != driver_cifs.normalize)
			abort();
	}
}

/* Split a canonical string into @vec (at most @cap items), in place in @buf. */
static size_t split(char *buf, const char **vec, size_t cap)
{
	size_t n = 0;

	for (char *p = buf; *p && n < cap;) {
		char *comma = strchr(p, ',');

		vec[n++] = p;
		if (!comma)
			break;
		*comma = '\0';
		p = comma + 1;
	}
	return n;
}

static void check_canonical(const struct driver_opts *o)
{
	const char *vec[FUZZ_OPTS_MAX];
	char *buf;
	size_t n;
	bool suid = false, dev = false;

	if (!o->canonical || o->canonical[0] == '-' || o->canonical[0] == ',')
		abort();
	for (const char *p = o->canonical; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			abort();
	buf = strdup(o->canonical);
	if (!buf)
		return;
	n = split(buf, vec, FUZZ_OPTS_MAX);
	for (size_t i = 0; i < n; i++) {
		size_t kl = strcspn(vec[i], "=");

		suid |= strcmp(vec[i], "nosuid") == 0;
		dev |= strcmp(vec[i], "nodev") == 0;
		if (i > 0 && strcmp(vec[i - 1], vec[i]) >= 0)
			abort(); /* not sorted, or a duplicate */
		for (size_t j = 0; j < i; j++)
			if (strncmp(vec[j], vec[i], kl) == 0 && strcspn(vec[j], "=") == kl)
				abort(); /* one key twice */
	}
	if (!suid || !dev)
		abort();
	/* The canonical string is a valid input with the same result. */
	{
		struct driver_opts again = {};
		const char *why = NULL;

		if (FUZZ_DRIVER.options(vec, n, &again, &why) != 0)
			abort();
		if (strcmp(again.canonical, o->canonical) != 0 || again.flags != o->flags ||
		    (!again.cred_path) != (!o->cred_path) ||
		    (o->cred_path && strcmp(again.cred_path, o->cred_path) != 0) ||
		    (!again.trusted_path) != (!o->trusted_path) ||
		    (o->trusted_path && strcmp(again.trusted_path, o->trusted_path) != 0))
			abort();
		driver_opts_done(&again);
	}
	free(buf);
}

static void check_spec(const char *export, const struct driver_opts *o)
{
	struct driver_mount_spec m = {};
	const char *why = NULL;
	bool seen_export = false;

	if (driver_mount_spec(&FUZZ_DRIVER, export, o, "/var/lib/volmount/mnt/x/0123abcd", &m, &why) != 0)
		abort();
	if (!m.argv || !m.argv[0] || m.argv[0][0] != '/' || !m.fstype || !*m.fstype || !m.source ||
	    !*m.source)
		abort();
	for (size_t i = 0; m.argv[i]; i++) {
		const char *a = m.argv[i];

		if (!*a)
			abort();
		for (const char *p = a; *p; p++)
			if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
				abort();
		if (i > 0 && a[0] == '-' && strcmp(a, "-o") != 0 && strcmp(a, "--") != 0)
			abort();
		/* The value after "-o" is never a positional argument. */
		if (i > 0 && strcmp(m.argv[i - 1], "-o") == 0 && a[0] == '-')
			abort();
		seen_export |= strcmp(a, export) == 0 || strcmp(a, m.source) == 0;
	}
	if (!seen_export)
		abort();
	driver_mount_spec_done(&m);
	/* Hostile mountpoints are refused. */
	{
		static const char *const bad[] = { "rel/mnt",	  "/mnt/a b", "/mnt/x\n",
						   "/mnt/../etc", "/mnt/*",   "-o" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct driver_mount_spec m2 = {};

			if (driver_mount_spec(&FUZZ_DRIVER, export, o, bad[i], &m2, &why) != -EINVAL ||
			    m2.argv)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *opts[FUZZ_OPTS_MAX], *rev[FUZZ_OPTS_MAX];
	const char *why = NULL;
	char *buf, *norm = NULL;
	struct driver_opts o = {};
	size_t n = 0;
	int r;

	if (size > 65536)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';

	r = FUZZ_DRIVER.normalize(buf, &norm, &why);
	if (r == 0) {
		char *again = NULL;

		check_export(norm);
		if (FUZZ_DRIVER.normalize(norm, &again, &why) != 0 || strcmp(norm, again) != 0)
			abort();
		free(again);
	} else if (r != -EINVAL || !why || !*why || norm) {
		abort();
	}

	for (size_t i = strlen(buf) + 1; i < size && n < FUZZ_OPTS_MAX; i += strlen(buf + i) + 1)
		opts[n++] = buf + i;
	why = NULL;
	r = FUZZ_DRIVER.options(opts, n, &o, &why);
	if (r == 0) {
		struct driver_opts o2 = {};

		check_canonical(&o);
		for (size_t i = 0; i < n; i++)
			rev[i] = opts[n - 1 - i];
		if (FUZZ_DRIVER.options(rev, n, &o2, &why) != 0 ||
		    strcmp(o2.canonical, o.canonical) != 0)
			abort();
		driver_opts_done(&o2);
		if (norm)
			check_spec(norm, &o);
	} else if (r != -EINVAL || !why || !*why || o.canonical || o.cred_path ||
		   o.trusted_path) {
		abort();
	}
	driver_opts_done(&o);
	free(norm);
	free(buf);
	return 0;
}
