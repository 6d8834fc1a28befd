/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * quobyte.c - the Quobyte driver: an export is "[quobyte://]host[:port]/volume", normalized
 * without the scheme, mounted by /usr/bin/mount.quobyte (FUSE). Pure: no I/O.
 *
 * Grammar: an optional "quobyte://" (lower case), a host as in common.h (DNS name folded to
 * lower case or strict IPv4; no IPv6), an optional ":port" (1..65535, kept only if given),
 * '/' and one volume name of [A-Za-z0-9_.-] (1..128 bytes, starting with a letter or digit);
 * one trailing '/' is dropped. Subdirectories are refused.
 *
 * Options: a small allowlist (ro, rw, noexec, allow_other; nosuid and nodev always on).
 *
 * XXX: unverified against a real Quobyte client (none on these machines): the argv form
 * ("-o opts -- registry/volume mountpoint"), the mount type "fuse.quobyte" and the source
 * "quobyte@host[:port]/volume" follow the client's documentation as remembered, not a test.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "common.h"
#include "driver.h"
#include "input-caps.h"
#include "cleanup.h"

#define QUOBYTE_SCHEME	   "quobyte://"
#define QUOBYTE_VOLUME_MAX 128

static int quobyte_normalize(const char *export, char **ret, const char **reterr)
{
	const char *host, *slash, *vol;
	struct sbuf b = {};
	size_t n, vl;
	int r;

	r = export_precheck(export, &n, reterr);
	if (r < 0)
		return r;
	host = export;
	if (strncmp(host, QUOBYTE_SCHEME, strlen(QUOBYTE_SCHEME)) == 0)
		host += strlen(QUOBYTE_SCHEME);
	if (host[0] == '-') {
		*reterr = "export must not start with '-'";
		return -EINVAL;
	}
	slash = strchr(host, '/');
	if (!slash) {
		*reterr = "quobyte export must be [quobyte://]host[:port]/volume";
		return -EINVAL;
	}
	r = host_normalize(host, (size_t)(slash - host), HOST_PORT, &b, reterr);
	if (r < 0) {
		sbuf_done(&b);
		return r;
	}
	vol = slash + 1;
	vl = strlen(vol);
	if (vl > 0 && vol[vl - 1] == '/')
		vl--;
	if (memchr(vol, '/', vl)) {
		sbuf_done(&b);
		*reterr = "quobyte export must name a volume only (subdirectories are refused)";
		return -EINVAL;
	}
	if (!name_is_valid(vol, vl, QUOBYTE_VOLUME_MAX, "_.-")) {
		sbuf_done(&b);
		*reterr = "quobyte volume name must be 1..128 bytes of A-Z a-z 0-9 _ . - starting "
			  "with a letter or digit";
		return -EINVAL;
	}
	sbuf_addc(&b, '/');
	sbuf_add(&b, vol, vl);
	return sbuf_take(&b, ret);
}

static const struct optdef quobyte_opts[] = {
	OD_FLAG("ro", MS_RDONLY),     OD_DEFAULT("rw"),
	OD_FLAG("nosuid", MS_NOSUID), OD_FLAG("nodev", MS_NODEV),
	OD_FLAG("noexec", MS_NOEXEC), OD_FLAG("allow_other", 0),
};

static int quobyte_options(const char *const *opts, size_t n, struct driver_opts *ret,
			   const char **reterr)
{
	return optset_simple(quobyte_opts, ELEMENTSOF(quobyte_opts), optset_forced_nosuid_nodev, opts, n,
			     ret, reterr);
}

static int quobyte_mount_spec(const char *export, const struct driver_opts *opts,
			      const char *mountpoint, struct driver_mount_spec *ret,
			      const char **reterr)
{
	_cleanup_free_ char *source = NULL;
	struct sbuf b = {};
	int r;

	sbuf_adds(&b, "quobyte@");
	sbuf_adds(&b, export);
	r = sbuf_take(&b, &source);
	if (r < 0)
		return r;
	return spec_new(ret, reterr, "fuse.quobyte", source, "/usr/bin/mount.quobyte", "-o",
			opts->canonical, "--", export, mountpoint, NULL);
}

const struct driver driver_quobyte = {
	.name = "quobyte",
	.kind = DRIVER_KIND_HELPER,
	.target = DRIVER_TARGET_NAME,
	.normalize = quobyte_normalize,
	.options = quobyte_options,
	.helper_spec = quobyte_mount_spec,
};
