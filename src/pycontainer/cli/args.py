"""nsinit's argument model, separate from what the commands do.

Global options come before the command, as with runc.  ``nsinit exec
config.json [-- CMD...]`` (a path to a .json file) runs a new container from
that config; ``nsinit exec ID CMD...`` is runc's exec into a running one.
"""

from __future__ import annotations

import argparse

from pycontainer import OCI_VERSION, __version__


class ArgumentError(Exception):
    """Bad command line: the message is printed, exit code 1 (as runc)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would exit 2; runc exits 1
        raise ArgumentError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nsinit", description="pycontainer: an OCI container runtime")
    p.add_argument("--root", default=None, help="state directory (default /run/pycontainer)")
    p.add_argument("--log", default=None, help="append errors to this file")
    p.add_argument("--log-format", default="text", choices=("text", "json"))
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true")
    p.add_argument(
        "--version", "-v", action="version", version=f"nsinit version {__version__}\nspec: {OCI_VERSION}"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="create and start a container, wait for it")
    _add_create_flags(run)
    run.add_argument("-d", "--detach", action="store_true")
    run.add_argument("id")

    create = sub.add_parser("create", help="create a container; its process waits for start")
    _add_create_flags(create)
    create.add_argument("id")

    for name, helptext in (("start", "start a created container"), ("state", "print a container's state")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("id")

    kill = sub.add_parser("kill", help="send a signal to a container's init")
    kill.add_argument("-a", "--all", action="store_true")
    kill.add_argument("id")
    kill.add_argument("signal", nargs="?", default="SIGTERM")

    delete = sub.add_parser("delete", help="remove a container")
    delete.add_argument("-f", "--force", action="store_true")
    delete.add_argument("id")

    lst = sub.add_parser("list", help="list containers")
    lst.add_argument("-q", "--quiet", action="store_true")
    lst.add_argument("-f", "--format", default="table", choices=("table", "json"))

    ex = sub.add_parser("exec", help="run a new container from CONFIG.json [-- CMD...]")
    ex.add_argument("--no-pivot", action="store_true")
    ex.add_argument("target", metavar="CONFIG.json")
    ex.add_argument("cmd", nargs=argparse.REMAINDER)
    return p


def _add_create_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-b", "--bundle", default=".")
    p.add_argument("--pid-file", default=None)
    p.add_argument("--console-socket", default=None)
    p.add_argument("--no-pivot", action="store_true")
    p.add_argument("--no-new-keyring", action="store_true")
    p.add_argument("--preserve-fds", type=int, default=0)


def parse(argv: list[str]) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.command is None:
        raise ArgumentError("no command given (try --help)")
    if args.command == "exec" and args.cmd[:1] == ["--"]:
        args.cmd = args.cmd[1:]
    return args
