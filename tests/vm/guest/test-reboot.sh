#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Guest test (Debian 12's kernel, tests/vm), run in two boots of the same guest with a virtio
# disk (/dev/vda) that survives: it holds volmount's state and base directories and the
# servers' exported trees (the run directory is on /run, a tmpfs, as on a real host).
#   phase 1 (first boot): nfs 4.2, nfs 3 and cifs shares are attached, data written; the guest
#            then powers off with everything mounted.
#   phase 2 (second boot): the kernel shows none of the mounts and the boot id differs; the
#            first volmount call (an attach) reconciles before answering: every share with
#            attachments is mounted again, exactly once, with its attachments and data; then
#            everything detaches cleanly.
# shellcheck disable=SC2317,SC2034 # VM_ARGS and friends are read by lib.sh
set -u
PHASE=${1:?phase 1 or 2}
PERSIST=/persist
export SRV=$PERSIST/srv SMB_ROOT=$PERSIST/smb
. /host/t/lib.sh
. /host/t/vmlib.sh
in_private_ns "$0" "$@"

mkdir -p "$PERSIST"
if [ "$PHASE" = 1 ]; then
	mkfs.ext4 -q -F /dev/vda || bail_out "mkfs.ext4 /dev/vda failed"
fi
mount /dev/vda "$PERSIST" || bail_out "cannot mount the persistent disk"
STATE_DIR=$PERSIST/state
BASE_DIR=$PERSIST/mnt
RUN_DIR=/run/vmtest-volmount
LEDGER=$STATE_DIR/ledger.db
VM_ARGS=(--state-dir "$STATE_DIR" --base-dir "$BASE_DIR" --run-dir "$RUN_DIR")
export STATE_DIR BASE_DIR RUN_DIR LEDGER

check "fixture: the NFS server runs" nfs_up
check "fixture: Samba runs" smb_up
d4=$(export_dir boot4) || bail_out "cannot export boot4"
d3=$(export_dir boot3) || bail_out "cannot export boot3"
e4=127.0.0.1:$d4
e3=127.0.0.1:$d3
ec=//127.0.0.1/s1
mp4=$(vm path --type nfs --export "$e4")
mp3=$(vm path --type nfs --export "$e3")
mpc=$(vm path --type cifs --export "$ec")
boot_id=$(cat /proc/sys/kernel/random/boot_id)

if [ "$PHASE" = 1 ]; then
	mkdir -p "$d4/v1" "$d3/v1" "$SMB_ROOT/s1/v1"
	expect_exit 0 vm attach --type nfs --export "$e4" --volume v1 --owner o1
	expect_exit 0 vm attach --type nfs --export "$e4" --volume v1 --owner o2
	expect_exit 0 vm attach --type nfs --export "$e3" --volume v1 --owner o1 --option vers=3
	expect_exit 0 vm attach --type cifs --export "$ec" --volume v1 --owner o1 --option "credentials=$CIFS_CRED"
	for mp in "$mp4" "$mp3" "$mpc"; do
		is "$(mounts_at "$mp")" 1 "first boot: mounted once: $mp"
		echo "before the reboot" >"$mp/v1/file"
	done
	echo "$boot_id" >"$PERSIST/boot-id.1"
	sync
	ok "first boot done; powering off with the shares mounted"
	done_testing
fi

# ---- phase 2 ----
[ -s "$PERSIST/boot-id.1" ] || bail_out "the first boot left nothing on the disk"
isnt "$boot_id" "$(cat "$PERSIST/boot-id.1")" "a new boot: the boot id differs"
is "$(mounts_under "$BASE_DIR")" "" "the kernel shows none of the first boot's mounts"
is "$(ledger_sql 'SELECT count(*) FROM attachments')" 4 "the ledger on disk holds the 4 attachments"

# The first call of this boot: an attach on one share reconciles all of them first.
expect_exit 0 vm attach --type nfs --export "$e4" --volume v2 --owner o1
is "$LAST_OUT" "$mp4/v2" "the first call answers with the device path"
j=$(vm --json list)
for mp in "$mp4" "$mp3" "$mpc"; do
	is "$(mounts_at "$mp")" 1 "mounted again, exactly once: $mp"
	is "$(state_of "$mp" "$j")" mounted "listed as mounted: $mp"
	is "$(timeout 20 cat "$mp/v1/file" 2>/dev/null)" "before the reboot" "the data is there: $mp"
done
is "$(fstype_at "$mp4")/$(fstype_at "$mp3")/$(fstype_at "$mpc")" nfs4/nfs/cifs "the types are right"
is "$(n_attached "$mp4")/$(n_attached "$mp3")/$(n_attached "$mpc")" 3/1/1 "the attachments survived"
expect_list_mount_id "$mp4"
expect_list_mount_id "$mpc"
expect_exit 0 vm --json status
is "$(jq -r .host_state <<<"$LAST_OUT")" up "status: host up"

expect_exit 0 vm detach --type nfs --export "$e4" --volume v1 --owner o1
expect_exit 0 vm detach --type nfs --export "$e4" --volume v1 --owner o2
expect_exit 0 vm detach --type nfs --export "$e4" --volume v2 --owner o1
expect_exit 0 vm detach --type nfs --export "$e3" --volume v1 --owner o1
expect_exit 0 vm detach --type cifs --export "$ec" --volume v1 --owner o1
is "$(mounts_under "$BASE_DIR")" "" "everything detached: nothing mounted"
is "$(ledger_attachments)$(ledger_shares)" 00 "the ledger is empty"
done_testing
