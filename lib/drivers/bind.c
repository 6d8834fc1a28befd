/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bind.c - the bind driver: an export is the absolute path of a local directory, bind-mounted
 * at the share's mountpoint with nosuid,nodev always on. Pure: the engine does the I/O
 * (resolving the parent directory, refusing a symlink in the last component).
 *
 * Grammar: '/' followed by components of [A-Za-z0-9._+@:=,~-], separated by '/'. "//", a
 * trailing '/' and "." components are normalized away; ".." components are refused, as are
 * the root directory itself, whitespace, control bytes and anything outside the grammar.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "common.h"
#include "driver.h"
#include "input-caps.h"
#include "path-util.h"
#include "cleanup.h"

static bool is_path_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("._+@:=,~-", c) != NULL;
}

static int bind_normalize(const char *export, char **ret, const char **reterr)
{
	enum path_fault fault;
	size_t n = 0;
	char *out;
	int r;

	r = export_precheck(export, &n, reterr);
	if (r < 0)
		return r;
	if (export[0] != '/') {
		*reterr = "bind export must be an absolute path";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (export[i] != '/' && !is_path_char(export[i])) {
			*reterr = "bind export may only contain A-Z a-z 0-9 and ._+@:=,~- between '/'";
			return -EINVAL;
		}
	r = path_clean_n(export, n, 255, &out, &fault);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		*reterr = fault == PATH_FAULT_LONG ? "bind export has a component longer than 255 bytes" :
						    "bind export must not contain '..'";
		return r;
	}
	if (strcmp(out, "/") == 0) {
		free(out);
		*reterr = "bind export must not be the root directory";
		return -EINVAL;
	}
	*ret = out;
	return 0;
}

static const struct {
	const char *name;
	unsigned long flag;
} bind_allowed[] = {
	/* Canonical order: the share's option string lists flags in this order. */
	{ "nodev", MS_NODEV },
	{ "noexec", MS_NOEXEC },
	{ "nosuid", MS_NOSUID },
	{ "ro", MS_RDONLY },
	{ "rw", 0 },
};

static int bind_options(const char *const *opts, size_t n, struct driver_opts *ret,
			const char **reterr)
{
	unsigned long flags = MS_NOSUID | MS_NODEV; /* hardened defaults, cannot be lifted */
	bool seen_ro = false, seen_rw = false;
	size_t len = 0;
	char *s;

	if (n > VOLMOUNT_OPTIONS_MAX) {
		*reterr = "too many options";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k;

		if (!opts[i]) {
			*reterr = "option is NULL";
			return -EINVAL;
		}
		for (k = 0; k < ELEMENTSOF(bind_allowed); k++)
			if (strcmp(opts[i], bind_allowed[k].name) == 0)
				break;
		if (k == ELEMENTSOF(bind_allowed)) {
			*reterr = strchr(opts[i], ',') ?
					  "give one option per --option (',' is not allowed)" :
					  "bind allows only the options ro, rw, noexec, nosuid, nodev";
			return -EINVAL;
		}
		flags |= bind_allowed[k].flag;
		seen_ro |= strcmp(opts[i], "ro") == 0;
		seen_rw |= strcmp(opts[i], "rw") == 0;
	}
	if (seen_ro && seen_rw) {
		*reterr = "options 'ro' and 'rw' contradict each other";
		return -EINVAL;
	}
	for (size_t k = 0; k < ELEMENTSOF(bind_allowed); k++)
		if (bind_allowed[k].flag & flags)
			len += strlen(bind_allowed[k].name) + 1;
	s = malloc(len + 1);
	if (!s)
		return -ENOMEM;
	s[0] = '\0';
	for (size_t k = 0, o = 0; k < ELEMENTSOF(bind_allowed); k++)
		if (bind_allowed[k].flag & flags) {
			size_t l = strlen(bind_allowed[k].name);

			if (o)
				s[o++] = ',';
			memcpy(s + o, bind_allowed[k].name, l + 1);
			o += l;
		}
	ret->canonical = s;
	ret->flags = flags;
	return 0;
}

const struct driver driver_bind = {
	.name = "bind",
	.kind = DRIVER_KIND_BIND,
	.normalize = bind_normalize,
	.options = bind_options,
};
