"""Resource usage of a container's cgroups, in the shape of runc's ``events``
stats (``{"cpu": ..., "memory": ..., "pids": ...}``), and its OOM kills.

Each controller is read where it lives on this host: the v1 hierarchy that
has it, else the unified (v2) directory.  Missing files read as zero: a
controller the host lacks reports nothing rather than failing the command.
"""

from __future__ import annotations

import os

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_NS_PER_TICK = 1_000_000_000 // _CLK_TCK
_UNLIMITED = 0xFFFFFFFFFFFFFFFF  # how runc reports "max"


def collect(paths: dict[str, str]) -> dict:
    """Stats for a container whose cgroup directories are ``paths``
    (hierarchy key -> directory, as the Manager's ``paths()``)."""
    return {"cpu": _cpu(paths), "memory": _memory(paths), "pids": _pids(paths)}


def oom_kills(paths: dict[str, str]) -> int:
    """How many processes the kernel OOM-killed in the container's cgroup."""
    if "memory" in paths:
        return _keyed(paths["memory"], "memory.oom_control").get("oom_kill", 0)
    if "" in paths:
        return _keyed(paths[""], "memory.events").get("oom_kill", 0)
    return 0


def _cpu(paths: dict[str, str]) -> dict:
    usage: dict = {"total": 0, "percpu": [], "kernel": 0, "user": 0}
    throttling = {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
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
        throttling["throttled_periods"] = stat.get("nr_throttled", 0)
        throttled = stat.get("throttled_time", stat.get("throttled_usec", 0) * 1000)
        throttling["throttled_time"] = throttled
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
        return {"usage": usage, "swap": swap, "raw": _keyed(d, "memory.stat")}
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
        return {"usage": usage, "swap": swap, "raw": _keyed(d, "memory.stat")}
    return {}


def _pids(paths: dict[str, str]) -> dict:
    d = paths.get("pids") or paths.get("")
    if not d:
        return {}
    limit = _int(d, "pids.max")
    return {"current": _int(d, "pids.current"), "limit": 0 if limit == _UNLIMITED else limit}


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
