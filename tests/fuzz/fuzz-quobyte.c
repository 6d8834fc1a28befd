/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-quobyte.c - the quobyte driver's export grammar, option allowlist and mount spec, under the
 * invariants listed in fuzz-driver.h.
 */
#define FUZZ_DRIVER driver_quobyte
#include "fuzz-driver.h"
