#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# GlusterFS against a real glusterd and brick on 127.0.0.2 (net.sh): 3 volumes x 2 owners share
# one fuse.glusterfs mount; a file written through one device path is seen through another and
# in the brick; an export naming two hosts is another share whose client also knows the second
# host (backup volfile server); the last detach of each share unmounts it, removes its
# directory and ends its glusterfs client. A volume or server that does not exist fails in one
# line and leaves nothing.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/net.sh
. "$(dirname "$0")/net.sh"
in_private_ns "$0" "$@"

gluster_up
check "fixture: the volume is started" gluster_started
isnt "$(gluster_brick_pids)" "" "fixture: the brick process runs"

exp=$GLUSTER_HOST:/$GLUSTER_VOL
exp2=$GLUSTER_HOST,127.0.0.3:/$GLUSTER_VOL

expect_exit 0 vm path --type glusterfs --export "$exp"
mp=$LAST_OUT
[ -n "$mp" ] || bail_out "path printed nothing"
expect_exit 0 vm path --type glusterfs --export "$exp2"
mp2=$LAST_OUT
isnt "$mp2" "$mp" "an export with a backup host is another share (another mountpoint)"
is "$(mounts_at "$mp")" 0 "not mounted before the first attach"

attach() { vm attach --type glusterfs --export "$exp" --volume "$1" --owner "$2"; }
detach() { vm detach --type glusterfs --export "$exp" --volume "$1" --owner "$2"; }

# client_pids MOUNTPOINT: the glusterfs process(es) serving MOUNTPOINT.
client_pids() { net_daemon_pids glusterfs "$1"; }

# client_gone MOUNTPOINT: within 5 s no glusterfs client serves MOUNTPOINT.
client_gone() {
	local _
	for _ in $(seq 100); do
		[ -z "$(client_pids "$1")" ] && return 0
		sleep 0.05
	done
	return 1
}

# stderr_one_line DESC: the last command's stderr is exactly one non-empty line.
stderr_one_line() {
	if [ -n "$LAST_ERR" ] && [ "$(printf '%s\n' "$LAST_ERR" | wc -l)" = 1 ]; then
		ok "$1"
	else
		not_ok "$1"
		diag "stderr: $LAST_ERR"
	fi
}

attach_pairs "$mp"

is "$(fstype_at "$mp")" fuse.glusterfs "the share is a fuse.glusterfs mount"
is "$(mount_source "$mp")" "$exp" "the mount's source is the export"
expect_mount_flags "$mp" nosuid nodev
is "$(client_pids "$mp" | wc -l)" 1 "one glusterfs client serves all six attachments"
is "$(share_json "$mp" | jq -r .state)" mounted "list shows the share as mounted"

# Data flows through the mount to the brick. Directories are made through the mount: a file
# put into a brick behind gluster's back is not part of the volume.
mkdir "${devpath[vol-a/owner1]}" 2>/dev/null
echo "written by owner1" >"${devpath[vol-a/owner1]}/file" 2>/dev/null
is "$(cat "${devpath[vol-a/owner2]}/file" 2>/dev/null)" "written by owner1" \
	"a file written through one attachment's device path is read through another's"
is "$(cat "$GLUSTER_BRICK/vol-a/file" 2>/dev/null)" "written by owner1" "and is in the brick"

# The same volume through two hosts: another share, mounted once, next to the first.
expect_exit 0 vm attach --type glusterfs --export "$exp2" --volume vol-a --owner owner3
is "$LAST_OUT" "$mp2/vol-a" "attach with two hosts prints a device path under its own mountpoint"
is "$(mounts_at "$mp2")" 1 "the two-host share is mounted once"
is "$(fstype_at "$mp2")" fuse.glusterfs "the two-host share is a fuse.glusterfs mount"
is "$(mounts_at "$mp")" 1 "the single-host share is still mounted once"
is "$(cat "$mp2/vol-a/file" 2>/dev/null)" "written by owner1" "both shares show the same volume"
c2=$(client_pids "$mp2")
is "$(wc -w <<<"$c2")" 1 "one glusterfs client serves the two-host share"
if [ -n "$c2" ] && tr '\0' '\n' <"/proc/${c2%% *}/cmdline" |
	grep -qx -e '--volfile-server=127.0.0.3' -e 'backup-volfile-servers=127.0.0.3.*'; then
	ok "the two-host client knows 127.0.0.3 as a (backup) volfile server"
else
	not_ok "the two-host client knows 127.0.0.3 as a (backup) volfile server"
	[ -n "$c2" ] && diag "cmdline: $(tr '\0' ' ' <"/proc/${c2%% *}/cmdline")"
fi
c1=$(client_pids "$mp")
if [ -n "$c1" ] && ! tr '\0' '\n' <"/proc/${c1%% *}/cmdline" | grep -q 127.0.0.3; then
	ok "the single-host client does not know 127.0.0.3"
else
	not_ok "the single-host client does not know 127.0.0.3"
fi
is "$(vm --json list | jq '.shares | length')" 2 "list shows two shares"

detach_pairs "$mp"
check "its glusterfs client is gone" client_gone "$mp"
is "$(mounts_at "$mp2")" 1 "the two-host share is still mounted"
is "$(cat "$mp2/vol-a/file" 2>/dev/null)" "written by owner1" "and still works"

expect_exit 0 vm detach --type glusterfs --export "$exp2" --volume vol-a --owner owner3
is "$(mounts_at "$mp2")" 0 "the two-host share is unmounted by its last detach"
check "its mountpoint directory is removed" test ! -e "$mp2"
check "its glusterfs client is gone" client_gone "$mp2"
check "no glusterfs client is left" net_wait_gone glusterfs 5
is "$(ledger_attachments)" 0 "attachments table empty"
is "$(ledger_shares)" 0 "shares table empty"
is "$(vm --json list | jq -c '.shares')" "[]" "list --json shows no share"
is "$(cat "$GLUSTER_BRICK/vol-a/file" 2>/dev/null)" "written by owner1" "the brick keeps the data"

# A volume that does not exist, and a server where nothing listens: the helper fails, and
# the attach fails in one line and leaves nothing.
FAIL_CODES='64|65|66|67|68|69|70|71|72|73|74|75|76|77|78'
for bad in "$GLUSTER_HOST:/novol" "127.0.0.9:/$GLUSTER_VOL"; do
	snapshot_host "$VT_TMP/before"
	expect_exit "$FAIL_CODES" vm attach --type glusterfs --export "$bad" --volume v --owner o
	stderr_one_line "$bad: the failure is reported in one line"
	diag "$bad: exit $LAST_RC: $LAST_ERR"
	snapshot_host "$VT_TMP/after"
	same_snapshot "$VT_TMP/before" "$VT_TMP/after" "$bad: nothing changed (no directory, row or mount)"
	check "$bad: no glusterfs client is left" net_wait_gone glusterfs 5
done

is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted under the base directory"
done_testing
