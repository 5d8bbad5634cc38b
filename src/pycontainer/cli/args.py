"""nsinit's argument model, separate from what the commands do.

runc's conventions: global options come before the command; a command's
options come before its operands (``--flag value`` or ``--flag=value``);
``--`` ends the options.  ``nsinit exec config.json [-- CMD...]`` (a path to
a .json file) runs a new container from that config.

The model is a table, not argparse: building an argparse parser with a dozen
sub-parsers costs more than the rest of nsinit's start-up work.
"""

from __future__ import annotations

from pycontainer import OCI_VERSION, __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any


class ArgumentError(Exception):
    """Bad command line: the message is printed, exit code 1 (as runc)."""


class Flag:
    __slots__ = ("names", "dest", "value", "default", "help", "many")

    def __init__(
        self, names: str, help: str, value: type | None = None, default=None, many: bool = False
    ) -> None:
        self.names = tuple(names.split(","))
        self.dest = self.names[0].lstrip("-").replace("-", "_")
        self.value = value  # None: a switch; str or int: takes a value
        self.many = many  # may be given again; the values are collected in a list
        self.default = [] if many else default if value is not None else False
        self.help = help


class Command:
    __slots__ = ("name", "help", "flags", "operands", "rest")

    def __init__(self, name: str, help: str, flags: list[Flag], operands: list[str], rest: str | None = None):
        self.name, self.help, self.flags = name, help, flags
        self.operands = operands  # required, except names ending in "?"
        self.rest = rest  # name of a trailing list of operands, if any


GLOBAL = [
    Flag("--root", "state directory (default /run/pycontainer; a user: $XDG_RUNTIME_DIR/pycontainer)", str),
    Flag("--log", "append errors to this file", str),
    Flag("--log-format", "text or json", str, "text"),
    Flag("--debug", "log debug messages"),
    Flag("--systemd-cgroup", "use the systemd cgroup driver"),
]
CREATE_FLAGS = [
    Flag("--bundle,-b", "bundle directory (default: the current one)", str, "."),
    Flag("--pid-file", "write the init's host pid here", str),
    Flag("--console-socket", "unix socket to receive the terminal's master fd", str),
    Flag("--no-pivot", "move the root and chroot instead of pivot_root"),
    Flag("--no-new-keyring", "keep the caller's session keyring"),
    Flag("--preserve-fds", "pass this many extra fds (from 3) to the container", int, 0),
]


def _id(text: str, flag: str) -> int:
    """A uid or gid of ``exec``'s command line, in runc's range (4294967295 is (uid_t)-1, which
    setresuid takes as "leave unchanged": it would keep the runtime's root)."""
    from pycontainer.spec.validate import ID_MAX, ID_RANGE

    try:
        value = int(text)
    except ValueError:
        raise ArgumentError(f"{flag} {text!r}: expected a number ({ID_RANGE})") from None
    if not 0 <= value <= ID_MAX:
        raise ArgumentError(f"{flag} {text}: {ID_RANGE}")
    return value


def user_ids(text: str) -> tuple[int, int | None]:
    """``--user uid[:gid]``; no gid: the process's own is kept (runc)."""
    uid, colon, gid = text.partition(":")
    return _id(uid, "--user"), _id(gid, "--user") if colon else None


def group_id(text: str) -> int:
    return _id(text, "--additional-gids")


EXEC_FLAGS = [
    Flag("--process,-p", "a process.json with the whole process to run", str),
    Flag("--detach,-d", "return once the process runs"),
    Flag("--pid-file", "write the process's host pid here", str),
    Flag("--cwd", "working directory in the container", str),
    Flag("--env,-e", "set an environment variable (NAME=VALUE)", str, many=True),
    # (a function as value: it turns the text into the value, or raises ArgumentError)
    Flag("--user,-u", "uid[:gid] in the container", user_ids),  # type: ignore[arg-type]
    Flag("--additional-gids,-g", "an additional group id", group_id, many=True),  # type: ignore[arg-type]
    Flag("--cap,-c", "add a capability", str, many=True),
    Flag("--no-new-privs", "set no_new_privs"),
    Flag("--tty,-t", "allocate a terminal"),
    Flag("--console-socket", "unix socket to receive the terminal's master fd", str),
    Flag("--preserve-fds", "pass this many extra fds (from 3) to the process", int, 0),
    Flag("--no-pivot", "(CONFIG.json) move the root and chroot instead of pivot_root"),
]
COMMANDS = {
    c.name: c
    for c in [
        Command(
            "run",
            "create and start a container, wait for it",
            [*CREATE_FLAGS, Flag("--detach,-d", "return after start")],
            ["id"],
        ),
        Command("create", "create a container; its process waits for start", CREATE_FLAGS, ["id"]),
        Command("start", "start a created container", [], ["id"]),
        Command("pause", "freeze every process of a running container", [], ["id"]),
        Command("resume", "thaw a paused container", [], ["id"]),
        Command("state", "print a container's state", [], ["id"]),
        Command(
            "kill",
            "send a signal to a container's init",
            [Flag("--all,-a", "signal every process of the container")],
            ["id", "signal?"],
        ),
        Command("delete", "remove a container", [Flag("--force,-f", "kill it first if it runs")], ["id"]),
        Command(
            "list",
            "list containers",
            [Flag("--quiet,-q", "ids only"), Flag("--format,-f", "table or json", str, "table")],
            [],
        ),
        Command(
            "ps",
            "list the processes of a container",
            [Flag("--format,-f", "table or json (host pids)", str, "table")],
            ["id"],
            rest="ps_args",
        ),
        Command(
            "update",
            "change a running container's resource limits",
            [
                Flag("--resources,-r", "a linux.resources JSON file, or - for stdin", str),
                Flag("--memory", "memory limit in bytes", int),
                Flag("--memory-swap", "memory+swap limit in bytes (-1: unlimited)", int),
                Flag("--memory-reservation", "memory soft limit in bytes", int),
                Flag("--cpu-shares", "CPU shares (relative weight)", int),
                Flag("--cpu-quota", "CPU CFS quota in microseconds", int),
                Flag("--cpu-period", "CPU CFS period in microseconds", int),
                Flag("--cpuset-cpus", "CPUs to use (0-3, 0,1)", str),
                Flag("--cpuset-mems", "memory nodes to use", str),
                Flag("--pids-limit", "maximum number of processes", int),
                Flag("--blkio-weight", "block I/O weight (10-1000)", int),
            ],
            ["id"],
        ),
        Command(
            "events",
            "print a container's resource stats and OOM kills as JSON lines",
            [
                Flag("--stats", "print the stats once and exit"),
                Flag("--interval", "seconds between stats (runc's 5s form too)", str, "5s"),
            ],
            ["id"],
        ),
        Command("features", "print what this runtime supports (runtime-spec features document)", [], []),
        Command(
            "spec",
            "write a default config.json",
            [
                Flag("--bundle,-b", "where to write it", str, "."),
                Flag("--rootless", "for an unprivileged user"),
                Flag("--seccomp", "with a default seccomp profile (Docker's; runc spec writes none)"),
            ],
            [],
        ),
        Command(
            "exec",
            "run a process in container ID (runc exec), or a new container from CONFIG.json",
            EXEC_FLAGS,
            ["target"],
            rest="cmd",
        ),
    ]
}


class Args:
    """The parsed command line: attributes named after the flags' dests."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    if TYPE_CHECKING:  # pragma: no cover

        def __getattr__(self, name: str) -> Any:
            """Tells a type checker that any flag's dest may be read."""

    def __repr__(self) -> str:
        return f"Args({self.__dict__!r})"


class Exit(Exception):
    """--help or --version: print ``text`` and exit 0."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def parse(argv: list[str]) -> Args:
    values: dict = {f.dest: f.default for f in GLOBAL}
    i = _parse_flags(argv, 0, GLOBAL, values, None)
    if i >= len(argv):
        raise ArgumentError("no command given (try --help)")
    command = COMMANDS.get(argv[i])
    if command is None:
        raise ArgumentError(f"unknown command {argv[i]!r} (try --help)")
    values["command"] = command.name
    values.update({f.dest: f.default for f in command.flags})
    i = _parse_flags(argv, i + 1, command.flags, values, command)
    operands = argv[i:]
    for name in command.operands:
        optional = name.endswith("?")
        name = name.rstrip("?")
        if operands:
            values[name] = operands.pop(0)
        elif optional:
            values[name] = None
        else:
            raise ArgumentError(f"{command.name}: missing operand {name.upper()}")
    if command.rest:
        if operands[:1] == ["--"]:
            operands = operands[1:]
        values[command.rest] = operands
    elif operands:
        raise ArgumentError(f"{command.name}: unexpected operand {operands[0]!r}")
    return Args(**values)


def _parse_flags(argv: list[str], i: int, flags: list[Flag], values: dict, command: Command | None) -> int:
    """Consume the options at argv[i:]; the index of the first operand."""
    by_name = {name: f for f in flags for name in f.names}
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return i + 1 if command is None or command.rest is None else i
        if not arg.startswith("-") or arg == "-":
            return i
        if arg in ("--help", "-h"):
            raise Exit(usage(command))
        if arg in ("--version", "-v") and command is None:
            raise Exit(f"nsinit version {__version__}\nspec: {OCI_VERSION}")
        name, eq, inline = arg.partition("=")
        flag = by_name.get(name)
        if flag is None:
            where = f"{command.name}: " if command else ""
            raise ArgumentError(f"{where}flag provided but not defined: {name}")
        if flag.value is None:
            if eq:
                raise ArgumentError(f"{name} takes no value")
            values[flag.dest] = True
            i += 1
            continue
        if eq:
            text = inline
            i += 1
        elif i + 1 < len(argv):
            text = argv[i + 1]
            i += 2
        else:
            raise ArgumentError(f"flag needs an argument: {name}")
        try:
            value = flag.value(text)
        except ValueError:
            raise ArgumentError(f"invalid value {text!r} for {name}") from None
        if flag.many:
            values[flag.dest] = [*values[flag.dest], value]
        else:
            values[flag.dest] = value
    return i


def usage(command: Command | None = None) -> str:
    def flag_lines(flags: list[Flag]) -> list[str]:
        return [f"  {', '.join(f.names) + (' VALUE' if f.value else ''):<28}{f.help}" for f in flags]

    if command is None:
        lines = ["usage: nsinit [global options] COMMAND [options] [operands]", "", "commands:"]
        lines += [f"  {c.name:<28}{c.help}" for c in COMMANDS.values()]
        lines += ["", "global options:", *flag_lines(GLOBAL), f"  {'--version, -v':<28}print the version"]
        return "\n".join(lines)
    operands = " ".join(o.rstrip("?").upper() for o in command.operands)
    rest = f" [-- {command.rest.upper()}...]" if command.rest else ""
    return "\n".join(
        [
            f"usage: nsinit {command.name} [options] {operands}{rest}",
            "",
            command.help,
            "",
            *flag_lines(command.flags),
        ]
    )
