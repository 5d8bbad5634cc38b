"""Linux namespaces: the config's namespace types as clone flags, joining an
existing namespace by path, and user-namespace id maps.

Which namespaces can be made by the clone itself and which need the slower
two-step path is decided here (see ``Plan``), so the process code only follows
the plan.
"""

from __future__ import annotations

import fcntl
import os

from pycontainer import syscalls
from pycontainer.errors import ContainerError

FLAGS: dict[str, int] = {
    "user": syscalls.CLONE_NEWUSER,
    "mount": syscalls.CLONE_NEWNS,
    "pid": syscalls.CLONE_NEWPID,
    "network": syscalls.CLONE_NEWNET,
    "uts": syscalls.CLONE_NEWUTS,
    "ipc": syscalls.CLONE_NEWIPC,
    "cgroup": syscalls.CLONE_NEWCGROUP,
    "time": syscalls.CLONE_NEWTIME,
}

# The order namespaces are joined in, as runc joins them: the user namespace
# first (it grants the capabilities to join the others), mount last (joining
# it changes what paths mean).
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")

NS_GET_NSTYPE = 0xB703  # ioctl(2) on a namespace fd: its CLONE_NEW* type


class Plan:
    """How to make the container's namespaces.

    ``new``: CLONE_NEW* flags of the namespaces to create.  ``join``: (type, path)
    pairs to setns into, in JOIN_ORDER.  The cgroup namespace is never cloned
    directly: the init unshares it once the parent has placed it in its cgroup,
    so the namespace's root is the container's cgroup (``cgroupns_after_cgroup``).
    """

    __slots__ = ("new", "join", "cgroupns_after_cgroup")

    def __init__(
        self, new: int = 0, join: list[tuple[str, str]] | None = None, cgroupns_after_cgroup: bool = False
    ) -> None:
        self.new = new
        self.join = join or []
        self.cgroupns_after_cgroup = cgroupns_after_cgroup

    @property
    def new_user(self) -> bool:
        return bool(self.new & syscalls.CLONE_NEWUSER)

    @property
    def needs_two_steps(self) -> bool:
        """One clone with every flag works unless a namespace is joined first
        (setns must precede the new ones) or a time namespace is asked for
        (clone(2) cannot take CLONE_NEWTIME; unshare affects children only)."""
        return bool(self.join) or bool(self.new & syscalls.CLONE_NEWTIME)

    def has(self, ns_type: str) -> bool:
        return bool(self.new & FLAGS[ns_type]) or any(t == ns_type for t, _ in self.join)


def plan(namespaces) -> Plan:
    """Build the Plan from ``linux.namespaces`` (already validated)."""
    p = Plan()
    joins = {}
    for ns in namespaces:
        if ns.path:
            joins[ns.type] = ns.path
        elif ns.type == "cgroup":
            p.cgroupns_after_cgroup = True
        else:
            p.new |= FLAGS[ns.type]
    p.join = [(t, joins[t]) for t in JOIN_ORDER if t in joins]
    return p


def check_join_paths(p: Plan) -> None:
    """Fail early, in the parent, if a path to join is not a namespace of the
    type the config says."""
    for ns_type, path in p.join:
        fd = open_namespace(ns_type, path)
        os.close(fd)


def open_namespace(ns_type: str, path: str) -> int:
    """Open a namespace file and check its type; returns the fd."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ContainerError(f"{ns_type} namespace path {path}: {e.strerror}") from None
    try:
        actual = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        os.close(fd)
        raise ContainerError(f"{ns_type} namespace path {path} is not a namespace") from None
    if actual != FLAGS[ns_type]:
        os.close(fd)
        raise ContainerError(f"{ns_type} namespace path {path} is a namespace of another type")
    return fd


def join(p: Plan, types: tuple[str, ...] | None = None) -> None:
    """setns into the planned paths (all, or only the given types), in order.

    Every file is opened before the first setns, as runc's nsexec does: once
    in a user namespace we may no longer open another process's namespace
    files (/proc/PID/ns/* of a process not dumpable, such as a container's
    init before its execve, need CAP_SYS_PTRACE where it was made)."""
    fds: list[tuple[str, int]] = []
    try:
        for ns_type, path in p.join:
            if types is None or ns_type in types:
                fds.append((ns_type, open_namespace(ns_type, path)))
        for ns_type, fd in fds:
            syscalls.setns(fd, FLAGS[ns_type])
    finally:
        for _, fd in fds:
            os.close(fd)


def format_id_map(mappings) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)


def write_id_maps(pid: int, uid_mappings, gid_mappings) -> None:
    """Write the child's uid_map and gid_map from the parent.

    An unprivileged writer must deny setgroups before it may write gid_map
    (user_namespaces(7)); root keeps setgroups allowed, as runc does.
    An unprivileged user's maps are written as in rootless.write_id_maps."""
    if os.geteuid() != 0:
        from pycontainer import rootless

        rootless.write_id_maps(pid, uid_mappings, gid_mappings)
        return
    proc = f"/proc/{pid}"
    if uid_mappings:
        _write(f"{proc}/uid_map", format_id_map(uid_mappings))
    if gid_mappings:
        _write(f"{proc}/gid_map", format_id_map(gid_mappings))


def setgroups_allowed(pid: int) -> bool:
    """Whether the user namespace of process ``pid`` (our child) allows
    setgroups(2).  Read by the runtime from the host's /proc, never by the
    container process: its /proc may be a file system of the container's
    making (runc reads /proc/self/setgroups in the init)."""
    try:
        with open(f"/proc/{pid}/setgroups") as f:
            return f.read().strip() != "deny"
    except FileNotFoundError:
        return True


def _write(path: str, text: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise ContainerError(f"writing {path} ({text.strip()!r}): {e.strerror}") from None


def write_time_offsets(offsets: dict) -> None:
    """Write linux.timeOffsets to /proc/self/timens_offsets (after unshare of a
    time namespace, before its first process is made)."""
    lines = []
    for clock, off in offsets.items():
        secs = off.get("secs", 0) if isinstance(off, dict) else getattr(off, "secs", 0)
        nanos = off.get("nanosecs", 0) if isinstance(off, dict) else getattr(off, "nanosecs", 0)
        lines.append(f"{clock} {secs} {nanos}\n")
    if lines:
        _write("/proc/self/timens_offsets", "".join(lines))


def bring_up_loopback() -> None:
    """A new network namespace starts with ``lo`` down; runtimes set it up."""
    syscalls.link_up("lo")
