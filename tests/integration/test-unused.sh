#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Issue 9, item 9: a share that is mounted but has no attachment (what a last detach leaves
# when its unmount meets EBUSY) is not healthy. At f472022 check, status and monitor called it
# healthy ("mounted", exit 0), and monitor --repair never cleaned it.
#
#  1. a busy last detach (a process has its cwd inside the mount) exits 75 and leaves the mount;
#     list, check (69, text and JSON), status and the monitor's metrics call the share "unused".
#  2. while it is busy, repair neither forces the unmount nor forgets the share (the process
#     keeps its working directory), and says why.
#  3. once the process is gone, monitor --repair unmounts it, removes its directory and its
#     ledger row, as the last detach would have, and counts the repair; check exits 0.
#  4. the same with a one-shot repair, for a share whose holder has an open file in it.
#  5. an adopted share (nova path scheme) without attachments keeps its exception: check calls
#     it mounted (0), and repair keeps it.
# shellcheck disable=SC2317 # functions called through expect_exit and check
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"
# shellcheck source=SCRIPTDIR/health.sh
. "$(dirname "$0")/health.sh"

use_probe_timeout 2
METRICS=$VT_TMP/metrics/volmount.prom
mkdir -m 0755 "$VT_TMP/metrics"

state_of() { vm --json list | MP=$1 jq -r '.shares[] | select(.mountpoint == env.MP) | .state'; }
row_of() { ledger_sql "SELECT state FROM shares WHERE mountpoint = '$1'"; }

# ---- 1. a busy last detach leaves an unused share ----
x=$(mkexport x)
expect_exit 0 vm attach --type bind --export "$x" --volume v1 --owner o1 || bail_out "attach failed"
mp=${LAST_OUT%/v1}
mkdir "$mp/v1"
# The holder keeps its working directory inside the mount; it starts only once it is there.
(cd "$mp/v1" && touch "$VT_TMP/holder-in" && exec sleep 600) &
holder=$!
for _ in $(seq 200); do [ -e "$VT_TMP/holder-in" ] && break; sleep 0.05; done
check "fixture: the holder is inside the mount" test -e "$VT_TMP/holder-in"
expect_exit 75 vm detach --type bind --export "$x" --volume v1 --owner o1
is "$(mounts_at "$mp")" 1 "the busy last detach left the mount"
is "$(ledger_attached "$mp")" 0 "with no attachment"

is "$(state_of "$mp")" unused "list --json: the share is unused"
expect_exit 0 vm list
check "plain list says unused" grep -q "^unused .*$mp" <<<"$LAST_OUT"
expect_exit 69 vm check
check "check names it unused" grep -q "^unused .*$mp" <<<"$LAST_OUT"
expect_exit 69 vm --json check
is "$(jq -c '[.healthy, .unhealthy]' <<<"$LAST_OUT")" "[false,1]" "check --json: not healthy, 1 unhealthy"
is "$(MP=$mp jq -r '.shares[] | select(.mountpoint == env.MP) | .state + " " + (.attachments | tostring)' <<<"$LAST_OUT")" \
	"unused 0" "check --json: state unused, 0 attachments"
is "$(vm --json status | jq -c '[.unhealthy, .mounted]')" "[1,0]" "status --json counts it unhealthy, not mounted"
expect_exit 0 vm status
check "status text counts it unhealthy" grep -qx "unhealthy: 1" <<<"$LAST_OUT"

# ---- 2. repair while it is busy: no forced unmount, nothing forgotten ----
expect_exit "69|70|73|74|75" vm repair
isnt "$LAST_RC" 0 "repair of a busy unused share does not claim success"
stderr_explains "and says why"
check "the report says the mount is busy" grep -q "busy" <<<"$LAST_OUT$LAST_ERR"
is "$(mounts_at "$mp")" 1 "the mount is kept while it is busy"
is "$(row_of "$mp")" unmounting "the share is still recorded"
check "the holder still has its working directory" test "$(readlink "/proc/$holder/cwd")" = "$mp/v1"

# ---- 3. monitor --repair cleans it up once it is free ----
start_monitor --repair
if wait_metric 'volmount_shares{state="unused"}' -eq 1 20; then
	ok 'monitor: volmount_shares{state="unused"} 1 while it is busy'
else
	not_ok 'monitor: volmount_shares{state="unused"} 1 while it is busy'
	diag "metrics: $(cat "$METRICS" 2>/dev/null)"
fi
is "$(metric 'volmount_shares{state="mounted"}')" 0 'and volmount_shares{state="mounted"} 0'
is "$(mounts_at "$mp")" 1 "monitor --repair does not force the busy mount away"
check "the holder still has its working directory" test "$(readlink "/proc/$holder/cwd")" = "$mp/v1"
kill "$holder"
wait "$holder" 2>/dev/null
# Bounded wait for the monitor's next cycles (it runs every 0.5 s): count, not time.
if wait_metric 'volmount_shares{state="unused"}' -eq 0 30 && [ "$(mounts_at "$mp")" = 0 ]; then
	ok "monitor --repair unmounts the unused share once it is free"
else
	not_ok "monitor --repair unmounts the unused share once it is free"
	diag "metrics: $(cat "$METRICS" 2>/dev/null)"
	diag "log: $(tail -n 4 "$VT_TMP/monitor.log")"
fi
check "monitor counts the repair" test "$(metric 'volmount_repairs_total{result="ok"}')" -ge 1
stop_monitor "monitor --repair"
check "monitor logged the unmount" grep -q "unmounted $mp" "$VT_TMP/monitor.log"
is "$(mounts_at "$mp")" 0 "not mounted"
check "its directory is removed" test ! -e "$mp"
is "$(ledger_shares)" 0 "its ledger row is gone"
expect_exit 0 vm check

# ---- 4. a one-shot repair, for a holder with an open file ----
y=$(mkexport y)
expect_exit 0 vm attach --type bind --export "$y" --volume v --owner o || bail_out "attach failed"
mpy=${LAST_OUT%/v}
exec 7>"$mpy/held"
expect_exit 75 vm detach --type bind --export "$y" --volume v --owner o
is "$(state_of "$mpy")" unused "an open file leaves it unused too"
expect_exit 69 vm check
exec 7>&-
expect_exit 0 vm --json repair
is "$(MP=$mpy jq -r '[.actions[] | select(.path == env.MP) | .action] | join(",")' <<<"$LAST_OUT")" \
	unmounted "repair unmounts it once it is free"
is "$(mounts_at "$mpy")" 0 "not mounted"
check "its directory is removed" test ! -e "$mpy"
is "$(ledger_shares)" 0 "its ledger row is gone"
expect_exit 0 vm check

# ---- 5. an adopted share keeps its exception ----
use_dirs "$VT_TMP/nova"
VM_ARGS+=(--config "$VT_TMP/volmount.conf" --path-scheme nova)
expect_exit 0 vm host-up
a=$(mkexport a)
mpa=$BASE_DIR/$(printf '%s' "$a" | md5sum | cut -d' ' -f1)
mkdir -m 0755 "$mpa"
mount --bind -o nosuid,nodev "$a" "$mpa"
expect_exit 0 vm host-up
is "$(vm --json list | jq -r '.shares[0] | .state + " " + (.adopted | tostring)')" "mounted true" \
	"an adopted share without attachments is mounted"
expect_exit 0 vm check
expect_exit 0 vm repair
is "$(mounts_at "$mpa")" 1 "repair keeps the adopted share mounted"
is "$(ledger_shares)" 1 "and recorded"
umount "$mpa"
done_testing
