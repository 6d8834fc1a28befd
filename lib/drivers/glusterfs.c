/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * glusterfs.c - the GlusterFS driver: an export is "host[,host...]:/volume", mounted by
 * /sbin/mount.glusterfs (FUSE, type fuse.glusterfs). Pure: no name resolution, no I/O.
 *
 * Grammar: 1..16 distinct hosts (DNS names folded to lower case or strict IPv4; no IPv6 and no
 * port: mount.glusterfs cannot parse them reliably), ':' and '/' and a volume name of
 * [A-Za-z0-9_-] (1..128 bytes, starting with a letter or digit), optionally followed by a
 * subdirectory of [A-Za-z0-9._+~-] components (not under a volume named "snaps", which
 * mount.glusterfs reads as a snapshot). "//", "." and a trailing '/' are normalized away.
 * The first host serves the volfile; the others become backup-volfile-servers=h2:h3 in the
 * helper's options, derived here and never accepted from the caller.
 *
 * Mount table (checked with glusterfs 10.3): type fuse.glusterfs, source "<first host>:/vol"
 * or "<first host>:/vol/sub/dir". transport= is refused because it changes the source to
 * "<host>:/vol.tcp".
 *
 * mount.glusterfs is a shell script that word-splits and globs its arguments and option
 * values: every string this driver passes is free of whitespace and glob characters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "common.h"
#include "driver.h"
#include "input-caps.h"
#include "cleanup.h"

#define GLUSTER_VOLUME_MAX 128

/* Split a (normalized) export at its ':' into hosts and "/volume". */
static int split_export(const char *export, size_t *ret_hosts_len, const char **ret_path,
			const char **reterr)
{
	const char *colon = strchr(export, ':');

	if (!colon || colon == export) {
		*reterr = "glusterfs export must be host[,host...]:/volume";
		return -EINVAL;
	}
	*ret_hosts_len = (size_t)(colon - export);
	*ret_path = colon + 1;
	return 0;
}

static int glusterfs_normalize(const char *export, char **ret, const char **reterr)
{
	struct sbuf b = {};
	const char *path, *slash;
	size_t n, hl, vstart, vlen;
	int r;

	r = export_precheck(export, &n, reterr);
	if (r < 0)
		return r;
	r = split_export(export, &hl, &path, reterr);
	if (r < 0)
		return r;
	r = hostlist_normalize(export, hl, 0, HOSTLIST_MAX, &b, reterr);
	if (r < 0) {
		sbuf_done(&b);
		return r;
	}
	sbuf_addc(&b, ':');
	vstart = b.len;
	r = netpath_normalize(path, strlen(path), false, &b, reterr);
	if (r < 0) {
		sbuf_done(&b);
		return r;
	}
	if (b.err) {
		r = b.err;
		sbuf_done(&b);
		return r;
	}
	/* "/volume" or "/volume/sub/dir". */
	slash = strchr(b.s + vstart + 1, '/');
	vlen = slash ? (size_t)(slash - b.s) - vstart - 1 : b.len - vstart - 1;
	if (!name_is_valid(b.s + vstart + 1, vlen, GLUSTER_VOLUME_MAX, "_-")) {
		sbuf_done(&b);
		*reterr = "glusterfs volume name must be 1..128 bytes of A-Z a-z 0-9 _ - starting "
			  "with a letter or digit";
		return -EINVAL;
	}
	/* mount.glusterfs reads "snaps/..." as a snapshot, not as a subdirectory. */
	if (slash && vlen == 5 && strncmp(b.s + vstart + 1, "snaps", 5) == 0) {
		sbuf_done(&b);
		*reterr = "a subdirectory of a volume named 'snaps' is refused (snapshot syntax)";
		return -EINVAL;
	}
	return sbuf_take(&b, ret);
}

static const struct optdef glusterfs_opts[] = {
	OD_FLAG("ro", MS_RDONLY),
	OD_DEFAULT("rw"),
	OD_FLAG("nosuid", MS_NOSUID),
	OD_FLAG("nodev", MS_NODEV),
	OD_FLAG("noexec", MS_NOEXEC),
	OD_FLAG("noatime", 0),
	OD_FLAG("acl", 0),
	OD_ENUM("log-level", "CRITICAL|ERROR|WARNING|INFO|DEBUG|TRACE|NONE"),
	OD_PATH("log-file", 0, "/var/log/glusterfs/"),
	OD_ENUM("direct-io-mode", "enable|disable"),
	OD_REFUSE("transport", "transport is refused: tcp is the default (and transport= "
			       "changes the source the mount table shows)"),
	OD_REFUSE("backup-volfile-servers",
		  "backup servers come from the export: list them as host1,host2:/volume"),
	OD_REFUSE("backupvolfile-server",
		  "backup servers come from the export: list them as host1,host2:/volume"),
	OD_REFUSE("xlator-option", "translator options are refused"),
	OD_REFUSE("fuse-mountopts", "raw FUSE mount options are refused"),
	OD_REFUSE("subdir-mount", "give the subdirectory in the export: host:/volume/dir"),
	OD_REFUSE("volfile-server", "servers come from the export"),
	OD_REFUSE("volume-id", "the volume comes from the export"),
	OD_REFUSE("volume-name", "the volume comes from the export"),
	OD_REFUSE("process-name", "process-name is refused"),
	OD_REFUSE("no-root-squash", "root squashing cannot be switched off"),
	OD_REFUSE("root-squash", "root squashing cannot be switched off"),
	OD_REFUSE_SELINUX,
};

static int glusterfs_options(const char *const *opts, size_t n, struct driver_opts *ret,
			     const char **reterr)
{
	return optset_simple(glusterfs_opts, ELEMENTSOF(glusterfs_opts), optset_forced_nosuid_nodev, opts, n,
			     ret, reterr);
}

static int glusterfs_mount_spec(const char *export, const struct driver_opts *opts,
				const char *mountpoint, struct driver_mount_spec *ret,
				const char **reterr)
{
	_cleanup_free_ char *source = NULL, *o = NULL;
	struct sbuf sb = {}, ob = {};
	const char *path, *comma;
	size_t hl;
	int r;

	r = split_export(export, &hl, &path, reterr);
	if (r < 0)
		return r;
	comma = memchr(export, ',', hl);
	/* source: "<first host>:/<volume>[/<dir>]", what glusterfs names the FUSE mount */
	sbuf_add(&sb, export, comma ? (size_t)(comma - export) : hl);
	sbuf_addc(&sb, ':');
	sbuf_adds(&sb, path);
	r = sbuf_take(&sb, &source);
	if (r < 0)
		return r;
	if (comma) {
		sbuf_adds(&ob, "backup-volfile-servers=");
		for (const char *p = comma + 1; p < export + hl; p++)
			sbuf_addc(&ob, *p == ',' ? ':' : *p);
		sbuf_addc(&ob, ',');
	}
	sbuf_adds(&ob, opts->canonical);
	r = sbuf_take(&ob, &o);
	if (r < 0)
		return r;
	/* mount.glusterfs takes the two positional arguments first, then -o. */
	return spec_new(ret, reterr, "fuse.glusterfs", source, "/sbin/mount.glusterfs", source,
			mountpoint, "-o", o, NULL);
}

const struct driver driver_glusterfs = {
	.name = "glusterfs",
	.kind = DRIVER_KIND_HELPER,
	.target = DRIVER_TARGET_NAME,
	.normalize = glusterfs_normalize,
	.options = glusterfs_options,
	.helper_spec = glusterfs_mount_spec,
};
