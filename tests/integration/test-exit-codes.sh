#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Issue 9, item 11: exit codes mean one thing whichever command meets the situation, and the
# README says what every code and every state means.
# - A busy share (a process works inside it) is 75 for detach, host-up and repair alike (repair
#   said 74).
# - A driver whose helper program is not installed is 69, EX_UNAVAILABLE ("a support program
#   or file does not exist"), an installation problem, not an internal error (it was 70).
# - The state `unknown` (a mountpoint that cannot be inspected) shows in list and check, and
#   the README's state table has it; every code observed here is in the README's table.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

README=$VOLMOUNT_SRCDIR/README.md
[ -r "$README" ] || bail_out "no README at $README"
seen_codes=()
expect_code() { # expect_code CODE CMD...: expect_exit, remembering the code
	seen_codes+=("$1")
	expect_exit "$@"
}

exp=$(mkexport busy)

# ---- a busy share: 75 everywhere ----
expect_exit 0 vm attach --type bind --export "$exp" --volume v --owner o
mp=${LAST_OUT%/v}
(cd "$mp" && exec sleep 600) &
holder=$!
for _ in $(seq 1000); do
	[ "$(readlink "/proc/$holder/cwd")" = "$mp" ] && break
	sleep 0.01
done
is "$(readlink "/proc/$holder/cwd")" "$mp" "fixture: a process works inside the share"

expect_code 75 vm detach --type bind --export "$exp" --volume v --owner o
expect_code 75 vm repair
case "$LAST_ERR" in
*"see the report"*) ok "repair says the report holds the details" ;;
*) not_ok "repair says the report holds the details" && diag "$LAST_ERR" ;;
esac
expect_code 75 vm --json repair
is "$(MP=$mp jq -r '.actions[] | select(.path == env.MP) | .action' <<<"$LAST_OUT")" failed "repair --json: the busy share is reported failed"
expect_code 75 vm host-up
expect_code 75 vm --json host-up
is "$(MP=$mp jq -r '.actions[] | select(.path == env.MP) | .action' <<<"$LAST_OUT")" failed "host-up --json: the busy share is reported failed"
is "$(mounts_at "$mp")" 1 "the busy share is still mounted once"
kill "$holder"
wait "$holder" 2>/dev/null
expect_code 0 vm repair
is "$(mounts_at "$mp")" 0 "once free, repair unmounts it"

# ---- a helper that is not installed: 69 ----
n=0
for d in "quobyte 127.0.0.1/vol /usr/bin/mount.quobyte" "cifs //127.0.0.1/share /sbin/mount.cifs" \
	"cephfs 127.0.0.1:/p /sbin/mount.ceph"; do
	read -r drv hexp bin <<<"$d"
	[ -e "$bin" ] && continue
	extra=()
	[ "$drv" = cifs ] && extra=(--option guest)
	expect_code 69 vm attach --type "$drv" --export "$hexp" --volume v --owner o "${extra[@]}"
	case "$LAST_ERR" in
	*"$bin"*"not installed"*) ok "$drv: the message names the missing helper" ;;
	*) not_ok "$drv: the message names the missing helper" && diag "$LAST_ERR" ;;
	esac
	is "$(find "$BASE_DIR/$drv" -mindepth 1 2>/dev/null)$(ledger_shares)" 0 "$drv: no mountpoint and no ledger row left behind"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || ok "# SKIP every helper is installed here"

# ---- the state unknown ----
expect_exit 0 vm attach --type bind --export "$exp" --volume v --owner o
umount "$mp"
rmdir "$mp"
ln -s "$VT_TMP" "$mp"
expect_code 0 vm --json list
is "$(MP=$mp jq -r '.shares[] | select(.mountpoint == env.MP) | .state' <<<"$LAST_OUT")" unknown "list: a mountpoint replaced by a symlink is unknown"
expect_code 69 vm check
expect_code 73 vm detach --type bind --export "$exp" --volume v --owner o
rm "$mp"
expect_code 0 vm host-up
expect_code 0 vm detach --type bind --export "$exp" --volume v --owner o

# ---- the README documents them ----
states=$(awk '/^\| state \| meaning \|/ { t = 1; next } t && /^\|---/ { next } t && /^\| `/ { split($0, f, "`"); print f[2]; next } t { t = 0 }' "$README" | sort -u | tr '\n' ' ')
for s in mounted unmounted missing foreign stacked stale hung unknown; do
	case " $states" in
	*" $s "*) ok "README's state table has $s" ;;
	*) not_ok "README's state table has $s" && diag "states found: $states" ;;
	esac
done
codes=$(awk '/^\| code \| meaning \|/ { t = 1; next } t && /^\|---/ { next } t && /^\| [0-9]+ \|/ { print $2; next } t { t = 0 }' "$README" | sort -u | tr '\n' ' ')
for c in $(printf '%s\n' "${seen_codes[@]}" | sort -u); do
	case " $codes" in
	*" $c "*) ok "README's exit code table has $c" ;;
	*) not_ok "README's exit code table has $c" && diag "codes found: $codes" ;;
	esac
done
if awk '/^\| 69 \|/' "$README" | grep -q 'helper'; then
	ok "README: 69 covers a helper that is not installed"
else
	not_ok "README: 69 covers a helper that is not installed"
fi
if awk '/^\| 70 \|/' "$README" | grep -q 'helper'; then
	not_ok "README: 70 does not claim a missing helper"
else
	ok "README: 70 does not claim a missing helper"
fi
done_testing
