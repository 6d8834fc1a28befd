#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# CWE-691/664: the last detach of a share that is still in use (a process has its cwd inside
# the mount) fails to unmount with EBUSY. volmount must say so (75), keep the mount recorded,
# never stack a second mount on a later attach, and finish the unmount when a later detach is
# retried once the share is free.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

exp=$(mkexport busy)
expect_exit 0 vm attach --type bind --export "$exp" --volume v1 --owner o1
mp=${LAST_OUT%/v1}
is "$(mounts_at "$mp")" 1 "mounted once"

# Hold the mount busy: a process whose working directory is inside it.
(cd "$mp" && exec sleep 600) &
holder=$!
# Until its working directory is inside the mount (not a fixed sleep: a slow machine may take
# longer to get there, and the detach below must meet a busy share).
for _ in $(seq 1000); do
	[ "$(readlink "/proc/$holder/cwd")" = "$mp" ] && break
	sleep 0.01
done
is "$(readlink "/proc/$holder/cwd")" "$mp" "the holder works inside the mount"

expect_exit 75 vm detach --type bind --export "$exp" --volume v1 --owner o1
stderr_explains "busy unmount explains itself"
is "$(mounts_at "$mp")" 1 "still mounted exactly once after the failed unmount"
is "$(ledger_sql "SELECT state FROM shares")" "unmounting" "ledger remembers the unmount is unfinished"
is "$(ledger_attachments)" 0 "the attachment itself was removed"

expect_exit 0 vm attach --type bind --export "$exp" --volume v2 --owner o1
is "$(mounts_at "$mp")" 1 "attach while unmounting adopts the mount: no second mount"
is "$(ledger_sql "SELECT state FROM shares")" "mounted" "share is mounted again in the ledger"
expect_exit 75 vm detach --type bind --export "$exp" --volume v2 --owner o1

kill "$holder"
wait "$holder" 2>/dev/null
expect_exit 0 vm detach --type bind --export "$exp" --volume v2 --owner o1
is "$(mounts_at "$mp")" 0 "a retried detach finishes the unmount"
check "mountpoint directory removed" test ! -e "$mp"
is "$(ledger_shares)" 0 "ledger forgets the share"
done_testing
