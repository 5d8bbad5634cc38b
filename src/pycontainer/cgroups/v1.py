"""The cgroup v1 driver, also used on hybrid hosts.

Like runc's ``fs`` driver, the container joins *every* mounted v1 hierarchy
-- each controller's, and named ones such as ``name=systemd`` which carry
no controller but let systemd and tools such as ``systemd-cgls`` see where
processes belong -- and on a hybrid host also the unified (cgroup2)
hierarchy, whatever controllers it has.  A process left behind in the
runtime's cgroup of any hierarchy would escape the container's accounting
there.

Path rule: an absolute cgroupsPath is taken below each hierarchy's mountpoint
(the root of what the mount shows); a relative one below the runtime's own
cgroup in that hierarchy (``/proc/self/cgroup``, translated through the
mount's root), as runc's ``GetOwnCgroupPath`` does.
"""

from __future__ import annotations

import posixpath

from pycontainer.cgroups.base import Manager, Target, write_file
from pycontainer.cgroups.detect import UNIFIED, read_text
from pycontainer.errors import ContainerError
from pycontainer.log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycontainer.cgroups.detect import CgroupLayout

log = get_logger(__name__)


class V1Manager(Manager):
    """A container's cgroup on a v1 or hybrid host."""

    driver = "v1"

    def _resolve(self, normalized: str, layout: CgroupLayout) -> dict[str, Target]:
        """Every v1 hierarchy key, plus :data:`UNIFIED` on a hybrid host."""
        absolute = normalized.startswith("/")
        targets: dict[str, Target] = {}
        keys = list(layout.v1)
        if layout.unified is not None:
            keys.append(UNIFIED)
        for key in keys:
            mountpoint = layout.mountpoint(key)
            base = mountpoint if absolute else layout.own_dir(key)
            targets[key] = self._target_dir(mountpoint, base, normalized)
        return targets

    def _prepare(self, keys: tuple[str, ...], target: Target, created: list[str]) -> None:
        """A new v1 cpuset cgroup starts with empty ``cpuset.cpus`` and
        ``cpuset.mems`` (unless the parent has ``cgroup.clone_children``),
        and the kernel refuses processes into it (ENOSPC).  Copy them down
        from the parent into each directory we just made, top-down, as
        runc's cpuset ``Apply`` does.  Directories we did not create are
        not written to."""
        if "cpuset" not in keys:
            return
        for directory in created:
            parent_dir = posixpath.dirname(directory)
            for name in ("cpus", "mems"):
                try:
                    own, current = _read_cpuset(directory, name)
                    if current:
                        continue
                    parent, value = _read_cpuset(parent_dir, name)
                    if not value:
                        raise ContainerError(
                            f"cannot set up {directory}: its parent has an empty {posixpath.basename(parent)}"
                        )
                    write_file(own, value)
                    log.debug("copied %s=%s into %s", posixpath.basename(own), value, directory)
                except OSError as exc:
                    raise ContainerError(f"cannot set up cpuset cgroup {directory}: {exc}") from exc


def _read_cpuset(directory: str, name: str) -> tuple[str, str]:
    """The path and stripped content of ``cpuset.<name>`` in *directory*, or
    of plain ``<name>`` on a hierarchy mounted with the old ``noprefix``
    option."""
    path = f"{directory}/cpuset.{name}"
    try:
        return path, read_text(path).strip()
    except FileNotFoundError as missing:
        plain = f"{directory}/{name}"
        try:
            return plain, read_text(plain).strip()
        except FileNotFoundError:
            raise missing from None
