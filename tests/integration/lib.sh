# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# lib.sh - sourced by every integration test. Each test re-executes itself in a private
# mount+net+pid namespace (in_private_ns), works in a tmpfs mounted on a mktemp directory, and
# reports TAP lines; the EXIT trap cleans up, prints the plan and sets the exit status.
#
#   . "$(dirname "$0")/lib.sh"
#   in_private_ns "$0" "$@"
#   expect_exit 0 vm attach --type bind --export "$(mkexport a)" --volume v --owner o
#   done_testing

_VT_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VOLMOUNT_SRCDIR=${VOLMOUNT_SRCDIR:-$(cd "$_VT_LIBDIR/../.." && pwd)}
VOLMOUNT_BIN=${VOLMOUNT_BIN:-$VOLMOUNT_SRCDIR/build/volmount}
VOLMOUNT_STRESS=${VOLMOUNT_STRESS:-$VOLMOUNT_SRCDIR/build/tests/volmount-stress}
export VOLMOUNT_SRCDIR VOLMOUNT_BIN VOLMOUNT_STRESS

_VT_NS_ARGS=(--mount --propagation private --net --pid --fork --kill-child --mount-proc)

_VT_N=0
_VT_FAILED=0
_VT_DONE=0
_VT_SETUP=0

# ---- TAP ----

diag() {
	local line
	while IFS= read -r line; do
		printf '# %s\n' "$line"
	done <<<"$*"
}

ok() {
	_VT_N=$((_VT_N + 1))
	printf 'ok %d - %s\n' "$_VT_N" "$*"
}

not_ok() {
	_VT_N=$((_VT_N + 1))
	_VT_FAILED=$((_VT_FAILED + 1))
	printf 'not ok %d - %s\n' "$_VT_N" "$*"
}

# check DESC CMD...: ok when CMD succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then
		ok "$desc"
	else
		not_ok "$desc"
		return 1
	fi
}

# is GOT EXPECTED DESC
is() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		not_ok "$3"
		diag "got:      '$1'"
		diag "expected: '$2'"
		return 1
	fi
}

# isnt GOT UNEXPECTED DESC
isnt() {
	if [ "$1" != "$2" ]; then
		ok "$3"
	else
		not_ok "$3"
		diag "got the value it must not be: '$1'"
		return 1
	fi
}

skip_all() {
	printf '1..0 # SKIP %s\n' "$*"
	_VT_DONE=2
	exit 77
}

bail_out() {
	printf 'Bail out! %s\n' "$*"
	_VT_FAILED=$((_VT_FAILED + 1))
	exit 1
}

done_testing() {
	_VT_DONE=1
	exit 0
}

# A short, printable rendering of a command line for test descriptions.
_vt_cmdline() {
	local s
	s=$(printf '%q ' "$@")
	s=${s% }
	if [ "${#s}" -gt 160 ]; then
		s="${s:0:157}..."
	fi
	printf '%s' "$s"
}

# expect_exit CODE CMD...: runs CMD with stdout and stderr captured (LAST_OUT, LAST_ERR,
# LAST_RC) and reports ok when it exits with CODE. CODE may be a list "73|77".
LAST_OUT=
LAST_ERR=
LAST_RC=
run_capture() {
	"$@" >"$VT_TMP/.out" 2>"$VT_TMP/.err"
	LAST_RC=$?
	LAST_OUT=$(cat "$VT_TMP/.out")
	LAST_ERR=$(cat "$VT_TMP/.err")
	return 0
}

expect_exit() {
	local want=$1 desc
	shift
	desc="exit $want: $(_vt_cmdline "$@")"
	run_capture "$@"
	case "|$want|" in
	*"|$LAST_RC|"*)
		ok "$desc"
		return 0
		;;
	esac
	not_ok "$desc"
	diag "exit status $LAST_RC"
	[ -n "$LAST_OUT" ] && diag "stdout: $LAST_OUT"
	[ -n "$LAST_ERR" ] && diag "stderr: $LAST_ERR"
	return 1
}

# stderr_one_line DESC: the last command's stderr is non-empty (a failure explains itself).
stderr_explains() {
	if [ -n "$LAST_ERR" ]; then
		ok "$1"
	else
		not_ok "$1"
		diag "stderr was empty"
		return 1
	fi
}

# ---- the product ----

# Global options pointing every command at the test's directories.
VM_ARGS=()

vm() {
	timeout -k 5 "${VM_TIMEOUT:-40}" "$VOLMOUNT_BIN" "${VM_ARGS[@]}" "$@"
}

# mkexport NAME: creates (if needed) and prints the absolute path of an export directory.
mkexport() {
	mkdir -p "$VT_EXPORTS/$1" && printf '%s\n' "$VT_EXPORTS/$1"
}

# ---- the kernel's view ----

# Prints "id parent mountpoint fstype" for every mount, with the mount point unescaped
# (\040 and friends), one per line; a mount point containing a newline is printed escaped.
# shellcheck disable=SC2016 # awk program, not shell
_VT_AWK_UNESC='
function unesc(s,   out, i, c, d) {
	out = ""
	i = 1
	while (i <= length(s)) {
		c = substr(s, i, 1)
		d = substr(s, i + 1, 3)
		if (c == "\\" && d ~ /^[0-7][0-7][0-7]$/) {
			out = out sprintf("%c", (substr(d, 1, 1) * 64) + (substr(d, 2, 1) * 8) + substr(d, 3, 1))
			i += 4
		} else {
			out = out c
			i++
		}
	}
	return out
}
function fstype(   k) {
	for (k = 7; k <= NF; k++)
		if ($k == "-")
			return $(k + 1)
	return "?"
}
'

# mounts_at PATH: how many mounts have PATH as their mount point.
mounts_at() {
	MP=$1 awk "$_VT_AWK_UNESC"'
		unesc($5) == ENVIRON["MP"] { n++ }
		END { print n + 0 }' /proc/self/mountinfo
}

# fstype_at PATH: the filesystem type of the topmost mount at PATH ("" if none).
fstype_at() {
	MP=$1 awk "$_VT_AWK_UNESC"'
		unesc($5) == ENVIRON["MP"] { t = fstype() }
		END { print t }' /proc/self/mountinfo
}

# mountinfo_at PATH: the mountinfo line(s) of mounts at PATH.
mountinfo_at() {
	MP=$1 awk "$_VT_AWK_UNESC"'unesc($5) == ENVIRON["MP"]' /proc/self/mountinfo
}

# mounts_under DIR: the (unescaped) mount points strictly below DIR, sorted, one per line.
mounts_under() {
	MP=${1%/}/ awk "$_VT_AWK_UNESC"'
		{ p = unesc($5) }
		index(p, ENVIRON["MP"]) == 1 && length(p) > length(ENVIRON["MP"]) { print p }' \
		/proc/self/mountinfo | sort
}

# stacked_under DIR: prints every mount point below DIR that has two mounts at once, or a mount
# whose parent mount sits at the same mount point (a stack seen across a concurrent change).
# Exit status 1 when something was found.
stacked_under() {
	MP=${1%/}/ awk "$_VT_AWK_UNESC"'
		{ p = unesc($5) }
		index(p, ENVIRON["MP"]) != 1 { next }
		{ mp[$1] = p; par[$1] = $2; cnt[p]++; ids[p] = ids[p] " " $1 }
		END {
			bad = 0
			for (id in mp) {
				if ((par[id] in mp) && mp[par[id]] == mp[id]) {
					print "stacked " mp[id] " (mount " id " on mount " par[id] ")"
					bad = 1
				}
			}
			for (p in cnt)
				if (cnt[p] > 1) {
					print "twice " p " (mounts" ids[p] ")"
					bad = 1
				}
			exit bad
		}' /proc/self/mountinfo
}

# A background sampler that looks for stacked mounts under the base directory every few ms.
# stop_stack_sampler reports ok/not ok (and how many samples it took).
_VT_SAMPLER_PID=
start_stack_sampler() {
	rm -f "$VT_TMP/sampler.bad" "$VT_TMP/sampler.count"
	(
		n=0
		while [ ! -e "$VT_TMP/sampler.stop" ] && [ "$n" -lt 100000 ]; do
			if ! out=$(stacked_under "$BASE_DIR"); then
				# mountinfo is read a page per read(): one read can show a mount and,
				# after it was replaced, its successor at the same path. Two mounts
				# at one path count only if a second read, begun after the first
				# ended, shows the same two mount ids there (a mount gone during the
				# first read cannot be in the second). A parent link at the same
				# mount point is proof by itself.
				case "$out" in
				*stacked*) printf '%s\n' "$out" >>"$VT_TMP/sampler.bad" ;;
				*)
					if ! again=$(stacked_under "$BASE_DIR"); then
						{ grep '^stacked' <<<"$again"
						  grep -Fxf <(printf '%s\n' "$out") <<<"$again"; } \
							>>"$VT_TMP/sampler.bad"
					fi
					;;
				esac
			fi
			n=$((n + 1))
			echo "$n" >"$VT_TMP/sampler.count"
			sleep 0.003
		done
	) &
	_VT_SAMPLER_PID=$!
}

stop_stack_sampler() {
	local n=0
	[ -n "$_VT_SAMPLER_PID" ] || return 0
	touch "$VT_TMP/sampler.stop"
	wait "$_VT_SAMPLER_PID"
	_VT_SAMPLER_PID=
	rm -f "$VT_TMP/sampler.stop"
	[ -e "$VT_TMP/sampler.count" ] && n=$(cat "$VT_TMP/sampler.count")
	if [ -s "$VT_TMP/sampler.bad" ]; then
		not_ok "no mount under the base directory was ever stacked ($n samples)"
		diag "$(sort -u "$VT_TMP/sampler.bad" | head -20)"
	elif [ "$n" -lt "${VT_MIN_SAMPLES:-10}" ]; then
		not_ok "stack sampler ran (only $n samples)"
	else
		ok "no mount under the base directory was ever stacked ($n samples)"
	fi
}

# ---- the ledger ----

LEDGER=

# ledger_sql SQL: runs a read-only query on the ledger (nothing if there is no ledger yet).
ledger_sql() {
	[ -e "$LEDGER" ] || return 0
	sqlite3 -readonly -batch -cmd '.timeout 5000' "$LEDGER" "$1"
}

# ledger_exec SQL: changes the ledger behind volmount's back (crash simulation only).
ledger_exec() {
	sqlite3 -batch -cmd '.timeout 5000' "$LEDGER" "$1"
}

# ledger_tables: the ledger's own tables, one per line.
ledger_tables() {
	ledger_sql "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
}

# ledger_count PATTERN: total rows in the tables whose name matches the glob PATTERN
# (e.g. '*attach*', '*share*'); 0 without a ledger.
ledger_count() {
	local t total=0 n
	for t in $(ledger_tables); do
		# shellcheck disable=SC2254
		case "$t" in
		$1)
			n=$(ledger_sql "SELECT count(*) FROM \"$t\"")
			total=$((total + ${n:-0}))
			;;
		esac
	done
	echo "$total"
}

ledger_attachments() { ledger_count '*attach*'; }
ledger_shares() { ledger_count '*share*'; }

# ---- snapshots, for "nothing changed" ----

# snapshot_host FILE: the mount table, the file trees volmount manages (names, types, modes,
# owners, link targets; not the SQLite -wal/-shm files a read may leave) and the ledger's rows.
snapshot_host() {
	{
		echo "== mountinfo"
		cat /proc/self/mountinfo
		echo "== files"
		local d
		for d in "$BASE_DIR" "$STATE_DIR" "$VT_EXPORTS"; do
			[ -e "$d" ] || [ -L "$d" ] || {
				echo "absent $d"
				continue
			}
			find "$d" -maxdepth 3 \( -name 'ledger.db-wal' -o -name 'ledger.db-shm' \) -prune -o \
				-printf '%p %y %m %U:%G %l\n' 2>&1
		done | LC_ALL=C sort
		echo "== ledger"
		if [ -e "$LEDGER" ]; then
			sqlite3 -readonly -batch -cmd '.timeout 5000' "$LEDGER" .dump 2>&1
		fi
	} >"$1"
}

# same_snapshot BEFORE AFTER DESC
same_snapshot() {
	if cmp -s "$1" "$2"; then
		ok "$3"
	else
		not_ok "$3"
		diag "$(diff "$1" "$2" | head -20)"
		return 1
	fi
}

# ---- JSON helpers ----

# jq_true FILTER JSON: FILTER is true for JSON (quietly, for check).
jq_true() {
	jq -e "$1" <<<"$2" >/dev/null 2>&1
}

# share_json MOUNTPOINT: the share object of `list --json` at MOUNTPOINT (empty if none).
share_json() {
	vm --json list | MP=$1 jq -c '.shares[] | select(.mountpoint == env.MP)'
}

# n_attached MOUNTPOINT: attachments `list --json` shows for the share (0 if not listed).
n_attached() {
	local j
	j=$(share_json "$1")
	if [ -z "$j" ]; then
		echo 0
	else
		jq '.attachments | length' <<<"$j"
	fi
}

# ledger_attached MOUNTPOINT: attachments the ledger records for the share at MOUNTPOINT.
ledger_attached() {
	local n
	n=$(ledger_sql "SELECT count(*) FROM attachments a JOIN shares s ON s.hash = a.hash WHERE s.mountpoint = '$1'")
	echo "${n:-0}"
}

# mount_source MOUNTPOINT: the source the kernel shows for the mount at MOUNTPOINT.
mount_source() {
	mountinfo_at "$1" | awk '{ for (k = 7; k <= NF; k++) if ($k == "-") { print $(k + 2); exit } }'
}

# expect_mount_flags MOUNTPOINT FLAG...: the mount at MOUNTPOINT has each per-mount FLAG.
expect_mount_flags() {
	local mp=$1 f info
	shift
	info=$(mountinfo_at "$mp")
	for f in "$@"; do
		case ",$(awk '{print $6}' <<<"$info")," in
		*,"$f",*) ok "mounted $f" ;;
		*) not_ok "mounted $f" && diag "$info" ;;
		esac
	done
}

# ---- the six-attachment lifecycle (test-lifecycle, test-sshfs, test-glusterfs) ----
#
# The script defines attach VOLUME OWNER and detach VOLUME OWNER for its share. PAIRS are the
# attachments, in order: three volumes for two owners each.
PAIRS=("vol-a owner1" "vol-a owner2" "vol.b owner1" "vol.b owner2" "vol_c owner1" "vol_c owner2")
declare -gA devpath

# attach_pairs MOUNTPOINT: attach every pair; after each, the device path printed, exactly one
# mount, and as many attachments listed and recorded. Sets devpath[VOLUME/OWNER]. Bails out
# if the first attach fails (nothing after it could pass).
attach_pairs() {
	local mp=$1 p v o n=0
	for p in "${PAIRS[@]}"; do
		read -r v o <<<"$p"
		expect_exit 0 attach "$v" "$o" || [ "$n" -gt 0 ] || bail_out "the first attach failed"
		# shellcheck disable=SC2034 # read by the scripts
		devpath[$v/$o]=$LAST_OUT
		n=$((n + 1))
		is "$LAST_OUT" "$mp/$v" "attach $v $o prints the device path"
		is "$(mounts_at "$mp")" 1 "mounted exactly once after $n attachment(s)"
		is "$(n_attached "$mp")" "$n" "list shows $n attachment(s)"
		is "$(ledger_attached "$mp")" "$n" "ledger holds $n attachment(s)"
	done
}

# detach_pairs MOUNTPOINT: detach every pair; until the last the share stays mounted once with
# the rest recorded and its directory present; the last detach unmounts it and removes the
# directory.
detach_pairs() {
	local mp=$1 p v o n=${#PAIRS[@]}
	for p in "${PAIRS[@]}"; do
		read -r v o <<<"$p"
		expect_exit 0 detach "$v" "$o"
		n=$((n - 1))
		[ "$n" -eq 0 ] && break
		is "$(mounts_at "$mp")" 1 "still mounted once with $n attachment(s) left"
		is "$(ledger_attached "$mp")" "$n" "ledger holds $n attachment(s)"
		[ "$n" -eq 1 ] && check "mountpoint directory still there before the last detach" test -d "$mp"
	done
	is "$(mounts_at "$mp")" 0 "the last detach unmounted the share"
	check "the last detach removed the mountpoint directory" test ! -e "$mp"
}

# ---- namespace and fixture ----

_vt_cleanup() {
	local p
	# Background helpers the test started (samplers, lock holders, churn loops).
	for p in $(jobs -p); do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ -n "${VT_TMP:-}" ] && [ -d "$VT_TMP" ]; then
		umount -R -l "$VT_TMP" 2>/dev/null
		rmdir "$VT_TMP" 2>/dev/null || rm -rf --one-file-system "$VT_TMP"
	fi
}

_vt_on_exit() {
	local rc=$?
	trap - EXIT
	_vt_cleanup
	if [ "$_VT_DONE" = 2 ]; then
		exit 77
	fi
	if [ "$_VT_DONE" != 1 ]; then
		not_ok "the script ran to its end (it stopped early with status $rc)"
	fi
	printf '1..%d\n' "$_VT_N"
	if [ "$_VT_FAILED" -gt 0 ]; then
		diag "$_VT_FAILED of $_VT_N checks failed"
		exit 1
	fi
	exit 0
}

# use_dirs DIR: points STATE_DIR/BASE_DIR/RUN_DIR (and vm) at DIR/{state,mnt,run}; the
# directories themselves are left for volmount to create.
use_dirs() {
	STATE_DIR=$1/state
	BASE_DIR=$1/mnt
	RUN_DIR=$1/run
	LEDGER=$STATE_DIR/ledger.db
	VM_ARGS=(--state-dir "$STATE_DIR" --base-dir "$BASE_DIR" --run-dir "$RUN_DIR")
	export STATE_DIR BASE_DIR RUN_DIR LEDGER
}

_vt_setup() {
	[ -x "$VOLMOUNT_BIN" ] || bail_out "VOLMOUNT_BIN=$VOLMOUNT_BIN is not an executable"
	VT_TMP=$(mktemp -d /tmp/volmount-test.XXXXXX) || bail_out "mktemp failed"
	trap _vt_on_exit EXIT
	# A tmpfs of our own: everything the test creates vanishes with the namespace, even if
	# the clean-up never runs.
	mount -t tmpfs -o mode=0755,size=256m volmount-test "$VT_TMP" ||
		bail_out "cannot mount a tmpfs on $VT_TMP"
	VT_EXPORTS=$VT_TMP/exports
	mkdir -p "$VT_EXPORTS"
	export VT_TMP VT_EXPORTS
	# The environment must not redirect the commands under test.
	unset VOLMOUNT_STATE_DIR VOLMOUNT_BASE_DIR VOLMOUNT_RUN_DIR VOLMOUNT_CONFIG
	use_dirs "$VT_TMP"
	_VT_SETUP=1
}

# in_private_ns "$0" "$@": re-executes the test in its own mount+net+pid namespace (once), then
# sets up the fixture. Skips (77) when namespaces are unavailable, except in CI, where that is a
# failure.
in_private_ns() {
	if [ -n "${VOLMOUNT_IN_NS:-}" ]; then
		ip link set lo up || bail_out "ip link set lo up failed"
		_vt_setup
		return 0
	fi
	local why=
	if [ "$(id -u)" != 0 ]; then
		why="not root"
	elif ! unshare "${_VT_NS_ARGS[@]}" true 2>/dev/null; then
		why="cannot create mount/net/pid namespaces"
	fi
	if [ -n "$why" ]; then
		if [ -n "${CI:-}" ]; then
			printf 'Bail out! %s (CI runs as root: this must work)\n' "$why"
			exit 1
		fi
		printf '1..0 # SKIP %s\n' "$why"
		exit 77
	fi
	VOLMOUNT_IN_NS=1 exec unshare "${_VT_NS_ARGS[@]}" -- "$BASH" "$@"
}
