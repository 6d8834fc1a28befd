# SPDX-License-Identifier: LGPL-2.1-or-later
"""volmount.brick driven by os-brick's own connector (Debian's python3-os-brick, unmodified).

os-brick's RemoteFsConnector (os_brick/initiator/connectors/remotefs.py) makes its
RemoteFsClient in its constructor and calls its mount(), get_mount_point() and
get_mount_base() from connect_volume(), get_volume_paths() and get_search_path(); its
disconnect_volume() does nothing, so os-brick never unmounts. The tests substitute
volmount.brick.RemoteFsClient for os-brick's RemoteFsClient and volmount.brick's
disconnect_volume() for the connector's by monkeypatching, and drive the real connector
against real bind and sshfs shares.
"""

import os
import random
import threading
import unittest.mock

from os_brick.initiator.connectors import remotefs as brick_connector
from os_brick.remotefs import remotefs as brick_remotefs

import volmount
import volmount.brick
from vmtest import Case, mounts_at, n_mounts_at, stacked


class BrickCase(Case):
    def setUp(self):
        super().setUp()
        for obj, name, new in (
                (brick_remotefs, "RemoteFsClient", volmount.brick.RemoteFsClient),
                (brick_connector.RemoteFsConnector, "disconnect_volume",
                 volmount.brick.disconnect_volume)):
            p = unittest.mock.patch.object(obj, name, new)
            p.start()
            self.addCleanup(p.stop)
        self.ctx = self.context(path_scheme="nova")

    def connector(self, mount_type, ctx=None, **kw):
        kw[mount_type + "_mount_point_base"] = self.base_dir
        return brick_connector.RemoteFsConnector(mount_type, "sudo", context=ctx or self.ctx,
                                                 conn={"mount_point_base": self.base_dir},
                                                 **kw)

    def props(self, export, name, options=None):
        p = {"export": export, "name": name}
        if options:
            p["options"] = options
        return p


class Connector(BrickCase):
    def lifecycle(self, mount_type, export, options=None, **kw):
        conns = [self.connector(mount_type, **kw) for _ in range(3)]
        c0 = conns[0]
        self.assertIsInstance(c0._remotefsclient, volmount.brick.RemoteFsClient)
        self.assertEqual(c0.get_search_path(), self.base_dir)
        mp = c0._remotefsclient.get_mount_point(export)
        self.assertEqual(os.path.dirname(mp), self.base_dir)
        got = []
        for i, c in enumerate(conns):
            props = self.props(export, f"volume-{i}", options)
            info = c.connect_volume(props)
            self.assertEqual(info, {"path": f"{mp}/volume-{i}"})
            self.assertEqual(c.get_volume_paths(props), [f"{mp}/volume-{i}"])
            got.append((c, props, info))
            self.assertMountedOnce(mp)
        # connect_volume() and get_volume_paths() each mount: 6 references.
        self.assertEqual(len(c0._remotefsclient.references(export)), 6)
        self.assertEqual(self.read_id(mp), "B")
        for c, props, info in got:
            c.disconnect_volume(props, info)
            c.disconnect_volume(props, info)
            if c is not got[-1][0]:
                self.assertMountedOnce(mp)
        self.assertEqual(n_mounts_at(mp), 0, "the last disconnect unmounts")
        self.assertFalse(os.path.exists(mp))
        self.assertEqual(self.ctx.snapshot().shares, ())
        # One disconnect too many changes nothing.
        c0.disconnect_volume(got[0][1], got[0][2])
        self.assertFalse(c0._remotefsclient.unmount(export))
        return mp

    def test_bind(self):
        self.lifecycle("bind", self.export("b", "B"))

    def test_sshfs(self):
        path, share = self.ssh_export("s", "B")
        opts = ",".join(self.ssh_options())
        # The share's options from os-brick's configuration; the connection's from its
        # properties ("options": extra mount(8) arguments), as os-brick passes them.
        mp = self.lifecycle("sshfs", share, options="-o StrictHostKeyChecking=yes",
                            sshfs_mount_options=opts.replace(",StrictHostKeyChecking=yes", ""))
        self.assertEqual(n_mounts_at(mp), 0)

    def test_volume_keyed_drop_ins(self):
        for name in ("connect_volume", "get_volume_paths"):
            p = unittest.mock.patch.object(brick_connector.RemoteFsConnector, name,
                                           getattr(volmount.brick, name))
            p.start()
            self.addCleanup(p.stop)
        e = self.export("k", "B")
        a, b = self.connector("bind"), self.connector("bind")
        mp = a._remotefsclient.get_mount_point(e)
        pa, pb = self.props(e, "volume-a"), self.props(e, "volume-b")
        # A retried connect and a get_volume_paths() take no second reference.
        self.assertEqual(a.connect_volume(pa), {"path": mp + "/volume-a"})
        self.assertEqual(a.connect_volume(pa), {"path": mp + "/volume-a"})
        self.assertEqual(a.get_volume_paths(pa), [mp + "/volume-a"])
        b.connect_volume(pb)
        self.assertEqual(sorted(a._remotefsclient.references(e)), ["volume-a", "volume-b"])
        self.assertMountedOnce(mp)
        a.disconnect_volume(pa, None)
        self.assertMountedOnce(mp, "volume-b still holds the share")
        self.assertEqual(a._remotefsclient.references(e), ["volume-b"])
        b.disconnect_volume(pb, None)
        self.assertEqual(n_mounts_at(mp), 0, "one disconnect per volume unmounts")
        self.assertEqual(self.ctx.snapshot().shares, ())

    def test_named_references_and_restart(self):
        e = self.export("n", "B")
        c = self.connector("bind")
        client = c._remotefsclient
        mp = client.mount(e, volume="vol-1")
        self.assertEqual(client.mount(e, volume="vol-1"), mp, "one reference per volume")
        client.mount(e)
        self.assertEqual(sorted(client.references(e))[1:], ["vol-1"])
        # A new process: a new context and client see the references in the ledger.
        ctx2 = self.context(path_scheme="nova")
        c2 = self.connector("bind", ctx=ctx2)
        self.assertEqual(len(c2._remotefsclient.references(e)), 2)
        self.assertTrue(c2._remotefsclient.unmount(e, volume="vol-1"))
        self.assertMountedOnce(mp)
        self.assertTrue(c2._remotefsclient.unmount(e))
        self.assertEqual(n_mounts_at(mp), 0)

    def test_owners_are_separate(self):
        e = self.export("o", "B")
        a = self.connector("bind", owner="cinder-volume")._remotefsclient
        b = self.connector("bind", owner="nova-compute")._remotefsclient
        mp = a.mount(e)
        b.mount(e)
        self.assertFalse(b.unmount(e) and b.unmount(e), "b gives back only its own reference")
        self.assertMountedOnce(mp, "a's reference keeps the share")
        self.assertTrue(a.unmount(e))
        self.assertEqual(n_mounts_at(mp), 0)

    def test_configuration_errors(self):
        with self.assertRaises(volmount.ConfigError):
            brick_connector.RemoteFsConnector("bind", "sudo", context=self.ctx)
        with self.assertRaises(volmount.ConfigError):
            self.connector("bind", ctx=self.context(base_dir=os.path.join(self.root, "x")))
        with self.assertRaises(volmount.InputError):
            volmount.brick.RemoteFsClient("vzstorage", "sudo", context=self.ctx,
                                          vzstorage_mount_point_base=self.base_dir)
        c = self.connector("bind")
        with self.assertRaises(volmount.InputError):
            c.connect_volume(self.props(self.export("e"), "v", "--bind"))
        self.assertEqual(self.ctx.snapshot().shares, ())


class Concurrency(BrickCase):
    def test_many_threads(self):
        exports = [self.export(f"c{i}", "B") for i in range(2)]
        conns = [self.connector("bind") for _ in range(10)]
        mps = [conns[0]._remotefsclient.get_mount_point(e) for e in exports]
        errors, bad, samples = [], [], []
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                bad.extend(stacked(mps))
                samples.append(1)

        def worker(t):
            rnd = random.Random(t)
            c = conns[t]
            held = []
            try:
                for _ in range(25):
                    if held and rnd.random() < 0.5:
                        props, info = held.pop()
                        c.disconnect_volume(props, info)
                    else:
                        props = self.props(rnd.choice(exports), f"v{t}")
                        held.append((props, c.connect_volume(props)))
                for props, info in held:
                    c.disconnect_volume(props, info)
            except Exception as ex:  # noqa: BLE001
                errors.append(ex)

        smp = threading.Thread(target=sampler)
        smp.start()
        ts = [threading.Thread(target=worker, args=(t,)) for t in range(len(conns))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        stop.set()
        smp.join()
        self.assertEqual(errors, [])
        self.assertEqual(bad, [], "no mountpoint ever held two mounts")
        self.assertGreater(len(samples), 10, "the sampler ran")
        self.assertEqual(self.ctx.snapshot().shares, (), "every reference given back")
        for mp in mps:
            self.assertEqual(n_mounts_at(mp), 0)
            self.assertEqual(mounts_at(mp), [])
