#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Issue 9, item 4: a helper that outlives a SIGKILLed volmount is found and ended by the next
# call or host-up before anything is mounted again. Against a real sshd on 127.0.0.1 (net.sh)
# that is SIGSTOPped, so that sshfs stays connecting (sshfs 3.7 mounts first, then connects:
# the orphan has mounted already and serves its mount as soon as the server answers):
#   1. attach is SIGKILLed while its sshfs connects; the retry, at once and with the server
#      still stopped, must end the orphan (sshfs and ssh) and take its mount away before it
#      mounts. After the server is resumed the share is mounted exactly once, by the retry
#      (the mount table is sampled all along), detach exits 0, and no helper survives.
#   2. the same crash, then host-up: the orphan is ended and its mount taken away; after the
#      server is resumed, nothing is mounted that the ledger does not say.
# At f472022 the orphan keeps running: the retry adopts the orphan's half-made mount, and
# host-up leaves the orphan running behind its back.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/net.sh
. "$(dirname "$0")/net.sh"
in_private_ns "$0" "$@"

sshd_up
check "fixture: root logs in to the test sshd with the client key" ssh_works
SSHD_PID=$(cat "$SSH_DIR/sshd.pid")

srv=$VT_TMP/srv
mkdir -p "$srv/a/v1" "$srv/a/v2" "$srv/b/v1"

attach_cmd() { # EXPORT VOLUME: the attach command line (for running it in the background)
	echo "$VOLMOUNT_BIN" "${VM_ARGS[@]}" attach --type sshfs --export "$1" --volume "$2" \
		--owner vm1 "${SSHFS_OPTS[@]}"
}


# wait_for CMD... : up to 10 s until CMD succeeds.
wait_for() {
	local _
	for _ in $(seq 200); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
have_sshfs() { [ -n "$(net_live_pids sshfs)" ]; }
# the sshd listener has a connection waiting in its accept queue (ssh is connecting)
connecting() { [ "$(ss -ltnH "sport = :$SSH_PORT" | awk '{ print $2 }' | head -1)" -ge "$1" ]; }

# crash_attach EXPORT VOLUME: attach in the background while the server is stopped, wait until
# its ssh is connecting, SIGKILL volmount. Leaves the orphaned helper connecting.
crash_attach() {
	local pid
	kill -STOP "$SSHD_PID"
	# shellcheck disable=SC2046
	$(attach_cmd "$1" "$2") >"$VT_TMP/crash.out" 2>&1 &
	pid=$!
	wait_for connecting 1 || diag "the crashed attach never connected"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	check "an orphaned sshfs is left connecting after volmount was SIGKILLed" have_sshfs
}

# alive_of PIDS...: how many of PIDS are still running (not zombies).
alive_of() {
	local p st n=0
	for p in "$@"; do
		st=$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)
		[ -n "$st" ] && [ "$st" != Z ] && n=$((n + 1))
	done
	echo "$n"
}
# all live sshfs and ssh processes
helper_pids() { net_live_pids sshfs; net_live_pids ssh; }
# wait_none PIDS...: up to 5 s until none of PIDS runs
wait_none() {
	local _
	for _ in $(seq 100); do
		[ "$(alive_of "$@")" = 0 ] && return 0
		sleep 0.05
	done
	return 1
}
pending_mp() { ledger_sql "select mountpoint from shares where state = 'pending'"; }

# ---- 1. crash, retry at once, resume the server ----
# sshfs mounts first and connects afterwards (sshfs 3.7: fuse_mount, then ssh_connect), so the
# orphan has already mounted, and keeps waiting for the server to answer.
expA=root@127.0.0.1:$srv/a
crash_attach "$expA" v1
# shellcheck disable=SC2207
orphans=($(helper_pids))
mpA=$(pending_mp)
diag "orphaned helpers: ${orphans[*]}"
isnt "$mpA" "" "the crashed attach left a pending share"

start_stack_sampler
# shellcheck disable=SC2046
$(attach_cmd "$expA" v2) >"$VT_TMP/retry.out" 2>"$VT_TMP/retry.err" &
retry=$!
# While the server is still stopped, the retry must have ended the orphan (its sshfs and ssh).
wait_none "${orphans[@]}"
is "$(alive_of "${orphans[@]}")" 0 "the retry ended the orphaned helper (sshfs and ssh) before mounting"
kill -CONT "$SSHD_PID"
wait "$retry"
rc=$?
is "$rc" 0 "the retried attach succeeds once the server answers"
[ "$rc" = 0 ] || diag "$(cat "$VT_TMP/retry.err")"
dev=$(cat "$VT_TMP/retry.out")
# Give an orphan, had it survived, the time to finish its own mount and connection.
sleep 1
stop_stack_sampler
is "$(mounts_at "$mpA")" 1 "the share is mounted exactly once"
is "$(fstype_at "$mpA")" fuse.sshfs "and it is the sshfs mount"
check "the device path works" timeout 10 sh -c "echo hello >'$dev/f' && [ \"\$(cat '$srv/a/v2/f')\" = hello ]"
is "$(net_live_pids sshfs | wc -l)" 1 "one sshfs runs: the daemon of the one mount"
expect_exit 0 vm detach --type sshfs --export "$expA" --volume v2 --owner vm1
is "$(mounts_at "$mpA")" 0 "detach unmounted it"
# sshfs exits once its mount is gone, and its ssh a moment later: wait for both.
net_wait_gone sshfs 5
net_wait_gone ssh 5
is "$(helper_pids | wc -l)" 0 "no sshfs or ssh process of the share survives"
expect_exit 0 vm host-up
is "$(mounts_under "$BASE_DIR" | wc -l)" 0 "host-up leaves nothing mounted"

# ---- 2. crash, then host-up (server still stopped), then resume the server ----
expB=root@127.0.0.1:$srv/b
crash_attach "$expB" v1
# shellcheck disable=SC2207
orphans=($(helper_pids))
isnt "$(pending_mp)" "" "the crashed attach left a pending share"
start_stack_sampler
expect_exit 0 vm host-up
is "$(alive_of "${orphans[@]}")" 0 "host-up ended the orphaned helper (sshfs and ssh)"
is "$(mounts_under "$BASE_DIR" | wc -l)" 0 "host-up took the orphan's mount away"
kill -CONT "$SSHD_PID"
# Give an orphan, had it survived, the time to connect and serve its mount.
sleep 1
stop_stack_sampler
n_rows=$(vm --json list | jq '[.shares[] | select(.attachments | length > 0)] | length')
is "$(mounts_under "$BASE_DIR" | wc -l)" "$n_rows" "mounts under the base are exactly the ledger's ($n_rows)"
is "$(vm --json list | jq '.shares | length')" 0 "the crashed attach left no share behind"
is "$(helper_pids | wc -l)" 0 "no sshfs or ssh process of the share survives"
expect_exit 0 vm host-up
is "$(mounts_under "$BASE_DIR" | wc -l)" 0 "a second host-up leaves nothing mounted"
done_testing
