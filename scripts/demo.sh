#!/bin/bash
# demo.sh VOLMOUNT - the main job on the embedded defaults: attach several volumes of one
# local export for two owners, list, detach, show it unmounted. Runs in a private mount
# namespace with temporary state, base and run directories, so the host is never touched.
set -euo pipefail
bin=${1:?usage: demo.sh PATH-TO-VOLMOUNT}
if [ -z "${VOLMOUNT_DEMO_NS:-}" ]; then
	VOLMOUNT_DEMO_NS=1 exec unshare --mount --propagation private --pid --fork --kill-child \
		--mount-proc "$0" "$@"
fi
tmp=$(mktemp -d /tmp/volmount-demo.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export VOLMOUNT_STATE_DIR=$tmp/state VOLMOUNT_BASE_DIR=$tmp/mnt VOLMOUNT_RUN_DIR=$tmp/run
mkdir -p "$tmp/exports/images"
run() { printf '\n$ volmount %s\n' "$*"; "$bin" "$@"; }

for owner in vm-1 vm-2; do
	for vol in disk-a disk-b disk-c; do
		run attach --type bind --export "$tmp/exports/images" --volume "$vol" --owner "$owner"
	done
done
run list
run status
echo; echo "mounts at the share's mountpoint (kernel view):"
grep -c " $tmp/mnt/" /proc/self/mountinfo
for owner in vm-1 vm-2; do
	for vol in disk-a disk-b disk-c; do
		run detach --type bind --export "$tmp/exports/images" --volume "$vol" --owner "$owner"
	done
done
run --json list
echo; echo "mounts left under the base directory: $(grep -c " $tmp/mnt/" /proc/self/mountinfo || true)"
echo "directories left under $tmp/mnt/bind: $(find "$tmp/mnt/bind" -mindepth 1 | wc -l)"
