#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Guest test (Debian 12's kernel, tests/vm): real NFSv3 and NFSv4.2 against the guest's own
# kernel nfsd. For each version, 3 volumes x 2 owners share one mount, verified against the
# mount table (type, source, flags, and the mount id list records); a file written through one
# device path is read through another and found on the server, and the other way round; the
# last detach unmounts and removes the directory. The IPv6 spelling [::1]:/path mounts and
# verifies too.
# shellcheck disable=SC2317,SC2154 # functions called through expect_exit; devpath: lib.sh
set -u
. /host/t/lib.sh
. /host/t/vmlib.sh
in_private_ns "$0" "$@"

check "fixture: the NFS server runs" nfs_up

for vers in 3 4.2; do
	d=$(export_dir "life-$vers") || bail_out "cannot export $SRV/life-$vers"
	mkdir -p "$d/vol-a" "$d/vol.b" "$d/vol_c"
	echo "server $vers" >"$d/marker"
	exp=127.0.0.1:$d
	opts=(--option "vers=$vers")
	# 4.2 is the driver's default: the share is the same with or without the option.
	[ "$vers" = 4.2 ] && opts=()
	attach() { vm attach --type nfs --export "$exp" --volume "$1" --owner "$2" "${opts[@]}"; }
	detach() { vm detach --type nfs --export "$exp" --volume "$1" --owner "$2"; }
	expect_exit 0 vm path --type nfs --export "$exp"
	mp=$LAST_OUT
	is "$(mounts_at "$mp")" 0 "nfs $vers: not mounted before the first attach"

	attach_pairs "$mp"
	want=nfs4
	[ "$vers" = 3 ] && want=nfs
	is "$(fstype_at "$mp")" "$want" "nfs $vers: the mount table says type $want"
	is "$(mount_source "$mp")" "$exp" "nfs $vers: the mount's source is the export, as given"
	case ",$(super_opts_at "$mp")," in
	*",vers=$vers,"*) ok "nfs $vers: the kernel negotiated vers=$vers" ;;
	*) not_ok "nfs $vers: the kernel negotiated vers=$vers" && diag "$(mountinfo_at "$mp")" ;;
	esac
	expect_mount_flags "$mp" nosuid nodev
	expect_list_mount_id "$mp"
	is "$(cat "$mp/marker" 2>/dev/null)" "server $vers" "nfs $vers: the server's files are visible"

	echo "written by owner1 over nfs $vers" >"${devpath[vol-a/owner1]}/file" 2>/dev/null
	is "$(cat "${devpath[vol-a/owner2]}/file" 2>/dev/null)" "written by owner1 over nfs $vers" \
		"nfs $vers: a file written through one device path is read through another's"
	is "$(cat "$d/vol-a/file" 2>/dev/null)" "written by owner1 over nfs $vers" \
		"nfs $vers: and is on the server"
	echo "written on the server" >"$d/vol.b/from-server"
	is "$(cat "${devpath[vol.b/owner2]}/from-server" 2>/dev/null)" "written on the server" \
		"nfs $vers: a file written on the server is read through a device path"

	expect_exit 0 vm --json check
	is "$(state_of "$mp" "$LAST_OUT")" mounted "nfs $vers: check probes the share healthy"
	# Asking for another version is another share definition: refused, nothing changes.
	snapshot_host "$VT_TMP/before"
	expect_exit 65 vm attach --type nfs --export "$exp" --volume vol-d --owner owner1 \
		--option vers=4.1
	snapshot_host "$VT_TMP/after"
	same_snapshot "$VT_TMP/before" "$VT_TMP/after" "nfs $vers: a differing vers= changes nothing"

	detach_pairs "$mp"
	is "$(cat "$d/vol-a/file" 2>/dev/null)" "written by owner1 over nfs $vers" \
		"nfs $vers: the server keeps the data"
done
is "$(ledger_attachments)$(ledger_shares)" 00 "the ledger is empty"

# IPv6: the export's canonical spelling is what the kernel shows as the source.
d=$(export_dir life-v6 v6) || bail_out "cannot export $SRV/life-v6"
mkdir -p "$d/v"
exp="[::1]:$d"
expect_exit 0 vm attach --type nfs --export "$exp" --volume v --owner o
mp=$(vm path --type nfs --export "$exp")
is "$(mounts_at "$mp")" 1 "nfs over IPv6: mounted once"
is "$(fstype_at "$mp")" nfs4 "nfs over IPv6: type nfs4"
is "$(mount_source "$mp")" "$exp" "nfs over IPv6: the source is [::1]:/path"
expect_exit 0 vm detach --type nfs --export "$exp" --volume v --owner o
is "$(mounts_at "$mp")" 0 "nfs over IPv6: unmounted by the last detach"

# Other spellings the driver's unit tests only assume: what the kernel really shows as type and
# source for each (the export as volmount normalized it), and that it verifies and unmounts.
d=$(export_dir spell) || bail_out "cannot export $SRV/spell"
for s in "LocalHost:$d/ vers=4.2 localhost:$d nfs4" "127.0.0.1:$d vers=4 127.0.0.1:$d nfs4" \
	"127.0.0.1:$d vers=4.1 127.0.0.1:$d nfs4" "127.0.0.1:$d/./ vers=3 127.0.0.1:$d nfs" \
	"127.0.0.1:/ vers=4.2 127.0.0.1:/ nfs4"; do
	read -r given vers want_src want_type <<<"$s"
	expect_exit 0 vm attach --type nfs --export "$given" --volume v --owner o --option "$vers" \
		--option proto=tcp || continue
	mp=$(vm path --type nfs --export "$given")
	is "$(fstype_at "$mp") $(mount_source "$mp")" "$want_type $want_src" "$given $vers: the kernel shows $want_type $want_src"
	expect_exit 0 vm detach --type nfs --export "$given" --volume v --owner o
	is "$(mounts_at "$mp")" 0 "$given $vers: unmounted by the detach"
done

is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted under the base directory"
done_testing
