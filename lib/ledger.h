/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ledger.h - the durable record of shares and attachments (SQLite). The only module that
 * includes <sqlite3.h>. Every write is one short BEGIN IMMEDIATE transaction; none is ever held
 * across a mount. One connection may serve many threads: each call holds the connection's
 * own mutex for its one transaction.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "volmount.h"

struct ledger;

/* Share states as recorded (desired/progress, not observation). */
#define LEDGER_PENDING    "pending"    /* row written, mount not yet verified */
#define LEDGER_MOUNTED    "mounted"    /* mounted and verified; mount_id recorded */
#define LEDGER_UNMOUNTING "unmounting" /* last attachment gone; unmount in progress */

struct ledger_share {
	char *hash;
	char *driver;
	char *export;     /* normalized */
	char *mountpoint;
	char *options;    /* canonical */
	char *state;      /* LEDGER_* */
	uint64_t mount_id; /* 0: none recorded */
	bool dir_created;  /* we created the mountpoint directory, so we may remove it */
	bool adopted;      /* a mount someone else made, taken over by host-up (or an attach)
			    * and kept although no attachment uses it yet; the first attach
			    * clears it, and from then on the share is like any other */
	size_t n_attachments;
};

struct ledger_attachment {
	char *volume;
	char *owner;
};

struct ledger_host {
	char state[8]; /* "up" | "down" */
	uint64_t generation;
	char boot_id[40];
};

void ledger_share_done(struct ledger_share *s);
void ledger_shares_free(struct ledger_share *s, size_t n);
void ledger_attachments_free(struct ledger_attachment *a, size_t n);

/* Open or create <state_dir>/ledger.db (0600) through @state_fd, migrate, set pragmas. */
int ledger_open(int state_fd, const char *state_dir,
		enum volmount_durability d, unsigned busy_timeout_ms, struct ledger **ret);
void ledger_close(struct ledger *l);
/* Tests only: called between the check of the ledger file and SQLite's open of it. */
extern void (*ledger_test_before_sqlite)(int state_fd);

/*
 * The path scheme this connection works with ("volmount" or "nova"). The ledger records the
 * scheme of its shares: ledger_scheme_claim() adopts @scheme when no share exists, and from
 * then on ledger_share_insert() refuses (-EXDEV) a share when the recorded scheme is another
 * (checked in its transaction, so two processes configured differently cannot both win).
 */
void ledger_set_scheme(struct ledger *l, const char *scheme);
/*
 * Make the connection's scheme the ledger's if no share exists. Returns 0, or -EXDEV when
 * shares of another scheme exist: then *ret_recorded (@size bytes) names that scheme and
 * *ret_n_shares says how many there are.
 */
int ledger_scheme_claim(struct ledger *l, char *ret_recorded, size_t size, size_t *ret_n_shares);

int ledger_host_get(struct ledger *l, struct ledger_host *ret);
/* Set the host state; with @bump, raise the generation; record @boot_id if not NULL. */
int ledger_host_set(struct ledger *l, const char *state, bool bump, const char *boot_id);

/* -ENOENT if no share has @hash. */
int ledger_share_get(struct ledger *l, const char *hash, struct ledger_share *ret);
/* The host row and the share @hash in one read: 0, or -ENOENT (then only *ret_host is set). */
int ledger_host_share_get(struct ledger *l, const char *hash, struct ledger_host *ret_host,
			  struct ledger_share *ret);
/* Insert a share row (state, mount id, dir_created and adopted as given; state NULL means
 * pending). Fails with -EEXIST if the hash or the mountpoint is taken, -EXDEV if the ledger's
 * shares use another path scheme (see ledger_set_scheme()). */
int ledger_share_insert(struct ledger *l, const struct ledger_share *s);
/* Update state and mount id of a share. */
int ledger_share_set(struct ledger *l, const char *hash, const char *state, uint64_t mount_id);
/* Every share's mount id to 0, and the host's boot to @boot_id, in one transaction: after a
 * reboot a recorded id names no mount of ours, and a mount of this boot may carry it (ids are
 * handed out alike each boot); from then on every id recorded is of this boot. */
int ledger_shares_forget_mount_ids(struct ledger *l, const char *boot_id);
int ledger_share_delete(struct ledger *l, const char *hash);

/*
 * In one transaction: mark the share mounted with @mount_id (if @mount_id != 0), add the
 * attachment (a no-op if present) and clear the share's adopted flag (an attachment uses it
 * now). *ret_added tells whether the attachment was new.
 */
int ledger_attach(struct ledger *l, const char *hash, uint64_t mount_id, const char *volume,
		  const char *owner, bool *ret_added);
/*
 * As ledger_attach(); with @options not NULL, the share's recorded options also become
 * @options in the same transaction (the first attach on an adopted share states the options
 * the share is mounted with from then on).
 */
int ledger_attach_claim(struct ledger *l, const char *hash, uint64_t mount_id,
			const char *options, const char *volume, const char *owner,
			bool *ret_added);
/*
 * In one transaction: remove the attachment; if none remain, mark the share unmounting.
 * *ret_removed: whether it existed; *ret_remaining: attachments left.
 */
int ledger_detach(struct ledger *l, const char *hash, const char *volume, const char *owner,
		  bool *ret_removed, size_t *ret_remaining);

/*
 * The warm attach in one write transaction: if the host is up and the share is recorded
 * mounted, not adopted, with mount id @mount_id and options @options, and has at least one
 * attachment already (so this one never decides whether it stays mounted), add it.
 * Returns 1 when it was added (or was there), 0 when the share is not in that state (nothing
 * written: the caller takes the general path), -EHOSTDOWN when the host is down (*ret_host
 * says its generation; no error is recorded), or -errno.
 */
int ledger_attach_warm(struct ledger *l, const char *hash, uint64_t mount_id, const char *options,
		       const char *volume, const char *owner, struct ledger_host *ret_host);
/*
 * ledger_detach() with the reads it depends on in the same transaction. When no attachment is
 * left, *ret_row is the share with its state as it was before (caller frees it); otherwise it
 * is left empty. -EHOSTDOWN when the host is down (*ret_host set; no error recorded), -ENOENT
 * when there is no such share or it is adopted; nothing is written then.
 */
int ledger_detach_checked(struct ledger *l, const char *hash, const char *volume,
			  const char *owner, struct ledger_host *ret_host,
			  struct ledger_share *ret_row, bool *ret_removed, size_t *ret_remaining);

/*
 * The warm detach: ledger_detach_checked() when at least one attachment is left after it, so
 * the share stays mounted. Returns 1 when done, 0 when it would be the last, the share is not
 * there or adopted, or the host is down (nothing written: the caller takes the general path),
 * or -errno. With 1 or 0, *ret_removed says whether the attachment was there.
 */
int ledger_detach_warm(struct ledger *l, const char *hash, const char *volume,
		       const char *owner, bool *ret_removed);

/* All shares (ordered by mountpoint), with n_attachments filled. */
int ledger_shares_list(struct ledger *l, struct ledger_share **ret, size_t *ret_n);
/* Attachments of one share (ordered by volume, owner). */
int ledger_attachments_list(struct ledger *l, const char *hash, struct ledger_attachment **ret,
			    size_t *ret_n);

/*
 * Everything a snapshot shows, in one read transaction (so as of one commit, and in three
 * statements whatever the number of shares): the host row, every share ordered by mountpoint
 * with n_attachments filled, and all attachments in one array, share i's being
 * (*ret_atts)[(*ret_first)[i]] up to (*ret_first)[i + 1], ordered by volume and owner.
 * Free with ledger_shares_free(*ret, *ret_n), ledger_attachments_free(*ret_atts,
 * (*ret_first)[*ret_n]) and free(*ret_first).
 */
int ledger_read_all(struct ledger *l, struct ledger_host *ret_host, struct ledger_share **ret,
		    size_t *ret_n, struct ledger_attachment **ret_atts, size_t **ret_first);
