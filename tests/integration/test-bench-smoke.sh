#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `make bench` still works: bench/run.sh in its quick form (a few rounds of every case, with
# its own private namespaces, sshd and FUSE daemons) exits 0 and prints a row for every case,
# with ratios against the floors of the same run (case 8, Nova's mount manager against the
# Python binding, where the binding is built; case 6d, host-up with a dead server, against its
# slowest single share; case 9, check at scale, against its smallest
# size, 9h's hung and healthy counts checked by the bench itself every round), and case 4's
# invariants hold. No figure is judged: the quick run's numbers mean nothing, and speed goals
# are the benchmark's business, never a test's (bench/README.md).
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

out=$VT_TMP/bench.txt
expect_exit 0 env VOLMOUNT_BENCH_OUT="$out" "$VOLMOUNT_SRCDIR/bench/run.sh" "$VOLMOUNT_BUILDDIR" \
	--quick
for c in 1 1t 2 2f 3 3k 5 5s 4 6 6r 6d 7 9 9h 9r; do
	check "case $c printed a row" grep -qE "^$c +[^ ]" "$out"
done
check "case 1's ratio to its floor is computed" grep -qE '^1 +cold attach .* [0-9.]+x <= 3x' "$out"
check "case 2's ratio to its floor is computed" grep -qE '^2 +warm attach .* [0-9.]+x <= 2x' "$out"
check "case 4's invariants hold" grep -qE '^4 +invariants .* hold +PASS' "$out"
check "case 6d's host-up is compared with its slowest single share" \
	grep -qE '^6d +host-up, every mount gone: 50 sshfs .* [0-9.]+x <= 1.25x' "$out"
check "case 9's cost per share is compared across sizes" \
	grep -qE '^9 +cost per share .* [0-9.]+x <= 1.2x' "$out"
check "case 9h's verdict counted every hung share" grep -qE 'every round: [0-9]+ hung' "$out"
check "the summary line is there" grep -qE '^targets: ' "$out"
# Case 8 (Nova's mount manager against the Python binding) runs where the binding is built.
if jq -e '.[] | select(.name | startswith("_volmount."))' \
	"$VOLMOUNT_BUILDDIR/meson-info/intro-targets.json" >/dev/null; then
	for c in 8c 8w; do
		check "case $c printed its rows with a ratio" \
			grep -qE "^$c +volmount via Python: .* [0-9.]+x " "$out"
	done
	check "case 8's summary line is there" grep -qE '^targets of case 8: [0-9]+ failed' "$out"
	diag "$(grep -E '^8' "$out")"
else
	check "case 8 says why it did not run" grep -qE '^8 +skipped: the Python binding is not built' "$out"
fi
diag "$(grep -E 'x <=|hold' "$out")"
done_testing
