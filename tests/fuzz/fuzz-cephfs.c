/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-cephfs.c - the cephfs driver's export grammar, option allowlist and mount spec, under the
 * invariants listed in fuzz-driver.h.
 */
#define FUZZ_DRIVER driver_cephfs
#include "fuzz-driver.h"
