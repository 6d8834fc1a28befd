/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * share.c - pure validation shared by every driver: volume names, owner ids, and the share
 * hash that names a mountpoint (CWE-707: a mountpoint is always <base>/<driver>/<hash>, so no
 * caller string ever becomes a path component except a validated volume name).
 */
#include <errno.h>
#include <nettle/md5.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "input-caps.h"

int volume_name_check(const char *v, const char **reterr)
{
	size_t n;

	if (!v || !*v) {
		*reterr = "volume name is empty";
		return -EINVAL;
	}
	n = strnlen(v, VOLMOUNT_VOLUME_MAX + 1);
	if (n > VOLMOUNT_VOLUME_MAX) {
		*reterr = "volume name is longer than 255 bytes";
		return -EINVAL;
	}
	if (v[0] == '.' || v[0] == '-') {
		*reterr = "volume name must not start with '.' or '-'";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-')) {
			*reterr = "volume name may only contain A-Z a-z 0-9 . _ -";
			return -EINVAL;
		}
	}
	return 0;
}

int owner_check(const char *o, const char **reterr)
{
	size_t n;

	if (!o || !*o) {
		*reterr = "owner id is empty";
		return -EINVAL;
	}
	n = strnlen(o, VOLMOUNT_OWNER_MAX + 1);
	if (n > VOLMOUNT_OWNER_MAX) {
		*reterr = "owner id is longer than 128 bytes";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)o[i];

		/* Printable ASCII without space; bytes >= 0x80 are refused so that no
		 * look-alike or invalid UTF-8 reaches logs and JSON. */
		if (c <= 0x20 || c >= 0x7f || c == '/') {
			*reterr = "owner id may only contain printable ASCII without '/' or whitespace";
			return -EINVAL;
		}
	}
	return 0;
}

static void to_hex(const uint8_t *md, size_t n, char *ret)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		ret[2 * i] = hex[md[i] >> 4];
		ret[2 * i + 1] = hex[md[i] & 0xf];
	}
	ret[2 * n] = '\0';
}

/* nettle, not OpenSSL: its hashes are plain functions with no library initialisation, where
 * OpenSSL 3's first EVP digest costs over a millisecond of provider loading, which every CLI
 * call would pay. */
int share_hash(const char *driver, const char *normalized, char ret[65])
{
	struct sha256_ctx c;
	uint8_t md[SHA256_DIGEST_SIZE];

	sha256_init(&c);
	sha256_update(&c, strlen(driver) + 1, (const uint8_t *)driver); /* the NUL separates */
	sha256_update(&c, strlen(normalized), (const uint8_t *)normalized);
	sha256_digest(&c, sizeof(md), md);
	to_hex(md, sizeof(md), ret);
	return 0;
}

int share_nova_name(const char *normalized, char ret[33])
{
	struct md5_ctx c;
	uint8_t md[MD5_DIGEST_SIZE];

	/* MD5 here names a directory, as Nova and os-brick do; it protects nothing (the share's
	 * identity is its SHA-256 hash). */
	md5_init(&c);
	md5_update(&c, strlen(normalized), (const uint8_t *)normalized);
	md5_digest(&c, sizeof(md), md);
	to_hex(md, sizeof(md), ret);
	return 0;
}
