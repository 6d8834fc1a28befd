#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Hostile volume names, owners, exports and options: each is refused with exit 65 and one line
# on stderr, and leaves the mount table, the managed file trees and the ledger as they were.
# shellcheck disable=SC2317,SC2016 # functions called through expect_exit; literal $() on purpose
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

cd "$VT_TMP" || bail_out "cd $VT_TMP"

good=$(mkexport good)
keep=$(mkexport keep)
# Directories that really exist under the hostile names, so that only the grammar can refuse them.
mkdir -p "$VT_EXPORTS/sub" "$VT_EXPORTS/nl"$'\n'"x" "$VT_EXPORTS/tab"$'\t'"x" "$VT_EXPORTS/sp x" \
	"$VT_EXPORTS/semi;x" "$VT_EXPORTS/\$(id)" "$VT_EXPORTS/\`id\`" "$VT_EXPORTS/é" \
	"$VT_EXPORTS/star*" "$VT_EXPORTS/-oexec" "$VT_EXPORTS/cr"$'\r'"x" "$VT_EXPORTS/q\"x" \
	"$VT_EXPORTS/bs\\x"
ln -s "$good" "$VT_EXPORTS/link"
echo data >"$VT_EXPORTS/file"
mkfifo "$VT_EXPORTS/fifo"

# A share that stays mounted the whole time, so that the ledger exists and has rows.
expect_exit 0 vm attach --type bind --export "$keep" --volume k --owner k
is "$(mounts_at "$(vm path --type bind --export "$keep")")" 1 "the keeper share is mounted"

long256=$(printf 'a%.0s' $(seq 256))
long255=$(printf 'a%.0s' $(seq 255))
long129=$(printf 'o%.0s' $(seq 129))
long128=$(printf 'o%.0s' $(seq 128))
longexp=/$(printf 'e%.0s' $(seq 5000))

# kind|value: the field under attack gets the value, the others stay valid. "export-fs" is an
# export the grammar accepts but the file system refuses (path, which is pure, may print it).
kinds=()
vals=()
add() {
	kinds+=("$1")
	vals+=("$2")
}
add volume '..'
add volume '.'
add volume 'a/b'
add volume '/abs'
add volume '.hidden'
add volume '-rf'
add volume ''
add volume "$long256"
add volume 'a b'
add volume $'a\nb'
add volume $'a\tb'
add volume $'a\rb'
add volume 'a;b'
add volume '$(id)'
add volume '`id`'
add volume 'é'
add volume 'a*'
add volume '~x'
add volume $'a\x01b'
add owner 'a/b'
add owner 'a b'
add owner "$long129"
add owner ''
add owner $'a\tb'
add owner $'a\nb'
add owner $'\x01'
add owner $'a\x7f'
add export 'exports/good'
add export "$VT_EXPORTS/sub/../good"
add export "$VT_EXPORTS/good/.."
add export-fs "$VT_EXPORTS/nope"
add export-fs "$VT_EXPORTS/link"
add export-fs "$VT_EXPORTS/file"
add export-fs "$VT_EXPORTS/fifo"
add export "$VT_EXPORTS/nl"$'\n'"x"
add export "$VT_EXPORTS/tab"$'\t'"x"
add export "$VT_EXPORTS/cr"$'\r'"x"
add export "$VT_EXPORTS/sp x"
add export "$VT_EXPORTS/semi;x"
add export "$VT_EXPORTS/\$(id)"
add export "$VT_EXPORTS/\`id\`"
add export "$VT_EXPORTS/é"
add export "$VT_EXPORTS/star*"
add export "$VT_EXPORTS/q\"x"
add export "$VT_EXPORTS/bs\\x"
add export '-oexec'
add export "-$good"
add export ''
add export '/'
add export "$longexp"
add option suid
add option dev
add option exec
add option remount
add option bind
add option rbind
add option 'x-helper=..'
add option 'helper=/bin/sh'
add option 'ro,suid'
add option 'ro,exec'
add option 'ro=1'
add option 'nosuid=0'
add option ''
add option 'RO'
add option 'ro rw'
add option $'ro\nsuid'
add option 'ro\,suid'
add option 'context=system_u:object_r:tmp_t:s0'

snapshot_host "$VT_TMP/base.snap"

# one_line_error DESC: stderr is exactly one line (hostile bytes must not forge log lines).
one_line_error() {
	local lines
	lines=$(tr -cd '\n' <"$VT_TMP/.err" | wc -c)
	if [ -s "$VT_TMP/.err" ] && [ "$lines" -le 1 ]; then
		ok "$1"
	else
		not_ok "$1"
		diag "stderr ($lines newlines): $(cat -A "$VT_TMP/.err" | head -5)"
	fi
}

i=0
for i in "${!kinds[@]}"; do
	kind=${kinds[$i]}
	val=${vals[$i]}
	volume=vol
	owner=own
	export=$good
	opts=()
	case "$kind" in
	volume) volume=$val ;;
	owner) owner=$val ;;
	export | export-fs) export=$val ;;
	option) opts=(--option "$val") ;;
	esac
	shown=$(printf '%q' "$val")
	[ "${#shown}" -gt 40 ] && shown="${shown:0:37}..."
	expect_exit 65 vm attach --type bind --export "$export" --volume "$volume" --owner "$owner" "${opts[@]}"
	one_line_error "attach with $kind $shown: one line on stderr"
	# A detach must work after the export itself went away, so only the grammar counts.
	if [ "$kind" != option ] && [ "$kind" != export-fs ]; then
		expect_exit 65 vm detach --type bind --export "$export" --volume "$volume" --owner "$owner"
	fi
	if [ "$kind" = export ]; then
		expect_exit 65 vm path --type bind --export "$export"
	fi
	snapshot_host "$VT_TMP/case.snap"
	same_snapshot "$VT_TMP/base.snap" "$VT_TMP/case.snap" "$kind $shown changed nothing"
done
n_cases=${#kinds[@]}
check "at least 25 hostile inputs were tried ($n_cases)" test "$n_cases" -ge 25

# The symlink's target and the regular file are untouched.
is "$(readlink "$VT_EXPORTS/link")" "$good" "the symlinked export still points where it did"
is "$(cat "$VT_EXPORTS/file")" data "the regular-file export is untouched"

# Positive controls: the limits themselves are accepted, so the refusals above are the
# grammar's doing and not a broken fixture.
gmp=$(vm path --type bind --export "$good")
expect_exit 0 vm attach --type bind --export "$good" --volume "$long255" --owner "$long128"
is "$LAST_OUT" "$gmp/$long255" "a 255-byte volume name and a 128-byte owner are accepted"
expect_exit 0 vm attach --type bind --export "$good" --volume 'A.b-c_9' --owner 'o!@#%^&*()+=:,~'
is "$(mounts_at "$gmp")" 1 "the good export is mounted once"
is "$(n_attached "$gmp")" 2 "two attachments on the good export"
expect_exit 0 vm detach --type bind --export "$good" --volume "$long255" --owner "$long128"
expect_exit 0 vm detach --type bind --export "$good" --volume 'A.b-c_9' --owner 'o!@#%^&*()+=:,~'
is "$(mounts_at "$gmp")" 0 "the good export is unmounted again"
for o in ro rw noexec nosuid nodev; do
	expect_exit 0 vm attach --type bind --export "$good" --volume vol --owner own --option "$o"
	expect_exit 0 vm detach --type bind --export "$good" --volume vol --owner own
done
is "$(mounts_at "$gmp")" 0 "no option left the good export mounted"
check "the good export's mountpoint is gone" test ! -e "$gmp"

expect_exit 0 vm detach --type bind --export "$keep" --volume k --owner k
is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted"
is "$(ledger_shares)" 0 "no share left in the ledger"
done_testing
