"""What every container process gets before execve, the init's and those
``exec`` adds alike: the program found in the container's PATH, rlimits,
oom_score_adj, scheduler, I/O priority, umask, and the final step's request (ids, groups,
capabilities, no_new_privs).  Runs in the container's namespaces; imported
before any of them is entered (the host's Python library is gone after).
"""

from __future__ import annotations

import os
import resource

from pycontainer import syscalls
from pycontainer.errors import ContainerError, ExecutableNotFound, ResourceError
from pycontainer.securejoin import open_in_root
from pycontainer.security import capabilities

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:  # pragma: no cover
    from pycontainer.process.parent import HostFacts

UNABLE = "unable to start container process: "  # runc's wording, which engines match on


def prepare(
    process, host: HostFacts, preserve_fds: int = 0, seccomp=None, oom_score_adj: bool = True
) -> syscalls.ExecRequest:
    """Everything but the final step, in the process's cwd: find the program
    (now, so a missing one fails ``create`` or ``exec`` with a clear error),
    rlimits, oom_score_adj, umask; returns the final step's request (ids,
    capabilities, no_new_privs, the seccomp filter compiled in the parent).
    What it needs to know about the host comes from ``host``, read by the
    parent: nothing here reads the container's /proc."""
    request = _exec_request(process, host, preserve_fds)
    if seccomp is not None:
        request.seccomp_filter, request.seccomp_flags = seccomp.bpf, seccomp.flags
    apply_rlimits(process)
    if process.scheduler is not None:
        apply_scheduler(process.scheduler)
    if process.io_priority is not None:
        apply_io_priority(process.io_priority)
    if oom_score_adj:  # exec writes it before it joins the container (see exec.py)
        apply_oom_score_adj(process)
    if process.user.umask is not None:
        os.umask(process.user.umask)
    return request


SECCOMP_FILTER_FLAG_NEW_LISTENER = 8


def hand_seccomp_to_agent(request: syscalls.ExecRequest, channel) -> None:
    """A filter with SCMP_ACT_NOTIFY rules is loaded now, not by the final
    step: its notify fd must reach the seccomp agent through the parent, which
    is only there until we report ready (runc and crun load it at the same
    point).  Everything this process does from here on meets the filter."""
    if not request.seccomp_filter or not request.seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
        return
    fd = syscalls.seccomp_load(request.seccomp_filter, request.seccomp_flags)
    request.seccomp_filter = b""  # loaded: the final step has nothing left to load
    try:
        channel.hand_over_seccomp_fd(fd)
    finally:
        os.close(fd)


def enter_cwd(cwd: str) -> None:
    """chdir to ``process.cwd``, resolved inside the container's root.

    A plain chdir would follow a magic link: ``/proc/self/fd/N`` names
    whatever fd N of this process is, and a directory fd of the host that
    the runtime (or a program embedding the library) holds would put the
    process's cwd outside its root (CVE-2024-21626).  The path is resolved
    like every mount target, symlinks and magic links as plain links inside
    the root; getcwd then proves the result is reachable from the root."""
    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = open_in_root(root, cwd)
    except OSError as e:
        raise ContainerError(f"process.cwd {cwd}: {e.strerror}") from None
    finally:
        os.close(root)
    try:
        os.fchdir(fd)
    except OSError as e:
        raise ContainerError(f"process.cwd {cwd}: {e.strerror}") from None
    finally:
        os.close(fd)
    try:
        os.getcwd()  # ENOENT: "(unreachable)", a directory outside our root
    except OSError:
        raise ContainerError(f"process.cwd {cwd}: outside the container's root") from None


def _exec_request(process, host: HostFacts, preserve_fds: int) -> syscalls.ExecRequest:
    """The final step's request, with argv, env and the program's path already
    C strings: whatever cannot be one fails here, before ``ready``, not in the
    final step after ``create`` has reported success."""
    argv = c_strings(process.args, "process.args")
    envp = c_strings(process.env, "process.env")
    path = os.fsencode(find_executable(process.args[0], list(process.env)))
    user = process.user
    caps = capabilities.masks(process.capabilities, host.last_cap)
    _check_held(caps["permitted"])
    groups = list(user.additional_gids) if host.setgroups_allowed else None
    return syscalls.ExecRequest(
        path=path,
        argv=argv,
        envp=envp,
        close_from=3 + preserve_fds,
        uid=user.uid,
        gid=user.gid,
        groups=groups,
        capabilities=caps,
        last_cap=host.last_cap,
        no_new_privs=process.no_new_privileges,
    )


def _check_held(permitted: int) -> None:
    """capset(2) can only keep what this process holds: a capability the runtime lacks (no
    CAP_SYS_RESOURCE on some hosts) would fail the final step after ``ready``.  Fail now, as
    runc fails ``create`` ("unable to apply caps")."""
    _, held, _ = syscalls.capget()
    missing = permitted & ~held
    if missing:
        raise ContainerError(
            f"{UNABLE}unable to apply caps: process.capabilities.permitted: "
            f"{', '.join(capabilities.names(missing))} not held by the runtime"
        )


def c_strings(values: list[str], field: str) -> list[bytes]:
    """``values`` as the bytes execve gets (os.fsencode's), each checked:
    a NUL would cut it short, a lone surrogate has no encoding."""
    out = []
    for i, value in enumerate(values):
        try:
            data = os.fsencode(value)
        except UnicodeEncodeError as e:
            raise ContainerError(f"{UNABLE}{field}[{i}]: {e.reason}") from None
        if b"\0" in data:
            raise ContainerError(f"{UNABLE}{field}[{i}]: can't contain null(\\x00)")
        out.append(data)
    return out


def find_executable(name: str, env: list[str]) -> str:
    """Resolve args[0] as execve would after a PATH search (runc: Go's LookPath)."""
    if "/" in name:
        if _is_executable(name):
            return name
        reason = (
            f"stat {name}: no such file or directory" if not os.path.exists(name) else "permission denied"
        )
        raise ExecutableNotFound(f'{UNABLE}exec: "{name}": {reason}')
    search = next((e[5:] for e in reversed(env) if e.startswith("PATH=")), "")
    for directory in search.split(":"):
        candidate = os.path.join(directory or ".", name)
        if _is_executable(candidate):
            return candidate
    raise ExecutableNotFound(f'{UNABLE}exec: "{name}": executable file not found in $PATH')


def _is_executable(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not os.path.isdir(path) and bool(st.st_mode & 0o111)


SCHED_POLICIES = {
    "SCHED_OTHER": 0,
    "SCHED_FIFO": 1,
    "SCHED_RR": 2,
    "SCHED_BATCH": 3,
    "SCHED_ISO": 4,
    "SCHED_IDLE": 5,
    "SCHED_DEADLINE": 6,
}
SCHED_FLAGS = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01,
    "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10,
    "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}


def apply_scheduler(sched) -> None:
    """``process.scheduler``: sched_setattr(2) with every field (execve keeps it)."""
    flags = 0
    for name in sched.flags:
        flags |= SCHED_FLAGS[name]
    try:
        syscalls.sched_setattr(
            SCHED_POLICIES[sched.policy],
            flags,
            sched.nice,
            sched.priority,
            sched.runtime,
            sched.deadline,
            sched.period,
        )
    except OSError as e:
        raise ContainerError(f"{UNABLE}process.scheduler ({sched.policy}): {e.strerror}") from None


def apply_io_priority(prio) -> None:
    """``process.ioPriority``: ioprio_set(2) for this process (execve keeps it)."""
    try:
        syscalls.ioprio_set(IOPRIO_CLASSES[prio.class_], prio.priority)
    except OSError as e:
        raise ContainerError(f"{UNABLE}process.ioPriority ({prio.class_}): {e.strerror}") from None


def cpu_list(text: str) -> set[int]:
    """A cpu list as the kernel writes them ("0-3,7") as a set of cpu numbers."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


# rlim_t is unsigned 64 bits and RLIM_INFINITY is its top (18446744073709551615, what engines
# write for "unlimited"); Python's resource module takes C longs, with -1 for infinity.  A value
# from 2**63 up cannot be a real limit: it is unlimited, as runc has it.
RLIM_INFINITY_FROM = 2**63


def rlimit_value(value: int) -> int:
    """A config's rlimit value as resource.setrlimit takes it."""
    return resource.RLIM_INFINITY if value >= RLIM_INFINITY_FROM else value


def apply_rlimits(process) -> None:
    for i, rl in enumerate(process.rlimits):
        which = getattr(resource, rl.type, None)
        if which is None:
            raise ContainerError(f"process.rlimits[{i}].type: {rl.type} is not supported on this host")
        try:
            resource.setrlimit(which, (rlimit_value(rl.soft), rlimit_value(rl.hard)))
        except (OSError, ValueError) as e:
            raise ResourceError(
                f"process.rlimits[{i}]: setrlimit {rl.type} soft={rl.soft} hard={rl.hard}: {e}",
                f"process.rlimits[{i}]",
                value=f"{rl.soft} {rl.hard}",
                error_number=getattr(e, "errno", None),
            ) from None


def apply_oom_score_adj(process) -> None:
    if process.oom_score_adj is None:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(process.oom_score_adj))
    except OSError as e:
        raise ContainerError(f"process.oomScoreAdj: {e.strerror}") from None
