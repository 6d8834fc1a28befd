#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Issue 9, item 5: 200 hung shares. Real sshfs mounts against one sshd on 127.0.0.1 (net.sh),
# each made by `volmount attach`, then made to hang in the two ways ENVIRONMENT.md describes,
# each at the cost of a few MB (the server's side of every connection is ended):
#   - N_STOPPED shares: the sshfs daemon is SIGSTOPped and its ssh client killed: statfs waits
#     for a daemon that never reads (the caller stays killable);
#   - N_DSTATE shares (more than the executor's 64 slots): the ssh client is SIGSTOPped and the
#     server's session killed: sshfs reads the request and never gets an answer, so the caller
#     is in D state and cannot be killed until the connection is aborted.
# 800 shares stay healthy (issue 11: 1,000 shares in all): 799 bind shares and one sshfs
# share on the same server. With probe_timeout 2 s:
#   - check --json reports every one of the 200 hung, the 800 others mounted, none stale or
#     unprobed, 1,000 in all, and exits 69 (at f472022, after 64 unkillable probes the executor
#     was full and the rest were reported stale with EAGAIN, never probed);
#   - all of them are probed against one deadline: check returns well before two deadlines
#     (the only timing assertion, generous: < 2 x probe_timeout + 1.5 s; at f472022 the
#     probes ran 32 at a time, one deadline per batch);
#   - `volmount monitor` never has more than two children (the probe worker of the round, and
#     a worker left stuck in D state, tracked) and is not slowed down by stuck paths; at
#     f472022 it had 32 probe children at once and 64 unkillable ones.
# shellcheck disable=SC2317 # functions called through check
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/net.sh
. "$(dirname "$0")/net.sh"
in_private_ns "$0" "$@"
# shellcheck source=SCRIPTDIR/health.sh
. "$(dirname "$0")/health.sh"

N_HUNG=${VT_N_HUNG:-200}
N_HEALTHY=${VT_N_HEALTHY:-800} # at least 3: two bind shares and one sshfs share
N_DSTATE=$((N_HUNG / 3))
N_STOPPED=$((N_HUNG - N_DSTATE))
PROBE_S=2
BATCH=20    # attaches in a row before their connections are dealt with (bounds the memory)
PARALLEL=4  # attaches at once

sshd_up
check "fixture: root logs in to the test sshd with the client key" ssh_works
use_probe_timeout "$PROBE_S"
SSHD_PID=$(cat "$SSH_DIR/sshd.pid")
srv=$VT_TMP/srv

# attach_sshfs I: the share root@127.0.0.1:$srv/I, volume v.
attach_sshfs() {
	mkdir -p "$srv/$1/v"
	vm attach --type sshfs --export "root@127.0.0.1:$srv/$1" --volume v --owner vm1 \
		"${SSHFS_OPTS[@]}" >/dev/null 2>>"$VT_TMP/attach.err"
}

# running COMM: pids of the processes called COMM that are neither stopped nor zombies.
running() { ps -eo pid=,stat=,comm= | awk -v c="$1" '$3 == c && $2 !~ /^[TZ]/ { print $1 }'; }

# hang_stopped: SIGSTOP every running sshfs daemon, then kill every running ssh client (their
# server sessions end with them; a stopped sshfs never notices).
hang_stopped() {
	local p
	for p in $(running sshfs); do kill -STOP "$p"; done
	for p in $(running ssh); do kill -KILL "$p"; done
}

# hang_dstate: SIGSTOP every running ssh client, then kill the server's sessions (every sshd
# but the listener). Their sshfs daemons keep reading requests that are never answered.
hang_dstate() {
	local p
	for p in $(running ssh); do kill -STOP "$p"; done
	for p in $(ps -eo pid=,comm= | awk -v l="$SSHD_PID" '$2 == "sshd" && $1 != l { print $1 }'); do
		kill -KILL "$p"
	done
}

# attach_range FROM TO HANG: attach shares FROM..TO-1, PARALLEL at a time, and run HANG after
# every BATCH of them and at the end. Counts failures in $failed.
failed=0
attach_range() {
	local i=$1 p pids
	while [ "$i" -lt "$2" ]; do
		pids=()
		for _ in $(seq "$PARALLEL"); do
			[ "$i" -lt "$2" ] || break
			attach_sshfs "$i" &
			pids+=($!)
			i=$((i + 1))
		done
		for p in "${pids[@]}"; do
			wait "$p" || failed=$((failed + 1))
		done
		[ $(((i - $1) % BATCH)) -eq 0 ] && "$3"
	done
	"$3"
}
attach_range 0 "$N_STOPPED" hang_stopped
attach_range "$N_STOPPED" "$N_HUNG" hang_dstate
is "$failed" 0 "$N_HUNG sshfs shares attached"
[ "$failed" = 0 ] || diag "$(sort "$VT_TMP/attach.err" | uniq -c | head -5)"
is "$(ps -eo stat=,comm= | awk '$2 == "sshfs" && $1 ~ /^T/' | wc -l)" "$N_STOPPED" \
	"$N_STOPPED sshfs daemons stopped"
is "$(ps -eo stat=,comm= | awk '$2 == "ssh" && $1 ~ /^T/' | wc -l)" "$N_DSTATE" \
	"$N_DSTATE ssh clients stopped, their server sessions gone"
diag "memory in use: $(free -m | awk '/^Mem:/ { print $3 }') MB"

# The healthy ones, attached after the stops.
expX=$(mkexport x)
expY=$(mkexport y)
expect_exit 0 vm attach --type bind --export "$expX" --volume v --owner vm1
expect_exit 0 vm attach --type bind --export "$expY" --volume v --owner vm1
mkdir -p "$srv/ok/v"
expect_exit 0 vm attach --type sshfs --export "root@127.0.0.1:$srv/ok" --volume v --owner vm1 \
	"${SSHFS_OPTS[@]}"
# The other healthy ones: bind shares, each its own export.
failed=0
for i in $(seq 3 $((N_HEALTHY - 1))); do
	vm attach --type bind --export "$(mkexport "h$i")" --volume v --owner vm1 >/dev/null \
		2>>"$VT_TMP/attach.err" || failed=$((failed + 1))
done
is "$failed" 0 "$((N_HEALTHY - 3)) more healthy bind shares attached"

# count STATE: shares in that state in the last check.
count() { S=$1 jq '[.shares[] | select(.state == env.S)] | length' <<<"$LAST_OUT"; }

t0=$(now_ms)
expect_exit 69 vm --json check
elapsed=$(($(now_ms) - t0))
diag "check of $((N_HUNG + N_HEALTHY)) shares, $N_HUNG hung: ${elapsed} ms (probe_timeout ${PROBE_S} s)"
is "$(jq '.shares | length' <<<"$LAST_OUT")" "$((N_HUNG + N_HEALTHY))" "every share is in the report"
is "$(count hung)" "$N_HUNG" "every hung share is reported hung"
is "$(count mounted)" "$N_HEALTHY" "every healthy share is reported mounted"
is "$(count stale)" 0 "no share is reported stale"
is "$(count unprobed)" 0 "every share was probed"
is "$(jq '.unhealthy' <<<"$LAST_OUT")" "$N_HUNG" "unhealthy counts the hung shares"
bound=$((2 * PROBE_S * 1000 + 1500))
check "one deadline, not one per batch: ${elapsed} ms < ${bound} ms" test "$elapsed" -lt "$bound"

# A long-running caller: the monitor. Its children are sampled while it runs several rounds:
# the probe worker of the round, and at most one worker left stuck in D state (tracked).
METRICS=$VT_TMP/metrics.prom
start_monitor
max_children=0
samples=0
end=$(($(now_ms) + 3 * (PROBE_S * 1000 + 500)))
while [ "$(now_ms)" -lt "$end" ]; do
	c=$(awk -v p="$MON_PID" '$4 == p' /proc/[0-9]*/stat 2>/dev/null | wc -l)
	[ "$c" -gt "$max_children" ] && max_children=$c
	samples=$((samples + 1))
	sleep 0.02
done
diag "monitor: at most $max_children child(ren) in $samples samples"
check "monitor never had more than two probe children at once" test "$max_children" -le 2
check "monitor published every hung share" \
	test "$(metric 'volmount_shares{state="hung"}')" = "$N_HUNG"
check "monitor published every healthy share as mounted" \
	test "$(metric 'volmount_shares{state="mounted"}')" = "$N_HEALTHY"
check "monitor published no stale share" \
	test "$(metric 'volmount_shares{state="stale"}')" = 0
stop_monitor "with $N_HUNG hung shares"
# Workers still stuck in D state (state Zl: the main thread is gone, the stuck threads are
# not) belong to calls that have ended; aborting the FUSE connections (killing the daemons)
# releases them, and then no probe worker may remain, dead or alive.
diag "probe workers still stuck: $(ps -eo stat=,comm= | awk '$2 == "volmount"' | wc -l)"
for p in $(ps -eo pid=,comm= | awk '$2 == "sshfs" { print $1 }'); do
	kill -KILL "$p"
done
workers_gone() { [ "$(ps -eo comm= | grep -c '^volmount$')" = 0 ]; }
for _ in $(seq 100); do
	workers_gone && break
	sleep 0.05
done
check "no probe worker is left, running or unreaped, once the mounts are aborted" workers_gone
done_testing
