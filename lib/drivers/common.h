/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * common.h - what the helper drivers (sshfs, glusterfs, nfs, cifs, quobyte, cephfs) share: a
 * bounded string builder, the host and path grammars, strict number parsing, a table-driven
 * option allowlist that produces the canonical option string, and the mount spec builder.
 * Everything here is pure (no I/O) and refuses rather than repairs: a refusal always comes
 * with a static reason in *reterr.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "driver.h"
#include "input-caps.h"

/* ---- bounded string builder ---- */

#define SBUF_MAX 65536 /* no driver output is ever longer (CWE-400) */

struct sbuf {
	char *s;
	size_t len, cap;
	int err; /* sticky: -ENOMEM or -E2BIG once an append failed */
};

void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_addc(struct sbuf *b, char c);
/* Hand the NUL-terminated result to *ret (caller frees), or return the sticky error. An empty
 * builder gives "". The builder is empty afterwards either way. */
int sbuf_take(struct sbuf *b, char **ret);
void sbuf_done(struct sbuf *b);

/* ---- grammars ---- */

#define HOST_IPV6 (1u << 0) /* "[IPv6]" is accepted (normalized by inet_ntop) */
#define HOST_PORT (1u << 1) /* ":port" (1..65535, no leading zero) may follow the host */

#define HOST_NAME_LEN 253
#define NAME_LEN_MAX  255

/*
 * Normalize the host (and, with HOST_PORT, the optional port) in s[0..n) and append it to @out.
 * A host is a DNS name (labels of [a-z0-9-], 1..63 bytes, not starting or ending with '-',
 * 253 bytes at most, upper case folded, last label not all digits), a strict IPv4 dotted quad
 * (0..255, no leading zeros) or, with HOST_IPV6, "[IPv6]" without a zone. Names that
 * inet_aton() would read as an address ("0x7f.1", "127.1") are refused, so one server has one
 * spelling.
 */
/* What every driver's export must pass first: not empty, at most VOLMOUNT_EXPORT_MAX bytes
 * (*ret_len), and not starting with '-' (nothing a helper could take for an option).
 * -EINVAL with a static *reterr otherwise. */
int export_precheck(const char *export, size_t *ret_len, const char **reterr);

int host_normalize(const char *s, size_t n, unsigned flags, struct sbuf *out, const char **reterr);

#define HOSTLIST_MAX 16

/* A ','-separated list of 1..@max (at most HOSTLIST_MAX) hosts in s[0..n), each as in
 * host_normalize(), in the order given; a host listed twice is refused. */
int hostlist_normalize(const char *s, size_t n, unsigned flags, size_t max, struct sbuf *out,
		       const char **reterr);

/*
 * Normalize the absolute path s[0..n) and append it to @out: components of [A-Za-z0-9._+~-]
 * (1..255 bytes), "//", "." components and a trailing '/' dropped, ".." refused. The root
 * directory "/" is accepted only with @allow_root.
 */
int netpath_normalize(const char *s, size_t n, bool allow_root, struct sbuf *out,
		      const char **reterr);

/*
 * The "host:/path" exports (nfs, sshfs, cephfs). hostpath_colon(): the ':' that ends the host
 * part of @s, which may be an IPv6 literal in brackets ("[addr]:/path"); NULL if there is none.
 * hostpath_take(): append to @b the host part s[0..colon) normalized (one host, or with
 * @max_hosts > 1 a ','-separated list of up to that many), ':', and the absolute path after
 * @colon normalized ("/" allowed); then hand @b's string to *ret. @b is released either way.
 */
const char *hostpath_colon(const char *s);
int hostpath_take(struct sbuf *b, const char *s, const char *colon, unsigned flags,
		  size_t max_hosts, char **ret, const char **reterr);

/* s[0..n) is 1..@max bytes of [A-Za-z0-9] and the characters in @extra, and starts with an
 * alphanumeric byte (so never with '-' or '.'). */
bool name_is_valid(const char *s, size_t n, size_t max, const char *extra);

/* Strict decimal: "0" or [1-9][0-9]*, within [min, max]. */
int parse_uint(const char *s, size_t n, unsigned long min, unsigned long max, unsigned long *ret);

/*
 * A mountpoint handed to a helper: absolute, at most 4096 bytes, only [A-Za-z0-9._+~/-], no
 * ".." component. The engine always passes <base>/<driver>/<hash>; this is defence in depth,
 * since some helpers (mount.glusterfs) word-split and glob their arguments.
 */
int mountpoint_check(const char *mp, const char **reterr);

/* ---- options ---- */

enum opt_type {
	OPT_FLAG,   /* no value */
	OPT_UINT,   /* decimal in [min, max] */
	OPT_OCTAL,  /* octal mode in [0, max], canonical "0NNN" */
	OPT_ENUM,   /* one of the '|'-separated words in arg */
	OPT_PATH,   /* absolute path (netpath grammar, not "/"), normalized; arg: required prefix */
	OPT_NAME,   /* name_is_valid() with extra characters arg, at most max bytes */
	OPT_REFUSE, /* always refused; arg is the reason */
};

#define OPT_CRED (1u << 0) /* the value is a credentials file path: also goes to cred_path */
#define OPT_OMIT (1u << 1) /* accepted but it is the default: not in the canonical string */
/* The value is a file the helper trusts (known hosts): also goes to trusted_path, which the
 * engine checks like a credentials file except that others may read it. */
#define OPT_TRUSTED (1u << 2)

struct optdef {
	const char *name;
	enum opt_type type;
	unsigned flags;
	unsigned long min, max;
	const char *arg;
	const char *alias_of; /* canonical name when this one is an alias */
	unsigned long ms;     /* MS_* flag the option stands for */
	/* An option that must not be given with this one; optset_parse() refuses the pair with
	 * @why (static). */
	const char *conflicts;
	const char *why;
};

/* Table rows (designated initializers, so new fields never shift old ones). */
/* clang-format off */
#define OD_FLAG(n, msflag)   { .name = (n), .type = OPT_FLAG, .ms = (msflag) }
#define OD_DEFAULT(n)        { .name = (n), .type = OPT_FLAG, .flags = OPT_OMIT }
#define OD_UINT(n, lo, hi)   { .name = (n), .type = OPT_UINT, .min = (lo), .max = (hi) }
#define OD_OCTAL(n, hi)      { .name = (n), .type = OPT_OCTAL, .max = (hi) }
#define OD_ENUM(n, words)    { .name = (n), .type = OPT_ENUM, .arg = (words) }
#define OD_PATH(n, f, pfx)   { .name = (n), .type = OPT_PATH, .flags = (f), .arg = (pfx) }
#define OD_NAME(n, extra, m) { .name = (n), .type = OPT_NAME, .arg = (extra), .max = (m) }
#define OD_ALIAS(n, of)      { .name = (n), .alias_of = (of) }
#define OD_REFUSE(n, why)    { .name = (n), .type = OPT_REFUSE, .arg = (why) }
/* A flag that contradicts the option @other (listed in the table on its own). */
#define OD_FLAG_NOT(n, other, w) { .name = (n), .type = OPT_FLAG, .conflicts = (other), .why = (w) }
/* clang-format on */

#define OPTSET_MAX (VOLMOUNT_OPTIONS_MAX + 8)

struct optitem {
	char *s; /* "key" or "key=value" */
	const struct optdef *def;
};

struct optset {
	const struct optdef *defs;
	size_t n_defs;
	struct optitem items[OPTSET_MAX]; /* unique keys; sorted (strcmp) by optset_finish() */
	size_t n;
	char *cred_path;
	char *trusted_path;
	const char *trusted_option; /* static: the optdef's name */
	unsigned long flags; /* MS_* */
};

/*
 * Check @opts against the allowlist @defs (n_defs entries) plus the refusals every driver
 * shares (suid, dev, exec, remount, bind, inline passwords and secrets, ...), add @forced
 * (NULL-terminated "key[=value]" strings, each also in @defs), sort and de-duplicate. Refuses
 * NULL, empty, overlong options, ',', whitespace, control and non-ASCII bytes, a leading '-',
 * unknown names (names are case-sensitive), bad values, one key with two values, "ro"
 * with "rw", and an option given with the one its row names in .conflicts. On success fills *ret (optset_done() frees it); on failure *ret is untouched.
 */
/* The rows that refuse SELinux context options (context=, fscontext=, defcontext=,
 * rootcontext=), for the option tables of the drivers whose helpers take them. */
#define OD_REFUSE_SELINUX                                          \
	OD_REFUSE("context", "SELinux contexts are refused"),      \
	OD_REFUSE("fscontext", "SELinux contexts are refused"),    \
	OD_REFUSE("defcontext", "SELinux contexts are refused"),   \
	OD_REFUSE("rootcontext", "SELinux contexts are refused")

/* What every network driver forces on: "nosuid" and "nodev" (NULL-terminated). */
extern const char *const optset_forced_nosuid_nodev[];

/* optset_parse() then optset_finish(): the options function of a driver with no rule beyond
 * its table. */
int optset_simple(const struct optdef *defs, size_t n_defs, const char *const *forced,
		  const char *const *opts, size_t n, struct driver_opts *ret, const char **reterr);

int optset_parse(const struct optdef *defs, size_t n_defs, const char *const *forced,
		 const char *const *opts, size_t n, struct optset *ret, const char **reterr);
/* The value of @key: "" for a flag, NULL if absent. */
const char *optset_get(const struct optset *s, const char *key);
/* Add @item ("key[=value]", valid for the driver) unless @key is already set. */
int optset_default(struct optset *s, const char *key, const char *item, const char **reterr);
/* Move the result into *ret (canonical string, flags, cred_path, trusted_path); @s is empty
 * afterwards. */
int optset_finish(struct optset *s, struct driver_opts *ret);
/* Does the canonical option list @canonical ("a,b=c,d") hold the flag @name (no value)? */
bool option_listed(const char *canonical, const char *name);
void optset_done(struct optset *s);
/* Give up on @s: release it, set *reterr to @why (static) and return -EINVAL. */
int optset_refuse(struct optset *s, const char *why, const char **reterr);

/* The value of @key in a canonical "a,b=c" string: returns 1 and sets *ret_val and *ret_len
 * (0 for a flag) if present, else returns 0. */
int canonical_get(const char *canonical, const char *key, const char **ret_val, size_t *ret_len);

/* ---- mount spec ---- */

/*
 * Fill *ret with copies of @fstype, @source and the NULL-terminated argv that follows @argv0.
 * Refuses (-EINVAL) any element that is empty or holds whitespace, control or non-ASCII
 * bytes. *ret is untouched on failure.
 */
int spec_new(struct driver_mount_spec *ret, const char **reterr, const char *fstype,
	     const char *source, const char *argv0, ...) __attribute__((sentinel));

/* driver_mount_spec() (driver.h) is defined in common.c, beside spec_new(). */
