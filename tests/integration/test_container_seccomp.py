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


def test_spec_seccomp_writes_dockers_default_profile(bundle, tmp_path):
    """``nsinit spec --seccomp``: Docker's profile (the same rules as the one Docker rendered in
    our fixture), which a container then runs under; plain ``spec`` writes none, as runc."""
    (tmp_path / "with").mkdir()
    (tmp_path / "without").mkdir()
    for name, extra in (("with", ["--seccomp"]), ("without", [])):
        argv = [*NSINIT, "spec", *extra, "--bundle", str(tmp_path / name)]
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
    assert "seccomp" not in json.loads((tmp_path / "without" / "config.json").read_text())["linux"]
    profile = json.loads((tmp_path / "with" / "config.json").read_text())["linux"]["seccomp"]
    with open(os.path.join(FIXTURES, "docker-create-memory64m-pids50.json")) as f:
        docker = json.load(f)["linux"]["seccomp"]

    def rules(p):
        return sorted(
            (name, r["action"], r.get("errnoRet"), json.dumps(r.get("args", []), sort_keys=True))
            for r in p["syscalls"]
            for name in r["names"]
        )

    assert rules(profile) == rules(docker)
    assert profile["defaultAction"] == docker["defaultAction"] == "SCMP_ACT_ERRNO"
    if os.uname().machine == "x86_64":
        assert profile["architectures"] == docker["architectures"]
    bundle.config["linux"]["seccomp"] = profile
    r = bundle.sh(
        "grep Seccomp: /proc/self/status; unshare -U true 2>&1; echo rc=$?; ls / > /dev/null && echo ok"
    )
    assert r.returncode == 0, r.stderr
    assert "Seccomp:\t2" in r.stdout and "rc=0" not in r.stdout and "ok" in r.stdout


# kill(2)'s signal (argument 1) under each operator: signals 0 (a probe), 17, 18, 23 and 28 do
# nothing to a shell (SIGCHLD, SIGCONT, SIGURG and SIGWINCH are ignored by default).
SIGNALS = (0, 17, 18, 23, 28)


@pytest.mark.parametrize(
    "op, value, value_two, denied",
    [
        ("SCMP_CMP_EQ", 18, None, {18}),
        ("SCMP_CMP_NE", 18, None, {0, 17, 23, 28}),
        ("SCMP_CMP_LT", 18, None, {0, 17}),
        ("SCMP_CMP_LE", 18, None, {0, 17, 18}),
        ("SCMP_CMP_GT", 18, None, {23, 28}),
        ("SCMP_CMP_GE", 18, None, {18, 23, 28}),
        ("SCMP_CMP_MASKED_EQ", 0x10, 0x10, {17, 18, 23, 28}),  # (sig & 0x10) == 0x10
        ("SCMP_CMP_MASKED_EQ", 0x3, 0x0, {0, 28}),  # (sig & 3) == 0
    ],
)
def test_every_operator_in_a_container(bundle, op, value, value_two, denied):
    arg = {"index": 1, "value": value, "op": op}
    if value_two is not None:
        arg["valueTwo"] = value_two
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [arg]}],
    }
    script = "; ".join(f"kill -{s} $$ 2>/dev/null && echo {s}=ok || echo {s}=denied" for s in SIGNALS)
    r = bundle.sh(script)
    assert r.returncode == 0, r.stderr
    got = dict(line.split("=") for line in r.stdout.split())
    assert {int(s) for s, v in got.items() if v == "denied"} == denied, got


@pytest.mark.parametrize(
    "profile, path",
    [
        ({"defaultAction": "SCMP_ACT_NOPE"}, "linux.seccomp.defaultAction"),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_MAYBE"}],
            },
            "linux.seccomp.syscalls[0].action",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]},
            "linux.seccomp.architectures[0]",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
            },
            "linux.seccomp.listenerPath",
        ),
    ],
)
def test_bad_profiles_name_the_path_and_leave_nothing(bundle, profile, path):
    bundle.config["linux"]["seccomp"] = profile
    r = bundle.run("/bin/true")
    assert r.returncode == 1
    assert path in r.stderr, r.stderr
    assert not [p for p in os.listdir(bundle.state_root) if p != "~seccomp"]
