#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Modes and owners of everything volmount creates (CWE-732), independent of the umask; and an
# unsafe base directory is refused.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

exp=$(mkexport data)

# private PATH: owned by root, no group/other permission bits at all.
private() {
	local m
	m=$(stat -c '%a %U' "$1") || return 1
	case "$m" in
	*' root') ;;
	*) return 1 ;;
	esac
	m=$((8#${m%% *}))
	[ $((m & 8#077)) -eq 0 ]
}

# root_not_writable PATH: owned by root, not writable by group or others, not a symlink.
root_not_writable() {
	local m
	[ ! -L "$1" ] || return 1
	m=$(stat -c '%a %U' "$1") || return 1
	case "$m" in
	*' root') ;;
	*) return 1 ;;
	esac
	m=$((8#${m%% *}))
	[ $((m & 8#022)) -eq 0 ]
}

with_umask() {
	local m=$1
	shift
	(
		umask "$m"
		"$@"
	)
}

# modes_run LABEL UMASK: attach with fresh directories under UMASK, check every mode, and
# print a summary (to compare between umasks) into $VT_TMP/LABEL.modes.
modes_run() {
	local label=$1 mask=$2 mp h peek f summary
	mkdir -p "$VT_TMP/$label"
	use_dirs "$VT_TMP/$label"
	expect_exit 0 with_umask "$mask" vm attach --type bind --export "$exp" --volume v --owner o
	mp=$(vm path --type bind --export "$exp")
	h=${mp##*/}
	is "$(mounts_at "$mp")" 1 "umask $mask: mounted"

	is "$(stat -c '%a %U %F' "$STATE_DIR")" "700 root directory" "umask $mask: state dir 0700 root"
	is "$(stat -c '%a %U %F' "$LEDGER")" "600 root regular file" "umask $mask: ledger.db 0600 root"
	for f in "$LEDGER-wal" "$LEDGER-shm" "$LEDGER-journal"; do
		[ -e "$f" ] || continue
		check "umask $mask: ${f##*/} not accessible by group/others" private "$f"
	done
	is "$(stat -c '%a %U %F' "$RUN_DIR")" "700 root directory" "umask $mask: run dir 0700 root"
	check "umask $mask: locks dir private" private "$RUN_DIR/locks"
	check "umask $mask: locks dir is a directory" test -d "$RUN_DIR/locks" -a ! -L "$RUN_DIR/locks"
	check "umask $mask: host.lock private" private "$RUN_DIR/host.lock"
	check "umask $mask: the share's lock file is <run>/locks/<hash>.lock" test -f "$RUN_DIR/locks/$h.lock"
	check "umask $mask: the share's lock file private" private "$RUN_DIR/locks/$h.lock"
	check "umask $mask: base dir root-owned, 0755 or stricter" root_not_writable "$BASE_DIR"
	check "umask $mask: driver dir root-owned, 0755 or stricter" root_not_writable "$BASE_DIR/bind"

	# The mountpoint directory itself is hidden by the mount: look at it through a
	# non-recursive bind of its parent, which does not carry the share's mount.
	peek=$VT_TMP/peek-$label
	mkdir -p "$peek"
	if mount --bind "$BASE_DIR/bind" "$peek"; then
		is "$(stat -c '%a %U %F' "$peek/$h")" "700 root directory" "umask $mask: mountpoint dir 0700 root"
		is "$(ls -A "$peek/$h")" "" "umask $mask: mountpoint dir empty underneath"
		umount "$peek"
	else
		not_ok "umask $mask: bind of the driver dir to look under the mount"
	fi

	summary=$(
		stat -c '%n %a %U %G %F' "$STATE_DIR" "$LEDGER" "$RUN_DIR" "$RUN_DIR/locks" \
			"$RUN_DIR/host.lock" "$RUN_DIR/locks/$h.lock" "$BASE_DIR" "$BASE_DIR/bind" |
			sed "s|^$VT_TMP/$label/||"
	)
	printf '%s\n' "$summary" >"$VT_TMP/$label.modes"

	expect_exit 0 vm detach --type bind --export "$exp" --volume v --owner o
	check "umask $mask: mountpoint removed" test ! -e "$mp"
	is "$(stat -c '%a %U %F' "$LEDGER")" "600 root regular file" "umask $mask: ledger.db still 0600 after detach"
}

modes_run u022 022
modes_run u000 000
modes_run u077 077
same_snapshot "$VT_TMP/u022.modes" "$VT_TMP/u000.modes" "umask 000 gives the same modes as 022"
same_snapshot "$VT_TMP/u022.modes" "$VT_TMP/u077.modes" "umask 077 gives the same modes as 022"

# ---- an unsafe base directory is refused (73 or 77) and nothing happens in it ----
# unsafe LABEL SETUP...: fresh directories, SETUP run on the base dir, attach must fail.
unsafe() {
	local label=$1
	shift
	mkdir -p "$VT_TMP/$label"
	use_dirs "$VT_TMP/$label"
	mkdir -p "$BASE_DIR"
	"$@" "$BASE_DIR"
	local before
	before=$(stat -c '%a %u' "$BASE_DIR")
	expect_exit '73|77' vm attach --type bind --export "$exp" --volume v --owner o
	stderr_explains "$label: the refusal explains itself"
	is "$(ls -A "$BASE_DIR")" "" "$label: nothing created in the base dir"
	is "$(mounts_under "$BASE_DIR")" "" "$label: nothing mounted"
	is "$(ledger_shares)" 0 "$label: no share row"
	is "$(stat -c '%a %u' "$BASE_DIR")" "$before" "$label: the base dir's mode and owner were left alone"
}
unsafe world-writable chmod 0777
unsafe group-writable chmod 0775
unsafe sticky-world chmod 1777
unsafe not-root-owned chown 65534:65534

# A group/world-writable driver directory would let others plant things next to mountpoints.
mkdir -p "$VT_TMP/drv"
use_dirs "$VT_TMP/drv"
mkdir -p "$BASE_DIR/bind"
chmod 0777 "$BASE_DIR/bind"
expect_exit '73|77' vm attach --type bind --export "$exp" --volume v --owner o
is "$(mounts_under "$BASE_DIR")" "" "world-writable driver dir: nothing mounted"

# A pre-existing state or run directory open to others is either refused or made private.
for which in state run; do
	mkdir -p "$VT_TMP/pre-$which"
	use_dirs "$VT_TMP/pre-$which"
	if [ "$which" = state ]; then d=$STATE_DIR; else d=$RUN_DIR; fi
	mkdir -p "$d"
	chmod 0755 "$d"
	run_capture vm attach --type bind --export "$exp" --volume v --owner o
	if [ "$LAST_RC" = 0 ]; then
		is "$(stat -c %a "$d")" 700 "a 0755 $which dir is made 0700 before use"
		vm detach --type bind --export "$exp" --volume v --owner o >/dev/null 2>&1
	else
		case "$LAST_RC" in
		73 | 77 | 78) ok "a 0755 $which dir is refused ($LAST_RC)" ;;
		*) not_ok "a 0755 $which dir is refused with a documented code (got $LAST_RC)" ;;
		esac
	fi
done

done_testing
