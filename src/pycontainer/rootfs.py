"""The container's root filesystem, set up by the init inside its new mount
namespace: propagation, the config's mounts in order, devices (``prepare``);
then, after the createContainer hooks, sysctls, masked paths, read-only paths
and a read-only root (``protect``); then pivot_root (or ``--no-pivot``'s move).

Every mount target is resolved inside the rootfs with securejoin.open_in_root,
which never follows a symlink out of it, and the mount is made on the
/proc/self/fd/N path of the resolved fd: a symlink swapped in after the check
cannot redirect it (CVE-2021-30465).  Those paths, like everything else this
module reads in /proc, go through the host's /proc: all of it happens before
the switch, and the container's /proc is never opened (procfs.py).  Masked
paths are covered with the host's /dev/null, opened and checked here, never
with whatever the image has at /dev/null (CVE-2025-31133).
"""

from __future__ import annotations

import errno
import os
import stat

from pycontainer import procfs, syscalls
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
from pycontainer.securejoin import fd_path, open_beneath, open_in_root

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Literal

    Create = Literal["dir", "file"]  # what open_in_root may create


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
_DEVICE_KINDS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}

# The /proc files a config may mount over (lxcfs and the like emulate them per
# container): runc's list in checkProcMount.  Anything else mounted in /proc
# could replace what the runtime and the masks rely on.
PROC_MOUNTS_ALLOWED = frozenset(
    {
        "/proc/cpuinfo",
        "/proc/diskstats",
        "/proc/meminfo",
        "/proc/stat",
        "/proc/swaps",
        "/proc/uptime",
        "/proc/loadavg",
        "/proc/slabinfo",
        "/proc/net/dev",
        "/proc/sys/kernel/ns_last_pid",
        "/proc/sys/crypto/fips_enabled",
    }
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
    # Our way into procfs, opened while /proc is the host's (procfs.py).
    procfs.root()
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
        root_path = procfs.fd_target(root_fd)  # as the kernel names it, symlinks resolved
        dev_is_bind = False
        mount_label = linux.mount_label if linux else None
        for index, m in enumerate(spec.mounts):
            if m.destination.rstrip("/") == "/dev" and _is_bind(m):
                dev_is_bind = True
            _mount_entry(
                root_fd,
                root_path,
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
    for fields in _mountinfo():
        point = fields[4]
        inside = rootfs == point or rootfs.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best = point
            shared = any(o.startswith("shared:") for o in fields[6 : fields.index("-")])
    if best and shared:
        syscalls.mount(None, best, None, MS_PRIVATE)


def _mountinfo() -> list[list[str]]:
    """This mount namespace's mountinfo, a list of fields per mount, the
    mount point (field 4) unescaped (the kernel writes \\040 for a space)."""
    table = []
    for line in procfs.read_self("mountinfo").splitlines():
        fields = line.split(" ")
        fields[4] = _unescape(fields[4])
        table.append(fields)
    return table


def _unescape(path: str) -> str:
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        path = path.replace(code, char)
    return path


def _is_bind(m) -> bool:
    return m.type == "bind" or any(o in ("bind", "rbind") for o in m.options)


def _mount_entry(
    root_fd: int,
    root_path: str,
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
    source = m.source
    create: Create = "dir"
    if opts.bind:
        source = os.path.join(os.fspath(bundle), source) if source and not source.startswith("/") else source
        try:
            st = os.stat(source)
        except OSError as e:
            raise ContainerError(f"{where}: mount source {source!r}: {e.strerror}") from None
        if not stat.S_ISDIR(st.st_mode):
            create = "file"
    if m.type in ("proc", "sysfs") or os.path.normpath("/" + m.destination) in ("/proc", "/sys"):
        target_fd = _open_ordinary_directory(root_fd, m, where)
    else:
        target_fd = _open_target(root_fd, m.destination, create, where)
    try:
        _check_proc_destination(root_path, target_fd, m, source if opts.bind else None, where)
    except BaseException:
        os.close(target_fd)
        raise
    if m.type == "cgroup":
        os.close(target_fd)
        _mount_cgroup(root_fd, m, opts, cgroup_dirs)
        return
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


def _open_ordinary_directory(root_fd: int, m, where: str) -> int:
    """The destination of a proc or sysfs mount, or of any mount on /proc or
    /sys: an ordinary directory of the rootfs, reached through no symlink
    (runc: 'must be mounted on ordinary directory').  A /proc that is a
    symlink puts procfs wherever the image points it, and the image can later
    turn /proc into a tree of its own making for the runtime's next ``exec``
    to read.  Missing directories are made first, then checked the same way."""
    flags = os.O_PATH | os.O_DIRECTORY
    try:
        return open_beneath(root_fd, m.destination, flags)
    except FileNotFoundError:
        os.close(_open_target(root_fd, m.destination, "dir", where))
    except OSError as e:
        raise _not_ordinary(m, where, e) from None
    try:
        return open_beneath(root_fd, m.destination, flags)
    except OSError as e:
        raise _not_ordinary(m, where, e) from None


def _not_ordinary(m, where: str, e: OSError) -> ContainerError:
    reasons: dict[int | None, str | None] = {
        errno.ELOOP: "a symlink in the rootfs",
        errno.ENOTDIR: "not a directory",
    }
    why = reasons.get(e.errno, e.strerror)
    if m.type in ("proc", "sysfs"):
        rule = f'filesystem "{m.type}" must be mounted on ordinary directory'  # runc's words
    else:
        rule = f"a mount on {os.path.normpath('/' + m.destination)} must be on an ordinary directory"
    return ContainerError(f"{where}.destination: {m.destination} is {why}: {rule}")


def _check_proc_destination(root_path: str, target_fd: int, m, bind_source: str | None, where: str) -> None:
    """Refuse what check_proc_mount refuses, judged by where the target
    really is inside the rootfs (symlinks resolved, read back from the fd)."""
    target, top = procfs.fd_target(target_fd), root_path.rstrip("/")
    if target != root_path and not target.startswith(top + "/"):
        raise ContainerError(f"{where}.destination: {m.destination} resolves outside the rootfs ({target})")
    inside = target[len(top) :] or "/"
    source_is_procfs = False
    if inside == "/proc" and bind_source is not None:
        fd = os.open(bind_source, os.O_PATH | os.O_CLOEXEC)
        try:
            source_is_procfs = syscalls.fstatfs_type(fd) == procfs.PROC_SUPER_MAGIC
        finally:
            os.close(fd)
    problem = check_proc_mount(inside, m.type, source_is_procfs)
    if problem:
        raise ContainerError(f"{where}.destination: {problem}")


def check_proc_mount(dest: str, mount_type: str, source_is_procfs: bool = False) -> str | None:
    """Why nothing of ``mount_type`` may be mounted at ``dest`` (its path in the
    rootfs, symlinks resolved), or None (runc's checkProcMount, its words).
    On /proc itself only a procfs (a new one, or a bind of one); inside /proc
    only the files of PROC_MOUNTS_ALLOWED."""
    if dest != "/proc" and not dest.startswith("/proc/"):
        return None
    if dest == "/proc":
        if mount_type == "proc" or source_is_procfs:
            return None
        return f'"{dest}" cannot be mounted because it is not of type proc'
    if dest in PROC_MOUNTS_ALLOWED:
        return None
    return f'"{dest}" cannot be mounted because it is inside /proc'


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
        if wants_remount and bind_source is not None:  # (wants_remount implies a source)
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


def _open_target(root_fd: int, path: str, create: Create | None, where: str) -> int:
    try:
        return open_in_root(root_fd, path, create=create)
    except OSError as e:
        raise ContainerError(f"{where}: mount destination {path}: {e.strerror}") from None


def _describe(m) -> str:
    return f"(type {m.type}, source {m.source}, destination {m.destination})"


def _create_device(root_fd: int, dev: DeviceNode, bind: bool) -> None:
    """mknod ``dev`` in the rootfs, or (``bind``: in a user namespace, where
    mknod is refused) bind the host's node onto an empty file there.

    What the image already has at that path is looked at through its own fd
    (fstat, no symlink followed): it is kept only if it is that very device
    (or, to bind onto, a plain file); anything else, such as a /dev/null that
    is a symlink to /proc/sys/kernel/core_pattern, is removed and made anew."""
    parent, name = os.path.split(dev.path)
    kind = _DEVICE_KINDS[dev.type]
    dir_fd = _open_target(root_fd, parent, "dir", dev.path)
    try:
        existing = _lstat_at(dir_fd, name)
        if existing is not None:
            if bind and stat.S_ISREG(existing.st_mode):
                pass  # a file to bind onto
            elif not bind and _is_device(existing, kind, os.makedev(dev.major, dev.minor)):
                return
            else:
                os.unlink(name, dir_fd=dir_fd)
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
        os.mknod(name, kind | (dev.file_mode & 0o7777), os.makedev(dev.major, dev.minor), dir_fd=dir_fd)
        os.chown(name, dev.uid, dev.gid, dir_fd=dir_fd, follow_symlinks=False)
        # mknod's mode went through the umask; make it exact.
        os.chmod(name, dev.file_mode & 0o7777, dir_fd=dir_fd)
    except OSError as e:
        raise ContainerError(f"creating device {dev.path}: {e.strerror}") from None
    finally:
        os.close(dir_fd)


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """What ``name`` in ``dir_fd`` is, by fstat on an fd of its own (a
    symlink is opened as itself, a device node is not opened); None if absent."""
    try:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def _is_device(st: os.stat_result, kind: int, rdev: int) -> bool:
    if stat.S_IFMT(st.st_mode) != kind:
        return False
    return kind == stat.S_IFIFO or st.st_rdev == rdev


def _create_dev_links(root_fd: int) -> None:
    dev_fd = _open_target(root_fd, "/dev", "dir", "/dev")
    try:
        links = list(DEV_LINKS)
        if procfs.exists("kcore"):
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


# -- after the createContainer hooks, before the switch -----------------------------


def protect(spec) -> None:
    """Sysctls, masked and read-only paths, then a read-only root if asked
    for.  Done from outside the rootfs, on fds resolved inside it, so nothing
    here reads the container's /proc or /dev: the sysctls go through our
    procfs handle, masks are the host's /dev/null, checked (runc does all
    this after pivot_root, through the container's /proc and /dev)."""
    linux = spec.linux
    root_fd = os.open(os.fspath(spec.rootfs), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        write_sysctls(spec)
        if linux and linux.masked_paths:
            null = open_dev_null()
            try:
                for path in linux.masked_paths:
                    _mask(root_fd, path, null)
            finally:
                os.close(null)
        for path in linux.readonly_paths if linux else []:
            _make_readonly(root_fd, path)
        if spec.root and spec.root.readonly:
            _remount_readonly("/", root_fd)
    finally:
        os.close(root_fd)


def write_sysctls(spec) -> None:
    procfs.root()  # opened now if not yet: the chroot path (no mount namespace) is about to leave /proc
    for key, value in (spec.linux.sysctl if spec.linux else {}).items():
        write_sysctl(key, value)


def write_sysctl(key: str, value: str) -> None:
    """``linux.sysctl``: the file under /proc/sys, through our procfs handle
    (a sysctl applies to the namespaces of the writer, whichever procfs it
    goes through)."""
    try:
        procfs.write("sys/" + key.replace(".", "/"), value)
    except OSError as e:
        raise ContainerError(f"linux.sysctl: setting {key}={value!r}: {e.strerror}") from None


def open_dev_null() -> int:
    """An O_PATH fd of the host's /dev/null, checked by fstat to be the null
    device (character 1:3): masks are bound from it, by fd."""
    fd = os.open("/dev/null", os.O_PATH | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not _is_device(st, stat.S_IFCHR, os.makedev(1, 3)):
        os.close(fd)
        raise ContainerError("linux.maskedPaths: the host's /dev/null is not the null device (c 1:3)")
    return fd


def _mask(root_fd: int, path: str, null_fd: int) -> None:
    fd = _open_existing(root_fd, path, "linux.maskedPaths")
    if fd is None:
        return
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            syscalls.mount("tmpfs", fd_path(fd), "tmpfs", MS_RDONLY, None)
        else:
            syscalls.mount(fd_path(null_fd), fd_path(fd), None, MS_BIND)
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
    where pivot_root is impossible, e.g. a ramfs root).  The host's mounts
    stay in the namespace, under the chroot, so first the host's procfs and
    sysfs go (runc's msMoveRoot): a process that gets out of the chroot must
    not find them."""
    _detach_host_proc_and_sys(os.path.realpath(rootfs))
    os.chdir(rootfs)
    syscalls.mount(rootfs, "/", None, MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def _detach_host_proc_and_sys(rootfs: str) -> None:
    """Detach every full procfs and sysfs mount outside ``rootfs`` (its
    submounts go with it), or cover it with a tmpfs where it cannot be
    detached (a mount a user namespace locked)."""
    points = [
        fields[4]
        for fields in _mountinfo()
        if fields[3] == "/"  # the root of the file system: a full mount
        and fields[fields.index("-") + 1] in ("proc", "sysfs")
        and fields[4] != rootfs
        and not fields[4].startswith(rootfs.rstrip("/") + "/")
    ]
    for point in points:
        try:
            # Our unmount must not reach the host's namespace.
            syscalls.mount(None, point, None, MS_SLAVE | MS_REC)
        except FileNotFoundError:
            continue  # below one detached already
        try:
            syscalls.umount2(point, syscalls.MNT_DETACH)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EPERM):
                raise
            syscalls.mount("tmpfs", point, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


# -- after the switch ----------------------------------------------------------------


def finish(spec) -> None:
    """Inside the new root: its propagation (``linux.rootfsPropagation``),
    which pivot_root refuses on a shared mount, so it comes after."""
    linux = spec.linux
    if linux and linux.rootfs_propagation:
        syscalls.mount(None, "/", None, PROPAGATION_FLAGS[linux.rootfs_propagation])
