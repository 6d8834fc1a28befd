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

struct volmount_ctx;

/* Returns an fd holding the lock (release with lock_release()), -ETIMEDOUT when @deadline_ms
 * (a now_ms() value) passes, or another -errno. */
int lock_host(struct volmount_ctx *ctx, bool exclusive, uint64_t deadline_ms);
/* The shared host lock of attach and detach, one description per context for all its
 * threads (see lock.c). Returns 0 or -errno; release with lock_host_shared_release(). */
int lock_host_shared(struct volmount_ctx *ctx, uint64_t deadline_ms);
void lock_host_shared_release(struct volmount_ctx *ctx);
/* The lock of one share. Returns an fd holding it, -ETIMEDOUT, or another -errno; release
 * with lock_share_release() (which keeps the description for the next lock of that share)
 * or lock_release(). */
int lock_share(struct volmount_ctx *ctx, const char *hash, uint64_t deadline_ms);
void lock_share_release(struct volmount_ctx *ctx, const char *hash, int fd);
/* Set up the context's cache of share-lock descriptions (and register it with the fork
 * handlers); drop it again, closing what it holds (none may be held). */
void lock_share_cache_init(struct volmount_ctx *ctx);
void lock_share_cache_drop(struct volmount_ctx *ctx);
/* This process's generation: raised in every child fork() makes (see lock.c). */
unsigned lock_process_gen(void);

/* Close @fd, which releases its locks. Accepts negative fds. */
void lock_release(int fd);
