#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Health of sshfs shares against a real sshd on 127.0.0.1 (net.sh), probe_timeout 2 s: "never
# hang, always heal". Each fault is injected for real and timed, from the fault to check's
# verdict and to the share being healthy again:
#   1. SIGKILL of the sshfs daemon: check says stale (ENOTCONN, exit 69); repair mounts it
#      again (once, a new daemon), every device path works, the ledger is unchanged.
#   2. SIGSTOP of the sshfs daemon: check says hung within the deadline + 1 s; attach and
#      detach on other shares (bind, sshfs) stay fast meanwhile; repair force-unmounts and
#      mounts again.
#   3. SIGSTOP of the server's sftp process: hung within the deadline + 1 s; after SIGCONT
#      the share is healthy again by itself or after a repair, within a bound.
#   4. A network partition (nft DROP on the sshd port): stale or hung within the deadline +
#      1 s; after the heal, repair brings every share back.
#   5. attach of a new volume on a share whose sshfs was SIGKILLed repairs it first.
#   6. monitor: without --repair it publishes the stale share; with --repair it heals it and
#      counts the repair; the metrics file is only ever seen whole.
# The measured times are printed (diag) at the end.
# shellcheck disable=SC2317 # functions called through expect_exit and check
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/net.sh
. "$(dirname "$0")/net.sh"
in_private_ns "$0" "$@"
# shellcheck source=SCRIPTDIR/health.sh
. "$(dirname "$0")/health.sh"

sshd_up
check "fixture: root logs in to the test sshd with the client key" ssh_works

PROBE_S=2
DEADLINE_MS=$(((PROBE_S + 1) * 1000)) # a verdict within the probe deadline + 1 s
FAST_MS=1000                          # an operation on a healthy share
use_probe_timeout "$PROBE_S"

srv=$VT_TMP/srv
mkdir -p "$srv/a/va1" "$srv/a/va2" "$srv/a/va3" "$srv/a/va4" "$srv/b/vb1" "$srv/b/vb2"
expA=root@127.0.0.1:$srv/a
expB=root@127.0.0.1:$srv/b
expX=$(mkexport local)
# Share A, the victim, gives up on a dead connection quickly; share B keeps the defaults.
OPTS_A=("${SSHFS_OPTS[@]}" --option ServerAliveInterval=1 --option ServerAliveCountMax=2)

# timed CMD...: runs CMD like run_capture and sets ELAPSED (milliseconds).
ELAPSED=0
timed() {
	local t0
	t0=$(now_ms)
	run_capture "$@"
	ELAPSED=$(($(now_ms) - t0))
}

attachA() { vm attach --type sshfs --export "$expA" --volume "$1" --owner "$2" "${OPTS_A[@]}"; }
attachB() { vm attach --type sshfs --export "$expB" --volume "$1" --owner "$2" "${SSHFS_OPTS[@]}"; }
detachB() { vm detach --type sshfs --export "$expB" --volume "$1" --owner "$2"; }
attachX() { vm attach --type bind --export "$expX" --volume "$1" --owner "$2"; }
detachX() { vm detach --type bind --export "$expX" --volume "$1" --owner "$2"; }

# sshfs_pid MOUNTPOINT: the sshfs process(es) serving MOUNTPOINT.
sshfs_pid() { net_daemon_pids sshfs "$1"; }

# jcheck: `check --json`, timed; CHECK_RC, CHECK_JSON, ELAPSED.
CHECK_RC=
CHECK_JSON=
jcheck() {
	timed vm --json check
	CHECK_RC=$LAST_RC
	CHECK_JSON=$LAST_OUT
}

# field MOUNTPOINT KEY: KEY of that share in the last check (state, errno, ...).
field() {
	MP=$1 K=$2 jq -r '.shares[] | select(.mountpoint == env.MP) | .[env.K] // "null"' \
		<<<"$CHECK_JSON" 2>/dev/null
}

# io_works DEVPATH TAG: a file written through DEVPATH reads back (bounded: a broken mount
# must fail the check, not hang the test).
io_works() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	timeout -s KILL 10 bash -c 'printf "%s\n" "$2" >"$1/health-io" && [ "$(cat "$1/health-io")" = "$2" ]' \
		_ "$1" "$2" 2>/dev/null
}

# all_devpaths_work TAG DESC: every attachment's device path of share A takes a write and a read.
all_devpaths_work() {
	local v bad=
	for v in "${!devA[@]}"; do
		io_works "${devA[$v]}" "$1 $v" || bad="$bad ${devA[$v]}"
	done
	if [ -z "$bad" ]; then
		ok "$2: every device path of the share works (write + read)"
	else
		not_ok "$2: every device path of the share works (write + read)"
		diag "broken:$bad"
	fi
}

# report_action PATH: the action the last repair/gc --json report gives PATH.
report_action() {
	P=$1 jq -r '[.actions[] | select(.path == env.P) | .action] | join(",")' <<<"$LAST_OUT" 2>/dev/null
}

# ---- the shares: A (3 attachments, sshfs), B (sshfs), X (bind) ----

declare -A devA
for p in "va1 o1" "va1 o2" "va2 o1"; do
	read -r v o <<<"$p"
	expect_exit 0 attachA "$v" "$o" || bail_out "sshfs attach on share A failed"
	devA[$v/$o]=$LAST_OUT
done
mpA=${devA[va1/o1]%/va1}
expect_exit 0 attachB vb1 o1 || bail_out "sshfs attach on share B failed"
mpB=${LAST_OUT%/vb1}
expect_exit 0 attachX xv1 o1 || bail_out "bind attach failed"
mpX=${LAST_OUT%/xv1}
is "$(mounts_at "$mpA")" 1 "share A is mounted once"
is "$(mounts_at "$mpB")" 1 "share B is mounted once"
rows0=$(attachments_rows)
is "$(wc -l <<<"$rows0")" 5 "the ledger holds 5 attachments"

jcheck
is "$CHECK_RC" 0 "check exits 0 when every share is healthy"
is "$(field "$mpA" state)/$(field "$mpB" state)/$(field "$mpX" state)" mounted/mounted/mounted \
	"check shows the three shares as mounted"
check "check reports a probe latency for share A" jq_true \
	"[.shares[] | select(.mountpoint == \"$mpA\") | .probe_us] | .[0] >= 0" "$CHECK_JSON"
all_devpaths_work start "before any fault"

# ---- 1. SIGKILL of the sshfs daemon: stale ----

pidA=$(sshfs_pid "$mpA")
is "$(wc -w <<<"$pidA")" 1 "1: one sshfs daemon serves share A"
idB=$(share_json "$mpB" | jq -r .mount_id)
t0=$(now_ms)
kill -9 "$pidA"
jcheck
tv=$(($(now_ms) - t0))
is "$CHECK_RC" 69 "1: check exits 69 after the sshfs daemon was killed"
is "$(field "$mpA" state)" stale "1: check says share A is stale"
is "$(field "$mpA" errno)" ENOTCONN "1: with errno ENOTCONN"
is "$(field "$mpB" state)/$(field "$mpX" state)" mounted/mounted "1: the other shares stay mounted"
check "1: the verdict came within the probe deadline + 1 s (${tv} ms)" test "$tv" -lt "$DEADLINE_MS"
expect_exit 0 vm --json repair
is "$(report_action "$mpA")" repaired "1: repair reports share A as repaired"
is "$(report_action "$mpB")" kept "1: and keeps share B"
jcheck
tr=$(($(now_ms) - t0))
is "$CHECK_RC" 0 "1: check exits 0 after the repair"
record "1 SIGKILL sshfs" "$tv" "$tr"
is "$(mounts_at "$mpA")" 1 "1: share A is mounted exactly once"
is "$(fstype_at "$mpA")" fuse.sshfs "1: by sshfs"
newA=$(sshfs_pid "$mpA")
if [ -n "$newA" ] && [ "$newA" != "$pidA" ]; then
	ok "1: a new sshfs daemon serves share A ($pidA -> $newA)"
else
	not_ok "1: a new sshfs daemon serves share A"
	diag "old $pidA, now '$newA'"
fi
all_devpaths_work kill "1"
is "$(attachments_rows)" "$rows0" "1: the ledger's attachments are unchanged"
is "$(share_json "$mpB" | jq -r .mount_id)" "$idB" "1: share B's mount was not touched"

# ---- 2. SIGSTOP of the sshfs daemon: hung ----

pidA=$(sshfs_pid "$mpA")
t0=$(now_ms)
kill -STOP "$pidA"
jcheck
tv=$(($(now_ms) - t0))
is "$CHECK_RC" 69 "2: check exits 69 while the sshfs daemon is stopped"
is "$(field "$mpA" state)" hung "2: check says share A is hung"
check "2: check returned within the probe deadline + 1 s (${ELAPSED} ms)" \
	test "$ELAPSED" -lt "$DEADLINE_MS"
is "$(field "$mpB" state)/$(field "$mpX" state)" mounted/mounted \
	"2: the other shares are judged mounted meanwhile"
diag "2: hung share A: errno $(field "$mpA" errno)"

# Other shares are not held up by the hung one.
for op in "attachX xv2 o1" "detachX xv2 o1" "attachB vb2 o1" "detachB vb2 o1"; do
	# shellcheck disable=SC2086 # op is "function volume owner"
	timed $op
	is "$LAST_RC" 0 "2: $op exits 0 while share A hangs"
	check "2: $op takes less than ${FAST_MS} ms (${ELAPSED} ms)" test "$ELAPSED" -lt "$FAST_MS"
done
timed vm --json list
check "2: list answers in less than ${FAST_MS} ms (${ELAPSED} ms)" test "$ELAPSED" -lt "$FAST_MS"
timed vm status
check "2: status answers in less than ${FAST_MS} ms (${ELAPSED} ms)" test "$ELAPSED" -lt "$FAST_MS"

# Repair, which spends a probe deadline on share A, holds no lock that other shares need.
rm -f "$VT_TMP/repair.rc"
(
	vm --json repair >"$VT_TMP/repair.out" 2>"$VT_TMP/repair.err"
	echo $? >"$VT_TMP/repair.rc"
) &
rpid=$!
sleep 0.3
for op in "attachX xv3 o1" "detachX xv3 o1"; do
	# shellcheck disable=SC2086 # op is "function volume owner"
	timed $op
	is "$LAST_RC" 0 "2: $op exits 0 while repair works on the hung share"
	check "2: $op takes less than ${FAST_MS} ms (${ELAPSED} ms)" test "$ELAPSED" -lt "$FAST_MS"
done
check "2: repair was still at work meanwhile" test ! -e "$VT_TMP/repair.rc"
wait "$rpid"
LAST_OUT=$(cat "$VT_TMP/repair.out")
is "$(cat "$VT_TMP/repair.rc")" 0 "2: repair exits 0"
is "$(report_action "$mpA")" repaired "2: repair reports share A as repaired (force-unmounted, mounted again)"
jcheck
tr=$(($(now_ms) - t0))
is "$CHECK_RC" 0 "2: check exits 0 after the repair"
record "2 SIGSTOP sshfs" "$tv" "$tr"
is "$(mounts_at "$mpA")" 1 "2: share A is mounted exactly once"
newA=$(sshfs_pid "$mpA")
isnt "${newA:-none}" "$pidA" "2: by a new sshfs daemon"
all_devpaths_work stop "2"
is "$(attachments_rows)" "$rows0" "2: the ledger's attachments are unchanged"
# The stopped daemon lost its connection: once continued it must go away by itself.
kill -CONT "$pidA" 2>/dev/null
if pid_gone "$pidA" 5; then
	ok "2: the old, stopped sshfs exits by itself once continued"
else
	not_ok "2: the old, stopped sshfs exits by itself once continued"
	kill -9 "$pidA" 2>/dev/null
fi

# ---- 3. SIGSTOP of the server's sftp process: hung ----

# sftp_server_of FILE: the server's sftp process (sshd: root@internal-sftp) holding FILE open.
sftp_server_of() {
	local d p f
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		case "$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)" in
		"sshd: "*internal-sftp*) ;;
		*) continue ;;
		esac
		for f in "$d"/fd/*; do
			[ "$(readlink "$f" 2>/dev/null)" = "$1" ] && echo "$p" && break
		done
	done
	return 0
}

# Hold a file open through share A: the sftp process that opened it on the server serves A.
echo sftp >"$srv/a/va1/held"
exec 9<"${devA[va1/o1]}/held"
spid=$(sftp_server_of "$srv/a/va1/held")
exec 9<&-
is "$(wc -w <<<"$spid")" 1 "3: found the one server sftp process serving share A"
if [ -n "$spid" ]; then
	t0=$(now_ms)
	kill -STOP "$spid"
	jcheck
	tv=$(($(now_ms) - t0))
	is "$CHECK_RC" 69 "3: check exits 69 while the server's sftp process is stopped"
	is "$(field "$mpA" state)" hung "3: check says share A is hung"
	check "3: check returned within the probe deadline + 1 s (${ELAPSED} ms)" \
		test "$ELAPSED" -lt "$DEADLINE_MS"
	is "$(field "$mpB" state)" mounted "3: share B (another sftp process) is mounted"
	pidA=$(sshfs_pid "$mpA")
	kill -CONT "$spid"
	# The server answers again: healthy by itself, or after one repair; either within 15 s.
	how=
	if wait_healthy 5; then
		how="recovered by itself"
	else
		expect_exit 0 vm --json repair
		diag "3: repair: $(report_action "$mpA")"
		wait_healthy 10 && how="repaired: $(report_action "$mpA")"
	fi
	tr=$(($(now_ms) - t0))
	if [ -n "$how" ]; then
		ok "3: after SIGCONT share A is healthy again ($how, ${tr} ms after the fault)"
	else
		not_ok "3: after SIGCONT share A is healthy again"
		diag "$CHECK_JSON"
	fi
	record "3 SIGSTOP server sftp" "$tv" "$tr"
	is "$(mounts_at "$mpA")" 1 "3: share A is mounted exactly once"
	all_devpaths_work sftp "3"
	if [ "$(sshfs_pid "$mpA")" != "$pidA" ]; then
		pid_gone "$pidA" 5 || kill -9 "$pidA" 2>/dev/null
	fi
fi

# ---- 4. network partition ----

pidA=$(sshfs_pid "$mpA")
t0=$(now_ms)
partition() {
	nft add table inet vtfault &&
		nft add chain inet vtfault out '{ type filter hook output priority 0; }' &&
		nft add rule inet vtfault out tcp dport "$SSH_PORT" drop &&
		nft add rule inet vtfault out tcp sport "$SSH_PORT" drop
}
check "4: partition: nft drops the sshd port" partition
jcheck
tv=$(($(now_ms) - t0))
is "$CHECK_RC" 69 "4: check exits 69 during the partition"
case "$(field "$mpA" state)/$(field "$mpB" state)" in
stale/stale | stale/hung | hung/stale | hung/hung) ok "4: check says shares A and B are stale or hung ($(field "$mpA" state)/$(field "$mpB" state))" ;;
*) not_ok "4: check says shares A and B are stale or hung" && diag "$CHECK_JSON" ;;
esac
check "4: check returned within the probe deadline + 1 s (${ELAPSED} ms)" \
	test "$ELAPSED" -lt "$DEADLINE_MS"
is "$(field "$mpX" state)" mounted "4: the bind share is mounted and healthy"
# Share A's ssh gives up after its server-alive probes (1 s x 2): sshfs then exits. volmount
# made the mount and handed sshfs only the connection, so the mount stays, dead (ENOTCONN):
# a consumer's write fails instead of landing in the covered directory. B has no such limit
# and stays hung until the network heals.
if pid_gone "$pidA" 10; then
	jcheck
	is "$(field "$mpA" state)/$(field "$mpA" errno)" stale/ENOTCONN \
		"4: share A's sshfs gave up: its mount stays, stale (ENOTCONN)"
	diag "4: share A's sshfs exited $(($(now_ms) - t0)) ms after the partition"
else
	not_ok "4: share A's sshfs gives up within 10 s (ServerAliveInterval=1, ServerAliveCountMax=2)"
fi
nft delete table inet vtfault
check "4: heal: the nft table is gone" test -z "$(nft list tables 2>/dev/null | grep -w vtfault)"
expect_exit 0 vm --json repair
diag "4: repair: A $(report_action "$mpA"), B $(report_action "$mpB")"
is "$(report_action "$mpA")" repaired "4: repair unmounts share A's dead mount and mounts it again"
case "$(report_action "$mpB")" in
repaired | kept) ok "4: repair repaired or kept share B ($(report_action "$mpB"))" ;;
*) not_ok "4: repair repaired or kept share B" && diag "$LAST_OUT" ;;
esac
jcheck
tr=$(($(now_ms) - t0))
is "$CHECK_RC" 0 "4: check exits 0 after heal + repair"
record "4 partition (nft DROP)" "$tv" "$tr"
is "$(mounts_at "$mpA")/$(mounts_at "$mpB")" 1/1 "4: shares A and B are mounted exactly once"
all_devpaths_work partition "4"
check "4: share B's device path works" io_works "$mpB/vb1" partition
is "$(attachments_rows)" "$rows0" "4: the ledger's attachments are unchanged"

# ---- 5. attach on a killed share repairs it first ----

pidA=$(sshfs_pid "$mpA")
t0=$(now_ms)
kill -9 "$pidA"
expect_exit 0 attachA va3 o1
tr=$(($(now_ms) - t0))
is "$LAST_OUT" "$mpA/va3" "5: attach prints the new device path"
devA[va3/o1]=$LAST_OUT
check "5: the new device path works" io_works "$mpA/va3" attach
is "$(mounts_at "$mpA")" 1 "5: share A is mounted exactly once"
newA=$(sshfs_pid "$mpA")
isnt "${newA:-none}" "$pidA" "5: by a new sshfs daemon"
jcheck
is "$CHECK_RC" 0 "5: check exits 0 after the attach"
record "5 SIGKILL sshfs, then attach" "-" "$tr"
all_devpaths_work attach "5"
is "$(ledger_attachments)" 6 "5: the ledger holds the new attachment too"

# ---- 6. monitor: publishes the stale share; with --repair heals it ----

METRICS=$VT_TMP/metrics.prom

pidA=$(sshfs_pid "$mpA")
t0=$(now_ms)
kill -9 "$pidA"
start_monitor
if wait_metric 'volmount_shares{state="stale"}' -eq 1 10; then
	ok "6: monitor without --repair publishes volmount_shares{state=\"stale\"} 1"
else
	not_ok "6: monitor without --repair publishes volmount_shares{state=\"stale\"} 1"
	diag "$(cat "$METRICS" 2>/dev/null)"
fi
tv=$(($(now_ms) - t0))
# The file is replaced atomically: until the monitor has checked 4 times (counted, not timed;
# bounded by a number of reads no healthy monitor needs), every read is a whole exposition.
bad=0
reads=0
last=$(metric volmount_checks_total)
while [ "$reads" -lt 20000 ] && [ "${last:-0}" -lt 4 ]; do
	c=$(cat "$METRICS" 2>/dev/null)
	reads=$((reads + 1))
	if ! grep -q '^volmount_checks_total [0-9]' <<<"$c" || ! prom_valid >/dev/null <<<"$c"; then
		bad=$((bad + 1))
		[ "$bad" = 1 ] && diag "6: a bad read: $(head -c 300 <<<"$c")"
	else
		last=$(awk '$1 == "volmount_checks_total" { print $2; exit }' <<<"$c")
	fi
done
is "$bad" 0 "6: $reads reads of the metrics file: each one whole and valid"
check "6: the monitor checked several times meanwhile ($last)" test "${last:-0}" -ge 4
is "$(metric 'volmount_shares{state="stale"}')" 1 "6: the share stays stale (no repair without --repair)"
is "$(metric 'volmount_repairs_total{result="ok"}')" 0 "6: no repair counted"
is "$(mounts_at "$mpA")" 1 "6: the dead mount is left in place"
stop_monitor "6 (no --repair)"
if grep -q "$mpA is stale" "$VT_TMP/monitor.log"; then
	ok "6: monitor logs the stale share"
else
	not_ok "6: monitor logs the stale share"
fi

start_monitor --repair
if wait_metric 'volmount_repairs_total{result="ok"}' -ge 1 10 &&
	wait_metric 'volmount_shares{state="mounted"}' -eq 3 5; then
	ok "6: monitor --repair heals share A: repairs_total{result=\"ok\"} >= 1, 3 shares mounted"
	tr=$(($(now_ms) - t0))
	is "$(metric 'volmount_shares{state="stale"}')" 0 "6: no share is stale any more"
else
	tr=-
	not_ok "6: monitor --repair heals share A"
	diag "metrics: $(cat "$METRICS" 2>/dev/null)"
	diag "log: $(tail -n 3 "$VT_TMP/monitor.log")"
fi
record "6 SIGKILL sshfs, monitor" "$tv" "$tr"
stop_monitor "6 (--repair)"
jcheck
if [ "$CHECK_RC" != 0 ]; then
	# Heal by hand so that what follows tests the rest, not this failure again.
	diag "6: share A still unhealthy after monitor --repair; running repair"
	expect_exit 0 vm repair
	jcheck
fi
is "$CHECK_RC" 0 "6: check exits 0"
is "$(mounts_at "$mpA")" 1 "6: share A is mounted exactly once"
all_devpaths_work monitor "6"
isnt "$(sshfs_pid "$mpA")" "" "6: a live sshfs serves share A"

# ---- the end: everything detaches, nothing is left ----

for v in "${!devA[@]}"; do
	expect_exit 0 vm detach --type sshfs --export "$expA" --volume "${v%/*}" --owner "${v#*/}"
done
expect_exit 0 detachB vb1 o1
expect_exit 0 detachX xv1 o1
is "$(mounts_under "$BASE_DIR")" "" "nothing is left mounted under the base directory"
check "no sshfs daemon is left (none stuck)" net_wait_gone sshfs 5
is "$(ledger_shares)" 0 "shares table empty"

diag "fault                              verdict   repaired   (ms after the fault)"
for l in "${TIMES[@]}"; do
	diag "$l"
done
done_testing
