# SPDX-License-Identifier: LGPL-2.1-or-later
"""volmount.privsep - volmount.nova behind an oslo.privsep daemon, as Nova runs its mounts.

nova-compute does not run as root: its privileged work runs in a privsep daemon, started
through rootwrap or sudo with `privsep-helper`, holding only the capabilities its context
lists, and the unprivileged service calls it over a socket. oslo.privsep refuses an entry
point outside its context's module prefix, so volmount cannot add functions to Nova's
`nova.privsep.sys_admin_pctxt`; it brings its own context, `pctxt` (section
`[volmount_privsep]` of the service's configuration: user, group, capabilities,
helper_command), with the capabilities Nova's sys_admin context has but CAP_NET_ADMIN, plus
CAP_KILL and CAP_SYS_PTRACE: volmount finds and ends the helpers a crashed call left behind
(their /proc entries belong to processes with more capabilities than the daemon).

The entry points run volmount.nova's functions in the daemon. Arguments cross the socket
as msgpack data, so `instance` travels as its uuid; failures arrive as the same
volmount.Error subclasses with their message and errno.

Nova's own signatures, for replacing Nova's mount module in nova-compute:

    mount(fstype, export, vol_name, mountpoint, instance, options=None)
    umount(vol_name, mountpoint, instance)
    get_manager()   -> host_up(host), host_down()

and the entry points themselves: `attach_share`, `detach_share`, `host_up_report` (the report
as (path, action, detail) tuples) and `host_down`. None takes a path or a setting: the daemon's
volmount context comes from the file `[volmount_privsep] volmount_config` names (default
/etc/volmount.conf) in the service's configuration, read by the daemon itself.

    nova.virt.libvirt.volume.mount.mount = volmount.privsep.mount   # and umount, get_manager
"""

import os
import threading

from oslo_config import cfg
from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context

from volmount import nova as _nova

__all__ = ["pctxt", "attach_share", "detach_share", "host_up_report", "host_down", "mount",
           "umount", "get_manager"]

# The daemon's volmount configuration file, in the service's own configuration (the daemon
# reads it; the unprivileged side cannot choose it per call).
cfg.CONF.register_opts([
    cfg.StrOpt("volmount_config", default="/etc/volmount.conf",
               help="volmount.conf(5) file the privsep daemon's volmount context reads "
                    "(state, base and run directories, timeouts); absent: the defaults."),
], group="volmount_privsep")

pctxt = priv_context.PrivContext(
    "volmount",
    cfg_section="volmount_privsep",
    pypath=__name__ + ".pctxt",
    capabilities=[caps.CAP_SYS_ADMIN, caps.CAP_CHOWN, caps.CAP_DAC_OVERRIDE,
                  caps.CAP_DAC_READ_SEARCH, caps.CAP_FOWNER, caps.CAP_KILL,
                  caps.CAP_SYS_PTRACE],
)


class _Instance:
    """What volmount.nova reads of Nova's instance: its uuid."""
    __slots__ = ("uuid",)

    def __init__(self, uuid):
        self.uuid = uuid


# ---- entry points (run in the daemon) ----
#
# None takes a path or a setting: the unprivileged side is not trusted (privsep's premise),
# and a directory or configuration file of its choosing would have the daemon create root's
# directories, mount, or open a ledger where it says. The daemon's context comes from
# [volmount_privsep] volmount_config alone.

_configured = threading.Lock()
_done = False


def _daemon_context():
    global _done
    with _configured:
        if not _done:
            path = cfg.CONF.volmount_privsep.volmount_config
            _nova.configure(config=path if path and os.path.exists(path) else None)
            _done = True


@pctxt.entrypoint
def attach_share(fstype, export, vol_name, mountpoint, instance_uuid, options=None):
    """volmount.nova.mount() for the instance with this uuid."""
    _daemon_context()
    _nova.mount(fstype, export, vol_name, mountpoint, _Instance(instance_uuid),
                list(options) if options else None)


@pctxt.entrypoint
def detach_share(vol_name, mountpoint, instance_uuid):
    """volmount.nova.umount() for the instance with this uuid."""
    _daemon_context()
    _nova.umount(vol_name, mountpoint, _Instance(instance_uuid))


@pctxt.entrypoint
def host_up_report():
    """volmount.nova.host_up(): the report's entries as (path, action, detail) rows (msgpack
    brings them back as sequences; get_manager().host_up() makes them tuples)."""
    _daemon_context()
    return [(e.path, e.action, e.detail) for e in _nova.host_up().entries]


@pctxt.entrypoint
def host_down():
    """volmount.nova.host_down()."""
    _daemon_context()
    _nova.host_down()


# ---- Nova's signatures (run in the unprivileged service) ----

def mount(fstype, export, vol_name, mountpoint, instance, options=None):
    """Nova's mount.mount(), through the daemon."""
    attach_share(fstype, export, vol_name, mountpoint, instance.uuid,
                 list(options) if options else None)


def umount(vol_name, mountpoint, instance):
    """Nova's mount.umount(), through the daemon."""
    detach_share(vol_name, mountpoint, instance.uuid)


class _Manager:
    """What Nova's driver reaches through mount.get_manager()."""

    def host_up(self, host):
        return [tuple(e) for e in host_up_report()]

    def host_down(self):
        host_down()


_manager = _Manager()


def get_manager():
    """The manager object (host_up(host), host_down()) of Nova's mount module."""
    return _manager
