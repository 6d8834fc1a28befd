/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * driver.h - the driver interface: one filesystem family each. Drivers are pure functions
 * without I/O (and therefore fuzzed): they parse and normalize an export, validate options,
 * and say what the kernel must show after a mount. The engine does everything else.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* How a share of this driver is mounted. */
enum driver_kind {
	DRIVER_KIND_BIND,   /* mount(2) family directly: open_tree + mount_setattr + move_mount */
	DRIVER_KIND_HELPER, /* a helper program run by the executor */
};

/*
 * What a helper is told to mount on. The engine opens and checks the mountpoint directory once
 * (O_DIRECTORY|O_NOFOLLOW) and mounts onto that fd; how a helper is made to use the same fd
 * depends on what the helper does with the name it is given.
 */
enum driver_target {
	/* The engine mounts the FUSE filesystem itself on the fd (fsopen/fsmount/move_mount)
	 * and gives the helper the connection as fd 3, named "/dev/fd/3": libfuse's way of
	 * saying "mounted already, serve this". The helper never names a directory. */
	DRIVER_TARGET_FUSE_FD,
	/* The helper gets the directory as fd 3 and mounts on "/proc/self/fd/3". */
	DRIVER_TARGET_PROC_FD,
	/* The helper gets the path: it inspects the mountpoint by name after mounting (stat of
	 * the root inode), which through the magic link would see the covered directory
	 * instead. Safe because every directory from "/" to the mountpoint is root-owned and
	 * not writable by anyone else (checked on fds by ctx.c and the engine). */
	DRIVER_TARGET_NAME,
};

/* FUSE connection options the engine sets when it makes the mount (DRIVER_TARGET_FUSE_FD). */
#define DRIVER_FUSE_ALLOW_OTHER	      (1u << 0)
#define DRIVER_FUSE_DEFAULT_PERMISSIONS (1u << 1)

/* Parsed, validated options of one share. */
struct driver_opts {
	char *canonical;     /* sorted, de-duplicated "a,b=c" form: what defines the share */
	unsigned long flags; /* MS_*: MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC */
	unsigned fuse_flags; /* DRIVER_FUSE_* (DRIVER_TARGET_FUSE_FD drivers) */
	char *cred_path;     /* helper drivers: a credentials/identity/secret file the engine
			      * must check (root-owned regular file, mode 0600 or stricter, on the
			      * open fd) before mounting; NULL if none */
	char *trusted_path;  /* helper drivers: a file the helper trusts but need not keep secret
			      * (sshfs: UserKnownHostsFile), which the engine must check (root-owned
			      * regular file, not writable by group or others, on the open fd)
			      * before mounting; NULL if none */
	const char *trusted_option; /* the option that named trusted_path (static), for messages */
};

/*
 * What a helper driver runs, and what the kernel must show afterwards. Built from a
 * normalized export and validated options only; never contains a secret (credentials are
 * passed as file paths).
 */
struct driver_mount_spec {
	char **argv;   /* NULL-terminated; argv[0] is the helper's absolute path */
	char *fstype;  /* mountinfo type(.subtype) expected: "nfs4", "fuse.sshfs", "cifs", ... */
	char *source;  /* mountinfo source expected, e.g. "srv:/exports/v" */
};

void driver_mount_spec_done(struct driver_mount_spec *m);

void driver_opts_done(struct driver_opts *o);

struct driver {
	const char *name;
	enum driver_kind kind;
	enum driver_target target; /* helper drivers: see enum driver_target */
	/*
	 * Normalize @export into *ret (caller frees). On invalid input returns -EINVAL and sets
	 * *reterr to a static string saying why. Pure: no I/O.
	 */
	int (*normalize)(const char *export, char **ret, const char **reterr);
	/*
	 * Validate @opts and fill *ret. -EINVAL with *reterr (static) on a refused option. Pure.
	 */
	int (*options)(const char *const *opts, size_t n, struct driver_opts *ret,
		       const char **reterr);
	/*
	 * Helper drivers only (NULL for bind): the helper argv that mounts @export (normalized)
	 * with @opts on @mountpoint, and the expected mount table entry. Pure. Called only
	 * through driver_mount_spec(), which has checked the three inputs.
	 */
	int (*helper_spec)(const char *export, const struct driver_opts *opts,
			   const char *mountpoint, struct driver_mount_spec *ret,
			   const char **reterr);
};

/*
 * The helper's argv and expected mount of @drv (a helper driver) for @export, @opts and
 * @mountpoint, after checking that @export is in @drv's normal form, that @opts came from
 * @drv's options() and that @mountpoint passes mountpoint_check(). -EINVAL with *reterr
 * (static) otherwise. Pure.
 */
int driver_mount_spec(const struct driver *drv, const char *export, const struct driver_opts *opts,
		      const char *mountpoint, struct driver_mount_spec *ret, const char **reterr);

/* The driver called @name, or NULL. */
const struct driver *driver_find(const char *name);

/* Names of all drivers, NULL-terminated (for help and errors). */
extern const struct driver *const driver_table[];

extern const struct driver driver_bind;
extern const struct driver driver_sshfs;
extern const struct driver driver_glusterfs;
extern const struct driver driver_nfs;
extern const struct driver driver_cifs;
extern const struct driver driver_quobyte;
extern const struct driver driver_cephfs;

/* ---- shared validation, also pure (share.c) ---- */

/* A volume name: one path component of [A-Za-z0-9._-], not starting with '.' or '-', 1..255. */
int volume_name_check(const char *v, const char **reterr);
/* An owner id: 1..128 printable bytes, no '/', no whitespace. */
int owner_check(const char *o, const char **reterr);
/* Lower-case hex SHA-256 of "<driver>\0<normalized export>" into @ret (65 bytes). */
int share_hash(const char *driver, const char *normalized, char ret[65]);
/* Lower-case hex MD5 of @normalized into @ret (33 bytes): the name Nova's libvirt volume
 * drivers and os-brick's RemoteFsClient give the mountpoint of that export. */
int share_nova_name(const char *normalized, char ret[33]);
