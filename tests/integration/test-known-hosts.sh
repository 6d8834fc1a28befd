#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Issue 9, item 3: sshfs's UserKnownHostsFile names any path, and with
# StrictHostKeyChecking=accept-new or no, root's ssh created or appended to it (/etc/nologin
# blocks every login). Now: those two modes are refused (65) and nothing is created or
# written; the known-hosts file is checked like a credentials file on its fd (a regular file
# owned by root, not writable by group or others: else 77; missing: 65); and a mount never
# writes a host key, even when /etc/ssh/ssh_config asks for accept-new, CheckHostIP and
# UpdateHostKeys and the server offers a key known_hosts lacks. Every refusal changes nothing:
# no directory, ledger row, mount or ssh process.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/net.sh
. "$(dirname "$0")/net.sh"
in_private_ns "$0" "$@"

sshd_up
check "fixture: root logs in to the test sshd with the client key" ssh_works

srv=$VT_TMP/srv
mkdir -p "$srv"
exp=root@127.0.0.1:$srv
mp=$(vm path --type sshfs --export "$exp")
[ -n "$mp" ] || bail_out "path printed nothing"

# attach_kh KNOWN_HOSTS MODE...: attach with that UserKnownHostsFile (and the given
# StrictHostKeyChecking, if any).
attach_kh() {
	local kh=$1
	shift
	vm attach --type sshfs --export "$exp" --volume v --owner o --option "port=$SSH_PORT" \
		--option "IdentityFile=$SSH_KEY" --option "UserKnownHostsFile=$kh" "$@"
}

# nothing_left BEFORE DESC: the host is as in snapshot BEFORE and no sshfs/ssh process runs.
nothing_left() {
	snapshot_host "$VT_TMP/after"
	same_snapshot "$1" "$VT_TMP/after" "$2: nothing changed (no directory, row or mount)"
	if net_wait_gone sshfs 5 && net_wait_gone ssh 5; then
		ok "$2: no sshfs or ssh process left"
	else
		not_ok "$2: no sshfs or ssh process left"
		diag "$(pgrep -a -x 'sshfs|ssh')"
	fi
}

# ---- 1. the attack: ssh told to write host keys into a file of the caller's choosing ----

victim=$VT_TMP/victim
mkdir -m 0755 "$victim"
printf 'precious\n' >"$victim/existing"
chmod 0644 "$victim/existing"
snapshot_host "$VT_TMP/before"

for mode in accept-new no; do
	expect_exit 65 attach_kh "$victim/nologin" --option "StrictHostKeyChecking=$mode"
	stderr_explains "StrictHostKeyChecking=$mode: the refusal explains itself"
	case "$LAST_ERR" in
	*StrictHostKeyChecking*) ok "StrictHostKeyChecking=$mode: the message names the option" ;;
	*) not_ok "StrictHostKeyChecking=$mode: the message names the option" && diag "$LAST_ERR" ;;
	esac
	check "StrictHostKeyChecking=$mode: the file it named was not created" test ! -e "$victim/nologin"
	nothing_left "$VT_TMP/before" "StrictHostKeyChecking=$mode, new file"

	expect_exit 65 attach_kh "$victim/existing" --option "StrictHostKeyChecking=$mode"
	is "$(cat "$victim/existing")" precious "StrictHostKeyChecking=$mode: an existing file is not appended to"
	nothing_left "$VT_TMP/before" "StrictHostKeyChecking=$mode, existing file"
done
is "$(ls -A "$victim" | tr '\n' ' ')" "existing " "nothing was created next to the victim file"

# ---- 2. known-hosts files volmount must refuse, before running anything ----

kh() { # kh NAME: a copy of the good known_hosts, root-owned 0644, at $SSH_DIR/NAME
	cp "$SSH_KNOWN_HOSTS" "$SSH_DIR/$1"
	chmod 0644 "$SSH_DIR/$1"
	printf '%s\n' "$SSH_DIR/$1"
}

f=$(kh kh-nobody)
chown 65534:65534 "$f"
expect_exit 77 attach_kh "$f" --option StrictHostKeyChecking=yes
stderr_explains "a known-hosts file owned by another user is refused with a reason"
nothing_left "$VT_TMP/before" "UserKnownHostsFile owned by uid 65534"

for m in 0664 0646 0666; do
	f=$(kh "kh-$m")
	chmod "$m" "$f"
	expect_exit 77 attach_kh "$f" --option StrictHostKeyChecking=yes
	stderr_explains "a known-hosts file of mode $m is refused with a reason"
	nothing_left "$VT_TMP/before" "UserKnownHostsFile mode $m"
done

ln -s "$SSH_KNOWN_HOSTS" "$SSH_DIR/kh-link"
expect_exit 77 attach_kh "$SSH_DIR/kh-link" --option StrictHostKeyChecking=yes
stderr_explains "a known-hosts file that is a symlink (to a good file) is refused with a reason"
nothing_left "$VT_TMP/before" "UserKnownHostsFile is a symlink"

mkdir -m 0755 "$SSH_DIR/kh-dir"
expect_exit 77 attach_kh "$SSH_DIR/kh-dir" --option StrictHostKeyChecking=yes
nothing_left "$VT_TMP/before" "UserKnownHostsFile is a directory"

expect_exit 77 attach_kh /dev/null --option StrictHostKeyChecking=yes
nothing_left "$VT_TMP/before" "UserKnownHostsFile is /dev/null"

expect_exit 65 attach_kh "$SSH_DIR/kh-missing" --option StrictHostKeyChecking=yes
stderr_explains "a missing known-hosts file is refused with a reason"
check "the missing known-hosts file was not created" test ! -e "$SSH_DIR/kh-missing"
nothing_left "$VT_TMP/before" "UserKnownHostsFile missing"

# ---- 3. a mount never writes a host key ----
# A second sshd that also offers an ECDSA host key, which no known_hosts file holds, and a
# system ssh_config (private to this namespace) that asks ssh to learn keys in every way.
ssh-keygen -q -t ecdsa -N '' -C vt-host2 -f "$SSH_DIR/host_key2" </dev/null ||
	bail_out "ssh-keygen (second host key) failed"
port2=$(_net_free_port 127.0.0.1 $((SSH_PORT + 1)))
sed -e "s/^Port .*/Port $port2/" -e "s|^PidFile .*|PidFile $SSH_DIR/sshd2.pid|" \
	"$SSH_DIR/sshd_config" >"$SSH_DIR/sshd2_config"
printf 'HostKey %s\n' "$SSH_DIR/host_key2" >>"$SSH_DIR/sshd2_config"
setsid -f /usr/sbin/sshd -f "$SSH_DIR/sshd2_config" -E "$SSH_DIR/sshd2.log" </dev/null >/dev/null 2>&1 ||
	bail_out "the second sshd did not start"
_NET_PIDFILES+=("$SSH_DIR/sshd2.pid")
_net_wait_port 127.0.0.1 "$port2" || bail_out "the second sshd is not listening"

printf '[127.0.0.1]:%s %s\n' "$port2" "$(cut -d' ' -f1,2 "$SSH_DIR/host_key.pub")" >"$SSH_DIR/kh2"
chmod 0644 "$SSH_DIR/kh2"
cat >"$VT_TMP/ssh_config" <<EOC
Host *
    StrictHostKeyChecking accept-new
    CheckHostIP yes
    UpdateHostKeys yes
    HashKnownHosts no
EOC
chmod 0644 "$VT_TMP/ssh_config"
mount --bind "$VT_TMP/ssh_config" /etc/ssh/ssh_config || bail_out "cannot bind-mount ssh_config"
# Root's default known_hosts (the private home of net.sh) knows the server too.
mkdir -p -m 0700 "$VT_TMP/home/.ssh"
cp "$SSH_DIR/kh2" "$VT_TMP/home/.ssh/known_hosts"
chmod 0644 "$VT_TMP/home/.ssh/known_hosts"

# The fixture's proof that this ssh_config would make ssh write: a plain ssh login adds keys.
cp "$SSH_DIR/kh2" "$VT_TMP/kh-probe"
ssh -o BatchMode=yes -o "UserKnownHostsFile=$VT_TMP/kh-probe" -o "IdentityFile=$SSH_KEY" \
	-o IdentitiesOnly=yes -o ConnectTimeout=5 -p "$port2" root@127.0.0.1 true </dev/null >/dev/null 2>&1
if cmp -s "$SSH_DIR/kh2" "$VT_TMP/kh-probe"; then
	diag "this ssh does not update known_hosts by itself here: part 3 proves less"
else
	ok "fixture: with this ssh_config, a plain ssh login writes host keys"
fi

sum() { sha256sum "$1" | cut -d' ' -f1; }
k2=$(sum "$SSH_DIR/kh2")
kd=$(sum "$VT_TMP/home/.ssh/known_hosts")
attach2() { # attach2 VOLUME [--option ...]: the second sshd
	local v=$1
	shift
	vm attach --type sshfs --export "$exp" --volume "$v" --owner o --option "port=$port2" \
		--option "IdentityFile=$SSH_KEY" "$@"
}
expect_exit 0 attach2 v --option "UserKnownHostsFile=$SSH_DIR/kh2"
is "$(fstype_at "$mp")" fuse.sshfs "a good known-hosts file mounts"
expect_exit 0 vm detach --type sshfs --export "$exp" --volume v --owner o
is "$(sum "$SSH_DIR/kh2")" "$k2" "the named known-hosts file is unchanged after a mount"
check "sshfs is gone" net_wait_gone sshfs 5
expect_exit 0 attach2 w
is "$(fstype_at "$mp")" fuse.sshfs "with root's default known_hosts it mounts too"
expect_exit 0 vm detach --type sshfs --export "$exp" --volume w --owner o
is "$(sum "$VT_TMP/home/.ssh/known_hosts")" "$kd" "root's default known_hosts is unchanged after a mount"
is "$(ls -A "$VT_TMP/home/.ssh" | tr '\n' ' ')" "known_hosts " "nothing else was written to root's ~/.ssh"
check "no sshfs or ssh process is left" net_wait_gone sshfs 5
is "$(ledger_attachments)$(ledger_shares)" 00 "the ledger is empty again"
is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted under the base directory"
done_testing
