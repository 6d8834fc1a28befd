/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * share.c - pure validation shared by every driver: volume names, owner ids, and the share
 * hash that names a mountpoint (CWE-707: a mountpoint is always <base>/<driver>/<hash>, so no
 * caller string ever becomes a path component except a validated volume name).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "internal.h"

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

int share_hash(const char *driver, const char *normalized, char ret[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int ok;

	if (!m)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(m, driver, strlen(driver) + 1) == 1 && /* the NUL separates */
	     EVP_DigestUpdate(m, normalized, strlen(normalized)) == 1 &&
	     EVP_DigestFinal_ex(m, md, &len) == 1 && len == 32;
	EVP_MD_CTX_free(m);
	if (!ok)
		return -EIO;
	for (unsigned i = 0; i < 32; i++) {
		ret[2 * i] = hex[md[i] >> 4];
		ret[2 * i + 1] = hex[md[i] & 0xf];
	}
	ret[64] = '\0';
	return 0;
}
