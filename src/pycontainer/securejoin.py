"""Resolve paths inside a container root without ever leaving it.

The container's rootfs is controlled by whoever built the image, and mount
destinations such as ``/dev/shm`` or ``/etc/resolv.conf`` are looked up inside
it.  A naive ``os.path.join(rootfs, dest)`` lets the image redirect the lookup
with a symlink (``/dev -> /``, ``etc -> ../../../etc``) so the runtime mounts
over or creates files on the *host*; swapping a component for a symlink between
the check and the mount is CVE-2021-30465.  This module resolves such paths the
way the kernel would inside a ``chroot(root)``: symlinks are followed, but an
absolute target restarts at ``root`` and ``..`` never climbs above it.

Two flavours exist, modelled on Go's ``github.com/cyphar/filepath-securejoin``:

* :func:`secure_join` works on path strings.  Its answer is only as good as
  the moment it was computed: anyone who can still write inside the root can
  swap a component afterwards.  Use it for messages, for paths on the host that
  nobody else controls, and where a path string is unavoidable.
* :func:`open_in_root` walks the tree with ``O_PATH`` file descriptors, one
  component at a time, never letting the kernel follow a symlink on its own.
  The fd it returns is pinned to the object it resolved, and
  :func:`fd_path` turns it into a path that ``mount(2)`` follows to exactly
  that object.  This is what the container init uses to set up mounts.

Only the standard library is used so the module is cheap to import in the
container init.
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

__all__ = ["MAX_SYMLINKS", "fd_path", "open_beneath", "open_in_root", "secure_join"]

#: How many symlinks one resolution may follow before giving up with ELOOP.
#: Linux's own limit (``MAXSYMLINKS`` in fs/namei.c) so that a path which
#: works in the container also works here and a loop fails the same way.
MAX_SYMLINKS = 40

_O_PATH_NOFOLLOW = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC

#: Mode of intermediate directories :func:`open_in_root` creates; only the
#: final component gets the caller's ``mode`` (a file mode such as 0o644 on a
#: parent directory would make everything below it unreachable).
_INTERMEDIATE_DIR_MODE = 0o755


def _eloop(root: str | os.PathLike[str] | int, unsafe: str) -> OSError:
    where = f"/proc/self/fd/{root}" if isinstance(root, int) else os.fspath(root)
    return OSError(errno.ELOOP, os.strerror(errno.ELOOP), f"{where}/{unsafe.lstrip('/')}")


def secure_join(root: str | os.PathLike[str], unsafe: str) -> str:
    """Join ``unsafe`` onto ``root`` as if ``root`` were ``/``.

    ``unsafe`` may be absolute or relative; either way it is taken relative to
    ``root``.  Each component is looked up on disk (``lstat``): symlinks are
    expanded in place, absolute targets restart at ``root``, ``..`` never goes
    above ``root``.  Components that do not exist (or sit below a non-directory)
    are appended as they are, so the result can name something yet to be
    created.  The result (a string) is absolute, lexically clean and lies
    under ``root``.

    ``root`` itself must be trusted: it is made absolute but its own symlinks
    are not resolved, and it must not contain ``..`` (which would make "under
    root" ambiguous).

    Raises ``OSError(ELOOP)`` after :data:`MAX_SYMLINKS` symlinks, and any other
    ``lstat``/``readlink`` error than "does not exist".  Racy by nature: see
    :func:`open_in_root` for the fd-based, race-free variant.
    """
    root_str = os.fspath(root)
    if ".." in root_str.split("/"):
        raise ValueError(f"root path {root_str!r} must not contain '..' components")
    root_str = os.path.normpath(os.path.abspath(root_str))

    current: list[str] = []  # resolved components below root; never symlinks
    remaining = _components(unsafe)
    links = 0
    while remaining:
        part = remaining.pop()
        if part == "..":
            if current:
                current.pop()
            continue
        candidate = os.path.join(root_str, *current, part)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            # Missing (or below a non-directory): nothing on disk can
            # redirect us, so take the component literally.
            current.append(part)
            continue
        if not stat.S_ISLNK(st.st_mode):
            current.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise _eloop(root_str, unsafe)
        target = os.readlink(candidate)
        if target.startswith("/"):
            current.clear()
        remaining += _components(target)
    return os.path.join(root_str, *current)


def _close_all(fds: list[int]) -> None:
    while fds:
        os.close(fds.pop())


def _components(path: str) -> list[str]:
    """The components of *path* to walk, *last first* (the walk pops from
    the end), without the no-op ones (``""`` and ``"."``)."""
    parts = [p for p in path.split("/") if p and p != "."]
    parts.reverse()
    return parts


def _create(dir_fd: int, name: str, kind: Literal["dir", "file"], mode: int) -> None:
    """Create ``name`` in ``dir_fd`` without following any symlink.

    ``mkdir`` never follows a trailing symlink, and ``O_CREAT|O_EXCL`` fails
    on one, so an attacker who plants a symlink here gets EEXIST rather than a
    file created wherever the link points.  EEXIST is tolerated: someone else
    made the entry meanwhile, and the caller re-opens and inspects whatever is
    there now.
    """
    try:
        if kind == "dir":
            os.mkdir(name, mode, dir_fd=dir_fd)
        else:
            fd = os.open(
                name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                mode,
                dir_fd=dir_fd,
            )
            os.close(fd)
    except FileExistsError:
        pass


def open_in_root(
    root_fd: int,
    unsafe: str,
    *,
    create: Literal["dir", "file"] | None = None,
    mode: int = 0o755,
) -> int:
    """Open ``unsafe`` inside the directory ``root_fd`` as if it were ``/``.

    Returns a new ``O_PATH | O_CLOEXEC`` fd for the final component (the
    caller closes it; ``root_fd`` is left alone).  The walk opens one
    component at a time with ``O_PATH | O_NOFOLLOW`` relative to the previous
    one, so the kernel never follows a symlink by itself.  A symlink found on
    the way -- including as the final component -- is read through its own fd
    (so it is the link we opened, not whatever replaced it since) and its
    target is resolved inside the root: absolute targets restart at
    ``root_fd``, ``..`` at the root stays at the root.  ``..`` goes back to the
    directory fd we came from rather than asking the kernel for the parent, so
    a directory moved out of the root cannot lead us outside either.  More
    than :data:`MAX_SYMLINKS` links raises ``OSError(ELOOP)``.

    With ``create`` set, missing components are created: intermediate ones as
    directories (mode 0o755), the final one as a directory (``"dir"``) or an
    empty regular file (``"file"``) with ``mode`` (umask applies).  Creation
    never follows a symlink.  The final object is then checked to be of the
    requested kind, existing or not: ``NotADirectoryError`` if a directory
    was asked for, ``IsADirectoryError`` if a file was.  Without ``create``,
    missing components raise ``FileNotFoundError``.

    Every fd opened along the way is closed again, on success and on error.
    """
    if create not in (None, "dir", "file"):
        raise ValueError(f"create must be 'dir', 'file' or None, not {create!r}")
    fast = _open_in_root_kernel(root_fd, unsafe)
    if fast is not None:
        return _check_kind(fast, create, unsafe)
    # fds of the directories walked through below the root, innermost last;
    # ".." pops one, an absolute symlink target clears them all.
    stack: list[int] = []
    remaining = _components(unsafe)
    links = 0
    try:
        while remaining:
            part = remaining.pop()
            if part == "..":
                if stack:
                    os.close(stack.pop())
                continue
            parent = stack[-1] if stack else root_fd
            last = not remaining
            try:
                fd = os.open(part, _O_PATH_NOFOLLOW, dir_fd=parent)
            except FileNotFoundError:
                if create is None:
                    raise
                if last:
                    _create(parent, part, create, mode)
                else:
                    _create(parent, part, "dir", _INTERMEDIATE_DIR_MODE)
                # Re-open what is there now; if a racing process swapped in a
                # symlink, O_NOFOLLOW hands us the link and it is resolved
                # inside the root below like any other.
                fd = os.open(part, _O_PATH_NOFOLLOW, dir_fd=parent)
            try:
                st = os.fstat(fd)
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise _eloop(root_fd, unsafe)
                    target = os.readlink("", dir_fd=fd)
            except BaseException:
                os.close(fd)
                raise
            if not stat.S_ISLNK(st.st_mode):
                stack.append(fd)
                continue
            os.close(fd)
            if target.startswith("/"):
                _close_all(stack)
            remaining += _components(target)

        if stack:
            result = stack.pop()
        else:
            # The path named the root itself; hand out a fd of our own.
            result = os.open(".", _O_PATH_NOFOLLOW | os.O_DIRECTORY, dir_fd=root_fd)
        return _check_kind(result, create, unsafe)
    finally:
        _close_all(stack)


def _check_kind(fd: int, create: str | None, unsafe: str) -> int:
    """``fd`` if it is of the kind ``create`` asks for (else close it and raise)."""
    if create is None:
        return fd
    try:
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        if create == "dir" and not is_dir:
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), unsafe)
        if create == "file" and is_dir:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), unsafe)
    except BaseException:
        os.close(fd)
        raise
    return fd


# openat2(RESOLVE_IN_ROOT) does the whole walk above in the kernel, in one
# call; the walk remains for what it cannot do (creating missing components)
# and for kernels without it.  None: not tried yet; False: not available.
_kernel_resolve: bool | None = None


def _open_in_root_kernel(root_fd: int, unsafe: str) -> int | None:
    """The O_PATH fd of ``unsafe`` resolved by the kernel inside ``root_fd``,
    or None when the walk must do it: a component is missing, a magic link
    (/proc/self/fd/N) is on the way, or the kernel lacks openat2.  Same
    semantics as the walk: symlinks (the final one too) and ``..`` stay in
    the root."""
    global _kernel_resolve
    if _kernel_resolve is False:
        return None
    try:
        from pycontainer import syscalls
    except ImportError:  # the C core is not built: pure-Python use
        _kernel_resolve = False
        return None
    try:
        fd = syscalls.openat2(
            root_fd,
            unsafe.lstrip("/") or ".",
            os.O_PATH | os.O_CLOEXEC,
            0,
            syscalls.RESOLVE_IN_ROOT | syscalls.RESOLVE_NO_MAGICLINKS,
        )
    except OSError as e:
        if e.errno in (errno.ENOSYS, errno.EPERM):  # no openat2, or a seccomp filter forbids it
            _kernel_resolve = False
        return None
    _kernel_resolve = True
    return fd


def open_beneath(dir_fd: int, path: str, flags: int, *, same_mount: bool = False) -> int:
    """Open ``path`` below the directory ``dir_fd`` without following any symlink.

    Stricter than :func:`open_in_root`, for paths that must be exactly what
    they say (procfs files, the directory procfs is mounted on): a symlink
    anywhere on the way raises ``OSError(ELOOP)``, ``..`` leaving ``dir_fd``
    raises ``OSError(EXDEV)``, and with ``same_mount`` so does any mount point
    crossed (a file bound over a procfs file, CVE-2025-52881).  One
    ``openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS[|RESOLVE_NO_XDEV])`` call.

    Kernels without openat2 (before 5.6) get a walk with ``O_NOFOLLOW``, one
    component at a time, that refuses every ``..`` and symlink and, with
    ``same_mount``, every component on another device.  A mount of a file of
    the same file system (a procfs file bound over another) keeps the device
    number, so only openat2 catches that one.  ``O_CLOEXEC`` is always added.
    """
    from pycontainer import syscalls

    resolve = syscalls.RESOLVE_BENEATH | syscalls.RESOLVE_NO_SYMLINKS
    if same_mount:
        resolve |= syscalls.RESOLVE_NO_XDEV
    try:
        return syscalls.openat2(dir_fd, path.lstrip("/") or ".", flags | os.O_CLOEXEC, 0, resolve)
    except OSError as e:
        if e.errno != errno.ENOSYS:
            raise
    return _walk_beneath(dir_fd, path, flags | os.O_CLOEXEC, same_mount)


def _walk_beneath(dir_fd: int, path: str, flags: int, same_mount: bool) -> int:
    """:func:`open_beneath` without openat2."""
    parts = _components(path)
    if ".." in parts:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), path)
    device = os.fstat(dir_fd).st_dev
    fds: list[int] = []
    try:
        while parts:
            part = parts.pop()
            parent = fds[-1] if fds else dir_fd
            # Intermediate components as O_PATH (a symlink opens as itself,
            # then is refused); the last one with the caller's flags.
            fd = os.open(part, (flags if not parts else _O_PATH_NOFOLLOW) | os.O_NOFOLLOW, dir_fd=parent)
            fds.append(fd)
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            if same_mount and st.st_dev != device:
                raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), path)
        return fds.pop() if fds else os.open(".", flags, dir_fd=dir_fd)
    finally:
        _close_all(fds)


def fd_path(fd: int) -> str:
    """The ``/proc/self/fd/N`` path of ``fd``.

    Path-based syscalls given this path act on the object the fd refers to,
    not on whatever its name resolves to now; this is how the runtime mounts
    onto (and from) an :func:`open_in_root` result without following symlinks.
    Needs ``/proc`` mounted in the caller's mount namespace.
    """
    return f"/proc/self/fd/{fd}"
