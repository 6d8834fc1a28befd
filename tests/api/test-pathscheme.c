/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-pathscheme.c - the nova path scheme: the md5 mountpoint names (expected values computed
 * with "printf '%s' EXPORT | md5sum"), the mountpoint each driver's export gets under both
 * schemes, the setter, and the ledger's record of the scheme: adopted by an empty ledger,
 * refused (CONFIG) while shares of the other scheme exist, checked again inside the insert
 * transaction, kept across the v1 -> v2 migration; the adopted flag and its claim; the
 * configuration key. Needs no root (but the config file check does: skipped without it).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"
#include "engine/request.h"
#include "internal.h"
#include "ledger.h"
#include "test.h"
#include "test-tmp.h"
#include "cleanup.h"
#include "volmount.h"

#define BASE "/nonexistent-volmount-base" /* never created: path must not need it */

/* ---- md5 names ---- */

static const struct {
	const char *in;
	const char *md5;
} md5_rows[] = {
	{ "srv:/exports/v", "ca190bf0ee2d4c7d0f01d72bc1ec4974" },
	{ "reg.example:7861/vol", "d9689da1d561f3dd01262fcd026800af" },
	{ "root@127.0.0.1:/srv", "8962e1125a862b6b0dcfc340f19cecf8" },
	{ "gl1,gl2:/tvol", "525d631925935a780e3988e07dce7f55" },
	{ "//srv/share", "36c9141b7638cafd366ae980ace835c2" },
	{ "10.0.0.1:6789,10.0.0.2:/fs", "a4937669103b66b2f8ccb6eff8fdca17" },
	{ "", "d41d8cd98f00b204e9800998ecf8427e" },
};

static void test_md5_names(void)
{
	for (size_t i = 0; i < ELEMENTSOF(md5_rows); i++) {
		char name[33];

		ASSERT_OK(share_nova_name(md5_rows[i].in, name));
		ASSERT_STREQ(name, md5_rows[i].md5);
	}
}

/* ---- mountpoints by scheme ---- */

static void ctx_freep(struct volmount_ctx **ctx)
{
	volmount_ctx_free(*ctx);
}

static const struct {
	const char *driver;
	const char *export;
	const char *md5; /* of the normalized export */
} path_rows[] = {
	{ "nfs", "srv:/exports/v", "ca190bf0ee2d4c7d0f01d72bc1ec4974" },
	/* normalized first: host folded, "//" and the trailing '/' dropped */
	{ "nfs", "SRV:/exports//v/", "ca190bf0ee2d4c7d0f01d72bc1ec4974" },
	/* Quobyte: md5 of the export without its scheme, as Nova and os-brick compute it */
	{ "quobyte", "quobyte://reg.example:7861/vol", "d9689da1d561f3dd01262fcd026800af" },
	{ "quobyte", "reg.example:7861/vol", "d9689da1d561f3dd01262fcd026800af" },
	{ "sshfs", "root@127.0.0.1:/srv", "8962e1125a862b6b0dcfc340f19cecf8" },
	{ "glusterfs", "gl1,gl2:/tvol", "525d631925935a780e3988e07dce7f55" },
	{ "cifs", "//srv/share", "36c9141b7638cafd366ae980ace835c2" },
	{ "cephfs", "10.0.0.1:6789,10.0.0.2:/fs", "a4937669103b66b2f8ccb6eff8fdca17" },
};

static struct volmount_ctx *path_ctx(enum volmount_path_scheme scheme)
{
	struct volmount_ctx *ctx = NULL;

	ASSERT_OK(volmount_ctx_new(&ctx));
	ASSERT_OK(volmount_ctx_set_path(ctx, VOLMOUNT_PATH_BASE_DIR, BASE));
	ASSERT_OK(volmount_ctx_set_path_scheme(ctx, scheme));
	return ctx;
}

static void test_nova_paths(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = path_ctx(VOLMOUNT_PATH_SCHEME_NOVA);

	for (size_t i = 0; i < ELEMENTSOF(path_rows); i++) {
		_cleanup_free_ char *mp = NULL, *want = NULL;

		ASSERT_OK(volmount_share_path(ctx, path_rows[i].driver, path_rows[i].export, &mp));
		ASSERT_TRUE(asprintf(&want, "%s/%s", BASE, path_rows[i].md5) > 0);
		ASSERT_STREQ(mp, want);
	}
}

/* The default scheme is unchanged: <base>/<driver>/<sha256 of "driver\0export">. */
static void test_volmount_paths(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = NULL, *set = NULL;

	ASSERT_OK(volmount_ctx_new(&ctx));
	ASSERT_OK(volmount_ctx_set_path(ctx, VOLMOUNT_PATH_BASE_DIR, BASE));
	set = path_ctx(VOLMOUNT_PATH_SCHEME_VOLMOUNT);
	for (size_t i = 0; i < ELEMENTSOF(path_rows); i++) {
		_cleanup_free_ char *mp = NULL, *mp2 = NULL, *want = NULL, *norm = NULL;
		const struct driver *drv = driver_find(path_rows[i].driver);
		const char *why = NULL;
		char hash[65];

		ASSERT_TRUE(drv != NULL);
		ASSERT_OK(drv->normalize(path_rows[i].export, &norm, &why));
		ASSERT_OK(share_hash(drv->name, norm, hash));
		ASSERT_TRUE(asprintf(&want, "%s/%s/%s", BASE, drv->name, hash) > 0);
		ASSERT_OK(volmount_share_path(ctx, path_rows[i].driver, path_rows[i].export, &mp));
		ASSERT_STREQ(mp, want);
		ASSERT_OK(volmount_share_path(set, path_rows[i].driver, path_rows[i].export, &mp2));
		ASSERT_STREQ(mp2, want);
	}
}

/* The share's identity (ledger key, lock file) is the SHA-256 hash under both schemes. */
static void test_identity_unchanged(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *nova = path_ctx(VOLMOUNT_PATH_SCHEME_NOVA);
	_cleanup_(ctx_freep) struct volmount_ctx *vm = path_ctx(VOLMOUNT_PATH_SCHEME_VOLMOUNT);
	struct share_req a = { .src_fd = -EBADF }, b = { .src_fd = -EBADF };

	ASSERT_OK(share_req_init(nova, "nfs", "srv:/exports/v", NULL, 0, false, &a));
	ASSERT_OK(share_req_init(vm, "nfs", "srv:/exports/v", NULL, 0, false, &b));
	ASSERT_STREQ(a.hash, b.hash);
	ASSERT_TRUE(a.subdir == NULL);
	ASSERT_STREQ(a.leaf, "ca190bf0ee2d4c7d0f01d72bc1ec4974");
	ASSERT_STREQ(b.subdir, "nfs");
	ASSERT_STREQ(b.leaf, b.hash);
	share_req_done(&a);
	share_req_done(&b);
}

static void test_setter(void)
{
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = NULL;

	ASSERT_OK(volmount_ctx_new(&ctx));
	ASSERT_EQ(volmount_ctx_set_path_scheme(NULL, VOLMOUNT_PATH_SCHEME_NOVA), -EINVAL);
	ASSERT_EQ(volmount_ctx_set_path_scheme(ctx, _VOLMOUNT_PATH_SCHEME_MAX), -EINVAL);
	ASSERT_EQ(volmount_ctx_set_path_scheme(ctx, (enum volmount_path_scheme)-1), -EINVAL);
	ASSERT_OK(volmount_ctx_set_path_scheme(ctx, VOLMOUNT_PATH_SCHEME_NOVA));
	ASSERT_EQ(ctx->path_scheme, VOLMOUNT_PATH_SCHEME_NOVA);
	ASSERT_OK(volmount_ctx_set_path_scheme(ctx, VOLMOUNT_PATH_SCHEME_VOLMOUNT));
	ASSERT_EQ(ctx->path_scheme, VOLMOUNT_PATH_SCHEME_VOLMOUNT);
}

/* ---- the scheme in the ledger ---- */

static struct volmount_ctx *new_ctx(const char *root, enum volmount_path_scheme scheme)
{
	struct volmount_ctx *ctx = test_ctx_in(root);

	ASSERT_OK(volmount_ctx_set_timeout(ctx, 5000));
	ASSERT_OK(volmount_ctx_set_path_scheme(ctx, scheme));
	return ctx;
}

static void insert(struct volmount_ctx *ctx, const char *hash, const char *mp, bool adopted,
		   int want)
{
	struct ledger_share s = {
		.hash = (char *)hash,
		.driver = (char *)"nfs",
		.export = (char *)"srv:/exports/v",
		.mountpoint = (char *)mp,
		.options = (char *)"nodev,nosuid,vers=4.2",
		.state = (char *)LEDGER_MOUNTED,
		.mount_id = 7,
		.adopted = adopted,
	};

	ASSERT_EQ(ledger_share_insert(ctx->ledger, &s), want);
}

static void test_ledger_scheme(void)
{
	_cleanup_(test_rm_rf) char *root = test_tmpdir("pathscheme");
	struct volmount_ctx *a, *b;

	/* An empty ledger takes the scheme of whoever opens it. */
	a = new_ctx(root, VOLMOUNT_PATH_SCHEME_VOLMOUNT);
	ASSERT_OK(ctx_open(a));
	volmount_ctx_free(a);
	a = new_ctx(root, VOLMOUNT_PATH_SCHEME_NOVA);
	ASSERT_OK(ctx_open(a));
	insert(a, "h1", "/m/1", false, 0);
	insert(a, "h3", "/m/3", false, 0);
	insert(a, "h4", "/m/4", false, 0);
	/* Setters that change the layout refuse once the context is in use. */
	ASSERT_EQ(volmount_ctx_set_path_scheme(a, VOLMOUNT_PATH_SCHEME_VOLMOUNT), -EBUSY);
	volmount_ctx_free(a);

	/* Shares exist: the other scheme is a configuration error, and changes nothing. */
	b = new_ctx(root, VOLMOUNT_PATH_SCHEME_VOLMOUNT);
	error_clear();
	ASSERT_EQ(ctx_open(b), -EXDEV);
	ASSERT_EQ(volmount_ctx_errkind(b), VOLMOUNT_ERR_CONFIG);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(b), "'nova'") != NULL);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(b), "holds 3 share(s)") != NULL);
	ASSERT_TRUE(b->ledger == NULL);
	/* ... and stays one on a retry (nothing half-open was kept). */
	ASSERT_EQ(ctx_open(b), -EXDEV);
	volmount_ctx_free(b);

	a = new_ctx(root, VOLMOUNT_PATH_SCHEME_NOVA);
	ASSERT_OK(ctx_open(a));
	ASSERT_OK(ledger_share_delete(a->ledger, "h1"));
	ASSERT_OK(ledger_share_delete(a->ledger, "h3"));
	ASSERT_OK(ledger_share_delete(a->ledger, "h4"));
	volmount_ctx_free(a);

	/* No share left: the other scheme may take the ledger over. */
	b = new_ctx(root, VOLMOUNT_PATH_SCHEME_VOLMOUNT);
	ASSERT_OK(ctx_open(b));
	volmount_ctx_free(b);
}

/* Two processes configured differently open an empty ledger at once: the first insert
 * decides, and the other's insert is refused inside its own transaction. */
static void test_insert_race(void)
{
	_cleanup_(test_rm_rf) char *root = test_tmpdir("pathscheme");
	_cleanup_(ctx_freep) struct volmount_ctx *a = new_ctx(root, VOLMOUNT_PATH_SCHEME_NOVA);
	_cleanup_(ctx_freep) struct volmount_ctx *b = new_ctx(root, VOLMOUNT_PATH_SCHEME_VOLMOUNT);

	ASSERT_OK(ctx_open(a));
	ASSERT_OK(ctx_open(b)); /* empty: b records "volmount" */
	insert(a, "h1", "/m/1", false, 0); /* still empty: a's insert records "nova" */
	error_clear();
	insert(b, "h2", "/m/2", false, -EXDEV);
	ASSERT_EQ(volmount_ctx_errkind(b), VOLMOUNT_ERR_CONFIG);
	insert(a, "h3", "/m/3", false, 0);
}

static void expect_row(struct volmount_ctx *ctx, const char *hash, bool adopted,
		       const char *options, size_t n_att)
{
	struct ledger_share s = {};

	ASSERT_OK(ledger_share_get(ctx->ledger, hash, &s));
	ASSERT_EQ(s.adopted, adopted);
	ASSERT_STREQ(s.options, options);
	ASSERT_EQ(s.n_attachments, n_att);
	ledger_share_done(&s);
}

static void test_adopted_flag(void)
{
	_cleanup_(test_rm_rf) char *root = test_tmpdir("pathscheme");
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = new_ctx(root, VOLMOUNT_PATH_SCHEME_NOVA);
	struct ledger_share *rows = NULL;
	size_t n = 0;
	bool added = false;

	ASSERT_OK(ctx_open(ctx));
	insert(ctx, "a", "/m/a", true, 0);
	insert(ctx, "b", "/m/b", true, 0);
	expect_row(ctx, "a", true, "nodev,nosuid,vers=4.2", 0);
	ASSERT_OK(ledger_shares_list(ctx->ledger, &rows, &n));
	ASSERT_EQ(n, 2);
	ASSERT_TRUE(rows[0].adopted && rows[1].adopted);
	ledger_shares_free(rows, n);

	/* The first attach claims the share with its own options. */
	ASSERT_OK(ledger_attach_claim(ctx->ledger, "a", 0, "nodev,nosuid,vers=4.1", "v1", "o",
				      &added));
	ASSERT_TRUE(added);
	expect_row(ctx, "a", false, "nodev,nosuid,vers=4.1", 1);
	/* A plain attach also ends the adoption, keeping the options. */
	ASSERT_OK(ledger_attach(ctx->ledger, "b", 0, "v1", "o", &added));
	expect_row(ctx, "b", false, "nodev,nosuid,vers=4.2", 1);
	/* A claim on a share that does not exist changes nothing and fails (no share). */
	ASSERT_TRUE(ledger_attach_claim(ctx->ledger, "nope", 0, "x", "v", "o", &added) < 0);
}

/* A ledger written by volmount 0.1 (schema 1) is migrated: its shares are not adopted and
 * were made with the volmount scheme. */
static void test_migration_from_v1(void)
{
	_cleanup_(test_rm_rf) char *root = test_tmpdir("pathscheme");
	_cleanup_free_ char *state = NULL, *db = NULL;
	struct volmount_ctx *ctx;
	sqlite3 *d = NULL;

	ASSERT_TRUE(asprintf(&state, "%s/state", root) > 0);
	ASSERT_TRUE(asprintf(&db, "%s/ledger.db", state) > 0);
	ASSERT_EQ(mkdir(state, 0700), 0);
	ASSERT_EQ(sqlite3_open(db, &d), SQLITE_OK);
	ASSERT_EQ(sqlite3_exec(d,
			       "CREATE TABLE host (id INTEGER PRIMARY KEY CHECK (id = 1),"
			       " state TEXT NOT NULL CHECK (state IN ('up', 'down')),"
			       " generation INTEGER NOT NULL, boot_id TEXT NOT NULL) STRICT;"
			       "INSERT INTO host VALUES (1, 'up', 3, '');"
			       "CREATE TABLE shares (hash TEXT PRIMARY KEY, driver TEXT NOT NULL,"
			       " export TEXT NOT NULL, mountpoint TEXT NOT NULL UNIQUE,"
			       " options TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN"
			       " ('pending', 'mounted', 'unmounting')), mount_id INTEGER NOT NULL"
			       " DEFAULT 0, dir_created INTEGER NOT NULL) STRICT;"
			       "CREATE TABLE attachments (hash TEXT NOT NULL REFERENCES shares (hash)"
			       " ON DELETE CASCADE, volume TEXT NOT NULL, owner TEXT NOT NULL,"
			       " PRIMARY KEY (hash, volume, owner)) STRICT, WITHOUT ROWID;"
			       "INSERT INTO shares VALUES ('old', 'bind', '/srv/x', '/m/old',"
			       " 'nodev,nosuid', 'mounted', 5, 1);"
			       "PRAGMA user_version = 1;",
			       NULL, NULL, NULL),
		  SQLITE_OK);
	ASSERT_EQ(sqlite3_close(d), SQLITE_OK);
	ASSERT_EQ(chmod(db, 0600), 0);

	ctx = new_ctx(root, VOLMOUNT_PATH_SCHEME_NOVA);
	ASSERT_EQ(ctx_open(ctx), -EXDEV);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_CONFIG);
	volmount_ctx_free(ctx);

	ctx = new_ctx(root, VOLMOUNT_PATH_SCHEME_VOLMOUNT);
	ASSERT_OK(ctx_open(ctx));
	expect_row(ctx, "old", false, "nodev,nosuid", 0);
	volmount_ctx_free(ctx);
}

/* ---- the configuration key (the file must be root's: skipped without root) ---- */

static int load(const char *root, const char *text, struct volmount_ctx *ctx)
{
	_cleanup_free_ char *path = NULL;
	FILE *f;

	ASSERT_TRUE(asprintf(&path, "%s/volmount.conf", root) > 0);
	f = fopen(path, "we");
	ASSERT_TRUE(f != NULL);
	ASSERT_TRUE(fputs(text, f) >= 0);
	ASSERT_EQ(fclose(f), 0);
	ASSERT_EQ(chmod(path, 0644), 0);
	return volmount_ctx_load_config(ctx, path, true);
}

static void test_config_key(void)
{
	_cleanup_(test_rm_rf) char *root = NULL;
	_cleanup_(ctx_freep) struct volmount_ctx *ctx = NULL;

	if (geteuid() != 0) {
		printf("# skipped: needs root to create a root-owned config file\n");
		return;
	}
	root = test_tmpdir("pathscheme");
	ASSERT_OK(volmount_ctx_new(&ctx));
	ASSERT_EQ(ctx->path_scheme, VOLMOUNT_PATH_SCHEME_VOLMOUNT);
	ASSERT_OK(load(root, "path_scheme = nova\n", ctx));
	ASSERT_EQ(ctx->path_scheme, VOLMOUNT_PATH_SCHEME_NOVA);
	ASSERT_OK(load(root, "path_scheme=volmount # the default\n", ctx));
	ASSERT_EQ(ctx->path_scheme, VOLMOUNT_PATH_SCHEME_VOLMOUNT);
	/* Refused values change nothing and name the line. */
	ASSERT_OK(load(root, "path_scheme = nova\n", ctx));
	ASSERT_EQ(load(root, "timeout = 3\npath_scheme = Nova\n", ctx), -EINVAL);
	ASSERT_EQ(volmount_ctx_errkind(ctx), VOLMOUNT_ERR_CONFIG);
	ASSERT_TRUE(strstr(volmount_ctx_errmsg(ctx), ":2: path_scheme") != NULL);
	ASSERT_EQ(load(root, "path_scheme = nova\npath_scheme = volmount\n", ctx), -EINVAL);
	ASSERT_EQ(load(root, "path_scheme =\n", ctx), -EINVAL);
	ASSERT_EQ(ctx->path_scheme, VOLMOUNT_PATH_SCHEME_NOVA);
}

static const struct test tests[] = {
	{ "md5 names", test_md5_names },
	{ "nova mountpoints", test_nova_paths },
	{ "volmount mountpoints unchanged", test_volmount_paths },
	{ "share identity is the same under both schemes", test_identity_unchanged },
	{ "volmount_ctx_set_path_scheme", test_setter },
	{ "ledger records the scheme", test_ledger_scheme },
	{ "insert checks the scheme in its transaction", test_insert_race },
	{ "adopted flag and claim", test_adopted_flag },
	{ "migration from schema 1", test_migration_from_v1 },
	{ "config key path_scheme", test_config_key },
};

TEST_MAIN(tests)
