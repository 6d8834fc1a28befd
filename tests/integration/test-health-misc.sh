#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Health without a network (bind shares, tmpfs as the foreign filesystem):
#   monitor: Prometheus text in a file replaced atomically (never seen torn), the share and
#     attachment gauges, the check counter, a probe latency per share; SIGTERM ends it with 0
#     within 2 s; with --repair it mounts a share again that was unmounted behind its back.
#   stacked: a foreign tmpfs on top of a share's mount makes check say "stacked" (69); repair
#     and host-up report it and unmount neither mount.
#   gc and host-up under <base>/bind: a foreign tmpfs at a hash-like path without a row is
#     reported (host-up, gc) and left mounted; an empty leftover directory is removed; a
#     non-empty one, a file and a name volmount never gives are reported and kept.
# shellcheck disable=SC2317 # functions called through expect_exit and check
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"
# shellcheck source=SCRIPTDIR/health.sh
. "$(dirname "$0")/health.sh"

use_probe_timeout 2

exp=$(mkexport data)
echo data >"$exp/marker"
attach() { vm attach --type bind --export "$exp" --volume "$1" --owner "$2"; }
detach() { vm detach --type bind --export "$exp" --volume "$1" --owner "$2"; }

# action_of PATH: the action(s) the last host-up/repair/gc --json report gives PATH.
action_of() {
	P=$1 jq -r '[.actions[] | select(.path == env.P) | .action] | join(",")' <<<"$LAST_OUT" 2>/dev/null
}

expect_exit 0 attach v1 o1 || bail_out "bind attach failed"
mp=${LAST_OUT%/v1}
expect_exit 0 attach v2 o1
expect_exit 0 vm check
is "$(mounts_at "$mp")" 1 "the bind share is mounted once"

# ---- monitor ----

METRICS=$VT_TMP/metrics/volmount.prom
mkdir -m 0755 "$VT_TMP/metrics"

start_monitor
for _ in $(seq 100); do
	[ -s "$METRICS" ] && break
	sleep 0.05
done
check "monitor writes the metrics file within 5 s" test -s "$METRICS"
c=$(cat "$METRICS" 2>/dev/null)
if out=$(prom_valid <<<"$c"); then
	ok "the metrics file is valid Prometheus text"
else
	not_ok "the metrics file is valid Prometheus text"
	diag "$out"
fi
is "$(metric 'volmount_shares{state="mounted"}')" 1 'volmount_shares{state="mounted"} 1'
others=
for st in unmounted stale hung missing foreign stacked; do
	others="$others $st=$(metric "volmount_shares{state=\"$st\"}")"
done
is "$others" " unmounted=0 stale=0 hung=0 missing=0 foreign=0 stacked=0" \
	"volmount_shares is 0 for every other state"
is "$(metric volmount_attachments)" 2 "volmount_attachments 2"
check "volmount_checks_total > 0" test "$(metric volmount_checks_total)" -gt 0
lat=$(metric "volmount_probe_latency_seconds{mountpoint=\"$mp\",driver=\"bind\"}")
if [[ "$lat" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
	ok "a probe latency line for the share ($lat s)"
else
	not_ok "a probe latency line for the share"
	diag "$c"
fi
is "$(metric volmount_host_up)" 1 "volmount_host_up 1"
is "$(stat -c %a "$METRICS")" 644 "the metrics file is mode 0644"

# Atomic replacement: while the monitor rewrites the file 3 more times, every read is whole and
# valid. Counted, not timed: the reads go on until volmount_checks_total has grown by 3 (a
# slow machine takes longer), bounded by a number of reads no healthy monitor needs.
bad=0
reads=0
first=$(metric volmount_checks_total)
last=$first
while [ "$reads" -lt 20000 ] && [ "${last:-0}" -lt $((${first:-0} + 3)) ]; do
	c=$(cat "$METRICS" 2>/dev/null)
	reads=$((reads + 1))
	if ! grep -q '^volmount_checks_total [0-9]' <<<"$c" || ! prom_valid >/dev/null <<<"$c"; then
		bad=$((bad + 1))
		[ "$bad" = 1 ] && diag "a bad read: $(head -c 300 <<<"$c")"
	else
		last=$(awk '$1 == "volmount_checks_total" { print $2; exit }' <<<"$c")
	fi
done
is "$bad" 0 "$reads reads of the metrics file across 3 rewrites: each one whole and valid"
check "volmount_checks_total grows ($first -> $last)" test "${last:-0}" -ge $((${first:-0} + 3))
stop_monitor "monitor"
is "$(find "$VT_TMP/metrics" -mindepth 1 ! -name volmount.prom)" "" \
	"no temporary file is left next to the metrics file"
is "$(mounts_at "$mp")" 1 "monitor changed nothing: still mounted once"

# monitor --repair mounts a share again that was unmounted behind volmount's back.
umount "$mp"
expect_exit 69 vm check
start_monitor --repair
if wait_metric 'volmount_repairs_total{result="ok"}' -ge 1 5 &&
	wait_metric 'volmount_shares{state="mounted"}' -eq 1 5; then
	ok "monitor --repair mounts the missing share again and counts the repair"
	is "$(metric 'volmount_shares{state="missing"}')" 0 'volmount_shares{state="missing"} 0'
else
	not_ok "monitor --repair mounts the missing share again and counts the repair"
	diag "metrics: $(cat "$METRICS" 2>/dev/null)"
	diag "log: $(tail -n 2 "$VT_TMP/monitor.log")"
fi
stop_monitor "monitor --repair"
if [ "$(mounts_at "$mp")" = 0 ]; then
	diag "the share is still missing after monitor --repair; running repair"
	expect_exit 0 vm repair
fi
is "$(mounts_at "$mp")" 1 "the share is mounted once again"
expect_exit 0 vm check

# ---- stacked: a foreign tmpfs on top of the share's mount ----

before=$(mountinfo_at "$mp")
mount -t tmpfs -o size=1m vt-foreign "$mp" || bail_out "cannot mount a tmpfs on $mp"
stacked=$(mountinfo_at "$mp")
is "$(mounts_at "$mp")" 2 "stacked: two mounts at the mountpoint"
expect_exit 69 vm --json check
is "$(MP=$mp jq -r '.shares[] | select(.mountpoint == env.MP) | .state' <<<"$LAST_OUT")" stacked \
	"stacked: check says stacked"
expect_exit 69 vm check
case "$LAST_OUT" in
stacked*"$mp"*) ok "stacked: the text output names the share as stacked" ;;
*) not_ok "stacked: the text output names the share as stacked" && diag "$LAST_OUT" ;;
esac
expect_exit 0 vm --json repair
is "$(action_of "$mp")" stacked "stacked: repair reports it"
is "$(mountinfo_at "$mp")" "$stacked" "stacked: repair unmounted neither mount"
expect_exit 0 vm --json host-up
is "$(action_of "$mp")" stacked "stacked: host-up reports it"
is "$(mountinfo_at "$mp")" "$stacked" "stacked: host-up unmounted neither mount"
expect_exit 0 vm --json gc
is "$(action_of "$mp")" "" "stacked: gc leaves an owned mountpoint alone"
is "$(mountinfo_at "$mp")" "$stacked" "stacked: gc unmounted neither mount"
umount "$mp"
is "$(mountinfo_at "$mp")" "$before" "stacked: the test's tmpfs removed, the share's mount is the same"
expect_exit 0 vm check

# ---- gc and host-up under <base>/bind ----

hex() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
foreign=$BASE_DIR/bind/$(hex foreign)
empty=$BASE_DIR/bind/$(hex empty)
full=$BASE_DIR/bind/$(hex full)
file=$BASE_DIR/bind/$(hex file)
odd=$BASE_DIR/bind/not-a-hash
mkdir -m 0700 "$foreign" "$empty" "$full" "$odd"
mount -t tmpfs -o size=1m vt-foreign "$foreign" || bail_out "cannot mount a tmpfs on $foreign"
echo keep >"$full/keep"
echo keep >"$file"

expect_exit 0 vm --json host-up
is "$(action_of "$foreign")" foreign "host-up reports the tmpfs under the base as foreign"
is "$(mounts_at "$foreign")" 1 "host-up leaves it mounted"
check "host-up removed none of the leftovers" test -d "$empty" -a -d "$full" -a -f "$file" -a -d "$odd"

expect_exit 0 vm --json gc
diag "gc: $(jq -c '[.actions[] | {action, p: (.path | split("/") | last | .[0:12])}]' <<<"$LAST_OUT")"
is "$(action_of "$foreign")" foreign "gc reports the foreign mount"
is "$(mounts_at "$foreign")" 1 "gc leaves the foreign mount mounted"
check "gc leaves the foreign mount's directory" test -d "$foreign"
is "$(action_of "$empty")" removed "gc reports the empty leftover directory as removed"
check "gc removed the empty leftover directory" test ! -e "$empty"
is "$(action_of "$full")" kept "gc reports the non-empty directory as kept"
is "$(cat "$full/keep" 2>/dev/null)" keep "gc kept the non-empty directory and its file"
isnt "$(action_of "$file")" "" "gc reports the file with a hash-like name ($(action_of "$file"))"
isnt "$(action_of "$file")" removed "and does not say it removed it"
is "$(cat "$file" 2>/dev/null)" keep "gc left the file alone"
isnt "$(action_of "$odd")" "" "gc reports a directory volmount never names ($(action_of "$odd"))"
check "gc left that directory alone" test -d "$odd"
is "$(action_of "$mp")" "" "gc has nothing to say about the live share"
is "$(mounts_at "$mp")" 1 "the live share is still mounted once"
is "$(cat "$mp/marker" 2>/dev/null)" data "and serves the export"

# gc again: the same report for what is left, and nothing else goes.
expect_exit 0 vm --json gc
is "$(action_of "$empty")" "" "a second gc has nothing more to remove"
is "$(mounts_at "$foreign")" 1 "the foreign mount is still there"

umount "$foreign"
expect_exit 0 vm --json gc
is "$(action_of "$foreign")" removed "once unmounted and empty, that directory is removed by gc"
rm -rf "$full" "$file" "$odd"

# ---- the end ----

expect_exit 0 detach v1 o1
expect_exit 0 detach v2 o1
is "$(mounts_under "$BASE_DIR")" "" "nothing is left mounted under the base directory"
is "$(ledger_shares)" 0 "shares table empty"
done_testing
