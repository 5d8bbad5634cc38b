"""linux.seccomp is compiled in the parent and loaded as the init's last step
(and for exec'd processes); the engines' profiles apply in full."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from pycontainer import Container
from tests.conftest import NSINIT

pytestmark = pytest.mark.root
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "engine-configs")

DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}


def test_a_profile_filters_the_process(bundle):
    bundle.config["linux"]["seccomp"] = DENY_MKDIR
    r = bundle.sh("grep Seccomp: /proc/self/status; mkdir /tmp/d 2>&1; touch /tmp/f && echo touched")
    assert r.returncode == 0, r.stderr
    assert "Seccomp:\t2" in r.stdout
    assert "Operation not permitted" in r.stdout
    assert "touched" in r.stdout
    assert "not applied" not in r.stderr


def test_exec_processes_get_the_containers_profile(bundle):
    bundle.config["linux"]["seccomp"] = DENY_MKDIR
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        argv = [
            *NSINIT,
            "--root",
            str(bundle.state_root),
            "exec",
            bundle.id,
            "/bin/sh",
            "-c",
            "mkdir /tmp/e 2>&1",
        ]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert "Operation not permitted" in r.stdout


@pytest.mark.parametrize("fixture", ["docker-create-memory64m-pids50.json", "podman-create-run-echo.json"])
def test_engine_profiles(bundle, fixture):
    with open(os.path.join(FIXTURES, fixture)) as f:
        bundle.config["linux"]["seccomp"] = json.load(f)["linux"]["seccomp"]
    r = bundle.sh(
        "grep Seccomp /proc/self/status; unshare -U true 2>&1; echo rc=$?; ls / >/dev/null && echo ok"
    )
    assert r.returncode == 0, r.stderr
    assert "Seccomp:\t2" in r.stdout
    assert "ok" in r.stdout  # the usual works
    if fixture.startswith("docker"):
        assert "rc=0" not in r.stdout  # Docker's profile refuses unshare(2) without CAP_SYS_ADMIN


def test_compiled_profiles_are_cached_under_the_state_root(bundle):
    bundle.config["linux"]["seccomp"] = {
        **DENY_MKDIR,
        "syscalls": DENY_MKDIR["syscalls"]
        + [{"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}],
    }
    assert bundle.sh("true").returncode == 0
    cache = bundle.state_root / "~seccomp"
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    files = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert files
    assert bundle.sh("true").returncode == 0
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == files  # reused, not rewritten
