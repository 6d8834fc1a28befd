/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-header.c - the public header is self-contained C99 and matches the loaded library. */
#include <volmount.h>

int main(void)
{
	return volmount_version_number() == VOLMOUNT_VERSION_NUMBER ? 0 : 1;
}
