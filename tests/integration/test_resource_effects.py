"""Each limit checked twice on a real container: the value in the host's
cgroup file (read with cgroupspy, an independent v1 reader, where the
controller is v1; the v2 file otherwise), and its effect on the container's
processes.  The memory (an OOM-killed hog), pids (a fork bomb) and device
limits have theirs in test_container_stats.py, test_container_resources.py
and test_cgroup_devices.py; here: cpu quota, block I/O throttling and the
freezer."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from pycontainer import Container
from tests.conftest import NSINIT

pytestmark = pytest.mark.root

MiB = 1 << 20


def spy(paths: dict[str, str], controller: str):
    """cgroupspy's controller object for the container's v1 *controller*
    cgroup, or None when the controller is not v1 here."""
    if controller not in paths:
        return None
    nodes = pytest.importorskip("cgroupspy.nodes")
    directory = paths[controller]
    mountpoint = f"/sys/fs/cgroup/{controller}"
    if not directory.startswith(mountpoint + "/"):
        pytest.skip(f"cgroupspy needs {controller} mounted at {mountpoint}")
    node = nodes.Node(controller, parent=nodes.Node("/sys/fs/cgroup"))
    for part in os.path.relpath(directory, mountpoint).split("/"):
        node = nodes.Node(part, parent=node)
    return node.controller


def _exec(bundle, script: str, timeout: float = 60) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [*NSINIT, "--root", str(bundle.state_root), "exec", bundle.id, "/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, r.stderr
    return r


def test_cpu_quota_caps_measured_cpu_use(bundle):
    """20 ms every 100 ms: a busy loop for 1.5 s of wall time gets about
    0.3 s of CPU, and the throttling counters say it was held back."""
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.config["linux"]["resources"] = {"cpu": {"quota": 20000, "period": 100000}}
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        paths = c.state().cgroup_paths
        cpu = spy(paths, "cpu")
        if cpu is not None:
            assert (cpu.cfs_quota_us, cpu.cfs_period_us) == (20000, 100000)
        else:
            with open(paths[""] + "/cpu.max") as f:
                assert f.read().split() == ["20000", "100000"]
        before = c.stats()["cpu"]["usage"]["total"]
        started = time.monotonic()
        _exec(bundle, "timeout 1.5 sh -c 'while :; do :; done'; true")
        wall = time.monotonic() - started
        stats = c.stats()["cpu"]
        used = (stats["usage"]["total"] - before) / 1e9
        assert 0.05 < used < 0.2 * wall + 0.15, (used, wall)  # unthrottled it would be ~1.5 s
        assert stats["throttling"]["throttledPeriods"] > 0
        cpuacct = spy(paths, "cpuacct")
        if cpuacct is not None:
            assert cpuacct.usage >= stats["usage"]["total"]  # the host's counter only grows


@pytest.fixture
def loop_device(tmp_path):
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * (4 * MiB))
    r = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"no loop device: {r.stderr.strip()}")
    yield r.stdout.strip()
    subprocess.run(["losetup", "-d", r.stdout.strip()], check=True)


def test_read_bps_throttle_slows_the_containers_reads(bundle, loop_device):
    """1 MiB/s on the device: reading 2 MiB with O_DIRECT takes over a
    second (unthrottled: milliseconds)."""
    st = os.stat(loop_device)
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.config["linux"]["devices"] = [{"path": "/dev/disk0", "type": "b", "major": major, "minor": minor}]
    bundle.config["linux"]["resources"] = {
        "devices": [{"allow": True, "type": "b", "major": major, "minor": minor, "access": "r"}],
        "blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": MiB}]},
    }
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        paths = c.state().cgroup_paths
        blkio = spy(paths, "blkio")
        if blkio is not None:
            rules = blkio.get_property(b"blkio.throttle.read_bps_device").split("\n")  # names are bytes
            assert f"{major}:{minor} {MiB}" in rules
        else:
            with open(paths[""] + "/io.max") as f:
                assert f"{major}:{minor} rbps={MiB} " in f.read()
        started = time.monotonic()
        _exec(bundle, "dd if=/dev/disk0 of=/dev/null bs=256k count=8 iflag=direct 2>/dev/null")
        took = time.monotonic() - started
        assert took > 0.9, took  # 2 MiB at 1 MiB/s (the first second's budget comes at once)


def test_frozen_container_makes_no_progress(bundle):
    """Paused: the host's freezer says frozen, and a busy container's CPU
    time stands still; resumed, it moves again."""
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "while :; do :; done"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        paths = c.state().cgroup_paths
        time.sleep(0.2)
        c.pause()
        if "freezer" in paths:
            with open(paths["freezer"] + "/freezer.state") as f:
                assert f.read().strip() == "FROZEN"
        else:
            with open(paths[""] + "/cgroup.events") as f:
                assert "frozen 1" in f.read().splitlines()
        frozen = c.stats()["cpu"]["usage"]["total"]
        time.sleep(0.5)
        assert c.stats()["cpu"]["usage"]["total"] == frozen
        c.resume()
        time.sleep(0.3)
        assert c.stats()["cpu"]["usage"]["total"] > frozen + 50_000_000  # > 50 ms more
        c.kill(9)
        c.wait()
