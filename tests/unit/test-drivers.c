/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-drivers.c - the helper drivers (sshfs, glusterfs, nfs, cifs, quobyte, cephfs): export
 * normalization and refusals, option allowlists and canonical strings, credentials paths, and
 * the exact helper argv, mount type and source each driver expects.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "driver.h"
#include "internal.h"
#include "test.h"
#include "cleanup.h"

#define SSHFS     (&driver_sshfs)
#define GLUSTERFS (&driver_glusterfs)
#define NFS       (&driver_nfs)
#define CIFS      (&driver_cifs)
#define QUOBYTE   (&driver_quobyte)
#define CEPHFS    (&driver_cephfs)

static const struct driver *const helpers[] = { SSHFS, GLUSTERFS, NFS, CIFS, QUOBYTE, CEPHFS };

#define MP "/var/lib/volmount/mnt/x/3f2a"

static void test_driver_table(void)
{
	static const char *const names[] = { "sshfs", "glusterfs", "nfs", "cifs", "quobyte",
					     "cephfs" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		const struct driver *d = driver_find(names[i]);

		ASSERT_TRUE(d == helpers[i]);
		ASSERT_STREQ(d->name, names[i]);
		ASSERT_EQ(d->kind, DRIVER_KIND_HELPER);
		ASSERT_TRUE(d->normalize && d->options && d->helper_spec);
	}
	ASSERT_TRUE(driver_find("nfs4") == NULL);
	ASSERT_TRUE(driver_find("NFS") == NULL);
	ASSERT_TRUE(driver_find("ceph") == NULL);
}

/* ---- normalize ---- */

struct norm_row {
	const struct driver *d;
	const char *in;
	const char *out; /* NULL: refused with -EINVAL and a reason */
};

static const struct norm_row norm_rows[] = {
	/* sshfs: accepted */
	{ SSHFS, "user@host:/data", "user@host:/data" },
	{ SSHFS, "HOST.Example.COM:/srv/x/", "host.example.com:/srv/x" },
	{ SSHFS, "root@127.0.0.1:/exports//v/./w", "root@127.0.0.1:/exports/v/w" },
	{ SSHFS, "u@[::1]:/p", "u@[::1]:/p" },
	{ SSHFS, "u@[0:0:0:0:0:0:0:1]:/p", "u@[::1]:/p" },
	{ SSHFS, "[2001:DB8::1]:/x", "[2001:db8::1]:/x" },
	{ SSHFS, "srv:/", "srv:/" },
	{ SSHFS, "srv:///./", "srv:/" },
	{ SSHFS, "_svc.x-1@srv-1.lan:/a.b/c~d/e+f", "_svc.x-1@srv-1.lan:/a.b/c~d/e+f" },
	{ SSHFS, "a@b:/-x", "a@b:/-x" },
	{ SSHFS, "u@10.0.0.255:/srv", "u@10.0.0.255:/srv" },
	/* sshfs: refused */
	{ SSHFS, "-oProxyCommand=x:/p", NULL },
	{ SSHFS, "user@host:/p -oX", NULL },
	{ SSHFS, "host:/p\n", NULL },
	{ SSHFS, "host:p", NULL },
	{ SSHFS, "host:", NULL },
	{ SSHFS, "user@host", NULL },
	{ SSHFS, "@host:/p", NULL },
	{ SSHFS, "User@host:/p", NULL },
	{ SSHFS, "-u@host:/p", NULL },
	{ SSHFS, "u;id@host:/p", NULL },
	{ SSHFS, "host;id:/p", NULL },
	{ SSHFS, "$(id)@h:/p", NULL },
	{ SSHFS, "`id`@h:/p", NULL },
	{ SSHFS, "h:/a/../b", NULL },
	{ SSHFS, "h:/..", NULL },
	{ SSHFS, "h:/a%00", NULL },
	{ SSHFS, "h:/a b", NULL },
	{ SSHFS, "h\n:/p", NULL },
	{ SSHFS, "h:/\xef\xbc\x8f" "etc", NULL },  /* fullwidth solidus */
	{ SSHFS, "h\xd0\xb0:/p", NULL },           /* Cyrillic a */
	{ SSHFS, "[::1%eth0]:/p", NULL },
	{ SSHFS, "[::1:/p", NULL },
	{ SSHFS, "[zz::1]:/p", NULL },
	{ SSHFS, "[::1]x:/p", NULL },
	{ SSHFS, "256.1.1.1:/p", NULL },
	{ SSHFS, "01.2.3.4:/p", NULL },
	{ SSHFS, "1.2.3:/p", NULL },
	{ SSHFS, "0x7f000001:/p", NULL },
	{ SSHFS, "0x7f.1:/p", NULL },
	{ SSHFS, "h_x:/p", NULL },
	{ SSHFS, "-h:/p", NULL },
	{ SSHFS, "h-:/p", NULL },
	{ SSHFS, "a..b:/p", NULL },
	{ SSHFS, "h.:/p", NULL },
	{ SSHFS, "h:/p,ro", NULL },
	{ SSHFS, "h:/p:q", NULL },
	{ SSHFS, "u@v@h:/p", NULL },
	{ SSHFS, "abcdefghijabcdefghijabcdefghijabc@h:/p", NULL }, /* user of 33 bytes */
	{ SSHFS, "", NULL },
	/* glusterfs: accepted */
	{ GLUSTERFS, "gl1:/vol", "gl1:/vol" },
	{ GLUSTERFS, "127.0.0.2:/tvol", "127.0.0.2:/tvol" },
	{ GLUSTERFS, "GL1.Example.com,gl2,gl3:/Vol_1-a", "gl1.example.com,gl2,gl3:/Vol_1-a" },
	{ GLUSTERFS, "gl1:/vol/", "gl1:/vol" },
	{ GLUSTERFS, "gl1://vol", "gl1:/vol" },
	{ GLUSTERFS, "gl1:/./vol/.", "gl1:/vol" },
	{ GLUSTERFS, "gl1:/vol/sub//dir/", "gl1:/vol/sub/dir" },
	{ GLUSTERFS, "gl1:/snaps", "gl1:/snaps" },
	{ GLUSTERFS, "10.0.0.1,10.0.0.2:/v", "10.0.0.1,10.0.0.2:/v" },
	{ GLUSTERFS, "h1,h2,h3,h4,h5,h6,h7,h8,h9,h10,h11,h12,h13,h14,h15,h16:/v",
	  "h1,h2,h3,h4,h5,h6,h7,h8,h9,h10,h11,h12,h13,h14,h15,h16:/v" },
	/* glusterfs: refused */
	{ GLUSTERFS, "h1,h2,h3,h4,h5,h6,h7,h8,h9,h10,h11,h12,h13,h14,h15,h16,h17:/v", NULL },
	{ GLUSTERFS, "gl1,GL1:/vol", NULL },
	{ GLUSTERFS, "gl1:/snaps/sub", NULL },
	{ GLUSTERFS, "gl1:/vol/sub/../x", NULL },
	{ GLUSTERFS, "gl1:/vol/s b", NULL },
	{ GLUSTERFS, "gl1:vol", NULL },
	{ GLUSTERFS, "gl1:/", NULL },
	{ GLUSTERFS, "[::1]:/vol", NULL },
	{ GLUSTERFS, "gl1:24007:/vol", NULL },
	{ GLUSTERFS, "gl1:/-vol", NULL },
	{ GLUSTERFS, "gl1:/v.ol", NULL },
	{ GLUSTERFS, "gl1:/v*", NULL },
	{ GLUSTERFS, "gl1 :/v", NULL },
	{ GLUSTERFS, ",gl1:/v", NULL },
	{ GLUSTERFS, "gl1,:/v", NULL },
	{ GLUSTERFS, "gl1:/v$(reboot)", NULL },
	{ GLUSTERFS, "-ogl1:/v", NULL },
	{ GLUSTERFS, "gl1:/vol,ro,ssh_command=x", NULL },
	{ GLUSTERFS, "gl1:/../vol", NULL },
	/* nfs: accepted */
	{ NFS, "srv:/exports/v", "srv:/exports/v" },
	{ NFS, "SRV.lan:/exports/v/", "srv.lan:/exports/v" },
	{ NFS, "10.1.2.3:/", "10.1.2.3:/" },
	{ NFS, "[fe80::1]:/x", "[fe80::1]:/x" },
	{ NFS, "[FE80:0::1]:/x//y", "[fe80::1]:/x/y" },
	{ NFS, "srv:/./a/./b/.", "srv:/a/b" },
	{ NFS, "srv://", "srv:/" },
	{ NFS, "n-1.x:/a_b/c.d", "n-1.x:/a_b/c.d" },
	{ NFS, "[::ffff:10.0.0.1]:/e", "[::ffff:10.0.0.1]:/e" },
	/* nfs: refused */
	{ NFS, "srv:/a/../b", NULL },
	{ NFS, "srv:exports", NULL },
	{ NFS, "srv:/a\tb", NULL },
	{ NFS, "srv:/a;reboot", NULL },
	{ NFS, "-o:/x", NULL },
	{ NFS, "srv:/x\n", NULL },
	{ NFS, "srv:/x%2f", NULL },
	{ NFS, "[::1]/x", NULL },
	{ NFS, "srv:2049:/x", NULL },
	{ NFS, "srv:/x,vers=3", NULL },
	{ NFS, "user@srv:/x", NULL },
	{ NFS, "srv:/x\\y", NULL },
	{ NFS, "srv:/'x'", NULL },
	/* cifs: accepted */
	{ CIFS, "//srv/share", "//srv/share" },
	{ CIFS, "//SRV/Share$", "//srv/Share$" },
	{ CIFS, "//srv/share/", "//srv/share" },
	{ CIFS, "//srv/share/a//b/", "//srv/share/a/b" },
	{ CIFS, "//10.0.0.5/data/./x", "//10.0.0.5/data/x" },
	{ CIFS, "//srv/share/.", "//srv/share" },
	{ CIFS, "//fs.corp.example/Pub_1.x-y", "//fs.corp.example/Pub_1.x-y" },
	{ CIFS, "//srv/C$/Users", "//srv/C$/Users" },
	/* cifs: refused */
	{ CIFS, "\\\\srv\\share", NULL },
	{ CIFS, "//srv", NULL },
	{ CIFS, "//srv/", NULL },
	{ CIFS, "///share", NULL },
	{ CIFS, "//srv/-share", NULL },
	{ CIFS, "//srv/.hidden", NULL },
	{ CIFS, "//srv/sh are", NULL },
	{ CIFS, "//srv/share/../x", NULL },
	{ CIFS, "//[::1]/share", NULL },
	{ CIFS, "//srv:445/share", NULL },
	{ CIFS, "srv/share", NULL },
	{ CIFS, "//srv/share%00", NULL },
	{ CIFS, "//srv/sh;are", NULL },
	{ CIFS, "//srv/share/$(id)", NULL },
	{ CIFS, "//srv/share,password=x", NULL },
	/* share name of 81 bytes */
	{ CIFS,
	  "//srv/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  NULL },
	/* quobyte: accepted */
	{ QUOBYTE, "quobyte://reg/vol", "reg/vol" },
	{ QUOBYTE, "reg/vol", "reg/vol" },
	{ QUOBYTE, "REG.example.com:7861/Vol.1", "reg.example.com:7861/Vol.1" },
	{ QUOBYTE, "quobyte://10.0.0.1:12345/v_1-2", "10.0.0.1:12345/v_1-2" },
	{ QUOBYTE, "reg/vol/", "reg/vol" },
	{ QUOBYTE, "quobyte://reg:1/v", "reg:1/v" },
	{ QUOBYTE, "reg:65535/v", "reg:65535/v" },
	{ QUOBYTE, "a-b.c/x", "a-b.c/x" },
	/* quobyte: refused */
	{ QUOBYTE, "quobyte://reg:0/v", NULL },
	{ QUOBYTE, "reg:65536/v", NULL },
	{ QUOBYTE, "reg:07861/v", NULL },
	{ QUOBYTE, "quobyte://-reg/v", NULL },
	{ QUOBYTE, "reg/vol/sub", NULL },
	{ QUOBYTE, "reg/", NULL },
	{ QUOBYTE, "reg/.v", NULL },
	{ QUOBYTE, "QUOBYTE://reg/v", NULL },
	{ QUOBYTE, "reg/v;x", NULL },
	{ QUOBYTE, "quobyte://[::1]/v", NULL },
	{ QUOBYTE, "reg:/v", NULL },
	{ QUOBYTE, "reg//v", NULL },
	{ QUOBYTE, "quobyte://quobyte://reg/v", NULL },
	/* cephfs: accepted */
	{ CEPHFS, "mon1:/", "mon1:/" },
	{ CEPHFS, "mon1,mon2,mon3:/volumes/x", "mon1,mon2,mon3:/volumes/x" },
	{ CEPHFS, "MON1:6789,10.0.0.2:3300:/a/", "mon1:6789,10.0.0.2:3300:/a" },
	{ CEPHFS, "[::1]:6789:/", "[::1]:6789:/" },
	{ CEPHFS, "[0::1],mon2:/x", "[::1],mon2:/x" },
	{ CEPHFS, "mon1://a//b", "mon1:/a/b" },
	{ CEPHFS, "10.0.0.1:/.", "10.0.0.1:/" },
	{ CEPHFS, "m-1.lan:6789:/x~y+z", "m-1.lan:6789:/x~y+z" },
	/* cephfs: refused */
	{ CEPHFS, "mon1,mon1:/", NULL },
	{ CEPHFS, "mon1:6789,MON1:6789:/", NULL },
	{ CEPHFS, "mon1:/../", NULL },
	{ CEPHFS, "mon1:abc", NULL },
	{ CEPHFS, ":/", NULL },
	{ CEPHFS, "mon1:0:/", NULL },
	{ CEPHFS, "mon1:6789:6790:/", NULL },
	{ CEPHFS, "mon1,,mon2:/", NULL },
	{ CEPHFS, "-mon:/", NULL },
	{ CEPHFS, "mon1:/a b", NULL },
	{ CEPHFS, "mon1:/a\r", NULL },
	{ CEPHFS, "m1,m2,m3,m4,m5,m6,m7,m8,m9,m10,m11,m12,m13,m14,m15,m16,m17:/", NULL },
};

static void expect_normalize(const struct driver *d, const char *in, const char *want,
			     size_t row)
{
	_cleanup_free_ char *out = NULL;
	const char *err = NULL;
	int r = d->normalize(in, &out, &err);

	if (!want) {
		if (r != -EINVAL)
			TEST_FAIL("row %zu: %s normalize(\"%.80s\") = %d (\"%s\"), want -EINVAL",
				  row, d->name, in ? in : "(null)", r, out ? out : "");
		if (!err || !*err)
			TEST_FAIL("row %zu: \"%.80s\" refused without a reason", row,
				  in ? in : "(null)");
		ASSERT_TRUE(out == NULL);
		return;
	}
	if (r != 0)
		TEST_FAIL("row %zu: %s normalize(\"%.80s\") = %d (%s), want \"%.80s\"", row,
			  d->name, in, r, err ? err : "no reason", want);
	ASSERT_STREQ(out, want);
	{
		_cleanup_free_ char *again = NULL;

		ASSERT_OK(d->normalize(out, &again, &err));
		ASSERT_STREQ(again, out);
	}
}

static void test_normalize_table(void)
{
	size_t valid[ELEMENTSOF(helpers)] = {}, refused = 0;

	for (size_t i = 0; i < ELEMENTSOF(norm_rows); i++) {
		expect_normalize(norm_rows[i].d, norm_rows[i].in, norm_rows[i].out, i);
		for (size_t k = 0; k < ELEMENTSOF(helpers); k++)
			if (norm_rows[i].out && norm_rows[i].d == helpers[k])
				valid[k]++;
		refused += !norm_rows[i].out;
	}
	for (size_t k = 0; k < ELEMENTSOF(helpers); k++) {
		ASSERT_TRUE(valid[k] >= 8);
		expect_normalize(helpers[k], NULL, NULL, SIZE_MAX);
	}
	ASSERT_TRUE(refused >= 30);
}

static void test_normalize_caps(void)
{
	char *p = malloc(8192), *host = malloc(300);
	size_t o;

	ASSERT_TRUE(p && host);

	/* A host name of 253 bytes (four labels of 63 and one of 1) is fine; 254 is not. */
	o = 0;
	for (int l = 0; l < 3; l++) {
		memset(host + o, 'a', 63);
		o += 63;
		host[o++] = '.';
	}
	memset(host + o, 'b', 61);
	o += 61;
	host[o] = '\0';
	ASSERT_EQ(strlen(host), 253);
	(void)snprintf(p, 8192, "%s:/x", host);
	expect_normalize(NFS, p, p, 1);
	(void)snprintf(p, 8192, "%sb:/x", host);
	expect_normalize(NFS, p, NULL, 2);
	/* A label of 64 bytes is refused. */
	memset(host, 'c', 64);
	host[64] = '\0';
	(void)snprintf(p, 8192, "%s:/x", host);
	expect_normalize(SSHFS, p, NULL, 3);
	host[63] = '\0';
	(void)snprintf(p, 8192, "%s:/x", host);
	expect_normalize(SSHFS, p, p, 4);

	/* A path component of 256 bytes is refused; 255 is fine. */
	memcpy(p, "srv:/", 5);
	memset(p + 5, 'd', 256);
	p[5 + 256] = '\0';
	expect_normalize(NFS, p, NULL, 5);
	p[5 + 255] = '\0';
	expect_normalize(NFS, p, p, 6);

	/* Exports longer than 4096 bytes are refused by every driver. */
	memset(p, 'a', 5000);
	p[5000] = '\0';
	for (size_t k = 0; k < ELEMENTSOF(helpers); k++)
		expect_normalize(helpers[k], p, NULL, 7);
	memcpy(p, "srv:/", 5);
	for (size_t i = 5; i < 5000; i += 2) {
		p[i] = 'x';
		p[i + 1] = '/';
	}
	expect_normalize(NFS, p, NULL, 8);
	expect_normalize(SSHFS, p, NULL, 9);
	free(p);
	free(host);
}

/* ---- options ---- */

#define OPTS(...) { __VA_ARGS__, NULL }

struct opt_row {
	const struct driver *d;
	const char *opts[10];
	const char *canonical; /* NULL: refused with -EINVAL and a reason */
	const char *cred;
	unsigned long flags;
};

#define REFUSED(drv, ...) { drv, OPTS(__VA_ARGS__), NULL, NULL, 0 }

static const struct opt_row opt_rows[] = {
	/* sshfs */
	/* Always "BatchMode=yes,CheckHostIP=no,StrictHostKeyChecking=yes,UpdateHostKeys=no": ssh
	 * never prompts and never writes a host key. */
#define SSHFS_HK "StrictHostKeyChecking=yes,UpdateHostKeys=no,"
	{ SSHFS, { NULL }, "BatchMode=yes,CheckHostIP=no," SSHFS_HK "nodev,nosuid", NULL,
	  MS_NOSUID | MS_NODEV },
	{ SSHFS, OPTS("rw"), "BatchMode=yes,CheckHostIP=no," SSHFS_HK "nodev,nosuid", NULL,
	  MS_NOSUID | MS_NODEV },
	{ SSHFS, OPTS("ro", "ro", "nosuid", "BatchMode=yes", "CheckHostIP=no", "UpdateHostKeys=no"),
	  "BatchMode=yes,CheckHostIP=no," SSHFS_HK "nodev,nosuid,ro", NULL,
	  MS_NOSUID | MS_NODEV | MS_RDONLY },
	{ SSHFS,
	  OPTS("port=2222", "IdentityFile=/root/.ssh/id_ed25519", "ro",
	       "StrictHostKeyChecking=yes", "UserKnownHostsFile=/etc/volmount//known_hosts"),
	  "BatchMode=yes,CheckHostIP=no,IdentityFile=/root/.ssh/id_ed25519," SSHFS_HK
	  "UserKnownHostsFile=/etc/volmount/known_hosts,nodev,nosuid,port=2222,ro",
	  "/root/.ssh/id_ed25519", MS_NOSUID | MS_NODEV | MS_RDONLY },
	{ SSHFS, OPTS("IdentityFile=//root/.ssh//id/", "noexec"),
	  "BatchMode=yes,CheckHostIP=no,IdentityFile=/root/.ssh/id," SSHFS_HK
	  "nodev,noexec,nosuid", "/root/.ssh/id",
	  MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ SSHFS,
	  OPTS("reconnect", "ServerAliveInterval=2", "ServerAliveCountMax=2", "allow_other",
	       "default_permissions", "idmap=user", "uid=0", "gid=100", "compression=no"),
	  "BatchMode=yes,CheckHostIP=no,ServerAliveCountMax=2,ServerAliveInterval=2," SSHFS_HK
	  "allow_other,compression=no,default_permissions,gid=100,idmap=user,nodev,nosuid,"
	  "reconnect,uid=0",
	  NULL, MS_NOSUID | MS_NODEV },
	/* The driver takes any absolute path; the engine refuses what is not a root-owned
	 * regular file (such as /dev/null) on its fd. */
	{ SSHFS, OPTS("Ciphers=aes128-gcm@openssh.com", "UserKnownHostsFile=/dev/null",
		      "follow_symlinks", "dir_cache=no"),
	  "BatchMode=yes,CheckHostIP=no,Ciphers=aes128-gcm@openssh.com," SSHFS_HK
	  "UserKnownHostsFile=/dev/null,dir_cache=no,follow_symlinks,nodev,nosuid",
	  NULL, MS_NOSUID | MS_NODEV },
	/* Host keys are never written by a mount (issue 9, item 3). */
	REFUSED(SSHFS, "StrictHostKeyChecking=no"),
	REFUSED(SSHFS, "StrictHostKeyChecking=accept-new"),
	REFUSED(SSHFS, "StrictHostKeyChecking=accept-new", "UserKnownHostsFile=/etc/nologin"),
	REFUSED(SSHFS, "StrictHostKeyChecking=yes", "StrictHostKeyChecking=no"),
	REFUSED(SSHFS, "CheckHostIP=yes"),
	REFUSED(SSHFS, "UpdateHostKeys=yes"),
	REFUSED(SSHFS, "UpdateHostKeys=ask"),
	REFUSED(SSHFS, "UserKnownHostsFile=/a", "UserKnownHostsFile=/b"),
	REFUSED(SSHFS, "UserKnownHostsFile=relative"),
	REFUSED(SSHFS, "GlobalKnownHostsFile=/etc/nologin"),
	REFUSED(SSHFS, "HashKnownHosts=yes"),
	REFUSED(SSHFS, "ssh_command=sh"),
	REFUSED(SSHFS, "SSH_COMMAND=sh"),
	REFUSED(SSHFS, "sshfs_command=x"),
	REFUSED(SSHFS, "ProxyCommand=nc"),
	REFUSED(SSHFS, "proxycommand=nc"),
	REFUSED(SSHFS, "ProxyCommand=nc %h %p"),
	REFUSED(SSHFS, "ProxyJump=evil"),
	REFUSED(SSHFS, "LocalCommand=id"),
	REFUSED(SSHFS, "PermitLocalCommand=yes"),
	REFUSED(SSHFS, "KnownHostsCommand=/bin/x"),
	REFUSED(SSHFS, "directport=22"),
	REFUSED(SSHFS, "slave"),
	REFUSED(SSHFS, "passive"),
	REFUSED(SSHFS, "password_stdin"),
	REFUSED(SSHFS, "ro,ssh_command=x"),
	REFUSED(SSHFS, "-oProxyCommand=x"),
	REFUSED(SSHFS, "-o", "ProxyCommand=x"),
	REFUSED(SSHFS, "ro "),
	REFUSED(SSHFS, "ro\n"),
	REFUSED(SSHFS, "port=0"),
	REFUSED(SSHFS, "port=65536"),
	REFUSED(SSHFS, "port=022"),
	REFUSED(SSHFS, "port=+22"),
	REFUSED(SSHFS, "port="),
	REFUSED(SSHFS, "port"),
	REFUSED(SSHFS, "Port=22"),
	REFUSED(SSHFS, "port=22", "port=23"),
	REFUSED(SSHFS, "IdentityFile=relative/key"),
	REFUSED(SSHFS, "IdentityFile=/a/../etc/shadow"),
	REFUSED(SSHFS, "IdentityFile=/a/k\n"),
	REFUSED(SSHFS, "IdentityFile=/a/k", "IdentityFile=/b/k"),
	REFUSED(SSHFS, "password=x"),
	REFUSED(SSHFS, "ro", "rw"),
	REFUSED(SSHFS, "Ciphers=3des-cbc"),
	REFUSED(SSHFS, "Ciphers=aes128-ctr,aes256-ctr"),
	REFUSED(SSHFS, "StrictHostKeyChecking=ask"),
	REFUSED(SSHFS, "reconnect=yes"),
	REFUSED(SSHFS, "allow_root"),
	REFUSED(SSHFS, "suid"),
	REFUSED(SSHFS, "dev"),
	REFUSED(SSHFS, "exec"),
	REFUSED(SSHFS, "BatchMode=no"),
	REFUSED(SSHFS, "uid=-1"),
	REFUSED(SSHFS, "uid=4294967295"),
	REFUSED(SSHFS, "ssh_command"),
	REFUSED(SSHFS, ""),
	REFUSED(SSHFS, "modules=subdir"),
	REFUSED(SSHFS, "no_contain_symlinks"),
	REFUSED(SSHFS, "workaround=all"),
	REFUSED(SSHFS, "ro\xef\xbc\x8c"),
	/* glusterfs */
	{ GLUSTERFS, { NULL }, "nodev,nosuid", NULL, MS_NOSUID | MS_NODEV },
	{ GLUSTERFS, OPTS("ro", "log-level=WARNING", "acl"),
	  "acl,log-level=WARNING,nodev,nosuid,ro", NULL, MS_NOSUID | MS_NODEV | MS_RDONLY },
	{ GLUSTERFS, OPTS("log-file=/var/log/glusterfs/v.log", "direct-io-mode=disable", "rw"),
	  "direct-io-mode=disable,log-file=/var/log/glusterfs/v.log,nodev,nosuid", NULL,
	  MS_NOSUID | MS_NODEV },
	REFUSED(GLUSTERFS, "backup-volfile-servers=h2:h3"),
	REFUSED(GLUSTERFS, "backupvolfile-server=h2"),
	REFUSED(GLUSTERFS, "transport=tcp"),
	REFUSED(GLUSTERFS, "log-file=/etc/cron.d/x"),
	REFUSED(GLUSTERFS, "log-file=/var/log/glusterfs/../../../etc/x"),
	REFUSED(GLUSTERFS, "log-file=/var/log/glusterfsX/x"),
	REFUSED(GLUSTERFS, "xlator-option=*replicate*.x=y"),
	REFUSED(GLUSTERFS, "log-level=warning"),
	REFUSED(GLUSTERFS, "fuse-mountopts=suid"),
	REFUSED(GLUSTERFS, "suid"),
	REFUSED(GLUSTERFS, "ro,suid"),
	/* nfs */
	{ NFS, { NULL }, "nodev,nosuid,vers=4.2", NULL, MS_NOSUID | MS_NODEV },
	{ NFS, OPTS("nfsvers=3", "proto=udp", "hard", "rw"), "nodev,nosuid,proto=udp,vers=3", NULL,
	  MS_NOSUID | MS_NODEV },
	{ NFS, OPTS("vers=4.1", "sec=krb5p", "nconnect=4", "rsize=1048576"),
	  "nconnect=4,nodev,nosuid,rsize=1048576,sec=krb5p,vers=4.1", NULL, MS_NOSUID | MS_NODEV },
	{ NFS, OPTS("vers=3", "nfsvers=3", "soft", "timeo=600", "retrans=2", "nolock", "noac"),
	  "noac,nodev,nolock,nosuid,retrans=2,soft,timeo=600,vers=3", NULL, MS_NOSUID | MS_NODEV },
	{ NFS, OPTS("ro", "port=2049", "actimeo=0", "lookupcache=none", "wsize=65536"),
	  "actimeo=0,lookupcache=none,nodev,nosuid,port=2049,ro,vers=4.2,wsize=65536", NULL,
	  MS_NOSUID | MS_NODEV | MS_RDONLY },
	REFUSED(NFS, "vers=3", "nfsvers=4"),
	REFUSED(NFS, "suid"),
	REFUSED(NFS, "dev"),
	REFUSED(NFS, "exec"),
	REFUSED(NFS, "remount"),
	REFUSED(NFS, "bind"),
	REFUSED(NFS, "bg"),
	REFUSED(NFS, "vers=2"),
	REFUSED(NFS, "nconnect=17"),
	REFUSED(NFS, "rsize=2097152"),
	REFUSED(NFS, "proto=udp"),
	REFUSED(NFS, "vers=4.1", "proto=udp"),
	REFUSED(NFS, "hard", "soft"),
	REFUSED(NFS, "sec=none"),
	REFUSED(NFS, "addr=10.0.0.1"),
	REFUSED(NFS, "timeo=0"),
	REFUSED(NFS, "retrans=1e3"),
	REFUSED(NFS, "vers=4.2,sec=sys"),
	/* cifs */
	{ CIFS,
	  OPTS("credentials=/etc/volmount/smb.cred", "vers=3.1.1", "file_mode=644",
	       "dir_mode=0755"),
	  "credentials=/etc/volmount/smb.cred,dir_mode=0755,file_mode=0644,nodev,nosuid,"
	  "vers=3.1.1",
	  "/etc/volmount/smb.cred", MS_NOSUID | MS_NODEV },
	{ CIFS, OPTS("guest", "ro"), "guest,nodev,nosuid,ro", NULL,
	  MS_NOSUID | MS_NODEV | MS_RDONLY },
	{ CIFS,
	  OPTS("credentials=/c", "sec=krb5i", "domain=CORP.example", "uid=1000", "gid=1000",
	       "cache=none", "seal", "nounix", "noserverino"),
	  "cache=none,credentials=/c,domain=CORP.example,gid=1000,nodev,noserverino,nosuid,"
	  "nounix,seal,sec=krb5i,uid=1000",
	  "/c", MS_NOSUID | MS_NODEV },
	{ CIFS, { NULL }, NULL, NULL, 0 },
	REFUSED(CIFS, "ro"),
	REFUSED(CIFS, "guest", "password=x"),
	REFUSED(CIFS, "credentials=/c", "password=hunter2"),
	REFUSED(CIFS, "credentials=/c", "PASSWORD=hunter2"),
	REFUSED(CIFS, "credentials=/c", "pass=hunter2"),
	REFUSED(CIFS, "credentials=/c", "username=bob"),
	REFUSED(CIFS, "credentials=/c", "username=bob%secret"),
	REFUSED(CIFS, "credentials=/c", "user=bob"),
	REFUSED(CIFS, "guest", "credentials=/c"),
	REFUSED(CIFS, "credentials=/c", "file_mode=01777"),
	REFUSED(CIFS, "credentials=/c", "file_mode=0888"),
	REFUSED(CIFS, "credentials=/c", "domain=-x"),
	REFUSED(CIFS, "credentials=/c", "noperm"),
	REFUSED(CIFS, "credentials=/c", "sec=none"),
	REFUSED(CIFS, "credentials=c"),
	REFUSED(CIFS, "cred=/c"),
	REFUSED(CIFS, "guest", "serverino", "noserverino"),
	/* quobyte */
	{ QUOBYTE, { NULL }, "nodev,nosuid", NULL, MS_NOSUID | MS_NODEV },
	{ QUOBYTE, OPTS("ro", "allow_other"), "allow_other,nodev,nosuid,ro", NULL,
	  MS_NOSUID | MS_NODEV | MS_RDONLY },
	REFUSED(QUOBYTE, "user_xattr"),
	REFUSED(QUOBYTE, "allow_root"),
	REFUSED(QUOBYTE, "suid"),
	/* cephfs */
	{ CEPHFS, OPTS("name=admin", "secretfile=/etc/ceph/admin.secret", "fs=cephfs"),
	  "mds_namespace=cephfs,name=admin,nodev,nosuid,secretfile=/etc/ceph/admin.secret",
	  "/etc/ceph/admin.secret", MS_NOSUID | MS_NODEV },
	{ CEPHFS, OPTS("ro", "noatime", "rbytes", "mds_namespace=a"),
	  "mds_namespace=a,noatime,nodev,nosuid,rbytes,ro", NULL,
	  MS_NOSUID | MS_NODEV | MS_RDONLY },
	REFUSED(CEPHFS, "secret=AQBSdFhcAAAAABAAv4Wy1w=="),
	REFUSED(CEPHFS, "Secret=AQBS"),
	REFUSED(CEPHFS, "key=AQBS"),
	REFUSED(CEPHFS, "mon_addr=1.2.3.4"),
	REFUSED(CEPHFS, "fs=a", "mds_namespace=b"),
	REFUSED(CEPHFS, "rbytes", "norbytes"),
	REFUSED(CEPHFS, "name=-admin"),
	REFUSED(CEPHFS, "secretfile=/etc/ceph/../shadow"),
};

static size_t count_opts(const char *const *v)
{
	size_t n = 0;

	while (n < 10 && v[n])
		n++;
	return n;
}

static void test_options_table(void)
{
	size_t refused = 0;

	for (size_t i = 0; i < ELEMENTSOF(opt_rows); i++) {
		const struct opt_row *row = &opt_rows[i];
		struct driver_opts o = {};
		const char *err = NULL;
		int r = row->d->options(row->opts, count_opts(row->opts), &o, &err);

		if (!row->canonical) {
			if (r != -EINVAL)
				TEST_FAIL("row %zu: %s options (%s, ...) = %d \"%s\", want -EINVAL",
					  i, row->d->name, row->opts[0] ? row->opts[0] : "none", r,
					  o.canonical ? o.canonical : "");
			if (!err || !*err)
				TEST_FAIL("row %zu: refused without a reason", i);
			ASSERT_TRUE(o.canonical == NULL && o.cred_path == NULL &&
				    o.trusted_path == NULL);
			refused++;
			continue;
		}
		if (r != 0)
			TEST_FAIL("row %zu: %s options (%s, ...) = %d (%s)", i, row->d->name,
				  row->opts[0] ? row->opts[0] : "none", r, err ? err : "no reason");
		ASSERT_STREQ(o.canonical, row->canonical);
		ASSERT_EQ(o.flags, row->flags);
		if (row->cred)
			ASSERT_STREQ(o.cred_path, row->cred);
		else
			ASSERT_TRUE(o.cred_path == NULL);
		if (!strstr(row->canonical, "UserKnownHostsFile="))
			ASSERT_TRUE(o.trusted_path == NULL);
		driver_opts_done(&o);
	}
	ASSERT_TRUE(refused >= 30);
}

/* sshfs: the known-hosts file is a trusted file the engine checks (trusted_path), normalized as
 * in the canonical string; ssh is always told never to write host keys (issue 9, item 3). */
static void test_sshfs_known_hosts(void)
{
	static const struct {
		const char *opt, *path;
	} rows[] = {
		{ "UserKnownHostsFile=/etc/volmount//known_hosts/", "/etc/volmount/known_hosts" },
		{ "UserKnownHostsFile=/dev/null", "/dev/null" },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		const char *opts[] = { rows[i].opt, "IdentityFile=/k" };
		struct driver_opts o = {};
		const char *err = NULL;

		ASSERT_OK(SSHFS->options(opts, 2, &o, &err));
		ASSERT_STREQ(o.trusted_path, rows[i].path);
		ASSERT_STREQ(o.trusted_option, "UserKnownHostsFile");
		ASSERT_STREQ(o.cred_path, "/k");
		ASSERT_TRUE(strstr(o.canonical, "StrictHostKeyChecking=yes") != NULL);
		ASSERT_TRUE(strstr(o.canonical, "CheckHostIP=no") != NULL);
		ASSERT_TRUE(strstr(o.canonical, "UpdateHostKeys=no") != NULL);
		driver_opts_done(&o);
		ASSERT_TRUE(o.trusted_path == NULL && o.trusted_option == NULL);
	}
	{
		/* The refusal of a host-key-writing mode says why. */
		const char *opts[] = { "StrictHostKeyChecking=accept-new" };
		struct driver_opts o = {};
		const char *err = NULL;

		ASSERT_EQ(SSHFS->options(opts, 1, &o, &err), -EINVAL);
		ASSERT_TRUE(err && strstr(err, "host keys") != NULL);
	}
}

/* The canonical string of every accepted row is accepted again, unchanged (the engine
 * re-validates recorded options after a restart). */
static void test_options_canonical_roundtrip(void)
{
	for (size_t i = 0; i < ELEMENTSOF(opt_rows); i++) {
		const struct opt_row *row = &opt_rows[i];
		struct driver_opts o = {};
		const char *vec[40], *err = NULL;
		_cleanup_free_ char *buf = NULL;
		size_t n = 0;

		if (!row->canonical)
			continue;
		buf = strdup(row->canonical);
		ASSERT_TRUE(buf != NULL);
		for (char *p = buf; p;) {
			char *comma = strchr(p, ',');

			vec[n++] = p;
			if (comma)
				*comma++ = '\0';
			p = comma;
		}
		ASSERT_OK(row->d->options(vec, n, &o, &err));
		ASSERT_STREQ(o.canonical, row->canonical);
		driver_opts_done(&o);
	}
}

/* Heap's algorithm: every ordering of @v gives the same canonical string. */
static void permute(const struct driver *d, const char **v, size_t k, size_t n, const char *want)
{
	if (k == 1) {
		struct driver_opts o = {};
		const char *err = NULL;

		ASSERT_OK(d->options(v, n, &o, &err));
		ASSERT_STREQ(o.canonical, want);
		driver_opts_done(&o);
		return;
	}
	for (size_t i = 0; i < k; i++) {
		const char *t;

		permute(d, v, k - 1, n, want);
		t = v[k % 2 ? 0 : i];
		v[k % 2 ? 0 : i] = v[k - 1];
		v[k - 1] = t;
	}
}

static void test_options_order(void)
{
	static const struct {
		const struct driver *d;
		const char *opts[6];
		const char *want;
	} rows[] = {
		{ SSHFS, { "ro", "port=22", "IdentityFile=/k", "reconnect", "nodev" },
		  "BatchMode=yes,CheckHostIP=no,IdentityFile=/k," SSHFS_HK
		  "nodev,nosuid,port=22,reconnect,ro" },
		{ NFS, { "soft", "nfsvers=4.1", "ro", "timeo=10", "vers=4.1" },
		  "nodev,nosuid,ro,soft,timeo=10,vers=4.1" },
		{ CIFS, { "credentials=/c", "ro", "vers=3.0", "seal", "uid=0" },
		  "credentials=/c,nodev,nosuid,ro,seal,uid=0,vers=3.0" },
		{ CEPHFS, { "name=a", "fs=b", "ro", "secretfile=/s", "noatime" },
		  "mds_namespace=b,name=a,noatime,nodev,nosuid,ro,secretfile=/s" },
		{ GLUSTERFS, { "acl", "ro", "log-level=ERROR", "noexec", "nosuid" },
		  "acl,log-level=ERROR,nodev,noexec,nosuid,ro" },
		{ QUOBYTE, { "ro", "allow_other", "noexec", "ro", "nodev" },
		  "allow_other,nodev,noexec,nosuid,ro" },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		const char *v[5];

		memcpy(v, rows[i].opts, sizeof(v));
		permute(rows[i].d, v, 5, 5, rows[i].want);
	}
}

/* ---- mount spec ---- */

struct spec_row {
	const struct driver *d;
	const char *export;
	const char *opts[6];
	const char *argv[10];
	const char *fstype;
	const char *source;
};

static const struct spec_row spec_rows[] = {
	{ SSHFS, "root@127.0.0.1:/srv/export", OPTS("port=2222", "IdentityFile=/k/id"),
	  { "/usr/bin/sshfs", "-o",
	    "BatchMode=yes,CheckHostIP=no,IdentityFile=/k/id," SSHFS_HK "nodev,nosuid,port=2222",
	    "--",
	    "root@127.0.0.1:/srv/export", MP, NULL },
	  "fuse.sshfs", "root@127.0.0.1:/srv/export" },
	{ SSHFS, "u@[::1]:/", { NULL },
	  { "/usr/bin/sshfs", "-o", "BatchMode=yes,CheckHostIP=no," SSHFS_HK "nodev,nosuid", "--",
	    "u@[::1]:/", MP, NULL },
	  "fuse.sshfs", "u@[::1]:/" },
	{ SSHFS, "srv:/a", OPTS("ro"),
	  { "/usr/bin/sshfs", "-o", "BatchMode=yes,CheckHostIP=no," SSHFS_HK "nodev,nosuid,ro",
	    "--", "srv:/a", MP, NULL },
	  "fuse.sshfs", "srv:/a" },
	{ GLUSTERFS, "gl1,gl2,gl3:/vol", OPTS("ro"),
	  { "/sbin/mount.glusterfs", "gl1:/vol", MP, "-o",
	    "backup-volfile-servers=gl2:gl3,nodev,nosuid,ro", NULL },
	  "fuse.glusterfs", "gl1:/vol" },
	{ GLUSTERFS, "gl1,gl2:/vol/a/b", { NULL },
	  { "/sbin/mount.glusterfs", "gl1:/vol/a/b", MP, "-o",
	    "backup-volfile-servers=gl2,nodev,nosuid", NULL },
	  "fuse.glusterfs", "gl1:/vol/a/b" },
	{ GLUSTERFS, "127.0.0.2:/tvol", { NULL },
	  { "/sbin/mount.glusterfs", "127.0.0.2:/tvol", MP, "-o", "nodev,nosuid", NULL },
	  "fuse.glusterfs", "127.0.0.2:/tvol" },
	{ NFS, "srv:/exports/v", { NULL },
	  { "/sbin/mount.nfs", "srv:/exports/v", MP, "-o", "nodev,nosuid,vers=4.2", NULL }, "nfs4",
	  "srv:/exports/v" },
	{ NFS, "srv:/exports/v", OPTS("nfsvers=3", "soft"),
	  { "/sbin/mount.nfs", "srv:/exports/v", MP, "-o", "nodev,nosuid,soft,vers=3", NULL },
	  "nfs", "srv:/exports/v" },
	{ NFS, "[fe80::1]:/", OPTS("vers=4"),
	  { "/sbin/mount.nfs", "[fe80::1]:/", MP, "-o", "nodev,nosuid,vers=4", NULL }, "nfs4",
	  "[fe80::1]:/" },
	{ CIFS, "//srv/share/sub", OPTS("credentials=/etc/c"),
	  { "/sbin/mount.cifs", "//srv/share/sub", MP, "-o", "credentials=/etc/c,nodev,nosuid",
	    NULL },
	  "cifs", "//srv/share/sub" },
	{ CIFS, "//10.0.0.5/C$", OPTS("guest", "ro"),
	  { "/sbin/mount.cifs", "//10.0.0.5/C$", MP, "-o", "guest,nodev,nosuid,ro", NULL }, "cifs",
	  "//10.0.0.5/C$" },
	{ QUOBYTE, "reg:7861/vol", { NULL },
	  { "/usr/bin/mount.quobyte", "-o", "nodev,nosuid", "--", "reg:7861/vol", MP, NULL },
	  "fuse.quobyte", "quobyte@reg:7861/vol" },
	{ QUOBYTE, "reg/vol", OPTS("ro"),
	  { "/usr/bin/mount.quobyte", "-o", "nodev,nosuid,ro", "--", "reg/vol", MP, NULL },
	  "fuse.quobyte", "quobyte@reg/vol" },
	{ CEPHFS, "10.0.0.1:6789,10.0.0.2:/vols/a", OPTS("name=admin", "secretfile=/etc/ceph/s"),
	  { "/sbin/mount.ceph", "10.0.0.1:6789,10.0.0.2:/vols/a", MP, "-o",
	    "name=admin,nodev,nosuid,secretfile=/etc/ceph/s", NULL },
	  "ceph", "10.0.0.1:6789,10.0.0.2:/vols/a" },
	{ CEPHFS, "[::1]:/", { NULL },
	  { "/sbin/mount.ceph", "[::1]:/", MP, "-o", "nodev,nosuid", NULL }, "ceph", "[::1]:/" },
};

static void test_mount_spec(void)
{
	for (size_t i = 0; i < ELEMENTSOF(spec_rows); i++) {
		const struct spec_row *row = &spec_rows[i];
		struct driver_mount_spec m = {};
		struct driver_opts o = {};
		const char *err = NULL;
		size_t k;

		ASSERT_OK(row->d->options(row->opts, count_opts(row->opts), &o, &err));
		if (driver_mount_spec(row->d, row->export, &o, MP, &m, &err) != 0)
			TEST_FAIL("row %zu: mount_spec: %s", i, err ? err : "no reason");
		for (k = 0; row->argv[k]; k++) {
			if (!m.argv[k])
				TEST_FAIL("row %zu: argv[%zu] missing, want \"%s\"", i, k,
					  row->argv[k]);
			if (strcmp(m.argv[k], row->argv[k]) != 0)
				TEST_FAIL("row %zu: argv[%zu] = \"%s\", want \"%s\"", i, k,
					  m.argv[k], row->argv[k]);
		}
		if (m.argv[k])
			TEST_FAIL("row %zu: extra argv[%zu] = \"%s\"", i, k, m.argv[k]);
		ASSERT_STREQ(m.fstype, row->fstype);
		ASSERT_STREQ(m.source, row->source);
		driver_mount_spec_done(&m);
		driver_mount_spec_done(&m); /* idempotent */
		driver_opts_done(&o);
	}
}

static void test_mount_spec_refusals(void)
{
	static const char *const bad_mp[] = { "relative/mp", "/mnt/a b", "/mnt/x\n", "/mnt/../etc",
					      "/mnt/*", "-o", "/mnt/a,b", "/mnt/$(id)", "" };

	for (size_t k = 0; k < ELEMENTSOF(helpers); k++) {
		const struct driver *d = helpers[k];
		static const char *const exports[] = { "srv:/x", "gl:/vol", "srv:/x", "//srv/s",
						       "reg/vol", "mon:/" };
		const char *const creds[] = { "credentials=/c", NULL };
		struct driver_mount_spec m = {};
		struct driver_opts o = {};
		const char *err = NULL;

		ASSERT_OK(d->options(d == CIFS ? creds : NULL, d == CIFS ? 1 : 0, &o, &err));
		ASSERT_OK(driver_mount_spec(d, exports[k], &o, MP, &m, &err));
		driver_mount_spec_done(&m);
		for (size_t i = 0; i < ELEMENTSOF(bad_mp); i++) {
			err = NULL;
			ASSERT_EQ(driver_mount_spec(d, exports[k], &o, bad_mp[i], &m, &err), -EINVAL);
			ASSERT_TRUE(err && *err && m.argv == NULL);
		}
		ASSERT_EQ(driver_mount_spec(d, exports[k], &o, NULL, &m, &err), -EINVAL);
		/* Only normalized exports are accepted. */
		ASSERT_EQ(driver_mount_spec(d, "-x", &o, MP, &m, &err), -EINVAL);
		{
			_cleanup_free_ char *up = strdup(exports[k]);
			char *p;

			ASSERT_TRUE(up != NULL);
			p = strchr(up, d == CIFS ? 'r' : 's');
			if (!p)
				p = strchr(up, 'r');
			if (!p)
				p = strchr(up, 'g');
			if (!p)
				p = strchr(up, 'm');
			ASSERT_TRUE(p != NULL);
			*p = (char)(*p - 'a' + 'A');
			ASSERT_EQ(driver_mount_spec(d, up, &o, MP, &m, &err), -EINVAL);
		}
		/* Options not built by the driver. */
		{
			struct driver_opts none = {};
			struct driver_opts dash = { .canonical = (char *)"-oProxyCommand=x" };

			ASSERT_EQ(driver_mount_spec(d, exports[k], &none, MP, &m, &err), -EINVAL);
			ASSERT_EQ(driver_mount_spec(d, exports[k], &dash, MP, &m, &err), -EINVAL);
			ASSERT_EQ(driver_mount_spec(d, exports[k], NULL, MP, &m, &err), -EINVAL);
		}
		driver_opts_done(&o);
	}
}

/* Whatever the spelling, one server and path make one share. */
static void test_same_share(void)
{
	static const struct {
		const struct driver *d;
		const char *a, *b;
	} rows[] = {
		{ NFS, "SRV:/x/", "srv://x/." },
		{ NFS, "[::1]:/x", "[0:0::1]:/x" },
		{ SSHFS, "u@H:/a//b", "u@h:/a/b/" },
		{ CIFS, "//Srv/s/p/", "//srv/s//p" },
		{ QUOBYTE, "quobyte://R:7861/v", "r:7861/v/" },
		{ CEPHFS, "M1,M2:/a", "m1,m2:/a/" },
		{ GLUSTERFS, "G1,g2:/v", "g1,G2://v" },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		_cleanup_free_ char *x = NULL, *y = NULL;
		const char *err = NULL;
		char hx[65], hy[65];

		ASSERT_OK(rows[i].d->normalize(rows[i].a, &x, &err));
		ASSERT_OK(rows[i].d->normalize(rows[i].b, &y, &err));
		ASSERT_STREQ(x, y);
		ASSERT_OK(share_hash(rows[i].d->name, x, hx));
		ASSERT_OK(share_hash(rows[i].d->name, y, hy));
		ASSERT_STREQ(hx, hy);
	}
}

/* Inline secrets never pass, under any driver and in any case. */
static void test_inline_secrets(void)
{
	static const char *const secrets[] = { "password=x", "PASSWORD=x", "pass=x", "passwd=x",
					       "secret=AQB=", "Secret=AQB=", "key=AQB=",
					       "password2=x" };

	for (size_t k = 0; k < ELEMENTSOF(helpers); k++)
		for (size_t i = 0; i < ELEMENTSOF(secrets); i++) {
			const char *v[2] = { secrets[i], "guest" };
			struct driver_opts o = {};
			const char *err = NULL;

			ASSERT_EQ(helpers[k]->options(v, 1, &o, &err), -EINVAL);
			ASSERT_TRUE(err && (strstr(err, "secret") || strstr(err, "password")));
			ASSERT_TRUE(o.canonical == NULL);
			ASSERT_EQ(helpers[k]->options(v, 2, &o, &err), -EINVAL);
		}
}

/* Option counts and lengths are capped. */
static void test_options_caps(void)
{
	const char *many[VOLMOUNT_OPTIONS_MAX + 1];
	char *big = malloc(VOLMOUNT_OPTION_MAX + 64);
	struct driver_opts o = {};
	const char *err = NULL;

	ASSERT_TRUE(big != NULL);
	for (size_t i = 0; i < ELEMENTSOF(many); i++)
		many[i] = "ro";
	ASSERT_OK(NFS->options(many, VOLMOUNT_OPTIONS_MAX, &o, &err));
	ASSERT_STREQ(o.canonical, "nodev,nosuid,ro,vers=4.2");
	driver_opts_done(&o);
	ASSERT_EQ(NFS->options(many, VOLMOUNT_OPTIONS_MAX + 1, &o, &err), -EINVAL);

	memcpy(big, "IdentityFile=/", 14);
	memset(big + 14, 'k', VOLMOUNT_OPTION_MAX + 10);
	big[VOLMOUNT_OPTION_MAX + 24] = '\0';
	many[0] = big;
	ASSERT_EQ(SSHFS->options(many, 1, &o, &err), -EINVAL);
	ASSERT_TRUE(o.canonical == NULL);
	many[0] = NULL;
	ASSERT_EQ(SSHFS->options(many, 1, &o, &err), -EINVAL);
	free(big);
}

static const struct test tests[] = {
	{ "sshfs known-hosts file and host-key options", test_sshfs_known_hosts },
	{ "driver_table", test_driver_table },
	{ "normalize_table", test_normalize_table },
	{ "normalize_caps", test_normalize_caps },
	{ "options_table", test_options_table },
	{ "options_canonical_roundtrip", test_options_canonical_roundtrip },
	{ "options_order", test_options_order },
	{ "mount_spec", test_mount_spec },
	{ "mount_spec_refusals", test_mount_spec_refusals },
	{ "same_share", test_same_share },
	{ "inline_secrets", test_inline_secrets },
	{ "options_caps", test_options_caps },
};

TEST_MAIN(tests)
