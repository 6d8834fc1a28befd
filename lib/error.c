/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* error.c - the thread-local error slot (error.h) and its public accessors. */
#include "error.h"

#include <stdio.h>
#include <string.h>

#include "visibility.h"
#include "errno-util.h"

static __thread char tls_errmsg[1024];
static __thread enum volmount_errkind tls_errkind;

int error_set(int r, enum volmount_errkind kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(tls_errmsg, sizeof(tls_errmsg), fmt, ap); /* truncation is acceptable */
	va_end(ap);
	tls_errkind = kind;
	if (r < 0) {
		size_t n = strlen(tls_errmsg);

		while (n > 0 && tls_errmsg[n - 1] == ' ')
			n--;
		if (n == 0 || tls_errmsg[n - 1] == ':')
			(void)snprintf(tls_errmsg + n, sizeof(tls_errmsg) - n, "%s%s",
				       n ? " " : "", errno_str(r));
	}
	return r;
}

void error_clear(void)
{
	tls_errmsg[0] = '\0';
	tls_errkind = VOLMOUNT_ERR_NONE;
}

bool error_pending(void)
{
	return tls_errkind != VOLMOUNT_ERR_NONE;
}

VOLMOUNT_EXPORT const char *volmount_ctx_errmsg(const struct volmount_ctx *ctx)
{
	(void)ctx;
	return tls_errmsg;
}

VOLMOUNT_EXPORT enum volmount_errkind volmount_ctx_errkind(const struct volmount_ctx *ctx)
{
	(void)ctx;
	return tls_errkind;
}
