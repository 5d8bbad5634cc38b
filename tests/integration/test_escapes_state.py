"""The state on the host, against a local user and a hostile caller (issue 11,
hole 5 and what goes with it): state private to its owner under a checked
root, the pid file written safely, ``delete --force`` that removes only what
the runtime made, a config with more mounts than the kernel allows refused
first, and kill/delete/exec that never reach a process which took the
init's pid."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from pycontainer.failpoints import PAUSE_ENV
from tests.conftest import NSINIT
from tests.integration.test_rootless import user  # noqa: F401 - the session's unprivileged user (a fixture)
from tests.reliability import leftovers, nsinit, wait_no_leftovers

pytestmark = pytest.mark.root

SECRET = "SECRET_TOKEN=hunter2-do-not-leak"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def public_root():
    """A state root (not made yet) under a directory every user can traverse,
    as /run/pycontainer is under /run."""
    top = Path(tempfile.mkdtemp(prefix="pycontainer-state-"))
    top.chmod(0o755)
    yield top / "state"
    shutil.rmtree(top)


def _create(bundle, root, args=("/bin/sleep", "600"), extra=(), **kw) -> subprocess.CompletedProcess:
    bundle.config["process"]["args"] = list(args)
    bundle.write()
    return nsinit(root, "create", "--bundle", str(bundle.path), *extra, bundle.id, **kw)


# -- hole 5: the state is its owner's ----------------------------------------------------------------


def test_another_user_cannot_read_the_containers_env(bundle, user, public_root):  # noqa: F811
    bundle.config["process"]["env"].append(SECRET)
    # Whatever umask the caller has, the state is written under a fixed one.
    r = _create(bundle, public_root, preexec_fn=lambda: os.umask(0))
    assert r.returncode == 0, r.stderr
    try:
        directory = public_root / bundle.id
        assert _mode(public_root) == 0o711
        assert _mode(directory) == 0o700
        for name in ("state.json", "config.json", "exec.fifo"):
            assert _mode(directory / name) == 0o600, name
        for argv in (
            ["cat", str(directory / "config.json")],
            ["cat", str(directory / "state.json")],
            ["ls", str(directory)],
            ["grep", "-r", "hunter2", str(public_root)],
        ):
            out = user.run(argv, cwd="/", xdg=None)
            assert out.returncode != 0, (argv, out.stdout)
            assert "hunter2" not in out.stdout + out.stderr
            assert "Permission denied" in out.stderr, (argv, out.stderr)
        assert SECRET in (directory / "config.json").read_text()  # the owner still reads it
    finally:
        r = nsinit(public_root, "delete", "--force", bundle.id)
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("how", ["world-writable", "group-writable", "another user's"])
def test_an_unsafe_existing_state_root_is_refused(bundle, user, tmp_path, how):  # noqa: F811
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    if how == "world-writable":
        root.chmod(0o777)
    elif how == "group-writable":
        root.chmod(0o770)
    else:
        os.chown(root, user.uid, user.gid)
    r = _create(bundle, root)
    assert r.returncode == 1
    assert r.stderr.startswith("nsinit: state root ") and r.stderr.count("\n") == 1, r.stderr
    assert "refusing" in r.stderr and str(root) in r.stderr, r.stderr
    assert os.listdir(root) == []  # nothing made in it
    for argv in (["list"], ["state", bundle.id], ["kill", bundle.id, "KILL"]):
        r = nsinit(root, *argv)
        assert r.returncode == 1 and "state root" in r.stderr, (argv, r.stderr)


# -- the pid file -------------------------------------------------------------------------------------


def test_a_failed_pid_file_rename_names_the_pid_file_and_leaves_no_temporary(bundle, tmp_path, state_root):
    pid_file = tmp_path / "pids" / "init.pid"
    pid_file.mkdir(parents=True)  # a directory: the rename over it fails
    r = _create(bundle, state_root, extra=("--pid-file", str(pid_file)))
    assert r.returncode == 1
    assert r.stderr.startswith(f"nsinit: pid file {pid_file}: ") and r.stderr.count("\n") == 1, r.stderr
    assert ".tmp" not in r.stderr, r.stderr
    assert sorted(os.listdir(pid_file.parent)) == ["init.pid"]  # no .init.pid.tmp
    assert not wait_no_leftovers(bundle.id, state_root)  # the create was undone


def test_the_pid_file_is_never_written_through_a_planted_link(bundle, tmp_path, state_root):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    pid_file = tmp_path / "init.pid"
    (tmp_path / ".init.pid.tmp").symlink_to(victim)
    r = _create(bundle, state_root, extra=("--pid-file", str(pid_file)))
    assert r.returncode == 0, r.stderr
    try:
        assert victim.read_text() == "precious\n"
        assert not pid_file.is_symlink()
        state = json.loads(nsinit(state_root, "state", bundle.id, stdout=subprocess.PIPE).stdout)
        assert pid_file.read_text() == str(state["pid"])
        assert not (tmp_path / ".init.pid.tmp").exists()
    finally:
        assert nsinit(state_root, "delete", "--force", bundle.id).returncode == 0


# -- delete --force removes only what the runtime made ------------------------------------------------


def test_delete_force_leaves_a_directory_holding_foreign_files(bundle, state_root):
    directory = state_root / bundle.id
    directory.mkdir()
    (directory / "precious").write_text("not the runtime's\n")
    (directory / "exec.fifo").mkdir()  # a name the runtime uses, of another type
    try:
        r = nsinit(state_root, "delete", "--force", bundle.id)
        assert r.returncode == 1
        assert r.stderr.startswith("nsinit: ") and r.stderr.count("\n") == 1, r.stderr
        assert "precious" in r.stderr and "exec.fifo" in r.stderr and "left in place" in r.stderr, r.stderr
        assert (directory / "precious").read_text() == "not the runtime's\n"
        assert (directory / "exec.fifo").is_dir()
    finally:
        shutil.rmtree(directory)


def test_delete_force_of_a_damaged_state_touches_nothing_beside_a_foreign_file(bundle, state_root):
    assert _create(bundle, state_root).returncode == 0
    directory = state_root / bundle.id
    (directory / "state.json").write_text("{{{ damaged")
    (directory / "notes.txt").write_text("mine\n")
    r = nsinit(state_root, "delete", "--force", bundle.id)
    assert r.returncode == 1 and "notes.txt" in r.stderr, r.stderr
    found = leftovers(bundle.id, state_root)
    assert "processes" in found and "cgroups" in found, found  # the container was not touched
    assert (directory / "notes.txt").exists() and (directory / "config.json").exists()
    (directory / "notes.txt").unlink()  # once the foreign file is gone, the usual recovery
    r = nsinit(state_root, "delete", "--force", bundle.id)
    assert r.returncode == 0, r.stderr
    assert not wait_no_leftovers(bundle.id, state_root)


# -- more mounts than the kernel takes ----------------------------------------------------------------


def test_more_mounts_than_mount_max_are_refused_before_anything_is_made(bundle, state_root):
    limit = int(Path("/proc/sys/fs/mount-max").read_text())
    bundle.config["mounts"] += [
        {"destination": f"/tmp/m{i}", "type": "tmpfs", "source": "tmpfs"} for i in range(limit + 1)
    ]
    started = time.monotonic()
    r = _create(bundle, state_root, timeout=120)
    took = time.monotonic() - started
    assert r.returncode == 1
    assert r.stderr.startswith("nsinit: mounts: ") and r.stderr.count("\n") == 1, r.stderr[:300]
    assert str(limit) in r.stderr and "mount-max" in r.stderr, r.stderr
    assert took < 60, f"refused only after {took:.0f} s"
    assert not wait_no_leftovers(bundle.id, state_root)


# -- pid reuse: the init dies between the check and the act, a host process takes its pid -------------


def _start(bundle, root) -> int:
    assert _create(bundle, root).returncode == 0
    r = nsinit(root, "start", bundle.id)
    assert r.returncode == 0, r.stderr
    return json.loads(nsinit(root, "state", bundle.id, stdout=subprocess.PIPE).stdout)["pid"]


def _paused_nsinit(root, step: str, *argv: str) -> subprocess.Popen:
    """nsinit ARGV, stopped (SIGSTOP) at the pause point ``step``."""
    p = subprocess.Popen(
        [*NSINIT, "--root", str(root), *argv],
        env={**os.environ, PAUSE_ENV: step},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while True:
        stat_line = Path(f"/proc/{p.pid}/stat").read_text()
        if stat_line[stat_line.rindex(")") + 2] == "T":
            return p
        assert p.poll() is None, f"nsinit ended before {step}: {p.communicate()[1]}"
        assert time.monotonic() < deadline, f"nsinit never reached {step}"
        time.sleep(0.01)


def _kill_init(pid: int) -> None:
    os.kill(pid, 9)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}"):  # reaped by its parent (not us)
        assert time.monotonic() < deadline
        time.sleep(0.005)


def _take_pid(pid: int) -> subprocess.Popen:
    """A host `sleep` that gets ``pid`` (the next pid is set in ns_last_pid)."""
    for _ in range(50):
        Path("/proc/sys/kernel/ns_last_pid").write_text(str(pid - 1))
        stranger = subprocess.Popen(["sleep", "600"])
        if stranger.pid == pid:
            return stranger
        stranger.kill()
        stranger.wait()
    pytest.skip(f"another process kept taking pid {pid}")


@pytest.mark.parametrize("command", ["kill", "delete", "exec"])
def test_a_host_process_that_took_the_inits_pid_is_never_reached(bundle, state_root, tmp_path, command):
    pid = _start(bundle, state_root)
    marker = tmp_path / "ran-on-the-host"
    argv = {
        "kill": ["kill", bundle.id, "KILL"],
        "delete": ["delete", "--force", bundle.id],
        "exec": ["exec", bundle.id, "/bin/sh", "-c", f"echo escaped > {marker}"],
    }[command]
    p = _paused_nsinit(state_root, f"{command}.init-checked", *argv)
    stranger = None
    try:
        _kill_init(pid)
        stranger = _take_pid(pid)
        p.send_signal(18)  # SIGCONT
        _, err = p.communicate(timeout=30)
        time.sleep(0.1)
        assert stranger.poll() is None, f"{command} signalled the host process that took the init's pid"
        assert not marker.exists(), "exec joined the namespaces of a host process"
        if command == "kill":
            assert p.returncode == 1 and "stopped" in err, err
        elif command == "exec":
            assert p.returncode == 255 and err.startswith("nsinit: exec failed: ") and "exited" in err, err
        else:
            assert p.returncode == 0, err
    finally:
        if p.poll() is None:
            p.send_signal(18)
            p.wait()
        if stranger is not None:
            stranger.kill()
            stranger.wait()
    r = nsinit(state_root, "delete", "--force", bundle.id)
    assert r.returncode == 0, r.stderr
    assert not wait_no_leftovers(bundle.id, state_root)


def test_exec_env_without_equals_is_refused_as_create_refuses_it(bundle, state_root):
    _start(bundle, state_root)
    try:
        r = nsinit(state_root, "exec", "--env", "NOEQ", bundle.id, "/bin/true")
        assert r.returncode == 255, r.stderr
        assert r.stderr == "nsinit: exec failed: --env 'NOEQ': expected NAME=VALUE\n", r.stderr
    finally:
        assert nsinit(state_root, "delete", "--force", bundle.id).returncode == 0


def test_preserve_fds_past_the_open_fds_is_refused(bundle, state_root):
    r = _create(bundle, state_root, extra=("--preserve-fds", "99999"))
    assert r.returncode == 1
    assert "preserve-fds" in r.stderr and "65536" in r.stderr, r.stderr
    r = _create(bundle, state_root, extra=("--preserve-fds", "3"))  # nsinit has 0-2 only
    assert r.returncode == 1
    assert r.stderr.startswith("nsinit: preserve-fds 3: fd 3 is not open"), r.stderr
    assert not wait_no_leftovers(bundle.id, state_root)
