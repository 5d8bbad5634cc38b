"""nsinit's argument model: runc's conventions, errors as runc words them."""

from __future__ import annotations

import pytest

from pycontainer.cli.args import ArgumentError, Exit, parse
from pycontainer.cli.main import _log_settings, _one_line


def test_global_options_before_the_command():
    a = parse(["--root", "/tmp/r", "--log-format=json", "--log", "/tmp/l", "run", "-b", "/b", "c1"])
    assert (a.root, a.log_format, a.log, a.command, a.bundle, a.id) == (
        "/tmp/r",
        "json",
        "/tmp/l",
        "run",
        "/b",
        "c1",
    )
    assert a.detach is False and a.pid_file is None and a.preserve_fds == 0


def test_run_defaults_and_flags():
    a = parse(["run", "--detach", "--pid-file=/p", "--preserve-fds", "2", "--no-pivot", "c2"])
    assert (a.detach, a.pid_file, a.preserve_fds, a.no_pivot, a.bundle, a.id) == (
        True,
        "/p",
        2,
        True,
        ".",
        "c2",
    )


def test_exec_config_with_command_after_double_dash():
    a = parse(["exec", "/x/config.json", "--", "sh", "-c", "echo --not-a-flag"])
    assert a.target == "/x/config.json"
    assert a.cmd == ["sh", "-c", "echo --not-a-flag"]
    assert parse(["exec", "/x/config.json"]).cmd == []


def test_kill_signal_is_optional():
    assert parse(["kill", "c"]).signal is None
    assert parse(["kill", "--all", "c", "KILL"]).signal == "KILL"


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "no command given"),
        (["bogus"], "unknown command 'bogus'"),
        (["run"], "run: missing operand ID"),
        (["run", "--nope", "c"], "run: flag provided but not defined: --nope"),
        (["--nope", "run", "c"], "flag provided but not defined: --nope"),
        (["run", "--pid-file"], "flag needs an argument: --pid-file"),
        (["run", "--preserve-fds", "x", "c"], "invalid value 'x' for --preserve-fds"),
        (["start", "a", "b"], "start: unexpected operand 'b'"),
        (["delete", "--force=yes", "c"], "--force takes no value"),
    ],
)
def test_errors(argv, message):
    with pytest.raises(ArgumentError, match=message):
        parse(argv)


def test_help_and_version():
    with pytest.raises(Exit) as info:
        parse(["--version"])
    assert info.value.text.startswith("nsinit version ")
    assert "spec: 1.2.0" in info.value.text
    with pytest.raises(Exit) as info:
        parse(["--help"])
    assert "commands:" in info.value.text and "run" in info.value.text
    with pytest.raises(Exit) as info:
        parse(["run", "--help"])
    assert info.value.text.startswith("usage: nsinit run")


def test_log_settings_are_read_even_from_a_bad_command_line():
    assert _log_settings(["--log", "/l", "--log-format=json", "bogus"]) == ("/l", "json")
    assert _log_settings(["run", "c"]) == (None, "text")


def test_errors_are_one_line():
    assert _one_line(ValueError("a: one\nb: two\n")) == "a: one; b: two"


def test_an_unexpected_error_is_one_line_not_a_traceback(monkeypatch, capsys):
    import pycontainer.cli.commands as commands
    from pycontainer.cli.main import main

    monkeypatch.setattr(commands, "cmd_list", lambda args: 1 / 0, raising=False)
    assert main(["list"]) == 1
    err = capsys.readouterr().err
    assert err == "nsinit: internal error: ZeroDivisionError: division by zero\n"
