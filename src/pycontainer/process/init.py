"""The container's init: what runs inside the new namespaces, from the clone
to execve, in order.  Only ever imported in the cloned child (so the parent
does not pay for importing what only the init uses).  ``run_init`` reads top
to bottom like runc's standard_init_linux.go; each step is a small function
below it.

The init never returns: it execs the user's process or exits, reporting any
failure over the channel first.
"""

from __future__ import annotations

import errno
import os

# Everything the init uses is imported here, before the clone: after
# pivot_root the host's filesystem, and with it Python's library, is gone.
from pycontainer import failpoints, namespaces, rootfs, signals, stdio, syscalls
from pycontainer.errors import ContainerError
from pycontainer.process import finalize
from pycontainer.process.channel import Channel
from pycontainer.process.parent import InitConfig


def run_init(cfg: InitConfig, channel: Channel, trampoline: int) -> None:
    """The container's pid 1, from the parent's go to execve.  ``trampoline``:
    the sealed memfd the user's process is exec'd through (syscalls.sealed_trampoline)."""
    spec = cfg.spec
    process = spec.process
    # Imported only when needed, and before pivot_root: no imports after it.
    if process.terminal:
        from pycontainer import console
    if spec.hooks is not None and (spec.hooks.create_container or spec.hooks.start_container):
        from pycontainer import hooks
    if process.apparmor_profile or process.selinux_label:
        from pycontainer.security import lsm
    # Id maps written; the parent places us in our cgroups meanwhile.
    cfg.hook_state["pid"], cfg.host.setgroups_allowed = channel.wait_for_go()
    # Not dumpable until execve: no process of the container may open this
    # one's /proc/1/exe (the host's interpreter), fds or map_files while it
    # waits as `created` (CVE-2019-5736).  Only now: the parent writes our id
    # maps and oom_score_adj first, which a non-dumpable process's /proc files
    # (owned by root) would refuse an unprivileged parent.
    syscalls.prctl(syscalls.PR_SET_DUMPABLE, 0)
    failpoints.reached("init.started")
    if cfg.plan.new_user:
        become_root_in_user_namespace()
    if cfg.new_keyring:
        join_session_keyring(cfg.hook_state.get("id", ""))
    if cfg.plan.new & syscalls.CLONE_NEWNET:
        namespaces.bring_up_loopback()

    if cfg.plan.has("mount"):
        rootfs.prepare(spec, cfg.cgroup_dirs, bind_devices=cfg.plan.new_user, idmapped=cfg.idmapped_fds)
        failpoints.reached("init.mounts-made")
        run_create_hooks(spec, cfg, channel)  # host paths still visible
        failpoints.reached("init.create-hooks-run")
        if process.terminal:  # on the container's devpts, bound on its /dev/console
            pty = console.open_pty(os.fspath(spec.rootfs), bind_console=True)
        rootfs.protect(spec)  # sysctls, masked and read-only paths: before the switch, by fd
        if cfg.no_pivot:
            rootfs.move_root(os.fspath(spec.rootfs))
        else:
            rootfs.pivot_root(os.fspath(spec.rootfs))
        failpoints.reached("init.root-changed")
        rootfs.finish(spec)
    else:
        # No mount namespace of its own: nothing may be mounted (the host's
        # namespace); a chroot is all the isolation of the filesystem we do.
        run_create_hooks(spec, cfg, channel)
        if process.terminal:  # nothing is mounted: no /dev/console
            pty = console.open_pty(os.fspath(spec.rootfs), bind_console=False)
        rootfs.write_sysctls(spec)
        os.chroot(os.fspath(spec.rootfs))
        os.chdir("/")
    if process.terminal:
        if cfg.console_fd is None:  # the parent passes one whenever process.terminal is set
            raise ContainerError("process.terminal is set but the init was given no console fd")
        console.setup_terminal(cfg.console_fd, pty, process.console_size)
    set_hostname(spec)
    set_personality(spec)
    channel.wait_until_in_cgroups()
    if cfg.plan.cgroupns_after_cgroup:
        syscalls.unshare(syscalls.CLONE_NEWCGROUP)  # rooted at our own cgroup now

    finalize.enter_cwd(process.cwd)
    # Finds args[0] now, so a missing program fails create, as with runc.
    # oom_score_adj was written by the parent (parent.set_oom_score_adj).
    exec_request = finalize.prepare(process, cfg.host, cfg.preserve_fds, cfg.seccomp, oom_score_adj=False)

    exec_request.trampoline_fd = trampoline

    # From here on we outlive `nsinit create`, which exits once we are ready.
    syscalls.prctl(syscalls.PR_SET_PDEATHSIG, 0)
    finalize.hand_seccomp_to_agent(exec_request, channel)
    if process.apparmor_profile or process.selinux_label:
        # For the next execve: the hooks' and ours (runc's order).
        lsm.apply_exec_labels(process, own_apparmor_attr=cfg.host.apparmor_own_attr)
    # The process's credentials now, as runc's finalizeNamespace: a failure
    # fails `create`, and the startContainer hooks run with them.
    syscalls.apply_credentials(exec_request)
    # Our own stdio now (PIPE, DEVNULL, a file...), so that even an error
    # after ready goes to the container's stderr.
    stdio.install(cfg.stdio)
    channel.report_ready()
    failpoints.reached("init.ready")
    wait_for_start(cfg.exec_fifo_fd)
    channel.close()
    failpoints.reached("init.start-received")
    if spec.hooks is not None and spec.hooks.start_container:
        # In the container's namespaces, paths resolved in its root, with the
        # process's credentials, exec'd through the trampoline as the process is.
        state = {**cfg.hook_state, "status": "created"}
        hooks.run_hooks(spec.hooks.start_container, state, "startContainer", trampoline_fd=trampoline)
    syscalls.exec_final(exec_request)  # returns only by raising


def run_create_hooks(spec, cfg: InitConfig, channel: Channel) -> None:
    """After the mounts, before pivot_root: the parent runs prestart and
    createRuntime hooks (runtime namespaces), then we run createContainer
    hooks (the container's namespaces; paths still resolve in the host's)."""
    h = spec.hooks
    if h is None:
        return
    if h.prestart or h.create_runtime:
        channel.run_create_runtime_hooks()
    if h.create_container:
        from pycontainer import hooks  # already imported by run_init

        state = {**cfg.hook_state, "status": "creating"}
        hooks.run_hooks(h.create_container, state, "createContainer")


def child_main(cfg: InitConfig, channel: Channel) -> None:
    """Entry point of every child the parent clones; never returns."""
    code = 1
    try:
        # Not ours to hold: other containers' pipes (a reader would wait for
        # EOF until we exec) and the parent's ends of our own.
        stdio.close_others(cfg.stdio or [], cfg.preserve_fds)
        # Die with the parent while it is still setting us up.
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signals.SIGKILL)
        # Read from the host's package now, before any namespace is joined.
        trampoline = syscalls.sealed_trampoline()
        if cfg.plan.needs_two_steps and not become_init_two_steps(cfg, channel):
            code = 0
            return
        run_init(cfg, channel, trampoline)
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


def join_session_keyring(container_id: str) -> None:
    """A session keyring of our own, named after the container (runc's), so the
    container cannot reach the keys of the session that started nsinit.  A
    kernel without keyrings, or a seccomp filter of the host's refusing
    keyctl, leaves us with the one we have, as runc does."""
    try:
        syscalls.join_session_keyring(f"_ses.{container_id}")
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.EPERM, errno.EACCES):
            raise


def become_root_in_user_namespace() -> None:
    """Take uid/gid 0 inside the new user namespace (if mapped), so files the
    setup makes are owned by the container's root."""
    try:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    except OSError:
        pass  # 0 is not mapped: keep the ids we have


def wait_for_start(fd: int) -> None:
    """Block until ``start`` writes its byte.  The fd stays open (it is
    close-on-exec): the starter sees it go at execve, which is how it knows
    the user's process runs before it calls the poststart hooks."""
    while True:
        try:
            data = os.read(fd, 1)
            break
        except InterruptedError:
            continue
    if not data:
        raise ContainerError("exec fifo closed before start")


def set_hostname(spec) -> None:
    if spec.hostname is not None:
        syscalls.sethostname(spec.hostname)


def set_personality(spec) -> None:
    """``linux.personality``: the execution domain, which execve keeps
    (LINUX32 makes ``uname -m`` say i686 on x86_64, as ``setarch`` does)."""
    personality = spec.linux.personality if spec.linux else None
    if personality is not None:
        syscalls.personality(syscalls.PERSONALITY_DOMAINS[personality.domain])
    if spec.domainname is not None:
        syscalls.setdomainname(spec.domainname)


def _print_late_error(exc: BaseException) -> None:
    """After ``ready`` the parent stops listening: say it on stderr, which is
    the container's."""
    try:
        os.write(2, f"nsinit: {exc}\n".encode())
    except OSError:
        pass
