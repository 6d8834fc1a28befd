#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Guest test (Debian 12's kernel, tests/vm): real CIFS (SMB 3.1.1) against Samba in the guest.
# 3 volumes x 2 owners share one mount, verified against the mount table (type, source, flags,
# mount id); data crosses device paths and reaches the server; the last detach unmounts and
# removes the directory. A share with a path (//host/share/sub) verifies too. The password
# reaches mount.cifs only through the credentials file: while mounting, procscan reads every
# /proc/*/cmdline and /proc/*/environ in a loop and must see mount.cifs run but never the
# password or the user name; username=, user=, password= and pass= options stay refused.
# shellcheck disable=SC2317,SC2154 # functions called through expect_exit; devpath: lib.sh
set -u
. /host/t/lib.sh
. /host/t/vmlib.sh
in_private_ns "$0" "$@"

check "fixture: Samba runs" smb_up
mkdir -p "$SMB_ROOT/s1/vol-a" "$SMB_ROOT/s1/vol.b" "$SMB_ROOT/s1/vol_c" "$SMB_ROOT/s1/sub/v"
echo "server cifs" >"$SMB_ROOT/s1/marker"
exp=//127.0.0.1/s1
attach() { vm attach --type cifs --export "$exp" --volume "$1" --owner "$2" --option "credentials=$CIFS_CRED"; }
detach() { vm detach --type cifs --export "$exp" --volume "$1" --owner "$2"; }
expect_exit 0 vm path --type cifs --export "$exp"
mp=$LAST_OUT

# ---- the lifecycle, with a process sampler running throughout the first mount ----
rm -f "$VT_TMP/scan.stop"
/host/bin/procscan "$VT_TMP/scan.stop" mount.cifs "$SMB_PASS" "username=$SMB_USER" \
	"user=$SMB_USER" >"$VT_TMP/scan.out" 2>&1 &
scanpid=$!
sleep 0.5
attach_pairs "$mp"
touch "$VT_TMP/scan.stop"
wait "$scanpid"

is "$(fstype_at "$mp")" cifs "the mount table says type cifs"
is "$(mount_source "$mp")" "$exp" "the mount's source is the export, as given"
expect_mount_flags "$mp" nosuid nodev
expect_list_mount_id "$mp"
is "$(cat "$mp/marker" 2>/dev/null)" "server cifs" "the server's files are visible"
echo "written by owner1 over cifs" >"${devpath[vol-a/owner1]}/file" 2>/dev/null
is "$(cat "${devpath[vol-a/owner2]}/file" 2>/dev/null)" "written by owner1 over cifs" \
	"a file written through one device path is read through another's"
is "$(cat "$SMB_ROOT/s1/vol-a/file" 2>/dev/null)" "written by owner1 over cifs" "and is on the server"
echo "written on the server" >"$SMB_ROOT/s1/vol.b/from-server"
is "$(cat "${devpath[vol.b/owner2]}/from-server" 2>/dev/null)" "written on the server" \
	"a file written on the server is read through a device path"
expect_exit 0 vm --json check
is "$(state_of "$mp" "$LAST_OUT")" mounted "check probes the share healthy"
detach_pairs "$mp"
is "$(cat "$SMB_ROOT/s1/vol-a/file" 2>/dev/null)" "written by owner1 over cifs" "the server keeps the data"

# ---- the credentials never travel through argv or the environment ----
# procscan prints "passes=N witness=M" and a "leak PID FILE COMM" line per sighting.
diag "procscan: $(head -c 600 "$VT_TMP/scan.out")"
passes=$(sed -n 's/^passes=\([0-9]*\) .*/\1/p' "$VT_TMP/scan.out")
seen=$(sed -n 's/.* witness=\([0-9]*\).*/\1/p' "$VT_TMP/scan.out")
check "the sampler ran (${passes:-0} passes over /proc)" test "${passes:-0}" -ge 10
check "the sampler saw mount.cifs running (${seen:-0} times): it could have seen a leak" \
	test "${seen:-0}" -ge 1
is "$(grep -c '^leak ' "$VT_TMP/scan.out")" 0 \
	"neither the password nor the user name appeared in any process's argv or environ"
check "the credentials file holds the password (the sampler looked for the right thing)" \
	grep -qF "$SMB_PASS" "$CIFS_CRED"

for o in "username=$SMB_USER" "user=$SMB_USER" "password=$SMB_PASS" "pass=$SMB_PASS"; do
	snapshot_host "$VT_TMP/before"
	expect_exit 65 vm attach --type cifs --export "$exp" --volume v --owner o --option "$o" \
		--option "credentials=$CIFS_CRED"
	case "$LAST_OUT$LAST_ERR" in
	*"$SMB_PASS"*) not_ok "the refusal of ${o%%=*}= does not echo the secret" && diag "$LAST_ERR" ;;
	*) ok "the refusal of ${o%%=*}= does not echo the secret" ;;
	esac
	snapshot_host "$VT_TMP/after"
	same_snapshot "$VT_TMP/before" "$VT_TMP/after" "${o%%=*}= refused, nothing changed"
done
expect_exit 65 vm attach --type cifs --export "$exp" --volume v --owner o
stderr_explains "cifs without credentials= (or guest) is refused"

# ---- a share with a path below the share name ----
sexp=//127.0.0.1/s1/sub
expect_exit 0 vm attach --type cifs --export "$sexp" --volume v --owner o --option "credentials=$CIFS_CRED"
smp=$(vm path --type cifs --export "$sexp")
is "$(mounts_at "$smp")" 1 "//host/share/sub: mounted once"
is "$(mount_source "$smp")" "$sexp" "//host/share/sub: the source shows the path"
expect_exit 0 vm detach --type cifs --export "$sexp" --volume v --owner o
is "$(mounts_at "$smp")" 0 "//host/share/sub: unmounted by the last detach"

# Other spellings: a host name (folded to lower case), a share name in another case (kept: the
# server decides), a trailing slash; the kernel shows the export as volmount normalized it.
for s in "//LocalHost/s1 //localhost/s1" "//127.0.0.1/S1/ //127.0.0.1/S1" \
	"//127.0.0.1/s1/sub/./ //127.0.0.1/s1/sub"; do
	read -r given want <<<"$s"
	expect_exit 0 vm attach --type cifs --export "$given" --volume v --owner o \
		--option "credentials=$CIFS_CRED" --option vers=3.1.1 || continue
	smp=$(vm path --type cifs --export "$given")
	is "$(fstype_at "$smp") $(mount_source "$smp")" "cifs $want" "$given: the kernel shows cifs $want"
	expect_exit 0 vm detach --type cifs --export "$given" --volume v --owner o
	is "$(mounts_at "$smp")" 0 "$given: unmounted by the detach"
done

is "$(ledger_attachments)$(ledger_shares)" 00 "the ledger is empty"
is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted under the base directory"
done_testing
