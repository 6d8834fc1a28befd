#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# volmount run with stdin, stdout or stderr closed (issue 9, item 7): a file volmount opens
# must never take the number of a closed standard descriptor, or the next message meant for
# stderr is written into it (seen: the warning of a detach written into run/host.lock). Every
# combination of closed descriptors is tried on commands that print a warning, an error and a
# result after the host lock was opened; the lock files stay empty, the ledger stays sound,
# and each command still exits as it would with all three open.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

exp=$(mkexport a)
expect_exit 0 vm status # the directories, the ledger and run/host.lock exist from here on

# run_closed FDS CMD...: CMD with the standard descriptors FDS closed (the others on /dev/null).
run_closed() {
	local fds=$1
	shift
	case "$fds" in
	"0") "$@" <&- >/dev/null 2>&1 ;;
	"2") "$@" >/dev/null 2>&- ;;
	"0 2") "$@" <&- >/dev/null 2>&- ;;
	"1 2") "$@" >&- 2>&- ;;
	"0 1 2") "$@" <&- >&- 2>&- ;;
	*) bail_out "run_closed: $redirs" ;;
	esac
}

# lock_files_empty DESC: every file under the run directory is empty (lock files hold no data).
lock_files_empty() {
	local bad
	bad=$(find "$RUN_DIR" -type f -size +0c -printf '%p ' 2>&1)
	if [ -z "$bad" ]; then
		ok "$1"
	else
		not_ok "$1"
		diag "files with content: $bad"
		for f in $bad; do diag "$f: $(head -c 200 "$f")"; done
	fi
}

for closed in "0" "2" "0 2" "1 2" "0 1 2"; do
	# A warning after the host lock is taken: detach of a pair that is not attached (exit 0).
	run_closed "$closed" vm detach --type bind --export "$exp" --volume nope --owner o
	is "$?" 0 "fds $closed closed: detach of an unattached pair exits 0"
	lock_files_empty "fds $closed closed: the warning went nowhere near the lock files"

	# A result on stdout.
	run_closed "$closed" vm attach --type bind --export "$exp" --volume v --owner o
	is "$?" 0 "fds $closed closed: attach exits 0"
	lock_files_empty "fds $closed closed: the device path went nowhere near the lock files"
	expect_exit 0 vm detach --type bind --export "$exp" --volume v --owner o

	# An error after the host lock is taken: attach while the host is down (exit 69).
	expect_exit 0 vm host-down
	run_closed "$closed" vm attach --type bind --export "$exp" --volume v --owner o
	is "$?" 69 "fds $closed closed: attach while the host is down exits 69"
	lock_files_empty "fds $closed closed: the error went nowhere near the lock files"
	run_closed "$closed" vm host-up
	is "$?" 0 "fds $closed closed: host-up exits 0"
	lock_files_empty "fds $closed closed: host-up's report went nowhere near the lock files"
done

is "$(ledger_sql 'PRAGMA integrity_check')" ok "the ledger is intact"
is "$(ledger_attachments)" 0 "no attachment is left"
is "$(mounts_under "$BASE_DIR")" "" "nothing is left mounted"
# And the messages still reach an open stderr.
expect_exit 0 vm detach --type bind --export "$exp" --volume nope --owner o
stderr_explains "with stderr open the warning is printed"
done_testing
