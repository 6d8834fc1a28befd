#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What volmount tells the system (issue 13): one syslog(3) audit line per attach, detach,
# repair, host-up and host-down, received by a real datagram socket at /dev/log (in this
# namespace's own /dev); "<N>" priority prefixes on stderr only when stderr is the journal
# ($JOURNAL_STREAM names its device and inode); the monitor's sd_notify(3) messages READY=1,
# WATCHDOG=1 and STOPPING=1 on $NOTIFY_SOCKET; volmount_build_info in its metrics.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

READER=$VOLMOUNT_SRCDIR/tests/integration/dgram-reader.py

# A /dev of this namespace's own, with the devices volmount and its helpers open, so that a
# /dev/log can be bound without touching the host's /dev.
mkdir -p "$VT_TMP/hostdev"
mount --bind /dev "$VT_TMP/hostdev" || bail_out "cannot bind /dev"
mount -t tmpfs -o mode=0755 vt-dev /dev || bail_out "cannot mount a tmpfs on /dev"
for d in null zero full random urandom tty fuse; do
	[ -e "$VT_TMP/hostdev/$d" ] || continue
	{ touch "/dev/$d" && mount --bind "$VT_TMP/hostdev/$d" "/dev/$d"; } ||
		bail_out "cannot bind /dev/$d"
done

# start_reader SOCKET OUT: dgram-reader.py in the background (lib.sh's cleanup ends it), once
# its socket is bound.
start_reader() {
	python3 "$READER" "$1" "$2" &
	for _ in $(seq 100); do
		[ -S "$1" ] && return 0
		sleep 0.05
	done
	bail_out "the reader did not bind $1"
}
SYSLOG=$VT_TMP/syslog.txt
: >"$SYSLOG"
start_reader /dev/log "$SYSLOG"

# lines_of PATTERN: how many received syslog lines match the extended regex PATTERN.
lines_of() { grep -Ec -- "$1" "$SYSLOG"; }

exp=$(mkexport a)
expect_exit 0 vm attach --type bind --export "$exp" --volume v1 --owner o1
mp=${LAST_OUT%/v1}
pat="volmount\\[[0-9]+\\]: attach driver='bind' export='$exp' volume='v1' owner='o1': ok\$"
is "$(lines_of "$pat")" 1 "attach: one audit line with the attachment and ok"
check "the audit line has facility daemon, priority notice (<29>)" grep -q "^<29>.*attach driver='bind'" "$SYSLOG"

expect_exit 0 vm list
expect_exit 0 vm --json status
expect_exit 0 vm check
is "$(wc -l <"$SYSLOG")" 1 "list, status and check change nothing: no audit line"

expect_exit 65 vm attach --type bind --export relative --volume v2 --owner o1
is "$(lines_of "^<27>.*attach driver='bind' export='relative' volume='v2' owner='o1': failed \\(exit 65\\): .+")" 1 \
	"a failed attach: one audit line at priority err with the status and the reason"
# A hostile value can neither end its field and forge another, nor pass for an escape.
expect_exit 65 vm attach --type bind --export "/x' volume='vm1' owner='admin" --volume v9 --owner o9
is "$(lines_of "export='/x\\\\x27 volume=\\\\x27vm1\\\\x27 owner=\\\\x27admin' volume='v9' owner='o9': failed")" 1 \
	"a quote in a value is written as \\x27: one volume= and one owner= field, the real ones"
expect_exit 65 vm attach --type bind --export "/y\\x0a" --volume v8 --owner o8
is "$(lines_of "export='/y\\\\x5cx0a'")" 1 "a backslash is written as \\x5c, unlike an escape"
expect_exit 64 vm attach --type bind --export "$exp" --volume v2
is "$(lines_of "volume='v2'")" 1 "a usage error is no operation: no audit line"

umount "$mp"
expect_exit 0 vm repair
is "$(lines_of "repair host: ok\$")" 1 "repair: one audit line"
expect_exit 0 vm host-down
is "$(lines_of "host-down host: ok\$")" 1 "host-down: one audit line"
expect_exit 69 vm attach --type bind --export "$exp" --volume v3 --owner o1
is "$(lines_of "attach .*volume='v3'.*: failed \\(exit 69\\): ")" 1 "attach on a down host: audited as failed"
expect_exit 0 vm host-up
is "$(lines_of "host-up host: ok\$")" 1 "host-up: one audit line"
expect_exit 0 vm detach --type bind --export "$exp" --volume v1 --owner o1
is "$(lines_of "detach driver='bind' export='$exp' volume='v1' owner='o1': ok\$")" 1 "detach: one audit line"
is "$(wc -l <"$SYSLOG")" 9 "nine operations, nine audit lines" || diag "$(cat "$SYSLOG")"
bad=$(grep -Ev '^<(29|27)>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} volmount\[[0-9]+\]: ' "$SYSLOG")
is "$bad" "" "every line is a syslog(3) datagram from volmount"

# ---- stderr: <N> only when it is the journal ----
err=$VT_TMP/stderr.txt
vm attach --bogus 2>"$err"
is "$(head -c 3 "$err")" "vol" "a terminal or file sees no priority prefix"
stream=$(stat -c '%d:%i' "$err")
JOURNAL_STREAM=$stream vm attach --bogus 2>"$err"
is "$(cat "$err")" "<3>volmount: attach: unrecognized option '--bogus'" \
	"stderr that is \$JOURNAL_STREAM gets <3> on an error"
JOURNAL_STREAM=$stream vm detach --type bind --export "$exp" --volume nope --owner o1 2>"$err"
check "a warning gets <4>" grep -q '^<4>volmount: warning: ' "$err"
JOURNAL_STREAM=1:1 vm attach --bogus 2>"$err"
is "$(head -c 3 "$err")" "vol" "a \$JOURNAL_STREAM of another file: no prefix (a redirection)"

# ---- the monitor under a service manager: sd_notify(3) ----
NOTIFY=$VT_TMP/notify.txt
: >"$NOTIFY"
start_reader "$VT_TMP/notify.sock" "$NOTIFY"
metrics=$VT_TMP/volmount.prom
# shellcheck disable=SC2093 # exec env: the same process, so WATCHDOG_PID is the monitor's
(exec env NOTIFY_SOCKET="$VT_TMP/notify.sock" WATCHDOG_USEC=400000 WATCHDOG_PID="$BASHPID" \
	"$VOLMOUNT_BIN" "${VM_ARGS[@]}" monitor --interval 0.2 --metrics "$metrics") \
	2>"$VT_TMP/monitor.log" &
mon=$!
# Wait (bounded) for the count of work: the third watchdog message.
for _ in $(seq 200); do
	[ "$(grep -c '^WATCHDOG=1$' "$NOTIFY")" -ge 3 ] && break
	sleep 0.05
done
kill -TERM "$mon"
wait "$mon"
is "$?" 0 "the monitor exits 0 on SIGTERM"
is "$(head -n 1 "$NOTIFY")" "READY=1" "the first message is READY=1"
check "the watchdog is fed (3 WATCHDOG=1 at least)" test "$(grep -c '^WATCHDOG=1$' "$NOTIFY")" -ge 3
is "$(tail -n 1 "$NOTIFY")" "STOPPING=1" "the last message is STOPPING=1"
# One check and repair may take 4 x 5 s + 3 x 30 s + 5 s with the default timeouts: more than
# the 0.4 s given, so the monitor raises its interval (and still feeds at half of 0.4 s).
is "$(grep -c '^WATCHDOG_USEC=115000000$' "$NOTIFY")" 1 \
	"the monitor raises the watchdog interval to one check and repair's bound"
check "no priority prefix on the monitor's stderr outside the journal" grep -q '^volmount monitor: checking every 200 ms' "$VT_TMP/monitor.log"
version=$("$VOLMOUNT_BIN" --version | cut -d' ' -f2)
check "the metrics carry volmount_build_info{version=\"$version\"} 1" \
	grep -qx "volmount_build_info{version=\"$version\"} 1" "$metrics"

: >"$NOTIFY"
NOTIFY_SOCKET="$VT_TMP/notify.sock" WATCHDOG_USEC=400000 WATCHDOG_PID=1 \
	"$VOLMOUNT_BIN" "${VM_ARGS[@]}" monitor --interval 0.2 2>>"$VT_TMP/monitor.log" &
mon=$!
for _ in $(seq 100); do
	grep -q '^READY=1$' "$NOTIFY" && break
	sleep 0.05
done
kill -TERM "$mon"
wait "$mon"
check "with WATCHDOG_PID of another process: READY=1 and STOPPING=1 only" \
	test "$(tr '\n' ' ' <"$NOTIFY")" = "READY=1 STOPPING=1 "
done_testing
