#!/bin/bash
# build-guest.sh WORKDIR
# Builds a bootable guest for qemu (TCG) from Debian 12 packages only:
#   WORKDIR/out/vmlinuz      Debian's own kernel (linux-image-amd64 -> 6.1.0-NN-amd64)
#   WORKDIR/out/initrd.img   whole guest root (debootstrap minbase + NFS/CIFS tools +
#                            the needed kernel modules + /init), as a cpio archive
# Cached: nothing is done when WORKDIR/out/image.stamp matches (suite, package list, kernel
# package, and this script and guest-init.sh); the debootstrapped root (WORKDIR/root, the
# slow part) is rebuilt only when the suite or the package list changes, otherwise only the
# modules, /init and the initrd are redone (~12 s).
# Caches (kept between runs, delete WORKDIR for a cold build):
#   WORKDIR/debs/            the linux-image .deb
#   WORKDIR/debcache/        debootstrap's .deb cache (--cache-dir)
# Needs root and the host tools qemu-system-x86, debootstrap, cpio, zstd (make deps-vm).
# Env knobs: MIRROR (default: the first URIs: line of the host's apt sources), SUITE (bookworm),
#   KERNEL_PKG (default: what linux-image-amd64 depends on, e.g. linux-image-6.1.0-57-amd64),
#   COMPRESS=none|gzip|zstd (default zstd), EXTRA_PKGS="pkg ..." (added to the root),
#   KEEP_PYTHON=1 (python3 is pulled in by nfs-common/cifs-utils/samba and deleted by default),
#   FORCE=1 (ignore the stamp). Samba is the SMB server: ksmbd does not work with Debian 12's
#   kernels (README.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# = 1 ] || { echo "usage: $0 WORKDIR" >&2; exit 2; }
W=$(realpath -m "$1")
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null)}
[ -n "$MIRROR" ] || { echo "set MIRROR to a Debian mirror (no URIs: line in /etc/apt/sources.list.d/*.sources)" >&2; exit 1; }
COMPRESS=${COMPRESS:-zstd}
EXTRA_PKGS=${EXTRA_PKGS:-}
T0=$(date +%s.%N)
step() { printf '[build %6.1fs] %s\n' "$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN{print a-b}')" "$*"; }

[ "$(id -u)" = 0 ] || { echo "build-guest.sh: needs root (debootstrap, chroot)" >&2; exit 1; }
mkdir -p "$W"/{debs,debcache,out}

# 1. host tools ------------------------------------------------------------
missing=
for t in qemu-system-x86_64:qemu-system-x86 debootstrap:debootstrap cpio:cpio zstd:zstd; do
    command -v "${t%%:*}" >/dev/null || missing="$missing ${t#*:}"
done
[ -z "$missing" ] || { echo "build-guest.sh: missing host tools:$missing (make deps-vm)" >&2; exit 1; }

# 2. what to build, and whether it is built already -------------------------
# linux-image-amd64 is a metapackage; its Depends names the real one (linux-image-6.1.0-NN-amd64)
kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
KPKG=${KERNEL_PKG:-$(kpkg)}
if [ -z "$KPKG" ]; then apt-get update -qq; KPKG=$(kpkg); fi
[ -n "$KPKG" ] || { echo "build-guest.sh: no linux-image-amd64 in the apt lists" >&2; exit 1; }
KV=${KPKG#linux-image-}
# The guest's userland. jq and sqlite3 serve the tests (tests/integration/lib.sh).
PKGS=kmod,nfs-kernel-server,nfs-common,rpcbind,cifs-utils,samba,e2fsprogs,iproute2,procps
PKGS=$PKGS,strace,keyutils,util-linux,jq,sqlite3
[ -n "$EXTRA_PKGS" ] && PKGS="$PKGS,$(echo $EXTRA_PKGS | tr ' ' ',')"
want="$SUITE $PKGS $KPKG $COMPRESS ${KEEP_PYTHON:-} $(cat "$HERE/build-guest.sh" "$HERE/guest-init.sh" | sha256sum | cut -c1-16)"
if [ -z "${FORCE:-}" ] && [ -s "$W/out/vmlinuz" ] && [ -s "$W/out/initrd.img" ] &&
   [ "$(cat "$W/out/image.stamp" 2>/dev/null)" = "$want" ]; then
    step "image up to date ($KPKG)"
    exit 0
fi
rm -f "$W/out/image.stamp"

# 3. kernel: vmlinuz + modules from the linux-image .deb -------------------
step "kernel package $KPKG"
deb=$(ls "$W"/debs/"${KPKG}"_*.deb 2>/dev/null | tail -1 || true)
if [ -z "$deb" ]; then
    (cd "$W/debs" && apt-get download -q -o APT::Sandbox::User=root "$KPKG" >/dev/null)
    deb=$(ls "$W"/debs/"${KPKG}"_*.deb | tail -1)
fi
rm -rf "$W/kernel"; mkdir -p "$W/kernel"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$W/kernel" ./boot "./lib/modules/$KV"
cp "$W/kernel/boot/vmlinuz-$KV" "$W/out/vmlinuz"
step "kernel extracted"

# root: debootstrap minbase with the NFS/CIFS userland (only when the package list changed)
R="$W/root"
STAMP="$W/root.ok"                 # what the root in $R was built with
if [ "$(cat "$STAMP" 2>/dev/null)" = "$SUITE $PKGS" ]; then
    step "reusing $R (same package list)"
else
rm -rf "$R" "$STAMP"
debootstrap --variant=minbase --cache-dir="$W/debcache" --include="$PKGS" \
    "$SUITE" "$R" "$MIRROR" > "$W/debootstrap.log" 2>&1 \
    || { tail -30 "$W/debootstrap.log"; exit 1; }
echo "$SUITE $PKGS" > "$STAMP"
step "debootstrap done ($(du -sh "$R" | cut -f1))"
fi

# 4. kernel modules: only the closure of what the tests need ---------------
MODS="nfs nfsv3 nfsv4 nfsd lockd sunrpc cifs fuse 9p 9pnet_virtio virtio_pci virtio_blk
      virtio_rng loop ext4 nls_utf8 md4 md5 hmac sha256 sha512 cmac aes ccm gcm ecb des_generic
      libarc4 crc32 rpcsec_gss_krb5"
rm -rf "$R/lib/modules"; mkdir -p "$R/lib/modules"
cp -a "$W/kernel/lib/modules/$KV" "$R/lib/modules/"
chroot "$R" depmod "$KV"
# plus every crypto module: cifs requests ciphers by name (gcm(aes) -> ctr, ghash, ...)
# through request_module, which depmod cannot see
MODS="$MODS $(cd "$R/lib/modules/$KV/kernel" && find crypto arch/x86/crypto lib/crypto -name '*.ko' \
              ! -name tcrypt.ko -printf '%f\n' | sed 's/\.ko$//')"
for m in $MODS; do
    chroot "$R" modprobe -S "$KV" --show-depends "$m" || { echo "no module $m" >&2; exit 1; }
done | awk '$1=="insmod"{print $2}' | sort -u > "$W/modules.list"
(cd "$R" && find "lib/modules/$KV/kernel" -name '*.ko' | sed 's,^,/,' | sort) > "$W/modules.all"
comm -23 "$W/modules.all" "$W/modules.list" | sed "s,^,$R," | xargs rm -f
find "$R/lib/modules/$KV/kernel" -type d -empty -delete
chroot "$R" depmod "$KV"
step "modules: $(wc -l < "$W/modules.list") kept"

# 5. /init, config, trimming ------------------------------------------------
install -m 0755 "$HERE/guest-init.sh" "$R/init"
echo guest > "$R/etc/hostname"
printf '127.0.0.1 localhost guest\n::1 localhost\n' > "$R/etc/hosts"
rm -rf "$R"/usr/share/{doc,man,info,locale,lintian,bash-completion,zoneinfo} \
       "$R"/var/cache/apt/* "$R"/var/lib/apt/lists/* "$R"/var/log/*.log \
       "$R"/var/cache/debconf/*-old
if [ -z "${KEEP_PYTHON:-}" ]; then
    rm -rf "$R"/usr/lib/python3* "$R"/usr/bin/python3*
fi
step "root trimmed ($(du -sh "$R" | cut -f1))"

# 6. pack the initramfs -----------------------------------------------------
case "$COMPRESS" in
    none) comp=cat ;;
    gzip) comp="gzip -6" ;;
    zstd) comp="zstd -q -T0 -10" ;;
    *) echo "COMPRESS=$COMPRESS?" >&2; exit 1 ;;
esac
(cd "$R" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet | $comp) > "$W/out/initrd.img"
echo "$KV" > "$W/out/kernel-version"
rm -rf "$W/kernel/lib"            # 400 MB of modules, only needed while building
echo "$want" > "$W/out/image.stamp"
step "initrd.img $(du -h "$W/out/initrd.img" | cut -f1) ($COMPRESS), vmlinuz $(du -h "$W/out/vmlinuz" | cut -f1)"
