/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * output.c - plain-text and JSON presentation of command results, the one-line diagnostics,
 * and the monitor's log lines and metrics: every byte the volmount command writes is formatted
 * here, and every JSON document goes through print_json(). It only formats: it never calls anything
 * that changes state, never decides an exit code, and never writes more than one document to stdout
 * per command. The JSON field names are a stable interface (snake_case, see DESIGN.md); strings
 * that are not valid UTF-8 are repaired with U+FFFD so that the document is always valid JSON, and
 * text output escapes control characters so that one record is always one line.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* vasprintf() */
#endif

#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "cleanup.h"
#include "volmount.h"
#include "errno-util.h"

static void json_putp(struct json_object **o)
{
	json_object_put(*o); /* accepts NULL */
}

#define _cleanup_json_ _cleanup_(json_putp)

/* ---- text helpers ---- */

/* stdio results are not checked call by call: a failed write leaves the stream's error flag
 * set, and output_flush() reports it once, at the end. */

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Write @s to @f with control characters as \xNN; returns the number of columns written. */
static size_t put_escaped(FILE *f, const char *s)
{
	size_t n = 0;

	if (!s)
		s = "-";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (is_control(*p)) {
			(void)fprintf(f, "\\x%02x", *p);
			n += 4;
		} else {
			(void)putc(*p, f);
			n++;
		}
	}
	return n;
}

static size_t escaped_len(const char *s)
{
	size_t n = 0;

	if (!s)
		return 1;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += is_control(*p) ? 4 : 1;
	return n;
}

static void put_padded(FILE *f, const char *s, size_t width)
{
	size_t n = put_escaped(f, s);

	for (; n < width; n++)
		(void)putc(' ', f);
}

/*
 * Is stderr the journal? systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connects
 * stderr to; a shell redirection keeps the variable but not the descriptor, so both must
 * match (systemd.exec(5)). Only then does a line start with the "<N>" of sd-daemon(3), which
 * journald turns into the line's priority and a terminal or a log file would show as noise.
 */
static bool stderr_is_journal(void)
{
	static int journal = -1;

	if (journal < 0) {
		const char *e = getenv("JOURNAL_STREAM");
		unsigned long long dev, ino;
		struct stat st;
		int end = 0;

		journal = e && sscanf(e, "%llu:%llu%n", &dev, &ino, &end) == 2 && !e[end] &&
			  fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
			  (unsigned long long)st.st_ino == ino;
	}
	return journal;
}

/* One line on stderr: [<prio>]<head><prefix>: <message>, escaped. */
__attribute__((format(printf, 4, 0))) static void vdiag(int prio, const char *head,
							const char *prefix, const char *fmt,
							va_list ap)
{
	_cleanup_free_ char *msg = NULL;

	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	if (stderr_is_journal())
		(void)fprintf(stderr, "<%d>", prio);
	(void)fputs(head, stderr);
	if (prefix) {
		put_escaped(stderr, prefix);
		(void)fputs(": ", stderr);
	}
	put_escaped(stderr, msg ? msg : "out of memory while formatting a message");
	(void)putc('\n', stderr);
	(void)fflush(stderr);
}

void output_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(OUTPUT_LOG_ERR, "volmount: ", verb, fmt, ap);
	va_end(ap);
}

void output_warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(OUTPUT_LOG_WARNING, "volmount: ", "warning", fmt, ap);
	va_end(ap);
}

void output_log(enum output_log_prio prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag((int)prio, "volmount monitor: ", NULL, fmt, ap);
	va_end(ap);
}

#define AUDIT_FIELD_MAX 256 /* bytes of one value in an audit line; the rest is "..." */

/* " key='value'" to @f, nothing for a NULL value. The value is the caller's, unchecked (a
 * failed attach is audited too): control characters, the quote and the backslash are written
 * as \xNN, so a value can neither end its field and forge another (export "x' owner='admin")
 * nor pass for an escape; at most AUDIT_FIELD_MAX bytes of it. */
static void put_field(FILE *f, const char *key, const char *value)
{
	size_t n = 0;

	if (!value)
		return;
	(void)fprintf(f, " %s='", key);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++, n++) {
		if (n == AUDIT_FIELD_MAX) {
			(void)fputs("...", f);
			break;
		}
		if (is_control(*p) || *p == '\'' || *p == '\\')
			(void)fprintf(f, "\\x%02x", *p);
		else
			(void)putc(*p, f);
	}
	(void)putc('\'', f);
}

void output_audit(const char *what, const char *driver, const char *export, const char *volume,
		  const char *owner, int status, const char *why)
{
	_cleanup_free_ char *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);

	if (!f)
		return; /* out of memory: no audit line, as when syslog is down */
	put_escaped(f, what);
	if (!driver)
		(void)fputs(" host", f);
	put_field(f, "driver", driver);
	put_field(f, "export", export);
	put_field(f, "volume", volume);
	put_field(f, "owner", owner);
	if (status == 0)
		(void)fputs(": ok", f);
	else
		(void)fprintf(f, ": failed (exit %d)", status);
	if (why) {
		(void)fputs(": ", f);
		put_escaped(f, why);
	}
	if (fclose(f) != 0)
		return;
	openlog("volmount", LOG_PID, LOG_DAEMON);
	syslog(status == 0 ? LOG_NOTICE : LOG_ERR, "%s", line);
	closelog();
}

/* ---- JSON helpers: each returns 0 or -ENOMEM, and consumes what it is given ---- */

/* Length of the well-formed UTF-8 sequence at @s (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), or 0. Never reads past a NUL. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80;
	unsigned char hi = 0xbf;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if (s[0] == 0xe0)
			lo = 0xa0;
		if (s[0] == 0xed)
			hi = 0x9f;
		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
			return 0;
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if (s[0] == 0xf0)
			lo = 0x90;
		if (s[0] == 0xf4)
			hi = 0x8f;
		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

/* A JSON string for @s, with every ill-formed byte replaced by U+FFFD. NULL on ENOMEM. */
static struct json_object *json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	_cleanup_free_ char *fixed = NULL;
	size_t len = strlen(s);
	size_t n = 0;
	bool valid = true;

	for (size_t i = 0; i < len;) {
		size_t l = utf8_len(p + i);

		if (l == 0) {
			valid = false;
			break;
		}
		i += l;
	}
	if (valid)
		return json_object_new_string(s);

	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	fixed = malloc(len * 3 + 1);
	if (!fixed)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t l = utf8_len(p + i);

		if (l == 0) {
			memcpy(fixed + n, "\xef\xbf\xbd", 3);
			n += 3;
			i++;
		} else {
			memcpy(fixed + n, p + i, l);
			n += l;
			i += l;
		}
	}
	fixed[n] = '\0';
	return json_object_new_string(fixed);
}

/* Add @v (consumed; NULL is JSON null) under @key. */
static int add(struct json_object *o, const char *key, struct json_object *v)
{
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int add_string(struct json_object *o, const char *key, const char *s)
{
	struct json_object *v = NULL;

	if (s) {
		v = json_string(s);
		if (!v)
			return -ENOMEM;
	}
	return add(o, key, v);
}

static int add_uint(struct json_object *o, const char *key, uint64_t n)
{
	struct json_object *v = json_object_new_uint64(n);

	if (!v)
		return -ENOMEM;
	return add(o, key, v);
}

static int add_bool(struct json_object *o, const char *key, bool b)
{
	struct json_object *v = json_object_new_boolean(b);

	if (!v)
		return -ENOMEM;
	return add(o, key, v);
}

static int append(struct json_object *array, struct json_object *v)
{
	if (json_object_array_add(array, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/*
 * The one JSON document of this command, printed by output_flush(): held until then so that
 * a failure after it (host-up, repair and gc report what they did before they fail) goes
 * into the same document as its "error" member, never into a second one.
 */
static struct json_object *document;
static struct json_object *error;

static int print_json(struct json_object *o)
{
	json_object_put(document);
	document = json_object_get(o);
	return 0;
}

void output_json_error(const char *kind, const char *message, int exit_code)
{
	_cleanup_json_ struct json_object *e = json_object_new_object();

	if (error || !e) /* the first failure is the one the exit status tells of */
		return;
	if (add_string(e, "kind", kind) < 0 || add_string(e, "message", message) < 0 ||
	    add(e, "exit_code", json_object_new_int(exit_code)) < 0)
		return;
	error = TAKE_PTR(e);
}

/* Write the document (with the error in it), if there is one. Returns 0 or -ENOMEM. */
static int write_document(void)
{
	_cleanup_json_ struct json_object *o = TAKE_PTR(document);
	const char *s;

	if (error) {
		if (!o)
			o = json_object_new_object();
		if (!o || add(o, "error", TAKE_PTR(error)) < 0)
			return -ENOMEM;
	}
	if (!o)
		return 0;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return -ENOMEM;
	(void)fputs(s, stdout);
	(void)putchar('\n');
	return 0;
}

int output_flush(void)
{
	int r = write_document();

	if (r < 0)
		return r;
	if (fflush(stdout) != 0)
		return errno > 0 ? -errno : -EIO;
	if (ferror(stdout))
		return -EIO; /* an earlier write failed; its errno is gone */
	return 0;
}

/* ---- commands ---- */

static int add_attachment(struct json_object *o, const struct output_attachment *a)
{
	int r;

	r = add_string(o, "driver", a->driver);
	if (r < 0)
		return r;
	r = add_string(o, "export", a->export);
	if (r < 0)
		return r;
	r = add_string(o, "volume", a->volume);
	if (r < 0)
		return r;
	return add_string(o, "owner", a->owner);
}

int output_attach(bool json, const struct output_attachment *a, const char *device_path,
		  const char *mountpoint)
{
	_cleanup_json_ struct json_object *o = NULL;
	int r;

	if (!json) {
		printf("%s\n", device_path);
		return 0;
	}

	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	r = add_string(o, "device_path", device_path);
	if (r < 0)
		return r;
	r = add_string(o, "mountpoint", mountpoint);
	if (r < 0)
		return r;
	r = add_attachment(o, a);
	if (r < 0)
		return r;
	return print_json(o);
}

int output_detach(bool json, const struct output_attachment *a, bool detached)
{
	_cleanup_json_ struct json_object *o = NULL;
	int r;

	if (!json)
		return 0;

	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	r = add_bool(o, "detached", detached);
	if (r < 0)
		return r;
	r = add_attachment(o, a);
	if (r < 0)
		return r;
	return print_json(o);
}

int output_path(bool json, const char *mountpoint)
{
	_cleanup_json_ struct json_object *o = NULL;
	int r;

	if (!json) {
		printf("%s\n", mountpoint);
		return 0;
	}

	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	r = add_string(o, "mountpoint", mountpoint);
	if (r < 0)
		return r;
	return print_json(o);
}

static int share_to_json(const struct volmount_snapshot *s, size_t i, struct json_object **ret)
{
	_cleanup_json_ struct json_object *o = NULL;
	_cleanup_json_ struct json_object *atts = NULL;
	size_t n = volmount_snapshot_share_n_attachments(s, i);
	uint64_t mount_id = volmount_snapshot_share_mount_id(s, i);
	int r;

	o = json_object_new_object();
	atts = json_object_new_array();
	if (!o || !atts)
		return -ENOMEM;

	r = add_string(o, "mountpoint", volmount_snapshot_share_mountpoint(s, i));
	if (r < 0)
		return r;
	r = add_string(o, "driver", volmount_snapshot_share_driver(s, i));
	if (r < 0)
		return r;
	r = add_string(o, "export", volmount_snapshot_share_export(s, i));
	if (r < 0)
		return r;
	r = add_string(o, "options", volmount_snapshot_share_options(s, i));
	if (r < 0)
		return r;
	r = add_string(o, "state", volmount_snapshot_share_state(s, i));
	if (r < 0)
		return r;
	/* 0 is never a valid mount id: it means "not mounted" */
	if (mount_id == 0)
		r = add(o, "mount_id", NULL);
	else
		r = add_uint(o, "mount_id", mount_id);
	if (r < 0)
		return r;
	r = add_bool(o, "adopted", volmount_snapshot_share_adopted(s, i));
	if (r < 0)
		return r;

	for (size_t j = 0; j < n; j++) {
		struct json_object *a = json_object_new_object();

		if (!a)
			return -ENOMEM;
		r = append(atts, a);
		if (r < 0)
			return r;
		r = add_string(a, "volume", volmount_snapshot_attachment_volume(s, i, j));
		if (r < 0)
			return r;
		r = add_string(a, "owner", volmount_snapshot_attachment_owner(s, i, j));
		if (r < 0)
			return r;
	}
	r = add(o, "attachments", TAKE_PTR(atts));
	if (r < 0)
		return r;

	*ret = TAKE_PTR(o);
	return 0;
}

/* The array "shares" of @o: @one's object for every share of @s, in order. */
static int add_shares(struct json_object *o, const struct volmount_snapshot *s,
		      int (*one)(const struct volmount_snapshot *, size_t, struct json_object **))
{
	struct json_object *shares = json_object_new_array();
	size_t n = volmount_snapshot_n_shares(s);
	int r;

	if (!shares)
		return -ENOMEM;
	r = add(o, "shares", shares); /* o owns it from here */
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct json_object *share = NULL;

		r = one(s, i, &share);
		if (r < 0)
			return r;
		r = append(shares, share);
		if (r < 0)
			return r;
	}
	return 0;
}

static int list_json(const struct volmount_snapshot *s)
{
	_cleanup_json_ struct json_object *o = NULL;
	int r;

	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	r = add_string(o, "host_state", volmount_snapshot_host_state(s));
	if (r < 0)
		return r;
	r = add_uint(o, "generation", volmount_snapshot_generation(s));
	if (r < 0)
		return r;
	r = add_shares(o, s, share_to_json);
	if (r < 0)
		return r;
	return print_json(o);
}

static void list_text(const struct volmount_snapshot *s)
{
	size_t n = volmount_snapshot_n_shares(s);
	size_t w_state = strlen("STATE");
	size_t w_driver = strlen("DRIVER");
	size_t w_export = strlen("EXPORT");
	size_t w_mountpoint = strlen("MOUNTPOINT");
	size_t l;

	for (size_t i = 0; i < n; i++) {
		l = escaped_len(volmount_snapshot_share_state(s, i));
		if (l > w_state)
			w_state = l;
		l = escaped_len(volmount_snapshot_share_driver(s, i));
		if (l > w_driver)
			w_driver = l;
		l = escaped_len(volmount_snapshot_share_export(s, i));
		if (l > w_export)
			w_export = l;
		l = escaped_len(volmount_snapshot_share_mountpoint(s, i));
		if (l > w_mountpoint)
			w_mountpoint = l;
	}

	printf("%-*s  %-*s  %-*s  %-*s  %s\n", (int)w_state, "STATE", (int)w_driver, "DRIVER",
	       (int)w_export, "EXPORT", (int)w_mountpoint, "MOUNTPOINT", "ATTACHMENTS");
	for (size_t i = 0; i < n; i++) {
		size_t n_att = volmount_snapshot_share_n_attachments(s, i);

		put_padded(stdout, volmount_snapshot_share_state(s, i), w_state + 2);
		put_padded(stdout, volmount_snapshot_share_driver(s, i), w_driver + 2);
		put_padded(stdout, volmount_snapshot_share_export(s, i), w_export + 2);
		put_padded(stdout, volmount_snapshot_share_mountpoint(s, i), w_mountpoint + 2);
		printf("%zu%s\n", n_att, volmount_snapshot_share_adopted(s, i) ? " (adopted)" : "");
		for (size_t j = 0; j < n_att; j++) {
			(void)fputs("    ", stdout);
			put_escaped(stdout, volmount_snapshot_attachment_volume(s, i, j));
			(void)putchar(' ');
			put_escaped(stdout, volmount_snapshot_attachment_owner(s, i, j));
			(void)putchar('\n');
		}
	}
}

int output_list(bool json, const struct volmount_snapshot *s)
{
	if (json)
		return list_json(s);
	list_text(s);
	return 0;
}

int output_status(bool json, const struct volmount_snapshot *s)
{
	_cleanup_json_ struct json_object *o = NULL;
	size_t n = volmount_snapshot_n_shares(s);
	uint64_t attachments = 0;
	uint64_t mounted = 0;
	uint64_t unhealthy = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		enum volmount_share_state state = volmount_snapshot_share_state_id(s, i);

		attachments += volmount_snapshot_share_n_attachments(s, i);
		if (state == VOLMOUNT_SHARE_MOUNTED)
			mounted++;
		if (!volmount_share_state_healthy(state))
			unhealthy++;
	}

	if (!json) {
		(void)fputs("host_state: ", stdout);
		put_escaped(stdout, volmount_snapshot_host_state(s));
		printf("\ngeneration: %" PRIu64 "\n", volmount_snapshot_generation(s));
		printf("shares: %zu\n", n);
		printf("attachments: %" PRIu64 "\n", attachments);
		printf("mounted: %" PRIu64 "\n", mounted);
		printf("unhealthy: %" PRIu64 "\n", unhealthy);
		return 0;
	}

	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	r = add_string(o, "host_state", volmount_snapshot_host_state(s));
	if (r < 0)
		return r;
	r = add_uint(o, "generation", volmount_snapshot_generation(s));
	if (r < 0)
		return r;
	r = add_uint(o, "shares", n);
	if (r < 0)
		return r;
	r = add_uint(o, "attachments", attachments);
	if (r < 0)
		return r;
	r = add_uint(o, "mounted", mounted);
	if (r < 0)
		return r;
	r = add_uint(o, "unhealthy", unhealthy);
	if (r < 0)
		return r;
	return print_json(o);
}

/* The entries of @rep as an "actions" array in @o. */
static int add_report_entries(struct json_object *o, const struct volmount_report *rep)
{
	struct json_object *actions = json_object_new_array();
	size_t n = rep ? volmount_report_n_entries(rep) : 0;
	int r;

	if (!actions)
		return -ENOMEM;
	r = add(o, "actions", actions); /* o owns it from here */
	if (r < 0)
		return r;

	for (size_t i = 0; i < n; i++) {
		struct json_object *a = json_object_new_object();

		if (!a)
			return -ENOMEM;
		r = append(actions, a);
		if (r < 0)
			return r;
		r = add_string(a, "path", volmount_report_entry_path(rep, i));
		if (r < 0)
			return r;
		r = add_string(a, "action", volmount_report_entry_action(rep, i));
		if (r < 0)
			return r;
		r = add_string(a, "detail", volmount_report_entry_detail(rep, i));
		if (r < 0)
			return r;
	}
	return 0;
}

static int host_up_json(const struct volmount_report *rep)
{
	_cleanup_json_ struct json_object *o = NULL;
	int r;

	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	r = add_string(o, "host_state", "up");
	if (r < 0)
		return r;
	r = add_uint(o, "generation", volmount_report_generation(rep));
	if (r < 0)
		return r;
	r = add_report_entries(o, rep);
	if (r < 0)
		return r;
	return print_json(o);
}

int output_host_up(bool json, const struct volmount_report *r)
{
	size_t n = r ? volmount_report_n_entries(r) : 0;

	if (json)
		return host_up_json(r);

	for (size_t i = 0; i < n; i++) {
		const char *detail = volmount_report_entry_detail(r, i);

		put_escaped(stdout, volmount_report_entry_action(r, i));
		(void)putchar(' ');
		put_escaped(stdout, volmount_report_entry_path(r, i));
		if (detail && detail[0]) {
			(void)fputs(": ", stdout);
			put_escaped(stdout, detail);
		}
		(void)putchar('\n');
	}
	printf("host up, generation %" PRIu64 "\n", volmount_report_generation(r));
	return 0;
}

int output_host_down(bool json)
{
	_cleanup_json_ struct json_object *o = NULL;
	int r;

	if (!json) {
		printf("host down\n");
		return 0;
	}

	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	r = add_string(o, "host_state", "down");
	if (r < 0)
		return r;
	return print_json(o);
}

/* The probe's errno as its name ("ESTALE"), for check. */
static const char *errno_name(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "?";
}

static int check_share_json(const struct volmount_snapshot *s, size_t i, struct json_object **ret)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	int err = volmount_snapshot_share_errno(s, i);
	int64_t us = volmount_snapshot_share_probe_us(s, i);
	struct json_object *v;
	int r;

	if (!o)
		return -ENOMEM;
	r = add_string(o, "mountpoint", volmount_snapshot_share_mountpoint(s, i));
	if (r < 0)
		return r;
	r = add_string(o, "driver", volmount_snapshot_share_driver(s, i));
	if (r < 0)
		return r;
	r = add_string(o, "export", volmount_snapshot_share_export(s, i));
	if (r < 0)
		return r;
	r = add_string(o, "state", volmount_snapshot_share_state(s, i));
	if (r < 0)
		return r;
	r = add_string(o, "errno", err ? errno_name(err) : NULL);
	if (r < 0)
		return r;
	r = add_string(o, "error", err ? errno_str(err) : NULL);
	if (r < 0)
		return r;
	v = NULL;
	if (us >= 0) {
		v = json_object_new_int64(us);
		if (!v)
			return -ENOMEM;
	}
	r = add(o, "probe_us", v);
	if (r < 0)
		return r;
	r = add_uint(o, "attachments", volmount_snapshot_share_n_attachments(s, i));
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

static int check_json(const struct volmount_snapshot *s, size_t n_unhealthy)
{
	_cleanup_json_ struct json_object *o = NULL;
	int r;

	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	r = add_bool(o, "healthy", n_unhealthy == 0);
	if (r < 0)
		return r;
	r = add_uint(o, "unhealthy", n_unhealthy);
	if (r < 0)
		return r;
	r = add_shares(o, s, check_share_json);
	if (r < 0)
		return r;
	return print_json(o);
}

int output_check(bool json, const struct volmount_snapshot *s, size_t n_unhealthy)
{
	size_t n = volmount_snapshot_n_shares(s);

	if (json)
		return check_json(s, n_unhealthy);

	for (size_t i = 0; i < n; i++) {
		int err = volmount_snapshot_share_errno(s, i);
		int64_t us = volmount_snapshot_share_probe_us(s, i);

		put_padded(stdout, volmount_snapshot_share_state(s, i), 9);
		(void)putchar(' ');
		put_padded(stdout, volmount_snapshot_share_driver(s, i), 9);
		(void)putchar(' ');
		put_escaped(stdout, volmount_snapshot_share_export(s, i));
		(void)putchar(' ');
		put_escaped(stdout, volmount_snapshot_share_mountpoint(s, i));
		if (err)
			printf(" (%s: %s)", errno_name(err), errno_str(err));
		else if (us >= 0)
			printf(" (probe %" PRId64 " us)", us);
		(void)putchar('\n');
	}
	printf("%zu share(s), %zu unhealthy\n", n, n_unhealthy);
	return 0;
}

int output_report(bool json, const struct volmount_report *r, const char *what)
{
	size_t n = volmount_report_n_entries(r);

	if (json) {
		_cleanup_json_ struct json_object *o = json_object_new_object();
		int k;

		if (!o)
			return -ENOMEM;
		k = add_report_entries(o, r);
		if (k < 0)
			return k;
		return print_json(o);
	}

	for (size_t i = 0; i < n; i++) {
		put_escaped(stdout, volmount_report_entry_action(r, i));
		(void)putchar(' ');
		put_escaped(stdout, volmount_report_entry_path(r, i));
		(void)fputs(": ", stdout);
		put_escaped(stdout, volmount_report_entry_detail(r, i));
		(void)putchar('\n');
	}
	printf("%s: %zu action(s)\n", what, n);
	return 0;
}

/* ---- monitor metrics (Prometheus text exposition format) ---- */

/* A label value: '\', '"' and newlines escaped. */
static void put_label(FILE *f, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			(void)fputc('\\', f);
		if (*v == '\n') {
			(void)fputs("\\n", f);
			continue;
		}
		(void)fputc(*v, f);
	}
}

void output_metrics(FILE *f, const struct volmount_snapshot *s,
		    const struct output_monitor_counters *c, double cycle_s)
{
	size_t n = volmount_snapshot_n_shares(s), att = 0;
	const char *host_state = volmount_snapshot_host_state(s);

	(void)fprintf(f,
		      "# HELP volmount_build_info The version of the volmount command writing these.\n"
		      "# TYPE volmount_build_info gauge\n"
		      "volmount_build_info{version=\"%d.%d.%d\"} 1\n",
		      VOLMOUNT_VERSION_MAJOR, VOLMOUNT_VERSION_MINOR, VOLMOUNT_VERSION_PATCH);
	(void)fprintf(f, "# HELP volmount_shares Shares by observed state.\n"
			 "# TYPE volmount_shares gauge\n");
	/* One sample per state the library names, 0 included, so a dashboard sees them all. */
	for (int k = 0; k < _VOLMOUNT_SHARE_STATE_MAX; k++) {
		const char *name = volmount_share_state_name((enum volmount_share_state)k);
		size_t cnt = 0;

		if (!name)
			continue;
		for (size_t i = 0; i < n; i++)
			cnt += (int)volmount_snapshot_share_state_id(s, i) == k;
		(void)fprintf(f, "volmount_shares{state=\"%s\"} %zu\n", name, cnt);
	}
	for (size_t i = 0; i < n; i++)
		att += volmount_snapshot_share_n_attachments(s, i);
	(void)fprintf(f,
		      "# HELP volmount_attachments Attachments recorded in the ledger.\n"
		      "# TYPE volmount_attachments gauge\nvolmount_attachments %zu\n",
		      att);
	(void)fprintf(f,
		      "# HELP volmount_repairs_total Repairs done by this monitor, by result.\n"
		      "# TYPE volmount_repairs_total counter\n"
		      "volmount_repairs_total{result=\"ok\"} %" PRIu64 "\n"
		      "volmount_repairs_total{result=\"failed\"} %" PRIu64 "\n",
		      c->repairs_ok, c->repairs_failed);
	(void)fprintf(f, "# HELP volmount_probe_latency_seconds Duration of the last liveness "
			 "probe of each mounted share.\n"
			 "# TYPE volmount_probe_latency_seconds gauge\n");
	for (size_t i = 0; i < n; i++) {
		int64_t us = volmount_snapshot_share_probe_us(s, i);

		if (us < 0)
			continue;
		(void)fputs("volmount_probe_latency_seconds{mountpoint=\"", f);
		put_label(f, volmount_snapshot_share_mountpoint(s, i));
		(void)fputs("\",driver=\"", f);
		put_label(f, volmount_snapshot_share_driver(s, i));
		(void)fprintf(f, "\"} %.6f\n", (double)us / 1e6);
	}
	(void)fprintf(f,
		      "# HELP volmount_check_duration_seconds Duration of the last check cycle.\n"
		      "# TYPE volmount_check_duration_seconds gauge\n"
		      "volmount_check_duration_seconds %.6f\n",
		      cycle_s);
	(void)fprintf(f,
		      "# HELP volmount_checks_total Check cycles run by this monitor.\n"
		      "# TYPE volmount_checks_total counter\nvolmount_checks_total %" PRIu64 "\n",
		      c->checks);
	(void)fprintf(f,
		      "# HELP volmount_host_up 1 if the host is up.\n"
		      "# TYPE volmount_host_up gauge\nvolmount_host_up %d\n",
		      host_state && strcmp(host_state, "up") == 0);
	(void)fprintf(f,
		      "# HELP volmount_generation Host generation.\n"
		      "# TYPE volmount_generation gauge\nvolmount_generation %" PRIu64 "\n",
		      volmount_snapshot_generation(s));
}
