/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cephfs.c - the CephFS driver: an export is "mon[,mon...]:/path", mounted by /sbin/mount.ceph
 * (kernel client, type ceph). Pure: no name resolution, no I/O, never sees a key.
 *
 * Grammar: 1..16 distinct monitors, each a host as in common.h (DNS name folded to lower case,
 * strict IPv4 or "[IPv6]") with an optional ":port" (1..65535); then ":" and an absolute path
 * of [A-Za-z0-9._+~-] components, normalized ("/" is the file system's root). The monitor
 * list ends at the first ":/". Monitors keep their order.
 *
 * Keys only through secretfile=/abs/file (the engine checks it); secret= is refused.
 * fs= is an alias of mds_namespace= (older kernels know only the latter). Always on: nosuid,
 * nodev.
 *
 * XXX: mount.ceph resolves monitor names to addresses before calling mount(2); whether the
 * mount table then shows the names or the addresses as the source is unverified (no Ceph
 * here). With IP-literal monitors the source is the export as given.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "common.h"
#include "driver.h"
#include "input-caps.h"
#include "cleanup.h"

#define CEPH_NAME_MAX 64

static int cephfs_normalize(const char *export, char **ret, const char **reterr)
{
	const char *sep;
	struct sbuf b = {};
	size_t n;
	int r;

	r = export_precheck(export, &n, reterr);
	if (r < 0)
		return r;
	sep = strstr(export, ":/");
	if (!sep || sep == export) {
		*reterr = "cephfs export must be mon[,mon...]:/path";
		return -EINVAL;
	}
	return hostpath_take(&b, export, sep, HOST_IPV6 | HOST_PORT, HOSTLIST_MAX, ret, reterr);
}

static const struct optdef cephfs_opts[] = {
	OD_FLAG("ro", MS_RDONLY),
	OD_DEFAULT("rw"),
	OD_FLAG("nosuid", MS_NOSUID),
	OD_FLAG("nodev", MS_NODEV),
	OD_FLAG("noexec", MS_NOEXEC),
	OD_FLAG("noatime", 0),
	OD_FLAG("rbytes", 0),
	OD_FLAG_NOT("norbytes", "rbytes", "options 'rbytes' and 'norbytes' contradict each other"),
	OD_NAME("name", "_.-", CEPH_NAME_MAX),
	OD_PATH("secretfile", OPT_CRED, NULL),
	OD_NAME("mds_namespace", "_.-", CEPH_NAME_MAX),
	OD_ALIAS("fs", "mds_namespace"),
	OD_REFUSE("mon_addr", "monitors come from the export"),
	OD_REFUSE("conf", "ceph.conf paths are refused"),
	OD_REFUSE("fsid", "fsid is refused"),
};

static int cephfs_options(const char *const *opts, size_t n, struct driver_opts *ret,
			  const char **reterr)
{
	return optset_simple(cephfs_opts, ELEMENTSOF(cephfs_opts), optset_forced_nosuid_nodev, opts, n,
			     ret, reterr);
}

static int cephfs_mount_spec(const char *export, const struct driver_opts *opts,
			     const char *mountpoint, struct driver_mount_spec *ret,
			     const char **reterr)
{
	/* mount.ceph takes the device and the directory first, then -o. */
	return spec_new(ret, reterr, "ceph", export, "/sbin/mount.ceph", export, mountpoint, "-o",
			opts->canonical, NULL);
}

const struct driver driver_cephfs = {
	.name = "cephfs",
	.kind = DRIVER_KIND_HELPER,
	.target = DRIVER_TARGET_PROC_FD,
	.normalize = cephfs_normalize,
	.options = cephfs_options,
	.helper_spec = cephfs_mount_spec,
};
