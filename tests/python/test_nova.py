# SPDX-License-Identifier: LGPL-2.1-or-later
"""volmount.nova driven by Nova's own code (Debian's python3-nova, unmodified).

Nova's volume drivers for mounted file systems are LibvirtMountedFileSystemVolumeDriver
(nova/virt/libvirt/volume/fs.py): connect_volume() and disconnect_volume() compute the
mountpoint <mount point base>/<md5 of the export> and call the functions of Nova's mount
module (mount.mount, mount.umount), whose manager Nova's libvirt driver brings up with
mount.get_manager().host_up(host). The tests write two concrete drivers the way Nova writes
its NFS driver (an fstype, a mount point base, mount options) for the file systems this
machine can serve, a local directory (bind) and sshfs, and substitute volmount.nova's
functions for those of Nova's mount module by monkeypatching. Everything else is Nova's.

Nova's own mount manager also runs unpatched, with its privsep context in this process, so
that it mounts with the real mount(8): those are the mounts host_up() must adopt.
"""

import os
import random
import threading
import unittest.mock
import uuid

import nova.conf
import nova.utils
import nova.objects
import nova.privsep
from nova.virt.libvirt.volume import fs as nova_fs
from nova.virt.libvirt.volume import mount as nova_mount
from nova.virt.libvirt.volume import nfs as nova_nfs

import volmount
import volmount.nova
from vmtest import Case, mounts_at, n_mounts_at, stacked

CONF = nova.conf.CONF
nova.objects.register_all()
# Nova's privileged calls run here (we are root) instead of in a privsep daemon.
nova.privsep.sys_admin_pctxt.set_client_mode(False)


class NoGuests:
    """Nova's libvirt Host as its mount manager reads it: the guests and their disks."""

    def list_guests(self, only_running=True):
        return []


class BindDriver(nova_fs.LibvirtMountedFileSystemVolumeDriver):
    """A Nova volume driver for a local directory, written as Nova's NFS driver is."""

    def __init__(self, host):
        super().__init__(host, "none")

    def _get_mount_point_base(self):
        return CONF.libvirt.nfs_mount_point_base

    def _mount_options(self, connection_info):
        return ["-o", "bind,nosuid,nodev"]


class SshfsDriver(nova_fs.LibvirtMountedFileSystemVolumeDriver):
    """A Nova volume driver for sshfs, written as Nova's NFS driver is."""

    def __init__(self, host):
        super().__init__(host, "fuse.sshfs")

    def _get_mount_point_base(self):
        return CONF.libvirt.nfs_mount_point_base

    def _mount_options(self, connection_info):
        return ["-o", "nosuid,nodev," + ",".join(Case.ssh_options())]


def instance():
    return nova.objects.Instance(uuid=str(uuid.uuid4()))


def conn(export, name):
    return {"driver_volume_type": "nfs", "data": {"export": export, "name": name}}


class NovaCase(Case):
    def setUp(self):
        super().setUp()
        CONF.set_override("nfs_mount_point_base", self.base_dir, group="libvirt")
        self.addCleanup(CONF.clear_override, "nfs_mount_point_base", group="libvirt")
        self.addCleanup(nova_mount.get_manager()._reset_state)
        self.ctx = volmount.nova.configure(state_dir=self.state_dir, base_dir=self.base_dir,
                                           run_dir=self.run_dir, timeout=20)
        self._contexts.append(self.ctx)
        self.host = NoGuests()

    def use_volmount(self):
        """Nova's mount module with volmount.nova's functions in place of its own."""
        for name in ("mount", "umount", "get_manager"):
            p = unittest.mock.patch.object(nova_mount, name, getattr(volmount.nova, name))
            p.start()
            self.addCleanup(p.stop)

    def share(self, kind, name, content):
        if kind == "bind":
            return BindDriver(self.host), self.export(name, content)
        return SshfsDriver(self.host), self.ssh_export(name, content)[1]


class SharedExport(NovaCase):
    def lifecycle(self, kind):
        self.use_volmount()
        nova_mount.get_manager().host_up(self.host)
        drv, export = self.share(kind, "shared", "X")
        mp = os.path.join(self.base_dir, nova.utils.get_hash_str(export))
        self.assertEqual(mp, self.ctx.share_path(volmount.nova.driver_of_fstype(drv.fstype),
                                                 export), "Nova and volmount name it alike")
        insts = [instance() for _ in range(3)]
        infos = []
        for inst in insts:
            for vol in ("vol-a", "vol-b"):
                ci = conn(export, vol)
                drv.connect_volume(ci, inst)
                self.assertEqual(ci["data"]["device_path"], os.path.join(mp, vol))
                infos.append((ci, inst))
                self.assertMountedOnce(mp)
        self.assertEqual(self.read_id(mp), "X", "the share's files are there")
        s = self.ctx.snapshot().share_at(mp)
        self.assertEqual({(a.volume, a.owner) for a in s.attachments},
                         {(ci["data"]["name"], i.uuid) for ci, i in infos})
        if kind == "sshfs":
            self.assertEqual(mounts_at(mp)[0][2], "fuse.sshfs")
        # A second connect of the same volume (Nova's hard reboot does this) is one attachment.
        drv.connect_volume(conn(export, "vol-a"), insts[0])
        self.assertEqual(len(self.ctx.snapshot().share_at(mp).attachments), 6)
        for n, (ci, inst) in enumerate(infos, 1):
            drv.disconnect_volume(ci, inst)
            if n < len(infos):
                self.assertMountedOnce(mp, f"still mounted with {len(infos) - n} attachment(s)")
        self.assertEqual(n_mounts_at(mp), 0, "the last disconnect unmounts the share")
        self.assertFalse(os.path.exists(mp), "and removes its directory")
        # Nova's warning path: a volume that is not attached.
        drv.disconnect_volume(conn(export, "vol-a"), insts[0])
        self.assertEqual(self.ctx.snapshot().shares, ())

    def test_bind(self):
        self.lifecycle("bind")

    def test_sshfs(self):
        self.lifecycle("sshfs")

    def test_restart_keeps_attachments(self):
        self.use_volmount()
        drv, export = self.share("bind", "restart", "R")
        insts = [instance() for _ in range(2)]
        for inst in insts:
            drv.connect_volume(conn(export, "vol"), inst)
        mp = os.path.join(self.base_dir, nova.utils.get_hash_str(export))
        mount_id = mounts_at(mp)[0][0]
        # nova-compute restarts: a new process, a new context, nothing known in memory.
        self.ctx = volmount.nova.configure(state_dir=self.state_dir, base_dir=self.base_dir,
                                           run_dir=self.run_dir, timeout=20)
        self._contexts.append(self.ctx)
        rep = nova_mount.get_manager().host_up(self.host)
        self.assertEqual(rep.actions(mp), ["kept"])
        self.assertEqual(mounts_at(mp)[0][0], mount_id, "kept, not remounted")
        self.assertEqual(len(self.ctx.snapshot().share_at(mp).attachments), 2,
                         "the attachments outlived the process")
        drv.disconnect_volume(conn(export, "vol"), insts[0])
        self.assertMountedOnce(mp)
        drv.disconnect_volume(conn(export, "vol"), insts[1])
        self.assertEqual(n_mounts_at(mp), 0, "the last disconnect after the restart unmounts")

    def test_host_down(self):
        self.use_volmount()
        drv, export = self.share("bind", "down", "D")
        inst = instance()
        drv.connect_volume(conn(export, "v"), inst)
        nova_mount.get_manager().host_down()
        with self.assertRaises(volmount.HostDownError):
            drv.connect_volume(conn(export, "w"), inst)
        with self.assertRaises(volmount.HostDownError):
            drv.disconnect_volume(conn(export, "v"), inst)
        nova_mount.get_manager().host_up(self.host)
        drv.disconnect_volume(conn(export, "v"), inst)
        self.assertEqual(self.ctx.snapshot().shares, ())

    def test_other_base_is_refused(self):
        self.use_volmount()
        other = os.path.join(self.root, "elsewhere")
        CONF.set_override("nfs_mount_point_base", other, group="libvirt")
        drv, export = self.share("bind", "o", "O")
        with self.assertRaises(volmount.InputError) as cm:
            drv.connect_volume(conn(export, "v"), instance())
        self.assertIn("base", cm.exception.message)
        self.assertEqual(self.ctx.snapshot().shares, ())
        self.assertFalse(os.path.exists(other))

    def test_nfs_driver_names_its_mountpoint_as_volmount(self):
        # No NFS in this kernel: Nova's NFS driver is driven as far as it goes without one.
        CONF.set_override("nfs_mount_options", "vers=3,nosuid,nodev", group="libvirt")
        self.addCleanup(CONF.clear_override, "nfs_mount_options", group="libvirt")
        drv = nova_nfs.LibvirtNFSVolumeDriver(self.host)
        for export in ("srv.example.org:/export/vols", "[2001:db8::1]:/vols"):
            ci = conn(export, "volume-1")
            self.assertEqual(drv._get_mount_path(ci), self.ctx.share_path("nfs", export))
        self.assertEqual(volmount.nova.options_of_argv("nfs", drv._mount_options(ci)),
                         ["vers=3"])


class Adoption(NovaCase):
    def adopt(self, kind):
        drv, export = self.share(kind, "adopt", "N")
        insts = [instance() for _ in range(2)]
        # Before: Nova's own manager mounts the share with mount(8).
        nova_mount.get_manager().host_up(self.host)
        for inst in insts:
            drv.connect_volume(conn(export, "vol"), inst)
        mp = os.path.join(self.base_dir, nova.utils.get_hash_str(export))
        self.assertMountedOnce(mp, "Nova mounted the share")
        nova_id = mounts_at(mp)[0][0]
        # nova-compute restarts: its in-memory state is gone, the mount stays.
        nova_mount.get_manager().host_down()
        nova_mount.get_manager()._reset_state()
        # After: volmount.nova in Nova's place; the libvirt driver calls host_up.
        self.use_volmount()
        rep = nova_mount.get_manager().host_up(self.host)
        self.assertEqual(rep.actions(mp), ["adopted"], rep)
        self.assertEqual(mounts_at(mp)[0][0], nova_id, "adopted, not remounted")
        s = self.ctx.snapshot().share_at(mp)
        self.assertTrue(s.adopted)
        self.assertEqual((s.state, s.attachments), ("mounted", ()))
        # Nova attaches its volumes again: the same mount is used.
        for inst in insts:
            ci = conn(export, "vol")
            drv.connect_volume(ci, inst)
            self.assertEqual(ci["data"]["device_path"], os.path.join(mp, "vol"))
        self.assertMountedOnce(mp)
        self.assertEqual(mounts_at(mp)[0][0], nova_id, "still Nova's mount")
        self.assertEqual(self.read_id(mp), "N")
        drv.disconnect_volume(conn(export, "vol"), insts[0])
        self.assertMountedOnce(mp)
        drv.disconnect_volume(conn(export, "vol"), insts[1])
        self.assertEqual(n_mounts_at(mp), 0, "the last disconnect unmounts Nova's mount")
        self.assertTrue(os.path.isdir(mp), "the directory Nova made is kept")
        self.assertEqual(self.ctx.snapshot().shares, ())

    def test_bind(self):
        self.adopt("bind")

    def test_sshfs(self):
        self.adopt("sshfs")


class Concurrency(NovaCase):
    def test_many_threads(self):
        self.use_volmount()
        nova_mount.get_manager().host_up(self.host)
        drv = BindDriver(self.host)
        exports = [self.export(f"c{i}", str(i)) for i in range(3)]
        mps = [os.path.join(self.base_dir, nova.utils.get_hash_str(e)) for e in exports]
        errors, bad, samples = [], [], []
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                bad.extend(stacked(mps))
                samples.append(1)

        def worker(t):
            rnd = random.Random(t)
            inst = instance()
            held = []
            try:
                for _ in range(25):
                    if held and rnd.random() < 0.5:
                        ci = held.pop(rnd.randrange(len(held)))
                        drv.disconnect_volume(ci, inst)
                    else:
                        ci = conn(rnd.choice(exports), f"v{rnd.randrange(4)}")
                        drv.connect_volume(ci, inst)
                        if ci not in held:
                            held.append(ci)
                for ci in held:
                    drv.disconnect_volume(ci, inst)
            except Exception as ex:  # noqa: BLE001
                errors.append(ex)

        smp = threading.Thread(target=sampler)
        smp.start()
        ts = [threading.Thread(target=worker, args=(t,)) for t in range(12)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        stop.set()
        smp.join()
        self.assertEqual(errors, [])
        self.assertEqual(bad, [], "no mountpoint ever held two mounts")
        self.assertGreater(len(samples), 10, "the sampler ran")
        self.assertEqual(self.ctx.snapshot().shares, (), "every share detached and forgotten")
        for mp in mps:
            self.assertEqual(n_mounts_at(mp), 0)


class PrivsepDaemon(NovaCase):
    """volmount.privsep: Nova's mount functions served by a real oslo.privsep daemon, started
    as Nova starts its own (privsep-helper, here without sudo since the test is root), with
    only the capabilities of volmount's privsep context."""

    def setUp(self):
        super().setUp()
        import volmount.privsep as vp
        from oslo_config import cfg
        self.vp = vp
        # The daemon reads its volmount.conf from the service's configuration file (here
        # the test's, naming the test's directories); no call can choose it.
        conf = os.path.join(self.root, "volmount.conf")
        with open(conf, "w") as f:
            f.write(f"state_dir = {self.state_dir}\nbase_dir = {self.base_dir}\n"
                    f"run_dir = {self.run_dir}\ntimeout = 20\npath_scheme = nova\n")
        os.chmod(conf, 0o644)
        service_conf = os.path.join(self.root, "nova-compute.conf")
        with open(service_conf, "w") as f:
            f.write(f"[volmount_privsep]\nvolmount_config = {conf}\n")
        cfg.CONF.set_override("helper_command",
                              f"/usr/bin/privsep-helper --config-file {service_conf}",
                              group="volmount_privsep")
        self.addCleanup(cfg.CONF.clear_override, "helper_command", group="volmount_privsep")
        vp.pctxt.start()
        self.addCleanup(vp.pctxt.stop)
        self.assertIsNotNone(vp.pctxt.channel, "the daemon was started")
        self.assertFalse(hasattr(vp, "configure"), "no entry point takes paths or settings")
        for name in ("mount", "umount", "get_manager"):
            p = unittest.mock.patch.object(nova_mount, name, getattr(vp, name))
            p.start()
            self.addCleanup(p.stop)

    def daemon_pids(self):
        """The privsep-helper processes running volmount's context."""
        pids = []
        for d in os.listdir("/proc"):
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except (OSError, ValueError):
                continue
            if b"volmount.privsep.pctxt" in argv and any(b"privsep-helper" in a for a in argv):
                pids.append(int(d))
        return pids

    def test_nova_driver_through_the_daemon(self):
        pids = self.daemon_pids()
        self.assertEqual(len(pids), 1, "one privsep-helper daemon runs volmount's context")
        self.assertNotEqual(pids[0], os.getpid())
        with open(f"/proc/{pids[0]}/status") as f:
            capeff = int(next(ln for ln in f if ln.startswith("CapEff:")).split()[1], 16)
        want = 0
        for cap in (21, 0, 1, 2, 3, 5, 19):  # SYS_ADMIN CHOWN DAC_OVERRIDE DAC_READ_SEARCH
            want |= 1 << cap                   # FOWNER KILL SYS_PTRACE
        self.assertEqual(capeff, want, "the daemon holds exactly its context's capabilities")

        rep = nova_mount.get_manager().host_up(self.host)
        self.assertEqual(rep, [], "host-up of an empty ledger, as (path, action, detail) rows")
        drv, export = self.share("bind", "priv", "P")
        mp = os.path.join(self.base_dir, nova.utils.get_hash_str(export))
        insts = [instance() for _ in range(2)]
        for inst in insts:
            drv.connect_volume(conn(export, "vol"), inst)
            self.assertMountedOnce(mp)
        self.assertEqual(self.read_id(mp), "P")
        self.assertEqual(volmount.nova._shares, {},
                         "mount() ran in the daemon: this process's volmount.nova saw nothing")
        s = self.ctx.snapshot().share_at(mp)
        self.assertEqual({a.owner for a in s.attachments}, {i.uuid for i in insts},
                         "the daemon wrote the attachments to the shared ledger")
        drv.disconnect_volume(conn(export, "vol"), insts[0])
        self.assertMountedOnce(mp)
        drv.disconnect_volume(conn(export, "vol"), insts[1])
        self.assertEqual(n_mounts_at(mp), 0, "the last disconnect through the daemon unmounts")

    def test_errors_cross_the_socket(self):
        other = os.path.join(self.root, "elsewhere")
        CONF.set_override("nfs_mount_point_base", other, group="libvirt")
        drv, export = self.share("bind", "e", "E")
        with self.assertRaises(volmount.InputError) as cm:
            drv.connect_volume(conn(export, "v"), instance())
        self.assertIn("base", cm.exception.message)
        self.assertEqual(cm.exception.errno, 22, "the errno travels with the message")
        self.assertEqual(self.ctx.snapshot().shares, ())
        nova_mount.get_manager().host_down()
        CONF.set_override("nfs_mount_point_base", self.base_dir, group="libvirt")
        drv, export = self.share("bind", "d", "D")
        with self.assertRaises(volmount.HostDownError):
            drv.connect_volume(conn(export, "v"), instance())
        nova_mount.get_manager().host_up(self.host)
