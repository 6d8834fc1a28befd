#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Many processes, some multi-threaded, attach and detach at random on 4 shares (volmount-stress)
# while a sampler watches the mount table for a stacked mount. Afterwards every share is mounted
# exactly when the ledger has attachments for it, and list agrees.
#
# The work is counted, never timed: every thread does OPS operations, and keeps going until
# the sampler has taken its samples, however slow the machine; --seconds only bounds a run
# that does not finish (then the counts below fail).
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

[ -x "$VOLMOUNT_STRESS" ] || bail_out "VOLMOUNT_STRESS=$VOLMOUNT_STRESS is not an executable"

K=4
OPS=${VT_STRESS_OPS:-25}               # per thread: 6x1 + 4x4 threads, 550 operations at least
SECONDS_RUN=${VT_STRESS_SECONDS:-200}  # a bound, not the plan
SEED=${VT_SEED:-$(($(date +%s) % 100000))}
diag "seed $SEED (set VT_SEED to replay)"
sdir=$VT_EXPORTS/stress

stress() {
	timeout -k 5 $((SECONDS_RUN + 40)) "$VOLMOUNT_STRESS" --state-dir "$STATE_DIR" \
		--base-dir "$BASE_DIR" --run-dir "$RUN_DIR" --export-dir "$sdir" --shares "$K" \
		--seconds "$SECONDS_RUN" --ops "$OPS" --until "$VT_TMP/sampled" --timeout-ms 10000 "$@"
}

VT_MIN_SAMPLES=${VT_MIN_SAMPLES:-400} # about as long as the 8 s the churn used to run here
rm -f "$VT_TMP/sampled"
start_stack_sampler
stress --procs 6 --threads 1 --seed "$SEED" >"$VT_TMP/a.out" 2>"$VT_TMP/a.err" &
pa=$!
stress --procs 4 --threads 4 --seed $((SEED + 1)) >"$VT_TMP/b.out" 2>"$VT_TMP/b.err" &
pb=$!
# The stress goes on until the sampler has taken its samples during the churn.
for _ in $(seq 100000); do
	n=0
	read -r n 2>/dev/null <"$VT_TMP/sampler.count"
	[ "${n:-0}" -ge "$VT_MIN_SAMPLES" ] && break
	kill -0 "$pa" 2>/dev/null || kill -0 "$pb" 2>/dev/null || break
	sleep 0.01
done
touch "$VT_TMP/sampled"
wait "$pa"
ra=$?
wait "$pb"
rb=$?
stop_stack_sampler

for x in a b; do
	diag "stress $x: $(tr '\n' ' ' <"$VT_TMP/$x.out")"
	[ -s "$VT_TMP/$x.err" ] && diag "$(head -20 "$VT_TMP/$x.err")"
done
is "$ra" 0 "6 single-threaded processes: no failure"
is "$rb" 0 "4 processes x 4 threads: no failure"
ops=0
errs=0
for x in a b; do
	line=$(grep -E '^ops=[0-9]+ errors=[0-9]+$' "$VT_TMP/$x.out")
	o=${line#ops=}
	o=${o%% *}
	e=${line##*errors=}
	ops=$((ops + ${o:-0}))
	errs=$((errs + ${e:-0}))
done
check "the stress runs did all their work ($ops operations, $errs lock timeouts)" \
	test "$ops" -ge $(((6 * 1 + 4 * 4) * OPS))

# ---- the invariant, share by share ----
out=$(stacked_under "$BASE_DIR")
is "$out" "" "nothing stacked at the end"
j=$(vm --json list)
with=0
total=0
expected_mounts=
for i in $(seq 0 $((K - 1))); do
	exp=$sdir/s$i
	mp=$(vm path --type bind --export "$exp")
	h=${mp##*/}
	nl=$(ledger_sql "SELECT count(*) FROM attachments WHERE hash = '$h'")
	nj=$(MP=$mp jq '[.shares[] | select(.mountpoint == env.MP) | .attachments[]] | length' <<<"$j")
	is "$nj" "$nl" "s$i: list shows the ledger's $nl attachments"
	total=$((total + nl))
	if [ "$nl" -gt 0 ]; then
		with=$((with + 1))
		expected_mounts+="$mp"$'\n'
		is "$(mounts_at "$mp")" 1 "s$i: has attachments, mounted exactly once"
		is "$(MP=$mp jq -r '.shares[] | select(.mountpoint == env.MP) | .state' <<<"$j")" mounted "s$i: listed as mounted"
	else
		is "$(mounts_at "$mp")" 0 "s$i: no attachment, not mounted"
		check "s$i: no attachment, no directory" test ! -e "$mp"
		is "$(ledger_sql "SELECT count(*) FROM shares WHERE hash = '$h'")" 0 "s$i: no attachment, no share row"
	fi
done
is "$(mounts_under "$BASE_DIR")" "$(printf '%s' "$expected_mounts" | sort)" "exactly the shares with attachments are mounted under the base"
is "$(ledger_attachments)" "$total" "no attachment rows for other shares"
s=$(vm --json status)
is "$(jq -r .attachments <<<"$s")" "$total" "status: attachments"
is "$(jq -r .mounted <<<"$s")" "$with" "status: mounted"
is "$(jq -r .unhealthy <<<"$s")" 0 "status: unhealthy"

# ---- and the state is usable: detach everything through the CLI ----
bad=0
while read -r exp vol own; do
	[ -n "$exp" ] || continue
	vm detach --type bind --export "$exp" --volume "$vol" --owner "$own" >/dev/null 2>&1 || bad=$((bad + 1))
done < <(jq -r '.shares[] | .export as $e | .attachments[] | "\($e) \(.volume) \(.owner)"' <<<"$j")
is "$bad" 0 "every attachment left by the stress detaches"
is "$(mounts_under "$BASE_DIR")" "" "nothing mounted after detaching everything"
is "$(ledger_attachments)$(ledger_shares)" 00 "ledger empty after detaching everything"
is "$(find "$BASE_DIR/bind" -mindepth 1 2>/dev/null)" "" "no directory left under <base>/bind"
done_testing
