#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-vm.sh [BUILD_DIR]: `make check-vm`. Real NFS (v3, v4.2) and CIFS for the volmount binary
# built in BUILD_DIR (default: build), inside qemu guests running Debian 12's own kernel under
# TCG (software emulation). Builds the guest image under BUILD_DIR/vm/image (cached: rebuilt
# only when its package list changes; see build-guest.sh), then boots it once per group of
# tests below; each guest test is a TAP script (tests/vm/guest/test-*.sh, using
# tests/integration/lib.sh). Prints one line per test and, last, "N passed, N failed".
# Each boot is a test of its own too: a guest that does not boot, dies or hangs (TIMEOUT) fails
# it, and every guest test it did not finish, with the console log printed. Nothing is skipped.
# Needs root (debootstrap, and the guest image is built from Debian packages with apt).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
B=$(realpath -m "${1:-$SRC/build}")
W=$B/vm
BIN=$B/volmount
secs() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }
T0=$(date +%s.%N)

# Env: VM_BOOTS="NAME ..." runs only those boots (while working on a test; never in CI);
# VM_DEADLINE=SECONDS replaces every boot's deadline (to see the harness fail a hung guest).
# boot NAME, its tests (NAME[:ARG]) and its deadline in seconds. The deadlines are several
# times the measured run (tests/vm/README.md): TCG is slow, and slower still on a loaded host.
BOOTS=(
	"main|nfs cifs concurrency|900"
	"faults|nfs-faults cifs-faults|900"
	"reboot-1|reboot:1|400"
	"reboot-2|reboot:2|400"
)
PER_TEST_TIMEOUT=600

passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'PASS %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
summary() { echo "check-vm: $(secs "$T0") s in all"; echo "$passed passed, $failed failed"; exit $((failed > 0)); }

all_tests() { local b; for b in "${BOOTS[@]}"; do IFS='|' read -r _ t _ <<<"$b"; echo "$t"; done | tr ' ' '\n'; }

if [ "$(id -u)" != 0 ]; then
	echo "check-vm.sh: must run as root (debootstrap; volmount mounts in the guest as root)" >&2
	fail "guest image (not root)"
	summary
fi
if [ ! -x "$BIN" ]; then
	echo "check-vm.sh: $BIN missing: build first (make)" >&2
	fail "volmount binary"
	summary
fi

# ---- the guest image ----
mkdir -p "$W"
t=$(date +%s.%N)
if "$HERE/build-guest.sh" "$W/image"; then
	pass "guest image ($(secs "$t") s)"
else
	fail "guest image ($(secs "$t") s)"
	for x in $(all_tests); do fail "vm-${x/:/-phase} (no guest image)"; done
	summary
fi

# ---- what goes into every guest: the binary, procscan, the test scripts ----
STAGE=$W/stage
rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/t"
cp "$BIN" "$STAGE/bin/volmount"
cc -O2 -Wall -o "$STAGE/bin/procscan" "$HERE/procscan.c" || { fail "procscan build"; summary; }
cp "$SRC/tests/integration/lib.sh" "$HERE"/guest/*.sh "$STAGE/t/"

# guest_script TESTS: the guest's /host/test.sh: runs each test under a deadline, its TAP into
# /host/out/results/NAME.tap and its status into NAME.rc, and echoes the TAP to the console.
guest_script() {
	cat <<EOS
#!/bin/sh
export VOLMOUNT_BIN=/host/bin/volmount VOLMOUNT_IN_NS=1 CI=1
mkdir -p /host/out/results
for spec in $1; do
	name=\${spec%%:*}; arg=; [ "\$name" = "\$spec" ] || arg=\${spec#*:}
	res=/host/out/results/\$name\${arg:+-phase\$arg}
	echo "vm-test: \$spec starts at \$(cut -d' ' -f1 /proc/uptime) s"
	timeout -k 10 $PER_TEST_TIMEOUT bash /host/t/test-\$name.sh \$arg >"\$res.tap" 2>&1 </dev/null
	rc=\$?
	echo "\$rc" >"\$res.rc"
	sed 's/^/  | /' "\$res.tap"
	echo "vm-test: \$spec ended rc=\$rc at \$(cut -d' ' -f1 /proc/uptime) s"
done
sync
exit 0
EOS
}

rm -rf "$W/run"
mkdir -p "$W/run"
DISK=$W/run/persist.img
truncate -s 512M "$DISK"

for b in "${BOOTS[@]}"; do
	IFS='|' read -r boot tests deadline <<<"$b"
	# VM_BOOTS="faults reboot-1 ...": only those boots (for working on one test)
	case " ${VM_BOOTS:-$boot} " in *" $boot "*) ;; *) continue ;; esac
	deadline=${VM_DEADLINE:-$deadline}
	S=$W/run/$boot
	mkdir -p "$S"
	cp -a "$STAGE/." "$S/"
	guest_script "$tests" >"$S/test.sh"
	disk=
	case "$boot" in reboot-*) disk=$DISK ;; esac
	t=$(date +%s.%N)
	QUIET=1 TIMEOUT=$deadline DISK=$disk "$HERE/run-guest.sh" "$W/image/out" "$S" 2>"$S/run-guest.err"
	qrc=$?
	echo "check-vm: boot $boot: $(secs "$t") s ($(tail -n 1 "$S/run-guest.err"))"
	show_console=0
	case "$qrc" in
	0) pass "boot $boot: the guest booted and ran its tests to the end" ;;
	124) fail "boot $boot: the guest hung (still running after $deadline s, killed)"; show_console=1 ;;
	125) fail "boot $boot: no result came back (the guest did not boot, or died)"; show_console=1 ;;
	*) fail "boot $boot: exit $qrc"; show_console=1 ;;
	esac
	for spec in $tests; do
		name=${spec%%:*}
		arg=
		[ "$name" = "$spec" ] || arg=${spec#*:}
		id=$name${arg:+-phase$arg}
		res=$S/out/results/$id
		if [ ! -f "$res.rc" ]; then
			fail "vm-$id: no result (the guest stopped before it finished)"
			[ -f "$res.tap" ] && sed 's/^/    /' "$res.tap"
			show_console=1
			continue
		fi
		rc=$(cat "$res.rc")
		nok=$(grep -c '^ok ' "$res.tap")
		nnot=$(grep -c '^not ok ' "$res.tap")
		if [ "$rc" = 0 ] && [ "$nnot" = 0 ] && [ "$nok" -gt 0 ]; then
			pass "vm-$id ($nok checks)"
		else
			fail "vm-$id (exit $rc, $nnot of $((nok + nnot)) checks failed)"
			sed 's/^/    /' "$res.tap"
		fi
	done
	if [ "$show_console" = 1 ]; then
		echo "---- console of boot $boot (last 150 lines; all of it: $S/out/console.log)"
		tail -n 150 "$S/out/console.log" 2>/dev/null
		echo "---- end of the console of boot $boot"
	fi
done
summary
