#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Someone plants something at a share's mountpoint before the first attach: a symlink, a
# foreign mount, a non-empty directory, a file; or makes the driver or base directory a
# symlink. Each attach is refused (73; 77 allowed for a symlinked base/driver directory) and
# nothing is mounted over or through it, and the ledger gets no row.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

keep=$(mkexport keep)
exp=$(mkexport victim)
echo mine >"$exp/owner-file"
target=$VT_TMP/target
mkdir -p "$target"
echo canary >"$target/canary"

# A share that stays attached: the base and driver directories exist, made by volmount.
expect_exit 0 vm attach --type bind --export "$keep" --volume k --owner k
check "volmount made <base>/bind" test -d "$BASE_DIR/bind"

mp=$(vm path --type bind --export "$exp")
h=${mp##*/}
[ -n "$h" ] || bail_out "no path"

attach() { vm attach --type bind --export "$exp" --volume v --owner o; }

# no_trace DESC: the victim share has no ledger row and is not listed; the keeper is intact.
no_trace() {
	is "$(ledger_sql "SELECT count(*) FROM shares WHERE hash = '$h'")" 0 "$1: no share row"
	is "$(ledger_attachments)" 1 "$1: only the keeper's attachment in the ledger"
	is "$(share_json "$mp")" "" "$1: list does not show the share"
}

tree() { (cd "$1" && find . -printf '%p %y %m %s\n' | LC_ALL=C sort); }
target_tree=$(tree "$target")

# ---- 1. a symlink at the mountpoint ----
ln -s "$target" "$mp"
expect_exit 73 attach
stderr_explains "symlink: the refusal explains itself"
check "symlink: still a symlink" test -L "$mp"
is "$(readlink "$mp")" "$target" "symlink: still points at its target"
is "$(mounts_at "$mp")" 0 "symlink: nothing mounted at the link"
is "$(mounts_at "$target")" 0 "symlink: nothing mounted at the link's target"
is "$(tree "$target")" "$target_tree" "symlink: the target directory is untouched"
no_trace symlink
rm "$mp"

# A dangling symlink must not make volmount create its target.
ln -s "$VT_TMP/not-yet" "$mp"
expect_exit 73 attach
check "dangling symlink: its target was not created" test ! -e "$VT_TMP/not-yet"
is "$(mounts_at "$VT_TMP/not-yet")" 0 "dangling symlink: nothing mounted at its target"
no_trace "dangling symlink"
rm "$mp"

# ---- 2. a foreign mount at the mountpoint ----
mkdir -m 0700 "$mp"
mount -t tmpfs someone-else "$mp"
echo theirs >"$mp/theirs"
expect_exit 73 attach
stderr_explains "foreign mount: the refusal explains itself"
is "$(mounts_at "$mp")" 1 "foreign mount: still exactly one mount there"
is "$(fstype_at "$mp")" tmpfs "foreign mount: it is still the tmpfs"
is "$(cat "$mp/theirs" 2>/dev/null)" theirs "foreign mount: its content is untouched"
no_trace "foreign mount"
umount "$mp"
rmdir "$mp"

# ---- 3. a non-empty directory at the mountpoint ----
mkdir -m 0700 "$mp"
echo planted >"$mp/planted"
expect_exit 73 attach
stderr_explains "non-empty directory: the refusal explains itself"
is "$(mounts_at "$mp")" 0 "non-empty directory: nothing mounted over it"
is "$(cat "$mp/planted" 2>/dev/null)" planted "non-empty directory: its content is untouched"
no_trace "non-empty directory"
rm "$mp/planted"
rmdir "$mp"

# ---- 3b. an empty directory that someone else owns, open to all ----
mkdir -m 0777 "$mp"
chown 65534:65534 "$mp"
run_capture attach
if [ "$LAST_RC" = 73 ]; then
	ok "foreign-owned empty directory: refused (73)"
	is "$(mounts_at "$mp")" 0 "foreign-owned empty directory: nothing mounted over it"
	no_trace "foreign-owned empty directory"
	rmdir "$mp"
elif [ "$LAST_RC" = 0 ]; then
	# Taken over: then it must be ours underneath the mount, as if volmount had made it.
	peek=$VT_TMP/peek
	mkdir -p "$peek"
	mount --bind "$BASE_DIR/bind" "$peek"
	is "$(stat -c '%a %U' "$peek/$h")" "700 root" "foreign-owned empty directory: taken over only as root 0700"
	umount "$peek"
	expect_exit 0 vm detach --type bind --export "$exp" --volume v --owner o
	rmdir "$mp" 2>/dev/null
else
	not_ok "foreign-owned empty directory: refused (73) or taken over (0), got $LAST_RC"
	diag "$LAST_ERR"
fi
check "foreign-owned empty directory: nothing left at the mountpoint" test ! -e "$mp"

# ---- 4. a regular file at the mountpoint ----
echo file >"$mp"
expect_exit 73 attach
check "regular file: still a regular file" test -f "$mp"
is "$(mounts_at "$mp")" 0 "regular file: nothing mounted over it"
no_trace "regular file"
rm "$mp"

# ---- the same share attaches normally once the plants are gone ----
expect_exit 0 attach
is "$(mounts_at "$mp")" 1 "clean mountpoint: mounted once"
is "$(cat "$mp/owner-file" 2>/dev/null)" mine "clean mountpoint: it is the export"

# ---- 5. our mount replaced behind our back by someone else's ----
umount "$mp"
mount -t tmpfs impostor "$mp"
expect_exit 73 vm attach --type bind --export "$exp" --volume v2 --owner o
is "$(mounts_at "$mp")" 1 "impostor: not stacked over"
is "$(fstype_at "$mp")" tmpfs "impostor: the impostor is still there"
is "$(ledger_sql "SELECT count(*) FROM attachments WHERE hash = '$h' AND volume = 'v2'")" 0 "impostor: no attachment recorded"
umount "$mp"
expect_exit 0 vm host-up
is "$(mounts_at "$mp")" 1 "host-up remounts the share once the impostor is gone"
expect_exit 0 vm detach --type bind --export "$exp" --volume v --owner o
is "$(mounts_at "$mp")" 0 "detached: unmounted"
check "detached: mountpoint removed" test ! -e "$mp"

expect_exit 0 vm detach --type bind --export "$keep" --volume k --owner k
is "$(mounts_under "$BASE_DIR")" "" "main base: nothing left mounted"

# ---- 6. a symlinked driver directory ----
use_dirs "$VT_TMP/b2"
elsewhere=$VT_TMP/elsewhere
mkdir -p "$elsewhere" "$BASE_DIR"
chmod 0755 "$VT_TMP/b2" "$BASE_DIR"
ln -s "$elsewhere" "$BASE_DIR/bind"
expect_exit '73|77' attach
stderr_explains "symlinked driver directory: the refusal explains itself"
is "$(ls -A "$elsewhere")" "" "symlinked driver directory: nothing created through it"
is "$(mounts_under "$elsewhere")" "" "symlinked driver directory: nothing mounted through it"
check "symlinked driver directory: the symlink is left alone" test -L "$BASE_DIR/bind"
is "$(ledger_shares)" 0 "symlinked driver directory: no share row"

# ---- 7. a symlinked base directory ----
use_dirs "$VT_TMP/b3"
elsewhere=$VT_TMP/elsewhere3
mkdir -p "$elsewhere" "$VT_TMP/b3"
chmod 0755 "$elsewhere" "$VT_TMP/b3"
ln -s "$elsewhere" "$BASE_DIR"
expect_exit '73|77' attach
stderr_explains "symlinked base directory: the refusal explains itself"
is "$(ls -A "$elsewhere")" "" "symlinked base directory: nothing created through it"
is "$(mounts_under "$elsewhere")" "" "symlinked base directory: nothing mounted through it"
is "$(ledger_shares)" 0 "symlinked base directory: no share row"

done_testing
