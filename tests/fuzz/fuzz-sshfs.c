/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-sshfs.c - the sshfs driver's export grammar, option allowlist and mount spec, under the
 * invariants listed in fuzz-driver.h.
 */
#define FUZZ_DRIVER driver_sshfs
#include "fuzz-driver.h"
