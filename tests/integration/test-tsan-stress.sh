#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The threaded stress of the library: one process, 8 threads sharing one context, random
# attach/detach on 4 bind shares. Run in the ThreadSanitizer build (suite 'tsan'), where any
# data race aborts the stress client; in other builds it is one more concurrency check.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

# Counted, never timed: every thread does 200 operations and goes on until the sampler has
# taken its samples during the churn; --seconds only bounds a run that does not finish.
rm -f "$VT_TMP/sampled"
start_stack_sampler
"$VOLMOUNT_STRESS" --state-dir "$STATE_DIR" --base-dir "$BASE_DIR" \
	--run-dir "$RUN_DIR" --export-dir "$VT_EXPORTS" --shares 4 --procs 1 --threads 8 \
	--seconds 200 --ops 200 --until "$VT_TMP/sampled" >"$VT_TMP/stress.out" 2>&1 &
stress=$!
for _ in $(seq 100000); do
	n=0
	read -r n 2>/dev/null <"$VT_TMP/sampler.count"
	[ "${n:-0}" -ge "${VT_MIN_SAMPLES:-10}" ] && break
	kill -0 "$stress" 2>/dev/null || break
	sleep 0.01
done
touch "$VT_TMP/sampled"
wait "$stress"
is "$?" 0 "8 threads on one context: no failure"
diag "$(cat "$VT_TMP/stress.out")"
ops=$(sed -n 's/^ops=\([0-9]*\) .*/\1/p' "$VT_TMP/stress.out")
check "the threads did all their work (${ops:-0} operations)" test "${ops:-0}" -ge 1600
stop_stack_sampler

# At rest: every share is mounted exactly once if it has attachments, and not at all if not.
n_bad=0
while read -r mp n; do
	want=0
	[ "$n" -gt 0 ] && want=1
	[ "$(mounts_at "$mp")" = "$want" ] || n_bad=$((n_bad + 1))
done < <(vm --json list | jq -r '.shares[] | "\(.mountpoint) \(.attachments | length)"')
is "$n_bad" 0 "every share mounted exactly when it has attachments"
is "$(mounts_under "$BASE_DIR" | wc -l)" "$(vm --json list | jq '[.shares[] | select(.attachments | length > 0)] | length')" \
	"no mount under the base directory that the ledger does not account for"
done_testing
