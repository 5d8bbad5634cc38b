"""What every cgroup driver does: place a container's processes in its cgroup.

A :class:`Manager` stands for one container's cgroup, which is one directory
in each hierarchy the driver uses (a single one on a pure v2 host, a dozen on
a v1 or hybrid host).  It creates those directories, moves processes into
them, lists the processes in them, and removes them again.  Resource limits
are a later layer; the only file written besides ``cgroup.procs`` is what a
v1 cpuset cgroup needs before it can hold a process at all.

Ownership is the rule that keeps us from damaging what other tools (other
runtimes, systemd, the machine's own supervisor) set up: :meth:`Manager.create`
remembers exactly which directories *it* made, and :meth:`Manager.destroy`
removes only those.  A parent directory that already existed, or a
container cgroup that the user pointed at and that already existed, is
left alone.  Because ``create`` and ``destroy`` usually run in different
runtime invocations, :meth:`Manager.created_dirs` is meant to be saved in
the container's state and handed back with :meth:`Manager.adopt`.
"""

from __future__ import annotations

import errno
import os
import posixpath
import time

from pycontainer import failpoints
from pycontainer.cgroups.detect import UNIFIED, parse_proc_cgroup, read_text
from pycontainer.errors import ConfigError, ContainerError
from pycontainer.log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import ClassVar

    from pycontainer.cgroups.detect import CgroupLayout

log = get_logger(__name__)

CONFIG_PATH = "linux.cgroupsPath"

# rmdir of a cgroup whose last process is still exiting fails with EBUSY for
# a moment.  One destroy() waits at most this long in all (not per
# hierarchy), starting with short pauses that double.
_RMDIR_PATIENCE = 1.0
_RMDIR_FIRST_DELAY = 0.01

# rmdir errors meaning "something (a process, a sub-cgroup) is still in it".
_IN_USE = (errno.EBUSY, errno.ENOTEMPTY)


def normalize_cgroups_path(path: str) -> str:
    """Check and tidy a cgroupfs-style ``linux.cgroupsPath``.

    Returns ``/a/b`` for an absolute path and ``a/b`` for a relative one,
    with empty and ``.`` components dropped and ``..`` applied.  Raises
    ConfigError (path ``linux.cgroupsPath``) for the systemd driver's
    ``slice:prefix:name`` form, for a ``..`` that would climb above the
    hierarchy root (or, for a relative path, above the cgroup it is relative
    to), and for a path naming that root itself: a container must get a
    cgroup of its own, or destroying it and later limits would hit the host.
    runc silently clamps ``..`` instead; refusing is safer and clearer.
    """
    if not isinstance(path, str) or not path:
        raise ConfigError("must be a non-empty string", path=CONFIG_PATH)
    if "\0" in path:
        raise ConfigError("must not contain a NUL byte", path=CONFIG_PATH)
    absolute = path.startswith("/")
    if not absolute and path.count(":") == 2:
        raise ConfigError(
            f"{path!r} is in the systemd driver's 'slice:prefix:name' form; only the cgroupfs "
            "driver is supported, so give a cgroup path such as '/pycontainer/<id>'",
            path=CONFIG_PATH,
        )
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                base = "the hierarchy root" if absolute else "the runtime's own cgroup"
                raise ConfigError(f"{path!r} climbs above {base} with '..'", path=CONFIG_PATH)
            parts.pop()
            continue
        parts.append(part)
    if not parts:
        raise ConfigError(
            f"{path!r} names no cgroup below {'the root' if absolute else 'our own cgroup'}; "
            "the container needs a cgroup of its own",
            path=CONFIG_PATH,
        )
    joined = "/".join(parts)
    return "/" + joined if absolute else joined


def cgroup_of(pid: int | str = "self") -> dict[str, str]:
    """The cgroups of process *pid*: hierarchy key -> path within the
    hierarchy, from ``/proc/PID/cgroup`` (``""`` is the unified hierarchy)."""
    try:
        text = read_text(f"/proc/{pid}/cgroup")
    except OSError as exc:
        raise ContainerError(f"cannot read the cgroups of process {pid}: {exc}") from exc
    return parse_proc_cgroup(text)


def _read_pids(directory: str) -> set[int]:
    """The pids in *directory*'s ``cgroup.procs``; none if it is gone."""
    try:
        text = read_text(directory + "/cgroup.procs")
    except (FileNotFoundError, NotADirectoryError):
        return set()
    except OSError as exc:
        raise ContainerError(f"cannot read {directory}/cgroup.procs: {exc}") from exc
    return {int(tok) for tok in text.split()}


def write_file(path: str, text: str) -> None:
    """Write *text* to a cgroup control file in one ``write(2)``, so the
    kernel's verdict arrives as an OSError here, not at some later flush."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _depth(directory: str) -> int:
    return directory.count("/")


class Target:
    """The container's directory in one hierarchy, and that hierarchy's
    mountpoint (nothing at or above the mountpoint is ever created or
    removed).  Both are normalized absolute paths."""

    __slots__ = ("directory", "mountpoint")

    def __init__(self, directory: str, mountpoint: str) -> None:
        self.directory = directory
        self.mountpoint = mountpoint

    def __repr__(self) -> str:
        return f"Target(directory={self.directory!r}, mountpoint={self.mountpoint!r})"

    def parts(self) -> list[str]:
        """The components of :attr:`directory` below :attr:`mountpoint`."""
        prefix = self.mountpoint.rstrip("/") + "/"
        if not self.directory.startswith(prefix) or self.directory == prefix:
            raise ContainerError(f"cgroup {self.directory} is not below its mountpoint {self.mountpoint}")
        return self.directory[len(prefix) :].split("/")


class Manager:
    """One container's cgroup, across every hierarchy the driver uses.

    Subclasses decide which hierarchies and where (:meth:`_resolve`,
    :meth:`_prepare`); the directory work is common.  Directories are
    strings.  Not thread-safe: one manager per container per runtime
    invocation.
    """

    #: "v1" (v1 and hybrid hosts) or "v2"; for the state file and logs.
    driver: ClassVar[str]

    def __init__(
        self, path: str, layout: CgroupLayout, directories: Mapping[str, str | os.PathLike[str]] | None = None
    ) -> None:
        """*path* is the cgroupsPath (absolute: below each hierarchy's root;
        relative: below the runtime's own cgroup, see the driver).
        *directories* (hierarchy key -> directory, from :meth:`paths` of the
        manager that created the cgroup) skips the resolution: a later
        runtime invocation may sit in another cgroup, so a relative path
        would resolve elsewhere."""
        self.path = path
        self.layout = layout
        normalized = normalize_cgroups_path(path)
        if directories is None:
            targets = self._resolve(normalized, layout)
        else:
            targets = {
                k: Target(posixpath.normpath(os.fspath(d)), layout.mountpoint(k))
                for k, d in directories.items()
            }
        if not targets:
            raise ContainerError("no cgroup hierarchy to place the container in")
        self._targets: dict[str, Target] = targets
        # Each distinct directory once, with all the hierarchy keys it serves
        # (co-mounted controllers share one directory).
        unique: dict[str, tuple[list[str], Target]] = {}
        for key, target in targets.items():
            unique.setdefault(target.directory, ([], target))[0].append(key)
        self._dirs = {d: (tuple(keys), target) for d, (keys, target) in unique.items()}
        self._created: list[str] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    # ------------------------------------------------------------ driver part
    def _resolve(self, normalized: str, layout: CgroupLayout) -> dict[str, Target]:
        """Hierarchy key -> where this container's cgroup goes, for every
        hierarchy the driver uses; *normalized* comes from
        :func:`normalize_cgroups_path`."""
        raise NotImplementedError

    def _prepare(self, keys: tuple[str, ...], target: Target, created: list[str]) -> None:
        """Make the directories just created for *target* (top-down in
        *created*, never empty; *keys* are the hierarchy keys it serves)
        able to hold processes."""
        raise NotImplementedError

    def _check_join(self, keys: tuple[str, ...], target: Target) -> None:
        """Explain a move the kernel refused (EBUSY): the unified hierarchy's
        "no internal processes" rule, under which a cgroup that hands
        controllers down to children (non-empty ``cgroup.subtree_control``)
        may not hold processes itself.  Raises ContainerError if that is
        the reason; returns otherwise."""
        if UNIFIED not in keys:
            return
        try:
            enabled = read_text(target.directory + "/cgroup.subtree_control").split()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ContainerError(f"cannot read {target.directory}/cgroup.subtree_control: {exc}") from exc
        if enabled:
            raise ContainerError(
                f"cannot put processes in {target.directory}: it enables controllers for its "
                f"children ({' '.join(enabled)}), and cgroup v2 allows no processes in such a cgroup"
            )

    # ------------------------------------------------------------ helpers
    def _unique(self) -> dict[str, tuple[tuple[str, ...], Target]]:
        """Each distinct directory once, with all the hierarchy keys it
        serves (co-mounted controllers share one directory)."""
        return self._dirs

    @staticmethod
    def _target_dir(mountpoint: str, base: str, normalized: str) -> Target:
        """Join *normalized* (already free of ``..``) below *base*."""
        return Target(posixpath.join(base, normalized.lstrip("/")), mountpoint)

    def _mkdirs(self, target: Target) -> list[str]:
        """``mkdir -p`` from the mountpoint down to the target, returning the
        directories made here, top-down.

        The usual case -- the parent exists -- costs one mkdir.  Otherwise
        the walk goes top-down from the mountpoint; a concurrent destroy of
        another container may remove a shared parent between our steps
        (ENOENT): start the walk again a few times."""
        directory = target.directory
        try:
            os.mkdir(directory, 0o755)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise ContainerError(f"{directory} exists and is not a cgroup directory") from None
            return []
        except FileNotFoundError:
            pass  # a parent is missing
        else:
            log.debug("created cgroup %s", directory)
            return [directory]
        mountpoint = target.mountpoint
        if not os.path.isdir(mountpoint):
            raise ContainerError(f"cgroup mountpoint {mountpoint} does not exist")
        parts = target.parts()
        made: list[str] = []
        for attempt in range(5):
            current = mountpoint
            try:
                for part in parts:
                    current = posixpath.join(current, part)
                    try:
                        os.mkdir(current, 0o755)
                    except FileExistsError:
                        if current == directory and not os.path.isdir(current):
                            raise ContainerError(f"{current} exists and is not a cgroup directory") from None
                        continue
                    made.append(current)
                    log.debug("created cgroup %s", current)
                return list(dict.fromkeys(made))  # a retry may have made one twice
            except FileNotFoundError:
                log.debug("parent of %s vanished while creating it (attempt %d)", current, attempt + 1)
                continue
            except NotADirectoryError:
                parent = posixpath.dirname(current)
                raise ContainerError(f"{parent} exists and is not a cgroup directory") from None
        raise ContainerError(f"cannot create cgroup {directory}: its parents keep disappearing")

    # ------------------------------------------------------------ public API
    def paths(self) -> dict[str, str]:
        """Hierarchy key -> the container's cgroup directory there: each
        controller (``cpu`` and ``cpuacct`` may share a directory), named
        hierarchies as ``name=X``, the unified hierarchy as ``""``."""
        return {key: target.directory for key, target in self._targets.items()}

    def created_dirs(self) -> list[str]:
        """The directories this manager created and has not removed yet,
        in creation order; save them with the container's state."""
        return list(self._created)

    def adopt(self, dirs: Iterable[str | os.PathLike[str]]) -> None:
        """Take over the record of directories an earlier :meth:`create`
        made (read back from the container's state), so :meth:`destroy`
        removes them.  Each must be one of this container's directories or
        a parent of one below the mountpoint: a tampered or stale state file
        must not make us remove someone else's cgroup."""
        allowed: set[str] = set()
        for target in self._targets.values():
            allowed.add(target.directory)
            below = target.mountpoint.rstrip("/") + "/"
            parent = posixpath.dirname(target.directory)
            while parent != target.mountpoint and parent.startswith(below):
                allowed.add(parent)
                parent = posixpath.dirname(parent)
        adopted: list[str] = []
        for item in dirs:
            path = posixpath.normpath(os.fspath(item))
            if path not in allowed:
                raise ContainerError(f"{path} is not part of cgroup {self.path!r}; refusing to adopt it")
            if path not in adopted and path not in self._created:
                adopted.append(path)
        self._created.extend(adopted)

    def create(self) -> None:
        """Create the container's directory in every hierarchy (``mkdir -p``),
        remembering which directories were made here.  If any hierarchy
        fails, or the call is cut short by any exception (a KeyboardInterrupt
        too), what this call made is removed again before raising."""
        made_now: list[str] = []
        try:
            for keys, target in self._dirs.values():
                made = self._mkdirs(target)
                if made:
                    made_now.extend(made)
                    self._prepare(keys, target, made)
                failpoints.reached("create.cgroup-dir-made")
        except BaseException as exc:
            for directory in reversed(made_now):
                try:
                    os.rmdir(directory)
                except OSError as cleanup_exc:
                    log.debug("rollback: cannot remove %s: %s", directory, cleanup_exc)
                    self._created.append(directory)
            if isinstance(exc, OSError):
                raise ContainerError(f"cannot create cgroup {self.path!r}: {exc}") from exc
            raise
        self._created.extend(d for d in made_now if d not in self._created)

    def add(self, pid: int) -> None:
        """Move process *pid* (its whole thread group) into the container's
        cgroup in every hierarchy, by writing it to ``cgroup.procs``."""
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise ValueError(f"not a pid: {pid!r}")
        text = str(pid)
        for directory, (keys, target) in self._dirs.items():
            try:
                write_file(directory + "/cgroup.procs", text)
            except OSError as exc:
                hint = ""
                if exc.errno == errno.ESRCH:
                    hint = " (the process is gone)"
                elif exc.errno == errno.ENOENT:
                    hint = " (the cgroup does not exist: create() first)"
                elif exc.errno == errno.ENOSPC and "cpuset" in keys:
                    hint = " (the cpuset cgroup has no cpus or mems)"
                elif exc.errno in (errno.EBUSY, errno.EOPNOTSUPP):
                    self._check_join(keys, target)
                    hint = " (cgroup v2 refuses processes in a cgroup with child controllers or threads)"
                raise ContainerError(
                    f"cannot move process {pid} into {directory}: {exc.strerror}{hint}"
                ) from exc
            log.debug("moved pid %d into %s", pid, directory)

    def pids(self, recursive: bool = True) -> list[int]:
        """The processes in the container's cgroup, sorted: the union over
        every hierarchy (one is normally enough, but a process moved by
        someone else in one hierarchy only still belongs to us).  With
        *recursive*, processes in sub-cgroups the container made count too,
        which is what killing or listing "all processes" needs."""
        found: set[int] = set()
        for directory in self._dirs:
            found |= _read_pids(directory)
            if recursive:
                for sub, _dirnames, _files in os.walk(directory):
                    if sub != directory:
                        found |= _read_pids(sub)
        return sorted(found)

    def exists(self) -> bool:
        """Whether any of the container's cgroup directories exists (after a
        complete destroy, none does)."""
        return any(os.path.isdir(directory) for directory in self._dirs)

    def destroy(self) -> None:
        """Remove the directories this manager created, deepest first.

        The container's own directory goes with any sub-cgroups the
        container made inside it; if processes are still there, rmdir is
        retried for up to a second in all (an exiting process lingers briefly),
        then ContainerError names them.  A created *parent* that now holds
        another container's cgroup is kept (EBUSY), without error.  Missing
        directories are fine, so calling destroy again is harmless; whatever
        could not be removed stays on record for the next attempt.
        """
        if not self._created:
            return
        leaves = self._dirs
        deadline = time.monotonic() + _RMDIR_PATIENCE
        failures: list[str] = []
        remaining: list[str] = []
        for directory in sorted(self._created, key=_depth, reverse=True):
            try:
                if directory in leaves:
                    self._remove_tree(directory, deadline)
                elif self._remove_parent(directory):
                    remaining.append(directory)
            except ContainerError as exc:
                failures.append(str(exc))
                remaining.append(directory)
        self._created = [d for d in self._created if d in remaining]
        if failures:
            raise ContainerError(f"cannot remove cgroup {self.path!r}: " + "; ".join(failures))

    @staticmethod
    def _remove_parent(directory: str) -> bool:
        """rmdir a parent we created, unless someone else's cgroup now lives
        in it; returns whether it is still there."""
        try:
            os.rmdir(directory)
            log.debug("removed cgroup %s", directory)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as exc:
            if exc.errno in _IN_USE:
                log.debug("keeping %s: still in use (%s)", directory, exc.strerror)
                return True
            raise ContainerError(f"cannot remove {directory}: {exc.strerror}") from exc
        return False

    @staticmethod
    def _remove_tree(directory: str, deadline: float) -> None:
        """rmdir *directory* and its sub-cgroups bottom-up, retrying on EBUSY
        (processes still exiting) until the monotonic *deadline*."""
        try:
            os.rmdir(directory)  # the usual case: empty, one syscall
            log.debug("removed cgroup %s", directory)
            return
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            if exc.errno not in _IN_USE:
                raise ContainerError(f"cannot remove {directory}: {exc.strerror}") from exc
        subdirs = [root for root, _d, _f in os.walk(directory, topdown=False)]
        for sub in subdirs:  # bottom-up; the last one is *directory* itself
            delay = _RMDIR_FIRST_DELAY
            while True:
                try:
                    os.rmdir(sub)
                    log.debug("removed cgroup %s", sub)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    left = deadline - time.monotonic()
                    if exc.errno not in _IN_USE or left <= 0:
                        pids = sorted(_read_pids(sub)) if os.path.isdir(sub) else []
                        detail = f"processes {pids} are still in it" if pids else exc.strerror
                        raise ContainerError(f"cannot remove {sub}: {detail}") from exc
                    time.sleep(min(delay, left))
                    delay *= 2
