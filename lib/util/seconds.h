/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * seconds.h - decimal seconds ("30", "2.5", ".5", "5.") into milliseconds, rounded up so a wait
 * never gets shorter than asked: for --timeout, monitor --interval and the configuration file.
 * Header-only, so the CLI (which may link the shared library, where util is hidden) and the
 * library share one parser.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>

/* At most this many characters in a number. */
#define SECONDS_NUMBER_MAX 32

/*
 * Only digits and one dot are accepted, so strtod() never sees a sign, an exponent, hex, "inf"
 * or "nan". Returns 0, -EINVAL (not such a number) or -ERANGE (not in (0, @max_sec]).
 */
static inline int seconds_parse_ms(const char *s, double max_sec, unsigned *ret_ms)
{
	size_t digits = 0, dots = 0;
	char *end = NULL;
	double sec, ms;
	unsigned v;

	for (const char *p = s; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (*p == '.')
			dots++;
		else
			return -EINVAL;
	}
	if (digits == 0 || dots > 1 || digits + dots > SECONDS_NUMBER_MAX)
		return -EINVAL;
	errno = 0;
	sec = strtod(s, &end);
	if (end == s || *end != '\0')
		return -EINVAL;
	if (errno == ERANGE || !(sec > 0.0) || sec > max_sec)
		return -ERANGE;
	ms = sec * 1000.0;
	v = (unsigned)ms;
	if ((double)v < ms)
		v++;
	*ret_ms = v;
	return 0;
}
