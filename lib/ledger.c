/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ledger.c - desired state in SQLite: the host row (state, generation, boot id), shares and
 * their attachments. The only file that includes <sqlite3.h>; everything above it sees -errno
 * and plain structs.
 *
 * Design notes:
 * (1) Every write is one BEGIN IMMEDIATE ... COMMIT, so the write lock is taken up front and a
 *     concurrent writer waits (bounded by the busy timeout) instead of failing mid-transaction.
 * (2) No transaction is ever open when a function here returns: a mount is never performed
 *     while the database is locked.
 * (3) SQL is static text with bound parameters; statements are prepared once per connection.
 * (4) Durability NORMAL = WAL + synchronous=NORMAL: every commit survives a process crash;
 *     FULL = synchronous=FULL: a commit also survives power loss.
 * (5) The schema version is PRAGMA user_version; migrations are append-only.
 * (6) The warm paths (an attach to a share already mounted, a detach that is not the last)
 *     run the statements of the change alone, BEGIN IMMEDIATE, one INSERT or DELETE, COMMIT,
 *     when the database is provably as this connection's previous warm call left it (struct
 *     warm_cache); otherwise they read host and share first, in the same transaction.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "time-util.h"
#include "ledger.h"
#include "cleanup.h"
#include "errno-util.h"
#include "array-util.h"

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_HOST_GET,
	ST_HOST_SHARE_GET,
	ST_HOST_SHARE_WARM,
	ST_HOST_SET,
	ST_HOST_BUMP,
	ST_HOST_BOOT,
	ST_SHARE_GET,
	ST_SHARE_INSERT,
	ST_SHARE_SET,
	ST_SHARE_SET_STATE,
	ST_SHARES_FORGET_IDS,
	ST_SHARE_DELETE,
	ST_ATT_INSERT,
	ST_ATT_DELETE,
	ST_ATT_COUNT,
	ST_SHARES_LIST,
	ST_ATTS_LIST,
	ST_SCHEME_GET,
	ST_SHARE_COUNT,
	ST_SCHEME_SET,
	ST_SHARE_CLAIM,
	_ST_MAX
};

static const char *const stmt_sql[_ST_MAX] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_HOST_GET] = "SELECT state, generation, boot_id FROM host WHERE id = 1",
	[ST_HOST_SHARE_GET] = "SELECT h.state, h.generation, h.boot_id,"
			      " s.hash, s.driver, s.export, s.mountpoint, s.options, s.state,"
			      " s.mount_id, s.dir_created, s.adopted,"
			      " (SELECT count(*) FROM attachments a WHERE a.hash = s.hash)"
			      " FROM host h LEFT JOIN shares s ON s.hash = ?1 WHERE h.id = 1",
	/* What a warm attach and a detach decide on, in one read: the host, the share's state,
	 * mount id, options and adopted flag, and its number of attachments. */
	[ST_HOST_SHARE_WARM] = "SELECT h.state, h.generation, s.state, s.mount_id, s.options, s.adopted,"
			       " (SELECT count(*) FROM attachments a WHERE a.hash = ?1)"
			       " FROM host h LEFT JOIN shares s ON s.hash = ?1 WHERE h.id = 1",
	[ST_HOST_SET] = "UPDATE host SET state = ?1 WHERE id = 1",
	[ST_HOST_BUMP] = "UPDATE host SET generation = generation + 1 WHERE id = 1",
	[ST_HOST_BOOT] = "UPDATE host SET boot_id = ?1 WHERE id = 1",
	[ST_SHARE_GET] = "SELECT s.hash, s.driver, s.export, s.mountpoint, s.options, s.state,"
			 " s.mount_id, s.dir_created, s.adopted,"
			 " (SELECT count(*) FROM attachments a WHERE a.hash = s.hash)"
			 " FROM shares s WHERE s.hash = ?1",
	[ST_SHARE_INSERT] = "INSERT INTO shares (hash, driver, export, mountpoint, options, state,"
			    " mount_id, dir_created, adopted)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_SHARE_SET] = "UPDATE shares SET state = ?2, mount_id = ?3 WHERE hash = ?1",
	[ST_SHARE_SET_STATE] = "UPDATE shares SET state = ?2 WHERE hash = ?1",
	[ST_SHARES_FORGET_IDS] = "UPDATE shares SET mount_id = 0 WHERE mount_id != 0",
	[ST_SHARE_DELETE] = "DELETE FROM shares WHERE hash = ?1",
	[ST_ATT_INSERT] = "INSERT OR IGNORE INTO attachments (hash, volume, owner) VALUES (?1, ?2, ?3)",
	[ST_ATT_DELETE] = "DELETE FROM attachments WHERE hash = ?1 AND volume = ?2 AND owner = ?3",
	[ST_ATT_COUNT] = "SELECT count(*) FROM attachments WHERE hash = ?1",
	[ST_SHARES_LIST] = "SELECT s.hash, s.driver, s.export, s.mountpoint, s.options, s.state,"
			   " s.mount_id, s.dir_created, s.adopted,"
			   " (SELECT count(*) FROM attachments a WHERE a.hash = s.hash)"
			   " FROM shares s ORDER BY s.mountpoint",
	[ST_ATTS_LIST] = "SELECT volume, owner FROM attachments WHERE hash = ?1"
			 " ORDER BY volume, owner",
	[ST_SCHEME_GET] = "SELECT path_scheme, EXISTS (SELECT 1 FROM shares) FROM host WHERE id = 1",
	[ST_SHARE_COUNT] = "SELECT count(*) FROM shares",
	[ST_SCHEME_SET] = "UPDATE host SET path_scheme = ?1 WHERE id = 1",
	[ST_SHARE_CLAIM] = "UPDATE shares SET adopted = 0, options = coalesce(?2, options)"
			   " WHERE hash = ?1",
};

/* Append-only: entry N brings the schema from version N-1 to N. */
static const char *const migrations[] = {
	[1] = "CREATE TABLE host ("
	      "  id INTEGER PRIMARY KEY CHECK (id = 1),"
	      "  state TEXT NOT NULL CHECK (state IN ('up', 'down')),"
	      "  generation INTEGER NOT NULL,"
	      "  boot_id TEXT NOT NULL) STRICT;"
	      "INSERT INTO host (id, state, generation, boot_id) VALUES (1, 'up', 0, '');"
	      "CREATE TABLE shares ("
	      "  hash TEXT PRIMARY KEY,"
	      "  driver TEXT NOT NULL,"
	      "  export TEXT NOT NULL,"
	      "  mountpoint TEXT NOT NULL UNIQUE,"
	      "  options TEXT NOT NULL,"
	      "  state TEXT NOT NULL CHECK (state IN ('pending', 'mounted', 'unmounting')),"
	      "  mount_id INTEGER NOT NULL DEFAULT 0,"
	      "  dir_created INTEGER NOT NULL) STRICT;"
	      "CREATE TABLE attachments ("
	      "  hash TEXT NOT NULL REFERENCES shares (hash) ON DELETE CASCADE,"
	      "  volume TEXT NOT NULL,"
	      "  owner TEXT NOT NULL,"
	      "  PRIMARY KEY (hash, volume, owner)) STRICT, WITHOUT ROWID;",
	/* Adoption of mounts made by others (Nova, os-brick), and the path scheme of the
	 * ledger's shares, so a context configured for the other scheme is refused. */
	[2] = "ALTER TABLE shares ADD COLUMN adopted INTEGER NOT NULL DEFAULT 0"
	      "  CHECK (adopted IN (0, 1));"
	      "ALTER TABLE host ADD COLUMN path_scheme TEXT NOT NULL DEFAULT 'volmount'"
	      "  CHECK (path_scheme IN ('volmount', 'nova'));",
	/* The shares keyed by their hash alone (WITHOUT ROWID): a lookup by hash is one
	 * b-tree instead of an index and the table, and inserting or deleting a share writes
	 * two pages instead of three (bench case 1). Rebuilt as SQLite's ALTER TABLE
	 * procedure says, with foreign keys off (migrate() runs before they are switched on):
	 * dropping the old table must not cascade into the attachments. */
	[3] = "CREATE TABLE shares_v3 ("
	      "  hash TEXT PRIMARY KEY,"
	      "  driver TEXT NOT NULL,"
	      "  export TEXT NOT NULL,"
	      "  mountpoint TEXT NOT NULL UNIQUE,"
	      "  options TEXT NOT NULL,"
	      "  state TEXT NOT NULL CHECK (state IN ('pending', 'mounted', 'unmounting')),"
	      "  mount_id INTEGER NOT NULL DEFAULT 0,"
	      "  dir_created INTEGER NOT NULL,"
	      "  adopted INTEGER NOT NULL DEFAULT 0 CHECK (adopted IN (0, 1))) STRICT, WITHOUT ROWID;"
	      "INSERT INTO shares_v3 (hash, driver, export, mountpoint, options, state, mount_id,"
	      "  dir_created, adopted)"
	      "  SELECT hash, driver, export, mountpoint, options, state, mount_id, dir_created,"
	      "  adopted FROM shares;"
	      "DROP TABLE shares;"
	      "ALTER TABLE shares_v3 RENAME TO shares;",
	/* Recorded mount ids are trusted by their boot (host.c, boot_is_ours()): a plain boot
	 * id now vouches that every id was verified in that boot, and '~<boot>' that they are of
	 * that boot. Ledgers of earlier builds give no such promise (a reconcile of a new boot
	 * kept the old id on a row it left untouched): the first call after the upgrade
	 * reconciles as after a reboot, and verifies every mount again. */
	[4] = "UPDATE host SET boot_id = '' WHERE boot_id NOT LIKE '~%';",
};

#define LEDGER_SCHEMA_VERSION ((int)ELEMENTSOF(migrations) - 1)

/*
 * The warm paths' read, kept (design note 6): what the last warm attach or detach of one
 * share read or wrote, valid only while SQLite's data version (SQLITE_FCNTL_DATA_VERSION) is
 * the one it had after that call's own commit. The version moves with every commit of this
 * connection and, seen from a transaction, with every change another connection made, so a
 * transaction that finds it unchanged knows the database is exactly as this connection left
 * it. Only a share that exists, is not adopted, on a host that is up, is kept.
 */
struct warm_cache {
	bool valid;
	unsigned version;
	char hash[65];
	bool mounted; /* state "mounted" */
	uint64_t mount_id;
	char *options;
	size_t n_attachments;
};

struct ledger {
	/* One connection serves every thread of its context: each public function holds this
	 * mutex for its one transaction, never across a mount (design note 2). It is not
	 * recursive: public functions never call each other, only the unlocked helpers that
	 * run inside a transaction (named *_in, or documented "Inside a transaction"). */
	pthread_mutex_t mu;
	sqlite3 *db;
	unsigned busy_timeout_ms;
	uint64_t busy_since_ms;
	int wal_frames; /* frames in the WAL after this connection's last commit */
	pid_t pid;      /* the process that opened the connection */
	int dir_fd;     /* the pinned state directory SQLite reaches the files through */
	sqlite3_stmt *st[_ST_MAX];
	const char *scheme; /* static string; NULL: inserts are not checked */
	struct warm_cache warm;
};

static struct ledger *ledger_lock(struct ledger *l)
{
	(void)pthread_mutex_lock(&l->mu);
	return l;
}

static void ledger_unlockp(struct ledger **l)
{
	if (*l)
		(void)pthread_mutex_unlock(&(*l)->mu);
}

/* First statement of every public function that touches the connection; never of a helper
 * another function calls with the mutex held (it would deadlock: the mutex is plain). */
#define LEDGER_LOCKED(l) \
	_cleanup_(ledger_unlockp) __attribute__((unused)) struct ledger *_ledger_held = ledger_lock(l)

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EAGAIN;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_READONLY:
		return -EACCES;
	case SQLITE_FULL:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

/* Record the SQLite failure on the calling thread's error slot; returns the -errno. */
static int fail(struct ledger *l, int rc, const char *what)
{
	int r = map_rc(rc);
	enum volmount_errkind kind = r == -EAGAIN ? VOLMOUNT_ERR_TEMPFAIL :
				     r == -ENOMEM ? VOLMOUNT_ERR_INTERNAL :
				     r == -EACCES ? VOLMOUNT_ERR_PERM :
						    VOLMOUNT_ERR_IO;

	if (r == 0)
		r = -EIO;
	return error_set(r, kind, "ledger: %s: %s", what,
			 l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
}

static int stmt(struct ledger *l, enum stmt_id id, sqlite3_stmt **ret)
{
	int rc;

	if (!l->st[id]) {
		rc = sqlite3_prepare_v3(l->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					&l->st[id], NULL);
		if (rc != SQLITE_OK)
			return fail(l, rc, "prepare");
	}
	*ret = l->st[id];
	return 0;
}

static void stmt_done(sqlite3_stmt *s)
{
	(void)sqlite3_reset(s); /* the error, if any, was reported by sqlite3_step() */
	(void)sqlite3_clear_bindings(s);
}

/* Run a statement that returns no rows, with up to three text/int bindings already bound. */
static int step_done(struct ledger *l, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	stmt_done(s);
	if (rc != SQLITE_DONE)
		return fail(l, rc, what);
	return 0;
}

static int exec_id(struct ledger *l, enum stmt_id id, const char *what)
{
	sqlite3_stmt *s = NULL;
	int r = stmt(l, id, &s);

	if (r < 0)
		return r;
	return step_done(l, s, what);
}

static int begin(struct ledger *l)
{
	return exec_id(l, ST_BEGIN, "begin");
}

/* COMMIT if @r >= 0, else ROLLBACK if a transaction is open; returns the first error.
 * Safe to call when begin() itself failed. */
static int end(struct ledger *l, int r)
{
	/* Whatever was written, the warm paths' read is out of date: they keep it again
	 * after their own commit (warm_keep()). */
	l->warm.valid = false;
	if (r >= 0) {
		int k = exec_id(l, ST_COMMIT, "commit");

		if (k >= 0)
			return r;
		r = k;
	}
	if (sqlite3_get_autocommit(l->db) == 0)
		(void)exec_id(l, ST_ROLLBACK, "rollback"); /* keep the first error */
	return r;
}

static int bind_text(struct ledger *l, sqlite3_stmt *s, int i, const char *v)
{
	int rc = sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);

	return rc == SQLITE_OK ? 0 : fail(l, rc, "bind");
}

static int bind_u64(struct ledger *l, sqlite3_stmt *s, int i, uint64_t v)
{
	int rc = sqlite3_bind_int64(s, i, (sqlite3_int64)v);

	return rc == SQLITE_OK ? 0 : fail(l, rc, "bind");
}

static int col_strdup(sqlite3_stmt *s, int i, char **ret)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	*ret = strdup(t ? (const char *)t : "");
	return *ret ? 0 : -ENOMEM;
}

/* After migration @v, inside its transaction: every foreign key still points at a row
 * (PRAGMA foreign_key_check returns none), or the migration is rolled back. */
static int foreign_keys_hold(struct ledger *l, int v)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(l->db, "PRAGMA foreign_key_check", -1, &s, NULL);

	if (rc != SQLITE_OK)
		return fail(l, rc, "migrate: foreign key check");
	rc = sqlite3_step(s);
	(void)sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return error_set(-EPROTO, VOLMOUNT_ERR_INTERNAL,
				 "ledger: migration to schema %d would leave attachments without their share; not applied",
				 v);
	return rc == SQLITE_DONE ? 0 : fail(l, rc, "migrate: foreign key check");
}

static int migrate(struct ledger *l)
{
	sqlite3_stmt *s = NULL;
	int version, rc, r;

	rc = sqlite3_prepare_v2(l->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return fail(l, rc, "read schema version");
	rc = sqlite3_step(s);
	version = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	(void)sqlite3_finalize(s);
	if (version < 0)
		return fail(l, rc, "read schema version");
	if (version > LEDGER_SCHEMA_VERSION)
		return error_set(-EPROTO, VOLMOUNT_ERR_CONFIG,
				 "ledger schema version %d is newer than this volmount (%d)",
				 version, LEDGER_SCHEMA_VERSION);
	for (int v = version + 1; v <= LEDGER_SCHEMA_VERSION; v++) {
		char pragma[64];

		r = begin(l);
		if (r < 0)
			return r;
		/* Another process may have migrated while we waited for the write lock. */
		rc = sqlite3_prepare_v2(l->db, "PRAGMA user_version", -1, &s, NULL);
		if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
		    sqlite3_column_int(s, 0) >= v) {
			(void)sqlite3_finalize(s);
			(void)end(l, 0);
			continue;
		}
		(void)sqlite3_finalize(s);
		rc = sqlite3_exec(l->db, migrations[v], NULL, NULL, NULL);
		r = rc == SQLITE_OK ? 0 : fail(l, rc, "migrate");
		if (r >= 0)
			r = foreign_keys_hold(l, v);
		if (r >= 0) {
			(void)snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v);
			rc = sqlite3_exec(l->db, pragma, NULL, NULL, NULL);
			r = rc == SQLITE_OK ? 0 : fail(l, rc, "migrate");
		}
		r = end(l, r);
		if (r < 0)
			return r;
	}
	return 0;
}

static int busy_wait(void *arg, int count)
{
	struct ledger *l = arg;
	uint64_t now = now_ms();
	struct timespec ts = { 0 };
	unsigned us = count < 6 ? 20u << count : 1000u; /* 20 us doubling to 1 ms */

	if (count == 0)
		l->busy_since_ms = now;
	if (now - l->busy_since_ms >= l->busy_timeout_ms)
		return 0; /* give up: the caller reports SQLITE_BUSY as a temporary failure */
	ts.tv_nsec = (long)us * 1000L;
	(void)nanosleep(&ts, NULL); /* EINTR only shortens one wait; the bound still holds */
	return 1;
}

/*
 * The WAL's length, and SQLite's automatic checkpoint (which installing a hook replaces): a
 * passive checkpoint once the WAL holds LEDGER_AUTOCHECKPOINT frames, as SQLite does by default.
 */
#define LEDGER_AUTOCHECKPOINT 1000
/* The last connection to close, with at least this many frames in the WAL, checkpoints and
 * empties it (below). */
#define LEDGER_CLOSE_CHECKPOINT 64

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct ledger *l = arg;

	l->wal_frames = frames;
	if (frames >= LEDGER_AUTOCHECKPOINT)
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

/* ---- the pinned state directory ----
 *
 * SQLite opens files by name: the database, then "<name>-wal" and "<name>-shm". Named by the
 * configured path, each would be looked up again from "/" at its own moment, so a directory
 * swapped in meanwhile would get our ledger's WAL, or hand us a decoy ledger. Instead SQLite is
 * given "/proc/self/fd/<N>/ledger.db", where N is the state directory volmount opened and
 * checked (ctx.c): every file SQLite opens is then looked up in that directory, whatever
 * happens to the names above it. The unix VFS would resolve that magic link back into a path
 * string (its xFullPathname follows symlinks), so the connection uses a copy of it, registered
 * as "volmount-pinned", whose xFullPathname takes an absolute name as it is.
 */
static sqlite3_vfs pinned_vfs;
static int pinned_vfs_rc = SQLITE_ERROR;
static pthread_once_t pinned_vfs_once = PTHREAD_ONCE_INIT;

static int pinned_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out)
{
	size_t n = strlen(name);

	(void)vfs;
	if (name[0] != '/' || size < 0 || n >= (size_t)size)
		return SQLITE_CANTOPEN;
	memcpy(out, name, n + 1);
	return SQLITE_OK;
}

static void pinned_vfs_register(void)
{
	sqlite3_vfs *unix_vfs = sqlite3_vfs_find("unix");

	if (!unix_vfs)
		return;
	pinned_vfs = *unix_vfs;
	pinned_vfs.zName = "volmount-pinned";
	pinned_vfs.pNext = NULL;
	pinned_vfs.xFullPathname = pinned_full_pathname;
	pinned_vfs_rc = sqlite3_vfs_register(&pinned_vfs, 0);
}

/* Does any fd of this process refer to the file (@dev, @ino)? */
static bool process_holds(dev_t dev, ino_t ino)
{
	struct dirent *de;
	bool found = false;
	DIR *d = opendir("/proc/self/fd");

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] != '.' &&
		    fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISREG(st.st_mode))
			found = st.st_dev == dev && st.st_ino == ino;
	}
	(void)closedir(d);
	return found;
}

void (*ledger_test_before_sqlite)(int state_fd);

/*
 * Create the ledger file ourselves so its mode is 0600 whatever the umask, and check what is
 * there on the fd: a regular file of ours, not a symlink planted in its place. *ret_st is the
 * file checked. The fd is closed before SQLite opens the file, never after: closing any fd on
 * a file drops every POSIX lock this process holds on it, SQLite's included. Without its lock
 * on the database, another process closing its connection believes it is the last one, and
 * checkpoints and deletes the WAL under us: our later commits then go to an unlinked file and
 * are lost (seen as share rows vanishing in the SIGKILL churn test).
 */
static int ledger_file_check(int state_fd, const char *state_dir, struct stat *ret_st)
{
	_cleanup_close_ int fd = -EBADF;

	fd = openat(state_fd, "ledger.db", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		    0600);
	if (fd < 0)
		return error_set(-errno, VOLMOUNT_ERR_PERM, "cannot open ledger in '%s': %s",
				 state_dir, errno_str(errno));
	if (fstat(fd, ret_st) < 0)
		return error_set(-errno, VOLMOUNT_ERR_PERM, "cannot inspect ledger in '%s': %s",
				 state_dir, errno_str(errno));
	if (!S_ISREG(ret_st->st_mode) || ret_st->st_uid != geteuid())
		return error_set(-EPERM, VOLMOUNT_ERR_PERM,
				 "ledger '%s/ledger.db' is not a regular file owned by uid %u",
				 state_dir, (unsigned)geteuid());
	if ((ret_st->st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
		return error_set(-errno, VOLMOUNT_ERR_PERM, "cannot chmod ledger in '%s': %s",
				 state_dir, errno_str(errno));
	return 0;
}

/* A struct ledger with no connection yet, holding its own descriptor of the state directory
 * (the pinned directory SQLite reaches the files through). */
static int ledger_new(int state_fd, const char *state_dir, struct ledger **ret)
{
	struct ledger *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	(void)pthread_mutex_init(&l->mu, NULL); /* cannot fail with default attributes */
	l->pid = getpid();
	l->dir_fd = fcntl(state_fd, F_DUPFD_CLOEXEC, 3);
	if (l->dir_fd < 0) {
		r = error_set(-errno, VOLMOUNT_ERR_INTERNAL, "ledger: cannot keep '%s' open: %s",
			      state_dir, errno_str(errno));
		ledger_close(l);
		return r;
	}
	*ret = l;
	return 0;
}

/*
 * Open the connection through the pinned directory. SQLite opens the database file at once:
 * some fd of ours must then refer to the file @checked, or SQLite was handed another one
 * (replaced in the directory meanwhile, which only root can do there). The file we checked and
 * closed is otherwise held only by another connection of this process to this same ledger,
 * which is then no decoy.
 */
static int ledger_connect(struct ledger *l, int state_fd, const char *state_dir,
			  const struct stat *checked)
{
	_cleanup_free_ char *path = NULL;
	int rc;

	if (asprintf(&path, "/proc/self/fd/%d/ledger.db", l->dir_fd) < 0)
		return -ENOMEM;
	if (ledger_test_before_sqlite)
		ledger_test_before_sqlite(state_fd);
	rc = sqlite3_open_v2(path, &l->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_EXRESCODE |
				     SQLITE_OPEN_NOMUTEX,
			     pinned_vfs.zName);
	if (rc != SQLITE_OK)
		return fail(l, rc, "open");
	if (!process_holds(checked->st_dev, checked->st_ino))
		return error_set(-EPERM, VOLMOUNT_ERR_PERM,
				 "ledger '%s/ledger.db' changed while it was being opened: SQLite opened another file than the one checked",
				 state_dir);
	return 0;
}

/* The connection's settings that are not SQL: safety, waiting, checkpoints. */
static void ledger_configure(struct ledger *l, unsigned busy_timeout_ms)
{
	int one = 1;

	(void)sqlite3_db_config(l->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	(void)sqlite3_db_config(l->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	/* Our own busy handler: SQLite's default sleeps 1, 2, 5, 10 ms... between tries, far
	 * longer than our transactions last; a short bounded backoff keeps contending
	 * processes moving (bench case 4: +50% operations per second). */
	l->busy_timeout_ms = busy_timeout_ms;
	(void)sqlite3_busy_handler(l->db, busy_wait, l);
	/* A CLI call is often the only connection: without these, closing it would checkpoint
	 * and delete the WAL every time, and the next call would rebuild it (about 1 ms each).
	 * Checkpoints still happen, automatically, as the WAL grows. */
	(void)sqlite3_db_config(l->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	(void)sqlite3_file_control(l->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	(void)sqlite3_wal_hook(l->db, wal_hook, l);
}

/*
 * WAL and the durability's synchronous mode (foreign keys come after the migrations, which
 * must run without them). On a new ledger (still in rollback
 * mode) the switch to WAL is a write, begun inside the pragma's read: while another connection
 * holds the write lock, SQLite answers SQLITE_BUSY at once, without the busy handler (waiting
 * could deadlock). Processes that open a new ledger together meet exactly this (seen in the VM
 * tests' concurrent first attaches): wait and retry within the same bound as any other wait.
 */
/*
 * The page size of a new ledger (an existing one keeps its own: SQLite cannot change it in WAL
 * mode). Each warm attach or detach commits one changed page, and the WAL's pages reach the disk
 * when a checkpoint syncs them, so the page size is what a call writes: 2 KiB pages halve it
 * against SQLite's default 4 KiB. Measured (bench/README.md, fourth round): a warm pair through
 * the Python binding 24.8-25.6 -> 18.5-19.7 us, and check and host-up at 10,000 rows no slower;
 * 1 KiB pages saved another microsecond on the pair but made host-up of 10,000 attachments 15%
 * slower (deeper b-trees).
 */
#define LEDGER_PAGE_SIZE "2048"
static int ledger_set_modes(struct ledger *l, enum volmount_durability d)
{
	int rc;

	for (int tries = 0;; tries++) {
		rc = sqlite3_exec(l->db,
				  d == VOLMOUNT_DURABILITY_FULL ?
					  "PRAGMA page_size=" LEDGER_PAGE_SIZE "; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" :
					  "PRAGMA page_size=" LEDGER_PAGE_SIZE "; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
				  NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY || !busy_wait(l, tries))
			break;
	}
	return rc == SQLITE_OK ? 0 : fail(l, rc, "configure");
}

int ledger_open(int state_fd, const char *state_dir,
		enum volmount_durability d, unsigned busy_timeout_ms, struct ledger **ret)
{
	struct ledger *l = NULL;
	struct stat st;
	int r;

	(void)pthread_once(&pinned_vfs_once, pinned_vfs_register);
	if (pinned_vfs_rc != SQLITE_OK)
		return error_set(-EIO, VOLMOUNT_ERR_INTERNAL,
				 "ledger: cannot register SQLite's pinned-directory VFS: %s",
				 sqlite3_errstr(pinned_vfs_rc));
	r = ledger_file_check(state_fd, state_dir, &st);
	if (r < 0)
		return r;
	r = ledger_new(state_fd, state_dir, &l);
	if (r < 0 || !l)
		return r < 0 ? r : -ENOMEM;
	r = ledger_connect(l, state_fd, state_dir, &st);
	if (r >= 0) {
		ledger_configure(l, busy_timeout_ms);
		r = ledger_set_modes(l, d);
	}
	/* Migrations rebuild tables (schema 3 drops the old shares table): with foreign keys on,
	 * that would cascade into the attachments. Off explicitly, whatever SQLite was built
	 * with (SQLITE_DEFAULT_FOREIGN_KEYS); each migration checks the keys itself. */
	if (r >= 0 && sqlite3_exec(l->db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL) != SQLITE_OK)
		r = fail(l, sqlite3_errcode(l->db), "configure");
	if (r >= 0)
		r = migrate(l);
	if (r >= 0 && sqlite3_exec(l->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK)
		r = fail(l, sqlite3_errcode(l->db), "configure");
	if (r < 0) {
		ledger_close(l);
		return r;
	}
	*ret = l;
	return 0;
}

/*
 * The first connection to open the ledger rebuilds SQLite's WAL index by reading every frame
 * of the WAL: up to LEDGER_AUTOCHECKPOINT frames (4 MiB), most of a CLI call's time when
 * nothing else keeps the ledger open. So a connection that leaves a WAL of some length behind
 * lets SQLite's own close run: only if it is the last connection (SQLite then gets the
 * EXCLUSIVE lock on the database at once, without waiting), it checkpoints, and with the WAL
 * persistent and a size limit of 0 it truncates it. While another process keeps the ledger
 * open (the agent, `volmount monitor`), its index stays valid, nothing is checkpointed and
 * nobody waits: the next call does not rebuild anything either.
 */
static void checkpoint_on_close(struct ledger *l)
{
	/* Not from a forked child: SQLite connections do not cross fork(). */
	if (!l->db || l->wal_frames < LEDGER_CLOSE_CHECKPOINT || l->pid != getpid())
		return;
	if (sqlite3_exec(l->db, "PRAGMA journal_size_limit=0", NULL, NULL, NULL) == SQLITE_OK)
		(void)sqlite3_db_config(l->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
}

void ledger_close(struct ledger *l)
{
	if (!l)
		return;
	checkpoint_on_close(l);
	for (int i = 0; i < _ST_MAX; i++)
		(void)sqlite3_finalize(l->st[i]);
	free(l->warm.options);
	(void)sqlite3_close(l->db);
	if (l->dir_fd > 0)
		(void)close(l->dir_fd);
	(void)pthread_mutex_destroy(&l->mu);
	free(l);
}

void ledger_share_done(struct ledger_share *s)
{
	if (!s)
		return;
	free(s->hash);
	free(s->driver);
	free(s->export);
	free(s->mountpoint);
	free(s->options);
	free(s->state);
	memset(s, 0, sizeof(*s));
}

void ledger_shares_free(struct ledger_share *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		ledger_share_done(&s[i]);
	free(s);
}

void ledger_attachments_free(struct ledger_attachment *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++) {
		free(a[i].volume);
		free(a[i].owner);
	}
	free(a);
}

/*
 * Run the query @id, with @hash bound to ?1 unless NULL, to its first row: 1 with the row in
 * *ret (read it, then stmt_done()), 0 when there is none (with @must, a query that always has
 * a row: the ledger is corrupt), or an error, recorded as "ledger: @what: ...".
 */
static int query_row(struct ledger *l, enum stmt_id id, const char *hash, bool must,
		     const char *what, sqlite3_stmt **ret)
{
	sqlite3_stmt *s = NULL;
	int r = stmt(l, id, &s), rc;

	if (r < 0)
		return r;
	if (hash) {
		r = bind_text(l, s, 1, hash);
		if (r < 0) {
			stmt_done(s);
			return r;
		}
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ret = s;
		return 1;
	}
	r = rc != SQLITE_DONE ? fail(l, rc, what) : must ? fail(l, SQLITE_CORRUPT, what) : 0;
	stmt_done(s);
	return r;
}

/* A count (column 0 of a query that always has a row). */
static int query_count(struct ledger *l, enum stmt_id id, const char *hash, const char *what,
		       size_t *ret)
{
	sqlite3_stmt *s = NULL;
	int r = query_row(l, id, hash, true, what, &s);

	if (r < 0)
		return r;
	*ret = (size_t)sqlite3_column_int64(s, 0);
	stmt_done(s);
	return 0;
}

/* The host columns of a row: state, generation and, with @boot_id, the boot id. */
static void host_from_row(sqlite3_stmt *s, struct ledger_host *ret, bool boot_id)
{
	memset(ret, 0, sizeof(*ret));
	(void)snprintf(ret->state, sizeof(ret->state), "%s", (const char *)sqlite3_column_text(s, 0));
	ret->generation = (uint64_t)sqlite3_column_int64(s, 1);
	if (boot_id)
		(void)snprintf(ret->boot_id, sizeof(ret->boot_id), "%s",
			       (const char *)sqlite3_column_text(s, 2));
}

int ledger_host_get(struct ledger *l, struct ledger_host *ret)
{
	LEDGER_LOCKED(l);
	sqlite3_stmt *s = NULL;
	int r = query_row(l, ST_HOST_GET, NULL, true, "read host state", &s);

	if (r < 0)
		return r;
	host_from_row(s, ret, true);
	stmt_done(s);
	return 0;
}

/* Inside a transaction: the host's boot. */
static int record_boot_in(struct ledger *l, const char *boot_id)
{
	sqlite3_stmt *s = NULL;
	int r = stmt(l, ST_HOST_BOOT, &s);

	if (r >= 0)
		r = bind_text(l, s, 1, boot_id);
	if (r >= 0)
		r = step_done(l, s, "record boot id");
	return r;
}

int ledger_host_set(struct ledger *l, const char *state, bool bump, const char *boot_id)
{
	LEDGER_LOCKED(l);
	sqlite3_stmt *s = NULL;
	int r = begin(l);

	if (r < 0)
		return r;
	if (state) {
		r = stmt(l, ST_HOST_SET, &s);
		if (r >= 0)
			r = bind_text(l, s, 1, state);
		if (r >= 0)
			r = step_done(l, s, "set host state");
	}
	if (r >= 0 && bump)
		r = exec_id(l, ST_HOST_BUMP, "raise generation");
	if (r >= 0 && boot_id)
		r = record_boot_in(l, boot_id);
	return end(l, r);
}

/* The share columns, starting at column @o. */
static int read_share_at(sqlite3_stmt *s, int o, struct ledger_share *ret)
{
	struct ledger_share sh = {};
	int r = 0;

	r = r < 0 ? r : col_strdup(s, o + 0, &sh.hash);
	r = r < 0 ? r : col_strdup(s, o + 1, &sh.driver);
	r = r < 0 ? r : col_strdup(s, o + 2, &sh.export);
	r = r < 0 ? r : col_strdup(s, o + 3, &sh.mountpoint);
	r = r < 0 ? r : col_strdup(s, o + 4, &sh.options);
	r = r < 0 ? r : col_strdup(s, o + 5, &sh.state);
	if (r < 0) {
		ledger_share_done(&sh);
		return r;
	}
	sh.mount_id = (uint64_t)sqlite3_column_int64(s, o + 6);
	sh.dir_created = sqlite3_column_int(s, o + 7) != 0;
	sh.adopted = sqlite3_column_int(s, o + 8) != 0;
	sh.n_attachments = (size_t)sqlite3_column_int64(s, o + 9);
	*ret = sh;
	return 0;
}

static int read_share(sqlite3_stmt *s, struct ledger_share *ret)
{
	return read_share_at(s, 0, ret);
}

int ledger_host_share_get(struct ledger *l, const char *hash, struct ledger_host *ret_host,
			  struct ledger_share *ret)
{
	LEDGER_LOCKED(l);
	sqlite3_stmt *s = NULL;
	int r = query_row(l, ST_HOST_SHARE_GET, hash, true, "read host and share", &s);

	if (r < 0)
		return r;
	host_from_row(s, ret_host, true);
	r = sqlite3_column_type(s, 3) == SQLITE_NULL ? -ENOENT : read_share_at(s, 3, ret);
	stmt_done(s);
	return r;
}

/* Inside a transaction: the share's whole row, or -ENOENT. */
static int share_get_in(struct ledger *l, const char *hash, struct ledger_share *ret)
{
	sqlite3_stmt *s = NULL;
	int r = query_row(l, ST_SHARE_GET, hash, false, "read share", &s);

	if (r <= 0)
		return r == 0 ? -ENOENT : r;
	r = read_share(s, ret);
	stmt_done(s);
	return r;
}

int ledger_share_get(struct ledger *l, const char *hash, struct ledger_share *ret)
{
	LEDGER_LOCKED(l);
	return share_get_in(l, hash, ret);
}

/* Inside a transaction: how many shares there are (a scan: only for error messages). */
static int count_shares(struct ledger *l, size_t *ret)
{
	return query_count(l, ST_SHARE_COUNT, NULL, "count shares", ret);
}

/*
 * Inside a transaction: the recorded scheme, and whether any share exists (an index probe, not
 * a count: this runs in every ctx_open() and every first attach). With @claim, the
 * connection's scheme is recorded when no share exists; -EXDEV if shares of another exist,
 * and then *ret_n says how many.
 */
static int scheme_check(struct ledger *l, bool claim, char *ret_recorded, size_t size,
			size_t *ret_n)
{
	sqlite3_stmt *s = NULL;
	char recorded[16] = "";
	size_t n = 0;
	int r;

	r = query_row(l, ST_SCHEME_GET, NULL, true, "read path scheme", &s);
	if (r < 0)
		return r;
	(void)snprintf(recorded, sizeof(recorded), "%s", (const char *)sqlite3_column_text(s, 0));
	n = (size_t)sqlite3_column_int64(s, 1);
	stmt_done(s);
	if (ret_recorded)
		(void)snprintf(ret_recorded, size, "%s", recorded);
	if (!l->scheme || strcmp(recorded, l->scheme) == 0)
		return 0;
	if (n > 0) {
		if (ret_n && count_shares(l, ret_n) < 0)
			*ret_n = n; /* at least one; the message says so */
		return -EXDEV;
	}
	if (!claim)
		return 0;
	r = stmt(l, ST_SCHEME_SET, &s);
	if (r < 0)
		return r;
	r = bind_text(l, s, 1, l->scheme);
	if (r < 0) {
		stmt_done(s);
		return r;
	}
	return step_done(l, s, "record path scheme");
}

void ledger_set_scheme(struct ledger *l, const char *scheme)
{
	LEDGER_LOCKED(l);
	l->scheme = scheme;
}

int ledger_scheme_claim(struct ledger *l, char *ret_recorded, size_t size, size_t *ret_n_shares)
{
	LEDGER_LOCKED(l);
	char recorded[16] = "";
	size_t n = 0;
	int r;

	/* The common case (the scheme is already the ledger's) writes nothing. */
	r = scheme_check(l, false, recorded, sizeof(recorded), &n);
	if (r >= 0 && l->scheme && strcmp(recorded, l->scheme) != 0) {
		r = begin(l);
		if (r >= 0)
			r = scheme_check(l, true, recorded, sizeof(recorded), &n);
		r = end(l, r);
	}
	if (ret_recorded)
		(void)snprintf(ret_recorded, size, "%s", recorded);
	if (ret_n_shares)
		*ret_n_shares = n;
	return r;
}

int ledger_share_insert(struct ledger *l, const struct ledger_share *sh)
{
	LEDGER_LOCKED(l);
	sqlite3_stmt *s = NULL;
	int r = begin(l);

	if (r >= 0)
		r = scheme_check(l, true, NULL, 0, NULL);
	if (r == -EXDEV)
		r = error_set(-EXDEV, VOLMOUNT_ERR_CONFIG,
			      "the ledger's shares use another path scheme than '%s'", l->scheme);
	if (r >= 0)
		r = stmt(l, ST_SHARE_INSERT, &s);
	if (r >= 0) {
		r = bind_text(l, s, 1, sh->hash);
		r = r < 0 ? r : bind_text(l, s, 2, sh->driver);
		r = r < 0 ? r : bind_text(l, s, 3, sh->export);
		r = r < 0 ? r : bind_text(l, s, 4, sh->mountpoint);
		r = r < 0 ? r : bind_text(l, s, 5, sh->options);
		r = r < 0 ? r : bind_text(l, s, 6, sh->state ? sh->state : LEDGER_PENDING);
		r = r < 0 ? r : bind_u64(l, s, 7, sh->mount_id);
		r = r < 0 ? r : bind_u64(l, s, 8, sh->dir_created ? 1 : 0);
		r = r < 0 ? r : bind_u64(l, s, 9, sh->adopted ? 1 : 0);
		if (r >= 0)
			r = step_done(l, s, "insert share");
		else
			stmt_done(s);
	}
	return end(l, r);
}

int ledger_share_set(struct ledger *l, const char *hash, const char *state, uint64_t mount_id)
{
	LEDGER_LOCKED(l);
	sqlite3_stmt *s = NULL;
	int r = begin(l);

	if (r >= 0)
		r = stmt(l, ST_SHARE_SET, &s);
	if (r >= 0) {
		r = bind_text(l, s, 1, hash);
		r = r < 0 ? r : bind_text(l, s, 2, state);
		r = r < 0 ? r : bind_u64(l, s, 3, mount_id);
		if (r >= 0)
			r = step_done(l, s, "update share");
		else
			stmt_done(s);
	}
	return end(l, r);
}

int ledger_shares_forget_mount_ids(struct ledger *l, const char *boot_id)
{
	LEDGER_LOCKED(l);
	int r = begin(l);

	if (r >= 0)
		r = exec_id(l, ST_SHARES_FORGET_IDS, "forget mount ids");
	if (r >= 0)
		r = record_boot_in(l, boot_id);
	return end(l, r);
}

int ledger_share_delete(struct ledger *l, const char *hash)
{
	LEDGER_LOCKED(l);
	sqlite3_stmt *s = NULL;
	int r = begin(l);

	if (r >= 0)
		r = stmt(l, ST_SHARE_DELETE, &s);
	if (r >= 0) {
		r = bind_text(l, s, 1, hash);
		if (r >= 0)
			r = step_done(l, s, "delete share");
		else
			stmt_done(s);
	}
	return end(l, r);
}

static int count_attachments(struct ledger *l, const char *hash, size_t *ret)
{
	return query_count(l, ST_ATT_COUNT, hash, "count attachments", ret);
}

/* Inside a transaction: run the attachment statement @id on (hash, volume, owner); returns
 * 1 if it changed a row, 0 if not, or an error. */
static int attachment_stmt(struct ledger *l, enum stmt_id id, const char *hash, const char *volume,
			   const char *owner, const char *what)
{
	sqlite3_stmt *s = NULL;
	int r = stmt(l, id, &s);

	if (r < 0)
		return r;
	r = bind_text(l, s, 1, hash);
	r = r < 0 ? r : bind_text(l, s, 2, volume);
	r = r < 0 ? r : bind_text(l, s, 3, owner);
	if (r < 0) {
		stmt_done(s);
		return r;
	}
	r = step_done(l, s, what);
	return r < 0 ? r : sqlite3_changes(l->db) > 0;
}

/* Inside a transaction: add the attachment (a no-op if present). */
static int insert_attachment(struct ledger *l, const char *hash, const char *volume,
			     const char *owner, bool *ret_added)
{
	int r = attachment_stmt(l, ST_ATT_INSERT, hash, volume, owner, "insert attachment");

	if (r >= 0 && ret_added)
		*ret_added = r > 0;
	return r < 0 ? r : 0;
}

/* Inside a transaction: the attachment, and with @mount_id the share's mount; with @options
 * the share is claimed (no longer adopted) with these options. */
static int attach_claim_in(struct ledger *l, const char *hash, uint64_t mount_id,
			   const char *options, const char *volume, const char *owner,
			   bool *ret_added)
{
	sqlite3_stmt *s = NULL;
	int r = stmt(l, ST_SHARE_CLAIM, &s);

	if (r < 0)
		return r;
	r = bind_text(l, s, 1, hash);
	if (r >= 0 && options)
		r = bind_text(l, s, 2, options); /* unbound ?2 is NULL: options kept */
	if (r < 0) {
		stmt_done(s);
		return r;
	}
	r = step_done(l, s, "claim share");
	if (r >= 0 && mount_id != 0) {
		r = stmt(l, ST_SHARE_SET, &s);
		if (r >= 0) {
			r = bind_text(l, s, 1, hash);
			r = r < 0 ? r : bind_text(l, s, 2, LEDGER_MOUNTED);
			r = r < 0 ? r : bind_u64(l, s, 3, mount_id);
			if (r >= 0)
				r = step_done(l, s, "record mount");
			else
				stmt_done(s);
		}
	}
	if (r >= 0)
		r = insert_attachment(l, hash, volume, owner, ret_added);
	return r;
}

int ledger_attach(struct ledger *l, const char *hash, uint64_t mount_id, const char *volume,
		  const char *owner, bool *ret_added)
{
	return ledger_attach_claim(l, hash, mount_id, NULL, volume, owner, ret_added);
}

int ledger_attach_claim(struct ledger *l, const char *hash, uint64_t mount_id,
			const char *options, const char *volume, const char *owner,
			bool *ret_added)
{
	LEDGER_LOCKED(l);
	int r = begin(l);

	if (r < 0)
		return r;
	return end(l, attach_claim_in(l, hash, mount_id, options, volume, owner, ret_added));
}

/* What the warm paths decide on (ST_HOST_SHARE_WARM). */
struct warm_read {
	struct ledger_host host;
	bool up;        /* host state "up" */
	bool exists;    /* the share has a row */
	char state[16]; /* the share's state */
	uint64_t mount_id;
	bool adopted;
	size_t n_attachments;
};

static unsigned data_version(struct ledger *l)
{
	unsigned v = 0;

	(void)sqlite3_file_control(l->db, "main", SQLITE_FCNTL_DATA_VERSION, &v);
	return v;
}

/* Inside a transaction: is the kept read of @hash current? */
static bool warm_hit(struct ledger *l, const char *hash)
{
	return l->warm.valid && strcmp(l->warm.hash, hash) == 0 &&
	       data_version(l) == l->warm.version;
}

/* Inside a transaction: read host and share into *ret, and keep the share's columns in the
 * cache (validated by warm_keep() after the commit) when host and share qualify. */
static int warm_read_in(struct ledger *l, const char *hash, struct warm_read *ret)
{
	sqlite3_stmt *s = NULL;
	const char *state, *opts;
	int r = query_row(l, ST_HOST_SHARE_WARM, hash, true, "read host and share", &s);

	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	host_from_row(s, &ret->host, false);
	ret->up = strcmp(ret->host.state, "up") == 0;
	state = (const char *)sqlite3_column_text(s, 2);
	opts = (const char *)sqlite3_column_text(s, 4);
	ret->exists = state && opts;
	if (ret->exists) {
		(void)snprintf(ret->state, sizeof(ret->state), "%s", state);
		ret->mount_id = (uint64_t)sqlite3_column_int64(s, 3);
		ret->adopted = sqlite3_column_int(s, 5) != 0;
		ret->n_attachments = (size_t)sqlite3_column_int64(s, 6);
	}
	if (ret->up && ret->exists && !ret->adopted && strlen(hash) < sizeof(l->warm.hash)) {
		char *o = strdup(opts);

		if (o) {
			free(l->warm.options);
			l->warm.options = o;
			(void)snprintf(l->warm.hash, sizeof(l->warm.hash), "%s", hash);
			l->warm.mounted = strcmp(state, LEDGER_MOUNTED) == 0;
			l->warm.mount_id = ret->mount_id;
			l->warm.n_attachments = ret->n_attachments;
			l->warm.options = o;
		} else
			l->warm.hash[0] = '\0'; /* nothing kept */
	} else
		l->warm.hash[0] = '\0';
	stmt_done(s);
	return 0;
}

/* After a warm path's successful commit: the kept read of @hash, with @n attachments, is
 * current from now on. */
static void warm_keep(struct ledger *l, const char *hash, size_t n)
{
	if (strcmp(l->warm.hash, hash) != 0)
		return;
	l->warm.n_attachments = n;
	l->warm.version = data_version(l);
	l->warm.valid = true;
}

int ledger_attach_warm(struct ledger *l, const char *hash, uint64_t mount_id, const char *options,
		       const char *volume, const char *owner, struct ledger_host *ret_host)
{
	LEDGER_LOCKED(l);
	bool added = false, warm;
	size_t n = 0;
	int r = begin(l);

	if (r < 0)
		return r;
	if (warm_hit(l, hash)) {
		/* Host up, share not adopted (or it would not be kept). */
		n = l->warm.n_attachments;
		warm = l->warm.mounted && l->warm.mount_id == mount_id && n > 0 &&
		       strcmp(l->warm.options, options) == 0;
	} else {
		struct warm_read w;

		r = warm_read_in(l, hash, &w);
		if (r >= 0 && !w.up) {
			*ret_host = w.host;
			r = -EHOSTDOWN;
		}
		/* Kept (with its options) exactly when it exists, is not adopted and the host
		 * is up. */
		n = w.n_attachments;
		warm = r >= 0 && strcmp(l->warm.hash, hash) == 0 &&
		       strcmp(w.state, LEDGER_MOUNTED) == 0 && w.mount_id == mount_id && n > 0 &&
		       strcmp(l->warm.options, options) == 0;
	}
	if (r >= 0 && warm)
		r = insert_attachment(l, hash, volume, owner, &added);
	if (r >= 0)
		r = warm ? 1 : 0;
	r = end(l, r);
	if (r >= 0)
		warm_keep(l, hash, n + (added ? 1 : 0));
	return r;
}

/* Inside a transaction: mark the share unmounting (its last attachment is gone). */
static int mark_unmounting(struct ledger *l, const char *hash)
{
	sqlite3_stmt *s = NULL;
	int r = stmt(l, ST_SHARE_SET_STATE, &s);

	if (r < 0)
		return r;
	r = bind_text(l, s, 1, hash);
	r = r < 0 ? r : bind_text(l, s, 2, LEDGER_UNMOUNTING);
	if (r < 0) {
		stmt_done(s);
		return r;
	}
	return step_done(l, s, "mark share unmounting");
}

/* Inside a transaction: the detach's statements. */
static int detach_in(struct ledger *l, const char *hash, const char *volume, const char *owner,
		     bool *ret_removed, size_t *ret_remaining)
{
	int r = attachment_stmt(l, ST_ATT_DELETE, hash, volume, owner, "delete attachment");

	if (r < 0)
		return r;
	*ret_removed = r > 0;
	r = count_attachments(l, hash, ret_remaining);
	if (r < 0 || *ret_remaining > 0)
		return r;
	return mark_unmounting(l, hash);
}

int ledger_detach(struct ledger *l, const char *hash, const char *volume, const char *owner,
		  bool *ret_removed, size_t *ret_remaining)
{
	LEDGER_LOCKED(l);
	size_t remaining = 0;
	bool removed = false;
	int r = begin(l);

	if (r < 0)
		return r;
	r = end(l, detach_in(l, hash, volume, owner, &removed, &remaining));
	if (r < 0)
		return r;
	if (ret_removed)
		*ret_removed = removed;
	if (ret_remaining)
		*ret_remaining = remaining;
	return 0;
}

/* Inside a transaction: the last attachment is gone; read the share's whole row (its state
 * as it was) and mark it unmounting. */
static int detach_last_in(struct ledger *l, const char *hash, struct ledger_share *ret)
{
	int r = share_get_in(l, hash, ret);

	return r < 0 ? r : mark_unmounting(l, hash);
}

/* ledger_detach_checked(), or with @not_last ledger_detach_warm(): then anything but a
 * removal that leaves an attachment is rolled back and reported as -ECANCELED, with
 * *ret_removed saying whether the attachment was there. */
static int detach_checked(struct ledger *l, const char *hash, const char *volume,
			  const char *owner, bool not_last, struct ledger_host *ret_host,
			  struct ledger_share *ret_row, bool *ret_removed, size_t *ret_remaining)
{
	LEDGER_LOCKED(l);
	struct ledger_share row = {};
	size_t remaining = 0;
	bool removed = false, hit;
	int r = begin(l);

	if (r < 0)
		return r;
	/* Delete first, then decide (from the kept read, or a read of host and share): any
	 * refusal rolls the delete back, so a refused detach changes nothing. */
	hit = warm_hit(l, hash);
	r = attachment_stmt(l, ST_ATT_DELETE, hash, volume, owner, "delete attachment");
	if (r >= 0) {
		removed = r > 0;
		r = 0;
	}
	if (r >= 0 && hit)
		/* Host up, share there and not adopted (or it would not be kept). */
		remaining = l->warm.n_attachments - (removed ? 1 : 0);
	else if (r >= 0) {
		struct warm_read w;

		r = warm_read_in(l, hash, &w);
		if (r >= 0 && !w.up) {
			*ret_host = w.host;
			r = -EHOSTDOWN;
		} else if (r >= 0 && (!w.exists || w.adopted))
			/* No such share, or kept for its owner's consumers: no attachment of
			 * ours uses it. */
			r = -ENOENT;
		remaining = w.n_attachments; /* read after the delete */
	}
	if (not_last && (r == -EHOSTDOWN || r == -ENOENT || (r >= 0 && remaining == 0)))
		r = -ECANCELED; /* the general path decides, under the share's lock */
	/* The whole row only for the last detach, which unmounts. */
	if (r >= 0 && remaining == 0)
		r = detach_last_in(l, hash, &row);
	r = end(l, r);
	if (r == -ECANCELED)
		*ret_removed = removed; /* was there, though it stays */
	if (r < 0) {
		ledger_share_done(&row);
		return r;
	}
	if (remaining > 0)
		warm_keep(l, hash, remaining);
	*ret_row = row;
	*ret_removed = removed;
	*ret_remaining = remaining;
	return 0;
}

int ledger_detach_checked(struct ledger *l, const char *hash, const char *volume,
			  const char *owner, struct ledger_host *ret_host,
			  struct ledger_share *ret_row, bool *ret_removed, size_t *ret_remaining)
{
	return detach_checked(l, hash, volume, owner, false, ret_host, ret_row, ret_removed,
			      ret_remaining);
}

int ledger_detach_warm(struct ledger *l, const char *hash, const char *volume,
		       const char *owner, bool *ret_removed)
{
	struct ledger_share row = {};
	struct ledger_host host;
	size_t remaining = 0;
	int r = detach_checked(l, hash, volume, owner, true, &host, &row, ret_removed,
			       &remaining);

	ledger_share_done(&row); /* empty: it is filled only for a last detach */
	return r == -ECANCELED ? 0 : r < 0 ? r : 1;
}

/* Every row of @s (a query of read_share()'s columns), in its order. */
static int read_shares(struct ledger *l, sqlite3_stmt *s, struct ledger_share **ret,
		       size_t *ret_n)
{
	struct ledger_share *v = NULL;
	size_t n = 0, cap = 0;
	int r = 0, rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = ARRAY_GROW(v, cap, n, 16);
		if (r < 0)
			break;
		r = read_share(s, &v[n]);
		if (r < 0)
			break;
		n++;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = fail(l, rc, "list shares");
	if (r < 0) {
		ledger_shares_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int ledger_shares_list(struct ledger *l, struct ledger_share **ret, size_t *ret_n)
{
	LEDGER_LOCKED(l);
	sqlite3_stmt *s = NULL;
	int r = stmt(l, ST_SHARES_LIST, &s);

	if (r < 0)
		return r;
	r = read_shares(l, s, ret, ret_n);
	stmt_done(s);
	return r;
}

int ledger_attachments_list(struct ledger *l, const char *hash, struct ledger_attachment **ret,
			    size_t *ret_n)
{
	LEDGER_LOCKED(l);
	struct ledger_attachment *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s = NULL;
	int r = stmt(l, ST_ATTS_LIST, &s), rc = SQLITE_DONE;

	if (r < 0)
		return r;
	r = bind_text(l, s, 1, hash);
	while (r >= 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = ARRAY_GROW(v, cap, n, 8);
		if (r < 0)
			break;
		v[n].volume = NULL;
		v[n].owner = NULL;
		r = col_strdup(s, 0, &v[n].volume);
		r = r < 0 ? r : col_strdup(s, 1, &v[n].owner);
		n++;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = fail(l, rc, "list attachments");
	stmt_done(s);
	if (r < 0) {
		ledger_attachments_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ---- every share and attachment in one read (check, monitor: issue 11) ---- */

/* Prepared for the call and finalized after it: once per snapshot, not worth a slot in the
 * statement cache. The shares are read in the table's order and sorted here: ORDER BY
 * mountpoint walks the index and fetches every row by rowid, a random read of a table that
 * outgrows SQLite's page cache at a few thousand shares (10,000 shares: 5 MB). */
static const char sql_all_shares[] =
	"SELECT hash, driver, export, mountpoint, options, state, mount_id, dir_created, adopted,"
	" 0 FROM shares";
/* The primary key's order: a straight walk of the WITHOUT ROWID table. */
static const char sql_all_atts[] = "SELECT hash, volume, owner FROM attachments"
				   " ORDER BY hash, volume, owner";

static void sqlite3_finalizep(sqlite3_stmt **s)
{
	(void)sqlite3_finalize(*s);
}

static int cmp_mountpoint(const void *a, const void *b)
{
	return strcmp(((const struct ledger_share *)a)->mountpoint,
		      ((const struct ledger_share *)b)->mountpoint);
}

static int cmp_hash_idx(const void *a, const void *b, void *arg)
{
	const struct ledger_share *v = arg;

	return strcmp(v[*(const size_t *)a].hash, v[*(const size_t *)b].hash);
}

static int all_shares_in(struct ledger *l, struct ledger_share **ret, size_t *ret_n)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(l->db, sql_all_shares, -1, &s, NULL), r;

	if (rc != SQLITE_OK)
		return fail(l, rc, "prepare");
	r = read_shares(l, s, ret, ret_n);
	if (r >= 0 && *ret_n > 1) /* as ledger_shares_list() orders them */
		qsort(*ret, *ret_n, sizeof(**ret), cmp_mountpoint);
	return r;
}

/*
 * The attachments, walked in hash order beside the shares sorted by hash (@by_hash), so each
 * row finds its share without a lookup; then laid out in the shares' order.
 */
static int all_atts_in(struct ledger *l, struct ledger_share *v, size_t n, const size_t *by_hash,
		       struct ledger_attachment **ret, size_t **ret_first)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
	_cleanup_free_ struct ledger_attachment *tmp = NULL; /* hash order */
	_cleanup_free_ size_t *owner_of = NULL;
	_cleanup_free_ size_t *fill = NULL;
	struct ledger_attachment *out = NULL;
	size_t *first = NULL;
	size_t m = 0, cap = 0, cap_owner = 0, k = 0;
	int rc = sqlite3_prepare_v2(l->db, sql_all_atts, -1, &s, NULL), r = 0;

	if (rc != SQLITE_OK)
		return fail(l, rc, "prepare");
	for (size_t i = 0; i < n; i++)
		v[i].n_attachments = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(s, 0);
		int c = 1;

		while (h && k < n && (c = strcmp(v[by_hash[k]].hash, h)) < 0)
			k++;
		if (!h || c != 0)
			continue; /* no such share (the foreign key forbids it): not shown */
		r = ARRAY_GROW(tmp, cap, m, 64);
		if (r >= 0)
			r = ARRAY_GROW(owner_of, cap_owner, m, 64);
		if (r < 0)
			break;
		tmp[m] = (struct ledger_attachment){};
		owner_of[m] = by_hash[k];
		r = col_strdup(s, 1, &tmp[m].volume);
		r = r < 0 ? r : col_strdup(s, 2, &tmp[m].owner);
		m++;
		if (r < 0)
			break;
		v[by_hash[k]].n_attachments++;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = fail(l, rc, "list attachments");
	first = calloc(n + 1, sizeof(*first));
	fill = calloc(n + 1, sizeof(*fill));
	out = calloc(m ? m : 1, sizeof(*out));
	if (r >= 0 && (!first || !fill || !out))
		r = -ENOMEM;
	if (r < 0) {
		ledger_attachments_free(tmp, m);
		tmp = NULL;
		free(first);
		free(out);
		return r;
	}
	for (size_t i = 0; i < n; i++)
		first[i + 1] = first[i] + v[i].n_attachments;
	memcpy(fill, first, (n + 1) * sizeof(*fill));
	for (size_t j = 0; j < m; j++)
		out[fill[owner_of[j]]++] = tmp[j]; /* stable: volume, owner order kept */
	*ret = out;
	*ret_first = first;
	return 0;
}

int ledger_read_all(struct ledger *l, struct ledger_host *ret_host, struct ledger_share **ret,
		    size_t *ret_n, struct ledger_attachment **ret_atts, size_t **ret_first)
{
	LEDGER_LOCKED(l);
	_cleanup_free_ size_t *by_hash = NULL;
	struct ledger_share *v = NULL;
	sqlite3_stmt *s = NULL;
	size_t n = 0;
	int rc, r;

	/* A read transaction: host, shares and attachments as of one commit. */
	rc = sqlite3_exec(l->db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return fail(l, rc, "begin");
	r = query_row(l, ST_HOST_GET, NULL, true, "read host state", &s);
	if (r >= 0) {
		host_from_row(s, ret_host, true);
		stmt_done(s);
		r = all_shares_in(l, &v, &n);
	}
	if (r >= 0) {
		by_hash = calloc(n ? n : 1, sizeof(*by_hash));
		if (!by_hash)
			r = -ENOMEM;
	}
	if (r >= 0) {
		for (size_t i = 0; i < n; i++)
			by_hash[i] = i;
		if (n > 1)
			qsort_r(by_hash, n, sizeof(*by_hash), cmp_hash_idx, v);
		r = all_atts_in(l, v, n, by_hash, ret_atts, ret_first);
	}
	rc = sqlite3_exec(l->db, r >= 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	if (r >= 0 && rc != SQLITE_OK) {
		r = fail(l, rc, "end read");
		ledger_attachments_free(*ret_atts, (*ret_first)[n]);
		free(*ret_first);
		*ret_atts = NULL;
		*ret_first = NULL;
	}
	if (r < 0) {
		ledger_shares_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
