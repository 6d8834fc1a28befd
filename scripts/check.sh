#!/bin/bash
# check.sh - build and run every test, three ways:
#   build/       gcc, -Werror: unit, fuzz-corpus replay and integration suites
#   build-san/   clang, ASan+UBSan (halt on error): the same suites
#   build-tsan/  clang, ThreadSanitizer: the threaded stress of the library
# Prints one summary line at the end: "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

status=0
logs=()
broken=0 # builds that failed to set up or compile: each counts as one failed test

run_suite() { # DIR SETUP-ARGS... -- TEST-ARGS...
	local dir=$1; shift
	local setup=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do setup+=("$1"); shift; done
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "${setup[@]}" >"/tmp/volmount-setup-$(basename "$dir").log" 2>&1 || {
			cat "/tmp/volmount-setup-$(basename "$dir").log"; echo "setup of $dir failed"; status=1
			broken=$((broken + 1)); return; }
	fi
	if ! meson compile -C "$dir"; then
		echo "build in $dir failed"; status=1; broken=$((broken + 1)); return
	fi
	rm -f "$dir"/meson-logs/testlog*.json
	meson test -C "$dir" --print-errorlogs "$@" || status=1
	# With --wrapper, meson names the log after the wrapper (testlog-setarch.json).
	for f in "$dir"/meson-logs/testlog*.json; do
		[ -f "$f" ] && logs+=("$f")
	done
}

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

run_suite build -- 
CC=clang run_suite build-san -Db_sanitize=address,undefined -Db_lundef=false -- --suite unit --suite api --suite fuzz --suite integration
# ThreadSanitizer needs a fixed address-space layout on kernels with large mmap randomness.
CC=clang run_suite build-tsan -Db_sanitize=thread -Db_lundef=false -- --suite tsan \
	--wrapper 'setarch -R'

if [ ${#logs[@]} -eq 0 ]; then
	echo "0 passed, 1 failed"
	exit 1
fi
python3 - "$broken" "${logs[@]}" <<'PY'
import collections, json, sys
c = collections.Counter()
c["ERROR"] += int(sys.argv[1])  # a build that failed is a failed test, never a silent zero
for path in sys.argv[2:]:
    for line in open(path):
        line = line.strip()
        if line:
            c[json.loads(line)["result"]] += 1
failed = c["FAIL"] + c["TIMEOUT"] + c["ERROR"] + c["UNEXPECTEDPASS"]
line = f"{c['OK'] + c['EXPECTEDFAIL']} passed, {failed} failed"
if c["SKIP"]:
    line += f", {c['SKIP']} skipped"
print(line)
sys.exit(1 if failed else 0)
PY
rc=$?
[ $status -ne 0 ] && rc=1
exit $rc
