#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# CWE-77/78/88/707 for the network drivers, end to end: hostile exports and options for every
# helper driver are refused by the command with exit 65, nothing changes on the host, and no
# helper is ever started (every execve of the attempt is traced: only volmount itself runs).
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

command -v strace >/dev/null || { [ -n "${CI:-}" ] && bail_out "strace is missing"; skip_all "no strace"; }

# A credentials file that passes every check, so refusals come from the export or option.
key=$VT_TMP/key
: >"$key"
chmod 0600 "$key"

# driver|export|option (option may be empty)
cases=(
	"sshfs|-oProxyCommand=sh:/x|"
	"sshfs|host:/p -oProxyCommand=x|"
	"sshfs|host;id:/p|"
	"sshfs|host:/p;id|"
	"sshfs|\$(id)@host:/p|"
	"sshfs|\`id\`@host:/p|"
	"sshfs|host:/p/../../etc|"
	"sshfs|host:/p%00|"
	"sshfs|hоst:/p|"
	"sshfs|host:/p|ssh_command=sh -c id"
	"sshfs|host:/p|ProxyCommand=nc x 22"
	"sshfs|host:/p|ro,ssh_command=x"
	"sshfs|host:/p|IdentityFile=$key,ProxyCommand=x"
	"glusterfs|-h:/vol|"
	"glusterfs|h1,-h2:/vol|"
	"glusterfs|host:/vol|backup-volfile-servers=evil"
	"glusterfs|host:/vol|log-file=/etc/passwd"
	"nfs|host:/p|suid"
	"nfs|host:/p|exec"
	"nfs|host:/p|remount"
	"nfs|host:/p\$(reboot)|"
	"nfs|host:/p|vers=4,helper=/bin/sh"
	"cifs|//host/share|password=hunter2"
	"cifs|//host/share|username=u%pass"
	"cifs|//-host/share|credentials=$key"
	"cifs|//host/share/../x|credentials=$key"
	"quobyte|quobyte://host/-vol|"
	"quobyte|host/vol;id|"
	"cephfs|mon1:/p|secret=AQD"
	"cephfs|mon1:/p|secretfile=$key,mon_addr=x"
	"cephfs|-mon:/p|"
)
long=$(printf 'a%.0s' $(seq 5000))
cases+=("sshfs|host:/$long|" "nfs|host:/$long|" "glusterfs|host:/$long|")

snapshot_host "$VT_TMP/before"
n=0
for c in "${cases[@]}"; do
	IFS='|' read -r drv exp opt <<<"$c"
	args=(attach --type "$drv" --export "$exp" --volume v --owner o)
	[ -n "$opt" ] && args+=(--option "$opt")
	trace=$VT_TMP/trace.$n
	# LeakSanitizer cannot run under ptrace: in the ASan build, leave leaks to the other tests.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -qq -e trace=execve -o "$trace" "$VOLMOUNT_BIN" --state-dir "$STATE_DIR" \
		--base-dir "$BASE_DIR" --run-dir "$RUN_DIR" "${args[@]}" >/dev/null 2>"$VT_TMP/err"
	rc=$?
	is "$rc" 65 "$drv case $n (${exp:0:40}) ${opt:0:40}: exit 65"
	is "$(grep -c 'execve(' "$trace")" 1 "$drv case $n: no helper started (only volmount ran)"
	is "$(wc -l <"$VT_TMP/err")" 1 "$drv case $n: one line on stderr"
	n=$((n + 1))
done
snapshot_host "$VT_TMP/after"
same_snapshot "$VT_TMP/before" "$VT_TMP/after" "$n hostile network requests changed nothing"
done_testing
