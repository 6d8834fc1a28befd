#!/bin/bash
# run-guest.sh IMAGE_DIR SHARE_DIR
# Boots IMAGE_DIR/{vmlinuz,initrd.img} under qemu TCG (software emulation) with SHARE_DIR as a
# virtio-9p share (tag "host", mounted on /host in the guest). The guest's /init runs
# SHARE_DIR/test.sh and writes SHARE_DIR/out/{log,rc,dmesg}; the serial console goes to
# SHARE_DIR/out/console.log (and to stdout unless QUIET=1).
# Exit status: the test's exit status; 124 if the VM ran past TIMEOUT; 125 if no rc came back
# (the guest died, or never got as far as running the test).
# Env: TIMEOUT (s, default 600), MEM (default 2G), SMP (default 2), APPEND (extra kernel args),
#      DISK (a raw image file attached as the guest's virtio disk /dev/vda: what must survive a
#      reboot), SHELL_MODE=1 (no test: a root shell on the console, reading this script's stdin;
#      "exit" powers the VM off; Ctrl-A x quits qemu)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
IMG=$(realpath "$1"); SHARE=$(realpath "$2")
for f in vmlinuz initrd.img; do
    [ -s "$IMG/$f" ] || { echo "run-guest.sh: $IMG/$f missing (build-guest.sh)" >&2; exit 2; }
done
# shellcheck disable=SC2054 # the commas are qemu option syntax
qemu=(qemu-system-x86_64 -accel tcg -m "${MEM:-2G}" -smp "${SMP:-2}" -display none -no-reboot
      -nic none -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img"
      -fsdev "local,id=hostfs,path=$SHARE,security_model=none"
      -device virtio-9p-pci,fsdev=hostfs,mount_tag=host)
[ -n "${DISK:-}" ] && qemu+=(-drive "file=$DISK,format=raw,if=virtio,cache=writeback")
mkdir -p "$SHARE"
cp "$HERE/netfs-lib.sh" "$SHARE/netfs-lib.sh"
if [ -n "${SHELL_MODE:-}" ]; then
    exec "${qemu[@]}" -serial mon:stdio -append "console=ttyS0 quiet panic=-1 netfs.shell=1 ${APPEND:-}"
fi
[ -f "$SHARE/test.sh" ] || { echo "run-guest.sh: $SHARE/test.sh missing" >&2; exit 2; }
rm -rf "$SHARE/out"; mkdir -p "$SHARE/out"
CONSOLE_LOG=$SHARE/out/console.log
t0=$(date +%s%N)
set +e
# The console goes to a file, never through a pipe that a guest daemon could keep open.
timeout -k 5 "${TIMEOUT:-600}" "${qemu[@]}" -monitor none -serial "file:$CONSOLE_LOG" \
    -append "console=ttyS0 quiet panic=-1 ${APPEND:-}" < /dev/null > "$SHARE/out/qemu.log" 2>&1 &
qpid=$!
if [ -z "${QUIET:-}" ]; then
    tail -n +1 -F --pid="$qpid" "$CONSOLE_LOG" 2>/dev/null &
fi
wait "$qpid"
qrc=$?
sleep 0.2
t1=$(date +%s%N)
echo "run-guest.sh: qemu exit $qrc after $(( (t1 - t0) / 1000000 )) ms" >&2
[ -s "$SHARE/out/qemu.log" ] && sed 's/^/run-guest.sh: qemu: /' "$SHARE/out/qemu.log" >&2
[ "$qrc" = 124 ] && exit 124
[ -f "$SHARE/out/rc" ] || exit 125
exit "$(cat "$SHARE/out/rc")"
