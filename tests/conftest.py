"""Shared fixtures: a busybox root filesystem, bundles made from the example
configs, a private state root, and the check that every container test leaves
the host as it found it (mounts, cgroups, network links, child processes)."""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"
# -I -S as in bin/nsinit's shebang: the way nsinit runs once installed, and without the site
# module every start costs several times more (most in the emulated VM of scripts/test-vm.sh).
NSINIT = [sys.executable, "-I", "-S", str(REPO / "bin" / "nsinit")]
IS_ROOT = os.geteuid() == 0
# Test the tree these tests live in, not whatever copy is installed.
sys.path.insert(0, str(REPO / "src"))

# Real containers change host-wide things (cgroups, mounts, links) that the
# host-clean check compares; two test sessions at once on one machine would see
# each other's containers as leaks.  So sessions take turns.
_SESSION_LOCK = "/run/lock/pycontainer-tests.lock"


def pytest_configure(config):
    if not IS_ROOT:
        return
    os.makedirs(os.path.dirname(_SESSION_LOCK), exist_ok=True)
    fd = os.open(_SESSION_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"waiting for another test session to finish ({_SESSION_LOCK})", file=sys.stderr)
        fcntl.flock(fd, fcntl.LOCK_EX)
    config._pycontainer_lock_fd = fd  # held until the process exits


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs root")
    for item in items:
        if "root" in item.keywords and not IS_ROOT:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def rootfs():
    """A busybox rootfs, outside pytest's temp dirs: those are 0700 (and pytest
    resets /tmp/pytest-of-<user> to 0700 when another session starts), but a
    user-namespaced container's root is an unprivileged host uid that must be
    able to reach its rootfs."""
    if shutil.which("busybox") is None and not os.path.exists("/bin/busybox"):
        pytest.skip("busybox is not installed (Debian package busybox-static): no rootfs for containers")
    top = Path(tempfile.mkdtemp(prefix="pycontainer-rootfs-"))
    top.chmod(0o755)
    path = top / "rootfs"
    subprocess.run([str(SPECS / "mkrootfs"), str(path)], check=True)
    yield path
    shutil.rmtree(top)


@pytest.fixture(scope="session")
def state_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="session")
def installed_nsinit() -> str:
    """This checkout's nsinit installed as scripts/install-nsinit installs it
    (an absolute interpreter, -I -S, the package's directory written in), in
    a directory of the session's own: no test depends on, or tests, whatever
    an earlier setup left in /usr/local/bin.  Engines need such a path."""
    top = tempfile.mkdtemp(prefix="pycontainer-nsinit-")
    os.chmod(top, 0o755)
    dest = os.path.join(top, "nsinit")
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(REPO / "src")}
    subprocess.run(["sh", str(REPO / "scripts" / "install-nsinit"), dest], check=True, env=env)
    yield dest
    shutil.rmtree(top)


ENGINE_FIXTURES = REPO / "tests" / "fixtures" / "engine-configs"


def engine_fixtures(kind: str) -> list[Path]:
    """The engines' files by kind: "config" (has ociVersion), "process" (has
    args, for exec --process) or "resources" (for update --resources)."""
    out = []
    for path in sorted(ENGINE_FIXTURES.glob("*.json")):
        data = json.loads(path.read_text())
        found = "config" if "ociVersion" in data else "process" if "args" in data else "resources"
        if found == kind:
            out.append(path)
    return out


def example_config(name: str = "busybox") -> dict:
    with open(SPECS / name / "config.json") as f:
        return json.load(f)


def status_field(text: str, name: str) -> str:
    """A field of /proc/PID/status text (``CapEff``, ``Seccomp`` ...), as read inside a container."""
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name} not in {text!r}")


def all_capabilities() -> dict[str, list[str]]:
    """``process.capabilities`` with every capability this process has (a config without any
    gets none; one the runtime lacks, such as CAP_SYS_RESOURCE on some hosts, capset refuses)."""
    from pycontainer.security.capabilities import names

    with open("/proc/self/status") as f:
        permitted = int(status_field(f.read(), "CapPrm"), 16)
    return dict.fromkeys(("bounding", "effective", "permitted"), names(permitted))


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Bundle:
    """A bundle directory whose config.json starts from an example config and
    points at the shared busybox rootfs."""

    def __init__(self, path: Path, rootfs: Path, state_root: Path, config: dict) -> None:
        self.path = path
        self.state_root = state_root
        self.config = config
        self.config["root"]["path"] = str(rootfs)
        self.id = "t-" + uuid.uuid4().hex[:12]

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    def write(self) -> Path:
        self.config_path.write_text(json.dumps(self.config))
        return self.config_path

    def run(self, *cmd: str, timeout: float = 30, extra: list[str] | None = None) -> Result:
        """``nsinit exec config.json -- CMD`` as a subprocess; its output."""
        self.write()
        argv = [*NSINIT, "--root", str(self.state_root), "exec", *(extra or []), str(self.config_path)]
        if cmd:
            argv += ["--", *cmd]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return Result(p.returncode, p.stdout, p.stderr)

    def sh(self, script: str, **kw) -> Result:
        return self.run("/bin/sh", "-c", script, **kw)

    def exec_sh(self, script: str, timeout: float = 60) -> str:
        """``nsinit exec ID /bin/sh -c SCRIPT`` in this bundle's running
        container; its stdout (the exec must succeed)."""
        argv = [*NSINIT, "--root", str(self.state_root), "exec", self.id, "/bin/sh", "-c", script]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, r.stderr
        return r.stdout


@pytest.fixture
def bundle(tmp_path, rootfs, state_root, host_clean) -> Bundle:
    return Bundle(tmp_path, rootfs, state_root, copy.deepcopy(example_config("busybox")))


@pytest.fixture
def make_bundle(tmp_path, rootfs, state_root, host_clean):
    def make(name: str = "busybox") -> Bundle:
        sub = tmp_path / uuid.uuid4().hex[:8]
        sub.mkdir()
        return Bundle(sub, rootfs, state_root, copy.deepcopy(example_config(name)))

    return make


# -- the host must be left clean --------------------------------------------------------


def _mounts() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


# Cgroups our tests make: test containers' ids, nsinit exec's generated ids,
# and explicit test paths.  Other tools on the machine may make their own.
OUR_CGROUP_PREFIXES = ("t-", "nsinit-", "pycontainer")


def _cgroup_dirs() -> set[str]:
    found = set()
    base = Path("/sys/fs/cgroup")
    for hierarchy in base.iterdir():
        for dirpath, dirnames, _ in os.walk(hierarchy):
            depth = dirpath[len(str(hierarchy)) :].count("/")
            if depth >= 3:
                dirnames[:] = []
            if os.path.basename(dirpath).startswith(OUR_CGROUP_PREFIXES):
                found.add(dirpath)
    return found


def _links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def _children() -> set[int]:
    kids = set()
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        try:
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                kids.update(int(p) for p in f.read().split())
        except FileNotFoundError:
            continue  # a thread that exited meanwhile (asyncio's executor, a test's own)
    return kids


def host_snapshot() -> dict[str, set]:
    return {"mounts": _mounts(), "cgroups": _cgroup_dirs(), "links": _links(), "children": _children()}


@pytest.fixture
def host_clean(state_root):
    """Compare the host before and after the test: nothing may be left."""
    if not IS_ROOT:
        yield
        return
    before = host_snapshot()
    states_before = set(os.listdir(state_root)) | {"~seccomp"}  # the compiled-profile cache may stay
    yield
    after = host_snapshot()
    leaks = {k: sorted(map(str, after[k] - before[k])) for k in before if after[k] - before[k]}
    leftover_states = set(os.listdir(state_root)) - states_before
    if leftover_states:
        leaks["state dirs"] = sorted(leftover_states)
    assert not leaks, f"the test left things behind on the host: {leaks}"
