"""The container lifecycle: create, start, wait, kill, delete, state.

``Container`` is what other tools import; the CLI is a thin layer over it.
Creation registers an undo step for everything it makes (state dir, cgroups,
processes) on an undo stack, so a failure at any step leaves nothing behind::

    from pycontainer import Container
    with Container.create("demo", "/path/to/bundle") as c:
        c.start()
        print(c.wait())
"""

from __future__ import annotations

import builtins  # `list` below is also Container.list: annotations in the class say builtins.list
import errno
import os
import time

from pycontainer import OCI_VERSION, failpoints, signals
from pycontainer.errors import (
    ConfigError,
    ContainerError,
    ContainerNotFound,
    InvalidState,
    ResourceError,
    TimeoutExpired,
)
from pycontainer.log import get_logger
from pycontainer.popen import PopenLike
from pycontainer.state import (
    State,
    StateDir,
    check_id,
    default_root,
    now_rfc3339,
    open_process,
    process_start_time,
    signal_process,
    wait_exited,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Iterator
    from types import TracebackType
    from typing import Any

    from pycontainer.cgroups import Manager
    from pycontainer.namespaces import Plan
    from pycontainer.network import Network as NetworkPlan
    from pycontainer.rootless import NoCgroups
    from pycontainer.security.seccomp import CompiledFilter
    from pycontainer.spec.models import Linux, Mount, Process, Resources, Spec
    from pycontainer.stdio import StdioArg, Streams

CGROUP_ROOT = "/sys/fs/cgroup"
SECCOMP_CACHE = "~seccomp"  # under the state root; "~" is not allowed in container ids
log = get_logger(__name__)


class Undo:
    """The undo steps of a creation in progress (crun's cleanup_* functions;
    contextlib.ExitStack, minus the cost of importing contextlib): on an
    exception every registered step runs, newest first; ``pop_all`` on
    success keeps what was made."""

    __slots__ = ("_steps",)

    def __init__(self) -> None:
        self._steps: list[tuple[Callable[..., object], tuple[object, ...]]] = []

    def callback(self, fn: Callable[..., object], *args: object) -> None:
        self._steps.append((fn, args))

    def pop_all(self) -> None:
        self._steps = []

    def __enter__(self) -> Undo:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        interrupted: BaseException | None = None
        while self._steps:
            fn, args = self._steps.pop()
            try:
                fn(*args)
            except BaseException as e:  # noqa: BLE001 - keep undoing; the first error is what matters
                if exc is not None:
                    exc.add_note(f"while cleaning up: {e!r}")
                if not isinstance(e, Exception) and interrupted is None:
                    interrupted = e  # a second Ctrl-C: finish undoing first
        if interrupted is not None and isinstance(exc, Exception | None):
            raise interrupted


class ExecProcess(PopenLike):
    """A process ``Container.exec`` started (a child of the calling process),
    shaped like ``subprocess.Popen``: ``pid``, ``stdin``/``stdout``/``stderr``
    (file objects for PIPE), ``wait(timeout)``, ``communicate()``, ``kill()``."""

    def __init__(self, pid: int, args: object = None) -> None:
        self.pid = pid
        # Opened while it is our unreaped child: the pid cannot be anyone else's yet.
        self._init_popen(os.pidfd_open(pid), args)
        self.console: int | None = None

    def terminal(self) -> int:
        """The master of the process's pty (terminal without a console socket)."""
        if self.console is None:
            raise InvalidState("this process has no terminal to hand out here")
        from pycontainer import console

        try:
            return console.recv_fd(self.console)
        finally:
            os.close(self.console)
            self.console = None

    def kill(self, sig: int = signals.SIGTERM) -> None:
        """Signal it through its pidfd; nothing once it has exited."""
        with self._reap_lock:  # not while another thread reaps (and closes) it
            if self._pidfd is not None:
                signal_process(self._pidfd, sig)


class Container(PopenLike):
    """A container under a state root, found by id.  Shaped like
    ``subprocess.Popen`` for its init: ``stdin``/``stdout``/``stderr`` (file
    objects for PIPE at create), ``wait(timeout)``, ``await
    wait_async(timeout)``, ``communicate()``, ``stop()``."""

    def __init__(self, state_dir: StateDir, state: State) -> None:
        self._dir = state_dir
        self._state = state
        self._console: int | None = None  # our end of the terminal's socketpair
        self._init_popen(None, state.id)  # create() gives it the init's pidfd and args

    def _exit_fd(self) -> tuple[int | None, bool]:
        if self._pidfd is not None:
            return self._pidfd, False
        return self._open_init(), True  # not made here: by pid and start time

    def terminal(self) -> int:
        """The master of the container's pty (``process.terminal`` without a
        console socket); the caller owns the fd."""
        if self._console is None:
            raise InvalidState("this container has no terminal to hand out here")
        from pycontainer import console

        try:
            return console.recv_fd(self._console)
        finally:
            os.close(self._console)
            self._console = None

    # -- finding and making ----------------------------------------------------
    @classmethod
    def load(cls, container_id: str, root: str | os.PathLike | None = None) -> Container:
        """The existing container ``container_id`` (ContainerNotFound if none);
        ``root`` defaults to :func:`state.default_root`."""
        state_dir = StateDir(default_root() if root is None else root, container_id)
        return cls(state_dir, state_dir.load())

    @classmethod
    def create(
        cls,
        container_id: str,
        bundle: str | os.PathLike | None = None,
        *,
        spec: Spec | None = None,
        root: str | os.PathLike | None = None,
        pid_file: str | os.PathLike | None = None,
        no_pivot: bool = False,
        preserve_fds: int = 0,
        console_socket: str | None = None,
        terminal_here: bool = True,
        new_keyring: bool = True,
        strict: bool = False,
        stdin: StdioArg = None,
        stdout: StdioArg = None,
        stderr: StdioArg = None,
        text: bool = False,
        encoding: str | None = None,
        errors: str | None = None,
    ) -> Container:
        """Make the container up to the user's process: namespaces, cgroups,
        rootfs.  Its init then waits for :meth:`start`.  Give a ``bundle``
        directory (its config.json is loaded) or a loaded ``spec``.  With
        ``process.terminal``, the pty's master goes to ``console_socket``, or
        without one to :meth:`terminal` (``terminal_here``: the caller stays
        to use it; ``nsinit create`` does not, and then needs the socket).
        ``root``: the state root (default :func:`state.default_root`).
        ``strict``: for an unprivileged user, a limit of ``linux.resources``
        that cannot be applied (its cgroup not delegated) is a ResourceError
        naming its JSON path, not a warning.

        ``stdin``, ``stdout``, ``stderr``: as subprocess's, the init's fds
        0, 1, 2: None (the caller's own), ``pycontainer.PIPE`` (then
        ``c.stdin``/``c.stdout``/``c.stderr`` are our ends, binary unless
        ``text``/``encoding``/``errors``), ``pycontainer.DEVNULL``, an fd or
        a file object, and ``pycontainer.STDOUT`` for stderr.  No fd of the
        caller is touched, so threads may create containers at once.  With
        ``process.terminal`` the process's stdio is the pty (its master is
        :meth:`terminal`'s): these must stay None."""
        from pycontainer import cgroups, namespaces
        from pycontainer.cgroups.resources import apply_resources, init_oom_killed
        from pycontainer.process.parent import InitConfig, kill_and_reap, open_exec_fifo, spawn_init
        from pycontainer.spec import check, dump, load_config

        check_id(container_id)  # it names a directory and a cgroup: first of all
        root = default_root() if root is None else root
        _check_preserve_fds(preserve_fds)
        if spec is None:
            if bundle is None:
                raise TypeError("Container.create needs a bundle or a spec")
            spec = load_config(os.path.join(bundle, "config.json"), bundle=bundle)
        check(spec)
        process = _check_runnable(spec)
        _check_mount_count(spec)
        streams_wanted = _check_stdio(process, stdin, stdout, stderr)
        net = _network_plan(spec, root, container_id)  # before the namespace plan: it may join a peer's
        if process.terminal and not console_socket and not terminal_here:
            raise ContainerError(
                "cannot allocate a terminal for a detached container without --console-socket"
            )
        plan = namespaces.plan(spec.linux.namespaces if spec.linux else [])
        if spec.mounts and not plan.has("mount"):
            raise ConfigError("mounts need a new or joined mount namespace (linux.namespaces)", "mounts")
        namespaces.check_join_paths(plan)
        rootless = os.geteuid() != 0
        if rootless:
            _check_rootless(spec, plan)
        cgroups_path = (spec.linux.cgroups_path if spec.linux else None) or cgroups.default_cgroups_path(
            container_id
        )
        cgroups.normalize_cgroups_path(cgroups_path)  # a bad path fails before anything is made
        seccomp = _compile_seccomp(spec, root)  # in the parent; the init only loads it

        state_dir = StateDir(root, container_id)
        manager = cgroups.manager_for(cgroups_path, container_id)
        with Undo() as undo:
            if net is not None:
                undo.callback(net.close)
            state_dir.create()
            undo.callback(state_dir.remove)
            failpoints.reached("create.state-dir")
            # On record before anything else is made, so that `delete --force`
            # after a create killed at any later step finds all of it.
            state = State(
                id=container_id,
                bundle=os.fspath(spec.bundle),
                rootfs=os.fspath(spec.rootfs),
                created=now_rfc3339(),
                annotations=dict(spec.annotations),
                owner="",
                cgroups_path=manager.path,
                cgroup_paths={k: os.fspath(v) for k, v in manager.paths().items()},
                cgroup_created=_cgroup_dirs_to_make(manager),
                hooks=_later_hooks(spec),
                creator_pid=os.getpid(),
                creator_start_time=process_start_time(os.getpid()) or 0,
            )
            state_dir.save(state)
            state_dir.save_config(dump(spec))
            failpoints.reached("create.state-saved")
            fifo_fd = open_exec_fifo(state_dir.fifo)
            undo.callback(os.close, fifo_fd)
            ours, console_fd = _console_fds(process, console_socket, undo)
            streams = _open_streams(streams_wanted, stdin, stdout, stderr, undo)
            idmapped = _idmapped_mounts(spec, undo)
            if net is not None:
                net.prepare(state_dir.path)  # records what it will make, before making it
            # The cgroups are made before the clone: after it, every page the
            # parent touches is copied on write.
            resources = spec.linux.resources if spec.linux else None
            # Undone from before the first mkdir: an interrupt (Ctrl-C) in the
            # middle leaves no directory that only the state on record names.
            undo.callback(_remove_cgroups, manager, list(state.cgroup_created))
            if rootless:  # only the cgroups delegated to the user; the rest is a warning
                from pycontainer import rootless as rl

                manager = rl.delegated_cgroups(manager)
                undo.callback(manager.destroy)
                rl.apply_resources(manager, resources, strict=strict)
            else:
                manager.create()
                failpoints.reached("create.cgroup-made")
                apply_resources(manager, resources)
                failpoints.reached("create.resources-applied")
            init_cfg = InitConfig(
                spec=spec,
                plan=plan,
                exec_fifo_fd=fifo_fd,
                cgroup_dirs=_cgroup_mount_dirs(manager),
                no_pivot=no_pivot,
                preserve_fds=preserve_fds,
                seccomp=seccomp,
                console_fd=console_fd,
                new_keyring=new_keyring,
            )
            init_cfg.idmapped_fds = idmapped
            init_cfg.stdio = streams.child if streams is not None else None
            init_cfg.hook_state = {
                "ociVersion": OCI_VERSION,
                "id": container_id,
                "bundle": os.fspath(spec.bundle),
                "annotations": dict(spec.annotations),
            }
            try:
                pid = spawn_init(init_cfg, _placer(manager, net, rootless, strict and resources is not None))
            except ContainerError:
                oom = init_oom_killed(manager, resources)  # a memory limit below the init's needs
                if oom is not None:
                    raise oom from None
                raise
            undo.callback(kill_and_reap, pid)
            failpoints.reached("create.init-ready")
            if net is not None:
                # While the init waits on its exec fifo; undone before it is killed
                # (moved devices come back out of its namespace).
                from pycontainer import network

                undo.callback(network.teardown, state_dir.path, pid)
                net.setup(pid)

            state.pid = pid
            state.init_start_time = process_start_time(pid) or 0
            state.cgroup_paths = {k: os.fspath(v) for k, v in manager.paths().items()}
            state.cgroup_created = [os.fspath(d) for d in manager.created_dirs()]
            state.creator_pid = state.creator_start_time = 0
            state_dir.save(state)
            failpoints.reached("create.state-complete")
            if pid_file is not None:
                write_pid_file(pid_file, pid)
                failpoints.reached("create.pid-file")
            undo.pop_all()
        os.close(fifo_fd)
        if net is not None:
            net.close()  # the init has joined a shared namespace
        for fd in idmapped.values():
            os.close(fd)  # the init has moved them into place
        if console_fd is not None:
            os.close(console_fd)  # the init's end
        state.status = "created"
        container = cls(state_dir, state)
        container._console = ours
        # Our child, not reaped before this: the pid is the init's for sure.
        container._pidfd = os.pidfd_open(pid)
        container.args = list(process.args)
        if streams is not None:
            streams.close_child_ends()  # the init's now: EOF comes when its process is done
            container.stdin, container.stdout, container.stderr = streams.files(text, encoding, errors)
        return container

    @classmethod
    def run(cls, container_id: str, bundle: str | os.PathLike | None = None, **kwargs: Any) -> int | None:
        """create + start + wait + delete; returns the exit code (None if it
        cannot be known, as for :meth:`wait`)."""
        with cls.create(container_id, bundle, **kwargs) as c:
            c.start()
            return c.wait()

    # -- what it is ------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._state.id

    @property
    def pid(self) -> int:
        return self._state.pid

    @property
    def status(self) -> str:
        status = self._dir.status_of(self._state)
        if status == "running" and self._frozen():
            status = "paused"
        self._state.status = status
        return status

    def _frozen(self) -> bool:
        from pycontainer.cgroups import freezer

        return freezer.is_frozen(self._state.cgroup_paths)

    def pause(self) -> None:
        """Freeze every process of a running container (its cgroup freezer)."""
        from pycontainer.cgroups import freezer

        with self._dir.lock():
            status = self.status
            if status != "running":
                raise InvalidState(f"cannot pause a container that is {status} (only a running one)")
            freezer.freeze(self._state.cgroup_paths)

    def resume(self) -> None:
        """Thaw a paused container: its processes run again."""
        from pycontainer.cgroups import freezer

        with self._dir.lock():
            status = self.status
            if status != "paused":
                raise InvalidState(f"cannot resume a container that is {status} (only a paused one)")
            freezer.thaw(self._state.cgroup_paths)

    def state(self) -> State:
        """The container's :class:`~pycontainer.state.State`, its status freshly derived."""
        self.status  # noqa: B018 - refreshes the derived status
        return self._state

    def _open_init(self) -> int | None:
        """A pidfd for the init on record, None if it is no longer that
        process (ended, its pid maybe reused): every signal and namespace
        join goes through it, so pid reuse can never reach a host process."""
        return open_process(self._state.pid, self._state.init_start_time)

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Let the init exec the user's process (runc's exec-fifo semantics)."""
        with self._dir.lock():
            fd = self._start()
        try:
            if self._state.hooks.get("poststart"):
                _wait_for_exec(fd)  # poststart: "after the user-specified process is executed"
        finally:
            os.close(fd)
        self._run_hooks_logged("poststart", "running")

    def _start(self) -> int:
        """Write the start byte; returns the fifo's fd (see _wait_for_exec)."""
        status = self.status
        if status != "created":
            raise InvalidState(f"cannot start a container that is {status} (only a created one)")
        try:
            fd = os.open(self._dir.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENXIO):
                raise InvalidState("cannot start: the container's init is no longer waiting") from None
            raise
        try:
            os.unlink(self._dir.fifo)  # from now on the status reads "running"
            failpoints.reached("start.fifo-removed")
            os.write(fd, b"0")
            failpoints.reached("start.started")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def exec(
        self,
        process: Process | None = None,
        *,
        args: builtins.list[str] | None = None,
        preserve_fds: int = 0,
        console_socket: str | None = None,
        stdin: StdioArg = None,
        stdout: StdioArg = None,
        stderr: StdioArg = None,
        text: bool = False,
        encoding: str | None = None,
        errors: str | None = None,
    ) -> ExecProcess:
        """Start another process in the running container, in all its
        namespaces and cgroups (runc exec).  ``process``: a full
        ``process`` object (as ``exec --process`` reads); otherwise the
        container's own process with ``args`` instead of its args.  Returns
        once the process is about to exec; ``wait()`` on the result.
        ``stdin``, ``stdout``, ``stderr`` and the text options: as for
        :meth:`create` (the process's own streams, file objects on the
        result for PIPE)."""
        io = (stdin, stdout, stderr, text, encoding, errors)
        _check_preserve_fds(preserve_fds)
        with self._dir.lock():
            status = self.status
            pidfd = self._open_init() if status in ("created", "running") else None
            if pidfd is None:  # not running, or it has just ended
                raise InvalidState(
                    f"cannot exec in a {status if status != 'running' else 'stopped'} container"
                )
            failpoints.pause_point("exec.init-checked")
            try:
                return self._exec(pidfd, process, args, preserve_fds, console_socket, io)
            finally:
                os.close(pidfd)

    def _exec(
        self,
        pidfd: int,
        process: Process | None,
        args: builtins.list[str] | None,
        preserve_fds: int,
        console_socket: str | None,
        io: tuple,
    ) -> ExecProcess:
        from pycontainer.process.exec import ExecConfig, namespaces_of_init, spawn_exec

        if process is None:
            process = self.config().process
            if process is None:  # create refused a config without one
                raise ConfigError("a process is required to run a container", "process")
            if args:
                process.args = list(args)
        if not process.args:
            raise ConfigError("args must not be empty", "process.args")
        _check_lsm_labels(process)
        stdin, stdout, stderr, text, encoding, errors = io
        streams_wanted = _check_stdio(process, stdin, stdout, stderr)
        config = self.config()
        profile = config.linux.seccomp if config.linux is not None else None
        seccomp = _compile_seccomp(config, self._dir.root)  # the container's, as runc; None without a profile
        agent = None
        if profile is not None and seccomp is not None and seccomp.has_listener:
            agent = (profile.listener_path, profile.listener_metadata, self.state().to_oci())
        undo = Undo()
        join, ns_fds = namespaces_of_init(pidfd, self.pid)  # the init's own, by fd
        for fd in ns_fds:
            undo.callback(os.close, fd)
        ours, console_fd = _console_fds(process, console_socket, undo)
        streams = _open_streams(streams_wanted, stdin, stdout, stderr, undo)
        cfg = ExecConfig(
            process=process,
            join=join,
            preserve_fds=preserve_fds,
            seccomp=seccomp,
            console_fd=console_fd,
            seccomp_agent=agent,
        )
        cfg.personality = config.linux.personality if config.linux else None
        cfg.stdio = streams.child if streams is not None else None
        with undo:
            proc = ExecProcess(spawn_exec(cfg, self._cgroups().add), list(process.args))
            undo.pop_all()
        if streams is not None:
            streams.close_child_ends()
            proc.stdin, proc.stdout, proc.stderr = streams.files(text, encoding, errors)
        for fd in ns_fds:
            os.close(fd)
        if console_fd is not None:
            os.close(console_fd)
        proc.console = ours
        return proc

    def update(self, resources: Resources) -> None:
        """Change the resource limits of a created or running container
        (a linux.resources model; zero values mean unchanged)."""
        from pycontainer.cgroups.resources import update_resources
        from pycontainer.rootless import NoCgroups
        from pycontainer.spec import validate_resources

        problems = validate_resources(resources, "linux.resources")
        if problems:
            raise ConfigError(problems)
        with self._dir.lock():
            status = self.status
            if status in ("stopped", "creating"):
                raise InvalidState(f"cannot update a {status} container")
            manager = self._cgroups()
            if isinstance(manager, NoCgroups):  # rootless, with no cgroup delegated: nowhere to write
                raise ResourceError(
                    "linux.resources: cannot be updated: no cgroup is delegated to the user",
                    path="linux.resources",
                )
            update_resources(manager, resources)

    def stats(self) -> dict:
        """Resource usage now, in the shape of runc's events stats (cpu,
        memory, pids, blkio, hugetlb, network_interfaces)."""
        from pycontainer.cgroups import stats

        pid = self.pid if self.status != "stopped" else None
        return stats.collect(self._state.cgroup_paths, pid)

    def oom_kills(self) -> int:
        """How many of the container's processes the kernel OOM-killed."""
        from pycontainer.cgroups import stats

        return stats.oom_kills(self._state.cgroup_paths)

    def events(self, interval: float = 5.0, tick: float = 0.25) -> Iterator[tuple[str, dict | int]]:
        """Yield ``("stats", data)`` every ``interval`` seconds and ``("oom",
        n)`` as the kernel OOM-kills ``n`` more of the container's processes
        (woken by an eventfd on v1, memory.events on v2: no polling; counted
        from the cgroup's oom_kill count, so a kill is reported once), until
        the container stops (checked every ``tick`` seconds)."""
        import select

        from pycontainer.cgroups import stats

        with stats.OomWatcher(self._state.cgroup_paths) as watcher:
            poller = select.poll()
            if watcher.fd is not None:
                poller.register(watcher.fd, watcher.events)
            next_stats = time.monotonic()
            while self.status != "stopped":
                now = time.monotonic()
                if now >= next_stats:
                    yield "stats", self.stats()
                    next_stats = now + interval
                wait = max(0.0, min(tick, next_stats - time.monotonic()))
                if poller.poll(wait * 1000) or watcher.pending:
                    kills = watcher.read()
                    if kills:
                        yield "oom", kills
            kills = watcher.read()
            if kills:
                yield "oom", kills

    def pids(self) -> builtins.list[int]:
        """Every process in the container's cgroups (host pids, sorted)."""
        found: set[int] = set()
        for directory in set(self._state.cgroup_paths.values()):
            try:
                with open(os.path.join(directory, "cgroup.procs")) as f:
                    found.update(int(line) for line in f if line.strip())
            except OSError:
                continue
        return sorted(found)

    def network(self) -> dict | None:
        """Its network (interface, addresses, published ports), None without one."""
        if not os.path.exists(os.path.join(self._dir.path, "network.json")):
            return None
        from pycontainer import network

        return network.describe(self._dir.path)

    def config(self) -> Spec:
        """The config the container was created with (a Spec)."""
        from pycontainer.spec import load_config

        return load_config(self._dir.config_path, bundle=self._state.bundle)

    def kill(self, sig: int = signals.SIGTERM, all_processes: bool = False) -> bool:
        """Signal the init, or with ``all_processes`` every process in the
        container's cgroups (runc kill --all).  False if the init has
        already exited (nothing is signalled: no error, as Popen's
        send_signal, because every timeout path races with the exit);
        InvalidState while the container is still being created."""
        with self._dir.lock():
            status = self.status
            if status == "creating":
                raise InvalidState("cannot kill a creating container")
            pidfd = self._open_init() if status != "stopped" else None
            if pidfd is None:  # stopped, or it has just ended
                return False
            failpoints.pause_point("kill.init-checked")
            try:
                if not all_processes:
                    if not signal_process(pidfd, sig):
                        return False
                else:
                    signal_members(self.pids, sig)
            finally:
                os.close(pidfd)
            if status == "paused" and sig == signals.SIGKILL:
                self._thaw()  # a frozen task dies only once thawed (cgroup v1)
        return True

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the init to exit (at most ``timeout`` seconds, else
        :class:`TimeoutExpired`); its exit code (128+N if killed by signal N).
        A container made by another process (``Container.load``): waits the
        same way, on the init's pidfd, but returns None: only the init's
        parent can learn its exit code."""
        return super().wait(timeout)

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM to the init, ``timeout`` seconds for it to exit, then
        SIGKILL to every process of the container (``kill --all``); its
        exit code (see :meth:`wait`).  No error if it has already exited."""
        if self.kill(signals.SIGTERM):
            try:
                return self.wait(timeout)
            except TimeoutExpired:
                pass
            # A shell as pid 1 ignores SIGTERM; and without a pid namespace
            # of its own the init's death would not take the others along.
            self.kill(signals.SIGKILL, all_processes=True)
        return self.wait()

    def delete(self, force: bool = False) -> None:
        """Remove the container: its cgroups and state.  A created one is
        killed first; a running or paused one needs ``force`` for that (runc
        delete)."""
        with self._dir.lock():
            self._delete(force)
        # Our own init, dead by now (a zombie reads as stopped): reaped here
        # whatever the status said, so no zombie outlives the container.
        self.poll()
        self._close_pidfd()
        self._run_hooks_logged("poststop", "stopped")

    def _delete(self, force: bool) -> None:
        status = self.status
        if status == "creating":
            raise InvalidState(
                f"cannot delete a container that is being created (by pid {self._state.creator_pid})"
            )
        if status not in ("stopped", "created") and not force:
            raise InvalidState(f"cannot delete a container that is {status} (use --force)")
        pidfd = self._open_init() if status != "stopped" else None
        failpoints.pause_point("delete.init-checked")
        try:
            if os.path.exists(os.path.join(self._dir.path, "network.json")):
                from pycontainer import network

                # Before the kill: moved devices leave the namespace while it lives.
                network.teardown(self._dir.path, self.pid if pidfd is not None else None, pidfd)
            if pidfd is not None:
                self._kill_and_wait(pidfd)
        finally:
            if pidfd is not None:
                os.close(pidfd)
        failpoints.reached("delete.killed")
        manager = self._cgroups()
        if status == "created" or (force and status == "stopped"):
            # A created container: exec may have added processes that the
            # init's death does not take along (no pid namespace of its own).
            # A stopped one: the init on record is gone, but its cgroups may
            # still hold one that never made it into the state (a create killed
            # after its init was ready) or outlived it.
            _kill_all(manager)
        manager.destroy()
        failpoints.reached("delete.cgroups-removed")
        self._dir.remove()
        failpoints.reached("delete.state-removed")

    def _cgroups(self) -> Manager | NoCgroups:
        """The container's cgroup manager, rebuilt from its state."""
        from pycontainer import cgroups

        if not self._state.cgroup_paths:  # rootless, with no cgroup delegated
            from pycontainer.rootless import NoCgroups

            return NoCgroups(self._state.cgroups_path)

        return cgroups.from_state(
            self._state.cgroups_path, self._state.cgroup_paths, self._state.cgroup_created
        )

    def _run_hooks_logged(self, phase: str, status: str) -> None:
        """poststart and poststop hooks (kept in the state at create): a
        failure is logged, not fatal, and the remaining hooks still run."""
        hook_list = self._state.hooks.get(phase)
        if not hook_list:
            return
        from pycontainer import hooks
        from pycontainer.spec.models import Hook

        state = {**self._state.to_oci(), "status": status}
        for index, raw in enumerate(hook_list):
            hook = Hook(
                path=raw["path"], args=raw.get("args", []), env=raw.get("env", []), timeout=raw.get("timeout")
            )
            try:
                hooks.run_hook(hook, state, phase=phase, index=index)
            except hooks.HookError as e:
                log.warning("%s", e)

    def _thaw(self) -> None:
        from pycontainer.cgroups import freezer

        freezer.thaw(self._state.cgroup_paths)

    def _kill_and_wait(self, pidfd: int) -> None:
        signal_process(pidfd, signals.SIGKILL)
        if self._frozen():
            self._thaw()
        if wait_exited(pidfd, 10.0):
            self._reap(pidfd)  # our child: its exit code, for a wait() after

    # -- context manager: always clean up --------------------------------------
    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close_streams()  # as Popen's
        try:
            self.delete(force=True)
        except ContainerNotFound:
            pass  # already deleted, by us or someone else

    # Last in the class: below it, ``list`` in an annotation would name this method.
    @classmethod
    def list(cls, root: str | os.PathLike | None = None) -> builtins.list[Container]:
        """Every container under the state root (default
        :func:`state.default_root`), by id, its status read now.  One deleted
        meanwhile, or whose state cannot be read, is left out; so is anything
        there that is not a container's directory."""
        from pycontainer.state import check_root

        root = default_root() if root is None else root
        check_root(os.fspath(root))  # a directory, not writable by others (what it lists could be planted)
        try:
            names = sorted(os.listdir(root))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            try:
                container = cls.load(name, root)
                container.state()  # its status now
            except ContainerError:
                continue
            found.append(container)
        return found


def remove_leftovers(container_id: str, root: str | os.PathLike | None = None) -> None:
    """``delete --force`` of a state dir without a usable state: a create
    killed before its first save (nothing else was made yet; runc removes such
    a directory too), or a state file damaged since.  For the latter the
    container's cgroup is found again from the config kept beside it."""
    state_dir = StateDir(default_root() if root is None else root, container_id)
    if os.path.islink(state_dir.path) or (os.path.lexists(state_dir.path) and not state_dir.exists()):
        raise ContainerError(
            f"container {container_id!r}: {state_dir.path} is not a directory the runtime made: left in place"
        )
    if not state_dir.exists():
        return
    foreign = state_dir.foreign()
    if foreign:  # not a directory we can prove we made: touch nothing
        raise ContainerError(state_dir.foreign_message(foreign))
    if os.path.exists(os.path.join(state_dir.path, "network.json")):
        from pycontainer import network

        # A create that died before saving its state may have left a network
        # record (written before the network was made): undo what it names.
        network.clean_after_crash(state_dir.path)
    try:
        spec = Container(state_dir, State(id=container_id)).config()
    except Exception:  # noqa: BLE001 - no config either: nothing but the directory was made
        spec = None
    if spec is not None:
        from pycontainer import cgroups

        path = (spec.linux.cgroups_path if spec.linux else None) or cgroups.default_cgroups_path(container_id)
        manager = cgroups.manager_for(path, container_id)
        manager.adopt(d for d in manager.paths().values() if os.path.isdir(d))
        _kill_all(manager)
        manager.destroy()
    state_dir.remove()


def _kill_all(manager: Manager | NoCgroups) -> None:
    """SIGKILL every process in the cgroups (thawed: a frozen task dies only
    once thawed); destroy() then waits for them to go."""
    if not signal_members(manager.pids, signals.SIGKILL):
        return
    from pycontainer.cgroups import freezer

    paths = manager.paths()
    if freezer.is_frozen(paths):
        freezer.thaw(paths)


MAX_PRESERVE_FDS = 65536  # far above any engine's use; the fds must be open as well


def signal_members(members: Callable[[], list[int]], sig: int, batch: int = 256) -> int:
    """Send ``sig`` to every process ``members()`` lists (a cgroup's), each
    through a pidfd taken first and kept only if the pid is still listed
    after: a member that exits meanwhile can never hand its signal to a
    process that took its pid.  Returns how many were signalled."""
    pids = members()
    sent = 0
    for start in range(0, len(pids), batch):  # bounded: not one fd per process of a huge cgroup at once
        fds = {}
        for pid in pids[start : start + batch]:
            try:
                fds[pid] = os.pidfd_open(pid)
            except ProcessLookupError:
                continue
        try:
            still = set(members()) if fds else set()
            for pid, fd in fds.items():
                if pid in still and signal_process(fd, sig):
                    sent += 1
        finally:
            for fd in fds.values():
                os.close(fd)
    return sent


def _check_preserve_fds(count: int) -> None:
    """Every fd to pass on (3 .. 3+count-1) must be open here: a count past
    them would hand the container whatever the runtime opens meanwhile."""
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_PRESERVE_FDS:
        raise ContainerError(f"preserve-fds: {count!r} is out of range (expected 0..{MAX_PRESERVE_FDS})")
    if count == 0:
        return
    for fd in range(3, 3 + count):
        try:
            os.fstat(fd)
        except OSError:
            raise ContainerError(
                f"preserve-fds {count}: fd {fd} is not open (fds 3..{2 + count} must be)"
            ) from None


def _check_mount_count(spec: Spec) -> None:
    """More mounts than the kernel's mount-max (per mount namespace, counted
    with the host's mounts it starts with) fail only after every mount before
    the limit was made, which takes minutes: refuse them first."""
    linux = spec.linux
    made = len(spec.mounts)
    if linux is not None:
        made += len(linux.masked_paths) + len(linux.readonly_paths)
    if made < 1000:  # far below any kernel's limit: not worth reading /proc
        return
    try:
        with open("/proc/sys/fs/mount-max", "rb") as f:
            limit = int(f.read())
        with open("/proc/self/mountinfo", "rb") as f:
            present = f.read().count(b"\n")
    except (OSError, ValueError):
        return
    if made + present > limit:
        raise ConfigError(
            f"{len(spec.mounts)} mounts, with {made - len(spec.mounts)} masked and read-only paths and the "
            f"{present} mounts a new namespace starts with: {made + present}, more than the kernel's limit "
            f"of {limit} mounts per mount namespace (fs.mount-max)",
            "mounts",
        )


def _remove_cgroups(manager: Manager, planned: list[str]) -> None:
    """Undo the making of the container's cgroups, whatever stage it reached:
    what ``manager`` made and recorded, and what the state said it was about
    to make (a cut-short create may have made some without recording them;
    a directory that is not there is fine)."""
    manager.adopt(planned)
    manager.destroy()


def _cgroup_dirs_to_make(manager: Manager) -> list[str]:
    """The cgroup directories ``manager.create()`` is about to make (those
    missing now, top-down), for the state written before it makes them."""
    out: list[str] = []
    for key, directory in manager.paths().items():
        mountpoint = os.fspath(manager.layout.mountpoint(key))
        missing = []
        current = os.fspath(directory)
        while current.startswith(mountpoint + "/") and not os.path.isdir(current):
            missing.append(current)
            current = os.path.dirname(current)
        out.extend(reversed(missing))
    return list(dict.fromkeys(out))


def _wait_for_exec(fifo_fd: int, timeout: float = 10.0) -> None:
    """The init keeps its (close-on-exec) end of the exec fifo until execve:
    when it goes, our write end reports POLLERR (no reader left)."""
    import select

    poller = select.poll()
    poller.register(fifo_fd, select.POLLERR)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if poller.poll(100):
            return


def _console_fds(process: Process, console_socket: str | None, undo: Undo) -> tuple[int | None, int | None]:
    """(our end, the container's end) for ``process.terminal``: the engine's
    console socket (we keep nothing), or a socketpair for a foreground proxy."""
    if not process.terminal:
        if console_socket:
            raise ContainerError("--console-socket was given but process.terminal is false")
        return None, None
    from pycontainer import console

    if console_socket:
        fd = console.connect_console_socket(console_socket)
        undo.callback(os.close, fd)
        return None, fd
    ours, theirs = console.console_pair()
    undo.callback(os.close, ours)
    undo.callback(os.close, theirs)
    return ours, theirs


def _check_stdio(process: Process, stdin: StdioArg, stdout: StdioArg, stderr: StdioArg) -> bool:
    """Whether the process gets streams of its own (the arguments checked):
    not with ``process.terminal``, whose pty is its stdio."""
    if stdin is None and stdout is None and stderr is None:
        return False  # the common case imports nothing
    from pycontainer import stdio

    stdio.wanted(stdin, stdout, stderr)
    if process.terminal:
        raise ConfigError(
            "process.terminal is true: the process's stdin, stdout and stderr are its pty (terminal() "
            "gives its master); stdin, stdout and stderr must be None",
            "process.terminal",
        )
    return True


def _open_streams(
    wanted: bool, stdin: StdioArg, stdout: StdioArg, stderr: StdioArg, undo: Undo
) -> Streams | None:
    if not wanted:
        return None
    from pycontainer.stdio import Streams

    streams = Streams.open(stdin, stdout, stderr)
    undo.callback(streams.close)
    return streams


def _idmapped_mounts(spec: Spec, undo: Undo) -> dict[int, int]:
    """Detached idmapped copies of the sources of mounts with uid/gid
    mappings (made here: the kernel wants the host's CAP_SYS_ADMIN)."""
    if not any(_wants_idmap(m) for m in spec.mounts):
        return {}
    from pycontainer import idmapped

    fds = idmapped.prepare(spec)
    for fd in fds.values():
        undo.callback(os.close, fd)
    return fds


def _wants_idmap(m: Mount) -> bool:
    return bool(m.uid_mappings or m.gid_mappings) or "idmap" in m.options or "ridmap" in m.options


def _placer(
    manager: Manager | NoCgroups, net: NetworkPlan | None, rootless: bool, strict: bool = False
) -> Callable[[int], None]:
    """What spawn_init calls while the init sets up its rootfs: place it in its
    cgroups (an unprivileged user's: only the delegated ones, where a refusal
    is a warning unless ``strict``), and with a network to set up, load the
    network code meanwhile."""
    add: Callable[[int], None] = manager.add
    if rootless:
        from pycontainer import rootless as rl

        if not isinstance(manager, rl.NoCgroups):  # no cgroup delegated: nothing to place the init in
            add = rl.place_in_cgroups(manager, strict)
    if net is None:
        return add

    def place(pid: int) -> None:
        add(pid)
        net.load()

    return place


def _network_plan(spec: Spec, root: str | os.PathLike, container_id: str) -> NetworkPlan | None:
    """The network the config asks for (``linux.netDevices``, our
    ``pycontainer.network``), checked; None (and nothing imported) without."""
    if spec.pycontainer is None and not (spec.linux and spec.linux.net_devices):
        return None
    from pycontainer import network

    if not network.wanted(spec):
        return None
    return network.plan(spec, os.fspath(root), container_id)


def _compile_seccomp(spec: Spec, root: str | os.PathLike) -> CompiledFilter | None:
    """``linux.seccomp`` compiled to BPF (None without one), cached under the
    state root: compiling an engine's profile costs more than a container start."""
    if spec.linux is None or spec.linux.seccomp is None:
        return None
    from pycontainer.security.seccomp import compile_profile
    from pycontainer.state import make_root

    make_root(os.fspath(root))  # the cache lives under it: made with the root's mode, and checked
    compiled = compile_profile(spec.linux.seccomp, cache_dir=os.path.join(os.fspath(root), SECCOMP_CACHE))
    if compiled.has_listener:
        from pycontainer.security import notify

        # compile_profile refused SCMP_ACT_NOTIFY rules without a listenerPath
        notify.check_listener_path(spec.linux.seccomp.listener_path or "")
    return compiled


def _later_hooks(spec: Spec) -> dict[str, list]:
    """The poststart and poststop hooks, as JSON, for the state: start and
    delete run them without loading the config again."""
    if spec.hooks is None:
        return {}
    from pycontainer.spec import dump

    found = {"poststart": spec.hooks.poststart, "poststop": spec.hooks.poststop}
    return {phase: [dump(h) for h in hook_list] for phase, hook_list in found.items() if hook_list}


def _check_runnable(spec: Spec) -> Process:
    """What validation cannot know (the filesystem), and what this version
    cannot do yet: refused where running without it would surprise, named in
    a warning where the container still runs as asked otherwise.  Returns
    the process to run."""
    if spec.process is None:
        raise ConfigError("a process is required to run a container", "process")
    rootfs = os.fspath(spec.rootfs)
    if not os.path.isdir(rootfs):
        raise ContainerError(f"rootfs ({rootfs}) does not exist or is not a directory")
    _check_lsm_labels(spec.process, spec.linux)
    for field in not_applied(spec):
        log.warning("%s is not applied by this version of pycontainer", field)
    return spec.process


def _check_rootless(spec: Spec, plan: Plan) -> None:
    """An unprivileged user's container: it needs a user namespace, and may
    map only the ids the user holds (rootless.check_mappings)."""
    from pycontainer import rootless

    if not plan.has("user"):
        raise ConfigError(
            'an unprivileged user needs a user namespace (add {"type": "user"} and id mappings)',
            "linux.namespaces",
        )
    if plan.new_user:
        rootless.check_mappings(spec.linux)
    for index, m in enumerate(spec.mounts):
        if _wants_idmap(m):
            raise ConfigError(
                "idmapped mounts need root (the kernel wants CAP_SYS_ADMIN over the filesystem)",
                f"mounts[{index}]",
            )


def _check_lsm_labels(process: Process, linux: Linux | None = None) -> None:
    """AppArmor/SELinux labels need their LSM on this host (a clear error if not)."""
    if process.apparmor_profile or process.selinux_label or (linux is not None and linux.mount_label):
        from pycontainer.security import lsm

        lsm.check(process, linux)


def not_applied(spec: Spec) -> list[str]:
    """The config's fields that this version reads but does not act on yet."""
    linux = spec.linux
    return ["linux.intelRdt"] if linux is not None and linux.intel_rdt is not None else []


def _cgroup_mount_dirs(manager: Manager | NoCgroups) -> dict[str, str]:
    """For ``cgroup`` mounts: where each hierarchy goes under the mount
    ("memory", "unified", ...: its mountpoint's name below /sys/fs/cgroup; ""
    when it is mounted at /sys/fs/cgroup itself, as on a pure v2 host) -> the
    container's directory in it."""
    out: dict[str, str] = {}
    for key, directory in manager.paths().items():
        mountpoint = os.fspath(manager.layout.mountpoint(key))
        name = "" if mountpoint == CGROUP_ROOT else os.path.basename(mountpoint)
        out.setdefault(name, os.fspath(directory))
    return out


def write_pid_file(path: str | os.PathLike, pid: int) -> None:
    """The host pid in decimal, no newline, written atomically (engines read
    it): a new temporary beside it (O_EXCL|O_NOFOLLOW: never through a link
    someone left there), renamed over.  A failure leaves no temporary and
    names the pid file."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    try:
        try:
            os.unlink(tmp)  # left by a writer that was killed
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise ContainerError(f"pid file {path}: {e.strerror}") from None
    try:
        try:
            os.write(fd, str(pid).encode())
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ContainerError(f"pid file {path}: {e.strerror}") from None
