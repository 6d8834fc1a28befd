# SPDX-License-Identifier: LGPL-2.1-or-later
"""volmount.nova - Nova's libvirt volume mount module, backed by volmount.

The functions of nova/virt/libvirt/volume/mount.py with Nova's signatures:

    mount(fstype, export, vol_name, mountpoint, instance, options=None)
    umount(vol_name, mountpoint, instance)
    host_up(host) / host_down()
    get_manager()        -> an object with host_up(host) and host_down(), as Nova's driver uses

An attachment is (vol_name, instance.uuid); the share is (the volmount driver of fstype,
export). Unlike Nova's in-memory manager, the attachments live in volmount's ledger: they
survive a restart of nova-compute, several processes can share them, and host_up() after a
restart keeps what is attached instead of rebuilding it from the guests' disks. The context
uses the nova path scheme, so mountpoints are <base>/<md5 of the export>, as Nova names them,
and host_up() adopts the mounts Nova made (README, "Adopting a Nova/os-brick host").

Nova passes the mountpoint it computed; it must be volmount's (the same base directory as
Nova's *_mount_point_base), else InputError. options is Nova's list of mount(8) arguments:
"-o a,b" (or "-oa,b", "--options a,b") becomes the volmount options a and b; "nosuid",
"nodev" (always set by volmount), "rw", "defaults" and, for fstype "none"/"bind", "bind" are
dropped; anything else raises InputError.

The functions are meant to be called where Nova's are (nova-compute, or a privsep entry
point): they need root. Configure the context once with configure(), or let the first call
make one from /etc/volmount.conf (if present) with the nova path scheme.
"""

import logging
import os
import threading

import volmount

__all__ = ["configure", "context", "mount", "umount", "host_up", "host_down", "get_manager",
           "driver_of_fstype", "options_of_argv"]

LOG = logging.getLogger(__name__)

# Nova's fstype (what it passes to mount -t) -> volmount driver.
_DRIVER_OF_FSTYPE = {
    None: "bind", "none": "bind", "bind": "bind",
    "nfs": "nfs", "nfs4": "nfs",
    "glusterfs": "glusterfs", "fuse.glusterfs": "glusterfs",
    "sshfs": "sshfs", "fuse.sshfs": "sshfs",
    "cifs": "cifs", "smbfs": "cifs", "smb3": "cifs",
    "quobyte": "quobyte", "fuse.quobyte": "quobyte",
    "ceph": "cephfs", "cephfs": "cephfs",
}
_ALWAYS_DROPPED = ("", "nosuid", "nodev", "rw", "defaults")

_lock = threading.Lock()
_ctx = None
# mountpoint -> (driver, export), learnt at mount(); umount() falls back to a snapshot.
_shares = {}


def driver_of_fstype(fstype):
    """The volmount driver for a mount(8) file system type as Nova and os-brick name it."""
    try:
        return _DRIVER_OF_FSTYPE[fstype]
    except (KeyError, TypeError):
        raise volmount.InputError(f"file system type {fstype!r} has no volmount driver", 22) \
            from None


def options_of_argv(driver, args):
    """volmount options from a list of mount(8) arguments ("-o a,b", "-oa,b", "--options a,b",
    "--options=a,b"). Raises InputError for any other argument."""
    out = []
    it = iter(args or ())
    for a in it:
        if a in ("-o", "--options"):
            try:
                val = next(it)
            except StopIteration:
                raise volmount.InputError(f"mount argument {a!r} without a value", 22) from None
        elif a.startswith("--options="):
            val = a[len("--options="):]
        elif a.startswith("-o"):
            val = a[2:]
        else:
            raise volmount.InputError(f"mount argument {a!r} has no volmount equivalent", 22)
        for o in val.split(","):
            o = o.strip()
            if o in _ALWAYS_DROPPED or (driver == "bind" and o == "bind"):
                continue
            out.append(o)
    return out


def configure(**kwargs):
    """Make the context the functions use: volmount.Context(**kwargs) with
    path_scheme="nova". Replaces (and closes) a previous one. Returns it."""
    global _ctx
    kwargs["path_scheme"] = "nova"
    ctx = volmount.Context(**kwargs)
    with _lock:
        old, _ctx = _ctx, ctx
        _shares.clear()
    if old is not None:
        old.close()
    return ctx


def context():
    """The context in use, made on first use from /etc/volmount.conf (if it exists)."""
    global _ctx
    with _lock:
        if _ctx is None:
            conf = "/etc/volmount.conf"
            _ctx = volmount.Context(config=conf if os.path.exists(conf) else None,
                                    path_scheme="nova")
        return _ctx


def _share_of(ctx, fstype, export, mountpoint):
    driver = driver_of_fstype(fstype)
    want = ctx.share_path(driver, export)
    if os.path.normpath(mountpoint) != want:
        raise volmount.InputError(
            f"Nova's mountpoint {mountpoint} for {export} is not volmount's {want}: the mount "
            f"point base Nova is configured with must be volmount's base_dir "
            f"({ctx.base_dir})", 22)
    return driver, want


def mount(fstype, export, vol_name, mountpoint, instance, options=None):
    """Attach vol_name of instance to the share export, mounting it at mountpoint if it is
    the first attachment (Nova's mount.mount()). Raises a volmount.Error on failure
    (HostDownError while the host is down)."""
    ctx = context()
    driver, mp = _share_of(ctx, fstype, export, mountpoint)
    opts = options_of_argv(driver, options)
    ctx.attach(driver, export, vol_name, instance.uuid, opts)
    with _lock:
        _shares[mp] = (driver, export)
    LOG.debug("volmount: attached %s of %s at %s", vol_name, instance.uuid, mp)


def _lookup(ctx, mp):
    with _lock:
        hit = _shares.get(mp)
    if hit is not None:
        return hit
    share = ctx.snapshot().share_at(mp)
    if share is None:
        return None
    with _lock:
        _shares[mp] = (share.driver, share.export)
    return share.driver, share.export


def umount(vol_name, mountpoint, instance):
    """Detach vol_name of instance from the share mounted at mountpoint; the last detach
    unmounts it (Nova's mount.umount()). A pair that is not attached is logged and ignored,
    as Nova does."""
    ctx = context()
    mp = os.path.normpath(mountpoint)
    share = _lookup(ctx, mp)
    if share is None or not ctx.detach(share[0], share[1], vol_name, instance.uuid):
        LOG.warning("Request to remove attachment (%s from %s), but volmount does not think "
                    "it is in use.", vol_name, mountpoint)


def host_up(host=None):
    """Reconcile volmount's ledger with the kernel and mark the host up (Nova calls it when
    the libvirt connection comes up; host is not needed: the ledger knows the attachments).
    Returns volmount's Report."""
    rep = context().host_up()
    for e in rep.entries:
        if e.action in ("foreign", "stacked", "failed"):
            LOG.warning("volmount host-up: %s: %s %s", e.path, e.action, e.detail)
    return rep


def host_down():
    """Wait for attach/detach calls in flight, then refuse them until host_up()."""
    context().host_down()


class _Manager:
    """What Nova's driver reaches through mount.get_manager()."""

    def host_up(self, host):
        return host_up(host)

    def host_down(self):
        return host_down()


_manager = _Manager()


def get_manager():
    """The manager object (host_up(host), host_down()) of Nova's mount module."""
    return _manager
