#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `meson install` as an operator's host gets it (issue 13): every file in its FHS place, the
# units clean under `systemd-analyze verify`, the tmpfiles.d entry applied by
# systemd-tmpfiles, the man pages rendered by man(1) and naming every command, option, exit
# code and environment variable the command itself knows (its --help is the reference), the
# bash completion run with fixed COMP_WORDS against each command's --help, and the pkg-config
# file used to build a program against the installed library.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
in_private_ns "$0" "$@"

B=${VOLMOUNT_BUILDDIR:?}
D=$VT_TMP/dest
meson install -C "$B" --no-rebuild --quiet --destdir "$D" >"$VT_TMP/install.log" 2>&1 ||
	bail_out "meson install failed: $(tail -n 5 "$VT_TMP/install.log")"
prefix=$(meson introspect "$B" --buildoptions | jq -r '.[] | select(.name == "prefix") | .value')
sbindir=$(meson introspect "$B" --buildoptions | jq -r '.[] | select(.name == "sbindir") | .value')
P=$D$prefix

# ---- the files ----
check "the command is $prefix/$sbindir/volmount" test -x "$P/$sbindir/volmount"
check "no volmount in bin/" test ! -e "$P/bin/volmount"
lib=$(find "$D" -name 'libvolmount.so.0' -type l | head -n 1)
check "libvolmount.so.0 installed" test -n "$lib"
check "volmount.h installed" test -f "$P/include/volmount.h"
pc=$(find "$D" -name libvolmount.pc | head -n 1)
check "libvolmount.pc installed" test -n "$pc"
check "libvolmount.pc: Requires.private names SQLite, libmount and nettle" \
	grep -Eq '^Requires.private: .*sqlite3' "$pc"
mapfile -t units < <(find "$D" -path '*/systemd/system/*' -name 'volmount-*.service' | sort)
is "$(basename -a "${units[@]}" | tr '\n' ' ')" "volmount-host-up.service volmount-monitor.service " \
	"both units installed"
tmpfiles=$(find "$D" -path '*/tmpfiles.d/volmount.conf')
check "tmpfiles.d/volmount.conf installed" test -n "$tmpfiles"
check "man8/volmount.8 installed" test -f "$P/share/man/man8/volmount.8"
check "man5/volmount.conf.5 installed" test -f "$P/share/man/man5/volmount.conf.5"
bashc=$(find "$D" -path '*/bash-completion/completions/volmount')
check "bash completion installed" test -n "$bashc"
check "zsh completion installed" test -f "$P/share/zsh/vendor-completions/_volmount"
check "the LICENSE is the LGPL 2.1 of the SPDX headers" grep -q 'GNU LESSER GENERAL PUBLIC LICENSE' "$VOLMOUNT_SRCDIR/LICENSE"
check "the LICENSE says version 2.1" grep -q 'Version 2.1, February 1999' "$VOLMOUNT_SRCDIR/LICENSE"
other=$(grep -rhoE --exclude=test-install.sh 'SPDX-License-Identifier: [A-Za-z0-9.+-]+' "$VOLMOUNT_SRCDIR"/{cli,lib,include,tests,scripts} | sort -u)
is "$other" "SPDX-License-Identifier: LGPL-2.1-or-later" "every source says LGPL-2.1-or-later"

# ---- the units ----
for u in "${units[@]}"; do
	check "$(basename "$u") runs $prefix/$sbindir/volmount" grep -q "^ExecStart=$prefix/$sbindir/volmount " "$u"
done
# systemd-analyze wants the ExecStart= binaries where the units say: put the installed one
# there, in this namespace only.
mount -t tmpfs vt-sbin "$prefix/$sbindir" || bail_out "cannot mount a tmpfs on $prefix/$sbindir"
cp "$P/$sbindir/volmount" "$prefix/$sbindir/volmount"
out=$(systemd-analyze verify --man=no "${units[@]}" 2>&1)
rc=$?
is "$rc:$out" "0:" "systemd-analyze verify: clean, not a word"
umount "$prefix/$sbindir"
m=$(grep -h '^WatchdogSec=\|^Type=\|^Restart=\|^KillMode=' "${units[1]}" | sort | tr '\n' ' ')
is "$m" "KillMode=process Restart=on-failure Type=notify WatchdogSec=5min " "monitor: notify, watchdog, restart, helpers outlive a restart"
for s in ProtectSystem PrivateTmp ProtectHome PrivateDevices PrivateMounts ReadWritePaths; do
	if grep -q "^$s=" "${units[@]}"; then not_ok "no $s= (own mount namespace)"; else ok "no $s= (own mount namespace)"; fi
done
check "host-up: oneshot that stays active" grep -qx 'RemainAfterExit=yes' "${units[0]}"
check "host-up: before the consumers" grep -q '^Before=remote-fs.target libvirt-guests.service nova-compute.service kubelet.service' "${units[0]}"
R=$VT_TMP/tmproot
mkdir -p "$R"
check "systemd-tmpfiles applies the entry" systemd-tmpfiles --root="$R" --create "$tmpfiles"
is "$(stat -c '%a %U' "$R/run/volmount" 2>&1)" "700 root" "/run/volmount is made 0700 root"

# ---- the man pages ----
man8=$(MANWIDTH=2000 man -l "$P/share/man/man8/volmount.8" 2>&1)
man5=$(MANWIDTH=2000 man -l "$P/share/man/man5/volmount.conf.5" 2>&1)
check "volmount(8) renders" grep -q '^NAME' <<<"$man8"
check "volmount.conf(5) renders" grep -q '^NAME' <<<"$man5"
help=$("$VOLMOUNT_BIN" --help)
commands=$(sed -n '/^Commands:/,/^$/p' <<<"$help" | awk '/^  [a-z]/ { print $1 }')
is "$(wc -w <<<"$commands")" 11 "--help lists 11 commands"
words=$commands
for c in $commands; do
	words="$words $("$VOLMOUNT_BIN" "$c" --help | grep -oE -- '--[a-z-]+' | sort -u | tr '\n' ' ')"
done
words="$words $(grep -oE -- '^  (-., )?--[a-z-]+' <<<"$help" | grep -oE -- '--[a-z-]+' | tr '\n' ' ')"
words="$words -V $(grep -oE 'VOLMOUNT_[A-Z_]+|JOURNAL_STREAM|NOTIFY_SOCKET|WATCHDOG_USEC' <<<"$help" | tr '\n' ' ')"
words="$words $(sed -n '/^Exit status:/,/^$/p' <<<"$help" | grep -oE '\b[0-9]{1,2}\b' | tr '\n' ' ')"
missing=
for w in $(tr ' ' '\n' <<<"$words" | sort -u); do
	grep -qF -- "$w" <<<"$man8" || missing="$missing $w"
done
is "$missing" "" "volmount(8) names every command, option, exit code and variable of --help"
fields=$(grep -ohE 'add_(string|uint|bool)\([a-z]+, "[a-z_]+"' "$VOLMOUNT_SRCDIR/cli/output.c" | grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
missing=
for f in $fields kind message exit_code; do
	grep -qw -- "$f" <<<"$man8" || missing="$missing $f"
done
is "$missing" "" "volmount(8) names every JSON field output.c writes"
keys=$(grep -oE '\[KEY_[A-Z_]+\] = "[a-z_]+"' "$VOLMOUNT_SRCDIR/lib/config.c" | grep -oE '"[a-z_]+"' | tr -d '"')
is "$(wc -w <<<"$keys")" 8 "config.c has 8 keys"
missing=
for k in $keys; do
	grep -qw -- "$k" <<<"$man5" || missing="$missing $k"
done
is "$missing" "" "volmount.conf(5) names every key of the configuration file"

# ---- bash completion, with fixed COMP_WORDS ----
# complete WORD...: the sorted completions of the last WORD after "volmount WORD...".
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=(volmount "$@"); COMP_CWORD=$#; _volmount
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$bashc" "$@"
}
is "$(complete_words "")" "$(sort <<<"$commands" | tr '\n' ' ')" "completion: the commands of --help"
is "$(complete_words --state-dir /x h)" "host-down host-up " "completion: a command after a global option and its value"
for c in $commands; do
	want=$("$VOLMOUNT_BIN" "$c" --help | sed -n '/^Options:/,/^$/p' | grep -oE -- '--[a-z-]+' | sort -u | tr '\n' ' ')
	is "$(complete_words "$c" --)" "$want" "completion: $c's options are its --help's"
done
is "$(complete_words attach --type "")" "bind cephfs cifs glusterfs nfs quobyte sshfs " "completion: --type offers the drivers"
is "$(complete_words --path-scheme n)" "nova " "completion: --path-scheme"

# ---- the example alert rules name metrics the monitor writes ----
rules=$VOLMOUNT_SRCDIR/contrib/prometheus/volmount-alerts.yml
written=$(grep -oE '# TYPE volmount_[a-z_]+' "$VOLMOUNT_SRCDIR/cli/output.c" | cut -d' ' -f3 | sort -u)
used=$(python3 -c 'import re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
rules = [r for g in doc["groups"] for r in g["rules"]]
assert all(r["alert"] and r["expr"] for r in rules), "an alert without a name or an expr"
print("\n".join(sorted({m for r in rules for m in re.findall(r"volmount_[a-z_]+", r["expr"])})))' "$rules")
check "the alert rules parse as YAML with an expr each" test -n "$used"
missing=$(comm -23 <(echo "$used") <(echo "$written"))
is "$missing" "" "every volmount_ metric of the alert rules is one the monitor writes"
check "an alert for unhealthy shares" grep -q 'volmount_shares{state!~"mounted|unmounted"}' "$rules"
check "an alert for a stale metrics file" grep -q 'node_textfile_mtime_seconds{file=~".*volmount.prom"}' "$rules"

# ---- pkg-config: a program built against the installed library ----
cat >"$VT_TMP/v.c" <<'C'
#include <stdio.h>
#include <volmount.h>
int main(void) { printf("%u\n", volmount_version_number()); return 0; }
C
pcdir=$(dirname "$pc")
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --define-variable=prefix="$P" --cflags --libs libvolmount)
# The build's own compiler, and its sanitizer: a sanitized library needs a sanitized program.
cc=$(meson introspect "$B" --targets | jq -r '[.[] | .target_sources[]? | select(.language == "c") | .compiler[0]][0]')
san=$(meson introspect "$B" --buildoptions | jq -r '.[] | select(.name == "b_sanitize") | .value')
[ "$san" = none ] || flags="$flags -fsanitize=$san"
# shellcheck disable=SC2086 # $flags is pkg-config's word list
check "cc \$(pkg-config --cflags --libs libvolmount) builds" "$cc" -o "$VT_TMP/v" "$VT_TMP/v.c" $flags
IFS=. read -r major minor patch < <("$VOLMOUNT_BIN" -V | cut -d' ' -f2)
is "$(LD_LIBRARY_PATH=$(dirname "$lib") "$VT_TMP/v")" "$((major * 10000 + minor * 100 + patch))" \
	"it runs with the installed libvolmount.so.0"
done_testing
