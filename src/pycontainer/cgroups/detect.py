"""Find out how cgroups are mounted on this host, once.

A Linux host mounts cgroups in one of three layouts, and the runtime has to
drive each differently:

``v1``
    One ``cgroup`` filesystem per hierarchy, usually
    ``/sys/fs/cgroup/<controllers>``; a hierarchy can carry several
    controllers (``cpu,cpuacct``) or none at all (a *named* hierarchy such as
    ``name=systemd``, which systemd uses only to track processes).
``v2``
    One ``cgroup2`` filesystem (the *unified* hierarchy), usually at
    ``/sys/fs/cgroup``, holding every controller.
``hybrid``
    Both: v1 hierarchies for most controllers plus a ``cgroup2`` mount
    (``/sys/fs/cgroup/unified``) that holds whatever controllers v1 did not
    claim -- often none or a few.

The layout is read from ``/proc/self/mountinfo`` (the filesystem type is
enough to tell ``cgroup`` from ``cgroup2``; Python has no ``statfs``) and the
controllers of the unified hierarchy from its ``cgroup.controllers``.  The
calling process's own cgroup in each hierarchy comes from
``/proc/self/cgroup``: a relative ``cgroupsPath`` is resolved against it.

Paths in ``/proc/self/cgroup`` are positions *within a hierarchy*, while a
mount may expose only a subtree of it: field 4 of a mountinfo line is the
mount's root within the hierarchy, e.g. ``/docker/abc`` when a container got
its host's cgroup bind-mounted.  :meth:`CgroupLayout.own_dir` does that
translation.

The parsing functions take text and touch nothing, so the unit tests can feed
them samples from hosts we do not have; :func:`detect` is the only function
that reads the live files, and it caches its answer because the layout of a
running host does not change under us.
"""

from __future__ import annotations

import os
import posixpath

from pycontainer.errors import ContainerError
from pycontainer.log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Literal

    Mode = Literal["v1", "v2", "hybrid"]

log = get_logger(__name__)

#: Key of the unified (cgroup2) hierarchy in :attr:`CgroupLayout.own`,
#: :attr:`CgroupLayout.roots` and in the managers' ``paths()``: the
#: controller list of its ``/proc/PID/cgroup`` line (``0::/path``) is empty,
#: and runc uses the same empty key.
UNIFIED = ""

#: Where systemd (and every distribution) mounts cgroups; mounts found
#: elsewhere (a container's rootfs being set up, a bind mount) lose to these.
CANONICAL_ROOT = "/sys/fs/cgroup"

# Superblock options of a cgroup v1 mount that are not controllers
# (see cgroup1_show_options in the kernel).  ``name=`` and ``release_agent=``
# carry a value and are handled separately.
_V1_NON_CONTROLLER_OPTIONS = frozenset(
    {"rw", "ro", "noprefix", "clone_children", "xattr", "cpuset_v2_mode", "favordynmods"}
)


def read_text(path: str) -> str:
    """The content of a (proc or cgroup) file, read with plain syscalls: no
    buffered text stream for a file read once.  Bytes that are not UTF-8 (a
    mountpoint may hold any) decode as with :func:`os.fsdecode`."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 65536)
        if data:  # seq_file hands out a page or so per read: go on to EOF
            chunks = [data]
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            data = b"".join(chunks)
    finally:
        os.close(fd)
    return data.decode("utf-8", "surrogateescape")


class CgroupMount:
    """One ``cgroup`` or ``cgroup2`` line of ``/proc/self/mountinfo``
    (read-only, compares by value).

    ``mountpoint`` is where it is mounted; ``root`` the mount's root within
    its hierarchy (mountinfo field 4): ``/`` normally, a sub-cgroup when only
    part of the hierarchy is bind-mounted; ``fstype`` is ``cgroup`` (v1) or
    ``cgroup2``; ``keys`` the v1 hierarchy's keys, its controllers and/or
    ``name=X`` (empty for cgroup2).
    """

    __slots__ = ("mountpoint", "root", "fstype", "keys")

    mountpoint: str
    root: str
    fstype: str
    keys: tuple[str, ...]

    def __init__(self, mountpoint: str, root: str, fstype: str, keys: tuple[str, ...]) -> None:
        _set = object.__setattr__
        _set(self, "mountpoint", mountpoint)
        _set(self, "root", root)
        _set(self, "fstype", fstype)
        _set(self, "keys", keys)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"CgroupMount is read-only (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"CgroupMount is read-only (cannot delete {name!r})")

    def _fields(self) -> tuple[str, str, str, tuple[str, ...]]:
        return (self.mountpoint, self.root, self.fstype, self.keys)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CgroupMount):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> tuple:  # copy and pickle: rebuild through __init__
        return (CgroupMount, self._fields())

    def __repr__(self) -> str:
        return "CgroupMount(mountpoint={!r}, root={!r}, fstype={!r}, keys={!r})".format(*self._fields())


def _unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` for a space, etc.)."""
    if "\\" not in field:
        return field
    out: list[str] = []
    i = 0
    while i < len(field):
        chunk = field[i : i + 4]
        if len(chunk) == 4 and chunk[0] == "\\" and all(c in "01234567" for c in chunk[1:]):
            out.append(chr(int(chunk[1:], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def v1_keys(super_options: str) -> tuple[str, ...]:
    """The hierarchy keys a cgroup v1 mount's superblock options name.

    ``"rw,cpu,cpuacct"`` gives ``("cpu", "cpuacct")``;
    ``"rw,xattr,name=systemd"`` gives ``("name=systemd",)``.
    """
    keys: list[str] = []
    for opt in super_options.split(","):
        if not opt or opt in _V1_NON_CONTROLLER_OPTIONS:
            continue
        if "=" in opt:
            if opt.startswith("name="):
                keys.append(opt)
            continue  # release_agent=... and any future key=value option
        keys.append(opt)
    return tuple(keys)


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts in *text* (``/proc/PID/mountinfo``), in order.

    A line reads ``ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] -
    FSTYPE SOURCE SUPEROPTS``; the optional fields end at the lone ``-``.
    Malformed lines are skipped: mountinfo comes from the kernel, and one
    odd line must not stop the runtime.
    """
    mounts: list[CgroupMount] = []
    for line in text.splitlines():
        # Fields never hold a raw space (mountinfo escapes it), so this
        # cheaply skips every line whose filesystem type is not cgroup*.
        if " - cgroup" not in line:
            continue
        fields = line.split()
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 3:
            continue
        fstype = fields[sep + 1]
        if fstype != "cgroup" and fstype != "cgroup2":
            continue
        root = _unescape(fields[3])
        mountpoint = _unescape(fields[4])
        if fstype == "cgroup2":
            mounts.append(CgroupMount(mountpoint, root, fstype, ()))
            continue
        keys = v1_keys(fields[sep + 3]) if len(fields) > sep + 3 else ()
        if not keys:
            log.debug("cgroup v1 mount %s names no controller; ignored", mountpoint)
            continue
        mounts.append(CgroupMount(mountpoint, root, fstype, keys))
    return mounts


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """Map each hierarchy key of *text* (``/proc/PID/cgroup``) to the cgroup path.

    Lines read ``HIERARCHY-ID:CONTROLLERS:PATH``.  Every controller of a
    co-mounted hierarchy gets its own key (``cpu`` and ``cpuacct`` both map
    to the same path); named hierarchies keep their ``name=X`` key; the
    unified hierarchy's ``0::PATH`` line gets key :data:`UNIFIED` (``""``).
    """
    result: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(":", 2)
        if len(parts) != 3:
            log.debug("odd /proc/PID/cgroup line %r ignored", line)
            continue
        _, controllers, path = parts
        if not controllers:
            result[UNIFIED] = path
            continue
        for key in controllers.split(","):
            result[key] = path
    return result


def _rank(mount: CgroupMount, order: int) -> tuple[int, int, int, int]:
    """Sort key choosing among several mounts of one hierarchy: the mount
    under /sys/fs/cgroup first (another one may be a container's rootfs being
    set up), then one showing the whole hierarchy, then the earliest."""
    mp = mount.mountpoint
    canonical = mp == CANONICAL_ROOT or mp.startswith(CANONICAL_ROOT + "/")
    # For cgroup2 prefer /sys/fs/cgroup itself, then /sys/fs/cgroup/unified.
    exact = 0 if mp == CANONICAL_ROOT or mp == CANONICAL_ROOT + "/unified" else 1
    return (0 if canonical else 1, exact, 0 if mount.root == "/" else 1, order)


def within(root: str, cgroup: str) -> str | None:
    """*cgroup* relative to *root* (both positions in one hierarchy), ``""``
    when equal, or None when *cgroup* is not inside *root*."""
    root = posixpath.normpath("/" + root)
    cgroup = posixpath.normpath("/" + cgroup)
    # normpath keeps a leading "//"; fold it.
    root = "/" + root.lstrip("/")
    cgroup = "/" + cgroup.lstrip("/")
    if cgroup == root:
        return ""
    prefix = root if root.endswith("/") else root + "/"
    if cgroup.startswith(prefix):
        return cgroup[len(prefix) :]
    return None


class CgroupLayout:
    """How cgroups are mounted here.  Read-only (:func:`detect` hands the
    same cached instance to every caller); compares by value.

    ``mode``
        ``"v1"``, ``"v2"`` or ``"hybrid"``.
    ``v1``
        v1 hierarchy key (controller, or ``name=X`` for a named hierarchy)
        -> mountpoint; co-mounted controllers map to the same mountpoint.
    ``unified``
        The unified (cgroup2) mountpoint, or None on a pure v1 host.
    ``unified_controllers``
        Controllers the unified hierarchy offers (its ``cgroup.controllers``).
    ``roots``
        Key (as in ``v1``, or :data:`UNIFIED`) -> the mount's root within the
        hierarchy (mountinfo field 4).
    ``own``
        Key -> the calling process's cgroup in that hierarchy, as
        ``/proc/self/cgroup`` shows it (a position within the hierarchy).

    Paths are strings.
    """

    __slots__ = ("mode", "v1", "unified", "unified_controllers", "roots", "own")

    mode: Mode
    v1: dict[str, str]
    unified: str | None
    unified_controllers: frozenset[str]
    roots: dict[str, str]
    own: dict[str, str]

    def __init__(
        self,
        mode: Mode,
        v1: dict[str, str],
        unified: str | None,
        unified_controllers: frozenset[str],
        roots: dict[str, str],
        own: dict[str, str],
    ) -> None:
        _set = object.__setattr__
        _set(self, "mode", mode)
        _set(self, "v1", v1)
        _set(self, "unified", unified)
        _set(self, "unified_controllers", unified_controllers)
        _set(self, "roots", roots)
        _set(self, "own", own)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"CgroupLayout is read-only (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"CgroupLayout is read-only (cannot delete {name!r})")

    def _fields(self) -> tuple:
        return (self.mode, self.v1, self.unified, self.unified_controllers, self.roots, self.own)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CgroupLayout):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # holds dicts

    def __reduce__(self) -> tuple:  # copy and pickle: rebuild through __init__
        return (CgroupLayout, self._fields())

    def __repr__(self) -> str:
        names = ("mode", "v1", "unified", "unified_controllers", "roots", "own")
        inner = ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True))
        return f"CgroupLayout({inner})"

    def hierarchies(self) -> dict[str, tuple[str, ...]]:
        """Each distinct v1 mountpoint -> the keys it carries (one entry for
        ``cpu,cpuacct``)."""
        result: dict[str, list[str]] = {}
        for key, mountpoint in self.v1.items():
            result.setdefault(mountpoint, []).append(key)
        return {mp: tuple(keys) for mp, keys in result.items()}

    def mountpoint(self, key: str) -> str:
        """The mountpoint of the hierarchy *key* (:data:`UNIFIED` for cgroup2)."""
        if key == UNIFIED:
            if self.unified is None:
                raise ContainerError("no cgroup2 (unified) hierarchy is mounted")
            return self.unified
        try:
            return self.v1[key]
        except KeyError:
            raise ContainerError(f"cgroup hierarchy {key!r} is not mounted") from None

    def own_dir(self, key: str) -> str:
        """The directory of the calling process's own cgroup in hierarchy *key*.

        ``/proc/self/cgroup`` gives a position within the hierarchy; the
        mount may expose only the subtree at its root (mountinfo field 4), so
        the position is taken relative to that root.  When our cgroup lies
        outside what the mount shows there is no directory for it, and a
        relative cgroupsPath cannot be honoured: that is an error rather
        than a silent fallback to some other place.
        """
        mountpoint = self.mountpoint(key)
        own = self.own.get(key)
        if own is None:
            raise ContainerError(f"/proc/self/cgroup has no entry for cgroup hierarchy {key or 'unified'!r}")
        root = self.roots.get(key, "/")
        rel = within(root, own)
        if rel is None:
            raise ContainerError(
                f"our own cgroup {own!r} in hierarchy {key or 'unified'!r} is outside the part "
                f"{root!r} mounted at {mountpoint}; use an absolute linux.cgroupsPath"
            )
        return posixpath.join(mountpoint, rel) if rel else mountpoint


def build_layout(
    mountinfo: str,
    proc_cgroup: str,
    read_controllers: Callable[[str], str] | None = None,
) -> CgroupLayout:
    """Work out the layout from the text of ``/proc/self/mountinfo`` and
    ``/proc/self/cgroup``.

    *read_controllers* is given the chosen cgroup2 mountpoint and returns
    the text of its ``cgroup.controllers``; leaving it out means "none"
    (handy in tests).  The mode is ``v2`` when no v1 hierarchy carries a real
    controller, even if a named v1 hierarchy such as ``name=systemd`` is
    mounted for the sake of old containers: like runc, we then drive the
    unified hierarchy alone.
    """
    mounts = parse_mountinfo(mountinfo)
    own = parse_proc_cgroup(proc_cgroup)

    best_v1: dict[frozenset[str], tuple[tuple[int, int, int, int], CgroupMount]] = {}
    best_v2: tuple[tuple[int, int, int, int], CgroupMount] | None = None
    for order, mount in enumerate(mounts):
        rank = _rank(mount, order)
        if mount.fstype == "cgroup2":
            if best_v2 is None or rank < best_v2[0]:
                best_v2 = (rank, mount)
            continue
        ident = frozenset(mount.keys)
        if ident not in best_v1 or rank < best_v1[ident][0]:
            best_v1[ident] = (rank, mount)

    v1: dict[str, str] = {}
    roots: dict[str, str] = {}
    for _, mount in sorted(best_v1.values(), key=lambda item: item[0]):
        for key in mount.keys:
            if key in v1:  # a controller lives in one hierarchy only
                continue
            v1[key] = mount.mountpoint
            roots[key] = mount.root

    unified: str | None = None
    controllers: frozenset[str] = frozenset()
    if best_v2 is not None:
        unified = best_v2[1].mountpoint
        roots[UNIFIED] = best_v2[1].root
        if read_controllers is not None:
            controllers = frozenset(read_controllers(unified).split())

    has_v1_controllers = any(not key.startswith("name=") for key in v1)
    mode: Mode
    if unified is not None:
        mode = "hybrid" if has_v1_controllers else "v2"
    elif v1:
        mode = "v1"
    else:
        raise ContainerError("no cgroup filesystem is mounted (none in /proc/self/mountinfo)")
    log.debug("cgroup layout: %s, v1=%s unified=%s (%s)", mode, v1, unified, controllers)
    return CgroupLayout(mode, v1, unified, controllers, roots, own)


def _read_controllers(mountpoint: str) -> str:
    """The unified hierarchy's ``cgroup.controllers``, or "" if unreadable
    (an empty cgroup2 mount still works for placing processes)."""
    try:
        return read_text(mountpoint + "/cgroup.controllers")
    except OSError as exc:
        log.debug("cannot read %s/cgroup.controllers: %s", mountpoint, exc)
        return ""


_detected: CgroupLayout | None = None


def detect() -> CgroupLayout:
    """The layout of this host, read once per process and cached
    (``detect.cache_clear()`` forgets it).  Raises ContainerError if no
    cgroup filesystem is mounted."""
    global _detected
    if _detected is None:
        try:
            mountinfo = read_text("/proc/self/mountinfo")
            proc_cgroup = read_text("/proc/self/cgroup")
        except OSError as exc:
            raise ContainerError(f"cannot read the cgroup layout from /proc: {exc}") from exc
        _detected = build_layout(mountinfo, proc_cgroup, _read_controllers)
    return _detected


def _forget() -> None:
    """Drop the cached layout: the next :func:`detect` reads the host again."""
    global _detected
    _detected = None


detect.cache_clear = _forget  # type: ignore[attr-defined]  # as functools.cache offered
