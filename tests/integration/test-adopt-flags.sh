#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Issue 9, item 8: with the nova path scheme, a mount someone else made is adopted only if it
# is exactly what volmount would mount, and that includes the per-mount flags volmount sets
# (ro, nosuid, nodev, noexec). At f472022 `attach --option ro` adopted a read-write bind
# mount, exited 0, left the share writable and recorded `ro` in the ledger.
#
#  1. attach without host-up: a rw mount is refused for `--option ro` (65, both sides named),
#     and nothing changes: no ledger row, no new directory or mount, still writable.
#  2. host-up adopts a rw mount; the first attach asking for ro is refused the same way, and
#     the adopted row keeps its options, with no attachment.
#  3. host-up records what a mount really has: a ro,noexec mount is adopted with `ro` and
#     `noexec`, an attach without them is refused, one with them is accepted and is read-only.
#  4. a mount without nosuid or nodev (which volmount always sets and no option lifts) is not
#     adopted by host-up (foreign, the flags named) nor by attach.
#  5. the same for sshfs, made by hand as os-brick would: read-write vs `--option ro`, and
#     without nosuid,nodev.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/net.sh
. "$(dirname "$0")/net.sh"
in_private_ns "$0" "$@"
unset VOLMOUNT_PATH_SCHEME

nvm() { vm --path-scheme nova "$@"; }
md5() { printf '%s' "$1" | md5sum | cut -d' ' -f1; }
action_for() { MP=$2 jq -r '[.actions[] | select(.path == env.MP) | .action] | join(",")' <<<"$1"; }
detail_for() { MP=$2 jq -r '[.actions[] | select(.path == env.MP) | .detail] | join(" | ")' <<<"$1"; }
row_of() { ledger_sql "SELECT adopted, options, state FROM shares WHERE mountpoint = '$1'"; }
atts_of() { ledger_attached "$1"; }
mount_id_at() { mountinfo_at "$1" | awk '{ print $1 }' | tr '\n' ' '; }
# writable DIR: a file can be created in DIR (as root: only a read-only mount refuses).
writable() { touch "$1/.w" 2>/dev/null && rm -f "$1/.w"; }
# stderr_has WORD...: the last command's stderr contains every WORD.
stderr_has() {
	local w desc=$1
	shift
	for w in "$@"; do
		case "$LAST_ERR" in
		*"$w"*) ;;
		*)
			not_ok "$desc" && diag "no '$w' in: $LAST_ERR"
			return 1
			;;
		esac
	done
	ok "$desc"
}

expect_exit 0 nvm host-up # directories, ledger and boot id exist now; nothing to adopt yet
check "the base directory exists" test -d "$BASE_DIR"

# ---- 1. attach with no host-up: a read-write mount is not adopted for --option ro ----
a=$(mkexport a)
mpa=$BASE_DIR/$(md5 "$a")
mkdir -m 0755 "$mpa"
mount --bind -o nosuid,nodev "$a" "$mpa"
check "fixture: the bind mount at <base>/<md5> is writable" writable "$mpa"
snapshot_host "$VT_TMP/before"
expect_exit 65 nvm attach --type bind --export "$a" --volume v --owner o --option ro
stderr_has "the refusal names the mount's flags and the requested ones" "$mpa" \
	"mounted rw,nosuid,nodev" "ro,nosuid,nodev"
diag "$LAST_ERR"
snapshot_host "$VT_TMP/after"
same_snapshot "$VT_TMP/before" "$VT_TMP/after" "the refused attach changed nothing (mounts, files, ledger)"
is "$(ledger_shares)" 0 "no ledger row"
is "$(mounts_at "$mpa")" 1 "still one mount, the one made by hand"
check "and it is still writable: nobody was told it is read-only" writable "$mpa"
# The same mount, asked for as it is: adopted (the flags alone decided).
expect_exit 0 nvm attach --type bind --export "$a" --volume v --owner o
is "$(row_of "$mpa")" "0|nodev,nosuid|mounted" "attach with matching options adopts it"
expect_exit 0 nvm detach --type bind --export "$a" --volume v --owner o
is "$(mounts_at "$mpa")" 0 "the last detach unmounts it"

# ---- 2. host-up adopts a rw mount; the first attach may not turn it into a ro share ----
b=$(mkexport b)
mpb=$BASE_DIR/$(md5 "$b")
mkdir -m 0755 "$mpb"
mount --bind -o nosuid,nodev "$b" "$mpb"
expect_exit 0 nvm --json host-up
is "$(action_for "$LAST_OUT" "$mpb")" adopted "host-up adopts the rw bind mount"
is "$(row_of "$mpb")" "1|nodev,nosuid|mounted" "recorded with the flags it has: rw, nosuid, nodev"
id_b=$(mount_id_at "$mpb")
snapshot_host "$VT_TMP/before"
expect_exit 65 nvm attach --type bind --export "$b" --volume v --owner o --option ro
stderr_has "the refusal names both sides" "mounted rw,nosuid,nodev" "ro,nosuid,nodev"
snapshot_host "$VT_TMP/after"
same_snapshot "$VT_TMP/before" "$VT_TMP/after" "the refused attach on the adopted share changed nothing"
is "$(atts_of "$mpb")" 0 "no attachment recorded"
is "$(row_of "$mpb")" "1|nodev,nosuid|mounted" "the adopted row keeps its options (no ro recorded)"
is "$(mount_id_at "$mpb")" "$id_b" "the same single mount"
check "still writable" writable "$mpb"
expect_exit 65 nvm attach --type bind --export "$b" --volume v --owner o --option noexec
stderr_has "noexec on a mount without it is refused too" "rw,nosuid,nodev,noexec"
expect_exit 0 nvm attach --type bind --export "$b" --volume v --owner o
expect_exit 0 nvm detach --type bind --export "$b" --volume v --owner o
is "$(mounts_at "$mpb")" 0 "the share works once attached as it is"

# ---- 3. host-up records what the mount really has: ro and noexec ----
c=$(mkexport c)
echo C >"$c/id"
mpc=$BASE_DIR/$(md5 "$c")
mkdir -m 0755 "$mpc"
mount --bind -o ro,noexec,nosuid,nodev "$c" "$mpc"
expect_exit 0 nvm --json host-up
is "$(action_for "$LAST_OUT" "$mpc")" adopted "host-up adopts the ro,noexec bind mount"
is "$(row_of "$mpc")" "1|nodev,noexec,nosuid,ro|mounted" "and records ro and noexec, as mounted"
is "$(nvm --json list | MP=$mpc jq -r '.shares[] | select(.mountpoint == env.MP) | .options')" \
	"nodev,noexec,nosuid,ro" "list shows the options the mount really has"
snapshot_host "$VT_TMP/before"
expect_exit 65 nvm attach --type bind --export "$c" --volume v --owner o
stderr_has "an attach asking for a writable share is refused" "mounted ro,nosuid,nodev,noexec" \
	"would mount '$c' rw,nosuid,nodev"
snapshot_host "$VT_TMP/after"
same_snapshot "$VT_TMP/before" "$VT_TMP/after" "and changes nothing"
expect_exit 0 nvm attach --type bind --export "$c" --volume v --owner o --option ro --option noexec
is "$(row_of "$mpc")" "0|nodev,noexec,nosuid,ro|mounted" "the matching attach claims the share"
check "its device path is read-only, as the share says" eval '! writable "$mpc"'
is "$(cat "$mpc/id")" C "and shows the export"
expect_exit 0 nvm detach --type bind --export "$c" --volume v --owner o
is "$(mounts_at "$mpc")" 0 "the last detach unmounts it"

# ---- 4. without nosuid or nodev: volmount would never have mounted it ----
d=$(mkexport d)
mpd=$BASE_DIR/$(md5 "$d")
mkdir -m 0755 "$mpd"
mount --bind -o nodev "$d" "$mpd"
e=$(mkexport e)
mpe=$BASE_DIR/$(md5 "$e")
mkdir -m 0755 "$mpe"
mount --bind -o nosuid "$e" "$mpe"
expect_exit 0 nvm --json host-up
is "$(action_for "$LAST_OUT" "$mpd")" foreign "a mount without nosuid is not adopted"
case "$(detail_for "$LAST_OUT" "$mpd")" in
*"mounted rw,nodev"*"rw,nosuid,nodev"*) ok "the report names its flags and volmount's" ;;
*) not_ok "the report names its flags and volmount's" && diag "$(detail_for "$LAST_OUT" "$mpd")" ;;
esac
is "$(action_for "$LAST_OUT" "$mpe")" foreign "a mount without nodev is not adopted"
is "$(ledger_sql "SELECT count(*) FROM shares WHERE mountpoint IN ('$mpd', '$mpe')")" 0 "no row for either"
snapshot_host "$VT_TMP/before"
expect_exit 65 nvm attach --type bind --export "$d" --volume v --owner o
stderr_has "attach refuses it too, naming both sides" "mounted rw,nodev" "rw,nosuid,nodev"
expect_exit 65 nvm attach --type bind --export "$e" --volume v --owner o --option rw
snapshot_host "$VT_TMP/after"
same_snapshot "$VT_TMP/before" "$VT_TMP/after" "neither refused attach changed anything"
umount "$mpd" "$mpe"

# ---- 5. sshfs made by hand: the flags FUSE shows are compared too ----
sshd_up
check "fixture: root logs in to the test sshd with the client key" ssh_works
srv=$VT_TMP/srv
mkdir -p "$srv/vol" "$srv/dev"
hand_sshfs() { # EXTRA-OPTIONS EXPORT MOUNTPOINT
	sshfs -o "BatchMode=yes,IdentityFile=$SSH_KEY,StrictHostKeyChecking=yes,UserKnownHostsFile=$SSH_KNOWN_HOSTS,port=$SSH_PORT$1" \
		-- "$2" "$3" </dev/null
}
xs=root@127.0.0.1:$srv/vol
mps=$BASE_DIR/$(md5 "$xs")
mkdir -m 0755 "$mps"
hand_sshfs ",nodev,nosuid" "$xs" "$mps" || bail_out "sshfs by hand failed"
xd=root@127.0.0.1:$srv/dev
mpsd=$BASE_DIR/$(md5 "$xd")
mkdir -m 0755 "$mpsd"
hand_sshfs ",dev,suid" "$xd" "$mpsd" || bail_out "sshfs by hand (dev,suid) failed"
is "$(mountinfo_at "$mpsd" | awk '{ print $6 }')" "rw,relatime" "fixture: the second sshfs mount has neither nosuid nor nodev"

expect_exit 0 nvm --json host-up
j=$LAST_OUT
is "$(action_for "$j" "$mps")" adopted "host-up adopts the rw sshfs mount with nosuid,nodev"
is "$(action_for "$j" "$mpsd")" foreign "an sshfs mount without nosuid,nodev is not adopted"
case "$(detail_for "$j" "$mpsd")" in
*"mounted rw,"*"rw,nosuid,nodev"*) ok "the report says why" ;;
*) not_ok "the report says why" && diag "$(detail_for "$j" "$mpsd")" ;;
esac
is "$(ledger_sql "SELECT count(*) FROM shares WHERE mountpoint = '$mpsd'")" 0 "no row for it"
id_s=$(mount_id_at "$mps")
snapshot_host "$VT_TMP/before"
expect_exit 65 nvm attach --type sshfs --export "$xs" --volume vol --owner o "${SSHFS_OPTS[@]}" --option ro
stderr_has "sshfs: ro on a read-write adopted mount is refused, both sides named" \
	"mounted rw,nosuid,nodev" "ro,nosuid,nodev"
expect_exit 65 nvm attach --type sshfs --export "$xd" --volume vol --owner o "${SSHFS_OPTS[@]}"
stderr_has "sshfs: attach refuses the mount without nosuid,nodev" "rw,nosuid,nodev"
snapshot_host "$VT_TMP/after"
same_snapshot "$VT_TMP/before" "$VT_TMP/after" "the refused sshfs attaches changed nothing"
is "$(mount_id_at "$mps")" "$id_s" "the adopted sshfs mount is the same single mount"
expect_exit 0 nvm attach --type sshfs --export "$xs" --volume vol --owner o "${SSHFS_OPTS[@]}"
is "$(mount_id_at "$mps")" "$id_s" "attached as it is, on the adopted mount"
expect_exit 0 nvm detach --type sshfs --export "$xs" --volume vol --owner o
is "$(mounts_at "$mps")" 0 "the last detach unmounts it"
umount "$mpsd"

is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted under the base directory"
done_testing
