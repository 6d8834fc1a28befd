#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Adoption of a host whose shares Nova or os-brick mounted (path scheme nova: the mountpoint
# is <base>/<md5 of the export>). host-up adopts a mount at such a directory only when it is
# exactly what volmount would mount there: a bind mount made by hand, and a real sshfs mount
# of the test sshd (net.sh). An adopted share is listed as mounted with no attachments and is
# kept; the first attach uses the same mount (no second one), and the last detach unmounts it
# but keeps the directory volmount did not create. Mounts that do not match (another source,
# another file system, stacked mounts, a volmount-scheme name) are reported foreign and left
# untouched. attach adopts a matching mount by itself when host-up has not run yet. A ledger
# whose shares use one scheme refuses a context configured for the other (exit 78), and the
# default scheme adopts nothing.
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
# action_for JSON PATH: the action(s) host-up reported for PATH.
action_for() { MP=$2 jq -r '[.actions[] | select(.path == env.MP) | .action] | join(",")' <<<"$1"; }
detail_for() { MP=$2 jq -r '[.actions[] | select(.path == env.MP) | .detail] | join(" | ")' <<<"$1"; }
# nshare_json MOUNTPOINT: the share of `list --json` (nova scheme) at MOUNTPOINT.
nshare_json() { nvm --json list | MP=$1 jq -c '.shares[] | select(.mountpoint == env.MP)'; }
row_of() { ledger_sql "SELECT adopted, dir_created, state FROM shares WHERE mountpoint = '$1'"; }
source_at() { mountinfo_at "$1" | awk '{ for (k = 7; k <= NF; k++) if ($k == "-") { print $(k + 2); exit } }'; }

expect_exit 0 nvm status
check "the base directory exists" test -d "$BASE_DIR"

# ---- 1. the nova scheme names mountpoints as Nova does ----
e=$(mkexport e)
echo E >"$e/id"
expect_exit 0 nvm path --type bind --export "$e"
is "$LAST_OUT" "$BASE_DIR/$(md5 "$e")" "path: <base>/<md5 of the export>"
expect_exit 0 nvm path --type quobyte --export "quobyte://Reg.Example:7861/vol"
is "$LAST_OUT" "$BASE_DIR/$(md5 reg.example:7861/vol)" "path: quobyte's md5 is of the normalized export without its scheme"

# A share volmount mounts itself under the nova scheme: directory made and removed by it.
n=$(mkexport n)
mpn=$BASE_DIR/$(md5 "$n")
expect_exit 0 nvm attach --type bind --export "$n" --volume v --owner o
is "$LAST_OUT" "$mpn/v" "attach prints <base>/<md5>/<volume>"
is "$(mounts_at "$mpn")" 1 "mounted once at the md5 directory"
is "$(row_of "$mpn")" "0|1|mounted" "ledger: not adopted, directory created by volmount"
expect_exit 0 nvm detach --type bind --export "$n" --volume v --owner o
is "$(mounts_at "$mpn")" 0 "the last detach unmounts"
check "and removes the directory volmount made" test ! -e "$mpn"

# ---- 2. host-up adopts a matching bind mount made by hand ----
mpe=$BASE_DIR/$(md5 "$e")
mkdir -m 0755 "$mpe"
# nosuid,nodev: volmount adopts only what it would mount itself, flags included
mount --bind -o nosuid,nodev "$e" "$mpe"
# A bind mount of another export at the md5 directory of f: the name does not match.
f=$(mkexport f)
g=$(mkexport g)
echo G >"$g/id"
mpf=$BASE_DIR/$(md5 "$f")
mkdir -m 0755 "$mpf"
mount --bind -o nosuid,nodev "$g" "$mpf"
# A file system no export explains.
t=$BASE_DIR/$(md5 /nowhere)
mkdir -m 0755 "$t"
mount -t tmpfs other "$t"
# Two mounts stacked at the md5 directory of an export.
h=$(mkexport h)
mph=$BASE_DIR/$(md5 "$h")
mkdir -m 0755 "$mph"
mount --bind "$h" "$mph"
mount --bind "$h" "$mph"
# A name of the volmount scheme: never adopted under nova.
l=$(mkexport l)
mpl=$BASE_DIR/bind/$(printf 'bind\0%s' "$l" | sha256sum | cut -d' ' -f1)
mkdir -p "$mpl"
mount --bind "$l" "$mpl"

expect_exit 0 nvm --json host-up
j=$LAST_OUT
is "$(action_for "$j" "$mpe")" adopted "host-up adopts the matching bind mount"
is "$(action_for "$j" "$mpf")" foreign "a bind of another export at f's md5 directory is foreign"
diag "foreign: $(detail_for "$j" "$mpf")"
is "$(action_for "$j" "$t")" foreign "a tmpfs at an md5 directory is foreign"
is "$(action_for "$j" "$mph")" stacked "stacked mounts at an md5 directory are reported stacked"
is "$(action_for "$j" "$mpl")" foreign "a volmount-scheme mountpoint is not adopted under nova"
is "$(mounts_at "$mpe")" 1 "the adopted mount stays mounted"
is "$(cat "$mpe/id" 2>/dev/null)" E "and still shows its export"
is "$(source_at "$mpf")" "$(source_at "$mpe")" "fixture: both binds come from the same file system"
is "$(cat "$mpf/id" 2>/dev/null)" G "the foreign bind is untouched"
is "$(mounts_at "$mph")" 2 "the stacked mounts are untouched"
is "$(mounts_at "$t")$(mounts_at "$mpl")" 11 "the tmpfs and the volmount-scheme mount are untouched"
sj=$(nshare_json "$mpe")
is "$(jq -r '.state + " " + (.attachments | length | tostring) + " " + .driver + " " + .export' <<<"$sj")" \
	"mounted 0 bind $e" "list: the adopted share is mounted, with 0 attachments"
is "$(jq -r .adopted <<<"$sj")" true "list --json: adopted"
expect_exit 0 nvm list
check "plain list marks it (adopted)" grep -qF -- "0 (adopted)" <<<"$(grep -F -- "$mpe" <<<"$LAST_OUT")"
id_adopted=$(jq -r .mount_id <<<"$sj")
is "$(row_of "$mpe")" "1|0|mounted" "ledger: adopted, directory not created by volmount"
is "$(ledger_sql "SELECT count(*) FROM shares WHERE mountpoint IN ('$mpf', '$t', '$mph', '$mpl')")" 0 \
	"no row for what was not adopted"
is "$(nvm --json status | jq -r .unhealthy)" 0 "status: the adopted share is healthy"

expect_exit 0 nvm --json host-up
is "$(action_for "$LAST_OUT" "$mpe")" kept "a second host-up keeps the adopted share"
is "$(mounts_at "$mpe")" 1 "still mounted"

# Detaching a volume that was never attached changes nothing.
expect_exit 0 nvm detach --type bind --export "$e" --volume v1 --owner o1
is "$(mounts_at "$mpe")" 1 "a detach without attachment leaves the adopted share mounted"
is "$(row_of "$mpe")" "1|0|mounted" "and adopted"

expect_exit 0 nvm attach --type bind --export "$e" --volume v1 --owner o1
is "$LAST_OUT" "$mpe/v1" "attach on the adopted share prints a device path under its mountpoint"
is "$(mounts_at "$mpe")" 1 "no second mount"
is "$(nshare_json "$mpe" | jq -r .mount_id)" "$id_adopted" "the adopted mount is the one in use"
is "$(row_of "$mpe")" "0|0|mounted" "ledger: no longer adopted"
is "$(nshare_json "$mpe" | jq -r .adopted)" false "list --json: no longer adopted"
expect_exit 0 nvm attach --type bind --export "$e" --volume v2 --owner o1
expect_exit 0 nvm detach --type bind --export "$e" --volume v1 --owner o1
is "$(mounts_at "$mpe")" 1 "still mounted with one attachment left"
expect_exit 0 nvm detach --type bind --export "$e" --volume v2 --owner o1
is "$(mounts_at "$mpe")" 0 "the last detach unmounts the formerly adopted share"
check "but keeps its directory (volmount did not create it)" test -d "$mpe"
is "$(ledger_sql "SELECT count(*) FROM shares WHERE mountpoint = '$mpe'")" 0 "and forgets the share"

# attach on a mismatching mount is refused and changes nothing.
expect_exit 73 nvm attach --type bind --export "$f" --volume v --owner o
stderr_explains "attach over a mount that does not match explains itself"
is "$(cat "$mpf/id" 2>/dev/null)" G "the foreign bind is still untouched"

umount "$mpf" "$t" "$mpl"
umount "$mph"
umount "$mph"

# ---- 3. attach adopts by itself when host-up has not run ----
a=$(mkexport a)
echo A >"$a/id"
mpa=$BASE_DIR/$(md5 "$a")
mkdir -m 0755 "$mpa"
mount --bind -o nosuid,nodev "$a" "$mpa"
expect_exit 0 nvm attach --type bind --export "$a" --volume v --owner o
is "$LAST_OUT" "$mpa/v" "attach adopts a matching mount with no row (no host-up yet)"
is "$(mounts_at "$mpa")" 1 "no second mount"
is "$(row_of "$mpa")" "0|0|mounted" "ledger: attached, directory not volmount's"
is "$(nshare_json "$mpa" | jq '.attachments | length')" 1 "one attachment"
expect_exit 0 nvm detach --type bind --export "$a" --volume v --owner o
is "$(mounts_at "$mpa")" 0 "the last detach unmounts it"
check "and keeps the directory" test -d "$mpa"

# An adopted share whose mount went away before any attach: the attach mounts it afresh (and
# the directory, which volmount did not create, is kept after the last detach).
b=$(mkexport b)
mpb=$BASE_DIR/$(md5 "$b")
mkdir -m 0755 "$mpb"
mount --bind -o nosuid,nodev "$b" "$mpb"
expect_exit 0 nvm --json host-up
is "$(action_for "$LAST_OUT" "$mpb")" adopted "fixture: adopted"
umount "$mpb"
expect_exit 0 nvm attach --type bind --export "$b" --volume v --owner o
is "$(mounts_at "$mpb")" 1 "attach mounts a share whose adopted mount is gone"
is "$(row_of "$mpb")" "0|0|mounted" "ledger: an ordinary share now, directory still not volmount's"
expect_exit 0 nvm detach --type bind --export "$b" --volume v --owner o
is "$(mounts_at "$mpb")" 0 "the last detach unmounts it"
check "and keeps the directory" test -d "$mpb"

# ---- 4. a real sshfs mount, made by hand as os-brick would ----
sshd_up
check "fixture: root logs in to the test sshd with the client key" ssh_works
srv=$VT_TMP/srv
mkdir -p "$srv/vol-a"
echo server >"$srv/marker"
exp=root@127.0.0.1:$srv
mps=$BASE_DIR/$(md5 "$exp")
mkdir -m 0755 "$mps"
# The options volmount would use for these attach options (its canonical set).
sshfs -o "BatchMode=yes,IdentityFile=$SSH_KEY,StrictHostKeyChecking=yes,UserKnownHostsFile=$SSH_KNOWN_HOSTS,nodev,nosuid,port=$SSH_PORT" \
	-- "$exp" "$mps" </dev/null || bail_out "sshfs by hand failed"
is "$(fstype_at "$mps")" fuse.sshfs "fixture: sshfs mounted by hand at <base>/<md5>"
# The same server's other directory at the md5 directory of another export: foreign.
mkdir -p "$srv/other"
exp2=root@127.0.0.1:$srv/elsewhere
mps2=$BASE_DIR/$(md5 "$exp2")
mkdir -m 0755 "$mps2"
sshfs -o "BatchMode=yes,IdentityFile=$SSH_KEY,StrictHostKeyChecking=yes,UserKnownHostsFile=$SSH_KNOWN_HOSTS,nodev,nosuid,port=$SSH_PORT" \
	-- "root@127.0.0.1:$srv/other" "$mps2" </dev/null || bail_out "second sshfs by hand failed"

expect_exit 0 nvm --json host-up
j=$LAST_OUT
is "$(action_for "$j" "$mps")" adopted "host-up adopts the sshfs mount"
is "$(action_for "$j" "$mps2")" foreign "an sshfs mount of another source is foreign"
diag "foreign: $(detail_for "$j" "$mps2")"
is "$(mounts_at "$mps")$(mounts_at "$mps2")" 11 "both stay mounted"
sj=$(nshare_json "$mps")
is "$(jq -r '.state + " " + (.attachments | length | tostring) + " " + .driver' <<<"$sj")" \
	"mounted 0 sshfs" "list: the adopted sshfs share is mounted, with 0 attachments"
is "$(jq -r .options <<<"$sj")" "BatchMode=yes,CheckHostIP=no,StrictHostKeyChecking=yes,UpdateHostKeys=no,nodev,nosuid" "recorded with the driver's default options"
id_adopted=$(jq -r .mount_id <<<"$sj")
is "$(net_live_pids sshfs | wc -l)" 2 "two sshfs processes (the two made by hand)"

expect_exit 0 nvm attach --type sshfs --export "$exp" --volume vol-a --owner owner1 "${SSHFS_OPTS[@]}"
is "$LAST_OUT" "$mps/vol-a" "attach on the adopted sshfs share prints its device path"
is "$(mounts_at "$mps")" 1 "no second mount"
is "$(nshare_json "$mps" | jq -r .mount_id)" "$id_adopted" "the adopted mount is the one in use"
is "$(net_live_pids sshfs | wc -l)" 2 "no new sshfs process"
case ",$(nshare_json "$mps" | jq -r .options)," in
*,port=$SSH_PORT,*) ok "the first attach's options are now the share's" ;;
*) not_ok "the first attach's options are now the share's" && diag "$(nshare_json "$mps")" ;;
esac
is "$(cat "$mps/vol-a/../marker" 2>/dev/null)" server "the server's files are visible"
echo through-device >"$mps/vol-a/file" 2>/dev/null
is "$(cat "$srv/vol-a/file" 2>/dev/null)" through-device "a file written through the device path is on the server"
# The same attach options in another order are the same share, now that it is claimed.
expect_exit 0 nvm attach --type sshfs --export "$exp" --volume vol-b --owner owner1 \
	--option StrictHostKeyChecking=yes --option "UserKnownHostsFile=$SSH_KNOWN_HOSTS" \
	--option "IdentityFile=$SSH_KEY" --option "port=$SSH_PORT"
expect_exit 65 nvm attach --type sshfs --export "$exp" --volume vol-c --owner owner1 \
	"${SSHFS_OPTS[@]}" --option reconnect
expect_exit 0 nvm detach --type sshfs --export "$exp" --volume vol-b --owner owner1
expect_exit 0 nvm detach --type sshfs --export "$exp" --volume vol-a --owner owner1
is "$(mounts_at "$mps")" 0 "the last detach unmounts the formerly adopted sshfs share"
check "but keeps its directory" test -d "$mps"
# sshfs exits once it sees its connection end, a moment after the unmount: wait for it.
for _ in $(seq 100); do
	[ "$(net_live_pids sshfs | wc -l)" = 1 ] && break
	sleep 0.05
done
check "its sshfs process is gone" test "$(net_live_pids sshfs | wc -l)" = 1
is "$(ledger_sql "SELECT count(*) FROM shares WHERE mountpoint = '$mps'")" 0 "the share is forgotten"
is "$(mounts_at "$mps2")" 1 "the foreign sshfs mount is untouched"
umount "$mps2"

# An adopted share whose mount goes away is forgotten by host-up; its directory stays.
sshfs -o "BatchMode=yes,IdentityFile=$SSH_KEY,StrictHostKeyChecking=yes,UserKnownHostsFile=$SSH_KNOWN_HOSTS,nodev,nosuid,port=$SSH_PORT" \
	-- "$exp" "$mps" </dev/null || bail_out "third sshfs by hand failed"
expect_exit 0 nvm --json host-up
is "$(action_for "$LAST_OUT" "$mps")" adopted "adopted again"
umount "$mps"
expect_exit 0 nvm --json host-up
is "$(action_for "$LAST_OUT" "$mps")" removed "host-up forgets an adopted share whose mount is gone"
check "and leaves its directory" test -d "$mps"
is "$(ledger_shares)" 0 "no share left"

# ---- 5. one scheme per ledger ----
k=$(mkexport k)
expect_exit 0 nvm attach --type bind --export "$k" --volume v --owner o
expect_exit 78 vm list
stderr_explains "the default scheme on a nova ledger explains itself"
diag "$LAST_ERR"
expect_exit 78 vm attach --type bind --export "$k" --volume v2 --owner o
expect_exit 78 vm --path-scheme volmount host-up
expect_exit 0 env VOLMOUNT_PATH_SCHEME=nova "$VOLMOUNT_BIN" "${VM_ARGS[@]}" list
expect_exit 78 env VOLMOUNT_PATH_SCHEME=bogus "$VOLMOUNT_BIN" "${VM_ARGS[@]}" list
expect_exit 64 vm --path-scheme bogus list
conf=$VT_TMP/volmount.conf
printf 'path_scheme = nova\n' >"$conf"
chmod 0644 "$conf"
expect_exit 0 vm --config "$conf" list
is "$(vm --config "$conf" --json list | jq '.shares | length')" 1 "path_scheme = nova in the config file"
expect_exit 0 nvm detach --type bind --export "$k" --volume v --owner o
expect_exit 0 vm list
is "$(ledger_sql "SELECT path_scheme FROM host")" volmount "an empty ledger takes the configured scheme"

# ---- 6. the default scheme adopts nothing ----
d=$(mkexport d)
mpd=$BASE_DIR/$(md5 "$d")
mkdir -p "$mpd"
mount --bind "$d" "$mpd"
expect_exit 0 vm --json host-up
is "$(action_for "$LAST_OUT" "$mpd")" foreign "with the default scheme an md5 directory's mount is foreign"
is "$(ledger_shares)" 0 "and nothing is recorded"
expect_exit 0 vm attach --type bind --export "$d" --volume v --owner o
is "$LAST_OUT" "$BASE_DIR/bind/$(printf 'bind\0%s' "$d" | sha256sum | cut -d' ' -f1)/v" \
	"the default scheme still names <base>/<driver>/<sha256>"
expect_exit 0 vm detach --type bind --export "$d" --volume v --owner o
umount "$mpd"

is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted under the base directory"
done_testing
