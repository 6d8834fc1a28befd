#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Issue 9, items 1 and 2: nobody but root may steer the directories volmount works in. Every
# ancestor of the base, state and run directories must be root-owned and not writable by group
# or others (a root-owned sticky directory such as /tmp is allowed); otherwise the call exits
# 77, names the offending directory, and creates nothing anywhere. The attacks are tried for
# real, with an unprivileged user (uid 65534) who owns a parent directory, as the nova user
# owns /var/lib/nova on a Nova host:
#   - base under the user's directory: the user could rename or exchange directories there
#     while root's helper mounts (the rename is shown to work), but nothing is ever mounted;
#   - state under the user's directory, with a decoy ledger saying "down, generation 666":
#     root never reads it, and no -wal/-shm lands in the user's directory;
#   - run under the user's directory;
#   - a root-owned but group-writable ancestor;
#   - a root-owned sticky world-writable ancestor is accepted, and there the same user cannot
#     rename root's directory (EPERM), while a directory the user made there is refused.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

USER_ID=65534
exp=$(mkexport data)

as_user() { setpriv --reuid=$USER_ID --regid=$USER_ID --clear-groups -- "$@"; }

# refused LABEL WHAT: the last command exited 77 and its one line names WHAT.
refused() {
	is "$LAST_RC" 77 "$1: exit 77"
	case "$LAST_ERR" in
	*"'$2'"*) ok "$1: the message names '$2'" ;;
	*) not_ok "$1: the message names '$2'" && diag "stderr: $LAST_ERR" ;;
	esac
	is "$(wc -l <<<"$LAST_ERR")" 1 "$1: one line on stderr"
}

# nothing_made LABEL DIR...: none of DIR exists, and nothing is mounted under $VT_TMP/t.
nothing_made() {
	local label=$1 d gone=1
	shift
	for d in "$@"; do
		if [ -e "$d" ]; then
			gone=0
			diag "$label: $d exists"
		fi
	done
	check "$label: nothing created" test "$gone" = 1
	is "$(mounts_under "$VT_TMP/t" | wc -l)" 0 "$label: nothing mounted"
}

fresh() { # fresh NAME: an empty root-owned 0755 directory $VT_TMP/t/NAME
	mkdir -p "$VT_TMP/t/$1" && chmod 0755 "$VT_TMP/t" "$VT_TMP/t/$1"
	printf '%s\n' "$VT_TMP/t/$1"
}

# ---- 1. base under a directory the user owns ----
d=$(fresh base-user)
mkdir "$d/nova" && chown $USER_ID:$USER_ID "$d/nova" && chmod 0755 "$d/nova"
VM_ARGS=(--state-dir "$d/state" --base-dir "$d/nova/mnt" --run-dir "$d/run")
# The attack's premise: the user can rename and replace what lies in that directory.
check "1: the user can make and rename directories in the parent of base" \
	as_user sh -c "mkdir '$d/nova/x' && mv '$d/nova/x' '$d/nova/y' && rmdir '$d/nova/y'"
expect_exit 77 vm attach --type bind --export "$exp" --volume v --owner o
refused "1: base under a user's directory" "$d/nova"
nothing_made "1" "$d/state" "$d/run" "$d/nova/mnt"
expect_exit 77 vm status
refused "1: status too" "$d/nova"

# ---- 2. state under a directory the user owns, with a decoy ledger ----
d=$(fresh state-user)
mkdir "$d/home" && chown $USER_ID:$USER_ID "$d/home" && chmod 0755 "$d/home"
as_user mkdir -m 0755 "$d/home/state"
as_user sqlite3 "$d/home/state/ledger.db" \
	"CREATE TABLE host(id INTEGER PRIMARY KEY, state TEXT, generation INTEGER, boot_id TEXT);
	 INSERT INTO host VALUES (1, 'down', 666, 'x'); PRAGMA user_version = 1;"
VM_ARGS=(--state-dir "$d/home/state" --base-dir "$d/mnt" --run-dir "$d/run")
expect_exit 77 vm --json status
refused "2: state under a user's directory" "$d/home"
check "2: the decoy's generation is not shown" test "${LAST_OUT/666/}" = "$LAST_OUT"
nothing_made "2" "$d/home/state/ledger.db-wal" "$d/home/state/ledger.db-shm" \
	"$d/home/state/ledger.db-journal" "$d/mnt" "$d/run"
expect_exit 77 vm attach --type bind --export "$exp" --volume v --owner o
refused "2: attach too" "$d/home"

# ---- 3. run under a directory the user owns ----
d=$(fresh run-user)
mkdir "$d/runu" && chown $USER_ID:$USER_ID "$d/runu" && chmod 0755 "$d/runu"
VM_ARGS=(--state-dir "$d/state" --base-dir "$d/mnt" --run-dir "$d/runu/volmount")
expect_exit 77 vm attach --type bind --export "$exp" --volume v --owner o
refused "3: run under a user's directory" "$d/runu"
nothing_made "3" "$d/state" "$d/mnt" "$d/runu/volmount"

# ---- 4. a root-owned, group-writable ancestor ----
d=$(fresh group-writable)
mkdir "$d/g" && chmod 0775 "$d/g"
VM_ARGS=(--state-dir "$d/state" --base-dir "$d/g/deeper/mnt" --run-dir "$d/run")
expect_exit 77 vm attach --type bind --export "$exp" --volume v --owner o
refused "4: a group-writable ancestor" "$d/g"
nothing_made "4" "$d/state" "$d/run" "$d/g/deeper"

# ---- 5. a root-owned sticky world-writable ancestor (like /tmp) ----
d=$(fresh sticky)
mkdir "$d/shared" && chmod 1777 "$d/shared"
VM_ARGS=(--state-dir "$d/shared/vm/state" --base-dir "$d/shared/vm/mnt" --run-dir "$d/shared/vm/run")
expect_exit 0 vm attach --type bind --export "$exp" --volume v --owner o
mp=$(vm path --type bind --export "$exp")
is "$(mounts_at "$mp")" 1 "5: under a root-owned sticky directory, attach works"
check "5: the user cannot rename root's directory in the sticky directory" \
	test "$(as_user mv "$d/shared/vm" "$d/shared/vm2" 2>&1 >/dev/null; echo $?)" != 0
check "5: ... so it is still there" test -d "$d/shared/vm/mnt" -a ! -e "$d/shared/vm2"
expect_exit 0 vm detach --type bind --export "$exp" --volume v --owner o
is "$(mounts_at "$mp")" 0 "5: detach unmounts"
# A directory the user made in the sticky directory is the user's: refused.
as_user mkdir -m 0755 "$d/shared/mine"
VM_ARGS=(--state-dir "$d/state" --base-dir "$d/shared/mine/mnt" --run-dir "$d/run")
expect_exit 77 vm attach --type bind --export "$exp" --volume v --owner o
refused "5: a user's directory inside the sticky one" "$d/shared/mine"
nothing_made "5b" "$d/state" "$d/run" "$d/shared/mine/mnt"

# ---- 6. a root-owned 0755 chain works as before ----
d=$(fresh plain)
VM_ARGS=(--state-dir "$d/state" --base-dir "$d/a/b/mnt" --run-dir "$d/run")
expect_exit 0 vm attach --type bind --export "$exp" --volume v --owner o
is "$(stat -c '%a %U' "$d/a" "$d/a/b" | sort -u)" "755 root" "6: the ancestors volmount made are root 0755"
expect_exit 0 vm detach --type bind --export "$exp" --volume v --owner o

done_testing
