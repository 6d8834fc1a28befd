#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run.sh BUILD_DIR [volmount-bench options...] - run the benchmarks (bench/README.md).
#
# Re-executes itself in a private mount+net+pid namespace, so the thousands of mounts the
# benchmarks make are invisible outside and vanish with it, even after a crash. Inside: lo up,
# a key-only sshd on 127.0.0.1 for case 7 and five of them for case 6d (skipped if sshd or sshfs
# is missing), then
# BUILD_DIR/bench/volmount-bench. Scratch files live in a directory under /var/tmp (the disk
# filesystem a production /var/lib/volmount would be on; VOLMOUNT_BENCH_TMPDIR=/dev/shm puts
# them on a tmpfs instead), removed at the end. The table goes to stdout and to
# bench/results/latest.txt (VOLMOUNT_BENCH_OUT names another file).
#
#   bench/run.sh build              # what `make bench` runs
#   bench/run.sh build --quick      # a smoke run of a few seconds
#   bench/run.sh build --cases 12   # only some cases
#   BENCH_WRAPPER="perf record -g -o /tmp/p.data" bench/run.sh build --profile warm
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [volmount-bench options...]" >&2; exit 64; }
build=$(cd "$1" && pwd)
shift
bench=$build/bench/volmount-bench
cli=$build/volmount

if [ -z "${VOLMOUNT_BENCH_PRIVATE_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root (it mounts)" >&2; exit 77; }
	[ -x "$bench" ] || { echo "run.sh: $bench is missing (make bench builds it)" >&2; exit 1; }
	[ -x "$cli" ] || { echo "run.sh: $cli is missing" >&2; exit 1; }
	work=$(mktemp -d "${VOLMOUNT_BENCH_TMPDIR:-/var/tmp}/volmount-bench.XXXXXX")
	out=${VOLMOUNT_BENCH_OUT:-$here/results/latest.txt}
	mkdir -p "$(dirname "$out")"
	trap 'rm -rf --one-file-system "$work" "$out.new"' EXIT
	rev=$(git -C "$here/.." describe --always --dirty 2>/dev/null || echo unknown)
	{
		bt=$(jq -r '.[] | select(.name == "buildtype") | .value' \
			"$build/meson-info/intro-buildoptions.json" 2>/dev/null || echo unknown)
		echo "volmount bench - $(date -u '+%Y-%m-%d %H:%M UTC') - volmount $rev (build $(basename "$build"), $bt)"
		echo "kernel $(uname -r), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
		echo "scratch: $work ($(findmnt -n -o FSTYPE --target "$work")); median/min/max over rounds; ratios are medians over medians of the same run"
		echo
	} | tee "$out.new"
	set +e
	VOLMOUNT_BENCH_PRIVATE_NS=1 VOLMOUNT_BENCH_WORK=$work \
		unshare --mount --propagation private --net --pid --fork --kill-child --mount-proc \
		"$0" "$build" "$@" | tee -a "$out.new"
	rc=${PIPESTATUS[0]}
	set -e
	echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end" | tee -a "$out.new"
	if [ "$rc" = 0 ]; then
		mv "$out.new" "$out"
		echo "(written to $out)" >&2
	fi
	exit "$rc"
fi

# ---- inside the namespace (this shell is PID 1 of its pid namespace) ----
work=$VOLMOUNT_BENCH_WORK
ip link set lo up

ssh_args=()
# A key-only sshd for root on 127.0.0.1 with an sftp subsystem: the minimum of
# tests/integration/net.sh's fixture.
ssh_setup() {
	local b d=$work/ssh port=2222 _
	for b in /usr/sbin/sshd /usr/bin/ssh-keygen /usr/bin/sshfs; do
		[ -x "$b" ] || { echo "# case 7: $b missing, skipped" >&2; return 1; }
	done
	[ -e /dev/fuse ] || { echo "# case 7: /dev/fuse missing, skipped" >&2; return 1; }
	# ssh must neither read nor write the host's ~/.ssh: root's home becomes $work/home.
	mkdir -m 0700 "$work/home"
	awk -F: -v OFS=: -v h="$work/home" '$3 == 0 { $6 = h } { print }' /etc/passwd >"$work/passwd"
	chmod 0644 "$work/passwd"
	mount --bind "$work/passwd" /etc/passwd
	# sshd's privilege separation directory, on a tmpfs private to this namespace.
	if [ -d /run/sshd ]; then
		mount -t tmpfs -o mode=0755,size=1m bench-sshd /run/sshd
	else
		mount -t tmpfs -o mode=0755,size=16m bench-run /run
		mkdir -m 0755 /run/sshd
	fi
	mkdir -m 0700 "$d" "$work/sshexport"
	ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$d/host_key" </dev/null
	ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$d/client_key" </dev/null
	chmod 0600 "$d/client_key"
	cp "$d/client_key.pub" "$d/authorized_keys"
	cat >"$d/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $d/host_key
AuthorizedKeysFile $d/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
UseDNS no
PidFile $d/sshd.pid
Subsystem sftp internal-sftp
EOF
	/usr/sbin/sshd -t -f "$d/sshd_config"
	# setsid -f: a session leader whose parent is PID 1 would count as daemonized for sshd.
	setsid -f /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" </dev/null >/dev/null 2>&1
	for _ in $(seq 500); do
		ss -ltnH "sport = :$port" 2>/dev/null | grep -q . && break
		sleep 0.01
	done
	ss -ltnH "sport = :$port" | grep -q . || { echo "# case 7: sshd did not start" >&2; return 1; }
	printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$d/host_key.pub")" >"$d/known_hosts"
	chmod 0644 "$d/known_hosts" # volmount refuses a known-hosts file others can write
	ssh_args=(--ssh-port "$port" --ssh-key "$d/client_key" --ssh-known-hosts "$d/known_hosts"
		--ssh-export "$work/sshexport")
	# Case 6d: four more servers, the same sshd on the next ports; the bench stops the last.
	local ports=$port p s
	for s in 2 3 4 5; do
		p=$((port + s - 1))
		sed -e "s/^Port .*/Port $p/" -e "s|^PidFile .*|PidFile $d/sshd.$s.pid|" \
			"$d/sshd_config" >"$d/sshd_config.$s"
		setsid -f /usr/sbin/sshd -f "$d/sshd_config.$s" -E "$d/sshd.$s.log" </dev/null >/dev/null 2>&1
		for _ in $(seq 500); do
			[ -s "$d/sshd.$s.pid" ] && ss -ltnH "sport = :$p" 2>/dev/null | grep -q . && break
			sleep 0.01
		done
		[ -s "$d/sshd.$s.pid" ] || { echo "# case 6d: sshd $s did not start" >&2; return 0; }
		printf '[127.0.0.1]:%s %s\n' "$p" "$(cut -d' ' -f1,2 "$d/host_key.pub")" >>"$d/known_hosts"
		ports=$ports,$p
	done
	ssh_args+=(--ssh-ports "$ports" --ssh-dead-pid "$(cat "$d/sshd.5.pid")")
}
ssh_setup || true

# BENCH_WRAPPER: a profiler to run the bench under, e.g. "valgrind --tool=callgrind".
# shellcheck disable=SC2086 # word splitting of the wrapper is intended
${BENCH_WRAPPER:-} "$bench" --work "$work" --cli "$cli" "${ssh_args[@]}" "$@"

# Case 8: Nova's own mount manager against volmount through the Python binding
# (bench_nova.py), with the interpreter the binding was built for.
want8=1
py_args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--cases) case "${2:-}" in *8*) ;; *) want8=0 ;; esac; shift ;;
	--cases=*) case "$1" in *8*) ;; *) want8=0 ;; esac ;;
	--profile | --profile=*) want8=0 ;;
	--quick) py_args+=(--quick) ;;
	esac
	shift
done
if [ "$want8" = 1 ]; then
	echo
	py=$(jq -r '.[] | select(.name == "python3") | .value' \
		"$build/meson-info/intro-buildoptions.json" 2>/dev/null) || py=
	# Built in this configuration (a sanitizer build has it disabled; stale files may remain).
	if [ -z "$py" ] || ! jq -e '.[] | select(.name | startswith("_volmount."))' \
		"$build/meson-info/intro-targets.json" >/dev/null 2>&1; then
		echo "8    skipped: the Python binding is not built (python3-cffi, python3-dev)"
	else
		PYTHONPATH=$build/python PYTHONDONTWRITEBYTECODE=1 \
			"$py" "$here/bench_nova.py" --work "$work" "${py_args[@]}"
	fi
fi
