#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Issue 9, item 10: every failure says why. With <base>/<driver> replaced by a symlink, detach
# exited 70 with nothing after "share '...' (...): ", and host-up and repair reported the share
# `failed` with an empty detail. This drives every error path the CLI can reach here (usage,
# input, configuration, permissions, occupied and unsafe mountpoints, a host that is down, a
# held lock, a busy share, a broken ledger, a missing helper, a symlinked driver directory)
# and asserts for each: the exit code, one line on stderr, "volmount: [COMMAND: ]CAUSE" with a
# non-empty CAUSE that does not end in a colon, and in reports (plain and JSON) a non-empty
# detail for every entry.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

PY=$(command -v python3) || skip_all "python3 is needed to hold an OFD lock"

VERBS='attach detach path list status check repair host-up host-down gc monitor'

# reason_ok DESC: the last command's stderr is one line that says why.
reason_ok() {
	local e=$LAST_ERR cause v why=
	cause=${e#volmount: }
	for v in $VERBS; do
		case "$cause" in "$v: "*) cause=${cause#"$v: "} ;; esac
	done
	if [ -z "$e" ]; then
		why="stderr is empty"
	elif [ "$(printf '%s\n' "$e" | wc -l)" != 1 ]; then
		why="stderr has more than one line"
	elif [ "$cause" = "$e" ]; then
		why="the line does not start with 'volmount: '"
	elif [ -z "${cause//[[:space:]]/}" ]; then
		why="the cause is empty"
	elif [[ "$cause" =~ :[[:space:]]*$ ]]; then
		why="the line ends in a colon with nothing after it"
	elif [[ "$e" =~ :[[:space:]]*: ]] || [[ "$e" == *"(null)"* ]]; then
		why="an empty part inside the message"
	fi
	if [ -z "$why" ]; then
		ok "$1: says why"
	else
		not_ok "$1: says why"
		diag "$why: '$e'"
	fi
}

# fails CODE DESC CMD...: CMD exits CODE and says why.
fails() {
	local code=$1 desc=$2
	shift 2
	expect_exit "$code" "$@"
	reason_ok "$desc"
}

# report_details_ok DESC: the last command's stdout, a report (plain or JSON), has no entry
# without a detail.
report_details_ok() {
	local bad
	if jq -e . >/dev/null 2>&1 <<<"$LAST_OUT"; then
		bad=$(jq -c '[(.actions // .shares // [])[] | select(has("detail") and ((.detail // "") | test("^\\s*$")))]' <<<"$LAST_OUT")
		[ "$bad" = "[]" ] || bad="entries without a detail: $bad"
		[ "$bad" = "[]" ] && bad=
	else
		bad=$(grep -E ':[[:space:]]*$' <<<"$LAST_OUT")
	fi
	if [ -z "$bad" ]; then
		ok "$1: every report entry has a detail"
	else
		not_ok "$1: every report entry has a detail"
		diag "$bad"
	fi
}

exp=$(mkexport a)
exp2=$(mkexport b)
expect_exit 0 vm status

# ---- usage (64) ----
fails 64 "no command" vm
fails 64 "unknown command" vm frobnicate
fails 64 "attach without its options" vm attach
fails 64 "attach without an owner" vm attach --type bind --export "$exp" --volume v
fails 64 "a bad --timeout" vm --timeout abc status
fails 64 "an unknown option" vm --frobnicate status
fails 64 "an empty --state-dir" vm --state-dir '' status

# ---- invalid input (65) ----
fails 65 "an unknown driver" vm attach --type zfs --export "$exp" --volume v --owner o
fails 65 "a relative export" vm attach --type bind --export relative/x --volume v --owner o
fails 65 "an export that does not exist" vm attach --type bind --export "$VT_EXPORTS/none" --volume v --owner o
fails 65 "a bad volume name" vm attach --type bind --export "$exp" --volume ../x --owner o
fails 65 "a bad owner" vm attach --type bind --export "$exp" --volume v --owner a/b
fails 65 "a refused option" vm attach --type bind --export "$exp" --volume v --owner o --option suid
fails 65 "an unknown option" vm attach --type bind --export "$exp" --volume v --owner o --option frob
fails 65 "a bad sshfs export" vm attach --type sshfs --export 'h:/a/../b' --volume v --owner o
fails 65 "a missing identity file" vm attach --type sshfs --export "root@127.0.0.1:/srv" --volume v \
	--owner o --option "IdentityFile=$VT_TMP/no-such-key"
expect_exit 0 vm attach --type bind --export "$exp" --volume v --owner o
fails 65 "options differing from the share's" vm attach --type bind --export "$exp" --volume w --owner o --option ro
expect_exit 0 vm detach --type bind --export "$exp" --volume v --owner o

# ---- permissions (77) ----
printf 'k\n' >"$VT_TMP/key0644"
chmod 0644 "$VT_TMP/key0644"
fails 77 "an identity file others can read" vm attach --type sshfs --export "root@127.0.0.1:/srv" \
	--volume v --owner o --option "IdentityFile=$VT_TMP/key0644"
mkdir -m 0777 "$VT_TMP/open"
fails 77 "a world-writable base directory" timeout 40 "$VOLMOUNT_BIN" --state-dir "$STATE_DIR" \
	--run-dir "$RUN_DIR" --base-dir "$VT_TMP/open" attach --type bind --export "$exp" --volume v --owner o

# ---- configuration (78) ----
printf 'timeout = 5\n' >"$VT_TMP/loose.conf"
chmod 0666 "$VT_TMP/loose.conf"
fails 78 "a world-writable config file" vm --config "$VT_TMP/loose.conf" status
printf 'frobnicate = 1\n' >"$VT_TMP/bad.conf"
chmod 0644 "$VT_TMP/bad.conf"
fails 78 "an unknown config key" vm --config "$VT_TMP/bad.conf" status
fails 78 "a config file that does not exist" vm --config "$VT_TMP/none.conf" status

# ---- occupied or unsafe mountpoints (73) ----
mp=$(vm path --type bind --export "$exp2")
mkdir -p "${mp%/*}"
ln -s "$VT_TMP" "$mp"
fails 73 "a symlink at the mountpoint" vm attach --type bind --export "$exp2" --volume v --owner o
rm "$mp"
mkdir -m 0700 "$mp"
touch "$mp/planted"
fails 73 "a non-empty mountpoint" vm attach --type bind --export "$exp2" --volume v --owner o
rm "$mp/planted"
rmdir "$mp"

# ---- host down (69) ----
expect_exit 0 vm host-down
fails 69 "attach while the host is down" vm attach --type bind --export "$exp" --volume v --owner o
expect_exit 0 vm host-up

# ---- a held lock (75) ----
hold_host_lock() { # background: an exclusive OFD lock on host.lock until $VT_TMP/release exists
	rm -f "$VT_TMP/held" "$VT_TMP/release"
	"$PY" - "$RUN_DIR/host.lock" "$VT_TMP/held" "$VT_TMP/release" <<'PYEOF' &
import fcntl, os, struct, sys, time
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.fcntl(fd, F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))
open(sys.argv[2], "w").close()
for _ in range(60000):
    if os.path.exists(sys.argv[3]):
        break
    time.sleep(0.01)
PYEOF
	HOLDER=$!
	local _
	for _ in $(seq 1000); do
		[ -e "$VT_TMP/held" ] && return 0
		kill -0 "$HOLDER" 2>/dev/null || break
		sleep 0.01
	done
	bail_out "the lock holder did not get the host lock"
}
hold_host_lock
fails 75 "attach waiting for a held host lock" vm --timeout 0.5 attach --type bind --export "$exp" --volume v --owner o
fails 75 "host-up waiting for a held host lock" vm --timeout 0.5 host-up
touch "$VT_TMP/release"
wait "$HOLDER"

# ---- a busy share (75) ----
expect_exit 0 vm attach --type bind --export "$exp" --volume v --owner o
mpa=${LAST_OUT%/v}
(cd "$mpa" && exec sleep 600) &
busy=$!
for _ in $(seq 1000); do
	[ "$(readlink "/proc/$busy/cwd")" = "$mpa" ] && break
	sleep 0.01
done
is "$(readlink "/proc/$busy/cwd")" "$mpa" "fixture: a process works inside the share"
fails 75 "the last detach of a busy share" vm detach --type bind --export "$exp" --volume v --owner o
fails 75 "repair of a busy share" vm --json repair
report_details_ok "repair of a busy share (JSON)"
fails 75 "host-up with a busy share" vm host-up
report_details_ok "host-up with a busy share"
kill "$busy"
wait "$busy" 2>/dev/null
expect_exit 0 vm repair
is "$(mounts_at "$mpa")" 0 "the share is unmounted once it is free"

# ---- a missing helper (69) ----
helper=
for d in "quobyte 127.0.0.1/vol /usr/bin/mount.quobyte" "cifs //127.0.0.1/share /sbin/mount.cifs" \
	"cephfs 127.0.0.1:/p /sbin/mount.ceph"; do
	read -r drv hexp bin <<<"$d"
	if [ ! -e "$bin" ]; then
		helper=$drv
		break
	fi
done
if [ -n "$helper" ]; then
	extra=()
	[ "$helper" = cifs ] && extra=(--option guest)
	fails 69 "a $helper share whose helper $bin is not installed" \
		vm attach --type "$helper" --export "$hexp" --volume v --owner o "${extra[@]}"
else
	ok "# SKIP every helper is installed here"
fi

# ---- the mountpoint replaced by a symlink: state unknown ----
expect_exit 0 vm attach --type bind --export "$exp2" --volume v --owner o
mpb=${LAST_OUT%/v}
umount "$mpb"
rmdir "$mpb"
ln -s "$VT_TMP" "$mpb"
expect_exit 69 vm --json check
is "$(MP=$mpb jq -r '.shares[] | select(.mountpoint == env.MP) | .state' <<<"$LAST_OUT")" unknown "check: the share is unknown"
is "$(MP=$mpb jq -r '.shares[] | select(.mountpoint == env.MP) | (.error // "") | length > 0' <<<"$LAST_OUT")" true \
	"check --json says why the share is unknown"
fails 73 "detach through a symlinked mountpoint" vm detach --type bind --export "$exp2" --volume v --owner o
fails 73 "repair of an unknown share" vm repair
report_details_ok "repair of an unknown share"
fails 73 "host-up with an unknown share" vm --json host-up
report_details_ok "host-up with an unknown share (JSON)"
rm "$mpb"
expect_exit 0 vm host-up
expect_exit 0 vm detach --type bind --export "$exp2" --volume v --owner o

# ---- <base>/<driver> replaced by a symlink (the issue's case) ----
expect_exit 0 vm attach --type bind --export "$exp" --volume v --owner o
mpa=${LAST_OUT%/v}
umount "$mpa"
mv "$BASE_DIR/bind" "$VT_TMP/bind.real"
mkdir -m 0755 "$VT_TMP/elsewhere"
ln -s "$VT_TMP/elsewhere" "$BASE_DIR/bind"
run_capture vm detach --type bind --export "$exp" --volume v --owner o
isnt "$LAST_RC" 0 "symlinked driver directory: detach fails"
isnt "$LAST_RC" 70 "symlinked driver directory: detach is not an internal error"
reason_ok "symlinked driver directory: detach"
diag "detach: exit $LAST_RC: $LAST_ERR"
run_capture vm host-up
isnt "$LAST_RC" 0 "symlinked driver directory: host-up fails"
reason_ok "symlinked driver directory: host-up"
report_details_ok "symlinked driver directory: host-up"
run_capture vm --json host-up
report_details_ok "symlinked driver directory: host-up (JSON)"
is "$(jq -r '[.actions[] | select(.action == "failed")] | length' <<<"$LAST_OUT")" 1 "symlinked driver directory: host-up reports the share failed"
run_capture vm --json repair
isnt "$LAST_RC" 0 "symlinked driver directory: repair fails"
reason_ok "symlinked driver directory: repair"
report_details_ok "symlinked driver directory: repair (JSON)"
is "$(ls -A "$VT_TMP/elsewhere")" "" "nothing was created through the symlink"
rm "$BASE_DIR/bind"
mv "$VT_TMP/bind.real" "$BASE_DIR/bind"
expect_exit 0 vm host-up

# ---- a ledger that is not a database (74 or 70; never without a reason) ----
use_dirs "$VT_TMP/broken"
expect_exit 0 vm status
rm -f "$STATE_DIR"/ledger.db*
# shellcheck disable=SC2046 # 100 copies
printf 'this is not a database, this is garbage %.0s' $(seq 100) >"$STATE_DIR/ledger.db"
chmod 0600 "$STATE_DIR/ledger.db"
for cmd in status list "attach --type bind --export $exp --volume v --owner o" host-up repair check; do
	# shellcheck disable=SC2086 # word-split on purpose
	run_capture vm $cmd
	isnt "$LAST_RC" 0 "a garbage ledger: $cmd fails"
	reason_ok "a garbage ledger: $cmd"
done

# ---- a run directory that is a file ----
use_dirs "$VT_TMP/filerun"
mkdir -p "$VT_TMP/filerun"
printf 'x' >"$RUN_DIR"
run_capture vm attach --type bind --export "$exp" --volume v --owner o
isnt "$LAST_RC" 0 "a run directory that is a file: attach fails"
reason_ok "a run directory that is a file: attach"
done_testing
