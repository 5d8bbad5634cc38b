"""What a container process is given, tried with hostile containers, configs and command lines:
the host facts the final step needs come from the host (never from a /proc the container made),
a missing capability set is an empty one, ids outside 0-2147483647 are refused, every init
failure fails ``create`` with the field named, runc-spec configs (ambient without inheritable)
and unlimited rlimits run.  Each test checks from inside the container or from the host."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from pycontainer import Container
from pycontainer.security.capabilities import CAP_NUMBERS
from tests.conftest import NSINIT, status_field

pytestmark = pytest.mark.root


def nsinit(bundle, *argv: str, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*NSINIT, "--root", str(bundle.state_root), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def exec_detached(bundle, *cmd: str) -> int:
    """``nsinit exec -d --pid-file F ID CMD``: the process's host pid (its output goes nowhere:
    a detached process holding our pipes would keep run() waiting)."""
    pid_file = bundle.path / "exec.pid"
    err = bundle.path / "exec.err"
    with open(err, "w") as f:
        argv = [*NSINIT, "--root", str(bundle.state_root), "exec", "-d", "--pid-file", str(pid_file)]
        r = subprocess.run([*argv, bundle.id, *cmd], stdout=subprocess.DEVNULL, stderr=f, timeout=30)
    assert r.returncode == 0, err.read_text()
    return int(pid_file.read_text())


def mask(names: list[str]) -> int:
    bits = 0
    for name in names:
        bits |= 1 << CAP_NUMBERS[name]
    return bits


def status_after_execve(pid: int, name: str) -> str:
    """/proc/PID/status as the host sees it, once the process runs ``name``."""
    text = ""
    for _ in range(1000):
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
        if status_field(text, "Name") == name:
            return text
        time.sleep(0.005)
    raise AssertionError(f"{pid} never ran {name}: {text}")


def wait_for(predicate, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# --- issue 11, hole 1: host facts from the host, not from the container's /proc --------------------

FAKE_PROC = """
mount -t tmpfs fake /proc || exit 1
mkdir -p /proc/sys/kernel /proc/self /proc/thread-self/attr/apparmor
echo -1 > /proc/sys/kernel/cap_last_cap
echo deny > /proc/self/setgroups
echo 0 > /proc/sys/kernel/ngroups_max
exec sleep 60
"""


def test_exec_ignores_a_fake_proc_made_by_the_container(bundle):
    """A container with CAP_SYS_ADMIN puts a tmpfs on its /proc whose sys/kernel/cap_last_cap
    says -1 and whose self/setgroups says "deny".  If ``nsinit exec`` read them inside the
    container, the final step would drop nothing from the bounding set (a root process then
    execs with every capability, 000001fffeffffff, noNewPrivileges being false) and would skip
    setgroups (the runtime's own groups kept).  Read on the host, the exec'd process has exactly
    the configured capabilities and groups."""
    caps = ["CAP_SYS_ADMIN", "CAP_KILL", "CAP_CHOWN"]
    process = bundle.config["process"]
    process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
    process["noNewPrivileges"] = False
    process["user"] = {"uid": 0, "gid": 0, "additionalGids": [1234]}
    process["args"] = ["/bin/sh", "-c", FAKE_PROC]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        fake = f"/proc/{c.pid}/root/proc/sys/kernel/cap_last_cap"
        wait_for(lambda: os.path.exists(fake) and open(fake).read().strip() == "-1", "the fake /proc")
        status = status_after_execve(exec_detached(bundle, "/bin/sleep", "60"), "sleep")
    assert int(status_field(status, "CapBnd"), 16) == mask(caps)
    assert int(status_field(status, "CapEff"), 16) == mask(caps)
    assert status_field(status, "Groups") == "1234"
