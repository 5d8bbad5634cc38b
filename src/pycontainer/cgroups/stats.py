"""Resource usage of a container's cgroups, in the shape of runc's ``events``
stats (runc's ``types.Stats``: ``cpu``, ``memory``, ``pids``, ``blkio``,
``hugetlb``, ``network_interfaces``), and its OOM kills.

Each controller is read where it lives on this host: the v1 hierarchy that
has it, else the unified (v2) directory.  Missing files read as zero: a
controller the host lacks reports nothing rather than failing the command.
Network counters come from the container's network namespace, as the init
sees them (``/proc/<pid>/net/dev``): received is what the container received.

OOM kills are waited for, not polled: :class:`OomWatcher` is an fd to
``poll(2)`` on -- on v1 an eventfd registered for ``memory.oom_control``
through ``cgroup.event_control`` (what runc does), on v2 ``memory.events``
itself, which the kernel marks readable (POLLPRI) whenever a count changes.
"""

from __future__ import annotations

import os
import select

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_NS_PER_TICK = 1_000_000_000 // _CLK_TCK
_UNLIMITED = 0xFFFFFFFFFFFFFFFF  # how runc reports "max"


def collect(paths: dict[str, str], pid: int | None = None) -> dict:
    """Stats for a container whose cgroup directories are ``paths``
    (hierarchy key -> directory, as the Manager's ``paths()``); *pid*, its
    init, gives the network counters of its network namespace."""
    return {
        "cpu": _cpu(paths),
        "memory": _memory(paths),
        "pids": _pids(paths),
        "blkio": _blkio(paths),
        "hugetlb": _hugetlb(paths),
        "network_interfaces": _network(pid) if pid else None,
    }


class OomWatcher:
    """An fd that becomes ready when the kernel hits the memory limit of the
    container's cgroup (see the module docstring); :meth:`read` says how
    many processes the kernel OOM-killed since the last call, from the
    cgroup's own count (v1 ``memory.oom_control``, v2 ``memory.events``
    ``oom_kill``), so one kill is counted once however many notifications
    it caused.  No memory controller: no fd (:attr:`fd` is None) and never
    a kill."""

    def __init__(self, paths: dict[str, str]) -> None:
        self.fd: int | None = None
        self.events = 0  # poll(2) events to wait for on fd
        #: A notification came and its kill is not counted yet (v1 notifies
        #: before the OOM killer picks its victim): :meth:`read` again soon.
        self.pending = False
        self._control: int | None = None
        self._v1_dir: str | None = None
        self._v2_dir: str | None = None
        self._kills = 0
        if "memory" in paths:
            self._watch_v1(paths["memory"])
            self._v1_dir = paths["memory"]
            self._kills = self._read_v1() or 0
        elif "" in paths and os.path.exists(paths[""] + "/memory.events"):
            self._v2_dir = paths[""]
            self.fd = os.open(self._v2_dir + "/memory.events", os.O_RDONLY | os.O_CLOEXEC)
            self.events = select.POLLPRI
            self._kills = self._read_v2()

    def _watch_v1(self, directory: str) -> None:
        self.fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            self._control = os.open(directory + "/memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            line = f"{self.fd} {self._control}".encode()
            fd = os.open(directory + "/cgroup.event_control", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError:
            self.close()
            raise
        self.events = select.POLLIN

    def _read_v1(self) -> int | None:
        """memory.oom_control's oom_kill (None before Linux 4.13, which lacks it)."""
        return _keyed(self._v1_dir, "memory.oom_control").get("oom_kill") if self._v1_dir else None

    def _read_v2(self) -> int:
        fd = self.fd
        if fd is None:
            raise ValueError("OomWatcher: memory.events read after close()")
        os.lseek(fd, 0, os.SEEK_SET)  # reading again re-arms POLLPRI
        text = os.read(fd, 4096).decode()
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def read(self) -> int:
        """How many OOM kills since the last read (0 if none); never blocks."""
        if self.fd is None:
            return 0
        if self._v2_dir is not None:
            kills = self._read_v2()
        else:
            try:
                notified = os.eventfd_read(self.fd)
            except BlockingIOError:
                notified = 0
            count = self._read_v1()
            if count is None:  # no kill count on this kernel: the notifications are all we have
                return notified
            kills = count
            self.pending = self.pending or notified > 0
        new, self._kills = max(kills - self._kills, 0), kills
        if new:
            self.pending = False
        return new

    def close(self) -> None:
        for fd in (self.fd, self._control):
            if fd is not None:
                os.close(fd)
        self.fd = self._control = None

    def __enter__(self) -> OomWatcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def memory_events(directory: str) -> dict[str, int]:
    """A cgroup v2 directory's memory.events (low, high, max, oom, oom_kill)."""
    return _keyed(directory, "memory.events")


def oom_kills(paths: dict[str, str]) -> int:
    """How many processes the kernel OOM-killed in the container's cgroup."""
    if "memory" in paths:
        return _keyed(paths["memory"], "memory.oom_control").get("oom_kill", 0)
    if "" in paths:
        return _keyed(paths[""], "memory.events").get("oom_kill", 0)
    return 0


def _cpu(paths: dict[str, str]) -> dict:
    usage: dict = {"total": 0, "percpu": [], "kernel": 0, "user": 0}
    throttling = {"periods": 0, "throttledPeriods": 0, "throttledTime": 0}
    if "cpuacct" in paths:
        d = paths["cpuacct"]
        usage["total"] = _int(d, "cpuacct.usage")
        usage["percpu"] = [int(x) for x in _text(d, "cpuacct.usage_percpu").split()]
        ticks = _keyed(d, "cpuacct.stat")
        usage["user"] = ticks.get("user", 0) * _NS_PER_TICK
        usage["kernel"] = ticks.get("system", 0) * _NS_PER_TICK
    elif "" in paths:
        stat = _keyed(paths[""], "cpu.stat")
        usage["total"] = stat.get("usage_usec", 0) * 1000
        usage["user"] = stat.get("user_usec", 0) * 1000
        usage["kernel"] = stat.get("system_usec", 0) * 1000
    cpu_dir = paths.get("cpu") or paths.get("")
    if cpu_dir:
        stat = _keyed(cpu_dir, "cpu.stat")
        throttling["periods"] = stat.get("nr_periods", 0)
        throttling["throttledPeriods"] = stat.get("nr_throttled", 0)
        throttled = stat.get("throttled_time", stat.get("throttled_usec", 0) * 1000)
        throttling["throttledTime"] = throttled
    return {"usage": usage, "throttling": throttling}


def _memory(paths: dict[str, str]) -> dict:
    if "memory" in paths:
        d = paths["memory"]
        usage = {
            "limit": _int(d, "memory.limit_in_bytes"),
            "usage": _int(d, "memory.usage_in_bytes"),
            "max": _int(d, "memory.max_usage_in_bytes"),
            "failcnt": _int(d, "memory.failcnt"),
        }
        swap = {
            "limit": _int(d, "memory.memsw.limit_in_bytes"),
            "usage": _int(d, "memory.memsw.usage_in_bytes"),
            "max": _int(d, "memory.memsw.max_usage_in_bytes"),
            "failcnt": _int(d, "memory.memsw.failcnt"),
        }
        kernel, tcp = (
            {
                "limit": _int(d, f"{prefix}.limit_in_bytes"),
                "usage": _int(d, f"{prefix}.usage_in_bytes"),
                "max": _int(d, f"{prefix}.max_usage_in_bytes"),
                "failcnt": _int(d, f"{prefix}.failcnt"),
            }
            for prefix in ("memory.kmem", "memory.kmem.tcp")
        )
        raw = _keyed(d, "memory.stat")
        return {
            "cache": raw.get("total_cache", raw.get("cache", 0)),
            "usage": usage,
            "swap": swap,
            "kernel": kernel,
            "kernelTCP": tcp,
            "raw": raw,
        }
    if "" in paths:
        d = paths[""]
        usage = {
            "limit": _int(d, "memory.max"),
            "usage": _int(d, "memory.current"),
            "max": _int(d, "memory.peak"),
            "failcnt": _keyed(d, "memory.events").get("max", 0),
        }
        swap = {
            "limit": _int(d, "memory.swap.max"),
            "usage": _int(d, "memory.swap.current"),
            "max": 0,
            "failcnt": 0,
        }
        raw = _keyed(d, "memory.stat")
        return {"cache": raw.get("file", 0), "usage": usage, "swap": swap, "raw": raw}
    return {}


def _pids(paths: dict[str, str]) -> dict:
    d = paths.get("pids") or paths.get("")
    if not d:
        return {}
    limit = _int(d, "pids.max")
    return {"current": _int(d, "pids.current"), "limit": 0 if limit == _UNLIMITED else limit}


# v1 blkio files -> runc's Blkio keys, in groups tried in runc's order (fs
# GetStats): BFQ with its debug files, BFQ, CFQ, then the throttle layer's
# recursive files and its plain ones.  The first group whose first file has
# entries is the one reported: without CFQ or BFQ (mq-deadline, none, kyber)
# only the throttle layer's counters exist.  Recent kernels (6.18 on the test
# machines) set the throttle layer up for a device only once some cgroup has
# a throttle rule for it, and it counts nothing before: without a rule its
# files hold only "Total 0", for runc as for us.
_BLKIO_V1_GROUPS = (
    (
        ("sectorsRecursive", "blkio.bfq.sectors_recursive"),
        ("ioServiceTimeRecursive", "blkio.bfq.io_service_time_recursive"),
        ("ioWaitTimeRecursive", "blkio.bfq.io_wait_time_recursive"),
        ("ioMergedRecursive", "blkio.bfq.io_merged_recursive"),
        ("ioQueueRecursive", "blkio.bfq.io_queued_recursive"),
        ("ioTimeRecursive", "blkio.bfq.time_recursive"),
        ("ioServicedRecursive", "blkio.bfq.io_serviced_recursive"),
        ("ioServiceBytesRecursive", "blkio.bfq.io_service_bytes_recursive"),
    ),
    (
        ("ioServicedRecursive", "blkio.bfq.io_serviced_recursive"),
        ("ioServiceBytesRecursive", "blkio.bfq.io_service_bytes_recursive"),
    ),
    (
        ("sectorsRecursive", "blkio.sectors_recursive"),
        ("ioServiceTimeRecursive", "blkio.io_service_time_recursive"),
        ("ioWaitTimeRecursive", "blkio.io_wait_time_recursive"),
        ("ioMergedRecursive", "blkio.io_merged_recursive"),
        ("ioQueueRecursive", "blkio.io_queued_recursive"),
        ("ioTimeRecursive", "blkio.time_recursive"),
        ("ioServicedRecursive", "blkio.io_serviced_recursive"),
        ("ioServiceBytesRecursive", "blkio.io_service_bytes_recursive"),
    ),
    (
        ("ioServicedRecursive", "blkio.throttle.io_serviced_recursive"),
        ("ioServiceBytesRecursive", "blkio.throttle.io_service_bytes_recursive"),
    ),
    (
        ("ioServicedRecursive", "blkio.throttle.io_serviced"),
        ("ioServiceBytesRecursive", "blkio.throttle.io_service_bytes"),
    ),
)
# v2 io.stat keys -> (runc Blkio key, op), as runc's fs2 statIo.
_IO_STAT = {
    "rbytes": ("ioServiceBytesRecursive", "Read"),
    "wbytes": ("ioServiceBytesRecursive", "Write"),
    "dbytes": ("ioServiceBytesRecursive", "Discard"),
    "rios": ("ioServicedRecursive", "Read"),
    "wios": ("ioServicedRecursive", "Write"),
    "dios": ("ioServicedRecursive", "Discard"),
}


def _blkio(paths: dict[str, str]) -> dict:
    """runc's Blkio: per device and operation, ``{"major", "minor", "op",
    "value"}``; a key without entries is left out (runc's omitempty)."""
    out: dict[str, list] = {}
    if "blkio" in paths:
        d = paths["blkio"]
        for group in _BLKIO_V1_GROUPS:
            (first_key, first_name), *rest = group
            entries = _blkio_entries(_text(d, first_name))
            if not entries:
                continue
            out[first_key] = entries
            for key, name in rest:
                entries = _blkio_entries(_text(d, name))
                if entries:
                    out[key] = entries
            break
    elif "" in paths:
        for line in _text(paths[""], "io.stat").splitlines():
            device, *fields = line.split()
            major, _, minor = device.partition(":")
            for field in fields:
                name, _, value = field.partition("=")
                if name in _IO_STAT and value.isdigit():
                    key, op = _IO_STAT[name]
                    entry = {"major": int(major), "minor": int(minor), "op": op, "value": int(value)}
                    out.setdefault(key, []).append(entry)
    return out


def _blkio_entries(text: str) -> list[dict]:
    """``8:0 Read 4096`` lines (a ``Total N`` line ends the file; per-device
    ``8:0 Total N`` lines are kept, as runc keeps them)."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and ":" in fields[0]:
            major, _, minor = fields[0].partition(":")
            entry = {"major": int(major), "minor": int(minor), "op": fields[1], "value": int(fields[2])}
            entries.append(entry)
        elif len(fields) == 2 and ":" in fields[0]:  # blkio.time / sectors: no op
            major, _, minor = fields[0].partition(":")
            entries.append({"major": int(major), "minor": int(minor), "op": "", "value": int(fields[1])})
    return entries


def _hugetlb(paths: dict[str, str]) -> dict:
    """Page size (``2MB``) -> ``{"usage", "max", "failcnt"}``: v1 usage,
    max usage and failcnt; v2 current usage and how often the limit was hit
    (``hugetlb.<size>.events`` ``max``), as runc's fs2 reports them."""
    if "hugetlb" in paths:
        d, v2 = paths["hugetlb"], False
    elif "" in paths:
        d, v2 = paths[""], True
    else:
        return {}
    try:
        names = os.listdir(d)
    except OSError:
        return {}
    out = {}
    suffix = ".current" if v2 else ".usage_in_bytes"
    for name in names:
        if not (name.startswith("hugetlb.") and name.endswith(suffix)) or name.count(".") != 2:
            continue
        size = name.split(".")[1]
        if v2:
            out[size] = {
                "usage": _int(d, name),
                "max": 0,
                "failcnt": _keyed(d, f"hugetlb.{size}.events").get("max", 0),
            }
        else:
            out[size] = {
                "usage": _int(d, name),
                "max": _int(d, f"hugetlb.{size}.max_usage_in_bytes"),
                "failcnt": _int(d, f"hugetlb.{size}.failcnt"),
            }
    return dict(sorted(out.items()))


def _network(pid: int) -> list[dict] | None:
    """The counters of each interface in *pid*'s network namespace but the
    loopback, in runc's NetworkInterface shape (Go field names, no JSON
    tags); None when there is none, as runc reports a container without
    configured interfaces -- and for a container in our own network
    namespace, whose interfaces are the host's."""
    try:
        if os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            return None
    except OSError:
        return None
    out = []
    for line in _text(f"/proc/{pid}", "net/dev").splitlines()[2:]:
        name, _, counters = line.partition(":")
        name = name.strip()
        fields = counters.split()
        if name == "lo" or len(fields) < 12:
            continue
        rx, tx = fields[0:4], fields[8:12]
        out.append(
            {
                "Name": name,
                "RxBytes": int(rx[0]),
                "RxPackets": int(rx[1]),
                "RxErrors": int(rx[2]),
                "RxDropped": int(rx[3]),
                "TxBytes": int(tx[0]),
                "TxPackets": int(tx[1]),
                "TxErrors": int(tx[2]),
                "TxDropped": int(tx[3]),
            }
        )
    return out or None


def _text(directory: str, name: str) -> str:
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read()
    except OSError:
        return ""


def _int(directory: str, name: str) -> int:
    text = _text(directory, name).strip()
    if text == "max":
        return _UNLIMITED
    try:
        return int(text)
    except ValueError:
        return 0


def _keyed(directory: str, name: str) -> dict[str, int]:
    """A "key value" per line file (memory.stat, cpu.stat, memory.events ...)."""
    out = {}
    for line in _text(directory, name).splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out
