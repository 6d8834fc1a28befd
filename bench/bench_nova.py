#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Case 8 of `make bench` (bench/README.md): Nova's own mount manager against volmount
through the Python binding, measured in the same run, interleaved.

Nova: nova.virt.libvirt.volume.mount from Debian's python3-nova, unmodified: its module
functions mount()/umount() on the singleton manager, brought up with host_up() on a host
without guests. Its privsep context runs in this process (set_client_mode(False), as root),
so nova.privsep.fs.mount/umount execute the real mount(8) and umount(8) and
nova.privsep.path.rmdir the real rmdir, as its privsep daemon would; only the daemon's
round trip is left out (which favours Nova). Its state is in memory: nothing survives a
restart (non-durable).

volmount: volmount.Context.attach()/detach() of the same kind of share (bind, nosuid,nodev),
ledger on the same disk file system, durability normal (survives any crash of the process).

Rows: 8c cold attach + last detach (mkdir, mount, unmount, rmdir on both sides), 8w warm
attach + detach (the share stays mounted by another attachment). Runs inside bench/run.sh's
private namespace:

    bench_nova.py --work DIR [--quick]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--work", required=True)
    p.add_argument("--quick", action="store_true")
    return p.parse_args()


class _Host:
    """What Nova's _HostMountState reads from its libvirt Host: the guests (none here)."""

    def list_guests(self, only_running=True):
        return []


def main():
    args = parse()
    if os.environ.get("VOLMOUNT_BENCH_PRIVATE_NS") != "1":
        sys.stderr.write("bench_nova.py: run it through bench/run.sh\n")
        return 1
    try:
        import nova.objects
        import nova.privsep
        from nova.virt.libvirt.volume import mount as nova_mount
    except ImportError as e:
        print(f"8    skipped: python3-nova is not installed ({e})")
        return 0
    import volmount

    nova.objects.register_all()
    nova.privsep.sys_admin_pctxt.set_client_mode(False)

    work = os.path.join(args.work, "nova-case")
    os.makedirs(work, mode=0o700)
    os.makedirs(os.path.join(work, "run"), mode=0o700)
    # Run directories hold lock files on a tmpfs, as /run is (the C cases do the same).
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700,size=16m", "bench-py-run",
                    os.path.join(work, "run")], check=True)
    # The export on a file system of its own, as a remote share is: Nova decides whether its
    # mountpoint is mounted with os.path.ismount(), which cannot see a bind mount from the
    # file system the mountpoint is on (same st_dev), and would then mount on every call.
    export = os.path.join(work, "export")
    os.makedirs(export, mode=0o755)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "bench-py-export",
                    export], check=True)
    nova_base = os.path.join(work, "nova-mnt")
    os.makedirs(nova_base, mode=0o755)

    ctx = volmount.Context(state_dir=os.path.join(work, "state"),
                           base_dir=os.path.join(work, "mnt"),
                           run_dir=os.path.join(work, "run", "volmount"), path_scheme="nova")
    nova_mount.get_manager().host_up(_Host())
    inst = nova.objects.Instance(uuid=str(uuid.uuid4()))
    keeper = nova.objects.Instance(uuid=str(uuid.uuid4()))
    nova_mp = os.path.join(nova_base, "share")
    nova_opts = ["-o", "bind,nosuid,nodev"]

    def nova_cold(n):
        for _ in range(n):
            nova_mount.mount("none", export, "vol", nova_mp, inst, nova_opts)
            nova_mount.umount("vol", nova_mp, inst)

    nova_warm = nova_cold  # the same calls; a keeper attachment makes them warm

    def vm_cold(n):
        for _ in range(n):
            ctx.attach("bind", export, "vol", inst.uuid)
            ctx.detach("bind", export, "vol", inst.uuid)

    vm_warm = vm_cold

    # The library calls alone, arguments encoded once: what the binding adds is the difference.
    from volmount._volmount import ffi, lib
    raw = [x.encode() for x in ("bind", export, "vol", inst.uuid)]

    def raw_warm(n):
        p = ctx._enter()
        try:
            for _ in range(n):
                if lib.volmount_attach(p, *raw, ffi.NULL, 0, ffi.NULL) < 0 or \
                   lib.volmount_detach(p, *raw) < 0:
                    raise RuntimeError(ffi.string(lib.volmount_ctx_errmsg(p)).decode())
        finally:
            ctx._leave()

    # volmount.nova's functions, Nova's signatures: what Nova would call instead of its own.
    import volmount.nova
    vn_ctx = volmount.nova.configure(state_dir=os.path.join(work, "vn-state"),
                                     base_dir=os.path.join(work, "vn-mnt"),
                                     run_dir=os.path.join(work, "run", "vn"))
    vn_mp = vn_ctx.share_path("bind", export)

    def vn_warm(n):
        for _ in range(n):
            volmount.nova.mount("none", export, "vol", vn_mp, inst, nova_opts)
            volmount.nova.umount("vol", vn_mp, inst)

    rounds = 3 if args.quick else 21
    cold_n = 2 if args.quick else 10
    warm_n = 20 if args.quick else 300

    def measure(fn, n):
        t = time.perf_counter()
        fn(n)
        return (time.perf_counter() - t) / n * 1e6

    def run(pairs, n):
        res = [[] for _ in pairs]
        for r in range(rounds + 1):
            order = range(len(pairs)) if r % 2 == 0 else reversed(range(len(pairs)))
            for i in order:
                us = measure(pairs[i], n)
                if r:  # round 0 warms up
                    res[i].append(us)
        return res

    # Cold: nothing attached, each pair mounts and unmounts.
    (nc, vc) = run([nova_cold, vm_cold], cold_n)
    mounted = subprocess.run(["findmnt", "-n", nova_mp], capture_output=True).returncode == 0
    if mounted or os.path.exists(nova_mp) or ctx.snapshot().shares or vn_ctx.snapshot().shares:
        print("8    FAIL: a cold cycle left something mounted or recorded")
        return 1

    # Warm: a keeper attachment holds each share mounted.
    nova_mount.mount("none", export, "keep", nova_mp, keeper, nova_opts)
    ctx.attach("bind", export, "keep", keeper.uuid)
    volmount.nova.mount("none", export, "keep", vn_mp, keeper, nova_opts)
    (nw, vw, rw, vnw) = run([nova_warm, vm_warm, raw_warm, vn_warm], warm_n)
    nova_mount.umount("keep", nova_mp, keeper)
    ctx.detach("bind", export, "keep", keeper.uuid)
    volmount.nova.umount("keep", vn_mp, keeper)
    ctx.close()
    vn_ctx.close()

    med = statistics.median
    hdr = (f"{'case':<5}{'what':<65}{'unit':<8}{'median':>9}{'min':>10}{'max':>10}{'n':>4}"
           f"{'base':>10}{'ratio':>8} {'target':<9}{'result'}")
    print(hdr)

    def row(case, what, unit, xs, base=None, ratio=None, target="", result=""):
        b = f"{base:.1f}" if base is not None else "-"
        rt = f"{ratio:.2f}x" if ratio is not None else "-"
        print(f"{case:<5}{what:<65}{unit:<8}{med(xs):>9.1f}{min(xs):>10.1f}{max(xs):>10.1f}"
              f"{len(xs):>4}{b:>10}{rt:>8} {target:<9}{result}")

    cold_ratio = med(nc) / med(vc)
    warm_ratio = med(nw) / med(vw)
    row("8c", "Nova MountManager: first mount + last umount (mount(8) helpers)", "us/cyc", nc)
    row("8c", "volmount via Python: cold attach + last detach (durable)", "us/cyc", vc,
        med(nc), cold_ratio, ">= 10x", "PASS" if cold_ratio >= 10 else "FAIL")
    row("8w", "Nova MountManager: warm mount + umount (in memory, not durable)", "us/pair", nw)
    row("8w", "volmount via Python: warm attach + detach (durable)", "us/pair", vw,
        med(nw), warm_ratio, "> 1x", "PASS" if warm_ratio > 1 else "FAIL")
    row("", "ref: the same library calls, arguments encoded once (no binding)", "us/pair", rw,
        med(nw), med(nw) / med(rw), "", "(report)")
    row("", "ref: volmount.nova.mount + umount (Nova's signatures)", "us/pair", vnw,
        med(nw), med(nw) / med(vnw), "", "(report)")
    print("       ratio = Nova's median / volmount's median, same run, interleaved rounds; "
          f"rounds {rounds}, {cold_n} cold cycles and {warm_n} warm pairs each")
    fails = (cold_ratio < 10) + (warm_ratio <= 1)
    print(f"targets of case 8: {fails} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
