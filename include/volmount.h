/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * volmount.h - the public interface of libvolmount.
 *
 * libvolmount makes shared filesystem exports available to the many consumers of one host: an
 * export ("share") is mounted once when its first volume is attached, kept while any attachment
 * uses it, and unmounted when the last attachment leaves. State is kept in a SQLite ledger,
 * operations on a share are serialised by locks that work between threads and processes, and
 * every mount is verified by its kernel mount id.
 *
 * Conventions:
 *  - Every call returns 0 (or a documented positive value) on success and a negative errno-style
 *    code on failure. The human-readable cause of the calling thread's last failure is returned
 *    by volmount_ctx_errmsg(), its category by volmount_ctx_errkind().
 *  - Strings returned through ret_ parameters are owned by the caller (free()). Getters return
 *    borrowed pointers valid until the object they came from is freed.
 *  - Thread-safety: one struct volmount_ctx may be shared by several threads once it is
 *    configured (after the last volmount_ctx_set_*() call). Objects obtained from it
 *    (snapshots, reports) belong to the thread that created them.
 */
#ifndef VOLMOUNT_H
#define VOLMOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define VOLMOUNT_WUR __attribute__((warn_unused_result))
#else
#define VOLMOUNT_WUR
#endif

#define VOLMOUNT_VERSION_MAJOR 0
#define VOLMOUNT_VERSION_MINOR 3
#define VOLMOUNT_VERSION_PATCH 0
#define VOLMOUNT_VERSION_NUMBER \
	(VOLMOUNT_VERSION_MAJOR * 10000 + VOLMOUNT_VERSION_MINOR * 100 + VOLMOUNT_VERSION_PATCH)

/* Returns VOLMOUNT_VERSION_NUMBER of the library actually loaded. */
unsigned volmount_version_number(void);

struct volmount_ctx;
struct volmount_snapshot;
struct volmount_report;

/* Paths a context uses; each has a production default (see volmount_ctx_new()). */
enum volmount_path {
	VOLMOUNT_PATH_STATE_DIR, /* ledger; default /var/lib/volmount */
	VOLMOUNT_PATH_BASE_DIR,  /* mountpoints; default /var/lib/volmount/mnt */
	VOLMOUNT_PATH_RUN_DIR,   /* lock files; default /run/volmount */
	_VOLMOUNT_PATH_MAX
};

/* What kind of failure the calling thread's last failed call was (for exit codes). */
enum volmount_errkind {
	VOLMOUNT_ERR_NONE,
	VOLMOUNT_ERR_INPUT,      /* invalid export, volume, owner or option */
	VOLMOUNT_ERR_HOSTDOWN,   /* host is down, or the server is unreachable */
	VOLMOUNT_ERR_INTERNAL,   /* a bug, or an unexpected system error */
	VOLMOUNT_ERR_MOUNTPOINT, /* mountpoint cannot be created or is occupied */
	VOLMOUNT_ERR_IO,         /* I/O error (ledger, mount, unmount) */
	VOLMOUNT_ERR_TEMPFAIL,   /* a lock wait or deadline passed; the share is busy */
	VOLMOUNT_ERR_PERM,       /* permission denied */
	VOLMOUNT_ERR_CONFIG,     /* bad configuration */
	VOLMOUNT_ERR_UNAVAILABLE, /* a helper program the driver needs is not installed */
	_VOLMOUNT_ERR_MAX
};

/*
 * Where a share's mountpoint is made under the base directory.
 *  VOLMOUNT: <base>/<driver>/<sha256 hex of "driver\0normalized export">.
 *  NOVA:     <base>/<md5 hex of the normalized export>, the name OpenStack Nova's libvirt
 *            volume drivers and os-brick's RemoteFsClient give the same share, so a compute
 *            host whose shares they mounted can be taken over (host-up adopts those mounts).
 * A ledger that holds shares keeps the scheme they were made with: opening it with the other
 * one fails with errkind CONFIG.
 */
enum volmount_path_scheme {
	VOLMOUNT_PATH_SCHEME_VOLMOUNT,
	VOLMOUNT_PATH_SCHEME_NOVA,
	_VOLMOUNT_PATH_SCHEME_MAX
};

/* Ledger durability: NORMAL survives any process crash (WAL, synchronous=NORMAL); FULL also
 * survives power loss (fsync per commit). */
enum volmount_durability {
	VOLMOUNT_DURABILITY_NORMAL,
	VOLMOUNT_DURABILITY_FULL,
	_VOLMOUNT_DURABILITY_MAX
};

/*
 * volmount_ctx_new() - allocate a context with the default paths, a 30 s timeout and normal
 * durability. Nothing is opened until the first operation. Returns 0 or -ENOMEM.
 */
int volmount_ctx_new(struct volmount_ctx **ret) VOLMOUNT_WUR;

/* Frees the context and everything it holds. NULL is accepted. */
void volmount_ctx_free(struct volmount_ctx *ctx);

/* Sets one of the paths (copied). The path must be absolute. -EINVAL otherwise; -EBUSY once
 * the context has been used. */
int volmount_ctx_set_path(struct volmount_ctx *ctx, enum volmount_path which, const char *path);

/* Borrowed; valid until the path is set again or the context is freed. */
const char *volmount_ctx_get_path(const struct volmount_ctx *ctx, enum volmount_path which);

/* Bound for every wait (locks, drains, helpers), in milliseconds; 1..86400000. */
int volmount_ctx_set_timeout(struct volmount_ctx *ctx, unsigned timeout_ms);

int volmount_ctx_set_durability(struct volmount_ctx *ctx, enum volmount_durability d);

/* The path scheme (default VOLMOUNT). -EINVAL for an unknown scheme; -EBUSY once the context
 * has been used. Since 0.2. */
int volmount_ctx_set_path_scheme(struct volmount_ctx *ctx, enum volmount_path_scheme scheme);

/* Deadline of one liveness probe (check, repair, monitor), in milliseconds; default 5000. */
int volmount_ctx_set_probe_timeout(struct volmount_ctx *ctx, unsigned timeout_ms);

/* How many shares host-up, the first call after a reboot and repair work on at once, and so the
 * most helper programs (mount.nfs, sshfs, ...) they run at once: 1..32, default 16; 1 works
 * on one share after another. -EINVAL out of range. Since 0.5. */
int volmount_ctx_set_max_helpers(struct volmount_ctx *ctx, unsigned n);

/* The context's timeout and probe timeout in milliseconds, as set or configured (0 for a NULL
 * context): what a caller needs to bound its own waits on the library, e.g. a watchdog. Since
 * 0.5. */
unsigned volmount_ctx_get_timeout(const struct volmount_ctx *ctx);
unsigned volmount_ctx_get_probe_timeout(const struct volmount_ctx *ctx);

/*
 * volmount_ctx_load_config() - read a configuration file of "key = value" lines ('#' starts a
 * comment). Keys: state_dir, base_dir, run_dir, timeout (seconds), probe_timeout (seconds),
 * max_helpers (1..32),
 * durability (normal|full), path_scheme (volmount|nova).
 * The file must be a regular file owned by root and not writable by group or others.
 * If @must_exist is false, a missing file is not an error. Values set here are overridden by
 * later volmount_ctx_set_*() calls. Returns 0, -ENOENT, -EPERM or -EINVAL (errkind CONFIG).
 */
int volmount_ctx_load_config(struct volmount_ctx *ctx, const char *path, bool must_exist);

/* The calling thread's last failure message, or "" if none. Borrowed, thread-local. */
const char *volmount_ctx_errmsg(const struct volmount_ctx *ctx);
enum volmount_errkind volmount_ctx_errkind(const struct volmount_ctx *ctx);

/*
 * volmount_attach() - attach (@volume, @owner) to the share (@driver, @export), mounting the
 * share if this is its first attachment. @options (@n_options strings "opt" or "opt=val") are
 * only used when the share is mounted; a later attach with different options fails with
 * -EINVAL. Attaching an existing attachment again is a no-op. On success sets *ret_device_path
 * (may be NULL) to "<mountpoint>/<volume>" (caller frees).
 * With the NOVA path scheme, a share whose mountpoint already holds exactly the mount volmount
 * would make (mounted by Nova or os-brick) is adopted instead of refused; the first attach on
 * an adopted share records @options as the share's options, provided that with them volmount
 * would mount exactly what is mounted.
 */
int volmount_attach(struct volmount_ctx *ctx, const char *driver, const char *export,
		    const char *volume, const char *owner, const char *const *options,
		    size_t n_options, char **ret_device_path);

/*
 * volmount_detach() - remove (@volume, @owner) from the share; unmounts the share and removes
 * its mountpoint when it was the last attachment (a directory volmount did not create, as that
 * of an adopted share, is kept). Returns 0 when the attachment was removed, 1 when there was no
 * such attachment (nothing changed; an adopted share without attachments stays mounted), or
 * -errno.
 */
int volmount_detach(struct volmount_ctx *ctx, const char *driver, const char *export,
		    const char *volume, const char *owner);

/* Sets *ret_path to the share's mountpoint (caller frees). Changes nothing on the host. */
int volmount_share_path(struct volmount_ctx *ctx, const char *driver, const char *export,
			char **ret_path);

/*
 * volmount_host_up() - drain in-flight operations, reconcile the ledger with the kernel (mount
 * shares that have attachments, unmount those that have none, report foreign mounts), mark
 * the host up and raise the generation. If @ret_report is not NULL, it receives what was done.
 * With the NOVA path scheme, a mount found exactly at <base>/<md5> that is precisely what
 * volmount would mount for that name, per-mount flags included (nosuid and nodev always; the
 * share is recorded with "ro"/"noexec" as the mount has them), is adopted: recorded without
 * attachments and kept (not unmounted) until volumes are attached to it and the last one is
 * detached. An attach whose options would mount other flags than an adopted mount has fails
 * with -EINVAL (VOLMOUNT_ERR_INPUT) and records nothing.
 */
int volmount_host_up(struct volmount_ctx *ctx, struct volmount_report **ret_report);

/* Drain in-flight operations and mark the host down: attach and detach then fail with
 * -EHOSTDOWN until volmount_host_up(). Mounts are left as they are. */
int volmount_host_down(struct volmount_ctx *ctx);

/*
 * volmount_repair() - bring every share to its desired state: probe each mounted share
 * (statfs in a child, with the probe deadline); unmount a stale or hung mount (MNT_FORCE for
 * a hung FUSE mount, bounded retries), verify it is gone, mount again and verify; mount
 * shares that have attachments but no mount; unmount shares without attachments ("unused";
 * MNT_FORCE only if the probe finds them stale or hung, so a busy healthy one is left and
 * reported, -EBUSY, until it is free), remove their directory and forget them. Foreign
 * and stacked mounts are reported, never touched. Each share is handled under its own lock,
 * so repair never blocks attach/detach of other shares. Returns 0 if every share is now as
 * it should be, else -errno (the report says which share failed and why).
 */
int volmount_repair(struct volmount_ctx *ctx, struct volmount_report **ret_report);

/*
 * volmount_gc() - remove leftover directories under <base>/<driver>/ that no share owns and
 * that are not mountpoints; report, never delete, anything else found there.
 */
int volmount_gc(struct volmount_ctx *ctx, struct volmount_report **ret_report);

/* ---- snapshots: the ledger joined with what the kernel shows ---- */

/* With this flag, volmount_snapshot_new_ex() also probes every mounted share (statfs in one
 * executor worker process, all shares at once against one probe deadline), so states include
 * "stale", "hung" and "unprobed" (the executor could not probe the share at all: no verdict,
 * never reported as stale or hung). The call returns within the probe deadline plus about
 * one second, whatever the number of shares. */
#define VOLMOUNT_SNAPSHOT_PROBE (UINT64_C(1) << 0)
int volmount_snapshot_new_ex(struct volmount_ctx *ctx, uint64_t flags,
			     struct volmount_snapshot **ret);
/* The errno the probe saw (positive; ETIMEDOUT for hung), 0 if healthy or not probed. */
int volmount_snapshot_share_errno(const struct volmount_snapshot *s, size_t i);
/* The probe's duration in microseconds, or -1 if it was not probed or did not answer. */
int64_t volmount_snapshot_share_probe_us(const struct volmount_snapshot *s, size_t i);

/*
 * volmount_snapshot_new() - read every share, its attachments and its observed state.
 * Takes no lock and never touches a path inside a mount.
 */
int volmount_snapshot_new(struct volmount_ctx *ctx, struct volmount_snapshot **ret);
void volmount_snapshot_free(struct volmount_snapshot *s);

const char *volmount_snapshot_host_state(const struct volmount_snapshot *s); /* "up"|"down" */
uint64_t volmount_snapshot_generation(const struct volmount_snapshot *s);
size_t volmount_snapshot_n_shares(const struct volmount_snapshot *s);
/* Share @i (< n_shares). Out-of-range indexes return NULL / 0. */
const char *volmount_snapshot_share_driver(const struct volmount_snapshot *s, size_t i);
const char *volmount_snapshot_share_export(const struct volmount_snapshot *s, size_t i);
const char *volmount_snapshot_share_mountpoint(const struct volmount_snapshot *s, size_t i);
const char *volmount_snapshot_share_options(const struct volmount_snapshot *s, size_t i);
/* "mounted", "unmounted", "unused", "stale", "hung", "unprobed", "foreign", "missing",
 * "stacked" or "unknown". "unused" (added after 0.3.0) is mounted with no attachment, what a
 * last detach whose unmount was busy leaves; repair unmounts it once it is free. "unprobed":
 * mounted, but no probe could run for it (no verdict). Later versions may add states: treat
 * one you do not know as unhealthy. */
const char *volmount_snapshot_share_state(const struct volmount_snapshot *s, size_t i);
uint64_t volmount_snapshot_share_mount_id(const struct volmount_snapshot *s, size_t i);
size_t volmount_snapshot_share_n_attachments(const struct volmount_snapshot *s, size_t i);
/* A mount made by someone else (Nova, os-brick), taken over by host-up or an attach with the
 * nova path scheme and kept, though no attachment uses it yet. Since 0.3. */
bool volmount_snapshot_share_adopted(const struct volmount_snapshot *s, size_t i);
const char *volmount_snapshot_attachment_volume(const struct volmount_snapshot *s, size_t i,
						size_t j);
const char *volmount_snapshot_attachment_owner(const struct volmount_snapshot *s, size_t i,
					       size_t j);

/* ---- reports: what host-up (and later repair, gc) did ---- */
size_t volmount_report_n_entries(const struct volmount_report *r);
/* Mountpoint (or path) the entry is about. */
const char *volmount_report_entry_path(const struct volmount_report *r, size_t i);
/* "kept", "mounted", "unmounted", "adopted", "removed", "foreign", "failed", ... */
const char *volmount_report_entry_action(const struct volmount_report *r, size_t i);
/* Human detail, may be "". */
const char *volmount_report_entry_detail(const struct volmount_report *r, size_t i);
/* The host generation when the operation finished (host-up: the new one). */
uint64_t volmount_report_generation(const struct volmount_report *r);
void volmount_report_free(struct volmount_report *r);

/* ---- states and actions as numbers (since 0.4) ----
 *
 * The words above, as enums a caller can switch on. The strings stay the documented JSON and
 * text form; each enum value names exactly one of them, and the values never change (new
 * ones are added before the _MAX sentinel). A word this header does not know yet (a later
 * library) maps to the *_OTHER value, never to a wrong one.
 */
enum volmount_share_state {
	VOLMOUNT_SHARE_INVALID = -1, /* no such share: NULL snapshot or index out of range */
	VOLMOUNT_SHARE_MOUNTED = 0,  /* "mounted": ours, verified by mount id, in use or adopted */
	VOLMOUNT_SHARE_UNMOUNTED = 1, /* "unmounted": not mounted and nothing needs it */
	VOLMOUNT_SHARE_UNUSED = 2,   /* "unused": mounted, but no attachment needs it */
	VOLMOUNT_SHARE_STALE = 3,    /* "stale": the probe failed (ESTALE, ENOTCONN, EIO, ...) */
	VOLMOUNT_SHARE_HUNG = 4,     /* "hung": the probe passed its deadline */
	VOLMOUNT_SHARE_UNPROBED = 5, /* "unprobed": mounted, but no probe could run (no verdict) */
	VOLMOUNT_SHARE_FOREIGN = 6,  /* "foreign": something else is mounted at the mountpoint */
	VOLMOUNT_SHARE_MISSING = 7,  /* "missing": attachments, but nothing mounted */
	VOLMOUNT_SHARE_STACKED = 8,  /* "stacked": more than one mount at the mountpoint */
	VOLMOUNT_SHARE_UNKNOWN = 9,  /* "unknown": could not be observed (errno says why) */
	VOLMOUNT_SHARE_OTHER = 10,   /* a state word this version does not know */
	_VOLMOUNT_SHARE_STATE_MAX
};

/* The state of share @i as an enum; VOLMOUNT_SHARE_INVALID if there is no share @i. */
enum volmount_share_state volmount_snapshot_share_state_id(const struct volmount_snapshot *s,
							   size_t i);
/* The word for @state ("mounted", ...), or NULL for INVALID, OTHER or a value out of range. */
const char *volmount_share_state_name(enum volmount_share_state state);
/* The enum for the word @name; VOLMOUNT_SHARE_OTHER for any other word,
 * VOLMOUNT_SHARE_INVALID for NULL. */
enum volmount_share_state volmount_share_state_from_name(const char *name);
/*
 * Whether a share in @state is as it should be: true only for MOUNTED (ours, verified, and
 * needed by an attachment or adopted) and UNMOUNTED (nothing mounted, nothing needs it).
 * Every other state, OTHER and INVALID included, is unhealthy: "volmount check" exits 69 when
 * any share is. The state already says whether attachments need the share (mounted without
 * them is UNUSED, unmounted with them is MISSING), so no other input is needed.
 */
bool volmount_share_state_healthy(enum volmount_share_state state);

enum volmount_report_action {
	VOLMOUNT_ACTION_INVALID = -1, /* no such entry: NULL report or index out of range */
	VOLMOUNT_ACTION_KEPT = 0,     /* "kept": left as it was (healthy, or not ours to touch) */
	VOLMOUNT_ACTION_MOUNTED = 1,  /* "mounted": mounted again for its attachments */
	VOLMOUNT_ACTION_UNMOUNTED = 2, /* "unmounted": unmounted and forgotten, nothing needed it */
	VOLMOUNT_ACTION_REPAIRED = 3, /* "repaired": a stale or hung mount unmounted and mounted */
	VOLMOUNT_ACTION_ADOPTED = 4,  /* "adopted": someone else's mount taken over */
	VOLMOUNT_ACTION_REMOVED = 5,  /* "removed": a share or directory forgotten or removed */
	VOLMOUNT_ACTION_FOREIGN = 6,  /* "foreign": a mount that is not ours, reported only */
	VOLMOUNT_ACTION_STACKED = 7,  /* "stacked": several mounts at a mountpoint, reported only */
	VOLMOUNT_ACTION_UNPROBED = 8, /* "unprobed": no probe could run, so nothing was decided */
	VOLMOUNT_ACTION_UNKNOWN = 9,  /* "unknown": something not understood, left untouched */
	VOLMOUNT_ACTION_FAILED = 10,  /* "failed": the action on this path failed (detail: why) */
	VOLMOUNT_ACTION_OTHER = 11,   /* an action word this version does not know */
	_VOLMOUNT_REPORT_ACTION_MAX
};

/* The action of entry @i as an enum; VOLMOUNT_ACTION_INVALID if there is no entry @i. */
enum volmount_report_action volmount_report_entry_action_id(const struct volmount_report *r,
							    size_t i);
/* The word for @action ("kept", ...), or NULL for INVALID, OTHER or a value out of range. */
const char *volmount_report_action_name(enum volmount_report_action action);
/* The enum for the word @name; VOLMOUNT_ACTION_OTHER for any other word,
 * VOLMOUNT_ACTION_INVALID for NULL. */
enum volmount_report_action volmount_report_action_from_name(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* VOLMOUNT_H */
