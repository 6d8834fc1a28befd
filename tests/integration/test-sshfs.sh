#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# sshfs against a real sshd on 127.0.0.1 (net.sh): 3 volumes x 2 owners share one fuse.sshfs
# mount; a file written through one device path is seen through another and on the server; the
# last detach unmounts, removes the directory and ends the sshfs process. Refused identity files
# (group/world-readable, not root's, a symlink) exit 77, and a host key that does not match
# known_hosts fails with one line; neither leaves a directory, a ledger row, a mount or a
# process behind.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/net.sh
. "$(dirname "$0")/net.sh"
in_private_ns "$0" "$@"

sshd_up
check "fixture: root logs in to the test sshd with the client key" ssh_works

srv=$VT_TMP/srv
mkdir -p "$srv/vol-a" "$srv/vol.b" "$srv/vol_c"
echo server >"$srv/marker"
exp=root@127.0.0.1:$srv

expect_exit 0 vm path --type sshfs --export "$exp"
mp=$LAST_OUT
[ -n "$mp" ] || bail_out "path printed nothing"
is "$(mounts_at "$mp")" 0 "not mounted before the first attach"

attach() { vm attach --type sshfs --export "$exp" --volume "$1" --owner "$2" "${SSHFS_OPTS[@]}"; }
detach() { vm detach --type sshfs --export "$exp" --volume "$1" --owner "$2"; }

# stderr_one_line DESC: the last command's stderr is exactly one non-empty line.
stderr_one_line() {
	if [ -n "$LAST_ERR" ] && [ "$(printf '%s\n' "$LAST_ERR" | wc -l)" = 1 ]; then
		ok "$1"
	else
		not_ok "$1"
		diag "stderr: $LAST_ERR"
	fi
}

# nothing_left BEFORE DESC: mounts, files and ledger rows are as in the snapshot BEFORE, and no
# sshfs or ssh process is running (after a bounded wait).
nothing_left() {
	snapshot_host "$VT_TMP/after"
	same_snapshot "$1" "$VT_TMP/after" "$2: nothing changed (no directory, row or mount)"
	if net_wait_gone sshfs 5 && net_wait_gone ssh 5; then
		ok "$2: no sshfs or ssh process left"
	else
		not_ok "$2: no sshfs or ssh process left"
		diag "$(pgrep -a -x 'sshfs|ssh')"
	fi
}

attach_pairs "$mp"

is "$(fstype_at "$mp")" fuse.sshfs "the share is a fuse.sshfs mount"
is "$(mount_source "$mp")" "$exp" "the mount's source is the export"
expect_mount_flags "$mp" nosuid nodev

# volmount made the FUSE mount on the directory it opened and checked, and handed sshfs only
# the connection: sshfs never names a directory (issue 9, item 1).
pids=$(net_daemon_pids sshfs "$mp")
is "$(wc -w <<<"$pids")" 1 "one sshfs serves the share"
if [ -n "$pids" ]; then
	args=$(tr '\0' '\n' <"/proc/$pids/cmdline")
	is "$(tail -n 1 <<<"$args")" /dev/fd/3 "sshfs is told to serve /dev/fd/3"
	check "sshfs's command line does not name the mountpoint" \
		test "$(grep -cxF -- "$mp" <<<"$args")" = 0
	is "$(readlink "/proc/$pids/fd/3")" /dev/fuse "sshfs's fd 3 is the FUSE connection"
fi
expect_mount_flags "$mp" nosuid nodev
is "$(net_live_pids sshfs | wc -l)" 1 "one sshfs process serves all six attachments"
is "$(share_json "$mp" | jq -r .state)" mounted "list shows the share as mounted"
is "$(cat "$mp/marker" 2>/dev/null)" server "the server's files are visible at the mountpoint"

# Data flows through the mount, both ways.
echo "written by owner1" >"${devpath[vol-a/owner1]}/file" 2>/dev/null
is "$(cat "${devpath[vol-a/owner2]}/file" 2>/dev/null)" "written by owner1" \
	"a file written through one attachment's device path is read through another's"
is "$(cat "$srv/vol-a/file" 2>/dev/null)" "written by owner1" "and is on the server"
echo "written on the server" >"$srv/vol.b/from-server"
is "$(cat "${devpath[vol.b/owner1]}/from-server" 2>/dev/null)" "written on the server" \
	"a file written on the server is read through the device path"

# A later attach asking for other options is refused and changes nothing.
snapshot_host "$VT_TMP/before"
expect_exit 65 vm attach --type sshfs --export "$exp" --volume vol-d --owner owner1 \
	"${SSHFS_OPTS[@]}" --option reconnect
stderr_explains "options mismatch explains itself"
snapshot_host "$VT_TMP/after"
same_snapshot "$VT_TMP/before" "$VT_TMP/after" "refused options mismatch changed nothing"
# The same options in another order are the same share.
expect_exit 0 vm attach --type sshfs --export "$exp" --volume vol-d --owner owner1 \
	--option StrictHostKeyChecking=yes --option "UserKnownHostsFile=$SSH_KNOWN_HOSTS" \
	--option "IdentityFile=$SSH_KEY" --option "port=$SSH_PORT"
is "$(n_attached "$mp")" 7 "the same options in another order attach to the same share"
expect_exit 0 detach vol-d owner1

detach_pairs "$mp"
check "the sshfs process is gone after the last detach" net_wait_gone sshfs 5
check "its ssh process is gone too" net_wait_gone ssh 5
is "$(ledger_attachments)" 0 "attachments table empty"
is "$(ledger_shares)" 0 "shares table empty"
is "$(vm --json list | jq -c '.shares')" "[]" "list --json shows no share"
is "$(cat "$srv/vol-a/file" 2>/dev/null)" "written by owner1" "the server keeps the data"

# ---- identity files volmount must refuse (exit 77), before running anything ----

badkey() {
	vm attach --type sshfs --export "$exp" --volume v --owner o --option "port=$SSH_PORT" \
		--option "IdentityFile=$1" --option "UserKnownHostsFile=$SSH_KNOWN_HOSTS" \
		--option StrictHostKeyChecking=yes
}

snapshot_host "$VT_TMP/before"

cp "$SSH_KEY" "$SSH_DIR/key0644"
chmod 0644 "$SSH_DIR/key0644"
expect_exit 77 badkey "$SSH_DIR/key0644"
stderr_one_line "an identity file readable by others is refused in one line"
nothing_left "$VT_TMP/before" "IdentityFile mode 0644"

cp "$SSH_KEY" "$SSH_DIR/key0640"
chmod 0640 "$SSH_DIR/key0640"
expect_exit 77 badkey "$SSH_DIR/key0640"
nothing_left "$VT_TMP/before" "IdentityFile mode 0640"

cp "$SSH_KEY" "$SSH_DIR/key-notroot"
chmod 0600 "$SSH_DIR/key-notroot"
chown 1000:1000 "$SSH_DIR/key-notroot"
expect_exit 77 badkey "$SSH_DIR/key-notroot"
stderr_one_line "an identity file not owned by root is refused in one line"
nothing_left "$VT_TMP/before" "IdentityFile owned by uid 1000"

ln -s "$SSH_KEY" "$SSH_DIR/key-link"
expect_exit 77 badkey "$SSH_DIR/key-link"
stderr_one_line "an identity file that is a symlink (to a good key) is refused in one line"
nothing_left "$VT_TMP/before" "IdentityFile is a symlink"

mkdir -m 0700 "$SSH_DIR/key-dir"
expect_exit 77 badkey "$SSH_DIR/key-dir"
nothing_left "$VT_TMP/before" "IdentityFile is a directory"

# Stricter than 0600 is fine.
cp "$SSH_KEY" "$SSH_DIR/key0400"
chmod 0400 "$SSH_DIR/key0400"
expect_exit 0 badkey "$SSH_DIR/key0400"
is "$(fstype_at "$mp")" fuse.sshfs "an identity file of mode 0400 mounts"
expect_exit 0 vm detach --type sshfs --export "$exp" --volume v --owner o
is "$(mounts_at "$mp")" 0 "and is unmounted again"
check "and its sshfs process is gone" net_wait_gone sshfs 5

# ---- the server is not who known_hosts says ----

# Any sysexits failure code (which one is the engine's choice); not a crash, not a hang.
FAIL_CODES='64|65|66|67|68|69|70|71|72|73|74|75|76|77|78'

ssh-keygen -q -t ed25519 -N '' -C other-host -f "$SSH_DIR/other_host_key" </dev/null
printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$SSH_DIR/other_host_key.pub")" \
	>"$SSH_DIR/wrong_known_hosts"
snapshot_host "$VT_TMP/before"
expect_exit "$FAIL_CODES" \
	vm attach --type sshfs --export "$exp" --volume v --owner o --option "port=$SSH_PORT" \
	--option "IdentityFile=$SSH_KEY" --option "UserKnownHostsFile=$SSH_DIR/wrong_known_hosts" \
	--option StrictHostKeyChecking=yes
stderr_one_line "the host key failure is reported in one line"
diag "host key mismatch: exit $LAST_RC: $LAST_ERR"
nothing_left "$VT_TMP/before" "host key mismatch"

# A key the server does not accept.
ssh-keygen -q -t ed25519 -N '' -C stranger -f "$SSH_DIR/stranger_key" </dev/null
chmod 0600 "$SSH_DIR/stranger_key"
expect_exit "$FAIL_CODES" badkey "$SSH_DIR/stranger_key"
stderr_one_line "the refused login is reported in one line"
diag "unauthorized key: exit $LAST_RC: $LAST_ERR"
nothing_left "$VT_TMP/before" "unauthorized key"

is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted under the base directory"
done_testing
