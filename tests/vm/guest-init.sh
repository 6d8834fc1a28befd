#!/bin/sh
# /init of the guest initramfs: PID 1. No systemd, no udev.
# Mounts the pseudo filesystems, mounts the host share (virtio 9p, tag "host")
# on /host, runs /host/test.sh, writes its output and exit status into
# /host/out/, and powers the VM off. Kernel command line knobs:
#   netfs.shell=1   drop to a shell on ttyS0 instead of running the test
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/lock /var/lib/nfs/rpc_pipefs
ln -sf /proc/self/mounts /etc/mtab
hostname guest
ip link set lo up

echo "netfs-init: kernel up $(cut -d' ' -f1 /proc/uptime)s"
modprobe -a virtio_pci virtio_blk 9pnet_virtio 9p || echo "netfs-init: modprobe 9p failed"
mkdir -p /host
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none host /host; then
    echo "netfs-init: cannot mount the host share (tag 'host')"
fi

poweroff_now() {
    sync
    umount /host 2>/dev/null
    echo o > /proc/sysrq-trigger      # ACPI power off: qemu exits
    sleep 5
    exit 1                            # PID 1 exits -> panic -> panic=-1 reboot -> -no-reboot exits
}

if grep -qw 'netfs.shell=1' /proc/cmdline; then
    setsid sh -c 'exec sh </dev/ttyS0 >/dev/ttyS0 2>&1'
    poweroff_now
fi

rc=127
if [ -f /host/test.sh ]; then
    mkdir -p /host/out
    echo "netfs-init: test starts $(cut -d' ' -f1 /proc/uptime)s"
    # The test writes to /tmp/test.log (a file, not a pipe: daemons the test starts in the
    # background would keep a pipe open forever); tail -f echoes it to the console live.
    : > /tmp/test.log
    tail -n +1 -f /tmp/test.log > /dev/console 2>&1 &
    tailpid=$!
    ( cd /host && exec sh /host/test.sh ) >> /tmp/test.log 2>&1 < /dev/null
    rc=$?
    sleep 0.3; kill $tailpid 2>/dev/null
    echo "netfs-init: test ended rc=$rc $(cut -d' ' -f1 /proc/uptime)s"
    cp /tmp/test.log /host/out/log
    dmesg > /host/out/dmesg 2>/dev/null
    echo "$rc" > /host/out/rc
else
    echo "netfs-init: no /host/test.sh"
fi
poweroff_now
