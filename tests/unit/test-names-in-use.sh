#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-names-in-use.sh - every state word the snapshot produces and every action word a report
# entry is made with has its row in the library's enum table (lib/names.c), so that
# volmount_snapshot_share_state_id() and volmount_report_entry_action_id() never answer
# *_OTHER for a word of this very library. Reads the sources wherever they live under lib/.
set -euo pipefail

src=${VOLMOUNT_SRCDIR:?}
table=$(grep -rl --include='*.c' 'action_names\[' "$src/lib")
snapshot=$(grep -rl --include='*.c' 'volmount_snapshot_new_ex(struct' "$src/lib")

# Action words: the one-word string literals in report_add(...) calls.
actions=$(grep -rhoz --include='*.c' 'report_add([^;]*;' "$src/lib" | tr '\0' '\n' |
	grep -oE '"[a-z]+"' | sort -u)
# State words: what the snapshot returns or assigns as a state.
states=$(grep -hoE '(return|state =)[^;]*;' "$snapshot" | grep -oE '"[a-z]+"' | sort -u)

n=0
fail=0
for w in $actions; do
	n=$((n + 1))
	if grep -qE "ACTION_[A-Z]+\] = $w," "$table"; then
		echo "ok $n - action $w has an enum"
	else
		echo "not ok $n - action $w has no row in $table"
		fail=1
	fi
done
for w in $states; do
	n=$((n + 1))
	if grep -qE "SHARE_[A-Z]+\] = $w," "$table"; then
		echo "ok $n - state $w has an enum"
	else
		echo "not ok $n - state $w has no row in $table"
		fail=1
	fi
done
echo "1..$n"
[ "$n" -ge 15 ] || { echo "# too few words found: the scan no longer matches the sources"; exit 1; }
exit $fail
