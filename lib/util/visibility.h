/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* visibility.h - marks the definitions of libvolmount.sym's symbols (built -fvisibility=hidden). */
#pragma once

#define VOLMOUNT_EXPORT __attribute__((visibility("default")))
