"""What each nsinit command does, on top of the library."""

from __future__ import annotations

import os

from pycontainer import jsonio, signals
from pycontainer.container import Container, write_pid_file
from pycontainer.errors import ContainerError, ExecFailed, InvalidState
from pycontainer.state import default_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def _root(args) -> str:
    return args.root or default_root()


def _create(args, container_id: str, bundle: str, spec=None, *, foreground: bool = False) -> Container:
    """``foreground``: nsinit stays and can proxy a terminal itself; otherwise
    a terminal needs --console-socket."""
    return Container.create(
        container_id,
        bundle,
        spec=spec,
        root=_root(args),
        pid_file=getattr(args, "pid_file", None),
        no_pivot=args.no_pivot,
        preserve_fds=getattr(args, "preserve_fds", 0),
        console_socket=getattr(args, "console_socket", None),
        terminal_here=foreground,
        new_keyring=not getattr(args, "no_new_keyring", False),
    )


class _SignalRelay:
    """runc's signal proxy for a foreground container: the signals nsinit
    gets go to the container's process.  Installed before the container is
    created, so that a signal meanwhile neither kills nsinit half-way (which
    would leave the container behind) nor is lost: it is relayed once the
    process exists."""

    def __init__(self) -> None:
        self.pid = 0
        self.pending: list[int] = []
        for sig in signals.FORWARDED:
            signals.set_handler(sig, self._handle)

    def _handle(self, sig: int, _frame) -> None:
        if self.pid:
            _forward(self.pid, sig)
        else:
            self.pending.append(sig)

    def relay_to(self, pid: int) -> None:
        self.pid = pid
        while self.pending:
            _forward(pid, self.pending.pop(0))

    @staticmethod
    def remove() -> None:
        for sig in signals.FORWARDED:
            signals.set_handler(sig, signals.SIG_DFL)


def _run_foreground(container: Container, relay: _SignalRelay) -> int:
    """Start, relay signals to the init (like runc's signal proxy) or proxy
    its terminal, wait, delete; the container's exit code."""
    try:
        if container._console is not None:
            relay.relay_to(container.pid)
            return _with_terminal_proxy(container.terminal(), container.pid, container.start, container.wait)
        relay.relay_to(container.pid)
        container.start()
        return _known(container.wait())
    finally:
        relay.pid = 0  # signals from now on are dropped: the delete must not be cut short
        container.delete(force=True)
        relay.remove()


def _known(code: int | None) -> int:
    """nsinit's exit code: the process's.  None is what the library returns
    when the status is gone: someone else reaped the process (with SIGCHLD
    ignored by whoever started nsinit, the kernel does)."""
    if code is None:
        raise ContainerError(
            "the exit code of the container's process is unknown: it was reaped elsewhere"
            " (is SIGCHLD ignored?)"
        )
    return code


def _with_terminal_proxy(
    master: int, pid: int, start: Callable[[], object], wait: Callable[[], int | None]
) -> int:
    """Join our terminal to the container's pty until it closes (runc run's
    tty proxy); SIGWINCH resizes the pty, the other signals are relayed."""
    from pycontainer.console import TerminalProxy

    try:
        with TerminalProxy(master) as proxy:
            for sig in signals.FORWARDED:
                if sig == signals.SIGWINCH:
                    signals.set_handler(sig, lambda _s, _f: proxy.resize())
                else:
                    signals.set_handler(sig, lambda s, _f: _forward(pid, s))
            start()
            proxy.run()
            return _known(wait())
    finally:
        os.close(master)


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def cmd_run(args) -> int:
    if args.detach:
        _create(args, args.id, args.bundle).start()
        return 0
    relay = _SignalRelay()
    try:
        container = _create(args, args.id, args.bundle, foreground=True)
    except BaseException:
        relay.remove()
        raise
    return _run_foreground(container, relay)


def cmd_exec(args) -> int:
    """``exec CONFIG.json [-- CMD]``: a new container from a config file;
    ``exec [options] ID CMD...``: a new process in a running container."""
    target = args.target
    if target.endswith(".json") and os.path.exists(target):  # a directory: load_config says so
        return _exec_config_file(args)
    return _exec_in_container(args)


def _exec_config_file(args) -> int:
    from pycontainer.spec import load_config

    spec = load_config(args.target)
    if args.cmd and spec.process is not None:  # (no process: create reports it, with its path)
        spec.process.args = list(args.cmd)
    container_id = f"nsinit-{os.getpid()}-{os.urandom(4).hex()}"
    relay = _SignalRelay()
    try:
        container = _create(args, container_id, spec.bundle, spec=spec, foreground=True)
    except BaseException:
        relay.remove()
        raise
    return _run_foreground(container, relay)


def _exec_in_container(args) -> int:
    """runc exec: errors say "exec failed: ..." and exit 255, as runc's do."""
    container = Container.load(args.target, _root(args))
    try:
        process = _exec_process(args, container)
        if process.terminal and args.detach and not args.console_socket:
            raise ContainerError("cannot allocate a terminal for a detached process without --console-socket")
        proc = container.exec(process, preserve_fds=args.preserve_fds, console_socket=args.console_socket)
    except ContainerError as e:
        raise ExecFailed(f"exec failed: {e}") from None
    if args.pid_file:
        write_pid_file(args.pid_file, proc.pid)
    if args.detach:
        return 0
    if proc.console is not None:
        return _with_terminal_proxy(proc.terminal(), proc.pid, lambda: None, proc.wait)
    for sig in signals.FORWARDED:
        signals.set_handler(sig, lambda s, _f: _forward(proc.pid, s))
    return _known(proc.wait())


def _exec_process(args, container):
    """The process to run: --process FILE, or the container's own process
    with CMD and the command line's overrides (runc's rules)."""
    from pycontainer.spec import load_process

    if args.process:
        return _checked(load_process(args.process))
    if not args.cmd:
        raise ContainerError("exec needs a command (or --process FILE)")
    process = container.config().process
    process.args = list(args.cmd)
    process.terminal = bool(args.tty)
    if args.cwd:
        process.cwd = args.cwd
    for item in args.env:
        name, sep, _ = item.partition("=")
        if not sep or not name:  # as create refuses process.env entries
            raise ContainerError(f"--env {item!r}: expected NAME=VALUE")
        process.env = [e for e in process.env if e.split("=", 1)[0] != name] + [item]
    if args.user:
        process.user.uid, gid = args.user
        if gid is not None:
            process.user.gid = gid
    if args.additional_gids:
        process.user.additional_gids = list(args.additional_gids)
    if args.no_new_privs:
        process.no_new_privileges = True
    if args.cap:
        _add_caps(process, args.cap)
    return _checked(process)


def _add_caps(process, caps: list[str]) -> None:
    """runc exec --cap: to the bounding, effective and permitted sets; to the ambient one
    only when the process has inheritable capabilities; never to the inheritable set
    (CVE-2022-29162).  A process without capabilities starts from none."""
    from pycontainer.security.capabilities import CAP_NUMBERS
    from pycontainer.spec import Capabilities

    if process.capabilities is None:
        process.capabilities = Capabilities()
    sets = ["bounding", "effective", "permitted"]
    if process.capabilities.inheritable:
        sets.append("ambient")
    for cap in caps:
        cap = cap.upper() if cap.upper().startswith("CAP_") else "CAP_" + cap.upper()
        if cap not in CAP_NUMBERS:
            raise ContainerError(f"--cap: unknown capability {cap!r}")
        for name in sets:
            current = getattr(process.capabilities, name)
            if cap not in current:
                current.append(cap)


def _checked(process):
    """The process as validation sees it (a file of --process, or the container's process
    with the command line's changes), so a bad one fails before anything is made."""
    from pycontainer.errors import ConfigError
    from pycontainer.spec import validate_process

    problems = validate_process(process, "process")
    if problems:
        raise ConfigError(problems)
    return process


def cmd_create(args) -> int:
    _create(args, args.id, args.bundle)
    return 0


def cmd_pause(args) -> int:
    Container.load(args.id, _root(args)).pause()
    return 0


def cmd_resume(args) -> int:
    Container.load(args.id, _root(args)).resume()
    return 0


def cmd_start(args) -> int:
    Container.load(args.id, _root(args)).start()
    return 0


def cmd_state(args) -> int:
    container = Container.load(args.id, _root(args))
    out = container.state().to_oci()
    network = container.network()
    if network is not None:
        out["network"] = network  # our own key: addresses and published ports
    print(jsonio.dumps(out, indent=2))
    return 0


def cmd_kill(args) -> int:
    sig = parse_signal(args.signal or "SIGTERM")
    if not Container.load(args.id, _root(args)).kill(sig, all_processes=args.all):
        raise InvalidState("cannot kill a stopped container")  # runc: "container not running"
    return 0


def cmd_delete(args) -> int:
    from pycontainer.errors import ContainerNotFound, StateUnreadable

    try:
        Container.load(args.id, _root(args)).delete(force=args.force)
    except (ContainerNotFound, StateUnreadable):
        if not args.force:
            raise
        from pycontainer.container import remove_leftovers

        remove_leftovers(args.id, _root(args))  # a create cut short, or a damaged state file
    return 0  # runc: delete --force of an unknown (or just deleted) id succeeds


def cmd_list(args) -> int:
    containers = [c.state() for c in Container.list(_root(args))]
    if args.quiet:
        for s in containers:
            print(s.id)
    elif args.format == "json":
        print(jsonio.dumps([s.to_oci() for s in containers]))
    else:
        print(f"{'ID':<20}{'PID':<10}{'STATUS':<10}{'BUNDLE':<40}{'CREATED':<32}OWNER")
        for s in containers:
            pid = s.pid if s.status != "stopped" else 0
            print(f"{s.id:<20}{pid:<10}{s.status:<10}{s.bundle:<40}{s.created:<32}{s.owner}")
    return 0


def cmd_ps(args) -> int:
    """The container's processes: every pid in its cgroups (json: the host
    pids, as engines parse them; table: pid and command line)."""
    pids = Container.load(args.id, _root(args)).pids()
    if args.format == "json":
        print(jsonio.dumps(pids))
        return 0
    print(f"{'PID':<10}CMD")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        print(f"{pid:<10}{cmd}")
    return 0


def cmd_update(args) -> int:
    """runc update: --resources FILE (or - for stdin, as containerd and Docker
    send it), then the single-value flags on top."""
    import sys

    from pycontainer.errors import ConfigError
    from pycontainer.spec import load_resources
    from pycontainer.spec.load import parse_json, read_json

    data: dict = {}
    if args.resources == "-":
        data = parse_json(sys.stdin.buffer.read(), "--resources - (stdin)")
    elif args.resources:
        try:
            data = read_json(args.resources)
        except ConfigError as e:
            raise ConfigError(f"--resources: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--resources {args.resources}: expected a JSON object (linux.resources)")
    flags = {
        ("memory", "limit"): args.memory,
        ("memory", "swap"): args.memory_swap,
        ("memory", "reservation"): args.memory_reservation,
        ("cpu", "shares"): args.cpu_shares,
        ("cpu", "quota"): args.cpu_quota,
        ("cpu", "period"): args.cpu_period,
        ("cpu", "cpus"): args.cpuset_cpus,
        ("cpu", "mems"): args.cpuset_mems,
        ("pids", "limit"): args.pids_limit,
        ("blockIO", "weight"): args.blkio_weight,
    }
    for (section, key), value in flags.items():
        if value is not None:
            data.setdefault(section, {})[key] = value
    Container.load(args.id, _root(args)).update(load_resources(data))
    return 0


def cmd_events(args) -> int:
    """runc events: {"type": "stats" | "oom", "id": ID, "data": {...}} per line."""
    container = Container.load(args.id, _root(args))
    if args.stats:
        print(jsonio.dumps({"type": "stats", "id": args.id, "data": container.stats()}))
        return 0
    interval = _seconds(args.interval)
    for kind, data in container.events(interval=interval):
        if kind == "oom" and isinstance(data, int):  # one line per kill, without "data", as runc's
            for _ in range(data):
                print(jsonio.dumps({"type": "oom", "id": args.id}), flush=True)
            continue
        print(jsonio.dumps({"type": kind, "id": args.id, "data": data}), flush=True)
    return 0


def _seconds(text: str) -> float:
    """5, 5s, 500ms, 1m (Go's duration units, as runc takes them)."""
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if text.endswith(suffix):
            text, factor = text[: -len(suffix)], scale
            break
    else:
        factor = 1.0
    try:
        value = float(text) * factor
    except ValueError:
        raise ContainerError(f"--interval {text!r}: expected a duration such as 5s or 500ms") from None
    if value <= 0:
        raise ContainerError("--interval must be positive")
    return value


def cmd_features(args) -> int:
    from pycontainer.cli.features import features

    print(jsonio.dumps(features(), indent=4))
    return 0


def cmd_spec(args) -> int:
    """Write a default config.json into the bundle, refusing to overwrite one (as runc)."""
    from pycontainer.spec.defaults import default_spec, runc_json

    # runc's example: a terminal, and `runc spec --rootless` shares the host's network.
    spec = default_spec(
        terminal=True, rootless=args.rootless, host_network=args.rootless, seccomp=args.seccomp
    )
    text = jsonio.dumps(runc_json(spec), indent=2) + "\n"
    path = os.path.join(args.bundle, "config.json")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise ContainerError(f"File {path} exists. Remove it first") from None
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return 0


def parse_signal(text: str) -> int:
    """A signal by number, name or short name (9, SIGKILL, KILL)."""
    try:
        return signals.parse(text)
    except ValueError as e:
        raise ContainerError(str(e)) from None
