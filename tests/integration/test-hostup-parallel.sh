#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Issue 11, target 3: host-up after a "reboot" (every mount gone, another boot id in the
# ledger) with N_SERVERS x PER_SERVER sshfs shares, each server its own sshd on 127.0.0.1 (the
# test's net namespace), the last one dead (its sshd SIGSTOPped: connections are accepted by
# the kernel, and never answered). max_helpers = 4. /usr/bin/sshfs is, inside the test's
# mount namespace, a wrapper that records each start and how many helpers ran at that moment
# (counting live wrapper processes), then runs the real sshfs. Counted, never timed:
#   - at most 4 helpers at once, and more than one (the reconcile is parallel);
#   - while host-up still waits on the dead server, an attach to a share it has reconciled
#     completes (order of events: the attach returns, host-up is still running, the dead
#     server's helper still runs); then the dead sshd is killed and host-up returns;
#   - every live share mounted again exactly once (one helper start each), none stacked;
#   - the dead server costs one helper: one start for its PER_SERVER shares, the others
#     reported failed without a helper of their own ("not tried"); all of them reported failed;
#   - nothing left running: no wrapper, no ssh client of the dead server;
#   - once the dead server is back, host-up mounts its shares and keeps the others;
#   - repair with the sshfs daemons of two servers' shares stopped (hung): each of them
#     repaired with one helper, the others kept without one, at most 4 helpers at once;
#   - the first call after another "reboot" (an attach, with the dead server stopped again)
#     reconciles every share the same way: another process's attach to a share it has
#     reconciled completes while it still waits on the dead server, and the same counts hold.
# shellcheck disable=SC2317 # functions called through check
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/net.sh
. "$(dirname "$0")/net.sh"
in_private_ns "$0" "$@"

N_SERVERS=5
PER_SERVER=6
MAX_HELPERS=4

sshd_up
check "fixture: root logs in to the test sshd with the client key" ssh_works

# Servers 2..N: more sshds with the same keys, each on a port of its own.
PORTS=("$SSH_PORT")
SSHD_PIDS=("$(cat "$SSH_DIR/sshd.pid")")
for s in $(seq 2 "$N_SERVERS"); do
	port=$(_net_free_port 127.0.0.1 $((PORTS[-1] + 1)))
	cfg=$SSH_DIR/sshd_config.$s
	sed -e "s/^Port .*/Port $port/" -e "s|^PidFile .*|PidFile $SSH_DIR/sshd.$s.pid|" \
		"$SSH_DIR/sshd_config" >"$cfg"
	setsid -f /usr/sbin/sshd -f "$cfg" -E "$SSH_DIR/sshd.$s.log" </dev/null >/dev/null 2>&1 ||
		bail_out "sshd $s did not start"
	_NET_PIDFILES+=("$SSH_DIR/sshd.$s.pid")
	_net_wait_port 127.0.0.1 "$port" || bail_out "sshd $s is not listening on $port"
	for _ in $(seq 100); do [ -s "$SSH_DIR/sshd.$s.pid" ] && break; sleep 0.05; done
	SSHD_PIDS+=("$(cat "$SSH_DIR/sshd.$s.pid")")
	printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$SSH_DIR/host_key.pub")" \
		>>"$SSH_KNOWN_HOSTS"
	PORTS+=("$port")
done
DEAD=$N_SERVERS
DEAD_PORT=${PORTS[DEAD - 1]}

printf 'max_helpers = %s\ntimeout = 120\nprobe_timeout = 2\n' "$MAX_HELPERS" >"$VT_TMP/volmount.conf"
chmod 0644 "$VT_TMP/volmount.conf"
VM_ARGS+=(--config "$VT_TMP/volmount.conf")

srv=$VT_TMP/srv
# export S K: the export of share K of server S.
export_of() { echo "root@127.0.0.1:$srv/s$1/d$2"; }
opts_of() {
	echo --option "port=${PORTS[$1 - 1]}" --option "IdentityFile=$SSH_KEY" \
		--option "UserKnownHostsFile=$SSH_KNOWN_HOSTS" --option StrictHostKeyChecking=yes
}
attach_one() { # S K VOLUME
	mkdir -p "$srv/s$1/d$2"
	# shellcheck disable=SC2046 # the options are words without blanks
	vm attach --type sshfs --export "$(export_of "$1" "$2")" --volume "$3" --owner o \
		$(opts_of "$1") >/dev/null 2>>"$VT_TMP/attach.err"
}
mp_of() { vm path --type sshfs --export "$(export_of "$1" "$2")"; }

failed=0
for s in $(seq "$N_SERVERS"); do
	pids=()
	for k in $(seq "$PER_SERVER"); do
		attach_one "$s" "$k" v &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
done
is "$failed" 0 "$((N_SERVERS * PER_SERVER)) sshfs shares attached on $N_SERVERS servers"
[ "$failed" = 0 ] || diag "$(sort "$VT_TMP/attach.err" | uniq -c | head -5)"

declare -A MP
for s in $(seq "$N_SERVERS"); do
	for k in $(seq "$PER_SERVER"); do MP[$s.$k]=$(mp_of "$s" "$k"); done
done

# ---- the "reboot": every mount gone, every sshfs daemon with it, another boot id ----
for m in $(mounts_under "$BASE_DIR"); do umount "$m" || umount -l "$m"; done
net_wait_gone sshfs 10 || bail_out "sshfs daemons still running after the unmounts"
is "$(mounts_under "$BASE_DIR" | wc -l)" 0 "'reboot': nothing mounted under the base"
ledger_exec "UPDATE host SET boot_id = 'old-boot'"

# ---- the helper wrapper ----
W=$VT_TMP/wrap
mkdir -p "$W/running"
cp /usr/bin/sshfs "$W/sshfs-real"
cat >"$W/sshfs" <<EOF
#!/bin/bash
# counts live wrappers (comm "sshfs": the real one runs as sshfs-real) at each start
exec 9>>"$W/lock"
flock 9
: >"$W/running/\$\$"
n=0
for f in "$W"/running/*; do
	p=\${f##*/}
	[ "\$(cat /proc/\$p/comm 2>/dev/null)" = sshfs ] &&
		[ "\$(awk '{ print \$3 }' /proc/\$p/stat 2>/dev/null)" != Z ] && n=\$((n + 1))
done
printf '%s %s\n' "\$n" "\$*" >>"$W/starts"
flock -u 9
exec 9>&-
[ -e "$W/slow" ] && sleep 3 # the section "a verdict gone stale" below
"$W/sshfs-real" "\$@"
rc=\$?
rm -f "$W/running/\$\$"
exit \$rc
EOF
chmod 0755 "$W/sshfs"
: >"$W/starts"
mount --bind "$W/sshfs" /usr/bin/sshfs || bail_out "cannot bind-mount the wrapper"

# starts_of S K: helper starts for share K of server S.
starts_of() { grep -cF -- " $(export_of "$1" "$2") " "$W/starts"; }
# live_wrappers [PORT]: wrapper processes running now (for server PORT only).
live_wrappers() {
	local f p n=0
	for f in "$W"/running/*; do
		[ -e "$f" ] || continue
		p=${f##*/}
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = sshfs ] || continue
		[ -z "${1:-}" ] || tr '\0' '\n' <"/proc/$p/cmdline" | grep -q "port=$1" || continue
		n=$((n + 1))
	done
	echo "$n"
}
# dead_clients: live processes (but the dead sshd) whose command line names the dead port.
dead_clients() {
	local f p
	for f in /proc/[0-9]*/cmdline; do
		p=${f#/proc/}
		p=${p%/cmdline}
		[ "$p" = "${SSHD_PIDS[DEAD - 1]}" ] && continue
		[ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" = Z ] && continue
		tr '\0' '\n' <"$f" 2>/dev/null | grep -q -- "$DEAD_PORT" && echo "$p"
	done
	return 0
}

# ---- host-up with the last server dead ----
kill -STOP "${SSHD_PIDS[DEAD - 1]}"
VM_TIMEOUT=200 vm --json host-up >"$VT_TMP/hostup.json" 2>"$VT_TMP/hostup.err" &
HU=$!

# wait_for DESC CMD...: until CMD succeeds (bounded: a wait, not a timing assertion).
wait_for() {
	local d=$1 _
	shift
	for _ in $(seq 600); do "$@" && return 0; sleep 0.05; done
	not_ok "$d"
	return 1
}
first_live_mounted() { [ "$(mounts_at "${MP[1.1]}")" = 1 ]; }
dead_helper_runs() { [ "$(live_wrappers "$DEAD_PORT")" -ge 1 ]; }
wait_for "a share of server 1 is mounted again" first_live_mounted
wait_for "a helper for the dead server is running" dead_helper_runs

# An attach to a reconciled share, while host-up waits on the dead server.
attach_one 1 1 extra
is "$?" 0 "attach to a reconciled share completes during host-up"
check "host-up is still running when that attach returned" kill -0 "$HU"
is "$(ledger_sql "SELECT boot_id FROM host")" "~$(cat /proc/sys/kernel/random/boot_id)" \
	"while host-up still reconciles, this boot is recorded as unfinished (its old ids forgotten; one that dies leaves the next call to reconcile)"
check "the dead server's helper still runs when that attach returned" dead_helper_runs
is "$(vm --json list | jq -r --arg m "${MP[1.1]}" '.shares[] | select(.mountpoint == $m) | .attachments | length')" 2 \
	"the share has both attachments"

# The dead server goes away for good: its pending connections are reset.
kill -KILL "${SSHD_PIDS[DEAD - 1]}"
wait "$HU"
rc=$?
isnt "$rc" 0 "host-up fails (the dead server's shares)"
j=$(cat "$VT_TMP/hostup.json")
check "host-up --json is a report" jq -e '.actions | length > 0' <<<"$j"

action_of() { jq -r --arg m "$1" '[.actions[] | select(.path == $m) | .action] | join(",")' <<<"$j"; }
bad=0 dead_starts=0 dead_failed=0 not_tried=0
for s in $(seq "$N_SERVERS"); do
	for k in $(seq "$PER_SERVER"); do
		a=$(action_of "${MP[$s.$k]}")
		n=$(starts_of "$s" "$k")
		if [ "$s" = "$DEAD" ]; then
			dead_starts=$((dead_starts + n))
			[ "$a" = failed ] && dead_failed=$((dead_failed + 1))
			[ "$(mounts_at "${MP[$s.$k]}")" = 0 ] || bad=$((bad + 1))
		elif [ "$a" != mounted ] || [ "$n" != 1 ] || [ "$(mounts_at "${MP[$s.$k]}")" != 1 ]; then
			bad=$((bad + 1))
			diag "share $s.$k: action '$a', $n helper start(s), $(mounts_at "${MP[$s.$k]}") mount(s)"
		fi
	done
done
is "$bad" 0 "every live share mounted again exactly once (one helper each); no dead share mounted"
is "$dead_failed" "$PER_SERVER" "every share of the dead server is reported failed"
is "$dead_starts" 1 "the dead server cost one helper, not one per share"
not_tried=$(jq '[.actions[] | select(.action == "failed" and (.detail | test("not tried")))] | length' <<<"$j")
is "$not_tried" $((PER_SERVER - 1)) "its other shares failed without a helper of their own"
max=$(awk '$1 > m { m = $1 } END { print m + 0 }' "$W/starts")
check "at most $MAX_HELPERS helpers at once (saw $max)" test "$max" -le "$MAX_HELPERS"
check "more than one helper at once (saw $max): the reconcile is parallel" test "$max" -ge 2
out=$(stacked_under "$BASE_DIR")
is "$out" "" "no stacked mount"
is "$(live_wrappers)" 0 "no helper left running"
is "$(dead_clients | wc -l)" 0 "no client of the dead server left running"
is "$(ledger_sql "SELECT boot_id FROM host")" "$(cat /proc/sys/kernel/random/boot_id)" \
	"the boot is recorded"
is "$(ledger_sql "SELECT count(*) FROM attachments")" $((N_SERVERS * PER_SERVER + 1)) \
	"every attachment kept, the new one too"

# ---- the dead server is back: host-up mounts its shares, keeps the others ----
setsid -f /usr/sbin/sshd -f "$SSH_DIR/sshd_config.$DEAD" -E "$SSH_DIR/sshd.$DEAD.log" \
	</dev/null >/dev/null 2>&1 || bail_out "sshd $DEAD did not restart"
_net_wait_port 127.0.0.1 "$DEAD_PORT" || bail_out "sshd $DEAD is not listening"
: >"$W/starts"
expect_exit 0 vm --json host-up
j=$LAST_OUT
is "$(jq '[.actions[] | select(.action == "mounted")] | length' <<<"$j")" "$PER_SERVER" \
	"the second host-up mounts the dead server's shares"
is "$(jq '[.actions[] | select(.action == "kept")] | length' <<<"$j")" \
	$(((N_SERVERS - 1) * PER_SERVER)) "and keeps the others"
is "$(wc -l <"$W/starts")" "$PER_SERVER" "one helper per share it mounted"
out=$(stacked_under "$BASE_DIR")
is "$out" "" "no stacked mount"
is "$(live_wrappers)" 0 "no helper left running"

# ---- repair of hung shares: every share of servers 1 and 2, its sshfs daemon stopped ----
HUNG=()
for s in 1 2; do
	for k in $(seq "$PER_SERVER"); do
		for p in $(net_daemon_pids sshfs-real "${MP[$s.$k]}"); do
			kill -STOP "$p"
			HUNG+=("$p")
		done
	done
done
is "${#HUNG[@]}" $((2 * PER_SERVER)) "$((2 * PER_SERVER)) sshfs daemons stopped (one per share)"
: >"$W/starts"
t0=$(date +%s%N)
run_capture vm --json repair
diag "repair of $((2 * PER_SERVER)) hung shares: $((($(date +%s%N) - t0) / 1000000)) ms (figure only)"
j=$LAST_OUT
is "$LAST_RC" 0 "repair of the hung shares succeeds"
bad=0
for s in $(seq "$N_SERVERS"); do
	for k in $(seq "$PER_SERVER"); do
		a=$(action_of "${MP[$s.$k]}")
		n=$(starts_of "$s" "$k")
		if [ "$s" -le 2 ]; then want=repaired wn=1; else want=kept wn=0; fi
		if [ "$a" != "$want" ] || [ "$n" != "$wn" ] || [ "$(mounts_at "${MP[$s.$k]}")" != 1 ]; then
			bad=$((bad + 1))
			diag "share $s.$k: action '$a', $n helper start(s), $(mounts_at "${MP[$s.$k]}") mount(s)"
		fi
	done
done
is "$bad" 0 "every hung share repaired with one helper, every other one kept without"
max=$(awk '$1 > m { m = $1 } END { print m + 0 }' "$W/starts")
check "repair ran at most $MAX_HELPERS helpers at once (saw $max)" test "$max" -le "$MAX_HELPERS"
out=$(stacked_under "$BASE_DIR")
is "$out" "" "no stacked mount after the repair"
is "$(live_wrappers)" 0 "no helper left running after the repair"
for p in "${HUNG[@]}"; do kill -KILL "$p" 2>/dev/null; done
expect_exit 0 vm --json check
is "$(jq '[.shares[] | select(.state != "mounted")] | length' <<<"$LAST_OUT")" 0 \
	"check: every share healthy"

# ---- a verdict gone stale: a share found hung that answers again by its turn is not forced ----
# Shares 3.1 and 3.2 hung; repair one share at a time (max_helpers 1) with a helper that takes
# 3 s, more than probe_timeout (2 s). While the first share's helper runs, the other share's
# daemon is let go: by its turn step 1's "hung" is older than probe_timeout, so repair probes
# it again under its lock, finds it healthy and keeps its mount instead of forcing it.
P31=$(net_daemon_pids sshfs-real "${MP[3.1]}") P32=$(net_daemon_pids sshfs-real "${MP[3.2]}")
ID31=$(mountinfo_at "${MP[3.1]}" | awk '{ print $1 }') ID32=$(mountinfo_at "${MP[3.2]}" | awk '{ print $1 }')
kill -STOP "$P31" "$P32"
printf 'max_helpers = 1\ntimeout = 120\nprobe_timeout = 2\n' >"$VT_TMP/volmount.conf"
touch "$W/slow"
: >"$W/starts"
vm --json repair >"$VT_TMP/stale-verdict.json" 2>"$VT_TMP/stale-verdict.err" &
REP=$!
first_started() { [ -s "$W/starts" ]; }
wait_for "repair's first helper runs" first_started
if grep -qF -- " $(export_of 3 1) " "$W/starts"; then
	FIRST=3.1 OTHER=3.2 OTHER_ID=$ID32 OTHER_P=$P32
else
	FIRST=3.2 OTHER=3.1 OTHER_ID=$ID31 OTHER_P=$P31
fi
kill -CONT "$OTHER_P"
wait "$REP"
rm -f "$W/slow"
printf 'max_helpers = %s\ntimeout = 120\nprobe_timeout = 2\n' "$MAX_HELPERS" >"$VT_TMP/volmount.conf"
j=$(cat "$VT_TMP/stale-verdict.json")
is "$(action_of "${MP[$FIRST]}")" repaired "the share still hung at its turn is repaired"
is "$(action_of "${MP[$OTHER]}")" kept "the share that answers again by its turn is kept, not forced"
is "$(mountinfo_at "${MP[$OTHER]}" | awk '{ print $1 }')" "$OTHER_ID" "its mount is the same one"
is "$(grep -c . "$W/starts")" 1 "one helper ran, for the hung share only"
for p in "$P31" "$P32"; do kill -KILL "$p" 2>/dev/null; done

# ---- the first call after a reboot reconciles by itself, narrowed the same way ----
for m in $(mounts_under "$BASE_DIR"); do umount "$m" || umount -l "$m"; done
for p in $(net_live_pids sshfs-real); do kill -KILL "$p"; done
net_wait_gone sshfs-real 10 || bail_out "sshfs daemons still running after the unmounts"
ledger_exec "UPDATE host SET boot_id = 'old-boot-2'"
for _ in $(seq 100); do [ -s "$SSH_DIR/sshd.$DEAD.pid" ] && break; sleep 0.05; done
DEAD_PID=$(cat "$SSH_DIR/sshd.$DEAD.pid")
kill -STOP "$DEAD_PID"
: >"$W/starts"
# The first call: an attach to share 1.2, which reconciles every share first.
VM_TIMEOUT=200 attach_one 1 2 first &
FIRST=$!
wait_for "the first call has mounted a share of server 1 again" first_live_mounted
wait_for "the first call runs a helper for the dead server" dead_helper_runs
attach_one 1 1 second
is "$?" 0 "another process's attach to a reconciled share completes during the first call"
check "the first call is still reconciling when it returned" kill -0 "$FIRST"
check "the dead server's helper still runs when it returned" dead_helper_runs
kill -KILL "$DEAD_PID"
wait "$FIRST"
is "$?" 0 "the first call's own attach succeeds (its share's server is alive)"
bad=0
for s in $(seq "$N_SERVERS"); do
	for k in $(seq "$PER_SERVER"); do
		want=1
		[ "$s" = "$DEAD" ] && want=0
		[ "$(mounts_at "${MP[$s.$k]}")" = "$want" ] || bad=$((bad + 1))
		[ "$s" = "$DEAD" ] || [ "$(starts_of "$s" "$k")" = 1 ] || bad=$((bad + 1))
	done
done
is "$bad" 0 "every live share mounted again with one helper, no dead one mounted"
is "$(grep -c -- "port=$DEAD_PORT" "$W/starts")" 1 "the dead server cost one helper"
max=$(awk '$1 > m { m = $1 } END { print m + 0 }' "$W/starts")
check "at most $MAX_HELPERS helpers at once (saw $max)" test "$max" -le "$MAX_HELPERS"
out=$(stacked_under "$BASE_DIR")
is "$out" "" "no stacked mount"
is "$(live_wrappers)" 0 "no helper left running"
is "$(dead_clients | wc -l)" 0 "no client of the dead server left running"
is "$(ledger_sql "SELECT boot_id FROM host")" "$(cat /proc/sys/kernel/random/boot_id)" \
	"the first call recorded the boot"
is "$(ledger_sql "SELECT count(*) FROM attachments")" $((N_SERVERS * PER_SERVER + 3)) \
	"every attachment kept, the two new ones too"

umount /usr/bin/sshfs
done_testing
