#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Guest test (Debian 12's kernel, tests/vm): what check and repair make of real NFS faults.
#  1. export withdrawn (exportfs -u) under v3 and v4.2 shares: check says stale (ESTALE, and
#     EACCES once the client has no export left on the server); repair
#     takes the stale mount away while the export is missing; once re-exported, repair mounts it
#     again and the data is there.
#  2. nfsd stopped (rpc.nfsd 0) under hard v3 and v4.2 mounts, next to a cifs and a bind share:
#     check answers within probe_timeout + 1 s with both NFS shares hung and the others mounted;
#     repair unmounts the hung mounts and returns by itself, even though the v4.2 mount is the
#     guest's last NFSv4 mount, whose teardown blocks whoever drops it while the server is
#     dead and the client's 90 s lease has not run out (tests/vm/README.md);
#     after nfsd is back, repair mounts them again.
#  3. soft mounts (soft,timeo=10,retrans=1) with nfsd stopped: check reports EIO.
# Every volmount call that could hang runs under in_time: a hang is reported with the kernel
# wait channel of each process, killed, and fails the test.
# shellcheck disable=SC2317
set -u
. /host/t/lib.sh
. /host/t/vmlib.sh
in_private_ns "$0" "$@"

check "fixture: the NFS server runs" nfs_up
check "fixture: Samba runs" smb_up
use_config "probe_timeout=$PROBE_TIMEOUT"

# share_of NAME VERS [OPTION...]: exports $SRV/NAME, attaches volume v (owner o) with the
# options, writes a marker through the device path; sets EXP and MP.
share_of() {
	local name=$1 vers=$2 d
	shift 2
	d=$(export_dir "$name") || bail_out "cannot export $SRV/$name"
	mkdir -p "$d/v"
	EXP=127.0.0.1:$d
	vm_in_time 60 attach --type nfs --export "$EXP" --volume v --owner o --option "vers=$vers" "$@"
	is "$LAST_RC" 0 "attach nfs $vers $name" || diag "$LAST_ERR"
	MP=$(vm path --type nfs --export "$EXP")
	echo "data of $name" >"$MP/v/file"
}

# ---- 1. the export withdrawn ----
# Another export stays, as on any server with more than one: then the client is still known
# and the withdrawn export's file handles are ESTALE. Once the client has no export left at
# all, the server refuses it at the RPC level and the kernel says EACCES.
export_dir keep >/dev/null || bail_out "cannot export $SRV/keep"
share_of ux3 3
exp3=$EXP mp3=$MP
share_of ux4 4.2
exp4=$EXP mp4=$MP
check_bound
unexport_dir ux3
unexport_dir ux4
vm_in_time 30 --json check
is "$LAST_RC" 69 "export withdrawn: check exits 69"
is "$(state_of "$mp3" "$LAST_OUT")/$(errno_of "$mp3" "$LAST_OUT")" stale/ESTALE "v3: stale, ESTALE"
is "$(state_of "$mp4" "$LAST_OUT")/$(errno_of "$mp4" "$LAST_OUT")" stale/ESTALE "v4.2: stale, ESTALE"
check "check answered within the bound ($ELAPSED_MS ms <= $CHECK_BOUND_MS)" test "$ELAPSED_MS" -le "$CHECK_BOUND_MS"
unexport_dir keep
vm_in_time 30 --json check
is "$(state_of "$mp3" "$LAST_OUT")/$(errno_of "$mp3" "$LAST_OUT")" stale/EACCES "no export left for the client: v3 stale, EACCES"
is "$(state_of "$mp4" "$LAST_OUT")/$(errno_of "$mp4" "$LAST_OUT")" stale/EACCES "no export left for the client: v4.2 stale, EACCES"

vm_in_time 120 repair
diag "repair while the export is missing: exit $LAST_RC: $LAST_OUT $LAST_ERR"
isnt "$LAST_RC" 124 "repair returned while the export is missing"
isnt "$LAST_RC" 0 "repair says it could not mount a withdrawn export"
is "$(mounts_at "$mp3")$(mounts_at "$mp4")" 00 "repair took both stale mounts away"
vm_in_time 30 --json list
is "$(state_of "$mp3" "$LAST_OUT")/$(state_of "$mp4" "$LAST_OUT")" missing/missing \
	"list: both shares missing (attachments kept, nothing mounted)"

reexport_dir
vm_in_time 120 repair
is "$LAST_RC" 0 "re-exported: repair exits 0" || diag "$LAST_OUT $LAST_ERR"
vm_in_time 30 --json check
is "$LAST_RC" 0 "re-exported: check exits 0"
is "$(state_of "$mp3" "$LAST_OUT")/$(state_of "$mp4" "$LAST_OUT")" mounted/mounted "both mounted again"
is "$(mounts_at "$mp3")$(mounts_at "$mp4")" 11 "each mounted exactly once"
# (Not "a new mount id": before 6.8 the kernel reuses a freed mount id at once.)
expect_list_mount_id "$mp3"
expect_list_mount_id "$mp4"
is "$(timeout 20 cat "$mp3/v/file")" "data of ux3" "v3: the data is back"
is "$(timeout 20 cat "$mp4/v/file")" "data of ux4" "v4.2: the data is back"
expect_exit 0 vm detach --type nfs --export "$exp3" --volume v --owner o
expect_exit 0 vm detach --type nfs --export "$exp4" --volume v --owner o

# ---- 2. nfsd stopped under hard mounts ----
# A real server's NFSv4 lease is 90 s (netfs-lib.sh shortens it to 10 s). With the short lease
# the client's state manager is already retrying the renewal, and holds the last reference to
# the client, by the time repair unmounts; with the real one, whoever unmounts the last NFSv4
# mount pays for the client's teardown, which blocks (killably) while the server is dead
# (measured: umount2(MNT_FORCE) still blocked after 40 s when the lease had not run out).
nfsd_stop
check "the server's NFSv4 lease is 90 s, as by default" sh -c 'echo 90 >/proc/fs/nfsd/nfsv4leasetime'
check "nfsd restarts" nfsd_start
share_of hd3 3
exp3=$EXP mp3=$MP
share_of hd4 4.2
exp4=$EXP mp4=$MP
cexp=//127.0.0.1/s2
mkdir -p "$SMB_ROOT/s2/v"
expect_exit 0 vm attach --type cifs --export "$cexp" --volume v --owner o --option "credentials=$CIFS_CRED"
cmp=$(vm path --type cifs --export "$cexp")
bexp=$(mkexport local)
expect_exit 0 vm attach --type bind --export "$bexp" --volume v --owner o
bmp=$(vm path --type bind --export "$bexp")
is "$(awk '$(NF-2) == "nfs4"' /proc/self/mountinfo | wc -l)" 1 \
	"the v4.2 share is the guest's only NFSv4 mount (its teardown is the one that can hang)"
check_bound

nfsd_stop
vm_in_time 60 --json check
is "$LAST_RC" 69 "nfsd stopped: check exits 69"
diag "check with nfsd stopped took $ELAPSED_MS ms"
check "check answered within the bound ($ELAPSED_MS ms <= $CHECK_BOUND_MS)" \
	test "$ELAPSED_MS" -le "$CHECK_BOUND_MS"
is "$(state_of "$mp3" "$LAST_OUT")" hung "hard v3: hung"
is "$(state_of "$mp4" "$LAST_OUT")" hung "hard v4.2: hung"
is "$(state_of "$cmp" "$LAST_OUT")" mounted "the cifs share is unaffected"
is "$(state_of "$bmp" "$LAST_OUT")" mounted "the bind share is unaffected"
[ "$LAST_RC" = 124 ] && diag "blocked: $IN_TIME_BLOCKED"

# repair: probe (probe_timeout), unmount with MNT_FORCE, then mount.nfs cannot reach the server
# and is killed at --timeout; none of it may block the caller.
vm_in_time 90 --timeout 10 repair
diag "repair with nfsd stopped: exit $LAST_RC after $ELAPSED_MS ms: $LAST_OUT $LAST_ERR"
if [ "$LAST_RC" = 124 ]; then
	not_ok "repair with nfsd stopped returned by itself (killed after 90 s)"
	diag "blocked: $IN_TIME_BLOCKED"
else
	ok "repair with nfsd stopped returned by itself ($ELAPSED_MS ms)"
fi
is "$(mounts_at "$mp3")$(mounts_at "$mp4")" 00 "repair unmounted both hung NFS mounts"
is "$(mounts_at "$cmp")$(mounts_at "$bmp")" 11 "the cifs and bind shares stay mounted"
vm_in_time 30 --json list
is "$LAST_RC" 0 "list answers after the repair"

check "nfsd restarts" nfsd_start
vm_in_time 120 repair
is "$LAST_RC" 0 "nfsd back: repair exits 0" || diag "$LAST_OUT $LAST_ERR"
vm_in_time 30 --json check
is "$LAST_RC" 0 "nfsd back: check exits 0" || diag "$LAST_OUT"
is "$(state_of "$mp3" "$LAST_OUT")/$(state_of "$mp4" "$LAST_OUT")" mounted/mounted "both NFS shares mounted again"
is "$(timeout 20 cat "$mp3/v/file")" "data of hd3" "v3: the data is back"
is "$(timeout 20 cat "$mp4/v/file")" "data of hd4" "v4.2: the data is back"
for e in "nfs $exp3" "nfs $exp4" "cifs $cexp" "bind $bexp"; do
	vm_in_time 60 detach --type "${e%% *}" --export "${e#* }" --volume v --owner o
	is "$LAST_RC" 0 "detach ${e%% *}" || diag "$LAST_ERR"
done

# ---- 3. soft mounts: EIO ----
use_config "probe_timeout=15"
share_of sf3 3 --option soft --option timeo=10 --option retrans=1
exp3=$EXP mp3=$MP
share_of sf4 4.2 --option soft --option timeo=10 --option retrans=1
exp4=$EXP mp4=$MP
case ",$(super_opts_at "$mp3")," in
*,soft,*) ok "the soft option reached the kernel" ;;
*) not_ok "the soft option reached the kernel" && diag "$(mountinfo_at "$mp3")" ;;
esac
nfsd_stop
vm_in_time 60 --json check
is "$LAST_RC" 69 "soft, nfsd stopped: check exits 69"
diag "check took $ELAPSED_MS ms"
is "$(state_of "$mp3" "$LAST_OUT")/$(errno_of "$mp3" "$LAST_OUT")" stale/EIO "soft v3: stale, EIO"
is "$(state_of "$mp4" "$LAST_OUT")/$(errno_of "$mp4" "$LAST_OUT")" stale/EIO "soft v4.2: stale, EIO"
check "nfsd restarts" nfsd_start
vm_in_time 120 repair
is "$LAST_RC" 0 "nfsd back: repair exits 0" || diag "$LAST_OUT $LAST_ERR"
vm_in_time 40 --json check
is "$LAST_RC" 0 "nfsd back: check exits 0" || diag "$LAST_OUT"
for e in "$exp3" "$exp4"; do
	vm_in_time 60 detach --type nfs --export "$e" --volume v --owner o
	is "$LAST_RC" 0 "detach $e" || diag "$LAST_ERR"
done

is "$(ledger_attachments)$(ledger_shares)" 00 "the ledger is empty"
is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted under the base directory"
done_testing
