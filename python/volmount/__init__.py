# SPDX-License-Identifier: LGPL-2.1-or-later
"""volmount - shared filesystem exports for the many consumers of one host.

A Python binding of libvolmount (include/volmount.h). An export ("share") is mounted once,
when its first volume is attached; kept while any attachment uses it; and unmounted when the
last one leaves, under concurrent callers from many threads and processes, across crashes and
reboots. Everything is recorded in a SQLite ledger, so the state survives the process.

    import volmount
    with volmount.Context(base_dir="/var/lib/volmount-mnt") as ctx:
        path = ctx.attach("bind", "/srv/images", "disk0", "vm-1")
        ...
        ctx.detach("bind", "/srv/images", "disk0", "vm-1")

Every failure raises a subclass of Error, one per kind of failure, carrying the library's
message, the negative errno it returned and the exit code the volmount command gives for it.

Submodules: volmount.nova (Nova's libvirt volume mount functions) and volmount.brick (an
os-brick RemoteFsClient whose mounts are reference-counted).
"""

import collections
import collections.abc
import functools
import os
import threading

from volmount._volmount import ffi, lib

__all__ = [
    "Context", "Snapshot", "Share", "Attachment", "Report", "ReportEntry",
    "Error", "InputError", "HostDownError", "InternalError", "MountpointError",
    "IOFailedError", "TemporaryError", "PermissionDeniedError", "ConfigError",
    "library_version", "DEFAULT_STATE_DIR", "DEFAULT_BASE_DIR", "DEFAULT_RUN_DIR",
]

DEFAULT_STATE_DIR = "/var/lib/volmount"
DEFAULT_BASE_DIR = "/var/lib/volmount/mnt"
DEFAULT_RUN_DIR = "/run/volmount"


# ---- errors ----

class Error(Exception):
    """A failed libvolmount call.

    Attributes:
        message: the library's explanation (what failed and why), as the command prints it.
        errno: the positive errno the call failed with (e.g. errno.EHOSTDOWN).
        exit_code: what the volmount command exits with for this kind of failure
            (sysexits.h: 65 input, 69 host down, 70 internal, 73 mountpoint, 74 I/O,
            75 temporary, 77 permission, 78 configuration).
        kind: the failure kind's name ("input", "hostdown", ...).
        report: for repair(), what was done before the failure (a Report), else None.
    """

    exit_code = 70
    kind = "internal"

    def __init__(self, message, errno=0, report=None):
        # args is (message, errno): what rebuilds the error elsewhere (oslo.privsep sends
        # an exception as its class name and args).
        super().__init__(message, errno)
        self.message = message
        self.errno = errno
        self.report = report

    def __str__(self):
        return self.message


class InputError(Error):
    """Invalid export, volume, owner or option, or options that differ from the share's
    (exit 65)."""
    exit_code = 65
    kind = "input"


class HostDownError(Error):
    """The host is down (run host_up()), or the server is unreachable (exit 69)."""
    exit_code = 69
    kind = "hostdown"


class InternalError(Error):
    """A bug, or an unexpected system error (exit 70)."""
    exit_code = 70
    kind = "internal"


class MountpointError(Error):
    """The mountpoint cannot be created, or is occupied: a symlink, a foreign mount, a
    non-empty directory, stacked mounts (exit 73)."""
    exit_code = 73
    kind = "mountpoint"


class IOFailedError(Error):
    """I/O error of the ledger, a mount or an unmount (exit 74)."""
    exit_code = 74
    kind = "io"


class TemporaryError(Error):
    """A lock wait, drain or helper passed the timeout, or the share is busy (exit 75)."""
    exit_code = 75
    kind = "tempfail"


class PermissionDeniedError(Error):
    """A directory or file volmount uses, or a directory above the state, base or run
    directory, has the wrong owner or mode (exit 77)."""
    exit_code = 77
    kind = "perm"


class ConfigError(Error):
    """Bad configuration, or a path scheme other than the one of the ledger's shares
    (exit 78)."""
    exit_code = 78
    kind = "config"


_ERROR_OF_KIND = {
    lib.VOLMOUNT_ERR_INPUT: InputError,
    lib.VOLMOUNT_ERR_HOSTDOWN: HostDownError,
    lib.VOLMOUNT_ERR_INTERNAL: InternalError,
    lib.VOLMOUNT_ERR_MOUNTPOINT: MountpointError,
    lib.VOLMOUNT_ERR_IO: IOFailedError,
    lib.VOLMOUNT_ERR_TEMPFAIL: TemporaryError,
    lib.VOLMOUNT_ERR_PERM: PermissionDeniedError,
    lib.VOLMOUNT_ERR_CONFIG: ConfigError,
}


# ---- results ----

Attachment = collections.namedtuple("Attachment", "volume owner")
Attachment.__doc__ = "One (volume, owner) pair attached to a share."

ReportEntry = collections.namedtuple("ReportEntry", "path action detail")
ReportEntry.__doc__ = """What host_up(), repair() or gc() did about one path.

action is one of "kept", "mounted", "adopted", "unmounted", "removed", "repaired", "foreign",
"stacked", "failed", ... (later versions may add actions); detail is a human explanation,
possibly ""."""

_HEALTHY_STATES = ("mounted", "unmounted")


class Share(collections.namedtuple(
        "Share", "driver export mountpoint options state mount_id adopted attachments "
                 "errno probe_us")):
    """One share as a snapshot saw it.

    state is what the kernel shows at the mountpoint: "mounted", "unmounted", "unused",
    "missing", "foreign", "stacked", and with a probe also "stale" or "hung" (later versions
    may add states: treat an unknown one as unhealthy). attachments is a tuple of Attachment;
    adopted is True for a mount made by Nova or os-brick that volmount keeps without
    attachments; errno is what the probe saw (0 if healthy or not probed); probe_us its
    duration in microseconds (-1 if not probed or no answer).
    """
    __slots__ = ()

    @property
    def healthy(self):
        """True when the share is as it should be (mounted or unmounted)."""
        return self.state in _HEALTHY_STATES


class Snapshot(collections.namedtuple("Snapshot", "host_state generation shares")):
    """The ledger joined with what the kernel shows: host_state ("up" or "down"), the host
    generation, and a tuple of Share."""
    __slots__ = ()

    @property
    def healthy(self):
        """True when every share is healthy (what `volmount check` exits 0 for)."""
        return all(s.healthy for s in self.shares)

    def share_at(self, mountpoint):
        """The Share whose mountpoint is mountpoint, or None."""
        for s in self.shares:
            if s.mountpoint == mountpoint:
                return s
        return None


class Report(collections.namedtuple("Report", "generation entries")):
    """What a host-wide call did: the host generation when it finished and a tuple of
    ReportEntry."""
    __slots__ = ()

    def actions(self, path):
        """The actions reported for path, in order."""
        return [e.action for e in self.entries if e.path == path]


def _str(p):
    return ffi.string(p).decode("utf-8", "surrogateescape") if p != ffi.NULL else None


def _bytes(name, value):
    if isinstance(value, bytes):
        b = value
    elif isinstance(value, str):
        b = value.encode("utf-8", "surrogateescape")
    elif isinstance(value, os.PathLike):
        return _bytes(name, os.fspath(value))
    else:
        raise TypeError(f"{name} must be str, bytes or a path, not {type(value).__name__}")
    if b"\0" in b:
        raise InputError(f"{name} contains a NUL byte", 22)
    return b


@functools.lru_cache(maxsize=1024)
def _encode4(driver, export, volume, owner):
    """The four str arguments of attach and detach, encoded; None if one holds a NUL byte
    (_bytes() then says which). Cached: a host's callers repeat the same few shares and
    owners, and a warm pair through the binding is a few microseconds of Python."""
    out = (driver.encode("utf-8", "surrogateescape"), export.encode("utf-8", "surrogateescape"),
           volume.encode("utf-8", "surrogateescape"), owner.encode("utf-8", "surrogateescape"))
    for b in out:
        if b"\0" in b:
            return None
    return out


def _args4(driver, export, volume, owner):
    if driver.__class__ is str and export.__class__ is str and volume.__class__ is str and \
       owner.__class__ is str:
        args = _encode4(driver, export, volume, owner)
        if args is not None:
            return args
    return (_bytes("driver", driver), _bytes("export", export), _bytes("volume", volume),
            _bytes("owner", owner))


_CHAR_PP = ffi.typeof("char **")


def _options(options):
    if options is None:
        return []
    if isinstance(options, (str, bytes)):
        raise TypeError("options must be a list of 'opt' or 'opt=val' strings, or a dict")
    if isinstance(options, collections.abc.Mapping):
        out = []
        for k, v in options.items():
            if v is False:
                continue
            if v is None or v is True:
                out.append(str(k))
            else:
                out.append(f"{k}={v}")
        options = out
    return [_bytes("option", o) for o in options]


def _report(rep):
    n = lib.volmount_report_n_entries(rep)
    return Report(
        int(lib.volmount_report_generation(rep)),
        tuple(ReportEntry(_str(lib.volmount_report_entry_path(rep, i)),
                          _str(lib.volmount_report_entry_action(rep, i)),
                          _str(lib.volmount_report_entry_detail(rep, i)) or "")
              for i in range(n)))


def _snapshot(s):
    shares = []
    for i in range(lib.volmount_snapshot_n_shares(s)):
        n = lib.volmount_snapshot_share_n_attachments(s, i)
        shares.append(Share(
            driver=_str(lib.volmount_snapshot_share_driver(s, i)),
            export=_str(lib.volmount_snapshot_share_export(s, i)),
            mountpoint=_str(lib.volmount_snapshot_share_mountpoint(s, i)),
            options=_str(lib.volmount_snapshot_share_options(s, i)) or "",
            state=_str(lib.volmount_snapshot_share_state(s, i)),
            mount_id=int(lib.volmount_snapshot_share_mount_id(s, i)),
            adopted=bool(lib.volmount_snapshot_share_adopted(s, i)),
            attachments=tuple(
                Attachment(_str(lib.volmount_snapshot_attachment_volume(s, i, j)),
                           _str(lib.volmount_snapshot_attachment_owner(s, i, j)))
                for j in range(n)),
            errno=int(lib.volmount_snapshot_share_errno(s, i)),
            probe_us=int(lib.volmount_snapshot_share_probe_us(s, i))))
    return Snapshot(_str(lib.volmount_snapshot_host_state(s)),
                    int(lib.volmount_snapshot_generation(s)), tuple(shares))


def library_version():
    """The version of the libvolmount actually loaded, as (major, minor, patch)."""
    n = lib.volmount_version_number()
    return (n // 10000, n // 100 % 100, n % 100)


_SCHEMES = {"volmount": lib.VOLMOUNT_PATH_SCHEME_VOLMOUNT, "nova": lib.VOLMOUNT_PATH_SCHEME_NOVA}
_DURABILITY = {"normal": lib.VOLMOUNT_DURABILITY_NORMAL, "full": lib.VOLMOUNT_DURABILITY_FULL}


def _ms(name, seconds):
    try:
        ms = round(float(seconds) * 1000)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number of seconds, not {seconds!r}", 22) from None
    if not 1 <= ms <= 86400000:
        raise InputError(f"{name} must lie between 0.001 and 86400 seconds, not {seconds!r}", 22)
    return ms


class Context:
    """A handle on one volmount host state: its ledger, mountpoints and locks.

    Context(state_dir=None, base_dir=None, run_dir=None, timeout=None, path_scheme=None,
            *, probe_timeout=None, durability=None, config=None)

    Arguments left at None keep the library's defaults (/var/lib/volmount,
    /var/lib/volmount/mnt, /run/volmount, 30 s, "volmount", 5 s, "normal"), or the values
    of the configuration file config, if one is named (it must exist, be a regular file owned
    by root and not writable by group or others). timeout and probe_timeout are seconds;
    path_scheme is "volmount" or "nova"; durability "normal" or "full". Nothing is opened
    before the first call. Every directory above the state, base and run directories must be
    root's and writable by nobody else, else calls raise PermissionDeniedError.

    A Context may be shared by any number of threads: the library serialises what must be
    serialised (between threads and processes alike), and the calls run without the GIL.
    close() (or leaving a with block) waits for calls in progress in other threads, then
    frees the context; calling it afterwards raises ValueError.
    """

    def __init__(self, state_dir=None, base_dir=None, run_dir=None, timeout=None,
                 path_scheme=None, *, probe_timeout=None, durability=None, config=None):
        self._ptr = None
        self._mu = threading.Lock()  # taken directly on every call: the fast path
        self._cond = threading.Condition(self._mu)  # close() waits on it
        self._busy = 0
        # attach() and detach(), the calls made most, count themselves without the lock: a
        # list's append() and pop() are atomic, and close() waits for it to be empty too.
        self._inflight = []
        self._closing = False
        p = ffi.new("struct volmount_ctx **")
        r = lib.volmount_ctx_new(p)
        if r < 0:
            raise MemoryError("volmount_ctx_new failed")
        ptr = p[0]
        try:
            if config is not None:
                self._setup(ptr, lib.volmount_ctx_load_config(ptr, _bytes("config", config), True))
            for which, value, name in ((lib.VOLMOUNT_PATH_STATE_DIR, state_dir, "state_dir"),
                                       (lib.VOLMOUNT_PATH_BASE_DIR, base_dir, "base_dir"),
                                       (lib.VOLMOUNT_PATH_RUN_DIR, run_dir, "run_dir")):
                if value is not None:
                    b = _bytes(name, value)
                    self._setup(ptr, lib.volmount_ctx_set_path(ptr, which, b),
                                f"{name} must be an absolute path, not {value!r}")
            if timeout is not None:
                self._setup(ptr, lib.volmount_ctx_set_timeout(ptr, _ms("timeout", timeout)))
            if probe_timeout is not None:
                self._setup(ptr, lib.volmount_ctx_set_probe_timeout(
                    ptr, _ms("probe_timeout", probe_timeout)))
            if path_scheme is not None:
                if path_scheme not in _SCHEMES:
                    raise ConfigError(f"path_scheme must be 'volmount' or 'nova', not "
                                      f"{path_scheme!r}", 22)
                self._setup(ptr, lib.volmount_ctx_set_path_scheme(ptr, _SCHEMES[path_scheme]))
            if durability is not None:
                if durability not in _DURABILITY:
                    raise ConfigError(f"durability must be 'normal' or 'full', not "
                                      f"{durability!r}", 22)
                self._setup(ptr, lib.volmount_ctx_set_durability(ptr, _DURABILITY[durability]))
        except BaseException:
            lib.volmount_ctx_free(ptr)
            raise
        self._ptr = ptr

    @staticmethod
    def _setup(ptr, r, fallback="invalid setting"):
        if r >= 0:
            return
        kind = lib.volmount_ctx_errkind(ptr)
        msg = _str(lib.volmount_ctx_errmsg(ptr)) or fallback
        if kind == lib.VOLMOUNT_ERR_NONE:  # a setter's plain -EINVAL or -EBUSY
            cls = InputError if r == -22 else ConfigError
        else:
            cls = _ERROR_OF_KIND.get(kind, InternalError)
        raise cls(msg, -r)

    # -- the call protocol: count calls in flight so close() never frees under one --

    def _enter(self):
        # attach() and detach() count themselves in _inflight instead (close() waits for both).
        with self._mu:
            if self._ptr is None or self._closing:
                raise ValueError("operation on a closed volmount.Context")
            self._busy += 1
            return self._ptr

    def _leave(self):
        with self._mu:
            self._busy -= 1
            if self._busy == 0 and self._closing:
                self._cond.notify_all()

    def _closed_error(self):
        # An attach() or detach() that found the context closing: it is no longer in flight.
        self._inflight.pop()
        self._wake_closer()
        return ValueError("operation on a closed volmount.Context")

    def _wake_closer(self):
        with self._mu:
            self._cond.notify_all()

    def _fail(self, ptr, r, report=None):
        # errmsg and errkind are the calling thread's own (thread-local in the library).
        kind = lib.volmount_ctx_errkind(ptr)
        msg = _str(lib.volmount_ctx_errmsg(ptr)) or os.strerror(-r)
        raise _ERROR_OF_KIND.get(kind, InternalError)(msg, -r, report)

    def close(self):
        """Wait for calls in progress, then free the context. Idempotent."""
        with self._cond:
            if self._ptr is None:
                return
            self._closing = True
            # An attach() or detach() checks _closing after it leaves _inflight, and wakes
            # us under the lock, so no wake-up is lost between this test and the wait.
            while self._busy or self._inflight:
                self._cond.wait()
            ptr, self._ptr = self._ptr, None
        lib.volmount_ctx_free(ptr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        ptr = getattr(self, "_ptr", None)
        if ptr is not None:
            self._ptr = None
            lib.volmount_ctx_free(ptr)

    @property
    def closed(self):
        """True once close() has run."""
        return self._ptr is None

    def _path(self, which):
        ptr = self._enter()
        try:
            return _str(lib.volmount_ctx_get_path(ptr, which))
        finally:
            self._leave()

    @property
    def state_dir(self):
        """The state directory (ledger)."""
        return self._path(lib.VOLMOUNT_PATH_STATE_DIR)

    @property
    def base_dir(self):
        """The base directory under which mountpoints are made."""
        return self._path(lib.VOLMOUNT_PATH_BASE_DIR)

    @property
    def run_dir(self):
        """The run directory (lock files)."""
        return self._path(lib.VOLMOUNT_PATH_RUN_DIR)

    # -- operations --

    def attach(self, driver, export, volume, owner, options=None):
        """Attach (volume, owner) to the share (driver, export) and return the device path
        "<mountpoint>/<volume>" (never looked at by volmount).

        The share is mounted if this is its first attachment. options is a list of "opt" or
        "opt=val" strings (or a dict: None or True give a bare "opt", False leaves it out); the first
        attachment's options define the share, and a later attach with other options raises
        InputError. Attaching an existing pair again changes nothing. With the nova path
        scheme, a matching mount made by Nova or os-brick is adopted instead of refused.
        """
        if options is None:
            arr, n = ffi.NULL, 0
        else:
            c_opts = [ffi.new("char[]", o) for o in _options(options)]
            arr = ffi.new("const char *[]", c_opts) if c_opts else ffi.NULL
            n = len(c_opts)
        out = ffi.new(_CHAR_PP)
        if driver.__class__ is str and export.__class__ is str and volume.__class__ is str and \
           owner.__class__ is str:  # _args4(), its common case written out
            args = _encode4(driver, export, volume, owner) or _args4(driver, export, volume, owner)
        else:
            args = _args4(driver, export, volume, owner)
        inflight = self._inflight
        inflight.append(None)  # in flight from here: close() waits
        ptr = self._ptr
        if ptr is None or self._closing:
            raise self._closed_error()
        try:
            r = lib.volmount_attach(ptr, *args, arr, n, out)
            if r < 0:
                self._fail(ptr, r)
        finally:
            inflight.pop()
            if self._closing:
                self._wake_closer()
        p = out[0]
        try:
            return ffi.string(p).decode("utf-8", "surrogateescape")
        finally:
            lib.free(p)

    def detach(self, driver, export, volume, owner):
        """Detach (volume, owner) from the share; the last detach unmounts the share and
        removes its mountpoint (a directory volmount did not make is kept). Returns True when
        the attachment was removed, False when there was no such attachment (nothing
        changed)."""
        if driver.__class__ is str and export.__class__ is str and volume.__class__ is str and \
           owner.__class__ is str:  # _args4(), its common case written out
            args = _encode4(driver, export, volume, owner) or _args4(driver, export, volume, owner)
        else:
            args = _args4(driver, export, volume, owner)
        inflight = self._inflight
        inflight.append(None)  # as in attach()
        ptr = self._ptr
        if ptr is None or self._closing:
            raise self._closed_error()
        try:
            r = lib.volmount_detach(ptr, *args)
            if r < 0:
                self._fail(ptr, r)
        finally:
            inflight.pop()
            if self._closing:
                self._wake_closer()
        return r == 0

    def share_path(self, driver, export):
        """The mountpoint of the share (driver, export). Changes nothing on the host."""
        args = (_bytes("driver", driver), _bytes("export", export))
        out = ffi.new("char **")
        ptr = self._enter()
        try:
            r = lib.volmount_share_path(ptr, *args, out)
            if r < 0:
                self._fail(ptr, r)
        finally:
            self._leave()
        try:
            return _str(out[0])
        finally:
            lib.free(out[0])

    def _report_call(self, fn, keep_report_on_failure=False):
        out = ffi.new("struct volmount_report **")
        ptr = self._enter()
        try:
            r = fn(ptr, out)
            rep = _report(out[0]) if out[0] != ffi.NULL else None
            if out[0] != ffi.NULL:
                lib.volmount_report_free(out[0])
            if r < 0:
                self._fail(ptr, r, rep if keep_report_on_failure else None)
            return rep
        finally:
            self._leave()

    def host_up(self):
        """Wait for operations in flight, reconcile the ledger with the kernel (mount shares
        that have attachments, unmount those without, adopt Nova's and os-brick's matching
        mounts under the nova path scheme, report foreign ones), mark the host up and raise
        the generation. Returns a Report."""
        return self._report_call(lib.volmount_host_up)

    def host_down(self):
        """Wait for operations in flight and mark the host down: attach() and detach() raise
        HostDownError until host_up(). Mounts are left as they are."""
        ptr = self._enter()
        try:
            r = lib.volmount_host_down(ptr)
            if r < 0:
                self._fail(ptr, r)
        finally:
            self._leave()

    def snapshot(self, probe=False):
        """Every share, its attachments and its state, as a Snapshot. Takes no lock. With
        probe=True every mounted share is also probed (statfs in a child process, all at once,
        each bounded by the probe timeout), so states include "stale" and "hung"."""
        out = ffi.new("struct volmount_snapshot **")
        flags = lib.VOLMOUNT_SNAPSHOT_PROBE if probe else 0
        ptr = self._enter()
        try:
            r = lib.volmount_snapshot_new_ex(ptr, flags, out)
            if r < 0:
                self._fail(ptr, r)
        finally:
            self._leave()
        try:
            return _snapshot(out[0])
        finally:
            lib.volmount_snapshot_free(out[0])

    def check(self):
        """Probe every share (as `volmount check`) and return the probed Snapshot; its
        healthy property is what the command's exit status says."""
        return self.snapshot(probe=True)

    def repair(self):
        """Bring every share to its desired state (see README "Health and repair") and return
        the Report. If some share could not be repaired, raises the error, whose report
        attribute holds the Report."""
        return self._report_call(lib.volmount_repair, keep_report_on_failure=True)

    def gc(self):
        """Remove empty, unmounted directories under <base>/<driver>/ that no share owns;
        report (never delete) anything else found there. Returns a Report."""
        return self._report_call(lib.volmount_gc)

    def __repr__(self):
        if self._ptr is None:
            return "<volmount.Context closed>"
        return (f"<volmount.Context state_dir={self.state_dir!r} base_dir={self.base_dir!r} "
                f"run_dir={self.run_dir!r}>")
