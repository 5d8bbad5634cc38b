"""Errors cross from a container's init (or an exec'd process) to the library
with their class, message and attributes: errors.to_wire / from_wire, over a
real channel (a pair of pipes)."""

from __future__ import annotations

import pytest

from pycontainer import errors
from pycontainer.errors import (
    ConfigError,
    ContainerError,
    HookError,
    Problem,
    PycontainerError,
    ResourceError,
    error_classes,
    from_wire,
    to_wire,
)
from pycontainer.process.channel import Channel, ChannelClosed


def across(exc: BaseException) -> BaseException:
    """Send ``exc`` as the init does and receive it as the parent does."""
    parent, child = Channel.pair()
    try:
        assert child.report_error(exc)
        with pytest.raises(PycontainerError) as caught:
            parent.expect("ready")
        return caught.value
    finally:
        parent.close()
        child.close()


def sample(cls: type[PycontainerError]) -> PycontainerError:
    """An instance of ``cls`` with every attribute set to something other than its default."""
    if issubclass(cls, HookError):
        return cls(
            "createContainer",
            2,
            "/usr/bin/hook",
            "exit status 3",
            exit_status=3,
            signal=None,
            timed_out=True,
            errno=2,
            stdout=b"out \xff\x00",
            stderr=b"err",
        )
    if issubclass(cls, ResourceError):
        return cls("no memory controller", "linux.resources.memory", "memory.max", "1048576", 16)
    if issubclass(cls, ConfigError):
        return cls([Problem("linux.namespaces[3].type", 'unknown namespace "pidd"'), Problem("", "second")])
    return cls(f"a {cls.__name__}")


def test_the_table_holds_every_class_of_the_hierarchy():
    table = error_classes()
    assert {"PycontainerError", "ConfigError", "ContainerError", "HookError", "ResourceError"} <= set(table)
    assert all(issubclass(cls, PycontainerError) for cls in table.values())
    assert "ChannelClosed" not in table  # the parent's own, never sent
    assert not {"TimeoutExpired", "CalledProcessError"} & set(table)  # the caller's side only


def test_an_error_of_the_callers_side_crosses_as_a_plain_one():
    back = across(errors.TimeoutExpired(["sleep", "9"], 1.0))
    assert type(back) is PycontainerError and str(back) == "['sleep', '9'] timed out after 1.0 seconds"


@pytest.mark.parametrize(
    "cls", sorted(error_classes().values(), key=lambda c: c.__name__), ids=lambda c: c.__name__
)
def test_round_trip_of_every_class(cls):
    exc = sample(cls)
    back = across(exc)
    assert type(back) is cls
    assert str(back) == str(exc)
    for name in cls._wire:
        assert getattr(back, name) == getattr(exc, name), name


def test_hook_error_keeps_every_attribute():
    back = across(sample(HookError))
    assert (back.phase, back.index, back.path, back.reason) == (
        "createContainer",
        2,
        "/usr/bin/hook",
        "exit status 3",
    )
    assert (back.exit_status, back.signal, back.timed_out, back.errno) == (3, None, True, 2)
    assert back.stdout == b"out \xff\x00" and back.stderr == b"err"


def test_config_error_keeps_its_problems():
    back = across(sample(ConfigError))
    assert back.problems == [
        Problem("linux.namespaces[3].type", 'unknown namespace "pidd"'),
        Problem("", "second"),
    ]
    assert back.path == "linux.namespaces[3].type"


def test_large_hook_output_crosses_cut_to_its_end():
    big = bytes(range(256)) * 400  # 100 KiB, every byte value
    exc = HookError("startContainer", 0, "/h", "exit status 1", exit_status=1, stdout=big, stderr=big)
    back = across(exc)
    assert type(back) is HookError and back.exit_status == 1
    assert back.stdout == back.stderr and big.endswith(back.stdout)
    assert errors.WIRE_OUTPUT_LIMIT // 6 <= len(back.stdout) <= errors.WIRE_OUTPUT_LIMIT
    text = HookError("x", 0, "/h", "r", stdout=b"a" * 100_000)
    assert across(text).stdout == b"a" * errors.WIRE_OUTPUT_LIMIT
    assert str(back).startswith("startContainer hook #0 (/h) failed: exit status 1, stdout: ")


def test_a_subclass_not_in_the_table_crosses_as_its_nearest_known_class():
    back = across(ChannelClosed("gone"))
    assert type(back) is ContainerError and str(back) == "gone"

    class Custom(ResourceError):
        pass

    back = across(Custom("m", "linux.resources.pids", error_number=1))
    assert type(back) is ResourceError and back.path == "linux.resources.pids" and back.errno == 1


def test_anything_else_crosses_as_container_error_with_its_message():
    back = across(ValueError("bad value"))
    assert type(back) is ContainerError and str(back) == "bad value"


def test_unknown_names_and_bad_attributes_fall_back():
    exc = from_wire("NoSuchError", "text", {"path": 5})
    assert type(exc) is ContainerError and str(exc) == "text"
    exc = from_wire("ResourceError", "text", {"path": 5, "errno": True, "file": "memory.max", "value": ["x"]})
    assert type(exc) is ResourceError
    assert (exc.path, exc.errno, exc.file, exc.value) == (None, None, "memory.max", None)
    exc = from_wire("HookError", "text", {"stdout": "\u0100", "index": "1"})
    assert type(exc) is HookError and exc.stdout == b"" and exc.index is None and exc.timed_out is False
    exc = from_wire("ConfigError", "text", {"problems": [["a"], 3]})
    assert exc.problems == [Problem("", "text")]
    exc = from_wire(None, None, None)
    assert type(exc) is ContainerError and str(exc) == "container init failed"
    assert type(from_wire("Problem", "x")) is ContainerError  # not an exception class


def test_an_old_style_message_without_attributes():
    """A message without ``attrs`` (an older nsinit's init) still gives the class."""
    assert type(from_wire("InvalidState", "x")) is errors.InvalidState


def test_to_wire_is_json_safe():
    from pycontainer import jsonio

    for cls in error_classes().values():
        wire = to_wire(sample(cls))
        assert jsonio.loads(jsonio.dumps(wire)) == wire
