# shellcheck shell=bash
# vmlib.sh - sourced by the guest tests (tests/vm/guest/test-*.sh) after tests/integration/lib.sh:
# the loopback NFS and Samba servers of the guest, started once per boot and shared by the
# tests of that boot. Everything runs inside the guest, as root; the guest has no NIC.
# shellcheck source=../netfs-lib.sh
. /host/netfs-lib.sh

SRV=${SRV:-/srv/ext4}         # exported trees live on an ext4 of their own (a loop file)
SMB_ROOT=${SMB_ROOT:-$SRV/smb} # the Samba shares s1..s4 are $SMB_ROOT/s1..s4
SMB_USER=vmtester
CIFS_CRED=/root/cifs.cred
PROBE_TIMEOUT=5

# The password is made up per boot: it must never show in any process's argv or environment.
SMB_PASS_FILE=/run/vmtest-smb-pass
[ -s "$SMB_PASS_FILE" ] || echo "vmpw-$(cut -c1-8 /proc/sys/kernel/random/uuid)-secret" >"$SMB_PASS_FILE"
SMB_PASS=$(cat "$SMB_PASS_FILE")

# srv_up: the ext4 holding the exports (once per boot; SRV may point elsewhere, e.g. at a disk
# that survives a reboot, in which case the caller mounts it).
srv_up() {
	[ "$SRV" = /srv/ext4 ] || { mkdir -p "$SRV"; return; }
	mountpoint -q "$SRV" && return 0
	modprobe -a loop ext4 || return 1
	mkdir -p "$SRV"
	truncate -s 512M /tmp/srv-ext4.img && mkfs.ext4 -q -F /tmp/srv-ext4.img &&
		mount -o loop /tmp/srv-ext4.img "$SRV"
}

# nfs_up: nfsd, mountd, statd, rpcbind (netfs-lib.sh); restarts the kernel server if a test
# stopped it.
nfs_up() {
	srv_up || return 1
	if [ ! -e /run/vmtest-nfs-up ]; then
		nfs_server_start >/tmp/nfs-server.log 2>&1 || { cat /tmp/nfs-server.log; return 1; }
		touch /run/vmtest-nfs-up
	fi
	nfsd_start
}
nfsd_start() {
	[ "$(cat /proc/fs/nfsd/threads 2>/dev/null)" != 0 ] && return 0
	rpc.nfsd 4 || return 1
	{ echo Y >/proc/fs/nfsd/v4_end_grace; } 2>/dev/null
	return 0
}
nfsd_stop() { rpc.nfsd 0; }

# export_dir NAME [v6]: creates $SRV/NAME and exports it to the guest itself over 127.0.0.1,
# and over ::1 too with "v6"; prints the directory.
export_dir() {
	local d=$SRV/$1 o=rw,sync,no_subtree_check,no_root_squash
	mkdir -p "$d" || return 1
	grep -v "^$d " /etc/exports >/etc/exports.new
	if [ "${2:-}" = v6 ]; then
		echo "$d 127.0.0.1($o) ::1($o)" >>/etc/exports.new
	else
		echo "$d 127.0.0.1($o)" >>/etc/exports.new
	fi
	mv /etc/exports.new /etc/exports
	exportfs -ra || return 1
	printf '%s\n' "$d"
}
unexport_dir() { exportfs -u "127.0.0.1:$SRV/$1"; }
reexport_dir() { exportfs -ra; }

# smb_up: smbd on 127.0.0.1:445 with the shares s1..s4, the user and the credentials file
# (root's, mode 0600) volmount passes to mount.cifs by name.
smb_up() {
	srv_up || true
	if ! pidof smbd >/dev/null; then
		if [ -e /etc/samba/smb.conf.vmtest ]; then
			smbd -D || return 1
			wait_port 445 300 || return 1
		else
			samba_start s1 "$SMB_ROOT/s1" "$SMB_USER" "$SMB_PASS" "s2:$SMB_ROOT/s2" \
				"s3:$SMB_ROOT/s3" "s4:$SMB_ROOT/s4" >/tmp/smb-start.log 2>&1 ||
				{ cat /tmp/smb-start.log; return 1; }
			touch /etc/samba/smb.conf.vmtest
		fi
	fi
	(umask 077 && printf 'username=%s\npassword=%s\n' "$SMB_USER" "$SMB_PASS" >"$CIFS_CRED")
	chmod 0600 "$CIFS_CRED"
}
smb_kill() { local p; for p in $(pidof smbd); do kill -KILL "$p"; done; }

# use_config KEY=VALUE...: a config file for every later vm call (probe_timeout and friends).
use_config() {
	local kv
	: >"$VT_TMP/volmount.conf"
	for kv in "$@"; do
		printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" >>"$VT_TMP/volmount.conf"
	done
	chmod 0644 "$VT_TMP/volmount.conf"
	VM_ARGS=(--config "$VT_TMP/volmount.conf" --state-dir "$STATE_DIR" --base-dir "$BASE_DIR" --run-dir "$RUN_DIR")
}

# check_bound: sets CHECK_BOUND_MS, the bound on a check with a hung or dead server: the
# README's "probe_timeout plus about a second", plus what this guest needs for the same check
# when every share is healthy (measured here, now, twice, the slower counts). On a real host
# that baseline is a few milliseconds; under TCG it is about a second (process start, ledger,
# one fork per probe), and more on a loaded host, which is why it is measured, not assumed.
check_bound() {
	local a b
	vm_in_time 60 --json check
	a=$ELAPSED_MS
	[ "$LAST_RC" = 0 ] || diag "baseline check: exit $LAST_RC: $LAST_OUT $LAST_ERR"
	vm_in_time 60 --json check
	b=$ELAPSED_MS
	[ "$b" -gt "$a" ] && a=$b
	CHECK_BOUND_MS=$(((PROBE_TIMEOUT + 1) * 1000 + a))
	diag "check of the healthy shares: $a ms (slower of two); bound with a fault: $CHECK_BOUND_MS ms"
}

# mount_id_at PATH: the mount id (mountinfo's first field) of the top mount at PATH.
mount_id_at() {
	MP=$1 awk "$_VT_AWK_UNESC"'unesc($5) == ENVIRON["MP"] { id = $1 } END { print id }' /proc/self/mountinfo
}
# super_opts_at PATH: the superblock options of the top mount at PATH.
super_opts_at() {
	mountinfo_at "$1" | tail -n 1 | awk '{ for (k = 7; k <= NF; k++) if ($k == "-") { print $(k + 3); exit } }'
}

# state_of MOUNTPOINT JSON: the share's state in a list/check --json document.
state_of() { MP=$1 jq -r '.shares[] | select(.mountpoint == env.MP) | .state' <<<"$2"; }
errno_of() { MP=$1 jq -r '.shares[] | select(.mountpoint == env.MP) | .errno' <<<"$2"; }

# expect_list_mount_id MP: list --json records the kernel's mount id for the share at MP.
expect_list_mount_id() {
	local j id
	j=$(share_json "$1")
	id=$(mount_id_at "$1")
	is "$(jq -r .mount_id <<<"$j")" "${id:-none}" "list records the mount id the kernel shows ($id)"
	is "$(jq -r .state <<<"$j")" mounted "list shows the share as mounted"
}

# vm_in_time SECONDS ARGS...: volmount ARGS under in_time (stdout in LAST_OUT, stderr in
# LAST_ERR, status in LAST_RC).
vm_in_time() {
	local secs=$1
	shift
	in_time "$secs" "$VOLMOUNT_BIN" "${VM_ARGS[@]}" "$@"
	LAST_RC=$?
	LAST_OUT=$(cat "$VT_TMP/.in_time.out")
	LAST_ERR=$(cat "$VT_TMP/.in_time.err")
}

# in_time SECONDS PROGRAM ARGS...: runs PROGRAM (an executable, not a function; stdout/stderr
# to $VT_TMP/.in_time.{out,err}) in its own process group; if it has not finished after SECONDS,
# reports the state and kernel wait channel of every process in the group (IN_TIME_BLOCKED),
# SIGKILLs the group and returns 124. Otherwise PROGRAM's status. ELAPSED_MS is set either way,
# measured with bash builtins only (no date, no sleep: a fork costs tens of ms under TCG).
# Whatever hangs in the kernel here is killable (TASK_KILLABLE).
# in_time_state PID: ST = the process state letter, empty once it is reaped (builtins only).
in_time_state() {
	ST=
	read -r _ _ ST _ 2>/dev/null <"/proc/$1/stat" || ST=
}
in_time() {
	local secs=$1 t0 pid rc tick
	shift
	[ -p "$VT_TMP/.tick" ] || mkfifo "$VT_TMP/.tick"
	exec {tick}<>"$VT_TMP/.tick"
	t0=${EPOCHREALTIME/./}
	setsid "$@" >"$VT_TMP/.in_time.out" 2>"$VT_TMP/.in_time.err" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && [ $((${EPOCHREALTIME/./} - t0)) -lt $((secs * 1000000)) ]; do
		read -r -t 0.02 -u "$tick" _ || true
		# a zombie answers kill -0 too: it has finished
		in_time_state "$pid"
		[ "$ST" = Z ] && break
	done
	ELAPSED_MS=$(((${EPOCHREALTIME/./} - t0) / 1000))
	exec {tick}>&-
	in_time_state "$pid"
	if [ -n "$ST" ] && [ "$ST" != Z ]; then
		# shellcheck disable=SC2034 # read by the tests
		IN_TIME_BLOCKED=$(ps -e -o pgid=,pid=,stat=,wchan:32=,args= | awk -v g="$pid" '$1 == g { $1 = ""; print }')
		/usr/bin/kill -KILL -- "-$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid"
	rc=$?
	return $rc
}
