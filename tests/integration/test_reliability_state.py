"""A state that no longer tells the truth: a truncated or corrupt state file,
an init that died long ago and whose pid now belongs to another process, a
cgroup someone removed, a state dir a killed create left without a state
file.  Commands give a clear error or the right status, and ``delete
--force`` cleans up."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.reliability import leftovers, nsinit, wait_no_leftovers

pytestmark = pytest.mark.root


def _create(bundle, args=("/bin/sleep", "600")) -> None:
    bundle.config["process"]["args"] = list(args)
    bundle.write()
    r = nsinit(bundle.state_root, "create", "--bundle", str(bundle.path), bundle.id)
    assert r.returncode == 0, r.stderr


def _state_file(bundle):
    return bundle.state_root / bundle.id / "state.json"


def _status(bundle) -> str:
    r = nsinit(bundle.state_root, "state", bundle.id, stdout=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["status"]


def _one_clear_line(stderr: str, *words: str) -> None:
    assert stderr.startswith("nsinit: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    for word in words:
        assert word in stderr, stderr


def _delete_force_cleans(bundle) -> None:
    r = nsinit(bundle.state_root, "delete", "--force", bundle.id)
    assert r.returncode == 0, r.stderr
    assert not wait_no_leftovers(bundle.id, bundle.state_root)


DAMAGE = {
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "garbage": lambda text: "\x00\xff{{{not json",
    "a list": lambda text: "[1, 2, 3]",
    "pid a string": lambda text: json.dumps({**json.loads(text), "pid": "1; rm -rf /"}),
    "unknown field": lambda text: json.dumps({**json.loads(text), "surprise": 1}),
    "cgroups a number": lambda text: json.dumps({**json.loads(text), "cgroup_paths": 7}),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_state_file(bundle, damage):
    _create(bundle)
    path = _state_file(bundle)
    path.write_text(DAMAGE[damage](path.read_text()))
    root = bundle.state_root
    for argv in (
        ["state", bundle.id],
        ["kill", bundle.id, "KILL"],
        ["start", bundle.id],
        ["delete", bundle.id],
    ):
        r = nsinit(root, *argv)
        assert r.returncode == 1, (argv, r.stderr)
        _one_clear_line(r.stderr, "state file is unreadable")
    listed = nsinit(root, "list", "-q", stdout=subprocess.PIPE)
    assert listed.returncode == 0 and bundle.id not in listed.stdout, listed.stderr
    assert "processes" in leftovers(bundle.id, root)  # the container still runs; nothing was touched
    _delete_force_cleans(bundle)  # its cgroup found again from the config kept with the state


def test_init_died_and_its_pid_was_reused(bundle):
    """The state's pid now names another process (same pid, other start
    time): the container is stopped, and nothing signals that process."""
    _create(bundle)
    path = _state_file(bundle)
    state = json.loads(path.read_text())
    os.kill(state["pid"], 9)
    deadline = time.monotonic() + 5
    while _status(bundle) != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        path.write_text(json.dumps({**state, "pid": stranger.pid}))
        assert _status(bundle) == "stopped"
        r = nsinit(bundle.state_root, "kill", bundle.id, "KILL")
        assert r.returncode == 1
        _one_clear_line(r.stderr, "stopped")
        r = nsinit(bundle.state_root, "delete", bundle.id)  # stopped: no --force needed
        assert r.returncode == 0, r.stderr
        assert stranger.poll() is None, "delete signalled a process that is not the container's"
        assert not wait_no_leftovers(bundle.id, bundle.state_root)
        _create(bundle)
        path.write_text(json.dumps({**json.loads(path.read_text()), "pid": stranger.pid}))
        _delete_force_cleans(bundle)  # the real init is still found, in the cgroup
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def _container_cgroups(bundle) -> list[str]:
    return sorted(set(json.loads(_state_file(bundle).read_text())["cgroup_paths"].values()))


def test_cgroup_vanished_after_the_container_stopped(bundle):
    _create(bundle)
    state = json.loads(_state_file(bundle).read_text())
    os.kill(state["pid"], 9)
    deadline = time.monotonic() + 5
    while _status(bundle) != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    for directory in _container_cgroups(bundle):
        os.rmdir(directory)
    assert _status(bundle) == "stopped"
    r = nsinit(bundle.state_root, "delete", bundle.id)
    assert r.returncode == 0, r.stderr
    assert not wait_no_leftovers(bundle.id, bundle.state_root)


def test_cgroup_vanished_under_a_running_container(bundle):
    """Someone moved the init out and removed the container's cgroups."""
    _create(bundle)
    assert nsinit(bundle.state_root, "start", bundle.id).returncode == 0
    pid = json.loads(_state_file(bundle).read_text())["pid"]
    for directory in _container_cgroups(bundle):
        with open(os.path.join(os.path.dirname(directory), "cgroup.procs"), "w") as f:
            f.write(str(pid))
        os.rmdir(directory)
    try:
        assert _status(bundle) == "running"
        r = nsinit(bundle.state_root, "pause", bundle.id)
        assert r.returncode == 1
        _one_clear_line(r.stderr)
        r = nsinit(bundle.state_root, "delete", "--force", bundle.id)
        assert r.returncode == 0, r.stderr
        # The init was killed through its pid: it is gone although no cgroup held it.
        assert not wait_no_leftovers(bundle.id, bundle.state_root)
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def test_state_dir_without_state_file(bundle):
    """What a create killed right after making the directory leaves."""
    directory = bundle.state_root / bundle.id
    directory.mkdir()
    os.mkfifo(directory / "exec.fifo")
    root = bundle.state_root
    r = nsinit(root, "state", bundle.id)
    assert r.returncode == 1
    _one_clear_line(r.stderr, "does not exist")
    listed = nsinit(root, "list", "-q", stdout=subprocess.PIPE)
    assert listed.returncode == 0 and bundle.id not in listed.stdout
    _delete_force_cleans(bundle)


def test_creating_status_while_the_creator_lives(bundle):
    """A state without an init pid, whose creator is alive, is "creating":
    not deleted under its creator's feet, and kill does not signal pid 0."""
    _create(bundle)
    path = _state_file(bundle)
    state = json.loads(path.read_text())
    me = os.getpid()
    with open(f"/proc/{me}/stat") as f:
        start_time = int(f.read().rsplit(")", 1)[1].split()[19])
    path.write_text(json.dumps({**state, "pid": 0, "creator_pid": me, "creator_start_time": start_time}))
    assert _status(bundle) == "creating"
    for argv in (["kill", bundle.id, "KILL"], ["delete", bundle.id], ["delete", "--force", bundle.id]):
        r = nsinit(bundle.state_root, *argv)
        assert r.returncode == 1, argv
        _one_clear_line(r.stderr, "creat")
    path.write_text(json.dumps({**state, "pid": 0, "creator_pid": me, "creator_start_time": start_time + 1}))
    assert _status(bundle) == "stopped"  # its creator is gone (the pid is another process now)
    _delete_force_cleans(bundle)  # and the init it had made is found in the cgroup
