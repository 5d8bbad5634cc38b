"""Writing linux.resources into cgroups, without root: the conversions, and
which file gets which value on v1, v2 and hybrid layouts, with directories
under tmp_path standing in for the cgroup hierarchies and a fake kernel
recording every write (and refusing a write to a file that does not exist,
as the kernel does)."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from pycontainer.cgroups import UNIFIED, CgroupLayout, V1Manager, V2Manager, devicefilter
from pycontainer.cgroups import resources as R
from pycontainer.cgroups.resources import (
    DEFAULT_DEVICE_RULES,
    ResourceError,
    apply_resources,
    blkio_weight_to_io_weight,
    cpu_max,
    cpu_shares_to_weight,
    device_rule_string,
    hugepage_size_name,
    memory_swap_to_v2,
    pids_max,
    update_resources,
)
from pycontainer.errors import ConfigError, ContainerError
from pycontainer.spec.models import (
    CPU,
    BlockIO,
    DeviceRule,
    HugepageLimit,
    InterfacePriority,
    Memory,
    Network,
    Pids,
    Rdma,
    Resources,
    ThrottleDevice,
    WeightDevice,
)

# ------------------------------------------------------------ conversions


@pytest.mark.parametrize(
    ("shares", "weight"),
    [
        (0, 0),  # unset stays unset
        (1, 1),  # below the v1 minimum
        (2, 1),
        (3, 2),
        (1024, 100),  # the defaults meet
        (262143, 10000),
        (262144, 10000),
        (10**9, 10000),
    ],
)
def test_cpu_shares_to_weight(shares: int, weight: int) -> None:
    assert cpu_shares_to_weight(shares) == weight


def test_cpu_shares_to_weight_is_monotonic_and_in_range() -> None:
    weights = [cpu_shares_to_weight(s) for s in range(2, 262145, 97)]
    assert weights == sorted(weights)
    assert all(1 <= w <= 10000 for w in weights)
    assert cpu_shares_to_weight(512) < 100 < cpu_shares_to_weight(2048)


@pytest.mark.parametrize(("blkio", "io"), [(0, 0), (10, 1), (100, 910), (500, 4950), (1000, 10000)])
def test_blkio_weight_to_io_weight(blkio: int, io: int) -> None:
    assert blkio_weight_to_io_weight(blkio) == io


@pytest.mark.parametrize(
    ("swap", "limit", "expected"),
    [
        (0, 0, 0),  # nothing set
        (-1, 0, -1),
        (-1, -1, -1),
        (0, -1, -1),  # unlimited memory, swap unset: unlimited swap too
        (-1, 1000, -1),
        (1000, 1000, 0),  # memory+swap == memory: no swap
        (500, 200, 300),
        (500, -1, 500),  # unlimited memory: swap as is
    ],
)
def test_memory_swap_to_v2(swap: int, limit: int, expected: int) -> None:
    assert memory_swap_to_v2(swap, limit) == expected


@pytest.mark.parametrize(("swap", "limit"), [(300, 400), (500, 0), (-2, 0), (100, -5)])
def test_memory_swap_to_v2_refuses(swap: int, limit: int) -> None:
    with pytest.raises(ValueError):
        memory_swap_to_v2(swap, limit)


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("2MB", "2MB"),
        ("1GB", "1GB"),
        ("64KB", "64KB"),
        ("2048KB", "2MB"),  # named as the kernel names it
        ("1048576KB", "1GB"),
        ("2M", "2MB"),
        ("2mb", "2MB"),
        ("2048kB", "2MB"),
        ("16GB", "16GB"),
        ("1536MB", "1GB"),  # the kernel's mem_fmt rounds down to whole GB
        ("32MiB", "32MB"),
    ],
)
def test_hugepage_size_name(given: str, name: str) -> None:
    assert hugepage_size_name(given) == name


@pytest.mark.parametrize("bad", ["", "MB", "2XB", "-2MB", "512B", "2 MB", "٢MB"])
def test_hugepage_size_name_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        hugepage_size_name(bad)


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (DeviceRule(allow=False, access="rwm"), "a *:* rwm"),
        (DeviceRule(allow=False), "a *:* rwm"),
        (DeviceRule(allow=True, type="c", major=1, minor=3, access="rw"), "c 1:3 rw"),
        (DeviceRule(allow=True, type="c", major=136, access="rwm"), "c 136:* rwm"),
        (DeviceRule(allow=True, type="b", minor=0, access="m"), "b *:0 m"),
        (DeviceRule(allow=True, type="c", major=-1, minor=-1, access="m"), "c *:* m"),
        (DeviceRule(allow=True, type="b", major=8, minor=0), "b 8:0 rwm"),
    ],
)
def test_device_rule_string(rule: DeviceRule, text: str) -> None:
    assert device_rule_string(rule) == text


def test_default_device_rules_are_runcs() -> None:
    assert [device_rule_string(r) for r in DEFAULT_DEVICE_RULES] == [
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 1:8 rwm",
        "c 1:7 rwm",
        "c 5:0 rwm",
        "c 1:5 rwm",
        "c 1:9 rwm",
        "c 136:* rwm",
        "c 5:2 rwm",
        "c 10:200 rwm",
    ]
    assert all(r.allow for r in DEFAULT_DEVICE_RULES)


@pytest.mark.parametrize(
    ("quota", "period", "current", "line"),
    [
        (50000, 100000, None, "50000 100000"),
        (50000, None, None, "50000 100000"),  # the kernel's default period
        (None, 200000, None, "max 200000"),  # a period alone: no quota
        (-1, None, None, "max 100000"),
        (-1, 50000, None, "max 50000"),
        (0, 0, None, None),
        (None, None, None, None),
        # updates keep the half that is not given
        (30000, None, "20000 50000", "30000 50000"),
        (None, 200000, "20000 50000", "20000 200000"),
        (-1, None, "20000 50000", "max 50000"),
    ],
)
def test_cpu_max(quota, period, current, line) -> None:
    assert cpu_max(quota, period, current) == line


@pytest.mark.parametrize(("limit", "value"), [(None, None), (0, None), (-1, "max"), (-7, "max"), (50, "50")])
def test_pids_max(limit, value) -> None:
    assert pids_max(limit) == value


# ------------------------------------------------------------ fake hosts


class Kernel:
    """Stands in for write(2) on cgroup files: records each write, refuses
    missing files (ENOENT) and whatever a test asks it to refuse, and leaves
    the last value in the file so read-backs see it."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []
        self.refuse: dict[tuple[str, str | None], int] = {}  # (file name, value or None) -> errno
        self.clamp: dict[str, object] = {}  # file name -> f(value) -> what the kernel keeps
        self.attempts: list[tuple[str, str]] = []  # every write tried, refused or not
        self.device_programs: list[tuple[str, list]] = []  # (cgroup directory, rules) per BPF install

    def install_device_program(self, directory: str, rules) -> None:
        """Stands in for devicefilter.install (bpf(2) needs a real cgroup):
        records the rules, after generating the program as the real one does."""
        devicefilter.program(list(rules))
        self.device_programs.append((str(directory), list(rules)))

    def __call__(self, path: str, text: str) -> None:
        name = os.path.basename(path)
        self.attempts.append((name, text))
        if name == "cpu.cfs_quota_us":
            self.refuse.pop(("cpu.cfs_period_us", "10000"), None)  # see test_v1_period_retried_after_quota
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        number = self.refuse.get((name, text), self.refuse.get((name, None)))
        if number is not None:
            raise OSError(number, os.strerror(number), path)
        self.writes.append((path, text))
        kept = self.clamp[name](text) if name in self.clamp else text
        Path(path).write_text(f"{kept}\n")

    def to(self, directory: str | Path, name: str) -> list[str]:
        """The values written to *directory*/*name*, in order."""
        path = f"{directory}/{name}"
        return [text for p, text in self.writes if p == path]

    def files(self) -> list[str]:
        return [os.path.basename(p) for p, _ in self.writes]


@pytest.fixture
def kernel(monkeypatch) -> Kernel:
    fake = Kernel()
    monkeypatch.setattr(R, "write_file", fake)
    monkeypatch.setattr(R, "_running_in_userns", lambda: False)
    monkeypatch.setattr(devicefilter, "install", fake.install_device_program)
    return fake


V1_FILES = {
    "memory": {
        "memory.limit_in_bytes": "9223372036854771712",
        "memory.memsw.limit_in_bytes": "9223372036854771712",
        "memory.soft_limit_in_bytes": "9223372036854771712",
        "memory.swappiness": "60",
        "memory.oom_control": "oom_kill_disable 0",
        "memory.usage_in_bytes": "1048576",
        "memory.max_usage_in_bytes": "2097152",
        "memory.kmem.tcp.limit_in_bytes": "9223372036854771712",
    },
    "cpu": {
        "cpu.shares": "1024",
        "cpu.cfs_period_us": "100000",
        "cpu.cfs_quota_us": "-1",
        "cpu.cfs_burst_us": "0",
        "cpu.rt_period_us": "1000000",
        "cpu.rt_runtime_us": "0",
        "cpu.idle": "0",
    },
    "cpuacct": {},
    "cpuset": {"cpuset.cpus": "0-3", "cpuset.mems": "0"},
    "pids": {"pids.max": "max"},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm"},
    "blkio": {
        "blkio.weight": "500",
        "blkio.weight_device": "",
        "blkio.throttle.read_bps_device": "",
        "blkio.throttle.write_bps_device": "",
        "blkio.throttle.read_iops_device": "",
        "blkio.throttle.write_iops_device": "",
    },
    "hugetlb": {"hugetlb.2MB.limit_in_bytes": "0", "hugetlb.1GB.limit_in_bytes": "0"},
    "net_cls": {"net_cls.classid": "0"},
    "net_prio": {"net_prio.ifpriomap": ""},
}

V2_CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma misc"

V2_FILES = {
    "memory.max": "max",
    "memory.swap.max": "max",
    "memory.low": "0",
    "memory.high": "max",
    "memory.current": "1048576",
    "cpu.weight": "100",
    "cpu.max": "max 100000",
    "cpu.max.burst": "0",
    "cpu.idle": "0",
    "cpuset.cpus": "",
    "cpuset.mems": "",
    "pids.max": "max",
    "io.weight": "default 100",
    "io.max": "",
    "hugetlb.2MB.max": "max",
    "hugetlb.2MB.rsvd.max": "max",
    "rdma.max": "",
}


def _fill(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_text(content + "\n")


class Host:
    """A fake host layout and one container's manager on it."""

    def __init__(self, manager, dirs: dict[str, Path], unified: Path | None = None) -> None:
        self.manager = manager
        self.dirs = dirs
        self.unified = unified  # the unified mountpoint

    def __getitem__(self, key: str) -> Path:
        return self.dirs[key]


def v1_host(tmp_path: Path, controllers: tuple[str, ...] | None = None) -> Host:
    controllers = tuple(V1_FILES) if controllers is None else controllers
    v1 = {c: str(tmp_path / c) for c in controllers}
    layout = CgroupLayout("v1", v1, None, frozenset(), {c: "/" for c in v1}, {c: "/" for c in v1})
    dirs = {c: tmp_path / c / "box" for c in controllers}
    for c in controllers:
        _fill(dirs[c], V1_FILES[c])
    manager = V1Manager("/box", layout, {c: str(d) for c, d in dirs.items()})
    return Host(manager, dirs)


def _unified_tree(mount: Path, available: str, container: Path) -> None:
    _fill(mount, {"cgroup.controllers": available, "cgroup.subtree_control": ""})
    level = mount
    for part in container.relative_to(mount).parts[:-1]:
        level = level / part
        _fill(level, {"cgroup.controllers": available, "cgroup.subtree_control": ""})


def v2_host(tmp_path: Path, available: str = V2_CONTROLLERS, files: dict[str, str] | None = None) -> Host:
    mount = tmp_path / "unified"
    box = mount / "pods" / "box"
    _unified_tree(mount, available, box)
    _fill(box, {"cgroup.controllers": available, "cgroup.subtree_control": "", **(files or V2_FILES)})
    layout = CgroupLayout("v2", {}, str(mount), frozenset(available.split()), {UNIFIED: "/"}, {UNIFIED: "/"})
    manager = V2Manager("/pods/box", layout, {UNIFIED: str(box)})
    return Host(manager, {UNIFIED: box}, mount)


def hybrid_host(tmp_path: Path) -> Host:
    """As this project's CI host: v1 for most controllers, hugetlb only in cgroup2."""
    controllers = ("cpu", "cpuacct", "cpuset", "memory", "devices", "blkio", "pids")
    v1 = {c: str(tmp_path / c) for c in controllers}
    mount = tmp_path / "unified"
    layout = CgroupLayout("hybrid", v1, str(mount), frozenset({"hugetlb"}), {}, {})
    dirs = {c: tmp_path / c / "box" for c in controllers}
    for c in controllers:
        _fill(dirs[c], V1_FILES[c])
    dirs[UNIFIED] = mount / "box"
    _unified_tree(mount, "hugetlb", dirs[UNIFIED])
    # The fake kernel cannot make files appear when a controller is enabled:
    # the container's directory already lists hugetlb and has its files.
    _fill(
        dirs[UNIFIED],
        {
            "cgroup.controllers": "hugetlb",
            "memory.pressure": "",
            "hugetlb.2MB.max": "max",
            "hugetlb.2MB.rsvd.max": "max",
        },
    )
    manager = V1Manager("/box", layout, {c: str(d) for c, d in dirs.items()})
    return Host(manager, dirs, mount)


def everything() -> Resources:
    return Resources(
        devices=[
            DeviceRule(allow=False, access="rwm"),
            DeviceRule(allow=True, type="c", major=1, minor=3, access="rw"),
            DeviceRule(allow=False, type="c", major=1, minor=9),
        ],
        memory=Memory(limit=64 << 20, reservation=32 << 20, swap=128 << 20, swappiness=10),
        cpu=CPU(shares=512, quota=50000, period=100000, cpus="0-1", mems="0", burst=1000, idle=1),
        pids=Pids(limit=50),
        block_io=BlockIO(
            weight=500,
            weight_device=[WeightDevice(major=8, minor=0, weight=300)],
            throttle_read_bps_device=[ThrottleDevice(major=8, minor=0, rate=1 << 20)],
            throttle_write_iops_device=[
                ThrottleDevice(major=8, minor=0, rate=100),
                ThrottleDevice(major=8, minor=16, rate=200),
            ],
        ),
        hugepage_limits=[HugepageLimit(page_size="2MB", limit=4 << 20)],
        unified={},
    )


# ------------------------------------------------------------ v1


def test_v1_everything_goes_to_its_controller(tmp_path, kernel) -> None:
    host = v1_host(tmp_path)
    apply_resources(host.manager, everything())
    mem, cpu = host["memory"], host["cpu"]
    assert kernel.to(mem, "memory.limit_in_bytes") == [str(64 << 20)]
    assert kernel.to(mem, "memory.memsw.limit_in_bytes") == [str(128 << 20)]
    assert kernel.to(mem, "memory.soft_limit_in_bytes") == [str(32 << 20)]
    assert kernel.to(mem, "memory.swappiness") == ["10"]
    assert kernel.to(mem, "memory.oom_control") == []
    assert kernel.to(cpu, "cpu.shares") == ["512"]  # v1 takes shares as they are
    assert kernel.to(cpu, "cpu.cfs_period_us") == ["100000"]
    assert kernel.to(cpu, "cpu.cfs_quota_us") == ["50000"]
    assert kernel.to(cpu, "cpu.cfs_burst_us") == ["1000"]
    assert kernel.to(cpu, "cpu.idle") == ["1"]
    assert kernel.to(host["cpuset"], "cpuset.cpus") == ["0-1"]
    assert kernel.to(host["cpuset"], "cpuset.mems") == ["0"]
    assert kernel.to(host["pids"], "pids.max") == ["50"]
    blkio = host["blkio"]
    assert kernel.to(blkio, "blkio.weight") == ["500"]
    assert kernel.to(blkio, "blkio.weight_device") == ["8:0 300"]
    assert kernel.to(blkio, "blkio.throttle.read_bps_device") == [f"8:0 {1 << 20}"]
    assert kernel.to(blkio, "blkio.throttle.write_iops_device") == ["8:0 100", "8:16 200"]
    assert kernel.to(host["hugetlb"], "hugetlb.2MB.limit_in_bytes") == [str(4 << 20)]
    # no v2 file anywhere, nothing in the unrelated hierarchies
    assert not {"memory.max", "cpu.max", "cpu.weight", "io.max", "io.weight"} & set(kernel.files())
    assert kernel.to(host["net_cls"], "net_cls.classid") == []


def test_v1_devices_whitelist_in_order(tmp_path, kernel) -> None:
    host = v1_host(tmp_path)
    apply_resources(host.manager, everything())
    d = host["devices"]
    sequence = [(os.path.basename(p), text) for p, text in kernel.writes if p.startswith(str(d))]
    assert sequence[:4] == [
        ("devices.deny", "a"),
        ("devices.deny", "a *:* rwm"),
        ("devices.allow", "c 1:3 rw"),
        ("devices.deny", "c 1:9 rwm"),
    ]
    assert sequence[4:] == [("devices.allow", device_rule_string(r)) for r in DEFAULT_DEVICE_RULES]
    # devices come first (after nothing): a container never runs unrestricted
    assert kernel.writes[0] == (f"{d}/devices.deny", "a")


def test_v1_no_resources_still_whitelists_devices(tmp_path, kernel) -> None:
    host = v1_host(tmp_path)
    apply_resources(host.manager, None)
    d = str(host["devices"])
    assert all(p.startswith(d) for p, _ in kernel.writes)
    assert kernel.to(d, "devices.deny") == ["a"]
    assert len(kernel.to(d, "devices.allow")) == len(DEFAULT_DEVICE_RULES)


def test_engine_zeros_mean_unset(tmp_path, kernel) -> None:
    zeros = Resources(
        memory=Memory(limit=0, reservation=0, swap=0, kernel=0, kernel_tcp=0, swappiness=2**64 - 1),
        cpu=CPU(shares=0, quota=0, period=0, realtime_runtime=0, realtime_period=0, cpus="", mems=""),
        pids=Pids(limit=0),
        block_io=BlockIO(weight=0, leaf_weight=0),
        network=Network(class_id=0),
    )
    host = v1_host(tmp_path)
    apply_resources(host.manager, zeros)
    assert {os.path.basename(os.path.dirname(p)) for p, _ in kernel.writes} == {"box"}
    assert set(kernel.files()) == {"devices.deny", "devices.allow"}

    kernel.writes.clear()
    v2 = v2_host(tmp_path / "v2")
    apply_resources(v2.manager, zeros)
    assert kernel.writes == []
    assert (v2.unified / "cgroup.subtree_control").read_text().strip() == ""  # nothing enabled


def test_v1_swappiness_zero_is_a_value(tmp_path, kernel) -> None:
    host = v1_host(tmp_path)
    apply_resources(host.manager, Resources(memory=Memory(swappiness=0)))
    assert kernel.to(host["memory"], "memory.swappiness") == ["0"]


def test_v1_memory_and_swap_order(tmp_path, kernel) -> None:
    """memory+swap may never drop below memory: raising writes swap first,
    lowering writes the limit first (runc's setMemoryAndSwap)."""
    host = v1_host(tmp_path)
    mem = host["memory"]
    (mem / "memory.limit_in_bytes").write_text(f"{64 << 20}\n")
    apply_resources(host.manager, Resources(memory=Memory(limit=128 << 20, swap=256 << 20)))
    assert [f for f in kernel.files() if f.startswith("memory.")] == [
        "memory.memsw.limit_in_bytes",
        "memory.limit_in_bytes",
    ]
    kernel.writes.clear()
    apply_resources(host.manager, Resources(memory=Memory(limit=16 << 20, swap=32 << 20)))
    assert [f for f in kernel.files() if f.startswith("memory.")] == [
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
    ]
    kernel.writes.clear()
    apply_resources(host.manager, Resources(memory=Memory(limit=-1)))  # unlimited: swap follows
    assert kernel.to(mem, "memory.memsw.limit_in_bytes") == ["-1"]
    assert kernel.to(mem, "memory.limit_in_bytes") == ["-1"]
    assert kernel.files()[-2:] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


def test_v1_refused_write_names_path_value_and_file(tmp_path, kernel) -> None:
    host = v1_host(tmp_path)
    kernel.refuse[("memory.limit_in_bytes", None)] = errno.EBUSY
    with pytest.raises(ResourceError) as caught:
        apply_resources(host.manager, Resources(memory=Memory(limit=1234)))
    err = caught.value
    assert str(err).startswith(
        "linux.resources.memory.limit: writing 1234 to memory.limit_in_bytes: Device or resource busy"
    )
    assert "1048576" in str(err)  # the usage that made it busy
    assert isinstance(err, ContainerError)
    assert (err.path, err.value, err.errno) == ("linux.resources.memory.limit", "1234", errno.EBUSY)
    assert err.file == f"{host['memory']}/memory.limit_in_bytes"


def test_v1_index_in_error_path(tmp_path, kernel) -> None:
    host = v1_host(tmp_path)
    kernel.refuse[("blkio.throttle.write_iops_device", "8:16 200")] = errno.EINVAL
    with pytest.raises(ResourceError, match=r"^linux\.resources\.blockIO\.throttleWriteIOPSDevice\[1\]: "):
        apply_resources(host.manager, everything())
    kernel.refuse.clear()
    kernel.refuse[("devices.allow", "c 1:3 rw")] = errno.EPERM
    with pytest.raises(
        ResourceError, match=r'^linux\.resources\.devices\[1\]: writing "c 1:3 rw" to devices'
    ):
        apply_resources(host.manager, everything())


def test_v1_cpu_shares_out_of_range(tmp_path, kernel) -> None:
    host = v1_host(tmp_path)
    kernel.clamp["cpu.shares"] = lambda text: min(max(int(text), 2), 262144)
    with pytest.raises(ResourceError, match="maximum the kernel allows is 262144"):
        apply_resources(host.manager, Resources(cpu=CPU(shares=10**6)))
    with pytest.raises(ResourceError, match="minimum the kernel allows is 2"):
        apply_resources(host.manager, Resources(cpu=CPU(shares=1)))


def test_v1_period_retried_after_quota(tmp_path, kernel) -> None:
    """A period the kernel refuses under the old quota (EINVAL) is written
    again once the new quota is in (runc).  The fake kernel accepts the
    period once a quota was written."""
    host = v1_host(tmp_path)
    cpu = host["cpu"]
    kernel.refuse[("cpu.cfs_period_us", "10000")] = errno.EINVAL
    apply_resources(host.manager, Resources(cpu=CPU(quota=5000, period=10000)))
    assert [a for a in kernel.attempts if a[0].startswith("cpu.cfs")] == [
        ("cpu.cfs_period_us", "10000"),
        ("cpu.cfs_quota_us", "5000"),
        ("cpu.cfs_period_us", "10000"),
    ]
    assert kernel.to(cpu, "cpu.cfs_period_us") == ["10000"]
    # without a quota to write, the refusal is an error
    kernel.refuse[("cpu.cfs_period_us", "10000")] = errno.EINVAL
    with pytest.raises(
        ResourceError, match=r"^linux\.resources\.cpu\.period: writing 10000 to cpu\.cfs_period_us"
    ):
        apply_resources(host.manager, Resources(cpu=CPU(period=10000)))


def test_v1_realtime_order(tmp_path, kernel) -> None:
    host = v1_host(tmp_path)
    cpu = host["cpu"]
    (cpu / "cpu.rt_runtime_us").write_text("100000\n")
    (cpu / "cpu.rt_period_us").write_text("1000000\n")
    # new ratio 950000/1000000 larger: the period goes first
    apply_resources(host.manager, Resources(cpu=CPU(realtime_runtime=950000, realtime_period=1000000)))
    assert [f for f in kernel.files() if f.startswith("cpu.rt")] == ["cpu.rt_period_us", "cpu.rt_runtime_us"]
    kernel.writes.clear()
    (cpu / "cpu.rt_runtime_us").write_text("950000\n")
    apply_resources(host.manager, Resources(cpu=CPU(realtime_runtime=1000, realtime_period=1000000)))
    assert [f for f in kernel.files() if f.startswith("cpu.rt")] == ["cpu.rt_runtime_us", "cpu.rt_period_us"]
    kernel.writes.clear()
    apply_resources(host.manager, Resources(cpu=CPU(realtime_runtime=5000)))
    assert kernel.to(cpu, "cpu.rt_runtime_us") == ["5000"]
    assert kernel.to(cpu, "cpu.rt_period_us") == []


def test_v1_best_effort_and_missing_files(tmp_path, kernel, caplog) -> None:
    host = v1_host(tmp_path)
    (host["cpu"] / "cpu.cfs_burst_us").unlink()  # an older kernel
    caplog.set_level(logging.DEBUG, logger="pycontainer.cgroups.resources")
    apply_resources(
        host.manager,
        Resources(
            memory=Memory(kernel=1 << 30, kernel_tcp=1 << 20),  # kmem file missing: skipped
            cpu=CPU(burst=1000),  # burst file missing: skipped
        ),
    )
    assert kernel.to(host["memory"], "memory.kmem.tcp.limit_in_bytes") == [str(1 << 20)]
    assert "memory.kmem.limit_in_bytes" not in kernel.files()
    assert "kernel: memory.kmem.limit_in_bytes not supported" in caplog.text
    # a limit the host has no file for is an error, naming the file
    (host["pids"] / "pids.max").unlink()
    with pytest.raises(
        ResourceError, match=r"^linux\.resources\.pids\.limit: writing 5 to pids\.max: No such"
    ):
        apply_resources(host.manager, Resources(pids=Pids(limit=5)))


def test_v1_network_is_best_effort(tmp_path, kernel, caplog) -> None:
    net = Network(class_id=0x100001, priorities=[InterfacePriority(name="eth0", priority=5)])
    host = v1_host(tmp_path)
    apply_resources(host.manager, Resources(network=net))
    assert kernel.to(host["net_cls"], "net_cls.classid") == [str(0x100001)]
    assert kernel.to(host["net_prio"], "net_prio.ifpriomap") == ["eth0 5"]

    # net_cls/net_prio not mounted: a warning, no error
    kernel.writes.clear()
    bare = v1_host(tmp_path / "bare", ("memory", "cpu", "devices"))
    with caplog.at_level(logging.WARNING):
        apply_resources(bare.manager, Resources(network=net, memory=Memory(limit=1 << 30)))
    assert "linux.resources.network.classID" in caplog.text
    assert "linux.resources.network.priorities" in caplog.text
    assert kernel.to(bare["memory"], "memory.limit_in_bytes") == [str(1 << 30)]


def test_v1_required_controller_missing(tmp_path, kernel) -> None:
    host = v1_host(tmp_path, ("memory", "devices"))
    with pytest.raises(ResourceError, match=r"^linux\.resources\.pids: the pids cgroup controller is needed"):
        apply_resources(host.manager, Resources(pids=Pids(limit=10)))


def test_v1_hugepages(tmp_path, kernel, monkeypatch) -> None:
    host = v1_host(tmp_path)
    apply_resources(host.manager, Resources(hugepage_limits=[HugepageLimit(page_size="1048576KB", limit=0)]))
    assert kernel.to(host["hugetlb"], "hugetlb.1GB.limit_in_bytes") == ["0"]
    monkeypatch.setattr(R, "host_hugepage_sizes", lambda: ["2MB", "1GB"])
    with pytest.raises(ResourceError, match=r"hugepageLimits\[0\].*4MB is not a huge page size.*2MB, 1GB"):
        apply_resources(host.manager, Resources(hugepage_limits=[HugepageLimit(page_size="4MB", limit=1)]))
    with pytest.raises(ConfigError) as caught:
        apply_resources(host.manager, Resources(hugepage_limits=[HugepageLimit(page_size="big", limit=1)]))
    assert caught.value.path == "linux.resources.hugepageLimits[0].pageSize"


def test_v1_unified_needs_cgroup2(tmp_path, kernel) -> None:
    host = v1_host(tmp_path)
    with pytest.raises(ResourceError, match="no cgroup v2"):
        apply_resources(host.manager, Resources(unified={"memory.high": "1G"}))


@pytest.mark.parametrize("key", ["../memory.max", "a/b", "..", ".", "", "memory..max"])
def test_unified_keys_refused_before_any_write(tmp_path, kernel, key) -> None:
    host = v2_host(tmp_path)
    with pytest.raises(ConfigError) as caught:
        apply_resources(host.manager, Resources(pids=Pids(limit=5), unified={key: "1"}))
    assert caught.value.path == f'linux.resources.unified["{key}"]'
    assert kernel.writes == []


def test_v1_userns_skips_devices(tmp_path, kernel, monkeypatch) -> None:
    monkeypatch.setattr(R, "_running_in_userns", lambda: True)
    host = v1_host(tmp_path)
    apply_resources(host.manager, everything())
    assert not {"devices.allow", "devices.deny"} & set(kernel.files())


def test_v1_blkio_bfq_and_leaf_weights(tmp_path, kernel, caplog) -> None:
    host = v1_host(tmp_path)
    blkio = host["blkio"]
    (blkio / "blkio.weight").unlink()  # no CFQ: BFQ's files
    (blkio / "blkio.weight_device").unlink()
    _fill(blkio, {"blkio.bfq.weight": "default 100", "blkio.bfq.weight_device": ""})
    with caplog.at_level(logging.WARNING):
        apply_resources(
            host.manager,
            Resources(
                block_io=BlockIO(
                    weight=200,
                    leaf_weight=300,
                    weight_device=[WeightDevice(major=8, minor=0, weight=400, leaf_weight=500)],
                )
            ),
        )
    assert kernel.to(blkio, "blkio.bfq.weight") == ["200"]
    assert kernel.to(blkio, "blkio.bfq.weight_device") == ["8:0 400"]
    assert "leafWeight" in caplog.text and "CFQ" in caplog.text
    # no weight file at all: an error that says why
    (blkio / "blkio.bfq.weight").unlink()
    with pytest.raises(ResourceError, match="I/O scheduler has no weights"):
        apply_resources(host.manager, Resources(block_io=BlockIO(weight=200)))


# ------------------------------------------------------------ v2


def test_v2_everything_in_the_unified_dir(tmp_path, kernel, caplog) -> None:
    host = v2_host(tmp_path)
    box = host[UNIFIED]
    res = everything()
    res.unified = {"memory.high": str(100 << 20), "io.max": "8:0 rbps=1\n8:16 wbps=2\n"}
    with caplog.at_level(logging.WARNING):
        apply_resources(host.manager, res)
    assert kernel.to(box, "memory.max") == [str(64 << 20)]
    assert kernel.to(box, "memory.swap.max") == [str(64 << 20)]  # memory+swap - memory
    assert kernel.to(box, "memory.low") == [str(32 << 20)]
    assert kernel.to(box, "cpu.weight") == [str(cpu_shares_to_weight(512))]
    assert kernel.to(box, "cpu.max") == ["50000 100000"]
    assert kernel.to(box, "cpu.max.burst") == ["1000"]
    assert kernel.to(box, "cpu.idle") == ["1"]
    assert kernel.to(box, "cpuset.cpus") == ["0-1"]
    assert kernel.to(box, "pids.max") == ["50"]
    assert kernel.to(box, "io.weight") == ["4950"]  # no BFQ: converted
    assert kernel.to(box, "io.max") == [
        f"8:0 rbps={1 << 20}",
        "8:0 wiops=100",
        "8:16 wiops=200",
        "8:0 rbps=1",  # unified last, a line at a time
        "8:16 wbps=2",
    ]
    assert kernel.to(box, "hugetlb.2MB.max") == [str(4 << 20)]
    assert kernel.to(box, "hugetlb.2MB.rsvd.max") == [str(4 << 20)]
    assert kernel.to(box, "memory.high") == [str(100 << 20)]
    # v1 files nowhere; swappiness and per-device weights only warned about
    assert not [f for f in kernel.files() if "limit_in_bytes" in f or f.startswith(("devices.", "blkio."))]
    assert "swappiness: not supported by cgroup v2" in caplog.text
    # the device rules: one BPF program, the config's rules then the defaults
    ((directory, rules),) = kernel.device_programs
    assert directory == str(box)
    assert rules == [*res.devices, *DEFAULT_DEVICE_RULES]
    assert "weightDevice[0]: no per-device weights" in caplog.text
    # the controllers were enabled down to the container's parent, not in it
    for level in (host.unified, host.unified / "pods"):
        enabled = set((level / "cgroup.subtree_control").read_text().split())
        assert {"+cpu", "+cpuset", "+memory", "+pids", "+io", "+hugetlb"} <= enabled
    assert (box / "cgroup.subtree_control").read_text().strip() == ""


def test_v2_bfq_weights(tmp_path, kernel) -> None:
    files = dict(V2_FILES, **{"io.bfq.weight": "default 100"})
    host = v2_host(tmp_path, files=files)
    apply_resources(
        host.manager,
        Resources(block_io=BlockIO(weight=300, weight_device=[WeightDevice(major=8, minor=0, weight=700)])),
    )
    assert kernel.to(host[UNIFIED], "io.bfq.weight") == ["300", "8:0 700"]
    assert kernel.to(host[UNIFIED], "io.weight") == []


def test_v2_swap_cases(tmp_path, kernel) -> None:
    host = v2_host(tmp_path)
    box = host[UNIFIED]
    apply_resources(host.manager, Resources(memory=Memory(limit=1000, swap=1000)))
    assert kernel.to(box, "memory.swap.max") == ["0"]  # no swap at all
    kernel.writes.clear()
    apply_resources(host.manager, Resources(memory=Memory(limit=-1)))
    assert kernel.to(box, "memory.swap.max") == ["max"]
    assert kernel.to(box, "memory.max") == ["max"]
    with pytest.raises(ConfigError) as caught:
        apply_resources(host.manager, Resources(memory=Memory(swap=1 << 30)))
    assert caught.value.path == "linux.resources.memory.swap"
    with pytest.raises(ConfigError, match="below the memory limit"):
        apply_resources(host.manager, Resources(memory=Memory(limit=2000, swap=1000)))


def test_v2_v1_only_knobs_are_warned_about(tmp_path, kernel, caplog) -> None:
    host = v2_host(tmp_path)
    with caplog.at_level(logging.WARNING):
        apply_resources(
            host.manager,
            Resources(
                memory=Memory(disable_oom_killer=True, swappiness=30, kernel=1 << 20),
                cpu=CPU(realtime_runtime=1000, realtime_period=10000),
                block_io=BlockIO(leaf_weight=100),
                network=Network(class_id=7),
            ),
        )
    assert kernel.writes == []
    for what in ("disableOOMKiller", "swappiness", "realtimeRuntime", "leafWeight", "network.classID"):
        assert what in caplog.text


def test_v2_controller_not_available(tmp_path, kernel, caplog) -> None:
    host = v2_host(tmp_path, available="cpu memory pids")
    with pytest.raises(ResourceError, match=r"^linux\.resources\.hugepageLimits: .*hugetlb is not available"):
        apply_resources(host.manager, Resources(hugepage_limits=[HugepageLimit(page_size="2MB", limit=0)]))
    with caplog.at_level(logging.WARNING):
        apply_resources(host.manager, Resources(rdma={"mlx5_0": Rdma(hca_handles=3)}))
    assert "linux.resources.rdma: the rdma cgroup controller is needed" in caplog.text


def test_v2_rdma_and_unified_errors(tmp_path, kernel) -> None:
    host = v2_host(tmp_path)
    apply_resources(host.manager, Resources(rdma={"mlx5_0": Rdma(hca_handles=3, hca_objects=9)}))
    assert kernel.to(host[UNIFIED], "rdma.max") == ["mlx5_0 hca_handle=3 hca_object=9"]
    with pytest.raises(
        ResourceError, match=r'^linux\.resources\.unified\["memory\.nope"\]: writing 1 to memory\.nope'
    ):
        apply_resources(host.manager, Resources(unified={"memory.nope": "1"}))
    with pytest.raises(ResourceError, match="the misc2 controller is not available"):
        apply_resources(host.manager, Resources(unified={"misc2.max": "1"}))


def test_v2_no_resources_writes_nothing(tmp_path, kernel) -> None:
    host = v2_host(tmp_path)
    apply_resources(host.manager, None)
    apply_resources(host.manager, Resources())
    assert kernel.writes == []
    # but the device whitelist is there: the default rules, as a BPF program
    assert [rules for _, rules in kernel.device_programs] == [list(DEFAULT_DEVICE_RULES)] * 2


# ------------------------------------------------------------ hybrid


def test_hybrid_each_controller_where_it_lives(tmp_path, kernel) -> None:
    host = hybrid_host(tmp_path)
    res = everything()
    res.unified = {"memory.pressure": "some 150000 1000000"}
    apply_resources(host.manager, res)
    # v1 controllers in their v1 directories, with v1 names
    assert kernel.to(host["memory"], "memory.limit_in_bytes") == [str(64 << 20)]
    assert kernel.to(host["cpu"], "cpu.shares") == ["512"]
    assert kernel.to(host["pids"], "pids.max") == ["50"]
    assert kernel.to(host["devices"], "devices.deny")[0] == "a"
    # hugetlb has no v1 hierarchy: the unified one, v2 names
    assert kernel.to(host[UNIFIED], "hugetlb.2MB.max") == [str(4 << 20)]
    # and was enabled at the unified root for the container's directory
    assert kernel.to(host.unified, "cgroup.subtree_control") == ["+hugetlb"]
    # unified keys go to the unified directory as given
    assert kernel.to(host[UNIFIED], "memory.pressure") == ["some 150000 1000000"]
    assert not [p for p, _ in kernel.writes if p.startswith(str(host[UNIFIED])) and "limit_in_bytes" in p]


def test_hybrid_controller_missing_everywhere(tmp_path, kernel) -> None:
    host = hybrid_host(tmp_path)
    (host.unified / "cgroup.controllers").write_text("\n")  # the unified root offers nothing
    with pytest.raises(ResourceError, match="no v1 hierarchy here and hugetlb is not available"):
        apply_resources(host.manager, Resources(hugepage_limits=[HugepageLimit(page_size="2MB", limit=0)]))


# ------------------------------------------------------------ updates


def test_update_check_before_update_refuses_before_writing(tmp_path, kernel) -> None:
    for host, usage_file in (
        (v1_host(tmp_path / "v1"), "memory.usage_in_bytes"),
        (v2_host(tmp_path / "v2"), "memory.current"),
    ):
        mem = host["memory"] if "memory" in host.dirs else host[UNIFIED]
        (mem / usage_file).write_text(f"{50 << 20}\n")
        kernel.writes.clear()
        new = Resources(
            devices=[DeviceRule(allow=False, access="rwm")],
            memory=Memory(limit=40 << 20, check_before_update=True),
        )
        with pytest.raises(ResourceError, match=r"memory\.limit: rejecting memory limit .* uses 52428800"):
            update_resources(host.manager, new)
        assert kernel.writes == []
        # without the flag the kernel decides; with a limit above the usage it passes
        new.memory.limit = 60 << 20
        update_resources(host.manager, new)
        assert str(60 << 20) in [text for _, text in kernel.writes]
        # apply_resources (a new container) ignores the flag
        new.memory.limit = 10 << 20
        apply_resources(host.manager, new)


def test_v2_update_below_usage_reclaims_or_refuses(tmp_path, kernel) -> None:
    host = v2_host(tmp_path)
    box = host[UNIFIED]
    (box / "memory.current").write_text(f"{50 << 20}\n")
    # the reclaim through memory.high does not get the usage down: refused, nothing left changed
    with pytest.raises(
        ResourceError, match=r"^linux\.resources\.memory\.limit: refusing memory limit 41943040: "
    ):
        update_resources(host.manager, Resources(memory=Memory(limit=40 << 20, swap=80 << 20)))
    assert kernel.to(box, "memory.high") == [str(40 << 20), "max"]  # tried, then put back
    assert kernel.to(box, "memory.max") == [] and kernel.to(box, "memory.swap.max") == []
    # the reclaim gets it down: the limit is written
    kernel.writes.clear()

    def reclaim(value: str) -> str:  # the kernel reclaims down to the new memory.high
        (box / "memory.current").write_text("1024\n")
        return value

    kernel.clamp["memory.high"] = reclaim
    update_resources(host.manager, Resources(memory=Memory(limit=40 << 20)))
    assert kernel.to(box, "memory.max") == [str(40 << 20)]
    # a new container's limit is not checked (nothing runs in it yet)
    kernel.writes.clear()
    (box / "memory.current").write_text(f"{50 << 20}\n")
    apply_resources(host.manager, Resources(memory=Memory(limit=40 << 20)))
    assert kernel.to(box, "memory.high") == [] and kernel.to(box, "memory.max") == [str(40 << 20)]


def test_update_keeps_devices_and_half_of_cpu_max(tmp_path, kernel) -> None:
    host = v1_host(tmp_path)
    update_resources(host.manager, Resources(pids=Pids(limit=-1)))
    assert kernel.files() == ["pids.max"]
    assert kernel.to(host["pids"], "pids.max") == ["max"]

    v2 = v2_host(tmp_path / "v2")
    (v2[UNIFIED] / "cpu.max").write_text("20000 50000\n")
    (v2[UNIFIED] / "memory.max").write_text(f"{1 << 30}\n")
    kernel.writes.clear()
    update_resources(v2.manager, Resources(cpu=CPU(quota=30000), memory=Memory(swap=2 << 30)))
    assert kernel.to(v2[UNIFIED], "cpu.max") == ["30000 50000"]
    assert kernel.to(v2[UNIFIED], "memory.swap.max") == [str(1 << 30)]  # against the limit in force
