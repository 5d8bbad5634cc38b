"""Lifecycle hooks run at their points, with the state on stdin, in the
namespaces the runtime spec names; a failing create-time hook fails create
and leaves nothing behind."""

from __future__ import annotations

import json
import os
import stat

import pytest

pytestmark = pytest.mark.root


def host_hook(tmp_path, name: str, body: str) -> str:
    """A hook script on the host that appends a line to tmp_path/log."""
    path = tmp_path / f"{name}.sh"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_every_phase_in_order_with_the_state(bundle, tmp_path):
    log = tmp_path / "log"
    log.touch()
    record = 'state=$(cat); echo "{phase} $(readlink /proc/self/ns/uts) $state" >> ' + str(log)
    hooks = {}
    for phase in ("prestart", "createRuntime", "createContainer", "poststart", "poststop"):
        hooks[phase] = [{"path": host_hook(tmp_path, phase, record.format(phase=phase))}]
    # startContainer's path resolves in the container: busybox sh there, writing through a bind mount.
    hooks["startContainer"] = [
        {
            "path": "/bin/sh",
            "args": ["sh", "-c", record.replace(str(log), "/hooklog/log").format(phase="startContainer")],
        }
    ]
    bundle.config["hooks"] = hooks
    bundle.config["mounts"].append(
        {"destination": "/hooklog", "type": "bind", "source": str(tmp_path), "options": ["bind"]}
    )
    r = bundle.sh("readlink /proc/self/ns/uts")
    assert r.returncode == 0, r.stderr
    container_uts = r.stdout.strip()
    lines = log.read_text().splitlines()
    phases = [line.split(" ", 1)[0] for line in lines]
    assert phases == [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ]
    host_uts = os.readlink("/proc/self/ns/uts")
    for line in lines:
        phase, uts, state_json = line.split(" ", 2)
        state = json.loads(state_json)
        expected_status = {
            "prestart": "creating",
            "createRuntime": "creating",
            "createContainer": "creating",
            "startContainer": "created",
            "poststart": "running",
            "poststop": "stopped",
        }[phase]
        assert state["status"] == expected_status, line
        assert state["bundle"] == str(bundle.path) and state["ociVersion"]
        assert state["pid"] > 1 or phase == "poststop", line
        in_container = phase in ("createContainer", "startContainer")
        assert (uts == container_uts) == in_container, line
        assert (uts == host_uts) != in_container, line


def test_a_failing_create_runtime_hook_fails_create_and_cleans_up(bundle, tmp_path):
    hook = host_hook(tmp_path, "fail", "echo no network for you >&2; exit 3")
    bundle.config["hooks"] = {"createRuntime": [{"path": hook}]}
    r = bundle.run("/bin/true")
    assert r.returncode == 1
    assert "createRuntime hook #0" in r.stderr and "exit status 3" in r.stderr
    assert "no network for you" in r.stderr


def test_a_failing_create_container_hook_fails_create(bundle, tmp_path):
    hook = host_hook(tmp_path, "fail", "exit 4")
    bundle.config["hooks"] = {"createContainer": [{"path": hook}]}
    r = bundle.run("/bin/true")
    assert r.returncode == 1
    assert "createContainer hook #0" in r.stderr and "exit status 4" in r.stderr


def test_a_failing_poststart_hook_is_only_logged(bundle, tmp_path):
    log = tmp_path / "ran"
    hooks = [
        {"path": host_hook(tmp_path, "bad", "exit 5")},
        {"path": host_hook(tmp_path, "good", f"touch {log}")},
    ]
    bundle.config["hooks"] = {"poststart": hooks}
    r = bundle.sh("echo ran")
    assert r.returncode == 0
    assert r.stdout == "ran\n"
    assert "poststart hook #0" in r.stderr
    assert log.exists()  # the next poststart hook still ran


def test_hook_timeout(bundle, tmp_path):
    bundle.config["hooks"] = {"prestart": [{"path": host_hook(tmp_path, "slow", "sleep 5"), "timeout": 1}]}
    r = bundle.run("/bin/true")
    assert r.returncode == 1 and "timeout" in r.stderr
