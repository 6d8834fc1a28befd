/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * notify.h - the service manager's notification protocol (sd_notify(3)) for the monitor under
 * systemd (Type=notify, WatchdogSec=): READY=1, WATCHDOG=1, STATUS=, STOPPING=1 as datagrams
 * to $NOTIFY_SOCKET. Written here over one AF_UNIX datagram socket rather than linked from
 * libsystemd: the protocol is a documented, stable interface of a few lines, and the CLI is
 * linked statically by default (meson_options.txt), which libsystemd is not built for.
 */
#pragma once

#include <stdint.h>

/* Send @state ("READY=1", ...) if $NOTIFY_SOCKET is set. Returns 1 if sent, 0 if there is no
 * service manager to tell, or -errno. */
int notify_send(const char *state);

/* The watchdog interval systemd expects this process to keep ($WATCHDOG_USEC, if
 * $WATCHDOG_PID is unset or this process), in microseconds; 0 when there is none. */
uint64_t notify_watchdog_usec(void);
