"""A new process in a running container (``nsinit exec ID CMD``, runc exec).

The parent clones a helper that joins the init's namespaces (user first,
mount last, as for a container's init) and clones the new process with
CLONE_PARENT: pid and time namespaces apply to children only, and the process
must stay our child so we can wait for it.  The parent puts it in the
container's cgroups, then lets it go on: it finds its program, applies the
process's settings and execs through the C core's final step, as the init
does.  Messages: ``init_pid`` (the new process's host pid), ``go`` from the
parent, ``ready`` or ``error`` from the process (see channel.py).
"""

from __future__ import annotations

import os

from pycontainer import failpoints, namespaces, signals, stdio, syscalls
from pycontainer.errors import ContainerError
from pycontainer.process.channel import Channel
from pycontainer.process.parent import HostFacts, abandon, log_unraisable_ambient

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from pycontainer.spec.models import Personality

# /proc/PID/ns names of the namespace types, in join order.
NS_FILES = {
    "user": "user",
    "ipc": "ipc",
    "uts": "uts",
    "network": "net",
    "pid": "pid",
    "cgroup": "cgroup",
    "time": "time",
    "mount": "mnt",
}


class ExecConfig:
    """What the new process needs, decided by the parent before the clone."""

    __slots__ = (
        "process",
        "join",
        "preserve_fds",
        "seccomp",
        "console_fd",
        "seccomp_agent",
        "personality",
        "host",
        "stdio",
    )

    def __init__(
        self,
        process,
        join: list[tuple[str, str]],
        preserve_fds: int = 0,
        seccomp=None,
        console_fd: int | None = None,
        seccomp_agent=None,
    ) -> None:
        self.process = process
        # (listenerPath, listenerMetadata, the container's state) for a filter with SCMP_ACT_NOTIFY rules
        self.seccomp_agent = seccomp_agent
        self.seccomp = seccomp  # the container's compiled filter, or None
        self.console_fd = console_fd  # where the process sends its pty's master (process.terminal)
        self.join = join  # (type, /proc/INIT/ns/...) for every namespace the init does not share with us
        self.preserve_fds = preserve_fds
        self.personality: Personality | None = (
            None  # the container's linux.personality: exec'd processes run in it too
        )
        self.host = HostFacts.of_this_host()  # in the parent: the container may fake its /proc
        self.stdio: list[int | None] | None = None  # the fds its 0, 1, 2 become (stdio.Streams)


def namespaces_of_init(pidfd: int, pid: int) -> tuple[list[tuple[str, str]], list[int]]:
    """The namespaces of the init (held by ``pidfd``, pid ``pid``) that
    differ from ours, in join order, opened now: (type, /proc/self/fd/N)
    pairs for the helper (it inherits the fds), and the fds to close once
    the process is spawned.  Each is opened by pid and then checked against
    the pidfd (state.open_namespace_of): pid reuse cannot hand us another
    process's namespaces."""
    from pycontainer.state import open_namespace_of

    joins: list[tuple[str, str]] = []
    fds: list[int] = []
    try:
        for ns_type in namespaces.JOIN_ORDER:
            name = NS_FILES[ns_type]
            try:
                fd = open_namespace_of(pidfd, pid, name)
            except FileNotFoundError:
                continue  # a namespace type this kernel lacks
            except OSError as e:
                raise ContainerError(
                    f"cannot open the container's {ns_type} namespace: {e.strerror}"
                ) from None
            theirs, ours = os.fstat(fd), os.stat(f"/proc/self/ns/{name}")
            if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
                os.close(fd)
                continue
            fds.append(fd)
            joins.append((ns_type, f"/proc/self/fd/{fd}"))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return joins, fds


def spawn_exec(cfg: ExecConfig, place_in_cgroups) -> int:
    """Start the process; ``place_in_cgroups(pid)`` moves it into the
    container's cgroups before it goes on.  Returns its host pid (our child)
    once it is about to exec.  On failure every process made here is killed
    and reaped."""
    log_unraisable_ambient(cfg.process)
    parent_end, child_end = Channel.pair()
    with stdio.CLONE_LOCK:  # see stdio.py
        helper = syscalls.clone(0)
    if helper == 0:
        parent_end.close()
        _child_main(cfg, child_end)  # never returns
    child_end.close()
    made = [helper]
    try:
        pid = parent_end.expect("init_pid")["pid"]
        made.append(pid)
        failpoints.reached("exec.process-cloned")
        os.waitpid(helper, 0)
        made.remove(helper)
        place_in_cgroups(pid)
        failpoints.reached("exec.process-in-cgroup")
        parent_end.go(pid, namespaces.setgroups_allowed(pid))
        parent_end.wait_for_ready(on_seccomp_fd=_agent_sender(cfg.seccomp_agent, pid))
        return pid
    except BaseException:
        abandon(parent_end, made)  # raises the child's own report of the failure, if it sent one
        raise
    finally:
        parent_end.close()


def _agent_sender(agent, pid: int):
    if agent is None:
        return None
    from pycontainer.security import notify

    path, metadata, state = agent
    return lambda fd: notify.send_to_agent(path, metadata, pid, fd, state)


def _child_main(cfg: ExecConfig, channel: Channel) -> None:
    """The helper, then (after the second clone) the new process."""
    code = 1
    try:
        # Other containers' pipes, our parent's ends of ours (see stdio.py)
        stdio.close_others(cfg.stdio or [], cfg.preserve_fds)
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signals.SIGKILL)
        # Imported before the mount namespace is joined: the host's Python
        # library is not there.
        from pycontainer.process import finalize

        affinity = cfg.process.exec_cpu_affinity
        if affinity is not None and affinity.initial:
            os.sched_setaffinity(0, finalize.cpu_list(affinity.initial))  # before the cgroup move

        # Not dumpable until execve: the container's processes must not reach
        # this process's /proc/PID/exe, root or fds, the host's interpreter
        # among them (CVE-2019-5736); execve makes the program dumpable again.
        # Its /proc files then belong to the host's root, so oom_score_adj is
        # written first (the new process inherits it), as runc does.
        finalize.apply_oom_score_adj(cfg.process)
        syscalls.prctl(syscalls.PR_SET_DUMPABLE, 0)
        # What the process is exec'd through, read before the mount namespace is joined.
        trampoline = syscalls.sealed_trampoline()
        if cfg.process.terminal:
            from pycontainer import console
        labels = cfg.process.apparmor_profile or cfg.process.selinux_label
        if labels:
            from pycontainer import procfs
            from pycontainer.security import lsm

            procfs.root()  # opened on the host's /proc, before the container's mount namespace
        plan = namespaces.Plan(join=cfg.join)
        namespaces.join(plan)
        failpoints.reached("exec.namespaces-joined")
        pid = syscalls.clone(syscalls.CLONE_PARENT)
        if pid:
            channel.report_init_pid(pid)
            code = 0
            return
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signals.SIGKILL)
        _, cfg.host.setgroups_allowed = channel.wait_for_go()
        process = cfg.process
        if process.terminal:
            if cfg.console_fd is None:  # the caller passes one whenever process.terminal is set
                raise ContainerError("process.terminal is set but the process was given no console fd")
            pty = console.open_pty("/", bind_console=False)  # on the container's devpts
            console.setup_terminal(cfg.console_fd, pty, process.console_size)
        if cfg.personality is not None:
            syscalls.personality(syscalls.PERSONALITY_DOMAINS[cfg.personality.domain])
        if affinity is not None and (affinity.final or affinity.initial):
            # In the container's cgroups now.  Without a final list, every cpu:
            # the kernel keeps those of the cgroup's cpuset.
            final = finalize.cpu_list(affinity.final) if affinity.final else range(cfg.host.cpu_count)
            os.sched_setaffinity(0, final)
        finalize.enter_cwd(process.cwd)
        request = finalize.prepare(process, cfg.host, cfg.preserve_fds, cfg.seccomp, oom_score_adj=False)
        request.trampoline_fd = trampoline
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, 0)  # `exec -d` returns now
        finalize.hand_seccomp_to_agent(request, channel)
        if labels:
            lsm.apply_exec_labels(process, own_apparmor_attr=cfg.host.apparmor_own_attr)
        syscalls.apply_credentials(request)  # a failure is reported over the channel
        stdio.install(cfg.stdio)
        channel.report_ready()
        channel.close()
        syscalls.exec_final(request)
    except BaseException as exc:  # noqa: BLE001 - everything must reach the parent
        if isinstance(exc, OSError) and not isinstance(exc, ContainerError):
            exc = ContainerError(f"unable to start container process: {exc}")
        if not channel.report_error(exc):
            try:
                os.write(2, f"nsinit: {exc}\n".encode())
            except OSError:
                pass
    finally:
        os._exit(code)
