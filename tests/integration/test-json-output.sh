#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# One JSON printer for every command (issue 10): each --json document parses with jq and spells
# a path as it is, never with an escaped slash ("\/tmp\/..."), which `check --json` once did
# while `list --json` did not. Each command is run where its document names paths: a mounted
# share, a missing mount for repair to restore, a leftover directory for gc to remove.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

# json_clean DESC FILTER: the last command's stdout is one JSON document for which FILTER is
# true, and it has no escaped slash.
json_clean() {
	local desc=$1 filter=$2
	check "$desc: parses with jq and $filter" jq_true "$filter" "$LAST_OUT" ||
		diag "stdout: $LAST_OUT"
	if grep -qF '\/' <<<"$LAST_OUT"; then
		not_ok "$desc: no escaped slash"
		diag "stdout: $LAST_OUT"
	else
		ok "$desc: no escaped slash"
	fi
}

exp=$(mkexport json)
expect_exit 0 vm attach --type bind --export "$exp" --volume v1 --owner o1
mp=${LAST_OUT%/v1}

expect_exit 0 vm --json list
json_clean "list --json" ".shares[0].mountpoint == \"$mp\""

expect_exit 0 vm --json status
json_clean "status --json" '.shares == 1 and .mounted == 1 and .unhealthy == 0'

expect_exit 0 vm --json check
json_clean "check --json" \
	".healthy == true and .shares[0].mountpoint == \"$mp\" and .shares[0].export == \"$exp\""

expect_exit 0 vm --json host-up
json_clean "host-up --json" ".host_state == \"up\" and ([.actions[].path] | index(\"$mp\")) != null"

# repair: the mount is gone while its attachment remains ("missing"); repair mounts it again.
umount "$mp"
expect_exit 69 vm --json check
json_clean "check --json of a missing share" \
	".healthy == false and .shares[0].state == \"missing\" and .shares[0].mountpoint == \"$mp\""
expect_exit 0 vm --json repair
json_clean "repair --json" ".actions[0].path == \"$mp\" and .actions[0].action == \"mounted\""
is "$(mounts_at "$mp")" 1 "repair mounted the share again"

# gc: a leftover directory under the base that no share owns.
left="$BASE_DIR/bind/leftover"
mkdir -p "$left"
expect_exit 0 vm --json gc
json_clean "gc --json" "[.actions[] | select(.path == \"$left\")] | length == 1"

# A failure with --json: one error object with the kind, the message and the exit status
# (issue 13); a library failure has the library's kind.
expect_exit 65 vm --json attach --type bind --export relative/path --volume v2 --owner o1
json_clean "attach --json of a bad export" \
	'.error.kind == "input" and .error.exit_code == 65 and (.error.message | test("."))'
expect_exit 0 vm host-down
expect_exit 69 vm attach --json --type bind --export "$exp" --volume v2 --owner o1
json_clean "attach --json while the host is down" \
	'keys == ["error"] and .error.kind == "host-down" and .error.exit_code == 69'
is "$(jq -r .error.message <<<"$LAST_OUT")" "${LAST_ERR#volmount: attach: }" \
	"the JSON message is the stderr line's"
expect_exit 0 vm host-up

expect_exit 0 vm detach --type bind --export "$exp" --volume v1 --owner o1
done_testing
