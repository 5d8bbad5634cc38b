"""Writing ``linux.resources`` into a container's cgroups.

:func:`apply_resources` does what runc's cgroupfs drivers do in ``Set``
(``libcontainer/cgroups/fs`` for v1, ``fs2`` for v2; crun's
``cgroup-resources.c`` agrees on almost everything): each setting goes into
the directory of the hierarchy that holds its controller *on this host*.

* **v1**: one directory per controller (``manager.paths()[controller]``),
  v1 file names (``memory.limit_in_bytes``, ``cpu.cfs_quota_us``,
  ``blkio.throttle.read_bps_device`` ...).
* **v2**: the one unified directory, v2 file names (``memory.max``,
  ``cpu.max``, ``io.max`` ...) and the conversions runc makes (cpu shares to
  ``cpu.weight``, blkio weight to ``io.weight``, memory+swap to
  ``memory.swap.max``).  The controllers needed are enabled first
  (``V2Manager.enable_controllers``).
* **hybrid**: a controller that has a v1 hierarchy is set there; one that
  only the unified hierarchy offers (``hugetlb`` on many hosts) is enabled
  down to the container's unified directory and set there with v2 names.

Zero means unset, as engines send it (``"shares": 0``), except where runc
reads a value as given: ``swappiness`` (0 is "never swap"; 2**64-1, Go's
``uint64(-1)``, is "leave alone"), ``cpu.burst`` and ``cpu.idle`` (set when
present).  ``pids.limit`` 0 is unset and any negative limit is ``max``;
memory limits of -1 are unlimited (``-1`` on v1, ``max`` on v2).

Devices: on v1 the container's ``devices`` cgroup is always made a
whitelist, as runc does: ``a`` is denied, then each rule of the config is
written in order (``devices.allow`` or ``devices.deny``), then the default
rules runc and crun append to every container (:data:`DEFAULT_DEVICE_RULES`:
``/dev/null``, ``zero``, ``full``, ``random``, ``urandom``, ``tty``, ptys,
``tun``, and mknod of any node).  That holds even with no ``linux.resources``
at all.  On pure cgroup v2 the same list becomes a BPF device program
attached to the container's cgroup (:mod:`pycontainer.cgroups.devicefilter`);
an update with device rules attaches the new program and detaches the old.

What cannot be applied here is skipped with a log record, never silently:
``net_cls``/``net_prio`` (not mounted on most hosts) and ``rdma`` with a
warning; kernel memory limits (gone from recent kernels) at debug level;
v1-only knobs on v2 (``swappiness``, ``disableOOMKiller``, realtime
budgets, leaf weights, ``network``) with a warning.  Every other requested
limit whose controller is missing is a :class:`ResourceError`, and so is a
value the kernel refuses: the message names the JSON path, the value and the
file, e.g. ``linux.resources.memory.limit: writing 1234 to
memory.limit_in_bytes: Device or resource busy``.

Standard library only (``os``, ``errno``) and cheap to import.
"""

from __future__ import annotations

import errno
import os

from pycontainer.cgroups.base import write_file
from pycontainer.cgroups.detect import UNIFIED, read_text
from pycontainer.errors import ConfigError, ContainerError, ResourceError
from pycontainer.log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from pycontainer.cgroups.base import Manager
    from pycontainer.spec.models import (
        CPU,
        BlockIO,
        HugepageLimit,
        Memory,
        Network,
        Rdma,
        Resources,
    )

    _T = TypeVar("_T")

log = get_logger(__name__)

__all__ = [
    "DEFAULT_DEVICE_RULES",
    "ResourceError",
    "apply_resources",
    "blkio_weight_to_io_weight",
    "cpu_max",
    "cpu_shares_to_weight",
    "device_rule_string",
    "hugepage_size_name",
    "memory_swap_to_v2",
    "pids_max",
    "update_resources",
]

ROOT = "linux.resources"

#: Go engines write uint64(-1) for "leave swappiness alone"; runc skips it.
_SWAPPINESS_UNSET = 2**64 - 1

#: cgroup v2 ``cpu.max`` period when none is given (the kernel's default).
DEFAULT_CPU_PERIOD = 100000


# ----------------------------------------------------------- conversions


def cpu_shares_to_weight(shares: int) -> int:
    """cgroup v1 ``cpu.shares`` [2, 262144] to v2 ``cpu.weight`` [1, 10000].

    The mapping of runc (opencontainers/cgroups ``ConvertCPUSharesToCgroupV2Value``)
    and crun since 2025: a quadratic in log2(shares) that sends the minimum,
    the default (1024 -> 100, the v2 default weight) and the maximum to
    their v2 counterparts.  The linear formula used before,
    ``1 + (shares - 2) * 9999 // 262142``, gave 1024 -> 39, below an
    unconfigured sibling.  0 means unset and stays 0.
    """
    if shares == 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    from math import ceil, log2  # a builtin module; only needed here

    x = log2(shares)
    exponent = (x * x + 125 * x) / 612.0 - 7.0 / 34.0
    return int(ceil(10**exponent))


def blkio_weight_to_io_weight(weight: int) -> int:
    """cgroup v1 ``blkio.weight`` [10, 1000] to v2 ``io.weight`` [1, 10000],
    linearly, as runc's ``ConvertBlkIOToIOWeightValue``; 0 stays 0."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def memory_swap_to_v2(swap: int, limit: int) -> int:
    """The OCI ``memory.swap`` (memory+swap) as cgroup v2 ``memory.swap.max``
    (swap alone), as runc's ``ConvertMemorySwapToCgroupV2Value``: -1 is
    unlimited, 0 unset; an unlimited memory limit with swap unset makes swap
    unlimited too.  Raises ValueError for a swap limit without a memory
    limit or below it."""
    if limit == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap
    if limit == -1:
        return swap
    if limit == 0:
        raise ValueError("a swap limit needs a memory limit (memory.limit)")
    if limit < 0:
        raise ValueError(f"invalid memory limit {limit}")
    if swap < limit:
        raise ValueError(f"memory+swap limit {swap} is below the memory limit {limit}")
    return swap - limit


def _v2_number(value: int) -> str:
    """A value for a v2 ``.max``/``.low``/``.high`` file: negative is ``max``."""
    return "max" if value < 0 else str(value)


def cpu_max(quota: int | None, period: int | None, current: str | None = None) -> str | None:
    """The cgroup v2 ``cpu.max`` line for a CFS quota and period, or None
    when both are unset (0 or None).

    As runc: a quota of 0 or below is ``max`` (no limit) and a missing period
    is the kernel's default, 100000 us.  With *current* (the file's present
    content, for an update) the half not given is kept instead.
    """
    quota = quota or 0
    period = period or 0
    if not quota and not period:
        return None
    cur_quota, cur_period = "max", str(DEFAULT_CPU_PERIOD)
    if current is not None:
        fields = current.split()
        if len(fields) == 2:
            cur_quota, cur_period = fields
    if quota > 0:
        quota_text = str(quota)
    elif quota < 0 or current is None:
        quota_text = "max"
    else:
        quota_text = cur_quota
    period_text = str(period) if period else cur_period
    return f"{quota_text} {period_text}"


def pids_max(limit: int | None) -> str | None:
    """The ``pids.max`` value for ``pids.limit``: None for 0 (unset, as runc
    reads it), ``max`` for any negative limit."""
    if not limit:
        return None
    return "max" if limit < 0 else str(limit)


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}


def hugepage_size_name(page_size: str) -> str:
    """The kernel's name for a huge page size, as in ``hugetlb.<name>.max``:
    ``2MB``, ``1GB``, ``64KB``.

    Accepts the spec's ``<number><unit>B`` (``2MB``, ``2048KB``), also
    lower case and without the ``B`` (``2m``, ``2048kB``), and names the
    size as the kernel does (``mem_fmt`` in ``mm/hugetlb_cgroup.c``): whole
    GB from 1 GiB up, else MB from 1 MiB, else KB -- so ``2048KB`` is
    ``2MB``.  Raises ValueError for anything else.
    """
    text = page_size.strip()
    upper = text.upper()
    if upper.endswith("IB"):
        upper = upper[:-2]
    elif upper.endswith("B"):
        upper = upper[:-1]
    unit = upper[-1:] if upper[-1:] in _SIZE_UNITS and upper[-1:] else ""
    number = upper[: len(upper) - len(unit)]
    if not number.isdigit() or not number.isascii():
        raise ValueError(f"{page_size!r} is not a page size (expected <size><unit>B such as '2MB')")
    size = int(number) * _SIZE_UNITS[unit]
    if size < 1 << 10:
        raise ValueError(f"{page_size!r} is smaller than any page size")
    if size >= 1 << 30:
        return f"{size >> 30}GB"
    if size >= 1 << 20:
        return f"{size >> 20}MB"
    return f"{size >> 10}KB"


def host_hugepage_sizes() -> list[str]:
    """The huge page sizes this kernel supports, named as in cgroup files
    (from ``/sys/kernel/mm/hugepages/hugepages-<N>kB``), smallest first."""
    try:
        entries = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return []
    sizes = []
    for entry in entries:
        if entry.startswith("hugepages-") and entry.endswith("kB") and entry[10:-2].isdigit():
            sizes.append(int(entry[10:-2]))
    return [hugepage_size_name(f"{kb}KB") for kb in sorted(sizes)]


class _Rule:
    """A device rule in the shape of :class:`~pycontainer.spec.models.DeviceRule`."""

    __slots__ = ("allow", "type", "major", "minor", "access")

    def __init__(self, allow: bool, type: str, major: int | None, minor: int | None, access: str) -> None:
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access

    def __repr__(self) -> str:
        return f"{'allow' if self.allow else 'deny'} {device_rule_string(self)}"


#: The rules runc (``specconv.AllowedDevices``) and crun (``default_devices``)
#: add after the config's own on every container: mknod of any character or
#: block device, /dev/null, random, full, tty, zero, urandom, /dev/pts/*,
#: /dev/ptmx and /dev/net/tun.
DEFAULT_DEVICE_RULES: tuple[_Rule, ...] = (
    _Rule(True, "c", None, None, "m"),
    _Rule(True, "b", None, None, "m"),
    _Rule(True, "c", 1, 3, "rwm"),
    _Rule(True, "c", 1, 8, "rwm"),
    _Rule(True, "c", 1, 7, "rwm"),
    _Rule(True, "c", 5, 0, "rwm"),
    _Rule(True, "c", 1, 5, "rwm"),
    _Rule(True, "c", 1, 9, "rwm"),
    _Rule(True, "c", 136, None, "rwm"),
    _Rule(True, "c", 5, 2, "rwm"),
    _Rule(True, "c", 10, 200, "rwm"),
)


def device_rule_string(rule) -> str:
    """A device rule (``type``, ``major``, ``minor``, ``access`` attributes, as
    :class:`~pycontainer.spec.models.DeviceRule`) as the v1 devices cgroup
    reads it: ``c 1:3 rwm``.  Type defaults to ``a`` (all devices: the kernel
    then ignores numbers and access), a missing or negative number is ``*``,
    missing access is ``rwm``."""
    kind = rule.type or "a"
    major = "*" if rule.major is None or rule.major < 0 else str(rule.major)
    minor = "*" if rule.minor is None or rule.minor < 0 else str(rule.minor)
    return f"{kind} {major}:{minor} {rule.access or 'rwm'}"


def _json_key(key: str) -> str:
    """``["key"]``, the way JSON paths in this project name map keys."""
    return '["' + key.replace("\\", "\\\\").replace('"', '\\"') + '"]'


def _show(value: str) -> str:
    return f'"{value}"' if any(c.isspace() for c in value) else value


def _running_in_userns() -> bool:
    """Whether we are in a user namespace other than the initial one: the
    devices cgroup is then off limits (runc skips it likewise)."""
    try:
        fields = read_text("/proc/self/uid_map").split()
    except OSError:
        return False
    return fields != ["0", "0", "4294967295"]


# ----------------------------------------------------------- the context


class _Context:
    """One application of resources: where each controller lives, and the
    writes, with errors that name the JSON path."""

    def __init__(self, manager: Manager, update: bool) -> None:
        self.manager = manager
        self.paths = manager.paths()
        self.mode = manager.layout.mode
        self.update = update
        self.unified_dir = self.paths.get(UNIFIED)
        self.unified_available: set[str] = set()

    # -- where
    def place(self, controller: str) -> tuple[str, bool] | None:
        """(directory, is_v2) for *controller* (a v1 name), or None when
        neither a v1 hierarchy nor the unified one (enabled) has it."""
        if controller != UNIFIED and controller in self.paths:
            return self.paths[controller], False
        name = _V2_NAME.get(controller, controller)
        if self.unified_dir is not None and name in self.unified_available:
            return self.unified_dir, True
        return None

    def enable(self, wanted: set[str]) -> None:
        """Make the v2 controllers *wanted* usable in the container's unified
        directory; record which are."""
        if self.unified_dir is None or not wanted:
            return
        enable = getattr(self.manager, "enable_controllers", None)
        if enable is not None:  # the v2 driver
            self.unified_available = set(enable(wanted))
        else:  # hybrid: the v1 driver also joined the unified hierarchy
            self.unified_available = _enable_hybrid(self.manager, self.unified_dir, wanted)
        log.debug("v2 controllers for %s: %s", self.unified_dir, sorted(self.unified_available))

    # -- files
    @staticmethod
    def exists(directory: str, name: str) -> bool:
        return os.path.exists(f"{directory}/{name}")

    @staticmethod
    def read(directory: str, name: str) -> str | None:
        """A control file's stripped content, or None if it cannot be read."""
        try:
            return read_text(f"{directory}/{name}").strip()
        except OSError as exc:
            log.debug("cannot read %s/%s: %s", directory, name, exc)
            return None

    def read_int(self, directory: str, name: str) -> int | None:
        text = self.read(directory, name)
        if text is None:
            return None
        if text == "max":
            return -1
        try:
            return int(text)
        except ValueError:
            return None

    @staticmethod
    def try_write(directory: str, name: str, value: str) -> OSError | None:
        """Write *value*; the kernel's refusal is returned, not raised."""
        try:
            write_file(f"{directory}/{name}", value)
        except OSError as exc:
            return exc
        log.debug("wrote %s to %s/%s", _show(value), directory, name)
        return None

    def write(self, directory: str, name: str, value: str, at: str, hint: str = "") -> None:
        """Write *value* into *directory*/*name*, or raise ResourceError naming
        the JSON path *at*."""
        exc = self.try_write(directory, name, value)
        if exc is not None:
            raise self.error(exc, directory, name, value, at, hint)

    def error(
        self, exc: OSError, directory: str, name: str, value: str, at: str, hint: str = ""
    ) -> ResourceError:
        if not hint:
            hint = _hint(exc.errno, directory, name)
        reason = exc.strerror or str(exc)
        return ResourceError(
            f"{at}: writing {_show(value)} to {name}: {reason}{hint}",
            path=at,
            file=f"{directory}/{name}",
            value=value,
            error_number=exc.errno,
        )


def _hint(number: int | None, directory: str, name: str) -> str:
    if number == errno.ENOENT:
        return f" (no {name} in {directory}: this kernel or cgroup does not support it)"
    if number in (errno.EPERM, errno.EACCES):
        return f" (in {directory})"
    return ""


def _read_words(path: str) -> set[str]:
    try:
        return set(read_text(path).split())
    except OSError as exc:
        raise ContainerError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _enable_hybrid(manager: Manager, directory: str, wanted: set[str]) -> set[str]:
    """On a hybrid host, enable *wanted* controllers of the unified hierarchy
    from its root down to the parent of the container's *directory* (as the
    v2 driver does), skipping those a level lacks; returns the wanted ones
    the container's directory then has."""
    mountpoint = manager.layout.mountpoint(UNIFIED).rstrip("/")
    wanted = set(wanted)
    if directory.startswith(mountpoint + "/"):
        parts = directory[len(mountpoint) + 1 :].split("/")
        level = mountpoint
        levels = [level]
        for part in parts[:-1]:
            level = f"{level}/{part}"
            levels.append(level)
        for level in levels:
            wanted &= _read_words(level + "/cgroup.controllers")
            todo = sorted(wanted - _read_words(level + "/cgroup.subtree_control"))
            for controller in todo:
                try:
                    write_file(level + "/cgroup.subtree_control", "+" + controller)
                    log.debug("enabled %s in %s", controller, level)
                except OSError as exc:
                    log.warning(
                        "cannot enable %s in %s/cgroup.subtree_control: %s", controller, level, exc.strerror
                    )
                    wanted.discard(controller)
    return wanted & _read_words(directory + "/cgroup.controllers")


# ----------------------------------------------------------- memory


def _memory_wanted(res: Resources) -> bool:
    m = res.memory
    return m is not None and bool(
        m.limit
        or m.reservation
        or m.swap
        or m.kernel
        or m.kernel_tcp
        or m.disable_oom_killer
        or (m.swappiness is not None and m.swappiness != _SWAPPINESS_UNSET)
    )


def _check_before_update(ctx: _Context, m: Memory) -> None:
    """runc's ``CheckMemoryUsage``, for updates with ``checkBeforeUpdate``:
    refuse a memory (or memory+swap) limit at or below what the container
    uses now, before anything is written.  Best effort, as in runc: an
    unreadable usage lets the update through."""
    limit, swap = m.limit or 0, m.swap or 0
    place = ctx.place("memory")
    if (limit <= 0 and swap <= 0) or place is None:
        return
    directory, v2 = place
    usage = ctx.read_int(directory, "memory.current" if v2 else "memory.usage_in_bytes")
    if usage is None or usage < 0:
        return
    for value, key, what in ((swap, "swap", "memory+swap limit"), (limit, "limit", "memory limit")):
        if 0 < value <= usage:
            at = f"{ROOT}.memory.{key}"
            raise ResourceError(
                f"{at}: rejecting {what} {value}: the container uses {usage} bytes now (checkBeforeUpdate)",
                path=at,
            )


def _memory_v1(ctx: _Context, d: str, m: Memory) -> None:
    at = f"{ROOT}.memory"
    limit_file, swap_file = "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"
    limit, swap = m.limit or 0, m.swap or 0
    if limit == -1 and swap == 0 and ctx.exists(d, swap_file):
        swap = -1  # runc: unlimited memory and no swap given means unlimited swap too

    def set_limit() -> None:
        if not limit:
            return
        exc = ctx.try_write(d, limit_file, str(limit))
        if exc is None:
            return
        hint = ""
        if exc.errno == errno.EBUSY:  # below what the cgroup uses now
            usage = ctx.read_int(d, "memory.usage_in_bytes")
            peak = ctx.read_int(d, "memory.max_usage_in_bytes")
            hint = f" (the cgroup uses {usage} bytes now, {peak} at most so far)"
        raise ctx.error(exc, d, limit_file, str(limit), f"{at}.limit", hint)

    def set_swap() -> None:
        if not swap:
            return
        value = str(swap if swap > 0 else -1)
        exc = ctx.try_write(d, swap_file, value)
        if exc is None:
            return
        if exc.errno == errno.ENOENT:
            log.warning("%s.swap: this kernel does not account swap (no %s); ignored", at, swap_file)
            return
        raise ctx.error(exc, d, swap_file, value, f"{at}.swap")

    # memory+swap may never be below memory: when both change, write first
    # whichever keeps that true in between (runc's setMemoryAndSwap).
    swap_first = False
    if limit and swap:
        current = ctx.read_int(d, limit_file)
        swap_first = swap < 0 or (current is not None and current < swap)
    if swap_first:
        set_swap()
        set_limit()
    else:
        set_limit()
        set_swap()

    if m.reservation:
        ctx.write(d, "memory.soft_limit_in_bytes", str(m.reservation), f"{at}.reservation")
    for value, name, key in (
        (m.kernel, "memory.kmem.limit_in_bytes", "kernel"),
        (m.kernel_tcp, "memory.kmem.tcp.limit_in_bytes", "kernelTCP"),
    ):
        if not value:
            continue
        exc = ctx.try_write(d, name, str(value))
        if exc is None:
            continue
        if exc.errno in (errno.ENOENT, errno.EOPNOTSUPP):
            log.debug("%s.%s: %s not supported by this kernel (%s); skipped", at, key, name, exc.strerror)
            continue
        raise ctx.error(exc, d, name, str(value), f"{at}.{key}")
    if m.swappiness is not None and m.swappiness != _SWAPPINESS_UNSET:
        ctx.write(d, "memory.swappiness", str(m.swappiness), f"{at}.swappiness")
    if m.disable_oom_killer:
        ctx.write(d, "memory.oom_control", "1", f"{at}.disableOOMKiller")
    if m.use_hierarchy is False:
        log.debug("%s.useHierarchy false: ignored (always hierarchical since Linux 5.x, as runc)", at)


def _shrink_v2(ctx: _Context, d: str, limit: int, at: str) -> None:
    """An update lowering ``memory.max`` below what the cgroup uses: cgroup
    v2 would reclaim and then OOM-kill until it fits, where v1 refuses
    (EBUSY).  Do as v1 does: ask for the reclaim through ``memory.high``
    (which throttles and reclaims but never kills), and if the usage is
    still above the new limit, put ``memory.high`` back and refuse, the
    container left as it was."""
    usage = ctx.read_int(d, "memory.current")
    if usage is None or usage <= limit:
        return
    old_high = ctx.read(d, "memory.high")
    if ctx.try_write(d, "memory.high", str(limit)) is None:
        usage = ctx.read_int(d, "memory.current")
        if old_high:
            ctx.try_write(d, "memory.high", old_high)
    if usage is not None and usage > limit:
        raise ResourceError(
            f"{at}: refusing memory limit {limit}: the cgroup still uses {usage} bytes after reclaim "
            "(cgroup v2 would OOM-kill to get below it; v1 refuses such a limit too)",
            path=at,
            file=f"{d}/memory.max",
            value=str(limit),
        )


def _memory_v2(ctx: _Context, d: str, m: Memory) -> None:
    at = f"{ROOT}.memory"
    limit, swap, reservation = m.limit or 0, m.swap or 0, m.reservation or 0
    if ctx.update and limit > 0:
        _shrink_v2(ctx, d, limit, f"{at}.limit")
    if limit or swap or reservation:
        base = limit
        if not base and swap > 0 and ctx.update:
            base = ctx.read_int(d, "memory.max") or 0  # the limit in force
        try:
            swap_max = memory_swap_to_v2(swap, base)
        except ValueError as exc:
            raise ConfigError(str(exc), path=f"{at}.swap") from None
        swap_text = "" if swap_max == 0 else _v2_number(swap_max)
        if swap_max == 0 and swap > 0:
            swap_text = "0"  # memory+swap == memory: no swap at all
        if swap_text:
            failed = ctx.try_write(d, "memory.swap.max", swap_text)
            if failed is not None:
                if failed.errno != errno.ENOENT:
                    raise ctx.error(failed, d, "memory.swap.max", swap_text, f"{at}.swap")
                log.warning("%s.swap: this kernel does not account swap (no memory.swap.max); ignored", at)
        if limit:
            ctx.write(d, "memory.max", _v2_number(limit), f"{at}.limit")
        if reservation:
            ctx.write(d, "memory.low", _v2_number(reservation), f"{at}.reservation")
    for value, key in ((m.kernel, "kernel"), (m.kernel_tcp, "kernelTCP")):
        if value:
            log.debug("%s.%s: no kernel memory limit in cgroup v2; skipped", at, key)
    if m.swappiness is not None and m.swappiness != _SWAPPINESS_UNSET:
        log.warning("%s.swappiness: not supported by cgroup v2; ignored", at)
    if m.disable_oom_killer:
        log.warning("%s.disableOOMKiller: not supported by cgroup v2; ignored", at)


# ----------------------------------------------------------- cpu, cpuset


def _cpu_wanted(res: Resources) -> bool:
    c = res.cpu
    return c is not None and bool(
        c.shares
        or c.quota
        or c.period
        or c.burst is not None
        or c.idle is not None
        or c.realtime_runtime
        or c.realtime_period
    )


def _cpuset_wanted(res: Resources) -> bool:
    c = res.cpu
    return c is not None and bool(c.cpus or c.mems)


def _cpu_v1(ctx: _Context, d: str, c: CPU) -> None:
    at = f"{ROOT}.cpu"
    if c.shares:
        ctx.write(d, "cpu.shares", str(c.shares), f"{at}.shares")
        got = ctx.read_int(d, "cpu.shares")
        if got is not None and got != c.shares:  # the kernel clamps to [2, 262144]
            bound = "maximum" if c.shares > got else "minimum"
            raise ResourceError(
                f"{at}.shares: {c.shares} is out of range: the {bound} the kernel allows is {got}",
                path=f"{at}.shares",
                file=f"{d}/cpu.shares",
                value=str(c.shares),
            )
    quota = c.quota or 0
    # A new period (or burst) may be refused (EINVAL) as the old quota over
    # it exceeds the parent's limit: retry once the quota is written (runc).
    retry: list[tuple[str, str, str]] = []
    if c.period:
        exc = ctx.try_write(d, "cpu.cfs_period_us", str(c.period))
        if exc is not None:
            if exc.errno != errno.EINVAL or not quota:
                raise ctx.error(exc, d, "cpu.cfs_period_us", str(c.period), f"{at}.period")
            retry.append(("cpu.cfs_period_us", str(c.period), f"{at}.period"))
    if c.burst is not None:
        exc = ctx.try_write(d, "cpu.cfs_burst_us", str(c.burst))
        if exc is not None:
            if exc.errno == errno.ENOENT:
                log.debug("%s.burst: no cpu.cfs_burst_us in this kernel; skipped", at)
            elif exc.errno == errno.EINVAL and quota:
                retry.append(("cpu.cfs_burst_us", str(c.burst), f"{at}.burst"))
            else:
                raise ctx.error(exc, d, "cpu.cfs_burst_us", str(c.burst), f"{at}.burst")
    if quota:
        ctx.write(d, "cpu.cfs_quota_us", str(quota), f"{at}.quota")
        for name, value, where in retry:
            ctx.write(d, name, value, where)
    if c.idle is not None:
        _cpu_idle(ctx, d, c.idle, at)
    _realtime_v1(ctx, d, c, at)


def _cpu_idle(ctx: _Context, d: str, idle: int, at: str) -> None:
    exc = ctx.try_write(d, "cpu.idle", str(idle))
    if exc is None:
        return
    if exc.errno == errno.ENOENT and idle == 0:
        log.debug("%s.idle: no cpu.idle in this kernel, and 0 is its default; skipped", at)
        return
    raise ctx.error(exc, d, "cpu.idle", str(idle), f"{at}.idle")


def _realtime_v1(ctx: _Context, d: str, c: CPU, at: str) -> None:
    """runc's ``SetRtSched``: with both values given, write first the one
    whose intermediate runtime/period ratio is the smaller, so the kernel's
    check against the parent's budget passes in between."""
    period, runtime = c.realtime_period or 0, c.realtime_runtime or 0
    period_write = ("cpu.rt_period_us", str(period), f"{at}.realtimePeriod")
    runtime_write = ("cpu.rt_runtime_us", str(runtime), f"{at}.realtimeRuntime")
    if not period and not runtime:
        return
    if not runtime:
        order = [period_write]
    elif not period:
        order = [runtime_write]
    else:
        old_period = ctx.read_int(d, "cpu.rt_period_us") or 0
        old_runtime = ctx.read_int(d, "cpu.rt_runtime_us") or 0
        inf = float("inf")
        old = inf if old_runtime < 0 else old_runtime * old_period
        new = inf if runtime < 0 else runtime * period
        order = [period_write, runtime_write] if old < new else [runtime_write, period_write]
    for name, value, where in order:
        ctx.write(d, name, value, where)


def _cpu_v2(ctx: _Context, d: str, c: CPU) -> None:
    at = f"{ROOT}.cpu"
    if c.shares:
        ctx.write(d, "cpu.weight", str(cpu_shares_to_weight(c.shares)), f"{at}.shares")
    current = ctx.read(d, "cpu.max") if ctx.update else None
    line = cpu_max(c.quota, c.period, current)
    if line is not None:
        ctx.write(d, "cpu.max", line, f"{at}.quota" if c.quota else f"{at}.period")
    if c.burst is not None:
        exc = ctx.try_write(d, "cpu.max.burst", str(c.burst))
        if exc is not None:
            if exc.errno != errno.ENOENT:
                raise ctx.error(exc, d, "cpu.max.burst", str(c.burst), f"{at}.burst")
            log.debug("%s.burst: no cpu.max.burst in this kernel; skipped", at)
    if c.idle is not None:
        _cpu_idle(ctx, d, c.idle, at)
    if c.realtime_runtime or c.realtime_period:
        log.warning("%s.realtimeRuntime/realtimePeriod: not supported by cgroup v2; ignored", at)


def _cpuset(ctx: _Context, d: str, c: CPU, v2: bool) -> None:
    for value, name, key in ((c.cpus, "cpus", "cpus"), (c.mems, "mems", "mems")):
        if not value:
            continue
        at = f"{ROOT}.cpu.{key}"
        exc = ctx.try_write(d, f"cpuset.{name}", value)
        if exc is not None and exc.errno == errno.ENOENT and not v2:
            # a v1 hierarchy mounted with the old "noprefix" option
            if ctx.try_write(d, name, value) is None:
                continue
        if exc is None:
            continue
        hint = ""
        if exc.errno in (errno.EINVAL, errno.ERANGE):
            parent = os.path.dirname(d)
            allowed = ctx.read(parent, f"cpuset.{name}.effective" if v2 else f"cpuset.{name}")
            within = f" ({allowed})" if allowed else ""
            hint = f" (not within the parent cgroup's cpuset.{name}{within}, or not online)"
        raise ctx.error(exc, d, f"cpuset.{name}", value, at, hint)


# ----------------------------------------------------------- pids


def _pids_wanted(res: Resources) -> bool:
    return res.pids is not None and bool(res.pids.limit)


def _pids(ctx: _Context, d: str, res: Resources, v2: bool) -> None:
    value = pids_max(res.pids.limit if res.pids is not None else None)
    if value is not None:
        ctx.write(d, "pids.max", value, f"{ROOT}.pids.limit")


# ----------------------------------------------------------- block io

_THROTTLES = (
    ("throttle_read_bps_device", "throttleReadBpsDevice", "read_bps_device", "rbps"),
    ("throttle_write_bps_device", "throttleWriteBpsDevice", "write_bps_device", "wbps"),
    ("throttle_read_iops_device", "throttleReadIOPSDevice", "read_iops_device", "riops"),
    ("throttle_write_iops_device", "throttleWriteIOPSDevice", "write_iops_device", "wiops"),
)


def _blkio_wanted(res: Resources) -> bool:
    b = res.block_io
    return b is not None and bool(
        b.weight or b.leaf_weight or b.weight_device or any(getattr(b, attr) for attr, *_ in _THROTTLES)
    )


def _blkio_v1(ctx: _Context, d: str, b: BlockIO) -> None:
    at = f"{ROOT}.blockIO"
    # CFQ's files, or BFQ's (Linux 5.0 and later) when CFQ's are gone (runc).
    if ctx.exists(d, "blkio.weight"):
        weight_file, device_file = "blkio.weight", "blkio.weight_device"
    else:
        weight_file, device_file = "blkio.bfq.weight", "blkio.bfq.weight_device"
    if b.weight:
        hint = ""
        if not ctx.exists(d, weight_file):
            hint = " (no blkio.weight or blkio.bfq.weight: the disks' I/O scheduler has no weights)"
        ctx.write(d, weight_file, str(b.weight), f"{at}.weight", hint)
    if b.leaf_weight:
        _leaf_weight(ctx, d, "blkio.leaf_weight", str(b.leaf_weight), f"{at}.leafWeight")
    for i, wd in enumerate(b.weight_device):
        where = f"{at}.weightDevice[{i}]"
        if wd.weight:
            ctx.write(d, device_file, f"{wd.major}:{wd.minor} {wd.weight}", where)
        if wd.leaf_weight:
            _leaf_weight(ctx, d, "blkio.leaf_weight_device", f"{wd.major}:{wd.minor} {wd.leaf_weight}", where)
    for attr, key, suffix, _ in _THROTTLES:
        for i, td in enumerate(getattr(b, attr)):
            ctx.write(d, f"blkio.throttle.{suffix}", f"{td.major}:{td.minor} {td.rate}", f"{at}.{key}[{i}]")


def _leaf_weight(ctx: _Context, d: str, name: str, value: str, at: str) -> None:
    """Leaf weights existed with the CFQ scheduler only (gone in Linux 5.0):
    skipped with a warning where the file is missing."""
    exc = ctx.try_write(d, name, value)
    if exc is None:
        return
    if exc.errno == errno.ENOENT:
        log.warning("%s: no %s (leaf weights need the CFQ I/O scheduler); ignored", at, name)
        return
    raise ctx.error(exc, d, name, value, at)


def _bfq_device_weights(ctx: _Context, d: str) -> bool:
    """runc's ``bfqDeviceWeightSupported``: ``io.bfq.weight`` takes per-device
    weights (Linux 5.4) when it reads as more than one number."""
    text = ctx.read(d, "io.bfq.weight")
    if text is None:
        return False
    try:
        int(text)
    except ValueError:
        return True
    return False


def _io_v2(ctx: _Context, d: str, b: BlockIO) -> None:
    at = f"{ROOT}.blockIO"
    per_device = bool(b.weight_device) and _bfq_device_weights(ctx, d)
    if b.weight:
        if ctx.exists(d, "io.bfq.weight"):  # BFQ takes the v1 range as is
            ctx.write(d, "io.bfq.weight", str(b.weight), f"{at}.weight")
        else:
            hint = ""
            if not ctx.exists(d, "io.weight"):
                hint = " (no io.weight or io.bfq.weight: no I/O weights from io.cost or the disks' scheduler)"
            ctx.write(d, "io.weight", str(blkio_weight_to_io_weight(b.weight)), f"{at}.weight", hint)
    if b.leaf_weight:
        log.warning("%s.leafWeight: not supported by cgroup v2; ignored", at)
    if b.weight_device:
        for i, wd in enumerate(b.weight_device):
            where = f"{at}.weightDevice[{i}]"
            if wd.weight:
                if per_device:
                    ctx.write(d, "io.bfq.weight", f"{wd.major}:{wd.minor} {wd.weight}", where)
                else:
                    log.warning(
                        "%s: no per-device weights here (they need the BFQ I/O scheduler); ignored", where
                    )
            if wd.leaf_weight:
                log.warning("%s.leafWeight: not supported by cgroup v2; ignored", where)
    for attr, key, _, io_key in _THROTTLES:
        for i, td in enumerate(getattr(b, attr)):
            ctx.write(d, "io.max", f"{td.major}:{td.minor} {io_key}={td.rate}", f"{at}.{key}[{i}]")


# ----------------------------------------------------------- hugetlb


def _hugetlb(ctx: _Context, d: str, limits: list[HugepageLimit], v2: bool) -> None:
    suffix = "max" if v2 else "limit_in_bytes"
    rsvd = True  # hugetlb.<size>.rsvd.* (Linux 5.7) are set too where they exist (runc)
    for i, hp in enumerate(limits):
        at = f"{ROOT}.hugepageLimits[{i}]"
        try:
            size = hugepage_size_name(hp.page_size)
        except ValueError as exc:
            raise ConfigError(str(exc), path=f"{at}.pageSize") from None
        value = str(hp.limit)
        name = f"hugetlb.{size}.{suffix}"
        failed = ctx.try_write(d, name, value)
        if failed is not None:
            hint = ""
            if failed.errno == errno.ENOENT:
                sizes = ", ".join(host_hugepage_sizes()) or "none"
                hint = f" ({hp.page_size} is not a huge page size of this host; it has: {sizes})"
            raise ctx.error(failed, d, name, value, at, hint)
        if rsvd:
            failed = ctx.try_write(d, f"hugetlb.{size}.rsvd.{suffix}", value)
            if failed is not None:
                if failed.errno != errno.ENOENT:
                    raise ctx.error(failed, d, f"hugetlb.{size}.rsvd.{suffix}", value, at)
                rsvd = False


# ----------------------------------------------------------- network, rdma


def _net_cls(ctx: _Context, d: str, n: Network) -> None:
    if n.class_id:
        ctx.write(d, "net_cls.classid", str(n.class_id), f"{ROOT}.network.classID")


def _net_prio(ctx: _Context, d: str, n: Network) -> None:
    for i, prio in enumerate(n.priorities):
        ctx.write(d, "net_prio.ifpriomap", f"{prio.name} {prio.priority}", f"{ROOT}.network.priorities[{i}]")


def _rdma(ctx: _Context, d: str, rdma: dict[str, Rdma]) -> None:
    """``rdma.max`` (v1 and v2 alike), best effort: a refusal is a warning."""
    for device, limits in rdma.items():
        line = device
        if limits.hca_handles is not None:
            line += f" hca_handle={limits.hca_handles}"
        if limits.hca_objects is not None:
            line += f" hca_object={limits.hca_objects}"
        exc = ctx.try_write(d, "rdma.max", line)
        if exc is not None:
            at = f"{ROOT}.rdma{_json_key(device)}"
            log.warning("%s: writing %s to rdma.max: %s; ignored", at, _show(line), exc.strerror)


# ----------------------------------------------------------- devices


def _devices(ctx: _Context, res: Resources | None) -> None:
    rules = list(res.devices) if res is not None else []
    if ctx.update and not rules:
        return  # an update without device rules leaves them as they are
    place = ctx.place("devices")
    if ctx.mode == "v2" and ctx.unified_dir is not None:
        _devices_bpf(ctx, ctx.unified_dir, rules)
        return
    if place is None or place[1]:
        if rules:
            raise ResourceError(
                f"{ROOT}.devices: the devices cgroup controller is not mounted on this host",
                path=f"{ROOT}.devices",
            )
        return
    if _running_in_userns():
        log.debug("%s.devices: in a user namespace, the devices cgroup cannot be set; skipped", ROOT)
        return
    d = place[0]
    # A whitelist, as runc builds it: deny everything, the config's rules in
    # order, then the rules every container gets.
    ctx.write(d, "devices.deny", "a", f"{ROOT}.devices")
    for i, rule in enumerate(rules):
        ctx.write(
            d,
            "devices.allow" if rule.allow else "devices.deny",
            device_rule_string(rule),
            f"{ROOT}.devices[{i}]",
        )
    for default in DEFAULT_DEVICE_RULES:
        ctx.write(d, "devices.allow", device_rule_string(default), f"{ROOT}.devices (default rule)")


def _devices_bpf(ctx: _Context, directory: str, rules: list) -> None:
    """Pure cgroup v2: the same whitelist as a BPF device program attached to
    the container's cgroup *directory* (replacing the one attached before, on update)."""
    if _running_in_userns():
        log.debug("%s.devices: in a user namespace, no device program can be attached; skipped", ROOT)
        return
    from pycontainer.cgroups import devicefilter

    at = f"{ROOT}.devices"
    try:
        devicefilter.install(directory, [*rules, *DEFAULT_DEVICE_RULES])
    except ValueError as exc:
        raise ConfigError(str(exc), path=at) from exc
    except OSError as exc:
        raise ResourceError(
            f"{at}: cannot attach the device program to {directory}: {exc.strerror or exc}",
            path=at,
            error_number=exc.errno,
        ) from exc


# ----------------------------------------------------------- unified


def _check_unified_keys(unified: dict[str, str]) -> None:
    for key in unified:
        if not key or "/" in key or ".." in key or key == "." or "\0" in key:
            raise ConfigError(
                f"{key!r} is not a cgroup file name (expected CONTROLLER.PARAMETER such as "
                "'memory.high', without '/' or '..')",
                path=f"{ROOT}.unified{_json_key(key)}",
            )


def _unified_controllers(unified: dict[str, str]) -> set[str]:
    names = set()
    for key in unified:
        controller, dot, _ = key.partition(".")
        if dot and controller != "cgroup":
            names.add(controller)
    return names


def _unified(ctx: _Context, unified: dict[str, str]) -> None:
    """Each key is a file of the container's unified directory, written as
    given, a line at a time (multi-line values such as ``io.max``), last so
    it overrides the structured settings (runc, crun)."""
    if not unified:
        return
    d = ctx.unified_dir
    if d is None:
        raise ResourceError(
            f"{ROOT}.unified: this host has no cgroup v2 (unified) hierarchy", path=f"{ROOT}.unified"
        )
    for key, value in unified.items():
        at = f"{ROOT}.unified{_json_key(key)}"
        lines = [line for line in value.split("\n") if line.strip()]
        if not lines:
            log.debug("%s: empty value; skipped", at)
            continue
        for line in lines:
            exc = ctx.try_write(d, key, line)
            if exc is None:
                continue
            hint = ""
            controller, dot, _ = key.partition(".")
            if exc.errno in (errno.ENOENT, errno.EPERM, errno.EACCES) and dot and controller != "cgroup":
                if controller not in _read_words(d + "/cgroup.controllers"):
                    hint = f" (the {controller} controller is not available in {d})"
            raise ctx.error(exc, d, key, line, at, hint)


# ----------------------------------------------------------- the table


# v1 controller name -> its v2 name where they differ.
_V2_NAME = {"blkio": "io"}


class _Step:
    """One controller: when the config wants it, how to set it on v1 and
    v2, and whether its absence is an error or a warning."""

    __slots__ = ("controller", "json_key", "wanted", "apply", "required")

    def __init__(
        self,
        controller: str,
        json_key: str,
        wanted: Callable[[Resources], bool],
        apply: Callable[[_Context, str, Resources, bool], None],
        required: bool,
    ) -> None:
        self.controller = controller
        self.json_key = json_key
        self.wanted = wanted
        self.apply = apply
        self.required = required


def _by_version(v1: Callable, v2: Callable, attr: str) -> Callable[[_Context, str, Resources, bool], None]:
    def apply(ctx: _Context, d: str, res: Resources, is_v2: bool) -> None:
        (v2 if is_v2 else v1)(ctx, d, getattr(res, attr))

    return apply


def _wanted_part(section: _T | None, json_key: str) -> _T:
    """The section of the resources a step applies: its ``wanted`` checked
    that the section is set, so None here is a bug in the table."""
    if section is None:
        raise ValueError(f"{ROOT}.{json_key}: applied while unset")
    return section


def _wanted_network(attr: str) -> Callable[[Resources], bool]:
    def wanted(res: Resources) -> bool:
        return res.network is not None and bool(getattr(res.network, attr))

    return wanted


# In runc's v1 order (cpuset before the rest; devices is handled apart).
_STEPS: tuple[_Step, ...] = (
    _Step(
        "cpuset",
        "cpu",
        _cpuset_wanted,
        lambda ctx, d, res, v2: _cpuset(ctx, d, _wanted_part(res.cpu, "cpu"), v2),
        True,
    ),
    _Step("memory", "memory", _memory_wanted, _by_version(_memory_v1, _memory_v2, "memory"), True),
    _Step("cpu", "cpu", _cpu_wanted, _by_version(_cpu_v1, _cpu_v2, "cpu"), True),
    _Step("pids", "pids", _pids_wanted, _pids, True),
    _Step("blkio", "blockIO", _blkio_wanted, _by_version(_blkio_v1, _io_v2, "block_io"), True),
    _Step(
        "hugetlb",
        "hugepageLimits",
        lambda res: bool(res.hugepage_limits),
        lambda ctx, d, res, v2: _hugetlb(ctx, d, res.hugepage_limits, v2),
        True,
    ),
    _Step(
        "net_cls",
        "network.classID",
        _wanted_network("class_id"),
        lambda ctx, d, res, v2: _net_cls(ctx, d, _wanted_part(res.network, "network")),
        False,
    ),
    _Step(
        "net_prio",
        "network.priorities",
        _wanted_network("priorities"),
        lambda ctx, d, res, v2: _net_prio(ctx, d, _wanted_part(res.network, "network")),
        False,
    ),
    _Step("rdma", "rdma", lambda res: bool(res.rdma), lambda ctx, d, res, v2: _rdma(ctx, d, res.rdma), False),
)

# Controllers that exist in v1 only: no point enabling them in the unified hierarchy.
_V1_ONLY = frozenset({"net_cls", "net_prio"})


def _missing(ctx: _Context, controller: str) -> str:
    if ctx.unified_dir is None:
        return "it is not mounted on this host"
    v2 = _V2_NAME.get(controller, controller)
    if ctx.mode == "v2":
        return f"{v2} is not available in {ctx.unified_dir}"
    return f"it has no v1 hierarchy here and {v2} is not available in {ctx.unified_dir}"


def _apply(manager: Manager, resources: Resources | None, update: bool) -> None:
    ctx = _Context(manager, update)
    steps: list[_Step] = []
    if resources is not None:
        _check_unified_keys(resources.unified)
        steps = [step for step in _STEPS if step.wanted(resources)]
        needed = {
            _V2_NAME.get(s.controller, s.controller)
            for s in steps
            if s.controller not in _V1_ONLY and (s.controller not in ctx.paths)
        }
        needed |= _unified_controllers(resources.unified)
        ctx.enable(needed)
        if update and resources.memory is not None and resources.memory.check_before_update:
            _check_before_update(ctx, resources.memory)
    _devices(ctx, resources)
    if resources is None:
        return
    for step in steps:
        place = ctx.place(step.controller)
        at = f"{ROOT}.{step.json_key}"
        if place is None:
            message = (
                f"the {step.controller} cgroup controller is needed, but {_missing(ctx, step.controller)}"
            )
            if step.required:
                raise ResourceError(f"{at}: {message}", path=at)
            log.warning("%s: %s; ignored", at, message)
            continue
        directory, is_v2 = place
        step.apply(ctx, directory, resources, is_v2)
    _unified(ctx, resources.unified)


def apply_resources(manager: Manager, resources: Resources | None) -> None:
    """Write *resources* (``linux.resources``, or None) into the cgroup of
    *manager*, which must exist (:meth:`Manager.create` first).

    Call it before the container's processes join: some settings (a realtime
    budget, a devices whitelist) are easier or only possible then.  On v1 the
    devices cgroup becomes a whitelist even for None (see the module
    docstring).  Raises :class:`ResourceError` (a ContainerError) when the
    kernel refuses a value or a required controller is missing, and
    ConfigError for values no kernel could take (a ``unified`` key with ``/``
    or ``..``, swap below the memory limit on v2, an unparsable page size).
    """
    _apply(manager, resources, update=False)


def wanted_paths(resources: Resources | None) -> list[str]:
    """The JSON paths of the limits ``resources`` asks for
    (``linux.resources.memory``, ...), in the order they are applied."""
    if resources is None:
        return []
    paths = [f"{ROOT}.{step.json_key}" for step in _STEPS if step.wanted(resources)]
    if resources.unified:
        paths.append(f"{ROOT}.unified")
    return list(dict.fromkeys(paths))


def init_oom_killed(manager: Manager, resources: Resources | None) -> ResourceError | None:
    """What to report when the container's init died during setup: if the
    config sets a memory limit and the kernel OOM-killed in the cgroup, the
    limit is below what the init needs.  runc's words for it (its
    fs/memory.go setMemory, and "container init was OOM-killed (memory limit
    too low?)" of process_linux.go), with the usage read now and the peak
    (v1 memory.max_usage_in_bytes, v2 memory.peak when the kernel has it).
    None otherwise."""
    memory = resources.memory if resources is not None else None
    limit = memory.limit if memory is not None else None
    if not limit or limit < 0:
        return None
    from pycontainer.cgroups import stats

    paths = manager.paths()
    if "memory" in paths:
        d = paths["memory"]
        names = ("memory.limit_in_bytes", "memory.usage_in_bytes", "memory.max_usage_in_bytes")
        hit = _read_int(f"{d}/memory.failcnt")
    elif UNIFIED in paths:
        d, names = paths[UNIFIED], ("memory.max", "memory.current", "memory.peak")
        hit = stats.memory_events(d).get("max")
    else:
        return None
    killed = stats.oom_kills(paths)
    if not killed and not hit:  # an allocation may fail (ENOMEM) instead of a kill
        return None
    usage = _read_int(f"{d}/{names[1]}")
    peak = _read_int(f"{d}/{names[2]}")
    return ResourceError(
        f"unable to set memory limit to {limit} (current usage: {usage}, peak usage: "
        f"{usage if peak is None else peak})"
        + (": container init was OOM-killed (memory limit too low?)" if killed else ""),
        path=f"{ROOT}.memory.limit",
        file=f"{d}/{names[0]}",
        value=str(limit),
    )


def _read_int(path: str) -> int | None:
    try:
        return int(read_text(path))
    except (OSError, ValueError):
        return None


def update_resources(manager: Manager, resources: Resources) -> None:
    """Change the resources of a running container (``nsinit update``).

    Like :func:`apply_resources`, with what an update needs: the
    ``memory.checkBeforeUpdate`` check (a memory limit at or below the
    current usage is refused before anything is written; without it, a
    limit the cgroup cannot be reclaimed down to is refused too, by the
    kernel on v1 and by :func:`_shrink_v2` on v2), ``cpu.max`` keeping
    the quota or period not given, a v2 swap limit computed against the
    memory limit in force when none is given, and device rules rewritten
    only when the update has some (the kernel refuses to reset the rules of
    a cgroup that has children).
    """
    _apply(manager, resources, update=True)
