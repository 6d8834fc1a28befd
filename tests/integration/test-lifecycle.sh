#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# One export, 3 volumes x 2 owners: the share is mounted by the first attach, exactly once the
# whole time, and unmounted (directory removed, ledger empty) only by the last detach.
# shellcheck disable=SC2317 # functions called through expect_exit
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

exp=$(mkexport data)
echo hello >"$exp/marker"

expect_exit 0 vm path --type bind --export "$exp"
mp=$LAST_OUT
[ -n "$mp" ] || bail_out "path printed nothing"

is "$(mounts_at "$mp")" 0 "not mounted before the first attach"
check "no mountpoint directory before the first attach" test ! -e "$mp"

start_stack_sampler

# names_both SHARE_OPTIONS WANTED: the last stderr names the share's options (as list shows
# them) and, apart from those, the option this attach asked for.
names_both() {
	local rest
	rest=${LAST_ERR//"$1"/}
	if [ -n "$1" ] && [ "$rest" != "$LAST_ERR" ] && grep -qw -- "$2" <<<"$rest"; then
		ok "options mismatch names the share's options ($1) and the requested ($2)"
	else
		not_ok "options mismatch names the share's options ($1) and the requested ($2)"
		diag "stderr: $LAST_ERR"
	fi
}

attach() { vm attach --type bind --export "$exp" --volume "$1" --owner "$2"; }
detach() { vm detach --type bind --export "$exp" --volume "$1" --owner "$2"; }

attach_pairs "$mp"

info=$(mountinfo_at "$mp")
is "$(fstype_at "$mp")" "$(findmnt -n -o FSTYPE --target "$exp")" "the share is a bind mount of the export's filesystem"
expect_mount_flags "$mp" nosuid nodev
is "$(awk '{print $4}' <<<"$info")" "${exp#"$VT_TMP"}" "the mount's root is the export directory"
is "$(cat "$mp/marker" 2>/dev/null)" hello "the export's content is visible at the mountpoint"
is "$(stat -c %i "$mp")" "$(stat -c %i "$exp")" "the mountpoint shows the export's root inode"

# Attaching twice is one attachment.
expect_exit 0 attach vol-a owner1
is "$LAST_OUT" "$mp/vol-a" "attach again prints the same device path"
is "$(n_attached "$mp")" 6 "attaching twice is one attachment"
is "$(ledger_attachments)" 6 "ledger still has 6 rows"
is "$(mounts_at "$mp")" 1 "still mounted exactly once"

# Detaching an unknown attachment: exit 0, a warning, nothing changed.
snapshot_host "$VT_TMP/before"
expect_exit 0 detach vol-zzz owner1
stderr_explains "detach of an unknown attachment warns on stderr"
expect_exit 0 detach vol-a owner9
stderr_explains "detach of an unknown owner warns on stderr"
snapshot_host "$VT_TMP/after"
same_snapshot "$VT_TMP/before" "$VT_TMP/after" "detach of unknown attachments changed nothing"

# A later attach whose options differ is refused, naming both.
expect_exit 65 vm attach --type bind --export "$exp" --volume vol-d --owner owner1 --option ro
stderr_explains "options mismatch explains itself"
names_both "$(share_json "$mp" | jq -r .options)" ro
snapshot_host "$VT_TMP/after2"
same_snapshot "$VT_TMP/before" "$VT_TMP/after2" "refused options mismatch changed nothing"

# Detach them all: mounted once until the last, which unmounts and removes the directory.
detach_pairs "$mp"
is "$(ledger_attachments)" 0 "attachments table empty"
is "$(ledger_shares)" 0 "shares table empty"
is "$(vm --json list | jq -c '.shares')" "[]" "list --json shows no share"
is "$(cat "$exp/marker")" hello "the export itself is untouched"
read -r v o <<<"${PAIRS[-1]}"

expect_exit 0 detach "$v" "$o"
stderr_explains "detaching the last one again warns"

# Options on the first attach are applied; the same options spelled in another order match.
expect_exit 0 vm attach --type bind --export "$exp" --volume r1 --owner o --option ro --option noexec
info=$(mountinfo_at "$mp")
case ",$(awk '{print $6}' <<<"$info")," in
*,ro,*) ok "--option ro mounts read-only" ;;
*) not_ok "--option ro mounts read-only" && diag "$info" ;;
esac
case ",$(awk '{print $6}' <<<"$info")," in
*,noexec,*) ok "--option noexec is applied" ;;
*) not_ok "--option noexec is applied" && diag "$info" ;;
esac
if touch "$mp/x" 2>/dev/null; then
	not_ok "the read-only share refuses writes"
else
	ok "the read-only share refuses writes"
fi
expect_exit 0 vm attach --type bind --export "$exp" --volume r2 --owner o --option noexec --option ro
is "$(n_attached "$mp")" 2 "same options in another order are the same options"
expect_exit 65 vm attach --type bind --export "$exp" --volume r3 --owner o --option ro
is "$(n_attached "$mp")" 2 "a subset of the options is a mismatch"
expect_exit 65 vm attach --type bind --export "$exp" --volume r3 --owner o --option noexec
names_both "$(share_json "$mp" | jq -r .options)" noexec
expect_exit 0 vm detach --type bind --export "$exp" --volume r1 --owner o
expect_exit 0 vm detach --type bind --export "$exp" --volume r2 --owner o
is "$(mounts_at "$mp")" 0 "unmounted again"
check "directory removed again" test ! -e "$mp"

stop_stack_sampler

is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted under the base directory"
done_testing
