#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Guest test (Debian 12's kernel, tests/vm): concurrent callers on real nfs (v3 and v4.2) and
# cifs shares. Per share, 4 processes attach and detach volumes of their own in a loop (so
# the share is mounted and unmounted many times under contention), then all attach at once and
# all detach at once, while a sampler watches the mount table: never a stacked mount, never a
# second mount; afterwards nothing is mounted and the ledger is empty.
# shellcheck disable=SC2317
set -u
. /host/t/lib.sh
. /host/t/vmlib.sh
in_private_ns "$0" "$@"

check "fixture: the NFS server runs" nfs_up
check "fixture: Samba runs" smb_up
W=4
ROUNDS=${VT_ROUNDS:-4}
mkdir -p "$SMB_ROOT/s4"

# worker DRIVER EXPORT ID OPTION...: ROUNDS x (attach w<ID>, detach w<ID>); counts failures.
worker() {
	local drv=$1 exp=$2 id=$3 i bad=0
	shift 3
	for ((i = 0; i < ROUNDS; i++)); do
		vm attach --type "$drv" --export "$exp" --volume "w$id" --owner "o$id" "$@" \
			>/dev/null 2>>"$VT_TMP/w$id.err" || bad=$((bad + 1))
		vm detach --type "$drv" --export "$exp" --volume "w$id" --owner "o$id" \
			>/dev/null 2>>"$VT_TMP/w$id.err" || bad=$((bad + 1))
	done
	echo "$bad" >"$VT_TMP/w$id.bad"
}

for spec in "nfs 3" "nfs 4.2" "cifs -"; do
	read -r drv vers <<<"$spec"
	if [ "$drv" = nfs ]; then
		d=$(export_dir "conc-$vers") || bail_out "cannot export"
		exp=127.0.0.1:$d
		opts=(--option "vers=$vers")
		name="nfs $vers"
	else
		exp=//127.0.0.1/s4
		opts=(--option "credentials=$CIFS_CRED")
		name=cifs
	fi
	mp=$(vm path --type "$drv" --export "$exp")
	rm -f "$VT_TMP"/w*.bad "$VT_TMP"/w*.err

	start_stack_sampler
	pids=()
	for ((w = 0; w < W; w++)); do
		worker "$drv" "$exp" "$w" "${opts[@]}" &
		pids+=($!)
	done
	wait "${pids[@]}" # not the sampler
	stop_stack_sampler
	bad=$(cat "$VT_TMP"/w*.bad 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
	is "$bad" 0 "$name: $W processes x $ROUNDS rounds of attach+detach: no failure"
	[ "$bad" = 0 ] || diag "$(cat "$VT_TMP"/w*.err | head -20)"
	is "$(mounts_at "$mp")" 0 "$name: nothing mounted after the last detach"
	check "$name: the mountpoint directory is gone" test ! -e "$mp"

	# all attach at once, then all detach at once
	start_stack_sampler
	pids=()
	for ((w = 0; w < W; w++)); do
		vm attach --type "$drv" --export "$exp" --volume "all$w" --owner o "${opts[@]}" \
			>/dev/null 2>"$VT_TMP/a$w.err" &
		pids+=($!)
	done
	wait "${pids[@]}"
	is "$(mounts_at "$mp")" 1 "$name: $W concurrent first attaches: mounted exactly once"
	is "$(n_attached "$mp")" "$W" "$name: $W attachments listed"
	expect_list_mount_id "$mp"
	pids=()
	for ((w = 0; w < W; w++)); do
		vm detach --type "$drv" --export "$exp" --volume "all$w" --owner o >/dev/null \
			2>"$VT_TMP/d$w.err" &
		pids+=($!)
	done
	wait "${pids[@]}"
	stop_stack_sampler
	is "$(mounts_at "$mp")" 0 "$name: $W concurrent last detaches: unmounted"
	is "$(ledger_attachments)$(ledger_shares)" 00 "$name: the ledger is empty"
	cat "$VT_TMP"/[ad]?.err 2>/dev/null | head -5 | while read -r l; do diag "$l"; done
done
is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted under the base directory"
done_testing
