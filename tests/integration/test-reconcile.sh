#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# host-up reconciles the ledger with the kernel: a share with attachments but no mount is
# mounted again (new mount id), a mount with no attachments is unmounted and its directory
# removed, foreign mounts under the base are reported and left alone; each host-up raises the
# generation.
# shellcheck disable=SC2317 # functions called through check
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

a=$(mkexport a)
b=$(mkexport b)
c=$(mkexport c)
echo A >"$a/id"
echo C >"$c/id"
for x in "$a v1" "$a v2" "$b v1" "$c v1"; do
	read -r e v <<<"$x"
	expect_exit 0 vm attach --type bind --export "$e" --volume "$v" --owner o1
done
mpa=$(vm path --type bind --export "$a")
mpb=$(vm path --type bind --export "$b")
mpc=$(vm path --type bind --export "$c")
is "$(mounts_at "$mpa")$(mounts_at "$mpb")$(mounts_at "$mpc")" 111 "three shares mounted once each"

mount_id() { vm --json list | MP=$1 jq -r '.shares[] | select(.mountpoint == env.MP) | .mount_id'; }
# action_for JSON PATH: the action(s) host-up reported for PATH.
action_for() { MP=$2 jq -r '[.actions[] | select(.path == env.MP) | .action] | join(",")' <<<"$1"; }
gen() { vm --json status | jq -r .generation; }

ida=$(mount_id "$mpa")
idc=$(mount_id "$mpc")
g=$(gen)

# ---- 1. a share unmounted behind volmount's back ----
umount "$mpa"
is "$(mounts_at "$mpa")" 0 "share a unmounted behind volmount's back"
st=$(vm --json list | MP=$mpa jq -r '.shares[] | select(.mountpoint == env.MP) | .state')
isnt "$st" mounted "list no longer calls share a mounted ($st)"
check "status counts share a as unhealthy" test "$(vm --json status | jq -r .unhealthy)" -ge 1
expect_exit 0 vm --json host-up
j=$LAST_OUT
case "$(action_for "$j" "$mpa")" in
*mounted*) ok "host-up reports mounting share a again" ;;
*) not_ok "host-up reports mounting share a again" && diag "$j" ;;
esac
is "$(jq -r .generation <<<"$j")" $((g + 1)) "host-up raised the generation"
is "$(mounts_at "$mpa")" 1 "share a mounted again, once"
is "$(cat "$mpa/id" 2>/dev/null)" A "share a shows its export again"
ida2=$(mount_id "$mpa")
isnt "$ida2" "$ida" "share a has a new mount id"
check "share a's new mount id is a positive number" test "${ida2:-0}" -gt 0
is "$(mount_id "$mpc")" "$idc" "share c's healthy mount was kept (same mount id)"
is "$(n_attached "$mpa")" 2 "share a keeps its 2 attachments"

# ---- 2. a mount left without attachments (crash between commit and unmount) ----
hb=${mpb##*/}
ledger_exec "DELETE FROM attachments WHERE hash = '$hb'"
is "$(ledger_sql "SELECT count(*) FROM attachments WHERE hash = '$hb'")" 0 "share b's attachment rows deleted behind volmount's back"
g=$(gen)
expect_exit 0 vm --json host-up
j=$LAST_OUT
case ",$(action_for "$j" "$mpb")," in
*,unmounted,*) ok "host-up reports unmounting share b" ;;
*) not_ok "host-up reports unmounting share b" && diag "$j" ;;
esac
is "$(jq -r .generation <<<"$j")" $((g + 1)) "host-up raised the generation again"
is "$(mounts_at "$mpb")" 0 "share b unmounted"
check "share b's directory removed" test ! -e "$mpb"
is "$(share_json "$mpb")" "" "share b no longer listed"
is "$(ledger_sql "SELECT count(*) FROM shares WHERE hash = '$hb'")" 0 "share b's row removed"
is "$(mounts_at "$mpa")$(mounts_at "$mpc")" 11 "shares a and c untouched"
is "$(mount_id "$mpa")" "$ida2" "share a kept its mount id"

# ---- 3. foreign mounts under the base directory ----
fake=$BASE_DIR/bind/$(printf 'not-a-share' | sha256sum | cut -d' ' -f1)
junk=$BASE_DIR/bind/junk
for f in "$fake" "$junk"; do
	mkdir -p "$f"
	mount -t tmpfs foreign "$f"
	echo theirs >"$f/theirs"
done
snap_before=$(ledger_sql "SELECT hash, state FROM shares ORDER BY hash; SELECT * FROM attachments ORDER BY 1, 2, 3")
expect_exit 0 vm --json host-up
j=$LAST_OUT
for f in "$fake" "$junk"; do
	n=${f##*/}
	n=${n:0:12}
	is "$(action_for "$j" "$f")" foreign "host-up reports $n as foreign"
	is "$(mounts_at "$f")" 1 "$n is still mounted"
	is "$(fstype_at "$f")" tmpfs "$n is still the foreign tmpfs"
	is "$(cat "$f/theirs" 2>/dev/null)" theirs "$n's content untouched"
done
is "$(ledger_sql "SELECT hash, state FROM shares ORDER BY hash; SELECT * FROM attachments ORDER BY 1, 2, 3")" \
	"$snap_before" "foreign mounts did not change the ledger"
is "$(ledger_sql "SELECT count(*) FROM shares WHERE hash = '${fake##*/}'")" 0 "no share row for the foreign mount"
for f in "$fake" "$junk"; do
	umount "$f"
	rm -f "$f/theirs"
	rmdir "$f"
done

# ---- 4. a reboot: every mount gone, and the mountpoint directories too ----
umount "$mpa"
umount "$mpc"
rmdir "$mpa" "$mpc"
expect_exit 0 vm --json host-up
j=$LAST_OUT
case "$(action_for "$j" "$mpa")/$(action_for "$j" "$mpc")" in
*mounted*/*mounted*) ok "host-up reports mounting both shares after the 'reboot'" ;;
*) not_ok "host-up reports mounting both shares after the 'reboot'" && diag "$j" ;;
esac
is "$(mounts_at "$mpa")$(mounts_at "$mpc")" 11 "both shares mounted again, once each"
is "$(cat "$mpa/id" 2>/dev/null)$(cat "$mpc/id" 2>/dev/null)" AC "each shows its own export"
is "$(vm --json list | jq -c '[.shares[] | .state] | unique')" '["mounted"]' "list: all shares mounted"
is "$(vm --json status | jq -r .unhealthy)" 0 "status: nothing unhealthy"

# ---- 5. host-up with nothing to do keeps everything ----
ida3=$(mount_id "$mpa")
expect_exit 0 vm --json host-up
is "$(jq -c '[.actions[] | select(.action != "kept")] | length' <<<"$LAST_OUT")" 0 "a host-up with nothing to do only keeps"
is "$(mount_id "$mpa")" "$ida3" "and keeps the mount id"

# ---- 6. an attach that died between its mount and its commit ----
# What it leaves: the share row it inserted first ("pending", no mount id), the mount, and no
# attachment. Made here from a completed first attach by rolling its commit back. The next
# call for the share, or host-up, resolves it (DESIGN.md "Crash ordering").
d=$(mkexport d)
mpd=$(vm path --type bind --export "$d")
hd=${mpd##*/}
crash_after_mount() {
	vm attach --type bind --export "$d" --volume v1 --owner o1 >/dev/null
	ledger_exec "DELETE FROM attachments WHERE hash = '$hd'; UPDATE shares SET state = 'pending', mount_id = 0 WHERE hash = '$hd'"
	[ "$(mounts_at "$mpd")" = 1 ] && [ "$(ledger_attachments_of "$hd")" = 0 ]
}
ledger_attachments_of() { ledger_sql "SELECT count(*) FROM attachments WHERE hash = '$1'"; }

check "crash between mount and commit simulated (6a)" crash_after_mount
expect_exit 0 vm detach --type bind --export "$d" --volume v1 --owner o1
is "$(mounts_at "$mpd")" 0 "the next detach unmounts the share the dead attach left"
check "and removes its directory" test ! -e "$mpd"
is "$(ledger_sql "SELECT count(*) FROM shares WHERE hash = '$hd'")" 0 "and forgets the share"
umount "$mpd" 2>/dev/null
rmdir "$mpd" 2>/dev/null
ledger_exec "DELETE FROM shares WHERE hash = '$hd'"

check "crash between mount and commit simulated (6b)" crash_after_mount
expect_exit 0 vm attach --type bind --export "$d" --volume v2 --owner o1
is "$(mounts_at "$mpd")" 1 "the next attach keeps the share mounted once"
is "$(share_json "$mpd" | jq -r .state)" mounted "and the share is listed as mounted"
is "$(ledger_sql "SELECT state FROM shares WHERE hash = '$hd'")" mounted "and its row is no longer pending"
check "and the mount id is recorded" test "$(ledger_sql "SELECT mount_id FROM shares WHERE hash = '$hd'")" -gt 0
expect_exit 0 vm detach --type bind --export "$d" --volume v2 --owner o1
is "$(mounts_at "$mpd")" 0 "which then detaches cleanly"
umount "$mpd" 2>/dev/null
rmdir "$mpd" 2>/dev/null
ledger_exec "DELETE FROM shares WHERE hash = '$hd'"

check "crash between mount and commit simulated (6c)" crash_after_mount
expect_exit 0 vm --json host-up
case ",$(action_for "$LAST_OUT" "$mpd")," in
*,unmounted,*) ok "host-up reports unmounting what the dead attach left" ;;
*) not_ok "host-up reports unmounting what the dead attach left" && diag "$LAST_OUT" ;;
esac
is "$(mounts_at "$mpd")" 0 "host-up unmounted it"
check "host-up removed its directory" test ! -e "$mpd"
is "$(ledger_sql "SELECT count(*) FROM shares WHERE hash = '$hd'")" 0 "host-up forgot the share"
umount "$mpd" 2>/dev/null
rmdir "$mpd" 2>/dev/null

for x in "$a v1" "$a v2" "$c v1"; do
	read -r e v <<<"$x"
	expect_exit 0 vm detach --type bind --export "$e" --volume "$v" --owner o1
done
is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted"
is "$(ledger_attachments)$(ledger_shares)" 00 "ledger empty"
done_testing
