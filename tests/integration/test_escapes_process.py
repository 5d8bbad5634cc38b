"""What a container process is given, tried with hostile containers, configs and command lines:
the host facts the final step needs come from the host (never from a /proc the container made),
a missing capability set is an empty one, ids outside 0-2147483647 are refused, every init
failure fails ``create`` with the field named, runc-spec configs (ambient without inheritable)
and unlimited rlimits run.  Each test checks from inside the container or from the host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from pycontainer import Container
from pycontainer.errors import ContainerError
from pycontainer.security.capabilities import CAP_NUMBERS
from tests.conftest import NSINIT, REPO, status_field

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


# --- issue 11, hole 4: no process.capabilities is no capabilities ----------------------------------


def test_a_process_without_capabilities_gets_none(bundle, tmp_path):
    """A config, or an ``exec --process`` file, without ``capabilities`` gets five empty sets,
    as runc gives it (the runtime's full set, 000001fffeffffff, before).  ``exec`` without
    --process takes the container's (none); ``exec --cap`` adds to bounding, effective and
    permitted, never to inheritable."""
    del bundle.config["process"]["capabilities"]
    bundle.config["process"]["noNewPrivileges"] = False
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    process_file = tmp_path / "process.json"
    process_file.write_text(
        json.dumps({"args": ["/bin/cat", "/proc/self/status"], "cwd": "/", "user": {"uid": 0, "gid": 0}})
    )
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        init = status_after_execve(c.pid, "sleep")
        plain = nsinit(bundle, "exec", bundle.id, "/bin/cat", "/proc/self/status")
        from_file = nsinit(bundle, "exec", "--process", str(process_file), bundle.id)
        with_cap = nsinit(bundle, "exec", "--cap", "CAP_KILL", bundle.id, "/bin/cat", "/proc/self/status")
    for r in (plain, from_file, with_cap):
        assert r.returncode == 0, r.stderr
    for text in (init, plain.stdout, from_file.stdout):
        for field in ("CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"):
            assert int(status_field(text, field), 16) == 0, (field, text)
    kill = mask(["CAP_KILL"])
    assert [int(status_field(with_cap.stdout, f), 16) for f in ("CapBnd", "CapEff", "CapPrm")] == [kill] * 3
    assert int(status_field(with_cap.stdout, "CapInh"), 16) == 0


# --- issue 11, hole 7: (uid_t)-1 is not root ----------------------------------------------------


def nothing_left(bundle) -> None:
    """Neither the container nor its state dir exists after a refused create."""
    assert not (bundle.state_root / bundle.id).exists()
    assert nsinit(bundle, "state", bundle.id).returncode != 0


@pytest.mark.parametrize(
    "user, path",
    [
        ({"uid": 4294967295, "gid": 4294967295}, "process.user.uid"),
        ({"uid": 1000, "gid": 4294967295}, "process.user.gid"),
        ({"uid": 1000, "gid": 1000, "additionalGids": [4294967295]}, "process.user.additionalGids[0]"),
        ({"uid": 2147483648, "gid": 0}, "process.user.uid"),
    ],
)
def test_ids_outside_runcs_range_are_refused(bundle, user, path):
    """uid or gid 4294967295 is (uid_t)-1, "leave unchanged" to setresuid/setresgid: the
    process ran as root (``id`` said uid=0).  Refused as runc refuses them, nothing made."""
    bundle.config["process"]["user"] = user
    bundle.config["process"]["args"] = ["/bin/id"]
    bundle.write()
    r = nsinit(bundle, "create", "--bundle", str(bundle.path), bundle.id)
    assert r.returncode == 1
    assert f"{path}: uids and gids must be in range 0-2147483647" in r.stderr
    nothing_left(bundle)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["-u", "4294967295"], "--user 4294967295: uids and gids must be in range 0-2147483647"),
        (["-u", "4294967296"], "--user 4294967296: uids and gids must be in range 0-2147483647"),
        (["-u", "-1"], "--user -1: uids and gids must be in range 0-2147483647"),
        (["-u", "1000:4294967295"], "--user 4294967295: uids and gids must be in range 0-2147483647"),
        (["-g", "4294967295"], "--additional-gids 4294967295: uids and gids must be in range 0-2147483647"),
    ],
)
def test_exec_user_outside_runcs_range_is_refused(bundle, flags, message):
    """``nsinit exec -u 4294967295 ID id`` printed uid=0(root); -u 4294967296 and -u -1 leaked
    cffi's "does not fit 'unsigned int'" and "can't convert negative number to unsigned"."""
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        r = nsinit(bundle, "exec", *flags, bundle.id, "/bin/id")
        assert c.pids() == [c.pid]  # nothing ran
    assert r.returncode == 1
    assert message in r.stderr
    assert "uid=" not in r.stdout


# --- hostile configs: every failure before the user's process fails create -------------------------


HOSTILE = [
    # (what the config gets, the JSON path named, words that must be in the message)
    (
        "c['process']['capabilities']['permitted'] = None",
        "process.capabilities.effective[0]",
        "unable to apply caps",
    ),
    ("c['process']['env'].append('A=\\ud800')", "process.env[3]", "lone surrogate"),
    ("c['process']['env'].append('A=b\\0c')", "process.env[3]", "can't contain null(\\x00)"),
    ("c['process']['args'] = ['/bin/echo', 'a\\0b']", "process.args[1]", "can't contain null"),
    ("c['process']['cwd'] = '/tm\\0p'", "process.cwd", "can't contain null"),
    ("c['hostname'] = 'a\\0b'", "hostname", "can't contain null"),
    ("c['domainname'] = 'a\\0b'", "domainname", "can't contain null"),
    ("c['mounts'][0]['destination'] = '/pr\\0oc'", "mounts[0].destination", "can't contain null"),
    ("c['mounts'][0]['source'] = 'pr\\0oc'", "mounts[0].source", "can't contain null"),
    (
        "c['hooks'] = {'createRuntime': [{'path': '/bin/true', 'args': ['true', 'a\\0'], 'env': ['X=\\0']}]}",
        "hooks.createRuntime[0].args[1]",
        "can't contain null",
    ),
    (
        "c['hooks'] = {'poststart': [{'path': '/bin/t\\0rue'}]}",
        "hooks.poststart[0].path",
        "can't contain null",
    ),
    (
        "c['linux']['devices'] = [{'type': 'c', 'path': '/dev/x', 'major': 2**40, 'minor': 1}]",
        "linux.devices[0].major",
        "out of range (expected 0..4095)",
    ),
    (
        "c['process']['rlimits'] = [{'type': 'RLIMIT_CORE', 'hard': 2**64, 'soft': 1}]",
        "process.rlimits[0].hard",
        "expected 0..18446744073709551615",
    ),
    (
        "c['process']['consoleSize'] = {'height': 70000, 'width': 80}",
        "process.consoleSize.height",
        "0..65535",
    ),
    (
        "c['process']['scheduler'] = {'policy': 'SCHED_OTHER', 'priority': -1}",
        "process.scheduler.priority",
        "expected 0..99",
    ),
]


@pytest.mark.parametrize("change, path, words", HOSTILE, ids=[h[1] for h in HOSTILE])
def test_hostile_configs_fail_create_naming_the_field(bundle, change, path, words):
    """Each of these either ran with a value cut short (NUL), failed after ``create`` said the
    container was ready (capset, the encoding of env: ``create`` and ``start`` exited 0 and the
    container went straight to stopped), or failed with Python's words ("Python int too large to
    convert to C int", "embedded null byte").  Now ``create`` fails naming the field, and
    nothing is left."""
    exec(change, {"c": bundle.config})
    bundle.config["process"]["args"] = bundle.config["process"]["args"] or ["/bin/true"]
    bundle.write()
    r = nsinit(bundle, "create", "--bundle", str(bundle.path), bundle.id)
    assert r.returncode == 1, r.stderr
    assert f"{path}:" in r.stderr and words in r.stderr, r.stderr
    for python_words in ("Python int", "embedded null", "codec", "Traceback", "internal error"):
        assert python_words not in r.stderr
    nothing_left(bundle)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux) to drop a capability")
def test_a_capability_the_runtime_lacks_fails_create(bundle):
    """capset can only keep what the runtime holds (root lacks CAP_SYS_RESOURCE on some hosts):
    asked for one it lacks, the init failed after ``create`` reported ready and the container
    went straight to stopped.  Now ``create`` fails with runc's "unable to apply caps"."""
    caps = ["CAP_KILL", "CAP_SYS_NICE"]
    bundle.config["process"]["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
    bundle.write()
    argv = [*NSINIT, "--root", str(bundle.state_root), "create", "--bundle", str(bundle.path), bundle.id]
    r = subprocess.run(
        ["setpriv", "--bounding-set", "-sys_nice", *argv], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 1
    assert "unable to apply caps: process.capabilities.permitted: CAP_SYS_NICE not held" in r.stderr
    nothing_left(bundle)


def test_a_late_failure_of_an_exec_process_is_reported_before_ready(bundle):
    """The library does not validate a process built in code: an env value with no UTF-8 form
    must still fail the exec itself, naming the field, before the process reports ready (it
    failed after, when nobody was listening any more)."""
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        process = c.config().process
        process.args = ["/bin/true"]
        process.env = [*process.env, "A=\ud800"]
        with pytest.raises(ContainerError, match=r"process.env\[3\]"):
            c.exec(process).wait()
        assert c.pids() == [c.pid]


@pytest.mark.parametrize(
    "content, words",
    [
        ("{bad", "invalid JSON at line 1, column 2"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_update_with_a_bad_resources_file_names_the_flag(bundle, tmp_path, content, words):
    """``update -r bad.json`` said "internal error: JSONDecodeError"."""
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        from_file = nsinit(bundle, "update", "-r", str(bad), bundle.id)
        from_stdin = nsinit(bundle, "update", "-r", "-", bundle.id, input=content)
    for r in (from_file, from_stdin):
        assert r.returncode == 1
        assert "--resources" in r.stderr and words in r.stderr, r.stderr
        assert "internal error" not in r.stderr


# --- issue 12, item 1: runc spec's config runs ---------------------------------------------------

RUNC_SPEC = REPO / "tests" / "fixtures" / "runc" / "spec-1.1.5.json"


def test_runc_spec_config_runs_with_ambient_capabilities_skipped(tmp_path, rootfs, state_root, host_clean):
    """``runc spec`` (here runc 1.1.5's output, kept as a fixture) lists ambient capabilities
    without inheritable ones.  The kernel refuses to raise them; runc and crun go on with CapAmb
    0, and so does nsinit (it stopped with "prctl(PR_CAP_AMBIENT_RAISE): Operation not
    permitted").  The inheritable set stays exactly as configured: empty (CVE-2022-29162)."""
    config = json.loads(RUNC_SPEC.read_text())
    caps = config["process"]["capabilities"]
    assert caps["ambient"] and "inheritable" not in caps  # what runc spec writes
    config["root"]["path"] = str(rootfs)
    config["root"]["readonly"] = True
    config["process"]["terminal"] = False  # no terminal here: the rest as runc spec wrote it
    config["process"]["args"] = ["/bin/cat", "/proc/self/status"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    r = subprocess.run(
        [
            *NSINIT,
            "--root",
            str(state_root),
            "run",
            "--bundle",
            str(tmp_path),
            "runc-spec-" + tmp_path.name[-8:],
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    assert int(status_field(r.stdout, "CapAmb"), 16) == 0
    assert int(status_field(r.stdout, "CapInh"), 16) == 0
    assert int(status_field(r.stdout, "CapEff"), 16) == mask(caps["effective"])


def test_ambient_capabilities_permitted_and_inheritable_are_raised(bundle, caplog):
    """The other side: an ambient capability that is permitted and inheritable is raised (a
    non-root process keeps it across execve); the one that is not is skipped with a debug line."""
    caps = ["CAP_KILL", "CAP_CHOWN"]
    bundle.config["process"]["capabilities"] = {
        "bounding": caps,
        "effective": caps,
        "permitted": caps,
        "inheritable": ["CAP_KILL"],
        "ambient": caps,
    }
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    with caplog.at_level("DEBUG", logger="pycontainer"):
        with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
            c.start()
            status = status_after_execve(c.pid, "sleep")
    assert int(status_field(status, "CapAmb"), 16) == mask(["CAP_KILL"])
    assert int(status_field(status, "CapEff"), 16) == mask(["CAP_KILL"])  # uid 1000: ambient only
    assert "CAP_CHOWN not raised" in caplog.text


# --- issue 12, item 4: unlimited rlimits ------------------------------------------------------------


@pytest.mark.parametrize("value", [2**64 - 1, 2**63])
def test_unlimited_rlimits(bundle, value):
    """RLIMIT_CORE at RLIM_INFINITY (what engines write for unlimited), or anything from 2**63
    up, is unlimited inside the container, as with runc ("Python int too large to convert to C
    long" before)."""
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_CORE", "hard": value, "soft": value}]
    r = bundle.sh("ulimit -c; ulimit -Hc")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["unlimited", "unlimited"]
