"""The subprocess-shaped API's pure logic, without root: the stdio
arguments, run()'s argument handling, the error classes, and the modules
the CLI's path must not import."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import pycontainer
from pycontainer import runner as run_module
from pycontainer import stdio
from pycontainer.spec import load_config
from tests.conftest import REPO, example_config


@pytest.mark.parametrize("value", [None, pycontainer.PIPE, pycontainer.DEVNULL, 0, 7, sys.stdout])
def test_accepted_stdio_arguments(value):
    stdio.check_arg(value, "stdout")


def test_subprocess_constants_are_the_same():
    assert (pycontainer.PIPE, pycontainer.STDOUT, pycontainer.DEVNULL) == (
        subprocess.PIPE,
        subprocess.STDOUT,
        subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("value", "name", "error", "words"),
    [
        (True, "stdout", TypeError, "not True"),
        ("out.txt", "stdout", TypeError, "file object"),
        (-7, "stdin", ValueError, "-7"),
        (pycontainer.STDOUT, "stdin", ValueError, "only for stderr"),
        (pycontainer.STDOUT, "stdout", ValueError, "only for stderr"),
    ],
)
def test_refused_stdio_arguments(value, name, error, words):
    with pytest.raises(error, match=words):
        stdio.check_arg(value, name)


def test_wanted_only_when_a_stream_is_given():
    assert not stdio.wanted(None, None, None)
    assert stdio.wanted(None, None, pycontainer.STDOUT)


def _spec():
    config = example_config("busybox")
    config["process"]["args"] = ["/bin/true"]
    return load_config(config)


def test_run_args_go_to_a_copy():
    spec = _spec()
    copy, container_id, streams = run_module._prepare(
        spec, ["echo", "hi"], None, None, True, None, None, None
    )
    assert copy.process.args == ["echo", "hi"] and spec.process.args == ["/bin/true"]
    assert copy is not spec and copy.process is not spec.process
    assert container_id.startswith("pycontainer-") and len(container_id) == len("pycontainer-") + 16
    assert streams == (None, pycontainer.PIPE, pycontainer.PIPE)


def test_run_without_args_uses_the_spec_as_it_is():
    spec = _spec()
    same, _, streams = run_module._prepare(spec, None, "mine", b"in", False, None, None, None)
    assert same is spec
    assert streams[0] == pycontainer.PIPE


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"args": "echo hi"}, TypeError, "list of strings"),
        ({"args": ["echo", 3]}, TypeError, "list of strings"),
        ({"input": b"x", "stdin": pycontainer.DEVNULL}, ValueError, "stdin and input"),
        ({"capture_output": True, "stdout": pycontainer.DEVNULL}, ValueError, "capture_output"),
    ],
)
def test_run_refuses_conflicting_arguments(kwargs, error, words):
    options = {"args": None, "input": None, "capture_output": False, "stdin": None, "stdout": None}
    options.update(kwargs)
    with pytest.raises(error, match=words):
        run_module._prepare(
            _spec(),
            options["args"],
            None,
            options["input"],
            options["capture_output"],
            options["stdin"],
            options["stdout"],
            None,
        )


def test_errors_carry_what_subprocess_errors_carry():
    timeout = pycontainer.TimeoutExpired(["sleep", "9"], 1.5, b"so far", b"err")
    assert isinstance(timeout, pycontainer.PycontainerError)
    assert (timeout.cmd, timeout.timeout, timeout.stdout, timeout.stderr) == (
        ["sleep", "9"],
        1.5,
        b"so far",
        b"err",
    )
    assert "timed out after 1.5 seconds" in str(timeout)
    called = pycontainer.CalledProcessError(137, ["x"], b"o", b"e")
    assert (called.returncode, called.output, called.stdout, called.stderr) == (137, b"o", b"o", b"e")
    assert "signal 9" in str(called)
    result = pycontainer.CompletedProcess(["x"], 3, b"o", None)
    with pytest.raises(pycontainer.CalledProcessError) as caught:
        result.check_returncode()
    assert caught.value.returncode == 3
    assert "stderr" not in repr(result)


def test_the_create_path_imports_none_of_the_heavy_modules():
    """``nsinit create`` loads container.py and the clone's code: none of
    asyncio, selectors, subprocess or threading may come with the stdio work."""
    code = (
        "import sys; base = set(sys.modules); sys.path.insert(0, sys.argv[1])\n"
        "import pycontainer.cli.main, pycontainer.container\n"
        "import pycontainer.process.parent, pycontainer.process.exec\n"
        "heavy = {'asyncio', 'selectors', 'subprocess', 'threading'}\n"
        "print(' '.join(sorted(heavy & (set(sys.modules) - base))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code, os.path.join(REPO, "src")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ""


def test_run_is_the_function_whatever_is_imported_first():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from pycontainer import CompletedProcess\nimport pycontainer\nprint(callable(pycontainer.run))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code, os.path.join(REPO, "src")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "True"


def _python(code: str) -> str:
    """What a fresh interpreter running ``code`` (argv[1]: the checkout's src) prints."""
    out = subprocess.run(
        [sys.executable, "-I", "-c", code, os.path.join(REPO, "src")],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()
