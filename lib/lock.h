/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lock.h - OFD locks (F_OFD_SETLK) that serialise operations between threads and processes
 * alike: the host lock (<run>/host.lock; shared for attach/detach, exclusive for host-up and
 * host-down) and one lock per share (<run>/locks/<hash>.lock). Every wait is bounded by a
 * deadline; lock files are never deleted while the host is up.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The lock state of one context (lock.c): its run directory, the shared host lock's
 * description and the cached share-lock descriptions. */
struct lock_cache;

/* At most this many share-lock descriptions are kept open per cache. */
#define LOCK_CACHE_FDS 32

/* A new cache, registered with the fork handlers; -ENOMEM. */
int lock_cache_new(struct lock_cache **ret);
/* Give it the run directory and <run>/locks (O_PATH fds it takes and closes), the run
 * directory's name and the wait bound for messages. 0 or -ENOMEM. */
int lock_cache_set_dirs(struct lock_cache *lc, int run_fd, int locks_fd, const char *run_dir,
			unsigned timeout_ms);
/* Close what it holds (no lock may be held) and free it; NULL is fine. */
void lock_cache_free(struct lock_cache *lc);

/* Returns an fd holding the lock (release with lock_release()), -ETIMEDOUT when @deadline_ms
 * (a now_ms() value) passes, or another -errno. */
int lock_host(struct lock_cache *lc, bool exclusive, uint64_t deadline_ms);
/* Turn the exclusive host lock @fd (lock_host(..., true, ...)) into a shared one without
 * letting go, and mark a reconcile in progress until @fd is released: attach and detach may
 * enter again, host-up, host-down and gc still wait. 0 or -errno (set). */
int lock_host_downgrade(int fd);
/* lock_host(lc, true, deadline_ms) for the first call after a reboot, which gives way to a
 * reconcile: -EINPROGRESS (no error set, nothing held) as soon as, while it waits, another
 * description's reconcile is in progress (lock_host_downgrade()), which reconciles every share
 * before it lets that share's lock go. It never keeps the gate while that reconcile runs. */
int lock_host_unless_reconciling(struct lock_cache *lc, uint64_t deadline_ms);
/* The shared host lock of attach and detach, one description per context for all its
 * threads (see lock.c). Returns 0 or -errno; release with lock_host_shared_release(). */
int lock_host_shared(struct lock_cache *lc, uint64_t deadline_ms);
void lock_host_shared_release(struct lock_cache *lc);
/* The lock of one share. Returns an fd holding it, -ETIMEDOUT, or another -errno; release
 * with lock_share_release() (which keeps the description for the next lock of that share)
 * or lock_release(). */
int lock_share(struct lock_cache *lc, const char *hash, uint64_t deadline_ms);
void lock_share_release(struct lock_cache *lc, const char *hash, int fd);
/* This process's generation: raised in every child fork() makes (see lock.c). */
unsigned lock_process_gen(void);

/* Close @fd, which releases its locks. Accepts negative fds. */
void lock_release(int fd);
