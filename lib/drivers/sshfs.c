/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sshfs.c - the sshfs driver: an export is "[user@]host:/abs/path", mounted by /usr/bin/sshfs
 * (FUSE, type fuse.sshfs). Pure: it never runs ssh, resolves a name or reads the identity
 * file; the engine checks the identity file (cred_path) and the known-hosts file
 * (trusted_path), and the executor runs the helper.
 *
 * Grammar: user [a-z_][a-z0-9_.-]* (at most 32 bytes, kept as is); host as in common.h (DNS
 * name folded to lower case, strict IPv4, or "[IPv6]" in inet_ntop form); ':' and an absolute
 * path of [A-Za-z0-9._+~-] components, normalized ("/" itself is allowed: the server's root).
 *
 * sshfs hands every unknown "-o name=value" to ssh(1), matching names without regard to case,
 * so the allowlist below is the whole attack surface: anything else, in any case, is refused,
 * and ssh options that run commands (ProxyCommand, LocalCommand, KnownHostsCommand, ...) or
 * replace ssh (ssh_command, directport, passive/slave) are refused with their own reason.
 * Always on: nosuid, nodev, and BatchMode=yes (ssh never prompts; no password can be typed).
 *
 * Host keys are never written by a mount. ssh writes a known-hosts file in four cases: it
 * adds an unknown host's key (StrictHostKeyChecking=no or accept-new), it adds the server's
 * address next to a known name (CheckHostIP=yes), and it replaces keys the server rotates
 * (UpdateHostKeys). With UserKnownHostsFile naming any path, the first made root's ssh create
 * or append to any file (/etc/nologin, say). So StrictHostKeyChecking=no and accept-new are
 * refused with their reason (they are also trust on first use: a root mount would believe
 * whatever answered first), and "StrictHostKeyChecking=yes,CheckHostIP=no,UpdateHostKeys=no"
 * is always passed, whatever /etc/ssh/ssh_config says (command-line options come first for
 * ssh). Refusing rather than quietly forcing "yes" keeps a request from meaning something
 * other than it says. The known-hosts file itself is a trusted file (trusted_path): the
 * engine checks on its fd that it is a regular file owned by root and writable by nobody
 * else, since whoever can write it can make ssh trust their server.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "common.h"
#include "driver.h"
#include "input-caps.h"
#include "cleanup.h"

#define SSHFS_USER_MAX 32
#define ID_MAX	       4294967294UL

static bool is_user_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || c == '_' ||
	       (!first && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
}

static int sshfs_normalize(const char *export, char **ret, const char **reterr)
{
	const char *at, *host, *colon;
	struct sbuf b = {};
	size_t n;
	int r;

	r = export_precheck(export, &n, reterr);
	if (r < 0)
		return r;
	/* A user is what precedes an '@' that comes before the first ':' (an IPv6 address has
	 * ':' but never '@'). */
	at = strchr(export, '@');
	colon = strchr(export, ':');
	host = export;
	if (at && (!colon || at < colon)) {
		size_t ul = (size_t)(at - export);

		if (ul == 0 || ul > SSHFS_USER_MAX) {
			*reterr = "user must be 1..32 bytes";
			return -EINVAL;
		}
		for (size_t i = 0; i < ul; i++)
			if (!is_user_char(export[i], i == 0)) {
				*reterr = "user must match [a-z_][a-z0-9_.-]*";
				return -EINVAL;
			}
		sbuf_add(&b, export, ul + 1);
		host = at + 1;
	}
	colon = hostpath_colon(host);
	if (!colon) {
		sbuf_done(&b);
		*reterr = host[0] == '[' ?
				  "sshfs export must be [user@]host:/path (IPv6 as [addr]:/path)" :
				  "sshfs export must be [user@]host:/path";
		return -EINVAL;
	}
	return hostpath_take(&b, host, colon, HOST_IPV6, 1, ret, reterr);
}

#define CMD_REFUSED "options that run commands or replace ssh are refused"

static const struct optdef sshfs_opts[] = {
	OD_FLAG("ro", MS_RDONLY),
	OD_DEFAULT("rw"),
	OD_FLAG("nosuid", MS_NOSUID),
	OD_FLAG("nodev", MS_NODEV),
	OD_FLAG("noexec", MS_NOEXEC),
	OD_FLAG("reconnect", 0),
	OD_FLAG("allow_other", 0),
	OD_FLAG("default_permissions", 0),
	OD_FLAG("follow_symlinks", 0),
	OD_UINT("port", 1, 65535),
	OD_UINT("uid", 0, ID_MAX),
	OD_UINT("gid", 0, ID_MAX),
	OD_UINT("ServerAliveInterval", 1, 3600),
	OD_UINT("ServerAliveCountMax", 1, 100),
	OD_ENUM("idmap", "none|user"),
	OD_ENUM("compression", "yes|no"),
	OD_ENUM("dir_cache", "yes|no"),
	OD_ENUM("StrictHostKeyChecking", "yes|no|accept-new"), /* only "yes" passes: see above */
	OD_ENUM("CheckHostIP", "no"),
	OD_ENUM("UpdateHostKeys", "no"),
	OD_ENUM("BatchMode", "yes"),
	OD_ENUM("Ciphers", "chacha20-poly1305@openssh.com|aes256-gcm@openssh.com|"
			   "aes128-gcm@openssh.com|aes256-ctr|aes192-ctr|aes128-ctr"),
	OD_PATH("IdentityFile", OPT_CRED, NULL),
	OD_PATH("UserKnownHostsFile", OPT_TRUSTED, NULL),
	/* Refused by name, in any case. */
	OD_REFUSE("ssh_command", CMD_REFUSED),
	OD_REFUSE("sshfs_command", CMD_REFUSED),
	OD_REFUSE("sftp_server", CMD_REFUSED),
	OD_REFUSE("ssh_protocol", "ssh protocol 1 is refused"),
	OD_REFUSE("directport", "directport bypasses ssh and is refused"),
	OD_REFUSE("passive", "passive/slave mode bypasses ssh and is refused"),
	OD_REFUSE("slave", "passive/slave mode bypasses ssh and is refused"),
	OD_REFUSE("password_stdin", "passwords are refused: use IdentityFile"),
	OD_REFUSE("ProxyCommand", CMD_REFUSED),
	OD_REFUSE("ProxyJump", CMD_REFUSED),
	OD_REFUSE("ProxyUseFdpass", CMD_REFUSED),
	OD_REFUSE("LocalCommand", CMD_REFUSED),
	OD_REFUSE("PermitLocalCommand", CMD_REFUSED),
	OD_REFUSE("KnownHostsCommand", CMD_REFUSED),
	OD_REFUSE("RemoteCommand", CMD_REFUSED),
	OD_REFUSE("Match", CMD_REFUSED),
	OD_REFUSE("Include", "ssh configuration includes are refused"),
	OD_REFUSE("PKCS11Provider", "loading libraries into ssh is refused"),
	OD_REFUSE("SecurityKeyProvider", "loading libraries into ssh is refused"),
	OD_REFUSE("IdentityAgent", "agents are refused: use IdentityFile"),
	OD_REFUSE("ForwardAgent", "agent forwarding is refused"),
	OD_REFUSE("ControlMaster", "connection sharing is refused"),
	OD_REFUSE("ControlPath", "connection sharing is refused"),
	OD_REFUSE("modules", "FUSE modules are refused"),
	OD_REFUSE("no_contain_symlinks", "would expose absolute and '..' symlinks"),
	OD_REFUSE("allow_root", "allow_root is refused (use allow_other)"),
};

static const char *const sshfs_forced[] = { "nosuid", "nodev", "BatchMode=yes", "CheckHostIP=no",
					    "UpdateHostKeys=no", NULL };

#define HOSTKEY_REFUSED                                                                      \
	"StrictHostKeyChecking=no and accept-new are refused: they make ssh write host keys " \
	"and trust an unverified server; use StrictHostKeyChecking=yes with a root-owned "   \
	"UserKnownHostsFile"

static int sshfs_options(const char *const *opts, size_t n, struct driver_opts *ret,
			 const char **reterr)
{
	const char *v;
	struct optset s;
	int r;

	r = optset_parse(sshfs_opts, ELEMENTSOF(sshfs_opts), sshfs_forced, opts, n, &s, reterr);
	if (r < 0)
		return r;
	v = optset_get(&s, "StrictHostKeyChecking");
	if (v && strcmp(v, "yes") != 0)
		return optset_refuse(&s, HOSTKEY_REFUSED, reterr);
	r = optset_default(&s, "StrictHostKeyChecking", "StrictHostKeyChecking=yes", reterr);
	if (r < 0) {
		optset_done(&s);
		return r;
	}
	r = optset_finish(&s, ret);
	if (r < 0)
		return r;
	/* The engine makes the FUSE mount (DRIVER_TARGET_FUSE_FD): these two are options of
	 * the connection, which libfuse would otherwise have set when mounting. */
	if (option_listed(ret->canonical, "allow_other"))
		ret->fuse_flags |= DRIVER_FUSE_ALLOW_OTHER;
	if (option_listed(ret->canonical, "default_permissions"))
		ret->fuse_flags |= DRIVER_FUSE_DEFAULT_PERMISSIONS;
	return 0;
}

static int sshfs_mount_spec(const char *export, const struct driver_opts *opts,
			    const char *mountpoint, struct driver_mount_spec *ret,
			    const char **reterr)
{
	/* Every option before "--". The engine mounts the filesystem with the export as its
	 * source and @mountpoint is "/dev/fd/3", the connection (DRIVER_TARGET_FUSE_FD). */
	return spec_new(ret, reterr, "fuse.sshfs", export, "/usr/bin/sshfs", "-o", opts->canonical,
			"--", export, mountpoint, NULL);
}

const struct driver driver_sshfs = {
	.name = "sshfs",
	.kind = DRIVER_KIND_HELPER,
	.target = DRIVER_TARGET_FUSE_FD,
	.normalize = sshfs_normalize,
	.options = sshfs_options,
	.helper_spec = sshfs_mount_spec,
};
