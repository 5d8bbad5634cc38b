"""The container's root filesystem, set up by the init inside its new mount
namespace: propagation, the config's mounts in order, devices, pivot_root,
then masked paths, read-only paths and a read-only root.

Every mount target is resolved inside the rootfs with securejoin.open_in_root,
which never follows a symlink out of it, and the mount is made on the
/proc/self/fd/N path of the resolved fd: a symlink swapped in after the check
cannot redirect it (CVE-2021-30465).
"""

from __future__ import annotations

import errno
import os
import stat

from pycontainer import syscalls
from pycontainer.errors import ContainerError
from pycontainer.mountopts import (
    MOUNT_ATTR_NODEV,
    MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_RDONLY,
    MS_BIND,
    MS_MOVE,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_SLAVE,
    PROPAGATION_FLAGS,
    MountOptions,
    bind_remount_flags,
    needs_bind_remount,
    parse_mount_options,
)
from pycontainer.securejoin import fd_path, open_in_root

AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x04
MOVE_MOUNT_T_EMPTY_PATH = 0x40


class DeviceNode:
    """A device node to create in the container's /dev."""

    __slots__ = ("path", "type", "major", "minor", "file_mode", "uid", "gid")

    def __init__(
        self,
        path: str,
        type: str,
        major: int = 0,
        minor: int = 0,
        file_mode: int = 0o666,
        uid: int = 0,
        gid: int = 0,
    ) -> None:
        self.path, self.type, self.major, self.minor = path, type, major, minor
        self.file_mode, self.uid, self.gid = file_mode, uid, gid


# The devices every Linux container gets (runtime-spec config-linux.md).
DEFAULT_DEVICES = (
    DeviceNode("/dev/null", "c", 1, 3),
    DeviceNode("/dev/zero", "c", 1, 5),
    DeviceNode("/dev/full", "c", 1, 7),
    DeviceNode("/dev/random", "c", 1, 8),
    DeviceNode("/dev/urandom", "c", 1, 9),
    DeviceNode("/dev/tty", "c", 5, 0),
)
DEV_LINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)


# -- before pivot_root ---------------------------------------------------------------


def prepare(
    spec, cgroup_dirs: dict[str, str], bind_devices: bool, idmapped: dict[int, int] | None = None
) -> None:
    """Everything that needs the host's view: propagation, the rootfs as a
    mount point, the config's mounts, devices and the cwd.

    ``cgroup_dirs`` maps a hierarchy's directory name under /sys/fs/cgroup
    ("memory", "unified", ... or "" on a pure v2 host) to the container's
    cgroup directory on the host, for ``cgroup`` mounts.  ``bind_devices``:
    bind-mount the host's device nodes instead of mknod (in a user namespace
    mknod is not allowed).  ``idmapped``: mounts index -> a detached idmapped
    copy of the source (made by the parent, idmapped.py), moved into place
    instead of a bind mount."""
    linux = spec.linux
    rootfs = os.fspath(spec.rootfs)
    propagation = PROPAGATION_FLAGS.get(
        (linux.rootfs_propagation if linux else None) or "", MS_SLAVE | MS_REC
    )
    # Nothing we mount may reach the host's mount namespace.
    syscalls.mount(None, "/", None, propagation)
    # pivot_root refuses a shared parent mount (rootfsPropagation "shared").
    _make_parent_mount_private(rootfs)
    # pivot_root needs the new root to be a mount point.
    syscalls.mount(rootfs, rootfs, None, MS_BIND | MS_REC)
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dev_is_bind = False
        mount_label = linux.mount_label if linux else None
        for index, m in enumerate(spec.mounts):
            if m.destination.rstrip("/") == "/dev" and _is_bind(m):
                dev_is_bind = True
            _mount_entry(
                root_fd,
                m,
                f"mounts[{index}]",
                spec.bundle,
                cgroup_dirs,
                (idmapped or {}).get(index),
                mount_label,
            )
        if not dev_is_bind:
            devices = list(DEFAULT_DEVICES) + [
                DeviceNode(
                    d.path,
                    d.type,
                    d.major or 0,
                    d.minor or 0,
                    0o666 if d.file_mode is None else d.file_mode,
                    d.uid or 0,
                    d.gid or 0,
                )
                for d in (linux.devices if linux else [])
            ]
            for dev in devices:
                _create_device(root_fd, dev, bind_devices)
            _create_dev_links(root_fd)
        cwd = spec.process.cwd if spec.process else "/"
        os.close(open_in_root(root_fd, cwd, create="dir"))
    finally:
        os.close(root_fd)


def _make_parent_mount_private(rootfs: str) -> None:
    """Make the mount holding ``rootfs`` private if it is shared (runc's
    rootfsParentMountPrivate): pivot_root(2) fails on a shared parent."""
    best, shared = "", False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].replace("\\040", " ")
            inside = rootfs == point or rootfs.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best = point
                shared = any(o.startswith("shared:") for o in fields[6 : fields.index("-")])
    if best and shared:
        syscalls.mount(None, best, None, MS_PRIVATE)


def _is_bind(m) -> bool:
    return m.type == "bind" or any(o in ("bind", "rbind") for o in m.options)


def _mount_entry(
    root_fd: int,
    m,
    where: str,
    bundle,
    cgroup_dirs: dict[str, str],
    idmapped_fd: int | None = None,
    mount_label: str | None = None,
) -> None:
    opts = parse_mount_options(m.options, m.type)
    data = opts.data or None
    if mount_label:  # linux.mountLabel (SELinux): context= on what we mount, not on binds
        from pycontainer.security import lsm

        data = lsm.mount_data(data, m.type, mount_label)
    if m.type == "cgroup":
        _mount_cgroup(root_fd, m, opts, cgroup_dirs)
        return
    source = m.source
    create = "dir"
    if opts.bind:
        source = os.path.join(os.fspath(bundle), source) if source and not source.startswith("/") else source
        try:
            st = os.stat(source)
        except OSError as e:
            raise ContainerError(f"{where}: mount source {source!r}: {e.strerror}") from None
        if not stat.S_ISDIR(st.st_mode):
            create = "file"
    target_fd = _open_target(root_fd, m.destination, create, where)
    try:
        target = fd_path(target_fd)
        if idmapped_fd is not None:
            flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH
            syscalls.move_mount(idmapped_fd, "", target_fd, "", flags)
            os.close(idmapped_fd)
        elif opts.bind:
            syscalls.mount(source, target, None, MS_BIND | (MS_REC if opts.recursive else 0))
        else:
            syscalls.mount(source or m.type, target, m.type, opts.flags, data)
    except OSError as e:
        raise ContainerError(f"{where}: {e.strerror}: {e.filename or ''} {_describe(m)}".rstrip()) from None
    finally:
        os.close(target_fd)
    _finish_mount(root_fd, m.destination, opts, source if opts.bind else None, where)


def _finish_mount(
    root_fd: int, destination: str, opts: MountOptions, bind_source: str | None, where: str
) -> None:
    """Remount flags onto a bind mount (the first pass ignores them), apply
    propagation and recursive attributes.  Works on the new mount, re-resolved."""
    wants_remount = bind_source is not None and needs_bind_remount(opts)
    if not (wants_remount or opts.propagation or opts.recursive_attr_set or opts.recursive_attr_clr):
        return
    fd = _open_target(root_fd, destination, None, where)
    try:
        target = fd_path(fd)
        if wants_remount:
            locked = os.statvfs(bind_source).f_flag
            syscalls.mount(None, target, None, bind_remount_flags(opts, locked))
        for flag in opts.propagation:
            syscalls.mount(None, target, None, flag)
        if opts.recursive_attr_set or opts.recursive_attr_clr:
            syscalls.mount_setattr(
                fd, "", AT_EMPTY_PATH | AT_RECURSIVE, opts.recursive_attr_set, opts.recursive_attr_clr
            )
    except OSError as e:
        raise ContainerError(f"{where}: remounting {destination}: {e.strerror}") from None
    finally:
        os.close(fd)


def _mount_cgroup(root_fd: int, m, opts: MountOptions, cgroup_dirs: dict[str, str]) -> None:
    """A ``cgroup`` mount shows the container only its own cgroups: a tmpfs
    with the container's directory of each hierarchy bound in (v1, hybrid), or
    its unified directory bound at the destination (v2); read-only when the
    options say ``ro``, as the engines ask."""
    dest = m.destination
    if "" in cgroup_dirs:  # pure v2: the unified hierarchy is the mount itself
        _mount_at(root_fd, dest, cgroup_dirs[""], None, MS_BIND)
    else:
        _mount_at(root_fd, dest, "tmpfs", "tmpfs", 0, "mode=755")
        # Our own fresh tmpfs: nothing in it can be a symlink, so plain
        # *at() calls relative to it are safe.
        top = _open_target(root_fd, dest, None, dest)
        try:
            for name, host_dir in sorted(cgroup_dirs.items()):
                os.mkdir(name, 0o755, dir_fd=top)
                sub = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=top)
                try:
                    syscalls.mount(host_dir, fd_path(sub), None, MS_BIND)
                finally:
                    os.close(sub)
        finally:
            os.close(top)
    _lock_cgroup_mounts(root_fd, dest, opts, sorted(n for n in cgroup_dirs if n))


def _lock_cgroup_mounts(root_fd: int, dest: str, opts: MountOptions, subdirs: list[str]) -> None:
    """Apply ro/nosuid/nodev/noexec to the cgroup mount and every bind in it:
    one mount_setattr(AT_RECURSIVE) where the kernel has it (5.12+), else a
    remount of each."""
    attrs = {
        MS_RDONLY: MOUNT_ATTR_RDONLY,
        MS_NOSUID: MOUNT_ATTR_NOSUID,
        MS_NODEV: MOUNT_ATTR_NODEV,
        MS_NOEXEC: MOUNT_ATTR_NOEXEC,
    }
    flags = opts.flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if not flags:
        return
    fd = _open_target(root_fd, dest, None, dest)
    try:
        attr_set = sum(a for f, a in attrs.items() if flags & f)
        syscalls.mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, attr_set)
        return
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.EINVAL):
            raise ContainerError(f"{dest}: making the cgroup mount read-only: {e.strerror}") from None
    finally:
        os.close(fd)
    # Older kernels: remount each bind, then the top (read-only last, or the
    # binds inside it could not be remounted).  On pure v2 the top is the bind.
    for name in subdirs:
        _mount_at(root_fd, f"{dest.rstrip('/')}/{name}", None, None, MS_BIND | MS_REMOUNT | flags)
    _mount_at(root_fd, dest, None, None, MS_REMOUNT | flags | (0 if subdirs else MS_BIND))


def _mount_at(
    root_fd: int, dest: str, source: str | None, fstype: str | None, flags: int, data: str | None = None
) -> None:
    """mount(2) on ``dest`` resolved inside the root (created as a directory
    if missing).  Resolved anew each time, so a remount finds the new mount."""
    fd = _open_target(root_fd, dest, "dir", dest)
    try:
        syscalls.mount(source, fd_path(fd), fstype, flags, data)
    except OSError as e:
        raise ContainerError(f"mounting {source or fstype or ''} on {dest}: {e.strerror}") from None
    finally:
        os.close(fd)


def _open_target(root_fd: int, path: str, create: str | None, where: str) -> int:
    try:
        return open_in_root(root_fd, path, create=create)
    except OSError as e:
        raise ContainerError(f"{where}: mount destination {path}: {e.strerror}") from None


def _describe(m) -> str:
    return f"(type {m.type}, source {m.source}, destination {m.destination})"


def _create_device(root_fd: int, dev: DeviceNode, bind: bool) -> None:
    parent, name = os.path.split(dev.path)
    dir_fd = _open_target(root_fd, parent, "dir", dev.path)
    try:
        if bind:
            # An empty file to bind the host's node onto.
            fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
            os.close(fd)
            node = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                syscalls.mount(dev.path, fd_path(node), None, MS_BIND)
            finally:
                os.close(node)
            return
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[dev.type]
        try:
            os.mknod(name, kind | (dev.file_mode & 0o7777), os.makedev(dev.major, dev.minor), dir_fd=dir_fd)
        except FileExistsError:
            return
        os.chown(name, dev.uid, dev.gid, dir_fd=dir_fd, follow_symlinks=False)
        # mknod's mode went through the umask; make it exact.
        os.chmod(name, dev.file_mode & 0o7777, dir_fd=dir_fd)
    except OSError as e:
        raise ContainerError(f"creating device {dev.path}: {e.strerror}") from None
    finally:
        os.close(dir_fd)


def _create_dev_links(root_fd: int) -> None:
    dev_fd = _open_target(root_fd, "/dev", "dir", "/dev")
    try:
        links = list(DEV_LINKS)
        if os.path.exists("/proc/kcore"):
            links.append(("/proc/kcore", "/dev/core"))
        for target, link in links:
            _symlink(target, os.path.basename(link), dev_fd)
        # /dev/ptmx: the devpts instance's own ptmx, when /dev/pts is mounted.
        try:
            os.stat("pts/ptmx", dir_fd=dev_fd, follow_symlinks=False)
            try:
                os.unlink("ptmx", dir_fd=dev_fd)
            except FileNotFoundError:
                pass
            _symlink("pts/ptmx", "ptmx", dev_fd)
        except FileNotFoundError:
            pass
        try:
            os.mkdir("shm", 0o1777, dir_fd=dev_fd)
            os.chmod("shm", 0o1777, dir_fd=dev_fd)
        except FileExistsError:
            pass
    finally:
        os.close(dev_fd)


def _symlink(target: str, name: str, dir_fd: int) -> None:
    try:
        os.symlink(target, name, dir_fd=dir_fd)
    except FileExistsError:
        pass


# -- the switch ----------------------------------------------------------------------


def pivot_root(rootfs: str) -> None:
    """Make ``rootfs`` the root: pivot_root(".", ".") then detach the old root
    stacked beneath, as runc does (no directory for the old root is needed)."""
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.chdir(rootfs)
        syscalls.pivot_root(".", ".")
        os.fchdir(old_root)
        # The old root must not propagate our unmount to the host.
        syscalls.mount(None, ".", None, MS_SLAVE | MS_REC)
        syscalls.umount2(".", syscalls.MNT_DETACH)
    finally:
        os.close(old_root)
    os.chdir("/")


def move_root(rootfs: str) -> None:
    """--no-pivot: move the rootfs mount over / and chroot into it (for hosts
    where pivot_root is impossible, e.g. a ramfs root)."""
    os.chdir(rootfs)
    syscalls.mount(rootfs, "/", None, MS_MOVE)
    os.chroot(".")
    os.chdir("/")


# -- after pivot_root ----------------------------------------------------------------


def finish(spec) -> None:
    """Inside the new root: rootfs propagation, sysctl, masked and read-only
    paths, then a read-only root if asked for."""
    linux = spec.linux
    if linux and linux.rootfs_propagation:
        syscalls.mount(None, "/", None, PROPAGATION_FLAGS[linux.rootfs_propagation])
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        write_sysctls(spec)
        if linux:
            for path in linux.masked_paths:
                _mask(root_fd, path)
            for path in linux.readonly_paths:
                _make_readonly(root_fd, path)
        if spec.root and spec.root.readonly:
            _remount_readonly("/", root_fd)
    finally:
        os.close(root_fd)


def write_sysctls(spec) -> None:
    for key, value in (spec.linux.sysctl if spec.linux else {}).items():
        write_sysctl(key, value)


def write_sysctl(key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise ContainerError(f"linux.sysctl: setting {key}={value!r}: {e.strerror}") from None


def _mask(root_fd: int, path: str) -> None:
    fd = _open_existing(root_fd, path, "linux.maskedPaths")
    if fd is None:
        return
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            syscalls.mount("tmpfs", fd_path(fd), "tmpfs", MS_RDONLY, None)
        else:
            syscalls.mount("/dev/null", fd_path(fd), None, MS_BIND)
    finally:
        os.close(fd)


def _make_readonly(root_fd: int, path: str) -> None:
    fd = _open_existing(root_fd, path, "linux.readonlyPaths")
    if fd is None:
        return
    try:
        syscalls.mount(fd_path(fd), fd_path(fd), None, MS_BIND | MS_REC)
    finally:
        os.close(fd)
    _remount_readonly(path, root_fd)


def _open_existing(root_fd: int, path: str, field: str) -> int | None:
    """An O_PATH fd of ``path`` in the root, None if it does not exist
    (masked and read-only paths that are absent are skipped, as runc does)."""
    try:
        return open_in_root(root_fd, path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ContainerError(f"{field}: {path}: {e.strerror}") from None


def _remount_readonly(path: str, root_fd: int) -> None:
    fd = open_in_root(root_fd, path)
    try:
        locked = os.fstatvfs(fd).f_flag
        flags = bind_remount_flags(parse_mount_options(["ro"], "bind"), locked)
        syscalls.mount(None, fd_path(fd), None, flags | MS_REC)
    finally:
        os.close(fd)
