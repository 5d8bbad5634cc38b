"""Idmapped mounts: ``mounts[].uidMappings``/``gidMappings`` (runtime-spec
1.2) and the ``idmap``/``ridmap`` options.

The kernel wants CAP_SYS_ADMIN over the filesystem's user namespace (the
host's) to idmap a mount, which the init may no longer have once it is in
the container's user namespace.  So the parent does it before the clone, as
crun and runc do: ``open_tree(OPEN_TREE_CLONE)`` makes a detached copy of the
bind source, ``mount_setattr(MOUNT_ATTR_IDMAP)`` gives it the mapping of a
user namespace made for the purpose (a child that lives only while its
namespace is opened), and the init moves the detached mount onto its target
inside the rootfs (``move_mount``, rootfs.py).

A mapping's ``containerID`` is the id on disk and ``hostID`` the id it shows
as through the mount (the same lines as the namespace's ``uid_map``).
Imported only for a config that has such a mount.
"""

from __future__ import annotations

import errno
import os

from pycontainer import syscalls
from pycontainer.errors import ConfigError, ContainerError
from pycontainer.mountopts import MOUNT_ATTR_IDMAP, parse_mount_options

OPEN_TREE_CLONE = 1
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
AT_FDCWD = -100


def wanted(mount) -> bool:
    return bool(mount.uid_mappings or mount.gid_mappings) or any(
        o in ("idmap", "ridmap") for o in mount.options
    )


def prepare(spec) -> dict[int, int]:
    """mounts index -> fd of its detached, idmapped copy of the source, for
    every mount that asks for one.  The caller closes the fds; on an error
    none is left open."""
    from pycontainer.namespaces import format_id_map

    fds: dict[int, int] = {}
    userns: dict[tuple[str, str], int] = {}
    try:
        for index, m in enumerate(spec.mounts):
            if not wanted(m):
                continue
            where = f"mounts[{index}]"
            uids, gids = _mappings(spec, m, where)
            key = (format_id_map(uids), format_id_map(gids))
            if key not in userns:
                try:
                    userns[key] = syscalls.userns_fd(*key)
                except OSError as e:
                    raise ContainerError(
                        f"{where}: making the user namespace of the idmapping: {e}"
                    ) from None
            opts = parse_mount_options(m.options, m.type)
            source = m.source or ""
            if not source.startswith("/"):
                source = os.path.join(os.fspath(spec.bundle), source)
            fds[index] = _idmapped_tree(source, userns[key], opts.recursive, opts.idmap_recursive, where)
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        raise
    finally:
        for fd in userns.values():
            os.close(fd)
    return fds


def _mappings(spec, m, where: str):
    """The mount's own mappings; with only the ``idmap``/``ridmap`` option,
    the container's user namespace mappings (as runc)."""
    if m.uid_mappings or m.gid_mappings:
        if not (m.uid_mappings and m.gid_mappings):
            missing = "gidMappings" if m.uid_mappings else "uidMappings"
            raise ConfigError(
                f"an idmapped mount needs both uidMappings and gidMappings ({missing} is missing)", where
            )
        return m.uid_mappings, m.gid_mappings
    linux = spec.linux
    if linux is None or not (linux.uid_mappings and linux.gid_mappings):
        raise ConfigError(
            "the idmap option without mappings of the mount's own needs the container's "
            "(linux.uidMappings and linux.gidMappings)",
            f"{where}.options",
        )
    return linux.uid_mappings, linux.gid_mappings


def _idmapped_tree(source: str, userns_fd: int, recursive: bool, idmap_recursive: bool, where: str) -> int:
    flags = OPEN_TREE_CLONE | os.O_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    try:
        fd = syscalls.open_tree(AT_FDCWD, source, flags)
    except OSError as e:
        raise ContainerError(f"{where}: mount source {source!r}: {e.strerror}") from None
    try:
        syscalls.mount_setattr(
            fd,
            "",
            AT_EMPTY_PATH | (AT_RECURSIVE if idmap_recursive else 0),
            MOUNT_ATTR_IDMAP,
            0,
            0,
            userns_fd,
        )
    except OSError as e:
        os.close(fd)
        if e.errno == errno.EINVAL:  # the filesystem cannot be idmapped
            raise ContainerError(
                f"{where}: the kernel cannot make an idmapped mount of {source!r}: its filesystem "
                f"({_fstype(source)}) does not support idmapped mounts"
            ) from None
        if e.errno == errno.ENOSYS:
            raise ContainerError(
                f"{where}: this kernel has no idmapped mounts (mount_setattr, 5.12+)"
            ) from None
        raise ContainerError(f"{where}: idmapping {source!r}: {e.strerror}") from None
    return fd


def _fstype(path: str) -> str:
    """The filesystem type of the mount holding ``path`` (for the error)."""
    try:
        dev = os.stat(path).st_dev
        wanted_dev = f"{os.major(dev)}:{os.minor(dev)}"
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if fields[2] == wanted_dev:
                    return fields[fields.index("-") + 1]
    except (OSError, ValueError, IndexError):
        pass
    return "unknown filesystem"
