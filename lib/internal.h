/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * internal.h - private declarations shared by the modules of libvolmount: the context, the
 * thread-local error slot, and small helpers. Never installed.
 */
#pragma once

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "volmount.h"

#define VOLMOUNT_EXPORT __attribute__((visibility("default")))

#define VOLMOUNT_DEFAULT_STATE_DIR "/var/lib/volmount"
#define VOLMOUNT_DEFAULT_BASE_DIR  "/var/lib/volmount/mnt"
#define VOLMOUNT_DEFAULT_RUN_DIR   "/run/volmount"
#define VOLMOUNT_DEFAULT_TIMEOUT_MS 30000u
#define VOLMOUNT_DEFAULT_PROBE_TIMEOUT_MS 5000u

/* Input caps (CWE-400): nothing a caller sends may make us allocate or loop without bound. */
#define VOLMOUNT_EXPORT_MAX  4096
#define VOLMOUNT_VOLUME_MAX  255
#define VOLMOUNT_OWNER_MAX   128
#define VOLMOUNT_OPTIONS_MAX 64
#define VOLMOUNT_OPTION_MAX  1024

struct ledger;

#define CTX_SHARE_FDS 32 /* cached share-lock descriptions per context */

struct volmount_ctx {
	char *paths[_VOLMOUNT_PATH_MAX];
	unsigned timeout_ms;
	unsigned probe_timeout_ms; /* liveness probe deadline (check, repair, monitor) */
	enum volmount_durability durability;
	enum volmount_path_scheme path_scheme; /* how mountpoints are named (engine.h) */

	/* Opened lazily by ctx_open(); guarded by open_lock. */
	pthread_mutex_t open_lock;
	bool opened;
	/* The SQLite connection is shared by the threads using this context; db_lock makes each
	 * ledger transaction atomic with respect to the others. Never held across a mount. */
	pthread_mutex_t db_lock;
	struct ledger *ledger;
	/* The canonical base directory (its parents may be symlinks; the kernel reports canonical
	 * mount points). Set once by ctx_open(), read with an atomic load: see ctx_base(). */
	char *base_canon;
	char *base_canon_retired; /* the one before, if a failed open was retried */
	int base_fd;  /* O_PATH of the base directory, checked root-owned and not writable by others */
	int run_fd;   /* O_PATH of the run directory (host.lock) */
	int locks_fd; /* O_PATH of <run>/locks */
	/* The shared host lock held for attach/detach (lock.c): one description, a count of
	 * holders in this process, and the generation of the process that opened it (a forked
	 * child opens its own). */
	pthread_mutex_t host_lock_mu;
	int host_lock_fd;
	unsigned host_lock_readers;
	unsigned host_lock_gen; /* lock_process_gen() of the process that opened it */
	/* Share-lock descriptions not in use, kept open for the next lock of the same share
	 * (lock.c); the generation of the process that opened them, as above. */
	pthread_mutex_t share_fds_mu;
	struct ctx_share_fd {
		char hash[65];
		int fd;
	} share_fds[CTX_SHARE_FDS];
	unsigned n_share_fds;
	unsigned share_fds_gen;
	struct volmount_ctx *registry_next; /* lock.c's list of contexts, for its fork handlers */
	char boot_id[40];
	bool boot_checked; /* the ledger's boot id matched ours once (atomic) */
};

/* "volmount" or "nova": the scheme's name, as the configuration and the ledger spell it. */
const char *path_scheme_name(enum volmount_path_scheme s);

/* The base directory mountpoints are named under: canonical once the context is open, as
 * configured before. Borrowed; valid while the context lives. */
const char *ctx_base(const struct volmount_ctx *ctx);

/* Make the state, base and run directories (checking their owner and mode) and open the
 * ledger. Idempotent and thread-safe. */
int ctx_open(struct volmount_ctx *ctx);

/*
 * Record the calling thread's failure: returns @r (a negative errno) so callers can write
 * "return ctx_error(ctx, -EINVAL, VOLMOUNT_ERR_INPUT, "bad volume '%s'", v);".
 */
int ctx_error(struct volmount_ctx *ctx, int r, enum volmount_errkind kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Clear the calling thread's error slot (at the start of every public call). */
void ctx_clear_error(struct volmount_ctx *ctx);
/* True if the calling thread's slot already holds a failure (so callers don't overwrite the
 * more specific message of a callee). */
bool ctx_has_error(const struct volmount_ctx *ctx);

/* Monotonic clock in milliseconds. */
uint64_t now_ms(void);
/* Sleep for @ms milliseconds (restarted on EINTR). */
void sleep_ms(unsigned ms);

/* Read /proc/sys/kernel/random/boot_id into @buf (at least 37 bytes). */
int read_boot_id(char *buf, size_t size);

/* Ledger access serialised per context. */
void ctx_db_lock(struct volmount_ctx *ctx);
void ctx_db_unlock(struct volmount_ctx *ctx);
