"""The ``config.json`` that ``nsinit spec`` writes: runc's example spec.

Same content and key order as ``runc spec`` (libcontainer/specconv's
``Example``) and, with ``rootless``, ``runc spec --rootless`` (``ToRootless``),
following current runc:

* no ambient capabilities (runc 1.1 still listed the three in ``ambient``;
  runc 1.2 dropped them);
* ``/sys/devices/virtual/tpm`` is masked too (runc 1.2), and
  ``/sys/devices/virtual/powercap`` (Docker masks it: CVE-2020-8694);
* a ``cgroup`` namespace is added when the host runs cgroup v2 only, as runc
  does, so the container sees its own cgroup as ``/sys/fs/cgroup``.

Ours says ``"hostname": "nsinit"`` where runc says ``"runc"``, and
``ociVersion`` is the spec version pycontainer implements.
"""

from __future__ import annotations

import os

import pycontainer

__all__ = ["cgroup2_only", "default_spec"]

_CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

_MASKED_PATHS = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
    "/sys/devices/virtual/tpm",
    "/sys/devices/virtual/powercap",
]

_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _mount(destination: str, type_: str, source: str, options: list[str] | None = None) -> dict:
    mount = {"destination": destination, "type": type_, "source": source}
    if options:
        mount["options"] = options
    return mount


def _mounts() -> list[dict]:
    return [
        _mount("/proc", "proc", "proc"),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount(
            "/dev/pts",
            "devpts",
            "devpts",
            ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        _mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]),
    ]


def cgroup2_only() -> bool:
    """Whether ``/sys/fs/cgroup`` is the unified hierarchy (runc's
    ``IsCgroup2UnifiedMode`` uses statfs, which Python lacks; only a cgroup2
    root has ``cgroup.controllers``, a v1 or hybrid tmpfs has not)."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def default_spec(rootless: bool = False) -> dict:
    """runc's example config (``rootless``: for a container run by an
    unprivileged user).  A new dict every call."""
    namespaces = ["pid", "network", "ipc", "uts", "mount"]
    if cgroup2_only():
        namespaces.append("cgroup")
    linux: dict = {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [],
        "maskedPaths": list(_MASKED_PATHS),
        "readonlyPaths": list(_READONLY_PATHS),
    }
    mounts = _mounts()
    if rootless:
        _to_rootless(linux, namespaces, mounts)
    linux["namespaces"] = [{"type": ns} for ns in namespaces]
    return {
        "ociVersion": pycontainer.OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": list(_CAPABILITIES),
                "effective": list(_CAPABILITIES),
                "permitted": list(_CAPABILITIES),
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "nsinit",
        "mounts": mounts,
        "linux": linux,
    }


def _to_rootless(linux: dict, namespaces: list[str], mounts: list[dict]) -> None:
    """runc's ``ToRootless``, in place: no network namespace (an unprivileged
    user could not connect it anywhere), a user namespace mapping root to the
    caller's effective ids, ``/sys`` bound from the host (sysfs cannot be
    mounted without owning the network namespace), no ``uid=``/``gid=`` mount
    options (those ids do not exist in the container), no cgroup resources
    (an unprivileged user cannot set them).  The cgroup mount stays, as in runc."""
    namespaces[:] = [ns for ns in namespaces if ns not in ("network", "user")] + ["user"]
    # Key order as runc writes it: the mappings come first in "linux".
    resources_less = {key: value for key, value in linux.items() if key != "resources"}
    linux.clear()
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    linux.update(resources_less)
    for i, mount in enumerate(mounts):
        if os.path.normpath(mount["destination"]) == "/sys":
            mounts[i] = _mount("/sys", "none", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"])
            continue
        options = [o for o in mount.get("options", ()) if not o.startswith(("uid=", "gid="))]
        if options:
            mount["options"] = options
        else:
            mount.pop("options", None)
