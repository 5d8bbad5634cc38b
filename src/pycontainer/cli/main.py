"""``nsinit``'s entry point: parse, dispatch, report errors as runc does."""

from __future__ import annotations

import sys

from pycontainer.cli.args import ArgumentError, Exit, parse
from pycontainer.errors import PycontainerError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log_file, log_format = _log_settings(argv)
    try:
        args = parse(argv)
        _check_globals(args)
        if args.debug:
            from pycontainer import log

            log.enable()
        if args.systemd_cgroup:
            raise ArgumentError(
                "--systemd-cgroup: the systemd cgroup driver is not supported (cgroupfs only)"
            )
        from pycontainer.cli import commands

        return getattr(commands, "cmd_" + args.command)(args)
    except (PycontainerError, ArgumentError, OSError) as e:
        _report(_one_line(e), log_file, log_format)
        return getattr(e, "exit_code", 1)
    except Exit as e:
        print(e.text)
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - a bug of ours: one line, as any error (--debug: the traceback)
        if "--debug" in argv:
            import traceback

            traceback.print_exc()
        _report(f"internal error: {type(e).__name__}: {_one_line(e)}", log_file, log_format)
        return 1


def _check_globals(args) -> None:
    """The global options, before any command acts (runc's wording where it has one)."""
    if args.root is not None and not args.root:
        raise ArgumentError("--root: empty path (the state directory)")
    if args.log_format not in ("text", "json"):
        raise ArgumentError(f"invalid log-format: {args.log_format} (text or json)")
    if args.log is not None:
        import os

        from pycontainer.log import open_log_file

        # Checked now, closed again: an fd kept open would take a number that
        # --preserve-fds may be about to pass on.
        os.close(open_log_file(args.log))


def _one_line(e: Exception) -> str:
    """runc prints one line per error; a config with several problems gets
    them joined with '; '.  An OSError reads as Go's do ("open PATH: reason"),
    not as Python's "[Errno N] ..."."""
    if isinstance(e, OSError) and e.strerror and type(e).__str__ is OSError.__str__:
        text = f"{e.filename}: {e.strerror}" if e.filename is not None else e.strerror
    else:
        text = str(e)
    return "; ".join(line for line in text.splitlines() if line)


def _log_settings(argv: list[str]) -> tuple[str | None, str]:
    """--log and --log-format, read before parsing so even a parse error is logged."""
    log_file, log_format = None, "text"
    for i, arg in enumerate(argv):
        if arg in ("--log", "--log-format") and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(("--log=", "--log-format=")):
            arg, value = arg.split("=", 1)
        else:
            continue
        if arg == "--log":
            log_file = value
        else:
            log_format = value
    return log_file, log_format


def _report(message: str, log_file: str | None, log_format: str) -> None:
    """One line on stderr; with --log also appended to the log file (a JSON
    object per line with --log-format json, as engines parse runc's)."""
    print(f"nsinit: {message}", file=sys.stderr)
    if not log_file:
        return
    from pycontainer import jsonio
    from pycontainer.state import now_rfc3339

    if log_format == "json":
        line = jsonio.dumps({"level": "error", "msg": message, "time": now_rfc3339()})
    else:
        line = f'time="{now_rfc3339()}" level=error msg="{message}"'
    import os

    from pycontainer.log import open_log_file

    try:
        fd = open_log_file(log_file)
    except PycontainerError:
        return  # the error above says what is wrong with it
    try:
        os.write(fd, (line + "\n").encode())
    except OSError:
        pass
    finally:
        os.close(fd)
