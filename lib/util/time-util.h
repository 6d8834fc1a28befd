/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* time-util.h - the monotonic clock in milliseconds, and a sleep that EINTR does not cut. */
#pragma once

#include <stdint.h>

/* Monotonic clock in milliseconds. */
uint64_t now_ms(void);
/* Sleep for @ms milliseconds (restarted on EINTR). */
void sleep_ms(unsigned ms);
