"""The runtime's own way into procfs: every /proc file the container's init
(or an ``exec``'d process) opens, it opens here.

The container's /proc is the image's to shape.  It may be a symlink, a
directory of fake files, or a real procfs with another file bound over one of
its files.  A runtime that writes through it is redirected: the LSM label went
into a fake file (CVE-2019-16884, CVE-2023-27561), and writes meant for the
process's own attributes landed in a host sysctl such as
``kernel.core_pattern`` (CVE-2025-52881).  So no file here is reached through
a path the container can change:

* The handle is opened once per process, while /proc is still the host's:
  the init opens it first thing in rootfs.prepare, before anything of the
  container is mounted; ``exec`` before it joins the container's mount
  namespace.  Whatever is mounted later over /proc or its files is not seen
  through it, and it stays valid once the old root is detached.  (A private
  copy, ``open_tree(OPEN_TREE_CLONE)``, was measured: dissolving it at execve
  waits for an RCU grace period, 5-10 ms of every start, for no gain here.)
* It is checked: ``fstatfs`` says procfs (``PROC_SUPER_MAGIC``) and it is
  the root of one (inode 1).
* Each file below it is opened with ``openat2(RESOLVE_BENEATH |
  RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)`` (securejoin.open_beneath): no
  symlink, no ``..`` out, no mount crossed; the result is checked to be on
  procfs again.  ``self`` and ``thread-self`` are symlinks, so they are read
  through the handle and the numeric path they name is opened instead.

The handle is close-on-exec: the user's program never sees it.
"""

from __future__ import annotations

import os

from pycontainer import syscalls
from pycontainer.errors import ContainerError
from pycontainer.securejoin import open_beneath

PROC_SUPER_MAGIC = 0x9FA0
PROC_ROOT_INO = 1  # only the root of a procfs has it (include/linux/proc_ns.h)

_root: int | None = None


def root() -> int:
    """This process's procfs handle (an ``O_PATH`` directory fd), opened and
    checked on first use; the caller must not close it.  A child cloned
    later inherits it (an ``exec``'d process opens it in its helper, before
    the container's namespaces are joined)."""
    global _root
    if _root is None:
        _root = _open_root()
    return _root


def _open_root() -> int:
    fd = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _check_procfs(fd, "/proc")
        if os.fstat(fd).st_ino != PROC_ROOT_INO:
            raise ContainerError("/proc is not the root of a procfs")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_procfs(fd: int, what: str) -> None:
    if syscalls.fstatfs_type(fd) != PROC_SUPER_MAGIC:
        raise ContainerError(f"{what} is not on procfs")


def open_file(path: str, flags: int) -> int:
    """Open ``path`` (relative to procfs's root, e.g. ``sys/kernel/hostname``)
    through the handle: no symlink, no mount crossed, on procfs."""
    fd = open_beneath(root(), path, flags, same_mount=True)
    try:
        _check_procfs(fd, f"/proc/{path}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def thread_self() -> str:
    """What ``thread-self`` names in the handle's procfs: ``PID/task/TID``
    (read, not followed, so it is checked like any other path)."""
    return os.readlink("thread-self", dir_fd=root())


def open_self(path: str, flags: int) -> int:
    """Open ``path`` below this thread's directory (``attr/exec``, ``mountinfo``)."""
    return open_file(f"{thread_self()}/{path}", flags)


def exists(path: str) -> bool:
    """Whether procfs has ``path`` (below its root), such as ``kcore``."""
    try:
        os.close(open_file(path, os.O_PATH))
    except FileNotFoundError:
        return False
    return True


def read_self(path: str) -> str:
    fd = open_self(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(fd)


def write(path: str, data: str) -> None:
    """Write ``data`` to ``path`` (below procfs's root) in one write(2), as
    sysctl files want it."""
    fd = open_file(path, os.O_WRONLY)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def fd_target(fd: int) -> str:
    """The path of what ``fd`` refers to, in this process's mount namespace
    (the ``/proc/self/fd/N`` link, read through the handle)."""
    return os.readlink(f"{thread_self()}/fd/{fd}", dir_fd=root())
