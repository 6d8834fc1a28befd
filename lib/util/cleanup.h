/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cleanup.h - scope-bound cleanup for locals (__attribute__((cleanup))), and the two macros that
 * move ownership out of such a variable. Every cleanup variable is initialised where declared.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		(void)close(*fd); /* nothing useful to do on a close error of a read-only fd */
		errno = saved;
	}
}

/* Close now what a cleanup variable holds, leaving it -EBADF (so the cleanup does nothing). */
static inline void close_now(int *fd)
{
	closep(fd);
	*fd = -EBADF;
}

#define TAKE_PTR(p)                                  \
	({                                           \
		__typeof__(p) _take_tmp = (p);       \
		(p) = NULL;                          \
		_take_tmp;                           \
	})

#define TAKE_FD(fd)                                  \
	({                                           \
		int _take_fd = (fd);                 \
		(fd) = -EBADF;                       \
		_take_fd;                            \
	})

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
