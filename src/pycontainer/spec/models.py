"""The OCI runtime-spec v1.2 ``config.json``, Linux parts, as plain data classes.

The classes mirror the JSON so the spec (config.md, config-linux.md) can be read beside this file:

* An attribute name is its JSON key converted mechanically from camelCase to snake_case
  (``uidMappings`` -> ``uid_mappings``, ``containerID`` -> ``container_id``, ``blockIO`` -> ``block_io``).
  The one exception is ``IOPriority.class_`` (``class`` is a Python keyword); ``JSON_KEYS`` says so.
* ``REQUIRED`` lists the properties the spec marks REQUIRED; the loader reports them when missing.
  Every other attribute has a default: empty list, empty dict, ``None`` or the spec's stated default.
* Integers carry their JSON range in their annotation (``UInt32``, ``Int64`` ...), so the loader can
  reject ``"uid": -1`` with the path of the value.  Zero is always kept as given: engines write ``0``
  to mean "unset" (``"shares": 0``) and it is not this module's business to reinterpret it.

Loading lives in ``load.py`` and semantic checks in ``validate.py``; these classes only hold data.
They derive from :class:`~pycontainer.spec._model.Model`, a small stand-in for ``@dataclass`` that
costs nothing at import: same fields, defaults, ``__init__`` (keyword-only), ``__repr__`` and ``__eq__``.
"""

from __future__ import annotations

import os
import posixpath

from pycontainer.errors import ConfigError
from pycontainer.spec._model import Int32, Int64, Model, UInt16, UInt32, UInt64, field
from pycontainer.spec._model import IntRange as IntRange  # re-exported: the loader's range type

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from typing import ClassVar


# --- config.md: root, process, mounts, hooks -------------------------------------------------------


class Root(Model):
    """``root``: the container's root filesystem; ``path`` may be relative to the bundle."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"path"})

    path: str
    readonly: bool = False


class ConsoleSize(Model):
    """``process.consoleSize`` (the spec's ``Box``): the terminal size in characters."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"height", "width"})

    height: UInt16  # struct winsize's unsigned short ws_row / ws_col
    width: UInt16


class User(Model):
    """``process.user``: ids in the container's user namespace."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"uid", "gid"})

    uid: UInt32 = 0
    gid: UInt32 = 0
    umask: UInt32 | None = None
    additional_gids: list[UInt32] = field(default_factory=list)
    username: str | None = None


class Capabilities(Model):
    """``process.capabilities``: the five capability sets, as ``CAP_*`` names."""

    bounding: list[str] = field(default_factory=list)
    effective: list[str] = field(default_factory=list)
    inheritable: list[str] = field(default_factory=list)
    permitted: list[str] = field(default_factory=list)
    ambient: list[str] = field(default_factory=list)


class Rlimit(Model):
    """One entry of ``process.rlimits``: a ``RLIMIT_*`` type and its limits."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"type", "hard", "soft"})

    type: str
    hard: UInt64
    soft: UInt64


class Scheduler(Model):
    """``process.scheduler``: the arguments of sched_setattr(2)."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"policy"})

    policy: str
    nice: Int32 = 0
    priority: Int32 = 0
    flags: list[str] = field(default_factory=list)
    runtime: UInt64 = 0
    deadline: UInt64 = 0
    period: UInt64 = 0


class IOPriority(Model):
    """``process.ioPriority``: the arguments of ioprio_set(2)."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"class_"})
    JSON_KEYS: ClassVar[dict[str, str]] = {"class_": "class"}

    class_: str
    priority: Int32 = 0


class ExecCPUAffinity(Model):
    """``process.execCPUAffinity``: cpu lists (``"0-3,7"``) for the process before and after exec."""

    initial: str | None = None
    final: str | None = None


class Process(Model):
    """``process``: what runs in the container; also the whole of an ``exec --process`` file.

    The Python defaults (``cwd="/"``, root user) make a Process easy to build in code; a JSON
    document must still give ``args``, ``cwd`` and ``user`` as the spec requires.
    """

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"args", "cwd", "user"})

    terminal: bool = False
    console_size: ConsoleSize | None = None
    user: User = field(default_factory=User)
    args: list[str] = field(default_factory=list)
    command_line: str | None = None
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    capabilities: Capabilities | None = None
    rlimits: list[Rlimit] = field(default_factory=list)
    no_new_privileges: bool = False
    apparmor_profile: str | None = None
    oom_score_adj: int | None = None
    selinux_label: str | None = None
    scheduler: Scheduler | None = None
    io_priority: IOPriority | None = None
    exec_cpu_affinity: ExecCPUAffinity | None = None


class IDMapping(Model):
    """One uid or gid mapping: ``size`` ids from ``host_id`` appear as ``container_id`` onwards."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"container_id", "host_id", "size"})

    container_id: UInt32
    host_id: UInt32
    size: UInt32


class Mount(Model):
    """One entry of ``mounts``, in the order they must be mounted."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"destination"})

    destination: str
    type: str | None = None
    source: str | None = None
    options: list[str] = field(default_factory=list)
    uid_mappings: list[IDMapping] = field(default_factory=list)
    gid_mappings: list[IDMapping] = field(default_factory=list)


class Hook(Model):
    """One lifecycle hook: a program run with the container state on stdin."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"path"})

    path: str
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    timeout: Int32 | None = None


class Hooks(Model):
    """``hooks``: the six lifecycle points (``prestart`` is deprecated but engines still send it)."""

    prestart: list[Hook] = field(default_factory=list)
    create_runtime: list[Hook] = field(default_factory=list)
    create_container: list[Hook] = field(default_factory=list)
    start_container: list[Hook] = field(default_factory=list)
    poststart: list[Hook] = field(default_factory=list)
    poststop: list[Hook] = field(default_factory=list)


# --- config-linux.md ---------------------------------------------------------------------------------


class Namespace(Model):
    """One entry of ``linux.namespaces``: a new namespace, or the one at ``path`` to join."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"type"})

    type: str
    path: str | None = None


class TimeOffset(Model):
    """One value of ``linux.timeOffsets`` (keyed by clock name) for a new time namespace."""

    secs: Int64 = 0
    nanosecs: UInt32 = 0


class Device(Model):
    """One entry of ``linux.devices``: a device node to create inside the container."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"type", "path"})

    type: str
    path: str
    major: Int64 | None = None
    minor: Int64 | None = None
    file_mode: UInt32 | None = None
    uid: UInt32 | None = None
    gid: UInt32 | None = None


class NetDevice(Model):
    """One value of ``linux.netDevices`` (keyed by host interface): its name inside the container."""

    name: str | None = None


class DeviceRule(Model):
    """One entry of ``linux.resources.devices``: an allow/deny rule of the device cgroup."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"allow"})

    allow: bool
    type: str | None = None
    major: Int64 | None = None
    minor: Int64 | None = None
    access: str | None = None


class Memory(Model):
    """``linux.resources.memory``; byte counts, ``-1`` meaning unlimited."""

    limit: Int64 | None = None
    reservation: Int64 | None = None
    swap: Int64 | None = None
    kernel: Int64 | None = None
    kernel_tcp: Int64 | None = None
    swappiness: UInt64 | None = None
    disable_oom_killer: bool | None = None
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None


class CPU(Model):
    """``linux.resources.cpu``: CFS shares/quota, realtime budget and cpuset lists."""

    shares: UInt64 | None = None
    quota: Int64 | None = None
    burst: UInt64 | None = None
    period: UInt64 | None = None
    realtime_runtime: Int64 | None = None
    realtime_period: UInt64 | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: Int64 | None = None


class Pids(Model):
    """``linux.resources.pids``: the task limit (``0`` or ``-1`` meaning unlimited)."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"limit"})

    limit: Int64


class WeightDevice(Model):
    """One entry of ``blockIO.weightDevice``: a per-device weight."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"major", "minor"})

    major: UInt32
    minor: UInt32
    weight: UInt16 | None = None
    leaf_weight: UInt16 | None = None


class ThrottleDevice(Model):
    """One entry of the ``blockIO.throttle*Device`` lists: a per-device rate limit."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"major", "minor", "rate"})

    major: UInt32
    minor: UInt32
    rate: UInt64


class BlockIO(Model):
    """``linux.resources.blockIO``: weights and throttles of the blkio / io controller."""

    weight: UInt16 | None = None
    leaf_weight: UInt16 | None = None
    weight_device: list[WeightDevice] = field(default_factory=list)
    throttle_read_bps_device: list[ThrottleDevice] = field(default_factory=list)
    throttle_write_bps_device: list[ThrottleDevice] = field(default_factory=list)
    throttle_read_iops_device: list[ThrottleDevice] = field(default_factory=list)
    throttle_write_iops_device: list[ThrottleDevice] = field(default_factory=list)


class HugepageLimit(Model):
    """One entry of ``linux.resources.hugepageLimits``, e.g. ``pageSize="2MB"``."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"page_size", "limit"})

    page_size: str
    limit: UInt64


class InterfacePriority(Model):
    """One entry of ``linux.resources.network.priorities`` (net_prio)."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"name", "priority"})

    name: str
    priority: UInt32


class Network(Model):
    """``linux.resources.network``: the net_cls class id and net_prio priorities."""

    class_id: UInt32 | None = None
    priorities: list[InterfacePriority] = field(default_factory=list)


class Rdma(Model):
    """One value of ``linux.resources.rdma`` (keyed by device name)."""

    hca_handles: UInt32 | None = None
    hca_objects: UInt32 | None = None


class Resources(Model):
    """``linux.resources``; also the whole of an ``update --resources`` file."""

    devices: list[DeviceRule] = field(default_factory=list)
    memory: Memory | None = None
    cpu: CPU | None = None
    pids: Pids | None = None
    block_io: BlockIO | None = None
    hugepage_limits: list[HugepageLimit] = field(default_factory=list)
    network: Network | None = None
    rdma: dict[str, Rdma] = field(default_factory=dict)
    unified: dict[str, str] = field(default_factory=dict)


class SeccompArg(Model):
    """One argument comparison of a seccomp rule."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"index", "value", "op"})

    index: UInt32
    value: UInt64
    value_two: UInt64 = 0
    op: str


class Syscall(Model):
    """One entry of ``linux.seccomp.syscalls``: an action for some syscalls."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"names", "action"})

    names: list[str]
    action: str
    errno_ret: UInt32 | None = None
    args: list[SeccompArg] = field(default_factory=list)


class Seccomp(Model):
    """``linux.seccomp``: a libseccomp-style filter description."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"default_action"})

    default_action: str
    default_errno_ret: UInt32 | None = None
    architectures: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    listener_path: str | None = None
    listener_metadata: str | None = None
    syscalls: list[Syscall] = field(default_factory=list)


class Personality(Model):
    """``linux.personality``: the execution domain for personality(2)."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"domain"})

    domain: str
    flags: list[str] = field(default_factory=list)


class IntelRdt(Model):
    """``linux.intelRdt``: the resctrl class of service and its schemata."""

    clos_id: str | None = None
    l3_cache_schema: str | None = None
    mem_bw_schema: str | None = None
    schemata: str | None = None
    enable_cmt: bool = False
    enable_mbm: bool = False


class Linux(Model):
    """``linux``: namespaces, id mappings, devices, cgroups, security and kernel knobs."""

    namespaces: list[Namespace] = field(default_factory=list)
    uid_mappings: list[IDMapping] = field(default_factory=list)
    gid_mappings: list[IDMapping] = field(default_factory=list)
    time_offsets: dict[str, TimeOffset] = field(default_factory=dict)
    devices: list[Device] = field(default_factory=list)
    net_devices: dict[str, NetDevice] = field(default_factory=dict)
    cgroups_path: str | None = None
    resources: Resources | None = None
    rootfs_propagation: str | None = None
    masked_paths: list[str] = field(default_factory=list)
    readonly_paths: list[str] = field(default_factory=list)
    mount_label: str | None = None
    sysctl: dict[str, str] = field(default_factory=dict)
    seccomp: Seccomp | None = None
    personality: Personality | None = None
    intel_rdt: IntelRdt | None = None

    def namespace(self, type: str) -> Namespace | None:
        """The entry for namespace ``type`` (``"pid"``, ``"user"`` ...), or None if it is not listed
        (the container then shares the runtime's namespace of that type)."""
        for ns in self.namespaces:
            if ns.type == type:
                return ns
        return None


class Spec(Model):
    """A whole ``config.json`` plus where it came from.

    ``bundle`` is not part of the JSON: the loader sets it to the absolute bundle directory (a str),
    against which a relative ``root.path`` is resolved (see :attr:`rootfs`).
    """

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"oci_version"})
    NOT_IN_JSON: ClassVar[frozenset[str]] = frozenset({"bundle"})

    oci_version: str
    root: Root | None = None
    process: Process | None = None
    hostname: str | None = None
    domainname: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    hooks: Hooks | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    linux: Linux | None = None
    # Our own extensions (``network``: see pycontainer/network/config.py), kept as raw JSON.
    pycontainer: object = None
    bundle: str = field(default_factory=os.getcwd)

    @property
    def rootfs(self) -> str:
        """The root filesystem on the host: ``root.path``, made absolute relative to the bundle.

        Spelled as ``pathlib`` would (``a//b/./c/`` reads ``a/b/c``) but without importing it."""
        if self.root is None:
            raise ConfigError("missing (expected the container's root filesystem)", path="root")
        return _clean_path(posixpath.join(os.fspath(self.bundle), self.root.path))


def _clean_path(path: str) -> str:
    """``path`` with empty and ``.`` components dropped, as ``str(pathlib.PurePosixPath(path))``."""
    root = "//" if path[:2] == "//" and path[2:3] != "/" else "/" if path[:1] == "/" else ""
    return root + "/".join(part for part in path.split("/") if part and part != ".") or "."
