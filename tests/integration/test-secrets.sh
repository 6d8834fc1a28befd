#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# CWE-798/214: secrets never show. While real sshfs and glusterfs shares are attached, used,
# refused and detached, a background sampler reads every /proc/*/cmdline and /proc/*/environ
# every few ms: the private key's body never appears in any of them, and the caller's canary
# variables (VOLMOUNT_TEST_SECRET, SSH_AUTH_SOCK) never appear in a helper's, because the
# executor gives helpers a clean environment (the sshfs daemon has only PATH, LANG and the
# share's mark VOLMOUNT_SHARE=<hash>, which is the share's public id, nothing more). Nor does
# the key appear in `list --json`, the ledger or anything volmount prints.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/net.sh
. "$(dirname "$0")/net.sh"
in_private_ns "$0" "$@"

sshd_up
gluster_up
check "fixture: root logs in to the test sshd with the client key" ssh_works

srv=$VT_TMP/srv
mkdir -p "$srv/v1"
exp=root@127.0.0.1:$srv
gexp=$GLUSTER_HOST:/$GLUSTER_VOL

# The secrets: every body line of the private key, and the content of a credentials file
# that is not a key at all (ssh refuses it; its content must not travel either).
awk '!/^-----/ && length($0) >= 16' "$SSH_KEY" >"$VT_TMP/key.pat"
echo "vt-secret-password-4711-not-a-key" >"$SSH_DIR/not-a-key"
chmod 0600 "$SSH_DIR/not-a-key"
cat "$SSH_DIR/not-a-key" >>"$VT_TMP/key.pat"
[ "$(wc -l <"$VT_TMP/key.pat")" -ge 3 ] || bail_out "could not read the key's body"
printf '%s\n' canary-xyz canary-sock >"$VT_TMP/canary.pat"

# with_canary CMD...: runs CMD with the canaries in its environment (and only CMD: the test's
# own shell never exports them, so no other process inherits them).
with_canary() {
	VOLMOUNT_TEST_SECRET=canary-xyz SSH_AUTH_SOCK=/tmp/canary-sock "$@"
}

# vmc CODES ARGS...: expect_exit CODES for volmount ARGS run with the canaries; everything it
# prints is kept for the final check.
vmc() {
	local want=$1
	shift
	expect_exit "$want" with_canary vm "$@"
	printf '%s\n%s\n' "$LAST_OUT" "$LAST_ERR" >>"$VT_TMP/vm-output"
}

# patterns_changed: the sampler's combined pattern file, replaced atomically.
patterns_changed() {
	cat "$VT_TMP/key.pat" "$VT_TMP/canary.pat" >"$VT_TMP/all.pat.new" &&
		mv "$VT_TMP/all.pat.new" "$VT_TMP/all.pat"
}
patterns_changed

# scan_once OUT: one pass over every process. Appends "key PID COMM FILE" for a key line in any
# cmdline or environ, "canary PID COMM FILE ..." for a canary in any cmdline or in the environ
# of anything but volmount itself (and the timeout(1) that runs it), and "caller PID COMM" when
# the canary is seen in volmount's own environment (the proof that the sampler can see it).
# A file is read again after its process's name, so a child of volmount that was exec'ed in
# between is judged by its new environment.
scan_once() {
	local f pid comm
	while IFS= read -r f; do
		pid=${f#/proc/}
		pid=${pid%%/*}
		comm='?'
		read -r comm 2>/dev/null <"/proc/$pid/comm"
		if grep -a -q -F -f "$VT_TMP/key.pat" "$f" 2>/dev/null; then
			echo "key $pid $comm $f" >>"$1"
		fi
		grep -a -q -F -f "$VT_TMP/canary.pat" "$f" 2>/dev/null || continue
		case "$comm $f" in
		"volmount "*/environ | "timeout "*/environ)
			echo "caller $pid $comm" >>"$1"
			;;
		*)
			echo "canary $pid $comm $f $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-200)" >>"$1"
			;;
		esac
	done < <(grep -a -l -F -f "$VT_TMP/all.pat" /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null)
	return 0
}

# The sampler can see what it looks for: a process holding a key line in its environment and a
# canary in its environment are both found.
KEYLINE=$(sed -n 3p "$VT_TMP/key.pat") sleep 30 &
ctl=$!
VOLMOUNT_TEST_SECRET=canary-xyz sleep 30 &
ctl2=$!
sleep 0.2
: >"$VT_TMP/control"
scan_once "$VT_TMP/control"
check "control: the sampler finds a key line in an environment" grep -q "^key $ctl sleep " "$VT_TMP/control"
check "control: the sampler finds a canary in an environment" grep -q "^canary $ctl2 sleep " "$VT_TMP/control"
kill "$ctl" "$ctl2"
wait "$ctl" "$ctl2" 2>/dev/null

# The background sampler: scan_once every few ms until told to stop.
: >"$VT_TMP/hits"
(
	n=0
	while [ ! -e "$VT_TMP/sampler.stop" ] && [ "$n" -lt 100000 ]; do
		scan_once "$VT_TMP/hits"
		n=$((n + 1))
		echo "$n" >"$VT_TMP/secrets.count"
		sleep 0.002
	done
) &
sampler=$!
samples() {
	local n=
	read -r n 2>/dev/null <"$VT_TMP/secrets.count"
	case "$n" in
	'' | *[!0-9]*) echo 0 ;;
	*) echo "$n" ;;
	esac
}
# wait_samples N: until the sampler has made N more passes (at most ~10 s).
wait_samples() {
	local target=$(($(samples) + $1)) _
	for _ in $(seq 1000); do
		[ "$(samples)" -ge "$target" ] && return 0
		sleep 0.01
	done
	return 1
}
wait_samples 3 || bail_out "the sampler does not run"

# environ_names PID: the names of PID's environment variables, sorted, on one line.
environ_names() {
	tr '\0' '\n' 2>/dev/null <"/proc/$1/environ" | sed 's/=.*//' | LC_ALL=C sort | tr '\n' ' ' |
		sed 's/ $//'
}

# only_names PID ALLOWED DESC: PID's environment holds PATH and nothing outside ALLOWED.
only_names() {
	local names n bad=
	names=$(environ_names "$1")
	for n in $names; do
		case " $2 " in
		*" $n "*) ;;
		*) bad="$bad $n" ;;
		esac
	done
	case " $names " in
	*" PATH "*) ;;
	*) bad="$bad (no PATH)" ;;
	esac
	if [ -z "$bad" ]; then
		ok "$3 ($names)"
	else
		not_ok "$3"
		diag "environment of $1 ($(cat "/proc/$1/comm" 2>/dev/null)): $names"
	fi
}

# ---- sshfs ----

vmc 0 attach --type sshfs --export "$exp" --volume v1 --owner o1 "${SSHFS_OPTS[@]}"
dev=$LAST_OUT
mp=${dev%/v1}
is "$(fstype_at "$mp")" fuse.sshfs "the sshfs share is mounted"
echo data >"$dev/f" 2>/dev/null
is "$(cat "$srv/v1/f" 2>/dev/null)" data "and works"
vmc 0 attach --type sshfs --export "$exp" --volume v1 --owner o2 "${SSHFS_OPTS[@]}"
check "the sampler ran while sshfs was mounted" wait_samples 20

sshfs_pid=$(net_live_pids sshfs | head -n 1)
ssh_pid=$(net_live_pids ssh | head -n 1)
if [ -n "$sshfs_pid" ]; then
	only_names "$sshfs_pid" "PATH LANG VOLMOUNT_SHARE" \
		"the sshfs daemon's environment holds only PATH, LANG and the share's mark"
	is "$(tr '\0' '\n' <"/proc/$sshfs_pid/environ" | sed -n 's/^VOLMOUNT_SHARE=//p')" \
		"${mp##*/}" "the mark is the share's hash (its mountpoint's name)"
	check "the sshfs daemon's command line names no key content" \
		test -z "$(tr '\0' '\n' <"/proc/$sshfs_pid/cmdline" | grep -F -f "$VT_TMP/key.pat")"
else
	not_ok "an sshfs daemon runs"
fi
if [ -n "$ssh_pid" ]; then
	only_names "$ssh_pid" "PATH LANG VOLMOUNT_SHARE" \
		"its ssh's environment holds only PATH, LANG and the share's mark"
else
	not_ok "sshfs's ssh process runs"
fi

# ---- glusterfs ----

vmc 0 attach --type glusterfs --export "$gexp" --volume g1 --owner o1
gmp=${LAST_OUT%/g1}
is "$(fstype_at "$gmp")" fuse.glusterfs "the glusterfs share is mounted"
check "the sampler ran while glusterfs was mounted" wait_samples 20
gpid=$(for p in $(net_pids_with "$gmp"); do
	[ "$(cat "/proc/$p/comm" 2>/dev/null)" = glusterfs ] && echo "$p"
done | head -n 1)
if [ -n "$gpid" ]; then
	# mount.glusterfs is a shell script: the shell adds PWD (the executor's cwd, "/").
	only_names "$gpid" "PATH LANG PWD VOLMOUNT_SHARE" \
		"the glusterfs client's environment holds only PATH, LANG, the share's mark (and PWD)"
else
	not_ok "a glusterfs client runs"
fi

# ---- what volmount shows and keeps, while mounted ----

vm --json list >"$VT_TMP/list.json" 2>&1
printf '%s\n' "$(cat "$VT_TMP/list.json")" >>"$VT_TMP/vm-output"
is "$(jq '.shares | length' "$VT_TMP/list.json")" 2 "list --json shows both shares"
vmc 0 status
vmc 0 list

# ---- refused and failing attaches, with the canaries set ----

FAIL_CODES='64|65|66|67|68|69|70|71|72|73|74|75|76|77|78'
badkey() {
	vmc "$1" attach --type sshfs --export "$exp" --volume v9 --owner o9 --option "port=$SSH_PORT" \
		--option "IdentityFile=$2" --option "UserKnownHostsFile=$SSH_KNOWN_HOSTS" \
		--option StrictHostKeyChecking=yes
}
cp "$SSH_KEY" "$SSH_DIR/key0644"
chmod 0644 "$SSH_DIR/key0644"
badkey 77 "$SSH_DIR/key0644"
badkey "$FAIL_CODES" "$SSH_DIR/not-a-key"
ssh-keygen -q -t ed25519 -N '' -C stranger -f "$SSH_DIR/stranger_key" </dev/null
chmod 0600 "$SSH_DIR/stranger_key"
awk '!/^-----/ && length($0) >= 16' "$SSH_DIR/stranger_key" >>"$VT_TMP/key.pat"
patterns_changed
badkey "$FAIL_CODES" "$SSH_DIR/stranger_key"
vmc "$FAIL_CODES" attach --type glusterfs --export "$GLUSTER_HOST:/novol" --volume g9 --owner o9

# ---- detach everything ----

vmc 0 detach --type sshfs --export "$exp" --volume v1 --owner o1
vmc 0 detach --type sshfs --export "$exp" --volume v1 --owner o2
vmc 0 detach --type glusterfs --export "$gexp" --volume g1 --owner o1
check "the sshfs process is gone" net_wait_gone sshfs 5
check "the glusterfs client is gone" net_wait_gone glusterfs 5
wait_samples 3

touch "$VT_TMP/sampler.stop"
wait "$sampler"
n=$(samples)
if [ "$n" -ge 50 ]; then
	ok "the sampler made $n passes"
else
	not_ok "the sampler made only $n passes"
fi
if grep -q '^key ' "$VT_TMP/hits"; then
	not_ok "no key content in any process's command line or environment"
	diag "$(grep '^key ' "$VT_TMP/hits" | awk '!seen[$2]++' | head -20)"
else
	ok "no key content in any process's command line or environment"
fi
if grep -q '^canary ' "$VT_TMP/hits"; then
	not_ok "the caller's canary variables reach no helper and no command line"
	diag "$(grep '^canary ' "$VT_TMP/hits" | awk '!seen[$2]++' | head -20)"
else
	ok "the caller's canary variables reach no helper and no command line"
fi
check "the sampler saw the canary in volmount's own environment (it could have seen a leak)" \
	grep -q '^caller [0-9]* volmount' "$VT_TMP/hits"

# ---- and nothing kept or printed holds the key ----

if grep -a -F -f "$VT_TMP/key.pat" "$VT_TMP/vm-output" >/dev/null; then
	not_ok "volmount's output (stdout, stderr, list --json) holds no key content"
	diag "$(grep -a -F -f "$VT_TMP/key.pat" "$VT_TMP/vm-output" | head -5)"
else
	ok "volmount's output (stdout, stderr, list --json) holds no key content"
fi
ledger_sql .dump >"$VT_TMP/ledger.dump"
check "the ledger exists" test -s "$VT_TMP/ledger.dump"
if grep -a -F -f "$VT_TMP/key.pat" "$VT_TMP/ledger.dump" >/dev/null; then
	not_ok "the ledger holds no key content"
else
	ok "the ledger holds no key content"
fi
if grep -a -F -f "$VT_TMP/key.pat" -r "$STATE_DIR" "$RUN_DIR" >/dev/null 2>&1; then
	not_ok "no file in the state or run directory holds key content"
else
	ok "no file in the state or run directory holds key content"
fi
if grep -a -q -F -f "$VT_TMP/canary.pat" "$VT_TMP/vm-output" "$VT_TMP/ledger.dump"; then
	not_ok "neither the output nor the ledger holds the canaries"
else
	ok "neither the output nor the ledger holds the canaries"
fi

is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted under the base directory"
done_testing
