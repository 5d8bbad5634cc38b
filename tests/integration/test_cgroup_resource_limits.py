"""linux.resources on this host's real cgroups (root): the limits are
written where the host keeps each controller, read back, and enforced on
real processes.

Every test makes its cgroup under a fresh ``/pycontainer-test-<uuid>`` and
the fixture kills whatever runs in it and removes it, whatever happens.  The
tests adapt to the layout (v1, hybrid or pure v2); the v2 paths are
exercised in a pure cgroup v2 VM (scripts/test-cgroup2.sh).  cgroupspy (a v1
reader, tests only) cross-checks the v1 files where it is installed.

(Not named test_cgroup_resources.py: tests/unit has that name, and pytest's
default "prepend" import mode refuses two test modules with one basename
when the directories are not packages.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycontainer.cgroups import UNIFIED, Manager, cgroup_of, detect, manager_for
from pycontainer.cgroups.resources import (
    ResourceError,
    apply_resources,
    blkio_weight_to_io_weight,
    cpu_shares_to_weight,
    update_resources,
)
from pycontainer.spec.models import CPU, BlockIO, DeviceRule, HugepageLimit, Memory, Pids, Resources

pytestmark = [pytest.mark.root, pytest.mark.cgroup2]

MiB = 1 << 20


@pytest.fixture
def manager() -> Iterator[Manager]:
    """A fresh container cgroup; afterwards every process left in it is
    killed and every directory made is removed.  On a hybrid host, a
    controller the tests enabled at the unified root is disabled again."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create cgroups")
    token = f"pycontainer-test-{uuid.uuid4().hex[:12]}"
    layout = detect()
    root_enabled = None
    if layout.mode == "hybrid":
        root_enabled = _words(Path(layout.unified, "cgroup.subtree_control"))
    mgr = manager_for(f"/{token}", token, layout)
    try:
        mgr.create()
        yield mgr
    finally:
        _kill_all(mgr)
        mgr.destroy()
        assert not mgr.exists()
        if root_enabled is not None:
            control = Path(layout.unified, "cgroup.subtree_control")
            for controller in sorted(_words(control) - root_enabled):
                control.write_text(f"-{controller}")


def _words(path: Path) -> set[str]:
    return set(path.read_text().split())


def _kill_all(mgr: Manager) -> None:
    deadline = time.monotonic() + 10
    while mgr.exists() and (pids := mgr.pids()):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise AssertionError(f"processes {pids} outlived SIGKILL")
        time.sleep(0.02)


def _dir(mgr: Manager, controller: str) -> Path:
    """The directory holding *controller*: its v1 hierarchy, else the unified one."""
    paths = mgr.paths()
    return Path(paths[controller] if controller in paths else paths[UNIFIED])


def _v1(mgr: Manager, controller: str) -> bool:
    return controller in mgr.paths()


def _read(mgr: Manager, controller: str, name: str) -> str:
    return (_dir(mgr, controller) / name).read_text().strip()


def _spawn_in(mgr: Manager, argv: list[str], **kwargs) -> subprocess.Popen:
    """Start *argv* inside the cgroup: a gate shell waits on stdin until it
    has been moved in, then execs the command."""
    proc = subprocess.Popen(
        ["/bin/sh", "-c", 'read _ && exec "$@"', "gate", *argv], stdin=subprocess.PIPE, **kwargs
    )
    try:
        mgr.add(proc.pid)
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        proc.stdin = None  # communicate() has nothing more to send
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def _run_in(mgr: Manager, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    proc = _spawn_in(mgr, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out.decode(), err.decode())


def _swap_accounted(mgr: Manager) -> bool:
    if _v1(mgr, "memory"):
        return (_dir(mgr, "memory") / "memory.memsw.limit_in_bytes").exists()
    return True  # enabled by apply_resources; checked after


DEVICE_RULES = [
    DeviceRule(allow=False, access="rwm"),
    DeviceRule(allow=True, type="c", major=1, minor=3, access="rwm"),  # /dev/null (also a default)
    DeviceRule(allow=False, type="c", major=1, minor=11, access="rwm"),  # /dev/kmsg: stays denied
]


def _limits(mgr: Manager) -> Resources:
    res = Resources(
        devices=list(DEVICE_RULES),
        memory=Memory(limit=64 * MiB),
        pids=Pids(limit=50),
        cpu=CPU(shares=512, quota=50000, period=100000, cpus="0"),
    )
    if _swap_accounted(mgr):
        res.memory.swap = 64 * MiB  # no swapping around the limit
    blkio = _dir(mgr, "blkio") if _v1(mgr, "blkio") else None
    if blkio is not None and any((blkio / f).exists() for f in ("blkio.weight", "blkio.bfq.weight")):
        res.block_io = BlockIO(weight=500)
    return res


def test_limits_are_written_where_the_host_keeps_them(manager) -> None:
    res = _limits(manager)
    apply_resources(manager, res)
    if _v1(manager, "memory"):
        assert _read(manager, "memory", "memory.limit_in_bytes") == str(64 * MiB)
        if res.memory.swap:
            assert _read(manager, "memory", "memory.memsw.limit_in_bytes") == str(64 * MiB)
    else:
        assert _read(manager, "memory", "memory.max") == str(64 * MiB)
        if (_dir(manager, "memory") / "memory.swap.max").exists():
            assert _read(manager, "memory", "memory.swap.max") == "0"
    assert _read(manager, "pids", "pids.max") == "50"
    if _v1(manager, "cpu"):
        assert _read(manager, "cpu", "cpu.shares") == "512"
        assert _read(manager, "cpu", "cpu.cfs_quota_us") == "50000"
        assert _read(manager, "cpu", "cpu.cfs_period_us") == "100000"
    else:
        assert _read(manager, "cpu", "cpu.weight") == str(cpu_shares_to_weight(512))
        assert _read(manager, "cpu", "cpu.max") == "50000 100000"
    assert _read(manager, "cpuset", "cpuset.cpus") == "0"
    if res.block_io is not None:
        blkio = _dir(manager, "blkio")
        name = "blkio.weight" if (blkio / "blkio.weight").exists() else "blkio.bfq.weight"
        assert _read(manager, "blkio", name).split()[-1] == "500"  # BFQ reads "default 500"
    if _v1(manager, "devices"):
        rules = _read(manager, "devices", "devices.list").splitlines()
        assert "a *:* rwm" not in rules  # a whitelist now
        assert "c 1:3 rwm" in rules
        assert "c 136:* rwm" in rules  # runc's defaults come along
        assert not [r for r in rules if r.startswith("c 1:11 ")]


def test_v1_values_as_a_v2_kernel_takes_them(manager) -> None:
    """runc's conversions of the v1-shaped values, written to the real v2
    files (and accepted there), and ``unified`` last, overriding them."""
    if UNIFIED not in manager.paths() or any(_v1(manager, c) for c in ("memory", "cpu", "blkio", "pids")):
        pytest.skip("needs memory, cpu, io and pids on cgroup v2 (scripts/test-cgroup2.sh)")
    io = _dir(manager, "io")
    # Weights need BFQ (io.bfq.weight) or io.cost (io.weight): not every kernel and disk has one.
    weights = any((io / name).exists() for name in ("io.bfq.weight", "io.weight"))
    apply_resources(
        manager,
        Resources(
            memory=Memory(limit=64 * MiB, swap=96 * MiB, reservation=16 * MiB),
            cpu=CPU(shares=2048, quota=20000, period=50000),
            block_io=BlockIO(weight=500) if weights else None,
            pids=Pids(limit=40),
            unified={"pids.max": "30", "memory.high": str(48 * MiB)},
        ),
    )
    assert _read(manager, "memory", "memory.max") == str(64 * MiB)
    if (_dir(manager, "memory") / "memory.swap.max").exists():
        assert _read(manager, "memory", "memory.swap.max") == str(32 * MiB)  # memory+swap minus memory
    assert _read(manager, "memory", "memory.low") == str(16 * MiB)
    assert _read(manager, "cpu", "cpu.weight") == str(cpu_shares_to_weight(2048))
    assert _read(manager, "cpu", "cpu.max") == "20000 50000"
    if (io / "io.bfq.weight").exists():  # BFQ takes the v1 range as it is
        assert _read(manager, "io", "io.bfq.weight").split()[-1] == "500"
    elif (io / "io.weight").exists():
        assert _read(manager, "io", "io.weight") == f"default {blkio_weight_to_io_weight(500)}"
    assert _read(manager, "pids", "pids.max") == "30"  # unified wins
    assert _read(manager, "memory", "memory.high") == str(48 * MiB)


def test_v1_files_read_back_with_cgroupspy(manager) -> None:
    nodes = pytest.importorskip("cgroupspy.nodes")
    if not all(_v1(manager, c) for c in ("memory", "cpu", "cpuset", "devices")):
        pytest.skip("needs memory, cpu, cpuset and devices as cgroup v1 hierarchies")

    def spy(controller: str):
        directory = manager.paths()[controller]
        mountpoint = manager.layout.mountpoint(controller)
        if os.path.basename(mountpoint) != controller:
            pytest.skip(f"cgroupspy cannot tell the controller of {mountpoint}")
        node = nodes.Node(os.path.basename(mountpoint), parent=nodes.Node(os.path.dirname(mountpoint)))
        for part in os.path.relpath(directory, mountpoint).split("/"):
            node = nodes.Node(part, parent=node)
        return node.controller

    apply_resources(manager, _limits(manager))
    assert spy("memory").limit_in_bytes == 64 * MiB
    assert spy("cpu").shares == 512
    assert spy("cpu").cfs_quota_us == 50000
    assert spy("cpu").cfs_period_us == 100000
    assert spy("cpuset").cpus == {0}
    allowed = {str(rule) for rule in spy("devices").list}
    assert "c 1:3 rwm" in allowed and "a *:* rwm" not in allowed


def test_processes_in_the_cgroup_are_limited(manager) -> None:
    apply_resources(manager, _limits(manager))

    # a real process lives in the container's cgroup
    sleeper = _spawn_in(manager, ["sleep", "30"])
    try:
        where = cgroup_of(sleeper.pid)
        for key, directory in manager.paths().items():
            mount = manager.layout.mountpoint(key)
            root = manager.layout.roots.get(key, "/").rstrip("/")
            assert where[key] == root + directory[len(mount) :]
        assert manager.pids() == [sleeper.pid]
    finally:
        sleeper.kill()
        sleeper.wait()

    # pids.max 50: a shell starting 60 sleeps runs out of forks (the sleeps
    # inherit its stdio, hence files rather than pipes)
    with tempfile.TemporaryFile() as output:
        bomb = _spawn_in(
            manager,
            ["/bin/sh", "-c", "i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done; echo started $i"],
            stdout=output,
            stderr=output,
        )
        bomb.wait(timeout=30)
        running = manager.pids()
        output.seek(0)
        said = output.read().decode()
    assert "fork" in said.lower(), said
    assert 40 <= len(running) <= 50, running
    if (_dir(manager, "pids") / "pids.events").exists():
        events = dict(line.split() for line in _read(manager, "pids", "pids.events").splitlines())
        assert int(events["max"]) >= 1
    _kill_all(manager)

    # memory 64 MiB (and no swap): touching 200 MiB gets the process killed
    hog = _run_in(manager, [sys.executable, "-S", "-c", "b = b'x' * (200 << 20); print(len(b))"])
    assert hog.returncode == -signal.SIGKILL, (hog.returncode, hog.stdout, hog.stderr)
    assert hog.stdout == ""

    # devices: /dev/null is allowed, /dev/kmsg is not (the v1 devices cgroup, or on v2 the BPF program)
    if (_v1(manager, "devices") or manager.layout.mode == "v2") and os.path.exists("/dev/kmsg"):
        ok = _run_in(manager, ["/bin/sh", "-c", "exec 3</dev/null && echo opened"])
        assert (ok.returncode, ok.stdout.strip()) == (0, "opened")
        denied = _run_in(manager, ["/bin/sh", "-c", "exec 3</dev/kmsg && echo opened"])
        assert denied.returncode != 0 and "opened" not in denied.stdout
        assert "not permitted" in denied.stderr.lower() or "can't open" in denied.stderr.lower()


def test_refusals_name_the_json_path(manager) -> None:
    bad = Resources(cpu=CPU(cpus="4096"))  # no such cpu
    with pytest.raises(ResourceError) as caught:
        apply_resources(manager, bad)
    assert str(caught.value).startswith("linux.resources.cpu.cpus: writing 4096 to cpuset.cpus: ")
    assert caught.value.file == str(_dir(manager, "cpuset") / "cpuset.cpus")


def test_update_checks_usage_first(manager) -> None:
    apply_resources(manager, Resources(memory=Memory(limit=64 * MiB)))
    holder = _spawn_in(
        manager,
        [
            sys.executable,
            "-S",
            "-c",
            "import time; b = b'x' * (24 << 20); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"ready\n"
        limit_file = "memory.limit_in_bytes" if _v1(manager, "memory") else "memory.max"
        with pytest.raises(ResourceError, match=r"^linux\.resources\.memory\.limit: rejecting memory limit"):
            update_resources(manager, Resources(memory=Memory(limit=8 * MiB, check_before_update=True)))
        assert _read(manager, "memory", limit_file) == str(64 * MiB)  # untouched
        update_resources(manager, Resources(memory=Memory(limit=48 * MiB, check_before_update=True)))
        assert _read(manager, "memory", limit_file) == str(48 * MiB)
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()


def test_hugepage_limit(manager) -> None:
    if not os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        pytest.skip("no 2 MB huge pages on this host")
    apply_resources(manager, Resources(hugepage_limits=[HugepageLimit(page_size="2MB", limit=4 * MiB)]))
    if _v1(manager, "hugetlb"):
        assert _read(manager, "hugetlb", "hugetlb.2MB.limit_in_bytes") == str(4 * MiB)
    else:  # pure v2, or hybrid with hugetlb only in the unified hierarchy
        assert _read(manager, "hugetlb", "hugetlb.2MB.max") == str(4 * MiB)
