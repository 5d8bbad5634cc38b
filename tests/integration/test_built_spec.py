"""Specs built in code, run for real: pycontainer.default_spec() gives a working sandbox, and a built
spec with a wrong type is refused by Container.create with the JSON path, leaving nothing behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import pytest

import pycontainer
from pycontainer import ConfigError, Container
from pycontainer.spec import Memory, Resources
from tests.conftest import REPO

pytestmark = pytest.mark.root


def new_id() -> str:
    return "t-" + uuid.uuid4().hex[:12]


def test_default_spec_runs_a_sandbox(rootfs, state_root, host_clean, tmp_path):
    """What a library user writes: default_spec, a command, run.  Inside: the hostname, a network
    namespace with only loopback, a read-only root, the default capabilities."""
    script = (
        "hostname; ls /sys/class/net; touch /x 2>/dev/null || echo ro; grep CapEff /proc/self/status; exit 7"
    )
    code = textwrap.dedent(
        f"""\
        import pycontainer
        spec = pycontainer.default_spec(["/bin/sh", "-c", {script!r}], rootfs={str(rootfs)!r})
        raise SystemExit(pycontainer.Container.run({new_id()!r}, spec=spec, root={str(state_root)!r}))
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO / "src")},
    )
    assert r.returncode == 7, r.stderr
    # CAP_AUDIT_WRITE, CAP_KILL and CAP_NET_BIND_SERVICE: runc's example set, nothing more.
    assert r.stdout.splitlines() == ["nsinit", "lo", "ro", "CapEff:\t0000000020000420"], r.stdout


def built(rootfs) -> pycontainer.Spec:
    return pycontainer.default_spec(["/bin/true"], rootfs=str(rootfs))


def create_fails(spec: pycontainer.Spec, state_root) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        Container.create(new_id(), spec=spec, root=state_root)
    return info.value


def test_args_as_a_string_is_a_config_error(rootfs, state_root, host_clean):
    spec = built(rootfs)
    assert spec.process is not None
    spec.process.args = "/bin/true"  # type: ignore[assignment]
    error = create_fails(spec, state_root)
    assert (error.path, error.message) == ("process.args", "expected an array of strings, got string")


def test_resources_as_a_dict_is_a_config_error(rootfs, state_root, host_clean):
    spec = built(rootfs)
    assert spec.linux is not None
    spec.linux.resources = {"pids": {"limit": 5}}  # type: ignore[assignment]
    error = create_fails(spec, state_root)
    assert error.path == "linux.resources"
    assert "build it with Resources(...)" in error.message


def test_a_negative_memory_limit_is_a_config_error(rootfs, state_root, host_clean):
    spec = built(rootfs)
    assert spec.linux is not None
    spec.linux.resources = Resources(memory=Memory(limit=-5))
    error = create_fails(spec, state_root)
    assert (error.path, error.message) == (
        "linux.resources.memory.limit",
        "-5 is out of range (expected a byte count, or -1 for unlimited)",
    )
