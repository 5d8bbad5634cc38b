"""``nsinit events`` and Container.stats() on real containers: each counter
is compared with what the host's cgroup files (or the container's network
namespace) say, after the container did something that moves it; an OOM
kill in the container arrives as an ``oom`` event."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from pycontainer import Container
from tests import features
from tests.conftest import NSINIT, all_capabilities

pytestmark = pytest.mark.root

MiB = 1 << 20


def _events(bundle, *args: str, timeout: float = 30) -> list[dict]:
    r = subprocess.run(
        [*NSINIT, "--root", str(bundle.state_root), "events", *args, bundle.id],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def _oom_kill_count(paths: dict[str, str]) -> int:
    name = paths["memory"] + "/memory.oom_control" if "memory" in paths else paths[""] + "/memory.events"
    with open(name) as f:
        return int(dict(line.split() for line in f.read().splitlines()).get("oom_kill", 0))


@pytest.mark.cgroup2
def test_a_memory_hog_is_oom_killed_and_an_oom_event_arrives(bundle):
    """The hog allocates 64 MiB in a 16 MiB cgroup without swap; ``nsinit
    events`` (listening before it starts) reports ``oom`` within a second of
    the kill, with no data (as runc), and the host's counter saw one kill."""
    bundle.config["linux"]["resources"] = {"memory": {"limit": 16 * MiB, "swap": 16 * MiB}}
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        paths = c.state().cgroup_paths
        if "memory" in paths:  # the host's value, read by cgroupspy (v1)
            nodes = pytest.importorskip("cgroupspy.nodes")
            node = nodes.Node("memory", parent=nodes.Node("/sys/fs/cgroup"))
            for part in os.path.relpath(paths["memory"], "/sys/fs/cgroup/memory").split("/"):
                node = nodes.Node(part, parent=node)
            assert node.controller.limit_in_bytes == 16 * MiB
        else:
            with open(paths[""] + "/memory.max") as f:
                assert int(f.read()) == 16 * MiB
        listener = subprocess.Popen(
            [*NSINIT, "--root", str(bundle.state_root), "events", "--interval", "60s", bundle.id],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            first = json.loads(listener.stdout.readline())  # stats come first: the listener is up
            assert first["type"] == "stats"
            assert _oom_kill_count(paths) == 0
            hog = subprocess.run(
                [
                    *NSINIT,
                    "--root",
                    str(bundle.state_root),
                    "exec",
                    bundle.id,
                    "dd",
                    "if=/dev/zero",
                    "of=/dev/null",
                    "bs=64M",
                    "count=1",
                ],
                capture_output=True,
                timeout=60,
            )
            killed_at = time.monotonic()
            assert hog.returncode == 128 + 9, hog  # SIGKILL, by the OOM killer
            event = json.loads(listener.stdout.readline())
            assert time.monotonic() - killed_at < 1.0  # pushed by the kernel, not found by a slow poll
            assert event == {"type": "oom", "id": bundle.id}
            assert _oom_kill_count(paths) >= 1
            assert c.status == "running"  # only the hog died
        finally:
            listener.kill()
            listener.wait()


@pytest.fixture
def loop_device(tmp_path):
    """A 4 MiB loop device (this kind of machine does not let even root
    open its real disk)."""
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * (4 * MiB))
    r = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"no loop device: {r.stderr.strip()}")
    device = r.stdout.strip()
    yield device
    subprocess.run(["losetup", "-d", device], check=True)


def test_blkio_stats_count_the_containers_reads(bundle, loop_device):
    """256 KiB read with O_DIRECT from a block device inside the container
    show up under ioServiceBytesRecursive for that device, equal to the
    host's cgroup file.

    On cgroup v1 without CFQ/BFQ (this machine's disks run mq-deadline) the
    counts come from the throttle layer, which recent kernels (6.18 here) set
    up for a device only once some cgroup has a throttle rule for it: a freshly made
    loop device counts nothing without one.  So the container gets a rule far
    above what it reads (io.stat on cgroup v2 counts either way)."""
    st = os.stat(loop_device)
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.config["linux"]["devices"] = [{"path": "/dev/disk0", "type": "b", "major": major, "minor": minor}]
    bundle.config["linux"]["resources"] = {
        "devices": [{"allow": True, "type": "b", "major": major, "minor": minor, "access": "r"}],
        "blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1 << 40}]},
    }
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        bundle.exec_sh("dd if=/dev/disk0 of=/dev/null bs=64k count=4 iflag=direct")
        blkio = c.stats()["blkio"]
        reads = [
            e["value"]
            for e in blkio["ioServiceBytesRecursive"]
            if (e["major"], e["minor"], e["op"]) == (major, minor, "Read")
        ]
        assert reads and reads[0] >= 256 * 1024, blkio
        ios = [
            e["value"]
            for e in blkio["ioServicedRecursive"]
            if (e["major"], e["minor"], e["op"]) == (major, minor, "Read")
        ]
        assert ios and ios[0] >= 4
        paths = c.state().cgroup_paths
        if "blkio" in paths:
            host = _host_blkio_v1(paths["blkio"], major, minor)
        else:
            host = _host_io_stat(paths[""], major, minor)
        assert host == reads[0]


def _host_blkio_v1(directory: str, major: int, minor: int) -> int:
    for name in ("blkio.io_service_bytes_recursive", "blkio.throttle.io_service_bytes_recursive"):
        try:
            with open(f"{directory}/{name}") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if fields[:2] == [f"{major}:{minor}", "Read"]:
                return int(fields[2])
    raise AssertionError("no Read line in the blkio files")


def _host_io_stat(directory: str, major: int, minor: int) -> int:
    with open(f"{directory}/io.stat") as f:
        for line in f:
            device, *fields = line.split()
            if device == f"{major}:{minor}":
                return int(dict(field.split("=") for field in fields)["rbytes"])
    raise AssertionError("device not in io.stat")


def test_hugetlb_and_network_stats(bundle):
    """hugetlb: one entry per page size the host has, as its cgroup files
    say.  network: the counters of an interface in the container's network
    namespace (a veth pair, made from the host), after traffic went through."""
    features.require(features.link_type("veth"))
    pages = "/sys/kernel/mm/hugepages"  # absent from a kernel without huge pages: no sizes
    sizes = sorted(
        _page_size(int(name[len("hugepages-") : -len("kB")]))
        for name in (os.listdir(pages) if os.path.isdir(pages) else [])
    )
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.config["process"]["capabilities"] = all_capabilities()  # ping needs CAP_NET_RAW
    if sizes:  # a limit, so that the hugetlb controller is there even where it is v2-only (hybrid)
        bundle.config["linux"]["resources"] = {"hugepageLimits": [{"pageSize": sizes[0], "limit": 0}]}
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        stats = c.stats()
        assert stats["network_interfaces"] is None  # only lo, which runc does not report either
        assert sorted(stats["hugetlb"]) == sizes
        paths = c.state().cgroup_paths
        for size, entry in stats["hugetlb"].items():
            assert entry["usage"] == 0 and entry["failcnt"] == 0
            if "hugetlb" in paths:  # v1: the maximum usage
                assert entry["max"] == int(
                    open(f"{paths['hugetlb']}/hugetlb.{size}.max_usage_in_bytes").read()
                )
            else:
                assert int(open(f"{paths['']}/hugetlb.{size}.current").read()) == entry["usage"]

        netns = ["nsenter", "-t", str(c.pid), "-n"]
        setup = (
            "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; "  # no IPv6 chatter: stable counters
            "ip link add va type veth peer name vb && ip addr add 10.213.7.1/24 dev va && "
            "ip link set va up && ip link set vb up"
        )
        subprocess.run([*netns, "sh", "-c", setup], check=True)
        bundle.exec_sh("ping -c 2 -W 1 -I va 10.213.7.2 >/dev/null 2>&1; true")  # ARP out of va, into vb
        interfaces = {i["Name"]: i for i in c.stats()["network_interfaces"]}
        assert sorted(interfaces) == ["va", "vb"]
        assert interfaces["va"]["TxPackets"] > 0 and interfaces["vb"]["RxPackets"] > 0
        for name, iface in interfaces.items():  # the container's sysfs belongs to its network namespace
            for key, counter in (("TxPackets", "tx_packets"), ("RxBytes", "rx_bytes")):
                with open(f"/proc/{c.pid}/root/sys/class/net/{name}/statistics/{counter}") as f:
                    assert iface[key] == int(f.read()), (name, key)
        events = _events(bundle, "--stats")
        assert [e["type"] for e in events] == ["stats"]
        assert len(events[0]["data"]["network_interfaces"]) == 2
        assert set(events[0]["data"]) == {"cpu", "memory", "pids", "blkio", "hugetlb", "network_interfaces"}
        assert {"cache", "usage", "swap", "raw"} <= set(events[0]["data"]["memory"])


def _page_size(kb: int) -> str:
    for unit, scale in (("GB", 1 << 20), ("MB", 1 << 10), ("KB", 1)):
        if kb % scale == 0:
            return f"{kb // scale}{unit}"
    raise AssertionError(kb)
