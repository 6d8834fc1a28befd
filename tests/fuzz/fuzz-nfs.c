/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-nfs.c - the nfs driver's export grammar, option allowlist and mount spec, under the
 * invariants listed in fuzz-driver.h.
 */
#define FUZZ_DRIVER driver_nfs
#include "fuzz-driver.h"
