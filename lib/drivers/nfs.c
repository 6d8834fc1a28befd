/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nfs.c - the NFS driver: an export is "host:/abs/path", mounted by /sbin/mount.nfs (type "nfs4"
 * for NFSv4, "nfs" for NFSv3). Pure: no name resolution, no I/O.
 *
 * Grammar: host as in common.h (DNS name folded to lower case, strict IPv4, "[IPv6]" in
 * inet_ntop form; no port: use the port= option), ':' and an absolute path of
 * [A-Za-z0-9._+~-] components, normalized ("host:/" is the NFSv4 pseudo-root).
 *
 * Options: a fixed allowlist with checked values; nfsvers= is an alias of vers=. Without vers=,
 * vers=4.2 is added, so the canonical string always states the protocol version (and what
 * the mount table will show). "hard" and "rw" are the defaults and are left out of the
 * canonical string. Refused: suid, dev, exec, remount, bind, bg (the mount must exist when the
 * helper returns), udp with NFSv4, and everything not listed. Always on: nosuid, nodev.
 *
 * Verified for real by tests/vm (Debian 12's kernel and nfs-utils in qemu): mount.nfs mounts on
 * "/proc/self/fd/3", and the kernel shows type "nfs" (vers=3) or "nfs4" (vers=4, 4.1,
 * 4.2) with exactly the normalized export as the source, IPv6 "[addr]:/path" included.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "common.h"
#include "driver.h"
#include "input-caps.h"
#include "cleanup.h"

static int nfs_normalize(const char *export, char **ret, const char **reterr)
{
	struct sbuf b = {};
	const char *colon;
	size_t n;
	int r;

	r = export_precheck(export, &n, reterr);
	if (r < 0)
		return r;
	colon = hostpath_colon(export);
	if (!colon) {
		*reterr = export[0] == '[' ? "nfs export must be host:/path (IPv6 as [addr]:/path)" :
					     "nfs export must be host:/path";
		return -EINVAL;
	}
	return hostpath_take(&b, export, colon, HOST_IPV6, 1, ret, reterr);
}

static const struct optdef nfs_opts[] = {
	OD_FLAG("ro", MS_RDONLY),
	OD_DEFAULT("rw"),
	OD_FLAG("nosuid", MS_NOSUID),
	OD_FLAG("nodev", MS_NODEV),
	OD_FLAG("noexec", MS_NOEXEC),
	OD_FLAG("noatime", 0),
	OD_DEFAULT("hard"),
	OD_FLAG_NOT("soft", "hard", "options 'hard' and 'soft' contradict each other"),
	OD_FLAG("noac", 0),
	OD_FLAG("nolock", 0),
	OD_ENUM("vers", "3|4|4.0|4.1|4.2"),
	OD_ALIAS("nfsvers", "vers"),
	OD_ENUM("proto", "tcp|udp|rdma"),
	OD_ENUM("sec", "sys|krb5|krb5i|krb5p"),
	OD_ENUM("lookupcache", "all|none|pos"),
	OD_UINT("port", 1, 65535),
	OD_UINT("timeo", 1, 6000),
	OD_UINT("retrans", 0, 10),
	OD_UINT("rsize", 1024, 1048576),
	OD_UINT("wsize", 1024, 1048576),
	OD_UINT("actimeo", 0, 3600),
	OD_UINT("nconnect", 1, 16),
	OD_REFUSE("bg", "'bg' is refused: the mount must exist when the helper returns"),
	OD_REFUSE("fg", "'fg' is the only mode and is implied"),
	OD_REFUSE("addr", "the server address comes from the export"),
	OD_REFUSE("clientaddr", "clientaddr is refused"),
	OD_REFUSE("mountaddr", "the server address comes from the export"),
	OD_REFUSE("fsc", "fscache is refused"),
	OD_REFUSE_SELINUX,
};

static int nfs_options(const char *const *opts, size_t n, struct driver_opts *ret,
		       const char **reterr)
{
	const char *vers, *proto;
	struct optset s;
	int r;

	r = optset_parse(nfs_opts, ELEMENTSOF(nfs_opts), optset_forced_nosuid_nodev, opts, n, &s, reterr);
	if (r < 0)
		return r;
	r = optset_default(&s, "vers", "vers=4.2", reterr);
	if (r < 0) {
		optset_done(&s);
		return r;
	}
	vers = optset_get(&s, "vers");
	proto = optset_get(&s, "proto");
	if (vers && vers[0] == '4' && proto && strcmp(proto, "udp") == 0)
		return optset_refuse(&s, "NFSv4 does not run over udp", reterr);
	return optset_finish(&s, ret);
}

static int nfs_mount_spec(const char *export, const struct driver_opts *opts,
			  const char *mountpoint, struct driver_mount_spec *ret,
			  const char **reterr)
{
	const char *vers = NULL;
	size_t vl = 0;
	if (canonical_get(opts->canonical, "vers", &vers, &vl) != 1 || vl == 0) {
		*reterr = "options lack vers= (not validated by this driver)";
		return -EINVAL;
	}
	/* mount.nfs takes the spec and the directory first, then -o. */
	return spec_new(ret, reterr, vers[0] == '3' ? "nfs" : "nfs4", export, "/sbin/mount.nfs",
			export, mountpoint, "-o", opts->canonical, NULL);
}

const struct driver driver_nfs = {
	.name = "nfs",
	.kind = DRIVER_KIND_HELPER,
	.target = DRIVER_TARGET_PROC_FD,
	.normalize = nfs_normalize,
	.options = nfs_options,
	.helper_spec = nfs_mount_spec,
};
