# SPDX-License-Identifier: LGPL-2.1-or-later
"""volmount.brick - an os-brick RemoteFsClient whose mounts are reference-counted.

    RemoteFsClient(mount_type, root_helper, execute=None, *args, **kwargs)

takes the arguments of os_brick.remotefs.remotefs.RemoteFsClient (mount_type "nfs", "cifs",
"glusterfs", "quobyte", and also "sshfs" and "bind"; kwargs "<prefix>_mount_point_base",
required, and "<prefix>_mount_options", a comma-separated string, where prefix is the
mount_type, or "smbfs" for cifs) and offers its methods mount(share, flags=None),
get_mount_point(share) and get_mount_base(), so os-brick's RemoteFsConnector can use it
unchanged. Extra keyword arguments: context (a volmount.Context with the nova path scheme and
the same base directory; by default one is made with base_dir = the mount point base and the
other settings from /etc/volmount.conf, if present) and owner (the owner id of this client's
references, default "os-brick").

Every mount() takes one reference on the share, recorded in volmount's ledger (so it
survives the process); unmount(share) gives one back, and the last one unmounts the share.
With volume=NAME, mount() and unmount() take and give back the reference of that volume
instead (attaching the same volume twice is one reference). os-brick's RemoteFsConnector
never unmounts: disconnect_volume() below is a drop-in for its method that does. Its
connect_volume() and get_volume_paths() call mount() without a volume, so each call takes
an anonymous reference; the drop-ins connect_volume() and get_volume_paths() below take the
volume's own instead, so that repeated calls cannot keep a share mounted.
"""

import os
import threading
import uuid

import volmount
from volmount.nova import driver_of_fstype, options_of_argv

__all__ = ["RemoteFsClient", "connect_volume", "get_volume_paths", "disconnect_volume",
           "ANONYMOUS_PREFIX"]

_PREFIX_OF_TYPE = {
    "nfs": "nfs", "cifs": "smbfs", "glusterfs": "glusterfs", "quobyte": "quobyte",
    "sshfs": "sshfs", "bind": "bind",
}
# The volume name of an anonymous reference: ANONYMOUS_PREFIX + 32 hex digits.
ANONYMOUS_PREFIX = "ref-"


class RemoteFsClient:
    """An os-brick RemoteFsClient backed by volmount (see the module's docstring)."""

    def __init__(self, mount_type, root_helper, execute=None, *args, context=None,
                 owner="os-brick", **kwargs):
        if mount_type not in _PREFIX_OF_TYPE:
            raise volmount.InputError(f"mount type {mount_type!r} is not supported", 22)
        self._mount_type = mount_type
        self._driver = driver_of_fstype(mount_type)
        self._root_helper = root_helper
        self._execute = execute
        prefix = _PREFIX_OF_TYPE[mount_type]
        base = kwargs.get(prefix + "_mount_point_base")
        if not base:
            raise volmount.ConfigError(f"{prefix}_mount_point_base required", 22)
        self._mount_base = os.path.normpath(base)
        opts = kwargs.get(prefix + "_mount_options")
        self._mount_options = options_of_argv(self._driver, ["-o", opts] if opts else [])
        if context is None:
            conf = "/etc/volmount.conf"
            context = volmount.Context(config=conf if os.path.exists(conf) else None,
                                       base_dir=self._mount_base, path_scheme="nova")
        elif context.base_dir != self._mount_base:
            raise volmount.ConfigError(
                f"{prefix}_mount_point_base {self._mount_base} is not the context's base "
                f"directory {context.base_dir}", 22)
        self._ctx = context
        self._owner = owner
        self._lock = threading.Lock()

    @property
    def context(self):
        """The volmount.Context the client uses."""
        return self._ctx

    def set_execute(self, execute):
        """Accepted for os-brick's Executor interface; volmount runs no command through it."""
        self._execute = execute

    def get_mount_base(self):
        """The mount point base directory."""
        return self._mount_base

    def get_mount_point(self, device_name):
        """The mountpoint of the share device_name: <base>/<md5 of the normalized share>."""
        return self._ctx.share_path(self._driver, device_name)

    def mount(self, share, flags=None, volume=None):
        """Take a reference on share, mounting it if it is the first. flags are extra mount(8)
        arguments ("-o a,b"), as os-brick passes them. With volume, the reference is that
        volume's (taking it twice is one reference). Returns the mountpoint."""
        opts = self._mount_options + options_of_argv(self._driver, flags)
        name = volume if volume is not None else ANONYMOUS_PREFIX + uuid.uuid4().hex
        self._ctx.attach(self._driver, share, name, self._owner, opts)
        return self.get_mount_point(share)

    def references(self, share):
        """This client's owner's references on share: a list of volume names."""
        mp = self.get_mount_point(share)
        s = self._ctx.snapshot().share_at(mp)
        if s is None:
            return []
        return [a.volume for a in s.attachments if a.owner == self._owner]

    def unmount(self, share, volume=None):
        """Give back one reference on share (that of volume, if given); the last reference
        unmounts the share. Returns True if a reference was given back, False if this client
        held none."""
        if volume is not None:
            return self._ctx.detach(self._driver, share, volume, self._owner)
        # Another thread or process of the same owner may give back the same anonymous
        # reference at the same moment: detach reports which of us did, and the other
        # tries the next one.
        while True:
            refs = [v for v in self.references(share) if v.startswith(ANONYMOUS_PREFIX)]
            if not refs:
                return False
            for v in refs:
                if self._ctx.detach(self._driver, share, v, self._owner):
                    return True


def _volume_path(self, connection_properties):
    props = connection_properties
    flags = props["options"].split() if props.get("options") else []
    mp = self._remotefsclient.mount(props["export"], flags, volume=props["name"])
    return mp + "/" + props["name"]


def connect_volume(self, connection_properties):
    """A RemoteFsConnector.connect_volume() whose reference is the volume's own
    (connection_properties["name"]): connecting a volume twice takes one reference, so a
    retried connect cannot keep the share mounted forever. Returns {"path": device path}, as
    os-brick's does. For RemoteFsConnector.connect_volume = connect_volume."""
    return {"path": _volume_path(self, connection_properties)}


def get_volume_paths(self, connection_properties):
    """A RemoteFsConnector.get_volume_paths() that takes the volume's reference, as
    connect_volume() above does (os-brick's own takes an anonymous one on every call)."""
    return [_volume_path(self, connection_properties)]


def disconnect_volume(self, connection_properties, device_info, force=False,
                      ignore_errors=False):
    """A RemoteFsConnector.disconnect_volume() that gives back the reference connect_volume()
    took through a volmount RemoteFsClient: the volume's own (connect_volume() above), or
    else one anonymous reference (os-brick's own connect_volume()). os-brick's does nothing,
    so its mounts are never unmounted. For RemoteFsConnector.disconnect_volume =
    disconnect_volume."""
    client = self._remotefsclient
    if not isinstance(client, RemoteFsClient):
        return None
    props = connection_properties
    try:
        if not (props.get("name") and client.unmount(props["export"], volume=props["name"])):
            client.unmount(props["export"])
    except volmount.Error:
        if not ignore_errors:
            raise
    return None
