"""The container's init: what runs inside the new namespaces, from the clone
to execve, in order.  Only ever imported in the cloned child (so the parent
does not pay for importing what only the init uses).  ``run_init`` reads top to bottom like runc's
standard_init_linux.go; each step is a small function below it.

The init never returns: it execs the user's process or exits, reporting any
failure over the channel first.
"""

from __future__ import annotations

import os
import resource

# Everything the init uses is imported here, before the clone: after
# pivot_root the host's filesystem, and with it Python's library, is gone.
from pycontainer import namespaces, rootfs, signals, syscalls
from pycontainer.errors import ContainerError, ExecutableNotFound
from pycontainer.process.channel import Channel
from pycontainer.process.parent import InitConfig
from pycontainer.security import capabilities


def run_init(cfg: InitConfig, channel: Channel) -> None:
    """The container's pid 1, from the parent's go to execve."""
    spec = cfg.spec
    process = spec.process
    channel.wait_for_go()  # id maps written; the parent places us in our cgroups meanwhile
    if cfg.plan.new_user:
        become_root_in_user_namespace()
    if cfg.plan.new & syscalls.CLONE_NEWNET:
        namespaces.bring_up_loopback()

    if cfg.plan.has("mount"):
        rootfs.prepare(spec, cfg.cgroup_dirs, bind_devices=cfg.plan.new_user)
        if cfg.no_pivot:
            rootfs.move_root(os.fspath(spec.rootfs))
        else:
            rootfs.pivot_root(os.fspath(spec.rootfs))
        rootfs.finish(spec)
    else:
        # No mount namespace of its own: nothing may be mounted (the host's
        # namespace); a chroot is all the isolation of the filesystem we do.
        os.chroot(os.fspath(spec.rootfs))
        os.chdir("/")
        rootfs.write_sysctls(spec)
    set_hostname(spec)
    channel.wait_until_in_cgroups()
    if cfg.plan.cgroupns_after_cgroup:
        syscalls.unshare(syscalls.CLONE_NEWCGROUP)  # rooted at our own cgroup now

    os.chdir(process.cwd)
    exec_request = prepare_exec(spec, cfg.preserve_fds)  # finds args[0] or fails create, as runc
    apply_rlimits(process)
    apply_oom_score_adj(process)
    if process.user.umask is not None:
        os.umask(process.user.umask)

    # From here on we outlive `nsinit create`, which exits once we are ready.
    syscalls.prctl(syscalls.PR_SET_PDEATHSIG, 0)
    channel.report_ready()
    wait_for_start(cfg.exec_fifo_fd)
    channel.close()
    syscalls.exec_final(exec_request)  # returns only by raising


def child_main(cfg: InitConfig, channel: Channel) -> None:
    """Entry point of every child the parent clones; never returns."""
    code = 1
    try:
        # Die with the parent while it is still setting us up.
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signals.SIGKILL)
        if cfg.plan.needs_two_steps and not become_init_two_steps(cfg, channel):
            code = 0
            return
        run_init(cfg, channel)
    except BaseException as exc:  # noqa: BLE001 - everything must reach the parent
        if isinstance(exc, OSError) and not isinstance(exc, ContainerError):
            exc = ContainerError(f"unable to start container process: {exc}")
        if not channel.report_error(exc):
            _print_late_error(exc)
    finally:
        os._exit(code)


def become_init_two_steps(cfg: InitConfig, channel: Channel) -> bool:
    """The two-step path: join namespaces by path, make the new ones, and clone
    the init (a sibling of ours, CLONE_PARENT, so the parent can wait for it).
    Returns True in the process that is to become the init."""
    plan = cfg.plan
    namespaces.join(plan, ("user",))
    if plan.new_user:
        syscalls.unshare(syscalls.CLONE_NEWUSER)
        channel.request_id_maps(os.getpid())
        become_root_in_user_namespace()
    namespaces.join(plan, tuple(t for t in namespaces.JOIN_ORDER if t != "user"))
    syscalls.unshare(plan.new & ~syscalls.CLONE_NEWUSER)
    if plan.new & syscalls.CLONE_NEWTIME and cfg.spec.linux.time_offsets:
        namespaces.write_time_offsets(cfg.spec.linux.time_offsets)
    if plan.has("pid") or plan.has("time"):
        # pid and time namespaces take effect for children only.
        pid = syscalls.clone(syscalls.CLONE_PARENT)
        if pid:
            channel.report_init_pid(pid)
            return False
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signals.SIGKILL)
        return True
    channel.report_init_pid(os.getpid())
    return True


def become_root_in_user_namespace() -> None:
    """Take uid/gid 0 inside the new user namespace (if mapped), so files the
    setup makes are owned by the container's root."""
    try:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    except OSError:
        pass  # 0 is not mapped: keep the ids we have


def wait_for_start(fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 1)
            break
        except InterruptedError:
            continue
    os.close(fd)
    if not data:
        raise ContainerError("exec fifo closed before start")


def set_hostname(spec) -> None:
    if spec.hostname is not None:
        syscalls.sethostname(spec.hostname)
    if spec.domainname is not None:
        syscalls.setdomainname(spec.domainname)


def prepare_exec(spec, preserve_fds: int) -> syscalls.ExecRequest:
    """Build the final step's request: the program (looked up now, so a
    missing one fails ``create``), ids, capabilities, no_new_privs."""
    process = spec.process
    env = list(process.env)
    path = find_executable(process.args[0], env)
    user = process.user
    caps = capabilities.masks(process.capabilities) if process.capabilities is not None else None
    groups = list(user.additional_gids) if namespaces.setgroups_allowed() else None
    return syscalls.ExecRequest(
        path=path,
        argv=list(process.args),
        envp=env,
        close_from=3 + preserve_fds,
        uid=user.uid,
        gid=user.gid,
        groups=groups,
        capabilities=caps,
        last_cap=capabilities.last_cap(),
        no_new_privs=process.no_new_privileges,
    )


def find_executable(name: str, env: list[str]) -> str:
    """Resolve args[0] as execve would after a PATH search (runc: Go's LookPath)."""
    if "/" in name:
        if _is_executable(name):
            return name
        raise ExecutableNotFound(
            f'exec: "{name}": stat {name}: no such file or directory'
            if not os.path.exists(name)
            else f'exec: "{name}": permission denied'
        )
    search = next((e[5:] for e in reversed(env) if e.startswith("PATH=")), "")
    for directory in search.split(":"):
        candidate = os.path.join(directory or ".", name)
        if _is_executable(candidate):
            return candidate
    raise ExecutableNotFound(f'exec: "{name}": executable file not found in $PATH')


def _is_executable(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not os.path.isdir(path) and bool(st.st_mode & 0o111)


def apply_rlimits(process) -> None:
    for i, rl in enumerate(process.rlimits):
        which = getattr(resource, rl.type, None)
        if which is None:
            raise ContainerError(f"process.rlimits[{i}].type: {rl.type} is not supported on this host")
        try:
            resource.setrlimit(which, (rl.soft, rl.hard))
        except (OSError, ValueError) as e:
            raise ContainerError(
                f"process.rlimits[{i}]: setrlimit {rl.type} soft={rl.soft} hard={rl.hard}: {e}"
            ) from None


def apply_oom_score_adj(process) -> None:
    if process.oom_score_adj is None:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(process.oom_score_adj))
    except OSError as e:
        raise ContainerError(f"process.oomScoreAdj: {e.strerror}") from None


def _print_late_error(exc: BaseException) -> None:
    """After ``ready`` the parent stops listening: say it on stderr, which is
    the container's."""
    try:
        os.write(2, f"nsinit: {exc}\n".encode())
    except OSError:
        pass
