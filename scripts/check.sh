#!/bin/bash
# check.sh - build and run every test, three ways:
#   build/       gcc, -Werror: unit, fuzz-corpus replay, integration and python suites
#   build-san/   clang, ASan+UBSan (halt on error): the same suites but python
#   build-tsan/  clang, ThreadSanitizer: the threaded stress of the library
#   build-fuzz/  clang, libFuzzer + ASan+UBSan: every parser's fuzzer, 300,000 inputs each
# The Python tests run in the gcc build only: the binding is cffi's generated glue with no
# logic of its own, while loading a sanitized extension into Debian's uninstrumented python3
# would take an LD_PRELOADed ASan runtime (and LeakSanitizer would report the interpreter's
# own allocations at exit), and TSan cannot watch an interpreter it did not instrument. The
# library under the binding is covered by the C suites in both sanitizer builds.
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
	elif [ ${#setup[@]} -gt 0 ]; then
		# An existing build directory gets the options too (say -Dpython=enabled, so that a
		# directory set up before python3-cffi was installed cannot drop the python suite).
		meson setup --reconfigure "$dir" "${setup[@]}" >"/tmp/volmount-setup-$(basename "$dir").log" 2>&1 || {
			cat "/tmp/volmount-setup-$(basename "$dir").log"; echo "configure of $dir failed"
			status=1; broken=$((broken + 1)); return; }
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

run_suite build -Dpython=enabled --
CC=clang run_suite build-san -Db_sanitize=address,undefined -Db_lundef=false -Dpython=disabled -- \
	--suite unit --suite api --suite fuzz --suite integration
# ThreadSanitizer needs a fixed address-space layout on kernels with large mmap randomness.
CC=clang run_suite build-tsan -Db_sanitize=thread -Db_lundef=false -Dpython=disabled -- \
	--suite tsan --wrapper 'setarch -R'
# libFuzzer on every parser, a fixed number of inputs with a fixed seed (count work, not time).
CC=clang run_suite build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
	-Dpython=disabled -- --suite fuzz-live

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
