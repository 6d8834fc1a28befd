/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * notify.c - sd_notify(3)'s protocol, spoken directly (see notify.h for why): one datagram
 * with the state text to the AF_UNIX socket named by $NOTIFY_SOCKET, a path or, with a
 * leading '@', a name in the abstract namespace.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* secure_getenv() */
#endif

#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"

int notify_send(const char *state)
{
	const char *path = secure_getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -EBADF;
	size_t len;

	if (!path || !path[0])
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract: the length says where the name ends */
	else
		len++; /* a path: with its NUL */

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		return -errno;
	return 1;
}

uint64_t notify_watchdog_usec(void)
{
	const char *usec = secure_getenv("WATCHDOG_USEC");
	const char *pid = secure_getenv("WATCHDOG_PID");
	char *end = NULL;
	unsigned long long v;

	if (!usec || !usec[0])
		return 0;
	if (pid && pid[0]) {
		unsigned long long p = strtoull(pid, &end, 10);

		if (*end || p != (unsigned long long)getpid())
			return 0; /* meant for another process (the one that exec'd us, say) */
	}
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno || *end || v == 0)
		return 0;
	return v;
}
