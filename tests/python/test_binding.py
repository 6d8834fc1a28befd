# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Python binding (volmount.Context) against real bind and sshfs mounts."""

import errno
import hashlib
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
import unittest

import volmount
from vmtest import Case, mounts_at, n_mounts_at, sh


class Lifecycle(Case):
    def test_attach_detach_bind(self):
        ctx = self.context()
        e = self.export("a", "A")
        mp = ctx.share_path("bind", e)
        self.assertTrue(mp.startswith(self.base_dir + "/bind/"), mp)
        self.assertFalse(os.path.exists(mp), "share_path changes nothing")
        pairs = [("v1", "o1"), ("v1", "o2"), ("v2", "o1")]
        for n, (v, o) in enumerate(pairs, 1):
            self.assertEqual(ctx.attach("bind", e, v, o), f"{mp}/{v}")
            self.assertMountedOnce(mp)
            share = ctx.snapshot().share_at(mp)
            self.assertEqual(len(share.attachments), n)
        self.assertEqual(self.read_id(mp), "A", "the mount shows the export")
        flags = mounts_at(mp)[0][4].split(",")
        self.assertIn("nosuid", flags)
        self.assertIn("nodev", flags)
        s = ctx.snapshot().share_at(mp)
        self.assertEqual((s.driver, s.export, s.state, s.adopted), ("bind", e, "mounted", False))
        self.assertEqual(set(s.attachments), {volmount.Attachment(v, o) for v, o in pairs})
        self.assertNotEqual(s.mount_id, 0)
        self.assertTrue(s.healthy)
        self.assertEqual(ctx.attach("bind", e, "v1", "o1"), f"{mp}/v1",
                         "attaching again is a no-op")
        again = ctx.snapshot().share_at(mp)
        self.assertEqual(len(again.attachments), 3)
        self.assertEqual(again.mount_id, s.mount_id, "still the same mount")
        for v, o in pairs[:-1]:
            self.assertTrue(ctx.detach("bind", e, v, o))
            self.assertMountedOnce(mp)
        self.assertFalse(ctx.detach("bind", e, "nope", "o1"), "detach of a pair not attached")
        self.assertMountedOnce(mp)
        self.assertTrue(ctx.detach("bind", e, *pairs[-1]))
        self.assertEqual(n_mounts_at(mp), 0, "the last detach unmounts")
        self.assertFalse(os.path.exists(mp), "and removes the mountpoint")
        self.assertEqual(ctx.snapshot().shares, ())

    def test_options_and_nova_scheme(self):
        ctx = self.context(path_scheme="nova")
        e = self.export("b", "B")
        mp = ctx.share_path("bind", e)
        self.assertEqual(mp, os.path.join(self.base_dir, hashlib.md5(e.encode()).hexdigest()))
        opts = {"ro": None, "noexec": True, "rw": False}
        self.assertEqual(ctx.attach("bind", e, "v", "o", opts), mp + "/v")
        self.assertEqual(ctx.snapshot().share_at(mp).options, "nodev,noexec,nosuid,ro")
        flags = mounts_at(mp)[0][4].split(",")
        self.assertIn("ro", flags)
        self.assertIn("noexec", flags)
        with self.assertRaises(volmount.InputError) as cm:
            ctx.attach("bind", e, "w", "o", ["rw"])
        self.assertEqual(cm.exception.exit_code, 65)
        self.assertIn("option", cm.exception.message)
        self.assertEqual(len(ctx.snapshot().share_at(mp).attachments), 1, "nothing recorded")
        ctx.detach("bind", e, "v", "o")
        self.assertEqual(n_mounts_at(mp), 0)

    def test_sshfs(self):
        ctx = self.context()
        path, share = self.ssh_export("s", "S")
        opts = self.ssh_options()
        mp = ctx.share_path("sshfs", share)
        for i in range(3):
            self.assertEqual(ctx.attach("sshfs", share, f"v{i}", "vm", opts), f"{mp}/v{i}")
        self.assertMountedOnce(mp)
        m = mounts_at(mp)[0]
        self.assertEqual((m[2], m[3]), ("fuse.sshfs", share))
        self.assertEqual(self.read_id(mp), "S", "the sshfs mount serves the export")
        for i in range(3):
            self.assertTrue(ctx.detach("sshfs", share, f"v{i}", "vm"))
        self.assertEqual(n_mounts_at(mp), 0)
        self.assertTrue(ctx.check().healthy)


class Errors(Case):
    def assertKind(self, cm, cls, code, eno=None):
        e = cm.exception
        self.assertIs(type(e), cls)
        self.assertEqual(e.exit_code, code)
        self.assertIsInstance(e, volmount.Error)
        self.assertTrue(e.message, "a failure explains itself")
        self.assertEqual(str(e), e.message)
        if eno is not None:
            self.assertEqual(e.errno, eno)

    def test_input(self):
        ctx = self.context()
        with self.assertRaises(volmount.InputError) as cm:
            ctx.attach("bind", os.path.join(self.exports, "missing"), "v", "o")
        self.assertKind(cm, volmount.InputError, 65)
        for bad in (("bind", "relative", "v", "o"), ("bind", self.export("x"), "../v", "o"),
                    ("bind", self.export("x"), "v", "o w"), ("nosuch", "/x", "v", "o")):
            with self.subTest(bad=bad), self.assertRaises(volmount.InputError) as cm:
                ctx.attach(*bad)
            self.assertKind(cm, volmount.InputError, 65)
        with self.assertRaises(volmount.InputError):
            ctx.attach("bind", "/a\0b", "v", "o")
        with self.assertRaises(TypeError):
            ctx.attach("bind", self.export("x"), "v", "o", "ro")
        self.assertEqual(ctx.snapshot().shares, (), "a refused request leaves nothing")

    def test_hostdown(self):
        ctx = self.context()
        e = self.export("h")
        ctx.attach("bind", e, "v", "o")
        ctx.host_down()
        self.assertEqual(ctx.snapshot().host_state, "down")
        with self.assertRaises(volmount.HostDownError) as cm:
            ctx.attach("bind", e, "w", "o")
        self.assertKind(cm, volmount.HostDownError, 69, errno.EHOSTDOWN)
        with self.assertRaises(volmount.HostDownError):
            ctx.detach("bind", e, "v", "o")
        mp = ctx.share_path("bind", e)
        self.assertMountedOnce(mp, "host-down leaves mounts alone")
        rep = ctx.host_up()
        self.assertEqual(rep.actions(mp), ["kept"])
        self.assertEqual(ctx.snapshot().host_state, "up")
        self.assertTrue(ctx.detach("bind", e, "v", "o"))

    def test_permission(self):
        bad = os.path.join(self.root, "loose")
        os.mkdir(bad)
        os.chmod(bad, 0o777)
        ctx = self.context(state_dir=os.path.join(bad, "state"))
        with self.assertRaises(volmount.PermissionDeniedError) as cm:
            ctx.attach("bind", self.export("p"), "v", "o")
        self.assertKind(cm, volmount.PermissionDeniedError, 77)
        self.assertIn(bad, cm.exception.message, "the message names the directory")

    def test_config_and_scheme(self):
        ctx = self.context()
        ctx.attach("bind", self.export("c"), "v", "o")
        other = self.context(path_scheme="nova")
        with self.assertRaises(volmount.ConfigError) as cm:
            other.snapshot()
        self.assertKind(cm, volmount.ConfigError, 78)
        with self.assertRaises(volmount.ConfigError):
            self.context(path_scheme="elsewhere")
        with self.assertRaises(volmount.InputError):
            self.context(timeout=0)
        with self.assertRaises(volmount.ConfigError):
            self.context(config=os.path.join(self.root, "no-such.conf"))

    def test_mountpoint_occupied(self):
        ctx = self.context()
        e = self.export("m")
        mp = ctx.share_path("bind", e)
        os.makedirs(mp, 0o700)
        sh("mount", "-t", "tmpfs", "squatter", mp)
        with self.assertRaises(volmount.MountpointError) as cm:
            ctx.attach("bind", e, "v", "o")
        self.assertKind(cm, volmount.MountpointError, 73)
        self.assertEqual(n_mounts_at(mp), 1, "the foreign mount is left alone")
        self.assertEqual(ctx.snapshot().shares, ())


class Health(Case):
    def test_check_repair_gc(self):
        ctx = self.context()
        e = self.export("r", "R")
        mp = ctx.share_path("bind", e)
        ctx.attach("bind", e, "v", "o")
        self.assertTrue(ctx.check().healthy)
        sh("umount", mp)  # taken away behind volmount's back
        snap = ctx.check()
        self.assertFalse(snap.healthy)
        self.assertEqual(snap.share_at(mp).state, "missing")
        rep = ctx.repair()
        self.assertIn("mounted", rep.actions(mp))
        self.assertMountedOnce(mp)
        self.assertEqual(self.read_id(mp), "R")
        self.assertTrue(ctx.check().healthy)
        left = os.path.join(self.base_dir, "bind", "0" * 64)
        os.mkdir(left, 0o700)
        rep = ctx.gc()
        self.assertIn("removed", rep.actions(left))
        self.assertFalse(os.path.exists(left))
        self.assertTrue(os.path.isdir(mp), "gc leaves a share's mountpoint")
        ctx.detach("bind", e, "v", "o")


class Threads(Case):
    def test_close_and_context_manager(self):
        with self.context() as ctx:
            self.assertFalse(ctx.closed)
            self.assertEqual(ctx.base_dir, self.base_dir)
        self.assertTrue(ctx.closed)
        with self.assertRaises(ValueError):
            ctx.snapshot()
        ctx.close()  # idempotent

    def test_close_waits_for_calls_in_flight(self):
        ctx = self.context()
        e = self.export("w")
        errors = []
        started = threading.Barrier(5)

        def worker(i):
            started.wait()
            try:
                for k in range(30):
                    ctx.attach("bind", e, f"v{i}-{k}", "o")
            except ValueError:
                pass  # the context was closed between two calls: refused, not crashed
            except Exception as ex:  # noqa: BLE001
                errors.append(ex)

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        started.wait()
        ctx.close()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])
        self.assertTrue(ctx.closed)

    def test_many_threads_one_context(self):
        ctx = self.context()
        shares = [self.export(f"t{i}") for i in range(4)]
        held = {}
        lock = threading.Lock()
        errors = []

        def worker(t):
            import random
            rnd = random.Random(t)
            mine = set()
            try:
                for _ in range(60):
                    e = rnd.choice(shares)
                    v = f"v{rnd.randrange(3)}"
                    if (e, v) in mine:
                        self.assertTrue(ctx.detach("bind", e, v, f"o{t}"))
                        mine.discard((e, v))
                    else:
                        ctx.attach("bind", e, v, f"o{t}")
                        mine.add((e, v))
            except Exception as ex:  # noqa: BLE001
                errors.append(ex)
            with lock:
                held[t] = mine

        ts = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])
        snap = ctx.snapshot()
        for e in shares:
            mp = ctx.share_path("bind", e)
            want = {volmount.Attachment(v, f"o{t}") for t, m in held.items() for (x, v) in m
                    if x == e}
            s = snap.share_at(mp)
            got = set(s.attachments) if s else set()
            self.assertEqual(got, want, f"the ledger holds what the callers were told ({e})")
            self.assertEqual(n_mounts_at(mp), 1 if want else 0, f"mounted iff attached ({e})")
        for t, m in held.items():
            for e, v in m:
                ctx.detach("bind", e, v, f"o{t}")
        for e in shares:
            self.assertEqual(n_mounts_at(ctx.share_path("bind", e)), 0)


class HeaderCheck(unittest.TestCase):
    """API mode: cffi's C source is compiled against include/volmount.h with build_cffi.py's
    signature checks and DRIFT_ERRORS, so a declaration that drifts from the header fails the
    build. Compiled here with the same generator and flags, once as committed and once with
    each kind of drift."""

    def compile(self, old=None, new=None):
        src = os.environ["VOLMOUNT_SRCDIR"]
        sys.path.insert(0, os.path.join(src, "python"))
        try:
            import build_cffi
        finally:
            sys.path.pop(0)
        cdef = build_cffi.CDEF
        if old is not None:
            self.assertIn(old, cdef)
            cdef = cdef.replace(old, new)
        with tempfile.TemporaryDirectory() as d:
            c = os.path.join(d, "x.c")
            build_cffi.make_ffi(cdef).emit_c_code(c)
            return subprocess.run(
                ["cc", "-fsyntax-only", "-I", os.path.join(src, "include"),
                 "-I", sysconfig.get_paths()["include"]] + build_cffi.DRIFT_ERRORS + [c],
                capture_output=True, text=True)

    def test_declarations_match_the_header(self):
        r = self.compile()
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_drifted_declarations_fail(self):
        drifts = [
            # a parameter of another pointer type
            ("int volmount_detach(struct volmount_ctx *ctx, const char *driver, const char *",
             "int volmount_detach(struct volmount_ctx *ctx, const char *driver, int *"),
            # int where the header has unsigned: C would convert it silently in a call
            ("int volmount_ctx_set_timeout(struct volmount_ctx *ctx, unsigned timeout_ms);",
             "int volmount_ctx_set_timeout(struct volmount_ctx *ctx, int timeout_ms);"),
            # a return type without the header's const
            ("const char *volmount_ctx_errmsg(", "char *volmount_ctx_errmsg("),
            # a function the header does not have
            ("int volmount_host_down(", "int volmount_host_halt("),
            # an enum constant the header does not have
            ("VOLMOUNT_ERR_CONFIG, ...", "VOLMOUNT_ERR_CONFIG, VOLMOUNT_ERR_GONE, ..."),
        ]
        for old, new in drifts:
            with self.subTest(new=new):
                r = self.compile(old, new)
                self.assertNotEqual(r.returncode, 0, f"{new!r} must not compile")
