/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config.c - the configuration file (/etc/volmount.conf by default): its format, its trust
 * checks and its application to a context. It must never apply part of a file: the whole file
 * is read, checked and parsed into a staging struct first, and only then handed to the public
 * setters. It must never follow a symlink, block on a FIFO, or read more than CONFIG_FILE_MAX
 * bytes.
 *
 * Format, one setting per line:
 *
 *	# comment
 *	state_dir  = /var/lib/volmount
 *	timeout    = 2.5        # seconds
 *
 * Blank lines are ignored. A '#' at the start of a line or after a blank starts a comment that
 * runs to the end of the line. A value is a single token: no blanks inside, no quoting. Keys:
 * state_dir, base_dir, run_dir (absolute paths), timeout (decimal seconds, > 0 and <= 86400,
 * rounded up to whole milliseconds), probe_timeout (the same), durability (normal | full),
 * path_scheme (volmount | nova: see volmount.h), max_helpers (1..32: shares host-up and repair
 * work on at once, so the most helpers they run at once). A key given twice is an error
 * rather than "last wins": two conflicting settings in a root-owned file are a mistake that
 * should be seen, not silently resolved.
 *
 * Trust: the file is opened with O_NOFOLLOW and checked on the open fd (fstat): it must be a
 * regular file owned by root and not writable by group or others.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "cleanup.h"
#include "seconds.h"
#include "volmount.h"
#include "errno-util.h"

#define CONFIG_FILE_MAX	   ((size_t)64 * 1024) /* bytes */
#define CONFIG_LINE_MAX	   8192		       /* bytes, without the newline */
#define CONFIG_TIMEOUT_MAX 86400.0	       /* seconds */

enum config_key {
	KEY_STATE_DIR,
	KEY_BASE_DIR,
	KEY_RUN_DIR,
	KEY_TIMEOUT,
	KEY_DURABILITY,
	KEY_PROBE_TIMEOUT,
	KEY_PATH_SCHEME,
	KEY_MAX_HELPERS,
	_KEY_MAX
};

static const char *const key_names[_KEY_MAX] = {
	[KEY_STATE_DIR] = "state_dir", [KEY_BASE_DIR] = "base_dir",	[KEY_RUN_DIR] = "run_dir",
	[KEY_TIMEOUT] = "timeout",     [KEY_DURABILITY] = "durability",
	[KEY_PROBE_TIMEOUT] = "probe_timeout", [KEY_PATH_SCHEME] = "path_scheme",
	[KEY_MAX_HELPERS] = "max_helpers",
};

/* What the file says, before anything is applied. Strings point into the file buffer. */
struct config {
	unsigned line_of[_KEY_MAX]; /* line a key was set on; 0: not set */
	const char *paths[_VOLMOUNT_PATH_MAX];
	unsigned timeout_ms;
	unsigned probe_timeout_ms;
	enum volmount_durability durability;
	enum volmount_path_scheme path_scheme;
	unsigned max_helpers;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int parse_seconds(const char *s, unsigned *ret_ms)
{
	return seconds_parse_ms(s, CONFIG_TIMEOUT_MAX, ret_ms);
}

static int parse_value(struct volmount_ctx *ctx, const char *file, unsigned line,
		       enum config_key key, const char *value, struct config *c)
{
	int r;

	switch (key) {
	case KEY_STATE_DIR:
	case KEY_BASE_DIR:
	case KEY_RUN_DIR:
		if (value[0] != '/')
			return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG,
					 "%s:%u: %s must be an absolute path", file, line,
					 key_names[key]);
		if (strlen(value) >= PATH_MAX)
			return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG,
					 "%s:%u: %s is longer than %d bytes", file, line,
					 key_names[key], PATH_MAX - 1);
		c->paths[key == KEY_STATE_DIR  ? VOLMOUNT_PATH_STATE_DIR
			 : key == KEY_BASE_DIR ? VOLMOUNT_PATH_BASE_DIR
					       : VOLMOUNT_PATH_RUN_DIR] = value;
		return 0;

	case KEY_TIMEOUT:
	case KEY_PROBE_TIMEOUT:
		r = parse_seconds(value, key == KEY_TIMEOUT ? &c->timeout_ms : &c->probe_timeout_ms);
		if (r == -ERANGE)
			return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG,
				"%s:%u: %s must be more than 0 and at most %.0f seconds", file,
				line, key_names[key], CONFIG_TIMEOUT_MAX);
		if (r < 0)
			return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG,
				"%s:%u: %s '%.32s' is not a decimal number of seconds", file,
				line, key_names[key], value);
		return 0;

	case KEY_DURABILITY:
		if (strcmp(value, "normal") == 0)
			c->durability = VOLMOUNT_DURABILITY_NORMAL;
		else if (strcmp(value, "full") == 0)
			c->durability = VOLMOUNT_DURABILITY_FULL;
		else
			return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG,
				"%s:%u: durability must be 'normal' or 'full', not '%.32s'", file,
				line, value);
		return 0;

	case KEY_PATH_SCHEME:
		if (strcmp(value, "volmount") == 0)
			c->path_scheme = VOLMOUNT_PATH_SCHEME_VOLMOUNT;
		else if (strcmp(value, "nova") == 0)
			c->path_scheme = VOLMOUNT_PATH_SCHEME_NOVA;
		else
			return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG,
				"%s:%u: path_scheme must be 'volmount' or 'nova', not '%.32s'",
				file, line, value);
		return 0;

	case KEY_MAX_HELPERS: {
		unsigned long v = 0;
		char *end = NULL;

		/* digits only: no sign, no blanks, no base prefix */
		if (value[0] >= '0' && value[0] <= '9' && strlen(value) <= 9) {
			errno = 0;
			v = strtoul(value, &end, 10);
		}
		if (!end || *end || errno || v == 0 || v > VOLMOUNT_MAX_HELPERS_MAX)
			return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG,
				"%s:%u: max_helpers must be a whole number from 1 to %u, not '%.32s'",
				file, line, VOLMOUNT_MAX_HELPERS_MAX, value);
		c->max_helpers = (unsigned)v;
		return 0;
	}

	case _KEY_MAX:
		break;
	}
	return error_set(-EINVAL, VOLMOUNT_ERR_INTERNAL, "%s:%u: unhandled key", file, line);
}

/* One line, NUL-terminated in place (it is modified). Blank and comment lines are fine. */
static int parse_line(struct volmount_ctx *ctx, const char *file, unsigned line, char *s,
		      struct config *c)
{
	char *key;
	char *value;
	char *eq;
	char *end;
	enum config_key k;

	for (char *p = s; *p; p++) {
		if (*p == '#' && (p == s || is_blank(p[-1]))) {
			*p = '\0';
			break;
		}
		if (((unsigned char)*p < 0x20 && !is_blank(*p)) || *p == 0x7f)
			return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG,
					 "%s:%u: control character in line", file, line);
	}

	key = s + strspn(s, " \t\r");
	if (*key == '\0')
		return 0;

	eq = strchr(key, '=');
	if (!eq)
		return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG, "%s:%u: expected 'key = value'",
				 file, line);

	end = eq;
	while (end > key && is_blank(end[-1]))
		end--;
	*end = '\0';
	if (*key == '\0')
		return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG, "%s:%u: missing key before '='",
				 file, line);

	for (k = 0; k < _KEY_MAX; k++)
		if (strcmp(key, key_names[k]) == 0)
			break;
	if (k == _KEY_MAX)
		return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG, "%s:%u: unknown key '%.64s'",
				 file, line, key);
	if (c->line_of[k] != 0)
		return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG,
				 "%s:%u: %s is already set on line %u", file, line, key_names[k],
				 c->line_of[k]);

	value = eq + 1 + strspn(eq + 1, " \t\r");
	end = value + strlen(value);
	while (end > value && is_blank(end[-1]))
		end--;
	*end = '\0';
	if (*value == '\0')
		return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG, "%s:%u: missing value for %s",
				 file, line, key_names[k]);
	if (value[strcspn(value, " \t\r")] != '\0')
		return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG,
				 "%s:%u: unexpected text after the value of %s", file, line,
				 key_names[k]);

	c->line_of[k] = line;
	return parse_value(ctx, file, line, k, value, c);
}

static int parse_buffer(struct volmount_ctx *ctx, const char *file, char *buf, size_t size,
			struct config *c)
{
	unsigned line = 0;
	char *s = buf;
	char *end = buf + size;
	int r;

	if (memchr(buf, '\0', size))
		return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG, "%s: contains a NUL byte",
				 file);

	while (s < end) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		char *eol = nl ? nl : end;

		line++;
		if ((size_t)(eol - s) > CONFIG_LINE_MAX)
			return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG,
					 "%s:%u: line longer than %d bytes", file, line,
					 CONFIG_LINE_MAX);
		*eol = '\0'; /* buf has one spare byte, so this is in bounds when !nl */

		r = parse_line(ctx, file, line, s, c);
		if (r < 0)
			return r;
		s = eol + 1;
	}
	return 0;
}

/* Open @path without following a symlink and check who may have written it. Returns the fd,
 * -ENOENT when it does not exist (message set only if @must_exist), or another -errno. */
static int open_trusted(struct volmount_ctx *ctx, const char *path, bool must_exist)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	int r;

	/* O_NONBLOCK: a FIFO planted at the path must not block us before fstat() refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT || r == -ENOTDIR) {
			if (!must_exist)
				return -ENOENT;
			return error_set(-ENOENT, VOLMOUNT_ERR_CONFIG, "%s: no such file",
					 path);
		}
		if (r == -ELOOP)
			return error_set(-EPERM, VOLMOUNT_ERR_CONFIG,
					 "%s: is a symbolic link, refusing to follow it", path);
		if (r == -EACCES || r == -EPERM)
			return error_set(-EPERM, VOLMOUNT_ERR_CONFIG, "%s: %s", path,
					 errno_str(r));
		return error_set(r, VOLMOUNT_ERR_CONFIG, "%s: cannot open: %s", path,
				 errno_str(r));
	}

	if (fstat(fd, &st) < 0) {
		r = -errno;
		return error_set(r, VOLMOUNT_ERR_CONFIG, "%s: cannot stat: %s", path,
				 errno_str(r));
	}
	if (!S_ISREG(st.st_mode))
		return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG, "%s: not a regular file", path);
	if (st.st_uid != 0)
		return error_set(-EPERM, VOLMOUNT_ERR_CONFIG,
				 "%s: owned by uid %u, not by root", path, (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return error_set(-EPERM, VOLMOUNT_ERR_CONFIG,
				 "%s: writable by group or others (mode %04o)", path,
				 (unsigned)(st.st_mode & 07777));
	if ((uint64_t)st.st_size > CONFIG_FILE_MAX) /* st_size of a regular file is >= 0 */
		return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG, "%s: larger than %zu KiB", path,
				 CONFIG_FILE_MAX / 1024);

	return TAKE_FD(fd);
}

/* Read at most CONFIG_FILE_MAX bytes; the file may have grown since fstat(). */
static int read_all(struct volmount_ctx *ctx, const char *path, int fd, char *buf, size_t *ret_size)
{
	size_t size = 0;
	ssize_t n;
	int r;

	for (;;) {
		n = read(fd, buf + size, CONFIG_FILE_MAX + 1 - size);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			return error_set(r, VOLMOUNT_ERR_CONFIG, "%s: read error: %s", path,
					 errno_str(r));
		}
		if (n == 0)
			break;
		size += (size_t)n;
		if (size > CONFIG_FILE_MAX)
			return error_set(-EINVAL, VOLMOUNT_ERR_CONFIG,
					 "%s: larger than %zu KiB", path, CONFIG_FILE_MAX / 1024);
	}
	*ret_size = size;
	return 0;
}

/* Hand @c to the public setters of @ctx. On failure returns the setter's -errno and the key
 * in *ret_failed; the setter's message, if any, is in the error slot. */
static int set_all(struct volmount_ctx *ctx, const struct config *c, enum config_key *ret_failed)
{
	static const enum config_key path_keys[_VOLMOUNT_PATH_MAX] = {
		[VOLMOUNT_PATH_STATE_DIR] = KEY_STATE_DIR,
		[VOLMOUNT_PATH_BASE_DIR] = KEY_BASE_DIR,
		[VOLMOUNT_PATH_RUN_DIR] = KEY_RUN_DIR,
	};
	int r;

	for (int i = 0; i < _VOLMOUNT_PATH_MAX; i++) {
		if (!c->paths[i])
			continue;
		r = volmount_ctx_set_path(ctx, (enum volmount_path)i, c->paths[i]);
		if (r < 0) {
			*ret_failed = path_keys[i];
			return r;
		}
	}
	if (c->line_of[KEY_TIMEOUT]) {
		r = volmount_ctx_set_timeout(ctx, c->timeout_ms);
		if (r < 0) {
			*ret_failed = KEY_TIMEOUT;
			return r;
		}
	}
	if (c->line_of[KEY_PROBE_TIMEOUT]) {
		r = volmount_ctx_set_probe_timeout(ctx, c->probe_timeout_ms);
		if (r < 0) {
			*ret_failed = KEY_PROBE_TIMEOUT;
			return r;
		}
	}
	if (c->line_of[KEY_DURABILITY]) {
		r = volmount_ctx_set_durability(ctx, c->durability);
		if (r < 0) {
			*ret_failed = KEY_DURABILITY;
			return r;
		}
	}
	if (c->line_of[KEY_MAX_HELPERS]) {
		r = volmount_ctx_set_max_helpers(ctx, c->max_helpers);
		if (r < 0) {
			*ret_failed = KEY_MAX_HELPERS;
			return r;
		}
	}
	if (c->line_of[KEY_PATH_SCHEME]) {
		r = volmount_ctx_set_path_scheme(ctx, c->path_scheme);
		if (r < 0) {
			*ret_failed = KEY_PATH_SCHEME;
			return r;
		}
	}
	return 0;
}

/*
 * The setters have rules of their own (ctx.c normalizes paths and refuses "..", "/"), so the
 * settings are first tried on a scratch context: a value they refuse is reported with its line,
 * and @ctx is only touched once every value is known to be accepted.
 */
static int apply(struct volmount_ctx *ctx, const char *path, const struct config *c)
{
	_cleanup_free_ char *why = NULL;
	struct volmount_ctx *scratch = NULL;
	enum config_key failed = _KEY_MAX;
	enum volmount_errkind kind;
	int r;

	r = volmount_ctx_new(&scratch);
	if (r < 0)
		return error_set(r, VOLMOUNT_ERR_INTERNAL, "out of memory");
	r = set_all(scratch, c, &failed);
	volmount_ctx_free(scratch);
	if (r >= 0)
		/* cannot fail now but for -EBUSY (the caller already used @ctx) or -ENOMEM */
		r = set_all(ctx, c, &failed);
	if (r >= 0)
		return 0;

	/* copy: the setter's message lives in the slot error_set() is about to write */
	if (volmount_ctx_errmsg(ctx)[0])
		why = strdup(volmount_ctx_errmsg(ctx));
	kind = r == -ENOMEM || r == -EBUSY ? VOLMOUNT_ERR_INTERNAL : VOLMOUNT_ERR_CONFIG;
	return error_set(r, kind, "%s:%u: %s: %s", path,
			 failed < _KEY_MAX ? c->line_of[failed] : 0,
			 failed < _KEY_MAX ? key_names[failed] : "?", why ? why : errno_str(r));
}

VOLMOUNT_EXPORT int volmount_ctx_load_config(struct volmount_ctx *ctx, const char *path,
					     bool must_exist)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	struct config c = {
		.durability = VOLMOUNT_DURABILITY_NORMAL,
	};
	size_t size = 0;
	int r;

	if (!ctx || !path || !path[0])
		return -EINVAL;
	error_clear();

	fd = open_trusted(ctx, path, must_exist);
	if (fd == -ENOENT && !must_exist)
		return 0;
	if (fd < 0)
		return fd;

	buf = malloc(CONFIG_FILE_MAX + 2); /* + 1 to detect growth, + 1 for a final NUL */
	if (!buf)
		return error_set(-ENOMEM, VOLMOUNT_ERR_INTERNAL, "out of memory");

	r = read_all(ctx, path, fd, buf, &size);
	if (r < 0)
		return r;
	buf[size] = '\0';

	r = parse_buffer(ctx, path, buf, size, &c);
	if (r < 0)
		return r;

	return apply(ctx, path, &c);
}
