"""Placing a container's processes in cgroups (the cgroupfs driver).

:func:`manager_for` picks the driver for this host's layout (see
:mod:`pycontainer.cgroups.detect`): :class:`V2Manager` on a pure cgroup v2
host, :class:`V1Manager` on a v1 or hybrid one.  Resource limits are not set
here yet; this layer only creates, joins, lists and removes cgroups.

How ``linux.cgroupsPath`` is read follows runc's cgroupfs drivers
(``libcontainer/cgroups/fs`` and ``fs2``, with ``specconv``):

* **absolute** (``/pycontainer/abc``): below the root of each hierarchy, i.e.
  below each mountpoint -- which inside a container whose cgroups were
  bind-mounted is the container's own part of the hierarchy;
* **relative** (``pycontainer/abc``): below the runtime's own cgroup in each
  hierarchy on v1/hybrid, below the *parent* of it on pure v2 (see
  :mod:`pycontainer.cgroups.v2` for why runc does that);
* **absent or empty**: runc's cgroupfs driver then uses the container id as
  the cgroup name with no parent, which is the *relative* path ``<id>`` --
  and so do we.  Nesting the container below the runtime's own cgroup keeps
  it inside whatever limits and accounting the caller (a session scope, a
  supervisor's cgroup) is under, rather than escaping to the root.  Callers
  wanting a fixed place pass an absolute path such as ``/pycontainer/<id>``.

Refused with ConfigError (path ``linux.cgroupsPath``): ``..`` climbing above
the root it is relative to, a path naming that root itself, and the systemd
driver's ``slice:prefix:name`` form -- the systemd cgroup driver (cgroups
created by systemd over D-Bus) is not supported.

Everything here is standard library only and cheap to import.
"""

from __future__ import annotations

from pycontainer.cgroups.base import Manager, cgroup_of, normalize_cgroups_path
from pycontainer.cgroups.detect import (
    UNIFIED,
    CgroupLayout,
    CgroupMount,
    build_layout,
    detect,
    parse_mountinfo,
    parse_proc_cgroup,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycontainer.cgroups.v1 import V1Manager
    from pycontainer.cgroups.v2 import V2Manager

__all__ = [
    "UNIFIED",
    "CgroupLayout",
    "CgroupMount",
    "Manager",
    "V1Manager",
    "V2Manager",
    "build_layout",
    "cgroup_of",
    "default_cgroups_path",
    "detect",
    "from_state",
    "manager_for",
    "normalize_cgroups_path",
    "parse_mountinfo",
    "parse_proc_cgroup",
]


def default_cgroups_path(container_id: str) -> str:
    """The cgroupsPath used when the config gives none: the relative path
    ``<id>``, as runc's cgroupfs driver does (see the module docstring)."""
    if (
        not isinstance(container_id, str)
        or not container_id
        or container_id in (".", "..")
        or "/" in container_id
        or "\0" in container_id
    ):
        raise ValueError(f"container id {container_id!r} cannot name a cgroup")
    return container_id


def manager_for(
    cgroups_path: str | None,
    container_id: str,
    layout: CgroupLayout | None = None,
) -> Manager:
    """The cgroup manager for a container.

    *cgroups_path* is the config's ``linux.cgroupsPath`` (None or ``""``
    for the default ``<container_id>``, relative); *layout* defaults to this
    host's (:func:`detect`).  The path is checked before the host is looked
    at, so a bad config fails the same way everywhere.
    """
    path = cgroups_path or default_cgroups_path(container_id)
    normalize_cgroups_path(path)  # raises ConfigError early
    if layout is None:
        layout = detect()
    return _driver(layout)(path, layout)


def from_state(
    cgroups_path: str, directories: dict[str, str], created: list[str], layout: CgroupLayout | None = None
) -> Manager:
    """The manager of an existing container, rebuilt from what its creator
    saved in the state: its :meth:`Manager.paths` and
    :meth:`Manager.created_dirs` (so ``destroy`` removes exactly those)."""
    if layout is None:
        layout = detect()
    manager = _driver(layout)(cgroups_path, layout, directories)
    manager.adopt(created)
    return manager


def _driver(layout: CgroupLayout) -> type[Manager]:
    """The manager class for *layout*.  Only the driver this host needs is
    imported (a start-up saving): :class:`V2Manager` on a pure v2 host,
    :class:`V1Manager` on a v1 or hybrid one."""
    if layout.mode == "v2":
        from pycontainer.cgroups.v2 import V2Manager

        return V2Manager
    from pycontainer.cgroups.v1 import V1Manager

    return V1Manager


def __getattr__(name: str) -> type[Manager]:
    """``V1Manager`` and ``V2Manager``, imported on first use."""
    cls: type[Manager]
    if name == "V1Manager":
        from pycontainer.cgroups.v1 import V1Manager as cls
    elif name == "V2Manager":
        from pycontainer.cgroups.v2 import V2Manager as cls
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = cls
    return cls
