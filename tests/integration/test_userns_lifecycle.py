"""A container with a user namespace through its whole life, as runc handles
it: oom_score_adj written from outside the namespace, exec into it while it
is created or running, kill, and delete of a created container (no --force
needed, as with runc) or a running one (--force)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from pycontainer import Container, InvalidState
from tests.conftest import NSINIT

pytestmark = pytest.mark.root

NS_NAMES = ["user", "ipc", "uts", "net", "pid", "cgroup", "mnt"]


def nsinit(bundle, *args, check=True) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [*NSINIT, "--root", str(bundle.state_root), *args], capture_output=True, text=True, timeout=30
    )
    if check:
        assert r.returncode == 0, r.stderr
    return r


def create(bundle) -> None:
    """`nsinit create` with files for the container's stdio (a pipe would stay
    open as long as the container lives)."""
    out = bundle.path / "create.out"
    argv = [*NSINIT, "--root", str(bundle.state_root), "create", "--bundle", str(bundle.path), bundle.id]
    with open(out, "w") as f:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f, timeout=30)
    assert r.returncode == 0, out.read_text()


def userns_bundle(make_bundle, args=("/bin/sleep", "100"), oom_score_adj: int | None = None):
    b = make_bundle("userns")
    b.config["process"]["args"] = list(args)
    if oom_score_adj is not None:
        b.config["process"]["oomScoreAdj"] = oom_score_adj
    b.write()
    return b


def dead(pid: int) -> bool:
    """Gone, or a zombie its new parent (the creator has exited) has yet to reap."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def can_lower_oom_score_adj() -> bool:
    """Lowering oom_score_adj takes CAP_SYS_RESOURCE, which root may lack (a
    sandboxed test machine): runc could not do it either."""
    with open("/proc/self/status") as f:
        caps = next(line for line in f if line.startswith("CapEff:"))
    return bool(int(caps.split()[1], 16) & (1 << 24))


def wait_stopped(c: Container, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while c.status != "stopped":
        assert time.monotonic() < deadline, f"still {c.status}"
        time.sleep(0.01)


# -- oom_score_adj ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        300,
        pytest.param(
            -500, marks=pytest.mark.skipif(not can_lower_oom_score_adj(), reason="no CAP_SYS_RESOURCE")
        ),
    ],
)
def test_oom_score_adj_in_a_user_namespace(make_bundle, value):
    """Lowering it needs CAP_SYS_RESOURCE of the host, which the container's
    root lacks: it is written from outside, before the init goes on."""
    b = userns_bundle(make_bundle, oom_score_adj=value)
    r = b.sh("cat /proc/self/oom_score_adj; id -u; cat /proc/self/uid_map")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == str(value)
    assert lines[1] == "0" and lines[2].split() == ["0", "100000", "65536"]


def test_exec_gets_oom_score_adj_in_a_user_namespace(make_bundle, tmp_path):
    b = userns_bundle(make_bundle, oom_score_adj=400)
    with Container.create(b.id, b.path, root=b.state_root) as c:
        c.start()
        with open(f"/proc/{c.pid}/oom_score_adj") as f:
            assert f.read().strip() == "400"  # the init's, seen from the host
        r = nsinit(b, "exec", b.id, "/bin/sh", "-c", "cat /proc/self/oom_score_adj")
        assert r.stdout.strip() == "400"
        # A process of its own (exec --process) gets its own value.
        process = c.config().process
        process.args = ["/bin/sh", "-c", "cat /proc/self/oom_score_adj > /dev/shm/oom"]
        process.oom_score_adj = 700
        p = c.exec(process)
        assert p.wait() == 0
        r = nsinit(b, "exec", b.id, "/bin/cat", "/dev/shm/oom")
        assert r.stdout.strip() == "700"


# -- exec ------------------------------------------------------------------------------


def _check_exec_joins_everything(b, c: Container) -> None:
    script = "cat /proc/self/uid_map; id -u; " + "; ".join(f"readlink /proc/self/ns/{n}" for n in NS_NAMES)
    r = nsinit(b, "exec", b.id, "/bin/sh", "-c", script)
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1] == "0"
    assert lines[2:] == [os.readlink(f"/proc/{c.pid}/ns/{n}") for n in NS_NAMES]
    assert lines[2] != os.readlink("/proc/self/ns/user")


def test_exec_into_a_created_user_namespaced_container(make_bundle):
    """Every namespace file is opened before the user namespace is joined:
    inside it the others (the init's, not dumpable yet) can no longer be opened."""
    b = userns_bundle(make_bundle)
    create(b)
    try:
        c = Container.load(b.id, b.state_root)
        assert c.status == "created"
        _check_exec_joins_everything(b, c)
        assert c.status == "created"  # exec does not start it
    finally:
        nsinit(b, "delete", "--force", b.id)


def test_exec_into_a_running_user_namespaced_container(make_bundle):
    b = userns_bundle(make_bundle)
    with Container.create(b.id, b.path, root=b.state_root) as c:
        c.start()
        _check_exec_joins_everything(b, c)


# -- kill and delete -------------------------------------------------------------------


def test_delete_of_a_created_container_needs_no_force(bundle):
    """runc delete: a created container is killed and removed; a running or
    paused one needs --force."""
    bundle.config["process"]["args"] = ["/bin/sleep", "100"]
    bundle.write()
    create(bundle)
    pid = Container.load(bundle.id, bundle.state_root).pid
    nsinit(bundle, "delete", bundle.id)
    assert not (bundle.state_root / bundle.id).exists()
    assert dead(pid)
    r = nsinit(bundle, "state", bundle.id, check=False)
    assert r.returncode != 0 and "does not exist" in r.stderr


def test_delete_of_a_created_user_namespaced_container(make_bundle):
    b = userns_bundle(make_bundle)
    create(b)
    pid = Container.load(b.id, b.state_root).pid
    nsinit(b, "delete", b.id)
    assert not (b.state_root / b.id).exists()
    assert dead(pid)


def test_library_delete_of_created_and_running_containers(make_bundle):
    b = userns_bundle(make_bundle)
    c = Container.create(b.id, b.path, root=b.state_root)
    pid = c.pid
    c.delete()  # created: no force needed
    assert not (b.state_root / b.id).exists()
    assert dead(pid)

    c = Container.create(b.id, b.path, root=b.state_root)
    try:
        c.start()
        with pytest.raises(InvalidState, match="running"):
            c.delete()
        assert c.status == "running"
        c.pause()
        with pytest.raises(InvalidState, match="paused"):
            c.delete()
        assert c.status == "paused"
    finally:
        c.delete(force=True)
    assert not (b.state_root / b.id).exists()


def test_kill_and_force_delete_of_user_namespaced_containers(make_bundle):
    b = userns_bundle(make_bundle)
    # kill of a created container, then delete of the stopped one
    create(b)
    c = Container.load(b.id, b.state_root)
    nsinit(b, "kill", b.id, "KILL")
    wait_stopped(c)
    nsinit(b, "delete", b.id)
    assert not (b.state_root / b.id).exists()

    # kill of a running one (TERM, which a pid 1 without a handler ignores: KILL)
    create(b)
    nsinit(b, "start", b.id)
    c = Container.load(b.id, b.state_root)
    assert c.status == "running"
    r = nsinit(b, "delete", b.id, check=False)
    assert r.returncode != 0 and "running" in r.stderr
    nsinit(b, "kill", b.id, str(int(signal.SIGKILL)))
    wait_stopped(c)
    nsinit(b, "delete", b.id)

    # delete --force of a running one
    create(b)
    nsinit(b, "start", b.id)
    pid = Container.load(b.id, b.state_root).pid
    nsinit(b, "delete", "--force", b.id)
    assert not (b.state_root / b.id).exists()
    assert dead(pid)
