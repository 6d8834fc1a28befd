#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Debian package, built and used for real (issue 13): dpkg-buildpackage -us -uc -b on a
# copy of the tree (it writes ../*.deb, and the worktree stays clean), lintian without an
# error or a warning, then the four packages installed with dpkg into a fresh Debian 12
# minbase root (debootstrap, cached under the build directory; an overlay makes every run's
# root fresh) and attach, check, list and detach run there by the installed /usr/sbin/volmount
# with its default paths, and by the installed Python module (python3-volmount, issue 14), in
# this test's private mount namespace.
#
# The package build and debootstrap need the network namespace of the host (the Debian
# mirror), so they run before the test enters its namespaces.
set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

B=${VOLMOUNT_BUILDDIR:?}
W=$B/debian-test
ROOT=$W/root # the cached minbase root
if [ -z "${VOLMOUNT_IN_NS:-}" ] && [ "$(id -u)" = 0 ]; then
	rm -rf "$W/pkg"
	mkdir -p "$W/pkg/volmount"
	tar -C "$VOLMOUNT_SRCDIR" -c --exclude=./.git --exclude='./build*' . |
		tar -C "$W/pkg/volmount" -x || exit 1
	(cd "$W/pkg/volmount" && dpkg-buildpackage -us -uc -b) >"$W/build.log" 2>&1
	echo $? >"$W/build.rc"
	lintian --pedantic "$W"/pkg/*.changes >"$W/lintian.log" 2>&1
	echo $? >"$W/lintian.rc"
	# What the four packages depend on (libvolmount-dev: the -dev packages of its
	# Requires.private), so that dpkg -i alone installs them, as apt would.
	include=libjson-c5,libnettle8,libsqlite3-0,init-system-helpers,libmount-dev,libsqlite3-dev,nettle-dev
	include=$include,python3,python3-cffi-backend
	if [ "$(cat "$ROOT/.complete" 2>/dev/null)" != "$include" ]; then
		mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null)
		rm -rf "$ROOT"
		# The VM tests' debootstrap cache (tests/vm/build-guest.sh) serves this one too.
		mkdir -p "$B/vm/debcache"
		debootstrap --variant=minbase --cache-dir="$B/vm/debcache" \
			--include="$include" \
			bookworm "$ROOT" "${mirror:-http://deb.debian.org/debian}" >"$W/debootstrap.log" 2>&1 &&
			echo "$include" >"$ROOT/.complete"
	fi
fi
in_private_ns "$0" "$@"

is "$(cat "$W/build.rc")" 0 "dpkg-buildpackage -us -uc -b succeeds" || diag "$(tail -n 20 "$W/build.log")"
check "it builds with --buildsystem=meson" grep -q 'dh .* --buildsystem=meson' "$W/build.log"
check "Debian's -D_FORTIFY_SOURCE=2 is kept, not redefined" grep -q 'Fetching value of define "_FORTIFY_SOURCE" : 2' "$W/build.log"
debs=("$W"/pkg/volmount_*.deb "$W"/pkg/libvolmount0_*.deb "$W"/pkg/libvolmount-dev_*.deb
	"$W"/pkg/python3-volmount_*.deb)
for d in "${debs[@]}"; do
	check "built $(basename "$d")" test -f "$d"
done
is "$(grep -E '^[EW]: ' "$W/lintian.log")" "" "lintian: no error, no warning" || diag "$(cat "$W/lintian.log")"
is "$(cat "$W/lintian.rc")" 0 "lintian exits 0"
check "volmount depends on libvolmount0 (the library shared)" \
	grep -q 'libvolmount0' <<<"$(dpkg-deb -f "${debs[0]}" Depends)"
check "libvolmount0 links SQLite shared (depends on libsqlite3-0)" \
	grep -q 'libsqlite3-0' <<<"$(dpkg-deb -f "${debs[1]}" Depends)"
check "the symbols file is shipped" dpkg-deb --ctrl-tarfile "${debs[1]}" | tar -t | grep -qx './symbols'
pydeps=$(dpkg-deb -f "${debs[3]}" Depends)
check "python3-volmount depends on libvolmount0 (the extension links the library)" grep -q 'libvolmount0' <<<"$pydeps"
check "python3-volmount depends on python3-cffi-backend and python3" grep -q 'python3-cffi-backend.*python3 (' <<<"$pydeps"
[ -f "$ROOT/.complete" ] || bail_out "no debootstrapped root: $(tail -n 5 "$W/debootstrap.log" 2>/dev/null)"

# A fresh root each run: the cached one under an overlay whose upper layer is this test's tmpfs.
R=$VT_TMP/root
mkdir -p "$R" "$VT_TMP/upper" "$VT_TMP/work"
mount -t overlay vt-root -o "lowerdir=$ROOT,upperdir=$VT_TMP/upper,workdir=$VT_TMP/work" "$R" ||
	bail_out "cannot mount the overlay root"
mount -t proc proc "$R/proc" || bail_out "cannot mount /proc in the root"
mount --rbind /dev "$R/dev" || bail_out "cannot bind /dev in the root"
mount -t tmpfs -o mode=0755 vt-run "$R/run" || bail_out "cannot mount /run in the root"
cp "${debs[@]}" "$R/tmp/"
in_root() { chroot "$R" "$@"; }
# shellcheck disable=SC2016 # expanded in the root's shell
expect_exit 0 in_root sh -c 'dpkg -i /tmp/*.deb'
# shellcheck disable=SC2016 # dpkg-query's own ${Status}
is "$(in_root dpkg-query -W -f='${Status} ' volmount libvolmount0 libvolmount-dev python3-volmount)" \
	"install ok installed install ok installed install ok installed install ok installed " \
	"dpkg installed all four"
for f in /usr/sbin/volmount /lib/systemd/system/volmount-host-up.service \
	/lib/systemd/system/volmount-monitor.service /usr/lib/tmpfiles.d/volmount.conf \
	/usr/share/man/man8/volmount.8.gz /usr/share/man/man5/volmount.conf.5.gz \
	/usr/share/bash-completion/completions/volmount /usr/include/volmount.h \
	/usr/lib/python3/dist-packages/volmount/__init__.py \
	/usr/lib/python3/dist-packages/volmount/nova.py /usr/lib/python3/dist-packages/volmount/brick.py; do
	check "installed: $f" test -e "$R$f"
done
check "the postinst enabled volmount-host-up.service" test -L "$R/etc/systemd/system/multi-user.target.wants/volmount-host-up.service"
check "the postinst enabled volmount-monitor.service" test -L "$R/etc/systemd/system/multi-user.target.wants/volmount-monitor.service"
check "the installed volmount loads libsqlite3.so.0 shared" grep -q 'libsqlite3.so.0' <<<"$(in_root ldd /usr/sbin/volmount)"

# Attach, check, list and detach with the default paths (/var/lib/volmount, /run/volmount).
mkdir -p "$R/srv/export"
expect_exit 0 in_root /usr/sbin/volmount -V
expect_exit 0 in_root /usr/sbin/volmount attach --type bind --export /srv/export --volume v1 --owner o1
dev=$LAST_OUT
case "$dev" in
/var/lib/volmount/mnt/bind/*/v1) ok "attach prints a device path under the default base" ;;
*) not_ok "attach prints a device path under the default base" && diag "got '$dev'" ;;
esac
mp=${dev%/v1}
is "$(findmnt -n -o TARGET "$R$mp" | wc -l)" 1 "the share is mounted once"
check "the ledger is in the default state dir" test -f "$R/var/lib/volmount/ledger.db"
check "the locks are in the default run dir" test -e "$R/run/volmount/host.lock"
expect_exit 0 in_root /usr/sbin/volmount check
expect_exit 0 in_root /usr/sbin/volmount --json list
is "$(jq -r '.shares[0].attachments[0].volume' <<<"$LAST_OUT")" v1 "list --json shows the attachment"
expect_exit 0 in_root /usr/sbin/volmount detach --type bind --export /srv/export --volume v1 --owner o1
is "$(findmnt -n -o TARGET "$R$mp" | wc -l)" 0 "the last detach unmounted the share"
expect_exit 0 in_root /usr/sbin/volmount attach --help

# The installed Python module, with the default paths: a second volume on the share the
# command attaches, so both see one share, mounted once, and the last detach (here the
# command's) unmounts it.
expect_exit 0 in_root /usr/sbin/volmount attach --type bind --export /srv/export --volume v1 --owner o1
expect_exit 0 in_root python3 -c '
import volmount
with volmount.Context() as c:
    print(c.attach("bind", "/srv/export", "v2", "o1"))
    assert len(c.snapshot().shares) == 1
    assert c.check().healthy
'
is "$LAST_OUT" "${dev%/v1}/v2" "python3-volmount attaches to the command's share"
is "$(findmnt -n -o TARGET "$R$mp" | wc -l)" 1 "the share is still mounted once"
expect_exit 0 in_root python3 -c '
import volmount
with volmount.Context() as c:
    assert c.detach("bind", "/srv/export", "v2", "o1") is True
'
expect_exit 0 in_root /usr/sbin/volmount detach --type bind --export /srv/export --volume v1 --owner o1
is "$(findmnt -n -o TARGET "$R$mp" | wc -l)" 0 "the last detach unmounted the share"
expect_exit 0 in_root python3 -c 'import volmount.nova, volmount.brick'
done_testing
