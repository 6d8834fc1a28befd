#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# host-down refuses attach/detach (69) until host-up, reads keep working, host-up raises the
# generation; both drain holders of the host lock, bounded by --timeout (75).
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

PY=$(command -v /usr/bin/python3 || command -v python3) || bail_out "python3 is needed"

a=$(mkexport a)
b=$(mkexport b)

expect_exit 0 vm attach --type bind --export "$a" --volume v1 --owner o1
mpa=$(vm path --type bind --export "$a")
mpb=$(vm path --type bind --export "$b")
gen0=$(vm --json status | jq -r .generation)
check "generation is a number" grep -Eq '^[0-9]+$' <<<"$gen0"

# ---- down ----
expect_exit 0 vm host-down
is "$(vm --json status | jq -r .host_state)" down "status --json: down"
expect_exit 0 vm status
check "plain status says down" grep -qw down <<<"$LAST_OUT"
expect_exit 0 vm --json list
is "$(jq -r .host_state <<<"$LAST_OUT")" down "list --json: down"
is "$(MP=$mpa jq -r '.shares[] | select(.mountpoint == env.MP) | .state' <<<"$LAST_OUT")" mounted \
	"list while down: the share is still listed as mounted"
expect_exit 0 vm path --type bind --export "$a"
is "$LAST_OUT" "$mpa" "path works while down"
is "$(mounts_at "$mpa")" 1 "host-down leaves mounts as they are"

snapshot_host "$VT_TMP/down1"
expect_exit 69 vm attach --type bind --export "$a" --volume v2 --owner o1
stderr_explains "attach while down explains itself"
expect_exit 69 vm detach --type bind --export "$a" --volume v1 --owner o1
stderr_explains "detach while down explains itself"
expect_exit 69 vm attach --type bind --export "$b" --volume v1 --owner o1
expect_exit 69 vm detach --type bind --export "$b" --volume nope --owner o1
expect_exit 69 vm --json attach --type bind --export "$a" --volume v3 --owner o1
snapshot_host "$VT_TMP/down2"
same_snapshot "$VT_TMP/down1" "$VT_TMP/down2" "refused attach/detach while down changed nothing"
check "no directory for the new share while down" test ! -e "$mpb"
is "$(vm --json status | jq -r .generation)" "$gen0" "host-down does not raise the generation"

# ---- up ----
expect_exit 0 vm --json host-up
j=$LAST_OUT
is "$(jq -r .host_state <<<"$j")" up "host-up --json: host_state up"
is "$(jq -r .generation <<<"$j")" $((gen0 + 1)) "host-up --json: generation raised by one"
is "$(jq -r '.actions | type' <<<"$j")" array "host-up --json: actions is a list"
is "$(jq -c '[.actions[] | keys] | map(. - ["action", "detail", "path"]) | flatten' <<<"$j")" "[]" \
	"host-up --json: actions have path, action, detail"
is "$(vm --json status | jq -r .host_state)" up "status: up"
is "$(vm --json status | jq -r .generation)" $((gen0 + 1)) "status: generation raised by one"
is "$(mounts_at "$mpa")" 1 "host-up keeps the healthy mount, once"
expect_exit 0 vm attach --type bind --export "$a" --volume v2 --owner o1
expect_exit 0 vm attach --type bind --export "$b" --volume v1 --owner o1
is "$(mounts_at "$mpb")" 1 "attach works after host-up"
expect_exit 0 vm host-up
is "$(vm --json status | jq -r .generation)" $((gen0 + 2)) "every host-up raises the generation"
is "$(mounts_at "$mpa")$(mounts_at "$mpb")" 11 "a second host-up keeps both mounts, once each"

# ---- drain: a holder of the host lock from another process ----
# hold MODE SECONDS|release: holds an OFD lock (r = shared, as attach/detach take it; w =
# exclusive) on <run>/host.lock in the background, for SECONDS or (release) until
# $VT_TMP/release exists; returns once it is held.
hold() {
	rm -f "$VT_TMP/held" "$VT_TMP/release"
	"$PY" - "$RUN_DIR/host.lock" "$1" "$2" "$VT_TMP/held" "$VT_TMP/release" <<'EOF' &
import fcntl, os, struct, sys, time
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
fd = os.open(sys.argv[1], os.O_RDWR)
kind = fcntl.F_RDLCK if sys.argv[2] == "r" else fcntl.F_WRLCK
# struct flock: l_type, l_whence, l_start, l_len (0: the whole file), l_pid (0 for OFD locks)
fcntl.fcntl(fd, F_OFD_SETLK, struct.pack("hhqqi4x", kind, 0, 0, 0, 0))
open(sys.argv[4], "w").close()
if sys.argv[3] == "release":
    for _ in range(30000):  # at most ~300 s: a bound, never reached
        if os.path.exists(sys.argv[5]):
            break
        time.sleep(0.01)
else:
    time.sleep(float(sys.argv[3]))
EOF
	HOLDER=$!
	local _
	for _ in $(seq 100); do
		[ -e "$VT_TMP/held" ] && return 0
		kill -0 "$HOLDER" 2>/dev/null || break
		sleep 0.02
	done
	not_ok "the lock holder got the host lock"
	return 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

check "<run>/host.lock exists" test -f "$RUN_DIR/host.lock"

# Judged by order, never by time: the holder keeps its lock until told to release it.
hold r release
expect_exit 0 vm attach --type bind --export "$a" --volume v3 --owner o1
check "attach shares the host lock with another shared holder (done while it still holds it)" \
	kill -0 "$HOLDER"
vm host-down >"$VT_TMP/down.out" 2>&1 &
down=$!
early=
for _ in $(seq 50); do
	kill -0 "$down" 2>/dev/null || early=1
	[ -n "$early" ] && break
	sleep 0.02
done
if [ -z "$early" ]; then
	ok "host-down waits for the in-flight holder (still waiting after 50 looks)"
else
	not_ok "host-down waits for the in-flight holder: it returned while the lock was held"
	diag "$(cat "$VT_TMP/down.out")"
fi
t0=$(now_ms)
touch "$VT_TMP/release"
wait "$down"
is "$?" 0 "host-down finishes once the holder lets go"
t1=$(now_ms)
check "host-down did not wait far longer than needed ($((t1 - t0)) ms after the release)" test $((t1 - t0)) -lt 10000
wait "$HOLDER"
is "$(vm --json status | jq -r .host_state)" down "down after the drain"
expect_exit 0 vm host-up

hold r 3
t0=$(now_ms)
expect_exit 75 vm --timeout 0.5 host-down
t1=$(now_ms)
stderr_explains "host-down past its deadline explains itself"
check "host-down --timeout 0.5 gave up in time ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 2500
is "$(vm --json status | jq -r .host_state)" up "a host-down that timed out leaves the host up"
expect_exit 75 vm --timeout 0.5 host-up
is "$(vm --json status | jq -r .generation)" $((gen0 + 3)) "a host-up that timed out does not raise the generation"
wait "$HOLDER"

# An exclusive holder (a host-up or host-down in progress) makes every attach and detach that
# mounts or unmounts wait: a first attach, a last detach.
c=$(mkexport c)
mpc=$(vm path --type bind --export "$c")
hold w release
t0=$(now_ms)
expect_exit 75 vm --timeout 0.5 attach --type bind --export "$c" --volume v1 --owner o1
expect_exit 75 vm --timeout 0.5 detach --type bind --export "$b" --volume v1 --owner o1
t1=$(now_ms)
check "attach/detach behind an exclusive holder gave up in time ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 4000
# A warm attach and a detach that leaves an attachment are one ledger transaction each, which
# host-down's own write (the host marked down) orders: they need no host lock (attach.c,
# design note 7) and go through.
expect_exit 0 vm --timeout 0.5 attach --type bind --export "$a" --volume v4 --owner o1
expect_exit 0 vm --timeout 0.5 detach --type bind --export "$a" --volume v4 --owner o1
check "the warm calls were done while the exclusive holder still held the lock" kill -0 "$HOLDER"
expect_exit 0 vm --json status
is "$(jq -r .host_state <<<"$LAST_OUT")" up "status works while the host lock is held exclusively"
touch "$VT_TMP/release"
wait "$HOLDER"
is "$(n_attached "$mpa")" 3 "the warm attach and detach left the count as it was"
is "$(n_attached "$mpb")" 1 "the timed-out last detach changed no attachment"
is "$(mounts_at "$mpb")" 1 "the timed-out last detach left the share mounted"
check "the timed-out first attach made no mountpoint" test ! -e "$mpc"

for v in v1 v2 v3; do
	expect_exit 0 vm detach --type bind --export "$a" --volume "$v" --owner o1
done
expect_exit 0 vm detach --type bind --export "$b" --volume v1 --owner o1
is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted"
done_testing
