#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-python.sh MODULE: runs the unittest module tests/python/MODULE.py (the Python binding,
# volmount.nova with Nova's own volume drivers, volmount.brick with os-brick's own connector)
# in this test's private mount+net+pid namespace, with lib.sh's tmpfs ($VT_TMP) and net.sh's
# sshd on 127.0.0.1. Every test method becomes one TAP line. The interpreter is Debian's
# (/usr/bin/python3, where python3-nova and python3-os-brick live); the package is the build
# directory's (VOLMOUNT_PYTHONPATH).
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/net.sh
. "$(dirname "$0")/net.sh"
in_private_ns "$0" "$@"

module=${1:?usage: test-python.sh MODULE}
[ -n "${VOLMOUNT_PYTHONPATH:-}" ] || bail_out "VOLMOUNT_PYTHONPATH is not set (meson sets it)"
PY=${VOLMOUNT_PYTHON:-/usr/bin/python3}
net_require "$PY"
# Nova's and os-brick's code must be there to be driven: missing, the test skips (fails in CI).
case "$module" in
test_nova) "$PY" -c 'import nova.virt.libvirt.volume.fs' 2>/dev/null ||
	net_require /usr/lib/python3/dist-packages/nova/virt/libvirt/volume/fs.py ;;
test_brick) "$PY" -c 'import os_brick.initiator.connectors.remotefs' 2>/dev/null ||
	net_require /usr/lib/python3/dist-packages/os_brick/remotefs/remotefs.py ;;
esac
sshd_up
check "fixture: ssh login with the test key" ssh_works

results=$VT_TMP/python-results.txt
PYTHONPATH="$VOLMOUNT_PYTHONPATH:$VOLMOUNT_SRCDIR/tests/python" PYTHONDONTWRITEBYTECODE=1 \
	timeout -k 10 240 "$PY" "$VOLMOUNT_SRCDIR/tests/python/vmtest.py" "$module" "$results" \
	>"$VT_TMP/python.log" 2>&1
rc=$?
n=0
while IFS= read -r line; do
	case "$line" in
	"ok "*) ok "${line#ok }"; n=$((n + 1)) ;;
	"not ok "*) not_ok "${line#not ok }"; n=$((n + 1)) ;;
	"skip "*) not_ok "skipped: ${line#skip }"; n=$((n + 1)) ;;
	"# "*) printf '%s\n' "$line" ;;
	esac
done <"$results"
[ "$n" -gt 0 ] || not_ok "$module ran no test"
is "$rc" 0 "the unittest run of $module exits 0"
[ "$rc" = 0 ] || diag "$(tail -n 40 "$VT_TMP/python.log")"
done_testing
