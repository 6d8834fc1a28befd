#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The CLI contract of DESIGN.md: path, list, status and their JSON, the environment and flag
# precedence, the defaults, and exit 64 for usage errors.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

# The production defaults live in /var/lib and /run: give them empty tmpfs instances in this
# namespace, so that we can both see whether they are touched and safely use them.
mount -t tmpfs -o mode=0755 vt-varlib /var/lib || bail_out "cannot mount a tmpfs on /var/lib"
mount -t tmpfs -o mode=0755 vt-run /run || bail_out "cannot mount a tmpfs on /run"
defaults_empty() {
	[ -z "$(ls -A /var/lib)" ] && [ -z "$(ls -A /run)" ]
}

exp=$(mkexport x)
hex64='^[0-9a-f]{64}$'

# ---- path ----
expect_exit 0 vm path --type bind --export "$exp"
mp=$LAST_OUT
case "$mp" in
"$BASE_DIR/bind/"*) ok "path is under <base>/bind/" ;;
*) not_ok "path is under <base>/bind/" && diag "got '$mp'" ;;
esac
check "path ends in 64 lower-case hex digits" grep -Eq "$hex64" <<<"${mp##*/}"
is "$(printf '%s' "$mp" | wc -l)" 0 "path prints one line"
want=$(printf 'bind\0%s' "$exp" | sha256sum | cut -d' ' -f1)
is "${mp##*/}" "$want" "the hash is SHA-256 of \"bind\\0<normalized export>\""
check "path on fresh directories creates no base directory" test ! -e "$BASE_DIR"
check "path on fresh directories creates no state directory" test ! -e "$STATE_DIR"

for spelled in "$VT_EXPORTS//x" "$VT_EXPORTS/x/" "$VT_EXPORTS//x//" "$VT_EXPORTS/./x" \
	"$VT_EXPORTS/x/." "/${VT_EXPORTS#/}/././x/"; do
	expect_exit 0 vm path --type bind --export "$spelled"
	is "$LAST_OUT" "$mp" "'$spelled' names the same share"
done
other=$(mkexport y)
expect_exit 0 vm path --type bind --export "$other"
isnt "$LAST_OUT" "$mp" "another export has another mountpoint"

# Attach through a spelling variant: one share, stored normalized.
expect_exit 0 vm attach --type bind --export "$VT_EXPORTS//x/" --volume v1 --owner o1
is "$LAST_OUT" "$mp/v1" "attach prints <mountpoint>/<volume>"
expect_exit 0 vm attach --type bind --export "$VT_EXPORTS/./x" --volume v2 --owner o1
is "$(vm --json list | jq '.shares | length')" 1 "two spellings, one share"
is "$(mounts_at "$mp")" 1 "mounted once"

snapshot_host "$VT_TMP/s1"
expect_exit 0 vm path --type bind --export "$exp"
is "$LAST_OUT" "$mp" "path is stable once mounted"
snapshot_host "$VT_TMP/s2"
same_snapshot "$VT_TMP/s1" "$VT_TMP/s2" "path changes nothing"

# ---- JSON ----
expect_exit 0 vm --json attach --type bind --export "$other" --volume w1 --owner o2
j=$LAST_OUT
check "attach --json is a JSON object" jq_true 'type == "object"' "$j"
mp2=$(vm path --type bind --export "$other")
is "$(jq -r .device_path <<<"$j")" "$mp2/w1" "attach --json device_path"
is "$(jq -r .mountpoint <<<"$j")" "$mp2" "attach --json mountpoint"

expect_exit 0 vm --json list
j=$LAST_OUT
is "$(jq -r .host_state <<<"$j")" up "list: host_state up"
is "$(jq -r '.generation | type' <<<"$j")" number "list: generation is a number"
is "$(jq '.shares | length' <<<"$j")" 2 "list: two shares"
s=$(MP=$mp jq -c '.shares[] | select(.mountpoint == env.MP)' <<<"$j")
is "$(jq -r .driver <<<"$s")" bind "share.driver"
is "$(jq -r .export <<<"$s")" "$exp" "share.export is the normalized export"
is "$(jq -r '.options | type' <<<"$s")" string "share.options is a string"
is "$(jq -r .state <<<"$s")" mounted "share.state mounted"
check "share.mount_id is a positive integer" jq_true '(.mount_id | type) == "number" and .mount_id > 0' "$s"
is "$(jq -c '[.attachments[] | [.volume, .owner]] | sort' <<<"$s")" '[["v1","o1"],["v2","o1"]]' "share.attachments"
is "$(jq -c '[.attachments[] | keys] | unique' <<<"$s")" '[["owner","volume"]]' "attachments have exactly volume and owner"
is "$(jq -r '.adopted | type' <<<"$s")" boolean "share.adopted is a boolean"
is "$(jq -r .adopted <<<"$s")" false "share.adopted is false for a share volmount mounted"
is "$(jq -c '[.shares[] | keys] | unique | .[0]' <<<"$j")" \
	'["adopted","attachments","driver","export","mount_id","mountpoint","options","state"]' "a share has the documented fields"

expect_exit 0 vm --json status
j=$LAST_OUT
is "$(jq -r .host_state <<<"$j")" up "status: host_state"
is "$(jq -r '.generation | type' <<<"$j")" number "status: generation"
is "$(jq -r .shares <<<"$j")" 2 "status: shares"
is "$(jq -r .attachments <<<"$j")" 3 "status: attachments"
is "$(jq -r .mounted <<<"$j")" 2 "status: mounted"
is "$(jq -r .unhealthy <<<"$j")" 0 "status: unhealthy"

expect_exit 0 vm --json path --type bind --export "$exp"
check "path --json is JSON naming the mountpoint" grep -qF "\"$mp\"" <<<"$LAST_OUT"

# ---- plain output ----
expect_exit 0 vm list
plain=$LAST_OUT
for word in "$mp" "$mp2" "$exp" v1 v2 w1 o1 o2 mounted; do
	check "plain list mentions $word" grep -qF -- "$word" <<<"$plain"
done
expect_exit 0 vm status
check "plain status says up" grep -qw up <<<"$LAST_OUT"
gen=$(vm --json status | jq -r .generation)
check "plain status shows the generation" grep -qw -- "$gen" <<<"$LAST_OUT"

# ---- usage errors: 64, and nothing changes ----
snapshot_host "$VT_TMP/u1"
expect_exit 64 vm
expect_exit 64 vm frobnicate
expect_exit 64 vm --no-such-flag list
expect_exit 64 vm list extra-argument
expect_exit 64 vm attach --type bind --export "$exp" --volume v9
expect_exit 64 vm attach --type bind --export "$exp" --owner o9
expect_exit 64 vm attach --type bind --volume v9 --owner o9
expect_exit 64 vm attach --export "$exp" --volume v9 --owner o9
expect_exit 64 vm attach --type bind --export "$exp" --volume v9 --owner o9 --bogus
expect_exit 64 vm attach --type bind --export "$exp" --volume v9 --owner o9 stray
expect_exit 64 vm attach --type
expect_exit 64 vm detach --type bind --export "$exp" --volume v9
expect_exit 64 vm path --type bind
expect_exit 64 vm path --export "$exp"
stderr_explains "a usage error explains itself"
for t in abc -1 '' nan inf 1.2.3 5x 100000; do
	expect_exit 64 vm --timeout "$t" status
done
expect_exit 64 vm --timeout
snapshot_host "$VT_TMP/u2"
same_snapshot "$VT_TMP/u1" "$VT_TMP/u2" "usage errors changed nothing"
expect_exit 0 vm --timeout 0.5 status
expect_exit 0 vm --timeout 3 list
expect_exit '64|65' vm attach --type nosuchfs --export "$exp" --volume v9 --owner o9
check "defaults untouched while every flag was given" defaults_empty

# ---- conventions: -V, per-command help, JSON errors (issue 13) ----
for v in -V --version; do
	expect_exit 0 vm "$v"
	check "$v prints the version" grep -Eq '^volmount [0-9]+\.[0-9]+\.[0-9]+ ' <<<"$LAST_OUT"
done
for cmd in attach detach path list status host-up check repair gc monitor host-down; do
	expect_exit 0 vm "$cmd" --help
	is "$(head -n 1 <<<"$LAST_OUT" | cut -d' ' -f1-5)" "Usage: volmount [GLOBAL OPTIONS] $cmd" \
		"$cmd --help is the usage of $cmd"
	if grep -q '^Commands:' <<<"$LAST_OUT"; then
		not_ok "$cmd --help is not the global help"
	else
		ok "$cmd --help is not the global help"
	fi
done
expect_exit 0 vm attach -h
for o in --type --export --volume --owner --option; do
	check "attach --help names $o" grep -q -- "^  $o " <<<"$LAST_OUT"
done
check "attach --help does not name monitor's --interval" test -n "${LAST_OUT##*--interval*}"
expect_exit 0 vm monitor --help
for o in --interval --metrics --repair; do
	check "monitor --help names $o" grep -q -- "^  $o" <<<"$LAST_OUT"
done
check "monitor --help does not name --volume" test -n "${LAST_OUT##*--volume*}"
# --json: a failure is also one JSON error object on stdout, wherever --json stands.
for args in "--json frobnicate" "--json attach --type bind" "attach --bogus --json" \
	"--json --timeout nan status" "list --json extra"; do
	# shellcheck disable=SC2086 # word splitting of $args is intended
	expect_exit 64 vm $args
	check "'$args': the error object" jq_true \
		'.error.kind == "usage" and .error.exit_code == 64 and (.error.message | length > 0) and (keys == ["error"])' \
		"$LAST_OUT" || diag "stdout: $LAST_OUT"
	stderr_explains "'$args': the error is still on stderr"
done
expect_exit 64 vm attach --bogus
is "$LAST_OUT" "" "without --json a failure prints nothing on stdout"

# ---- environment and flag precedence ----
E=$VT_TMP/env
F=$VT_TMP/flags
env_vm() {
	VOLMOUNT_STATE_DIR=$E/state VOLMOUNT_BASE_DIR=$E/mnt VOLMOUNT_RUN_DIR=$E/run \
		timeout 30 "$VOLMOUNT_BIN" "$@"
}
expect_exit 0 env_vm path --type bind --export "$exp"
is "$LAST_OUT" "$E/mnt/bind/${mp##*/}" "VOLMOUNT_BASE_DIR is used"
expect_exit 0 env_vm attach --type bind --export "$exp" --volume e1 --owner o1
check "VOLMOUNT_STATE_DIR holds the ledger" test -f "$E/state/ledger.db"
check "VOLMOUNT_RUN_DIR holds the host lock" test -e "$E/run/host.lock"
check "VOLMOUNT_RUN_DIR holds the share's lock" test -e "$E/run/locks/${mp##*/}.lock"
is "$(mounts_at "$E/mnt/bind/${mp##*/}")" 1 "the share is mounted under VOLMOUNT_BASE_DIR"
is "$(n_attached "$mp")" 2 "the flagged ledger is not changed by the env one"

expect_exit 0 env_vm --state-dir "$F/state" --base-dir "$F/mnt" --run-dir "$F/run" \
	attach --type bind --export "$exp" --volume f1 --owner o1
is "$LAST_OUT" "$F/mnt/bind/${mp##*/}/f1" "--base-dir beats VOLMOUNT_BASE_DIR"
check "--state-dir beats VOLMOUNT_STATE_DIR" test -f "$F/state/ledger.db"
check "--run-dir beats VOLMOUNT_RUN_DIR" test -e "$F/run/host.lock"
is "$(env_vm --json list | jq -c '[.shares[].attachments[] | .volume]')" '["e1"]' "the env ledger did not get the flagged attach"
expect_exit 0 env_vm --state-dir "$F/state" --base-dir "$F/mnt" --run-dir "$F/run" \
	detach --type bind --export "$exp" --volume f1 --owner o1
expect_exit 0 env_vm detach --type bind --export "$exp" --volume e1 --owner o1
is "$(mounts_under "$E/mnt")$(mounts_under "$F/mnt")" "" "env and flag shares unmounted"

# A configuration file (VOLMOUNT_CONFIG, --config) sets the paths below env and flags.
C=$VT_TMP/conf
mkdir -p "$C"
cat >"$C/volmount.conf" <<EOF
# test configuration
state_dir = $C/state
base_dir = $C/mnt
run_dir = $C/run
timeout = 5
EOF
chmod 0600 "$C/volmount.conf"
expect_exit 0 env VOLMOUNT_CONFIG="$C/volmount.conf" timeout 30 "$VOLMOUNT_BIN" path --type bind --export "$exp"
is "$LAST_OUT" "$C/mnt/bind/${mp##*/}" "VOLMOUNT_CONFIG's base_dir is used"
expect_exit 0 timeout 30 "$VOLMOUNT_BIN" --config "$C/volmount.conf" path --type bind --export "$exp"
is "$LAST_OUT" "$C/mnt/bind/${mp##*/}" "--config's base_dir is used"
expect_exit 0 env VOLMOUNT_CONFIG=/nonexistent/volmount.conf timeout 30 "$VOLMOUNT_BIN" \
	--config "$C/volmount.conf" path --type bind --export "$exp"
is "$LAST_OUT" "$C/mnt/bind/${mp##*/}" "--config beats VOLMOUNT_CONFIG"
expect_exit 0 timeout 30 "$VOLMOUNT_BIN" --config "$C/volmount.conf" --base-dir "$F/mnt" path --type bind --export "$exp"
is "$LAST_OUT" "$F/mnt/bind/${mp##*/}" "--base-dir beats the configuration file"
expect_exit 0 env VOLMOUNT_BASE_DIR="$E/mnt" timeout 30 "$VOLMOUNT_BIN" --config "$C/volmount.conf" path --type bind --export "$exp"
is "$LAST_OUT" "$E/mnt/bind/${mp##*/}" "VOLMOUNT_BASE_DIR beats the configuration file"
chmod 0666 "$C/volmount.conf"
expect_exit 78 timeout 30 "$VOLMOUNT_BIN" --config "$C/volmount.conf" path --type bind --export "$exp"
stderr_explains "a world-writable configuration file is refused with a message"
chmod 0600 "$C/volmount.conf"
echo "no_such_key = 1" >>"$C/volmount.conf"
expect_exit 78 timeout 30 "$VOLMOUNT_BIN" --config "$C/volmount.conf" path --type bind --export "$exp"
expect_exit 78 timeout 30 "$VOLMOUNT_BIN" --config "$C/missing.conf" path --type bind --export "$exp"
check "defaults untouched by env and config runs" defaults_empty

# ---- the defaults, with nothing given (in this namespace's empty /var/lib and /run) ----
expect_exit 0 timeout 30 "$VOLMOUNT_BIN" path --type bind --export "$exp"
is "$LAST_OUT" "/var/lib/volmount/mnt/bind/${mp##*/}" "default base is /var/lib/volmount/mnt"
expect_exit 0 timeout 30 "$VOLMOUNT_BIN" attach --type bind --export "$exp" --volume d1 --owner o1
check "default state dir holds the ledger" test -f /var/lib/volmount/ledger.db
check "default run dir holds the host lock" test -e /run/volmount/host.lock
is "$(mounts_at "/var/lib/volmount/mnt/bind/${mp##*/}")" 1 "mounted under the default base"
expect_exit 0 timeout 30 "$VOLMOUNT_BIN" detach --type bind --export "$exp" --volume d1 --owner o1
is "$(mounts_at "/var/lib/volmount/mnt/bind/${mp##*/}")" 0 "unmounted under the default base"

# ---- clean up what this test attached through the flags ----
expect_exit 0 vm detach --type bind --export "$exp" --volume v1 --owner o1
expect_exit 0 vm detach --type bind --export "$exp" --volume v2 --owner o1
expect_exit 0 vm detach --type bind --export "$other" --volume w1 --owner o2
is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted"
done_testing
