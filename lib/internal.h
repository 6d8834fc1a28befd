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

#include "error.h"
#include "input-caps.h"
#include "time-util.h"
#include "visibility.h"

#define VOLMOUNT_DEFAULT_STATE_DIR "/var/lib/volmount"
#define VOLMOUNT_DEFAULT_BASE_DIR  "/var/lib/volmount/mnt"
#define VOLMOUNT_DEFAULT_RUN_DIR   "/run/volmount"
#define VOLMOUNT_DEFAULT_TIMEOUT_MS 30000u
#define VOLMOUNT_DEFAULT_PROBE_TIMEOUT_MS 5000u
/* Shares worked on at once by host-up, the first call after a reboot and repair, and so the
 * most helpers they run at once (volmount_ctx_set_max_helpers()). The ceiling leaves the
 * executor (EXEC_SLOTS_MAX children per process) room for probes and forced unmounts. */
#define VOLMOUNT_DEFAULT_MAX_HELPERS 16u
#define VOLMOUNT_MAX_HELPERS_MAX 32u


struct ledger;
struct lock_cache;

struct volmount_ctx {
	char *paths[_VOLMOUNT_PATH_MAX];
	unsigned timeout_ms;
	unsigned probe_timeout_ms; /* liveness probe deadline (check, repair, monitor) */
	unsigned max_helpers; /* shares worked on at once by host-up and repair (fanout.c) */
	enum volmount_durability durability;
	enum volmount_path_scheme path_scheme; /* how mountpoints are named (engine.h) */

	/* Opened lazily by ctx_open(); guarded by open_lock. */
	pthread_mutex_t open_lock;
	bool opened;
	struct ledger *ledger;
	/* The canonical base directory (its parents may be symlinks; the kernel reports canonical
	 * mount points). Set once by ctx_open(), read with an atomic load: see ctx_base(). */
	char *base_canon;
	char *base_canon_retired; /* the one before, if a failed open was retried */
	int base_fd;  /* O_PATH of the base directory, checked root-owned and not writable by others */
	uint64_t base_mnt_id; /* the unique id of base_fd's mount (fixed for the fd); 0: unknown */
	struct lock_cache *locks; /* lock.c's state: host lock, share-lock descriptions */
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

/* Read /proc/sys/kernel/random/boot_id into @buf (at least 37 bytes). */
int read_boot_id(char *buf, size_t size);

