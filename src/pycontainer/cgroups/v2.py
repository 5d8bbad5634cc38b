"""The cgroup v2 driver, for hosts with only the unified hierarchy.

One directory per container.  Two v2 rules shape it:

* **No internal processes**: a cgroup that enables controllers for its
  children (``cgroup.subtree_control``) may not hold processes itself, the
  root excepted.  So processes go only into leaves, and
  :meth:`V2Manager.enable_controllers` writes ``subtree_control`` only on the
  *ancestors* of the container's cgroup, never on the cgroup itself.
* **Controllers trickle down**: a controller is usable in a cgroup only if
  every ancestor up to the root enabled it in its ``subtree_control``.

Path rule, as runc's ``fs2`` driver: an absolute cgroupsPath is taken below
the mountpoint; a relative one below the *parent* of the runtime's own
cgroup, not the cgroup itself.  runc does this because the runtime's own
cgroup (a login session scope, say) holds processes -- ours among them --
so by the first rule it could never enable controllers for the container's
cgroup placed inside it; its parent (a slice) normally holds none.  That
differs from the v1 driver, which nests below the own cgroup itself, where
v1 has no such rule.
"""

from __future__ import annotations

import errno
import posixpath

from pycontainer.cgroups.base import Manager, Target, write_file
from pycontainer.cgroups.detect import UNIFIED, read_text
from pycontainer.errors import ContainerError
from pycontainer.log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from pycontainer.cgroups.detect import CgroupLayout

log = get_logger(__name__)


class V2Manager(Manager):
    """A container's cgroup on a pure cgroup v2 host."""

    driver = "v2"

    def _resolve(self, normalized: str, layout: CgroupLayout) -> dict[str, Target]:
        """The unified hierarchy only; named v1 hierarchies that a v2 host
        may still mount for old containers are ignored, as runc does."""
        mountpoint = layout.mountpoint(UNIFIED)
        if normalized.startswith("/"):
            base = mountpoint
        else:
            own = layout.own_dir(UNIFIED)
            base = posixpath.dirname(own) if own != mountpoint else mountpoint
        return {UNIFIED: self._target_dir(mountpoint, base, normalized)}

    def _prepare(self, keys: tuple[str, ...], target: Target, created: list[str]) -> None:
        """Nothing: a new v2 cgroup can hold processes as it is (no
        controller is enabled for it until :meth:`enable_controllers`)."""

    @property
    def directory(self) -> str:
        """The container's cgroup directory."""
        return self._targets[UNIFIED].directory

    def enable_controllers(self, controllers: Iterable[str]) -> set[str]:
        """Make *controllers* available in the container's cgroup.

        Walks from the mountpoint down to the container's parent cgroup,
        writing ``+cpu +memory ...`` into each level's
        ``cgroup.subtree_control`` -- only the controllers that level has
        (its ``cgroup.controllers``) and has not enabled yet, so an
        already-set-up hierarchy is not written to at all.  A controller a
        level lacks is skipped from there down.  Returns the requested
        controllers the container's cgroup ends up with.

        Call it after :meth:`create` and before :meth:`add`.  It has to
        write to ancestors this manager may not have created -- that is how
        v2 delegation works -- but it only ever adds controllers.  Raises
        ContainerError when a level refuses one it has (typically EBUSY:
        that level holds processes, see the module docstring).
        """
        wanted = set(controllers)
        target = self._targets[UNIFIED]
        levels = [target.mountpoint]
        for part in target.parts()[:-1]:
            levels.append(posixpath.join(levels[-1], part))
        for level in levels:
            available = _read_set(level + "/cgroup.controllers")
            missing = wanted - available
            if missing:
                log.debug("%s lacks controllers %s; skipped", level, sorted(missing))
            wanted &= available
            enabled = _read_set(level + "/cgroup.subtree_control")
            todo = sorted(wanted - enabled)
            if not todo:
                continue
            try:
                write_file(level + "/cgroup.subtree_control", " ".join("+" + c for c in todo))
                log.debug("enabled %s in %s", todo, level)
            except OSError:
                self._enable_one_by_one(level, todo)
        return wanted & _read_set(target.directory + "/cgroup.controllers")

    @staticmethod
    def _enable_one_by_one(level: str, todo: list[str]) -> None:
        """The combined write failed: find out which controllers the level
        refuses, and why, so the error names them."""
        failed: list[str] = []
        first: OSError | None = None
        for controller in todo:
            try:
                write_file(level + "/cgroup.subtree_control", "+" + controller)
            except OSError as exc:
                failed.append(controller)
                first = first or exc
        if first is not None:
            hint = ""
            if first.errno == errno.EBUSY:
                hint = " (it holds processes; in cgroup v2 only a cgroup without any may enable these)"
            raise ContainerError(
                f"cannot enable {' '.join(failed)} in {level}/cgroup.subtree_control: {first.strerror}{hint}"
            ) from first


def _read_set(path: str) -> set[str]:
    """The words of a cgroup list file such as ``cgroup.controllers``."""
    try:
        return set(read_text(path).split())
    except OSError as exc:
        raise ContainerError(f"cannot read {path}: {exc}") from exc
