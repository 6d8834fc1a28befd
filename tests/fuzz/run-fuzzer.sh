#!/bin/bash
# run-fuzzer.sh FUZZER CORPUS RUNS - a bounded libFuzzer run for `make check` (suite fuzz-live).
# Counts work, not time: RUNS inputs with a fixed seed, so a run is the same on a fast and a
# slow machine and a crash it finds is reproducible. New inputs go to a scratch directory
# listed first (libFuzzer writes there), the committed corpus is only read; a crash leaves its
# input in the scratch directory and the test prints it.
set -euo pipefail
fuzzer=$(realpath "$1") corpus=$(realpath "$2") runs=$3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
if ! "$fuzzer" -seed=1 -runs="$runs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="$scratch/" "$scratch" "$corpus" 2>"$scratch/log"; then
	tail -40 "$scratch/log"
	for f in "$scratch"/crash-* "$scratch"/leak-* "$scratch"/timeout-* "$scratch"/oom-*; do
		[ -f "$f" ] && { echo "input $f:"; od -c "$f" | head -20; }
	done
	echo "$(basename "$fuzzer"): failed"
	exit 1
fi
# libFuzzer's last line: "Done N runs in S second(s)"; prove the runs happened.
done_runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$scratch/log" | tail -1)
if [ -z "$done_runs" ] || [ "$done_runs" -lt "$runs" ]; then
	tail -20 "$scratch/log"
	echo "$(basename "$fuzzer"): ran ${done_runs:-0} of $runs inputs"
	exit 1
fi
echo "ok - $(basename "$fuzzer"): $done_runs inputs, no crash, leak or timeout"
