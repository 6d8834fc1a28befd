#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Guest test (Debian 12's kernel, tests/vm): every smbd killed (SIGKILL) under a cifs share.
# The kernel's cifs client (soft, its default) blocks callers while it reconnects and fails
# them with EHOSTDOWN after about 10 s (tests/vm/README.md), so check says hung or stale,
# whichever comes first, within probe_timeout + 1 s; a bind share next to it stays mounted.
# After smbd restarts, repair brings the share back: check healthy, the data readable.
# shellcheck disable=SC2317
set -u
. /host/t/lib.sh
. /host/t/vmlib.sh
in_private_ns "$0" "$@"

check "fixture: Samba runs" smb_up
use_config "probe_timeout=$PROBE_TIMEOUT"

exp=//127.0.0.1/s3
mkdir -p "$SMB_ROOT/s3/v"
expect_exit 0 vm attach --type cifs --export "$exp" --volume v --owner o --option "credentials=$CIFS_CRED"
mp=$(vm path --type cifs --export "$exp")
echo "cifs data" >"$mp/v/file"
bexp=$(mkexport local)
expect_exit 0 vm attach --type bind --export "$bexp" --volume v --owner o
bmp=$(vm path --type bind --export "$bexp")

check_bound
smb_kill
sleep 0.5
check "every smbd is gone" test -z "$(pidof smbd)"
vm_in_time 60 --json check
is "$LAST_RC" 69 "smbd killed: check exits 69"
st=$(state_of "$mp" "$LAST_OUT")
diag "smbd killed: check took $ELAPSED_MS ms; the cifs share is $st (errno $(errno_of "$mp" "$LAST_OUT"))"
case "$st" in
stale | hung) ok "smbd killed: the cifs share is stale or hung ($st)" ;;
*) not_ok "smbd killed: the cifs share is stale or hung" && diag "$LAST_OUT" ;;
esac
check "check answered within the bound ($ELAPSED_MS ms <= $CHECK_BOUND_MS)" \
	test "$ELAPSED_MS" -le "$CHECK_BOUND_MS"
is "$(state_of "$bmp" "$LAST_OUT")" mounted "the bind share is unaffected"

check "smbd restarts" smb_up
vm_in_time 120 repair
is "$LAST_RC" 0 "smbd back: repair exits 0" || diag "$LAST_OUT $LAST_ERR"
diag "repair after the restart: $LAST_OUT"
vm_in_time 60 --json check
is "$LAST_RC" 0 "smbd back: check exits 0" || diag "$LAST_OUT"
is "$(state_of "$mp" "$LAST_OUT")" mounted "the cifs share is mounted and healthy"
is "$(mounts_at "$mp")" 1 "mounted exactly once"
expect_list_mount_id "$mp"
is "$(timeout 30 cat "$mp/v/file")" "cifs data" "the data is readable again"

vm_in_time 60 detach --type cifs --export "$exp" --volume v --owner o
is "$LAST_RC" 0 "detach cifs" || diag "$LAST_ERR"
expect_exit 0 vm detach --type bind --export "$bexp" --volume v --owner o
is "$(ledger_attachments)$(ledger_shares)" 00 "the ledger is empty"
is "$(mounts_under "$BASE_DIR")" "" "nothing left mounted under the base directory"
done_testing
