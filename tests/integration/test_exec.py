"""A new process in a running container (runc exec): in every namespace and
cgroup of the container, with the container's security settings by default."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from pycontainer import Container, InvalidState
from tests.conftest import NSINIT

pytestmark = pytest.mark.root
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "engine-configs")


@pytest.fixture
def running(bundle):
    bundle.config["process"]["args"] = ["/bin/sleep", "100"]
    bundle.write()
    c = Container.create(bundle.id, bundle.path, root=bundle.state_root)
    c.start()
    try:
        yield c
    finally:
        c.delete(force=True)


def nsinit_exec(bundle, *args, **kw) -> subprocess.CompletedProcess:
    argv = [*NSINIT, "--root", str(bundle.state_root), "exec", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, **kw)


@pytest.mark.cgroup2
def test_exec_joins_every_namespace_and_cgroup(bundle, running):
    names = ["pid", "net", "ipc", "uts", "mnt", "cgroup"]
    script = "; ".join(f"readlink /proc/self/ns/{n}" for n in names) + "; cat /proc/self/cgroup; hostname"
    r = nsinit_exec(bundle, bundle.id, "/bin/sh", "-c", script)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[: len(names)] == [os.readlink(f"/proc/{running.pid}/ns/{n}") for n in names]
    assert all(line.endswith(":/") for line in lines[len(names) : -1])  # its cgroup namespace's root
    assert lines[-1] == "pycontainer"
    with open(f"/proc/{running.pid}/cgroup") as f:
        init_cgroups = f.read()
    assert bundle.id in init_cgroups


def test_exec_sees_the_containers_processes_and_gets_its_security(bundle, running):
    r = nsinit_exec(
        bundle, bundle.id, "/bin/sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; cat /proc/self/status"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("/bin/sleep 100")
    status = dict(line.split(":", 1) for line in r.stdout.splitlines()[1:] if ":" in line)
    caps = (1 << 29) | (1 << 5) | (1 << 10)  # AUDIT_WRITE, KILL, NET_BIND_SERVICE: the config's
    assert int(status["CapBnd"], 16) == caps
    assert int(status["CapEff"], 16) == caps
    assert status["NoNewPrivs"].strip() == "1"


def test_exec_overrides(bundle, running):
    r = nsinit_exec(
        bundle,
        "--cwd",
        "/tmp",
        "--env",
        "A=1",
        "-e",
        "HOME=/elsewhere",
        "--user",
        "5:6",
        "--additional-gids",
        "7",
        bundle.id,
        "/bin/sh",
        "-c",
        "pwd; echo $A $HOME; id -u; id -g; id -G",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["/tmp", "1", "/elsewhere", "5", "6", "6", "7"]


def test_exit_codes_and_a_missing_program(bundle, running):
    assert nsinit_exec(bundle, bundle.id, "/bin/sh", "-c", "exit 5").returncode == 5
    r = nsinit_exec(bundle, bundle.id, "no-such-program")
    assert r.returncode == 255
    expected = (
        'exec failed: unable to start container process: exec: "no-such-program": executable file not found'
    )
    assert expected in r.stderr


def test_exec_with_a_process_file(bundle, running, tmp_path):
    with open(os.path.join(FIXTURES, "podman-exec-process.json")) as f:
        process = json.load(f)
    (tmp_path / "process.json").write_text(json.dumps(process))
    r = nsinit_exec(bundle, "--process", str(tmp_path / "process.json"), bundle.id)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from-exec\n"


def test_detached_exec_writes_the_pid_and_stays_our_descendant(bundle, running, tmp_path):
    pid_file = tmp_path / "exec.pid"
    c = Container.load(bundle.id, bundle.state_root)
    proc = c.exec(args=["/bin/sleep", "30"])
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            assert f"PPid:\t{os.getpid()}" in f.read()  # a child of the caller, as engines need
    finally:
        proc.kill(9)
        assert proc.wait() == 128 + 9
    # A detached process keeps nsinit's stdio (as with runc): give it no pipe to hold open.
    argv = [
        *NSINIT,
        "--root",
        str(bundle.state_root),
        "exec",
        "-d",
        "--pid-file",
        str(pid_file),
        bundle.id,
        "/bin/sleep",
        "30",
    ]
    r = subprocess.run(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30
    )
    assert r.returncode == 0
    pid = int(pid_file.read_text())
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{running.pid}/ns/pid")


def test_exec_into_a_stopped_container_fails(bundle, running):
    running.kill(9)
    running.wait()
    with pytest.raises(InvalidState, match="stopped"):
        running.exec(args=["/bin/true"])
    r = nsinit_exec(bundle, bundle.id, "/bin/true")
    assert r.returncode == 255 and "stopped" in r.stderr


def test_exec_in_a_user_namespace(make_bundle):
    b = make_bundle("userns")
    b.config["process"]["args"] = ["/bin/sleep", "100"]
    b.write()
    with Container.create(b.id, b.path, root=b.state_root) as c:
        c.start()
        r = nsinit_exec(
            b, b.id, "/bin/sh", "-c", "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user"
        )
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == "0"
        assert lines[1].split() == ["0", "100000", "65536"]
        assert lines[2] == os.readlink(f"/proc/{c.pid}/ns/user")
        time.sleep(0)  # the container is deleted by the context manager
