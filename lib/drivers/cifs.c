/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cifs.c - the CIFS/SMB driver: an export is "//host/share[/path]", mounted by /sbin/mount.cifs
 * (type cifs). Pure: no name resolution, no I/O, never sees a password.
 *
 * Grammar: "//", host as in common.h (DNS name folded to lower case or strict IPv4; no IPv6, no
 * port), '/', a share name of [A-Za-z0-9_.$-] (1..80 bytes, starting with a letter or digit,
 * case kept: the server decides), then optionally an absolute path of [A-Za-z0-9._+~-]
 * components, normalized; a trailing '/' is dropped. Backslashes are refused.
 *
 * Credentials only through credentials=/abs/file (the engine checks it: root-owned, 0600 or
 * stricter), required unless "guest" is given. Inline password=/pass= and username=/user=
 * are refused (the user name belongs in the credentials file, where "user%password" cannot
 * leak through argv). Always on: nosuid, nodev.
 *
 * Verified for real by tests/vm (Debian 12's kernel, cifs-utils and Samba in qemu): mount.cifs
 * chdir()s into "/proc/self/fd/3" and mounts on ".", the kernel shows type "cifs" with exactly
 * the normalized export (path included) as the source, and the password read from the
 * credentials file appears in no process's argv or environment.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "common.h"
#include "driver.h"
#include "input-caps.h"
#include "cleanup.h"

#define CIFS_SHARE_MAX 80
#define ID_MAX	       4294967294UL

static int cifs_normalize(const char *export, char **ret, const char **reterr)
{
	const char *host, *slash, *share_end;
	struct sbuf b = {};
	size_t n, before;
	int r;

	r = export_precheck(export, &n, reterr);
	if (r < 0)
		return r;
	if (strncmp(export, "//", 2) != 0) {
		*reterr = "cifs export must be //host/share[/path]";
		return -EINVAL;
	}
	host = export + 2;
	slash = strchr(host, '/');
	if (!slash) {
		*reterr = "cifs export must be //host/share[/path]";
		return -EINVAL;
	}
	sbuf_adds(&b, "//");
	r = host_normalize(host, (size_t)(slash - host), 0, &b, reterr);
	if (r < 0) {
		sbuf_done(&b);
		return r;
	}
	share_end = strchr(slash + 1, '/');
	if (!share_end)
		share_end = slash + 1 + strlen(slash + 1);
	if (!name_is_valid(slash + 1, (size_t)(share_end - slash - 1), CIFS_SHARE_MAX, "_.$-")) {
		sbuf_done(&b);
		*reterr =
			"cifs share name must be 1..80 bytes of A-Z a-z 0-9 _ . $ - starting with "
			"a letter or digit";
		return -EINVAL;
	}
	sbuf_add(&b, slash, (size_t)(share_end - slash));
	if (*share_end) {
		before = b.len;
		r = netpath_normalize(share_end, strlen(share_end), true, &b, reterr);
		if (r < 0) {
			sbuf_done(&b);
			return r;
		}
		/* "//h/s/" and "//h/s/." name the share itself. */
		if (b.len == before + 1) {
			b.len = before;
			if (b.s)
				b.s[b.len] = '\0';
		}
	}
	return sbuf_take(&b, ret);
}

static const struct optdef cifs_opts[] = {
	OD_FLAG("ro", MS_RDONLY),
	OD_DEFAULT("rw"),
	OD_FLAG("nosuid", MS_NOSUID),
	OD_FLAG("nodev", MS_NODEV),
	OD_FLAG("noexec", MS_NOEXEC),
	OD_PATH("credentials", OPT_CRED, NULL),
	OD_FLAG_NOT("guest", "credentials", "options 'guest' and 'credentials=' contradict each other"),
	OD_ENUM("vers", "1.0|2.0|2.1|3.0|3.02|3.1.1"),
	OD_ENUM("sec", "ntlmssp|ntlmsspi|krb5|krb5i"),
	OD_ENUM("cache", "strict|none|loose"),
	OD_NAME("domain", ".-", HOST_NAME_LEN),
	OD_UINT("uid", 0, ID_MAX),
	OD_UINT("gid", 0, ID_MAX),
	OD_OCTAL("file_mode", 0777),
	OD_OCTAL("dir_mode", 0777),
	OD_FLAG("seal", 0),
	OD_FLAG("nounix", 0),
	OD_FLAG("serverino", 0),
	OD_FLAG_NOT("noserverino", "serverino",
		    "options 'serverino' and 'noserverino' contradict each other"),
	OD_REFUSE("username", "give the user name in the credentials file"),
	OD_REFUSE("user", "give the user name in the credentials file"),
	OD_REFUSE("cred", "spell it credentials="),
	OD_REFUSE("noperm", "noperm would switch off client permission checks"),
	OD_REFUSE("setuids", "setuids is refused"),
	OD_REFUSE("multiuser", "multiuser is refused"),
	OD_REFUSE("ip", "the server address comes from the export"),
	OD_REFUSE("addr", "the server address comes from the export"),
	OD_REFUSE("unc", "the share comes from the export"),
	OD_REFUSE("prefixpath", "the path comes from the export"),
};

static int cifs_options(const char *const *opts, size_t n, struct driver_opts *ret,
			const char **reterr)
{
	struct optset s;
	int r;

	r = optset_parse(cifs_opts, ELEMENTSOF(cifs_opts), optset_forced_nosuid_nodev, opts, n, &s, reterr);
	if (r < 0)
		return r;
	if (!optset_get(&s, "guest") && !optset_get(&s, "credentials"))
		return optset_refuse(&s,
				     "cifs needs credentials=/path/to/file (or 'guest')",
				     reterr);
	return optset_finish(&s, ret);
}

static int cifs_mount_spec(const char *export, const struct driver_opts *opts,
			   const char *mountpoint, struct driver_mount_spec *ret,
			   const char **reterr)
{
	/* mount.cifs takes the UNC and the directory first, then -o; the kernel shows the UNC
	 * it was given as the source. */
	return spec_new(ret, reterr, "cifs", export, "/sbin/mount.cifs", export, mountpoint, "-o",
			opts->canonical, NULL);
}

const struct driver driver_cifs = {
	.name = "cifs",
	.kind = DRIVER_KIND_HELPER,
	.target = DRIVER_TARGET_PROC_FD,
	.normalize = cifs_normalize,
	.options = cifs_options,
	.helper_spec = cifs_mount_spec,
};
