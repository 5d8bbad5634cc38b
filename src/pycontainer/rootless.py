"""Containers of an unprivileged user ("rootless"): which id mappings the user
may use and how they are written, and which cgroups the user may use.

Imported only when nsinit does not run as root, so root's start path pays
nothing for it.

* **Id mappings.**  The kernel lets an unprivileged process write one line
  to a child's ``uid_map``/``gid_map``: its own id, size 1 (and for
  ``gid_map`` only after ``setgroups`` is denied).  Anything larger goes
  through the setuid helpers ``newuidmap``/``newgidmap`` (Debian's uidmap
  package), which allow the ranges ``/etc/subuid``/``/etc/subgid`` give the
  user, plus the user's own id.  The config is checked against the same
  rules before anything is made, so a mapping the user may not use fails
  with its JSON path (``linux.uidMappings[1]``) and leaves nothing behind.
* **Cgroups** are used where they are delegated to the user (writable),
  each hierarchy on its own; the others are skipped with a warning, as are
  resource limits the kernel refuses.  A container never fails for them,
  unless created with ``strict=True``: then a limit that cannot be applied
  is a ResourceError naming its JSON path.
"""

from __future__ import annotations

import os

from pycontainer.errors import ConfigError, ContainerError, ResourceError
from pycontainer.log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from pycontainer.cgroups import Manager
    from pycontainer.spec.models import Resources

log = get_logger(__name__)

SUBID_FILES = {"uid": "/etc/subuid", "gid": "/etc/subgid"}
HELPERS = {"uid": "newuidmap", "gid": "newgidmap"}
_KEYS = {"uid": "uidMappings", "gid": "gidMappings"}


def is_rootless() -> bool:
    return os.geteuid() != 0


# -- id mappings -------------------------------------------------------------------


def own_id(kind: str) -> int:
    return os.geteuid() if kind == "uid" else os.getegid()


def only_own_id(mappings, kind: str) -> bool:
    """Whether the mappings are the single line the kernel lets the user
    write without a helper: its own id, size 1."""
    return len(mappings) == 1 and mappings[0].size == 1 and mappings[0].host_id == own_id(kind)


def subid_ranges(kind: str, user: str | None = None, uid: int | None = None) -> list[tuple[int, int]]:
    """The (first, count) ranges /etc/subuid or /etc/subgid give the user
    (entries name the user by login name or by uid, as shadow's helpers
    accept both)."""
    uid = os.geteuid() if uid is None else uid
    if user is None:
        user = _user_name(uid)
    names = {str(uid)} | ({user} if user else set())
    ranges = []
    try:
        with open(SUBID_FILES[kind]) as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) != 3 or fields[0] not in names:
                    continue
                try:
                    ranges.append((int(fields[1]), int(fields[2])))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return ranges


def find_helper(kind: str) -> str | None:
    """newuidmap or newgidmap on PATH (or in /usr/bin), None if missing."""
    name = HELPERS[kind]
    for directory in os.environ.get("PATH", "/usr/bin:/bin").split(":") + ["/usr/bin"]:
        path = os.path.join(directory or ".", name)
        if os.access(path, os.X_OK):
            return path
    return None


def check_mappings(linux) -> None:
    """Refuse, before anything is made, mappings this user may not use:
    ConfigError naming ``linux.uidMappings[i]`` / ``linux.gidMappings[i]``."""
    for kind in ("uid", "gid"):
        mappings = getattr(linux, f"{kind}_mappings")
        if not mappings or only_own_id(mappings, kind):
            continue
        key, own = _KEYS[kind], own_id(kind)
        ranges = subid_ranges(kind)
        for i, m in enumerate(mappings):
            at = f"linux.{key}[{i}]"
            if m.size == 1 and m.host_id == own:
                continue
            last = m.host_id + m.size - 1
            if not any(first <= m.host_id and last < first + count for first, count in ranges):
                held = ", ".join(f"{f}-{f + c - 1}" for f, c in ranges) or "none"
                raise ConfigError(
                    f"host {kind}s {m.host_id}-{last} may not be mapped by {kind} {own}: only its own "
                    f"{kind} (size 1) and its ranges in {SUBID_FILES[kind]} ({held}) are allowed",
                    at,
                )
        if find_helper(kind) is None:
            raise ConfigError(
                f"mapping more than {kind} {own} itself needs {HELPERS[kind]} (Debian package uidmap), "
                "which is not installed",
                f"linux.{key}",
            )


def write_id_maps(pid: int, uid_mappings, gid_mappings) -> None:
    """Write the child's maps as an unprivileged user: the own-id line
    directly (setgroups denied first for gid_map, as the kernel demands),
    anything else through newuidmap/newgidmap, both helpers at once (each is
    a setuid program start, a few ms)."""
    from pycontainer import namespaces

    helpers = []
    try:
        for kind, mappings in (("uid", uid_mappings), ("gid", gid_mappings)):
            if not mappings:
                continue
            if not only_own_id(mappings, kind):
                helpers.append(_spawn_helper(kind, pid, mappings))
            elif kind == "uid":
                namespaces._write(f"/proc/{pid}/uid_map", namespaces.format_id_map(mappings))
            else:
                namespaces._write(f"/proc/{pid}/setgroups", "deny")
                namespaces._write(f"/proc/{pid}/gid_map", namespaces.format_id_map(mappings))
    finally:
        failures = [failure for failure in map(_wait_helper, helpers) if failure]
    if failures:
        raise ContainerError(failures[0])


def _spawn_helper(kind: str, pid: int, mappings) -> tuple[int, int, list[str]]:
    """Start newuidmap/newgidmap PID ID HOST SIZE...: (its pid, the read end
    of its stderr, its argv)."""
    helper = find_helper(kind) or HELPERS[kind]
    argv = [helper, str(pid)]
    for m in mappings:
        argv += [str(m.container_id), str(m.host_id), str(m.size)]
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        child = os.posix_spawn(
            helper,
            argv,
            {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDWR, 0),
                (os.POSIX_SPAWN_DUP2, 0, 1),
                (os.POSIX_SPAWN_DUP2, write_end, 2),
            ],
        )
    except OSError as e:
        os.close(read_end)
        raise ContainerError(f"{helper}: {e.strerror}") from None
    finally:
        os.close(write_end)
    return child, read_end, argv


def _wait_helper(helper: tuple[int, int, list[str]]) -> str | None:
    """Wait for a helper; its failure as a message, None if it succeeded."""
    child, read_end, argv = helper
    chunks = []
    try:
        while chunk := os.read(read_end, 4096):
            chunks.append(chunk)
    finally:
        os.close(read_end)
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return None
    detail = b"".join(chunks).decode(errors="replace").strip() or f"exit status {code}"
    return f"{' '.join(argv)}: {detail}"


def _user_name(uid: int) -> str | None:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


# -- cgroups -----------------------------------------------------------------------


def delegated_cgroups(manager):
    """Create the container's cgroup in every hierarchy the user may use
    (mkdir allowed, and the init can be moved in), skip the others with a
    warning.  Returns a manager for what is used (a NoCgroups when nothing)."""
    from pycontainer.cgroups import UNIFIED, cgroup_of

    ours = cgroup_of()
    kept: dict[str, str] = {}
    created: list[str] = []
    skipped: list[str] = []
    by_dir: dict[str, list[str]] = {}
    for key, directory in manager.paths().items():
        by_dir.setdefault(directory, []).append(key)
    for directory, keys in by_dir.items():
        part = type(manager)(manager.path, manager.layout, dict.fromkeys(keys, directory))
        try:
            part.create()
        except ContainerError as e:
            log.debug("rootless: %s", e)
            skipped.extend(keys)
            continue
        if _can_move_into(directory, manager.layout.mountpoint(keys[0]), ours.get(keys[0]), UNIFIED in keys):
            kept.update(dict.fromkeys(keys, directory))
            created.extend(part.created_dirs())
        else:
            part.destroy()
            skipped.extend(keys)
    if skipped:
        names = ", ".join(sorted(key or "unified" for key in skipped))
        log.warning("rootless: cgroups not delegated to the user are not used: %s (%s)", names, manager.path)
    if not kept:
        return NoCgroups(manager.path, manager.layout)
    used = type(manager)(manager.path, manager.layout, kept)
    used.adopt(created)
    return used


def place_in_cgroups(manager: Manager, strict: bool = False) -> Callable[[int], None]:
    """``manager.add`` for the init, where a refusal is a warning: a v1
    hierarchy takes a process only from a writer of its uid, which the init
    is not when the container's root is a subordinate id.  With ``strict``
    (the config asks for limits that must apply) a refusal is a ResourceError."""

    by_dir: dict[str, list[str]] = {}
    for key, directory in manager.paths().items():
        by_dir.setdefault(directory, []).append(key)
    parts = [type(manager)(manager.path, manager.layout, dict.fromkeys(k, d)) for d, k in by_dir.items()]

    def add(pid: int) -> None:
        for part in parts:
            try:
                part.add(pid)
            except ContainerError as e:
                if strict:
                    raise ResourceError(
                        f"linux.resources: cannot apply to the init: {e} (strict)",
                        path="linux.resources",
                    ) from e
                log.warning("rootless: %s", e)

    return add


def _can_move_into(directory: str, mountpoint: str, current: str | None, unified: bool) -> bool:
    """Writing a pid to cgroup.procs needs write access to it and, on the
    unified hierarchy, to the cgroup.procs of the common ancestor of the
    process's cgroup and the target (cgroup v2's delegation rule)."""
    if not os.access(os.path.join(directory, "cgroup.procs"), os.W_OK):
        return False
    if not unified or current is None:
        return True
    source = os.path.normpath(mountpoint + "/" + current)
    common = os.path.commonpath([source, directory])
    return os.access(os.path.join(common, "cgroup.procs"), os.W_OK)


def apply_resources(manager: Manager | NoCgroups, resources: Resources | None, strict: bool = False) -> None:
    """Resource limits where the delegated cgroups take them; a refusal is a
    warning (an unprivileged user cannot be expected to hold every
    controller), or with ``strict`` a ResourceError naming the JSON path of
    the first limit not applied."""
    from pycontainer.cgroups.resources import apply_resources as apply
    from pycontainer.cgroups.resources import wanted_paths

    if isinstance(manager, NoCgroups):
        wanted = wanted_paths(resources)
        if strict and wanted:
            raise ResourceError(
                f"{wanted[0]}: cannot be applied: no cgroup is delegated to the user (strict)",
                path=wanted[0],
            )
        if resources is not None:
            log.warning("rootless: linux.resources not applied: no cgroup is delegated to the user")
        return
    try:
        apply(manager, resources)
    except ContainerError as e:
        if strict:
            if isinstance(e, ResourceError):
                raise
            raise ResourceError(f"linux.resources: {e}", path="linux.resources") from e
        log.warning("rootless: linux.resources not applied: %s", e)


class NoCgroups:
    """The cgroup manager of a rootless container with no delegated cgroup:
    nothing to make, join or remove."""

    driver = "none"

    def __init__(self, path: str = "", layout=None) -> None:
        self.path = path
        self.layout = layout

    def create(self) -> None:
        pass

    def add(self, pid: int) -> None:
        pass

    def destroy(self) -> None:
        pass

    def paths(self) -> dict[str, str]:
        return {}

    def created_dirs(self) -> list[str]:
        return []

    def pids(self, recursive: bool = True) -> list[int]:
        return []

    def exists(self) -> bool:
        return False
