"""A ready-to-run config built in code: runc's example spec as a :class:`Spec`, with the options a
sandbox needs.  ``nsinit spec`` writes it::

    from pycontainer import default_spec

    spec = default_spec(["python3", "-c", "print(1)"], rootfs="/srv/images/python/rootfs")
    spec.linux.resources.pids = Pids(limit=64)

The content is runc's ``specconv.Example`` (and, with ``rootless``, ``ToRootless``), following
current runc:

* no ambient capabilities (runc 1.1 still listed three in ``ambient``; runc 1.2 dropped them);
* ``/sys/devices/virtual/tpm`` is masked too (runc 1.2), and ``/sys/devices/virtual/powercap``
  (Docker masks it: CVE-2020-8694);
* a ``cgroup`` namespace is added when the host runs cgroup v2 only, as runc does, so the
  container sees its own cgroup as ``/sys/fs/cgroup``.

It differs from runc's in its defaults for a library: no terminal (a program's output goes to the
stdio it is given, not to a pty nobody reads) and, rootless too, a network namespace of its own
(loopback only) unless ``host_network`` is asked for; ``nsinit spec`` asks for runc's choices.
The hostname is ``"nsinit"`` where runc says ``"runc"``, and ``ociVersion`` is the spec version
pycontainer implements.
"""

from __future__ import annotations

import os

from pycontainer.spec.load import dump
from pycontainer.spec.models import (
    Capabilities,
    DeviceRule,
    IDMapping,
    Linux,
    Mount,
    Namespace,
    Process,
    Resources,
    Rlimit,
    Root,
    Seccomp,
    Spec,
    User,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence
    from typing import Any

__all__ = ["cgroup2_only", "default_spec", "runc_json"]

CAPABILITIES = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")

MASKED_PATHS = (
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
)

READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm")


def cgroup2_only() -> bool:
    """Whether ``/sys/fs/cgroup`` is the unified hierarchy (runc's ``IsCgroup2UnifiedMode`` uses
    statfs, which Python lacks; only a cgroup2 root has ``cgroup.controllers``, a v1 or hybrid
    tmpfs has not)."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def default_spec(
    args: Sequence[str] = ("sh",),
    *,
    rootfs: str = "rootfs",
    readonly: bool = True,
    rootless: bool = False,
    terminal: bool = False,
    host_network: bool = False,
    hostname: str = "nsinit",
    cwd: str = "/",
    env: Sequence[str] = ENV,
    seccomp: bool = False,
    bundle: str | None = None,
) -> Spec:
    """runc's example config as a new :class:`Spec`, ready to change and to pass to
    :meth:`Container.create <pycontainer.container.Container.create>`.

    ``args``: the program and its arguments (a sequence of strings, not one string).
    ``rootfs``: ``root.path``, absolute or relative to ``bundle`` (default: the current directory).
    ``readonly``: mount the root filesystem read-only.
    ``rootless``: for a container created by an unprivileged user, as ``runc spec --rootless``: a
    user namespace mapping root to the caller's effective ids, ``/sys`` bound from the host, no
    ``uid=``/``gid=`` mount options and no cgroup resources.
    ``terminal``: give the process a pty (``process.terminal``); its output then goes to the pty.
    ``host_network``: share the host's network namespace instead of a new one with only loopback.
    ``seccomp``: Docker's default seccomp profile (``nsinit spec --seccomp``).
    """
    if isinstance(args, str):
        raise TypeError(f"args must be a sequence of strings, not a str (did you mean [{args!r}]?)")
    namespaces = ["pid", "network", "ipc", "uts", "mount"]
    if cgroup2_only():
        namespaces.append("cgroup")
    if host_network:
        namespaces.remove("network")
    if rootless:
        namespaces.append("user")
    caps = list(CAPABILITIES)
    linux = Linux(
        namespaces=[Namespace(type=ns) for ns in namespaces],
        masked_paths=list(MASKED_PATHS),
        readonly_paths=list(READONLY_PATHS),
    )
    if rootless:
        # An unprivileged user cannot set cgroup limits; root inside maps to the caller's ids.
        linux.uid_mappings = [IDMapping(container_id=0, host_id=os.geteuid(), size=1)]
        linux.gid_mappings = [IDMapping(container_id=0, host_id=os.getegid(), size=1)]
    else:
        linux.resources = Resources(devices=[DeviceRule(allow=False, access="rwm")])
    if seccomp:
        from pycontainer.security.default_profile import docker_default_profile
        from pycontainer.spec.load import _load

        linux.seccomp = _load(docker_default_profile(), Seccomp)
    spec = Spec(
        oci_version=_oci_version(),
        process=Process(
            terminal=terminal,
            user=User(uid=0, gid=0),
            args=list(args),
            env=list(env),
            cwd=cwd,
            capabilities=Capabilities(bounding=list(caps), effective=list(caps), permitted=list(caps)),
            rlimits=[Rlimit(type="RLIMIT_NOFILE", hard=1024, soft=1024)],
            no_new_privileges=True,
        ),
        root=Root(path=rootfs, readonly=readonly),
        hostname=hostname,
        mounts=_mounts(rootless),
        linux=linux,
    )
    if bundle is not None:
        spec.bundle = os.path.abspath(bundle)
    return spec


def _oci_version() -> str:
    import pycontainer

    return pycontainer.OCI_VERSION


def _mounts(rootless: bool) -> list[Mount]:
    # uid=/gid= options name ids that do not exist in a rootless container's user namespace.
    pts_gid = [] if rootless else ["gid=5"]
    if rootless:  # sysfs cannot be mounted without owning the network namespace: bind the host's
        sys = Mount(
            destination="/sys",
            type="none",
            source="/sys",
            options=["rbind", "nosuid", "noexec", "nodev", "ro"],
        )
    else:
        sys = Mount(
            destination="/sys", type="sysfs", source="sysfs", options=["nosuid", "noexec", "nodev", "ro"]
        )
    return [
        Mount(destination="/proc", type="proc", source="proc"),
        Mount(
            destination="/dev",
            type="tmpfs",
            source="tmpfs",
            options=["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        Mount(
            destination="/dev/pts",
            type="devpts",
            source="devpts",
            options=["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", *pts_gid],
        ),
        Mount(
            destination="/dev/shm",
            type="tmpfs",
            source="shm",
            options=["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        Mount(
            destination="/dev/mqueue", type="mqueue", source="mqueue", options=["nosuid", "noexec", "nodev"]
        ),
        sys,
        Mount(
            destination="/sys/fs/cgroup",
            type="cgroup",
            source="cgroup",
            options=["nosuid", "noexec", "nodev", "relatime", "ro"],  # kept rootless too, as runc does
        ),
    ]


# The key order runc writes (Go marshals struct fields in declaration order); keys not listed follow.
_TOP_ORDER = ("ociVersion", "process", "root", "hostname", "mounts", "linux")
_LINUX_ORDER = ("uidMappings", "gidMappings", "resources", "namespaces", "maskedPaths", "readonlyPaths")


def runc_json(spec: Spec) -> dict[str, Any]:
    """The JSON form of ``spec`` (:func:`~pycontainer.spec.dump`) with the keys in the order
    ``runc spec`` writes them, so that a config written by ``nsinit spec`` reads like runc's."""
    doc = _ordered(dump(spec), _TOP_ORDER)
    if "linux" in doc:
        doc["linux"] = _ordered(doc["linux"], _LINUX_ORDER)
        # specs-go's LinuxSeccompArg.ValueTwo is "omitempty": Go leaves out a zero.
        for syscall in doc["linux"].get("seccomp", {}).get("syscalls", ()):
            for arg in syscall.get("args", ()):
                if arg.get("valueTwo") == 0:
                    del arg["valueTwo"]
    return doc


def _ordered(doc: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    out = {key: doc[key] for key in order if key in doc}
    out.update((key, value) for key, value in doc.items() if key not in out)
    return out
