/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * common.c - grammars and the option allowlist machinery shared by the helper drivers. Pure:
 * no I/O, no locale, no global state; inet_pton/inet_ntop/inet_aton only convert strings. It
 * never repairs hostile input, it refuses it with a static reason.
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input-caps.h"
#include "cleanup.h"

/* ---- bounded string builder ---- */

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (n > SBUF_MAX || b->len + n > SBUF_MAX) {
		b->err = -E2BIG;
		return;
	}
	if (!b->s || b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->s, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void sbuf_addc(struct sbuf *b, char c)
{
	sbuf_add(b, &c, 1);
}

int sbuf_take(struct sbuf *b, char **ret)
{
	int r = b->err;

	if (r == 0 && !b->s) {
		b->s = strdup("");
		if (!b->s)
			r = -ENOMEM;
	}
	if (r < 0) {
		sbuf_done(b);
		return r;
	}
	*ret = b->s;
	b->s = NULL;
	b->len = b->cap = 0;
	return 0;
}

void sbuf_done(struct sbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}

/* ---- grammars ---- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int parse_uint(const char *s, size_t n, unsigned long min, unsigned long max, unsigned long *ret)
{
	unsigned long v = 0;

	/* At most 10 digits, and the overflow check below keeps 32-bit longs honest. */
	if (n == 0 || n > 10 || (n > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -EINVAL;
		if (v > (~0UL - 9) / 10)
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

bool name_is_valid(const char *s, size_t n, size_t max, const char *extra)
{
	if (n == 0 || n > max || !is_alnum(s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !(s[i] && extra && strchr(extra, s[i])))
			return false;
	return true;
}

/* A strict dotted quad: four 0..255 decimals without leading zeros. */
static bool is_dotted_quad(const char *s, size_t n)
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		size_t j = i;
		unsigned long v;

		while (j < n && is_digit(s[j]))
			j++;
		if (parse_uint(s + i, j - i, 0, 255, &v) < 0)
			return false;
		if (part < 3) {
			if (j >= n || s[j] != '.')
				return false;
			j++;
		}
		i = j;
	}
	return i == n;
}

static int host_ipv6(const char *s, size_t n, struct sbuf *out, const char **reterr)
{
	char buf[INET6_ADDRSTRLEN], canon[INET6_ADDRSTRLEN];
	struct in6_addr a;

	/* s[0..n) is what is between the brackets. */
	if (n < 2 || n >= sizeof(buf)) {
		*reterr = "IPv6 address between '[' and ']' has a bad length";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]) && !strchr("abcdefABCDEF:.", s[i])) {
			*reterr = "IPv6 address may only contain hex digits, ':' and '.' (no zone)";
			return -EINVAL;
		}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET6, buf, &a) != 1) {
		*reterr = "not a valid IPv6 address";
		return -EINVAL;
	}
	if (!inet_ntop(AF_INET6, &a, canon, sizeof(canon))) {
		*reterr = "not a valid IPv6 address";
		return -EINVAL;
	}
	sbuf_addc(out, '[');
	sbuf_adds(out, canon);
	sbuf_addc(out, ']');
	return 0;
}

static int host_name(const char *s, size_t n, struct sbuf *out, const char **reterr)
{
	char buf[HOST_NAME_LEN + 1];
	struct in_addr a;
	bool all_numeric = true, label_numeric = true;
	size_t label = 0;

	if (n == 0) {
		*reterr = "host is empty";
		return -EINVAL;
	}
	if (n > HOST_NAME_LEN) {
		*reterr = "host name is longer than 253 bytes";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]) && s[i] != '.')
			all_numeric = false;
	if (all_numeric) {
		if (!is_dotted_quad(s, n)) {
			*reterr = "IPv4 address must be a dotted quad of 0..255, no leading zeros";
			return -EINVAL;
		}
		sbuf_add(out, s, n);
		return 0;
	}
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : '.';

		if (c == '.') {
			if (label == 0) {
				*reterr = "host name has an empty label";
				return -EINVAL;
			}
			if (s[i - 1] == '-') {
				*reterr = "host name label must not end with '-'";
				return -EINVAL;
			}
			if (i == n && label_numeric) {
				*reterr = "host name's last label must not be all digits";
				return -EINVAL;
			}
			if (i < n)
				buf[i] = '.';
			label = 0;
			label_numeric = true;
			continue;
		}
		if (!is_alnum(c) && c != '-') {
			*reterr = "host name may only contain a-z 0-9 '-' and '.' (no '_', '%', "
				  "non-ASCII or whitespace)";
			return -EINVAL;
		}
		if (label == 0 && c == '-') {
			*reterr = "host name label must not start with '-'";
			return -EINVAL;
		}
		if (++label > 63) {
			*reterr = "host name label is longer than 63 bytes";
			return -EINVAL;
		}
		if (!is_digit(c))
			label_numeric = false;
		buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	buf[n] = '\0';
	/* The resolver reads "0x7f000001" or "127.1" as addresses: one server, one spelling. */
	if (inet_aton(buf, &a) != 0) {
		*reterr = "host looks like an IPv4 address in a non-canonical form";
		return -EINVAL;
	}
	sbuf_add(out, buf, n);
	return 0;
}

int export_precheck(const char *export, size_t *ret_len, const char **reterr)
{
	size_t n;

	if (!export || !*export) {
		*reterr = "export is empty";
		return -EINVAL;
	}
	n = strnlen(export, VOLMOUNT_EXPORT_MAX + 1);
	if (n > VOLMOUNT_EXPORT_MAX) {
		*reterr = "export is longer than 4096 bytes";
		return -EINVAL;
	}
	if (export[0] == '-') {
		*reterr = "export must not start with '-'";
		return -EINVAL;
	}
	*ret_len = n;
	return 0;
}

int host_normalize(const char *s, size_t n, unsigned flags, struct sbuf *out, const char **reterr)
{
	size_t end;
	int r;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!(flags & HOST_IPV6)) {
			*reterr = "this driver does not accept IPv6 addresses";
			return -EINVAL;
		}
		if (!close) {
			*reterr = "IPv6 address lacks its closing ']'";
			return -EINVAL;
		}
		r = host_ipv6(s + 1, (size_t)(close - s) - 1, out, reterr);
		if (r < 0)
			return r;
		end = (size_t)(close - s) + 1;
	} else {
		const char *colon = (flags & HOST_PORT) ? memchr(s, ':', n) : NULL;

		end = colon ? (size_t)(colon - s) : n;
		r = host_name(s, end, out, reterr);
		if (r < 0)
			return r;
	}
	if (end == n)
		return 0;
	if (!(flags & HOST_PORT) || s[end] != ':') {
		*reterr = "unexpected characters after the host";
		return -EINVAL;
	}
	{
		unsigned long port;

		if (parse_uint(s + end + 1, n - end - 1, 1, 65535, &port) < 0) {
			*reterr = "port must be a decimal 1..65535 without leading zeros";
			return -EINVAL;
		}
		sbuf_add(out, s + end, n - end);
	}
	return 0;
}

int hostlist_normalize(const char *s, size_t n, unsigned flags, size_t max, struct sbuf *out,
		       const char **reterr)
{
	size_t start[HOSTLIST_MAX], len[HOSTLIST_MAX], count = 0;

	if (max > HOSTLIST_MAX)
		max = HOSTLIST_MAX;
	for (size_t i = 0; i <= n;) {
		const char *comma = memchr(s + i, ',', n - i);
		size_t j = comma ? (size_t)(comma - s) : n;
		int r;

		if (count == max) {
			*reterr = "too many hosts";
			return -EINVAL;
		}
		if (count > 0)
			sbuf_addc(out, ',');
		start[count] = out->len;
		r = host_normalize(s + i, j - i, flags, out, reterr);
		if (r < 0)
			return r;
		if (out->err)
			return out->err;
		len[count] = out->len - start[count];
		for (size_t k = 0; k < count; k++)
			if (len[k] == len[count] &&
			    memcmp(out->s + start[k], out->s + start[count], len[k]) == 0) {
				*reterr = "a host is listed twice";
				return -EINVAL;
			}
		count++;
		i = j + 1;
	}
	return 0;
}

static bool is_path_char(char c)
{
	return is_alnum(c) || (c && strchr("._+~-", c));
}

int netpath_normalize(const char *s, size_t n, bool allow_root, struct sbuf *out,
		      const char **reterr)
{
	size_t before = out->len;
	bool any = false;

	if (n == 0 || s[0] != '/') {
		*reterr = "path must be absolute";
		return -EINVAL;
	}
	if (n > VOLMOUNT_EXPORT_MAX) {
		*reterr = "path is longer than 4096 bytes";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (s[i] != '/' && !is_path_char(s[i])) {
			*reterr = "path may only contain A-Z a-z 0-9 and ._+~- between '/'";
			return -EINVAL;
		}
	for (size_t i = 0; i < n;) {
		size_t j;

		while (i < n && s[i] == '/')
			i++;
		for (j = i; j < n && s[j] != '/'; j++)
			;
		if (j == i)
			break;
		if (j - i == 1 && s[i] == '.') {
			i = j;
			continue;
		}
		if (j - i == 2 && s[i] == '.' && s[i + 1] == '.') {
			out->len = before;
			*reterr = "path must not contain '..'";
			return -EINVAL;
		}
		if (j - i > NAME_LEN_MAX) {
			out->len = before;
			*reterr = "path has a component longer than 255 bytes";
			return -EINVAL;
		}
		sbuf_addc(out, '/');
		sbuf_add(out, s + i, j - i);
		any = true;
		i = j;
	}
	if (!any) {
		if (!allow_root) {
			*reterr = "path must not be the root directory";
			return -EINVAL;
		}
		sbuf_addc(out, '/');
	}
	if (out->s && !out->err)
		out->s[out->len] = '\0';
	return 0;
}

const char *hostpath_colon(const char *s)
{
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		return close && close[1] == ':' ? close + 1 : NULL;
	}
	return strchr(s, ':');
}

int hostpath_take(struct sbuf *b, const char *s, const char *colon, unsigned flags,
		  size_t max_hosts, char **ret, const char **reterr)
{
	size_t hl = (size_t)(colon - s);
	int r = max_hosts > 1 ? hostlist_normalize(s, hl, flags, max_hosts, b, reterr) :
				host_normalize(s, hl, flags, b, reterr);

	if (r >= 0) {
		sbuf_addc(b, ':');
		r = netpath_normalize(colon + 1, strlen(colon + 1), true, b, reterr);
	}
	if (r < 0) {
		sbuf_done(b);
		return r;
	}
	return sbuf_take(b, ret);
}

int mountpoint_check(const char *mp, const char **reterr)
{
	size_t n;

	if (!mp || mp[0] != '/') {
		*reterr = "mountpoint must be an absolute path";
		return -EINVAL;
	}
	n = strnlen(mp, VOLMOUNT_EXPORT_MAX + 1);
	if (n > VOLMOUNT_EXPORT_MAX) {
		*reterr = "mountpoint is longer than 4096 bytes";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (mp[i] != '/' && !is_path_char(mp[i])) {
			*reterr = "mountpoint may only contain A-Z a-z 0-9 and ._+~-/";
			return -EINVAL;
		}
		if (mp[i] == '/' && mp[i + 1] == '.' && mp[i + 2] == '.' &&
		    (mp[i + 3] == '/' || mp[i + 3] == '\0')) {
			*reterr = "mountpoint must not contain '..'";
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- options ---- */

/* Refused for every helper driver, whatever the case of the name. */
static const struct {
	const char *name;
	const char *why;
} common_refused[] = {
	{ "suid", "'suid' is refused: nosuid is always on" },
	{ "dev", "'dev' is refused: nodev is always on" },
	{ "exec", "'exec' is refused (give noexec or nothing)" },
	{ "nonosuid", "nosuid is always on" },
	{ "remount", "'remount' is refused: volmount never remounts" },
	{ "bind", "bind options are refused for network drivers" },
	{ "rbind", "bind options are refused for network drivers" },
	{ "move", "move options are refused" },
	{ "helper", "'helper' is refused: volmount runs a fixed helper" },
	{ "uhelper", "'uhelper' is refused: volmount runs a fixed helper" },
	{ "user", "user-mount options are refused" },
	{ "users", "user-mount options are refused" },
	{ "owner", "user-mount options are refused" },
	{ "group", "user-mount options are refused" },
	{ "defaults", "'defaults' is refused: volmount sets the defaults" },
	{ "password", "inline passwords are refused: use a credentials file" },
	{ "passwd", "inline passwords are refused: use a credentials file" },
	{ "pass", "inline passwords are refused: use a credentials file" },
	{ "password2", "inline passwords are refused: use a credentials file" },
	{ "secret", "inline secrets are refused: use a secret file" },
	{ "key", "inline secrets are refused: use a secret file" },
};

/* Case-insensitive compare of ASCII letters that never consults the locale. */
static bool ascii_caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char x = a[i], y = b[i];

		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

static const struct optdef *find_def(const struct optdef *defs, size_t n_defs, const char *key,
				     size_t klen, bool nocase)
{
	for (size_t i = 0; i < n_defs; i++) {
		bool eq = strlen(defs[i].name) == klen &&
			  (nocase ? ascii_caseeq(defs[i].name, key, klen)
				  : strncmp(defs[i].name, key, klen) == 0);

		if (eq)
			return &defs[i];
	}
	return NULL;
}

static bool enum_has(const char *list, const char *v, size_t n)
{
	for (const char *p = list; p && *p;) {
		const char *bar = strchr(p, '|');
		size_t l = bar ? (size_t)(bar - p) : strlen(p);

		if (l == n && strncmp(p, v, n) == 0)
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

static size_t key_len(const char *item)
{
	const char *eq = strchr(item, '=');

	return eq ? (size_t)(eq - item) : strlen(item);
}

/* Check one option and build its canonical "key[=value]" into *ret_item. */
/* The bytes of one option: not empty, capped, printable ASCII without ',' or a leading '-',
 * a name of [A-Za-z0-9_-]. Sets *ret_n (length) and *ret_klen (the name's length). */
static int option_syntax(const char *opt, size_t *ret_n, size_t *ret_klen, const char **reterr)
{
	const char *eq;
	size_t n, klen;

	if (!opt) {
		*reterr = "option is NULL";
		return -EINVAL;
	}
	if (!*opt) {
		*reterr = "option is empty";
		return -EINVAL;
	}
	n = strnlen(opt, VOLMOUNT_OPTION_MAX + 1);
	if (n > VOLMOUNT_OPTION_MAX) {
		*reterr = "option is longer than 1024 bytes";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)opt[i];

		if (c == ',') {
			*reterr = "give one option per --option (',' is not allowed)";
			return -EINVAL;
		}
		if (c <= 0x20 || c >= 0x7f) {
			*reterr = "option contains whitespace, control or non-ASCII bytes";
			return -EINVAL;
		}
	}
	if (opt[0] == '-') {
		*reterr = "option must not start with '-' (helper flags are refused)";
		return -EINVAL;
	}
	eq = strchr(opt, '=');
	klen = eq ? (size_t)(eq - opt) : n;
	for (size_t i = 0; i < klen; i++)
		if (!is_alnum(opt[i]) && opt[i] != '_' && opt[i] != '-') {
			*reterr = "option name may only contain A-Z a-z 0-9 _ -";
			return -EINVAL;
		}
	if (klen == 0) {
		*reterr = "option name is empty";
		return -EINVAL;
	}
	*ret_n = n;
	*ret_klen = klen;
	return 0;
}

/* The definition of the option named by the first @klen bytes of @opt: refused names first,
 * then the allowlist, aliases followed. NULL with *reterr set when there is none. */
static const struct optdef *option_lookup(const struct optdef *defs, size_t n_defs,
					  const char *opt, size_t klen, const char **reterr)
{
	const struct optdef *d;

	/* Refusals first and case-insensitively: helpers such as sshfs match names without
	 * regard to case, so "proxycommand" is as dangerous as "ProxyCommand". */
	d = find_def(defs, n_defs, opt, klen, true);
	if (d && d->type == OPT_REFUSE) {
		*reterr = d->arg;
		return NULL;
	}
	for (size_t i = 0; i < ELEMENTSOF(common_refused); i++)
		if (strlen(common_refused[i].name) == klen &&
		    ascii_caseeq(common_refused[i].name, opt, klen) &&
		    !find_def(defs, n_defs, opt, klen, false)) {
			*reterr = common_refused[i].why;
			return NULL;
		}
	d = find_def(defs, n_defs, opt, klen, false);
	if (!d) {
		*reterr = find_def(defs, n_defs, opt, klen, true)
				  ? "option names are case-sensitive: use the documented spelling"
				  : "option is not in this driver's allowlist";
		return NULL;
	}
	if (d->alias_of) {
		const struct optdef *a =
			find_def(defs, n_defs, d->alias_of, strlen(d->alias_of), false);

		if (!a || a->alias_of || a->type == OPT_REFUSE) {
			*reterr = "internal error: alias of an unknown option";
			return NULL;
		}
		d = a;
	}
	return d;
}

/* Check the value @val (@vlen bytes) of option @d and append "=<normal form>" to @b. */
static int option_value(const struct optdef *d, const char *val, size_t vlen, struct sbuf *b,
			const char **reterr)
{
	switch (d->type) {
	case OPT_FLAG:
	case OPT_REFUSE: /* refused in option_lookup() */
		return 0;
	case OPT_UINT: {
		unsigned long v;

		if (parse_uint(val, vlen, d->min, d->max, &v) < 0) {
			*reterr = "option value must be a decimal number in the allowed range "
				  "(no sign, no leading zeros)";
			return -EINVAL;
		}
		break;
	}
	case OPT_OCTAL: {
		unsigned long v = 0;
		char buf[8];

		if (vlen > 4) {
			*reterr = "mode must be at most 4 octal digits";
			return -EINVAL;
		}
		for (size_t i = 0; i < vlen; i++) {
			if (val[i] < '0' || val[i] > '7') {
				*reterr = "mode must be octal digits";
				return -EINVAL;
			}
			v = v * 8 + (unsigned long)(val[i] - '0');
		}
		if (v > d->max) {
			*reterr = "mode is outside the allowed range (at most 0777)";
			return -EINVAL;
		}
		(void)snprintf(buf, sizeof(buf), "=0%03lo", v);
		sbuf_adds(b, buf);
		return 0;
	}
	case OPT_ENUM:
		if (!enum_has(d->arg, val, vlen)) {
			*reterr = "option value is not one of the allowed words";
			return -EINVAL;
		}
		break;
	case OPT_PATH: {
		size_t start;
		int r;

		sbuf_addc(b, '=');
		start = b->len;
		r = netpath_normalize(val, vlen, false, b, reterr);
		if (r < 0)
			return r;
		if (!b->err && d->arg && strncmp(b->s + start, d->arg, strlen(d->arg)) != 0) {
			*reterr = "option's path is outside the directory this driver allows";
			return -EINVAL;
		}
		return 0;
	}
	case OPT_NAME:
		if (!name_is_valid(val, vlen, d->max, d->arg)) {
			*reterr = "option value is not a valid name (allowed characters, length, "
				  "starting with a letter or digit)";
			return -EINVAL;
		}
		break;
	}
	sbuf_addc(b, '=');
	sbuf_add(b, val, vlen);
	return 0;
}

static int parse_one(const struct optdef *defs, size_t n_defs, const char *opt, char **ret_item,
		     const struct optdef **ret_def, const char **reterr)
{
	const struct optdef *d;
	const char *eq;
	size_t n = 0, klen = 0;
	struct sbuf b = {};
	int r;

	r = option_syntax(opt, &n, &klen, reterr);
	if (r < 0)
		return r;
	d = option_lookup(defs, n_defs, opt, klen, reterr);
	if (!d)
		return -EINVAL;
	eq = opt[klen] == '=' ? opt + klen : NULL;
	if (d->type == OPT_FLAG) {
		if (eq) {
			*reterr = "option takes no value";
			return -EINVAL;
		}
	} else if (!eq || !eq[1]) {
		*reterr = "option needs a value (name=value)";
		return -EINVAL;
	}
	sbuf_adds(&b, d->name);
	r = option_value(d, eq ? eq + 1 : "", eq ? n - klen - 1 : 0, &b, reterr);
	if (r < 0) {
		sbuf_done(&b);
		return r;
	}
	r = sbuf_take(&b, ret_item);
	if (r < 0)
		return r;
	*ret_def = d;
	return 0;
}

static void items_free(struct optset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->items[i].s);
	s->n = 0;
}

/* Add @item (owned) unless an equal one is there; refuse a second value for the key. */
static int items_add(struct optset *s, char *item, const struct optdef *d, const char **reterr)
{
	size_t kl = key_len(item);

	for (size_t i = 0; i < s->n; i++) {
		if (key_len(s->items[i].s) != kl || strncmp(s->items[i].s, item, kl) != 0)
			continue;
		if (strcmp(s->items[i].s, item) == 0) {
			free(item);
			return 0;
		}
		free(item);
		*reterr = "option given twice with different values";
		return -EINVAL;
	}
	if (s->n == OPTSET_MAX) {
		free(item);
		*reterr = "too many options";
		return -EINVAL;
	}
	if (d->flags & (OPT_CRED | OPT_TRUSTED)) {
		const char *v = strchr(item, '=');
		char **slot = d->flags & OPT_CRED ? &s->cred_path : &s->trusted_path;

		free(*slot);
		*slot = strdup(v ? v + 1 : "");
		if (!*slot) {
			free(item);
			return -ENOMEM;
		}
		if (d->flags & OPT_TRUSTED)
			s->trusted_option = d->name;
	}
	s->flags |= d->ms;
	s->items[s->n].s = item;
	s->items[s->n].def = d;
	s->n++;
	return 0;
}

static int cmp_item(const void *a, const void *b)
{
	const struct optitem *x = a, *y = b;

	return strcmp(x->s, y->s);
}

const char *const optset_forced_nosuid_nodev[] = { "nosuid", "nodev", NULL };

int optset_simple(const struct optdef *defs, size_t n_defs, const char *const *forced,
		  const char *const *opts, size_t n, struct driver_opts *ret, const char **reterr)
{
	struct optset s;
	int r;

	r = optset_parse(defs, n_defs, forced, opts, n, &s, reterr);
	if (r < 0)
		return r;
	return optset_finish(&s, ret);
}

int optset_parse(const struct optdef *defs, size_t n_defs, const char *const *forced,
		 const char *const *opts, size_t n, struct optset *ret, const char **reterr)
{
	struct optset s = { .defs = defs, .n_defs = n_defs };
	int r;

	if (n > VOLMOUNT_OPTIONS_MAX) {
		*reterr = "too many options";
		return -EINVAL;
	}
	if (n > 0 && !opts) {
		*reterr = "option is NULL";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct optdef *d = NULL;
		char *item = NULL;

		r = parse_one(defs, n_defs, opts[i], &item, &d, reterr);
		if (r >= 0)
			r = items_add(&s, item, d, reterr);
		if (r < 0) {
			optset_done(&s);
			return r;
		}
	}
	for (size_t i = 0; forced && forced[i]; i++) {
		const struct optdef *d = NULL;
		char *item = NULL;

		r = parse_one(defs, n_defs, forced[i], &item, &d, reterr);
		if (r >= 0)
			r = items_add(&s, item, d, reterr);
		if (r < 0) {
			optset_done(&s);
			return r;
		}
	}
	if (optset_get(&s, "ro") && optset_get(&s, "rw"))
		return optset_refuse(&s, "options 'ro' and 'rw' contradict each other", reterr);
	for (size_t i = 0; i < s.n; i++) {
		const struct optdef *d = s.items[i].def;

		if (d && d->conflicts && optset_get(&s, d->conflicts))
			return optset_refuse(&s, d->why, reterr);
	}
	*ret = s;
	return 0;
}

const char *optset_get(const struct optset *s, const char *key)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i < s->n; i++)
		if (key_len(s->items[i].s) == kl && strncmp(s->items[i].s, key, kl) == 0)
			return s->items[i].s[kl] == '=' ? s->items[i].s + kl + 1 : "";
	return NULL;
}

int optset_default(struct optset *s, const char *key, const char *item, const char **reterr)
{
	const struct optdef *d = NULL;
	char *it = NULL;
	int r;

	if (optset_get(s, key))
		return 0;
	r = parse_one(s->defs, s->n_defs, item, &it, &d, reterr);
	if (r < 0)
		return r;
	return items_add(s, it, d, reterr);
}

int optset_finish(struct optset *s, struct driver_opts *ret)
{
	struct sbuf b = {};
	bool first = true;
	int r;

	qsort(s->items, s->n, sizeof(s->items[0]), cmp_item);
	for (size_t i = 0; i < s->n; i++) {
		if (s->items[i].def->flags & OPT_OMIT)
			continue;
		if (!first)
			sbuf_addc(&b, ',');
		sbuf_adds(&b, s->items[i].s);
		first = false;
	}
	r = sbuf_take(&b, &ret->canonical);
	if (r < 0) {
		optset_done(s);
		return r;
	}
	ret->flags = s->flags;
	ret->cred_path = s->cred_path;
	s->cred_path = NULL;
	ret->trusted_path = s->trusted_path;
	s->trusted_path = NULL;
	ret->trusted_option = s->trusted_option;
	optset_done(s);
	return 0;
}

void optset_done(struct optset *s)
{
	items_free(s);
	free(s->cred_path);
	s->cred_path = NULL;
	free(s->trusted_path);
	s->trusted_path = NULL;
	s->trusted_option = NULL;
	s->flags = 0;
}

int optset_refuse(struct optset *s, const char *why, const char **reterr)
{
	optset_done(s);
	*reterr = why;
	return -EINVAL;
}

int canonical_get(const char *canonical, const char *key, const char **ret_val, size_t *ret_len)
{
	size_t kl = strlen(key);

	for (const char *p = canonical; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t l = comma ? (size_t)(comma - p) : strlen(p);

		if (l >= kl && strncmp(p, key, kl) == 0 && (l == kl || p[kl] == '=')) {
			*ret_val = l == kl ? p + l : p + kl + 1;
			*ret_len = l == kl ? 0 : l - kl - 1;
			return 1;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

bool option_listed(const char *canonical, const char *name)
{
	size_t n = strlen(name);

	for (const char *c = canonical; c && *c;) {
		const char *end = strchr(c, ',');
		size_t len = end ? (size_t)(end - c) : strlen(c);

		if (len == n && strncmp(c, name, n) == 0)
			return true;
		c = end ? end + 1 : NULL;
	}
	return false;
}

/* ---- mount spec ---- */

#define SPEC_ARGV_MAX 16

static bool is_safe_arg(const char *a)
{
	if (!a || !*a)
		return false;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

int spec_new(struct driver_mount_spec *ret, const char **reterr, const char *fstype,
	     const char *source, const char *argv0, ...)
{
	const char *args[SPEC_ARGV_MAX];
	struct driver_mount_spec m = {};
	size_t n = 0;
	va_list ap;
	bool ok;

	va_start(ap, argv0);
	for (const char *a = argv0; a; a = va_arg(ap, const char *)) {
		if (n == SPEC_ARGV_MAX - 1 || !is_safe_arg(a)) {
			va_end(ap);
			*reterr = "internal error: unsafe helper argument";
			return -EINVAL;
		}
		args[n++] = a;
	}
	va_end(ap);
	if (n == 0 || argv0[0] != '/' || !is_safe_arg(fstype) || !is_safe_arg(source)) {
		*reterr = "internal error: unsafe helper argument";
		return -EINVAL;
	}
	m.argv = calloc(n + 1, sizeof(*m.argv));
	m.fstype = strdup(fstype);
	m.source = strdup(source);
	ok = m.argv && m.fstype && m.source;
	for (size_t i = 0; ok && i < n; i++) {
		m.argv[i] = strdup(args[i]);
		ok = m.argv[i] != NULL;
	}
	if (!ok) {
		/* calloc()ed: the entries not reached are NULL. */
		for (size_t i = 0; m.argv && i < n; i++)
			free(m.argv[i]);
		free(m.argv);
		free(m.fstype);
		free(m.source);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

static int spec_check_input(const struct driver *drv, const char *export,
			    const struct driver_opts *opts, const char *mountpoint, const char **reterr)
{
	_cleanup_free_ char *norm = NULL;
	int r;

	r = drv->normalize(export, &norm, reterr);
	if (r < 0)
		return r;
	if (strcmp(norm, export) != 0) {
		*reterr = "export is not in its normal form";
		return -EINVAL;
	}
	if (!opts || !opts->canonical || !is_safe_arg(opts->canonical) ||
	    opts->canonical[0] == '-') {
		*reterr = "options were not validated by this driver";
		return -EINVAL;
	}
	return mountpoint_check(mountpoint, reterr);
}

int driver_mount_spec(const struct driver *drv, const char *export, const struct driver_opts *opts,
		      const char *mountpoint, struct driver_mount_spec *ret, const char **reterr)
{
	int r;

	if (!drv->helper_spec) {
		*reterr = "this driver mounts without a helper";
		return -EINVAL;
	}
	r = spec_check_input(drv, export, opts, mountpoint, reterr);
	if (r < 0)
		return r;
	return drv->helper_spec(export, opts, mountpoint, ret, reterr);
}
