"""Capability names and the five sets of ``process.capabilities`` as bitmasks
for the C core's final step."""

from __future__ import annotations

from pycontainer.errors import ConfigError

# Index = capability number (<linux/capability.h>).
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBERS = {name: i for i, name in enumerate(CAPABILITIES)}
SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


_last_cap: int | None = None


def last_cap() -> int:
    """The highest capability this kernel knows (read once, by the runtime on
    the host's side: see process.parent.HostFacts)."""
    global _last_cap
    if _last_cap is None:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _last_cap = int(f.read())
        except OSError:
            _last_cap = len(CAPABILITIES) - 1
    return _last_cap


def mask(names: list[str], top: int, path: str = "process.capabilities") -> int:
    """Bitmask of capability names.  Names above ``top`` (the last capability
    this kernel knows) are skipped, as runc does, so a newer profile still
    runs on an older kernel."""
    bits = 0
    for i, name in enumerate(names):
        number = CAP_NUMBERS.get(name)
        if number is None:
            raise ConfigError(f"unknown capability {name!r}", f"{path}[{i}]")
        if number <= top:
            bits |= 1 << number
    return bits


def masks(capabilities, top: int) -> dict[str, int]:
    """The five sets of a ``process.capabilities`` object as bitmasks.  No
    object at all means five empty sets, as runc has it: a config (or an
    ``exec --process`` file) that lists no capabilities gets none, not the
    runtime's."""
    if capabilities is None:
        return dict.fromkeys(SETS, 0)
    return {s: mask(getattr(capabilities, s) or [], top, f"process.capabilities.{s}") for s in SETS}


def unraisable_ambient(capabilities) -> list[str]:
    """The ambient capabilities the kernel will refuse to raise: only one both permitted and
    inheritable can be.  The final step skips them, as runc and crun do (``runc spec`` writes
    ambient capabilities without inheritable ones); the inheritable set stays exactly as
    configured (CVE-2022-29162)."""
    if capabilities is None:
        return []
    allowed = set(capabilities.permitted or []) & set(capabilities.inheritable or [])
    return [name for name in capabilities.ambient or [] if name not in allowed]


def names(bits: int) -> list[str]:
    return [name for i, name in enumerate(CAPABILITIES) if bits & (1 << i)]
