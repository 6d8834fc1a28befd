/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * limits.h - the input caps (CWE-400): nothing a caller sends may make volmount allocate or
 * loop without bound. Shared by the pure drivers and the engine; includes nothing.
 */
#pragma once

#define VOLMOUNT_EXPORT_MAX  4096
#define VOLMOUNT_VOLUME_MAX  255
#define VOLMOUNT_OWNER_MAX   128
#define VOLMOUNT_OPTIONS_MAX 64
#define VOLMOUNT_OPTION_MAX  1024
