#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Churn attach/detach CLI processes on a few shares while SIGKILLing them at random moments
# (at least 60 kills, and at least 60 operations that ran to completion and succeeded: counted,
# never timed);
# then host-up, and the invariants hold: a share is mounted exactly once
# iff it has attachments, no directory or mount under the base that the ledger does not know,
# and list agrees with the ledger.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

SHARES=3
WORKERS=4
# Counts, never time: the churn runs until at least MIN_KILLS volmount processes were SIGKILLed
# while running and MIN_DONE ran to completion, however slow the machine (a loaded one under
# ASan once completed only 5 operations in a fixed 25 s). MAX_OPS per worker bounds the run if
# something keeps either count from growing; reaching it is a failure, not a pass.
MIN_KILLS=${VT_MIN_KILLS:-60}
MIN_DONE=${VT_MIN_DONE:-60}
MAX_OPS=${VT_MAX_OPS:-2000}
exps=()
for i in $(seq 0 $((SHARES - 1))); do
	exps+=("$(mkexport "c$i")")
done

expect_exit 0 vm status # creates the directories and the ledger before the churn

# The delay before a kill is a read with a timeout on a FIFO nobody writes to (a builtin: a
# fork per shot would be slower than what it shoots at).
mkfifo "$VT_TMP/never"

# worker N: attach/detach at random, logging every exit status. About half of the operations,
# chosen at random, are targets: SIGKILLed after a random 0-9 ms (a target that finishes first
# simply completes); the others always run to completion. It stops once it has its share of
# kills and of completed operations, or after MAX_OPS operations.
worker() {
	local w=$1 pid rc op exp n=0 kills=0 done_ops=0 never
	local need_kills=$(((MIN_KILLS + WORKERS - 1) / WORKERS))
	local need_done=$(((MIN_DONE + WORKERS - 1) / WORKERS))
	exec {never}<>"$VT_TMP/never"
	: >"$VT_TMP/w$w.rc"
	while [ "$n" -lt "$MAX_OPS" ] && { [ "$kills" -lt "$need_kills" ] || [ "$done_ops" -lt "$need_done" ]; }; do
		exp=${exps[$((RANDOM % SHARES))]}
		if [ $((RANDOM % 2)) = 0 ]; then op=attach; else op=detach; fi
		"$VOLMOUNT_BIN" "${VM_ARGS[@]}" --timeout 5 "$op" --type bind --export "$exp" \
			--volume "v$((RANDOM % 4))" --owner "o$((RANDOM % 2))" \
			>/dev/null 2>"$VT_TMP/w$w.last" &
		pid=$!
		if [ "$kills" -lt "$need_kills" ] && [ $((RANDOM % 2)) = 0 ]; then
			read -r -t "0.00$((RANDOM % 10))" -u "$never"
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid"
		rc=$?
		echo "$rc" >>"$VT_TMP/w$w.rc"
		case "$rc" in
		137) kills=$((kills + 1)) ;;
		0) done_ops=$((done_ops + 1)) ;;
		75) ;; # timed out on a lock: allowed, but not counted as done
		*) { printf '%s %s: exit %s: ' "$op" "$exp" "$rc"; cat "$VT_TMP/w$w.last"; } >>"$VT_TMP/unexpected" ;;
		esac
		n=$((n + 1))
	done
}

wpids=()
for w in $(seq 1 "$WORKERS"); do
	worker "$w" 2>/dev/null &
	wpids+=($!)
done
for p in "${wpids[@]}"; do
	wait "$p"
done

n_kills=$(cat "$VT_TMP"/w*.rc | grep -c '^137$')
n_ops=$(cat "$VT_TMP"/w*.rc | wc -l)
n_ok=$(cat "$VT_TMP"/w*.rc | grep -c '^0$')
diag "$n_ops operations, $n_ok succeeded, $n_kills SIGKILLed ($SECONDS s, not judged)"
check "at least $MIN_KILLS volmount processes were SIGKILLed while running ($n_kills)" test "$n_kills" -ge "$MIN_KILLS"
check "at least $MIN_DONE operations ran to completion and succeeded ($n_ok)" test "$n_ok" -ge "$MIN_DONE"
if [ -s "$VT_TMP/unexpected" ]; then
	not_ok "every operation not killed succeeded (or timed out on a lock)"
	diag "$(sort "$VT_TMP/unexpected" | uniq -c | sort -rn | head -15)"
else
	ok "every operation not killed succeeded (or timed out on a lock)"
fi

# ---- recovery ----
expect_exit 0 vm --json host-up
diag "host-up actions: $(jq -c '[.actions[] | .action] | group_by(.) | map({(.[0]): length}) | add' <<<"$LAST_OUT" 2>/dev/null)"

out=$(stacked_under "$BASE_DIR")
is "$out" "" "nothing stacked"
j=$(vm --json list)
expected_mounts=
total=0
for exp in "${exps[@]}"; do
	mp=$(vm path --type bind --export "$exp")
	h=${mp##*/}
	name=${exp##*/}
	nl=$(ledger_sql "SELECT count(*) FROM attachments WHERE hash = '$h'")
	nj=$(MP=$mp jq '[.shares[] | select(.mountpoint == env.MP) | .attachments[]] | length' <<<"$j")
	is "$nj" "$nl" "$name: list shows the ledger's $nl attachments"
	total=$((total + nl))
	if [ "$nl" -gt 0 ]; then
		expected_mounts+="$mp"$'\n'
		is "$(mounts_at "$mp")" 1 "$name: has attachments, mounted exactly once"
		is "$(MP=$mp jq -r '.shares[] | select(.mountpoint == env.MP) | .state' <<<"$j")" mounted "$name: listed as mounted"
	else
		is "$(mounts_at "$mp")" 0 "$name: no attachment, not mounted"
		check "$name: no attachment, no directory" test ! -e "$mp"
	fi
done
is "$(mounts_under "$BASE_DIR")" "$(printf '%s' "$expected_mounts" | sort)" "no mount under the base that the ledger does not know"
is "$(ledger_attachments)" "$total" "no attachment rows for unknown shares"
stray=
for d in "$BASE_DIR"/bind/*; do
	[ -e "$d" ] || [ -L "$d" ] || continue
	h=${d##*/}
	[ "$(ledger_sql "SELECT count(*) FROM shares WHERE hash = '$h'")" = 1 ] || stray+="$d "
done
is "$stray" "" "no directory under <base>/bind without a ledger row"
is "$(ledger_sql "SELECT count(*) FROM shares s WHERE NOT EXISTS (SELECT 1 FROM attachments a WHERE a.hash = s.hash)")" 0 \
	"no share row without attachments after host-up"
is "$(jq '[.shares[] | select(.state != "mounted")] | length' <<<"$j")" 0 "every listed share is mounted"

# ---- and everything still detaches ----
bad=0
while read -r exp vol own; do
	[ -n "$exp" ] || continue
	vm detach --type bind --export "$exp" --volume "$vol" --owner "$own" >/dev/null 2>&1 || bad=$((bad + 1))
done < <(jq -r '.shares[] | .export as $e | .attachments[] | "\($e) \(.volume) \(.owner)"' <<<"$j")
is "$bad" 0 "every surviving attachment detaches"
is "$(mounts_under "$BASE_DIR")" "" "nothing mounted after detaching everything"
is "$(ledger_attachments)$(ledger_shares)" 00 "ledger empty after detaching everything"
done_testing
