# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# health.sh - what the health tests (test-health-sshfs, test-health-gluster, test-health-misc)
# share: a probe deadline in the configuration, waits on processes and on `check`, the times
# table, and a `volmount monitor` run with its metrics file. Sourced after lib.sh.

# shellcheck disable=SC2317 # functions called through expect_exit and check

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# use_probe_timeout SECONDS: every volmount call of the test runs with this probe deadline.
use_probe_timeout() {
	printf '# volmount test configuration\nprobe_timeout = %s\n' "$1" >"$VT_TMP/volmount.conf"
	chmod 0644 "$VT_TMP/volmount.conf"
	VM_ARGS+=(--config "$VT_TMP/volmount.conf")
}

# pid_gone PID [SECONDS]: the process has exited (or is a zombie) within SECONDS (default 5).
pid_gone() {
	local _ st
	for _ in $(seq $((${2:-5} * 20))); do
		st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
		[ -z "$st" ] || [ "$st" = Z ] && return 0
		sleep 0.05
	done
	return 1
}

# wait_healthy SECONDS: runs the script's jcheck (`check --json`, setting CHECK_RC) until it
# exits 0, at most SECONDS; 1 if it never did.
wait_healthy() {
	local end=$(($(now_ms) + $1 * 1000))
	while :; do
		jcheck
		[ "$CHECK_RC" = 0 ] && return 0
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.2
	done
}

attachments_rows() {
	ledger_sql "SELECT hash || ' ' || volume || ' ' || owner FROM attachments ORDER BY 1"
}

# Times, for the table at the end.
TIMES=()
record() { TIMES+=("$(printf '%-34s %8s %10s' "$1" "$2" "$3")"); }

# ---- volmount monitor ----

# The script sets METRICS, the metrics file's path.
MON_PID=

# metric LINE-PREFIX: the value of the first metrics line that starts with LINE-PREFIX.
metric() {
	awk -v k="$1" 'index($0, k " ") == 1 { print $NF; exit }' "$METRICS" 2>/dev/null
}

# prom_valid: stdin is a Prometheus text exposition: comments, and `name{labels} value` or
# `name value` lines, at least one of them. Prints the lines that are not.
prom_valid() {
	awk '
		/^#/ { next }
		!/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? -?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ { bad = 1; print "bad line: " $0 }
		{ n++ }
		END { exit bad || n == 0 }'
}

# start_monitor ARG...: `volmount monitor` in the background, every 0.5 s, into METRICS.
start_monitor() {
	rm -f "$METRICS"
	"$VOLMOUNT_BIN" "${VM_ARGS[@]}" monitor --interval 0.5 --metrics "$METRICS" "$@" \
		2>>"$VT_TMP/monitor.log" &
	MON_PID=$!
}

# stop_monitor DESC: SIGTERM; it must exit 0 within 2 s.
stop_monitor() {
	local _ rc
	if ! kill -0 "$MON_PID" 2>/dev/null; then
		wait "$MON_PID"
		not_ok "$1: monitor was still running when stopped (it exited $?)"
		diag "$(tail -n 3 "$VT_TMP/monitor.log")"
		return 1
	fi
	kill -TERM "$MON_PID"
	for _ in $(seq 40); do
		kill -0 "$MON_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$MON_PID" 2>/dev/null; then
		not_ok "$1: monitor exits within 2 s of SIGTERM"
		kill -9 "$MON_PID"
		wait "$MON_PID" 2>/dev/null
		return 1
	fi
	wait "$MON_PID"
	rc=$?
	is "$rc" 0 "$1: monitor exits 0 within 2 s of SIGTERM"
}

# wait_metric LINE-PREFIX TEST VALUE SECONDS: until the metric satisfies `test VALUE`.
wait_metric() {
	local end=$(($(now_ms) + $4 * 1000)) v
	while :; do
		v=$(metric "$1")
		[ -n "$v" ] && test "${v%.*}" "$2" "$3" && return 0
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.1
	done
}
