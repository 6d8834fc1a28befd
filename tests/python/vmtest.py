# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures of the Python tests (tests/python/test_*.py), run by tests/integration/test-python.sh
inside a private mount+net+pid namespace, on the tmpfs of tests/integration/lib.sh ($VT_TMP),
with the key-only sshd of net.sh on 127.0.0.1 (SSH_PORT, SSH_KEY, SSH_KNOWN_HOSTS).

Each test gets fresh state, base and run directories (root-owned, as the library demands) and
export directories on a tmpfs of their own: a remote share lives on another file system than
the mountpoints, and Nova's os.path.ismount() cannot see a bind mount from the mountpoint's
own file system.
"""

import os
import subprocess
import sys
import tempfile
import traceback
import unittest

import volmount


def unescape(s):
    out, i = [], 0
    while i < len(s):
        d = s[i + 1:i + 4]
        if s[i] == "\\" and len(d) == 3 and all(c in "01234567" for c in d):
            out.append(chr(int(d, 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def mountinfo(with_parent=False):
    """(mount id, mount point, fstype, source, per-mount options[, parent id]) of every
    mount."""
    rows = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a = line.split()
            k = a.index("-")
            row = (int(a[0]), unescape(a[4]), a[k + 1], unescape(a[k + 2]), a[5])
            rows.append(row + (int(a[1]),) if with_parent else row)
    return rows


def stacked(paths):
    """The paths among paths where two mounts are stacked: a mount whose parent mount sits at
    the same mount point is proof by itself. mountinfo is read a page per read(), so one read
    can show a mount and, after it was replaced, its successor at the same path: two mounts at
    one path count only when a second read, begun after the first ended, shows the same mount
    ids there (a mount gone during the first read cannot be in the second), as lib.sh's
    sampler does."""
    def once():
        rows = mountinfo(with_parent=True)
        at = {r[0]: r[1] for r in rows}
        proof = {r[1] for r in rows if r[1] in paths and at.get(r[5]) == r[1]}
        ids = {}
        for r in rows:
            if r[1] in paths:
                ids.setdefault(r[1], set()).add(r[0])
        twice = {(p, frozenset(i)) for p, i in ids.items() if len(i) > 1}
        return proof, twice
    proof, twice = once()
    if twice:
        proof2, twice2 = once()
        proof |= proof2
        twice &= twice2
    return sorted(proof | {p for p, _ in twice})


def mounts_at(path):
    return [r for r in mountinfo() if r[1] == path]


def n_mounts_at(path):
    return len(mounts_at(path))


def mounts_under(path):
    p = path.rstrip("/") + "/"
    return sorted(r[1] for r in mountinfo() if r[1].startswith(p))


def sh(*argv):
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)


class Case(unittest.TestCase):
    """A test with its own directories under $VT_TMP."""

    def setUp(self):
        vt = os.environ["VT_TMP"]
        self.root = tempfile.mkdtemp(prefix="py-", dir=vt)
        os.chmod(self.root, 0o755)
        self.state_dir = os.path.join(self.root, "state")
        self.base_dir = os.path.join(self.root, "mnt")
        self.run_dir = os.path.join(self.root, "run")
        self.exports = os.path.join(self.root, "exports")
        os.mkdir(self.exports, 0o755)
        sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "py-exports", self.exports)
        self.addCleanup(self._cleanup)
        self._contexts = []

    def _cleanup(self):
        for c in self._contexts:
            c.close()
        for mp in reversed(mounts_under(self.root)):
            subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)

    def context(self, **kw):
        args = dict(state_dir=self.state_dir, base_dir=self.base_dir, run_dir=self.run_dir,
                    timeout=20)
        args.update(kw)
        c = volmount.Context(**args)
        self._contexts.append(c)
        return c

    def export(self, name, content=None):
        p = os.path.join(self.exports, name)
        os.makedirs(p, exist_ok=True)
        if content is not None:
            with open(os.path.join(p, "id"), "w") as f:
                f.write(content)
        return p

    # -- sshfs: the share is root@127.0.0.1:<dir>, served by net.sh's sshd --

    def ssh_export(self, name, content=None):
        p = self.export("ssh-" + name, content)
        return p, "root@127.0.0.1:" + p

    @staticmethod
    def ssh_options():
        return ["port=" + os.environ["SSH_PORT"], "IdentityFile=" + os.environ["SSH_KEY"],
                "UserKnownHostsFile=" + os.environ["SSH_KNOWN_HOSTS"],
                "StrictHostKeyChecking=yes"]

    def assertMountedOnce(self, path, msg=None):
        self.assertEqual(n_mounts_at(path), 1, msg or f"{path} is mounted exactly once")

    def assertNotMounted(self, path, msg=None):
        self.assertEqual(n_mounts_at(path), 0, msg or f"nothing is mounted at {path}")

    def read_id(self, path):
        with open(os.path.join(path, "id")) as f:
            return f.read()


class _TapResult(unittest.TestResult):
    """Writes one line per test to a file the shell wrapper turns into TAP:
    "ok NAME", "not ok NAME" or "skip NAME", followed by "# ..." lines of explanation."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def _line(self, s):
        self.out.write(s + "\n")
        self.out.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(f"ok {test.id()}")

    def _bad(self, test, err):
        self._line(f"not ok {test.id()}")
        for ln in "".join(traceback.format_exception(*err)).splitlines():
            self._line("# " + ln)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._bad(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._bad(test, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(f"skip {test.id()} {reason}")


def main():
    """vmtest.py MODULE RESULTS: runs every test of MODULE, one line each into RESULTS."""
    module, results = sys.argv[1], sys.argv[2]
    suite = unittest.defaultTestLoader.loadTestsFromName(module)
    with open(results, "w") as out:
        r = _TapResult(out)
        suite.run(r)
    return 0 if r.wasSuccessful() and r.testsRun else 1


if __name__ == "__main__":
    sys.exit(main())
