# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# net.sh - network fixtures for the integration tests of the helper drivers, sourced after
# lib.sh and used after in_private_ns (the test's own mount+net+pid namespace, lo up):
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/net.sh"
#   in_private_ns "$0" "$@"
#   sshd_up       # sshd on 127.0.0.1:$SSH_PORT; SSH_KEY, SSH_KNOWN_HOSTS, SSHFS_OPTS=(...)
#   gluster_up    # glusterd on 127.0.0.2, volume tvol started; GLUSTER_HOST/_VOL/_BRICK
#
# Nothing touches the host: the daemons' fixed directories (/run/sshd, /var/run/gluster,
# /var/log/glusterfs, /var/lib/glusterd) get a tmpfs of their own in the private mount
# namespace, and root's home directory is moved into $VT_TMP for every process of the test
# (ssh creates ~/.ssh and reads ~/.ssh/config: neither may touch or steer the host's). Daemons
# are started with setsid; net_teardown (run from the EXIT trap) kills them by pid, and the
# pid namespace's end kills whatever is left. Start sshd_up before gluster_up.
#
# A missing daemon binary skips the test, except in CI ($CI set), where it fails.

_NET_TMPFS=" "
_NET_PIDFILES=()

# net_require BIN...: every BIN is an executable, else skip (fail in CI).
net_require() {
	local b missing=
	for b in "$@"; do
		[ -x "$b" ] || missing="$missing $b"
	done
	[ -z "$missing" ] && return 0
	if [ -n "${CI:-}" ]; then
		bail_out "missing:$missing (CI must install them: see .ci/run)"
	fi
	skip_all "missing:$missing"
}

# _net_fresh_dir DIR: an empty, root-owned 0755 tmpfs directory at DIR, private to the test's
# mount namespace. A missing DIR is created inside a tmpfs mounted over its parent (only once
# per parent), so the host's directory tree is never written to.
_net_fresh_dir() {
	local d parent
	d=$(realpath -m -- "$1")
	if [ -d "$d" ]; then
		mount -t tmpfs -o mode=0755,size=64m vt-net "$d" || bail_out "cannot mount a tmpfs on $d"
	else
		parent=${d%/*}
		case "$_NET_TMPFS" in
		*" $parent "*) ;;
		*)
			[ -d "$parent" ] || bail_out "$parent does not exist"
			mount -t tmpfs -o mode=0755,size=64m vt-net "$parent" ||
				bail_out "cannot mount a tmpfs on $parent"
			_NET_TMPFS="$_NET_TMPFS$parent "
			;;
		esac
		mkdir -m 0755 "$d" || bail_out "cannot create $d"
	fi
	_NET_TMPFS="$_NET_TMPFS$d "
}

# _net_private_home: root's home directory becomes $VT_TMP/home inside the namespace (a copy
# of /etc/passwd bind-mounted over it), so ssh neither creates the host's /root/.ssh nor reads
# a ~/.ssh/config that could change how it connects.
_net_private_home() {
	[ -d "$VT_TMP/home" ] && return 0
	mkdir -m 0700 "$VT_TMP/home" || bail_out "cannot create $VT_TMP/home"
	awk -F: -v OFS=: -v h="$VT_TMP/home" '$3 == 0 { $6 = h } { print }' /etc/passwd \
		>"$VT_TMP/passwd" || bail_out "cannot copy /etc/passwd"
	chmod 0644 "$VT_TMP/passwd"
	mount --bind "$VT_TMP/passwd" /etc/passwd || bail_out "cannot bind-mount a private /etc/passwd"
}

# _net_wait_port ADDR PORT: until something listens on ADDR:PORT (at most ~10 s).
_net_wait_port() {
	local _
	for _ in $(seq 1000); do
		ss -ltnH "src $1 and sport = :$2" 2>/dev/null | grep -q . && return 0
		sleep 0.01
	done
	return 1
}

# _net_free_port ADDR FIRST: the first port from FIRST on that nothing listens on at ADDR.
_net_free_port() {
	local p=$2
	while ss -ltnH "src $1 and sport = :$p" 2>/dev/null | grep -q .; do
		p=$((p + 1))
	done
	echo "$p"
}

# net_live_pids NAME: pids of the running (not zombie) processes whose command name is NAME.
net_live_pids() {
	ps -eo pid=,stat=,comm= | awk -v n="$1" '$3 == n && $2 !~ /^Z/ { print $1 }'
}

# net_pids_with ARG: pids of running processes with the exact argument ARG in their command
# line (read from /proc, NUL-separated).
net_pids_with() {
	local f pid
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		# shellcheck disable=SC2016 # awk program
		tr '\0' '\n' 2>/dev/null <"$f" | A=$1 awk '$0 == ENVIRON["A"] { f = 1 } END { exit !f }' &&
			[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ] &&
			echo "$pid"
	done
	return 0
}

# net_daemon_pids NAME MOUNTPOINT: the live processes called NAME (sshfs, glusterfs) that serve
# MOUNTPOINT: their command line names it (glusterfs), or names the source of the mount there
# (sshfs is handed the connection volmount mounted, as /dev/fd/3, and names only the export).
net_daemon_pids() {
	local p src
	# shellcheck disable=SC2016 # awk program
	src=$(awk -v m="$2" '$5 == m { for (i = 7; $i != "-"; i++) ; s = $(i + 2) } END { print s }' \
		/proc/self/mountinfo)
	for p in $( (net_pids_with "$2"; [ -n "$src" ] && net_pids_with "$src") | sort -un); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] && echo "$p"
	done
	return 0
}

# net_wait_gone NAME [SECONDS]: waits until no live process is called NAME; 1 if some remain.
net_wait_gone() {
	local _
	for _ in $(seq $((${2:-5} * 20))); do
		[ -z "$(net_live_pids "$1")" ] && return 0
		sleep 0.05
	done
	[ -z "$(net_live_pids "$1")" ]
}

# ---- sshd on 127.0.0.1 ----

SSH_DIR=
SSH_PORT=
SSH_KEY=
SSH_KNOWN_HOSTS=
# shellcheck disable=SC2034 # used by the tests that source this file
SSHFS_OPTS=()

# sshd_up: a key-only sshd for root on 127.0.0.1 with an sftp subsystem. Sets SSH_DIR,
# SSH_PORT, SSH_KEY (the client's private key: root-owned, 0600), SSH_KNOWN_HOSTS (the host
# key, for StrictHostKeyChecking=yes) and SSHFS_OPTS (the --option arguments for attach).
sshd_up() {
	local cfg
	net_require /usr/sbin/sshd /usr/bin/ssh /usr/bin/ssh-keygen /usr/bin/sshfs
	[ -e /dev/fuse ] || bail_out "/dev/fuse is missing"
	_net_private_home
	_net_fresh_dir /run/sshd # sshd's privilege separation directory (compiled in)
	SSH_DIR=$VT_TMP/ssh
	mkdir -m 0700 "$SSH_DIR" || bail_out "cannot create $SSH_DIR"
	ssh-keygen -q -t ed25519 -N '' -C vt-host -f "$SSH_DIR/host_key" </dev/null ||
		bail_out "ssh-keygen (host key) failed"
	ssh-keygen -q -t ed25519 -N '' -C vt-client -f "$SSH_DIR/client_key" </dev/null ||
		bail_out "ssh-keygen (client key) failed"
	chown root:root "$SSH_DIR/client_key"
	chmod 0600 "$SSH_DIR/client_key"
	cp "$SSH_DIR/client_key.pub" "$SSH_DIR/authorized_keys"
	SSH_PORT=$(_net_free_port 127.0.0.1 2222)
	cfg=$SSH_DIR/sshd_config
	cat >"$cfg" <<EOF
ListenAddress 127.0.0.1
Port $SSH_PORT
HostKey $SSH_DIR/host_key
AuthorizedKeysFile $SSH_DIR/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
UseDNS no
PidFile $SSH_DIR/sshd.pid
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOF
	/usr/sbin/sshd -t -f "$cfg" || bail_out "sshd -t rejects $cfg"
	# setsid -f: the test's shell is PID 1 of the namespace, and a session leader whose
	# parent is PID 1 counts as "already daemonized" for sshd, which would never return.
	setsid -f /usr/sbin/sshd -f "$cfg" -E "$SSH_DIR/sshd.log" </dev/null >/dev/null 2>&1 ||
		bail_out "sshd did not start"
	_NET_PIDFILES+=("$SSH_DIR/sshd.pid")
	_net_wait_port 127.0.0.1 "$SSH_PORT" ||
		bail_out "sshd is not listening on 127.0.0.1:$SSH_PORT: $(tail -n 3 "$SSH_DIR/sshd.log")"
	SSH_KEY=$SSH_DIR/client_key
	SSH_KNOWN_HOSTS=$SSH_DIR/known_hosts
	printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$SSH_DIR/host_key.pub")" \
		>"$SSH_KNOWN_HOSTS"
	chmod 0644 "$SSH_KNOWN_HOSTS"
	# shellcheck disable=SC2034
	SSHFS_OPTS=(--option "port=$SSH_PORT" --option "IdentityFile=$SSH_KEY"
		--option "UserKnownHostsFile=$SSH_KNOWN_HOSTS" --option StrictHostKeyChecking=yes)
	export SSH_DIR SSH_PORT SSH_KEY SSH_KNOWN_HOSTS
}

# ssh_works: one key login as root with the fixture's key and known_hosts (the fixture's own
# check, independent of volmount).
ssh_works() {
	ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o "UserKnownHostsFile=$SSH_KNOWN_HOSTS" -o "IdentityFile=$SSH_KEY" \
		-o IdentitiesOnly=yes -o ConnectTimeout=5 -p "$SSH_PORT" root@127.0.0.1 true </dev/null
}

# ---- glusterd on 127.0.0.2 ----

GLUSTER_HOST=
GLUSTER_VOL=
GLUSTER_BRICK=
GLUSTER_DIR=

# gluster_cli ARGS...: the gluster CLI in script mode, bounded.
# Its own CLI socket: the default, /var/run/glusterd.socket, is outside the paths each test
# puts a private tmpfs on, so two tests running at once (in separate namespaces) would
# otherwise reach each other's glusterd.
gluster_cli() {
	timeout -k 5 30 gluster --mode=script --glusterd-sock="$GLUSTER_DIR/glusterd.socket" "$@"
}

# gluster_up: glusterd bound to 127.0.0.2 (the brick's host; gluster refuses 127.0.0.1 for
# bricks), a one-brick volume tvol with network.ping-timeout 5, started. Sets GLUSTER_HOST,
# GLUSTER_VOL, GLUSTER_BRICK (the brick directory: what the volume holds, seen server side).
gluster_up() {
	local _
	net_require /usr/sbin/glusterd /usr/sbin/gluster /usr/sbin/glusterfs /sbin/mount.glusterfs
	GLUSTER_HOST=127.0.0.2
	GLUSTER_VOL=tvol
	GLUSTER_DIR=$VT_TMP/gluster
	GLUSTER_BRICK=$GLUSTER_DIR/brick
	# One glusterd per network namespace; its sockets, pid files and logs have fixed paths.
	_net_fresh_dir /var/run/gluster
	_net_fresh_dir /var/log/glusterfs
	_net_fresh_dir /var/lib/glusterd
	mkdir -p "$GLUSTER_DIR/wd" "$GLUSTER_DIR/log" "$GLUSTER_BRICK"
	cat >"$GLUSTER_DIR/glusterd.vol" <<EOF
volume management
    type mgmt/glusterd
    option working-directory $GLUSTER_DIR/wd
    option glusterd-sockfile $GLUSTER_DIR/glusterd.socket
    option transport-type socket
    option transport.socket.bind-address $GLUSTER_HOST
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
end-volume
EOF
	setsid -f /usr/sbin/glusterd -f "$GLUSTER_DIR/glusterd.vol" -p "$GLUSTER_DIR/glusterd.pid" \
		--log-file="$GLUSTER_DIR/log/glusterd.log" </dev/null >/dev/null 2>&1 ||
		bail_out "glusterd did not start: $(tail -n 3 "$GLUSTER_DIR/log/glusterd.log" 2>/dev/null)"
	_NET_PIDFILES+=("$GLUSTER_DIR/glusterd.pid")
	for _ in $(seq 400); do
		gluster_cli peer status >/dev/null 2>&1 && break
		sleep 0.05
	done
	gluster_cli peer status >/dev/null 2>&1 ||
		bail_out "glusterd does not answer: $(tail -n 3 "$GLUSTER_DIR/log/glusterd.log")"
	gluster_cli volume create "$GLUSTER_VOL" "$GLUSTER_HOST:$GLUSTER_BRICK" force >/dev/null ||
		bail_out "gluster volume create failed"
	gluster_cli volume set "$GLUSTER_VOL" network.ping-timeout 5 >/dev/null ||
		bail_out "gluster volume set network.ping-timeout failed"
	gluster_cli volume start "$GLUSTER_VOL" >/dev/null ||
		bail_out "gluster volume start failed: $(tail -n 3 "$GLUSTER_DIR/log/glusterd.log")"
	export GLUSTER_HOST GLUSTER_VOL GLUSTER_BRICK GLUSTER_DIR
}

# gluster_started: the CLI reports the volume as started.
gluster_started() {
	gluster_cli volume info "$GLUSTER_VOL" 2>/dev/null | grep -qx 'Status: Started'
}

# gluster_brick_pids: pids of the running brick daemons (glusterfsd).
gluster_brick_pids() {
	net_live_pids glusterfsd
}

# ---- teardown ----

# net_teardown: lazily detaches any FUSE mount left under $VT_TMP (a test that stopped early)
# and kills the daemons this file started, by pid. Called from lib.sh's EXIT clean-up; the end
# of the pid namespace kills anything else.
net_teardown() {
	local f p mp
	if [ -n "${VT_TMP:-}" ]; then
		while IFS= read -r mp; do
			[ -n "$mp" ] || continue
			umount -f "$mp" 2>/dev/null
			umount -l "$mp" 2>/dev/null
		done < <(awk '$0 ~ / - fuse\./ { print $5 }' /proc/self/mountinfo |
			grep -F -- "$VT_TMP/" | sort -r)
	fi
	for p in $(gluster_brick_pids 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	for f in "${_NET_PIDFILES[@]}"; do
		[ -s "$f" ] || continue
		p=$(head -n 1 "$f")
		case "$p" in
		'' | *[!0-9]*) continue ;;
		esac
		kill -9 "$p" 2>/dev/null
	done
	return 0
}

# Run net_teardown before lib.sh's own clean-up (which unmounts $VT_TMP).
eval "_vt_lib_cleanup() $(declare -f _vt_cleanup | tail -n +2)"
_vt_cleanup() {
	net_teardown
	_vt_lib_cleanup
}
