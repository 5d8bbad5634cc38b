"""The parent side of making a container's init: clone it, answer its
requests (id maps, the two-step path's init pid), place it in its cgroups, let
it set up, and wait until it is ready.  See channel.py for the messages."""

from __future__ import annotations

import os
import sys

from pycontainer import failpoints, namespaces, signals, stdio, syscalls
from pycontainer.process.channel import Channel


class HostFacts:
    """What a container process needs to know about the host before execve,
    read on the host's side and handed down, never by the process itself:
    once it is in the container, /proc and /sys are whatever the container
    mounted there.  A container with CAP_SYS_ADMIN can put a tmpfs on its
    /proc whose sys/kernel/cap_last_cap says -1 (the final step would then
    drop nothing from the bounding set) and whose self/setgroups says "deny"
    (the runtime's own groups would be kept).

    ``last_cap``, ``cpu_count`` and ``apparmor_own_attr`` are read in the
    parent before the clone (:meth:`of_this_host`); ``setgroups_allowed`` is
    a property of the process's user namespace, so the parent reads it from
    the host's /proc/PID/setgroups of its child once the child is in that
    namespace and sends it with ``go`` (``namespaces.setgroups_allowed``)."""

    __slots__ = ("last_cap", "cpu_count", "apparmor_own_attr", "setgroups_allowed")

    def __init__(
        self, last_cap: int, cpu_count: int, apparmor_own_attr: bool, setgroups_allowed: bool = True
    ) -> None:
        self.last_cap = last_cap  # /proc/sys/kernel/cap_last_cap
        self.cpu_count = cpu_count  # for "every cpu" (exec's execCPUAffinity without a final list)
        # AppArmor's own exec attribute (/proc/thread-self/attr/apparmor/exec, Linux 5.8) exists
        self.apparmor_own_attr = apparmor_own_attr
        self.setgroups_allowed = setgroups_allowed

    @classmethod
    def of_this_host(cls) -> HostFacts:
        from pycontainer.security import capabilities

        return cls(
            last_cap=capabilities.last_cap(),
            cpu_count=os.cpu_count() or 1,
            apparmor_own_attr=os.path.exists("/proc/thread-self/attr/apparmor/exec"),
        )


class InitConfig:
    """What the parent hands the init besides the spec (decided before clone):
    the namespace plan, the exec fifo (opened read+write by the parent, see
    open_exec_fifo), the container's cgroup dirs for ``cgroup`` mounts, and
    what the init must know about the host (:class:`HostFacts`)."""

    __slots__ = (
        "spec",
        "host",
        "plan",
        "exec_fifo_fd",
        "cgroup_dirs",
        "no_pivot",
        "preserve_fds",
        "seccomp",
        "console_fd",
        "new_keyring",
        "hook_state",
        "idmapped_fds",
        "stdio",
    )

    def __init__(
        self,
        spec,
        plan: namespaces.Plan,
        exec_fifo_fd: int,
        cgroup_dirs: dict[str, str] | None = None,
        no_pivot: bool = False,
        preserve_fds: int = 0,
        seccomp=None,
        console_fd: int | None = None,
        new_keyring: bool = True,
    ) -> None:
        self.spec, self.plan, self.exec_fifo_fd = spec, plan, exec_fifo_fd
        self.cgroup_dirs = cgroup_dirs or {}
        self.no_pivot, self.preserve_fds = no_pivot, preserve_fds
        self.seccomp = seccomp  # a compiled filter (security.seccomp.CompiledFilter) or None
        self.console_fd = console_fd  # where the init sends its pty's master (process.terminal)
        self.new_keyring = new_keyring  # a session keyring of its own (runc's default; --no-new-keyring)
        # The state hooks get on stdin (the pid is filled in once known).
        self.hook_state: dict = {}
        # mounts index -> detached idmapped copy of its source, made by the parent (idmapped.py)
        self.idmapped_fds: dict[int, int] = {}
        # The fds the init's 0, 1, 2 become (None: inherited), see stdio.Streams
        self.stdio: list[int | None] | None = None
        self.host = HostFacts.of_this_host()  # in the parent, before the clone


def log_unraisable_ambient(process) -> None:
    """Say (at debug level, here in the parent: the init has no log) which ambient
    capabilities the final step will not get raised."""
    from pycontainer.security import capabilities

    skipped = capabilities.unraisable_ambient(process.capabilities)
    if skipped:
        from pycontainer.log import get_logger

        get_logger(__name__).debug(
            "process.capabilities.ambient: %s not raised (an ambient capability must be both "
            "permitted and inheritable; runc and crun go on without it)",
            ", ".join(skipped),
        )


def open_exec_fifo(path: str) -> int:
    """The parent opens the exec fifo read+write and the init inherits it:
    holding a writer itself, the init's read in wait_for_start blocks until
    ``start`` writes a byte, and a ``start`` with no init left gets ENXIO
    instead of hanging.  (Opened by the parent, it needs no permission on the
    state dir from the container's user.)"""
    return os.open(path, os.O_RDWR | os.O_CLOEXEC)


def spawn_init(cfg: InitConfig, place_in_cgroups) -> int:
    """Clone the init and drive it until it waits on the exec fifo.

    ``place_in_cgroups(pid)`` moves the init into its (existing) cgroups,
    while the init imports its code and sets up its root filesystem; the
    init waits for it only before it makes its cgroup namespace and reports
    ready.  Returns the init's host pid; on any failure
    every process made here is killed and reaped, and the error is raised."""
    linux = cfg.spec.linux
    plan = cfg.plan
    log_unraisable_ambient(cfg.spec.process)
    parent_end, child_end = Channel.pair()
    with stdio.CLONE_LOCK:  # no pipe of another container's half made meanwhile (stdio.py)
        pid = syscalls.clone(0 if plan.needs_two_steps else plan.new)
    if pid == 0:
        parent_end.close()
        from pycontainer.process.init import child_main

        child_main(cfg, child_end)  # never returns
    child_end.close()
    made = [pid]
    try:
        failpoints.reached("create.init-cloned")
        if plan.needs_two_steps:
            init_pid = _follow_two_steps(parent_end, pid, linux, made)
        else:
            init_pid = pid
            if plan.new_user:
                namespaces.write_id_maps(pid, linux.uid_mappings, linux.gid_mappings)
        set_oom_score_adj(init_pid, cfg.spec.process.oom_score_adj)
        parent_end.go(init_pid, namespaces.setgroups_allowed(init_pid))
        # Moving a process into v1 cgroups costs the first write a full RCU
        # grace period (~10 ms here); the init sets up its rootfs meanwhile.
        place_in_cgroups(init_pid)
        failpoints.reached("create.init-in-cgroup")
        parent_end.placed_in_cgroups()
        parent_end.wait_for_ready(
            lambda: _run_create_runtime_hooks(cfg, init_pid), _seccomp_agent_sender(cfg, init_pid)
        )
        return init_pid
    except BaseException:
        abandon(parent_end, made)  # raises the child's own report of the failure, if it sent one
        raise
    finally:
        parent_end.close()


def set_oom_score_adj(pid: int, value: int | None) -> None:
    """``process.oomScoreAdj``, written from here before the init goes on (its
    processes inherit it), as runc writes it before it enters any namespace.
    The init cannot do it itself in a user namespace: its /proc files belong to
    the host's root while it is not dumpable, and lowering the value takes the
    host's CAP_SYS_RESOURCE."""
    if value is None:
        return
    try:
        fd = os.open(f"/proc/{pid}/oom_score_adj", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)
    except OSError as e:
        from pycontainer.errors import ContainerError

        raise ContainerError(f"process.oomScoreAdj: {e.strerror}") from None


def _run_create_runtime_hooks(cfg: InitConfig, init_pid: int) -> None:
    """prestart (deprecated, same moment) then createRuntime, in the runtime's
    namespaces, while the init waits before pivot_root."""
    from pycontainer import hooks

    state = {**cfg.hook_state, "pid": init_pid, "status": "creating"}
    hooks.run_hooks(cfg.spec.hooks.prestart, state, "prestart")
    hooks.run_hooks(cfg.spec.hooks.create_runtime, state, "createRuntime")
    failpoints.reached("create.runtime-hooks-run")


def _seccomp_agent_sender(cfg: InitConfig, init_pid: int):
    """What sends the init's notify fd to the seccomp agent (SCMP_ACT_NOTIFY rules)."""
    if cfg.seccomp is None or not cfg.seccomp.has_listener:
        return None
    from pycontainer.security import notify

    seccomp = cfg.spec.linux.seccomp
    state = {**cfg.hook_state, "status": "creating", "pid": init_pid}
    return lambda fd: notify.send_to_agent(
        seccomp.listener_path, seccomp.listener_metadata, init_pid, fd, state
    )


def _follow_two_steps(channel: Channel, first: int, linux, made: list[int]) -> int:
    while True:
        msg = channel.expect("idmap_request", "init_pid")
        if msg["type"] == "idmap_request":
            namespaces.write_id_maps(msg["pid"], linux.uid_mappings, linux.gid_mappings)
            channel.id_maps_written()
            continue
        init_pid = msg["pid"]
        if init_pid != first:
            made.append(init_pid)
            os.waitpid(first, 0)  # the first child's work is done; it exits 0
            made.remove(first)
        return init_pid


def abandon(channel: Channel, made: list[int]) -> None:
    """After a failure: kill and reap every process made, then raise the
    error the child reported, if it did (its own report explains a failure
    best: a failed write to its cgroup.procs may only mean it had already
    died of it).  Its processes are gone, so the read finds it or EOF.  An
    interrupt (KeyboardInterrupt, SystemExit) is never replaced by it."""
    for pid in made:
        kill_and_reap(pid)
    if not isinstance(sys.exception(), Exception | None):
        return
    reported = channel.reported_error()
    if reported is not None:
        raise reported from None


def kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signals.SIGKILL)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
